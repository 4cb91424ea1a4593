"""Seeded random draws that land on any device, with the same numbers on every device.

Every random choice of a run (data order, augmentation, TRADES start, rewiring noise and
choices) comes from a seeded ``torch.Generator``. Where that generator lives decides what
"the same seed" means:

* ``rng="host"`` (default): the generator stays on the CPU; numbers are drawn there and copied
  to the device (from pinned memory, without waiting for the device). A GPU run then makes
  exactly the random choices of the CPU run with the same seed, and the two differ only by
  floating-point noise (issue "engine", point 10). On a CPU this is simply the CPU generator.
* ``rng="device"``: the generator lives on the device and draws there (no copies; CUDA's
  streams differ from the CPU's, so a GPU run is a different sample of the same experiment).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["RNG_MODES", "make_generator", "draw", "to_device"]

RNG_MODES: tuple[str, ...] = ("host", "device")


def make_generator(seed: int, device: torch.device | str, rng: str = "host") -> torch.Generator:
    """A seeded generator for work on ``device``: on the CPU for ``host``, else on ``device``."""
    if rng not in RNG_MODES:
        raise ValueError(f"rng must be one of {RNG_MODES}, got {rng!r}")
    where = torch.device("cpu") if rng == "host" else torch.device(device)
    return torch.Generator(device=where).manual_seed(seed)


def draw(fn: Callable[..., torch.Tensor], *args, generator: torch.Generator | None,
         device: torch.device | str, **kwargs) -> torch.Tensor:
    """``fn(*args, generator=generator, **kwargs)`` (``torch.randn``, ``randint``, ``rand``,
    ``randperm``) drawn where the generator lives and returned on ``device``."""
    device = torch.device(device)
    source = generator.device if generator is not None else device
    if source == device or (source.type == device.type == "cuda" and device.index is None):
        return fn(*args, generator=generator, device=device, **kwargs)
    pinned = device.type == "cuda" and source.type == "cpu"  # drawn straight into pinned memory
    return to_device(fn(*args, generator=generator, device=source, pin_memory=pinned, **kwargs),
                     device)


def to_device(t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``t`` on ``device``; a host tensor goes to a GPU through pinned memory (``pin_memory``
    returns an already pinned tensor as it is) without making the host wait for the device."""
    device = torch.device(device)
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)

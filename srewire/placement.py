"""Where a run's work goes: the randomness (``rng``) and CUDA graphs (``graphs``) resolved per
device, and what the result records about it (Thesis §4 runs on a GPU; the CPU profiles keep
the reference path).

* ``rng``: ``host`` draws every random number on the CPU and runs the host rewiring step (a
  GPU run then repeats the CPU run's random choices); ``device`` draws on the training device
  and, after the first steps, runs the device rewiring step; ``auto`` is ``device`` on CUDA
  (with the Euclidean metric, which the device step supports) and ``host`` elsewhere.
* ``graphs``: ``on`` replays the whole training step as one captured CUDA graph; ``auto`` is
  ``on`` where that can run (CUDA, ``rng`` resolved to ``device``, precision not fp16) and
  ``off`` elsewhere, so on a CPU nothing changes.
"""

from __future__ import annotations

import torch

from .config import ConfigError

__all__ = ["resolve_rng", "resolve_graphs", "tf32_settings"]


def resolve_rng(requested: str, device: torch.device | str, metric: str = "euclidean") -> str:
    """``host`` or ``device``: what ``requested`` (auto, host, device) means on ``device``."""
    if requested not in ("auto", "host", "device"):
        raise ConfigError(f"rng must be one of auto, host, device; got {requested!r}")
    if requested != "auto":
        return requested
    return "device" if torch.device(device).type == "cuda" and metric == "euclidean" else "host"


def resolve_graphs(requested: str, device: torch.device | str, rng: str, precision: str
                   ) -> bool:
    """Whether the training step is captured as a CUDA graph; ``rng`` and ``precision`` are
    the resolved ones. An explicit ``on`` where it cannot run is refused by
    :class:`srewire.train.TrainStep` with the reason."""
    if requested not in ("auto", "on", "off"):
        raise ConfigError(f"graphs must be one of auto, on, off; got {requested!r}")
    if requested != "auto":
        return requested == "on"
    return torch.device(device).type == "cuda" and rng == "device" and precision != "fp16"


def tf32_settings() -> dict[str, bool]:
    """Whether float32 matrix products and convolutions may use TF32 on CUDA (recorded with
    every result: TF32 changes float32 results by far more than rounding noise)."""
    return {"matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn": bool(torch.backends.cudnn.allow_tf32)}

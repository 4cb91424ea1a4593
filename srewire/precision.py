"""Arithmetic precision of a run: fp32, bf16 or fp16 autocast, and ``auto`` per device.

A run's ``precision`` (and the evaluation attack's ``eval_precision``) is one of

* ``fp32`` — plain float32 everywhere;
* ``bf16`` — forward passes under ``torch.autocast`` with bfloat16 and the activations in
  channels_last layout;
* ``fp16`` — the same with float16, plus a gradient scaler (float16 has 5 exponent bits, so
  small gradients underflow without one); meant for GPUs without bf16, such as a T4;
* ``auto`` — bf16 where the device runs it natively (a CUDA device with bf16 arithmetic, or a
  CPU with AVX512-BF16 or AMX), fp16 on other CUDA devices, fp32 elsewhere.

Only the forward pass runs in reduced precision. θ, the signs, the optimiser state, the
rewiring and every metric stay float32: autocast never changes a parameter's dtype, the
sparse weight ``sign * relu(theta)`` is formed in float32 and only *cast* for the convolution
or matrix product, and :meth:`Precision.wrap` returns float32 logits, so the cross-entropy
and KL losses are computed in float32. A revived θ of 1e-12 therefore keeps ``relu'(θ) = 1``
and receives its gradient in every precision (in fp16 the cast weight itself rounds to 0, the
gradient still flows through the cast).

θ itself stays in the contiguous layout: the Rewirer keeps every layer's θ as a view of one
flat buffer, which a channels_last copy would break. The input batch is converted to
channels_last, which makes every convolution after it run channels_last.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager

import torch
from torch import nn

from .config import PRECISIONS, ConfigError

__all__ = ["PRECISIONS", "Precision", "resolve_precision", "get_precision",
           "precision_provenance", "cpu_has_native_bf16", "cuda_has_native_bf16"]

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the Linux kernel reports (empty where there is no such file)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic instructions (AVX512-BF16 or AMX-BF16).

    PyTorch's own probe (``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported``,
    which ask the CPU through cpuinfo) is used where it exists; the kernel's
    ``/proc/cpuinfo`` flags are the fallback. ``torch.backends.cpu.get_cpu_capability()`` is
    not enough: it says "AVX512" for CPUs with and without the bf16 extension.
    """
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    probes = [p for p in probes if p is not None]
    if probes:
        try:
            return any(bool(p()) for p in probes)
        except RuntimeError:
            pass
    return bool(_cpuinfo_flags() & set(_CPU_FLAGS))


def cuda_has_native_bf16(device: torch.device) -> bool:
    """Whether a CUDA device has bf16 arithmetic (compute capability 8.0 or newer)."""
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """``fp32``, ``bf16`` or ``fp16``: what ``requested`` means on ``device`` (see module)."""
    if requested not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; "
                          f"got {requested!r}")
    if requested != "auto":
        return requested
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if cuda_has_native_bf16(device) else "fp16"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


class _Autocast(nn.Module):
    """``model`` with its forward pass under a precision's autocast and float32 logits."""

    def __init__(self, model: nn.Module, precision: "Precision", cache: bool = True) -> None:
        super().__init__()
        self.model, self.precision, self.cache = model, precision, cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast(self.cache):
            out = self.model(self.precision.inputs(x))
        return out.float()


@dataclass(frozen=True)
class Precision:
    """A resolved precision on one device type: autocast, layout and gradient scaler."""

    requested: str    # auto | fp32 | bf16 | fp16, as configured
    name: str         # fp32 | bf16 | fp16, what runs
    device_type: str  # cpu | cuda | ...

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None for fp32)."""
        return _DTYPES[self.name]

    @property
    def reduced(self) -> bool:
        return self.name != "fp32"

    def autocast(self, cache: bool = True) -> ContextManager:
        """The autocast context of a forward pass (does nothing for fp32). ``cache=False``
        for CUDA graph capture, which must not keep cast weights between replays."""
        if not self.reduced:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=cache)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The input batch in the layout the precision runs (channels_last if reduced)."""
        if self.reduced and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def wrap(self, model: nn.Module, cache: bool = True) -> nn.Module:
        """``model`` itself for fp32; else a module running it under autocast that returns
        float32 logits (so that every loss is computed in float32). ``cache=False`` for a
        forward pass recorded in a CUDA graph."""
        return _Autocast(model, self, cache) if self.reduced else model

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16, None otherwise."""
        if self.name != "fp16":
            return None
        return torch.amp.GradScaler(self.device_type)

    def record(self) -> dict[str, str]:
        """What result.json's provenance records: requested and resolved precision."""
        return {"requested": self.requested, "resolved": self.name}


def get_precision(requested: str | Precision, device: torch.device | str) -> Precision:
    """The :class:`Precision` that ``requested`` (a name, or an already resolved one)
    stands for on ``device``."""
    if isinstance(requested, Precision):
        return requested
    device = torch.device(device)
    return Precision(requested, resolve_precision(requested, device), device.type)


def precision_provenance(precision: str, eval_precision: str,
                         device: torch.device | str) -> dict:
    """result.json's record of a run's arithmetic: the training precision as requested and
    as resolved on ``device``, and the same for the evaluation attack."""
    return {**get_precision(precision, device).record(),
            "eval": get_precision(eval_precision, device).record()}

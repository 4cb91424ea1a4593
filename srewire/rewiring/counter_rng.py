"""Counter-based random numbers for the device step: no generator object, no host state.

A number is a hash of (seed, step counter, stream, index). The step counter is a 0-dimensional
tensor on the device that the step advances in place, so a step draws fresh numbers every
time it runs, also when it is replayed as a captured CUDA graph, and the same seed gives the
same numbers on a CPU and on a GPU (the arithmetic is exact int64). ``_hash32`` is a
bijective 32-bit mix (also the search's tie-break hash); two rounds of it per number.
"""

from __future__ import annotations

import math

import torch

_MASK = 0xFFFFFFFF
_TWO32 = float(1 << 32)


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer mix in int64 arithmetic (no overflow)."""
    mask = 0xFFFFFFFF
    x = x & mask
    for _ in range(2):  # in place: this runs on (sources x offsets) arrays
        x ^= x >> 16
        x *= 0x45D9F3B
        x &= mask
    x ^= x >> 16
    return x


class CounterRNG:
    """Uniform bits, integers, floats and normals keyed by (seed, counter, stream, index)."""

    def __init__(self, seed: int, device: torch.device | str) -> None:
        self.seed = int(seed) & _MASK
        self.counter = torch.zeros((), dtype=torch.long, device=device)

    def advance(self) -> None:
        """Move to the next step's numbers (in place, so a captured graph advances too)."""
        self.counter.add_(1)

    def bits(self, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        """Independent uniform 32-bit integers (int64 tensor of ``shape``) for ``stream``."""
        key = _hash32(_hash32(self.counter * 0x9E3779B1 + self.seed) ^ (stream * 0x85EBCA6B))
        index = torch.arange(math.prod(shape), device=self.counter.device).view(shape)
        return _hash32(_hash32(index ^ key) + key)

    def below(self, stream: int, high: torch.Tensor) -> torch.Tensor:
        """Uniform integers in ``[0, high)`` elementwise (``high`` an int64 tensor, < 2^31)."""
        return (self.bits(stream, tuple(high.shape)) * high) >> 32

    def uniform(self, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform float64 numbers in the open interval (0, 1)."""
        return (self.bits(stream, shape).double() + 0.5) / _TWO32

    def normal(self, stream: int, n: int) -> torch.Tensor:
        """``n`` standard normal float32 numbers (Box-Muller on two uniform streams)."""
        u1, u2 = self.uniform(stream, (n,)), self.uniform(stream + 1, (n,))
        return ((-2.0 * u1.log()).sqrt() * torch.cos(2.0 * math.pi * u2)).float()

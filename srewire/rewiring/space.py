"""The flat index space of the sparse layers and the offsets the nearest-dormant search
walks through (Thesis §3.2).

All layers' thetas live back to back in one flat buffer; :class:`_Space` converts flat
indices to integer coordinates per layer, and :func:`_offset_groups` lists the integer offsets
around a source, grouped by squared norm, that the search visits in order.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Sequence

import torch

# Offsets listed around each source before the exact search takes over.
_MAX_OFFSETS = 6000
_BIG = torch.iinfo(torch.long).max


def _dormant(theta: torch.Tensor) -> torch.Tensor:
    """The one dormant rule, everywhere in the rewiring: not ``theta > 0``. A NaN theta is
    dormant (it is not a connection, and reviving it overwrites it with epsilon)."""
    return ~(theta > 0)


@lru_cache(maxsize=None)
def _offset_groups(ndim: int) -> tuple[tuple[int, int, torch.Tensor], ...]:
    """Integer offsets around a source, grouped by squared norm into (lo, hi] = (2^(g-1), 2^g].

    Each entry is (lo, hi, offsets); groups are searched in order. Offsets stop once
    ``_MAX_OFFSETS`` have been listed; sources that find nothing free by then use the exact
    search.
    """
    groups, total, hi = [], 0, 1
    while total < _MAX_OFFSETS:
        lo = hi // 2 if hi > 1 else 0
        r = math.isqrt(hi)
        off = [o for o in itertools.product(range(-r, r + 1), repeat=ndim)
               if lo < sum(x * x for x in o) <= hi]
        if off:
            groups.append((lo, hi, torch.tensor(off, dtype=torch.long).view(-1, ndim)))
            total += len(off)
        hi *= 2
    return tuple(groups)



@lru_cache(maxsize=None)
def _groups_on(ndim: int, device: torch.device) -> list[tuple[int, torch.Tensor]]:
    """Offset groups on ``device`` as (smallest squared norm of the next group, offsets)."""
    groups = _offset_groups(ndim)
    return [(groups[g + 1][0] + 1 if g + 1 < len(groups) else _BIG, off.to(device))
            for g, (_, _, off) in enumerate(groups)]


class _Space:
    """One or more tensors laid out back to back in one flat index space.

    Layer ``l`` occupies flat indices ``base[l] .. base[l] + size[l]``; its shape is padded
    with trailing ones to the largest number of dimensions, which leaves Euclidean and
    Equation-3 distances unchanged (the padded axes can only take the value 0).
    """

    def __init__(self, shapes: Sequence[Sequence[int]], device: torch.device) -> None:
        ndim = max(len(s) for s in shapes)
        padded = [tuple(int(d) for d in s) + (1,) * (ndim - len(s)) for s in shapes]
        sizes = [math.prod(s) for s in padded]
        self.sizes = sizes
        self.bases = [sum(sizes[:i]) for i in range(len(sizes))]
        self.dims = torch.tensor(padded, device=device).view(len(padded), ndim)
        self.strides = torch.tensor([[math.prod(s[i + 1:]) for i in range(ndim)] for s in padded],
                                    device=device).view(len(padded), ndim)
        self.base = torch.tensor(self.bases, device=device)
        self.upper = self.dims - 1                                  # largest coordinate
        self.unit = torch.cat([-self.strides, self.strides], 1)     # flat steps -e_d, +e_d
        # per group: (bound, offsets (W, D), squared norms (W,), flat offsets per layer (L, W),
        # offsets per axis (D, W))
        self.groups = [(bound, off, (off * off).sum(1),
                        (self.strides[:, None, :] * off[None]).sum(-1),  # no integer matmul
                        off.T.contiguous())
                       for bound, off in _groups_on(ndim, torch.device(device))]

    def coords(self, cells: torch.Tensor, lid: torch.Tensor) -> torch.Tensor:
        """Flat indices of cells in layers ``lid`` -> integer coordinates (n, ndim)."""
        rows = lambda t: t.index_select(0, lid)  # noqa: E731
        return (cells - rows(self.base))[:, None] // rows(self.strides) % rows(self.dims)


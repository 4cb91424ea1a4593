"""Greedy claims with static shapes: how the device step places its revivals (Thesis §3.2,
Algorithm 1).

Every slot (one revival) holds a row of candidate cells, each with an int64 key; a smaller key
is a better candidate. A slot claims its best candidate that no *earlier* slot holds. All slots
choose at once, the claims are written into an ``owner`` array (the smallest slot per cell
wins), and the round is repeated: after round ``k`` the first conflicting slot is final, and a
fixed point is exactly the greedy result in slot order (each slot holds its best candidate
among the cells no earlier slot holds). :func:`settle` runs the rounds.

Two kinds of rows:

* **Windows** (structured, weight_based): the cells at every integer offset up to a squared
  radius ``r2`` around the slot's source, the offsets the layer's shape allows, whole shells
  only (:func:`window_table`). The key is ``(d2, tie, cell)``: distance first, then a random
  rank (``tie_break="random"``) or nothing (``"lowest"``, the cell index decides). A candidate
  found in a window is therefore a nearest free cell: every cell nearer than it lies in the
  window too. A slot whose window holds nothing free is *escalated* to a wider window.
* **Draws** (random): a few cells drawn uniformly from the slot's layer; the key is the draw's
  position. A slot takes its first dormant draw that no earlier slot holds, which is sequential
  rejection sampling, so the revived set is a uniform subset of the dormant cells.

Bounds are tested on packed coordinates: 16 bits per axis, biased by 2^14, so that one
addition moves all axes and two masks tell whether any axis left ``[0, dim)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

__all__ = ["Window", "window_table", "pack", "BIG", "FREE"]

BIG = torch.iinfo(torch.long).max      # "no candidate"
FREE = torch.iinfo(torch.int32).max    # owner entry of a cell no slot holds
_FIELD, _BIAS = 16, 1 << 14
MAX_DIM = 1 << 13                      # largest axis the packed bounds test supports
_D2_SHIFT = 51                         # key = d2 << 51 | tie << cell_bits | cell
_MAX_D2 = (1 << 12) - 1                # padding's d2; real ones must be smaller (12 bits)


def _fields(values: Sequence[int]) -> int:
    """Pack small non-negative integers into 16-bit fields of one int64 (as Python int)."""
    out = 0
    for k, v in enumerate(values):
        out |= int(v) << (_FIELD * k)
    return out - (1 << 64) if out >= 1 << 63 else out


def _masks(ndim: int) -> tuple[int, int]:
    return _fields([_BIAS] * ndim), _fields([_BIAS << 1] * ndim)


def _offsets(dims: Sequence[int], width: int) -> tuple[np.ndarray, int]:
    """Every integer offset a cell of a tensor with ``dims`` can have to another cell, with
    squared norm <= r2, sorted by (squared norm, offset), for the largest r2 whose count fits
    in ``width`` (offset zero included: d2 = 0)."""
    radius = 1
    while True:
        axes = [np.arange(-min(d - 1, radius), min(d - 1, radius) + 1) for d in dims]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(dims))
        d2 = (grid * grid).sum(1)
        whole = all(d - 1 <= radius for d in dims)
        if whole or int((d2 <= radius * radius).sum()) > width:
            break
        radius *= 2
    limit = int(d2.max()) if whole else radius * radius  # shells complete up to here
    shells = np.unique(d2[d2 <= limit])
    r2 = max(int(s) for s in shells if int((d2 <= s).sum()) <= width)
    keep = d2 <= r2
    off, d2 = grid[keep], d2[keep]
    order = np.lexsort(tuple(off[:, k] for k in reversed(range(off.shape[1]))) + (d2,))
    return off[order], r2


@dataclass
class Window:
    """Per layer, the window's offsets padded to one width: ``table`` (L, 3, W) holds the
    packed offsets (0 marks padding, which the bounds test rejects), the flat offsets and the
    squared norms shifted into the key's distance bits (one gather per step); ``upper`` the
    packed upper-bound test per layer (L,); ``r2`` each layer's radius squared."""

    table: torch.Tensor
    upper: torch.Tensor
    r2: list[int]


def window_table(dims: Sequence[Sequence[int]], strides: Sequence[Sequence[int]], width: int,
                 device: torch.device) -> Window:
    """The windows of layers with (padded) shapes ``dims``, at most ``width`` offsets each."""
    ndim = len(dims[0])
    tables = [_offsets(d, width) for d in dims]
    w = max(len(off) for off, _ in tables)
    flat = torch.zeros(len(dims), w, dtype=torch.long)
    packed = torch.zeros(len(dims), w, dtype=torch.long)
    d2 = torch.full((len(dims), w), _MAX_D2, dtype=torch.long)
    for i, ((off, _), stride) in enumerate(zip(tables, strides)):
        flat[i, :len(off)] = torch.from_numpy(off @ np.asarray(stride, dtype=np.int64))
        packed[i, :len(off)] = torch.tensor([_fields([x + _BIAS for x in o]) for o in off.tolist()],
                                            dtype=torch.long)
        d2[i, :len(off)] = torch.from_numpy((off * off).sum(1))
    if max(r2 for _, r2 in tables) >= _MAX_D2:
        raise ValueError(f"window: width {width} gives a squared radius over {_MAX_D2 - 1}, "
                         f"which does not fit the claim key; use a smaller width")
    upper = torch.tensor([_fields([_BIAS - d for d in dim]) for dim in dims],
                         dtype=torch.long)
    table = torch.stack([packed, flat, d2 << _D2_SHIFT], 1)
    return Window(table.to(device), upper.to(device), [r2 for _, r2 in tables])


def pack(coords: torch.Tensor) -> torch.Tensor:
    """Integer coordinates (n, D) -> packed int64 (n,), 16 bits per axis."""
    shifts = torch.arange(coords.shape[1], device=coords.device) * _FIELD
    return (coords << shifts).sum(1)


def inside(packed_src: torch.Tensor, packed_off: torch.Tensor, upper: torch.Tensor,
           ndim: int) -> torch.Tensor:
    """Whether source + offset lies in the layer, for (S, 1) sources, (S, W) biased offsets
    and (S, 1) upper tests: every axis ``0 <= c + o < dim``."""
    low, high = _masks(ndim)
    f = packed_src + packed_off                   # c + o + 2^14 per field
    return (((f + upper) & high) | (~f & low)) == 0


def key_bits(n_cells: int) -> tuple[int, int]:
    """(bits of the cell index, bits of the random tie rank) in a key."""
    cell_bits = max(1, int(n_cells).bit_length())
    tie_bits = _D2_SHIFT - cell_bits
    if tie_bits < 16:
        raise ValueError(f"rng='device' supports at most 2^35 coordinates, got {n_cells}")
    return cell_bits, tie_bits


def window_keys(d2: torch.Tensor, cells: torch.Tensor, ok: torch.Tensor, cell_bits: int,
                tie: torch.Tensor | None) -> torch.Tensor:
    """``(d2, tie, cell)`` packed into one int64 per candidate, ``BIG`` where not ``ok``
    (``d2`` already shifted into place, see :class:`Window`)."""
    key = d2 | cells
    if tie is not None:
        key = key | (tie << cell_bits)
    return key.masked_fill_(~ok, BIG)


def best(owner: torch.Tensor, slot: torch.Tensor, cells: torch.Tensor, key: torch.Tensor
         ) -> torch.Tensor:
    """Per row, the smallest key among the candidates no earlier slot holds (``BIG``: none).
    ``slot`` (S, 1) int32, ``cells`` and ``key`` (S, W)."""
    return key.masked_fill(owner[cells] < slot, BIG).amin(1)


def settle(owner: torch.Tensor, slot: torch.Tensor, rows: list[tuple[torch.Tensor, ...]],
           claim: torch.Tensor, cell_mask: int, rounds: int
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``rounds`` rounds of greedy claims; returns (claim, changed in the last round).

    ``rows`` holds (slot ids (S_g,) int64, slot column (S_g, 1) int32, cells (S_g, W_g), keys)
    per group of rows; a slot's best is the smallest over its rows. A claim is a cell index,
    or ``cell_mask`` (all low bits set, at least the number of cells) for none: the low bits
    of ``BIG``, so that a key's low bits are its claim either way. ``claim`` (S,) holds the
    claims before the first round, which ``owner`` (``cell_mask + 1`` entries) holds; it holds
    the returned claims afterwards.
    """
    flat_slot = slot.view(-1)
    changed = torch.zeros_like(claim, dtype=torch.bool)
    for i in range(rounds):
        top = best(owner, *rows[0][1:])
        for ids, col, cells, key in rows[1:]:
            top.scatter_reduce_(0, ids, best(owner, col, cells, key), "amin")
        new = top & cell_mask
        owner.index_fill_(0, claim, FREE)
        owner.scatter_reduce_(0, new, flat_slot, "amin")
        if i == rounds - 1:
            changed = new != claim
        claim = new
    return claim, changed

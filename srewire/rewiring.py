"""Bayesian connectivity sampling and structured rewiring (Thesis §2.2.2, §3.2, Algorithm 1).

After every optimiser step the :class:`Rewirer` does what the predecessor does
(Özdenizci & Legenstein 2021, anchor code ``run_connectivity_sampling.py``):

1. adds Langevin noise ``lr * N(0, noise_std)`` to the coordinates that were connected before
   the step;
2. counts the connected coordinates (``theta > 0``) over all sparse layers;
3. refills up to the global budget ``int(connectivity * total size)``: the number to revive is
   split across layers by a categorical draw proportional to layer size, and inside each layer
   ``n_l`` dormant coordinates get ``theta = 1e-12`` (their fixed sign is kept).

Where inside a layer the revived coordinates go is the *strategy*:

* ``random`` — uniformly among the dormant coordinates (the predecessor, "unstructured");
* ``structured`` — ``n_l`` connected coordinates are sampled uniformly and each claims, in that
  order, its nearest still-free dormant coordinate (Thesis §3.2, Equation 3, Algorithm 1);
* ``weight_based`` — as structured, but the samples are the ``n_l`` connected coordinates with
  the largest theta, claiming in decreasing order (Thesis §3.2.1).

:func:`nearest_dormant` is the search primitive behind the structured strategies.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Sequence

import numpy as np
import torch

from .config import STRATEGIES as _CONFIG_STRATEGIES
from .models import SparseLayer
from .rng import RNG_MODES, draw, make_generator, to_device

__all__ = ["nearest_dormant", "Rewirer", "RewireStats", "STRATEGIES", "METRICS"]

Strategy = Literal["random", "structured", "weight_based"]
Metric = Literal["euclidean", "eq3"]
TieBreak = Literal["random", "lowest"]
STRATEGIES: tuple[str, ...] = _CONFIG_STRATEGIES  # one home: srewire.config.STRATEGIES
METRICS: tuple[str, ...] = ("euclidean", "eq3")

TIE_BREAKS: tuple[str, ...] = ("random", "lowest")
# Offsets listed around each source before the exact search takes over.
_MAX_OFFSETS = 6000
_BIG = torch.iinfo(torch.long).max
# Elements per chunk in the exact search (sources x dormant coordinates), bounds memory.
_EXACT_CHUNK = 1 << 21


# --------------------------------------------------------------------------------------------
# nearest_dormant
# --------------------------------------------------------------------------------------------

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


def _tie_keys(cells: torch.Tensor, salt: torch.Tensor | None) -> torch.Tensor:
    """Tie-break ranks per (source, cell): a salted hash (random) or the flat index (lowest).

    The rank of a cell for a given source never changes while a call runs, which the greedy
    resolution in :func:`_claim` relies on.
    """
    return cells if salt is None else _hash32(cells ^ salt)


def _distance(p: torch.Tensor, q: torch.Tensor, metric: str) -> torch.Tensor:
    """Distance between integer coordinates (last axis = tensor dimensions).

    ``euclidean``: squared Euclidean distance (same order as the distance itself);
    ``eq3``: Equation 3 as printed in the thesis, sum_n |p_n^2 - q_n^2|.
    """
    if metric == "euclidean":
        return ((p - q) ** 2).sum(-1)
    return (p * p - q * q).abs().sum(-1)


def _pick(dist: torch.Tensor, key: torch.Tensor, ok: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row-wise minimum of (dist, key) over the ``ok`` entries.

    Returns (column, distance, key); distance and key are ``_BIG`` where a row has no entry.
    """
    d = torch.where(ok, dist, _BIG)
    dmin = d.min(1, keepdim=True).values
    k = torch.where(ok & (d == dmin), key, _BIG)
    kmin, col = k.min(1)
    return col, dmin.squeeze(1), kmin


class _Claims:
    """The smallest claim position per claimed cell, for lookups by cell; ``later`` holds
    the positions whose cell an earlier position claims too (sorted)."""

    def __init__(self, claims: torch.Tensor) -> None:
        bits = max(1, claims.numel() - 1).bit_length()  # positions fit in the low bits
        key = _sorted(claims << bits | torch.arange(claims.numel(), device=claims.device))
        cells, owner = key >> bits, key & ((1 << bits) - 1)
        first = torch.ones_like(cells, dtype=torch.bool)
        first[1:] = cells[1:] != cells[:-1]
        self.cells, self.owner = _compress(cells, first), _compress(owner, first)
        self.none, self.later = claims.numel(), _sorted(_compress(owner, ~first))

    def owner_of(self, cells: torch.Tensor) -> torch.Tensor:
        """Smallest position claiming each cell, or the number of sources if unclaimed."""
        i = torch.searchsorted(self.cells, cells).clamp_(max=self.cells.numel() - 1)
        return torch.where(self.cells[i] == cells, self.owner[i], self.none)


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


def _is_free(values: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Dormant test on a flat bool ``connected`` mask or on a flat theta (theta <= 0)."""
    v = values.take(cells)
    return ~v if v.dtype == torch.bool else v <= 0


def _unit_search(space: _Space, values: torch.Tensor, src: torch.Tensor, lid: torch.Tensor,
                 coords: torch.Tensor, pos: torch.Tensor, salt: torch.Tensor | None,
                 claims: _Claims | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first offset group of the Euclidean search, the unit steps along each axis.

    Every free neighbour is at distance 1, so the best one is simply the one with the
    smallest tie key, and it is final (nothing else is that close). Returns (cell, found);
    cell is meaningless where found is False. Same result as the general group loop, with
    bounds tested per axis instead of per offset and coordinate.
    """
    ok = torch.cat([coords > 0, coords < space.upper.index_select(0, lid)], 1)  # -e_d, +e_d
    cell = (src[:, None] + space.unit.index_select(0, lid)).clamp_(0, values.numel() - 1)
    ok &= _is_free(values, cell)  # the clamp only keeps the lookup in range; ok masks it
    if claims is not None:
        ok &= claims.owner_of(cell) >= pos[:, None]
    key = torch.where(ok, _tie_keys(cell, None if salt is None else salt[:, None]), _BIG)
    kmin, col = key.min(1)
    return cell.gather(1, col[:, None]).squeeze(1), kmin < _BIG


def _search(space: _Space, values: torch.Tensor, metric: str, src: torch.Tensor,
            lid: torch.Tensor, coords: torch.Tensor, pos: torch.Tensor,
            salt: torch.Tensor | None, claims: _Claims | None, cache: dict) -> torch.Tensor:
    """Best dormant cell per source, in its own layer, that no source earlier than ``pos``
    claims.

    Offsets are searched group by group (squared norm 1, 2, 3-4, 5-8, ...). A best candidate
    with distance below the next group's smallest squared norm is final: every cell farther out
    is at least that far, for ``eq3`` too, because |p^2 - q^2| >= (p - q)^2 when p, q >= 0.
    Sources still open after the last group use the exact search.
    """
    k, dev = src.numel(), src.device
    groups = space.groups
    if metric == "euclidean":  # squared norm 1 on its own: it settles almost every source
        best_cell, found = _unit_search(space, values, src, lid, coords, pos, salt, claims)
        active = (~found).nonzero().squeeze(1)
        if active.numel() == 0:
            return best_cell
        groups = groups[1:]
    else:
        best_cell = torch.full((k,), -1, dtype=torch.long, device=dev)
        active = torch.arange(k, device=dev)
    upper = space.upper.index_select(0, lid)
    best_d = torch.full((k,), _BIG, dtype=torch.long, device=dev)
    best_key = torch.full((k,), _BIG, dtype=torch.long, device=dev)
    for bound, off, off_sq, off_flat, off_axes in groups:
        p = coords[active]
        # in bounds, axis by axis: -p <= offset <= upper - p (no (sources x W x D) array)
        below, above = -p, upper[active] - p
        ok = (off_axes[0] >= below[:, :1]) & (off_axes[0] <= above[:, :1])
        for d in range(1, p.shape[1]):
            ok &= (off_axes[d] >= below[:, d:d + 1]) & (off_axes[d] <= above[:, d:d + 1])
        cell = torch.where(ok, src[active, None] + off_flat[lid[active]], 0)
        ok &= _is_free(values, cell)
        if claims is not None:
            ok &= claims.owner_of(cell) >= pos[active, None]
        dist = off_sq.expand_as(cell) if metric == "euclidean" else \
            _distance(p[:, None, :], p[:, None, :] + off, metric)
        s = None if salt is None else salt[active, None]
        col, d, key = _pick(dist, _tie_keys(cell, s), ok)
        bd, bk = best_d[active], best_key[active]
        better = (d < bd) | ((d == bd) & (key < bk))
        upd = active[better]
        best_d[upd], best_key[upd] = d[better], key[better]
        best_cell[upd] = cell[better.nonzero().squeeze(1), col[better]]
        active = active[best_d[active] >= bound]
        if active.numel() == 0:
            return best_cell
    for layer in lid[active].unique().tolist():  # the rare sources with a full neighbourhood
        rows = active[lid[active] == layer]
        best_cell[rows] = _exact(space, values, metric, layer, coords[rows], pos[rows],
                                 None if salt is None else salt[rows], claims, cache)
    return best_cell


def _exact(space: _Space, values: torch.Tensor, metric: str, layer: int, coords: torch.Tensor,
           pos: torch.Tensor, salt: torch.Tensor | None, claims: _Claims | None,
           cache: dict) -> torch.Tensor:
    """Exhaustive search over a layer's dormant cells, chunked (never an n x N matrix)."""
    if layer not in cache:
        a, n = space.bases[layer], space.sizes[layer]
        part = values[a:a + n]
        cells = (~part if part.dtype == torch.bool else part <= 0).nonzero().squeeze(1) + a
        cache[layer] = cells, space.coords(cells, torch.full_like(cells, layer))
    cells, cell_coords = cache[layer]
    if cells.numel() < int(pos.max()) + 1:  # fewer dormant cells than sources up to here
        raise ValueError(f"cannot claim {int(pos.max()) + 1} distinct dormant coordinates: "
                         f"the tensor has only {cells.numel()}")
    owner = claims.owner_of(cells) if claims is not None else torch.full_like(cells, _BIG)
    out = torch.empty(len(coords), dtype=torch.long, device=coords.device)
    rows = max(1, _EXACT_CHUNK // max(1, cells.numel()))
    for chunk in torch.arange(len(coords), device=coords.device).split(rows):
        dist = _distance(coords[chunk, None, :], cell_coords[None], metric)
        s = None if salt is None else salt[chunk, None]
        col, _, _ = _pick(dist, _tie_keys(cells[None], s), owner[None] >= pos[chunk, None])
        out[chunk] = cells[col]
    return out


def _claim(space: _Space, values: torch.Tensor, sources: torch.Tensor, lid: torch.Tensor,
           generator: torch.Generator | None, metric: str, tie_break: str) -> torch.Tensor:
    """Greedy nearest-dormant claims for sources in one or more layers (no argument checks).

    Round 1 gives every source its nearest dormant cell, ignoring the others. Then, while some
    source shares its cell with an earlier source, those sources search again, excluding every
    cell an earlier source currently holds. A source only moves off a cell that an earlier
    source holds, so no held cell is ever released and the cells excluded for a source only
    grow; a source whose cell no earlier source holds is therefore at its greedy optimum. The
    smallest moved source is final after each round, so the loop ends, usually within a few
    rounds. Sources in different layers never compete (their cells differ).
    """
    n, dev = sources.numel(), sources.device
    if n == 0:
        return sources.new_empty(0)
    coords = space.coords(sources, lid)
    pos = torch.arange(n, device=dev)
    salt = (draw(torch.randint, 0, 1 << 32, (n,), generator=generator, device=dev)
            if tie_break == "random" else None)
    cache: dict = {}
    claims = _search(space, values, metric, sources, lid, coords, pos, salt, None, cache)
    held = _Claims(claims)
    while held.later.numel():
        moved = held.later
        new = _search(space, values, metric, sources[moved], lid[moved], coords[moved], moved,
                      None if salt is None else salt[moved], held, cache)
        claims[moved] = new
        # The claims held before are distinct, so a conflict now involves a new cell: one
        # that a held claim has too, or that two moved sources took. Usually there is none,
        # and the full recount is skipped.
        if bool((held.owner_of(new) < held.none).any()) or _unique(new).numel() < new.numel():
            held = _Claims(claims)
        else:
            break
    return claims


def nearest_dormant(connected: torch.Tensor, sources: torch.Tensor, *,
                    generator: torch.Generator | None = None, metric: Metric = "euclidean",
                    tie_break: TieBreak = "random") -> torch.Tensor:
    """Greedy nearest-dormant claims for structured rewiring (Thesis §3.2, Eq. 3, Algorithm 1).

    ``connected`` is a bool tensor with 1 to 4 dimensions; ``sources`` holds flat indices (into
    ``connected.flatten()``) of connected coordinates, in claim order (repeats allowed). For
    each source in order, the result holds the flat index of a dormant coordinate at minimum
    distance over the integer index coordinates of the tensor among the dormant coordinates
    that earlier sources have not claimed; the results are distinct. Ties are broken uniformly
    at random with ``generator`` (``tie_break="random"``) or by the lowest flat index
    (``tie_break="lowest"``).

    ``metric="euclidean"`` (default) is the Euclidean distance the thesis's text describes;
    ``metric="eq3"`` is Equation 3 exactly as printed, ``sum_n |p_n^2 - chi_n^2|`` (an ablation).

    No n x N distance matrix is built: each source searches outward through offsets sorted by
    distance, vectorised over the sources, and only sources whose neighbourhood is full fall
    back to an exact, chunked search, so the cost grows with the number of sources, not with
    the size of the tensor. Raises ValueError for bad arguments, including more sources than
    dormant coordinates (detected when the search runs out of cells).
    """
    if not isinstance(connected, torch.Tensor) or connected.dtype != torch.bool:
        raise ValueError("connected must be a torch.bool tensor")
    if not 1 <= connected.dim() <= 4:
        raise ValueError(f"connected must have 1 to 4 dimensions, got {connected.dim()}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    sources = torch.as_tensor(sources, device=connected.device).reshape(-1)
    if sources.is_floating_point() or sources.is_complex() or sources.dtype == torch.bool:
        raise ValueError(f"sources must hold integer flat indices, got dtype {sources.dtype}")
    sources = sources.long()
    flat = connected.reshape(-1)
    if sources.numel() and (sources.min() < 0 or sources.max() >= flat.numel()):
        raise ValueError(f"sources must be flat indices in [0, {flat.numel()})")
    if sources.numel() and not bool(flat[sources].all()):
        raise ValueError("sources must be connected coordinates (connected.flatten()[s] True)")
    space = _Space([connected.shape], connected.device)
    return _claim(space, flat, sources, torch.zeros_like(sources), generator, metric, tie_break)


# --------------------------------------------------------------------------------------------
# Sampling helpers
# --------------------------------------------------------------------------------------------

def _sample_distinct(pool: int, n: int, generator: torch.Generator | None,
                     theta: torch.Tensor | None = None, n_dormant: int | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` distinct indices drawn uniformly from ``[0, pool)``, in random order; with
    ``theta`` given, only dormant ones (``theta <= 0``, ``n_dormant`` of them).

    Uniform draws with replacement, filtered to dormant indices, give an exchangeable set of
    distinct indices; a uniformly random n-subset of it is a uniform n-subset of all dormant
    indices. Cost O(n log n), not O(pool). Small or nearly exhausted pools are enumerated.
    """
    if n == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    n_accept = pool if n_dormant is None else n_dormant
    if n_accept < 4 * n or pool <= 4096:
        found = (torch.arange(pool, device=device) if theta is None
                 else (~(theta > 0)).nonzero().squeeze(1))
    else:
        found = torch.empty(0, dtype=torch.long, device=device)
        while found.numel() < n:
            draws = int((n - found.numel()) * pool / n_accept * 1.25) + 16
            cand = draw(torch.randint, 0, pool, (draws,), generator=generator, device=device)
            if theta is not None:
                cand = _compress(cand, ~(theta.index_select(0, cand) > 0))  # NaN: dormant
            found = _unique(torch.cat([found, cand]) if found.numel() else cand)
    return found.index_select(
        0, draw(torch.randperm, found.numel(), generator=generator, device=device)[:n])


def _concat_take(a: torch.Tensor, b: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``torch.cat([a, b])[order]`` without building the concatenation."""
    if b.numel() == 0:
        return a.index_select(0, order)
    if a.numel() == 0:
        return b.index_select(0, order)
    na = a.numel()
    return torch.where(order < na, a[order.clamp(max=na - 1)], b[(order - na).clamp(min=0)])


# --------------------------------------------------------------------------------------------
# Array helpers: NumPy on a CPU, torch elsewhere
# --------------------------------------------------------------------------------------------
# The rewiring step sorts, filters and compacts arrays of 10^3 to 10^6 integers. On a CPU,
# NumPy does these several times faster than torch (benchmarks/bench_rewiring.py prints the
# ratios), with the same results; on a GPU the torch operations run where the data is.
# Setting NUMPY_ON_CPU to False runs the torch operations on a CPU too (the tests use this
# to check the GPU code path against the CPU one).

NUMPY_ON_CPU = True


def _numpy(x: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and x.device.type == "cpu"


def _sorted(x: torch.Tensor) -> torch.Tensor:
    """The values of a 1-D tensor in ascending order."""
    return torch.from_numpy(np.sort(x.numpy())) if _numpy(x) else x.sort().values


def _unique(x: torch.Tensor) -> torch.Tensor:
    """The distinct values of a 1-D tensor, ascending (``torch.unique``)."""
    if not _numpy(x):
        return torch.unique(x)
    a = np.sort(x.numpy())
    keep = np.ones(a.size, dtype=bool)
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return torch.from_numpy(a[keep])


def _true_positions(mask: torch.Tensor) -> torch.Tensor:
    """Flat positions of True in a 1-D bool mask, ascending."""
    if _numpy(mask):
        return torch.from_numpy(np.flatnonzero(mask.numpy()).astype(np.int64, copy=False))
    return mask.nonzero().squeeze(1)


def _compress(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x[mask]`` for 1-D tensors."""
    if not _numpy(x):
        return x[mask]
    m = mask.numpy()
    # NumPy's boolean indexing copies long runs fast but stumbles over a mask that flips at
    # random; np.compress is steady. Masks here are mostly True (or mostly False).
    if 0.1 * m.size < np.count_nonzero(m) < 0.9 * m.size:
        return torch.from_numpy(np.compress(m, x.numpy()))
    return torch.from_numpy(x.numpy()[m])


# --------------------------------------------------------------------------------------------
# Rewirer
# --------------------------------------------------------------------------------------------

@dataclass
class RewireStats:
    """What one rewiring step did (all counts are over all sparse layers)."""

    connected: int          # connections after the optimiser step and the noise, before refill
    died: int               # connections that were connected before the step and are not now
    revived: int            # dormant coordinates set to epsilon by this step
    revived_then_died: int  # coordinates revived by the previous step that are dormant again


class Rewirer:
    """One rewiring step after every optimiser step, keeping the global budget exact.

    ``layers`` are the sparse layers (see :func:`srewire.models.sparse_layers`);
    ``connectivity`` is ``1 - sparsity``. The budget is ``int(connectivity * total size)``; an
    initial deficit (the per-layer initial densities are lower) is filled at the first step.
    A layer asked for more revivals than it has dormant coordinates passes the rest on to the
    other layers (drawn again in proportion to size). With ``reset_momentum`` the optimiser's
    momentum of revived coordinates is zeroed (off by default, as in the predecessor).

    The thetas of all layers are moved into one flat buffer (each layer's ``theta`` becomes a
    view of it), so that noise, counting and reviving are single operations over all layers
    and the structured search runs once per step for all layers together. Create the Rewirer
    *after* moving the model to its device.

    A dormant coordinate can also become connected without being revived: leftover momentum
    can carry it back above zero. ``crossing="scan"`` finds such coordinates by scanning all of
    theta after each step (works with any optimiser). ``crossing="track"`` avoids the scan
    for :class:`srewire.train.SGDW` (and plain SGD without coupled weight decay): a dormant
    coordinate gets zero gradient and keeps the sign of its velocity, so only coordinates that
    the *noise* pushed to <= 0 can come back, and those are watched. :meth:`canonicalize`
    (every epoch end) recounts from theta and raises if tracking ever missed a crossing.

    Randomness comes from two seeded generators: one for noise and choices (on the CPU with
    ``rng="host"``, the default, so that a GPU run draws the CPU run's numbers; on the
    parameters' device with ``rng="device"``; see :mod:`srewire.rng`) and one on the CPU for
    the split across layers; :meth:`state_dict` saves them.
    """

    def __init__(self, layers: Sequence[SparseLayer], connectivity: float, *,
                 strategy: Strategy = "random", metric: Metric = "euclidean",
                 tie_break: TieBreak = "random", noise_std: float = 1e-6,
                 epsilon: float = 1e-12, reset_momentum: bool = False,
                 crossing: Literal["scan", "track"] = "scan", seed: int = 0,
                 rng: str = "host") -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if tie_break not in TIE_BREAKS:
            raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
        if crossing not in ("scan", "track"):
            raise ValueError(f"crossing must be 'scan' or 'track', got {crossing!r}")
        if rng not in RNG_MODES:
            raise ValueError(f"rng must be one of {RNG_MODES}, got {rng!r}")
        if not 0 < connectivity <= 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity!r}")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Rewirer needs at least one sparse layer")
        if len({(l.theta.device, l.theta.dtype) for l in self.layers}) != 1:
            raise ValueError("all sparse layers must share one device and dtype")
        self.strategy, self.metric, self.tie_break = strategy, metric, tie_break
        self.noise_std, self.epsilon, self.reset_momentum = noise_std, epsilon, reset_momentum
        self.crossing = crossing
        self.device = self.layers[0].theta.device
        self.space = _Space([l.theta.shape for l in self.layers], self.device)
        self.sizes, self.bases = self.space.sizes, self.space.bases
        self.budget = int(connectivity * sum(self.sizes))
        self.flat = torch.cat([l.theta.detach().reshape(-1) for l in self.layers])
        for layer, base, size in zip(self.layers, self.bases, self.sizes):
            layer.theta.data = self.flat[base:base + size].view(layer.theta.shape)
        self._bounds = torch.tensor(self.bases + [sum(self.sizes)], device=self.device)
        self.generator = make_generator(seed, self.device, rng)
        self.split_generator = torch.Generator().manual_seed(seed + 0x5EED)
        self._probs = torch.tensor(self.sizes, dtype=torch.float64)
        self._empty = torch.empty(0, dtype=torch.long, device=self.device)
        self._last_revived = self._watch = self._empty
        self.steps = 0
        self._set_conn(self._empty, [0] * len(self.layers))
        self.canonicalize()

    # -- state -----------------------------------------------------------------------------

    def _check_views(self) -> None:
        elsize = self.flat.element_size()
        for layer, base in zip(self.layers, self.bases):
            if layer.theta.data_ptr() != self.flat.data_ptr() + base * elsize:
                raise RuntimeError("a sparse layer's theta no longer lives in the Rewirer's "
                                   "buffer (was the model moved with .to() after the Rewirer "
                                   "was made?); create the Rewirer after moving the model")

    def _per_layer(self, cells: torch.Tensor) -> list[int]:
        """Counts of sorted global indices per layer."""
        edges = torch.searchsorted(cells, self._bounds).tolist()
        return [b - a for a, b in zip(edges[:-1], edges[1:])]

    def _set_conn(self, conn: torch.Tensor, seg: list[int]) -> None:
        """The connection list, its per-layer segment lengths and their bounds in the list."""
        self._conn, self._seg = conn, seg
        self._seg_bounds = to_device(torch.tensor([0, *itertools.accumulate(seg)]), self.device)

    def canonicalize(self) -> None:
        """Recompute the connection list from theta, in sorted order; sort the watch list.

        The training loop calls this at every epoch end, so that a run resumed from an epoch
        checkpoint continues with exactly the same lists as an uninterrupted run.
        """
        self._check_views()
        fresh = self.flat.gt(0).nonzero().squeeze(1)
        if self.steps and fresh.numel() != self._conn.numel():
            raise RuntimeError("tracked connections disagree with theta: the optimiser moves "
                               "dormant coordinates in a way crossing='track' does not cover; "
                               "use crossing='scan'")
        self._set_conn(fresh, self._per_layer(fresh))
        self._watch = _sorted(self._watch)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(),
                "split_generator": self.split_generator.get_state(),
                "last_revived": self._last_revived.cpu(), "watch": self._watch.cpu(),
                "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.split_generator.set_state(state["split_generator"])
        self._last_revived = state["last_revived"].to(self.device)
        self._watch = state["watch"].to(self.device)
        self.steps = 0  # skip the consistency check: theta was just loaded
        self.canonicalize()
        self.steps = int(state["steps"])

    def connected_count(self) -> int:
        """Connections over all layers right now, counted from theta."""
        return int(torch.count_nonzero(self.flat > 0))

    # -- one step --------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, lr: float, optimizer: torch.optim.Optimizer | None = None) -> RewireStats:
        """Noise, count, split and revive; call right after ``optimizer.step()``.

        The new connection list keeps, layer by layer, the surviving connections in their old
        order, then the coordinates that crossed zero by themselves (sorted), then the revived
        ones in the order chosen; the noise of the next step is drawn in this order.
        All counts the split needs come back from the device in one read.
        """
        self._check_views()
        flat, conn = self.flat, self._conn
        redied = (flat.take(self._last_revived) <= 0).sum()  # before the noise, as the stats say
        values, noisy = self._add_noise(lr)
        alive = noisy > 0
        dead = _true_positions(~alive)  # positions in conn, sorted; few
        if self.crossing == "scan":
            mask = flat > 0
            mask[conn] = False
            crossed = _true_positions(mask)
        else:
            up = flat.take(self._watch) > 0
            crossed = _sorted(self._watch[up])
            # pushed to <= 0 by the noise: they may come back by themselves, so watch them
            killed = conn.take(dead[values.take(dead) > 0])
            self._watch = torch.cat([self._watch[~up], killed])
        n_dead = torch.diff(torch.searchsorted(dead, self._seg_bounds))
        n_crossed = torch.diff(torch.searchsorted(crossed, self._bounds))
        # the counts the split across layers needs on the host, read back in one go
        counts_host = torch.cat([n_dead, n_crossed, redied[None]]).tolist()
        n_layers = len(self.layers)
        kept = [s - d for s, d in zip(self._seg, counts_host[:n_layers])]
        n_cross = counts_host[n_layers:2 * n_layers]
        survivors = _compress(conn, alive).split(kept)
        crossed = crossed.split(n_cross)
        counts = [k + c for k, c in zip(kept, n_cross)]
        dormant = [size - c for size, c in zip(self.sizes, counts)]
        revive = self._split(max(0, self.budget - sum(counts)), dormant)
        revived = self._choose(revive, survivors, crossed, noisy, alive, dormant)
        targets = revived.split(revive)
        flat.index_fill_(0, revived, self.epsilon)
        if self.reset_momentum and optimizer is not None:
            for layer, base, t in zip(self.layers, self.bases, targets):
                buf = optimizer.state.get(layer.theta, {}).get("momentum_buffer")
                if buf is not None and t.numel():
                    buf.view(-1)[t - base] = 0
        self._set_conn(torch.cat([x for triple in zip(survivors, crossed, targets)
                                  for x in triple]), [c + n for c, n in zip(counts, revive)])
        self._last_revived = revived
        if sum(revive) and self._watch.numel():
            self._watch = self._watch[flat.take(self._watch) <= 0]
        self.steps += 1
        return RewireStats(connected=sum(counts), died=conn.numel() - sum(kept),
                           revived=sum(revive), revived_then_died=int(counts_host[-1]))

    def _add_noise(self, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Langevin noise ``lr * N(0, noise_std)`` on the connected coordinates, drawn in the
        order of the connection list. Returns theta on the list before and after the noise.

        This part of a step does not depend on the strategy: it reads and writes theta at
        every connection (the benchmark times it on its own)."""
        values = self.flat.index_select(0, self._conn)
        scale = lr * self.noise_std
        if scale <= 0:
            return values, values
        noisy = draw(torch.randn, self._conn.numel(), generator=self.generator,
                     device=self.device)
        noisy.mul_(scale).add_(values)
        self.flat.put_(self._conn, noisy)
        return values, noisy

    def _split(self, n: int, dormant: list[int]) -> list[int]:
        """Split ``n`` revivals across layers: categorical draw proportional to layer size;
        a layer's excess over its dormant count is drawn again among layers with room."""
        out = [0] * len(dormant)
        probs = self._probs.clone()
        while n > 0:
            draw = torch.multinomial(probs, n, replacement=True, generator=self.split_generator)
            for i, k in enumerate(torch.bincount(draw, minlength=len(out)).tolist()):
                take = min(k, dormant[i] - out[i])
                out[i] += take
                n -= take
            probs = torch.tensor([p if out[i] < dormant[i] else 0.0
                                  for i, p in enumerate(self._probs.tolist())], dtype=torch.float64)
            if n > 0 and probs.sum() == 0:
                raise RuntimeError("no dormant coordinates left to revive (budget > total size)")
        return out

    def _choose(self, revive: list[int], survivors: Sequence[torch.Tensor],
                crossed: Sequence[torch.Tensor], noisy: torch.Tensor, alive: torch.Tensor,
                dormant: list[int]) -> torch.Tensor:
        """Global indices of the coordinates to revive, layer after layer (the strategy).

        A layer's connections are its ``survivors`` followed by its ``crossed`` coordinates;
        ``noisy[alive]`` holds the survivors' theta (used by weight_based).
        """
        picks, sources, lids = [], [], []
        kept_theta = (_compress(noisy, alive).split([s.numel() for s in survivors])
                      if self.strategy == "weight_based" else None)
        for i, n in enumerate(revive):
            if n == 0:
                continue
            base, s, x = self.bases[i], survivors[i], crossed[i]
            c = s.numel() + x.numel()
            if self.strategy == "random" or c == 0:
                theta = self.flat[base:base + self.sizes[i]]
                picks.append(_sample_distinct(self.sizes[i], n, self.generator, theta=theta,
                                              n_dormant=dormant[i], device=self.device) + base)
                continue
            if self.strategy == "structured":
                order = _sample_distinct(c, min(n, c), self.generator, device=self.device)
            else:  # weight_based: the largest theta first
                theta = kept_theta[i] if x.numel() == 0 else \
                    torch.cat([kept_theta[i], self.flat[x]])
                order = theta.topk(min(n, c)).indices
            src = _concat_take(s, x, order)
            if n > c:  # more revivals than connections: every connection claims again, in turn
                src = src.repeat(math.ceil(n / c))[:n]
            sources.append(src)
            lids.append(torch.full_like(src, i))
            picks.append(None)
        if sources:
            claimed = iter(_claim(self.space, self.flat, torch.cat(sources), torch.cat(lids),
                                  self.generator, self.metric, self.tie_break
                                  ).split([s.numel() for s in sources]))
            picks = [next(claimed) if p is None else p for p in picks]
        return torch.cat(picks) if picks else self._empty

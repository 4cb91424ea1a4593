"""Greedy nearest-dormant claims: the search behind structured and weight-based rewiring
(Thesis §3.2, Equation 3, Algorithm 1).

For sources in claim order, each claims a dormant coordinate at minimum distance among those
that earlier sources have not claimed. :func:`nearest_dormant` is the public entry point on one
tensor; :func:`_claim` is what the Rewirer's host step calls for all layers at once.
"""

from __future__ import annotations

import torch

from ..rng import draw
from .arrays import _compress, _sorted, _unique
from .options import METRICS, TIE_BREAKS, Metric, TieBreak
from .space import _BIG, _Space, _dormant

# Elements per chunk in the exact search (sources x dormant coordinates), bounds memory.
_EXACT_CHUNK = 1 << 21


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer mix in int64 arithmetic (no overflow): the random
    tie-break's rank of a cell for a salted source."""
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



def _is_free(values: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Dormant test on a flat bool ``connected`` mask or on a flat theta (:func:`_dormant`)."""
    v = values.take(cells)
    return ~v if v.dtype == torch.bool else _dormant(v)


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
        cells = (~part if part.dtype == torch.bool else _dormant(part)).nonzero().squeeze(1) + a
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


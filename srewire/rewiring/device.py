"""The device step (``rng="device"``): the rewiring step with static shapes, no host read-back
and storage that never moves, so that a whole training step can be captured as one CUDA graph
(Thesis §3.2, Algorithm 1; the host step in :mod:`srewire.rewiring.host` is the reference).

The semantics are the host step's: Langevin noise ``lr * N(0, noise_std)`` on the coordinates
connected before the step; the deficit ``budget - connected`` is refilled; the refill is split
across layers by a draw proportional to layer size; ``random`` revives uniformly among the dormant
cells;
the sources are uniform (``structured``) or the largest theta (``weight_based``); every claim
goes to the nearest still-free dormant cell, in claim order (Euclidean).

The cost is O(budget), not O(network): the step keeps

* ``conn`` — the connection list, ``budget + slots`` entries (the connections first, then the
  dump index ``n``); after every step its first ``budget`` entries are the connections;
* ``watch`` — the cells the noise pushed to zero or below; only they can come back by their own
  momentum (a dormant theta has no gradient and SGDW keeps the sign of its velocity), so the
  step finds such crossings without scanning theta; with an SGDW optimiser, a watched cell
  whose velocity is not positive can never come back and leaves the watch;
* ``last`` — the cells the last step revived (for the revived-then-died count);
* ``owner`` — the claims' scratch array over all cells, touched only where slots claim.

Each step: draw the noise for the list, apply it, sort the survivors and the crossings by
(layer, key) — the key is random (structured), the negative theta (weight_based) or nothing
(random) — which gives every layer's connections in source order; draw each slot's layer; let
the slots claim (:mod:`srewire.rewiring.claims`); write epsilon at the claimed cells and append
them to the list. All random numbers come from the rewirer's ``torch.Generator`` on the device
(a captured graph registers it, so replays draw fresh numbers).

What the step cannot place exactly is counted, never hidden, in device counters that the host
reads once per epoch: ``fallbacks`` (revivals deferred to the next step: more deficit than
slots, a window with nothing free even when widened, slots drawn to a layer without room, which
the host step draws again among the other layers), ``inexact`` (claims
made before the rounds settled) and ``overflow`` (list or watch entries that did not fit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from . import claims
from .claims import BIG, FREE

if TYPE_CHECKING:  # pragma: no cover
    from .rewirer import Rewirer

__all__ = ["DeviceStep"]

# Settling rounds before and after the wide windows join (claim chains are short; a slot not
# settled by then is counted in ``inexact``), draws per slot of random revival, and the
# widths of the two windows (offsets per source).
_ROUNDS, _WIDE_ROUNDS, _DRAWS = 3, 4, 8
_WINDOW, _WIDE_WINDOW = 128, 2048


class DeviceStep:
    """Sync-free, static-shape rewiring step for a :class:`~srewire.rewiring.Rewirer`
    (see the module). ``slots`` is the most revivals per step; ``wide`` the most slots per
    step whose window is full and that search the wide window."""

    def __init__(self, rewirer: "Rewirer", slots: int, *, watch: int | None = None,
                 wide: int | None = None) -> None:
        r = rewirer
        if r.metric != "euclidean" and r.strategy != "random":
            raise ValueError("rng='device' supports metric='euclidean' only; use rng='host' "
                             f"for metric={r.metric!r}")
        if slots < 1:
            raise ValueError(f"device_slots must be >= 1, got {slots}")
        big = max(max(s) for s in r.space.dims.tolist())
        if big >= claims.MAX_DIM:
            raise ValueError(f"rng='device' supports tensor axes up to {claims.MAX_DIM - 1}, "
                             f"got {big}; use rng='host'")
        dev, n, long = r.device, r.n, torch.long
        self.r, self.n, self.slots = r, n, int(slots)
        self.capacity = r.budget + self.slots
        self.wide = int(wide or max(64, self.slots // 16))
        self.n_layers = len(r.sizes)
        self.conn = torch.full((self.capacity + 1,), n, dtype=long, device=dev)
        self.watch = torch.full((int(watch or max(1024, r.budget // 8)) + 1,), n, dtype=long,
                                device=dev)
        self.last = torch.full((self.slots,), n, dtype=long, device=dev)
        self.cell_bits, self.tie_bits = claims.key_bits(n + 1)
        self.cell_mask = (1 << self.cell_bits) - 1  # >= n: a claim of "none"
        self.owner = torch.full((self.cell_mask + 1,), FREE, dtype=torch.int32, device=dev)
        counters = ("steps", "fallbacks", "inexact", "overflow")
        for name in counters:
            setattr(self, name, torch.zeros((), dtype=long, device=dev))
        self.counters = counters
        self.ends = torch.tensor(r.bases[1:] + [n], device=dev)      # layer ends, for bucketize
        self.layer_ids = torch.arange(self.n_layers + 1, device=dev)
        self.layer_row = self.layer_ids[:-1].clone()
        self.sizes = torch.tensor(r.sizes, device=dev)
        self.bases = torch.tensor(r.bases, device=dev)
        self.slot = torch.arange(self.slots, device=dev)
        self.slot32 = self.slot.to(torch.int32)[:, None]
        self.draw_rank = torch.arange(_DRAWS, device=dev)[None, :]
        dims, strides = r.space.dims.tolist(), r.space.strides.tolist()
        self.window = claims.window_table(dims, strides, _WINDOW, dev)
        self.wide_window = claims.window_table(dims, strides, _WIDE_WINDOW, dev)
        self.shifts = torch.arange(len(dims[0]), device=dev) * 16
        self.momentum: torch.Tensor | None = None

    # -- hand-over, epoch ends, checkpoints (host side, may read back) -----------------------

    def start(self, last_revived: torch.Tensor, watch: torch.Tensor) -> None:
        """Take over from the host step: the connections from theta, the host's last
        revivals and watch list (all written in place)."""
        self.canonicalize()
        self._fill(self.last, last_revived)
        self._fill(self.watch[:-1], watch)

    def canonicalize(self) -> int:
        """Rebuild the connection list from theta, sorted (in place; at epoch ends, so that a
        resumed run continues exactly as an uninterrupted one). Returns the connections theta
        has that the list missed (0 unless the watch overflowed or the optimiser moves dormant
        coordinates in a way the watch does not cover)."""
        fresh = (self.r.flat[:self.n] > 0).nonzero().squeeze(1)
        missed = fresh.numel() - int((self.conn < self.n).sum())
        self._fill(self.conn, fresh)
        return missed

    def _fill(self, dest: torch.Tensor, cells: torch.Tensor) -> None:
        """``dest`` = ``cells`` followed by the dump index, in place (excess counted)."""
        k = min(cells.numel(), dest.numel() - (dest is self.conn))
        self.overflow += cells.numel() - k
        dest.fill_(self.n)
        dest[:k].copy_(cells[:k])

    def state(self) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps (the list is canonical then: theta gives it again)."""
        out = {k: getattr(self, k).detach().cpu().clone() for k in self.counters}
        out.update(last=self.last.cpu().clone(), watch=self.watch.cpu().clone())
        return out

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for k in self.counters:
            getattr(self, k).copy_(state[k])
        self.last.copy_(state["last"])
        self.watch.copy_(state["watch"])
        self.canonicalize()

    # -- one step ----------------------------------------------------------------------------

    def step(self, lr: float | torch.Tensor, optimizer: torch.optim.Optimizer | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noise, count, split and revive; returns device tensors (connected before the
        refill, died, revived, revived_then_died).

        No decorator: ``torch.compile(step, fullgraph=True)`` must trace this frame itself."""
        self.momentum = self.r.velocity(optimizer)  # Python only: views made once
        with torch.no_grad():
            return self._step(lr)

    def _step(self, lr: float | torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        r, flat, n, g, L = self.r, self.r.flat, self.n, self.r.generator, self.n_layers
        conn, watch = self.conn, self.watch
        redied = (self.last < n).sum() - (flat.index_select(0, self.last) > 0).sum()
        # 1. noise on the connections before the step (dump entries stay at -1)
        val = flat.index_select(0, conn)
        valid = conn < n
        noisy = torch.randn(val.shape, generator=g, device=val.device, dtype=val.dtype)
        noisy = torch.where(valid, noisy.mul_(lr * r.noise_std).add_(val), -1.0)
        flat.index_put_((conn,), noisy)
        alive = noisy > 0
        died = valid.sum() - alive.sum()
        lost = torch.where((val > 0) & ~alive, conn, n)  # pushed to <= 0 by the noise
        # 2. survivors and crossings, sorted by (layer, key): each layer's sources in order
        seen = flat.index_select(0, watch)
        crossed = seen > 0
        cells = torch.cat([conn, watch])
        lid = torch.bucketize(cells, self.ends, right=True).masked_fill_(
            ~torch.cat([alive, crossed]), L)
        key = lid << 32
        if r.strategy == "structured":
            key |= torch.randint(0, 1 << 31, key.shape, generator=g, device=key.device)
        elif r.strategy == "weight_based":  # positive float32 bits order as the values
            key |= 0x7FFFFFFF - torch.cat([noisy, seen]).view(torch.int32).long()
        key, order = key.sort(stable=True)
        kept = torch.where(key < (L << 32), cells.index_select(0, order), n)
        conn.copy_(kept[:conn.numel()])
        starts = torch.searchsorted(key >> 32, self.layer_ids)  # (L + 1,): starts[L] = count
        count = starts[L]
        self.overflow += (count - self.capacity).clamp(min=0)
        per_layer = starts.diff()
        # 3. the refill: a layer per slot, then the claims
        deficit = (r.budget - count).clamp(min=0)
        layer, active, rank = self._split(self.slot < deficit, self.sizes - per_layer)
        claim = torch.full_like(self.slot, self.cell_mask)
        if r.strategy == "random":
            claim, changed = claims.settle(self.owner, self.slot32,
                                           [self._draws(flat, layer, active)], claim,
                                           self.cell_mask, _ROUNDS)
        else:
            src = self._sources(kept, starts, per_layer, layer, rank)
            packed = self._packed(src, layer)
            rows = [self._window(self.window, flat, src, packed, layer, active, self.slot,
                                 self.slot32)]
            claim, changed = claims.settle(self.owner, self.slot32, rows, claim,
                                           self.cell_mask, _ROUNDS)
            rows.append(self._widen(flat, src, packed, layer, active & (claim >= n)))
            claim, changed = claims.settle(self.owner, self.slot32, rows, claim,
                                           self.cell_mask, _WIDE_ROUNDS)
        placed = (self.owner.index_select(0, claim) == self.slot32.view(-1)) & (claim < n)
        self.owner.index_fill_(0, claim, FREE)  # the scratch is all free again
        revived = placed.sum()
        self.fallbacks += deficit - revived
        self.inexact += (placed & (changed.cumsum(0) > 0)).sum()
        # 4. revive at epsilon (the dump cell stays at -1), append to the list
        target = torch.where(placed, claim, n)
        flat.index_put_((target,), torch.where(placed, r.epsilon, -1.0))
        if r.reset_momentum and self.momentum is not None:
            self.momentum.index_fill_(0, target, 0.0)
        conn.index_put_((torch.where(placed, placed.cumsum(0) - 1 + count, conn.numel() - 1),),
                        target)
        self.last.copy_(target)
        self._rewatch(flat, torch.cat([torch.where(crossed, n, watch), lost]))
        self.steps += 1
        return count, died, revived, redied

    def _split(self, active: torch.Tensor, room: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer per slot, proportional to layer size (a uniform cell's layer). Slots beyond a
        layer's dormant count are not placed this step (counted in ``fallbacks``; the next
        step's deficit holds them, drawn afresh), where the host step draws them again among
        the layers with room: a layer is full only in long runs of small layers. Returns
        (layer, active, rank of each active slot within its layer)."""
        u = torch.randint(0, self.n, (self.slots,), generator=self.r.generator,
                          device=active.device)
        layer = torch.bucketize(u, self.ends, right=True)
        rank = self._rank(layer, active)
        return layer, active & (rank < room.index_select(0, layer)), rank

    def _rank(self, layer: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Position of each active slot among the active slots of its layer (claim order)."""
        onehot = (layer[:, None] == self.layer_row) & active[:, None]
        return onehot.cumsum(0).gather(1, layer[:, None]).squeeze(1) - 1

    def _sources(self, kept: torch.Tensor, starts: torch.Tensor, per_layer: torch.Tensor,
                 layer: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """Source cell per slot: its layer's connections in key order, by the slot's rank
        (cyclically when a layer has more slots than connections). A layer without
        connections gets a uniformly drawn cell of its own (its window's offset zero)."""
        have = per_layer.index_select(0, layer)
        at = starts.index_select(0, layer) + rank.clamp(min=0) % have.clamp(min=1)
        src = kept.index_select(0, at.clamp_(max=kept.numel() - 1))
        drawn = (torch.rand(self.slots, generator=self.r.generator, device=src.device,
                            dtype=torch.float64) * self.sizes.index_select(0, layer)).long()
        return torch.where(have == 0, drawn + self.bases.index_select(0, layer), src)

    def _packed(self, src: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """Packed integer coordinates (S, 1) of the sources (:func:`claims.pack`)."""
        return (self.r.space.coords(src, layer) << self.shifts).sum(1, keepdim=True)

    def _window(self, window: claims.Window, flat: torch.Tensor, src: torch.Tensor,
                packed: torch.Tensor, layer: torch.Tensor, active: torch.Tensor,
                ids: torch.Tensor, col: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Candidate rows around each source: the window's cells that lie in the layer and
        are dormant, keyed by (distance, tie, cell)."""
        r, n = self.r, self.n
        offsets, steps, d2 = window.table.index_select(0, layer).unbind(1)
        ok = claims.inside(packed, offsets, window.upper.index_select(0, layer)[:, None],
                           self.shifts.numel())
        ok &= active[:, None]
        cells = torch.where(ok, src[:, None] + steps, n)
        ok &= ~(flat[cells] > 0)
        tie = (torch.randint(0, 1 << self.tie_bits, ok.shape, generator=r.generator,
                             device=ok.device) if r.tie_break == "random" else None)
        key = claims.window_keys(d2, cells, ok, self.cell_bits, tie)
        return ids, col, cells, key

    def _widen(self, flat: torch.Tensor, src: torch.Tensor, packed: torch.Tensor,
               layer: torch.Tensor, unfound: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Rows in the wide window for the first ``wide`` active slots that found nothing."""
        pos = unfound.cumsum(0) - 1
        pos = torch.where(unfound & (pos < self.wide), pos, self.wide)
        ids = torch.full((self.wide + 1,), self.slots, dtype=torch.long, device=src.device)
        ids.index_put_((pos,), torch.where(unfound, self.slot, self.slots))
        ids = ids[:-1]
        valid = ids < self.slots
        ids = ids.clamp_(max=self.slots - 1)
        return self._window(self.wide_window, flat, src.index_select(0, ids),
                            packed.index_select(0, ids), layer.index_select(0, ids), valid,
                            ids, self.slot32.index_select(0, ids))

    def _draws(self, flat: torch.Tensor, layer: torch.Tensor, active: torch.Tensor
               ) -> tuple[torch.Tensor, ...]:
        """Random revival: a few uniform cells of the slot's layer, keyed by draw order."""
        u = torch.rand((self.slots, _DRAWS), generator=self.r.generator, device=flat.device,
                       dtype=torch.float64)
        cells = ((u * self.sizes.index_select(0, layer)[:, None]).long()
                 + self.bases.index_select(0, layer)[:, None])
        ok = ~(flat[cells] > 0) & active[:, None]
        key = ((self.draw_rank << self.cell_bits) | cells).masked_fill_(~ok, BIG)
        return self.slot, self.slot32, cells, key

    def _rewatch(self, flat: torch.Tensor, cand: torch.Tensor) -> None:
        """The new watch: candidates still dormant (a revived cell leaves) that can still come
        back (velocity > 0, when the optimiser's velocity is known), compacted in place."""
        keep = ~(flat.index_select(0, cand) > 0) & (cand < self.n)
        if self.momentum is not None:
            keep &= self.momentum.index_select(0, cand) > 0
        room = self.watch.numel() - 1
        pos = keep.cumsum(0) - 1
        self.overflow += (pos[-1] + 1 - room).clamp(min=0)
        fits = keep & (pos < room)
        self.watch.fill_(self.n)
        self.watch.index_put_((torch.where(fits, pos, room),), torch.where(fits, cand, self.n))

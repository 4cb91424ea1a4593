"""The device step (``rng="device"``): one rewiring step with no host synchronisation and
static tensor shapes, so that a whole training step can be captured as one CUDA graph.

The semantics are the host step's (:mod:`srewire.rewiring.host`, Thesis §3.2, Algorithm 1):
the noise lands on the coordinates connected before the step, the deficit ``budget -
connected`` is refilled, the refill is split across layers by a draw proportional to layer
size, ``random`` revives uniformly among the dormant coordinates, and the sources are uniform
(``structured``) or the largest theta (``weight_based``); every claim goes to a nearest
still-free dormant coordinate, in claim order. What makes the shapes static:

* **Slots.** A fixed number ``slots`` of revivals per step; slot ``i`` is active iff
  ``i < deficit`` (the deficit stays a device tensor). Each slot draws its layer as a uniform
  flat index over all layers (so proportional to layer size); the slots a layer cannot hold
  are drawn again among the layers with room, for a few rounds.
* **Random revival.** Rejection rounds: every open slot draws a uniform cell of its layer; a
  dormant cell nobody holds goes to the smallest slot that drew it (``scatter_reduce`` amin).
  The procedure treats all dormant cells of a layer alike, so the revived set is a uniform
  subset.
* **Sources.** The connected cells are compacted with a cumulative sum, ordered per layer by a
  random key (structured) or by decreasing theta (weight_based), and a layer's slots take them
  in that order (cyclically, if it has more slots than connections).
* **Nearest claims.** Each source looks at a fixed table of offsets, sorted by distance, that
  holds every offset up to a squared radius (per layer dimensionality). Ties are ranked by a
  random key (``tie_break="random"``) or by the lowest flat index. Each round every slot takes
  its best candidate among the cells no earlier slot holds; repeated to a fixed point, this is
  the greedy claim order of the host step (the smallest slot in conflict is final after each
  round). The window holds every cell up to its radius, so a claim found in it is a nearest
  cell (Euclidean metric only; Equation 3 needs the host step).

Anything a step could not place — more deficit than slots, a layer with no room after the
split rounds, a source whose window is full, claims still moving after the last round — is not
revived this step and is added to :attr:`DeviceStep.fallbacks`, a device counter the host reads
once per epoch (:meth:`srewire.rewiring.Rewirer.canonicalize`). The deficit is recomputed from
theta every step, so what was not placed is placed by the next step. The first steps, whose
deficit is the large initial fill and then its revivals dying again (up to a quarter of the
budget per step), are host steps: :meth:`srewire.rewiring.Rewirer.step` hands over to this
step once a host step revived at most half of ``slots``.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import torch

from .counter_rng import CounterRNG
from .space import _BIG

if TYPE_CHECKING:  # pragma: no cover
    from .host import Rewirer

# counter_rng streams, one per use
_NOISE, _SPLIT, _RANDOM, _ORDER, _TIES = 0, 100, 200, 300, 400
# Redraws of the slots a layer cannot hold (needed only when a layer is nearly full).
_SPLIT_ROUNDS = 4


def offset_table(ndim: int, width: int) -> tuple[torch.Tensor, int]:
    """Every nonzero integer offset of ``ndim`` dimensions with squared norm <= r2, sorted by
    squared norm, for the largest r2 whose count fits in ``width``; returns (offsets, r2)."""
    r2 = 0
    while True:
        r = math.isqrt(r2 + 1)
        count = sum(1 for o in itertools.product(range(-r, r + 1), repeat=ndim)
                    if 0 < sum(x * x for x in o) <= r2 + 1)
        if count > width:
            break
        r2 += 1
    r = math.isqrt(r2)
    off = sorted((o for o in itertools.product(range(-r, r + 1), repeat=ndim)
                  if 0 < sum(x * x for x in o) <= r2), key=lambda o: (sum(x * x for x in o), o))
    return torch.tensor(off, dtype=torch.long).view(-1, ndim), r2


class DeviceStep:
    """Sync-free, static-shape rewiring step for a :class:`~srewire.rewiring.Rewirer`."""

    def __init__(self, rewirer: "Rewirer", slots: int, rounds: int = 16, window: int = 256,
                 seed: int = 0) -> None:
        if rewirer.metric != "euclidean" and rewirer.strategy != "random":
            raise ValueError("rng='device' supports metric='euclidean' only; use rng='host' "
                             f"for metric={rewirer.metric!r}")
        if slots < 1 or rounds < 1 or window < 1:
            raise ValueError(f"device_slots, rounds and window must be >= 1, got {slots}, "
                             f"{rounds}, {window}")
        r, dev = rewirer, rewirer.device
        self.r, self.slots, self.rounds = r, int(slots), int(rounds)
        self.n = sum(r.sizes)
        self.rng = CounterRNG(seed, dev)
        self.sizes = torch.tensor(r.sizes, device=dev)
        self.bases = torch.tensor(r.bases, device=dev)
        self.bounds = torch.tensor(r.bases + [self.n], device=dev)
        self.n_layers = len(r.sizes)
        # one offset table per layer, for its own number of dimensions, padded to the space's
        ndim = r.space.dims.shape[1]
        tables = [offset_table(len(layer.theta.shape), window)[0] for layer in r.layers]
        w = max(t.shape[0] for t in tables)
        off = torch.zeros(self.n_layers, w, ndim, dtype=torch.long)
        ok = torch.zeros(self.n_layers, w, dtype=torch.bool)
        for i, t in enumerate(tables):
            off[i, :t.shape[0], :t.shape[1]] = t
            ok[i, :t.shape[0]] = True
        self.off, self.off_ok = off.to(dev), ok.to(dev)
        self.off_sq = (self.off * self.off).sum(-1)
        self.off_flat = (self.off * r.space.strides[:, None, :]).sum(-1)
        self.slot = torch.arange(self.slots, device=dev)
        self.owner = torch.full((self.n + 1,), _BIG, dtype=torch.long, device=dev)  # scratch
        self.fallbacks = torch.zeros((), dtype=torch.long, device=dev)
        self.sync_from_theta(torch.zeros(self.n, dtype=torch.bool, device=dev))

    def sync_from_theta(self, revived: torch.Tensor) -> None:
        """Take the connections from theta (after a host step or a reload); ``revived`` marks
        the cells the last step revived (for the revived-then-died count)."""
        self.conn = self.r.flat > 0
        self.revived = revived

    # -- one step --------------------------------------------------------------------------

    def step(self, lr: float | torch.Tensor, optimizer: torch.optim.Optimizer | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Noise, count, split and revive; returns device tensors (connected before the
        refill, died, revived, revived_then_died).

        No decorator: ``torch.compile(step, fullgraph=True)`` must trace this frame itself
        (a ``torch.no_grad()`` decorator's wrapper frame is skipped, and with it the check)."""
        with torch.no_grad():
            return self._step(lr, optimizer)

    def _step(self, lr: float | torch.Tensor, optimizer: torch.optim.Optimizer | None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        r, flat = self.r, self.r.flat
        self.rng.advance()
        redied = (self.revived & ~(flat > 0)).sum()
        scale = lr * r.noise_std
        if isinstance(scale, torch.Tensor) or scale > 0:  # on the connections before the step
            noise = self.rng.normal(_NOISE, self.n).mul_(scale)
            flat.add_(torch.where(self.conn, noise, 0.0))
        alive = flat > 0
        died = (self.conn & ~alive).sum()
        count = alive.sum()
        deficit = (r.budget - count).clamp(min=0)
        active = self.slot < deficit
        cum = torch.cat([count.new_zeros(1), alive.cumsum(0)])
        conn_per_layer = cum[self.bounds[1:]] - cum[self.bounds[:-1]]
        layer, active = self._split(active, self.sizes - conn_per_layer)
        rank = self._rank(layer, active)
        if r.strategy == "random":
            target, placed = self._random(layer, active, alive)
        else:
            target, placed = self._structured(layer, rank, active, alive, cum, conn_per_layer)
        mark = torch.zeros(self.n + 1, dtype=torch.bool, device=flat.device)
        mark.index_fill_(0, torch.where(placed, target, self.n), True)
        mark = mark[:self.n]
        flat.masked_fill_(mark, r.epsilon)
        if r.reset_momentum and optimizer is not None:
            for layer_, base, size in zip(r.layers, r.bases, r.sizes):
                buf = optimizer.state.get(layer_.theta, {}).get("momentum_buffer")
                if buf is not None:
                    buf.view(-1).masked_fill_(mark[base:base + size], 0)
        revived = placed.sum()
        self.fallbacks += deficit - revived
        self.conn, self.revived = flat > 0, mark
        return count, died, revived, redied

    def _split(self, active: torch.Tensor, dormant: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer per slot, proportional to layer size; a layer's slots beyond its dormant
        count are drawn again among the layers with room. Unplaceable slots are deactivated."""
        u = self.rng.below(_SPLIT, torch.full((self.slots,), self.n, device=active.device))
        layer = self._layer_of(u)
        for i in range(_SPLIT_ROUNDS):
            over = active & (self._rank(layer, active) >= dormant.index_select(0, layer))
            held = torch.zeros_like(dormant).index_add_(0, layer, (active & ~over).long())
            weight = torch.where(held < dormant, self.sizes, 0)
            edges = weight.cumsum(0)
            pick = self.rng.below(_SPLIT + 1 + i, edges[-1].clamp(min=1).expand(self.slots))
            again = (pick[:, None] >= edges).sum(1).clamp(max=self.n_layers - 1)
            layer = torch.where(over & (edges[-1] > 0), again, layer)
        return layer, active & (self._rank(layer, active) < dormant.index_select(0, layer))

    def _layer_of(self, cells: torch.Tensor) -> torch.Tensor:
        """Layer of each flat index (a comparison with the few layer ends; CPU bucketize is
        slow on small inputs)."""
        return (cells[:, None] >= self.bounds[1:]).sum(1)

    def _rank(self, layer: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """Position of each active slot among the active slots of its layer (claim order)."""
        layers = torch.arange(self.n_layers, device=layer.device)
        onehot = ((layer[:, None] == layers) & active[:, None]).long()  # F.one_hot checks range
        return (onehot.cumsum(0) - 1).gather(1, layer[:, None]).squeeze(1)

    def _random(self, layer: torch.Tensor, active: torch.Tensor, alive: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform distinct dormant cells per slot, by rejection rounds."""
        owner, n = self.owner, self.n
        target = torch.full_like(layer, n)
        placed = torch.zeros_like(active)
        size, base = self.sizes.index_select(0, layer), self.bases.index_select(0, layer)
        drawn = []
        for i in range(self.rounds):
            cand = base + self.rng.below(_RANDOM + i, size)
            ok = active & ~placed & ~alive.index_select(0, cand) & \
                (owner.index_select(0, cand) == _BIG)
            cand = torch.where(ok, cand, n)
            owner.scatter_reduce_(0, cand, self.slot, "amin")
            win = ok & (owner.index_select(0, cand) == self.slot)
            target = torch.where(win, cand, target)
            placed = placed | win
            drawn.append(cand)
        owner.index_fill_(0, torch.cat(drawn), _BIG)  # reset the scratch where it was written
        return target, placed

    def _sources(self, layer: torch.Tensor, rank: torch.Tensor, alive: torch.Tensor,
                 cum: torch.Tensor, conn_per_layer: torch.Tensor) -> torch.Tensor:
        """Source cell per slot: the layer's connections in random order (structured) or in
        decreasing theta (weight_based), taken by the slot's rank (cyclically)."""
        r, n = self.r, self.n
        cap = min(n, r.budget + self.slots)  # connections listed; more exist only briefly
        pos = torch.where(alive & (cum[1:] <= cap), cum[1:] - 1, cap)
        cells = torch.zeros(cap + 1, dtype=torch.long, device=alive.device)
        cells.scatter_(0, pos, torch.arange(n, device=alive.device))
        cells = cells[:cap]
        listed = torch.arange(cap, device=alive.device) < cum[-1]
        lid = torch.where(listed, self._layer_of(cells), self.n_layers)
        if r.strategy == "structured":
            key = self.rng.uniform(_ORDER, (cap,))
        else:  # weight_based: the largest theta first
            key = -r.flat.index_select(0, cells).double()
        order = key.argsort(stable=True)
        order = order.index_select(0, lid.index_select(0, order).argsort(stable=True))
        start = torch.cat([conn_per_layer.new_zeros(1), conn_per_layer.cumsum(0)])
        have = conn_per_layer.index_select(0, layer).clamp(min=1)
        at = (start.index_select(0, layer) + rank.clamp(min=0) % have).clamp(max=cap - 1)
        return cells.index_select(0, order.index_select(0, at))

    def _structured(self, layer: torch.Tensor, rank: torch.Tensor, active: torch.Tensor,
                    alive: torch.Tensor, cum: torch.Tensor, conn_per_layer: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy nearest-dormant claims in slot order; slots of a layer without connections
        revive at random, as in the host step."""
        r, n, owner = self.r, self.n, self.owner
        empty = conn_per_layer.index_select(0, layer) == 0
        src = self._sources(layer, rank, alive, cum, conn_per_layer)
        coords = r.space.coords(src, layer)
        off = self.off.index_select(0, layer)                       # (K, W, D)
        dims = r.space.dims.index_select(0, layer)[:, None, :]
        q = coords[:, None, :] + off
        inside = ((q >= 0) & (q < dims)).all(-1) & self.off_ok.index_select(0, layer)
        cand = (src[:, None] + self.off_flat.index_select(0, layer)).clamp_(0, n - 1)
        free = inside & ~alive.index_select(0, cand.view(-1)).view_as(cand)
        free &= (active & ~empty)[:, None]
        if r.tie_break == "random":
            tie = self.rng.bits(_TIES, tuple(cand.shape))
        else:
            tie = cand
        key = torch.where(free, self.off_sq.index_select(0, layer) << 40 | tie, _BIG)
        claim = torch.full_like(layer, n)
        for _ in range(self.rounds + 1):  # the last round only checks the fixed point
            held = owner.index_select(0, cand.view(-1)).view_as(cand) >= self.slot[:, None]
            best, col = torch.where(held, key, _BIG).min(1)
            new = torch.where(best < _BIG, cand.gather(1, col[:, None]).squeeze(1), n)
            stable = new == claim
            owner.index_fill_(0, claim, _BIG)
            claim = new
            owner.scatter_reduce_(0, claim, self.slot, "amin")
        placed = stable & (claim < n) & (owner.index_select(0, claim) == self.slot)
        owner.index_fill_(0, claim, _BIG)
        target, won = self._random(layer, active & empty, alive)
        return torch.where(empty, target, claim), torch.where(empty, won, placed)

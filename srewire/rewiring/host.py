"""The Rewirer and its host step (Thesis §2.2.2, §3.2, Algorithm 1).

After every optimiser step the :class:`Rewirer` does what the predecessor does
(Özdenizci & Legenstein 2021, anchor code ``run_connectivity_sampling.py``):

1. adds Langevin noise ``lr * N(0, noise_std)`` to the coordinates that were connected before
   the step;
2. counts the connected coordinates (``theta > 0``) over all sparse layers;
3. refills up to the global budget ``int(connectivity * total size)``: the number to revive is
   split across layers by a categorical draw proportional to layer size, and inside each layer
   ``n_l`` dormant coordinates get ``theta = 1e-12`` (their fixed sign is kept).

The host step below keeps connection lists and reads a few counts back per step; with
``rng="device"`` the steps after the first run :mod:`srewire.rewiring.device` instead.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal, Sequence

import torch

from ..models import SparseLayer
from ..rng import RNG_MODES, draw, make_generator, to_device
from .arrays import _compress, _sorted, _true_positions
from .device import DeviceStep
from .options import (INITIAL_FILLS, METRICS, STRATEGIES, TIE_BREAKS, InitialFill, Metric,
                      Strategy, TieBreak)
from .sampling import _concat_take, _sample_distinct
from .search import _claim
from .space import _Space, _dormant


@dataclass
class RewireStats:
    """What one rewiring step did (all counts are over all sparse layers)."""

    connected: int          # connections after the optimiser step and the noise, before refill
    died: int               # connections that were connected before the step and are not now
    revived: int            # dormant coordinates set to epsilon by this step
    revived_then_died: int  # coordinates revived by the previous step that are dormant again
    # With rng="device" (after the first step) the four counts are 0-dimensional device
    # tensors, so that the step never waits for the device; read them when needed.


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

    ``rng="device"`` also changes how the steps after the first are done: by
    ``srewire.rewiring.device.DeviceStep``, without host synchronisation and with static
    shapes (at most ``device_slots`` revivals per step; default ``max(64, budget // 16)``),
    with counter-based random numbers. The first steps are host steps: the initial fill, and
    the steps after it while the deficit is still large (dying revivals); the Rewirer hands
    over to the device step, for good, after the first host step that revived at most half of
    ``device_slots`` (``on_device`` says which step runs; the host step reads its counts
    back anyway, so the decision costs no extra synchronisation). ``initial_fill="random"`` fills the first step's deficit uniformly at random, as the
    predecessor does, whatever the strategy (Thesis §3.2 leaves this open); ``"strategy"``
    (default) uses the run's own strategy.
    """

    def __init__(self, layers: Sequence[SparseLayer], connectivity: float, *,
                 strategy: Strategy = "random", metric: Metric = "euclidean",
                 tie_break: TieBreak = "random", noise_std: float = 1e-6,
                 epsilon: float = 1e-12, reset_momentum: bool = False,
                 crossing: Literal["scan", "track"] = "scan", seed: int = 0,
                 rng: str = "host", initial_fill: InitialFill = "strategy",
                 device_slots: int | None = None) -> None:
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
        if initial_fill not in INITIAL_FILLS:
            raise ValueError(f"initial_fill must be one of {INITIAL_FILLS}, got {initial_fill!r}")
        if not 0 < connectivity <= 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity!r}")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("Rewirer needs at least one sparse layer")
        if len({(l.theta.device, l.theta.dtype) for l in self.layers}) != 1:
            raise ValueError("all sparse layers must share one device and dtype")
        self.strategy, self.metric, self.tie_break = strategy, metric, tie_break
        self.noise_std, self.epsilon, self.reset_momentum = noise_std, epsilon, reset_momentum
        self.crossing, self.rng, self.initial_fill = crossing, rng, initial_fill
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
        self.device_step = (DeviceStep(self, device_slots or max(64, self.budget // 16),
                                       seed=seed) if rng == "device" else None)
        self.device_fallbacks = 0  # revivals the device step deferred, read at canonicalize
        self.on_device = False     # with rng="device": the device step runs from now on
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
        if self.device_step is not None:  # the device step keeps no lists: check its counter
            self.device_fallbacks = int(self.device_step.fallbacks)
            self.device_step.sync_from_theta(self.device_step.revived)
        elif self.steps and fresh.numel() != self._conn.numel():
            raise RuntimeError("tracked connections disagree with theta: the optimiser moves "
                               "dormant coordinates in a way crossing='track' does not cover; "
                               "use crossing='scan'")
        self._set_conn(fresh, self._per_layer(fresh))
        self._watch = _sorted(self._watch)

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state(),
                 "split_generator": self.split_generator.get_state(),
                 "last_revived": self._last_revived.cpu(), "watch": self._watch.cpu(),
                 "steps": self.steps}
        if self.device_step is not None:
            d = self.device_step
            state["device"] = {"on_device": self.on_device,
                               "counter": d.rng.counter.detach().cpu().clone(),
                               "fallbacks": d.fallbacks.detach().cpu().clone(),
                               "revived": d.revived.nonzero().squeeze(1).cpu()}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.split_generator.set_state(state["split_generator"])
        self._last_revived = state["last_revived"].to(self.device)
        self._watch = state["watch"].to(self.device)
        self.steps = 0  # skip the consistency check: theta was just loaded
        if self.device_step is not None and "device" in state:
            d, saved = self.device_step, state["device"]
            self.on_device = bool(saved["on_device"])
            d.rng.counter.copy_(saved["counter"])
            d.fallbacks.copy_(saved["fallbacks"])
            d.revived = torch.zeros_like(d.revived).index_fill_(
                0, saved["revived"].to(self.device), True)
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

        With ``rng="device"`` every step after the first is the device step instead (no read
        back at all; the stats are device tensors).
        """
        if self.device_step is not None and self.on_device:
            self.steps += 1
            return RewireStats(*self.device_step.step(lr, optimizer))
        stats = self._host_step(lr, optimizer)
        if self.device_step is not None and stats.revived <= self.device_step.slots // 2:
            self.on_device = True  # the deficit has settled: hand over to the device step
            revived = torch.zeros_like(self.device_step.revived)
            self.device_step.sync_from_theta(revived.index_fill_(0, self._last_revived, True))
        return stats

    def _host_step(self, lr: float, optimizer: torch.optim.Optimizer | None) -> RewireStats:
        """The host step (see :meth:`step`)."""
        self._check_views()
        flat, conn = self.flat, self._conn
        redied = _dormant(flat.take(self._last_revived)).sum()  # before the noise, as the stats say
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
            self._watch = self._watch[_dormant(flat.take(self._watch))]
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
        strategy = ("random" if self.steps == 0 and self.initial_fill == "random"
                    else self.strategy)
        kept_theta = (_compress(noisy, alive).split([s.numel() for s in survivors])
                      if strategy == "weight_based" else None)
        for i, n in enumerate(revive):
            if n == 0:
                continue
            base, s, x = self.bases[i], survivors[i], crossed[i]
            c = s.numel() + x.numel()
            if strategy == "random" or c == 0:
                theta = self.flat[base:base + self.sizes[i]]
                picks.append(_sample_distinct(self.sizes[i], n, self.generator, theta=theta,
                                              n_dormant=dormant[i], device=self.device) + base)
                continue
            if strategy == "structured":
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

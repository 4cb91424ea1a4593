"""The host step (``rng="host"``, and the first steps of ``rng="device"``): one rewiring step
with connection lists and a few counts read back per step (Thesis §2.2.2, §3.2, Algorithm 1).

After every optimiser step it does what the predecessor does (Özdenizci & Legenstein 2021,
anchor code ``run_connectivity_sampling.py``):

1. adds Langevin noise ``lr * N(0, noise_std)`` to the coordinates that were connected before
   the step;
2. counts the connected coordinates (``theta > 0``) over all sparse layers;
3. refills up to the global budget ``int(connectivity * total size)``: the number to revive is
   split across layers by a categorical draw proportional to layer size, and inside each layer
   ``n_l`` dormant coordinates get ``theta = 1e-12`` (their fixed sign is kept), placed by the
   strategy.

:class:`HostStep` holds the step's methods; the :class:`~srewire.rewiring.Rewirer` (which owns
the state they read and write) inherits them.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..rng import draw
from .arrays import _compress, _sorted, _true_positions
from .sampling import _concat_take, _sample_distinct
from .search import _claim
from .space import _dormant
from .stats import RewireStats

__all__ = ["HostStep"]


class HostStep:
    """The host step's methods (mixed into :class:`~srewire.rewiring.Rewirer`)."""

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

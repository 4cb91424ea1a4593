"""The Rewirer: the rewiring's state, which step runs, the hand-over between the two
placements, and checkpoints (Thesis §2.2.2, §3.2, Algorithm 1).

One algorithm, two placements of it:

* the host step (:mod:`srewire.rewiring.host`), the reference, with connection lists whose
  length follows the connections and a few counts read back per step (``rng="host"``);
* the device step (:mod:`srewire.rewiring.device`), with fixed-size lists updated in place
  and no read-back, which a CUDA graph can capture (``rng="device"``, after the hand-over).

Read this module in its four sections: the state (one flat theta buffer, the budget, the host
lists), the step policy (:meth:`Rewirer.step`), the hand-over (``handover_slots``), and
serialisation (:meth:`Rewirer.state_dict`).
"""

from __future__ import annotations

import itertools
from typing import Literal, Sequence

import torch

from ..models import SparseLayer
from ..rng import RNG_MODES, make_generator, to_device
from .arrays import _sorted
from .device import DeviceStep
from .host import HostStep
from .options import (INITIAL_FILLS, METRICS, STRATEGIES, TIE_BREAKS, InitialFill, Metric,
                      Strategy, TieBreak)
from .space import _Space
from .stats import RewireStats

__all__ = ["Rewirer", "handover_slots"]


def handover_slots(revived: int, previous: int | None, host_steps: int, budget: int,
                   slots: int | None) -> int | None:
    """The device step's slots if the host step that just revived ``revived`` coordinates
    may hand over, else None.

    The first steps refill a large deficit: the initial fill, then its revivals dying again
    (about half of them per step). With ``slots`` given, the hand-over waits for a step that
    revived at most ``slots // 2``. Without (the default), it waits until the revivals stop
    falling (at least 3/4 of the step before) or are below 1/64 of the budget, after at least
    two host steps, and sizes the slots at twice that step's revivals (a multiple of 64, at
    least ``budget // 32``): the weight-based first epoch revives far more per step than the
    random one, and the slots follow it instead of waiting for a count it never reaches.
    """
    if slots is not None:
        return slots if revived <= slots // 2 else None
    if host_steps < 2:
        return None
    if revived <= budget // 64 or (previous is not None and revived >= 0.75 * previous):
        return max(64, budget // 32, -(-2 * revived // 64) * 64)
    return None


class Rewirer(HostStep):
    """One rewiring step after every optimiser step, keeping the global budget exact.

    ``layers`` are the sparse layers (see :func:`srewire.models.sparse_layers`);
    ``connectivity`` is ``1 - sparsity``. The budget is ``int(connectivity * total size)``; an
    initial deficit (the per-layer initial densities are lower) is filled at the first step.
    A layer asked for more revivals than it has dormant coordinates passes the rest on to the
    other layers (drawn again in proportion to size). With ``reset_momentum`` the optimiser's
    momentum of revived coordinates is zeroed (off by default, as in the predecessor).

    The thetas of all layers are moved into one flat buffer (each layer's ``theta`` becomes a
    view of it), so that noise, counting and reviving are single operations over all layers.
    Create the Rewirer *after* moving the model to its device.

    A dormant coordinate can also become connected without being revived: leftover momentum
    can carry it back above zero. ``crossing="scan"`` finds such coordinates by scanning all of
    theta after each host step (works with any optimiser). ``crossing="track"`` avoids the scan
    for :class:`srewire.train.SGDW` (and plain SGD without coupled weight decay): a dormant
    coordinate gets zero gradient and keeps the sign of its velocity, so only coordinates that
    the *noise* pushed to <= 0 can come back, and those are watched (the device step always
    tracks). :meth:`canonicalize` (every epoch end) recounts from theta and raises if tracking
    ever missed a crossing.

    Randomness: ``generator`` (noise and choices) lives on the CPU with ``rng="host"`` (so a
    GPU run draws the CPU run's numbers) and on the parameters' device with ``rng="device"``;
    ``split_generator`` (the host step's split across layers) on the CPU. :meth:`state_dict`
    saves both.

    With ``rng="device"`` the first steps are host steps; ``handover_slots`` decides when
    the device step takes over for good (``on_device``) and with how many revival slots
    (``device_slots``: fixed, or None to size them at the hand-over). ``initial_fill="random"``
    fills the first step's deficit uniformly at random, as the predecessor does, whatever the
    strategy (Thesis §3.2 leaves this open); ``"strategy"`` (default) uses the run's strategy.
    """

    # -- state -------------------------------------------------------------------------------

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
        if device_slots is not None and device_slots < 1:
            raise ValueError(f"device_slots must be a positive integer or None, got "
                             f"{device_slots!r}")
        if rng == "device" and metric != "euclidean" and strategy != "random":
            raise ValueError("rng='device' supports metric='euclidean' only; use rng='host' "
                             f"for metric={metric!r}")
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
        self.n = sum(self.sizes)
        self.budget = int(connectivity * self.n)
        # rng="device": one more cell at index n, theta -1 for good, where the device step's
        # fixed-size lists point when an entry is empty
        parts = [l.theta.detach().reshape(-1) for l in self.layers]
        if rng == "device":
            parts.append(torch.full((1,), -1.0, dtype=parts[0].dtype, device=self.device))
        self.flat = torch.cat(parts)
        for layer, base, size in zip(self.layers, self.bases, self.sizes):
            layer.theta.data = self.flat[base:base + size].view(layer.theta.shape)
        self._bounds = torch.tensor(self.bases + [self.n], device=self.device)
        self.generator = make_generator(seed, self.device, rng)
        self.split_generator = torch.Generator().manual_seed(seed + 0x5EED)
        self._probs = torch.tensor(self.sizes, dtype=torch.float64)
        self._empty = torch.empty(0, dtype=torch.long, device=self.device)
        self._last_revived = self._watch = self._empty
        self._host_steps, self._previous_revived = 0, None
        self._set_conn(self._empty, [0] * len(self.layers))
        self.device_slots = device_slots
        self.device_step: DeviceStep | None = None  # made at the hand-over
        self.on_device = False     # with rng="device": the device step runs from now on
        self.missed_crossings = 0  # connections the device step's list missed (canonicalize)
        self._momentum: torch.Tensor | None = None
        self._momentum_views: list[torch.Tensor] = []
        self.canonicalize()

    @property
    def steps(self) -> int:
        """Rewiring steps so far, host and device (reading the device count waits for it)."""
        extra = int(self.device_step.steps) if self.device_step is not None else 0
        return self._host_steps + extra

    @steps.setter
    def steps(self, value: int) -> None:
        self._host_steps = int(value)
        if self.device_step is not None:
            self.device_step.steps.zero_()

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
        """The host connection list, its per-layer segment lengths and their bounds."""
        self._conn, self._seg = conn, seg
        self._seg_bounds = to_device(torch.tensor([0, *itertools.accumulate(seg)]), self.device)

    def velocity(self, optimizer: torch.optim.Optimizer | None) -> torch.Tensor | None:
        """The optimiser's velocity of every theta as one flat buffer (``n + 1`` entries; the
        optimiser's momentum buffers of the thetas become views of it, their values kept), for
        an optimiser whose buffers hold the velocity (``momentum_is_velocity``, SGDW); else
        None. Rebinds in place after the optimiser's buffers were replaced (a loaded state)."""
        if optimizer is None or not getattr(optimizer, "momentum_is_velocity", False):
            return None
        if self._momentum is None:
            self._momentum = torch.zeros_like(self.flat)
            self._momentum_views = [self._momentum[b:b + s].view(l.theta.shape) for l, b, s
                                    in zip(self.layers, self.bases, self.sizes)]
        for layer, view in zip(self.layers, self._momentum_views):
            state = optimizer.state[layer.theta]
            buf = state.get("momentum_buffer")
            if buf is None or buf.data_ptr() != view.data_ptr():
                with torch.no_grad():
                    view.copy_(buf) if buf is not None else view.zero_()
                state["momentum_buffer"] = view
        return self._momentum

    def connected_count(self) -> int:
        """Connections over all layers right now, counted from theta."""
        return int(torch.count_nonzero(self.flat > 0))

    def canonicalize(self) -> None:
        """Recompute the connection lists from theta, in sorted order (in place for the
        device step); sort the watch list.

        The training loop calls this at every epoch end, so that a run resumed from an epoch
        checkpoint continues with exactly the same lists as an uninterrupted run.
        """
        self._check_views()
        if self.on_device:
            self.missed_crossings += self.device_step.canonicalize()
            return
        fresh = self.flat.gt(0).nonzero().squeeze(1)
        if self._host_steps and fresh.numel() != self._conn.numel():
            raise RuntimeError("tracked connections disagree with theta: the optimiser moves "
                               "dormant coordinates in a way crossing='track' does not cover; "
                               "use crossing='scan'")
        self._set_conn(fresh, self._per_layer(fresh))
        self._watch = _sorted(self._watch)

    # -- the step policy ---------------------------------------------------------------------

    @torch.no_grad()
    def step(self, lr: float | torch.Tensor, optimizer: torch.optim.Optimizer | None = None
             ) -> RewireStats:
        """Noise, count, split and revive; call right after ``optimizer.step()``.

        The host step (see ``srewire.rewiring.host.HostStep``) returns ints; after the
        hand-over (``rng="device"``) the device step returns 0-dimensional device tensors and
        reads nothing back.
        """
        if self.on_device:
            return RewireStats(*self.device_step.step(lr, optimizer))
        stats = self._host_step(float(lr), optimizer)
        if self.rng == "device":
            slots = handover_slots(stats.revived, self._previous_revived, self._host_steps,
                                   self.budget, self.device_slots)
            if slots is not None:
                self._hand_over(slots, optimizer)
            self._previous_revived = stats.revived
        return stats

    # -- the hand-over -----------------------------------------------------------------------

    def _hand_over(self, slots: int, optimizer: torch.optim.Optimizer | None) -> None:
        """Make the device step (its fixed-size state sized now) and start it from the host
        step's state; from now on every step is a device step."""
        self.device_step = DeviceStep(self, slots)
        self.device_step.start(self._last_revived, self._watch)
        self.velocity(optimizer)
        self.on_device = True

    # -- serialisation -----------------------------------------------------------------------

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state(),
                 "split_generator": self.split_generator.get_state(),
                 "last_revived": self._last_revived.cpu(), "watch": self._watch.cpu(),
                 "steps": self.steps, "previous_revived": self._previous_revived}
        if self.on_device:
            state["device"] = {"slots": self.device_step.slots,
                               "missed_crossings": self.missed_crossings,
                               **self.device_step.state()}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.split_generator.set_state(state["split_generator"])
        self._last_revived = state["last_revived"].to(self.device)
        self._watch = state["watch"].to(self.device)
        self._previous_revived = state.get("previous_revived")
        saved = state.get("device")
        if saved is not None:
            if self.device_step is None or self.device_step.slots != saved["slots"]:
                self.device_step = DeviceStep(self, int(saved["slots"]))
            self.on_device = True
            self.missed_crossings = int(saved["missed_crossings"])
            self.device_step.load(saved)
            self._host_steps = int(state["steps"]) - int(saved["steps"])
            return
        self.on_device = False
        self._host_steps = 0  # skip the consistency check: theta was just loaded
        self.canonicalize()
        self._host_steps = int(state["steps"])

"""Training: the predecessor's SGDW, its LR / weight-decay schedule, and one epoch of steps.

Optimisation follows the predecessor (Thesis §4; anchor ``utils/loaders.py``):

* ``tfa.optimizers.SGDW``: decoupled weight decay ``p <- p * (1 - wd_t)``, *not* scaled by the
  learning rate, applied to every parameter before the momentum update, and Keras momentum
  ``v <- 0.9 v - lr_t g; p <- p + v`` (this differs from ``torch.optim.SGD`` only in how the
  velocity carries over an LR drop);
* learning rate 0.1 and weight decay 5e-4, both multiplied by 0.1 after 50 % and again after
  75 % of all iterations (TensorFlow ``PiecewiseConstantDecay`` boundaries);
* batch 128 with the incomplete last batch dropped; one rewiring step after every optimiser step.

The step loop never reads a value back from the device except inside the rewiring (which needs
the number of connections); losses and accuracies are summed on the device and read once per
epoch, and a non-finite loss is checked every ``check_every`` steps. (On a GPU the wall times
recorded per epoch include the time the device needs to catch up at those points.)

Precision: the forward pass and the losses run as ``cfg.precision`` says (see
:mod:`srewire.precision`; the losses always in float32), fp16 with a gradient scaler. On CUDA,
``graphs=True`` replays the whole step (forward, backward, optimiser, rewiring) as one CUDA
graph, see :class:`TrainStep`; the eager loop stays the default, and the only one on a CPU.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .data import batches
from .precision import Precision, get_precision
from .rewiring import Rewirer
from .trades import trades_loss

__all__ = ["SGDW", "sgdw_update", "schedule_boundaries", "schedule_factor", "TrainingDiverged", "EpochStats",
           "TrainStep", "train_epoch"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def sgdw_update(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
                bufs: Sequence[torch.Tensor], *, lr: float | torch.Tensor,
                weight_decay: float | torch.Tensor, momentum: float) -> None:
    """One SGDW update in place: ``p *= 1 - wd; v = momentum v - lr g; p += v``.

    ``lr`` and ``weight_decay`` are Python floats (the eager loop) or 0-dim tensors on the
    parameters' device (a captured step: the host writes them in place before a replay, and
    the update never reads a value back)."""
    if isinstance(lr, torch.Tensor) or isinstance(weight_decay, torch.Tensor):
        torch._foreach_mul_(params, 1 - weight_decay)
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_sub_(bufs, torch._foreach_mul(grads, lr))
        torch._foreach_add_(params, bufs)
        return
    if weight_decay:
        torch._foreach_mul_(params, 1.0 - weight_decay)
    torch._foreach_mul_(bufs, momentum)
    torch._foreach_add_(bufs, grads, alpha=-lr)
    torch._foreach_add_(params, bufs)


def _check_capturable(device: torch.device, precision: str, rewirer: object,
                      generator: torch.Generator, objective: str) -> None:
    """Refuse, with the parameter's name, what a captured CUDA graph cannot replay."""
    if device.type != "cuda":
        raise ValueError(f"graphs: CUDA graphs need a CUDA device; the model is on {device} "
                         f"(use graphs=False)")
    if precision == "fp16":
        raise ValueError("graphs: a captured step supports precision fp32 or bf16, not fp16 "
                         "(its gradient scaler skips steps on the host)")
    if getattr(rewirer, "rng", "device") != "device":
        raise ValueError("rng: a captured step needs the device rewiring (rng='device'); the "
                         "host step reads counts back every step")
    if objective == "trades" and generator.device.type != "cuda":
        raise ValueError(f"generator: a captured TRADES step draws its random start from the "
                         f"run's generator, which must be a CUDA generator (rng='device'); got "
                         f"a {generator.device.type} generator")


class SGDW(torch.optim.Optimizer):
    """SGD with Keras-style momentum and decoupled, LR-independent weight decay (tfa SGDW).

    The velocity lives in ``state[p]["momentum_buffer"]`` (so the rewiring can zero it for
    revived coordinates). ``lr`` and ``weight_decay`` are read from the param groups at every
    step; the training loop sets them from the schedule (floats, or 0-dim device tensors
    updated in place for a captured step, see :func:`sgdw_update`).
    """

    #: ``momentum_buffer`` holds the velocity itself (``p += v``), so a dormant theta, which
    #: gets no gradient, keeps the sign of its buffer: the device rewiring relies on it.
    momentum_is_velocity = True

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def buffers_of(self, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The momentum buffers of ``params``, created (zero) where missing."""
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            bufs.append(state["momentum_buffer"])
        return bufs

    @torch.no_grad()
    def step(self, closure: Callable | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            sgdw_update(params, [p.grad for p in params], self.buffers_of(params),
                        lr=group["lr"], weight_decay=group["weight_decay"],
                        momentum=group["momentum"])


def schedule_boundaries(total_steps: int) -> tuple[int, int]:
    """The 0-based steps after which the LR and weight decay drop tenfold: int(0.5 T) and
    int(0.75 T), as in the predecessor's TensorFlow PiecewiseConstantDecay."""
    return int(0.5 * total_steps), int(0.75 * total_steps)


def schedule_factor(step: int, total_steps: int) -> float:
    """1, 0.1 or 0.01: the LR and weight-decay multiplier at 0-based ``step``.

    TensorFlow's PiecewiseConstantDecay with the boundaries of :func:`schedule_boundaries`:
    the value changes *after* a boundary step.
    """
    first, second = schedule_boundaries(total_steps)
    if step <= first:
        return 1.0
    if step <= second:
        return 0.1
    return 0.01


@dataclass
class EpochStats:
    """Per-epoch training numbers (all read back once at the epoch's end)."""

    loss: float
    accuracy: float
    revived: int = 0
    died: int = 0
    revived_then_died: int = 0
    steps: int = 0
    revived_per_step: list[int] = field(default_factory=list)
    step_seconds: float = 0.0     # wall time of the whole steps (data to rewiring)
    rewire_seconds: float = 0.0   # wall time spent in the rewiring (eager loop only)


_COUNTS = ("revived", "died", "revived_then_died")


class TrainStep:
    """One training step of a run: loss, backward, SGDW and rewiring, in one precision.

    Built once per run (the fp16 gradient scaler and a captured graph live here). Two ways
    to run a step:

    * :meth:`eager` (the default, the only one on a CPU): the loop as it always was;
    * :meth:`captured` (``graphs=True``, CUDA only): :meth:`body` — forward, backward,
      optimiser and ``rewirer.step(lr, optimizer)`` with ``lr`` a 0-dim device tensor — is
      recorded once as a CUDA graph (after the rewiring handed over to its device step) and
      replayed for every batch. The body has no host read-back (a test compiles it with
      ``torch.compile(fullgraph=True)``), so it needs the device rewiring (``rng="device"``);
      TRADES draws its start from the run's generator, which must then be a CUDA generator
      (registered with the graph). What a graph cannot replay is refused when the step is made.

    Either way every step is recorded the same way (``_record``): the sums of loss,
    accuracy, finiteness and the rewiring counts, and the step's revivals in a log, all on the
    device and updated in place (a graph replays their addresses), read once per epoch.
    """

    def __init__(self, model: nn.Module, optimizer: SGDW, rewirer: Rewirer, cfg: Config, *,
                 generator: torch.Generator, precision: str | Precision | None = None,
                 graphs: bool = False, warmup: int = 3) -> None:
        self.model, self.optimizer, self.rewirer, self.cfg = model, optimizer, rewirer, cfg
        self.generator = generator
        self.device = next(model.parameters()).device
        self.precision = get_precision(precision or cfg.precision, self.device)
        if graphs:
            _check_capturable(self.device, self.precision.name, rewirer, generator,
                              cfg.objective)
        self.graphs = graphs
        self.net = self.precision.wrap(model, cache=not graphs)
        self.scaler = self.precision.grad_scaler()
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.momentum = optimizer.param_groups[0]["momentum"]
        if any(g["momentum"] != self.momentum for g in optimizer.param_groups):
            raise ValueError("optimizer: a captured step needs one momentum for all groups")
        self.lr = torch.zeros((), device=self.device)
        self.weight_decay = torch.zeros((), device=self.device)
        self.sums = {k: torch.zeros((), device=self.device, dtype=d) for k, d in
                     (("loss", torch.float32), ("correct", torch.long), ("finite", torch.bool),
                      *((c, torch.long) for c in _COUNTS))}
        self.bufs = optimizer.buffers_of(self.params)
        # the revivals of every step of the epoch, on the device (one write per step)
        self.revived_log = torch.zeros(0, dtype=torch.long, device=self.device)
        self.log_pos = torch.zeros((), dtype=torch.long, device=self.device)
        self.warmup, self.calls = warmup, 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, torch.Tensor] | None = None
        #: steps run eagerly and steps replayed from the captured graph (for result.json)
        self.eager_steps = self.replayed_steps = 0

    # -- the pieces ------------------------------------------------------------------------

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The run's training loss (float32) and the natural logits of the batch."""
        cfg = self.cfg
        if cfg.objective == "trades":
            return trades_loss(self.net, xb, yb, beta=cfg.beta, eps=cfg.train_eps,
                               step_size=cfg.train_step_size, steps=cfg.train_attack_steps,
                               generator=self.generator)
        logits = self.net(xb)
        return F.cross_entropy(logits, yb), logits

    def eager(self, xb: torch.Tensor, yb: torch.Tensor, lr: float, weight_decay: float
              ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One step as the eager loop runs it; returns loss, logits and rewiring seconds."""
        for group in self.optimizer.param_groups:
            group["lr"], group["weight_decay"] = lr, weight_decay
        loss, logits = self.loss(xb, yb)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:  # fp16: scaled backward; a step with non-finite gradients is skipped
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        t_rewire = time.perf_counter()
        r = self.rewirer.step(lr, self.optimizer)
        seconds = time.perf_counter() - t_rewire
        with torch.no_grad():
            self._record(loss, logits, yb, r)
        self.eager_steps += 1
        return loss, logits, seconds

    def _record(self, loss: torch.Tensor, logits: torch.Tensor, yb: torch.Tensor,
                r: object) -> None:
        """Add one step to the device-side sums, in place: loss, accuracy, finiteness and the
        rewiring's counts (host ints or device tensors alike), and log its revivals."""
        s = self.sums
        s["loss"] += loss.detach()
        s["correct"] += (logits.argmax(1) == yb).sum()
        s["finite"] &= torch.isfinite(loss.detach())
        for c in _COUNTS:
            value = getattr(r, c, None)
            if value is not None:
                s[c] += value
        revived = getattr(r, "revived", None)
        if revived is not None and self.revived_log.numel():
            pos = self.log_pos.clamp(max=self.revived_log.numel() - 1).view(1)
            if isinstance(revived, torch.Tensor):  # no read-back either way
                self.revived_log.index_copy_(0, pos, revived.view(1).long())
            else:
                self.revived_log.index_fill_(0, pos, int(revived))
            self.log_pos += 1

    def body(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """The captured step: no host read-back, no Python value that changes per step
        (``self.lr`` and ``self.weight_decay`` are written in place before each replay)."""
        loss, logits = self.loss(xb, yb)
        grads = torch.autograd.grad(loss, self.params)
        with torch.no_grad():
            sgdw_update(self.params, grads, self.bufs,
                        lr=self.lr, weight_decay=self.weight_decay, momentum=self.momentum)
            r = self.rewirer.step(self.lr, self.optimizer)
            self._record(loss, logits, yb, r)

    # -- the captured step (CUDA) ----------------------------------------------------------

    def captured(self, xb: torch.Tensor, yb: torch.Tensor, lr: float,
                 weight_decay: float) -> None:
        """One step through the CUDA graph: the first ``warmup`` steps run :meth:`body`
        eagerly on a side stream (as capture requires), the next one records the graph, and
        every step after that replays it on a copy of the batch."""
        self.lr.fill_(lr)
        self.weight_decay.fill_(weight_decay)
        self.calls += 1
        if self.graph is not None:
            self.static[0].copy_(xb)
            self.static[1].copy_(yb)
            self.graph.replay()
            self.replayed_steps += 1
            return
        self.prepare()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        # warm-up: a few eager steps, and every step until the rewirer runs its device step
        # (the host steps that fill the first deficit cannot be recorded)
        if self.calls <= self.warmup or not getattr(self.rewirer, "on_device", True):
            with torch.cuda.stream(stream):
                self.body(xb, yb)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            self.eager_steps += 1
            return
        self.static = (xb.clone(), yb.clone())
        self.graph = torch.cuda.CUDAGraph()
        for gen in self._generators():
            self.graph.register_generator_state(gen)
        torch.cuda.synchronize(self.device)
        with torch.cuda.graph(self.graph, stream=stream):
            self.body(*self.static)
        self.graph.replay()  # recording ran nothing: this replay is the step for this batch
        self.replayed_steps += 1

    def prepare(self) -> None:
        """Fetch the optimiser's momentum buffers (after a checkpoint was loaded into it)."""
        self.bufs = self.optimizer.buffers_of(self.params)

    def _generators(self) -> list[torch.Generator]:
        """The CUDA generators the body draws from (registered with the graph; a CPU one was
        refused when the step was made)."""
        gens = [self.generator, getattr(self.rewirer, "generator", None)]
        return [g for g in gens if isinstance(g, torch.Generator) and g.device.type == "cuda"]

    def path(self) -> dict[str, int | bool]:
        """How the steps ran so far: eagerly or replayed from a captured CUDA graph."""
        return {"eager_steps": self.eager_steps, "replayed_steps": self.replayed_steps,
                "graph_captured": self.graph is not None}

    # -- bookkeeping -----------------------------------------------------------------------

    def reset_sums(self, n_steps: int = 0) -> None:
        """Zero the device-side sums (at an epoch's start; in place: the graph holds them).
        ``n_steps``: the epoch's steps, the size of the replayed steps' revival log."""
        if self.revived_log.numel() < n_steps:
            if self.graph is not None:
                raise ValueError("n_steps: an epoch longer than the one the graph was "
                                 "captured in")
            self.revived_log = torch.zeros(n_steps, dtype=torch.long, device=self.device)
        self.log_pos.zero_()
        self.revived_log.zero_()
        for t in self.sums.values():
            t.fill_(True) if t.dtype == torch.bool else t.zero_()

    def read_sums(self) -> dict[str, float | int | bool]:
        """The sums on the host (one read; at an epoch's end or every ``check_every``)."""
        keys = list(self.sums)
        values = torch.stack([self.sums[k].double() for k in keys]).tolist()
        out = {k: (bool(v) if k == "finite" else v) for k, v in zip(keys, values)}
        for c in _COUNTS:
            out[c] = int(out[c])
        return out

    def revived_per_step(self) -> list[int]:
        """Revivals of every step of the epoch, from the device log (one read)."""
        logged = min(int(self.log_pos), self.revived_log.numel())
        return [int(v) for v in self.revived_log[:logged].tolist()]


def train_epoch(model: nn.Module, optimizer: SGDW, rewirer: Rewirer, x: torch.Tensor,
                y: torch.Tensor, cfg: Config, *, step: int, total_steps: int,
                generator: torch.Generator, check_every: int = 100,
                progress: Callable | None = None, precision: str | Precision | None = None,
                trainer: TrainStep | None = None,
                after_step: Callable[[int], None] | None = None) -> EpochStats:
    """One pass over the (shuffled, augmented) training set; returns its statistics.

    ``step`` is the global 0-based index of the epoch's first step. ``precision`` overrides
    ``cfg.precision``. ``trainer`` is the run's :class:`TrainStep`: pass the same one every
    epoch (a captured graph, and an fp16 gradient scaler's scale, live in it); without it a
    new one is made for this epoch. ``after_step(n)`` is called after the ``n``-th step of the
    run (1-based, global) and may only read the model (the structure tracking). Raises
    :class:`TrainingDiverged` if the loss stops being finite.
    """
    if trainer is None:
        trainer = TrainStep(model, optimizer, rewirer, cfg, generator=generator,
                            precision=precision)
    model.train()
    trainer.reset_sums(len(x) // cfg.batch_size)
    stats = EpochStats(loss=0.0, accuracy=0.0)
    it = batches(x, y, cfg.batch_size, generator, cfg.augmentation)
    n_steps = len(x) // cfg.batch_size
    t_step = time.perf_counter()
    for i, (xb, yb) in enumerate(progress(it, total=n_steps) if progress else it):
        factor = schedule_factor(step + i, total_steps)
        lr, wd = cfg.lr * factor, cfg.weight_decay * factor
        if trainer.graphs:
            trainer.captured(xb, yb, lr, wd)
        else:
            stats.rewire_seconds += trainer.eager(xb, yb, lr, wd)[2]
        if after_step is not None:
            after_step(step + i + 1)
        if (i + 1) % check_every == 0 and not bool(trainer.sums["finite"]):
            raise TrainingDiverged(f"the training loss became NaN or infinite at step "
                                   f"{step + i + 1}")
    sums = trainer.read_sums()
    if not sums["finite"]:
        raise TrainingDiverged(f"the training loss became NaN or infinite in the epoch "
                               f"ending at step {step + n_steps}")
    stats.step_seconds = time.perf_counter() - t_step
    stats.steps = n_steps
    stats.loss = sums["loss"] / max(1, n_steps)
    stats.accuracy = 100.0 * int(sums["correct"]) / max(1, n_steps * cfg.batch_size)
    stats.revived, stats.died = sums["revived"], sums["died"]
    stats.revived_then_died = sums["revived_then_died"]
    stats.revived_per_step = trainer.revived_per_step()
    return stats

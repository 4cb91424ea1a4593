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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .config import Config
from .data import batches
from .rewiring import Rewirer
from .trades import trades_loss

__all__ = ["SGDW", "schedule_factor", "TrainingDiverged", "EpochStats", "train_epoch"]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class SGDW(torch.optim.Optimizer):
    """SGD with Keras-style momentum and decoupled, LR-independent weight decay (tfa SGDW).

    The velocity lives in ``state[p]["momentum_buffer"]`` (so the rewiring can zero it for
    revived coordinates). ``lr`` and ``weight_decay`` are read from the param groups at every
    step; the training loop sets them from the schedule.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable | None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            bufs = []
            for p in params:
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                bufs.append(state["momentum_buffer"])
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1.0 - group["weight_decay"])
            torch._foreach_mul_(bufs, group["momentum"])
            torch._foreach_add_(bufs, grads, alpha=-group["lr"])
            torch._foreach_add_(params, bufs)


def schedule_factor(step: int, total_steps: int) -> float:
    """1, 0.1 or 0.01: the LR and weight-decay multiplier at 0-based ``step``.

    TensorFlow's PiecewiseConstantDecay with boundaries int(0.5 T) and int(0.75 T): the value
    changes *after* a boundary step.
    """
    if step <= int(0.5 * total_steps):
        return 1.0
    if step <= int(0.75 * total_steps):
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
    rewire_seconds: float = 0.0   # wall time spent in the rewiring


def train_epoch(model: nn.Module, optimizer: SGDW, rewirer: Rewirer, x: torch.Tensor,
                y: torch.Tensor, cfg: Config, *, step: int, total_steps: int,
                generator: torch.Generator, check_every: int = 100,
                progress: Callable | None = None) -> EpochStats:
    """One pass over the (shuffled, augmented) training set; returns its statistics.

    ``step`` is the global 0-based index of the epoch's first step. Raises
    :class:`TrainingDiverged` if the loss stops being finite.
    """
    model.train()
    dev = x.device
    loss_sum = torch.zeros((), device=dev)
    correct = torch.zeros((), dtype=torch.long, device=dev)
    finite = torch.ones((), dtype=torch.bool, device=dev)
    stats = EpochStats(loss=0.0, accuracy=0.0)
    it = batches(x, y, cfg.batch_size, generator, cfg.augmentation)
    n_steps = len(x) // cfg.batch_size
    t_step = time.perf_counter()
    for i, (xb, yb) in enumerate(progress(it, total=n_steps) if progress else it):
        factor = schedule_factor(step + i, total_steps)
        lr = cfg.lr * factor
        for group in optimizer.param_groups:
            group["lr"], group["weight_decay"] = lr, cfg.weight_decay * factor
        if cfg.objective == "trades":
            loss, logits = trades_loss(model, xb, yb, beta=cfg.beta, eps=cfg.train_eps,
                                       step_size=cfg.train_step_size,
                                       steps=cfg.train_attack_steps, generator=generator)
        else:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        t_rewire = time.perf_counter()
        r = rewirer.step(lr, optimizer)
        stats.rewire_seconds += time.perf_counter() - t_rewire
        stats.revived += r.revived
        stats.died += r.died
        stats.revived_then_died += r.revived_then_died
        stats.revived_per_step.append(r.revived)
        with torch.no_grad():
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == yb).sum()
            finite &= torch.isfinite(loss.detach())
        if (i + 1) % check_every == 0 and not bool(finite):
            raise TrainingDiverged(f"the training loss became NaN or infinite at step "
                                   f"{step + i + 1}")
    if not bool(finite):
        raise TrainingDiverged(f"the training loss became NaN or infinite in the epoch "
                               f"ending at step {step + n_steps}")
    stats.step_seconds = time.perf_counter() - t_step
    # device rewiring (rng="device") counts in device tensors: read them once, at epoch end
    stats.revived_per_step = [int(x) for x in stats.revived_per_step]
    stats.revived, stats.died, stats.revived_then_died = (
        int(x) for x in (stats.revived, stats.died, stats.revived_then_died))
    stats.steps = n_steps
    stats.loss = float(loss_sum) / max(1, n_steps)
    stats.accuracy = 100.0 * int(correct) / max(1, n_steps * cfg.batch_size)
    return stats

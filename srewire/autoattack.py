"""AutoAttack at the reference's standard budgets, composed from torchattacks' components.

AutoAttack (Croce & Hein, ICML 2020) is the field's accepted check of L-inf robustness and the
evaluation RobustBench requires: four attacks run one after another, each only on the images
that every earlier attack left correctly classified, and an image counts as robust only if it
survives all four. The reference's "standard" version, at L-inf eps = 8/255 on CIFAR-10:

* **APGD-CE** — step-size-free PGD on the cross-entropy, 100 iterations, 1 restart;
* **APGD-T** — APGD on the targeted DLR loss, each of the 9 most likely wrong classes as a
  target in turn, 100 iterations per target;
* **FAB-T** — the targeted minimum-norm FAB attack, 9 targets, 100 iterations per target;
* **Square** — a score-based random search, 5,000 queries, 1 restart.

The attacks are torchattacks 3.5.1's (a maintained implementation, not a re-implementation).
Its ``AutoAttack(version="standard")`` builds APGD, APGD-T and FAB with its default 10
iterations, not the reference's 100, so :func:`autoattack` builds the four components itself
with the budgets above (``STANDARD``) and runs the cascade here.

Nothing a component returns is taken on trust: an image counts as broken only when its
adversarial lies within eps of the original (up to :data:`FLOAT_TOLERANCE`), within [0, 1],
and the model, in eval mode and float32, misclassifies it. Adversarials that break the bounds
are counted as not broken and reported (``checks["rejected"]``). torchattacks reseeds torch's
global generator in every call; the caller's generator state is restored afterwards.
"""

from __future__ import annotations

import importlib.metadata
import math
import numbers
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from .attacks import ModeRecorder
from .data import to_float

__all__ = ["COMPONENTS", "Budget", "STANDARD", "FLOAT_TOLERANCE", "AutoAttackResult",
           "autoattack", "torchattacks_component"]

#: The components of the standard version, in the order they run.
COMPONENTS: tuple[str, ...] = ("apgd-ce", "apgd-t", "fab-t", "square")

#: Slack on the L-inf bound for float32 rounding: the projection computes x + delta and the
#: check subtracts x again, each rounding once; the spacing of float32 numbers in [0.5, 1] is
#: 6e-8, so the true excess is at most about 1.2e-7. 1e-6 leaves room for that and is still
#: thousands of times smaller than one 8-bit grey level (1/255 = 3.9e-3).
FLOAT_TOLERANCE = 1e-6

#: A component: (images, labels) -> adversarial images of the same shape.
Component = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Budget:
    """Iterations and queries of the four components (defaults: the reference's standard)."""

    steps: int = 100         # APGD-CE and APGD-T iterations (per target for APGD-T)
    targets: int = 9         # target classes of APGD-T and FAB-T
    fab_steps: int = 100     # FAB-T iterations per target
    queries: int = 5_000     # Square's queries

    def check(self) -> "Budget":
        """The budget itself, or ValueError naming the first field that is not a positive
        integer."""
        for name, value in asdict(self).items():
            if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                    and value > 0):
                raise ValueError(f"budget.{name} must be a positive integer; got {value!r}")
        return self


STANDARD = Budget()


@dataclass
class AutoAttackResult:
    """The outcome of :func:`autoattack`.

    ``robust``: per image, True if it is classified correctly and no component broke it;
    ``x_adv``: per image, the adversarial that broke it (the clean image where none did);
    ``report``: the JSON-ready summary (accuracies in percent, per component, checks)."""

    robust: torch.Tensor
    x_adv: torch.Tensor
    report: dict = field(default_factory=dict)

    @property
    def robust_accuracy(self) -> float:
        return self.report["robust_accuracy"]


def _import_torchattacks():
    try:
        import torchattacks
    except ImportError:
        raise ImportError("AutoAttack needs torchattacks 3.5.1: pip install --no-deps "
                          "torchattacks==3.5.1 (bash scripts/setup.sh installs it)") from None
    return torchattacks


def torchattacks_component(name: str, model: nn.Module, *, eps: float, budget: Budget,
                           seed: int) -> Component:
    """torchattacks' attack for one component of :data:`COMPONENTS`, configured as the
    reference's standard version with ``budget``."""
    ta = _import_torchattacks()
    n_classes = budget.targets + 1  # torchattacks targets the n_classes - 1 likeliest others
    if name == "apgd-ce":
        return ta.APGD(model, norm="Linf", eps=eps, steps=budget.steps, n_restarts=1,
                       seed=seed, loss="ce", eot_iter=1, rho=0.75)
    if name == "apgd-t":
        return ta.APGDT(model, norm="Linf", eps=eps, steps=budget.steps, n_restarts=1,
                        seed=seed, eot_iter=1, rho=0.75, n_classes=n_classes)
    if name == "fab-t":
        return ta.FAB(model, norm="Linf", eps=eps, steps=budget.fab_steps, n_restarts=1,
                      seed=seed, multi_targeted=True, n_classes=n_classes)
    if name == "square":
        return ta.Square(model, norm="Linf", eps=eps, n_queries=budget.queries, n_restarts=1,
                         p_init=0.8, loss="margin", resc_schedule=True, seed=seed)
    raise ValueError(f"component must be one of {', '.join(COMPONENTS)}; got {name!r}")


def _check_arguments(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     budget: Budget, components: Sequence[str], batch_size: int) -> None:
    if not (isinstance(eps, numbers.Real) and not isinstance(eps, bool)
            and math.isfinite(eps) and 0 < eps <= 1):
        raise ValueError(f"eps must be a number in (0, 1] (images are in [0, 1]); got {eps!r}")
    if not isinstance(budget, Budget):
        raise ValueError(f"budget must be a srewire.autoattack.Budget; got {budget!r}")
    budget.check()
    names = list(components)
    if not names or any(c not in COMPONENTS for c in names) or len(set(names)) != len(names):
        raise ValueError(f"components must be distinct names among {', '.join(COMPONENTS)}; "
                         f"got {names!r}")
    if not (isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool)
            and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    if x.dim() != 4 or y.dim() != 1 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch of images (N, C, H, W) and y N labels; "
                         f"got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.is_floating_point() and (x.min() < 0 or x.max() > 1):
        raise ValueError("x must hold images in [0, 1] (float) or 0..255 (uint8)")
    other = sorted({str(p.dtype) for p in model.parameters()
                    if p.is_floating_point() and p.dtype != torch.float32})
    if other:
        raise ValueError(f"model must be in float32 for AutoAttack; it has {', '.join(other)} "
                         f"parameters")


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]).argmax(1)
                          for i in range(0, len(x), batch_size)])


def _rng_devices(device: torch.device) -> list:
    return [device] if device.type == "cuda" else []


def autoattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float = 8 / 255,
               budget: Budget = STANDARD, seed: int = 0, batch_size: int = 250,
               components: Sequence[str] = COMPONENTS,
               attacks: Mapping[str, Component] | None = None,
               progress: Callable[[str, int], None] | None = None) -> AutoAttackResult:
    """Run the AutoAttack cascade on ``(x, y)`` and return robust flags, adversarials and a
    report (see the module docstring for what counts as broken).

    Each component in ``components`` (default: all four, in the reference's order) is run
    only on the images still robust after the earlier ones, ``batch_size`` at a time.
    ``attacks`` replaces the torchattacks component of a name by any callable
    ``(images, labels) -> adversarials`` (how the tests watch what each component is given).
    ``progress(name, n_attacked)`` is called before each component. Bad arguments raise
    ValueError naming the parameter and its valid values.
    """
    _check_arguments(model, x, y, eps, budget, components, batch_size)
    model.eval()
    x = to_float(x).float()
    n = len(x)
    with torch.no_grad():
        logits = model(x[:1])
    n_classes = logits.shape[1]
    if budget.targets > n_classes - 1:
        raise ValueError(f"budget.targets must be at most {n_classes - 1} (the model has "
                         f"{n_classes} classes); got {budget.targets}")
    attacks = dict(attacks or {})
    x_adv = x.clone()
    rows, rejected, largest = [], 0, 0.0
    t_start = time.perf_counter()
    with ModeRecorder(model) as modes:
        robust = _predict(model, x, batch_size) == y
        clean = 100.0 * int(robust.sum()) / n
        for name in components:
            attack = attacks.get(name) or torchattacks_component(name, model, eps=eps,
                                                                 budget=budget, seed=seed)
            todo = robust.nonzero().flatten()
            if progress:
                progress(name, len(todo))
            t0, broken_here = time.perf_counter(), 0
            for i in range(0, len(todo), batch_size):
                idx = todo[i:i + batch_size]
                xb, yb = x[idx], y[idx]
                with torch.random.fork_rng(devices=_rng_devices(x.device)):
                    adv = attack(xb, yb).detach().to(xb.dtype)
                distance = (adv - xb).abs().flatten(1).amax(1)
                inside = (distance <= eps + FLOAT_TOLERANCE) & \
                    (adv.flatten(1).amin(1) >= 0) & (adv.flatten(1).amax(1) <= 1)
                wrong = _predict(model, adv, batch_size) != yb
                rejected += int((wrong & ~inside).sum())
                hit = wrong & inside
                if hit.any():
                    largest = max(largest, float(distance[hit].max()))
                robust[idx[hit]] = False
                x_adv[idx[hit]] = adv[hit]
                broken_here += int(hit.sum())
            rows.append({"name": name, "attacked": len(todo), "broken": broken_here,
                         "robust_accuracy": 100.0 * int(robust.sum()) / n,
                         "seconds": time.perf_counter() - t0})
    report = {
        "clean_accuracy": clean,
        "robust_accuracy": 100.0 * int(robust.sum()) / n,
        "components": rows,
        "attack": {"name": "AutoAttack (standard, composed)", "norm": "Linf", "eps": eps,
                   "budget": asdict(budget), "components": list(components),
                   "seed": seed, "n_images": n, "precision": "fp32",
                   "library": f"torchattacks {_version('torchattacks')}",
                   "replaced_components": sorted(attacks)},
        "checks": {"eval_mode": modes.all_eval,
                   "modules_in_train_mode": sorted(modes.in_training),
                   "max_perturbation": largest,
                   "within_eps": largest <= eps + FLOAT_TOLERANCE,
                   "rejected": rejected},
        "seconds": time.perf_counter() - t_start,
    }
    return AutoAttackResult(robust, x_adv, report)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None

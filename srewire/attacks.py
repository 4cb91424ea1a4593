"""Robustness evaluation: Foolbox L-inf PGD with restarts, a native PGD cross-check, FGSM.

The protocol is the predecessor's ``run_foolbox_eval.py`` (Thesis §4.2.2): Foolbox
``LinfPGD(steps=50, abs_stepsize=2.5 * eps / 50, random_start=True)`` at eps = 8/255, called
10 times per batch; an image counts as broken if any restart succeeds (logical OR). The model
is evaluated in eval mode on inputs in [0, 1] with no preprocessing.

:func:`pgd` is a plain PyTorch implementation of the same attack (uniform random start, summed
cross-entropy, signed steps, projection, clipping, success judged on the final iterate). It is
much faster and serves as a cross-check; :func:`robustness` reports both with sanity checks.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .precision import get_precision
from .rng import draw, make_generator

__all__ = ["accuracy", "pgd", "pgd_examples", "fgsm", "foolbox_pgd", "robustness"]


def _chunks(x: torch.Tensor, y: torch.Tensor, batch_size: int
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size], y[i:i + batch_size]


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(255) if x.dtype == torch.uint8 else x


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 250
             ) -> float:
    """Clean accuracy in percent (model put in eval mode; inputs uint8 or [0, 1] floats)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for xb, yb in _chunks(x, y, batch_size):
        correct += (model(_to_float(xb)).argmax(1) == yb).sum()
    return 100.0 * int(correct) / len(y)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
        step_size: float, restarts: int = 1, random_start: bool = True,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Native L-inf PGD with Foolbox's semantics; returns is_adv (bool), OR over restarts."""
    return pgd_examples(model, x, y, eps=eps, steps=steps, step_size=step_size,
                        restarts=restarts, random_start=random_start, generator=generator)[0]


def pgd_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
                 steps: int, step_size: float, restarts: int = 1, random_start: bool = True,
                 generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Native PGD returning (is_adv, adversarial images); for each image the adversarial of
    the first restart that broke it (else of the last restart)."""
    model.eval()
    broken = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    best = x.clone()
    for _ in range(restarts):
        if random_start:
            u = draw(torch.rand, x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x_adv = (x + (2 * u - 1) * eps).clamp(0, 1)
        else:
            x_adv = x.clone()
        for _ in range(steps):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(model(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
            with torch.no_grad():
                x_adv = x_adv + step_size * grad.sign()
                x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
        with torch.no_grad():
            hit = model(x_adv).argmax(1) != y
            best[~broken] = x_adv[~broken]
            broken |= hit
    return broken, best


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Fast gradient sign method (one step of size eps from x); returns is_adv."""
    return pgd(model, x, y, eps=eps, steps=1, step_size=eps, restarts=1, random_start=False)


def _import_foolbox():
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # foolbox imports GitPython
    with warnings.catch_warnings():
        # foolbox 3.3.4 imports scipy.ndimage.filters, deprecated in SciPy 1.x
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"foolbox\..*")
        warnings.filterwarnings("ignore", message=r".*scipy\.ndimage\.filters.*",
                                category=DeprecationWarning)
        import foolbox
    return foolbox


def foolbox_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
                steps: int, step_size: float, restarts: int, seed: int = 0,
                rng: str = "host") -> torch.Tensor:
    """Foolbox 3 ``LinfPGD`` called ``restarts`` times; returns is_adv, OR over restarts.

    Foolbox's own ``LinfPGD`` draws its random start with ``torch.rand`` from torch's global
    generator. Here the start is drawn, with the same arithmetic, from a generator seeded with
    ``seed`` (on the host for ``rng="host"``, so a GPU evaluation attacks from the CPU's
    starts; on the CPU this is exactly Foolbox's draw after ``torch.manual_seed(seed)``).
    Everything else is Foolbox's attack; the caller's global RNG is left untouched.
    """
    fb = _import_foolbox()
    generator = make_generator(seed, x.device, rng)

    class SeededLinfPGD(fb.attacks.LinfPGD):
        def get_random_start(self, x0, epsilon):  # eagerpy's uniform(-eps, eps)
            u = draw(torch.rand, x0.raw.shape, generator=generator, device=x0.raw.device,
                     dtype=x0.raw.dtype)
            return x0 + type(x0)(u * (2 * epsilon) - epsilon)

    model.eval()
    # device=: Foolbox would otherwise move the model to cuda:0 whenever a GPU exists
    fmodel = fb.PyTorchModel(model, bounds=(0, 1), preprocessing=None, device=x.device)
    attack = SeededLinfPGD(steps=steps, abs_stepsize=step_size, random_start=True)
    broken = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        _, _, success = attack(fmodel, x, fb.criteria.Misclassification(y), epsilons=eps)
        broken |= success
    return broken


def robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               steps: int, restarts: int, batch_size: int = 250, seed: int = 0,
               backend: str = "foolbox", progress: Callable | None = None,
               rng: str = "host", precision: str = "fp32") -> dict:
    """Clean and robust accuracy (percent) with the sanity checks reported beside them.

    ``precision`` (the run's ``eval_precision``) is the arithmetic of the attacks' forward
    passes (the model's clean accuracy is always counted in float32; see
    :mod:`srewire.precision`).

    ``backend="foolbox"`` gives the reported number; the native PGD (same settings, its own
    seed) is always run as a cross-check. Checks: the model is in eval mode during the attack;
    robust <= FGSM <= clean accuracy; a large eps (0.5) drives accuracy to about zero.
    """
    step = 2.5 * eps / steps
    generator = make_generator(seed, x.device, rng)
    prec = get_precision(precision, x.device)
    attacked = prec.wrap(model).eval()  # the model itself for fp32
    counts = dict(clean=0, fgsm=0, native=0, foolbox=0, large_eps=0)
    n_large = 0
    chunks = list(_chunks(x, y, batch_size))
    for i, (xb, yb) in enumerate(progress(chunks) if progress else chunks):
        xb = _to_float(xb)
        model.eval()
        with torch.no_grad():
            counts["clean"] += int((model(xb).argmax(1) == yb).sum())
        counts["fgsm"] += int((~fgsm(attacked, xb, yb, eps=eps)).sum())
        counts["native"] += int((~pgd(attacked, xb, yb, eps=eps, steps=steps, step_size=step,
                                      restarts=restarts, generator=generator)).sum())
        if backend == "foolbox":
            counts["foolbox"] += int((~foolbox_pgd(attacked, xb, yb, eps=eps, steps=steps,
                                                   step_size=step, restarts=restarts,
                                                   seed=seed + i, rng=rng)).sum())
        if i == 0:  # a large-eps attack on the first batch only
            n_large = len(yb)
            counts["large_eps"] = int((~pgd(attacked, xb, yb, eps=0.5, steps=10, step_size=0.1,
                                            generator=generator)).sum())
    n = len(y)
    pct = {k: round(100.0 * v / n, 2) for k, v in counts.items() if k != "large_eps"}
    robust = pct["foolbox"] if backend == "foolbox" else pct["native"]
    large = round(100.0 * counts["large_eps"] / max(1, n_large), 2)
    checks = {
        "eval_mode": not model.training,
        "robust_le_fgsm_le_clean": robust <= pct["fgsm"] <= pct["clean"],
        "large_eps_accuracy": large,
        "large_eps_near_zero": large <= 5.0,
    }
    return {
        "clean_accuracy": pct["clean"], "robust_accuracy": robust,
        "fgsm_accuracy": pct["fgsm"], "native_pgd_accuracy": pct["native"],
        "foolbox_pgd_accuracy": pct["foolbox"] if backend == "foolbox" else None,
        "attack": {"backend": backend, "eps": eps, "steps": steps, "abs_stepsize": step,
                   "restarts": restarts, "random_start": True, "n_images": n,
                   "precision": prec.name},
        "checks": checks,
    }

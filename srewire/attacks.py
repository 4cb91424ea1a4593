"""Robustness evaluation: Foolbox L-inf PGD with restarts, a native PGD cross-check, FGSM.

The protocol is the predecessor's ``run_foolbox_eval.py`` (Thesis §4.2.2): Foolbox
``LinfPGD(steps=50, abs_stepsize=2.5 * eps / 50, random_start=True)`` at eps = 8/255, called
10 times per batch; an image counts as broken if any restart succeeds (logical OR). The model
is evaluated in eval mode on inputs in [0, 1] with no preprocessing.

:func:`pgd` is a plain PyTorch implementation of the same attack (uniform random start, summed
cross-entropy, signed steps, projection, clipping, success judged on the final iterate). It is
much faster and serves as a cross-check; :func:`robustness` reports both with sanity checks.
The two draw their random starts from separate generators (:func:`attack_seed`), so their
agreement is a comparison of two independent attacks, not of one random start twice.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import to_float
from .precision import get_precision
from .rng import draw, make_generator

__all__ = ["accuracy", "pgd", "pgd_examples", "Demonstration", "demonstrate", "fgsm", "foolbox_pgd", "robustness",
           "attack_seed", "ATTACK_STREAMS", "ModeRecorder"]

# The random streams of :func:`robustness`: each attack's starts come from its own generator.
ATTACK_STREAMS: dict[str, int] = {"native": 1, "foolbox": 2, "large_eps": 3}


def _chunks(x: torch.Tensor, y: torch.Tensor, batch_size: int
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size], y[i:i + batch_size]


def attack_seed(seed: int, stream: str, batch: int = 0) -> int:
    """The seed of one attack's random starts in :func:`robustness`, derived from the run's
    ``seed``, the attack (a key of ``ATTACK_STREAMS``) and the batch index by NumPy's
    ``SeedSequence``: different streams get unrelated seeds, so native PGD and Foolbox never
    start from the same point, whatever the run's seed."""
    if stream not in ATTACK_STREAMS:
        raise ValueError(f"stream must be one of {', '.join(ATTACK_STREAMS)}; got {stream!r}")
    entropy = [seed % 2 ** 64, ATTACK_STREAMS[stream], batch]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])


class ModeRecorder:
    """Context manager recording, through forward pre-hooks on every submodule of ``model``,
    the mode each module is in when it actually runs.

    ``forwards`` counts the model's own forward calls; ``in_training`` holds the names of the
    modules that ran at least once in training mode (the root module is named ``"model"``).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.forwards = 0
        self.in_training: set[str] = set()
        self._handles: list = []

    def __enter__(self) -> "ModeRecorder":
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._hook(name or "model")))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Callable:
        def hook(module: nn.Module, inputs) -> None:
            if module is self.model:
                self.forwards += 1
            if module.training:
                self.in_training.add(name)
        return hook

    @property
    def all_eval(self) -> bool:
        """At least one forward pass was seen, and no module ran in training mode."""
        return self.forwards > 0 and not self.in_training


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 250
             ) -> float:
    """Clean accuracy in percent (model put in eval mode; inputs uint8 or [0, 1] floats)."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for xb, yb in _chunks(x, y, batch_size):
        correct += (model(to_float(xb)).argmax(1) == yb).sum()
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


@dataclass(frozen=True)
class Demonstration:
    """One batch attacked for the book: the clean images ``x`` and labels ``y``, the
    adversarial images ``x_adv`` and the model's predictions before and after the attack."""

    x: torch.Tensor
    y: torch.Tensor
    x_adv: torch.Tensor
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor

    @property
    def correct_clean(self) -> int:
        """Images classified correctly before the attack."""
        return int((self.clean_pred == self.y).sum())

    @property
    def correct_adv(self) -> int:
        """Images still classified correctly after the attack."""
        return int((self.adv_pred == self.y).sum())

    def __str__(self) -> str:
        change = float((self.x_adv - self.x).abs().max()) * 255
        return (f"largest pixel change: {change:.2f} / 255\n"
                f"correct before the attack: {self.correct_clean} of {len(self.y)}; "
                f"after: {self.correct_adv} of {len(self.y)}")


def demonstrate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, steps: int,
                seed: int = 0) -> Demonstration:
    """Native PGD (:func:`pgd_examples`, one random start, the evaluation's step
    ``pgd_step_size``) on one batch, with the predictions before and after: the
    adversarial examples the book shows (Thesis §2.1.1)."""
    generator = torch.Generator().manual_seed(seed)
    _, x_adv = pgd_examples(model, x, y, eps=eps, steps=steps,
                            step_size=pgd_step_size(eps, steps), generator=generator)
    with torch.no_grad():
        clean_pred, adv_pred = model(x).argmax(1), model(x_adv).argmax(1)
    return Demonstration(x, y, x_adv, clean_pred, adv_pred)


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


def pgd_step_size(eps: float, steps: int) -> float:
    """The evaluation attack's absolute step, 2.5 * eps / steps (Foolbox's LinfPGD rule, used
    by the predecessor): the one home of that rule."""
    return 2.5 * eps / steps


def robustness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float,
               steps: int, restarts: int, batch_size: int = 250, seed: int = 0,
               backend: str = "foolbox", progress: Callable | None = None,
               rng: str = "host", precision: str = "fp32") -> dict:
    """Clean and robust accuracy (percent) with the sanity checks reported beside them.

    ``precision`` (the run's ``eval_precision``) is the arithmetic of the attacks' forward
    passes (the model's clean accuracy is always counted in float32; see
    :mod:`srewire.precision`).

    ``backend="foolbox"`` gives the reported number; the native PGD (same settings) is always
    run as a cross-check. Each attack draws its random starts from its own generator, seeded
    by :func:`attack_seed` from ``seed`` (native PGD: one generator for the whole evaluation;
    Foolbox: one per batch; the large-eps check: its own), so the two PGDs are independent.
    Checks: every module was in eval mode in every forward pass of the evaluation (recorded
    by :class:`ModeRecorder` while the attacks run, not read from the model afterwards);
    robust <= FGSM <= clean accuracy; a large eps (0.5) drives accuracy to about zero.
    """
    if backend not in ("foolbox", "native"):
        raise ValueError(f"backend must be one of foolbox, native; got {backend!r}")
    step = pgd_step_size(eps, steps)
    native_gen = make_generator(attack_seed(seed, "native"), x.device, rng)
    large_gen = make_generator(attack_seed(seed, "large_eps"), x.device, rng)
    prec = get_precision(precision, x.device)
    attacked = prec.wrap(model).eval()  # the model itself for fp32
    counts = dict(clean=0, fgsm=0, native=0, foolbox=0, large_eps=0)
    n_large = 0
    chunks = list(_chunks(x, y, batch_size))
    model.eval()
    with ModeRecorder(model) as modes:
        for i, (xb, yb) in enumerate(progress(chunks) if progress else chunks):
            xb = to_float(xb)
            with torch.no_grad():
                counts["clean"] += int((model(xb).argmax(1) == yb).sum())
            counts["fgsm"] += int((~fgsm(attacked, xb, yb, eps=eps)).sum())
            counts["native"] += int((~pgd(attacked, xb, yb, eps=eps, steps=steps, step_size=step,
                                          restarts=restarts, generator=native_gen)).sum())
            if backend == "foolbox":
                counts["foolbox"] += int((~foolbox_pgd(
                    attacked, xb, yb, eps=eps, steps=steps, step_size=step, restarts=restarts,
                    seed=attack_seed(seed, "foolbox", i), rng=rng)).sum())
            if i == 0:  # a large-eps attack on the first batch only
                n_large = len(yb)
                counts["large_eps"] = int((~pgd(attacked, xb, yb, eps=0.5, steps=10,
                                                step_size=0.1, generator=large_gen)).sum())
    n = len(y)
    pct = {k: round(100.0 * v / n, 2) for k, v in counts.items() if k != "large_eps"}
    robust = pct["foolbox"] if backend == "foolbox" else pct["native"]
    large = round(100.0 * counts["large_eps"] / max(1, n_large), 2)
    checks = {
        "eval_mode": modes.all_eval,
        "modules_in_train_mode": sorted(modes.in_training),
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
                   "seed": seed, "start_seeds": "attack_seed(seed, stream, batch)",
                   "precision": prec.name},
        "checks": checks,
    }

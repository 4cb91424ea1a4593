"""One flat, typed configuration per run, and the four profiles (smoke, quick, long, paper).

A :class:`Config` is what a papermill ``parameters`` cell or the CLI sets: plain values, no
nesting. The profiles fix everything except the experiment's own choices (objective, sparsity,
rewiring strategy, seed), which the caller passes.

* ``smoke`` — seconds on a CPU: VGG11 at 1/8 width, a few hundred images, one epoch, a short
  attack. For tests and the notebooks' CI runs; its numbers mean nothing.
* ``quick`` — an honest reduced reproduction on a laptop-class CPU: full-width VGG11 (the
  structure metrics depend on the layer shapes), a class-balanced subset of real CIFAR-10, a
  few epochs, and a reduced attack budget. The whole thesis grid for one seed fits in 90
  minutes on a 2-core machine; the book's reproduction page gives the measured times.
* ``long`` — all of CIFAR-10 at the largest scale a 2-core CPU affords: every training and
  test image, full width, the predecessor's schedule shape (drops at 50 % and 75 % of the
  epochs), the precision the CPU runs fastest (``auto``), the zero-fibre percentage tracked over
  training, and the exact weights kept. See :data:`LONG_SIZING` for how its epochs were sized.
* ``paper`` — the thesis's setup (Thesis §4; predecessor constants): 100 epochs on all 50,000
  training images, evaluation on all 10,000 test images with PGD-50 x 10 restarts. Needs a GPU.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Config", "PROFILES", "LONG_SIZING", "OBJECTIVES", "STRATEGIES", "DEFAULT_SEEDS", "make_config",
           "validate", "check_choice", "check_seeds", "ConfigError"]

PROFILES = ("smoke", "quick", "long", "paper")
#: Seeds of the thesis grid that the book aggregates, per profile (the quick results for these
#: seeds are committed; paper is one network per cell, like the thesis).
DEFAULT_SEEDS = {"smoke": (0,), "quick": (0, 1), "long": (0, 1, 2), "paper": (0,)}
OBJECTIVES = ("natural", "trades")
STRATEGIES = ("random", "structured", "weight_based")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A parameter has a value outside its valid set."""


@dataclass(frozen=True)
class Config:
    """Every hyperparameter of one run (defaults = the ``paper`` profile, except where the
    paper profile resolves ``rng`` and ``graphs`` per device)."""

    profile: str = "paper"
    objective: str = "natural"          # natural | trades
    sparsity: float = 0.99              # fraction of dormant weights, in (0, 1)
    rewiring: str = "random"            # random | structured | weight_based
    seed: int = 0
    # model (Thesis §4; predecessor VGG layout)
    width: float = 1.0
    head: str = "predecessor"           # predecessor (2048-256-256-10) | classic (512-10)
    # data
    n_train: int | None = None          # None: all 50,000 training images
    n_test: int | None = None           # None: all 10,000 test images
    data_seed: int = 0                  # which class-balanced subset
    augmentation: str = "shift"         # shift (predecessor, Keras) | crop | none
    # optimisation (predecessor: SGDW, momentum 0.9, decoupled wd 5e-4, drops at 50/75 %)
    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # rewiring (predecessor: noise lr * N(0, 1e-6), revive at 1e-12)
    metric: str = "euclidean"           # euclidean | eq3 (Equation 3 as printed)
    tie_break: str = "random"           # random | lowest
    noise_std: float = 1e-6
    revive_value: float = 1e-12
    reset_momentum: bool = False
    # TRADES (predecessor: beta 6, eps 8/255, step 2/255, 10 steps)
    beta: float = 6.0
    train_eps: float = 8 / 255
    train_step_size: float = 2 / 255
    train_attack_steps: int = 10
    # evaluation (Foolbox LinfPGD, abs step 2.5 eps / steps, random start, restarts OR-ed)
    eval_eps: float = 8 / 255
    pgd_steps: int = 50
    pgd_restarts: int = 10
    n_robust: int | None = None         # test images attacked (None: all of the test set)
    robust_for_natural: bool = False    # natural runs: skip PGD (robust accuracy is ~0)
    checkpoint: str = "final"           # final | best_clean (the predecessor's test-set choice)
    eval_batch_size: int = 250
    save_weights: bool = False          # also write a compact copy of the trained weights
    track_structure: bool = False       # record the zero-fibre percentage after every epoch
    # randomness: host draws every random number on the CPU (a GPU run repeats the CPU run up
    # to floating-point noise); device draws on the training device (no copies) and runs the
    # device rewiring step; auto = device on CUDA (Euclidean metric), host elsewhere
    rng: str = "host"                   # auto | host | device
    # CUDA graphs: replay the whole training step (forward, backward, SGDW, device rewiring)
    # as one captured graph; auto = on where it can run (CUDA, rng device, not fp16), off on a
    # CPU (see srewire.placement)
    graphs: str = "off"                 # auto | on | off
    # arithmetic: autocast precision of the training step, and of the evaluation
    # attack (fp32 by default: a reduced-precision attack can hide gradients). auto = bf16 where
    # the device runs it natively, fp16 on other CUDA devices, fp32 elsewhere.
    precision: str = "auto"             # auto | fp32 | bf16 | fp16
    eval_precision: str = "fp32"        # auto | fp32 | bf16 | fp16
    # how the first step's deficit is refilled: with the run's own strategy, or uniformly at
    # random as the predecessor does
    initial_fill: str = "strategy"      # strategy | random

    @property
    def connectivity(self) -> float:
        """Fraction of connected weights, 1 - sparsity (rounded against float noise)."""
        return round(1.0 - self.sparsity, 12)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PROFILE_VALUES: dict[str, dict[str, Any]] = {
    "smoke": dict(width=0.125, n_train=256, n_test=128, epochs=1, batch_size=32,
                  train_attack_steps=2, pgd_steps=5, pgd_restarts=2, n_robust=64,
                  eval_batch_size=128),
    "quick": dict(n_train=8_192, n_test=2_000, epochs=5, pgd_steps=20, pgd_restarts=2,
                  n_robust=500, precision="fp32"),
    "long": dict(n_train=None, n_test=None, epochs=17, pgd_steps=20, pgd_restarts=2,
                 n_robust=1_000, precision="auto", track_structure=True, save_weights=True),
    "paper": dict(rng="auto", graphs="auto"),
}
#: How the ``long`` profile was sized (measured 2026-12-07 on a 2-core Intel Xeon with AMX-BF16,
#: torch 2.14.1, nothing else running, by timing real training steps of the full-width network on
#: CIFAR-10 after five warm-up steps). A natural step at full width, batch
#: 128, took 0.34-0.36 s in bf16 (99 % and 95 %, structured and weight-based); an epoch of all
#: 50,000 images (390 steps) plus its test pass over 10,000 images is about 150 s, so 17 epochs
#: (6,630 steps, 17 % of the thesis's 39,100) keep one natural run near 45 minutes. A TRADES-10
#: step took 2.45 s; 4 epochs of 38,400 images (1,200 steps) plus PGD-20 x 2 (Foolbox and the
#: native cross-check) on 1,000 test images keep one TRADES run near 60 minutes.
LONG_SIZING = {"machine": "2-core Intel Xeon (AMX-BF16), torch 2.14.1, 2 threads",
               "natural_step_s": 0.35, "trades_step_s": 2.45,
               "natural_budget_min": 45, "trades_budget_min": 60}
# TRADES runs of the quick profile train on fewer images (a TRADES-10 step costs about seven
# natural steps); the attack used in training stays the predecessor's.
_QUICK_TRADES = dict(n_train=4_096, epochs=4)
# ... and so do those of the long profile (see LONG_SIZING).
_LONG_TRADES = dict(n_train=38_400, epochs=4)
_TRADES_SIZES = {"quick": _QUICK_TRADES, "long": _LONG_TRADES}

_CHOICES = {
    "profile": PROFILES, "objective": OBJECTIVES, "rewiring": STRATEGIES,
    "head": ("predecessor", "classic"), "augmentation": ("shift", "crop", "none"),
    "metric": ("euclidean", "eq3"), "tie_break": ("random", "lowest"),
    "checkpoint": ("final", "best_clean"), "rng": ("auto", "host", "device"),
    "graphs": ("auto", "on", "off"),
    "precision": PRECISIONS, "eval_precision": PRECISIONS,
    "initial_fill": ("strategy", "random"),
}
# Values that a result.json written before a parameter existed implicitly used.
_LEGACY = {"precision": "fp32", "eval_precision": "fp32", "initial_fill": "strategy",
           "graphs": "off"}


# Parameters checked by type and range; every field of Config is in exactly one
# group below or in _CHOICES, which tests/test_config.py holds us to.
_POSITIVE_INT = ("epochs", "batch_size", "eval_batch_size", "train_attack_steps", "pgd_steps",
                 "pgd_restarts")
_OPTIONAL_POSITIVE_INT = ("n_train", "n_test", "n_robust")
_NON_NEGATIVE_INT = ("seed", "data_seed")
_POSITIVE_REAL = ("width", "lr", "train_step_size", "revive_value")
_NON_NEGATIVE_REAL = ("weight_decay", "beta", "noise_std")
_EPSILON = ("train_eps", "eval_eps")  # an L-infinity radius on images in [0, 1]
_BOOL = ("reset_momentum", "robust_for_natural", "save_weights", "track_structure")


def _fail(name: str, value: Any, valid: str) -> ConfigError:
    return ConfigError(f"{name} must be {valid}; got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else :class:`ConfigError` naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(name, value, f"one of {', '.join(choices)}")
    return value


def check_seeds(seeds: Any, name: str = "seeds") -> tuple[int, ...]:
    """A non-empty sequence of non-negative integer seeds, as a tuple."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise _fail(name, seeds, "a list of non-negative integers")
    values = tuple(seeds)
    if not values or not all(_is_int(s) and s >= 0 for s in values):
        raise _fail(name, list(values), "a non-empty list of non-negative integers")
    return values


def validate(cfg: Config) -> Config:
    """Check every field's type and range; raise :class:`ConfigError` with one
    line naming the parameter, its value and the valid values."""
    for name, choices in _CHOICES.items():
        check_choice(name, getattr(cfg, name), choices)
    if not (_is_real(cfg.sparsity) and 0 < cfg.sparsity < 1):
        raise _fail("sparsity", cfg.sparsity, "a number in the open interval (0, 1)")
    for name in _POSITIVE_INT:
        value = getattr(cfg, name)
        if not (_is_int(value) and value > 0):
            raise _fail(name, value, "a positive integer")
    for name in _OPTIONAL_POSITIVE_INT:
        value = getattr(cfg, name)
        if value is not None and not (_is_int(value) and value > 0):
            raise _fail(name, value, "a positive integer or None (all images)")
    for name in _NON_NEGATIVE_INT:
        value = getattr(cfg, name)
        if not (_is_int(value) and value >= 0):
            raise _fail(name, value, "a non-negative integer")
    for name in _POSITIVE_REAL:
        value = getattr(cfg, name)
        if not (_is_real(value) and value > 0):
            raise _fail(name, value, "a positive finite number")
    for name in _NON_NEGATIVE_REAL:
        value = getattr(cfg, name)
        if not (_is_real(value) and value >= 0):
            raise _fail(name, value, "a finite number >= 0")
    for name in _EPSILON:
        value = getattr(cfg, name)
        if not (_is_real(value) and 0 <= value <= 1):
            raise _fail(name, value, "a number in [0, 1] (images are in [0, 1])")
    if not (_is_real(cfg.momentum) and 0 <= cfg.momentum < 1):
        raise _fail("momentum", cfg.momentum, "a number in [0, 1)")
    for name in _BOOL:
        value = getattr(cfg, name)
        if not isinstance(value, (bool, np.bool_)):
            raise _fail(name, value, "True or False")
    if cfg.n_train is not None and cfg.n_train < cfg.batch_size:
        raise _fail("n_train", cfg.n_train, f"at least batch_size ({cfg.batch_size})")
    if cfg.rng == "device" and cfg.metric != "euclidean":
        raise _fail("metric", cfg.metric, "euclidean with rng='device' (the device rewiring "
                    "step searches Euclidean neighbourhoods only; use rng='host' for eq3)")
    return cfg


# The experiment's own choices: make_config's arguments (the CLI's --profile, --objective, ...),
# never overrides, which would skip the profile's sizes (quick TRADES trains on fewer images).
EXPERIMENT = ("profile", "objective", "sparsity", "rewiring", "seed")


def make_config(profile: str = "quick", objective: str = "natural", sparsity: float = 0.99,
                rewiring: str = "random", seed: int = 0, **overrides: Any) -> Config:
    """The profile's configuration for one experiment, with optional overrides."""
    check_choice("profile", profile, PROFILES)
    values: dict[str, Any] = dict(_PROFILE_VALUES[profile])
    if objective == "trades":
        values.update(_TRADES_SIZES.get(profile, {}))
    values.update(profile=profile, objective=objective, sparsity=sparsity,
                  rewiring=rewiring, seed=seed)
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise ConfigError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    values.update(overrides)
    return validate(Config(**values))


def from_dict(values: dict[str, Any]) -> Config:
    """Rebuild a Config from ``Config.to_dict()`` output (e.g. a result.json)."""
    known = {f.name for f in dataclasses.fields(Config)}
    values = {**_LEGACY, **values}
    return validate(Config(**{k: v for k, v in values.items() if k in known}))

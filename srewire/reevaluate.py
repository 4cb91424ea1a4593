"""Evaluation of a finished run from its saved weights, without retraining.

:func:`load_model` gives back the trained network of a run folder (``result.json`` and
``weights.npz``, see :mod:`srewire.weightfiles`) in one call, in eval mode. :func:`evaluate_run`
attacks it again on the run's own test images and adds the numbers to the run's
``result.json``, keeping everything already there:

* ``attack="autoattack"`` — AutoAttack at the reference's standard budgets
  (:mod:`srewire.autoattack`), stored under ``"autoattack"``;
* ``attack="pgd"`` — the run's own PGD evaluation (:func:`srewire.attacks.robustness`, the
  settings of the run's config), stored under ``"pgd_from_weights"`` beside the
  ``"robustness"`` block written when the run finished.

The images attacked are the first ``images`` of the run's test set, the same images its PGD
evaluation attacked; by default the profile's ``n_robust`` (quick 500, long 1,000, smoke 64)
or, where that is unset (paper), all of the test set (10,000). ``result.json`` is re-read just
before it is written and replaced atomically (:mod:`srewire.files`), so a failed evaluation
leaves it as it was.
"""

from __future__ import annotations

import numbers
import os
import time
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .autoattack import STANDARD, Budget
from .config import Config, from_dict
from .files import atomic_write_json
from .models import VGG11

__all__ = ["ATTACKS", "load_model", "evaluate_run", "default_images", "run_config"]

#: The attacks :func:`evaluate_run` runs, and the key each one's numbers get in result.json.
ATTACKS: dict[str, str] = {"autoattack": "autoattack", "pgd": "pgd_from_weights"}


def _files(run_dir: str | os.PathLike) -> tuple[Path, Path]:
    from .runs import RESULT, WEIGHTS, RunError

    folder = Path(run_dir)
    if not folder.is_dir():
        raise RunError(f"run_dir: {folder} is not a folder")
    missing = [name for name in (RESULT, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise RunError(f"run_dir: {folder} has no {' and no '.join(missing)}; a run keeps its "
                       f"weights with save_weights=True (--set save_weights=True)")
    return folder / RESULT, folder / WEIGHTS


def run_config(run_dir: str | os.PathLike) -> tuple[Config, dict]:
    """The config and the stored result of the run in ``run_dir``."""
    from .runs import _read_result

    result_path, _ = _files(run_dir)
    result = _read_result(result_path)
    return from_dict(result["config"]), result


def load_model(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> VGG11:
    """The trained network of the run in ``run_dir``, exactly as saved, in eval mode on
    ``device``. Raises :class:`~srewire.runs.RunError` when the folder lacks ``result.json``
    or ``weights.npz``."""
    from .weightfiles import load_weights

    cfg, _ = run_config(run_dir)
    _, weights = _files(run_dir)
    return load_weights(weights, cfg).to(device).eval()


def default_images(cfg: Config, n_test: int) -> int:
    """How many test images an evaluation attacks by default: the profile's ``n_robust``,
    else all ``n_test`` test images."""
    return min(cfg.n_robust or n_test, n_test)


def _check_images(images: Any, n_test: int) -> int:
    from .runs import RunError

    if not (isinstance(images, numbers.Integral) and not isinstance(images, bool)
            and 1 <= images <= n_test):
        raise RunError(f"images must be an integer from 1 to {n_test} (the run's test "
                       f"images); got {images!r}")
    return int(images)


def evaluate_run(run_dir: str | os.PathLike, attack: str, *, images: int | None = None,
                 data_root: str | os.PathLike | None = None,
                 device: str | torch.device | None = None, quiet: bool = True,
                 budget: Budget = STANDARD) -> dict:
    """Attack the saved network of ``run_dir`` with ``attack`` (a key of :data:`ATTACKS`) on
    its first ``images`` test images and merge the numbers into its ``result.json``; returns
    the block written. ``budget`` sets AutoAttack's iterations and queries (default: the
    reference's standard; the block records the budget used).

    The test set is loaded as the run loaded it (same subset and seed) and must be the data
    the run was made from (by content hash). Raises :class:`~srewire.runs.RunError` or
    :class:`~srewire.data.DataError`, with nothing written, for a folder without weights or
    result, an unknown attack, a bad ``images`` or other data.
    """
    from .config import check_choice, ConfigError
    from .data import load_data
    from .runs import RunError, _git_commit, _pick_device, _recorded_data

    _git_commit()  # pin the provenance to the code as it is when the evaluation starts
    try:
        check_choice("attack", attack, tuple(ATTACKS))
    except ConfigError as exc:
        raise RunError(str(exc)) from None
    cfg, result = run_config(run_dir)
    n_test = cfg.n_test or 10_000
    if images is not None:
        _check_images(images, n_test)
    name, digest = _recorded_data(result)
    dev = _pick_device(device)
    data = load_data(data_root, n_train=cfg.n_train, n_test=cfg.n_test,
                     data_seed=cfg.data_seed, device=dev,
                     allow_synthetic=(name == "synthetic"))
    if (data.name, data.sha256) != (name, digest):
        raise RunError(f"the data found ({data.name}, sha256 {data.sha256[:12]}) is not the "
                       f"data the run in {run_dir} was made from ({name}, sha256 "
                       f"{str(digest)[:12]}); pass --data with the run's data")
    n = _check_images(default_images(cfg, len(data.x_test)) if images is None else images,
                      len(data.x_test))
    model = load_model(run_dir, dev)
    x, y = data.x_test[:n], data.y_test[:n]
    t0 = time.perf_counter()
    if attack == "autoattack":
        block = _autoattack_block(model, x, y, cfg, result, quiet, budget)
    else:
        block = _pgd_block(model, x, y, cfg, quiet)
    block["provenance"] = _provenance(dev, time.perf_counter() - t0)
    return _merge(Path(run_dir), ATTACKS[attack], block)


def _autoattack_block(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Config,
                      result: dict, quiet: bool, budget: Budget) -> dict:
    from .autoattack import autoattack

    def progress(name: str, n: int) -> None:
        if not quiet:
            print(f"{name}: attacking {n} images", flush=True)

    out = autoattack(model, x, y, eps=cfg.eval_eps, seed=cfg.seed, budget=budget,
                     batch_size=cfg.eval_batch_size, progress=progress).report
    pgd = result.get("robustness") or {}
    same = (pgd.get("attack") or {}).get("n_images") == len(x)
    out["checks"]["pgd_accuracy_same_images"] = pgd.get("robust_accuracy") if same else None
    out["checks"]["autoattack_le_pgd"] = (out["robust_accuracy"] <= pgd["robust_accuracy"]
                                          if same and pgd.get("robust_accuracy") is not None
                                          else None)
    return out


def _pgd_block(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Config,
               quiet: bool) -> dict:
    from .attacks import robustness
    from .runs import _bar

    return robustness(model, x, y, eps=cfg.eval_eps, steps=cfg.pgd_steps,
                      restarts=cfg.pgd_restarts, batch_size=cfg.eval_batch_size, seed=cfg.seed,
                      progress=_bar(quiet, "PGD"), rng=cfg.rng, precision=cfg.eval_precision)


def _provenance(device: torch.device, seconds: float) -> dict:
    from .runs import _device_name, _git_commit, _versions

    versions = _versions()
    try:
        import importlib.metadata as md

        versions["torchattacks"] = md.version("torchattacks")
    except Exception:  # noqa: BLE001 - not installed: recorded as absent
        versions["torchattacks"] = None
    return {"srewire": __version__, "git_commit": _git_commit(), "versions": versions,
            "device": _device_name(device), "wall_time_s": seconds,
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def _merge(folder: Path, key: str, block: dict) -> dict:
    """Re-read result.json, set ``key`` to ``block`` (numbers rounded as the run rounds them)
    and write it back atomically; returns the block as written."""
    from .runs import RESULT, _read_result, _round

    block = _round(block)
    current = _read_result(folder / RESULT)
    current[key] = block
    atomic_write_json(folder / RESULT, current)
    return block

"""One run = one training plus its evaluation, written as small result files; and the grid.

:func:`run` trains a sparse VGG11 with one rewiring strategy, evaluates it, and writes into
its output folder:

* ``result.json`` — config, accuracies, measured sparsity, zero fibres (per axis, global and
  per layer), the single-fibre-pruned numbers, per-epoch curves, rewiring statistics and
  provenance (code version, data identity); numbers rounded when written;
* ``masks.npz`` and, with ``save_weights``, ``weights.npz`` (see :mod:`srewire.weightfiles`);
* ``checkpoint.pt`` — written atomically after every epoch (not meant for git). An interrupted
  run (Ctrl-C, kill -9) started again with the same arguments resumes from it and, on a CPU,
  ends with the same results as an uninterrupted run.

A finished run is its own cache: the same config on the same data (by content hash) returns
the stored result. Every file is written atomically (:mod:`srewire.files`).

:func:`ensure_grid` runs the thesis's grid (99 % natural, 95 % natural, 95 % TRADES, each with
the three strategies) for a profile and seeds, skipping runs whose results exist;
:func:`load_results` reads exactly the runs of a requested grid.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from . import TRAINING_VERSION, __version__
from .attacks import accuracy, robustness
from .config import (DEFAULT_SEEDS, PROFILES, STRATEGIES, Config, check_choice, check_seeds,
                     from_dict, make_config)
from .data import CIFAR10_SHA256, Data, data_identity, load_data
from .files import atomic_write, atomic_write_json
from .metrics import fibre_report, single_fibre_prune, sparsity
from .models import VGG11, sparse_layers
from .placement import resolve_graphs, resolve_rng, tf32_settings
from .precision import precision_provenance, resolve_precision
from .rewiring import Rewirer
from .rng import make_generator
from .train import SGDW, TrainStep, TrainingDiverged, train_epoch
from .weightfiles import (ApproximateWeightsWarning, load_masks, load_weights, save_masks,
                          save_weights)

__all__ = ["run", "evaluate", "run_name", "tracked_steps", "GRID", "grid_configs", "ensure_grid",
           "load_results", "load_masks", "load_weights", "save_masks", "save_weights",
           "demo_model", "demo_summary", "headline", "grid_row", "missing_runs", "keeps_weights",
           "RunError"]

GRID: tuple[tuple[str, float], ...] = (("natural", 0.99), ("natural", 0.95), ("trades", 0.95))
STRATEGY_ORDER = STRATEGIES  # the old name of config.STRATEGIES, kept for imports
RESULT, CHECKPOINT, MASKS, WEIGHTS = "result.json", "checkpoint.pt", "masks.npz", "weights.npz"


class RunError(RuntimeError):
    """A run cannot start (bad output folder, conflicting checkpoint, missing data)."""


def run_name(cfg: Config) -> str:
    """Folder name of a run inside a profile's results folder."""
    return f"{cfg.objective}_s{cfg.sparsity:g}_{cfg.rewiring}_seed{cfg.seed}"


def grid_row(objective: str, sparsity: float) -> tuple[str, float]:
    """``(objective, sparsity)`` if it is a row of the thesis grid, else :class:`RunError`."""
    for row in GRID:
        if row[0] == objective and math.isclose(row[1], float(sparsity)):
            return row
    rows = ", ".join(f"{o} {s:g}" for o, s in GRID)
    raise RunError(f"{objective} at sparsity {sparsity!r} is not in the thesis grid "
                   f"(objective sparsity: {rows})")


# --------------------------------------------------------------------------------------------
# helpers: files, provenance
# --------------------------------------------------------------------------------------------

def _check_writable(out: Path) -> None:
    """Fail early, before anything is written, if ``out`` cannot become a run folder."""
    if out.exists() and not out.is_dir():
        raise RunError(f"out: {out} exists and is not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunError(f"out: cannot create {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunError(f"out: cannot write to {out} (no write permission on {parent})")


def _read_result(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path} cannot be read ({exc}); delete it, or rerun with --restart "
                       f"(grid: --force) to compute the run again") from None


def _round(obj: Any, digits: int = 3) -> Any:
    if isinstance(obj, float):
        return round(obj, digits) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _round(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v, digits) for v in obj]
    return obj


@lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """The commit of the code this process runs (read once, when the first run starts)."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=10)
        if out.returncode:
            return None
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "srewire": __version__}
    for pkg in ("torch", "torchvision", "numpy", "foolbox", "eagerpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


_VERSION_WARNING = {"given": False}  # one warning per process, however many results differ


def _warn_if_other_code(result: dict, where: Path) -> None:
    """Warn, once per process, when a stored result was made by another srewire version.

    The version is the code's identity here, not the git commit: committing a result makes a
    new commit, so a committed result always names an older one. Bump ``srewire.__version__``
    when a change alters what a run measures."""
    prov = result.get("provenance") or {}
    made = ((prov.get("versions") or {}).get("srewire"), prov.get("git_commit"))
    if made[0] == __version__ or _VERSION_WARNING["given"]:
        return
    _VERSION_WARNING["given"] = True
    warnings.warn(f"results such as {where} were made by srewire {made[0]} (commit {made[1]}); "
                  f"this is srewire {__version__}. Recompute them (grid --force) if the code "
                  f"changed what they measure", stacklevel=3)


def _recorded_data(result: dict) -> tuple[str | None, str | None]:
    """(name, sha256) of the data a stored result was made from. Results from before the
    hash was recorded say "cifar10" only, which the content check then guaranteed to be the
    official release."""
    prov = result.get("provenance") or {}
    name, digest = prov.get("data"), prov.get("data_sha256")
    if name == "cifar10" and digest is None:
        digest = CIFAR10_SHA256
    return name, digest


def _synthetic_allowed(cfg: Config, allow_synthetic: bool) -> bool:
    return allow_synthetic or cfg.profile == "smoke"


# --------------------------------------------------------------------------------------------
# the run, phase by phase
# --------------------------------------------------------------------------------------------

@dataclass
class _Training:
    """Everything a run's training loop reads and updates."""

    model: VGG11
    optimizer: SGDW
    rewirer: Rewirer
    generator: torch.Generator
    steps_per_epoch: int
    total_steps: int
    rng: str = "host"      # cfg.rng resolved on the run's device
    graphs: bool = False   # cfg.graphs resolved on the run's device
    state: dict[str, Any] = field(default_factory=lambda: {
        "epoch": 0, "curves": {"train_loss": [], "train_accuracy": [], "test_accuracy": []},
        "rewiring": {"revived": [], "died": [], "revived_then_died": [],
                     "revived_first_epoch": []},
        "best": {"accuracy": -1.0, "epoch": -1}, "elapsed": 0.0})
    best_model: dict | None = None


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _bar(quiet: bool, desc: str, leave: bool = False) -> Callable | None:
    if quiet:
        return None
    from tqdm.auto import tqdm

    return lambda it, total=None: tqdm(it, total=total, desc=desc, leave=leave)


def _cached(cfg: Config, out: Path, data_root: str | os.PathLike | None,
            allow_synthetic: bool) -> dict | None:
    """Phase 1: the stored result when ``out`` holds this run on this data, else None."""
    path = out / RESULT
    if not path.is_file():
        return None
    done = _read_result(path)
    if from_dict(done["config"]) != cfg:
        raise RunError(f"out: {out} already holds a finished run with a different config; "
                       f"use another folder or restart=True (--restart)")
    name, digest = _recorded_data(done)
    current = data_identity(data_root)  # None: no data here, the result stands as stored
    if current is not None and (name, digest) != current:
        raise RunError(f"out: {out} holds a result made from {name} data (sha256 "
                       f"{str(digest)[:12]}), but the data now is {current[0]} (sha256 "
                       f"{current[1][:12]}); rerun with restart=True (--restart, grid: "
                       f"--force) or use another folder")
    if name == "synthetic" and not _synthetic_allowed(cfg, allow_synthetic):
        raise RunError(f"out: {out} holds a {cfg.profile} result made from synthetic data; "
                       f"recompute it on CIFAR-10 (--restart) or pass allow_synthetic=True")
    _warn_if_other_code(done, path)
    return done


def _resume(ckpt_path: Path, cfg: Config, restart: bool) -> dict | None:
    """Phase 2: the checkpoint to resume from (None: start afresh)."""
    if restart or not ckpt_path.is_file():
        return None
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        same = from_dict(checkpoint["config"]) == cfg
    except Exception as exc:  # truncated, not a checkpoint, or refused by weights_only
        raise RunError(f"checkpoint {ckpt_path} cannot be read ({type(exc).__name__}); delete "
                       f"it or rerun with restart=True (--restart) to train from the start"
                       ) from None
    if not same:
        raise RunError(f"out: {ckpt_path.parent} holds a checkpoint of a different config; use "
                       f"another folder or restart=True (--restart)")
    return checkpoint


def _data(cfg: Config, data_root: str | os.PathLike | None, dev: torch.device,
          allow_synthetic: bool, checkpoint: dict | None) -> Data:
    """Phase 3: the verified dataset (the one a resumed checkpoint was trained on)."""
    data = load_data(data_root, n_train=cfg.n_train, n_test=cfg.n_test,
                     data_seed=cfg.data_seed, device=dev,
                     allow_synthetic=_synthetic_allowed(cfg, allow_synthetic))
    trained_on = (checkpoint or {}).get("data_sha256")
    if trained_on is not None and trained_on != data.sha256:
        raise RunError(f"checkpoint {CHECKPOINT} was trained on other data (sha256 "
                       f"{trained_on[:12]}) than {data.name} (sha256 {data.sha256[:12]}); "
                       f"rerun with restart=True (--restart)")
    return data


def _prepare_folder(out: Path, restart: bool) -> None:
    """Phase 4: the run folder, without any stale file of an earlier run when restarting."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"out: cannot create {out} ({exc.strerror})") from None
    if restart:
        for stale in (RESULT, MASKS, WEIGHTS, CHECKPOINT):
            (out / stale).unlink(missing_ok=True)


def _build(cfg: Config, dev: torch.device, n_train: int, checkpoint: dict | None) -> _Training:
    """Phase 5: model, optimiser, rewirer and batch generator, restored from ``checkpoint``."""
    model = VGG11(cfg.connectivity, head=cfg.head, width=cfg.width, seed=cfg.seed).to(dev)
    optimizer = SGDW(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                     weight_decay=cfg.weight_decay)
    rng = resolve_rng(cfg.rng, dev, cfg.metric)
    graphs = resolve_graphs(cfg.graphs, dev, rng, resolve_precision(cfg.precision, dev))
    rewirer = Rewirer(sparse_layers(model), cfg.connectivity, strategy=cfg.rewiring,
                      metric=cfg.metric, tie_break=cfg.tie_break, noise_std=cfg.noise_std,
                      epsilon=cfg.revive_value, reset_momentum=cfg.reset_momentum,
                      crossing="track", seed=cfg.seed, rng=rng,
                      initial_fill=cfg.initial_fill)
    generator = make_generator(cfg.seed + 1, dev, rng)
    steps_per_epoch = n_train // cfg.batch_size
    tr = _Training(model, optimizer, rewirer, generator, steps_per_epoch,
                   steps_per_epoch * cfg.epochs, rng, graphs)
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        rewirer.load_state_dict(checkpoint["rewirer"])
        generator.set_state(checkpoint["generator"])
        tr.state = checkpoint["state"]
        tr.best_model = checkpoint.get("best_model")
    return tr


def _record_epoch(tr: _Training, cfg: Config, epoch: int, stats: Any, test_acc: float) -> None:
    """Per-epoch curves and rewiring statistics."""
    curves, rw = tr.state["curves"], tr.state["rewiring"]
    curves["train_loss"].append(stats.loss)
    curves["train_accuracy"].append(stats.accuracy)
    curves["test_accuracy"].append(test_acc)
    if cfg.track_structure:
        curves.setdefault("zero_fibres_out", []).append(fibre_report(tr.model)["global"]["out"])
    rw["revived"].append(stats.revived)
    rw["died"].append(stats.died)
    rw["revived_then_died"].append(stats.revived_then_died)
    rw.setdefault("rewire_seconds", []).append(stats.rewire_seconds)
    rw.setdefault("step_seconds", []).append(stats.step_seconds)
    if epoch == 0:
        rw["revived_first_epoch"] = stats.revived_per_step


def _rewiring_path(rewirer: Rewirer) -> dict:
    """Which rewiring step ran how often, and what the device step could not do exactly."""
    steps = rewirer.steps
    out: dict[str, Any] = {"host_steps": rewirer._host_steps,
                           "device_steps": steps - rewirer._host_steps}
    if rewirer.device_step is not None:
        d = rewirer.device_step
        out["device_step"] = {"slots": d.slots,
                              **{k: int(getattr(d, k)) for k in ("fallbacks", "inexact",
                                                                 "overflow")},
                              "missed_crossings": rewirer.missed_crossings}
    return out


def tracked_steps(total_steps: int, per_decade: int = 8) -> list[int]:
    """The steps after which ``track_structure`` records the zero-fibre percentage: about
    ``per_decade`` steps per decade, evenly spaced on a logarithmic axis, and the last step
    (the epoch ends are recorded separately)."""
    steps, k = set(), 0
    while (s := round(10 ** (k / per_decade))) <= total_steps:
        steps.add(s)
        k += 1
    return sorted(steps | {total_steps})


def _structure_tracker(tr: _Training, cfg: Config) -> Callable[[int], None] | None:
    """``track_structure``: a callback that records the output-axis zero-fibre percentage
    against the run's rewiring steps (one per optimiser step) in the checkpointed state."""
    if not cfg.track_structure:
        return None
    wanted = set(tracked_steps(tr.total_steps))
    record = tr.state["curves"].setdefault("zero_fibres_out_by_step", {"step": [], "out": []})

    def after_step(n: int) -> None:
        if n in wanted and (not record["step"] or record["step"][-1] < n):
            record["step"].append(n)
            record["out"].append(fibre_report(tr.model)["global"]["out"])

    return after_step


def _keep_best(tr: _Training, cfg: Config, epoch: int, test_acc: float) -> None:
    """The model that ``checkpoint="best_clean"`` evaluates (the predecessor's choice)."""
    if cfg.checkpoint == "best_clean" and test_acc > tr.state["best"]["accuracy"]:
        tr.state["best"] = {"accuracy": test_acc, "epoch": epoch + 1}
        tr.best_model = {k: v.detach().cpu().clone() for k, v in tr.model.state_dict().items()}


def _save_checkpoint(tr: _Training, cfg: Config, data: Data, path: Path) -> None:
    snapshot = {"config": cfg.to_dict(), "model": tr.model.state_dict(),
                "optimizer": tr.optimizer.state_dict(), "rewirer": tr.rewirer.state_dict(),
                "generator": tr.generator.get_state(), "state": tr.state,
                "data_sha256": data.sha256}
    if tr.best_model is not None:
        snapshot["best_model"] = tr.best_model
    atomic_write(path, lambda f: torch.save(snapshot, f))


def _train(tr: _Training, cfg: Config, data: Data, out: Path, quiet: bool) -> None:
    """Phase 6: the remaining epochs, each ending with curves, best model and checkpoint."""
    # one step object for the whole run: an fp16 gradient scaler keeps its scale across epochs
    trainer = TrainStep(tr.model, tr.optimizer, tr.rewirer, cfg, generator=tr.generator,
                        graphs=tr.graphs)
    path = tr.state.setdefault("training_steps", {"eager": 0, "replayed": 0})
    t_train = time.perf_counter()
    epochs = range(tr.state["epoch"], cfg.epochs)
    tracker = _structure_tracker(tr, cfg)
    bar = _bar(quiet, "epochs", leave=True)
    for epoch in (bar(epochs, total=len(epochs)) if bar else epochs):
        try:
            stats = train_epoch(tr.model, tr.optimizer, tr.rewirer, data.x_train, data.y_train,
                                cfg, step=epoch * tr.steps_per_epoch,
                                total_steps=tr.total_steps, generator=tr.generator,
                                progress=_bar(quiet, f"epoch {epoch + 1}"),
                                trainer=trainer, after_step=tracker)
        except TrainingDiverged as exc:
            kept = (f"the last good checkpoint (after epoch {epoch}) is kept in {out}" if epoch
                    else "no epoch finished, so there is no last good checkpoint")
            raise TrainingDiverged(f"{exc}; {kept}; lower the learning rate") from None
        tr.rewirer.canonicalize()
        path["eager"] += trainer.eager_steps
        path["replayed"] += trainer.replayed_steps
        trainer.eager_steps = trainer.replayed_steps = 0
        test_acc = accuracy(tr.model, data.x_test, data.y_test, cfg.eval_batch_size)
        _record_epoch(tr, cfg, epoch, stats, test_acc)
        _keep_best(tr, cfg, epoch, test_acc)
        tr.state["epoch"] = epoch + 1
        tr.state["elapsed"] += time.perf_counter() - t_train
        t_train = time.perf_counter()
        _save_checkpoint(tr, cfg, data, out / CHECKPOINT)


def _final_evaluation(tr: _Training, cfg: Config, data: Data, quiet: bool) -> dict:
    """Phase 7: evaluate the chosen model (final or best clean) and add the run's curves."""
    if cfg.checkpoint == "best_clean" and tr.best_model is not None:
        tr.model.load_state_dict(tr.best_model)
    result = evaluate(tr.model, data.x_test, data.y_test, cfg, quiet=quiet)
    rw, n = tr.state["rewiring"], tr.steps_per_epoch
    revived_total = sum(rw["revived"])
    result.update({
        "curves": tr.state["curves"],
        "rewiring_stats": {
            "revived_per_step_mean": [r / n for r in rw["revived"]],
            "died_per_step_mean": [d / n for d in rw["died"]],
            "revived_then_died_rate": (sum(rw["revived_then_died"]) / revived_total
                                       if revived_total else 0.0),
            "revived_per_step_first_epoch": rw["revived_first_epoch"],
            "budget": tr.rewirer.budget,
            **_rewiring_path(tr.rewirer),
        },
        "checkpoint_used": ("best_clean (epoch %d)" % tr.state["best"]["epoch"]
                            if cfg.checkpoint == "best_clean" else "final"),
    })
    return result


def _provenance(tr: _Training, cfg: Config, data: Data, dev: torch.device,
                eval_seconds: float, session_seconds: float) -> dict:
    """Phase 8: where the result came from: code, versions, device, data, time."""
    rw, train_seconds = tr.state["rewiring"], tr.state["elapsed"]
    return {
        "git_commit": _git_commit(), "training_version": TRAINING_VERSION,
        "versions": _versions(), "device": _device_name(dev),
        "precision": precision_provenance(cfg.precision, cfg.eval_precision, dev),
        "seed": cfg.seed, "data": data.name, "data_sha256": data.sha256,
        "n_train": len(data.x_train), "n_test": len(data.x_test), "steps": tr.total_steps,
        "wall_time_s": {"train": train_seconds, "eval": eval_seconds,
                        "total": train_seconds + eval_seconds},
        "wall_time_this_session_s": session_seconds,
        "rewiring_share_of_step_time": (sum(rw["rewire_seconds"]) / sum(rw["step_seconds"])
                                        if rw.get("step_seconds") else None),
        "placement": {"rng": tr.rng, "graphs": tr.graphs,
                      "training_steps": tr.state.get("training_steps"),
                      "tf32": tf32_settings() if dev.type == "cuda" else None},
    }


def _write(out: Path, cfg: Config, model: torch.nn.Module, result: dict) -> dict:
    """Phase 9: masks, weights and, last, ``result.json`` (its presence means "finished")."""
    result = {"config": cfg.to_dict(), **_round(result)}
    save_masks(model, out / MASKS)
    if cfg.save_weights:
        save_weights(model, out / WEIGHTS)
    atomic_write_json(out / RESULT, result)
    return result


def run(config: Config, out: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
        device: str | torch.device | None = None, quiet: bool = False,
        restart: bool = False, allow_synthetic: bool = False) -> dict:
    """Train and evaluate one configuration; returns the result dictionary (also on disk).

    Returns the stored result when ``out`` holds this run, made from the same data; resumes
    from ``out/checkpoint.pt`` when present (same config required). ``restart`` deletes both
    first and trains from the start. Data marked synthetic is accepted on the smoke profile
    or with ``allow_synthetic``. Raises :class:`RunError`,
    :class:`~srewire.config.ConfigError` or :class:`~srewire.data.DataError` before writing
    anything when an argument is bad.
    """
    cfg = from_dict(config.to_dict())
    _git_commit()  # pin the provenance to the code as it was when the run started
    out, t_start = Path(out), time.perf_counter()
    _check_writable(out)
    dev = _pick_device(device)
    if not restart and (done := _cached(cfg, out, data_root, allow_synthetic)) is not None:
        return done
    if os.environ.get("SREWIRE_NO_TRAINING"):  # set by the nbval stage of scripts/test.sh
        raise RunError(f"no finished run in {out} and SREWIRE_NO_TRAINING is set: the "
                       f"committed results are incomplete; compute them with: python -m "
                       f"srewire grid --profile {cfg.profile} --seeds {cfg.seed}")
    checkpoint = _resume(out / CHECKPOINT, cfg, restart)
    data = _data(cfg, data_root, dev, allow_synthetic, checkpoint)
    _prepare_folder(out, restart)
    tr = _build(cfg, dev, len(data.x_train), checkpoint)
    _train(tr, cfg, data, out, quiet)
    t_eval = time.perf_counter()
    result = _final_evaluation(tr, cfg, data, quiet)
    result["provenance"] = _provenance(tr, cfg, data, dev, time.perf_counter() - t_eval,
                                       time.perf_counter() - t_start)
    return _write(out, cfg, tr.model, result)


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: Config, *,
             quiet: bool = True) -> dict:
    """Clean and (for TRADES runs) robust accuracy, sparsity, zero fibres, and the same after
    single-fibre pruning."""
    model.eval()
    out: dict[str, Any] = {"clean_accuracy": accuracy(model, x, y, cfg.eval_batch_size),
                           "robust_accuracy": None}
    if cfg.objective == "trades" or cfg.robust_for_natural:
        n = cfg.n_robust or len(x)
        rob = robustness(model, x[:n], y[:n], eps=cfg.eval_eps, steps=cfg.pgd_steps,
                         restarts=cfg.pgd_restarts, batch_size=cfg.eval_batch_size,
                         seed=cfg.seed, progress=_bar(quiet, "PGD"),
                         rng=resolve_rng(cfg.rng, x.device, cfg.metric),
                         precision=cfg.eval_precision)
        out["robust_accuracy"] = rob["robust_accuracy"]
        out["robustness"] = rob
    sp = sparsity(model)
    out["sparsity"] = {"global": sp["global"], "per_layer": sp["per_layer"],
                       "connections": sp["connections"]}
    out["zero_fibres"] = fibre_report(model)
    pruned = single_fibre_prune(model)
    pruned_sp = sparsity(pruned)
    out["pruned"] = {"clean_accuracy": accuracy(pruned, x, y, cfg.eval_batch_size),
                     "sparsity": pruned_sp["global"], "connections": pruned_sp["connections"],
                     "zero_fibres": fibre_report(pruned)}
    return out


# --------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------

def grid_configs(profile: str, seeds: Iterable[int] = (0,), **overrides: Any) -> list[Config]:
    """The thesis's grid for a profile: (99 % natural, 95 % natural, 95 % TRADES) x the three
    strategies, for every seed; the run that :func:`keeps_weights` saves its weights."""
    check_choice("profile", profile, PROFILES)
    out = []
    for seed in check_seeds(seeds):
        for objective, sparsity in GRID:
            for strategy in STRATEGIES:
                cfg = make_config(profile, objective, sparsity, strategy, seed, **overrides)
                if keeps_weights(cfg):
                    cfg = from_dict({**cfg.to_dict(), "save_weights": True})
                out.append(cfg)
    return out


def keeps_weights(cfg: Config) -> bool:
    """The grid keeps a compact copy of one model per seed it is made for, for the notebooks'
    demonstrations: the TRADES run with the predecessor's random rewiring, of seed 0 (the
    first of every profile's default seeds) and of any seed outside the profile's default
    seeds, so that a grid made for other seeds shows its own network. The default seeds
    after the first keep none (the committed results, ``tests/test_results.py``)."""
    defaults = DEFAULT_SEEDS[cfg.profile]
    return (cfg.objective == "trades" and cfg.rewiring == "random"
            and (cfg.seed == defaults[0] or cfg.seed not in defaults))


def ensure_grid(profile: str, seeds: Iterable[int] = (0,), *,
                results: str | os.PathLike = "results", data_root: str | None = None,
                force: bool = False, quiet: bool = True, device: str | None = None,
                allow_synthetic: bool = False,
                log: Callable[[str], None] | None = None) -> list[dict]:
    """Run every missing run of the grid (all of them with ``force``); return all results."""
    out = []
    for cfg in grid_configs(profile, seeds):
        folder = Path(results) / profile / run_name(cfg)
        if log and (force or not (folder / RESULT).is_file()):
            log(f"run {profile}/{run_name(cfg)}")
        out.append(run(cfg, folder, data_root=data_root, quiet=quiet, restart=force,
                       device=device, allow_synthetic=allow_synthetic))
    return out


def _refuse_synthetic(result: dict, where: Path) -> None:
    """The book shows quick and paper results made from CIFAR-10 only."""
    profile = result["config"]["profile"]
    if profile != "smoke" and _recorded_data(result)[0] != "cifar10":
        raise RunError(f"{where} is a {profile} result made from "
                       f"{_recorded_data(result)[0]} data, not CIFAR-10; the book renders "
                       f"{profile} results of CIFAR-10 only. Recompute it on CIFAR-10: python "
                       f"-m srewire grid --profile {profile} --force --data DIR")


def load_results(results: str | os.PathLike = "results", profile: str = "quick",
                 seeds: Iterable[int] | None = None, *,
                 rows: Iterable[tuple[str, float]] = GRID,
                 allow_synthetic: bool = False) -> list[dict]:
    """The stored results of the requested grid, in grid order: ``rows`` (objective,
    sparsity) of the thesis grid x the three strategies x ``seeds`` (None: the profile's
    :data:`~srewire.config.DEFAULT_SEEDS`). Other folders are ignored, missing runs left out
    (:func:`srewire.report.load_grid` reports them). A stored run whose config is not the
    grid's raises :class:`RunError`, as does a quick or paper result not made from CIFAR-10.
    Warns once when the results were made by other code than this."""
    check_choice("profile", profile, PROFILES)
    seeds = check_seeds(DEFAULT_SEEDS[profile] if seeds is None else seeds)
    wanted = {grid_row(o, s) for o, s in rows}
    out = []
    for cfg in grid_configs(profile, seeds):
        if (cfg.objective, cfg.sparsity) not in wanted:
            continue
        path = Path(results) / profile / run_name(cfg) / RESULT
        if not path.is_file():
            continue
        result = _read_result(path)
        if from_dict(result["config"]) != cfg:
            raise RunError(f"{path} holds a run with another config than the {profile} grid's; "
                           f"recompute it: python -m srewire grid --profile {profile} --force")
        if not allow_synthetic:  # (tests of the rendering, on fabricated results, only)
            _refuse_synthetic(result, path)
        _warn_if_other_code(result, path)
        out.append(result)
    return out


def missing_runs(results: str | os.PathLike, profile: str, seeds: Iterable[int]) -> list[str]:
    """Names of the grid's runs that have no ``result.json`` under ``results/profile``."""
    return [run_name(cfg) for cfg in grid_configs(profile, seeds)
            if not (Path(results) / profile / run_name(cfg) / RESULT).is_file()]


def demo_model(results_dir: str | os.PathLike = "results", profile: str = "quick",
               seed: int = 0) -> tuple[VGG11, dict]:
    """The grid's demonstration model of ``seed`` (the 95 % TRADES network with random
    rewiring, Thesis §4.3; see :func:`keeps_weights`) and its result.

    A weights file of the first (float16) format reloads approximately; instead of a warning
    on stderr, its note is returned in the result as ``"weights_note"`` (None for an exact
    file), for the page to say in words."""
    cfg = from_dict({**make_config(profile, "trades", 0.95, "random", seed).to_dict(),
                     "save_weights": True})
    folder = Path(results_dir) / profile / run_name(cfg)
    if not (folder / WEIGHTS).is_file():
        raise RunError(f"no demonstration weights of seed {seed} in {folder}: the {profile} "
                       f"grid of seed {seed} keeps them (runs.keeps_weights); make it first: "
                       f"python -m srewire grid --profile {profile} --seeds {seed} "
                       f"--results {results_dir}")
    result = _read_result(folder / RESULT)
    _refuse_synthetic(result, folder / RESULT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ApproximateWeightsWarning)
        model = load_weights(folder / WEIGHTS, from_dict(result["config"]))
    notes = []
    for w in caught:  # only the format note is handled here; anything else is passed on
        if issubclass(w.category, ApproximateWeightsWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return model, {**result, "weights_note": " ".join(notes) or None}


def demo_summary(result: dict) -> str:
    """The demonstration model of :func:`demo_model` in a line (its weights note, where its
    file reloads only approximately, on a second)."""
    cfg = result["config"]
    line = (f"model: VGG11, {100 * cfg['sparsity']:g} % sparse, trained with TRADES "
            f"({cfg['profile']} profile, seed {cfg['seed']}); "
            f"clean accuracy {result['clean_accuracy']:.2f} %, "
            f"PGD accuracy {result['robust_accuracy']:.2f} %")
    return line + (f"\nnote: {result['weights_note']}" if result.get("weights_note") else "")


def headline(results_dir: str | os.PathLike, profile: str, run: str) -> str:
    """The headline numbers of one run, read from ``results_dir/profile/run/result.json``,
    one to a line: the run, its clean accuracy, its robust accuracy ("not measured" for a
    natural run), its sparsity and its zero fibres along the output axis (Thesis §4.1); where
    the run has no result yet, how to make it."""
    path = Path(results_dir, profile, run, RESULT)
    if not path.is_file():
        return (f"No result for {profile}/{run} in {results_dir} yet. Make it with\n"
                f"    python -m srewire grid --profile {profile} --results {results_dir}")
    result = _read_result(path)
    robust = result["robust_accuracy"]
    return (f"run {profile}/{run}\n"
            f"clean accuracy:        {result['clean_accuracy']} %\n"
            f"robust accuracy:       {'not measured' if robust is None else f'{robust} %'}\n"
            f"sparsity:              {result['sparsity']['global']}\n"
            f"zero fibres (out):     {result['zero_fibres']['global']['out']} %")

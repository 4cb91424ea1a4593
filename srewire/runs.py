"""One run = one training plus its evaluation, written as small result files; and the grid.

:func:`run` trains a sparse VGG11 with one rewiring strategy, evaluates it, and writes into
its output folder:

* ``result.json`` — config, accuracies, measured sparsity, zero fibres (per axis, global and
  per layer), the single-fibre-pruned numbers, per-epoch curves, rewiring statistics and
  provenance; numbers rounded when written;
* ``masks.npz`` — the final connectivity of every sparse layer, bit-packed and compressed;
* ``weights.npz`` (with ``save_weights``) — a compact float16 copy of the trained weights;
* ``checkpoint.pt`` — written atomically after every epoch (not meant for git). An interrupted
  run (Ctrl-C, kill -9) started again with the same arguments resumes from it and, on a CPU,
  ends with the same results as an uninterrupted run.

:func:`ensure_grid` runs the thesis's grid (99 % natural, 95 % natural, 95 % TRADES, each with
the three strategies) for a profile and seeds, skipping runs whose results exist.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import torch

from . import __version__
from .attacks import accuracy, robustness
from .config import Config, from_dict, make_config
from .data import load_data
from .metrics import fibre_report, single_fibre_prune, sparsity
from .models import VGG11, layer_names, sparse_layers
from .rewiring import Rewirer
from .rng import make_generator
from .train import SGDW, TrainingDiverged, train_epoch

__all__ = ["run", "evaluate", "run_name", "GRID", "grid_configs", "ensure_grid",
           "load_results", "load_masks", "load_weights", "demo_model", "RunError"]

GRID: tuple[tuple[str, float], ...] = (("natural", 0.99), ("natural", 0.95), ("trades", 0.95))
STRATEGY_ORDER = ("random", "structured", "weight_based")
RESULT, CHECKPOINT, MASKS, WEIGHTS = "result.json", "checkpoint.pt", "masks.npz", "weights.npz"


class RunError(RuntimeError):
    """A run cannot start (bad output folder, conflicting checkpoint, missing data)."""


def run_name(cfg: Config) -> str:
    """Folder name of a run inside a profile's results folder."""
    return f"{cfg.objective}_s{cfg.sparsity:g}_{cfg.rewiring}_seed{cfg.seed}"


# --------------------------------------------------------------------------------------------
# helpers: files
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


def _atomic_write_bytes(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, lambda p: p.write_text(json.dumps(obj, indent=1) + "\n"))


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


def save_masks(model: torch.nn.Module, path: Path) -> None:
    """Bit-packed, compressed connectivity of every sparse layer."""
    arrays = {}
    for name, layer in zip(layer_names(model), sparse_layers(model)):
        mask = layer.connected().cpu().numpy()
        arrays[name] = np.packbits(mask.reshape(-1))
        arrays[name + "_shape"] = np.array(mask.shape)
    _atomic_write_bytes(path, lambda p: np.savez_compressed(open(p, "wb"), **arrays))


def load_masks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{layer name: bool array in PyTorch layout} from a ``masks.npz``."""
    with np.load(path, allow_pickle=False) as z:
        names = [k for k in z.files if not k.endswith("_shape")]
        out = {}
        for name in names:
            shape = tuple(z[name + "_shape"])
            out[name] = np.unpackbits(z[name], count=math.prod(shape)).astype(bool).reshape(shape)
    return out


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Compact weights: for sparse layers the connectivity bits and float16 sign * theta of
    the connected coordinates; every other parameter and buffer as float32."""
    arrays: dict[str, np.ndarray] = {}
    sparse = {id(layer) for layer in sparse_layers(model)}
    for name, module in model.named_modules():
        if id(module) in sparse:
            mask = module.connected().reshape(-1)
            w = module.weight().detach().reshape(-1)[mask]
            arrays[f"{name}.mask"] = np.packbits(mask.cpu().numpy())
            arrays[f"{name}.values"] = w.cpu().numpy().astype(np.float16)
    for key, value in model.state_dict().items():
        if key.endswith(".theta") or key.endswith(".sign"):
            continue
        arrays[key] = value.cpu().numpy()
    _atomic_write_bytes(path, lambda p: np.savez_compressed(open(p, "wb"), **arrays))


def load_weights(path: str | os.PathLike, config: Config) -> VGG11:
    """A VGG11 rebuilt from ``save_weights`` output (float16-rounded weights, eval mode)."""
    model = VGG11(config.connectivity, head=config.head, width=config.width, seed=config.seed)
    state = model.state_dict()
    sparse = {name: m for name, m in model.named_modules() if m in sparse_layers(model)}
    with np.load(path, allow_pickle=False) as z:
        for key in state:
            if key in z.files:
                state[key] = torch.from_numpy(z[key]).reshape(state[key].shape)
        for name, layer in sparse.items():
            n = layer.size
            mask = torch.from_numpy(np.unpackbits(z[f"{name}.mask"], count=n).astype(bool))
            values = torch.from_numpy(z[f"{name}.values"].astype(np.float32))
            theta = torch.zeros(n)
            sign = state[f"{name}.sign"].reshape(-1).clone()
            theta[mask] = values.abs()
            sign[mask] = torch.where(values >= 0, 1.0, -1.0)
            state[f"{name}.theta"] = theta.reshape(layer.theta.shape)
            state[f"{name}.sign"] = sign.reshape(layer.theta.shape)
    model.load_state_dict(state)
    return model.eval()


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------

def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _bar(quiet: bool, desc: str, leave: bool = False) -> Callable | None:
    if quiet:
        return None
    from tqdm.auto import tqdm

    return lambda it, total=None: tqdm(it, total=total, desc=desc, leave=leave)


def run(config: Config, out: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
        device: str | torch.device | None = None, quiet: bool = False,
        restart: bool = False) -> dict:
    """Train and evaluate one configuration; returns the result dictionary (also on disk).

    Resumes from ``out/checkpoint.pt`` when present (same config required) and returns the
    existing result when the run has finished, unless ``restart`` is set.
    Raises :class:`RunError`, :class:`ConfigError` or :class:`DataError` before writing
    anything when an argument is bad.
    """
    cfg = from_dict(config.to_dict()) if isinstance(config, Config) else config
    _git_commit()  # pin the provenance to the code as it was when the run started
    out = Path(out)
    _check_writable(out)
    dev = _pick_device(device)
    ckpt_path, result_path = out / CHECKPOINT, out / RESULT
    if not restart and result_path.is_file():
        done = json.loads(result_path.read_text())
        if from_dict(done["config"]) == cfg:
            return done
        raise RunError(f"out: {out} already holds a finished run with a different config; "
                       f"use another folder or restart=True (--restart)")
    if os.environ.get("SREWIRE_NO_TRAINING"):  # set by the nbval stage of scripts/test.sh
        raise RunError(f"no finished run in {out} and SREWIRE_NO_TRAINING is set: the "
                       f"committed results are incomplete; compute them with: python -m "
                       f"srewire grid --profile {cfg.profile} --seeds {cfg.seed}")
    checkpoint = None
    if ckpt_path.is_file() and not restart:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if from_dict(checkpoint["config"]) != cfg:
            raise RunError(f"out: {out} holds a checkpoint of a different config; use another "
                           f"folder or restart=True (--restart)")
    data = load_data(data_root, n_train=cfg.n_train, n_test=cfg.n_test,
                     data_seed=cfg.data_seed, device=dev)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"out: cannot create {out} ({exc.strerror})") from None
    for stale in (result_path, out / MASKS, out / WEIGHTS):
        if restart and stale.exists():
            stale.unlink()

    t_start = time.perf_counter()
    model = VGG11(cfg.connectivity, head=cfg.head, width=cfg.width, seed=cfg.seed).to(dev)
    optimizer = SGDW(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                     weight_decay=cfg.weight_decay)
    rewirer = Rewirer(sparse_layers(model), cfg.connectivity, strategy=cfg.rewiring,
                      metric=cfg.metric, tie_break=cfg.tie_break, noise_std=cfg.noise_std,
                      epsilon=cfg.revive_value, reset_momentum=cfg.reset_momentum,
                      crossing="track", seed=cfg.seed, rng=cfg.rng)
    generator = make_generator(cfg.seed + 1, dev, cfg.rng)
    steps_per_epoch = len(data.x_train) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    state: dict[str, Any] = {"epoch": 0, "curves": {"train_loss": [], "train_accuracy": [],
                                                      "test_accuracy": []},
                             "rewiring": {"revived": [], "died": [], "revived_then_died": [],
                                          "revived_first_epoch": []},
                             "best": {"accuracy": -1.0, "epoch": -1}, "elapsed": 0.0}
    best_model: dict | None = None
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        rewirer.load_state_dict(checkpoint["rewirer"])
        generator.set_state(checkpoint["generator"])
        state = checkpoint["state"]
        best_model = checkpoint.get("best_model")
    t_train = time.perf_counter()
    epochs = range(state["epoch"], cfg.epochs)
    bar = _bar(quiet, "epochs", leave=True)
    for epoch in (bar(epochs, total=len(epochs)) if bar else epochs):
        try:
            stats = train_epoch(model, optimizer, rewirer, data.x_train, data.y_train, cfg,
                                step=epoch * steps_per_epoch, total_steps=total_steps,
                                generator=generator, progress=_bar(quiet, f"epoch {epoch + 1}"))
        except TrainingDiverged as exc:
            kept = (f"the last good checkpoint (after epoch {epoch}) is kept in {out}" if epoch
                    else "no epoch finished, so there is no last good checkpoint")
            raise TrainingDiverged(f"{exc}; {kept}; lower the learning rate") from None
        rewirer.canonicalize()
        test_acc = accuracy(model, data.x_test, data.y_test, cfg.eval_batch_size)
        curves, rw = state["curves"], state["rewiring"]
        curves["train_loss"].append(stats.loss)
        curves["train_accuracy"].append(stats.accuracy)
        curves["test_accuracy"].append(test_acc)
        if cfg.track_structure:
            curves.setdefault("zero_fibres_out", []).append(fibre_report(model)["global"]["out"])
        rw["revived"].append(stats.revived)
        rw["died"].append(stats.died)
        rw["revived_then_died"].append(stats.revived_then_died)
        rw.setdefault("rewire_seconds", []).append(stats.rewire_seconds)
        rw.setdefault("step_seconds", []).append(stats.step_seconds)
        if epoch == 0:
            rw["revived_first_epoch"] = stats.revived_per_step
        if cfg.checkpoint == "best_clean" and test_acc > state["best"]["accuracy"]:
            state["best"] = {"accuracy": test_acc, "epoch": epoch + 1}
            best_model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state["epoch"] = epoch + 1
        state["elapsed"] += time.perf_counter() - t_train
        t_train = time.perf_counter()
        snapshot = {"config": cfg.to_dict(), "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "rewirer": rewirer.state_dict(),
                    "generator": generator.get_state(), "state": state}
        if best_model is not None:
            snapshot["best_model"] = best_model
        _atomic_write_bytes(ckpt_path, lambda p: torch.save(snapshot, p))
    train_seconds = state["elapsed"]

    t_eval = time.perf_counter()
    if cfg.checkpoint == "best_clean" and best_model is not None:
        model.load_state_dict(best_model)
    result = evaluate(model, data.x_test, data.y_test, cfg, quiet=quiet)
    eval_seconds = time.perf_counter() - t_eval
    rw = state["rewiring"]
    revived_total = sum(rw["revived"])
    result.update({
        "curves": state["curves"],
        "rewiring_stats": {
            "revived_per_step_mean": [r / steps_per_epoch for r in rw["revived"]],
            "died_per_step_mean": [d / steps_per_epoch for d in rw["died"]],
            "revived_then_died_rate": (sum(rw["revived_then_died"]) / revived_total
                                       if revived_total else 0.0),
            "revived_per_step_first_epoch": rw["revived_first_epoch"],
            "budget": rewirer.budget,
        },
        "checkpoint_used": ("best_clean (epoch %d)" % state["best"]["epoch"]
                            if cfg.checkpoint == "best_clean" else "final"),
        "provenance": {
            "git_commit": _git_commit(), "versions": _versions(), "device": _device_name(dev),
            "seed": cfg.seed, "data": data.name, "n_train": len(data.x_train),
            "n_test": len(data.x_test), "steps": total_steps,
            "wall_time_s": {"train": train_seconds, "eval": eval_seconds,
                            "total": train_seconds + eval_seconds},
            "wall_time_this_session_s": time.perf_counter() - t_start,
            "rewiring_share_of_step_time": (sum(rw["rewire_seconds"]) / sum(rw["step_seconds"])
                                            if rw.get("step_seconds") else None),
        },
    })
    result = {"config": cfg.to_dict(), **_round(result)}
    save_masks(model, out / MASKS)
    if cfg.save_weights:
        save_weights(model, out / WEIGHTS)
    _write_json(result_path, result)
    return result


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
                         seed=cfg.seed, progress=_bar(quiet, "PGD"), rng=cfg.rng)
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

def grid_configs(profile: str, seeds: list[int] | tuple[int, ...] = (0,),
                 **overrides: Any) -> list[Config]:
    """The thesis's grid for a profile: (99 % natural, 95 % natural, 95 % TRADES) x the three
    strategies, for every seed."""
    return [make_config(profile, objective, sparsity, strategy, seed, **overrides)
            for seed in seeds for objective, sparsity in GRID for strategy in STRATEGY_ORDER]


def keeps_weights(cfg: Config) -> bool:
    """The grid keeps a compact copy of one model, for the notebooks' demonstrations: the
    first seed's TRADES run with the predecessor's random rewiring."""
    return cfg.objective == "trades" and cfg.rewiring == "random" and cfg.seed == 0


def ensure_grid(profile: str, seeds: list[int] | tuple[int, ...] = (0,), *,
                results: str | os.PathLike = "results", data_root: str | None = None,
                force: bool = False, quiet: bool = True, device: str | None = None,
                log: Callable[[str], None] | None = None) -> list[dict]:
    """Run every missing run of the grid (all of them with ``force``); return all results."""
    out = []
    for cfg in grid_configs(profile, seeds):
        if keeps_weights(cfg):
            cfg = from_dict({**cfg.to_dict(), "save_weights": True})
        folder = Path(results) / profile / run_name(cfg)
        if log and (force or not (folder / RESULT).is_file()):
            log(f"run {profile}/{run_name(cfg)}")
        out.append(run(cfg, folder, data_root=data_root, quiet=quiet, restart=force,
                       device=device))
    return out


def load_results(results: str | os.PathLike = "results", profile: str = "quick") -> list[dict]:
    """Every ``result.json`` under ``results/profile``, sorted by grid order and seed."""
    files = sorted((Path(results) / profile).glob(f"*/{RESULT}"))
    rows = [json.loads(f.read_text()) for f in files]
    order = {(o, s): i for i, (o, s) in enumerate(GRID)}

    def key(r: dict) -> tuple:
        c = r["config"]
        return (order.get((c["objective"], c["sparsity"]), 99),
                STRATEGY_ORDER.index(c["rewiring"]), c["seed"])

    return sorted(rows, key=key)


def demo_model(results_dir: str | os.PathLike = "results", profile: str = "quick"
               ) -> tuple[VGG11, dict]:
    """The grid's demonstration model (see :func:`keeps_weights`) and its result."""
    cfg = from_dict({**make_config(profile, "trades", 0.95, "random", 0).to_dict(),
                     "save_weights": True})
    folder = Path(results_dir) / profile / run_name(cfg)
    if not (folder / WEIGHTS).is_file():
        raise RunError(f"no demonstration weights in {folder}; run the grid first: "
                       f"python -m srewire grid --profile {profile} --results {results_dir}")
    result = json.loads((folder / RESULT).read_text())
    return load_weights(folder / WEIGHTS, from_dict(result["config"])), result

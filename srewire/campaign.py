"""A campaign: the missing runs of a profile's grid, run whole, in GPU windows or on a cluster.

``python -m srewire campaign --profile paper`` runs every run of the thesis grid that has no
``result.json`` yet under ``results/<profile>/<run_name>/`` and skips the finished ones, in the
thesis's headline order: 99 % natural (the three strategies), then 95 % natural, then 95 %
TRADES (``srewire.runs.GRID``), seed by seed. A run is never cut: it either starts and
finishes, or it does not start.

* ``--minutes M`` starts no run whose projected time does not fit in what is left of ``M``
  minutes. The projection comes from the wall times recorded in finished runs of the same
  profile, objective and device (``provenance.wall_time_s``), or else from a warm-up: two tiny
  runs of the real code (a few training steps and a one- and a three-step attack) whose
  difference gives the time per training step and per attack step, projected to the run's
  steps and evaluation (:func:`warm_up`).
* ``--concurrent K`` runs K runs side by side on one device, as separate processes, when a
  measurement says that is faster than one after the other (:func:`measure_concurrency`).
* ``--executor`` dispatches runs: ``inline`` in this process, ``local`` through
  ``submitit.LocalExecutor`` (one process per run), ``slurm`` through submitit's SLURM
  executor (one job per run; the command returns once they are submitted).
* ``--pack FILE`` writes the profile's finished runs into one archive (:mod:`srewire.archive`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import Config, from_dict

__all__ = ["EXECUTORS", "Estimate", "CampaignError", "grid_runs", "pending_runs",
           "recorded_seconds", "warm_up", "project", "startup_seconds", "estimate",
           "measure_concurrency", "make_executor", "campaign", "main"]

EXECUTORS = ("inline", "local", "slurm")
MARGIN = 1.1  # projected times are stretched by this factor before they are compared


class CampaignError(RuntimeError):
    """A campaign cannot start (bad option combination, no SLURM, ...)."""


@dataclass(frozen=True)
class Estimate:
    """Projected wall time of one run and where the projection came from."""

    seconds: float
    source: str


# --------------------------------------------------------------------------------------------
# which runs, in which order
# --------------------------------------------------------------------------------------------

def grid_runs(profile: str, seeds: tuple[int, ...] | list[int]) -> list[Config]:
    """The grid of a profile in headline order (seed by seed: 99 % natural, 95 % natural,
    95 % TRADES; random, structured, weight-based), with the demonstration model's weights
    kept as :func:`srewire.runs.ensure_grid` keeps them."""
    from .runs import grid_configs, keeps_weights

    return [from_dict({**c.to_dict(), "save_weights": True}) if keeps_weights(c) else c
            for c in grid_configs(profile, seeds)]


def run_folder(results: str | os.PathLike, cfg: Config) -> Path:
    from .runs import run_name

    return Path(results) / cfg.profile / run_name(cfg)


def pending_runs(profile: str, seeds: tuple[int, ...] | list[int],
                 results: str | os.PathLike = "results", force: bool = False) -> list[Config]:
    """The grid's runs without a ``result.json`` (all of them with ``force``), in order."""
    return [c for c in grid_runs(profile, seeds)
            if force or not (run_folder(results, c) / "result.json").is_file()]


# --------------------------------------------------------------------------------------------
# how long a run takes
# --------------------------------------------------------------------------------------------

def device_name(device: str | None) -> str:
    """The name a run records in ``provenance.device`` for ``device`` (None: auto)."""
    from .runs import _device_name, _pick_device

    return _device_name(_pick_device(device))


def recorded_seconds(results: str | os.PathLike, profile: str, objective: str,
                     device: str) -> list[float]:
    """``wall_time_s.total`` of every finished run of this profile and objective that was
    recorded on the device named ``device``."""
    out = []
    for path in sorted((Path(results) / profile).glob("*/result.json")):
        try:
            r = json.loads(path.read_text())
            if (r["config"]["objective"] == objective and r["config"]["profile"] == profile
                    and r["provenance"]["device"] == device):
                out.append(float(r["provenance"]["wall_time_s"]["total"]))
        except (ValueError, KeyError, TypeError):
            continue  # an unreadable or older result says nothing about the time
    return out


def _steps(cfg: Config) -> int:
    n_train = cfg.n_train or 50_000
    return (n_train // cfg.batch_size) * cfg.epochs


def _tiny(cfg: Config, steps: int, attack_steps: int) -> Config:
    """The run ``cfg`` cut to ``steps`` training steps, one epoch and an attack of
    ``attack_steps`` steps x 1 restart on one evaluation batch."""
    n_robust = min(cfg.eval_batch_size, cfg.n_robust or cfg.n_test or 10_000)
    return from_dict({**cfg.to_dict(), "n_train": cfg.batch_size * steps, "epochs": 1,
                      "pgd_steps": attack_steps, "pgd_restarts": 1, "n_robust": n_robust,
                      "save_weights": False})


def _timed_run(cfg: Config, data_root: str | None, device: str | None) -> tuple[float, dict]:
    from .runs import run

    with tempfile.TemporaryDirectory(prefix="srewire-warmup-") as tmp:
        t = time.perf_counter()
        result = run(cfg, Path(tmp) / "run", data_root=data_root, device=device, quiet=True)
        return time.perf_counter() - t, result["provenance"]["wall_time_s"]


def warm_up(cfg: Config, *, data_root: str | None = None, device: str | None = None,
            steps: int = 8) -> Estimate:
    """Project the wall time of run ``cfg`` from two tiny runs of the same configuration.

    Run A trains 2 steps and attacks with 1 PGD step, run B trains ``2 + steps`` steps and
    attacks with 3; B - A gives the seconds per training step and per attack step (one-off
    costs such as the first step's set-up cancel). The projection: training steps x step time,
    plus each epoch's test pass, plus the evaluation with its full attack budget, plus the
    measured start-up (data loading, model building), times ``MARGIN``.
    """
    if steps < 1:
        raise CampaignError(f"warm-up steps must be at least 1; got {steps}")
    call_a, wall_a = _timed_run(_tiny(cfg, 2, 1), data_root, device)
    _, wall_b = _timed_run(_tiny(cfg, 2 + steps, 3), data_root, device)
    return project(cfg, wall_a, wall_b, steps, startup=max(call_a - wall_a["total"], 0.0))


def project(cfg: Config, wall_a: dict, wall_b: dict, steps: int, startup: float) -> Estimate:
    """The projection of :func:`warm_up` from the ``wall_time_s`` of its two tiny runs (A: 2
    training steps, a 1-step attack; B: ``2 + steps`` steps, a 3-step attack)."""
    per_step = max((wall_b["train"] - wall_a["train"]) / steps, 0.0) \
        or wall_b["train"] / (2 + steps)
    epoch_fixed = max(wall_a["train"] - 2 * per_step, 0.0)  # test pass and one-off costs
    train = per_step * _steps(cfg) + epoch_fixed * cfg.epochs
    if cfg.objective == "trades" or cfg.robust_for_natural:
        per_attack_step = max((wall_b["eval"] - wall_a["eval"]) / 2, 0.0)
        n_small = _tiny(cfg, 1, 1).n_robust
        n_full = cfg.n_robust or cfg.n_test or 10_000
        evaluation = (wall_a["eval"] + per_attack_step * (cfg.pgd_steps * cfg.pgd_restarts - 1)
                      ) * (n_full / n_small)
    else:
        evaluation = wall_a["eval"]
    seconds = (train + evaluation + startup) * MARGIN
    return Estimate(seconds, f"warm-up: {per_step:.4f} s/step x {_steps(cfg)} steps, "
                             f"{epoch_fixed:.2f} s/epoch, evaluation {evaluation:.1f} s, "
                             f"start-up {startup:.1f} s, x{MARGIN}")


def startup_seconds(cfg: Config, *, data_root: str | None = None,
                    device: str | None = None) -> float:
    """Seconds a run spends before its first step that its recorded wall time leaves out:
    loading and checking the data (measured once here)."""
    from .data import load_data

    t = time.perf_counter()
    load_data(data_root, n_train=cfg.n_train, n_test=cfg.n_test, data_seed=cfg.data_seed,
              device=device or "cpu", allow_synthetic=cfg.profile == "smoke")  # as runs.run
    return time.perf_counter() - t


def estimate(cfg: Config, *, results: str | os.PathLike = "results",
             data_root: str | None = None, device: str | None = None, steps: int = 8,
             cache: dict | None = None) -> Estimate:
    """The projected wall time of ``cfg``, from the first source that has one:

    1. the longest run of the same profile and objective finished earlier in this campaign
       (whole-call times, kept in ``cache["observed"]``);
    2. the longest recorded ``wall_time_s.total`` of finished runs of the same profile,
       objective and device, plus the measured data loading (:func:`startup_seconds`);
    3. a :func:`warm_up` (one per profile, objective and device, kept in ``cache``).
    """
    cache = {} if cache is None else cache
    observed = cache.setdefault("observed", {}).get((cfg.profile, cfg.objective), [])
    if observed:
        return Estimate(max(observed) * MARGIN, f"measured: longest of {len(observed)} "
                                                f"{cfg.objective} run(s) of this campaign, "
                                                f"x{MARGIN}")
    name = device_name(device)
    recorded = recorded_seconds(results, cfg.profile, cfg.objective, name)
    if recorded:
        key = ("startup", cfg.profile, cfg.objective)
        if key not in cache:
            cache[key] = startup_seconds(cfg, data_root=data_root, device=device)
        return Estimate((max(recorded) + cache[key]) * MARGIN,
                        f"recorded: longest of {len(recorded)} {cfg.objective} run(s) on "
                        f"{name} + {cache[key]:.1f} s data loading, x{MARGIN}")
    key = ("warm-up", cfg.profile, cfg.objective, name)
    if key not in cache:
        cache[key] = warm_up(cfg, data_root=data_root, device=device, steps=steps)
    return cache[key]


# --------------------------------------------------------------------------------------------
# executors (submitit)
# --------------------------------------------------------------------------------------------

def _default_gpus() -> int:
    import torch

    return 1 if torch.cuda.is_available() else 0


def make_executor(kind: str, folder: str | os.PathLike, *, time_limit: float = 600.0,
                  partition: str | None = None, gpus_per_job: int | None = None,
                  cpus_per_job: int | None = None) -> Any:
    """A submitit executor: ``local`` (one process per run on this machine) or ``slurm``
    (one job per run; ``partition``, ``gpus_per_job`` GPUs and ``time_limit`` minutes)."""
    import submitit

    gpus = _default_gpus() if gpus_per_job is None else gpus_per_job
    if kind == "local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=time_limit, gpus_per_node=gpus)
        return executor
    if kind == "slurm":
        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise CampaignError("executor: --executor slurm needs a SLURM cluster (sbatch and "
                                "srun were not found on PATH); use --executor local or inline")
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        params: dict[str, Any] = dict(timeout_min=int(time_limit), gpus_per_node=gpus, nodes=1,
                                      tasks_per_node=1, name="srewire")
        if partition:
            params["slurm_partition"] = partition
        if cpus_per_job:
            params["cpus_per_task"] = cpus_per_job
        executor.update_parameters(**params)
        return executor
    raise CampaignError(f"executor must be one of {', '.join(EXECUTORS)}; got {kind!r}")


def _job(config: dict, folder: str, data_root: str | None, device: str | None) -> dict:
    """One whole run in a submitit job; returns its timings (epoch seconds, wall seconds)."""
    from .runs import run

    start = time.time()
    result = run(from_dict(config), folder, data_root=data_root, device=device, quiet=True)
    end = time.time()
    wall = result["provenance"]["wall_time_s"]
    return {"start": start, "end": end, "train_s": wall["train"], "eval_s": wall["eval"],
            "total_s": wall["total"], "device": result["provenance"]["device"]}


class _SourcePath:
    """Makes this checkout's srewire importable in the processes submitit starts."""

    def __enter__(self) -> None:
        self.before = os.environ.get("PYTHONPATH")
        here = str(Path(__file__).resolve().parents[1])
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, self.before) if p)

    def __exit__(self, *exc: object) -> None:
        if self.before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = self.before


# --------------------------------------------------------------------------------------------
# side by side
# --------------------------------------------------------------------------------------------

def measure_concurrency(cfg: Config, k: int, executor: Any, *, data_root: str | None = None,
                        device: str | None = None, steps: int = 16) -> dict:
    """Throughput of ``k`` tiny runs side by side against one alone, in processes of
    ``executor``: ``gain`` = k x (one run's training time) / (span of the k training phases,
    first start to last end). A gain above 1 means k at once finish sooner than in turn."""
    tiny = _tiny(cfg, steps, 1)
    with tempfile.TemporaryDirectory(prefix="srewire-concurrency-") as tmp, _SourcePath():
        solo = executor.submit(_job, tiny.to_dict(), str(Path(tmp) / "solo"), data_root,
                               device).result()
        jobs = [executor.submit(_job, tiny.to_dict(), str(Path(tmp) / f"p{i}"), data_root,
                                device) for i in range(k)]
        side = [j.result() for j in jobs]
    # each job's training phase ends when its evaluation starts (end - eval - writing files)
    ends = [s["end"] - s["eval_s"] for s in side]
    starts = [e - s["train_s"] for e, s in zip(ends, side)]
    span = max(ends) - min(starts)
    gain = k * solo["train_s"] / span if span > 0 else 1.0
    return {"k": k, "steps": steps, "solo_train_s": solo["train_s"], "span_s": span,
            "each_train_s": [s["train_s"] for s in side], "gain": gain}


# --------------------------------------------------------------------------------------------
# the campaign
# --------------------------------------------------------------------------------------------

def _fmt(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _check_options(executor: str, concurrent: int, minutes: float | None,
                   gpus_per_job: int | None, time_limit: float | None) -> None:
    if executor not in EXECUTORS:
        raise CampaignError(f"executor must be one of {', '.join(EXECUTORS)}; got {executor!r}")
    if concurrent < 1:
        raise CampaignError(f"concurrent must be a positive integer; got {concurrent}")
    if minutes is not None and not minutes > 0:
        raise CampaignError(f"minutes must be positive; got {minutes}")
    if gpus_per_job is not None and gpus_per_job < 0:
        raise CampaignError(f"gpus-per-job must be 0 or more; got {gpus_per_job}")
    if time_limit is not None and not time_limit > 0:
        raise CampaignError(f"time-limit must be a positive number of minutes; got {time_limit}")
    if concurrent > 1 and executor != "local":
        raise CampaignError(f"concurrent: --concurrent {concurrent} runs processes side by "
                            f"side and needs --executor local (got --executor {executor})")


def _submit_slurm(todo: list[Config], ex: Any, results: str | os.PathLike, data_root: str | None,
                  device: str | None, summary: dict, log: Callable[[str], None]) -> None:
    from .runs import run_name

    with _SourcePath():
        for cfg in todo:
            job = ex.submit(_job, cfg.to_dict(), str(run_folder(results, cfg)), data_root, device)
            summary["submitted"][run_name(cfg)] = job.job_id
            log(f"submitted {cfg.profile}/{run_name(cfg)} as SLURM job {job.job_id}")


def _side_by_side(cfg: Config, k: int, ex: Any, data_root: str | None, device: str | None,
                  summary: dict, log: Callable[[str], None]) -> tuple[int, float]:
    """(runs at a time, slow-down of each run) after measuring ``k`` runs side by side."""
    m = measure_concurrency(cfg, k, ex, data_root=data_root, device=device)
    summary["concurrency"] = m
    log(f"concurrency: {k} tiny runs side by side trained in {m['span_s']:.2f} s, one alone "
        f"in {m['solo_train_s']:.2f} s: gain {m['gain']:.2f}x over one after the other")
    if m["gain"] <= 1.05:
        log("concurrency: not faster; running one at a time")
        return 1, 1.0
    return k, k / m["gain"]  # each run takes this much longer when k share the device


def campaign(profile: str, seeds: tuple[int, ...] | list[int], *,
             results: str | os.PathLike = "results", data_root: str | None = None,
             device: str | None = None, minutes: float | None = None, concurrent: int = 1,
             executor: str = "inline", partition: str | None = None,
             gpus_per_job: int | None = None, time_limit: float | None = None,
             force: bool = False, warmup_steps: int = 8,
             log: Callable[[str], None] = print) -> dict:
    """Run the missing runs of the grid (see the module docstring); returns a summary:
    ``done`` (name -> measured seconds), ``skipped`` (name -> reason), ``failed``
    (name -> message), ``submitted`` (SLURM job ids), ``estimates`` and ``concurrency``."""
    _check_options(executor, concurrent, minutes, gpus_per_job, time_limit)
    t0 = time.monotonic()
    from .runs import run_name
    from .train import TrainingDiverged

    todo = pending_runs(profile, seeds, results, force)
    summary: dict[str, Any] = {"done": {}, "skipped": {}, "failed": {}, "submitted": {},
                               "estimates": {}, "concurrency": None}
    n_grid = len(grid_runs(profile, seeds))
    log(f"campaign {profile}: {n_grid - len(todo)} of {n_grid} runs finished, "
        f"{len(todo)} to run")
    if not todo:
        return summary
    logs = Path(results) / ".submitit"
    limit = time_limit if time_limit is not None else (minutes or 24 * 60)
    if executor == "slurm":
        ex = make_executor("slurm", logs, time_limit=limit, partition=partition,
                           gpus_per_job=gpus_per_job)
        _submit_slurm(todo, ex, results, data_root, device, summary, log)
        log(f"logs in {logs}; run the same command again later to submit what is still "
            f"missing (finished runs are skipped)")
        return summary

    ex = make_executor("local", logs, time_limit=limit, gpus_per_job=gpus_per_job) \
        if executor == "local" else None
    k, factor = (1, 1.0) if concurrent == 1 else \
        _side_by_side(todo[0], concurrent, ex, data_root, device, summary, log)
    cache: dict = {"observed": {}}
    deadline = None if minutes is None else t0 + minutes * 60
    if deadline is not None:  # warm up before the first run, so that no warm-up overruns
        for objective in dict.fromkeys(c.objective for c in todo):
            t = time.perf_counter()
            first = next(c for c in todo if c.objective == objective)
            estimate(first, results=results, data_root=data_root, device=device,
                     steps=warmup_steps, cache=cache)
            log(f"timing {objective} runs took {time.perf_counter() - t:.1f} s")

    def fits(cfg: Config) -> bool:
        """Whether ``cfg`` may start now (logs the estimate or why it is skipped)."""
        name = run_name(cfg)
        if deadline is None:
            log(f"start {name}")
            return True
        if deadline - time.monotonic() <= 0:
            log(f"skipped for time: {name}: no time left")
            summary["skipped"][name] = "no time left"
            return False
        est = estimate(cfg, results=results, data_root=data_root, device=device,
                       steps=warmup_steps, cache=cache)
        projected, left = est.seconds * factor, deadline - time.monotonic()
        summary["estimates"][name] = {"seconds": projected, "source": est.source}
        if projected > left:
            log(f"skipped for time: {name}: estimate {_fmt(projected)} ({est.source}), "
                f"{_fmt(max(left, 0))} left")
            summary["skipped"][name] = f"estimate {projected:.0f} s > {left:.0f} s left"
            return False
        log(f"start {name}: estimate {_fmt(projected)} ({est.source}), {_fmt(left)} left")
        return True

    def finished(cfg: Config, seconds: float) -> None:
        summary["done"][run_name(cfg)] = seconds
        cache["observed"].setdefault((cfg.profile, cfg.objective), []).append(
            seconds / factor)  # as if it had run alone
        log(f"done {run_name(cfg)} in {_fmt(seconds)}")

    queue = list(todo)
    running: list[tuple[Any, Config, float]] = []
    while queue or running:
        while queue and len(running) < k:
            cfg = queue.pop(0)
            if not fits(cfg):
                continue
            folder, t = str(run_folder(results, cfg)), time.perf_counter()
            if ex is not None:
                with _SourcePath():
                    job = ex.submit(_job, cfg.to_dict(), folder, data_root, device)
                running.append((job, cfg, t))
                continue
            try:
                _job(cfg.to_dict(), folder, data_root, device)
                finished(cfg, time.perf_counter() - t)
            except TrainingDiverged as exc:  # this run only: go on with the others
                summary["failed"][run_name(cfg)] = str(exc)
                log(f"failed {run_name(cfg)}: {exc}")
        for item in [r for r in running if r[0].done()]:
            running.remove(item)
            job, cfg, t = item
            try:
                job.result()
                finished(cfg, time.perf_counter() - t)
            except Exception as exc:  # a failed job: report it, go on with the others
                text = str(exc).strip()
                summary["failed"][run_name(cfg)] = text.splitlines()[-1] if text else repr(exc)
                log(f"failed {run_name(cfg)}: {summary['failed'][run_name(cfg)]} "
                    f"(log: {logs})")
        if running:
            time.sleep(0.5)
    log(f"campaign {profile}: {len(summary['done'])} run(s) done, {len(summary['skipped'])} "
        f"skipped for time, {len(summary['failed'])} failed, in {_fmt(time.monotonic() - t0)}")
    return summary


# --------------------------------------------------------------------------------------------
# command line (python -m srewire campaign | unpack)
# --------------------------------------------------------------------------------------------

def add_executor_arguments(parser: Any) -> None:
    """--executor, --partition, --gpus-per-job, --time-limit (shared by grid and campaign)."""
    parser.add_argument("--executor", choices=EXECUTORS, default="inline",
                        help="inline: in this process; local: submitit processes on this "
                             "machine; slurm: one SLURM job per run")
    parser.add_argument("--partition", default=None, help="SLURM partition")
    parser.add_argument("--gpus-per-job", type=int, default=None,
                        help="GPUs per run (default: 1 if CUDA is available, else 0)")
    parser.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                        help="per-job time limit in minutes (SLURM --time; local timeout)")


def add_parsers(sub: Any, profiles: tuple[str, ...]) -> None:
    """The ``campaign`` and ``unpack`` subcommands."""
    c = sub.add_parser("campaign", help="run the missing runs of a grid (in time windows, "
                                        "side by side, or on SLURM); pack them")
    c.add_argument("--profile", choices=profiles, default="paper")
    c.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="default: the seeds the book aggregates (srewire.config.DEFAULT_SEEDS)")
    c.add_argument("--results", default="results")
    c.add_argument("--data", default=None)
    c.add_argument("--device", default=None)
    c.add_argument("--minutes", type=float, default=None,
                   help="start no run that would not finish within this many minutes")
    c.add_argument("--concurrent", type=int, default=1, metavar="K",
                   help="run K runs side by side when measured faster (needs --executor local)")
    c.add_argument("--warmup-steps", type=int, default=8,
                   help="training steps timed per warm-up when no run time is recorded")
    c.add_argument("--pack", default=None, metavar="FILE",
                   help="afterwards write the profile's finished runs into this .tar.gz")
    c.add_argument("--force", action="store_true", help="rerun finished runs too")
    add_executor_arguments(c)

    u = sub.add_parser("unpack", help="merge a results archive (from campaign --pack) into "
                                      "the results folder")
    u.add_argument("archive")
    u.add_argument("--results", default="results")
    u.add_argument("--replace", action="store_true",
                   help="replace existing results that differ from the archive's")


def main(args: Any) -> int:
    """Run a parsed ``campaign``, ``unpack`` or ``grid --executor local|slurm`` command."""
    from .archive import ArchiveError, pack, unpack
    from .config import DEFAULT_SEEDS, ConfigError
    from .data import DataError
    from .runs import RunError

    try:
        if args.command == "unpack":
            done = unpack(args.archive, args.results, replace=args.replace)
            for outcome, names in done.items():
                for name in names:
                    print(f"{outcome} {name}")
            return 0
        if getattr(args, "pack", None) and not Path(args.pack).resolve().parent.is_dir():
            raise ArchiveError(f"pack: the folder of {args.pack} does not exist")
        seeds = args.seeds or DEFAULT_SEEDS[args.profile]
        summary = campaign(args.profile, seeds, results=args.results, data_root=args.data,
                           device=args.device, minutes=getattr(args, "minutes", None),
                           concurrent=getattr(args, "concurrent", 1), executor=args.executor,
                           partition=args.partition, gpus_per_job=args.gpus_per_job,
                           time_limit=args.time_limit, force=args.force,
                           warmup_steps=getattr(args, "warmup_steps", 8),
                           log=lambda m: print(m, flush=True))
        if getattr(args, "pack", None):
            names = pack(args.results, args.profile, args.pack)
            print(f"packed {len(names)} run(s) of {args.profile} into {args.pack}")
        return 1 if summary["failed"] else 0
    except (ArchiveError, CampaignError, ConfigError, DataError, RunError) as exc:
        print(f"srewire: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srewire: interrupted; run the same command again: finished runs are kept and "
              "an interrupted run resumes from its last checkpoint", file=sys.stderr)
        return 130


"""Benchmark: does the structure buy speed? Inference latency of every representation of
:mod:`srewire.deploy` for the committed quick-grid networks.

Networks (seed 0 masks of every grid cell: 3 strategies x {99 % natural, 95 % natural,
95 % TRADES}): as trained, and after the thesis's single-fibre pruning (Thesis §4.1); the
networks of ``results/<profile>/prune/`` (trained at 98 %, pruned to 99 % with the structure
in mind, seed 0); and a dense VGG11 (0 % sparsity) as the reference. Latency depends only on
the masks, so the weights are random magnitudes on the trained masks.

For each network and batch size, ``torch.utils.benchmark.Timer.blocked_autorange`` measures
every variant in ``--rounds`` rounds, the variants interleaved (the order rotates every round),
end to end and layer by layer; the file keeps the median and interquartile range of all blocks
and the median relative to ``dense`` (the masked dense model) of the same network. Before any
timing, every variant's output is checked against ``dense`` (max abs difference recorded).

    python benchmarks/bench_deploy.py [--results results] [--profile quick] [--threads 2]
        [--batches 1 128] [--rounds 3] [--min-run-time 0.05] [--layer-batches 1]
        [--all-at-every-batch] [--no-layers]

By default the batch-128 timings cover the dense reference, the 99 % networks as trained and
the pruned 98 % networks, and so do the layer-by-layer timings (batch 1; on a shared 2-core machine the
full set takes hours: CSR and condensed products at batch 128 take seconds each).

writes ``<results>/<profile>/deploy/deploy.json`` and ``deploy.csv`` and prints a summary.
The file records the CPU model, core count, torch version, thread count and the 1-minute load
average before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.utils.benchmark as tb

from srewire import deploy
from srewire.config import from_dict
from srewire.metrics import fibre_report, single_fibre_prune
from srewire.models import VGG11, layer_names, sparse_layers
from srewire.runs import GRID, STRATEGY_ORDER, load_masks


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def networks(results: Path, profile: str, seed: int) -> list[tuple[str, str, VGG11, dict]]:
    """(name, kind, model, config) of every network to time, the most important first (so an
    interrupted run still holds them): the dense reference, the 99 % networks as trained, the
    pruned 98 % networks, the 99 % networks after single-fibre pruning, then the 95 % ones."""
    trained, after, pruned = [], [], []
    dense_cfg = None
    for objective, sp in GRID:
        for strategy in STRATEGY_ORDER:
            name = f"{objective}_s{sp:g}_{strategy}_seed{seed}"
            folder = results / profile / name
            if not (folder / "masks.npz").is_file():
                print(f"skip {name}: no masks.npz in {folder}", file=sys.stderr)
                continue
            cfg = json.loads((folder / "result.json").read_text())["config"]
            model, _ = deploy.load_network(folder)
            dense_cfg = dense_cfg or cfg
            trained.append((name, "trained", model, cfg))
            after.append((name + "_pruned", "after_pruning", single_fibre_prune(model).eval(),
                          cfg))
    for folder in sorted((results / profile / "prune").glob(f"*_seed{seed}")):
        if (folder / "masks.npz").is_file():
            model, result = deploy.load_network(folder)
            pruned.append((folder.name, "prune98", model, result["config"]))
    if dense_cfg is None:
        raise SystemExit(f"results: no grid masks under {results / profile}; nothing to time")
    cfg = from_dict(dense_cfg)
    ref = VGG11(0.5, head=cfg.head, width=cfg.width, seed=0)
    full = {n: np.ones(tuple(l.theta.shape), bool)
            for n, l in zip(layer_names(ref), sparse_layers(ref))}
    reference = ("dense_vgg11", "dense_reference", deploy.set_masks(ref, full).eval(),
                 {**dense_cfg, "sparsity": 0.0, "rewiring": None})
    top = [n for n in trained if n[3]["sparsity"] == 0.99][::-1]  # weight-based first
    top_after = [n for n in after if n[3]["sparsity"] == 0.99][::-1]
    rest = [n for n in trained if n not in top] + [n for n in after if n not in top_after]
    return [reference, *top[:1], *pruned, *top[1:], *top_after, *rest]


def is_key(kind: str, cfg: dict) -> bool:
    """Networks timed at every batch size and layer by layer (the others end to end at batch 1
    only, unless --all-at-every-batch)."""
    return kind in ("dense_reference", "prune98") or (kind == "trained"
                                                       and cfg["sparsity"] == 0.99)


def stats(times: list[float]) -> dict:
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    return {"median_s": float(med), "iqr_s": float(q3 - q1), "blocks": len(times)}


def interleaved(stmts: dict[str, tuple[object, torch.Tensor]], rounds: int, min_run_time: float,
                threads: int) -> dict[str, dict]:
    """Time every {key: (callable, input)} in ``rounds`` rounds, keys interleaved."""
    timers = {k: tb.Timer("f(x)", globals={"f": f, "x": x}, num_threads=threads)
              for k, (f, x) in stmts.items()}
    samples: dict[str, list[float]] = {k: [] for k in stmts}
    keys = list(stmts)
    for r in range(rounds):
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            samples[k] += list(timers[k].blocked_autorange(min_run_time=min_run_time).times)
    return {k: stats(v) for k, v in samples.items()}


def measure(name: str, kind: str, model: VGG11, cfg: dict, args: argparse.Namespace) -> dict:
    specs = deploy.extract(model)
    variants = ("dense",) if kind == "dense_reference" else deploy.VARIANTS
    nets = {v: deploy.build(specs, v) for v in variants}
    g = torch.Generator().manual_seed(0)
    x_check = torch.rand(4, 3, 32, 32, generator=g)
    with torch.no_grad():
        ref = model(x_check)
        diffs = {v: float((net(x_check) - ref).abs().max()) for v, net in nets.items()}
    macs = deploy.multiply_adds(specs)
    macs = {v: {**d, "total": sum(d.values())} for v, d in macs.items()
            if v in variants or v == "nonzero"}
    entry = {"name": name, "kind": kind, "objective": cfg["objective"],
             "sparsity": cfg["sparsity"], "rewiring": cfg["rewiring"], "seed": cfg["seed"],
             "connections": int(sum(int(s.weight.ne(0).sum()) for s in specs)),
             "zero_fibres_out": fibre_report(model)["global"]["out"],
             "max_abs_diff_vs_dense_model": diffs, "multiply_adds": macs,
             "condensed": deploy.condensed_report(specs), "latency": {}, "layer_latency": {}}
    for b in args.batches:
        if b > 1 and args.key_only and not is_key(kind, cfg):
            continue
        x = torch.rand(b, 3, 32, 32, generator=g)
        e2e = interleaved({v: (net, x) for v, net in nets.items()}, args.rounds,
                          args.min_run_time, args.threads)
        for v in e2e:
            e2e[v]["relative_to_dense"] = e2e[v]["median_s"] / e2e["dense"]["median_s"]
        entry["latency"][str(b)] = e2e
        if args.layers and b in args.layer_batches and (is_key(kind, cfg)
                                                        or not args.key_only):
            stmts = {}
            for v, net in nets.items():
                for lname, stage, inp in zip(net.names, net.stages, net.stage_inputs(x)):
                    stmts[(v, lname)] = (stage, inp)
            flat = interleaved({f"{v}|{l}": s for (v, l), s in stmts.items()}, args.rounds,
                               args.min_run_time, args.threads)
            per: dict[str, dict] = {}
            for key, st in flat.items():
                v, lname = key.split("|")
                dense = flat[f"dense|{lname}"]["median_s"]
                per.setdefault(v, {})[lname] = {**st, "relative_to_dense": st["median_s"] / dense}
            entry["layer_latency"][str(b)] = per
        med = {v: f"{1e3 * e2e[v]['median_s']:.2f}" for v in e2e}
        print(f"{name:42s} b={b:<4d} ms " + " ".join(f"{v}={m}" for v, m in med.items()),
              flush=True)
    return entry


def write(out: Path, record: dict) -> None:
    """deploy.json (everything) and deploy.csv (end to end), each replaced atomically."""
    tmp = out / "deploy.json.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, out / "deploy.json")
    tmp = out / "deploy.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["network", "kind", "variant", "batch", "multiply_adds", "median_ms",
                    "iqr_ms", "relative_to_dense"])
        for e in record["networks"]:
            for b, lat in e["latency"].items():
                for v, st in lat.items():
                    w.writerow([e["name"], e["kind"], v, b, e["multiply_adds"][v]["total"],
                                f"{1e3 * st['median_s']:.3f}", f"{1e3 * st['iqr_s']:.3f}",
                                f"{st['relative_to_dense']:.3f}"])
    os.replace(tmp, out / "deploy.csv")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--profile", default="quick")
    p.add_argument("--seed", type=int, default=0, help="seed of the grid masks timed")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 128])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per measurement")
    p.add_argument("--min-run-time", type=float, default=0.05)
    p.add_argument("--no-layers", dest="layers", action="store_false",
                   help="end to end only (no per-layer timings)")
    p.add_argument("--layer-batches", type=int, nargs="+", default=[1],
                   help="batch sizes timed layer by layer too")
    p.add_argument("--all-at-every-batch", dest="key_only", action="store_false",
                   help="time every network at every batch size (default: batches > 1 only "
                        "for the dense reference, the 99 %% networks as trained and the "
                        "pruned 98 %% networks)")
    p.add_argument("--out", default=None, help="default: <results>/<profile>/deploy")
    args = p.parse_args(argv)
    for name in ("threads", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be a positive integer; got {getattr(args, name)}")
    if any(b < 1 for b in args.batches):
        p.error(f"--batches must be positive integers; got {args.batches}")
    if not args.min_run_time > 0:
        p.error(f"--min-run-time must be positive; got {args.min_run_time}")
    if not (Path(args.results) / args.profile).is_dir():
        p.error(f"--results/--profile: {Path(args.results) / args.profile} is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    out = Path(args.out or Path(args.results) / args.profile / "deploy")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    todo = networks(Path(args.results), args.profile, args.seed)
    record: dict = {}
    for i, net in enumerate(todo):
        entries.append(measure(*net, args))
        record = {
            "complete": i + 1 == len(todo),
            "machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(),
                        "platform": platform.platform(), "torch": torch.__version__,
                        "threads": torch.get_num_threads(),
                        "mkldnn": torch.backends.mkldnn.is_available(),
                        "load_average_1min": {"before": load_before,
                                              "after": os.getloadavg()[0]}},
            "settings": {"batches": args.batches, "rounds": args.rounds,
                         "min_run_time_s": args.min_run_time, "dtype": "float32",
                         "seed_of_masks": args.seed, "weights": "random magnitudes on the masks",
                         "per_layer_batches": args.layer_batches if args.layers else [],
                         "large_batches_for": ("key networks: dense reference, 99 % as "
                                               "trained, pruned 98 %" if args.key_only
                                               else "all networks"),
                         "per_layer_for": ("the same key networks" if args.key_only
                                           else "all networks"),
                         "wall_time_s": time.perf_counter() - t0},
            "variants": list(deploy.VARIANTS),
            "networks": entries,
        }
        write(out, record)  # after every network, so an interrupted run leaves a valid file
    print(f"wrote {out / 'deploy.json'} ({record['settings']['wall_time_s']:.0f} s; load "
          f"{load_before:.2f} -> {record['machine']['load_average_1min']['after']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``python -m srewire {run, grid, data, evaluate, record, campaign, unpack}``.

    python -m srewire run --profile quick --objective trades --sparsity 0.95 \\
        --rewiring structured --seed 0 --out runs/trades95
    python -m srewire grid --profile quick --seeds 0 1 --results results
    python -m srewire data --synthetic data/ | --download --data data/
    python -m srewire campaign --profile paper --minutes 9 --pack paper.tar.gz
    python -m srewire unpack paper.tar.gz --results results
    python -m srewire evaluate results/quick/trades_s0.95_random_seed0 --attack autoattack
    python -m srewire record results/quick/trades_s0.95_random_seed0

Bad arguments (every ``--set`` value is checked for type and range) get one line naming the
parameter, its value and the valid values, exit status 2, and nothing is written. A dataset
marked synthetic is refused on the quick and paper profiles unless ``--allow-synthetic``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys

from .config import (DEFAULT_SEEDS, EXPERIMENT, OBJECTIVES, PROFILES, STRATEGIES, ConfigError,
                     make_config)
from .data import DataError
from .record import RecordError


def _sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in the open interval (0, 1), "
                                         f"got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in the open interval (0, 1), got {text}")
    return value


def _images(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _setting(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def _overrides(settings: list[tuple[str, object]]) -> dict[str, object]:
    """The ``--set`` pairs as make_config overrides; the experiment's own choices have their
    own options, so that the profile's sizes follow them."""
    out: dict[str, object] = {}
    for key, value in settings:
        if key in EXPERIMENT:
            raise ConfigError(f"--set {key}={value!r}: {key} is not a --set parameter; "
                              f"use --{key}")
        out[key] = value
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m srewire", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train and evaluate one configuration")
    r.add_argument("--profile", choices=PROFILES, default="quick")
    r.add_argument("--objective", choices=OBJECTIVES, default="natural")
    r.add_argument("--sparsity", type=_sparsity, default=0.99)
    r.add_argument("--rewiring", choices=STRATEGIES, default="random")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", required=True, help="output folder (result.json, masks, checkpoint)")
    r.add_argument("--data", default=None, help="folder holding cifar-10-batches-py "
                   "(default: $SREWIRE_DATA or ./data)")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: auto)")
    r.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="override any Config field, e.g. --set beta=0.6")
    r.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    r.add_argument("--allow-synthetic", action="store_true",
                   help="accept a dataset marked synthetic on the quick or paper profile")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    g = sub.add_parser("grid", help="run the thesis grid for a profile (skips finished runs)")
    g.add_argument("--profile", choices=PROFILES, default="quick")
    g.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="default: the seeds the book aggregates (srewire.config.DEFAULT_SEEDS)")
    g.add_argument("--results", default="results")
    g.add_argument("--data", default=None)
    g.add_argument("--device", default=None)
    g.add_argument("--force", action="store_true", help="rerun finished runs too")
    g.add_argument("--allow-synthetic", action="store_true",
                   help="accept a dataset marked synthetic on the quick or paper profile")
    g.add_argument("--quiet", action="store_true")

    d = sub.add_parser("data", help="download CIFAR-10 or write a synthetic copy")
    d.add_argument("--download", action="store_true")
    d.add_argument("--data", default=None)
    d.add_argument("--synthetic", default=None, metavar="DIR")

    e = sub.add_parser("evaluate", help="attack a finished run's saved weights and add the "
                       "numbers to its result.json")
    e.add_argument("run_dir", help="run folder holding result.json and weights.npz")
    e.add_argument("--attack", choices=("autoattack", "pgd"), required=True)
    e.add_argument("--images", type=_images, default=None,
                   help="test images to attack (default: the profile's n_robust: quick 500, "
                   "long 1,000; paper: all 10,000)")
    e.add_argument("--data", default=None)
    e.add_argument("--device", default=None)
    e.add_argument("--quiet", action="store_true")

    rec = sub.add_parser("record", help="write the RobustBench-style record (robustbench.json) "
                         "of TRADES runs from their result.json")
    rec.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")

    # campaign / unpack, and grid through submitit (srewire.campaign)
    from .campaign import add_executor_arguments, add_parsers
    add_executor_arguments(g)
    add_parsers(sub, PROFILES)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("campaign", "unpack") or getattr(args, "executor", "inline") != "inline":
        from .campaign import main as campaign_main
        return campaign_main(args)
    from .runs import RunError, ensure_grid, run  # heavy imports after argument checks
    from .train import TrainingDiverged

    try:
        if args.command in ("evaluate", "record"):
            return _evaluate_or_record(args)
        if args.command == "run":
            cfg = make_config(args.profile, args.objective, args.sparsity, args.rewiring,
                              args.seed, **_overrides(args.set))
            result = run(cfg, args.out, data_root=args.data, device=args.device,
                         quiet=args.quiet, restart=args.restart,
                         allow_synthetic=args.allow_synthetic)
            summary = {k: result[k] for k in ("clean_accuracy", "robust_accuracy")}
            summary["zero_fibres_out"] = result["zero_fibres"]["global"]["out"]
            print(json.dumps(summary))
        elif args.command == "grid":
            seeds = args.seeds or DEFAULT_SEEDS[args.profile]
            ensure_grid(args.profile, seeds, results=args.results, data_root=args.data,
                        force=args.force, quiet=args.quiet, device=args.device,
                        allow_synthetic=args.allow_synthetic,
                        log=lambda m: print(m, flush=True))
        else:
            from .data import download, write_synthetic

            if args.synthetic:
                print(write_synthetic(args.synthetic))
            elif args.download:
                print(download(args.data))
            else:
                parser.error("data: give --download or --synthetic DIR")
    except (ConfigError, DataError, RunError, RecordError) as exc:
        print(f"srewire: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"srewire: training stopped: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("srewire: interrupted; run the same command again to resume from the last "
              "checkpoint", file=sys.stderr)
        return 130
    return 0


def _evaluate_or_record(args: argparse.Namespace) -> int:
    """``evaluate`` and ``record``: errors (RunError, DataError, RecordError) are handled by
    :func:`main`, which prints them and returns 2."""
    from .record import record, write_record
    from .reevaluate import evaluate_run, run_config

    if args.command == "evaluate":
        block = evaluate_run(args.run_dir, args.attack, images=args.images,
                             data_root=args.data, device=args.device, quiet=args.quiet)
        summary = {k: block[k] for k in ("clean_accuracy", "robust_accuracy")}
        if args.attack == "autoattack":
            summary["components"] = {c["name"]: c["robust_accuracy"]
                                     for c in block["components"]}
        print(json.dumps(summary))
        return 0
    for run_dir in args.run_dirs:  # every record is checked before any is written
        record(run_config(run_dir)[1])
    for run_dir in args.run_dirs:
        print(write_record(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

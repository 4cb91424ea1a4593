"""fp32 / bf16 step-time ratio on this machine: full-width VGG11,
batch 128, sparsity 0.95, one natural step and one TRADES-10 step, each as a run executes it
(:meth:`srewire.train.TrainStep.eager`: forward and loss, backward, SGDW, random rewiring).

    python benchmarks/bench_precision.py [--reps 5] [--trades-reps 3] [--width 1.0]

The two precisions get their own model, optimiser and rewirer built from the same seed; after
one warm-up step each (which also fills the rewiring's initial deficit), their steps are timed
interleaved (fp32, bf16, fp32, bf16, ...), so that a change in the machine's load hits both.
Printed: per-step medians, the ratio of the medians, the thread count and the load average
(the machine may be shared: the ratio is what this run measured, nothing more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from srewire.config import make_config
from srewire.models import VGG11, sparse_layers
from srewire.precision import cpu_has_native_bf16
from srewire.rewiring import Rewirer
from srewire.train import SGDW, TrainStep

PRECISIONS = ("fp32", "bf16")


def make_trainer(objective: str, precision: str, width: float, sparsity: float) -> TrainStep:
    cfg = make_config("paper", objective, sparsity, "random", seed=0, width=width,
                      precision=precision)
    model = VGG11(cfg.connectivity, width=width, seed=0)
    opt = SGDW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rewirer = Rewirer(sparse_layers(model), cfg.connectivity, strategy="random",
                      crossing="track", seed=0)
    return TrainStep(model, opt, rewirer, cfg, generator=torch.Generator().manual_seed(1))


def timed(trainer: TrainStep, x: torch.Tensor, y: torch.Tensor) -> float:
    t = time.perf_counter()
    trainer.eager(x, y, lr=0.1, weight_decay=5e-4)
    return time.perf_counter() - t


def measure(objective: str, reps: int, width: float, sparsity: float, batch: int
            ) -> dict[str, list[float]]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    trainers = {p: make_trainer(objective, p, width, sparsity) for p in PRECISIONS}
    for t in trainers.values():  # warm-up: allocator, kernels, the deficit fill
        timed(t, x, y)
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(reps):
        for p in PRECISIONS:
            times[p].append(timed(trainers[p], x, y))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="timed natural steps per precision")
    ap.add_argument("--trades-reps", type=int, default=3,
                    help="timed TRADES-10 steps per precision")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--sparsity", type=float, default=0.95)
    args = ap.parse_args()
    for name in ("reps", "trades_reps", "batch"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.width <= 4:
        ap.error("--width must be in (0, 4]")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU bf16 "
          f"instructions: {cpu_has_native_bf16()}, load average before: "
          f"{os.getloadavg()[0]:.2f}; width {args.width:g}, batch {args.batch}, "
          f"sparsity {args.sparsity:g}", flush=True)
    print("| step | fp32 median ms | bf16 median ms | fp32 / bf16 | steps timed |")
    print("| --- | --- | --- | --- | --- |")
    for objective, reps in (("natural", args.reps), ("trades", args.trades_reps)):
        times = measure(objective, reps, args.width, args.sparsity, args.batch)
        med = {p: 1e3 * statistics.median(v) for p, v in times.items()}
        label = "natural" if objective == "natural" else "TRADES-10"
        print(f"| {label} | {med['fp32']:.0f} | {med['bf16']:.0f} | "
              f"{med['fp32'] / med['bf16']:.2f}x | {reps} each, interleaved |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

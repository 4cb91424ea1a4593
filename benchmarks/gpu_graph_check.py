"""First check in a GPU window: the device rewiring inside a captured training step is right.

For every strategy: full-width VGG11 at 95 %, batch 128, ``rng="device"``, ``graphs=True``,
bf16, ~60 natural steps through :func:`srewire.train.train_epoch`; after the replays it asserts
that a graph was captured and replayed, that the device step's connection list equals
``theta > 0`` and that the budget is exact, and prints the device step's counters (deferred,
inexact, overflow) and the steps' mean time. Exits non-zero on any failure.

    python benchmarks/gpu_graph_check.py [--steps 60]
    python benchmarks/gpu_graph_check.py --dry-run     # CPU, width 1/8, eager (no graph)
"""

from __future__ import annotations

import argparse
import time

import torch

from srewire.config import STRATEGIES, make_config
from srewire.models import VGG11, sparse_layers
from srewire.rewiring import Rewirer
from srewire.rng import make_generator
from srewire.train import SGDW, TrainStep, train_epoch


def check(strategy: str, device: str, steps: int, width: float, graphs: bool) -> dict:
    cfg = make_config("paper", "natural", 0.95, strategy, seed=0, rng="device", width=width,
                      precision="bf16" if graphs else "fp32", graphs="off")
    model = VGG11(cfg.connectivity, width=width, seed=0).to(device)
    opt = SGDW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rewirer = Rewirer(sparse_layers(model), cfg.connectivity, strategy=strategy,
                      crossing="track", seed=0, rng="device")
    g = make_generator(1, device, "device")
    trainer = TrainStep(model, opt, rewirer, cfg, generator=g, graphs=graphs)
    x = torch.randint(0, 256, (128 * steps, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (128 * steps,), device=device)
    t = time.perf_counter()
    train_epoch(model, opt, rewirer, x, y, cfg, step=0, total_steps=100 * steps, generator=g,
                trainer=trainer)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    d = rewirer.device_step
    assert rewirer.on_device, f"{strategy}: the device step never took over"
    if graphs:
        assert trainer.graph is not None and trainer.replayed_steps > steps // 2, \
            f"{strategy}: no graph replayed ({trainer.path()})"
    listed = d.conn[:rewirer.budget].sort().values
    connected = (rewirer.flat[:rewirer.n] > 0).nonzero().squeeze(1)
    assert torch.equal(listed, connected), f"{strategy}: the list is not theta > 0"
    assert rewirer.connected_count() == rewirer.budget, f"{strategy}: budget broken"
    row = {"strategy": strategy, **trainer.path(), "mean_step_ms": 1e3 * seconds / steps,
           "slots": d.slots, **{k: int(getattr(d, k)) for k in ("fallbacks", "inexact",
                                                                 "overflow")}}
    print(row, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--dry-run", action="store_true", help="CPU, width 1/8, no graph")
    args = p.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_graph_check: no CUDA device (--dry-run runs it on the CPU)")
    if not args.dry_run:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    for strategy in STRATEGIES:
        check(strategy, "cpu" if args.dry_run else "cuda", 12 if args.dry_run else args.steps,
              0.125 if args.dry_run else 1.0, not args.dry_run)
    print("gpu_graph_check: all strategies passed")


if __name__ == "__main__":
    main()

"""Benchmark: native PGD against Foolbox PGD, and training throughput (issue: srewire engine).

Prints, measured in one run on this machine:

* the time of one PGD attack (same model, batch, steps and step size) with the native PyTorch
  implementation and with Foolbox 3, and their ratio;
* training images per second for a natural step and a TRADES-10 step (forward, backward,
  optimiser and rewiring), and their ratio.

    python benchmarks/bench_engine.py [--width 1.0] [--batch 128] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from srewire.attacks import foolbox_pgd, pgd
from srewire.models import VGG11, sparse_layers
from srewire.rewiring import Rewirer
from srewire.trades import trades_loss
from srewire.train import SGDW


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10, help="PGD steps per attack")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"VGG11 width {args.width}, batch {args.batch}")
    g = torch.Generator(device=device).manual_seed(0)
    model = VGG11(0.05, width=args.width).to(device)
    x = torch.rand(args.batch, 3, 32, 32, generator=g, device=device)
    y = torch.randint(0, 10, (args.batch,), generator=g, device=device)
    eps = 8 / 255
    step = 2.5 * eps / args.steps
    model.eval()
    native = timed(lambda: pgd(model, x, y, eps=eps, steps=args.steps, step_size=step,
                               generator=g), args.repeats)
    fool = timed(lambda: foolbox_pgd(model, x, y, eps=eps, steps=args.steps, step_size=step,
                                     restarts=1), args.repeats)
    print(f"\nPGD-{args.steps}, one restart, {args.batch} images:")
    print(f"  native PyTorch {native:7.3f} s   Foolbox {fool:7.3f} s   "
          f"Foolbox / native = {fool / native:.2f}x")

    opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
    rewirer = Rewirer(sparse_layers(model), 0.05, crossing="track")

    def natural_step() -> None:
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rewirer.step(0.1, opt)

    def trades_step() -> None:
        model.train()
        loss, _ = trades_loss(model, x, y, beta=6.0, eps=eps, step_size=2 / 255, steps=10,
                              generator=g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rewirer.step(0.1, opt)

    nat = timed(natural_step, args.repeats)
    tra = timed(trades_step, args.repeats)
    print(f"\ntraining throughput (95% sparse, rewiring included):")
    print(f"  natural {args.batch / nat:8.1f} images/s   TRADES-10 {args.batch / tra:8.1f} "
          f"images/s   natural / TRADES = {tra / nat:.2f}x")


if __name__ == "__main__":
    main()

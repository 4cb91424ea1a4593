"""Does the evaluation attack's precision change the robust accuracy?

    python benchmarks/eval_precision_check.py --data DATA [--results results] [--images 200]

Takes the grid's demonstration model (the quick profile's TRADES run at 95 % sparsity with
random rewiring, seed 0; :func:`srewire.runs.demo_model`), attacks the first ``--images``
CIFAR-10 test images with the run's own evaluation (:func:`srewire.attacks.robustness`:
Foolbox PGD with its native cross-check, FGSM, the quick profile's steps and restarts) once
with ``eval_precision`` fp32 and once with bf16, same seed, and prints both rows and the
differences in accuracy points and in images.
"""

from __future__ import annotations

import argparse

from srewire.attacks import robustness
from srewire.data import load_data
from srewire.runs import demo_model

KEYS = ("clean_accuracy", "fgsm_accuracy", "native_pgd_accuracy", "foolbox_pgd_accuracy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder holding cifar-10-batches-py")
    ap.add_argument("--results", default="results")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    if args.images < 1:
        ap.error("--images must be at least 1")
    model, result = demo_model(args.results, args.profile)
    cfg = result["config"]
    data = load_data(args.data, n_test=args.images)
    rows = {}
    for precision in ("fp32", "bf16"):
        rob = robustness(model, data.x_test, data.y_test, eps=cfg["eval_eps"],
                         steps=cfg["pgd_steps"], restarts=cfg["pgd_restarts"],
                         batch_size=cfg["eval_batch_size"], seed=cfg["seed"],
                         precision=precision)
        rows[precision] = rob
        print(precision, {k: rob[k] for k in KEYS}, flush=True)
    n = len(data.y_test)
    print(f"{n} images, PGD-{cfg['pgd_steps']} x {cfg['pgd_restarts']} restarts; "
          f"bf16 - fp32:")
    for k in KEYS:
        d = rows["bf16"][k] - rows["fp32"][k]
        print(f"  {k}: {d:+.2f} points ({round(d * n / 100):+d} images)")


if __name__ == "__main__":
    main()

"""GPU check (issue: srewire engine, point 10): same results as the CPU, host synchronisation
per step, and whether training is input-bound. Needs a CUDA device; prints a report and
writes it as JSON.

    python benchmarks/gpu_check.py [--out gpu_check.json] [--steps 40]

1. **CPU == GPU.** Short ``smoke`` runs (synthetic data, written to a temporary folder) on the
   CPU and on the GPU with ``rng="host"``: the random numbers are the same, so the runs differ
   only by floating-point noise. Reported per run: identical connectivity (or the fraction of
   coordinates that agree), the largest difference of the per-epoch training loss, the clean
   and robust accuracy on both devices. With TF32 off (plain float32) and on (PyTorch's
   default for convolutions), since TF32 is a much larger "floating-point noise".
2. **Host synchronisations per step**, counted with ``torch.cuda.set_sync_debug_mode``: in the
   data pipeline, forward + backward + optimiser, and the rewiring step.
3. **Throughput** of the ``paper`` model (full width, batch 128, sparsity 0.95) on
   device-resident data through the real training loop, against the same steps on one fixed
   batch with no data pipeline (input-bound ratio), with and without rewiring, host and
   device randomness, natural and TRADES.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from srewire.config import make_config
from srewire.data import batches, write_synthetic
from srewire.models import VGG11, sparse_layers
from srewire.rewiring import Rewirer, RewireStats
from srewire.rng import make_generator
from srewire.runs import _git_commit, load_masks, run
from srewire.trades import trades_loss
from srewire.train import SGDW, train_epoch


def set_tf32(on: bool) -> None:
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def same_results(root: Path, work: Path, device: str) -> list[dict]:
    cases = [("natural", "random", False), ("natural", "structured", False),
             ("natural", "weight_based", False), ("trades", "random", False),
             ("natural", "structured", True)]
    rows = []
    for objective, strategy, tf32 in cases:
        cfg = make_config("smoke", objective, 0.9, strategy, seed=0, epochs=3,
                          robust_for_natural=True)
        res, masks = {}, {}
        for dev in ("cpu", device):
            set_tf32(tf32)
            out = work / f"{objective}_{strategy}_tf32{int(tf32)}_{dev.replace(':', '')}"
            t = time.perf_counter()
            res[dev] = run(cfg, out, data_root=root, device=dev, quiet=True)
            res[dev]["_seconds"] = time.perf_counter() - t
            masks[dev] = load_masks(out / "masks.npz")
        a, b = res["cpu"], res[device]
        agree = sum(int((masks["cpu"][k] == masks[device][k]).sum()) for k in masks["cpu"])
        total = sum(m.size for m in masks["cpu"].values())
        loss = max(abs(x - y) for x, y in zip(a["curves"]["train_loss"],
                                              b["curves"]["train_loss"]))
        first_a = a["rewiring_stats"]["revived_per_step_first_epoch"]
        first_b = b["rewiring_stats"]["revived_per_step_first_epoch"]
        same_steps = next((i for i, (x, y) in enumerate(zip(first_a, first_b)) if x != y),
                          len(first_a))
        rows.append(dict(objective=objective, rewiring=strategy, tf32=tf32,
                         masks_identical=agree == total, mask_agreement=agree / total,
                         max_train_loss_diff=loss,
                         steps_with_same_revival_counts=f"{same_steps}/{len(first_a)}",
                         clean_cpu=a["clean_accuracy"], clean_gpu=b["clean_accuracy"],
                         robust_cpu=a["robust_accuracy"], robust_gpu=b["robust_accuracy"],
                         seconds_cpu=round(a["_seconds"], 1),
                         seconds_gpu=round(b["_seconds"], 1)))
        print(rows[-1], flush=True)
    set_tf32(False)
    return rows


class NoRewiring:
    """Stands in for a Rewirer: the masked-sparse network trained without rewiring."""

    def step(self, lr: float, optimizer=None) -> RewireStats:
        return RewireStats(0, 0, 0, 0)


def model_and_rewirer(strategy: str | None, device: str, rng: str, sparsity: float = 0.95):
    model = VGG11(1 - sparsity, seed=0).to(device)
    opt = SGDW(model.parameters(), lr=0.1, weight_decay=5e-4)
    rewirer = (Rewirer(sparse_layers(model), 1 - sparsity, strategy=strategy,
                       crossing="track", seed=0, rng=rng) if strategy else NoRewiring())
    return model, opt, rewirer


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def count_syncs(fn) -> int:
    if not torch.cuda.is_available():  # a dry run of this script on a CPU
        fn()
        return 0
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in seen)


def syncs_per_step(device: str, objective: str, strategy: str, rng: str) -> dict:
    model, opt, rewirer = model_and_rewirer(strategy, device, rng)
    x = torch.randint(0, 256, (1024, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (1024,), device=device)
    g = make_generator(1, device, rng)
    it = batches(x, y, 128, g)
    out = {"data": 0, "train": 0, "rewire": 0}
    for i in range(4):  # the first step fills the budget; count steps 2-4
        holder = {}
        n_data = count_syncs(lambda: holder.update(batch=next(it)))
        xb, yb = holder["batch"]

        def train():
            if objective == "trades":
                loss, _ = trades_loss(model, xb, yb, beta=6.0, eps=8 / 255, step_size=2 / 255,
                                      steps=10, generator=g)
            else:
                loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        n_train = count_syncs(train)
        n_rewire = count_syncs(lambda: rewirer.step(0.1, opt))
        if i:
            out["data"] += n_data / 3
            out["train"] += n_train / 3
            out["rewire"] += n_rewire / 3
    return {k: round(v, 1) for k, v in out.items()}


def throughput(device: str, objective: str, strategy: str | None, rng: str, steps: int,
               sparsity: float = 0.95) -> dict:
    cfg = make_config("paper", objective, sparsity, strategy or "random", seed=0, rng=rng)
    model, opt, rewirer = model_and_rewirer(strategy, device, rng, sparsity)
    g = make_generator(1, device, rng)
    n = 128 * steps
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, device=device,
                      generator=torch.Generator(device=device).manual_seed(0))
    y = torch.randint(0, 10, (n,), device=device)
    train_epoch(model, opt, rewirer, x[:128 * 10], y[:128 * 10], cfg, step=0,
                total_steps=10 * steps, generator=g)  # warm-up (and the budget fill)
    sync()
    t = time.perf_counter()
    stats = train_epoch(model, opt, rewirer, x, y, cfg, step=10, total_steps=10 * steps,
                        generator=g)
    sync()
    seconds = time.perf_counter() - t
    return dict(objective=objective, sparsity=sparsity, rewiring=strategy or "none (masked)",
                rng=rng,
                step_ms=round(1e3 * seconds / steps, 3), images_per_s=round(n / seconds, 1),
                rewire_ms=round(1e3 * stats.rewire_seconds / steps, 3))


def fixed_batch_steps(device: str, steps: int) -> float:
    """ms per natural step on one fixed batch, no data pipeline, no rewiring."""
    model, opt, _ = model_and_rewirer(None, device, "device")
    xb = torch.rand(128, 3, 32, 32, device=device)
    yb = torch.randint(0, 10, (128,), device=device)
    times = []
    for i in range(steps + 10):
        sync()
        t = time.perf_counter()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        if i >= 10:
            times.append(time.perf_counter() - t)
    return 1e3 * statistics.mean(times)


def section(report: dict, name: str, fn) -> None:
    """Run one part of the check; a failure is reported and the other parts still run."""
    try:
        report[name] = fn()
    except Exception as exc:  # noqa: BLE001 - the report must say what broke
        import traceback

        traceback.print_exc()
        report[name] = f"failed: {type(exc).__name__}: {exc}"


def loop_syncs(device: str, strategy: str | None, steps: int = 8) -> float:
    """Host synchronisations per step of the real training loop (``train_epoch``), which also
    reads the loss and accuracy back once at the epoch's end."""
    cfg = make_config("paper", "natural", 0.95, strategy or "random", seed=0)
    model, opt, rewirer = model_and_rewirer(strategy, device, "host")
    x = torch.randint(0, 256, (128 * steps, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (128 * steps,), device=device)
    g = make_generator(1, device, "host")
    train_epoch(model, opt, rewirer, x, y, cfg, step=0, total_steps=10 * steps, generator=g)
    n = count_syncs(lambda: train_epoch(model, opt, rewirer, x, y, cfg, step=steps,
                                        total_steps=10 * steps, generator=g))
    return round(n / steps, 2)


def sync_table(device: str) -> list[dict]:
    rows = [{"training loop (train_epoch) without rewiring, syncs per step":
             loop_syncs(device, None)},
            {"training loop (train_epoch) with random rewiring, syncs per step":
             loop_syncs(device, "random")}]
    print(rows, flush=True)
    for objective, strategy, rng in [("natural", "random", "host"),
                                     ("natural", "structured", "host"),
                                     ("natural", "weight_based", "host"),
                                     ("natural", "random", "device"),
                                     ("trades", "random", "host")]:
        rows.append(dict(objective=objective, rewiring=strategy, rng=rng,
                         **syncs_per_step(device, objective, strategy, rng)))
        print(rows[-1], flush=True)
    return rows


def speed_table(device: str, steps: int, tf32: bool, sparsity: float = 0.95) -> dict:
    set_tf32(tf32)
    fixed = fixed_batch_steps(device, steps)
    rows = []
    for objective, strategy, rng in [("natural", None, "host"), ("natural", "random", "host"),
                                     ("natural", "random", "device"),
                                     ("natural", "structured", "host"),
                                     ("natural", "weight_based", "host"),
                                     ("trades", None, "host"), ("trades", "random", "host"),
                                     ("trades", "random", "device")]:
        n = steps if objective == "natural" else max(10, steps // 4)
        rows.append(throughput(device, objective, strategy, rng, n, sparsity))
        print(rows[-1], flush=True)
    masked = rows[0]["step_ms"]
    print(f"tf32={tf32}: fixed batch {fixed:.2f} ms/step; training loop without rewiring "
          f"{masked:.2f} ms/step ({masked / fixed:.2f}x)", flush=True)
    set_tf32(False)
    return {"fixed_batch_step_ms": round(fixed, 3),
            "input_bound_ratio (masked loop / fixed batch)": round(masked / fixed, 3),
            "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--device", default="cuda", help="cpu: a dry run of the script itself")
    p.add_argument("--skip", nargs="*", default=[], choices=["same", "syncs", "speed"])
    p.add_argument("--sparsity", type=float, nargs="+", default=[0.95])
    args = p.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (this check is for a GPU machine)")
    name = torch.cuda.get_device_name() if args.device != "cpu" else "cpu (dry run)"
    report: dict = {"torch": torch.__version__, "device": name,
                    "cpu_threads": torch.get_num_threads(), "git_commit": _git_commit()}
    print(report, flush=True)
    set_tf32(False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_synthetic(root, n_train=512, n_test=256)
        if "same" not in args.skip:
            section(report, "same_results", lambda: same_results(root, Path(tmp), args.device))
    if "syncs" not in args.skip:
        section(report, "syncs_per_step", lambda: sync_table(args.device))
    if "speed" not in args.skip:
        for sparsity in args.sparsity:
            for tf32 in (False, True):
                section(report, f"speed_s{sparsity}_tf32_{int(tf32)}",
                        lambda: speed_table(args.device, args.steps, tf32, sparsity))
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

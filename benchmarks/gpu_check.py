"""GPU check: the issue-11 targets on one GPU, and (optional sections) the engine checks of
the earlier issue (CPU == GPU, host synchronisations per step, input-bound ratio).

    python benchmarks/gpu_check.py [--out results/gpu] [--sections targets same syncs speed]
    python benchmarks/gpu_check.py --dry-run        # on the CPU, tiny, into a temporary folder

**targets**, measured in this one run on full-width VGG11, batch 128, sparsity
0.95, precision bf16, device-resident data through the real training loop
(:func:`srewire.train.train_epoch`), the step captured as a CUDA graph where it can be (the
mode is recorded per row; with ``rng="host"`` or a rewiring step that synchronises, the
capture fails and the eager loop is measured instead):

* the natural step with rewiring, for every strategy, and the rewiring's share of it (the
  same loop with a rewirer that does nothing gives the step without rewiring:
  share = 1 - without / with);
* the TRADES-10 step;
* the evaluation attack (:func:`srewire.attacks.robustness`, Foolbox PGD-50 x 10 restarts
  plus its native cross-check, at ``eval_precision``) on a measured subset, *projected* to
  all 10,000 test images;
* whole paper-profile natural and TRADES runs, *projected*: 39,000 steps, 100 clean-accuracy
  passes over the test set, and (TRADES) the evaluation attack.

It writes ``gpu_check_<device>.json`` and ``gpu_check_<device>.md`` (a markdown table with
target and measured columns) into ``--out`` and prints the table. ``--dry-run`` runs the same
code on the CPU at width 1/8 with a few steps and a few attacked images, writes into a new
temporary folder (never into results/gpu) and says that its numbers mean nothing.

The optional sections (``same``, ``syncs``, ``speed``) are those of the earlier engine check
(results/gpu/gpu_check_h200.json):

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

from srewire.attacks import accuracy, robustness
from srewire.config import make_config
from srewire.data import batches, write_synthetic
from srewire.models import VGG11, sparse_layers
from srewire.rewiring import Rewirer, RewireStats
from srewire.rng import make_generator
from srewire.runs import _git_commit, load_masks, run
from srewire.trades import trades_loss
from srewire.train import SGDW, TrainStep, train_epoch


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


# --------------------------------------------------------------------------------------------
# the issue-11 targets
# --------------------------------------------------------------------------------------------

PAPER_STEPS, PAPER_EPOCHS, TEST_IMAGES = 390 * 100, 100, 10_000
TARGETS = {  # on one H200
    "natural step with rewiring (ms)": 2.0,
    "rewiring share of the natural step": 0.15,
    "TRADES-10 step (ms)": 9.0,
    "PGD-50 x 10 restarts, 10,000 test images (min)": 2.5,
    "whole paper natural run (min)": 2.0,
    "whole paper TRADES run, evaluation included (min)": 9.0,
}


class _Sizes:
    """What a targets measurement runs: the real sizes on a GPU, tiny ones for a dry run."""

    def __init__(self, dry: bool, steps: int, pgd_images: int) -> None:
        self.width = 0.125 if dry else 1.0
        self.batch = 128
        self.steps = 3 if dry else steps
        self.trades_steps = 1 if dry else max(10, steps // 4)
        self.pgd_images = 4 if dry else pgd_images
        self.pgd_steps, self.pgd_restarts = (5, 2) if dry else (50, 10)
        self.test_images = 64 if dry else TEST_IMAGES


def _loop_ms(device: str, objective: str, strategy: str | None, rng: str, precision: str,
             sizes: _Sizes, graphs: bool) -> dict:
    """ms per step of train_epoch on device-resident data (warm-up epoch first)."""
    cfg = make_config("paper", objective, 0.95, strategy or "random", seed=0, rng=rng,
                      width=sizes.width, precision=precision)
    model = VGG11(cfg.connectivity, width=sizes.width, seed=0).to(device)
    opt = SGDW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rewirer = (Rewirer(sparse_layers(model), cfg.connectivity, strategy=strategy,
                       crossing="track", seed=0, rng=rng) if strategy else NoRewiring())
    g = make_generator(1, device, rng)
    n = sizes.steps if objective == "natural" else sizes.trades_steps
    x = torch.randint(0, 256, (sizes.batch * n, 3, 32, 32), dtype=torch.uint8, device=device)
    y = torch.randint(0, 10, (sizes.batch * n,), device=device)
    mode, error = "eager", None
    trainer = TrainStep(model, opt, rewirer, cfg, generator=g)
    if graphs and device != "cpu":
        try:
            captured = TrainStep(model, opt, rewirer, cfg, generator=g, graphs=True)
            train_epoch(model, opt, rewirer, x, y, cfg, step=0, total_steps=100 * n,
                        generator=g, trainer=captured)  # warm-up, capture, replays
            trainer, mode = captured, "cuda graph"
        except Exception as exc:  # noqa: BLE001 - recorded: the capture failed, eager is timed
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
    if mode == "eager":
        train_epoch(model, opt, rewirer, x, y, cfg, step=0, total_steps=100 * n, generator=g,
                    trainer=trainer)  # warm-up (and the rewiring's initial fill)
    sync()
    t = time.perf_counter()
    stats = train_epoch(model, opt, rewirer, x, y, cfg, step=n, total_steps=100 * n,
                        generator=g, trainer=trainer)
    sync()
    seconds = time.perf_counter() - t
    return dict(objective=objective, rewiring=strategy or "none", rng=rng,
                precision=trainer.precision.name, mode=mode, steps=n,
                step_ms=round(1e3 * seconds / n, 3),
                rewire_ms_eager_timer=round(1e3 * stats.rewire_seconds / n, 3),
                **({"graph_error": error} if error else {}))


def _eval_minutes(device: str, sizes: _Sizes, eval_precision: str) -> dict:
    """The evaluation attack as a TRADES run calls it, on a subset, projected to 10,000."""
    model = VGG11(0.05, width=sizes.width, seed=0).to(device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(sizes.pgd_images, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (sizes.pgd_images,), generator=g).to(device)
    sync()
    t = time.perf_counter()
    rob = robustness(model, x, y, eps=8 / 255, steps=sizes.pgd_steps,
                     restarts=sizes.pgd_restarts, batch_size=min(250, sizes.pgd_images),
                     precision=eval_precision)
    sync()
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    accuracy(model, x, y, 250)
    sync()
    clean = time.perf_counter() - t
    per_image = seconds / sizes.pgd_images
    return {"images_measured": sizes.pgd_images, "seconds_measured": round(seconds, 2),
            "attack": f"PGD-{sizes.pgd_steps} x {sizes.pgd_restarts}",
            "precision": rob["attack"]["precision"],
            "projected_10000_min": round(per_image * TEST_IMAGES / 60, 3),
            "clean_pass_10000_s_projected": round(clean / sizes.pgd_images * TEST_IMAGES, 3)}


def targets(device: str, dry: bool, steps: int, pgd_images: int, rng: str,
            graphs: bool) -> dict:
    """Every row of the issue-11 target table, measured (or projected, labelled) here."""
    sizes = _Sizes(dry, steps, pgd_images)
    rows = []
    for objective, strategy in [("natural", None), ("natural", "random"),
                                ("natural", "structured"), ("natural", "weight_based"),
                                ("trades", "random")]:
        rows.append(_loop_ms(device, objective, strategy, rng, "bf16", sizes, graphs))
        print(rows[-1], flush=True)
    ev = _eval_minutes(device, sizes, "fp32")
    print(ev, flush=True)
    bare = rows[0]["step_ms"]
    natural = [r for r in rows[1:4]]
    trades = rows[4]
    worst = max(r["step_ms"] for r in natural)
    clean_min = ev["clean_pass_10000_s_projected"] * PAPER_EPOCHS / 60
    measured = {
        "natural step with rewiring (ms)":
            {r["rewiring"]: r["step_ms"] for r in natural},
        "rewiring share of the natural step":
            {r["rewiring"]: round(max(0.0, 1 - bare / r["step_ms"]), 3) for r in natural},
        "TRADES-10 step (ms)": trades["step_ms"],
        "PGD-50 x 10 restarts, 10,000 test images (min)": ev["projected_10000_min"],
        "whole paper natural run (min)":
            round(PAPER_STEPS * worst / 6e4 + clean_min, 2),
        "whole paper TRADES run, evaluation included (min)":
            round(PAPER_STEPS * trades["step_ms"] / 6e4 + clean_min
                  + ev["projected_10000_min"], 2),
    }
    how = {
        "natural step with rewiring (ms)": "measured",
        "rewiring share of the natural step": "measured: 1 - (step without rewiring) / step",
        "TRADES-10 step (ms)": "measured",
        "PGD-50 x 10 restarts, 10,000 test images (min)":
            f"projected from {ev['images_measured']} images ({ev['attack']})",
        "whole paper natural run (min)":
            "projected: 39,000 x slowest strategy's step + 100 clean passes",
        "whole paper TRADES run, evaluation included (min)":
            "projected: 39,000 x TRADES step + 100 clean passes + PGD projection",
    }
    return {"sizes": vars(sizes), "rows": rows, "eval": ev, "measured": measured,
            "how": how, "targets": TARGETS}


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:g}" for k, v in value.items())
    return f"{value:g}"


def target_table(t: dict, dry: bool) -> str:
    """The markdown table: target, measured (how), and whether the target is met."""
    lines = ["| what | target | measured | how | met |", "| --- | --- | --- | --- | --- |"]
    for what, target in t["targets"].items():
        value = t["measured"][what]
        worst = max(value.values()) if isinstance(value, dict) else value
        met = "dry run" if dry else ("yes" if worst <= target else "no")
        lines.append(f"| {what} | <= {target:g} | {_cell(value)} | {t['how'][what]} | {met} |")
    if dry:
        lines.append("")
        lines.append("DRY RUN on the CPU at width 1/8 with a few steps: these numbers only show "
                     "that the script runs; they are not GPU figures.")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")[:40]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=None,
                   help="folder for the JSON and markdown report (default results/gpu; a dry "
                        "run writes into a new temporary folder)")
    p.add_argument("--steps", type=int, default=40, help="timed natural steps per row")
    p.add_argument("--pgd-images", type=int, default=500,
                   help="test images attacked for the PGD projection")
    p.add_argument("--rng", default="device", choices=["host", "device"],
                   help="randomness of the targets' runs (device: the sync-free rewiring)")
    p.add_argument("--no-graphs", action="store_true", help="time the eager loop only")
    p.add_argument("--dry-run", action="store_true",
                   help="run everything on the CPU at tiny size (checks the script only)")
    p.add_argument("--sections", nargs="+", default=["targets"],
                   choices=["targets", "same", "syncs", "speed"])
    p.add_argument("--sparsity", type=float, nargs="+", default=[0.95],
                   help="sparsities of the speed section")
    args = p.parse_args()
    if args.steps < 1 or args.pgd_images < 1:
        p.error("--steps and --pgd-images must be at least 1")
    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (this check is for a GPU machine; "
                         "--dry-run runs it on the CPU)")
    if args.out is None:
        out = Path(tempfile.mkdtemp(prefix="gpu_check_dry_")) if args.dry_run \
            else Path("results/gpu")
    else:
        out = Path(args.out)
        if args.dry_run and out.resolve().parts[-2:] == ("results", "gpu"):
            p.error("--out: a dry run does not write into results/gpu")
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"
    report: dict = {"torch": torch.__version__, "device": name, "dry_run": args.dry_run,
                    "cpu_threads": torch.get_num_threads(), "git_commit": _git_commit()}
    print(report, flush=True)
    set_tf32(False)
    if "targets" in args.sections:
        section(report, "targets", lambda: targets(device, args.dry_run, args.steps,
                                                   args.pgd_images, args.rng,
                                                   not args.no_graphs))
    if "same" in args.sections:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "data"
            write_synthetic(root, n_train=512, n_test=256)
            section(report, "same_results", lambda: same_results(root, Path(tmp), device))
    if "syncs" in args.sections:
        section(report, "syncs_per_step", lambda: sync_table(device))
    if "speed" in args.sections:
        for sparsity in args.sparsity:
            for tf32 in (False, True):
                section(report, f"speed_s{sparsity}_tf32_{int(tf32)}",
                        lambda: speed_table(device, args.steps, tf32, sparsity))
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"gpu_check_{_slug(name)}"
    table = (target_table(report["targets"], args.dry_run)
             if isinstance(report.get("targets"), dict) else None)
    Path(f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    if table:
        Path(f"{stem}.md").write_text(f"GPU check on {name}, torch {torch.__version__}, "
                                      f"commit {report['git_commit']}\n\n{table}\n")
        print(table)
    print(f"written: {stem}.json" + (f", {stem}.md" if table else ""))


if __name__ == "__main__":
    main()

"""The thesis's proposed follow-up: train at 98 %, prune with the structure in mind to 99 %,
fine-tune with the masks fixed (Thesis, Discussion).

:func:`prune_to` removes connections of a trained network until exactly the connection budget
of the target sparsity is left (``int((1 - sparsity) * size)``, the rewiring's own budget):

1. first the *lone weights*, the connections alone in their fibre along the output axis (the
   weights the thesis's single-fibre pruning removes, Thesis §4.1); if there are more of them
   than needed, the smallest in magnitude go;
2. then whole fibres along the output axis, weakest first (smallest L2 or L1 norm of the
   fibre's weights, ranked over all layers together); the last fibre is cut only as far as the
   budget needs, its smallest weights first.

Every removed fibre is one im2col row (convolutions) or input column (dense layers) less for
the fibre-compacted inference model of :mod:`srewire.deploy`.

:func:`fine_tune` then trains ``steps`` SGD steps without rewiring: a connected weight stays
connected (its ``theta`` is held at or above the revival value) and a dormant one stays dormant.

Command line (regenerates ``results/quick/prune/``; trains the 98 % networks first when their
folders under ``--runs`` hold no finished run)::

    python -m srewire.prune --seeds 0 1 --data ../shared/data --steps 128
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .attacks import accuracy
from .config import ConfigError, from_dict, make_config
from .data import DataError, batches, load_data
from .metrics import fibre_report, sparsity
from .models import VGG11, layer_names, sparse_layers
from .rng import make_generator
from .files import atomic_write_json
from .runs import (MASKS, RESULT, WEIGHTS, RunError, _round, load_weights, run, run_name,
                   save_masks)
from .train import SGDW

__all__ = ["prune_to", "fine_tune", "prune_run", "NORMS"]

NORMS = ("l2", "l1")


def _budget(model: VGG11, target: float) -> int:
    return int(round(1.0 - target, 12) * sum(layer.size for layer in sparse_layers(model)))


@torch.no_grad()
def prune_to(model: VGG11, target: float, *, norm: str = "l2") -> dict[str, Any]:
    """Set connections of ``model`` dormant (theta = 0), lone weights first and then the
    weakest output-axis fibres, until exactly ``int((1 - target) * size)`` are left.

    Returns counts: connections before and after, lone weights removed, whole fibres removed,
    weights removed from a partly cut fibre. Raises ``ValueError`` for a bad ``target`` or
    ``norm``, or when the model already has no more connections than the budget.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")
    if not 0 < target < 1:
        raise ValueError(f"target must be in the open interval (0, 1); got {target!r}")
    layers = sparse_layers(model)
    budget = _budget(model, target)
    before = sum(int(layer.connected().sum()) for layer in layers)
    excess = before - budget
    if excess <= 0:
        raise ValueError(f"target: the model has {before} connections, not more than the "
                         f"budget {budget} of sparsity {target}")
    # 1. lone weights (alone in their output-axis fibre), smallest magnitude first
    lone = []  # (|w|, layer index, flat index)
    for li, layer in enumerate(layers):
        mask = layer.connected()
        alone = (mask & (mask.sum(0, keepdim=True) == 1)).reshape(-1)
        idx = torch.nonzero(alone).flatten()
        mags = layer.weight().reshape(-1)[idx].abs()
        lone += [(float(m), li, int(i)) for m, i in zip(mags, idx)]
    lone.sort()
    removed_lone = min(len(lone), excess)
    for _, li, i in lone[:removed_lone]:
        layers[li].theta.view(-1)[i] = 0.0
    excess -= removed_lone
    # 2. whole fibres along the output axis (dim 0), weakest first over all layers
    fibres = []  # (norm, layer index, fibre index into the flattened non-output axes)
    p = 2 if norm == "l2" else 1
    for li, layer in enumerate(layers):
        w = layer.weight().reshape(layer.theta.shape[0], -1)
        counts = (w != 0).sum(0)
        norms = w.norm(p=p, dim=0)
        for j in torch.nonzero(counts).flatten().tolist():
            fibres.append((float(norms[j]), li, j, int(counts[j])))
    fibres.sort()
    whole = partial = 0
    for _, li, j, count in fibres:
        if excess == 0:
            break
        theta = layers[li].theta.view(layers[li].theta.shape[0], -1)
        if count <= excess:
            theta[:, j] = 0.0
            excess -= count
            whole += 1
        else:  # cut the last fibre only as far as needed, smallest weights first
            col = theta[:, j].clamp_min(0)
            alive = torch.nonzero(col > 0).flatten()
            order = alive[torch.argsort(col[alive])][:excess]
            theta[order, j] = 0.0
            partial, excess = len(order), 0
    after = sum(int(layer.connected().sum()) for layer in layers)
    assert after == budget, (after, budget)
    return {"connections_before": before, "connections_after": after, "budget": budget,
            "lone_removed": removed_lone, "fibres_removed": whole,
            "partial_fibre_weights_removed": partial}


def fine_tune(model: VGG11, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float,
              momentum: float = 0.9, weight_decay: float = 0.0, batch_size: int = 128,
              augmentation: str = "shift", seed: int = 0, revive_value: float = 1e-12
              ) -> list[float]:
    """``steps`` SGDW steps (constant ``lr``) with the connectivity fixed; returns the losses.

    After every step a connected ``theta`` that fell to or below zero is set back to
    ``revive_value`` (so no connection dies), and dormant ones get no gradient (the ReLU), so
    the masks are the same before and after.
    """
    if steps < 0:
        raise ValueError(f"steps must be a non-negative integer; got {steps!r}")
    layers = sparse_layers(model)
    masks = [layer.connected().clone() for layer in layers]
    optimizer = SGDW(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    generator = make_generator(seed + 7, x.device, "host")
    losses: list[float] = []
    model.train()
    while len(losses) < steps:
        for xb, yb in batches(x, y, batch_size, generator, augmentation):
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for layer, mask in zip(layers, masks):
                    layer.theta[mask] = layer.theta[mask].clamp_min(revive_value)
            losses.append(float(loss.detach()))
            if len(losses) == steps:
                break
    model.eval()
    for layer, mask in zip(layers, masks):
        assert torch.equal(layer.connected(), mask)
    return losses


def _summary(model: VGG11, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> dict:
    sp = sparsity(model)
    return {"clean_accuracy": accuracy(model, x, y, batch_size), "sparsity": sp["global"],
            "per_layer_sparsity": sp["per_layer"], "connections": sp["connections"],
            "zero_fibres": fibre_report(model)}


def prune_run(source: str | Path, out: str | Path, *, target: float = 0.99, steps: int = 128,
              lr: float = 0.01, norm: str = "l2", data_root: str | None = None) -> dict:
    """Prune the trained network in ``source`` (a run folder with ``weights.npz``) to
    ``target``, fine-tune ``steps`` steps, evaluate on the run's test set; write
    ``result.json`` and ``masks.npz`` (no weights) into ``out`` and return the result."""
    source, out = Path(source), Path(out)
    if not (source / WEIGHTS).is_file():
        raise RunError(f"source: no {WEIGHTS} in {source} (train with save_weights=True)")
    trained = json.loads((source / RESULT).read_text())
    cfg = from_dict(trained["config"])
    if not target > cfg.sparsity:
        raise ConfigError(f"target must exceed the trained sparsity {cfg.sparsity}; "
                          f"got {target}")
    data = load_data(data_root, n_train=cfg.n_train, n_test=cfg.n_test, data_seed=cfg.data_seed,
                     allow_synthetic=cfg.profile == "smoke")  # as runs.run: smoke only
    t0 = time.perf_counter()
    model = load_weights(source / WEIGHTS, cfg)
    result: dict[str, Any] = {"config": cfg.to_dict(),
                              "prune": {"target": target, "norm": norm, "steps": steps,
                                        "lr": lr, "source": source.name}}
    result["trained"] = _summary(model, data.x_test, data.y_test, cfg.eval_batch_size)
    result["prune"].update(prune_to(model, target, norm=norm))
    result["after_prune"] = _summary(model, data.x_test, data.y_test, cfg.eval_batch_size)
    t1 = time.perf_counter()
    losses = fine_tune(model, data.x_train, data.y_train, steps=steps, lr=lr,
                       weight_decay=cfg.weight_decay * lr / cfg.lr,
                       batch_size=cfg.batch_size, augmentation=cfg.augmentation,
                       seed=cfg.seed)
    t2 = time.perf_counter()
    final = _summary(model, data.x_test, data.y_test, cfg.eval_batch_size)
    result.update({"clean_accuracy": final["clean_accuracy"], "sparsity": final["sparsity"],
                   "connections": final["connections"], "zero_fibres": final["zero_fibres"],
                   "per_layer_sparsity": final["per_layer_sparsity"],
                   "fine_tune_loss": losses[::8] + losses[-1:],
                   "provenance": {"n_test": len(data.x_test), "data": data.name,
                                  "threads": torch.get_num_threads(),
                                  "wall_time_s": {"prune": t1 - t0, "fine_tune": t2 - t1}}})
    # numbers rounded for the file, the config never (1e-12 must stay 1e-12)
    rest = _round({k: v for k, v in result.items() if k != "config"})
    result = {"config": cfg.to_dict(), **rest}
    out.mkdir(parents=True, exist_ok=True)
    save_masks(model, out / MASKS)
    atomic_write_json(out / RESULT, result)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m srewire.prune",
                                description="train weight-based at 98 %, prune to 99 %, "
                                            "fine-tune")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--profile", default="quick", choices=("smoke", "quick"))
    p.add_argument("--trained", type=float, default=0.98, help="sparsity trained at")
    p.add_argument("--target", type=float, default=0.99, help="sparsity pruned to")
    p.add_argument("--steps", type=int, default=128, help="fine-tuning steps")
    p.add_argument("--lr", type=float, default=0.01, help="fine-tuning learning rate")
    p.add_argument("--norm", choices=NORMS, default="l2")
    p.add_argument("--runs", default="runs", help="folder of the trained runs (with weights)")
    p.add_argument("--results", default="results", help="results folder (writes "
                   "<profile>/prune/<run>/)")
    p.add_argument("--data", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not 0 < args.trained < args.target < 1:
            raise ConfigError(f"need 0 < trained < target < 1; got trained {args.trained}, "
                              f"target {args.target}")
        if args.steps < 0:
            raise ConfigError(f"steps must be non-negative; got {args.steps}")
        for seed in args.seeds:
            cfg = make_config(args.profile, "natural", args.trained, "weight_based", seed,
                              save_weights=True)
            source = Path(args.runs) / args.profile / run_name(cfg)
            print(f"train {source} (skipped when finished)", flush=True)
            run(cfg, source, data_root=args.data, quiet=True)
            name = f"natural_s{args.trained:g}to{args.target:g}_weight_based_seed{seed}"
            out = Path(args.results) / args.profile / "prune" / name
            r = prune_run(source, out, target=args.target, steps=args.steps, lr=args.lr,
                          norm=args.norm, data_root=args.data)
            print(json.dumps({"out": str(out), "clean_accuracy": r["clean_accuracy"],
                              "after_prune": r["after_prune"]["clean_accuracy"],
                              "zero_fibres_out": r["zero_fibres"]["global"]["out"]}),
                  flush=True)
    except (ConfigError, DataError, RunError, ValueError) as exc:
        print(f"srewire.prune: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

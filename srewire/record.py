"""A RobustBench-style record of a TRADES network, written from its ``result.json``.

RobustBench (Croce et al., NeurIPS 2021 Datasets and Benchmarks) lists robust models with
the facts needed to compare them: dataset, threat model, eps, architecture, clean accuracy and
AutoAttack accuracy, on how many test images. :func:`record` collects those facts for one run,
adds what matters for sparse networks (sparsity, rewiring strategy, zero fibres) and the code
that made the numbers, and :func:`write_record` stores it as ``robustbench.json`` beside the
run's ``result.json``. Every value comes from ``result.json``; nothing is recomputed.

A record needs an AutoAttack evaluation (``python -m srewire evaluate RUN_DIR --attack
autoattack``); a natural network, or one not yet attacked, gets a clear error instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from .files import atomic_write_json

__all__ = ["RECORD", "record", "write_record", "RecordError"]

RECORD = "robustbench.json"


class RecordError(ValueError):
    """The result cannot give a record (not a TRADES network, or no AutoAttack numbers)."""


def _eps_text(eps: float) -> str:
    """eps as the field writes it ("8/255") when it is a ratio with denominator 255."""
    levels = eps * 255
    if abs(levels - round(levels)) < 1e-6:  # the config keeps eps unrounded
        return f"{round(levels)}/255"
    return f"{eps:g}"


def record(result: dict) -> dict:
    """The record of one run's ``result`` (a parsed ``result.json``); :class:`RecordError`
    when the run is not a TRADES network or has no AutoAttack numbers."""
    cfg = result["config"]
    where = f"{cfg.get('objective')}_s{cfg.get('sparsity'):g}_{cfg.get('rewiring')}" \
            f"_seed{cfg.get('seed')}"
    if cfg.get("objective") != "trades":
        raise RecordError(f"{where}: records are written for TRADES networks only (a natural "
                          f"network has no robustness to report)")
    aa = result.get("autoattack")
    if not aa:
        raise RecordError(f"{where}: no AutoAttack numbers in result.json; run python -m "
                          f"srewire evaluate RUN_DIR --attack autoattack first")
    prov = result.get("provenance") or {}
    aa_prov = aa.get("provenance") or {}
    head = "2048-256-256-10 dense head" if cfg.get("head", "predecessor") == "predecessor" \
        else "512-10 dense head"
    return {
        "dataset": "cifar10",
        "threat_model": "Linf",
        "eps": _eps_text(cfg["eval_eps"]),
        "architecture": f"VGG11 (width {cfg.get('width', 1.0):g}, {head}), sparse",
        "sparsity": result["sparsity"]["global"],
        "training": {"objective": "TRADES", "beta": cfg.get("beta"),
                     "rewiring": cfg.get("rewiring"), "profile": cfg.get("profile"),
                     "epochs": cfg.get("epochs"), "seed": cfg.get("seed")},
        "clean_acc": aa["clean_accuracy"],
        "autoattack_acc": aa["robust_accuracy"],
        "autoattack_components": {c["name"]: c["robust_accuracy"] for c in aa["components"]},
        "pgd_acc": (result.get("robustness") or {}).get("robust_accuracy"),
        "clean_acc_full_test_set": result.get("clean_accuracy"),
        "n_images": aa["attack"]["n_images"],
        "n_test_images": prov.get("n_test"),
        "attack": aa["attack"].get("name"),
        "attack_library": aa["attack"].get("library"),
        "zero_fibres_out": (result.get("zero_fibres") or {}).get("global", {}).get("out"),
        "code_version": {"srewire": aa_prov.get("srewire"),
                         "git_commit_of_evaluation": aa_prov.get("git_commit"),
                         "git_commit_of_training": prov.get("git_commit"),
                         "training_version": prov.get("training_version", 1)},
        "data_sha256": prov.get("data_sha256"),
    }


def write_record(run_dir: str | os.PathLike) -> Path:
    """Write the record of the run in ``run_dir`` to ``run_dir/robustbench.json`` (atomically)
    and return its path."""
    from .reevaluate import run_config

    _, result = run_config(run_dir)
    return atomic_write_json(Path(run_dir) / RECORD, record(result))

"""The numbers and sentences of the chapter "Does the structure buy speed?" (Thesis §3.1,
§3.3: "the largest part could be completely left out"), by the names its prose glues.

Every function reads the benchmark's record (:func:`srewire.speed.load_deploy`) and, for the
pruning comparison, the pruned networks' results (:func:`srewire.speed.load_prune`); each
returns ``{name: text}`` for :func:`srewire.report.glue_all`, or a text the page prints.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from .report import STRATEGY_LABELS
from .speed import (batch_summary, completeness_note, fastest_overall,
                    machine_note, ratio, seeds_phrase, structure_verdict)

__all__ = ["network", "machine_text", "machine_values", "network_values", "direct_results",
           "prune_text", "prune_values", "verdict", "detail_values"]

_SPARSE_FORMS = ("compact", "csr", "condensed", "channels")


def network(record: dict, kind: str, objective: str | None = None,
            sparsity: float | None = None, rewiring: str | None = None) -> dict | None:
    """The record's first network of ``kind`` that matches every field given, or None."""
    want = {"objective": objective, "sparsity": sparsity, "rewiring": rewiring}
    return next((e for e in record["networks"] if e["kind"] == kind
                 and all(v is None or e[k] == v for k, v in want.items())), None)


def machine_text(record: dict) -> str:
    """The machine and the settings of the benchmark, in three lines."""
    m, s = record["machine"], record["settings"]
    return (f"CPU: {m['cpu']}, {m['logical_cores']} logical cores; torch {m['torch']}, "
            f"{m['threads']} threads, fp32\n"
            f"batches {s['batches']}, {s['rounds']} interleaved rounds per measurement, "
            f"masks of seed {s['seed_of_masks']}, {s['weights']}\n"
            f"1-minute load average: {m['load_average_1min']['before']:.1f} before, "
            f"{m['load_average_1min']['after']:.1f} after; complete: {record['complete']}")


def machine_values(record: dict) -> dict[str, str]:
    """What was measured, where: CPU, cores, threads, torch, the load before and after,
    which networks were timed at large batches, and the notes on load and completeness."""
    m, s = record["machine"], record["settings"]
    return {"cpu": m["cpu"], "cores": str(m["logical_cores"]), "threads": str(m["threads"]),
            "torch": m["torch"],
            "load_before": f"{m['load_average_1min']['before']:.1f}",
            "load_after": f"{m['load_average_1min']['after']:.1f}",
            "large_for": s.get("large_batches_for", "all networks").replace("key networks: ", ""),
            "machine_note": machine_note(record), "complete_note": completeness_note(record)}


def _share(macs: dict, part: str) -> float:
    """Multiply-adds of ``part`` as a percentage of the dense multiply-adds."""
    return 100 * macs[part]["total"] / macs["dense"]["total"]


def network_values(record: dict) -> dict[str, str]:
    """The 99 % networks as trained, weight-based (``wb``) and unstructured (``rnd``): their
    floor and fibre-compacted multiply-adds (% of dense), their zero fibres, the latency of
    every sparse form relative to dense masked per batch (``n/a`` where not measured), and
    the fastest form of any network per batch (``srewire.speed.fastest_overall``)."""
    out: dict[str, str] = {}
    batches = record["settings"]["batches"]
    for tag, rw in (("wb", "weight_based"), ("rnd", "random")):
        e = network(record, "trained", "natural", 0.99, rw)
        out[f"floor_{tag}"] = f"{_share(e['multiply_adds'], 'nonzero'):.1f}" if e else "n/a"
        out[f"fib_{tag}"] = f"{e['zero_fibres_out']:.1f}" if e else "n/a"
        out[f"compact_mac_{tag}"] = (f"{_share(e['multiply_adds'], 'compact'):.0f}" if e
                                     else "n/a")
        for b in batches:
            lat = e["latency"].get(str(b)) if e else None
            for v in _SPARSE_FORMS:
                out[f"{v}_{tag}_{b}"] = f"{lat[v]['relative_to_dense']:.2f}" if lat else "n/a"
    for b in batches:
        best, variant, name = fastest_overall(record, b)
        out.update({f"best_{b}": f"{best:.2f}", f"best_variant_{b}": variant,
                    f"best_net_{b}": name})
    return out


def direct_results(results_dir: str | os.PathLike, profile: str) -> list[dict]:
    """The results of the directly trained 99 % natural networks of every strategy and seed
    under ``results_dir/profile``."""
    return [json.loads(f.read_text()) for f in
            sorted(Path(results_dir, profile).glob("natural_s0.99_*/result.json"))]


def prune_text(pruned: list[dict]) -> str:
    """How the first pruned network was fine-tuned and what pruning removed, in a line."""
    p = pruned[0]["prune"]
    return (f"fine-tuning: {p['steps']} steps at lr {p['lr']}; pruning removed "
            f"{p['lone_removed']:,} lone weights and {p['fibres_removed']:,} whole fibres "
            f"(seed {pruned[0]['config']['seed']})")


def prune_values(table: pd.DataFrame, pruned: list[dict]) -> dict[str, str]:
    """The pruning comparison (:func:`srewire.speed.prune_comparison` as ``table``) in
    numbers: the pruned networks' accuracy trained, cut and fine-tuned (mean over seeds),
    their zero fibres and latency, and the same for each directly trained strategy."""
    def mean(key: str) -> float:
        return sum(r[key]["clean_accuracy"] for r in pruned) / len(pruned)

    row = table.loc["98 % weight-based, pruned to 99 %, fine-tuned"]
    out = {"ft_steps": str(pruned[0]["prune"]["steps"]), "p_acc98": f"{mean('trained'):.1f}",
           "p_acc_cut": f"{mean('after_prune'):.1f}",
           "p_acc": f"{row['clean accuracy %']:.1f}", "p_fib": f"{row['zero fibres (out) %']:.1f}",
           "p_seeds": seeds_phrase(len(pruned)), "p_lat": ratio(row["fibre-compacted x dense"])}
    for rw, label in STRATEGY_LABELS.items():
        r = table.loc[f"99 % directly, {label}"]
        out.update({f"d_acc_{rw}": f"{r['clean accuracy %']:.1f}",
                    f"d_fib_{rw}": f"{r['zero fibres (out) %']:.1f}",
                    f"d_lat_{rw}": ratio(r["fibre-compacted x dense"])})
    return out


def _compact(entry: dict, batch: int | str) -> float:
    return entry["latency"][str(batch)]["compact"]["relative_to_dense"]


def verdict(record: dict) -> str:
    """The chapter's answer in a sentence: the fibre-compacted latency of the 99 %
    weight-based network as trained and of the network pruned to 99 % from 98 %, at batch 1
    and 128, against the floor of the nonzero weights' multiply-adds."""
    wb99 = network(record, "trained", "natural", 0.99, "weight_based")
    pr98 = network(record, "prune98")
    floor = _share(wb99["multiply_adds"], "nonzero") / 100
    return (f"Leaving out the empty fibres of the 99 % weight-based network as trained gives "
            f"{_compact(wb99, 1):.2f} x the dense masked latency at batch 1 and "
            f"{_compact(wb99, 128):.2f} x at batch 128, against the {floor:.3f} x of "
            f"the multiply-adds that its nonzero weights would allow; the network trained at "
            f"98 % and pruned with the structure in mind to 99 % runs fibre-compacted at "
            f"{_compact(pr98, 1):.2f} x and {_compact(pr98, 128):.2f} x.")


def detail_values(record: dict) -> dict[str, str]:
    """The closing section's numbers: the :func:`verdict`, a summary per batch
    (:func:`srewire.speed.batch_summary`), the structure verdict, and for the 99 %
    weight-based network (``wb``) and the pruned one (``p``) every form's latency relative to
    dense masked, the spread of dense masked (interquartile range, % of the median) and the
    fibre-compacted and floor multiply-adds (% of dense)."""
    batches = record["settings"]["batches"]
    out = {"verdict": verdict(record), "structure_verdict": structure_verdict(record)}
    out.update({f"summary_{b}": batch_summary(record, b) for b in batches})
    for tag, e in (("wb", network(record, "trained", "natural", 0.99, "weight_based")),
                   ("p", network(record, "prune98"))):
        for b in batches:
            lat = e["latency"][str(b)]
            out[f"iqr_{tag}_{b}"] = f"{100 * lat['dense']['iqr_s'] / lat['dense']['median_s']:.0f}"
            out.update({f"{tag}_{v}_{b}": f"{lat[v]['relative_to_dense']:.2f}"
                        for v in ("compact", "channels", "csr", "condensed")})
        out[f"{tag}_compact_mac"] = f"{_share(e['multiply_adds'], 'compact'):.0f}"
        out[f"{tag}_floor"] = f"{_share(e['multiply_adds'], 'nonzero'):.1f}"
    return out

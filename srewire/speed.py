"""Tables and a figure for the chapter "Does the structure buy speed?", read from
``results/<profile>/deploy/deploy.json`` (``benchmarks/bench_deploy.py``) and
``results/<profile>/prune/*/result.json`` (``python -m srewire.prune``).

Nothing here times, trains or evaluates a network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .plots import MAX_WIDTH_IN, legible
from .report import ROW_LABELS, STRATEGY_LABELS

__all__ = ["VARIANT_LABELS", "ratio", "load_deploy", "load_prune", "network_label", "latency_table",
           "layer_table", "latency_chart", "prune_comparison", "separated", "winners",
           "machine_note", "batch_summary", "structure_verdict"]

VARIANT_LABELS = {"dense": "dense masked", "channels": "channels removed",
                  "compact": "fibre-compacted", "csr": "CSR sparse",
                  "condensed": "condensed (SRigL)"}
KIND_LABELS = {"trained": "", "after_pruning": ", after single-fibre pruning",
               "prune98": ", 98 % trained, pruned to 99 %", "dense_reference": ""}


def ratio(value: float | None) -> str:
    """A latency ratio for the prose: two decimals, or "n/a" where it was not measured."""
    return "n/a" if value is None or value != value else f"{value:.2f}"


def load_deploy(results_dir: str | os.PathLike = "results", profile: str = "quick") -> dict:
    """The benchmark's record; raises FileNotFoundError with the command that writes it."""
    path = Path(results_dir) / profile / "deploy" / "deploy.json"
    if not path.is_file():
        raise FileNotFoundError(f"no {path}; write it with: python benchmarks/bench_deploy.py "
                                f"--results {results_dir} --profile {profile}")
    return json.loads(path.read_text())


def load_prune(results_dir: str | os.PathLike = "results", profile: str = "quick"
               ) -> list[dict]:
    """Every pruned network's result, sorted by seed."""
    files = sorted((Path(results_dir) / profile / "prune").glob("*/result.json"))
    if not files:
        raise FileNotFoundError(f"no results under {Path(results_dir) / profile / 'prune'}; "
                                f"compute them with: python -m srewire.prune")
    rows = [json.loads(f.read_text()) for f in files]
    return sorted(rows, key=lambda r: r["config"]["seed"])


def network_label(entry: dict) -> str:
    """A short row label: '99% natural, Structured weight-based, after single-fibre pruning'."""
    if entry["kind"] == "dense_reference":
        return "dense VGG11 (0 %)"
    if entry["kind"] == "prune98":
        return "weight-based, 98 % trained, pruned to 99 %"
    row = ROW_LABELS.get((entry["objective"], entry["sparsity"]), entry["name"])
    return f"{row}, {STRATEGY_LABELS[entry['rewiring']]}{KIND_LABELS[entry['kind']]}"


QUANTITIES = ("x dense", "ms", "MMAC")


def latency_table(record: dict, batch: int, quantity: str = "x dense") -> pd.DataFrame:
    """End to end, one row per network and one column per variant (so that the table fits
    the book's column): the latency relative to dense masked (``"x dense"``), the median
    latency in ms (``"ms"``), or the multiply-adds in millions per image (``"MMAC"``, with
    the nonzero weights' multiply-adds, the floor, beside them)."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}; got {quantity!r}")
    rows = []
    for e in record["networks"]:
        lat = e["latency"].get(str(batch))
        if lat is None:
            continue
        row: dict = {"network": network_label(e)}
        if quantity == "MMAC":
            row["nonzero"] = e["multiply_adds"]["nonzero"]["total"] / 1e6
        for v, label in VARIANT_LABELS.items():
            if v not in lat:
                continue
            row[label] = {"x dense": lat[v]["relative_to_dense"],
                          "ms": 1e3 * lat[v]["median_s"],
                          "MMAC": e["multiply_adds"][v]["total"] / 1e6}[quantity]
        rows.append(row)
    if not rows:  # no network timed at this batch size
        return pd.DataFrame(index=pd.Index([], name="network"))
    return pd.DataFrame(rows).set_index("network").round(1 if quantity == "MMAC" else 3)


def layer_table(record: dict, name: str, batch: int, quantity: str = "x dense"
                ) -> pd.DataFrame:
    """Per layer of network ``name``, one column per variant: the latency relative to dense
    masked (``"x dense"``, with the dense masked layer's ms beside it) or the multiply-adds
    in thousands per image (``"MMAC"`` gives kMAC here)."""
    if quantity not in ("x dense", "MMAC"):
        raise ValueError(f"quantity must be one of x dense, MMAC; got {quantity!r}")
    e = next(n for n in record["networks"] if n["name"] == name)
    per = e["layer_latency"][str(batch)]
    layers = list(per["dense"])
    out = {}
    if quantity == "x dense":
        out["dense masked ms"] = [1e3 * per["dense"][l]["median_s"] for l in layers]
    for v in per:
        out[VARIANT_LABELS[v]] = ([per[v][l]["relative_to_dense"] for l in layers]
                                  if quantity == "x dense" else
                                  [e["multiply_adds"][v][l] / 1e3 for l in layers])
    return pd.DataFrame(out, index=layers).round(3)


@legible
def latency_chart(record: dict, kinds: tuple[str, ...] = ("trained", "prune98")) -> plt.Figure:
    """Latency relative to dense masked (log scale) per network and variant, one panel per
    batch size (the networks timed at it), with each network's multiply-add floor (nonzero /
    dense) as a black tick."""
    batches = record["settings"]["batches"]
    variants = [v for v in VARIANT_LABELS if v != "dense"]
    panels = [[e for e in record["networks"] if e["kind"] in kinds and str(b) in e["latency"]]
              for b in batches]
    heights = [0.45 * len(p) + 1.0 for p in panels]
    fig, axes = plt.subplots(len(batches), 1, figsize=(MAX_WIDTH_IN, sum(heights) + 1.6),
                             squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    h = 0.8 / len(variants)
    for ax, b, nets in zip(axes[:, 0], batches, panels):
        y = np.arange(len(nets))
        for i, v in enumerate(variants):
            vals = [e["latency"][str(b)][v]["relative_to_dense"] for e in nets]
            ax.barh(y + (i - len(variants) / 2 + 0.5) * h, vals, h, label=VARIANT_LABELS[v])
        floor = [e["multiply_adds"]["nonzero"]["total"] / e["multiply_adds"]["dense"]["total"]
                 for e in nets]
        ax.scatter(floor, y, marker="|", s=200, color="black", zorder=3,
                   label="multiply-add floor")
        ax.axvline(1.0, color="grey", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_title(f"batch {b}")
        ax.set_yticks(y, [network_label(e) for e in nets])
        ax.invert_yaxis()
    axes[-1, 0].set_xlabel("latency / dense masked (log scale; lower is faster)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def separated(a: dict, b: dict) -> bool:
    """Whether two latency measurements (``median_s``, ``iqr_s`` of their timed blocks) differ
    by more than their spread: the medians lie further apart than half the sum of the two
    interquartile ranges. A difference that fails this is noise on the machine it ran on."""
    return abs(a["median_s"] - b["median_s"]) > (a["iqr_s"] + b["iqr_s"]) / 2


def _sparse_timings(record: dict, batch: int) -> list[dict]:
    """The latencies at ``batch`` of every sparse network timed at it (dense reference left
    out), one ``{variant: measurement}`` per network."""
    return [e["latency"][str(batch)] for e in record["networks"]
            if e["kind"] != "dense_reference" and str(batch) in e["latency"]]


def _fastest(lat: dict) -> str:
    """The variant with the lowest median latency in one ``{variant: measurement}``."""
    return min(lat, key=lambda v: lat[v]["median_s"])


def winners(record: dict, batch: int) -> pd.DataFrame:
    """Where each representation wins, at one batch size, over the sparse networks timed at
    it (the dense reference left out): on how many it is the fastest of all five, on how many
    it is faster than dense masked by more than the spread (:func:`separated`), and its best
    and median latency relative to dense masked."""
    nets = _sparse_timings(record, batch)
    rows = []
    for v, label in VARIANT_LABELS.items():
        timed = [lat for lat in nets if v in lat]
        if v == "dense" or not timed:
            continue
        ratios = [lat[v]["relative_to_dense"] for lat in timed]
        rows.append({"representation": label,
                     "fastest on": sum(_fastest(lat) == v for lat in timed),
                     "faster beyond spread": sum(lat[v]["median_s"] < lat["dense"]["median_s"]
                                                 and separated(lat[v], lat["dense"])
                                                 for lat in timed),
                     "best x dense": min(ratios), "median x dense": float(np.median(ratios))})
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(index=pd.Index([], name="representation"))
    table = table.set_index("representation").round(3)
    table.columns = [f"{c} (of {len(nets)})" if c.startswith(("fastest", "faster")) else c
                     for c in table.columns]
    return table


def fastest_overall(record: dict, batch: int) -> tuple[float, str, str]:
    """The fastest sparse form of any network at ``batch``, relative to that network's dense
    masked form: (ratio, representation label, network label). Thesis §3.3 promises speed
    from structure; this is the best any representation achieved on this machine."""
    timed = [(e["latency"][str(batch)][v]["relative_to_dense"], v, e)
             for e in record["networks"] if e["kind"] != "dense_reference"
             and str(batch) in e["latency"] for v in e["latency"][str(batch)] if v != "dense"]
    if not timed:
        raise ValueError(f"no sparse network was timed at batch {batch}")
    ratio_, variant, entry = min(timed, key=lambda t: t[0])
    return ratio_, VARIANT_LABELS[variant], network_label(entry)


def completeness_note(record: dict) -> str:
    """Whether the benchmark reached every network: it writes its file after each one, most
    important first, so a run stopped early leaves the rest out of the tables."""
    if record.get("complete", True):
        return "The run reached every network."
    return ("The run was stopped before the end: the networks it did not reach are missing "
            "from the tables below.")


def seeds_phrase(n: int) -> str:
    """'1 seed' or 'n seeds'."""
    return f"{n} seed" + ("" if n == 1 else "s")


def machine_note(record: dict) -> str:
    """One sentence on the machine's load while the benchmark ran: idle or shared, from the
    1-minute load average before the run against its logical cores."""
    m = record["machine"]
    before, after = m["load_average_1min"]["before"], m["load_average_1min"]["after"]
    load = (f"its 1-minute load average was {before:.1f} before the run and {after:.1f} at its "
            f"end (the benchmark's own {m['threads']} threads count in the second)")
    if before < 0.25 * m["logical_cores"]:
        return f"Nothing else ran on the machine: {load}."
    return (f"The machine was shared: {load}, so absolute times are noisy and the ratios "
            f"between variants of one network, measured side by side, are the numbers to read.")


def batch_summary(record: dict, batch: int) -> str:
    """One sentence per batch size, chosen from the timings: which representation is the
    fastest on most sparse networks, on how many it beats dense masked beyond the spread
    (:func:`separated`), and its median and best latency relative to dense masked."""
    nets = _sparse_timings(record, batch)
    if not nets:
        return f"No sparse network was timed at batch {batch}."
    fastest = [_fastest(lat) for lat in nets]
    top = max(VARIANT_LABELS, key=fastest.count)
    head = (f"At batch {batch} {VARIANT_LABELS[top]} is the fastest of the five "
            f"representations on {fastest.count(top)} of the {len(nets)} sparse networks")
    if top == "dense":
        others = [v for v in fastest if v != "dense"]
        if not others:
            return head + "; every other representation is slower than dense masked there."
        clear = sum(f != "dense" and separated(lat[f], lat["dense"])
                    for f, lat in zip(fastest, nets))
        where = ", ".join(f"{VARIANT_LABELS[v]} on {others.count(v)}"
                          for v in VARIANT_LABELS if v in others)
        return (f"{head}; on the others the fastest is {where}, "
                f"{'on none' if not clear else f'on {clear}'} of them beyond the spread of "
                f"the timings.")
    row = winners(record, batch).loc[VARIANT_LABELS[top]]
    clear = next(n for c, n in row.items() if c.startswith("faster beyond spread"))
    return (f"{head}, faster than dense masked beyond the spread of the timings on "
            f"{int(clear)}, at a median of {row['median x dense']:.2f} x dense masked "
            f"(best {row['best x dense']:.2f} x).")


STRUCTURED = ("compact", "channels")
UNSTRUCTURED = ("csr", "condensed")


def structure_verdict(record: dict) -> str:
    """Whether the structure buys speed that the zeros alone do not: per measurement (a
    sparse network at one batch size), whether a structured form (fibre-compacted or channels
    removed) is the fastest of all five, beyond the spread (:func:`separated`) from both
    dense masked and the best unstructured form (CSR, condensed)."""
    rows = [(e, b, lat) for e in record["networks"] if e["kind"] != "dense_reference"
            for b, lat in e["latency"].items() if set(VARIANT_LABELS) <= set(lat)]
    if not rows:
        return "No sparse network was timed in all five forms."

    def best(lat: dict, forms: tuple[str, ...]) -> dict:
        return min((lat[v] for v in forms), key=lambda t: t["median_s"])

    wins, sparse_wins = [], 0
    for e, b, lat in rows:
        top = _fastest(lat)
        clear = separated(lat[top], lat["dense"])
        if top in STRUCTURED and clear and separated(lat[top], best(lat, UNSTRUCTURED)):
            wins.append(f"{network_label(e)} at batch {b}")
        sparse_wins += top in UNSTRUCTURED and clear
    if not wins:
        return (f"On none of the {len(rows)} measurements (a network at one batch size) is a "
                f"structured form (fibre-compacted or channels removed) the fastest beyond the "
                f"spread of the timings; where the fastest form beats dense masked clearly "
                f"({sparse_wins} of them), it is an unstructured one (CSR or condensed). On "
                f"this CPU the structure buys no speed that the zeros alone do not.")
    return (f"A structured form is the fastest, beyond the spread from dense masked and from "
            f"the unstructured forms, on {len(wins)} of the {len(rows)} measurements: "
            f"{'; '.join(sorted(wins))}.")


def prune_comparison(record: dict, direct: list[dict], pruned: list[dict], batch: int = 1
                     ) -> pd.DataFrame:
    """The pruned 98 % networks (mean over seeds) against the directly trained 99 % networks
    of every strategy (mean over seeds): clean accuracy, zero fibres (out axis), and the
    fibre-compacted latency relative to dense masked (seed 0 masks)."""
    lat = {(e["kind"], e["rewiring"], e["sparsity"]): e["latency"][str(batch)]
           for e in record["networks"] if str(batch) in e["latency"]}
    rows = []
    for rw in STRATEGY_LABELS:
        runs = [r for r in direct if r["config"]["rewiring"] == rw
                and r["config"]["sparsity"] == 0.99 and r["config"]["objective"] == "natural"]
        if not runs:
            continue
        compact = lat.get(("trained", rw, 0.99), {}).get("compact", {})
        rows.append({"network": f"99 % directly, {STRATEGY_LABELS[rw]}",
                     "seeds": len(runs),
                     "clean accuracy %": np.mean([r["clean_accuracy"] for r in runs]),
                     "zero fibres (out) %": np.mean([r["zero_fibres"]["global"]["out"]
                                                     for r in runs]),
                     "fibre-compacted x dense": compact.get("relative_to_dense")})
    compact = next((e["latency"][str(batch)]["compact"] for e in record["networks"]
                    if e["kind"] == "prune98" and str(batch) in e["latency"]), {})
    rows.append({"network": "98 % weight-based, pruned to 99 %, fine-tuned",
                 "seeds": len(pruned),
                 "clean accuracy %": np.mean([r["clean_accuracy"] for r in pruned]),
                 "zero fibres (out) %": np.mean([r["zero_fibres"]["global"]["out"]
                                                 for r in pruned]),
                 "fibre-compacted x dense": compact.get("relative_to_dense")})
    return pd.DataFrame(rows).set_index("network").round(3)

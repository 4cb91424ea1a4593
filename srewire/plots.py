"""Figures of the book, drawn from result files and masks (Thesis Figures 2-14).

Every function returns a matplotlib Figure; nothing here trains or evaluates a model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle
import numpy as np
import torch

from .config import make_config
from .metrics import connectivity_matrix
from .report import ROW_LABELS, STRATEGY_LABELS
from .runs import MASKS, STRATEGY_ORDER, load_masks, run_name

__all__ = ["connectivity_panels", "run_connectivity", "curves", "zero_fibres_per_layer",
           "adversarial_examples", "distance_maps", "sweep_structure", "mask_panels",
           "rewiring_activity", "claims_demo", "layer_panels",
           "figure_profile"]

CMAP = "viridis"  # dormant dark purple, connected yellow, as in the thesis's matrix plots


def mask_panels(matrices: Sequence[np.ndarray], titles: Sequence[str], *,
                suptitle: str | None = None, width: float = 4.0) -> plt.Figure:
    """Side-by-side connectivity matrices (True = connected, drawn yellow)."""
    rows, cols = matrices[0].shape
    aspect = min(4.0, rows / cols)
    fig, axes = plt.subplots(1, len(matrices), figsize=(width * len(matrices),
                                                        width * aspect * 0.9 + 0.6),
                             squeeze=False)
    for ax, m, title in zip(axes[0], matrices, titles):
        ax.imshow(m, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("output unit")
        ax.set_ylabel("input fibre")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


# Two colours for a connectivity matrix: dormant (θ ≤ 0) and connected (θ > 0).
DORMANT, CONNECTED = "#30104e", "#fde725"
MASK_CMAP = ListedColormap([DORMANT, CONNECTED])


def layer_panels(matrices: Sequence[np.ndarray], titles: Sequence[str], *,
                 suptitle: str = "", zoom: int = 64, width: float = 7.0) -> plt.Figure:
    """One row per matrix: the whole layer (left) and its top-left ``zoom`` x ``zoom``
    corner enlarged (right, outlined on the left), so that single connections and clusters
    are visible; a legend says which colour is connected."""
    rows, cols = matrices[0].shape
    z_rows, z_cols = min(zoom, rows), min(zoom, cols)
    panel = width / 2
    fig, axes = plt.subplots(len(matrices), 2, figsize=(width, panel * len(matrices) + 0.9),
                             squeeze=False)
    for (whole, part), m, title in zip(axes, matrices, titles):
        whole.imshow(m, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest",
                     aspect="auto")
        whole.add_patch(Rectangle((-0.5, -0.5), z_cols, z_rows, fill=False, lw=1.2,
                                  ec="white"))
        whole.set_title(title, fontsize=9)
        part.imshow(m[:z_rows, :z_cols], cmap=MASK_CMAP, vmin=0, vmax=1,
                    interpolation="nearest", aspect="auto")
        part.set_title(f"outlined corner enlarged:\nfirst {z_rows} fibres x {z_cols} outputs", fontsize=9)
        for ax in (whole, part):
            ax.set_xlabel("output unit", fontsize=8)
            ax.set_ylabel("input fibre", fontsize=8)
            ax.tick_params(labelsize=7)
    handles = [Patch(facecolor=CONNECTED, edgecolor="black", label="connected (θ > 0)"),
               Patch(facecolor=DORMANT, label="dormant (θ ≤ 0)")]
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()))
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, y=1 - 0.05 / fig.get_figheight(), va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    return fig


def run_connectivity(results_dir: str | os.PathLike, profile: str, objective: str,
                     sparsity: float, strategy: str, layer: str, seed: int = 0) -> np.ndarray:
    """A trained run's final connectivity of one layer, as a 2-D matrix (rows = fibres)."""
    cfg = make_config(profile, objective, sparsity, strategy, seed)
    masks = load_masks(Path(results_dir) / profile / run_name(cfg) / MASKS)
    return connectivity_matrix(masks[layer])


def figure_profile(results_dir: str | os.PathLike, profile: str, objective: str,
                   sparsity: float, seed: int = 0, prefer: str = "paper") -> str:
    """``prefer`` when its runs of this setting and seed (all three strategies) have masks,
    else ``profile``: figures come from thesis-scale runs where they exist (issue 12)."""
    for p in (prefer, profile):
        if all((Path(results_dir) / p / run_name(make_config(p, objective, sparsity, rw, seed))
                / MASKS).is_file() for rw in STRATEGY_ORDER):
            return p
    return profile


def connectivity_panels(results_dir: str | os.PathLike, profile: str, objective: str,
                        sparsity: float, layer: str = "dense2", seed: int = 0,
                        results: list[dict] | None = None,
                        thesis: Sequence[float] | None = None, zoom: int = 64) -> plt.Figure:
    """Unstructured / structured / weight-based connectivity of one layer, one row each
    (Thesis Figures 3-14), with each network's zero-fibre percentage for that layer and,
    where given, the thesis's (``thesis``: one value per strategy, in that order)."""
    matrices, titles = [], []
    for i, strategy in enumerate(STRATEGY_ORDER):
        m = run_connectivity(results_dir, profile, objective, sparsity, strategy, layer, seed)
        matrices.append(m)
        zero = 100.0 * (~m.any(axis=1)).mean()
        ref = "" if thesis is None else f" (thesis: {thesis[i]:g} %)"
        titles.append(f"{STRATEGY_LABELS[strategy]}, whole layer:\n"
                      f"{zero:.2f} % zero vectors{ref}")
    label = ROW_LABELS.get((objective, sparsity), f"{objective} {sparsity}")
    rows, cols = matrices[0].shape
    return layer_panels(matrices, titles, zoom=zoom,
                        suptitle=f"{label}, layer {layer} ({rows} fibres x {cols} outputs), "
                                 f"{profile} profile, seed {seed}")


def curves(results: list[dict], key: str = "test_accuracy", ylabel: str = "test accuracy (%)"
           ) -> plt.Figure:
    """Per-epoch curves of every run, one panel per grid row, coloured by strategy."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in results:
        c = r["config"]
        groups.setdefault((c["objective"], c["sparsity"]), []).append(r)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.2), squeeze=False)
    colours = dict(zip(STRATEGY_ORDER, ("tab:blue", "tab:orange", "tab:green")))
    for ax, ((obj, sp), runs) in zip(axes[0], groups.items()):
        seen = set()
        for r in runs:
            rw = r["config"]["rewiring"]
            y = r["curves"].get(key, [])
            ax.plot(range(1, len(y) + 1), y, color=colours[rw], alpha=0.8,
                    label=None if rw in seen else STRATEGY_LABELS[rw])
            seen.add(rw)
        ax.set_title(ROW_LABELS.get((obj, sp), f"{obj} {sp}"), fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    profiles = sorted({r["config"].get("profile", "") for r in results} - {""})
    if profiles:
        fig.suptitle(f"{', '.join(profiles)} profile", fontsize=10)
    fig.tight_layout()
    return fig


def zero_fibres_per_layer(results: list[dict], objective: str, sparsity: float,
                          pruned: bool = False, none_if_empty: bool = False
                          ) -> plt.Figure | None:
    """Zero-fibre percentage (output axis) per layer and strategy, mean over seeds; None
    with ``none_if_empty`` when every bar would be zero (a chart of nothing)."""
    by: dict[str, list[dict]] = {}
    for r in results:
        c = r["config"]
        if c["objective"] == objective and c["sparsity"] == sparsity:
            by.setdefault(c["rewiring"], []).append(r)
    if none_if_empty and not any(
            v["out"] for rs in by.values() for r in rs
            for v in (r["pruned"] if pruned else r)["zero_fibres"]["per_layer"].values()):
        return None
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.27
    layers: list[str] = []
    for i, rw in enumerate(s for s in STRATEGY_ORDER if s in by):
        reps = [(r["pruned"] if pruned else r)["zero_fibres"]["per_layer"] for r in by[rw]]
        layers = list(reps[0])
        mean = [np.mean([rep[name]["out"] for rep in reps]) for name in layers]
        ax.bar(np.arange(len(layers)) + (i - 1) * width, mean, width,
               label=STRATEGY_LABELS[rw])
    ax.set_xticks(range(len(layers)), layers, rotation=0, fontsize=8)
    ax.set_ylabel("zero fibres (%)" + (" after pruning" if pruned else ""))
    runs = [r for rs in by.values() for r in rs]
    profiles = ", ".join(sorted({r["config"].get("profile", "") for r in runs} - {""}))
    seeds = len({r["config"]["seed"] for r in runs})
    ax.set_title(f"{ROW_LABELS.get((objective, sparsity), '')}"
                 + (f", {profiles} profile" if profiles else "")
                 + f", mean over {seeds} seed{'s' if seeds != 1 else ''}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def adversarial_examples(x: torch.Tensor, x_adv: torch.Tensor, clean_pred: Sequence[int],
                         adv_pred: Sequence[int], labels: Sequence[int],
                         classes: Sequence[str]) -> plt.Figure:
    """Clean images (top), adversarial images (middle), amplified perturbation (bottom)."""
    n = len(x)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 5.4), squeeze=False)
    for i in range(n):
        delta = (x_adv[i] - x[i])
        scale = max(float(delta.abs().max()), 1e-12)
        panels = [x[i], x_adv[i], 0.5 + 0.5 * delta / scale]
        texts = [f"{classes[clean_pred[i]]}\n(true {classes[labels[i]]})",
                 classes[adv_pred[i]], "perturbation"]
        for row, (img, text) in enumerate(zip(panels, texts)):
            ax = axes[row][i]
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            colour = "black" if row != 1 or adv_pred[i] == labels[i] else "crimson"
            ax.set_title(text, fontsize=8, color=colour)
    axes[0][0].set_ylabel("clean")
    axes[1][0].set_ylabel("PGD")
    axes[2][0].set_ylabel("δ (scaled)")
    fig.tight_layout()
    return fig


def distance_maps(shape: tuple[int, int] = (12, 12), point: tuple[int, int] = (6, 6)
                  ) -> plt.Figure:
    """Euclidean distance versus Equation 3 as printed, from one point of a 2-D grid."""
    ys, xs = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    p0, p1 = point
    eucl = np.sqrt((ys - p0) ** 2 + (xs - p1) ** 2)
    eq3 = np.abs(p0 ** 2 - ys ** 2) + np.abs(p1 ** 2 - xs ** 2)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    for ax, m, title in zip(axes, (eucl, eq3), ("Euclidean distance",
                                               r"Equation 3: $\sum_n |p_n^2-\chi_n^2|$")):
        im = ax.imshow(m, cmap="magma_r")
        ax.plot(p1, p0, "c*", markersize=12)
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def sweep_structure(results: list[dict]) -> plt.Figure:
    """Zero fibres over training for each connectivity (left) and final accuracy (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    styles = dict(zip(STRATEGY_ORDER, ("--", "-", ":")))
    cmap = plt.get_cmap("plasma")
    conns = sorted({round(1 - r["config"]["sparsity"], 6) for r in results})
    for r in results:
        c = r["config"]
        conn = round(1 - c["sparsity"], 6)
        colour = cmap(conns.index(conn) / max(1, len(conns) - 1) * 0.85)
        z = r["curves"].get("zero_fibres_out", [])
        axes[0].plot(range(1, len(z) + 1), z, styles[c["rewiring"]], color=colour,
                     label=f"{100 * conn:g}%" if c["rewiring"] == "structured" else None)
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("zero fibres (%)")
    axes[0].set_yscale("symlog", linthresh=1)
    axes[0].legend(title="connectivity (structured)", fontsize=7, title_fontsize=7)
    for rw in STRATEGY_ORDER:
        pts = sorted((round(1 - r["config"]["sparsity"], 6), r["clean_accuracy"])
                     for r in results if r["config"]["rewiring"] == rw)
        if pts:
            axes[1].plot([100 * p for p, _ in pts], [a for _, a in pts], "o" + styles[rw],
                         label=STRATEGY_LABELS[rw])
    axes[1].set_xscale("log")
    axes[1].set_xlabel("connectivity (%)")
    axes[1].set_ylabel("clean accuracy (%)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def rewiring_activity(results: list[dict]) -> plt.Figure:
    """What connectivity sampling does during training: revivals per step in the first epoch
    (left) and deaths per step, averaged per epoch (right), for each run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    colours = dict(zip(STRATEGY_ORDER, ("tab:blue", "tab:orange", "tab:green")))
    seen = set()
    for r in results:
        c, rs = r["config"], r["rewiring_stats"]
        label = None if (c["rewiring"], c["objective"]) in seen else \
            f"{STRATEGY_LABELS[c['rewiring']]}, {ROW_LABELS.get((c['objective'], c['sparsity']))}"
        seen.add((c["rewiring"], c["objective"]))
        style = "-" if c["objective"] == "natural" else "--"
        first = rs["revived_per_step_first_epoch"][1:]  # step 1 fills the initial deficit
        axes[0].plot(range(2, len(first) + 2), first, style, color=colours[c["rewiring"]],
                     alpha=0.7, label=label)
        died = rs["died_per_step_mean"]
        axes[1].plot(range(1, len(died) + 1), died, style, color=colours[c["rewiring"]],
                     alpha=0.7)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step (first epoch)")
    axes[0].set_ylabel("revived connections")
    axes[0].legend(fontsize=7)
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("deaths per step (mean)")
    fig.tight_layout()
    return fig


def claims_demo(connected: np.ndarray, sources: Sequence[int],
                claims: dict[str, Sequence[int]]) -> plt.Figure:
    """Where the same sources claim dormant cells under different metrics (one panel each):
    connected cells yellow, sources marked x, claimed cells numbered in claim order."""
    fig, axes = plt.subplots(1, len(claims), figsize=(4.2 * len(claims), 4.2), squeeze=False)
    rows, cols = connected.shape
    for ax, (title, cells) in zip(axes[0], claims.items()):
        ax.imshow(connected, cmap=CMAP, vmin=0, vmax=1.6, interpolation="nearest")
        for s in sources:
            ax.plot(s % cols, s // cols, "kx", markersize=7)
        for i, cell in enumerate(cells):
            ax.text(cell % cols, cell // cols, str(i + 1), ha="center", va="center",
                    fontsize=7, color="crimson", fontweight="bold")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig

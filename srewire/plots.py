"""Figures of the book, drawn from result files and masks (Thesis Figures 2-14).

Every function returns a matplotlib Figure; nothing here trains or evaluates a model.

Legibility: every figure is drawn under :data:`STYLE` (no text below ``MIN_FONT_PT``) and is
at most ``MAX_WIDTH_IN`` wide, so that in the book's content column (about 750 CSS px at a
1280 px window; ``tools/check_html.py`` checks that images are not scaled down further) its
text is at least 10 px high: 10 pt / 72 * 750 px / 8 in = 13 px. On a phone the book's CSS
shows figures at their natural size in a box that scrolls sideways.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator
import numpy as np
import torch

from .config import make_config
from .metrics import connectivity_matrix
from .report import ROW_KEYS, ROW_LABELS, STRATEGY_LABELS
from .runs import MASKS, STRATEGY_ORDER, load_masks, run_name

__all__ = ["connectivity_panels", "run_connectivity", "curves", "zero_fibres_per_layer",
           "adversarial_examples", "distance_maps", "sweep_structure", "mask_panels",
           "rewiring_activity", "claims_demo", "layer_panels",
           "figure_profile", "fibre_diagram", "connectivity_values", "per_layer_note", "STYLE",
           "MIN_FONT_PT", "MAX_WIDTH_IN"]

CMAP = "viridis"  # dormant dark purple, connected yellow, as in the thesis's matrix plots

#: Smallest font size (points) of any text in a figure, and the widest figure (inches).
MIN_FONT_PT = 10.0
MAX_WIDTH_IN = 8.0
#: The rc settings every figure is drawn under.
STYLE = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "legend.title_fontsize": 10,
         "figure.titlesize": 11}

_F = TypeVar("_F", bound=Callable)


def legible(draw: _F) -> _F:
    """Draw the figure under :data:`STYLE` (text sizes are fixed when the text is made).

    Only the keys of :data:`STYLE` are set and restored: ``plt.rc_context`` restores every
    parameter, and in a notebook the figures drawn inside it after the first were then never
    shown by the inline backend."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        saved = {key: plt.rcParams[key] for key in STYLE}
        plt.rcParams.update(STYLE)
        try:
            return draw(*args, **kwargs)
        finally:
            plt.rcParams.update(saved)
    return wrapper  # type: ignore[return-value]


@legible
def mask_panels(matrices: Sequence[np.ndarray], titles: Sequence[str], *,
                suptitle: str | None = None, per_row: int = 3) -> plt.Figure:
    """Connectivity matrices at their aspect ratio, ``per_row`` to a row (connected yellow,
    dormant dark purple)."""
    rows, cols = matrices[0].shape
    n_rows = math.ceil(len(matrices) / per_row)
    side = MAX_WIDTH_IN / per_row
    fig, axes = plt.subplots(n_rows, per_row, figsize=(MAX_WIDTH_IN,
                                                       n_rows * (side * rows / cols + 0.9)),
                             squeeze=False)
    for ax in axes.flat[len(matrices):]:
        fig.delaxes(ax)
    for ax, m, title in zip(axes.flat, matrices, titles):
        ax.imshow(m, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("output unit")
        ax.set_ylabel("input fibre")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# Two colours for a connectivity matrix: dormant (θ ≤ 0) and connected (θ > 0).
DORMANT, CONNECTED = "#30104e", "#fde725"
MASK_CMAP = ListedColormap([DORMANT, CONNECTED])


@legible
def layer_panels(matrices: Sequence[np.ndarray], titles: Sequence[str], *,
                 suptitle: str = "", zoom: int = 64) -> plt.Figure:
    """Each matrix whole, at its aspect ratio, with its top-left ``zoom`` x ``zoom`` corner
    enlarged (outlined on the whole layer), so that single connections and clusters are
    visible; a legend says which colour is connected.

    A square-ish layer gets one row per matrix (whole left, corner right). A tall one (more
    than twice as many fibres as outputs, such as the 2048 x 256 first dense layer) gets the
    matrices side by side at their aspect ratio, each about one pixel per weight in the book,
    and the enlarged corners in a row below, instead of being squeezed into a square."""
    rows, cols = matrices[0].shape
    z_rows, z_cols = min(zoom, rows), min(zoom, cols)
    n = len(matrices)
    tall = rows > 2 * cols
    if tall:
        image = MAX_WIDTH_IN / n - 0.8  # inches per panel left for the image, beside its labels
        top, bottom = image * rows / cols + 0.9, image + 1.2
        fig, axes = plt.subplots(2, n, figsize=(MAX_WIDTH_IN, top + bottom + 0.8),
                                 squeeze=False, gridspec_kw={"height_ratios": [top, bottom]})
        pairs = list(zip(axes[0], axes[1]))
    else:
        fig, axes = plt.subplots(n, 2, figsize=(MAX_WIDTH_IN * 0.9, MAX_WIDTH_IN * 0.45 * n + 1.0),
                                 squeeze=False)
        pairs = [tuple(row) for row in axes]
    for (whole, part), m, title in zip(pairs, matrices, titles):
        whole.imshow(m, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        whole.add_patch(Rectangle((-0.5, -0.5), z_cols, z_rows, fill=False, lw=1.2,
                                  ec="white"))
        whole.set_title(title)
        part.imshow(m[:z_rows, :z_cols], cmap=MASK_CMAP, vmin=0, vmax=1,
                    interpolation="nearest")
        part.set_title(f"outlined corner, enlarged:\n{z_rows} fibres x {z_cols} outputs")
        for ax in (whole, part):
            ax.set_xlabel("output unit")
            ax.set_ylabel("input fibre")
    handles = [Patch(facecolor=CONNECTED, edgecolor="black", label="connected (θ > 0), yellow"),
               Patch(facecolor=DORMANT, label="dormant (θ ≤ 0), dark purple")]
    fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()))
    if suptitle:
        fig.suptitle(suptitle, y=1 - 0.05 / fig.get_figheight(), va="top")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / fig.get_figheight()))
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
    else ``profile``: figures come from thesis-scale runs where they exist."""
    for p in (prefer, profile):
        if all((Path(results_dir) / p / run_name(make_config(p, objective, sparsity, rw, seed))
                / MASKS).is_file() for rw in STRATEGY_ORDER):
            return p
    return profile


@legible
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


def connectivity_values(results_dir: str | os.PathLike, profile: str, layer: str = "dense2",
                        seed: int = 0) -> dict[str, Any]:
    """Thesis Figures 3-11, by the names the structure chapter glues: for each row of
    :data:`srewire.report.ROW_KEYS` the :func:`connectivity_panels` of ``layer`` and ``seed``
    from the profile :func:`figure_profile` picks (``fig_conn_{key}``), and where they come
    from (``conn_{key}_where``: layer, profile and seed)."""
    out: dict[str, Any] = {}
    for key, (objective, sparsity) in ROW_KEYS.items():
        shown = figure_profile(results_dir, profile, objective, sparsity, seed)
        out[f"fig_conn_{key}"] = connectivity_panels(results_dir, shown, objective, sparsity,
                                                     layer, seed)
        out[f"conn_{key}_where"] = f"layer {layer}, {shown} profile, seed {seed}"
    return out


@legible
def curves(results: list[dict], key: str = "test_accuracy", ylabel: str = "test accuracy (%)"
           ) -> plt.Figure:
    """Per-epoch curves of every run, one panel per grid row, coloured by strategy."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in results:
        c = r["config"]
        groups.setdefault((c["objective"], c["sparsity"]), []).append(r)
    per_row = min(2, len(groups))
    n_rows = math.ceil(len(groups) / per_row)
    fig, axes = plt.subplots(n_rows, per_row, figsize=(MAX_WIDTH_IN * per_row / 2, 3.4 * n_rows),
                             squeeze=False)
    for ax in axes.flat[len(groups):]:
        fig.delaxes(ax)
    colours = dict(zip(STRATEGY_ORDER, ("tab:blue", "tab:orange", "tab:green")))
    for ax, ((obj, sp), runs) in zip(axes.flat, groups.items()):
        seen = set()
        for r in runs:
            rw = r["config"]["rewiring"]
            y = r["curves"].get(key, [])
            ax.plot(range(1, len(y) + 1), y, color=colours[rw], alpha=0.8,
                    label=None if rw in seen else STRATEGY_LABELS[rw])
            seen.add(rw)
        ax.set_title(ROW_LABELS.get((obj, sp), f"{obj} {sp}"))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_ylabel(ylabel)
        ax.legend()
    profiles = sorted({r["config"].get("profile", "") for r in results} - {""})
    if profiles:
        fig.suptitle(f"{', '.join(profiles)} profile")
    fig.tight_layout()
    return fig


def _by_strategy(results: list[dict], objective: str, sparsity: float) -> dict[str, list[dict]]:
    """The runs of one setting, by rewiring strategy."""
    by: dict[str, list[dict]] = {}
    for r in results:
        c = r["config"]
        if c["objective"] == objective and c["sparsity"] == sparsity:
            by.setdefault(c["rewiring"], []).append(r)
    return by


def _all_zero(by: dict[str, list[dict]], pruned: bool = False) -> bool:
    """Whether no layer of any run of ``by`` has a zero fibre (output axis)."""
    return not any(v["out"] for rs in by.values() for r in rs
                   for v in (r["pruned"] if pruned else r)["zero_fibres"]["per_layer"].values())


def per_layer_note(results: list[dict], objective: str, sparsity: float) -> str:
    """The sentence a page shows in place of :func:`zero_fibres_per_layer`'s chart of one
    setting where that chart would be empty (no layer of any run has a zero fibre); ``""``
    where it would not."""
    if not _all_zero(_by_strategy(results, objective, sparsity)):
        return ""
    name = {"trades": "TRADES"}.get(objective, objective)
    return (f"In the {100 * sparsity:g} % sparse {name} networks no layer has a single zero "
            "fibre with any strategy, so their per-layer chart would be empty.")


@legible
def zero_fibres_per_layer(results: list[dict], objective: str, sparsity: float,
                          pruned: bool = False, none_if_empty: bool = False
                          ) -> plt.Figure | None:
    """Zero-fibre percentage (output axis) per layer and strategy, mean over seeds; None
    with ``none_if_empty`` when every bar would be zero (a chart of nothing)."""
    by = _by_strategy(results, objective, sparsity)
    if none_if_empty and _all_zero(by, pruned):
        return None
    fig, ax = plt.subplots(figsize=(MAX_WIDTH_IN, 3.6))
    width = 0.27
    layers: list[str] = []
    for i, rw in enumerate(s for s in STRATEGY_ORDER if s in by):
        reps = [(r["pruned"] if pruned else r)["zero_fibres"]["per_layer"] for r in by[rw]]
        layers = list(reps[0])
        mean = [np.mean([rep[name]["out"] for rep in reps]) for name in layers]
        ax.bar(np.arange(len(layers)) + (i - 1) * width, mean, width,
               label=STRATEGY_LABELS[rw])
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right")
    ax.set_ylabel("zero fibres (%)" + (" after pruning" if pruned else ""))
    runs = [r for rs in by.values() for r in rs]
    profiles = ", ".join(sorted({r["config"].get("profile", "") for r in runs} - {""}))
    seeds = len({r["config"]["seed"] for r in runs})
    ax.set_title(f"{ROW_LABELS.get((objective, sparsity), '')}"
                 + (f", {profiles} profile" if profiles else "")
                 + f", mean over {seeds} seed{'s' if seeds != 1 else ''}")
    ax.legend()
    fig.tight_layout()
    return fig


@legible
def adversarial_examples(x: torch.Tensor, x_adv: torch.Tensor, clean_pred: Sequence[int],
                         adv_pred: Sequence[int], labels: Sequence[int],
                         classes: Sequence[str]) -> plt.Figure:
    """Clean images (top), adversarial images (middle), amplified perturbation (bottom)."""
    n = len(x)
    per_row = min(n, 4)
    blocks = math.ceil(n / per_row)
    fig, axes = plt.subplots(3 * blocks, per_row, figsize=(1.9 * per_row, 5.6 * blocks),
                             squeeze=False)
    for i in range(n, blocks * per_row):  # the last block's empty places
        for row in range(3):
            fig.delaxes(axes[3 * (blocks - 1) + row][i % per_row])
    for i in range(n):
        delta = (x_adv[i] - x[i])
        scale = max(float(delta.abs().max()), 1e-12)
        panels = [x[i], x_adv[i], 0.5 + 0.5 * delta / scale]
        texts = [f"{classes[clean_pred[i]]}\n(true {classes[labels[i]]})",
                 classes[adv_pred[i]], "perturbation"]
        for row, (img, text) in enumerate(zip(panels, texts)):
            ax = axes[3 * (i // per_row) + row][i % per_row]
            ax.imshow(img.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            colour = "black" if row != 1 or adv_pred[i] == labels[i] else "crimson"
            ax.set_title(text, color=colour)
    for b in range(blocks):
        for row, name in enumerate(("clean", "PGD", "δ (scaled)")):
            axes[3 * b + row][0].set_ylabel(name)
    fig.tight_layout()
    return fig


@legible
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
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


@legible
def sweep_structure(results: list[dict]) -> plt.Figure:
    """Zero fibres over training for each connectivity (top) and final accuracy (bottom)."""
    fig, axes = plt.subplots(2, 1, figsize=(MAX_WIDTH_IN * 0.9, 7.2))
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
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[0].set_ylabel("zero fibres (%)")
    axes[0].set_yscale("symlog", linthresh=1)
    axes[0].legend(title="connectivity (structured)", loc="center left",
                   bbox_to_anchor=(1.01, 0.5))
    for rw in STRATEGY_ORDER:
        pts = sorted((round(1 - r["config"]["sparsity"], 6), r["clean_accuracy"])
                     for r in results if r["config"]["rewiring"] == rw)
        if pts:
            axes[1].plot([100 * p for p, _ in pts], [a for _, a in pts], "o" + styles[rw],
                         label=STRATEGY_LABELS[rw])
    axes[1].set_xscale("log")
    axes[1].set_xlabel("connectivity (%)")
    axes[1].set_ylabel("clean accuracy (%)")
    axes[1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


@legible
def rewiring_activity(results: list[dict]) -> plt.Figure:
    """What connectivity sampling does during training: revivals per step in the first epoch
    (top) and deaths per step, averaged per epoch (bottom), for each run."""
    fig, axes = plt.subplots(2, 1, figsize=(MAX_WIDTH_IN * 0.9, 6.8))
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
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[1].set_yscale("log")
    axes[1].set_xlabel("epoch")
    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[1].set_ylabel("deaths per step (mean)")
    fig.tight_layout()
    return fig


@legible
def claims_demo(connected: np.ndarray, sources: Sequence[int],
                claims: dict[str, Sequence[int]]) -> plt.Figure:
    """Where the same sources claim dormant cells under different metrics (one panel each):
    connected cells yellow, dormant dark purple, sources marked x (black), claimed cells white
    with their number in claim order (black)."""
    side = min(4.0, MAX_WIDTH_IN / len(claims))
    fig, axes = plt.subplots(1, len(claims), figsize=(side * len(claims), side + 0.4),
                             squeeze=False)
    rows, cols = connected.shape
    for ax, (title, cells) in zip(axes[0], claims.items()):
        ax.imshow(connected, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        for s in sources:
            ax.plot(s % cols, s // cols, "kx", markersize=9, markeredgewidth=2)
        for i, cell in enumerate(cells):
            ax.add_patch(Rectangle((cell % cols - 0.5, cell // cols - 0.5), 1, 1,
                                   color="white"))
            ax.text(cell % cols, cell // cols, str(i + 1), ha="center", va="center",
                    fontsize=11, color="black", fontweight="bold")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _one_empty_row(rng: np.random.Generator, shape: tuple[int, int], empty: int) -> np.ndarray:
    """A random mask in which every row but ``empty`` holds at least one connection."""
    m = rng.random(shape) < 0.45
    m[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = True
    m[empty] = False
    return m


@legible
def fibre_diagram(kernel: tuple[int, int, int, int] = (2, 2, 3, 4), dense: tuple[int, int] = (6, 5),
                  seed: int = 0) -> plt.Figure:
    """What a zero fibre is (Thesis §4.1, "lowest dimensional vectors ... that contain only
    zeros"), drawn on a small convolution kernel and a small dense matrix.

    Left: a kernel in the predecessor's TensorFlow layout (kh, kw, C_in, C_out), its
    (kh, kw, C_in) positions stacked as rows, C_out as columns (the im2col matrix). A fibre is
    one row: the weights of one input position for every output channel. Right: a dense
    matrix (n_in, n_out), a fibre being one input unit's row. In each, one fibre is empty (no
    filter reads that input position, so the product can skip it) and is outlined in red."""
    rng = np.random.default_rng(seed)
    kh, kw, c_in, c_out = kernel
    conv_empty, fc_empty = kw * c_in + 2, dense[0] // 2  # (kh 0, kw 1, C_in 2); a middle unit
    conv = _one_empty_row(rng, (kh * kw * c_in, c_out), conv_empty)
    fc = _one_empty_row(rng, dense, fc_empty)
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 5.2),
                             gridspec_kw={"width_ratios": [c_out + 3, dense[1] + 3]})
    for ax, m, empty, title, xlabel in (
            (axes[0], conv, conv_empty, f"convolution ({kh}, {kw}, {c_in}, {c_out})",
             "output channel (C_out)"),
            (axes[1], fc, fc_empty, f"dense ({dense[0]}, {dense[1]})", "output unit (n_out)")):
        ax.imshow(m, cmap=MASK_CMAP, vmin=0, vmax=1, interpolation="nearest")
        ax.add_patch(Rectangle((-0.5, empty - 0.5), m.shape[1], 1, fill=False, lw=3,
                               ec="red"))
        ax.annotate("zero fibre", (m.shape[1] - 0.4, empty), (m.shape[1] + 0.2, empty),
                    color="red", va="center", annotation_clip=False)
        ax.set_title(title)
        ax.set_xlabel(xlabel + "\nthe fibre's axis (primary)")
        ax.set_xticks(range(m.shape[1]))
    axes[0].set_yticks(range(conv.shape[0]),
                       [f"{i // (kw * c_in)},{i // c_in % kw},{i % c_in}" for i in range(len(conv))])
    axes[0].set_ylabel("input position (kh, kw, C_in)")
    axes[1].set_yticks(range(dense[0]))
    axes[1].set_ylabel("input unit (n_in)")
    handles = [Patch(facecolor=CONNECTED, edgecolor="black", label="connected, yellow"),
               Patch(facecolor=DORMANT, label="dormant, dark purple")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig

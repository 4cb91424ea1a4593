"""Every public function of srewire.plots on the results of a smoke grid (trained once per
session on the synthetic data): each returns a Figure with the expected axes and artists."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from srewire import plots  # noqa: E402
from srewire.runs import (GRID, STRATEGY_ORDER, grid_configs, run,  # noqa: E402
                          run_name)

PROFILE = "smoke"
# the smoke profile, made smaller still: the figures only need real result files and masks
SMALL = dict(n_train=64, n_test=64, batch_size=32, n_robust=32, pgd_steps=2, pgd_restarts=1,
             track_structure=True)


@pytest.fixture(scope="session")
def smoke_grid(tmp_path_factory, synthetic_root):
    """(results folder, results) of the thesis grid on the smoke profile, one seed."""
    folder = tmp_path_factory.mktemp("plots_grid")
    # smaller than the smoke grid (SMALL), so read back as run() returns them, not through
    # load_results, which accepts only the profile's own configurations
    results = [run(cfg, folder / PROFILE / run_name(cfg), data_root=synthetic_root, quiet=True)
               for cfg in grid_configs(PROFILE, [0], **SMALL)]
    assert len(results) == len(GRID) * len(STRATEGY_ORDER)
    return folder, results


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _images(ax):
    return len(ax.images)


def test_run_connectivity_is_the_layer_of_the_run(smoke_grid):
    folder, results = smoke_grid
    r = next(r for r in results if r["config"]["rewiring"] == "structured"
             and r["config"]["objective"] == "natural" and r["config"]["sparsity"] == 0.99)
    m = plots.run_connectivity(folder, PROFILE, "natural", 0.99, "structured", "conv3")
    assert m.dtype == bool and m.ndim == 2
    # result.json rounds to 3 decimals
    assert 1 - m.mean() == pytest.approx(r["sparsity"]["per_layer"]["conv3"], abs=5e-4)
    zero_rows = 100 * float((~m.any(axis=1)).mean())
    assert zero_rows == pytest.approx(r["zero_fibres"]["per_layer"]["conv3"]["out"], abs=5e-4)


def test_connectivity_panels_one_image_per_strategy_titled_with_its_zero_fibres(smoke_grid):
    folder, results = smoke_grid
    fig = plots.connectivity_panels(folder, PROFILE, "trades", 0.95, layer="dense2")
    # one row per strategy: the whole layer, then its enlarged corner
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 2 * len(STRATEGY_ORDER)
    assert all(_images(ax) == 1 for ax in fig.axes)
    assert all("enlarged" in ax.get_title() for ax in fig.axes[1::2])
    by = {r["config"]["rewiring"]: r for r in results
          if (r["config"]["objective"], r["config"]["sparsity"]) == ("trades", 0.95)}
    for ax, strategy in zip(fig.axes[::2], STRATEGY_ORDER):
        zero = by[strategy]["zero_fibres"]["per_layer"]["dense2"]["out"]
        title = ax.get_title()
        assert title.endswith("% zero vectors")
        assert float(title.split("\n")[1].split("%")[0]) == pytest.approx(zero, abs=5.1e-3)
    assert "95% TRADES, layer dense2" in fig._suptitle.get_text()


def test_mask_panels_draws_each_matrix():
    mats = [np.eye(6, dtype=bool), np.ones((6, 6), dtype=bool)]
    fig = plots.mask_panels(mats, ["a", "b"], suptitle="s")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    assert [np.asarray(ax.images[0].get_array()).sum() for ax in fig.axes] == [6, 36]


@pytest.mark.parametrize("key", ["test_accuracy", "train_loss"])
def test_curves_one_panel_per_grid_row_one_line_per_run(smoke_grid, key):
    _, results = smoke_grid
    fig = plots.curves(results, key=key)
    assert len(fig.axes) == len(GRID)
    for ax in fig.axes:
        assert len(ax.lines) == len(STRATEGY_ORDER)
        assert len(ax.get_legend().get_texts()) == len(STRATEGY_ORDER)
        assert all(len(line.get_xdata()) == results[0]["config"]["epochs"] for line in ax.lines)


@pytest.mark.parametrize("pruned", [False, True])
def test_zero_fibres_per_layer_bars_are_the_per_layer_values(smoke_grid, pruned):
    _, results = smoke_grid
    fig = plots.zero_fibres_per_layer(results, "natural", 0.99, pruned=pruned)
    (ax,) = fig.axes
    runs = [r for r in results if (r["config"]["objective"], r["config"]["sparsity"])
            == ("natural", 0.99)]
    layers = list(runs[0]["zero_fibres"]["per_layer"])
    assert len(ax.patches) == len(STRATEGY_ORDER) * len(layers)
    heights = [p.get_height() for p in ax.patches]
    expected = [(r["pruned"] if pruned else r)["zero_fibres"]["per_layer"][name]["out"]
                for r in sorted(runs, key=lambda r: STRATEGY_ORDER.index(r["config"]["rewiring"]))
                for name in layers]
    assert heights == pytest.approx(expected)


def test_sweep_structure_one_curve_per_run_and_one_accuracy_line_per_strategy(smoke_grid):
    _, results = smoke_grid
    fig = plots.sweep_structure(results)
    left, right = fig.axes  # zero fibres over training (top), accuracy (bottom)
    assert len(left.lines) == len(results)
    assert all(len(line.get_xdata()) == 1 for line in left.lines)  # track_structure, 1 epoch
    assert len(right.lines) == len(STRATEGY_ORDER)


def test_rewiring_activity_one_line_per_run_in_each_panel(smoke_grid):
    _, results = smoke_grid
    fig = plots.rewiring_activity(results)
    first, died = fig.axes
    assert len(first.lines) == len(died.lines) == len(results)
    steps = len(results[0]["rewiring_stats"]["revived_per_step_first_epoch"])
    assert len(first.lines[0].get_xdata()) == steps - 1  # the first step's fill left out


def test_adversarial_examples_three_rows_of_images():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    x_adv = (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    classes = [f"class {i}" for i in range(10)]
    fig = plots.adversarial_examples(x, x_adv, [1, 2, 3, 4], [1, 5, 3, 6], [1, 2, 3, 4], classes)
    assert len(fig.axes) == 12 and all(_images(ax) == 1 for ax in fig.axes)
    colours = [fig.axes[4 + i].title.get_color() for i in range(4)]  # the PGD row
    assert colours == ["black", "crimson", "black", "crimson"]


def test_distance_maps_two_maps_with_colour_bars():
    fig = plots.distance_maps((5, 7), (2, 3))
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 2 and len(fig.axes) == 4  # two maps, two colour bars
    eucl, eq3 = (np.asarray(ax.images[0].get_array()) for ax in maps)
    assert eucl.shape == eq3.shape == (5, 7)
    assert eucl[2, 3] == eq3[2, 3] == 0 and eucl[0, 0] == pytest.approx(math.sqrt(13))
    assert eq3[0, 0] == 4 + 9


def test_claims_demo_numbers_every_claimed_cell():
    connected = np.zeros((6, 6), dtype=bool)
    connected[2, 2] = connected[3, 3] = True
    fig = plots.claims_demo(connected, [14, 21], {"euclidean": [8, 15, 20], "eq3": [13, 22]})
    assert [ax.get_title() for ax in fig.axes] == ["euclidean", "eq3"]
    assert [len(ax.texts) for ax in fig.axes] == [3, 2]
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]  # the sources' crosses


def assert_legible(fig: plt.Figure) -> None:
    """Every visible text at least plots.MIN_FONT_PT and the figure at most MAX_WIDTH_IN
    wide: in the book's column that is text of at least 10 px (see the plots module)."""
    assert fig.get_figwidth() <= plots.MAX_WIDTH_IN + 1e-9
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip()
             and t.get_fontsize() < plots.MIN_FONT_PT]
    assert not small, small


def test_every_figure_is_legible_and_epoch_ticks_are_integers(smoke_grid):
    folder, results = smoke_grid
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 32, 32, generator=g)
    mask = np.random.default_rng(0).random((48, 48)) < 0.1
    figures = {
        "curves": plots.curves(results),
        "zero_fibres_per_layer": plots.zero_fibres_per_layer(results, "natural", 0.99),
        "sweep_structure": plots.sweep_structure(results),
        "rewiring_activity": plots.rewiring_activity(results),
        "connectivity_panels": plots.connectivity_panels(folder, PROFILE, "natural", 0.99,
                                                         "dense1", thesis=[6.25, 15.87, 22.56]),
        "mask_panels": plots.mask_panels([mask] * 5, list("abcde")),
        "adversarial_examples": plots.adversarial_examples(
            x, x, list(range(8)), list(range(8)), list(range(8)), [f"c{i}" for i in range(10)]),
        "distance_maps": plots.distance_maps(),
        "claims_demo": plots.claims_demo(mask, [3, 60], {"a": [1, 2, 4], "b": [5, 6]}),
        "fibre_diagram": plots.fibre_diagram(),
    }
    for name, fig in figures.items():
        fig.canvas.draw()  # tick labels exist only once drawn
        assert_legible(fig), name
    for name in ("curves", "sweep_structure", "rewiring_activity"):
        for ax in figures[name].axes:
            if ax.get_xlabel() == "epoch":
                ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
                assert ticks and all(float(t).is_integer() for t in ticks), (name, ticks)


def test_a_tall_layer_is_drawn_at_its_aspect_ratio():
    tall = np.random.default_rng(0).random((512, 64)) < 0.05
    fig = plots.layer_panels([tall, tall, tall], ["a", "b", "c"], zoom=32)
    wholes = [ax for ax in fig.axes if ax.images and ax.get_title() in "abc"]
    assert len(wholes) == 3
    fig.canvas.draw()
    for ax in wholes:
        box = ax.get_window_extent()
        image = ax.images[0].get_window_extent()
        assert image.height / image.width == pytest.approx(512 / 64, rel=0.02)
        assert image.height >= 0.95 * box.height  # the panel is not mostly empty


def test_fibre_diagram_outlines_the_one_empty_row_of_each_matrix():
    fig = plots.fibre_diagram()
    for ax in fig.axes:
        m = np.asarray(ax.images[0].get_array())
        (empty,) = np.where(~m.astype(bool).any(axis=1))[0]
        (outline,) = [p for p in ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
        assert outline.get_y() == empty - 0.5


def test_every_figure_drawn_in_a_notebook_is_shown(tmp_path):
    """Each figure-drawing cell of a notebook shows its figure, not only the first one (a
    style context that restored every rcParam once hid the later figures)."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from srewire import plots\n"
                                          "fig = plots.distance_maps((8, 8), (4, 4))"),
                nbformat.v4.new_code_cell("fig = plots.fibre_diagram()"),
                nbformat.v4.new_code_cell("fig = plots.distance_maps((8, 8), (4, 4))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                               progress_bar=False, cwd=str(tmp_path))
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    shown = [any("image/png" in o.get("data", {}) for o in c.outputs) for c in out.cells]
    assert shown == [True, True, True]

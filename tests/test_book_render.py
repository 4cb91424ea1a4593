"""How the book renders results of several profiles.

The ``paper`` results here are SYNTHETIC: a fixture writes paper-shaped ``result.json``
files with made-up numbers into a temporary folder, so that the paper column, the "n of 9"
line and the per-profile verdicts can be tested before any real paper run exists. Nothing
of it is written under results/.
"""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

import pytest

from srewire import __version__, plots, render, report
from srewire.config import make_config
from srewire.runs import GRID, MASKS, STRATEGY_ORDER, grid_configs, run_name

PAPER_CELLS = [("natural", 0.99, rw) for rw in STRATEGY_ORDER]  # three of the nine runs


def _result(profile: str, objective: str, sparsity: float, rewiring: str, seed: int,
            clean: float) -> dict:
    """A result.json with the fields the report reads; the numbers are invented."""
    cfg = next(c for c in grid_configs(profile, [seed])  # the grid's own (one keeps weights)
               if (c.objective, c.sparsity, c.rewiring) == (objective, sparsity, rewiring)
               ).to_dict()
    zero = 1.0 + STRATEGY_ORDER.index(rewiring)
    r = {"config": cfg, "synthetic": "made up by tests/test_book_render.py",
         "clean_accuracy": clean, "robust_accuracy": clean / 2 if objective == "trades" else None,
         "zero_fibres": {"global": {"out": zero}},
         "pruned": {"clean_accuracy": clean - 5, "zero_fibres": {"global": {"out": zero + 5}}},
         "sparsity": {"global": sparsity},
         "rewiring_stats": {"revived_per_step_mean": [10.0]},
         "provenance": {"wall_time_s": {"train": 60.0, "eval": 6.0, "total": 66.0},
                        "steps": 100 * cfg["epochs"], "n_train": cfg["n_train"] or 50_000,
                        "device": "synthetic", "git_commit": None, "data": "synthetic",
                        "versions": {"srewire": __version__}}}
    if objective == "trades":
        r["robustness"] = {"clean_accuracy": clean + 1}
    return r


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results folder with the whole quick grid (seeds 0, 1) and three SYNTHETIC paper
    runs, laid out as ``python -m srewire grid`` lays out real ones."""
    root = tmp_path / "results"
    runs = [("quick", o, s, rw, seed, 40.0 + seed) for o, s in GRID for rw in STRATEGY_ORDER
            for seed in (0, 1)]
    runs += [("paper", o, s, rw, 0, 80.0) for o, s, rw in PAPER_CELLS]
    for profile, o, s, rw, seed, clean in runs:
        folder = root / profile / run_name(make_config(profile, o, s, rw, seed))  # same name
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps(_result(profile, o, s, rw, seed, clean)))
    return root


def _load(results_dir: Path) -> tuple[list[dict], list[dict]]:
    quick = report.load_grid("quick", results_dir, compute=False, allow_synthetic=True)
    paper = report.load_grid("paper", results_dir, partial=True, allow_synthetic=True)
    return quick, paper


class _Cells(html.parser.HTMLParser):
    """Text of every header and data cell, and the caption, of rendered tables."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.caption = ""
        self._in: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.cells.append("")

    def handle_endtag(self, tag) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data) -> None:
        if self._in == "caption":
            self.caption += data
        elif self._in:
            self.cells[-1] += data


def _rendered(frame) -> _Cells:
    parser = _Cells()
    parser.feed(render.show(frame)._repr_html_())
    return parser


def test_paper_column_beside_quick_and_thesis_with_dashes_for_missing_runs(results_dir):
    quick, paper = _load(results_dir)
    assert len(quick) == 18 and len(paper) == 3
    before, _ = report.table1(quick + paper)
    assert list(before.columns) == ["quick (%)", "paper (%)", "thesis (%)"]
    assert before.loc[("99% natural", "Structured"), "paper (%)"] == "2.000"  # one seed
    assert before.loc[("95% TRADES", "Structured"), "paper (%)"] == "—"  # not run yet
    assert before.loc[("95% TRADES", "Structured"), "quick (%)"] == "2.000 ± 0.000"
    assert "quick: mean ± standard deviation over 2 seeds" in before.attrs["caption"]
    assert "paper: one seed" in before.attrs["caption"]
    assert report.grid_status(quick + paper, "paper") == "3 of the 9 paper runs exist."
    clean, _ = report.table2(quick + paper)
    assert clean.loc[("99% natural", "Unstructured"), "paper (%)"] == "80.00"
    t3 = report.table3(quick + paper)
    assert set(t3["paper (%)"]) == {"—"}  # no paper TRADES run in the synthetic folder


def test_without_paper_runs_no_paper_column_and_the_count_says_zero(results_dir, tmp_path):
    quick = report.load_grid("quick", results_dir, compute=False, allow_synthetic=True)
    assert report.load_grid("paper", tmp_path / "nothing", partial=True,
                            allow_synthetic=True) == []
    before, _ = report.table1(quick)
    assert list(before.columns) == ["quick (%)", "thesis (%)"]
    assert report.grid_status(quick, "paper") == "0 of the 9 paper runs exist."


def test_rendered_table_shows_every_cell_whole_with_caption_and_percent_headers(results_dir):
    quick, paper = _load(results_dir)
    before, _ = report.table1(quick + paper)
    cells = _rendered(before)
    for header in ("quick (%)", "paper (%)", "thesis (%)"):
        assert header in cells.cells
    assert "2 seeds" in cells.caption and "paper: one seed" in cells.caption
    values = [c.replace("\u00a0", " ") for c in cells.cells]
    assert "2.000 ± 0.000" in values and "11.77" in values and "—" in values
    assert not any("(n=" in c for c in values)
    # every row of the frame is a row of the table: 9 data rows of 3 values each
    assert sum(c in before.to_numpy().ravel().tolist() for c in values) == 27


def test_verdicts_per_profile_and_nothing_truncated(results_dir):
    quick, paper = _load(results_dir)
    verdicts = {p: report.claims(runs) for p, runs in report.by_profile(quick + paper).items()}
    table = report.verdict_table(verdicts)
    assert set(table.index.get_level_values("Profile")) == {"quick", "paper"}
    # four claims on quick; on paper (99 % natural only) claim (d) has no TRADES run
    assert len(table) == 7
    assert not [k for k in table.index if k[0].startswith("(d)") and k[1] == "paper"]
    html_text = render.show(table, wide=("Evidence",))._repr_html_()
    longest = max((line for c in verdicts["quick"] for line in c.evidence), key=len)
    assert len(longest) > 50  # pandas would cut it at 50 characters
    assert render.html.escape(longest) in html_text.replace("\u00a0", " ")
    assert "snake" not in html_text and "_" not in _rendered(table).cells[0]


def test_readable_headers_have_no_snake_case():
    import pandas as pd

    frame = render.readable(pd.DataFrame({"n_train": [1], "masks_identical": [True],
                                          "some_new_field": [2]}))
    assert list(frame.columns) == ["training images", "masks identical", "some new field"]
    assert "yes" in _rendered(frame).cells


def test_scale_note_is_generated_from_the_runs(results_dir):
    quick, paper = _load(results_dir)
    note = report.scale_note(quick + paper)
    q = quick[0]["provenance"]
    assert f"quick profile (18 runs, 2 seeds): {q['steps']:,} steps on {q['n_train']:,}" in note
    assert "paper profile (3 runs, 1 seed)" in note
    steps, images = report.thesis_scale()
    assert f"{steps:,} steps on {images:,}" in note
    gap = report.accuracy_gap(quick)
    assert f"on average {gap:.0f} points below" in note and gap > 0


def test_figures_come_from_paper_runs_only_where_their_masks_exist(results_dir):
    assert plots.figure_profile(results_dir, "quick", "natural", 0.99) == "quick"
    for rw in STRATEGY_ORDER:
        folder = results_dir / "paper" / run_name(make_config("paper", "natural", 0.99, rw, 0))
        (folder / MASKS).write_bytes(b"synthetic")
    assert plots.figure_profile(results_dir, "quick", "natural", 0.99) == "paper"
    assert plots.figure_profile(results_dir, "quick", "natural", 0.95) == "quick"


def _page(body: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<title>t</title></head><body>"
            "<main><article class='bd-article' style='max-width: 600px; padding: 0 20px'>"
            f"{body}</article></main></body></html>")


def test_browser_check_fails_on_wide_tables_and_small_figures(tmp_path, capsys):
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import check_html

    if not (check_html._find(check_html.CHROMIUM_CANDIDATES, check_html.SYSTEM_CHROMIUM)
            and check_html._find(check_html.DRIVER_CANDIDATES, check_html.SYSTEM_DRIVER)):
        pytest.skip("chromium and chromium-driver are not installed (CI installs them)")
    import matplotlib

    matplotlib.use("Agg")
    fig = plots.distance_maps((4, 4), (1, 1))
    fig.savefig(tmp_path / "f.png", dpi=20)
    site = tmp_path / "html"
    site.mkdir()
    shutil.copy(tmp_path / "f.png", site / "f.png")
    wide = "<table><tr>" + "".join(f"<td>cell_{i:03d}_without_breaks</td>" for i in range(12)) \
        + "</tr></table>"
    (site / "wide.html").write_text(_page(f"<div style='overflow-x: auto'>{wide}</div>"))
    (site / "small.html").write_text(_page("<figure><img src='f.png' width='120'></figure>"))
    (site / "fine.html").write_text(_page("<table><tr><td>1</td><td>2</td></tr></table>"
                                          "<figure><img src='f.png' width='400' "
                                          "style='max-width: 100%'></figure>"))
    assert check_html.check_html(site) == 1
    out = capsys.readouterr().out
    assert "wide.html: too wide at 1280 px" in out
    assert "small.html: figure too small at 1280 px" in out and "120 x" in out
    assert "fine.html" not in out

"""Tables and claim verdicts of srewire.report, on hand-made results with known answers."""

import math

import pytest

from srewire import report

GRID = [("natural", 0.99), ("natural", 0.95), ("trades", 0.95)]


def fake(objective, sparsity, rewiring, seed, *, clean, zero, pruned_clean, robust=None):
    """A result dictionary with just the fields the report reads."""
    r = {
        "config": {"objective": objective, "sparsity": sparsity, "rewiring": rewiring,
                   "seed": seed},
        "clean_accuracy": clean, "robust_accuracy": robust,
        "zero_fibres": {"global": {"out": zero}},
        "pruned": {"clean_accuracy": pruned_clean, "zero_fibres": {"global": {"out": zero + 5}}},
        "sparsity": {"global": sparsity},
        "provenance": {"wall_time_s": {"train": 60.0, "eval": 6.0}},
    }
    if robust is not None:
        r["robustness"] = {"clean_accuracy": clean + 1}
    return r


def grid(zero=(1.0, 2.0, 3.0), pruned=(50.0, 40.0, 48.0), clean_shift=(0.0, 0.0, 0.0),
         robust_shift=(0.0, 0.0, 0.0), seeds=(0, 1), spread=0.1):
    """The thesis grid with values ``level + spread * (seed - 0.5)`` (zero fibres: a tenth of
    that spread): with seeds 0 and 1 every cell has sample std ``spread / sqrt(2)``."""
    out = []
    for obj, sp in GRID:
        for i, rw in enumerate(("random", "structured", "weight_based")):
            for s in seeds:
                noise = spread * (s - 0.5)  # the same seed-to-seed spread everywhere
                out.append(fake(obj, sp, rw, s, clean=60 + clean_shift[i] + noise,
                                zero=zero[i] + noise / 10, pruned_clean=pruned[i] + noise,
                                robust=(20 + robust_shift[i] + noise) if obj == "trades"
                                else None))
    return out


def verdicts(results, **kw):
    return {c.key: c.verdict for c in report.claims(results, **kw)}


def claim(results, key, **kw):
    return next(c for c in report.claims(results, **kw) if c.key == key)


T975_DF2 = 4.302653  # 97.5 % quantile of Student's t with 2 degrees of freedom (tables)


def half_width(spread):
    """Oracle: Welch's 95 % half-width for two cells of two seeds, values +-spread/2 each:
    std spread/sqrt(2), SE of the difference sqrt(2 std^2 / 2) = spread/sqrt(2), df = 2."""
    return T975_DF2 * spread / math.sqrt(2)


def test_summary_is_mean_and_sample_std_and_skips_missing_values():
    results = grid()
    s = report.summary(results, "clean")[("natural", 0.99, "random")]
    assert s.n == 2 and s.mean == pytest.approx(60.0)
    assert s.std == pytest.approx(math.sqrt(2 * 0.05 ** 2))  # sample std of 59.95 and 60.05
    robust = report.summary(results, "robust")
    assert robust[("natural", 0.99, "random")].n == 0  # natural runs are not attacked
    assert robust[("trades", 0.95, "random")].n == 2
    assert report.summary(results, "robust_clean")[("trades", 0.95, "random")].mean == \
        pytest.approx(61.0)


def test_claims_hold_on_a_grid_built_to_satisfy_them():
    assert verdicts(grid()) == {"a": "holds", "b": "holds", "c": "holds", "d": "holds"}
    b = claim(grid(), "b")
    assert b.detectable == pytest.approx(half_width(0.1), rel=1e-5)
    assert b.evidence[-1].endswith(f"could have detected in every setting is "
                                   f"{half_width(0.1):.2f} points")


def test_claims_fail_where_the_grid_contradicts_them():
    v = verdicts(grid(zero=(3.0, 2.0, 1.0), pruned=(50.0, 48.0, 40.0), clean_shift=(0, -5, 5),
                      robust_shift=(0, 4, -4)))
    assert v == {"a": "does not hold", "b": "does not hold", "c": "does not hold",
                 "d": "does not hold"}


def test_partly_when_only_one_setting_agrees():
    results = grid()
    for r in results:  # break the ordering only at 95 % natural
        c = r["config"]
        if (c["objective"], c["sparsity"], c["rewiring"]) == ("natural", 0.95, "weight_based"):
            r["zero_fibres"]["global"]["out"] = 0.5
    assert verdicts(results)["a"] == "partly"


def test_one_seed_gives_no_verdict_and_equal_means_no_ordering():
    one = grid(seeds=(0,))  # the seed noise cannot be estimated from one seed
    assert verdicts(one) == {k: "undecided" for k in "abcd"}
    assert all("one seed" in line for c in report.claims(one) for line in c.evidence)
    assert claim(one, "b").detectable is None
    flat = claim(grid(zero=(0.0, 0.0, 0.0)), "a")  # 0 < 0 < 0 is not shown by any interval
    assert flat.verdict == "undecided"
    assert all(line.endswith("not resolved from the seed noise") for line in flat.evidence)


def test_a_large_effect_is_detected():
    v = verdicts(grid(clean_shift=(0.0, 3.0, 0.0)))  # structured 3 points up, noise 0.07
    assert v["b"] == "partly"  # structured differs in every setting, weight-based in none
    lines = claim(grid(clean_shift=(0.0, 3.0, 0.0)), "b").evidence
    assert [line.endswith(": detected") for line in lines] == [True, False] * 3
    assert verdicts(grid(clean_shift=(0.0, 3.0, -3.0)))["b"] == "does not hold"


def test_a_tiny_effect_under_large_noise_is_not_detectable_and_says_what_could_be():
    results = grid(clean_shift=(0.0, 0.5, 0.5), robust_shift=(0.0, -0.5, 0.5), spread=10.0)
    for key in "bd":
        c = claim(results, key)
        assert c.verdict == "holds"
        assert c.detectable == pytest.approx(half_width(10.0), rel=1e-5)  # about 30 points
        expected = f"not detectable, could have detected ≥ {half_width(10.0):.2f}"
        assert all(line.endswith(expected) for line in c.evidence[:-1]), c.evidence
    # the same noise hides the zero-fibre ordering and the pruning advantage
    assert verdicts(results)["a"] == "undecided" and verdicts(results)["c"] == "undecided"


def test_the_interval_is_t_based_not_two_standard_errors():
    """Two seeds per cell: SE of a difference = spread / sqrt(2). A shift of 3 SE is outside
    2 SE but inside Welch's 4.30 SE; a shift of 5 SE is outside both."""
    se = 0.1 / math.sqrt(2)
    for shift, detected in ((3 * se, False), (5 * se, True)):
        c = claim(grid(clean_shift=(0.0, shift, 0.0)), "b", accuracy_floor=0.0)
        assert c.verdict == ("partly" if detected else "holds"), (shift, c.evidence)


def test_tables_put_the_thesis_beside_ours():
    before, after = report.table1(grid())
    assert list(before.index.get_level_values(0).unique()) == ["99% natural", "95% natural",
                                                               "95% TRADES"]
    assert list(before.columns) == ["ours (%)", "thesis (%)"]
    row = ("99% natural", "Unstructured")
    assert before.loc[row, "thesis (%)"] == "2.066"
    assert before.loc[row, "ours (%)"].startswith("1.000 ± ")
    assert not before["ours (%)"].str.contains("n=").any()  # the seeds are in the caption
    assert "2 seeds" in before.attrs["caption"] and "%" in before.attrs["caption"]
    assert before.loc[("95% natural", "Structured"), "thesis (%)"] == "0.94"
    assert after.loc[("95% natural", "Structured"), "thesis (%)"] == "—"  # not in the thesis
    t3 = report.table3(grid())
    assert t3.shape == (6, 2)
    assert t3.loc[("robust (PGD)", "Structured weight-based"), "thesis (%)"] == "39.46"


def test_a_cell_with_fewer_seeds_than_the_caption_says_its_own_count():
    results = [r for r in grid() if not (r["config"]["rewiring"] == "structured"
                                         and r["config"]["seed"] == 1)]
    clean, _ = report.table2(results)
    assert clean.loc[("99% natural", "Structured"), "ours (%)"].endswith("(n=1)")
    assert "n=" not in clean.loc[("99% natural", "Unstructured"), "ours (%)"]
    assert "2 seeds" in clean.attrs["caption"]


def test_fmt_puts_no_count_in_the_cell():
    assert report.fmt(report.Stat(1.0, 0.5, 2), 2, 2) == "1.00 ± 0.50"
    assert report.fmt(report.Stat(1.0, float("nan"), 1), 1) == "1.0"
    assert report.fmt(report.Stat(1.0, float("nan"), 1), 1, 2) == "1.0 (n=1)"
    assert report.fmt(report.Stat(float("nan"), float("nan"), 0)) == "—"


def test_glue_is_a_no_op_without_myst_nb(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import fails, as on Colab
    assert report.glue("name", "value") is None
    assert capsys.readouterr().out == ""

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
    # equal means: every interval is +-half_width, inside the one-point margin
    assert b.smallest_margin == pytest.approx(half_width(0.1), rel=1e-5)
    assert b.evidence[-1].endswith(f"could have confirmed in every comparison is "
                                   f"±{half_width(0.1):.2f} points")
    assert all("equivalent within ±1" in line for line in b.evidence[:-1])


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
    assert all("one seed" in line for c in report.claims(one) for line in c.evidence
               if not line.startswith("AutoAttack numbers exist"))
    assert claim(one, "b").smallest_margin is None
    flat = claim(grid(zero=(0.0, 0.0, 0.0)), "a")  # 0 < 0 < 0 is not shown by any interval
    assert flat.verdict == "undecided"
    assert all(line.endswith("not resolved from the seed noise") for line in flat.evidence)


def test_a_large_effect_is_detected():
    v = verdicts(grid(clean_shift=(0.0, 3.0, 0.0)))  # structured 3 points up, noise 0.07
    assert v["b"] == "partly"  # structured differs in every setting, weight-based in none
    lines = claim(grid(clean_shift=(0.0, 3.0, 0.0)), "b").evidence[:-1]
    assert [": differs" in line for line in lines] == [True, False] * 3
    assert [": equivalent within ±1" in line for line in lines] == [False, True] * 3
    assert verdicts(grid(clean_shift=(0.0, 3.0, -3.0)))["b"] == "does not hold"


def test_no_detected_difference_under_large_noise_is_not_called_unchanged():
    """Equal-looking means under noise of 30 points: the old reading ("no difference
    detected") said "holds"; the equivalence test says nothing is decided, and how wide a
    margin these seeds could have confirmed."""
    results = grid(clean_shift=(0.0, 0.5, 0.5), robust_shift=(0.0, -0.5, 0.5), spread=10.0)
    for key in "bd":
        c = claim(results, key)
        assert c.verdict == "undecided"
        # |diff| 0.5 plus the half-width: the largest |end| of the intervals
        assert c.smallest_margin == pytest.approx(half_width(10.0) + 0.5, rel=1e-5)
        lines = [line for line in c.evidence if " - unstructured = " in line]
        assert len(lines) == (6 if key == "b" else 2)
        assert all(": not decided at the ±1 margin" in line for line in lines)
    # the same noise hides the zero-fibre ordering and the pruning advantage
    assert verdicts(results)["a"] == "undecided" and verdicts(results)["c"] == "undecided"


def test_the_superiority_interval_is_t_based_not_two_standard_errors():
    """Two seeds per cell: SE of a difference = spread / sqrt(2). A shift of 3 SE is outside
    2 SE but inside Welch's 4.30 SE; a shift of 5 SE is outside both."""
    se = 0.1 / math.sqrt(2)
    for shift, detected in ((3 * se, False), (5 * se, True)):
        c = claim(grid(pruned=(50.0, 40.0, 40.0 + shift)), "c", accuracy_floor=0.0)
        assert c.verdict == ("holds" if detected else "undecided"), (shift, c.evidence)


def test_the_equivalence_interval_is_t_based_not_two_standard_errors():
    """Equal means, SE 0.0707: the interval reaches 4.30 SE. A margin of 3 SE would pass a
    two-standard-error rule but not the t interval; a margin of 4.5 SE passes."""
    se = 0.1 / math.sqrt(2)
    assert claim(grid(), "b", margin=3 * se).verdict == "undecided"
    assert claim(grid(), "b", margin=4.5 * se).verdict == "holds"


def test_the_margin_is_one_point_and_fixed_in_advance():
    assert report.EQUIVALENCE_MARGIN == 1.0
    # a true difference of 0.8 points, measured precisely, is equivalence within one point
    assert verdicts(grid(clean_shift=(0.0, 0.8, 0.8), spread=0.01))["b"] == "holds"
    # 1.5 points is a difference
    assert verdicts(grid(clean_shift=(0.0, 1.5, 1.5), spread=0.01))["b"] == "does not hold"


def test_fewer_than_three_seeds_are_named_in_the_verdict():
    two = claim(grid(seeds=(0, 1)), "b")
    assert two.verdict == "holds" and two.seeds == 2
    assert two.verdict_text == "holds (on 2 seeds per cell, fewer than 3)"
    three = claim(grid(seeds=(0, 1, 2)), "b")
    assert three.seeds == 3 and three.verdict_text == three.verdict
    table = report.verdict_table({"quick": report.claims(grid())})
    assert table["Verdict"].str.contains("fewer than 3").all()


def test_zero_width_intervals_are_words_not_evidence():
    results = grid()
    for r in results:  # 95 % TRADES: every seed of every strategy has no zero fibre
        if r["config"]["objective"] == "trades":
            r["zero_fibres"]["global"]["out"] = 0.0
    a = claim(results, "a")
    trades = next(line for line in a.evidence if line.startswith("95% TRADES"))
    assert "[+0.000, +0.000]" not in trades and "CI" not in trades
    assert "no seed-to-seed variation" in trades
    assert trades.endswith("not resolved from the seed noise")
    assert a.verdict == "partly"  # shown in the two natural settings only


def test_robust_claim_adds_autoattack_where_every_trades_run_has_it():
    results = grid()
    d = claim(results, "d")
    assert d.evidence[-1] == "AutoAttack numbers exist for 0 of the 6 TRADES runs; the " \
                             "verdict rests on PGD"
    for r in results:
        if r["config"]["objective"] == "trades":
            r["autoattack"] = {"robust_accuracy": r["robust_accuracy"] - 4}
    d = claim(results, "d")
    assert "AutoAttack numbers exist for 6 of the 6 TRADES runs" in d.evidence
    assert sum(line.startswith("AutoAttack: 95% TRADES") for line in d.evidence) == 2


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
    assert t3.shape == (9, 2)
    assert t3.loc[("robust (PGD)", "Structured weight-based"), "thesis (%)"] == "39.46"
    # no AutoAttack numbers: dashes with a footnote in the caption, never NaN
    aa = t3.loc["robust (AutoAttack)"]
    assert (aa == "—").all().all() and "— marks a network not evaluated" in t3.attrs["caption"]
    results = grid()
    results[-2]["autoattack"] = {"robust_accuracy": 15.5}  # 95 % TRADES, weight-based, seed 0
    t3 = report.table3(results)
    assert t3.loc[("robust (AutoAttack)", "Structured weight-based"), "ours (%)"] == \
        "15.50 (n=1)"
    assert t3.loc[("robust (AutoAttack)", "Unstructured"), "ours (%)"] == "—"


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


def test_autoattack_drop_per_strategy_comes_from_the_results():
    results = grid()
    assert report.autoattack_drop(results).empty
    assert report.autoattack_note(results).startswith(
        "Unstructured: not evaluated with AutoAttack (0 of 2 networks)")
    trades = [r for r in results if r["config"]["objective"] == "trades"]
    for r in trades[:2]:  # unstructured, seeds 0 and 1: 4 points below PGD on 500 images
        r["robustness"] = {"robust_accuracy": r["robust_accuracy"], "attack": {"n_images": 500}}
        r["autoattack"] = {"robust_accuracy": r["robust_accuracy"] - 4.0, "clean_accuracy": 40.0,
                           "attack": {"n_images": 500},
                           "components": [{"name": "apgd-ce", "robust_accuracy": 30.0}],
                           "checks": {"eval_mode": True}}
    drop = report.autoattack_drop(results)
    assert list(drop["drop"]) == [4.0, 4.0]
    assert list(drop["apgd-ce"]) == [30.0, 30.0]
    note = report.autoattack_note(results)
    assert note.startswith("Unstructured: 16.0 % under AutoAttack against 20.0 % under PGD, a "
                           "drop of 4.0 points (2 of 2 networks, 500 images)")
    assert "Structured: not evaluated with AutoAttack (0 of 2 networks)" in note


def test_companions_are_the_larger_profiles_read_as_they_stand():
    """quick shows long and paper beside it; long shows paper; smoke shows nothing."""
    from pathlib import Path

    from srewire.config import ConfigError

    committed = Path(__file__).resolve().parents[1] / "results"
    beside_quick = report.companions("quick", committed)
    long_runs = sorted(p.parent.name for p in (committed / "long").glob("*/result.json"))
    assert sorted(r["config"]["profile"] for r in beside_quick) == \
        sorted(["long"] * len(long_runs) + ["paper"] * len(
            list((committed / "paper").glob("*/result.json"))))
    assert all(r["config"]["profile"] == "paper" for r in report.companions("long", committed))
    assert report.companions("smoke", committed) == []
    with pytest.raises(ConfigError, match="profile must be one of"):
        report.companions("huge", committed)
    note = report.status_note(beside_quick)
    assert f"{len(long_runs)} of the 27 long runs exist." in note and "paper runs exist" in note


def test_long_sizing_note_reads_the_profile():
    from srewire.config import LONG_SIZING, make_config

    text = report.long_sizing_note(LONG_SIZING)
    assert f"{make_config('long').epochs} natural epochs" in text
    assert f"{make_config('long', 'trades').n_train:,} images" in text

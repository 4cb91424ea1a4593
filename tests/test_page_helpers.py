"""What the book's pages call instead of writing it out: the chapter preamble
(srewire.chapter), the rewiring churn of the introduction, the demonstration model of a
chosen seed, and the speed chapter's numbers (srewire.speed_prose), on small inputs with
known answers."""

from pathlib import Path

import pandas as pd
import pytest

from srewire import chapter, report, speed_prose
from srewire.config import make_config

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture
def glued(monkeypatch):
    """Every value glued during the test, by name."""
    out = {}
    monkeypatch.setattr(report, "glue", lambda name, value: out.__setitem__(name, value))
    return out


def test_glue_all_glues_every_value(glued):
    report.glue_all({"a": "1", "b": "two"})
    assert glued == {"a": "1", "b": "two"}


def test_chapter_grid_is_the_grid_its_companions_and_the_scale_sentences(glued):
    results, larger = chapter.grid("quick", RESULTS)
    assert results == report.load_grid("quick", RESULTS)
    assert larger == report.companions("quick", RESULTS)
    assert glued == {"scale_note": report.scale_note(results + larger),
                     "paper_status": report.status_note(results + larger)}
    assert chapter.Grid(results, larger).everything == results + larger
    glued.clear()
    one = chapter.grid("quick", RESULTS, [1])
    assert {r["config"]["seed"] for r in one.results} == {1}


def test_redie_rates_are_means_over_seeds_in_grid_order():
    def run(objective, rewiring, seed, rate):
        return {"config": {"objective": objective, "sparsity": 0.99, "rewiring": rewiring,
                           "seed": seed},
                "rewiring_stats": {"revived_then_died_rate": rate}}

    rates = report.redie_rates([run("natural", "random", 0, 0.5), run("natural", "random", 1, 0.7),
                                run("natural", "structured", 0, 0.25)])
    assert rates == {("natural", 0.99, "random"): pytest.approx(0.6),
                     ("natural", 0.99, "structured"): 0.25}
    assert report.redie_text(rates).splitlines() == [
        "natural  sparsity 0.99 random       :  60.0 % of revived connections die again in "
        "the next step",
        "natural  sparsity 0.99 structured   :  25.0 % of revived connections die again in "
        "the next step"]


def test_the_grid_keeps_demonstration_weights_for_a_seed_it_is_made_for():
    """Seed 0 keeps them, as do seeds outside the profile's default seeds (a grid made for
    seed 7); the defaults after the first keep none, as the committed results record."""
    from srewire.runs import keeps_weights

    def keeps(profile, seed, objective="trades", rewiring="random"):
        return keeps_weights(make_config(profile, objective, 0.95, rewiring, seed))

    assert keeps("quick", 0) and keeps("smoke", 7) and keeps("quick", 7)
    assert not keeps("quick", 1) and not keeps("long", 2)
    assert not keeps("smoke", 7, rewiring="structured") and not keeps("smoke", 7, "natural")


def test_demo_model_follows_the_seed_and_says_how_to_make_a_missing_one(tmp_path):
    from srewire.runs import RunError, demo_model, demo_summary

    with pytest.raises(RunError, match=r"no demonstration weights of seed 7 in .*seed7: .*"
                                       r"--profile smoke --seeds 7 --results"):
        demo_model(tmp_path, "smoke", seed=7)
    model, result = demo_model(RESULTS, "quick", seed=0)
    assert result["config"]["seed"] == 0
    assert demo_summary(result).startswith("model: VGG11, 95 % sparse, trained with TRADES "
                                           "(quick profile, seed 0); clean accuracy ")
    assert demo_summary({**result, "weights_note": "approximate"}).endswith(
        "\nnote: approximate")


def test_load_sample_takes_the_first_n(tmp_path):
    import numpy as np
    import torch

    from srewire.data import load_sample

    path = tmp_path / "s.npz"
    np.savez(path, images=np.arange(5 * 32 * 32 * 3, dtype=np.uint8).reshape(5, 32, 32, 3),
             labels=np.array([4, 3, 2, 1, 0]))
    x, y = load_sample(path, 2)
    assert x.shape[0] == 2 and y.tolist() == [4, 3]
    assert torch.equal(load_sample(path)[1], torch.tensor([4, 3, 2, 1, 0]))


def _lat(forms, iqr=0.01):
    return {v: {"median_s": r, "iqr_s": iqr, "relative_to_dense": r} for v, r in forms.items()}


def _net(kind, rewiring, lat, compact=40.0):
    return {"name": f"{kind}-{rewiring}", "kind": kind, "objective": "natural", "sparsity": 0.99,
            "rewiring": rewiring, "zero_fibres_out": 12.345, "latency": lat,
            "multiply_adds": {"dense": {"total": 200.0}, "nonzero": {"total": 3.0},
                              "compact": {"total": compact}}}


FORMS = {"dense": 1.0, "channels": 0.9, "compact": 0.8, "csr": 0.5, "condensed": 0.7}
RECORD = {"settings": {"batches": [1, 128]},
          "networks": [_net("trained", "weight_based", {"1": _lat(FORMS), "128": _lat(FORMS)}),
                       _net("trained", "random", {"1": _lat({**FORMS, "csr": 0.25})}, 100.0),
                       _net("prune98", "weight_based",
                            {"1": _lat({**FORMS, "compact": 0.4}, 0.05),
                             "128": _lat({**FORMS, "compact": 0.6})}, 20.0)]}


def test_network_is_the_first_match_of_every_field_given():
    assert speed_prose.network(RECORD, "trained", "natural", 0.99, "random")["name"] == \
        "trained-random"
    assert speed_prose.network(RECORD, "prune98")["name"] == "prune98-weight_based"
    assert speed_prose.network(RECORD, "trained", "trades") is None


def test_network_values_read_the_99_percent_networks():
    v = speed_prose.network_values(RECORD)
    assert (v["floor_wb"], v["fib_wb"], v["compact_mac_wb"]) == ("1.5", "12.3", "20")
    assert v["compact_mac_rnd"] == "50" and v["csr_rnd_1"] == "0.25"
    assert v["csr_rnd_128"] == "n/a" and v["compact_wb_128"] == "0.80"
    assert (v["best_1"], v["best_variant_1"]) == ("0.25", "CSR sparse")
    assert v["best_128"] == "0.50"


def test_verdict_and_details_read_the_weight_based_and_pruned_networks():
    text = speed_prose.verdict(RECORD)
    assert "as trained gives 0.80 x the dense masked latency at batch 1 and 0.80 x" in text
    assert "against the 0.015 x of the multiply-adds" in text
    assert text.endswith("runs fibre-compacted at 0.40 x and 0.60 x.")
    d = speed_prose.detail_values(RECORD)
    assert d["verdict"] == text
    assert (d["iqr_p_1"], d["iqr_wb_1"]) == ("5", "1")
    assert (d["p_compact_1"], d["p_csr_128"], d["wb_channels_1"]) == ("0.40", "0.50", "0.90")
    assert (d["p_compact_mac"], d["p_floor"]) == ("10", "1.5")
    assert {"summary_1", "summary_128", "structure_verdict"} <= set(d)


def test_prune_values_and_text_read_the_comparison():
    import pandas as pd

    labels = report.STRATEGY_LABELS
    table = pd.DataFrame(
        {"clean accuracy %": [50.0, 51.0, 52.0, 47.25],
         "zero fibres (out) %": [1.0, 2.0, 3.0, 9.0],
         "fibre-compacted x dense": [0.9, 0.8, None, 0.5]},
        index=[f"99 % directly, {labels[rw]}" for rw in labels]
        + ["98 % weight-based, pruned to 99 %, fine-tuned"])
    pruned = [{"config": {"seed": s}, "trained": {"clean_accuracy": 60.0 + s},
               "after_prune": {"clean_accuracy": 20.0 + 2 * s},
               "prune": {"steps": 8, "lr": 0.01, "lone_removed": 1234, "fibres_removed": 5}}
              for s in (0, 1)]
    v = speed_prose.prune_values(table, pruned)
    assert (v["ft_steps"], v["p_acc98"], v["p_acc_cut"]) == ("8", "60.5", "21.0")
    assert (v["p_acc"], v["p_fib"], v["p_lat"], v["p_seeds"]) == ("47.2", "9.0", "0.50",
                                                                  "2 seeds")
    assert (v["d_acc_structured"], v["d_fib_weight_based"], v["d_lat_weight_based"]) == (
        "51.0", "3.0", "n/a")
    assert speed_prose.prune_text(pruned) == ("fine-tuning: 8 steps at lr 0.01; pruning "
                                              "removed 1,234 lone weights and 5 whole fibres "
                                              "(seed 0)")


def test_machine_values_and_text():
    record = {"machine": {"cpu": "X", "logical_cores": 2, "threads": 2, "torch": "2.0",
                          "load_average_1min": {"before": 0.1, "after": 1.96}},
              "settings": {"batches": [1], "rounds": 3, "seed_of_masks": 0,
                           "weights": "random", "large_batches_for": "key networks: a, b"},
              "complete": True}
    v = speed_prose.machine_values(record)
    assert (v["cores"], v["load_after"], v["large_for"]) == ("2", "2.0", "a, b")
    assert v["complete_note"] == "The run reached every network."
    assert speed_prose.machine_text(record).splitlines()[2] == (
        "1-minute load average: 0.1 before, 2.0 after; complete: True")


def _cell_runs(zero, pruned_zero=None, per_layer=None, revived_last=100.0):
    """Two seeds of every cell of the grid with zero fibres ``zero[(objective, sparsity)]``
    per strategy (random, structured, weight_based)."""
    out = []
    for (objective, sparsity), values in zero.items():
        for rw, z in zip(("random", "structured", "weight_based"), values):
            for seed, shift in ((0, -0.5), (1, 0.5)):
                out.append({"config": {"objective": objective, "sparsity": sparsity,
                                       "rewiring": rw, "seed": seed, "width": 0.125,
                                       "head": "predecessor"},
                            "clean_accuracy": 50.0, "robust_accuracy": None,
                            "sparsity": {"global": sparsity},
                            "provenance": {"wall_time_s": {"train": 1.0, "eval": 1.0}},
                            "zero_fibres": {"global": {"out": z + shift},
                                            "per_layer": per_layer or {}},
                            "pruned": {"clean_accuracy": 40.0, "zero_fibres": {"global": {
                                "out": (pruned_zero or z) + shift}}},
                            "rewiring_stats": {"revived_per_step_mean": [1.0, revived_last
                                                                         + 10 * seed]}})
    return out


def test_structure_values_are_cell_means_and_the_order():
    runs = _cell_runs({("natural", 0.99): (1.0, 2.0, 3.0), ("trades", 0.95): (0.25, 0.5, 0.75)})
    v = report.structure_values(runs)
    assert (v["zero_99_random"], v["zero_99_weight_based"]) == ("1.00", "3.00")
    assert v["order_99"] == "appears here too"
    assert (v["zero_95t_random"], v["zero_95t_wb"]) == ("0.25", "0.75")
    thesis = report.THESIS["zero_fibres"][("trades", 0.95)]
    assert v["thesis_95t"] == f"{thesis[0]:g} % and {thesis[2]:g} %"
    runs = _cell_runs({("natural", 0.99): (1.0, 3.0, 2.0), ("trades", 0.95): (0, 0, 0)})
    assert report.structure_values(runs)["order_99"] == "does not appear in full here"


def test_layer_values_rank_layers_by_their_mean_zero_fibres():
    from srewire.models import layer_shapes

    shapes = layer_shapes(width=0.125)
    per_layer = {s.name: {"out": 0.0} for s in shapes}
    per_layer.update({"dense2": {"out": 9.0}, "conv2": {"out": 1.5}, "conv5": {"out": 4.0},
                      "dense1": {"out": 4.0}, "conv8": {"out": 2.0}})
    runs = _cell_runs({("natural", 0.99): (0, 0, 0)}, per_layer=per_layer)
    v = report.layer_values(runs, "natural", 0.99, "weight_based")
    assert v == {"top_layers": "dense2 (32 outputs), conv5 (64 outputs), dense1 (32 outputs), "
                               "conv8 (64 outputs)", "early_zero": "1.50"}
    with pytest.raises(ValueError, match="no runs"):
        report.layer_values(runs, "trades", 0.95, "random")


def test_claim_values_glue_every_claims_verdict_margin_and_reading():
    runs = _cell_runs({("natural", 0.99): (1, 2, 3), ("natural", 0.95): (1, 2, 3),
                       ("trades", 0.95): (1, 2, 3)}, revived_last=1234.4)
    v = report.claim_values(runs)
    claims = report.claims(runs)
    assert v["margin"] == "1"
    for c in claims:
        assert v[f"verdict_{c.key}"] == c.verdict_text
        assert v[f"reading_{c.key}"] == report.READING[c.key][c.verdict != "holds"]
    assert (v["revived_last_min"], v["revived_last_max"]) == ("1,234", "1,244")


def _accuracy_runs(clean, pruned, robust=None):
    """The runs of :func:`_cell_runs` with the clean accuracy before and after pruning (and
    the robust accuracy) ``values[(objective, sparsity)]`` per strategy as the means of their
    two seeds (seed 0 half a point below, seed 1 half a point above)."""
    from srewire.runs import STRATEGY_ORDER

    runs = _cell_runs({row: (0, 0, 0) for row in clean})
    for r in runs:
        c = r["config"]
        row, i, shift = (c["objective"], c["sparsity"]), STRATEGY_ORDER.index(c["rewiring"]), \
            c["seed"] - 0.5
        r["clean_accuracy"] = clean[row][i] + shift
        r["pruned"]["clean_accuracy"] = pruned[row][i] + shift
        if robust and row in robust:
            r["robust_accuracy"] = robust[row][i] + shift
            r["config"]["beta"] = 6.0
    return runs


def test_accuracy_values_are_cell_means_by_glued_name():
    runs = _accuracy_runs({("natural", 0.99): (80.0, 81.04, 82.06),
                           ("natural", 0.95): (85.0, 86.0, 87.0),
                           ("trades", 0.95): (70.0, 71.0, 72.0)},
                          {("natural", 0.99): (60.0, 61.0, 62.0),
                           ("natural", 0.95): (65.0, 66.0, 67.0),
                           ("trades", 0.95): (50.0, 51.0, 52.0)})
    v = report.accuracy_values(runs)
    assert (v["acc_99_random"], v["acc_99_structured"], v["acc_99_weight_based"]) == (
        "80.0", "81.0", "82.1")
    assert (v["pacc_99_random"], v["pacc_95t_structured"], v["pacc_95n_weight_based"]) == (
        "60.0", "51.0", "67.0")
    assert (v["acc_95t_weight_based"], v["acc_95n_random"]) == ("72.0", "85.0")
    assert v["thesis_pacc_99"] == "76.12 %, 58.29 %, 73.11 %"  # Thesis Table 2, after pruning
    assert v["thesis_pacc_95t"] == "58.85 %, 46.76 %, 64.11 %"
    assert len(v) == 2 * 9 + 2


def _trades_run(rewiring, seed, *, start_seeds=True, recorded=True):
    attack = {"n_images": 500, **({"start_seeds": [1, 2]} if start_seeds else {})}
    checks = {"eval_mode": True, **({"modules_in_train_mode": []} if recorded else {})}
    return {"config": {"objective": "trades", "sparsity": 0.95, "rewiring": rewiring,
                       "seed": seed, "profile": "quick", "eval_eps": 8 / 255, "pgd_steps": 20,
                       "pgd_restarts": 2, "beta": 6.0},
            "robustness": {"attack": attack, "checks": checks}}


def test_objective_runs_and_attack_text():
    natural = {"config": {"objective": "natural"}}
    runs = [natural, _trades_run("random", 0), natural, _trades_run("structured", 0)]
    assert report.objective_runs(runs, "trades") == [runs[1], runs[3]]
    assert report.objective_runs(runs, "natural") == [natural, natural]
    assert report.attack_text(runs) == (
        "2 TRADES runs, profile quick; attack: Foolbox LinfPGD, eps 8/255, 20 steps of "
        "1.00/255, 2 restarts, on 500 test images; beta = 6.0")


def test_robust_values_are_the_95_percent_trades_means_and_the_thesis():
    runs = _accuracy_runs({("trades", 0.95): (70.0, 71.0, 72.0)},
                          {("trades", 0.95): (50.0, 51.0, 52.0)},
                          robust={("trades", 0.95): (30.0, 31.26, 29.94)})
    assert report.robust_values(runs) == {
        "beta_ours": "6", "rob_random": "30.0", "rob_structured": "31.3",
        "rob_weight_based": "29.9", "thesis_rob": "40.74 %, 40.61 %, 39.46 %"}


def _checks(foolbox, native, ordered, large):
    return pd.DataFrame({"PGD (Foolbox)": foolbox, "PGD (native)": native,
                         "PGD ≤ FGSM ≤ clean": ordered, "acc. at ε=0.5": large})


def test_cross_check_text_and_values():
    checks = _checks([30.0, 31.0, 29.0], [31.5, 30.2, 29.0], [True, True, True],
                     [0.0, 0.4, 0.1])
    assert report.cross_check_text(checks).splitlines() == [
        "largest difference between Foolbox and native PGD: 1.50 points",
        "PGD ≤ FGSM ≤ clean in every run: True; largest accuracy at eps = 0.5: 0.40 %"]
    checks.loc[1, "PGD ≤ FGSM ≤ clean"] = False
    assert "in every run: False;" in report.cross_check_text(checks)
    new = [_trades_run("random", 0), _trades_run("structured", 0)]
    v = report.cross_check_values(new, checks)
    assert v == {"fb_native_gap": "1.50", "starts_note": report.STARTS_NOTE[True],
                 "mode_note": report.MODE_NOTE[True]}
    assert report.STARTS_NOTE[True] != report.STARTS_NOTE[False]
    assert report.MODE_NOTE[True] != report.MODE_NOTE[False]
    old_starts = new + [_trades_run("weight_based", 0, start_seeds=False)]
    v = report.cross_check_values(old_starts, checks)
    assert (v["starts_note"], v["mode_note"]) == (report.STARTS_NOTE[False],
                                                  report.MODE_NOTE[True])
    unrecorded = new + [_trades_run("weight_based", 0, recorded=False)]
    v = report.cross_check_values(unrecorded, checks)
    assert (v["starts_note"], v["mode_note"]) == (report.STARTS_NOTE[True],
                                                  report.MODE_NOTE[False])


def test_n_test_text_names_each_profiles_test_images_in_profile_order():
    def run(profile, n_test):
        return {"config": {"profile": profile}, "provenance": {"n_test": n_test}}

    runs = [run("long", 10_000), run("quick", 2_000), run("quick", 2_000)]
    assert report.n_test_text(runs) == "2,000 (quick), 10,000 (long)"


def test_claims_by_profile_judges_each_profile_on_its_own_runs():
    runs = _cell_runs({("natural", 0.99): (1, 2, 3), ("natural", 0.95): (1, 2, 3),
                       ("trades", 0.95): (1, 2, 3)})
    for r in runs:
        r["config"]["profile"] = "long" if r["config"]["seed"] else "quick"
    verdicts = report.claims_by_profile(runs)
    assert list(verdicts) == ["quick", "long"]
    for profile, claims in verdicts.items():
        assert [c.key for c in claims] == ["a", "b", "c", "d"]
        mine = report.claims([r for r in runs if r["config"]["profile"] == profile])
        assert [(c.verdict, c.evidence) for c in claims] == [(c.verdict, c.evidence)
                                                             for c in mine]
        # one seed each, not the two of both; (d) has no robust accuracy to count
        assert [c.seeds for c in claims] == [1, 1, 1, 0]


def test_growth_values_draw_every_row_with_its_sentences():
    import matplotlib.pyplot as plt

    from srewire import trajectory

    runs = report.load_grid("quick", RESULTS)
    v = trajectory.growth_values(runs)
    assert list(v) == ["fig_growth_99", "growth_99", "fig_growth_95", "growth_95",
                       "fig_growth_95t", "growth_95t"]
    titles = [v[f"fig_growth_{k}"].axes[0].get_title() for k in ("99", "95", "95t")]
    assert titles == ["99% natural", "95% natural", "95% TRADES"]
    assert v["growth_95t"] == trajectory.cell_sentences(runs, "trades", 0.95)
    assert v["growth_99"] == trajectory.cell_sentences(runs, "natural", 0.99)
    for k in ("99", "95", "95t"):
        plt.close(v[f"fig_growth_{k}"])


def test_connectivity_values_draw_every_row_from_the_largest_profile_with_masks(tmp_path):
    """The committed quick runs of seed 0, and as "paper" runs the three of 99 % natural:
    that row is drawn from paper, the others from quick."""
    import matplotlib.pyplot as plt

    from srewire import plots

    (tmp_path / "quick").mkdir()
    (tmp_path / "paper").mkdir()
    for run in (RESULTS / "quick").glob("*_seed0"):
        (tmp_path / "quick" / run.name).symlink_to(run)
        if run.name.startswith("natural_s0.99_"):
            (tmp_path / "paper" / run.name).symlink_to(run)
    v = plots.connectivity_values(tmp_path, "quick", "dense2", 0)
    assert list(v) == ["fig_conn_99", "conn_99_where", "fig_conn_95", "conn_95_where",
                       "fig_conn_95t", "conn_95t_where"]
    assert [v[f"conn_{key}_where"] for key in ("99", "95", "95t")] == [
        "layer dense2, paper profile, seed 0", "layer dense2, quick profile, seed 0",
        "layer dense2, quick profile, seed 0"]
    for key, label, profile in (("99", "99% natural", "paper"), ("95", "95% natural", "quick"),
                                ("95t", "95% TRADES", "quick")):
        title = v[f"fig_conn_{key}"]._suptitle.get_text()
        assert title.startswith(f"{label}, layer dense2") and f"{profile} profile" in title
        plt.close(v[f"fig_conn_{key}"])


def test_per_layer_note_only_where_the_chart_would_be_empty(monkeypatch):
    from IPython import display

    from srewire import plots
    from srewire.render import note

    empty = _cell_runs({("trades", 0.95): (0, 0, 0)}, per_layer={"conv1": {"out": 0.0}})
    assert plots.per_layer_note(empty, "trades", 0.95) == (
        "In the 95 % sparse TRADES networks no layer has a single zero fibre with any "
        "strategy, so their per-layer chart would be empty.")
    some = _cell_runs({("natural", 0.99): (0, 0, 0)}, per_layer={"conv1": {"out": 0.5}})
    assert plots.per_layer_note(some, "natural", 0.99) == ""
    assert plots.per_layer_note(some + empty, "natural", 0.99) == ""
    assert plots.per_layer_note(empty + [{**r, "config": {**r["config"], "sparsity": 0.99,
                                                          "objective": "natural"}}
                                         for r in empty], "natural", 0.99).startswith(
        "In the 99 % sparse natural networks no layer")
    shown = []
    monkeypatch.setattr(display, "display", shown.append)
    note("")
    assert shown == []
    note("*a sentence*")
    assert [m.data for m in shown] == ["*a sentence*"]


def test_headline_reads_a_result_or_says_how_to_make_it(tmp_path):
    import json

    from srewire.runs import headline

    assert headline(tmp_path, "quick", "natural_x").splitlines() == [
        f"No result for quick/natural_x in {tmp_path} yet. Make it with",
        f"    python -m srewire grid --profile quick --results {tmp_path}"]
    folder = tmp_path / "quick" / "trades_x"
    folder.mkdir(parents=True)
    result = {"clean_accuracy": 61.2, "robust_accuracy": 30.5, "sparsity": {"global": 0.95},
              "zero_fibres": {"global": {"out": 1.25}}}
    (folder / "result.json").write_text(json.dumps(result))
    assert headline(tmp_path, "quick", "trades_x").splitlines() == [
        "run quick/trades_x", "clean accuracy:        61.2 %",
        "robust accuracy:       30.5 %", "sparsity:              0.95",
        "zero fibres (out):     1.25 %"]
    (folder / "result.json").write_text(json.dumps({**result, "robust_accuracy": None}))
    assert headline(tmp_path, "quick", "trades_x").splitlines()[2] == (
        "robust accuracy:       not measured")


def test_figure_runs_prefer_the_paper_runs_and_fall_back_to_the_profiles():
    def run(profile, seed):
        return {"config": {"profile": profile, "seed": seed}}

    quick = [run("quick", 0), run("quick", 1)]
    long, paper = run("long", 0), run("paper", 0)
    assert report.figure_runs(quick, [long, paper]) == [paper]
    assert report.figure_runs(quick, [long]) == quick
    assert report.figure_runs(quick, []) == quick

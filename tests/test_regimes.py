"""The regimes of the connectivity sweep (srewire.regimes) on hand-made sweeps with known
answers, and the initial-mask arithmetic against a built network."""

import pytest

from srewire import regimes
from srewire.models import VGG11, layer_names, layer_shapes, sparse_layers

STRATEGIES = ("random", "structured", "weight_based")


def sweep(rows):
    """A sweep from ``{connectivity: (revived, {strategy: (zero fibres, accuracy)})}``."""
    out = []
    for c, (revived, cells) in rows.items():
        for s in STRATEGIES:
            zero, acc = cells[s]
            out.append({"config": {"sparsity": round(1 - c, 6), "rewiring": s, "seed": 0,
                                   "profile": "smoke", "width": 0.125},
                        "rewiring_stats": {"revived_per_step_mean": [revived, 0.0]},
                        "zero_fibres": {"global": {"out": zero}},
                        "sparsity": {"global": round(1 - c, 6)},
                        "clean_accuracy": acc,
                        "provenance": {"steps": 16, "n_train": 256}})
    return out


def cells(random, structured, weight_based, acc=50.0):
    return {"random": (random, acc), "structured": (structured, acc),
            "weight_based": (weight_based, acc)}


EXAMPLE = {
    0.002: (0.0, cells(9.0, 9.0, 9.0, acc=10.0)),  # frozen: nothing revived
    0.005: (0.01, cells(10.0, 20.0, 30.0, acc=12.0)),  # regime 2 (barely rewiring), gain 20
    0.01: (5.0, cells(2.0, 3.0, 6.0)),  # gain 4
    0.05: (5.0, cells(1.0, 2.0, 8.0, acc=40.0)),  # gain 7: regime 3
    0.2: (9.0, cells(0.0, 0.0, 0.0)),  # regime 1
}


def test_classify_names_each_regime_by_its_rule():
    r = regimes.classify(sweep(EXAMPLE))
    assert r.frozen == [0.002] and r.active == [0.005, 0.01, 0.05, 0.2]
    assert (r.low, r.high, r.best) == (0.005, 0.2, 0.05)
    assert r.above == [0.01, 0.05]
    assert r.gain == {0.005: 20.0, 0.01: 4.0, 0.05: 7.0, 0.2: 0.0}
    assert r.regime_of(0.002).startswith("below the budget")
    assert r.regime_of(0.005).startswith("at the regime-2 point")
    assert r.regime_of(0.2) == "at the regime-1 end"
    assert r.regime_of(0.01) == "in this range"
    assert r.regime_of(0.5) == "outside the sweep"


def test_regime_3_is_never_the_regime_2_point():
    """With only two active connectivities regime 3 falls on the higher one, even where the
    gain is larger at the regime-2 point; with one, on that one."""
    two = {c: EXAMPLE[c] for c in (0.002, 0.005, 0.2)}
    assert regimes.classify(sweep(two)).best == 0.2
    one = {c: EXAMPLE[c] for c in (0.002, 0.005)}
    r = regimes.classify(sweep(one))
    assert (r.low, r.high, r.best) == (0.005, 0.005, 0.005)
    with pytest.raises(ValueError, match="no connectivity"):
        regimes.classify(sweep({0.002: EXAMPLE[0.002]}))


def test_sentences_read_the_classification():
    s = regimes.sentences(sweep(EXAMPLE))
    assert s["sweep_frozen"] == "0.2 %" and s["sweep_n_frozen"] == "1"
    assert (s["sweep_low_conn"], s["sweep_best_conn"], s["sweep_high_conn"]) == ("0.5", "5", "20")
    assert (s["sweep_best_gain"], s["sweep_low_gain"]) == ("7.0", "20.0")
    assert s["sweep_low_ratio"] == "10"  # 0.5 % against the thesis's 0.05 %
    assert s["sweep_low_zero"] == ("Unstructured 10.0 %, Structured 20.0 %, "
                                   "Structured weight-based 30.0 %")
    assert (s["sweep_low_acc"], s["sweep_mid_acc"]) == ("12.0", "40.0")
    assert s["sweep_high_clause"] == "not a single fibre is empty with any strategy"
    assert s["sweep_thesis_place"] == "in this range"  # the thesis's 1 %
    budget, initial = regimes.initial_mask(0.0005)
    assert (s["full_budget"], s["full_initial"]) == (f"{budget:,}", f"{initial:,}")
    assert s["sweep_scale"].startswith("The sweep's 15 runs come from the smoke profile "
                                       "(seed 0): VGG11 at width 0.125, 16 steps on 256")
    rows = dict(EXAMPLE)
    rows[0.2] = (9.0, cells(0.5, 0.25, 1.5))
    assert regimes.sentences(sweep(rows))["sweep_high_clause"] == (
        "at most 1.50 % of the fibres are empty with any strategy (weight-based minus random: "
        "1.00 points)")


@pytest.mark.parametrize("width,head", [(1.0, "predecessor"), (0.25, "classic"),
                                        (0.125, "predecessor")])
def test_initial_mask_counts_what_a_built_network_holds(width, head):
    net = VGG11(connectivity=0.0005, width=width, head=head)
    layers = sparse_layers(net)
    shapes = layer_shapes(width=width, head=head)
    assert [(s.name, s.weights, s.outputs) for s in shapes] == [
        (n, m.theta.numel(), m.theta.shape[0]) for n, m in zip(layer_names(net), layers)]
    assert regimes.initial_mask(0.0005, width=width, head=head) == (
        int(0.0005 * sum(m.theta.numel() for m in layers)),
        sum(int((m.theta > 0).sum()) for m in layers))


def test_sweep_table_is_one_row_per_budget_and_a_column_per_quantity_and_strategy():
    table = regimes.sweep_table(sweep({c: EXAMPLE[c] for c in (0.005, 0.05)}))
    assert list(table.index) == [0.5, 5.0]
    assert table.shape == (2, 9)
    assert table.loc[5.0, ("zero fibres (%)", "weight-b.")] == 8.0
    assert table.loc[0.5, ("clean accuracy (%)", "unstr.")] == 12.0
    assert table.loc[0.5, ("connected at the end (%)", "struct.")] == 0.5
    assert "per connectivity budget and strategy" in table.attrs["caption"]

"""srewire.deploy and srewire.prune: equal outputs, multiply-add counts, exact budgets.

Times are never checked here; benchmarks/bench_deploy.py measures them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from srewire import deploy
from srewire.config import from_dict, make_config
from srewire.metrics import fibre_report
from srewire.models import VGG11, layer_names, sparse_layers
from srewire.prune import fine_tune, prune_to
from srewire.runs import save_masks

from helpers import REPO


def _model(head: str = "predecessor", seed: int = 0) -> VGG11:
    """A small VGG11 with random BatchNorm statistics, an empty filter whose constant output
    is read by the next layer, an input channel nobody reads, and an empty dense row."""
    torch.manual_seed(seed)
    m = VGG11(0.05, width=0.125, head=head, seed=seed)
    with torch.no_grad():
        for bn in (b for b in m.modules() if isinstance(b, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(0.2, 1.0)   # positive shift: empty filters give constants != 0
        layers = sparse_layers(m)
        layers[2].theta[3] = 0           # conv3 filter 3 empty -> constant channel
        layers[2].theta[4] = 0
        layers[3].theta[:, 4] = 0        # ... of which conv4 does not read channel 4
        layers[3].theta[:, 3, 1, 1] = 0.5  # but reads channel 3
        layers[7].theta[2] = 0           # conv8 filter 2 empty: constant into dense1
        layers[8].theta[:, 4 * 0 + 2] = 0.3
        if head == "predecessor":
            layers[8].theta[5] = 0       # dense1 row 5 empty: constant into dense2
            layers[9].theta[:, 5] = 0.2
        for layer in layers:
            if hasattr(layer, "bias"):
                layer.bias.uniform_(0.1, 0.5)
    return m.eval()


@pytest.mark.parametrize("head", ["predecessor", "classic"])
@pytest.mark.parametrize("variant", deploy.VARIANTS)
def test_variants_compute_the_masked_models_function(head: str, variant: str) -> None:
    model = _model(head)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        out = deploy.build(model, variant)(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant", deploy.VARIANTS)
def test_a_layer_with_no_filter_left_is_its_bias(variant: str) -> None:
    """At tiny widths a whole convolution can end up empty (seen on the smoke profile): the
    layer then outputs its constants only, and every variant must still compute the model."""
    model = _model()
    with torch.no_grad():
        sparse_layers(model)[4].theta.zero_()   # conv5: no filter left
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(x)
        out = deploy.build(model, variant)(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_constant_channels_matter_and_are_folded() -> None:
    """conv3's empty filter 3 feeds conv4 a constant channel: it changes conv4's output (so the
    folding is tested), and the compacted conv4 matches the dense one on the computed filters
    without computing that channel."""
    specs = deploy.extract(_model())
    dense, compact = deploy.build(specs, "dense"), deploy.build(specs, "compact")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        d_in, c_in = dense.stage_inputs(x), compact.stage_inputs(x)
        assert d_in[3][:, 3].min() > 0 and c_in[3].shape[1] < d_in[3].shape[1]
        ref = dense.stages[3](d_in[3])
        live = compact.stages[3].plan.live_out
        torch.testing.assert_close(compact.stages[3](c_in[3]), ref[:, live], rtol=1e-4,
                                   atol=1e-5)
        without = d_in[3].clone()
        without[:, 3] = 0
        assert (dense.stages[3](without) - ref).abs().max() > 1e-2
    assert compact.stages[3].plan.bias.dim() == 3  # position-dependent bias from constants


def test_multiply_adds_by_hand() -> None:
    model = _model()
    specs = deploy.extract(model)
    macs = deploy.multiply_adds(specs)
    s = specs[2]  # conv3 at 8 x 8, (32, 16, 3, 3) at width 1/8
    pos = s.size[0] * s.size[1]
    assert macs["dense"]["conv3"] == s.weight.numel() * pos
    nnz = int(s.weight.ne(0).sum())
    assert macs["csr"]["conv3"] == macs["nonzero"]["conv3"] == nnz * pos
    fan_in = s.weight.reshape(s.weight.shape[0], -1).ne(0).sum(1)
    assert macs["condensed"]["conv3"] == s.weight.shape[0] * int(fan_in.max()) * pos
    # compacted: computed filters x used (c, kh, kw) rows; filters 3 (empty) and 4 (empty and
    # unread) are gone, and conv4 reads no channel 4
    w = s.weight[[o for o in range(s.weight.shape[0]) if s.weight[o].ne(0).any()]]
    plan_in = specs[1].weight.reshape(specs[1].weight.shape[0], -1).ne(0).any(1)
    rows = w[:, plan_in].ne(0).any(0).sum()
    assert macs["compact"]["conv3"] == w.shape[0] * int(rows) * pos
    assert macs["channels"]["conv4"] < macs["dense"]["conv4"]
    d = specs[-1]
    assert macs["dense"]["dense3"] == d.weight.numel()
    for v in ("channels", "compact", "csr", "condensed"):
        assert sum(macs[v].values()) <= sum(macs["dense"].values())


def test_dense_masks_compact_to_dense_size() -> None:
    m = VGG11(0.5, width=0.125, seed=0)
    full = {n: np.ones(tuple(l.theta.shape), bool) for n, l in zip(layer_names(m), sparse_layers(m))}
    deploy.set_masks(m, full)
    macs = deploy.multiply_adds(deploy.extract(m.eval()))
    for v in deploy.VARIANTS:
        assert macs[v] == macs["dense"]


def test_condensed_report_states_fan_in() -> None:
    specs = deploy.extract(_model())
    rep = deploy.condensed_report(specs)
    assert not rep["conv3"]["constant_fan_in"] and rep["conv3"]["fan_in_min"] == 0
    assert rep["conv3"]["padding_overhead"] > 1
    w = torch.zeros(4, 6)
    w[:, :2] = 1.0
    one = deploy.LayerSpec("d", "linear", w, torch.zeros(4), relu=False)
    assert deploy.condensed_report([one])["d"] == {"constant_fan_in": True, "fan_in_min": 2,
                                                    "fan_in_max": 2, "padding_overhead": 1.0}


def test_bad_variant_names_valid_values() -> None:
    with pytest.raises(ValueError, match="variant must be one of dense, channels"):
        deploy.build(_model(), "fast")


def test_load_network_from_masks(tmp_path) -> None:
    model = _model()
    save_masks(model, tmp_path / "masks.npz")
    cfg = make_config("smoke", "natural", 0.95, "random", 0)
    (tmp_path / "result.json").write_text(json.dumps({"config": cfg.to_dict()}))
    loaded, _ = deploy.load_network(tmp_path)
    for a, b in zip(sparse_layers(model), sparse_layers(loaded)):
        assert torch.equal(a.connected(), b.connected())
    with pytest.raises(FileNotFoundError, match="folder: no result.json"):
        deploy.load_network(tmp_path / "missing")


def test_prune_to_meets_budget_lone_weights_first() -> None:
    model = VGG11(0.04, width=0.125, seed=3)
    before = fibre_report(model)["global"]["out"]
    layers = sparse_layers(model)
    lone = sum(int((l.connected() & (l.connected().sum(0, keepdim=True) == 1)).sum())
               for l in layers)
    info = prune_to(model, 0.98)
    budget = int(0.02 * sum(l.size for l in layers))
    assert info["connections_after"] == budget == sum(int(l.connected().sum()) for l in layers)
    assert info["lone_removed"] == min(lone, info["connections_before"] - budget)
    after = fibre_report(model)["global"]["out"]
    assert after > before
    with pytest.raises(ValueError, match="not more than the budget"):
        prune_to(model, 0.97)
    with pytest.raises(ValueError, match="norm must be one of l2, l1"):
        prune_to(model, 0.99, norm="max")


def test_prune_removes_weakest_fibre_first() -> None:
    model = VGG11(0.2, width=0.125, seed=0, head="classic")
    with torch.no_grad():
        for l in sparse_layers(model):  # no lone weights: every fibre has >= 2 connections
            m = l.theta.view(l.theta.shape[0], -1)
            m.zero_()
            m[:2, ::3] = 1.0
        weak = sparse_layers(model)[4].theta.view(sparse_layers(model)[4].theta.shape[0], -1)
        weak[:2, 0] = 1e-3
    total = sum(int(l.connected().sum()) for l in sparse_layers(model))
    size = sum(l.size for l in sparse_layers(model))
    info = prune_to(model, 1 - (total - 2) / size)
    assert info["lone_removed"] == 0 and info["fibres_removed"] == 1
    assert not sparse_layers(model)[4].connected().view(weak.shape)[:, 0].any()


def test_fine_tune_keeps_masks_fixed() -> None:
    model = VGG11(0.05, width=0.125, seed=0)
    before = [l.connected().clone() for l in sparse_layers(model)]
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (64,))
    w0 = sparse_layers(model)[3].theta.detach().clone()
    losses = fine_tune(model, x, y, steps=3, lr=0.5, batch_size=32)
    assert len(losses) == 3
    assert not torch.equal(w0, sparse_layers(model)[3].theta.detach())
    for a, l in zip(before, sparse_layers(model)):
        assert torch.equal(a, l.connected())


def test_prune_cli_rejects_bad_target() -> None:
    r = subprocess.run([sys.executable, "-m", "srewire.prune", "--target", "0.9"],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "need 0 < trained < target < 1" in r.stderr


def test_benchmark_record_feeds_the_chapter_tables(tmp_path) -> None:
    """One tiny network through the benchmark's measure() (one short round) and the
    chapter's tables: the record's outputs agree and its multiply-adds are the counted ones."""
    import argparse
    import importlib.util

    from srewire import speed

    spec = importlib.util.spec_from_file_location("bench_deploy",
                                                  REPO / "benchmarks" / "bench_deploy.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(batches=[1, 2], rounds=1, min_run_time=1e-3, threads=1,
                              layers=True, layer_batches=[1], key_only=True)
    model = _model()
    cfg = {"objective": "natural", "sparsity": 0.99, "rewiring": "weight_based", "seed": 0}
    with torch.no_grad():
        entry = bench.measure("natural_s0.99_weight_based_seed0", "trained", model, cfg, args)
    assert max(entry["max_abs_diff_vs_dense_model"].values()) < 1e-4
    counted = deploy.multiply_adds(deploy.extract(model))
    assert entry["multiply_adds"]["compact"]["total"] == sum(counted["compact"].values())
    assert entry["latency"]["2"]["dense"]["relative_to_dense"] == 1.0
    record = {"settings": {"batches": [1, 2]}, "networks": [entry]}
    table = speed.latency_table(record, 2)
    assert table.shape[0] == 1 and "fibre-compacted" in table.columns
    assert table.loc[table.index[0], "dense masked"] == 1.0  # relative to itself
    work = speed.latency_table(record, 2, "MMAC")
    assert work.loc[work.index[0], "dense masked"] == pytest.approx(
        entry["multiply_adds"]["dense"]["total"] / 1e6, abs=0.05)
    with pytest.raises(ValueError, match="quantity must be one of"):
        speed.latency_table(record, 2, "seconds")
    assert list(speed.layer_table(record, entry["name"], 1).index) == list(counted["dense"])
    assert list(speed.layer_table(record, entry["name"], 1, "MMAC").index) == \
        list(counted["dense"])
    assert len(speed.latency_chart(record).axes) == 2
    other = bench.measure("natural_s0.95_random_seed0", "trained", model,
                          {**cfg, "sparsity": 0.95, "rewiring": "random"}, args)
    assert list(other["latency"]) == ["1"] and other["layer_latency"] == {}


def test_committed_prune_results_keep_their_exact_config() -> None:
    """The pruned networks' result.json holds the trained run's config unrounded, so that it
    loads back (a rounded revive_value of 0.0 is not a valid config)."""
    folder = REPO / "results" / "quick" / "prune" / "natural_s0.98to0.99_weight_based_seed0"
    _, result = deploy.load_network(folder)
    # from_dict fills the fields added since (as their legacy values), nothing else
    assert from_dict(result["config"]) == make_config("quick", "natural", 0.98, "weight_based",
                                                      0, save_weights=True)


def _lat(medians: dict[str, float], iqr: float) -> dict:
    return {v: {"median_s": m, "iqr_s": iqr, "relative_to_dense": m / medians["dense"]}
            for v, m in medians.items()}


def test_winners_counts_fastest_and_resolved_wins() -> None:
    """A fabricated record with known medians: which representation is fastest where, and
    which wins survive the spread (medians further apart than half the summed IQRs)."""
    from srewire import speed

    variants = {"dense": 1.0, "channels": 0.9, "compact": 0.5, "csr": 2.0, "condensed": 3.0}
    noisy = {**variants, "compact": 1.2, "channels": 0.95}
    record = {"networks": [
        {"kind": "dense_reference", "latency": {"1": _lat({"dense": 0.1}, 0.0)}},
        {"kind": "trained", "latency": {"1": _lat(variants, 0.01)}},      # compact wins, clear
        {"kind": "trained", "latency": {"1": _lat(noisy, 0.2)}},          # channels, not clear
        {"kind": "prune98", "latency": {"128": _lat(variants, 0.01)}}]}   # other batch
    table = speed.winners(record, 1)
    assert list(table.columns) == ["fastest on (of 2)", "faster beyond spread (of 2)",
                                   "best x dense", "median x dense"]
    assert table.loc["fibre-compacted", "fastest on (of 2)"] == 1
    assert table.loc["channels removed", "fastest on (of 2)"] == 1
    assert table.loc["fibre-compacted", "faster beyond spread (of 2)"] == 1
    assert table.loc["channels removed", "faster beyond spread (of 2)"] == 1  # 0.9 vs 1, iqr .01
    assert table.loc["CSR sparse", "faster beyond spread (of 2)"] == 0
    assert table.loc["fibre-compacted", "best x dense"] == 0.5
    assert table.loc["fibre-compacted", "median x dense"] == pytest.approx(0.85)
    assert "dense masked" not in table.index
    assert speed.winners(record, 128).loc["fibre-compacted", "fastest on (of 1)"] == 1
    assert speed.winners(record, 64).empty
    assert not speed.separated({"median_s": 1.0, "iqr_s": 0.2}, {"median_s": 0.9, "iqr_s": 0.2})
    assert speed.separated({"median_s": 1.0, "iqr_s": 0.1}, {"median_s": 0.85, "iqr_s": 0.1})


def test_machine_note_says_idle_or_shared() -> None:
    from srewire import speed

    def record(before: float) -> dict:
        return {"machine": {"logical_cores": 2, "threads": 2,
                            "load_average_1min": {"before": before, "after": 2.1}}}

    assert speed.machine_note(record(0.4)).startswith("Nothing else ran")
    assert speed.machine_note(record(0.6)).startswith("The machine was shared")  # > 1/4 core
    assert "2.1 at its end" in speed.machine_note(record(0.1))


def test_batch_summary_and_structure_verdict_follow_the_timings() -> None:
    """The chapter's generated sentences on fabricated timings: the winner, its counts, and
    whether fibre compaction beats CSR anywhere beyond the spread."""
    from srewire import speed

    net = {"name": "n", "kind": "trained", "objective": "natural", "sparsity": 0.99,
           "rewiring": "weight_based"}
    csr_wins = _lat({"dense": 1.0, "channels": 0.9, "compact": 0.8, "csr": 0.3,
                     "condensed": 0.6}, 0.01)
    dense_wins = _lat({"dense": 1.0, "channels": 1.1, "compact": 0.5, "csr": 0.52,
                       "condensed": 2.0}, 0.1)
    dense_wins["compact"]["median_s"] = dense_wins["csr"]["median_s"] = 3.0
    csr_noisy = _lat({"dense": 1.0, "channels": 1.2, "compact": 1.1, "csr": 0.95,
                      "condensed": 1.3}, 0.1)  # fastest, but within the spread of dense
    record = {"networks": [{**net, "latency": {"1": csr_wins, "128": dense_wins}},
                           {**net, "rewiring": "random", "latency": {"1": csr_wins}},
                           {**net, "rewiring": "structured", "latency": {"1": csr_noisy}}]}
    one = speed.batch_summary(record, 1)
    assert one.startswith("At batch 1 CSR sparse is the fastest of the five representations "
                          "on 3 of the 3 sparse networks, faster than dense masked beyond the "
                          "spread of the timings on 2,")
    assert "median of 0.30 x" in one
    assert "every other representation is slower" in speed.batch_summary(record, 128)
    tie = _lat({"dense": 1.0, "channels": 0.99, "compact": 4.0, "csr": 2.0, "condensed": 6.0},
               0.05)  # channels fastest by a hair, within the spread
    record["networks"][1]["latency"]["128"] = tie
    record["networks"][2]["latency"]["128"] = dense_wins
    assert speed.batch_summary(record, 128) == (
        "At batch 128 dense masked is the fastest of the five representations on 2 of the 3 "
        "sparse networks; on the others the fastest is channels removed on 1, on none of them "
        "beyond the spread of the timings.")
    del record["networks"][1]["latency"]["128"], record["networks"][2]["latency"]["128"]
    assert speed.batch_summary(record, 64).startswith("No sparse network")
    verdict = speed.structure_verdict(record)
    assert verdict.startswith("On none of the 4 measurements")
    assert "(2 of them), it is an unstructured one" in verdict
    fast = _lat({"dense": 1.0, "channels": 0.9, "compact": 0.2, "csr": 0.3, "condensed": 0.6},
                0.01)
    record["networks"][0]["latency"]["1"] = fast
    verdict = speed.structure_verdict(record)
    assert verdict.startswith("A structured form is the fastest, beyond the spread from dense "
                              "masked and from the unstructured forms, on 1 of the 4")
    assert verdict.endswith("99% natural, Structured weight-based at batch 1.")
    fast["compact"]["iqr_s"] = 0.5  # no longer clear of CSR
    assert speed.structure_verdict(record).startswith("On none")


def test_fastest_overall_skips_the_dense_reference_and_names_network_and_form() -> None:
    from srewire import speed

    net = {"name": "n", "kind": "trained", "objective": "natural", "sparsity": 0.99,
           "rewiring": "weight_based"}
    record = {"networks": [
        {"name": "d", "kind": "dense_reference", "latency": {"1": _lat({"dense": 0.01}, 0.0)}},
        {**net, "latency": {"1": _lat({"dense": 1.0, "csr": 0.7, "compact": 0.9}, 0.01)}},
        {**net, "rewiring": "random",
         "latency": {"1": _lat({"dense": 1.0, "csr": 0.4, "compact": 1.1}, 0.01)}}]}
    ratio, form, network = speed.fastest_overall(record, 1)
    assert (ratio, form) == (0.4, "CSR sparse") and "Unstructured" in network
    with pytest.raises(ValueError, match="batch 128"):
        speed.fastest_overall(record, 128)


def test_completeness_and_seed_phrases() -> None:
    from srewire import speed

    assert speed.completeness_note({"complete": True}) == "The run reached every network."
    assert "stopped before the end" in speed.completeness_note({"complete": False})
    assert (speed.seeds_phrase(1), speed.seeds_phrase(2)) == ("1 seed", "2 seeds")


def test_missing_values_render_as_a_dash_not_nan() -> None:
    import pandas as pd

    from srewire.render import MISSING, show

    table = show(pd.DataFrame({"a": [1.0, float("nan")], "b": [None, 2.5]},
                              index=pd.Index(["x", "y"], name="network")), "c")
    html_text = table._repr_html_()
    assert "nan" not in html_text.lower() and "none" not in html_text.lower()
    assert html_text.count(MISSING) == 2 and "nan" not in repr(table).lower()

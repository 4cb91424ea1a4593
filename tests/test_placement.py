"""rng and graphs resolved per device; the CPU profiles keep their committed values."""

from pathlib import Path

import pytest
import torch

from srewire.config import ConfigError, from_dict, make_config
from srewire.placement import resolve_graphs, resolve_rng
from srewire.runs import load_results


def test_auto_resolves_per_device():
    assert resolve_rng("auto", "cuda") == "device" and resolve_rng("auto", "cpu") == "host"
    assert resolve_rng("auto", "cuda", metric="eq3") == "host"  # the device step is Euclidean
    assert resolve_rng("host", "cuda") == "host" and resolve_rng("device", "cpu") == "device"
    assert resolve_graphs("auto", "cuda", "device", "bf16") is True
    assert resolve_graphs("auto", "cuda", "device", "fp16") is False
    assert resolve_graphs("auto", "cuda", "host", "bf16") is False
    assert resolve_graphs("auto", torch.device("cpu"), "device", "fp32") is False
    assert resolve_graphs("on", "cpu", "host", "fp32") is True  # TrainStep refuses it, saying why
    with pytest.raises(ConfigError, match="graphs must be one of auto, on, off; got 'yes'"):
        resolve_graphs("yes", "cuda", "device", "bf16")
    with pytest.raises(ConfigError, match="rng must be one of auto, host, device"):
        make_config("smoke", graphs="off", rng="gpu")


def test_only_the_paper_profile_resolves_per_device():
    paper = make_config("paper", "natural", 0.95, "structured")
    assert (paper.rng, paper.graphs) == ("auto", "auto")
    for profile in ("smoke", "quick", "long"):
        cfg = make_config(profile, "natural", 0.95, "structured")
        assert (cfg.rng, cfg.graphs) == ("host", "off"), profile


def test_committed_results_still_equal_their_profile():
    """Results written before the graphs setting existed load as graphs='off' and equal the
    quick grid's configs (load_results raises on any difference)."""
    results = load_results(Path(__file__).resolve().parents[1] / "results", "quick")
    assert len(results) == 18
    assert all("graphs" not in r["config"] and from_dict(r["config"]).graphs == "off"
               for r in results)

"""The committed results: each profile's runs were made by one version of the training path
and with exactly the profile's configuration, so the book never mixes them silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srewire import TRAINING_VERSION
from srewire.config import PROFILES, from_dict
from srewire.runs import MASKS, RESULT, WEIGHTS, grid_configs, run_name

RESULTS = Path(__file__).resolve().parents[1] / "results"
MIB = 2 ** 20


def committed(profile: str) -> list[Path]:
    """Run folders of the grid directly under results/<profile> (not sweep/, prune/, ...)."""
    return sorted(p.parent for p in (RESULTS / profile).glob(f"*/{RESULT}"))


def training_version(result: dict) -> int:
    """The result's training-path version; results from before it was recorded are 1."""
    return (result.get("provenance") or {}).get("training_version", 1)


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "smoke"])
def test_each_profile_is_one_code_version_and_its_own_config(profile):
    folders = committed(profile)
    versions = {}
    for folder in folders:
        result = json.loads((folder / RESULT).read_text())
        cfg = from_dict(result["config"])
        expected = {run_name(c): c for c in grid_configs(profile, [cfg.seed])}
        assert folder.name in expected, f"{folder} is not a run of the {profile} grid"
        assert cfg == expected[folder.name], f"{folder}: config differs from the profile's"
        versions.setdefault(training_version(result), []).append(folder.name)
        assert (folder / MASKS).is_file()
        if cfg.save_weights:
            assert (folder / WEIGHTS).stat().st_size <= 4 * MIB
    assert len(versions) <= 1, f"{profile} mixes training-path versions: {versions}"


def test_results_of_the_current_training_path_say_so():
    """The long profile was introduced with version 2: its runs are all of today's path."""
    for folder in committed("long"):
        result = json.loads((folder / RESULT).read_text())
        assert training_version(result) == TRAINING_VERSION, folder

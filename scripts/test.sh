#!/usr/bin/env bash
# The project's checks; CI runs exactly this (through .ci/run). Stages:
#   setup      scripts/setup.sh
#   unit       pytest -q tests/, then again with torch's kernels limited to AVX2, and once
#              with $SREWIRE_DATA unset (tests marked real_data skip) when it was set
#   nbval      the committed notebooks re-executed, outputs compared (tests/nbval_sanitize.cfg)
#   smoke      every notebook executed under papermill with profile=smoke, on a fresh smoke
#              grid in _build/test/ (data: $SREWIRE_DATA if set, else a synthetic stand-in)
#   colab      one notebook opened alone as on Colab (tests/colab/README.md): it installs
#              srewire and fetches the results from this clone, trains nothing, shows figures
#   book       the book built from the committed notebooks, warnings as errors
#   browser    every page of that book opened in headless Chromium (images, links, JS errors,
#              layout at 1280 px and on a 390 px phone, no stderr/traceback/NaN/warning shown)
# Every stage runs even when an earlier one failed (except those that need its output); a
# summary table follows, and the exit status is 1 if any stage failed.
#
# Usage: bash scripts/test.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export GIT_PYTHON_REFRESH=quiet
PY=.venv/bin/python
T=_build/test

names=()
verdicts=()
seconds=()

# run_stage NAME COMMAND...: run one stage and record PASS or FAIL with its duration.
run_stage() {
    local name=$1 start=$SECONDS verdict
    shift
    printf '\n==== %s\n' "$name"
    if "$@"; then verdict=PASS; else verdict=FAIL; fi
    names+=("$name")
    verdicts+=("$verdict")
    seconds+=($((SECONDS - start)))
    [ "$verdict" = PASS ]
}

skip_stage() {
    names+=("$1")
    verdicts+=("SKIP ($2)")
    seconds+=(0)
}

unit_tests() {
    "$PY" -m pytest -q tests/ --junitxml="$T/junit-unit.xml"
}

# The unit suite again with torch's CPU kernels limited to AVX2 (oneDNN and ATen): another
# CPU, emulated, so that a test comparing kernel-dependent floats exactly fails here too.
unit_tests_avx2() {
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 "$PY" -m pytest -q tests/ \
        --junitxml="$T/junit-unit-avx2.xml"
}

# The unit suite with no real data reachable: tests marked real_data skip, nothing else may
# need CIFAR-10 (the tests find it only through $SREWIRE_DATA).
unit_tests_no_data() {
    env -u SREWIRE_DATA "$PY" -m pytest -q tests/ --junitxml="$T/junit-unit-no-data.xml"
}

nbval() {
    local notebooks=(notebooks/*.ipynb)
    [ -e "${notebooks[0]}" ] || { echo "no notebooks/*.ipynb"; return 1; }
    # The committed notebooks read the committed results; a missing run is an error here,
    # never a silent hour of training.
    SREWIRE_NO_TRAINING=1 PYTHONPATH="tests${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest -q -p nbval_plugin \
        --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
        "${notebooks[@]}"
}

smoke() {
    local data_args=()
    if [ -z "${SREWIRE_DATA:-}" ]; then
        if [ ! -d _build/synthetic/cifar-10-batches-py ]; then
            "$PY" -m srewire data --synthetic _build/synthetic || return 1
        fi
        data_args=(--data _build/synthetic)
        echo "smoke: synthetic data in _build/synthetic (set SREWIRE_DATA to use CIFAR-10)"
    else
        echo "smoke: data from \$SREWIRE_DATA"
    fi
    "$PY" -m srewire grid --profile smoke --seeds 0 --results "$T/smoke-results" --quiet \
        ${data_args[@]+"${data_args[@]}"} || return 1
    # chapter 9 reads the structure-aware pruning runs and a deploy benchmark of the grid
    "$PY" -m srewire.prune --profile smoke --seeds 0 --steps 8 --runs "$T/smoke-runs" \
        --results "$T/smoke-results" ${data_args[@]+"${data_args[@]}"} || return 1
    "$PY" benchmarks/bench_deploy.py --results "$T/smoke-results" --profile smoke --threads 2 \
        --batches 1 128 --rounds 1 --min-run-time 0.01 || return 1
    "$PY" tools/book.py execute --profile smoke --out "$T/executed" \
        --results "$T/smoke-results" ${data_args[@]+"${data_args[@]}"}
}

book() {
    "$PY" tools/book.py stage --executed . --out "$T/site" \
        && "$PY" tools/book.py build --site "$T/site"
}

browser() {
    "$PY" tools/book.py check-html --html "$T/site/_build/html"
}

# colab: notebooks/$COLAB_NOTEBOOK.ipynb (default 01_introduction) copied alone into an empty
# folder and executed under papermill as Colab would run it: the stand-in google.colab of
# tests/colab is imported at kernel start, SREWIRE_REPO points at this clone (committed state,
# as a file:// URL), so its setup cell pip-installs srewire from here (no index, no build
# isolation: offline, into a folder of its own, never into .venv) and fetches results/ and
# book/data/ from here. SREWIRE_NO_TRAINING turns any training into an error.
colab() {
    local name=${COLAB_NOTEBOOK:-01_introduction} root work status
    root=$(pwd -P)
    [ -f "notebooks/$name.ipynb" ] || { echo "colab: no notebooks/$name.ipynb"; return 1; }
    work=$(mktemp -d) || return 1
    mkdir -p "$work/alone" "$work/site-packages" "$T/colab"
    cp "notebooks/$name.ipynb" "$work/alone/"
    (
        cd "$work/alone" \
            && env PYTHONPATH="$root/tests/colab:$work/site-packages" \
                SREWIRE_REPO="file://$root" SREWIRE_CACHE="$work/cache" SREWIRE_NO_TRAINING=1 \
                PIP_TARGET="$work/site-packages" PIP_NO_INDEX=1 PIP_NO_BUILD_ISOLATION=0 \
                PIP_DISABLE_PIP_VERSION_CHECK=1 JUPYTER_PREFER_ENV_PATH=1 \
                "$root/$PY" -m papermill --no-progress-bar "$name.ipynb" "$root/$T/colab/$name.ipynb"
    )
    status=$?
    if [ "$status" = 0 ]; then
        "$PY" tools/colab_check.py --executed "$T/colab/$name.ipynb" \
            --committed "notebooks/$name.ipynb" --site-packages "$work/site-packages" \
            --clone "$work/cache/repo"
        status=$?
    fi
    rm -rf "$work"
    return "$status"
}

have_browser() {
    { command -v chromium || [ -x /usr/bin/chromium ]; } >/dev/null 2>&1 \
        && { command -v chromedriver || [ -x /usr/bin/chromedriver ]; } >/dev/null 2>&1
}

rm -rf "$T"
mkdir -p "$T"

if run_stage setup bash scripts/setup.sh; then
    run_stage "unit tests" unit_tests
    run_stage "unit tests, AVX2 kernels" unit_tests_avx2
    if [ -n "${SREWIRE_DATA:-}" ]; then
        run_stage "unit tests, no CIFAR-10" unit_tests_no_data
    else
        skip_stage "unit tests, no CIFAR-10" "first run had none"
    fi
    run_stage "nbval (committed notebooks)" nbval
    run_stage "notebooks, profile smoke" smoke
    run_stage "colab (one notebook alone)" colab
    if run_stage "book (committed notebooks)" book; then
        run_stage "browser check" browser
        if [ "${verdicts[${#verdicts[@]} - 1]}" = PASS ] && ! have_browser; then
            verdicts[${#verdicts[@]} - 1]="SKIP (no chromium)"
        fi
    else
        skip_stage "browser check" "no book"
    fi
else
    for stage in "unit tests" "unit tests, AVX2 kernels" "unit tests, no CIFAR-10" "nbval (committed notebooks)" "notebooks, profile smoke" \
                 "colab (one notebook alone)" "book (committed notebooks)" "browser check"; do
        skip_stage "$stage" "setup failed"
    done
fi

failed=0
printf '\n==== summary\n'
# the table also goes to $T/summary.txt (CI uploads it with the executed notebooks)
{
    printf '%-30s %-26s %8s\n' stage result time
    for i in "${!names[@]}"; do
        printf '%-30s %-26s %6d s\n' "${names[$i]}" "${verdicts[$i]}" "${seconds[$i]}"
    done
} | tee "$T/summary.txt"
for i in "${!names[@]}"; do
    [ "${verdicts[$i]}" = FAIL ] && failed=1
done
if [ "$failed" = 1 ]; then
    echo "test.sh: FAILED"
    exit 1
fi
echo "test.sh: all stages passed"

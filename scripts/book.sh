#!/usr/bin/env bash
# Make the results and the book:
#   1. scripts/setup.sh                 (.venv; quick when nothing changed)
#   2. python -m srewire grid           (trains only the runs that have no result yet)
#   3. tools/book.py execute            (every notebook of _toc.yml, under papermill)
#   4. tools/book.py stage + build      (Jupyter Book, warnings are errors)
#
# Usage: bash scripts/book.sh [--profile quick|paper|smoke] [--force] [--data DIR]
#        bash scripts/book.sh --committed
#   --profile quick   (default) reduced runs on CPU, seeds 0 1, results in results/quick/
#   --profile paper   the thesis's scale (needs a GPU), seed 0, results in results/paper/
#   --profile smoke   seconds-long runs to check the pipeline, seed 0, results in
#                     _build/smoke-results/ (synthetic data unless CIFAR-10 is found)
#   --force           retrain every run of the grid (once, in the grid step) and pass
#                     force=True to the notebooks: they read the grid's results (compute
#                     only what is missing, so nothing twice) and retrain their own sweep
#   --data DIR        folder holding cifar-10-batches-py/ (default: $SREWIRE_DATA, else ./data)
#   --committed       only step 4, on the committed executed notebooks and results: nothing is
#                     trained or executed, no data is needed (what the Pages workflow publishes)
# Running it again retrains nothing: finished runs are skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

profile=quick
force=()
data=""
committed=0
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:-}"; shift 2 || { usage; exit 2; } ;;
        --profile=*) profile="${1#*=}"; shift ;;
        --data) data="${2:-}"; shift 2 || { usage; exit 2; } ;;
        --data=*) data="${1#*=}"; shift ;;
        --force) force=(--force); shift ;;
        --committed) committed=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "book.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case "$profile" in
    quick|paper) results=results ;;  # seeds: srewire.config.DEFAULT_SEEDS
    smoke) results=_build/smoke-results ;;
    *) echo "book.sh: --profile must be quick, paper or smoke (got '$profile')" >&2; exit 2 ;;
esac
if [ -n "$data" ] && [ ! -d "$data" ]; then
    echo "book.sh: --data $data is not a folder" >&2
    exit 2
fi

export GIT_PYTHON_REFRESH=quiet
PY=.venv/bin/python
start=$SECONDS
step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

if [ "$committed" = 1 ]; then
    step "build the book from the committed notebooks"
    "$PY" tools/book.py stage --executed . --out _build/site
    "$PY" tools/book.py build --site _build/site
    printf '\nbook.sh: done in %d s (committed notebooks). Open the book at:\n  %s\n' \
        $((SECONDS - start)) "$PWD/_build/site/_build/html/index.html"
    exit 0
fi

# Where the data is. The notebooks run in notebooks/, so a default ./data is passed on
# explicitly; $SREWIRE_DATA reaches the package and the notebooks through the environment.
if [ -z "$data" ] && [ -z "${SREWIRE_DATA:-}" ]; then
    if [ -d data/cifar-10-batches-py ]; then
        data=data
    elif [ "$profile" = smoke ]; then
        data=_build/synthetic
        if [ ! -d "$data/cifar-10-batches-py" ]; then
            step "no CIFAR-10 found: writing a synthetic stand-in to $data"
            "$PY" -m srewire data --synthetic "$data"
        fi
    fi
fi
data_args=()
[ -n "$data" ] && data_args=(--data "$data")

step "grid: profile $profile, results in $results/$profile"
"$PY" -m srewire grid --profile "$profile" --results "$results" \
    ${data_args[@]+"${data_args[@]}"} ${force[@]+"${force[@]}"}

if [ "$profile" = smoke ]; then  # chapter 9's inputs (committed for quick)
    step "structure-aware pruning and the deploy benchmark, profile smoke"
    "$PY" -m srewire.prune --profile smoke --seeds 0 --steps 8 --runs "$results/runs" \
        --results "$results" ${data_args[@]+"${data_args[@]}"}
    "$PY" benchmarks/bench_deploy.py --results "$results" --profile smoke --threads 2 \
        --batches 1 128 --rounds 1 --min-run-time 0.01
fi

step "execute the notebooks"
"$PY" tools/book.py execute --profile "$profile" --out _build/executed --results "$results" \
    ${data_args[@]+"${data_args[@]}"} ${force[@]+"${force[@]}"}

step "build the book"
"$PY" tools/book.py stage --executed _build/executed --out _build/site
"$PY" tools/book.py build --site _build/site

printf '\nbook.sh: done in %d s (profile %s). Open the book at:\n  %s\n' \
    $((SECONDS - start)) "$profile" "$PWD/_build/site/_build/html/index.html"

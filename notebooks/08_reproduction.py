# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,mystnb,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproduction: what ran, where, and for how long
#
# Every number in this book comes from the result files in `results/`, written by the runs
# listed here. This page reads their provenance: the profile, the code version, the device
# and the wall time of every run.
#
# **Scale.** {glue:text}`scale_note` {glue:text}`paper_status`

# %% tags=["remove-cell", "nbval-skip"]
# Colab setup: on Google Colab, installs srewire and fetches the results this page
# reads (srewire/colab.py says how); does nothing anywhere else.
import os
import sys

if "google.colab" in sys.modules:
    SREWIRE_REPO = os.environ.get("SREWIRE_REPO") or "https://github.com/srewire/srewire"
    # %pip install -q --no-deps "srewire @ git+{SREWIRE_REPO}"
    from srewire.colab import setup

    setup()

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # "smoke" | "quick" | "long" | "paper"
results_dir = "../results"  # folder holding <profile>/<run>/result.json
data_root = None  # folder holding cifar-10-batches-py (None: $SREWIRE_DATA or ./data)
force = False  # recompute instead of reading cached results
seeds = None  # seeds of the grid (None: the profile's default, see srewire.config)
gpu_report = "../results/gpu/gpu_check_h200.json"  # written by benchmarks/gpu_check.py

# %% tags=["hide-input"]
from srewire import chapter, report, reproduction
from srewire.config import LONG_SIZING
from srewire.render import readable, show
from srewire.report import glue, glue_all

results, larger = chapter.grid(profile, results_dir, seeds, data_root=data_root, force=force)
per_run = report.timings(results + larger)[0]  # every run shown, larger profiles included
per_seed = report.timings(results)[1]  # the chosen profile's grid, per seed
show(readable(reproduction.profile_table()).T,
     "What differs between the profiles (\"all\": all of the data).")
glue("long_sizing", report.long_sizing_note(LONG_SIZING))

# %% [markdown]
# ## The profiles
#
# The table above lists what differs between the four profiles. `paper` is the thesis's setup: 100 epochs on all 50,000 training images
# (39,000 steps) and PGD-50 with 10 restarts on all 10,000 test images. `quick` keeps the
# full-width VGG11 — the structure metrics depend on the layer shapes — and the
# predecessor's TRADES attack, and cuts the data, the epochs and the evaluation attack so
# that one seed's grid of nine runs trains on a 2-core laptop-class CPU in a time measured in
# hours, not days; the times of the committed runs, per run and per seed, are below.
# `long` trains on all of CIFAR-10 and evaluates on all 10,000 test images at the largest
# scale a 2-core CPU affords: {glue:text}`long_sizing` It runs the precision the CPU
# computes fastest (bf16 where the CPU has native bf16 instructions, fp32 elsewhere), records
# the zero-fibre percentage over training and keeps the exact weights, so that attacks can be
# added later without retraining. Its runs are listed below with the others; the wall times
# of the committed ones are longer than the sizing's because they shared the two cores with
# this project's development.
# `smoke` only checks that the machinery runs.
#
# ## Wall time per run

# %% tags=["hide-input"]
show(per_run, "Wall time of every run, in minutes, and the device it ran on.", index=False)

# %% [markdown]
# ## Wall time of the whole grid, per seed (minutes)

# %% tags=["hide-input"]
show(per_seed, "Training and evaluation time of the nine runs of each seed, in minutes.")

# %% tags=["hide-input"]
glue_all(reproduction.grid_time_values(per_seed))
print(reproduction.provenance_text(results))

# %% [markdown]
# The grid of one seed took between {glue:text}`grid_min_minutes` and
# {glue:text}`grid_max_minutes` minutes of training and evaluation (fastest: seed
# {glue:text}`grid_fastest_seed`). The runs of a cell do the same work for every seed, so a
# large spread means that other work shared the two cores: for the committed results, seed 0
# ran alongside this project's development and seed 1 ran alone. The timings are those of the
# machine named under "devices"; a run records its own in `result.json`.
#
# ## Regenerating everything
#
# ```bash
# bash scripts/book.sh                   # the book from the committed quick results (minutes)
# .venv/bin/python -m srewire grid --profile quick --seeds 0 1 --results results --force
#                                        # retrain the quick grid (see the wall times above)
# bash scripts/book.sh --profile paper   # the thesis's scale, on a GPU
# ```
#
# Runs are resumable: an interrupted grid continues from the last finished epoch of the
# interrupted run. Each `result.json` records the exact configuration, the package versions,
# the device and the git commit that produced it.
#
# ## On a GPU
#
# Every run above used a CPU. The `paper` profile is meant for a GPU, and
# `benchmarks/gpu_check.py` checks on one what the GPU path promises: that it computes the
# same thing as the CPU, that the training loop does not wait for the host, and what a step
# costs. The report below comes from one run of that script on the machine named here; it is
# the data in `results/gpu/`, not a rerun.

# %% tags=["remove-cell"]
gpu = reproduction.gpu_check_tables(gpu_report)

# %% tags=["hide-input"]
show(readable(gpu["agreement"]), gpu["agreement_caption"], index=False)

# %% tags=["hide-input"]
show(readable(gpu["accuracy"]), "Accuracy (%) of the same runs on each device.", index=False)

# %% tags=["remove-cell"]
glue_all(reproduction.gpu_values(gpu, results + larger))

# %% tags=["hide-input"]
show(readable(gpu["syncs"]), "Host synchronisations per training step, by part of the step "
     "(data, training, rewiring).", index=False)

# %% [markdown]
# **Same results.** With `rng="host"` (the default) every random number of a run is drawn
# on the CPU and copied to the device, so the GPU makes the CPU's random choices. Short
# `smoke` runs with TF32 switched off end with the natural, random-rewiring network
# {glue:text}`gpu_random_identical` on both devices, the same accuracies, and the same number
# of revivals in every step of the first epoch. Where runs drift apart, floating-point noise
# tipped a weight across zero, the count of connections changed by one, and from then on the
# two devices consume their random streams differently; the connectivities still agree on at
# least {glue:text}`gpu_agreement_min` % of the coordinates. TRADES drifts first: its attack
# steps along the *sign* of the gradient, which turns the smallest rounding difference into a
# full step of 2/255. A unit test (`test_cuda_repeats_the_cpu_fingerprint`) checks the
# rewiring alone: 200 steps on the GPU give the CPU's connectivity bit for bit, for all three
# strategies.
#
# **No waiting for the host in the training loop.** The data stay on the GPU as uint8 and are
# cut, converted and augmented there; the loop reads nothing back per batch
# ({glue:text}`gpu_loop_syncs` synchronisations per step on average without rewiring: the
# loss and accuracy are read once at the end of the epoch). The rewiring is where the host
# waits: the number of connections to revive, and the predecessor's rejection sampling
# layer after layer, decide the sizes of the next tensors, so one rewiring step reads back
# {glue:text}`gpu_rewire_syncs` times (table above, column `rewire`).

# %% tags=["hide-input"]
show(readable(reproduction.gpu_speed_table(gpu["speed"])), "Time of one training step on "
     "the GPU, and as a multiple of the same step without rewiring (× masked).")

# %% tags=["remove-cell"]
glue_all(reproduction.gpu_speed_values(gpu["speed"]))

# %% [markdown]
# **What a step costs.** Through the real training loop, a natural step of the full-width
# network without rewiring takes {glue:text}`gpu_masked_ms` ms, between
# {glue:text}`gpu_input_ratio` times the same step on one fixed batch without any data
# pipeline: the loop is not input-bound. The rewiring is not yet as cheap on a GPU as on a
# CPU: with random rewiring a natural step takes {glue:text}`gpu_random_x_masked` times as
# long as without (`x masked`), because the rewiring is many small, sequential operations
# that each wait for the device; for TRADES, whose step holds ten attack iterations, the factor
# is {glue:text}`gpu_trades_x_masked`. Even so, the 39,000 steps of a natural `paper` run
# take {glue:text}`gpu_paper_natural_min` minutes on this GPU (the fastest and the slowest
# strategy and setting above). Run the check on your own GPU with
# `python benchmarks/gpu_check.py`.


# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,mystnb,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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

# %% tags=["hide-output", "nbval-skip"]
# Colab setup: installs srewire and Foolbox on Google Colab; does nothing anywhere else.
import sys

if "google.colab" in sys.modules:
    # %pip install -q --no-deps "srewire @ git+https://github.com/srewire/srewire@main"
    # %pip install -q foolbox==3.3.4 eagerpy==0.30.0

# %% tags=["parameters", "remove-input"]
profile = "quick"  # "smoke" | "quick" | "paper"
results_dir = "../results"  # folder holding <profile>/<run>/result.json
data_root = None  # folder holding cifar-10-batches-py (None: $SREWIRE_DATA or ./data)
force = False  # recompute instead of reading cached results
seeds = None  # seeds of the grid (None: the profile's default, see srewire.config)

# %%
import pandas as pd

from srewire import report
from srewire.config import make_config
from srewire.report import glue

results = report.load_grid(profile, results_dir, seeds, data_root=data_root, force=force)
per_run, per_seed = report.timings(results)
keys = ["width", "n_train", "n_test", "epochs", "batch_size", "train_attack_steps",
        "pgd_steps", "pgd_restarts", "n_robust"]
profiles = pd.DataFrame([{k: "all" if v is None else v
                          for k, v in make_config(p, "natural").to_dict().items() if k in keys}
                         for p in ("smoke", "quick", "paper")], index=["smoke", "quick", "paper"])
profiles["TRADES n_train / epochs"] = [
    f"{make_config(p, 'trades').n_train or 'all'} / {make_config(p, 'trades').epochs}"
    for p in profiles.index]
profiles

# %% [markdown]
# ## The profiles
#
# The table above lists what differs between the three profiles ("all": all of the data).
# `paper` is the thesis's setup: 100 epochs on all 50,000 training images
# (39,000 steps) and PGD-50 with 10 restarts on all 10,000 test images. `quick` keeps the
# full-width VGG11 — the structure metrics depend on the layer shapes — and the
# predecessor's TRADES attack, and cuts the data, the epochs and the evaluation attack so
# that the whole grid of nine runs fits in 90 minutes on a 2-core laptop-class CPU (measured
# below).
# `smoke` only checks that the machinery runs.
#
# ## Wall time per run

# %%
per_run

# %% [markdown]
# ## Wall time of the whole grid, per seed (minutes)

# %%
per_seed

# %%
glue("grid_min_minutes", f"{per_seed['total (min)'].min():.0f}")
glue("grid_max_minutes", f"{per_seed['total (min)'].max():.0f}")
glue("grid_fastest_seed", f"{per_seed['total (min)'].idxmin()}")
commits = sorted({r["provenance"]["git_commit"] or "unknown" for r in results})
devices = sorted({r["provenance"]["device"] for r in results})
print("code versions:", ", ".join(c[:12] for c in commits))
print("devices:", ", ".join(devices))
print("data:", ", ".join(sorted({r["provenance"]["data"] for r in results})))

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

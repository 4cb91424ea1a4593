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
# # Quickstart: one run, one result
#
# Every training run of the grid leaves a small `result.json` in the results folder. This page
# reads one of them and shows its headline numbers; the chapters that follow do the same for the
# whole grid.

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

# %% tags=["parameters", "remove-input"]
profile = "quick"  # "smoke" | "quick" | "paper"
results_dir = "../results"  # folder holding <profile>/<run>/result.json
data_root = None  # folder holding cifar-10-batches-py (None: $SREWIRE_DATA or ./data)
force = False  # recompute instead of reading cached results

# %%
from srewire.runs import headline

run = "natural_s0.99_random_seed0"  # 99 % sparse, natural training, random rewiring, seed 0
print(headline(results_dir, profile, run))  # reads <results_dir>/<profile>/<run>/result.json

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
# # Performance results
#
# Thesis §4.2.1 compares the clean test accuracy of the networks, before and after the
# single-fibre pruning of the previous chapter (Table 2). Two findings are at stake: that
# structured rewiring "did not really dent" the accuracy, and that after pruning the
# weight-based networks keep far more of it than the structured ones (73.11 % against 58.29 %
# at 99 % sparsity in the thesis).
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

# %% tags=["remove-cell"]
from srewire import chapter, plots, report
from srewire.render import show
from srewire.report import glue, glue_all

results, larger = chapter.grid(profile, results_dir, seeds, data_root=data_root, force=force)
figure_runs = report.figure_runs(results, larger)
glue("n_test", report.n_test_text(results + larger))

# %% [markdown]
# ## Table 2: clean test accuracy
#
# Mean ± standard deviation over seeds, measured on {glue:text}`n_test` test images, beside
# the thesis's values. A reduced profile trains for a few epochs on a subset of CIFAR-10, so
# its accuracies are far below the thesis's 100-epoch networks; what can be compared is the
# *differences between strategies* within a setting.

# %% tags=["hide-input"]
clean, pruned = report.table2(results + larger)
show(clean)

# %% [markdown]
# **After single-fibre pruning**, without fine-tuning:

# %% tags=["hide-input"]
show(pruned)

# %% tags=["remove-cell"]
glue_all(report.accuracy_values(results))

# %% [markdown]
# At 99 % sparsity the three strategies reach {glue:text}`acc_99_random` %,
# {glue:text}`acc_99_structured` % and {glue:text}`acc_99_weight_based` % (unstructured,
# structured, weight-based). After pruning they keep {glue:text}`pacc_99_random` %,
# {glue:text}`pacc_99_structured` % and {glue:text}`pacc_99_weight_based` %; the thesis
# reports {glue:text}`thesis_pacc_99`. For the 95 % TRADES networks the numbers are
# {glue:text}`pacc_95t_random` %, {glue:text}`pacc_95t_structured` % and
# {glue:text}`pacc_95t_weight_based` % after pruning (thesis: {glue:text}`thesis_pacc_95t`).
# Whether the differences exceed the noise between seeds is settled in "Do the thesis's
# claims hold?".
#
# ## Learning curves
#
# Test accuracy after every epoch, one line per run (all seeds; the profile is named above
# the panels). The learning rate drops tenfold after 50 % and 75 % of the steps, as in the
# predecessor.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Clean test accuracy after every epoch, for every run of the grid.", "name": "fig-curves"}}
fig = plots.curves(figure_runs)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Training loss per epoch (TRADES: cross-entropy plus beta times the KL term).", "name": "fig-loss"}}
fig = plots.curves(figure_runs, key="train_loss", ylabel="training loss")

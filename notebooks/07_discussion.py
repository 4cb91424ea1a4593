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
# # Discussion: do the thesis's claims hold?
#
# The thesis draws four conclusions from its tables. Each is turned here into a test on the
# reproduced runs, with the rule stated in advance, and each gets a verdict computed from the
# data: *holds*, *partly* (shown in some settings, not in others), *does not hold*, or
# *undecided* (not enough runs, or nothing resolved from the seed-to-seed noise).
#
# Every comparison of two strategies is a difference of means over seeds with its 95 %
# confidence interval by Welch's t (unequal variances, Satterthwaite degrees of freedom;
# `srewire.intervals`). With two or three seeds per cell the t quantile is 4.3 or more, not
# the 2 of a normal approximation: a "two standard errors" rule would call seed noise a
# difference far more often than one time in twenty. With one seed per cell the noise is
# unknown and every verdict is *undecided*; a verdict resting on fewer than three seeds per
# cell says so.
#
# Claims (a) and (c) say one strategy is *ahead*: they are superiority tests against the seed
# noise. Claims (b) and (d) say structure changes *nothing*, and "no difference detected" is
# not "no difference": they are equivalence tests (two one-sided tests) with a margin fixed
# here, before the data are read, of ±{glue:text}`margin` percentage point, the size of the
# thesis's own differences between strategies (Table 2 at 95 % TRADES: 71.21, 71.01, 70.21 %;
# Table 3: 40.74, 40.61, 39.46 %). A comparison is *equivalent* only if its whole 95 %
# interval lies within the margin, *differs* if the interval excludes zero beyond it, and is
# *not decided* otherwise; the evidence gives the smallest margin the data could have
# confirmed. An interval of zero width (every seed gave the same value) is no evidence and is
# said in words.
#
# **Scale.** {glue:text}`scale_note` {glue:text}`paper_status` Each claim is evaluated on
# every profile that has runs.
#
# | claim | thesis's evidence | test on the reproduced runs |
# | --- | --- | --- |
# | (a) zero vectors: unstructured < structured < weight-based | Table 1 | in every setting, the intervals of structured − unstructured and weight-based − structured both lie above zero |
# | (b) structure does not change clean accuracy | Table 2 | every structured strategy is equivalent to unstructured: the 95 % interval of the difference lies within ±1 point in every setting |
# | (c) after pruning, weight-based keeps much more accuracy than structured | Table 2, "after pruning" | the interval of weight-based − structured lies above zero and the difference exceeds 1 point, at 99 % natural and 95 % TRADES |
# | (d) structure does not change robust accuracy | Table 3 | as (b), for PGD accuracy; where every TRADES network also has AutoAttack numbers, the same test on those |

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

# %% tags=["hide-input"]
from srewire import chapter, report
from srewire.render import show
from srewire.report import glue_all

results, larger = chapter.grid(profile, results_dir, seeds, data_root=data_root, force=force)
glue_all(report.claim_values(results))
show(report.verdict_table(report.claims_by_profile(results + larger)), wide=("Evidence",))

# %% [markdown]
# ## Reading the verdicts
#
# **(a) Structure: {glue:text}`verdict_a`.** {glue:text}`reading_a` At 95 % sparsity almost
# every fibre holds a connection with any strategy, in the thesis (0–1 %) as here, so the
# ordering rests on differences of a few hundredths of a percent there and is the first place
# where it can fail.
#
# **(b) Clean accuracy: {glue:text}`verdict_b`.** {glue:text}`reading_b` The smallest
# equivalence margin these seeds could have confirmed in every setting:
# {glue:text}`margin_b`.
#
# **(c) Accuracy after pruning: {glue:text}`verdict_c`.** {glue:text}`reading_c` The thesis's
# explanation is that weight-based rewiring grows clusters around the strongest weights, so
# that pruning lone weights rarely removes an important one. The reduced profile trains for a
# few hundred steps instead of 39,000, so clusters have had far less time to form around
# strong weights; the size of this effect at convergence needs the `paper` profile.
#
# **(d) Robust accuracy: {glue:text}`verdict_d`.** {glue:text}`reading_d` The smallest
# equivalence margin these seeds could have confirmed: {glue:text}`margin_d`. PGD alone can
# overstate robustness; where networks were also attacked with AutoAttack, the evidence
# column says how many, and "Robustness" shows the drop per strategy.
#
# ## What would settle the open points
#
# The `quick` profile is a reduced reproduction: full-width VGG11, but a few epochs on a
# subset of CIFAR-10 and a reduced attack budget (see "Reproduction"). Three things would
# settle what it cannot:
#
# * **Convergence.** The structure is still changing at the end of the quick runs: in their
#   last epoch they revive between {glue:text}`revived_last_min` and
#   {glue:text}`revived_last_max` coordinates per step. The thesis's
#   Table 1 describes networks after 39,000 steps; `bash scripts/book.sh --profile paper`
#   trains them on a GPU.
# * **Seeds.** The thesis reports one network per cell. Differences of a fraction of a point
#   (Table 2) or of a few hundredths of a percent of zero fibres (Table 1, 95 %) are within
#   the seed-to-seed noise measured here; any verdict on them needs several seeds per cell.
#   With two seeds per cell the interval of a difference reaches 4.30 standard errors to
#   each side; with three it reaches 2.78, and the standard error itself shrinks by
#   √(2/3), so a third seed roughly halves the smallest margin the data can confirm.
# * **The metric's axis and the pruning rule.** The zero-vector numbers depend on which
#   axis the "lowest-dimensional vectors" run along; this book uses the output-channel axis,
#   whose magnitudes fit the thesis, and reports the others in every `result.json`.
#
# ## Beyond the thesis
#
# The thesis closes by suggesting structure-aware pruning after structured training, and
# square kernels so that round clusters fill whole vectors more easily. Two observations from
# this reproduction point the same way: nearest-neighbour claims build blobs, not empty
# vectors ({numref}`fig-figure2` in "The method"), and the zero fibres of the reproduced
# networks sit in the layers with the shortest fibres (see "Structure results"), where a blob
# covers a larger part of a fibre.
# A rewiring rule that prefers dormant coordinates in fibres that are already occupied would
# aim at empty vectors directly; `srewire.rewiring.nearest_dormant` takes any
# connectivity mask, so such variants are a few lines away.

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
# # Structure results
#
# This chapter regenerates Thesis §4.1: Table 1, the share of *lowest-dimensional vectors*
# that hold only zeros, before and after pruning, and Figures 3–14, the connectivity matrices
# of unstructured, structured and weight-based networks side by side.
#
# **How structure is measured.** The thesis's "zero vectors" are this book's *zero fibres*,
# defined with a picture in {ref}`sec-zero-fibres`: fibres run along the output axis of the
# predecessor's TensorFlow kernel layout {cite:p}`igitugraz2021code`, so for a convolution each
# (kernel row, kernel column, input channel) position holds one fibre across all output
# channels, and for a dense layer each input unit holds one fibre across all output units. A
# zero fibre is an input position that no filter reads, one im2col row a sparse kernel can
# skip. That the thesis counted along this axis is our inference from its magnitudes (about
# 2 % zero fibres for a randomly rewired 99 % sparse network); the other axes are in every
# `result.json` too. **After pruning** zeroes every weight that sits alone in
# its fibre and counts again; the accuracy of the pruned networks is in the next chapter.
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
figure_seed = 0  # the run whose connectivity matrices are drawn
figure_layer = "dense2"  # the 256 x 256 layer, as in the thesis repository's one figure
zoom_layer = "dense1"  # the 2048 x 256 layer ("layer 8", Thesis Figures 12-14)

# %% tags=["remove-cell"]
from srewire import chapter, plots, report, trajectory
from srewire.render import note, show
from srewire.report import glue, glue_all

results, larger = chapter.grid(profile, results_dir, seeds, data_root=data_root, force=force)

# %% [markdown]
# ## Table 1: zero vectors
#
# One row per setting and rewiring strategy: this project's mean ± standard deviation over
# seeds in the profile's column, the thesis's value in the last column. The thesis trained
# every network for 100 epochs on all of CIFAR-10.

# %% tags=["hide-input"]
before, after = report.table1(results + larger)
show(before)

# %% [markdown]
# **After pruning** (the thesis reports this for 99 % natural and 95 % TRADES):

# %% tags=["hide-input"]
show(after.loc[["99% natural", "95% TRADES"]])

# %% tags=["remove-cell"]
glue_all(report.structure_values(results))

# %% [markdown]
# At 99 % sparsity the ordering the thesis reports {glue:text}`order_99`: random rewiring leaves
# {glue:text}`zero_99_random` % of the fibres empty, structured rewiring
# {glue:text}`zero_99_structured` % and weight-based rewiring {glue:text}`zero_99_weight_based` %;
# after pruning the lone weights, {glue:text}`pruned_99_random` %,
# {glue:text}`pruned_99_structured` % and {glue:text}`pruned_99_weight_based` %. At 95 %
# sparsity there are five times as many connections and almost every fibre holds one
# ({glue:text}`zero_95t_random` % and {glue:text}`zero_95t_wb` % for the unstructured and
# weight-based TRADES networks; the thesis reports {glue:text}`thesis_95t` for its
# 100-epoch networks, Table 1). The chapter "Do the thesis's claims hold?" tests the ordering against
# the seed-to-seed noise.
#
# ## Structure over training
#
# The thesis counts its zero vectors once, after 100 epochs: 39,000 rewiring steps, since one
# rewiring step follows every optimiser step. Runs of the `long` profile record the zero-fibre
# percentage at about eight log-spaced steps per decade and after every epoch, which shows how
# the structure forms and whether it is still forming when a reduced run stops. In the figures
# a line is the mean over seeds and a band the range of the seeds (where a cell has several),
# a circle is a final `quick` network (those runs did not record their structure over
# training), and a star is the thesis's value at its step count. The learning rate drops
# tenfold after 50 % and 75 % of each run's steps, so a reduced run's late steps move the
# weights less than the thesis's steps at the same count.

# %% tags=["hide-input"]
glue_all(trajectory.growth_values(results + larger))

# %% [markdown]
# ```{glue:figure} fig_growth_99
# :name: fig-growth-99
#
# 99 % sparse, natural training: zero fibres (output axis) against rewiring steps.
# ```
#
# **What the data say at 99 %.** The trend is fitted over the last tenfold of each run's
# steps, as percentage points per tenfold increase of the steps. That window spans both
# learning-rate drops, so each sentence also says how far the structure still moved in the
# last quarter of the run, when the learning rate is 1 % of its start: {glue:text}`growth_99`
#
# ```{glue:figure} fig_growth_95
# :name: fig-growth-95
#
# 95 % sparse, natural training.
# ```
#
# {glue:text}`growth_95`
#
# ```{glue:figure} fig_growth_95t
# :name: fig-growth-95-trades
#
# 95 % sparse, TRADES training.
# ```
#
# {glue:text}`growth_95t`
#
# ## Figures 3–11: connectivity of a 256 x 256 layer
#
# The thesis shows the connectivity of one 2-D layer for each setting but does not say which.
# The one figure in the thesis's public repository {cite:p}`seidel2025repository`, named
# `sparse5_wb_trades_layer9.svg`, is a 256 x 256 matrix; the only 256 x 256 layer of a VGG11
# with the predecessor's dense head is the second dense layer, so that layer is drawn here
# (our inference from the figure's shape). Rows are input
# units (fibres), columns output units; each network gets a row, with the whole layer on the
# left and its outlined corner enlarged on the right, where single connections and clusters
# can be told apart. The figures come from `paper` runs where those exist.

# %% tags=["hide-input"]
glue_all(plots.connectivity_values(results_dir, profile, figure_layer, figure_seed))

# %% [markdown]
# ```{glue:figure} fig_conn_99
# :name: fig-conn-99
#
# 99 % sparse, natural training: connectivity after unstructured, structured and
# weight-based rewiring ({glue:text}`conn_99_where`; Thesis Figures 3-5).
# ```
#
# ```{glue:figure} fig_conn_95
# :name: fig-conn-95
#
# 95 % sparse, natural training ({glue:text}`conn_95_where`; Thesis Figures 6-8).
# ```
#
# ```{glue:figure} fig_conn_95t
# :name: fig-conn-95-trades
#
# 95 % sparse, TRADES training ({glue:text}`conn_95t_where`; Thesis Figures 9-11).
# ```

# %% [markdown]
# ## Figures 12–14: "layer 8" of the 99 % network
#
# The thesis singles out "layer 8" of the 99 % sparse network, its most structured result.
# If the weight layers are counted from zero, the file name of the repository's figure,
# "layer9", names the 256 x 256 second dense layer, and layer 8 is the first dense layer (2048
# inputs, 256 outputs); this numbering is our inference from that one file
# {cite:p}`seidel2025repository`. The thesis's captions
# give the share of zero vectors of this layer for each strategy; each panel sets its value
# beside ours.

# %% tags=["hide-input"]
shown = plots.figure_profile(results_dir, profile, "natural", 0.99, figure_seed)
glue("fig_layer8", plots.connectivity_panels(
    results_dir, shown, "natural", 0.99, zoom_layer, figure_seed,
    thesis=report.THESIS["layer8_zero_fibres"][("natural", 0.99)]))
glue("layer8_where", f"layer {zoom_layer}, {shown} profile, seed {figure_seed}")

# %% [markdown]
# ```{glue:figure} fig_layer8
# :name: fig-layer8
#
# 99 % sparse, natural training: the 2048 x 256 first dense layer, rows are its 2048 input
# fibres ({glue:text}`layer8_where`; Thesis Figures 12-14, whose zero-vector percentages
# are given in brackets).
# ```

# %% [markdown]
# ## Where the zero fibres are
#
# Per layer, mean over seeds, output axis.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Zero fibres per layer, 99 % sparse natural networks, before pruning.", "name": "fig-per-layer-99"}}
fig = plots.zero_fibres_per_layer(results, "natural", 0.99)

# %% tags=["remove-cell"]
glue_all(report.layer_values(results, "natural", 0.99, "weight_based"))

# %% [markdown]
# The four layers with the most zero fibres in the weight-based networks are
# {glue:text}`top_layers`. The first two convolutions have almost none
# ({glue:text}`early_zero` % at most): their initial densities of 60 % and 20 % keep them far
# denser than the 1 % budget of the whole network. A fibre runs over a layer's outputs, so at
# equal density a layer with fewer outputs has shorter fibres, and a short fibre is emptied
# more easily than a long one.

# %% tags=["remove-input"]
note(plots.per_layer_note(results, "trades", 0.95))

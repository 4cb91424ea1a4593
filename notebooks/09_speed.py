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
# # Does the structure buy speed?
#
# The thesis exists for one promise: structured rewiring leaves whole lowest-dimensional
# vectors empty, so that at deployment "the largest part could be completely left out" and the
# sparse model runs "blazingly fast" (Thesis §3.1, §3.3). Neither the thesis nor its
# predecessor measured a speed. This chapter does, on a CPU, for the networks of the `quick`
# grid, and it runs the follow-up the thesis's Discussion proposes: train weight-based at 98 %,
# prune with the structure in mind to 99 %, then fine-tune without rewiring.
#
# Every network is run in five ways that compute the same function (outputs equal to the
# masked model within fp32 rounding; `tests/test_deploy.py`), built by `srewire.deploy`:
#
# | representation | what it leaves out |
# | --- | --- |
# | dense masked | nothing: the trained layers with their zeros (the baseline) |
# | channels removed | input channels and output filters that are empty everywhere, with their BatchNorm (what a channel pruner gives) |
# | fibre-compacted | on top of that every zero fibre along the output axis: the im2col rows of the empty (c_in, kh, kw) positions, gathered away before a smaller dense product; zero input columns of the dense layers |
# | CSR sparse | every zero weight, with `torch.sparse` CSR matrices on the im2col'd convolutions and the dense layers |
# | condensed | SRigL's constant fan-in form (Lasby et al., ICLR 2024): per output the indices and values of its inputs, padded to the layer's largest fan-in |
#
# The fibre-compacted model is the thesis's proposal taken literally: a zero fibre of the
# thesis's metric (Thesis §4.1, output axis) is exactly one im2col row that no filter reads.
# VGG11 is a plain chain (conv, BatchNorm, ReLU, pool, ..., linear), so removing a channel only
# touches the layer before and the layer after; no dependency-graph pruner (torch-pruning) is
# needed. One subtlety: an empty filter still outputs a constant (its BatchNorm shift after the
# ReLU); the compacted model adds that constant's contribution to the next layer's bias.
#
# The timings come from one run of `python benchmarks/bench_deploy.py` (it writes
# `results/quick/deploy/deploy.json`); this chapter only reads that file and the results of
# `python -m srewire.prune`.

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
profile = "quick"  # "smoke" | "quick" | "paper"
results_dir = "../results"  # folder holding <profile>/<run>/result.json
data_root = None  # folder holding cifar-10-batches-py (None: $SREWIRE_DATA or ./data)
force = False  # recompute instead of reading cached results

# %% tags=["remove-cell"]
from srewire import speed, speed_prose
from srewire.render import show
from srewire.report import glue_all

record = speed.load_deploy(results_dir, profile)
print(speed_prose.machine_text(record))
glue_all(speed_prose.machine_values(record))

# %% [markdown]
# ## What was measured
#
# The benchmark ran on a {glue:text}`cpu` ({glue:text}`cores` logical cores) with torch
# {glue:text}`torch` and {glue:text}`threads` threads, in fp32, at batch 1 (one image, the
# latency of a deployed classifier) and batch 128. Each latency is the median over blocks of
# `torch.utils.benchmark.Timer.blocked_autorange`, the variants of a network interleaved
# round by round so that a disturbance hits all of them; the file keeps the interquartile
# range too. {glue:text}`machine_note`
# The networks carry the seed-0 masks of the grid with random weights: latency depends only
# on the masks. {glue:text}`complete_note`
#
# ## End to end
#
# Latency relative to dense masked for every network as trained and for the pruned 98 %
# network, with each network's floor, the share of the dense multiply-adds that its nonzero
# weights need (black tick). Batch 1 covers every network; batch 128, where the CSR and
# condensed products take seconds per forward pass on this machine, covers the
# {glue:text}`large_for`:

# %% tags=["hide-input"] mystnb={"figure": {"caption": "End-to-end latency of each representation relative to the dense masked model of the same network (log scale; left of the dashed line is faster). Black ticks: nonzero multiply-adds / dense multiply-adds.", "name": "fig-speed"}}
import matplotlib.pyplot as plt

fig = speed.latency_chart(record)
plt.show()

# %% [markdown]
# The same at batch 1 as a table, latency relative to dense masked (below 1 is faster), with
# the networks after the thesis's single-fibre pruning. The dense VGG11 has only its dense
# form, so its other cells are empty (—):

# %% tags=["hide-input"]
show(speed.latency_table(record, 1), "Latency relative to dense masked, batch 1")

# %% [markdown]
# At batch 128:

# %% tags=["hide-input"]
show(speed.latency_table(record, 128), "Latency relative to dense masked, batch 128")

# %% [markdown]
# ## Where each representation wins
#
# Over the sparse networks timed at each batch size: on how many a representation is the
# fastest of the five, on how many it beats dense masked by more than the spread of the
# timings (the medians further apart than half the two interquartile ranges summed), and its
# best and median latency relative to dense masked. Batch 1:

# %% tags=["hide-input"]
show(speed.winners(record, 1), "Where each representation wins, batch 1")

# %% [markdown]
# Batch 128:

# %% tags=["hide-input"]
show(speed.winners(record, 128), "Where each representation wins, batch 128")

# %% [markdown]
# The work each representation does: multiply-adds in millions per image, beside the
# multiply-adds of the nonzero weights alone (the floor):

# %% tags=["hide-input"]
show(speed.latency_table(record, 1, "MMAC"), "Multiply-adds (millions per image)")

# %% tags=["remove-cell"]
glue_all(speed_prose.network_values(record))

# %% [markdown]
# For the 99 % weight-based network the nonzero weights need {glue:text}`floor_wb` % of the
# dense multiply-adds, but only {glue:text}`fib_wb` % of its output-axis fibres are empty, so
# the fibre-compacted model still performs {glue:text}`compact_mac_wb` % of them (the
# unstructured 99 % network: {glue:text}`fib_rnd` % empty fibres,
# {glue:text}`compact_mac_rnd` %). At batch 1 the weight-based network's fibre-compacted
# latency is {glue:text}`compact_wb_1` x that of dense masked, CSR {glue:text}`csr_wb_1` x
# and condensed {glue:text}`condensed_wb_1` x; at batch 128 the ratios are
# {glue:text}`compact_wb_128`, {glue:text}`csr_wb_128` and {glue:text}`condensed_wb_128`.
# (For the unstructured network at batch 1: fibre-compacted {glue:text}`compact_rnd_1` x, CSR
# {glue:text}`csr_rnd_1` x.) Over all networks, the fastest
# representation at batch 1 is {glue:text}`best_variant_1` on the {glue:text}`best_net_1`
# network, at {glue:text}`best_1` x dense masked; at batch 128 {glue:text}`best_variant_128`
# on {glue:text}`best_net_128`, at {glue:text}`best_128` x.
#
# ## Layer by layer
#
# Where the time goes for the 99 % weight-based network, batch 1 (multiply-adds in thousands
# per image; latency relative to the same layer's dense masked form). The first convolutions
# are the least sparse layers (their initial densities are 0.6 and 0.2), and at 32 x 32 and
# 16 x 16 positions they hold most of the remaining multiply-adds. Single layers take
# fractions of a millisecond at batch 1, so their ratios are noisier than the end-to-end ones
# (the file keeps each layer's interquartile range):

# %% tags=["hide-input"]
wb99 = speed_prose.network(record, "trained", "natural", 0.99, "weight_based")
show(speed.layer_table(record, wb99["name"], 1),
     "99 % weight-based network, per layer, batch 1: latency relative to dense masked")

# %% [markdown]
# and the multiply-adds of the same layers (thousands per image):

# %% tags=["hide-input"]
show(speed.layer_table(record, wb99["name"], 1, "MMAC"),
     "99 % weight-based network, per layer: multiply-adds (thousands per image)")

# %% [markdown]
# ## The thesis's proposal: train at 98 %, prune with the structure in mind to 99 %
#
# `python -m srewire.prune` trains weight-based at 98 % sparsity (the `quick` profile), removes first the weights that are alone in their output-axis fibre and then whole
# fibres, weakest (smallest L2 norm) first over all layers, until exactly the 99 % budget is
# left, and fine-tunes for a fixed number of steps with the masks held fixed (no rewiring).
# It is compared with the directly trained 99 % networks of all three strategies (mean over
# the seeds each has; latency: fibre-compacted at batch 1, seed-0 masks):

# %% tags=["hide-input"]
pruned = speed.load_prune(results_dir, profile)
table = speed.prune_comparison(record, speed_prose.direct_results(results_dir, profile), pruned)
print(speed_prose.prune_text(pruned))
glue_all(speed_prose.prune_values(table, pruned))
show(table, "Pruned with the structure in mind against trained at 99 % directly")

# %% [markdown]
# Trained at 98 %, the weight-based networks reach {glue:text}`p_acc98` % clean accuracy;
# cutting them to 99 % drops that to {glue:text}`p_acc_cut` %, and {glue:text}`ft_steps`
# fine-tuning steps bring it to {glue:text}`p_acc` % ({glue:text}`p_seeds`). The
# directly trained 99 % networks reach {glue:text}`d_acc_random` % (unstructured),
# {glue:text}`d_acc_structured` % (structured) and {glue:text}`d_acc_weight_based` %
# (weight-based). The pruned networks have {glue:text}`p_fib` % empty output-axis fibres
# against {glue:text}`d_fib_random`, {glue:text}`d_fib_structured` and
# {glue:text}`d_fib_weight_based` %, and their fibre-compacted latency at batch 1 is
# {glue:text}`p_lat` x dense masked (direct: {glue:text}`d_lat_random`,
# {glue:text}`d_lat_structured`, {glue:text}`d_lat_weight_based`).

# %% tags=["remove-cell"]
print(speed_prose.verdict(record))
glue_all(speed_prose.detail_values(record))

# %% [markdown]
# ## An honest answer
#
# {glue:text}`verdict`
#
# The multiply-adds say most of it, and they do not depend on the machine. The 99 %
# weight-based network has {glue:text}`fib_wb` % empty output-axis fibres, so its
# fibre-compacted form keeps {glue:text}`wb_compact_mac` % of the dense multiply-adds while its
# nonzero weights need {glue:text}`wb_floor` %: the empty fibres are a small share of all
# fibres, the compacted matrices keep most of their rows and stay mostly zeros inside. The
# network pruned with the structure in mind keeps {glue:text}`p_compact_mac` % (floor
# {glue:text}`p_floor` %): removing whole weak fibres after training turns sparsity into
# structure, which is the direction the thesis's Discussion points to, but at this scale it
# still leaves a large factor to the floor.
#
# The timings add what the counts hide. {glue:text}`summary_128` Relative to dense masked at
# batch 128, the 99 % weight-based network runs fibre-compacted at {glue:text}`wb_compact_128`
# x, channels removed at {glue:text}`wb_channels_128` x, CSR at {glue:text}`wb_csr_128` x and
# condensed at {glue:text}`wb_condensed_128` x; the pruned network at
# {glue:text}`p_compact_128`, {glue:text}`p_channels_128`, {glue:text}`p_csr_128` and
# {glue:text}`p_condensed_128` x (interquartile range of dense masked:
# {glue:text}`iqr_wb_128` % of its median). {glue:text}`summary_1`
#
# CSR uses every zero weight and needs no structure: at batch 1 it runs the unstructured 99 %
# network at {glue:text}`csr_rnd_1` x and the weight-based one at {glue:text}`wb_csr_1` x
# (interquartile range of dense masked: {glue:text}`iqr_wb_1` % of its median). Fibre
# compaction, the form the thesis argues for, reaches {glue:text}`wb_compact_1` x for the
# weight-based network as trained and {glue:text}`p_compact_1` x once it is pruned with the
# structure in mind (CSR on the pruned network: {glue:text}`p_csr_1` x).
# {glue:text}`structure_verdict`
#
# That is what this run says about the thesis's promise at this scale. Two limits of the
# measurement: it is one CPU with torch's own kernels (a GPU or a dedicated sparse inference
# engine may rank the forms differently), and the `quick` networks train for 5 epochs; the
# thesis's 100-epoch networks leave more fibres empty (the whole 99 % network: 2.066 / 7.45 /
# 11.77 % for unstructured / structured / weight-based, Thesis Table 1; its layer 8: 6.25 /
# 15.87 / 22.56 %, Thesis Figures 12-14), which `--profile paper` will show once those runs
# exist.
#
# Reproduce: `python -m srewire.prune --seeds 0 1 --data DATA --steps 128` (trains the two
# 98 % networks when their runs are missing), then `python benchmarks/bench_deploy.py` on an
# otherwise idle machine.

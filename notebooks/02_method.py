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
# # The method: structured rewiring
#
# The thesis keeps everything of Bayesian connectivity sampling except *where* lost
# connections come back. Instead of reviving dormant coordinates uniformly at random, it
# revives the dormant coordinate nearest to a connected one, so that connections gather into
# clusters — "hyperspheres" in the index space of each weight tensor (Thesis §3.2). This
# chapter spells out the algorithm as this project implements it, looks closely at the
# distance the thesis prints (Equation 3), and regenerates the thesis's Figure 2 from an
# actual rewiring simulation.

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
toy_steps = 2000  # steps of the 2-D rewiring simulation
toy_connectivity = 0.1  # fraction of connected weights in the simulated layer

# %% [markdown]
# ## Algorithm 1, as implemented
#
# After every optimiser step, Bayesian connectivity sampling determines how many connections
# $n$ were lost and splits them over the layers in proportion to layer size (the predecessor's
# rule). Inside a layer that must revive $n_l$ connections:
#
# 1. **Samples.** Take $n_l$ connected coordinates ($\theta > 0$): uniformly at random
#    (*structured*), or the $n_l$ with the largest $\theta$, largest first (*weight-based*,
#    Thesis §3.2.1).
# 2. **Claims.** In that order, each sample claims the dormant coordinate ($\theta \le 0$)
#    nearest to it in the integer index space of the weight tensor — four indices for a
#    convolution kernel, two for a dense matrix — among those that earlier samples have not
#    claimed. Ties are broken uniformly at random.
# 3. **Revival.** Every claimed coordinate gets $\theta = 10^{-12}$ and keeps its fixed sign.
#
# Algorithm 1 of the thesis leaves the conflicts of step 2 open (two samples may share a
# nearest neighbour); resolving them greedily in sample order revives exactly $n_l$
# connections and keeps the global budget exact. The search is
# `srewire.rewiring.nearest_dormant`; it looks outward from each sample through offsets
# sorted by distance and only scans the whole tensor for samples buried inside a full cluster.
#
# Here it is on a small 2-D mask: a block of connections with three samples on its edge, each
# sampled three times, so that they make nine claims. The numbers show which dormant cell is
# claimed, in claim order.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Nine claims of three samples (black x, each sampled three times) next to a block of connections (yellow; dormant cells dark purple), with the Euclidean distance (left) and with Equation 3 as printed (right). Claimed cells are white, numbered in claim order.", "name": "fig-claims"}}
import torch

from srewire import plots, simulate
from srewire.report import glue_all

connected = torch.zeros(14, 14, dtype=torch.bool)
connected[5:9, 6:10] = True
sources = torch.tensor([5 * 14 + 6, 8 * 14 + 9, 6 * 14 + 9] * 3)  # each sample claims three times
fig = plots.claims_demo(connected.numpy(), sources.tolist()[:3],
                        simulate.claims_by_distance(connected, sources))

# %% [markdown]
# ## Equation 3 is not the Euclidean distance
#
# The thesis names the Euclidean distance (the $\ell_2$ norm) throughout, but prints its
# nearest-neighbour rule as
#
# $$X_\mathrm{NN}(p) = \arg\min_{\chi \in A} \sum_{n=1}^{D} \left| p_n^2 - \chi_n^2 \right| .$$
#
# Because $|p^2 - \chi^2| = |p - \chi|\,(p + \chi)$, a step of one index costs about $2p$:
# cheap near index 0, expensive far from it, and cheaper downwards than upwards. The maps
# below show both distances from the same point of a 12 x 12 grid: the Equation-3 "ball" is a
# diamond, as for a sum of absolute differences, and it reaches further towards index 0 than
# away from it. Along an axis on which a sample's index is small a step is cheap, along an
# axis on which it is large a step is dear, so clusters cannot be round. The most likely
# intent is the squared Euclidean
# distance $\sum_n (p_n - \chi_n)^2$, whose minimiser is the Euclidean nearest neighbour; this
# project uses it by default and keeps Equation 3 as printed as the option `metric="eq3"`.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Distance from the starred point under the Euclidean distance (left) and under Equation 3 as printed (right).", "name": "fig-distance-maps"}}
fig = plots.distance_maps((12, 12), (6, 6))

# %% [markdown]
# (sec-zero-fibres)=
# ## Zero fibres: the thesis's "zero vectors"
#
# Thesis §4.1 measures structure as "the total percentage of the lowest dimensional vectors
# (the single vectors that make up a 2D layer which in turn could make up a 4D layer etc.)
# that contain only zeros (zero vectors)". This book calls such a vector a **fibre** and an
# all-zero one a **zero fibre**; "zero fibres (%)" in every table and figure is the thesis's
# "zero vectors". A weight tensor has one family of fibres per axis, and the thesis does not
# say which axis its vectors run along. The fibres counted here run along the **output
# axis**: the last axis of the predecessor's TensorFlow kernels {cite:p}`igitugraz2021code`,
# (kh, kw, C_in, C_out) for a convolution and (n_in, n_out) for a dense layer. A fibre is
# then one input position, (kh, kw, C_in) or one input unit, with its weights to every
# output; a zero fibre is an input position that **no filter reads**, one row of the im2col
# matrix that the product can skip. That this is the thesis's axis is our inference: it is
# the one whose counts have the thesis's magnitude (about 2 % zero fibres for a randomly
# rewired 99 % sparse network, against about 97 % along PyTorch's last axis, the kernel
# column). The counts along the other axes are in every `result.json` too.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Zero fibres, drawn on a small convolution kernel (left, its (kh, kw, C_in) input positions as rows and its output channels as columns: the im2col matrix) and a small dense matrix (right). Each row is one fibre along the output axis; the row outlined in red is a zero fibre, an input position that no filter reads. Connected weights are yellow, dormant ones dark purple.", "name": "fig-zero-fibres"}}
fig = plots.fibre_diagram()

# %% [markdown]
# ## Figure 2, regenerated: what structured rewiring builds
#
# Thesis Figure 2 contrasts the *ideal* structure — whole rows of a weight matrix filled,
# the rest empty, so that entire vectors can be skipped — with what nearest-neighbour rewiring
# is expected to build: compact blobs that cut across rows and columns. To see this happen,
# we simulate one 2-D layer: every connected $\theta$ takes a random step each iteration and
# shrinks by weight decay, the connections that cross zero die, and the real
# `srewire.rewiring.Rewirer` revives as many with each strategy.

# %% tags=["hide-input"]
masks = simulate.figure2_masks((48, 48), toy_connectivity, toy_steps, seed=0)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "A simulated 48 x 48 layer at 10 % connectivity (connected yellow, dormant dark purple): the random initial mask, and the mask after the simulation with random, structured and weight-based rewiring (Euclidean distance), and with structured rewiring under Equation 3 as printed.", "name": "fig-figure2"}}
fig = plots.mask_panels(*simulate.figure2_panels(masks, toy_steps))

# %% [markdown]
# Random rewiring keeps the mask uniformly scattered. Structured rewiring grows patches, and
# weight-based rewiring, which always seeds next to the strongest connections, grows fewer
# and denser ones. Under Equation 3 the clusters stretch into thin lines: they grow cheaply
# along the axis on which their index is small and hardly at all along the other. None of
# them builds the thesis's *ideal* structure of whole empty rows: a patch
# that straddles a row keeps it non-empty. How much of the tensor is freed is measured by the
# share of *zero fibres* ({ref}`sec-zero-fibres`), the rows that hold no connection at all:

# %% tags=["hide-input"]
shares = simulate.zero_fibre_shares(masks)
print(simulate.zero_fibre_text(shares))
glue_all(simulate.zero_fibre_values(shares))

# %% [markdown]
# In this simulation {glue:text}`toy_zero_random` % of the rows are empty with random
# rewiring, {glue:text}`toy_zero_structured` % with structured and {glue:text}`toy_zero_wb` %
# with weight-based rewiring ({glue:text}`toy_zero_eq3` % under Equation 3). Emptied rows
# come from blobs that leave the rest of the matrix bare, not from whole rows being filled.
# The next chapter asks how strongly this depends on how sparse the network is.

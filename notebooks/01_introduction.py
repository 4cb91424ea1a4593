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
# # Introduction and background
#
# The thesis asks whether a network that is both *very sparse* and *adversarially robust* can
# also be made *structured*, so that its few remaining weights sit in tensors that hardware can
# skip wholesale. This chapter sets the scene with the two ingredients the thesis inherits from
# {cite:t}`ozdenizci2021training`: adversarial training with TRADES {cite:p}`zhang2019theoretically`,
# evaluated with projected gradient descent (PGD), and *Bayesian connectivity sampling*, the
# rewiring rule that keeps a network sparse while it learns {cite:p}`bellec2017deep`.
#
# Everything below is computed, not pasted: a sparse VGG11 trained with TRADES by this
# project's `quick` profile is attacked in front of you, and the rewiring statistics come from
# the training logs of the grid in `results/`.

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
seeds = [0]  # seeds whose training logs are shown
n_images = 8  # test images attacked in the demonstration

# %% tags=["hide-input"]
import torch

from srewire import attacks, plots, report, trades
from srewire.data import CLASSES, load_sample
from srewire.report import glue
from srewire.runs import demo_model, demo_summary

results = report.load_grid(profile, results_dir, seeds, data_root=data_root, compute=force)
model, model_result = demo_model(results_dir, profile, seed=seeds[0])
x, y = load_sample("../book/data/cifar10_test_sample.npz", n_images)
cfg = model_result["config"]
print(demo_summary(model_result))

# %% [markdown]
# ## Adversarial examples and PGD
#
# An adversarial example is an input changed by a perturbation too small to matter to a
# person, chosen to make the network err {cite:p}`szegedy2013intriguing`. Under the
# $L_\infty$ threat model used throughout the thesis, every pixel may move by at most
# $\varepsilon = 8/255$. PGD searches that box by repeated signed gradient steps on the loss,
# each followed by a projection back into the box {cite:p}`rauber2020foolbox`. Below, PGD with
# {glue:text}`demo_steps` steps attacks the first test images of CIFAR-10: the top row shows the clean images with
# the model's prediction, the middle row the attacked images with the prediction after the
# attack (red where it is wrong) and the bottom row the perturbation, stretched to be visible.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Clean test images (top), PGD adversarial examples at eps = 8/255 (middle) and their perturbations, amplified (bottom), for the 95 % sparse TRADES-trained VGG11.", "name": "fig-adversarial-examples"}}
demo = attacks.demonstrate(model, x, y, eps=cfg["eval_eps"], steps=cfg["pgd_steps"])
fig = plots.adversarial_examples(demo.x, demo.x_adv, demo.clean_pred.tolist(),
                                 demo.adv_pred.tolist(), demo.y.tolist(), CLASSES)

# %% tags=["hide-input"]
print(demo)
report.glue_all({"demo_steps": str(cfg["pgd_steps"]), "n_demo": str(len(y)), "n_correct_clean": str(demo.correct_clean),
                 "n_correct_adv": str(demo.correct_adv)})

# %% [markdown]
# Of these {glue:text}`n_demo` images the model classifies {glue:text}`n_correct_clean`
# correctly and still {glue:text}`n_correct_adv` after the attack. A naturally trained network
# would keep almost none: the natural runs of the grid are not even attacked, because their
# robust accuracy is essentially zero (the predecessor reports 0.0 % for every natural VGG16).
#
# ## TRADES
#
# TRADES trains on a sum of two terms (Thesis Equation 2): the ordinary cross-entropy on clean
# inputs, and $\beta$ times the Kullback–Leibler divergence between the model's prediction on a
# clean input and on an adversarial input found by a *training-time* PGD that maximises that
# divergence. The second term asks the prediction to be *stable* in the $\varepsilon$-box,
# whatever the label. Here are both terms on the demonstration batch, with the predecessor's
# $\beta = 6$ (the thesis's text says 0.6; see the page on deviations):

# %% tags=["hide-input"]
print(trades.trades_terms(model, x, y, **trades.settings(cfg),
                          generator=torch.Generator().manual_seed(0)))

# %% [markdown]
# ## Bayesian connectivity sampling
#
# A sparse network in this project never holds more than a fixed number of connections: 1 % or
# 5 % of VGG11's 9.8 million weights. Every weight is written $w = s \cdot \max(\theta, 0)$ with
# a fixed random sign $s$; a weight is *connected* while $\theta > 0$. After every optimiser
# step, a little noise is added to the connected $\theta$, the connections are counted, and
# every connection that was lost (its $\theta$ crossed zero) is replaced by reviving a dormant
# one at $\theta = 10^{-12}$. The predecessor chooses the revived coordinates uniformly at
# random; the thesis's contribution is to choose them *next to existing connections*.
#
# The figure shows what this looks like during training of the grid's runs: thousands of
# connections die and are revived in every step of the first epoch, and the churn falls as
# the learning rate drops.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Rewiring during training: connections revived per step in the first epoch (left; the initial fill at step 1 is left out) and deaths per step, averaged per epoch (right). Solid lines: natural training; dashed: TRADES.", "name": "fig-rewiring-activity"}}
fig = plots.rewiring_activity(results)

# %% tags=["hide-input"]
rates = report.redie_rates(results)
print(report.redie_text(rates))
glue("redie_random_99", f"{100 * rates.get(('natural', 0.99, 'random'), float('nan')):.0f}")

# %% [markdown]
# A large share of the revived connections die again at once (about
# {glue:text}`redie_random_99` % for the predecessor's random rewiring at 99 % sparsity): a
# coordinate revived at $10^{-12}$ is swept back below zero by the noise or by its gradient
# unless its gradient pulls it up. The rest of the book asks what happens when the revived
# coordinates are placed next to the surviving ones instead.

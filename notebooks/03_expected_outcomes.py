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
# # Expected outcomes: a connectivity sweep
#
# Before its experiments the thesis predicts three regimes for structured rewiring, depending
# on how many connections the network may keep (Thesis §3.2, "Expected outcomes"):
#
# 1. **The structure does not converge** at relatively high connectivity (the thesis names
#    10 %): losses are replaced next to survivors, but the network keeps enough freedom that
#    connections "jump between clusters" and no clean structure appears.
# 2. **Only the structure converges** at very low connectivity (0.05 % is named): every weight
#    takes its turn to die, each replacement lands next to a survivor, the connections pile up
#    into a few dense blobs, and accuracy suffers.
# 3. **Optimal evolution** somewhere in between, where structure and accuracy develop together.
#
# The thesis describes these regimes but does not test them. Here they are tested: the same
# narrow VGG11 is trained briefly at seven connectivities, from 0.2 % to 20 %, with all three
# rewiring strategies, and the share of zero fibres is recorded after every epoch.

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

# %%
import pandas as pd
from myst_nb import glue

from srewire import plots
from srewire.report import STRATEGY_LABELS
from srewire.simulate import ensure_sweep, sweep_configs

sweep = ensure_sweep(profile, results_dir, data_root=data_root, force=force)
c = sweep[0]["config"]
print(f"sweep: {len(sweep)} runs of VGG11 at width {c['width']}, {c['epochs']} epochs on "
      f"{sweep[0]['provenance']['n_train']} training images ({c['profile']} profile, "
      f"seed {c['seed']})")

# %% mystnb={"figure": {"caption": "Connectivity sweep. Left: share of zero fibres (output axis) after every epoch; colour = connectivity, line style = strategy (dashed random, solid structured, dotted weight-based). Right: clean test accuracy at the end of training.", "name": "fig-sweep"}}
fig = plots.sweep_structure(sweep)

# %%
rows = []
for r in sweep:
    cfg = r["config"]
    rows.append({"connectivity (%)": round(100 * (1 - cfg["sparsity"]), 2),
                 "strategy": STRATEGY_LABELS[cfg["rewiring"]],
                 "zero fibres (%)": r["zero_fibres"]["global"]["out"],
                 "after pruning (%)": r["pruned"]["zero_fibres"]["global"]["out"],
                 "clean accuracy (%)": r["clean_accuracy"],
                 "after pruning, accuracy (%)": r["pruned"]["clean_accuracy"]})
table = pd.DataFrame(rows).pivot_table(index="connectivity (%)", columns="strategy",
                                       values=["zero fibres (%)", "clean accuracy (%)"])
table.round(2)

# %%
by = {(round(1 - r["config"]["sparsity"], 4), r["config"]["rewiring"]): r for r in sweep}
conns = sorted({k[0] for k in by})
gain = {c: by[(c, "weight_based")]["zero_fibres"]["global"]["out"]
        - by[(c, "random")]["zero_fibres"]["global"]["out"] for c in conns}
acc_drop = {c: by[(c, "random")]["clean_accuracy"] - by[(c, "weight_based")]["clean_accuracy"]
            for c in conns}
best = max(conns, key=lambda c: gain[c])
for c in conns:
    print(f"connectivity {100 * c:5.1f} %: weight-based minus random zero fibres "
          f"{gain[c]:+6.2f} points, accuracy {-acc_drop[c]:+6.2f} points")
glue("sweep_best_conn", f"{100 * best:g}", display=False)
glue("sweep_best_gain", f"{gain[best]:.1f}", display=False)
glue("sweep_high_gain", f"{gain[conns[-1]]:.2f}", display=False)
glue("sweep_high_conn", f"{100 * conns[-1]:g}", display=False)
glue("sweep_low_conn", f"{100 * conns[0]:g}", display=False)
glue("sweep_low_acc_gap", f"{acc_drop[conns[0]]:+.1f}", display=False)

# %% [markdown]
# ## What the sweep says about the three regimes
#
# * **Regime 1 (high connectivity).** At {glue:text}`sweep_high_conn` % connectivity the
#   structured strategies leave the share of zero fibres almost where random rewiring does
#   (weight-based minus random: {glue:text}`sweep_high_gain` points): with so many connections
#   nearly every fibre holds one, whatever the rewiring does. This is the thesis's first
#   regime, although the mechanism is simpler than "jumping between clusters": there is no
#   room for empty fibres at all.
# * **Regime 2 (very low connectivity).** At {glue:text}`sweep_low_conn` % the structured
#   strategies concentrate the few connections and empty many fibres; the accuracy difference
#   to random rewiring there is {glue:text}`sweep_low_acc_gap` points (positive: structure
#   costs accuracy). Whether accuracy "gets stuck" as the thesis expects can be read off the
#   right panel.
# * **Regime 3 (in between).** The structural gain of weight-based over random rewiring peaks
#   at {glue:text}`sweep_best_conn` % connectivity ({glue:text}`sweep_best_gain` points). The
#   thesis's 99 % sparse networks (1 % connectivity) lie in this range; its 95 % networks lie
#   where fibres are nearly all occupied, which matches its Table 1, where 95 % networks show
#   almost no zero vectors with any strategy.
#
# The sweep is short (a few epochs on a narrow network), so it shows the *direction* of
# these effects rather than their converged size; `profile="paper"` runs it longer and wider.

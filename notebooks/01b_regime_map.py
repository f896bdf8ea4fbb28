# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01b · Where does pre-training help?
#
# **Question.** Before asking *why* self-supervised pre-training helps
# speaker verification, find a regime where it does. The literature says
# where to look: SSL's advantage over fbank grows as labelled data shrink
# (Vaessen & van Leeuwen, Interspeech 2022), and pre-training on audio of the
# SV domain itself is worth about three times as much out-of-domain audio
# (Peng et al., Interspeech 2023).
#
# **The map.** A grid over the two levers, at this profile's scale:
#
# * **labelled data**: the SV backend learns only the first *N* training
#   speakers (`train.labelled_speakers`), over at least an 8x range;
# * **pre-training**: the default upstream after a number of updates
#   (`optim.steps`, over at least 6x), on the unlabelled pool, and on the
#   pool *plus* the SV training speakers' audio without labels
#   (`pretrain.in_domain`).
#
# Every upstream is probed frozen; the profile's default upstream and the
# random-init reference are also fine-tuned, as the paper does. Each cell is
# the difference of mean EERs over SV seeds, SSL minus reference, with its
# 95 % Welch interval: **negative means pre-training helps**. A bold cell is a
# clear difference (`sslsv.statistics.compare`).
#
# ```{admonition} Re-running this chapter
# :class: tip
# `papermill notebooks/01b_regime_map.ipynb out.ipynb -p profile smoke` runs it
# in minutes; `sslsv plan --notebooks 01b_regime_map` prints its runs and
# their estimated cost first.
# ```

# %% tags=["parameters"]
profile = "cpu"  # "smoke", "cpu" or "paper"
speakers = None  # labelled training speakers per row, or None for the profile's (cpu: 12, 36, 100)
budgets = None  # pre-training updates per column, or None for the profile's (cpu: 80, 200, 500)
seeds = None  # SV seeds per cell, or None for the profile's (3 at cpu, 1 at smoke)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}

# %% tags=["nbval-ignore-output"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd

from sslsv import plots
from sslsv.studies import regime

regime_map = regime.run(profile, speakers, budgets, seeds, overrides=overrides)
cells = regime_map.cells

# %% [markdown]
# ## Is the probe converged?
#
# A missing benefit is a finding only if the SV backend had finished
# learning. Both frozen references, on all labelled speakers, are trained
# again for twice the steps; the protocol passes when the mean EER moves by
# at most one point.

# %%
print(regime_map.convergence.round(2).to_string(index=False))

# %% [markdown]
# ## The map
#
# Frozen upstreams, against the same network from random weights (left) and
# against fbank (right):

# %% tags=["nbval-ignore-output"]
fig = plots.plot_regime_map(cells, "frozen")

# %% [markdown]
# Every cell, frozen and fine-tuned (differences in EER points, with their
# 95 % intervals):

# %%
columns = ["labelled_speakers", "system", "mode", "eer_percent", "vs_random", "vs_random_low", "vs_random_high",
           "vs_random_clear", "vs_fbank", "vs_fbank_low", "vs_fbank_high", "vs_fbank_clear"]
print(cells[columns].round(2).to_string(index=False))

# %% [markdown]
# ## Finding
#
# The book's regime is chosen by a rule written in code
# (`sslsv.studies.regime.choose_regime`): among the frozen cells where the
# pre-trained upstream beats random init clearly, the largest margin, the
# cheaper one on a tie.

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(regime.finding(regime_map)))

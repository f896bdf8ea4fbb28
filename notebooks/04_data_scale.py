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
# # 04 · Pre-training data scale
#
# **Question.** Does more unlabeled audio make a better upstream for
# speaker verification? The paper reports that **more pre-training data
# helps**.
#
# **Controlled setup.** The default upstream (tiny conformer, masked
# prediction on k-means-of-MFCC targets), pre-trained on a seeded subset of
# the unlabeled pool; only `pretrain.hours` changes, over a tenfold range.
# The number of updates is fixed, so the smaller subsets are seen more
# times: the question is the one the paper asks (same recipe, more audio),
# not "same number of epochs". The whole pool is chapter 02's masked
# upstream (the same cached run). Note that at the `cpu` profile the largest
# amount is one hour of synthetic speech from 200 speakers: the paper's
# range is 1,000 times larger.
#
# ```{admonition} Re-running this chapter
# :class: tip
# `papermill notebooks/04_data_scale.ipynb out.ipynb -p profile smoke` runs it
# in minutes. `-p profile paper` runs the same study on VoxCeleb1 and
# LibriSpeech on a GPU: see "At the paper's scale" below.
# ```

# %% tags=["parameters"]
profile = "cpu"  # "smoke", "cpu" or "paper"
seeds = None  # SV seeds, or None for the profile default (3 at cpu and paper, 1 at smoke)
hours = None  # hours of pre-training audio, or None for the profile default (cpu: 0.1, 0.25, 0.5, 1.0)
modes = None  # list of "frozen" and "fine-tuned", or None for the profile default (frozen at cpu)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}
pretrain_overrides = {}  # dotted pre-training keys, e.g. {"optim.steps": 1000}

# %% tags=["nbval-ignore-output"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd

from sslsv import plots
from sslsv.studies import baseline, factors, data_scale, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
study = data_scale.run(profile, seeds, hours, modes,
                       where.sv_overrides(profile, overrides), where.pretrain_overrides(pretrain_overrides))

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## Did pre-training work?
#
# With fewer hours, the same 500 updates revisit each utterance more often.
# The held-out masked accuracy (on the pool's own held-out crops) shows
# whether the small pools were learned as well as the large one.

# %%
print(study.pretraining_table().drop(columns=["minutes"]).round(3).to_string(index=False))

# %% [markdown]
# ## Speaker verification on each upstream
#
# Per seed with bootstrap intervals, then over seeds.

# %%
print(baseline.metric_table(study.per_seed))

# %%
print(study.summary.round(3).to_string(index=False))

# %% [markdown]
# EER and minDCF against the amount of audio (smallest first), with the
# references as lines:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_factor(study)

# %% [markdown]
# Each amount against the references:

# %%
print(factors.comparison_table(study).to_string(index=False))

# %% [markdown]
# ## Which layers does the backend use?
#
# Layer weights per amount of pre-training audio:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_layer_weights(study.layer_weights())

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(data_scale.finding(study)))

# %% [markdown]
# ## At the paper's scale
#
# With `-p profile paper` the amounts are 10, 100, 460 and 960 hours of
# LibriSpeech (the subsets named by `corpus.librispeech_subsets`), each a
# Base pre-training run of 400k updates. We have not run it (no GPU); the
# code path is tested on a LibriSpeech-layout stand-in.

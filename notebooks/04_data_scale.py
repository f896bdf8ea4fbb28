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
# :::{admonition} The answer, computed from this chapter's runs
# :class: important
# ```{glue:md} finding
# :format: myst
# ```
# :::
#
# The sections below show how we got there; the finding at the end says the same with its numbers.
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
# range is 1,000 times larger. The least and the most audio, which the
# verdict compares, are each pre-trained with two seeds.
#
# **Where it runs.** Every system of this chapter is trained in the regime
# that chapter 01b's rule picks from its map: that cell's number of labelled
# speakers, with the map's SV protocol for it (the steps at which the
# references stopped improving), and upstreams pre-trained for that cell's
# number of updates on that cell's pool. The cell is named just below the
# first results; if the map shows no clear benefit anywhere, this chapter
# measures shifts in a regime without one, and says so.

# %% tags=["parameters", "hide-input"]
profile = "cpu"  # "smoke", "cpu" or "paper"
seeds = None  # SV seeds, or None for the profile's study.seeds (`sslsv plan` prints the runs)
hours = None  # hours of pre-training audio, or None for the profile default (cpu: 0.1, 0.25, 0.5, 1.0)
modes = None  # list of "frozen" and "fine-tuned", or None for the profile default (frozen at cpu)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}
pretrain_overrides = {}  # dotted pre-training keys, e.g. {"optim.steps": 1000}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue

from sslsv import plots, tables
from sslsv.studies import compare, data_scale, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
study = data_scale.run(profile, seeds, hours, modes,
                       where.sv_overrides(profile, overrides), where.pretrain_overrides(pretrain_overrides))

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## Did pre-training work?
#
# With fewer hours, the same number of updates (the regime's budget) revisits each
# utterance more often.
# The held-out masked accuracy (on the pool's own held-out crops) shows
# whether the small pools were learned as well as the large one.

# %%
tables.table(study.pretraining_table().drop(columns=["minutes"]), digits=3)

# %% [markdown]
# ## Speaker verification on each upstream
#
# EER (%) and minDCF, mean ± sd over seeds (best value highlighted, references
# in grey); each seed with its 95% bootstrap interval over trials in the dropdown.

# %%
tables.results(study.summary, study.per_seed, digits=3)

# %% [markdown]
# EER and minDCF against the amount of audio (smallest first), with the
# references as lines:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_factor(study)

# %% [markdown]
# Each amount against the references:

# %%
tables.table(compare.comparison_table(study), digits=None)

# %% [markdown]
# ## Which layers does the backend use?
#
# Layer weights per amount of pre-training audio:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_layer_weights(study.layer_weights())

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(data_scale.finding(study)))

# %% [markdown]
# ## At the paper's scale
#
# With `-p profile paper` the amounts are 10, 100, 460 and 960 hours of
# LibriSpeech (the subsets named by `corpus.librispeech_subsets`), each a
# Base pre-training run of 400k updates. We have not run it (no GPU); the
# code path is tested on a LibriSpeech-layout stand-in.

# %% [markdown]
# ## Recap
#
# - The default recipe on a tenfold range of unlabeled audio, at a fixed number of updates.
# - The verdict is computed by `sslsv.studies.data_scale.claim`.
# - Per-seed metrics and intervals are in the dropdown under each summary table.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 04_data_scale` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/04_data_scale.ipynb 04_data_scale-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/04_data_scale.ipynb 04_data_scale-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/04_data_scale.ipynb 04_data_scale-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

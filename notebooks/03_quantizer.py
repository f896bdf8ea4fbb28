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
# # 03 · The quantizer: how the targets are made
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
# **Question.** Masked prediction needs targets to predict. Does it matter
# how they are made? The paper reports that **the quantizer has a minor
# impact** on speaker verification.
#
# **Controlled setup.** Every upstream is the default of chapter 02 (tiny
# w2v-BERT conformer, masked prediction, same audio and updates); only
# `pretrain.quantizer` changes:
#
# | system | targets |
# | --- | --- |
# | k-means MFCC | k-means on 39-dim MFCC with deltas, HuBERT's first iteration (the default) |
# | k-means hidden (it. 2) | k-means on a hidden layer of the default upstream, HuBERT's second iteration |
# | random projection | BEST-RQ: a frozen random projection of the fbank and a random normalised codebook |
# | oracle phones | the phone labels of the synthetic corpus: perfectly "linguistic" targets |
#
# The fbank front-end and the random-init conformer are the references, and
# the SV backend and protocol are those of chapter 02. The k-means-MFCC
# upstream *is* chapter 02's masked upstream (the same cached runs, with its
# two pre-training seeds: every quantizer is judged against it).
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
quantizers = ["kmeans_mfcc", "kmeans_hidden", "random_projection", "oracle_phones"]
modes = None  # list of "frozen" and "fine-tuned", or None for the profile default (frozen at cpu)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}
pretrain_overrides = {}  # dotted pre-training keys, e.g. {"optim.steps": 1000}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue

from sslsv import plots, tables
from sslsv.studies import compare, quantizer, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
study = quantizer.run(profile, seeds, quantizers, modes,
                      where.sv_overrides(profile, overrides), where.pretrain_overrides(pretrain_overrides))

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## Did pre-training work?
#
# The four target sets differ in size and in how evenly they are used (the
# target perplexity): oracle phones have as many classes as the synthetic
# phone inventory, the others as many as their codebook. Masked accuracy is
# therefore compared with each run's own majority-class rate.

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
# Quantizers side by side, with the fbank and random-init references as
# lines (mean ± sd shaded):

# %% tags=["nbval-ignore-output"]
fig = plots.plot_factor(study)

# %% [markdown]
# Each quantizer against the references (negative delta: lower EER than the
# reference; "clear" as defined in chapter 02):

# %%
tables.table(compare.comparison_table(study), digits=None)

# %% [markdown]
# ## Which layers does the backend use?
#
# If the targets shape *where* in the network speaker information survives,
# it shows here, in the learned layer weights.

# %% tags=["nbval-ignore-output"]
fig = plots.plot_layer_weights(study.layer_weights())

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(quantizer.finding(study)))

# %% [markdown]
# ## At the paper's scale
#
# With `-p profile paper` the four quantizers are applied to the Base
# HuBERT recipe on LibriSpeech 960 h (iteration 2 clusters layer 6 of the
# iteration-1 model, as in HuBERT). That is four Base pre-training runs of
# 400k updates plus the SV systems; we have not run it (no GPU). The
# oracle-phone targets need phone alignments, which LibriSpeech does not ship:
# at the paper profile that condition needs forced alignments on disk
# (`<spk>-<chapter>.align.jsonl` next to each transcript) and stops with a
# message naming an utterance without one, before any training.

# %% [markdown]
# ## Recap
#
# - Four ways to make the masked-prediction targets, everything else fixed.
# - The verdict is computed by `sslsv.studies.quantizer.claim`.
# - Per-seed metrics and intervals are in the dropdown under each summary table.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 03_quantizer` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/03_quantizer.ipynb 03_quantizer-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/03_quantizer.ipynb 03_quantizer-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/03_quantizer.ipynb 03_quantizer-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

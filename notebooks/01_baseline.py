# ---
# jupyter:
#   jupytext:
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
# # 01 · The fbank baseline
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
# **Question.** How well does a speaker-verification system do *without* any
# pre-training? Every later chapter measures an SSL upstream against this
# number: an 80-dimensional log-mel filterbank fed to an ECAPA-TDNN trained
# with additive angular margin softmax, the reference front-end of the field.
#
# **Overview.**
# 1. the corpus: who speaks, on which channels, and what the trial list asks;
# 2. the baseline, trained once per seed;
# 3. EER and minDCF with bootstrap confidence intervals, and a DET plot.

# %% tags=["parameters", "hide-input"]
profile = "cpu"  # "smoke", "cpu" or "paper"
seeds = [0, 1, 2]  # one trained system per seed
overrides = {}  # dotted config keys, e.g. {"train.steps": 400}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue
import numpy as np

from sslsv import plots, tables
from sslsv.config import resolve
from sslsv.data import load_sv_corpus
from sslsv.data.corpus import describe, example_keys
from sslsv.data.synthetic import speaker_session_examples
from sslsv.studies import baseline

cfg = resolve(profile, overrides)
corpus = load_sv_corpus(cfg.corpus)

# %% [markdown]
# ## The corpus
#
# At the `smoke` and `cpu` profiles the audio comes from our procedural
# generator (see the introduction): every speaker is a set of source-filter
# parameters (vocal-tract length, pitch, glottal shape, breathiness,
# jitter/shimmer, speaking rate, a personal accent), every utterance a
# sequence of phone-like units, and every *session* a channel
# (band-limiting, equalisation, reverberation, noise at a random SNR). The
# files are written in the VoxCeleb1 layout and read back by the same reader
# that reads VoxCeleb1, with a Vox1-O style trial list whose test speakers
# never appear in training. What the utterances say is set by
# `corpus.language`: at the `cpu` profile every speaker says sentences of one
# language (a lexicon of a few hundred words of 1-3 syllables, a Zipfian word
# distribution and a bigram grammar, in their own voice and accent); the
# `smoke` profile, and the contrast of chapter 01a, draw every syllable
# independently.

# %%
tables.table(describe(corpus), digits=2)

# %% [markdown]
# What does the task look like? Each row below is one speaker, each column one
# session (channel). Within a row, content, channel and prosody change; between
# rows, the voice changes. The verification system must ignore the first and
# capture the second.

# %% tags=["nbval-ignore-output"]
plots.as_jpeg(plots.plot_speakers_and_sessions(speaker_session_examples(2, 2, seconds=2.0, seed=cfg.corpus.seed,
                                                                       cfg=cfg.corpus)))

# %% [markdown]
# Two sessions of the same test speaker, then a different speaker:

# %% tags=["nbval-ignore-output"]
examples = example_keys(corpus)
for label, key in examples:
    print(label, key)
    ipd.display(ipd.Audio(str(corpus.path(key))))

# %% [markdown]
# ## The baseline
#
# The fbank ECAPA-TDNN is trained on random crops of the training speakers with
# AAM-softmax, once per seed; the test utterances are embedded whole and each
# trial is scored by the cosine of its two embeddings. Each seed is its own
# cached run: re-executing this notebook reuses finished runs and resumes
# interrupted ones.

# %% tags=["nbval-ignore-output"]
study = baseline.run(profile, seeds, overrides)

# %% [markdown]
# Equal error rate (in %) and minimum detection cost at
# $P_\text{target} = 0.01$ and $0.05$, mean ± sd over seeds; each seed with
# its 95% bootstrap confidence interval over trials in the dropdown below.

# %%
tables.results(study.summary, study.per_seed, digits=2)

# %% [markdown]
# The detection error trade-off (DET) curve shows every operating point of
# each seed's system; the EER is where a curve crosses the diagonal.

# %% tags=["nbval-ignore-output"]
fig = plots.plot_det({f"seed {r.run.config.train.seed}": r.scores for r in study.results})

# %% [markdown]
# Training curves (AAM-softmax loss and training-crop accuracy) of each seed:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_training_curves({f"seed {r.run.config.train.seed}": r.run for r in study.results})

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(baseline.finding(study)))

# %% [markdown]
# ## Recap
#
# - The baseline is an 80-dim fbank ECAPA-TDNN with AAM-softmax, scored by cosine.
# - Its EER and minDCF above are the reference every SSL upstream is compared
#   with in the following chapters.
# - Seeds move the EER noticeably (the pilot saw ~2 points); every comparison
#   in this book therefore reports several seeds and bootstrap intervals.
# - `sslsv baseline --profile cpu` runs the same study headless.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 01_baseline` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/01_baseline.ipynb 01_baseline-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/01_baseline.ipynb 01_baseline-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/01_baseline.ipynb 01_baseline-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

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
# # 07 · What does the decision rest on? Integrated Gradients
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
# **Question.** The paper explains the benefit of SSL pre-training partly with
# attributions: which parts of the input does a verification decision rest
# on, and does an SSL-initialised system look at different parts than an
# fbank system? We attribute the **trial score** (the cosine between the
# enrollment and test embeddings) to the **test waveform** with Integrated
# Gradients {cite}`sundararajan2017axiomatic`, the enrollment embedding held
# fixed.
#
# **Setup.** Four systems, identical ECAPA-TDNN backends, one corpus, each
# trained at every SV seed of the profile (`study.analysis_seeds`; two at
# `cpu`). Each seed also draws its own trials, and the shares below pool the
# trials of every seed, so their bootstrap intervals carry the seed-to-seed
# spread beside the trial sample:
#
# | system | front-end |
# | --- | --- |
# | fbank | 80-dim log-mel filterbank |
# | SSL frozen | the default pre-trained upstream (masked prediction, k-means-on-MFCC targets), frozen |
# | SSL fine-tuned | the same upstream, fine-tuned |
# | random init fine-tuned | the same architecture from random weights, trained like *SSL fine-tuned* |
#
# The feature extraction is inside every model, so all four are attributed on
# the same input: the waveform.
#
# ```{admonition} The baseline of the path integral
# :class: note
# IG integrates gradients along a straight path from a *baseline* input to the
# real one. Silence (all zeros) is the textbook choice but a poor one here: the
# mean-normalised log-mel front-end is nearly gain-invariant, so the whole
# score change happens in a tiny region next to zero where the log floor
# dominates, and the integral converges badly. We use white noise 30 dB below
# the utterance: the attributions explain the score *relative to a recording
# of faint noise*, and the completeness check below says how well the integral
# converged.
# ```

# %% [markdown]
# **Where it runs.** The four systems are trained in the regime that chapter
# 01b's rule picks (its number of labelled speakers and SV protocol; the
# default upstream pre-trained for its number of updates on its pool), so
# that the explanations are about a regime the book has mapped.

# %% tags=["parameters", "hide-input"]
profile = "cpu"  # "smoke", "cpu" or "paper"
seeds = None  # SV seeds of the four systems (each also draws its trials), or None for the profile's (cpu: 0, 1)
overrides = {}  # dotted SV config keys

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue

from sslsv import plots, tables
from sslsv.systems import shown
from sslsv.studies import explain, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
systems, study = explain.attribution_seeds(profile, seeds, where.sv_overrides(profile, overrides),
                                     pretrain_overrides=where.pretrain_overrides())

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## The four systems
#
# EER (%) and minDCF on the full trial list, with the EER's 95% bootstrap
# interval:

# %%
tables.table(systems.metrics_table(), digits=2)

# %% [markdown]
# ## Does the integral converge?
#
# Completeness: the attributions of a trial sum to the score difference between
# the input and the baseline, up to the *convergence delta*. Per system, over the
# attributed trials:

# %% tags=["nbval-ignore-output"]
tables.table(explain.completeness(study), digits=3)

# %% [markdown]
# ## One trial, over time and frequency
#
# A target trial: the test waveform with |attribution| per 10 ms, phones shaded
# by class (green vowels, purple nasals, orange fricatives, pink plosives, grey
# silence).

# %% tags=["nbval-ignore-output"]
for name, example in study.examples.items():
    fig = plots.plot_attribution_time(example, study.example_segments, title=shown(name))

# %% [markdown]
# The same attributions in time-frequency coordinates (red raises the score,
# blue lowers it), every system on one colour scale, under the input
# spectrogram of the trial:

# %% tags=["nbval-ignore-output"]
plots.as_jpeg(plots.plot_attribution_spectrograms(study.examples, study.example_segments))

# %% [markdown]
# ## Where the attribution mass goes, over many trials
#
# Share of |attribution| per phone class (bars, 95% bootstrap interval over
# trials) against the share of time each class occupies (black ticks). A class
# above its tick carries more of the decision than its duration.

# %% tags=["nbval-ignore-output"]
fig = plots.plot_attribution_shares(study.phone_summary, by="phone_class", reference="duration_share")

# %%
cols = ["model", "phone_class", "mass_share", "mass_share_ci_low", "mass_share_ci_high", "duration_share"]
tables.details(tables.table(study.phone_summary.query("trial_type == 'all'")[cols], digits=3),
               "The shares per system and phone class, with their 95 % intervals")

# %% [markdown]
# Per frequency band, against the band's share of signal energy:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_attribution_shares(study.band_summary, by="band", reference="energy_share")

# %% [markdown]
# Target minus non-target trials (mass share per phone class, with 95% interval):

# %%
tables.details(tables.table(study.phone_difference, digits=3), "Target minus non-target, per system and phone class")

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(explain.attribution_finding(study, systems)))

# %% [markdown]
# **Reading it with care.** IG shares depend on the baseline and on signal
# amplitude (loud segments get more mass); the duration and energy references
# are there to calibrate the eye. The trial sample is small at the `cpu`
# profile and three SV seeds (the map's) are analysed, so differences between
# systems whose intervals overlap are not evidence. The example figures show the first
# seed's systems.
#
# **Tying back to the factor studies.** The SSL systems here use the default
# upstream of the factor studies (chapters 02-05, the same cached
# pre-training run). Chapter 02, on the pre-training objective, measures over
# several seeds whether this upstream beats random init and fbank at all, and
# chapter 06 gives the verdict on each of the paper's claims: these
# attributions describe *how* the systems differ, which explains a benefit
# only where those chapters find one.

# %% [markdown]
# ## Recap
#
# - Integrated Gradients attribute the trial score to the test waveform, for four systems on the same input.
# - The completeness check says how far to trust each system's attributions.
# - Shares per phone class and band are compared with the classes' durations and the bands' energies.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 07_attribution` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/07_attribution.ipynb 07_attribution-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/07_attribution.ipynb 07_attribution-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/07_attribution.ipynb 07_attribution-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

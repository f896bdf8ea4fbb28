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
# # 08 · Does SSL initialisation lead to a flatter basin? Loss landscapes
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
# **Question.** The paper's second explanation is geometric: starting from SSL
# weights, speaker-verification training ends in a different, flatter region of
# the loss surface. We look at the AAM-softmax training loss around each
# trained system, after Li et al. {cite}`li2018visualizing`, and back the
# pictures with two numbers.
#
# **Method.**
# - *Directions*: random Gaussian directions, normalised filter by filter to
#   the norms of the trained weights (each output filter of a weight tensor is
#   rescaled to that filter's norm; biases and normalisation parameters are
#   zero in the direction), so that landscapes of differently scaled networks
#   are comparable.
# - *Loss*: the training loss of the trained model (ECAPA-TDNN + AAM-softmax
#   head), in eval mode, on one fixed set of training crops, the same for every
#   system.
# - *Flatness*: the largest eigenvalue of the loss Hessian (power iteration on
#   Hessian-vector products), and the loss increase at a fixed
#   filter-normalised radius, each over several random seeds.
# - Only **trainable** parameters span the landscape: for the frozen SSL system
#   the upstream is fixed and not part of it.
#
# The four systems are those of the attribution chapter (fbank, SSL frozen, SSL
# fine-tuned, random init fine-tuned), each trained at every SV seed of the
# profile (`study.analysis_seeds`; two at `cpu`). The figures show the first
# seed's systems; the numbers pool every seed.

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
from sslsv.studies import explain, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
systems, study = explain.landscape_seeds(profile, seeds, where.sv_overrides(profile, overrides),
                                   pretrain_overrides=where.pretrain_overrides())

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## The four systems

# %%
tables.table(systems.metrics_table(), digits=2)

# %% [markdown]
# ## 1D slices and the path from the initial weights
#
# Left: loss along filter-normalised random directions through the trained
# weights ($\alpha = 0$), one line per direction. Right: the straight path from
# the weights at the start of SV training ($t = 0$: the pre-trained or random
# upstream with a fresh backend) to the trained weights ($t = 1$).

# %% tags=["nbval-ignore-output"]
fig = plots.plot_loss_curves(study.curves, study.paths)

# %% [markdown]
# ## 2D contours
#
# The loss on the plane of two random directions, trained weights at the centre,
# colour levels shared between systems.

# %% tags=["nbval-ignore-output"]
fig = plots.plot_loss_contours(study.surfaces)

# %% [markdown]
# ## Flatness in numbers
#
# Per system: the loss at the centre, the mean loss increase at the fixed
# radius and the top Hessian eigenvalue. With several SV seeds, each is the
# mean over SV seeds of the seed's own mean, with its spread and 95 % interval
# over SV seeds; with one, the spread over the random directions.

# %%
tables.table(study.summary, digits=3)

# %%
tables.details(tables.table(study.hessian, digits=2), "The top Hessian eigenvalue per system and seed")

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(explain.landscape_finding(study, systems)))

# %% [markdown]
# **Reading it with care.** Sharpness measures are not invariant to
# reparametrisation; filter normalisation removes the most obvious scale effect
# but not all. Three SV seeds (the map's) and a single batch set are analysed
# at the `cpu` profile: an interval over three seeds is still wide. With few
# labelled speakers every system can fit its training batches to a loss near
# zero, where most directions are flat: the finding then says so.
#
# **Tying back to the factor studies.** The upstream analysed here is the
# default of the factor studies (chapters 02-05, the same cached
# pre-training run). Whether it helps speaker verification at all is the
# question of chapter 02, on the pre-training objective (masked prediction
# against random init and fbank, over SV and pre-training seeds), and chapter 06 collects
# the verdicts: a flatter basin only matters as an explanation where those
# chapters find a benefit to explain.

# %% [markdown]
# ## Recap
#
# - Filter-normalised 1D and 2D slices of the SV training loss around each trained system.
# - Flatness in numbers: the loss increase at a fixed radius and the top Hessian eigenvalue, over seeds.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 08_loss_landscape` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/08_loss_landscape.ipynb 08_loss_landscape-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/08_loss_landscape.ipynb 08_loss_landscape-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/08_loss_landscape.ipynb 08_loss_landscape-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

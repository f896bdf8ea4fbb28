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
# # 05 · Model size
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
# **Question.** Do larger upstreams help speaker verification more? The
# paper reports that **larger models help** (its Large models beat Base).
#
# **Controlled setup.** Masked prediction on the same k-means-of-MFCC
# targets, the same audio and the same number of updates; only
# `pretrain.size` changes. At the `cpu` profile the three presets are
# `micro` (2 layers x 128), `tiny` (4 x 192, chapter 02's masked upstream)
# and `small` (6 x 256). The backend's input grows with the width, and it
# weights every layer, so a larger upstream offers it more to choose from.
# The random-init reference is the default (`tiny`) architecture. The
# smallest and the largest upstream, which the verdict compares, are each
# pre-trained with two seeds.
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
sizes = None  # size presets smallest first, or None for the profile default (cpu: micro, tiny, small)
modes = None  # list of "frozen" and "fine-tuned", or None for the profile default (frozen at cpu)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}
pretrain_overrides = {}  # dotted pre-training keys, e.g. {"optim.steps": 1000}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue

from sslsv import plots, tables
from sslsv.studies import compare, model_size, regime

where = regime.book_regime(profile)  # chapter 01b's map (served from the cache) and its rule
study = model_size.run(profile, seeds, sizes, modes,
                       where.sv_overrides(profile, overrides), where.pretrain_overrides(pretrain_overrides))

# %% tags=["nbval-ignore-output"]
ipd.display(ipd.Markdown(f"**Where this chapter runs**: {where.describe()}."))

# %% [markdown]
# ## Did pre-training work?
#
# Larger models have more parameters to fit in the same number of updates (the
# regime's budget); the
# table gives the parameter count next to the pre-training accuracy.

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
# EER and minDCF per size (smallest first), with the references as lines:

# %% tags=["nbval-ignore-output"]
fig = plots.plot_factor(study)

# %% [markdown]
# Each size against the references:

# %%
tables.table(compare.comparison_table(study), digits=None)

# %% [markdown]
# ## Which layers does the backend use?
#
# The sizes have different depths (3, 5 and 7 hidden states at the `cpu`
# profile), so the rows cover different numbers of layers.

# %% tags=["nbval-ignore-output"]
fig = plots.plot_layer_weights(study.layer_weights())

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(model_size.finding(study)))

# %% [markdown]
# **How far this reaches.** Whatever the verdict, this is a comparison at a
# fixed number of updates: every size gets the regime's number, so a larger
# model is compared further from convergence than a smaller one, and its
# larger output also gives the SV backend more inputs to fit in the same
# protocol. The paper compared models trained for their full schedules. The
# pre-training table above shows how far each size got.
# `sslsv study model_size --profile cpu --pretrain-set optim.steps=2000`
# asks whether the ordering survives four times longer pre-training, at
# four times the cost.

# %% [markdown]
# ## At the paper's scale
#
# With `-p profile paper` the sizes are `small`, `base` (12 x 768, 94.4M
# parameters, as published) and `large` (24 x 1024, 315.4M). Two Base-scale
# and one Large pre-training run of 400k updates are far beyond a CPU; we
# have not run them (no GPU). Public checkpoints of the published models
# load into the same front-end by name for a single SV system, e.g.
# `run_sv(resolve("paper", {"frontend.kind": "ssl", "frontend.upstream":
# "facebook/hubert-large-ll60k"}))` from `sslsv.sv.pipeline` and
# `sslsv.config`.

# %% [markdown]
# ## Recap
#
# - Three upstream sizes at a fixed number of updates.
# - The verdict is computed by `sslsv.studies.model_size.claim`.
# - Per-seed metrics and intervals are in the dropdown under each summary table.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 05_model_size` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/05_model_size.ipynb 05_model_size-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/05_model_size.ipynb 05_model_size-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/05_model_size.ipynb 05_model_size-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

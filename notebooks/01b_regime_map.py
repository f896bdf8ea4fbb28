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
# # 01b · Where does pre-training help?
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
# * **pre-training**: the default upstream after a number of updates: 1/8,
#   1/3 and all of the budget chapter 01a's rule reads off the learning curve
#   (from there on the upstream predicts masked frames from their context;
#   `study.regime.budget_fractions`), on the unlabelled pool, and on the
#   pool *plus* the SV training speakers' audio without labels
#   (`pretrain.in_domain`). The `cpu` profile maps the unlabelled pool only
#   (`study.regime.domains`): the rule reads the fine-tuned cells, whose
#   upstream is pre-trained there, and the in-domain columns would add about
#   47 single-core minutes to a cold book.
#
# Every upstream is probed frozen; the profile's default upstream and the
# random-init reference are also fine-tuned in every row, as the paper does
# (at the `cpu` profile the top transformer layer, `study.finetune_layers`:
# it reached the EER of fine-tuning every weight in a third of the time).
# Each cell is the difference of mean EERs over SV
# seeds, SSL minus reference, with its 95 % Welch interval: **negative means
# pre-training helps**. A bold cell is a clear difference: its 95 %
# interval excludes zero.
#
# **The protocol.** The SV backend (a light ECAPA-TDNN at the `cpu` profile)
# trains for a number of steps that grows with the number of labelled
# speakers (`study.regime.sv_steps`; at `cpu` 150, 200, 300 and 400 steps of
# 32 crops for 4, 8, 16 and 36 speakers), and the check below says whether
# each row had converged.

# %% tags=["parameters", "hide-input"]
profile = "cpu"  # "smoke", "cpu" or "paper"
speakers = None  # labelled training speakers per row, or None for the profile's (cpu: 4, 8, 16, 36)
budgets = None  # pre-training updates per column, or None: 1/8, 1/3 and all of chapter 01a's budget
seeds = None  # SV seeds per cell, or None for the profile's (3 at cpu, 1 at smoke)
overrides = {}  # dotted SV config keys, e.g. {"train.steps": 300}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

from myst_nb import glue

from sslsv import plots, tables
from sslsv.studies import compare, findings, regime

regime_map = regime.run(profile, speakers, budgets, seeds, overrides=overrides)
cells = regime_map.cells

# %% [markdown]
# ## Is the probe converged?
#
# A missing benefit is a finding only if the SV backend had finished
# learning. The references (fbank, random init frozen and fine-tuned), at
# every amount of labelled speakers, are trained again for twice the steps (and twice the warm-up), with every
# seed; the protocol fails in a row only when a reference *clearly*
# improves by more than one point: the whole 95 % interval of its
# improvement (`longer_ci_low` to `longer_ci_high`) lies beyond one point.
# A mean that moves by more than a point with an interval reaching back
# across it is noise, and the verdict must not be decided by noise either
# way. The check is one-sided on purpose: with few labelled speakers a probe
# trained longer can do *worse* (it overfits them), which means it had
# stopped learning, not that it was cut short. The rule below only picks a
# cell of a converged row.

# %%
tables.table(regime_map.convergence, digits=2)

# %% [markdown]
# ### Does minDCF carry information here?
#
# The references under the protocol, means over seeds: minimum detection
# cost at three target priors (the third computed from each run's trial
# scores) and the share of targets missed at 1 % false alarms.

# %%
costs = regime_map.detection_costs()
tables.table(costs, digits=2)

# %% tags=["nbval-ignore-output", "hide-input"]
tables.Prose(findings.detection_cost_note(costs))

# %% [markdown]
# ## The map
#
# Each upstream against the same network from random weights (top) and
# against fbank (bottom); frozen columns first, then the fine-tuned default
# upstream (against random init fine-tuned):

# %% tags=["nbval-ignore-output"]
fig = plots.plot_regime_map(cells)

# %% [markdown]
# ### What had the upstreams learned?
#
# Each pre-trained upstream of the map: its held-out masked-prediction
# accuracy against the majority-class chance, its last loss against the
# uniform guess, and its best frozen margin over random init (EER points, at
# any amount of labelled speakers).

# %%
upstreams = regime_map.upstreams()
tables.table(upstreams, digits=3)

# %% tags=["nbval-ignore-output", "hide-input"]
tables.Prose(findings.learning_note(upstreams, regime_map.chosen()))

# %% [markdown]
# Every cell, frozen and fine-tuned (differences in EER points, with their
# 95 % intervals), in the dropdown:

# %%
columns = ["labelled_speakers", "system", "budget", "domain", "mode", "eer_percent", "vs_random", "vs_random_low",
           "vs_random_high", "vs_random_clear", "vs_fbank", "vs_fbank_low", "vs_fbank_high", "vs_fbank_clear"]
tables.details(tables.table(cells[columns], digits=2), "Every cell of the map, frozen and fine-tuned")

# %% [markdown]
# ## Finding
#
# The book's regime is chosen by a rule written in code
# (`sslsv.studies.compare.choose_regime`): among the cells of the mode the
# verdicts read (fine-tuned where the factor studies fine-tune) at the
# learned budget (the map's largest, chapter 01a's: the smaller budgets show
# how the benefit grows, but their upstreams have not learned their task) in
# converged rows where the pre-trained upstream beats random init clearly, the
# largest margin, the fewer labelled speakers on a tie. With no such cell, chapters 02-08 run in
# the cell where pre-training came closest (`sslsv.studies.regime.regime_of`)
# and say that they measure shifts in a regime without a benefit.

# %% tags=["nbval-ignore-output", "hide-input"]
tables.Prose(findings.regime_finding(regime_map))

# %% tags=["nbval-ignore-output"]
glue("finding", tables.Prose(findings.regime_answer(regime_map, upstreams)))
glue("regime", tables.Prose(f"Chapters 02-08 run in {regime.book_regime(profile).describe()}."))

# %% [markdown]
# ## Recap
#
# - The map compares the default SSL upstream with random init and fbank over labelled speakers,
#   pre-training budget and pool, frozen and fine-tuned.
# - The regime of the factor studies is picked by `sslsv.studies.compare.choose_regime`, not by hand.
# - A missing benefit counts as a finding only where the convergence check passes.
#
# Re-run this chapter at each profile with papermill (from the repository root;
# `sslsv plan --notebooks 01b_regime_map` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/01b_regime_map.ipynb 01b_regime_map-smoke.ipynb -p profile smoke   # tiny synthetic corpus, minutes (CI)
# .venv/bin/papermill notebooks/01b_regime_map.ipynb 01b_regime_map-cpu.ipynb -p profile cpu     # this book's scale (a 2-core CPU)
# .venv/bin/papermill notebooks/01b_regime_map.ipynb 01b_regime_map-paper.ipynb -p profile paper \
#     -p overrides '{"corpus.voxceleb_root": "/data/voxceleb1", "corpus.librispeech_root": "/data/librispeech"}'   # VoxCeleb1 + LibriSpeech, a GPU
# ```

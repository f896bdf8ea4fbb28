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
# # 01a · Has the upstream learned its task?
#
# :::{admonition} The answer, computed from this chapter's runs
# :class: important
# ```{glue:md} answer
# :format: myst
# ```
# :::
#
# **Question.** Every later chapter compares upstreams pre-trained by masked
# prediction. Such a comparison only says something about self-supervised
# learning if the upstreams have learned what they were trained to predict.
# How many updates does the default upstream need before it has, and does
# it depend on what the voices say?
#
# **Overview.**
# 1. the two pools: the same voices and channels, saying independent
#    syllables or sentences of a language;
# 2. the learning curve of the masked-prediction task on each, held-out and
#    training, beside two chances and a quoted curve on real read speech;
# 3. the budget a rule reads off each curve.

# %% tags=["parameters", "hide-input"]
profile = "cpu"  # "smoke", "cpu" or "paper"
corpora = None  # {label: {corpus keys}} of the pools to compare; None: syllables and lexicon
overrides = {}  # dotted pre-training keys on top of the profile's, e.g. {"pretrain.n_clusters": 50}

# %% tags=["nbval-ignore-output", "hide-input"]
from sslsv.book import check_injected_parameters

check_injected_parameters()  # a misspelled papermill -p NAME stops here, before any compute

import IPython.display as ipd
from myst_nb import glue

from sslsv import plots, tables
from sslsv.data.synthetic import make_language, language_spec
from sslsv.studies import learning_curve

planned = learning_curve.plan(profile, corpora, overrides)

# %% [markdown]
# ## Two pools, one difference
#
# Both pools hold the same voices on the same channels, and each crop is
# pre-trained on in the same way. They differ in what is said:
#
# - **syllables**: every syllable is drawn independently (any onset, vowel
#   and coda). Around a masked span, the context tells the model the voice,
#   the channel and the span's edges, and little else.
# - **lexicon**: every speaker says sentences of one corpus-wide language: a
#   lexicon of words of 1-3 syllables with fixed pronunciations, a Zipfian
#   word distribution and a bigram grammar. Around a masked span, the
#   context now predicts the word, and the word predicts the phones.
#
# The language of the lexicon pool, its commonest words and how much the
# previous word says about the next:

# %%
lexicon = next((item.config.corpus for item in planned if item.config.corpus.language == "lexicon"), None)
(tables.table(make_language(language_spec(lexicon)).describe().reset_index(), digits=2) if lexicon is not None
 else ipd.Markdown("No pool of `corpora` speaks a language."))

# %% [markdown]
# ## The learning curves
#
# The default upstream of the profile is pre-trained on each pool. Every few
# updates the run scores masked prediction on a part of the pool it never
# trains on (the same utterances for every run), and records the training
# accuracy since the previous row beside it. Two chances are measured on the
# same held-out masked frames:
#
# - the **majority class**: always predict the commonest target;
# - the **context-free ceiling**: predict every masked frame's target as the
#   most frequent unmasked target of its own crop. That predictor knows the
#   voice and the channel but not the context. An upstream below it has
#   learned which targets a voice uses, not how speech continues.
#
# The black marks are quoted, not computed here: the same model and targets
# pre-trained for 1,000 updates on 0.87 h of real read speech (LibriSpeech
# train-clean-100, 251 speakers), training accuracy (crosses) and held-out
# accuracy at 1,000 updates (star). Its schedule was 1,000 updates long, so
# its learning rate decayed sooner than the curves' here.

# %% tags=["nbval-ignore-output"]
study = learning_curve.run(profile, corpora, overrides)
fig = plots.plot_learning_curves(study.curves, learning_curve.REAL_SPEECH)

# %% [markdown]
# Held-out masked accuracy of each pool at a few budgets:

# %%
tables.table(learning_curve.at_steps(study).reset_index(), digits=3)

# %% [markdown]
# ## The budget
#
# A rule in code reads the budget off each curve
# (`sslsv.pretrain.curve.learned_budget`): the smallest recorded budget from
# which held-out accuracy stays at or above 1.5x the context-free ceiling
# (`study.curve.learned_ratio`). From there on the upstream predicts masked
# frames from their context, which is the task masked prediction sets; a
# curve that never settles above that line gives no budget. The budget of the
# profile's own corpus sizes every pre-trained upstream of the book: the
# regime map pre-trains for 1/8, 1/3 and all of it, and chapters 02-08 for
# all of it (`learning_curve.book_budget`).
#
# The rule asks that the upstream uses context, not that it has finished
# learning: a plateau (`plateau_rule`: the smallest budget within 10 % of the
# accuracy at 4x that budget) lies beyond this curve on the tiny model, and a
# curve long enough to show it would cost each upstream of the book several
# times as much. The table gives the accuracy at the end of each curve as a
# multiple of the context-free ceiling and the gain over the curve's last
# quarter, so the reader sees how far the curve still climbs.
#
# Two cautions in reading it. Each curve is one run whose learning rate
# follows a cosine schedule over the whole curve, so its end flattens partly
# because the learning rate has decayed there. The book's upstreams stop early
# on that same schedule (`optim.schedule_steps`, the curve's length): an
# upstream of *b* updates has had the learning rate the curve had up to *b*,
# so the curve at *b* says what it learned (up to its seed and the held-out
# part of the pool). A run whose own schedule ended at *b* would have decayed
# sooner and learned less: the default upstream on a schedule of 1,000
# updates (`make bench-learning-curve`, its `default` case) ends lower than
# this curve at 1,000. And a held-out row scores the masked frames of a few
# fixed batches (`held_out_frames`), so its accuracy carries a sampling error
# (`acc_se`, one binomial standard error at the end of the curve).

# %%
tables.table(learning_curve.summary(study), digits=3)

# %% [markdown]
# ## Finding

# %% tags=["nbval-ignore-output"]
glue("finding", ipd.Markdown(learning_curve.finding(study)))
glue("answer", tables.Prose(learning_curve.answer(study, learning_curve.book_budget(profile).corpus)), display=False)

# %% [markdown]
# ## Recap
#
# - Held-out masked accuracy, beside the majority class and a ceiling that
#   ignores context, says whether an upstream has learned its task.
# - The chapters that follow compare upstreams pre-trained for the budget
#   this chapter's rule reads off the curve of the profile's corpus (the map,
#   chapter 01b, also for 1/8 and 1/3 of it).
# - The lexicon pool is the corpus for a fifth factor, linguistic structure:
#   the same voices and channels with and without a language.
#
# Re-run this chapter with papermill (from the repository root; `sslsv plan
# --notebooks 01a_learning_curve` prints its runs and their cost first):
#
# ```bash
# .venv/bin/papermill notebooks/01a_learning_curve.ipynb 01a-smoke.ipynb -p profile smoke   # seconds (CI)
# .venv/bin/papermill notebooks/01a_learning_curve.ipynb 01a-cpu.ipynb -p profile cpu       # this book's scale
# .venv/bin/papermill notebooks/01a_learning_curve.ipynb 01a-k50.ipynb -p profile cpu \
#     -p overrides '{"pretrain.n_clusters": 50}'   # another pre-training setting
# ```

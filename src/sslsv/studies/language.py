"""A fifth factor, beyond the paper: does the benefit need a pre-training task learnable from context?

Masked prediction learns from what the context says about a masked span. The
synthetic corpus can take that away while keeping everything else: the same
voices on the same channels say either sentences of one language (a lexicon
with a Zipfian bigram grammar, ``corpus.language = "lexicon"``) or
independent syllables (``"syllables"``), where the context says little beyond
the voice and the span's edges. No study with real speech can ask this.

The conditions differ only in what the pool says
(``pretrain.pool_language``): the SV corpus, the upstream, its targets and
its budget are the book's. The condition of the corpus's own language is the
book's default upstream (the same run as every chapter's); the other reads
the same pool voices speaking the other language
(:func:`sslsv.data.pool_corpus`).

=============  ================================================================
``lexicon``    the pool speaks the language (words, a bigram grammar)
``syllables``  the same voices say independent syllables
=============  ================================================================
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..config import Profile, resolve
from ..systems import FBANK, RANDOM
from .compare import difference
from .factors import FactorStudy, factor_runner
from .findings import describe_difference, verdict
from .runs import Condition, check_choices, references

LANGUAGES = ("lexicon", "syllables")  # also the keys; the one with a language first
WITH_LANGUAGE, WITHOUT_LANGUAGE = LANGUAGES
CLAIM = "a pool with a language helps"


def applies(profile: str | Profile, overrides: Mapping[str, Any] | None = None) -> bool:
    """Whether the profile's corpus can speak either language: the synthetic one only (real speech has its own).

    >>> applies("cpu"), applies("paper")
    (True, False)
    """
    corpus = {k: v for k, v in dict(overrides or {}).items() if k.startswith("corpus.")}
    return resolve(profile, corpus).corpus.source == "synthetic"


def conditions(profile: str | Profile, languages: Sequence[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> list[Condition]:
    """References, then one condition per pool language (validated against :data:`LANGUAGES`), keyed by it.
    The corpus's own language is the default upstream (no override); another sets ``pretrain.pool_language``.

    >>> [(c.system, dict(c.pretrain)) for c in conditions("smoke")][2:]
    [('lexicon', {'pretrain.pool_language': 'lexicon'}), ('syllables', {})]
    """
    languages = tuple(LANGUAGES if languages is None else languages)
    check_choices("languages", languages, LANGUAGES)
    corpus = {k: v for k, v in dict(overrides or {}).items() if k.startswith("corpus.")}
    own = resolve(profile, corpus).corpus.language
    return references() + [Condition(lang, pretrain={} if lang == own else {"pretrain.pool_language": lang})
                           for lang in languages]


run = factor_runner("linguistic structure", conditions, "pool language (names from LANGUAGES)",
                    deciding=lambda conds: [c.system for c in conds if not c.reference])  # both: the verdict's pair


def claim(study: FactorStudy, mode: str | None = None) -> dict[str, Any]:
    """Beyond the paper: a pool whose voices speak a language gives a better SV upstream than the same voices
    saying independent syllables.

    Reproduced when the lexicon upstream is clearly better than the syllable one; not reproduced when it is
    clearly worse; inconclusive otherwise. The difference against random init says whether pre-training on
    either pool helps at all.
    """
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    d = difference(study.per_seed, WITH_LANGUAGE, WITHOUT_LANGUAGE, mode=mode)
    vs_random = [difference(study.per_seed, lang, RANDOM, mode=mode) for lang in LANGUAGES]
    return {"claim": CLAIM, "verdict": verdict(d["clear"] and d["delta"] < 0, d["clear"] and d["delta"] > 0),
            "evidence": [d], "vs_random": vs_random}


def meaning(c: Mapping[str, Any]) -> str:
    """What the verdict of :func:`claim` means for the paper's explanation, in one sentence."""
    both_help = all(d["clear"] and d["delta"] < 0 for d in c["vs_random"])
    head = "What it means for the paper's explanation: "
    if c["verdict"] == "reproduced":
        return head + ("the benefit grows with how much of the task the context can solve: the same voices "
                       "speaking a language give the better speaker upstream.")
    if c["verdict"] == "not reproduced":
        return head + ("a task the context can solve does not help here: the same voices saying independent "
                       "syllables give the better speaker upstream.")
    if both_help:
        return head + ("here the benefit does not need a language: both pools' upstreams clearly beat random "
                       "init and tie with each other, so it comes from what the pools share (voices, channels, "
                       "the acoustics of speech, and the context within a syllable, from which the syllable "
                       "pool's masked task is still partly learnable).")
    return head + ("none yet: the two pools tie, and pre-training on them does not clearly beat random init "
                   "on both, so this comparison cannot say whether the benefit needs context.")


def masked_accuracy(study: FactorStudy) -> dict[str, float]:
    """Each pool's upstream: its held-out masked-prediction accuracy at the end of pre-training (the run's own
    evaluation on its pool), mean over its seeds."""
    t = study.pretraining_table()
    return {str(k): float(v) for k, v in t.groupby("system", sort=False)["masked_acc"].mean().items()}


def finding(study: FactorStudy, mode: str | None = None) -> str:
    """The study's finding in words, computed from the numbers."""
    mode = study.mode if mode is None else mode
    c = claim(study, mode)
    acc = masked_accuracy(study)
    lines = [f"**Verdict** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale, {mode}.",
             f"- {describe_difference(c['evidence'][0])}.",
             "- Held-out masked accuracy at the end of pre-training, each on its own pool: "
             + ", ".join(f"{lang} {acc[lang]:.3f}" for lang in LANGUAGES if lang in acc) + "."]
    lines += [f"- Against random init: {describe_difference(d)}." for d in c["vs_random"]]
    lines.append(f"- The lexicon upstream against fbank: "
                 f"{describe_difference(difference(study.per_seed, WITH_LANGUAGE, FBANK, mode=mode))}.")
    return "\n".join(lines) + "\n\n" + meaning(c)

"""A corpus-wide language: a lexicon of words and a grammar of word order.

Masked prediction learns from context.  An utterance of independent
syllables (``corpus.language = "syllables"``, the generator's original
mode) gives it almost none beyond the voice, the channel and the edges of a
masked span; read speech gives it phonotactics, words and syntax.  The
``"lexicon"`` mode makes the synthetic corpus speak a language:

- a **lexicon** (:class:`Word`): ``corpus.lexicon_size`` words of 1-3
  syllables with fixed pronunciations (syllables built like the syllable
  mode's: 0-2 onset consonants, a vowel, 0-1 coda consonant) and a fixed
  stressed syllable, each spelled by its phones (``"K AE T"`` -> ``KAET``);
- a **grammar** (:class:`Language`): a Zipfian unigram (rank ``r`` has
  probability proportional to ``1 / r ** corpus.zipf_exponent``; shorter
  words take the frequent ranks, as in real languages) that starts every
  phrase, and a bigram (Markov) model of word order: the successors of word
  ``w`` follow ``P(. | w) ~ Dirichlet(corpus.grammar_concentration *
  unigram)``.  A small concentration gives each word a few likely successors
  (a predictable language), a large one tends to the unigram (no syntax).

Every speaker says the same words with their own voice and accent (the
voice model of :mod:`.voice` applies); the language is a pure function of
``(corpus.seed, lexicon_size, grammar_concentration, zipf_exponent)``
(:func:`make_language`, cached), so the planner's tasks carry only its
:class:`LanguageSpec`.  Word alignments (:class:`WordSpan`, silences as
:data:`SILENCE_WORD`) are kept beside the phone alignments.

>>> lang = make_language(LanguageSpec(seed=0, lexicon_size=50))
>>> len(lang.words), lang.unigram.shape, lang.bigram.shape
(50, (50,), (50, 50))
>>> bool(np.allclose(lang.bigram.sum(axis=1), 1.0)), bool(lang.unigram[0] > lang.unigram[-1])
(True, True)
"""

from __future__ import annotations

import functools
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...config import ConfigError, CorpusConfig, LanguageMode
from .phones import draw_syllable

__all__ = ["LANGUAGES", "SILENCE_WORD", "Word", "WordSpan", "LanguageSpec", "Language", "language_spec",
           "make_language", "word_transcript", "write_word_alignments", "read_word_alignments",
           "bigram_counts"]

LANGUAGES = typing.get_args(LanguageMode)  # corpus.language: independent syllables (the original mode) | words
SILENCE_WORD = "<sil>"  # the word of a silence (leading, trailing, pauses) in word alignments
_MAX_SYLLABLES = 3


@dataclass(frozen=True)
class Word:
    """A lexicon entry: its spelling, phones per syllable and the stressed syllable."""

    spelling: str  # upper-case concatenation of its phone symbols, unique in the lexicon
    syllables: tuple[tuple[str, ...], ...]  # phone symbols of each syllable
    stressed: int  # index of the stressed syllable

    @property
    def phones(self) -> tuple[str, ...]:
        return tuple(p for s in self.syllables for p in s)


@dataclass(frozen=True)
class WordSpan:
    """One word of a word alignment: ``[start, end)`` seconds and its spelling (:data:`SILENCE_WORD` for silence)."""

    start: float
    end: float
    word: str


@dataclass(frozen=True)
class LanguageSpec:
    """What a language is a pure function of (small: planner tasks carry it to the workers)."""

    seed: int = 0
    lexicon_size: int = 300
    grammar_concentration: float = 20.0
    zipf_exponent: float = 1.0


@dataclass(frozen=True, eq=False)
class Language:
    """A lexicon with its grammar.

    ``unigram`` ``(V,)`` is the phrase-initial distribution over
    ``words``; ``bigram`` ``(V, V)`` holds ``P(next = j | previous = i)``
    in row ``i`` (rows sum to 1).
    """

    spec: LanguageSpec
    words: tuple[Word, ...]
    unigram: np.ndarray
    bigram: np.ndarray

    def sample_next(self, previous: int | None, rng: np.random.Generator) -> int:
        """The index of the next word: from the unigram at a phrase start (``previous=None``), else the bigram."""
        p = self.unigram if previous is None else self.bigram[previous]
        return int(rng.choice(len(self.words), p=p))

    def describe(self, top: int = 8):
        """The language in a table: its size, how long its words are, and how much the previous word says.

        The entropies are in bits per word: of the unigram, and of the next word given the previous one
        (the bigram's rows, weighted by how often each word occurs in running text: the chain's
        stationary distribution). Their difference is what context tells a listener about a word.

        >>> t = make_language(LanguageSpec(lexicon_size=50)).describe()
        >>> t.loc["words", "value"], t.loc["bits per word given the previous word", "value"] < t.loc[
        ...     "bits per word (unigram)", "value"]
        ('50', True)
        """
        import pandas as pd

        def bits(p: np.ndarray) -> float:
            p = p[p > 0]
            return float(-(p * np.log2(p)).sum())

        stationary = self.unigram.copy()
        for _ in range(200):  # power iteration: rows of an irreducible chain with positive entries
            stationary = stationary @ self.bigram
        conditional = float(sum(w * bits(row) for w, row in zip(stationary, self.bigram)))
        order = np.argsort(-stationary)[:top]
        rows = {"words": f"{len(self.words)}",
                "syllables per word (mean)": f"{np.mean([len(w.syllables) for w in self.words]):.2f}",
                "bits per word (unigram)": f"{bits(stationary):.2f}",
                "bits per word given the previous word": f"{conditional:.2f}",
                f"{top} commonest words (share of running text)":
                    ", ".join(f"{self.words[i].spelling.lower()} {stationary[i]:.3f}" for i in order)}
        return pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="quantity"))


def language_spec(cfg: CorpusConfig) -> LanguageSpec | None:
    """The :class:`LanguageSpec` of a corpus config, ``None`` in the syllable mode; an unknown mode raises.

    >>> language_spec(CorpusConfig()) is None
    True
    >>> language_spec(CorpusConfig(language="lexicon", lexicon_size=80)).lexicon_size
    80
    >>> language_spec(CorpusConfig(language="klingon"))
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: corpus.language='klingon' is unknown; valid languages: syllables, lexicon
    """
    if cfg.language not in LANGUAGES:
        raise ConfigError(f"corpus.language={cfg.language!r} is unknown; valid languages: {', '.join(LANGUAGES)}")
    if cfg.language == "syllables":
        return None
    return LanguageSpec(cfg.seed, cfg.lexicon_size, cfg.grammar_concentration, cfg.zipf_exponent)


@functools.lru_cache(maxsize=8)
def make_language(spec: LanguageSpec) -> Language:
    """The language of ``spec``, a pure function of it (cached per process).

    Words are drawn until ``spec.lexicon_size`` distinct spellings exist;
    ranks go to shorter words first (ties broken at random), the unigram is
    Zipfian over the ranks, and each bigram row is a Dirichlet draw around
    the unigram with concentration ``spec.grammar_concentration``.

    >>> a, b = make_language(LanguageSpec(lexicon_size=20)), make_language(LanguageSpec(lexicon_size=20, seed=1))
    >>> a.words == make_language(LanguageSpec(lexicon_size=20)).words, a.words == b.words
    (True, False)
    >>> len({w.spelling for w in a.words}), {len(w.syllables) for w in a.words} <= {1, 2, 3}
    (20, True)
    """
    if spec.lexicon_size < 2:
        raise ConfigError(f"corpus.lexicon_size={spec.lexicon_size}: a language needs at least 2 words")
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0x1E71C0]))
    words: list[Word] = []
    spellings: set[str] = set()
    attempts = 0
    while len(words) < spec.lexicon_size:
        attempts += 1
        if attempts > 100 * spec.lexicon_size:
            raise ConfigError(f"corpus.lexicon_size={spec.lexicon_size}: could not draw that many distinct words")
        n_syll = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
        syllables = tuple(draw_syllable(rng) for _ in range(n_syll))
        spelling = "".join(p for s in syllables for p in s)
        if spelling in spellings:
            continue
        spellings.add(spelling)
        words.append(Word(spelling, syllables, int(rng.integers(0, n_syll))))
    # frequent ranks to short words: sort by phone count plus noise
    order = np.argsort([len(w.phones) + rng.uniform(0, 3) for w in words], kind="stable")
    words = [words[i] for i in order]
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    unigram = ranks ** -spec.zipf_exponent
    unigram /= unigram.sum()
    alpha = np.maximum(spec.grammar_concentration * unigram, 1e-300)
    bigram = rng.gamma(alpha[None, :].repeat(len(words), axis=0))
    sums = bigram.sum(axis=1, keepdims=True)
    empty = sums[:, 0] <= 0  # every gamma draw underflowed (tiny concentrations): fall back to the unigram
    bigram[empty] = unigram
    sums[empty] = 1.0
    bigram /= sums
    return Language(spec, tuple(words), unigram, bigram)


def word_transcript(words: Sequence[WordSpan]) -> str:
    """The word transcript: spellings, silences left out (upper case, as LibriSpeech).

    >>> word_transcript([WordSpan(0, .1, SILENCE_WORD), WordSpan(.1, .3, "KAET"), WordSpan(.3, .5, "SIY")])
    'KAET SIY'
    """
    return " ".join(w.word for w in words if w.word != SILENCE_WORD)


def write_word_alignments(path: Path, alignments: dict[str, list[WordSpan]]) -> None:
    """Write ``{key: word spans}`` as JSON lines ``{"key", "words": [[start, end, word], ...]}``, atomically."""
    from ..corpus import write_spans

    write_spans(path, alignments, "words", lambda w: [w.start, w.end, w.word])


def read_word_alignments(path: Path) -> dict[str, list[WordSpan]]:
    """Read a file written by :func:`write_word_alignments`; a bad line names file and line."""
    from ..corpus import read_spans

    return read_spans(path, "words", lambda a, b, w: WordSpan(float(a), float(b), str(w)), "word alignment")


def bigram_counts(alignments: Sequence[Sequence[WordSpan]], language: Language) -> np.ndarray:
    """Counts ``(V, V)`` of word pairs said in a row, within a phrase (a pause or silence starts a new one).

    >>> lang = make_language(LanguageSpec(lexicon_size=5))
    >>> a, b = lang.words[0].spelling, lang.words[1].spelling
    >>> spans = [WordSpan(0, 1, a), WordSpan(1, 2, b), WordSpan(2, 3, SILENCE_WORD), WordSpan(3, 4, a)]
    >>> counts = bigram_counts([spans], lang)
    >>> int(counts.sum()), int(counts[0, 1])
    (1, 1)
    """
    index = {w.spelling: i for i, w in enumerate(language.words)}
    counts = np.zeros((len(language.words),) * 2, dtype=np.int64)
    for spans in alignments:
        for a, b in zip(spans[:-1], spans[1:]):
            if a.word != SILENCE_WORD and b.word != SILENCE_WORD:
                counts[index[a.word], index[b.word]] += 1
    return counts

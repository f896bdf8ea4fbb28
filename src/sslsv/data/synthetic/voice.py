"""The voice model: speakers, their session voices, and what they say.

- the phone inventory and its syllables are :mod:`.phones`;
- a **speaker** (:class:`SpeakerParams`, drawn by :func:`sample_speaker`) is
  a voice: vocal-tract length (formant scaling), F0 mean and range, glottal
  pulse shape and spectral tilt, breathiness, jitter, shimmer, speaking rate
  and a personal "accent" (a formant offset per vowel);
- a **session** shifts the speaker's prosody and vocal effort a little
  (:func:`session_voice`);
- an **utterance** is planned as a sequence of phones with stress marks
  (:func:`plan_utterance`), kept as its phone alignment of
  :class:`~sslsv.data.corpus.Segment` s (and its word alignment,
  :func:`plan_words`): independent random syllables, or sentences of a
  corpus-wide language (:mod:`.language`); :func:`transcript` writes the
  phones out.

Nothing here makes a sound: :mod:`.source_filter` turns a plan into audio.

>>> voice = sample_speaker(np.random.default_rng(0))
>>> segments = plan_utterance(voice, 1.0, np.random.default_rng(1))
>>> segments[0].phone, segments[-1].end
('SIL', 1.0)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..corpus import Segment
from .language import SILENCE_WORD, Language, WordSpan
from .phones import PHONES, VOWELS, draw_syllable




# ---------------------------------------------------------------------------
# Speakers and sessions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerParams:
    """A synthetic voice: the source-filter parameters of one speaker.

    ``accent`` holds, per vowel of :data:`VOWELS`, multiplicative offsets of
    F1, F2, F3 (``1.05`` = 5% higher than the population target).
    """

    sex: str  # "female" | "male" (sets the F0 and vocal-tract populations)
    f0_mean_hz: float  # mean fundamental frequency
    f0_range_st: float  # intonation excursion, semitones
    formant_scale: float  # 1 / vocal-tract length factor (1.0 = 17 cm male tract)
    f4_hz: float  # speaker-specific high formants (hypopharynx, piriform fossae)
    f5_hz: float
    bandwidth_scale: float  # formant bandwidths relative to the population
    open_quotient: float  # glottal pulse: open phase / period
    pulse_skew: float  # glottal pulse: opening phase / open phase
    spectral_tilt_db: float  # extra source roll-off, dB per octave above 500 Hz
    breathiness: float  # aspiration noise relative to the voice source
    jitter: float  # cycle-to-cycle period perturbation (relative std)
    shimmer: float  # cycle-to-cycle amplitude perturbation (relative std)
    speaking_rate: float  # 1.0 = inventory durations; 1.2 = 20% faster
    accent: tuple[tuple[float, float, float], ...]  # (len(VOWELS), 3) formant factors

    def as_row(self) -> dict[str, Any]:
        """A flat dict (accent expanded to ``accent_<vowel>_F<k>``) for tables."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "accent"}
        for vowel, factors in zip(VOWELS, self.accent):
            for k, v in enumerate(factors, 1):
                row[f"accent_{vowel}_F{k}"] = round(float(v), 6)
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def _centred(rng: np.random.Generator, lo: float, hi: float, spread: float) -> float:
    """Uniform in [lo, hi] with its half-width scaled by ``spread``."""
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * spread
    return float(mid + rng.uniform(-half, half))


def sample_speaker(rng: np.random.Generator, spread: float = 1.0) -> SpeakerParams:
    """Draw a random voice; ``spread`` scales the between-speaker variability.

    >>> v = sample_speaker(np.random.default_rng(1))
    >>> 60 < v.f0_mean_hz < 320 and len(v.accent) == len(VOWELS)
    True
    """
    female = bool(rng.random() < 0.5)
    n = lambda sigma: float(rng.normal(0.0, sigma * spread))  # noqa: E731
    if female:
        f0 = float(np.clip(205.0 * np.exp(n(0.14)), 140.0, 320.0))
        scale = 1.17 * np.exp(n(0.05))
    else:
        f0 = float(np.clip(118.0 * np.exp(n(0.16)), 70.0, 190.0))
        scale = 1.0 * np.exp(n(0.05))
    accent = tuple(
        tuple(float(x) for x in np.exp(rng.normal(0.0, [0.06 * spread, 0.05 * spread, 0.04 * spread])))
        for _ in VOWELS
    )
    return SpeakerParams(
        sex="female" if female else "male",
        f0_mean_hz=f0,
        f0_range_st=_centred(rng, 1.5, 8.0, spread),
        formant_scale=float(scale),
        f4_hz=float(3400.0 * scale * np.exp(n(0.06))),
        f5_hz=float(4400.0 * scale * np.exp(n(0.06))),
        bandwidth_scale=float(np.exp(n(0.2))),
        open_quotient=_centred(rng, 0.4, 0.8, spread),
        pulse_skew=_centred(rng, 0.55, 0.85, spread),
        spectral_tilt_db=_centred(rng, 0.0, 5.0, spread) + (0.8 if female else 0.0),
        breathiness=_centred(rng, 0.02, 0.3, spread) + (0.05 if female else 0.0),
        jitter=_centred(rng, 0.002, 0.02, spread),
        shimmer=_centred(rng, 0.02, 0.14, spread),
        speaking_rate=float(np.exp(n(0.12))),
        accent=accent,
    )


def session_voice(speaker: SpeakerParams, rng: np.random.Generator, drift: float = 1.0) -> SpeakerParams:
    """The voice of ``speaker`` in one session: prosody and vocal effort drift.

    ``drift`` scales the changes (0 returns ``speaker`` unchanged): F0 mean
    about +/-1.3 semitones, F0 range, speaking rate about +/-8%, spectral
    tilt (vocal effort), breathiness, jitter and shimmer.

    >>> v = sample_speaker(np.random.default_rng(0))
    >>> session_voice(v, np.random.default_rng(1), drift=0.0) == v
    True
    """
    if drift == 0:
        return speaker
    g = rng.normal(0.0, 1.0, size=7) * drift
    return dataclasses.replace(
        speaker,
        f0_mean_hz=float(np.clip(speaker.f0_mean_hz * 2 ** (1.3 * g[0] / 12), 60.0, 350.0)),
        f0_range_st=float(np.clip(speaker.f0_range_st * np.exp(0.25 * g[1]), 0.5, 12.0)),
        speaking_rate=float(np.clip(speaker.speaking_rate * np.exp(0.08 * g[2]), 0.6, 1.6)),
        spectral_tilt_db=float(np.clip(speaker.spectral_tilt_db + 1.5 * g[3], -2.0, 9.0)),
        breathiness=float(np.clip(speaker.breathiness * np.exp(0.3 * g[4]), 0.0, 0.6)),
        jitter=float(np.clip(speaker.jitter * np.exp(0.25 * g[5]), 0.0, 0.05)),
        shimmer=float(np.clip(speaker.shimmer * np.exp(0.25 * g[6]), 0.0, 0.3)),
    )


# ---------------------------------------------------------------------------
# Utterance plan: phones, durations, stress
# ---------------------------------------------------------------------------


def _plan(speaker: SpeakerParams, seconds: float, rng: np.random.Generator,
          language: Language | None = None) -> tuple[list[Segment], list[bool], list[WordSpan]]:
    """Phone segments exactly covering ``[0, seconds)``, a stress flag per segment, and the word spans.

    ``language=None`` draws independent syllables (the original mode; its draws are unchanged, so a
    seed gives the same corpus as before words existed); a :class:`~.language.Language` draws words
    from its grammar.  Word spans cover ``[0, seconds)`` too, silences as ``SILENCE_WORD``; in the
    syllable mode a "word" is the run of 1-3 syllables drawn together, spelled by its phones.
    """
    segs: list[tuple[str, float]] = []
    stress: list[bool] = []
    word_of: list[int] = []  # per segment: index into spellings, -1 for silence
    spellings: list[str] = []
    lead = rng.uniform(0.05, 0.3)
    trail = rng.uniform(0.05, 0.3)
    segs.append(("SIL", lead))
    stress.append(False)
    word_of.append(-1)
    body_end = max(lead, seconds - trail)
    t = lead
    rate = speaker.speaking_rate
    previous: int | None = None  # the previous word of the phrase (lexicon mode)
    while t < body_end:
        if language is None:
            n_syll = int(rng.integers(1, 4))
            stressed = int(rng.integers(0, n_syll))
            syllables = None
        else:
            previous = language.sample_next(previous, rng)
            word = language.words[previous]
            syllables, stressed = word.syllables, word.stressed
            n_syll = len(syllables)
        spelled: list[str] = []
        for s in range(n_syll):
            units = list(draw_syllable(rng) if syllables is None else syllables[s])
            for u in units:
                is_stressed = s == stressed and PHONES[u].phone_class == "vowel"
                d = PHONES[u].duration_ms / 1000 / rate * float(np.exp(rng.normal(0, 0.2)))
                d *= 1.35 if is_stressed else 1.0
                segs.append((u, max(0.03, d)))
                stress.append(is_stressed)
                word_of.append(len(spellings))
                spelled.append(u)
                t += segs[-1][1]
        spellings.append("".join(spelled))
        if rng.random() < 0.15:  # a pause between phrases
            segs.append(("SIL", float(rng.uniform(0.1, 0.4))))
            stress.append(False)
            word_of.append(-1)
            t += segs[-1][1]
            previous = None
    # place segments, cut at the body end, then the trailing silence
    out: list[Segment] = []
    out_stress: list[bool] = []
    out_word: list[int] = []
    start = 0.0
    for (p, d), st, w in zip(segs, stress, word_of):
        end = min(start + d, body_end)
        if end - start < 1e-6:
            break
        out.append(Segment(round(start, 4), round(end, 4), p, PHONES[p].phone_class))
        out_stress.append(st)
        out_word.append(w)
        start = end
        if start >= body_end:
            break
    if out[-1].phone == "SIL":
        out[-1] = Segment(out[-1].start, round(seconds, 4), "SIL", "silence")
    elif seconds - start > 1e-6:
        out.append(Segment(round(start, 4), round(seconds, 4), "SIL", "silence"))
        out_stress.append(False)
        out_word.append(-1)
    return out, out_stress, _word_spans(out, out_word, spellings)


def _word_spans(segments: list[Segment], word_of: list[int], spellings: list[str]) -> list[WordSpan]:
    """Merge the phone segments of each word occurrence (and each run of silence) into one span."""
    spans: list[WordSpan] = []
    last = None
    for seg, w in zip(segments, word_of):
        if spans and w == last:
            spans[-1] = WordSpan(spans[-1].start, seg.end, spans[-1].word)
        else:
            spans.append(WordSpan(seg.start, seg.end, SILENCE_WORD if w < 0 else spellings[w]))
        last = w
    return spans


def plan_utterance(speaker: SpeakerParams, seconds: float, rng: np.random.Generator,
                   language: Language | None = None) -> list[Segment]:
    """The phone alignment :func:`~.source_filter.synthesize_utterance` would produce with ``rng``.

    Planning is the first use of ``rng`` in synthesis, so a generator seeded
    like the one given to :func:`~.source_filter.synthesize_utterance` yields
    its alignment without synthesising audio.

    >>> v = sample_speaker(np.random.default_rng(0))
    >>> segs = plan_utterance(v, 2.0, np.random.default_rng(5))
    >>> from sslsv.data.synthetic import synthesize_utterance
    >>> segs == synthesize_utterance(v, None, 2.0, np.random.default_rng(5))[1]
    True
    >>> from sslsv.data.corpus import PHONE_CLASSES
    >>> {s.phone_class for s in segs} <= set(PHONE_CLASSES)
    True
    """
    return _plan(speaker, seconds, rng, language)[0]


def plan_words(speaker: SpeakerParams, seconds: float, rng: np.random.Generator,
               language: Language | None = None) -> list[WordSpan]:
    """The word alignment of the utterance :func:`plan_utterance` plans with the same ``rng`` state.

    Spans cover ``[0, seconds)`` exactly; silences are ``SILENCE_WORD``.

    >>> from sslsv.data.synthetic.language import LanguageSpec, make_language
    >>> lang = make_language(LanguageSpec(lexicon_size=30))
    >>> v = sample_speaker(np.random.default_rng(0))
    >>> words = plan_words(v, 2.0, np.random.default_rng(5), lang)
    >>> words[0].word, words[0].start, words[-1].end, {w.word for w in words[1:-1]} <= {SILENCE_WORD} | {
    ...     w.spelling for w in lang.words}
    ('<sil>', 0.0, 2.0, True)
    """
    return _plan(speaker, seconds, rng, language)[2]


def transcript(segments: Sequence[Segment]) -> str:
    """The phone transcript: upper-case symbols, silences left out.

    >>> transcript([Segment(0, .1, "SIL", "silence"), Segment(.1, .2, "AA", "vowel")])
    'AA'
    """
    return " ".join(s.phone.upper() for s in segments if s.phone_class != "silence")

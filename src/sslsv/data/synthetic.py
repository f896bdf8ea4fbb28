"""A procedural multi-speaker speech corpus: speakers, utterances, sessions.

No dataset can be downloaded on our machines, so the project synthesises its
own speech with a classic *source-filter* model, fast enough in numpy to
write a corpus of hours on a laptop CPU:

- a **speaker** (:class:`SpeakerParams`) is a voice: vocal-tract length
  (formant scaling), F0 mean and range, glottal pulse shape and spectral tilt,
  breathiness, jitter, shimmer, speaking rate and a personal "accent" (a
  formant offset per vowel);
- an **utterance** is a random sequence of phone-like units from
  :data:`PHONES` (vowels with formant targets and coarticulated formant
  tracks, nasals, fricative noise bands, plosive closures and bursts,
  pauses) under an intonation contour; its phone alignment is kept as
  :class:`~sslsv.data.corpus.Segment` s;
- a **session** is a channel (:class:`ChannelParams`): band-limiting and EQ,
  optional reverberation, additive noise at a random SNR, gain; a session
  also shifts the speaker's prosody a little (:func:`session_voice`).

Synthesis works on a short-time spectrum (``n_fft`` 512, hop 160 at 16 kHz):
the excitation (a jittered, shimmered glottal pulse train plus noise) is
multiplied frame by frame by a spectral envelope computed, vectorised, from
the formant tracks and noise bands, then turned back into a waveform.

:func:`generate_corpus` writes the corpus to disk in the VoxCeleb1 layout
(plus a Vox1-O style trial list) and an unlabelled pre-training pool in the
LibriSpeech layout, deterministically from ``CorpusConfig.seed``, in
parallel, cached and resumable.

>>> rng = np.random.default_rng(0)
>>> voice = sample_speaker(rng)
>>> wave, segments = synthesize_utterance(voice, None, 1.0, rng)
>>> wave.shape, wave.dtype
((16000,), dtype('float32'))
>>> segments[0].start, segments[-1].end
(0.0, 1.0)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..config import CorpusConfig, config_hash, to_dict
from ..lifetime import exit_with_parent
from .corpus import PHONE_CLASSES, Segment, write_alignments

GENERATOR_VERSION = 1  # bump when the audio a seed produces changes

N_FFT = 512  # analysis/synthesis frame (32 ms at 16 kHz)
HOP = 160  # 10 ms at 16 kHz

# ---------------------------------------------------------------------------
# The phone inventory
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Phone:
    """A phone-like unit: its class, articulation targets and typical duration.

    ``formants`` are F1-F3 targets (Hz, for a 17 cm vocal tract) for vowels
    and nasals, and the formant *loci* that neighbouring vowels move towards
    for obstruents.  ``noise_hz``/``noise_bw_hz`` place the frication or burst
    noise band; ``zero_hz`` is the anti-resonance of a nasal.
    """

    phone_class: str
    formants: tuple[float, float, float] = (500.0, 1500.0, 2500.0)
    voiced: bool = True
    duration_ms: float = 80.0
    amplitude: float = 1.0  # relative source level
    noise_hz: float = 0.0
    noise_bw_hz: float = 0.0
    zero_hz: float = 0.0


# Vowel targets follow Peterson & Barney (1952) adult male averages.
PHONES: dict[str, Phone] = {
    # vowels
    "IY": Phone("vowel", (270, 2290, 3010), duration_ms=95),
    "IH": Phone("vowel", (390, 1990, 2550), duration_ms=75),
    "EH": Phone("vowel", (530, 1840, 2480), duration_ms=80),
    "AE": Phone("vowel", (660, 1720, 2410), duration_ms=110),
    "AA": Phone("vowel", (730, 1090, 2440), duration_ms=110),
    "AO": Phone("vowel", (570, 840, 2410), duration_ms=105),
    "UH": Phone("vowel", (440, 1020, 2240), duration_ms=75),
    "UW": Phone("vowel", (300, 870, 2240), duration_ms=95),
    "AH": Phone("vowel", (640, 1190, 2390), duration_ms=70),
    "ER": Phone("vowel", (490, 1350, 1690), duration_ms=100),
    # nasals: low murmur formant plus an anti-resonance set by the place
    "M": Phone("nasal", (250, 1100, 2200), duration_ms=65, amplitude=0.45, zero_hz=1000),
    "N": Phone("nasal", (250, 1500, 2500), duration_ms=60, amplitude=0.45, zero_hz=1800),
    "NG": Phone("nasal", (250, 2000, 2700), duration_ms=70, amplitude=0.4, zero_hz=3000),
    # fricatives: a noise band (voiced ones add a weaker voice source)
    "S": Phone("fricative", (350, 1700, 2600), voiced=False, duration_ms=100, amplitude=0.35,
               noise_hz=6000, noise_bw_hz=1500),
    "Z": Phone("fricative", (350, 1700, 2600), duration_ms=80, amplitude=0.25,
               noise_hz=6000, noise_bw_hz=1500),
    "SH": Phone("fricative", (350, 1900, 2500), voiced=False, duration_ms=105, amplitude=0.35,
                noise_hz=3200, noise_bw_hz=1000),
    "ZH": Phone("fricative", (350, 1900, 2500), duration_ms=80, amplitude=0.25,
                noise_hz=3200, noise_bw_hz=1000),
    "F": Phone("fricative", (350, 900, 2300), voiced=False, duration_ms=95, amplitude=0.12,
               noise_hz=5000, noise_bw_hz=4000),
    "V": Phone("fricative", (350, 900, 2300), duration_ms=70, amplitude=0.1,
               noise_hz=5000, noise_bw_hz=4000),
    "TH": Phone("fricative", (350, 1400, 2600), voiced=False, duration_ms=90, amplitude=0.1,
                noise_hz=6500, noise_bw_hz=3500),
    "HH": Phone("fricative", (500, 1500, 2500), voiced=False, duration_ms=65, amplitude=0.2,
                noise_hz=0.0, noise_bw_hz=0.0),  # aspiration through the vowel's tract
    # plosives: closure, then a burst at the place's noise band
    "P": Phone("plosive", (300, 900, 2200), voiced=False, duration_ms=85, amplitude=0.5,
               noise_hz=1000, noise_bw_hz=2500),
    "B": Phone("plosive", (300, 900, 2200), duration_ms=70, amplitude=0.4,
               noise_hz=1000, noise_bw_hz=2500),
    "T": Phone("plosive", (300, 1700, 2600), voiced=False, duration_ms=85, amplitude=0.6,
               noise_hz=4500, noise_bw_hz=2000),
    "D": Phone("plosive", (300, 1700, 2600), duration_ms=70, amplitude=0.45,
               noise_hz=4500, noise_bw_hz=2000),
    "K": Phone("plosive", (300, 2100, 2500), voiced=False, duration_ms=90, amplitude=0.55,
               noise_hz=2200, noise_bw_hz=900),
    "G": Phone("plosive", (300, 2100, 2500), duration_ms=75, amplitude=0.45,
               noise_hz=2200, noise_bw_hz=900),
    # silences
    "SIL": Phone("silence", duration_ms=200, amplitude=0.0),
}
VOWELS: tuple[str, ...] = tuple(p for p, s in PHONES.items() if s.phone_class == "vowel")
CONSONANTS: tuple[str, ...] = tuple(p for p, s in PHONES.items() if s.phone_class in ("nasal", "fricative", "plosive"))
assert all(s.phone_class in PHONE_CLASSES for s in PHONES.values())

_PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}

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


NOISE_TYPES = ("white", "pink", "brown", "babble")


@dataclass(frozen=True)
class ChannelParams:
    """A recording session: microphone/line response, room, background, level."""

    low_cut_hz: float  # high-pass corner (microphone, line)
    high_cut_hz: float  # low-pass corner (band-limiting, codec)
    eq_hz: tuple[float, ...]  # centre frequencies of peaking EQ bands
    eq_gain_db: tuple[float, ...]  # their gains
    eq_width_oct: tuple[float, ...]  # their widths (octaves)
    rt60_s: float  # reverberation time; 0 = no reverberation
    drr_db: float  # direct-to-reverberant energy ratio
    noise_type: str  # one of NOISE_TYPES
    snr_db: float  # session SNR (each utterance varies around it)
    gain_db: float  # output level relative to -20 dBFS speech

    def as_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        for k in ("eq_hz", "eq_gain_db", "eq_width_oct"):
            row[k] = " ".join(f"{v:.3f}" for v in row[k])
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def sample_channel(rng: np.random.Generator, cfg: CorpusConfig | None = None) -> ChannelParams:
    """Draw a session channel with the difficulty knobs of ``cfg``.

    >>> ch = sample_channel(np.random.default_rng(0))
    >>> ch.noise_type in NOISE_TYPES and ch.low_cut_hz < ch.high_cut_hz
    True
    """
    cfg = cfg or CorpusConfig()
    cv = max(0.0, cfg.channel_variability)
    n_bands = 2
    reverberant = rng.random() < cfg.reverb_probability
    return ChannelParams(
        low_cut_hz=float(30.0 + rng.uniform(0.0, 1.0) * 270.0 * cv),
        high_cut_hz=float(min(7900.0, 7900.0 - rng.uniform(0.0, 1.0) ** 1.5 * 4400.0 * cv)),
        eq_hz=tuple(float(x) for x in np.exp(rng.uniform(np.log(150.0), np.log(6000.0), n_bands))),
        eq_gain_db=tuple(float(x) for x in rng.uniform(-10.0, 10.0, n_bands) * cv),
        eq_width_oct=tuple(float(x) for x in rng.uniform(0.5, 2.0, n_bands)),
        rt60_s=float(rng.uniform(0.2, max(0.2, cfg.rt60_max_s))) if reverberant else 0.0,
        drr_db=float(rng.uniform(-3.0, 10.0)),
        noise_type=str(rng.choice(NOISE_TYPES)),
        snr_db=float(rng.uniform(cfg.snr_db_min, cfg.snr_db_max)),
        gain_db=float(rng.uniform(-8.0, 6.0)),
    )


# ---------------------------------------------------------------------------
# Utterance plan: phones, durations, stress
# ---------------------------------------------------------------------------


def _pick_consonant(rng: np.random.Generator) -> str:
    weights = {"nasal": 1.0, "fricative": 1.4, "plosive": 1.6}
    w = np.array([weights[PHONES[c].phone_class] for c in CONSONANTS])
    return str(CONSONANTS[rng.choice(len(CONSONANTS), p=w / w.sum())])


def _plan(speaker: SpeakerParams, seconds: float, rng: np.random.Generator) -> tuple[list[Segment], list[bool]]:
    """Phone segments exactly covering ``[0, seconds)`` and a stress flag per segment."""
    segs: list[tuple[str, float]] = []
    stress: list[bool] = []
    lead = rng.uniform(0.05, 0.3)
    trail = rng.uniform(0.05, 0.3)
    segs.append(("SIL", lead))
    stress.append(False)
    body_end = max(lead, seconds - trail)
    t = lead
    rate = speaker.speaking_rate
    while t < body_end:
        n_syll = int(rng.integers(1, 4))
        stressed = int(rng.integers(0, n_syll))
        for s in range(n_syll):
            onset = int(rng.choice([0, 1, 1, 1, 2]))
            coda = int(rng.choice([0, 0, 1]))
            units = [_pick_consonant(rng) for _ in range(onset)]
            units.append(str(VOWELS[rng.integers(len(VOWELS))]))
            units += [_pick_consonant(rng) for _ in range(coda)]
            for u in units:
                is_stressed = s == stressed and PHONES[u].phone_class == "vowel"
                d = PHONES[u].duration_ms / 1000 / rate * float(np.exp(rng.normal(0, 0.2)))
                d *= 1.35 if is_stressed else 1.0
                segs.append((u, max(0.03, d)))
                stress.append(is_stressed)
                t += segs[-1][1]
        if rng.random() < 0.15:  # a pause between phrases
            segs.append(("SIL", float(rng.uniform(0.1, 0.4))))
            stress.append(False)
            t += segs[-1][1]
    # place segments, cut at the body end, then the trailing silence
    out: list[Segment] = []
    out_stress: list[bool] = []
    start = 0.0
    for (p, d), st in zip(segs, stress):
        end = min(start + d, body_end)
        if end - start < 1e-6:
            break
        out.append(Segment(round(start, 4), round(end, 4), p, PHONES[p].phone_class))
        out_stress.append(st)
        start = end
        if start >= body_end:
            break
    if out[-1].phone == "SIL":
        out[-1] = Segment(out[-1].start, round(seconds, 4), "SIL", "silence")
    elif seconds - start > 1e-6:
        out.append(Segment(round(start, 4), round(seconds, 4), "SIL", "silence"))
        out_stress.append(False)
    return out, out_stress


def plan_utterance(speaker: SpeakerParams, seconds: float, rng: np.random.Generator) -> list[Segment]:
    """The phone alignment :func:`synthesize_utterance` would produce with ``rng``.

    Planning is the first use of ``rng`` in synthesis, so a generator seeded
    like the one given to :func:`synthesize_utterance` yields its alignment
    without synthesising audio.

    >>> v = sample_speaker(np.random.default_rng(0))
    >>> segs = plan_utterance(v, 2.0, np.random.default_rng(5))
    >>> segs == synthesize_utterance(v, None, 2.0, np.random.default_rng(5))[1]
    True
    >>> {s.phone_class for s in segs} <= set(PHONE_CLASSES)
    True
    """
    return _plan(speaker, seconds, rng)[0]


def transcript(segments: Sequence[Segment]) -> str:
    """The phone transcript: upper-case symbols, silences left out.

    >>> transcript([Segment(0, .1, "SIL", "silence"), Segment(.1, .2, "AA", "vowel")])
    'AA'
    """
    return " ".join(s.phone.upper() for s in segments if s.phone_class != "silence")


# ---------------------------------------------------------------------------
# Source-filter synthesis on a short-time spectrum
# ---------------------------------------------------------------------------

_WINDOWS: dict[int, np.ndarray] = {}


def _window(n_fft: int) -> np.ndarray:
    if n_fft not in _WINDOWS:
        _WINDOWS[n_fft] = np.hanning(n_fft + 1)[:-1].astype(np.float64)
    return _WINDOWS[n_fft]


def _n_frames(n_samples: int) -> int:
    return n_samples // HOP + 1


def _stft(x: np.ndarray) -> np.ndarray:
    """Centred STFT, ``(n_samples,) -> (n_frames, N_FFT // 2 + 1)`` complex."""
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad + HOP))
    frames = np.lib.stride_tricks.sliding_window_view(xp, N_FFT)[:: HOP][: _n_frames(len(x))]
    return np.fft.rfft(frames * _window(N_FFT), axis=1)


def _istft(spec: np.ndarray, n_samples: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft`, ``-> (n_samples,)``."""
    w = _window(N_FFT)
    k = -(-N_FFT // HOP)  # hops spanned by one frame
    n_frames = spec.shape[0]
    frames = np.zeros((n_frames, k * HOP))
    frames[:, :N_FFT] = np.fft.irfft(spec, n=N_FFT, axis=1) * w
    w2 = np.zeros(k * HOP)
    w2[:N_FFT] = w * w
    out = np.zeros((n_frames + k - 1, HOP))
    norm = np.zeros((n_frames + k - 1, HOP))
    blocks = frames.reshape(n_frames, k, HOP)
    w2 = w2.reshape(k, HOP)
    for j in range(k):  # frame t's j-th hop lands in output block t + j
        out[j: j + n_frames] += blocks[:, j]
        norm[j: j + n_frames] += w2[j]
    pad = N_FFT // 2
    out = out.ravel()[pad: pad + n_samples]
    norm = norm.ravel()[pad: pad + n_samples]
    return out / np.maximum(norm, 1e-8)


def _glottal_spectrum(speaker: SpeakerParams, freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Magnitude of one differentiated Rosenberg pulse times the extra tilt, ``(n_bins,)``."""
    period = sample_rate / speaker.f0_mean_hz
    t_open = speaker.open_quotient * period
    tp = max(1.0, speaker.pulse_skew * t_open)
    tn = max(1.0, t_open - tp)
    n = np.arange(N_FFT, dtype=np.float64)
    g = np.where(n < tp, 0.5 * (1 - np.cos(np.pi * n / tp)),
                 np.where(n < tp + tn, np.cos(np.pi * (n - tp) / (2 * tn)), 0.0))
    dg = np.diff(g, prepend=0.0)  # radiation at the lips ~ differentiation
    mag = np.abs(np.fft.rfft(dg, n=N_FFT))
    mag /= mag.max() + 1e-12
    octaves = np.log2(np.maximum(freqs, 500.0) / 500.0)
    return mag * 10 ** (-speaker.spectral_tilt_db * octaves / 20)


def _pulse_train(f0: np.ndarray, speaker: SpeakerParams, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Glottal closure impulses following ``f0`` (per sample), jittered and shimmered."""
    n = len(f0)
    phase = np.cumsum(f0 / sample_rate)
    n_pulses = int(phase[-1])
    if n_pulses < 1:
        return np.zeros(n)
    times = np.interp(np.arange(1, n_pulses + 1), phase, np.arange(n, dtype=np.float64))
    period = sample_rate / np.interp(times, np.arange(n), f0)
    times = times + rng.normal(0.0, 1.0, n_pulses) * speaker.jitter * period
    amps = np.exp(rng.normal(0.0, speaker.shimmer, n_pulses)) * np.sqrt(period)  # unit power
    times = np.clip(times, 0, n - 1.001)
    i0 = times.astype(np.int64)
    frac = times - i0
    out = np.zeros(n + 1)
    np.add.at(out, i0, amps * (1 - frac))
    np.add.at(out, i0 + 1, amps * frac)
    return out[:n]


def _resonances(freqs: np.ndarray, formants: np.ndarray, bandwidths: np.ndarray) -> np.ndarray:
    """Magnitude of cascaded 2-pole resonators (unit gain at 0 Hz).

    ``freqs (bins,)``, ``formants (frames, k)``, ``bandwidths (frames, k) -> (frames, bins)``.

    >>> h = _resonances(np.array([0.0, 500.0]), np.array([[500.0]]), np.array([[50.0]]))
    >>> h.round(2).tolist()
    [[1.0, 10.0]]
    """
    f2 = (formants ** 2)[:, :, None]
    fr2 = freqs ** 2
    power = f2 * f2 / ((f2 - fr2) ** 2 + (bandwidths[:, :, None] ** 2) * fr2 + 1e-9)
    return np.sqrt(power.prod(axis=1))


def _contours(segments: list[Segment], stress: list[bool], speaker: SpeakerParams, n_frames: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Frame-level control tracks from the phone plan (each ``(n_frames,)`` or ``(n_frames, 3)``)."""
    t = np.arange(n_frames) * HOP / 16000.0
    ends = np.array([s.end for s in segments])
    idx = np.minimum(np.searchsorted(ends, t, side="right"), len(segments) - 1)
    specs = [PHONES[s.phone] for s in segments]
    cls = np.array([PHONE_CLASSES.index(s.phone_class) for s in segments])[idx]

    # formant anchors: vowels hold a steady state, consonants pull towards their loci
    anchor_t: list[float] = []
    anchor_f: list[np.ndarray] = []
    for s, p in zip(segments, specs):
        if p.phone_class == "silence":
            continue
        f = np.array(p.formants, dtype=np.float64)
        if p.phone_class == "vowel":
            f = f * np.array(speaker.accent[VOWELS.index(s.phone)])
            d = s.end - s.start
            anchor_t += [s.start + 0.3 * d, s.end - 0.3 * d]
            anchor_f += [f, f]
        else:
            anchor_t.append(0.5 * (s.start + s.end))
            anchor_f.append(f)
    if not anchor_t:
        anchor_t, anchor_f = [0.0], [np.array(PHONES["AH"].formants, dtype=np.float64)]
    at = np.array(anchor_t)
    af = np.array(anchor_f)
    formants = np.stack([np.interp(t, at, af[:, k]) for k in range(3)], axis=1) * speaker.formant_scale

    # source levels per phone
    voiced_amp = np.array([p.amplitude if (p.voiced and p.phone_class in ("vowel", "nasal")) else
                           (0.35 if p.voiced and p.phone_class == "fricative" else
                            (0.08 if p.voiced and p.phone_class == "plosive" else 0.0))
                           for p in specs])
    stress_gain = np.where(np.array(stress), 1.4, 1.0)
    av = (voiced_amp * stress_gain)[idx]
    # plosives: closure (voice bar for voiced ones) then a burst in the last 15 ms
    burst = np.zeros(n_frames)
    fric = np.zeros(n_frames)
    for i, (s, p) in enumerate(zip(segments, specs)):
        sel = idx == i
        if p.phone_class == "plosive":
            b = sel & (t >= s.end - 0.02)
            if not b.any():
                b = sel & (t >= t[sel].max() - 1e-9) if sel.any() else b
            burst[b] = p.amplitude
        elif p.phone_class == "fricative":
            fric[sel] = p.amplitude
    # smooth transitions over ~ +/- 15 ms
    k = np.array([0.15, 0.7, 0.15])
    av = np.convolve(av, k, mode="same")
    nasal = np.convolve((cls == PHONE_CLASSES.index("nasal")).astype(np.float64), k, mode="same")
    zero_hz = np.array([p.zero_hz or 1500.0 for p in specs])[idx] * speaker.formant_scale
    noise_hz = np.array([p.noise_hz for p in specs])[idx]
    noise_bw = np.array([p.noise_bw_hz for p in specs])[idx]
    aspirate = np.array([p.noise_hz == 0 and p.phone_class == "fricative" for p in specs])[idx]

    # intonation: declination per phrase, pitch accents on stressed vowels, slow drift
    st = np.zeros(n_frames)
    pauses = [0.0] + [0.5 * (s.start + s.end) for s in segments if s.phone == "SIL"] + [t[-1] + 1e-3]
    for a, b in zip(pauses[:-1], pauses[1:]):
        sel = (t >= a) & (t < b)
        if sel.any():
            st[sel] = speaker.f0_range_st * (0.4 - 0.8 * (t[sel] - a) / max(b - a, 1e-3))
            if rng.random() < 0.2:  # a final rise
                st[sel] += speaker.f0_range_st * 0.8 * np.clip((t[sel] - (b - 0.3)) / 0.3, 0, 1)
    for s, strs in zip(segments, stress):
        if strs:
            c = 0.5 * (s.start + s.end)
            st += speaker.f0_range_st * rng.uniform(0.3, 0.8) * np.exp(-0.5 * ((t - c) / 0.08) ** 2)
    drift = np.cumsum(rng.normal(0, 0.15, n_frames))
    drift = np.convolve(drift - drift.mean(), np.ones(15) / 15, mode="same")
    f0 = speaker.f0_mean_hz * 2 ** ((st + drift) / 12)
    return dict(formants=formants, av=av, burst=burst, fric=fric, nasal=nasal, zero_hz=zero_hz,
                noise_hz=noise_hz, noise_bw=noise_bw, aspirate=aspirate.astype(np.float64), f0=f0,
                burst_hz=np.array([p.noise_hz if p.phone_class == "plosive" else 0.0 for p in specs])[idx],
                burst_bw=np.array([p.noise_bw_hz if p.phone_class == "plosive" else 1.0 for p in specs])[idx])


def _clean_speech(speaker: SpeakerParams, seconds: float, rng: np.random.Generator,
                  sample_rate: int) -> tuple[np.ndarray, list[Segment]]:
    if sample_rate != 16000:
        raise ValueError("the synthesiser works at 16 kHz (frame rate and phone durations assume it)")
    n = int(round(seconds * sample_rate))
    segments, stress = _plan(speaker, n / sample_rate, rng)
    n_frames = _n_frames(n)
    c = _contours(segments, stress, speaker, n_frames, rng)
    freqs = np.fft.rfftfreq(N_FFT, 1 / sample_rate)

    # vocal tract: F1-F3 tracks, fixed speaker F4/F5, bandwidths growing with frequency
    formants = np.concatenate(
        [c["formants"], np.broadcast_to([speaker.f4_hz, speaker.f5_hz], (n_frames, 2))], axis=1)
    bw = np.array([70.0, 95.0, 140.0, 220.0, 300.0]) * speaker.bandwidth_scale
    bandwidths = np.broadcast_to(bw, formants.shape).copy()
    bandwidths[:, 0] += 80.0 * c["nasal"]  # nasal murmur: damped F1
    vt = _resonances(freqs, formants, bandwidths) * np.exp(-2.5)  # about unit gain for a neutral vowel
    nasal = c["nasal"]
    nz = np.flatnonzero(nasal > 0)
    if len(nz):  # nasal anti-resonance, blended in by the nasal weight
        fz = c["zero_hz"][nz, None]
        zero = np.minimum(np.sqrt((fz ** 2 - freqs ** 2) ** 2 + (150.0 * freqs) ** 2) / fz ** 2, 1.0)
        vt[nz] *= 1 - nasal[nz, None] + nasal[nz, None] * zero

    glottal = _glottal_spectrum(speaker, freqs, sample_rate)
    f0_samples = np.interp(np.arange(n) / HOP, np.arange(n_frames), c["f0"])
    pulses = _pulse_train(f0_samples, speaker, rng, sample_rate)
    voiced = _stft(pulses) * (c["av"][:, None] * glottal[None, :] * vt)

    hp = np.clip(freqs / 2000.0, 0.05, 1.0)
    noise_env = (c["av"] * speaker.breathiness * 0.6)[:, None] * vt * hp  # aspiration
    fr = np.flatnonzero(c["fric"] > 0)
    if len(fr):  # frication: a noise band, or aspiration through the tract for HH
        band = np.exp(-0.5 * ((freqs - c["noise_hz"][fr, None]) / np.maximum(c["noise_bw"][fr, None], 1.0)) ** 2)
        shape = np.where(c["aspirate"][fr, None] > 0, vt[fr] * hp, band * 0.1)
        noise_env[fr] += c["fric"][fr, None] * shape
    bu = np.flatnonzero(c["burst"] > 0)
    if len(bu):  # plosive bursts: a place-dependent band over a flat floor
        band = np.exp(-0.5 * ((freqs - c["burst_hz"][bu, None]) / np.maximum(c["burst_bw"][bu, None], 1.0)) ** 2)
        noise_env[bu] += c["burst"][bu, None] * (band + 0.15) * 0.12
    w = _window(N_FFT)
    scale = np.sqrt((w ** 2).sum() / 2)
    noise = rng.standard_normal((2, n_frames, len(freqs)))  # white noise, drawn as its STFT
    spec = voiced + (noise[0] + 1j * noise[1]) * (noise_env * scale)
    wave = _istft(spec, n)
    rms = np.sqrt(np.mean(wave ** 2)) + 1e-9
    wave = wave * (0.1 / rms)  # -20 dBFS
    return wave, segments


# ---------------------------------------------------------------------------
# The channel
# ---------------------------------------------------------------------------


def _coloured_noise(kind: str, n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    fc = np.maximum(f, 20.0)
    if kind == "pink":
        spec /= np.sqrt(fc / 20.0)
    elif kind == "brown":
        spec /= fc / 20.0
    elif kind == "babble":  # speech-shaped noise, modulated at syllable rate
        spec /= np.sqrt(1 + (fc / 500.0) ** 2) * np.sqrt(1 + (150.0 / fc) ** 4)
    x = np.fft.irfft(spec, n=n)
    if kind == "babble":
        t = np.arange(n) / sample_rate
        env = np.ones(n)
        for _ in range(3):
            env += 0.6 * np.sin(2 * np.pi * rng.uniform(2.0, 6.0) * t + rng.uniform(0, 2 * np.pi))
        x *= np.maximum(env, 0.1)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _room_impulse_response(rt60: float, drr_db: float, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Direct path, a few early reflections, an exponentially decaying noise tail."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.normal(size=n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    onset = int(0.003 * sample_rate)
    tail[:onset] = 0.0
    tail = np.convolve(tail, [0.5, 0.5], mode="same")  # a little air absorption
    for _ in range(4):
        i = int(rng.uniform(0.003, 0.04) * sample_rate)
        tail[i] += rng.uniform(-0.6, 0.6)
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + 1e-12))
    tail[0] = 1.0
    return tail


def channel_response(channel: ChannelParams, freqs: np.ndarray) -> np.ndarray:
    """Magnitude response of the session's band-limiting and EQ at ``freqs`` (Hz).

    >>> ch = sample_channel(np.random.default_rng(0))
    >>> channel_response(ch, np.array([1000.0])).shape
    (1,)
    """
    f = np.maximum(freqs, 1.0)
    h = 1.0 / np.sqrt(1 + (channel.low_cut_hz / f) ** 4)  # 2nd-order high-pass
    h = h / np.sqrt(1 + (f / channel.high_cut_hz) ** 8)  # 4th-order low-pass
    log_gain = np.zeros_like(f)
    for fc, g, width in zip(channel.eq_hz, channel.eq_gain_db, channel.eq_width_oct):
        log_gain += g * np.exp(-0.5 * (np.log2(f / fc) / (width / 2)) ** 2)
    return h * 10 ** (log_gain / 20)


def apply_channel(wave: np.ndarray, channel: ChannelParams, rng: np.random.Generator,
                  sample_rate: int = 16000) -> np.ndarray:
    """Pass clean speech ``(n_samples,)`` through a session: room, noise, EQ, gain.

    The noise level is set against the (reverberant) speech power; the
    utterance SNR varies by about +/-2 dB around the session's.
    """
    from scipy.signal import fftconvolve

    n = len(wave)
    x = wave
    if channel.rt60_s > 0:
        ir = _room_impulse_response(channel.rt60_s, channel.drr_db, rng, sample_rate)
        x = fftconvolve(x, ir)[:n]
    p_speech = np.mean(x ** 2)
    snr = channel.snr_db + rng.normal(0.0, 2.0)
    x = x + _coloured_noise(channel.noise_type, n, rng, sample_rate) * np.sqrt(p_speech * 10 ** (-snr / 10))
    spec = np.fft.rfft(x)
    x = np.fft.irfft(spec * channel_response(channel, np.fft.rfftfreq(n, 1 / sample_rate)), n=n)
    x = x * (0.1 / (np.sqrt(np.mean(x ** 2)) + 1e-12)) * 10 ** (channel.gain_db / 20)
    return x


def synthesize_utterance(speaker: SpeakerParams, channel: ChannelParams | None, seconds: float,
                         rng: np.random.Generator, sample_rate: int = 16000) -> tuple[np.ndarray, list[Segment]]:
    """Synthesise one utterance of ``speaker`` recorded through ``channel``.

    ``channel=None`` gives clean speech (no room, noise or EQ).  Returns the
    waveform ``(round(seconds * sample_rate),)`` float32 in ``[-1, 1]`` and
    its phone alignment, segments that cover ``[0, seconds)`` exactly.

    >>> rng = np.random.default_rng(3)
    >>> v, ch = sample_speaker(rng), sample_channel(rng)
    >>> wave, segs = synthesize_utterance(v, ch, 0.5, rng)
    >>> wave.shape, bool(np.abs(wave).max() <= 1.0)
    ((8000,), True)
    """
    wave, segments = _clean_speech(speaker, seconds, rng, sample_rate)
    if channel is not None:
        wave = apply_channel(wave, channel, rng, sample_rate)
    peak = np.abs(wave).max()
    if peak > 0.99:  # a limiter rather than clipping
        wave = wave * (0.99 / peak)
    return wave.astype(np.float32), segments


# ---------------------------------------------------------------------------
# The corpus on disk
# ---------------------------------------------------------------------------

# RNG domains: every random draw is keyed by (seed, domain, ...), never by order
_D_SPEAKER, _D_SESSION, _D_UTT, _D_DURATION, _D_TRIALS, _D_NAME = range(6)
_SPLITS = {"train": 0, "test": 1, "pretrain": 2}
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
VOX1_TEST_FIRST_ID = 10270  # Vox1-O test speakers are id10270..id10309


def _rng(cfg: CorpusConfig, domain: int, *key: int) -> np.random.Generator:
    words = [cfg.seed, domain, *key] + [0] * (4 - len(key))
    return np.random.default_rng(np.random.SeedSequence(words))


def _entropy(cfg: CorpusConfig, domain: int, *key: int) -> list[int]:
    return [cfg.seed, domain, *key] + [0] * (4 - len(key))


def default_root(cfg: CorpusConfig) -> Path:
    """``<artifact root>/corpora/synthetic-<hash of config and generator version>``.

    The generator version is part of the hash, so a change to the synthesis
    never mixes old and new audio in one directory.
    """
    from ..artifacts import artifact_root

    key = {"corpus": to_dict(cfg), "generator_version": GENERATOR_VERSION}
    return artifact_root() / "corpora" / f"synthetic-{config_hash(key)}"


def speaker_ids(cfg: CorpusConfig) -> tuple[list[str], list[str]]:
    """VoxCeleb1-style ids of the training and test speakers (disjoint).

    >>> train, test = speaker_ids(CorpusConfig(n_train_speakers=2, n_test_speakers=1))
    >>> train, test
    (['id10001', 'id10002'], ['id10270'])
    """
    test_range = range(VOX1_TEST_FIRST_ID, VOX1_TEST_FIRST_ID + cfg.n_test_speakers)
    train: list[str] = []
    i = 10001
    while len(train) < cfg.n_train_speakers:
        if i not in test_range:
            train.append(f"id{i}")
        i += 1
    return train, [f"id{i}" for i in test_range]


def _session_id(cfg: CorpusConfig, split: int, spk: int, sess: int) -> str:
    rng = _rng(cfg, _D_NAME, split, spk, sess)
    return "".join(_ID_CHARS[i] for i in rng.integers(0, len(_ID_CHARS), 11))


@dataclass(frozen=True)
class _Task:
    path: str  # absolute output path
    key: str  # alignment key
    speaker: SpeakerParams  # the session's voice
    channel: ChannelParams
    seconds: float
    entropy: tuple[int, ...]
    sample_rate: int
    fmt: str  # "WAV" | "FLAC"


@dataclass
class _Plan:
    sv_tasks: list[_Task]
    pool_tasks: list[_Task]
    speakers: list[dict[str, Any]]  # rows of speakers.csv
    sessions: list[dict[str, Any]]  # rows of sessions.csv
    test_keys: dict[str, list[str]]  # test speaker -> keys
    chapters: dict[tuple[str, str], list[_Task]]  # (librispeech spk, chapter) -> tasks


def _plan_corpus(cfg: CorpusConfig, root: Path) -> _Plan:
    train_ids, test_ids = speaker_ids(cfg)
    wav_root = root / "voxceleb1" / "wav"
    sv_tasks: list[_Task] = []
    speakers: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    test_keys: dict[str, list[str]] = {}
    for split_name, ids in (("train", train_ids), ("test", test_ids)):
        split = _SPLITS[split_name]
        for i, spk in enumerate(ids):
            voice = sample_speaker(_rng(cfg, _D_SPEAKER, split, i), cfg.speaker_spread)
            speakers.append({"speaker": spk, "split": split_name, **voice.as_row()})
            used: set[str] = set()
            for s in range(cfg.sessions_per_speaker):
                sid = _session_id(cfg, split, i, s)
                while sid in used:  # practically never
                    sid = sid[1:] + "x"
                used.add(sid)
                srng = _rng(cfg, _D_SESSION, split, i, s)
                channel = sample_channel(srng, cfg)
                svoice = session_voice(voice, srng, cfg.prosody_drift)
                sessions.append({"speaker": spk, "session": sid, **channel.as_row()})
                for u in range(cfg.utterances_per_session):
                    key = f"{spk}/{sid}/{u + 1:05d}.wav"
                    seconds = float(_rng(cfg, _D_DURATION, split, i, s, u).uniform(cfg.min_seconds, cfg.max_seconds))
                    sv_tasks.append(_Task(str(wav_root / key), key, svoice, channel, round(seconds, 3),
                                          tuple(_entropy(cfg, _D_UTT, split, i, s, u)), cfg.sample_rate, "WAV"))
                    if split_name == "test":
                        test_keys.setdefault(spk, []).append(key)

    # the pre-training pool: LibriSpeech layout, two chapters per speaker
    pool_root = root / "librispeech" / "LibriSpeech" / "train-synthetic"
    split = _SPLITS["pretrain"]
    budget = cfg.pretrain_hours * 3600.0 / max(1, cfg.pretrain_speakers)
    lo, hi = cfg.min_seconds, 2 * cfg.max_seconds
    pool_tasks: list[_Task] = []
    chapters: dict[tuple[str, str], list[_Task]] = {}
    for i in range(cfg.pretrain_speakers):
        spk = str(1001 + i)
        voice = sample_speaker(_rng(cfg, _D_SPEAKER, split, i), cfg.speaker_spread)
        speakers.append({"speaker": spk, "split": "pretrain", **voice.as_row()})
        drng = _rng(cfg, _D_DURATION, split, i)
        durations: list[float] = []
        while sum(durations) < budget - 1e-9:
            d = min(float(drng.uniform(lo, hi)), budget - sum(durations))
            if d < min(lo, budget) * 0.5 and durations:
                durations[-1] += d  # fold a tiny remainder into the previous utterance
                break
            durations.append(d)
        n_chapters = 2 if len(durations) > 1 else 1
        for c in range(n_chapters):
            chapter = str(100000 + 100 * i + c)
            srng = _rng(cfg, _D_SESSION, split, i, c)
            channel = sample_channel(srng, cfg)
            svoice = session_voice(voice, srng, cfg.prosody_drift)
            sessions.append({"speaker": spk, "session": chapter, **channel.as_row()})
            for u, d in enumerate(durations[c::n_chapters]):
                uid = f"{spk}-{chapter}-{u:04d}"
                task = _Task(str(pool_root / spk / chapter / f"{uid}.flac"), uid, svoice, channel, round(d, 3),
                             tuple(_entropy(cfg, _D_UTT, split, i, c, u)), cfg.sample_rate, "FLAC")
                pool_tasks.append(task)
                chapters.setdefault((spk, chapter), []).append(task)
    return _Plan(sv_tasks, pool_tasks, speakers, sessions, test_keys, chapters)


def _write_audio(path: Path, wave: np.ndarray, sample_rate: int, fmt: str) -> None:
    """Write 16-bit PCM atomically: a temporary file in the same folder, then rename."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            sf.write(f, wave, sample_rate, format=fmt, subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _run_task(task: _Task) -> tuple[str, list[Segment], float, float]:
    """Synthesise and write one file; returns key, alignment, audio and CPU seconds."""
    cpu = time.process_time()
    rng = np.random.default_rng(np.random.SeedSequence(list(task.entropy)))
    wave, segments = synthesize_utterance(task.speaker, task.channel, task.seconds, rng, task.sample_rate)
    _write_audio(Path(task.path), wave, task.sample_rate, task.fmt)
    return task.key, segments, len(wave) / task.sample_rate, time.process_time() - cpu


def _run_chunk(tasks: list[_Task]) -> list[tuple[str, list[Segment], float, float]]:
    return [_run_task(t) for t in tasks]


def _alignment_only(task: _Task) -> list[Segment]:
    rng = np.random.default_rng(np.random.SeedSequence(list(task.entropy)))
    n = int(round(task.seconds * task.sample_rate))
    return plan_utterance(task.speaker, n / task.sample_rate, rng)


def make_trials(test_keys: dict[str, list[str]], n_trials: int, rng: np.random.Generator) -> list[tuple[int, str, str]]:
    """A balanced trial list ``(label, enroll_key, test_key)`` without duplicates.

    Target trials pair two utterances of one speaker from *different*
    sessions (the session is the second key component); non-target trials
    pair two speakers.  If there are too few cross-session pairs, the
    reversed orientation of a pair is used as well; if still too few, this
    raises ``ValueError``.

    >>> keys = {s: [f"{s}/{x}/0000{u}.wav" for x in "ab" for u in (1, 2)] for s in ("p", "q")}
    >>> trials = make_trials(keys, 8, np.random.default_rng(0))
    >>> sum(t[0] for t in trials), len(set(trials))
    (4, 8)
    """
    n_target = n_trials // 2
    n_nontarget = n_trials - n_target
    pairs: list[tuple[str, str]] = []
    for spk in sorted(test_keys):
        keys = sorted(test_keys[spk])
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                if keys[a].split("/")[1] != keys[b].split("/")[1]:
                    pairs.append((keys[a], keys[b]))
    order = rng.permutation(len(pairs))
    targets = [pairs[i] for i in order[:n_target]]
    if len(targets) < n_target:  # reuse pairs in the reversed orientation
        extra = [(b, a) for a, b in (pairs[i] for i in order)]
        targets += extra[: n_target - len(targets)]
    if len(targets) < n_target:
        raise ValueError(
            f"only {len(pairs)} cross-session target pairs exist ({2 * len(pairs)} with both orientations); "
            f"{n_target} requested: raise sessions_per_speaker/utterances_per_session or lower n_trials")
    speakers = sorted(test_keys)
    if len(speakers) < 2:
        raise ValueError("non-target trials need at least 2 test speakers")
    nontargets: set[tuple[str, str]] = set()
    all_keys = [(s, k) for s in speakers for k in sorted(test_keys[s])]
    max_nontarget = sum(len(test_keys[a]) * len(test_keys[b]) for a in speakers for b in speakers if a < b)
    if n_nontarget > max_nontarget:
        raise ValueError(f"only {max_nontarget} non-target pairs exist; {n_nontarget} requested")
    while len(nontargets) < n_nontarget:
        i, j = rng.integers(0, len(all_keys), 2)
        (sa, ka), (sb, kb) = all_keys[i], all_keys[j]
        if sa == sb or (kb, ka) in nontargets:
            continue
        nontargets.add((ka, kb))
    trials = [(1, a, b) for a, b in targets] + [(0, a, b) for a, b in sorted(nontargets)]
    return [trials[i] for i in rng.permutation(len(trials))]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def corpus_stats(root: Path) -> dict[str, Any]:
    """The stats recorded in ``<root>/corpus.json`` (seconds of audio, speed, ...)."""
    from ..artifacts import read_json

    return read_json(Path(root) / "corpus.json", "corpus record")["stats"]


def is_complete(root: Path, cfg: CorpusConfig) -> bool:
    """Whether ``root`` holds a finished corpus generated from exactly ``cfg``."""
    marker = Path(root) / "corpus.json"
    if not marker.exists():
        return False
    from ..artifacts import ArtifactError, read_json

    try:
        info = read_json(marker, "corpus record")
    except ArtifactError:  # a truncated record: the corpus is resumed (finished files are kept)
        return False
    return info.get("config") == to_dict(cfg) and info.get("generator_version") == GENERATOR_VERSION


def generate_corpus(cfg: CorpusConfig, root: Path | None = None, workers: int | None = None,
                    progress: bool = True) -> Path:
    """Write the synthetic corpus of ``cfg`` under ``root`` and return ``root``.

    Layout (``root`` defaults to :func:`default_root`)::

        voxceleb1/wav/<id1xxxx>/<11-char session>/<00001>.wav   16-bit PCM
        voxceleb1/<cfg.voxceleb_trials>                           "1|0 enroll test"
        voxceleb1/meta/speakers.csv, sessions.csv, alignments.jsonl
        librispeech/LibriSpeech/train-synthetic/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
                               .../<spk>-<chapter>.trans.txt, <spk>-<chapter>.align.jsonl
        corpus.json                                               config + stats; written last

    Every file is a pure function of ``(cfg.seed, split, speaker, session,
    utterance)``, so the result does not depend on ``workers`` or on the order
    of work.  A finished corpus (``corpus.json`` with the same config) is
    returned at once; an interrupted one resumes, skipping finished files.
    """
    if cfg.source != "synthetic":
        raise ValueError(f"generate_corpus needs corpus.source='synthetic', got {cfg.source!r}")
    root = Path(root) if root is not None else default_root(cfg)
    if is_complete(root, cfg):
        return root
    from ..artifacts import file_lock

    with file_lock(root.parent / f"{root.name}.lock", f"corpus {root}"):  # one generator per corpus
        if is_complete(root, cfg):  # another process finished it while this one waited
            return root
        return _generate(cfg, root, workers, progress)


def _generate(cfg: CorpusConfig, root: Path, workers: int | None, progress: bool) -> Path:
    from ..artifacts import atomic_write_json, atomic_write_text

    t_start = time.perf_counter()
    plan = _plan_corpus(cfg, root)
    trials = make_trials(plan.test_keys, cfg.n_trials, _rng(cfg, _D_TRIALS))
    tasks = plan.sv_tasks + plan.pool_tasks
    alignments: dict[str, list[Segment]] = {}
    todo: list[_Task] = []
    for t in tasks:
        if os.path.exists(t.path):
            alignments[t.key] = _alignment_only(t)
        else:
            todo.append(t)
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    generated_seconds = cpu_seconds = 0.0
    t_synth = time.perf_counter()
    bar = _progress(len(tasks), len(tasks) - len(todo), progress)
    try:
        if workers <= 1 or len(todo) <= 1:
            for t in todo:
                key, segs, sec, cpu = _run_task(t)
                alignments[key] = segs
                generated_seconds += sec
                cpu_seconds += cpu
                bar.update(1)
        else:
            chunks = [todo[i: i + 8] for i in range(0, len(todo), 8)]
            # a worker ends with this process, even after a kill -9 that leaves no time to stop the pool
            with ProcessPoolExecutor(max_workers=workers, initializer=exit_with_parent) as pool:
                futures = {pool.submit(_run_chunk, ch): len(ch) for ch in chunks}
                for fut in as_completed(futures):
                    for key, segs, sec, cpu in fut.result():
                        alignments[key] = segs
                        generated_seconds += sec
                        cpu_seconds += cpu
                    bar.update(futures[fut])
    finally:
        bar.close()
    synth_seconds = time.perf_counter() - t_synth

    vox = root / "voxceleb1"
    atomic_write_text(vox / cfg.voxceleb_trials, "".join(f"{l} {a} {b}\n" for l, a, b in trials))
    atomic_write_text(vox / "meta" / "speakers.csv", _csv_text(plan.speakers))
    atomic_write_text(vox / "meta" / "sessions.csv", _csv_text(plan.sessions))
    write_alignments(vox / "meta" / "alignments.jsonl", {t.key: alignments[t.key] for t in plan.sv_tasks})
    for (spk, chapter), ch_tasks in plan.chapters.items():
        folder = Path(ch_tasks[0].path).parent
        atomic_write_text(folder / f"{spk}-{chapter}.trans.txt",
                          "".join(f"{t.key} {transcript(alignments[t.key])}\n" for t in ch_tasks))
        write_alignments(folder / f"{spk}-{chapter}.align.jsonl", {t.key: alignments[t.key] for t in ch_tasks})

    total_seconds = sum(t.seconds for t in tasks)
    stats = {
        "n_files": len(tasks),
        "n_sv_files": len(plan.sv_tasks),
        "n_pretrain_files": len(plan.pool_tasks),
        "audio_seconds": round(total_seconds, 3),
        "pretrain_hours": round(sum(t.seconds for t in plan.pool_tasks) / 3600, 5),
        "n_trials": len(trials),
        "generated_files": len(todo),
        "generated_audio_seconds": round(generated_seconds, 3),
        "synthesis_seconds": round(synth_seconds, 3),
        "generation_seconds": round(time.perf_counter() - t_start, 3),
        "audio_seconds_per_second": round(generated_seconds / max(synth_seconds, 1e-9), 2),  # wall clock
        "worker_cpu_seconds": round(cpu_seconds, 3),
        "audio_seconds_per_cpu_second": round(generated_seconds / max(cpu_seconds, 1e-9), 2),  # per core
        "workers": workers,
    }
    atomic_write_json(root / "corpus.json", {"config": to_dict(cfg), "generator_version": GENERATOR_VERSION,
                                             "stats": stats})
    return root


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, disable=not enabled, desc="synthetic corpus", unit="file")


# ---------------------------------------------------------------------------
# Examples for the book
# ---------------------------------------------------------------------------


def speaker_session_examples(n_speakers: int = 2, n_sessions: int = 2, seconds: float = 2.0, seed: int = 0,
                             cfg: CorpusConfig | None = None) -> list[dict[str, Any]]:
    """Utterances of ``n_speakers`` voices in ``n_sessions`` channels each.

    Returns one dict per (speaker, session): ``speaker`` and ``session``
    indices, ``voice`` (:class:`SpeakerParams`), ``channel``
    (:class:`ChannelParams`), ``wave`` ``(n_samples,)`` and ``segments``.

    >>> ex = speaker_session_examples(1, 1, seconds=0.3)
    >>> len(ex), ex[0]["wave"].shape
    (1, (4800,))
    """
    cfg = dataclasses.replace(cfg or CorpusConfig(), seed=seed)
    out: list[dict[str, Any]] = []
    for i in range(n_speakers):
        voice = sample_speaker(_rng(cfg, _D_SPEAKER, 3, i), cfg.speaker_spread)
        for s in range(n_sessions):
            srng = _rng(cfg, _D_SESSION, 3, i, s)
            channel = sample_channel(srng, cfg)
            svoice = session_voice(voice, srng, cfg.prosody_drift)
            wave, segs = synthesize_utterance(svoice, channel, seconds, _rng(cfg, _D_UTT, 3, i, s),
                                              cfg.sample_rate)
            out.append(dict(speaker=i, session=s, voice=voice, channel=channel, wave=wave, segments=segs))
    return out

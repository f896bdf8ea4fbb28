"""The session channel: how one recording session colours every utterance in it.

A session (:class:`ChannelParams`, drawn by :func:`sample_channel` with the
difficulty knobs of :class:`~sslsv.config.CorpusConfig`) is a microphone
and line (band-limiting and peaking EQ, :func:`channel_response`), a room
(optional reverberation, :func:`_room_impulse_response`), a background
(white, pink, brown or babble noise at a random SNR, :func:`_coloured_noise`)
and a level.  :func:`apply_channel` passes clean speech through it.

>>> ch = sample_channel(np.random.default_rng(0))
>>> wave = apply_channel(np.sin(np.arange(16000) * 0.1), ch, np.random.default_rng(1))
>>> wave.shape
(16000,)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.fft

from ...config import CorpusConfig

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
        """A flat dict (EQ bands as space-separated numbers) for tables."""
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


def _coloured_noise(kind: str, n: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Unit-power background noise ``(n,)`` of ``kind`` (one of :data:`NOISE_TYPES`), shaped as a spectrum."""
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    fc = np.maximum(f, 20.0)
    if kind == "pink":
        spec /= np.sqrt(fc / 20.0)
    elif kind == "brown":
        spec /= fc / 20.0
    elif kind == "babble":  # speech-shaped noise, modulated at syllable rate
        spec /= np.sqrt(1 + (fc / 500.0) ** 2) * np.sqrt(1 + (150.0 / fc) ** 4)
    x = scipy.fft.irfft(spec, n=n)
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
    utterance SNR varies by about +/-2 dB around the session's.  The
    full-length FFTs are :mod:`scipy.fft`'s, faster than numpy's at the
    lengths of utterances (which often have a large prime factor).
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
    spec = scipy.fft.rfft(x)
    x = scipy.fft.irfft(spec * channel_response(channel, np.fft.rfftfreq(n, 1 / sample_rate)), n=n)
    x = x * (0.1 / (np.sqrt(np.mean(x ** 2)) + 1e-12)) * 10 ** (channel.gain_db / 20)
    return x

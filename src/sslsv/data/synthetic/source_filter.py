"""Source-filter synthesis: from a voice and a phone plan to clean speech.

The classic *source-filter* model, vectorised in numpy on a short-time
spectrum (``N_FFT`` 512, ``HOP`` 160 at 16 kHz; :func:`torch.stft` and
:func:`torch.istft`) so that a corpus of hours is written on a laptop CPU:

- the **source** is a jittered, shimmered glottal pulse train following an
  intonation contour (:func:`_pulse_train`), shaped by the spectrum of one
  differentiated Rosenberg pulse with the speaker's tilt
  (:func:`_glottal_spectrum`), plus aspiration, frication and burst noise;
- the **filter** is the vocal tract, a cascade of formant resonators
  (:func:`_resonances`) whose frequencies follow coarticulated tracks
  (:func:`_contours`), with a nasal anti-resonance;
- the excitation's spectrum is multiplied frame by frame by the envelope and
  turned back into a waveform (:func:`_clean_speech`);
  :func:`synthesize_utterance` then records it through a session channel
  (:func:`~.channel.apply_channel`).

>>> from sslsv.data.synthetic import sample_speaker
>>> wave, segments = synthesize_utterance(sample_speaker(np.random.default_rng(0)), None, 0.5,
...                                       np.random.default_rng(1))
>>> wave.shape, segments[-1].end
((8000,), 0.5)
"""

from __future__ import annotations

import functools

import numpy as np

from ..corpus import PHONE_CLASSES, Segment
from .channel import ChannelParams, apply_channel
from .language import Language
from .phones import PHONES, VOWELS
from .voice import SpeakerParams, _plan

SAMPLE_RATE = 16000  # the only rate: frame rate and phone durations assume it
N_FFT = 512  # analysis/synthesis frame (32 ms at 16 kHz)
HOP = 160  # 10 ms at 16 kHz


@functools.lru_cache(maxsize=1)
def _window() -> "torch.Tensor":
    """The analysis and synthesis window: a periodic Hann window of ``N_FFT`` samples, float64."""
    import torch

    return torch.hann_window(N_FFT, periodic=True, dtype=torch.float64)


def _n_frames(n_samples: int) -> int:
    return n_samples // HOP + 1


def _stft(x: np.ndarray) -> np.ndarray:
    """Centred, zero-padded STFT (:func:`torch.stft`), ``(n_samples,) -> (n_frames, N_FFT // 2 + 1)`` complex.

    >>> _stft(np.zeros(1600)).shape
    (11, 257)
    """
    import torch

    spec = torch.stft(torch.from_numpy(x), N_FFT, HOP, window=_window(), center=True, pad_mode="constant",
                      return_complex=True)
    return spec.numpy().T


def _istft(spec: np.ndarray, n_samples: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft` (:func:`torch.istft`), ``-> (n_samples,)``.

    >>> x = np.random.default_rng(0).standard_normal(1600)
    >>> bool(np.allclose(_istft(_stft(x), len(x)), x))
    True
    """
    import torch

    return torch.istft(torch.from_numpy(spec).T, N_FFT, HOP, window=_window(), center=True, length=n_samples).numpy()


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
    t = np.arange(n_frames) * HOP / SAMPLE_RATE
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
                  sample_rate: int, language: Language | None = None) -> tuple[np.ndarray, list[Segment]]:
    """Clean speech ``(round(seconds * sample_rate),)`` float64 at -20 dBFS, and its phone alignment."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError("the synthesiser works at 16 kHz (frame rate and phone durations assume it)")
    n = int(round(seconds * sample_rate))
    segments, stress, _ = _plan(speaker, n / sample_rate, rng, language)
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
    scale = np.sqrt(float((_window() ** 2).sum()) / 2)
    noise = rng.standard_normal((2, n_frames, len(freqs)))  # white noise, drawn as its STFT
    spec = voiced + (noise[0] + 1j * noise[1]) * (noise_env * scale)
    wave = _istft(spec, n)
    rms = np.sqrt(np.mean(wave ** 2)) + 1e-9
    wave = wave * (0.1 / rms)  # -20 dBFS
    return wave, segments


def synthesize_utterance(speaker: SpeakerParams, channel: ChannelParams | None, seconds: float,
                         rng: np.random.Generator, sample_rate: int = SAMPLE_RATE,
                         language: Language | None = None) -> tuple[np.ndarray, list[Segment]]:
    """Synthesise one utterance of ``speaker`` recorded through ``channel``.

    ``channel=None`` gives clean speech (no room, noise or EQ).  ``language``
    (:mod:`.language`) makes it a sentence of that language; ``None`` draws
    independent syllables.  Returns the
    waveform ``(round(seconds * sample_rate),)`` float32 in ``[-1, 1]`` and
    its phone alignment, segments that cover ``[0, seconds)`` exactly.

    >>> from sslsv.data.synthetic import sample_channel, sample_speaker
    >>> rng = np.random.default_rng(3)
    >>> v, ch = sample_speaker(rng), sample_channel(rng)
    >>> wave, segs = synthesize_utterance(v, ch, 0.5, rng)
    >>> wave.shape, bool(np.abs(wave).max() <= 1.0)
    ((8000,), True)
    """
    wave, segments = _clean_speech(speaker, seconds, rng, sample_rate, language)
    if channel is not None:
        wave = apply_channel(wave, channel, rng, sample_rate)
    peak = np.abs(wave).max()
    if peak > 0.99:  # a limiter rather than clipping
        wave = wave * (0.99 / peak)
    return wave.astype(np.float32), segments

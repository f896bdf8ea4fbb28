"""Integrated Gradients of a trial in time and in time-frequency (STFT) coordinates.

Time and frequency
------------------
From the same path we keep the average gradient ``g`` (captum's "global"
attribution), so that the waveform attributions are ``(x - x') * g`` and the
**spectro-temporal attributions** are the same Integrated Gradients
expressed in STFT coordinates: the path is the same straight line in the
(linear) STFT domain, so the attribution of bin ``(f, t)`` is
``(Z - Z')[f, t] * (d istft / d Z)^T g`` and the map sums to the same total
(completeness holds in both coordinate systems).  Summing the map over time
gives attribution per frequency bin, and over frequency a 10 ms time
profile.
"""

from __future__ import annotations

import numpy as np
import torch

from .integrated_gradients import TrialAttribution

#: STFT of the spectro-temporal projection: 25 ms Hann window, 10 ms hop.
STFT_N_FFT = 512
STFT_WIN_MS = 25.0
STFT_HOP_MS = 10.0


def time_profile(attributions: np.ndarray, sample_rate: int = 16000, hop_ms: float = 10.0,
                 absolute: bool = True) -> np.ndarray:
    """Attribution per ``hop_ms`` frame: ``(n_frames,)`` sums of ``|a|`` (or of ``a``).

    >>> time_profile(np.array([1.0, -1.0, 2.0, 0.5]), sample_rate=1000, hop_ms=2.0)
    array([2. , 2.5])
    """
    a = np.abs(attributions) if absolute else np.asarray(attributions)
    hop = int(round(sample_rate * hop_ms / 1000))
    n = int(np.ceil(len(a) / hop))
    padded = np.zeros(n * hop, dtype=np.float64)
    padded[: len(a)] = a
    return padded.reshape(n, hop).sum(axis=1)


def stft_params(sample_rate: int) -> tuple[int, int, int]:
    """``(n_fft, win_length, hop_length)`` in samples of the projection's STFT at ``sample_rate``."""
    win = int(round(sample_rate * STFT_WIN_MS / 1000))
    hop = int(round(sample_rate * STFT_HOP_MS / 1000))
    return STFT_N_FFT, win, hop


def spectrotemporal_attributions(result: TrialAttribution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trial's Integrated Gradients in STFT coordinates.

    Returns ``(attribution_map (freq, frames), freqs_hz (freq,), times_s
    (frames,))``.  The map sums to ``result.attributions.sum()`` (up to
    float rounding): the straight IG path in the waveform is the straight
    path in the (linear) STFT domain, and ``istft`` inverts ``stft`` exactly,
    so ``map[f, t] = (Z - Z')[f, t] . (d istft / dZ)^T g`` with ``g`` the
    path-averaged waveform gradient.
    """
    sr = result.sample_rate
    n_fft, win, hop = stft_params(sr)
    window = torch.hann_window(win, dtype=torch.float64)
    diff = torch.from_numpy(result.wave.astype(np.float64) - result.baseline.astype(np.float64))
    g = torch.from_numpy(result.path_gradient.astype(np.float64))
    z = torch.stft(diff, n_fft, hop_length=hop, win_length=win, window=window, center=True, return_complex=True)
    z_real = torch.view_as_real(z).detach().clone().requires_grad_(True)  # (freq, frames, 2)
    x = torch.istft(torch.view_as_complex(z_real), n_fft, hop_length=hop, win_length=win, window=window,
                    center=True, length=len(diff))
    (grad_z,) = torch.autograd.grad((x * g).sum(), z_real)
    amap = (z_real.detach() * grad_z).sum(-1).numpy()  # (freq, frames)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    times = np.arange(amap.shape[1]) * hop / sr
    return amap, freqs, times


def frequency_profile(result: TrialAttribution, absolute: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Attribution mass per STFT frequency bin: ``(values (freq,), freqs_hz (freq,))``."""
    amap, freqs, _ = spectrotemporal_attributions(result)
    return (np.abs(amap) if absolute else amap).sum(axis=1), freqs

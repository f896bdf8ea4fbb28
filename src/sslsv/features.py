"""Acoustic features: 80-dim log-mel filterbank and 39-dim MFCC with deltas.

Both are ``torch.nn.Module`` s built on torchaudio, batched and
differentiable, so feature extraction can live *inside* a model (the
attribution analyses need gradients with respect to the waveform).
"""

from __future__ import annotations

import torch
import torchaudio

from .config import FeatureConfig


def n_frames(n_samples: int, sample_rate: int = 16000, hop_ms: float = 10.0) -> int:
    """Number of feature frames for ``n_samples`` (centre-padded STFT).

    >>> n_frames(16000)
    101
    """
    hop = int(round(sample_rate * hop_ms / 1000))
    return n_samples // hop + 1


class Fbank(torch.nn.Module):
    """Log-mel filterbank with optional per-utterance mean normalisation.

    Input ``(batch, time)`` waveform at ``sample_rate``; output
    ``(batch, frames, n_mels)``.

    >>> fb = Fbank()
    >>> fb(torch.zeros(2, 16000)).shape
    torch.Size([2, 101, 80])
    """

    def __init__(self, cfg: FeatureConfig = FeatureConfig(), sample_rate: int = 16000):
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=cfg.n_fft,
            win_length=int(round(sample_rate * cfg.win_ms / 1000)),
            hop_length=int(round(sample_rate * cfg.hop_ms / 1000)),
            f_min=cfg.f_min,
            f_max=min(cfg.f_max, sample_rate / 2),
            n_mels=cfg.n_mels,
            window_fn=torch.hamming_window,
            power=2.0,
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        with torch.autocast(device_type=wave.device.type, enabled=False):
            spec = self.mel(wave.float())  # (batch, n_mels, frames)
            logmel = torch.log(spec + 1e-6).transpose(1, 2)
        if self.cfg.mean_norm:
            logmel = logmel - logmel.mean(dim=1, keepdim=True)
        return logmel


class MFCCDeltas(torch.nn.Module):
    """13 MFCCs with first and second deltas: the 39-dim HuBERT iteration-1 input.

    Input ``(batch, time)``; output ``(batch, frames, 39)`` at 100 Hz.

    >>> MFCCDeltas()(torch.randn(1, 16000)).shape
    torch.Size([1, 101, 39])
    """

    def __init__(self, sample_rate: int = 16000, n_mfcc: int = 13):
        super().__init__()
        self.mfcc = torchaudio.transforms.MFCC(
            sample_rate=sample_rate,
            n_mfcc=n_mfcc,
            melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 23, "f_max": sample_rate / 2},
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() == 1:
            wave = wave.unsqueeze(0)
        m = self.mfcc(wave.float())  # (batch, 13, frames)
        d1 = torchaudio.functional.compute_deltas(m)
        d2 = torchaudio.functional.compute_deltas(d1)
        return torch.cat([m, d1, d2], dim=1).transpose(1, 2)

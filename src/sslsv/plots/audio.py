"""Figures of the synthetic corpus: log-mel spectrograms of speakers in sessions, phone classes."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .style import WIDTH, styled

__all__ = ["CLASS_COLOURS", "log_mel_spectrogram", "plot_speakers_and_sessions"]

CLASS_COLOURS = {
    "vowel": "#1b9e77",
    "nasal": "#7570b3",
    "fricative": "#d95f02",
    "plosive": "#e7298a",
    "silence": "#bdbdbd",
}


def log_mel_spectrogram(wave: np.ndarray, sample_rate: int = 16000, n_mels: int = 80,
                        hop_ms: float = 10.0) -> np.ndarray:
    """Log-mel power spectrogram (dB) with torchaudio, ``(n_samples,) -> (n_mels, frames)``.

    >>> log_mel_spectrogram(np.zeros(16000, dtype=np.float32)).shape
    (80, 101)
    """
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=512, win_length=int(0.025 * sample_rate),
        hop_length=int(hop_ms / 1000 * sample_rate), n_mels=n_mels, f_min=20.0, f_max=sample_rate / 2)
    power = mel(torch.as_tensor(np.asarray(wave, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).numpy()


@styled
def plot_speakers_and_sessions(examples: Sequence[dict[str, Any]] | None = None, *, seed: int = 0,
                               seconds: float = 2.0, sample_rate: int = 16000, aligned_panel: int = 0):
    """Log-mel spectrograms of synthetic speakers (rows) in sessions (columns).

    ``examples`` is the output of
    :func:`sslsv.data.synthetic.speaker_session_examples` (default: 2 speakers
    x 2 sessions drawn from ``seed``).  The panel ``aligned_panel`` carries
    the phone alignment: class-coloured bands and phone symbols.

    >>> from sslsv.data.synthetic import speaker_session_examples
    >>> fig = plot_speakers_and_sessions(speaker_session_examples(1, 2, seconds=0.5))
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    if examples is None:
        from ..data.synthetic import speaker_session_examples

        examples = speaker_session_examples(2, 2, seconds=seconds, seed=seed)
    n_rows = max(e["speaker"] for e in examples) + 1
    n_cols = max(e["session"] for e in examples) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(WIDTH, 2.9 * n_rows + 0.5),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for i, ex in enumerate(examples):
        ax = axes[ex["speaker"], ex["session"]]
        spec = log_mel_spectrogram(ex["wave"], sample_rate)
        dur = len(ex["wave"]) / sample_rate
        top = spec.max()
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                  extent=(0.0, dur, 0, spec.shape[0]))
        voice, ch = ex["voice"], ex["channel"]
        reverb = f"RT60 {ch.rt60_s:.2f} s" if ch.rt60_s > 0 else "dry"
        ax.set_title(f"speaker {ex['speaker'] + 1} ({voice.sex}, F0 {voice.f0_mean_hz:.0f} Hz), "
                     f"session {ex['session'] + 1}\n{ch.noise_type} noise {ch.snr_db:.0f} dB SNR, {reverb}, "
                     f"band {ch.low_cut_hz:.0f}-{ch.high_cut_hz:.0f} Hz", fontsize=11)
        if i == aligned_panel:
            n_mels = spec.shape[0]
            for seg in ex["segments"]:
                ax.axvspan(seg.start, seg.end, ymin=0.0, ymax=0.06, color=CLASS_COLOURS[seg.phone_class], lw=0)
                ax.axvline(seg.start, color="white", lw=0.4, alpha=0.6)
                if seg.phone_class != "silence":
                    ax.text(0.5 * (seg.start + seg.end), 0.9 * n_mels, seg.phone, color="white",
                            ha="center", va="center", fontsize=10)
            handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in CLASS_COLOURS.values()]
            ax.legend(handles, list(CLASS_COLOURS), fontsize=9, loc="lower right", ncol=5,
                      framealpha=0.7, handlelength=1.0)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mel bin")
    for ax in axes.ravel():
        ax.grid(False)
    fig.suptitle("Synthetic speakers (rows) recorded in different sessions (columns)")
    return fig

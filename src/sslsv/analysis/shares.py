"""Where the attribution mass goes: shares per phone class and per frequency band.

:func:`phone_class_shares` and :func:`band_shares` give the share of
**absolute** attribution mass (positive and negative evidence both count as
"the decision rests on it") per phone class / frequency band, next to the
share of duration / input energy, so that "vowels carry 60 % of the mass"
can be compared with "vowels are 45 % of the time".
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..data.corpus import PHONE_CLASSES, Segment
from .integrated_gradients import TrialAttribution
from .spectrotemporal import stft_params, spectrotemporal_attributions

#: Frequency bands (Hz) of the band shares: low (F0 and first harmonics),
#: F1 region, F2 region, F3/F4 and fricative region, high band.
FREQUENCY_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 300.0), (300.0, 1000.0), (1000.0, 2000.0), (2000.0, 4000.0), (4000.0, 8000.0))


def sample_classes(n_samples: int, segments: Sequence[Segment], sample_rate: int = 16000,
                   classes: Sequence[str] = PHONE_CLASSES) -> np.ndarray:
    """Class index of every sample ``(n_samples,)``; -1 where no segment covers it.

    >>> segs = [Segment(0.0, 0.002, "a", "vowel"), Segment(0.002, 0.004, "s", "fricative")]
    >>> sample_classes(5, segs, sample_rate=1000).tolist()
    [0, 0, 2, 2, -1]
    """
    labels = np.full(n_samples, -1, dtype=np.int64)
    index = {c: i for i, c in enumerate(classes)}
    for s in segments:
        if s.phone_class not in index:
            raise ValueError(f"segment {s} has class {s.phone_class!r}; valid classes: {', '.join(classes)}")
        a = max(0, int(round(s.start * sample_rate)))
        b = min(n_samples, int(round(s.end * sample_rate)))
        if b > a:
            labels[a:b] = index[s.phone_class]
    return labels


def phone_class_shares(attributions: np.ndarray, segments: Sequence[Segment], sample_rate: int = 16000,
                       classes: Sequence[str] = PHONE_CLASSES, wave: np.ndarray | None = None) -> pd.DataFrame:
    """Share of ``|attribution|`` mass, of duration (and of signal energy) per phone class.

    All shares are normalised over the samples that an aligned segment
    covers (uncovered samples, e.g. beyond the alignment, are left out), so
    each column sums to 1.  ``enrichment = mass_share / duration_share``
    (> 1: the class weighs more in the decision than in time).  With
    ``wave`` (the attributed signal), ``energy_share`` is the share of its
    energy: IG attributions scale with the input, so a loud class gets mass
    for that reason alone, and this column shows how much.

    >>> segs = [Segment(0.0, 0.002, "a", "vowel"), Segment(0.002, 0.004, "s", "fricative")]
    >>> t = phone_class_shares(np.array([3.0, -1.0, 0.0, 1.0]), segs, sample_rate=1000)
    >>> t.set_index("phone_class").loc[["vowel", "fricative"], "mass_share"].tolist()
    [0.8, 0.2]
    """
    a = np.abs(np.asarray(attributions, dtype=np.float64))
    labels = sample_classes(len(a), segments, sample_rate, classes)
    covered = labels >= 0
    mass = np.bincount(labels[covered], weights=a[covered], minlength=len(classes))
    count = np.bincount(labels[covered], minlength=len(classes)).astype(np.float64)
    mass_share = mass / max(mass.sum(), 1e-300)
    duration_share = count / max(count.sum(), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        enrichment = np.where(duration_share > 0, mass_share / duration_share, np.nan)
    table = pd.DataFrame({"phone_class": list(classes), "mass_share": mass_share,
                          "duration_share": duration_share, "enrichment": enrichment})
    if wave is not None:
        e = np.asarray(wave, dtype=np.float64) ** 2
        energy = np.bincount(labels[covered], weights=e[covered], minlength=len(classes))
        table["energy_share"] = energy / max(energy.sum(), 1e-300)
    return table


def band_shares(result: TrialAttribution, bands: Sequence[tuple[float, float]] = FREQUENCY_BANDS) -> pd.DataFrame:
    """Share of ``|spectro-temporal attribution|`` mass per frequency band.

    ``energy_share`` is the share of the attributed signal's STFT energy in
    the same band, the reference to compare with.  Bands are ``[low, high)``
    Hz; bins above the last band are left out.
    """
    amap, freqs, _ = spectrotemporal_attributions(result)
    n_fft, win, hop = stft_params(result.sample_rate)
    x = torch.from_numpy(result.wave.astype(np.float64))
    energy = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win, dtype=torch.float64),
                        center=True, return_complex=True).abs().pow(2).sum(-1).numpy()
    per_bin = np.abs(amap).sum(axis=1)
    mass = np.array([per_bin[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in bands])
    en = np.array([energy[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in bands])
    return pd.DataFrame({"band": [band_label(b) for b in bands], "low_hz": [b[0] for b in bands],
                         "high_hz": [b[1] for b in bands], "mass_share": mass / max(mass.sum(), 1e-300),
                         "energy_share": en / max(en.sum(), 1e-300)})


def band_label(band: tuple[float, float]) -> str:
    """``(300, 1000) -> "0.3-1 kHz"``."""
    return f"{band[0] / 1000:g}-{band[1] / 1000:g} kHz"

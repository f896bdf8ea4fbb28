"""Integrated Gradients on the verification score, from the waveform.

What is attributed
------------------
A trial's score is the cosine similarity of two speaker embeddings.  We
attribute the score to the samples of the **test waveform** while the
**enrollment embedding is held fixed** (computed once from the whole
enrollment utterance): ``score(x) = cos(e_enroll, f(x))``.  This asks "which
parts of the test utterance make it sound like (or unlike) the enrolled
speaker", one utterance at a time, and keeps every attribution a function of
one signal with one phone alignment.  ``side="enroll"`` swaps the roles
(cosine is symmetric).

The speaker model takes the waveform (fbank extraction, or an SSL upstream,
is inside the model), so an fbank system and an SSL system are attributed on
exactly the same input space and their attributions can be compared sample
by sample.

Baseline
--------
Integrated Gradients explains ``score(x) - score(x')`` along the straight
path ``x' + alpha (x - x')``.  The default baseline ``"noise"`` is white
Gaussian noise ``noise_db`` (default -30) dB below the RMS of the test
utterance, seeded per trial.  Why not digital silence (``"zeros"``, also
available)?  The fbank front-end is a *mean-normalised log* spectrum, so it
is almost invariant to the input gain: along the path from zero, the
features of ``alpha x`` are those of ``x`` as soon as ``alpha^2 |X|^2`` exceeds
the log floor (1e-6), so the whole score change happens within a tiny
``alpha`` interval near 0 where the floor dominates.  The integral is then
ill-conditioned (large convergence delta at any practical step count) and the
attribution says more about the log floor than about speech.  SSL
front-ends normalise the waveform and share the same problem.  With a noise
floor, the path is an SNR sweep: it starts from a signal with no speaker
content (and every frequency present, so the log spectrum is defined
everywhere) and the speech emerges out of the noise as ``alpha`` grows.  The
consequence to keep in mind: attributions explain the score *relative to
that of a noise recording*, which is itself not zero (it is reported as
``baseline_score``).

Steps and convergence
---------------------
captum's Gauss-Legendre quadrature with ``steps`` points; the completeness
residual ``delta = sum(attributions) - (score - baseline_score)`` is reported
for every trial, together with ``relative_delta = |delta| / |score -
baseline_score|``.  :func:`convergence_table` tabulates it against the
number of steps.  On a trained smoke fbank model (6 trials, 3 s), the median
relative delta was 13 / 6 / 4 % at 16 / 32 / 64 steps with a -40 dB noise
baseline and 7 / 7 / 1 % at -30 dB (median ``|score - baseline_score|``
0.24); it does not fall monotonically with the step count (the ReLU network
makes the integrand rough), so the default is 64 steps and every trial's
delta is kept in the results.  The noise level matters little between -30
and -10 dB.  The path points are evaluated ``internal_batch_size`` at a time so
long utterances fit memory.

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

Shares
------
:func:`phone_class_shares` and :func:`band_shares` give the share of
**absolute** attribution mass (positive and negative evidence both count as
"the decision rests on it") per phone class / frequency band, next to the
share of duration / input energy, so that "vowels carry 60 % of the mass"
can be compared with "vowels are 45 % of the time".
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..config import ConfigError
from ..data.corpus import PHONE_CLASSES, Segment, SVCorpus, Trial

#: Frequency bands (Hz) of the band shares: low (F0 and first harmonics),
#: F1 region, F2 region, F3/F4 and fricative region, high band.
FREQUENCY_BANDS: tuple[tuple[float, float], ...] = (
    (0.0, 300.0), (300.0, 1000.0), (1000.0, 2000.0), (2000.0, 4000.0), (4000.0, 8000.0))

#: STFT of the spectro-temporal projection: 25 ms Hann window, 10 ms hop.
STFT_N_FFT = 512
STFT_WIN_MS = 25.0
STFT_HOP_MS = 10.0


# ---------------------------------------------------------------------------
# The score as a function of the test waveform
# ---------------------------------------------------------------------------


class TrialScorer(torch.nn.Module):
    """``score(test_wave) = cos(enroll_embedding, model(test_wave))``.

    ``forward`` takes ``(batch, time)`` waveforms and returns ``(batch,)``
    scores against the one fixed enrollment embedding ``(dim,)``.

    >>> from sslsv.config import EcapaConfig
    >>> from sslsv.sv.model import FbankFrontend, SpeakerModel
    >>> model = SpeakerModel(FbankFrontend(), EcapaConfig(32, 8, 16)).eval()
    >>> scorer = TrialScorer(model, torch.randn(16))
    >>> scorer(torch.randn(3, 8000)).shape
    torch.Size([3])
    """

    def __init__(self, speaker_model: torch.nn.Module, enroll_embedding: torch.Tensor):
        super().__init__()
        self.speaker_model = speaker_model
        self.register_buffer("enroll", torch.nn.functional.normalize(enroll_embedding.detach().float(), dim=-1))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        emb = self.speaker_model(wave)
        return torch.nn.functional.normalize(emb.float(), dim=-1) @ self.enroll


@contextlib.contextmanager
def input_gradients(speaker_model: torch.nn.Module):
    """Let gradients reach the waveform through a frozen SSL upstream.

    A frozen upstream runs under ``torch.no_grad`` (``upstream_frozen``) to
    save memory in training; that would cut the path from the score to the
    waveform.  Inside this context every such flag is off (the upstream's
    parameters keep ``requires_grad=False``, so only the input gets a
    gradient); the flags are restored afterwards.
    """
    flagged = [m for m in speaker_model.modules() if getattr(m, "upstream_frozen", False)]
    for m in flagged:
        m.upstream_frozen = False
    try:
        yield speaker_model
    finally:
        for m in flagged:
            m.upstream_frozen = True


def embed(speaker_model: torch.nn.Module, wave: torch.Tensor) -> torch.Tensor:
    """The embedding ``(dim,)`` of one waveform ``(time,)``, without gradients."""
    with torch.no_grad():
        return speaker_model(wave.unsqueeze(0)).squeeze(0)


# ---------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------


def noise_baseline(wave: torch.Tensor, seed: int = 0, noise_db: float = -30.0) -> torch.Tensor:
    """White Gaussian noise ``noise_db`` dB below the RMS of ``wave`` (same shape).

    >>> x = torch.ones(16000)
    >>> b = noise_baseline(x, noise_db=-20.0)
    >>> round(float(b.pow(2).mean().sqrt()), 2)
    0.1
    """
    g = torch.Generator().manual_seed(int(seed))
    rms = wave.detach().float().pow(2).mean().sqrt().clamp_min(1e-8)
    noise = torch.randn(wave.shape, generator=g, dtype=torch.float32)
    noise = noise / noise.pow(2).mean().sqrt()
    return (noise * rms * 10.0 ** (noise_db / 20.0)).to(wave.device, wave.dtype)


def zeros_baseline(wave: torch.Tensor, seed: int = 0, noise_db: float = -30.0) -> torch.Tensor:
    """Digital silence (see the module docstring for why it is not the default)."""
    return torch.zeros_like(wave)


BASELINES: dict[str, Callable[..., torch.Tensor]] = {"noise": noise_baseline, "zeros": zeros_baseline}


# ---------------------------------------------------------------------------
# One trial
# ---------------------------------------------------------------------------


@dataclass
class TrialAttribution:
    """Integrated Gradients of one trial score with respect to one waveform.

    ``attributions`` and ``path_gradient`` are ``(time,)``;
    ``completeness`` check: ``attributions.sum() - (score - baseline_score)
    == delta`` (captum's convergence delta).
    """

    wave: np.ndarray  # (time,) the attributed waveform
    baseline: np.ndarray  # (time,) the IG baseline
    attributions: np.ndarray  # (time,) (x - x') * path_gradient
    path_gradient: np.ndarray  # (time,) mean gradient along the path (captum's global attribution)
    score: float  # cosine score of the trial
    baseline_score: float  # score of the baseline against the same enrollment
    delta: float  # captum's convergence delta: sum(attributions) - (score - baseline_score)
    steps: int
    baseline_kind: str
    sample_rate: int = 16000
    seconds: float = 0.0  # wall time of the attribution

    @property
    def score_difference(self) -> float:
        return self.score - self.baseline_score

    @property
    def relative_delta(self) -> float:
        """``|delta| / |score - baseline_score|``: the quadrature error relative to what is explained."""
        return abs(self.delta) / max(abs(self.score_difference), 1e-12)


def _as_tensor(wave) -> torch.Tensor:
    return torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave).float()


def attribute_trial(
    speaker_model: torch.nn.Module,
    enroll_wave,
    test_wave,
    *,
    steps: int = 64,
    baseline: str = "noise",
    noise_db: float = -30.0,
    seed: int = 0,
    internal_batch_size: int = 8,
    side: str = "test",
    enroll_embedding: torch.Tensor | None = None,
    sample_rate: int = 16000,
    device: torch.device | str = "cpu",
) -> TrialAttribution:
    """Integrated Gradients of the trial score with respect to one of its waveforms.

    ``side="test"`` (default) attributes the test waveform with the enrollment
    embedding fixed; ``side="enroll"`` the other way round.  Waveforms are
    ``(time,)`` arrays or tensors.  ``enroll_embedding`` (``(dim,)``) skips
    embedding the fixed side again.  The model is put in eval mode.

    >>> from sslsv.config import EcapaConfig
    >>> from sslsv.sv.model import FbankFrontend, SpeakerModel
    >>> _ = torch.manual_seed(0)
    >>> model = SpeakerModel(FbankFrontend(), EcapaConfig(32, 8, 16))
    >>> r = attribute_trial(model, torch.randn(8000), torch.randn(8000), steps=16)
    >>> r.attributions.shape
    (8000,)
    >>> bool(abs(r.attributions.sum() - r.score_difference - r.delta) < 1e-4)
    True
    """
    from captum.attr import IntegratedGradients

    if baseline not in BASELINES:
        raise ConfigError(f"unknown baseline {baseline!r}; valid baselines: {', '.join(BASELINES)}")
    if side not in ("test", "enroll"):
        raise ConfigError(f"side must be 'test' or 'enroll', got {side!r}")
    device = torch.device(device)
    speaker_model = speaker_model.eval().to(device)
    fixed, attributed = (_as_tensor(enroll_wave), _as_tensor(test_wave))
    if side == "enroll":
        fixed, attributed = attributed, fixed
    attributed = attributed.to(device)
    t0 = time.perf_counter()
    if enroll_embedding is None:
        enroll_embedding = embed(speaker_model, fixed.to(device))
    scorer = TrialScorer(speaker_model, enroll_embedding.to(device)).eval()
    x = attributed.unsqueeze(0)
    x0 = BASELINES[baseline](attributed, seed=seed, noise_db=noise_db).unsqueeze(0)
    # multiply_by_inputs=False returns the path-averaged gradient g; the local
    # attributions (x - x') * g are formed here, so the same g also gives the
    # spectro-temporal attributions (spectrotemporal_attributions).
    ig = IntegratedGradients(scorer, multiply_by_inputs=False)
    with input_gradients(speaker_model):
        grad = ig.attribute(x, baselines=x0, n_steps=int(steps), method="gausslegendre",
                            internal_batch_size=int(internal_batch_size))
        attr = grad * (x - x0)
        delta = ig.compute_convergence_delta(attr, x0, x)
        with torch.no_grad():
            s = scorer(torch.cat([x, x0]))
    return TrialAttribution(
        wave=attributed.detach().cpu().numpy(), baseline=x0.squeeze(0).cpu().numpy(),
        attributions=attr.squeeze(0).detach().cpu().numpy(), path_gradient=grad.squeeze(0).detach().cpu().numpy(),
        score=float(s[0]), baseline_score=float(s[1]), delta=float(delta.reshape(-1)[0]), steps=int(steps),
        baseline_kind=baseline, sample_rate=sample_rate, seconds=time.perf_counter() - t0)


def convergence_table(speaker_model: torch.nn.Module, enroll_wave, test_wave,
                      steps: Sequence[int] = (8, 16, 32, 64), **kwargs) -> pd.DataFrame:
    """Convergence delta against the number of IG steps for one trial.

    Columns: ``steps, score, baseline_score, score_difference, delta,
    relative_delta, seconds``.
    """
    rows = []
    for n in steps:
        r = attribute_trial(speaker_model, enroll_wave, test_wave, steps=int(n), **kwargs)
        rows.append({"steps": int(n), "score": r.score, "baseline_score": r.baseline_score,
                     "score_difference": r.score_difference, "delta": r.delta,
                     "relative_delta": r.relative_delta, "seconds": r.seconds})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Time and frequency views
# ---------------------------------------------------------------------------


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


def _stft_params(sample_rate: int) -> tuple[int, int, int]:
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
    n_fft, win, hop = _stft_params(sr)
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


# ---------------------------------------------------------------------------
# Shares per phone class and per frequency band
# ---------------------------------------------------------------------------


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
    n_fft, win, hop = _stft_params(result.sample_rate)
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


# ---------------------------------------------------------------------------
# Aggregation over trials
# ---------------------------------------------------------------------------


def bootstrap_mean_ci(values, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap interval of the mean: ``(mean, low, high)``.

    >>> m, lo, hi = bootstrap_mean_ci(np.arange(100.0))
    >>> m, lo < m < hi
    (49.5, True)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(int(n_resamples), len(v)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(v.mean()), float(lo), float(hi)


def bootstrap_difference_ci(a, b, n_resamples: int = 1000, level: float = 0.95,
                            seed: int = 0) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` of two independent samples, with a percentile bootstrap interval."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, len(a), size=(int(n_resamples), len(a)))].mean(axis=1)
    db = b[rng.integers(0, len(b), size=(int(n_resamples), len(b)))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(da - db, [alpha, 1.0 - alpha])
    return float(a.mean() - b.mean()), float(lo), float(hi)


def summarise_shares(shares: pd.DataFrame, by: str, value_columns: Sequence[str], n_resamples: int = 1000,
                     level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean share with bootstrap CI over trials, per model, trial type and ``by``.

    ``shares`` has one row per (model, trial, ``by``) with a ``trial_type``
    column ("target" / "nontarget"); the summary adds ``trial_type="all"``.
    Columns: ``model, trial_type, <by>, n_trials`` and ``<col>``,
    ``<col>_ci_low``, ``<col>_ci_high`` for each value column.
    """
    rows = []
    both = pd.concat([shares, shares.assign(trial_type="all")], ignore_index=True)
    for (model, ttype, key), grp in both.groupby(["model", "trial_type", by], sort=False):
        row = {"model": model, "trial_type": ttype, by: key, "n_trials": len(grp)}
        for col in value_columns:
            m, lo, hi = bootstrap_mean_ci(grp[col], n_resamples, level, seed)
            row.update({col: m, f"{col}_ci_low": lo, f"{col}_ci_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def trial_type_difference(shares: pd.DataFrame, by: str, column: str = "mass_share", n_resamples: int = 1000,
                          level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Target minus non-target mean of ``column`` per model and ``by``, with a bootstrap CI."""
    rows = []
    for (model, key), grp in shares.groupby(["model", by], sort=False):
        t = grp.loc[grp["trial_type"] == "target", column]
        n = grp.loc[grp["trial_type"] == "nontarget", column]
        d, lo, hi = bootstrap_difference_ci(t, n, n_resamples, level, seed)
        rows.append({"model": model, by: key, "difference": d, "ci_low": lo, "ci_high": hi,
                     "n_target": len(t), "n_nontarget": len(n)})
    return pd.DataFrame(rows)


def select_trials(corpus: SVCorpus, n_trials: int, seed: int = 0) -> list[tuple[int, Trial]]:
    """``n_trials`` trials, half target and half non-target, drawn at random.

    Only trials whose test utterance has a phone alignment are eligible when
    the corpus has alignments.  Returns ``[(index in corpus.trials, trial)]``
    in trial-list order; the same seed gives the same trials for every model.
    """
    eligible = [(i, t) for i, t in enumerate(corpus.trials) if not corpus.alignments or t.test in corpus.alignments]
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, Trial]] = []
    n_target = (int(n_trials) + 1) // 2
    for label, n in ((1, n_target), (0, int(n_trials) - n_target)):
        pool = [it for it in eligible if it[1].label == label]
        if n > len(pool):
            raise ConfigError(f"asked for {n} {'target' if label else 'non-target'} trials, only {len(pool)} eligible")
        idx = rng.choice(len(pool), size=n, replace=False)
        chosen.extend(pool[j] for j in idx)
    return sorted(chosen, key=lambda it: it[0])


@dataclass
class AttributionStudy:
    """Tidy results of :func:`attribution_study` (one row per model and trial, or per class/band)."""

    trials: pd.DataFrame  # model, trial, label, trial_type, enroll, test, score, baseline_score, delta, ...
    phone_shares: pd.DataFrame  # model, trial, trial_type, phone_class, mass/duration/energy shares, enrichment
    band_shares: pd.DataFrame  # model, trial, trial_type, band, low_hz, high_hz, mass_share, energy_share
    phone_summary: pd.DataFrame  # per model, trial_type, phone_class: mean shares with bootstrap CIs
    band_summary: pd.DataFrame  # per model, trial_type, band: mean shares with bootstrap CIs
    phone_difference: pd.DataFrame  # target - non-target mass share per model and phone class, with CI
    band_difference: pd.DataFrame  # target - non-target mass share per model and band, with CI
    examples: dict[str, TrialAttribution] = field(default_factory=dict)  # model -> the example trial
    example_segments: list[Segment] = field(default_factory=list)  # alignment of the example test utterance
    example_trial: Trial | None = None

    _TABLES = ("trials", "phone_shares", "band_shares", "phone_summary", "band_summary", "phone_difference",
               "band_difference")

    def save(self, directory) -> None:
        """Write the study to ``directory``: one CSV per table, the examples as npz + JSON (no pickle)."""
        import json
        from dataclasses import asdict
        from pathlib import Path

        from ..artifacts import atomic_write_json, atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in self._TABLES:
            atomic_write_text(d / f"{name}.csv", getattr(self, name).to_csv(index=False))
        meta = {"models": list(self.examples), "example_trial": asdict(self.example_trial) if self.example_trial else None,
                "example_segments": [asdict(x) for x in self.example_segments], "examples": {}}
        for i, (model, r) in enumerate(self.examples.items()):
            np.savez(d / f"example_{i}.npz", wave=r.wave, baseline=r.baseline, attributions=r.attributions,
                     path_gradient=r.path_gradient)
            meta["examples"][model] = {"file": f"example_{i}.npz", "score": r.score, "baseline_score": r.baseline_score,
                                       "delta": r.delta, "steps": r.steps, "baseline_kind": r.baseline_kind,
                                       "sample_rate": r.sample_rate, "seconds": r.seconds}
        atomic_write_json(d / "study.json", json.loads(json.dumps(meta, default=float)))

    @classmethod
    def load(cls, directory) -> "AttributionStudy":
        """Read a study written by :meth:`save`."""
        import json
        from pathlib import Path

        d = Path(directory)
        meta = json.loads((d / "study.json").read_text())
        def read(name: str) -> pd.DataFrame:
            try:
                return pd.read_csv(d / f"{name}.csv")
            except pd.errors.EmptyDataError:  # a table with no columns (no alignments)
                return pd.DataFrame()

        tables = {name: read(name) for name in cls._TABLES}
        examples = {}
        for model, m in meta["examples"].items():
            with np.load(d / m["file"]) as z:
                arrays = {k: z[k] for k in ("wave", "baseline", "attributions", "path_gradient")}
            examples[model] = TrialAttribution(**arrays, **{k: v for k, v in m.items() if k != "file"})
        trial = Trial(**meta["example_trial"]) if meta["example_trial"] else None
        return cls(**tables, examples=examples, example_segments=[Segment(**x) for x in meta["example_segments"]],
                   example_trial=trial)


def attribution_study(
    models: Mapping[str, torch.nn.Module],
    corpus: SVCorpus,
    n_trials: int = 40,
    seed: int = 0,
    steps: int = 64,
    *,
    baseline: str = "noise",
    noise_db: float = -30.0,
    max_seconds: float = 4.0,
    internal_batch_size: int = 8,
    sample_rate: int = 16000,
    bands: Sequence[tuple[float, float]] = FREQUENCY_BANDS,
    n_resamples: int = 1000,
    level: float = 0.95,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> AttributionStudy:
    """Attribute the same ``n_trials`` trials (half target) with every model.

    ``models`` maps a system name to a speaker model (waveform ->
    embedding).  Test waveforms are cut to their first ``max_seconds``;
    enrollment embeddings use the same cut.  The baseline of a trial is
    seeded by ``(seed, trial index)``, so every model sees the same
    baseline.  The first selected target trial is kept whole as the example
    for the time and spectrogram figures.
    """
    from tqdm.auto import tqdm

    from ..data.audio import read_audio

    selected = select_trials(corpus, n_trials, seed)
    limit = int(max_seconds * sample_rate) if max_seconds else None
    cache: dict[str, np.ndarray] = {}

    def wave_of(key: str) -> np.ndarray:
        if key not in cache:
            cache[key] = read_audio(corpus.path(key), sample_rate=sample_rate)[:limit]
        return cache[key]

    example_index = next((i for i, t in selected if t.label == 1), selected[0][0])
    trial_rows, phone_rows, band_rows = [], [], []
    examples: dict[str, TrialAttribution] = {}
    bar = tqdm(total=len(models) * len(selected), desc="integrated gradients", disable=not progress,
               mininterval=1.0)
    for name, model in models.items():
        model.eval().to(device)
        for index, trial in selected:
            r = attribute_trial(model, wave_of(trial.enroll), wave_of(trial.test), steps=steps, baseline=baseline,
                                noise_db=noise_db, seed=int(np.random.default_rng([seed, index]).integers(2**31)),
                                internal_batch_size=internal_batch_size, sample_rate=sample_rate, device=device)
            ttype = "target" if trial.label == 1 else "nontarget"
            common = {"model": name, "trial": index, "trial_type": ttype}
            trial_rows.append({**common, "label": trial.label, "enroll": trial.enroll, "test": trial.test,
                               "score": r.score, "baseline_score": r.baseline_score,
                               "score_difference": r.score_difference, "attribution_sum": float(r.attributions.sum()),
                               "delta": r.delta, "relative_delta": r.relative_delta, "steps": steps,
                               "seconds": r.seconds})
            if trial.test in corpus.alignments:
                for row in phone_class_shares(r.attributions, corpus.alignments[trial.test], sample_rate,
                                                      wave=r.wave).to_dict("records"):
                    phone_rows.append({**common, **row})
            for row in band_shares(r, bands).to_dict("records"):
                band_rows.append({**common, **row})
            if index == example_index:
                examples[name] = r
            bar.update(1)
    bar.close()
    trials = pd.DataFrame(trial_rows)
    phones = pd.DataFrame(phone_rows, columns=["model", "trial", "trial_type", "phone_class", "mass_share",
                                               "duration_share", "enrichment", "energy_share"])
    bands_df = pd.DataFrame(band_rows)
    kw = dict(n_resamples=n_resamples, level=level, seed=seed)
    example_trial = corpus.trials[example_index]
    return AttributionStudy(
        trials=trials, phone_shares=phones, band_shares=bands_df,
        phone_summary=summarise_shares(phones, "phone_class", ("mass_share", "duration_share", "energy_share",
                                                               "enrichment"), **kw)
        if len(phones) else phones,
        band_summary=summarise_shares(bands_df, "band", ("mass_share", "energy_share"), **kw),
        phone_difference=trial_type_difference(phones, "phone_class", **kw) if len(phones) else phones,
        band_difference=trial_type_difference(bands_df, "band", **kw),
        examples=examples, example_segments=list(corpus.alignments.get(example_trial.test, [])),
        example_trial=example_trial)

"""Integrated Gradients of one verification trial score, from the waveform.

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
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from ..config import ConfigError


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

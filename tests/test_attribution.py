"""Integrated Gradients on the trial score: completeness, coordinates, shares, the study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslsv.analysis.attribution import (
    BASELINES, FREQUENCY_BANDS, TrialScorer, attribute_trial, attribution_study, band_shares,
    bootstrap_difference_ci, bootstrap_mean_ci, convergence_table, noise_baseline, phone_class_shares,
    sample_classes, select_trials, spectrotemporal_attributions, time_profile)
from sslsv.config import EcapaConfig
from sslsv.data.corpus import PHONE_CLASSES, Segment, SVCorpus, Trial, Utterance
from sslsv.sv.model import FbankFrontend, SpeakerModel

SR = 16000


def tiny_model(seed: int = 0) -> SpeakerModel:
    torch.manual_seed(seed)
    return SpeakerModel(FbankFrontend(), EcapaConfig(channels=16, attention_channels=8, embedding_dim=16)).eval()


def voiced(seconds: float = 0.5, f0: float = 140.0, seed: int = 0) -> torch.Tensor:
    """A buzzy harmonic signal with a little noise: something with a spectrum to attribute."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * np.hanning(len(t)) ** 0.3
    return torch.tensor(0.1 * x + 0.005 * rng.standard_normal(len(t)), dtype=torch.float32)


@pytest.fixture(scope="module")
def trial_result():
    model = tiny_model()
    return model, attribute_trial(model, voiced(seed=1, f0=120.0), voiced(seed=2), steps=32, internal_batch_size=8)


def test_completeness_equals_captum_delta_and_is_small(trial_result):
    _, r = trial_result
    total = float(np.sum(r.attributions, dtype=np.float64))
    # the reported delta is captum's, and it is exactly the completeness residual
    assert total - r.score_difference == pytest.approx(r.delta, abs=1e-5)
    # the quadrature error is small relative to the explained score difference
    assert abs(r.score_difference) > 1e-3
    assert r.relative_delta < 0.1, r.relative_delta


def test_attributions_match_captum_local_attributions(trial_result):
    from captum.attr import IntegratedGradients

    model, r = trial_result
    enroll = model(voiced(seed=1, f0=120.0).unsqueeze(0)).squeeze(0).detach()
    ig = IntegratedGradients(TrialScorer(model, enroll))
    x, x0 = torch.from_numpy(r.wave)[None], torch.from_numpy(r.baseline)[None]
    attr, delta = ig.attribute(x, baselines=x0, n_steps=r.steps, internal_batch_size=8,
                               return_convergence_delta=True)
    np.testing.assert_allclose(attr.squeeze(0).numpy(), r.attributions, rtol=1e-4, atol=1e-8)
    assert float(delta) == pytest.approx(r.delta, abs=1e-5)


def test_score_is_the_trial_cosine(trial_result):
    model, r = trial_result
    with torch.no_grad():
        e = model(voiced(seed=1, f0=120.0)[None]).squeeze(0)
        t = model(torch.from_numpy(r.wave)[None]).squeeze(0)
    assert r.score == pytest.approx(float(torch.nn.functional.cosine_similarity(e, t, dim=0)), abs=1e-5)


def test_spectrotemporal_map_is_complete(trial_result):
    _, r = trial_result
    amap, freqs, times = spectrotemporal_attributions(r)
    assert amap.shape == (len(freqs), len(times))
    assert freqs[0] == 0 and freqs[-1] == SR / 2
    assert amap.sum() == pytest.approx(float(r.attributions.sum(dtype=np.float64)), abs=1e-6)


def test_time_profile_and_band_shares(trial_result):
    _, r = trial_result
    prof = time_profile(r.attributions, SR)
    assert len(prof) == int(np.ceil(len(r.attributions) / 160))
    assert prof.sum() == pytest.approx(np.abs(r.attributions).sum(), rel=1e-6)
    bands = band_shares(r)
    assert len(bands) == len(FREQUENCY_BANDS)
    assert bands["mass_share"].sum() == pytest.approx(1.0)
    assert bands["energy_share"].sum() == pytest.approx(1.0)
    # the harmonic signal has most of its energy below 2 kHz
    assert bands["energy_share"].iloc[:3].sum() > 0.8


def test_phone_class_shares_sum_to_one():
    segs = [Segment(0.0, 0.1, "a", "vowel"), Segment(0.1, 0.15, "n", "nasal"), Segment(0.15, 0.2, "s", "fricative"),
            Segment(0.2, 0.22, "p", "plosive"), Segment(0.22, 0.3, "sil", "silence")]
    rng = np.random.default_rng(0)
    a = rng.standard_normal(int(0.35 * SR))  # the last 50 ms are not aligned
    t = phone_class_shares(a, segs, SR)
    assert list(t["phone_class"]) == list(PHONE_CLASSES)
    assert t["mass_share"].sum() == pytest.approx(1.0)
    assert t["duration_share"].sum() == pytest.approx(1.0)
    assert t.set_index("phone_class")["duration_share"]["vowel"] == pytest.approx(0.1 / 0.3)
    # all the mass in the vowel -> share 1 there
    b = np.zeros_like(a)
    b[100:200] = 1.0
    assert phone_class_shares(b, segs, SR).set_index("phone_class")["mass_share"]["vowel"] == pytest.approx(1.0)


def test_sample_classes_rejects_unknown_class():
    with pytest.raises(ValueError, match="valid classes"):
        sample_classes(10, [Segment(0, 1, "x", "glide")], SR)


def test_baselines():
    x = voiced()
    b = noise_baseline(x, seed=3, noise_db=-30.0)
    ratio_db = 20 * np.log10(float(b.pow(2).mean().sqrt()) / float(x.pow(2).mean().sqrt()))
    assert ratio_db == pytest.approx(-30.0, abs=1e-3)
    assert torch.equal(b, noise_baseline(x, seed=3))
    assert not torch.equal(b, noise_baseline(x, seed=4))
    assert set(BASELINES) == {"noise", "zeros"}
    with pytest.raises(ValueError, match="valid baselines"):
        attribute_trial(tiny_model(), x, x, baseline="pink")


def test_enroll_side_attributes_the_enrollment():
    model = tiny_model()
    e, t = voiced(seed=1, f0=120.0, seconds=0.3), voiced(seed=2, seconds=0.4)
    r = attribute_trial(model, e, t, steps=8, side="enroll")
    assert r.attributions.shape == (len(e),)
    assert np.array_equal(r.wave, e.numpy())


def test_convergence_table_columns():
    model = tiny_model()
    table = convergence_table(model, voiced(seed=1, seconds=0.3), voiced(seed=2, seconds=0.3), steps=(4, 8))
    assert list(table["steps"]) == [4, 8]
    assert {"delta", "relative_delta", "seconds", "score_difference"} <= set(table.columns)


def test_bootstrap_intervals():
    m, lo, hi = bootstrap_mean_ci(np.arange(50.0), n_resamples=500)
    assert lo < m < hi and m == 24.5
    d, lo, hi = bootstrap_difference_ci(np.ones(20) * 2, np.ones(30), n_resamples=200)
    assert d == lo == hi == 1.0


# ---------------------------------------------------------------------------
# The study on a tiny on-disk corpus with alignments
# ---------------------------------------------------------------------------


@pytest.fixture
def aligned_corpus(tmp_path) -> SVCorpus:
    import soundfile as sf

    keys, align = [], {}
    for s, f0 in (("spk1", 110.0), ("spk2", 180.0)):
        for u in range(2):
            key = f"{s}/sess{u}/0000{u}.wav"
            path = tmp_path / "wav" / key
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, voiced(0.4, f0 * (1 + 0.05 * u), seed=u).numpy(), SR)
            keys.append(key)
            align[key] = [Segment(0.0, 0.05, "sil", "silence"), Segment(0.05, 0.2, "a", "vowel"),
                          Segment(0.2, 0.25, "s", "fricative"), Segment(0.25, 0.3, "m", "nasal"),
                          Segment(0.3, 0.33, "t", "plosive"), Segment(0.33, 0.4, "sil", "silence")]
    trials = [Trial(1, keys[0], keys[1]), Trial(0, keys[0], keys[2]), Trial(1, keys[2], keys[3]),
              Trial(0, keys[1], keys[3])]
    train = [Utterance(k, tmp_path / "wav" / k, k.split("/")[0]) for k in keys]
    return SVCorpus(root=tmp_path, train=train, trials=trials, alignments=align)


def test_select_trials_is_balanced_and_seeded(aligned_corpus):
    sel = select_trials(aligned_corpus, 4, seed=0)
    assert sorted(t.label for _, t in sel) == [0, 0, 1, 1]
    assert sel == select_trials(aligned_corpus, 4, seed=0)
    with pytest.raises(ValueError, match="eligible"):
        select_trials(aligned_corpus, 6, seed=0)


def test_attribution_study_tables(aligned_corpus, tmp_path):
    models = {"a": tiny_model(0), "b": tiny_model(1)}
    study = attribution_study(models, aligned_corpus, n_trials=2, seed=0, steps=8, n_resamples=50, progress=False)
    assert len(study.trials) == 4 and set(study.trials["trial_type"]) == {"target", "nontarget"}
    np.testing.assert_allclose(study.trials["attribution_sum"] - study.trials["score_difference"],
                               study.trials["delta"], atol=1e-5)
    per_trial = study.phone_shares.groupby(["model", "trial"])[["mass_share", "duration_share"]].sum()
    np.testing.assert_allclose(per_trial.to_numpy(), 1.0)
    np.testing.assert_allclose(study.band_shares.groupby(["model", "trial"])["mass_share"].sum(), 1.0)
    assert set(study.phone_summary["trial_type"]) == {"target", "nontarget", "all"}
    s = study.phone_summary
    assert ((s["mass_share_ci_low"] <= s["mass_share"] + 1e-12) & (s["mass_share"] <= s["mass_share_ci_high"] + 1e-12)).all()
    assert set(study.phone_difference["phone_class"]) == set(PHONE_CLASSES)
    assert set(study.examples) == {"a", "b"} and study.example_trial.label == 1
    assert isinstance(study.band_summary, pd.DataFrame) and len(study.band_difference) == 2 * len(FREQUENCY_BANDS)
    # the cache round trip (what a chapter re-build reads back instead of recomputing)
    study.save(tmp_path / "study")
    back = type(study).load(tmp_path / "study")
    for name in study._TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(study, name), check_dtype=False)
    for m, r in study.examples.items():
        np.testing.assert_array_equal(back.examples[m].attributions, r.attributions)
        assert back.examples[m].delta == r.delta and back.examples[m].steps == r.steps
    assert back.example_trial == study.example_trial and back.example_segments == study.example_segments


class FrozenThroughNoGrad(torch.nn.Module):
    """Stands in for a frozen SSL front-end: runs its upstream under no_grad while ``upstream_frozen``."""

    def __init__(self):
        super().__init__()
        self.inner = FbankFrontend()
        self.output_dim = self.inner.output_dim
        self.upstream_frozen = True

    def forward(self, wave):
        if self.upstream_frozen:
            with torch.no_grad():
                return self.inner(wave)
        return self.inner(wave)


def test_frozen_upstream_still_passes_input_gradients():
    torch.manual_seed(0)
    model = SpeakerModel(FrozenThroughNoGrad(), EcapaConfig(channels=16, attention_channels=8, embedding_dim=16)).eval()
    r = attribute_trial(model, voiced(seed=1, seconds=0.3), voiced(seed=2, seconds=0.3), steps=8)
    assert np.abs(r.attributions).sum() > 0
    assert r.attributions.sum() - r.score_difference == pytest.approx(r.delta, abs=1e-5)
    assert model.frontend.upstream_frozen  # restored

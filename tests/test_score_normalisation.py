"""AS-norm (adaptive s-norm) against a direct computation, and in a run's metrics (issue 25, item 4)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from sslsv.config import resolve
from sslsv.data.corpus import Trial
from sslsv.sv.scoring import as_norm_scores, cohort_statistics, cosine_scores, speaker_cohort


def as_norm_loop(embeddings, index, trials, cohort, top_n):
    """The textbook definition, one trial and one side at a time, with plain Python."""
    def cos(x, y):
        return float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))

    def stats(x):
        best = sorted((cos(x, c) for c in cohort), reverse=True)[:top_n]
        mean = sum(best) / len(best)
        return mean, (sum((b - mean) ** 2 for b in best) / len(best)) ** 0.5

    out = []
    for t in trials:
        e, x = embeddings[index[t.enroll]], embeddings[index[t.test]]
        s = cos(e, x)
        (me, se), (mt, st) = stats(e), stats(x)
        out.append(0.5 * ((s - me) / se + (s - mt) / st))
    return np.array(out)


@pytest.mark.parametrize("top_n", [1 + 1, 7, 50])  # 50 > the cohort: the whole cohort
def test_as_norm_matches_the_direct_computation(top_n):
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((12, 16))
    cohort = rng.standard_normal((20, 16))
    index = {f"u{i}": i for i in range(12)}
    trials = [Trial(int(rng.integers(0, 2)), f"u{a}", f"u{b}") for a, b in rng.integers(0, 12, (40, 2)) if a != b]
    np.testing.assert_allclose(as_norm_scores(emb, index, trials, cohort, top_n),
                               as_norm_loop(emb, index, trials, cohort, top_n), rtol=1e-10, atol=1e-10)
    raw = cosine_scores(emb, index, trials)
    assert not np.allclose(as_norm_scores(emb, index, trials, cohort, top_n), raw)  # it does normalise


def test_as_norm_removes_a_per_utterance_offset():
    """A test utterance whose scores are all shifted up (a 'hub') no longer wins: its cohort mean rose too."""
    mean, sd = cohort_statistics(np.eye(3)[:2], np.eye(3), top_n=2)
    assert mean.tolist() == [0.5, 0.5] and sd.tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="cohort of at least 2"):
        cohort_statistics(np.eye(3), np.eye(3)[:1], 1)


def test_speaker_cohort_is_one_unit_mean_per_speaker():
    c = speaker_cohort(np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), ["x", "y", "x"])
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0)
    np.testing.assert_allclose(c[1], [0.0, 1.0])


def test_a_run_with_asnorm_reports_both_and_its_scores_match_the_loop(tmp_path, monkeypatch):
    from test_sv import TINY

    from sslsv.sv import pipeline

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    cfg = resolve("smoke", {**TINY, "eval.asnorm_top_n": 3, "eval.asnorm_utterances_per_speaker": 2})
    result = pipeline.run_sv(cfg, progress=False)
    m = result.metrics
    for key in ("eer_percent", "asnorm_eer_percent", "asnorm_eer_ci_low", "asnorm_min_dcf_0.01",
                "asnorm_min_dcf_0.05_ci_high"):
        assert key in m, key
    assert m["asnorm_cohort_speakers"] == 4 and m["asnorm_top_n"] == 3
    emb = np.load(io.BytesIO(result.run.file("embeddings.npz").read_bytes()))
    cohort = np.load(io.BytesIO(result.run.file("cohort.npz").read_bytes()))
    assert cohort["embeddings"].shape == (4, cfg.ecapa.embedding_dim)
    index = {str(k): i for i, k in enumerate(emb["keys"])}
    scores = pd.read_csv(result.run.file("scores.tsv"), sep="\t")
    trials = [Trial(int(r.label), r.enroll, r.test) for r in scores.itertuples()]
    # scores.tsv keeps 6 decimals, and each normalisation divides by the spread of only 3 cohort scores, which
    # magnifies the float32 embeddings' rounding: 3.4e-6 (2.4e-5 relative) on an Intel AMX host (2026-12-05)
    np.testing.assert_allclose(scores["asnorm_score"], as_norm_loop(emb["embeddings"], index, trials,
                                                                    cohort["embeddings"], 3), rtol=1e-4, atol=1e-5)
    # the raw cosine metrics are those of the same configuration without AS-norm (same training, same scores)
    plain = pipeline.run_sv(resolve("smoke", TINY), progress=False)
    assert plain.metrics["eer_percent"] == m["eer_percent"] and "asnorm_eer_percent" not in plain.metrics

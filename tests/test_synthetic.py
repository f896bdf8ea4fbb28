"""Tests of the procedural corpus generator (sslsv.data.synthetic)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sslsv.config import ConfigError, CorpusConfig, override
from sslsv.data import corpus_root, synthetic
from sslsv.data.corpus import PHONE_CLASSES, read_alignments
from sslsv.data.synthetic import (
    PHONES,
    generate_corpus,
    make_trials,
    plan_utterance,
    sample_channel,
    sample_speaker,
    speaker_ids,
    speaker_session_examples,
    synthesize_utterance,
)

TINY = override(CorpusConfig(), {
    "n_train_speakers": 3,
    "n_test_speakers": 3,
    "sessions_per_speaker": 2,
    "utterances_per_session": 2,
    "min_seconds": 0.6,
    "max_seconds": 1.0,
    "n_trials": 20,
    "pretrain_hours": 0.003,  # ~11 s
    "pretrain_speakers": 2,
})


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    return generate_corpus(TINY, root=tmp_path_factory.mktemp("corpus"), workers=1, progress=False)


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the stats-bearing corpus.json."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "corpus.json":
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------------------
# Synthesis
# ---------------------------------------------------------------------------


def test_utterance_is_finite_bounded_and_aligned():
    rng = np.random.default_rng(0)
    for _ in range(3):
        voice, channel = sample_speaker(rng), sample_channel(rng)
        for ch in (None, channel):
            wave, segs = synthesize_utterance(voice, ch, 1.3, rng)
            assert wave.dtype == np.float32 and wave.shape == (20800,)
            assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
            assert np.sqrt(np.mean(wave ** 2)) > 1e-3  # not silent
            assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(1.3)
            assert all(a.end == b.start for a, b in zip(segs, segs[1:]))  # contiguous
            assert all(s.end > s.start for s in segs)
            assert {s.phone_class for s in segs} <= set(PHONE_CLASSES)
            assert all(PHONES[s.phone].phone_class == s.phone_class for s in segs)


def test_same_rng_same_audio_and_plan_matches():
    voice = sample_speaker(np.random.default_rng(1))
    channel = sample_channel(np.random.default_rng(2))
    a, sa = synthesize_utterance(voice, channel, 1.0, np.random.default_rng(3))
    b, sb = synthesize_utterance(voice, channel, 1.0, np.random.default_rng(3))
    c, _ = synthesize_utterance(voice, channel, 1.0, np.random.default_rng(4))
    assert np.array_equal(a, b) and sa == sb
    assert not np.array_equal(a, c)
    assert plan_utterance(voice, 1.0, np.random.default_rng(3)) == sa


def _f0_estimate(wave: np.ndarray, sr: int = 16000) -> float:
    """Median autocorrelation F0 over loud 40 ms frames."""
    f0s = []
    for i in range(0, len(wave) - 640, 320):
        x = wave[i: i + 640].astype(np.float64)
        if np.mean(x ** 2) < 0.3 * np.mean(wave ** 2):
            continue
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[639:]
        lo, hi = sr // 400, sr // 60
        f0s.append(sr / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(f0s))


def test_speakers_differ_more_than_utterances_of_one_speaker():
    """Clean speech: long-term spectra and F0 separate speakers, not utterances."""
    rng = np.random.default_rng(10)
    # a low and a high voice of the same population draw
    voices = [sample_speaker(np.random.default_rng(s)) for s in range(40)]
    low = min(voices, key=lambda v: v.f0_mean_hz)
    high = max(voices, key=lambda v: v.f0_mean_hz)

    def ltas(wave):
        spec = np.abs(np.fft.rfft(wave[: len(wave) // 512 * 512].reshape(-1, 512) * np.hanning(512), axis=1))
        return 10 * np.log10(np.mean(spec ** 2, axis=0) + 1e-10)

    utts = {name: [synthesize_utterance(v, None, 2.0, rng)[0] for _ in range(2)]
            for name, v in (("low", low), ("high", high))}
    within = np.mean([np.sqrt(np.mean((ltas(u[0]) - ltas(u[1])) ** 2)) for u in utts.values()])
    between = np.sqrt(np.mean((ltas(utts["low"][0]) - ltas(utts["high"][0])) ** 2))
    assert between > 1.5 * within
    f0_low = np.mean([_f0_estimate(u) for u in utts["low"]])
    f0_high = np.mean([_f0_estimate(u) for u in utts["high"]])
    assert f0_high > 1.3 * f0_low
    assert f0_low == pytest.approx(low.f0_mean_hz, rel=0.35)


def test_speaker_spread_and_session_drift_knobs():
    a = sample_speaker(np.random.default_rng(0), spread=1.0)
    b = sample_speaker(np.random.default_rng(0), spread=0.0)
    assert b.f0_range_st == pytest.approx(4.75) and b.accent[0] == (1.0, 1.0, 1.0)
    assert a != b
    assert synthetic.session_voice(a, np.random.default_rng(1), 0.0) == a
    assert synthetic.session_voice(a, np.random.default_rng(1), 1.0) != a
    flat = sample_channel(np.random.default_rng(0), override(CorpusConfig(), {"channel_variability": 0.0,
                                                                              "reverb_probability": 0.0}))
    assert flat.eq_gain_db == (0.0, 0.0) and flat.rt60_s == 0.0


# ---------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------


def test_make_trials_balanced_cross_session_unique():
    keys = {f"s{i}": [f"s{i}/{sess}/{u:05d}.wav" for sess in ("aa", "bb", "cc") for u in (1, 2)] for i in range(4)}
    trials = make_trials(keys, 60, np.random.default_rng(0))
    assert len(trials) == 60 and sum(t[0] for t in trials) == 30
    assert len({(a, b) for _, a, b in trials}) == 60
    for label, a, b in trials:
        same_spk = a.split("/")[0] == b.split("/")[0]
        assert same_spk == bool(label)
        if label:
            assert a.split("/")[1] != b.split("/")[1]
    with pytest.raises(ValueError, match="cross-session"):
        make_trials(keys, 500, np.random.default_rng(0))


# ---------------------------------------------------------------------------
# The corpus on disk
# ---------------------------------------------------------------------------


def test_layout_voxceleb1(tiny_corpus):
    vox = tiny_corpus / "voxceleb1"
    train_ids, test_ids = speaker_ids(TINY)
    assert not set(train_ids) & set(test_ids)
    speakers = sorted(p.name for p in (vox / "wav").iterdir())
    assert speakers == sorted(train_ids + test_ids)
    wavs = sorted((vox / "wav").glob("*/*/*.wav"))
    assert len(wavs) == 6 * 2 * 2
    for p in wavs:
        assert len(p.parent.name) == 11 and p.name in ("00001.wav", "00002.wav")
        info = sf.info(p)
        assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
        assert TINY.min_seconds - 1e-3 <= info.duration <= TINY.max_seconds + 1e-3
    assert not list(tiny_corpus.rglob("*.tmp"))
    header = (vox / "meta" / "speakers.csv").read_text().splitlines()[0].split(",")
    assert {"speaker", "split", "f0_mean_hz", "formant_scale", "jitter", "accent_IY_F1"} <= set(header)


def test_trial_list(tiny_corpus):
    vox = tiny_corpus / "voxceleb1"
    lines = (vox / TINY.voxceleb_trials).read_text().splitlines()
    assert len(lines) == TINY.n_trials
    trials = [line.split() for line in lines]
    assert Counter(t[0] for t in trials) == {"1": 10, "0": 10}
    _, test_ids = speaker_ids(TINY)
    assert len({(a, b) for _, a, b in trials}) == len(trials)
    for label, a, b in trials:
        assert (vox / "wav" / a).exists() and (vox / "wav" / b).exists()
        assert a.split("/")[0] in test_ids and b.split("/")[0] in test_ids
        if label == "1":
            assert a.split("/")[0] == b.split("/")[0] and a.split("/")[1] != b.split("/")[1]
        else:
            assert a.split("/")[0] != b.split("/")[0]


def test_alignments_cover_utterances(tiny_corpus):
    vox = tiny_corpus / "voxceleb1"
    align = read_alignments(vox / "meta" / "alignments.jsonl")
    wavs = {str(p.relative_to(vox / "wav")) for p in (vox / "wav").glob("*/*/*.wav")}
    assert set(align) == wavs
    for key, segs in align.items():
        seconds = sf.info(vox / "wav" / key).duration
        assert segs[0].start == 0.0 and segs[-1].end == pytest.approx(seconds, abs=1e-3)
        assert {s.phone_class for s in segs} <= set(PHONE_CLASSES)
        wave, _ = sf.read(vox / "wav" / key)
        assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0


def test_layout_librispeech_pool(tiny_corpus):
    pool = tiny_corpus / "librispeech" / "LibriSpeech" / "train-synthetic"
    flacs = sorted(pool.glob("*/*/*.flac"))
    assert flacs
    seconds = 0.0
    for p in flacs:
        spk, chapter = p.parent.parent.name, p.parent.name
        assert p.stem.startswith(f"{spk}-{chapter}-") and len(p.stem.split("-")[2]) == 4
        seconds += sf.info(p).duration
    assert seconds / 3600 == pytest.approx(TINY.pretrain_hours, rel=0.05)
    for chapter in {p.parent for p in flacs}:
        stem = f"{chapter.parent.name}-{chapter.name}"
        trans = dict(line.split(" ", 1) for line in (chapter / f"{stem}.trans.txt").read_text().splitlines())
        align = read_alignments(chapter / f"{stem}.align.jsonl")
        assert set(trans) == set(align) == {p.stem for p in chapter.glob("*.flac")}
        for uid, text in trans.items():
            assert text == text.upper() and set(text.split()) <= set(PHONES)
            assert text.split() == [s.phone for s in align[uid] if s.phone_class != "silence"]
    pool_spk = {p.name for p in pool.iterdir()}
    assert not pool_spk & set(sum(speaker_ids(TINY), []))


def test_determinism_and_worker_independence(tiny_corpus, tmp_path):
    cfg = override(TINY, {"pretrain_hours": 0.001})
    a = generate_corpus(cfg, root=tmp_path / "a", workers=1, progress=False)
    b = generate_corpus(cfg, root=tmp_path / "b", workers=2, progress=False)
    assert _digest(a) == _digest(b)
    c = generate_corpus(override(cfg, {"seed": 1}), root=tmp_path / "c", workers=1, progress=False)
    da, dc = _digest(a), _digest(c)
    assert set(da.values()).isdisjoint(dc.values())


def test_cache_does_no_work(tiny_corpus, monkeypatch):
    marker = tiny_corpus / "corpus.json"
    before = marker.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("a cached corpus must not be synthesised again")

    monkeypatch.setattr(synthetic.generate, "synthesize_utterance", boom)  # where the writer looks them up
    monkeypatch.setattr(synthetic.generate, "_plan_corpus", boom)
    assert generate_corpus(TINY, root=tiny_corpus, progress=False) == tiny_corpus
    assert marker.stat().st_mtime_ns == before
    stats = synthetic.corpus_stats(tiny_corpus)
    assert stats["audio_seconds"] > 0 and stats["audio_seconds_per_second"] > 0


def test_resume_after_interruption(tmp_path, monkeypatch):
    cfg = override(TINY, {"pretrain_hours": 0.001})
    full = generate_corpus(cfg, root=tmp_path / "full", workers=1, progress=False)

    calls = {"n": 0}
    real = synthetic.synthesize_utterance

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic.generate, "synthesize_utterance", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_corpus(cfg, root=tmp_path / "part", workers=1, progress=False)
    assert not (tmp_path / "part" / "corpus.json").exists()
    done = sorted((tmp_path / "part").rglob("*.wav")) + sorted((tmp_path / "part").rglob("*.flac"))
    assert len(done) == 5
    mtimes = {p: p.stat().st_mtime_ns for p in done}

    calls["n"] = -10_000  # let the resumed run finish
    generate_corpus(cfg, root=tmp_path / "part", workers=1, progress=False)
    assert calls["n"] == -10_000 + synthetic.corpus_stats(full)["n_files"] - 5  # finished files skipped
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert _digest(tmp_path / "part") == _digest(full)


def test_refuses_real_data_source(tmp_path):
    with pytest.raises(ValueError, match="synthetic"):
        generate_corpus(override(TINY, {"source": "voxceleb1"}), root=tmp_path)


def test_refuses_a_sample_rate_other_than_16k(tmp_path, monkeypatch):
    """The generator writes 16 kHz only: another corpus.sample_rate is refused before any work, naming key and value."""
    cfg = override(TINY, {"sample_rate": 8000})
    message = r"corpus\.sample_rate=8000: the synthetic generator writes 16 kHz audio only"
    with pytest.raises(ConfigError, match=message):
        generate_corpus(cfg, root=tmp_path / "corpus", progress=False)
    assert not list(tmp_path.iterdir())  # no corpus folder, no lock file
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    with pytest.raises(ConfigError, match=message):
        corpus_root(cfg, progress=False)
    with pytest.raises(ConfigError, match=message):
        speaker_session_examples(1, 1, seconds=0.3, cfg=cfg)
    assert not list(tmp_path.iterdir())


def test_default_root_uses_artifact_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    root = synthetic.default_root(TINY)
    assert root.parent == tmp_path / "corpora" and root.name.startswith("synthetic-")
    assert not root.exists()

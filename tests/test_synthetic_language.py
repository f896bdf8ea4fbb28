"""Tests of the synthetic corpus's language (sslsv.data.synthetic.language) and of its two modes on disk."""

from __future__ import annotations

import dataclasses

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from sslsv.config import ConfigError, CorpusConfig, PretrainExperimentConfig, override, resolve
from sslsv.data.corpus import read_alignments
from sslsv.data.synthetic import (SILENCE_WORD, LanguageSpec, bigram_counts, default_root, generate_corpus,
                                  generator_version, is_complete, language_spec, make_language, plan_utterance,
                                  plan_words, read_word_alignments, sample_speaker)
from sslsv.data.synthetic import generate

# A corpus small enough to synthesise in a few seconds.
TINY = override(CorpusConfig(), {
    "n_train_speakers": 2, "n_test_speakers": 2, "sessions_per_speaker": 2, "utterances_per_session": 1,
    "min_seconds": 0.5, "max_seconds": 0.7, "n_trials": 4, "pretrain_hours": 0.0006, "pretrain_speakers": 1,
})
# sha256 over (relative path, bytes) of every file but corpus.json of TINY, and the corpus directories of the
# smoke and cpu profiles, all computed with the generator *before* the language existed (commit a34b0c5).
SYLLABLE_DIGEST = "09d9ba2b0a9753794a464338e5607c33a70feaee5099290bda07a0e38e5f8293"
SYLLABLE_ROOTS = {"smoke": "synthetic-679b55dfae32", "cpu": "synthetic-e3aff4677a6d"}
LEXICON = override(TINY, {"language": "lexicon", "lexicon_size": 60, "max_seconds": 1.5, "pretrain_hours": 0.001})


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "corpus.json":
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def lexicon_corpus(tmp_path_factory) -> Path:
    return generate_corpus(LEXICON, root=tmp_path_factory.mktemp("lexicon") / "c", workers=1, progress=False)


def test_syllable_mode_reproduces_the_original_corpus(tmp_path):
    root = generate_corpus(TINY, root=tmp_path / "c", workers=1, progress=False)
    assert _digest(root) == SYLLABLE_DIGEST
    for profile, name in SYLLABLE_ROOTS.items():  # the cpu profile's voices now speak the lexicon: ask for syllables
        syllables = resolve(profile, {"corpus.language": "syllables"}, base=PretrainExperimentConfig()).corpus
        assert default_root(syllables).name == name
    assert resolve("cpu").corpus.language == "lexicon" and resolve("smoke").corpus.language == "syllables"
    record = json.loads((root / "corpus.json").read_text())
    assert "language" not in record["config"] and record["generator_version"] == 2  # as recorded before
    assert is_complete(root, TINY)


def test_generator_version_per_language_and_unknown_language():
    assert generator_version(TINY) == 2 and generator_version(LEXICON) == 3
    assert default_root(LEXICON) != default_root(override(LEXICON, {"language": "syllables"}))
    assert default_root(LEXICON) != default_root(override(LEXICON, {"grammar_concentration": 5.0}))
    with pytest.raises(ConfigError, match="unknown language 'words'.*valid languages: syllables, lexicon"):
        override(TINY, {"language": "words"})  # a choice field: refused where values are coerced
    with pytest.raises(ConfigError, match="corpus.language='words' is unknown; valid languages: syllables, lexicon"):
        language_spec(dataclasses.replace(TINY, language="words"))  # and by the generator, built around that check
    with pytest.raises(ConfigError, match="corpus.lexicon_size=1 is out of range"):
        resolve("smoke", {"corpus.lexicon_size": 1})


def test_lexicon_same_seed_same_corpus(lexicon_corpus, tmp_path):
    again = generate_corpus(LEXICON, root=tmp_path / "again", workers=2, progress=False)
    assert _digest(again) == _digest(lexicon_corpus)
    other = generate_corpus(override(LEXICON, {"seed": 1}), root=tmp_path / "other", workers=1, progress=False)
    assert _digest(other) != _digest(lexicon_corpus)
    assert make_language(language_spec(LEXICON)).words != make_language(language_spec(override(LEXICON, {
        "seed": 1}))).words


def _check_cover(key: str, phones, words, seconds: float, language) -> None:
    for spans in (phones, words):
        assert spans[0].start == 0.0 and spans[-1].end == pytest.approx(seconds, abs=1e-3), key
        assert all(a.end == b.start and a.start < a.end for a, b in zip(spans[:-1], spans[1:])), key
    lexicon = {w.spelling: w for w in language.words}
    for i, w in enumerate(words):
        inside = [s.phone for s in phones if w.start <= s.start < w.end]
        if w.word == SILENCE_WORD:
            assert set(inside) == {"SIL"}, key
        elif i < len(words) - 2 or words[-1].word != SILENCE_WORD:  # the last word may be cut by the end
            assert tuple(inside) == lexicon[w.word].phones, key


def test_word_and_phone_alignments_cover_each_file(lexicon_corpus):
    language = make_language(language_spec(LEXICON))
    vox = lexicon_corpus / "voxceleb1"
    phones = read_alignments(vox / "meta" / "alignments.jsonl")
    words = read_word_alignments(vox / "meta" / "word_alignments.jsonl")
    assert set(phones) == set(words) == {str(p.relative_to(vox / "wav")) for p in (vox / "wav").glob("*/*/*.wav")}
    for key in phones:
        _check_cover(key, phones[key], words[key], sf.info(vox / "wav" / key).duration, language)
    pool = lexicon_corpus / "librispeech" / "LibriSpeech" / "train-synthetic"
    chapters = sorted({p.parent for p in pool.glob("*/*/*.flac")})
    assert chapters
    for chapter in chapters:
        stem = f"{chapter.parent.name}-{chapter.name}"
        trans = dict(line.split(" ", 1) for line in (chapter / f"{stem}.trans.txt").read_text().splitlines())
        align = read_alignments(chapter / f"{stem}.align.jsonl")
        spans = read_word_alignments(chapter / f"{stem}.words.jsonl")
        assert set(trans) == set(align) == set(spans) == {p.stem for p in chapter.glob("*.flac")}
        for uid, text in trans.items():  # the transcript is the words said, silences left out
            assert text.split() == [w.word for w in spans[uid] if w.word != SILENCE_WORD] and text.split()
            _check_cover(uid, align[uid], spans[uid], sf.info(chapter / f"{uid}.flac").duration, language)


def test_every_speaker_says_the_same_words():
    language = make_language(LanguageSpec(lexicon_size=40))
    seen = []
    for s in range(2):
        voice = sample_speaker(np.random.default_rng(s))
        words = [w.word for w in plan_words(voice, 30.0, np.random.default_rng(10 + s), language)]
        seen.append({w for w in words if w != SILENCE_WORD})
    assert seen[0] <= {w.spelling for w in language.words} and len(seen[0] & seen[1]) >= 10
    voice = sample_speaker(np.random.default_rng(0))
    assert plan_utterance(voice, 3.0, np.random.default_rng(3), language) != plan_utterance(
        voice, 3.0, np.random.default_rng(3))  # the syllable mode draws something else


def _pool_words(cfg: CorpusConfig, tmp_path: Path) -> list:
    """The word alignments of every file of ``cfg``'s pool, as the generator plans them (no audio)."""
    plan = generate._plan_corpus(cfg, tmp_path)
    return [generate._plan_of(task)[1] for task in plan.pool_tasks]


def _pooled_chi_square(counts: np.ndarray, expected_p: np.ndarray, min_row: int = 40) -> tuple[float, int]:
    """Pearson's statistic over the rows with at least ``min_row`` pairs, cells of expectation < 5 merged."""
    statistic, dof = 0.0, 0
    for i in np.flatnonzero(counts.sum(axis=1) >= min_row):
        n = counts[i].sum()
        expected = n * expected_p[i]
        big = expected >= 5
        obs = np.append(counts[i][big], counts[i][~big].sum())
        exp = np.append(expected[big], expected[~big].sum())
        keep = exp > 0
        statistic += float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
        dof += int(keep.sum()) - 1
    return statistic, dof


def test_bigram_statistics_of_a_pool_match_the_grammar(tmp_path):
    cfg = override(CorpusConfig(), {"language": "lexicon", "lexicon_size": 120, "pretrain_hours": 0.6,
                                    "pretrain_speakers": 20})
    language = make_language(language_spec(cfg))
    counts = bigram_counts(_pool_words(cfg, tmp_path), language)
    assert counts.sum() > 4000
    statistic, dof = _pooled_chi_square(counts, language.bigram)
    assert dof > 50 and stats.chi2.sf(statistic, dof) > 1e-3  # the pairs follow the grammar's bigram
    # and not the unigram: the test has the power to see a language without word order
    unigram_statistic, unigram_dof = _pooled_chi_square(counts, np.broadcast_to(language.unigram, counts.shape))
    assert stats.chi2.sf(unigram_statistic, unigram_dof) < 1e-12
    # the phrase-initial words follow the Zipfian unigram
    first = np.zeros(len(language.words))
    index = {w.spelling: i for i, w in enumerate(language.words)}
    for spans in _pool_words(cfg, tmp_path):
        for a, b in zip(spans[:-1], spans[1:]):
            if a.word == SILENCE_WORD and b.word != SILENCE_WORD:
                first[index[b.word]] += 1
    top = first[:5] / first.sum()
    assert np.allclose(top, language.unigram[:5], atol=4 * np.sqrt(language.unigram[:5] / first.sum()))

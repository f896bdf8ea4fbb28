"""Tests of sslsv.data.librispeech on a tiny pool in the LibriSpeech layout (see conftest)."""

from __future__ import annotations

import re
import shutil

import pytest

from sslsv.data.audio import AudioError
from sslsv.data.corpus import Segment, write_alignments
from sslsv.data.librispeech import LibriSpeechError, read_librispeech, read_transcripts

SUBSET = "train-clean-100"
KEYS = ["19-198-0000", "19-198-0001", "19-198-0002", "26-495-0000", "26-495-0001", "26-496-0000"]


def chapter_dir(root, spk="19", chapter="198", subset=SUBSET):
    return root / "LibriSpeech" / subset / spk / chapter


def test_reads_pool(tiny_librispeech):
    pool = read_librispeech(tiny_librispeech)
    assert [u.key for u in pool.utterances] == KEYS
    first = pool.utterances[0]
    assert first.speaker == "19" and first.transcript == "WORD0 ANOTHER WORD"
    assert first.path == chapter_dir(tiny_librispeech) / "19-198-0000.flac"
    assert first.seconds == pytest.approx(0.5)
    assert first.alignment is None
    assert pool.hours == pytest.approx(6 * 0.5 / 3600)


def test_accepts_subset_directly_under_root(tiny_librispeech):
    assert [u.key for u in read_librispeech(tiny_librispeech / "LibriSpeech").utterances] == KEYS


def test_several_subsets(tiny_librispeech, tone_writer):
    d = chapter_dir(tiny_librispeech, "7", "11", subset="train-other-500")
    tone_writer(d / "7-11-0000.flac")
    (d / "7-11.trans.txt").write_text("7-11-0000 HI\n")
    pool = read_librispeech(tiny_librispeech, subsets=(SUBSET, "train-other-500"))
    assert [u.key for u in pool.utterances] == KEYS + ["7-11-0000"]


def test_attaches_alignments(tiny_librispeech):
    segs = [Segment(0.0, 0.2, "AH", "vowel"), Segment(0.2, 0.5, "", "silence")]
    write_alignments(chapter_dir(tiny_librispeech) / "19-198.align.jsonl", {"19-198-0001": segs})
    pool = read_librispeech(tiny_librispeech)
    by_key = {u.key: u for u in pool.utterances}
    assert by_key["19-198-0001"].alignment == tuple(segs)
    assert by_key["19-198-0000"].alignment is None


def test_hours_subset_is_deterministic(tiny_librispeech):
    wanted = 3 * 0.5 / 3600  # three utterances of 0.5 s
    a = read_librispeech(tiny_librispeech, hours=wanted, seed=1)
    b = read_librispeech(tiny_librispeech, hours=wanted, seed=1)
    assert [u.key for u in a.utterances] == [u.key for u in b.utterances]
    assert len(a.utterances) == 3 and a.hours == pytest.approx(wanted)
    keys = [u.key for u in a.utterances]
    assert keys == sorted(keys)
    seeds = {tuple(u.key for u in read_librispeech(tiny_librispeech, hours=wanted, seed=s).utterances)
             for s in range(8)}
    assert len(seeds) > 1  # the seed changes the subset


def test_hours_takes_until_reached(tiny_librispeech):
    pool = read_librispeech(tiny_librispeech, hours=1.2 / 3600)  # 1.2 s -> three utterances (1.5 s)
    assert len(pool.utterances) == 3
    assert len(read_librispeech(tiny_librispeech, hours=3.0 / 3600).utterances) == 6  # everything


def test_too_few_hours_says_how_many_exist(tiny_librispeech):
    with pytest.raises(LibriSpeechError, match=r"requested 10 h .* holds only 0.00083 h \(3 s in 6 utterances\)"):
        read_librispeech(tiny_librispeech, hours=10)


def test_non_positive_hours(tiny_librispeech):
    with pytest.raises(LibriSpeechError, match="hours must be positive"):
        read_librispeech(tiny_librispeech, hours=0)


def test_missing_subset_names_it(tiny_librispeech):
    with pytest.raises(LibriSpeechError, match=r"subset 'train-clean-360' not found.*present under .*: train-clean-100"):
        read_librispeech(tiny_librispeech, subsets=(SUBSET, "train-clean-360"))


def test_missing_root(tmp_path):
    with pytest.raises(LibriSpeechError, match="root directory not found"):
        read_librispeech(tmp_path / "nowhere")


def test_empty_subset(tmp_path):
    (tmp_path / SUBSET).mkdir()
    with pytest.raises(LibriSpeechError, match=f"subset '{SUBSET}' holds no"):
        read_librispeech(tmp_path)


def test_utterance_without_transcript_names_file(tiny_librispeech, tone_writer):
    extra = tone_writer(chapter_dir(tiny_librispeech) / "19-198-0009.flac")
    with pytest.raises(LibriSpeechError) as info:
        read_librispeech(tiny_librispeech)
    assert f"{extra}: no transcript for '19-198-0009' in 19-198.trans.txt" in str(info.value)
    assert str(info.value).startswith(f"1 problem with transcripts in {SUBSET}")


def test_missing_transcript_file(tiny_librispeech):
    trans = chapter_dir(tiny_librispeech, "26", "495") / "26-495.trans.txt"
    trans.unlink()
    with pytest.raises(LibriSpeechError, match=re.escape(f"{trans}: transcript file not found (2 .flac files")):
        read_librispeech(tiny_librispeech)


def test_transcript_without_audio(tiny_librispeech):
    d = chapter_dir(tiny_librispeech)
    (d / "19-198-0002.flac").unlink()
    with pytest.raises(LibriSpeechError, match=re.escape(f"{d / '19-198.trans.txt'}: transcribed utterance "
                                                         "'19-198-0002' has no 19-198-0002.flac")):
        read_librispeech(tiny_librispeech)


def test_malformed_transcript_line(tiny_librispeech):
    trans = chapter_dir(tiny_librispeech) / "19-198.trans.txt"
    trans.write_text("19-198-0000 HELLO\n19-198-0001\n")
    with pytest.raises(LibriSpeechError, match=re.escape(f"{trans}:2: malformed transcript line")):
        read_librispeech(tiny_librispeech)


def test_duplicate_transcript_line(tiny_librispeech):
    trans = chapter_dir(tiny_librispeech) / "19-198.trans.txt"
    trans.write_text("19-198-0000 A\n19-198-0000 B\n")
    with pytest.raises(LibriSpeechError, match=re.escape(f"{trans}:2: utterance '19-198-0000' is transcribed twice")):
        read_transcripts(trans)


def test_bad_audio_is_listed(tiny_librispeech, tone_writer):
    d = chapter_dir(tiny_librispeech)
    wrong_rate = tone_writer(d / "19-198-0000.flac", sample_rate=8000)
    (d / "19-198-0001.flac").write_bytes(b"")
    with pytest.raises(AudioError) as info:
        read_librispeech(tiny_librispeech)
    message = str(info.value)
    assert message.startswith("2 of 6 audio files have problems")
    assert f"{wrong_rate}: sample rate 8000 Hz, expected 16000 Hz" in message
    assert f"{d / '19-198-0001.flac'}: empty file" in message


def test_same_pool_without_librispeech_level(tiny_librispeech, tmp_path):
    flat = tmp_path / "flat"
    shutil.copytree(tiny_librispeech / "LibriSpeech", flat)
    assert [u.key for u in read_librispeech(flat).utterances] == KEYS


def test_a_flac_cut_after_its_header_is_caught_when_the_pool_is_read(tiny_librispeech):
    """Its STREAMINFO still gives the full length: only decoding its end shows it is cut (issue 25, item 5)."""
    path = chapter_dir(tiny_librispeech) / "19-198-0001.flac"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(AudioError, match=re.escape(f"{path}: truncated or corrupt: its header says 0.500 s, but the "
                                                   "end of the audio cannot be decoded")):
        read_librispeech(tiny_librispeech)

"""Tests of sslsv.data.voxceleb on a tiny corpus in the VoxCeleb1 layout (see conftest)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from sslsv.data.audio import AudioError
from sslsv.data.corpus import Segment, Trial, write_alignments
from sslsv.data.voxceleb import VoxCelebError, read_trials, read_voxceleb1


def test_reads_train_and_trials(tiny_voxceleb):
    corpus = read_voxceleb1(tiny_voxceleb)
    assert corpus.root == tiny_voxceleb
    assert [u.key for u in corpus.train] == [
        "id001/sessA/00001.wav", "id001/sessA/00002.wav", "id001/sessB/00001.wav",
        "id002/sessA/00001.wav", "id002/sessC/00001.wav", "id002/sessC/00002.wav",
    ]
    assert corpus.train_speakers == ["id001", "id002"]
    assert all(u.path == tiny_voxceleb / "wav" / u.key and u.path.is_file() for u in corpus.train)
    assert corpus.train[2].session == "sessB"
    assert corpus.trials[0] == Trial(1, "t1/s1/00001.wav", "t1/s2/00001.wav")
    assert [t.label for t in corpus.trials] == [1, 0, 0]
    assert corpus.test_keys == ["t1/s1/00001.wav", "t1/s2/00001.wav", "t2/s1/00001.wav"]
    assert not set(corpus.train_speakers) & {k.split("/")[0] for k in corpus.test_keys}
    assert corpus.alignments == {}


def test_deterministic(tiny_voxceleb):
    a, b = read_voxceleb1(tiny_voxceleb), read_voxceleb1(tiny_voxceleb)
    assert a.train == b.train and a.trials == b.trials


def test_loads_alignments(tiny_voxceleb):
    segs = {"id001/sessA/00001.wav": [Segment(0.0, 0.1, "a", "vowel"), Segment(0.1, 0.25, "s", "fricative")]}
    write_alignments(tiny_voxceleb / "meta" / "alignments.jsonl", segs)
    assert read_voxceleb1(tiny_voxceleb).alignments == segs


def test_other_trial_file_and_blank_lines(tiny_voxceleb):
    (tiny_voxceleb / "my_trials.txt").write_text("\n1 t1/s1/00001.wav t1/s2/00001.wav\n\n0 t1/s1/00001.wav t2/s1/00001.wav\n")
    corpus = read_voxceleb1(tiny_voxceleb, trials_file="my_trials.txt")
    assert len(corpus.trials) == 2


def test_root_without_wav_states_layout(tmp_path):
    (tmp_path / "veri_test2.txt").write_text("1 a/b/c.wav a/b/d.wav\n")
    with pytest.raises(VoxCelebError, match=r"no wav/ directory; expected layout: <root>/wav/<speaker>/<session>/"):
        read_voxceleb1(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(VoxCelebError, match="root directory not found"):
        read_voxceleb1(tmp_path / "nowhere")


def test_wav_without_files(tmp_path):
    (tmp_path / "wav").mkdir()
    (tmp_path / "veri_test2.txt").write_text("1 a/b/c.wav a/b/d.wav\n")
    with pytest.raises(VoxCelebError, match="no .wav files found"):
        read_voxceleb1(tmp_path)


def test_missing_trial_file(tiny_voxceleb):
    (tiny_voxceleb / "veri_test2.txt").unlink()
    with pytest.raises(VoxCelebError, match=re.escape(str(tiny_voxceleb / "veri_test2.txt")) + ": trial list not found"):
        read_voxceleb1(tiny_voxceleb)


@pytest.mark.parametrize(
    "line, problem",
    [
        ("1 t1/s1/00001.wav", "expected 3 fields"),
        ("1 t1/s1/00001.wav t1/s2/00001.wav extra", "expected 3 fields"),
        ("target t1/s1/00001.wav t1/s2/00001.wav", "label must be 1"),
        ("2 t1/s1/00001.wav t1/s2/00001.wav", "label must be 1"),
        ("1 t1/00001.wav t1/s2/00001.wav", "is not of the form"),
    ],
)
def test_malformed_trial_line_names_file_and_line(tiny_voxceleb, line, problem):
    path = tiny_voxceleb / "veri_test2.txt"
    path.write_text("1 t1/s1/00001.wav t1/s2/00001.wav\n\n" + line + "\n")
    with pytest.raises(VoxCelebError, match=re.escape(f"{path}:3: malformed trial line") + ".*" + problem):
        read_voxceleb1(tiny_voxceleb)


def test_empty_trial_list(tiny_voxceleb):
    (tiny_voxceleb / "veri_test2.txt").write_text("\n")
    with pytest.raises(VoxCelebError, match="holds no trials"):
        read_voxceleb1(tiny_voxceleb)


def test_trials_naming_missing_files_lists_all(tiny_voxceleb):
    lines = [f"0 t1/s1/00001.wav gone/s{i:02d}/00001.wav" for i in range(25)]
    (tiny_voxceleb / "veri_test2.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(VoxCelebError) as info:
        read_voxceleb1(tiny_voxceleb)
    message = str(info.value)
    assert "25 of 26 utterances named by the trial list do not exist" in message
    assert "gone/s00/00001.wav" in message and "gone/s19/00001.wav" in message
    assert "gone/s20/00001.wav" not in message and "... and 5 more" in message


def test_every_speaker_in_trials_leaves_no_training_set(tiny_voxceleb):
    for spk in ("id001", "id002"):
        shutil.rmtree(tiny_voxceleb / "wav" / spk)
    with pytest.raises(VoxCelebError, match="no training utterances"):
        read_voxceleb1(tiny_voxceleb)


def test_check_files_reports_bad_audio(tiny_voxceleb, tone_writer):
    bad_train = tiny_voxceleb / "wav" / "id001" / "sessA" / "00002.wav"
    bad_train.write_bytes(b"")
    bad_test = tone_writer(tiny_voxceleb / "wav" / "t2" / "s1" / "00001.wav", sample_rate=8000)
    with pytest.raises(AudioError) as info:
        read_voxceleb1(tiny_voxceleb)
    message = str(info.value)
    assert message.startswith("2 of 9 audio files have problems")
    assert f"{bad_train}: empty file" in message
    assert f"{bad_test}: sample rate 8000 Hz, expected 16000 Hz" in message
    # without the check the corpus is read (the audio is then read lazily)
    assert len(read_voxceleb1(tiny_voxceleb, check_files=False).train) == 6


def test_sample_rate_argument(tiny_voxceleb, tone_writer):
    for u in read_voxceleb1(tiny_voxceleb).train:
        tone_writer(u.path, sample_rate=8000)
    for key in read_voxceleb1(tiny_voxceleb, check_files=False).test_keys:
        tone_writer(tiny_voxceleb / "wav" / key, sample_rate=8000)
    assert len(read_voxceleb1(tiny_voxceleb, sample_rate=8000).train) == 6


def test_read_trials_standalone(tiny_voxceleb):
    trials = read_trials(tiny_voxceleb / "veri_test2.txt")
    assert np.array([t.label for t in trials]).sum() == 1


# --- trial lists that would give a wrong number silently (issue 25, item 5) ---------------------


@pytest.mark.parametrize("label", ["1", "0"])
def test_a_trial_list_of_one_class_is_refused_when_read(tiny_voxceleb, label):
    path = tiny_voxceleb / "veri_test2.txt"
    path.write_text(f"{label} t1/s1/00001.wav t1/s2/00001.wav\n{label} t1/s1/00001.wav t2/s1/00001.wav\n")
    kind = "target" if label == "1" else "non-target"
    with pytest.raises(VoxCelebError, match=re.escape(f"{path}: all 2 trials are {kind} trials")):
        read_voxceleb1(tiny_voxceleb, check_files=False)


def test_repeated_trials_are_refused_with_their_count(tiny_voxceleb):
    path = tiny_voxceleb / "veri_test2.txt"
    original = path.read_text()
    path.write_text(original * 200)
    with pytest.raises(VoxCelebError, match=re.escape(f"{path}: 597 of 600 trials repeat an earlier (enroll, test) "
                                                      "pair (line 4 repeats line 1")):
        read_trials(path)


def test_a_trial_of_a_file_with_itself_is_refused_naming_the_line(tiny_voxceleb):
    path = tiny_voxceleb / "veri_test2.txt"
    path.write_text(path.read_text() + "1 t2/s1/00001.wav t2/s1/00001.wav\n")
    with pytest.raises(VoxCelebError, match=re.escape(f"{path}: 1 trial(s) compare a file with itself "
                                                      "(line 4: t2/s1/00001.wav)")):
        read_voxceleb1(tiny_voxceleb)

"""Tests of sslsv.data.audio: reading with soundfile and file checks that name the file."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from sslsv.data.audio import AudioError, check_audio_files, probe_audio, read_audio


def test_read_mono_wav(tmp_path, tone_writer):
    path = tone_writer(tmp_path / "a.wav", seconds=0.5)
    x = read_audio(path)
    assert x.shape == (8000,) and x.dtype == np.float32
    assert 0.2 < np.abs(x).max() <= 1.0


def test_read_flac_and_float_wav(tmp_path, tone_writer):
    flac = tone_writer(tmp_path / "a.flac", seconds=0.25)
    fwav = tone_writer(tmp_path / "f.wav", seconds=0.25, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(flac), read_audio(fwav), atol=1e-4)


def test_multichannel_is_mixed_down(tmp_path):
    path = tmp_path / "stereo.wav"
    left, right = np.full(400, 0.5), np.full(400, -0.1)
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    x = read_audio(path)
    assert x.shape == (400,)
    np.testing.assert_allclose(x, 0.2, atol=1e-6)


def test_sample_rate_none_accepts_any(tmp_path, tone_writer):
    path = tone_writer(tmp_path / "a.wav", sample_rate=8000)
    assert read_audio(path, sample_rate=None).shape == (2000,)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: file not found"):
        read_audio(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: empty file \(0 bytes\)"):
        read_audio(path)


def test_zero_samples(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0), 16000)
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: contains no samples"):
        read_audio(path)
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: contains no samples"):
        probe_audio(path)


@pytest.mark.parametrize("content", [b"RIFF\x00\x00\x00\x00WAVEjunkjunk", b"not audio at all" * 10])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: unreadable or corrupt audio file"):
        read_audio(path)


def test_truncated_flac(tmp_path, tone_writer):
    path = tone_writer(tmp_path / "a.flac", seconds=1.0)
    data = path.read_bytes()
    path.write_bytes(data[:40])  # header cut in the middle
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: unreadable or corrupt"):
        read_audio(path)


def test_wrong_sample_rate(tmp_path, tone_writer):
    path = tone_writer(tmp_path / "a.wav", sample_rate=44100)
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: sample rate 44100 Hz, expected 16000 Hz"):
        read_audio(path)


def test_too_short(tmp_path, tone_writer):
    path = tone_writer(tmp_path / "a.wav", seconds=0.5)
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: too short: 0.500 s, minimum 1.000 s"):
        read_audio(path, min_seconds=1.0)
    assert read_audio(path, min_seconds=0.5).shape == (8000,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    path = tmp_path / "nan.wav"
    x = np.zeros(100, dtype=np.float32)
    x[[3, 50]] = bad
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=rf"{re.escape(str(path))}: contains 2 non-finite samples \(NaN/Inf\)"):
        read_audio(path)


def test_check_audio_files_passes(tmp_path, tone_writer):
    paths = [tone_writer(tmp_path / f"{i}.wav") for i in range(3)]
    assert check_audio_files(paths, sample_rate=16000, min_seconds=0.1) is None


def test_check_audio_files_lists_every_problem(tmp_path, tone_writer):
    good = tone_writer(tmp_path / "good.wav")
    missing = tmp_path / "missing.wav"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"garbage" * 20)
    rate = tone_writer(tmp_path / "rate.wav", sample_rate=8000)
    short = tone_writer(tmp_path / "short.wav", seconds=0.05)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1] * 2000, dtype=np.float32), 16000, subtype="FLOAT")
    paths = [good, missing, empty, corrupt, rate, short, nan]
    with pytest.raises(AudioError) as info:
        check_audio_files(paths, sample_rate=16000, min_seconds=0.1)
    message = str(info.value)
    assert message.startswith("6 of 7 audio files have problems:")
    for path, problem in [(missing, "file not found"), (empty, "empty file"), (corrupt, "unreadable or corrupt"),
                          (rate, "sample rate 8000 Hz, expected 16000 Hz"), (short, "too short: 0.050 s"),
                          (nan, "contains 2000 non-finite")]:
        assert f"{path}: {problem}" in message
    assert str(good) not in message


def test_check_audio_files_does_not_decode_pcm(tmp_path, tone_writer, monkeypatch):
    paths = [tone_writer(tmp_path / f"{i}.wav") for i in range(2)]

    def no_read(*args, **kwargs):
        raise AssertionError("PCM files must be checked from their header only")

    monkeypatch.setattr(sf, "read", no_read)
    check_audio_files(paths, sample_rate=16000)


def test_audio_error_is_value_error():
    assert issubclass(AudioError, ValueError)


# ---------------------------------------------------------------------------
# Random bytes under a corpus: unreadable or corrupt, never "does not exist"
# ---------------------------------------------------------------------------

# Seed 0's 4 KiB are no format libsndfile knows ("Format not recognised."); seed 1's start like an
# MPEG frame, and libsndfile's MPEG decoder then gives up with "File does not exist or is not a
# regular file (possibly a pipe?)", about a file that exists.
RANDOM_SEEDS = {"wav": 0, "flac": 1}


def write_random_bytes(path, seed: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    return path


def assert_unreadable(message: str, path) -> None:
    assert f"{path}: unreadable or corrupt audio file (not a recognised audio format)" in message, message
    assert "does not exist" not in message and "not a regular file" not in message, message


@pytest.mark.parametrize("suffix", sorted(RANDOM_SEEDS))
def test_random_bytes_are_unreadable_or_corrupt(tmp_path, suffix):
    path = write_random_bytes(tmp_path / f"noise.{suffix}", RANDOM_SEEDS[suffix])
    for read in (read_audio, probe_audio):
        with pytest.raises(AudioError) as info:
            read(path)
        assert str(info.value) == f"{path}: unreadable or corrupt audio file (not a recognised audio format)"
    with pytest.raises(AudioError) as info:
        check_audio_files([path])
    assert_unreadable(str(info.value), path)


def test_misleading_libsndfile_reason_is_not_repeated(tmp_path):
    path = write_random_bytes(tmp_path / "noise.flac", RANDOM_SEEDS["flac"])
    with pytest.raises(sf.LibsndfileError) as raw:
        sf.info(str(path))
    if "does not exist" not in raw.value.error_string:
        pytest.skip(f"this libsndfile says {raw.value.error_string!r} of these bytes")
    with pytest.raises(AudioError) as info:
        read_audio(path)
    assert_unreadable(str(info.value), path)


def test_check_audio_files_reports_random_bytes(tmp_path, tone_writer):
    good = tone_writer(tmp_path / "good.wav")
    bad = [write_random_bytes(tmp_path / f"noise.{s}", seed) for s, seed in sorted(RANDOM_SEEDS.items())]
    with pytest.raises(AudioError) as info:
        check_audio_files([good, *bad])
    message = str(info.value)
    assert message.startswith("2 of 3 audio files have problems:")
    for path in bad:
        assert_unreadable(message, path)


def test_corpus_readers_report_random_bytes(tiny_voxceleb, tiny_librispeech):
    from sslsv.data.corpus import describe
    from sslsv.data.librispeech import read_librispeech
    from sslsv.data.voxceleb import read_voxceleb1

    vox_train = write_random_bytes(tiny_voxceleb / "wav" / "id001" / "sessA" / "00002.wav", RANDOM_SEEDS["wav"])
    vox_test = write_random_bytes(tiny_voxceleb / "wav" / "t1" / "s1" / "00001.wav", RANDOM_SEEDS["flac"])
    with pytest.raises(AudioError) as info:
        read_voxceleb1(tiny_voxceleb)
    for path in (vox_train, vox_test):
        assert_unreadable(str(info.value), path)
    corpus = read_voxceleb1(tiny_voxceleb, check_files=False)  # the book's corpus table reads headers too
    with pytest.raises(AudioError) as info:
        describe(corpus)
    assert_unreadable(str(info.value), vox_train)

    chapter = tiny_librispeech / "LibriSpeech" / "train-clean-100" / "19" / "198"
    libri = [write_random_bytes(chapter / f"19-198-000{u}.flac", seed) for u, seed in enumerate(RANDOM_SEEDS.values())]
    with pytest.raises(AudioError) as info:
        read_librispeech(tiny_librispeech)
    message = str(info.value)
    assert message.startswith("2 of 6 audio files have problems:")
    for path in libri:
        assert_unreadable(message, path)

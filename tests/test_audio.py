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

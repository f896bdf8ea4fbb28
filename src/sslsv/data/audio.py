"""Reading and checking audio files with ``soundfile`` (never ``torchaudio.load``).

Every problem with a file raises :class:`AudioError` whose message starts
with the file's path: a missing or empty file, an unreadable or corrupt one,
the wrong sample rate (found vs expected), a too-short file (duration vs
minimum), no samples, or NaN/Inf samples.  Multi-channel audio is mixed down
to mono by averaging the channels.

:func:`check_audio_files` checks a whole corpus before any training starts
and reports *all* problems at once.

>>> import tempfile, pathlib
>>> import numpy as np, soundfile as sf
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
>>> sf.write(path, 0.1 * np.sin(np.arange(8000) / 5.0), 16000)
>>> read_audio(path).shape
(8000,)
>>> read_audio(path, min_seconds=1.0)
Traceback (most recent call last):
...
sslsv.data.audio.AudioError: .../tone.wav: too short: 0.500 s, minimum 1.000 s
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf

from ..errors import UserError

__all__ = ["AudioError", "AudioInfo", "read_audio", "probe_audio", "probe_audio_files", "check_audio_files"]

# Subtypes that can hold NaN/Inf; integer PCM cannot, so only these are decoded by the checks.
_FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


class AudioError(UserError, ValueError):
    """An audio file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of one audio file (from ``soundfile.info``, no decoding)."""

    path: Path
    sample_rate: int
    frames: int  # samples per channel
    channels: int
    subtype: str  # e.g. "PCM_16", "FLOAT"

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _existence_problem(path: Path) -> str | None:
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "not a regular file"
    if os.path.getsize(path) == 0:
        return "empty file (0 bytes)"
    return None


def _header_problem(info: AudioInfo, sample_rate: int | None, min_seconds: float) -> str | None:
    if sample_rate is not None and info.sample_rate != sample_rate:
        return f"sample rate {info.sample_rate} Hz, expected {sample_rate} Hz (resample the corpus first)"
    if info.frames <= 0:
        return "contains no samples"
    if info.seconds < min_seconds:
        return f"too short: {info.seconds:.3f} s, minimum {min_seconds:.3f} s"
    return None


def _nonfinite_problem(samples: np.ndarray) -> str | None:
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        return f"contains {bad} non-finite samples (NaN/Inf) of {samples.size}"
    return None


def probe_audio(path, sample_rate: int | None = 16000, min_seconds: float = 0.0) -> AudioInfo:
    """Check a file's header (``soundfile.info``, no decoding) and return its facts.

    Args:
        path: the audio file.
        sample_rate: the required sample rate in Hz (``None``: any).
        min_seconds: the minimum duration.

    Raises:
        AudioError: missing, empty, unreadable, wrong sample rate, no samples
            or too short; the message starts with the path.

    >>> probe_audio("/nonexistent/a.wav")
    Traceback (most recent call last):
    ...
    sslsv.data.audio.AudioError: /nonexistent/a.wav: file not found
    """
    path = Path(path)
    problem = _existence_problem(path)
    if problem:
        raise AudioError(f"{path}: {problem}")
    try:
        raw = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError on bad data
        raise AudioError(_unreadable(path, e)) from e
    info = AudioInfo(path, int(raw.samplerate), int(raw.frames), int(raw.channels), str(raw.subtype))
    problem = _header_problem(info, sample_rate, min_seconds)
    if problem:
        raise AudioError(f"{path}: {problem}")
    return info


# libsndfile's reasons for bytes it cannot make sense of.  "File does not exist or is not a regular
# file" is what it says when a file that exists is taken for MPEG (random bytes can start like an MPEG
# frame) and its decoder gives up: never repeated for a file that exists, it would send the user looking
# for a missing file.
_UNRECOGNISED = ("format not recognised", "unknown format", "does not exist or is not a regular file")
UNRECOGNISED_FORMAT = "not a recognised audio format"


def _reason(e: Exception, path: Path | None = None) -> str:
    """Why soundfile could not open ``path``: libsndfile's own reason, without its repetition of the path.

    A reason that only means "these bytes are no audio format I know" (for
    a file that exists) reads :data:`UNRECOGNISED_FORMAT`.
    """
    reason = str(getattr(e, "error_string", "") or e).strip() or type(e).__name__
    if any(r in reason.lower() for r in _UNRECOGNISED) and (path is None or path.is_file()):
        return UNRECOGNISED_FORMAT
    return reason


def _unreadable(path: Path, e: Exception) -> str:
    """``<path>: unreadable or corrupt audio file (<reason>)``."""
    return f"{path}: unreadable or corrupt audio file ({_reason(e, path)})"


def read_audio(path, sample_rate: int | None = 16000, min_seconds: float = 0.0) -> np.ndarray:
    """Read an audio file as a mono float32 waveform of shape ``(time,)``.

    Samples are scaled to ``[-1, 1]`` (soundfile's float conversion);
    multi-channel files are mixed down to mono by averaging the channels.

    Args:
        path: a file soundfile can read (WAV, FLAC, ...).
        sample_rate: the required sample rate in Hz; a different rate is an
            error, never a silent resample (``None``: accept any).
        min_seconds: the minimum duration in seconds.

    Returns:
        ``np.ndarray`` of dtype float32 and shape ``(time,)``.

    Raises:
        AudioError: the file is missing, empty, unreadable or corrupt, has
            the wrong sample rate (found vs expected), no samples, is shorter
            than ``min_seconds`` (duration vs minimum) or holds NaN/Inf
            samples.  The message starts with the path.

    >>> import tempfile, pathlib
    >>> import soundfile as sf
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "stereo.wav"
    >>> sf.write(path, np.stack([np.full(100, 0.5), np.zeros(100)], axis=1), 8000)
    >>> x = read_audio(path, sample_rate=8000)
    >>> x.shape, x.dtype, float(x[0])
    ((100,), dtype('float32'), 0.25)
    >>> read_audio(path)
    Traceback (most recent call last):
    ...
    sslsv.data.audio.AudioError: .../stereo.wav: sample rate 8000 Hz, expected 16000 Hz (resample the corpus first)
    """
    path = Path(path)
    problem = _existence_problem(path)
    if problem:
        raise AudioError(f"{path}: {problem}")
    try:
        samples, found_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(_unreadable(path, e)) from e
    info = AudioInfo(path, int(found_rate), samples.shape[0], samples.shape[1], "")
    problem = _header_problem(info, sample_rate, min_seconds) or _nonfinite_problem(samples)
    if problem:
        raise AudioError(f"{path}: {problem}")
    if samples.shape[1] == 1:
        return np.ascontiguousarray(samples[:, 0])
    return samples.mean(axis=1, dtype=np.float32)


# Formats whose header gives a length the data may not hold (a compressed stream cut short still has its
# STREAMINFO): the last frames are decoded to prove they are there. A cut WAV's length comes from its size.
_COMPRESSED_SUFFIXES = (".flac", ".ogg", ".oga", ".opus", ".mp3")
TAIL_FRAMES = 1024


def _tail_problem(path: Path, info: AudioInfo) -> str | None:
    """``"truncated ..."`` when the last :data:`TAIL_FRAMES` frames of a compressed file cannot be decoded.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "cut.flac"
    >>> sf.write(f, 0.1 * np.sin(np.arange(48000) / 7.0), 16000)
    >>> _ = f.write_bytes(f.read_bytes()[:9000])
    >>> _tail_problem(f, probe_audio(f))
    'truncated or corrupt: its header says 3.000 s, but the end of the audio cannot be decoded (...)'
    """
    if path.suffix.lower() not in _COMPRESSED_SUFFIXES:
        return None
    start = max(0, info.frames - TAIL_FRAMES)
    try:
        tail, _ = sf.read(str(path), start=start, frames=info.frames - start, dtype="float32", always_2d=True)
        why = None if len(tail) == info.frames - start else f"{len(tail)} of the last {info.frames - start} frames"
    except Exception as e:
        why = _reason(e, path)
    if why is None:
        return None
    return (f"truncated or corrupt: its header says {info.seconds:.3f} s, but the end of the audio cannot be "
            f"decoded ({why})")


def probe_audio_files(paths: Iterable, sample_rate: int | None = 16000, min_seconds: float = 0.0,
                      max_listed: int | None = None) -> list[AudioInfo]:
    """Check many files and return their :class:`AudioInfo`, in order.

    Headers are read with ``soundfile.info``; only files stored as floating
    point (the only encodings that can hold NaN/Inf) are decoded to look for
    non-finite samples, and the last frames of compressed files (FLAC, Ogg)
    to catch a file cut short whose header still gives the full length.

    Args:
        paths: audio files.
        sample_rate: required sample rate (``None``: any).
        min_seconds: minimum duration.
        max_listed: list at most this many problems in the message
            (``None``: all of them).

    Raises:
        AudioError: one error listing every problem found, one per line
            (``<path>: <problem>``), after a count ``"N of M audio files ..."``.
    """
    paths = [Path(p) for p in paths]
    infos: list[AudioInfo] = []
    problems: list[str] = []
    for path in paths:
        try:
            info = probe_audio(path, sample_rate, min_seconds)
        except AudioError as e:
            problems.append(str(e))
            continue
        problem = _tail_problem(path, info)
        if problem:
            problems.append(f"{path}: {problem}")
            continue
        if info.subtype in _FLOAT_SUBTYPES:
            try:
                samples, _ = sf.read(str(path), dtype="float64", always_2d=True)
            except Exception as e:
                problems.append(_unreadable(path, e))
                continue
            problem = _nonfinite_problem(samples)
            if problem:
                problems.append(f"{path}: {problem}")
                continue
        infos.append(info)
    if problems:
        listed = problems if max_listed is None else problems[:max_listed]
        more = len(problems) - len(listed)
        lines = "\n".join(f"  {p}" for p in listed) + (f"\n  ... and {more} more" if more else "")
        raise AudioError(f"{len(problems)} of {len(paths)} audio files have problems:\n{lines}")
    return infos


def check_audio_files(paths: Iterable, sample_rate: int | None = 16000, min_seconds: float = 0.0) -> None:
    """Check that every file is readable, at ``sample_rate`` and long enough.

    Cheap: headers only (``soundfile.info``), plus a decode of floating-point
    files to look for NaN/Inf.  All problems are reported in one
    :class:`AudioError` with their count, not just the first.

    >>> check_audio_files(["/nonexistent/a.wav", "/nonexistent/b.wav"])
    Traceback (most recent call last):
    ...
    sslsv.data.audio.AudioError: 2 of 2 audio files have problems:
      /nonexistent/a.wav: file not found
      /nonexistent/b.wav: file not found
    """
    probe_audio_files(paths, sample_rate, min_seconds)

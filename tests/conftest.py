"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


# ---------------------------------------------------------------------------
# Tiny on-disk corpora in the VoxCeleb1 and LibriSpeech layouts (data readers)
# ---------------------------------------------------------------------------


def write_tone(path: Path, seconds: float = 0.25, sample_rate: int = 16000, freq: float = 220.0,
               channels: int = 1, seed: int = 0, **kwargs) -> Path:
    """A short sine + noise file written with soundfile (format from the suffix)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))
    if channels > 1:
        x = np.stack([x * (c + 1) / channels for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sample_rate, **kwargs)
    return path


@pytest.fixture
def tone_writer():
    """The :func:`write_tone` helper (tests cannot import conftest under --import-mode=importlib)."""
    return write_tone


# speaker -> session -> utterances; "t1" and "t2" are the test (Vox1-O) speakers
VOX_LAYOUT = {
    "id001": {"sessA": ["00001", "00002"], "sessB": ["00001"]},
    "id002": {"sessA": ["00001"], "sessC": ["00001", "00002"]},
    "t1": {"s1": ["00001"], "s2": ["00001"]},
    "t2": {"s1": ["00001"]},
}
VOX_TRIALS = [
    "1 t1/s1/00001.wav t1/s2/00001.wav",
    "0 t1/s1/00001.wav t2/s1/00001.wav",
    "0 t2/s1/00001.wav t1/s2/00001.wav",
]


@pytest.fixture
def tiny_voxceleb(tmp_path) -> Path:
    """``<root>/wav/<spk>/<session>/<utt>.wav`` (8 files, 4 speakers) and ``veri_test2.txt``."""
    root = tmp_path / "voxceleb1"
    for i, (spk, sessions) in enumerate(VOX_LAYOUT.items()):
        for sess, utts in sessions.items():
            for j, utt in enumerate(utts):
                write_tone(root / "wav" / spk / sess / f"{utt}.wav", freq=150 + 40 * i + 5 * j, seed=i)
    (root / "veri_test2.txt").write_text("\n".join(VOX_TRIALS) + "\n")
    return root


# speaker -> chapter -> number of utterances
LIBRI_LAYOUT = {"19": {"198": 3}, "26": {"495": 2, "496": 1}}


@pytest.fixture
def tiny_librispeech(tmp_path) -> Path:
    """``<root>/LibriSpeech/train-clean-100/<spk>/<chapter>/*.flac`` + ``.trans.txt`` (6 files of 0.5 s)."""
    root = tmp_path / "librispeech"
    for spk, chapters in LIBRI_LAYOUT.items():
        for chapter, n in chapters.items():
            d = root / "LibriSpeech" / "train-clean-100" / spk / chapter
            lines = []
            for u in range(n):
                key = f"{spk}-{chapter}-{u:04d}"
                write_tone(d / f"{key}.flac", seconds=0.5, freq=200 + 10 * u)
                lines.append(f"{key} WORD{u} ANOTHER WORD")
            (d / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return root

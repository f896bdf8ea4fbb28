"""Fingerprints of a run's inputs: what a cached result was computed from.

A finished run records the fingerprint of its data in its manifest
(:meth:`sslsv.artifacts.Run.finish`), and is served again only while the data
still has that fingerprint. The fingerprint is computed from the directory
listing, so it is cheap (a second for the full VoxCeleb1) and needs no
decoding:

- the VoxCeleb layout: the SHA-256 of the trial list, and per speaker a digest
  of the names, sizes and modification times of its ``.wav`` files;
- the LibriSpeech layout: per speaker a digest of the names, sizes and
  modification times of its audio, and of the *contents* of its transcripts
  and alignments.

Audio is compared by name, size and modification time, not by content: an
audio file rewritten in place with the same size and an old timestamp goes
unnoticed (see "What is checked" in the README).

>>> import tempfile, pathlib
>>> import numpy as np, soundfile as sf
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for key in ["a/s1/1.wav", "t/s1/1.wav", "u/s1/1.wav"]:
...     (root / "wav" / key).parent.mkdir(parents=True, exist_ok=True)
...     sf.write(root / "wav" / key, np.zeros(1600), 16000)
>>> _ = (root / "veri_test2.txt").write_text("0 t/s1/1.wav u/s1/1.wav\\n")
>>> before = voxceleb_fingerprint(root)
>>> sorted(before["audio"])
['a', 't', 'u']
>>> _ = (root / "veri_test2.txt").write_text("1 t/s1/1.wav u/s1/1.wav\\n")
>>> describe_change(before, voxceleb_fingerprint(root))
'trials changed'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..artifacts import describe_change, file_sha256
from ..config import ConfigError
from . import SYNTHETIC_SUBSET, corpus_root
from .librispeech import base_dir

__all__ = ["directory_fingerprint", "voxceleb_fingerprint", "librispeech_fingerprint", "sv_fingerprint",
           "pool_fingerprint", "upstream_fingerprint", "describe_change"]  # describe_change: sslsv.artifacts

_TEXT_SUFFIXES = (".txt", ".jsonl")


def _sha256(path: Path) -> str:
    return file_sha256(path)


def _digest(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _stat_line(path: Path, base: Path) -> str:
    st = os.stat(path)
    return f"{path.relative_to(base).as_posix()} {st.st_size} {st.st_mtime_ns}"


def directory_fingerprint(root) -> dict[str, Any]:
    """Every audio file under ``root`` (augmentation sources) by name, size and modification time."""
    from .augment import list_audio

    root = Path(root)
    files = list_audio(root)
    return {"files": len(files), "audio": _digest(_stat_line(p, root) for p in files)}


def voxceleb_fingerprint(root, trials_file: str = "veri_test2.txt") -> dict[str, Any]:
    """``{"trials": sha256, "audio": {speaker: digest}}`` of a VoxCeleb-layout directory."""
    root = Path(root)
    wav = root / "wav"
    by_speaker: dict[str, list[str]] = {}
    for path in sorted(wav.glob("*/*/*.wav")):
        by_speaker.setdefault(path.relative_to(wav).parts[0], []).append(_stat_line(path, wav))
    trials = root / trials_file
    return {"trials": _sha256(trials) if trials.is_file() else None,
            "audio": {spk: _digest(lines) for spk, lines in sorted(by_speaker.items())}}


def librispeech_fingerprint(root, subsets: Sequence[str]) -> dict[str, Any]:
    """``{"audio": {"<subset>/<speaker>": digest}}`` of LibriSpeech-layout subsets (texts by content)."""
    base = base_dir(Path(root), tuple(subsets))
    out: dict[str, str] = {}
    for subset in subsets:
        for speaker_dir in sorted(p for p in (base / subset).glob("*") if p.is_dir()):
            lines = []
            for path in sorted(p for p in speaker_dir.rglob("*") if p.is_file()):
                if path.suffix in _TEXT_SUFFIXES:
                    lines.append(f"{path.relative_to(speaker_dir).as_posix()} {_sha256(path)}")
                else:
                    lines.append(_stat_line(path, speaker_dir))
            out[f"{subset}/{speaker_dir.name}"] = _digest(lines)
    return {"audio": out}


def sv_fingerprint(cfg, progress: bool = True) -> dict[str, Any]:
    """The fingerprint of a :class:`~sslsv.config.CorpusConfig`'s speaker-verification data.

    The synthetic corpus is generated first when it is not on disk yet.
    """
    if cfg.source == "synthetic":
        root = corpus_root(cfg, progress) / "voxceleb1"
    elif cfg.voxceleb_root:
        root = Path(cfg.voxceleb_root)
    else:
        raise ConfigError("corpus.voxceleb_root is empty: set it to the directory holding wav/ and the trial list")
    return voxceleb_fingerprint(root, cfg.voxceleb_trials)


def pool_fingerprint(cfg, progress: bool = True) -> dict[str, Any]:
    """The fingerprint of a :class:`~sslsv.config.CorpusConfig`'s pre-training pool."""
    if cfg.source == "synthetic":
        return librispeech_fingerprint(corpus_root(cfg, progress) / "librispeech", (SYNTHETIC_SUBSET,))
    if not cfg.librispeech_root:
        raise ConfigError("corpus.librispeech_root is empty: set it to the directory holding LibriSpeech/<subset>/")
    return librispeech_fingerprint(Path(cfg.librispeech_root), tuple(cfg.librispeech_subsets))


def upstream_fingerprint(directory) -> dict[str, str]:
    """``{file: sha256}`` of a saved upstream directory (its weights and config)."""
    directory = Path(directory)
    return {p.relative_to(directory).as_posix(): _sha256(p)[:16]
            for p in sorted(directory.rglob("*")) if p.is_file()}

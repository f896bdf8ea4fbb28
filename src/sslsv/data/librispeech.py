"""LibriSpeech on disk: the unlabelled pre-training pool, with transcripts.

Expected layout (the official one, also written by the synthetic generator)::

    <root>/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt    "<uttid> TRANSCRIPT" lines
    <root>/LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.align.jsonl  optional alignments

``<root>/<subset>/...`` (without the ``LibriSpeech/`` level) is accepted too.
Durations come from the file headers (``soundfile.info``), no decoding.
``hours`` takes a deterministic random subset, which is how the data-scale
study varies the amount of pre-training data.

>>> import tempfile, pathlib
>>> import numpy as np, soundfile as sf
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> chapter = root / "train-clean-100" / "19" / "198"
>>> chapter.mkdir(parents=True)
>>> for utt in ("0000", "0001"):
...     sf.write(chapter / f"19-198-{utt}.flac", np.zeros(16000), 16000)
>>> _ = (chapter / "19-198.trans.txt").write_text("19-198-0000 HELLO WORLD\\n19-198-0001 GOOD BYE\\n")
>>> pool = read_librispeech(root)
>>> [(u.key, u.speaker, u.transcript, u.seconds) for u in pool.utterances]
[('19-198-0000', '19', 'HELLO WORLD', 1.0), ('19-198-0001', '19', 'GOOD BYE', 1.0)]
>>> read_librispeech(root, hours=1.0)
Traceback (most recent call last):
...
sslsv.data.librispeech.LibriSpeechError: requested 1 h of pre-training audio but the pool (train-clean-100) holds only 0.00056 h (2 s in 2 utterances)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UserError
from .audio import probe_audio_files
from .corpus import PretrainPool, PretrainUtterance, read_alignments

__all__ = ["read_librispeech", "read_transcripts", "LibriSpeechError", "MAX_LISTED"]

MAX_LISTED = 20  # how many offending entries an error message lists


class LibriSpeechError(UserError, ValueError):
    """A LibriSpeech-layout pool that cannot be used; the message names the file or subset."""


def _listing(items: list[str], limit: int = MAX_LISTED) -> str:
    shown = "\n".join(f"  {x}" for x in items[:limit])
    more = len(items) - limit
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


def read_transcripts(path) -> dict[str, str]:
    """Read a ``<spk>-<chapter>.trans.txt`` file: ``{utterance id: transcript}``.

    Raises:
        LibriSpeechError: a line without a transcript or a repeated id
            (the message names ``file:line``).
    """
    path = Path(path)
    out: dict[str, str] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split(maxsplit=1)
            if len(parts) != 2:
                raise LibriSpeechError(f"{path}:{lineno}: malformed transcript line {line.rstrip()!r}: "
                                       "expected '<utterance id> TRANSCRIPT'")
            if parts[0] in out:
                raise LibriSpeechError(f"{path}:{lineno}: utterance {parts[0]!r} is transcribed twice")
            out[parts[0]] = parts[1]
    return out


def base_dir(root: Path, subsets: Sequence[str]) -> Path:
    """``<root>/LibriSpeech`` when it holds the first subset, else ``root``."""
    nested = root / "LibriSpeech"
    if nested.is_dir() and (nested / subsets[0]).is_dir():
        return nested
    if not (root / subsets[0]).is_dir() and nested.is_dir():
        return nested
    return root


def _read_subset(subset_dir: Path) -> tuple[list[tuple[str, Path, str, str, tuple | None]], list[str]]:
    """Rows ``(key, path, speaker, transcript, alignment)`` of one subset, and its problems."""
    rows = []
    problems: list[str] = []
    for chapter_dir in sorted(p for p in subset_dir.glob("*/*") if p.is_dir()):
        speaker, chapter = chapter_dir.parent.name, chapter_dir.name
        audio = sorted(chapter_dir.glob("*.flac"))
        trans_path = chapter_dir / f"{speaker}-{chapter}.trans.txt"
        if not trans_path.is_file():
            if audio:
                problems.append(f"{trans_path}: transcript file not found ({len(audio)} .flac files need it)")
            continue
        transcripts = read_transcripts(trans_path)
        align_path = chapter_dir / f"{speaker}-{chapter}.align.jsonl"
        alignments = read_alignments(align_path) if align_path.is_file() else {}
        for path in audio:
            key = path.stem
            if key not in transcripts:
                problems.append(f"{path}: no transcript for {key!r} in {trans_path.name}")
                continue
            segments = alignments.get(key)
            rows.append((key, path, speaker, transcripts[key], None if segments is None else tuple(segments)))
        names = {p.stem for p in audio}
        for key in transcripts:
            if key not in names:
                problems.append(f"{trans_path}: transcribed utterance {key!r} has no {key}.flac")
    return rows, problems


def read_librispeech(root, subsets: Sequence[str] = ("train-clean-100",), hours: float | None = None,
                     seed: int = 0, sample_rate: int = 16000) -> PretrainPool:
    """Read LibriSpeech-layout subsets as a pre-training pool.

    Args:
        root: a directory holding ``LibriSpeech/<subset>/`` or ``<subset>/``.
        subsets: subset directory names, e.g. ``("train-clean-100", "train-clean-360")``.
        hours: if given, a deterministic random subset: utterances are
            shuffled with ``seed`` and taken until their total duration
            reaches ``hours`` (so it may exceed it by one utterance); the
            result is sorted by subset order and key.  ``None``: everything.
        seed: seed of that shuffle.
        sample_rate: the required sample rate in Hz.

    Returns:
        A :class:`~sslsv.data.corpus.PretrainPool` whose utterances carry
        ``key`` (``"<spk>-<chapter>-<utt>"``), ``speaker``, ``transcript``,
        ``seconds`` and, where a ``.align.jsonl`` file has them, ``alignment``.

    Raises:
        LibriSpeechError: a missing subset directory (naming the directories
            that do exist), a subset without ``.flac`` files, audio without a
            transcript or a transcript without audio (all listed, with their
            count), a malformed transcript line (``file:line``), a repeated
            utterance id, or fewer hours than requested (saying how many exist).
        sslsv.data.audio.AudioError: unusable audio (wrong sample rate, empty...),
            all files listed.
    """
    root = Path(root)
    subsets = tuple(subsets)
    if not subsets:
        raise LibriSpeechError("no subsets requested")
    if hours is not None and not hours > 0:
        raise LibriSpeechError(f"hours must be positive, got {hours}")
    if not root.is_dir():
        raise LibriSpeechError(f"{root}: LibriSpeech root directory not found")
    base = base_dir(root, subsets)

    rows = []
    problems: list[str] = []
    for subset in subsets:
        subset_dir = base / subset
        if not subset_dir.is_dir():
            found = sorted(p.name for p in base.iterdir() if p.is_dir())
            raise LibriSpeechError(
                f"{subset_dir}: subset {subset!r} not found (expected {root}/LibriSpeech/{subset}/ or "
                f"{root}/{subset}/); directories present under {base}: {', '.join(found) or 'none'}"
            )
        subset_rows, subset_problems = _read_subset(subset_dir)
        if not subset_rows and not subset_problems:
            raise LibriSpeechError(f"{subset_dir}: subset {subset!r} holds no <spk>/<chapter>/*.flac files")
        rows.extend(subset_rows)
        problems.extend(subset_problems)
    if problems:
        plural = "s" if len(problems) != 1 else ""
        raise LibriSpeechError(f"{len(problems)} problem{plural} with transcripts in {', '.join(subsets)}:\n"
                               f"{_listing(problems)}")
    seen: dict[str, Path] = {}
    for key, path, *_ in rows:
        if key in seen:
            raise LibriSpeechError(f"utterance id {key!r} occurs twice: {seen[key]} and {path}")
        seen[key] = path

    infos = probe_audio_files([r[1] for r in rows], sample_rate=sample_rate, max_listed=MAX_LISTED)
    utterances = [
        PretrainUtterance(key=key, path=path, speaker=speaker, transcript=text, seconds=info.seconds,
                          alignment=alignment)
        for (key, path, speaker, text, alignment), info in zip(rows, infos)
    ]
    if hours is not None:
        utterances = _take_hours(utterances, hours, seed, subsets)
    return PretrainPool(utterances)


def _take_hours(utterances: list[PretrainUtterance], hours: float, seed: int,
                subsets: Sequence[str]) -> list[PretrainUtterance]:
    """The first utterances of a seeded shuffle whose total reaches ``hours`` (original order kept)."""
    seconds = np.array([u.seconds for u in utterances])
    total = float(seconds.sum())
    wanted = hours * 3600.0
    if total < wanted * (1 - 1e-9):
        raise LibriSpeechError(
            f"requested {hours:g} h of pre-training audio but the pool ({', '.join(subsets)}) holds only "
            f"{total / 3600:.2g} h ({total:.0f} s in {len(utterances)} utterances)"
        )
    perm = np.random.default_rng(seed).permutation(len(utterances))
    cumulative = np.cumsum(seconds[perm])
    n = int(np.searchsorted(cumulative, wanted * (1 - 1e-9), side="left")) + 1
    chosen = np.sort(perm[: min(n, len(perm))])
    return [utterances[i] for i in chosen]

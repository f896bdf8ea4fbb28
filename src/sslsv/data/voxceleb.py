"""VoxCeleb1 on disk: Vox1-dev for training, a Vox1-O trial list for testing.

Expected layout (the official one, also written by the synthetic generator)::

    <root>/wav/<speaker>/<session>/<utt>.wav     e.g. wav/id10270/x6uYqmx31kE/00001.wav
    <root>/veri_test2.txt                        lines "label enroll test", label 1 or 0
    <root>/meta/alignments.jsonl                 optional phone alignments (synthetic)

The training set is every utterance under ``wav/`` whose speaker does not
appear in the trial list (for the official data: Vox1-dev, 1,211 speakers;
Vox1-O has 40 test speakers), so train and test speakers are disjoint by
construction.  Every problem is reported before any training starts.

>>> import tempfile, pathlib
>>> import numpy as np, soundfile as sf
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for key in ["a/s1/1.wav", "a/s2/1.wav", "b/s1/1.wav", "t/s1/1.wav", "t/s2/1.wav", "u/s1/1.wav"]:
...     (root / "wav" / key).parent.mkdir(parents=True, exist_ok=True)
...     sf.write(root / "wav" / key, np.zeros(1600), 16000)
>>> _ = (root / "veri_test2.txt").write_text("1 t/s1/1.wav t/s2/1.wav\\n0 t/s1/1.wav u/s1/1.wav\\n")
>>> corpus = read_voxceleb1(root)
>>> [u.key for u in corpus.train], corpus.train_speakers
(['a/s1/1.wav', 'a/s2/1.wav', 'b/s1/1.wav'], ['a', 'b'])
>>> corpus.test_keys
['t/s1/1.wav', 't/s2/1.wav', 'u/s1/1.wav']
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .audio import check_audio_files
from .corpus import SVCorpus, Trial, Utterance, read_alignments

__all__ = ["read_voxceleb1", "read_trials", "check_trial_pairs", "check_trial_classes", "VoxCelebError",
           "MAX_LISTED"]

MAX_LISTED = 20  # how many offending entries an error message lists

_LAYOUT = (
    "expected layout: <root>/wav/<speaker>/<session>/<utt>.wav and a trial list "
    "<root>/{trials} with lines 'label enroll test' (label 1 = same speaker, 0 = different)"
)


class VoxCelebError(UserError, ValueError):
    """A VoxCeleb-layout corpus that cannot be used; the message names the file."""


def _listing(items: list[str], limit: int = MAX_LISTED) -> str:
    shown = "\n".join(f"  {x}" for x in items[:limit])
    more = len(items) - limit
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


def read_trials(path) -> list[Trial]:
    """Read a Vox1-O style trial list: lines ``label enroll test``.

    ``label`` is 1 (target, same speaker) or 0 (non-target); ``enroll`` and
    ``test`` are keys ``<speaker>/<session>/<utt>.wav`` relative to ``wav/``.
    Blank lines are skipped.

    Raises:
        VoxCelebError: the file is missing, empty, or a line is malformed
            (the message names ``file:line``); a trial compares a file with
            itself or repeats an earlier pair (:func:`check_trial_pairs`).
    """
    path = Path(path)
    if not path.is_file():
        raise VoxCelebError(f"{path}: trial list not found")
    trials: list[Trial] = []
    linenos: list[int] = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            problem = None
            if len(fields) != 3:
                problem = f"expected 3 fields 'label enroll test', found {len(fields)}"
            elif fields[0] not in ("0", "1"):
                problem = f"label must be 1 (target) or 0 (non-target), found {fields[0]!r}"
            else:
                for key in fields[1:]:
                    if len(key.split("/")) != 3 or key.startswith("/"):
                        problem = f"key {key!r} is not of the form <speaker>/<session>/<utt>.wav"
                        break
            if problem:
                raise VoxCelebError(f"{path}:{lineno}: malformed trial line {line.rstrip()!r}: {problem}")
            trials.append(Trial(int(fields[0]), fields[1], fields[2]))
            linenos.append(lineno)
    if not trials:
        raise VoxCelebError(f"{path}: trial list holds no trials")
    check_trial_pairs(trials, linenos, path)
    return trials


def check_trial_pairs(trials: list[Trial], linenos: list[int], path) -> None:
    """Refuse trials that compare a file with itself, and pairs listed more than once.

    A self-trial is a perfect target score that lowers the EER; a repeated
    pair counts its trial twice and narrows the bootstrap interval without
    adding evidence. Both name their lines (``file:line``).

    >>> check_trial_pairs([Trial(1, "a/s/1.wav", "a/s/1.wav")], [3], "trials.txt")
    Traceback (most recent call last):
    ...
    sslsv.data.voxceleb.VoxCelebError: trials.txt: 1 trial(s) compare a file with itself (line 3: a/s/1.wav); remove them
    """
    selfs = [(n, t.enroll) for t, n in zip(trials, linenos) if t.enroll == t.test]
    if selfs:
        shown = ", ".join(f"line {n}: {k}" for n, k in selfs[:5]) + (f", ... and {len(selfs) - 5} more" if len(selfs) > 5 else "")
        raise VoxCelebError(f"{path}: {len(selfs)} trial(s) compare a file with itself ({shown}); remove them")
    first: dict[tuple[str, str], int] = {}
    repeats: list[tuple[int, int]] = []
    for t, n in zip(trials, linenos):
        pair = (t.enroll, t.test)
        if pair in first:
            repeats.append((n, first[pair]))
        else:
            first[pair] = n
    if repeats:
        shown = ", ".join(f"line {n} repeats line {m}" for n, m in repeats[:5])
        more = f", ... and {len(repeats) - 5} more" if len(repeats) > 5 else ""
        raise VoxCelebError(f"{path}: {len(repeats)} of {len(trials)} trials repeat an earlier (enroll, test) pair "
                            f"({shown}{more}); a repeated trial counts twice and narrows the confidence interval "
                            "without adding evidence: remove the repeats")


def check_trial_classes(trials: list[Trial], path) -> None:
    """A trial list needs target (1) and non-target (0) trials: EER and minDCF are undefined otherwise.

    >>> check_trial_classes([Trial(1, "a/s/1.wav", "a/s/2.wav")], "trials.txt")
    Traceback (most recent call last):
    ...
    sslsv.data.voxceleb.VoxCelebError: trials.txt: all 1 trials are target trials (label 1); EER and minDCF need target (1) and non-target (0) trials
    """
    n_target = sum(t.label for t in trials)
    if n_target in (0, len(trials)):
        kind = "target trials (label 1)" if n_target else "non-target trials (label 0)"
        raise VoxCelebError(f"{path}: all {len(trials)} trials are {kind}; EER and minDCF need target (1) and "
                            "non-target (0) trials")


def read_voxceleb1(root, trials_file: str = "veri_test2.txt", check_files: bool = True,
                   sample_rate: int = 16000) -> SVCorpus:
    """Read a VoxCeleb1-layout corpus: training utterances and the trial list.

    Args:
        root: the directory holding ``wav/`` and the trial list.
        trials_file: the trial list, relative to ``root`` (or absolute).
        check_files: also check every training and test file's header
            (``soundfile.info``: readable, ``sample_rate``, non-empty) and
            report all problems at once; takes about a minute for the full
            VoxCeleb1.
        sample_rate: the required sample rate in Hz.

    Returns:
        An :class:`~sslsv.data.corpus.SVCorpus`: ``train`` sorted by key,
        ``trials`` in file order, and ``alignments`` from
        ``<root>/meta/alignments.jsonl`` when it exists.

    Raises:
        VoxCelebError: no ``wav/`` directory (the message states the expected
            layout), missing or malformed trial list (``file:line``), trial
            keys without a file (all are counted, the first
            :data:`MAX_LISTED` listed), or no training utterance left.
        sslsv.data.audio.AudioError: with ``check_files``, unusable audio.
    """
    root = Path(root)
    layout = _LAYOUT.format(trials=trials_file)
    if not root.is_dir():
        raise VoxCelebError(f"{root}: VoxCeleb root directory not found; {layout}")
    wav_dir = root / "wav"
    if not wav_dir.is_dir():
        raise VoxCelebError(f"{root}: no wav/ directory; {layout}")
    trials_path = root / trials_file
    if not trials_path.is_file():
        raise VoxCelebError(f"{trials_path}: trial list not found; {layout}")
    trials = read_trials(trials_path)

    keys = sorted(p.relative_to(wav_dir).as_posix() for p in wav_dir.glob("*/*/*.wav"))
    if not keys:
        raise VoxCelebError(f"{wav_dir}: no .wav files found; {layout}")
    existing = set(keys)
    test_keys = sorted({t.enroll for t in trials} | {t.test for t in trials})
    missing = [k for k in test_keys if k not in existing]
    if missing:
        raise VoxCelebError(
            f"{trials_path}: {len(missing)} of {len(test_keys)} utterances named by the trial list "
            f"do not exist under {wav_dir}:\n{_listing(missing)}"
        )

    check_trial_classes(trials, trials_path)

    test_speakers = {k.split("/")[0] for k in test_keys}
    train = [Utterance(k, wav_dir / k, k.split("/")[0]) for k in keys if k.split("/")[0] not in test_speakers]
    if not train:
        raise VoxCelebError(
            f"{wav_dir}: no training utterances: all {len(test_speakers)} speakers under wav/ appear in "
            f"the trial list {trials_path.name}; training (Vox1-dev) needs speakers outside it"
        )

    if check_files:
        check_audio_files([u.path for u in train] + [wav_dir / k for k in test_keys], sample_rate=sample_rate)

    alignments_path = root / "meta" / "alignments.jsonl"
    alignments = read_alignments(alignments_path) if alignments_path.is_file() else {}
    return SVCorpus(root=root, train=train, trials=trials, alignments=alignments)

"""The corpus interface shared by synthetic and real data.

Everything downstream of "a corpus on disk" sees only these types, whether
the audio came from the procedural generator (:mod:`sslsv.data.synthetic`),
VoxCeleb1 (:mod:`sslsv.data.voxceleb`) or LibriSpeech
(:mod:`sslsv.data.librispeech`).

Keys are paths relative to the corpus ``wav/`` directory, exactly as they
appear in a Vox1-O trial list (``id10270/x6uYqmx31kE/00001.wav``);
:func:`make_trials` draws such a list for a corpus that has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

# Broad phone classes used by the attribution analyses.
PHONE_CLASSES = ("vowel", "nasal", "fricative", "plosive", "silence")


@dataclass(frozen=True)
class Segment:
    """One aligned unit: ``[start, end)`` seconds, a phone symbol and its class."""

    start: float
    end: float
    phone: str
    phone_class: str  # one of PHONE_CLASSES


@dataclass(frozen=True)
class Utterance:
    """A labelled utterance of the speaker-verification corpus."""

    key: str  # relative to the wav/ directory: "<speaker>/<session>/<utt>.wav"
    path: Path  # absolute path on disk
    speaker: str

    @property
    def session(self) -> str:
        return self.key.split("/")[1]


@dataclass(frozen=True)
class Trial:
    """One line of a Vox1-O style trial list: ``label enroll test``."""

    label: int  # 1 = same speaker (target), 0 = different (non-target)
    enroll: str  # key of the enrollment utterance
    test: str  # key of the test utterance


@dataclass
class SVCorpus:
    """Training utterances (labelled speakers) and a disjoint trial list."""

    root: Path  # the directory that holds wav/
    train: list[Utterance]
    trials: list[Trial]
    alignments: dict[str, list[Segment]] = field(default_factory=dict)  # synthetic only

    @property
    def train_speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.train})

    @property
    def test_keys(self) -> list[str]:
        """Every utterance key named by the trial list, sorted, once each."""
        return sorted({t.enroll for t in self.trials} | {t.test for t in self.trials})

    def path(self, key: str) -> Path:
        return self.root / "wav" / key


@dataclass(frozen=True)
class PretrainUtterance:
    """An utterance of the (unlabelled) pre-training pool."""

    key: str  # LibriSpeech utterance id "<speaker>-<chapter>-<utt>"
    path: Path
    speaker: str
    transcript: str  # words (LibriSpeech) or space-separated phones (synthetic)
    seconds: float
    alignment: tuple[Segment, ...] | None = None  # synthetic only


@dataclass
class PretrainPool:
    """Unlabelled audio for pre-training, with transcripts for the CTC comparison."""

    utterances: list[PretrainUtterance]

    @property
    def hours(self) -> float:
        return sum(u.seconds for u in self.utterances) / 3600.0


def pool_problems(pool: PretrainPool, crop_seconds: float, batch_size: int) -> list[str]:
    """What a pre-training configuration does to this pool that the user probably did not mean.

    A crop longer than the pool's files is mostly zero padding; a batch larger than the pool repeats
    utterances in every batch. One message per problem, naming the keys (``pretrain.crop_seconds``,
    ``optim.batch_size``).

    >>> pool = PretrainPool([PretrainUtterance(f"1-1-{i}", Path("x"), "1", "", 1.5) for i in range(3)])
    >>> for message in pool_problems(pool, crop_seconds=5.0, batch_size=8):
    ...     print(message)
    pretrain.crop_seconds=5 is longer than every file of the pool (the longest is 1.50 s): 70 % of the average crop is zero padding; set pretrain.crop_seconds to at most 1.50
    optim.batch_size=8 is larger than the pool's 3 utterances: every batch repeats utterances
    """
    out = []
    seconds = [u.seconds for u in pool.utterances]
    if seconds and crop_seconds > max(seconds):
        padding = sum(max(0.0, crop_seconds - s) for s in seconds) / (len(seconds) * crop_seconds)
        out.append(f"pretrain.crop_seconds={crop_seconds:g} is longer than every file of the pool (the longest is "
                   f"{max(seconds):.2f} s): {100 * padding:.0f} % of the average crop is zero padding; set "
                   f"pretrain.crop_seconds to at most {max(seconds):.2f}")
    if seconds and batch_size > len(seconds):
        out.append(f"optim.batch_size={batch_size} is larger than the pool's {len(seconds)} utterances: every batch "
                   "repeats utterances")
    return out


def write_spans(path: Path, spans: Mapping[str, Sequence[Any]], field: str, row: Callable[[Any], list]) -> None:
    """Write ``{key: spans}`` as JSON lines ``{"key": ..., field: [row(span), ...]}`` (one utterance a line),
    atomically: the file format of phone and word alignments."""
    import json

    from ..artifacts import atomic_write_text

    lines = [json.dumps({"key": key, field: [row(s) for s in items]}) for key, items in spans.items()]
    atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))


def read_spans(path: Path, field: str, make: Callable[..., Any], what: str) -> dict[str, list[Any]]:
    """Read a file written by :func:`write_spans`: ``make(*row)`` per span; a bad line names file and line."""
    import json

    out: dict[str, list[Any]] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[row["key"]] = [make(*items) for items in row[field]]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: malformed {what} line ({e})") from e
    return out


def write_alignments(path: Path, alignments: dict[str, list[Segment]]) -> None:
    """Write ``{key: segments}`` as JSON lines (one utterance per line), atomically."""
    write_spans(path, alignments, "segments", lambda s: [s.start, s.end, s.phone, s.phone_class])


def read_alignments(path: Path) -> dict[str, list[Segment]]:
    """Read a file written by :func:`write_alignments`; a bad line names file and line."""
    return read_spans(path, "segments", lambda a, b, p, c: Segment(float(a), float(b), str(p), str(c)), "alignment")


def make_trials(test_keys: dict[str, list[str]], n_trials: int,
                rng: "np.random.Generator") -> list[tuple[int, str, str]]:
    """A balanced trial list ``(label, enroll_key, test_key)`` without duplicates.

    Target trials pair two utterances of one speaker from *different*
    sessions (the session is the second key component); non-target trials
    pair two speakers.  If there are too few cross-session pairs, the
    reversed orientation of a pair is used as well; if still too few, this
    raises ``ValueError``.

    >>> import numpy as np
    >>> keys = {s: [f"{s}/{x}/0000{u}.wav" for x in "ab" for u in (1, 2)] for s in ("p", "q")}
    >>> trials = make_trials(keys, 8, np.random.default_rng(0))
    >>> sum(t[0] for t in trials), len(set(trials))
    (4, 8)
    """
    n_target = n_trials // 2
    n_nontarget = n_trials - n_target
    pairs: list[tuple[str, str]] = []
    for spk in sorted(test_keys):
        keys = sorted(test_keys[spk])
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                if keys[a].split("/")[1] != keys[b].split("/")[1]:
                    pairs.append((keys[a], keys[b]))
    order = rng.permutation(len(pairs))
    targets = [pairs[i] for i in order[:n_target]]
    if len(targets) < n_target:  # reuse pairs in the reversed orientation
        extra = [(b, a) for a, b in (pairs[i] for i in order)]
        targets += extra[: n_target - len(targets)]
    if len(targets) < n_target:
        raise ValueError(
            f"only {len(pairs)} cross-session target pairs exist ({2 * len(pairs)} with both orientations); "
            f"{n_target} requested: raise sessions_per_speaker/utterances_per_session or lower n_trials")
    speakers = sorted(test_keys)
    if len(speakers) < 2:
        raise ValueError("non-target trials need at least 2 test speakers")
    nontargets: set[tuple[str, str]] = set()
    all_keys = [(s, k) for s in speakers for k in sorted(test_keys[s])]
    max_nontarget = sum(len(test_keys[a]) * len(test_keys[b]) for a in speakers for b in speakers if a < b)
    if n_nontarget > max_nontarget:
        raise ValueError(f"only {max_nontarget} non-target pairs exist; {n_nontarget} requested")
    while len(nontargets) < n_nontarget:
        i, j = rng.integers(0, len(all_keys), 2)
        (sa, ka), (sb, kb) = all_keys[i], all_keys[j]
        if sa == sb or (kb, ka) in nontargets:
            continue
        nontargets.add((ka, kb))
    trials = [(1, a, b) for a, b in targets] + [(0, a, b) for a, b in sorted(nontargets)]
    return [trials[i] for i in rng.permutation(len(trials))]


def describe(corpus: SVCorpus) -> "pd.DataFrame":
    """One row per partition (train / test): speakers, utterances, sessions, hours, trials.

    Durations come from the file headers (:func:`~sslsv.data.audio.probe_audio`);
    an unusable file raises its :class:`~sslsv.data.audio.AudioError`.
    """
    import pandas as pd

    from .audio import probe_audio

    def seconds(paths):
        return sum(probe_audio(p, sample_rate=None).seconds for p in paths)

    test_keys = corpus.test_keys
    test_speakers = {k.split("/")[0] for k in test_keys}
    targets = sum(t.label for t in corpus.trials)
    rows = [
        {"partition": "train (Vox1-dev role)", "speakers": len(corpus.train_speakers),
         "utterances": len(corpus.train), "sessions": len({(u.speaker, u.session) for u in corpus.train}),
         "hours": seconds(u.path for u in corpus.train) / 3600, "trials": 0, "target_trials": 0},
        {"partition": "test (Vox1-O role)", "speakers": len(test_speakers), "utterances": len(test_keys),
         "sessions": len({tuple(k.split("/")[:2]) for k in test_keys}),
         "hours": seconds(corpus.path(k) for k in test_keys) / 3600, "trials": len(corpus.trials),
         "target_trials": targets},
    ]
    return pd.DataFrame(rows)


def example_keys(corpus: SVCorpus) -> list[tuple[str, str]]:
    """Three test utterances to listen to: two sessions of one speaker, then another speaker.

    Returns ``[(description, key), ...]`` taken from the first target trial
    whose utterances come from different sessions, and a non-target partner.
    """
    for t in corpus.trials:
        if t.label == 1 and t.enroll.split("/")[1] != t.test.split("/")[1]:
            speaker = t.enroll.split("/")[0]
            other = next(k for k in corpus.test_keys if k.split("/")[0] != speaker)
            return [(f"speaker {speaker}, session {t.enroll.split('/')[1]}", t.enroll),
                    (f"speaker {speaker}, session {t.test.split('/')[1]}", t.test),
                    (f"speaker {other.split('/')[0]}", other)]
    raise ValueError("the trial list has no cross-session target trial")

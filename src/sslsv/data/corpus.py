"""The corpus interface shared by synthetic and real data.

Everything downstream of "a corpus on disk" sees only these types, whether
the audio came from the procedural generator (:mod:`sslsv.data.synthetic`),
VoxCeleb1 (:mod:`sslsv.data.voxceleb`) or LibriSpeech
(:mod:`sslsv.data.librispeech`).

Keys are paths relative to the corpus ``wav/`` directory, exactly as they
appear in a Vox1-O trial list (``id10270/x6uYqmx31kE/00001.wav``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


def write_alignments(path: Path, alignments: dict[str, list[Segment]]) -> None:
    """Write ``{key: segments}`` as JSON lines (one utterance per line), atomically."""
    import json

    from ..artifacts import atomic_write_text

    lines = [
        json.dumps({"key": key, "segments": [[s.start, s.end, s.phone, s.phone_class] for s in segs]})
        for key, segs in alignments.items()
    ]
    atomic_write_text(Path(path), "\n".join(lines) + ("\n" if lines else ""))


def read_alignments(path: Path) -> dict[str, list[Segment]]:
    """Read a file written by :func:`write_alignments`; a bad line names file and line."""
    import json

    out: dict[str, list[Segment]] = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out[row["key"]] = [Segment(float(a), float(b), str(p), str(c)) for a, b, p, c in row["segments"]]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: malformed alignment line ({e})") from e
    return out


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

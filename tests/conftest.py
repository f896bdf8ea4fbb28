"""Shared pytest fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Every test session computes into its own artifact root (never the user's
# artifacts/); the nbval notebook kernels inherit it through the environment.
_ARTIFACTS = tempfile.mkdtemp(prefix="sslsv-test-artifacts-")
os.environ["SSLSV_ARTIFACTS"] = _ARTIFACTS
atexit.register(shutil.rmtree, _ARTIFACTS, ignore_errors=True)
os.environ.setdefault("MPLBACKEND", "Agg")

_REPO = Path(__file__).resolve().parents[1]


def _git_status() -> str | None:
    """``git status --porcelain`` of the checkout (tracked and unignored files), or None outside git."""
    import subprocess

    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=_REPO,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def pytest_sessionstart(session):
    session.config._sslsv_git_status = _git_status()


def pytest_sessionfinish(session, exitstatus):
    """A test run must leave the working tree as it found it (no rewritten notebooks, no stray files)."""
    before = getattr(session.config, "_sslsv_git_status", None)
    after = _git_status()
    if before is None or after is None or before == after:
        return
    changed = sorted(set(after.splitlines()) - set(before.splitlines()))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_line("the test run changed the working tree (git status):", red=True)
        for line in changed:
            reporter.write_line(f"  {line}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


# ---------------------------------------------------------------------------
# A small synthetic pre-training pool in the LibriSpeech layout (pre-training tests)
# ---------------------------------------------------------------------------


def write_synthetic_pool(root: Path, n_speakers: int = 6, n_utterances: int = 4, seconds: float = 2.0,
                         seed: int = 0) -> Path:
    """``<root>/LibriSpeech/train-synthetic/<spk>/1/*.flac`` with transcripts and phone alignments."""
    import soundfile as sf

    from sslsv.data.corpus import write_alignments
    from sslsv.data.synthetic import sample_speaker, synthesize_utterance, transcript

    rng = np.random.default_rng(seed)
    for s in range(n_speakers):
        voice = sample_speaker(rng)
        d = root / "LibriSpeech" / "train-synthetic" / f"{100 + s}" / "1"
        d.mkdir(parents=True, exist_ok=True)
        lines, aligns = [], {}
        for u in range(n_utterances):
            key = f"{100 + s}-1-{u:04d}"
            wave, segments = synthesize_utterance(voice, None, seconds, rng)
            sf.write(d / f"{key}.flac", wave, 16000)
            lines.append(f"{key} {transcript(segments)}")
            aligns[key] = segments
        (d / f"{100 + s}-1.trans.txt").write_text("\n".join(lines) + "\n")
        write_alignments(d / f"{100 + s}-1.align.jsonl", aligns)
    return root


@pytest.fixture(scope="session")
def synthetic_pool_root(tmp_path_factory) -> Path:
    """A 48-second synthetic pool (6 speakers x 4 utterances x 2 s) with alignments, made once."""
    return write_synthetic_pool(tmp_path_factory.mktemp("pool"))


@pytest.fixture
def pretrain_config(synthetic_pool_root, tmp_path, monkeypatch):
    """``make({"pretrain.objective": ...})`` -> a tiny PretrainExperimentConfig on the synthetic pool; artifacts in tmp_path."""
    from sslsv.config import PretrainExperimentConfig, override

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    base = {
        "corpus.source": "voxceleb1", "corpus.librispeech_root": str(synthetic_pool_root),
        "corpus.librispeech_subsets": ["train-synthetic"],
        "pretrain.size": "tiny", "pretrain.n_clusters": 20, "pretrain.crop_seconds": 1.0,
        "pretrain.mask_prob": 0.08, "pretrain.mask_length": 5, "pretrain.proj_dim": 32,
        "pretrain.num_negatives": 10, "pretrain.codevectors": 16, "pretrain.kmeans_layer": 2,
        "optim.steps": 4, "optim.batch_size": 4, "optim.warmup_steps": 1, "optim.checkpoint_every": 2,
        "optim.lr": 1e-3,
    }

    def make(overrides=None):
        return override(PretrainExperimentConfig(), {**base, **(overrides or {})})

    return make


# ---------------------------------------------------------------------------
# nbval: exact where outputs are exact, within measured tolerances where they come out of training
# ---------------------------------------------------------------------------

TOLERANCES_FILE = _REPO / "tests" / "notebooks" / "tolerances.toml"


def _install_tolerant_nbval() -> None:
    """Let nbval compare what a chapter computed, within each kind's tolerance, and not how it was laid out.

    nbval's own comparison runs first, on every output except a table's HTML and plain text (a table's
    data, :data:`sslsv.tables.RESULTS_MIME`, stays in it: equal data pass at once). Only where it finds a
    difference are the outputs compared again by ``tests/reference.py`` (:func:`reference.compare_outputs`):
    each table's values within the tolerance of their column's kind (``tests/notebooks/tolerances.toml``),
    printed text line by line. Everything else (mime types, number of outputs, images skipped) stays nbval's.
    """
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to patch
        return
    from reference import RESULTS_MIME, cell_kind, compare_outputs, load_tolerances

    if getattr(IPyNbCell, "_sslsv_tolerant", False):
        return
    nbval_compare = IPyNbCell.compare_outputs
    kinds = load_tolerances(TOLERANCES_FILE)

    def compare(self, test, ref, skip_compare=None):
        skip = tuple(skip_compare or self.parent.skip_compare) + ("text/html",)
        if any(RESULTS_MIME in o.get("data", {}) for o in [*test, *ref]):
            skip += ("text/plain",)  # a table's layout is free: its data is compared
        if nbval_compare(self, test, ref, skip):
            return True
        traceback = list(self.comparison_traceback)
        kind = cell_kind(self.cell.metadata.get("tags", []))
        why = compare_outputs(ref, test, kinds, kind, sanitize=self.sanitize)
        if why is None:
            self.comparison_traceback = []
            return True
        self.comparison_traceback = [f"{why} (tolerances: {TOLERANCES_FILE.name})"] + traceback
        return False

    IPyNbCell.compare_outputs = compare
    IPyNbCell._sslsv_tolerant = True


_install_tolerant_nbval()

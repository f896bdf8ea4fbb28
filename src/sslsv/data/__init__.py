"""Corpora: the synthetic generator and readers for VoxCeleb1 and LibriSpeech.

:func:`load_sv_corpus` and :func:`load_pretrain_pool` are the single entry
points the studies use; both go through the *real-data readers*, also for
the synthetic corpus (which is written to disk in the same layouts), so the
VoxCeleb/LibriSpeech code path runs on every build.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..config import CorpusConfig
from .corpus import PretrainPool, SVCorpus

SYNTHETIC_SUBSET = "train-synthetic"


def corpus_root(cfg: CorpusConfig, progress: bool = True) -> Path:
    """Generate (or reuse) the synthetic corpus; the on-disk root of either source.

    The synthetic generator writes 16 kHz audio only: another
    ``corpus.sample_rate`` is a :class:`~sslsv.config.ConfigError` before any work.
    """
    if cfg.source == "synthetic":
        from .synthetic import check_sample_rate, generate_corpus

        check_sample_rate(cfg)
        return generate_corpus(cfg, progress=progress)
    if cfg.source == "voxceleb1":
        return Path(cfg.voxceleb_root)
    raise ConfigError(f"unknown corpus source {cfg.source!r}; valid sources: synthetic, voxceleb1")


def load_sv_corpus(cfg: CorpusConfig, progress: bool = True, check_files: bool = True) -> SVCorpus:
    """The speaker-verification corpus: training utterances and the trial list."""
    from .voxceleb import read_voxceleb1

    if cfg.source == "synthetic":
        root = corpus_root(cfg, progress) / "voxceleb1"
    elif cfg.source == "voxceleb1":
        if not cfg.voxceleb_root:
            raise ConfigError("corpus.voxceleb_root is empty: set it to the directory holding wav/ and the trial list")
        root = Path(cfg.voxceleb_root)
    else:
        raise ConfigError(f"unknown corpus source {cfg.source!r}; valid sources: synthetic, voxceleb1")
    trials = root / cfg.voxceleb_trials
    if (root / "wav").is_dir() and not trials.is_file():
        from .voxceleb import VoxCelebError

        raise VoxCelebError(f"{trials}: trial list not found; set corpus.voxceleb_trials to the trial list (relative "
                            "to corpus.voxceleb_root, or absolute), lines 'label enroll test'")
    return read_voxceleb1(root, trials_file=cfg.voxceleb_trials, check_files=check_files,
                          sample_rate=cfg.sample_rate)


# The smallest SV part the corpus config allows: a synthetic corpus's pool files depend on its seed and pool
# keys alone (the generator keys its draws by split), so a corpus shrunk by these keys holds the same pool
# without a second copy of the SV corpus (chapter 01a's curves, pretrain.pool_language).
POOL_ONLY: dict[str, Any] = {"n_train_speakers": 2, "n_test_speakers": 2, "sessions_per_speaker": 2,
                             "utterances_per_session": 1, "n_trials": 4}


def pool_corpus(cfg: CorpusConfig, language: str = "") -> CorpusConfig:
    """The corpus config whose pool a pre-training run reads: ``cfg`` itself, or with ``language`` (another
    language for the same voices and channels, :attr:`~sslsv.config.PretrainConfig.pool_language`) the
    synthetic corpus that speaks it, its SV part shrunk to :data:`POOL_ONLY`.

    >>> from sslsv.config import CorpusConfig
    >>> c = CorpusConfig()
    >>> pool_corpus(c, "") is c, pool_corpus(c, "lexicon").language, pool_corpus(c, "lexicon").n_train_speakers
    (True, 'lexicon', 2)
    """
    if not language:
        return cfg
    if cfg.source != "synthetic":
        raise ConfigError(f"pretrain.pool_language = {language!r} needs the synthetic corpus (corpus.source is "
                          f"{cfg.source!r}): only its voices can speak another language; set it to \"\"")
    return dataclasses.replace(cfg, language=language, **POOL_ONLY)


def load_pretrain_pool(cfg: CorpusConfig, hours: float | None = None, seed: int = 0,
                       progress: bool = True) -> PretrainPool:
    """The unlabelled pre-training pool (``hours`` of it; all when ``None``)."""
    from .librispeech import read_librispeech

    if cfg.source == "synthetic":
        root = corpus_root(cfg, progress) / "librispeech"
        subsets: tuple[str, ...] = (SYNTHETIC_SUBSET,)
    elif cfg.source == "voxceleb1":
        if not cfg.librispeech_root:
            raise ConfigError("corpus.librispeech_root is empty: set it to the directory holding LibriSpeech/<subset>/")
        root, subsets = Path(cfg.librispeech_root), tuple(cfg.librispeech_subsets)
    else:
        raise ConfigError(f"unknown corpus source {cfg.source!r}; valid sources: synthetic, voxceleb1")
    return read_librispeech(root, subsets=subsets, hours=hours, seed=seed, sample_rate=cfg.sample_rate)


__all__ = ["SVCorpus", "PretrainPool", "load_sv_corpus", "load_pretrain_pool", "corpus_root", "POOL_ONLY", "pool_corpus"]

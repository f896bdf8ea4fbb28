"""Pre-training batches: random crops of the pool, their frame targets, masks and transcripts.

A batch is a pure function of ``(seed, step, rank)`` (:func:`~sslsv.training.step_rng`),
so an interrupted run resumes exactly.  Crops start on a backbone frame
boundary (``HOP`` samples), so the labels of a crop are the utterance's
labels ``[start, start + frames)``: one target per backbone frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config import ConfigError, PretrainConfig, PretrainExperimentConfig
from ..data.corpus import PretrainPool, PretrainUtterance
from ..training import step_rng
from .backbones import Upstream
from .objectives import IGNORE, make_objective
from .quantizers import Targets, phone_inventory

__all__ = ["PretrainData", "Transcripts", "gumbel_temperature", "load_pool", "SAMPLE_RATE", "HOP"]

SAMPLE_RATE = 16000
HOP = 320  # samples per backbone frame (50 Hz)


def gumbel_temperature(step: int, total: int, start: float = 2.0, end: float = 0.5) -> float:
    """wav2vec 2.0's Gumbel-softmax temperature, annealed linearly over the run.

    >>> gumbel_temperature(0, 100), gumbel_temperature(100, 100)
    (2.0, 0.5)
    """
    return start + (end - start) * min(step / max(total, 1), 1.0)


def load_pool(cfg: PretrainExperimentConfig, progress: bool = True) -> PretrainPool:
    """The pre-training pool: ``cfg.pretrain.hours`` of it (all when 0), seeded; in ``pretrain.pool_language``
    when that is set (:func:`sslsv.data.pool_corpus`). In-domain audio is the SV corpus's own."""
    from ..data import load_pretrain_pool, pool_corpus

    hours = cfg.pretrain.hours if cfg.pretrain.hours > 0 else None
    pool = load_pretrain_pool(pool_corpus(cfg.corpus, cfg.pretrain.pool_language), hours, seed=cfg.pretrain.seed,
                              progress=progress)
    if cfg.pretrain.in_domain:
        pool = PretrainPool(pool.utterances + in_domain_utterances(cfg, progress))
    return pool


def in_domain_utterances(cfg: PretrainExperimentConfig, progress: bool = True) -> list[PretrainUtterance]:
    """The SV corpus's training utterances as unlabelled pool audio (``pretrain.in_domain``).

    Only the audio goes in: the key is ``sv:<VoxCeleb key>``, the speaker is that of the
    recording (used for nothing but bookkeeping), and the transcript is the utterance's phones
    where the corpus has alignments (the synthetic one), else empty.  The test speakers never do.
    """
    import soundfile as sf

    from ..data import load_sv_corpus
    from ..data.synthetic.voice import transcript

    corpus = load_sv_corpus(cfg.corpus, progress=progress)
    out = []
    for u in corpus.train:
        segments = corpus.alignments.get(u.key)
        out.append(PretrainUtterance(key=f"sv:{u.key}", path=u.path, speaker=u.speaker,
                                     transcript=transcript(segments) if segments else "",
                                     seconds=float(sf.info(str(u.path)).duration),
                                     alignment=tuple(segments) if segments else None))
    return out


def _pack(seqs: list[list[int]], frame_lengths: list[int]) -> dict[str, torch.Tensor]:
    width = max(1, max(len(s) for s in seqs))
    tokens = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return {"tokens": tokens, "token_lengths": torch.tensor([len(s) for s in seqs]),
            "frame_lengths": torch.tensor(frame_lengths)}


class Transcripts:
    """CTC tokens of the pool: phones of the alignments (blank = 0) when every utterance has one, else characters.

    With phones a crop gets the phones whose centre falls inside it; with
    characters only whole utterances have a transcript, so batches are whole
    utterances (:attr:`aligned` is ``False``).
    """

    def __init__(self, pool: PretrainPool):
        self.aligned = all(u.alignment for u in pool.utterances)
        if self.aligned:
            self.vocab = phone_inventory(pool, speech_only=True)
        else:
            self.vocab = sorted({c for u in pool.utterances for c in u.transcript.replace(" ", "|")})
        self.token_index = {t: i + 1 for i, t in enumerate(self.vocab)}  # 0 = blank
        self.by_key = {u.key: u for u in pool.utterances}

    def of_crops(self, starts: list[tuple[str, int]], crop: int, crop_frames: int) -> dict[str, torch.Tensor]:
        """Tokens of crops of ``crop`` samples starting at frame ``s`` of utterance ``key``, for ``(key, s)``."""
        seqs = []
        for key, s in starts:
            t0, t1 = s * HOP / SAMPLE_RATE, (s * HOP + crop) / SAMPLE_RATE
            seqs.append([self.token_index[seg.phone] for seg in self.by_key[key].alignment
                         if t0 <= (seg.start + seg.end) / 2 < t1 and seg.phone_class != "silence"])
        return _pack(seqs, [crop_frames] * len(seqs))

    def of_utterances(self, keys: list[str], frames: list[int]) -> dict[str, torch.Tensor]:
        """Character tokens of whole utterances of ``frames`` backbone frames each."""
        return _pack([[self.token_index[c] for c in self.by_key[k].transcript.replace(" ", "|")] for k in keys],
                     frames)


class PretrainData:
    """Batches of a pre-training run, each a pure function of ``(seed, step, rank)``.

    A batch is a dict: ``wave`` ``(batch, samples)``, ``targets`` ``(batch,
    frames)`` (``-100`` on padding), ``gumbel_temperature`` and what the
    objective asks for (:meth:`~sslsv.pretrain.objectives.Objective.batch_parts`:
    ``mask`` ``(batch, frames)`` bool, ``negatives``; with transcripts
    ``tokens``/``token_lengths``/``frame_lengths``).  ``held_out`` batches
    are those of evaluation (masked for every target objective).  ``keys``
    restricts the crops to those utterances of the pool (its training or
    held-out part, :func:`~sslsv.pretrain.curve.split_held_out`); the
    transcripts' vocabulary stays that of the whole pool.
    """

    def __init__(self, cfg: PretrainConfig, pool: PretrainPool, waves: dict[str, np.ndarray], upstream: Upstream,
                 targets: Targets | None, batch_size: int, total_steps: int, keys: list[str] | None = None):
        self.cfg, self.pool, self.waves, self.targets = cfg, pool, waves, targets
        self.objective = make_objective(cfg)
        self.batch_size, self.total_steps = batch_size, total_steps
        self.keys = [u.key for u in pool.utterances]
        if keys is not None:
            wanted = set(keys)
            self.keys = [k for k in self.keys if k in wanted]
        lengths = np.array([len(waves[k]) for k in self.keys], dtype=np.float64)
        self.p = lengths / lengths.sum()  # crops drawn in proportion to duration
        self.crop = int(round(cfg.crop_seconds * SAMPLE_RATE))
        self.n_frames = upstream.n_frames
        self.crop_frames = upstream.n_frames(self.crop)
        self.utt_frames = {k: upstream.n_frames(len(waves[k])) for k in self.keys}
        self.transcripts = Transcripts(pool) if self.objective.uses_transcripts else None
        self.vocab: list[str] = self.transcripts.vocab if self.transcripts else []

    def __call__(self, step: int, rank: int = 0, world: int = 1, held_out: bool = False) -> dict[str, Any]:
        if self.batch_size % world:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by {world} processes")
        rng = step_rng(self.cfg.seed, step, rank)
        n = self.batch_size // world
        picks = rng.choice(len(self.keys), size=n, p=self.p)
        if self.transcripts is not None and not self.transcripts.aligned:
            return self._whole_utterances(picks)
        waves = np.zeros((n, self.crop), dtype=np.float32)
        targets = np.full((n, self.crop_frames), IGNORE, dtype=np.int64)
        starts = []
        for i, idx in enumerate(picks):
            key = self.keys[idx]
            s = int(rng.integers(0, max(self.utt_frames[key] - self.crop_frames, 0) + 1))
            seg = self.waves[key][s * HOP: s * HOP + self.crop]
            waves[i, : len(seg)] = seg
            if self.targets is not None:
                lab = self.targets.labels[key][s: s + self.crop_frames]
                targets[i, : len(lab)] = lab
            starts.append((key, s))
        batch: dict[str, Any] = {"wave": torch.from_numpy(waves), "step": step,
                                 "gumbel_temperature": gumbel_temperature(step, self.total_steps)}
        if self.targets is not None:
            batch["targets"] = torch.from_numpy(targets)
        batch.update(self.objective.batch_parts(rng, (n, self.crop_frames), held_out))
        if self.transcripts is not None:
            batch.update(self.transcripts.of_crops(starts, self.crop, self.crop_frames))
        return batch

    def _whole_utterances(self, picks) -> dict[str, Any]:
        keys = [self.keys[i] for i in picks]
        longest = max(len(self.waves[k]) for k in keys)
        waves = np.zeros((len(keys), longest), dtype=np.float32)
        for i, k in enumerate(keys):
            waves[i, : len(self.waves[k])] = self.waves[k]
        out = self.transcripts.of_utterances(keys, [self.utt_frames[k] for k in keys])
        out.update(wave=torch.from_numpy(waves), gumbel_temperature=1.0)
        return out

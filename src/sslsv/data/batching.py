"""Random fixed-length crops for training batches.

Crops are read straight from disk with ``soundfile`` (only the frames
needed), so the same code serves a 2 MB synthetic corpus and the 40 GB of
VoxCeleb1.  A batch is a pure function of the random generator it is given,
which the training loop derives from ``(seed, step, rank)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
import torch


def crop_start(n_samples: int, crop_samples: int, rng: np.random.Generator) -> int:
    """A uniformly random start so that the crop fits (0 when the file is short)."""
    return int(rng.integers(0, n_samples - crop_samples + 1)) if n_samples > crop_samples else 0


def read_crop(path: Path, n_samples: int, crop_samples: int, rng: np.random.Generator) -> np.ndarray:
    """One crop of ``crop_samples`` samples; a short file is repeated to fill it.

    Returns ``(crop_samples,)`` float32.
    """
    start = crop_start(n_samples, crop_samples, rng)
    wave, _ = sf.read(str(path), start=start, frames=min(crop_samples, n_samples), dtype="float32",
                      always_2d=True)
    wave = wave.mean(axis=1)
    if len(wave) < crop_samples:
        if len(wave) == 0:
            raise ValueError(f"{path}: no audio samples")
        wave = np.tile(wave, int(np.ceil(crop_samples / len(wave))))[:crop_samples]
    return wave


class CropSampler:
    """Speaker-labelled random crops.

    ``batch(rng, batch_size)`` returns ``(wave (batch, crop_samples), labels (batch,))``.
    Utterances are drawn uniformly at random (with replacement); ``augment(crop, rng)``, when given,
    then transforms each crop with draws from the same generator.
    """

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], crop_samples: int,
                 augment: Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]] | None = None):
        if len(paths) != len(labels):
            raise ValueError("paths and labels differ in length")
        if not paths:
            raise ValueError("no training utterances")
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.lengths = np.array([sf.info(str(p)).frames for p in self.paths], dtype=np.int64)
        self.crop_samples = int(crop_samples)
        self.augment = augment  # e.g. a sslsv.data.augment.Augmenter, drawing from the batch's generator

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = rng.integers(0, len(self.paths), size=batch_size)
        crops = [read_crop(self.paths[i], int(self.lengths[i]), self.crop_samples, rng) for i in idx]
        if self.augment is not None:  # after every crop is read: the same crops with and without augmentation
            crops = [self.augment(c, rng)[0] for c in crops]
        waves = np.stack(crops).astype(np.float32, copy=False)
        return torch.from_numpy(waves), torch.from_numpy(self.labels[idx])

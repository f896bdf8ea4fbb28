"""Span masks for masked prediction: a thin, seeded wrapper of transformers' own computation.

transformers' ``_compute_mask_indices`` (the wav2vec 2.0 / HuBERT recipe)
draws ``mask_prob * frames / mask_length`` span starts, where its
``mask_prob`` is fairseq's (0.8 for HuBERT).  Our ``mask_prob`` is the
paper's: the probability that a frame *starts* a span (p = 0.08), so
transformers gets ``mask_prob * mask_length``; spans may overlap and about
half the frames end up masked at the published 0.08 x 10.  The computation
draws from NumPy's *global* generator.  Here it
draws from a generator derived from ``rng`` instead, so a training step's
mask is a pure function of ``(seed, step, rank)`` and resumption is exact.

>>> import numpy as np
>>> m = compute_mask((4, 500), 0.08, 10, np.random.default_rng(0))
>>> m.shape, m.dtype, bool(0.35 < m.mean() < 0.65)
((4, 500), dtype('bool'), True)
>>> bool((m == compute_mask((4, 500), 0.08, 10, np.random.default_rng(0))).all())
True
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["compute_mask", "sample_negatives", "seeded_numpy", "MaskError", "TRANSFORMERS_REQUIREMENT"]

# transformers keeps the two samplers private, so they are imported here and nowhere else; pyproject.toml
# pins the range under which they were checked (tests/test_pretrain_objectives.py checks both agree).
TRANSFORMERS_REQUIREMENT = "transformers>=4.40,<6"
try:
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices
except ImportError as e:  # renamed or removed by a transformers release outside the checked range
    import transformers

    raise ImportError(f"sslsv's span masks use transformers' private wav2vec 2.0 samplers "
                      f"(_compute_mask_indices, _sample_negative_indices), which transformers "
                      f"{transformers.__version__} does not provide ({e}); install {TRANSFORMERS_REQUIREMENT!r}, "
                      "the range in pyproject.toml") from e


class MaskError(ValueError):
    """A mask setting that would leave nothing to learn from."""


@contextlib.contextmanager
def seeded_numpy(rng: np.random.Generator):
    """Run a block with NumPy's global generator seeded from ``rng``; restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(int(rng.integers(2**32 - 1)))
    try:
        yield
    finally:
        np.random.set_state(state)


def compute_mask(shape: tuple[int, int], mask_prob: float, mask_length: int, rng: np.random.Generator,
                 min_masks: int = 2) -> np.ndarray:
    """Boolean span mask of ``shape`` ``(batch, frames)``; ``True`` = masked.

    ``mask_prob`` is the probability that a frame starts a span of
    ``mask_length`` frames (HuBERT: 0.08 and 10).

    Refuses settings under which every frame would be masked (no unmasked
    context left to predict from) or no frame could be.
    """
    batch, frames = shape
    if not 0.0 < mask_prob < 1.0:
        raise MaskError(f"mask_prob must be in (0, 1), got {mask_prob}")
    if mask_length < 1 or mask_length >= frames:
        raise MaskError(f"mask_length {mask_length} must be in [1, {frames}) for {frames} frames: "
                        "a span as long as the sequence masks every frame")
    with seeded_numpy(rng):
        mask = _compute_mask_indices((batch, frames), mask_prob * mask_length, mask_length, min_masks=min_masks)
    if mask.all(axis=1).any():
        raise MaskError(f"mask_prob={mask_prob}, mask_length={mask_length} masks every one of {frames} frames "
                        "of an item; lower mask_prob or mask_length")
    return mask


def sample_negatives(shape: tuple[int, int], num_negatives: int, mask: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Indices of contrastive distractors: masked frames of the same item (transformers' sampler).

    Returns ``(batch, frames, num_negatives)`` int indices into the flattened
    ``(batch * frames)`` axis.
    """
    with seeded_numpy(rng):
        return _sample_negative_indices(shape, num_negatives, mask_time_indices=mask)

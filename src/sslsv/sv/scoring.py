"""Cosine scoring of verification trials."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.corpus import Trial


def cosine_scores(embeddings: np.ndarray, index: dict[str, int], trials: Sequence[Trial]) -> np.ndarray:
    """Cosine similarity of the two embeddings of each trial.

    ``embeddings`` is ``(n_utterances, dim)``; ``index`` maps an utterance key
    to its row. Returns ``(n_trials,)``.

    >>> e = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    >>> ix = {"a": 0, "b": 1, "c": 2}
    >>> cosine_scores(e, ix, [Trial(1, "a", "b"), Trial(0, "a", "c")]).round(6).tolist()
    [1.0, 0.0]
    """
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    a = np.array([index[t.enroll] for t in trials])
    b = np.array([index[t.test] for t in trials])
    return np.einsum("ij,ij->i", unit[a], unit[b])

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


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def cohort_statistics(embeddings: np.ndarray, cohort: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of each utterance's ``top_n`` highest cosine scores against the cohort.

    ``embeddings`` ``(n_utterances, dim)``, ``cohort`` ``(n_cohort, dim)``;
    returns two ``(n_utterances,)`` arrays (sd with ``ddof=0``, as WeSpeaker).
    ``top_n`` larger than the cohort takes the whole cohort.
    """
    if len(cohort) < 2:
        raise ValueError(f"AS-norm needs a cohort of at least 2 embeddings, got {len(cohort)}")
    n = min(int(top_n), len(cohort))
    s = _unit(embeddings) @ _unit(cohort).T  # (n_utterances, n_cohort)
    top = np.partition(s, s.shape[1] - n, axis=1)[:, s.shape[1] - n:]
    return top.mean(axis=1), top.std(axis=1)


def as_norm_scores(embeddings: np.ndarray, index: dict[str, int], trials: Sequence[Trial], cohort: np.ndarray,
                   top_n: int) -> np.ndarray:
    """Adaptive s-norm (Matejka et al., 2017; Cumani et al., 2011) of the cosine score of each trial.

    ``s' = ((s - mu_e) / sd_e + (s - mu_t) / sd_t) / 2`` where ``mu_x``, ``sd_x``
    are the mean and sd of the ``top_n`` best cosine scores of side ``x`` of the
    trial against the ``cohort`` (``(n_cohort, dim)``, training speakers
    disjoint from the trial list). Returns ``(n_trials,)``.

    >>> e = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    >>> cohort = np.array([[1.0, 0.1], [0.2, 1.0], [0.7, 0.7]])
    >>> ix = {"a": 0, "b": 1, "c": 2}
    >>> as_norm_scores(e, ix, [Trial(1, "a", "b"), Trial(0, "a", "c")], cohort, top_n=2).round(3).tolist()
    [-1.093, -6.041]
    """
    raw = cosine_scores(embeddings, index, trials)
    mean, sd = cohort_statistics(embeddings, cohort, top_n)
    sd = np.maximum(sd, 1e-12)
    a = np.array([index[t.enroll] for t in trials])
    b = np.array([index[t.test] for t in trials])
    return 0.5 * ((raw - mean[a]) / sd[a] + (raw - mean[b]) / sd[b])


def speaker_cohort(embeddings: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """One length-normalised mean embedding per speaker, ``(n_speakers, dim)`` in sorted speaker order.

    >>> speaker_cohort(np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]), ["b", "a", "a"]).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    speakers = np.asarray(speakers)
    unit = _unit(np.asarray(embeddings, dtype=np.float64))
    return np.stack([_unit(unit[speakers == s].mean(axis=0, keepdims=True))[0] for s in sorted(set(speakers))])

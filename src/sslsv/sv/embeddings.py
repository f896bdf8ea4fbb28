"""Full-utterance speaker embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ..data.audio import read_audio


@torch.inference_mode()
def extract_embeddings(
    model: torch.nn.Module,
    paths: Sequence[Path],
    sample_rate: int = 16000,
    max_seconds: float | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    reader: Callable[[Path], np.ndarray] | None = None,
    states: Callable[[Path, int | None], np.ndarray] | None = None,
) -> np.ndarray:
    """Embed each whole utterance (one at a time: no padding effects).

    Returns ``(len(paths), embedding_dim)`` float32. Utterances longer than
    ``max_seconds`` are cut to their first ``max_seconds``.  ``states(path,
    limit)``, for a frozen SSL front-end, gives the upstream's hidden states of
    the cut utterance in place of its audio (the same numbers, computed once
    for every system on that upstream: :class:`~sslsv.sv.featurizer.UpstreamStates`).
    """
    model.eval().to(device)
    read = reader or (lambda p: read_audio(p, sample_rate=sample_rate))
    limit = int(max_seconds * sample_rate) if max_seconds else None
    rows = []
    for path in tqdm(paths, desc="embeddings", disable=not progress, mininterval=1.0):
        x = torch.from_numpy(states(path, limit) if states else read(path)[:limit]).to(device)
        rows.append(model(x.unsqueeze(0)).squeeze(0).float().cpu().numpy())
    return np.stack(rows).astype(np.float32)

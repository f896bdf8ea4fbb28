"""The pre-training model: every objective's head and loss can learn (the loss falls on a fixed batch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslsv.config import PretrainConfig
from sslsv.pretrain import OBJECTIVES, PretrainModel, build_upstream, make_objective

STEPS = 15
LR = {"contrastive": 3e-3}  # the Gumbel codebook starts slower; 1e-3 for the others


def fixed_batch(cfg: PretrainConfig, upstream, n_classes: int, vocab_size: int) -> dict:
    """One tiny batch of every field an objective may read: 2 x 1 s of noisy tones, random targets and tokens."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wave = np.stack([np.sin(2 * np.pi * f * t) + 0.1 * rng.standard_normal(len(t)) for f in (220.0, 330.0)])
    frames = upstream.n_frames(wave.shape[1])
    batch = {"wave": torch.tensor(wave, dtype=torch.float32), "gumbel_temperature": 2.0,
             "targets": torch.from_numpy(rng.integers(0, n_classes, (2, frames))),
             "tokens": torch.from_numpy(rng.integers(1, vocab_size + 1, (2, 6))),
             "token_lengths": torch.tensor([6, 4]), "frame_lengths": torch.tensor([frames, frames])}
    batch.update(make_objective(cfg).batch_parts(rng, (2, frames)))
    return batch


@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_loss_falls_on_a_fixed_batch(objective):
    cfg = PretrainConfig(objective=objective, size="tiny", mask_length=5, proj_dim=32, num_negatives=10,
                         codevectors=16)
    torch.manual_seed(0)
    upstream = build_upstream("hubert", "tiny")
    model = PretrainModel(upstream, cfg, n_classes=8, vocab_size=5)
    batch = fixed_batch(cfg, upstream, n_classes=8, vocab_size=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR.get(objective, 1e-3))
    losses = []
    for _ in range(STEPS):
        loss, logs = model(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)), losses
    last = float(np.mean(losses[-3:]))  # dropout and Gumbel noise make single steps jitter
    assert last < 0.8 * losses[0], f"{objective}: loss {losses[0]:.3f} -> {last:.3f} in {STEPS} Adam steps: {losses}"

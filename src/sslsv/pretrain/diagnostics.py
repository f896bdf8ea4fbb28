"""What a finished pre-training run reports: held-out evaluation and ``diagnostics.json``.

The part that depends on the objective (accuracy against chance, codebook
use, token error rate) comes from the objective's class
(:meth:`~sslsv.pretrain.objectives.Objective.diagnostics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config import PretrainExperimentConfig
from .data import PretrainData
from .objectives import make_objective, window_mean
from .quantizers import Targets

__all__ = ["evaluate", "diagnostics", "HELD_OUT_STEP"]

HELD_OUT_STEP = 10_000_000  # held-out batches are those of steps no run reaches


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: PretrainData, n_batches: int = 4) -> dict[str, float]:
    """Held-out batches (fresh crops and masks; dropout off), objective-specific accuracies.

    Target objectives are evaluated *with masks* whatever they trained with,
    so the masked-prediction accuracy of the unmasked objective is comparable.
    """
    was_training = model.training
    model.eval()
    rows = []
    for i in range(n_batches):
        _, logs = model(data(HELD_OUT_STEP + i, rank=0, world=1, held_out=True))
        rows.append(logs)
    model.train(was_training)
    keys = {k for r in rows for k in r if k != "n"}
    return {k: float(np.nanmean([r.get(k, float("nan")) for r in rows])) for k in sorted(keys)}


def diagnostics(cfg: PretrainExperimentConfig, history: list[dict], evaluation: dict[str, float],
                targets: Targets | None, n_params: int, seconds: float,
                timing_complete: bool = True) -> dict[str, Any]:
    """The run's summary: loss first/last, accuracies against chance, codebook usage, speed."""
    p = cfg.pretrain
    objective = make_objective(p)
    out: dict[str, Any] = {
        "objective": p.objective, "quantizer": p.quantizer if objective.uses_targets else None,
        "backbone": p.backbone, "size": p.size, "parameters": n_params, "steps": len(history),
        "loss_first": window_mean(history, "loss", first=True), "loss_last": window_mean(history, "loss"),
        "seconds": seconds, "timing_complete": timing_complete, "eval": evaluation,
    }
    out.update(objective.diagnostics(history, evaluation, targets))
    return out

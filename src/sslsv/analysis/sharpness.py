"""Flatness in numbers: the top Hessian eigenvalue and the loss increase at a radius.

* :func:`top_hessian_eigenvalue`: power iteration on Hessian-vector products
  (double backward) of the training loss on the fixed batch set.  Power
  iteration converges to the eigenvalue of largest *magnitude*; at a
  trained minimum that is the largest positive curvature.
* :func:`sharpness_at_radius`: ``L(theta +/- r d) - L(theta)`` for several
  filter-normalised random directions ``d`` at one radius ``r``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from .directions import landscape_parameters, random_direction
from .loss_scans import evaluate_grid
from .training_loss import Batch, batch_weights, loss_on_batches


@dataclass
class HessianEigen:
    """Result of the power iteration."""

    eigenvalue: float
    iterations: int
    converged: bool
    history: list[float] = field(default_factory=list)  # Rayleigh quotient per iteration
    seconds: float = 0.0


def hessian_vector_product(loss_fn: Callable[[], torch.Tensor], params: Sequence[torch.Tensor],
                           vector: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``H v`` of the scalar ``loss_fn()`` with respect to ``params`` (double backward)."""
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(grads, vector))
    return [h.detach() for h in torch.autograd.grad(dot, params)]


def power_iteration(hvp: Callable[[list[torch.Tensor]], list[torch.Tensor]], shapes: Sequence[torch.Tensor],
                    iters: int = 100, tol: float = 1e-4, seed: int = 0) -> HessianEigen:
    """Eigenvalue of largest magnitude of the operator ``hvp`` by power iteration.

    ``shapes`` gives tensors with the shapes (and dtypes) of the vector.
    Stops when the Rayleigh quotient changes by less than ``tol`` (relative).
    """
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(int(seed))
    v = [torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device) for p in shapes]
    norm = torch.sqrt(sum((x * x).sum() for x in v))
    v = [x / norm for x in v]
    history: list[float] = []
    eig, converged, it = 0.0, False, 0
    for it in range(1, int(iters) + 1):
        hv = hvp(v)
        eig_new = float(sum((a * b).sum() for a, b in zip(hv, v)))
        history.append(eig_new)
        norm = torch.sqrt(sum((x * x).sum() for x in hv))
        if float(norm) == 0.0:
            eig, converged = 0.0, True
            break
        v = [x / norm for x in hv]
        if it > 1 and abs(eig_new - eig) <= tol * max(abs(eig_new), 1e-12):
            eig, converged = eig_new, True
            break
        eig = eig_new
    return HessianEigen(eigenvalue=eig, iterations=it, converged=converged, history=history,
                        seconds=time.perf_counter() - t0)


def top_hessian_eigenvalue(loss_module: torch.nn.Module, batches: Sequence[Batch], names: Sequence[str] | None = None,
                           iters: int = 50, tol: float = 1e-3, seed: int = 0) -> HessianEigen:
    """Largest Hessian eigenvalue of the (batch-set) loss in eval mode.

    The Hessian of the batch-set loss is the batch-size weighted mean of the
    per-batch Hessians, so ``H v`` is accumulated batch by batch (memory of
    one batch's double backward).

    >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> class Quad(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.w = torch.nn.Parameter(torch.zeros(2))
    ...     def forward(self, x):
    ...         return ((x @ self.w) ** 2).sum()
    >>> round(top_hessian_eigenvalue(Quad(), [(X,)], tol=1e-8, iters=200).eigenvalue, 4)  # H = 2 X^T X
    8.0
    """
    loss_module.eval()
    all_params = dict(loss_module.named_parameters())
    names = list(names) if names is not None else [n for n, p in all_params.items() if p.requires_grad]
    params = [all_params[n] for n in names]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    weights = batch_weights(batches)

    def hvp(v: list[torch.Tensor]) -> list[torch.Tensor]:
        total = [torch.zeros_like(p) for p in params]
        for w, batch in zip(weights, batches):
            hv = hessian_vector_product(lambda: loss_module(*batch), params, v)
            total = [t + w * h for t, h in zip(total, hv)]
        return total

    try:
        return power_iteration(hvp, [p.detach() for p in params], iters=iters, tol=tol, seed=seed)
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)


def sharpness_at_radius(loss_module: torch.nn.Module, batches: Sequence[Batch], radius: float = 0.1,
                        seeds: Sequence[int] = (0, 1, 2, 3, 4), names: Sequence[str] | None = None,
                        **kwargs) -> pd.DataFrame:
    """Loss increase ``L(theta +/- r d) - L(theta)`` along filter-normalised random directions.

    One row per (seed, sign): ``seed, sign, radius, loss, base_loss,
    loss_increase``.
    """
    base = landscape_parameters(loss_module, names)
    base_loss = loss_on_batches(loss_module, batches)
    directions = [random_direction(base, s) for s in seeds]
    k = len(directions)
    coords = np.zeros((2 * k, k))
    rows = []
    for i in range(k):
        coords[2 * i, i], coords[2 * i + 1, i] = radius, -radius
    losses = evaluate_grid(loss_module, batches, base, directions, coords, **kwargs)
    for i, s in enumerate(seeds):
        for j, sign in enumerate((1, -1)):
            loss = float(losses[2 * i + j])
            rows.append({"seed": int(s), "sign": sign, "radius": float(radius), "loss": loss,
                         "base_loss": base_loss, "loss_increase": loss - base_loss})
    return pd.DataFrame(rows)

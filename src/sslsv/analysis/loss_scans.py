"""Loss along lines and planes in weight space: 1-D slices, 2-D surfaces, interpolation paths.

``L(theta + a d1 + b d2)`` is computed for a chunk of grid points at once:
the parameter sets of the chunk are stacked and the loss is vectorised over
them with ``torch.func.vmap`` of ``torch.func.functional_call`` (a loop over
points with the same function is the fallback and the reference).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, vmap

from .directions import difference_direction, landscape_parameters
from .training_loss import Batch, Params, batch_weights


def evaluate_grid(loss_module: torch.nn.Module, batches: Sequence[Batch], base: Params,
                  directions: Sequence[Params], coords, chunk_size: int = 8,
                  vectorize: bool = True) -> np.ndarray:
    """``L(base + sum_k coords[i, k] directions[k])`` for every grid point ``i``.

    ``coords`` is ``(n_points, n_directions)``; returns ``(n_points,)``
    losses averaged over ``batches`` (weighted by batch size) in eval mode.
    Parameters not in ``base`` keep the module's values.  With
    ``vectorize``, ``chunk_size`` points are evaluated in one vmapped call;
    a model that ``vmap`` cannot trace (data-dependent control flow, say)
    falls back to the loop, with a warning.
    """
    coords = torch.as_tensor(np.asarray(coords, dtype=np.float64)).reshape(-1, len(directions))
    loss_module.eval()
    names = list(base)
    stacked = {n: torch.stack([d[n] for d in directions]) for n in names}  # (k, *shape)
    buffers = dict(loss_module.named_buffers())
    weights = batch_weights(batches)

    def params_at(c: torch.Tensor) -> Params:  # c: (chunk, k)
        c = c.to(next(iter(base.values())).dtype)
        return {n: base[n].unsqueeze(0) + torch.tensordot(c, stacked[n], dims=1) for n in names}

    def one_loss(p: Params, batch: Batch) -> torch.Tensor:
        return functional_call(loss_module, (p, buffers), batch, strict=False)

    out = []
    with torch.no_grad(), warnings.catch_warnings():
        # vmap falls back to a loop for kl_div (the AAM loss over a few speakers): negligible
        warnings.filterwarnings("ignore", message=".*batching rule.*")
        for start in range(0, len(coords), max(1, int(chunk_size))):
            chunk = params_at(coords[start:start + max(1, int(chunk_size))])
            n = len(next(iter(chunk.values())))
            total = torch.zeros(n, dtype=torch.float64)
            for w, batch in zip(weights, batches):
                losses = None
                if vectorize:
                    try:
                        losses = vmap(one_loss, in_dims=(0, None))(chunk, batch)
                    except (RuntimeError, ValueError, NotImplementedError) as e:
                        warnings.warn(f"vmap over grid points failed ({type(e).__name__}: {e}); "
                                      "evaluating the points one by one", RuntimeWarning, stacklevel=2)
                        vectorize = False
                if losses is None:
                    losses = torch.stack([one_loss({k: v[i] for k, v in chunk.items()}, batch) for i in range(n)])
                total += w * losses.double()
            out.append(total)
    return torch.cat(out).numpy()


def loss_curve(loss_module: torch.nn.Module, batches: Sequence[Batch], direction: Params, alphas,
               base: Params | None = None, **kwargs) -> pd.DataFrame:
    """1D slice ``L(theta + alpha d)``: columns ``alpha, loss``."""
    base = base if base is not None else landscape_parameters(loss_module, list(direction))
    alphas = np.asarray(alphas, dtype=np.float64)
    loss = evaluate_grid(loss_module, batches, base, [direction], alphas[:, None], **kwargs)
    return pd.DataFrame({"alpha": alphas, "loss": loss})


def loss_surface(loss_module: torch.nn.Module, batches: Sequence[Batch], direction_x: Params, direction_y: Params,
                 alphas, betas, base: Params | None = None, **kwargs) -> pd.DataFrame:
    """2D slice ``L(theta + alpha d1 + beta d2)``: columns ``alpha, beta, loss`` (one row per point)."""
    base = base if base is not None else landscape_parameters(loss_module, list(direction_x))
    aa, bb = np.meshgrid(np.asarray(alphas, float), np.asarray(betas, float), indexing="ij")
    coords = np.stack([aa.ravel(), bb.ravel()], axis=1)
    loss = evaluate_grid(loss_module, batches, base, [direction_x, direction_y], coords, **kwargs)
    return pd.DataFrame({"alpha": coords[:, 0], "beta": coords[:, 1], "loss": loss})


def interpolation_curve(loss_module: torch.nn.Module, batches: Sequence[Batch], start: Params, end: Params,
                        ts, **kwargs) -> pd.DataFrame:
    """Loss on the straight path ``(1 - t) start + t end``: columns ``t, loss``.

    ``t = 0`` is ``start`` (e.g. the pre-trained initialisation), ``t = 1``
    is ``end`` (the fine-tuned weights); values outside ``[0, 1]`` extrapolate.
    """
    ts = np.asarray(ts, dtype=np.float64)
    loss = evaluate_grid(loss_module, batches, start, [difference_direction(start, end)], ts[:, None], **kwargs)
    return pd.DataFrame({"t": ts, "loss": loss})

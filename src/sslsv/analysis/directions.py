"""Filter-normalised random directions in weight space (Li et al. 2018).

A random direction is Gaussian, then *filter-normalised*
(:func:`normalize_direction`): for every parameter tensor with more than
one dimension, each output filter (slice along dim 0: a conv kernel, a row
of a linear layer, one speaker's prototype in the head) is rescaled to the
norm of the matching filter of the trained weights; one-dimensional
parameters (biases, batch-norm scales and shifts) are set to zero in the
direction, as in Li et al.'s ``ignore='biasbn'``.  Buffers (batch-norm
running statistics, the mel filterbank) are never perturbed.  Which
parameters are perturbed: those with ``requires_grad`` (what training
optimised; a frozen upstream stays where it is), or the names passed.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .training_loss import Params


def landscape_parameters(module: torch.nn.Module, names: Sequence[str] | None = None) -> Params:
    """Detached copies of the perturbed parameters: ``names``, or all with ``requires_grad``."""
    params = dict(module.named_parameters())
    if names is None:
        names = [n for n, p in params.items() if p.requires_grad]
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"unknown parameter names: {missing[:5]}")
    return {n: params[n].detach().clone() for n in names}


def normalize_direction(direction: Params, weights: Params, eps: float = 1e-10) -> Params:
    """Filter normalisation (Li et al. 2018, ``ignore='biasbn'``).

    For each tensor with ``dim > 1``, every output filter ``direction[n][i]``
    is rescaled to ``||weights[n][i]||``; tensors with ``dim <= 1`` (biases,
    norm layers) become zero.

    >>> w = {"conv": torch.ones(2, 3, 4), "bias": torch.ones(2)}
    >>> d = normalize_direction({"conv": torch.randn(2, 3, 4), "bias": torch.randn(2)}, w)
    >>> [round(v, 4) for v in d["conv"].flatten(1).norm(dim=1).tolist()], d["bias"].tolist()
    ([3.4641, 3.4641], [0.0, 0.0])
    """
    out: Params = {}
    for name, d in direction.items():
        w = weights[name]
        if d.shape != w.shape:
            raise ValueError(f"{name}: direction shape {tuple(d.shape)} != weight shape {tuple(w.shape)}")
        if d.dim() <= 1:
            out[name] = torch.zeros_like(d)
        else:
            d_norm = d.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1)))
            w_norm = w.flatten(1).norm(dim=1).view(-1, *([1] * (d.dim() - 1)))
            out[name] = d * (w_norm / (d_norm + eps))
    return out


def random_direction(weights: Params, seed: int) -> Params:
    """A Gaussian direction (seeded, in sorted-name order), filter-normalised to ``weights``."""
    g = torch.Generator().manual_seed(int(seed))
    raw = {n: torch.randn(weights[n].shape, generator=g, dtype=weights[n].dtype).to(weights[n].device)
           for n in sorted(weights)}
    return normalize_direction(raw, weights)


def difference_direction(start: Params, end: Params) -> Params:
    """``end - start`` (the straight path between two weight sets, not normalised)."""
    return {n: end[n] - start[n] for n in start}

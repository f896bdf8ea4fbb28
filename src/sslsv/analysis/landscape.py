"""Loss landscapes (Li et al. 2018) and sharpness of trained SV models.

The loss
--------
The landscape is that of the **training loss**: AAM-softmax over the
training speakers, of the speaker model *and* its classification head
(:class:`TrainingLoss` wraps :class:`~sslsv.sv.model.SVTrainingModel` so
that ``forward(wave, labels)`` is the scalar loss).  It is evaluated in
eval mode (batch-norm running statistics, no dropout) on a **fixed batch
set**: ``n_batches`` deterministic crop batches of the training corpus
(:func:`fixed_batches`, drawn with :func:`sslsv.training.step_rng` from a
landscape seed that no training run uses), the same for every model.

Directions
----------
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

Grids
-----
``L(theta + a d1 + b d2)`` is computed for a chunk of grid points at once:
the parameter sets of the chunk are stacked and the loss is vectorised over
them with ``torch.func.vmap`` of ``torch.func.functional_call`` (a loop over
points with the same function is the fallback and the reference).

Flatness in numbers
-------------------
* :func:`top_hessian_eigenvalue`: power iteration on Hessian-vector products
  (double backward) of the training loss on the fixed batch set.  Power
  iteration converges to the eigenvalue of largest *magnitude*; at a
  trained minimum that is the largest positive curvature.
* :func:`sharpness_at_radius`: ``L(theta +/- r d) - L(theta)`` for several
  filter-normalised random directions ``d`` at one radius ``r``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call, vmap

#: Seed of the fixed landscape batch set (distinct from any training seed).
LANDSCAPE_SEED = 20180101

Params = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, ...]


# ---------------------------------------------------------------------------
# The training loss as a module, the trained model, the fixed batches
# ---------------------------------------------------------------------------


class TrainingLoss(torch.nn.Module):
    """The AAM-softmax training loss of an SV model as ``forward(wave, labels) -> scalar``.

    Unlike :class:`~sslsv.sv.model.SVTrainingModel.forward` it returns only
    the loss (no ``.item()`` accuracy), so it can be vectorised with
    ``torch.func.vmap``.  Parameter names are those of the SVTrainingModel
    prefixed with ``model.``.
    """

    def __init__(self, training_model: torch.nn.Module):
        super().__init__()
        self.model = training_model

    def forward(self, wave: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.model.speaker_model(wave)
        cosines = self.model.head.classifier(emb.unsqueeze(1))
        return self.model.head.loss(cosines, labels.unsqueeze(1))


def _sv_config(run):
    """The :class:`~sslsv.config.SVConfig` of an SV run (its config, or the dict it was saved as)."""
    from ..config import SVConfig, from_dict

    if isinstance(run.config, SVConfig):
        return run.config
    return from_dict(SVConfig, dict(run.config_dict))


def load_training_model(run, corpus=None) -> torch.nn.Module:
    """Rebuild the trained :class:`~sslsv.sv.model.SVTrainingModel` (speaker model + AAM head) of a run.

    The weights are the ``model`` state of the run's final ``checkpoint.pt``.
    The number of training speakers is read from the head's weight in the
    checkpoint; when ``corpus`` is given it is checked against
    ``len(corpus.train_speakers)``.  Returned in eval mode.
    """
    from ..artifacts import torch_load
    from ..sv.model import AAMSoftmaxHead, SVTrainingModel
    from ..sv.pipeline import build_speaker_model

    if not run.checkpoint_file.exists():
        raise FileNotFoundError(f"{run.checkpoint_file} does not exist: train the run first")
    state = torch_load(run.checkpoint_file)["model"]
    cfg = _sv_config(run)
    n_speakers = int(state["head.classifier.weight"].shape[0])
    if corpus is not None and len(corpus.train_speakers) != n_speakers:
        raise ValueError(f"checkpoint head has {n_speakers} speakers, corpus has {len(corpus.train_speakers)}")
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten: leave the caller's RNG alone
        head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, n_speakers, cfg.train.aam_margin, cfg.train.aam_scale)
        model = SVTrainingModel(build_speaker_model(cfg), head)
    model.load_state_dict(state)
    return model.eval()


def initial_training_model(run, n_speakers: int) -> torch.nn.Module:
    """The SVTrainingModel of a run *before* SV training (the start of the interpolation path).

    Rebuilt with the run's seed in the order
    :func:`sslsv.sv.pipeline.train_speaker_model` uses (``torch.manual_seed``,
    speaker model, head), so it reproduces the initial weights: the
    pre-trained upstream plus a freshly initialised backend and head for an
    SSL front-end, all random for the fbank model.
    """
    from ..sv.model import AAMSoftmaxHead, SVTrainingModel
    from ..sv.pipeline import build_speaker_model

    cfg = _sv_config(run)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
        torch.manual_seed(cfg.train.seed)
        speaker_model = build_speaker_model(cfg)
        head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, n_speakers, cfg.train.aam_margin, cfg.train.aam_scale)
    return SVTrainingModel(speaker_model, head).eval()


def fixed_batches(corpus, n_batches: int = 4, batch_size: int = 16, crop_seconds: float = 2.0,
                  sample_rate: int = 16000, seed: int = LANDSCAPE_SEED) -> list[Batch]:
    """``n_batches`` deterministic ``(wave (batch, crop), labels (batch,))`` crops of the training corpus.

    Labels index ``corpus.train_speakers`` (sorted), as in training.  Batch
    ``k`` is drawn with ``step_rng(seed, k)``: the same set for every model.
    """
    from ..data.batching import CropSampler
    from ..training import step_rng

    label_of = {s: i for i, s in enumerate(corpus.train_speakers)}
    sampler = CropSampler([u.path for u in corpus.train], [label_of[u.speaker] for u in corpus.train],
                          int(crop_seconds * sample_rate))
    return [sampler.batch(step_rng(seed, k), batch_size) for k in range(int(n_batches))]


def _weights(batches: Sequence[Batch]) -> list[float]:
    sizes = np.array([len(b[0]) for b in batches], dtype=np.float64)
    return (sizes / sizes.sum()).tolist()


def loss_on_batches(loss_module: torch.nn.Module, batches: Sequence[Batch]) -> float:
    """Mean loss over the batch set (weighted by batch size), eval mode, no gradients."""
    loss_module.eval()
    with torch.no_grad():
        return float(sum(w * float(loss_module(*b)) for w, b in zip(_weights(batches), batches)))


# ---------------------------------------------------------------------------
# Directions
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Grid evaluation
# ---------------------------------------------------------------------------


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
    weights = _weights(batches)

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


# ---------------------------------------------------------------------------
# Sharpness
# ---------------------------------------------------------------------------


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
    weights = _weights(batches)

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


# ---------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------


@dataclass
class LandscapeStudy:
    """Tidy results of :func:`landscape_study` (a ``model`` column in every table)."""

    curves: pd.DataFrame  # model, seed, alpha, loss   (1D slices, one per direction seed)
    surfaces: pd.DataFrame  # model, alpha, beta, loss  (2D slice, direction seeds 0 and 1)
    sharpness: pd.DataFrame  # model, seed, sign, radius, loss, base_loss, loss_increase
    hessian: pd.DataFrame  # model, seed, eigenvalue, iterations, converged, seconds
    paths: pd.DataFrame  # model, t, loss (init/pre-trained -> trained), when start points are given
    summary: pd.DataFrame  # per model: loss, centre check, mean sharpness and eigenvalue with spread
    seconds: dict[str, float] = field(default_factory=dict)

    _TABLES = ("curves", "surfaces", "sharpness", "hessian", "paths", "summary")

    def save(self, directory) -> None:
        """Write the study to ``directory``: one CSV per table and the timings as JSON (no pickle)."""
        from pathlib import Path

        from ..artifacts import atomic_write_json, atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in self._TABLES:
            atomic_write_text(d / f"{name}.csv", getattr(self, name).to_csv(index=False))
        atomic_write_json(d / "seconds.json", {k: float(v) for k, v in self.seconds.items()})

    @classmethod
    def load(cls, directory) -> "LandscapeStudy":
        """Read a study written by :meth:`save`."""
        import json
        from pathlib import Path

        d = Path(directory)

        def read(name: str) -> pd.DataFrame:
            try:
                return pd.read_csv(d / f"{name}.csv")
            except pd.errors.EmptyDataError:  # a table with no columns (e.g. no paths)
                return pd.DataFrame()

        return cls(**{name: read(name) for name in cls._TABLES},
                   seconds=json.loads((d / "seconds.json").read_text()))


def landscape_study(
    models: Mapping[str, torch.nn.Module],
    batches: Sequence[Batch],
    *,
    alphas=np.linspace(-1.0, 1.0, 21),
    grid=np.linspace(-1.0, 1.0, 11),
    curve_seeds: Sequence[int] = (0, 1, 2),
    surface_seeds: tuple[int, int] = (0, 1),
    radius: float = 0.1,
    sharpness_seeds: Sequence[int] = (0, 1, 2, 3, 4),
    hessian_seeds: Sequence[int] = (0, 1),
    hessian_iters: int = 30,
    hessian_tol: float = 1e-3,
    starts: Mapping[str, torch.nn.Module] | None = None,
    path_ts=np.linspace(-0.25, 1.25, 13),
    chunk_size: int = 8,
    progress: bool = True,
) -> LandscapeStudy:
    """Landscape slices and flatness numbers for each trained SV model on one batch set.

    ``models`` maps a system name to a trained
    :class:`~sslsv.sv.model.SVTrainingModel` (see
    :func:`load_training_model`); ``starts`` optionally maps the same names
    to the model at the start of SV training (see
    :func:`initial_training_model`) for the interpolation path.  Directions
    are drawn with the same seeds for every model (each normalised to that
    model's own filters).  Pass empty seed lists / ``grid=()`` to skip parts.
    """
    from tqdm.auto import tqdm

    curves, surfaces, sharp, hess, paths, summary = [], [], [], [], [], []
    seconds: dict[str, float] = {}
    starts = dict(starts or {})
    for name in tqdm(list(models), desc="loss landscapes", disable=not progress):
        t0 = time.perf_counter()
        loss_module = TrainingLoss(models[name]).eval()
        base = landscape_parameters(loss_module)
        base_loss = loss_on_batches(loss_module, batches)
        kw = dict(chunk_size=chunk_size)
        centre = float(evaluate_grid(loss_module, batches, base, [random_direction(base, 0)], [[0.0]], **kw)[0])
        for s in curve_seeds:
            curves.append(loss_curve(loss_module, batches, random_direction(base, s), alphas, base, **kw)
                          .assign(model=name, seed=int(s)))
        if len(grid):
            d1, d2 = (random_direction(base, s) for s in surface_seeds)
            surfaces.append(loss_surface(loss_module, batches, d1, d2, grid, grid, base, **kw).assign(model=name))
        if len(sharpness_seeds):
            sharp.append(sharpness_at_radius(loss_module, batches, radius, sharpness_seeds, **kw).assign(model=name))
        for s in hessian_seeds:
            h = top_hessian_eigenvalue(loss_module, batches, iters=hessian_iters, tol=hessian_tol, seed=s)
            hess.append({"model": name, "seed": int(s), "eigenvalue": h.eigenvalue, "iterations": h.iterations,
                         "converged": h.converged, "seconds": h.seconds})
        if name in starts:
            start_module = TrainingLoss(starts[name]).eval()
            start = landscape_parameters(start_module, list(base))
            paths.append(interpolation_curve(loss_module, batches, start, base, path_ts, **kw).assign(model=name))
        row = {"model": name, "loss": base_loss, "centre_loss": centre,
               "n_parameters": int(sum(p.numel() for p in base.values()))}
        if len(sharpness_seeds):
            inc = sharp[-1]["loss_increase"]
            row.update({"radius": radius, "loss_increase_mean": float(inc.mean()), "loss_increase_sd": float(inc.std())})
        if hessian_seeds:
            eig = np.array([h["eigenvalue"] for h in hess if h["model"] == name])
            row.update({"top_eigenvalue_mean": float(eig.mean()),
                        "top_eigenvalue_sd": float(eig.std(ddof=1)) if len(eig) > 1 else float("nan")})
        summary.append(row)
        seconds[name] = time.perf_counter() - t0

    def cat(frames, columns):
        return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)

    return LandscapeStudy(
        curves=cat(curves, ["model", "seed", "alpha", "loss"]),
        surfaces=cat(surfaces, ["model", "alpha", "beta", "loss"]),
        sharpness=cat(sharp, ["model", "seed", "sign", "radius", "loss", "base_loss", "loss_increase"]),
        hessian=pd.DataFrame(hess, columns=["model", "seed", "eigenvalue", "iterations", "converged", "seconds"]),
        paths=cat(paths, ["model", "t", "loss"]),
        summary=pd.DataFrame(summary), seconds=seconds)


def runs_landscape_study(runs: Mapping[str, object], n_batches: int = 4, batch_size: int = 16,
                         seed: int = LANDSCAPE_SEED, paths: bool = True, progress: bool = True,
                         **kwargs) -> LandscapeStudy:
    """:func:`landscape_study` for complete SV runs (``name -> Run``) on their common training corpus.

    Every run must use the same corpus configuration (one fixed batch set
    for all); crops have the first run's ``train.crop_seconds``.  With
    ``paths``, the interpolation path from each run's initial weights
    (:func:`initial_training_model`) to its trained weights is added.
    """
    from ..config import to_dict
    from ..data import load_sv_corpus

    cfgs = {name: _sv_config(run) for name, run in runs.items()}
    first = next(iter(cfgs.values()))
    for name, cfg in cfgs.items():
        if to_dict(cfg.corpus) != to_dict(first.corpus):
            raise ValueError(f"run {name!r} uses another corpus; a landscape comparison needs one batch set")
    corpus = load_sv_corpus(first.corpus, progress=progress)
    batches = fixed_batches(corpus, n_batches, batch_size, first.train.crop_seconds, first.corpus.sample_rate, seed)
    models = {name: load_training_model(run, corpus) for name, run in runs.items()}
    starts = {name: initial_training_model(run, len(corpus.train_speakers)) for name, run in runs.items()} if paths else None
    return landscape_study(models, batches, starts=starts, progress=progress, **kwargs)

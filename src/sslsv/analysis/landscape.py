"""Loss landscapes (Li et al. 2018) and sharpness of trained SV models: the study of chapter 08.

The pieces live by concept, and every name stays importable from here:

- :mod:`sslsv.analysis.training_loss`: the training loss (AAM-softmax of the
  speaker model and its head) as a module, the trained and initial models
  of a run, the fixed batch set;
- :mod:`sslsv.analysis.directions`: filter-normalised random directions;
- :mod:`sslsv.analysis.loss_scans`: the loss over grids of points in weight
  space (1-D slices, 2-D surfaces, interpolation paths), vectorised with
  ``torch.func.vmap``;
- :mod:`sslsv.analysis.sharpness`: the top Hessian eigenvalue by power
  iteration and the loss increase at a radius.

This module measures all of them for several models on one batch set
(:func:`landscape_study`, :func:`runs_landscape_study`) and saves and loads
the tables (:class:`LandscapeStudy`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .directions import difference_direction, landscape_parameters, normalize_direction, random_direction
from .loss_scans import evaluate_grid, interpolation_curve, loss_curve, loss_surface
from .sharpness import (HessianEigen, hessian_vector_product, power_iteration, sharpness_at_radius,
                        top_hessian_eigenvalue)
from .training_loss import (LANDSCAPE_SEED, Batch, Params, TrainingLoss, _sv_config, batch_weights, fixed_batches,
                            initial_training_model, load_training_model, loss_on_batches)

__all__ = ["LANDSCAPE_SEED", "Batch", "HessianEigen", "LandscapeStudy", "Params", "TrainingLoss", "batch_weights",
           "difference_direction", "evaluate_grid", "fixed_batches", "hessian_vector_product",
           "initial_training_model", "interpolation_curve", "landscape_parameters", "landscape_study",
           "load_training_model", "loss_curve", "loss_on_batches", "loss_surface", "normalize_direction", "pool_studies",
           "power_iteration", "random_direction", "runs_landscape_study", "sharpness_at_radius",
           "top_hessian_eigenvalue"]


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


def pool_studies(studies: Mapping[int, LandscapeStudy], level: float = 0.95) -> LandscapeStudy:
    """Landscapes of the same systems trained at several SV seeds, pooled: the flatness tables (sharpness,
    Hessian) stack every seed's rows (an ``sv_seed`` column), and the summary gives each system's mean over
    SV seeds of its per-seed mean top eigenvalue and loss increase, with their spread and 95 % t interval over
    SV seeds. The slices and paths (the figures) are the first seed's."""
    from scipy.stats import t as student

    seeds = list(studies)
    if len(seeds) == 1:
        return studies[seeds[0]]
    first = studies[seeds[0]]

    def stacked(name: str) -> pd.DataFrame:
        return pd.concat([getattr(studies[s], name).assign(sv_seed=s) for s in seeds], ignore_index=True)

    per_seed = stacked("summary")
    rows = []
    for model, d in per_seed.groupby("model", sort=False):
        row = {"model": model, "sv_seeds": len(d), "loss": float(d["loss"].mean()),
               "n_parameters": int(d["n_parameters"].iloc[0])}
        for col, name in (("top_eigenvalue_mean", "top_eigenvalue"), ("loss_increase_mean", "loss_increase")):
            if col not in d:
                continue
            x = d[col].to_numpy(float)
            half = float(student.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
            row.update({name: float(x.mean()), f"{name}_sv_sd": float(x.std(ddof=1)),
                        f"{name}_ci_low": float(x.mean()) - half, f"{name}_ci_high": float(x.mean()) + half})
        rows.append(row)
    seconds = {m: float(sum(studies[s].seconds.get(m, 0.0) for s in seeds)) for m in first.seconds}
    return LandscapeStudy(curves=first.curves, surfaces=first.surfaces, sharpness=stacked("sharpness"),
                          hessian=stacked("hessian"), paths=first.paths, summary=pd.DataFrame(rows), seconds=seconds)


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
    from ..sv.pipeline import labelled_speakers

    cfgs = {name: _sv_config(run) for name, run in runs.items()}
    first = next(iter(cfgs.values()))
    for name, cfg in cfgs.items():
        if to_dict(cfg.corpus) != to_dict(first.corpus) or cfg.train.labelled_speakers != first.train.labelled_speakers:
            raise ValueError(f"run {name!r} uses another corpus or other labelled speakers; a landscape comparison "
                             "needs one batch set")
    corpus = load_sv_corpus(first.corpus, progress=progress)
    speakers = labelled_speakers(corpus, first)
    batches = fixed_batches(corpus, n_batches, batch_size, first.train.crop_seconds, first.corpus.sample_rate, seed,
                            speakers)
    models = {name: load_training_model(run, corpus) for name, run in runs.items()}
    starts = {name: initial_training_model(run, len(speakers)) for name, run in runs.items()} if paths else None
    return landscape_study(models, batches, starts=starts, progress=progress, **kwargs)

"""Pre-training runs: the model (upstream + the objective's head) and the entry point.

:func:`pretrain` is the entry point the notebooks, the studies and the
command line call::

    run = pretrain(resolve("smoke", {"pretrain.objective": "masked"}, base=PretrainExperimentConfig()))
    upstream = Upstream.from_pretrained(run.path / "upstream")

A run lives in ``<artifact root>/runs/pretrain-<config hash>/``: the
resolved config, the environment, a log, a resumable ``checkpoint.pt``,
the final upstream (``upstream/``, written with ``save_pretrained``),
``history.json`` (one row per update), ``diagnostics.json`` (loss,
masked-prediction accuracy against chance, codebook usage) and, with
``pretrain.eval_every``, the learning curve of the task ``curve.csv``
(:mod:`.curve`: held-out masked accuracy and loss every N updates beside
the training ones, and the two chances).  The run draws nothing: the
caller plots (:func:`sslsv.plots.plot_history`).  A complete run is reused; an
interrupted one resumes exactly (the batch of a step is a pure function of
``(seed, step, rank)``).  Batches are made in :mod:`.data`, the objectives
(head, loss, diagnostics) live in :mod:`.objectives`, the run's report in
:mod:`.diagnostics`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..artifacts import Run, atomic_write_json
from ..config import ConfigError, PretrainConfig, PretrainExperimentConfig, validate
from ..data.corpus import PretrainPool
from ..training import distributed_info, fit, init_distributed_from_env, resolve_device, schedule_length
from ..upstreams import resolve_upstream_reference
from .backbones import SIZES, BACKBONES, Upstream, build_upstream
from .curve import LearningCurve, choose_budget, context_free_accuracy, majority_accuracy, split_held_out
from .data import HOP, SAMPLE_RATE, PretrainData, gumbel_temperature, load_pool
from .diagnostics import HELD_OUT_STEP, diagnostics, evaluate
from .objectives import check_objective, make_objective
from .quantizers import Targets, check_quantizer, compute_targets, load_waves

__all__ = ["pretrain", "pretrain_inputs", "PretrainModel", "PretrainData", "build_model", "check_config",
           "evaluate", "gumbel_temperature", "load_pool"]


def check_config(cfg: PretrainConfig) -> None:
    """Refuse unknown names (listing the valid ones) and unusable values before any work."""
    check_objective(cfg.objective)
    check_quantizer(cfg.quantizer)
    if not cfg.init:
        if cfg.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {cfg.backbone!r}; valid backbones: {', '.join(BACKBONES)}")
        if cfg.size not in SIZES:
            raise ConfigError(f"unknown size {cfg.size!r}; valid sizes: {', '.join(SIZES)}")
    if cfg.crop_seconds * SAMPLE_RATE < 2 * HOP + 400:
        raise ConfigError(f"crop_seconds={cfg.crop_seconds} is too short for a few frames")
    if cfg.temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {cfg.temperature}")


class PretrainModel(nn.Module):
    """An :class:`Upstream` with the head its objective needs; ``forward(batch) -> (loss, logs)``.

    The objective (:data:`~sslsv.pretrain.objectives.OBJECTIVES`, one class
    each) names the head's modules, which become attributes of the model
    (``final_proj`` and ``label_embeddings``; the Gumbel ``quantizer`` and
    projections; ``ctc_head``), and computes the loss.
    """

    def __init__(self, upstream: Upstream, cfg: PretrainConfig, n_classes: int = 0, vocab_size: int = 0):
        super().__init__()
        self.upstream = upstream
        self.cfg = cfg
        self.objective = make_objective(cfg)
        for name, part in self.objective.head(upstream, n_classes, vocab_size).items():
            setattr(self, name, part)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        device = next(self.parameters()).device
        wave = batch["wave"].to(device)
        mask = batch.get("mask")
        mask = mask.to(device) if mask is not None else None
        logs: dict[str, float] = {"n": float(wave.shape[0])}
        loss, stats = self.objective.loss(self, batch, wave, mask)
        logs.update(stats)
        return loss, logs


def held_out_data(cfg: PretrainExperimentConfig, pool: PretrainPool, waves: dict[str, np.ndarray],
                  upstream: Upstream, targets: Targets | None, train_data: PretrainData) -> PretrainData:
    """The batches the curve and the final evaluation score: the held-out part of the pool, else ``train_data``."""
    held = split_held_out(pool, cfg.pretrain.held_out_share)[1]
    if not held.utterances:
        return train_data
    return PretrainData(cfg.pretrain, pool, waves, upstream, targets, cfg.optim.batch_size, cfg.optim.steps,
                        keys=[u.key for u in held.utterances])


def held_out_chances(data: PretrainData, targets: Targets, n_batches: int) -> dict[str, float]:
    """The two chances on the masked frames of the held-out batches: majority class and context-free ceiling.

    The majority class is the commonest target of the utterances ``data``
    does not score (the training part), or of the whole pool without one.
    """
    scored = set(data.keys)
    train_keys = [k for k in targets.labels if k not in scored] or list(targets.labels)
    majority = int(np.bincount(np.concatenate([targets.labels[k] for k in train_keys])).argmax())
    hits = {"majority": [0, 0], "context_free": [0, 0]}
    for i in range(n_batches):
        batch = data(HELD_OUT_STEP + i, rank=0, world=1, held_out=True)
        for name, (c, n) in (("majority", majority_accuracy(batch["targets"], batch["mask"], majority)),
                             ("context_free", context_free_accuracy(batch["targets"], batch["mask"]))):
            hits[name][0] += c
            hits[name][1] += n
    return {f"chance_{name}": c / max(n, 1) for name, (c, n) in hits.items()}


# ---------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------


def build_model(cfg: PretrainExperimentConfig, pool: PretrainPool, waves: dict[str, np.ndarray],
                log: Callable[[str], None] | None = None) -> tuple[PretrainModel, PretrainData, Targets | None]:
    """Seeded upstream, targets (cached) and head of a configuration, and its batch function."""
    p = cfg.pretrain
    check_config(p)
    torch.manual_seed(p.seed)
    upstream = (Upstream.from_pretrained(resolve_upstream_reference(p.init, "pretrain.init"), p.feature_grad_scale)
                if p.init else build_upstream(p.backbone, p.size, p.feature_grad_scale))
    targets = None
    rank, world = distributed_info()
    if check_objective(p.objective).uses_targets:
        if rank == 0:
            targets = compute_targets(p, pool, waves, upstream, log=log)
        if world > 1:
            torch.distributed.barrier()
            if rank != 0:
                targets = compute_targets(p, pool, waves, upstream, log=log)
    train_keys = [u.key for u in split_held_out(pool, p.held_out_share)[0].utterances] if p.held_out_share else None
    data = PretrainData(p, pool, waves, upstream, targets, cfg.optim.batch_size, cfg.optim.steps, keys=train_keys)
    model = PretrainModel(upstream, p, n_classes=targets.n_classes if targets else 0, vocab_size=len(data.vocab))
    return model, data, targets


def _learning_curve(cfg: PretrainExperimentConfig, run: Run, model: PretrainModel, eval_data: PretrainData,
                    targets: Targets | None, device: torch.device) -> LearningCurve | None:
    """The run's :class:`~.curve.LearningCurve` (``pretrain.eval_every > 0``), its row at step 0 recorded."""
    p = cfg.pretrain
    if p.eval_every <= 0:
        return None
    chances = held_out_chances(eval_data, targets, p.eval_batches) if targets is not None else {}
    curve = LearningCurve(lambda: evaluate(model, eval_data, p.eval_batches), p.eval_every,
                          check_objective(p.objective).accuracy_key, chances, path=run.file("curve.csv"),
                          devices=[device.index or 0] if device.type == "cuda" else [])
    if not curve.has_step(0):
        curve.record(0)  # the random init
    return curve


def _curve_summary(curve: LearningCurve) -> dict[str, Any]:
    """What ``diagnostics.json`` says of the curve: its last row, and the budget :func:`~.curve.choose_budget` reads."""
    last = curve.rows[-1]
    acc = [r.get("held_out_masked_acc", float("nan")) for r in curve.rows]
    return {"rows": len(curve.rows), "last": last,
            "budget_rule": choose_budget([r["step"] for r in curve.rows], acc)}


def pretrain_inputs(cfg: PretrainExperimentConfig, progress: bool = True) -> dict[str, Any]:
    """The fingerprint of what a pre-training run reads: the pool and any saved upstream it starts from."""
    from ..data import pool_corpus
    from ..data.fingerprint import pool_fingerprint, upstream_fingerprint

    inputs: dict[str, Any] = {"pool": pool_fingerprint(pool_corpus(cfg.corpus, cfg.pretrain.pool_language), progress)}
    if cfg.pretrain.in_domain:
        from ..data.fingerprint import sv_fingerprint

        inputs["in_domain"] = sv_fingerprint(cfg.corpus, progress)
    sources = {"init": cfg.pretrain.init}
    if cfg.pretrain.quantizer == "kmeans_hidden":
        sources["kmeans_source"] = cfg.pretrain.kmeans_source
    for name, ref in sources.items():
        if ref:
            path = Path(resolve_upstream_reference(ref, f"pretrain.{name}"))
            if path.is_dir():
                inputs[name] = upstream_fingerprint(path)
    return inputs


def pretrain(cfg: PretrainExperimentConfig, *, progress: bool = True,
             on_step: Callable[[int, dict[str, float]], None] | None = None) -> Run:
    """Pre-train an upstream for ``cfg`` (or reuse/resume its run) and return the :class:`Run`.

    The final upstream is ``run.path / "upstream"`` (load it with
    :meth:`Upstream.from_pretrained`); ``run.metrics()`` holds the
    diagnostics.  Under ``torchrun`` the batch is split over the processes
    (DDP; gloo on CPU) and rank 0 writes the run.  A finished run is reused
    only when its files match its manifest and its pool (and any upstream it
    reads) the recorded fingerprint (:func:`pretrain_inputs`).
    """
    validate(cfg)
    check_config(cfg.pretrain)
    schedule_length(cfg.optim)  # a schedule shorter than the run: one line naming the key, before the run exists
    resolve_device(cfg.device)
    run = Run("pretrain", cfg)
    inputs = pretrain_inputs(cfg, progress)
    if run.reusable(inputs):
        return run
    init_distributed_from_env()
    if distributed_info()[1] > 1:  # under torchrun the ranks move in step (barriers), so no lock
        return _compute_pretrain(cfg, run, inputs, progress, on_step)
    return run.serve(inputs, lambda: run, lambda: _compute_pretrain(cfg, run, inputs, progress, on_step))


def _compute_pretrain(cfg: PretrainExperimentConfig, run: Run, inputs: dict[str, Any], progress: bool,
                      on_step: Callable[[int, dict[str, float]], None] | None) -> Run:
    rank, world = distributed_info()
    pool = load_pool(cfg, progress=progress and rank == 0)  # checked before the run directory exists
    if rank == 0:
        run.start()
    if world > 1:
        torch.distributed.barrier()
    log = run.log if rank == 0 else None
    waves = load_waves(pool, cfg.corpus.sample_rate)
    if log:
        log(f"pool: {len(pool.utterances)} utterances, {pool.hours:.3f} h; world size {world}")
    model, data, targets = build_model(cfg, pool, waves, log=log)
    eval_data = held_out_data(cfg, pool, waves, model.upstream, targets, data)
    device = resolve_device(cfg.device)
    curve = _learning_curve(cfg, run, model, eval_data, targets, device) if rank == 0 else None
    step_hooks = [h for h in (curve.on_step if curve else None, on_step) if h is not None]
    result = fit(model, data, lambda m, b: m(b), cfg.optim, checkpoint=run.checkpoint_file, config_id=run.hash,
                 device=device, desc=f"pretrain {cfg.pretrain.objective}", progress=progress,
                 on_step=(lambda step, row: [h(step, row) for h in step_hooks]) if step_hooks else None, log=log)
    if rank == 0:
        model.upstream.save_pretrained(run.path / "upstream")
        evaluation = evaluate(model, eval_data)
        n_params = sum(p.numel() for p in model.upstream.parameters())
        diag = diagnostics(cfg, result.history, evaluation, targets, n_params, result.seconds,
                           result.timing_complete)
        atomic_write_json(run.file("history.json"), result.history)
        if curve is not None:
            curve.finish(result.history)
            diag["curve"] = _curve_summary(curve)
        atomic_write_json(run.file("diagnostics.json"), diag)
        run.log(f"done: loss {diag['loss_first']:.3f} -> {diag['loss_last']:.3f}")
        run.finish(diag, inputs=inputs)
    if world > 1:
        torch.distributed.barrier()
    return run

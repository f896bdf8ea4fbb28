"""Pre-training runs: data, heads, the shared training loop, diagnostics.

:func:`pretrain` is the entry point the notebooks, the studies and the
command line call::

    run = pretrain(resolve("smoke", {"pretrain.objective": "masked"}, base=PretrainExperimentConfig()))
    upstream = Upstream.from_pretrained(run.path / "upstream")

A run lives in ``<artifact root>/runs/pretrain-<config hash>/``: the
resolved config, the environment, a log, a resumable ``checkpoint.pt``,
the final upstream (``upstream/``, written with ``save_pretrained``),
``diagnostics.json`` (loss, masked-prediction accuracy against chance,
codebook usage) and ``loss_curve.png``.  A complete run is reused; an
interrupted one resumes exactly (the batch of a step is a pure function of
``(seed, step, rank)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..artifacts import Run, atomic_write_json, atomic_write_text
from ..config import ConfigError, PretrainConfig, PretrainExperimentConfig, validate
from ..data.corpus import PretrainPool
from ..training import distributed_info, fit, init_distributed_from_env, resolve_device, step_rng
from .backbones import SIZES, BACKBONES, Upstream, build_upstream
from .masking import compute_mask, sample_negatives
from .objectives import (IGNORE, OBJECTIVES, check_objective, contrastive_loss, cosine_logits, ctc_loss,
                         diversity_loss, edit_distance, greedy_decode, hubert_loss)
from .quantizers import QUANTIZERS, Targets, check_quantizer, compute_targets, load_waves, phone_inventory

__all__ = ["pretrain", "PretrainModel", "PretrainData", "check_config", "gumbel_temperature", "load_pool"]

SAMPLE_RATE = 16000
HOP = 320  # samples per backbone frame (50 Hz)


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


def gumbel_temperature(step: int, total: int, start: float = 2.0, end: float = 0.5) -> float:
    """wav2vec 2.0's Gumbel-softmax temperature, annealed linearly over the run.

    >>> gumbel_temperature(0, 100), gumbel_temperature(100, 100)
    (2.0, 0.5)
    """
    return start + (end - start) * min(step / max(total, 1), 1.0)


def load_pool(cfg: PretrainExperimentConfig, progress: bool = True) -> PretrainPool:
    """The pre-training pool: ``cfg.pretrain.hours`` of it (all when 0), seeded."""
    from ..data import load_pretrain_pool

    hours = cfg.pretrain.hours if cfg.pretrain.hours > 0 else None
    return load_pretrain_pool(cfg.corpus, hours, seed=cfg.pretrain.seed, progress=progress)


# ---------------------------------------------------------------------------
# data: random crops, targets, masks, transcripts
# ---------------------------------------------------------------------------


def _tokens_of(pool: PretrainPool) -> tuple[list[str], bool]:
    """CTC vocabulary (blank excluded) and whether it is phones from alignments (else characters)."""
    if all(u.alignment for u in pool.utterances):
        return phone_inventory(pool, speech_only=True), True
    chars = sorted({c for u in pool.utterances for c in u.transcript.replace(" ", "|")})
    return chars, False


class PretrainData:
    """Batches of a pre-training run, each a pure function of ``(seed, step, rank)``.

    A batch is a dict: ``wave`` ``(batch, samples)``, ``targets`` ``(batch,
    frames)`` (``-100`` on padding), ``mask`` ``(batch, frames)`` bool,
    ``negatives`` (contrastive), ``tokens``/``token_lengths``/``frame_lengths``
    (CTC), ``gumbel_temperature``.
    """

    def __init__(self, cfg: PretrainConfig, pool: PretrainPool, waves: dict[str, np.ndarray], upstream: Upstream,
                 targets: Targets | None, batch_size: int, total_steps: int):
        self.cfg, self.pool, self.waves, self.targets = cfg, pool, waves, targets
        self.objective = check_objective(cfg.objective)
        self.batch_size, self.total_steps = batch_size, total_steps
        self.keys = [u.key for u in pool.utterances]
        lengths = np.array([len(waves[k]) for k in self.keys], dtype=np.float64)
        self.p = lengths / lengths.sum()  # crops drawn in proportion to duration
        self.crop = int(round(cfg.crop_seconds * SAMPLE_RATE))
        self.n_frames = upstream.n_frames
        self.crop_frames = upstream.n_frames(self.crop)
        self.utt_frames = {k: upstream.n_frames(len(waves[k])) for k in self.keys}
        self.vocab: list[str] = []
        if cfg.objective == "ctc":
            self.vocab, self.aligned = _tokens_of(pool)
            self.token_index = {t: i + 1 for i, t in enumerate(self.vocab)}  # 0 = blank
            self.by_key = {u.key: u for u in pool.utterances}

    def __call__(self, step: int, rank: int = 0, world: int = 1) -> dict[str, Any]:
        if self.batch_size % world:
            raise ConfigError(f"batch_size {self.batch_size} is not divisible by {world} processes")
        rng = step_rng(self.cfg.seed, step, rank)
        n = self.batch_size // world
        picks = rng.choice(len(self.keys), size=n, p=self.p)
        if self.cfg.objective == "ctc" and not self.aligned:
            return self._whole_utterances(picks)
        waves = np.zeros((n, self.crop), dtype=np.float32)
        targets = np.full((n, self.crop_frames), IGNORE, dtype=np.int64)
        starts = []
        for i, idx in enumerate(picks):
            key = self.keys[idx]
            s = int(rng.integers(0, max(self.utt_frames[key] - self.crop_frames, 0) + 1))
            seg = self.waves[key][s * HOP: s * HOP + self.crop]
            waves[i, : len(seg)] = seg
            if self.targets is not None:
                lab = self.targets.labels[key][s: s + self.crop_frames]
                targets[i, : len(lab)] = lab
            starts.append((key, s))
        batch: dict[str, Any] = {"wave": torch.from_numpy(waves), "step": step,
                                 "gumbel_temperature": gumbel_temperature(step, self.total_steps)}
        if self.targets is not None:
            batch["targets"] = torch.from_numpy(targets)
        if self.objective.uses_mask:
            mask = compute_mask((n, self.crop_frames), self.cfg.mask_prob, self.cfg.mask_length, rng)
            batch["mask"] = torch.from_numpy(mask)
            if self.cfg.objective == "contrastive":
                batch["negatives"] = torch.from_numpy(
                    sample_negatives((n, self.crop_frames), self.cfg.num_negatives, mask, rng).astype(np.int64))
        if self.cfg.objective == "ctc":
            batch.update(self._crop_tokens(starts))
        return batch

    def _crop_tokens(self, starts) -> dict[str, torch.Tensor]:
        seqs = []
        for key, s in starts:
            t0, t1 = s * HOP / SAMPLE_RATE, (s * HOP + self.crop) / SAMPLE_RATE
            seqs.append([self.token_index[seg.phone] for seg in self.by_key[key].alignment
                         if t0 <= (seg.start + seg.end) / 2 < t1 and seg.phone_class != "silence"])
        return self._pack(seqs, [self.crop_frames] * len(seqs))

    def _whole_utterances(self, picks) -> dict[str, Any]:
        keys = [self.keys[i] for i in picks]
        longest = max(len(self.waves[k]) for k in keys)
        waves = np.zeros((len(keys), longest), dtype=np.float32)
        for i, k in enumerate(keys):
            waves[i, : len(self.waves[k])] = self.waves[k]
        seqs = [[self.token_index[c] for c in self.by_key[k].transcript.replace(" ", "|")] for k in keys]
        out = self._pack(seqs, [self.utt_frames[k] for k in keys])
        out.update(wave=torch.from_numpy(waves), gumbel_temperature=1.0)
        return out

    @staticmethod
    def _pack(seqs, frame_lengths) -> dict[str, torch.Tensor]:
        width = max(1, max(len(s) for s in seqs))
        tokens = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, s in enumerate(seqs):
            tokens[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        return {"tokens": tokens, "token_lengths": torch.tensor([len(s) for s in seqs]),
                "frame_lengths": torch.tensor(frame_lengths)}


# ---------------------------------------------------------------------------
# the model: upstream + the objective's head
# ---------------------------------------------------------------------------


class PretrainModel(nn.Module):
    """An :class:`Upstream` with the head its objective needs; ``forward(batch) -> (loss, logs)``.

    * ``masked``/``unmasked``/``mixed``: ``final_proj`` (hidden -> proj_dim)
      and ``label_embeddings`` ``(K, proj_dim)``; cosine logits / temperature.
    * ``contrastive``: transformers' Gumbel vector quantizer on the local
      features, projections of context and codevectors to ``proj_dim``.
    * ``ctc``: a linear layer to the token vocabulary (+ blank).
    """

    def __init__(self, upstream: Upstream, cfg: PretrainConfig, n_classes: int = 0, vocab_size: int = 0):
        super().__init__()
        self.upstream = upstream
        self.cfg = cfg
        self.objective = check_objective(cfg.objective)
        h = upstream.hidden_size
        if self.objective.uses_targets:
            if n_classes < 2:
                raise ConfigError(f"objective {cfg.objective!r} needs targets with at least 2 classes")
            self.final_proj = nn.Linear(h, cfg.proj_dim)
            self.label_embeddings = nn.Parameter(torch.randn(n_classes, cfg.proj_dim) * 0.1)
        elif cfg.objective == "contrastive":
            from transformers import Wav2Vec2Config
            from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GumbelVectorQuantizer

            qcfg = Wav2Vec2Config(num_codevector_groups=cfg.codevector_groups,
                                  num_codevectors_per_group=cfg.codevectors, codevector_dim=cfg.proj_dim,
                                  conv_dim=(upstream.local_dim,) * 7)
            self.local_norm = nn.LayerNorm(upstream.local_dim, elementwise_affine=False)
            self.quantizer = Wav2Vec2GumbelVectorQuantizer(qcfg)
            nn.init.uniform_(self.quantizer.codevectors)
            nn.init.normal_(self.quantizer.weight_proj.weight, std=1.0)
            nn.init.zeros_(self.quantizer.weight_proj.bias)
            self.project_q = nn.Linear(cfg.proj_dim, cfg.proj_dim)
            self.project_hid = nn.Linear(h, cfg.proj_dim)
        elif cfg.objective == "ctc":
            self.ctc_head = nn.Linear(h, vocab_size + 1)

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        device = next(self.parameters()).device
        wave = batch["wave"].to(device)
        mask = batch.get("mask")
        mask = mask.to(device) if mask is not None else None
        logs: dict[str, float] = {"n": float(wave.shape[0])}
        if self.objective.uses_targets:
            states = self.upstream(wave, mask)
            logits = cosine_logits(self.final_proj(states[-1]), self.label_embeddings, self.cfg.temperature)
            w_u = self.cfg.unmasked_weight if self.cfg.objective == "mixed" else self.objective.unmasked_weight
            loss, stats = hubert_loss(logits, batch["targets"].to(device), mask, self.objective.masked_weight, w_u)
            logs.update(stats)
        elif self.cfg.objective == "contrastive":
            states, local = self.upstream.forward_with_local(wave, mask)
            self.quantizer.temperature = float(batch["gumbel_temperature"])
            quantized, perplexity = self.quantizer(self.local_norm(local.float()), mask_time_indices=mask)
            quantized = self.project_q(quantized)
            context = self.project_hid(states[-1])
            lc, stats = contrastive_loss(context, quantized, mask, batch["negatives"].to(device),
                                         self.cfg.temperature)
            n_codes = self.cfg.codevectors * self.cfg.codevector_groups
            ld = diversity_loss(perplexity, n_codes)
            loss = lc + self.cfg.diversity_weight * ld
            logs.update(stats, contrastive_loss=float(lc.detach()), code_perplexity=float(perplexity.detach()))
        else:  # ctc
            states = self.upstream(wave)
            log_probs = torch.log_softmax(self.ctc_head(states[-1]).float(), dim=-1)
            loss, stats = ctc_loss(log_probs, batch["tokens"].to(device), batch["frame_lengths"].to(device),
                                   batch["token_lengths"].to(device))
            logs.update(stats)
            if not self.training:
                hyps = greedy_decode(log_probs.detach().cpu(), batch["frame_lengths"])
                refs = [t[:n].tolist() for t, n in zip(batch["tokens"], batch["token_lengths"])]
                errors = sum(edit_distance(h, r) for h, r in zip(hyps, refs))
                logs["token_error_rate"] = errors / max(1, sum(len(r) for r in refs))
        return loss, logs


# ---------------------------------------------------------------------------
# diagnostics
# ---------------------------------------------------------------------------


def _window_mean(history: list[dict], key: str, first: bool = False, frac: float = 0.1) -> float:
    vals = [r[key] for r in history if key in r and not math.isnan(r[key])]
    if not vals:
        return float("nan")
    k = max(1, int(len(vals) * frac))
    chunk = vals[:k] if first else vals[-k:]
    return float(np.mean(chunk))


@torch.no_grad()
def evaluate(model: PretrainModel, data: PretrainData, n_batches: int = 4) -> dict[str, float]:
    """Held-out batches (fresh crops and masks; dropout off), objective-specific accuracies.

    Target objectives are evaluated *with masks* whatever they trained with,
    so the masked-prediction accuracy of the unmasked objective is comparable.
    """
    was_training = model.training
    model.eval()
    cfg = data.cfg
    eval_data = data
    if cfg.objective == "unmasked":  # evaluate its masked-prediction accuracy too
        import copy

        eval_data = copy.copy(data)
        eval_data.objective = OBJECTIVES["masked"]
    rows = []
    for i in range(n_batches):
        batch = eval_data(10_000_000 + i, rank=0, world=1)
        _, logs = model(batch)
        rows.append(logs)
    model.train(was_training)
    keys = {k for r in rows for k in r if k != "n"}
    return {k: float(np.nanmean([r.get(k, float("nan")) for r in rows])) for k in sorted(keys)}


def diagnostics(cfg: PretrainExperimentConfig, history: list[dict], evaluation: dict[str, float],
                targets: Targets | None, n_params: int, seconds: float,
                timing_complete: bool = True) -> dict[str, Any]:
    """The run's summary: loss first/last, accuracies against chance, codebook usage, speed."""
    p = cfg.pretrain
    out: dict[str, Any] = {
        "objective": p.objective, "quantizer": p.quantizer if OBJECTIVES[p.objective].uses_targets else None,
        "backbone": p.backbone, "size": p.size, "parameters": n_params, "steps": len(history),
        "loss_first": _window_mean(history, "loss", first=True), "loss_last": _window_mean(history, "loss"),
        "seconds": seconds, "timing_complete": timing_complete, "eval": evaluation,
    }
    if targets is not None:
        stats = targets.info.get("codebook", {})
        out["targets"] = stats
        out["chance_uniform"] = 1.0 / targets.n_classes
        out["chance_majority"] = stats.get("majority_frequency")
        out["loss_uniform"] = math.log(targets.n_classes)
        out["masked_acc_last"] = _window_mean(history, "masked_acc")
        out["unmasked_acc_last"] = _window_mean(history, "unmasked_acc")
        out["masked_acc_eval"] = evaluation.get("masked_acc")
        acc = evaluation.get("masked_acc", 0.0)
        out["above_uniform_chance"] = bool(acc > out["chance_uniform"])
        # the stricter bar: a model that always predicts the commonest target reaches the majority frequency
        out["above_chance"] = bool(acc > max(out["chance_uniform"], out["chance_majority"] or 0.0))
    if p.objective == "contrastive":
        out["chance_uniform"] = 1.0 / (p.num_negatives + 1)
        out["contrastive_acc_eval"] = evaluation.get("contrastive_acc")
        out["code_perplexity_last"] = _window_mean(history, "code_perplexity")
        out["above_chance"] = out["above_uniform_chance"] = bool(
            evaluation.get("contrastive_acc", 0.0) > out["chance_uniform"])
    if p.objective == "ctc":
        out["token_error_rate_eval"] = evaluation.get("token_error_rate")
        out["above_chance"] = bool(evaluation.get("token_error_rate", 1.0) < 1.0)
    return out


def plot_history(history: list[dict], diag: dict, path) -> None:
    """Loss curve (left) and training accuracy against chance (right), written as PNG."""
    from matplotlib.figure import Figure  # no pyplot: never touches the caller's backend or figures

    steps = [r["step"] for r in history]
    fig = Figure(figsize=(9, 3.2))
    axes = fig.subplots(1, 2)
    axes[0].plot(steps, [r["loss"] for r in history], lw=0.8)
    if "loss_uniform" in diag:
        axes[0].axhline(diag["loss_uniform"], ls="--", c="grey", label="ln K (uniform)")
        axes[0].legend()
    axes[0].set(xlabel="step", ylabel="training loss", title=f"{diag['objective']} / {diag['quantizer']}")
    acc_key = {"contrastive": "contrastive_acc", "ctc": "nonblank_share", "unmasked": "unmasked_acc"}.get(
        diag["objective"], "masked_acc")
    axes[1].plot(steps, [r.get(acc_key, float("nan")) for r in history], lw=0.8, label=acc_key)
    if diag.get("chance_uniform") is not None:
        axes[1].axhline(diag["chance_uniform"], ls="--", c="grey", label="chance (uniform)")
    if diag.get("chance_majority") is not None:
        axes[1].axhline(diag["chance_majority"], ls=":", c="k", label="chance (majority class)")
    axes[1].set(xlabel="step", ylabel="accuracy")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    from ..artifacts import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------
# the entry point
# ---------------------------------------------------------------------------


def build_model(cfg: PretrainExperimentConfig, pool: PretrainPool, waves: dict[str, np.ndarray],
                log: Callable[[str], None] | None = None) -> tuple[PretrainModel, PretrainData, Targets | None]:
    """Seeded upstream, targets (cached) and head of a configuration, and its batch function."""
    p = cfg.pretrain
    check_config(p)
    torch.manual_seed(p.seed)
    upstream = (Upstream.from_pretrained(p.init, p.feature_grad_scale) if p.init
                else build_upstream(p.backbone, p.size, p.feature_grad_scale))
    objective = OBJECTIVES[p.objective]
    targets = None
    rank, world = distributed_info()
    if objective.uses_targets:
        if rank == 0:
            targets = compute_targets(p, pool, waves, upstream, log=log)
        if world > 1:
            torch.distributed.barrier()
            if rank != 0:
                targets = compute_targets(p, pool, waves, upstream, log=log)
    data = PretrainData(p, pool, waves, upstream, targets, cfg.optim.batch_size, cfg.optim.steps)
    model = PretrainModel(upstream, p, n_classes=targets.n_classes if targets else 0, vocab_size=len(data.vocab))
    return model, data, targets


def pretrain_inputs(cfg: PretrainExperimentConfig, progress: bool = True) -> dict[str, Any]:
    """The fingerprint of what a pre-training run reads: the pool and any saved upstream it starts from."""
    from ..data.fingerprint import pool_fingerprint, upstream_fingerprint
    from .quantizers import resolve_upstream_source

    inputs: dict[str, Any] = {"pool": pool_fingerprint(cfg.corpus, progress)}
    sources = {"init": cfg.pretrain.init}
    if cfg.pretrain.quantizer == "kmeans_hidden":
        sources["kmeans_source"] = cfg.pretrain.kmeans_source
    for name, ref in sources.items():
        if ref:
            path = Path(resolve_upstream_source(ref))
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
    resolve_device(cfg.device)
    run = Run("pretrain", cfg)
    inputs = pretrain_inputs(cfg, progress)
    if run.reusable(inputs):
        return run
    init_distributed_from_env()
    rank, world = distributed_info()
    if world > 1:  # under torchrun the ranks move in step (barriers), so no lock
        return _compute_pretrain(cfg, run, inputs, progress, on_step)
    with run.lock():
        if run.reusable(inputs):  # another process finished it while this one waited
            return run
        return _compute_pretrain(cfg, run, inputs, progress, on_step)


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
    device = resolve_device(cfg.device)
    result = fit(model, data, lambda m, b: m(b), cfg.optim, checkpoint=run.checkpoint_file, config_id=run.hash,
                 device=device, desc=f"pretrain {cfg.pretrain.objective}", progress=progress,
                 on_step=on_step, log=log)
    if rank == 0:
        model.upstream.save_pretrained(run.path / "upstream")
        evaluation = evaluate(model, data)
        n_params = sum(p.numel() for p in model.upstream.parameters())
        diag = diagnostics(cfg, result.history, evaluation, targets, n_params, result.seconds,
                           result.timing_complete)
        atomic_write_json(run.file("history.json"), result.history)
        plot_history(result.history, diag, run.file("loss_curve.png"))
        atomic_write_json(run.file("diagnostics.json"), diag)
        run.log(f"done: loss {diag['loss_first']:.3f} -> {diag['loss_last']:.3f}")
        run.finish(diag, inputs=inputs)
    if world > 1:
        torch.distributed.barrier()
    return run

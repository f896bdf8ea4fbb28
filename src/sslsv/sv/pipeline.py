"""Train a speaker-verification model, embed the test utterances, score, measure.

:func:`run_sv` is the one call a study makes per (configuration, seed). Its
run directory (``sv-<hash>``) follows a fixed layout::

    config.json        resolved configuration (the hash is computed from it)
    environment.json   package versions, git commit, platform
    log.txt            what happened, with times
    checkpoint.pt      resumable training state (model, optimizer, step, RNG)
    speaker_model.pt   final weights with their config inside
    embeddings.npz     test embeddings (keys, matrix)
    scores.tsv         label, score, enroll, test for every trial (and asnorm_score with eval.asnorm_top_n)
    cohort.npz         with eval.asnorm_top_n: the AS-norm cohort, one mean embedding per training speaker
    history.json       per-step loss, accuracy, learning rate
    metrics.json       EER, minDCF, confidence intervals, timings
    MANIFEST.json      size and SHA-256 of every file above, and the fingerprint of the inputs
    DONE               written last: the run is complete and will be reused

Training crops are read from disk (on a GPU by DataLoader worker processes,
:mod:`sslsv.data.loader`) and, with ``train.musan_root`` / ``train.rir_root``,
augmented on the fly (:mod:`sslsv.data.augment`); with ``eval.asnorm_top_n``
the trials are also scored with AS-norm against a cohort of the training
speakers (``asnorm_*`` metrics).

Stages restart where they stopped: a complete run is loaded when its files
match its manifest and its corpus (and upstream) the recorded fingerprint;
otherwise it is moved aside and computed again. An interrupted training
resumes from its checkpoint. One process at a time computes a run (a lock
per run directory); nothing is written before the corpus has been checked.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..artifacts import (ArtifactError, Run, atomic_torch_save, atomic_write_bytes, atomic_write_json,
                         atomic_write_text, torch_load)
from ..config import ConfigError, SVConfig, from_dict, to_dict, validate
from ..data import load_sv_corpus
from ..data.fingerprint import directory_fingerprint, sv_fingerprint, upstream_fingerprint
from ..data.audio import probe_audio_files
from ..errors import warn_data
from ..data.augment import build_augmenter
from ..data.batching import CropSampler
from ..data.loader import loader_workers, prefetching
from ..data.corpus import SVCorpus
from ..metrics import verification_metrics
from ..upstreams import check_upstream, random_init
from ..training import FitResult, fit, resolve_device, schedule_length, step_rng
from .embeddings import extract_embeddings
from .featurizer import STATES, HiddenStateCropSampler, SSLFrontend, build_ssl_frontend, resolve_upstream_reference
from .model import AAMSoftmaxHead, FbankFrontend, SpeakerModel, SVTrainingModel
from .scoring import as_norm_scores, cosine_scores, speaker_cohort

FRONTENDS = ("fbank", "ssl")


@dataclass
class SVResult:
    """What a finished speaker-verification run gives back."""

    run: Run
    metrics: dict[str, Any]
    scores: pd.DataFrame  # columns: label, score, enroll, test

    @property
    def eer_percent(self) -> float:
        return float(self.metrics["eer_percent"])


MIN_SECONDS = 0.5  # shortest usable training or test utterance


def check_sv_config(cfg: SVConfig) -> None:
    """Refuse values and combinations that cannot work, before any run directory is written."""
    validate(cfg)
    resolve_device(cfg.device)
    schedule_length(cfg.train)
    f = cfg.frontend
    if f.kind not in FRONTENDS:
        raise ConfigError(f"unknown front-end {f.kind!r}; valid front-ends: {', '.join(FRONTENDS)}")
    if f.cache_features and (cfg.train.musan_root or cfg.train.rir_root):
        raise ConfigError("frontend.cache_features trains on stored hidden states of clean audio, so train.musan_root "
                          "/ train.rir_root augmentation could not be applied: set frontend.cache_features=false, "
                          "or train.musan_root=\"\" and train.rir_root=\"\"")
    if (f.finetune_layers or f.freeze_feature_encoder) and not (f.kind == "ssl" and f.finetune):
        raise ConfigError(f"frontend.finetune_layers={f.finetune_layers} / frontend.freeze_feature_encoder="
                          f"{f.freeze_feature_encoder} choose what a fine-tuned upstream trains: they need "
                          f"frontend.kind='ssl' and frontend.finetune=true (got kind={f.kind!r}, finetune={f.finetune})")
    if f.cache_features and (f.kind != "ssl" or (f.finetune and not f.finetune_layers)):
        raise ConfigError("frontend.cache_features needs an SSL upstream that is frozen, or fine-tuned in its top "
                          "layers alone (frontend.kind='ssl', frontend.finetune=false or frontend.finetune_layers>0); "
                          f"got kind={f.kind!r}, finetune={f.finetune}, finetune_layers={f.finetune_layers}")


def build_speaker_model(cfg: SVConfig) -> SpeakerModel:
    """A fresh speaker model for ``cfg.frontend`` (kind one of :data:`FRONTENDS`)."""
    check_sv_config(cfg)
    if cfg.frontend.kind == "fbank":
        front: torch.nn.Module = FbankFrontend(cfg.features, cfg.corpus.sample_rate)
    else:
        if not cfg.frontend.upstream:
            raise ConfigError("frontend.upstream is empty: name a pre-training run ('run:<name>'), "
                             "'init:<backbone>:<size>', a directory or a checkpoint name")
        f = cfg.frontend
        from ..pretrain.backbones import TopLayersError

        try:
            front = build_ssl_frontend(f.upstream, f.finetune, seed=cfg.train.seed, top_layers=f.finetune_layers,
                                       freeze_feature_encoder=f.freeze_feature_encoder)
        except TopLayersError as err:
            raise ConfigError(f"frontend.finetune_layers={f.finetune_layers}: {err} ({f.upstream})") from None
        if f.cache_features and f.finetune and front.upstream.family == "wavlm":
            raise ConfigError(f"frontend.cache_features with frontend.finetune_layers={f.finetune_layers}: WavLM's "
                              f"layers take the position bias of its first layer, so its top layers cannot run on "
                              f"cached states ({f.upstream}); set frontend.cache_features=false")
    return SpeakerModel(front, cfg.ecapa)


def augmenter(cfg: SVConfig):
    """The crops' :class:`~sslsv.data.augment.Augmenter` (``None`` without augmentation directories)."""
    t = cfg.train
    return build_augmenter(t.musan_root, t.rir_root, t.augment_probability, cfg.corpus.sample_rate)


def sv_run(cfg: SVConfig) -> Run:
    """The run directory of one configuration (nothing is computed)."""
    return Run("sv", cfg)


def param_groups(model: torch.nn.Module, cfg: SVConfig) -> list[dict[str, Any]]:
    """Optimizer groups: the upstream (lower lr), the layer weights (higher lr), the rest."""
    upstream, layer, rest = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if ".upstream." in f".{name}":
            upstream.append(p)
        elif name.endswith("layer_logits"):
            layer.append(p)
        else:
            rest.append(p)
    groups = [{"params": rest, "lr_scale": 1.0}]
    if layer:
        groups.append({"params": layer, "lr_scale": cfg.frontend.layer_weights_lr_scale, "weight_decay": 0.0})
    if upstream:
        groups.append({"params": upstream, "lr_scale": cfg.frontend.upstream_lr_scale})
    return groups


def load_speaker_model(run: Run) -> SpeakerModel:
    """Rebuild the trained speaker model of a complete run."""
    state = torch_load(run.file("speaker_model.pt"))
    cfg = from_dict(SVConfig, state["config"])
    model = build_speaker_model(cfg)
    model.load_state_dict(state["model"])
    return model.eval()


def load_result(run: Run) -> SVResult:
    """The stored result of a finished run; its scores must hold one row per trial."""
    metrics = run.metrics()
    path = run.file("scores.tsv")
    try:
        scores = pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: unreadable trial scores ({e}); delete {run.path} to compute it again") from e
    expected = metrics.get("n_trials")
    if expected is not None and len(scores) != expected:
        raise ArtifactError(f"{path}: {len(scores)} score rows, but the run scored {expected} trials; "
                            f"delete {run.path} to compute it again")
    return SVResult(run=run, metrics=metrics, scores=scores)


def sv_inputs(cfg: SVConfig, progress: bool = True) -> dict[str, Any]:
    """The fingerprint of what an SV run reads: its corpus and, for a saved upstream, its weights."""
    inputs: dict[str, Any] = {"corpus": sv_fingerprint(cfg.corpus, progress)}
    for key, root in (("musan", cfg.train.musan_root), ("rir", cfg.train.rir_root)):
        if root and Path(root).is_dir():  # augmentation audio by name, size and time, like the corpus
            inputs[key] = directory_fingerprint(root)
    if cfg.frontend.kind == "ssl" and random_init(cfg.frontend.upstream) is None:
        path = Path(resolve_upstream_reference(cfg.frontend.upstream))
        if path.is_dir():
            inputs["upstream"] = upstream_fingerprint(path)
    return inputs


def validate_corpus(corpus: SVCorpus, cfg: SVConfig) -> None:
    """Check every training and test file before any compute; report all problems at once, in one pass.

    A training crop longer than every training file is a :class:`~sslsv.errors.DataWarning` naming the
    longest file's length: each crop would repeat its file to fill the crop.
    """
    paths = [u.path for u in corpus.train] + [corpus.path(k) for k in corpus.test_keys]
    infos = probe_audio_files(paths, sample_rate=cfg.corpus.sample_rate, min_seconds=MIN_SECONDS)
    longest = max((i.seconds for i in infos[:len(corpus.train)]), default=0.0)
    if corpus.train and cfg.train.crop_seconds > longest:
        warn_data(f"train.crop_seconds={cfg.train.crop_seconds:g} is longer than every training file (the longest "
                  f"is {longest:.2f} s): each crop repeats its file to fill {cfg.train.crop_seconds:g} s; set "
                  f"train.crop_seconds to at most {longest:.2f}")


def labelled_speakers(corpus: SVCorpus, cfg: SVConfig) -> list[str]:
    """The training speakers whose labels the backend learns: all, or the first ``train.labelled_speakers``."""
    speakers = corpus.train_speakers
    n = cfg.train.labelled_speakers
    if n > len(speakers):
        raise ConfigError(f"train.labelled_speakers={n}, but the corpus has {len(speakers)} training speakers")
    if n == 1:
        raise ConfigError("train.labelled_speakers=1: a speaker classifier needs at least 2 speakers")
    return speakers[:n] if n else speakers


def cohort_utterances(corpus: SVCorpus, cfg: SVConfig) -> tuple[list[Path], list[str]]:
    """The AS-norm cohort's audio: the first ``eval.asnorm_utterances_per_speaker`` utterances (by key) of each
    labelled training speaker, and their speakers (disjoint from the trial list's speakers by construction)."""
    per = cfg.eval.asnorm_utterances_per_speaker
    chosen: dict[str, list] = {}
    for u in sorted(corpus.train, key=lambda u: u.key):
        chosen.setdefault(u.speaker, [])
        if len(chosen[u.speaker]) < per:
            chosen[u.speaker].append(u)
    speakers = labelled_speakers(corpus, cfg)
    utts = [u for s in speakers for u in chosen.get(s, [])]
    return [u.path for u in utts], [u.speaker for u in utts]


def train_speaker_model(cfg: SVConfig, corpus: SVCorpus, run: Run, progress: bool = True) -> tuple[SpeakerModel, FitResult]:
    """Train with AAM-softmax on random crops, resuming from the run's checkpoint.

    Returns the speaker model and the :class:`~sslsv.training.FitResult` (history and timing).
    """
    torch.manual_seed(cfg.train.seed)
    speakers = labelled_speakers(corpus, cfg)
    label_of = {s: i for i, s in enumerate(speakers)}
    train = [u for u in corpus.train if u.speaker in label_of]
    speaker_model = build_speaker_model(cfg)
    paths, labels = [u.path for u in train], [label_of[u.speaker] for u in train]
    crop_samples = int(cfg.train.crop_seconds * cfg.corpus.sample_rate)
    if cfg.frontend.cache_features:
        sampler = HiddenStateCropSampler(speaker_model.frontend.upstream, paths, labels, crop_samples,
                                         cfg.corpus.sample_rate, progress)
        run.log(f"cached upstream features of {len(paths)} utterances ({sampler.nbytes / 2**20:.0f} MiB)")
    else:
        sampler = CropSampler(paths, labels, crop_samples, augment=augmenter(cfg))
    head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, len(speakers), cfg.train.aam_margin, cfg.train.aam_scale)
    model = SVTrainingModel(speaker_model, head)
    device = resolve_device(cfg.device)

    front = speaker_model.frontend

    def batch_fn(step: int, rank: int, world: int):
        return step, sampler.batch(step_rng(cfg.train.seed, step, rank), cfg.train.batch_size)

    workers = loader_workers(cfg.train.loader_workers, device) if isinstance(sampler, CropSampler) else 0
    batches = prefetching(batch_fn, cfg.train.steps, workers, pin_memory=device.type == "cuda")
    if workers:
        run.log(f"crops read by {workers} DataLoader worker processes (pinned memory: {device.type == 'cuda'})")

    def loss_fn(m: torch.nn.Module, batch):
        step, (wave, labels) = batch
        if isinstance(front, SSLFrontend) and cfg.frontend.finetune:
            front.upstream_frozen = step < cfg.frontend.freeze_steps  # frozen warm-up
            front.train()
        loss, acc = m(wave.to(device, non_blocking=True), labels.to(device, non_blocking=True))
        return loss, {"accuracy": acc, "n": len(labels)}

    try:
        result = fit(model, batches, loss_fn, cfg.train, checkpoint=run.checkpoint_file, config_id=run.hash,
                     param_groups=param_groups(model, cfg), device=device, desc="SV training", progress=progress,
                     log=run.log)
    finally:
        if batches is not batch_fn:
            batches.close()
    if isinstance(front, SSLFrontend):
        front.upstream_frozen = not cfg.frontend.finetune
    return speaker_model, result


def run_sv(cfg: SVConfig, progress: bool = True) -> SVResult:
    """Train (or resume, or reuse) one SV system and evaluate it on the trial list.

    A finished run is reused only when its files match its manifest and its inputs
    (:func:`sv_inputs`) their recorded fingerprint.
    """
    check_sv_config(cfg)
    run = sv_run(cfg)
    inputs = sv_inputs(cfg, progress)
    return run.serve(inputs, lambda: load_result(run), lambda: _compute_sv(cfg, run, inputs, progress))


def _compute_sv(cfg: SVConfig, run: Run, inputs: dict[str, Any], progress: bool) -> SVResult:
    t0 = time.perf_counter()
    if cfg.frontend.kind == "ssl":  # a broken or NaN-holding upstream: one line, before the run directory exists
        check_upstream(cfg.frontend.upstream, "frontend.upstream")
    augmenter(cfg)  # a missing or empty augmentation directory: one line naming the key, before the run exists
    corpus = load_sv_corpus(cfg.corpus, progress=progress, check_files=False)
    validate_corpus(corpus, cfg)  # every problem at once, before the run directory exists
    n_labelled = len(labelled_speakers(corpus, cfg))
    run.start()
    run.log(f"corpus: {len(corpus.train)} training utterances of {len(corpus.train_speakers)} speakers "
            f"({n_labelled} labelled), {len(corpus.trials)} trials")
    speaker_model, fitted = train_speaker_model(cfg, corpus, run, progress)
    history = fitted.history
    # set-up of this segment (corpus, feature cache) plus the training loop over every segment
    t_train = time.perf_counter() - t0 - fitted.segment_seconds + fitted.seconds
    atomic_write_json(run.file("history.json"), history)
    atomic_torch_save({"config": run.config_dict, "model": speaker_model.state_dict()},
                      run.file("speaker_model.pt"))

    t1 = time.perf_counter()
    keys = corpus.test_keys
    device = resolve_device(cfg.device)
    front = speaker_model.frontend
    states = None
    if isinstance(front, SSLFrontend) and not cfg.frontend.finetune and cfg.frontend.cache_features:
        states = STATES.bind(front.upstream, cfg.corpus.sample_rate)
    embeddings = extract_embeddings(speaker_model, [corpus.path(k) for k in keys], cfg.corpus.sample_rate,
                                    cfg.eval.max_eval_seconds, device, progress, states=states)
    t_embed = time.perf_counter() - t1
    buf = io.BytesIO()
    np.savez(buf, keys=np.array(keys), embeddings=embeddings)
    atomic_write_bytes(run.file("embeddings.npz"), buf.getvalue())
    index = {k: i for i, k in enumerate(keys)}
    scores = cosine_scores(embeddings, index, corpus.trials)
    labels = np.array([t.label for t in corpus.trials])
    table = pd.DataFrame({"label": labels, "score": scores, "enroll": [t.enroll for t in corpus.trials],
                          "test": [t.test for t in corpus.trials]})
    asnorm_metrics: dict[str, Any] = {}
    if cfg.eval.asnorm_top_n:
        t2 = time.perf_counter()
        cohort_paths, cohort_speakers = cohort_utterances(corpus, cfg)
        cohort_embeddings = extract_embeddings(speaker_model, cohort_paths, cfg.corpus.sample_rate,
                                               cfg.eval.max_eval_seconds, device, progress, states=states)
        cohort = speaker_cohort(cohort_embeddings, cohort_speakers)
        buf = io.BytesIO()
        np.savez(buf, speakers=np.array(sorted(set(cohort_speakers))), embeddings=cohort)
        atomic_write_bytes(run.file("cohort.npz"), buf.getvalue())
        table["asnorm_score"] = as_norm_scores(embeddings, index, corpus.trials, cohort, cfg.eval.asnorm_top_n)
        normed = verification_metrics(table["asnorm_score"].to_numpy(), labels, p_targets=cfg.eval.p_targets,
                                      bootstrap=cfg.eval.bootstrap, level=cfg.eval.ci_level, seed=cfg.train.seed)
        asnorm_metrics = {f"asnorm_{k}": v for k, v in normed.items() if k.startswith(("eer", "min_dcf"))}
        asnorm_metrics.update({"asnorm_top_n": min(cfg.eval.asnorm_top_n, len(cohort)),
                               "asnorm_cohort_speakers": len(cohort),
                               "asnorm_seconds": round(time.perf_counter() - t2, 2)})
        run.log(f"AS-norm: cohort of {len(cohort)} training speakers ({len(cohort_paths)} utterances), "
                f"top {asnorm_metrics['asnorm_top_n']}")
    atomic_write_text(run.file("scores.tsv"), table.to_csv(sep="\t", index=False, float_format="%.6f"))
    metrics = verification_metrics(scores, labels, p_targets=cfg.eval.p_targets, bootstrap=cfg.eval.bootstrap,
                                   level=cfg.eval.ci_level, seed=cfg.train.seed)
    metrics.update({
        "n_trials": len(labels),
        "n_target_trials": int(labels.sum()),
        "train_seconds": round(t_train, 1),
        "timing_complete": fitted.timing_complete,
        "embed_seconds": round(t_embed, 2),
        "utterances_per_second": round(len(keys) / max(t_embed, 1e-9), 1),
        "final_train_loss": float(np.mean([h["loss"] for h in history[-20:]])) if history else None,
        "final_train_accuracy": float(np.mean([h["accuracy"] for h in history[-20:]])) if history else None,
        **asnorm_metrics,
    })
    run.log("metrics: " + json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}))
    run.finish(metrics, inputs=inputs)
    return SVResult(run=run, metrics=metrics, scores=table)

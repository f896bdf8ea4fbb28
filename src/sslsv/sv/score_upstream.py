"""Score one upstream for speaker verification: what ``sslsv sv`` runs.

s3prl's ``run_downstream.py -u <upstream> -d sv_voxceleb1`` for this
project: one upstream (a pre-training run ``run:<name>``, a local Hugging
Face directory of HuBERT / WavLM / wav2vec 2.0 / w2v-BERT, or a checkpoint
name), frozen or fine-tuned, under the SUPERB layer featurizer and the
ECAPA-TDNN backend of :mod:`sslsv.sv.pipeline`; one cached, resumable run
per seed. ``frontend="fbank"`` scores the log-mel baseline with the very
configuration ``sslsv baseline`` trains, so both commands share their runs.

Everything that can be refused is refused by :func:`preflight` before any
run directory exists: the configuration, the data root and trial list
(naming the key to set), the upstream (:func:`sslsv.upstreams.check_upstream`).

>>> cfg = sv_command_config("smoke", "ssl", "/models/wavlm-base-plus", "fine-tuned", seed=1)
>>> cfg.frontend.kind, cfg.frontend.upstream, cfg.frontend.finetune, cfg.train.seed
('ssl', '/models/wavlm-base-plus', True, 1)
>>> sv_command_config("smoke", "fbank", "", "frozen", seed=0) == sv_command_config("smoke", "fbank", "", "frozen", 0)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..config import ConfigError, SVConfig, refuse_controlled, resolve

__all__ = ["MODES", "FRONTENDS", "CONTROLLED", "UpstreamScore", "sv_command_config", "check_sv_data", "preflight",
           "score_upstream", "layer_weights", "format_report"]

MODES = ("frozen", "fine-tuned")
FRONTENDS = ("ssl", "fbank")

# Keys the command sets from its own arguments (an override of them could not be honoured).
CONTROLLED = {
    "train.seed": "give the seeds with --seeds",
    "frontend.kind": "choose the front-end with --frontend ssl|fbank",
    "frontend.upstream": "name the upstream with --upstream",
    "frontend.finetune": "choose --mode frozen or --mode fine-tuned",
}


def sv_command_config(profile: str, frontend: str, upstream: str, mode: str, seed: int,
                      overrides: Mapping[str, Any] | None = None) -> SVConfig:
    """The SV configuration of one seed: the profile's SV schedule, ``overrides``, then the command's choices.

    ``frontend="fbank"`` gives exactly the configuration of ``sslsv baseline``
    (same run hash, same cached run).
    """
    if frontend not in FRONTENDS:
        raise ConfigError(f"--frontend {frontend!r}: valid front-ends: {', '.join(FRONTENDS)}")
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: valid modes: {', '.join(MODES)}")
    refuse_controlled(overrides, CONTROLLED, "sslsv sv")
    sets = {**dict(overrides or {}), "train.seed": int(seed)}
    if frontend == "fbank":
        if upstream:
            raise ConfigError(f"--upstream {upstream!r} with --frontend fbank: the fbank front-end has no upstream; "
                              "drop --upstream, or use --frontend ssl")
        return resolve(profile, {**sets, "frontend.kind": "fbank"})
    if not upstream:
        raise ConfigError("--upstream is required with --frontend ssl: 'run:<run name>' (a pre-training run), a "
                          "directory written by save_pretrained, or a checkpoint name")
    return resolve(profile, {**sets, "frontend.kind": "ssl", "frontend.upstream": upstream,
                             "frontend.finetune": mode == "fine-tuned"})


def check_sv_data(cfg: SVConfig) -> None:
    """The corpus root and trial list of a ``voxceleb1`` source exist; each error names the key to set.

    >>> from sslsv.config import override
    >>> check_sv_data(override(SVConfig(), {"corpus.source": "voxceleb1", "corpus.voxceleb_root": ""}))
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: corpus.voxceleb_root is empty: set it to the directory holding wav/<speaker>/<session>/<utt>.wav and the trial list (--set corpus.voxceleb_root=...)
    """
    c = cfg.corpus
    if c.source != "voxceleb1":
        return
    if not c.voxceleb_root:
        raise ConfigError("corpus.voxceleb_root is empty: set it to the directory holding "
                          "wav/<speaker>/<session>/<utt>.wav and the trial list (--set corpus.voxceleb_root=...)")
    root = Path(c.voxceleb_root)
    if not root.is_dir():
        raise ConfigError(f"corpus.voxceleb_root={c.voxceleb_root!r}: no such directory; set corpus.voxceleb_root "
                          "to the directory holding wav/ and the trial list")
    if not (root / "wav").is_dir():
        raise ConfigError(f"corpus.voxceleb_root={c.voxceleb_root!r} has no wav/ directory: expected the VoxCeleb1 "
                          f"layout {root}/wav/<speaker>/<session>/<utt>.wav")
    trials = root / c.voxceleb_trials
    if not trials.is_file():
        raise ConfigError(f"trial list {trials} not found: set corpus.voxceleb_trials to the trial list (a path "
                          "relative to corpus.voxceleb_root, or absolute), lines 'label enroll test'")


def preflight(configs: Sequence[SVConfig], progress: bool = True) -> None:
    """Every check before any run directory: configuration, data root, trial list and corpus, augmentation
    directories, upstream."""
    from ..data import load_sv_corpus
    from ..upstreams import check_upstream
    from .pipeline import augmenter, check_sv_config

    for cfg in configs:
        check_sv_config(cfg)
    cfg = configs[0]
    check_sv_data(cfg)
    augmenter(cfg)  # the MUSAN / RIR directories, when set
    if cfg.frontend.kind == "ssl":
        check_upstream(cfg.frontend.upstream, "--upstream (frontend.upstream)")
    load_sv_corpus(cfg.corpus, progress=progress, check_files=False)  # the trial list is read and checked here


@dataclass
class UpstreamScore:
    """What ``sslsv sv`` reports: one SV run per seed, their metrics and layer weights."""

    upstream: str  # the reference as given ("" for fbank)
    frontend: str  # "ssl" | "fbank"
    mode: str  # "frozen" | "fine-tuned"
    results: list  # one sslsv.sv.pipeline.SVResult per seed
    per_seed: Any  # pandas DataFrame: one row per seed, metrics with intervals
    layer_weights: Any  # pandas DataFrame: seed x layer softmax weights (empty for fbank)


METRICS = ("eer_percent", "min_dcf_0.01", "min_dcf_0.05")
ASNORM_METRICS = ("asnorm_eer_percent", "asnorm_min_dcf_0.01", "asnorm_min_dcf_0.05")


def _interval_names(metric: str) -> tuple[str, str]:
    base = {"eer_percent": "eer", "asnorm_eer_percent": "asnorm_eer"}.get(metric, metric)
    return f"{base}_ci_low", f"{base}_ci_high"


def layer_weights(run) -> "Any":
    """The softmax layer weights ``(n_layers,)`` an SSL-front-end run learned (``None`` for fbank)."""
    import torch

    from ..artifacts import torch_load

    logits = torch_load(run.file("speaker_model.pt"))["model"].get("frontend.layer_logits")
    return None if logits is None else torch.softmax(logits.float(), dim=0).numpy()


def score_upstream(profile: str, upstream: str = "", mode: str = "frozen", frontend: str = "ssl",
                   seeds: Sequence[int] = (0,), overrides: Mapping[str, Any] | None = None,
                   progress: bool = True) -> UpstreamScore:
    """Train and score (or serve from the cache) one SV system per seed on ``upstream``."""
    import pandas as pd

    from ..config import check_seeds
    from .pipeline import run_sv

    seeds = check_seeds(seeds)
    configs = [sv_command_config(profile, frontend, upstream, mode, s, overrides) for s in seeds]
    preflight(configs, progress)
    results = [run_sv(cfg, progress=progress) for cfg in configs]
    rows, weights = [], []
    for seed, r in zip(seeds, results):
        row: dict[str, Any] = {"seed": int(seed)}
        for metric in METRICS + ASNORM_METRICS:
            if metric in r.metrics:
                lo, hi = _interval_names(metric)
                row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = \
                    r.metrics[metric], r.metrics.get(lo), r.metrics.get(hi)
        rows.append(row)
        w = layer_weights(r.run)
        if w is not None:
            weights.append({"seed": int(seed), **{f"layer_{i}": float(v) for i, v in enumerate(w)}})
    return UpstreamScore(upstream=upstream, frontend=frontend, mode=mode, results=results,
                         per_seed=pd.DataFrame(rows), layer_weights=pd.DataFrame(weights))


def format_report(score: UpstreamScore, digits: int = 2) -> str:
    """The command's printed report: metrics with their intervals per seed, mean +/- sd, layer weights, runs."""
    t = score.per_seed
    what = "fbank" if score.frontend == "fbank" else f"{score.upstream} ({score.mode})"
    lines = [f"speaker verification of {what}: EER (%) and minDCF with their "
             f"{100 * float(score.results[0].metrics.get('ci_level', 0.95)):g} % bootstrap intervals"]
    cols = [m for m in METRICS + ASNORM_METRICS if m in t.columns]
    table = t[["seed"]].copy()
    for m in cols:
        d = digits if m.endswith("eer_percent") else digits + 1
        table[m] = [f"{v:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" if lo is not None and lo == lo else f"{v:.{d}f}"
                    for v, lo, hi in zip(t[m], t[f"{m}_ci_low"], t[f"{m}_ci_high"])]
    lines.append(table.to_string(index=False))
    if len(t) > 1:
        lines.append("over seeds: " + ", ".join(f"{m} {t[m].mean():.{digits + 1}f} ± {t[m].std():.{digits + 1}f}"
                                                for m in cols))
    if len(score.layer_weights):
        w = score.layer_weights
        lines.append("layer weights (softmax of the featurizer; layer 0 = the embedding layer):")
        lines.append(w.round(3).to_string(index=False))
        lines.append(f"heaviest layer: {int(w.drop(columns='seed').mean().to_numpy().argmax())}")
    lines += [f"run: {r.run.path}" for r in score.results]
    return "\n".join(lines)

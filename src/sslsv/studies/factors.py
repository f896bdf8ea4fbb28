"""Shared machinery of the four factor studies (chapters 02-05) and their summary (06).

A factor study pre-trains one upstream per *condition* (one value of the
factor, everything else at the profile's default), trains the same
ECAPA-TDNN speaker-verification backend on each, once per seed, and
tabulates EER and minDCF.  Every chapter also shows two references trained
with the same SV schedule: the fbank front-end (no upstream at all) and the
upstream architecture from random weights (the same network, no pre-training).

Runs are shared through the run cache: the default condition of every study
(masked prediction on k-means-of-MFCC targets, default size, all the pool's
audio) is one pre-training run, and the two references are the same SV runs
in every chapter, so a second chapter or a re-build costs nothing.

Two kinds of seed: every condition's backend is trained once per SV seed
(``study.seeds``), and the conditions a study's verdict rests on (its
*deciding* conditions, named by each study module) are also pre-trained once
per pre-training seed (``study.pretrain_seeds``, each a ``pretrain.seed``),
crossed with the SV seeds.  :func:`seed_spread` then says how far each kind of
seed moves EER.  The other conditions are pre-trained with the first
pre-training seed only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..artifacts import Run, torch_load
from ..config import ConfigError, PretrainExperimentConfig, SVConfig, check_seeds, override, refuse_controlled, resolve
from . import controlled
from ..statistics import compare
from ..sv.pipeline import SVResult, run_sv
from .baseline import METRIC_COLUMNS, per_seed_table, summarise
from ..config import study_settings
from ..settings import VALID_MODES

__all__ = ["Condition", "FactorStudy", "PlannedRun", "DEFAULT_RUN", "factor_plan", "run_factor_study",
           "difference", "layer_weights", "pretrain_config", "sv_config", "preflight", "trend", "seed_spread"]



DEFAULT_RUN = "{default}"  # placeholder for the default pre-training run's name (k-means iteration 2)
FBANK = "fbank"
RANDOM = "random init"


@dataclass(frozen=True)
class Condition:
    """One row of a factor study: a label and what differs from the defaults."""

    label: str
    kind: str = "ssl"  # "ssl" (pre-trained upstream), "random" (same architecture, random weights) or "fbank"
    pretrain: Mapping[str, Any] = field(default_factory=dict)  # PretrainExperimentConfig overrides
    reference: bool = False  # a reference row (fbank, random init), not a value of the factor


def references() -> list[Condition]:
    """The fbank and random-initialisation references shown in every chapter."""
    return [Condition(FBANK, kind="fbank", reference=True), Condition(RANDOM, kind="random", reference=True)]


def _split(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(overrides or {})


def pretrain_config(profile: str, cond: Condition, overrides: Mapping[str, Any] | None = None,
                    pretrain_overrides: Mapping[str, Any] | None = None) -> PretrainExperimentConfig:
    """The pre-training configuration of a condition (corpus keys of ``overrides`` carry over)."""
    corpus = {k: v for k, v in _split(overrides).items() if k.startswith("corpus.")}
    sets = {**corpus, **_split(pretrain_overrides), **dict(cond.pretrain)}
    if sets.get("pretrain.kmeans_source") == DEFAULT_RUN:
        default = Run("pretrain", pretrain_config(profile, Condition("default"), overrides, pretrain_overrides))
        sets["pretrain.kmeans_source"] = f"run:{default.path.name}"
    return resolve(profile, sets, base=PretrainExperimentConfig())


def sv_config(profile: str, cond: Condition, seed: int, mode: str = "frozen",
              overrides: Mapping[str, Any] | None = None, upstream: str = "",
              pretrain_overrides: Mapping[str, Any] | None = None) -> SVConfig:
    """The SV configuration of a condition, seed and upstream mode, on the study schedule."""
    if mode not in VALID_MODES:
        raise ConfigError(f"unknown upstream mode {mode!r}; valid modes: {', '.join(VALID_MODES)}")
    sets = {**study_settings(profile).sv.overrides(), **_split(overrides), "train.seed": int(seed)}
    if cond.kind == "fbank":
        return resolve(profile, {**sets, "frontend.kind": "fbank"})
    if cond.kind == "random":
        pre = pretrain_config(profile, cond, overrides, pretrain_overrides).pretrain
        upstream = f"init:{pre.backbone}:{pre.size}"
    elif not upstream:
        raise ConfigError(f"condition {cond.label!r} needs an upstream reference")
    finetune = mode == "fine-tuned"
    return resolve(profile, {"frontend.cache_features": study_settings(profile).cache_features and not finetune,
                             **sets, "frontend.kind": "ssl", "frontend.upstream": upstream,
                             "frontend.finetune": finetune})


def _check_data_root(cfg: SVConfig) -> None:
    c = cfg.corpus
    if c.source == "synthetic":
        return
    checks = [("corpus.voxceleb_root", c.voxceleb_root, ("wav",)),
              ("corpus.librispeech_root", c.librispeech_root, ())]
    for key, root, subdirs in checks:
        if not root:
            raise ConfigError(f"{key} is empty: set it to the dataset's directory (see the introduction)")
        path = Path(root)
        if not path.is_dir():
            raise FileNotFoundError(f"{key}={root!r} does not exist: download the dataset there or set {key}")
        for sub in subdirs:
            if not (path / sub).is_dir():
                raise FileNotFoundError(f"{key}={root!r} has no {sub}/ directory: expected the VoxCeleb1 layout "
                                        f"{root}/{sub}/<speaker>/<session>/<utt>.wav")
    trials = Path(c.voxceleb_root) / c.voxceleb_trials
    if not trials.is_file():
        raise FileNotFoundError(f"trial list {trials} not found: set corpus.voxceleb_trials or copy it there")
    for subset in c.librispeech_subsets:
        base = Path(c.librispeech_root)
        if not ((base / "LibriSpeech" / subset).is_dir() or (base / subset).is_dir()):
            raise FileNotFoundError(f"LibriSpeech subset {subset!r} not found under {base} "
                                    f"(expected {base}/LibriSpeech/{subset}/ or {base}/{subset}/)")


def preflight(profile: str, conditions: Sequence[Condition], seeds: Sequence[int], modes: Sequence[str],
              overrides: Mapping[str, Any] | None = None,
              pretrain_overrides: Mapping[str, Any] | None = None) -> None:
    """Every check that can fail, before any compute: names, values, data roots, checkpoints."""
    from ..pretrain.train import check_config
    from ..sv.featurizer import upstream_exists

    check_seeds(seeds)
    refuse_controlled(overrides, controlled.FACTOR_STUDY, "a factor study")
    for key in sorted({k for c in conditions for k in c.pretrain} & set(pretrain_overrides or {})):
        labels = [c.label for c in conditions if key in c.pretrain]
        raise ConfigError(f"the study's conditions ({', '.join(labels)}) set {key} themselves, so --pretrain-set "
                          f"{key}={pretrain_overrides[key]!r} would be ignored for them; that key is the factor "
                          "being varied, so run the conditions you want through the study's own arguments")
    if "pretrain.seed" in (pretrain_overrides or {}):
        raise ConfigError(f"--pretrain-set pretrain.seed={pretrain_overrides['pretrain.seed']!r} would be ignored: "
                          "a factor study pre-trains its deciding conditions once per pre-training seed; give "
                          "them with pretrain_seeds=[...] (the profile's study.pretrain_seeds by default)")
    for m in modes:
        if m not in VALID_MODES:
            raise ConfigError(f"unknown upstream mode {m!r}; valid modes: {', '.join(VALID_MODES)}")
    base = sv_config(profile, Condition(FBANK, kind="fbank"), seeds[0], overrides=overrides)
    _check_data_root(base)
    for cond in conditions:
        if cond.kind == "fbank":
            continue
        pre = pretrain_config(profile, cond, overrides, pretrain_overrides)
        if pre.corpus != base.corpus:
            raise ConfigError("the pre-training and SV corpus configurations differ; override corpus keys in "
                             "`overrides` only")
        check_config(pre.pretrain)
        if pre.pretrain.init and not upstream_exists(pre.pretrain.init):
            raise FileNotFoundError(f"condition {cond.label!r}: upstream checkpoint {pre.pretrain.init!r} "
                                    "not found (a directory, or a hub name already in the local cache)")


@dataclass
class FactorStudy:
    """The outcome of one factor study."""

    factor: str
    profile: str
    conditions: list[Condition]
    results: dict[tuple[str, str, int | None, int], SVResult]  # (label, mode, pre-training seed, SV seed) -> run
    pretrain_runs: dict[tuple[str, int], Run]  # (label, pre-training seed) -> pre-training run
    per_seed: pd.DataFrame  # one row per SV run (pretrain_seed: <NA> for the references)
    summary: pd.DataFrame  # mean and sd over seeds per (system, upstream)

    @property
    def order(self) -> list[str]:
        return [c.label for c in self.conditions]

    def pretraining_table(self) -> pd.DataFrame:
        """Diagnostics of each pre-training run: loss, masked accuracy against chance, codebook use, cost."""
        rows = []
        for (label, pretrain_seed), run in self.pretrain_runs.items():
            m = run.metrics()
            cfg = run.config
            rows.append({
                "system": label, "pretrain_seed": pretrain_seed,
                "objective": m["objective"], "quantizer": m.get("quantizer") or "-", "size": m["size"],
                "hours": round(float(m.get("hours", cfg.pretrain.hours or cfg.corpus.pretrain_hours)), 3),
                "parameters_M": round(m["parameters"] / 1e6, 2),
                "loss_first": m["loss_first"], "loss_last": m["loss_last"],
                # held-out accuracy on masked and on unmasked frames (contrastive: picking the true
                # frame) against its chance level (majority class; uniform for contrastive); CTC
                # reports its phone error rate instead
                "masked_acc": m.get("eval", {}).get("masked_acc", m.get("contrastive_acc_eval")),
                "unmasked_acc": m.get("eval", {}).get("unmasked_acc"),
                "chance": m.get("chance_majority", m.get("chance_uniform")),
                "phone_error_rate": m.get("token_error_rate_eval"),
                "above_chance": m.get("above_chance"),
                "target_perplexity": m.get("targets", {}).get("perplexity"),
                "minutes": round(m["seconds"] / 60, 1),
            })
        return pd.DataFrame(rows)

    def layer_weights(self) -> pd.DataFrame:
        """Mean learned layer weight per (system, layer) over the seeds of the frozen runs."""
        rows = []
        for (label, mode, _, seed), r in self.results.items():
            w = layer_weights(r.run)
            if w is None:
                continue
            rows += [{"system": label, "upstream": mode, "seed": seed, "layer": i, "weight": float(x)}
                     for i, x in enumerate(w)]
        if not rows:
            return pd.DataFrame(columns=["system", "upstream", "layer", "weight"])
        df = pd.DataFrame(rows)
        return df.groupby(["system", "upstream", "layer"], sort=False)["weight"].mean().reset_index()


def layer_weights(run: Run) -> np.ndarray | None:
    """The softmax layer weights learned by an SSL-front-end SV run (``None`` for fbank)."""
    import torch

    state = torch_load(run.file("speaker_model.pt"))["model"]
    logits = state.get("frontend.layer_logits")
    if logits is None:
        return None
    return torch.softmax(logits.float(), dim=0).numpy()


def check_choices(what: str, given: Sequence[Any], valid: Sequence[Any]) -> None:
    """Refuse levels of a factor that do not exist, naming them and the valid ones.

    >>> check_choices("sizes", ["tiny", "huge"], ("tiny", "small"))
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: unknown sizes 'huge'; valid sizes: tiny, small
    """
    bad = [g for g in given if g not in valid]
    if bad:
        raise ConfigError(f"unknown {what} {', '.join(map(repr, bad))}; valid {what}: {', '.join(map(str, valid))}")


def factor_runner(factor: str, conditions_of: Callable[[str, Any, Mapping[str, Any] | None], list[Condition]],
                  levels: str, deciding: Callable[[Sequence[Condition]], Sequence[str]] = lambda conds: ()
                  ) -> Callable[..., "FactorStudy"]:
    """The ``run`` function of a factor-study module (chapters 02-05).

    ``run(profile, seeds, values, modes, overrides, pretrain_overrides, progress, pretrain_seeds)``
    pre-trains one upstream per level of the factor and trains the SV backend on each, once per seed;
    ``values`` are the levels (``None``: the profile's), turned into conditions by
    ``conditions_of(profile, values, overrides)``. ``levels`` names them in the docstring.
    ``deciding(conditions)`` names the conditions the study's verdict rests on: those are pre-trained
    once per pre-training seed (``pretrain_seeds``; ``None``: the profile's ``study.pretrain_seeds``).
    """

    def run(profile: str = "cpu", seeds: Sequence[int] | None = None, values: Sequence[Any] | None = None,
            modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
            pretrain_overrides: Mapping[str, Any] | None = None, progress: bool = True,
            pretrain_seeds: Sequence[int] | None = None) -> FactorStudy:
        conditions = conditions_of(profile, values, overrides)
        return run_factor_study(factor, profile, conditions, seeds, modes, overrides, pretrain_overrides, progress,
                                pretrain_seeds, deciding(conditions))

    def plan(profile: str = "cpu", seeds: Sequence[int] | None = None, values: Sequence[Any] | None = None,
             modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
             pretrain_overrides: Mapping[str, Any] | None = None,
             pretrain_seeds: Sequence[int] | None = None) -> list[PlannedRun]:
        seeds = tuple(study_settings(profile).seeds if seeds is None else seeds)
        modes = tuple(study_settings(profile).modes if modes is None else modes)
        conditions = conditions_of(profile, values, overrides)
        return factor_plan(profile, conditions, seeds, modes, overrides, pretrain_overrides,
                           _pretrain_seeds(profile, pretrain_seeds), deciding(conditions))

    run.plan = plan  # every run it needs, computing nothing
    run.deciding = deciding
    run.__doc__ = (f"The {factor} study: pre-train one upstream per {levels} (``values``; ``None``: the "
                   "profile's) and train the SV backend on each, once per seed (see "
                   ":func:`~sslsv.studies.factors.factor_runner`).")
    return run


def extremes(conditions: Sequence[Condition]) -> tuple[str, ...]:
    """The smallest and the largest level of an ordered factor: what a "more X helps" verdict compares."""
    labels = [c.label for c in conditions if not c.reference]
    return tuple(dict.fromkeys([labels[0], labels[-1]])) if labels else ()


def _pretrain_seeds(profile: str, pretrain_seeds: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(check_seeds(study_settings(profile).pretrain_seeds if pretrain_seeds is None else pretrain_seeds,
                             "pretrain_seeds"))


@dataclass(frozen=True)
class PlannedRun:
    """One run a study needs: its kind (``pretrain`` or ``sv``), what it is, and its config."""

    kind: str
    label: str  # the condition (system) it belongs to
    mode: str  # "frozen", "fine-tuned" or "fbank" for SV; the role of a pre-training run
    seed: int | None  # the SV seed (None for a pre-training run)
    config: Any
    pretrain_seed: int | None = None  # the upstream's pre-training seed (None: no pre-trained upstream)

    @property
    def run(self) -> Run:
        return Run(self.kind, self.config)

    @property
    def steps(self) -> int:
        return int(self.config.optim.steps if self.kind == "pretrain" else self.config.train.steps)


def factor_plan(profile: str, conditions: Sequence[Condition], seeds: Sequence[int], modes: Sequence[str],
                overrides: Mapping[str, Any] | None = None,
                pretrain_overrides: Mapping[str, Any] | None = None, pretrain_seeds: Sequence[int] = (0,),
                deciding: Sequence[str] = ()) -> list[PlannedRun]:
    """Every run of a factor study, in the order it computes them (nothing is computed).

    A condition in ``deciding`` is pre-trained once per seed of ``pretrain_seeds`` (each with its SV
    seeds); every other condition with the first pre-training seed only.
    """
    plan: list[PlannedRun] = []
    for cond in conditions:
        upstreams: list[tuple[int | None, str]] = [(None, "")]
        if cond.kind == "ssl":
            upstreams = []
            for p in (pretrain_seeds if cond.label in deciding else pretrain_seeds[:1]):
                pre_sets = {**dict(pretrain_overrides or {}), "pretrain.seed": int(p)}
                if cond.pretrain.get("pretrain.kmeans_source") == DEFAULT_RUN:  # iteration 2 needs iteration 1
                    plan.append(PlannedRun("pretrain", cond.label, "iteration 1", None,
                                           pretrain_config(profile, Condition("default"), overrides, pre_sets),
                                           int(p)))
                pre = PlannedRun("pretrain", cond.label, "upstream", None,
                                 pretrain_config(profile, cond, overrides, pre_sets), int(p))
                plan.append(pre)
                upstreams.append((int(p), f"run:{pre.run.path.name}"))
        for p, upstream in upstreams:
            for mode in (("fbank",) if cond.kind == "fbank" else modes):
                for s in seeds:
                    cfg = sv_config(profile, cond, s, "frozen" if mode == "fbank" else mode, overrides, upstream,
                                    pretrain_overrides)
                    plan.append(PlannedRun("sv", cond.label, mode, int(s), cfg, p))
    return plan


def run_factor_study(factor: str, profile: str, conditions: Sequence[Condition], seeds: Sequence[int] | None = None,
                     modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
                     pretrain_overrides: Mapping[str, Any] | None = None, progress: bool = True,
                     pretrain_seeds: Sequence[int] | None = None, deciding: Sequence[str] = ()) -> FactorStudy:
    """Pre-train (or reuse) each condition's upstream(s) and train (or reuse) its SV systems."""
    from ..pretrain.train import pretrain

    seeds = tuple(study_settings(profile).seeds if seeds is None else seeds)
    modes = tuple(study_settings(profile).modes if modes is None else modes)
    pretrain_seeds = _pretrain_seeds(profile, pretrain_seeds)
    conditions = list(conditions)
    preflight(profile, conditions, seeds, modes, overrides, pretrain_overrides)
    results: dict[tuple[str, str, int | None, int], SVResult] = {}
    pre_runs: dict[tuple[str, int], Run] = {}
    groups: dict[tuple[str, str], list[tuple[int | None, SVResult]]] = {}
    for item in factor_plan(profile, conditions, seeds, modes, overrides, pretrain_overrides, pretrain_seeds,
                            deciding):
        if item.kind == "pretrain":
            run = pretrain(item.config, progress=progress)
            if item.mode != "iteration 1":
                pre_runs[(item.label, int(item.pretrain_seed))] = run
            continue
        r = run_sv(item.config, progress=progress)
        results[(item.label, item.mode, item.pretrain_seed, int(item.seed))] = r
        groups.setdefault((item.label, item.mode), []).append((item.pretrain_seed, r))
    reference = {c.label: c.reference for c in conditions}
    tables = []
    for (label, mode), runs in groups.items():
        t = per_seed_table([r for _, r in runs], label)
        t.insert(1, "upstream", mode)
        t.insert(2, "reference", reference[label])
        t.insert(3, "pretrain_seed", pd.array([p for p, _ in runs], dtype="Int64"))
        tables.append(t)
    per_seed = pd.concat(tables, ignore_index=True)
    summary = summarise(per_seed, by=("system", "upstream", "reference"))
    return FactorStudy(factor=factor, profile=profile, conditions=conditions, results=results,
                       pretrain_runs=pre_runs, per_seed=per_seed, summary=summary)


def seed_spread(per_seed: pd.DataFrame, metric: str = "eer_percent") -> pd.DataFrame:
    """How far each kind of seed moves ``metric``, for every system pre-trained with several seeds.

    ``eer_sd_pretrain_seed``: the standard deviation, over pre-training seeds, of the mean over SV seeds;
    ``eer_sd_sv_seed``: the standard deviation over SV seeds within one upstream, averaged over upstreams
    (for another ``metric`` the names start with it instead of ``eer``).

    >>> t = pd.DataFrame({"system": ["m"] * 4, "upstream": ["frozen"] * 4, "pretrain_seed": [0, 0, 1, 1],
    ...                   "seed": [0, 1, 0, 1], "eer_percent": [10.0, 12.0, 20.0, 22.0]})
    >>> r = seed_spread(t).iloc[0]
    >>> float(r["eer_sd_pretrain_seed"]), float(r["eer_sd_sv_seed"]), int(r["runs"])
    (7.0710678118654755, 1.4142135623730951, 4)
    """
    rows = []
    name = "eer" if metric == "eer_percent" else metric
    t = per_seed.dropna(subset=["pretrain_seed"])
    for (system, mode), g in t.groupby(["system", "upstream"], sort=False):
        if g["pretrain_seed"].nunique() < 2:
            continue
        by = g.groupby("pretrain_seed")[metric]
        rows.append({"system": system, "upstream": mode, "pretrain_seeds": int(g["pretrain_seed"].nunique()),
                     "sv_seeds": int(g["seed"].nunique()), "runs": len(g),
                     f"{name}_mean": float(g[metric].mean()),
                     f"{name}_sd_pretrain_seed": float(by.mean().std()),
                     f"{name}_sd_sv_seed": float(by.std().mean()) if by.size().min() > 1 else float("nan")})
    return pd.DataFrame(rows, columns=["system", "upstream", "pretrain_seeds", "sv_seeds", "runs", f"{name}_mean",
                                       f"{name}_sd_pretrain_seed", f"{name}_sd_sv_seed"])


# ---------------------------------------------------------------------------
# Comparisons in words
# ---------------------------------------------------------------------------


def difference(per_seed: pd.DataFrame, a: str, b: str, metric: str = "eer_percent",
               upstream: str | None = None) -> dict[str, Any]:
    """How ``a`` compares with ``b`` on ``metric`` (lower is better).

    ``delta`` is mean(a) - mean(b); whether it is *clear* is
    :func:`sslsv.statistics.compare`: with several seeds, its 95 % Welch
    interval over seeds excludes zero (``ci95`` is the interval's half-width,
    ``p`` Welch's p-value); with one seed, non-overlapping bootstrap intervals.

    >>> t = pd.DataFrame({"system": ["x"] * 3 + ["y"] * 3, "eer_percent": [10, 11, 12, 20, 21, 22.0],
    ...                   "eer_percent_ci_low": [9] * 6, "eer_percent_ci_high": [23] * 6})
    >>> d = difference(t, "x", "y"); (d["delta"], d["clear"], d["better"])
    (-10.0, True, 'x')
    """
    def rows(name: str) -> pd.DataFrame:
        sel = per_seed[per_seed["system"] == name]
        if upstream is not None and name not in (FBANK,):
            sel = sel[sel["upstream"] == upstream] if "upstream" in sel else sel
        if sel.empty:
            raise KeyError(f"no runs of system {name!r}; systems: {', '.join(per_seed['system'].unique())}")
        return sel

    ra, rb = rows(a), rows(b)

    def interval(r: pd.DataFrame) -> tuple[float, float] | None:
        cols = (f"{metric}_ci_low", f"{metric}_ci_high")
        return (r[cols[0]].min(), r[cols[1]].max()) if set(cols) <= set(r) else None

    d = compare(ra[metric].to_numpy(float), rb[metric].to_numpy(float), interval(ra), interval(rb))
    better = a if d.delta < 0 else b
    return {"a": a, "b": b, "delta": d.delta, "se": d.se, "p": d.p, "ci95": d.half_width, "clear": d.clear,
            "better": better}


def describe_difference(d: Mapping[str, Any], unit: str = " EER points") -> str:
    """``masked`` vs ``unmasked`` in words, e.g. "3.10 EER points lower (clear)"."""
    word = "lower" if d["delta"] < 0 else "higher"
    se = "" if np.isnan(d["ci95"]) else f" ± {d['ci95']:.2f} (95 %)"
    status = "a clear difference" if d["clear"] else "within the noise"
    return f"**{d['a']}** is {abs(d['delta']):.2f}{se}{unit} {word} than **{d['b']}** ({status})"


def trend(per_seed: pd.DataFrame, systems: Sequence[str], values: Sequence[float],
          metric: str = "eer_percent") -> dict[str, Any]:
    """Spearman rank correlation between a factor's value and the metric over all runs.

    Negative means the metric falls (improves) as the factor grows.
    """
    from scipy.stats import spearmanr

    xs, ys = [], []
    for name, v in zip(systems, values):
        sel = per_seed[per_seed["system"] == name][metric].to_numpy(float)
        xs += [float(v)] * len(sel)
        ys += list(sel)
    rho, p = spearmanr(xs, ys) if len(set(xs)) > 1 else (float("nan"), float("nan"))
    return {"rho": float(rho), "p": float(p), "n": len(ys)}


def comparison_table(study: FactorStudy, against: Sequence[str] = (FBANK, RANDOM),
                     metric: str = "eer_percent") -> pd.DataFrame:
    """Each condition against each reference: the difference of means and whether it is clear."""
    rows = []
    for cond in study.conditions:
        if cond.reference:
            continue
        for ref in against:
            d = difference(study.per_seed, cond.label, ref, metric)
            rows.append({"system": cond.label, "against": ref, "delta": round(d["delta"], 2),
                         "ci95": round(d["ci95"], 2) if not np.isnan(d["ci95"]) else None,
                         "clear": d["clear"]})
    return pd.DataFrame(rows)


def verdict(reproduced: bool, contradicted: bool) -> str:
    """The three verdicts of the summary chapter."""
    if reproduced:
        return "reproduced"
    if contradicted:
        return "not reproduced"
    return "inconclusive"


def scale_claim(study: FactorStudy, values: Mapping[str, float], claim: str, mode: str = "frozen") -> dict[str, Any]:
    """A "more X helps" claim over ordered conditions (smallest first) with numeric ``values``.

    Reproduced when the largest condition is clearly better than the
    smallest and the metric falls with the value (negative rank
    correlation); not reproduced when the largest is clearly worse.
    """
    labels = [c.label for c in study.conditions if not c.reference]
    d = difference(study.per_seed, labels[-1], labels[0], upstream=mode)
    t = trend(study.per_seed, labels, [values[x] for x in labels])
    return {"claim": claim, "evidence": [d], "trend": t,
            "verdict": verdict(d["clear"] and d["delta"] < 0 and t["rho"] < 0, d["clear"] and d["delta"] > 0)}


def scale_finding(study: FactorStudy, c: Mapping[str, Any], quantity: str, largest: str, mode: str = "frozen") -> str:
    """The finding of a :func:`scale_claim` in words."""
    t = c["trend"]
    labels = [x.label for x in study.conditions if not x.reference]
    lines = [f"**Verdict on the paper's claim** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale.",
             f"- {describe_difference(c['evidence'][0])}.",
             f"- Rank correlation between {quantity} and EER over all {t['n']} runs: ρ = {t['rho']:.2f} "
             f"(p = {t['p']:.2g}); negative means more {quantity}, lower EER."]
    for ref in (RANDOM, FBANK):
        lines.append(f"- {largest} against {ref}: "
                     f"{describe_difference(difference(study.per_seed, labels[-1], ref, upstream=mode))}.")
    return "\n".join(lines)

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

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..artifacts import Run, torch_load
from ..config import Profile, profile_context
from ..settings import deciding_mode
from ..sv.pipeline import SVResult, run_sv
from .compare import per_seed_table, summarise
from .runs import Condition, PlannedRun, factor_plan, preflight, pretrain_seeds_of

__all__ = ["FactorStudy", "factor_runner", "run_factor_study", "layer_weights"]


@dataclass
class FactorStudy:
    """The outcome of one factor study."""

    factor: str
    profile: str
    conditions: list[Condition]
    results: dict[tuple[str, str, int | None, int], SVResult]  # (system, mode, pre-training seed, SV seed) -> run
    pretrain_runs: dict[tuple[str, int], Run]  # (system, pre-training seed) -> pre-training run
    per_seed: pd.DataFrame  # one row per SV run, ``system`` its key (pretrain_seed: <NA> for the references)
    summary: pd.DataFrame  # mean and sd over seeds per (system, mode)

    @property
    def mode(self) -> str:
        """The upstream mode the verdicts read (:func:`sslsv.settings.deciding_mode`): fine-tuned where it ran."""
        return deciding_mode(self.per_seed["mode"].unique())

    @property
    def order(self) -> list[str]:
        """The system keys, in the study's order."""
        return [c.system for c in self.conditions]

    def pretraining_table(self) -> pd.DataFrame:
        """Diagnostics of each pre-training run: loss, masked accuracy against chance, codebook use, cost."""
        rows = []
        for (system, pretrain_seed), run in self.pretrain_runs.items():
            m = run.metrics()
            cfg = run.config
            rows.append({
                "system": system, "pretrain_seed": pretrain_seed,
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
        for (system, mode, _, seed), r in self.results.items():
            w = layer_weights(r.run)
            if w is None:
                continue
            rows += [{"system": system, "mode": mode, "seed": seed, "layer": i, "weight": float(x)}
                     for i, x in enumerate(w)]
        if not rows:
            return pd.DataFrame(columns=["system", "mode", "layer", "weight"])
        df = pd.DataFrame(rows)
        return df.groupby(["system", "mode", "layer"], sort=False)["weight"].mean().reset_index()


def layer_weights(run: Run) -> np.ndarray | None:
    """The softmax layer weights learned by an SSL-front-end SV run (``None`` for fbank)."""
    import torch

    state = torch_load(run.file("speaker_model.pt"))["model"]
    logits = state.get("frontend.layer_logits")
    if logits is None:
        return None
    return torch.softmax(logits.float(), dim=0).numpy()


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
        profile = profile_context(profile)  # read once, passed down
        conditions = conditions_of(profile, values, overrides)
        return run_factor_study(factor, profile, conditions, seeds, modes, overrides, pretrain_overrides, progress,
                                pretrain_seeds, deciding(conditions))

    def plan(profile: str = "cpu", seeds: Sequence[int] | None = None, values: Sequence[Any] | None = None,
             modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
             pretrain_overrides: Mapping[str, Any] | None = None,
             pretrain_seeds: Sequence[int] | None = None) -> list[PlannedRun]:
        profile = profile_context(profile)
        seeds = tuple(profile.study.seeds if seeds is None else seeds)
        modes = tuple(profile.study.modes if modes is None else modes)
        conditions = conditions_of(profile, values, overrides)
        return factor_plan(profile, conditions, seeds, modes, overrides, pretrain_overrides,
                           pretrain_seeds_of(profile, pretrain_seeds), deciding(conditions))

    run.plan = plan  # every run it needs, computing nothing
    run.deciding = deciding
    run.__doc__ = (f"The {factor} study: pre-train one upstream per {levels} (``values``; ``None``: the "
                   "profile's) and train the SV backend on each, once per seed (see "
                   ":func:`~sslsv.studies.factors.factor_runner`).")
    return run


def run_factor_study(factor: str, profile: str | Profile, conditions: Sequence[Condition],
                     seeds: Sequence[int] | None = None,
                     modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
                     pretrain_overrides: Mapping[str, Any] | None = None, progress: bool = True,
                     pretrain_seeds: Sequence[int] | None = None, deciding: Sequence[str] = ()) -> FactorStudy:
    """Pre-train (or reuse) each condition's upstream(s) and train (or reuse) its SV systems."""
    from ..pretrain.train import pretrain

    profile = profile_context(profile)
    seeds = tuple(profile.study.seeds if seeds is None else seeds)
    modes = tuple(profile.study.modes if modes is None else modes)
    pretrain_seeds = pretrain_seeds_of(profile, pretrain_seeds)
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
                pre_runs[(item.system, int(item.pretrain_seed))] = run
            continue
        r = run_sv(item.config, progress=progress)
        results[(item.system, item.mode, item.pretrain_seed, int(item.seed))] = r
        groups.setdefault((item.system, item.mode), []).append((item.pretrain_seed, r))
    reference = {c.system: c.reference for c in conditions}
    tables = []
    for (system, mode), runs in groups.items():
        t = per_seed_table([r for _, r in runs], system)
        t.insert(1, "mode", mode)
        t.insert(2, "reference", reference[system])
        t.insert(3, "pretrain_seed", pd.array([p for p, _ in runs], dtype="Int64"))
        tables.append(t)
    per_seed = pd.concat(tables, ignore_index=True)
    summary = summarise(per_seed, by=("system", "mode", "reference"))
    return FactorStudy(factor=factor, profile=profile.name, conditions=conditions, results=results,
                       pretrain_runs=pre_runs, per_seed=per_seed, summary=summary)



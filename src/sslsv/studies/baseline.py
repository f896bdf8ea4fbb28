"""Study 01: the fbank ECAPA-TDNN baseline on the corpus of a profile.

``run(profile, seeds)`` trains one system per seed (each its own cached
run), and returns tidy tables: one row per seed, and the mean +/- sd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from ..config import Profile, SVConfig, check_seeds, override, profile_context, refuse_controlled, resolve
from ..sv.pipeline import SVResult, run_sv
from . import controlled
from .compare import per_seed_table, summarise
from ..systems import FBANK
from .runs import PlannedRun


@dataclass
class StudyResult:
    config: SVConfig  # the resolved configuration (seed of the first run)
    results: list[SVResult]  # one per seed
    per_seed: pd.DataFrame  # one row per seed: metrics with confidence intervals
    summary: pd.DataFrame  # mean and sd over seeds


def plan(profile: str | Profile = "cpu", seeds: Sequence[int] = (0, 1, 2), overrides: Mapping[str, Any] | None = None):
    """The baseline's runs (:class:`~sslsv.studies.runs.PlannedRun`), one per seed, computing nothing."""
    seeds = check_seeds(seeds)
    refuse_controlled(overrides, controlled.BASELINE, "the baseline")
    cfg = resolve(profile, overrides)
    return [PlannedRun("sv", FBANK, "fbank", int(s), override(cfg, {"train.seed": int(s), "frontend.kind": "fbank"}))
            for s in seeds]


def run(profile: str | Profile = "cpu", seeds: Sequence[int] = (0, 1, 2), overrides: Mapping[str, Any] | None = None,
        progress: bool = True) -> StudyResult:
    """Train and evaluate the fbank baseline once per seed."""
    profile = profile_context(profile)  # read once
    planned = plan(profile, seeds, overrides)
    cfg = resolve(profile, overrides)
    results = [run_sv(item.config, progress=progress) for item in planned]
    table = per_seed_table(results, FBANK)
    return StudyResult(config=cfg, results=results, per_seed=table, summary=summarise(table))


def finding(study: StudyResult) -> str:
    """The chapter's finding in words, computed from the numbers."""
    s = study.summary.iloc[0]
    n = int(s["n_seeds"])
    eer_m, eer_sd = s["eer_percent_mean"], s["eer_percent_std"]
    lows, highs = study.per_seed["eer_percent_ci_low"], study.per_seed["eer_percent_ci_high"]
    spread = f" ± {eer_sd:.2f}" if n > 1 else ""
    text = (f"The fbank ECAPA-TDNN reaches an EER of **{eer_m:.2f}{spread} %** over {n} seed(s) "
            f"(per-seed 95% bootstrap intervals from {lows.min():.2f} to {highs.max():.2f} %), "
            f"minDCF(0.01) {s['min_dcf_0.01_mean']:.3f} and minDCF(0.05) {s['min_dcf_0.05_mean']:.3f}. ")
    if lows.min() > 0.5 and highs.max() < 40:
        text += ("The task is neither trivial nor hopeless: every interval lies clearly above 0 % and "
                 "clearly below chance (50 %), so there is room for a better front-end to show.")
    elif highs.max() >= 40:
        text += ("The baseline is close to chance at this scale: differences between front-ends will be "
                 "hard to resolve.")
    else:
        text += "The baseline is close to perfect at this scale: the corpus may be too easy to separate front-ends."
    return text

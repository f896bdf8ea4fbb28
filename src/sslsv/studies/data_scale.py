"""Study 04: does more pre-training *data* help speaker verification?

The paper reports that it does.  The conditions differ only in
``pretrain.hours``, the amount of audio drawn (seeded) from the unlabeled
pool; the number of updates is fixed, so a smaller pool is seen more often.
The largest amount is the whole pool, i.e. the default run shared with the
other chapters.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..config import ConfigError, resolve
from ..config import study_settings
from .factors import FactorStudy, factor_runner
from .findings import scale_claim, scale_finding
from ..systems import hours_key, shown
from .runs import Condition, extremes, references



def conditions(profile: str, hours: Sequence[float] | None = None,
               overrides: Mapping[str, Any] | None = None) -> list[Condition]:
    """References, then one condition per amount (``pretrain.hours``; the whole pool as 0 = all), keyed by its
    hours (:func:`sslsv.systems.hours_key`: ``"0.25"``, shown as ``0.25 h``)."""
    hours = tuple(study_settings(profile).data_scale_hours if hours is None else hours)
    pool = resolve(profile, {k: v for k, v in (overrides or {}).items() if k.startswith("corpus.")}).corpus
    bad = [h for h in hours if not 0 < float(h) <= pool.pretrain_hours + 1e-9] if pool.source == "synthetic" else \
        [h for h in hours if not float(h) > 0]
    if bad:
        raise ConfigError(f"pre-training hours {bad} outside (0, {pool.pretrain_hours:g}]: the synthetic pool of this "
                         f"profile holds corpus.pretrain_hours={pool.pretrain_hours:g} h")
    if len(set(hours)) < 2:
        raise ConfigError(f"give at least two different amounts of pre-training audio, got {list(hours)}")
    out = references()
    for h in sorted(hours):
        whole = pool.source == "synthetic" and abs(float(h) - pool.pretrain_hours) < 1e-9
        out.append(Condition(hours_key(h), pretrain={"pretrain.hours": 0.0 if whole else float(h)}))
    return out


def amounts(study: FactorStudy) -> dict[str, float]:
    """Hours of audio each condition was actually pre-trained on (from its run's pool)."""
    # reads every run's metrics once; every pre-training seed of a condition saw the same amount
    table = study.pretraining_table().drop_duplicates("system").set_index("system")
    return {c.system: float(table.loc[c.system, "hours"]) for c in study.conditions if not c.reference}


run = factor_runner("data scale", conditions, "amount of pre-training audio (hours; default: the profile's)",
                    deciding=extremes)  # the verdict compares the least and the most audio


def claim(study: FactorStudy, mode: str | None = None) -> dict[str, Any]:
    """The paper's claim, more pre-training data helps, judged by :func:`~sslsv.studies.findings.scale_claim`."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    return scale_claim(study, amounts(study), "more pre-training data helps", mode)


def audio_seen(study: FactorStudy) -> float:
    """Hours of crops every upstream of the study was trained on (updates x batch x crop; the same for all)."""
    cfg = next(iter(study.pretrain_runs.values())).config
    return cfg.optim.steps * cfg.optim.batch_size * cfg.pretrain.crop_seconds / 3600


def coverage_note(hours: dict[str, float], seen: float) -> str:
    """Whether the budget of updates could show what more audio does: the passes each pool got.

    >>> coverage_note({"0.1": 0.1, "1": 1.0}, 0.71)
    '- Every upstream trained on 0.71 h of crops: 7.1 passes over 0.1 h, 0.71 passes over 1 h. The largest pool is not even seen once, so in this budget more audio adds little the upstream could use: an effect of data scale needs more updates, and a missing one here is not evidence against the claim.'
    """
    passes = ", ".join(f"{seen / h:.2g} passes over {shown(key)}" for key, h in hours.items())
    text = f"- Every upstream trained on {seen:.2g} h of crops: {passes}."
    if seen < max(hours.values()):
        text += (" The largest pool is not even seen once, so in this budget more audio adds little the upstream "
                 "could use: an effect of data scale needs more updates, and a missing one here is not evidence "
                 "against the claim.")
    return text


def finding(study: FactorStudy, mode: str | None = None) -> str:
    """The chapter's finding in words, computed from the numbers."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    return "\n".join([scale_finding(study, claim(study, mode), "audio", "The whole pool", mode),
                      coverage_note(amounts(study), audio_seen(study))])

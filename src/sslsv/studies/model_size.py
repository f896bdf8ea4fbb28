"""Study 05: do *larger* upstreams help speaker verification more?

The paper reports that larger models help.  The conditions differ only in
``pretrain.size`` (the preset's width and depth; masked prediction on the
same targets, audio and number of updates).  The random-init reference is
the default size's architecture, as in every chapter.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..pretrain.backbones import SIZES
from .factors import FBANK, RANDOM, Condition, FactorStudy, describe_difference, difference, references, \
    run_factor_study, trend, verdict

# Sizes per profile, smallest first (at least three).
SIZES_BY_PROFILE: dict[str, tuple[str, ...]] = {
    "smoke": ("micro", "tiny", "small"),
    "cpu": ("micro", "tiny", "small"),
    "paper": ("small", "base", "large"),
}


def conditions(profile: str, sizes: Sequence[str] | None = None) -> list[Condition]:
    """References, then one condition per size (validated against the presets)."""
    sizes = tuple(SIZES_BY_PROFILE.get(profile, SIZES_BY_PROFILE["cpu"]) if sizes is None else sizes)
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise ValueError(f"unknown size(s) {', '.join(map(repr, bad))}; valid sizes: {', '.join(SIZES)}")
    return references() + [Condition(s, pretrain={"pretrain.size": s}) for s in sizes]


def run(profile: str = "cpu", seeds: Sequence[int] | None = None, sizes: Sequence[str] | None = None,
        modes: Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None,
        pretrain_overrides: Mapping[str, Any] | None = None, progress: bool = True) -> FactorStudy:
    """Pre-train one upstream per size and train the SV backend on each, once per seed."""
    return run_factor_study("model size", profile, conditions(profile, sizes), seeds, modes, overrides,
                            pretrain_overrides, progress)


def parameters(study: FactorStudy) -> dict[str, float]:
    """Upstream parameters (millions) of each size, from its pre-training run."""
    t = study.pretraining_table().set_index("system")
    return {c.label: float(t.loc[c.label, "parameters_M"]) for c in study.conditions if not c.reference}


def claim(study: FactorStudy, mode: str = "frozen") -> dict[str, Any]:
    """The paper's claim: larger models help.

    Reproduced when the largest size is clearly better than the smallest and
    the EER falls with the parameter count; not reproduced when the largest
    is clearly worse than the smallest.
    """
    labels = [c.label for c in study.conditions if not c.reference]
    params = parameters(study)
    d = difference(study.per_seed, labels[-1], labels[0], upstream=mode)
    t = trend(study.per_seed, labels, [params[x] for x in labels])
    return {"claim": "larger models help", "evidence": [d], "trend": t,
            "verdict": verdict(d["clear"] and d["delta"] < 0 and t["rho"] < 0, d["clear"] and d["delta"] > 0)}


def finding(study: FactorStudy, mode: str = "frozen") -> str:
    """The chapter's finding in words, computed from the numbers."""
    c = claim(study, mode)
    t = c["trend"]
    labels = [x.label for x in study.conditions if not x.reference]
    lines = [f"**Verdict on the paper's claim** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale.",
             f"- {describe_difference(c['evidence'][0])}.",
             f"- Rank correlation between parameters and EER over all {t['n']} runs: ρ = {t['rho']:.2f} "
             f"(p = {t['p']:.2g}); negative means larger, lower EER."]
    d_r = difference(study.per_seed, labels[-1], RANDOM, upstream=mode)
    d_f = difference(study.per_seed, labels[-1], FBANK, upstream=mode)
    lines += [f"- The largest size against random init (of the default size): {describe_difference(d_r)}.",
              f"- The largest size against fbank: {describe_difference(d_f)}."]
    return "\n".join(lines)

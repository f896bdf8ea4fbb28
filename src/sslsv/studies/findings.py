"""The findings in words: verdicts on the paper's claims and the prose that reports them.

Each function takes numbers computed by :mod:`sslsv.studies.compare` and
returns text (MyST markdown) or a verdict; nothing here trains or reads runs.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .compare import difference, trend
from .runs import FBANK, RANDOM

__all__ = ["describe_difference", "verdict", "scale_claim", "scale_finding"]


def describe_difference(d: Mapping[str, Any], unit: str = " EER points") -> str:
    """``masked`` vs ``unmasked`` in words, e.g. "3.10 EER points lower (clear)"."""
    word = "lower" if d["delta"] < 0 else "higher"
    se = "" if np.isnan(d["ci95"]) else f" ± {d['ci95']:.2f} (95 %)"
    status = "a clear difference" if d["clear"] else "within the noise"
    return f"**{d['a']}** is {abs(d['delta']):.2f}{se}{unit} {word} than **{d['b']}** ({status})"


def verdict(reproduced: bool, contradicted: bool) -> str:
    """The three verdicts of the summary chapter."""
    if reproduced:
        return "reproduced"
    if contradicted:
        return "not reproduced"
    return "inconclusive"


def scale_claim(study: Any, values: Mapping[str, float], claim: str, mode: str = "frozen") -> dict[str, Any]:
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


def scale_finding(study: Any, c: Mapping[str, Any], quantity: str, largest: str, mode: str = "frozen") -> str:
    """The finding of a :func:`scale_claim` on ``study`` (a :class:`~sslsv.studies.factors.FactorStudy`) in words."""
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

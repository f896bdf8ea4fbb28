"""Study 03: does the *quantizer* (how the prediction targets are made) matter?

The paper reports a minor impact.  The conditions differ only in
``pretrain.quantizer`` (masked prediction, same model, audio and updates):

=====================  ========================================================
``kmeans_mfcc``        k-means on 39-dim MFCC + deltas (HuBERT iteration 1)
``kmeans_hidden``      k-means on a hidden layer of the default run (iteration 2)
``random_projection``  BEST-RQ: frozen random projection + random codebook
``oracle_phones``      the synthetic corpus's phone labels (an upper bound on
                       "linguistic" targets)
=====================  ========================================================
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .compare import difference
from .factors import FactorStudy, factor_runner
from .findings import describe_difference, verdict
from ..systems import FBANK, RANDOM
from .runs import Condition, check_choices, references

STUDIED_QUANTIZERS = ("kmeans_mfcc", "kmeans_hidden", "random_projection", "oracle_phones")  # also the keys
DEFAULT = "kmeans_mfcc"


def conditions(quantizers: Sequence[str] = STUDIED_QUANTIZERS) -> list[Condition]:
    """References, then one condition per quantizer (validated against :data:`STUDIED_QUANTIZERS`), keyed by it."""
    check_choices("quantizers", quantizers, STUDIED_QUANTIZERS)
    out = references()
    for q in quantizers:  # k-means hidden clusters a hidden layer of the default (iteration 1) run
        out.append(Condition(q, pretrain={"pretrain.quantizer": q}, targets_from_default=q == "kmeans_hidden"))
    return out


run = factor_runner("quantizer", lambda profile, values, overrides: conditions(values or STUDIED_QUANTIZERS),
                    "quantizer (names from STUDIED_QUANTIZERS)",
                    deciding=lambda conds: [c.system for c in conds if c.system == DEFAULT])  # judged against it


def claim(study: FactorStudy, mode: str | None = None) -> dict[str, Any]:
    """The paper's claim: the quantizer has a minor impact.

    Reproduced when no quantizer differs clearly from the default while
    pre-training itself does matter (some pre-trained upstream differs
    clearly from random init), so that "no difference" is not just noise
    everywhere; not reproduced when some quantizer differs clearly from the
    default; inconclusive otherwise.
    """
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    keys = [c.system for c in study.conditions if not c.reference]
    default = DEFAULT if DEFAULT in keys else keys[0]
    vs_default = [difference(study.per_seed, q, default, mode=mode) for q in keys if q != default]
    vs_random = [difference(study.per_seed, q, RANDOM, mode=mode) for q in keys]
    any_quantizer = any(d["clear"] for d in vs_default)
    pretraining_matters = any(d["clear"] for d in vs_random)
    return {"claim": "the quantizer has a minor impact", "verdict": verdict(
        not any_quantizer and pretraining_matters, any_quantizer), "evidence": vs_default,
        "vs_random": vs_random, "default": default}


def finding(study: FactorStudy, mode: str | None = None) -> str:
    """The chapter's finding in words, computed from the numbers."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    c = claim(study, mode)
    lines = [f"**Verdict on the paper's claim** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale, {mode}."]
    lines += [f"- {describe_difference(d)}." for d in c["evidence"]]
    at = study.summary[study.summary["mode"] == mode]
    means = at[~at["reference"]]["eer_percent_mean"].to_numpy(float)
    lines.append(f"- The quantizers span {np.ptp(means):.2f} EER points (from {means.min():.2f} to {means.max():.2f} %).")
    clear_random = [d for d in c["vs_random"] if d["clear"]]
    if clear_random:
        lines += [f"- Against random init: {describe_difference(d)}." for d in clear_random]
    else:
        lines.append("- No quantizer's upstream differs clearly from the random-init one, so the absence of a "
                     "quantizer effect says little: pre-training as a whole is within the noise here.")
    d_fb = difference(study.per_seed, c["default"], FBANK, mode=mode)
    lines.append(f"- The default against fbank: {describe_difference(d_fb)}.")
    return "\n".join(lines)

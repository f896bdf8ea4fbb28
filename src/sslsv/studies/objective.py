"""Study 02: which pre-training *objective* makes an upstream useful for speaker verification?

The paper reports that the masked speech prediction loss is a main source of
the benefit.  The conditions differ only in ``pretrain.objective`` (same
tiny conformer, same k-means-of-MFCC targets, same audio, same updates):

==================  ===========================================================
``masked``          HuBERT: predict the targets of masked frames (the default)
``unmasked``        predict the targets of every frame, no masking
``mixed``           a weighted sum of the masked and unmasked terms
``contrastive``     wav2vec 2.0: pick the true quantised frame among negatives
``ctc``             supervised ASR pre-training: CTC on the phone transcripts
==================  ===========================================================

plus the fbank front-end and the same upstream from random weights.
"""

from __future__ import annotations

from typing import Any, Sequence

from .compare import difference
from .factors import FactorStudy, factor_runner
from .findings import describe_difference, verdict
from ..systems import FBANK, RANDOM, shown
from .runs import Condition, check_choices, references

STUDIED_OBJECTIVES = ("masked", "unmasked", "mixed", "contrastive", "ctc")  # also the systems' keys


def conditions(objectives: Sequence[str] = STUDIED_OBJECTIVES) -> list[Condition]:
    """References, then one condition per objective (validated against :data:`STUDIED_OBJECTIVES`), keyed by it."""
    check_choices("objectives", objectives, STUDIED_OBJECTIVES)
    return references() + [Condition(o, pretrain={"pretrain.objective": o}) for o in objectives]


run = factor_runner("objective", lambda profile, values, overrides: conditions(values or STUDIED_OBJECTIVES),
                    "objective (names from STUDIED_OBJECTIVES)",
                    deciding=lambda conds: [c.system for c in conds if c.system in ("masked", "unmasked")])
# the verdict compares masked prediction with random init and with prediction without masking


def claim(study: FactorStudy, mode: str | None = None) -> dict[str, Any]:
    """The paper's claim: masked prediction is a main source of the benefit.

    Reproduced when masked prediction is clearly better than both the
    random-init upstream and prediction without masking; not reproduced when
    it is clearly worse than either.
    """
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    ps = study.per_seed
    vs_random = difference(ps, "masked", RANDOM, mode=mode)
    vs_unmasked = difference(ps, "masked", "unmasked", mode=mode)
    reproduced = all(d["clear"] and d["delta"] < 0 for d in (vs_random, vs_unmasked))
    contradicted = any(d["clear"] and d["delta"] > 0 for d in (vs_random, vs_unmasked))
    return {"claim": "the masked speech prediction loss is a main source of the benefit",
            "verdict": verdict(reproduced, contradicted), "evidence": [vs_random, vs_unmasked]}


def finding(study: FactorStudy, mode: str | None = None) -> str:
    """The chapter's finding in words, computed from the numbers."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    keys = [c.system for c in study.conditions if not c.reference]
    c = claim(study, mode)
    lines = [f"**Verdict on the paper's claim** ({c['claim']}): **{c['verdict']}** at the `{study.profile}` scale, {mode}."]
    lines += [f"- {describe_difference(d)}." for d in c["evidence"]]
    at = study.summary[study.summary["mode"].isin([mode, "fbank"])]  # one row per system: the deciding mode
    ranked = at[at["system"].isin(keys + [RANDOM, FBANK])].sort_values("eer_percent_mean")
    lines.append("- Ranking by mean EER: " + ", ".join(
        f"{shown(r.system)} {r.eer_percent_mean:.2f}" for r in ranked.itertuples()) + " %.")
    if "ctc" in keys:
        d = difference(study.per_seed, "ctc", "masked", mode=mode)
        lines.append(f"- Supervised ASR pre-training: {describe_difference(d)}.")
    best = ranked.iloc[0]
    d_fb = difference(study.per_seed, best.system, FBANK, mode=mode) if best.system != FBANK else None
    if d_fb is None:
        lines.append("- The fbank front-end has the lowest mean EER of all: at this scale no pre-trained upstream "
                     "pays for itself, unlike in the paper, whose upstreams saw hundreds of hours of real speech.")
    else:
        lines.append(f"- Against fbank: {describe_difference(d_fb)}.")
    return "\n".join(lines)

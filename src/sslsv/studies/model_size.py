"""Study 05: do *larger* upstreams help speaker verification more?

The paper reports that larger models help.  The conditions differ only in
``pretrain.size`` (the preset's width and depth; masked prediction on the
same targets, audio and number of updates).  The random-init reference is
the default size's architecture, as in every chapter.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..pretrain.backbones import SIZES
from ..config import study_settings
from .factors import FactorStudy, factor_runner
from .findings import scale_claim, scale_finding
from .runs import Condition, check_choices, extremes, references

def conditions(profile: str, sizes: Sequence[str] | None = None) -> list[Condition]:
    """References, then one condition per size (validated against the presets), keyed by its name."""
    sizes = tuple(study_settings(profile).model_sizes if sizes is None else sizes)
    check_choices("sizes", sizes, SIZES)
    return references() + [Condition(s, pretrain={"pretrain.size": s}) for s in sizes]


run = factor_runner("model size", lambda profile, values, overrides: conditions(profile, values),
                    "upstream size (names from sslsv.pretrain.SIZES; default: the profile's three)",
                    deciding=extremes)  # the verdict compares the smallest and the largest upstream


def parameters(study: FactorStudy) -> dict[str, float]:
    """Upstream parameters (millions) of each size, from its pre-training run."""
    t = study.pretraining_table().drop_duplicates("system").set_index("system")  # the same size at every seed
    return {c.system: float(t.loc[c.system, "parameters_M"]) for c in study.conditions if not c.reference}


def claim(study: FactorStudy, mode: str | None = None) -> dict[str, Any]:
    """The paper's claim, larger models help, judged by :func:`~sslsv.studies.findings.scale_claim` on parameters."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    return scale_claim(study, parameters(study), "larger models help", mode)


def finding(study: FactorStudy, mode: str | None = None) -> str:
    """The chapter's finding in words, computed from the numbers."""
    mode = study.mode if mode is None else mode  # the deciding mode: fine-tuned where it was run
    return scale_finding(study, claim(study, mode), "parameters", "The largest size", mode)

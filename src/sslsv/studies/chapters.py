"""The book's chapters, declared once: what each notebook runs, and in which stage of the book.

A :class:`Chapter` names its notebook (``notebooks/<name>.py``), says whether it runs in the regime the
map picks (chapters 02-08) or before it (the baseline and the map itself), and plans its runs with its
notebook's defaults (``plan(profile, parameters, where)``, ``parameters`` as papermill's ``-p``).
``sslsv plan``, ``sslsv book`` and its worker pool read :data:`CHAPTERS`; adding a chapter is one entry
here (and its notebook).

>>> [c.name for c in CHAPTERS.values() if not c.in_regime]
['01_baseline', '01b_regime_map']
>>> CHAPTERS["02_objective"].in_regime
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..config import ConfigError
from .runs import PlannedRun

__all__ = ["Chapter", "CHAPTERS", "chapter", "before_regime"]

# plan(profile, the notebook's parameters, the book's Regime or None) -> every run the chapter reads
Planner = Callable[[str, Mapping[str, Any], Any], list[PlannedRun]]


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book: its notebook's name, its stage, and the runs it needs."""

    name: str  # notebooks/<name>.py
    plan: Planner
    in_regime: bool = True  # run in the regime the map picks (False: the baseline and the map)


def _baseline(profile: str, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import baseline

    return baseline.plan(profile, p.get("seeds") or (0, 1, 2), overrides=p.get("overrides") or None)


def _regime_map(profile: str, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import regime

    return regime.plan(profile, p.get("speakers"), p.get("budgets"), p.get("seeds"),
                       overrides=p.get("overrides") or None)


def _in_regime(p: Mapping[str, Any], profile: str, where: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword arguments of a chapter run in ``where``: the analyses' and the factor studies'."""
    common = {"overrides": where.sv_overrides(profile, p.get("overrides"))}
    factor = {"seeds": p.get("seeds"), "modes": p.get("modes"), **common,
              "pretrain_overrides": where.pretrain_overrides(p.get("pretrain_overrides"))}
    return common, factor


def _factor(module: str, values_parameter: str, default: str | None = None) -> Planner:
    """The planner of a factor-study chapter: ``values`` from the notebook parameter ``values_parameter``
    (else the module's ``default`` constant, else the profile's)."""

    def plan(profile: str, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
        import importlib

        study = importlib.import_module(f"sslsv.studies.{module}")
        values = p.get(values_parameter) or (getattr(study, default) if default else None)
        return study.run.plan(profile, values=values, **_in_regime(p, profile, where)[1])

    return plan


_OBJECTIVE = _factor("objective", "objectives", "STUDIED_OBJECTIVES")
_QUANTIZER = _factor("quantizer", "quantizers", "STUDIED_QUANTIZERS")
_DATA_SCALE = _factor("data_scale", "hours")
_MODEL_SIZE = _factor("model_size", "sizes")


def _summary(profile: str, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    return [r for plan in (_OBJECTIVE, _QUANTIZER, _DATA_SCALE, _MODEL_SIZE) for r in plan(profile, p, where)]


def _analysis(profile: str, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import explain

    common, factor = _in_regime(p, profile, where)
    return explain.plan(profile, int(p.get("seed", 0)), **common, pretrain_overrides=factor["pretrain_overrides"])


CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    Chapter("01_baseline", _baseline, in_regime=False),
    Chapter("01b_regime_map", _regime_map, in_regime=False),
    Chapter("02_objective", _OBJECTIVE),
    Chapter("03_quantizer", _QUANTIZER),
    Chapter("04_data_scale", _DATA_SCALE),
    Chapter("05_model_size", _MODEL_SIZE),
    Chapter("06_summary", _summary),
    Chapter("07_attribution", _analysis),
    Chapter("08_loss_landscape", _analysis),
)}


def chapter(name: str) -> Chapter:
    """The chapter named ``name``; an unknown name is refused, naming the chapters."""
    if name not in CHAPTERS:
        raise ConfigError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return CHAPTERS[name]


def before_regime(names: Any = None) -> tuple[str, ...]:
    """The chapters (of ``names``; default: all) that do not run in the map's regime, in book order."""
    names = list(CHAPTERS) if names is None else list(names)
    return tuple(n for n in names if not chapter(n).in_regime)

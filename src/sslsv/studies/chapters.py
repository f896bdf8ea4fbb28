"""The book's chapters, declared once: what each notebook runs, and in which stage of the book.

A :class:`Chapter` names its notebook (``notebooks/<name>.py``), declares its notebook's parameters
with their defaults (the notebook's ``parameters`` cell must say the same: ``tests/test_plan.py``),
says whether it runs in the regime the map picks (chapters 02-08) or before it (the baseline and the
map itself), and plans its runs (``plan(profile, parameters, where)``: the defaults with papermill's
``-p`` values on top).
``sslsv plan``, ``sslsv book`` and its worker pool read :data:`CHAPTERS`; adding a chapter is one entry
here (and its notebook).

>>> [c.name for c in CHAPTERS.values() if not c.in_regime]
['01_baseline', '01a_learning_curve', '01b_regime_map']
>>> CHAPTERS["02_objective"].in_regime
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..config import ConfigError, Profile
from .runs import PlannedRun

__all__ = ["Chapter", "CHAPTERS", "FACTOR_CHAPTERS", "chapter", "before_regime"]

# plan(profile, the notebook's parameters, the book's Regime or None) -> every run the chapter reads
Planner = Callable[[str, Mapping[str, Any], Any], list[PlannedRun]]


@dataclass(frozen=True)
class Chapter:
    """One chapter of the book: its notebook's name, its stage, and the runs it needs."""

    name: str  # notebooks/<name>.py
    plan: Planner
    in_regime: bool = True  # run in the regime the map picks (False: the baseline and the map)
    parameters: Mapping[str, Any] = field(default_factory=dict)  # the notebook's parameters and their defaults

    def runs(self, profile: str | Profile, parameters: Mapping[str, Any] | None = None,
             where: Any = None) -> list[PlannedRun]:
        """Every run the chapter reads, for papermill's ``parameters`` over the declared defaults."""
        unknown = sorted(set(parameters or {}) - set(self.parameters) - {"profile"})
        if unknown:
            raise ConfigError(f"chapter {self.name} has no parameter {unknown[0]!r}; its parameters: "
                              f"{', '.join(self.parameters)}")
        return self.plan(profile, {**self.parameters, **dict(parameters or {})}, where)


def _baseline(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import baseline

    return baseline.plan(profile, p["seeds"], overrides=p.get("overrides") or None)


def _learning_curve(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import learning_curve

    return learning_curve.plan(profile, p.get("corpora"), overrides=p.get("overrides") or None)


def _regime_map(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import regime

    return regime.plan(profile, p.get("speakers"), p.get("budgets"), p.get("seeds"),
                       overrides=p.get("overrides") or None)


def _in_regime(p: Mapping[str, Any], profile: str | Profile, where: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword arguments of a chapter run in ``where``: the analyses' and the factor studies'."""
    common = {"overrides": where.sv_overrides(profile, p.get("overrides"))}
    factor = {"seeds": p.get("seeds"), "modes": p.get("modes"), **common,
              "pretrain_overrides": where.pretrain_overrides(p.get("pretrain_overrides"))}
    return common, factor


def _factor(module: str, values_parameter: str) -> Planner:
    """The planner of a factor-study chapter: its levels are the notebook parameter ``values_parameter``
    (``None``: the profile's)."""

    def plan(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
        import importlib

        study = importlib.import_module(f"sslsv.studies.{module}")
        return study.run.plan(profile, values=p.get(values_parameter), **_in_regime(p, profile, where)[1])

    return plan


FACTOR_CHAPTERS = ("02_objective", "03_quantizer", "04_data_scale", "05_model_size")  # summarised by 06


def _summary(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    """The factor chapters' runs, each at its own defaults with the summary's parameters on top, and the fifth
    factor's (the pool's language, beyond the paper), which chapter 06 runs itself."""
    from . import language

    fifth = (_factor("language", "languages")(profile, {**_SV, "languages": None, **_FACTOR, **p}, where)
             if language.applies(profile, p.get("overrides")) else [])  # the synthetic corpus only
    return [r for name in FACTOR_CHAPTERS for r in CHAPTERS[name].plan(profile, {**CHAPTERS[name].parameters, **p},
                                                                         where)] + fifth


def _analysis(profile: str | Profile, p: Mapping[str, Any], where: Any) -> list[PlannedRun]:
    from . import explain

    common, factor = _in_regime(p, profile, where)
    return [r for s in explain.analysis_seeds(profile, p.get("seeds"))
            for r in explain.plan(profile, s, **common, pretrain_overrides=factor["pretrain_overrides"])]


_SV = {"profile": "cpu", "seeds": None}  # every chapter's first parameters
_FACTOR = {"modes": None, "overrides": {}, "pretrain_overrides": {}}  # a factor study's last ones

CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    Chapter("01_baseline", _baseline, in_regime=False,
            parameters={**_SV, "seeds": [0, 1, 2], "overrides": {}}),
    Chapter("01a_learning_curve", _learning_curve, in_regime=False,
            parameters={"profile": "cpu", "corpora": None, "overrides": {}}),
    Chapter("01b_regime_map", _regime_map, in_regime=False,
            parameters={"profile": "cpu", "speakers": None, "budgets": None, "seeds": None, "overrides": {}}),
    Chapter("02_objective", _factor("objective", "objectives"),
            parameters={**_SV, "objectives": ["masked", "unmasked", "mixed", "contrastive", "ctc"], **_FACTOR}),
    Chapter("03_quantizer", _factor("quantizer", "quantizers"),
            parameters={**_SV, "quantizers": ["kmeans_mfcc", "kmeans_hidden", "random_projection", "oracle_phones"],
                        **_FACTOR}),
    Chapter("04_data_scale", _factor("data_scale", "hours"), parameters={**_SV, "hours": None, **_FACTOR}),
    Chapter("05_model_size", _factor("model_size", "sizes"), parameters={**_SV, "sizes": None, **_FACTOR}),
    Chapter("06_summary", _summary, parameters={**_SV, **_FACTOR}),
    Chapter("07_attribution", _analysis, parameters={"profile": "cpu", "seeds": None, "overrides": {}}),
    Chapter("08_loss_landscape", _analysis, parameters={"profile": "cpu", "seeds": None, "overrides": {}}),
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

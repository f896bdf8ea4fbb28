"""The study section of a profile: how each chapter spends its compute.

Every per-profile setting of the studies (the factor studies' SV schedule,
their seeds and upstream modes, the data-scale amounts, the model sizes, the
analyses' budgets) is a ``study.*`` key of :data:`sslsv.profiles.PROFILES`.
These are the plain records; :func:`sslsv.config.study_settings` reads a
profile's section into them as strictly as the experiment configs (an
unknown key or a value of the wrong type is a
:class:`~sslsv.config.ConfigError` naming it). This module imports nothing
of ``sslsv``: it sits below :mod:`sslsv.config`.

>>> StudySettings().regime.seeds
(0, 1, 2)
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, Literal

PREFIX = "study."
# Choice fields (checked once, where a profile's values are coerced: sslsv.config.study_settings)
Mode = Literal["frozen", "fine-tuned"]  # how the SV model uses its upstream
Domain = Literal["out-of-domain", "in-domain"]  # the pre-training pool, without or with the SV audio
VALID_MODES: tuple[str, ...] = typing.get_args(Mode)


def deciding_mode(modes: "typing.Iterable[str]") -> str:
    """The upstream mode a verdict reads: fine-tuned wherever it was run (the paper's probe, issue 26), else
    frozen; fbank is no upstream mode.

    >>> deciding_mode(("frozen", "fine-tuned")), deciding_mode(["fbank", "frozen"])
    ('fine-tuned', 'frozen')
    """
    return "fine-tuned" if "fine-tuned" in set(modes) else "frozen"
OUT_OF_DOMAIN, IN_DOMAIN = typing.get_args(Domain)
DOMAINS: tuple[str, ...] = typing.get_args(Domain)


@dataclass(frozen=True)
class StudySchedule:
    """The SV schedule of the factor studies; ``None`` keeps the profile's own ``train.*`` value."""

    steps: int | None = None
    batch_size: int | None = None
    warmup_steps: int | None = None
    checkpoint_every: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The dotted ``train.*`` keys this schedule sets."""
        return {f"train.{k}": v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class AttributionSettings:
    """Chapter 07: how many trials and Integrated-Gradients steps (the cost is linear in both)."""

    n_trials: int = 16
    steps: int = 32
    n_resamples: int = 1000
    max_seconds: float = 3.0


@dataclass(frozen=True)
class LandscapeSettings:
    """Chapter 08: the batch set, the grids (points from -1 to 1) and the seeds of each measurement."""

    n_batches: int = 1
    batch_size: int = 8
    alphas: int = 9  # points of the 1-D curves
    grid: int = 5  # points per axis of the 2-D surface
    curve_seeds: tuple[int, ...] = (0, 1)
    sharpness_seeds: tuple[int, ...] = (0, 1, 2)
    hessian_seeds: tuple[int, ...] = (0, 1)
    hessian_iters: int = 8

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~sslsv.analysis.landscape.runs_landscape_study`."""
        import numpy as np

        kw = dict(vars(self))
        kw["alphas"], kw["grid"] = np.linspace(-1.0, 1.0, self.alphas), np.linspace(-1.0, 1.0, self.grid)
        return kw


@dataclass(frozen=True)
class CurveSettings:
    """Chapter 01a: the learning curve of the default upstream's pre-training task (:mod:`sslsv.studies.learning_curve`)."""

    steps: int = 2000  # updates of each curve (the budget rule needs 4x a budget to read it off)
    eval_every: int = 100  # updates between the curve's rows
    held_out_share: float = 0.05  # share of the pool's audio held out of training and scored
    # the budget rule (sslsv.pretrain.curve.learned_budget): the default upstream has learned its task from the
    # budget on where its held-out masked accuracy stays >= this many times the context-free ceiling
    learned_ratio: float = 1.5


@dataclass(frozen=True)
class PinnedRegime:
    """A regime a profile fixes instead of the map's rule: labelled speakers, pre-training updates and pool.

    Unset (the default, ``speakers=0``), the rule of chapter 01b picks. Only the smoke profile pins one:
    there the map is noise (a seed, a few updates), and the regression references need a regime that
    does not move with a machine's rounding.

    >>> bool(PinnedRegime()), bool(PinnedRegime(16, 30, "out-of-domain"))
    (False, True)
    """

    speakers: int = 0  # labelled training speakers (0: nothing pinned)
    budget: int = 0  # pre-training updates
    domain: Domain = "out-of-domain"  # the pre-training pool

    def __bool__(self) -> bool:
        return self.speakers > 0


@dataclass(frozen=True)
class RegimeSettings:
    """The regime map's grid (:mod:`sslsv.studies.regime`)."""

    speakers: tuple[int, ...] = (12, 36, 100)  # labelled training speakers, spanning >= 8x
    budgets: tuple[int, ...] = (80, 200, 500)  # pre-training updates, spanning >= 6x (without budget_fractions)
    # the budgets as fractions of the learned budget that chapter 01a's curve gives (study.curve.learned_ratio);
    # set, they replace `budgets` (the largest should be 1: the default upstream, which has learned its task)
    budget_fractions: tuple[float, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)  # SV seeds per cell
    # the pre-training pools of the frozen columns (DOMAINS); out-of-domain must be one of them: the fine-tuned
    # cells, which the rule reads, are the default upstream's, pre-trained out of domain
    domains: tuple[str, ...] = DOMAINS
    # SV training steps for each amount of labelled speakers (the protocol: fewer speakers converge sooner);
    # empty: the factor studies' study.sv.steps for every amount
    sv_steps: tuple[int, ...] = ()
    # the amounts of labelled speakers at which the default upstream and random init are also fine-tuned
    # (fine-tuning costs ~10x a frozen probe per step); empty: every amount
    finetune_speakers: tuple[int, ...] = ()
    # chapters 02-08 run in this cell instead of the rule's (unset: the rule's; the smoke profile only)
    pinned: PinnedRegime = field(default_factory=PinnedRegime)

    def steps_for(self, speakers: int, default: int) -> int:
        """SV steps of the protocol for ``speakers`` labelled speakers: those of the smallest amount of the
        grid that is at least as large (the largest amount's beyond it); ``default`` without a schedule.
        (:func:`sslsv.config.study_settings` checks that ``sv_steps`` has one value per amount.)

        >>> RegimeSettings(speakers=(4, 16, 64), sv_steps=(100, 200, 400)).steps_for(10, 0)
        200
        """
        if not self.sv_steps:
            return int(default)
        pairs = sorted(zip(self.speakers, self.sv_steps))
        return int(next((s for n, s in pairs if n >= speakers), pairs[-1][1]))


@dataclass(frozen=True)
class StudySettings:
    """Everything a profile says about the studies, beside the experiment configs."""

    sv: StudySchedule = field(default_factory=StudySchedule)  # the factor studies' SV schedule
    cache_features: bool = False  # frozen upstreams (and the frozen lower layers under fine-tuned top ones) train on states computed once
    seeds: tuple[int, ...] = (0, 1, 2)  # SV seeds of the factor studies
    pretrain_seeds: tuple[int, ...] = (0, 1)  # pre-training seeds of the conditions a verdict rests on
    modes: tuple[Mode, ...] = ("frozen",)  # upstream modes of the factor studies
    # the fine-tuning recipe of every study's fine-tuned systems (the map's too, random init included):
    # train the top N transformer layers (frontend.finetune_layers) on the frozen lower ones; 0: every weight
    finetune_layers: int = 0
    data_scale_hours: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)  # chapter 04, the whole pool last
    model_sizes: tuple[str, ...] = ("micro", "tiny", "small")  # chapter 05, smallest first
    analysis_steps: int | None = None  # SV steps of the analysed systems (07/08); None: the profile's
    # SV seeds of the analysed systems (07/08): their attribution shares and flatness numbers pool every seed
    analysis_seeds: tuple[int, ...] = (0,)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    landscape: LandscapeSettings = field(default_factory=LandscapeSettings)
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    curve: CurveSettings = field(default_factory=CurveSettings)

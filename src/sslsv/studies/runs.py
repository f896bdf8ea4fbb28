"""Building the runs of a study: conditions, their configs and the planned runs (nothing is computed).

A *condition* is one row of a study (one value of a factor, or a reference);
:func:`pretrain_config` and :func:`sv_config` turn it into the configs of its
runs, and :func:`factor_plan` lists every run a factor study needs, in the
order it computes them, as :class:`PlannedRun` records. :func:`preflight`
runs every check that can fail before any compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..artifacts import Run
from ..config import (ConfigError, PretrainExperimentConfig, Profile, SVConfig, check_seeds, profile_context,
                      override, refuse_controlled, resolve, study_settings)
from ..settings import VALID_MODES
from ..systems import FBANK, RANDOM, Kind, Role, check_system, shown
from ..upstreams import RUN_PREFIX, RandomInit
from . import controlled

__all__ = ["Condition", "PlannedRun", "references", "pretrain_config",
           "sv_config", "factor_plan", "preflight", "check_choices", "extremes", "pretrain_seeds_of"]


@dataclass(frozen=True)
class Condition:
    """One row of a factor study: its system key (:mod:`sslsv.systems`: the factor's value, or a reference's
    name; never a display label) and what differs from the defaults."""

    system: str
    kind: Kind = "ssl"  # "ssl" (pre-trained upstream), "random" (same architecture, random weights) or "fbank"
    pretrain: Mapping[str, Any] = field(default_factory=dict)  # PretrainExperimentConfig overrides
    reference: bool = False  # a reference row (fbank, random init), not a value of the factor
    # HuBERT's second iteration: the k-means targets are fit on a hidden layer of the default condition's
    # run (pretrain.kmeans_source names that run, made from the same overrides and seed)
    targets_from_default: bool = False


def references() -> list[Condition]:
    """The fbank and random-initialisation references shown in every chapter."""
    return [Condition(FBANK, kind="fbank", reference=True), Condition(RANDOM, kind="random", reference=True)]


def _split(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(overrides or {})


def pretrain_config(profile: str | Profile, cond: Condition, overrides: Mapping[str, Any] | None = None,
                    pretrain_overrides: Mapping[str, Any] | None = None) -> PretrainExperimentConfig:
    """The pre-training configuration of a condition (corpus keys of ``overrides`` carry over)."""
    corpus = {k: v for k, v in _split(overrides).items() if k.startswith("corpus.")}
    sets = {**corpus, **_split(pretrain_overrides), **dict(cond.pretrain)}
    if cond.targets_from_default:
        default = Run("pretrain", pretrain_config(profile, Condition("default"), overrides, pretrain_overrides))
        sets["pretrain.kmeans_source"] = f"run:{default.path.name}"
    cfg = resolve(profile, sets, base=PretrainExperimentConfig())
    # where the budgets are read off chapter 01a's curve, every upstream stops early on the curve's schedule: its
    # learning rate at each update is the curve's, so the curve at b says what an upstream of b updates learned
    study = profile_context(profile).study
    horizon = study.curve.steps
    if study.regime.budget_fractions and "optim.schedule_steps" not in sets and cfg.optim.steps < horizon:
        cfg = override(cfg, {"optim.schedule_steps": int(horizon)})
    return cfg


def sv_config(profile: str | Profile, cond: Condition, seed: int, mode: str = "frozen",
              overrides: Mapping[str, Any] | None = None, upstream: str = "",
              pretrain_overrides: Mapping[str, Any] | None = None) -> SVConfig:
    """The SV configuration of a condition, seed and upstream mode, on the study schedule."""
    if mode not in VALID_MODES:
        raise ConfigError(f"unknown upstream mode {mode!r}; valid modes: {', '.join(VALID_MODES)}")
    sets = {**study_settings(profile).sv.overrides(), **_split(overrides), "train.seed": int(seed)}
    if cond.kind == "fbank":
        return resolve(profile, {**sets, "frontend.kind": "fbank"})
    if cond.kind == "random":
        pre = pretrain_config(profile, cond, overrides, pretrain_overrides).pretrain
        upstream = RandomInit(pre.backbone, pre.size).reference
    elif not upstream:
        raise ConfigError(f"condition {cond.system!r} needs an upstream reference")
    finetune = mode == "fine-tuned"
    study = study_settings(profile)
    recipe = {"frontend.finetune_layers": study.finetune_layers} if finetune and study.finetune_layers else {}
    # the states a run trains on are cached where they do not change: a frozen upstream's, and the frozen
    # lower layers' when only the top ones are fine-tuned
    layers = int(sets.get("frontend.finetune_layers", recipe.get("frontend.finetune_layers", 0)))
    cached = study.cache_features and (not finetune or layers > 0)
    return resolve(profile, {"frontend.cache_features": cached, **recipe,
                             **sets, "frontend.kind": "ssl", "frontend.upstream": upstream,
                             "frontend.finetune": finetune})


def check_choices(what: str, given: Sequence[Any], valid: Sequence[Any]) -> None:
    """Refuse levels of a factor that do not exist, naming them and the valid ones.

    >>> check_choices("sizes", ["tiny", "huge"], ("tiny", "small"))
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: unknown sizes 'huge'; valid sizes: tiny, small
    """
    bad = [g for g in given if g not in valid]
    if bad:
        raise ConfigError(f"unknown {what} {', '.join(map(repr, bad))}; valid {what}: {', '.join(map(str, valid))}")


def extremes(conditions: Sequence[Condition]) -> tuple[str, ...]:
    """The smallest and the largest level of an ordered factor: what a "more X helps" verdict compares."""
    keys = [c.system for c in conditions if not c.reference]
    return tuple(dict.fromkeys([keys[0], keys[-1]])) if keys else ()


def pretrain_seeds_of(profile: str | Profile, pretrain_seeds: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(check_seeds(study_settings(profile).pretrain_seeds if pretrain_seeds is None else pretrain_seeds,
                             "pretrain_seeds"))


@dataclass(frozen=True)
class PlannedRun:
    """One run a study needs: its kind (``pretrain`` or ``sv``), what it is, and its config.

    ``role`` says what the run is for: a ``"cell"`` of a comparison (every run of the factor studies, the
    map's systems) or the map's ``"convergence"`` check (a reference trained :data:`~sslsv.systems.LONGER` times as
    long); the display name that says so is made only when shown (:attr:`shown_label`). ``budget`` and
    ``domain`` say which of the regime map's upstreams (:data:`sslsv.systems.SSL`) a run belongs to.

    >>> item = PlannedRun("sv", "random", "frozen", 0, None, role="convergence")
    >>> item.system, item.shown_label
    ('random', 'random init (2x steps)')
    """

    kind: str
    system: str  # the key of the system (condition) it belongs to (sslsv.systems)
    mode: str  # "frozen", "fine-tuned" or "fbank" for SV; the role of a pre-training run
    seed: int | None  # the SV seed (None for a pre-training run)
    config: Any
    pretrain_seed: int | None = None  # the upstream's pre-training seed (None: no pre-trained upstream)
    role: Role = "cell"
    budget: int | None = None  # the regime map's upstreams: pre-training updates
    domain: str | None = None  # ... and pool (sslsv.settings.DOMAINS)

    @property
    def shown_label(self) -> str:
        """The system as tables and messages name it (:func:`sslsv.systems.shown`)."""
        return shown(self.system, self.budget, self.domain, self.role)

    @property
    def run(self) -> Run:
        return Run(self.kind, self.config)

    @property
    def steps(self) -> int:
        return int(self.config.optim.steps if self.kind == "pretrain" else self.config.train.steps)


def factor_plan(profile: str | Profile, conditions: Sequence[Condition], seeds: Sequence[int], modes: Sequence[str],
                overrides: Mapping[str, Any] | None = None,
                pretrain_overrides: Mapping[str, Any] | None = None, pretrain_seeds: Sequence[int] = (0,),
                deciding: Sequence[str] = ()) -> list[PlannedRun]:
    """Every run of a factor study, in the order it computes them (nothing is computed); ``profile`` (a name
    or a :class:`~sslsv.config.Profile`) is read once.

    A condition in ``deciding`` is pre-trained once per seed of ``pretrain_seeds`` (each with its SV
    seeds); every other condition with the first pre-training seed only.
    """
    profile = profile_context(profile)
    for key in deciding:  # a deciding system is one of the conditions, named by its key
        check_system(key, [c.system for c in conditions])
    plan: list[PlannedRun] = []
    for cond in conditions:
        upstreams: list[tuple[int | None, str]] = [(None, "")]
        if cond.kind == "ssl":
            upstreams = []
            for p in (pretrain_seeds if cond.system in deciding else pretrain_seeds[:1]):
                pre_sets = {**dict(pretrain_overrides or {}), "pretrain.seed": int(p)}
                if cond.targets_from_default:  # iteration 2 needs iteration 1
                    plan.append(PlannedRun("pretrain", cond.system, "iteration 1", None,
                                           pretrain_config(profile, Condition("default"), overrides, pre_sets),
                                           int(p)))
                pre = PlannedRun("pretrain", cond.system, "upstream", None,
                                 pretrain_config(profile, cond, overrides, pre_sets), int(p))
                plan.append(pre)
                upstreams.append((int(p), f"run:{pre.run.path.name}"))
        for p, upstream in upstreams:
            for mode in (("fbank",) if cond.kind == "fbank" else modes):
                for s in seeds:
                    cfg = sv_config(profile, cond, s, "frozen" if mode == "fbank" else mode, overrides, upstream,
                                    pretrain_overrides)
                    plan.append(PlannedRun("sv", cond.system, mode, int(s), cfg, p))
    return plan


def _check_data_root(cfg: SVConfig) -> None:
    c = cfg.corpus
    if c.source == "synthetic":
        return
    checks = [("corpus.voxceleb_root", c.voxceleb_root, ("wav",)),
              ("corpus.librispeech_root", c.librispeech_root, ())]
    for key, root, subdirs in checks:
        if not root:
            raise ConfigError(f"{key} is empty: set it to the dataset's directory (see the introduction)")
        path = Path(root)
        if not path.is_dir():
            raise FileNotFoundError(f"{key}={root!r} does not exist: download the dataset there or set {key}")
        for sub in subdirs:
            if not (path / sub).is_dir():
                raise FileNotFoundError(f"{key}={root!r} has no {sub}/ directory: expected the VoxCeleb1 layout "
                                        f"{root}/{sub}/<speaker>/<session>/<utt>.wav")
    trials = Path(c.voxceleb_root) / c.voxceleb_trials
    if not trials.is_file():
        raise FileNotFoundError(f"trial list {trials} not found: set corpus.voxceleb_trials or copy it there")
    for subset in c.librispeech_subsets:
        base = Path(c.librispeech_root)
        if not ((base / "LibriSpeech" / subset).is_dir() or (base / subset).is_dir()):
            raise FileNotFoundError(f"LibriSpeech subset {subset!r} not found under {base} "
                                    f"(expected {base}/LibriSpeech/{subset}/ or {base}/{subset}/)")


def preflight(profile: str | Profile, conditions: Sequence[Condition], seeds: Sequence[int], modes: Sequence[str],
              overrides: Mapping[str, Any] | None = None,
              pretrain_overrides: Mapping[str, Any] | None = None) -> None:
    """Every check that can fail, before any compute: names, values, data roots, checkpoints."""
    from ..pretrain.train import check_config
    from ..sv.featurizer import upstream_exists

    profile = profile_context(profile)
    check_seeds(seeds)
    refuse_controlled(overrides, controlled.FACTOR_STUDY, "a factor study")
    for key in sorted({k for c in conditions for k in c.pretrain} & set(pretrain_overrides or {})):
        keys = [c.system for c in conditions if key in c.pretrain]
        raise ConfigError(f"the study's conditions ({', '.join(keys)}) set {key} themselves, so --pretrain-set "
                          f"{key}={pretrain_overrides[key]!r} would be ignored for them; that key is the factor "
                          "being varied, so run the conditions you want through the study's own arguments")
    if "pretrain.seed" in (pretrain_overrides or {}):
        raise ConfigError(f"--pretrain-set pretrain.seed={pretrain_overrides['pretrain.seed']!r} would be ignored: "
                          "a factor study pre-trains its deciding conditions once per pre-training seed; give "
                          "them with pretrain_seeds=[...] (the profile's study.pretrain_seeds by default)")
    for m in modes:
        if m not in VALID_MODES:
            raise ConfigError(f"unknown upstream mode {m!r}; valid modes: {', '.join(VALID_MODES)}")
    base = sv_config(profile, Condition(FBANK, kind="fbank"), seeds[0], overrides=overrides)
    _check_data_root(base)
    for cond in conditions:
        if cond.kind == "fbank":
            continue
        pre = pretrain_config(profile, cond, overrides, pretrain_overrides)
        if pre.corpus != base.corpus:
            raise ConfigError("the pre-training and SV corpus configurations differ; override corpus keys in "
                             "`overrides` only")
        check_config(pre.pretrain)
        if pre.pretrain.init and not upstream_exists(pre.pretrain.init):
            raise FileNotFoundError(f"condition {cond.system!r}: upstream checkpoint {pre.pretrain.init!r} "
                                    "not found (a directory, or a hub name already in the local cache)")


# The config fields that may name another run (``run:<name>``): an SV run's upstream; a pre-training
# run's starting checkpoint and the upstream whose hidden states its k-means targets cluster.
READ_FIELDS = {"sv": (("frontend", "upstream"),), "pretrain": (("pretrain", "init"), ("pretrain", "kmeans_source"))}


def reads(item: PlannedRun) -> set[str]:
    """The names of the runs ``item`` reads, from its typed config fields (:data:`READ_FIELDS`).

    >>> from sslsv.config import PretrainExperimentConfig, override
    >>> cfg = override(PretrainExperimentConfig(), {"pretrain.kmeans_source": "run:pretrain-0123456789ab"})
    >>> reads(PlannedRun("pretrain", "iteration 2", "upstream", None, cfg))
    {'pretrain-0123456789ab'}
    """
    values = [getattr(getattr(item.config, section), name) for section, name in READ_FIELDS.get(item.kind, ())]
    return {v[len(RUN_PREFIX):] for v in values if isinstance(v, str) and v.startswith(RUN_PREFIX)}

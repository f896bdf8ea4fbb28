"""Valid values of every config key, and the checks of a resolved config.

:func:`validate` checks every number of a (nested) config against
:data:`RANGES` and every ordered pair in :data:`ORDERED`;
:func:`sslsv.config.resolve` calls it, and so does every entry point that
takes a config built another way.  :func:`check_seeds` and
:func:`refuse_controlled` check what a study is asked to run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .config import (ConfigError, CorpusConfig, EcapaConfig, EvalConfig, FeatureConfig, FrontendConfig, OptimConfig,
                     PretrainConfig, SVConfig, SVTrainConfig, _flatten)


@dataclass(frozen=True)
class Range:
    """The valid values of a number: ``lo``/``hi`` bounds, each inclusive or not (``None``: unbounded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
            return False
        return True

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return "any number"


AT_LEAST_0, AT_LEAST_1, AT_LEAST_2 = Range(0), Range(1), Range(2)
POSITIVE = Range(0, lo_open=True)
UNIT = Range(0, 1)  # a probability or share
OPEN_UNIT = Range(0, 1, lo_open=True, hi_open=True)

# Valid values of every numeric key, per config class (subclasses inherit their parents' ranges).
RANGES: dict[type, dict[str, Range]] = {
    CorpusConfig: {
        "seed": AT_LEAST_0, "sample_rate": POSITIVE, "n_train_speakers": AT_LEAST_2, "n_test_speakers": AT_LEAST_2,
        "sessions_per_speaker": AT_LEAST_2, "utterances_per_session": AT_LEAST_1, "min_seconds": POSITIVE,
        "max_seconds": POSITIVE, "n_trials": AT_LEAST_2, "pretrain_hours": POSITIVE, "pretrain_speakers": AT_LEAST_1,
        "reverb_probability": UNIT, "rt60_max_s": Range(0.2), "channel_variability": AT_LEAST_0,
        "prosody_drift": AT_LEAST_0, "speaker_spread": POSITIVE, "lexicon_size": AT_LEAST_2,
        "grammar_concentration": POSITIVE, "zipf_exponent": AT_LEAST_0,
    },
    FeatureConfig: {"n_mels": AT_LEAST_1, "n_fft": Range(16), "win_ms": POSITIVE, "hop_ms": POSITIVE,
                    "f_min": AT_LEAST_0, "f_max": POSITIVE},
    EcapaConfig: {"channels": AT_LEAST_1, "attention_channels": AT_LEAST_1, "embedding_dim": AT_LEAST_1},
    OptimConfig: {"steps": AT_LEAST_1, "batch_size": AT_LEAST_1, "lr": POSITIVE, "weight_decay": AT_LEAST_0,
                  "warmup_steps": AT_LEAST_0, "min_lr_ratio": UNIT, "grad_clip": POSITIVE,
                  "checkpoint_every": AT_LEAST_1},
    SVTrainConfig: {"crop_seconds": POSITIVE, "aam_margin": AT_LEAST_0, "aam_scale": POSITIVE, "seed": AT_LEAST_0,
                    "labelled_speakers": AT_LEAST_0},
    EvalConfig: {"p_targets": OPEN_UNIT, "bootstrap": AT_LEAST_0, "ci_level": OPEN_UNIT,
                 "max_eval_seconds": POSITIVE},
    FrontendConfig: {"upstream_lr_scale": AT_LEAST_0, "layer_weights_lr_scale": AT_LEAST_0,
                     "freeze_steps": AT_LEAST_0},
    PretrainConfig: {
        "n_clusters": AT_LEAST_2, "kmeans_layer": AT_LEAST_0, "kmeans_max_frames": AT_LEAST_1, "hours": AT_LEAST_0,
        "crop_seconds": POSITIVE, "mask_prob": UNIT, "mask_length": AT_LEAST_1, "unmasked_weight": AT_LEAST_0,
        "temperature": POSITIVE, "proj_dim": AT_LEAST_1, "num_negatives": AT_LEAST_1, "codevectors": AT_LEAST_2,
        "codevector_groups": AT_LEAST_1, "diversity_weight": AT_LEAST_0, "feature_grad_scale": AT_LEAST_0,
        "seed": AT_LEAST_0, "eval_every": AT_LEAST_0, "eval_batches": AT_LEAST_1,
        "held_out_share": Range(0, 1, hi_open=True),
    },
}

# Pairs of keys of one config class that must be ordered: (low, high).
ORDERED: dict[type, tuple[tuple[str, str], ...]] = {
    CorpusConfig: (("min_seconds", "max_seconds"), ("snr_db_min", "snr_db_max")),
    FeatureConfig: (("f_min", "f_max"),),
}

DEVICES = ("cpu", "cuda", "cuda:<index>", "auto")


def _ranges(cls: type) -> dict[str, Range]:
    out: dict[str, Range] = {}
    for klass in reversed(cls.__mro__):
        out.update(RANGES.get(klass, {}))
    return out


def validate(cfg: Any, prefix: str = "") -> None:
    """Check every value of a (nested) config against :data:`RANGES` and :data:`ORDERED`.

    One error names the key, the value and the valid range:

    >>> validate(SVConfig(train=SVTrainConfig(steps=0)))
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: train.steps=0 is out of range: it must be >= 1
    >>> from sslsv.config import PretrainExperimentConfig, resolve
    >>> validate(resolve("smoke", base=PretrainExperimentConfig()))
    """
    import re

    ranges = _ranges(type(cfg))
    for f in dataclasses.fields(cfg):
        value, key = getattr(cfg, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
            continue
        if f.name == "device" and isinstance(value, str) and not re.fullmatch(r"cpu|auto|cuda(:\d+)?", value):
            raise ConfigError(f"{key}={value!r} is not a device; valid devices: {', '.join(DEVICES)}")
        valid = ranges.get(f.name)
        if valid is None:
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, (int, float)) and not isinstance(item, bool) and (item != item or item not in valid):
                shown = f"{key}={item!r}" if not isinstance(value, tuple) else f"{key}={list(value)!r} (item {item!r})"
                raise ConfigError(f"{shown} is out of range: it must be {valid}")
    for low, high in ORDERED.get(type(cfg), ()):
        if getattr(cfg, low) > getattr(cfg, high):
            raise ConfigError(f"{prefix}{low}={getattr(cfg, low)!r} is above {prefix}{high}={getattr(cfg, high)!r}; "
                              f"{prefix}{low} must be <= {prefix}{high}")


def check_seeds(seeds: Any, what: str = "seeds") -> tuple[int, ...]:
    """Distinct non-negative integer seeds, as a tuple; anything else is refused by name.

    >>> check_seeds([0, 1])
    (0, 1)
    >>> check_seeds([0, 0])
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: seeds [0, 0] repeat 0: each seed trains one system, so repeats would count one run twice; give distinct seeds
    """
    seeds = list(seeds) if seeds is not None else []
    if not seeds:
        raise ConfigError(f"{what} is empty: give at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"{what} {seeds!r}: {s!r} is not a non-negative integer")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{what} {seeds!r} repeat {', '.join(map(str, repeated))}: each seed trains one system, "
                          "so repeats would count one run twice; give distinct seeds")
    return tuple(int(s) for s in seeds)


def refuse_controlled(overrides: Mapping[str, Any] | None, controlled: Mapping[str, str], command: str) -> None:
    """Refuse overrides of keys that ``command`` sets itself (it could not honour them).

    ``controlled`` maps a dotted key, or a section ending in ``.`` (``"frontend."``: every key under
    it), to what to use instead.

    >>> refuse_controlled({"train.seed": 5}, {"train.seed": "give --seeds 5"}, "the baseline")
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: the baseline sets train.seed itself, so --set train.seed=5 would be ignored; give --seeds 5
    """
    for key, value in _flatten(overrides or {}).items():
        for name, instead in controlled.items():
            if key == name or (name.endswith(".") and key.startswith(name)):
                raise ConfigError(f"{command} sets {key} itself, so --set {key}={json.dumps(value)} would be "
                                  f"ignored; {instead}")

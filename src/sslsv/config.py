"""Frozen, strict configuration for every stage of the study.

Every setting lives in a frozen dataclass with a commented default.  A
*profile* (``smoke``, ``cpu``, ``paper``) is a named set of values; a user
changes it with *overrides*, a mapping from dotted keys to values::

    >>> cfg = resolve("smoke", {"train.steps": 7})
    >>> cfg.train.steps
    7
    >>> resolve("smoke", {"train.stpes": 7})
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: unknown key 'train.stpes'; valid keys under 'train': ...

A misspelled key fails and lists the valid keys; a value of the wrong type
fails and names the key and the expected type.  Derived values come from
functions (for example :func:`sslsv.features.n_frames`), never by writing them
back into a config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping

from .errors import UserError
from .profiles import PROFILES
from .ranges import AT_LEAST_0, AT_LEAST_1, AT_LEAST_2, OPEN_UNIT, POSITIVE, UNIT, Range
from .settings import DOMAINS, OUT_OF_DOMAIN, PREFIX, StudySettings


class ConfigError(UserError, ValueError):
    """A configuration key or value that cannot be used."""


# ---------------------------------------------------------------------------
# Choice fields: a Literal lists the valid values, checked where values are coerced (:func:`check_choice`)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    """``Annotated[str, Pattern(...)]``: a string that must match ``regex``; ``shown`` are its valid forms."""

    regex: str
    shown: tuple[str, ...]
    noun: str  # what the value is, for the error message


Source = Literal["synthetic", "voxceleb1"]
FrontendKind = Literal["fbank", "ssl"]
Backbone = Literal["hubert", "wavlm", "w2v_bert"]  # the registry sslsv.pretrain.backbones.BACKBONES
Objective = Literal["masked", "unmasked", "mixed", "contrastive", "ctc"]  # sslsv.pretrain.objectives.OBJECTIVES
Quantizer = Literal["kmeans_mfcc", "kmeans_hidden", "random_projection", "oracle_phones"]  # ...quantizers.QUANTIZERS
LanguageMode = Literal["syllables", "lexicon"]  # sslsv.data.synthetic.language.LANGUAGES
PoolLanguage = Literal["", "syllables", "lexicon"]  # "": the corpus's own (pretrain.pool_language)
Device = Annotated[str, Pattern(r"cpu|auto|cuda(:\d+)?", ("cpu", "cuda", "cuda:<index>", "auto"), "device")]

# What a choice is called in an error message, where the key's last part does not say it well.
_CHOICE_NOUNS = {"kind": "front-end", "modes": "mode", "domain": "pool"}


# ---------------------------------------------------------------------------
# Stage configurations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusConfig:
    """Where the speaker-verification and pre-training audio comes from.

    ``source="synthetic"`` generates the procedural corpus (written in the
    VoxCeleb1 layout, with a LibriSpeech-layout pre-training pool) under the
    artifact root; ``source="voxceleb1"`` reads ``voxceleb_root`` and
    ``librispeech_root`` from disk.
    """

    source: Source = "synthetic"
    seed: int = 0  # generator seed: the same seed gives the same corpus, bit for bit
    sample_rate: int = 16000
    # --- synthetic speaker-verification part (VoxCeleb1 layout) ---
    n_train_speakers: int = 60  # "Vox1-dev": labelled speakers for SV training
    n_test_speakers: int = 20  # "Vox1-O": disjoint speakers for the trial list
    sessions_per_speaker: int = 4  # a session = one channel (mic, room, noise)
    utterances_per_session: int = 3
    min_seconds: float = 2.0  # utterance duration is uniform in [min, max]
    max_seconds: float = 4.0
    n_trials: int = 2000  # half target, half non-target, cross-session targets
    # --- synthetic unlabelled pre-training pool (LibriSpeech layout) ---
    pretrain_hours: float = 0.25  # total audio in the pool
    pretrain_speakers: int = 80  # speakers disjoint from the SV speakers
    # --- synthetic difficulty knobs (intra- vs inter-speaker variability) ---
    snr_db_min: float = 5.0  # additive noise: session SNR uniform in [min, max] dB
    snr_db_max: float = 30.0
    reverb_probability: float = 0.5  # share of sessions recorded in a reverberant room
    rt60_max_s: float = 0.9  # reverberation time uniform in [0.2, max] seconds
    channel_variability: float = 1.0  # scales per-session EQ gains and band limits (0 = flat channel)
    prosody_drift: float = 1.0  # scales per-session drift of F0, rate, vocal effort (0 = none)
    speaker_spread: float = 1.0  # scales between-speaker spread of voice parameters (smaller = harder)
    # --- synthetic language: what the voices say (sslsv.data.synthetic.language) ---
    language: LanguageMode = "syllables"  # "syllables" (independent syllables) | "lexicon" (words of a grammar)
    lexicon_size: int = 300  # lexicon: words of 1-3 syllables, fixed pronunciations
    grammar_concentration: float = 20.0  # lexicon: bigram rows ~ Dirichlet(this * unigram); larger = less syntax
    zipf_exponent: float = 1.0  # lexicon: unigram of rank r proportional to r ** -this
    # --- real data (paper profile) ---
    voxceleb_root: str = ""  # directory holding wav/ and the Vox1-O trial list
    voxceleb_trials: str = "veri_test2.txt"  # trial list file inside voxceleb_root
    librispeech_root: str = ""  # directory holding LibriSpeech/<subset>/...
    librispeech_subsets: tuple[str, ...] = ("train-clean-100",)


@dataclass(frozen=True)
class FeatureConfig:
    """80-dim log-mel filterbank, the baseline front-end."""

    n_mels: int = 80
    n_fft: int = 512
    win_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float = 7600.0
    mean_norm: bool = True  # per-utterance cepstral-style mean normalisation


@dataclass(frozen=True)
class EcapaConfig:
    """ECAPA-TDNN backend (SpeechBrain's implementation)."""

    channels: int = 512  # C in the paper (512 small, 1024 large)
    attention_channels: int = 128
    embedding_dim: int = 192


@dataclass(frozen=True)
class OptimConfig:
    """The shared training loop: AdamW, linear warm-up, cosine decay."""

    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 2e-5
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05  # final lr = lr * min_lr_ratio
    grad_clip: float = 5.0
    checkpoint_every: int = 200  # steps between resumable checkpoints
    # the length of the cosine schedule (0: steps). Longer than steps, the run stops early on it: its learning
    # rate at every step is that of a run of schedule_steps, so the run is where such a run was at `steps`
    # (the book's upstreams stop on the schedule of chapter 01a's learning curve, whose budget they take)
    schedule_steps: int = 0


@dataclass(frozen=True)
class SVTrainConfig(OptimConfig):
    """Speaker-verification training: random crops, AAM-softmax."""

    crop_seconds: float = 2.0
    aam_margin: float = 0.2
    aam_scale: float = 30.0
    seed: int = 0
    labelled_speakers: int = 0  # train on the first N training speakers (sorted ids) only; 0 = all of them
    # on-the-fly augmentation (sslsv.data.augment), as the VoxCeleb recipes: "" = off
    musan_root: str = ""  # MUSAN layout: noise/, music/, speech/ (additive noise, music, babble)
    rir_root: str = ""  # room impulse responses (.wav/.flac, e.g. RIRS_NOISES/simulated_rirs): reverberation
    augment_probability: float = 0.6  # chance that a crop is augmented (one available kind, uniformly)
    # crops read by this many DataLoader worker processes (sslsv.data.loader), the same batches bit for bit;
    # -1 = auto: up to 8 on CUDA (with pinned memory), none on a CPU (workers compete with the model there)
    loader_workers: int = -1


@dataclass(frozen=True)
class EvalConfig:
    """Scoring and metrics."""

    p_targets: tuple[float, ...] = (0.01, 0.05)
    bootstrap: int = 1000  # bootstrap resamples of the trial list
    ci_level: float = 0.95
    max_eval_seconds: float = 20.0  # longer test utterances are cut (memory)
    # adaptive s-norm (AS-norm) beside raw cosine: each side of a trial is normalised by the mean and sd of
    # its top-N cosine scores against a cohort of training speakers (one mean embedding per speaker, of the
    # first asnorm_utterances_per_speaker utterances); 0 = raw cosine only. WeSpeaker uses N = 300.
    asnorm_top_n: int = 0
    asnorm_utterances_per_speaker: int = 4


@dataclass(frozen=True)
class FrontendConfig:
    """What turns the waveform into frames for the ECAPA-TDNN backend."""

    kind: FrontendKind = "fbank"
    # ssl only: "run:<pretrain run name>", "init:<backbone>:<size>" (random init),
    # a local save_pretrained directory, or a public checkpoint name
    upstream: str = ""
    finetune: bool = False  # False: upstream frozen; True: fine-tuned with the backend
    upstream_lr_scale: float = 0.1  # upstream lr = train.lr * this (fine-tuning)
    layer_weights_lr_scale: float = 5.0  # the softmax layer weights learn faster (PILOT.md)
    freeze_steps: int = 0  # fine-tuning: keep the upstream frozen for the first steps
    finetune_layers: int = 0  # fine-tuning: train only the top N transformer layers (0: every layer)
    freeze_feature_encoder: bool = False  # fine-tuning: keep the waveform conv front-end frozen
    # a frozen upstream, or the frozen lower layers of one fine-tuned in its top layers (finetune_layers):
    # run it once over every whole training utterance and train on random crops of the stored hidden
    # states (the frozen part then sees whole-utterance context, as at test time; the fine-tuned top
    # layers run on the crop); ~3x faster SV training on CPU.
    cache_features: bool = False


@dataclass(frozen=True)
class SVConfig:
    """A complete speaker-verification experiment."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    ecapa: EcapaConfig = field(default_factory=EcapaConfig)
    train: SVTrainConfig = field(default_factory=SVTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    device: Device = "cpu"  # "cpu", "cuda", "cuda:<index>" or "auto"


@dataclass(frozen=True)
class PretrainConfig:
    """Self-supervised (or supervised-CTC) pre-training of an upstream: the knobs the study turns.

    Names are checked against the registries of :mod:`sslsv.pretrain`
    (``BACKBONES``, ``SIZES``, ``OBJECTIVES``, ``QUANTIZERS``).
    """

    backbone: Backbone = "hubert"  # w2v_bert: the fbank-input conformer
    size: str = "tiny"  # "tiny" | "small" | "medium" (CPU) | "base" (12 x 768) | "large" (24 x 1024)
    init: str = ""  # "" = random init; else a checkpoint name or directory to start from
    objective: Objective = "masked"  # ctc: supervised ASR pre-training on the transcripts
    quantizer: Quantizer = "kmeans_mfcc"  # the pre-training targets
    n_clusters: int = 100  # codebook size K (100 on MFCC, 500 on hidden layers in HuBERT)
    kmeans_source: str = ""  # iteration 2: upstream dir, hub name or pre-training run "run:<run name>"
    kmeans_layer: int = 6  # hidden state of kmeans_source that k-means clusters (0 = embedding layer)
    kmeans_max_frames: int = 200_000  # frames sampled to fit k-means (all frames are labelled)
    hours: float = 0.0  # pre-training audio drawn from the pool; 0 = the whole pool
    in_domain: bool = False  # the pool also holds the SV training speakers' audio, unlabelled (on top of hours)
    # what the pool's voices say, when it differs from the SV corpus's corpus.language (the synthetic corpus
    # only): the same voices and channels, another language; "" = the corpus's own (issue 26's fifth factor)
    pool_language: PoolLanguage = ""
    crop_seconds: float = 2.0  # random crop per batch item
    mask_prob: float = 0.08  # probability that a frame starts a mask span (HuBERT: 0.08)
    mask_length: int = 10  # frames per span (HuBERT: 10, so about half the frames are masked)
    unmasked_weight: float = 0.5  # "mixed": weight of the unmasked-frame term (masked term has weight 1)
    temperature: float = 0.1  # cosine logits / contrastive similarities are divided by it
    proj_dim: int = 256  # dimension of the prediction head and label embeddings (HuBERT "final_dim")
    num_negatives: int = 100  # contrastive: distractors per masked frame
    codevectors: int = 320  # contrastive: Gumbel codebook entries per group (wav2vec 2.0: 320 x 2)
    codevector_groups: int = 2
    diversity_weight: float = 0.1  # contrastive: weight of the codebook diversity penalty
    feature_grad_scale: float = 0.1  # HuBERT's gradient scale on the waveform conv front-end
    seed: int = 0  # model init, pool subset, k-means, masks and crops
    # --- the learning curve of the task (sslsv.pretrain.curve); records only, the weights do not change ---
    eval_every: int = 0  # updates between rows of curve.csv (held-out accuracy and loss, chances); 0 = no curve
    eval_batches: int = 4  # held-out batches per row (fixed crops and masks)
    held_out_share: float = 0.0  # share of the pool's audio held out of training, scored by the curve (0 = none)


@dataclass(frozen=True)
class PretrainExperimentConfig:
    """A complete pre-training run: data, model/objective/targets, optimiser, device."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(
        steps=2000, batch_size=16, lr=5e-4, weight_decay=0.01, warmup_steps=200, grad_clip=10.0,
        checkpoint_every=250))
    device: Device = "cpu"  # "cpu", "cuda", "cuda:<index>" or "auto"


# ---------------------------------------------------------------------------
# Strict overrides
# ---------------------------------------------------------------------------


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def check_choice(key: str, value: Any, annotation: Any) -> Any:
    """``value`` if ``annotation`` (a ``Literal`` or a :class:`Pattern` string) allows it; else a ConfigError.

    >>> check_choice("pretrain.objective", "masked", Objective)
    'masked'
    >>> check_choice("pretrain.objective", "bert", Objective)
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: unknown objective 'bert' (key 'pretrain.objective'); valid objectives: masked, unmasked, mixed, contrastive, ctc
    >>> check_choice("device", "gpu", Device)
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: device='gpu' is not a device; valid devices: cpu, cuda, cuda:<index>, auto
    """
    if typing.get_origin(annotation) is Literal:
        valid = typing.get_args(annotation)
        if value not in valid:
            name = re.sub(r"\[\d+\]$", "", key.rpartition(".")[2])  # an item of a tuple: the tuple's noun
            noun = _CHOICE_NOUNS.get(name, name)
            raise ConfigError(f"unknown {noun} {value!r} (key {key!r}); valid {noun}s: {', '.join(map(str, valid))}")
    elif typing.get_origin(annotation) is Annotated:
        pattern = next((m for m in annotation.__metadata__ if isinstance(m, Pattern)), None)
        if pattern is not None and not (isinstance(value, str) and re.fullmatch(pattern.regex, value)):
            raise ConfigError(f"{key}={value!r} is not a {pattern.noun}; valid {pattern.noun}s: "
                              f"{', '.join(pattern.shown)}")
    return value


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Return ``value`` converted to ``annotation`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        if isinstance(value, str):
            return check_choice(key, value, annotation)
    elif origin is Annotated:
        return check_choice(key, _coerce(key, value, typing.get_args(annotation)[0]), annotation)
    elif annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        args = typing.get_args(annotation)
        if isinstance(value, (list, tuple)):
            item_type = args[0] if args else Any
            if item_type is Any:
                return tuple(value)
            return tuple(_coerce(f"{key}[{i}]", v, item_type) for i, v in enumerate(value))
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is type(None) and value is None:
                return None
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                continue
    elif annotation is Any:
        return value
    name = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"key {key!r} expects {name}, got {value!r} ({type(value).__name__})")


def _flatten(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in overrides.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def override(cfg: Any, overrides: Mapping[str, Any] | None, prefix: str = "") -> Any:
    """Return a copy of dataclass ``cfg`` with dotted-key ``overrides`` applied.

    Nested mappings are accepted too (``{"train": {"steps": 5}}``). ``prefix`` (``"study."``) is where
    ``cfg`` sits in a larger set of keys: messages name a key with it.

    >>> override(OptimConfig(), {"steps": 5}).steps
    5
    >>> override(OptimConfig(), {"steps": "five"})
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: key 'steps' expects int, got 'five' (str)
    """
    if not overrides:
        return cfg
    grouped: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    for key, value in _flatten(overrides).items():
        head, _, rest = key.partition(".")
        if rest:
            grouped.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    return _apply(cfg, direct, grouped, prefix=prefix)


def _apply(cfg: Any, direct: dict[str, Any], grouped: dict[str, dict[str, Any]], prefix: str) -> Any:
    types_ = _field_types(type(cfg))
    valid = sorted(types_)
    changes: dict[str, Any] = {}
    for name in list(direct) + list(grouped):
        if name not in types_:
            where = f" under {prefix[:-1]!r}" if prefix else ""
            raise ConfigError(
                f"unknown key {prefix + name!r}; valid keys{where}: {', '.join(valid)}"
            )
    for name, value in direct.items():
        annotation = types_[name]
        if dataclasses.is_dataclass(annotation):
            raise ConfigError(f"key {prefix + name!r} is a section; set one of its keys, e.g. '{prefix + name}.<key>'")
        changes[name] = _coerce(prefix + name, value, annotation)
    for name, sub in grouped.items():
        child = getattr(cfg, name)
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"key {prefix + name!r} is a value, not a section")
        sub_direct = {k: v for k, v in sub.items() if "." not in k}
        sub_grouped: dict[str, dict[str, Any]] = {}
        for k, v in sub.items():
            if "." in k:
                h, _, r = k.partition(".")
                sub_grouped.setdefault(h, {})[r] = v
        changes[name] = _apply(child, sub_direct, sub_grouped, prefix=f"{prefix}{name}.")
    return dataclasses.replace(cfg, **changes)


def valid_keys(cfg: Any, prefix: str = "") -> list[str]:
    """All dotted keys of a (nested) config dataclass."""
    keys: list[str] = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(valid_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


@dataclass(frozen=True)
class Profile:
    """A profile resolved once: its name, its study settings, and its two experiment configs.

    The studies take a profile's name at their entry points, resolve it here once (:func:`profile_context`)
    and pass this record down, so that no helper reads and checks the profile again; :func:`resolve` and
    :func:`study_settings` take either. It prints as its name.

    >>> p = profile_context("smoke")
    >>> str(p), p.study.seeds == study_settings("smoke").seeds, profile_context(p) is p
    ('smoke', True, True)
    >>> resolve(p, {"train.steps": 7}).train.steps, resolve(p) == resolve("smoke")
    (7, True)
    """

    name: str
    study: StudySettings
    sv: "SVConfig"  # the profile's SV config, no overrides
    pretrain: "PretrainExperimentConfig"  # the profile's pre-training config, no overrides
    values: tuple[tuple[str, Any], ...]  # the profile's own keys (sslsv.profiles.PROFILES)

    def __str__(self) -> str:
        return self.name


def profile_context(profile: "str | Profile") -> Profile:
    """``profile`` (a name of :data:`sslsv.profiles.PROFILES`) read and checked once, as a :class:`Profile`."""
    if isinstance(profile, Profile):
        return profile
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    # A profile holds the keys of both experiment configs; a key that neither has is a typo.
    unknown = [k for k in PROFILES[profile] if not k.startswith(PREFIX)
               and not any(_has_key(c, k) for c in (SVConfig(), PretrainExperimentConfig()))]
    if unknown:
        raise ConfigError(f"profile {profile!r} sets {', '.join(map(repr, unknown))}, which no config has "
                          "(see sslsv/profiles.py)")
    study = study_settings(profile)  # the study section is as strict
    values = tuple(PROFILES[profile].items())
    sv, pre = (override(base, {k: v for k, v in values if _has_key(base, k)})
               for base in (SVConfig(), PretrainExperimentConfig()))
    return Profile(profile, study, sv, pre, values)


def resolve(profile: "str | Profile" = "cpu", overrides: Mapping[str, Any] | None = None, base: Any = None) -> Any:
    """The resolved config of a ``profile`` (a name or a :class:`Profile`) with ``overrides`` on top.

    ``base`` is the config dataclass to start from (default :class:`SVConfig`).
    """
    ctx = profile_context(profile)
    if base is None:
        cfg = ctx.sv
    elif type(base) is PretrainExperimentConfig and base == PretrainExperimentConfig():
        cfg = ctx.pretrain
    else:
        cfg = override(base, {k: v for k, v in ctx.values if _has_key(base, k)})
    cfg = override(cfg, overrides)
    validate(cfg)
    return cfg


def study_settings(profile: "str | Profile") -> StudySettings:
    """The study settings of ``profile`` (:mod:`sslsv.settings`; strict: an unknown ``study.*`` key raises);
    a :class:`Profile` holds them already.

    >>> study_settings("smoke").seeds
    (0,)
    >>> study_settings("cpu").sv.steps > 0
    True
    """
    if isinstance(profile, Profile):
        return profile.study
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    section = {k[len(PREFIX):]: v for k, v in PROFILES[profile].items() if k.startswith(PREFIX)}
    try:
        s = override(StudySettings(), section, prefix=PREFIX)
    except ConfigError as exc:
        raise ConfigError(f"profile {profile!r}, study section: {exc}") from None
    r = s.regime
    if r.sv_steps and len(r.sv_steps) != len(r.speakers):
        raise ConfigError(f"profile {profile!r}: study.regime.sv_steps {list(r.sv_steps)} needs one value per amount "
                          f"of study.regime.speakers {list(r.speakers)}")
    check_domains(r.domains, f"profile {profile!r}: study.regime.domains")
    p = r.pinned
    if (p.speakers, p.budget) != (0, 0) and not (p.speakers >= 1 and p.budget >= 1):
        raise ConfigError(f"profile {profile!r}: study.regime.pinned needs speakers >= 1 and budget >= 1 (or neither "
                          f"set); it has speakers={p.speakers}, budget={p.budget}")
    c = s.curve
    if not (1 <= c.eval_every <= c.steps) or not 0 < c.held_out_share < 1:
        raise ConfigError(f"profile {profile!r}: study.curve needs 1 <= eval_every <= steps and 0 < held_out_share < 1; "
                          f"it has steps={c.steps}, eval_every={c.eval_every}, held_out_share={c.held_out_share}")
    return s


def _has_key(cfg: Any, dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if not any(f.name == head for f in dataclasses.fields(cfg)):
        return False
    return _has_key(getattr(cfg, head), rest) if rest else True


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Rebuild a config dataclass from :func:`to_dict` output, strictly."""
    return override(cls(), data)


# Keys added to the configs after runs were already cached, each with the value that reproduces what
# the runs made before the key existed did (dotted path from the top of a run's config -> value).
# A config holding exactly that value hashes as if the key were absent, so a new knob leaves every
# earlier run (and every run name printed in the references) valid; any other value counts as usual.
# Only a value that truly reproduces the old behaviour may be listed here: tests/test_config.py checks
# that each listed key exists and that its neutral value is accepted.
HASH_NEUTRAL: dict[str, Any] = {
    # issue 25: AS-norm off scores as before; the cohort size only matters when it is on
    "eval.asnorm_top_n": 0,
    "eval.asnorm_utterances_per_speaker": 4,
    # issue 25: no augmentation directories trains on clean crops, as before; the probability then has no effect
    "train.musan_root": "",
    "train.rir_root": "",
    "train.augment_probability": 0.6,
    # issue 25: auto reads in the training process on a CPU, as every earlier run did (same batches either way)
    "train.loader_workers": -1,
    # issue 23: the corpus's language; the syllable mode is the generator's original corpus, and the
    # lexicon knobs do nothing in it (the corpus directory hash of a syllable corpus is unchanged)
    "corpus.language": "syllables",
    # 2026-12-05: a schedule as long as the run, as every earlier run had
    "optim.schedule_steps": 0,
    "train.schedule_steps": 0,
    "corpus.lexicon_size": 300,
    "corpus.grammar_concentration": 20.0,
    "corpus.zipf_exponent": 1.0,
    # issue 23: the learning curve; at these values a run records what it did before and trains on the whole pool
    # issue 26: the fine-tuning recipe's options; off, a fine-tuned upstream trains every weight, as before
    "frontend.finetune_layers": 0,
    "frontend.freeze_feature_encoder": False,
    "pretrain.eval_every": 0,
    "pretrain.eval_batches": 4,
    "pretrain.held_out_share": 0.0,
    # issue 26: the pool speaks the corpus's own language
    "pretrain.pool_language": "",
}


def _without_neutral_keys(data: Any) -> Any:
    """``data`` (a :func:`to_dict` tree) less the :data:`HASH_NEUTRAL` keys that hold their neutral value.

    A dotted key matches at any depth (a corpus config nested in a run's config, or in a cache key).

    >>> HASH_NEUTRAL["demo.knob"] = "old"
    >>> _without_neutral_keys({"demo": {"knob": "old", "x": 1}}), _without_neutral_keys({"demo": {"knob": "new"}})
    ({'demo': {'x': 1}}, {'demo': {'knob': 'new'}})
    >>> _without_neutral_keys({"run": {"demo": {"knob": "old"}}})
    {'run': {'demo': {}}}
    >>> del HASH_NEUTRAL["demo.knob"]
    """
    if not HASH_NEUTRAL or not isinstance(data, dict):
        return data
    neutral = {tuple(k.split(".")): json.loads(json.dumps(v)) for k, v in HASH_NEUTRAL.items()}

    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(v) for v in node]
        if not isinstance(node, dict):
            return node
        node = {k: strip(v) for k, v in node.items()}
        for (*head, last), value in neutral.items():
            parent = node
            for part in head:
                parent = parent.get(part) if isinstance(parent, dict) else None
            if isinstance(parent, dict) and last in parent and parent[last] == value:
                del parent[last]
        return node

    return strip(data)


def same_config(recorded: Any, current: Any) -> bool:
    """Whether a run's recorded ``config.json`` describes the config ``current`` (both :func:`to_dict` trees):
    equal but for :data:`HASH_NEUTRAL` keys at their neutral value, which a run recorded before the key
    existed lacks (its name is the same, :func:`config_hash`, and so is what it computed).

    >>> new = to_dict(SVConfig()); old = json.loads(json.dumps(new)); del old["frontend"]["finetune_layers"]
    >>> same_config(old, new), same_config(old, to_dict(override(SVConfig(), {"frontend.finetune_layers": 2})))
    (True, False)
    """
    return recorded == current or _without_neutral_keys(recorded) == _without_neutral_keys(current)


def config_hash(cfg: Any, length: int = 12) -> str:
    """Stable short hash of a config (or any JSON-able object).

    Every key counts, defaults included (except a key added later that holds
    its :data:`HASH_NEUTRAL` value, the behaviour of the runs made before it):

    >>> base = SVConfig()
    >>> config_hash(base) == config_hash(override(base, {"frontend.cache_features": True}))
    False
    >>> d = to_dict(base); del d["frontend"]["cache_features"]
    >>> config_hash(base) == config_hash(d)
    False
    >>> config_hash(OptimConfig()) == config_hash(OptimConfig())
    True
    >>> config_hash(OptimConfig()) == config_hash(OptimConfig(steps=2))
    False
    """
    data = to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    data = _without_neutral_keys(data)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------
# The valid values of every key (the ranges of sslsv.ranges), and the checks of a resolved config
# ---------------------------------------------------------------------------
#
# validate() checks every number of a (nested) config against RANGES, every ordered pair in ORDERED and
# every choice field (check_choice); resolve() calls it, and so does every entry point that takes a config
# built another way. check_seeds() and refuse_controlled() check what a study is asked to run.

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
                  "checkpoint_every": AT_LEAST_1, "schedule_steps": AT_LEAST_0},
    SVTrainConfig: {"crop_seconds": POSITIVE, "aam_margin": AT_LEAST_0, "aam_scale": POSITIVE, "seed": AT_LEAST_0,
                    "labelled_speakers": AT_LEAST_0, "augment_probability": UNIT,
                    "loader_workers": Range(-1)},
    EvalConfig: {"p_targets": OPEN_UNIT, "bootstrap": AT_LEAST_0, "ci_level": OPEN_UNIT,
                 "max_eval_seconds": POSITIVE, "asnorm_top_n": AT_LEAST_0,
                 "asnorm_utterances_per_speaker": AT_LEAST_1},
    FrontendConfig: {"upstream_lr_scale": AT_LEAST_0, "layer_weights_lr_scale": AT_LEAST_0,
                     "freeze_steps": AT_LEAST_0, "finetune_layers": AT_LEAST_0},
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
    >>> validate(resolve("smoke", base=PretrainExperimentConfig()))
    """
    ranges, annotations = _ranges(type(cfg)), _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        value, key = getattr(cfg, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            validate(value, key + ".")
            continue
        check_choice(key, value, annotations[f.name])
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


def check_domains(domains: Any, what: str = "the regime map's domains") -> tuple[str, ...]:
    """Distinct pre-training pools of :data:`~sslsv.settings.DOMAINS`, out-of-domain among them (the default
    upstream, whose fine-tuned cells the map's rule reads, is pre-trained there); anything else is refused by name.

    >>> check_domains(["out-of-domain"])
    ('out-of-domain',)
    >>> check_domains(["in-domain"])
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: the regime map's domains ['in-domain'] leave out 'out-of-domain', where the default upstream (the fine-tuned cells the rule reads) is pre-trained
    """
    domains = tuple(domains or ())
    bad = [d for d in domains if d not in DOMAINS]
    if bad or not domains:
        raise ConfigError(f"{what} {list(domains)}: unknown domain {bad[0] if bad else None!r}; valid domains: "
                          f"{', '.join(DOMAINS)}")
    if len(set(domains)) != len(domains):
        raise ConfigError(f"{what} {list(domains)} repeat a pool: each pool is one column of the map")
    if OUT_OF_DOMAIN not in domains:
        raise ConfigError(f"{what} {list(domains)} leave out {OUT_OF_DOMAIN!r}, where the default upstream (the "
                          "fine-tuned cells the rule reads) is pre-trained")
    return domains


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

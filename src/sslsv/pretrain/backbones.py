"""Upstream speech encoders from Hugging Face ``transformers``.

An :class:`Upstream` wraps one of ``HubertModel``, ``WavLMModel``,
``Wav2Vec2Model`` or ``Wav2Vec2BertModel`` behind the interface the rest of
the project uses: a waveform ``(batch, time)`` in, the list of all hidden
states out (the embedding layer's output first, then every transformer
layer), each ``(batch, frames, hidden_size)``.

It is built either from a named size preset (:data:`SIZES`: ``micro``, ``tiny``,
``small``, ``medium`` that train on a 2-core CPU, and the published ``base``
(12 x 768) and ``large`` (24 x 1024) shapes) or loaded with
:meth:`Upstream.from_pretrained` from a public checkpoint name or a local
directory (never with remote code; safetensors only).

Two details matter for training from scratch (shared/PILOT.md):

* the waveform conv front-end gets HuBERT's gradient scale of 0.1
  (``feature_grad_scale``; transformers does not apply it);
* the w2v-BERT conformer (``backbone="w2v_bert"``) takes 80-dim log-mel
  frames stacked in pairs (160 dims at 50 Hz); the fbank is computed inside
  the upstream so its input is still a waveform.

>>> up = build_upstream("hubert", "tiny")
>>> states = up(torch.zeros(2, 16000))
>>> len(states) == up.n_layers == 5, tuple(states[-1].shape)
(True, (2, 49, 192))
>>> up.frame_rate_hz
50.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import (
    HubertConfig,
    HubertModel,
    Wav2Vec2BertConfig,
    Wav2Vec2BertModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

from ..config import ConfigError
from ..config import FeatureConfig
from ..errors import UserError
from ..features import Fbank

__all__ = ["SIZES", "BACKBONES", "Size", "Upstream", "build_upstream", "backbone_config",
           "count_parameters", "UpstreamLoadError"]

SAMPLE_RATE = 16000



def _no_progress_bars() -> None:
    """Silence transformers' "Loading weights" / "Writing model shards" bars: in a notebook each one lands
    in the chapter as a stderr cell."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

class TopLayersError(ValueError):
    """More top layers asked for than the upstream has (:meth:`Upstream.finetune_split`)."""


class UpstreamLoadError(UserError, RuntimeError):
    """A checkpoint directory or name that cannot be loaded as an upstream (the user's input: a user error)."""


@dataclass(frozen=True)
class Size:
    """Transformer shape of a size preset."""

    hidden: int  # model width
    layers: int  # transformer (or conformer) blocks
    heads: int
    ffn: int  # feed-forward inner width
    conv_channels: int  # waveform conv front-end channels (7 layers, 320x down-sampling)
    published: bool = False  # the published Base/Large recipe (post-LN Base, group-norm conv)


SIZES: dict[str, Size] = {
    # half of tiny in width and depth: the smallest point of the CPU "model size" comparison.
    "micro": Size(hidden=128, layers=2, heads=2, ffn=512, conv_channels=32),
    # 2.5M transformer params: trains at several steps/s on a 2-core CPU with 8 x 2 s batches.
    "tiny": Size(hidden=192, layers=4, heads=4, ffn=768, conv_channels=64),
    # about 3x tiny: the CPU "model size" comparison.
    "small": Size(hidden=256, layers=6, heads=4, ffn=1024, conv_channels=128),
    # still CPU-trainable in minutes per hundred steps; the largest CPU preset.
    "medium": Size(hidden=384, layers=8, heads=6, ffn=1536, conv_channels=256),
    # the published HuBERT/WavLM Base and Large shapes (paper profile, GPU).
    "base": Size(hidden=768, layers=12, heads=12, ffn=3072, conv_channels=512, published=True),
    "large": Size(hidden=1024, layers=24, heads=16, ffn=4096, conv_channels=512, published=True),
}

_MODEL_CLASSES = {
    "hubert": (HubertConfig, HubertModel),
    "wavlm": (WavLMConfig, WavLMModel),
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model),
    "w2v_bert": (Wav2Vec2BertConfig, Wav2Vec2BertModel),
}
# transformers' ``model_type`` in config.json -> our backbone name
_MODEL_TYPES = {"hubert": "hubert", "wavlm": "wavlm", "wav2vec2": "wav2vec2", "wav2vec2-bert": "w2v_bert"}

BACKBONES = ("hubert", "wavlm", "w2v_bert")  # families built from a size preset


def _check_name(kind: str, name: str, valid) -> None:
    if name not in valid:
        raise ConfigError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(valid)}")


def backbone_config(backbone: str, size: str):
    """The transformers config of a ``backbone`` family at a named ``size``.

    Dropout-free layer drop (LayerDrop breaks DDP), masking controlled by the
    caller (``mask_time_prob`` only makes transformers create the mask
    embedding; :class:`Upstream` always passes the mask explicitly).

    >>> backbone_config("hubert", "base").num_hidden_layers
    12
    >>> backbone_config("hubert", "huge")
    Traceback (most recent call last):
    ...
    sslsv.config.ConfigError: unknown size 'huge'; valid sizes: micro, tiny, small, medium, base, large
    """
    _check_name("backbone", backbone, BACKBONES)
    _check_name("size", size, SIZES)
    s = SIZES[size]
    common = dict(hidden_size=s.hidden, num_hidden_layers=s.layers, num_attention_heads=s.heads,
                  intermediate_size=s.ffn, layerdrop=0.0, mask_time_prob=0.05, mask_feature_prob=0.0)
    if backbone == "w2v_bert":
        return Wav2Vec2BertConfig(**common, feature_projection_input_dim=160,
                                  hidden_dropout=0.1, activation_dropout=0.0, attention_dropout=0.1,
                                  add_adapter=False, conv_depthwise_kernel_size=15 if not s.published else 31)
    conv = dict(conv_dim=(s.conv_channels,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2),
                conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_bias=not s.published or size == "large")
    if s.published:
        large = size == "large"
        # Base: post-LN transformer, group-norm conv; Large: pre-LN ("stable"), layer-norm conv.
        norm = dict(feat_extract_norm="layer" if large else "group", do_stable_layer_norm=large)
    else:
        # From-scratch CPU presets: pre-LN transformer and layer-norm conv (stable, PILOT.md).
        norm = dict(feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=64)
    cfg_cls = _MODEL_CLASSES[backbone][0]
    extra = {"feat_proj_layer_norm": True} if backbone == "hubert" else {}
    return cfg_cls(**common, **conv, **norm, **extra, hidden_dropout=0.1, activation_dropout=0.0,
                   attention_dropout=0.1, feat_proj_dropout=0.0)


def count_parameters(backbone: str, size: str) -> int:
    """Parameters of a preset, counted on the ``meta`` device (no memory used).

    >>> round(count_parameters("hubert", "base") / 1e6)
    94
    """
    cfg = backbone_config(backbone, size)
    with torch.device("meta"):
        model = _MODEL_CLASSES[backbone][1](cfg)
    return sum(p.numel() for p in model.parameters())


class _GradScale(torch.autograd.Function):
    """Identity forward, gradient multiplied by ``scale`` backward (fairseq's GradMultiply)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class StackedFbank(nn.Module):
    """80-dim log-mel at 100 Hz, variance-normalised, pairs stacked: ``(batch, frames, 160)`` at 50 Hz.

    >>> StackedFbank()(torch.randn(1, 16000)).shape
    torch.Size([1, 50, 160])
    """

    def __init__(self):
        super().__init__()
        self.fbank = Fbank(FeatureConfig(n_mels=80, mean_norm=True), SAMPLE_RATE)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        feats = self.fbank(wave)  # (batch, frames, 80), mean-normalised per utterance
        feats = feats / (feats.std(dim=1, keepdim=True) + 1e-5)
        n = feats.shape[1] // 2
        return feats[:, : 2 * n].reshape(feats.shape[0], n, 160)


class Upstream(nn.Module):
    """A speech encoder behind one interface.

    ``forward(wave (batch, time), mask=None)`` returns ``n_layers`` tensors of
    shape ``(batch, frames, hidden_size)``.  ``mask`` (``(batch, frames)``
    bool) replaces the masked frames' input with the learned mask embedding
    before the transformer (masked prediction); without it nothing is masked,
    in training mode too (transformers' own SpecAugment is never triggered).
    """

    def __init__(self, model: nn.Module, family: str, feature_grad_scale: float = 0.1):
        super().__init__()
        self.model = model
        self.family = family  # "hubert" | "wavlm" | "wav2vec2" | "w2v_bert"
        self.feature_grad_scale = float(feature_grad_scale)
        cfg = model.config
        self.hidden_size: int = cfg.hidden_size
        self.n_layers: int = cfg.num_hidden_layers + 1
        self.frame_rate_hz: float = 50.0
        self.fbank = StackedFbank() if family == "w2v_bert" else None
        # fairseq normalises the waveform of layer-norm front-ends (e.g. the Large models)
        self.normalize_wave = family != "w2v_bert" and getattr(cfg, "feat_extract_norm", "group") == "layer"
        self._local: torch.Tensor | None = None
        if self.fbank is None:
            self.model.feature_extractor.register_forward_hook(self._conv_hook)

    # --- geometry -------------------------------------------------------
    @property
    def local_dim(self) -> int:
        """Dimension of :meth:`local_features` frames (conv channels or 160 fbank dims)."""
        return 160 if self.fbank is not None else self.model.config.conv_dim[-1]

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a waveform of ``n_samples``.

        >>> build_upstream("hubert", "tiny").n_frames(32000), build_upstream("w2v_bert", "tiny").n_frames(32000)
        (99, 100)
        """
        if self.fbank is not None:
            return (n_samples // 160 + 1) // 2
        return int(self.model._get_feat_extract_output_lengths(torch.tensor(n_samples)))

    def frame_centers(self, n_frames: int) -> torch.Tensor:
        """Sample position of the centre of each output frame, ``(n_frames,)``."""
        t = torch.arange(n_frames, dtype=torch.float64)
        if self.fbank is not None:
            return 320.0 * t + 80.0  # mean of the two stacked 10-ms frames (centred STFT)
        return 320.0 * t + 200.0  # receptive field of the 400-sample conv window

    @property
    def frame_spec(self) -> dict:
        """What target alignment depends on: the front-end's geometry."""
        return {"front_end": "stacked_fbank" if self.fbank is not None else "conv320", "rate": self.frame_rate_hz}

    # --- fine-tuning recipes ---------------------------------------------
    def finetune_split(self, top_layers: int = 0) -> tuple[list[nn.Module], list[nn.Module]]:
        """``(below, top)``: the modules under the top ``top_layers`` transformer layers (the waveform conv
        front-end, the feature projection, the positional convolution, a post-LN encoder's input layer
        norm, the lower layers) and the top layers themselves (with a pre-LN encoder's final layer norm).
        ``top_layers=0``: every transformer layer is on top.

        >>> below, top = build_upstream("hubert", "micro").finetune_split(1)
        >>> len(top), [type(m).__name__ for m in below][:2]
        (2, ['HubertFeatureEncoder', 'HubertFeatureProjection'])
        """
        encoder = self.model.encoder
        layers = list(encoder.layers)
        if not 0 <= top_layers <= len(layers):
            raise TopLayersError(f"this upstream has {len(layers)} transformer layers")
        cut = len(layers) - (top_layers or len(layers))
        pre_ln = getattr(self.model.config, "do_stable_layer_norm", False)
        below = [m for m in (getattr(self.model, "feature_extractor", None), self.model.feature_projection,
                             getattr(encoder, "pos_conv_embed", None), getattr(encoder, "dropout", None),
                             None if pre_ln else getattr(encoder, "layer_norm", None)) if m is not None]
        top = layers[cut:] + ([encoder.layer_norm] if pre_ln and hasattr(encoder, "layer_norm") else [])
        return below + layers[:cut], top

    def freeze_for_finetuning(self, top_layers: int = 0, feature_encoder: bool = False) -> None:
        """Fine-tuning recipes: ``feature_encoder`` keeps the waveform conv front-end frozen (w2v-BERT's
        fbank has no weights); ``top_layers`` > 0 trains only the top transformer layers: everything below
        them is frozen, and the backward pass stops there (:meth:`finetune_split`).

        >>> u = build_upstream("hubert", "micro"); u.freeze_for_finetuning(top_layers=1)
        >>> trainable = {n.split(".")[1] for n, p in u.model.named_parameters() if p.requires_grad}
        >>> sorted(trainable), u.model.encoder.layers[0].attention.q_proj.weight.requires_grad
        (['layer_norm', 'layers'], False)
        """
        conv = getattr(self.model, "feature_extractor", None)
        if conv is not None and (feature_encoder or top_layers):
            conv._freeze_parameters()  # transformers' own: also stops it asking for the input's gradient
        if top_layers:
            for module in self.finetune_split(top_layers)[0]:
                for p in module.parameters():
                    p.requires_grad_(False)
            if hasattr(self.model, "masked_spec_embed"):
                self.model.masked_spec_embed.requires_grad_(False)  # the masked-prediction input, unused in SV

    def top_layers_forward(self, below: torch.Tensor, top_layers: int) -> list[torch.Tensor]:
        """The top ``top_layers`` hidden states computed from ``below`` ``(batch, frames, hidden)``, the
        state under them (``forward(wave)[-top_layers - 1]``), as :meth:`forward` computes them (a pre-LN
        encoder's last state normalised): fine-tuning the top layers on cached lower-layer states
        (:class:`~sslsv.sv.featurizer.SSLFrontend`).  WavLM's layers share the position bias its first
        layer computes, so its top layers cannot start from a state alone.

        >>> u = build_upstream("hubert", "micro").eval(); s = u(torch.randn(1, 8000))
        >>> torch.allclose(u.top_layers_forward(s[-3], 2)[-1], s[-1], atol=1e-5)
        True
        """
        encoder = self.model.encoder
        layers = list(encoder.layers)
        if not 0 < top_layers <= len(layers):
            raise TopLayersError(f"this upstream has {len(layers)} transformer layers")
        if self.family == "wavlm":
            raise TopLayersError("WavLM's layers take the position bias of its first layer, so its top layers "
                                 "cannot run on cached states (set frontend.cache_features=false)")
        kwargs: dict = {}
        if self.family == "w2v_bert":
            embed = getattr(encoder, "embed_positions", None)
            kwargs["relative_position_embeddings"] = embed(below) if embed is not None else None
        states, x = [], below
        for layer in layers[len(layers) - top_layers:]:
            out = layer(x, attention_mask=None, **kwargs)
            x = out[0] if isinstance(out, tuple) else out
            states.append(x)
        if getattr(self.model.config, "do_stable_layer_norm", False):
            states[-1] = encoder.layer_norm(states[-1])
        return states

    # --- forward ----------------------------------------------------------
    def _conv_hook(self, module, inputs, output):
        if self.training and self.feature_grad_scale != 1.0 and torch.is_grad_enabled():
            output = _GradScale.apply(output, self.feature_grad_scale)
        self._local = output
        return output

    def _inputs(self, wave: torch.Tensor) -> dict:
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch (batch, time), got shape {tuple(wave.shape)}")
        if self.fbank is not None:
            feats = self.fbank(wave)
            self._local = feats
            return {"input_features": feats}
        if self.normalize_wave:
            wave = (wave - wave.mean(dim=1, keepdim=True)) / (wave.std(dim=1, keepdim=True) + 1e-5)
        return {"input_values": wave}

    def forward(self, wave: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        return self.forward_with_local(wave, mask)[0]

    def forward_with_local(self, wave: torch.Tensor, mask: torch.Tensor | None = None
                           ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden states and the unmasked local features ``(batch, frames, local_dim)``.

        The local features are the conv front-end's output (waveform
        backbones) or the stacked fbank (w2v-BERT); wav2vec 2.0's quantizer
        takes them as input.
        """
        inputs = self._inputs(wave)
        has_embed = hasattr(self.model, "masked_spec_embed")
        if mask is not None and not has_embed:
            raise ValueError("this checkpoint has no mask embedding (mask_time_prob=0): it cannot be masked")
        if mask is None and has_embed:
            n = self.n_frames(wave.shape[1])
            mask = torch.zeros(wave.shape[0], n, dtype=torch.bool, device=wave.device)
        kwargs = {"mask_time_indices": mask} if mask is not None else {}
        out = self.model(**inputs, output_hidden_states=True, return_dict=True, **kwargs)
        local = self._local
        self._local = None
        if local is not None and local.shape[-1] != self.local_dim:  # conv output is (batch, channels, frames)
            local = local.transpose(1, 2)
        states = list(out.hidden_states)
        # pre-LN ("stable layer norm") encoders report the last layer before their final layer norm;
        # the model's output is the normalised one, so that is the last hidden state here
        states[-1] = out.last_hidden_state
        return states, local

    # --- persistence ------------------------------------------------------
    def save_pretrained(self, directory) -> None:
        """Write ``config.json`` and ``model.safetensors`` (loadable by transformers alone)."""
        _no_progress_bars()
        self.model.save_pretrained(str(directory), safe_serialization=True)

    @classmethod
    def from_pretrained(cls, name_or_dir, feature_grad_scale: float = 0.1) -> "Upstream":
        """Load a public checkpoint name or a local directory (model type read from ``config.json``).

        Never runs remote code; loads safetensors only.  A directory without
        a readable ``config.json``, of an unsupported model type, or whose
        weights do not match its config, is refused with a clear message.
        """
        _no_progress_bars()
        source = str(name_or_dir)
        path = Path(source)
        if path.exists():
            cfg_file = path / "config.json"
            if not cfg_file.is_file():
                raise UpstreamLoadError(f"{path}: no config.json; not a saved upstream directory")
            try:
                model_type = json.loads(cfg_file.read_text()).get("model_type", "")
            except (ValueError, OSError) as e:
                raise UpstreamLoadError(f"{cfg_file}: unreadable config ({e})") from e
            if not (path / "model.safetensors").is_file() and not (path / "model.safetensors.index.json").is_file():
                raise UpstreamLoadError(f"{path}: no model.safetensors (only safetensors checkpoints are loaded)")
        else:
            try:
                from transformers import AutoConfig

                model_type = AutoConfig.from_pretrained(source, trust_remote_code=False).model_type
            except Exception as e:
                raise UpstreamLoadError(f"cannot load upstream {source!r}: not a directory and not an "
                                        f"available checkpoint name ({e})") from e
        if model_type not in _MODEL_TYPES:
            raise UpstreamLoadError(f"{source}: unsupported model_type {model_type!r}; "
                                    f"supported: {', '.join(_MODEL_TYPES)}")
        family = _MODEL_TYPES[model_type]
        model_cls = _MODEL_CLASSES[family][1]
        try:
            model, info = model_cls.from_pretrained(
                source, trust_remote_code=False, use_safetensors=True, output_loading_info=True,
                layerdrop=0.0, mask_feature_prob=0.0)
        except Exception as e:
            raise UpstreamLoadError(f"cannot load upstream {source!r}: {e}") from e
        bad = {k: v for k, v in info.items() if k in ("missing_keys", "mismatched_keys") and v}
        bad_missing = [k for k in bad.get("missing_keys", []) if "masked_spec_embed" not in k]
        if bad_missing or bad.get("mismatched_keys"):
            raise UpstreamLoadError(f"{source}: weights do not match the config "
                                    f"(missing: {bad_missing[:5]}, mismatched: {bad.get('mismatched_keys', [])[:5]})")
        model.eval()
        return cls(model, family, feature_grad_scale)


def build_upstream(backbone: str, size: str, feature_grad_scale: float = 0.1) -> Upstream:
    """A randomly initialised upstream of a backbone family and size preset (call ``torch.manual_seed`` first)."""
    cfg = backbone_config(backbone, size)
    return Upstream(_MODEL_CLASSES[backbone][1](cfg), backbone, feature_grad_scale)

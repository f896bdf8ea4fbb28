"""SSL pre-training: backbones, targets (quantizers), objectives and the run that ties them.

The knobs the study turns are registries with the same names as the config
values: :data:`SIZES`/:data:`BACKBONES` (model size and family),
:data:`QUANTIZERS` (how targets are made), :data:`OBJECTIVES` (the loss),
and ``PretrainConfig.hours`` (data scale).  :func:`pretrain` runs one
configuration and returns its :class:`~sslsv.artifacts.Run`; the
:class:`Upstream` it writes is what the speaker-verification side consumes.
"""

from .backbones import BACKBONES, SIZES, Upstream, UpstreamLoadError, backbone_config, build_upstream, count_parameters
from .masking import MaskError, compute_mask
from .objectives import OBJECTIVES, contrastive_loss, cosine_logits, ctc_loss, hubert_loss
from .quantizers import QUANTIZERS, QuantizerError, Targets, codebook_stats, compute_targets
from .train import PretrainData, PretrainModel, build_model, check_config, evaluate, pretrain

__all__ = [
    "BACKBONES", "SIZES", "OBJECTIVES", "QUANTIZERS", "Upstream", "UpstreamLoadError", "MaskError",
    "QuantizerError", "Targets", "PretrainData", "PretrainModel", "backbone_config", "build_upstream",
    "count_parameters", "compute_mask", "compute_targets", "codebook_stats", "cosine_logits", "hubert_loss",
    "contrastive_loss", "ctc_loss", "build_model", "check_config", "evaluate", "pretrain",
]

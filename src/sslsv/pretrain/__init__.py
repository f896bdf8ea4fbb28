"""SSL pre-training: backbones, targets (quantizers), objectives and the run that ties them.

The knobs the study turns are registries with the same names as the config
values: :data:`SIZES`/:data:`BACKBONES` (model size and family),
:data:`QUANTIZERS` (how targets are made), :data:`OBJECTIVES` (the loss:
one class per objective, holding its head, loss and diagnostics), and
``PretrainConfig.hours`` (data scale).  Batches are made in :mod:`.data`,
the run's report in :mod:`.diagnostics`.  :func:`pretrain` runs one
configuration and returns its :class:`~sslsv.artifacts.Run`; the
:class:`Upstream` it writes is what the speaker-verification side consumes.
"""

from .backbones import BACKBONES, SIZES, Upstream, UpstreamLoadError, backbone_config, build_upstream, count_parameters
from .masking import MaskError, compute_mask
from .data import PretrainData
from .diagnostics import evaluate
from .objectives import OBJECTIVES, Objective, contrastive_loss, cosine_logits, ctc_loss, hubert_loss, make_objective
from .quantizers import QUANTIZERS, QuantizerError, Targets, codebook_stats, compute_targets
from .train import PretrainModel, build_model, check_config, pretrain, pretrain_inputs

__all__ = [
    "BACKBONES", "SIZES", "OBJECTIVES", "QUANTIZERS", "Upstream", "UpstreamLoadError", "MaskError",
    "QuantizerError", "Targets", "Objective", "PretrainData", "PretrainModel", "backbone_config", "build_upstream",
    "count_parameters", "compute_mask", "compute_targets", "codebook_stats", "cosine_logits", "hubert_loss",
    "contrastive_loss", "ctc_loss", "make_objective", "build_model", "check_config", "evaluate", "pretrain",
    "pretrain_inputs",
]

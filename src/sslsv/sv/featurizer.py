"""SSL front-end for speaker verification: an upstream and its layer featurizer.

Following s3prl/SUPERB, every hidden state of the upstream (the input
embedding and each transformer layer) is layer-normalised and the states
are combined by a learnable softmax-weighted sum, initialised equal. The
result, ``(batch, frames, hidden)``, feeds the same ECAPA-TDNN as the fbank
baseline. The upstream is either frozen (only the layer weights and the
backend learn) or fine-tuned (with its own, lower learning rate and an
optional number of initial steps during which it stays frozen).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F


def weighted_layer_sum(hidden_states: list[torch.Tensor], layer_logits: torch.Tensor) -> torch.Tensor:
    """Softmax-weighted sum of layer-normalised hidden states.

    ``hidden_states``: ``n_layers`` tensors ``(batch, frames, dim)``;
    ``layer_logits``: ``(n_layers,)``. Returns ``(batch, frames, dim)``.

    >>> h = [torch.ones(1, 2, 3) * i for i in range(2)]
    >>> weighted_layer_sum(h, torch.zeros(2)).shape
    torch.Size([1, 2, 3])
    """
    if len(hidden_states) != layer_logits.numel():
        raise ValueError(f"{len(hidden_states)} hidden states but {layer_logits.numel()} layer weights")
    stacked = torch.stack([F.layer_norm(h, h.shape[-1:]) for h in hidden_states], dim=0)
    weights = torch.softmax(layer_logits, dim=0).view(-1, 1, 1, 1)
    return (weights * stacked).sum(dim=0)


class SSLFrontend(torch.nn.Module):
    """Waveform ``(batch, time)`` -> featurized upstream frames ``(batch, frames, hidden)``.

    ``layer_weights`` (softmax of ``layer_logits``) says how much each layer
    contributes; they are saved with the model and plotted in the book.
    """

    def __init__(self, upstream: torch.nn.Module, finetune: bool = False):
        super().__init__()
        self.upstream = upstream
        self.finetune = finetune
        self.output_dim = upstream.hidden_size
        self.layer_logits = torch.nn.Parameter(torch.zeros(upstream.n_layers))
        self.upstream_frozen = not finetune  # also True during a fine-tuning run's frozen warm-up
        if not finetune:
            for p in self.upstream.parameters():
                p.requires_grad_(False)
            self.upstream.eval()

    @property
    def layer_weights(self) -> torch.Tensor:
        return torch.softmax(self.layer_logits.detach(), dim=0)

    def train(self, mode: bool = True) -> "SSLFrontend":
        super().train(mode)
        if self.upstream_frozen:
            self.upstream.eval()  # a frozen upstream never uses dropout
        return self

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.upstream_frozen:
            with torch.no_grad():
                hidden = self.upstream(wave)
        else:
            hidden = self.upstream(wave)
        return weighted_layer_sum(hidden, self.layer_logits)


def resolve_upstream_reference(reference: str) -> str:
    """Turn a front-end's ``upstream`` reference into a loadable name or directory.

    ``run:<name>`` is a run under the artifact root (its ``upstream/``
    directory, written by pre-training); anything else is a local directory
    or a public checkpoint name.
    """
    from ..artifacts import artifact_root

    if reference.startswith("run:"):
        path = artifact_root() / "runs" / reference[4:] / "upstream"
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"upstream {reference!r}: {path} has no saved upstream "
                                    "(pre-train it first, or check the artifact root)")
        return str(path)
    return reference


def build_ssl_frontend(upstream: str, finetune: bool, seed: int = 0) -> SSLFrontend:
    """An :class:`SSLFrontend` for an ``upstream`` reference.

    ``init:<backbone>:<size>`` builds a randomly initialised upstream (the
    "no pre-training" control, seeded by ``seed``); ``run:...``, a directory
    or a checkpoint name load saved weights.
    """
    from ..pretrain.backbones import Upstream, build_upstream

    if upstream.startswith("init:"):
        parts = upstream.split(":")
        if len(parts) != 3:
            raise ValueError(f"upstream {upstream!r}: expected 'init:<backbone>:<size>'")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = build_upstream(parts[1], parts[2])
    else:
        model = Upstream.from_pretrained(resolve_upstream_reference(upstream))
    return SSLFrontend(model, finetune=finetune)


def upstream_exists(reference: str) -> bool:
    if reference.startswith("init:"):
        return True
    try:
        return Path(resolve_upstream_reference(reference)).exists()
    except FileNotFoundError:
        return False

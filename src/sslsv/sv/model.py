"""Speaker model: a front-end, SpeechBrain's ECAPA-TDNN, and an AAM-softmax head.

The front-end turns a waveform into frames (``(batch, time)`` ->
``(batch, frames, dim)``); keeping it inside the model means the same
network is trained, embedded and attributed from the waveform, whether
the front-end is an fbank or an SSL upstream.
"""

from __future__ import annotations

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
from speechbrain.nnet.losses import AdditiveAngularMargin, LogSoftmaxWrapper

from ..config import EcapaConfig, FeatureConfig
from ..features import Fbank


class FbankFrontend(torch.nn.Module):
    """The baseline front-end: 80-dim log-mel filterbank (no trainable weights)."""

    def __init__(self, cfg: FeatureConfig = FeatureConfig(), sample_rate: int = 16000):
        super().__init__()
        self.fbank = Fbank(cfg, sample_rate)
        self.output_dim = cfg.n_mels

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.fbank(wave)


class SpeakerModel(torch.nn.Module):
    """Waveform to speaker embedding.

    Input ``(batch, time)``; output ``(batch, embedding_dim)``.

    >>> model = SpeakerModel(FbankFrontend(), EcapaConfig(channels=32, attention_channels=8, embedding_dim=16))
    >>> model(torch.randn(2, 16000)).shape
    torch.Size([2, 16])
    """

    def __init__(self, frontend: torch.nn.Module, cfg: EcapaConfig = EcapaConfig()):
        super().__init__()
        self.frontend = frontend
        c = cfg.channels
        self.ecapa = ECAPA_TDNN(
            frontend.output_dim,
            channels=[c, c, c, c, 3 * c],
            attention_channels=cfg.attention_channels,
            lin_neurons=cfg.embedding_dim,
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = self.frontend(wave)
        return self.ecapa(frames).squeeze(1)


class AAMSoftmaxHead(torch.nn.Module):
    """Cosine classifier over training speakers with additive angular margin.

    ``forward(embeddings (batch, dim), labels (batch,))`` returns
    ``(loss, accuracy)``.

    >>> head = AAMSoftmaxHead(16, n_speakers=4)
    >>> loss, acc = head(torch.randn(3, 16), torch.tensor([0, 1, 3]))
    >>> loss.ndim, 0.0 <= acc <= 1.0
    (0, True)
    """

    def __init__(self, embedding_dim: int, n_speakers: int, margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        self.classifier = Classifier(embedding_dim, lin_neurons=embedding_dim, out_neurons=n_speakers)
        self.loss = LogSoftmaxWrapper(AdditiveAngularMargin(margin=margin, scale=scale))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        cosines = self.classifier(embeddings.unsqueeze(1))  # (batch, 1, n_speakers)
        loss = self.loss(cosines, labels.unsqueeze(1))
        accuracy = (cosines.squeeze(1).argmax(-1) == labels).float().mean().item()
        return loss, accuracy


class SVTrainingModel(torch.nn.Module):
    """The speaker model and its training head, as one module for the training loop."""

    def __init__(self, speaker_model: SpeakerModel, head: AAMSoftmaxHead):
        super().__init__()
        self.speaker_model = speaker_model
        self.head = head

    def forward(self, wave: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, float]:
        return self.head(self.speaker_model(wave), labels)

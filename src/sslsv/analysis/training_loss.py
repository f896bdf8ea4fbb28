"""The training loss of an SV model as a function of its weights, on a fixed batch set.

The landscape is that of the **training loss**: AAM-softmax over the
training speakers, of the speaker model *and* its classification head
(:class:`TrainingLoss` wraps :class:`~sslsv.sv.model.SVTrainingModel` so
that ``forward(wave, labels)`` is the scalar loss).  It is evaluated in
eval mode (batch-norm running statistics, no dropout) on a **fixed batch
set**: ``n_batches`` deterministic crop batches of the training corpus
(:func:`fixed_batches`, drawn with :func:`sslsv.training.step_rng` from a
landscape seed that no training run uses), the same for every model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

#: Seed of the fixed landscape batch set (distinct from any training seed).
LANDSCAPE_SEED = 20180101

Params = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, ...]


class TrainingLoss(torch.nn.Module):
    """The AAM-softmax training loss of an SV model as ``forward(wave, labels) -> scalar``.

    Unlike :class:`~sslsv.sv.model.SVTrainingModel.forward` it returns only
    the loss (no ``.item()`` accuracy), so it can be vectorised with
    ``torch.func.vmap``.  Parameter names are those of the SVTrainingModel
    prefixed with ``model.``.
    """

    def __init__(self, training_model: torch.nn.Module):
        super().__init__()
        self.model = training_model

    def forward(self, wave: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.model.speaker_model(wave)
        cosines = self.model.head.classifier(emb.unsqueeze(1))
        return self.model.head.loss(cosines, labels.unsqueeze(1))


def _sv_config(run):
    """The :class:`~sslsv.config.SVConfig` of an SV run (its config, or the dict it was saved as)."""
    from ..config import SVConfig, from_dict

    if isinstance(run.config, SVConfig):
        return run.config
    return from_dict(SVConfig, dict(run.config_dict))


def load_training_model(run, corpus=None) -> torch.nn.Module:
    """Rebuild the trained :class:`~sslsv.sv.model.SVTrainingModel` (speaker model + AAM head) of a run.

    The weights are the ``model`` state of the run's final ``checkpoint.pt``.
    The number of training speakers is read from the head's weight in the
    checkpoint; when ``corpus`` is given it is checked against the speakers the
    run learned (:func:`sslsv.sv.pipeline.labelled_speakers`: all of the
    corpus's, or the first ``train.labelled_speakers``).  Returned in eval mode.
    """
    from ..artifacts import torch_load
    from ..sv.model import AAMSoftmaxHead, SVTrainingModel
    from ..sv.pipeline import build_speaker_model, labelled_speakers

    if not run.checkpoint_file.exists():
        raise FileNotFoundError(f"{run.checkpoint_file} does not exist: train the run first")
    state = torch_load(run.checkpoint_file)["model"]
    cfg = _sv_config(run)
    n_speakers = int(state["head.classifier.weight"].shape[0])
    if corpus is not None and len(labelled_speakers(corpus, cfg)) != n_speakers:
        raise ValueError(f"checkpoint head has {n_speakers} speakers, but the run learned "
                         f"{len(labelled_speakers(corpus, cfg))} of the corpus's {len(corpus.train_speakers)}")
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten: leave the caller's RNG alone
        head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, n_speakers, cfg.train.aam_margin, cfg.train.aam_scale)
        model = SVTrainingModel(build_speaker_model(cfg), head)
    model.load_state_dict(state)
    return model.eval()


def initial_training_model(run, n_speakers: int) -> torch.nn.Module:
    """The SVTrainingModel of a run *before* SV training (the start of the interpolation path).

    Rebuilt with the run's seed in the order
    :func:`sslsv.sv.pipeline.train_speaker_model` uses (``torch.manual_seed``,
    speaker model, head), so it reproduces the initial weights: the
    pre-trained upstream plus a freshly initialised backend and head for an
    SSL front-end, all random for the fbank model.
    """
    from ..sv.model import AAMSoftmaxHead, SVTrainingModel
    from ..sv.pipeline import build_speaker_model

    cfg = _sv_config(run)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG state alone
        torch.manual_seed(cfg.train.seed)
        speaker_model = build_speaker_model(cfg)
        head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, n_speakers, cfg.train.aam_margin, cfg.train.aam_scale)
    return SVTrainingModel(speaker_model, head).eval()


def fixed_batches(corpus, n_batches: int = 4, batch_size: int = 16, crop_seconds: float = 2.0,
                  sample_rate: int = 16000, seed: int = LANDSCAPE_SEED, speakers=None) -> list[Batch]:
    """``n_batches`` deterministic ``(wave (batch, crop), labels (batch,))`` crops of the training corpus.

    Labels index ``speakers`` (default ``corpus.train_speakers``, sorted: the labelled speakers of the
    models, as in training); only their utterances are drawn.  Batch ``k`` is drawn with
    ``step_rng(seed, k)``: the same set for every model.
    """
    from ..data.batching import CropSampler
    from ..training import step_rng

    label_of = {s: i for i, s in enumerate(corpus.train_speakers if speakers is None else speakers)}
    train = [u for u in corpus.train if u.speaker in label_of]
    sampler = CropSampler([u.path for u in train], [label_of[u.speaker] for u in train],
                          int(crop_seconds * sample_rate))
    return [sampler.batch(step_rng(seed, k), batch_size) for k in range(int(n_batches))]


def batch_weights(batches: Sequence[Batch]) -> list[float]:
    """The share of each batch in the batch-set mean: its size over the total size."""
    sizes = np.array([len(b[0]) for b in batches], dtype=np.float64)
    return (sizes / sizes.sum()).tolist()


def loss_on_batches(loss_module: torch.nn.Module, batches: Sequence[Batch]) -> float:
    """Mean loss over the batch set (weighted by batch size), eval mode, no gradients."""
    loss_module.eval()
    with torch.no_grad():
        return float(sum(w * float(loss_module(*b)) for w, b in zip(batch_weights(batches), batches)))

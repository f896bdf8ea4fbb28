"""Pre-training objectives: one pure loss function per concept, one registry.

============== ===============================================================
``masked``      HuBERT masked prediction: span masks, cross-entropy on masked
                frames only, cosine logits at temperature 0.1.
``unmasked``    the same prediction without masking (loss on every frame).
``mixed``       masked term (weight 1) + ``unmasked_weight`` x unmasked term,
                with masking (HuBERT's ``pred_nomask_weight``).
``contrastive`` wav2vec 2.0: identify the quantized local feature of a masked
                frame among distractors (Gumbel codebook + diversity penalty).
``ctc``         supervised ASR pre-training: CTC on the transcript tokens.
============== ===============================================================

The masked/unmasked trade-off is one function, :func:`hubert_loss`, whose
arguments are the weights of the two terms (as in torchaudio's HuBERT
recipe), so the loss study turns one knob.  Each objective is one class of
:data:`OBJECTIVES` that calls these functions: the head it adds to the
upstream, what its batches carry, its loss and its diagnostics.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchaudio.functional import edit_distance

from ..config import ConfigError, PretrainConfig
from .masking import compute_mask, sample_negatives

__all__ = ["OBJECTIVES", "Objective", "cosine_logits", "hubert_loss", "contrastive_loss", "diversity_loss",
           "ctc_loss", "check_objective", "make_objective", "token_error_rate", "window_mean"]

IGNORE = -100  # target of padded frames


def cosine_logits(x: torch.Tensor, label_embeddings: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Cosine similarity of each frame to each label embedding, divided by ``temperature``.

    ``x`` ``(batch, frames, dim)``, ``label_embeddings`` ``(K, dim)`` ->
    ``(batch, frames, K)``.

    >>> cosine_logits(torch.ones(1, 2, 3), torch.eye(3), 0.1).shape
    torch.Size([1, 2, 3])
    """
    return F.normalize(x.float(), dim=-1) @ F.normalize(label_embeddings.float(), dim=-1).T / temperature


def _ce_acc(logits: torch.Tensor, targets: torch.Tensor, select: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    sel = select & (targets != IGNORE)
    n = int(sel.sum())
    if n == 0:
        return logits.sum() * 0.0, float("nan"), 0
    lg, tg = logits[sel], targets[sel]
    return F.cross_entropy(lg, tg), float((lg.argmax(-1) == tg).float().mean()), n


def hubert_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None,
                masked_weight: float = 1.0, unmasked_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
    """``masked_weight * CE(masked frames) + unmasked_weight * CE(unmasked frames)``.

    ``logits`` ``(batch, frames, K)``, ``targets`` ``(batch, frames)`` (``-100``
    = padding), ``mask`` ``(batch, frames)`` bool or ``None`` (nothing
    masked).  Each term is the mean over its frames.  Returns the loss and
    per-term losses and accuracies (NaN when a term has no frames).

    >>> logits = torch.zeros(1, 4, 5); logits[0, :, 2] = 10.0
    >>> loss, logs = hubert_loss(logits, torch.tensor([[2, 2, 1, 2]]), torch.tensor([[True, True, False, False]]))
    >>> round(float(loss), 4), logs["masked_acc"], logs["unmasked_acc"]
    (0.0002, 1.0, 0.5)
    """
    if mask is None:
        mask = torch.zeros_like(targets, dtype=torch.bool)
    lm, acc_m, n_m = _ce_acc(logits, targets, mask)
    lu, acc_u, n_u = _ce_acc(logits, targets, ~mask)
    loss = masked_weight * lm + unmasked_weight * lu
    return loss, {"masked_loss": float(lm.detach()), "unmasked_loss": float(lu.detach()), "masked_acc": acc_m,
                  "unmasked_acc": acc_u, "masked_frames": float(n_m)}


def contrastive_loss(context: torch.Tensor, quantized: torch.Tensor, mask: torch.Tensor,
                     negatives: torch.Tensor, temperature: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """wav2vec 2.0's InfoNCE on masked frames.

    ``context``, ``quantized`` ``(batch, frames, dim)``; ``mask``
    ``(batch, frames)`` bool; ``negatives`` ``(batch, frames, N)`` indices
    into the flattened ``batch * frames`` axis of ``quantized``.  The
    positive is the frame's own quantized vector; a distractor identical to
    it is ignored.  Returns the mean loss over masked frames and the
    accuracy of picking the positive (chance ``1 / (N + 1)``).

    >>> q = torch.randn(1, 6, 4); m = torch.tensor([[True] * 6])
    >>> neg = torch.tensor([[[1], [0], [3], [2], [5], [4]]])
    >>> loss, logs = contrastive_loss(q, q, m, neg)
    >>> logs["contrastive_acc"]
    1.0
    """
    b, t, d = quantized.shape
    flat = quantized.reshape(b * t, d)
    neg = flat[negatives.reshape(-1)].reshape(b, t, -1, d)  # (b, t, N, d)
    candidates = torch.cat([quantized.unsqueeze(2), neg], dim=2)  # (b, t, 1 + N, d)
    sims = F.cosine_similarity(context.float().unsqueeze(2), candidates.float(), dim=-1) / temperature
    same = (neg == quantized.unsqueeze(2)).all(-1)
    sims[..., 1:] = sims[..., 1:].masked_fill(same, float("-inf"))
    sel = sims[mask]  # (masked frames, 1 + N)
    if sel.shape[0] == 0:
        return sims.sum() * 0.0, {"contrastive_acc": float("nan")}
    target = torch.zeros(sel.shape[0], dtype=torch.long, device=sel.device)
    loss = F.cross_entropy(sel, target)
    return loss, {"contrastive_acc": float((sel.argmax(-1) == 0).float().mean())}


def diversity_loss(perplexity: torch.Tensor, n_codevectors: int) -> torch.Tensor:
    """wav2vec 2.0's codebook diversity penalty ``(G V - perplexity) / (G V)``.

    >>> float(diversity_loss(torch.tensor(640.0), 640))
    0.0
    """
    return (n_codevectors - perplexity) / n_codevectors


def ctc_loss(log_probs: torch.Tensor, tokens: torch.Tensor, frame_lengths: torch.Tensor,
             token_lengths: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """CTC loss (blank = 0) of ``log_probs`` ``(batch, frames, vocab)`` against padded ``tokens``.

    Returns the loss (mean over items of the per-token loss) and the greedy
    frame-level share of non-blank predictions.

    >>> lp = torch.log_softmax(torch.randn(2, 10, 5), -1)
    >>> loss, _ = ctc_loss(lp, torch.tensor([[1, 2], [3, 0]]), torch.tensor([10, 8]), torch.tensor([2, 1]))
    >>> bool(torch.isfinite(loss))
    True
    """
    loss = F.ctc_loss(log_probs.float().transpose(0, 1), tokens, frame_lengths, token_lengths,
                      blank=0, reduction="mean", zero_infinity=True)
    return loss, {"nonblank_share": float((log_probs.argmax(-1) != 0).float().mean())}


def greedy_decode(log_probs: torch.Tensor, frame_lengths: torch.Tensor) -> list[list[int]]:
    """Best-path CTC decoding: collapse repeats, drop blanks (0)."""
    out = []
    for lp, n in zip(log_probs.argmax(-1), frame_lengths):
        seq, prev = [], -1
        for s in lp[: int(n)].tolist():
            if s != prev and s != 0:
                seq.append(s)
            prev = s
        out.append(seq)
    return out


def token_error_rate(hypotheses: list[list[int]], references: list[list[int]]) -> float:
    """Levenshtein distances (torchaudio's) summed over items, per reference token.

    >>> token_error_rate([[1, 3], [2]], [[1, 2, 3], [2]])
    0.25
    """
    errors = sum(edit_distance(h, r) for h, r in zip(hypotheses, references))
    return errors / max(1, sum(len(r) for r in references))


def window_mean(history: list[dict], key: str, first: bool = False, frac: float = 0.1) -> float:
    """Mean of ``key`` over the first or last ``frac`` of the training log (NaNs skipped; NaN when absent).

    >>> window_mean([{"loss": 4.0}, {"loss": 2.0}], "loss"), window_mean([{"loss": 4.0}, {"loss": 2.0}], "loss", True)
    (2.0, 4.0)
    """
    vals = [r[key] for r in history if key in r and not math.isnan(r[key])]
    if not vals:
        return float("nan")
    k = max(1, int(len(vals) * frac))
    chunk = vals[:k] if first else vals[-k:]
    return float(np.mean(chunk))


# ---------------------------------------------------------------------------
# the registry: one class per objective (head, loss, batch parts, diagnostics)
# ---------------------------------------------------------------------------


class Objective:
    """One pre-training objective: what it adds to the upstream, asks of a batch, computes and reports.

    The pre-training model and batches ask it instead of testing the objective's name:

    * :meth:`head` names the modules and parameters added next to the upstream;
      :class:`~sslsv.pretrain.train.PretrainModel` sets them as its own attributes
      under these names (so state-dict keys read ``final_proj.weight``, ``label_embeddings``);
    * :meth:`batch_parts` draws what a batch needs beyond the crops (masks, distractors);
    * :meth:`loss` runs the upstream on a batch and returns ``(loss, logs)``;
    * :meth:`diagnostics` is its part of the run's ``diagnostics.json``.

    ``uses_targets``: its loss needs quantizer labels (``pretrain.quantizer`` matters);
    ``uses_transcripts``: batches carry transcript tokens; ``accuracy_key``: the
    training log plotted against chance.
    """

    name: ClassVar[str]
    uses_mask: ClassVar[bool] = False
    uses_targets: ClassVar[bool] = False
    uses_transcripts: ClassVar[bool] = False
    accuracy_key: ClassVar[str]

    def __init__(self, cfg: PretrainConfig):
        self.cfg = cfg

    def head(self, upstream: nn.Module, n_classes: int = 0, vocab_size: int = 0) -> dict[str, nn.Module | nn.Parameter]:
        raise NotImplementedError

    def batch_parts(self, rng: np.random.Generator, shape: tuple[int, int], held_out: bool = False) -> dict[str, Any]:
        """Extra batch entries for crops of ``shape`` ``(batch, frames)``, drawn from ``rng`` after the crops."""
        if not self.masks(held_out):
            return {}
        return {"mask": torch.from_numpy(compute_mask(shape, self.cfg.mask_prob, self.cfg.mask_length, rng))}

    def masks(self, held_out: bool = False) -> bool:
        """Whether a (training or held-out) batch is masked before the transformer."""
        return self.uses_mask

    def loss(self, model: nn.Module, batch: dict[str, Any], wave: torch.Tensor,
             mask: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def diagnostics(self, history: list[dict], evaluation: dict[str, float], targets: Any) -> dict[str, Any]:
        return {}


class TargetPrediction(Objective):
    """HuBERT's prediction of quantizer labels: :func:`hubert_loss` on cosine logits.

    Head: ``final_proj`` (hidden -> ``proj_dim``) and ``label_embeddings``
    ``(K, proj_dim)``.  Held-out batches are masked whatever the objective
    trains with, so every variant reports a comparable masked-prediction accuracy.
    """

    uses_targets = True
    masked_weight: float = 1.0
    unmasked_weight: float = 0.0
    accuracy_key = "masked_acc"

    def head(self, upstream, n_classes=0, vocab_size=0):
        if n_classes < 2:
            raise ConfigError(f"objective {self.cfg.objective!r} needs targets with at least 2 classes")
        return {"final_proj": nn.Linear(upstream.hidden_size, self.cfg.proj_dim),
                "label_embeddings": nn.Parameter(torch.randn(n_classes, self.cfg.proj_dim) * 0.1)}

    def masks(self, held_out: bool = False) -> bool:
        return self.uses_mask or held_out  # held-out batches are masked whatever it trains with

    def loss(self, model, batch, wave, mask):
        states = model.upstream(wave, mask)
        logits = cosine_logits(model.final_proj(states[-1]), model.label_embeddings, self.cfg.temperature)
        return hubert_loss(logits, batch["targets"].to(wave.device), mask, self.masked_weight, self.unmasked_weight)

    def diagnostics(self, history, evaluation, targets):
        stats = targets.info.get("codebook", {})
        out: dict[str, Any] = {"targets": stats, "chance_uniform": 1.0 / targets.n_classes,
                               "chance_majority": stats.get("majority_frequency"),
                               "loss_uniform": math.log(targets.n_classes),
                               "masked_acc_last": window_mean(history, "masked_acc"),
                               "unmasked_acc_last": window_mean(history, "unmasked_acc"),
                               "masked_acc_eval": evaluation.get("masked_acc")}
        acc = evaluation.get("masked_acc", 0.0)
        out["above_uniform_chance"] = bool(acc > out["chance_uniform"])
        # the stricter bar: a model that always predicts the commonest target reaches the majority frequency
        out["above_chance"] = bool(acc > max(out["chance_uniform"], out["chance_majority"] or 0.0))
        return out


class MaskedPrediction(TargetPrediction):
    """``masked``: span masks, cross-entropy on the masked frames only."""

    name = "masked"
    uses_mask = True


class UnmaskedPrediction(TargetPrediction):
    """``unmasked``: no masks in training, cross-entropy on every frame."""

    name = "unmasked"
    masked_weight, unmasked_weight = 0.0, 1.0
    accuracy_key = "unmasked_acc"


class MixedPrediction(TargetPrediction):
    """``mixed``: masked term + ``pretrain.unmasked_weight`` x unmasked term, with masks."""

    name = "mixed"
    uses_mask = True

    def __init__(self, cfg: PretrainConfig):
        super().__init__(cfg)
        self.unmasked_weight = cfg.unmasked_weight


class Contrastive(Objective):
    """``contrastive``: wav2vec 2.0's InfoNCE against a Gumbel codebook of the local features.

    Head: transformers' Gumbel vector quantizer on the layer-normalised local
    features, projections of context and codevectors to ``proj_dim``.
    """

    name = "contrastive"
    uses_mask = True
    accuracy_key = "contrastive_acc"

    def head(self, upstream, n_classes=0, vocab_size=0):
        from transformers import Wav2Vec2Config
        from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2GumbelVectorQuantizer

        cfg = self.cfg
        qcfg = Wav2Vec2Config(num_codevector_groups=cfg.codevector_groups, num_codevectors_per_group=cfg.codevectors,
                              codevector_dim=cfg.proj_dim, conv_dim=(upstream.local_dim,) * 7)
        local_norm = nn.LayerNorm(upstream.local_dim, elementwise_affine=False)
        quantizer = Wav2Vec2GumbelVectorQuantizer(qcfg)
        nn.init.uniform_(quantizer.codevectors)
        nn.init.normal_(quantizer.weight_proj.weight, std=1.0)
        nn.init.zeros_(quantizer.weight_proj.bias)
        return {"local_norm": local_norm, "quantizer": quantizer,
                "project_q": nn.Linear(cfg.proj_dim, cfg.proj_dim),
                "project_hid": nn.Linear(upstream.hidden_size, cfg.proj_dim)}

    def batch_parts(self, rng, shape, held_out=False):
        parts = super().batch_parts(rng, shape, held_out)
        negatives = sample_negatives(shape, self.cfg.num_negatives, parts["mask"].numpy(), rng)
        parts["negatives"] = torch.from_numpy(negatives.astype(np.int64))
        return parts

    def loss(self, model, batch, wave, mask):
        states, local = model.upstream.forward_with_local(wave, mask)
        model.quantizer.temperature = float(batch["gumbel_temperature"])
        quantized, perplexity = model.quantizer(model.local_norm(local.float()), mask_time_indices=mask)
        quantized = model.project_q(quantized)
        context = model.project_hid(states[-1])
        lc, logs = contrastive_loss(context, quantized, mask, batch["negatives"].to(wave.device),
                                    self.cfg.temperature)
        ld = diversity_loss(perplexity, self.cfg.codevectors * self.cfg.codevector_groups)
        logs.update(contrastive_loss=float(lc.detach()), code_perplexity=float(perplexity.detach()))
        return lc + self.cfg.diversity_weight * ld, logs

    def diagnostics(self, history, evaluation, targets):
        chance = 1.0 / (self.cfg.num_negatives + 1)
        above = bool(evaluation.get("contrastive_acc", 0.0) > chance)
        return {"chance_uniform": chance, "contrastive_acc_eval": evaluation.get("contrastive_acc"),
                "code_perplexity_last": window_mean(history, "code_perplexity"),
                "above_chance": above, "above_uniform_chance": above}


class CTC(Objective):
    """``ctc``: supervised ASR pre-training, :func:`ctc_loss` on transcript tokens (head: a linear layer).

    Held-out batches also report the greedy token error rate.
    """

    name = "ctc"
    uses_transcripts = True
    accuracy_key = "nonblank_share"

    def head(self, upstream, n_classes=0, vocab_size=0):
        return {"ctc_head": nn.Linear(upstream.hidden_size, vocab_size + 1)}

    def loss(self, model, batch, wave, mask):
        device = wave.device
        log_probs = torch.log_softmax(model.ctc_head(model.upstream(wave)[-1]).float(), dim=-1)
        loss, logs = ctc_loss(log_probs, batch["tokens"].to(device), batch["frame_lengths"].to(device),
                              batch["token_lengths"].to(device))
        if not model.training:
            hyps = greedy_decode(log_probs.detach().cpu(), batch["frame_lengths"])
            refs = [t[:n].tolist() for t, n in zip(batch["tokens"], batch["token_lengths"])]
            logs["token_error_rate"] = token_error_rate(hyps, refs)
        return loss, logs

    def diagnostics(self, history, evaluation, targets):
        return {"token_error_rate_eval": evaluation.get("token_error_rate"),
                "above_chance": bool(evaluation.get("token_error_rate", 1.0) < 1.0)}


OBJECTIVES: dict[str, type[Objective]] = {
    c.name: c for c in (MaskedPrediction, UnmaskedPrediction, MixedPrediction, Contrastive, CTC)}


def check_objective(name: str) -> type[Objective]:
    """The registered class of objective ``name``; an unknown name raises, listing the valid ones."""
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def make_objective(cfg: PretrainConfig) -> Objective:
    """The objective of a configuration, ready to build its head and score batches.

    >>> from sslsv.config import PretrainConfig
    >>> type(make_objective(PretrainConfig(objective="mixed"))).__name__
    'MixedPrediction'
    """
    return check_objective(cfg.objective)(cfg)

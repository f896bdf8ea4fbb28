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
recipe), so the loss study turns one knob.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import ConfigError

__all__ = ["OBJECTIVES", "Objective", "cosine_logits", "hubert_loss", "contrastive_loss", "diversity_loss",
           "ctc_loss", "check_objective"]

IGNORE = -100  # target of padded frames


@dataclass(frozen=True)
class Objective:
    """What an objective needs from a batch."""

    name: str
    uses_mask: bool  # frames are masked before the transformer
    uses_targets: bool  # needs quantizer labels
    masked_weight: float = 0.0
    unmasked_weight: float = 0.0  # "mixed" takes it from the config


OBJECTIVES: dict[str, Objective] = {
    "masked": Objective("masked", uses_mask=True, uses_targets=True, masked_weight=1.0, unmasked_weight=0.0),
    "unmasked": Objective("unmasked", uses_mask=False, uses_targets=True, masked_weight=0.0, unmasked_weight=1.0),
    "mixed": Objective("mixed", uses_mask=True, uses_targets=True, masked_weight=1.0, unmasked_weight=float("nan")),
    "contrastive": Objective("contrastive", uses_mask=True, uses_targets=False),
    "ctc": Objective("ctc", uses_mask=False, uses_targets=False),
}


def check_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ConfigError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


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


def edit_distance(a: list, b: list) -> int:
    """Levenshtein distance.

    >>> edit_distance([1, 2, 3], [1, 3])
    1
    """
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]

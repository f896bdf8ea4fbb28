"""The learning curve of the pre-training task, its two chances, and the budget rule.

An upstream is only worth comparing once it has learned its pre-training
task.  A run with ``pretrain.eval_every = N`` records, every ``N`` updates
(and before the first), the masked-prediction accuracy and loss on a fixed
held-out part of the pool (``pretrain.held_out_share`` of its audio, the
same utterances whatever the run's seed: :func:`split_held_out`) beside the
training accuracy and loss of the updates since the previous row.  Two
chances sit beside it, measured on the same held-out masked frames:

- the **majority class** (:func:`majority_accuracy`): always predict the
  commonest target of the training part;
- the **context-free ceiling** (:func:`context_free_accuracy`): predict every
  masked frame's target as the most frequent *unmasked* target of its own
  crop.  It knows the voice and the channel but not the context, so a model
  below it has not yet used context at all.

The table is written as ``curve.csv`` in the run directory
(:class:`LearningCurve`, :func:`read_curve`); drawing it is the caller's
business.  :func:`choose_budget` is the rule that reads a budget off it.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..artifacts import atomic_write_text
from ..data.corpus import PretrainPool
from ..errors import UserError
from .objectives import IGNORE

__all__ = ["HELD_OUT_SEED", "split_held_out", "majority_accuracy", "context_free_accuracy", "LearningCurve",
           "read_curve", "choose_budget", "learned_budget"]

HELD_OUT_SEED = 0  # the held-out utterances do not depend on the run's seed: every run is scored on the same ones


def split_held_out(pool: PretrainPool, share: float) -> tuple[PretrainPool, PretrainPool]:
    """``(training part, held-out part)`` of ``pool``: about ``share`` of its audio, whole utterances, held out.

    The held-out utterances are drawn with :data:`HELD_OUT_SEED` (from the
    sorted keys), so two runs on the same pool hold out the same ones.  Both
    parts keep the pool's order.  ``share=0`` holds out nothing.

    >>> from sslsv.data.corpus import PretrainUtterance
    >>> pool = PretrainPool([PretrainUtterance(f"u{i}", None, "s", "", 10.0) for i in range(10)])
    >>> train, held = split_held_out(pool, 0.2)
    >>> len(train.utterances), len(held.utterances), split_held_out(pool, 0.2)[1] == held
    (8, 2, True)
    >>> split_held_out(PretrainPool(pool.utterances[:1]), 0.5)
    Traceback (most recent call last):
    ...
    sslsv.errors.UserError: pretrain.held_out_share=0.5: the pool has 1 utterance; holding some out needs at least 2
    """
    if share <= 0:
        return pool, PretrainPool([])
    n = len(pool.utterances)
    if n < 2:
        raise UserError(f"pretrain.held_out_share={share}: the pool has {n} utterance; holding some out needs "
                        "at least 2")
    keys = sorted(u.key for u in pool.utterances)
    seconds = {u.key: u.seconds for u in pool.utterances}
    order = np.random.default_rng(HELD_OUT_SEED).permutation(n)
    wanted, held, total = share * pool.hours * 3600.0, set(), 0.0
    for i in order:
        if total >= wanted or len(held) == n - 1:
            break
        held.add(keys[i])
        total += seconds[keys[i]]
    return (PretrainPool([u for u in pool.utterances if u.key not in held]),
            PretrainPool([u for u in pool.utterances if u.key in held]))


def _selected(targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return mask & (targets != IGNORE)


def majority_accuracy(targets: torch.Tensor, mask: torch.Tensor, majority: int) -> tuple[int, int]:
    """``(correct, frames)`` of predicting class ``majority`` on every masked frame.

    ``targets`` ``(batch, frames)`` (``-100`` = padding), ``mask`` ``(batch, frames)`` bool.

    >>> majority_accuracy(torch.tensor([[1, 1, 2, -100]]), torch.tensor([[True, True, True, True]]), 1)
    (2, 3)
    """
    sel = _selected(targets, mask)
    return int((targets[sel] == majority).sum()), int(sel.sum())


def context_free_accuracy(targets: torch.Tensor, mask: torch.Tensor) -> tuple[int, int]:
    """``(correct, frames)`` of predicting each masked frame as the commonest unmasked target of its own row.

    A row with no unmasked target predicts nothing right (it has no evidence).
    ``targets`` ``(batch, frames)`` (``-100`` = padding), ``mask`` ``(batch, frames)`` bool.

    >>> t = torch.tensor([[3, 3, 5, 3, 5, 5, 5], [1, 2, 2, 2, 1, 1, -100]])
    >>> m = torch.tensor([[False, False, True, False, True, True, False], [True, False, False, False, True, False,
    ...                   False]])
    >>> context_free_accuracy(t, m)  # row 0 predicts 3 (0 of 3 right), row 1 predicts 2 (0 of 2)
    (0, 5)
    >>> context_free_accuracy(t, ~m & (t != -100))  # row 0 sees 5 5 5 (1 of 4 right), row 1 sees 1 1 (1 of 4)
    (2, 8)
    """
    correct = frames = 0
    for row, row_mask in zip(targets, mask):
        sel = row_mask & (row != IGNORE)
        visible = row[~row_mask & (row != IGNORE)]
        frames += int(sel.sum())
        if len(visible) and sel.any():
            guess = int(torch.bincount(visible).argmax())
            correct += int((row[sel] == guess).sum())
    return correct, frames


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v == v]
    return float(np.mean(finite)) if finite else float("nan")


class LearningCurve:
    """Records the curve of a run every ``every`` updates and keeps ``curve.csv`` up to date.

    ``evaluate()`` returns the held-out logs of the model now (it must not
    draw from the global torch generator, or it must be wrapped: rows are
    recorded inside :func:`torch.random.fork_rng`, so training draws the
    same numbers with or without a curve).  ``chances`` are the constant
    columns (the two chances on the held-out masked frames).  Rows of an
    interrupted run are kept up to the step it resumes from and recomputed
    after it, so the table of a resumed run equals an uninterrupted one.

    The training columns (``train_loss``, ``train_acc``: means over the
    updates since the previous row) are filled from the run's history by
    :meth:`finish`, which a resumed run has whole.

    >>> curve = LearningCurve(lambda: {"masked_acc": 0.5, "masked_loss": 1.0}, every=2, accuracy_key="masked_acc",
    ...                       chances={"chance_majority": 0.1})
    >>> curve.record(0)
    >>> history = [{"step": s, "loss": 2.0, "masked_acc": 0.1 * s} for s in (1, 2, 3)]
    >>> for row in history:
    ...     curve.on_step(row["step"], row)
    >>> curve.finish(history)
    >>> [(r["step"], round(r["train_acc"], 2), r["held_out_masked_acc"]) for r in curve.rows]
    [(0, nan, 0.5), (2, 0.15, 0.5)]
    """

    def __init__(self, evaluate: Callable[[], dict[str, float]], every: int, accuracy_key: str,
                 chances: dict[str, float] | None = None, path: Path | None = None,
                 devices: Sequence[int] = ()):
        self.evaluate, self.every, self.accuracy_key = evaluate, every, accuracy_key
        self.chances = dict(chances or {})
        self.path, self.devices = path, list(devices)
        self.rows: list[dict[str, Any]] = read_curve(path) if path is not None and Path(path).exists() else []

    def on_step(self, step: int, row: dict[str, float] | None = None) -> None:
        """The training loop's per-update hook: record the curve every ``every`` updates."""
        if step % self.every == 0:
            self.record(step)

    def record(self, step: int) -> None:
        """Evaluate now and add the row of ``step`` (replacing it and any later row of an interrupted run)."""
        with torch.random.fork_rng(devices=self.devices):
            held = self.evaluate()
        row: dict[str, Any] = {"step": step, "train_loss": float("nan"), "train_acc": float("nan")}
        row.update({f"held_out_{k}": v for k, v in sorted(held.items())})
        row.update(self.chances)
        self.rows = [r for r in self.rows if r["step"] < step] + [row]
        if self.path is not None:
            self.write(self.path)

    def finish(self, history: list[dict[str, float]]) -> None:
        """Fill the training columns from the run's ``history`` (one row per update, ``step`` from 1) and write."""
        previous = 0
        for row in self.rows:
            since = [h for h in history if previous < h["step"] <= row["step"]]
            row["train_loss"] = _mean([h.get("loss", float("nan")) for h in since])
            row["train_acc"] = _mean([h.get(self.accuracy_key, float("nan")) for h in since])
            previous = row["step"]
        if self.path is not None:
            self.write(self.path)

    def has_step(self, step: int) -> bool:
        return any(r["step"] == step for r in self.rows)

    def write(self, path: Path) -> None:
        """``curve.csv``: one row per recorded budget, written atomically."""
        fields: list[str] = []
        for r in self.rows:
            fields += [k for k in r if k not in fields]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(Path(path), buf.getvalue())


def read_curve(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``curve.csv`` (``step`` an int, every other column a float; empty cells are NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: (int(v) if k == "step" else (float(v) if v not in ("", None) else float("nan")))
             for k, v in r.items()} for r in rows]


def choose_budget(steps: Sequence[int], accuracy: Sequence[float], ratio: int = 4,
                  tolerance: float = 0.10, floor: float = 0.0) -> int | None:
    """The smallest recorded budget whose accuracy is within ``tolerance`` of its value at ``ratio`` x the budget.

    ``steps`` and ``accuracy`` are the curve's columns (held-out masked
    accuracy against updates).  Only budgets whose ``ratio`` multiple was
    recorded can qualify; ``None`` when none does (the curve is too short to
    show that it flattens).  Budget 0 (the random init) never qualifies, nor
    does a budget whose accuracy is not above ``floor`` (pass a chance: a
    curve flat at the majority class has flattened without learning).

    >>> steps = [0, 100, 200, 400, 800, 1600]
    >>> choose_budget(steps, [0.02, 0.03, 0.06, 0.10, 0.12, 0.125])  # 400: 0.10 < 0.9 x 0.125; 200: 0.06 < 0.9 x 0.12
    >>> choose_budget(steps, [0.02, 0.03, 0.06, 0.115, 0.12, 0.125])
    400
    >>> choose_budget([100, 200], [0.1, 0.1])
    >>> choose_budget([0, 100, 400], [0.017, 0.017, 0.017])  # collapsed to the majority class: flat, not learned
    100
    >>> choose_budget([0, 100, 400], [0.017, 0.017, 0.017], floor=0.053)
    """
    if len(steps) != len(accuracy):
        raise ValueError(f"steps and accuracy differ in length ({len(steps)} and {len(accuracy)})")
    at = {int(s): float(a) for s, a in zip(steps, accuracy)}
    for budget in sorted(at):
        later = at.get(budget * ratio)
        if (budget > 0 and later is not None and not math.isnan(later) and at[budget] > floor
                and at[budget] >= (1 - tolerance) * later):
            return budget
    return None


def learned_budget(steps: Sequence[int], accuracy: Sequence[float], ceiling: float, ratio: float = 1.5) -> int | None:
    """The smallest recorded budget from which the held-out accuracy stays at or above ``ratio`` x ``ceiling``.

    ``ceiling`` is the context-free ceiling (a predictor that knows a crop's voice and channel but not its
    context): an upstream at ``ratio`` times it predicts masked frames from their context, i.e. it has learned
    the task masked prediction sets.  *Stays*: every later recorded budget is above the line too, so that one
    lucky evaluation does not decide.  Budget 0 never qualifies; ``None`` when the curve never settles above
    the line.  Unlike :func:`choose_budget` (a plateau), this needs no curve 4x as long as the budget: on the
    cpu profile's tiny model the plateau lies beyond 8,000 updates (issue 23's measurement), ~75 single-core
    minutes per upstream, while the curve crosses 1.5x the ceiling within a few hundred updates.

    >>> steps = [0, 100, 200, 300, 400, 500]
    >>> learned_budget(steps, [0.01, 0.05, 0.08, 0.07, 0.09, 0.10], ceiling=0.05)  # 200 dips back at 300
    400
    >>> learned_budget(steps, [0.01, 0.05, 0.06, 0.06, 0.07, 0.07], ceiling=0.05)  # never 1.5x
    >>> learned_budget([0, 100], [0.2, 0.2], ceiling=0.05)
    100
    """
    if len(steps) != len(accuracy):
        raise ValueError(f"steps and accuracy differ in length ({len(steps)} and {len(accuracy)})")
    if not ceiling > 0 or not ratio > 0:
        raise ValueError(f"ceiling and ratio must be positive (got {ceiling}, {ratio})")
    line = ratio * ceiling
    budget = None
    for step, acc in sorted((int(s), float(a)) for s, a in zip(steps, accuracy)):
        if math.isnan(acc) or acc < line:
            budget = None
        elif budget is None and step > 0:
            budget = step
    return budget

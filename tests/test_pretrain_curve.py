"""The learning curve of the pre-training task (sslsv.pretrain.curve): chances, held-out part, budget rule, runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sslsv.data.corpus import PretrainPool, PretrainUtterance
from sslsv.errors import UserError
from sslsv.pretrain import pretrain
from sslsv.pretrain.curve import (choose_budget, context_free_accuracy, majority_accuracy, read_curve,
                                  split_held_out)


def _brute_context_free(targets: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    correct = frames = 0
    for row, m in zip(targets, mask):
        valid = row != -100
        visible = row[valid & ~m]
        scored = row[valid & m]
        frames += len(scored)
        if len(visible) and len(scored):
            values, counts = np.unique(visible, return_counts=True)
            correct += int((scored == values[np.argmax(counts)]).sum())  # ties: the smallest class, as bincount
    return correct, frames


def test_context_free_and_majority_chances_against_brute_force():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 6, size=(8, 50))
    targets[:, 45:] = -100
    mask = rng.random((8, 50)) < 0.5
    t, m = torch.from_numpy(targets), torch.from_numpy(mask)
    assert context_free_accuracy(t, m) == _brute_context_free(targets, mask)
    sel = mask & (targets != -100)
    assert majority_accuracy(t, m, 2) == (int((targets[sel] == 2).sum()), int(sel.sum()))
    # an utterance that repeats one target: the context-free guess is right on every masked frame
    assert context_free_accuracy(torch.full((1, 10), 4), m[:1, :10]) == (int(m[0, :10].sum()),) * 2


def test_split_held_out_is_fixed_disjoint_and_sized():
    pool = PretrainPool([PretrainUtterance(f"u{i:02d}", None, "s", "", 1.0 + i % 3) for i in range(40)])
    train, held = split_held_out(pool, 0.25)
    keys_t, keys_h = {u.key for u in train.utterances}, {u.key for u in held.utterances}
    assert not keys_t & keys_h and keys_t | keys_h == {u.key for u in pool.utterances}
    assert 0.25 <= held.hours / pool.hours < 0.25 + 3 / (pool.hours * 3600)  # whole utterances, up to one more
    assert split_held_out(pool, 0.25) == (train, held)
    assert split_held_out(pool, 0.0) == (pool, PretrainPool([]))
    with pytest.raises(UserError, match="pretrain.held_out_share=0.5"):
        split_held_out(PretrainPool(pool.utterances[:1]), 0.5)


def test_choose_budget_rule():
    steps = [0, 50, 100, 200, 400, 800]
    # 50 -> 200: 0.05 < 0.9 x 0.10; 100 -> 400: 0.092 >= 0.9 x 0.10; at 5 %: 200 -> 800: 0.10 >= 0.95 x 0.105
    assert choose_budget(steps, [0.02, 0.05, 0.092, 0.10, 0.10, 0.105]) == 100
    assert choose_budget(steps, [0.02, 0.05, 0.092, 0.10, 0.10, 0.105], tolerance=0.05) == 200
    assert choose_budget(steps, [0.02, 0.03, 0.04, 0.06, 0.09, 0.13]) is None  # still climbing: no budget
    assert choose_budget(steps, [0.02, 0.03, 0.04, 0.06, 0.09, 0.13], ratio=2, tolerance=0.3) == 50  # looser: early
    assert choose_budget([0, 10, 40], [0.5, float("nan"), float("nan")]) is None
    with pytest.raises(ValueError, match="differ in length"):
        choose_budget([0, 1], [0.1])


def _weights(run):
    return load_file(str(run.path / "upstream" / "model.safetensors"))


def test_recording_a_curve_changes_no_weight(pretrain_config, tmp_path, monkeypatch):
    plain = pretrain(pretrain_config({"optim.steps": 4}), progress=False)
    with_curve = pretrain(pretrain_config({"optim.steps": 4, "pretrain.eval_every": 2}), progress=False)
    assert with_curve.path != plain.path
    a, b = _weights(plain), _weights(with_curve)
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = read_curve(with_curve.file("curve.csv"))
    assert [r["step"] for r in rows] == [0, 2, 4]
    for r in rows:
        assert 0 <= r["held_out_masked_acc"] <= 1 and r["held_out_masked_loss"] > 0
        assert 0 < r["chance_majority"] < 1 and 0 < r["chance_context_free"] < 1
    assert np.isnan(rows[0]["train_acc"]) and all(0 <= r["train_acc"] <= 1 for r in rows[1:])
    history = json.loads(with_curve.file("history.json").read_text())
    assert rows[1]["train_loss"] == pytest.approx(np.mean([h["loss"] for h in history[:2]]))
    diag = json.loads(with_curve.file("diagnostics.json").read_text())
    assert diag["curve"]["rows"] == 3 and diag["curve"]["last"]["step"] == 4
    assert "curve" not in json.loads(plain.file("diagnostics.json").read_text())
    assert not plain.file("curve.csv").exists()


def test_held_out_part_is_not_trained_on_and_a_resumed_curve_equals_a_whole_one(pretrain_config, tmp_path,
                                                                                  monkeypatch):
    cfg = pretrain_config({"optim.steps": 4, "optim.checkpoint_every": 2, "pretrain.eval_every": 1,
                           "pretrain.held_out_share": 0.3})
    from sslsv.pretrain.data import load_pool
    from sslsv.pretrain.quantizers import load_waves
    from sslsv.pretrain.train import build_model, held_out_data

    pool = load_pool(cfg, progress=False)
    waves = load_waves(pool, 16000)
    model, data, targets = build_model(cfg, pool, waves)
    held = held_out_data(cfg, pool, waves, model.upstream, targets, data)
    assert held is not data and set(held.keys) == {u.key for u in split_held_out(pool, 0.3)[1].utterances}
    assert not set(held.keys) & set(data.keys) and len(data.keys) + len(held.keys) == len(pool.utterances)

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "a"))
    full = pretrain(cfg, progress=False)
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "b"))

    def kill(step, row):
        if step == 3:  # after the curve's row 3 was written, before the checkpoint of step 4
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, progress=False, on_step=kill)
    resumed = pretrain(cfg, progress=False)
    assert "resumed from step 2" in resumed.log_file.read_text()
    assert full.file("curve.csv").read_text() == resumed.file("curve.csv").read_text()


def test_pretrain_draws_nothing():
    """Layers point down: the pre-training package imports no plotting (the caller draws the curve)."""
    import ast
    from pathlib import Path

    import sslsv.pretrain

    for path in Path(sslsv.pretrain.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any("plots" in n or "matplotlib" in n or "seaborn" in n for n in names), path.name

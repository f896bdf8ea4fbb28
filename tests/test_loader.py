"""SV training with crops read by DataLoader workers: the same model, bit for bit (issue 25, item 2)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from sslsv.artifacts import torch_load
from sslsv.config import resolve
from sslsv.data.loader import StepBatches, loader_workers
from sslsv.sv import pipeline
from test_sv import TINY


def test_sv_training_with_workers_gives_the_same_model_and_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    runs = {w: pipeline.run_sv(resolve("smoke", {**TINY, "train.loader_workers": w}), progress=False) for w in (0, 2)}
    assert runs[0].run.path != runs[2].run.path  # two runs ...
    a, b = (torch_load(runs[w].run.file("speaker_model.pt"))["model"] for w in (0, 2))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # ... one model
    pd.testing.assert_frame_equal(runs[0].scores, runs[2].scores)
    assert "DataLoader worker processes" in runs[2].run.file("log.txt").read_text()


def test_auto_is_off_on_cpu_and_on_with_cuda():
    assert loader_workers(-1, "cpu") == 0 and loader_workers(0, "cuda") == 0
    assert 1 <= loader_workers(-1, "cuda") <= 8


def test_step_batches_index_the_steps_from_the_start():
    ds = StepBatches(lambda step, rank, world: (step, rank, world), start=5, steps=8, rank=1, world=2)
    assert len(ds) == 3 and [ds[i] for i in range(3)] == [(5, 1, 2), (6, 1, 2), (7, 1, 2)]
    with pytest.raises(Exception):
        resolve("smoke", {"train.loader_workers": -2})

"""Same-machine determinism: two smoke runs in separate artifact roots give bitwise-identical tables and weights.

Tolerances let the regression references travel between machines; this test
keeps them from hiding nondeterminism on one machine (an unseeded sampler, a
thread-order float sum, a dict-order dependence).
"""

import shutil

import numpy as np
import pandas as pd
import torch

from sslsv.studies.factors import run_factor_study
from sslsv.studies.runs import Condition, references

VOLATILE = ["train_seconds"]  # wall-clock time, the only column allowed to differ


def smoke_chain(root, monkeypatch):
    """Corpus, one masked pre-training run, and fbank + frozen-SSL SV systems, computed from nothing in ``root``."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(root))
    # the smoke chain on a short schedule (8 pre-training and 8 SV updates): nondeterminism shows in one step
    study = run_factor_study("determinism", "smoke", [references()[0], Condition("masked")], seeds=[0],
                             overrides={"train.steps": 8}, pretrain_overrides={"optim.steps": 8},
                             progress=False)
    pre = study.pretrain_runs[("masked", 0)]
    weights = {}
    from safetensors.torch import load_file

    for f in sorted(pre.path.rglob("*.safetensors")):
        weights.update({f"{f.name}:{k}": v for k, v in load_file(f).items()})
    return study, weights


def test_two_smoke_runs_are_bitwise_identical(tmp_path, monkeypatch):
    a, wa = smoke_chain(tmp_path / "a", monkeypatch)
    # The second root starts with the first one's corpus (generating it is a third of the cost, and its
    # own determinism is tested in test_synthetic.py); k-means targets, pre-training and SV start empty.
    shutil.copytree(tmp_path / "a" / "corpora", tmp_path / "b" / "corpora")
    b, wb = smoke_chain(tmp_path / "b", monkeypatch)
    pd.testing.assert_frame_equal(a.per_seed.drop(columns=VOLATILE), b.per_seed.drop(columns=VOLATILE),
                                  check_exact=True)
    pd.testing.assert_frame_equal(a.pretraining_table().drop(columns=["minutes"]),
                                  b.pretraining_table().drop(columns=["minutes"]), check_exact=True)
    assert wa and wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "pre-trained weights differ between two identical runs"
    for key, ra in a.results.items():
        rb = b.results[key]
        assert np.array_equal(ra.scores["score"].to_numpy(), rb.scores["score"].to_numpy()), f"scores differ: {key}"
        assert ra.run.path.name == rb.run.path.name  # same config, same hash-named run

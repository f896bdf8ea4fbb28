"""Pre-training runs end to end on a tiny synthetic pool: every objective x quantizer, resume, DDP, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from sslsv.config import ConfigError, PretrainExperimentConfig, resolve
from sslsv.pretrain import OBJECTIVES, QUANTIZERS, QuantizerError, Upstream, build_upstream, pretrain
from sslsv.training import ConfigMismatchError


@pytest.fixture
def hidden_source(tmp_path):
    """An earlier model for k-means on hidden states (iteration 2): a saved tiny upstream."""
    torch.manual_seed(1)
    up = build_upstream("hubert", "tiny")
    up.save_pretrained(tmp_path / "iteration1")
    return str(tmp_path / "iteration1")


@pytest.mark.parametrize("quantizer", list(QUANTIZERS))
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_every_objective_and_quantizer_pretrains(objective, quantizer, pretrain_config, hidden_source):
    if not OBJECTIVES[objective].uses_targets and quantizer != "kmeans_mfcc":
        pytest.skip(f"{objective} makes no use of the quantizer (covered by the kmeans_mfcc case)")
    backbone = "w2v_bert" if quantizer in ("kmeans_hidden", "oracle_phones") else "hubert"
    cfg = pretrain_config({"pretrain.objective": objective, "pretrain.quantizer": quantizer,
                           "pretrain.backbone": backbone, "pretrain.kmeans_source": hidden_source,
                           "optim.steps": 2})
    run = pretrain(cfg, progress=False)
    assert run.is_complete
    diag = json.loads(run.file("diagnostics.json").read_text())
    assert diag["steps"] == 2 and diag["loss_first"] == diag["loss_first"]  # finite
    assert not run.file("loss_curve.png").exists() and run.file("history.json").stat().st_size > 0  # no drawing
    if OBJECTIVES[objective].uses_targets:
        assert 0 <= diag["masked_acc_eval"] <= 1 and diag["targets"]["codes_used"] >= 2
    up = Upstream.from_pretrained(run.path / "upstream")
    assert len(up(torch.zeros(1, 16000))) == up.n_layers
    assert pretrain(cfg, progress=False).path == run.path  # a complete run is reused


def _weights(run):
    return load_file(str(run.path / "upstream" / "model.safetensors"))


def test_resume_after_kill_equals_uninterrupted(pretrain_config, tmp_path, monkeypatch):
    cfg = pretrain_config({"pretrain.objective": "masked", "optim.steps": 4, "optim.checkpoint_every": 2})
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "a"))
    full = pretrain(cfg, progress=False)

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "b"))

    def kill(step, row):
        if step == 3:  # after the checkpoint of step 2, before the one of step 4
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, progress=False, on_step=kill)
    resumed = pretrain(cfg, progress=False)
    assert "resumed from step 2" in resumed.log_file.read_text()
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha = json.loads(full.file("history.json").read_text())
    hb = json.loads(resumed.file("history.json").read_text())
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]


def test_resume_under_changed_configuration_is_refused(pretrain_config):
    cfg = pretrain_config({"optim.steps": 2})
    run = pretrain(cfg, progress=False)
    other = pretrain_config({"optim.steps": 3})
    from sslsv.artifacts import Run

    target = Run("pretrain", other)
    target.path.mkdir(parents=True)
    target.checkpoint_file.write_bytes(run.checkpoint_file.read_bytes())
    with pytest.raises(ConfigMismatchError, match="changed configuration"):
        pretrain(other, progress=False)
    target.checkpoint_file.write_bytes(b"garbage")  # a corrupt checkpoint is set aside; training restarts
    assert pretrain(other, progress=False).is_complete
    assert [p.read_bytes() for p in target.path.glob("checkpoint.pt.corrupt-*")] == [b"garbage"]


def test_bad_configurations_are_refused(pretrain_config):
    with pytest.raises(ValueError, match="valid objectives"):
        pretrain(pretrain_config({"pretrain.objective": "bert"}), progress=False)
    with pytest.raises(ValueError, match="valid quantizers"):
        pretrain(pretrain_config({"pretrain.quantizer": "vq"}), progress=False)
    with pytest.raises(ValueError, match="valid sizes"):
        pretrain(pretrain_config({"pretrain.size": "xl"}), progress=False)
    with pytest.raises(QuantizerError, match="larger than the .* frames"):
        pretrain(pretrain_config({"pretrain.n_clusters": 100_000}), progress=False)
    with pytest.raises(QuantizerError, match="kmeans_source"):
        pretrain(pretrain_config({"pretrain.quantizer": "kmeans_hidden"}), progress=False)
    with pytest.raises(ConfigError, match="valid keys under 'pretrain'"):
        resolve("smoke", {"pretrain.objectiv": "masked"}, base=PretrainExperimentConfig())


def test_profiles_resolve():
    for profile in ("smoke", "cpu", "paper"):
        cfg = resolve(profile, base=PretrainExperimentConfig())
        assert cfg.pretrain.size in ("tiny", "base")
    assert resolve("paper", base=PretrainExperimentConfig()).pretrain.size == "base"


def test_two_process_ddp(pretrain_config, tmp_path):
    """``torchrun --nproc_per_node 2`` (gloo on CPU) through the command line."""
    cfg = pretrain_config({})
    sets = {"corpus.source": "voxceleb1", "corpus.librispeech_root": cfg.corpus.librispeech_root,
            "corpus.librispeech_subsets": ["train-synthetic"], "pretrain.backbone": "hubert",
            "pretrain.n_clusters": 20, "pretrain.crop_seconds": 1.0, "pretrain.mask_length": 5,
            "optim.steps": 2, "optim.batch_size": 4, "optim.checkpoint_every": 2}
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}")]
    env = {**os.environ, "SSLSV_ARTIFACTS": str(tmp_path / "ddp"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", "-m", "sslsv.cli", "pretrain", "--profile", "smoke",
                           "--no-progress", *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "ddp" / "runs").glob("pretrain-*"))
    assert (run_dir / "DONE").exists()
    assert "world size 2" in (run_dir / "log.txt").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("objective,quantizer", [
    ("masked", "kmeans_mfcc"), ("masked", "random_projection"), ("masked", "oracle_phones"),
    ("unmasked", "kmeans_mfcc"), ("mixed", "kmeans_mfcc"), ("contrastive", "kmeans_mfcc"), ("ctc", "kmeans_mfcc")])
def test_loss_falls_and_accuracy_beats_chance(objective, quantizer, pretrain_config):
    """A slightly longer tiny run: the loss falls and the held-out accuracy is above uniform chance.

    Measured (2-core CPU, 60 steps): held-out masked accuracy beats 1/K for every
    quantizer but beats the majority-class frequency only for random_projection;
    CTC still emits only blanks at 60 steps, so for it only the falling loss is asserted.
    """
    cfg = pretrain_config({"pretrain.objective": objective, "pretrain.quantizer": quantizer,
                           "pretrain.backbone": "w2v_bert", "pretrain.n_clusters": 20,
                           "optim.steps": 60, "optim.batch_size": 8, "optim.warmup_steps": 10,
                           "optim.checkpoint_every": 60, "optim.lr": 2e-3})
    diag = pretrain(cfg, progress=False).metrics()
    assert diag["loss_last"] < diag["loss_first"]
    if objective != "ctc":
        assert diag["above_uniform_chance"], diag

"""``sslsv sv``: score a locally saved HuBERT, WavLM and wav2vec 2.0 (frozen, fine-tuned) and fbank on the smoke corpus.

The checkpoints are tiny transformers configs written with ``save_pretrained``,
as a researcher's public checkpoint would be (issue 25, item 1). Every bad
input of the issue's table is refused by one line with rc 2 before any run
directory exists (item 5).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from sslsv.cli import main
from sslsv.sv import pipeline

# the smoke corpus, a short schedule: each run trains 3 steps
FAST = ["--set", "train.steps=3", "--set", "train.batch_size=4", "--set", "train.warmup_steps=1",
        "--set", "train.checkpoint_every=3", "--set", "eval.bootstrap=50", "--no-progress"]
TINY_SHAPE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def save_tiny_checkpoint(family: str, directory: Path) -> Path:
    """A randomly initialised tiny HuBERT / WavLM / wav2vec 2.0, written with ``save_pretrained``."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    classes = {"hubert": (HubertConfig, HubertModel), "wavlm": (WavLMConfig, WavLMModel),
               "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}
    config_cls, model_cls = classes[family]
    torch.manual_seed(0)
    config = config_cls(**TINY_SHAPE, conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    model_cls(config).save_pretrained(str(directory), safe_serialization=True)
    return directory


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("checkpoints")
    return {f: save_tiny_checkpoint(f, base / f"{f}-tiny") for f in ("hubert", "wavlm", "wav2vec2")}


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sv-command-artifacts")


@pytest.fixture
def artifacts(shared_root, monkeypatch) -> Path:
    """One artifact root for the module: the smoke corpus is generated once."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(shared_root))
    return shared_root


def runs(root: Path) -> set[str]:
    d = root / "runs"
    return {p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")} if d.is_dir() else set()


@pytest.mark.parametrize("mode", ["frozen", "fine-tuned"])
@pytest.mark.parametrize("family", ["hubert", "wavlm", "wav2vec2"])
def test_sv_scores_a_saved_checkpoint(family, mode, checkpoints, artifacts, capsys, monkeypatch):
    argv = ["sv", "--profile", "smoke", "--upstream", str(checkpoints[family]), "--mode", mode, *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"speaker verification of {checkpoints[family]} ({mode})" in out
    assert re.search(r"\n\s+0\s+\d+\.\d\d \[\d+\.\d\d, \d+\.\d\d\] [01]\.\d{3} \[[01]\.\d{3}, [01]\.\d{3}\]", out), out
    assert "layer_0  layer_1  layer_2" in out  # the embedding layer and both transformer layers
    run_dir = Path(re.search(r"run: (\S+)", out).group(1))
    assert (run_dir / "DONE").exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["frontend"]["upstream"] == str(checkpoints[family])
    assert config["frontend"]["finetune"] is (mode == "fine-tuned")
    assert config["corpus"]["n_train_speakers"] == 16  # the smoke corpus
    # cached: the same command serves the run without training
    monkeypatch.setattr(pipeline, "train_speaker_model", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert main(argv) == 0
    assert f"run: {run_dir}" in capsys.readouterr().out


def test_sv_fbank_is_the_baselines_run(artifacts, capsys):
    from sslsv.studies import baseline

    assert main(["sv", "--profile", "smoke", "--frontend", "fbank", "--seeds", "0", "1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "speaker verification of fbank" in out and "over seeds: eer_percent" in out
    assert "layer weights" not in out
    sets = {"train.steps": 3, "train.batch_size": 4, "train.warmup_steps": 1, "train.checkpoint_every": 3,
            "eval.bootstrap": 50}
    assert [f"run: {p.run.path}" for p in baseline.plan("smoke", (0, 1), sets)] == re.findall(r"run: \S+", out)


def test_sv_runs_a_pretraining_runs_upstream_by_reference(artifacts, checkpoints, capsys):
    """``run:<name>``: the upstream a pre-training run saved (here a copy in place of a trained one)."""
    up = artifacts / "runs" / "pretrain-0123456789ab" / "upstream"
    shutil.copytree(checkpoints["hubert"], up, dirs_exist_ok=True)
    assert main(["sv", "--profile", "smoke", "--upstream", "run:pretrain-0123456789ab", *FAST]) == 0
    assert "speaker verification of run:pretrain-0123456789ab (frozen)" in capsys.readouterr().out


# --- errors: one line, rc 2, before any run directory ----------------------------------------------------


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("sslsv: error: ") and "internal error" not in err, err
    return err


@pytest.mark.parametrize("argv, words", [
    (["sv", "--profile", "smoke"], "needs --upstream"),
    (["sv", "--profile", "smoke", "--frontend", "fbank", "--upstream", "x/y"], "the fbank front-end has no upstream"),
    (["sv", "--profile", "smoke", "--upstream", "x/y", "--set", "frontend.kind=fbank"], "--frontend ssl|fbank"),
    (["sv", "--profile", "smoke", "--upstream", "x/y", "--set", "frontend.finetune=true"], "--mode"),
    (["sv", "--profile", "smoke", "--upstream", "x/y", "--set", "train.seed=3"], "--seeds"),
    (["sv", "--profile", "smoke", "--upstream", "x/y", "--seeds", "1", "1"], "seed"),
])
def test_sv_refuses_what_it_cannot_honour(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    assert main(argv) == 2
    assert words in one_line_error(capsys)
    assert not runs(tmp_path)


def test_a_missing_trial_list_names_the_key(artifacts, checkpoints, tmp_path, capsys):
    vox = tmp_path / "vox"
    (vox / "wav").mkdir(parents=True)
    assert main(["sv", "--profile", "smoke", "--upstream", str(checkpoints["hubert"]), "--set", "corpus.source=voxceleb1",
                 "--set", f"corpus.voxceleb_root={vox}", *FAST]) == 2
    err = one_line_error(capsys)
    assert f"trial list {vox / 'veri_test2.txt'} not found: set corpus.voxceleb_trials" in err
    assert main(["sv", "--profile", "smoke", "--frontend", "fbank", "--set", "corpus.source=voxceleb1",
                 "--set", "corpus.voxceleb_root=", *FAST]) == 2
    assert "corpus.voxceleb_root is empty" in one_line_error(capsys)


def _damage(kind: str, good: Path, tmp_path: Path) -> Path:
    """An upstream reference that is wrong in one way of the issue's table."""
    target = tmp_path / "upstream"
    if kind == "missing directory":
        return tmp_path / "no" / "such" / "dir"
    if kind == "a file":
        target.write_text("not a model")
        return target
    shutil.copytree(good, target)
    if kind == "no model.safetensors":
        (target / "model.safetensors").unlink()
    elif kind == "config.json of random bytes":
        (target / "config.json").write_bytes(bytes(range(256)) * 4)
    elif kind == "model_type bert":
        cfg = json.loads((target / "config.json").read_text())
        (target / "config.json").write_text(json.dumps({**cfg, "model_type": "bert"}))
    elif kind == "truncated model.safetensors":
        data = (target / "model.safetensors").read_bytes()
        (target / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif kind == "NaN weights":
        from safetensors.torch import load_file, save_file

        weights = load_file(str(target / "model.safetensors"))
        name = sorted(k for k in weights if k.endswith("weight") and "encoder.layers.1" in k)[0]
        weights[name][0, 0] = float("nan")
        save_file(weights, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


UPSTREAM_PROBLEMS = {
    "missing directory": "no such directory",
    "a file": "is a file; give the directory that holds config.json",
    "no model.safetensors": "has no model.safetensors",
    "config.json of random bytes": "config.json is not valid JSON",
    "model_type bert": "has model_type 'bert', not a speech encoder",
    "truncated model.safetensors": "model.safetensors is truncated",
    "NaN weights": "weight tensors of",
}


@pytest.mark.parametrize("kind", sorted(UPSTREAM_PROBLEMS))
def test_a_bad_upstream_is_one_line_before_any_run(kind, checkpoints, artifacts, tmp_path, capsys):
    before = runs(artifacts)
    bad = _damage(kind, checkpoints["hubert"], tmp_path)
    assert main(["sv", "--profile", "smoke", "--upstream", str(bad), *FAST]) == 2
    err = one_line_error(capsys)
    assert UPSTREAM_PROBLEMS[kind] in err and str(bad) in err and "\n" not in err
    if kind != "NaN weights":
        assert "valid forms: 'run:<run name>'" in err
    else:
        assert "hold NaN or Inf (encoder.layers.1." in err
    assert runs(artifacts) == before


@pytest.mark.parametrize("kind", ["missing directory", "model_type bert"])
def test_pretrain_init_is_checked_the_same_way(kind, checkpoints, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    bad = _damage(kind, checkpoints["hubert"], tmp_path)
    assert main(["pretrain", "--profile", "smoke", "--set", f"pretrain.init={bad}", "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert f"pretrain.init={str(bad)!r}" in err and UPSTREAM_PROBLEMS[kind] in err
    assert not runs(tmp_path / "artifacts")


def test_an_unknown_checkpoint_name_is_one_line(artifacts, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["sv", "--profile", "smoke", "--upstream", "nobody/no-such-model", *FAST]) == 2
    assert "not a directory, and as a checkpoint name not in the local Hugging Face cache" in one_line_error(capsys)


def test_a_crop_longer_than_every_training_file_warns_with_the_longest(artifacts, capsys):
    assert main(["sv", "--profile", "smoke", "--frontend", "fbank", *FAST, "--set", "train.crop_seconds=10"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"sslsv: warning: train.crop_seconds=10 is longer than every training file \(the longest is "
                     r"2\.\d\d s\)", err), err


def test_sv_prints_asnorm_beside_raw_cosine(artifacts, capsys):
    assert main(["sv", "--profile", "smoke", "--frontend", "fbank", *FAST, "--set", "eval.asnorm_top_n=5"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[1].split()
    assert header == ["seed", "eer_percent", "min_dcf_0.01", "min_dcf_0.05", "asnorm_eer_percent",
                      "asnorm_min_dcf_0.01", "asnorm_min_dcf_0.05"]


def test_pretraining_crops_longer_than_the_pool_and_a_batch_larger_than_it_warn(tmp_path, monkeypatch, capsys):
    """The smoke pool's files last 1.5-2.5 s: 10 s crops are mostly padding; 40 utterances cannot fill 500."""
    from sslsv import cli

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    class Stop(Exception):
        pass

    def stop(*a, **k):
        raise Stop

    monkeypatch.setattr("sslsv.pretrain.train.pretrain", stop)
    with pytest.raises(Stop):  # the stand-in stops the command once the warnings are out, before pre-training
        cli.main(["pretrain", "--profile", "smoke", "--set", "pretrain.crop_seconds=10", "--set",
                  "optim.batch_size=500", "--no-progress", "--debug"])
    err = capsys.readouterr().err
    assert re.search(r"sslsv: warning: pretrain.crop_seconds=10 is longer than every file of the pool \(the longest "
                     r"is \d\.\d\d s\): \d+ % of the average crop is zero padding", err), err
    assert re.search(r"sslsv: warning: optim.batch_size=500 is larger than the pool's \d+ utterances", err), err

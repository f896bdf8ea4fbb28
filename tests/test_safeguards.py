"""No silent wrong results: every case of the "wrong and looks right" list, reproduced.

Each test reproduces one row of the issue's table (the command or damage, then
what the user must now see), on a tiny synthetic corpus. The notebook-parameter,
orphan-process and random-bytes rows live in ``test_notebook_parameters.py``,
``test_lifetime.py`` and ``test_audio.py``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sslsv.artifacts import ArtifactError, Run, read_json
from sslsv.cli import main
from sslsv.config import ConfigError, resolve
from sslsv.sv import pipeline
from test_sv import TINY  # the tiny corpus and model of the SV pipeline tests

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    """The tiny synthetic corpus, generated once; tests copy its VoxCeleb-layout part."""
    from sslsv.data import corpus_root

    root = tmp_path_factory.mktemp("corpus")
    os.environ["SSLSV_ARTIFACTS"] = str(root)
    try:
        return corpus_root(resolve("smoke", TINY).corpus, progress=False)
    finally:
        del os.environ["SSLSV_ARTIFACTS"]


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A private artifact root."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


@pytest.fixture
def vox(corpus_dir, tmp_path):
    """A private VoxCeleb-layout copy of the tiny corpus, and the config that reads it."""
    target = tmp_path / "voxceleb1"
    shutil.copytree(corpus_dir / "voxceleb1", target)
    return target, resolve("smoke", {**TINY, "corpus.source": "voxceleb1", "corpus.voxceleb_root": str(target)})


def runs(root: Path) -> list[str]:
    d = root / "runs"
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) if d.is_dir() else []


def set_aside(root: Path) -> list[str]:
    d = root / "runs" / ".set-aside"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def never_train(monkeypatch):
    monkeypatch.setattr(pipeline, "train_speaker_model", lambda *a, **k: pytest.fail("training started"))


# --- overrides a command cannot honour; value ranges; seeds ---------------------------------


@pytest.mark.parametrize("argv, words", [
    (["baseline", "--set", "frontend.kind=ssl"], ["sets frontend.kind itself", "sslsv study"]),
    (["baseline", "--set", "train.seed=5"], ["sets train.seed itself", "--seeds"]),
    (["study", "objective", "--set", "frontend.finetune=true"], ["sets frontend.finetune itself", "--modes"]),
    (["study", "quantizer", "--set", "train.seed=1"], ["sets train.seed itself", "--seeds"]),
])
def test_an_override_the_command_cannot_honour_is_refused(argv, words, root, capsys):
    assert main([*argv, "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sslsv: error: ") and err.count("\n") == 1
    for w in words:
        assert w in err
    assert not root.exists()


def test_a_pretraining_override_of_the_studied_factor_is_refused():
    from sslsv.studies import objective

    with pytest.raises(ConfigError, match="set pretrain.objective themselves"):
        objective.run("smoke", seeds=[0], pretrain_overrides={"pretrain.objective": "ctc"}, progress=False)


@pytest.mark.parametrize("key, value, valid", [
    ("train.steps", 0, ">= 1"), ("train.steps", -5, ">= 1"), ("train.batch_size", 0, ">= 1"),
    ("train.checkpoint_every", 0, ">= 1"), ("train.crop_seconds", 0, "> 0"), ("eval.ci_level", 1.5, "in (0, 1)"),
])
def test_out_of_range_values_are_refused_naming_key_value_and_range(key, value, valid, root, capsys):
    assert main(["baseline", "--profile", "smoke", "--seeds", "0", "--set", f"{key}={value}"]) == 2
    err = capsys.readouterr().err
    assert f"{key}={value}" in err.replace(".0 ", " ") or f"{key}={float(value)}" in err
    assert valid in err
    assert not root.exists()  # nothing computed, nothing cached


def test_pretraining_ranges_are_checked_too(capsys):
    assert main(["pretrain", "--profile", "smoke", "--set", "pretrain.mask_prob=1.5"]) == 2
    assert "pretrain.mask_prob=1.5 is out of range: it must be in [0, 1]" in capsys.readouterr().err


def test_a_range_is_checked_also_when_the_config_is_built_in_python(root):
    from dataclasses import replace

    cfg = resolve("smoke", TINY)
    bad = replace(cfg, train=replace(cfg.train, steps=0))
    with pytest.raises(ConfigError, match="train.steps=0"):
        pipeline.run_sv(bad, progress=False)
    assert not root.exists()


def test_duplicate_seeds_are_refused(root, capsys):
    assert main(["baseline", "--profile", "smoke", "--seeds", "0", "0"]) == 2
    assert "repeat 0" in capsys.readouterr().err
    from sslsv.studies import baseline

    with pytest.raises(ConfigError, match="repeat 1"):
        baseline.run("smoke", seeds=[1, 2, 1], overrides=TINY, progress=False)


# --- a cache that can prove what it serves --------------------------------------------------


def test_changed_voxceleb_data_is_detected_and_recomputed(vox, root, capsys):
    target, cfg = vox
    first = pipeline.run_sv(cfg, progress=False)
    trials = target / cfg.corpus.voxceleb_trials
    lines = trials.read_text().splitlines()
    flipped = [("0" if l[0] == "1" else "1") + l[1:] for l in lines]
    trials.write_text("\n".join(flipped) + "\n")  # labels flipped, same path
    second = pipeline.run_sv(cfg, progress=False)
    err = capsys.readouterr().err
    assert "inputs changed since it finished (corpus/trials changed)" in err
    assert second.run.path == first.run.path and len(set_aside(root)) == 1
    assert (second.scores["label"].to_numpy() == 1 - first.scores["label"].to_numpy()).all()
    assert second.eer_percent == pytest.approx(100 - first.eer_percent, abs=1e-6)

    train_speaker = sorted(p.name for p in (target / "wav").iterdir())[0]
    assert train_speaker not in {k.split("/")[0] for k in second.scores["enroll"]}
    shutil.rmtree(target / "wav" / train_speaker)  # a training speaker deleted
    third = pipeline.run_sv(cfg, progress=False)
    assert f"corpus/audio/{train_speaker} removed" in capsys.readouterr().err
    assert len(set_aside(root)) == 2 and third.run.is_complete
    assert "3 speakers" in third.run.log_file.read_text()


@pytest.mark.parametrize("name", ["speaker_model.pt", "checkpoint.pt", "scores.tsv", "metrics.json", "config.json",
                                  "embeddings.npz"])
def test_a_damaged_finished_run_is_reported_set_aside_and_recomputed(name, vox, root, capsys):
    _, cfg = vox
    first = pipeline.run_sv(cfg, progress=False)
    path = first.run.file(name)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # truncated
    again = pipeline.run_sv(cfg, progress=False)
    err = capsys.readouterr().err
    assert f"not reusing run {first.run.path.name}: {name} has" in err and "truncated" in err
    assert "computing it again" in err and str(root / "runs" / ".set-aside") in err
    aside = root / "runs" / ".set-aside" / set_aside(root)[0]
    assert (aside / name).read_bytes() == data[: len(data) // 3]  # nothing lost
    assert again.metrics["eer_percent"] == first.metrics["eer_percent"]
    assert again.run.is_complete


def test_a_hand_edited_config_is_caught(vox, root, capsys):
    _, cfg = vox
    run = pipeline.run_sv(cfg, progress=False).run
    edited = run.config_file.read_text().replace('"steps": 6', '"steps": 9')
    assert edited != run.config_file.read_text()
    run.config_file.write_text(edited)
    pipeline.run_sv(cfg, progress=False)
    assert "config.json changed since the run finished" in capsys.readouterr().err


def test_a_saved_upstream_changed_under_an_ssl_run_is_detected(corpus_dir, root, capsys):
    """An SSL system is served only for the very upstream weights it was trained on."""
    import torch

    from sslsv.pretrain import build_upstream

    torch.manual_seed(0)
    up_dir = root.parent / "upstream"
    build_upstream("hubert", "tiny").save_pretrained(up_dir)
    shutil.copytree(corpus_dir, root / "corpus", dirs_exist_ok=True)
    cfg = resolve("smoke", {**TINY, "frontend.kind": "ssl", "frontend.upstream": str(up_dir), "train.steps": 2})
    pipeline.run_sv(cfg, progress=False)
    torch.manual_seed(1)
    build_upstream("hubert", "tiny").save_pretrained(up_dir)  # other weights, same path
    pipeline.run_sv(cfg, progress=False)
    assert "inputs changed since it finished (upstream/model.safetensors changed)" in capsys.readouterr().err


def test_truncated_scores_are_refused_by_the_reader(vox, root):
    """Even without the manifest, the reader checks the score rows against the trial count."""
    _, cfg = vox
    run = pipeline.run_sv(cfg, progress=False).run
    lines = run.file("scores.tsv").read_text().splitlines(keepends=True)
    run.file("scores.tsv").write_text("".join(lines[:8]))
    with pytest.raises(ArtifactError, match=r"scores.tsv: 7 score rows, but the run scored 20 trials"):
        pipeline.load_result(run)


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"eer_percent": 3.1, "min_dcf')
    with pytest.raises(ArtifactError) as e:
        read_json(path, "run metrics")
    assert str(path) in str(e.value) and "not valid JSON" in str(e.value) and "delete it" in str(e.value)


def test_an_unfinished_run_with_an_invalid_config_names_the_file(vox, root, capsys):
    _, cfg = vox
    run = pipeline.sv_run(cfg)
    run.path.mkdir(parents=True)
    run.config_file.write_text('{"corpus": ')
    assert main(["baseline", "--profile", "smoke", "--seeds", "0",
                 *[f"--set={k}={json.dumps(v)}" for k, v in {**TINY, "corpus.source": "voxceleb1",
                                                             "corpus.voxceleb_root": cfg.corpus.voxceleb_root}.items()]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{run.config_file}: run config is not valid JSON" in err


def test_a_corrupt_checkpoint_of_an_unfinished_run_is_set_aside_and_training_restarts(vox, root, capsys):
    _, cfg = vox
    run = pipeline.sv_run(cfg)
    run.path.mkdir(parents=True)
    run.checkpoint_file.write_bytes(os.urandom(2048))
    result = pipeline.run_sv(cfg, progress=False)
    err = capsys.readouterr().err
    assert f"cannot load checkpoint {run.checkpoint_file}" in err and "training from step 0" in err
    corrupt = list(run.path.glob("checkpoint.pt.corrupt-*"))
    assert len(corrupt) == 1 and corrupt[0].stat().st_size == 2048
    assert result.run.is_complete and "resumed" not in run.log_file.read_text()


def test_a_corrupt_checkpoint_of_an_unfinished_pretraining_run_restarts(pretrain_config, capsys):
    from sslsv.pretrain import pretrain

    cfg = pretrain_config({"optim.steps": 2})
    run = Run("pretrain", cfg)
    run.path.mkdir(parents=True)
    run.checkpoint_file.write_bytes(b"garbage")
    assert pretrain(cfg, progress=False).is_complete
    assert "training from step 0" in capsys.readouterr().err


def test_a_corpus_that_fails_validation_leaves_no_run_directory(vox, root):
    """Five bad files, one of them 0.1 s long: all five are reported in one pass, and no run is created."""
    target, cfg = vox
    wav = target / "wav"
    files = sorted(wav.glob("*/*/*.wav"))
    bad = files[:5]
    bad[0].write_bytes(b"")
    bad[1].write_bytes(os.urandom(4096))
    sf.write(bad[2], np.zeros(1600), 8000)  # wrong sample rate
    sf.write(bad[3], np.zeros(1600), 16000)  # 0.1 s: too short
    sf.write(bad[4], np.full(16000, np.nan), 16000, subtype="FLOAT")
    with pytest.raises(ValueError) as e:
        pipeline.run_sv(cfg, progress=False)
    message = str(e.value)
    assert message.startswith("5 of ")
    for f in bad:
        assert str(f) in message
    assert "too short: 0.100 s" in message
    assert runs(root) == []


# --- one-line errors; --debug ------------------------------------------------------------------


def _cli(args, env_extra=None, timeout=120):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "sslsv.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def test_a_read_only_artifact_root_is_one_line_naming_the_path(tmp_path, corpus_dir):
    readonly = "/sys/sslsv-artifacts"  # writable by nobody, root included
    p = _cli(["baseline", "--profile", "smoke", "--seeds", "0", "--no-progress"], {"SSLSV_ARTIFACTS": readonly})
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sslsv: error: cannot write /sys/sslsv-artifacts")
    assert "SSLSV_ARTIFACTS" in lines[0] and "Traceback" not in p.stderr
    debug = _cli(["--debug", "baseline", "--profile", "smoke", "--seeds", "0"], {"SSLSV_ARTIFACTS": readonly})
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


@pytest.mark.parametrize("code, fix", [(errno.EROFS, "make it writable"), (errno.EACCES, "make it writable"),
                                       (errno.ENOSPC, "free space")])
def test_an_unwritable_root_is_one_line_with_the_fix(code, fix, root, monkeypatch, capsys):
    import sslsv.artifacts as artifacts

    def refuse(*a, **k):
        raise OSError(code, os.strerror(code), str(root / "runs"))

    monkeypatch.setattr(artifacts.tempfile, "mkstemp", refuse)
    assert main(["corpus", "--profile", "smoke", "--no-progress", *[f"--set={k}={json.dumps(v)}" for k, v in TINY.items()
                                                   if k.startswith("corpus.")]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and os.strerror(code) in err and fix in err


def test_a_full_disk_names_the_file(vox, root, monkeypatch):
    import sslsv.artifacts as artifacts

    _, cfg = vox
    real = artifacts.os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts.os, "fsync", full)
    with pytest.raises(ArtifactError) as e:
        pipeline.run_sv(cfg, progress=False)
    assert "No space left on device" in str(e.value) and str(root) in str(e.value)
    assert "free space" in str(e.value)
    monkeypatch.setattr(artifacts.os, "fsync", real)


def test_cuda_without_a_gpu_is_one_line(root, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["baseline", "--profile", "smoke", "--seeds", "0", "--set", "device=cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device='cuda': no CUDA device" in err and "device=cpu" in err
    assert not root.exists()
    assert main(["pretrain", "--profile", "smoke", "--set", "device=cuda:1"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_called_a_bug(monkeypatch, capsys):
    import sslsv.cli as cli

    def bug(args):
        raise ValueError("an internal invariant")

    monkeypatch.setattr(cli, "cmd_corpus", bug)
    monkeypatch.setattr(cli, "build_parser", cli.build_parser)  # parser reads cmd_corpus at build time
    parser = cli.build_parser()
    args = parser.parse_args(["corpus", "--profile", "smoke"])
    args.func = bug
    monkeypatch.setattr(cli.argparse.ArgumentParser, "parse_args", lambda self, argv=None: args)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert "internal error (a bug" in err and "ValueError: an internal invariant" in err and "--debug" in err


# --- one process per run ---------------------------------------------------------------------------


def test_a_second_process_waits_for_the_run_and_then_reuses_it(vox, root):
    """Two identical commands at once: the second waits, says who holds the run, then serves it."""
    _, cfg = vox
    sets = [f"--set={k}={json.dumps(v)}" for k, v in {**TINY, "corpus.source": "voxceleb1",
                                                      "corpus.voxceleb_root": cfg.corpus.voxceleb_root}.items()]
    env = {**os.environ, "SSLSV_ARTIFACTS": str(root), "OMP_NUM_THREADS": "1"}
    run = pipeline.sv_run(cfg)
    # the first process holds the run's lock for 8 s before it computes (the second must start, import torch and
    # reach the lock by then, which took over 3 s on a loaded 2-core machine)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from sslsv.artifacts import Run; from sslsv.sv import pipeline;"
         "import sslsv.config as c; import json;"
         f"cfg = c.resolve('smoke', json.loads(sys.argv[1])); run = pipeline.sv_run(cfg);"
         "lock = run.lock(); lock.__enter__(); print('locked', flush=True); time.sleep(8);"
         "pipeline._compute_sv(cfg, run, pipeline.sv_inputs(cfg, False), False); lock.__exit__(None, None, None)",
         json.dumps({**TINY, "corpus.source": "voxceleb1", "corpus.voxceleb_root": cfg.corpus.voxceleb_root})],
        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert holder.stdout.readline().strip() == "locked"
    second = subprocess.run([sys.executable, "-m", "sslsv.cli", "baseline", "--profile", "smoke", "--seeds", "0",
                             "--no-progress", *sets], capture_output=True, text=True, env=env, cwd=REPO,
                            timeout=300)
    assert holder.wait(timeout=300) == 0
    assert second.returncode == 0, second.stderr
    assert f"waiting for run {run.path.name}: pid {holder.pid}" in second.stderr
    log = run.log_file.read_text()
    assert log.count("corpus:") == 1  # trained once, by the first process


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    from sslsv.config import OptimConfig

    run = Run("demo", OptimConfig(), root=tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, pathlib; from sslsv.artifacts import Run;"
         "from sslsv.config import OptimConfig; r = Run('demo', OptimConfig(), root=pathlib.Path(sys.argv[1]));"
         "l = r.lock(); l.__enter__(); print('locked', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait()
    t0 = time.monotonic()
    with run.lock():
        pass
    assert time.monotonic() - t0 < 5


# --- the command line answers at once ----------------------------------------------------------------


def test_help_and_config_errors_do_not_import_torch():
    code = ("import sys; from sslsv.cli import main;"
            "rc = main(['baseline', '--profile', 'smoke', '--set', 'train.steps=0']);"
            "assert rc == 2, rc; assert 'torch' not in sys.modules and 'pandas' not in sys.modules, 'heavy import'")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([sys.executable, "-c", "import sys; from sslsv.cli import build_parser;"
                        "build_parser().format_help(); assert 'torch' not in sys.modules"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert p.returncode == 0, p.stderr


def test_a_truncated_upstream_of_a_finished_pretraining_run_is_recomputed(pretrain_config, capsys):
    from sslsv.pretrain import pretrain

    cfg = pretrain_config({"optim.steps": 2})
    run = pretrain(cfg, progress=False)
    weights = run.path / "upstream" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:100])
    again = pretrain(cfg, progress=False)
    assert "upstream/model.safetensors has 100 bytes" in capsys.readouterr().err
    assert (again.path / "upstream" / "model.safetensors").read_bytes() == good  # recomputed, bit for bit


def test_a_damaged_target_cache_is_set_aside_and_recomputed(pretrain_config, root, capsys):
    """k-means targets are served from their cache only when its labels hash to what it recorded."""
    from sslsv.pretrain import pretrain

    cfg = pretrain_config({"optim.steps": 2})
    first = pretrain(cfg, progress=False)
    (cache,) = (first.path.parents[1] / "targets").glob("kmeans_mfcc-*")
    labels = (cache / "labels.npz").read_bytes()
    (cache / "labels.npz").write_bytes(labels[:-10])
    shutil.rmtree(first.path)  # make the run compute its targets again
    pretrain(cfg, progress=False)
    assert f"not reusing the target cache {cache}: labels.npz is missing or differs" in capsys.readouterr().err
    assert (cache / "labels.npz").read_bytes() == labels


def test_two_generators_of_one_corpus_take_turns(tmp_path):
    """Two `sslsv corpus` at once: the second waits for the first, then reuses its corpus."""
    from sslsv.artifacts import file_lock
    from sslsv.data.synthetic import default_root

    env = {**os.environ, "SSLSV_ARTIFACTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items() if k.startswith("corpus.")]
    os.environ["SSLSV_ARTIFACTS"] = str(tmp_path)
    try:
        corpus = default_root(resolve("smoke", TINY).corpus)
    finally:
        del os.environ["SSLSV_ARTIFACTS"]
    with file_lock(corpus.parent / f"{corpus.name}.lock", "test"):
        second = subprocess.Popen([sys.executable, "-m", "sslsv.cli", "corpus", "--profile", "smoke", "--no-progress",
                                   *sets], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        time.sleep(2)
        assert second.poll() is None and not corpus.exists()  # waiting, nothing written
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0 and f"waiting for corpus {corpus}" in err and out.strip() == str(corpus)

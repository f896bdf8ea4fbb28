import json

import pytest
import torch

from sslsv.artifacts import Run, artifact_root, atomic_torch_save, atomic_write_json, torch_load
from sslsv.config import OptimConfig


def test_artifact_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "a"))
    assert artifact_root() == (tmp_path / "a").resolve()


def test_run_records_itself(tmp_path):
    run = Run("sv", OptimConfig(steps=3), root=tmp_path).start()
    assert json.loads(run.config_file.read_text())["steps"] == 3
    env = json.loads(run.file("environment.json").read_text())
    assert env["packages"]["torch"] and env["python"]
    run.log("hello")
    assert "hello" in run.log_file.read_text()
    assert not run.is_complete
    run.finish({"eer_percent": 2.5})
    assert Run("sv", OptimConfig(steps=3), root=tmp_path).is_complete


def test_run_name_depends_on_config(tmp_path):
    assert Run("sv", OptimConfig(steps=3), root=tmp_path).path != Run("sv", OptimConfig(steps=4), root=tmp_path).path


def test_run_refuses_foreign_config(tmp_path):
    run = Run("sv", OptimConfig(steps=3), root=tmp_path).start()
    run.config_file.write_text(json.dumps({"steps": 99}))
    with pytest.raises(RuntimeError, match="different configuration"):
        Run("sv", OptimConfig(steps=3), root=tmp_path).start()


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_torch_load_is_weights_only(tmp_path):
    atomic_torch_save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(torch_load(tmp_path / "ok.pt")["w"], torch.ones(2))

    import argparse

    torch.save({"obj": argparse.Namespace(a=1)}, tmp_path / "evil.pt")  # an arbitrary pickled class
    with pytest.raises(RuntimeError, match="cannot load checkpoint"):
        torch_load(tmp_path / "evil.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="corrupt.pt"):
        torch_load(tmp_path / "corrupt.pt")


def test_a_run_recorded_before_a_neutral_key_existed_is_served_and_resumed(tmp_path, monkeypatch):
    """A key added later at its HASH_NEUTRAL value names the same run (config_hash), and the run's recorded
    config.json, which lacks the key, still describes it: served, never set aside and computed again."""
    from sslsv import config

    monkeypatch.setitem(config.HASH_NEUTRAL, "demo.knob", "old")
    old = Run("demo", {"demo": {"x": 1}}, root=tmp_path)
    old.start()
    old.finish({"m": 1})
    unfinished = Run("demo", {"demo": {"x": 2}}, root=tmp_path).start()  # stopped before it finished
    new = Run("demo", {"demo": {"x": 1, "knob": "old"}}, root=tmp_path)
    assert new.path == old.path and new.problem() is None
    Run("demo", {"demo": {"x": 2, "knob": "old"}}, root=tmp_path).start()  # resumes, with the same config.json
    assert json.loads(unfinished.config_file.read_text()) == {"demo": {"x": 2}}
    other = Run("demo", {"demo": {"x": 1, "knob": "new"}}, root=tmp_path)
    assert other.path != old.path
    # a recorded config that differs elsewhere still does not describe the run
    monkeypatch.setattr(new, "config_dict", {"demo": {"x": 3, "knob": "old"}})
    assert "no longer describes this run" in new.problem()

"""The device check (``make bench-gpu``) on a CPU: it skips cleanly, and its pricing of a plan is right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark import load_benchmark

REPO = Path(__file__).resolve().parents[1]


def test_without_cuda_it_prints_one_line_and_exits_0(monkeypatch, capsys):
    import torch

    bench = load_benchmark("bench_gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["bench-gpu: no CUDA device on this machine; skipped (the figures need one GPU, ~8 min)"]


def test_make_bench_gpu_runs_the_benchmark():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: `make bench-gpu` would measure for minutes")
    done = subprocess.run(["make", "-s", "-n", "bench-gpu"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "benchmarks/bench_gpu.py" in done.stdout


def fake_measurements(bench):
    M = bench.Measured
    return {("sv", "fbank"): M("fbank", "sv", "fbank", 128, 3.0, 0.05, 3.0),
            ("sv", "fine-tuned:small"): M("ft", "sv", "fine-tuned:small", 128, 3.0, 0.2, 20.0),
            ("pretrain", "small"): M("pt", "pretrain", "small", 32, 4.0, 0.1, 10.0)}


def test_a_planned_run_is_priced_at_its_measured_step_scaled_by_audio_and_size():
    from sslsv.config import PretrainExperimentConfig, resolve
    from sslsv.pretrain import count_parameters

    bench = load_benchmark("bench_gpu")
    measured = fake_measurements(bench)
    sv = SimpleNamespace(kind="sv", config=resolve("gpu", {"train.batch_size": 64, "frontend.kind": "fbank"}))
    assert bench.step_seconds_for(sv, measured, "small") == pytest.approx(0.05 / 2)
    ft = SimpleNamespace(kind="sv", config=resolve("gpu", {"frontend.kind": "ssl", "frontend.upstream": "run:x",
                                                           "frontend.finetune": True}))
    assert bench.step_seconds_for(ft, measured, "small") == pytest.approx(0.2)
    base = SimpleNamespace(kind="pretrain", config=resolve("gpu", {"pretrain.size": "base", "pretrain.crop_seconds": 2.0},
                                                           base=PretrainExperimentConfig()))
    ratio = count_parameters("hubert", "base") / count_parameters("hubert", "small")
    assert bench.step_seconds_for(base, measured, "small") == pytest.approx(0.1 * ratio / 2)


def test_the_gpu_profile_is_priced_by_the_plan(tmp_path, monkeypatch):
    """Chapter 01 at the gpu profile: 3 fbank seeds x 20,000 steps at 0.05 s = 0.83 GPU-hours."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    bench = load_benchmark("bench_gpu")
    hours, runs = bench.plan_hours("gpu", fake_measurements(bench), chapters=["01_baseline"])
    assert runs == 3 and hours == pytest.approx(3 * 20_000 * 0.05 / 3600, rel=1e-3)


def test_its_measurements_run_on_a_cpu_at_a_tiny_scale(tmp_path):
    """The GPU path's model building, steps and loader, on the CPU (no CUDA call is made there)."""
    import torch

    bench = load_benchmark("bench_gpu")
    cpu = torch.device("cpu")
    pre = bench.measure_pretrain("micro", 2, 1.0, 1, cpu)
    assert pre.kind == "pretrain" and pre.step_seconds > 0 and pre.peak_gib == 0.0
    for what in ("fbank", "frozen:micro", "fine-tuned:micro"):
        m = bench.measure_sv(what, 2, 0.5, 1, cpu)
        assert m.what == what and m.step_seconds > 0
    rates = bench.loader_rates(40, 4, 0.5, [0, 1], 2, root=tmp_path / "corpus")
    assert set(rates) == {0, 1} and all(r > 0 for r in rates.values())

"""benchmarks/bench_learning_curve.py: its cases are chapter 01a's runs, timed, and side by side."""

from __future__ import annotations

import json
import sys

from benchmark import load_benchmark


def test_cases_are_timed_compared_side_by_side_and_a_cached_case_is_not_timed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    bench = load_benchmark("bench_learning_curve")
    first = tmp_path / "first.json"
    monkeypatch.setattr(sys, "argv", ["bench", "--profile", "smoke", "--steps", "20", "--eval-every", "10",
                                      "--case", "k20", "pretrain.n_clusters=20", "--json", str(first)])
    bench.main()
    saved = json.loads(first.read_text())
    assert [r["step"] for r in saved[0]["rows"]] == [0, 10, 20] and saved[0]["cpu_min"] > 0
    assert not saved[0]["cached"] and saved[0]["sets"] == {"pretrain.n_clusters": 20}
    # the same case again is the cached run: its cost is not known, and not made up
    monkeypatch.setattr(sys, "argv", ["bench", "--profile", "smoke", "--steps", "20", "--eval-every", "10",
                                      "--compare", str(first), "--case", "again", "pretrain.n_clusters=20"])
    capsys.readouterr()
    bench.main()
    out = capsys.readouterr().out
    assert "side by side" in out
    rows = bench.compare_cases([saved[0], {**saved[0], "case": "again", "cpu_min": float("nan"),
                                           "acc_per_cpu_min": float("nan")}])
    assert rows[0]["vs_first"] == 1.0 and rows[1]["vs_first"] != rows[1]["vs_first"]  # NaN: not timed
    assert rows[0]["acc_at_common"] == saved[0]["rows"][-1]["held_out_masked_acc"]

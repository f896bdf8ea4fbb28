"""benchmarks/bench_cold_book.py: the cold build's invocations, their figures and the runs' comparison."""

from __future__ import annotations

import json

import pytest

from benchmark import load_benchmark

TIME_V = """\tCommand being timed: "make book"
\tPercent of CPU this job got: 179%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 4:31:07
\tMaximum resident set size (kbytes): 5712344
"""


def _run(root, name, metrics, scores=None):
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    if scores is not None:
        (run / "scores.tsv").write_text(scores)
    (run / "DONE").write_text("")
    return run


def test_runs_compare_on_their_results_not_their_timings(tmp_path):
    bench = load_benchmark("bench_cold_book")
    cold, ref = tmp_path / "cold", tmp_path / "ref"
    for root, seconds in ((cold, 48.6), (ref, 71.2)):  # another host's pace: the same run
        _run(root, "sv-same", {"eer_percent": 39.63, "train_seconds": seconds, "timing_complete": True}, "1\t0.5\n")
        _run(root, "pretrain-same", {"masked_acc_eval": 0.165, "seconds": seconds})
    _run(cold, "sv-eer", {"eer_percent": 39.64})
    _run(ref, "sv-eer", {"eer_percent": 39.63})
    _run(cold, "sv-scores", {"eer_percent": 20.0}, "1\t0.51\n")
    _run(ref, "sv-scores", {"eer_percent": 20.0}, "1\t0.50\n")
    _run(cold, "sv-only-here", {"eer_percent": 1.0})
    (cold / "runs" / "sv-unfinished").mkdir()  # no DONE: an interrupted run is not compared
    assert bench.compare_runs(cold, ref) == {"identical": 2, "different": ["sv-eer", "sv-scores"], "unmatched": 1}


def test_time_figures_and_heartbeat_gaps_are_read_back():
    bench = load_benchmark("bench_cold_book")
    assert bench.time_figures(TIME_V) == {"elapsed_s": 4 * 3600 + 31 * 60 + 7.0, "cpu_percent": 179,
                                          "peak_gb": pytest.approx(5.712344)}
    warm = bench.time_figures("\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:17.29\n")
    assert warm == {"elapsed_s": pytest.approx(77.29)}
    beats = ["2026-12-05T20:55:29 42356.06 2.78", "2026-12-05T20:55:59 42386.12 3.30",
             "2026-12-05T20:58:29 42536.12 2.10", ""]
    assert bench.heartbeat_gaps(beats) == [("2026-12-05 20:55:59", 150.0)]


def test_a_second_invocation_needs_the_first_ones_clone_and_the_first_a_fresh_directory(tmp_path):
    bench = load_benchmark("bench_cold_book")
    with pytest.raises(SystemExit, match="--resume: .* holds no clone"):
        bench.invoke(tmp_path, resume=True, make_args=[])
    (tmp_path / "sslsv").mkdir()
    with pytest.raises(SystemExit, match="exists; --resume re-issues the build there"):
        bench.invoke(tmp_path, resume=False, make_args=[])


def test_the_report_sums_the_invocations_a_killed_one_up_to_its_last_heartbeat(tmp_path, monkeypatch):
    bench = load_benchmark("bench_cold_book")
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "reference"))
    (tmp_path / "invocation-1.json").write_text(json.dumps(
        {"n": 1, "commit": "cbbb319 x", "start": "2026-12-05T19:47:26"}))  # killed: no end, no rc
    (tmp_path / "heartbeat-1.log").write_text("2026-12-05T19:47:26 1 0.1\n2026-12-05T20:56:29 2 3.5\n")
    (tmp_path / "invocation-2.json").write_text(json.dumps(
        {"n": 2, "commit": "cbbb319 x", "start": "2026-12-05T21:23:27", "end": "2026-12-06T01:54:34", "rc": 0}))
    (tmp_path / "heartbeat-2.log").write_text("2026-12-05T21:23:27 3 0.1\n")
    (tmp_path / "time-2.txt").write_text(TIME_V)
    _run(tmp_path / "sslsv" / "artifacts", "sv-a", {"eer_percent": 1.0})
    text = bench.report(tmp_path, 2, "smoke")
    assert "invocation 1 (cbbb319 x): 69.0 min, killed (up to its last heartbeat); heartbeat gaps over 90 s: " \
           "[('2026-12-05 19:47:26', 4143.0)]" in text
    assert "invocation 2 (cbbb319 x): 271.1 min, exit 0, 179 % CPU, 5.7 GB peak" in text
    assert "cold make book, the invocations' sum: 340.2 min" in text
    assert "reference, sslsv plan --profile smoke --cold --workers 2 at the plan's benchmark defaults (" in text
    assert "reference holds no timed run): " in text
    assert "min elapsed on 2 workers" in text
    assert "runs the clone finished: 1; identical to the reference's: 0; different: 0 []; " \
           "not in the reference (" in text and text.endswith("): 1")
    _run(tmp_path / "reference", "sv-a", {"eer_percent": 1.0})  # finished, but untimed: no pace from it
    text = bench.report(tmp_path, 2, "smoke")
    assert "reference holds no timed run): " in text
    assert "runs the clone finished: 1; identical to the reference's: 1; different: 0 []; " in text
    from sslsv.artifacts import Run
    from sslsv.config import SVConfig

    timed = Run("sv", SVConfig(), root=tmp_path / "reference")
    timed.start()
    timed.finish({"eer_percent": 1.0, "train_seconds": 9.0, "embed_seconds": 1.0, "timing_complete": True})
    assert "--workers 2 at the pace of the reference's 1 timed runs: " in bench.report(tmp_path, 2, "smoke")

"""The cold ``make book``: a fresh clone with an empty artifact root, timed as one command, its runs checked.

    python benchmarks/bench_cold_book.py --dir /scratch/cold           # invocation 1: clone, then make book
    python benchmarks/bench_cold_book.py --dir /scratch/cold --resume  # the same command again in that clone
    python benchmarks/bench_cold_book.py --dir /scratch/cold --report  # what the invocations measured

The first invocation clones this repository's HEAD into ``DIR/sslsv`` (it refuses a ``DIR`` that already
holds one) and runs ``make book`` there under ``/usr/bin/time -v``: the environment from the lock file, the
plan, every run from an empty artifact root, the chapters, the HTML.  A heartbeat (wall clock, uptime and
1-minute load every 30 s) is written beside it, so that a paused machine or another job's load can be read
off beside the figure.  Where a build outlives the machine's sessions, ``--resume`` re-issues the same
command in the same clone: it serves the runs already finished and resumes the interrupted ones from their
checkpoints; each invocation keeps its own files (``invocation-N.json``, ``make-book-N.log``,
``heartbeat-N.log``, ``time-N.txt``), so a killed one still counts up to its last heartbeat.

The report prints, side by side: each invocation's wall time, CPU share, peak memory and heartbeat gaps over
90 s, and their sum; the reference, what ``sslsv plan --cold`` prices the build at on the same number of
workers, at the pace of the reference's runs (at the plan's benchmark defaults where it holds none); and how
many of the clone's finished runs have exactly the metrics (timings aside) and the scores of the same run (same
hash) in the reference: this checkout's artifact root, or ``--reference``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VOLATILE = ("seconds", "per_second", "timing")  # metric keys that hold wall-clock time, not results
BEAT_S = 30.0
GAP_S = 90.0


def compare_runs(cold_root: Path, reference_root: Path) -> dict:
    """The finished runs under ``cold_root/runs`` against the same runs under ``reference_root/runs``:
    ``identical`` (metrics without timings, and ``scores.tsv`` byte for byte), ``different`` (their names) and
    ``unmatched`` (finished in the clone, not in the reference)."""
    out = {"identical": 0, "different": [], "unmatched": 0}
    runs = Path(cold_root) / "runs"
    for run in sorted(p for p in runs.iterdir() if (p / "DONE").exists()) if runs.is_dir() else []:
        ref = Path(reference_root) / "runs" / run.name
        if not (ref / "DONE").exists():
            out["unmatched"] += 1
            continue
        same = _metrics(run) == _metrics(ref)
        if (run / "scores.tsv").exists() or (ref / "scores.tsv").exists():
            same = same and (ref / "scores.tsv").exists() and (run / "scores.tsv").exists() and filecmp.cmp(
                run / "scores.tsv", ref / "scores.tsv", shallow=False)
        if same:
            out["identical"] += 1
        else:
            out["different"].append(run.name)
    return out


def _metrics(run: Path) -> dict:
    data = json.loads((run / "metrics.json").read_text())
    return {k: v for k, v in data.items() if not any(s in k for s in VOLATILE)}


def heartbeat_gaps(lines: list[str], limit: float = GAP_S) -> list[tuple[str, float]]:
    """``(time before the gap, seconds)`` for each pair of heartbeats more than ``limit`` apart."""
    beats = [dt.datetime.fromisoformat(line.split()[0]) for line in lines if line.strip()]
    return [(str(a), (b - a).total_seconds()) for a, b in zip(beats, beats[1:]) if (b - a).total_seconds() > limit]


def time_figures(text: str) -> dict:
    """Elapsed seconds, CPU share (%) and peak memory (GB) from ``/usr/bin/time -v``'s report."""
    out = {}
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    if m:
        out["elapsed_s"] = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = re.search(r"Percent of CPU this job got: (\d+)%", text)
    if m:
        out["cpu_percent"] = int(m.group(1))
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["peak_gb"] = int(m.group(1)) / 1e6
    return out


def _now(**kw) -> str:
    """UTC wall-clock time, ISO 8601 without an offset (the heartbeat's and the records' clock)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(**kw)


def _beat(path: Path, stop: threading.Event) -> None:
    with open(path, "a") as f:
        while not stop.is_set():
            uptime = Path("/proc/uptime").read_text().split()[0]
            load = Path("/proc/loadavg").read_text().split()[0]
            f.write(f"{_now(timespec='seconds')} {uptime} {load}\n")
            f.flush()
            stop.wait(BEAT_S)


def invoke(workdir: Path, resume: bool, make_args: list[str]) -> int:
    """One invocation of ``make book`` in the clone (cloning it first unless ``resume``); its exit status."""
    clone = workdir / "sslsv"
    if resume and not clone.is_dir():
        sys.exit(f"bench_cold_book: --resume: {clone} holds no clone; run once without --resume")
    if not resume:
        if clone.exists():
            sys.exit(f"bench_cold_book: {clone} exists; --resume re-issues the build there, or choose another --dir")
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    n = 1 + len(list(workdir.glob("invocation-*.json")))
    record = {"n": n, "commit": subprocess.run(["git", "-C", str(clone), "log", "-1", "--format=%h"], check=True,
                                               capture_output=True, text=True).stdout.strip(),
              "make_args": make_args, "start": _now()}
    path = workdir / f"invocation-{n}.json"
    path.write_text(json.dumps(record, indent=1))
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(workdir / f"heartbeat-{n}.log", stop), daemon=True)
    beat.start()
    env = {k: v for k, v in os.environ.items() if k != "SSLSV_ARTIFACTS"}  # the clone's own, empty root
    with open(workdir / f"make-book-{n}.log", "w") as log:
        rc = subprocess.run(["/usr/bin/time", "-v", "-o", str(workdir / f"time-{n}.txt"), "make", "book",
                             *make_args], cwd=clone, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    stop.set()
    beat.join()
    record.update(rc=rc, end=_now())
    path.write_text(json.dumps(record, indent=1))
    return rc


def report(workdir: Path, workers: int | None, profile: str, reference: Path | None = None) -> str:
    """The invocations' figures, their sum, the plan's price and the runs' comparison, as text."""
    lines, total = [], 0.0
    for path in sorted(workdir.glob("invocation-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        rec = json.loads(path.read_text())
        n = rec["n"]
        beat_file = workdir / f"heartbeat-{n}.log"
        beats = [b for b in beat_file.read_text().splitlines() if b.strip()] if beat_file.is_file() else []
        start = dt.datetime.fromisoformat(rec["start"])
        last = (dt.datetime.fromisoformat(rec["end"]) if "end" in rec
                else dt.datetime.fromisoformat(beats[-1].split()[0]) if beats else start)
        fig = time_figures((workdir / f"time-{n}.txt").read_text()) if (workdir / f"time-{n}.txt").is_file() else {}
        minutes = fig.get("elapsed_s", (last - start).total_seconds()) / 60
        total += minutes
        ended = f"exit {rec['rc']}" if "rc" in rec else "killed (up to its last heartbeat)"
        extra = (f", {fig['cpu_percent']} % CPU, {fig['peak_gb']:.1f} GB peak" if "cpu_percent" in fig else "")
        gaps = heartbeat_gaps(beats)
        lines.append(f"invocation {n} ({rec['commit']}): {minutes:.1f} min, {ended}{extra}; "
                     f"heartbeat gaps over {GAP_S:.0f} s: {gaps or 'none'}")
    lines.append(f"cold make book, the invocations' sum: {total:.1f} min")
    asked = ["--workers", str(workers)] if workers else []  # none: make book's default, one worker per core
    from sslsv.artifacts import artifact_root

    ref_root = Path(reference) if reference else artifact_root()
    env = {**os.environ, "SSLSV_ARTIFACTS": str(ref_root)}  # priced at the pace of its runs
    from sslsv.studies.plan import Throughput

    n_ref = sum(map(len, Throughput.measured(ref_root).step_seconds.values()))  # the runs the plan takes its pace from
    pace = (f"at the pace of the reference's {n_ref} timed runs" if n_ref
            else f"at the plan's benchmark defaults ({ref_root} holds no timed run)")
    plan = subprocess.run([sys.executable, "-m", "sslsv.cli", "plan", "--profile", profile, "--cold", *asked],
                          cwd=REPO, capture_output=True, text=True, env=env)
    priced = re.search(r"estimated (\d+) min of compute(?:.*?on (\d+) worker processes: about (\d+) min elapsed)?",
                       plan.stdout, re.S)
    if priced:
        on = f", about {priced.group(3)} min elapsed on {priced.group(2)} workers" if priced.group(2) else ""
        command = " ".join(["sslsv plan --profile", profile, "--cold", *asked])
        lines.append(f"reference, {command} {pace}: {priced.group(1)} single-core min{on}")
    c = compare_runs(workdir / "sslsv" / "artifacts", ref_root)
    lines.append(f"runs the clone finished: {c['identical'] + len(c['different']) + c['unmatched']}; identical to "
                 f"the reference's: {c['identical']}; different: {len(c['different'])} {c['different'][:10]}; "
                 f"not in the reference ({ref_root}): {c['unmatched']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, required=True, help="the working directory (the clone goes in DIR/sslsv)")
    ap.add_argument("--resume", action="store_true", help="re-issue make book in DIR's clone")
    ap.add_argument("--report", action="store_true", help="only print what the invocations measured")
    ap.add_argument("--profile", default="cpu", help="the book's profile (make book PROFILE=...)")
    ap.add_argument("--workers", type=int, default=None,
                    help="workers the plan prices the reference at (default: make book's, one per core)")
    ap.add_argument("--reference", type=Path, default=None,
                    help="the artifact root whose runs the clone's are checked against (default: this checkout's)")
    args = ap.parse_args()
    if not args.report:
        invoke(args.dir.resolve(), args.resume, [f"PROFILE={args.profile}"])
    print(report(args.dir.resolve(), args.workers, args.profile, args.reference))


if __name__ == "__main__":
    main()

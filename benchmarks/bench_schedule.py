"""Benchmark: the worker pool's choice of the next run, replayed on a built book's measured runs.

``sslsv book`` computes its runs on one single-threaded process per core
(:mod:`sslsv.studies.workers`).  A frozen SSL run first computes its
upstream's hidden states (training and test utterances), unless its process
already holds them.  This script replays the book's two waves (the regime
map, then the chapters' runs) with the pool's own plan, estimates and
dependencies, and the run times measured in the artifact root's logs, under
two ways of choosing the next run:

* ``choose``: the pool's (:func:`sslsv.studies.workers.choose`): a worker's own
  upstream first, then the longest run whose upstream no other worker holds;
* ``previous``: a worker's own upstream first, then the longest run (the
  choice before 2026-12-03, which sent the equal-cost seeds of one system to
  both workers at once).

It prints, for each, the replayed elapsed minutes and the single-core minutes
spent computing hidden states.  A replay, not a timing: each run costs its
logged time less the states it computed, plus the states its worker does not
hold (per upstream: the test set's, and the training utterances' per
utterance, as measured).  Needs a book already computed at ``--profile``::

    .venv/bin/python benchmarks/bench_schedule.py --profile cpu
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import statistics
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field

import pandas as pd

from sslsv.book import MAP_CHAPTERS, toc_notebooks
from sslsv.studies import regime
from sslsv.studies.plan import Throughput, chapter_runs
from sslsv.studies.workers import _Job, choose, reads

STATE_SECONDS = 3  # a log gap shorter than this is states served from the process's cache
EMBED_CACHED = 4.5  # embedding the test set from cached states, seconds (the median of the cached runs)


@dataclass
class Measured:
    base: float  # the run's logged seconds, less the states it computed
    train_states: float = 0.0  # what the run's training utterances' states cost (0: served from the cache)
    test_states: float = 0.0
    n_train: int = 0
    meta: dict = field(default_factory=dict)


def measure(item) -> Measured:
    run = item.run
    text = (run.path / "log.txt").read_text()
    times = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in re.findall(r"^\[(\d\d):(\d\d):(\d\d)\]", text, re.M)]
    total = max(times) - min(times)
    cached = re.search(r"cached upstream features of (\d+) utterances", text)
    if item.kind != "sv" or not cached:  # pre-training, fbank, fine-tuning, a frozen upstream run on waveforms
        return Measured(float(total))
    metrics = json.loads(run.metrics_file.read_text())
    n = int(cached.group(1))
    train = float(times[1] - times[0]) if times[1] - times[0] >= STATE_SECONDS else 0.0
    test = max(0.0, metrics["embed_seconds"] - EMBED_CACHED) if metrics["embed_seconds"] > 2 * EMBED_CACHED else 0.0
    return Measured(total - train - test, train, test, n)


def replay(waves, measured: dict[str, Measured], policy: str, workers: int = 2) -> tuple[float, float]:
    # per upstream: seconds per training utterance, and the test set's states, as measured where computed
    per_utt, test = defaultdict(list), defaultdict(list)
    for waves_jobs in waves:
        for j in waves_jobs:
            m = measured[j.name]
            if m.train_states:
                per_utt[j.upstream].append(m.train_states / m.n_train)
            if m.test_states:
                test[j.upstream].append(m.test_states)
    all_utt = [v for vs in per_utt.values() for v in vs] or [0.03]
    all_test = [v for vs in test.values() for v in vs] or [18.0]
    now, state_seconds = 0.0, 0.0
    held = [OrderedDict() for _ in range(workers)]  # upstream -> utterances whose states the worker holds
    for jobs in waves:
        pending = {j.name: j for j in jobs}
        done: set[str] = set()
        last, events, free = [""] * workers, [], list(range(workers))
        while pending or events:
            for i in sorted(free):
                ready = [j for j in pending.values() if not (j.needs - done)]
                if not ready:
                    break
                others = {last[k] for k in range(workers) if k != i}  # as the pool computes it
                if policy == "choose":
                    job = choose(ready, last[i], others)
                else:
                    same = [j for j in ready if j.upstream and j.upstream == last[i]]
                    job = max(same or ready, key=lambda j: j.seconds)
                del pending[job.name]
                free.remove(i)
                last[i] = job.upstream or last[i]
                m = measured[job.name]
                cost = m.base
                if job.upstream and m.n_train:
                    u = statistics.median(per_utt[job.upstream] or all_utt)
                    had = held[i].pop(job.upstream, None)
                    extra = (u * max(0, m.n_train - had) if had is not None else
                             u * m.n_train + statistics.median(test[job.upstream] or all_test))
                    held[i][job.upstream] = max(m.n_train, had or 0)
                    while len(held[i]) > 4:  # the process cache's 4 GiB: about four upstreams' states
                        held[i].popitem(last=False)
                    cost += extra
                    state_seconds += extra
                heapq.heappush(events, (now + cost, i, job.name))
            if not events:
                break
            now, i, name = heapq.heappop(events)
            done.add(name)
            free.append(i)
    return now / 60, state_seconds / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tp = Throughput.measured()
    first = chapter_runs("01b_regime_map", args.profile) + regime.plan(args.profile)
    where = regime.book_regime(args.profile, progress=False, compute=False)
    rest = [item for n in toc_notebooks() if n != "01b_regime_map" for item in chapter_runs(n, args.profile, where=where)]
    waves, measured, seen = [], {}, set()
    for items in (first, rest):
        jobs = []
        for item in items:
            name = item.run.path.name
            if name in seen:
                continue
            seen.add(name)
            if not (item.run.path / "DONE").exists():
                raise SystemExit(f"{name} ({item.system}) is not computed: build the book at --profile "
                                 f"{args.profile} first")
            measured[name] = measure(item)
            jobs.append(_Job(item, name, reads(item), tp.estimate(item)[0]))
        names = {j.name for j in jobs}
        for j in jobs:
            j.needs &= names
        waves.append(jobs)
    rows = []
    for policy in ("previous", "choose"):
        elapsed, states = replay(waves, measured, policy, args.workers)
        rows.append({"choice": policy, "runs": sum(map(len, waves)), "workers": args.workers,
                     "replayed_elapsed_min": round(elapsed, 1), "states_single_core_min": round(states, 1)})
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"(chapters not in the map's regime: {', '.join(MAP_CHAPTERS)}; logged run time in all: "
          f"{sum(m.base + m.train_states + m.test_states for m in measured.values()) / 60:.1f} single-core min)")


if __name__ == "__main__":
    main()

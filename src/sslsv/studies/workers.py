"""Computing the book's runs on a pool of single-threaded worker processes.

A chapter computes its runs one after another in its kernel.  On a CPU with
several cores, the runs of the whole book are better computed first, side by
side: ``sslsv book`` hands every run it plans to :func:`compute_runs`, which
keeps ``workers`` processes busy, each with one thread and (when there are
enough cores) pinned to a core of its own, then executes the chapters, which
serve those runs from the artifact root.  One process per core is faster than
one process with a thread per core for models this small: the tiny upstream's
pre-training step takes 0.41 s with 2 threads, against 0.64 s for each of two
1-thread processes (2 runs at once, so 0.32 s per step), and the fixed costs of
a run (corpus checks, test-set embeddings) do not use a second thread at all.

The pool respects what a run reads: an SV run on ``run:pretrain-<hash>`` (and a
pre-training run whose k-means targets come from one) starts only once that
run is finished.  A worker is handed, when it can, a run on the upstream it
served last, whose hidden states it already holds in its process cache
(:mod:`sslsv.sv.featurizer`), and otherwise not a run on an upstream another
worker holds (:func:`choose`): the seeds of one system, equal in estimated
cost, would else go to both workers at once, and each would compute the same
states.  The cold cpu book of 2026-12-03 computed the states of its 24 frozen
upstreams 53 times; replayed on that build's measured run times
(``benchmarks/bench_schedule.py``), this choice cuts the states' compute from
32 to 17 single-core minutes.  A run that fails does not stop the others; the
runs that read it are skipped, and :class:`RunsFailedError` names them all
once every other run is done, so nothing already computed is lost.  Each run
keeps its own lock, so a chapter executed meanwhile waits for it rather than
computing it twice.
"""

from __future__ import annotations

import os
import queue
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..lifetime import exit_with_parent, leave_interrupt_to_parent
from .runs import PlannedRun, reads



class RunsFailedError(UserError, RuntimeError):
    """One or more runs of the pool failed; every other run was computed."""


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def upstream_of(item: PlannedRun) -> str:
    """The upstream an SV run reads its hidden states from ('' for fbank or a pre-training run)."""
    if item.kind != "sv" or item.config.frontend.kind == "fbank":
        return ""
    return item.config.frontend.upstream


@dataclass
class _Job:
    item: PlannedRun
    name: str
    needs: set[str]
    seconds: float
    upstream: str = field(init=False)

    def __post_init__(self) -> None:
        self.upstream = upstream_of(self.item)


def choose(candidates: Sequence[_Job], mine: str, others: set[str]) -> _Job:
    """The run a free worker takes next among ``candidates`` (runs that can start).

    ``mine``: the upstream the worker served last; ``others``: the upstreams the other workers serve
    or served last.  A run on ``mine`` comes first (its hidden states are in the worker's cache);
    then the longest run whose upstream no other worker holds, so that the seeds of a system are
    not split between two processes that would each compute the same states; then the longest.
    """
    same = [j for j in candidates if j.upstream and j.upstream == mine]
    free = [j for j in candidates if not j.upstream or j.upstream not in others]
    return max(same or free or list(candidates), key=lambda j: j.seconds)


def _work(kind: str, config: Any) -> None:
    if kind == "pretrain":
        from ..pretrain.train import pretrain

        pretrain(config, progress=False)
    else:
        from ..sv.pipeline import run_sv

        run_sv(config, progress=False)


def _worker(index: int, pin: bool, tasks: Any, results: Any) -> None:
    """One worker process: one thread, optionally pinned to core ``index``; runs tasks until ``None``.

    It ends with the process that started it (:func:`sslsv.lifetime.exit_with_parent`: after a
    ``kill -9`` of ``sslsv book`` it does not finish its run, then wait forever on its task queue), and
    leaves Ctrl-C to it (which stops the workers: :func:`compute_runs`).
    """
    exit_with_parent()
    leave_interrupt_to_parent()
    os.environ["OMP_NUM_THREADS"] = "1"
    if pin:
        try:
            cores = sorted(os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cores[index % len(cores)]})
        except (AttributeError, OSError):
            pass
    import torch

    torch.set_num_threads(1)  # (upstream loads are silent: sslsv.pretrain.backbones)
    while True:
        task = tasks.get()
        if task is None:
            return
        name, kind, config = task
        try:
            _work(kind, config)
            results.put((index, name, None))
        except BaseException as e:  # reported to the parent, which decides
            first = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            results.put((index, name, (first, traceback.format_exc())))
            if isinstance(e, KeyboardInterrupt):
                return


def start_workers(workers: int) -> tuple[Any, list[Any], list[Any], Any]:
    """Start ``workers`` idle worker processes: ``(context, processes, their task queues, the results queue)``.

    Each is pinned to a core of its own when there are enough cores, ends with this process and leaves
    Ctrl-C to it (:func:`_worker`).
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    task_queues = [ctx.Queue() for _ in range(workers)]
    pin = workers <= available_cores()
    procs = [ctx.Process(target=_worker, args=(i, pin, task_queues[i], results), daemon=False,
                         name=f"sslsv-worker-{i}") for i in range(workers)]
    for p in procs:
        p.start()
    return ctx, procs, task_queues, results


def compute_runs(items: Sequence[PlannedRun], workers: int = 2, estimate: Callable[[PlannedRun], float] | None = None,
                 progress: bool = True, desc: str = "runs") -> list[str]:
    """Compute every run of ``items`` not finished yet on ``workers`` processes; return the names computed.

    ``estimate(item)``: its seconds, for the order (longest first among the runs that can start) and
    the progress bar.  Runs already finished are skipped without starting a worker.
    """
    from tqdm.auto import tqdm

    from .plan import _finished

    jobs: dict[str, _Job] = {}
    for item in items:
        run = item.run
        name = run.path.name
        if name in jobs or _finished(run):
            continue
        jobs[name] = _Job(item, name, reads(item), float(estimate(item)) if estimate else 1.0)
    if not jobs:
        return []
    for job in jobs.values():  # a run read but neither planned nor finished cannot be waited for
        job.needs &= set(jobs)
    workers = max(1, min(int(workers), len(jobs)))
    ctx, procs, task_queues, results = start_workers(workers)
    pin = workers <= available_cores()
    bar = tqdm(total=sum(round(j.seconds) for j in jobs.values()), unit="s", desc=desc, disable=not progress,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| est. {n_fmt}/{total_fmt} s [{elapsed}<{remaining}]")
    pending = dict(jobs)
    done: list[str] = []
    failed: dict[str, str] = {}
    busy: dict[int, _Job] = {}
    last_upstream = [""] * workers

    def ready() -> list[_Job]:
        finished = set(done)
        return [j for j in pending.values() if not (j.needs - finished)]

    def skip_dependents() -> None:
        changed = True
        while changed:
            changed = False
            for j in list(pending.values()):
                bad = j.needs & set(failed)
                if bad:
                    failed[j.name] = f"skipped: it reads {sorted(bad)[0]}, which failed"
                    del pending[j.name]
                    changed = True

    try:
        while pending or busy:
            for i in range(workers):
                if i in busy or not pending:
                    continue
                candidates = ready()
                if not candidates:
                    break
                others = {last_upstream[k] for k in range(workers) if k != i}  # a busy worker's included
                job = choose(candidates, last_upstream[i], others)
                del pending[job.name]
                busy[i] = job
                last_upstream[i] = job.upstream or last_upstream[i]
                task_queues[i].put((job.name, job.item.kind, job.item.config))
            if not busy:
                if pending:  # nothing can start and nothing runs: a dependency cycle cannot happen, but say so
                    raise RuntimeError(f"{len(pending)} run(s) wait on runs that never finish: {sorted(pending)[:3]}")
                break
            try:
                i, name, error = results.get(timeout=5.0)
            except queue.Empty:
                for i, job in list(busy.items()):
                    if not procs[i].is_alive():
                        failed[job.name] = f"worker {i} died (exit code {procs[i].exitcode}) while computing it"
                        del busy[i]
                        procs[i] = ctx.Process(target=_worker, args=(i, pin, task_queues[i], results), daemon=False,
                                               name=f"sslsv-worker-{i}")
                        procs[i].start()
                skip_dependents()
                continue
            job = busy.pop(i)
            if error is None:
                done.append(name)
                bar.update(round(job.seconds))
            else:
                failed[name] = error[0]
                bar.write(f"run {name} ({job.item.shown_label}) failed: {error[0]}\n{error[1]}")
                skip_dependents()
    except KeyboardInterrupt:  # the workers ignore Ctrl-C: stop them now (a run resumes from its checkpoint)
        for p in procs:
            p.terminate()
        raise
    finally:
        for q in task_queues:
            q.put(None)
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        bar.close()
    if failed:
        first = sorted(failed)[0]
        raise RunsFailedError(f"{len(failed)} of {len(jobs)} run(s) failed ({len(done)} computed and kept); "
                              f"first: {first} ({jobs[first].item.shown_label}): {failed[first]}")
    return done

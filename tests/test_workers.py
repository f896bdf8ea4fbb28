"""The book's runs computed on a pool of single-threaded worker processes (sslsv.studies.workers)."""

from __future__ import annotations

import pytest
from test_sv import TINY

from sslsv.config import PretrainExperimentConfig, resolve
from sslsv.studies.runs import PlannedRun
from sslsv.studies.workers import RunsFailedError, compute_runs, reads, upstream_of

PRETRAIN = {**{k: v for k, v in TINY.items() if k.startswith("corpus.")}, "pretrain.size": "micro",
            "pretrain.n_clusters": 8, "pretrain.crop_seconds": 0.5, "optim.steps": 3, "optim.batch_size": 2,
            "optim.warmup_steps": 1, "optim.checkpoint_every": 3}


def _pretrain(**sets) -> PlannedRun:
    return PlannedRun("pretrain", "upstream", "upstream", None,
                      resolve("smoke", {**PRETRAIN, **sets}, base=PretrainExperimentConfig()))


def _sv(label: str, seed: int, **sets) -> PlannedRun:
    return PlannedRun("sv", label, "frozen", seed, resolve("smoke", {**TINY, "train.seed": seed, **sets}))


def _on(pre: PlannedRun, seed: int) -> PlannedRun:
    return _sv("ssl", seed, **{"frontend.kind": "ssl", "frontend.upstream": f"run:{pre.run.path.name}",
                               "frontend.cache_features": True})


def test_the_pool_computes_every_run_after_what_it_reads_and_the_chapter_serves_them(tmp_path, monkeypatch):
    from sslsv.sv.pipeline import run_sv

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    pre = _pretrain()
    items = [_on(pre, 0), _sv("fbank", 0), _on(pre, 1), pre]  # the SV runs on the upstream come before it
    assert reads(items[0]) == {pre.run.path.name} and reads(items[1]) == set()
    assert upstream_of(items[0]) == f"run:{pre.run.path.name}" and upstream_of(items[1]) == upstream_of(pre) == ""
    order = []
    done = compute_runs(items, workers=2, estimate=lambda item: order.append(item.run.path.name) or 1.0,
                        progress=False)
    assert sorted(done) == sorted({i.run.path.name for i in items})
    assert all(i.run.done_file.exists() for i in items)
    # each SV run on the upstream started after the pre-training run had finished
    started = {i.run.path.name: i.run.config_file.stat().st_mtime for i in items}
    finished = (pre.run.path / "DONE").stat().st_mtime
    assert all(started[i.run.path.name] >= finished for i in items if i.kind == "sv" and reads(i))
    # what the pool computed is what a chapter then serves, without computing it again
    before = {i.run.path.name: i.run.metrics_file.stat().st_mtime_ns for i in items if i.kind == "sv"}
    r = run_sv(items[0].config, progress=False)
    assert r.run.path == items[0].run.path and items[0].run.metrics_file.stat().st_mtime_ns == before[r.run.path.name]
    assert compute_runs(items, workers=2, progress=False) == []  # all finished: nothing starts


def test_a_failed_run_is_named_its_readers_skipped_and_the_others_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    bad_pre = _pretrain(**{"corpus.source": "voxceleb1", "corpus.voxceleb_root": str(tmp_path / "no-such-voxceleb"),
                            "corpus.librispeech_root": str(tmp_path / "no-such-librispeech")})
    good = _sv("fbank", 0)
    items = [bad_pre, _on(bad_pre, 0), good]
    with pytest.raises(RunsFailedError) as e:
        compute_runs(items, workers=2, progress=False)
    message = str(e.value)
    assert "\n" not in message and "2 of 3 run(s) failed (1 computed and kept)" in message
    assert bad_pre.run.path.name in message and "no-such-" in message
    assert good.run.done_file.exists() and not items[1].run.path.exists()  # the reader never started


def test_the_book_computes_the_map_first_then_every_other_chapters_runs_in_its_regime(tmp_path, monkeypatch):
    from sslsv import book
    from sslsv.studies import baseline, regime
    from sslsv.studies.plan import chapter_runs

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    waves = []
    monkeypatch.setattr("sslsv.studies.workers.compute_runs",
                        lambda items, workers, estimate, progress, desc: waves.append((desc, workers, list(items))))
    where = regime.Regime(6, 30, regime.OUT, "rule", -1.0)
    monkeypatch.setattr(regime, "book_regime", lambda profile, progress=True: where)
    book.precompute("smoke", ["01_baseline", "01b_regime_map", "02_objective"], {"profile": "smoke"}, 2, progress=False)
    names = lambda items: [i.run.path.name for i in items]  # noqa: E731
    assert [w[0] for w in waves] == ["book: the learning curves", "book: the regime map", "book: the chapters' runs"]
    assert {w[1] for w in waves} == {2}
    # the curve of the profile's corpus first: it sets the map's budgets (sslsv.studies.learning_curve.book_budget)
    from sslsv.studies import learning_curve

    assert names(waves[0][2]) == [learning_curve.curve_run("smoke").run.path.name]
    assert set(names(waves[1][2])) == set(names(regime.plan("smoke")))
    rest = names(waves[2][2])
    assert names(baseline.plan("smoke", (0, 1, 2))) == rest[:3]  # the baseline packs in with the chapters
    assert set(rest[3:]) == set(names(chapter_runs("02_objective", "smoke", {"profile": "smoke"}, where)))
    waves.clear()  # a chapter of the regime alone, with the map finished: no map wave
    monkeypatch.setattr(regime, "map_is_complete", lambda profile, overrides=None: True)
    book.precompute("smoke", ["03_quantizer"], {"profile": "smoke"}, 2, progress=False)
    assert [w[0] for w in waves] == ["book: the chapters' runs"]


def test_a_free_worker_keeps_its_upstream_then_avoids_the_ones_another_worker_holds():
    from sslsv.studies.workers import _Job, choose

    def job(name: str, seconds: float, upstream: str = "") -> _Job:
        j = _Job(_sv("fbank", 0), name, set(), seconds)
        j.upstream = upstream
        return j

    a0, a1, b0, pre = job("a0", 60, "run:a"), job("a1", 60, "run:a"), job("b0", 50, "run:b"), job("pre", 55)
    assert choose([a0, b0, pre], "run:b", set()) is b0  # its own upstream first, though not the longest
    assert choose([a1, b0, pre], "", {"run:a"}) is pre  # a's other seed is left to the worker holding a
    assert choose([a1, b0], "", {"run:a"}) is b0
    assert choose([a1], "", {"run:a"}) is a1  # nothing else to do: it still runs
    assert choose([a0, a1, b0], "", set()) is a0  # the longest, the first of equals


def test_two_workers_split_no_system_between_them():
    """Replayed on the pool's own choice: two systems of two seeds each, on two workers taking turns,
    never serve one upstream from both."""
    from sslsv.studies.workers import _Job, choose

    jobs = []
    for up in ("run:a", "run:b"):
        for seed in range(2):
            j = _Job(_sv("fbank", seed), f"{up}-{seed}", set(), 60.0)
            j.upstream = up
            jobs.append(j)
    last = ["", ""]
    served: dict[str, set[int]] = {}
    pending = list(jobs)
    while pending:
        for i in range(2):
            if not pending:
                break
            j = choose(pending, last[i], {last[1 - i]})
            pending.remove(j)
            last[i] = j.upstream
            served.setdefault(j.upstream, set()).add(i)
    assert all(len(workers) == 1 for workers in served.values()), served

"""The book's plan: the runs each chapter computes, which are cached, and estimates from records."""

import json
from types import SimpleNamespace

import pytest

from sslsv import cli
from sslsv.artifacts import Run
from sslsv.config import PretrainExperimentConfig, resolve, study_settings
from sslsv.studies import baseline, explain, factors, objective, plan, quantizer, regime

METRICS = {"eer_percent": 30.0, "eer_ci_low": 28.0, "eer_ci_high": 32.0, "min_dcf_0.01": 1.0,
           "min_dcf_0.01_ci_low": 0.9, "min_dcf_0.01_ci_high": 1.0, "min_dcf_0.05": 1.0,
           "min_dcf_0.05_ci_low": 0.9, "min_dcf_0.05_ci_high": 1.0, "train_seconds": 1.0}


def record_runs(monkeypatch, module):
    """Make pretrain and run_sv record their configs instead of computing."""
    computed = []

    def fake_pretrain(cfg, progress=True):
        computed.append(Run("pretrain", cfg).path.name)
        return Run("pretrain", cfg)

    def fake_sv(cfg, progress=True):
        run = Run("sv", cfg)
        computed.append(run.path.name)
        return SimpleNamespace(run=SimpleNamespace(config=cfg, path=run.path), metrics=METRICS)

    monkeypatch.setattr("sslsv.pretrain.train.pretrain", fake_pretrain)
    monkeypatch.setattr(module, "run_sv", fake_sv)
    monkeypatch.setattr(factors, "preflight", lambda *a, **k: None)
    return computed


@pytest.mark.parametrize("study", [objective, quantizer])
def test_a_factor_studys_plan_is_exactly_what_it_computes(study, monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    computed = record_runs(monkeypatch, factors)
    planned = [p.run.path.name for p in study.run.plan("cpu")]
    study.run("cpu", progress=False)
    assert planned == computed
    n_sv = sum(name.startswith("sv-") for name in planned)
    conds = [c for c in study.conditions()]
    deciding = study.run.deciding(conds)
    extra = len(deciding) * (len(study_settings("cpu").pretrain_seeds) - 1)  # deciding upstreams: every pre-training seed
    modes = study_settings("cpu").modes
    assert modes == ("frozen", "fine-tuned")  # the paper's probe, with frozen beside it (issue 26)
    upstreams = len(conds) + extra - 1  # fbank runs once, in its own mode
    assert deciding and n_sv == (upstreams * len(modes) + 1) * len(study_settings("cpu").seeds)
    n_pre = sum(name.startswith("pretrain-") for name in planned)
    assert n_pre >= len(conds) - 2 + extra


def test_the_baseline_and_analysis_plans_are_what_they_compute(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    computed = record_runs(monkeypatch, baseline)
    baseline.run("smoke", (0, 1), progress=False)
    assert [p.run.path.name for p in baseline.plan("smoke", (0, 1))] == computed
    computed = record_runs(monkeypatch, explain)
    systems = explain.analysis_systems("smoke", seed=3, progress=False)
    assert [p.run.path.name for p in explain.plan("smoke", 3)] == computed
    assert set(systems.results) == set(explain.SYSTEMS)


def finish(run: Run, metrics: dict) -> None:
    run.start()
    run.finish(metrics)


def test_the_book_plan_counts_cached_runs_shares_and_estimates_from_records(monkeypatch, tmp_path):
    from sslsv.profiles import PROFILES

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    for key in [k for k in PROFILES["smoke"] if k.startswith("study.regime.pinned.")]:
        monkeypatch.delitem(PROFILES["smoke"], key)  # the rule's regime, as at cpu
    chapters = ["01_baseline", "07_attribution", "08_loss_landscape"]
    before = plan.book_plan("smoke", chapters)
    # 3 baseline seeds; 07 and 08 share all five runs; 07 runs in the (provisional) regime of the map, so
    # its fbank system is not chapter 01's, and with the map not computed yet, 07 computes it first
    ch07 = {r.run.path.name for r in plan.chapter_runs("07_attribution", "smoke")}
    assert {r.run.path.name for r in regime.plan("smoke")} < ch07
    assert len(before) == 3 + 2 * len(ch07) and not before["cached"].any()
    assert (before[before["chapter"] == "08_loss_landscape"]["minutes"] == 0).all()
    assert set(before["estimate"]) == {"default", "shared with 07_attribution"}
    # the map's runs are computed in its wave, before the chapters'; an SV run on a pre-trained upstream reads it
    in_map = before["run"].isin({r.run.path.name for r in regime.plan("smoke")})
    assert set(before.loc[in_map, "wave"]) == {2} and set(before.loc[~in_map, "wave"]) == {3}
    read = {n for r in before["reads"] for n in r.split(",") if n}
    assert read and all(n.startswith("pretrain-") for n in read) and read <= set(before["run"])
    fbank_07 = before[(before["chapter"] == "07_attribution") & (before["system"] == "fbank")].iloc[0]
    assert fbank_07["labelled"] == min(study_settings("smoke").regime.speakers)

    # one finished fbank seed: cached, and its measured pace prices the other seeds
    first = baseline.plan("smoke", (0,))[0]
    finish(first.run, {**METRICS, "train_seconds": 600.0, "embed_seconds": 6.0, "timing_complete": True})
    after = plan.book_plan("smoke", chapters)
    row = after[after["run"] == first.run.path.name].iloc[0]
    assert bool(row["cached"]) and row["minutes"] == 0
    others = after[(after["chapter"] == "01_baseline") & ~after["cached"]]
    assert list(others["estimate"]) == ["measured"] * 2
    assert others["minutes"].tolist() == [pytest.approx((600.0 + 6.0) / 60, abs=0.01)] * 2
    totals = plan.chapter_totals(after).set_index("chapter")
    assert totals.loc["01_baseline", "cached"] == 1 and totals.loc["07_attribution", "cached"] == 0
    distinct = 3 + len(ch07)
    assert totals.loc["total (distinct runs)", "runs"] == distinct and totals.loc["total (distinct runs)", "cached"] == 1
    text = plan.format_plan(after, "smoke")
    assert text.startswith(f"book plan at profile 'smoke': {distinct} distinct runs, 1 cached")
    assert first.run.path.name in text
    assert "chapters 02-08 run in a provisional regime" in text and "worker processes" not in text
    # before chapter 01a's curve sets the budget, the upstreams are priced at the profile's typed updates
    typed = resolve("smoke", None, base=PretrainExperimentConfig()).optim.steps
    assert (f"pre-training: every upstream is priced at the profile's {typed} updates until chapter 01a's learning "
            f"curve sets the book's budget (it may choose up to {study_settings('smoke').curve.steps}), so this is "
            "a lower bound") in text
    assert "lower bound" not in plan.format_plan(plan.book_plan("smoke", ["01_baseline"]), "smoke")  # no upstream
    assert f"on 2 worker processes: about {plan.elapsed_minutes(after, 2):.0f} min elapsed" in plan.format_plan(
        after, "smoke", workers=2)

    # priced as a cold build: the finished seed counts as not cached, at its own measured pace
    cold = plan.book_plan("smoke", chapters, cold=True)
    assert not cold["cached"].any() and len(cold) == len(after)
    row = cold[cold["run"] == first.run.path.name].iloc[0]
    assert row["estimate"] == "measured" and row["minutes"] == pytest.approx((600.0 + 6.0) / 60, abs=0.01)
    assert plan.format_plan(cold, "smoke").startswith(
        f"book plan at profile 'smoke' as a cold build (an empty artifact root), at the pace measured here: "
        f"{distinct} distinct runs, 0 cached")


def test_the_elapsed_estimate_packs_the_longest_runs_first_on_the_free_worker():
    import pandas as pd

    t = pd.DataFrame({"minutes": [5.0, 4.0, 3.0, 3.0, 0.0]})
    assert plan.elapsed_minutes(t, 1) == 15.0
    assert plan.elapsed_minutes(t, 2) == 8.0  # 5 + 3 on one worker, 4 + 3 on the other
    assert plan.elapsed_minutes(t, 8) == 5.0  # never below the longest run


def test_the_elapsed_estimate_waits_for_each_wave_and_for_the_runs_a_run_reads():
    import pandas as pd

    t = pd.DataFrame({"run": ["curve", "up", "map-a", "map-b", "up2", "sv", "done"],
                      "minutes": [4.0, 2.0, 3.0, 3.0, 6.0, 1.0, 0.0],
                      "wave": [1, 2, 2, 2, 3, 3, 3],
                      "reads": ["", "", "up", "up", "", "up2,done", ""]})
    # wave 1: the curve alone (4); wave 2: the upstream (2), then its two SV runs side by side (3): 9;
    # wave 3: the second upstream (6), then the run that reads it (1) and a cached one: 16
    assert plan.elapsed_minutes(t, 2) == 16.0
    assert plan.elapsed_minutes(t, 1) == 4.0 + 8.0 + 7.0
    # one wave of independent runs would pack them into 10 minutes on two workers
    assert plan.elapsed_minutes(t.drop(columns=["wave", "reads"]), 2) == 10.0


def test_sslsv_plan_prints_every_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    assert cli.main(["plan", "--profile", "smoke", "--notebooks", "01_baseline", "05_model_size"]) == 0
    out = capsys.readouterr().out
    names = [p.run.path.name for p in baseline.plan("smoke")]
    assert all(n in out for n in names) and "05_model_size" in out and "estimated" in out
    assert cli.main(["plan", "--profile", "smoke", "--notebooks", "01_baseline", "--workers", "3", "--cold"]) == 0
    out = capsys.readouterr().out
    assert "as a cold build" in out and "on 3 worker processes: about" in out
    assert cli.main(["plan", "--profile", "smoke", "--workers", "0"]) == 2
    assert "--workers 0: give 1 or more processes" in capsys.readouterr().err


def test_every_notebook_is_a_declared_chapter():
    """One declaration of the chapters: the notebooks, in book order, are the registry's entries."""
    from sslsv.book import MAP_CHAPTERS, notebook_names
    from sslsv.studies.chapters import CHAPTERS

    assert list(CHAPTERS) == notebook_names()
    assert MAP_CHAPTERS == ("01_baseline", "01a_learning_curve", "01b_regime_map")


@pytest.mark.parametrize("name", [n for n in __import__("sslsv.book", fromlist=["x"]).notebook_names()])
def test_a_notebooks_parameters_cell_says_what_its_chapter_declares(name):
    """The registry's parameters and defaults are the notebook's: a test fails when they drift."""
    import ast

    import papermill

    from sslsv.book import NOTEBOOKS
    from sslsv.studies.chapters import CHAPTERS

    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    cell = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
    assert cell == dict(CHAPTERS[name].parameters), f"notebooks/{name}.py and sslsv.studies.chapters disagree"


def test_a_new_chapter_is_one_registry_entry_and_the_plan_prices_it(monkeypatch, tmp_path):
    from sslsv.config import ConfigError
    from sslsv.studies import chapters

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    seen = []

    def made_up_plan(profile, parameters, where):
        seen.append(where)
        return baseline.plan(profile, (int(parameters["seed"]),))

    declared = {"profile": "cpu", "seed": 5}
    monkeypatch.setitem(chapters.CHAPTERS, "99_made_up", chapters.Chapter("99_made_up", made_up_plan,
                                                                           parameters=declared))
    table = plan.book_plan("smoke", ["99_made_up"], {"seed": 7})
    assert list(table["chapter"]) == ["99_made_up"] and list(table["seed"]) == [7]
    assert table["minutes"].iloc[0] > 0 and not table["cached"].any()
    assert seen[0].how == "pinned" and "pinned regime" in table.attrs["regime"]  # it runs in the book's regime
    monkeypatch.setitem(chapters.CHAPTERS, "99_made_up", chapters.Chapter("99_made_up", made_up_plan, in_regime=False,
                                                                           parameters=declared))
    assert chapters.before_regime(["02_objective", "99_made_up"]) == ("99_made_up",)
    no_regime = plan.book_plan("smoke", ["99_made_up"])  # the declared default seed
    assert no_regime.attrs["regime"] == "" and seen[-1] is None and list(no_regime["seed"]) == [5]
    with pytest.raises(ConfigError, match="chapter 99_made_up has no parameter 'seeds'; its parameters: profile, seed"):
        plan.chapter_runs("99_made_up", "smoke", {"seeds": [1]})
    with pytest.raises(ConfigError, match="unknown chapter '98_nothing'; chapters: 01_baseline, "):
        plan.chapter_runs("98_nothing", "smoke")


def test_each_fine_tuning_recipe_is_priced_by_its_own_step_time():
    """Top-layer fine-tuning on cached lower states is its own kind of run: it costs less per step than the same
    recipe on waveforms, which costs less than fine-tuning every weight (the defaults until a run is measured)."""
    from sslsv.config import resolve

    ssl = {"frontend.kind": "ssl", "frontend.upstream": "init:w2v_bert:tiny", "frontend.finetune": True}
    every = resolve("cpu", ssl)
    top = resolve("cpu", {**ssl, "frontend.finetune_layers": 1})
    cached = resolve("cpu", {**ssl, "frontend.finetune_layers": 1, "frontend.cache_features": True})
    assert [plan._sv_class(c) for c in (every, top, cached)] == ["fine-tuned", "fine-tuned-top", "fine-tuned-top-cached"]
    assert len({plan._shape("sv", c) for c in (every, top, cached)}) == 3  # measured runs never price another recipe
    per_step = [plan._default_seconds("sv", c)[0] for c in (every, top, cached)]
    assert per_step[0] > per_step[1] > per_step[2] > plan._default_seconds("sv", resolve("cpu", {
        **ssl, "frontend.finetune": False, "frontend.cache_features": True}))[0]

"""Tests of the factor studies (sslsv.studies.factors and chapters 02-06) that need no training.

The studies end to end run in the smoke nbval references (tests/notebooks/02-06).
"""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from sslsv.artifacts import Run
from sslsv.config import ConfigError, OptimConfig, study_settings
from sslsv.studies import compare, data_scale, factors, language, model_size, objective, quantizer, runs, summary
from sslsv.studies.compare import difference
from sslsv.studies.factors import FactorStudy
from sslsv.studies.runs import Condition
from sslsv.systems import FBANK, RANDOM


def default_conditions(profile="smoke"):
    """The default upstream as it appears in each study."""
    return {
        "objective": next(c for c in objective.conditions() if c.system == "masked"),
        "quantizer": next(c for c in quantizer.conditions() if c.system == "kmeans_mfcc"),
        "data scale": data_scale.conditions(profile)[-1],
        "model size": next(c for c in model_size.conditions(profile) if c.system == "tiny"),
    }


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_the_default_upstream_is_one_run_in_every_study(profile):
    names = {f: Run("pretrain", runs.pretrain_config(profile, c)).path.name
             for f, c in default_conditions(profile).items()}
    assert len(set(names.values())) == 1, names
    assert set(names.values()) == {Run("pretrain", runs.pretrain_config(profile, Condition("d"))).path.name}
    svs = {f: runs.sv_config(profile, c, 0, upstream=f"run:{names[f]}") for f, c in default_conditions(profile).items()}
    assert len({Run("sv", c).path.name for c in svs.values()}) == 1


def test_references_are_the_same_runs_in_every_study():
    names = set()
    for conds in (objective.conditions(), quantizer.conditions(), data_scale.conditions("cpu"),
                  model_size.conditions("cpu")):
        refs = [c for c in conds if c.reference]
        assert [c.system for c in refs] == [FBANK, RANDOM]
        names.add(tuple(Run("sv", runs.sv_config("cpu", c, 1)).path.name for c in refs))
    assert len(names) == 1


def test_sv_config_per_kind_and_the_study_schedule():
    fb = runs.sv_config("cpu", Condition(FBANK, kind="fbank"), 2)
    assert fb.frontend.kind == "fbank" and fb.train.seed == 2
    assert fb.train.steps == study_settings("cpu").sv.steps == 150
    rnd = runs.sv_config("cpu", Condition(RANDOM, kind="random"), 0)
    assert rnd.frontend.upstream == "init:w2v_bert:tiny" and not rnd.frontend.finetune
    ssl = runs.sv_config("cpu", Condition("x"), 0, "fine-tuned", upstream="run:pretrain-abc")
    assert ssl.frontend.kind == "ssl" and ssl.frontend.finetune and ssl.frontend.upstream == "run:pretrain-abc"
    # user overrides apply on top of the study schedule
    assert runs.sv_config("cpu", Condition(FBANK, kind="fbank"), 0, overrides={"train.steps": 7}).train.steps == 7
    with pytest.raises(ValueError, match="valid modes: frozen, fine-tuned"):
        runs.sv_config("cpu", Condition("x"), 0, "thawed", upstream="run:x")
    with pytest.raises(ValueError, match="needs an upstream"):
        runs.sv_config("cpu", Condition("x"), 0)


@pytest.mark.parametrize("study, deciding", [
    (objective, {"masked", "unmasked"}), (quantizer, {"kmeans_mfcc"}), (data_scale, {"0.1", "1"}),
    (model_size, {"micro", "small"})])
def test_deciding_conditions_are_pretrained_once_per_pretraining_seed(study, deciding):
    plan = study.run.plan("cpu")
    seeds = study_settings("cpu").pretrain_seeds
    assert len(seeds) >= 2
    pre = [p for p in plan if p.kind == "pretrain" and p.mode == "upstream"]
    by_label = {}
    for p in pre:
        by_label.setdefault(p.system, []).append(p)
    assert {label for label, runs in by_label.items() if len(runs) > 1} == deciding
    for label, runs in by_label.items():
        assert [r.config.pretrain.seed for r in runs] == (list(seeds) if label in deciding else [seeds[0]])
        assert [r.pretrain_seed for r in runs] == [r.config.pretrain.seed for r in runs]
    # each pre-training seed's upstream is probed with every SV seed, and reads its own upstream
    for label in deciding:
        sv = [p for p in plan if p.kind == "sv" and p.system == label]
        assert len(sv) == len(seeds) * len(study_settings("cpu").seeds) * len(study_settings("cpu").modes)
        assert len({p.config.frontend.upstream for p in sv}) == len(seeds)
    assert all(p.pretrain_seed is None for p in plan if p.kind == "sv" and p.system in (FBANK, RANDOM))
    # the default upstream is one pair of runs for every study
    default = {r.run.path.name for r in by_label.get("masked", by_label.get("kmeans_mfcc", []))}
    if default:
        assert default == {r.run.path.name for r in objective.run.plan("cpu") if r.kind == "pretrain"
                           and r.system == "masked"}


def test_a_pretraining_seed_override_is_refused_in_favour_of_the_seed_list():
    with pytest.raises(ConfigError, match="pretrain_seeds=\\[...\\]"):
        runs.preflight("smoke", objective.conditions(), (0,), ("frozen",), None, {"pretrain.seed": 3})


def test_the_seed_spread_separates_pretraining_from_sv_seeds():
    rows = [{"system": "masked", "mode": "frozen", "pretrain_seed": p, "seed": s,
             "eer_percent": 20.0 + 4.0 * p + 0.5 * s} for p in (0, 1) for s in (0, 1, 2)]
    rows += [{"system": FBANK, "mode": "fbank", "pretrain_seed": pd.NA, "seed": s, "eer_percent": 25.0}
             for s in (0, 1, 2)]
    t = compare.seed_spread(pd.DataFrame(rows))
    assert list(t["system"]) == ["masked"]  # the references have no pre-training seed
    r = t.iloc[0]
    assert r["eer_sd_pretrain_seed"] == pytest.approx(np.std([20.5, 24.5], ddof=1))
    assert r["eer_sd_sv_seed"] == pytest.approx(0.5) and r["runs"] == 6


def test_iteration_two_clusters_the_default_run():
    cond = next(c for c in quantizer.conditions() if c.system == "kmeans_hidden")
    cfg = runs.pretrain_config("cpu", cond)
    default = Run("pretrain", runs.pretrain_config("cpu", Condition("d"))).path.name
    assert cfg.pretrain.quantizer == "kmeans_hidden" and cfg.pretrain.kmeans_source == f"run:{default}"


def test_invalid_study_values_name_the_valid_set():
    with pytest.raises(ValueError, match="valid objectives: masked, unmasked, mixed, contrastive, ctc"):
        objective.conditions(["masked", "maskd"])
    with pytest.raises(ValueError, match="valid quantizers: kmeans_mfcc"):
        quantizer.conditions(["vq"])
    with pytest.raises(ValueError, match="valid sizes: micro, tiny"):
        model_size.conditions("cpu", ["tiny", "huge"])
    with pytest.raises(ValueError, match=r"outside \(0, 1\]"):
        data_scale.conditions("cpu", [0.1, 2.0])
    with pytest.raises(ValueError, match="at least two"):
        data_scale.conditions("cpu", [0.5])


def test_data_scale_spans_tenfold_and_the_whole_pool_is_the_default():
    for profile in ("smoke", "cpu", "paper"):
        hours = study_settings(profile).data_scale_hours
        assert len(hours) >= 4 and max(hours) / min(hours) >= 10
    conds = data_scale.conditions("cpu")
    assert [c.system for c in conds[2:]] == ["0.1", "0.25", "0.5", "1"]
    assert conds[-1].pretrain == {"pretrain.hours": 0.0}
    assert study_settings("paper").model_sizes[-2:] == ("base", "large")


def test_preflight_fails_before_compute_on_a_missing_data_root(tmp_path):
    conds = objective.conditions(["masked"])
    with pytest.raises(FileNotFoundError, match="corpus.voxceleb_root='.*nowhere' does not exist"):
        runs.preflight("paper", conds, (0,), ("frozen",), {"corpus.voxceleb_root": str(tmp_path / "nowhere")})
    (tmp_path / "vox").mkdir()
    with pytest.raises(FileNotFoundError, match="has no wav/ directory"):
        runs.preflight("paper", conds, (0,), ("frozen",), {"corpus.voxceleb_root": str(tmp_path / "vox")})
    with pytest.raises(ValueError, match="seeds is empty"):
        runs.preflight("smoke", conds, (), ("frozen",))
    with pytest.raises(ValueError, match="unknown upstream mode 'thawed'"):
        runs.preflight("smoke", conds, (0,), ("thawed",))
    with pytest.raises(ConfigError, match="unknown key .train.stpes.; valid keys under .train."):
        runs.preflight("smoke", conds, (0,), ("frozen",), {"train.stpes": 3})


def test_preflight_accepts_the_paper_layout_on_stand_ins(tiny_voxceleb, tiny_librispeech):
    over = {"corpus.voxceleb_root": str(tiny_voxceleb), "corpus.librispeech_root": str(tiny_librispeech),
            "corpus.librispeech_subsets": ("train-clean-100",)}
    for conds in (objective.conditions(), model_size.conditions("paper"), data_scale.conditions("paper", None, over)):
        runs.preflight("paper", conds, (0, 1, 2), ("frozen", "fine-tuned"), over)
    with pytest.raises(FileNotFoundError, match="LibriSpeech subset 'train-other-500' not found"):
        runs.preflight("paper", objective.conditions(), (0,), ("frozen",),
                          {**over, "corpus.librispeech_subsets": ("train-clean-100", "train-other-500")})
    big = runs.pretrain_config("paper", model_size.conditions("paper")[-1], over)
    assert big.pretrain.size == "large" and big.corpus.voxceleb_root == str(tiny_voxceleb)


def test_preflight_refuses_a_missing_upstream_checkpoint():
    cond = Condition("x", pretrain={"pretrain.init": "/no/such/checkpoint"})
    with pytest.raises(FileNotFoundError, match="upstream checkpoint '/no/such/checkpoint' not found"):
        runs.preflight("smoke", [cond], (0,), ("frozen",))


# ---------------------------------------------------------------------------
# comparisons and verdicts on constructed tables
# ---------------------------------------------------------------------------


def table(values: dict, sd: float = 0.5, half_width: float = 2.0) -> pd.DataFrame:
    """Per-seed rows: three seeds around each system's mean."""
    rows = []
    for name, mean in values.items():
        for seed, off in enumerate((-sd, 0.0, sd)):
            v = mean + off
            rows.append({"system": name, "mode": "fbank" if name == FBANK else "frozen", "seed": seed,
                         "reference": name in (FBANK, RANDOM), "eer_percent": v,
                         "eer_percent_ci_low": v - half_width, "eer_percent_ci_high": v + half_width})
    return pd.DataFrame(rows)


def fake_study(factor, conds, values, per_seed: pd.DataFrame | None = None) -> FactorStudy:
    """A study of ``values`` (three seeds around each mean, :func:`table`), or of the rows ``per_seed`` given."""
    ps = table(values) if per_seed is None else per_seed
    return FactorStudy(factor=factor, profile="cpu", conditions=conds, results={}, pretrain_runs={}, per_seed=ps,
                       summary=ps.groupby(["system", "mode", "reference"], sort=False)["eer_percent"]
                       .agg(eer_percent_mean="mean", eer_percent_std="std").reset_index())


def test_difference_uses_the_seed_spread_or_the_bootstrap_intervals():
    ps = table({"a": 10.0, "b": 11.5, "c": 11.0}, sd=0.5)
    # se = sqrt(2 * 0.25 / 3) = 0.41 with 4 degrees of freedom: the 95 % half-width is 2.776 * 0.41 = 1.13
    assert difference(ps, "a", "b")["clear"] and difference(ps, "a", "b")["ci95"] == pytest.approx(1.133, abs=1e-3)
    assert not difference(ps, "a", "c")["clear"]  # 1.0 > 2 se = 0.82, but inside the 95 % interval
    one = ps[ps["seed"] == 0]
    assert not difference(one, "a", "b")["clear"]  # intervals of half-width 2 overlap
    assert difference(table({"a": 10.0, "b": 15.0}, half_width=2.0)[lambda t: t.seed == 0], "a", "b")["clear"]
    with pytest.raises(KeyError, match="no system 'z'; systems: a, b, c"):
        difference(ps, "a", "z")


def test_trend_sign():
    ps = table({"s": 20.0, "m": 15.0, "l": 10.0})
    assert compare.trend(ps, ["s", "m", "l"], [1, 2, 3])["rho"] < -0.8
    assert compare.trend(ps, ["s", "m", "l"], [3, 2, 1])["rho"] > 0.8


@pytest.mark.parametrize("masked,unmasked,random_init,expected", [
    (10.0, 14.0, 15.0, "reproduced"),
    (16.0, 12.0, 15.0, "not reproduced"),
    (10.0, 10.1, 15.0, "inconclusive"),
])
def test_objective_verdicts(masked, unmasked, random_init, expected):
    conds = objective.conditions(["masked", "unmasked"])
    study = fake_study("objective", conds, {FBANK: 12.0, RANDOM: random_init, "masked": masked, "unmasked": unmasked})
    assert objective.claim(study)["verdict"] == expected
    assert f"**{expected}**" in objective.finding(study)


@pytest.mark.parametrize("means,expected", [
    ((12.0, 12.1, 11.9, 12.0), "reproduced"),  # no quantizer effect, and pre-training beats random init (16)
    ((12.0, 15.0, 11.9, 12.0), "not reproduced"),
])
def test_quantizer_verdicts(means, expected):
    conds = quantizer.conditions()
    values = {FBANK: 14.0, RANDOM: 16.0, **{c.system: m for c, m in zip(conds[2:], means)}}
    assert quantizer.claim(fake_study("quantizer", conds, values))["verdict"] == expected
    values[RANDOM] = 12.0  # pre-training itself within the noise: "no quantizer effect" proves nothing
    if expected == "reproduced":
        assert quantizer.claim(fake_study("quantizer", conds, values))["verdict"] == "inconclusive"


def test_scale_verdicts_follow_the_trend(monkeypatch):
    conds = model_size.conditions("cpu")
    study = fake_study("model size", conds, {FBANK: 12.0, RANDOM: 15.0, "micro": 16.0, "tiny": 14.0, "small": 11.0})
    monkeypatch.setattr(model_size, "parameters", lambda s: {"micro": 1.0, "tiny": 3.5, "small": 8.0})
    assert model_size.claim(study)["verdict"] == "reproduced"
    study = fake_study("model size", conds, {FBANK: 12.0, RANDOM: 15.0, "micro": 11.0, "tiny": 14.0, "small": 16.0})
    assert model_size.claim(study)["verdict"] == "not reproduced"
    dconds = data_scale.conditions("cpu")
    study = fake_study("data scale", dconds, {FBANK: 12.0, RANDOM: 15.0, "0.1": 14.0, "0.25": 14.1,
                                              "0.5": 13.9, "1": 14.0})
    monkeypatch.setattr(data_scale, "amounts", lambda s: {"0.1": 0.1, "0.25": 0.25, "0.5": 0.5, "1": 1.0})
    assert data_scale.claim(study)["verdict"] == "inconclusive"


def test_summary_verdict_table_lists_every_claim():
    studies = {
        "objective": fake_study("objective", objective.conditions(["masked", "unmasked"]),
                                {FBANK: 12.0, RANDOM: 15.0, "masked": 10.0, "unmasked": 14.0}),
    }
    s = summary.Summary(studies=studies, claims={"objective": objective.claim(studies["objective"])})
    text = summary.verdict_table(s)
    assert "verdict: reproduced" in text and "masked − random init = -5.00" in text
    answer = summary.answer(s)
    assert "1 reproduced (objective), 0 not reproduced, 0 inconclusive" in answer
    assert "Caveat: none from the premise" in answer
    assert len(re.findall(r"[.!?](?:\s|$)", answer.replace("vs.", "vs"))) <= 3  # at most three sentences


@pytest.mark.parametrize("masked, expected", [(10.0, "Caveat: none from the premise"),
                                              (13.5, "Caveat: pre-training beats only one of the two references"),
                                              (16.0, "Caveat: pre-training clearly beats neither reference")])
def test_summary_checks_the_premise_on_the_best_upstream(masked, expected):
    conds = objective.conditions(["masked", "unmasked"])
    studies = {"objective": fake_study("objective", conds, {FBANK: 12.0, RANDOM: 15.0, "masked": masked,
                                                            "unmasked": 17.0})}
    s = summary.Summary(studies=studies, claims={"objective": objective.claim(studies["objective"])})
    p = summary.premise(s)
    assert p["system"] == "masked" and p["vs_random"]["b"] == RANDOM and p["vs_fbank"]["b"] == FBANK
    assert expected in summary.answer(s)


def test_the_premise_checks_the_surest_upstream_not_the_lowest_mean():
    # "unmasked" has the lowest mean EER but its seeds disagree (10 +- 6): its interval against random init
    # crosses zero, while "masked" (13 +- 0.5) clearly beats random init; the premise checks "masked".
    conds = objective.conditions(["masked", "unmasked"])
    ps = table({FBANK: 14.0, RANDOM: 15.0, "masked": 13.0})
    noisy = table({"unmasked": 10.0}, sd=6.0)
    ps = pd.concat([ps, noisy], ignore_index=True)
    study = fake_study("objective", conds, None, per_seed=ps)
    s = summary.Summary(studies={"objective": study}, claims={"objective": objective.claim(study)})
    assert not difference(ps, "unmasked", RANDOM, mode="frozen")["clear"]
    p = summary.premise(s)
    assert p["system"] == "masked" and p["vs_random"]["clear"]
    assert "surest to beat random init, *masked*" in summary.answer(s)


def test_layer_weights_are_read_from_the_saved_speaker_model(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    cfg = runs.sv_config("smoke", Condition(RANDOM, kind="random"), 0)
    run = Run("sv", cfg)
    run.path.mkdir(parents=True)
    logits = torch.tensor([0.0, 1.0, 2.0])
    torch.save({"config": {}, "model": {"frontend.layer_logits": logits}}, run.file("speaker_model.pt"))
    np.testing.assert_allclose(factors.layer_weights(run), torch.softmax(logits, 0).numpy(), rtol=1e-6)
    torch.save({"config": {}, "model": {"ecapa.w": logits}}, run.file("speaker_model.pt"))
    assert factors.layer_weights(run) is None


def test_analysis_cache_key_tracks_systems_settings_and_version(monkeypatch):
    from types import SimpleNamespace
    from pathlib import Path

    from sslsv.studies import explain

    def systems(name):
        return explain.AnalysisSystems(pretrain_run=None,
                                       results={"fbank": SimpleNamespace(run=SimpleNamespace(path=Path(name)))})

    a = explain.analysis_run("landscape", systems("sv-1"), 0, {"grid": np.linspace(-1, 1, 5), "hessian_iters": 8})
    same = explain.analysis_run("landscape", systems("sv-1"), 0, {"hessian_iters": 8, "grid": np.linspace(-1, 1, 5)})
    assert a.path == same.path and a.path.name.startswith("landscape-")
    assert explain.analysis_run("landscape", systems("sv-2"), 0, {"grid": np.linspace(-1, 1, 5), "hessian_iters": 8}).path != a.path
    assert explain.analysis_run("landscape", systems("sv-1"), 0, {"grid": np.linspace(-1, 1, 7), "hessian_iters": 8}).path != a.path
    monkeypatch.setattr(explain, "ANALYSIS_VERSION", 2)
    assert explain.analysis_run("landscape", systems("sv-1"), 0, {"grid": np.linspace(-1, 1, 5), "hessian_iters": 8}).path != a.path


def fake_systems(eer_ci: dict) -> "explain.AnalysisSystems":
    """Analysis systems whose only content is each system's EER and its bootstrap interval."""
    from types import SimpleNamespace

    from sslsv.studies import explain

    results = {name: SimpleNamespace(metrics={"eer_percent": (lo + hi) / 2, "eer_ci_low": lo, "eer_ci_high": hi,
                                              "min_dcf_0.01": 1.0, "min_dcf_0.05": 1.0})
               for name, (lo, hi) in eer_ci.items()}
    return explain.AnalysisSystems(pretrain_run=None, results=results)


@pytest.mark.parametrize("ssl,helps,words", [
    ((10.0, 14.0), True, "SSL fine-tuned is better than fbank"),
    ((19.0, 23.0), False, "SSL fine-tuned and fbank are indistinguishable"),
    ((26.0, 30.0), False, "SSL fine-tuned is worse than fbank"),
])
def test_analysis_verdicts_come_from_the_numbers(ssl, helps, words):
    from sslsv.studies import explain

    systems = fake_systems({"fbank": (20.0, 24.0), "ssl_fine_tuned": ssl, "random_fine_tuned": (20.0, 24.0)})
    assert explain.ssl_helps(systems) is helps
    assert words in explain.benefit_statement(systems)  # the prose names the systems by their labels
    d = explain.eer_comparison(systems, "ssl_fine_tuned", "fbank")  # the code by their keys
    with pytest.raises(KeyError, match="a display label: its key is 'ssl_fine_tuned'"):
        explain.eer_comparison(systems, "SSL fine-tuned", "fbank")
    assert d.clear is (ssl[1] < 20.0 or ssl[0] > 24.0) and (d.delta < 0) is (ssl[0] < 20.0)
    study = SimpleNamespace(phone_summary=pd.DataFrame({
        "model": ["fbank", "ssl_fine_tuned"], "trial_type": ["all", "all"], "phone_class": ["vowel", "vowel"],
        "mass_share": [0.4, 0.7], "mass_share_ci_low": [0.35, 0.6], "mass_share_ci_high": [0.45, 0.8],
        "duration_share": [0.5, 0.5]}))
    finding = explain.attribution_finding(study, systems)
    assert ("beyond fbank, is reproduced here" in finding) is helps
    assert ("is not reproduced here" in finding) is not helps
    # SSL worse than fbank but clearly better than random init: the premise fails, the init still helps
    between = fake_systems({"fbank": (20.0, 24.0), "ssl_fine_tuned": (26.0, 30.0), "random_fine_tuned": (32.0, 36.0)})
    assert explain.premise_words(between).endswith("although SSL initialisation does beat random initialisation.")
    assert "although" not in explain.premise_words(systems)
    assert "puts more weight on vowels than fbank" in finding and "- **SSL fine-tuned**:" in finding


def test_the_studies_fine_tuning_recipe_applies_to_fine_tuned_systems_only():
    import dataclasses

    from sslsv.config import profile_context
    from sslsv.studies.runs import Condition, sv_config

    p = profile_context("smoke")
    top = dataclasses.replace(p, study=dataclasses.replace(p.study, finetune_layers=1))
    ssl = Condition("masked")
    assert sv_config(top, ssl, 0, "fine-tuned", upstream="run:x").frontend.finetune_layers == 1
    assert sv_config(top, Condition("random", kind="random"), 0, "fine-tuned").frontend.finetune_layers == 1
    assert sv_config(top, ssl, 0, "frozen", upstream="run:x").frontend.finetune_layers == 0
    # unset (every weight), the config is the one of before: its run name does not move
    assert sv_config(p, ssl, 0, "fine-tuned", upstream="run:x") == sv_config(
        top, ssl, 0, "fine-tuned", {"frontend.finetune_layers": 0}, upstream="run:x")
    # chapters 07-08's fine-tuned systems follow the same recipe; the frozen and fbank ones have none
    from sslsv.studies import explain

    cfgs = explain.sv_configs(top, 0, upstream="run:x")
    assert {k: c.frontend.finetune_layers for k, c in cfgs.items()} == {
        FBANK: 0, "ssl_frozen": 0, "ssl_fine_tuned": 1, "random_fine_tuned": 1}
    assert all(c.frontend.finetune_layers == 0 for c in explain.sv_configs(p, 0, upstream="run:x").values())


def test_verdicts_read_the_fine_tuned_cells_where_they_were_run():
    """Issue 26: a study that fine-tunes is judged on its fine-tuned runs; the frozen ones stand beside them."""
    conds = objective.conditions(["masked", "unmasked"])
    frozen = table({FBANK: 12.0, RANDOM: 15.0, "masked": 10.0, "unmasked": 14.0})  # frozen: reproduced
    tuned = table({RANDOM: 11.0, "masked": 13.0, "unmasked": 9.0})  # fine-tuned: masked clearly worse
    tuned = tuned.assign(mode="fine-tuned")
    ps = pd.concat([frozen, tuned], ignore_index=True)
    study = FactorStudy(factor="objective", profile="cpu", conditions=conds, results={}, pretrain_runs={},
                        per_seed=ps, summary=ps.groupby(["system", "mode", "reference"], sort=False)["eer_percent"]
                        .agg(eer_percent_mean="mean", eer_percent_std="std").reset_index())
    assert study.mode == "fine-tuned" and fake_study("objective", conds, {FBANK: 1.0, "masked": 2.0}).mode == "frozen"
    assert objective.claim(study)["verdict"] == "not reproduced"
    assert objective.claim(study, "frozen")["verdict"] == "reproduced"
    text = objective.finding(study)
    assert "scale, fine-tuned" in text and "masked 13.00" in text and "masked 10.00" not in text  # one mode ranked
    assert compare.trend(ps, ["masked", "unmasked"], [1, 2], mode="fine-tuned")["n"] == 6


@pytest.mark.parametrize("profile, own", [("smoke", "syllables"), ("cpu", "lexicon")])
def test_the_language_study_differs_only_in_what_the_pool_says(profile, own):
    """The fifth factor: the corpus's own language is the book's default upstream (the same run as every
    chapter's); the other language reads the same pool voices (the curve's pool-only corpus), not a second
    SV corpus, and is pre-trained for the same budget."""
    from sslsv.data import pool_corpus
    from sslsv.studies import learning_curve

    conds = language.conditions(profile)
    assert [c.system for c in conds] == [FBANK, RANDOM, "lexicon", "syllables"]
    other = next(c for c in conds if c.system != own and not c.reference)
    assert dict(next(c for c in conds if c.system == own).pretrain) == {}
    assert dict(other.pretrain) == {"pretrain.pool_language": other.system}
    plan = language.run.plan(profile)
    pre = {p.system: p for p in plan if p.kind == "pretrain"}
    default = {p.run.path.name for p in objective.run.plan(profile) if p.kind == "pretrain" and p.system == "masked"}
    assert pre[own].run.path.name in default  # shared with every chapter
    cfg = pre[other.system].config
    assert cfg.corpus == pre[own].config.corpus and cfg.optim.steps == pre[own].config.optim.steps
    curve = {p.system: p.config.corpus for p in learning_curve.plan(profile)}
    assert pool_corpus(cfg.corpus, cfg.pretrain.pool_language) == curve[other.system]
    assert {p.mode for p in plan if p.kind == "sv" and p.system == other.system} == set(study_settings(profile).modes)
    with pytest.raises(ValueError, match="languages"):
        language.conditions(profile, ["klingon"])


@pytest.mark.parametrize("lexicon, syllables, expected", [(10.0, 14.0, "reproduced"), (14.0, 10.0, "not reproduced"),
                                                          (12.0, 12.1, "inconclusive")])
def test_language_verdicts(lexicon, syllables, expected):
    conds = language.conditions("cpu")
    study = fake_study("linguistic structure", conds, {FBANK: 12.0, RANDOM: 15.0, "lexicon": lexicon,
                                                       "syllables": syllables})
    c = language.claim(study)
    assert c["verdict"] == expected and c["evidence"][0]["a"] == "lexicon" and c["evidence"][0]["b"] == "syllables"


@pytest.mark.parametrize("lexicon, syllables, random_init, expected", [
    (10.0, 14.0, 15.0, "the same voices speaking a language give the better speaker upstream"),
    (14.0, 10.0, 15.0, "syllables give the better speaker upstream"),
    (12.0, 12.1, 15.0, "the benefit does not need a language"),
    (12.0, 12.1, 12.2, "cannot say whether the benefit needs context")])
def test_the_fifth_factor_says_what_its_verdict_means(lexicon, syllables, random_init, expected):
    study = fake_study("linguistic structure", language.conditions("cpu"),
                       {FBANK: 12.0, RANDOM: random_init, "lexicon": lexicon, "syllables": syllables})
    assert expected in language.meaning(language.claim(study))


def test_the_fifth_factor_is_marked_beyond_the_paper_and_kept_out_of_the_papers_count():
    studies = {"objective": fake_study("objective", objective.conditions(["masked", "unmasked"]),
                                       {FBANK: 12.0, RANDOM: 15.0, "masked": 10.0, "unmasked": 14.0}),
               "linguistic structure": fake_study("linguistic structure", language.conditions("cpu"),
                                                  {FBANK: 12.0, RANDOM: 15.0, "lexicon": 14.0, "syllables": 10.0})}
    s = summary.Summary(studies=studies, claims={f: summary.STUDIES[f].claim(st) for f, st in studies.items()})
    v = s.verdicts().set_index("factor")
    assert v.loc["linguistic structure", "source"] == "beyond the paper" and v.loc["objective", "source"] == "the paper"
    text = summary.verdict_table(s)
    assert "linguistic structure (beyond the paper): a pool with a language helps" in text
    assert "lexicon pool − syllable pool = +4.00" in text
    assert "Of the paper's 1 claims" in summary.answer(s) and "not reproduced" in v.loc["linguistic structure", "verdict"]


def test_a_pool_language_needs_the_synthetic_corpus():
    from sslsv.config import CorpusConfig
    from sslsv.data import pool_corpus

    with pytest.raises(ValueError, match=r"pretrain.pool_language = 'lexicon' needs the synthetic corpus"):
        pool_corpus(CorpusConfig(source="voxceleb1"), "lexicon")


def test_analysed_systems_at_several_seeds_are_compared_over_seeds():
    """Chapters 07-08 (issue 26): the four systems trained at two SV seeds; a comparison is a Welch interval
    over seeds, and the prose says so."""
    from sslsv.studies import explain

    seeds = {0: fake_systems({"fbank": (20.0, 24.0), "ssl_fine_tuned": (10.0, 14.0), "random_fine_tuned": (20.0, 24.0)}),
             1: fake_systems({"fbank": (21.0, 25.0), "ssl_fine_tuned": (11.0, 15.0), "random_fine_tuned": (30.0, 34.0)})}
    both = explain.SeededAnalysis((0, 1), seeds)
    t = both.metrics_table()
    assert len(t) == 6 and sorted(t["seed"].unique()) == [0, 1]
    d = explain.eer_comparison(both, "ssl_fine_tuned", "fbank")
    assert d.delta == pytest.approx(-10.0) and d.clear  # the same gap at both seeds: tight
    r = explain.eer_comparison(both, "ssl_fine_tuned", "random_fine_tuned")
    assert r.delta == pytest.approx(-14.5) and not r.clear  # 10 then 19 points: two seeds give a wide interval
    text = explain.benefit_statement(both)
    assert "means over 2 SV seeds" in text and "SSL fine-tuned is better than fbank (12.50 vs 22.50 % EER" in text
    assert both.eer_table().set_index("system").loc["fbank", "seeds"] == 2
    assert explain.analysis_seeds("cpu") == (0, 1, 2) and explain.analysis_seeds("smoke", [3]) == (3,)


def test_pooled_attributions_resample_every_seeds_trials():
    from sslsv.analysis.attribution import AttributionStudy, pool_studies

    def study(shares):
        phones = pd.DataFrame({"model": "fbank", "trial": range(len(shares)), "trial_type": "target",
                               "phone_class": "vowel", "mass_share": shares, "duration_share": 0.5,
                               "enrichment": 1.0, "energy_share": 0.5})
        bands = pd.DataFrame({"model": "fbank", "trial": range(len(shares)), "trial_type": "target", "band": "low",
                              "low_hz": 0, "high_hz": 500, "mass_share": shares, "energy_share": 0.5})
        return AttributionStudy(trials=pd.DataFrame({"model": ["fbank"] * len(shares), "trial": range(len(shares))}),
                                phone_shares=phones, band_shares=bands, phone_summary=phones, band_summary=bands,
                                phone_difference=phones, band_difference=bands)

    one = study([0.4, 0.42, 0.44])
    assert pool_studies({0: one}) is one
    pooled = pool_studies({0: one, 1: study([0.6, 0.62, 0.64])}, n_resamples=200)
    row = pooled.phone_summary.query("trial_type == 'all'").iloc[0]
    assert row["n_trials"] == 6 and row["mass_share"] == pytest.approx(0.52)
    assert row["mass_share_ci_low"] < 0.45 and row["mass_share_ci_high"] > 0.58  # the seeds' spread is in it
    assert sorted(pooled.trials["seed"].unique()) == [0, 1] and len(pooled.band_shares) == 6


def test_pooled_landscapes_give_an_interval_over_sv_seeds():
    from sslsv.analysis.landscape import LandscapeStudy, pool_studies

    def study(eig, inc):
        empty = pd.DataFrame()
        return LandscapeStudy(curves=pd.DataFrame({"model": ["a"], "seed": [0], "alpha": [0.0], "loss": [1.0]}),
                              surfaces=empty, paths=empty,
                              sharpness=pd.DataFrame({"model": ["a"], "seed": [0], "loss_increase": [inc]}),
                              hessian=pd.DataFrame({"model": ["a", "a"], "seed": [0, 1], "eigenvalue": [eig, eig]}),
                              summary=pd.DataFrame({"model": ["a"], "loss": [1.0], "n_parameters": [10],
                                                    "top_eigenvalue_mean": [eig], "loss_increase_mean": [inc]}),
                              seconds={"a": 2.0})

    pooled = pool_studies({0: study(10.0, 0.1), 1: study(14.0, 0.3)})
    s = pooled.summary.iloc[0]
    assert s["top_eigenvalue"] == pytest.approx(12.0) and s["sv_seeds"] == 2
    half = 12.706 * np.std([10.0, 14.0], ddof=1) / np.sqrt(2)  # t(0.975, 1 df)
    assert (s["top_eigenvalue_ci_low"], s["top_eigenvalue_ci_high"]) == pytest.approx((12 - half, 12 + half), rel=1e-3)
    assert len(pooled.hessian) == 4 and set(pooled.hessian["sv_seed"]) == {0, 1} and pooled.seconds == {"a": 4.0}
    assert pooled.curves is not None and len(pooled.curves) == 1  # the figures: the first seed's slices


def test_the_landscape_finding_says_when_every_system_fits_its_batches():
    """With 4 labelled speakers every system reached a training loss of ~0 (chapter 08 at cpu, 2026-12-05): the
    finding says that a flat minimum there reads a fit, not generalisation; with a loss left it does not."""
    from sslsv.analysis.landscape import LandscapeStudy, pool_studies
    from sslsv.studies import explain

    def study(loss, seed):
        models = ["fbank", "ssl_fine_tuned"]
        return LandscapeStudy(curves=pd.DataFrame(), surfaces=pd.DataFrame(), paths=pd.DataFrame(),
                              sharpness=pd.DataFrame({"model": models, "seed": 0, "loss_increase": [0.0, 0.0]}),
                              hessian=pd.DataFrame({"model": models, "seed": 0, "eigenvalue": [0.01, 5.0 + seed]}),
                              summary=pd.DataFrame({"model": models, "loss": [loss, loss], "n_parameters": [10, 20]}),
                              seconds={m: 1.0 for m in models})

    systems = explain.SeededAnalysis((0, 1, 2), {k: fake_systems({"fbank": (20.0 + k, 24.0 + k),
                                                                   "ssl_fine_tuned": (10.0 + k, 14.0 + k),
                                                                   "random_fine_tuned": (30.0, 34.0)})
                                                 for k in range(3)})
    fit = explain.landscape_finding(pool_studies({k: study(0.0004, k) for k in range(3)}), systems)
    assert "at 3 SV seeds." in fit and "Every system fits its training batches (loss 0.000 at most)" in fit
    rest = explain.landscape_finding(pool_studies({k: study(0.8, k) for k in range(3)}), systems)
    assert "fits its training batches" not in rest and "two seeds give wide" not in rest


def test_the_analysis_chapters_plan_every_analysis_seed():
    from sslsv.studies import chapters

    where = SimpleNamespace(sv_overrides=lambda profile, o=None: dict(o or {}),
                            pretrain_overrides=lambda o=None: dict(o or {}))
    planned = chapters.chapter("07_attribution").plan("cpu", {"seeds": None}, where)
    sv = [p for p in planned if p.kind == "sv"]
    assert sorted({p.seed for p in sv}) == [0, 1, 2] and len(sv) == 12  # the map's three seeds
    assert len({p.run.path.name for p in planned if p.kind == "pretrain"}) == 1  # one upstream, both seeds

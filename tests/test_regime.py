"""The regime map: its grid and plan, its cells and their intervals, the rule that picks the regime,
and the two levers it adds (a labelled subset for SV, SV-domain audio in the pre-training pool)."""

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sslsv.artifacts import Run
from sslsv.config import ConfigError, PretrainExperimentConfig, resolve, study_settings
from sslsv.errors import UserError
from sslsv.statistics import welch
from sslsv.settings import DOMAINS
from sslsv.studies import compare, findings, regime
from sslsv.systems import FBANK, RANDOM, SSL
from test_sv import TINY


def test_the_grid_spans_what_the_issue_asks_and_names_bad_values():
    for profile in ("smoke", "cpu", "paper"):
        g = regime.grid(profile)
        assert max(g.speakers) / min(g.speakers) >= 8 and max(g.budgets) / min(g.budgets) >= 6
    assert regime.grid("cpu").default_budget in regime.grid("cpu").budgets
    with pytest.raises(ConfigError, match=r"span 2.0x; the map needs >= 8x"):
        regime.grid("cpu", speakers=(10, 15, 20))
    with pytest.raises(ConfigError, match="at least 3 distinct pre-training budgets"):
        regime.grid("cpu", budgets=(100, 1000))
    with pytest.raises(ConfigError, match=r"asks for 400 labelled speakers, but the corpus has 100"):
        regime.grid("cpu", speakers=(12, 50, 400))
    with pytest.raises(ConfigError, match="unknown domain 'mixed'"):
        regime.grid("cpu", domains=("mixed",))
    with pytest.raises(ConfigError, match="leave out 'out-of-domain', where the default upstream"):
        regime.grid("smoke", domains=(regime.IN,))
    with pytest.raises(ConfigError, match=r"domains \['out-of-domain', 'out-of-domain'\] repeat a pool"):
        regime.grid("smoke", domains=(regime.OUT, regime.OUT))


def test_the_profile_names_the_map_s_pools():
    # cpu: the out-of-domain pool only (the rule's fine-tuned cells are there); smoke and paper keep both
    assert regime.grid("cpu").domains == (regime.OUT,) and regime.grid("paper").domains == (regime.OUT, regime.IN)
    assert {p.domain for p in regime.plan("cpu") if p.kind == "pretrain"} == {regime.OUT}
    import sslsv.config as config

    bad = {**config.PROFILES["smoke"], "study.regime.domains": ("in-domain",)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(config.PROFILES, "smoke", bad)
        with pytest.raises(ConfigError,
                           match=r"profile 'smoke': study.regime.domains \['in-domain'\] leave out 'out-of-domain'"):
            config.study_settings("smoke")


def test_the_plan_covers_every_cell_once():
    items = regime.plan("cpu", domains=DOMAINS)  # both pools (the cpu profile maps one)
    g = regime.grid("cpu", domains=DOMAINS)
    pre = [p for p in items if p.kind == "pretrain"]
    assert len(pre) == len(g.budgets) * 2 and len({p.run.path.name for p in items}) == len(items)
    assert {p.config.pretrain.in_domain for p in pre} == {False, True}
    assert sorted({p.config.optim.steps for p in pre}) == list(g.budgets)
    sv = [p for p in items if p.kind == "sv"]
    assert {p.config.train.labelled_speakers for p in sv} == set(g.speakers)
    tuned = {(p.system, p.budget, p.domain) for p in sv if p.mode == "fine-tuned"}
    assert tuned == {(RANDOM, None, None), (SSL, g.default_budget, regime.OUT)}  # the default upstream and random
    assert {p.shown_label for p in sv if p.mode == "fine-tuned" and p.role == "cell"} == {
        "random init", f"SSL {g.default_budget} updates, out-of-domain"}  # labels made when shown
    check = [p for p in sv if p.role == "convergence"]  # a typed role; the label says it only when shown
    assert {p.system for p in check} == {FBANK, RANDOM}
    assert {p.shown_label for p in check} == {"fbank (2x steps)", "random init (2x steps)"}
    # at every amount of labelled speakers, twice the protocol's steps
    # (and the fine-tuned random init where the map fine-tunes)
    assert len(check) == 2 * len(g.seeds) * len(g.speakers) + len(g.seeds) * len(g.finetune_speakers)
    assert {p.config.train.labelled_speakers for p in check} == set(g.speakers)
    for p in check:
        assert p.config.train.steps == 2 * regime.protocol("cpu", p.config.train.labelled_speakers)["train.steps"]
    sv = [p for p in sv if p not in check]
    for p in sv:  # the protocol: each amount of labelled speakers trains for its own number of steps
        assert p.config.train.steps == study_settings("cpu").regime.steps_for(p.config.train.labelled_speakers, 0) or \
            not study_settings("cpu").regime.sv_steps
    frozen = [p for p in sv if p.mode != "fine-tuned"]
    assert len(frozen) // len(g.speakers) // len(g.seeds) == 1 + 1 + len(pre)  # fbank, random, each upstream
    # the default upstream and random init are fine-tuned where the profile says (cpu: in every row)
    assert g.finetune_speakers == g.speakers
    assert all(p.config.frontend.finetune_layers == 1 for p in sv if p.mode == "fine-tuned")  # the top layer
    # on the lower layers' states, cached once per training utterance as a frozen upstream's are
    assert all(p.config.frontend.cache_features for p in sv if p.system != FBANK)
    assert {p.config.train.labelled_speakers for p in sv if p.mode == "fine-tuned"} == set(g.finetune_speakers)
    assert len(sv) - len(frozen) == 2 * len(g.finetune_speakers) * len(g.seeds)
    # the SSL systems read the upstream runs the plan pre-trains
    assert {p.config.frontend.upstream for p in sv if p.system not in (FBANK, RANDOM)} == \
        {f"run:{p.run.path.name}" for p in pre}


def fake_map(helps_below: int = 20, seeds=(0, 1, 2), converged_by=(-0.5, 0.3), check_at=(64,),
             unconverged_at=()) -> regime.RegimeMap:
    """SSL beats random init by 6 points with few labelled speakers and by nothing with many."""
    rows = []
    for n in (4, 16, 64):
        base = 30.0 - 4 * np.log2(n / 4)
        systems = [(FBANK, "fbank", 0, "", base - 1), (RANDOM, "frozen", 0, "", base + 2),
                   (SSL, "frozen", 10, "out-of-domain", base + 2 - (6 if n < helps_below else 0)),
                   (SSL, "frozen", 60, "out-of-domain", base + 2 - (3 if n < helps_below else 0))]
        for system, mode, budget, domain, mean in systems:
            for i, s in enumerate(seeds):
                e = float(mean + (0.5 * (i - 1) if len(seeds) > 1 else 0.0) + 0.2 * (i == 0))
                rows.append({"system": system, "role": "cell", "mode": mode, "labelled_speakers": n, "budget": budget,
                             "steps": 150,
                             "domain": domain, "seed": s, "eer_percent": e, "eer_ci_low": e - 2, "eer_ci_high": e + 2})
    for n in check_at:
        for system, mode, moved in ((FBANK, "fbank", converged_by[0]), (RANDOM, "frozen", converged_by[1])):
            ref = [r for r in rows if r["system"] == system and r["labelled_speakers"] == n]
            moved = moved - (3.0 if n in unconverged_at else 0.0)
            rows += [{**r, "role": "convergence", "steps": 300, "eer_percent": r["eer_percent"] + moved}
                     for r in ref]
    return regime.RegimeMap("smoke", None, pd.DataFrame(rows), {})


def test_cells_give_both_differences_with_welch_intervals():
    m = fake_map()
    cells = m.cells
    assert len(cells) == 3 * 2 and set(cells.columns) >= {"vs_random", "vs_random_low", "vs_fbank_high"}
    one = cells[(cells["labelled_speakers"] == 4) & (cells["budget"] == 10)].iloc[0]
    per = m.per_seed[m.per_seed["labelled_speakers"] == 4]
    ssl = per[per["budget"] == 10]["eer_percent"].to_numpy()
    rnd = per[per["system"] == RANDOM]["eer_percent"].to_numpy()
    w = welch(ssl, rnd)  # an independent computation: delta +- t(0.975, df) * se
    from scipy.stats import t
    half = t.ppf(0.975, w.df) * w.se
    assert one["vs_random"] == pytest.approx(w.delta)
    assert (one["vs_random_low"], one["vs_random_high"]) == pytest.approx((w.delta - half, w.delta + half))
    assert one["vs_random_clear"] and one["vs_random"] < -4
    many = cells[cells["labelled_speakers"] == 64]
    assert not many["vs_random_clear"].any()


def test_the_rule_picks_the_clearest_margin_or_says_there_is_none():
    m = fake_map()
    chosen = compare.choose_regime(m.cells)
    # 10 updates beat random init by more (6 points against 3), but only the map's largest budget (the curve's
    # learned budget) is an upstream that has learned its task: the factor studies pre-train for it
    assert chosen["labelled_speakers"] == 4 and chosen["budget"] == 60
    assert compare.choose_regime(m.cells, budget=10)["budget"] == 10
    assert regime.regime_of(m.cells).budget == 60
    text = findings.regime_finding(m)
    assert "clearly beats the same network from random weights in" in text and "The rule picks 4 labelled" in text
    none = fake_map(helps_below=0)
    assert compare.choose_regime(none.cells) is None
    assert "finds no regime where pre-training helps" in findings.regime_finding(none)
    # one seed: the intervals come from the runs' bootstrap intervals (conservative), not from seeds
    single = fake_map(seeds=(0,)).cells
    row = single.iloc[0]
    assert row["vs_random_low"] < row["vs_random"] < row["vs_random_high"]
    assert row["vs_random_high"] - row["vs_random_low"] == pytest.approx(8.0)


def test_run_computes_exactly_the_plan(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    computed = []
    metrics = {"eer_percent": 30.0, "eer_ci_low": 28.0, "eer_ci_high": 32.0, "min_dcf_0.01": 1.0, "min_dcf_0.05": 1.0}

    def fake_pretrain(cfg, progress=True):
        computed.append(Run("pretrain", cfg).path.name)
        return Run("pretrain", cfg)

    def fake_sv(cfg, progress=True):
        computed.append(Run("sv", cfg).path.name)
        return SimpleNamespace(run=Run("sv", cfg), metrics=metrics)

    monkeypatch.setattr("sslsv.pretrain.train.pretrain", fake_pretrain)
    monkeypatch.setattr("sslsv.sv.pipeline.run_sv", fake_sv)
    m = regime.run("smoke", progress=False)
    assert computed == [p.run.path.name for p in regime.plan("smoke")]
    assert set(m.per_seed["labelled_speakers"]) == {2, 6, 16}
    assert set(m.per_seed.loc[m.per_seed["system"] == SSL, "domain"]) == {"in-domain", "out-of-domain"}


def test_labelled_speakers_train_the_backend_on_a_subset(tmp_path, monkeypatch):
    from sslsv.sv import pipeline

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    result = pipeline.run_sv(resolve("smoke", {**TINY, "train.labelled_speakers": 2}), progress=False)
    assert "4 speakers (2 labelled)" in result.run.log_file.read_text()
    head = pipeline.torch_load(result.run.checkpoint_file)["model"]
    assert [v.shape[0] for k, v in head.items() if k.startswith("head.")] == [2]  # a 2-speaker classifier
    for n, match in ((5, "train.labelled_speakers=5, but the corpus has 4 training speakers"),
                     (1, "needs at least 2 speakers")):
        cfg = resolve("smoke", {**TINY, "train.labelled_speakers": n})
        with pytest.raises(ConfigError, match=match):
            pipeline.run_sv(cfg, progress=False)
        assert not pipeline.sv_run(cfg).path.exists()  # refused before the run directory exists


def test_an_in_domain_pool_adds_the_sv_training_audio_only(tmp_path, monkeypatch):
    from sslsv.data import load_sv_corpus
    from sslsv.pretrain.data import load_pool
    from sslsv.pretrain.train import pretrain_inputs

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    corpus_keys = {k: v for k, v in TINY.items() if k.startswith("corpus.")}
    out = resolve("smoke", corpus_keys, base=PretrainExperimentConfig())
    inn = resolve("smoke", {**corpus_keys, "pretrain.in_domain": True}, base=PretrainExperimentConfig())
    a, b = load_pool(out, progress=False), load_pool(inn, progress=False)
    corpus = load_sv_corpus(out.corpus, progress=False)
    added = b.utterances[len(a.utterances):]
    assert [u.key for u in b.utterances[:len(a.utterances)]] == [u.key for u in a.utterances]
    assert {u.path for u in added} == {u.path for u in corpus.train}
    test_speakers = {k.split("/")[0] for k in corpus.test_keys}
    assert not test_speakers & {u.speaker for u in added}
    assert all(u.key.startswith("sv:") and u.transcript and u.alignment for u in added)
    assert b.hours == pytest.approx(a.hours + sum(u.seconds for u in added) / 3600)
    assert "in_domain" in pretrain_inputs(inn, progress=False) and "in_domain" not in pretrain_inputs(out, progress=False)


def test_an_in_domain_upstream_pretrains_end_to_end(tmp_path, monkeypatch):
    """Masked prediction on the pool plus the SV training audio: a real run, loss finite, cached after."""
    import json

    from sslsv.pretrain.train import pretrain

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    sets = {**{k: v for k, v in TINY.items() if k.startswith("corpus.")}, "pretrain.in_domain": True,
            "pretrain.size": "micro", "pretrain.n_clusters": 8, "pretrain.crop_seconds": 0.5,
            "optim.steps": 3, "optim.batch_size": 2, "optim.warmup_steps": 1, "optim.checkpoint_every": 3}
    cfg = resolve("smoke", sets, base=PretrainExperimentConfig())
    run = pretrain(cfg, progress=False)
    diag = json.loads(run.file("diagnostics.json").read_text())
    assert diag["steps"] == 3 and np.isfinite(diag["loss_last"])
    assert (run.path / "upstream").is_dir() and run.reusable(json.loads((run.path / "MANIFEST.json").read_text())["inputs"])


def test_the_heatmap_shows_every_cell_with_its_interval():
    import matplotlib

    matplotlib.use("Agg")
    from sslsv.plots import plot_regime_map

    cells = fake_map().cells
    fig = plot_regime_map(cells)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 6 and all("[" in t for t in texts)
    bold = [t.get_fontweight() == "bold" for t in fig.axes[0].texts]
    assert sum(bold) == int(cells["vs_random_clear"].sum())
    with pytest.raises(ValueError, match="no 'fine-tuned' cells"):
        plot_regime_map(cells, mode="fine-tuned")


def test_the_convergence_check_compares_the_protocol_with_twice_as_long():
    conv = fake_map().convergence
    assert list(conv["system"]) == [FBANK, RANDOM] and conv["converged"].all()
    assert conv["longer_minus_protocol"].tolist() == pytest.approx([-0.5, 0.3])
    assert "The probe is converged" in findings.regime_finding(fake_map())
    early = fake_map(converged_by=(-3.0, 0.2))
    assert early.convergence["converged"].tolist() == [False, True]
    # one-sided: a probe that does worse when trained longer (overfitting) has stopped learning
    assert fake_map(converged_by=(2.5, 0.3)).convergence["converged"].all()
    # decided by the interval, not the point: 1.5 points better, but the interval (3 seeds, sd 0.5) reaches back
    # across -1, is noise; 3 points better, the whole interval beyond -1, is a probe cut short
    noisy = fake_map(converged_by=(-1.5, 0.2)).convergence
    assert noisy["longer_minus_protocol"].iloc[0] < -1 < noisy["longer_ci_high"].iloc[0] and noisy["converged"].all()
    assert early.convergence["longer_ci_high"].iloc[0] < -1
    assert "**The probe is not converged** with 64 labelled" in findings.regime_finding(early) and "a missing benefit there is not a finding" in \
        findings.regime_finding(early)
    unconverged_none = fake_map(helps_below=0, converged_by=(-3.0, 0.2))
    assert "this map cannot say that there is none" in findings.regime_finding(unconverged_none)
    assert "finds no regime where pre-training helps;" not in findings.regime_finding(unconverged_none)
    assert len(fake_map().cells) == 6  # the longer runs are not cells of the map


def test_the_check_runs_per_row_and_the_rule_skips_an_unconverged_row():
    m = fake_map(check_at=(4, 16, 64), unconverged_at=(4,))
    conv = m.convergence
    assert list(conv["labelled_speakers"]) == [4, 4, 16, 16, 64, 64]
    assert conv.set_index(["labelled_speakers", "system"])["converged"].to_dict() == {
        (4, FBANK): False, (4, RANDOM): False, (16, FBANK): True, (16, RANDOM): True, (64, FBANK): True,
        (64, RANDOM): True}
    cells = m.cells
    assert not cells[cells["labelled_speakers"] == 4]["probe_converged"].any()
    assert cells[cells["labelled_speakers"] != 4]["probe_converged"].all()
    chosen = compare.choose_regime(cells)  # 4 speakers helps most, but its probe had not converged
    assert chosen["labelled_speakers"] == 16 and chosen["budget"] == 60
    assert "**The probe is not converged**" in findings.regime_finding(m)
    # the evidence of the convergence sentence is the rows that moved: 16 and 64 held, and are not listed
    moved = findings.regime_finding(m).split("**The probe is not converged**")[1].split(", so those cells")[0]
    assert "with 4 speakers" in moved and "with 16 speakers" not in moved and "with 64 speakers" not in moved


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?:\s|$)", text))


def test_the_answer_is_three_sentences_the_rules_cell_with_its_intervals_and_the_caveat():
    m = fake_map(check_at=(4, 16, 64), unconverged_at=(4,))
    upstreams = pd.DataFrame({"system": [SSL, SSL], "budget": [10, 60], "domain": ["out-of-domain"] * 2,
                              "masked_acc": [0.025, 0.084], "chance": [0.019, 0.019]})
    answer = findings.regime_answer(m, upstreams)
    assert sentences(answer) == 3, answer
    assert answer.startswith("**No**: in no converged row does the learned upstream (60 updates), frozen, clearly "
                             "beat both random init and fbank; closest to fbank, with 16 labelled speakers")
    chosen = compare.choose_regime(m.cells)
    assert (f"The rule picks 16 labelled speakers and SSL 60 updates, out-of-domain, where the frozen upstream is "
            f"{chosen['vs_random']:+.2f} EER points from random init [{chosen['vs_random_low']:+.2f}, "
            f"{chosen['vs_random_high']:+.2f}]") in answer
    assert ("Caveat: with 64 labelled speakers fbank is clearly better (+3.00 EER points); the probe is not "
            "converged with 4 labelled speakers, so the rule passes those rows over; the picked upstream predicts "
            "masked targets with a held-out accuracy of 0.084 against a chance of 0.019.") in answer, answer
    # converged, pre-training helps in every row, no upstream table: two sentences, no caveat
    clean = findings.regime_answer(fake_map(helps_below=100))
    assert sentences(clean) == 2 and "Caveat" not in clean
    # where the benefit stops, fbank clearly better, is the first caveat
    assert "Caveat: with 64 labelled speakers fbank is clearly better (+3.00 EER points)." in \
        findings.regime_answer(fake_map())
    none = findings.regime_answer(fake_map(helps_below=0))
    assert "the rule picks no regime" in none and sentences(none) == 3 and "fbank is clearly better" in none


def test_the_books_regime_is_the_rules_cell_else_the_closest_one_and_carries_its_overrides():
    where = regime.regime_of(fake_map().cells)
    assert (where.labelled_speakers, where.budget, where.domain, where.how) == (4, 60, regime.OUT, "rule")
    assert where.margin < -2.5 and "clearly beats random init" in where.describe()
    sv = where.sv_overrides("cpu", {"train.lr": 0.01})
    assert sv["train.labelled_speakers"] == 4 and sv["train.lr"] == 0.01
    assert sv["train.steps"] == study_settings("cpu").regime.steps_for(4, 0)
    assert where.pretrain_overrides() == {"optim.steps": 60, "pretrain.in_domain": False}
    assert where.pretrain_overrides({"optim.lr": 0.1})["optim.lr"] == 0.1
    none = regime.regime_of(fake_map(helps_below=0).cells)
    assert none.how == "closest" and "no cell of the map shows a clear benefit" in none.describe()


def unpin(monkeypatch, profile: str = "smoke") -> None:
    """Let the rule choose at ``profile`` (smoke pins chapters 02-08 to one cell)."""
    from sslsv.profiles import PROFILES

    for key in [k for k in PROFILES[profile] if k.startswith("study.regime.pinned.")]:
        monkeypatch.delitem(PROFILES[profile], key)


def test_the_smoke_profile_pins_its_regime_and_a_bad_pin_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    where = regime.book_regime("smoke")  # computes nothing: no map is needed
    assert (where.labelled_speakers, where.budget, where.domain, where.how) == (16, 30, regime.OUT, "pinned")
    assert not (tmp_path / "runs").exists() and "pinned regime" in where.describe()
    from sslsv.profiles import PROFILES

    from sslsv.config import study_settings
    from sslsv.settings import PinnedRegime

    assert study_settings("smoke").regime.pinned == PinnedRegime(16, 30, "out-of-domain")  # a typed record
    bad = {"domain": ("nearby", r"unknown pool 'nearby' \(key 'study.regime.pinned.domain'\); valid pools: "
                                r"out-of-domain, in-domain"),
           "budget": (0, r"study.regime.pinned needs speakers >= 1 and budget >= 1 \(or neither set\); it has "
                         r"speakers=16, budget=0"),
           "speakers": ("16", r"key 'study.regime.pinned.speakers' expects int, got '16'")}
    for key, (value, message) in bad.items():
        with monkeypatch.context() as m:
            m.setitem(PROFILES["smoke"], f"study.regime.pinned.{key}", value)
            with pytest.raises(ConfigError, match=message):
                study_settings("smoke")  # refused when the profile is read, before any chapter
            with pytest.raises(ConfigError, match="study.regime.pinned"):
                regime.book_regime("smoke")
    with monkeypatch.context() as m:
        m.setitem(PROFILES["smoke"], "study.regime.pinned", (16, 30, "in-domain"))  # the old tuple form
        with pytest.raises(ConfigError, match="key 'study.regime.pinned' is a section"):
            study_settings("smoke")


def test_chapters_run_in_a_provisional_regime_until_the_map_is_computed(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    unpin(monkeypatch)
    where = regime.book_regime("smoke", compute=False)
    g = regime.grid("smoke")
    assert where.how == "provisional" and where.labelled_speakers == min(g.speakers)
    assert where.budget == g.default_budget and "has not been computed yet" in where.describe()
    assert not regime.map_is_complete("smoke")


def test_the_protocol_steps_grow_with_the_labelled_speakers(monkeypatch):
    s = study_settings("cpu").regime
    steps = [regime.protocol("cpu", n)["train.steps"] for n in s.speakers]
    assert steps == list(s.sv_steps) and steps == sorted(steps)
    assert regime.protocol("cpu", 12, {"train.steps": 7})["train.steps"] == 7  # an override wins
    from sslsv.config import PROFILES

    monkeypatch.setitem(PROFILES, "cpu", {**PROFILES["cpu"], "study.regime.sv_steps": (5,)})
    with pytest.raises(ConfigError, match="one value per amount"):
        study_settings("cpu")


def test_the_books_regime_is_kept_until_a_run_of_the_map_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    unpin(monkeypatch)
    items = regime.plan("smoke")
    for item in items:  # a finished map (its numbers come from fake_map below)
        item.run.start()
        item.run.finish({"eer_percent": 30.0})
    calls = []

    def fake_run(profile, *args, **kwargs):
        calls.append(str(profile))
        return fake_map()

    monkeypatch.setattr(regime, "run", fake_run)
    first = regime.book_regime("smoke")
    assert calls == ["smoke"] and (first.labelled_speakers, first.how) == (4, "rule")
    assert regime.book_regime("smoke") == first and regime.book_regime("smoke", compute=False) == first
    assert calls == ["smoke"]  # served from the regime's own run, without reading the map again
    items[5].run.finish({"eer_percent": 31.0})  # a run of the map changed since the rule read it
    assert regime.book_regime("smoke") == first and calls == ["smoke", "smoke"]


def test_the_references_detection_costs_come_from_their_scores_and_say_why_mindcf_saturates(tmp_path):
    from sklearn.metrics import roc_curve

    from sslsv.metrics import min_dcf

    rng = np.random.default_rng(0)
    rows, runs, path = [], {}, {}
    for n, sep in ((4, 0.6), (16, 3.0)):
        for system, mode in ((FBANK, "fbank"), (RANDOM, "frozen"), (SSL, "frozen")):
            for seed in (0, 1):
                y = np.repeat([1, 0], 500)
                s = rng.normal(size=1000) + sep * y
                run = Run("sv", {"n": n, "system": system, "seed": seed}, root=tmp_path)
                run.path.mkdir(parents=True)
                run.metrics_file.write_text('{"n_trials": 1000}')
                pd.DataFrame({"label": y, "score": s}).to_csv(run.file("scores.tsv"), sep="\t")
                name = run.path.name
                runs[name], path[f"{n}{system[:3]}{seed}"] = run, run.file("scores.tsv")
                rows.append({"system": system, "mode": mode, "labelled_speakers": n, "seed": seed,
                             "eer_percent": 10.0 * seed, "run": name})
    costs = regime.detection_costs(pd.DataFrame(rows), runs)
    longer = [{**r, "role": "convergence", "eer_percent": 99.0} for r in rows]  # not the protocol's: left out
    m = regime.RegimeMap("smoke", None, pd.DataFrame([{**r, "role": "cell"} for r in rows] + longer), {}, runs)
    pd.testing.assert_frame_equal(m.detection_costs(), costs)  # what chapter 01b shows
    assert costs[["labelled_speakers", "system"]].values.tolist() == [[4, FBANK], [4, RANDOM], [16, FBANK], [16, RANDOM]]
    t = pd.read_csv(path["4fba0"], sep="\t")
    fpr, tpr, _ = roc_curve(t["label"], t["score"])  # an independent reference for the miss rate
    miss0 = 100 * (1 - tpr[fpr <= 0.01].max())
    t1 = pd.read_csv(path["4fba1"], sep="\t")
    fpr1, tpr1, _ = roc_curve(t1["label"], t1["score"])
    assert costs.loc[0, "miss_at_1pct_fa"] == pytest.approx((miss0 + 100 * (1 - tpr1[fpr1 <= 0.01].max())) / 2)
    assert costs.loc[0, "min_dcf_0.1"] == pytest.approx(np.mean([min_dcf(x["score"], x["label"], 0.1) for x in (t, t1)]))
    assert costs.loc[0, "eer_percent"] == 5.0
    weak = costs[costs["labelled_speakers"] == 4]
    assert (weak["min_dcf_0.01"] > 0.9).all() and (costs[costs["labelled_speakers"] == 16]["min_dcf_0.01"] < 0.9).all()
    assert "is saturated" in findings.detection_cost_note(weak) and "P_miss + 99 P_fa < 1" in findings.detection_cost_note(weak)
    assert "carries some information" in findings.detection_cost_note(costs)
    assert "even minDCF(0.1) is saturated" in findings.detection_cost_note(weak)
    path["4fba0"].write_text("not\ta table\n\"")  # read through sv.pipeline.load_result, which says what to do
    with pytest.raises(UserError, match=f"{path['4fba0'].parent.name}/scores.tsv: unreadable trial scores"):
        regime.detection_costs(pd.DataFrame(rows), runs)
    with pytest.raises(ConfigError, match="is not a run of the map"):
        regime.detection_costs(pd.DataFrame(rows), {})


def test_the_learning_note_says_when_the_chosen_upstream_learned_little_of_its_task():
    t = pd.DataFrame({"system": [SSL, SSL], "budget": [80, 500], "domain": ["in-domain"] * 2,
                      "masked_acc": [0.025, 0.084], "chance": [0.019, 0.019], "loss_last": [4.55, 4.0],
                      "loss_uniform": [4.6, 4.6], "best_vs_random": [-5.2, -4.9]})
    chosen = {"system": SSL, "budget": 80, "domain": "in-domain"}
    note = findings.learning_note(t, chosen)
    assert note.startswith("The upstream the rule picks, SSL 80 updates, in-domain, reaches") and \
        "SSL 500 updates, in-domain reaches 0.084" in note
    assert "0.025 against a majority-class chance of 0.019" in note and "-4.90 EER points against -5.20" in note
    assert "learned little of its task" in note and "what 80 updates give" in note
    assert "learned little" not in findings.learning_note(t.assign(masked_acc=[0.07, 0.084]), chosen)
    assert findings.learning_note(t, {**chosen, "budget": 500}).endswith("the most trained upstream of the map.")
    assert findings.learning_note(t, None) == ""


def test_a_clear_cell_is_one_whose_shown_interval_excludes_zero():
    """Three seeds a side: 2 standard errors would call this difference clear, its 95 % Welch interval does not."""
    rows = []
    for system, mode, budget, values in ((FBANK, "fbank", 0, [20.0, 21.0, 22.0]), (RANDOM, "frozen", 0, [30.0, 33.0, 36.0]),
                                         (SSL, "frozen", 10, [26.0, 27.0, 28.0])):
        rows += [{"system": system, "role": "cell", "mode": mode, "labelled_speakers": 8, "budget": budget, "steps": 100,
                  "domain": "out-of-domain" if budget else "", "seed": s, "eer_percent": v, "eer_ci_low": v - 2,
                  "eer_ci_high": v + 2} for s, v in enumerate(values)]
    cell = compare.cells(pd.DataFrame(rows)).iloc[0]
    w = welch([26.0, 27.0, 28.0], [30.0, 33.0, 36.0])
    assert abs(w.delta) > 2 * w.se  # clear by two standard errors ...
    assert cell["vs_random_low"] < 0 < cell["vs_random_high"] and not cell["vs_random_clear"]  # ... not by its interval
    assert cell["vs_fbank_low"] > 0 and cell["vs_fbank_clear"]
    assert compare.choose_regime(compare.cells(pd.DataFrame(rows))) is None


def test_the_convergence_check_covers_the_fine_tuned_reference():
    """A fine-tuned random init that clearly improves when trained twice as long leaves its row unconverged,
    even where both frozen references held."""
    rows = []
    for system, mode, moved in ((FBANK, "fbank", 0.2), (RANDOM, "frozen", -0.3), (RANDOM, "fine-tuned", -6.0)):
        for role, shift, steps in (("cell", 0.0, 150), ("convergence", moved, 300)):
            for i in range(3):
                e = 30.0 + shift + 0.3 * (i - 1)
                rows.append({"system": system, "role": role, "mode": mode, "labelled_speakers": 4, "steps": steps,
                             "budget": 0, "domain": "", "seed": i, "eer_percent": e, "eer_ci_low": e - 2,
                             "eer_ci_high": e + 2})
    conv = compare.convergence(pd.DataFrame(rows)).set_index(["system", "mode"])
    assert conv.loc[(RANDOM, "fine-tuned"), "longer_minus_protocol"] == pytest.approx(-6.0)
    assert not conv.loc[(RANDOM, "fine-tuned"), "converged"]
    assert conv.loc[(FBANK, "fbank"), "converged"] and conv.loc[(RANDOM, "frozen"), "converged"]


def test_the_map_checks_the_fine_tuned_reference_where_it_fine_tunes():
    items = [i for i in regime.plan("smoke") if i.role == "convergence"]
    tuned = [i for i in items if i.mode == "fine-tuned"]
    g = regime.grid("smoke")
    assert {i.config.train.labelled_speakers for i in tuned} == set(g.finetune_speakers)
    assert all(i.system == RANDOM and i.config.frontend.finetune for i in tuned)
    base = {i.config.train.labelled_speakers: i.config.train.steps for i in regime.plan("smoke")
            if i.role == "cell" and i.mode == "fine-tuned" and i.system == RANDOM}
    assert all(i.config.train.steps == 2 * base[i.config.train.labelled_speakers] for i in tuned)


def test_the_answer_says_yes_where_the_learned_upstream_beats_both_references_in_a_converged_row():
    m = fake_map(check_at=(4, 16, 64), unconverged_at=(4,))
    ps = m.per_seed
    at = (ps["system"] == SSL) & (ps["budget"] == 60)
    ps.loc[at & (ps["labelled_speakers"] == 4), "eer_percent"] -= 6  # beats both, but its row is not converged
    assert findings.regime_answer(m).startswith("**No**")
    ps.loc[at & (ps["labelled_speakers"] == 16), "eer_percent"] -= 4  # beats both in a converged row
    answer = findings.regime_answer(m)
    assert answer.startswith("**Yes**: the learned upstream (60 updates), frozen, clearly beats both random init "
                             "and fbank with 16 labelled speakers of the converged rows; its largest margin over "
                             "fbank is -4.00 EER points"), answer
    assert sentences(answer) == 3


def test_the_maps_rule_reads_the_fine_tuned_cells_where_the_studies_fine_tune():
    """At cpu the factor studies fine-tune (issue 26), so the rule picks among the fine-tuned cells: here the
    frozen upstream helps most with 4 labelled speakers, the fine-tuned one only with 16."""
    frozen = fake_map().per_seed
    tuned = []
    for n, helps in ((4, 0.0), (16, 5.0), (64, 0.0)):
        for system, budget, domain, mean in ((RANDOM, 0, "", 20.0), (SSL, 60, "out-of-domain", 20.0 - helps)):
            for i in range(3):
                e = mean + 0.5 * (i - 1)
                tuned.append({"system": system, "role": "cell", "mode": "fine-tuned", "labelled_speakers": n,
                              "budget": budget, "steps": 150, "domain": domain, "seed": i, "eer_percent": e,
                              "eer_ci_low": e - 2, "eer_ci_high": e + 2})
    per_seed = pd.concat([frozen, pd.DataFrame(tuned)], ignore_index=True)
    m = regime.RegimeMap("cpu", None, per_seed, {})
    assert study_settings("cpu").modes == ("frozen", "fine-tuned") and m.mode == "fine-tuned"
    assert m.chosen()["labelled_speakers"] == 16 and m.chosen()["mode"] == "fine-tuned"
    assert regime.RegimeMap("smoke", None, per_seed, {}).mode == "frozen"  # smoke probes frozen only
    assert regime.RegimeMap("cpu", None, frozen, {}).mode == "frozen"  # a map without fine-tuned cells
    assert "the fine-tuned upstream is -5.00 EER points from random init" in findings.regime_answer(m)

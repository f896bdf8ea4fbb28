"""Chapter 01a's study: one curve per corpus, the rule's budget, the summary and the finding."""

from __future__ import annotations

import pandas as pd
import pytest

from sslsv.config import ConfigError
from sslsv.studies import learning_curve
from sslsv.studies.chapters import chapter


def test_the_curves_differ_only_in_what_the_pool_says():
    syllables, lexicon = (item.config for item in learning_curve.plan("smoke"))
    assert (syllables.corpus.language, lexicon.corpus.language) == ("syllables", "lexicon")
    assert syllables.pretrain == lexicon.pretrain and syllables.optim == lexicon.optim
    assert syllables.pretrain.eval_every == 10 and syllables.optim.steps == 40
    # the pool is the profile's: only the SV part of the corpus is shrunk
    from sslsv.config import resolve

    profile = resolve("smoke").corpus
    assert (syllables.corpus.pretrain_hours, syllables.corpus.pretrain_speakers, syllables.corpus.seed) == \
        (profile.pretrain_hours, profile.pretrain_speakers, profile.seed)
    assert chapter("01a_learning_curve").runs("smoke") == learning_curve.plan("smoke")


def test_a_curve_differs_only_by_corpus_keys():
    with pytest.raises(ConfigError, match="'optim.steps' is not a corpus key"):
        learning_curve.plan("smoke", {"short": {"optim.steps": 10}})
    with pytest.raises(ConfigError, match="corpora is empty"):
        learning_curve.plan("smoke", {})
    with pytest.raises(ConfigError, match="chapter 01a_learning_curve has no parameter 'steps'"):
        chapter("01a_learning_curve").runs("smoke", {"steps": 10})


def _study(curves: dict[str, list[float]], steps=(0, 100, 200, 400, 800), profile="smoke",
           frames: float = 0.0) -> learning_curve.CurveStudy:
    from sslsv.pretrain.curve import choose_budget, learned_budget

    frames = [pd.DataFrame({"corpus": label, "step": list(steps), "train_acc": acc, "train_loss": 4.0,
                            "held_out_masked_acc": acc, "held_out_masked_loss": 4.0, "chance_majority": 0.02,
                            "chance_context_free": 0.05, "held_out_masked_frames": frames})
              for label, acc in curves.items()]
    return learning_curve.CurveStudy(profile, {}, pd.concat(frames, ignore_index=True),
                                     {k: learned_budget(list(steps), v, 0.05, 1.5) for k, v in curves.items()}, 1,
                                     {k: choose_budget(list(steps), v, floor=0.05) for k, v in curves.items()}, 1.5)


def test_summary_and_finding_say_which_curve_flattened_and_by_how_much_context_helps():
    study = _study({"flat": [0.02, 0.05, 0.092, 0.095, 0.10], "climbing": [0.02, 0.03, 0.04, 0.06, 0.09]})
    s = learning_curve.summary(study).set_index("corpus")
    # the rule: from where held-out accuracy stays >= 1.5 x the context-free ceiling (0.075)
    assert s.loc["flat", "budget_rule"] == "200" and s.loc["climbing", "budget_rule"] == "800"
    assert s.loc["flat", "x_context_free"] == pytest.approx(2.0)
    assert s.loc["climbing", "gain_per_1k_updates"] == pytest.approx(0.075)  # (0.09 - 0.06) / 400 * 1000
    text = learning_curve.finding(study)
    assert "**200** updates on the flat pool, **800** updates on the climbing pool" in text
    assert "A plateau (within 10 % of the accuracy at 4x the budget) shows at 200 updates on the flat pool." in text
    assert "it has learned to use context" in text and "it uses some context" not in text
    assert "The flat pool ends +0.010 above the climbing pool." in text
    table = learning_curve.at_steps(study)
    assert list(table.columns) == ["held_out_acc_flat", "held_out_acc_climbing"]
    assert list(table.index) == [0, 100, 200, 400, 800]


def test_the_chapter_runs_at_smoke_and_reads_its_curves(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    study = learning_curve.run("smoke", {"syllables": {}}, {"optim.steps": 20}, progress=False)
    assert list(study.curves["step"]) == [0, 10, 20]
    row = learning_curve.summary(study).iloc[0]
    assert 0 < row["chance_context_free"] < 1 and 0 <= row["held_out_acc"] <= 1
    assert study.runs["syllables"].file("curve.csv").exists()


def test_a_curve_that_reaches_1000_updates_is_set_beside_the_quoted_real_speech_pilot():
    study = _study({"a": [0.02, 0.05, 0.08, 0.1]}, steps=(0, 250, 500, 1000))
    text = learning_curve.finding(study)
    assert "real read speech" in text and "reached 0.109 held-out at 1,000 updates" in text
    assert "at 1,000 updates of this longer schedule: a 0.100." in text
    assert "real read speech" not in learning_curve.finding(_study({"a": [0.02, 0.05, 0.08, 0.1, 0.1]}))


def test_a_flat_end_places_the_budget_and_the_maps_budgets_are_read_off_the_curve():
    steps = (0, 100, 200, 500, 1000, 1500, 2000)
    study = _study({"lexicon": [0.005, 0.02, 0.025, 0.065, 0.09, 0.118, 0.12]}, steps=steps, profile="cpu",
                   frames=2000.0)
    text = learning_curve.finding(study)
    row = learning_curve.summary(study).iloc[0]
    assert row["held_out_frames"] == 2000 and row["acc_se"] == pytest.approx((0.12 * 0.88 / 2000) ** 0.5)
    assert "**1,000** updates on the lexicon pool" in text
    assert "No curve has reached a plateau (within 10 % of the accuracy at 4x the budget) by 2,000 updates" in text
    # the cpu map's budgets (its corpus speaks the lexicon language): 1/8, 1/3 and all of the rule's 1,000 updates (125, 333, 1,000); 1,000 is recorded
    assert learning_curve._study_budgets(study) == (125, 333, 1000)
    assert ("The regime map's pre-training budgets of 1,000 updates sit at 1.80x the context-free ceiling on the "
            "lexicon pool") in text


def _with_ratio(ratio: float, fractions=(1 / 6, 1 / 2, 1.0)):
    import dataclasses

    from sslsv.config import profile_context

    p = profile_context("smoke")
    study = dataclasses.replace(p.study, curve=dataclasses.replace(p.study.curve, learned_ratio=ratio),
                                regime=dataclasses.replace(p.study.regime, budget_fractions=tuple(fractions)))
    return dataclasses.replace(p, study=study)


def test_the_books_budget_is_provisional_then_read_off_the_curve_of_the_profiles_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    typed = learning_curve.book_budget("smoke")
    assert (typed.how, typed.updates, typed.corpus) == ("provisional", 30, "syllables")  # no curve yet: the plan's guess
    assert "provisional" in typed.describe()
    # a line no curve reaches: the profile's typed budget, said so
    never = learning_curve.book_budget(_with_ratio(50.0), compute=True, progress=False)
    assert (never.how, never.updates) == ("typed", 30) and "never settles above 50x" in never.describe()
    # a line the curve crosses: the rule's budget, and the map's budgets are its fractions
    low = _with_ratio(0.01, (0.1, 0.5, 1.0))
    got = learning_curve.book_budget(low)  # served from the finished curve, nothing computed
    rows = learning_curve._rows(learning_curve.curve_run(low).run)
    assert got.how == "rule" and got.updates == int(rows["step"][rows["step"] > 0].min())
    assert learning_curve.book_budgets(low) == tuple(sorted({max(1, round(got.updates * f)) for f in (0.1, 0.5, 1)}))
    from sslsv.studies import regime

    assert regime.grid(low).default_budget == got.updates


def test_the_book_computes_the_curve_before_the_map(tmp_path, monkeypatch):
    from sslsv import book
    from sslsv.studies import workers

    waves = []
    monkeypatch.setattr(workers, "compute_runs", lambda items, *a, desc="", **k: waves.append((desc, list(items))))
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    book.precompute("smoke", ["01b_regime_map"], {}, 1, progress=False)
    assert waves[0][0] == "book: the learning curves" and waves[1][0] == "book: the regime map"
    assert [i.run.path.name for i in waves[0][1]] == [learning_curve.curve_run("smoke").run.path.name]


def test_the_answer_is_three_sentences_with_the_number_that_decides_it():
    study = _study({"flat": [0.02, 0.05, 0.092, 0.095, 0.10], "climbing": [0.02, 0.03, 0.04, 0.06, 0.07]})
    text = learning_curve.answer(study, "flat")
    assert text.startswith("**Yes**: on the book's flat pool the default upstream predicts masked frames from their "
                           "context after **200** updates")
    assert "(held-out masked accuracy 0.092, 1.84x the context-free ceiling of 0.050)" in text
    assert text.endswith("At 800 updates it reaches 0.100 (2.00x), still climbing (+0.012 per 1,000 updates over "
                         "the last quarter).")
    assert text.count(". ") + 1 <= 3
    # 0.07 at the end is under the 1.5 x 0.05 line: no budget
    assert learning_curve.answer(study, "climbing").startswith(
        "**Not within the curve**: on the book's climbing pool the default upstream's held-out masked accuracy "
        "never settles at or above 1.5x the context-free ceiling (0.050) within 800 updates")
    with pytest.raises(KeyError, match="no curve of the 'lexicon' pool; curves: flat, climbing"):
        learning_curve.answer(study, "lexicon")

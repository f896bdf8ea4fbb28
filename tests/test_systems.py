"""Systems are keys; display labels are made only when drawn (sslsv.systems).

A display label used where a key belongs fails loudly, naming the keys; relabelling a system changes what a
reader sees and nothing the studies compute.
"""

import re

import pandas as pd
import pytest

from sslsv import systems, tables
from sslsv.studies import compare, data_scale, model_size, objective, quantizer, runs, summary
from sslsv.studies.compare import difference
from sslsv.studies.factors import FactorStudy
from sslsv.systems import FBANK, RANDOM, SSL, shown, shown_frame


def per_seed(values: dict) -> pd.DataFrame:
    rows = [{"system": name, "mode": "fbank" if name == FBANK else "frozen", "seed": seed,
             "reference": name in (FBANK, RANDOM), "eer_percent": mean + off,
             "eer_percent_ci_low": mean + off - 2.0, "eer_percent_ci_high": mean + off + 2.0}
            for name, mean in values.items() for seed, off in enumerate((-0.5, 0.0, 0.5))]
    return pd.DataFrame(rows)


def objective_study() -> FactorStudy:
    ps = per_seed({FBANK: 12.0, RANDOM: 15.0, "masked": 10.0, "unmasked": 14.0, "ctc": 11.0})
    conds = objective.conditions(["masked", "unmasked", "ctc"])
    return FactorStudy(factor="objective", profile="cpu", conditions=conds, results={}, pretrain_runs={}, per_seed=ps,
                       summary=ps.groupby(["system", "mode", "reference"], sort=False)["eer_percent"]
                       .agg(eer_percent_mean="mean", eer_percent_std="std").reset_index())


def test_the_conditions_are_keyed_by_the_factors_values():
    assert [c.system for c in objective.conditions()] == [FBANK, RANDOM, *objective.STUDIED_OBJECTIVES]
    assert [c.system for c in quantizer.conditions()] == [FBANK, RANDOM, *quantizer.STUDIED_QUANTIZERS]
    assert [c.system for c in model_size.conditions("cpu")][2:] == ["micro", "tiny", "small"]
    assert [c.system for c in data_scale.conditions("smoke")][2:] == ["0.002", "0.005", "0.01", "0.02"]
    assert [shown(c.system) for c in data_scale.conditions("smoke")][2:] == ["7 s", "18 s", "36 s", "72 s"]


@pytest.mark.parametrize("label, key", [("random init", RANDOM), ("CTC (supervised)", "ctc")])
def test_a_display_label_is_not_a_key(label, key):
    ps = objective_study().per_seed
    message = (f"no system '{label}' (a display label: its key is '{key}'); "
               "systems: fbank, random, masked, unmasked, ctc")
    with pytest.raises(KeyError, match=re.escape(message)):
        difference(ps, label, "masked", mode="frozen")
    with pytest.raises(KeyError, match="systems: fbank, random"):
        compare.trend(ps, ["masked", label], [1, 2])
    assert difference(ps, key, "masked", mode="frozen")["a"] == key


def test_a_deciding_system_named_by_its_label_is_refused():
    with pytest.raises(KeyError, match="its key is 'kmeans_mfcc'"):
        runs.factor_plan("smoke", quantizer.conditions(), (0,), ("frozen",), deciding=["k-means MFCC"])


def test_relabelling_a_system_changes_what_is_shown_and_nothing_computed(monkeypatch):
    study = objective_study()
    claim = objective.claim(study)
    shown_table = tables.table(study.summary, digits=2)
    verdicts = summary.Summary({"objective": study}, {"objective": claim}).verdicts()
    monkeypatch.setitem(systems.NAMES, RANDOM, "scratch")
    monkeypatch.setitem(systems.NAMES, "ctc", "CTC on phones")
    study = objective_study()
    assert objective.claim(study) == claim  # the verdict and its evidence (keys, numbers)
    assert set(study.per_seed["system"]) == {FBANK, RANDOM, "masked", "unmasked", "ctc"}
    relabelled = tables.table(study.summary, digits=2)
    assert relabelled.data == shown_table.data  # the references' data: keys
    assert "scratch" in relabelled.html and "CTC on phones" in relabelled.text and "random init" not in relabelled.text
    again = summary.Summary({"objective": study}, {"objective": claim}).verdicts()
    assert again["verdict"].equals(verdicts["verdict"])
    assert "masked − scratch" in again["evidence (EER points)"].iloc[0]
    assert "CTC on phones" in objective.finding(study)


def test_a_table_shows_labels_and_keeps_keys_as_data():
    frame = pd.DataFrame({"system": [RANDOM, SSL, SSL], "budget": [0, 40, 240],
                          "domain": ["", "in-domain", "out-of-domain"],
                          "role": ["convergence", "cell", "cell"], "eer_percent": [30.0, 20.0, 25.0]})
    t = tables.table(frame, digits=2)
    assert [row[0] for row in t.data[0]["rows"]] == [RANDOM, SSL, SSL]
    for label in ("random init (2x steps)", "SSL 40 updates, in-domain", "SSL 240 updates, out-of-domain"):
        assert label in t.text and label in t.html
    assert list(shown_frame(frame)["system"]) == ["random init (2x steps)", "SSL 40 updates, in-domain",
                                                  "SSL 240 updates, out-of-domain"]
    assert "(reference)" in t.html  # the reference row is found by its key


def test_every_key_has_one_label():
    keys = [*systems.REFERENCES, *objective.STUDIED_OBJECTIVES, *quantizer.STUDIED_QUANTIZERS]
    labels = [shown(k) for k in keys]
    assert len(set(labels)) == len(labels)
    assert all(shown(k) == k or shown(k) not in keys for k in keys)  # no label is another system's key

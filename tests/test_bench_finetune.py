"""benchmarks/bench_finetune_protocol.py: each recipe is the run its label says, on the book's default upstream."""

from __future__ import annotations

import pytest

from benchmark import load_benchmark


def test_every_recipe_is_a_run_of_its_own_and_trains_the_layers_its_label_names(tmp_path, monkeypatch):
    from sslsv.artifacts import Run
    from sslsv.profiles import PROFILES

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    monkeypatch.setitem(PROFILES["smoke"], "study.finetune_layers", 1)  # the studies' recipe, as at cpu
    bench = load_benchmark("bench_finetune_protocol")
    recipes = dict(bench.configs("smoke", 4, 0))
    assert list(recipes) == [label for label, _, _ in bench.RECIPES]
    assert len({Run("sv", cfg).path.name for cfg in recipes.values()}) == len(recipes)
    layers = {label: (cfg.frontend.finetune, cfg.frontend.finetune_layers, cfg.frontend.cache_features)
              for label, cfg in recipes.items()}
    # the studies fine-tune the top layer (study.finetune_layers): "every weight" must not inherit it
    assert layers["SSL fine-tuned, every weight"] == (True, 0, False)
    assert layers["random init, fine-tuned (every weight)"] == (True, 0, False)
    assert layers["SSL fine-tuned, frozen for the first quarter"][:2] == (True, 0)
    assert recipes["SSL fine-tuned, frozen for the first quarter"].frontend.freeze_steps > 0
    assert layers["SSL fine-tuned, top layer"] == (True, 1, False)
    assert layers["SSL fine-tuned, top layer on cached lower states"] == (True, 1, True)
    # the SSL recipes read the book's default upstream, at the regime's budget
    upstream = f"run:{Run('pretrain', bench.default_upstream('smoke')).path.name}"
    assert {cfg.frontend.upstream for label, cfg in recipes.items() if label.startswith("SSL")} == {upstream}


def test_two_recipes_that_resolve_to_one_run_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    bench = load_benchmark("bench_finetune_protocol")
    twice = (*bench.RECIPES, ("SSL fine-tuned, top layer again", "ssl",
                              {"frontend.finetune": True, "frontend.finetune_layers": 1}))
    monkeypatch.setattr(bench, "RECIPES", twice)
    with pytest.raises(ValueError, match="'SSL fine-tuned, top layer' and 'SSL fine-tuned, top layer again' resolve"):
        bench.configs("smoke", 4, 0)

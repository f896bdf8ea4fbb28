"""Fine-tuning protocols side by side: the EER and the training cost of each recipe, on one SV seed.

Issue 26 asks for fine-tuning as the SV mode of the factor studies, at a cost the book can pay. This
script trains the book's default upstream (the map's default at the budget and pool of the regime the
map's rule chose, :func:`default_upstream`; computed if missing) under each recipe of :data:`RECIPES` in
one cell of the map (``--speakers`` labelled speakers, with the map's SV protocol for that amount,
:func:`sslsv.studies.regime.protocol`), beside the references of that
cell (fbank, and the same network from random weights fine-tuned), and prints one table: EER with its
95 % bootstrap interval over trials, the single-core minutes of SV training (``train_seconds`` of each
run, measured on one thread), and the speed-up against fine-tuning every weight.

Every run is an ordinary cached SV run (``$SSLSV_ARTIFACTS``): a second call prints the table at once,
and ``--only`` splits the recipes between processes (one core each)::

    OMP_NUM_THREADS=1 python benchmarks/bench_finetune_protocol.py --speakers 36 --only 0 1 4 7 &
    OMP_NUM_THREADS=1 python benchmarks/bench_finetune_protocol.py --speakers 36 --only 2 3 5 6
    OMP_NUM_THREADS=1 python benchmarks/bench_finetune_protocol.py --speakers 36   # the table, from the cache

One seed says what a recipe costs and roughly where its EER lands; whether two recipes differ needs the
intervals (a difference inside both intervals is not one).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

# (label, kind of front-end, SV overrides): the references first, then the recipes on the pre-trained upstream
RECIPES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("fbank", "fbank", {}),
    # ``frontend.finetune_layers`` is said in every fine-tuned recipe: the studies' own (sslsv.studies.runs.sv_config,
    # ``study.finetune_layers``) would otherwise fill it in, and "every weight" would train the top layer only
    ("random init, fine-tuned (every weight)", "random", {"frontend.finetune": True, "frontend.finetune_layers": 0}),
    ("SSL frozen (cached hidden states)", "ssl", {"frontend.finetune": False, "frontend.cache_features": True}),
    ("SSL fine-tuned, every weight", "ssl", {"frontend.finetune": True, "frontend.finetune_layers": 0}),
    ("SSL fine-tuned, frozen for the first quarter", "ssl",
     {"frontend.finetune": True, "frontend.finetune_layers": 0, "frontend.freeze_steps": -4}),
    ("SSL fine-tuned, top 2 of 4 layers", "ssl", {"frontend.finetune": True, "frontend.finetune_layers": 2}),
    ("SSL fine-tuned, top layer", "ssl", {"frontend.finetune": True, "frontend.finetune_layers": 1}),
    # the lower layers' states computed once per training utterance (frozen, they do not change), the top
    # layer run on crops of them: the studies' recipe (sslsv.studies.runs.sv_config)
    ("SSL fine-tuned, top layer on cached lower states", "ssl",
     {"frontend.finetune": True, "frontend.finetune_layers": 1, "frontend.cache_features": True}),
)


def default_upstream(profile: str) -> Any:
    """The pre-training config of the book's default upstream: the map's default at the budget and pool of the
    regime the map's rule chose (:func:`sslsv.studies.regime.book_regime`; provisional while the map is not
    computed)."""
    from sslsv.config import profile_context
    from sslsv.studies.regime import book_regime
    from sslsv.studies.runs import Condition, pretrain_config

    ctx = profile_context(profile)
    return pretrain_config(ctx, Condition("default"),
                           pretrain_overrides=book_regime(ctx, compute=False).pretrain_overrides())


def configs(profile: str, speakers: int, seed: int, upstream: str | None = None) -> list[tuple[str, Any]]:
    """``(label, SVConfig)`` of every recipe in the map's cell of ``speakers`` labelled speakers, on ``upstream``
    (``run:<name>``; default: the book's default upstream, :func:`default_upstream`).  Two recipes that come
    out as one run are refused: the table would show one run twice under two names."""
    from sslsv.artifacts import Run
    from sslsv.config import override, profile_context
    from sslsv.studies.regime import protocol
    from sslsv.studies.runs import Condition, sv_config

    ctx = profile_context(profile)
    sets = protocol(ctx, speakers)
    upstream = upstream or f"run:{Run('pretrain', default_upstream(ctx)).path.name}"
    out = []
    for label, kind, recipe in RECIPES:
        recipe = dict(recipe)
        if recipe.get("frontend.freeze_steps", 0) < 0:  # a fraction of the protocol's steps
            recipe["frontend.freeze_steps"] = sets["train.steps"] // -recipe["frontend.freeze_steps"]
        mode = "fine-tuned" if recipe.get("frontend.finetune") else "frozen"
        cfg = sv_config(ctx, Condition(label, kind=kind), seed, mode, sets, upstream=upstream if kind == "ssl" else "")
        cache = recipe.pop("frontend.cache_features", None)
        cfg = override(cfg, {**recipe, **({"frontend.cache_features": cache} if cache is not None else
                                         {"frontend.cache_features": False} if kind != "fbank" else {})})
        out.append((label, cfg))
    names = [Run("sv", cfg).path.name for _, cfg in out]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ValueError(f"recipes {out[names.index(name)][0]!r} and {out[i][0]!r} resolve to one run ({name})")
    return out


def main() -> None:
    import pandas as pd
    import torch

    from sslsv.artifacts import Run
    from sslsv.pretrain import pretrain
    from sslsv.sv.pipeline import run_sv

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--speakers", type=int, default=36, help="labelled speakers: the map's cell")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="SV seeds (a mean table follows with several)")
    ap.add_argument("--upstream", help="run:<pre-training run name> to fine-tune (default: the book's default "
                                         "upstream, computed if missing)")
    ap.add_argument("--only", type=int, nargs="+", help="train only these recipes (indices into RECIPES)")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    upstream, about = args.upstream, args.upstream
    if upstream is None:  # the book's default upstream, pre-trained here if missing, resolved once
        book = default_upstream(args.profile)
        pretrain(book, progress=args.progress)
        upstream, about = f"run:{Run('pretrain', book).path.name}", f"the book default {book.optim.steps} updates"
    rows = []
    for seed, i, (label, cfg) in ((seed, i, item) for seed in args.seeds
                                  for i, item in enumerate(configs(args.profile, args.speakers, seed, upstream))):
        if args.only is not None and i not in args.only:
            continue
        t = time.perf_counter()
        r = run_sv(cfg, progress=args.progress)
        m = r.metrics
        rows.append({"recipe": label, "seed": seed, "eer_percent": round(m["eer_percent"], 2),
                     "eer_ci": f"[{m['eer_ci_low']:.2f}, {m['eer_ci_high']:.2f}]",
                     "train_min": round(m["train_seconds"] / 60, 2), "steps": cfg.train.steps,
                     "served_s": round(time.perf_counter() - t, 1), "run": r.run.path.name})
    table = pd.DataFrame(rows)
    full = table.loc[table["recipe"] == "SSL fine-tuned, every weight", "train_min"]
    if len(full):
        table["speed-up vs every weight"] = (float(full.mean()) / table["train_min"]).round(2)
    print(f"{args.profile} profile, {args.speakers} labelled speakers, SV seeds {args.seeds}, upstream "
          f"{about} "
          f"(the map's protocol: {rows[0]['steps'] if rows else '?'} steps); train_min: single-core minutes of SV "
          "training as the run recorded them")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(table.to_string(index=False))
        if len(args.seeds) > 1 and len(table):
            print("\nmean over SV seeds (sd: across seeds):")
            means = table.groupby("recipe", sort=False).agg(seeds=("seed", "size"), eer_mean=("eer_percent", "mean"),
                                                            eer_sd=("eer_percent", "std"), train_min=("train_min", "mean"))
            print(means.round(2).to_string())


if __name__ == "__main__":
    main()

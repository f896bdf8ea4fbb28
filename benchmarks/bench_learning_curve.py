"""Learning curves of the pre-training task: held-out masked accuracy against updates and single-core minutes.

Pre-trains the ``cpu`` profile's default upstream (tiny w2v-BERT, k-means of
MFCC targets) on the ``cpu`` profile's pool with ``pretrain.eval_every``
and ``pretrain.held_out_share`` set, on one thread, and prints the run's
``curve.csv`` with the process CPU minutes at each row, the two chances,
the budget :func:`sslsv.pretrain.curve.choose_budget` picks, and held-out
masked accuracy per single-core minute.  The runs are chapter 01a's
(:func:`sslsv.studies.learning_curve.curve_config`: the corpus's
speaker-verification part shrunk, the pool that of the ``cpu`` profile), so
a case at the chapter's length and settings is the chapter's cached run.

Each ``--set`` is an override of the run (``corpus.language=lexicon``,
``pretrain.n_clusters=50``, ``optim.steps=1000`` ...); several configurations
run one after the other with ``--case NAME key=value ...`` repeated::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_learning_curve.py \\
        --case syllables --case lexicon corpus.language=lexicon --steps 1000 --eval-every 50

Artifacts go under ``$SSLSV_ARTIFACTS`` (set it to a scratch directory).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run_case(name: str, sets: dict[str, Any], steps: int, eval_every: int, held_out: float,
             progress: bool, profile: str = "cpu") -> dict[str, Any]:
    import torch

    from sslsv.data.synthetic import generate_corpus
    from sslsv.pretrain import pretrain
    from sslsv.pretrain.curve import choose_budget, read_curve
    from sslsv.studies.learning_curve import curve_config

    torch.set_num_threads(1)
    # chapter 01a's run of the profile (its pool-only corpus), at this length and with these overrides
    cfg = curve_config(profile, overrides={"optim.steps": steps, "pretrain.eval_every": eval_every,
                                         "pretrain.held_out_share": held_out, **sets})
    t = time.perf_counter()
    generate_corpus(cfg.corpus, progress=progress)
    corpus_s = time.perf_counter() - t
    cpu_at: dict[int, float] = {}
    cpu0 = _cpu_seconds()

    def on_step(step: int, row: dict) -> None:
        if step % eval_every == 0:
            cpu_at[step] = _cpu_seconds() - cpu0

    wall = time.perf_counter()
    from sslsv.artifacts import Run

    cached = Run("pretrain", cfg).is_complete
    run = pretrain(cfg, progress=progress, on_step=on_step)
    wall = time.perf_counter() - wall
    rows = read_curve(run.file("curve.csv"))
    acc = [r["held_out_masked_acc"] for r in rows]
    cpu_min = (_cpu_seconds() - cpu0) / 60
    if cached:  # computed earlier: the CPU time of that computation is not known here
        cpu_at, cpu_min = {}, float("nan")
    return {"case": name, "sets": sets, "run": run.path.name, "rows": rows, "cpu_min_at": cpu_at, "cached": cached,
            "cpu_min": cpu_min, "wall_min": wall / 60, "corpus_wall_min": corpus_s / 60,
            "budget_rule": choose_budget([r["step"] for r in rows], acc,
                                         floor=float(rows[0].get("chance_context_free", 0.0))),
            "acc_per_cpu_min": acc[-1] / cpu_min if cpu_min > 0 else float("nan")}


def compare_cases(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per case, the first case the reference ("before"): held-out masked accuracy at the last
    budget every case recorded and at its own end, the end as a multiple of the case's context-free
    ceiling (cases with other targets, e.g. fewer clusters, compare by it, not by raw accuracy),
    single-core minutes, accuracy per single-core minute and its ratio to the first case's."""
    common = set.intersection(*({r["step"] for r in res["rows"]} for res in results))
    at = max(common) if common else None
    out = []
    for res in results:
        by_step = {r["step"]: r["held_out_masked_acc"] for r in res["rows"]}
        out.append({"case": res["case"], "sets": " ".join(f"{k}={v}" for k, v in res["sets"].items()) or "-",
                    "updates": max(by_step), "acc_at_common": by_step.get(at, float("nan")) if at else float("nan"),
                    "acc_end": by_step[max(by_step)], "cpu_min": res["cpu_min"],
                    # a multiple of the case's own context-free ceiling: comparable across target sets
                    "x_context_free": by_step[max(by_step)] / cf if (cf := float(res["rows"][0].get(
                        "chance_context_free", float("nan")))) > 0 else float("nan"),
                    "acc_per_cpu_min": res["acc_per_cpu_min"]})
    first = out[0]["acc_per_cpu_min"]
    for row in out:
        row["vs_first"] = row["acc_per_cpu_min"] / first if first == first and first > 0 else float("nan")
    return out


def print_comparison(results: list[dict[str, Any]]) -> None:
    rows = compare_cases(results)
    common = set.intersection(*({r["step"] for r in res["rows"]} for res in results))
    print(f"\n== side by side (the first case is the reference; 'at {max(common) if common else '-'}' is the last "
          "budget every case recorded)")
    print(f"{'case':<22}{'updates':>8}{'acc at':>8}{'acc end':>9}{'x cf':>7}{'cpu min':>9}{'acc/cpu-min':>13}"
          f"{'vs first':>10}  sets")
    for r in rows:
        print(f"{r['case']:<22}{r['updates']:>8}{r['acc_at_common']:>8.3f}{r['acc_end']:>9.3f}"
              f"{r['x_context_free']:>7.2f}{r['cpu_min']:>9.1f}"
              f"{r['acc_per_cpu_min']:>13.4f}{r['vs_first']:>10.2f}  {r['sets']}")


def print_case(res: dict[str, Any]) -> None:
    rows = res["rows"]
    print(f"\n== {res['case']} {res['sets']} ({res['run']})")
    print(f"chances on the held-out masked frames: majority {rows[0].get('chance_majority', float('nan')):.3f}, "
          f"context-free {rows[0].get('chance_context_free', float('nan')):.3f}")
    print(f"{'updates':>8}{'cpu min':>9}{'train acc':>11}{'train loss':>12}{'held-out acc':>14}{'held-out loss':>15}")
    for r in rows:
        cpu = res["cpu_min_at"].get(r["step"], res["cpu_min_at"].get(str(r["step"]), 0.0)) / 60
        print(f"{r['step']:>8}{cpu:>9.2f}{r['train_acc']:>11.3f}{r['train_loss']:>12.3f}"
              f"{r['held_out_masked_acc']:>14.3f}{r.get('held_out_masked_loss', float('nan')):>15.3f}")
    print(f"budget rule (within 10 % of 4x, above the context-free ceiling): {res['budget_rule']}; "
          f"{res['cpu_min']:.1f} single-core min "
          f"({res['wall_min']:.1f} min wall); held-out masked accuracy per single-core minute "
          f"{res['acc_per_cpu_min']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), default=[],
                    help="a configuration: its name, then overrides")
    ap.add_argument("--compare", nargs="+", metavar="JSON", default=[],
                    help="results written earlier with --json: shown side by side before this run's cases")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--held-out", type=float, default=0.05, help="pretrain.held_out_share")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--profile", default="cpu", help="the profile whose pool and default upstream are used")
    args = ap.parse_args()
    if not args.case and not args.compare:
        ap.error("give at least one --case or --compare")
    earlier = [res for path in args.compare for res in json.loads(open(path).read())]
    for res in earlier:  # JSON keys are strings
        res["rows"] = [{**r, "step": int(r["step"])} for r in res["rows"]]
    mine: list[dict[str, Any]] = []
    for name, *sets in args.case:
        overrides = dict((k, _value(v)) for k, v in (s.split("=", 1) for s in sets))
        mine.append(run_case(name, overrides, args.steps, args.eval_every, args.held_out, args.progress,
                             args.profile))
        print_case(mine[-1])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(mine, f, indent=1)
    results = earlier + mine
    if len(results) > 1:
        print_comparison(results)


if __name__ == "__main__":
    main()

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
             progress: bool) -> dict[str, Any]:
    import torch

    from sslsv.data.synthetic import generate_corpus
    from sslsv.pretrain import pretrain
    from sslsv.pretrain.curve import choose_budget, read_curve
    from sslsv.studies.learning_curve import curve_config

    torch.set_num_threads(1)
    # chapter 01a's run of the cpu profile (its pool-only corpus), at this length and with these overrides
    cfg = curve_config("cpu", overrides={"optim.steps": steps, "pretrain.eval_every": eval_every,
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
    run = pretrain(cfg, progress=progress, on_step=on_step)
    wall = time.perf_counter() - wall
    rows = read_curve(run.file("curve.csv"))
    acc = [r["held_out_masked_acc"] for r in rows]
    cpu_min = (_cpu_seconds() - cpu0) / 60
    return {"case": name, "sets": sets, "run": run.path.name, "rows": rows, "cpu_min_at": cpu_at,
            "cpu_min": cpu_min, "wall_min": wall / 60, "corpus_wall_min": corpus_s / 60,
            "budget_rule": choose_budget([r["step"] for r in rows], acc),
            "acc_per_cpu_min": acc[-1] / cpu_min if cpu_min > 0 else float("nan")}


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
    print(f"budget rule (within 10 % of 4x): {res['budget_rule']}; {res['cpu_min']:.1f} single-core min "
          f"({res['wall_min']:.1f} min wall); held-out masked accuracy per single-core minute "
          f"{res['acc_per_cpu_min']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), required=True,
                    help="a configuration: its name, then overrides")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--held-out", type=float, default=0.05, help="pretrain.held_out_share")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args()
    results = []
    for name, *sets in args.case:
        overrides = dict((k, _value(v)) for k, v in (s.split("=", 1) for s in sets))
        results.append(run_case(name, overrides, args.steps, args.eval_every, args.held_out, args.progress))
        print_case(results[-1])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

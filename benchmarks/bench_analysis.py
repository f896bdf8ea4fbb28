"""Benchmark: cost of the explanation analyses on CPU.

* Integrated Gradients: seconds per trial (one 3 s test utterance) for
  several step counts, with the convergence delta relative to the explained
  score difference;
* loss landscape: seconds per grid point (fixed batch set), points
  evaluated one by one and vectorised with ``torch.func.vmap``, and seconds
  per Hessian-vector product (one power-iteration step).

For the ECAPA-TDNN sizes of the smoke and cpu profiles (random weights,
a synthetic harmonic test signal: the numbers are costs, not findings)::

    .venv/bin/python benchmarks/bench_analysis.py            # both profiles
    .venv/bin/python benchmarks/bench_analysis.py --quick    # smoke size only, fewer points
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch

from sslsv.analysis.attribution import attribute_trial
from sslsv.analysis.landscape import (TrainingLoss, evaluate_grid, hessian_vector_product, landscape_parameters,
                                      random_direction)
from sslsv.config import resolve
from sslsv.sv.model import AAMSoftmaxHead, SVTrainingModel
from sslsv.sv.pipeline import build_speaker_model

SR = 16000


def harmonic(seconds: float, f0: float, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    vib = 1 + 0.05 * np.sin(2 * np.pi * 3 * t)
    x = sum(np.sin(2 * np.pi * f0 * k * np.cumsum(vib) / SR) / k for k in range(1, 15))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2
    return torch.tensor(0.1 * x * env + 0.003 * rng.standard_normal(len(t)), dtype=torch.float32)


def bench_ig(profile: str, steps_list, seconds: float = 3.0, internal_batch_size: int = 16, repeats: int = 2,
             model: torch.nn.Module | None = None, waves: tuple[torch.Tensor, torch.Tensor] | None = None,
             name: str | None = None) -> pd.DataFrame:
    cfg = resolve(profile)
    torch.manual_seed(0)
    model = model if model is not None else build_speaker_model(cfg).eval()
    enroll, test = waves if waves is not None else (harmonic(seconds, 120.0, 1), harmonic(seconds, 135.0, 2))
    rows = []
    attribute_trial(model, enroll, test, steps=4, internal_batch_size=4)  # warm-up
    for steps in steps_list:
        runs = [attribute_trial(model, enroll, test, steps=steps, internal_batch_size=internal_batch_size)
                for _ in range(repeats)]
        r = runs[0]
        best = min(x.seconds for x in runs)  # the least disturbed repeat (shared CPU)
        rows.append({"model": name or f"{profile} (random)", "channels": cfg.ecapa.channels,
                     "test_s": round(len(test) / SR, 2), "steps": steps,
                     "internal_batch": internal_batch_size, "s_per_trial": round(best, 2),
                     "ms_per_step": round(1000 * best / steps, 1),
                     "score_diff": round(r.score_difference, 4), "delta": f"{r.delta:+.2e}",
                     "rel_delta": round(r.relative_delta, 4)})
    return pd.DataFrame(rows)


def bench_trained(run_dir: str, steps_list) -> pd.DataFrame:
    """IG on the first cross-session target trial of a trained run (its corpus must be on disk)."""
    import json
    from pathlib import Path

    from sslsv.artifacts import Run
    from sslsv.analysis.landscape import _sv_config, load_training_model
    from sslsv.data import load_sv_corpus
    from sslsv.data.audio import read_audio

    run = Run("sv", json.loads((Path(run_dir) / "config.json").read_text()), root=Path(run_dir).parent.parent)
    cfg = _sv_config(run)
    corpus = load_sv_corpus(cfg.corpus, progress=False)
    trial = next(t for t in corpus.trials if t.label == 1)
    waves = tuple(torch.from_numpy(read_audio(corpus.path(k))[: 3 * SR]) for k in (trial.enroll, trial.test))
    profile = "smoke" if cfg.ecapa.channels <= 64 else "cpu"
    return bench_ig(profile, steps_list, model=load_training_model(run).speaker_model, waves=waves,
                    name=f"trained {run.path.name}")


def bench_landscape(profile: str, n_points: int, batch_size: int, n_batches: int = 2, repeats: int = 2) -> pd.DataFrame:
    cfg = resolve(profile)
    torch.manual_seed(0)
    n_speakers = cfg.corpus.n_train_speakers
    model = SVTrainingModel(build_speaker_model(cfg), AAMSoftmaxHead(cfg.ecapa.embedding_dim, n_speakers))
    loss_module = TrainingLoss(model).eval()
    g = torch.Generator().manual_seed(0)
    crop = int(cfg.train.crop_seconds * SR)
    batches = [(0.1 * torch.randn(batch_size, crop, generator=g), torch.randint(0, n_speakers, (batch_size,), generator=g))
               for _ in range(n_batches)]
    base = landscape_parameters(loss_module)
    dirs = [random_direction(base, 0), random_direction(base, 1)]
    coords = np.random.default_rng(0).uniform(-1, 1, (n_points, 2))
    rows = []
    common = {"profile": profile, "channels": cfg.ecapa.channels,
              "params_M": round(sum(p.numel() for p in base.values()) / 1e6, 3),
              "batch_set": f"{n_batches} x {batch_size} x {cfg.train.crop_seconds:g} s"}
    evaluate_grid(loss_module, batches[:1], base, dirs, coords[:1], vectorize=False)  # warm-up
    for mode, vec, chunk in (("loop", False, 1), ("vmap", True, 4), ("vmap", True, 8)):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            evaluate_grid(loss_module, batches, base, dirs, coords, chunk_size=chunk, vectorize=vec)
            times.append(time.perf_counter() - t0)
        rows.append({**common, "what": f"grid point ({mode}, chunk {chunk})", "n": n_points,
                     "s_each": round(min(times) / n_points, 3)})
    params = [p for _, p in loss_module.named_parameters()]
    v = [torch.randn_like(p) for p in params]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b in batches:
            hessian_vector_product(lambda: loss_module(*b), params, v)
        times.append(time.perf_counter() - t0)
    rows.append({**common, "what": "Hessian-vector product (batch set)", "n": 1, "s_each": round(min(times), 3)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--run", default="", help="a complete SV run directory: also attribute one of its "
                        "trials with the trained model (meaningful convergence deltas)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; times: best of repeats\n")
    profiles = ("smoke",) if args.quick else ("smoke", "cpu")
    steps_list = (8, 16, 32) if args.quick else (8, 16, 32, 64)
    n_points, batch_size = (8, 8) if args.quick else (16, 16)
    tables = [bench_ig(p, steps_list) for p in profiles]
    if args.run:
        tables.append(bench_trained(args.run, steps_list))
    print("Integrated Gradients: cost per trial, convergence delta vs steps (score_diff = score - baseline score)")
    print(pd.concat(tables).to_string(index=False), "\n")
    print("Loss landscape: cost per grid point on a fixed batch set, and per Hessian-vector product")
    print(pd.concat([bench_landscape(p, n_points, batch_size) for p in profiles]).to_string(index=False))


if __name__ == "__main__":
    main()

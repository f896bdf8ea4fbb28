"""The device check: step times, peak memory and data-loader throughput on one GPU, and the GPU-hours they imply.

Run::

    make bench-gpu                      # or: .venv/bin/python benchmarks/bench_gpu.py
    .venv/bin/python benchmarks/bench_gpu.py --steps 5 --loader-files 2000   # quicker

Without CUDA it prints one line and exits 0 (the project never needs a GPU to
build or to test). On a GPU (bf16 autocast, as the training loop runs there)
it measures, in under 8 minutes on one device:

- pre-training steps per second of the HuBERT Base shape at the ``paper``
  batch (32 x 5 s), and of the ``gpu`` profile's upstream (small, 32 x 4 s);
- SV steps per second of the ECAPA-TDNN (C=512, 128 x 3 s crops) on fbank,
  and on a Base and a small upstream, frozen and fine-tuned;
- the peak GPU memory of each;
- the crops per second the SV loader delivers with 0, 4, 8 worker processes
  (:mod:`sslsv.data.loader`, a VoxCeleb-layout corpus written under
  ``.cache/bench-gpu``) against what the fbank step consumes;
- the GPU-hours that ``sslsv plan --profile paper`` and ``--profile gpu``
  then imply: every run of the book's plan priced at these step times
  (:func:`plan_hours`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

REPO = Path(__file__).resolve().parents[1]
SR = 16000


@dataclass(frozen=True)
class Measured:
    """One measured training step: what ran, its seconds per step and peak GPU memory (GiB)."""

    name: str
    kind: str  # "pretrain" | "sv"
    what: str  # pre-training: the upstream size; SV: "fbank" | "frozen:<size>" | "fine-tuned:<size>"
    batch: int
    crop_seconds: float
    step_seconds: float
    peak_gib: float


def _time_steps(step: Callable[[], Any], steps: int, device) -> tuple[float, float]:
    """Median seconds of ``steps`` steps after 2 warm-up ones, and the peak GPU memory in GiB (0 on a CPU, where
    the tests run the same code at a tiny scale)."""
    import torch

    cuda = torch.device(device).type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(2):  # warm-up: allocations, kernel choice
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (torch.cuda.max_memory_allocated(device) / 2**30 if cuda else 0.0)


def _train_step(model, loss_of, device) -> Callable[[], None]:
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    cuda = torch.device(device).type == "cuda"

    def step():
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_of()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure_pretrain(size: str, batch: int, crop_seconds: float, steps: int, device) -> Measured:
    """Masked prediction (HuBERT, 100 classes, p = 0.08 x 10) on random audio."""
    import numpy as np
    import torch

    from sslsv.config import PretrainConfig
    from sslsv.pretrain import PretrainModel, build_upstream, compute_mask

    cfg = PretrainConfig(backbone="hubert", size=size, objective="masked", n_clusters=100, proj_dim=256)
    model = PretrainModel(build_upstream("hubert", size), cfg, n_classes=100).to(device).train()
    n = int(crop_seconds * SR)
    frames = model.upstream.n_frames(n)
    batch_dict = {"wave": torch.randn(batch, n, device=device) * 0.1,
                  "targets": torch.randint(0, 100, (batch, frames), device=device),
                  "mask": torch.from_numpy(compute_mask((batch, frames), 0.08, 10, np.random.default_rng(0))).to(device)}
    s, peak = _time_steps(_train_step(model, lambda: model(batch_dict)[0], device), steps, device)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return Measured(f"pre-training HuBERT {size}, {batch} x {crop_seconds:g} s", "pretrain", size, batch,
                    crop_seconds, s, peak)


def measure_sv(what: str, batch: int, crop_seconds: float, steps: int, device) -> Measured:
    """An SV step of the paper's ECAPA-TDNN (C=512) on fbank or on an upstream (``frozen:base``, ...)."""
    import torch

    from sslsv.config import resolve
    from sslsv.pretrain import build_upstream
    from sslsv.sv.featurizer import SSLFrontend
    from sslsv.sv.model import AAMSoftmaxHead, FbankFrontend, SpeakerModel, SVTrainingModel

    cfg = resolve("paper")
    if what == "fbank":
        front = FbankFrontend(cfg.features, SR)
    else:
        mode, size = what.split(":")
        front = SSLFrontend(build_upstream("hubert", size), finetune=mode == "fine-tuned")
    model = SVTrainingModel(SpeakerModel(front, cfg.ecapa), AAMSoftmaxHead(cfg.ecapa.embedding_dim, 1211)).to(device)
    model.train()
    wave = torch.randn(batch, int(crop_seconds * SR), device=device) * 0.1
    labels = torch.randint(0, 1211, (batch,), device=device)
    s, peak = _time_steps(_train_step(model, lambda: model(wave, labels)[0], device), steps, device)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return Measured(f"SV ECAPA C=512 on {what}, {batch} x {crop_seconds:g} s", "sv", what, batch, crop_seconds, s, peak)


def loader_rates(n_files: int, batch: int, crop_seconds: float, workers: list[int], batches: int,
                 root: Path = REPO / ".cache" / "bench-gpu") -> dict[int, float]:
    """Crops per second of the SV loader with each number of workers (the first batch, start-up, not timed)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_loader import crops_per_second, evict, write_corpus

    from sslsv.data.batching import CropSampler

    paths = write_corpus(root, n_files)
    sampler = CropSampler(paths, [0] * len(paths), int(crop_seconds * SR))
    rates = {}
    for i, w in enumerate(workers):
        evict(paths)
        rates[w] = crops_per_second(sampler, batch, batches, w, 1000 * (i + 1))
    return rates


# --- the plan at these step times ------------------------------------------------------------------------


def _sv_what(cfg: Any, default_size: str) -> str:
    f = cfg.frontend
    if f.kind == "fbank":
        return "fbank"
    size = f.upstream.split(":")[2] if f.upstream.startswith("init:") else default_size
    return f"{'fine-tuned' if f.finetune else 'frozen'}:{size}"


def step_seconds_for(item: Any, measured: Mapping[tuple[str, str], Measured], default_size: str) -> float:
    """Seconds per step of a planned run: the measured step of its kind and upstream, scaled by its audio per
    batch (batch x crop) and, for a pre-training size or an SV upstream not measured, by parameter count."""
    from sslsv.pretrain import count_parameters

    cfg = item.config
    if item.kind == "pretrain":
        p = cfg.pretrain
        audio, want = cfg.optim.batch_size * p.crop_seconds, p.size
    else:
        audio, want = cfg.train.batch_size * cfg.train.crop_seconds, _sv_what(cfg, default_size)
    key = (item.kind, want)
    if key in measured:
        m = measured[key]
        return m.step_seconds * audio / (m.batch * m.crop_seconds)
    # another size: the nearest measured one of the same kind (and mode), scaled by parameters
    mode = want.split(":")[0] if ":" in want else ""
    size = want.split(":")[-1]
    same = [m for (k, w), m in measured.items() if k == item.kind and w != "fbank" and (not mode or w.startswith(mode))]
    if not same:
        raise KeyError(f"no measured step for {key}")
    m = same[0]
    m_size = m.what.split(":")[-1]
    scale = count_parameters("hubert", size) / count_parameters("hubert", m_size)
    return m.step_seconds * scale * audio / (m.batch * m.crop_seconds)


def plan_hours(profile: str, measured: Mapping[tuple[str, str], Measured], chapters=None) -> tuple[float, int]:
    """(GPU-hours, runs) of every run ``sslsv plan --profile <profile>`` lists, at the measured step times."""
    from sslsv.book import toc_notebooks
    from sslsv.config import PretrainExperimentConfig, resolve
    from sslsv.studies.plan import book_plan

    default_size = resolve(profile, base=PretrainExperimentConfig()).pretrain.size

    class AtMeasured:
        def estimate(self, item):
            return step_seconds_for(item, measured, default_size) * item.steps, "gpu benchmark"

    plan = book_plan(profile, chapters or toc_notebooks(), {"profile": profile}, throughput=AtMeasured())
    own = plan[~plan["estimate"].str.startswith("shared")]
    return float(own["minutes"].sum()) / 60, len(own)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement (after 2 warm-up)")
    parser.add_argument("--loader-files", type=int, default=20_000)
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 4, 8])
    parser.add_argument("--loader-batches", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print("bench-gpu: no CUDA device on this machine; skipped (the figures need one GPU, ~8 min)")
        return 0
    device = torch.device("cuda", 0)
    name = torch.cuda.get_device_name(device)
    t_start = time.perf_counter()
    rows = [measure_pretrain("base", 32, 5.0, args.steps, device),   # the paper's batch
            measure_pretrain("small", 32, 4.0, args.steps, device),  # the gpu profile's
            measure_sv("fbank", 128, 3.0, args.steps, device)]
    for what in ("frozen:base", "fine-tuned:base", "frozen:small", "fine-tuned:small"):
        rows.append(measure_sv(what, 128, 3.0, args.steps, device))
    measured = {(m.kind, m.what): m for m in rows}
    print(f"{name}, torch {torch.__version__}, bf16 autocast, median of {args.steps} steps")
    print(f"{'':55s} {'steps/s':>8s} {'s/step':>8s} {'peak GiB':>9s}")
    for m in rows:
        print(f"{m.name:55s} {1 / m.step_seconds:8.2f} {m.step_seconds:8.3f} {m.peak_gib:9.1f}")

    fbank = measured[("sv", "fbank")]
    consumed = fbank.batch / fbank.step_seconds
    rates = loader_rates(args.loader_files, 128, 3.0, args.loader_workers, args.loader_batches)
    print()
    print(f"SV loader, {args.loader_files} files (cold page cache), against the fbank step's {consumed:.0f} crops/s:")
    for w, r in rates.items():
        print(f"  {w:2d} workers: {r:7.0f} crops/s  ({'keeps up' if r >= consumed else 'the GPU waits'})")
    print()
    for profile in ("paper", "gpu"):
        hours, n = plan_hours(profile, measured)
        print(f"sslsv plan --profile {profile}: {n} runs, {hours:,.0f} GPU-hours at these step times on one {name}")
    print(f"(bench-gpu took {(time.perf_counter() - t_start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

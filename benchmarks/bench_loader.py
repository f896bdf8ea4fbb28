"""How many DataLoader workers keep an ECAPA-TDNN step fed? Crops per second against workers.

Run::

    nice -n 10 .venv/bin/python benchmarks/bench_loader.py            # 20,000 files, workers 0 1 2 4
    .venv/bin/python benchmarks/bench_loader.py --files 2000 --workers 0 2 --batches 4   # quicker

It writes (once; reused afterwards) a corpus in the VoxCeleb1 layout,
``.cache/bench-loader/wav/<speaker>/<session>/<utt>.wav``: ``--files`` short
16 kHz PCM-16 files of 1-3 s, then reads training batches of the ``paper``
profile (128 random crops of 3 s, :class:`sslsv.data.batching.CropSampler`,
the batch of step ``k`` a pure function of ``(seed, k)``) through
:func:`sslsv.data.loader.prefetching` with 0 (the training process), 1, 2, 4
worker processes, and prints crops per second:

- ``cold``: every file's pages evicted from the page cache first
  (``posix_fadvise(DONTNEED)``), as for a corpus far larger than memory
  (VoxCeleb1 is 40 GB);
- ``warm``: the same batches again, from the page cache.

The first batch of each setting (the workers' start-up) is not timed.

Beside it, the step time of the ``paper`` ECAPA-TDNN (C=512, fbank, AAM-softmax,
batch 128 x 3 s) on this CPU (timed on ``--cpu-batch`` crops and scaled to 128), and on CUDA when there is one (bf16 autocast),
and how many crops per second each consumes: the loader keeps a device fed
when it delivers at least that many. Without CUDA the GPU row is not measured;
the table then says how many workers a step of 25 / 50 / 100 ms (what the
issue expects of a GPU) would need at the cold rate measured here.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from sslsv.config import resolve
from sslsv.data.batching import CropSampler
from sslsv.data.loader import prefetching
from sslsv.sv.model import AAMSoftmaxHead, FbankFrontend, SpeakerModel, SVTrainingModel
from sslsv.training import step_rng

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def write_corpus(root: Path, n_files: int, n_speakers: int = 200, seed: int = 0) -> list[Path]:
    """``n_files`` utterances of 1-3 s in the VoxCeleb1 layout under ``root/wav`` (kept; rewritten only when
    the count differs)."""
    done = root / f"COMPLETE-{n_files}"
    wav = root / "wav"
    if done.exists():
        return sorted(wav.glob("*/*/*.wav"))
    rng = np.random.default_rng(seed)
    t = np.arange(3 * SR) / SR
    paths = []
    for i in tqdm(range(n_files), desc="writing the corpus", mininterval=2.0):
        spk, sess = i % n_speakers, (i // n_speakers) % 8
        path = wav / f"id{spk:05d}" / f"sess{sess}" / f"{i:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        n = int(SR * rng.uniform(1.0, 3.0))
        x = 0.2 * np.sin(2 * np.pi * (100 + spk) * t[:n]) + 0.05 * rng.standard_normal(n)
        sf.write(path, x.astype(np.float32), SR, subtype="PCM_16")
        paths.append(path)
    done.write_text("")
    return sorted(paths)


def evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache (only clean pages of these files; needs no privilege)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def crops_per_second(sampler: CropSampler, batch_size: int, batches: int, workers: int, first_step: int) -> float:
    """Crops per second delivered by ``workers`` processes over ``batches`` batches (after the first batch, which
    includes the workers' start-up)."""
    def batch_fn(step, rank, world):
        return sampler.batch(step_rng(0, step, rank), batch_size)

    fn = prefetching(batch_fn, first_step + batches + 1, workers)
    fn(first_step, 0, 1)  # workers started (not timed: once per training run)
    t0 = time.perf_counter()
    for k in range(first_step + 1, first_step + 1 + batches):
        fn(k, 0, 1)
    elapsed = time.perf_counter() - t0
    if fn is not batch_fn:
        fn.close()
    return batches * batch_size / elapsed


def ecapa_step_seconds(device: str, batch_size: int, crop_seconds: float, steps: int) -> float:
    """Seconds per training step of the paper profile's fbank ECAPA-TDNN (bf16 autocast on CUDA)."""
    cfg = resolve("paper")
    model = SVTrainingModel(SpeakerModel(FbankFrontend(cfg.features), cfg.ecapa),
                            AAMSoftmaxHead(cfg.ecapa.embedding_dim, 1211)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    wave = torch.randn(batch_size, int(crop_seconds * SR), device=device) * 0.1
    labels = torch.randint(0, 1211, (batch_size,), device=device)
    cuda = device.startswith("cuda")

    def step():
        with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
            loss, _ = model(wave, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, kernels)
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--root", type=Path, default=REPO / ".cache" / "bench-loader")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--batches", type=int, default=8, help="batches timed per setting")
    parser.add_argument("--cpu-steps", type=int, default=1, help="timed paper ECAPA steps on the CPU")
    parser.add_argument("--cpu-batch", type=int, default=16,
                        help="crops of the CPU ECAPA step (its time is scaled to the paper batch: a full batch of 128 "
                             "takes about a minute on 2 cores)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the CPU ECAPA step")
    args = parser.parse_args(argv)

    cfg = resolve("paper")
    batch_size, crop_seconds = cfg.train.batch_size, cfg.train.crop_seconds
    paths = write_corpus(args.root, args.files)
    t0 = time.perf_counter()
    sampler = CropSampler(paths, [0] * len(paths), int(crop_seconds * SR))
    index_seconds = time.perf_counter() - t0
    print(f"corpus: {len(paths)} files of 1-3 s under {args.root} ({sum(p.stat().st_size for p in paths) / 2**30:.2f} "
          f"GiB); CropSampler read {len(paths)} headers in {index_seconds:.1f} s; {os.cpu_count()} CPU cores")
    print(f"batches of the paper profile: {batch_size} crops x {crop_seconds:g} s, {args.batches} batches per setting")

    rows = []
    for i, w in enumerate(args.workers):
        first = 1000 * (i + 1)  # other steps for each setting: other files
        evict(paths)
        cold = crops_per_second(sampler, batch_size, args.batches, w, first)
        warm = crops_per_second(sampler, batch_size, args.batches, w, first)  # the same files, now cached
        rows.append((w, cold, warm))

    torch.set_num_threads(args.threads)
    cpu_step = ecapa_step_seconds("cpu", args.cpu_batch, crop_seconds, args.cpu_steps) * batch_size / args.cpu_batch
    gpu_step = ecapa_step_seconds("cuda", batch_size, crop_seconds, 20) if torch.cuda.is_available() else None

    print()
    print(f"{'workers':>7s} {'cold crops/s':>13s} {'warm crops/s':>13s}")
    for w, cold, warm in rows:
        print(f"{w:7d} {cold:13.0f} {warm:13.0f}")
    best_cold = max(r[1] for r in rows)
    per_worker = max((r[1] / r[0] for r in rows if r[0] > 0), default=rows[0][1])
    print()
    print(f"{'paper ECAPA-TDNN step (C=512, fbank)':40s} {'s/step':>8s} {'crops/s used':>13s} {'workers to feed it':>19s}")
    consumers = [(f"CPU, {args.threads} threads (x{batch_size // args.cpu_batch} of {args.cpu_batch} crops)", cpu_step)]
    if gpu_step is not None:
        consumers.append((f"GPU {torch.cuda.get_device_name(0)}, bf16 (measured)", gpu_step))
    else:
        consumers += [(f"GPU step of {ms} ms (no CUDA here: if)", ms / 1000) for ms in (25, 50, 100)]
    for name, s in consumers:
        need = batch_size / s
        workers = 0 if need <= rows[0][1] else math.ceil(need / per_worker)
        print(f"{name:40s} {s:8.3f} {need:13.0f} {workers:19d}")
    print()
    print(f"cold reads: {per_worker:.0f} crops/s per worker process (best setting {best_cold:.0f} crops/s on "
          f"{os.cpu_count()} cores); 'workers to feed it' = crops/s used / crops/s per worker, 0 when the "
          "training process alone keeps up")


if __name__ == "__main__":
    main()

"""Does a ``torch.utils.data.DataLoader`` with workers speed up SV training here?

Run::

    .venv/bin/python benchmarks/bench_batching.py
    .venv/bin/python benchmarks/bench_batching.py --steps 30 --threads 2

It writes a small corpus of ``--files`` synthetic-length utterances (2-4 s,
16 kHz), then times, per training step of the cpu-profile ECAPA-TDNN
(C=128, batch 32 x 2 s crops, AAM-softmax), side by side in the same run:

- ``load``: :meth:`sslsv.data.batching.CropSampler.batch` alone (reading the
  crops from disk), what a worker could take off the training process;
- ``serial``: load, then forward/backward/step, as the training loop does;
- ``DataLoader(num_workers=N)``: the same batches (batch of step ``k`` is still
  a pure function of ``(seed, k)``) prefetched by ``N`` worker processes.

The training step runs with ``--threads`` torch threads; on a 2-core machine a
worker competes with them for the same cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sslsv.config import resolve
from sslsv.data.batching import CropSampler
from sslsv.sv.model import AAMSoftmaxHead, FbankFrontend, SpeakerModel, SVTrainingModel
from sslsv.training import step_rng


class StepBatches(torch.utils.data.Dataset):
    """Item ``k`` is the batch of step ``k`` (so workers keep the stateless data order)."""

    def __init__(self, sampler: CropSampler, seed: int, batch_size: int, steps: int):
        self.sampler, self.seed, self.batch_size, self.steps = sampler, seed, batch_size, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        return self.sampler.batch(step_rng(self.seed, step), self.batch_size)


def write_corpus(root: Path, n: int, n_speakers: int = 40) -> tuple[list[Path], list[int]]:
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(n):
        path = root / f"{i:05d}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * rng.uniform(2, 4)))).astype(np.float32), 16000,
                 subtype="PCM_16")
        paths.append(path)
        labels.append(i % n_speakers)
    return paths, labels


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = resolve("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = write_corpus(Path(tmp), args.files)
        sampler = CropSampler(paths, labels, int(cfg.train.crop_seconds * 16000))
        model = SVTrainingModel(SpeakerModel(FbankFrontend(cfg.features), cfg.ecapa),
                                AAMSoftmaxHead(cfg.ecapa.embedding_dim, max(labels) + 1))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        bs = cfg.train.batch_size

        def step(wave, lab):
            loss, _ = model(wave, lab)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for k in range(3):  # warm-up
            step(*sampler.batch(step_rng(0, k), bs))
        t0 = time.perf_counter()
        for k in range(args.steps):
            sampler.batch(step_rng(0, k), bs)
        load = (time.perf_counter() - t0) / args.steps
        t0 = time.perf_counter()
        for k in range(args.steps):
            step(*sampler.batch(step_rng(0, k), bs))
        serial = (time.perf_counter() - t0) / args.steps
        rows = [("load only (CropSampler.batch)", load), ("serial: load + train step", serial)]
        for n in args.workers:
            loader = torch.utils.data.DataLoader(StepBatches(sampler, 0, bs, args.steps + 2), batch_size=None,
                                                 num_workers=n, prefetch_factor=2, persistent_workers=False)
            it = iter(loader)
            step(*next(it))  # workers started and warm
            step(*next(it))
            t0 = time.perf_counter()
            for wave, lab in it:
                step(wave, lab)
            rows.append((f"DataLoader(num_workers={n}): train step", (time.perf_counter() - t0) / args.steps))
    print(f"cpu-profile SV step, batch {bs} x {cfg.train.crop_seconds:g} s crops, {args.threads} torch thread(s), "
          f"{args.steps} steps")
    print(f"{'':45s} {'s/step':>8s} {'vs serial':>10s}")
    for name, t in rows:
        print(f"{name:45s} {t:8.3f} {t / serial:9.2f}x")


if __name__ == "__main__":
    main()

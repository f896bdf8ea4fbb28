"""Training batches from worker processes, in step order: a ``torch.utils.data`` loader over steps.

The training loop asks for the batch of step ``k`` with ``batch_fn(k, rank,
world)``, a pure function of ``(seed, k, rank)`` (:func:`sslsv.training.step_rng`).
:func:`prefetching` wraps such a function: a ``DataLoader`` whose item ``k``
is the batch of step ``k`` computes the coming batches in ``workers``
processes (and pins them in page-locked memory for an asynchronous copy to
the GPU) while the model trains. The loader returns items in index order, so
the batches are the very same tensors, bit for bit, with and without workers,
and a resumed run asks for its first step again: exact resumption holds.

>>> def batch_fn(step, rank, world):
...     return step, torch.full((2,), float(step))
>>> fn = prefetching(batch_fn, steps=4, workers=0)
>>> fn is batch_fn  # no workers: the function itself, in the training process
True
"""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

__all__ = ["StepBatches", "prefetching", "loader_workers"]

BatchFn = Callable[[int, int, int], Any]


class StepBatches(torch.utils.data.Dataset):
    """Item ``i`` is ``batch_fn(start + i, rank, world)``: the batches of steps ``start .. steps - 1``."""

    def __init__(self, batch_fn: BatchFn, start: int, steps: int, rank: int = 0, world: int = 1):
        self.batch_fn, self.start, self.steps, self.rank, self.world = batch_fn, int(start), int(steps), rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __getitem__(self, i: int):
        return self.batch_fn(self.start + int(i), self.rank, self.world)


def loader_workers(requested: int, device: torch.device | str) -> int:
    """Worker processes to use: ``requested`` when >= 0; ``-1`` (auto) gives one per core up to 8 on CUDA,
    none (the training process reads) on a CPU, where workers compete with the model for the same cores.

    >>> loader_workers(3, "cpu"), loader_workers(-1, "cpu")
    (3, 0)
    """
    if requested >= 0:
        return int(requested)
    if torch.device(device).type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores - 1))


class _Prefetched:
    """``batch_fn`` served from a DataLoader; a step out of sequence restarts the loader there."""

    def __init__(self, batch_fn: BatchFn, steps: int, workers: int, pin_memory: bool, prefetch_factor: int):
        self.batch_fn, self.steps, self.workers = batch_fn, int(steps), int(workers)
        self.pin_memory, self.prefetch_factor = pin_memory, prefetch_factor
        self._it = None
        self._next_step: int | None = None
        self._key: tuple[int, int] | None = None

    def _start(self, step: int, rank: int, world: int) -> None:
        self.close()
        loader = torch.utils.data.DataLoader(
            StepBatches(self.batch_fn, step, self.steps, rank, world), batch_size=None, shuffle=False,
            num_workers=self.workers, pin_memory=self.pin_memory, prefetch_factor=self.prefetch_factor,
            persistent_workers=False,
            # its own generator: a loader otherwise draws its workers' base seed from torch's global RNG, which
            # would shift the model's dropout masks (the batches never use it: they come from step_rng)
            generator=torch.Generator().manual_seed(0))
        self._it, self._next_step, self._key = iter(loader), step, (rank, world)

    def __call__(self, step: int, rank: int = 0, world: int = 1):
        if step >= self.steps:
            return self.batch_fn(step, rank, world)
        if self._it is None or step != self._next_step or self._key != (rank, world):
            self._start(step, rank, world)
        batch = next(self._it)
        self._next_step = step + 1
        if self._next_step >= self.steps:
            self.close()
        return batch

    def close(self) -> None:
        """End the worker processes (also when training stops early)."""
        it, self._it = self._it, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the workers end with their parent anyway
            pass


def prefetching(batch_fn: BatchFn, steps: int, workers: int = 0, pin_memory: bool = False,
                prefetch_factor: int = 4) -> BatchFn:
    """``batch_fn`` computed ahead in ``workers`` processes (``0``: ``batch_fn`` itself), in step order.

    ``steps`` is the training's last step + 1; ``pin_memory`` puts every
    tensor of a batch in page-locked memory (for ``.to("cuda", non_blocking=True)``).
    """
    if workers <= 0:
        return batch_fn
    return _Prefetched(batch_fn, steps, workers, pin_memory, prefetch_factor)

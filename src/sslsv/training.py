"""One training loop for pre-training and speaker verification.

AdamW with linear warm-up and cosine decay, gradient clipping, bf16
autocast on GPU, a tqdm progress bar with loss and throughput, periodic
checkpoints that resume *exactly*, and data parallelism through PyTorch's
own DDP when the process was started by ``torchrun``.

Exact resumption rests on one rule: the batch of step ``k`` is a pure
function of ``(seed, k, rank)`` (see :func:`step_rng`), so the data order
needs no state beyond the step counter.  A checkpoint holds the model,
optimizer, scheduler, step, torch RNG state and the loss history.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from .artifacts import ArtifactError, atomic_torch_save, move_aside, notice, torch_load
from .config import ConfigError, OptimConfig
from .errors import UserError


def step_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    """The random generator of one training step (stateless data order).

    >>> a = step_rng(0, 5).integers(1000); b = step_rng(0, 5).integers(1000)
    >>> bool(a == b)
    True
    """
    return np.random.default_rng([seed, step, rank])


def lr_factor(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.05) -> float:
    """Multiplier of the base learning rate at ``step``: linear warm-up, cosine decay.

    >>> lr_factor(0, 10, 100) < lr_factor(9, 10, 100) == 1.0
    True
    >>> round(lr_factor(100, 10, 100), 3)
    0.05
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def schedule_length(cfg: Any) -> int:
    """The cosine schedule's length: ``cfg.schedule_steps``, or ``cfg.steps`` when unset; a schedule shorter than
    the run is refused, naming the key.

    >>> from sslsv.config import OptimConfig
    >>> schedule_length(OptimConfig(steps=100)), schedule_length(OptimConfig(steps=100, schedule_steps=400))
    (100, 400)
    """
    if cfg.schedule_steps and cfg.schedule_steps < cfg.steps:
        raise ConfigError(f"schedule_steps={cfg.schedule_steps} is shorter than the run (steps={cfg.steps}): the "
                          "schedule a run stops early on must be at least as long as the run")
    return int(cfg.schedule_steps or cfg.steps)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when present; ``"cuda"`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r}: no CUDA device is available on this machine; "
                          "use --set device=cpu (or device=auto, which picks CUDA when there is one)")
    return torch.device(device)


def distributed_info() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside ``torchrun``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed_from_env() -> bool:
    """Initialise the process group if launched by ``torchrun`` (gloo on CPU, NCCL on GPU)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return False
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return True


class ConfigMismatchError(UserError, RuntimeError):
    """A checkpoint written under another configuration."""


_STATE_KEYS = ("model", "optimizer", "scheduler", "torch_rng", "step", "history")


def _load_checkpoint(checkpoint: Path, log: Callable[[str], None] | None) -> dict[str, Any] | None:
    """The state of a resumable checkpoint, or ``None`` when it is corrupt.

    A corrupt checkpoint (unreadable, truncated, or without a training state) is moved aside
    to ``<name>.corrupt-<time>``, never deleted, and the user is told; training then starts
    from step 0.
    """
    try:
        state = torch_load(checkpoint)
        if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
            raise ArtifactError(f"checkpoint {checkpoint} holds no training state")
        return state
    except ArtifactError as e:
        aside = move_aside(checkpoint, suffix="corrupt")
        message = f"{e}; moved it to {aside} and training from step 0"
        notice(message)
        if log:
            log(message)
        return None


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one row per step: step, loss, lr, plus loss_fn logs
    resumed_from: int  # step the run resumed from (0 = fresh)
    seconds: float  # training-loop wall time over every segment of the run (resumes included)
    timing_complete: bool = True  # False when resumed from a checkpoint that did not record its time
    segment_seconds: float = 0.0  # training-loop wall time of this call only


def fit(
    model: torch.nn.Module,
    batch_fn: Callable[[int, int, int], Any],
    loss_fn: Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]],
    cfg: OptimConfig,
    *,
    checkpoint: Path | None = None,
    config_id: str = "",
    param_groups: Iterable[dict[str, Any]] | None = None,
    device: torch.device | str = "cpu",
    desc: str = "train",
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``model`` for ``cfg.steps`` steps, resuming from ``checkpoint`` if present.

    ``batch_fn(step, rank, world_size)`` returns the batch of a step (it must
    be deterministic in its arguments). ``loss_fn(model, batch)`` returns the
    scalar loss and a dict of floats to log (``"n"``: items in the batch, used
    for throughput). ``param_groups`` overrides the optimizer's groups
    (each may carry an ``lr_scale``). ``config_id`` is stored in checkpoints;
    resuming a checkpoint with another id is refused.
    """
    device = torch.device(device)
    rank, world = distributed_info()
    model.to(device)
    train_model: torch.nn.Module = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    groups = list(param_groups) if param_groups is not None else [
        {"params": [p for p in model.parameters() if p.requires_grad]}
    ]
    for g in groups:
        g.setdefault("lr_scale", 1.0)
        g["lr"] = cfg.lr * g["lr_scale"]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, schedule_length(cfg), cfg.min_lr_ratio)
    )
    start, history, prior_seconds, timing_complete = 0, [], 0.0, True
    state = _load_checkpoint(Path(checkpoint), log) if checkpoint is not None and Path(checkpoint).exists() else None
    if state is not None:
        if state.get("config_id", "") != config_id:
            raise ConfigMismatchError(
                f"checkpoint {checkpoint} was written by configuration {state.get('config_id')!r}, "
                f"not {config_id!r}; refusing to resume under a changed configuration"
            )
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise ConfigMismatchError(f"checkpoint {checkpoint} does not match the model: {e}") from e
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start, history = int(state["step"]), list(state["history"])
        timing_complete = "seconds" in state
        prior_seconds = float(state.get("seconds", 0.0))
        if log:
            log(f"resumed from step {start} ({checkpoint})")

    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=not progress or rank != 0,
               dynamic_ncols=True, mininterval=1.0)
    model.train()
    items, t_items = 0.0, time.perf_counter()
    for step in range(start, cfg.steps):
        batch = batch_fn(step, rank, world)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, logs = loss_fn(train_model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: non-finite loss {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        row = {"step": step + 1, "loss": float(loss.detach()), "lr": optimizer.param_groups[0]["lr"],
               "grad_norm": float(grad_norm)}
        row.update({k: float(v) for k, v in logs.items()})
        history.append(row)
        items += row.get("n", 0.0) * world
        bar.update(1)
        if (step + 1) % 10 == 0 or step + 1 == cfg.steps:
            rate = items / max(time.perf_counter() - t_items, 1e-9)
            bar.set_postfix(loss=f"{row['loss']:.3f}", items_per_s=f"{rate:.0f}")
            items, t_items = 0.0, time.perf_counter()
        if on_step is not None:
            on_step(step + 1, row)
        done = step + 1 == cfg.steps
        if checkpoint is not None and ((step + 1) % cfg.checkpoint_every == 0 or done):
            if rank == 0:
                atomic_torch_save(
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "step": step + 1,
                        "history": history,
                        "config_id": config_id,
                        "seconds": prior_seconds + time.perf_counter() - t0,
                    },
                    Path(checkpoint),
                )
            if world > 1:
                torch.distributed.barrier()
    bar.close()
    model.eval()
    segment = time.perf_counter() - t0
    return FitResult(history=history, resumed_from=start, seconds=prior_seconds + segment,
                     timing_complete=timing_complete, segment_seconds=segment)

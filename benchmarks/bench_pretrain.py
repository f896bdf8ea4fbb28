"""Masked-prediction training step: ours (transformers HuBERT + sslsv head) vs torchaudio's hubert_pretrain_model.

Same size preset, batch, crop, mask setting (p = 0.08 x 10), 100 target
classes, final_dim 256, conv gradient scale 0.1, AdamW.  Each (implementation,
size) runs in its own subprocess so that peak resident memory (ru_maxrss) is
its own.  Prints one table; run with ``python benchmarks/bench_pretrain.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _ours(size: str, batch: int, seconds: float):
    import numpy as np
    import torch

    from sslsv.config import PretrainConfig
    from sslsv.pretrain import PretrainModel, build_upstream, compute_mask

    cfg = PretrainConfig(backbone="hubert", size=size, objective="masked", n_clusters=100, proj_dim=256)
    model = PretrainModel(build_upstream("hubert", size), cfg, n_classes=100)
    n = int(seconds * 16000)
    frames = model.upstream.n_frames(n)

    def batch_of(step):
        rng = np.random.default_rng(step)
        return {"wave": torch.randn(batch, n), "targets": torch.randint(0, 100, (batch, frames)),
                "mask": torch.from_numpy(compute_mask((batch, frames), 0.08, 10, rng))}

    return model, lambda step: model(batch_of(step))[0]


def _torchaudio(size: str, batch: int, seconds: float):
    import torch
    from torchaudio.models import hubert_pretrain_model

    from sslsv.pretrain import SIZES

    s = SIZES[size]
    c = s.conv_channels
    model = hubert_pretrain_model(
        extractor_mode="layer_norm", extractor_conv_layer_config=[(c, 10, 5)] + [(c, 3, 2)] * 4 + [(c, 2, 2)] * 2,
        extractor_conv_bias=True, encoder_embed_dim=s.hidden, encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=64, encoder_pos_conv_groups=16, encoder_num_layers=s.layers,
        encoder_num_heads=s.heads, encoder_attention_dropout=0.1, encoder_ff_interm_features=s.ffn,
        encoder_ff_interm_dropout=0.0, encoder_dropout=0.1, encoder_layer_norm_first=True, encoder_layer_drop=0.0,
        mask_prob=0.8, mask_selection="static", mask_other=0.0, mask_length=10, no_mask_overlap=False,
        mask_min_space=1, mask_channel_prob=0.0, mask_channel_selection="static", mask_channel_other=0.0,
        mask_channel_length=10, no_mask_channel_overlap=False, mask_channel_min_space=1, skip_masked=False,
        skip_nomask=True, num_classes=100, final_dim=256, feature_grad_mult=0.1)
    n = int(seconds * 16000)
    frames = (n - 400) // 320 + 1

    def step(i):
        torch.manual_seed(i)
        logit_m, logit_u, penalty = model(torch.randn(batch, n), torch.randint(0, 100, (batch, frames)))
        target = torch.zeros(logit_m.shape[0], dtype=torch.long)
        return torch.nn.functional.cross_entropy(logit_m, target) + 10 * penalty

    return model, step


def child(impl: str, size: str, batch: int, seconds: float, steps: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, loss_of = {"ours": _ours, "torchaudio": _torchaudio}[impl](size, batch, seconds)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(steps + 2):  # two warm-up steps
        t = time.perf_counter()
        loss = loss_of(i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    print(json.dumps({"impl": impl, "size": size, "step_s": statistics.median(times), "min_s": min(times),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "params_m": sum(p.numel() for p in model.parameters()) / 1e6}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "SIZE"))
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.batch, args.seconds, args.steps, args.threads)
        return
    rows = []
    for size in args.sizes:
        for impl in ("ours", "torchaudio"):
            out = subprocess.run([sys.executable, __file__, "--child", impl, size, "--batch", str(args.batch),
                                  "--seconds", str(args.seconds), "--steps", str(args.steps),
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"masked-prediction step, batch {args.batch} x {args.seconds:g} s, CPU, {args.threads} threads, "
          f"median of {args.steps} steps")
    print(f"{'size':<7}{'impl':<12}{'params (M)':>11}{'step (s)':>10}{'min (s)':>9}{'peak RSS (MB)':>15}")
    for r in rows:
        print(f"{r['size']:<7}{r['impl']:<12}{r['params_m']:>11.2f}{r['step_s']:>10.3f}{r['min_s']:>9.3f}"
              f"{r['peak_rss_mb']:>15.0f}")


if __name__ == "__main__":
    main()

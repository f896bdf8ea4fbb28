"""Benchmark: corpus generation speed, SV training step time, embedding extraction speed,
the frozen-upstream feature cache against the waveform path, and the cost of each fine-tuning recipe.

Prints one table per measurement, every row measured in this run::

    .venv/bin/python benchmarks/bench_sv.py              # all
    .venv/bin/python benchmarks/bench_sv.py --quick      # smaller corpus, fewer repeats
    .venv/bin/python benchmarks/bench_sv.py --finetune   # only the fine-tuning recipes (issue 26)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from sslsv.config import override, resolve
from sslsv.data.synthetic import generate_corpus
from sslsv.sv.embeddings import extract_embeddings
from sslsv.sv.model import AAMSoftmaxHead, SVTrainingModel
from sslsv.sv.pipeline import build_speaker_model


def bench_corpus(quick: bool) -> pd.DataFrame:
    rows = []
    cfg = resolve("smoke").corpus
    if not quick:
        cfg = override(cfg, {"n_train_speakers": 40, "n_test_speakers": 10, "pretrain_hours": 0.1})
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            root = generate_corpus(cfg, root=Path(d) / "c", workers=workers, progress=False)
            dt = time.perf_counter() - t0
            seconds = sum(sf.info(str(p)).duration for p in root.rglob("*") if p.suffix in (".wav", ".flac"))
        rows.append({"workers": workers, "audio_seconds": round(seconds, 1), "wall_seconds": round(dt, 2),
                     "audio_s_per_s": round(seconds / dt, 1)})
    return pd.DataFrame(rows)


def _median_step(train_model, opt, make_input, labels, repeats: int) -> float:
    """Median wall time of a training step (forward, backward, update) after one warm-up step."""
    times = []
    for i in range(repeats + 1):
        x = make_input()
        t0 = time.perf_counter()
        loss, _ = train_model(x, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_model(profile: str, repeats: int, n_utts: int) -> dict:
    cfg = resolve(profile)
    torch.manual_seed(0)
    model = build_speaker_model(cfg)
    head = AAMSoftmaxHead(cfg.ecapa.embedding_dim, 100)
    train_model = SVTrainingModel(model, head)
    opt = torch.optim.AdamW(train_model.parameters(), lr=1e-3)
    crop = int(cfg.train.crop_seconds * 16000)
    wave = torch.randn(cfg.train.batch_size, crop)
    labels = torch.randint(0, 100, (cfg.train.batch_size,))
    step_s = _median_step(train_model, opt, lambda: wave, labels, repeats)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        rng = np.random.default_rng(0)
        for i in range(n_utts):
            p = Path(d) / f"{i}.wav"
            sf.write(p, (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
            paths.append(p)
        t0 = time.perf_counter()
        extract_embeddings(model, paths, progress=False)
        dt = time.perf_counter() - t0
    return {"profile": profile, "ecapa_channels": cfg.ecapa.channels,
            "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "batch": f"{cfg.train.batch_size} x {cfg.train.crop_seconds:g} s",
            "train_step_s": round(step_s, 3),
            "embed_utts_per_s (3 s utts)": round(n_utts / dt, 1)}


def _training_setup(cfg):
    """The speaker model of ``cfg``, its training model (100 classes), an AdamW over what trains, and a batch's
    shape and labels: what one measured SV step needs."""
    torch.manual_seed(0)
    model = build_speaker_model(cfg)
    train_model = SVTrainingModel(model, AAMSoftmaxHead(cfg.ecapa.embedding_dim, 100))
    opt = torch.optim.AdamW([p for p in train_model.parameters() if p.requires_grad], lr=1e-3)
    batch, crop = cfg.train.batch_size, int(cfg.train.crop_seconds * 16000)
    return model, train_model, opt, batch, crop, torch.randint(0, 100, (batch,))


def bench_frozen_cache(repeats: int, n_utts: int) -> pd.DataFrame:
    """Frozen SSL upstream (tiny w2v-BERT, cpu ECAPA, 32 x 2 s): a training step on waveforms (the
    upstream runs every step) against a step on cached hidden states, and the one-off cost of the cache."""
    from sslsv.sv.featurizer import STATES, HiddenStateCropSampler

    cfg = resolve("cpu", {"frontend.kind": "ssl", "frontend.upstream": "init:w2v_bert:tiny"})
    model, train_model, opt, batch, crop, labels = _training_setup(cfg)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n_utts):
            p = Path(d) / f"{i}.wav"
            sf.write(p, (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
            paths.append(p)
        STATES.clear()
        t0 = time.perf_counter()
        sampler = HiddenStateCropSampler(model.frontend.upstream, paths, [0] * n_utts, crop, progress=False)
        cache_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # the next seed of the same system: served by UpstreamStates
        HiddenStateCropSampler(model.frontend.upstream, paths, [0] * n_utts, crop, progress=False)
        again_s = time.perf_counter() - t0
        t0 = time.perf_counter()  # test-set embeddings: the upstream on every utterance, or its stored states
        extract_embeddings(model, paths, progress=False)
        wave_embed_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_embeddings(model, paths, progress=False, states=STATES.bind(model.frontend.upstream))
        state_embed_s = time.perf_counter() - t0
    inputs = {"waveform (upstream every step)": lambda: torch.randn(batch, crop),
              "cached hidden states": lambda: sampler.batch(rng, batch)[0]}
    for name, make in inputs.items():
        rows.append({"input": name, "train_step_s": round(_median_step(train_model, opt, make, labels, repeats), 3)})
    out = pd.DataFrame(rows)
    out["speed-up"] = (out["train_step_s"].iloc[0] / out["train_step_s"]).round(2)
    out["one-off"] = ["-", f"{cache_s / n_utts * 1000:.0f} ms per 3 s utterance, "
                           f"{sampler.nbytes / n_utts / 2**20:.2f} MiB each; "
                           f"{again_s / n_utts * 1000:.1f} ms for the next seed"]
    out["test embeddings (utt/s)"] = [round(n_utts / wave_embed_s, 1), round(n_utts / state_embed_s, 1)]
    return out


# The fine-tuning recipes against the frozen probe: (label, backbone, frontend overrides); the first fine-tuned row
# (every weight trained) is the reference of the speed-up column.
RECIPES = (
    ("frozen, cached hidden states", "w2v_bert", {"frontend.finetune": False, "frontend.cache_features": True}),
    ("frozen, waveform", "w2v_bert", {"frontend.finetune": False}),
    ("fine-tuned, every weight", "w2v_bert", {"frontend.finetune": True}),
    ("fine-tuned, top 2 of 4 layers", "w2v_bert", {"frontend.finetune": True, "frontend.finetune_layers": 2}),
    ("fine-tuned, top layer", "w2v_bert", {"frontend.finetune": True, "frontend.finetune_layers": 1}),
    ("HuBERT fine-tuned, every weight", "hubert", {"frontend.finetune": True}),
    ("HuBERT fine-tuned, conv front-end frozen", "hubert", {"frontend.finetune": True,
                                                            "frontend.freeze_feature_encoder": True}),
)


def bench_finetune_recipes(repeats: int, profile: str = "cpu") -> pd.DataFrame:
    """One SV training step (forward, backward, update; ``profile``'s ECAPA and batch) of the tiny upstream
    under each recipe of :data:`RECIPES`, its trainable upstream weights, and the speed-up against training
    every weight of the same backbone."""
    from sslsv.sv.featurizer import HiddenStateCropSampler, STATES

    rows = []
    for label, backbone, sets in RECIPES:
        cfg = resolve(profile, {"frontend.kind": "ssl", "frontend.upstream": f"init:{backbone}:tiny", **sets})
        model, train_model, opt, batch, crop, labels = _training_setup(cfg)
        if cfg.frontend.cache_features:
            rng = np.random.default_rng(0)
            with tempfile.TemporaryDirectory() as d:
                paths = []
                for i in range(8):
                    p = Path(d) / f"{i}.wav"
                    sf.write(p, (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32), 16000)
                    paths.append(p)
                STATES.clear()
                sampler = HiddenStateCropSampler(model.frontend.upstream, paths, [0] * len(paths), crop, progress=False)
            make = lambda: sampler.batch(rng, batch)[0]  # noqa: E731
        else:
            make = lambda: torch.randn(batch, crop)  # noqa: E731
        step = _median_step(train_model, opt, make, labels, repeats)
        trainable = sum(p.numel() for p in model.frontend.upstream.parameters() if p.requires_grad)
        rows.append({"recipe": label, "train_step_s": round(step, 3),
                     "upstream_weights_trained_M": round(trainable / 1e6, 3), "_backbone": backbone})
    out = pd.DataFrame(rows)
    full = {b: out.loc[(out["_backbone"] == b) & out["recipe"].str.contains("every weight"), "train_step_s"].iloc[0]
            for b in out["_backbone"].unique()}
    out["speed-up vs every weight"] = [round(full[b] / s, 2) for b, s in zip(out["_backbone"], out["train_step_s"])]
    return out.drop(columns="_backbone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--finetune", action="store_true", help="only the fine-tuning recipes' step times")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    if args.finetune:
        print("SV training step of the tiny upstream under each fine-tuning recipe (cpu profile's ECAPA and batch)")
        print(bench_finetune_recipes(3 if args.quick else 5).to_string(index=False))
        return
    print("Synthetic corpus generation (seconds of audio per second of wall time)")
    print(bench_corpus(args.quick).to_string(index=False), "\n")
    repeats, n_utts = (3, 20) if args.quick else (5, 50)
    rows = [bench_model(p, repeats, n_utts) for p in ("smoke", "cpu", "paper")]
    print("SV training step and full-utterance embedding extraction (CPU)")
    print(pd.DataFrame(rows).to_string(index=False))
    print("\nFrozen-upstream SV training: waveform input vs cached hidden states (cpu profile)")
    print(bench_frozen_cache(repeats, n_utts).to_string(index=False))
    print("\nSV training step of the tiny upstream under each fine-tuning recipe (cpu profile's ECAPA and batch)")
    print(bench_finetune_recipes(repeats).to_string(index=False))


if __name__ == "__main__":
    main()

"""Pre-training targets ("quantizers"): one registry, frame-aligned to the backbone, cached.

Every quantizer turns the pool's utterances into one integer label per
*backbone frame* (50 Hz): label ``t`` describes the audio around the centre
of output frame ``t`` (:meth:`Upstream.frame_centers`), so targets stay
aligned with random crops that start on a frame boundary.

==================== ==========================================================
``kmeans_mfcc``      HuBERT iteration 1: k-means (scikit-learn MiniBatchKMeans)
                     on 39-dim MFCC + deltas + double deltas (100 Hz, the
                     frame nearest each backbone frame centre), standardised.
``kmeans_hidden``    HuBERT iteration 2: k-means on hidden state
                     ``kmeans_layer`` of an earlier upstream (``kmeans_source``:
                     ``run:<run name>``, a directory or a checkpoint name).
``random_projection`` BEST-RQ: frozen random projection of normalised stacked
                     log-mel frames, nearest neighbour in a random normalised
                     codebook (nothing is fitted).
``oracle_phones``    the phone of the synthetic alignment at each frame centre
                     (``n_clusters`` is ignored: K = the phone inventory).
==================== ==========================================================

Targets are computed once per exact configuration (quantizer settings, the
pool's utterances and the backbone's frame geometry) and cached under
``<artifact root>/targets/<hash>``; a cached set is reused, never recomputed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..artifacts import (ArtifactError, artifact_root, atomic_write_bytes, atomic_write_json, file_sha256, move_aside,
                         notice, read_json)
from ..config import ConfigError, PretrainConfig, config_hash
from ..data.corpus import PretrainPool
from ..features import Fbank, MFCCDeltas
from ..upstreams import resolve_upstream_reference
from .backbones import Upstream

__all__ = ["QUANTIZERS", "Targets", "compute_targets", "codebook_stats", "load_waves", "QuantizerError",
           "random_projection_codes"]


class QuantizerError(ConfigError):
    """Targets that cannot be made for this pool and configuration."""


@dataclass
class Targets:
    """Frame labels of every pool utterance at the backbone frame rate."""

    labels: dict[str, np.ndarray]  # utterance key -> (frames,) int64 in [0, n_classes)
    n_classes: int
    info: dict = field(default_factory=dict)  # quantizer facts and codebook statistics

    @property
    def counts(self) -> np.ndarray:
        allc = np.concatenate(list(self.labels.values())) if self.labels else np.zeros(0, np.int64)
        return np.bincount(allc, minlength=self.n_classes)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def load_waves(pool: PretrainPool, sample_rate: int = 16000) -> dict[str, np.ndarray]:
    """Read every utterance of the pool into memory: ``{key: (time,) float32}``."""
    from ..data.audio import read_audio

    return {u.key: read_audio(u.path, sample_rate=sample_rate) for u in pool.utterances}


def _nearest(src_centers: np.ndarray, dst_centers: np.ndarray) -> np.ndarray:
    """Index of the source frame whose centre is nearest each destination centre."""
    idx = np.searchsorted(src_centers, dst_centers)
    idx = np.clip(idx, 1, len(src_centers) - 1) if len(src_centers) > 1 else np.zeros_like(idx)
    if len(src_centers) > 1:
        left = src_centers[idx - 1]
        idx = np.where(np.abs(dst_centers - left) <= np.abs(src_centers[idx] - dst_centers), idx - 1, idx)
    return idx


def _centers(upstream: Upstream, n_samples: int) -> np.ndarray:
    return upstream.frame_centers(upstream.n_frames(n_samples)).numpy()


def codebook_stats(labels: np.ndarray, n_classes: int) -> dict[str, float]:
    """Usage of a codebook: perplexity ``exp(H)``, codes used, majority-class frequency.

    >>> codebook_stats(np.array([0, 1, 2, 3]), 8)["perplexity"]
    4.0
    """
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    p = counts / max(counts.sum(), 1.0)
    nz = p[p > 0]
    return {
        "perplexity": float(np.round(np.exp(-(nz * np.log(nz)).sum()), 6)),
        "codes_used": int((counts > 0).sum()),
        "n_classes": int(n_classes),
        "majority_frequency": float(p.max()) if p.size else 0.0,
        "frames": int(counts.sum()),
    }


def _check_codebook(n_clusters: int, n_frames: int, quantizer: str) -> None:
    if n_clusters < 2:
        raise QuantizerError(f"{quantizer}: n_clusters must be at least 2, got {n_clusters}")
    if n_clusters > n_frames:
        raise QuantizerError(f"{quantizer}: codebook of {n_clusters} entries is larger than the "
                             f"{n_frames} frames available; lower n_clusters or add pre-training data")


def _kmeans(features: dict[str, np.ndarray], cfg: PretrainConfig, name: str) -> tuple[dict[str, np.ndarray], dict]:
    """Standardise, fit MiniBatchKMeans on a seeded frame sample, label every frame."""
    from sklearn.cluster import MiniBatchKMeans

    total = sum(len(f) for f in features.values())
    _check_codebook(cfg.n_clusters, total, name)
    allf = np.concatenate(list(features.values())).astype(np.float32)
    mean, std = allf.mean(0), allf.std(0) + 1e-5
    rng = np.random.default_rng(cfg.seed)
    sample = allf if total <= cfg.kmeans_max_frames else allf[rng.choice(total, cfg.kmeans_max_frames, replace=False)]
    _check_codebook(cfg.n_clusters, len(sample), name)
    km = MiniBatchKMeans(n_clusters=cfg.n_clusters, random_state=cfg.seed, batch_size=4096, n_init=3,
                         max_iter=100, max_no_improvement=20)
    km.fit((sample - mean) / std)
    labels = {k: km.predict((f - mean) / std).astype(np.int64) for k, f in features.items()}
    extra = {"inertia": float(km.inertia_), "fit_frames": int(len(sample)),
             "centers": km.cluster_centers_, "mean": mean, "std": std}
    return labels, extra


# ---------------------------------------------------------------------------
# the four quantizers: (cfg, pool, waves, upstream) -> (labels, n_classes, extra info)
# ---------------------------------------------------------------------------


def _kmeans_mfcc(cfg, pool, waves, upstream):
    mfcc = MFCCDeltas()
    feats = {}
    with torch.no_grad():
        for key, wave in waves.items():
            m = mfcc(torch.from_numpy(wave)).squeeze(0).numpy()  # (frames at 100 Hz, 39)
            feats[key] = m[_nearest(160.0 * np.arange(len(m)), _centers(upstream, len(wave)))]
    labels, extra = _kmeans(feats, cfg, "kmeans_mfcc")
    return labels, cfg.n_clusters, extra


def _kmeans_source(cfg: PretrainConfig) -> str:
    """The upstream whose hidden states k-means clusters (iteration 2), resolved."""
    if not cfg.kmeans_source:
        raise QuantizerError("kmeans_hidden needs pretrain.kmeans_source: 'run:<run name>' (an earlier "
                             "pre-training run), an upstream directory or a checkpoint name")
    return resolve_upstream_reference(cfg.kmeans_source, "pretrain.kmeans_source")


def _kmeans_hidden(cfg, pool, waves, upstream):
    source = Upstream.from_pretrained(_kmeans_source(cfg))
    if not 0 <= cfg.kmeans_layer < source.n_layers:
        raise QuantizerError(f"kmeans_layer {cfg.kmeans_layer} out of range: {cfg.kmeans_source} has "
                             f"hidden states 0..{source.n_layers - 1}")
    source.eval()
    feats = {}
    with torch.no_grad():
        for key, wave in waves.items():
            h = source(torch.from_numpy(wave)[None])[cfg.kmeans_layer][0].float().numpy()
            src_c = source.frame_centers(h.shape[0]).numpy()
            feats[key] = h[_nearest(src_c, _centers(upstream, len(wave)))]
    labels, extra = _kmeans(feats, cfg, "kmeans_hidden")
    return labels, cfg.n_clusters, extra


def random_projection_codes(features: np.ndarray, projection: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """BEST-RQ: nearest normalised codeword to the normalised random projection of each frame.

    ``features`` ``(frames, dim)``, ``projection`` ``(dim, code_dim)``,
    ``codebook`` ``(K, code_dim)`` with unit rows; returns ``(frames,)``.

    >>> codes = random_projection_codes(np.eye(3), np.eye(3), np.eye(3))
    >>> codes.tolist()
    [0, 1, 2]
    """
    z = features @ projection
    z = z / (np.linalg.norm(z, axis=1, keepdims=True) + 1e-8)
    return np.argmax(z @ codebook.T, axis=1).astype(np.int64)  # max cosine = min distance of unit vectors


def _random_projection(cfg, pool, waves, upstream):
    fbank = Fbank()
    feats = {}
    with torch.no_grad():
        for key, wave in waves.items():
            f = fbank(torch.from_numpy(wave)).squeeze(0).numpy()  # (frames at 100 Hz, 80), mean-normalised
            f = f / (f.std(0, keepdims=True) + 1e-5)
            f2 = np.concatenate([f, np.concatenate([f[1:], f[-1:]])], axis=1)  # stack 2 frames: 160 dims
            feats[key] = f2[_nearest(160.0 * np.arange(len(f)) + 80.0, _centers(upstream, len(wave)))]
    total = sum(len(f) for f in feats.values())
    _check_codebook(cfg.n_clusters, total, "random_projection")
    rng = np.random.default_rng(cfg.seed)
    code_dim = 16
    projection = rng.normal(0, np.sqrt(2.0 / (160 + code_dim)), size=(160, code_dim))  # Xavier normal
    codebook = rng.normal(size=(cfg.n_clusters, code_dim))
    codebook /= np.linalg.norm(codebook, axis=1, keepdims=True)
    labels = {k: random_projection_codes(f, projection, codebook) for k, f in feats.items()}
    return labels, cfg.n_clusters, {"projection": projection, "centers": codebook, "code_dim": code_dim}


def phone_inventory(pool: PretrainPool, speech_only: bool = False) -> list[str]:
    """Sorted phone symbols of the pool's alignments (without silences when ``speech_only``)."""
    return sorted({s.phone for u in pool.utterances for s in (u.alignment or ())
                   if not (speech_only and s.phone_class == "silence")})


def _oracle_phones(cfg, pool, waves, upstream):
    missing = [u.key for u in pool.utterances if not u.alignment]
    if missing:
        raise QuantizerError(f"oracle_phones needs phone alignments (synthetic corpus only); "
                             f"{len(missing)} utterances have none, e.g. {missing[0]}")
    phones = phone_inventory(pool)
    index = {p: i for i, p in enumerate(phones)}
    labels = {}
    for u in pool.utterances:
        segs = sorted(u.alignment, key=lambda s: s.start)
        starts = np.array([s.start for s in segs])
        t = _centers(upstream, len(waves[u.key])) / 16000.0
        seg = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(segs) - 1)
        labels[u.key] = np.array([index[segs[i].phone] for i in seg], dtype=np.int64)
    return labels, len(phones), {"phones": phones}


QUANTIZERS: dict[str, Callable] = {
    "kmeans_mfcc": _kmeans_mfcc,
    "kmeans_hidden": _kmeans_hidden,
    "random_projection": _random_projection,
    "oracle_phones": _oracle_phones,
}


def check_quantizer(name: str) -> None:
    if name not in QUANTIZERS:
        raise ConfigError(f"unknown quantizer {name!r}; valid quantizers: {', '.join(QUANTIZERS)}")


# ---------------------------------------------------------------------------
# cached entry point
# ---------------------------------------------------------------------------


def _pool_digest(pool: PretrainPool) -> str:
    h = hashlib.sha256()
    for u in pool.utterances:
        h.update(f"{u.key}|{u.path}|{u.seconds:.6f}\n".encode())
    return h.hexdigest()[:16]


def targets_key(cfg: PretrainConfig, pool: PretrainPool, upstream: Upstream) -> dict:
    """Everything the targets depend on (and nothing else)."""
    key = {"quantizer": cfg.quantizer, "pool": _pool_digest(pool), "frames": upstream.frame_spec}
    if cfg.quantizer != "oracle_phones":
        key.update(n_clusters=cfg.n_clusters, seed=cfg.seed)
    if cfg.quantizer.startswith("kmeans"):
        key["kmeans_max_frames"] = cfg.kmeans_max_frames
    if cfg.quantizer == "kmeans_hidden":
        key.update(source=_kmeans_source(cfg), layer=cfg.kmeans_layer)
    return key


def _load_cached_targets(directory: Path, key: dict) -> Targets | None:
    """The cached targets in ``directory`` when they provably are those of ``key``; else ``None`` (said why).

    The cache must record this very key and the SHA-256 of its labels file; anything else (an old
    cache, a truncated or edited file) is moved aside and the targets are computed again.
    """
    meta_file, labels_file = directory / "targets.json", directory / "labels.npz"
    try:
        meta = read_json(meta_file, "target cache index")
        if meta.get("key") != json.loads(json.dumps(key)):
            why = "it records another setting"
        elif not labels_file.is_file() or meta.get("labels_sha256") != file_sha256(labels_file):
            why = "labels.npz is missing or differs from the SHA-256 it recorded"
        else:
            with np.load(labels_file, allow_pickle=False) as z:
                labels = {k: z[k].astype(np.int64) for k in meta["keys"]}
            return Targets(labels, int(meta["n_classes"]), meta["info"])
    except (ArtifactError, KeyError, ValueError, OSError) as e:
        why = str(e)
    aside = move_aside(directory)
    notice(f"not reusing the target cache {directory}: {why}; moved it to {aside} and computing it again")
    return None


def compute_targets(cfg: PretrainConfig, pool: PretrainPool, waves: dict[str, np.ndarray], upstream: Upstream,
                    cache: bool = True, log=None) -> Targets:
    """Labels of every utterance for ``cfg.quantizer``, from the cache when this exact setting was made before."""
    check_quantizer(cfg.quantizer)
    key = targets_key(cfg, pool, upstream)
    directory = artifact_root() / "targets" / f"{cfg.quantizer}-{config_hash(key)}"
    meta_file = directory / "targets.json"
    if cache and meta_file.is_file():
        cached = _load_cached_targets(directory, key)
        if cached is not None:
            return cached
    if log:
        log(f"computing {cfg.quantizer} targets -> {directory}")
    labels, n_classes, extra = QUANTIZERS[cfg.quantizer](cfg, pool, waves, upstream)
    arrays = {k: v for k, v in extra.items() if isinstance(v, np.ndarray)}
    info = {k: v for k, v in extra.items() if not isinstance(v, np.ndarray)}
    info["codebook"] = codebook_stats(np.concatenate(list(labels.values())), n_classes)
    if cache:
        import io

        directory.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **{k: v.astype(np.int16 if n_classes < 32000 else np.int32) for k, v in labels.items()})
        atomic_write_bytes(directory / "labels.npz", buf.getvalue())
        for name, arr in arrays.items():  # k-means centres, projection: plain arrays, no pickles
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write_bytes(directory / f"{name}.npy", buf.getvalue())
        atomic_write_json(meta_file, {"key": key, "n_classes": n_classes, "info": info, "keys": list(labels),
                                      "labels_sha256": file_sha256(directory / "labels.npz")})
    return Targets(labels, n_classes, info)

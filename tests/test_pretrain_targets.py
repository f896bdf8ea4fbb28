"""Pre-training targets: one label per backbone frame, crops that pick the matching frames, an exact cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslsv.pretrain import QUANTIZERS, Targets, build_upstream, compute_targets
from sslsv.pretrain.data import HOP, PretrainData, load_pool
from sslsv.pretrain.quantizers import load_waves


@pytest.fixture
def pool_and_waves(pretrain_config):
    cfg = pretrain_config({})
    pool = load_pool(cfg, progress=False)
    return pool, load_waves(pool)


@pytest.mark.parametrize("backbone", ["hubert", "w2v_bert"])
@pytest.mark.parametrize("quantizer", list(QUANTIZERS))
def test_one_target_per_backbone_frame(quantizer, backbone, pretrain_config, pool_and_waves, tmp_path):
    source = tmp_path / "iteration1"  # kmeans_hidden: the other backbone family's frames, resampled to these
    build_upstream("w2v_bert" if backbone == "hubert" else "hubert", "tiny").save_pretrained(source)
    cfg = pretrain_config({"pretrain.quantizer": quantizer, "pretrain.backbone": backbone,
                           "pretrain.kmeans_source": str(source)})
    pool, waves = pool_and_waves
    torch.manual_seed(0)
    upstream = build_upstream(backbone, "tiny").eval()
    targets = compute_targets(cfg.pretrain, pool, waves, upstream, cache=False)
    assert set(targets.labels) == set(waves)
    for key, wave in list(waves.items())[:4]:  # the frames the backbone really outputs for this utterance
        with torch.no_grad():
            frames = upstream(torch.from_numpy(wave)[None])[-1].shape[1]
        assert len(targets.labels[key]) == frames == upstream.n_frames(len(wave)), key
    for key, wave in waves.items():
        assert len(targets.labels[key]) == upstream.n_frames(len(wave)), key
        assert targets.labels[key].min() >= 0 and targets.labels[key].max() < targets.n_classes


@pytest.mark.parametrize("backbone", ["hubert", "w2v_bert"])
def test_crops_select_the_matching_frames(backbone, pretrain_config, pool_and_waves):
    """Labels that encode (utterance, frame) show which frames a crop's targets are: those under its samples."""
    cfg = pretrain_config({"pretrain.backbone": backbone})
    pool, waves = pool_and_waves
    upstream = build_upstream(backbone, "tiny")
    keys = [u.key for u in pool.utterances]
    labels = {k: 1000 * i + np.arange(upstream.n_frames(len(waves[k]))) for i, k in enumerate(keys)}
    data = PretrainData(cfg.pretrain, pool, waves, upstream, Targets(labels, 1000 * len(keys)), 4, 10)
    # a crop's frames are the utterance's frames [s, s + crop_frames): shifting by s frames moves every centre by s hops
    centers = upstream.frame_centers(upstream.n_frames(len(waves[keys[0]]))).numpy()
    assert np.allclose(centers[5:5 + data.crop_frames] - 5 * HOP, upstream.frame_centers(data.crop_frames).numpy())
    assert data.crop_frames == upstream.n_frames(data.crop)
    seen = 0
    for step in range(5):
        batch = data(step)
        assert batch["targets"].shape == (4, data.crop_frames) and batch["wave"].shape == (4, data.crop)
        for wave, row in zip(batch["wave"].numpy(), batch["targets"].numpy()):
            key, s = keys[row[0] // 1000], int(row[0] % 1000)
            valid = row[row != -100]
            np.testing.assert_array_equal(valid, labels[key][s:s + data.crop_frames])
            segment = waves[key][s * HOP: s * HOP + data.crop]
            np.testing.assert_array_equal(wave[: len(segment)], segment)
            seen += 1
    assert seen == 20


def _quantizer_must_not_run(*args, **kwargs):
    raise AssertionError("targets were recomputed")


def test_target_cache_serves_the_same_setting_only(pretrain_config, pool_and_waves, monkeypatch):
    cfg = pretrain_config({"pretrain.quantizer": "random_projection"})
    pool, waves = pool_and_waves
    upstream = build_upstream("hubert", "tiny")
    first = compute_targets(cfg.pretrain, pool, waves, upstream)
    real = QUANTIZERS["random_projection"]
    monkeypatch.setitem(QUANTIZERS, "random_projection", _quantizer_must_not_run)
    again = compute_targets(cfg.pretrain, pool, waves, upstream)  # served from the cache
    assert again.n_classes == first.n_classes and again.labels.keys() == first.labels.keys()
    assert all(np.array_equal(again.labels[k], first.labels[k]) for k in first.labels)

    other = pretrain_config({"pretrain.quantizer": "random_projection", "pretrain.n_clusters": 12})
    with pytest.raises(AssertionError, match="recomputed"):  # another setting is not served the first one's cache
        compute_targets(other.pretrain, pool, waves, upstream)
    monkeypatch.setitem(QUANTIZERS, "random_projection", real)
    assert compute_targets(other.pretrain, pool, waves, upstream).n_classes == 12
    caches = sorted(p.name for p in _root().glob("*"))
    assert len(caches) == 2 and all(name.startswith("random_projection-") for name in caches), caches


def test_damaged_labels_file_is_recomputed(pretrain_config, pool_and_waves, monkeypatch, capsys):
    cfg = pretrain_config({"pretrain.quantizer": "random_projection"})
    pool, waves = pool_and_waves
    upstream = build_upstream("hubert", "tiny")
    first = compute_targets(cfg.pretrain, pool, waves, upstream)
    (cache,) = _root().glob("random_projection-*")
    labels_file = cache / "labels.npz"
    labels_file.write_bytes(labels_file.read_bytes()[:-100])  # truncated
    calls = []
    real = QUANTIZERS["random_projection"]
    monkeypatch.setitem(QUANTIZERS, "random_projection", lambda *a: calls.append(1) or real(*a))
    again = compute_targets(cfg.pretrain, pool, waves, upstream)
    assert calls == [1]
    assert all(np.array_equal(again.labels[k], first.labels[k]) for k in first.labels)
    assert "not reusing the target cache" in capsys.readouterr().err
    assert len(list(_root().glob("random_projection-*.set-aside-*"))) == 1
    compute_targets(cfg.pretrain, pool, waves, upstream)  # the recomputed cache is served again
    assert calls == [1]


def _root():
    from sslsv.artifacts import artifact_root

    return artifact_root() / "targets"

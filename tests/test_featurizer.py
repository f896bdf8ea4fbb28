"""The SSL front-end: layer featurizer, frozen vs fine-tuned upstream, upstream references."""

import pytest
import torch

from sslsv.config import resolve
from sslsv.sv import pipeline
from sslsv.sv.featurizer import SSLFrontend, build_ssl_frontend, resolve_upstream_reference, weighted_layer_sum

SSL = {"frontend.kind": "ssl", "frontend.upstream": "init:hubert:tiny", "ecapa.channels": 16,
       "ecapa.attention_channels": 8, "ecapa.embedding_dim": 8}


def test_weighted_layer_sum_equal_init_is_mean_of_normalised_layers():
    h = [torch.randn(2, 5, 4) for _ in range(3)]
    out = weighted_layer_sum(h, torch.zeros(3))
    expected = sum(torch.nn.functional.layer_norm(x, (4,)) for x in h) / 3
    torch.testing.assert_close(out, expected)


def test_weighted_layer_sum_one_hot_selects_a_layer():
    h = [torch.randn(1, 3, 4) for _ in range(3)]
    out = weighted_layer_sum(h, torch.tensor([-1e4, 1e4, -1e4]))
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(h[1], (4,)))


def test_frozen_frontend_only_trains_layer_weights():
    front = build_ssl_frontend("init:hubert:tiny", finetune=False)
    assert all(not p.requires_grad for p in front.upstream.parameters())
    out = front(torch.randn(2, 8000))
    out.sum().backward()
    assert front.layer_logits.grad is not None
    front.train()
    assert not front.upstream.training  # no dropout in a frozen upstream


def test_finetuned_frontend_param_groups():
    cfg = resolve("smoke", {**SSL, "frontend.finetune": True, "frontend.upstream_lr_scale": 0.1})
    model = pipeline.build_speaker_model(cfg)
    groups = pipeline.param_groups(model, cfg)
    scales = sorted(g["lr_scale"] for g in groups)
    assert scales == [0.1, 1.0, cfg.frontend.layer_weights_lr_scale]
    n_up = sum(p.numel() for p in model.frontend.upstream.parameters())
    up_group = next(g for g in groups if g["lr_scale"] == 0.1)
    assert sum(p.numel() for p in up_group["params"]) == n_up


def test_random_init_is_seeded():
    a = build_ssl_frontend("init:wavlm:tiny", False, seed=1)
    b = build_ssl_frontend("init:wavlm:tiny", False, seed=1)
    c = build_ssl_frontend("init:wavlm:tiny", False, seed=2)
    pa, pb, pc = (next(f.upstream.parameters()) for f in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_saved_upstream_loads_by_path(tmp_path):
    front = build_ssl_frontend("init:hubert:tiny", False)
    front.upstream.save_pretrained(tmp_path / "up")
    again = build_ssl_frontend(str(tmp_path / "up"), False)
    wave = torch.randn(1, 8000)
    torch.testing.assert_close(front(wave), again(wave))


def test_missing_upstream_run_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pretrain-nothere"):
        resolve_upstream_reference("run:pretrain-nothere")
    with pytest.raises(ValueError, match="frontend.upstream is empty"):
        pipeline.build_speaker_model(resolve("smoke", {"frontend.kind": "ssl"}))


def test_ssl_speaker_model_end_to_end_shapes():
    model = pipeline.build_speaker_model(resolve("smoke", SSL))
    assert isinstance(model.frontend, SSLFrontend)
    assert model(torch.randn(2, 16000)).shape == (2, 8)

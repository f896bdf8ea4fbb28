"""Upstream backbones: presets, published sizes, save/load, public-checkpoint stand-ins, bad checkpoints."""

from __future__ import annotations

import pytest
import torch

from sslsv.pretrain import SIZES, Upstream, UpstreamLoadError, backbone_config, build_upstream, count_parameters


@pytest.mark.parametrize("backbone", ["hubert", "wavlm", "w2v_bert"])
def test_interface_and_save_load_identical(backbone, tmp_path):
    torch.manual_seed(0)
    up = build_upstream(backbone, "tiny").eval()
    wave = torch.randn(2, 16000)
    with torch.no_grad():
        states = up(wave)
    assert len(states) == up.n_layers == SIZES["tiny"].layers + 1
    assert all(s.shape == (2, up.n_frames(16000), up.hidden_size) for s in states)
    assert up.frame_rate_hz == 50.0
    up.save_pretrained(tmp_path / "up")
    assert (tmp_path / "up" / "model.safetensors").is_file()
    again = Upstream.from_pretrained(tmp_path / "up").eval()
    assert again.family == backbone
    with torch.no_grad():
        for a, b in zip(states, again(wave)):
            assert torch.equal(a, b)


def _no_dropout(backbone, **kw):
    """A tiny upstream without dropout (so train-mode outputs are deterministic)."""
    from transformers import HubertModel

    torch.manual_seed(0)
    cfg = backbone_config(backbone, "tiny")
    cfg.hidden_dropout = cfg.attention_dropout = cfg.activation_dropout = cfg.feat_proj_dropout = 0.0
    return Upstream(HubertModel(cfg), backbone, **kw)


def test_mask_changes_only_with_mask_and_train_mode_does_not_mask():
    up = _no_dropout("hubert")
    up.train()
    wave = torch.randn(1, 16000)
    a, b = up(wave)[-1], up(wave)[-1]
    assert torch.equal(a, b)  # transformers' own SpecAugment never fires
    mask = torch.zeros(1, up.n_frames(16000), dtype=torch.bool)
    mask[0, 10:20] = True
    assert not torch.allclose(up(wave, mask)[-1], a)


def test_conv_gradient_is_scaled():
    torch.manual_seed(0)
    grads = {}
    for scale in (1.0, 0.1):
        up = _no_dropout("hubert", feature_grad_scale=scale).train()
        up(torch.randn(1, 8000, generator=torch.Generator().manual_seed(1)))[-1].sum().backward()
        grads[scale] = up.model.feature_extractor.conv_layers[0].conv.weight.grad.clone()
    torch.testing.assert_close(grads[0.1], 0.1 * grads[1.0], rtol=1e-2, atol=1e-6)


@pytest.mark.parametrize("backbone,size,published_millions", [
    ("hubert", "base", 95), ("wavlm", "base", 95), ("hubert", "large", 317), ("wavlm", "large", 317)])
def test_published_parameter_counts(backbone, size, published_millions):
    n = count_parameters(backbone, size) / 1e6
    assert abs(n - published_millions) / published_millions < 0.01, n
    cfg = backbone_config(backbone, size)
    assert (cfg.num_hidden_layers, cfg.hidden_size) == {"base": (12, 768), "large": (24, 1024)}[size]


def _standins():
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    return [(HubertModel, HubertConfig(**small), "hubert"), (WavLMModel, WavLMConfig(**small), "wavlm"),
            (Wav2Vec2Model, Wav2Vec2Config(**small), "wav2vec2")]


@pytest.mark.parametrize("model_cls,config,family", _standins(), ids=["hubert", "wavlm", "wav2vec2"])
def test_public_checkpoint_standin_loads_by_path(model_cls, config, family, tmp_path):
    """A tiny config saved with transformers' own save_pretrained stands in for e.g. facebook/hubert-base-ls960."""
    torch.manual_seed(0)
    model = model_cls(config).eval()
    model.save_pretrained(tmp_path / "ckpt", safe_serialization=True)
    up = Upstream.from_pretrained(str(tmp_path / "ckpt")).eval()
    assert up.family == family and up.n_layers == 3 and up.hidden_size == 32
    wave = torch.randn(1, 8000)
    with torch.no_grad():
        ref = model(wave, output_hidden_states=True).hidden_states
        for a, b in zip(ref, up(wave)):
            torch.testing.assert_close(a, b)


def test_bad_checkpoint_directories(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(UpstreamLoadError, match="no config.json"):
        Upstream.from_pretrained(tmp_path)
    up = build_upstream("hubert", "tiny")
    up.save_pretrained(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(UpstreamLoadError, match="cannot load upstream"):
        Upstream.from_pretrained(tmp_path / "corrupt")
    # weights of the tiny preset under the config of the small one
    build_upstream("hubert", "small").save_pretrained(tmp_path / "mismatch")
    up.save_pretrained(tmp_path / "tiny")
    (tmp_path / "mismatch" / "model.safetensors").write_bytes((tmp_path / "tiny" / "model.safetensors").read_bytes())
    with pytest.raises(UpstreamLoadError):
        Upstream.from_pretrained(tmp_path / "mismatch")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "odd" / "model.safetensors").write_bytes(b"")
    with pytest.raises(UpstreamLoadError, match="unsupported model_type 'bert'"):
        Upstream.from_pretrained(tmp_path / "odd")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid sizes: micro, tiny, small, medium, base, large"):
        build_upstream("hubert", "huge")
    with pytest.raises(ValueError, match="valid backbones: hubert, wavlm, w2v_bert"):
        build_upstream("conformer", "tiny")


def test_no_unsafe_torch_load_or_remote_code():
    from pathlib import Path

    import sslsv

    root = Path(sslsv.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"
            assert "trust_remote_code=True" not in line, f"{path}: {line.strip()}"

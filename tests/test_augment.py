"""On-the-fly augmentation from stand-in MUSAN and RIR directories (issue 25, item 3).

No MUSAN or RIR set can be downloaded here: the tests write small directories in
their layouts with the synthetic generator's noise and room models.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sslsv.config import resolve
from sslsv.data.augment import SNR_DB, AugmentError, Augmenter, build_augmenter, reverberate
from sslsv.data.batching import CropSampler
from sslsv.data.synthetic.channel import _coloured_noise, _room_impulse_response

SR = 16000


def write_musan(root, n_per_kind=3, seconds=1.0, seed=0):
    """``noise/``, ``music/`` (tones), ``speech/`` (band-limited noise) with a few 16 kHz files each."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    makers = {
        "noise": lambda i: _coloured_noise(["white", "pink", "brown"][i % 3], n, rng, SR),
        "music": lambda i: np.sin(2 * np.pi * (220 + 110 * i) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)),
        "speech": lambda i: _coloured_noise("pink", n, rng, SR) * (np.sin(2 * np.pi * 4 * t) > 0),
    }
    for kind, make in makers.items():
        for i in range(n_per_kind):
            path = root / kind / f"{kind}-{i:04d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            x = make(i)
            sf.write(path, 0.3 * x / np.max(np.abs(x)), SR)
    return root


def write_rirs(root, n=3, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = root / "smallroom" / f"Room{i:03d}-00001.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, _room_impulse_response(0.2 + 0.2 * i, 5.0, rng, SR), SR)
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("augment")
    return write_musan(base / "musan"), write_rirs(base / "rirs")


def speech_like(n=SR, seed=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.3 * np.sin(2 * np.pi * 150 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("kind", ["noise", "music", "babble"])
def test_each_musan_kind_is_added_at_an_snr_of_its_range(kind, sources):
    musan, _ = sources
    aug = build_augmenter(str(musan), "", probability=1.0)
    aug.sources = {kind: aug.sources[kind]}  # only this kind
    x = speech_like()
    for seed in range(5):
        y, applied = aug(x, np.random.default_rng(seed))
        assert applied == kind
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
        lo, hi = SNR_DB[kind]
        assert lo - 1e-3 <= snr <= hi + 1e-3, (kind, snr)


def test_reverberation_is_the_convolution_with_the_unit_energy_rir_aligned_on_its_peak(sources):
    _, rirs = sources
    aug = build_augmenter("", str(rirs), probability=1.0)
    x = speech_like(8000)
    y, kind = aug(x, np.random.default_rng(0))
    assert kind == "reverb" and y.shape == x.shape and y.dtype == np.float32
    rir = None
    for path in aug.sources["reverb"]:
        r, _ = sf.read(path, dtype="float32")
        if np.allclose(reverberate(x, r), y):
            rir = r
    assert rir is not None
    r = rir / np.sqrt(np.sum(rir.astype(np.float64) ** 2))
    peak = int(np.argmax(np.abs(r)))
    direct = np.convolve(x.astype(np.float64), r.astype(np.float64))[peak:peak + len(x)]  # the definition
    np.testing.assert_allclose(y, direct, atol=1e-4)


def test_augmentation_is_a_pure_function_of_the_generator(sources):
    musan, rirs = sources
    aug = build_augmenter(str(musan), str(rirs), probability=0.6)
    x = speech_like()
    a = [aug(x, np.random.default_rng(s)) for s in range(20)]
    b = [aug(x, np.random.default_rng(s)) for s in range(20)]
    assert all(np.array_equal(p[0], q[0]) and p[1] == q[1] for p, q in zip(a, b))
    kinds = {k for _, k in a}
    assert {"none", "reverb"} <= kinds and len(kinds) >= 4  # clean crops, reverb and MUSAN kinds all occur


def test_a_sampler_with_augmentation_keeps_its_crops_and_labels(sources, tmp_path):
    musan, rirs = sources
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"u{i}.wav")
        sf.write(paths[-1], speech_like(SR, seed=i), SR)
    plain = CropSampler(paths, [0, 1, 2], 8000)
    augmented = CropSampler(paths, [0, 1, 2], 8000, augment=build_augmenter(str(musan), str(rirs), 1.0))
    w0, l0 = plain.batch(np.random.default_rng(3), 6)
    w1, l1 = augmented.batch(np.random.default_rng(3), 6)
    w2, _ = augmented.batch(np.random.default_rng(3), 6)
    assert torch.equal(l0, l1) and w1.shape == w0.shape and w1.dtype == torch.float32
    assert not torch.equal(w0, w1) and torch.equal(w1, w2)


@pytest.mark.parametrize("what, expected", [
    ("missing musan", "train.musan_root='{root}/nowhere': no such directory"),
    ("empty musan", "train.musan_root='{root}/empty' holds no audio under noise/, music/ or speech/"),
    ("missing rir", "train.rir_root='{root}/nowhere': no such directory"),
    ("empty rir", "train.rir_root='{root}/empty' holds no .wav or .flac file"),
])
def test_a_missing_or_empty_directory_is_one_line_naming_the_key(what, expected, tmp_path):
    (tmp_path / "empty" / "noise").mkdir(parents=True)
    (tmp_path / "empty" / "noise" / "README").write_text("no audio")
    folder = str(tmp_path / ("nowhere" if what.startswith("missing") else "empty"))
    args = (folder, "") if what.endswith("musan") else ("", folder)
    with pytest.raises(AugmentError) as e:
        build_augmenter(*args, probability=0.6)
    assert expected.format(root=tmp_path) in str(e.value) and "\n" not in str(e.value)


def test_augmentation_audio_at_another_rate_is_refused(tmp_path):
    (tmp_path / "rirs").mkdir()
    sf.write(tmp_path / "rirs" / "r.wav", np.ones(100), 8000)
    with pytest.raises(AugmentError, match="sample rate 8000 Hz, expected 16000 Hz"):
        build_augmenter("", str(tmp_path / "rirs"), 0.6)


def test_off_at_smoke_and_cpu_on_at_paper_and_hash_neutral_when_off():
    from sslsv.config import SVConfig, config_hash, to_dict

    for profile in ("smoke", "cpu"):
        t = resolve(profile).train
        assert t.musan_root == "" and t.rir_root == ""
    paper = resolve("paper").train
    assert paper.musan_root and paper.rir_root
    old = to_dict(SVConfig())
    for key in ("musan_root", "rir_root", "augment_probability"):
        del old["train"][key]
    assert config_hash(SVConfig()) == config_hash(old)


def test_an_sv_run_with_augmentation_trains_and_refuses_cached_states(sources, tmp_path, monkeypatch):
    from test_sv import TINY

    from sslsv.config import ConfigError
    from sslsv.sv import pipeline

    musan, rirs = sources
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    sets = {**TINY, "train.musan_root": str(musan), "train.rir_root": str(rirs)}
    result = pipeline.run_sv(resolve("smoke", sets), progress=False)
    import json
    assert "musan" in json.loads(result.run.file("MANIFEST.json").read_text())["inputs"]
    assert 0 <= result.metrics["eer_percent"] <= 100
    with pytest.raises(ConfigError, match="frontend.cache_features trains on stored hidden states"):
        pipeline.check_sv_config(resolve("smoke", {**sets, "frontend.kind": "ssl", "frontend.upstream": "init:hubert:tiny",
                                                   "frontend.cache_features": True}))
    with pytest.raises(AugmentError, match="train.rir_root="):
        pipeline.run_sv(resolve("smoke", {**sets, "train.rir_root": str(tmp_path / "gone")}), progress=False)
    assert len([p for p in (tmp_path / "artifacts" / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]) == 1

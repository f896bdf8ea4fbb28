"""Objectives, masks and quantizers as pure functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sslsv.pretrain import MaskError, compute_mask, contrastive_loss, cosine_logits, hubert_loss
from sslsv.pretrain.objectives import OBJECTIVES, check_objective, diversity_loss
from sslsv.pretrain.quantizers import QUANTIZERS, check_quantizer, codebook_stats, random_projection_codes


def test_hubert_loss_weights_are_the_two_terms():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 30, 7), torch.randint(0, 7, (2, 30))
    mask = torch.from_numpy(compute_mask((2, 30), 0.1, 5, np.random.default_rng(0)))
    lm, _ = hubert_loss(logits, targets, mask, 1.0, 0.0)
    lu, _ = hubert_loss(logits, targets, mask, 0.0, 1.0)
    mix, logs = hubert_loss(logits, targets, mask, 1.0, 0.5)
    torch.testing.assert_close(mix, lm + 0.5 * lu)
    torch.testing.assert_close(lm, torch.nn.functional.cross_entropy(logits[mask], targets[mask]))
    assert logs["masked_frames"] == float(mask.sum())
    targets[0, :] = -100  # padding is ignored
    loss, _ = hubert_loss(logits, targets, None, 0.0, 1.0)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits[1], targets[1]))


def test_cosine_logits_temperature():
    x, emb = torch.randn(1, 3, 4), torch.randn(5, 4)
    torch.testing.assert_close(cosine_logits(x, emb, 0.1), 10 * cosine_logits(x, emb, 1.0))
    assert cosine_logits(x, emb, 1.0).abs().max() <= 1.0 + 1e-6


def test_mask_is_seeded_and_about_half_at_published_settings():
    a = compute_mask((8, 500), 0.08, 10, np.random.default_rng(1))
    b = compute_mask((8, 500), 0.08, 10, np.random.default_rng(1))
    assert (a == b).all()
    assert 0.35 < a.mean() < 0.65
    state = np.random.get_state()[1].copy()
    compute_mask((2, 50), 0.1, 5, np.random.default_rng(2))
    assert (np.random.get_state()[1] == state).all()  # the global generator is left alone


def test_mask_that_covers_everything_is_refused():
    with pytest.raises(MaskError, match="masks every frame"):
        compute_mask((2, 10), 0.5, 10, np.random.default_rng(0))
    with pytest.raises(MaskError, match="mask_prob"):
        compute_mask((2, 100), 1.0, 5, np.random.default_rng(0))
    refused = 0
    for seed in range(20):  # 2 spans of 2 frames among 4: some draws cover every frame
        try:
            compute_mask((1, 4), 0.9, 2, np.random.default_rng(seed))
        except MaskError as e:
            assert "masks every one of 4 frames" in str(e)
            refused += 1
    assert refused > 0


def test_contrastive_and_diversity():
    torch.manual_seed(0)
    q = torch.randn(2, 8, 4)
    mask = torch.ones(2, 8, dtype=torch.bool)
    neg = torch.stack([torch.roll(torch.arange(8), 1) + 8 * b for b in range(2)])[..., None]
    loss, logs = contrastive_loss(q, q, mask, neg)
    assert logs["contrastive_acc"] == 1.0 and float(loss) < 0.1
    loss2, _ = contrastive_loss(-q, q, mask, neg)
    assert float(loss2) > float(loss)
    assert float(diversity_loss(torch.tensor(1.0), 10)) == pytest.approx(0.9)


def test_registries_reject_unknown_names():
    assert set(OBJECTIVES) == {"masked", "unmasked", "mixed", "contrastive", "ctc"}
    assert set(QUANTIZERS) == {"kmeans_mfcc", "kmeans_hidden", "random_projection", "oracle_phones"}
    with pytest.raises(ValueError, match="valid objectives: masked, unmasked, mixed, contrastive, ctc"):
        check_objective("maskd")
    with pytest.raises(ValueError, match="valid quantizers: kmeans_mfcc, kmeans_hidden"):
        check_quantizer("vq")


def test_random_projection_is_nearest_unit_codeword():
    rng = np.random.default_rng(0)
    feats, proj = rng.normal(size=(50, 6)), rng.normal(size=(6, 3))
    book = rng.normal(size=(8, 3))
    book /= np.linalg.norm(book, axis=1, keepdims=True)
    codes = random_projection_codes(feats, proj, book)
    z = feats @ proj
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    dist = ((z[:, None] - book[None]) ** 2).sum(-1)
    assert (codes == dist.argmin(1)).all()


def test_codebook_stats():
    s = codebook_stats(np.array([0, 0, 1, 3]), 5)
    assert s["codes_used"] == 3 and s["majority_frequency"] == 0.5 and 2.0 < s["perplexity"] < 3.0


def test_token_error_rate_uses_known_edit_distances():
    from sslsv.pretrain.objectives import edit_distance, token_error_rate

    assert [edit_distance(a, b) for a, b in [("kitten", "sitting"), ([], [1, 2]), ([1, 2, 3], [1, 3]),
                                             ([4, 5], [4, 5]), ([1, 2], [2, 1])]] == [3, 2, 1, 0, 2]
    assert token_error_rate([[1, 3], [2]], [[1, 2, 3], [2]]) == 0.25
    assert token_error_rate([[]], [[]]) == 0.0


def test_installed_transformers_provides_the_private_mask_sampler():
    """masking.py imports transformers' private samplers in one place, under the range pyproject.toml pins."""
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    from packaging.requirements import Requirement

    from sslsv.pretrain import masking

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    (declared,) = [r for r in project["dependencies"] if Requirement(r).name == "transformers"]
    assert Requirement(declared) == Requirement(masking.TRANSFORMERS_REQUIREMENT)
    assert Requirement(declared).specifier.contains(version("transformers"), prereleases=True)
    with masking.seeded_numpy(np.random.default_rng(0)):
        mask = masking._compute_mask_indices((16, 400), 0.8, 10, min_masks=2)  # fairseq's mask_prob: 0.8 / 10 starts
    assert mask.shape == (16, 400) and mask.dtype == bool
    assert 0.35 < mask.mean() < 0.65  # overlapping spans of 10 from 8 % starts: about half the frames
    assert (mask.sum(1) >= 10).all()  # at least min_masks spans


def test_missing_private_sampler_names_the_transformers_range(monkeypatch):
    import importlib.util
    import sys
    import types

    from sslsv.pretrain import masking

    monkeypatch.setitem(sys.modules, "transformers.models.wav2vec2.modeling_wav2vec2",
                        types.ModuleType("transformers.models.wav2vec2.modeling_wav2vec2"))  # a release without them
    spec = importlib.util.spec_from_file_location("masking_copy", masking.__file__)
    with pytest.raises(ImportError, match=r"install 'transformers>=4.40,<6', the range in pyproject.toml"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

"""Loss landscapes: filter normalisation, grid centre, paths, Hessian eigenvalue, run loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sslsv.analysis.landscape import (
    TrainingLoss, evaluate_grid, fixed_batches, initial_training_model, interpolation_curve, landscape_parameters,
    landscape_study, load_training_model, loss_curve, loss_on_batches, loss_surface, normalize_direction,
    random_direction, sharpness_at_radius, top_hessian_eigenvalue)
from sslsv.config import EcapaConfig, resolve, to_dict
from sslsv.sv.model import AAMSoftmaxHead, FbankFrontend, SpeakerModel, SVTrainingModel

N_SPEAKERS = 5


def tiny_training_model(seed: int = 0) -> SVTrainingModel:
    torch.manual_seed(seed)
    speaker_model = SpeakerModel(FbankFrontend(), EcapaConfig(channels=16, attention_channels=8, embedding_dim=16))
    return SVTrainingModel(speaker_model, AAMSoftmaxHead(16, N_SPEAKERS)).eval()


@pytest.fixture(scope="module")
def setup():
    model = tiny_training_model()
    loss_module = TrainingLoss(model).eval()
    g = torch.Generator().manual_seed(0)
    batches = [(0.1 * torch.randn(3, 4000, generator=g), torch.tensor([0, 1, 4])),
               (0.1 * torch.randn(2, 4000, generator=g), torch.tensor([2, 3]))]
    return model, loss_module, batches


def test_directions_are_filter_normalised(setup):
    _, loss_module, _ = setup
    weights = landscape_parameters(loss_module)
    d = random_direction(weights, seed=3)
    assert set(d) == set(weights)
    n_multi = 0
    for name, w in weights.items():
        if w.dim() <= 1:  # biases and batch-norm parameters: zero in the direction
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            n_multi += 1
            torch.testing.assert_close(d[name].flatten(1).norm(dim=1), w.flatten(1).norm(dim=1), rtol=1e-5, atol=1e-6)
    assert n_multi > 5
    # conv kernels (3-D) and the head's speaker prototypes (2-D) are both normalised
    assert any(w.dim() == 3 for w in weights.values())
    assert weights["model.head.classifier.weight"].dim() == 2
    # the same seed gives the same direction, another seed another one
    assert all(torch.equal(d[n], random_direction(weights, 3)[n]) for n in d)
    assert not torch.equal(d["model.head.classifier.weight"], random_direction(weights, 4)["model.head.classifier.weight"])


def test_normalize_direction_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        normalize_direction({"w": torch.ones(2, 3)}, {"w": torch.ones(3, 2)})


def test_grid_centre_reproduces_the_trained_loss(setup):
    model, loss_module, batches = setup
    with torch.no_grad():
        direct = sum(len(b[0]) * float(model(*b)[0]) for b in batches) / sum(len(b[0]) for b in batches)
    assert loss_on_batches(loss_module, batches) == pytest.approx(direct, rel=1e-6)
    base = landscape_parameters(loss_module)
    d1, d2 = random_direction(base, 0), random_direction(base, 1)
    surface = loss_surface(loss_module, batches, d1, d2, [-0.5, 0.0, 0.5], [-0.5, 0.0, 0.5], base)
    assert len(surface) == 9
    centre = surface[(surface.alpha == 0) & (surface.beta == 0)]["loss"].item()
    assert centre == pytest.approx(direct, rel=1e-5)
    curve = loss_curve(loss_module, batches, d1, [-0.2, 0.0, 0.2], base)
    assert curve.loc[1, "loss"] == pytest.approx(direct, rel=1e-5)
    # the model itself is left untouched
    assert loss_on_batches(loss_module, batches) == pytest.approx(direct, rel=1e-6)


def test_vectorised_grid_equals_the_loop(setup):
    _, loss_module, batches = setup
    base = landscape_parameters(loss_module)
    dirs = [random_direction(base, 0), random_direction(base, 1)]
    coords = np.array([[0.0, 0.0], [0.3, -0.2], [1.0, 0.5]])
    a = evaluate_grid(loss_module, batches, base, dirs, coords, chunk_size=2, vectorize=True)
    b = evaluate_grid(loss_module, batches, base, dirs, coords, vectorize=False)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    # moving along the direction changes the loss
    assert np.ptp(a) > 1e-3


def test_grid_matches_loading_perturbed_weights(setup):
    model, loss_module, batches = setup
    base = landscape_parameters(loss_module)
    d = random_direction(base, 5)
    value = evaluate_grid(loss_module, batches, base, [d], [[0.3]])[0]
    moved = tiny_training_model()
    moved_loss = TrainingLoss(moved)
    with torch.no_grad():
        for name, p in moved_loss.named_parameters():
            p.add_(0.3 * d[name])
    assert value == pytest.approx(loss_on_batches(moved_loss, batches), rel=1e-5)


def test_interpolation_endpoints(setup):
    _, loss_module, batches = setup
    end = landscape_parameters(loss_module)
    start_module = TrainingLoss(tiny_training_model(seed=7))
    start = landscape_parameters(start_module, list(end))
    path = interpolation_curve(loss_module, batches, start, end, [0.0, 0.5, 1.0])
    assert path.loc[2, "loss"] == pytest.approx(loss_on_batches(loss_module, batches), rel=1e-5)
    # t=0 is the start weights (with this model's buffers: both are fresh models, buffers equal)
    assert path.loc[0, "loss"] == pytest.approx(loss_on_batches(start_module, batches), rel=1e-5)


def test_sharpness_zero_radius_is_zero(setup):
    _, loss_module, batches = setup
    table = sharpness_at_radius(loss_module, batches, radius=0.0, seeds=(0, 1))
    assert len(table) == 4
    np.testing.assert_allclose(table["loss_increase"], 0.0, atol=1e-5)
    table = sharpness_at_radius(loss_module, batches[:1], radius=0.5, seeds=(0,))
    assert (table["loss"] != table["base_loss"]).all()


class LinearMSE(torch.nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.linear = torch.nn.Linear(dim, 1)

    def forward(self, x, y):
        return ((self.linear(x).squeeze(-1) - y) ** 2).mean()


def test_hessian_top_eigenvalue_of_a_quadratic():
    rng = np.random.default_rng(0)
    n, dim = 64, 6
    x = rng.standard_normal((n, dim)) * np.array([3.0, 1.5, 1.0, 0.5, 0.3, 0.1])
    y = rng.standard_normal(n)
    torch.manual_seed(0)
    model = LinearMSE(dim).double()
    batches = [(torch.from_numpy(x[:40]), torch.from_numpy(y[:40])), (torch.from_numpy(x[40:]), torch.from_numpy(y[40:]))]
    a = np.hstack([x, np.ones((n, 1))])
    expected = np.linalg.eigvalsh(2.0 * a.T @ a / n).max()
    for seed in (0, 1):
        h = top_hessian_eigenvalue(model, batches, iters=500, tol=1e-10, seed=seed)
        assert h.converged
        assert h.eigenvalue == pytest.approx(expected, rel=1e-3)
    assert all(p.requires_grad for p in model.parameters())


def test_loss_increase_at_a_radius_is_exact_on_a_quadratic_at_its_minimum():
    """What chapter 08's smoke reference cannot hold (the sign and value of a loss increase near zero), held here:
    at the least-squares minimum of a linear model, L(theta +/- r d) - L(theta) = r^2/2 d'Hd exactly, for both
    signs, along each filter-normalised direction d (the bias is left at zero, as in Li et al.)."""
    rng = np.random.default_rng(1)
    n, dim = 50, 4
    x = rng.standard_normal((n, dim))
    y = x @ rng.standard_normal(dim) + 0.3 * rng.standard_normal(n)
    model = LinearMSE(dim).double()
    a = np.hstack([x, np.ones((n, 1))])
    solution = np.linalg.lstsq(a, y, rcond=None)[0]
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(solution[:dim]).view(1, dim))
        model.linear.bias.fill_(float(solution[dim]))
    batches = [(torch.from_numpy(x), torch.from_numpy(y))]
    radius, seeds = 0.1, (0, 1, 2)
    table = sharpness_at_radius(model, batches, radius=radius, seeds=seeds)
    hessian = 2.0 * x.T @ x / n  # of the weights; the direction's bias part is zero
    for s in seeds:
        d = random_direction(landscape_parameters(model), s)["linear.weight"].double().numpy().ravel()
        expected = 0.5 * radius ** 2 * d @ hessian @ d
        got = table[table["seed"] == s]["loss_increase"].to_numpy()
        assert expected > 0 and got == pytest.approx([expected, expected], rel=1e-6)


def test_hessian_respects_parameter_subset():
    torch.manual_seed(0)
    model = LinearMSE(3).double()
    x = torch.randn(20, 3, dtype=torch.float64)
    h = top_hessian_eigenvalue(model, [(x, torch.zeros(20, dtype=torch.float64))], names=["linear.bias"], tol=1e-10)
    assert h.eigenvalue == pytest.approx(2.0)  # d^2/db^2 of mean (w.x + b - y)^2


def test_landscape_study_tables(setup, tmp_path):
    model, _, batches = setup
    study = landscape_study({"m": model}, batches[:1], alphas=[-0.1, 0.0, 0.1], grid=[-0.1, 0.1], curve_seeds=(0,),
                            sharpness_seeds=(0, 1), hessian_seeds=(0,), hessian_iters=3,
                            starts={"m": tiny_training_model(seed=9)}, path_ts=[0.0, 1.0], progress=False)
    row = study.summary.iloc[0]
    assert row["centre_loss"] == pytest.approx(row["loss"], rel=1e-5)
    assert len(study.curves) == 3 and len(study.surfaces) == 4 and len(study.sharpness) == 4
    assert len(study.hessian) == 1 and len(study.paths) == 2
    assert study.paths.loc[1, "loss"] == pytest.approx(row["loss"], rel=1e-5)
    assert study.curves.loc[1, "loss"] == pytest.approx(row["loss"], rel=1e-5)
    study.save(tmp_path / "study")
    back = type(study).load(tmp_path / "study")
    for name in study._TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(study, name), check_dtype=False)
    assert back.seconds == pytest.approx(study.seconds)


# ---------------------------------------------------------------------------
# Loading a run and the fixed batch set
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["config", "dict"])
def test_load_training_model_and_initial_model(tmp_path, monkeypatch, layout):
    from sslsv.artifacts import Run, atomic_torch_save

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    cfg = resolve("smoke", {"ecapa.channels": 16, "ecapa.attention_channels": 8, "ecapa.embedding_dim": 16})
    # the run's config is the SVConfig itself, or its dict (as read back from config.json)
    config = cfg if layout == "config" else to_dict(cfg)
    run = Run("sv", config, root=tmp_path)
    run.path.mkdir(parents=True)
    trained = initial_training_model(run, n_speakers=N_SPEAKERS)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    atomic_torch_save({"model": trained.state_dict(), "step": 1}, run.checkpoint_file)
    state = torch.get_rng_state()
    loaded = load_training_model(run)
    assert not loaded.training
    for (n, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), n
    # the initial model is reproducible from the run's seed and leaves the global RNG alone
    init_a, init_b = initial_training_model(run, N_SPEAKERS), initial_training_model(run, N_SPEAKERS)
    assert all(torch.equal(a, b) for a, b in zip(init_a.state_dict().values(), init_b.state_dict().values()))
    assert torch.equal(state, torch.get_rng_state())


def test_load_training_model_requires_a_checkpoint(tmp_path):
    from sslsv.artifacts import Run

    run = Run("sv", resolve("smoke"), root=tmp_path)
    with pytest.raises(FileNotFoundError):
        load_training_model(run)


def test_fixed_batches_are_deterministic(tmp_path, tone_writer):
    from sslsv.data.corpus import SVCorpus, Utterance

    train = []
    for i, spk in enumerate(("b", "a", "c")):
        for u in range(2):
            path = tone_writer(tmp_path / "wav" / spk / "s" / f"{u}.wav", seconds=0.5, freq=150 + 30 * i, seed=u)
            train.append(Utterance(f"{spk}/s/{u}.wav", path, spk))
    corpus = SVCorpus(root=tmp_path, train=train, trials=[])
    a = fixed_batches(corpus, n_batches=3, batch_size=4, crop_seconds=0.25)
    b = fixed_batches(corpus, n_batches=3, batch_size=4, crop_seconds=0.25)
    assert len(a) == 3 and a[0][0].shape == (4, 4000)
    for (wa, la), (wb, lb) in zip(a, b):
        assert torch.equal(wa, wb) and torch.equal(la, lb)
    assert int(max(l.max() for _, l in a)) <= 2  # labels index the sorted training speakers
    assert not torch.equal(a[0][0], a[1][0])
    # the models of a regime learned only the first speakers: their batch set holds those alone
    first_two = fixed_batches(corpus, n_batches=3, batch_size=4, crop_seconds=0.25, speakers=["a", "b"])
    assert all(set(l.tolist()) <= {0, 1} for _, l in first_two)


def test_a_run_on_labelled_speakers_loads_against_its_own_speakers(tmp_path, monkeypatch, tone_writer):
    from sslsv.artifacts import Run, atomic_torch_save
    from sslsv.data.corpus import SVCorpus, Utterance

    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path))
    speakers = [f"id{i}" for i in range(N_SPEAKERS + 2)]
    train = [Utterance(f"{s}/s/0.wav", tone_writer(tmp_path / "wav" / s / "s" / "0.wav", seconds=0.5), s)
             for s in speakers]
    corpus = SVCorpus(root=tmp_path, train=train, trials=[])
    cfg = resolve("smoke", {"ecapa.channels": 16, "ecapa.attention_channels": 8, "ecapa.embedding_dim": 16,
                            "train.labelled_speakers": N_SPEAKERS})
    run = Run("sv", cfg, root=tmp_path)
    run.path.mkdir(parents=True)
    atomic_torch_save({"model": initial_training_model(run, N_SPEAKERS).state_dict(), "step": 1}, run.checkpoint_file)
    assert load_training_model(run, corpus) is not None  # N_SPEAKERS of the corpus's N_SPEAKERS + 2
    wider = Run("sv", resolve("smoke", {"ecapa.channels": 16, "ecapa.attention_channels": 8,
                                        "ecapa.embedding_dim": 16}), root=tmp_path)
    wider.path.mkdir(parents=True)
    atomic_torch_save({"model": initial_training_model(run, N_SPEAKERS).state_dict(), "step": 1},
                      wider.checkpoint_file)
    with pytest.raises(ValueError, match=f"head has {N_SPEAKERS} speakers, but the run learned {N_SPEAKERS + 2}"):
        load_training_model(wider, corpus)

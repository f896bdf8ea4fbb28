"""The speaker-verification pipeline end to end on a tiny synthetic corpus."""

import numpy as np
import pytest
import torch

from sslsv.config import resolve
from sslsv.data import load_sv_corpus
from sslsv.sv import pipeline
from sslsv.metrics import eer
from sslsv.sv.embeddings import extract_embeddings
from sslsv.sv.scoring import cosine_scores

TINY = {
    "corpus.n_train_speakers": 4, "corpus.n_test_speakers": 3, "corpus.sessions_per_speaker": 2,
    "corpus.utterances_per_session": 2, "corpus.min_seconds": 1.0, "corpus.max_seconds": 1.5,
    "corpus.n_trials": 20, "corpus.pretrain_hours": 0.002, "corpus.pretrain_speakers": 2,
    "ecapa.channels": 16, "ecapa.attention_channels": 8, "ecapa.embedding_dim": 8,
    "train.steps": 6, "train.batch_size": 4, "train.warmup_steps": 2, "train.checkpoint_every": 3,
    "train.crop_seconds": 0.5, "eval.bootstrap": 20,
}

# A corpus and schedule where training clearly beats random weights: 16 training speakers, 150 steps
# (about 10 s on one core); over SV seeds 0-2 the EER fell from 45-51 % (random weights) to 30-37 %.
LEARNS = {
    **TINY, "corpus.n_train_speakers": 16, "corpus.n_test_speakers": 8, "corpus.sessions_per_speaker": 3,
    "corpus.utterances_per_session": 3, "corpus.min_seconds": 1.5, "corpus.max_seconds": 2.5, "corpus.n_trials": 200,
    "ecapa.channels": 32, "ecapa.attention_channels": 16, "ecapa.embedding_dim": 32,
    "train.steps": 150, "train.batch_size": 16, "train.warmup_steps": 10, "train.checkpoint_every": 150,
    "train.crop_seconds": 1.5,
}


def untrained_eer_percent(cfg) -> float:
    """EER (%) on the trial list of the speaker model as training starts it (same seed, step 0)."""
    corpus = load_sv_corpus(cfg.corpus, progress=False)
    torch.manual_seed(cfg.train.seed)  # as pipeline.train_speaker_model does before building the model
    model = pipeline.build_speaker_model(cfg).eval()
    keys = corpus.test_keys
    emb = extract_embeddings(model, [corpus.path(k) for k in keys], progress=False)
    scores = cosine_scores(emb, {k: i for i, k in enumerate(keys)}, corpus.trials)
    return 100.0 * eer(scores, [t.label for t in corpus.trials])


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory):
    return tmp_path_factory.mktemp("sv-artifacts")


@pytest.fixture
def artifacts(shared_root, monkeypatch):
    """One artifact root per module: the corpus and finished runs are shared by its tests."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(shared_root))
    return shared_root


@pytest.fixture
def own_artifacts(tmp_path, monkeypatch):
    """A private artifact root, for tests that damage the corpus or interrupt a run."""
    monkeypatch.setenv("SSLSV_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


def test_run_sv_writes_the_run_layout_and_is_reused(artifacts, monkeypatch):
    cfg = resolve("smoke", TINY)
    result = pipeline.run_sv(cfg, progress=False)
    for name in ("config.json", "environment.json", "log.txt", "checkpoint.pt", "speaker_model.pt",
                 "embeddings.npz", "scores.tsv", "history.json", "metrics.json", "DONE"):
        assert result.run.file(name).exists(), name
    m = result.metrics
    assert 0 <= m["eer_percent"] <= 100 and m["eer_ci_low"] <= m["eer_percent"] <= m["eer_ci_high"]
    assert len(result.scores) == 20 and set(result.scores["label"]) == {0, 1}

    def boom(*a, **k):
        raise AssertionError("a complete run must not be recomputed")

    monkeypatch.setattr(pipeline, "train_speaker_model", boom)
    again = pipeline.run_sv(cfg, progress=False)
    assert again.metrics == m


def test_training_beats_random_weights_on_the_same_trials(artifacts):
    cfg = resolve("smoke", LEARNS)
    trained = pipeline.run_sv(cfg, progress=False).metrics["eer_percent"]
    untrained = untrained_eer_percent(cfg)
    assert trained < untrained - 8.0, f"trained {trained:.1f} % EER vs {untrained:.1f} % with random weights"


def test_trained_model_reloads_with_identical_embeddings(artifacts):
    cfg = resolve("smoke", TINY)
    result = pipeline.run_sv(cfg, progress=False)
    model = pipeline.load_speaker_model(result.run)
    corpus = load_sv_corpus(cfg.corpus, progress=False)
    data = np.load(result.run.file("embeddings.npz"))
    keys = list(data["keys"][:3])
    emb = extract_embeddings(model, [corpus.path(k) for k in keys], progress=False)
    np.testing.assert_allclose(emb, data["embeddings"][:3], atol=1e-5)


def test_interrupted_training_resumes(artifacts, monkeypatch):
    cfg = resolve("smoke", {**TINY, "train.seed": 7})
    real_fit = pipeline.fit

    class Killed(Exception):
        pass

    def killing_fit(*args, **kwargs):
        def on_step(step, row):
            if step == 4:
                raise Killed

        return real_fit(*args, on_step=on_step, **kwargs)

    monkeypatch.setattr(pipeline, "fit", killing_fit)
    with pytest.raises(Killed):
        pipeline.run_sv(cfg, progress=False)
    run = pipeline.sv_run(cfg)
    assert run.checkpoint_file.exists() and not run.is_complete
    monkeypatch.setattr(pipeline, "fit", real_fit)
    result = pipeline.run_sv(cfg, progress=False)
    assert "resumed from step 3" in result.run.log_file.read_text()
    assert result.run.is_complete


def test_missing_trial_files_fail_before_training(own_artifacts, monkeypatch):
    cfg = resolve("smoke", TINY)
    corpus = load_sv_corpus(cfg.corpus, progress=False)
    victims = corpus.test_keys[:2]
    for k in victims:
        corpus.path(k).unlink()
    monkeypatch.setattr(pipeline, "train_speaker_model",
                        lambda *a, **k: pytest.fail("training started despite missing files"))
    with pytest.raises(ValueError) as e:
        pipeline.run_sv(cfg, progress=False)
    for k in victims:
        assert k in str(e.value)


def test_unknown_frontend():
    with pytest.raises(ValueError, match="valid front-ends: fbank, ssl"):
        pipeline.build_speaker_model(resolve("smoke", {"frontend.kind": "mfcc"}))


def test_speaker_model_gradient_reaches_waveform():
    model = pipeline.build_speaker_model(resolve("smoke", TINY))
    wave = torch.randn(1, 8000, requires_grad=True)
    model.eval()(wave).sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all() and wave.grad.abs().sum() > 0


def test_paper_path_reads_voxceleb_layout_from_disk(artifacts):
    """The `paper` profile's reader on an on-disk stand-in (the synthetic corpus in the VoxCeleb1 layout)."""
    from sslsv.data import corpus_root

    synthetic = resolve("smoke", TINY)
    root = corpus_root(synthetic.corpus, progress=False) / "voxceleb1"
    cfg = resolve("smoke", {**TINY, "corpus.source": "voxceleb1", "corpus.voxceleb_root": str(root)})
    result = pipeline.run_sv(cfg, progress=False)
    assert len(result.scores) == 20
    assert result.run.config.corpus.voxceleb_root == str(root)


def test_paper_path_without_root_is_a_clear_error():
    with pytest.raises(ValueError, match="voxceleb_root"):
        pipeline.run_sv(resolve("smoke", {"corpus.source": "voxceleb1", "corpus.voxceleb_root": ""}), progress=False)

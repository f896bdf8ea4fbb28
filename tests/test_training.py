import numpy as np
import pytest
import torch

from sslsv.config import OptimConfig
from sslsv.training import ConfigMismatchError, fit, lr_factor, step_rng


def _problem():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])

    def batch_fn(step, rank, world):
        x = torch.from_numpy(step_rng(0, step, rank).standard_normal((8, 4)).astype(np.float32))
        return x, x @ w

    def loss_fn(m, batch):
        x, y = batch
        return torch.nn.functional.mse_loss(m(x).squeeze(-1), y), {"n": len(y)}

    return model, batch_fn, loss_fn


CFG = OptimConfig(steps=30, batch_size=8, lr=1e-2, warmup_steps=5, checkpoint_every=10)


def test_loss_falls():
    model, batch_fn, loss_fn = _problem()
    hist = fit(model, batch_fn, loss_fn, CFG, progress=False).history
    assert np.mean([h["loss"] for h in hist[-5:]]) < 0.5 * np.mean([h["loss"] for h in hist[:5]])
    assert len(hist) == 30 and hist[-1]["step"] == 30


def test_lr_schedule_shape():
    lrs = [lr_factor(s, 10, 100) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and max(lrs) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_a_run_stopped_early_on_a_longer_schedule_is_where_that_run_was():
    """schedule_steps: a run of 12 steps on a 30-step schedule has the learning rates and losses of the 30-step
    run's first 12 steps (the book's upstreams stop on the schedule of chapter 01a's curve)."""
    import dataclasses

    from sslsv.config import ConfigError
    from sslsv.training import schedule_length

    model, batch_fn, loss_fn = _problem()
    full = fit(model, batch_fn, loss_fn, CFG, progress=False).history
    model, batch_fn, loss_fn = _problem()
    early = fit(model, batch_fn, loss_fn, dataclasses.replace(CFG, steps=12, schedule_steps=30), progress=False).history
    assert [(h["lr"], h["loss"]) for h in early] == [(h["lr"], h["loss"]) for h in full[:12]]
    model, batch_fn, loss_fn = _problem()
    own = fit(model, batch_fn, loss_fn, dataclasses.replace(CFG, steps=12), progress=False).history
    assert own[-1]["lr"] < early[-1]["lr"]  # its own schedule has decayed by step 12
    with pytest.raises(ConfigError, match=r"schedule_steps=10 is shorter than the run \(steps=30\)"):
        schedule_length(dataclasses.replace(CFG, schedule_steps=10))


def test_the_books_upstreams_stop_on_the_curves_schedule():
    from sslsv.config import config_hash, profile_context
    from sslsv.studies import learning_curve
    from sslsv.studies.runs import Condition, pretrain_config

    for profile in ("smoke", "cpu"):
        horizon = profile_context(profile).study.curve.steps
        cfg = pretrain_config(profile, Condition("default"))
        assert cfg.optim.schedule_steps == horizon > cfg.optim.steps
        assert pretrain_config(profile, Condition("x", pretrain={"optim.steps": 3})).optim.schedule_steps == horizon
        assert learning_curve.curve_run(profile).config.optim.schedule_steps == 0  # the curve is the schedule
        from sslsv.studies import explain

        assert explain.plan(profile)[0].config == cfg  # chapters 07-08 analyse the studies' default upstream
    # unset, the key leaves a run's name as it was
    from sslsv.config import PretrainExperimentConfig, SVConfig, to_dict

    for cfg, section in ((PretrainExperimentConfig(), "optim"), (SVConfig(), "train")):
        old = to_dict(cfg)
        del old[section]["schedule_steps"]
        assert config_hash(cfg) == config_hash(old)


class Killed(Exception):
    """Raised from ``on_step`` to stop a run in the middle, as a kill would."""


def kill(step, row):
    if step == 17:
        raise Killed


def _uninterrupted(tmp_path):
    """The problem's batches and loss, and the weights of an uninterrupted run (checkpoint ``a.pt``)."""
    model, batch_fn, loss_fn = _problem()
    fit(model, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "a.pt", config_id="x", progress=False)
    return batch_fn, loss_fn, {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_after_kill_is_exact(tmp_path):
    batch_fn, loss_fn, reference = _uninterrupted(tmp_path)

    model2, *_ = _problem()
    with pytest.raises(Killed):
        fit(model2, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "b.pt", config_id="x", on_step=kill,
            progress=False)
    model3, *_ = _problem()
    torch.manual_seed(1234)  # a different RNG state must not matter: the checkpoint restores it
    result = fit(model3, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "b.pt", config_id="x", progress=False)
    assert result.resumed_from == 10
    for k, v in model3.state_dict().items():
        assert torch.equal(v, reference[k]), k
    # the wall time covers both segments: the checkpoint carried the first one's
    first = torch.load(tmp_path / "b.pt", weights_only=False)["seconds"]
    assert result.timing_complete and first > 0
    assert result.seconds > result.segment_seconds > 0


def test_resume_from_a_checkpoint_without_timing_is_flagged(tmp_path):
    model, batch_fn, loss_fn = _problem()
    cfg = OptimConfig(steps=10, batch_size=8, lr=1e-2, warmup_steps=5, checkpoint_every=10)
    fit(model, batch_fn, loss_fn, cfg, checkpoint=tmp_path / "a.pt", config_id="x", progress=False)
    state = torch.load(tmp_path / "a.pt", weights_only=False)
    del state["seconds"]  # as written before checkpoints carried their time
    torch.save(state, tmp_path / "a.pt")
    result = fit(model, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "a.pt", config_id="x", progress=False)
    assert result.resumed_from == 10 and not result.timing_complete


def test_resume_with_changed_config_refused(tmp_path):
    model, batch_fn, loss_fn = _problem()
    fit(model, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "c.pt", config_id="one", progress=False)
    with pytest.raises(ConfigMismatchError, match="refusing to resume"):
        fit(model, batch_fn, loss_fn, CFG, checkpoint=tmp_path / "c.pt", config_id="two", progress=False)


def test_non_finite_loss_is_reported():
    model, batch_fn, _ = _problem()
    with pytest.raises(FloatingPointError, match="step 0"):
        fit(model, batch_fn, lambda m, b: (torch.tensor(float("nan"), requires_grad=True), {}), CFG,
            progress=False)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_exact_with_and_without_loader_workers(tmp_path, workers):
    """The batches of a DataLoader over steps (sslsv.data.loader) are those of the training process, bit for
    bit, so an uninterrupted run, a run killed at step 17 and resumed, with or without workers, all agree."""
    from sslsv.data.loader import prefetching

    batch_fn, loss_fn, reference = _uninterrupted(tmp_path)

    model2, *_ = _problem()
    first = prefetching(batch_fn, CFG.steps, workers)
    with pytest.raises(Killed):
        fit(model2, first, loss_fn, CFG, checkpoint=tmp_path / "b.pt", config_id="x", on_step=kill, progress=False)
    if workers:
        first.close()
    model3, *_ = _problem()
    second = prefetching(batch_fn, CFG.steps, workers)
    assert fit(model3, second, loss_fn, CFG, checkpoint=tmp_path / "b.pt", config_id="x",
               progress=False).resumed_from == 10
    for k, v in model3.state_dict().items():
        assert torch.equal(v, reference[k]), k


def test_a_loader_over_steps_serves_each_step_in_order_and_restarts_out_of_sequence():
    from sslsv.data.loader import prefetching

    def batch_fn(step, rank, world):
        return torch.from_numpy(step_rng(7, step, rank).standard_normal(3))

    fn = prefetching(batch_fn, steps=6, workers=2)
    for step in (0, 1, 2, 4, 5):  # 3 skipped: the loader restarts at 4
        assert torch.equal(fn(step, 0, 1), batch_fn(step, 0, 1))
    assert fn._it is None  # the last step ends the workers

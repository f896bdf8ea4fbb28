"""Figures of training runs: SV loss and accuracy curves, a pre-training run's loss against chance."""

from __future__ import annotations

from typing import Any

from .style import HEIGHT, WIDTH, colours, styled

__all__ = ["plot_training_curves", "plot_history"]

@styled
def plot_training_curves(runs: "dict[str, Any]", smooth: int = 20):
    """Loss and training accuracy per step of SV runs (``history.json``), smoothed."""

    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    frames = []
    for name, run in runs.items():
        from ..artifacts import read_json

        hist = pd.DataFrame(read_json(run.file("history.json"), "training history"))
        for col in ("loss", "accuracy"):
            hist[col] = hist[col].rolling(smooth, min_periods=1).mean()
        hist["system"] = name
        frames.append(hist)
    data = pd.concat(frames, ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, HEIGHT - 0.5))
    palette = colours(data["system"].nunique())
    sns.lineplot(data=data, x="step", y="loss", hue="system", ax=axes[0], palette=palette)
    sns.lineplot(data=data, x="step", y="accuracy", hue="system", ax=axes[1], palette=palette,
                 legend=False)
    axes[0].set_ylabel("AAM-softmax loss")
    axes[1].set_ylabel("training accuracy")
    axes[1].set_ylim(0, 1)
    fig.tight_layout()
    return fig



@styled
def plot_history(history: list[dict], diag: dict, accuracy_key: str = "masked_acc"):
    """A pre-training run: loss curve (left) and the training log ``accuracy_key`` against chance (right).

    ``history`` is the run's ``history.json`` (one row per step), ``diag`` its
    ``diagnostics.json``; ``accuracy_key`` is the objective's
    (:attr:`~sslsv.pretrain.objectives.Objective.accuracy_key`).  Built
    without pyplot, so it never touches the caller's backend or figures.

    >>> fig = plot_history([{"step": 1, "loss": 2.0, "masked_acc": 0.1}, {"step": 2, "loss": 1.5, "masked_acc": 0.2}],
    ...                    {"objective": "masked", "quantizer": "kmeans_mfcc", "loss_uniform": 3.0, "chance_uniform": 0.05})
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    steps = [r["step"] for r in history]
    fig = Figure(figsize=(WIDTH, HEIGHT - 0.5))
    axes = fig.subplots(1, 2)
    axes[0].plot(steps, [r["loss"] for r in history], lw=0.8)
    if "loss_uniform" in diag:
        axes[0].axhline(diag["loss_uniform"], ls="--", c="grey", label="ln K (uniform)")
        axes[0].legend()
    axes[0].set(xlabel="step", ylabel="training loss", title=f"{diag['objective']} / {diag['quantizer']}")
    axes[1].plot(steps, [r.get(accuracy_key, float("nan")) for r in history], lw=0.8, label=accuracy_key)
    if diag.get("chance_uniform") is not None:
        axes[1].axhline(diag["chance_uniform"], ls="--", c="grey", label="chance (uniform)")
    if diag.get("chance_majority") is not None:
        axes[1].axhline(diag["chance_majority"], ls=":", c="k", label="chance (majority class)")
    axes[1].set(xlabel="step", ylabel="accuracy")
    axes[1].legend()
    fig.tight_layout()
    return fig

"""Figures of training runs: SV loss and accuracy curves, a pre-training run's loss against chance."""

from __future__ import annotations

from typing import Any

from .style import HEIGHT, WIDTH, colours, styled

__all__ = ["plot_training_curves", "plot_history", "plot_learning_curves"]

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


@styled
def plot_learning_curves(curves, reference: "dict[str, Any] | None" = None, reference_label: str = "real speech"):
    """Learning curves of the pre-training task: masked accuracy (left) and loss (right) against updates.

    ``curves`` has one row per corpus and recorded budget (the ``curve.csv`` columns with a ``corpus``
    column). Held-out values are solid lines, training ones (the mean over the updates since the previous
    row) dotted; each corpus's context-free ceiling is a dashed line in its colour and the majority class
    a grey one. ``reference`` (optional) adds a quoted curve: ``train_acc`` maps ``(first, last)`` update
    spans to a training accuracy (drawn at ``last``), ``held_out_acc_at_1000`` a held-out point.

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"corpus": ["a"] * 3, "step": [0, 10, 20], "train_acc": [float("nan"), 0.02, 0.03],
    ...                      "train_loss": [float("nan"), 4.5, 4.4], "held_out_masked_acc": [0.01, 0.02, 0.04],
    ...                      "held_out_masked_loss": [4.6, 4.5, 4.3], "chance_majority": [0.02] * 3,
    ...                      "chance_context_free": [0.05] * 3})
    >>> import matplotlib.pyplot as plt
    >>> fig = plot_learning_curves(rows, {"train_acc": {(0, 10): 0.02}, "held_out_acc_at_1000": 0.1})
    >>> len(fig.axes), len(fig.axes[0].lines) >= 4
    (2, True)
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(curves["corpus"]))
    palette = colours(len(labels))
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(WIDTH, HEIGHT))
    for label, colour in zip(labels, palette):
        rows = curves[curves["corpus"] == label]
        acc_ax.plot(rows["step"], rows["held_out_masked_acc"], c=colour, lw=1.8, label=f"{label}: held-out")
        acc_ax.plot(rows["step"], rows["train_acc"], c=colour, lw=1.0, ls=":", label=f"{label}: training")
        acc_ax.axhline(float(rows["chance_context_free"].iloc[0]), c=colour, ls="--", lw=0.9,
                       label=f"{label}: context-free ceiling")
        loss_ax.plot(rows["step"], rows["held_out_masked_loss"], c=colour, lw=1.8, label=f"{label}: held-out")
        loss_ax.plot(rows["step"], rows["train_loss"], c=colour, lw=1.0, ls=":", label=f"{label}: training")
    acc_ax.axhline(float(curves["chance_majority"].max()), c="grey", ls="--", lw=0.9, label="majority class")
    if reference:
        spans = sorted(reference.get("train_acc", {}).items())
        if spans:
            acc_ax.plot([hi for (lo, hi), _ in spans], [v for _, v in spans], "kx", ms=7,
                        label=f"{reference_label}: training (quoted)")
        if reference.get("held_out_acc_at_1000") is not None:
            acc_ax.plot([1000], [reference["held_out_acc_at_1000"]], "k*", ms=10,
                        label=f"{reference_label}: held-out (quoted)")
    acc_ax.set(xlabel="pre-training updates", ylabel="masked-prediction accuracy", ylim=(0, None))
    loss_ax.set(xlabel="pre-training updates", ylabel="masked-prediction loss")
    acc_ax.legend(fontsize=8, ncol=1)
    loss_ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Figures of speaker-verification results: DET curves, factor studies, layer weights, the regime map, the summary."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np

from ..systems import shown, shown_frame
from .style import ACCENT, HEIGHT, SATURATED, WIDTH, colours, informative, reference_style, styled

__all__ = ["plot_det", "plot_factor", "plot_layer_weights", "plot_regime_map", "plot_summary"]

_DET_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]


@styled
def plot_det(systems: "dict[str, pd.DataFrame]", ax=None, title: str = "DET curve"):
    """DET curves (probit axes) of several systems.

    ``systems`` maps a name to a score table with columns ``label`` and
    ``score`` (as written to ``scores.tsv``). The EER of each curve is
    marked and given in the legend.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns
    from scipy.stats import norm

    from ..metrics import det_curve, eer

    if ax is None:
        fig, ax = plt.subplots(figsize=(WIDTH, 5.5))
    else:
        fig = ax.figure
    palette = colours(len(systems))
    lo, hi = 0.0005, 0.5
    for color, (name, table) in zip(palette, systems.items()):
        scores, labels = table["score"].to_numpy(), table["label"].to_numpy()
        det = det_curve(scores, labels)
        fpr, fnr = np.clip(det["fpr"].to_numpy(), lo, hi), np.clip(det["fnr"].to_numpy(), lo, hi)
        e = eer(scores, labels)
        ax.plot(norm.ppf(fpr), norm.ppf(fnr), color=color, lw=1.6, label=f"{name} (EER {100 * e:.2f}%)")
        ax.plot(norm.ppf(max(e, lo)), norm.ppf(max(e, lo)), "o", color=color, ms=5)
    ticks = norm.ppf(_DET_TICKS)
    labels_ = [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, labels_)
    ax.set_yticks(ticks, labels_)
    ax.set_xlim(norm.ppf(lo), norm.ppf(hi))
    ax.set_ylim(norm.ppf(lo), norm.ppf(hi))
    ax.plot([norm.ppf(lo), norm.ppf(hi)], [norm.ppf(lo), norm.ppf(hi)], ls=":", color="grey", lw=1)
    ax.set_xlabel("false acceptance rate (%)")
    ax.set_ylabel("false rejection rate (%)")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


_METRIC_LABELS = {"eer_percent": "EER (%)", "min_dcf_0.01": "minDCF (P=0.01)", "min_dcf_0.05": "minDCF (P=0.05)"}


@contextlib.contextmanager
def fixed_jitter(seed: int = 0):
    """Seed the jitter of a strip plot: seaborn draws it from NumPy's global generator, so unseeded, every
    rebuild of the book drew the seeds' points elsewhere and changed the figure. The caller's state is kept."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _factor_panel(ax, per_seed, order, metric: str, title: str | None = None) -> None:
    import seaborn as sns

    refs = per_seed[per_seed["reference"]]
    rows = per_seed[~per_seed["reference"]]
    order = [shown(o) for o in order if o in set(rows["system"])]  # the systems by their display labels
    rows = shown_frame(rows)
    hue = "mode" if rows["mode"].nunique() > 1 else None
    palette = {"palette": colours(rows["mode"].nunique())} if hue else {"color": ACCENT}
    sns.pointplot(data=rows, x="system", y=metric, order=order, hue=hue, errorbar="sd", capsize=0.15,
                  linestyle="none", markers="D", dodge=0.3 if hue else False, ax=ax, **palette)
    with fixed_jitter():
        sns.stripplot(data=rows, x="system", y=metric, order=order, hue=hue, dodge=bool(hue), alpha=0.45, size=5,
                      ax=ax, legend=False, **palette)
    for name, sel in refs.groupby("system", sort=False):
        colour, ls = reference_style(name)
        m, sd = sel[metric].mean(), sel[metric].std(ddof=1) if len(sel) > 1 else 0.0
        ax.axhline(m, color=colour, ls=ls, lw=1.5, label=f"{shown(name)} (mean)")
        if sd > 0:
            ax.axhspan(m - sd, m + sd, color=colour, alpha=0.08)
    ax.set_xlabel("")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    for label in ax.get_xticklabels():  # long system names: slanted and anchored at their tick
        label.set_rotation(30)
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    if title:
        ax.set_title(title)


@styled
def plot_factor(study, metrics: Sequence[str] = ("eer_percent", "min_dcf_0.01"), title: str | None = None):
    """Each condition's metric over seeds (mean ± sd and the seeds), with the references as lines.

    A minDCF panel whose every value is at least :data:`~sslsv.plots.style.SATURATED` carries no
    information (minDCF saturates when the EER is far above P_target) and is left out; the figure
    says so under its title.
    """
    import matplotlib.pyplot as plt

    drawn = [m for m in metrics if not m.startswith("min_dcf") or informative(study.per_seed[m])]
    dropped = [m for m in metrics if m not in drawn]
    fig, axes = plt.subplots(1, len(drawn), figsize=(WIDTH, HEIGHT + 0.5), squeeze=False)
    for ax, metric in zip(axes[0], drawn):
        _factor_panel(ax, study.per_seed, study.order, metric)
    axes[0][0].legend(loc="best")
    heading = title or f"{study.factor}: speaker verification on each upstream ({study.profile})"
    if dropped:
        names = ", ".join(_METRIC_LABELS.get(m, m) for m in dropped)
        heading += f"\n{names} not shown: every value is >= {SATURATED:g} (minDCF saturates at this EER)"
    fig.suptitle(heading)
    fig.tight_layout()
    return fig


@styled
def plot_layer_weights(weights, title: str = "Learned layer weights (softmax, mean over seeds)"):
    """Heat map of the SV front-end's layer weights: one row per system (by its label), one column per hidden
    state."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = shown_frame(weights).pivot_table(index="system", columns="layer", values="weight", sort=False)
    fig, ax = plt.subplots(figsize=(WIDTH, 1.4 + 0.5 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="viridis", cbar_kws={"label": "weight"}, ax=ax,
                annot_kws={"fontsize": 11})
    ax.set_xlabel("hidden state (0 = input embedding)")
    ax.set_ylabel("")
    ax.set_title(title)
    fig.tight_layout()
    return fig


@styled
def plot_summary(summary, metric: str = "eer_percent"):
    """All four factor studies side by side, one panel each, on a shared axis."""
    import matplotlib.pyplot as plt

    studies = list(summary.studies.values())
    fig, axes = plt.subplots(1, len(studies), figsize=(WIDTH, HEIGHT + 1.0), sharey=True, squeeze=False)
    for ax, study in zip(axes[0], studies):
        verdict = summary.claims[study.factor]["verdict"]
        _factor_panel(ax, study.per_seed, study.order, metric, title=f"{study.factor}\n({verdict})")
    axes[0][0].legend(loc="best", fontsize=10)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.suptitle("Every factor at a glance: mean ± sd over seeds, references as lines")
    fig.tight_layout()
    return fig


@styled
def plot_regime_map(cells: "pd.DataFrame", mode: str | None = None):
    """Two heatmaps of the regime map (:func:`sslsv.studies.regime.cells`): EER(SSL) - EER(random init)
    and EER(SSL) - EER(fbank), in EER points, rows the amount of labelled speakers, columns the
    upstreams (of ``mode``; ``None``: every cell, the fine-tuned columns last, each against the random init of
    its own mode); each cell shows the difference and its 95 % interval (bold: a clear difference).
    Negative (blue) is pre-training helping."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = (cells if mode is None else cells[cells["mode"] == mode]).copy()
    if t.empty:
        raise ValueError(f"no {mode!r} cells in the regime map; modes: {', '.join(cells['mode'].unique())}")
    t["upstream"] = [f"{b} updates\n{d}" + ("\nfine-tuned" if m == "fine-tuned" and mode is None else "")
                     for b, d, m in zip(t["budget"], t["domain"], t["mode"])]
    t["_domain_order"] = (t["domain"] != "out-of-domain").astype(int)  # out-of-domain first, as in the paper
    t["_mode_order"] = (t["mode"] == "fine-tuned").astype(int)
    order = t.sort_values(["_mode_order", "_domain_order", "budget"])["upstream"].unique()
    panels = [("random", "SSL - random init"), ("fbank", "SSL - fbank")]
    # one panel above the other, each at the page's width: every cell has room for its interval
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH, 2 * (0.75 * t["labelled_speakers"].nunique() + 1.6)),
                             sharex=True, constrained_layout=True)
    lim = float(np.nanmax(np.abs(t[["vs_random", "vs_fbank"]].to_numpy()))) or 1.0
    for ax, (ref, title) in zip(axes, panels):
        values = t.pivot(index="labelled_speakers", columns="upstream", values=f"vs_{ref}")[order]
        labels = t.assign(text=[f"{d:+.1f}\n[{lo:+.1f}, {hi:+.1f}]" for d, lo, hi in
                                zip(t[f"vs_{ref}"], t[f"vs_{ref}_low"], t[f"vs_{ref}_high"])])
        text = labels.pivot(index="labelled_speakers", columns="upstream", values="text")[order]
        clear = t.pivot(index="labelled_speakers", columns="upstream", values=f"vs_{ref}_clear")[order]
        sns.heatmap(values, ax=ax, cmap="RdBu_r", center=0, vmin=-lim, vmax=lim, annot=text, fmt="",
                    annot_kws={"fontsize": 10}, cbar=True,
                    cbar_kws={"label": "difference of mean EER (points)"})
        for txt, is_clear in zip(ax.texts, clear.to_numpy().ravel()):
            txt.set_fontweight("bold" if is_clear else "normal")
        ax.set_title(f"{title} ({mode or 'frozen and fine-tuned'})", fontsize=12)
        ax.set_xlabel("pre-training budget and pool" if ax is axes[-1] else "")
        ax.set_ylabel("labelled training speakers")
        ax.tick_params(axis="x", labelrotation=0, labelsize=10)
        ax.tick_params(axis="y", labelrotation=0)
    return fig

"""Figures used by the book (matplotlib/seaborn, no global state, no ``plt.show``).

Every function returns a :class:`matplotlib.figure.Figure`; notebooks display
it, scripts save it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

_CLASS_COLOURS = {
    "vowel": "#1b9e77",
    "nasal": "#7570b3",
    "fricative": "#d95f02",
    "plosive": "#e7298a",
    "silence": "#bdbdbd",
}


def log_mel_spectrogram(wave: np.ndarray, sample_rate: int = 16000, n_mels: int = 80,
                        hop_ms: float = 10.0) -> np.ndarray:
    """Log-mel power spectrogram (dB) with torchaudio, ``(n_samples,) -> (n_mels, frames)``.

    >>> log_mel_spectrogram(np.zeros(16000, dtype=np.float32)).shape
    (80, 101)
    """
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=512, win_length=int(0.025 * sample_rate),
        hop_length=int(hop_ms / 1000 * sample_rate), n_mels=n_mels, f_min=20.0, f_max=sample_rate / 2)
    power = mel(torch.as_tensor(np.asarray(wave, dtype=np.float32)))
    return (10 * torch.log10(power + 1e-10)).numpy()


def plot_speakers_and_sessions(examples: Sequence[dict[str, Any]] | None = None, *, seed: int = 0,
                               seconds: float = 2.0, sample_rate: int = 16000, aligned_panel: int = 0):
    """Log-mel spectrograms of synthetic speakers (rows) in sessions (columns).

    ``examples`` is the output of
    :func:`sslsv.data.synthetic.speaker_session_examples` (default: 2 speakers
    x 2 sessions drawn from ``seed``).  The panel ``aligned_panel`` carries
    the phone alignment: class-coloured bands and phone symbols.

    >>> from sslsv.data.synthetic import speaker_session_examples
    >>> fig = plot_speakers_and_sessions(speaker_session_examples(1, 2, seconds=0.5))
    >>> len(fig.axes)
    2
    """
    import matplotlib.pyplot as plt

    if examples is None:
        from .data.synthetic import speaker_session_examples

        examples = speaker_session_examples(2, 2, seconds=seconds, seed=seed)
    n_rows = max(e["speaker"] for e in examples) + 1
    n_cols = max(e["session"] for e in examples) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.5 * n_cols, 2.8 * n_rows + 0.4),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for i, ex in enumerate(examples):
        ax = axes[ex["speaker"], ex["session"]]
        spec = log_mel_spectrogram(ex["wave"], sample_rate)
        dur = len(ex["wave"]) / sample_rate
        top = spec.max()
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                  extent=(0.0, dur, 0, spec.shape[0]))
        voice, ch = ex["voice"], ex["channel"]
        reverb = f"RT60 {ch.rt60_s:.2f} s" if ch.rt60_s > 0 else "dry"
        ax.set_title(f"speaker {ex['speaker'] + 1} ({voice.sex}, F0 {voice.f0_mean_hz:.0f} Hz), "
                     f"session {ex['session'] + 1}\n{ch.noise_type} noise {ch.snr_db:.0f} dB SNR, {reverb}, "
                     f"band {ch.low_cut_hz:.0f}-{ch.high_cut_hz:.0f} Hz", fontsize=8)
        if i == aligned_panel:
            n_mels = spec.shape[0]
            for seg in ex["segments"]:
                ax.axvspan(seg.start, seg.end, ymin=0.0, ymax=0.06, color=_CLASS_COLOURS[seg.phone_class], lw=0)
                ax.axvline(seg.start, color="white", lw=0.4, alpha=0.6)
                if seg.phone_class != "silence":
                    ax.text(0.5 * (seg.start + seg.end), 0.9 * n_mels, seg.phone, color="white",
                            ha="center", va="center", fontsize=6)
            handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _CLASS_COLOURS.values()]
            ax.legend(handles, list(_CLASS_COLOURS), fontsize=6, loc="lower right", ncol=5,
                      framealpha=0.7, handlelength=1.0)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("mel bin")
    fig.suptitle("Synthetic speakers (rows) recorded in different sessions (columns)", fontsize=10)
    return fig


# ---------------------------------------------------------------------------
# Speaker-verification results
# ---------------------------------------------------------------------------

_DET_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]


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

    from .metrics import det_curve, eer

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 5.0))
    else:
        fig = ax.figure
    palette = sns.color_palette("colorblind", n_colors=max(3, len(systems)))
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
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_training_curves(runs: "dict[str, Any]", smooth: int = 20):
    """Loss and training accuracy per step of SV runs (``history.json``), smoothed."""

    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    frames = []
    for name, run in runs.items():
        from .artifacts import read_json

        hist = pd.DataFrame(read_json(run.file("history.json"), "training history"))
        for col in ("loss", "accuracy"):
            hist[col] = hist[col].rolling(smooth, min_periods=1).mean()
        hist["system"] = name
        frames.append(hist)
    data = pd.concat(frames, ignore_index=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    sns.lineplot(data=data, x="step", y="loss", hue="system", ax=axes[0], palette="colorblind")
    sns.lineplot(data=data, x="step", y="accuracy", hue="system", ax=axes[1], palette="colorblind",
                 legend=False)
    axes[0].set_ylabel("AAM-softmax loss")
    axes[1].set_ylabel("training accuracy")
    axes[1].set_ylim(0, 1)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Explaining the benefit: Integrated Gradients and loss landscapes
# ---------------------------------------------------------------------------


def _shade_segments(ax, segments, alpha: float = 0.25) -> None:
    for seg in segments:
        ax.axvspan(seg.start, seg.end, color=_CLASS_COLOURS.get(seg.phone_class, "white"), alpha=alpha, lw=0)


def plot_attribution_time(result, segments=(), hop_ms: float = 10.0, title: str | None = None):
    """Waveform and |Integrated Gradients| per ``hop_ms`` frame, phone segments shaded by class.

    ``result`` is a :class:`sslsv.analysis.attribution.TrialAttribution`;
    ``segments`` the phone alignment of the attributed utterance.  The lower
    panel also shows the signed attribution per frame (thin line).
    """
    import matplotlib.pyplot as plt

    from .analysis.attribution import time_profile

    sr = result.sample_rate
    t = np.arange(len(result.wave)) / sr
    mass = time_profile(result.attributions, sr, hop_ms)
    signed = time_profile(result.attributions, sr, hop_ms, absolute=False)
    tf = (np.arange(len(mass)) + 0.5) * hop_ms / 1000
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True, constrained_layout=True)
    axes[0].plot(t, result.wave, lw=0.4, color="black")
    axes[0].set_ylabel("waveform")
    axes[1].fill_between(tf, 0, mass, step="mid", color="#444444", alpha=0.8, label="|attribution|")
    axes[1].plot(tf, signed, lw=0.7, color="#d62728", label="signed attribution")
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[1].set_ylabel(f"attribution per {hop_ms:g} ms")
    axes[1].set_xlabel("time (s)")
    for ax in axes:
        _shade_segments(ax, segments)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.4) for c in _CLASS_COLOURS.values()]
    axes[0].legend(handles, list(_CLASS_COLOURS), fontsize=7, loc="upper right", ncol=5, framealpha=0.7)
    axes[1].legend(fontsize=7, loc="upper right")
    axes[0].set_title(title or (f"score {result.score:.3f}, baseline {result.baseline_score:.3f}, "
                                f"convergence delta {result.delta:+.4f} ({result.steps} steps)"), fontsize=9)
    return fig


def plot_attribution_spectrogram(result, segments=(), max_hz: float = 8000.0, percentile: float = 99.0,
                                 title: str | None = None):
    """Input spectrogram (dB) above the Integrated Gradients map in the same STFT coordinates.

    The map (see :func:`sslsv.analysis.attribution.spectrotemporal_attributions`)
    is signed: red bins raise the score, blue bins lower it; the colour
    range is symmetric at the ``percentile`` of ``|map|``.
    """
    import matplotlib.pyplot as plt
    import torch

    from .analysis.attribution import STFT_N_FFT, _stft_params, spectrotemporal_attributions

    amap, freqs, times = spectrotemporal_attributions(result)
    n_fft, win, hop = _stft_params(result.sample_rate)
    spec = torch.stft(torch.from_numpy(result.wave.astype(np.float32)), n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win), center=True, return_complex=True).abs().pow(2).numpy()
    db = 10 * np.log10(spec + 1e-10)
    keep = freqs <= max_hz
    extent = (0.0, len(result.wave) / result.sample_rate, 0.0, freqs[keep][-1] / 1000)
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.0), sharex=True, constrained_layout=True)
    axes[0].imshow(db[keep], origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
                   extent=extent)
    axes[0].set_ylabel("frequency (kHz)")
    limit = np.percentile(np.abs(amap[keep]), percentile) or 1.0
    im = axes[1].imshow(amap[keep], origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                        extent=extent)
    axes[1].set_ylabel("frequency (kHz)")
    axes[1].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes[1], label="attribution")
    for seg in segments:
        axes[1].axvspan(seg.start, seg.end, ymin=0.0, ymax=0.04, color=_CLASS_COLOURS.get(seg.phone_class, "white"),
                        lw=0)
    axes[0].set_title(title or "input spectrogram (top) and Integrated Gradients per STFT bin (bottom)", fontsize=9)
    return fig


def plot_attribution_shares(summary, by: str = "phone_class", reference: str = "duration_share",
                            trial_type: str = "all", ax=None, title: str | None = None):
    """Mean share of attribution mass per class/band and model, with bootstrap CIs.

    ``summary`` is :attr:`AttributionStudy.phone_summary` (``by="phone_class"``,
    reference ``duration_share``) or ``band_summary`` (``by="band"``,
    reference ``energy_share``).  Bars: mass share per model (error bars: CI
    over trials); black ticks: the reference share (the same input for every
    model, so its mean over models is drawn).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = summary[summary["trial_type"] == trial_type]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 3.4), constrained_layout=True)
    else:
        fig = ax.figure
    order = list(dict.fromkeys(data[by]))
    models = list(dict.fromkeys(data["model"]))
    palette = sns.color_palette("colorblind", n_colors=max(3, len(models)))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(order))
    for i, (model, colour) in enumerate(zip(models, palette)):
        d = data[data["model"] == model].set_index(by).reindex(order)
        pos = x - 0.4 + width * (i + 0.5)
        err = np.vstack([d["mass_share"] - d["mass_share_ci_low"], d["mass_share_ci_high"] - d["mass_share"]])
        ax.bar(pos, d["mass_share"], width=width, color=colour, label=model, yerr=err, capsize=2,
               error_kw={"lw": 0.8})
    ref = data.groupby(by, sort=False)[reference].mean().reindex(order)
    ax.scatter(x, ref, marker="_", s=600, color="black", zorder=3, label=reference.replace("_", " "))
    ax.set_xticks(x, order)
    ax.set_ylabel("share of |attribution| mass")
    ax.set_title(title or f"attribution mass per {by.replace('_', ' ')} ({trial_type} trials)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_loss_curves(curves, paths=None, title: str | None = None):
    """1D loss slices along filter-normalised random directions (one line per seed), per model.

    ``curves`` has columns ``model, seed, alpha, loss``; ``paths`` (optional,
    columns ``model, t, loss``) adds a panel with the interpolation from the
    initial / pre-trained weights (t = 0) to the trained ones (t = 1).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = 2 if paths is not None and len(paths) else 1
    fig, axes = plt.subplots(1, n, figsize=(5.0 * n, 3.4), squeeze=False, constrained_layout=True)
    sns.lineplot(data=curves, x="alpha", y="loss", hue="model", units="seed", estimator=None, ax=axes[0, 0],
                 palette="colorblind", lw=1.2)
    axes[0, 0].set_xlabel("filter-normalised step alpha")
    axes[0, 0].set_ylabel("training loss (AAM-softmax)")
    axes[0, 0].set_title(title or "1D slices around the trained weights", fontsize=9)
    if n == 2:
        sns.lineplot(data=paths, x="t", y="loss", hue="model", ax=axes[0, 1], palette="colorblind", marker="o",
                     ms=3, legend=False)
        for t in (0.0, 1.0):
            axes[0, 1].axvline(t, color="grey", ls=":", lw=0.8)
        axes[0, 1].set_xlabel("t (0 = start of SV training, 1 = trained)")
        axes[0, 1].set_ylabel("training loss")
        axes[0, 1].set_title("straight path from the initial to the trained weights", fontsize=9)
    return fig


def plot_loss_contours(surfaces, levels: int = 15, title: str | None = None):
    """2D loss contours (one panel per model, shared colour levels), trained weights at the centre."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(surfaces["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(4.0 * len(models) + 0.8, 3.6), squeeze=False,
                             constrained_layout=True)
    lo, hi = float(surfaces["loss"].min()), float(surfaces["loss"].max())
    bounds = np.linspace(lo, hi, levels)
    cs = None
    for ax, model in zip(axes[0], models):
        d = surfaces[surfaces["model"] == model].pivot(index="beta", columns="alpha", values="loss")
        cs = ax.contourf(d.columns, d.index, d.to_numpy(), levels=bounds, cmap="viridis")
        ax.contour(d.columns, d.index, d.to_numpy(), levels=bounds, colors="white", linewidths=0.3)
        ax.plot(0, 0, "r+", ms=8)
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("alpha (direction 1)")
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("beta (direction 2)")
    if cs is not None:
        fig.colorbar(cs, ax=axes[0].tolist(), label="training loss")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------
# Factor studies (chapters 02-06)
# ---------------------------------------------------------------------------

_METRIC_LABELS = {"eer_percent": "EER (%)", "min_dcf_0.01": "minDCF (P=0.01)", "min_dcf_0.05": "minDCF (P=0.05)"}


def _factor_panel(ax, per_seed, order, metric: str, title: str | None = None) -> None:
    import seaborn as sns

    refs = per_seed[per_seed["reference"]]
    rows = per_seed[~per_seed["reference"]]
    order = [o for o in order if o in set(rows["system"])]
    hue = "upstream" if rows["upstream"].nunique() > 1 else None
    sns.pointplot(data=rows, x="system", y=metric, order=order, hue=hue, errorbar="sd", capsize=0.15,
                  linestyle="none", markers="D", dodge=0.3 if hue else False, ax=ax, color="#1f4e79")
    sns.stripplot(data=rows, x="system", y=metric, order=order, hue=hue, dodge=bool(hue), alpha=0.45, size=4,
                  ax=ax, color="#1f4e79", legend=False)
    styles = {"fbank": ("#d95f02", "--"), "random init": ("#7570b3", ":")}
    for name, sel in refs.groupby("system", sort=False):
        colour, ls = styles.get(name, ("grey", "-."))
        m, sd = sel[metric].mean(), sel[metric].std(ddof=1) if len(sel) > 1 else 0.0
        ax.axhline(m, color=colour, ls=ls, lw=1.5, label=f"{name} (mean)")
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


def plot_factor(study, metrics: Sequence[str] = ("eer_percent", "min_dcf_0.01"), title: str | None = None):
    """Each condition's metric over seeds (mean ± sd and the seeds), with the references as lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _factor_panel(ax, study.per_seed, study.order, metric)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(title or f"{study.factor}: speaker verification on each upstream ({study.profile})")
    fig.tight_layout()
    return fig


def plot_layer_weights(weights, title: str = "Learned layer weights (softmax, mean over seeds)"):
    """Heat map of the SV front-end's layer weights: one row per system, one column per hidden state."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = weights.pivot_table(index="system", columns="layer", values="weight", sort=False)
    fig, ax = plt.subplots(figsize=(1.1 + 0.75 * table.shape[1], 0.9 + 0.45 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="viridis", cbar_kws={"label": "weight"}, ax=ax)
    ax.set_xlabel("hidden state (0 = input embedding)")
    ax.set_ylabel("")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_summary(summary, metric: str = "eer_percent"):
    """All four factor studies side by side, one panel each, on a shared axis."""
    import matplotlib.pyplot as plt

    studies = list(summary.studies.values())
    fig, axes = plt.subplots(1, len(studies), figsize=(4.2 * len(studies), 4.4), sharey=True, squeeze=False)
    for ax, study in zip(axes[0], studies):
        verdict = summary.claims[study.factor]["verdict"]
        _factor_panel(ax, study.per_seed, study.order, metric, title=f"{study.factor}\n({verdict})")
    axes[0][0].legend(loc="best", fontsize=8)
    for ax in axes[0][1:]:
        ax.set_ylabel("")
    fig.suptitle("Every factor at a glance: mean ± sd over seeds, references as lines")
    fig.tight_layout()
    return fig

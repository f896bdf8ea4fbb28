"""Figures that explain the benefit: Integrated Gradients over time, frequency and phone classes; loss landscapes."""

from __future__ import annotations

import numpy as np

from ..systems import shown, shown_frame
from .audio import CLASS_COLOURS
from .style import HEIGHT, WIDTH, colours, styled

__all__ = ["plot_attribution_time", "plot_attribution_spectrogram", "plot_attribution_spectrograms",
           "plot_attribution_shares", "plot_loss_curves", "plot_loss_contours"]


def _shade_segments(ax, segments, alpha: float = 0.25) -> None:
    for seg in segments:
        ax.axvspan(seg.start, seg.end, color=CLASS_COLOURS.get(seg.phone_class, "white"), alpha=alpha, lw=0)


@styled
def plot_attribution_time(result, segments=(), hop_ms: float = 10.0, title: str | None = None):
    """Waveform and |Integrated Gradients| per ``hop_ms`` frame, phone segments shaded by class.

    ``result`` is a :class:`sslsv.analysis.attribution.TrialAttribution`;
    ``segments`` the phone alignment of the attributed utterance.  The lower
    panel also shows the signed attribution per frame (thin line).
    """
    import matplotlib.pyplot as plt

    from ..analysis.attribution import time_profile

    sr = result.sample_rate
    t = np.arange(len(result.wave)) / sr
    mass = time_profile(result.attributions, sr, hop_ms)
    signed = time_profile(result.attributions, sr, hop_ms, absolute=False)
    tf = (np.arange(len(mass)) + 0.5) * hop_ms / 1000
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH, HEIGHT), sharex=True, constrained_layout=True)
    axes[0].plot(t, result.wave, lw=0.4, color="black")
    axes[0].set_ylabel("waveform")
    axes[1].fill_between(tf, 0, mass, step="mid", color="#444444", alpha=0.8, label="|attribution|")
    axes[1].plot(tf, signed, lw=0.7, color="#d62728", label="signed attribution")
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[1].set_ylabel(f"attribution per {hop_ms:g} ms")
    axes[1].set_xlabel("time (s)")
    for ax in axes:
        _shade_segments(ax, segments)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.4) for c in CLASS_COLOURS.values()]
    axes[0].legend(handles, list(CLASS_COLOURS), fontsize=10, loc="upper right", ncol=5, framealpha=0.7)
    axes[1].legend(fontsize=10, loc="upper right")
    axes[0].set_title(title or (f"score {result.score:.3f}, baseline {result.baseline_score:.3f}, "
                                f"convergence delta {result.delta:+.4f} ({result.steps} steps)"))
    return fig


@styled
def plot_attribution_spectrogram(result, segments=(), max_hz: float = 8000.0, percentile: float = 99.0,
                                 title: str | None = None):
    """Input spectrogram (dB) above the Integrated Gradients map in the same STFT coordinates.

    The map (see :func:`sslsv.analysis.attribution.spectrotemporal_attributions`)
    is signed: red bins raise the score, blue bins lower it; the colour
    range is symmetric at the ``percentile`` of ``|map|``.
    """
    import matplotlib.pyplot as plt
    import torch

    from ..analysis.attribution import STFT_N_FFT, _stft_params, spectrotemporal_attributions

    amap, freqs, times = spectrotemporal_attributions(result)
    n_fft, win, hop = _stft_params(result.sample_rate)
    spec = torch.stft(torch.from_numpy(result.wave.astype(np.float32)), n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win), center=True, return_complex=True).abs().pow(2).numpy()
    db = 10 * np.log10(spec + 1e-10)
    keep = freqs <= max_hz
    extent = (0.0, len(result.wave) / result.sample_rate, 0.0, freqs[keep][-1] / 1000)
    fig, axes = plt.subplots(2, 1, figsize=(WIDTH, 5.5), sharex=True, constrained_layout=True)
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
        axes[1].axvspan(seg.start, seg.end, ymin=0.0, ymax=0.04, color=CLASS_COLOURS.get(seg.phone_class, "white"),
                        lw=0)
    axes[0].set_title(title or "input spectrogram (top) and Integrated Gradients per STFT bin (bottom)")
    return fig


def _spectrogram_db(result):
    """The STFT power (dB) of the attributed waveform, in the coordinates of its attribution map."""
    import torch

    from ..analysis.attribution import _stft_params

    n_fft, win, hop = _stft_params(result.sample_rate)
    spec = torch.stft(torch.from_numpy(result.wave.astype(np.float32)), n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win), center=True, return_complex=True).abs().pow(2).numpy()
    return 10 * np.log10(spec + 1e-10)


@styled
def plot_attribution_spectrograms(examples: "dict", segments=(), max_hz: float = 8000.0, percentile: float = 99.0,
                                  title: str | None = None):
    """One trial's input spectrogram once, then each system's Integrated Gradients map of it, two per row.

    ``examples`` maps a system name to its :class:`~sslsv.analysis.attribution.TrialAttribution` of
    the same trial (:attr:`AttributionStudy.examples`); every map shares one symmetric colour range
    (the ``percentile`` of ``|map|`` over all systems), so the systems compare at a glance.
    """
    import matplotlib.pyplot as plt

    from ..analysis.attribution import spectrotemporal_attributions

    names = list(examples)
    maps = {name: spectrotemporal_attributions(examples[name]) for name in names}
    first = examples[names[0]]
    amap, freqs, _ = maps[names[0]]
    keep = freqs <= max_hz
    extent = (0.0, len(first.wave) / first.sample_rate, 0.0, freqs[keep][-1] / 1000)
    rows = 1 + (len(names) + 1) // 2
    fig = plt.figure(figsize=(WIDTH, 2.3 * rows + 0.4), constrained_layout=True)
    grid = fig.add_gridspec(rows, 2)
    top = fig.add_subplot(grid[0, :])
    db = _spectrogram_db(first)
    top.imshow(db[keep], origin="lower", aspect="auto", cmap="magma", vmin=db.max() - 80, vmax=db.max(),
               extent=extent)
    top.set_title("input spectrogram of the test utterance (dB)")
    top.set_ylabel("kHz")
    limit = float(np.percentile(np.concatenate([np.abs(m[0][m[1] <= max_hz]).ravel() for m in maps.values()]),
                                percentile)) or 1.0
    im = None
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[1 + i // 2, i % 2], sharex=top)
        amap, freqs, _ = maps[name]
        im = ax.imshow(amap[freqs <= max_hz], origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit,
                       vmax=limit, extent=extent)
        for seg in segments:
            ax.axvspan(seg.start, seg.end, ymin=0.0, ymax=0.05, color=CLASS_COLOURS.get(seg.phone_class, "white"),
                       lw=0)
        ax.set_title(shown(name))
        ax.set_ylabel("kHz" if i % 2 == 0 else "")
        ax.set_xlabel("time (s)" if i >= len(names) - 2 else "")
        ax.grid(False)
    top.grid(False)
    if im is not None:
        fig.colorbar(im, ax=fig.axes[1:], label="attribution (red raises the score)", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


@styled
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
        fig, ax = plt.subplots(figsize=(WIDTH, HEIGHT), constrained_layout=True)
    else:
        fig = ax.figure
    order = list(dict.fromkeys(data[by]))
    models = list(dict.fromkeys(data["model"]))
    palette = colours(len(models))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(order))
    for i, (model, colour) in enumerate(zip(models, palette)):
        d = data[data["model"] == model].set_index(by).reindex(order)
        pos = x - 0.4 + width * (i + 0.5)
        err = np.vstack([d["mass_share"] - d["mass_share_ci_low"], d["mass_share_ci_high"] - d["mass_share"]])
        ax.bar(pos, d["mass_share"], width=width, color=colour, label=shown(model), yerr=err, capsize=2,
               error_kw={"lw": 0.8})
    ref = data.groupby(by, sort=False)[reference].mean().reindex(order)
    ax.scatter(x, ref, marker="_", s=600, color="black", zorder=3, label=reference.replace("_", " "))
    ax.set_xticks(x, order)
    ax.set_ylabel("share of |attribution| mass")
    ax.set_title(title or f"attribution mass per {by.replace('_', ' ')} ({trial_type} trials)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


@styled
def plot_loss_curves(curves, paths=None, title: str | None = None):
    """1D loss slices along filter-normalised random directions (one line per seed), per model.

    ``curves`` has columns ``model, seed, alpha, loss``; ``paths`` (optional,
    columns ``model, t, loss``) adds a panel with the interpolation from the
    initial / pre-trained weights (t = 0) to the trained ones (t = 1).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    curves = shown_frame(curves)  # the systems by their labels (sslsv.systems)
    paths = shown_frame(paths) if paths is not None else None
    n = 2 if paths is not None and len(paths) else 1
    fig, axes = plt.subplots(1, n, figsize=(WIDTH, HEIGHT), squeeze=False, constrained_layout=True)
    palette = colours(curves["model"].nunique())
    sns.lineplot(data=curves, x="alpha", y="loss", hue="model", units="seed", estimator=None, ax=axes[0, 0],
                 palette=palette, lw=1.2)
    axes[0, 0].set_xlabel("filter-normalised step alpha")
    axes[0, 0].set_ylabel("training loss (AAM-softmax)")
    axes[0, 0].set_title(title or "1D slices around the trained weights")
    if n == 2:
        sns.lineplot(data=paths, x="t", y="loss", hue="model", ax=axes[0, 1], palette=palette, marker="o",
                     ms=3, legend=False)
        for t in (0.0, 1.0):
            axes[0, 1].axvline(t, color="grey", ls=":", lw=0.8)
        axes[0, 1].set_xlabel("t (0 = start of SV training, 1 = trained)")
        axes[0, 1].set_ylabel("training loss")
        axes[0, 1].set_title("path from the initial to the trained weights")
    return fig


@styled
def plot_loss_contours(surfaces, levels: int = 15, title: str | None = None):
    """2D loss contours (one panel per model, shared colour levels), trained weights at the centre."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(surfaces["model"]))
    fig, axes = plt.subplots(1, len(models), figsize=(WIDTH, WIDTH / len(models) + 0.6), squeeze=False,
                             constrained_layout=True)
    lo, hi = float(surfaces["loss"].min()), float(surfaces["loss"].max())
    bounds = np.linspace(lo, hi, levels)
    cs = None
    for ax, model in zip(axes[0], models):
        d = surfaces[surfaces["model"] == model].pivot(index="beta", columns="alpha", values="loss")
        cs = ax.contourf(d.columns, d.index, d.to_numpy(), levels=bounds, cmap="viridis")
        ax.contour(d.columns, d.index, d.to_numpy(), levels=bounds, colors="white", linewidths=0.3)
        ax.plot(0, 0, "r+", ms=8)
        ax.set_title(shown(model), fontsize=11)
        ax.grid(False)
        ax.set_xlabel("alpha (direction 1)")
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("beta (direction 2)")
    if cs is not None:
        fig.colorbar(cs, ax=axes[0].tolist(), label="training loss")
    if title:
        fig.suptitle(title)
    return fig

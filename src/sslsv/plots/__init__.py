"""Figures used by the book (matplotlib/seaborn, no global state, no ``plt.show``).

Every function returns a :class:`matplotlib.figure.Figure`; notebooks display
it, scripts save it.  One module per concern, every name here as
``plots.<name>``:

============= ===============================================================
``audio``      the synthetic corpus: log-mel spectrograms, phone classes
``training``   training curves of SV runs and of a pre-training run
``results``    DET curves, factor studies, layer weights, the regime map, the summary
``explain``    Integrated Gradients and loss landscapes
``style``      the one look of every figure: page width, fonts, the colour-blind-safe palette
============= ===============================================================
"""

from .audio import CLASS_COLOURS, log_mel_spectrogram, plot_speakers_and_sessions
from .explain import (plot_attribution_shares, plot_attribution_spectrogram, plot_attribution_spectrograms,
                      plot_attribution_time, plot_loss_contours, plot_loss_curves)
from .results import plot_det, plot_factor, plot_layer_weights, plot_regime_map, plot_summary
from .style import as_jpeg
from .training import plot_history, plot_learning_curves, plot_training_curves

__all__ = ["CLASS_COLOURS", "log_mel_spectrogram", "plot_speakers_and_sessions", "plot_attribution_shares",
           "plot_attribution_spectrogram", "plot_attribution_spectrograms", "plot_attribution_time", "plot_loss_contours", "plot_loss_curves",
           "plot_det", "plot_factor", "plot_layer_weights", "plot_regime_map", "plot_summary", "plot_history", "plot_learning_curves", "plot_training_curves",
           "as_jpeg"]

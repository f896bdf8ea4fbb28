"""One look for every figure of the book: page width, readable fonts, one colour-blind-safe palette.

Every plotting function of :mod:`sslsv.plots` is wrapped in :func:`styled`,
which draws it under :data:`RC` (a ``matplotlib.rc_context``: nothing global
is changed).  Figures are :data:`WIDTH` inches wide at :data:`DPI`, the width
of the book's text column, with fonts of at least 11 pt; colours come from
:data:`PALETTE` (seaborn's ``colorblind``), and the two references of every
study always have the same colour and line style (:func:`reference_style`).

>>> len(colours(4)), colours(2)[0] == colours(5)[0]
(4, True)
>>> RC["font.size"] >= 11 and RC["figure.dpi"] == DPI
True
"""

from __future__ import annotations

import functools

from ..systems import FBANK, RANDOM

__all__ = ["WIDTH", "HEIGHT", "DPI", "PALETTE", "RC", "reference_style", "ACCENT", "colours", "styled",
           "SATURATED", "informative"]

WIDTH = 11.0  # inches: the book's text column at DPI
HEIGHT = 4.5  # a single row of panels
DPI = 100  # 1100 px wide: sharp on screen, small on disk
PALETTE = "colorblind"  # seaborn's colour-blind-safe palette, for every figure
RC = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.title_fontsize": 11,
    "figure.titlesize": 14,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",  # spectrograms: blocks of equal colour, which PNG stores in few bytes
}
# minDCF at P_target = 0.01 or 0.05 saturates near 1 when the EER is far above P_target: a panel of it says nothing.
SATURATED = 0.99


def colours(n: int) -> list:
    """The first ``n`` colours of :data:`PALETTE` (the same colour for the same position in every figure)."""
    import seaborn as sns

    return sns.color_palette(PALETTE, n_colors=max(int(n), 1))


def reference_style(system: str) -> tuple:
    """``(colour, linestyle)`` of a reference system (its key, :mod:`sslsv.systems`): fbank dashed, random init
    dotted, others dash-dotted grey.

    >>> reference_style(FBANK)[1], reference_style(RANDOM)[1], reference_style("other")
    ('--', ':', ('grey', '-.'))
    """
    p = colours(10)
    return {FBANK: (p[1], "--"), RANDOM: (p[4], ":")}.get(system, ("grey", "-."))


ACCENT = "#0173b2"  # PALETTE's first colour: the systems under study when they share one colour


def styled(plot):
    """Draw ``plot`` under :data:`RC`."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(RC):
            fig = plot(*args, **kwargs)
            interactive = matplotlib.is_interactive()
        # leaving the context restores every rcParam, "interactive" too: a backend started inside it (IPython's
        # inline backend, on the first figure of a kernel) turned it on, and without it no later figure is shown
        matplotlib.interactive(interactive)
        return fig

    return wrapper


def informative(values, saturated: float = SATURATED) -> bool:
    """Whether a minDCF axis carries information: False when every value, at the two decimals the
    tables print, is at least ``saturated``.

    >>> informative([0.99, 1.0, 0.987]), informative([0.99, 0.93])
    (False, True)
    """
    import numpy as np

    v = np.round(np.asarray(values, dtype=float), 2)
    v = v[~np.isnan(v)]
    return bool(len(v)) and bool((v < saturated).any())


def as_jpeg(fig, quality: int = 85):
    """``fig`` as a JPEG image for the notebook, and the figure closed.

    For photographic panels (spectrograms, attribution maps): their noise-like pixels make a PNG at the
    book's width weigh ~0.5 MB, a JPEG a fifth of it, and a chapter should stay under 1 MB.

    >>> import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    >>> img = as_jpeg(plt.figure(figsize=(2, 1)))
    >>> img.format, img.data[:2] == b"\\xff\\xd8"
    ('jpeg', True)
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=fig.dpi, pil_kwargs={"quality": int(quality)})
    plt.close(fig)
    return Image(data=buf.getvalue(), format="jpeg")

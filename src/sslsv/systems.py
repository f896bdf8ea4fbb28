"""Systems: the keys that identify them, and the labels a reader sees.

A *system* is what the studies compare: the fbank front-end, the upstream
architecture from random weights, or a pre-trained upstream that differs
from the default in one factor.  Tables, comparisons and verdicts identify
it by its *key*: the reference's name (:data:`FBANK`, :data:`RANDOM`) or the
factor's value (an objective ``"ctc"``, a quantizer ``"kmeans_hidden"``, a
size ``"tiny"``, an amount of audio in hours ``"0.25"``); the regime map's
upstreams are all :data:`SSL`, told apart by their typed ``budget`` and
``domain`` columns.  The mode (frozen, fine-tuned), the role (a cell or the
convergence check) and the seeds are columns of their own.

A display label (``"random init"``, ``"CTC (supervised)"``, ``"7 s"``,
``"SSL 500 updates, out-of-domain"``, ``"fbank (2x steps)"``) is made only
where a table, a figure or a sentence is drawn, by :func:`shown` (one
system) or :func:`shown_frame` (a table's system columns), from this module's
one mapping, :data:`NAMES`.  This module imports nothing of ``sslsv``.

>>> shown("random"), shown("ctc"), shown("tiny"), shown("0.002"), shown("0.25")
('random init', 'CTC (supervised)', 'tiny', '7 s', '0.25 h')
>>> shown(SSL, budget=500, domain="out-of-domain"), shown(FBANK, role="convergence")
('SSL 500 updates, out-of-domain', 'fbank (2x steps)')
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FBANK", "RANDOM", "SSL", "REFERENCES", "SSL_FROZEN", "SSL_FINE_TUNED", "RANDOM_FINE_TUNED", "LONGER", "Kind", "Role", "NAMES", "SYSTEM_COLUMNS",
           "hours_key", "hours_label", "shown", "shown_row", "shown_frame", "check_system"]

Kind = Literal["ssl", "random", "fbank"]  # what a system's front-end is (Condition.kind)
Role = Literal["cell", "convergence"]  # what a run is for: a cell of a comparison, or the map's convergence check

FBANK = "fbank"  # the fbank front-end, no upstream
RANDOM = "random"  # the upstream architecture from random weights
SSL = "ssl"  # a pre-trained upstream of the regime map (its budget and domain say which)
# chapters 07-08's analysed systems, one front-end in one mode each (sslsv.studies.explain; with FBANK)
SSL_FROZEN, SSL_FINE_TUNED, RANDOM_FINE_TUNED = "ssl_frozen", "ssl_fine_tuned", "random_fine_tuned"
# the systems every chapter compares against (fbank and random init; in the analyses random init fine-tuned)
REFERENCES = (FBANK, RANDOM, RANDOM_FINE_TUNED)
LONGER = 2  # the regime map's convergence check trains the references this many times as long

# The label of every key that is not shown as it is (sizes, "masked", "unmasked" and "contrastive" are).
NAMES: dict[str, str] = {
    FBANK: "fbank", RANDOM: "random init", SSL: "SSL",
    # the analysed systems of chapters 07-08 (sslsv.studies.explain)
    SSL_FROZEN: "SSL frozen", SSL_FINE_TUNED: "SSL fine-tuned", RANDOM_FINE_TUNED: "random init fine-tuned",
    # objectives (sslsv.studies.objective)
    "mixed": "masked+unmasked", "ctc": "CTC (supervised)",
    # quantizers (sslsv.studies.quantizer)
    "kmeans_mfcc": "k-means MFCC", "kmeans_hidden": "k-means hidden (it. 2)",
    "random_projection": "random projection", "oracle_phones": "oracle phones",
    # the pool's language, the fifth factor (sslsv.studies.language)
    "lexicon": "lexicon pool", "syllables": "syllable pool",
}

# The columns of a table that hold system keys (shown by their labels); "model": the analyses of chapters 07-08.
SYSTEM_COLUMNS = ("system", "against", "model")


def hours_key(hours: float) -> str:
    """The key of an amount of pre-training audio: the hours as a number (``0.25`` -> ``"0.25"``)."""
    return f"{float(hours):g}"


def hours_label(hours: float) -> str:
    """``0.25 h``; amounts under three minutes read in seconds (``7 s``).

    >>> hours_label(0.25), hours_label(0.002)
    ('0.25 h', '7 s')
    """
    return f"{hours:g} h" if hours >= 0.05 else f"{hours * 3600:.0f} s"


def _hours(system: str) -> float | None:
    try:
        value = float(system)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def _given(value: Any) -> bool:
    """Not missing: neither None, nor NaN or pandas' NA (a column without a value in this row), nor empty."""
    try:
        return value is not None and value == value and value != ""
    except TypeError:  # pandas.NA compares to NA, whose truth is ambiguous
        return False


def shown(system: str, budget: Any = None, domain: Any = None, role: str = "cell") -> str:
    """The display label of a system key; the regime map's :data:`SSL` upstreams name their ``budget`` and
    ``domain``, and a run of the convergence check (``role``) says that it trained :data:`LONGER` times as long."""
    system = str(system)
    hours = _hours(system)
    if system == SSL and _given(budget) and _given(domain):
        label = f"SSL {int(budget)} updates, {domain}"
    elif hours is not None:
        label = hours_label(hours)
    else:
        label = NAMES.get(system, system)
    return f"{label} ({LONGER}x steps)" if role == "convergence" else label


def shown_row(row: Mapping[str, Any], column: str = "system") -> str:
    """The label of the system in ``row[column]``, with the row's ``budget``, ``domain`` and ``role`` if it has them.

    >>> shown_row({"system": "ssl", "budget": 40, "domain": "in-domain"})
    'SSL 40 updates, in-domain'
    """
    role = row.get("role")
    return shown(row[column], row.get("budget"), row.get("domain"), role if isinstance(role, str) else "cell")


def shown_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """A copy of ``frame`` whose system columns (:data:`SYSTEM_COLUMNS`) hold display labels, for drawing.

    >>> import pandas as pd
    >>> shown_frame(pd.DataFrame({"system": ["ctc", "masked"], "against": ["random", "fbank"]})).values.tolist()
    [['CTC (supervised)', 'random init'], ['masked', 'fbank']]
    """
    columns = [c for c in SYSTEM_COLUMNS if c in frame.columns]
    if not columns:
        return frame
    out = frame.copy()
    rows = frame.to_dict("records")
    for c in columns:
        out[c] = [shown_row(r, c) if c == "system" else shown(r[c]) for r in rows]
    return out


def check_system(system: str, valid: Iterable[str]) -> None:
    """Refuse a system that is not one of ``valid`` keys, naming them (and the key of a display label).

    >>> check_system("random init", ["fbank", "random", "masked"])
    Traceback (most recent call last):
    ...
    KeyError: "no system 'random init' (a display label: its key is 'random'); systems: fbank, random, masked"
    """
    valid = list(dict.fromkeys(str(v) for v in valid))
    if system in valid:
        return
    keys = [v for v in valid if shown(v) == system]
    hint = f" (a display label: its key is {keys[0]!r})" if keys else ""
    raise KeyError(f"no system {system!r}{hint}; systems: {', '.join(valid)}")

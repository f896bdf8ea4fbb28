"""Result tables as a reader wants them: rendered HTML in the book, the numbers as data for the regression references.

A notebook cell displays a :class:`Table`.  Jupyter stores three forms of it,
and each reader takes the one it wants:

* ``text/html`` (what the book shows): a pandas Styler table with metrics
  written as a reader writes them (``27.40 ± 2.00`` for a mean ± sd over
  seeds, ``27.40 [26.20, 28.40]`` for a value with its 95 % interval), the
  best value of each metric column highlighted, the reference rows (fbank,
  random init) marked, and long tables (per seed, per run) folded into a
  ``<details>`` dropdown below the summary;
* :data:`RESULTS_MIME` (what the nbval references compare, value by value,
  with a tolerance per kind of number: ``tests/reference.py``): the frame
  itself as data, ``{"name", "columns", "rows"}`` per table, every float
  rounded to the digits the table shows;
* ``text/plain`` (a terminal's view, compared by nobody): the table's
  ``DataFrame.to_string(index=False)``.

The layout of the HTML and of the text is free to change; the data is what a
chapter's results are.  A frame names its systems by their keys
(:mod:`sslsv.systems`); the HTML and the text show their display labels
(:func:`sslsv.systems.shown_frame`), the data keeps the keys.

>>> import pandas as pd
>>> summary = pd.DataFrame({"system": ["random", "ctc"], "reference": [True, False],
...                         "eer_percent_mean": [27.4, 25.0], "eer_percent_std": [2.0, 1.5]})
>>> t = table(summary, digits=2)
>>> print(repr(t))
          system  reference  eer_percent_mean  eer_percent_std
     random init       True              27.4              2.0
CTC (supervised)      False              25.0              1.5
>>> "27.40 ± 2.00" in t._repr_html_(), "CTC (supervised)" in t._repr_html_(), t.data[0]["rows"][1][0]
(True, True, 'ctc')
"""

from __future__ import annotations

import fnmatch
import hashlib
import html as html_lib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from .systems import REFERENCES, shown_frame

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Table", "Prose", "RESULTS_MIME", "ResultsMimeRenderer", "frame_data", "table", "details", "stack",
           "results", "per_run", "verdicts", "LOWER_IS_BETTER", "format_mean_sd", "format_interval"]

# The mime type of a table's numbers as data (what the regression references compare).
RESULTS_MIME = "application/vnd.sslsv.results+json"
SIGNIFICANT = 6  # a float of a table shown "as is" (digits=None) keeps the significant digits pandas prints

# Metric columns where the smallest value is the best (shell-style patterns); their spreads are not metrics.
LOWER_IS_BETTER = ("eer_percent", "eer_percent_mean", "eer_mean", "min_dcf_0.*")
NOT_A_METRIC = ("*_std", "*_sd", "*_ci_low", "*_ci_high", "*_low", "*_high")
# How a column is headed in the book (the plain text keeps the column's own name).
LABELS = {"eer_percent": "EER (%)", "eer_mean": "EER (%)", "min_dcf_0.01": "minDCF (0.01)",
          "min_dcf_0.05": "minDCF (0.05)", "min_dcf_0.1": "minDCF (0.1)", "n_seeds": "seeds",
          "parameters_M": "parameters (M)", "miss_at_1pct_fa": "missed at 1 % false alarms (%)",
          "eer_longer": "EER, 2x steps (%)", "longer_minus_protocol": "2x steps − protocol",
          "longer_ci_low": "95 % low", "longer_ci_high": "95 % high", "best_vs_random": "best vs random init",
          "ci95": "± (95 % Welch)"}
BEST_STYLE = "background-color: #d9f0d3; font-weight: bold;"
REFERENCE_STYLE = "background-color: #f2f2f2; font-style: italic;"
VERDICT_STYLES = {"reproduced": "background-color: #d9f0d3;", "not reproduced": "background-color: #f6d5d5;",
                  "inconclusive": "background-color: #fdf1c7;"}
TABLE_CSS = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 0.88em; font-variant-numeric: tabular-nums; "
                               "margin: 0.4em 0 1em 0; max-width: 100%;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold; padding: 0.2em 0;"},
    {"selector": "th", "props": "white-space: normal; text-align: right; vertical-align: bottom; "
                                "border-bottom: 1px solid #888; padding: 0.25em 0.5em;"},
    {"selector": "td", "props": "text-align: right; padding: 0.2em 0.5em; border-bottom: 1px solid #e4e4e4;"},
]


@dataclass(frozen=True)
class Table:
    """What a notebook displays: ``html`` for the book, ``text`` for a terminal, ``data`` (one
    :func:`frame_data` per table shown) for the references.

    >>> t = Table("<table></table>", "a  b\\n1  2", ({"name": None, "columns": ["a", "b"], "rows": [[1, 2]]},))
    >>> t._repr_html_(), repr(t), t._repr_mimebundle_()[RESULTS_MIME]["tables"][0]["rows"]
    ('<table></table>', 'a  b\\n1  2', [[1, 2]])
    """

    html: str
    text: str
    data: tuple = ()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = {"text/html": self.html, "text/plain": self.text}
        if self.data:
            bundle[RESULTS_MIME] = {"tables": list(self.data)}
        return bundle

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's text/plain
        printer.text(self.text)


class ResultsMimeRenderer:
    """A myst-nb mime renderer (entry point ``myst_nb.mime_renderers`` in ``pyproject.toml``): a table's data
    (:data:`RESULTS_MIME`) is what the references compare, not what a page shows. The book never picks it
    and renders nothing for it; myst-nb would otherwise warn of an unknown mime type, and the book's build
    fails on any warning.

    >>> from types import SimpleNamespace as NS
    >>> ResultsMimeRenderer.handle_mime(None, NS(mime_type=RESULTS_MIME), False), ResultsMimeRenderer.handle_mime(
    ...     None, NS(mime_type="text/html"), False)
    ([], None)
    """

    mime_priority_overrides = [("*", RESULTS_MIME, None)]

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        return [] if data.mime_type == RESULTS_MIME else None


def format_mean_sd(mean: float, sd: float, digits: int = 2) -> str:
    """``27.40 ± 2.00``; a single seed (sd NaN) gives the mean alone.

    >>> format_mean_sd(27.4, 2.0), format_mean_sd(27.4, 2.0, 1), format_mean_sd(27.4, float("nan"))
    ('27.40 ± 2.00', '27.4 ± 2.0', '27.40')
    """
    if _missing(mean):
        return "–"
    if _missing(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_interval(value: float, low: float, high: float, digits: int = 2) -> str:
    """``27.40 [26.20, 28.40]``: a value and its interval; ``[26.20, 28.40]`` without a value (None).

    >>> format_interval(27.4, 26.2, 28.4), format_interval(None, 26.2, 28.4, 1)
    ('27.40 [26.20, 28.40]', '[26.2, 28.4]')
    """
    interval = "–" if _missing(low) or _missing(high) else f"[{low:.{digits}f}, {high:.{digits}f}]"
    return interval if value is None else f"{'–' if _missing(value) else f'{value:.{digits}f}'} {interval}"


def _value(v, digits: int | None):
    """One cell as JSON data: floats rounded to ``digits`` decimals (None: :data:`SIGNIFICANT` significant
    digits), NaN and missing values None, numpy scalars as Python's, anything else its ``str``.

    >>> import numpy as np
    >>> [_value(x, 2) for x in (np.float32(0.125), 3.14159, np.int64(4), np.bool_(True), float("nan"), "fbank")]
    [0.12, 3.14, 4, True, None, 'fbank']
    >>> _value(1234567.891, None), _value(float("-inf"), 2)
    (1234570.0, '-inf')
    """
    import numbers

    import numpy as np

    if v is None or _missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        v = float(v)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, digits) if digits is not None else float(f"{v:.{SIGNIFICANT}g}")
    return str(v)


def frame_data(frame: "pd.DataFrame", digits: int | None = 3, name: str | None = None) -> dict:
    """A table's numbers as data, for the references: its column names and each row's values (:func:`_value`).

    >>> import pandas as pd
    >>> frame_data(pd.DataFrame({"system": ["fbank"], "eer_percent": [36.6667]}), 2, "summary")
    {'name': 'summary', 'columns': ['system', 'eer_percent'], 'rows': [['fbank', 36.67]]}
    """
    return {"name": name, "columns": [str(c) for c in frame.columns],
            "rows": [[_value(v, digits) for v in row] for row in frame.itertuples(index=False, name=None)]}


def table(frame: "pd.DataFrame", digits: int | None = 3, caption: str | None = None,
          best: Mapping[str, str] | None = None, text: str | None = None, name: str | None = None) -> Table:
    """A results table: ``frame`` rendered for the book, its ``to_string(index=False)`` for a terminal, and its
    values as data (:func:`frame_data`, named ``name`` or else ``caption``) for the references.

    In the HTML, ``<m>_mean`` with ``<m>_std`` (or ``_sd``) become one column
    ``mean ± sd``; ``<m>`` with ``<m>_ci_low``/``<m>_ci_high`` (or
    ``_low``/``_high``; ``difference`` with ``ci_low``/``ci_high``) one
    column ``value [low, high]``.  ``best`` maps a column to ``"min"`` or
    ``"max"`` (default: every EER and minDCF column, lower is better); the
    best cell of each is highlighted unless every row ties.  Rows whose
    ``reference`` column is true, or whose system is fbank or random init,
    are marked.  ``digits`` rounds the plain text as ``frame.round(digits)``
    and the data's floats (None: as is, and six significant digits in the data); ``text`` replaces the
    plain text altogether.

    >>> import pandas as pd
    >>> t = table(pd.DataFrame({"system": ["a", "b"], "eer_percent": [30.0, 20.0], "eer_percent_ci_low": [28.0, 18.5],
    ...                         "eer_percent_ci_high": [32.0, 21.5]}), digits=2)
    >>> "20.00 [18.50, 21.50]" in t.html, t.html.count("#d9f0d3")
    (True, 1)
    """
    drawn = shown_frame(frame)  # the systems by their display labels; the data keeps their keys
    plain = text if text is not None else (drawn if digits is None else drawn.round(digits)).to_string(index=False)
    return Table(_styled_html(frame, drawn, 2 if digits is None else digits, caption, best, plain), plain,
                 (frame_data(frame, digits, name or caption),))


@dataclass(frozen=True)
class Prose:
    """A finding in words, for ``glue``: Markdown for a page of its own chapter (``{glue:md}``), HTML for a
    page that pastes it from another chapter (myst-nb pastes across documents by render priority, where a
    bare ``IPython.display.Markdown`` shows as its repr), and the text itself for the references.

    >>> p = Prose("**clear**: -6.0 points")
    >>> p._repr_markdown_(), "<strong>clear</strong>" in p._repr_html_(), repr(p)
    ('**clear**: -6.0 points', True, '**clear**: -6.0 points')
    """

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        try:
            from markdown_it import MarkdownIt
        except ImportError:  # outside the book's environment: the words, escaped
            return f"<p>{html_lib.escape(self.text)}</p>"
        return MarkdownIt("commonmark").render(self.text)

    def __repr__(self) -> str:
        return self.text


def details(inner: Table, summary: str, open_: bool = False) -> Table:
    """``inner`` folded into a ``<details>`` dropdown titled ``summary`` (collapsed unless ``open_``).

    >>> d = details(Table("<table>x</table>", "a  b"), "Per seed")
    >>> d.html.startswith('<details class="sslsv-details"><summary>Per seed</summary>'), d.text
    (True, 'a  b')
    """
    attr = " open" if open_ else ""
    return Table(f'<details class="sslsv-details"{attr}><summary>{html_lib.escape(summary)}</summary>'
                 f"\n{inner.html}\n</details>", inner.text, inner.data)


def stack(*tables: Table) -> Table:
    """Several tables in one output: HTML one below the other, plain texts separated by a blank line.

    >>> s = stack(Table("<p>1</p>", "a  b"), Table("<p>2</p>", "c  d"))
    >>> s.text
    'a  b\\n\\nc  d'
    """
    return Table("\n".join(t.html for t in tables), "\n\n".join(t.text for t in tables),
                 tuple(d for t in tables for d in t.data))


METRIC_COLUMNS = ("eer_percent", "min_dcf_0.01", "min_dcf_0.05")  # the metrics of every SV run


def metric_table(per_seed: "pd.DataFrame", digits: int = 2) -> str:
    """Per-run metrics as text, each with its bootstrap interval: ``4.12 [3.50, 4.80]``; systems by their labels.

    >>> import pandas as pd
    >>> row = {"system": "fbank", "seed": 0, **{f"{m}{s}": v for m in METRIC_COLUMNS
    ...        for s, v in (("", 4.123), ("_ci_low", 3.5), ("_ci_high", 4.8))}}
    >>> print(metric_table(pd.DataFrame([row])))
    system  seed       eer_percent      min_dcf_0.01      min_dcf_0.05
     fbank     0 4.12 [3.50, 4.80] 4.12 [3.50, 4.80] 4.12 [3.50, 4.80]
    """
    keep = [c for c in per_seed.columns if c in ("system", "seed", "hours", "size", "variant")]
    out = shown_frame(per_seed[keep].copy())
    for col in METRIC_COLUMNS:
        out[col] = [f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" for v, lo, hi in
                    zip(per_seed[col], per_seed[f"{col}_ci_low"], per_seed[f"{col}_ci_high"])]
    return out.to_string(index=False)


def per_run(per_seed: "pd.DataFrame", digits: int = 2, caption: str | None = None) -> Table:
    """Per-run metrics with their 95 % bootstrap intervals (the plain text of
    :func:`metric_table`: ``37.33 [31.20, 43.57]``)."""
    keep = [c for c in per_seed.columns if c in ("system", "seed", "hours", "size", "variant", "reference")]
    cols = keep + [f"{m}{s}" for m in METRIC_COLUMNS for s in ("", "_ci_low", "_ci_high")]
    return table(per_seed[cols], digits, caption, text=metric_table(per_seed, digits), name="per run")


def results(summary: "pd.DataFrame", per_seed: "pd.DataFrame | None" = None, digits: int = 3,
            caption: str | None = None, details_summary: str = "Per seed, with 95 % bootstrap intervals") -> Table:
    """A study's summary over seeds, with the per-seed table folded below it (when given)."""
    main = table(summary, digits, caption, name=caption or "summary")
    if per_seed is None:
        return main
    return stack(main, details(per_run(per_seed), details_summary))


def verdicts(frame: "pd.DataFrame", text: str, caption: str | None = None) -> Table:
    """The verdict on each claim (:meth:`sslsv.studies.summary.Summary.verdicts`), each verdict coloured
    and spelled out; ``text`` is its plain text (:func:`sslsv.studies.summary.verdict_table`), ``frame`` its data."""
    styler = frame.style.hide(axis="index").set_table_styles(TABLE_CSS)
    if "verdict" in frame.columns:
        styler = styler.map(lambda v: VERDICT_STYLES.get(v, ""), subset=["verdict"])
    styler = styler.set_table_styles([{"selector": "td", "props": "text-align: left; white-space: normal;"}],
                                     overwrite=False)
    if caption:
        styler = styler.set_caption(caption)
    styler = styler.set_uuid(_uuid(text, caption))
    return Table(styler.to_html(), text, (frame_data(frame, 2, caption or "verdicts"),))


# ---------------------------------------------------------------------------
# The HTML rendering
# ---------------------------------------------------------------------------


def _missing(value) -> bool:
    try:
        return value is None or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def _uuid(*parts) -> str:
    """A stable element id: re-executing a notebook rewrites the same HTML."""
    return "t" + hashlib.sha1("\x00".join(str(p) for p in parts).encode()).hexdigest()[:10]


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


def _is_reference(row: Mapping) -> bool:
    if "reference" in row:
        return str(row["reference"]) == "True"
    return str(row.get("system", row.get("model", ""))) in REFERENCES  # keys (sslsv.systems): marked in every table


def _metric_direction(column: str, best: Mapping[str, str] | None) -> str | None:
    if best is not None:
        return best.get(column)
    if any(fnmatch.fnmatchcase(column, p) for p in NOT_A_METRIC):
        return None
    return "min" if any(fnmatch.fnmatchcase(column, p) for p in LOWER_IS_BETTER) else None


def _columns(frame: "pd.DataFrame") -> list[tuple[str, list[str]]]:
    """The book's columns: ``(label, source columns)`` with mean/sd and value/interval pairs merged."""
    cols = list(frame.columns)
    used: set[str] = set()
    out = []
    for c in cols:
        if c in used or c == "reference":
            continue
        group = [c]
        if c.endswith("_mean"):
            base = c[: -len("_mean")]
            sd = next((s for s in (f"{base}_std", f"{base}_sd") if s in cols), None)
            if sd:
                group, label = [c, sd], _label(base) + " (mean ± sd)"
                out.append((label, group))
                used.update(group)
                continue
        for low, high in ((f"{c}_ci_low", f"{c}_ci_high"), (f"{c}_low", f"{c}_high"),
                          (("ci_low", "ci_high") if c == "difference" else (None, None))):
            if low in cols and high in cols:
                group = [c, low, high]
                break
        used.update(group)
        out.append((_label(c) + (" [95 % interval]" if len(group) == 3 else ""), group))
    return out


def _cell(frame, group: list[str], i: int, digits: int) -> str:
    if group[0].startswith("eer") or group[0] in ("delta", "ci95") or group[0].startswith("vs_"):
        digits = min(digits, 2)  # EER points: two decimals say all a trial list of this size can
    values = [frame[c].iloc[i] for c in group]
    if len(group) == 2:
        return format_mean_sd(values[0], values[1], digits)
    if len(group) == 3:
        return format_interval(values[0], values[1], values[2], digits)
    v = values[0]
    if _missing(v):
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1e5 else f"{v:.3g}"
    return str(v)


def _styled_html(frame: "pd.DataFrame", drawn: "pd.DataFrame", digits: int, caption: str | None,
                 best: Mapping[str, str] | None, plain: str) -> str:
    """The HTML of ``frame`` (``drawn``: the same frame with its systems by their labels)."""
    import numpy as np
    import pandas as pd

    columns = _columns(frame)
    shown = pd.DataFrame({label: [_cell(drawn, group, i, digits) for i in range(len(frame))]
                          for label, group in columns})
    styles = pd.DataFrame("", index=shown.index, columns=shown.columns)
    refs = [_is_reference(frame.iloc[i].to_dict()) for i in range(len(frame))]
    first = shown.columns[0] if len(shown.columns) else None
    for i, is_ref in enumerate(refs):
        if is_ref:
            styles.iloc[i, :] = REFERENCE_STYLE
            if first is not None:
                shown.iloc[i, 0] = f"{shown.iloc[i, 0]} (reference)"
    for label, group in columns:
        direction = _metric_direction(group[0], best)
        values = pd.to_numeric(frame[group[0]], errors="coerce").to_numpy(dtype=float)
        if direction is None or np.all(np.isnan(values)):
            continue
        target = np.nanmin(values) if direction == "min" else np.nanmax(values)
        hits = np.isclose(values, target, rtol=0, atol=10.0 ** -(digits + 1))
        if hits.all():  # every row ties (a saturated metric): nothing stands out
            continue
        for i in np.flatnonzero(hits):
            styles.iloc[i, shown.columns.get_loc(label)] += BEST_STYLE
    styler = (shown.style.hide(axis="index").set_table_styles(TABLE_CSS).apply(lambda _: styles, axis=None))
    if first is not None:
        styler = styler.set_table_styles([{"selector": "td.col0, th.col_heading.level0.col0",
                                           "props": "text-align: left;"}], overwrite=False)
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_uuid(_uuid(plain, caption)).to_html()

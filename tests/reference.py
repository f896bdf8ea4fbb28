"""Regression references that hold on any machine: compare what the chapters computed, not how they printed it.

Test tooling, not library: ``tests/conftest.py`` patches nbval with it, ``tests/test_references.py`` tests it,
and ``make spread`` runs it as a script (``python tests/reference.py``).

Each table a chapter shows carries its values as data (the ``RESULTS_MIME`` output of
:class:`sslsv.tables.Table`: per table its name, columns and rows, floats rounded to the digits the table
shows). Those values are what the references compare:

* values that are the same on every machine (corpus statistics, table shapes
  and columns, system names, seeds, steps, parameter counts, run names and
  hashes, verdict words) are compared exactly;
* values that come out of training (EER, minDCF, losses, attributions,
  eigenvalues): float rounding differs between CPU kernel paths (AVX-512,
  AVX2, the scalar ``ATEN_CPU_CAPABILITY=default`` path), and 60 training
  steps carry that difference into the second decimal of an EER. These are
  compared within a tolerance per *kind* of number, the kind named by the
  column (``tests/notebooks/tolerances.toml``).

The HTML and the plain text of a table are not compared: their layout is free to change. Text outside a
table (a printed line) is compared line by line, exactly, or with the numbers of a cell tagged
``nbval-tolerance-<kind>`` within that kind; the same tag covers numbers written inside a table's words
(a verdict's evidence).

>>> kinds = {"eer": Tolerance("eer", ("eer_percent",), atol=1.0)}
>>> ref = {"tables": [{"name": "summary", "columns": ["system", "eer_percent"], "rows": [["fbank", 36.67]]}]}
>>> def new(system, eer):
...     return {"tables": [{"name": "summary", "columns": ["system", "eer_percent"], "rows": [[system, eer]]}]}
>>> compare_data(ref, new("fbank", 37.33), kinds) is None
True
>>> print(compare_data(ref, new("fbank", 63.33), kinds))
table 1 (summary), row 1 (fbank), column eer_percent: 36.67 -> 63.33 differs by 26.66 > tolerance 1 (eer)
>>> print(compare_data(ref, new("random", 36.67), kinds))
table 1 (summary), row 1 (fbank), column system: 'fbank' -> 'random'
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sslsv.tables import RESULTS_MIME  # the mime type of a table's data, defined once

TAG_PREFIX = "nbval-tolerance-"
IGNORE = "ignore"  # a kind whose numbers are not compared at all (wall-clock seconds)

_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])|(?<!\w)(?:NaN|nan|None|inf|-inf)(?!\w)")


@dataclass(frozen=True)
class Tolerance:
    """How far a number of one kind may move between machines.

    ``|new - ref| <= atol + rtol * |ref|``; or, with ``ratio`` (for
    quantities that move by factors, such as an unconverged top Hessian
    eigenvalue), the same sign and ``max(new/ref, ref/new) <= ratio``.
    ``columns`` are shell-style patterns of the table columns of this kind;
    ``measured`` records the spread the tolerance was derived from.

    >>> Tolerance("x", ("x",), ratio=4.0).allows(20592.07, 8315.38), Tolerance("x", ("x",), ratio=4.0).allows(2.0, -2.0)
    (True, False)
    """

    kind: str
    columns: tuple[str, ...]
    atol: float = 0.0
    rtol: float = 0.0
    ratio: float = 0.0
    measured: str = ""

    def allows(self, ref: float, new: float) -> bool:
        if self.kind == IGNORE:
            return True
        if math.isnan(ref) or math.isnan(new):
            return math.isnan(ref) and math.isnan(new)
        if self.ratio:
            if ref == new:
                return True
            if ref == 0 or new == 0 or (ref > 0) != (new > 0):
                return False
            return max(new / ref, ref / new) <= self.ratio + 1e-12
        return abs(new - ref) <= self.atol + self.rtol * abs(ref) + 1e-12

    def describe(self) -> str:
        if self.kind == IGNORE:
            return "not compared"
        if self.ratio:
            return f"a factor {self.ratio:g}"
        parts = [f"{self.atol:g}"] if self.atol or not self.rtol else []
        if self.rtol:
            parts.append(f"{self.rtol:g} x |ref|")
        return " + ".join(parts)


def load_tolerances(path: str | Path) -> dict[str, Tolerance]:
    """Read ``[kinds.<kind>]`` tables (``columns``, ``atol``, ``rtol``, ``ratio``, ``measured``) from a TOML file."""
    import tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read the tolerance file: {err}") from None
    kinds = {}
    for kind, spec in data.get("kinds", {}).items():
        unknown = set(spec) - {"columns", "atol", "rtol", "ratio", "measured"}
        if unknown:
            raise ValueError(f"{path}: [kinds.{kind}] has unknown key(s) {', '.join(sorted(unknown))}; "
                             f"valid keys: atol, columns, measured, ratio, rtol")
        atol, rtol, ratio = (float(spec.get(k, 0.0)) for k in ("atol", "rtol", "ratio"))
        if atol < 0 or rtol < 0 or (ratio and ratio < 1):
            raise ValueError(f"{path}: [kinds.{kind}] needs atol >= 0, rtol >= 0 and ratio >= 1 (or unset); "
                             f"got atol={atol}, rtol={rtol}, ratio={ratio}")
        kinds[kind] = Tolerance(kind, tuple(spec.get("columns", ())), atol, rtol, ratio,
                                str(spec.get("measured", "")))
    return kinds


def column_kind(column: str, kinds: Mapping[str, Tolerance]) -> Tolerance | None:
    """The tolerance kind whose patterns match ``column`` (None: compared exactly)."""
    for tol in kinds.values():
        if any(fnmatch.fnmatchcase(column, pattern) for pattern in tol.columns):
            return tol
    return None


# ---------------------------------------------------------------------------
# Comparing values
# ---------------------------------------------------------------------------



def _numbers(s: str) -> tuple[str, list[str]]:
    """``s`` with every number replaced by ``#``, and the numbers in order."""
    nums = _NUMBER.findall(s)
    return _NUMBER.sub("#", s), nums


def _as_float(token: str) -> float:
    if token in ("None", "NaN", "nan"):
        return math.nan
    return float(token.replace("−", "-"))


def _compare_values(ref: str, new: str, tol: Tolerance | None, where: str) -> str | None:
    """None if ``new`` may stand for ``ref`` under ``tol`` (exact when tol is None), else why not."""
    if ref == new or (tol is not None and tol.kind == IGNORE):
        return None
    ref_skeleton, ref_nums = _numbers(ref)
    new_skeleton, new_nums = _numbers(new)
    if tol is None or ref_skeleton != new_skeleton or len(ref_nums) != len(new_nums):
        return f"{where}: {ref!r} -> {new!r}"
    for a, b in zip(ref_nums, new_nums):
        if a in ("None",) or b in ("None",):
            if a != b:
                return f"{where}: {ref!r} -> {new!r}"
            continue
        x, y = _as_float(a), _as_float(b)
        if not tol.allows(x, y):
            return (f"{where}: {a} -> {b} differs by {abs(y - x):.4g} > tolerance {tol.describe()} ({tol.kind})"
                    if not (math.isnan(x) or math.isnan(y)) else f"{where}: {a} -> {b}")
    return None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare_data_value(ref, new, tol: Tolerance | None, where: str) -> str | None:
    """None if the data value ``new`` may stand for ``ref`` under ``tol`` (exact when None), else why not."""
    if tol is not None and tol.kind == IGNORE:
        return None
    if _is_number(ref) and _is_number(new):
        if ref == new:
            return None
        if tol is None:
            return f"{where}: {ref!r} -> {new!r}"
        x, y = float(ref), float(new)
        if not tol.allows(x, y):
            return f"{where}: {ref} -> {new} differs by {abs(y - x):.4g} > tolerance {tol.describe()} ({tol.kind})"
        return None
    if isinstance(ref, str) and isinstance(new, str):
        return _compare_values(ref, new, tol, where)
    if type(ref) is type(new) and ref == new:
        return None
    return f"{where}: {ref!r} -> {new!r}"


def _row_label(columns: Sequence[str], row: Sequence) -> str:
    """A row's first words (its system, model, factor ...), to name it in a message."""
    words = [str(v) for v in row if isinstance(v, str)]
    return f" ({words[0]})" if words else ""


def data_pairs(ref: Mapping, new: Mapping, kinds: Mapping[str, Tolerance], cell_kind: str | None = None):
    """Pair two outputs' table data value by value: ``(mismatch, pairs)``.

    ``mismatch`` is None or why the two cannot be paired (number of tables,
    a table's name, columns or number of rows); ``pairs`` are ``(where,
    column, tolerance, ref_value, new_value)``, the tolerance of the column's
    kind (for words, else the cell's kind).
    """
    ref_tables, new_tables = list(ref.get("tables", [])), list(new.get("tables", []))
    if len(ref_tables) != len(new_tables):
        return f"{len(ref_tables)} tables in the reference, {len(new_tables)} now", []
    cell_tol = kinds.get(cell_kind) if cell_kind else None
    pairs = []
    for i, (rt, nt) in enumerate(zip(ref_tables, new_tables), start=1):
        name = f"table {i}" + (f" ({rt.get('name')})" if rt.get("name") else "")
        if rt.get("name") != nt.get("name"):
            return f"{name}: named {rt.get('name')!r} -> {nt.get('name')!r}", pairs
        if list(rt["columns"]) != list(nt["columns"]):
            return f"{name}: columns {list(rt['columns'])} -> {list(nt['columns'])}", pairs
        if len(rt["rows"]) != len(nt["rows"]):
            return f"{name}: {len(rt['rows'])} rows -> {len(nt['rows'])} rows", pairs
        for r, (rrow, nrow) in enumerate(zip(rt["rows"], nt["rows"]), start=1):
            label = _row_label(rt["columns"], rrow)
            for col, a, c in zip(rt["columns"], rrow, nrow):
                tol = column_kind(col, kinds)
                if tol is None and isinstance(a, str):
                    tol = cell_tol
                pairs.append((f"{name}, row {r}{label}, column {col}", col, tol, a, c))
    return None, pairs


def _first_difference(ref, new, kinds: Mapping[str, Tolerance], cell_kind: str | None, pair, compare) -> str | None:
    """None if ``new`` matches ``ref``, else the first difference: ``pair`` (:func:`data_pairs` or
    :func:`_text_pairs`) lines the two up, ``compare`` judges each pair of values."""
    if ref == new:
        return None
    if cell_kind is not None and cell_kind not in kinds:
        return f"unknown tolerance kind {cell_kind!r} in a cell tag; known kinds: {', '.join(sorted(kinds))}"
    mismatch, pairs = pair(ref, new, kinds, cell_kind)
    if mismatch:
        return mismatch
    return next((why for where, _, tol, a, c in pairs if (why := compare(a, c, tol, where))), None)


def compare_data(ref: Mapping, new: Mapping, kinds: Mapping[str, Tolerance], cell_kind: str | None = None) -> str | None:
    """Compare one output's table data with its reference: None if it matches, else the first difference."""
    return _first_difference(ref, new, kinds, cell_kind, data_pairs, _compare_data_value)


def _text_pairs(ref: str, new: str, kinds: Mapping[str, Tolerance], cell_kind: str | None):
    """Pair two printed texts line by line (blank lines dropped): ``(mismatch, pairs)`` as :func:`data_pairs`."""
    ref_lines = [line.strip() for line in ref.splitlines() if line.strip()]
    new_lines = [line.strip() for line in new.splitlines() if line.strip()]
    if len(ref_lines) != len(new_lines):
        return f"{len(ref_lines)} lines -> {len(new_lines)} lines", []
    tol = kinds.get(cell_kind) if cell_kind else None
    return None, [(f"line {i}", "text", tol, a, c) for i, (a, c) in enumerate(zip(ref_lines, new_lines), start=1)]


def compare_text(ref: str, new: str, kinds: Mapping[str, Tolerance], cell_kind: str | None = None) -> str | None:
    """Compare one printed text (not a table's) with its reference, line by line: None if it matches, else
    the first difference. Exact, except the numbers of a cell whose tag names a kind (``cell_kind``).

    >>> kinds = {"eer": Tolerance("eer", (), atol=1.0)}
    >>> compare_text("masked - fbank = -6.67", "masked - fbank = -6.00", kinds, "eer") is None
    True
    >>> print(compare_text("masked - fbank = -6.67", "masked - fbank = -6.00", kinds))
    line 1: 'masked - fbank = -6.67' -> 'masked - fbank = -6.00'
    """
    return _first_difference(ref, new, kinds, cell_kind, _text_pairs, _compare_values)


def cell_kind(tags: Iterable[str]) -> str | None:
    """The tolerance kind a cell's ``nbval-tolerance-<kind>`` tag names, if any."""
    for tag in tags:
        if tag.startswith(TAG_PREFIX):
            return tag[len(TAG_PREFIX):]
    return None


# ---------------------------------------------------------------------------
# Measuring the spread between executions (what the tolerances are derived from)
# ---------------------------------------------------------------------------


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def output_units(outputs: Sequence[Mapping]) -> list[tuple[str, object]]:
    """What of a cell's outputs the references compare, in order: ``("data", bundle)`` for a table's data
    (:data:`RESULTS_MIME`; its HTML and text are not compared) and ``("text", str)`` for printed text (a
    stream, or the text/plain of an output that carries no data and no image)."""
    units = []
    for out in outputs:
        if out.get("output_type") == "stream":
            if out.get("name") == "stdout":
                units.append(("text", _text(out["text"])))
            continue
        data = out.get("data", {})
        if RESULTS_MIME in data:
            units.append(("data", data[RESULTS_MIME]))
        elif "text/plain" in data and not any(k.startswith("image/") for k in data):
            units.append(("text", _text(data["text/plain"])))
    return units


def compare_outputs(ref_outputs: Sequence[Mapping], new_outputs: Sequence[Mapping], kinds: Mapping[str, Tolerance],
                    cell_kind: str | None = None, sanitize=lambda s: s) -> str | None:
    """Compare a cell's outputs with its reference's (:func:`output_units`): None if they match, else why not."""
    ref_units, new_units = output_units(ref_outputs), output_units(new_outputs)
    if [k for k, _ in ref_units] != [k for k, _ in new_units]:
        return f"outputs {[k for k, _ in ref_units]} in the reference, {[k for k, _ in new_units]} now"
    for (kind, a), (_, b) in zip(ref_units, new_units):
        why = (compare_data(a, b, kinds, cell_kind) if kind == "data"
               else compare_text(sanitize(a), sanitize(b), kinds, cell_kind))
        if why:
            return why
    return None


def deviations(ref_nb: str | Path, new_nb: str | Path, kinds: Mapping[str, Tolerance]) -> list[dict]:
    """Every value that differs between two executions of one notebook, with its kind.

    Cells nbval does not compare (tagged ``nbval-ignore-output`` or
    ``nbval-skip`` in ``ref_nb``) are left out.

    Each row: ``cell``, ``column`` (``text`` for a printed line), ``kind``
    (None: exact), ``ref``, ``new``, ``abs_diff``. A difference outside
    numbers is reported with ``kind="structure"``.
    """
    ref_cells = [c for c in json.loads(Path(ref_nb).read_text())["cells"] if c["cell_type"] == "code"]
    new_cells = [c for c in json.loads(Path(new_nb).read_text())["cells"] if c["cell_type"] == "code"]
    rows = []

    def structure(n, column, ref, new, tol=None):
        kind = IGNORE if tol and tol.kind == IGNORE else "structure"
        rows.append(dict(cell=n, column=column, kind=kind, ref=ref, new=new, abs_diff=math.nan, rel_diff=math.nan,
                         ratio=math.nan))

    def number(n, column, tol, x: float, y: float, a: str, b: str):
        same_sign = x * y > 0
        rows.append(dict(cell=n, column=column, kind=tol.kind if tol else None, ref=a, new=b, abs_diff=abs(y - x),
                         rel_diff=abs(y - x) / abs(x) if x else math.inf,
                         ratio=max(y / x, x / y) if same_sign else math.inf))

    for n, (rc, nc) in enumerate(zip(ref_cells, new_cells)):
        tags = rc.get("metadata", {}).get("tags", [])
        if "nbval-ignore-output" in tags or "nbval-skip" in tags:
            continue  # nbval does not compare these cells either
        tag_kind = cell_kind(tags)
        tag_kind = tag_kind if tag_kind in kinds else None
        ref_units, new_units = output_units(rc.get("outputs", [])), output_units(nc.get("outputs", []))
        if [k for k, _ in ref_units] != [k for k, _ in new_units]:
            structure(n, "", f"outputs {[k for k, _ in ref_units]} -> {[k for k, _ in new_units]}", "")
            continue
        for (unit, a_out), (_, b_out) in zip(ref_units, new_units):
            mismatch, pairs = (data_pairs(a_out, b_out, kinds, tag_kind) if unit == "data"
                               else _text_pairs(a_out, b_out, kinds, tag_kind))
            if mismatch:
                structure(n, "", mismatch, "")
            for _, col, tol, a, c in pairs:
                if a == c and type(a) is type(c):
                    continue
                if _is_number(a) and _is_number(c):
                    number(n, col, tol, float(a), float(c), str(a), str(c))
                    continue
                if not (isinstance(a, str) and isinstance(c, str)):
                    structure(n, col, repr(a), repr(c), tol)
                    continue
                sa, na = _numbers(a)
                sc, nc_ = _numbers(c)
                if sa != sc or len(na) != len(nc_):
                    structure(n, col, a, c, tol)
                    continue
                for x, y in zip(na, nc_):
                    if x != y:
                        number(n, col, tol, _as_float(x), _as_float(y), x, y)
    return rows


def spread(reference_dir: str | Path, other_dirs: Sequence[str | Path], kinds: Mapping[str, Tolerance]):
    """Per notebook and kind, the largest deviation of each other execution from the reference one.

    Returns a DataFrame (notebook, run, kind, n_differ, max_abs_diff,
    max_rel_diff, max_ratio, worst: the column and values of the largest
    absolute deviation).
    """
    import pandas as pd

    df = deviation_table(reference_dir, other_dirs, kinds)
    if not len(df):
        return pd.DataFrame(columns=["notebook", "run", "kind", "n_differ", "max_abs_diff", "max_rel_diff",
                                     "max_ratio", "worst"])
    out = []
    for (nb, run, kind), g in df.groupby(["notebook", "run", "kind"], sort=True):
        worst = g.loc[g["abs_diff"].fillna(-1).idxmax()]
        finite = g.replace([math.inf], math.nan)
        out.append(dict(notebook=nb, run=run, kind=kind, n_differ=len(g), max_abs_diff=g["abs_diff"].max(),
                        max_rel_diff=finite["rel_diff"].max(), max_ratio=g["ratio"].max(),
                        worst=f"{worst['column']}: {worst['ref']} -> {worst['new']}"))
    return pd.DataFrame(out)


def deviation_table(reference_dir: str | Path, other_dirs: Sequence[str | Path], kinds: Mapping[str, Tolerance]):
    """Every number of ``reference_dir``'s notebooks that another execution printed differently, one row each.

    Columns: notebook, run (the other directory), cell, column, kind
    (``exact`` when no tolerance kind covers the column), ref, new,
    abs_diff, rel_diff, ratio (inf on a sign change).
    """
    import pandas as pd

    records = []
    for other in other_dirs:
        for ref_nb in sorted(Path(reference_dir).glob("[0-9][0-9]*_*.ipynb")):
            new_nb = Path(other) / ref_nb.name
            if not new_nb.exists():
                continue
            for row in deviations(ref_nb, new_nb, kinds):
                records.append(dict(notebook=ref_nb.stem, run=str(other), **row))
    df = pd.DataFrame(records, columns=["notebook", "run", "cell", "column", "kind", "ref", "new", "abs_diff",
                                        "rel_diff", "ratio"])
    df["kind"] = df["kind"].fillna("exact")
    return df


# ---------------------------------------------------------------------------
# The spread record: every host's measured deviations, kept in tests/notebooks/spread/
# ---------------------------------------------------------------------------

SPREAD_COLUMNS = ["host", "date", "torch", "path", "against", "notebook", "cell", "column", "ref", "new", "source"]


def host_description() -> str:
    """This CPU as the spread record names it: model name, and the vector extensions that pick kernels.

    >>> isinstance(host_description(), str) and len(host_description()) > 0
    True
    """
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    isa = [name for name, flag in (("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"), ("AVX512-VNNI", "avx512_vnni"),
                                   ("AVX2", "avx2"), ("AMX", "amx_tile")) if flag in flags]
    return f"{model} ({', '.join(isa) or 'no AVX2'})"


def record_spread(reference_dir: str | Path, runs: Mapping[str, str | Path], kinds: Mapping[str, Tolerance],
                  out: str | Path, against: str, host: str | None = None, date: str | None = None):
    """Write one host's measured deviations (every differing number) to the CSV ``out``; returns the rows.

    ``runs`` maps a kernel path label (``native``, ``ATEN_CPU_CAPABILITY=default``, ...) to a directory of
    the notebooks executed on that path; ``against`` says what ``reference_dir`` holds (e.g. the commit of
    the references). Numbers no tolerance covers and changes of structure are kept too: they are what a
    reference cannot hold on another host.
    """
    import datetime

    import pandas as pd
    import torch

    frames = []
    for path, directory in runs.items():
        df = deviation_table(reference_dir, [directory], kinds)
        df = df[df["kind"] != IGNORE]
        frames.append(df.assign(path=path))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SPREAD_COLUMNS)
    df = df.assign(host=host or host_description(), date=date or datetime.date.today().isoformat(),
                   torch=torch.__version__.split("+")[0], against=against, source="make spread")
    df = df[SPREAD_COLUMNS]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    return df


def load_spread(directory: str | Path):
    """Every recorded deviation of every host (the CSVs of ``directory``), as one DataFrame of :data:`SPREAD_COLUMNS`."""
    import pandas as pd

    files = sorted(Path(directory).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    frames = []
    for f in files:
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        missing = set(SPREAD_COLUMNS) - set(df.columns)
        if missing:
            raise ValueError(f"{f}: a spread record needs the columns {', '.join(SPREAD_COLUMNS)}; "
                             f"missing {', '.join(sorted(missing))}")
        frames.append(df[SPREAD_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def tolerance_check(spread_rows, kinds: Mapping[str, Tolerance]):
    """Each recorded deviation beside the tolerance of its column's kind *today*: does the tolerance allow it?

    One row per recorded deviation whose column has a tolerance kind (kind,
    allowed, abs_diff, ratio, ...); a tolerance derived from every host seen
    allows every one of them.

    >>> import pandas as pd
    >>> rows = pd.DataFrame([dict(host="h", date="d", torch="t", path="native", against="a", notebook="08_x", cell="1",
    ...                           column="loss_increase_mean", ref="0.014", new="-0.055", source="s")])
    >>> kinds = {"landscape": Tolerance("landscape", ("loss_increase_*",), ratio=19.0),
    ...          "increase": Tolerance("increase", ("loss_increase_*",), atol=0.1)}
    >>> tolerance_check(rows, {"landscape": kinds["landscape"]})[["kind", "allowed"]].values.tolist()
    [['landscape', False]]
    >>> tolerance_check(rows, {"increase": kinds["increase"]})[["kind", "allowed"]].values.tolist()
    [['increase', True]]
    """
    import pandas as pd

    out = []
    for row in spread_rows.to_dict("records"):
        tol = column_kind(row["column"], kinds) if row["column"] != "text" else None
        if tol is None or tol.kind == IGNORE:
            continue
        try:
            x, y = _as_float(row["ref"]), _as_float(row["new"])
        except ValueError:
            continue  # a change of words, not of a number: the exact comparison reports it
        ratio = max(y / x, x / y) if x * y > 0 else math.inf
        out.append({**row, "kind": tol.kind, "tolerance": tol.describe(), "abs_diff": abs(y - x), "ratio": ratio,
                    "allowed": tol.allows(x, y)})
    return pd.DataFrame(out, columns=[*SPREAD_COLUMNS, "kind", "tolerance", "abs_diff", "ratio", "allowed"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python tests/reference.py TOLERANCES REF_DIR OTHER_DIR...``: print the spread table, then each kind's maximum.

    With ``--record FILE`` (and ``--paths`` naming each OTHER_DIR's kernel path, ``--against`` naming the
    references), this host's deviations are also written to ``FILE``; ``--record-dir DIR`` then prints, for
    every kind, the largest deviation over every host recorded in ``DIR`` beside today's tolerance, and
    the deviations a tolerance does not allow.
    """
    import argparse

    import pandas as pd

    parser = argparse.ArgumentParser(prog="python tests/reference.py", description=main.__doc__)
    parser.add_argument("tolerances", help="the tolerance file (tests/notebooks/tolerances.toml)")
    parser.add_argument("reference", help="a directory of executed notebooks")
    parser.add_argument("others", nargs="+", help="directories of the same notebooks executed elsewhere")
    parser.add_argument("--record", help="write this host's deviations to this CSV, or into this directory "
                        "as <date>_<host>.csv")
    parser.add_argument("--paths", nargs="+", help="the kernel path of each OTHER directory, in order")
    parser.add_argument("--against", default="the committed references", help="what REF_DIR holds")
    parser.add_argument("--record-dir", help="the directory of every host's spread record, to summarise")
    args = parser.parse_args(argv)
    kinds = load_tolerances(args.tolerances)
    table = spread(args.reference, args.others, kinds)
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(table.to_string(index=False))
        print()
        if len(table):
            worst = table.groupby("kind")[["max_abs_diff", "max_rel_diff", "max_ratio"]].max()
            for kind, row in worst.iterrows():
                tol = kinds.get(kind)
                print(f"{kind}: largest deviation {row['max_abs_diff']:.4g} (relative {row['max_rel_diff']:.3g}, "
                      f"ratio {row['max_ratio']:.3g}); tolerance {tol.describe() if tol else 'exact (0)'}")
        if args.record:
            paths = args.paths or [Path(o).name for o in args.others]
            if len(paths) != len(args.others):
                parser.error(f"--paths names {len(paths)} kernel paths for {len(args.others)} directories")
            out = Path(args.record)
            if out.is_dir():  # one file per host and day in the record directory
                import datetime

                slug = re.sub(r"[^a-z0-9]+", "-", host_description().lower()).strip("-")
                out = out / f"{datetime.date.today().isoformat()}_{slug}.csv"
            rows = record_spread(args.reference, dict(zip(paths, args.others)), kinds, out, args.against)
            print(f"\nrecorded {len(rows)} deviations of {host_description()} in {out}")
        if args.record_dir:
            checked = tolerance_check(load_spread(args.record_dir), kinds)
            print(f"\nevery host recorded in {args.record_dir}: the largest deviation per kind and column")
            if len(checked):
                summary = (checked.groupby(["kind", "column"])
                           .agg(hosts=("host", "nunique"), max_abs_diff=("abs_diff", "max"), max_ratio=("ratio", "max"),
                                tolerance=("tolerance", "first"), all_allowed=("allowed", "all")).reset_index())
                print(summary.to_string(index=False))
                refused = checked[~checked["allowed"]]
                if len(refused):
                    print(f"\n{len(refused)} recorded deviation(s) that today's tolerances refuse:")
                    print(refused[["host", "path", "notebook", "column", "ref", "new", "kind", "tolerance"]]
                          .to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

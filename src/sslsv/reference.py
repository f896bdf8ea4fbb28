"""Regression references that hold on any machine: compare notebook outputs exactly where they are exact, within measured tolerances where they come out of training.

An executed notebook prints two kinds of numbers:

* numbers that are the same on every machine (corpus statistics, table
  shapes and columns, run names and hashes, parameter echoes): these are
  compared exactly;
* numbers that come out of training (EER, minDCF, losses, attributions,
  eigenvalues): float rounding differs between CPU kernel paths (AVX-512,
  AVX2, the scalar ``ATEN_CPU_CAPABILITY=default`` path), and 60 training
  steps carry that difference into the second decimal of an EER. These are
  compared within a tolerance per *kind* of metric.

The tables the notebooks print are ``DataFrame.to_string`` outputs: every
column is right-aligned under its header, so the header line fixes each
column's character span, and a column's name fixes its kind. Outside a table
(a verdict text), a cell tag ``nbval-tolerance-<kind>`` names the kind.
Everything that is not a number, and every number in a column of no
tolerance kind, must be identical.

>>> kinds = {"eer": Tolerance("eer", ("eer_percent",), atol=1.0)}
>>> ref = "system  eer_percent\\n fbank        36.67"
>>> compare_text(ref, "system  eer_percent\\n fbank        37.33", kinds) is None
True
>>> print(compare_text(ref, "system  eer_percent\\n fbank        63.33", kinds))
row 1, column eer_percent: 36.67 -> 63.33 differs by 26.66 > tolerance 1 (eer)
>>> print(compare_text(ref, "system  eer_percent\\nrandom        36.67", kinds))
row 1, column system: 'fbank' -> 'random'
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

TAG_PREFIX = "nbval-tolerance-"
IGNORE = "ignore"  # a kind whose numbers are not compared at all (wall-clock seconds)

_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])|(?<!\w)(?:NaN|nan|None|inf|-inf)(?!\w)")
_HEADER_TOKEN = re.compile(r"^[A-Za-z_][\w.%]*$")


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
# Parsing what a notebook printed
# ---------------------------------------------------------------------------


@dataclass
class TextTable:
    """A ``DataFrame.to_string`` block: its column names and each row's cell strings."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def parse_table(lines: Sequence[str]) -> TextTable | None:
    """Parse right-aligned ``to_string`` lines (header first), or None if they are not such a table.

    >>> t = parse_table(["     system  delta", "random init  -6.67", "     masked   1.00"])
    >>> t.columns, t.rows
    (['system', 'delta'], [['random init', '-6.67'], ['masked', '1.00']])
    """
    if len(lines) < 2:
        return None
    header = lines[0]
    tokens = list(re.finditer(r"\S+", header))
    if len(tokens) < 2 or not all(_HEADER_TOKEN.match(t.group()) for t in tokens):
        return None
    ends = [t.end() for t in tokens]
    table = TextTable([t.group() for t in tokens])
    for line in lines[1:]:
        if len(line.rstrip()) > ends[-1]:
            return None
        cells, start = [], 0
        for end in ends:
            if start > 0 and start - 1 < len(line) and line[start - 1] != " ":
                return None  # a value runs across a column boundary: not a right-aligned table
            cells.append(line[start:end].strip())
            start = end + 1
        table.rows.append(cells)
    return table


def _blocks(text: str) -> list[list[str]]:
    """Split printed text into blocks separated by blank lines."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


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


def _aligned(ref: str, new: str, kinds: Mapping[str, Tolerance], cell_kind: str | None):
    """Pair what two printed outputs say, value by value: ``(mismatch, pairs)``.

    ``mismatch`` is None or why the two cannot be paired (block, line, row or
    column counts differ); ``pairs`` are ``(where, column, tolerance, ref_value, new_value)``:
    table cells by column, other text by line (``column="text"``, with the cell's kind).
    """
    ref_blocks, new_blocks = _blocks(ref), _blocks(new)
    if len(ref_blocks) != len(new_blocks):
        return f"{len(ref_blocks)} blocks of text in the reference, {len(new_blocks)} now", []
    pairs = []
    for rb, nb in zip(ref_blocks, new_blocks):
        rt, nt = parse_table(rb), parse_table(nb)
        if rt is not None and nt is not None:
            if rt.columns != nt.columns:
                return f"table columns {rt.columns} -> {nt.columns}", pairs
            if len(rt.rows) != len(nt.rows):
                return f"table of {len(rt.rows)} rows -> {len(nt.rows)} rows", pairs
            pairs += [(f"row {i}, column {col}", col, column_kind(col, kinds), a, c)
                      for i, (rrow, nrow) in enumerate(zip(rt.rows, nt.rows), start=1)
                      for col, a, c in zip(rt.columns, rrow, nrow)]
            continue
        if len(rb) != len(nb):
            return f"{len(rb)} lines -> {len(nb)} lines", pairs
        tol = kinds[cell_kind] if cell_kind else None
        pairs += [(f"line {i}", "text", tol, a.strip(), c.strip()) for i, (a, c) in enumerate(zip(rb, nb), start=1)]
    return None, pairs


def compare_text(ref: str, new: str, kinds: Mapping[str, Tolerance], cell_kind: str | None = None) -> str | None:
    """Compare one printed output with its reference: None if it matches, else the first difference.

    Tables are compared column by column (each column's kind from
    ``kinds``); other text line by line, with ``cell_kind`` (a kind name from
    the cell's ``nbval-tolerance-<kind>`` tag) for its numbers, or exactly.
    """
    if ref == new:
        return None
    if cell_kind is not None and cell_kind not in kinds:
        return f"unknown tolerance kind {cell_kind!r} in a cell tag; known kinds: {', '.join(sorted(kinds))}"
    mismatch, pairs = _aligned(ref, new, kinds, cell_kind)
    if mismatch:
        return mismatch
    for where, _, tol, a, c in pairs:
        why = _compare_values(a, c, tol, where)
        if why:
            return why
    return None


def cell_kind(tags: Iterable[str]) -> str | None:
    """The tolerance kind a cell's ``nbval-tolerance-<kind>`` tag names, if any."""
    for tag in tags:
        if tag.startswith(TAG_PREFIX):
            return tag[len(TAG_PREFIX):]
    return None


# ---------------------------------------------------------------------------
# Measuring the spread between executions (what the tolerances are derived from)
# ---------------------------------------------------------------------------


def _printed(cell: Mapping) -> str:
    text = ""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            text += "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
        elif "data" in out and "text/plain" in out["data"] and not any(k.startswith("image/") for k in out["data"]):
            plain = out["data"]["text/plain"]
            text += ("".join(plain) if isinstance(plain, list) else plain) + "\n"
    return text


def deviations(ref_nb: str | Path, new_nb: str | Path, kinds: Mapping[str, Tolerance]) -> list[dict]:
    """Every number that differs between two executions of one notebook, with its kind.

    Cells nbval does not compare (tagged ``nbval-ignore-output`` or
    ``nbval-skip`` in ``ref_nb``) are left out.

    Each row: ``cell``, ``column`` (or line), ``kind`` (None: exact), ``ref``,
    ``new``, ``abs_diff``. Text that differs outside numbers is reported with
    ``kind="structure"``.
    """
    ref_cells = [c for c in json.loads(Path(ref_nb).read_text())["cells"] if c["cell_type"] == "code"]
    new_cells = [c for c in json.loads(Path(new_nb).read_text())["cells"] if c["cell_type"] == "code"]
    rows = []
    for n, (rc, nc) in enumerate(zip(ref_cells, new_cells)):
        tags = rc.get("metadata", {}).get("tags", [])
        if "nbval-ignore-output" in tags or "nbval-skip" in tags:
            continue  # nbval does not compare these cells either
        tag_kind = cell_kind(tags)
        mismatch, pairs = _aligned(_printed(rc), _printed(nc), kinds, tag_kind if tag_kind in kinds else None)
        if mismatch:
            rows.append(dict(cell=n, column="", kind="structure", ref=mismatch, new="", abs_diff=math.nan,
                             rel_diff=math.nan, ratio=math.nan))
        for _, col, tol, a, c in pairs:
            if a == c:
                continue
            sa, na = _numbers(a)
            sc, nc_ = _numbers(c)
            if sa != sc or len(na) != len(nc_):
                kind = IGNORE if tol and tol.kind == IGNORE else "structure"
                rows.append(dict(cell=n, column=col, kind=kind, ref=a, new=c, abs_diff=math.nan,
                                 rel_diff=math.nan, ratio=math.nan))
                continue
            for x, y in zip(na, nc_):
                if x != y:
                    fx, fy = _as_float(x), _as_float(y)
                    same_sign = fx * fy > 0
                    rows.append(dict(cell=n, column=col, kind=tol.kind if tol else None, ref=x, new=y,
                                     abs_diff=abs(fy - fx), rel_diff=abs(fy - fx) / abs(fx) if fx else math.inf,
                                     ratio=max(fy / fx, fx / fy) if same_sign else math.inf))
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
    """``python -m sslsv.reference TOLERANCES REF_DIR OTHER_DIR...``: print the spread table, then each kind's maximum.

    With ``--record FILE`` (and ``--paths`` naming each OTHER_DIR's kernel path, ``--against`` naming the
    references), this host's deviations are also written to ``FILE``; ``--record-dir DIR`` then prints, for
    every kind, the largest deviation over every host recorded in ``DIR`` beside today's tolerance, and
    the deviations a tolerance does not allow.
    """
    import argparse

    import pandas as pd

    parser = argparse.ArgumentParser(prog="python -m sslsv.reference", description=main.__doc__)
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

"""Execute the study notebooks with papermill (never in place).

``notebooks/NN_name.py`` (jupytext py:percent) is the source; its paired
``notebooks/NN_name.ipynb`` is what papermill runs, with the profile
injected into the cell tagged ``parameters``; the executed copy is written
to ``book/NN_name.ipynb`` (or the smoke regression references under
``tests/notebooks/``).

A misspelled parameter is refused before any compute, however the notebook
is run: :func:`execute_notebooks` checks every parameter against every
notebook first, and plain ``papermill ... -p NAME VALUE`` (which only warns)
meets :func:`check_injected_parameters`, the first call of the cell after
each notebook's ``parameters`` cell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UserError
from .studies.chapters import before_regime

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "python3"
INJECTED_HEADER = "# Parameters"  # first line of the cell papermill injects (its Python translator's comment)
# Parameters papermill itself injects on request (``--inject-paths``): never a user's misspelling.
PAPERMILL_PARAMETERS = ("PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH")


class ParameterError(UserError, ValueError):
    """A notebook parameter that the notebook's ``parameters`` cell does not declare.

    In a kernel it is shown as its one-line message, without a traceback
    (the traceback would only point at :func:`check_injected_parameters`).
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own rendering
        return [f"{type(self).__name__}: {self}"]


def notebook_names() -> list[str]:
    """Every study notebook, in chapter order (``01_baseline``, ``01b_regime_map``, ...)."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]*_*.py"))


def toc_notebooks() -> list[str]:
    """The chapters ``_toc.yml`` lists (``book/NN_name``), in book order: what ``make book`` executes."""
    import re

    toc = (REPO / "_toc.yml").read_text()
    return re.findall(r"file:\s*book/(\d\d[a-z]?_\w+)", toc)


def sync_notebook(name: str, directory: str | Path | None = None) -> Path:
    """Write ``<directory>/<name>.ipynb`` (default ``notebooks/``) from its py:percent source, with a kernelspec.

    The file is rewritten only when its cells or kernelspec differ, so that
    syncing an up-to-date pair leaves the working tree untouched.
    """
    import jupytext

    src = NOTEBOOKS / f"{name}.py"
    if not src.exists():
        raise FileNotFoundError(f"no notebook source {src}; available: {', '.join(notebook_names())}")
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    for i, cell in enumerate(nb.cells):  # ids from content: re-syncing the same source gives the same file
        cell["id"] = _cell_id(i, cell.cell_type, cell.source)
    out = Path(directory or NOTEBOOKS) / f"{name}.ipynb"
    if out.exists() and _same_notebook(out, nb):
        return out
    jupytext.write(nb, out)
    return out


def _same_notebook(path: Path, nb: Any) -> bool:
    """Whether ``path`` already holds ``nb``'s cells (type, id, source, tags) and kernelspec."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return False

    def cells(items):
        return [(c["cell_type"], c.get("id"), "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
                 sorted(c.get("metadata", {}).get("tags", []))) for c in items]

    return (cells(old.get("cells", [])) == cells(nb.cells)
            and old.get("metadata", {}).get("kernelspec") == nb.metadata["kernelspec"])


def execute_notebooks(profile: str = "cpu", names: Sequence[str] | None = None, output_dir: str | Path = "book",
                      parameters: Mapping[str, Any] | None = None, plan: bool = False,
                      progress: bool = False, workers: int = 1) -> list[Path]:
    """Run each notebook (default: the chapters in ``_toc.yml``) with ``profile`` into ``output_dir``.

    ``plan``: first print every run the chapters need, which are cached, and the estimated
    compute (:mod:`sslsv.studies.plan`).  ``progress``: a progress bar over the whole book, in
    estimated seconds of compute, so that its ETA is the plan's, corrected by the pace so far.
    With ``workers`` > 1 the runs are computed first on that many processes (:func:`precompute`),
    then the chapters are executed ``workers`` at a time.  A cell error raises (papermill's
    ``PapermillExecutionError``) after the partially executed notebook, and every other chapter,
    has been written, so its output can be read.
    """
    import tempfile

    from tqdm.auto import tqdm

    out_dir = Path(output_dir)
    if not out_dir.is_absolute():
        out_dir = REPO / out_dir
    params = {"profile": profile, **dict(parameters or {})}
    with tempfile.TemporaryDirectory(prefix="sslsv-notebooks-") as staging:
        # The notebook papermill runs is built from the py:percent source in a
        # scratch directory: executing never rewrites the tracked notebooks/.
        names = list(names or toc_notebooks())
        sources = [sync_notebook(name, staging) for name in names]
        for src in sources:  # every parameter checked before any notebook computes
            check_parameters(src, params)
        seconds = [1.0] * len(names)
        if plan or progress:
            from .studies.plan import book_plan, chapter_seconds, format_plan

            table = book_plan(profile, names, params)
            seconds = [max(s, 1.0) for s in chapter_seconds(table, names)]  # a chapter costs at least its kernel
            if plan:
                print(format_plan(table, profile, workers), flush=True)
        if workers > 1:
            precompute(profile, names, params, workers, progress=progress)
            seconds = [1.0] * len(names)  # what is left is the chapters' own analyses
        out_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=round(sum(seconds)), unit="s", desc="book", disable=not progress,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| est. {n_fmt}/{total_fmt} s [{elapsed}<{remaining}]")
        outputs = [out_dir / f"{name}.ipynb" for name in names]
        jobs = list(zip(names, sources, outputs, seconds))
        try:
            if workers > 1 and len(names) > 1:
                _execute_side_by_side(jobs, params, workers, bar)
            else:
                for name, src, out, est in jobs:
                    bar.set_description(f"book: {name}")
                    execute_notebook(src, out, params)
                    bar.update(round(est))
        finally:
            bar.close()
    return outputs


KERNEL_START_TRIES = 3  # a kernel that dies before it replies has run no cell: start it again


def execute_notebook(src: Path, out: Path, params: Mapping[str, Any]) -> Path:
    """Execute one chapter (its own kernel, in ``REPO``) from ``src`` into ``out``.

    A kernel that dies before replying to its first request is started again: two processes that start
    kernels at once can be handed the same free TCP port ("Address already in use", seen with ``make
    test``'s two pytest sessions side by side on 2026-12-05), and no cell has run then.
    """
    import papermill

    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            papermill.execute_notebook(str(src), str(out), parameters=dict(params), kernel_name=KERNEL_NAME,
                                       cwd=str(REPO), progress_bar=False, request_save_on_cell_execute=False)
            break
        except RuntimeError as err:
            if "died before replying" not in str(err) or attempt == KERNEL_START_TRIES:
                raise
    _strip_volatile_metadata(out)
    return out


def _chapter_process(threads: int) -> None:
    """The initializer of a process that executes chapters.

    Its kernels use ``threads`` threads: two kernels of two OpenMP threads each on two cores spin-wait
    on each other (chapters 07 and 08 took 6 min side by side, against 1 min each alone, in the cold
    build of 2026-12-03). It ends with ``sslsv book`` (:func:`sslsv.lifetime.exit_with_parent`; its
    kernel then ends with it) and leaves Ctrl-C to it: interrupted in the middle of a cell, papermill
    and the kernel would each print a traceback, where ``sslsv book`` prints one line.
    """
    import os

    from .lifetime import exit_with_parent, leave_interrupt_to_parent

    exit_with_parent()
    leave_interrupt_to_parent()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


@contextlib.contextmanager
def _interrupt_as_flag():
    """Within the block, Ctrl-C sets a flag (the yielded callable reads it) instead of raising.

    A KeyboardInterrupt raised wherever the main thread happens to be can land where Python ignores
    exceptions (a finaliser, a weakref callback: "Exception ignored in ..."), and the book would then
    wait for its chapters as if nothing had happened. The waiting loop polls the flag and raises
    KeyboardInterrupt itself. Outside the main thread (where signal handlers cannot be set) nothing
    changes.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hits: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def _execute_side_by_side(jobs: Sequence[tuple[str, Path, Path, float]], params: Mapping[str, Any], workers: int,
                          bar: Any) -> None:
    """Execute the chapters ``workers`` at a time, each from its own process (and kernel, with its share
    of the cores' threads): the runs they read are computed already, and a run or analysis a chapter
    computes has its own lock.

    Every chapter is executed even when one fails; then the first failure (in the book's order) is
    raised, so that every other chapter's output is written and kept.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from .studies.workers import available_cores

    threads = max(1, available_cores() // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_chapter_process,
                               initargs=(threads,))
    try:
        with _interrupt_as_flag() as interrupted:
            futures = {pool.submit(execute_notebook, src, out, params): (name, est) for name, src, out, est in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    name, est = futures[f]
                    bar.set_description(f"book: {name}")
                    bar.update(round(est))
                if interrupted():
                    raise KeyboardInterrupt
        errors = [f.exception() for f in futures]
    except BaseException:  # Ctrl-C (which the chapter processes ignore): stop them, their kernels end with them
        for process in dict(getattr(pool, "_processes", None) or {}).values():  # the executor's only handle
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for error in errors:
        if error is not None:
            raise error


MAP_CHAPTERS = before_regime()  # the chapters that do not run in the map's regime (sslsv.studies.chapters)


def precompute(profile: str, names: Sequence[str], parameters: Mapping[str, Any], workers: int,
               progress: bool = True) -> None:
    """Compute the runs of chapters ``names`` on ``workers`` processes (:mod:`sslsv.studies.workers`).

    In three waves: the learning curves of chapter 01a first (the curve of the profile's corpus sets every
    pre-training budget of the map and the chapters: :func:`sslsv.studies.learning_curve.book_budget`); the
    regime map's runs (when chapter 01b or a chapter run in the map's regime is
    asked for); then, the map's rule having chosen the book's regime
    (:func:`sslsv.studies.regime.book_regime`), the runs of every other chapter, the baseline's among
    them, so that the workers stay busy to the end.
    """
    from .studies import learning_curve, regime
    from .studies.plan import Throughput, chapter_runs
    from .studies.workers import compute_runs

    tp = Throughput.measured()

    def seconds(item) -> float:
        return tp.estimate(item)[0]

    in_regime = [n for n in names if n not in before_regime(names)]
    needs_map = "01b_regime_map" in names or (in_regime and not regime.map_is_complete(profile))
    if needs_map or "01a_learning_curve" in names:
        curves = chapter_runs("01a_learning_curve", profile, parameters) if "01a_learning_curve" in names else []
        curves += [learning_curve.curve_run(profile)] if needs_map else []
        curves = list({item.run.path.name: item for item in curves}.values())
        compute_runs(curves, workers, seconds, progress=progress, desc="book: the learning curves")
    if needs_map:
        first = chapter_runs("01b_regime_map", profile, parameters) if "01b_regime_map" in names else []
        if in_regime:
            first += regime.plan(profile)
        compute_runs(first, workers, seconds, progress=progress, desc="book: the regime map")
    where = regime.book_regime(profile, progress=progress) if in_regime else None
    rest = [item for n in names if n != "01b_regime_map" for item in chapter_runs(n, profile, parameters, where)]
    compute_runs(rest, workers, seconds, progress=progress, desc="book: the chapters' runs")


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """Refuse a parameter the notebook's ``parameters`` cell does not declare (before it is run).

    Raises:
        ParameterError: ``<notebook>: unknown notebook parameter 'NAME'; valid parameters: ...``.
    """
    import papermill

    declared = list(papermill.inspect_notebook(str(notebook)))
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise ParameterError(f"{Path(notebook).name}: {_unknown_parameters_message(unknown, declared)}")


def check_injected_parameters(history: Sequence[str] | None = None) -> None:
    """In a notebook's kernel: refuse a parameter that papermill injected but the notebook does not declare.

    Plain papermill only warns about an unknown ``-p NAME VALUE`` ("Passed
    unknown parameter") and runs the notebook with its defaults, a silently
    wrong result.  Every study notebook therefore calls this first thing in
    the cell after its ``parameters`` cell.  It reads the kernel's input
    history (IPython's ``In``): the last executed cell that starts with
    papermill's ``# Parameters`` line is the injected one, and the cell
    executed just before it the notebook's ``parameters`` cell; the names
    assigned in each are compared.  Without an injected cell (run
    interactively, or by papermill without ``-p``) nothing is checked; an
    executed notebook run again (nbval on the smoke references) has its
    injected cell checked again.

    It also makes the kernel end with its parent (:func:`sslsv.lifetime.exit_with_parent`):
    a kernel whose papermill was killed stops computing, without a line of its own (``sslsv book``'s
    chapter process, or the interrupted ``sslsv book``, says what happened).

    Args:
        history: the executed cells' sources, oldest first, as IPython's
            ``In`` (its entry 0 is empty); default: the running kernel's.
            Outside IPython, with no history given, nothing is checked.

    Raises:
        ParameterError: one line naming the unknown parameter(s) and listing
            the valid ones, e.g. ``unknown notebook parameter 'profil' (did
            you mean 'profile'?); valid parameters: profile, seeds, overrides``.

    >>> check_injected_parameters(["", "profile = 'cpu'  # or 'smoke'", "# Parameters\\nprofil = 'smoke'\\n"])
    Traceback (most recent call last):
    ...
    sslsv.book.ParameterError: unknown notebook parameter 'profil' (did you mean 'profile'?); valid parameters: profile
    >>> check_injected_parameters(["", "profile = 'cpu'", "# Parameters\\nprofile = 'smoke'\\n"])
    >>> check_injected_parameters(["", "profile = 'cpu'", "x = 1"])
    """
    if history is None:
        shell = _ipython()
        if shell is None:
            return
        from .lifetime import exit_with_parent

        exit_with_parent(announce=False)  # a kernel of sslsv book: its chapter process says it, once
        history = shell.user_ns.get("In") or []
    history = list(history)
    injected_at = next((i for i in range(len(history) - 1, -1, -1) if _is_injected_cell(history[i])), None)
    if injected_at is None:
        return
    injected = _assigned_names(history[injected_at])
    declared = _assigned_names(history[injected_at - 1]) if injected_at > 0 else []
    if injected is None or declared is None:  # not Python we can parse: nothing to compare
        return
    unknown = [name for name in injected if name not in declared and name not in PAPERMILL_PARAMETERS]
    if unknown:
        raise ParameterError(_unknown_parameters_message(unknown, declared))


def _ipython() -> Any:
    """The running IPython shell, or ``None`` outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _is_injected_cell(source: Any) -> bool:
    """Whether ``source`` is papermill's injected cell: its first non-blank line is exactly ``# Parameters``."""
    if not isinstance(source, str):
        return False
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    return bool(lines) and lines[0] == INJECTED_HEADER


def _assigned_names(source: str) -> list[str] | None:
    """The names a cell assigns at its top level, in order (``None``: not parseable Python).

    Plain, annotated, augmented and tuple assignments all count; comments
    and other statements are ignored.
    """
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: list[str] = []

    def add(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            if target.id not in names:
                names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add(element)
        elif isinstance(target, ast.Starred):
            add(target.value)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return names


def _unknown_parameters_message(unknown: Sequence[str], declared: Sequence[str]) -> str:
    """``unknown notebook parameter 'profil' (did you mean 'profile'?); valid parameters: profile, seeds``."""
    import difflib

    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, declared, n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    plural = "s" if len(unknown) != 1 else ""
    valid = ", ".join(declared) if declared else "none (the notebook has no parameters cell)"
    return f"unknown notebook parameter{plural} {', '.join(named)}; valid parameters: {valid}"


def _cell_id(index: int, cell_type: str, source: str) -> str:
    """A cell's id from its place and content (:func:`sync_notebook`, and papermill's injected cell)."""
    return hashlib.sha1(f"{index}:{cell_type}:{source}".encode()).hexdigest()[:8]


def _strip_volatile_metadata(path: Path) -> None:
    """Drop per-cell timestamps so re-executions differ only where results do; hide the input of
    papermill's injected-parameters cell in the book, like the notebook's own parameters cell, and give
    it an id from its content (papermill draws one at random: every execution would change the file)."""
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb.get("cells", [])):
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            source = cell.get("source", "")
            cell["id"] = _cell_id(i, cell.get("cell_type", "code"), "".join(source) if isinstance(source, list)
                                  else source)
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
        cell.get("metadata", {}).pop("execution", None)
        pm = cell.get("metadata", {}).get("papermill")
        if pm:
            for key in ("start_time", "end_time", "duration"):
                pm.pop(key, None)
    pm = nb.get("metadata", {}).get("papermill")
    if pm:
        for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
            pm.pop(key, None)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")

"""A notebook parameter that the notebook does not declare is refused before any compute, plain papermill included."""

from __future__ import annotations

import pytest

from sslsv.book import ParameterError, check_injected_parameters
from sslsv.errors import UserError

PARAMETERS_CELL = '''profile = "cpu"  # "smoke", "cpu" or "paper"
# one trained system per seed
seeds = [0, 1, 2]
overrides = {}  # dotted config keys, e.g. {"train.steps": 400}
'''
CHECK_CELL = "from sslsv.book import check_injected_parameters\n\ncheck_injected_parameters()\n"


def injected(parameters: dict) -> str:
    """The cell papermill injects for ``parameters`` (its own translator, black-formatted if black is there)."""
    from papermill.translators import translate_parameters

    return translate_parameters("python3", "python", parameters, "Parameters")


def history(*cells: str) -> list[str]:
    """IPython's ``In``: an empty entry 0, then the executed cells, the current one last."""
    return ["", *cells, CHECK_CELL]


def test_papermill_injects_the_header_the_check_looks_for():
    assert injected({"profile": "smoke"}).splitlines()[0] == "# Parameters"


def test_unknown_parameter_is_refused_naming_it_and_the_valid_ones():
    with pytest.raises(ParameterError) as info:
        check_injected_parameters(history(PARAMETERS_CELL, injected({"profil": "smoke"})))
    assert str(info.value) == ("unknown notebook parameter 'profil' (did you mean 'profile'?); "
                               "valid parameters: profile, seeds, overrides")


def test_every_unknown_parameter_is_named():
    cell = injected({"profile": "smoke", "seedz": [1], "batch_size": 3, "overrides": {"train.steps": 2}})
    with pytest.raises(ParameterError) as info:
        check_injected_parameters(history(PARAMETERS_CELL, cell))
    assert str(info.value) == ("unknown notebook parameters 'seedz' (did you mean 'seeds'?), 'batch_size'; "
                               "valid parameters: profile, seeds, overrides")
    assert "\n" not in str(info.value)


def test_known_parameters_pass():
    cell = injected({"profile": "smoke", "seeds": [0], "overrides": {"train.steps": 2, "a.b": [1, 2]}})
    check_injected_parameters(history(PARAMETERS_CELL, cell))
    # papermill's --inject-paths parameters are its own, not a misspelling
    check_injected_parameters(history(PARAMETERS_CELL, injected({"PAPERMILL_INPUT_PATH": "in.ipynb"})))


def test_no_injected_cell_checks_nothing():
    check_injected_parameters(history(PARAMETERS_CELL, "x = 1"))
    check_injected_parameters(history())
    check_injected_parameters([])


def test_the_last_injected_cell_and_the_cell_before_it_count():
    cells = history("a = 1", injected({"b": 2}), PARAMETERS_CELL, injected({"profile": "smoke"}), "y = 2")
    check_injected_parameters(cells)  # the first pair (b unknown) was replaced by a later run
    with pytest.raises(ParameterError, match="unknown notebook parameter 'y'"):
        check_injected_parameters(cells + ["# Parameters\ny = 1\n"])


def test_tuple_annotated_and_augmented_assignments_are_declarations():
    check_injected_parameters(history("a, (b, *c) = 1, (2, 3)\nd: int = 4\ne = f = 5\ng += 1\nif a:\n    h = 1\n",
                                      injected({"a": 0, "b": 0, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0})))
    with pytest.raises(ParameterError, match="'h'"):  # only top-level assignments declare a parameter
        check_injected_parameters(history("a = 0\nif a:\n    h = 1\n", injected({"h": 1})))


def test_injected_cell_without_a_parameters_cell_before_it():
    with pytest.raises(ParameterError, match="valid parameters: none"):
        check_injected_parameters(["", injected({"profile": "smoke"}), CHECK_CELL])


def test_outside_ipython_nothing_is_checked_and_no_watcher_starts():
    from sslsv.lifetime import watching_parent

    check_injected_parameters()
    assert watching_parent() is None


def test_parameter_error_is_a_one_line_user_error():
    e = ParameterError("unknown notebook parameter 'x'; valid parameters: profile")
    assert isinstance(e, ValueError) and isinstance(e, UserError)
    assert e._render_traceback_() == ["ParameterError: unknown notebook parameter 'x'; valid parameters: profile"]


# ---------------------------------------------------------------------------
# End to end: a real kernel under plain papermill, and under execute_notebooks
# ---------------------------------------------------------------------------


def tiny_notebook(path, marker):
    """parameters cell; check cell; a cell that writes ``marker`` (the running threads' names)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(CHECK_CELL, metadata={"tags": ["nbval-ignore-output"]}),
        nbformat.v4.new_code_cell(f"import pathlib, threading\n\n"
                                  f"names = ','.join(t.name for t in threading.enumerate())\n"
                                  f"pathlib.Path({str(marker)!r}).write_text(names)\n"),
    ]
    nbformat.write(nb, str(path))
    return path


def test_plain_papermill_refuses_an_unknown_parameter_before_any_compute(tmp_path):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from sslsv.lifetime import THREAD_NAME

    marker = tmp_path / "computed"
    src = tiny_notebook(tmp_path / "tiny.ipynb", marker)
    with pytest.raises(PapermillExecutionError) as info:
        papermill.execute_notebook(str(src), str(tmp_path / "out-bad.ipynb"), parameters={"profil": "smoke"},
                                   kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    assert info.value.ename == "ParameterError"
    assert info.value.evalue == ("unknown notebook parameter 'profil' (did you mean 'profile'?); "
                                 "valid parameters: profile, seeds, overrides")
    assert info.value.traceback == [f"ParameterError: {info.value.evalue}"]  # one line, no traceback
    assert not marker.exists(), "the cells after the parameter check ran"

    papermill.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"profile": "smoke"},
                               kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    assert THREAD_NAME in marker.read_text().split(","), "the kernel does not end with papermill"


def test_execute_notebooks_runs_a_notebook_that_checks_its_parameters(tmp_path, monkeypatch):
    import jupytext

    from sslsv import book

    sources = tmp_path / "notebooks"
    sources.mkdir()
    marker = tmp_path / "computed"
    nb = jupytext.read(tiny_notebook(tmp_path / "t.ipynb", marker))
    jupytext.write(nb, sources / "99_tiny.py", fmt="py:percent")  # a source like notebooks/NN_name.py
    monkeypatch.setattr(book, "NOTEBOOKS", sources)
    out = book.execute_notebooks(profile="smoke", names=["99_tiny"], output_dir=tmp_path / "book",
                                 parameters={"seeds": [1]})
    assert out == [tmp_path / "book" / "99_tiny.ipynb"] and marker.exists()
    with pytest.raises(ParameterError, match="99_tiny.ipynb: unknown notebook parameter 'sedes'"):
        book.execute_notebooks(profile="smoke", names=["99_tiny"], output_dir=tmp_path / "book2",
                               parameters={"sedes": [1]})
    assert not (tmp_path / "book2").exists()


def test_chapters_side_by_side_all_run_and_the_first_failure_is_raised_after_the_others_are_written(tmp_path,
                                                                                                  monkeypatch):
    import io

    import jupytext
    from papermill.exceptions import PapermillExecutionError
    from tqdm import tqdm

    from sslsv import book

    good = [tiny_notebook(tmp_path / f"good{i}.ipynb", tmp_path / f"computed{i}") for i in range(2)]
    bad = tmp_path / "bad.ipynb"
    nb = jupytext.read(str(good[0]))
    nb.cells[-1].source = "raise RuntimeError('this chapter fails')"
    jupytext.write(nb, str(bad))
    threads = tmp_path / "threads.ipynb"  # what a kernel's OpenMP is told
    nb.cells[-1].source = f"import os, pathlib\npathlib.Path({str(tmp_path / 'omp')!r}).write_text(os.environ['OMP_NUM_THREADS'])"
    jupytext.write(nb, str(threads))
    jobs = [("good0", good[0], tmp_path / "out-good0.ipynb", 1.0), ("bad", bad, tmp_path / "out-bad.ipynb", 1.0),
            ("good1", good[1], tmp_path / "out-good1.ipynb", 1.0), ("threads", threads, tmp_path / "out-t.ipynb", 1.0)]
    bar = tqdm(total=4, file=io.StringIO())
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # what a kernel would inherit
    with pytest.raises(PapermillExecutionError, match="this chapter fails"):
        book._execute_side_by_side(jobs, {"profile": "smoke"}, 2, bar)
    # the chapters after the failed one were still executed, and every output is written
    assert all((tmp_path / f"computed{i}").exists() for i in range(2))
    assert all(out.exists() for _, _, out, _ in jobs) and bar.n == 4
    # two kernels side by side share the cores: never more OpenMP threads than cores in all
    from sslsv.studies.workers import available_cores

    assert (tmp_path / "omp").read_text() == str(max(1, available_cores() // 2))


def test_a_kernel_that_dies_before_replying_is_started_again_and_a_cell_error_is_not(tmp_path, monkeypatch):
    """Two processes starting kernels at once can be handed one TCP port; the kernel that loses dies before it
    replies, having run nothing, and the chapter is executed again. Any other failure is raised at once."""
    import nbformat
    import papermill

    from sslsv import book

    died, out = "Kernel died before replying to kernel_info", tmp_path / "out.ipynb"

    def execute(*failures: str) -> tuple[int, Exception | None]:
        """book.execute_notebook with papermill failing with ``failures`` in turn, then succeeding: how many
        times papermill was called, and what was raised."""
        calls = []

        def fake(src, dst, **kwargs):
            calls.append(src)
            if len(calls) <= len(failures):
                raise RuntimeError(failures[len(calls) - 1])
            nbformat.write(nbformat.v4.new_notebook(), dst)

        monkeypatch.setattr(papermill, "execute_notebook", fake)
        try:
            book.execute_notebook(tmp_path / "in.ipynb", out, {})
        except RuntimeError as err:
            return len(calls), err
        return len(calls), None

    assert execute(died) == (2, None) and out.exists()
    n, err = execute("a cell failed", died)
    assert n == 1 and "a cell failed" in str(err)
    n, err = execute(*[died] * book.KERNEL_START_TRIES)
    assert n == book.KERNEL_START_TRIES and "died before replying" in str(err)

"""Helper processes end with their parent: exit_with_parent, the corpus generator's pool workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sslsv.lifetime import exit_with_parent, watching_parent

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_parent_and_expect_children_gone(parent: subprocess.Popen, pids: list[int], timeout: float = 5.0):
    """``kill -9`` the parent; every pid in ``pids`` must be gone within ``timeout`` (killed otherwise)."""
    parent.kill()
    parent.wait(timeout=10)
    try:
        wait_for(lambda: not any(alive(p) for p in pids), timeout, f"the orphans {pids} to exit")
    finally:
        for p in pids:  # never leave an orphan behind, even when the test fails
            if alive(p):
                os.kill(p, signal.SIGKILL)


def start(code: str, cwd: Path) -> subprocess.Popen:
    """``python -c code`` in ``cwd``; its stdout and stderr (inherited by its children) go to ``cwd/output.log``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(cwd / "output.log", "w") as log:
        return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def test_child_exits_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent = start(f"""
        import subprocess, sys, time
        child = '''
        import os, pathlib, time
        from sslsv.lifetime import exit_with_parent
        exit_with_parent(poll_seconds=0.1)
        exit_with_parent(poll_seconds=0.1)  # idempotent
        pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))
        time.sleep(60)
        '''
        subprocess.Popen([sys.executable, "-c", child])
        time.sleep(60)
    """, tmp_path)
    try:
        child = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30, "the child to start"))
        assert alive(child) and children(parent.pid) == [child]
        time.sleep(0.3)
        assert alive(child), "the child exited while its parent lived"
    finally:
        kill_parent_and_expect_children_gone(parent, [int(pid_file.read_text())] if pid_file.exists() else [])
    assert f"sslsv: parent process {parent.pid} is gone; process {child} exits with it" in \
        (tmp_path / "output.log").read_text()


def test_one_watcher_per_process_and_a_fork_starts_its_own():
    import threading

    from sslsv.lifetime import THREAD_NAME

    code = textwrap.dedent(f"""
        import os, threading
        from sslsv.lifetime import exit_with_parent, watching_parent
        exit_with_parent(); exit_with_parent(); exit_with_parent()
        assert watching_parent() == os.getppid()
        assert [t.name for t in threading.enumerate()].count({THREAD_NAME!r}) == 1
        pid = os.fork()
        if pid == 0:  # the child inherits no thread: it is not watched until it asks
            ok = watching_parent() is None and {THREAD_NAME!r} not in [t.name for t in threading.enumerate()]
            exit_with_parent()
            ok = ok and watching_parent() == os.getppid()
            os._exit(0 if ok else 1)
        assert os.waitpid(pid, 0)[1] == 0
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    assert THREAD_NAME not in [t.name for t in threading.enumerate()]  # this test process is not watched
    assert watching_parent() is None
    with pytest.raises(ValueError, match="poll_seconds"):
        exit_with_parent(poll_seconds=0)


def test_corpus_pool_workers_exit_when_the_generator_is_killed(tmp_path):
    # a corpus that takes minutes with 2 workers; the parent is killed as soon as files appear
    root = tmp_path / "corpus"
    parent = start(f"""
        from sslsv.config import CorpusConfig, override
        from sslsv.data.synthetic import generate_corpus
        cfg = override(CorpusConfig(), {{"n_train_speakers": 3, "n_test_speakers": 3, "sessions_per_speaker": 2,
                                        "utterances_per_session": 2, "min_seconds": 0.6, "max_seconds": 1.0,
                                        "n_trials": 20, "pretrain_hours": 1.0, "pretrain_speakers": 2}})
        generate_corpus(cfg, {str(root)!r}, workers=2, progress=False)
    """, tmp_path)
    workers: list[int] = []
    try:
        workers = wait_for(lambda: len(children(parent.pid)) >= 2 and children(parent.pid), 60,
                           "two pool workers")
        wait_for(lambda: root.exists() and any(root.rglob("*.wav")), 60, "the workers to write files")
        time.sleep(1.0)  # both workers are past their initializer
        assert parent.poll() is None, "the corpus was finished before the test could kill its generator"
        assert all(alive(w) for w in workers)
    finally:
        kill_parent_and_expect_children_gone(parent, workers)
    assert not (root / "corpus.json").exists()
    log = (tmp_path / "output.log").read_text()
    for w in workers:
        assert f"sslsv: parent process {parent.pid} is gone; process {w} exits with it" in log, log


def test_notebook_kernel_exits_when_papermill_is_killed(tmp_path):
    pid_file = tmp_path / "kernel.pid"
    _sleeping_chapter(tmp_path)
    parent = start(f"""
        import papermill
        papermill.execute_notebook("sleep.ipynb", "out.ipynb", parameters={{"profile": "smoke"}},
                                   kernel_name="python3", progress_bar=False)
    """, tmp_path)
    try:
        kernel = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the kernel to run"))
        assert kernel in children(parent.pid)
    finally:
        kill_parent_and_expect_children_gone(parent, [int(pid_file.read_text())] if pid_file.exists() else [])


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def test_book_workers_and_resource_tracker_exit_when_sslsv_book_is_killed(tmp_path):
    """The run pool of ``sslsv book``: after a ``kill -9`` its idle workers (blocked on their task queue) and
    multiprocessing's resource tracker exit instead of living on with parent 1."""
    parent = start("""
        import time
        from sslsv.studies.workers import start_workers
        ctx, procs, tasks, results = start_workers(2)
        print("started", flush=True)
        time.sleep(120)
    """, tmp_path)
    helpers: list[int] = []
    try:
        # two workers and the resource tracker; the workers past exit_with_parent (they import torch next)
        helpers = wait_for(lambda: len(children(parent.pid)) >= 3 and children(parent.pid), 60, "the pool")
        workers = [w for w in helpers if _is_worker(w)]
        assert len(workers) == 2, helpers
        # a spawned worker has one thread until exit_with_parent starts its watcher, its first statement
        wait_for(lambda: all(_threads(w) >= 2 for w in workers), 60, "the workers to watch their parent")
        assert any(_is_tracker(h) for h in helpers), "no resource tracker: the test would not check it"
    finally:
        kill_parent_and_expect_children_gone(parent, helpers, timeout=10)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_worker(pid: int) -> bool:
    return b"spawn_main" in _cmdline(pid)


def _is_tracker(pid: int) -> bool:
    return b"resource_tracker" in _cmdline(pid)


def _threads(pid: int) -> int:
    """How many threads ``pid`` runs (0 once it is gone)."""
    try:
        return len(list(Path(f"/proc/{pid}/task").iterdir()))
    except OSError:
        return 0


def _sleeping_chapter(tmp_path: Path) -> Path:
    """A chapter that checks its parameters (its kernel then ends with its parent), notes its pid, and sleeps."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell('profile = "cpu"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from sslsv.book import check_injected_parameters\n\ncheck_injected_parameters()\n"),
        nbformat.v4.new_code_cell(f"import os, pathlib, time\n\npathlib.Path({str(tmp_path / 'kernel.pid')!r})"
                                  ".write_text(str(os.getpid()))\ntime.sleep(60)\n"),
    ]
    nbformat.write(nb, str(tmp_path / "sleep.ipynb"))
    return tmp_path / "sleep.ipynb"


def test_ctrl_c_while_a_chapter_runs_prints_one_line_and_leaves_nothing_behind(tmp_path):
    """Ctrl-C reaches the whole process group of ``sslsv book``: the chapter process and its kernel must
    not print tracebacks of their own, and nothing may outlive the interrupted book."""
    notebook = _sleeping_chapter(tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from tqdm import tqdm
        from sslsv import book
        try:
            book._execute_side_by_side([("sleep", Path({str(notebook)!r}), Path({str(tmp_path / 'out.ipynb')!r}),
                                         1.0)], {{"profile": "smoke"}}, 1, tqdm(total=1, disable=True))
        except KeyboardInterrupt:
            print("sslsv: interrupted", file=sys.stderr)
            sys.exit(130)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "output.log", "w") as log:  # its own session: the test sends Ctrl-C to its group only
        book = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    pid_file = tmp_path / "kernel.pid"
    helpers: list[int] = []
    try:
        kernel = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the kernel to run"))
        helpers = descendants(book.pid)
        assert kernel in helpers
        os.killpg(book.pid, signal.SIGINT)
        assert book.wait(timeout=30) == 130
        wait_for(lambda: not any(alive(p) for p in helpers), 10, f"the chapter's processes {helpers} to exit")
    finally:
        if book.poll() is None:
            book.kill()
        for p in helpers:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    log = (tmp_path / "output.log").read_text()
    assert "Traceback" not in log and log.count("sslsv: interrupted") == 1, log
    assert "is gone" not in log, log  # the chapter process was stopped, not orphaned: no line of its own


def test_ctrl_c_while_the_book_waits_for_its_chapters_is_a_flag_it_reads_not_an_exception_anywhere():
    """Inside the wait, SIGINT only sets the flag (it cannot land in a finaliser, where Python would
    swallow it); the book's own handler is back afterwards."""
    from sslsv.book import _interrupt_as_flag

    # Python's own handler, as in a terminal (a test run started in the background of a non-interactive shell
    # inherits SIGINT ignored, and then a Ctrl-C could not raise anywhere)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = signal.getsignal(signal.SIGINT)
        with _interrupt_as_flag() as interrupted:
            assert not interrupted()
            os.kill(os.getpid(), signal.SIGINT)
            wait_for(interrupted, 5, "the flag to be set")
        assert signal.getsignal(signal.SIGINT) is before
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    finally:
        signal.signal(signal.SIGINT, inherited)

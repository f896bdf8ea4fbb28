"""Helper processes that end with the process that started them.

A ``kill -9`` of ``sslsv corpus`` or of papermill gives the parent no chance
to stop its children: the corpus generator's pool workers and a notebook's
kernel would keep computing (and writing) as orphans.  :func:`exit_with_parent`,
called in the child, makes it exit as soon as its parent is gone.

Why not ``prctl(PR_SET_PDEATHSIG)``: the signal fires when the parent
*thread* that forked the child ends, which a thread pool or an asyncio
executor does routinely while the parent lives on.  Why not wait for the
parent process id to become 1: in a container an orphan is re-parented to
the nearest subreaper, not necessarily to PID 1.  So the child remembers its
parent's pid and a daemon thread polls :func:`os.getppid`; any change means
the parent is gone (a pid is never re-parented while its parent lives).

A parent that dies before the child calls :func:`exit_with_parent` is not
noticed: call it first thing in the child (a pool ``initializer``).

Ctrl-C reaches every process of the terminal's process group at once. A
helper process that should leave the interrupt to its parent calls
:func:`leave_interrupt_to_parent` (the parent then stops it, and says so in
one line), so that no helper prints a traceback of its own.
"""

from __future__ import annotations

import os
import signal
import threading
import time

__all__ = ["exit_with_parent", "watching_parent", "leave_interrupt_to_parent"]

THREAD_NAME = "sslsv-exit-with-parent"

_lock = threading.Lock()
_watched: dict[int, int] = {}  # pid of this process -> the parent pid its watcher thread compares against


def _reset_after_fork() -> None:
    """A forked child inherits the module state but not the watcher thread (nor a held lock)."""
    global _lock
    _lock = threading.Lock()
    _watched.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def exit_with_parent(poll_seconds: float = 0.5, announce: bool = True) -> None:
    """End this process (``os._exit(1)``) within ``poll_seconds`` of its parent's death.

    The parent is :func:`os.getppid` at the time of the call.  A daemon
    thread compares it with the current parent every ``poll_seconds``; when
    they differ it writes one line to stderr and exits at once, without
    running ``atexit`` handlers or ``finally`` blocks (no cleanup that could
    write half a result).  Idempotent: one watcher per process, and a child
    forked afterwards starts its own when it calls this.  Usable as a
    :class:`~concurrent.futures.ProcessPoolExecutor` ``initializer``.
    ``announce=False`` exits without the line (a process whose parent's own
    parent says what happened, such as a chapter's kernel).
    """
    if not poll_seconds > 0:
        raise ValueError(f"poll_seconds must be positive, got {poll_seconds}")
    with _lock:
        pid = os.getpid()
        if pid in _watched:
            return
        parent = os.getppid()
        thread = threading.Thread(target=_watch, args=(parent, float(poll_seconds), announce), name=THREAD_NAME,
                                  daemon=True)
        thread.start()
        _watched[pid] = parent


def watching_parent() -> int | None:
    """The parent pid this process's :func:`exit_with_parent` watcher compares against, or ``None``."""
    return _watched.get(os.getpid())


def leave_interrupt_to_parent() -> None:
    """Ignore Ctrl-C (SIGINT) in this helper process: its parent handles it and stops the helper.

    Call it from the helper's main thread (a pool ``initializer``), together with
    :func:`exit_with_parent`, so that the helper cannot outlive a parent that was stopped.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _watch(parent: int, poll_seconds: float, announce: bool = True) -> None:
    """Poll the parent pid; exit the whole process once it changed."""
    while True:
        time.sleep(poll_seconds)
        if os.getppid() != parent:
            if not announce:
                os._exit(1)
            message = f"sslsv: parent process {parent} is gone; process {os.getpid()} exits with it\n"
            try:  # the raw descriptor: sys.stderr may be redirected (a kernel's) or locked by another thread
                os.write(2, message.encode())
            except OSError:
                pass
            os._exit(1)

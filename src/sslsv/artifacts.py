"""Content-addressed, self-recording run directories and atomic writes.

A run directory is named by its kind and the hash of its resolved config
(``<root>/runs/sv-3f2a9c0d1e4b``); nobody types it.  It records the resolved
config, the environment (package versions, git commit), a log, checkpoints,
scores and metrics.  An incomplete run resumes from its last checkpoint.

A finished run holds ``MANIFEST.json`` (size and SHA-256 of each of its files,
and a fingerprint of its inputs) and then ``DONE``.  It is served again only
when :meth:`Run.reusable` can show that its files still match the manifest and
its inputs the fingerprint; otherwise the directory is moved aside (never
deleted), the reason is printed, and the run is computed again.  One process
at a time computes a run: :meth:`Run.lock` makes a second one wait.

The artifact root is ``artifacts/`` in the working directory, or the
directory named by the ``SSLSV_ARTIFACTS`` environment variable.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from .config import config_hash, same_config, to_dict
from .errors import UserError

ENV_VAR = "SSLSV_ARTIFACTS"


def artifact_root() -> Path:
    """The artifact root: ``$SSLSV_ARTIFACTS`` or ``./artifacts``."""
    return Path(os.environ.get(ENV_VAR, "artifacts")).expanduser().resolve()


class ArtifactError(UserError, RuntimeError):
    """An artifact that cannot be read or written; the message names the file and what to do."""


def notice(message: str) -> None:
    """Tell the user something on stderr, one line, prefixed ``sslsv:`` (progress bars stay intact)."""
    try:
        from tqdm import tqdm

        tqdm.write(f"sslsv: {message}", file=sys.stderr)
    except ImportError:  # pragma: no cover
        print(f"sslsv: {message}", file=sys.stderr)


def write_problem(path: Path, e: OSError) -> ArtifactError:
    """An :class:`ArtifactError` for a failed write, naming ``path`` and the fix."""
    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC:
        fix = "free space there, or point SSLSV_ARTIFACTS at a disk with room"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = "make it writable, or point SSLSV_ARTIFACTS at a writable directory"
    else:
        fix = "check the disk, or point SSLSV_ARTIFACTS elsewhere"
    return ArtifactError(f"cannot write {path}: {reason}; {fix}")


def move_aside(path: Path, into: Path | None = None, suffix: str = "set-aside") -> Path:
    """Move a damaged or stale artifact out of the way, never deleting it, and return where it went.

    It goes to ``<into>/<name>-<time>`` when ``into`` is given, else next to itself as
    ``<name>.<suffix>-<time>``.
    """
    path = Path(path)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target = Path(into) / f"{path.name}-{stamp}" if into is not None else path.with_name(f"{path.name}.{suffix}-{stamp}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    except OSError as e:
        raise write_problem(target, e) from e
    return target


def read_json(path: Path, what: str = "file") -> Any:
    """``json.load`` of ``path``; a missing, truncated or invalid file is an :class:`ArtifactError` naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{path}: cannot read {what} ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: {what} is not valid JSON ({e}); it was truncated or edited: "
                            f"delete it (or its run directory) to compute it again") from None


# ---------------------------------------------------------------------------
# Atomic writes: write to a temporary file in the same directory, then rename.
# ---------------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_problem(path, e) from e
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f))


def torch_load(path: Path, map_location: str = "cpu") -> Any:
    """``torch.load`` with ``weights_only=True`` (never unpickles code)."""
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt or foreign file
        import re

        reason = re.sub(r"\x1b\[[0-9;]*m", "", str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        raise ArtifactError(f"cannot load checkpoint {path}: corrupt, truncated, or not a weights-only "
                            f"checkpoint ({reason[:160]})") from e


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# ---------------------------------------------------------------------------
# Environment record
# ---------------------------------------------------------------------------

_PACKAGES = ("torch", "torchaudio", "numpy", "scipy", "scikit-learn", "speechbrain",
             "transformers", "captum", "soundfile")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """Package versions, Python, platform, git commit, thread count."""
    from importlib import metadata

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    except ImportError:
        pass
    return info


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def file_lock(lock_path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``lock_path`` for the block.

    A second process that asks for it prints ``waiting for <what>: pid N on <host> ... is computing
    it`` and waits. The lock is released when its holder ends, however it ends (``kill -9``
    included), so a stale lock file never blocks anyone.
    """
    import fcntl

    lock_path = Path(lock_path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock_path, "a+")
    except OSError as e:
        raise write_problem(lock_path, e) from e
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            notice(f"waiting for {what}: {holder} is computing it")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} "
                f"(since {_dt.datetime.now().strftime('%H:%M:%S')}: {' '.join(sys.argv[:4])[:120]})\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


MANIFEST = "MANIFEST.json"
# Files of a run directory that may change after it finished (not in its manifest).
_UNLISTED = {"DONE", MANIFEST, "log.txt", "environment.json"}
_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, per process


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (memoised per process on path, size and modification time)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _digests[key] = h.hexdigest()
    return _digests[key]


class _RunFile:
    """A file of the fixed run layout, read as an attribute: ``run.config_file`` is ``run.path / "config.json"``."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, run: "Run | None", owner: type | None = None) -> Any:
        return self if run is None else run.path / self.name


class Run:
    """A run directory named ``<kind>-<hash of config>`` under ``<root>/runs``.

    >>> import tempfile, pathlib
    >>> from sslsv.config import OptimConfig
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> run = Run("demo", OptimConfig(), root=root)
    >>> run.path.name == "demo-" + config_hash(OptimConfig())
    True
    >>> run.is_complete
    False
    >>> _ = run.start(); run.finish({"eer_percent": 1.0}); run.is_complete
    True
    >>> Run("demo", OptimConfig(), root=root).metrics()
    {'eer_percent': 1.0}
    """

    def __init__(self, kind: str, config: Any, root: Path | None = None):
        self.kind = kind
        self.config = config
        self.config_dict = to_dict(config) if hasattr(config, "__dataclass_fields__") else config
        self.hash = config_hash(self.config_dict)
        self.path = (Path(root) if root else artifact_root()) / "runs" / f"{kind}-{self.hash}"

    # files of the fixed run layout
    config_file = _RunFile("config.json")
    checkpoint_file = _RunFile("checkpoint.pt")
    metrics_file = _RunFile("metrics.json")
    log_file = _RunFile("log.txt")
    done_file = _RunFile("DONE")
    manifest_file = _RunFile(MANIFEST)

    def file(self, name: str) -> Path:
        return self.path / name

    # --- reuse -----------------------------------------------------------

    def problem(self, inputs: Mapping[str, Any] | None = None) -> str | None:
        """Why this finished run cannot be served (``None``: it can), or ``"unfinished"``.

        It can be served when its manifest lists every file with the size and SHA-256 it has
        now, its ``config.json`` is this run's configuration, and (when ``inputs`` is given) its
        recorded input fingerprint equals ``inputs``.
        """
        if not self.done_file.exists():
            return "unfinished"
        if not self.manifest_file.is_file():
            return f"it has no {MANIFEST} (it finished before runs recorded one), so nothing shows it is intact"
        try:
            manifest = read_json(self.manifest_file, "run manifest")
            files = dict(manifest["files"])
        except (ArtifactError, KeyError, TypeError, ValueError) as e:
            return f"its {MANIFEST} is unreadable ({e})"
        for name, entry in sorted(files.items()):
            path = self.path / name
            if not path.is_file():
                return f"{name} is missing"
            size = path.stat().st_size
            if size != entry["size"]:
                return f"{name} has {size:,} bytes, the manifest says {entry['size']:,} (truncated or replaced)"
            if file_sha256(path) != entry["sha256"]:
                return f"{name} changed since the run finished (its SHA-256 differs from the manifest)"
        try:
            recorded = read_json(self.config_file, "run config")
        except ArtifactError as e:
            return str(e)
        if not same_config(recorded, self.config_dict):
            return "config.json no longer describes this run (edited by hand?)"
        if inputs is not None:
            before = manifest.get("inputs")
            if before != json.loads(json.dumps(dict(inputs), default=_json_default)):
                what = describe_change(before or {}, inputs) if before else "no input fingerprint recorded"
                return f"its inputs changed since it finished ({what})"
        return None

    def reusable(self, inputs: Mapping[str, Any] | None = None) -> bool:
        """Whether the finished run can be served; a finished run that cannot is moved aside (and said why).

        The directory goes to ``<root>/runs/.set-aside/<name>-<time>``, so that nothing is lost and the
        run can be computed again under its own name.
        """
        why = self.problem(inputs)
        if why is None:
            return True
        if why != "unfinished":
            aside = self.set_aside()
            notice(f"not reusing run {self.path.name}: {why}; moved it to {aside} and computing it again")
        return False

    @property
    def is_complete(self) -> bool:
        """:meth:`reusable` without an input fingerprint."""
        return self.reusable()

    def set_aside(self) -> Path:
        """Move the run directory to ``runs/.set-aside/`` and return where it went."""
        return move_aside(self.path, into=self.path.parent / ".set-aside")

    def serve(self, inputs: Mapping[str, Any] | None, load: Callable[[], Any], compute: Callable[[], Any]) -> Any:
        """``load()`` when the finished run can be served (:meth:`reusable`), else ``compute()`` under its lock.

        A process that had to wait for the lock checks again first: the holder may have just
        finished the very same run.
        """
        if self.reusable(inputs):
            return load()
        with self.lock():
            return load() if self.reusable(inputs) else compute()

    def lock(self) -> contextlib.AbstractContextManager:
        """Hold the run's lock (``runs/<name>.lock``) for a block; a second holder waits and says for whom."""
        return file_lock(self.path.parent / f"{self.path.name}.lock", f"run {self.path.name}")

    # --- life cycle ------------------------------------------------------

    def start(self) -> "Run":
        """Create the directory and record config and environment.

        An existing directory whose recorded config differs is refused: a
        run never silently continues under another configuration.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_problem(self.path, e) from e
        if self.config_file.exists():
            recorded = read_json(self.config_file, "run config")
            if not same_config(recorded, self.config_dict):
                raise ArtifactError(
                    f"run directory {self.path} holds a different configuration; "
                    "refusing to resume it under this one (delete it to start over)"
                )
        else:
            atomic_write_json(self.config_file, self.config_dict)
        atomic_write_json(self.file("environment.json"), environment())
        return self

    def log(self, message: str) -> None:
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a") as f:
                f.write(f"[{stamp}] {message}\n")
        except OSError as e:
            raise write_problem(self.log_file, e) from e

    def finish(self, metrics: dict[str, Any], inputs: Mapping[str, Any] | None = None) -> None:
        """Write the metrics, the manifest (files and ``inputs``), then the DONE marker."""
        atomic_write_json(self.metrics_file, metrics)
        files = {}
        for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
            name = path.relative_to(self.path).as_posix()
            if name in _UNLISTED or path.name.startswith("."):
                continue
            files[name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
        atomic_write_json(self.manifest_file, {"files": files, "inputs": dict(inputs) if inputs else None})
        atomic_write_text(self.done_file, "")

    def metrics(self) -> dict[str, Any]:
        return read_json(self.metrics_file, "run metrics")

    def digest(self) -> str:
        """A short SHA-256 of the finished run's manifest: it names exactly these files and inputs."""
        return file_sha256(self.manifest_file)[:16]


def describe_change(recorded: Mapping[str, Any], current: Mapping[str, Any], limit: int = 3) -> str:
    """What differs between two input fingerprints (nested dicts), in words.

    >>> describe_change({"trials": "a", "audio": {"id1": "x"}}, {"trials": "b", "audio": {}})
    'audio/id1 removed; trials changed'
    """
    changes: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                name = f"{where}/{k}" if where else str(k)
                if k not in b:
                    changes.append(f"{name} removed")
                elif k not in a:
                    changes.append(f"{name} added")
                else:
                    walk(a[k], b[k], name)
        elif a != b:
            changes.append(f"{where} changed")

    walk(dict(recorded), dict(current), "")
    shown = "; ".join(changes[:limit])
    return shown + (f"; and {len(changes) - limit} more" if len(changes) > limit else "")

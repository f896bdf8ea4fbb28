"""Content-addressed, self-recording run directories and atomic writes.

A run directory is named by its kind and the hash of its resolved config
(``<root>/runs/sv-3f2a9c0d1e4b``); nobody types it.  It records the resolved
config, the environment (package versions, git commit), a log, checkpoints,
scores and metrics.  A run whose ``DONE`` marker exists is reused and never
recomputed; an incomplete one resumes from its last checkpoint.

The artifact root is ``artifacts/`` in the working directory, or the
directory named by the ``SSLSV_ARTIFACTS`` environment variable.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .config import config_hash, to_dict

ENV_VAR = "SSLSV_ARTIFACTS"


def artifact_root() -> Path:
    """The artifact root: ``$SSLSV_ARTIFACTS`` or ``./artifacts``."""
    return Path(os.environ.get(ENV_VAR, "artifacts")).expanduser().resolve()


# ---------------------------------------------------------------------------
# Atomic writes: write to a temporary file in the same directory, then rename.
# ---------------------------------------------------------------------------


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
        raise RuntimeError(f"cannot load checkpoint {path}: {e}") from e


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
    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoint_file(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def done_file(self) -> Path:
        return self.path / "DONE"

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def is_complete(self) -> bool:
        return self.done_file.exists()

    def start(self) -> "Run":
        """Create the directory and record config and environment.

        An existing directory whose recorded config differs is refused: a
        run never silently continues under another configuration.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        if self.config_file.exists():
            recorded = json.loads(self.config_file.read_text())
            if recorded != self.config_dict:
                raise RuntimeError(
                    f"run directory {self.path} holds a different configuration; "
                    "refusing to resume it under this one (delete it to start over)"
                )
        else:
            atomic_write_json(self.config_file, self.config_dict)
        atomic_write_json(self.file("environment.json"), environment())
        return self

    def log(self, message: str) -> None:
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a") as f:
            f.write(f"[{stamp}] {message}\n")

    def finish(self, metrics: dict[str, Any]) -> None:
        """Write the metrics, then the DONE marker (the run is then reused)."""
        atomic_write_json(self.metrics_file, metrics)
        atomic_write_text(self.done_file, "")

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_file.read_text())

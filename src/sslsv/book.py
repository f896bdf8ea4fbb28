"""Execute the study notebooks with papermill (never in place).

``notebooks/NN_name.py`` (jupytext py:percent) is the source; its paired
``notebooks/NN_name.ipynb`` is what papermill runs, with the profile
injected into the cell tagged ``parameters``; the executed copy is written
to ``book/NN_name.ipynb`` (or the smoke regression references under
``tests/notebooks/``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL_NAME = "python3"


def notebook_names() -> list[str]:
    """Every study notebook, in chapter order (``01_baseline``, ...)."""
    return sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def toc_notebooks() -> list[str]:
    """The chapters ``_toc.yml`` lists (``book/NN_name``), in book order: what ``make book`` executes."""
    import re

    toc = (REPO / "_toc.yml").read_text()
    return re.findall(r"file:\s*book/(\d\d_\w+)", toc)


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
        cell["id"] = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
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
                      parameters: Mapping[str, Any] | None = None) -> list[Path]:
    """Run each notebook (default: the chapters in ``_toc.yml``) with ``profile`` into ``output_dir``.

    A cell error raises (papermill's ``PapermillExecutionError``) after the
    partially executed notebook has been written, so its output can be read.
    """
    import tempfile

    import papermill

    outputs = []
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
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, src in zip(names, sources):
            out = out_dir / f"{name}.ipynb"
            papermill.execute_notebook(str(src), str(out), parameters=params, kernel_name=KERNEL_NAME,
                                       cwd=str(REPO), progress_bar=False, request_save_on_cell_execute=False)
            _strip_volatile_metadata(out)
            outputs.append(out)
    return outputs


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """Refuse a parameter the notebook's ``parameters`` cell does not declare."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"{notebook.name}: unknown parameter(s) {', '.join(unknown)}; "
                         f"valid parameters: {', '.join(sorted(declared))}")


def _strip_volatile_metadata(path: Path) -> None:
    """Drop per-cell timestamps so re-executions differ only where results do."""
    nb = json.loads(path.read_text())
    for cell in nb.get("cells", []):
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

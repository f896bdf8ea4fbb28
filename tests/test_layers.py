"""The layers of ``sslsv`` point down, and no two modules import each other.

:data:`LAYERS` is the one place where the order is written, lowest first. A module may import, at
module level, any module of its own layer or of a layer below; an import of a module of a higher
layer fails. Imports inside functions count for circles: an import moved into a function to dodge a
circle is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A name is a top-level module or package of sslsv (a package stands for all its modules).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "lifetime", "statistics", "systems", "tables", "ranges", "profiles", "settings"),  # plain data, helpers
    ("config",),  # frozen configs, strict overrides, the values' checks, the run hash
    ("artifacts", "features", "metrics", "training", "upstreams"),  # runs on disk, shared numerics
    ("data",),  # corpora: synthetic generator, VoxCeleb1 and LibriSpeech readers
    ("pretrain", "sv", "analysis"),  # the models and their training
    ("plots",),  # figures drawn from results
    ("studies",),  # the chapters' runs, comparisons and findings
    ("book", "cli"),  # entry points
)

# Imports that point up and are being removed on another branch; none at present.
PENDING: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "sslsv").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> dict[str, bool]:
    """``{imported sslsv module: imported at module level}`` of one module (a submodule counts as itself)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                where = ".".join(base + ([node.module] if node.module else []))
            else:
                where = node.module or ""
            for alias in node.names:
                targets.append(f"{where}.{alias.name}" if f"{where}.{alias.name}" in modules else where)
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target in modules and target != name:
                found[target] = found.get(target, False) or id(node) in top
    return found


def _layer(module: str) -> int:
    head = module.split(".")[1] if module.count(".") else ""
    for i, names in enumerate(LAYERS):
        if head in names:
            return i
    raise AssertionError(f"{module} is in no layer: add its top-level name to LAYERS in {__file__}")


def _graph() -> dict[str, dict[str, bool]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in sorted(modules.items())}


def cycles(graph: dict[str, dict[str, bool]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted.

    >>> cycles({"a": {"b": True}, "b": {"a": False}, "c": {"a": True}})
    [['a', 'b']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_every_module_has_a_layer():
    for module in _modules():
        if module != "sslsv":
            _layer(module)


def up_imports(graph: dict[str, dict[str, bool]]) -> list[str]:
    """Every import of ``graph`` that points up the layers, in words (:data:`PENDING` excepted)."""
    return [f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)}){'' if top else ' inside a function'}"
            for src, targets in graph.items() if src != "sslsv"
            for dst, top in targets.items()
            if _layer(dst) > _layer(src) and (src, dst) not in PENDING]


def test_imports_point_down():
    up = up_imports(_graph())
    assert not up, "imports that point up the layers:\n" + "\n".join(up)


def test_no_import_circles():
    found = cycles(_graph())
    assert not found, "import circles (imports inside functions included):\n" + "\n".join(map(" <-> ".join, found))


@pytest.mark.parametrize("bad", ["up", "circle"])
def test_the_checks_catch_what_they_guard(bad):
    """The checks fail on a made-up graph with the fault they look for."""
    if bad == "circle":
        assert cycles({"sslsv.config": {"sslsv.ranges": False}, "sslsv.ranges": {"sslsv.config": True}})
    else:
        found = up_imports({"sslsv.config": {"sslsv.studies.settings": False}, "sslsv.sv.model": {"sslsv.config": True}})
        assert found == ["sslsv.config (layer 1) imports sslsv.studies.settings (layer 6) inside a function"]


MAX_STUDY_LINES = 400  # a module of sslsv.studies has one role (build runs, compare, write findings, a chapter)


def test_study_modules_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (SRC / "sslsv" / "studies").glob("*.py")}
    big = {name: n for name, n in sizes.items() if n > MAX_STUDY_LINES}
    assert not big, f"modules of sslsv.studies over {MAX_STUDY_LINES} lines (split them by role): {big}"

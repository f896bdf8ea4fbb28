"""The chapter notebooks: paired sources, parameter cells papermill can read, the table of contents."""

import ast
import json
from pathlib import Path

import pytest

from sslsv.book import NOTEBOOKS, REPO, notebook_names

NAMES = notebook_names()


def test_every_notebook_has_a_smoke_reference_and_the_toc_names_only_notebooks():
    from sslsv.book import toc_notebooks

    for name in NAMES:
        assert (REPO / "tests" / "notebooks" / f"{name}.ipynb").exists(), f"no nbval reference for {name}"
    toc = toc_notebooks()
    assert toc and set(toc) <= set(NAMES) and toc == sorted(toc)
    assert toc[0] == "01_baseline"
    assert NAMES[:8] == ["01_baseline", "01a_learning_curve", "01b_regime_map", "02_objective", "03_quantizer",
                         "04_data_scale", "05_model_size", "06_summary"]
    # a chapter in the toc has its executed cpu version in book/
    for name in toc:
        assert (REPO / "book" / f"{name}.ipynb").exists(), f"book/{name}.ipynb missing: run `make book`"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_is_fully_understood_by_papermill(name):
    import papermill

    declared = set(papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb")))
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    assigned = {t.id for node in ast.parse("".join(cell["source"])).body if isinstance(node, ast.Assign)
                for t in node.targets}
    assert assigned == declared, f"papermill cannot parse {sorted(assigned - declared)} in {name}"
    assert "profile" in declared


@pytest.mark.parametrize("name", NAMES)
def test_paired_notebook_matches_its_source(name):
    import jupytext

    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    ipynb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    src = [c.source for c in py.cells]
    assert src == ["".join(c["source"]) for c in ipynb["cells"]], \
        f"notebooks/{name}.ipynb is out of date: run `python -c \"from sslsv.book import sync_notebook; " \
        f"sync_notebook('{name}')\"`"


def test_notebooks_define_no_functions():
    for name in NAMES:
        tree = ast.parse((NOTEBOOKS / f"{name}.py").read_text())
        defs = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        assert not defs, f"{name} defines {defs}: that code belongs in src/sslsv"


def test_syncing_an_up_to_date_pair_writes_nothing(tmp_path):
    from sslsv.book import sync_notebook

    name = NAMES[0]
    tracked = NOTEBOOKS / f"{name}.ipynb"
    before = (tracked.stat().st_mtime_ns, tracked.read_bytes())
    assert sync_notebook(name) == tracked
    assert (tracked.stat().st_mtime_ns, tracked.read_bytes()) == before, "an up-to-date notebook was rewritten"
    # a fresh sync elsewhere gives byte-identical content (cell ids come from the cells, not at random)
    assert sync_notebook(name, tmp_path).read_bytes() == tracked.read_bytes()


def test_an_executed_chapter_does_not_change_when_nothing_but_papermills_random_cell_id_would(tmp_path):
    """Papermill gives its injected-parameters cell a random id; the book replaces it by one from the cell's
    content, so re-executing a chapter whose results did not move leaves its file byte for byte."""
    from sslsv.book import _strip_volatile_metadata

    def executed(random_id: str) -> Path:
        cells = [{"cell_type": "code", "id": "aaaa0000", "metadata": {"tags": ["parameters"]}, "source": "x = 1",
                  "outputs": [], "execution_count": 1},
                 {"cell_type": "code", "id": random_id, "metadata": {"tags": ["injected-parameters"]},
                  "source": ["# Parameters\n", "x = 2\n"], "outputs": [], "execution_count": 2}]
        path = tmp_path / f"{random_id}.ipynb"
        path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        _strip_volatile_metadata(path)
        return path

    a, b = executed("e9687db0"), executed("5208ea9d")
    assert a.read_bytes() == b.read_bytes()
    cell = json.loads(a.read_text())["cells"][1]
    assert cell["id"] not in ("e9687db0", "5208ea9d") and "hide-input" in cell["metadata"]["tags"]

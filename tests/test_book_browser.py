"""The rendered book, opened in a real browser: what a reader sees on every page.

Builds the HTML book (``jupyter-book build``, as ``make html`` does) from the
executed chapters that ``_toc.yml`` lists, in a scratch directory under
``.cache/book-test/`` (the working tree is left as it was), then opens the
introduction and every chapter in headless Chromium (Debian's ``chromium``,
driven by playwright; ``make browser`` installs it) at a 1280 px wide window:

* nothing scrolls sideways (``scrollWidth <= innerWidth``);
* every chapter shows at least one rendered ``<table>`` and one loaded image,
  and no image is broken;
* no page shows a traceback or an error output cell;
* every chapter opens with its answer (the glued finding), and the
  introduction's "What we found" shows the verdict table and the summary
  figure pasted from chapter 06.

A screenshot of each page is kept under ``.cache/book-screenshots/``.

The chapters come from ``$SSLSV_BOOK_CHAPTERS`` (default ``book``, the
executed cpu-profile chapters; ``make test-book`` uses the smoke references
``tests/notebooks``, which nbval keeps in step with the notebooks).
Marked ``book``: deselected by a plain ``pytest``; run with ``make test-book``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sslsv.book import REPO, toc_notebooks

pytestmark = pytest.mark.book

CHROMIUM = os.environ.get("SSLSV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
WORK = REPO / ".cache" / "book-test"
SCREENSHOTS = REPO / ".cache" / "book-screenshots"
PAGES = ["intro"] + toc_notebooks()


def chapters_dir() -> Path:
    d = Path(os.environ.get("SSLSV_BOOK_CHAPTERS", "book"))
    return d if d.is_absolute() else REPO / d


@pytest.fixture(scope="module")
def built_book() -> Path:
    """The HTML book built from the chapters of ``chapters_dir()``: the directory of its pages."""
    source, out = WORK / "source", WORK / "build"
    shutil.rmtree(WORK, ignore_errors=True)
    (source / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, source / name)
    for path in (REPO / "book").glob("*"):
        if path.suffix in (".md", ".bib"):
            shutil.copy(path, source / "book" / path.name)
    missing = [n for n in toc_notebooks() if not (chapters_dir() / f"{n}.ipynb").exists()]
    assert not missing, f"no executed chapter {', '.join(missing)} in {chapters_dir()}"
    for name in toc_notebooks():
        shutil.copy(chapters_dir() / f"{name}.ipynb", source / "book" / f"{name}.ipynb")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run([str(jupyter_book), "build", str(source), "--path-output", str(out), "--warningiserror",
                           "--keep-going"], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    log = done.stdout + done.stderr
    (WORK / "build.log").write_text(log)
    problems = [line for line in log.splitlines() if re.search(r"WARNING|ERROR|Traceback", line)]
    assert done.returncode == 0 and not problems, \
        f"jupyter-book build failed ({WORK / 'build.log'}):\n" + "\n".join(problems[:20] or log.splitlines()[-20:])
    pages = out / "_build" / "html" / "book"
    assert (pages / "intro.html").exists()
    return pages


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium page at 1280 px, with a fresh profile directory."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport=VIEWPORT)
        try:
            yield context.new_page()
        finally:
            context.close()


def open_page(page, path: Path, name: str) -> dict:
    """Load ``path``, wait for its images, screenshot it; what the page shows, measured in the browser."""
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    return page.evaluate("""() => {
        const main = document.querySelector("main") || document.body;
        const imgs = Array.from(main.querySelectorAll("img"));
        const answer = Array.from(main.querySelectorAll(".admonition")).find(
            a => (a.querySelector(".admonition-title") || {}).innerText?.startsWith("The answer"));
        return {
            scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
            tables: main.querySelectorAll("table").length,
            loadedImages: imgs.filter(img => img.naturalWidth > 0).length,
            brokenImages: imgs.filter(img => img.naturalWidth === 0).map(img => img.getAttribute("src")),
            text: main.innerText,
            errorOutputs: main.querySelectorAll(".output.traceback, .output.error, .output.stderr").length,
            answer: answer ? answer.innerText : null,
            headings: Array.from(main.querySelectorAll("h1, h2")).map(h => h.innerText),
        };
    }""")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_reads_in_a_browser(built_book, browser, name):
    seen = open_page(browser, built_book / f"{name}.html", name)
    assert seen["scrollWidth"] <= seen["innerWidth"], \
        f"{name}: the page scrolls sideways ({seen['scrollWidth']} px wide in a {seen['innerWidth']} px window)"
    assert seen["tables"] >= 1, f"{name}: no rendered <table>"
    assert seen["loadedImages"] >= 1, f"{name}: no image loaded"
    assert not seen["brokenImages"], f"{name}: images that did not load: {seen['brokenImages']}"
    assert "Traceback" not in seen["text"], f"{name}: a traceback is shown"
    assert seen["errorOutputs"] == 0, f"{name}: {seen['errorOutputs']} error output cell(s)"
    if name == "intro":
        assert any(h.startswith("What we found") for h in seen["headings"]), seen["headings"]
        found = seen["text"].split("What we found", 1)[1]
        assert re.search(r"reproduced|inconclusive", found), "the verdict table is not in 'What we found'"
        assert re.search(r"\d+\.\d", found), "no number pasted into 'What we found'"
    else:
        assert seen["answer"] and len(seen["answer"]) > len("The answer, computed from this chapter's runs") + 40, \
            f"{name}: the chapter does not open with its answer: {seen['answer']!r}"
        assert "Recap" in seen["headings"], f"{name}: no Recap section"

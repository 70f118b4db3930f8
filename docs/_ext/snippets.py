"""The code blocks of the docs' Markdown pages, read and run as a reader would.

``tests/test_docs_snippets.py`` runs every page's blocks; the docs build runs the
tutorial (:func:`setup`, a Sphinx extension), so its pictures are drawn by its own code.
A block preceded by ``<!-- snippet: skip REASON -->`` is not run; a ``bash`` block
preceded by ``<!-- snippet: run -->`` holds ``unetseg ...`` lines, run through the
command line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path

BLOCK = re.compile(
    r"(?:<!-- snippet: (?P<directive>skip|run)(?P<reason>[^\n]*?) -->\n)?"
    r"^```(?P<language>python|bash)\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


def snippets(page: Path) -> list[tuple[str, str, str | None, str]]:
    """(language, code, directive, reason) of each fenced Python or bash block."""
    return [
        (m["language"], m["code"], m["directive"], (m["reason"] or "").strip())
        for m in BLOCK.finditer(page.read_text(encoding="utf-8"))
    ]


def run_page(page: Path, namespace: dict) -> None:
    """Run the blocks of ``page`` in order in ``namespace``, in the current folder."""
    from unetseg.cli import main

    for number, (language, code, directive, _) in enumerate(snippets(page), start=1):
        if directive == "skip" or (language == "bash" and directive != "run"):
            continue
        if language == "bash":
            for line in code.splitlines():
                arguments = shlex.split(line)
                if arguments[0] != "unetseg" or main(arguments[1:]) != 0:
                    raise RuntimeError(f"{page.name}, block {number}: {line!r} failed")
            continue
        try:
            exec(compile(code, f"{page.name} (Python block {number})", "exec"), namespace)
        except Exception as error:
            error.add_note(f"in {page.name}, Python block {number}:\n{code}")
            raise


#: The tutorial's picture, drawn when the docs are built (not kept in git).
TUTORIAL_FIGURE = Path("figures") / "generated" / "tutorial_overlay.png"


def _run_tutorial(app) -> None:
    """Run ``tutorial.md`` in a temporary folder and keep the overlay it draws; skipped
    when the picture is newer than the page (an incremental build)."""
    source = Path(app.srcdir)
    page, figure = source / "tutorial.md", source / TUTORIAL_FIGURE
    if figure.is_file() and figure.stat().st_mtime > page.stat().st_mtime:
        return
    before = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            run_page(page, {"__name__": "tutorial"})
        finally:
            os.chdir(before)
        figure.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(folder) / "tutorial" / "overlay.png", figure)


def setup(app) -> dict:
    """The Sphinx extension: run the tutorial before the pages are read."""
    app.connect("builder-inited", _run_tutorial)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

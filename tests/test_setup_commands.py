"""The README's set-up commands are what CI runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command(which: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_command.py"), which, str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_readme_has_exactly_the_two_setup_commands():
    setup = (ROOT / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert setup.count("```bash") == 2
    assert readme_command("main").endswith("unetseg train quick")
    assert "pytest" in readme_command("test")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command.py test README.md" in ci


def test_the_landing_page_and_installation_give_the_readme_commands():
    """The docs show the set-up commands verbatim, under the same markers as the README."""
    for page in ("index.md", "installation.md"):
        text = (ROOT / "docs" / page).read_text()
        for which in ("main", "test"):
            block = f"<!-- {which}-command -->\n```bash\n{readme_command(which)}\n```"
            assert block in text, (page, which)

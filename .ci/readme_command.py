"""Print one of the README's set-up commands: the fenced block after its marker.

Usage: python .ci/readme_command.py {main,test} README.md

CI runs the README's test command through this script, so the command a new user
copies and the command CI runs are the same text.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def command(readme: str, which: str) -> str:
    marker = f"<!-- {which}-command -->"
    if readme.count(marker) != 1:
        raise SystemExit(f"README must contain the marker {marker!r} exactly once")
    after = readme.split(marker, 1)[1]
    match = re.match(r"\s*```(?:bash|sh)\n(.*?)\n```", after, flags=re.DOTALL)
    if match is None:
        raise SystemExit(f"no fenced bash block follows {marker!r} in the README")
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    if len(lines) != 1:
        raise SystemExit(f"the block after {marker!r} must hold one command line")
    return lines[0]


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"main", "test"}:
        raise SystemExit(__doc__)
    print(command(Path(sys.argv[2]).read_text(encoding="utf-8"), sys.argv[1]))

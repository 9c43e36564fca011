"""The repository's top level holds the project's fixed layout and nothing else.

The layout is fixed (pyproject.toml, README.md, harvester/, configs/, tests/, LICENSE, plus
.ci/run and .gitignore). A scratch file a command left in the checkout was once committed
with the rest of a change; this test names any such entry.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The top-level entries git may track.
LAYOUT = frozenset(
    {"pyproject.toml", "README.md", "harvester", "configs", "tests", "LICENSE", ".ci", ".gitignore"}
)


def test_git_tracks_only_the_fixed_layout_at_the_top_level() -> None:
    """Every file git tracks sits under one of the layout's top-level entries."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist): no tracked files to check")
    listed = subprocess.run(
        [git, "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    top = {path.split("/", 1)[0] for path in listed}
    assert {"harvester", "tests", "README.md", "pyproject.toml"} <= top, sorted(top)
    assert top <= LAYOUT, f"not part of the layout: {sorted(top - LAYOUT)}"

"""One ``harvester demo`` run as a user makes it, for the tests of the demo (``demo_run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import harvester


@dataclass(frozen=True)
class DemoRun:
    """What ``python -m harvester demo --out DIR --quiet`` did: its folder, exit code, output."""

    out: Path
    code: int
    stdout: str
    stderr: str


def run_demo(out: Path) -> DemoRun:
    """``python -m harvester demo --out OUT --quiet`` with this very package, as on an HPC
    node whose ``http_proxy`` no loopback request could go through (port 9, where nothing
    listens): the demo's emulator is its own, on loopback, and must be reached directly."""
    env = {**os.environ, "http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "harvester", "demo", "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    return DemoRun(out, proc.returncode, proc.stdout, proc.stderr)

"""The README's Quick start says what a new user sees: the emulator's first line as it prints
it, and the demo screen's plates as the emulator serves them (found by a first-time user's
walkthrough: a `(Ctrl-C stops it)` it never printed, and plates "from 7361 to 7375" of which
the tenth, 7379, lies outside)."""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import sys
from pathlib import Path

import harvester
from harvester.emulator.catalogue_presets import DEMO_PLATE_IDS
from harvester.emulator.cli import targets_line

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## Quick start") : text.index("## Harvesting")]


def test_the_demo_plates_are_those_the_quick_start_names() -> None:
    """The Quick start's plate count and id range hold every plate of the demo screen."""
    found = re.search(r"(\d+) plates, ids (\d+) to (\d+)", quick_start())
    assert found is not None, "the Quick start no longer names the demo plates"
    count, low, high = map(int, found.groups())
    assert (count, low, high) == (
        len(DEMO_PLATE_IDS),
        min(DEMO_PLATE_IDS),
        max(DEMO_PLATE_IDS),
    )


def test_the_emulator_prints_what_the_quick_start_shows() -> None:
    """`harvester emulate --port N` prints, on its own first line, what the Quick start's
    comment says it prints (with the port it was given)."""
    found = re.search(r"harvester emulate --port (\d+) +# prints: (\S.*)$", quick_start(), re.M)
    assert found is not None, "the Quick start no longer shows the emulator's line"
    port, shown = found.groups()
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with subprocess.Popen(
        [sys.executable, "-m", "harvester", "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 30)  # it prints once it listens
            assert ready, "the emulator printed nothing in 30 s"
            first = proc.stdout.readline().rstrip("\n")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    printed_port = first.rpartition(":")[2]
    assert printed_port.isdigit(), first
    assert first.replace(f":{printed_port}", f":{port}") == shown


def test_the_emulators_suggested_command_lifts_the_rate_as_the_quick_start_says() -> None:
    """The Quick start says to add `--rate none` for the emulator, and its own harvest line
    has it; so has the `try:` command the emulator prints at start (it ran at IDR's 10/s)."""
    shown = re.search(
        r"^harvester harvest --base-url http://127\.0\.0\.1:\S+ (.*)$", quick_start(), re.M
    )
    assert shown is not None, "the Quick start no longer shows a harvest of the emulator"
    assert "--rate none" in shown.group(1)
    line = targets_line("http://127.0.0.1:8080", "demo")
    suggested = shlex.split(line.partition("; try: ")[2])
    assert suggested[:4] == ["harvester", "harvest", "--base-url", "http://127.0.0.1:8080"]
    assert suggested[suggested.index("--rate") + 1] == "none"

"""`harvester demo` stopped with Ctrl-C, as a first-time user stops it, then `status`.

The interrupted demo printed its resume line, then `files: ...` and `next: harvester status
DIR` after it, which read as a demo that had finished; and its `images 80` (what the walk
found) beside `status`'s `33 images known` (what was journaled) read as a contradiction.
The demo runs in a subprocess (its own emulator, on loopback), its standard output and error
read as one terminal shows them, for the Ctrl-C; ``status`` runs as ``harvester ARGS`` (in
the test process, tests/cli_in_process.py).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from harvest_helpers import cli_env, reaped, run_cli, wait_for_files


def _interrupted_demo(out: Path) -> tuple[int, list[str]]:
    """``harvester demo --out OUT -q`` stopped by SIGINT once 10 files are written: its exit
    code and its lines, standard output and error interleaved as printed (unbuffered)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester", "demo", "--out", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(proc):
        wait_for_files(out, 10)
        proc.send_signal(signal.SIGINT)
        printed, _ = proc.communicate(timeout=60)
    return proc.returncode, printed.splitlines()


def test_an_interrupted_demo_ends_with_its_resume_line(tmp_path: Path) -> None:
    """Exit 130, the resume line last, no `next: harvester status`; the files are still named."""
    out = tmp_path / "d5"
    code, lines = _interrupted_demo(out)
    assert code == 130, lines
    assert lines[-1] == (
        f"interrupted: every finished file is kept and journaled; resume with: harvester demo "
        f"--out {out}"
    ), lines
    assert not any(line.startswith("next:") for line in lines), lines
    assert f"files: {out / 'images'} (thumbnails, renders, imgData, metadata)" in lines
    assert "Traceback" not in "\n".join(lines)


def test_an_interrupted_demo_and_status_say_what_they_count(tmp_path: Path) -> None:
    """The summary counts the images found, its index line the images with a file done, and
    status the images journaled, its walk line saying the others are not counted."""
    out = tmp_path / "d5"
    code, lines = _interrupted_demo(out)
    assert code == 130, lines
    found_line = next(line for line in lines if line.startswith("done "))
    found = re.search(r"; (\d+) images found$", found_line)
    assert found is not None, found_line
    index_line = next(line for line in lines if line.startswith("index: "))
    rows = re.fullmatch(
        rf"index: {re.escape(str(out / 'index.csv'))} \((\d+) rows: the images with a file "
        rf"done before the interruption, of {found.group(1)} found\)",
        index_line,
    )
    assert rows is not None, index_line
    with (out / "index.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) - 1 == int(rows.group(1))

    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    said = status.stdout.splitlines()
    journaled = re.fullmatch(
        rf"{re.escape(str(out))}: (\d+) images journaled, artifacts .*", said[0]
    )
    assert journaled is not None, said[0]
    assert int(rows.group(1)) <= int(journaled.group(1)) <= int(found.group(1))
    walk = [line for line in said if line.startswith("walk of --screen 2302")]
    assert len(walk) == 1 and walk[0].endswith(
        "has not finished: stopped; the images it had not journaled yet are not counted above"
    ), said

"""A folder whose name is no text in the locale's encoding (``caf\\xe9``, made on a Latin-1
system) is printed as its bytes, as ``ls`` prints it, under a strict UTF-8 locale too.

Why a child process: the standard output the command writes to is the process's own, and
its error handler (strict under ``en_US.UTF-8``, set here with ``PYTHONIOENCODING``) is
what failed: ``status`` ended ``internal error: UnicodeEncodeError``, exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harvest_helpers import cli_env, harvest

from harvester.emulator import EmulatorThread

DEMO_PROJECT = 51


def test_status_of_a_folder_named_in_latin1_prints_its_bytes(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Exit 0, the name's own bytes on standard output, and no ``internal error``; on a
    terminal, the stray byte and an ESC of the name shown ``\\xe9`` and ``\\x1b`` (as ``ls``
    escapes them there, and as the error lines show them: the raw ESC recoloured the
    screen)."""
    import pty

    name = os.fsdecode(b"e\x1b[31mcaf\xe9")  # (a lone surrogate for the stray byte)
    out = tmp_path / name
    summary = harvest(emulator.base_url, out, projects=[DEMO_PROJECT], artifacts=["thumbnail"])
    assert summary.failed == 0 and summary.done > 0
    child = subprocess.run(
        [sys.executable, "-m", "harvester", "status", os.fsencode(out)],
        capture_output=True,
        env={**cli_env(), "PYTHONIOENCODING": "utf-8:strict"},
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert b"internal error" not in child.stderr
    assert b"e\x1b[31mcaf\xe9: " in child.stdout  # (the folder's line, its bytes as on disk)
    terminal, child_end = pty.openpty()
    try:
        child = subprocess.run(
            [sys.executable, "-m", "harvester", "status", os.fsencode(out)],
            stdout=child_end,
            stderr=subprocess.PIPE,
            env={**cli_env(), "PYTHONIOENCODING": "utf-8:strict"},
            timeout=120,
            check=False,
        )
        os.close(child_end)
        shown = b""
        while chunk := _read_some(terminal):
            shown += chunk
    finally:
        os.close(terminal)
    assert child.returncode == 0, child.stderr
    assert shown.startswith(os.fsencode(tmp_path) + b"/e\\x1b[31mcaf\\xe9: "), shown[:200]
    assert b"\x1b" not in shown and b"\xe9" not in shown


def _read_some(fd: int) -> bytes:
    """What a terminal's side holds still ("" once the child's side is closed and read)."""
    try:
        return os.read(fd, 65536)
    except OSError:  # (EIO: the child's side is closed, all read)
        return b""

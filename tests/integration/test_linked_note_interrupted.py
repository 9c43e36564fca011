"""A run cut short as its store closes still says how many ``paths`` files are hard links.

The summary's ``N paths files are hard links to another image's`` was set only when the
run's store work returned normally: a run stopped once its fetching had ended, its store
still open, printed a summary without it, though the links were on disk. (A Ctrl-C in that
moment was lost besides: it cancelled the fetching's scope, already ended.) The real
command line in a subprocess, Ctrl-C (SIGINT, sent by the process to itself) at that point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harvest_helpers import cli_env

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c

#: ``harvester ARGV[1:]`` that sends itself SIGINT once its fetching has ended, its store
#: still open (as it records how its walk ended: ``Harvest._record_session_end``), and
#: waits there for the stop, as a Ctrl-C in that moment finds it.
CTRL_C_AS_THE_STORE_CLOSES = """
import os, signal, sys
import anyio
from harvester.cli import main
from harvester.pipeline import Harvest
real = Harvest._record_session_end
async def record_session_end(self, store):
    os.kill(os.getpid(), signal.SIGINT)
    await anyio.sleep(30)  # (cancelled by the stop at once)
    await real(self, store)
Harvest._record_session_end = record_session_end
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_interrupted_as_its_store_closes_still_counts_its_hard_links(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The demo plate's 8 images are one fileset: one file, 7 hard links to it. Ctrl-C as
    the store closes: exit 130, every image's file kept, and the summary still says the 7
    links (it said nothing of them)."""
    out = tmp_path / "out"
    args = ["--base-url", emulator.base_url, "--plate", str(c.DEMO_PLATE_ID)]
    args += ["--artifacts", "paths", "--out", str(out), "--rate", "none"]
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AS_THE_STORE_CLOSES, "harvest", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=cli_env(), timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    files = sorted(out.rglob("*.paths.json"))
    assert len(files) == 8 and len({os.stat(f).st_ino for f in files}) == 1, files
    assert "7 paths files are hard links to another image's" in done.stdout, done.stdout

"""A run cut short as its store closes still says how many ``paths`` files are hard links.

The summary's ``N paths files are hard links to another image's`` was set only when the
run's store work returned normally: a run stopped once its fetching had ended, its store
still open, printed a summary without it, though the links were on disk. A Ctrl-C once the
fetching has ended stops nothing more (what is left is what a stop finishes): the run ends
interrupted (exit 130) with index.csv written; cancelling the whole run there left no
index.csv and no line said so. The real command line in a subprocess, Ctrl-C (SIGINT, sent
by the process to itself) at that point.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from child_scripts import checked
from harvest_helpers import cli_env

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c

#: ``harvester ARGV[1:]`` that sends itself SIGINT at ``Harvest.METHOD`` and goes on once
#: the run has taken it (a cancellation of what is left ends the wait and the run there).
CTRL_C_AT = """
import os, signal, sys
import anyio
from harvester.cli import main
from harvester.pipeline import Harvest
real = Harvest.METHOD
async def ctrl_c_first(self, *args):
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(3000):  # (taken at the next loop turn; 30 s at most)
        if self.summary.signalled:
            break
        await anyio.sleep(0.01)
    await real(self, *args)
Harvest.METHOD = ctrl_c_first
sys.exit(main(sys.argv[1:]))
"""

#: Ctrl-C once the fetching has ended, the store still open (as the run records how its
#: walk ended: ``Harvest._record_stop``).
CTRL_C_AS_THE_STORE_CLOSES = checked(CTRL_C_AT.replace("METHOD", "_record_stop"))

#: Ctrl-C as the run writes index.csv (``Harvest._write_index``).
CTRL_C_AT_THE_INDEX = checked(CTRL_C_AT.replace("METHOD", "_write_index"))


def index_ids(out: Path) -> list[int]:
    """The image ids of DIR's index.csv (it must exist)."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return [int(row["image_id"]) for row in csv.DictReader(handle)]


def test_a_run_interrupted_as_its_store_closes_still_counts_its_hard_links(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The demo plate's 8 images are one fileset: one file, 7 hard links to it. Ctrl-C as
    the store closes: exit 130, every image's file kept, and the summary still says the 7
    links (it said nothing of them), and index.csv lists the 8 images."""
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
    assert len(index_ids(out)) == 8 and f"index: {out / 'index.csv'} (8 rows)" in done.stdout


def test_a_ctrl_c_just_before_the_index_write_still_writes_it(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Ctrl-C after the store closed, as index.csv is about to be written: exit 130 with
    the resume line, and index.csv lists the plate's 8 images (the stop cancelled the
    write: a first run left no index.csv, and its summary named none)."""
    out = tmp_path / "out"
    args = ["--base-url", emulator.base_url, "--plate", str(c.DEMO_PLATE_ID)]
    args += ["--artifacts", "thumbnail", "--out", str(out), "--rate", "none"]
    done = subprocess.run(
        [sys.executable, "-c", CTRL_C_AT_THE_INDEX, "harvest", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=cli_env(), timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert "interrupted: every finished file is kept and journaled" in done.stderr
    assert len(index_ids(out)) == 8, done.stdout
    assert f"index: {out / 'index.csv'} (8 rows)" in done.stdout, done.stdout

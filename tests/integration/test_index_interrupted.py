"""An interrupted ``harvester index`` says what it kept and the command to run again.

It printed ``interrupted`` alone: nothing said whether ``index.csv`` was left as it was or
already replaced, nor what to type (a harvest and a plan say both). The real command line
in a subprocess, Ctrl-C (SIGINT, sent by the process to itself at a chosen point) before
and after ``index.csv`` is written, into a folder harvested from the emulator.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from child_scripts import checked
from harvest_helpers import cli_env, run_cli, temp_files
from label_keys_helpers import GENE, harvest, labels

from harvester.emulator import EmulatorThread

#: ``harvester ARGV[2:]`` that sends itself SIGINT (Ctrl-C) at the point argv[1] names:
#: ``lock`` as its index write is about to take DIR's index lock (nothing written yet),
#: ``written`` right after ``index.csv`` was written (its other tables and records not).
INTERRUPTED_AT = checked("""
import os, signal, sys
import harvester.index as index
from harvester.cli import main
at = sys.argv[1]
real_lock, real_table = index.index_lock, index.write_table
def at_lock(*args, **kwargs):
    if at == "lock":
        os.kill(os.getpid(), signal.SIGINT)
    return real_lock(*args, **kwargs)
def at_table(out_dir, target, *args, **kwargs):
    real_table(out_dir, target, *args, **kwargs)
    if at == "written" and target.name == "index.csv":
        os.kill(os.getpid(), signal.SIGINT)
index.index_lock, index.write_table = at_lock, at_table
sys.exit(main(sys.argv[2:]))
""")


def interrupted_at(at: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` sent Ctrl-C at ``at`` (see :data:`INTERRUPTED_AT`)."""
    return subprocess.run(
        [sys.executable, "-c", INTERRUPTED_AT, at, *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=cli_env(), timeout=120,
        check=False,
    )  # fmt: skip


def again_words(line: str) -> list[str]:
    """The words of the command after ``run again: `` in ``line``, without ``harvester``."""
    words = shlex.split(line.partition("run again: ")[2])
    assert words[0] == "harvester", line
    return words[1:]


def test_index_interrupted_before_its_write_says_nothing_changed_and_what_to_run(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Ctrl-C before index.csv is written: exit 130, one line saying index.csv is as it was
    and the command to run again, which then writes the labelled index."""
    out = tmp_path / "d i"
    harvest(emulator, out)
    before = (out / "index.csv").read_bytes()
    args = ["index", str(out), "--label-key", GENE]
    done = interrupted_at("lock", *args)
    assert done.returncode == 130, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "interrupted: index.csv not rewritten (it is as it was; no harvested file or journal "
        f"was changed); run again: harvester {shlex.join(args)}"
    ]
    assert (out / "index.csv").read_bytes() == before
    assert not (out / "label_keys.json").exists()
    assert temp_files(out) == []
    again = run_cli(*again_words(done.stderr))
    assert again.returncode == 0, again.stderr
    assert any(labels(out).values())


def test_index_interrupted_after_its_write_names_what_was_written(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Ctrl-C right after index.csv is written: exit 130, the line names index.csv as
    written and says what may be undone (the label keys not recorded); the command it
    gives, run again, records them."""
    out = tmp_path / "d"
    harvest(emulator, out)
    args = ["index", str(out), "--label-key", GENE]
    done = interrupted_at("written", *args)
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "interrupted after index.csv was written: what follows (the other tables, the label "
        "keys' record, a plan's note) may be undone; run again: "
        f"harvester {shlex.join(args)}"
    ]
    assert any(labels(out).values())  # the new index.csv, whole
    assert not (out / "label_keys.json").exists()
    assert temp_files(out) == []
    again = run_cli(*again_words(done.stderr))
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "label_keys.json").read_bytes())["label_keys"] == [GENE]

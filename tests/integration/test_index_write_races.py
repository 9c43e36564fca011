"""Two index writes at once: ``index.csv`` ends with the split and label keys recorded last.

``harvester index DIR`` (given no split flag, it reads ``split.json``) and ``harvester index
DIR --split B`` race: the first is held, by a hook in its own process, just after it read
the recorded split, while the second runs. An index write holds DIR's index lock from that
read to its last table, so the second waits for it to finish and then writes B; before,
the first wrote its old split over B's index.csv, ``split.json`` saying B. The same for
label keys: ``harvester index DIR`` held before its write, while ``harvester index DIR
--label-key K`` writes and records K, reads the keys in its write (K); it wrote the keys it
had read before.

The real command line: the held write in a process of its own, the other in a second
process or as ``harvester ARGS`` in the test process (tests/cli_in_process.py), against a
folder harvested from the emulator over loopback sockets; every wait bounded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_scripts import checked
from harvest_helpers import SMALL_PLATE, cli_env, reaped
from harvest_helpers import run_cli as cli
from label_keys_helpers import GENE, labels, rows

from harvester.emulator import EmulatorThread

FIELDS_PLATE = 3001  # the fields preset's first plate: 12 wells x 3 fields
OLD = "train=0.5,test=0.5"
NEW = "fit=0.5,holdout=0.5"
WAIT = 60.0

#: ``harvester index`` that stops just after reading ``split.json`` (touching argv[1]) until
#: argv[2] exists (at most WAIT seconds), then goes on.
HELD_AFTER_READ = checked(f"""
import sys, time
from pathlib import Path
import harvester.select as select
from harvester.cli import main
paused, go = Path(sys.argv[1]), Path(sys.argv[2])
real = select.read_split_record
def held(out_dir):
    record = real(out_dir)
    paused.touch()
    deadline = time.monotonic() + {WAIT}
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return record
select.read_split_record = held
sys.exit(main(sys.argv[3:]))
""")

#: ``harvester index`` that stops just before its index write takes DIR's index lock
#: (touching argv[1]) until argv[2] exists (at most WAIT seconds), then goes on.
HELD_BEFORE_WRITE = checked(f"""
import sys, time
from pathlib import Path
import harvester.index as index
from harvester.cli import main
paused, go = Path(sys.argv[1]), Path(sys.argv[2])
real = index.index_lock
def held(*args, **kwargs):
    paused.touch()
    deadline = time.monotonic() + {WAIT}
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return real(*args, **kwargs)
index.index_lock = held
sys.exit(main(sys.argv[3:]))
""")

#: ``harvester index`` that stops once its index is written, just before it records the label
#: keys it was given (touching argv[1]) until argv[2] exists (at most WAIT seconds).
HELD_BEFORE_RECORD = checked(f"""
import sys, time
from pathlib import Path
import harvester.cli.hpc as hpc
from harvester.cli import main
paused, go = Path(sys.argv[1]), Path(sys.argv[2])
real = hpc._record_label_keys
def held(*args, **kwargs):
    paused.touch()
    deadline = time.monotonic() + {WAIT}
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return real(*args, **kwargs)
hpc._record_label_keys = held
sys.exit(main(sys.argv[3:]))
""")

#: ``harvester index`` that touches argv[1] when it finds a lock of DIR held (and waits).
SAYS_WHEN_WAITING = checked("""
import fcntl, sys
from pathlib import Path
import harvester.runlock as runlock
from harvester.cli import main
waiting = Path(sys.argv[1])
real = runlock.flock_exclusive
def watched(fd, wait, *, poll, stop=None):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        waiting.touch()
    real(fd, wait, poll=poll, stop=stop)
runlock.flock_exclusive = watched
sys.exit(main(sys.argv[2:]))
""")


@pytest.fixture(scope="module")
def fields_emulator() -> Iterator[EmulatorThread]:
    """The emulator with the ``fields`` preset (3 fields per well), for the whole module."""
    with EmulatorThread(preset="fields") as emu:
        yield emu


def python(script: str, *args: str) -> subprocess.Popen[str]:
    """``python -c script ARGS`` with this very package, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )


def wait_until(done: object, what: str) -> None:
    """Until ``done()`` is true, at most :data:`WAIT` seconds."""
    assert callable(done)
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, f"no {what} after {WAIT} s"
        time.sleep(0.02)


def test_index_ends_on_the_split_recorded_last(
    fields_emulator: EmulatorThread, tmp_path: Path
) -> None:
    """An index write that read split.json before ``harvester index --split B`` recorded B
    does not leave index.csv and splits.csv on the old split: both end on B."""
    out = tmp_path / "raced"
    harvested = cli(
        "harvest", "--base-url", fields_emulator.base_url, "--plate", str(FIELDS_PLATE),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), "--split", OLD,
    )  # fmt: skip
    assert harvested.returncode == 0, harvested.stderr
    paused, go, waiting = tmp_path / "paused", tmp_path / "go", tmp_path / "waiting"
    with reaped(python(HELD_AFTER_READ, str(paused), str(go), "index", str(out))) as first:
        wait_until(lambda: paused.exists() or first.poll() is not None, "pause")
        assert first.poll() is None, first.communicate(timeout=WAIT)
        second_cmd = ("index", str(out), "--split", NEW, "--split-by", "image")
        with reaped(python(SAYS_WHEN_WAITING, str(waiting), *second_cmd)) as second:
            # Waits for the held write (the fix), or ends first (without it): either way, go.
            wait_until(lambda: waiting.exists() or second.poll() is not None, "progress")
            go.touch()
            _out, err_first = first.communicate(timeout=WAIT)
            _out, err_second = second.communicate(timeout=WAIT)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    record = json.loads((out / "split.json").read_text())
    assert (record["split"], record["split_by"]) == (NEW, "image")
    found = rows(out)
    assert len(found) == 36
    assert {row["split"] for row in found} == {"fit", "holdout"}
    splits_csv = (out / "splits.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in splits_csv] == ["split", "fit", "holdout"]


def test_index_ends_on_the_label_keys_recorded_last(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``harvester index DIR`` that read the recorded keys before ``harvester index DIR
    --label-key Phenotype`` wrote and recorded them does not write index.csv with the old
    keys after it: its write reads them under the index lock."""
    out = tmp_path / "keys"
    harvested = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert harvested.returncode == 0, harvested.stderr
    assert cli("index", str(out), "--label-key", GENE).returncode == 0
    by_gene = labels(out)
    paused, go = tmp_path / "paused", tmp_path / "go"
    with reaped(python(HELD_BEFORE_WRITE, str(paused), str(go), "index", str(out))) as first:
        wait_until(lambda: paused.exists() or first.poll() is not None, "pause")
        assert first.poll() is None, first.communicate(timeout=WAIT)
        second = cli("index", str(out), "--label-key", "Phenotype")
        assert second.returncode == 0, second.stderr
        by_phenotype = labels(out)
        go.touch()
        _out, err_first = first.communicate(timeout=WAIT)
    assert first.returncode == 0, err_first
    assert by_phenotype != by_gene
    assert json.loads((out / "label_keys.json").read_text())["label_keys"] == ["Phenotype"]
    assert labels(out) == by_phenotype


def test_no_index_write_comes_between_label_keys_written_and_recorded(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``harvester index DIR`` run while ``harvester index DIR --label-key Phenotype`` has
    written its tables but not yet recorded the keys waits for the record, then writes
    Phenotype's labels; it wrote the keys recorded before (Gene Symbol) last, index.csv on
    them, label_keys.json saying Phenotype."""
    out = tmp_path / "keys"
    harvested = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert harvested.returncode == 0, harvested.stderr
    assert cli("index", str(out), "--label-key", "Phenotype").returncode == 0
    by_phenotype = labels(out)
    assert cli("index", str(out), "--label-key", GENE).returncode == 0
    assert labels(out) != by_phenotype
    paused, go, waiting = tmp_path / "paused", tmp_path / "go", tmp_path / "waiting"
    given = ("index", str(out), "--label-key", "Phenotype")
    with reaped(python(HELD_BEFORE_RECORD, str(paused), str(go), *given)) as first:
        wait_until(lambda: paused.exists() or first.poll() is not None, "pause")
        assert first.poll() is None, first.communicate(timeout=WAIT)
        with reaped(python(SAYS_WHEN_WAITING, str(waiting), "index", str(out))) as second:
            # Waits for the record (the fix), or ends first (without it): either way, go.
            wait_until(lambda: waiting.exists() or second.poll() is not None, "progress")
            go.touch()
            _out, err_first = first.communicate(timeout=WAIT)
            _out, err_second = second.communicate(timeout=WAIT)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert json.loads((out / "label_keys.json").read_text())["label_keys"] == ["Phenotype"]
    assert labels(out) == by_phenotype

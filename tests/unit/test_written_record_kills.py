"""written.json stays right when an index write is killed (kill -9) at any step.

Found by a review of the one-read written.json (0.1.22): a table's record is saved before
its rename with the fingerprint of the table it replaces; two writes killed in a row before
their renames, or one after a 0.1.21 write killed after its rename ("next"), left
harvester's own table taken for a hand edit (a false warning and an ``.edited-`` copy); the
replaced table's fingerprint stayed in written.json after the last table's write; and a
writer holding the index lock saved the record it read at its start over the record of a
writer that went on without the lock meanwhile.

The kills are real: a child process writes the table and ends with ``os._exit`` at the step.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from child_scripts import checked

from harvester import index
from harvester.errors import PROBLEMS_LOGGER

TABLE = "index.csv"
FIRST, SECOND, THIRD, FOURTH = (f"image_id\n{n}\n".encode() * n for n in (1, 2, 3, 4))
#: Tables of one size: told apart by their SHA-256 alone (no size differs).
SAME_SIZE = tuple(f"image_id\n{n}\n".encode() for n in (1, 2, 3, 4))

#: A child that writes ``DIR/index.csv`` (bytes from argv) and is killed at one step:
#: ``record`` as written.json is about to be saved (every byte of the table's temp file
#: written), ``rename`` once it is saved, the table not renamed into place, ``renamed`` once
#: it is in place (before anything else is saved).
KILLED_WRITE = checked("""
import os, sys
from pathlib import Path
from harvester import index, store

out, step, data = Path(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
real_replace, real_store = os.replace, index._store_written

def replace(src, dst, *args, **kwargs):
    if Path(dst).name == "index.csv":
        if step == "rename":
            os._exit(9)
        real_replace(src, dst, *args, **kwargs)
        if step == "renamed":
            os._exit(9)
        return
    real_replace(src, dst, *args, **kwargs)

def save(out_dir, record):
    if step == "record":
        os._exit(9)
    real_store(out_dir, record)

store.os.replace = replace
index._store_written = save
index.write_table(out, out / "index.csv", data)
os._exit(0)
""")

STEPS = ("record", "rename", "renamed")


def killed_write(out: Path, step: str, data: bytes) -> None:
    """Write ``data`` as DIR's index.csv in a child process killed at ``step``."""
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(out), step, data.decode()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 9, proc.stderr


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]


def edited_copies(out: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(out.glob("index.edited-*.csv"))]


@pytest.mark.parametrize(
    ("first", "second", "tables"),
    [(first, second, (FIRST, SECOND, THIRD, FOURTH)) for first in STEPS for second in STEPS]
    + [(first, "rename", SAME_SIZE) for first in STEPS],
)
def test_two_writes_killed_in_a_row_leave_no_false_hand_edit(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    first: str,
    second: str,
    tables: tuple[bytes, ...],
) -> None:
    """A write killed at any step, then another killed at any step: the next write keeps no
    copy and warns nothing (harvester's own table is there), and its record then tells the
    table as harvester's; tables of one size alike."""
    caplog.set_level(logging.WARNING)
    index.write_table(tmp_path, tmp_path / TABLE, tables[0])
    killed_write(tmp_path, first, tables[1])
    killed_write(tmp_path, second, tables[2])
    assert index.write_table(tmp_path, tmp_path / TABLE, tables[3]) is None
    assert (edited_copies(tmp_path), problems(caplog)) == ([], [])
    assert (tmp_path / TABLE).read_bytes() == tables[3]
    assert not index.changed_by_hand(tmp_path, tmp_path / TABLE)


@pytest.mark.parametrize("step", STEPS)
def test_a_hand_edit_before_a_killed_write_is_still_kept_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    """An index.csv edited by hand, then a write killed at any step: the edit is kept as an
    .edited copy and the next write (or the killed one, before its kill) says so; none is
    taken for harvester's."""
    caplog.set_level(logging.WARNING)
    index.write_table(tmp_path, tmp_path / TABLE, FIRST)
    edited = FIRST + b"my own row\n"
    (tmp_path / TABLE).write_bytes(edited)
    killed_write(tmp_path, step, SECOND)
    index.write_table(tmp_path, tmp_path / TABLE, THIRD)
    assert edited in edited_copies(tmp_path)
    if step != "renamed":  # (killed after its rename, the write had kept it, not said it)
        assert any("had been changed since harvester wrote it" in p for p in problems(caplog))
    assert not index.changed_by_hand(tmp_path, tmp_path / TABLE)


@pytest.mark.parametrize("step", STEPS)
def test_a_0_1_21_write_killed_after_its_rename_then_a_killed_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, step: str
) -> None:
    """A folder as 0.1.21 left it killed just after its rename (the old table's record with
    "next", the new table in place), then a write killed at any step: the next write takes
    nothing for a hand edit."""
    caplog.set_level(logging.WARNING)
    index.write_table(tmp_path, tmp_path / TABLE, FIRST)
    record = json.loads((tmp_path / "written.json").read_text())
    record[TABLE][index.NEXT_KEY] = {
        "size": len(SECOND),
        "sha256": hashlib.sha256(SECOND).hexdigest(),
    }
    (tmp_path / "written.json").write_text(json.dumps(record))
    (tmp_path / TABLE).write_bytes(SECOND)
    killed_write(tmp_path, step, THIRD)
    index.write_table(tmp_path, tmp_path / TABLE, FOURTH)
    assert (edited_copies(tmp_path), problems(caplog)) == ([], [])


def test_a_complete_write_keeps_no_replaced_fingerprint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Once a table is in place, written.json no longer holds the one it replaced: a copy of
    that older table put back by hand is kept and said at the next write (it was taken
    for harvester's own after a write of that one table, or of the last of several)."""
    caplog.set_level(logging.WARNING)
    index.write_table(tmp_path, tmp_path / TABLE, FIRST)
    index.write_table(tmp_path, tmp_path / TABLE, SECOND)
    assert index.PREVIOUS_KEY not in json.loads((tmp_path / "written.json").read_text())[TABLE]
    (tmp_path / TABLE).write_bytes(FIRST)
    index.write_table(tmp_path, tmp_path / TABLE, THIRD)
    assert edited_copies(tmp_path) == [FIRST]
    assert len(problems(caplog)) == 1


def test_a_lock_holder_keeps_the_record_of_a_writer_without_the_lock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index write holding the index lock (its index.csv written, labels.csv to come)
    while another writer, tired of waiting for the lock, writes index.csv without it: the
    record left tells the other's index.csv as harvester's (the holder saved the record
    it had read at its start over the other's, and the next write kept harvester's own
    index.csv as a hand edit, with a warning)."""
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(index, "INDEX_LOCK_WAIT", 0.2)
    index.write_table(tmp_path, tmp_path / TABLE, FIRST)
    failed: list[BaseException] = []

    def other_writer() -> None:
        try:
            index.write_table(tmp_path, tmp_path / TABLE, THIRD)
        except BaseException as exc:  # handed to the test thread
            failed.append(exc)

    with index.index_lock(tmp_path) as held:
        assert held
        index.write_table(tmp_path, tmp_path / TABLE, SECOND)
        other = threading.Thread(target=other_writer)
        other.start()
        other.join(30)
        assert not other.is_alive() and not failed, failed
        index.write_table(tmp_path, tmp_path / "labels.csv", b"label,label_id\n")
    assert (tmp_path / TABLE).read_bytes() == THIRD
    assert not index.changed_by_hand(tmp_path, tmp_path / TABLE)
    assert not index.changed_by_hand(tmp_path, tmp_path / "labels.csv")
    index.write_table(tmp_path, tmp_path / TABLE, FOURTH)
    assert (edited_copies(tmp_path), problems(caplog)) == ([], [])

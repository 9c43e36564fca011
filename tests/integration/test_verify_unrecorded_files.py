"""verify and the files of ``images/`` that no journal records.

With every journal gone verify says nothing could be checked. With one journal of several
removed, or a line of one (a hand edit, a bad merge of two folders), it said "0 damaged,
0 missing", exit 0, while ``status`` counted those files pending and the next resume
fetched them again: the check of the folder missed what the resume then did. Now verify
names them in a note. Every command runs as its own process against an emulator over real
sockets.
"""

from __future__ import annotations

import json
from pathlib import Path

from harvest_helpers import run_cli as cli
from harvest_helpers import run_lock_held, status_json

from harvester.emulator import EmulatorThread

#: Plate 7375 of the demo preset: 8 images.
PLATE = "7375"


def harvested(out: Path, emulator: EmulatorThread) -> None:
    """The thumbnails of plate 7375 harvested into ``out`` (exit 0)."""
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--artifacts",
        "thumbnail", "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def drop_done_line(out: Path) -> str:
    """Remove the done line of one thumbnail from its journal; that thumbnail's path."""
    (journal,) = (out / "journals").glob("*.jsonl")
    lines = journal.read_text().splitlines(keepends=True)
    index, rec = next(
        (i, rec)
        for i, line in enumerate(lines)
        if (rec := json.loads(line)).get("rec") == "done" and rec.get("kind") == "thumbnail"
    )
    del lines[index]
    journal.write_text("".join(lines))
    return str(rec["path"])


def test_a_file_no_journal_line_records_is_named_by_verify(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A thumbnail's done line removed: verify names its file as recorded by no journal
    (exit 0: nothing recorded is bad), status counts it pending, the resume fetches that one
    thumbnail only, and verify then says nothing more of it."""
    out = tmp_path / "out"
    harvested(out, emulator)
    rel = drop_done_line(out)

    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ", 0 damaged, 0 missing" in verified.stdout, verified.stdout
    checked = json.loads(cli("verify", str(out), "--json").stdout)
    assert checked["unrecorded"] == 1 and checked["unrecorded_samples"] == [rel]
    assert (
        f"note: 1 file in images/ that no journal records (a journal, or lines of one, "
        f"removed?): {rel}; it was not checked, and a harvest that asks for it fetches it again"
    ) in verified.stdout.splitlines(), verified.stdout
    assert status_json(out)["kinds"]["thumbnail"]["pending"] == 1

    emulator.reset_stats()
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    thumbnails = {
        route: counts
        for route, counts in emulator.stats()["by_route"].items()
        if "thumbnail" in route
    }
    assert sum(sum(counts.values()) for counts in thumbnails.values()) == 1, thumbnails
    again = cli("verify", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no journal records" not in again.stdout, again.stdout
    assert f"checked {checked['checked'] + 1} files " in again.stdout, again.stdout


def test_no_unrecorded_note_while_a_harvest_runs(tmp_path: Path, emulator: EmulatorThread) -> None:
    """A running harvest renames its files into place just before journaling them: while a
    run lock is held verify does not count unrecorded files (no false note)."""
    out = tmp_path / "out"
    harvested(out, emulator)
    drop_done_line(out)
    with run_lock_held(out, None):
        verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "no journal records" not in verified.stdout, verified.stdout

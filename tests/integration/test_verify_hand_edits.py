"""verify after a folder was edited by hand: files no journal records, files put back.

With every journal gone verify says nothing could be checked. With one journal of several
removed, or a line of one (a hand edit, a bad merge of two folders), it said "0 damaged,
0 missing", exit 0, while ``status`` counted those files pending and the next resume
fetched them again: now verify names them in a note. A file verify marked bad and then
restored from a backup was listed as "awaiting refetch" with its old reason ("missing:
file does not exist") by every verify, exit 1, and the resume fetched it again: now verify
finds it whole and journals it done again. Every command runs as ``harvester ARGS`` (in
the test process, tests/cli_in_process.py) against an emulator over real sockets.
"""

from __future__ import annotations

import json
from pathlib import Path

from harvest_helpers import run_cli as cli
from harvest_helpers import run_lock_held, status_json

from harvester.config import damaged_run_configs
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState, SavedConfigs
from harvester.verify import VerifyReport, _check_unrecorded

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


def test_files_a_harvest_journaled_after_verify_read_the_journals_are_not_noted(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A harvest that starts and ends after verify read the journals but before it listed
    images/ (here: journals read, then a resume journals the thumbnail whose line was
    removed): its file is found recorded on a second look, no "no journal records" note."""
    out = tmp_path / "out"
    harvested(out, emulator)
    drop_done_line(out)
    read_before = JournalState.load(out)
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    report = VerifyReport()
    _check_unrecorded(out, read_before, report)
    assert report.unrecorded == 0 and report.notes == [], report.notes


def test_files_restored_after_verify_marked_them_are_not_fetched_again(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """verify marks a deleted and a cut thumbnail; both put back from a backup, the next
    verify says so (exit 0, no longer awaiting refetch), status counts nothing invalid or
    pending and no verify writer, and the resume asks for no thumbnail."""
    out = tmp_path / "out"
    harvested(out, emulator)
    deleted, cut = sorted((out / "images").rglob("*.thumbnail.jpg"))[:2]
    backup = {path: path.read_bytes() for path in (deleted, cut)}
    deleted.unlink()
    cut.write_bytes(backup[cut][:100])
    marked = cli("verify", str(out))
    assert marked.returncode == 1, marked.stdout + marked.stderr
    assert ", 1 damaged, 1 missing" in marked.stdout, marked.stdout
    for path, data in backup.items():
        path.write_bytes(data)

    verified = cli("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for path in (deleted, cut):
        rel = path.relative_to(out)
        assert (
            f"restored: {rel} (thumbnail {path.name.split('.')[0]}): whole again (size and "
            "SHA-256 as first recorded, decodes): no longer awaiting refetch"
        ) in verified.stdout.splitlines(), verified.stdout
    assert "awaiting refetch by harvest" not in verified.stdout, verified.stdout
    status = status_json(out)
    assert status["totals"]["invalid"] == 0 and status["kinds"]["thumbnail"]["pending"] == 0
    assert [w["done"] for w in status["writers"]] == [8], status["writers"]
    again = cli("verify", str(out))
    assert again.returncode == 0 and "restored" not in again.stdout, again.stdout

    emulator.reset_stats()
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    routes = emulator.stats()["by_route"]
    assert not [route for route in routes if "thumbnail" in route], routes
    assert all(path.read_bytes() == data for path, data in backup.items())


def test_a_file_restored_wrong_stays_awaiting_refetch(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A marked thumbnail "restored" with another image's bytes is not whole: verify keeps
    it awaiting refetch (exit 1) and the resume fetches exactly that one."""
    out = tmp_path / "out"
    harvested(out, emulator)
    first, other = sorted((out / "images").rglob("*.thumbnail.jpg"))[:2]
    first.unlink()
    assert cli("verify", str(out)).returncode == 1
    first.write_bytes(other.read_bytes())

    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"awaiting refetch: {first.relative_to(out)} " in verified.stdout, verified.stdout
    assert "restored:" not in verified.stdout, verified.stdout
    emulator.reset_stats()
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    thumbnails = [c for r, c in emulator.stats()["by_route"].items() if "thumbnail" in r]
    assert sum(sum(c.values()) for c in thumbnails) == 1, thumbnails
    assert cli("verify", str(out)).returncode == 0


def test_a_run_config_saved_while_status_reads_is_not_called_damaged(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run starting while ``status`` reads DIR saves its config.json between two of
    status's asks: the first finds no file, the second (is it damaged?) finds it whole.
    That file was said to be damaged, with the advice to remove the live run's folder."""
    out = tmp_path / "out"
    harvested(out, emulator)
    (config,) = (out / "runs").glob("*/config.json")
    saved = SavedConfigs()
    aside = config.with_name("aside")
    config.rename(aside)
    assert saved.read(config) is None  # not saved yet
    aside.rename(config)  # saved now, whole (a run writes it in one rename)
    assert damaged_run_configs(out, saved) == []
    assert isinstance(saved.read(config), dict)
    said = cli("status", str(out))
    assert said.returncode == 0 and "damaged" not in said.stdout + said.stderr, said.stderr


def test_a_damaged_run_config_is_said_with_the_command_that_resumes_its_targets(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Two target sets, one run's config.json cut short: the resume left that set out
    without a word. status, verify and the resume now name the file and the command its
    journal gives; that command, then the run's folder removed, leave no note."""
    out = tmp_path / "out"
    where = ["--base-url", emulator.base_url, "--out", str(out), "--rate", "none", "-q"]
    first = cli("harvest", "--image", "9762957", "--artifacts", "thumbnail", *where)
    assert first.returncode == 0, first.stderr
    second = cli("harvest", "--plate", PLATE, "--artifacts", "imgdata", *where)
    assert second.returncode == 0, second.stderr
    config = next(p for p in (out / "runs").glob("*/config.json") if "imgdata" in p.read_text())
    config.write_text("{")  # the --plate run's
    damaged = config.parent.name
    command = (
        f"harvester harvest --out {out} --plate {PLATE} --artifacts imgdata --base-url "
        f"{emulator.base_url}"
    )
    said = (
        f"runs/{damaged}/config.json is damaged (not a JSON object): harvester harvest --out "
        f"{out} resumes nothing from it; unless another run names its targets (--plate "
        f"{PLATE}), give them again: {command}; then remove runs/{damaged}/ (nothing in it "
        "can be read)"
    )

    status = cli("status", str(out))
    assert status.returncode == 0 and f"note: {said}" in status.stdout, status.stdout
    verified = cli("verify", str(out))
    assert f"note: {said}" in verified.stdout.splitlines(), verified.stdout
    resumed = cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert f"WARNING harvester.problems: {said}" in resumed.stderr.splitlines(), resumed.stderr

    again = cli(*command.split()[1:])
    assert again.returncode == 0, again.stderr
    for path in (out / "runs" / damaged).iterdir():
        path.unlink()
    (out / "runs" / damaged).rmdir()
    assert "is damaged" not in cli("status", str(out)).stdout
    assert "is damaged" not in cli("harvest", "--out", str(out)).stderr


def test_no_restore_while_a_harvest_runs(tmp_path: Path, emulator: EmulatorThread) -> None:
    """A marked thumbnail put back while a run lock is held stays awaiting refetch (exit 1):
    the running harvest may be writing it again; once it has ended verify restores it."""
    out = tmp_path / "out"
    harvested(out, emulator)
    path = sorted((out / "images").rglob("*.thumbnail.jpg"))[0]
    data = path.read_bytes()
    path.unlink()
    assert cli("verify", str(out)).returncode == 1
    path.write_bytes(data)
    with run_lock_held(out, None):
        held = cli("verify", str(out))
    assert held.returncode == 1 and "restored:" not in held.stdout, held.stdout
    assert f"awaiting refetch: {path.relative_to(out)} " in held.stdout, held.stdout
    after = cli("verify", str(out))
    assert after.returncode == 0 and "restored: " in after.stdout, after.stdout

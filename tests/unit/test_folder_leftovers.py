"""What a damaged folder leaves behind, said in words a user can act on (damage walk-through).

* A folder where an artifact file goes: the harvest stops (a storage error, as every commit
  error is) naming that file relative to DIR, keeps everything journaled, leaves no temp file.
* A journal line of NUL bytes (a crash on some filesystems) is still skipped, and its record
  done again by a rerun, but ``verify`` and ``status`` say, naming the journal, how many
  damaged lines were skipped.
* A journal copied under another name is not a phantom writer in ``status``: its records count
  once, as the writer's they are, and a note names the file.
* A temp file no pending file lists (the pending file was lost): ``verify`` counts and names
  them; those whose writer provably ended (this host, pid gone) are handed over to the next
  harvest, which removes them; others (another host, a live pid) are never removed, and the
  note gives the command to run when no harvest is running.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from PIL import Image

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.layout import host_component, image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.status import collect_status
from harvester.store import PendingFile, Store, writer_pid_here
from harvester.verify import verify

KNOWN = 1884801  # an image of the demo preset's project 51 (8 images)


def harvest(emulator: EmulatorThread, out: Path, artifacts: str) -> int:
    return main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--project", "51",
         "--artifacts", artifacts, "--rate", "none", "--quiet", "--no-labels"]
    )  # fmt: skip


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buf, "JPEG")
    return buf.getvalue()


def store_harvest(out: Path, ids: tuple[int, ...] = (1, 2, 3)) -> str:
    """Journal images with a thumbnail each, one record a batch; return the writer."""
    run_id = new_run_id()
    writer = make_writer(run_id)

    async def run() -> None:
        async with Store.open(out, run_id=run_id, writer=writer, batch_size=1) as store:
            for i in ids:
                if not store.state.is_done("thumbnail", i):
                    await store.record_image(ImageRef(i))
                    await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), jpeg())
                    await store.flush()

    anyio.run(run)
    return writer


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def temps(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_folder_where_a_file_goes_is_named_and_nothing_recorded_is_lost(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder where a file goes stops the run, named in an error; nothing recorded is lost."""
    out = tmp_path / "out"
    assert harvest(emulator, out, "metadata") == 0
    done = JournalState.load(out).done
    recorded = {key: rec["sha256"] for key, rec in done.items() if key[0] == "metadata"}
    assert len(recorded) == 8
    rel = image_path(KNOWN, "thumbnail")
    (out / rel).mkdir(parents=True)
    (out / rel / "notes.txt").write_text("mine")
    capsys.readouterr()

    code = harvest(emulator, out, "metadata,thumbnail")
    err = capsys.readouterr().err

    assert code == 1  # stopped mid-run by a storage problem, as a full disk is
    assert f"error: cannot write {rel}: a folder is where the file should be" in err
    assert "Is a directory" not in err
    assert "move that folder away" in err
    state = JournalState.load(out)
    assert {k: r["sha256"] for k, r in state.done.items() if k[0] == "metadata"} == recorded
    assert ("thumbnail", KNOWN) not in state.done
    assert (out / rel / "notes.txt").read_text() == "mine"  # the user's folder is untouched
    assert temps(out) == []

    (out / rel / "notes.txt").unlink()
    (out / rel).rmdir()
    assert harvest(emulator, out, "metadata,thumbnail") == 0
    assert (out / rel).is_file()
    done = JournalState.load(out).done
    assert sum(kind in ("metadata", "thumbnail") for kind, _ in done) == 16


def zero_line(journal: Path, pick: str) -> None:
    """Overwrite the first line holding ``pick`` with NUL bytes (its newline kept), as a
    crash leaves a record whose data blocks never reached the disk."""
    data = journal.read_bytes()
    start = data.index(pick.encode())
    start = data.rindex(b"\n", 0, start) + 1
    end = data.index(b"\n", start)
    journal.write_bytes(data[:start] + b"\x00" * (end - start) + data[end:])


def test_a_line_of_nul_bytes_in_a_journal_is_reported_and_recovered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A journal line of NUL bytes is a note in verify and status; a rerun records it again."""
    out = tmp_path / "out"
    writer = store_harvest(out)
    journal = out / "journals" / f"{writer}.jsonl"
    zero_line(journal, '"rec":"done","kind":"thumbnail","id":2,')
    note = (
        f"journals/{writer}.jsonl: 1 damaged line skipped (NUL bytes or not JSON, as a crash "
        f"can leave); nothing is lost once a harvest has run since (harvester harvest --out"
        f" {out} does again what it recorded)"
    )

    code, text = cli(["verify", str(out)], capsys)
    assert code == 0  # what it lost is refetched, nothing on disk is bad
    assert "2 ok, 0 damaged, 0 missing" in text
    assert f"note: {note}" in text
    assert note in verify(out, mark_invalid=False).to_dict()["notes"]
    code, text = cli(["status", str(out)], capsys)
    assert code == 0 and f"note: {note}" in text
    assert note in collect_status(out).to_dict()["notes"]

    # The recovery stands: the other records load, and a rerun records thumbnail 2 again.
    assert sorted(i for _, i in JournalState.load(out).done) == [1, 3]
    store_harvest(out)
    assert sorted(i for _, i in JournalState.load(out).done) == [1, 2, 3]


def test_damaged_lines_are_counted_once_per_journal(tmp_path: Path) -> None:
    """Two NUL lines and a garbled one in the middle: 3, said once; a garbled *last* line
    (a torn append, expected after a kill) is not damage. Loading again (the journals memo)
    counts the same."""
    out = tmp_path / "out"
    writer = store_harvest(out, (1, 2, 3, 4, 5))
    journal = out / "journals" / f"{writer}.jsonl"
    zero_line(journal, '"id":2,')
    zero_line(journal, '"id":3,')
    with journal.open("ab") as fh:
        fh.write(b'{"rec": "don\n')  # garbled, then a good line after it
        fh.write(json.dumps({"rec": "run", "run": "x", "writer": writer}).encode() + b"\n")
        fh.write(b'{"rec": "done", "ki\n')  # garbled last line: tolerated
    assert JournalState.load(out).damaged_lines == {f"{writer}.jsonl": 3}
    assert JournalState.load(out).damaged_lines == {f"{writer}.jsonl": 3}
    (note,) = [n for n in collect_status(out).notes if "damaged line" in n]
    assert note.startswith(f"journals/{writer}.jsonl: 3 damaged lines skipped")


# (a copy named before its writer's journal, and after it: then its records are the ones
# kept, tied in time, and count by their tag, not by their journal's own name)
@pytest.mark.parametrize("copy", ["foo-copy", "zzz-copy"])
def test_a_copied_journal_is_not_a_phantom_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], copy: str
) -> None:
    """A copied journal counts once, as its writer's, with a note, not as another writer."""
    out = tmp_path / "out"
    writer = store_harvest(out)
    before = collect_status(out).to_dict()
    shutil.copy(out / "journals" / f"{writer}.jsonl", out / "journals" / f"{copy}.jsonl")

    report = collect_status(out).to_dict()
    assert [w["writer"] for w in report["writers"]] == [writer]
    assert report["writers"] == before["writers"]
    assert report["totals"] == before["totals"]
    note = (
        f"journals/{copy}.jsonl is not a writer's own journal: it holds the records of writer "
        f"{writer} (a copy, or renamed?); they count once, as {writer}'s"
    )
    assert note in report["notes"]
    code, text = cli(["status", str(out)], capsys)
    assert code == 0 and f"note: {note}" in text
    assert f"{copy} (run" not in text
    assert note in verify(out, mark_invalid=False).notes


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(child.stdout)


def test_writer_names_are_probed_on_this_host_only() -> None:
    """Writer names give a pid only for this host, never for a host whose name starts with ours."""
    host = host_component()
    run = new_run_id()
    assert writer_pid_here(f"{host}-42-{run}") == 42
    assert writer_pid_here(f"{host}-42-{run}-shard-3-of-8-c1") == 42
    assert writer_pid_here(f"w-{host}-42-0a1b2c") == 42
    assert writer_pid_here(f"other{host}-42-{run}") is None
    # A host whose name starts with ours, then "-<digits>": never read as our pid.
    assert writer_pid_here(f"{host}-12-42-{run}") is None
    assert writer_pid_here(f"w-{host}-12-42-0a1b2c") is None
    assert writer_pid_here("w1") is None


@pytest.mark.parametrize("host", ["localhost", "x" * 40])
def test_a_host_name_other_machines_may_share_proves_nothing(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name cut to 40 characters, or a container's "localhost", may be another machine's
    too: its pids are not ours to probe, so its strays are never removed."""
    monkeypatch.setattr("harvester.store.host_component", lambda: host)
    assert writer_pid_here(f"{host}-42-{new_run_id()}") is None


def test_stray_temps_are_reported_and_only_ended_writers_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Strays are listed; one of an ended writer is "it", handed over, and removed next run."""
    out = tmp_path / "out"
    store_harvest(out)
    host = host_component()
    dead = f"{host}-{dead_pid()}-{new_run_id()}"
    live = make_writer(new_run_id())  # this process: alive
    other = f"elsewhere-{os.getpid()}-{new_run_id()}"
    strays = {
        w: f"{image_path(i, 'thumbnail')}.tmp-{w}" for i, w in ((1, dead), (2, live), (3, other))
    }
    for rel in strays.values():
        (out / rel).write_bytes(b"half a jpeg")
    # A live writer's announced temp is not a stray.
    announced = f"{image_path(4, 'thumbnail')}.tmp-{live}-c1"
    (out / announced).parent.mkdir(parents=True, exist_ok=True)
    pending = PendingFile(out, f"{live}-c1")
    pending.begin([announced])
    (out / announced).write_bytes(b"being written")
    try:
        code, text = cli(["status", str(out)], capsys)
        assert code == 0
        assert "note: 3 stray temporary files that no journals/*.pending lists" in text
        assert (
            f"note: 1 of them was left by a process of this host that has ended: harvester "
            f"verify {out} hands it to the next harvest, which removes it"
        ) in text
        assert "note: 2 of them stay: their writers run on another host" in text
        assert not list((out / "journals").glob("strays-*"))  # status writes nothing

        code, text = cli(["verify", str(out)], capsys)
        assert code == 0
        assert "note: 3 stray temporary files that no journals/*.pending lists" in text
        assert strays[dead] in text and announced not in text
        assert (
            "note: 1 of them was left by a process of this host that has ended: the next "
            "harvest removes it"
        ) in text
        assert "note: 2 of them stay: their writers run on another host, still run here" in text
        assert f"remove them with: find {out / 'images'} -type f -name '*.tmp-*' -delete" in text
        assert all((out / rel).exists() for rel in strays.values())  # verify removes nothing
        report = verify(out).to_dict()
        assert report["stray_temps"] == 3 and report["strays_handed_over"] == 1

        store_harvest(out)  # the next harvest
        assert not (out / strays[dead]).exists()
        assert (out / strays[live]).read_bytes() == b"half a jpeg"
        assert (out / strays[other]).read_bytes() == b"half a jpeg"
        assert (out / announced).read_bytes() == b"being written"
        code, text = cli(["verify", str(out)], capsys)
        assert "note: 2 stray temporary files" in text and "the next harvest removes" not in text
    finally:
        pending.close()


def test_a_temp_name_in_a_users_folder_under_runs_is_no_stray(tmp_path: Path) -> None:
    """`runs/notes/draft.tmp-x` (a user's folder, no run's) is neither a stray nor a run."""
    out = tmp_path / "out"
    store_harvest(out)
    notes = out / "runs" / "notes"
    notes.mkdir(parents=True)
    (notes / f"draft.tmp-{host_component()}-{dead_pid()}-{new_run_id()}").write_text("mine")
    report = verify(out)
    assert report.stray_temps == 0 and report.strays_handed_over == 0
    assert [n for n in report.notes if n.startswith("runs/notes is not a run's folder")]
    assert len(list(notes.iterdir())) == 1  # kept


def test_the_stray_removal_command_leaves_a_users_own_temp_like_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `find ... -delete` verify suggests for strays it cannot hand over, run in a shell,
    removes them (under images/, in DIR itself) and no file of the user's (runs/notes)."""
    out = tmp_path / "out dir"
    store_harvest(out)
    other = f"elsewhere-{os.getpid()}-{new_run_id()}"  # another host's writer: stays
    strays = [f"{image_path(1, 'thumbnail')}.tmp-{other}", f"index.csv.tmp-{other}"]
    for rel in strays:
        (out / rel).write_bytes(b"half")
    notes = out / "runs" / "notes"
    notes.mkdir(parents=True)
    mine = [notes / f"draft.tmp-{other}", out / "mine" / f"plot.tmp-{other}"]
    for path in mine:
        path.parent.mkdir(exist_ok=True)
        path.write_text("the user's")
    code, text = cli(["verify", str(out)], capsys)
    assert code == 0, text
    assert "note: 2 stray temporary files that no journals/*.pending lists" in text
    command = text.split("remove them with: ", 1)[1].splitlines()[0]
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not [rel for rel in strays if (out / rel).exists()]
    assert [path.read_text() for path in mine] == ["the user's", "the user's"]


def test_strays_on_a_folder_verify_cannot_write_are_reported_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stray verify cannot hand over is reported, in the singular, with how to remove it."""
    out = tmp_path / "out"
    store_harvest(out)
    dead = f"{host_component()}-{dead_pid()}-{new_run_id()}"
    rel = f"{image_path(1, 'thumbnail')}.tmp-{dead}"
    (out / rel).write_bytes(b"x")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("harvester.store.atomic_write_bytes", read_only)
    report = verify(out)
    assert report.stray_temps == 1 and report.strays_handed_over == 0
    (note,) = [n for n in report.notes if n.startswith("it stays: ")]
    assert "it could not be handed over (read-only filesystem" in note
    assert f"remove it with: find {out / 'images'} " in note  # one file: "it", never "them"
    store_harvest(out)
    assert (out / rel).exists()  # nothing handed over: nothing removed

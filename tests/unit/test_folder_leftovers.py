"""What a damaged folder leaves behind, said in words a user can act on (damage walk-through).

* A folder where an artifact file goes: the harvest stops (a storage error, as every commit
  error is) naming that file relative to DIR, keeps everything journaled, leaves no temp file.
* A journal line of NUL bytes (a crash on some filesystems) is still skipped, and its record
  done again by a rerun, but ``verify`` and ``status`` say, naming the journal, how many
  damaged lines were skipped.
* A journal copied under another name is not a phantom writer in ``status``: its records count
  once, as the writer's they are, and a note names the file.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import anyio
import pytest
from PIL import Image

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.status import collect_status
from harvester.store import Store
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
    out = tmp_path / "out"
    writer = store_harvest(out)
    journal = out / "journals" / f"{writer}.jsonl"
    zero_line(journal, '"rec":"done","kind":"thumbnail","id":2,')
    note = (
        f"journals/{writer}.jsonl: 1 damaged line skipped (NUL bytes or not JSON, as a crash "
        "can leave); a harvest does again what it recorded"
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


def test_a_copied_journal_is_not_a_phantom_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    writer = store_harvest(out)
    before = collect_status(out).to_dict()
    shutil.copy(out / "journals" / f"{writer}.jsonl", out / "journals" / "foo-copy.jsonl")

    report = collect_status(out).to_dict()
    assert [w["writer"] for w in report["writers"]] == [writer]
    assert report["writers"] == before["writers"]
    assert report["totals"] == before["totals"]
    note = (
        f"journals/foo-copy.jsonl is not a writer's own journal: it holds the records of writer "
        f"{writer} (a copy, or renamed?); they count once, as {writer}'s"
    )
    assert note in report["notes"]
    code, text = cli(["status", str(out)], capsys)
    assert code == 0 and f"note: {note}" in text
    assert "foo-copy (run" not in text
    assert note in verify(out, mark_invalid=False).notes

"""verify: size, sha256 and decoding of every done file; invalid records make a rerun refetch."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import numpy as np
import pytest
import tifffile
from PIL import Image

from harvester.errors import UsageError
from harvester.journal import JournalState
from harvester.layout import image_path, make_writer, new_run_id
from harvester.status import collect_status
from harvester.store import Store
from harvester.verify import verify


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def tiff() -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8))
    return buf.getvalue()


async def harvest(out: Path, only: set[tuple[str, int]] | None = None) -> int:
    """Store a sample of every kind; return how many puts were made (skipping done ones)."""
    files = {
        ("thumbnail", 1): (image_path(1, "thumbnail"), jpeg()),
        ("render", 1): (image_path(1, "render", ext="png"), png()),
        ("imgdata", 1): (image_path(1, "imgdata"), json.dumps({"id": 1}).encode()),
        ("stack", 1): (image_path(1, "stack"), tiff()),
        ("thumbnail", 2): (image_path(2, "thumbnail"), jpeg()),
    }
    run = new_run_id()
    puts = 0
    async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
        for (kind, i), (rel, data) in files.items():
            if not store.state.is_done(kind, i):
                await store.put_bytes(kind, i, rel, data)
                puts += 1
        if not store.state.is_done("plate", 9):
            await store.put_study("plate", 9, {"plate.json": b"{}", "wells.json": b"[]"})
            puts += 1
    return puts


def test_clean_harvest_verifies_ok_and_writes_no_journal(tmp_path: Path) -> None:
    """Every file of an intact harvest checks out; nothing is marked invalid."""
    anyio.run(harvest, tmp_path)
    report = verify(tmp_path)
    assert report.checked == 7 and report.ok == 7 and not report.problems
    assert report.journal is None
    assert "7 ok, 0 damaged, 0 missing" in report.format_text()


def test_flipped_byte_and_deleted_file_are_reported_and_refetched(tmp_path: Path) -> None:
    """A flipped byte and a deleted file are reported, marked invalid, then refetched alone."""
    anyio.run(harvest, tmp_path)
    state = JournalState.load(tmp_path)
    damaged = tmp_path / state.done[("thumbnail", 1)]["path"]
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    damaged.write_bytes(bytes(raw))
    (tmp_path / state.done[("stack", 1)]["path"]).unlink()
    (tmp_path / "study" / "plate-9" / "wells.json").write_bytes(b"[1]")
    report = verify(tmp_path)
    got = {(p.kind, p.id, p.status) for p in report.problems}
    assert got == {("thumbnail", 1, "damaged"), ("stack", 1, "missing"), ("plate", 9, "damaged")}
    assert report.journal and report.journal.startswith("journals/verify-")
    after = JournalState.load(tmp_path)
    assert not after.is_done("thumbnail", 1) and not after.is_done("stack", 1)
    assert after.is_done("thumbnail", 2) and after.is_done("render", 1)
    assert anyio.run(harvest, tmp_path) == 3
    final = verify(tmp_path)
    assert not final.problems and final.ok == 7


def test_status_counts_invalid_marks_only_until_the_refetch(tmp_path: Path) -> None:
    """A file verify marked bad is counted by status as awaiting the next harvest; once
    that harvest has fetched it again, status says nothing of it (it said the folder held
    a file marked invalid for good, found by a first-time user's walkthrough)."""
    anyio.run(harvest, tmp_path)
    state = JournalState.load(tmp_path)
    (tmp_path / state.done[("thumbnail", 1)]["path"]).unlink()
    verify(tmp_path)
    before = collect_status(tmp_path)
    assert before.to_dict()["totals"]["invalid"] == 1
    assert (
        "1 file marked invalid (by verify or the next run's check of an interrupted run), "
        "awaiting refetch by harvest"
    ) in before.format_text().splitlines()
    assert anyio.run(harvest, tmp_path) == 1
    after = collect_status(tmp_path)
    assert after.to_dict()["totals"]["invalid"] == 0
    assert "marked invalid" not in after.format_text()


def test_size_mismatch_and_undecodable_files_are_damaged(tmp_path: Path) -> None:
    """A truncated file is damaged by size; a file matching its hash but not decodable too."""
    out = tmp_path
    bad_json = b"{not json"
    bad_jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 20

    async def put() -> None:
        run = new_run_id()
        async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
            await store.put_bytes("metadata", 3, image_path(3, "metadata"), bad_json)
            await store.put_bytes("thumbnail", 3, image_path(3, "thumbnail"), bad_jpeg)
            await store.put_bytes("imgdata", 3, image_path(3, "imgdata"), b'{"ok": 1}')

    anyio.run(put)
    (out / image_path(3, "imgdata")).write_bytes(b'{"ok"')
    reasons = {p.kind: p.reason for p in verify(out, mark_invalid=False).problems}
    assert reasons["imgdata"].startswith("size 5 bytes, journal says 9")
    assert reasons["metadata"].startswith("does not decode")
    assert reasons["thumbnail"].startswith("does not decode")
    assert len(JournalState.load(out).done) == 3  # mark_invalid=False leaves the journals alone


def test_verify_refuses_a_folder_that_is_not_a_harvest(tmp_path: Path) -> None:
    """verify on a random folder is a clear usage error."""
    with pytest.raises(UsageError):
        verify(tmp_path)


def test_unreadable_path_is_damaged_not_a_crash(tmp_path: Path) -> None:
    """A folder where a file should be is reported as damaged instead of stopping verify."""

    async def put() -> None:
        run = new_run_id()
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await store.put_bytes("imgdata", 4, image_path(4, "imgdata"), b"{}")

    anyio.run(put)
    target = tmp_path / image_path(4, "imgdata")
    target.unlink()
    target.mkdir()
    (problem,) = verify(tmp_path).problems
    assert problem.status == "damaged" and problem.kind == "imgdata"


def test_second_verify_still_reports_files_awaiting_refetch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second verify before any harvest reports the marked files and exits 1; after it, 0."""
    from harvester.cli import main

    anyio.run(harvest, tmp_path)
    state = JournalState.load(tmp_path)
    (tmp_path / state.done[("thumbnail", 1)]["path"]).write_bytes(b"not a jpeg")
    assert main(["verify", str(tmp_path)]) == 1
    assert "1 damaged" in capsys.readouterr().out
    again = verify(tmp_path)
    assert not again.problems
    assert [(p.kind, p.id) for p in again.awaiting] == [("thumbnail", 1)]
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "1 marked damaged, awaiting refetch by harvest" in out
    assert anyio.run(harvest, tmp_path) == 1
    assert main(["verify", str(tmp_path)]) == 0
    assert "awaiting" not in capsys.readouterr().out


def test_a_mark_of_a_file_recorded_by_a_host_ahead_holds_until_the_refetch(
    tmp_path: Path,
) -> None:
    """Files recorded by a host whose clock ran 10 minutes ahead (a folder copied from a
    cluster, say): verify's mark of a deleted one still makes the next harvest fetch it,
    and that fetch stays done."""
    anyio.run(harvest, tmp_path)
    for path in (tmp_path / "journals").glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for rec in records:
            if isinstance(rec.get("t"), float):
                rec["t"] += 600.0
        path.write_text("".join(json.dumps(rec) + "\n" for rec in records))
    (tmp_path / JournalState.load(tmp_path).done[("thumbnail", 2)]["path"]).unlink()
    report = verify(tmp_path)
    assert [(p.kind, p.id, p.status) for p in report.problems] == [("thumbnail", 2, "missing")]
    assert not JournalState.load(tmp_path).is_done("thumbnail", 2)
    assert anyio.run(harvest, tmp_path) == 1
    assert JournalState.load(tmp_path).is_done("thumbnail", 2)
    final = verify(tmp_path)
    assert not final.problems and final.ok == 7

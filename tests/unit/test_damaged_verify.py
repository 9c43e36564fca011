"""verify on a folder damaged the ways real life damages one (found by a damage walk-through).

A user runs ``verify`` exactly when a folder looks wrong, so it must say what is wrong in terms
they can act on, keep its list of bad files when the folder cannot be written, and not answer
"0 ok" (exit 0) or "choose another --out folder" for a folder whose journals or marker are hurt.
"""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from harvester.cli import main
from harvester.errors import UsageError
from harvester.journal import JournalState
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.store import Store
from harvester.verify import verify


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buf, "JPEG")
    return buf.getvalue()


def harvest(out: Path, ids: tuple[int, ...] = (1, 2)) -> None:
    """Journal images with a thumbnail and imgdata each, as a harvest leaves them."""

    async def run() -> None:
        run_id = new_run_id()
        async with Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store:
            for i in ids:
                await store.record_image(ImageRef(i))
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), jpeg())
                await store.put_bytes("imgdata", i, image_path(i, "imgdata"), b'{"id": 1}')

    anyio.run(run)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_folder_in_place_of_a_file_is_named_as_such(tmp_path: Path) -> None:
    """Not "size 4096 bytes, journal says N": the user must remove the folder by hand, since a
    harvest cannot rename a file over it."""
    harvest(tmp_path)
    target = tmp_path / image_path(1, "thumbnail")
    target.unlink()
    target.mkdir()
    (problem,) = verify(tmp_path, mark_invalid=False).problems
    assert problem.status == "damaged"
    assert problem.reason.startswith("a folder is where the file should be")


def test_read_only_folder_still_lists_the_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only mount verify cannot journal its marks; it used to stop with
    "error: read-only filesystem: cannot write the verify journal" (exit 2) and never said
    which file was bad. Now: the list, a line saying nothing was marked, exit 1."""
    harvest(tmp_path)
    (tmp_path / image_path(2, "imgdata")).unlink()

    class ReadOnlyJournal:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("harvester.verify.Journal", ReadOnlyJournal)
    code, out = run_cli(["verify", str(tmp_path)], capsys)
    assert code == 1
    assert f"missing: {image_path(2, 'imgdata')}" in out
    assert "not marked for refetch (read-only filesystem" in out
    # The last line does not promise what a harvest cannot do yet (nothing was marked).
    last = out.strip().splitlines()[-1]
    assert last.startswith("1 damaged or missing files, not marked (read-only filesystem")
    assert "run the same harvest again" not in out
    assert JournalState.load(tmp_path).is_done("imgdata", 2)  # nothing was journaled
    report = verify(tmp_path)
    assert report.unmarked is not None and report.journal is None
    assert report.to_dict()["unmarked"] == report.unmarked


@pytest.mark.parametrize("marker", [b"", b'{"tool": "harvester", "lay', b"\x00" * 64])
def test_damaged_marker_does_not_stop_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], marker: bytes
) -> None:
    """A harvest.json cut short or zeroed (a crash, a full disk) in a folder with journals was
    refused as "not written by harvester; choose another --out folder". verify now checks
    the files anyway and says what to do about the marker."""
    harvest(tmp_path)
    (tmp_path / "harvest.json").write_bytes(marker)
    code, out = run_cli(["verify", str(tmp_path)], capsys)
    assert code == 0
    assert "4 ok, 0 damaged, 0 missing" in out
    marker_path = tmp_path / "harvest.json"
    assert f"note: {marker_path} is damaged (not a JSON object, {len(marker)} bytes)" in out
    assert f"A harvest refuses this folder: remove {marker_path} and run the harvest again" in out


def test_foreign_or_newer_marker_is_still_refused(tmp_path: Path) -> None:
    """Only a marker that does not parse is tolerated: another tool's is not ours to read,
    and a newer layout may mean something else."""
    harvest(tmp_path)
    (tmp_path / "harvest.json").write_text(json.dumps({"tool": "other"}))
    with pytest.raises(UsageError, match="not written by harvester"):
        verify(tmp_path)
    (tmp_path / "harvest.json").write_text(json.dumps({"tool": "harvester", "layout": 99}))
    with pytest.raises(UsageError, match="layout version 99"):
        verify(tmp_path)


def test_deleted_journals_are_not_reported_as_all_ok(tmp_path: Path) -> None:
    """With journals/ gone verify checked nothing and printed "0 ok, 0 damaged, 0 missing":
    it now says that images/ holds files no journal records, and what a harvest would do."""
    harvest(tmp_path)
    for journal in (tmp_path / "journals").iterdir():
        journal.unlink()
    report = verify(tmp_path)
    assert report.checked == 0 and not report.problems
    (note,) = report.notes
    assert "no journal records any file, yet images/ holds files" in note
    assert "fetch everything again" in note
    assert "note: no journal records any file" in report.format_text()
    assert report.unjournaled_files and report.to_dict()["unjournaled_files"] is True
    assert main(["verify", str(tmp_path)]) == 1  # nothing could be checked: not a clean bill


def test_index_of_a_folder_with_a_damaged_marker_is_written_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester index` read the journals fine but refused the folder as "not written by
    harvester" when harvest.json was cut short; it now writes the index and says why the
    marker matters (status and verify already did)."""
    harvest(tmp_path)
    (tmp_path / "harvest.json").write_bytes(b'{"tool": "harvester", "lay')
    code, out = run_cli(["index", str(tmp_path)], capsys)
    assert code == 0
    assert f"wrote {tmp_path / 'index.csv'} (2 images)" in out
    assert f"note: {tmp_path / 'harvest.json'} is damaged (not a JSON object, 26 bytes)" in out


def test_missing_or_foreign_index_is_noted_until_rebuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """index.csv is what most users read; verify says when it is gone or not ours, and how to
    get it back, and says nothing once ``harvester index`` has rebuilt it."""
    harvest(tmp_path)
    report = verify(tmp_path)
    assert report.notes == [f"index.csv is missing: rebuild it with harvester index {tmp_path}"]
    (tmp_path / "index.csv").write_bytes(b"\x00\x00garbage\n")
    (note,) = verify(tmp_path).notes
    assert note.startswith("index.csv is not an index harvester wrote")
    assert main(["index", str(tmp_path)]) == 0
    capsys.readouterr()
    assert verify(tmp_path).notes == []


def test_intact_folder_has_no_notes(tmp_path: Path) -> None:
    """The notes are for damage only: a folder a harvest left intact gets none."""
    harvest(tmp_path)
    assert main(["index", str(tmp_path)]) == 0
    report = verify(tmp_path)
    assert report.notes == [] and report.unmarked is None and report.ok == 4
    assert not report.unjournaled_files

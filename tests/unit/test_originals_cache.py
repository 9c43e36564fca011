"""The list of originals reads only new or changed ``paths`` files.

Every index write lists the folder's original files; reading one ``paths`` file per fileset
was a million files at every run's end for a study of a million single-image filesets.
``originals-read.jsonl`` keeps what each file read said, beside the size and SHA-256 of its
done record; these tests count the files opened (``read_paths_file``) and check the lists
stay byte for byte those of a write from scratch, even when the cache is edited or cut.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from child_scripts import checked

from harvester import originals
from harvester.journal import JournalState
from harvester.layout import image_path
from harvester.originals import CACHE_NAME, ORIGINALS_NAME, RAW_URLS_NAME, UrlMap, write_originals

MIRROR = "https://mirror.example/IDR"
MAPS = (UrlMap("uod/idr/filesets", MIRROR),)
PLATE_IMAGES = range(100, 104)  # one fileset (9000) of 3 files, listed by each image
SINGLES = range(200, 230)  # one fileset each, one file each


def _answer(image_id: int) -> dict[str, Any]:
    """The server's answer for an image of the folder (``{}``: image 150, no fileset)."""
    if image_id in PLATE_IMAGES:
        client = [f"uod/idr/filesets/idr0001-a/plate/w{n}.tif" for n in range(3)]
        return {"repo": ["r"], "client": client, "fileset": {"id": 9000}}
    if image_id == 150:
        return {}
    name = f"uod/idr/filesets/idr0002-b/img {image_id}.tif"
    return {"repo": ["r"], "client": [name], "fileset": {"id": 10_000 + image_id}}


def _store(out: Path, image_id: int, answer: dict[str, Any]) -> dict[str, Any]:
    """Write the image's paths file; its done record, as the store journals it."""
    body = json.dumps(answer).encode()
    rel = image_path(image_id, "paths")
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(body)
    fileset = answer.get("fileset", {}).get("id")
    return {
        "rec": "done",
        "kind": "paths",
        "id": image_id,
        "path": rel,
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "t": 1.0,
        "run": "r",
        **({"fileset_id": fileset} if fileset is not None else {}),
    }


def _folder(out: Path, ids: list[int]) -> JournalState:
    out.mkdir(exist_ok=True)
    return JournalState.from_records([_store(out, i, _answer(i)) for i in ids])


IDS = [*PLATE_IMAGES, 150, *SINGLES]
#: Files a write from scratch opens: one of the plate's, the one without a fileset, the rest.
FROM_SCRATCH = 1 + 1 + len(SINGLES)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every paths file the list of originals opens."""
    seen: list[Path] = []
    real = originals.read_paths_file

    def counting(path: Path) -> originals.FilesetPaths:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(originals, "read_paths_file", counting)
    return seen


def _lists(out: Path) -> tuple[bytes, bytes]:
    return (out / ORIGINALS_NAME).read_bytes(), (out / RAW_URLS_NAME).read_bytes()


def _from_scratch(out: Path, state: JournalState, where: Path) -> tuple[bytes, bytes]:
    """The lists a write without any cache makes, in a copy of the folder."""
    shutil.copytree(out, where)
    (where / CACHE_NAME).unlink(missing_ok=True)
    write_originals(where, state.done, MAPS)
    return _lists(where)


def test_a_rerun_reads_no_paths_file_when_nothing_changed(
    tmp_path: Path, opened: list[Path]
) -> None:
    """The second write opens no paths file and writes the same bytes as the first."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    first = write_originals(out, state.done, MAPS)
    assert len(opened) == FROM_SCRATCH
    lists = _lists(out)
    opened.clear()
    again = write_originals(out, state.done, MAPS)
    assert opened == [] and again == first
    assert _lists(out) == lists
    assert lists[0].count(b"\n") == 1 + 3 + len(SINGLES)  # header, the plate's files, singles
    assert lists[1].count(b"\n") == 3 + len(SINGLES)


def test_new_images_are_the_only_files_read(tmp_path: Path, opened: list[Path]) -> None:
    """Images added since (below, between and above the others' ids) are read, no other;
    the lists are those of a write from scratch."""
    out = tmp_path / "out"
    write_originals(out, _folder(out, IDS).done, MAPS)
    added = [5, 175, 999]
    state = _folder(out, [*IDS, *added])
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert sorted(opened) == sorted(out / image_path(i, "paths") for i in added)
    assert b"img 999.tif" in _lists(out)[0]
    opened.clear()
    assert _lists(out) == _from_scratch(out, state, tmp_path / "scratch")
    assert len(opened) == FROM_SCRATCH + len(added)


def test_a_paths_file_fetched_again_is_read_again(tmp_path: Path, opened: list[Path]) -> None:
    """A done record with another SHA-256 (the file fetched again, other paths) is read;
    its old paths are no longer listed."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    write_originals(out, state.done, MAPS)
    moved = {"repo": ["r"], "client": ["uod/idr/filesets/moved.tif"], "fileset": {"id": 10_210}}
    records = [_store(out, i, _answer(i)) for i in IDS if i != 210]
    state = JournalState.from_records([*records, _store(out, 210, moved)])
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert opened == [out / image_path(210, "paths")]
    table = _lists(out)[0]
    assert f"{MIRROR}/moved.tif".encode() in table and b"img 210.tif" not in table
    assert _lists(out) == _from_scratch(out, state, tmp_path / "scratch")


@pytest.mark.parametrize("damage", ["edited", "cut", "emptied", "other version"])
def test_a_damaged_cache_is_not_trusted(tmp_path: Path, opened: list[Path], damage: str) -> None:
    """A cache edited by hand (its digest left as it was), cut short, emptied or of another
    format: every paths file is read again, the lists are those of a write from scratch."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    write_originals(out, state.done, MAPS)
    cache = out / CACHE_NAME
    data = cache.read_bytes()
    if damage == "edited":
        assert b"img 205.tif" in data
        cache.write_bytes(data.replace(b"img 205.tif", b"evil.tif"))
    elif damage == "cut":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "emptied":
        cache.write_bytes(b"")
    else:
        cache.write_bytes(data.replace(b'read": 1}', b'read": 2}', 1))
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert len(opened) == FROM_SCRATCH
    assert b"evil" not in _lists(out)[0]
    assert _lists(out) == _from_scratch(out, state, tmp_path / "scratch")
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert opened == []  # the cache written in its place is trusted again


def test_a_changed_mapping_changes_the_urls_without_reading(
    tmp_path: Path, opened: list[Path]
) -> None:
    """The cache holds paths, not URLs: another mapping gives other URLs from it."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    write_originals(out, state.done, MAPS)
    opened.clear()
    other = (UrlMap("uod/idr/filesets", "https://other.example/pub"),)
    write_originals(out, state.done, other)
    assert opened == []
    urls = _lists(out)[1].decode().splitlines()
    assert len(urls) == 3 + len(SINGLES)
    assert all(url.startswith("https://other.example/pub/") for url in urls)
    write_originals(out, state.done, ())
    assert _lists(out)[1] == b"" and opened == []


def test_a_path_with_a_password_is_not_cached(tmp_path: Path, opened: list[Path]) -> None:
    """A client path that is a URL with a password never reaches the cache: its file is
    read at every write, listed redacted."""
    out = tmp_path / "out"
    out.mkdir()
    secret = "https://user:hunter2@s3.example/bucket/a.zarr"
    answer = {"repo": ["r"], "client": [secret], "fileset": {"id": 77}}
    state = JournalState.from_records([_store(out, 300, answer)])
    for _ in range(2):
        opened.clear()
        write_originals(out, state.done, MAPS)
        assert opened == [out / image_path(300, "paths")]
    assert b"hunter2" not in (out / CACHE_NAME).read_bytes()
    assert b"hunter2" not in _lists(out)[0] and b"s3.example/bucket/a.zarr" in _lists(out)[0]


def test_the_list_is_written_a_piece_at_a_time(tmp_path: Path) -> None:
    """Writing 5,000 single-file filesets from the cache (125 rows a piece: 40 pieces) holds
    well under the table's size (tracemalloc: Python allocations, not the machine's load),
    measured in a fresh interpreter: in a worker that ran hundreds of tests before, a global
    table's resize (interned strings, say) landed in the measured write and counted 3 MB
    more. (The peak is 1.5x the table at 5,000 as at 20,000, where this test took twice as
    long: the rows held as a list and as text, the bug, are 2x and more at any size.)"""
    out = tmp_path / "out"
    out.mkdir()
    records = []
    for n in range(5_000):
        name = f"uod/idr/filesets/idr0003-c/{n // 100}/a rather long file name {n}.tif"
        answer = {"repo": ["r"], "client": [name], "fileset": {"id": 50_000 + n}}
        records.append(_store(out, 1000 + n, answer))
    done = tmp_path / "records.json"
    done.write_text(json.dumps(records))
    write_originals(out, JournalState.from_records(records).done, MAPS)
    table = (out / ORIGINALS_NAME).stat().st_size + (out / RAW_URLS_NAME).stat().st_size
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(out), str(done), MIRROR],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr
    peak = int(measured.stdout)
    # The paths themselves are held (sorted, deduplicated); the rows and URLs' text is not,
    # which before was the table twice over (its list of rows and its joined text).
    assert peak < 2 * table, (peak, table)


#: The write measured by the test above, in a child interpreter: argv = DIR, the records'
#: JSON, the mirror URL; prints tracemalloc's peak of a write from the cache, once one
#: write has warmed it up.
_MEASURE = checked("""
import json, sys, tracemalloc
from pathlib import Path
from harvester import originals
from harvester.journal import JournalState
from harvester.originals import UrlMap, write_originals
originals.ROWS_PER_PIECE = 125
out, records, mirror = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
state = JournalState.from_records(json.loads(records.read_text()))
maps = (UrlMap("uod/idr/filesets", mirror),)
write_originals(out, state.done, maps)  # (its modules and caches loaded: not measured)
tracemalloc.start()
write_originals(out, state.done, maps)
print(tracemalloc.get_traced_memory()[1])
""")


def test_a_cache_that_cannot_be_written_leaves_the_lists_whole(
    tmp_path: Path, opened: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A folder where the cache should be: the lists are written complete (those of a
    write from scratch), one warning says so, and the next write reads every file again."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    scratch = _from_scratch(out, state, tmp_path / "scratch")
    (out / CACHE_NAME).mkdir()
    with caplog.at_level("DEBUG", logger="harvester"):
        summary = write_originals(out, state.done, MAPS)
    assert summary is not None and summary.files == 3 + len(SINGLES)
    assert _lists(out) == scratch
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and CACHE_NAME in warned[0].getMessage()
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert len(opened) == FROM_SCRATCH and _lists(out) == scratch
    (out / CACHE_NAME).rmdir()
    write_originals(out, state.done, MAPS)
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert opened == []  # a cache written once the folder is gone is used again


def test_a_disk_full_mid_cache_removes_the_old_cache(
    tmp_path: Path, opened: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk filling up a few lines into the cache: the lists still hold every file
    (those read after the failure too), the old cache is removed rather than trusted."""
    import errno

    from harvester import store

    out = tmp_path / "out"
    write_originals(out, _folder(out, IDS).done, MAPS)
    added = [5, 175, 999]
    state = _folder(out, [*IDS, *added])
    scratch = _from_scratch(out, state, tmp_path / "scratch")
    real = store._write_file
    written: list[bytes] = []

    def filling(path: Path, pieces: Iterable[bytes], *, durable: bool = True) -> None:
        if CACHE_NAME not in path.name:
            return real(path, pieces, durable=durable)
        for piece in pieces:
            written.append(piece)
            if len(written) == 4:
                raise OSError(errno.ENOSPC, "No space left on device")
        raise AssertionError("the cache was written whole")

    monkeypatch.setattr(store, "_write_file", filling)
    opened.clear()
    write_originals(out, state.done, MAPS)
    assert len(written) == 4  # header and three lines: the failure was mid-way
    assert _lists(out) == scratch and b"img 999.tif" in scratch[0]
    assert sorted(opened) == sorted(out / image_path(i, "paths") for i in added)
    assert not (out / CACHE_NAME).exists()


def test_a_cached_file_deleted_or_cut_is_told_as_without_the_cache(
    tmp_path: Path, opened: list[Path]
) -> None:
    """A paths file the cache holds, deleted (missing) or cut short (unreadable) since:
    each is opened again (one stat told), counted, and the lists and counts are those of a
    write from scratch; the untouched files are still taken from the cache."""
    out = tmp_path / "out"
    state = _folder(out, IDS)
    write_originals(out, state.done, MAPS)
    (out / image_path(205, "paths")).unlink()
    cut = out / image_path(206, "paths")
    cut.write_bytes(cut.read_bytes()[:10])
    opened.clear()
    summary = write_originals(out, state.done, MAPS)
    assert sorted(opened) == sorted(out / image_path(i, "paths") for i in (205, 206))
    assert summary is not None and (summary.missing, summary.unreadable) == (1, 1)
    assert b"img 205.tif" not in _lists(out)[0] and b"img 206.tif" not in _lists(out)[0]
    assert _lists(out) == _from_scratch(out, state, tmp_path / "scratch")
    assert write_originals(tmp_path / "scratch", state.done, MAPS) == summary

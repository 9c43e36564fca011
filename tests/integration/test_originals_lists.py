"""The lists of originals as tables harvester owns: recorded, kept when edited, honest.

``originals.tsv`` and ``raw-urls.txt`` were written unrecorded: a person's edit was
overwritten without a word by the next index write, and ``status``/``verify`` said nothing
of them. A file two filesets list was listed under one of them only, so the images of the
other had no row to find it by. And the cache of what each ``paths`` file said listed a
deleted file's paths from memory, silently, where a write without it said the file was
unreadable. Plate 7375 of the demo preset is one fileset of 8 files that each of its 8
images lists; dataset 52's images have one file each, but 1884808, which has none. Each
command runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py) against
the emulator over real sockets.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response
from harvester.emulator.routes_common import json_response
from harvester.layout import image_path

PLATE = str(c.DEMO_PLATE_ID)
DATASET = "52"
DATASET_IMAGES = (1884805, 1884806, 1884807, 1884808)
MIRROR = "https://mirror.example/IDR"
PATHS = "/webgateway/original_file_paths/"
LISTS = ("originals.tsv", "raw-urls.txt")


class AnsweringApp:
    """The demo app, answering ``original_file_paths`` of the images in ``answers`` itself."""

    def __init__(self) -> None:
        self.app: App = build_app("demo")
        self.answers: dict[int, dict[str, object]] = {}

    def handle(self, req: Request) -> Response:
        if req.path.startswith(PATHS):
            own = self.answers.get(int(req.path[len(PATHS) :].strip("/")))
            if own is not None:
                return json_response(own)
        return self.app.handle(req)


@pytest.fixture
def answering(make_emulator: Callable[..., EmulatorThread]) -> tuple[EmulatorThread, AnsweringApp]:
    app = AnsweringApp()
    return make_emulator(app=app), app


def harvested(emu: EmulatorThread, out: Path, *targets: str) -> None:
    """The paths of ``targets`` harvested into ``out`` (exit 0)."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *targets, "--artifacts", "paths",
        "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def indexed(out: Path, *extra: str) -> str:
    """``harvester index DIR`` (exit 0): what it printed."""
    proc = cli("index", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def read_tsv(out: Path) -> list[dict[str, str]]:
    text = (out / "originals.tsv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


def notes(out: Path) -> tuple[list[str], list[str]]:
    """The lines of ``harvester status DIR`` and ``harvester verify DIR`` (each exit 0)."""
    status = cli("status", str(out))
    verify = cli("verify", str(out))
    assert status.returncode == 0 and verify.returncode == 0, status.stderr + verify.stderr
    return status.stdout.splitlines(), verify.stdout.splitlines()


def written(out: Path) -> dict[str, dict[str, object]]:
    record: dict[str, dict[str, object]] = json.loads((out / "written.json").read_text())
    return record


def test_lists_edited_or_removed_are_noted_kept_and_rebuilt(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Both lists are recorded in written.json; one edited and one removed: status and
    verify note each, the next index keeps the edited bytes as originals.edited-*.tsv (one
    warning) and writes both as before, after which nothing is noted or kept."""
    out = tmp_path / "d"
    harvested(emulator, out, "--plate", PLATE)
    lists = {name: (out / name).read_bytes() for name in LISTS}
    assert set(LISTS) <= set(written(out))
    assert len(read_tsv(out)) == 8

    edited = lists["originals.tsv"].decode().replace("\tpath\t", "\tpath\tmy_notes\t", 1)
    (out / "originals.tsv").write_text(edited, encoding="utf-8")
    (out / "raw-urls.txt").unlink()
    changed = (
        "note: originals.tsv has been changed since harvester wrote it: the next harvest (or "
        "harvester index) keeps that copy as originals.edited-<UTC time>.tsv and writes a "
        "new one"
    )
    gone = f"note: raw-urls.txt is missing: rebuild it with harvester index {out}"
    for lines in notes(out):
        assert changed in lines and gone in lines, lines

    said = indexed(out)
    [kept] = sorted(out.glob("originals.edited-*.tsv"))
    assert kept.read_text(encoding="utf-8") == edited
    assert {name: (out / name).read_bytes() for name in LISTS} == lists
    assert f"{out / 'originals.tsv'} had been changed since harvester wrote it: kept that " in (
        said
    )
    assert said.count("WARNING") == 1, said
    for lines in notes(out):
        assert not [line for line in lines if "originals.tsv" in line or "raw-urls" in line]
    indexed(out)
    assert sorted(out.glob("*.edited-*")) == [kept]


def test_lists_of_an_older_version_are_overwritten_without_a_warning(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A folder made by 0.1.20 (which wrote the lists unrecorded): its lists are rewritten
    and recorded, nothing kept; in a folder of this version an unrecorded originals.tsv is
    not harvester's (a user's own file by that name) and is kept."""
    out = tmp_path / "d"
    harvested(emulator, out, "--plate", PLATE)
    lists = {name: (out / name).read_bytes() for name in LISTS}

    def unrecorded(version: str) -> None:
        record = {k: v for k, v in written(out).items() if k not in LISTS}
        (out / "written.json").write_text(json.dumps(record))
        marker = json.loads((out / "harvest.json").read_text())
        (out / "harvest.json").write_text(json.dumps({**marker, "version": version}))

    unrecorded("0.1.20")
    said = indexed(out)
    assert "WARNING" not in said and not sorted(out.glob("*.edited-*")), said
    assert {name: (out / name).read_bytes() for name in LISTS} == lists
    assert set(LISTS) <= set(written(out))

    unrecorded("0.1.21")
    said = indexed(out)
    assert f"{out / 'originals.tsv'} was not written by harvester: kept it as " in said
    assert len(sorted(out.glob("originals.edited-*.tsv"))) == 1
    assert len(sorted(out.glob("raw-urls.edited-*.txt"))) == 1


def test_a_file_two_filesets_list_has_a_row_under_each(
    tmp_path: Path, answering: tuple[EmulatorThread, AnsweringApp]
) -> None:
    """The same client file in two filesets (imported twice): a row under each fileset, so
    both filesets' images find it by fileset_id; its URL once in raw-urls.txt; a file an
    answer names twice is one row."""
    emu, app = answering
    out = tmp_path / "d"
    shared = "uod/idr/filesets/idr0021-x/shared.dv"
    first, second, third = DATASET_IMAGES[:3]
    app.answers = {
        first: {"repo": ["a", "b"], "client": [shared, shared], "fileset": {"id": 71}},
        second: {"repo": ["c", "d"], "client": [shared, f"{shared}.log"], "fileset": {"id": 70}},
        third: {"repo": ["e"], "client": [f"{shared}.log"], "fileset": {"id": 72}},
    }
    harvested(emu, out, "--dataset", DATASET)
    said = indexed(out, "--raw-url-map", f"uod/idr/filesets={MIRROR}")
    assert "2 original files of 3 filesets" in said, said
    rows = [(r["path"], r["fileset_id"], r["url"]) for r in read_tsv(out)]
    assert rows == [
        (shared, "70", f"{MIRROR}/idr0021-x/shared.dv"),
        (shared, "71", f"{MIRROR}/idr0021-x/shared.dv"),
        (f"{shared}.log", "70", f"{MIRROR}/idr0021-x/shared.dv.log"),
        (f"{shared}.log", "72", f"{MIRROR}/idr0021-x/shared.dv.log"),
    ]
    assert (out / "raw-urls.txt").read_text().splitlines() == [
        f"{MIRROR}/idr0021-x/shared.dv",
        f"{MIRROR}/idr0021-x/shared.dv.log",
    ]
    # The lists a write from scratch makes are the same.
    before = (out / "originals.tsv").read_bytes()
    (out / "originals-read.jsonl").unlink()
    indexed(out)
    assert (out / "originals.tsv").read_bytes() == before


def test_a_deleted_paths_file_is_told_missing_as_without_the_cache(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A paths file deleted after the cache holds it: the index write says it is missing
    (and how to have it fetched again) and lists what a write without the cache lists; a
    plate's fileset is read from another of its images; verify then a harvest restore it."""
    out = tmp_path / "d"
    harvested(emulator, out, "--plate", PLATE, "--dataset", DATASET)
    complete = read_tsv(out)
    assert len(complete) == 8 + 3
    files = (out / "images").rglob("*.paths.json")
    plate_images = sorted({int(p.name.split(".")[0]) for p in files} - set(DATASET_IMAGES))
    assert len(plate_images) == 8
    lone = DATASET_IMAGES[0]
    lone_fileset = json.loads((out / image_path(lone, "paths")).read_bytes())["fileset"]["id"]
    # The plate's first image is the one its fileset was read from (by image id).
    for image_id in (lone, plate_images[0]):
        (out / image_path(image_id, "paths")).unlink()

    said = indexed(out)
    missing = (
        f"2 paths files missing (harvester verify {out} has the next harvest fetch them again)"
    )
    assert missing in said, said
    listed = read_tsv(out)
    # The plate's files from another of its images; the lone image's file not listed.
    assert [r["fileset_id"] for r in complete if r not in listed] == [str(lone_fileset)]
    assert len(listed) == 8 + 2
    lists = {name: (out / name).read_bytes() for name in LISTS}
    (out / "originals-read.jsonl").unlink()
    assert missing in indexed(out)  # the same words and lists without the cache
    assert {name: (out / name).read_bytes() for name in LISTS} == lists

    assert cli("verify", str(out)).returncode == 1
    harvested(emulator, out, "--plate", PLATE, "--dataset", DATASET)
    assert read_tsv(out) == complete
    assert "missing" not in indexed(out)


class _Killed(BaseException):
    """A kill -9 of the index write, at the one moment it is meant to fall on."""


@pytest.mark.parametrize("renamed_first", [True, False], ids=["after-rename", "before-rename"])
def test_a_write_killed_at_its_rename_is_no_hand_edit_to_the_next(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch, renamed_first: bool
) -> None:
    """An index write killed just after renaming a new originals.tsv into place (a changed
    --raw-url-map: other URLs), or just before, its record saved: status and verify note
    no edit, and the next index write keeps no copy, warns of none and writes the new one.
    Killed after the rename, it took harvester's own table for one changed by hand."""
    import os

    from harvester.cli import main

    out = tmp_path / "d"
    harvested(emulator, out, "--plate", PLATE)
    before = (out / "originals.tsv").read_bytes()
    rename = os.replace
    at_kill: list[bytes] = []  # written.json as the kill left it (no cleanup runs after it)

    def killed(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name != "originals.tsv":
            return rename(src, dst)
        if renamed_first:
            rename(src, dst)
        at_kill.append((out / "written.json").read_bytes())
        raise _Killed

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(_Killed):
        main(["index", str(out), "--raw-url-map", f"nfs/bioimage/drop={MIRROR}"])
    monkeypatch.undo()
    (out / "written.json").write_bytes(at_kill[0])
    left = (out / "originals.tsv").read_bytes()
    assert left != before and MIRROR.encode() in left if renamed_first else left == before

    for lines in notes(out):
        assert not [line for line in lines if "changed since" in line], lines
    said = indexed(out)
    assert "WARNING" not in said and "changed" not in said, said
    assert not sorted(out.glob("*.edited-*"))
    renamed = (out / "originals.tsv").read_bytes()
    assert renamed != before and MIRROR.encode() in renamed
    # And a real edit after it is still told.
    (out / "originals.tsv").write_bytes(renamed + b"x\ty\t1\n")
    assert "had been changed since harvester wrote it" in indexed(out)
    assert len(sorted(out.glob("originals.edited-*.tsv"))) == 1

"""The images of one fileset: one ``paths`` file on disk, one request per fileset a walk names
or the server proves.

Plate 7375 of the demo preset is one fileset whose 8 images each list its 8 files (a plate's
grid does not name the fileset: one image asks, the others are proven in its fileset by one
``webclient/fileset_check``); the ``series`` preset's dataset 6301 lists 6 images from two
multi-series files, one fileset of 3 images per file, and names each image's fileset
(``filesetId``).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import harvest
from paths_helpers import CountingApp, paths_file, served

from harvester import urls
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c
from harvester.emulator import catalogue_presets as presets
from harvester.emulator.http import Response
from harvester.emulator.routes_common import json_response, text_response
from harvester.emulator.routes_webclient import _split_fileset_html
from harvester.fileset_answers import ASKERS_TRIED
from harvester.journal import JournalState
from harvester.models import Artifact
from harvester.plate_filesets import split_budget
from harvester.shard import shard_of
from harvester.status import collect_status
from harvester.verify import verify

PLATE = c.DEMO_PLATE_ID
SERIES = [
    presets.SERIES_FIRST_IMAGE_ID + i for i in range(presets.SERIES_FILES * presets.SERIES_PER_FILE)
]
FIRST_FILE, SECOND_FILE = SERIES[: presets.SERIES_PER_FILE], SERIES[presets.SERIES_PER_FILE :]


def problems(out: Path) -> list[tuple[int, str]]:
    return sorted((p.id, p.status) for p in verify(out).problems)


def fileset_column(out: Path) -> dict[int, str]:
    text = (out / "index.csv").read_text(encoding="utf-8")
    return {int(r["image_id"]): r["fileset_id"] for r in csv.DictReader(io.StringIO(text))}


def test_a_plates_images_are_one_file_and_a_removed_name_breaks_none(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plate's 8 images (one fileset): one asks, the server proves the 7 others in its
    fileset (one check), and their 8 files are one file on disk with 8 names, each the
    server's answer; the first name removed, the others keep their bytes, verify finds that
    one missing and the next run asks for it alone."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert summary.failed == 0
    assert len(app.asked) == 1
    by_route = emu.stats()["by_route"]
    assert by_route["webclient_fileset_check"] == {"200": 1}
    images = sorted(int(r) for r in fileset_column(out))
    assert len(images) == 8 and app.asked[0] in images
    body = served(emu.base_url, images[0])
    for image_id in images:
        assert paths_file(out, image_id).read_bytes() == body == served(emu.base_url, image_id)
    assert len({paths_file(out, i).stat().st_ino for i in images}) == 1
    assert paths_file(out, images[0]).stat().st_nlink == 8
    assert problems(out) == []

    paths_file(out, images[0]).unlink()
    assert all(paths_file(out, i).read_bytes() == body for i in images[1:])
    assert problems(out) == [(images[0], "missing")]
    app.asked.clear()
    again = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert again.failed == 0 and app.asked == [images[0]]  # (alone of its plate: no check)
    assert paths_file(out, images[0]).read_bytes() == body
    assert problems(out) == []


def test_a_linked_file_edited_in_place_is_found_under_every_name(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Editing one name of the shared file in place changes them all (one file): verify
    finds every image of the fileset changed, and the next run fetches them again."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    images = sorted(int(r) for r in fileset_column(out))
    body = paths_file(out, images[0]).read_bytes()
    with open(paths_file(out, images[3]), "r+b") as f:  # same size, other bytes
        f.write(b"[")
    assert problems(out) == [(i, "damaged") for i in images]
    app.asked.clear()
    again = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert again.failed == 0 and len(app.asked) == 1 and len(app.checked) == 2
    assert all(paths_file(out, i).read_bytes() == body for i in images)
    assert problems(out) == []


def test_images_of_a_named_fileset_ask_once_and_share_its_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Dataset 6301's 6 images of 2 filesets: 2 requests (one per fileset); each file is
    the answer the server gives that image (the same for the images of one fileset), 2
    files on disk of 3 names each; index.csv, originals.tsv and status as if each image
    were asked; a resume asks nothing."""
    app = CountingApp("series")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, datasets=(presets.SERIES_DATASET_ID,), artifacts=(Artifact.PATHS,)
    )
    assert summary.failed == 0
    asked = list(app.asked)
    assert len(asked) == 2
    assert len(set(asked) & set(FIRST_FILE)) == 1 and len(set(asked) & set(SECOND_FILE)) == 1

    answers = {i: served(emu.base_url, i) for i in SERIES}
    assert (
        len({answers[i] for i in FIRST_FILE}) == 1 and len({answers[i] for i in SECOND_FILE}) == 1
    )
    assert answers[FIRST_FILE[0]] != answers[SECOND_FILE[0]]
    for image_id in SERIES:
        assert paths_file(out, image_id).read_bytes() == answers[image_id]
    inodes = Counter(paths_file(out, i).stat().st_ino for i in SERIES)
    assert sorted(inodes.values()) == [3, 3]

    filesets = fileset_column(out)
    assert len({filesets[i] for i in FIRST_FILE}) == 1 and filesets[FIRST_FILE[0]] != ""
    assert len({filesets[i] for i in SECOND_FILE}) == 1
    assert filesets[FIRST_FILE[0]] != filesets[SECOND_FILE[0]]
    listed = (out / "originals.tsv").read_text(encoding="utf-8").splitlines()
    assert len(listed) == 1 + 2  # header, one file per fileset
    assert collect_status(out).kinds["paths"].done == 6
    assert problems(out) == []

    app.asked.clear()
    again = harvest(
        emu.base_url, out, datasets=(presets.SERIES_DATASET_ID,), artifacts=(Artifact.PATHS,)
    )
    assert again.failed == 0 and app.asked == []


def test_a_filesets_failed_answer_leaves_its_other_images_to_ask(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The first image of a fileset answered 404 fails alone: the other images of its
    fileset ask for themselves and are stored; the next run asks the failed one only."""
    app = CountingApp("series")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    gone = FIRST_FILE[0]
    app.answer = lambda i: text_response(404, "<h1>Not Found</h1>") if i == gone else None
    summary = harvest(
        emu.base_url, out, datasets=(presets.SERIES_DATASET_ID,), artifacts=(Artifact.PATHS,)
    )
    assert [(f.kind, f.image_id, f.status) for f in summary.failures] == [("paths", gone, 404)]
    assert app.asked.count(gone) == 1 and not paths_file(out, gone).exists()
    assert set(app.asked) & set(FIRST_FILE[1:])  # (both, if both waited for the 404)
    for image_id in FIRST_FILE[1:]:
        assert paths_file(out, image_id).read_bytes() == served(emu.base_url, image_id)

    app.answer = lambda i: None
    app.asked.clear()
    again = harvest(
        emu.base_url, out, datasets=(presets.SERIES_DATASET_ID,), artifacts=(Artifact.PATHS,)
    )
    assert again.failed == 0 and app.asked == [gone]
    assert problems(out) == []


def test_a_resume_links_a_plates_images_to_the_files_an_earlier_run_stored(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A plate's fileset half stored by a run whose other images failed: the rerun asks the
    failed ones and makes each a name of a file the first run stored, not one more copy.
    status counts the bytes of each file once and says how many names are links; the
    rerun's summary says what its stored bytes take on disk."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"

    def failing(image_id: int) -> bool:  # half the plate's images
        return image_id % 2 == 0

    app.answer = lambda i: text_response(500, "busy") if failing(i) else None
    app.check = lambda ids: text_response(500, "busy")  # (each image asks for itself)
    first = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,), max_retries=0)
    images = sorted(set(app.asked))
    assert len(images) == 8 and first.failed == 4
    stored = [i for i in images if not failing(i)]
    copies = {paths_file(out, i).stat().st_ino for i in stored}
    assert 1 <= len(copies) <= 2  # (two batches in flight may each write a first copy)

    app.answer = lambda i: None
    app.check = lambda ids: None
    app.asked.clear()
    assert main(["harvest", "--base-url", emu.base_url, "--plate", str(PLATE), "--artifacts",
                 "paths", "--rate", "none", "--out", str(out)]) == 0  # fmt: skip
    assert len(app.asked) == 1 and failing(app.asked[0])  # the others proven in its fileset
    body = served(emu.base_url, images[0])
    assert all(paths_file(out, i).read_bytes() == body for i in images)
    assert {paths_file(out, i).stat().st_ino for i in images} == copies  # no new copy
    said = capsys.readouterr().out
    assert " on disk: 4 paths files are hard links to another image's), " in said, said

    report = collect_status(out)
    assert report.kinds["paths"].done == 8
    assert report.kinds["paths"].bytes == len(body) * len(copies)  # each file once
    assert (report.linked, report.linked_bytes) == (8 - len(copies), (8 - len(copies)) * len(body))
    assert f"{8 - len(copies)} paths files are hard links to another image's" in report.to_text()
    assert report.to_dict()["totals"]["linked"] == 8 - len(copies)
    assert problems(out) == []


def test_a_screens_plate_asks_once_and_the_server_proves_the_rest(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """plate384's 384 images of one fileset: one original_file_paths request and two
    fileset checks (383 images, 250 a check), counted by the emulator; every image's file is
    the answer the server gives it, one file on disk, and index.csv names its fileset."""
    emu = make_emulator(preset="plate384")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(presets.PLATE384_PLATE_ID,), artifacts=(Artifact.PATHS,)
    )
    assert summary.failed == 0 and summary.done == 384
    by_route = emu.stats()["by_route"]
    assert by_route["webgateway_original_file_paths"] == {"200": 1}
    assert by_route["webclient_fileset_check"] == {"200": 2}
    filesets = fileset_column(out)
    images = sorted(filesets)
    assert len(images) == 384 and len(set(filesets.values())) == 1
    body = served(emu.base_url, images[0])
    assert all(paths_file(out, i).read_bytes() == body for i in images)
    assert len({paths_file(out, i).stat().st_ino for i in images}) <= 2
    assert problems(out) == []


def test_a_plate_of_three_filesets_asks_once_per_fileset(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The ``filesets`` preset's plate, imported as 3 filesets of 8 wells x 2 fields: the
    first image asks, and the checks go on past the batches that hold none of its fileset:
    one original_file_paths request per fileset (3, not 48), a few checks, counted by the
    emulator; every image's file is the answer the server gives it, one file per fileset."""
    emu = make_emulator(preset="filesets")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(presets.FILESETS_PLATE_ID,), artifacts=(Artifact.PATHS,)
    )
    assert summary.failed == 0 and summary.done == 48
    by_route = emu.stats()["by_route"]
    assert by_route["webgateway_original_file_paths"] == {"200": 3}
    checks = by_route["webclient_fileset_check"]["200"]
    assert 1 < checks <= 1 + split_budget(47)
    filesets = fileset_column(out)
    assert len(filesets) == 48 and len(set(filesets.values())) == 3
    answers = {i: served(emu.base_url, i) for i in filesets}
    assert len(set(answers.values())) == 3
    assert all(paths_file(out, i).read_bytes() == answers[i] for i in filesets)
    assert len({paths_file(out, i).stat().st_ino for i in filesets}) <= 6  # (2 a fileset)
    assert problems(out) == []


def test_a_proven_filesets_asker_failing_leaves_the_others_to_ask_not_hang(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The ``filesets`` preset's plate: the first image proven in the second fileset asks
    for the others, and its request fails (a 500, through every retry). The images that
    waited for its answer do not hang, nor get another fileset's list: the next of them
    asks, once, and the rest take its answer (13 of 15 asked at once); the other filesets
    are asked once each. The image whose request failed takes that answer too, at the run's
    end (its second chance: a 500 is a transient failure), asking nothing more."""
    app = CountingApp("filesets")
    cat = c.Catalogue("filesets")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    images = [i for well in cat.wells(presets.FILESETS_PLATE_ID) for i in cat.well_image_ids(well)]
    fileset = {i: cat.locate(i).image.fileset_id for i in images}  # type: ignore[union-attr]
    second = sorted(set(fileset.values()))[1]
    failing: list[int] = []

    def answer(image_id: int) -> Response | None:
        if fileset[image_id] == second and failing in ([], [image_id]):
            failing[:] = [image_id]
            return text_response(500, "busy")
        return None

    app.answer = answer
    summary = harvest(
        emu.base_url, out, plates=(presets.FILESETS_PLATE_ID,), artifacts=(Artifact.PATHS,)
    )
    assert failing and summary.failed == 0 and summary.done == len(images)
    assert (summary.asked_again, summary.done_again) == (1, 1)
    asked = Counter(fileset[i] for i in app.asked if i != failing[0])
    assert sorted(asked.values()) == [1, 1, 1]  # (one request for the second's others)
    assert app.asked.count(failing[0]) == 1 + 5  # its first chance's tries only
    app.answer = lambda image_id: None  # (served() asks as the run did, every answer whole)
    for image_id in images:
        assert paths_file(out, image_id).read_bytes() == served(emu.base_url, image_id)
    assert problems(out) == []


def runs_of(asked: list[int]) -> list[tuple[int, int]]:
    """(image, how many requests in a row) of the order the emulator was asked in."""
    runs: list[tuple[int, int]] = []
    for image_id in asked:
        if runs and runs[-1][0] == image_id:
            runs[-1] = (image_id, runs[-1][1] + 1)
        else:
            runs.append((image_id, 1))
    return runs


def test_a_fileset_that_always_fails_is_asked_one_image_at_a_time_then_by_each(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The ``filesets`` preset's plate, its second fileset answered 500 every time: its
    first askers take turns, each through all its tries before the next asks (in the order
    the emulator saw them: no burst of every waiting image at once), and after
    ASKERS_TRIED failed the rest ask for themselves: nothing hangs, every image of it is
    tried and fails (through its tries once more at the run's end: its second chance), and
    the other filesets are stored."""
    app = CountingApp("filesets")
    cat = c.Catalogue("filesets")
    emu = make_emulator(app=app)
    images = [i for well in cat.wells(presets.FILESETS_PLATE_ID) for i in cat.well_image_ids(well)]
    fileset = {i: cat.locate(i).image.fileset_id for i in images}  # type: ignore[union-attr]
    second = sorted(set(fileset.values()))[1]
    app.answer = lambda i: text_response(500, "busy") if fileset[i] == second else None
    tries = 3  # (max_retries 2)
    summary = harvest(
        emu.base_url,
        tmp_path / "out",
        plates=(presets.FILESETS_PLATE_ID,),
        artifacts=(Artifact.PATHS,),
        max_retries=tries - 1,
    )
    failing = sorted(i for i in images if fileset[i] == second)
    assert sorted(f.image_id for f in summary.failures) == failing
    assert summary.done == len(images) - len(failing)
    asked = [i for i in app.asked if fileset[i] == second]
    assert sorted(asked) == sorted(failing * tries * 2)  # (each image its tries twice, no more)
    turns = runs_of(asked)[:ASKERS_TRIED]
    assert [n for _image, n in turns] == [tries] * ASKERS_TRIED, runs_of(asked)
    assert len({image for image, _n in turns}) == ASKERS_TRIED


def test_a_plate_whose_check_never_lists_its_fileset_is_checked_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """plate384's images as the check sees a plate of another group (it answers in the
    session's): a page that lists no split fileset. The first such page ends the plate's
    checks (it kept asking one per 250 images); every image asks
    its own paths and stores the server's answer."""
    app = CountingApp("plate384")
    app.check = lambda ids: text_response(200, '<div class="split_filesets_info">\n</div>')
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(presets.PLATE384_PLATE_ID,), artifacts=(Artifact.PATHS,)
    )
    assert summary.failed == 0 and summary.done == 384
    assert len(app.checked) == 1  # (answered by the app: the emulator's stats skip it)
    assert emu.stats()["by_route"]["webgateway_original_file_paths"] == {"200": 384}
    assert len(app.asked) == 384
    images = sorted(fileset_column(out))
    assert len(images) == 384
    assert paths_file(out, images[-1]).read_bytes() == served(emu.base_url, images[-1])
    assert problems(out) == []


def test_a_samples_checks_name_only_the_images_it_drew(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--sample 5`` of plate384's 384 images: the fileset checks give the server only
    the images the sample drew (the walk listed all 384; a batch of 249 undrawn ones proved
    images no run of this sample fetches, and kept every listed image queued meanwhile)."""
    app = CountingApp("plate384")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url,
        out,
        plates=(presets.PLATE384_PLATE_ID,),
        artifacts=(Artifact.PATHS,),
        sample=5,
    )
    assert summary.failed == 0 and summary.done == 5
    drawn = set(fileset_column(out))
    assert len(drawn) == 5 and len(app.asked) == 1
    checked = {i for ids in app.checked for i in ids}
    assert checked <= drawn and drawn - set(app.asked) <= checked
    body = served(emu.base_url, app.asked[0])
    assert all(paths_file(out, i).read_bytes() == body for i in drawn)


def two_filesets_page(ids: list[int], members: dict[int, set[int]]) -> Response:
    """What the server's check answers for a plate whose images are in the filesets of
    ``members`` (the template, rendered by the emulator's own helper)."""
    given = set(ids)
    blocks = [
        _split_fileset_html("delete", fileset, sorted(inside), sorted(held - inside))
        for fileset, held in sorted(members.items())
        if (inside := held & given) and inside != held
    ]
    return text_response(200, '<div class="split_filesets_info">' + "".join(blocks) + "</div>")


def test_a_plate_of_two_filesets_never_gives_one_images_list_to_another(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plate whose even images are in another fileset (another list): the checks prove
    nothing that is not so, and each image's file is the answer the server gives that
    image, its fileset's list, never the other's."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    cat = c.Catalogue("demo")
    images = sorted(i for well in cat.wells(PLATE) for i in cat.well_image_ids(well))
    first_fileset = cat.locate(images[0]).image.fileset_id  # type: ignore[union-attr]
    assert len(images) == 8 and isinstance(first_fileset, int)
    other = {"repo": ["x/b.tif"], "client": ["uod/idr/filesets/x/b.tif"], "fileset": {"id": 5}}
    members = {first_fileset: {i for i in images if i % 2}, 5: {i for i in images if not i % 2}}
    app.answer = lambda i: None if i % 2 else json_response(other)
    app.check = lambda ids: two_filesets_page(ids, members)
    app.asked.clear()
    summary = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert summary.failed == 0
    asked = set(app.asked)
    answers = {i: served(emu.base_url, i) for i in images}
    assert len(set(answers.values())) == 2
    for image_id in images:
        assert paths_file(out, image_id).read_bytes() == answers[image_id]
    filesets = fileset_column(out)
    assert {filesets[i] for i in images if not i % 2} == {"5"}
    assert {filesets[i] for i in images if i % 2} == {str(first_fileset)}
    # (the checks were asked; an image of each fileset asked for itself)
    assert app.checked and {i % 2 for i in asked} == {0, 1}


def test_an_image_of_a_fileset_of_its_own_is_never_proven_in_the_plates(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plate whose last image is a fileset of its own: the check lists the plate's
    fileset alone (a whole fileset is not split), one image short of those checked. That
    proves nothing for the batch: its halves are checked, and theirs, which prove the
    others in the plate's fileset; the last, alone in no split fileset, asks and gets its
    own list."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    cat = c.Catalogue("demo")
    images = sorted(i for well in cat.wells(PLATE) for i in cat.well_image_ids(well))
    first_fileset = cat.locate(images[0]).image.fileset_id  # type: ignore[union-attr]
    alone = images[-1]
    own = {"repo": ["x/own.tif"], "client": ["uod/idr/filesets/x/own.tif"], "fileset": {"id": 5}}
    members = {first_fileset: set(images[:-1]), 5: {alone}}
    app.answer = lambda i: json_response(own) if i == alone else None
    app.check = lambda ids: two_filesets_page(ids, members)
    app.asked.clear()
    summary = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert summary.failed == 0
    assert alone in app.checked[0] and [alone] in app.checked[1:]
    page = two_filesets_page(app.checked[0], members).body
    assert page.count(b'class="split_fileset"') == 1  # (the plate's fileset alone)
    assert len(app.asked) == 2 and app.asked[-1] == alone  # (the first, and the one alone)
    assert paths_file(out, alone).read_bytes() == served(emu.base_url, alone)
    assert b"own.tif" not in paths_file(out, images[0]).read_bytes()
    assert fileset_column(out)[alone] == "5"


def test_a_server_without_the_check_asks_each_image_and_checks_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A server that answers the check with a 404 (another OMERO.web, a proxy): one check,
    then each image of the plate asks for itself, as before; nothing fails."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    app.check = lambda ids: text_response(404, "<h1>Not Found</h1>")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert summary.failed == 0
    assert len(app.checked) == 1 and len(app.asked) == 8 == len(set(app.asked))
    # (served() is counted too: the images asked, copied first)
    assert all(paths_file(out, i).read_bytes() == served(emu.base_url, i) for i in list(app.asked))


def test_a_check_that_fails_busy_leaves_the_next_checks_on_until_three_in_a_row(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks of 2 images: the first answered 500 through its retries (none here) proves
    nothing, its 2 images ask, and the next checks prove the rest (one failure turned the
    checks off for the whole run). A check that always fails stops after 3 in a row."""
    monkeypatch.setattr(urls, "FILESET_CHECK_BATCH", 2)
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    busy = text_response(500, "<h1>Server Error (500)</h1>")
    app.check = lambda ids: busy if len(app.checked) == 1 else None
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,), max_retries=0
    )
    assert summary.failed == 0
    assert [len(ids) for ids in app.checked] == [2, 2, 2, 1]
    assert sorted(app.asked) == sorted([app.asked[0], *app.checked[0]])
    body = served(emu.base_url, app.asked[0])
    assert all(p.read_bytes() == body for p in (out / "images").rglob("*.paths.json"))
    assert len(list((out / "images").rglob("*.paths.json"))) == 8

    app.checked.clear()
    app.check = lambda ids: busy
    app.asked.clear()
    again = tmp_path / "again"
    summary = harvest(
        emu.base_url, again, plates=(PLATE,), artifacts=(Artifact.PATHS,), max_retries=0
    )
    assert summary.failed == 0
    assert len(app.checked) == 3 and len(set(app.asked)) == 8 == len(app.asked)


def test_a_plan_and_its_shards_check_a_plates_images_in_batches_too(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Harvested from a plan in two shards: each shard's images of the plate ask once (one
    each) and are proven in one check each, not one check (or request) an image. The two
    shards' copies of the list end as one file: shard 1, which cannot see shard 0's
    images as it stores, writes its own and, as it ends, makes its names links to the
    file shard 0 registered (each shard stored a copy: the tasks of a job array left one
    per task, two with the store's two batches in flight)."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    assert main(["plan", "--base-url", emu.base_url, "--plate", str(PLATE), "--artifacts",
                 "paths", "--rate", "none", "--out", str(out)]) == 0  # fmt: skip
    summaries = [
        harvest(emu.base_url, out, from_plan=out, shard=f"{k}/2", artifacts=(Artifact.PATHS,))
        for k in (0, 1)
    ]
    assert [s.failed for s in summaries] == [0, 0]
    assert len(app.asked) == 2 and len(app.checked) == 2
    assert sum(len(ids) for ids in app.checked) == 8 - 2  # the others of each shard, once
    body = served(emu.base_url, app.asked[0])
    names = list((out / "images").rglob("*.paths.json"))
    assert all(p.read_bytes() == body for p in names)
    assert len(names) == 8
    assert len({p.stat().st_ino for p in names}) == 1  # (it was 2: one a shard)
    assert names[0].stat().st_nlink == 8
    # Shard 1's every name is a link to shard 0's file: its summary says so (no byte on disk).
    assert summaries[1].linked == summaries[1].done > 0
    assert summaries[1].linked_bytes == summaries[1].bytes
    assert problems(out) == []
    report = collect_status(out)
    assert report.kinds["paths"].bytes == len(body)  # one file's bytes, counted once

    # A copy a run of shard 1 left (killed before its end): its next run, which has work,
    # makes it one with the rest too (one name removed: fetched again).
    mine = [p for p in names if shard_of(int(p.name.split(".")[0]), 2) == 1]
    copy, removed = mine[0], mine[1]
    copy.unlink()
    copy.write_bytes(body)  # (its own file now, as a task of 0.1.23 left it)
    removed.unlink()
    assert len({p.stat().st_ino for p in names if p.exists()}) == 2
    assert problems(out) == [(int(removed.name.split(".")[0]), "missing")]
    again = harvest(emu.base_url, out, from_plan=out, shard="1/2", artifacts=(Artifact.PATHS,))
    assert again.failed == 0 and again.done == 1
    # Its summary counts the one name it stored (a link: no byte on disk), not the earlier
    # run's copy it made one: that run's bytes (it said 0 B on disk for any file it wrote).
    assert (again.linked, again.linked_bytes) == (1, again.bytes)
    assert len({p.stat().st_ino for p in names}) == 1
    assert problems(out) == []


def test_a_shards_copy_is_never_linked_to_a_registered_file_changed_by_hand(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Shard 0's file of the plate's list, registered as the one to link to, is then
    edited by hand: shard 1 keeps its own copy (registered in its place) and writes none
    of shard 0's names (verify still finds them changed); a later shard links to shard
    1's file, never to the edited one."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    assert main(["plan", "--base-url", emu.base_url, "--plate", str(PLATE), "--artifacts",
                 "paths", "--rate", "none", "--out", str(out)]) == 0  # fmt: skip
    assert harvest(emu.base_url, out, from_plan=out, shard="0/3", artifacts=(Artifact.PATHS,))
    first = {p: p.stat().st_ino for p in (out / "images").rglob("*.paths.json")}
    assert len(set(first.values())) == 1, first
    edited = next(iter(first))
    body = edited.read_bytes()
    with open(edited, "r+b") as f:  # same size, other bytes: every name of shard 0's file
        f.write(b"[")
    for k in (1, 2):
        assert (
            harvest(
                emu.base_url, out, from_plan=out, shard=f"{k}/3", artifacts=(Artifact.PATHS,)
            ).failed
            == 0
        )
    names = list((out / "images").rglob("*.paths.json"))
    others = [p for p in names if p not in first]
    assert len(names) == 8 and others
    assert all(p.read_bytes() != body and p.stat().st_ino == first[p] for p in first)
    assert all(p.read_bytes() == body for p in others)
    assert len({p.stat().st_ino for p in others}) == 1  # shard 2's names: links to shard 1's
    assert {p.id for p in verify(out).problems} == {int(p.name.split(".")[0]) for p in first}


def test_status_counts_a_file_once_when_its_first_name_was_removed_and_fetched_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The names written as files of their own removed, verify finds them missing and the
    next harvest makes them links to the names left: every record now says "linked", and
    status still counts each file on disk once (not nothing)."""
    app = CountingApp("demo")
    emu = make_emulator(app=app)
    out = tmp_path / "out"
    harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    images = sorted(int(r) for r in fileset_column(out))
    state = JournalState.load(out)
    firsts = [i for i in images if state.done[("paths", i)].get("linked") is None]
    assert 1 <= len(firsts) < len(images)
    for image_id in firsts:
        paths_file(out, image_id).unlink()
    assert problems(out) == [(i, "missing") for i in firsts]
    again = harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,))
    assert again.failed == 0
    state = JournalState.load(out)
    assert all(state.done[("paths", i)].get("linked") is True for i in images)
    body = served(emu.base_url, images[0])
    inodes = {paths_file(out, i).stat().st_ino for i in images}
    report = collect_status(out)
    assert report.kinds["paths"].bytes == len(body) * len(inodes)
    # (told by the files: the names beyond each file's first)
    assert report.linked == 8 - len(inodes)
    assert report.linked_bytes == (8 - len(inodes)) * len(body)
    assert problems(out) == []


def test_status_tells_names_of_one_file_by_the_files_not_the_marks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """status counts each file's bytes once by what the names are on disk: links without
    the "linked" mark (as 0.1.21 made them) are counted once; a marked name made a file of
    its own (a copy without hard links) counts as a file; a hard link made outside DIR
    changes nothing."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    assert harvest(emu.base_url, out, plates=(PLATE,), artifacts=(Artifact.PATHS,)).failed == 0
    images = sorted(fileset_column(out))
    size = len(paths_file(out, images[0]).read_bytes())
    inodes = {paths_file(out, i).stat().st_ino for i in images}
    assert len(images) == 8 and 1 <= len(inodes) <= 2

    def counted() -> tuple[int, int, int]:
        report = collect_status(out)
        return report.kinds["paths"].bytes, report.linked, report.linked_bytes

    files = len(inodes)
    assert counted() == (size * files, 8 - files, size * (8 - files))
    for journal in (out / "journals").glob("*.jsonl"):  # (as 0.1.21 wrote them)
        journal.write_text(journal.read_text().replace(',"linked":true', ""))
    assert 'linked"' not in "".join(p.read_text() for p in (out / "journals").glob("*.jsonl"))
    assert counted() == (size * files, 8 - files, size * (8 - files))

    (tmp_path / "mine.json").hardlink_to(paths_file(out, images[0]))  # (a user's own link)
    assert counted() == (size * files, 8 - files, size * (8 - files))

    copied = images[-1]  # a name made a file of its own, as rsync without -H does
    data = paths_file(out, copied).read_bytes()
    paths_file(out, copied).unlink()
    paths_file(out, copied).write_bytes(data)
    files = len({paths_file(out, i).stat().st_ino for i in images})
    assert counted() == (size * files, 8 - files, size * (8 - files))
    assert problems(out) == []


def test_a_shard_of_a_split_into_one_registers_shared_files_only_as_a_whole_set_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--shard 0/1`` is the whole set (a split of another count is refused beside it):
    like a run without ``--shard`` it registers in ``locks/same-files.tsv`` the plate's
    one file it linked its names to, not the file of an image of a fileset of its own,
    where it registered every file, as a task of a job array does."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    lone = c.DEMO_NO_ROIS_IMAGE_ID  # (of dataset 51, a fileset of its own)
    summary = harvest(
        emu.base_url, out, plates=(PLATE,), images=(lone,), shard="0/1",
        artifacts=(Artifact.PATHS,),
    )  # fmt: skip
    assert summary.failed == 0 and summary.done == 9
    names = [p for p in (out / "images").rglob("*.paths.json") if p != paths_file(out, lone)]
    assert len(names) == 8 and len({p.stat().st_ino for p in names}) == 1
    register = [
        line for line in (out / "locks" / "same-files.tsv").read_text().splitlines() if line
    ]
    plate_names = {p.relative_to(out).as_posix() for p in names}
    assert len(register) == 1 and register[0].split("\t")[1] in plate_names  # (it was 2)
    assert problems(out) == []


def test_a_failing_one_copy_step_still_ends_the_run_whole(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error while the ending run makes shared files one copy costs only the
    disk space: the run's journal is closed and its lock released (a resume then finds
    everything done and asks for nothing), and the files stay whole."""
    import harvester.onecopy

    def broken(*_args: object) -> tuple[int, int]:
        raise RuntimeError("a bug in the one-copy step")

    monkeypatch.setattr(harvester.onecopy, "one_copy", broken)
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, plates=(PLATE,), shard="0/2", artifacts=(Artifact.PATHS,)
    )  # fmt: skip
    assert summary.failed == 0 and summary.done > 0
    again = harvest(emu.base_url, out, plates=(PLATE,), shard="0/2", artifacts=(Artifact.PATHS,))
    assert again.failed == 0 and again.done == 0 and again.skipped == summary.done
    assert problems(out) == []


def test_the_last_task_of_an_array_to_end_compacts_the_register_to_its_shared_files(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ``filesets`` plate (3 filesets of 16 images) in two shards, in a folder whose
    register holds an earlier array's lines of single-image filesets (a line per image):
    the task that ends while the other runs leaves the register as it is (the other may
    end with a copy of any file); the last to end, alone in DIR, compacts it to the
    plate's 3 files (one line each: the files its images are names of), the 200 files of
    one name no longer read by every task that ends after. Every name stays a name of
    one file per fileset, and verify finds nothing wrong."""
    import harvester.onecopy as onecopy
    from harvester.layout import image_path

    monkeypatch.setattr(onecopy, "COMPACT_FROM", 1)  # (64 KiB: 600 lines of a real folder)
    emu = make_emulator(preset="filesets")
    out = tmp_path / "out"
    assert main(["plan", "--base-url", emu.base_url, "--plate", str(presets.FILESETS_PLATE_ID),
                 "--artifacts", "paths", "--rate", "none", "--out", str(out)]) == 0  # fmt: skip
    register = out / "locks" / onecopy.REGISTER
    singles = []
    for n in range(200):  # (an earlier array's images of filesets of their own)
        rel = image_path(9_000_000 + n, "paths")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"single %d" % n)
        singles.append(f"{hashlib.sha256(b'single %d' % n).hexdigest()}\t{rel}\n")
    register.write_text("".join(singles))

    fd = os.open(out / "locks" / "shard-1-of-2.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # (task 1 of the array, running as task 0 ends)
        first = harvest(emu.base_url, out, from_plan=out, shard="0/2", artifacts=(Artifact.PATHS,))
    finally:
        os.close(fd)
    assert first.failed == 0 and first.done > 0
    lines = register.read_text().splitlines(keepends=True)
    assert lines[:200] == singles and 3 <= len([x for x in lines[200:] if x.strip()]) <= 6

    last = harvest(emu.base_url, out, from_plan=out, shard="1/2", artifacts=(Artifact.PATHS,))
    assert last.failed == 0 and first.done + last.done == 48
    names = list((out / "images").rglob("4*.paths.json"))
    assert len(names) == 48 and len({p.stat().st_ino for p in names}) == 3
    kept = register.read_text().splitlines()
    assert kept[0].startswith("#kept\t") and len(kept) == 4
    files = {(out / line.split("\t")[1]).stat().st_ino for line in kept[1:]}
    assert files == {p.stat().st_ino for p in names}
    assert {(out / line.split("\t")[1]).stat().st_nlink for line in kept[1:]} == {16}
    assert problems(out) == []


def test_a_killed_tasks_copy_is_made_one_by_its_resubmission_with_nothing_left_to_do(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A task killed before its end (its pending file left, its copy of the plate's list
    not made one): its resubmission, with every image done, stores nothing and still makes
    its shard's copy one with the file the other task registered (it waited for a run with
    work left, which never came); its summary counts no byte of the killed run's."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    assert main(["plan", "--base-url", emu.base_url, "--plate", str(PLATE), "--artifacts",
                 "paths", "--rate", "none", "--out", str(out)]) == 0  # fmt: skip
    for k in (0, 1):
        harvest(emu.base_url, out, from_plan=out, shard=f"{k}/2", artifacts=(Artifact.PATHS,))
    names = list((out / "images").rglob("*.paths.json"))
    mine = [p for p in names if shard_of(int(p.name.split(".")[0]), 2) == 1]
    body = mine[0].read_bytes()
    for name in mine:  # (the killed task's copy: its names, one file of their own)
        name.unlink()
    mine[0].write_bytes(body)
    for name in mine[1:]:
        os.link(mine[0], name)
    writer = next(r["writer"] for r in JournalState.load(out).runs if r.get("shard") == "1/2")
    subprocess.run(  # (what a killed task leaves: its pending file, of a process gone)
        [sys.executable, "-c", "import sys, pathlib\nfrom harvester.store import PendingFile\n"
         "PendingFile(pathlib.Path(sys.argv[1]), sys.argv[2])\n", str(out), writer],
        check=True, timeout=60,
    )  # fmt: skip
    assert len({p.stat().st_ino for p in names}) == 2

    again = harvest(emu.base_url, out, from_plan=out, shard="1/2", artifacts=(Artifact.PATHS,))
    assert again.failed == 0 and again.done == 0
    assert (again.linked, again.linked_bytes) == (0, 0)
    assert len({p.stat().st_ino for p in names}) == 1
    assert names[0].stat().st_nlink == 8
    assert problems(out) == []

"""The ``rois`` artifact over the emulator: every page of an image's ROIs, in one file.

Dataset 51 of the demo preset holds image 1884801 (no ROIs), 1884802 (1203: two pages of
the JSON API's 1000) and two images with a few; dataset 52 holds 1884806 (2001: three
pages). The emulator's app is wrapped to count the ROI requests and to fail chosen pages.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import harvest

from harvester.config import parse_artifacts
from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c
from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response
from harvester.emulator.routes_common import text_response
from harvester.index import COLUMNS, IndexRows
from harvester.journal import JournalState
from harvester.layout import image_path
from harvester.models import DEFAULT_ARTIFACTS, Artifact
from harvester.status import collect_status
from harvester.verify import verify

DATASET = 51
DATASET_IMAGES = (1884801, 1884802, 1884803, 1884804)
NONE, MANY, MOST = c.DEMO_NO_ROIS_IMAGE_ID, c.DEMO_MANY_ROIS_IMAGE_ID, c.DEMO_MOST_ROIS_IMAGE_ID


class CountingApp:
    """The demo app; records every ROI request and answers 500 where ``fail`` says."""

    def __init__(self) -> None:
        self.app: App = build_app("demo")
        self.rois: list[str] = []
        self.fail: Callable[[Request], bool] = lambda req: False
        self.status = 500

    def handle(self, req: Request) -> Response:
        if "/rois/" in req.path:
            self.rois.append(req.raw_path)
            if self.fail(req):
                return text_response(self.status, f"<h1>Error ({self.status})</h1>")
        return self.app.handle(req)

    def asked(self, image_id: int) -> list[str]:
        """The ROI requests of one image, in order."""
        return [p for p in self.rois if f"/images/{image_id}/rois/" in p]


@pytest.fixture
def counting(make_emulator: Callable[..., EmulatorThread]) -> tuple[EmulatorThread, CountingApp]:
    app = CountingApp()
    return make_emulator(app=app), app


def rois_file(out: Path, image_id: int) -> Path:
    return out / image_path(image_id, "rois")


def expected_ids(image_id: int) -> list[int]:
    return [r.id for r in c.Catalogue("demo").image_rois(image_id)]


def server_body(base_url: str, image_id: int) -> bytes:
    """What the emulator answers to the harvester's one-page request, read directly."""
    url = f"{base_url}/api/v0/m/images/{image_id}/rois/?offset=0&limit=1000"
    with urllib.request.urlopen(url) as answer:  # noqa: S310 - loopback emulator
        body: bytes = answer.read()
    return body


def read_index(out: Path) -> list[dict[str, str]]:
    text = (out / "index.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_all_includes_rois_and_defaults_do_not() -> None:
    """--artifacts all includes rois, the defaults do not; a list comes back in canonical order."""
    assert Artifact.ROIS in parse_artifacts("all")
    assert Artifact.ROIS not in DEFAULT_ARTIFACTS
    assert parse_artifacts("rois,thumbnail") == (Artifact.THUMBNAIL, Artifact.ROIS)


def test_rois_files_one_page_as_served_pages_merged(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """ROIs are saved as served if one page, merged into one document if more; resumes ask none."""
    emu, app = counting
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,))
    assert summary.failed == 0
    # One request per page: 1 for each one-page image (none included), 2 for 1203 ROIs.
    assert {i: len(app.asked(i)) for i in DATASET_IMAGES} == {
        1884801: 1,
        1884802: 2,
        1884803: 1,
        1884804: 1,
    }
    assert app.asked(MANY) == [
        f"/api/v0/m/images/{MANY}/rois/?offset=0&limit=1000",
        f"/api/v0/m/images/{MANY}/rois/?offset=1000&limit=1000",
    ]
    # No ROIs: the server's empty listing, byte for byte.
    empty = rois_file(out, NONE).read_bytes()
    assert empty == server_body(emu.base_url, NONE)
    assert json.loads(empty)["data"] == [] and json.loads(empty)["meta"]["totalCount"] == 0
    # A few: the one page as served.
    few = rois_file(out, 1884804).read_bytes()
    assert few == server_body(emu.base_url, 1884804)
    assert [r["@id"] for r in json.loads(few)["data"]] == expected_ids(1884804)
    # Two pages: one document, every ROI in the server's order, meta as one page of all.
    merged = json.loads(rois_file(out, MANY).read_bytes())
    assert [r["@id"] for r in merged["data"]] == expected_ids(MANY)
    assert len(merged["data"]) == 1203
    assert merged["meta"] == {"offset": 0, "limit": 1203, "maxLimit": 1000, "totalCount": 1203}
    first = merged["data"][0]
    assert first["@type"] == "http://www.openmicroscopy.org/Schemas/OME/2016-06#ROI"
    assert first["shapes"] and all("TheZ" in s for s in first["shapes"])

    # status counts the kind like any other.
    kinds = collect_status(out).kinds
    assert kinds["rois"].done == 4 and kinds["rois"].failed == 0
    assert kinds["rois"].bytes == sum(rois_file(out, i).stat().st_size for i in DATASET_IMAGES)

    # Resume: everything is done, no ROI request at all.
    app.rois.clear()
    again = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,))
    assert again.failed == 0 and app.rois == []


def test_three_pages(tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]) -> None:
    """A 2001-ROI image is fetched in three pages, saved as one document in the server's order."""
    emu, app = counting
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, images=(MOST,), artifacts=(Artifact.ROIS,))
    assert summary.failed == 0
    assert [p.rsplit("?", 1)[1] for p in app.asked(MOST)] == [
        "offset=0&limit=1000",
        "offset=1000&limit=1000",
        "offset=2000&limit=1000",
    ]
    merged = json.loads(rois_file(out, MOST).read_bytes())
    assert [r["@id"] for r in merged["data"]] == expected_ids(MOST)
    assert merged["meta"]["totalCount"] == 2001


def test_failed_page_fails_the_artifact_and_a_rerun_completes(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """A failing page fails the image's rois with no partial file; a rerun fetches it whole."""
    emu, app = counting
    out = tmp_path / "out"
    app.fail = lambda req: f"/images/{MANY}/" in req.path and req.param("offset") == "1000"
    summary = harvest(
        emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,), max_retries=2
    )
    assert [(f.kind, f.image_id, f.status) for f in summary.failures] == [("rois", MANY, 500)]
    assert not rois_file(out, MANY).exists()  # no partial file
    assert not list(rois_file(out, MANY).parent.glob(f"{MANY}.rois.json*"))
    assert rois_file(out, 1884804).exists()  # the other images are not affected
    asked_pages = [p.rsplit("?", 1)[1] for p in app.asked(MANY)]
    # The first page, the second through its retries; all that again at the run's end
    # (the second chance of a file that failed on a 500: harvester.second_chance).
    first, second = "offset=0&limit=1000", "offset=1000&limit=1000"
    assert asked_pages == [first, second, second, second] * 2

    app.fail = lambda req: False
    app.rois.clear()
    rerun = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,))
    assert rerun.failed == 0
    assert [r["@id"] for r in json.loads(rois_file(out, MANY).read_bytes())["data"]] == (
        expected_ids(MANY)
    )
    assert {p.split("/rois/")[0] for p in app.rois} == {f"/api/v0/m/images/{MANY}"}
    assert len(app.rois) == 2


def test_verify_flags_a_damaged_rois_file_and_the_next_harvest_refetches_it(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """verify flags a truncated rois file and the next harvest refetches exactly that image."""
    emu, app = counting
    out = tmp_path / "out"
    harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,))
    damaged = rois_file(out, MANY)
    good = damaged.read_bytes()
    damaged.write_bytes(good[: len(good) // 2])
    report = verify(out)
    assert [(p.kind, p.id) for p in report.damaged] == [("rois", MANY)]
    app.rois.clear()
    summary = harvest(emu.base_url, out, datasets=(DATASET,), artifacts=(Artifact.ROIS,))
    assert summary.failed == 0
    assert damaged.read_bytes() == good
    assert len(app.rois) == 2 and all(f"/images/{MANY}/" in p for p in app.rois)
    assert verify(out).damaged == []


def test_index_has_rois_columns_only_in_folders_with_rois(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """index.csv has rois_path and roi_count columns only in folders harvested with rois."""
    emu, _ = counting
    plain, with_rois = tmp_path / "plain", tmp_path / "rois"
    harvest(emu.base_url, plain, datasets=(DATASET,), artifacts=(Artifact.THUMBNAIL,))
    header = (plain / "index.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[: len(COLUMNS)] == list(COLUMNS) and "rois_path" not in header

    harvest(
        emu.base_url,
        with_rois,
        datasets=(DATASET,),
        artifacts=(Artifact.THUMBNAIL, Artifact.ROIS),
    )
    rows = {int(r["image_id"]): r for r in read_index(with_rois)}
    assert rows[MANY]["rois_path"] == image_path(MANY, "rois")
    assert rows[NONE]["rois_path"] == image_path(NONE, "rois")
    header = (with_rois / "index.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    at = len(COLUMNS)
    assert header[:at] == list(COLUMNS) and header[at : at + 2] == ["rois_path", "roi_count"]
    counts = {i: rows[i]["roi_count"] for i in DATASET_IMAGES}  # from the done records
    want = {i: str(len(expected_ids(i))) for i in DATASET_IMAGES}
    assert counts == want


def test_label_columns_follow_the_rois_columns(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """With label keys, ``label``/``label_id`` come after every fixed column (rois' too),
    before the annotation columns."""
    emu, _ = counting
    out = tmp_path / "labelled"
    harvest(
        emu.base_url,
        out,
        datasets=(DATASET,),
        artifacts=(Artifact.THUMBNAIL, Artifact.ROIS),
        label_keys=("Gene Symbol",),
    )
    header = (out / "index.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    at = len(COLUMNS)
    assert header[at : at + 4] == ["rois_path", "roi_count", "label", "label_id"]


def test_index_roi_count_comes_from_the_done_record() -> None:
    """The count column reads the record's ``roi_count``; empty when a record lacks it."""

    def done(kind: str, image_id: int, **extra: int) -> dict[str, object]:
        rec: dict[str, object] = {"rec": "done", "kind": kind, "id": image_id}
        rec.update(path=image_path(image_id, kind), size=2, sha256="0" * 64, t=1.0, run="r")
        rec.update(extra)
        return rec

    state = JournalState.from_records(
        [done("thumbnail", 1), done("rois", 2, roi_count=7), done("rois", 3)]
    )
    rows = IndexRows(state)
    at = len(COLUMNS)
    assert rows.header[at:] == ["rois_path", "roi_count"] and rows.fixed == at + 2
    cells = {int(row[0]): row[at:] for row in rows}
    assert cells == {1: ["", ""], 2: [image_path(2, "rois"), "7"], 3: [image_path(3, "rois"), ""]}
    plain = IndexRows(JournalState.from_records([done("thumbnail", 1)]))
    assert plain.header == list(COLUMNS) and plain.fixed == at


def test_a_server_without_rois_is_not_asked_for_every_image(
    tmp_path: Path, counting: tuple[EmulatorThread, CountingApp]
) -> None:
    """An OMERO.web without the ROI listing (404 every time): the give-up rule stops
    asking after ``give_up_after`` images in a row, as for the other kinds."""
    emu, app = counting
    app.fail, app.status = (lambda req: True), 404
    summary = harvest(
        emu.base_url,
        tmp_path / "out",
        screens=(c.DEMO_SCREEN_ID,),
        artifacts=(Artifact.ROIS,),
        give_up_after=3,
    )
    asked = {p.split("/rois/")[0] for p in app.rois}
    assert len(asked) == len(app.rois)  # a 404 is not asked again
    assert 3 <= len(asked) < c.DEMO_SCREEN_IMAGE_COUNT
    assert "rois" in summary.given_up
    assert summary.not_requested["rois"] == c.DEMO_SCREEN_IMAGE_COUNT - summary.failed
    assert not list((tmp_path / "out").rglob("*.rois.json"))

"""The harvester asks IDR for the same thing once: counted by the emulator over sockets.

IDR is a shared public server, so a request sent twice for the same answer is a cost paid
by everyone. Two places did so:

* a time series harvested with both ``metadata`` and ``stack`` asked the JSON API image
  (``api/v0/m/images/{id}/``) twice: once for the metadata artifact, once for the stack's
  OME-XML ``TimeIncrement`` (imgData does not carry it);
* a ``--sample N`` resumed without a plan asked every page's map annotations again to
  recompute the sample, although labels do not decide a sample and the sampled images'
  labels are journaled.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tifffile
from harvest_helpers import DEMO_PROJECT, DEMO_SCREEN, harvest
from hiding_app import HidingApp

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import (
    TIMESERIES_PROJECT_ID,
    TIMESERIES_SIZE_T,
    ZSTACK_PROJECT_ID,
    ZSTACK_SIZE_Z,
)

Factory = Callable[..., EmulatorThread]
#: Three images per preset (catalogue_presets: 1400001-1400003, 1300001-1300003).
IMAGES = 3
#: Planes per image: timeseries 3 z x 20 t x 1 channel; zstack 12 z x 2 channels.
TIMESERIES_PLANES = 3 * TIMESERIES_SIZE_T
ZSTACK_PLANES = ZSTACK_SIZE_Z * 2


def _count(stats: dict[str, Any], route: str) -> int:
    """Requests the emulator answered on ``route`` (every status)."""
    return sum((stats["by_route"].get(route) or {}).values())


def _files(out: Path, suffix: str) -> dict[str, str]:
    """Image files ending in ``suffix`` under DIR/images: name -> sha256."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "images").rglob(f"*{suffix}"))
    }


def _time_increments(out: Path) -> list[str]:
    """The OME-XML TimeIncrement of each stack (empty string when it has none)."""
    found = []
    for path in sorted((out / "images").rglob("*.stack.ome.tif")):
        with tifffile.TiffFile(path) as tif:
            xml = tif.ome_metadata or ""
        match = re.search(r'TimeIncrement="([^"]+)"', xml)
        found.append(match.group(1) if match else "")
    return found


@pytest.mark.parametrize(
    ("preset", "project", "planes", "increment"),
    [
        ("timeseries", TIMESERIES_PROJECT_ID, TIMESERIES_PLANES, "30.0"),
        ("zstack", ZSTACK_PROJECT_ID, ZSTACK_PLANES, ""),
    ],
)
def test_metadata_and_stack_ask_the_json_api_once_per_image(
    tmp_path: Path,
    make_emulator: Factory,
    preset: str,
    project: int,
    planes: int,
    increment: str,
) -> None:
    """metadata+stack: one JSON API image request per image, same bytes as each kind alone."""
    emu = make_emulator(preset=preset)
    both = tmp_path / "both"
    assert harvest(emu.base_url, both, projects=(project,),
                   artifacts=("metadata", "stack")).exit_code == 0  # fmt: skip
    stats = emu.stats()
    assert _count(stats, "api_image") == IMAGES
    assert _count(stats, "image:imgdata") == IMAGES
    assert _count(stats, "options") == 1  # the render limits, asked once per run
    assert _count(stats, "image:render") == IMAGES * planes
    assert len(_files(both, ".metadata.json")) == IMAGES
    assert _time_increments(both) == [increment] * IMAGES
    # Each kind alone (the stack then asks the JSON API itself) gives the very same files.
    alone: dict[str, str] = {}
    for kind in ("metadata", "stack"):
        out = tmp_path / kind
        assert harvest(emu.base_url, out, projects=(project,), artifacts=(kind,)).exit_code == 0
        alone.update(_files(out, f".{kind}.json" if kind == "metadata" else ".stack.ome.tif"))
    assert _files(both, ".metadata.json") | _files(both, ".stack.ome.tif") == alone


def test_stack_added_later_reads_the_stored_metadata(
    tmp_path: Path, make_emulator: Factory
) -> None:
    """A stack added to a folder whose metadata is stored sends no JSON API request."""
    emu = make_emulator(preset="timeseries")
    out = tmp_path / "out"
    assert harvest(emu.base_url, out, projects=(TIMESERIES_PROJECT_ID,),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    before = _files(out, ".metadata.json")
    emu.reset_stats()
    assert harvest(emu.base_url, out, projects=(TIMESERIES_PROJECT_ID,),
                   artifacts=("metadata", "stack")).exit_code == 0  # fmt: skip
    stats = emu.stats()
    assert _count(stats, "api_image") == 0
    assert _count(stats, "image:render") == IMAGES * TIMESERIES_PLANES
    assert _files(out, ".metadata.json") == before
    assert _time_increments(out) == ["30.0"] * IMAGES


def test_metadata_failing_for_good_is_not_asked_again_for_the_stack(
    tmp_path: Path, make_emulator: Factory
) -> None:
    """The JSON API image failing after its retries is not asked once more by the stack
    (only by the metadata's own second chance at the run's end)."""
    emu = make_emulator(preset="timeseries", faults="500:100%,only:api_image")
    out = tmp_path / "out"
    summary = harvest(emu.base_url, out, projects=(TIMESERIES_PROJECT_ID,),
                      artifacts=("metadata", "stack"), max_retries=1)  # fmt: skip
    assert summary.exit_code == 1  # the metadata failed
    # One try and one retry each, and both again at the run's end: never by the stack.
    assert _count(emu.stats(), "api_image") == IMAGES * 2 * 2
    assert _files(out, ".metadata.json") == {}
    assert _time_increments(out) == [""] * IMAGES  # stored, without the unknown increment


# --------------------------------------------------------------------------- --sample resumed
#: Demo screen and project: 88 images; the sample of 10 (seed 0) holds images of both.
SAMPLE = 10
#: Catalogue changes: (targets, sample size, an image of the seed-0 sample, the image next in
#: line). Project 51 alone: images 1884801-1884808 in datasets 51 (801-804) and 52 (805-808);
#: its sample of 3 is 803, 804, 806, without 804 it is 802, 803, 806 (image annotations).
#: Screen and project: without 9762963 (plate 7375) the sample of 10 takes 9762944, an image of
#: plate 7370 whose well holds no other sampled image (well annotations).
PROJECT_ONLY = ({"projects": (DEMO_PROJECT,)}, 3, 1884804, 1884802)
SCREEN_TOO = ({"screens": (DEMO_SCREEN,), "projects": (DEMO_PROJECT,)}, SAMPLE, 9762963, 9762944)


def _rows(out: Path) -> dict[str, dict[str, str]]:
    """index.csv (written again by ``harvester index``): image id -> its non-empty cells."""
    assert main(["index", str(out)]) == 0
    with (out / "index.csv").open(newline="") as handle:
        return {r["image_id"]: {k: v for k, v in r.items() if v} for r in csv.DictReader(handle)}


def _annotations(emu: EmulatorThread) -> int:
    return _count(emu.stats(), "webclient_api_annotations")


def test_sampled_shards_resumed_ask_no_annotations(tmp_path: Path, make_emulator: Factory) -> None:
    """Shards of a --sample rerun without a plan: no annotation or image request, same files."""
    emu = make_emulator(preset="demo")
    targets: dict[str, Any] = {
        "screens": (DEMO_SCREEN,),
        "projects": (DEMO_PROJECT,),
        "artifacts": ("thumbnail",),
        "sample": SAMPLE,
        "seed": 0,
    }
    whole = tmp_path / "whole"
    assert harvest(emu.base_url, whole, **targets).exit_code == 0
    out = tmp_path / "shards"
    for k in range(2):
        assert harvest(emu.base_url, out, shard=f"{k}/2", **targets).exit_code == 0
    first = _files(out, ".thumbnail.jpg")
    assert first == _files(whole, ".thumbnail.jpg")  # the shards fetched the one sample
    assert len(first) == SAMPLE
    for k in range(2):
        emu.reset_stats()
        summary = harvest(emu.base_url, out, shard=f"{k}/2", **targets)
        assert summary.exit_code == 0
        stats = emu.stats()
        assert _annotations(emu) == 0
        assert stats["image_requests"] == 0
        assert "selected" in summary.selection
    assert _files(out, ".thumbnail.jpg") == first
    assert _rows(out) == _rows(whole)  # the same labels as one process asked for


@pytest.mark.parametrize(
    ("case", "gone_first"),
    [(PROJECT_ONLY, False), (PROJECT_ONLY, True), (SCREEN_TOO, False)],
    ids=["dataset-image-removed", "dataset-image-added", "well-image-removed"],
)
def test_sample_resumed_after_the_catalogue_changed(
    tmp_path: Path,
    make_emulator: Factory,
    case: tuple[dict[str, Any], int, int, int],
    gone_first: bool,
) -> None:
    """A sample rerun over a catalogue that lost (or gained) a sampled image is a fresh sample."""
    targets, size, sampled, next_in_line = case
    app = HidingApp()
    emu = make_emulator(app=app)
    values: dict[str, Any] = {**targets, "artifacts": ("thumbnail",), "sample": size, "seed": 0}
    out = tmp_path / "out"
    app.hidden = {sampled} if gone_first else set()
    assert harvest(emu.base_url, out, **values).exit_code == 0
    app.hidden = set() if gone_first else {sampled}
    emu.reset_stats()
    assert harvest(emu.base_url, out, **values).exit_code == 0
    # Removed: the image next in line, beyond the recorded edge, gets its labels (1 request).
    # Added: it is below the edge, so its dataset's page is asked as in a first run (1 request).
    # A dataset's listing changed: its study files are saved again, its images' annotations
    # with them (1 more; a plate's wells.json is not compared: README, study files).
    assert _annotations(emu) == (1 if case is SCREEN_TOO else 2)
    assert emu.stats()["image_requests"] == 1
    fresh = tmp_path / "fresh"
    assert harvest(emu.base_url, fresh, **values).exit_code == 0
    rows, expected = _rows(out), _rows(fresh)
    assert str(sampled if gone_first else next_in_line) in expected
    assert {i: rows[i] for i in expected} == expected  # same images, same labels
    assert set(_files(out, ".thumbnail.jpg")) == {f"{i}.thumbnail.jpg" for i in rows}

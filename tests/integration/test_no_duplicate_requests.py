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

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tifffile
from harvest_helpers import harvest

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

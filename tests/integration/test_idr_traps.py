"""IDR traps harvested end to end against the emulator (idr-api.md §14.8, §14.9, §2.1).

* IDR's id spaces are independent: screen 51 is idr0003, project 51 is idr0021, and a well
  and an image can share an id. ``annotations/?well=N`` and ``?image=N`` then name
  different objects, so a client asking one kind's annotations with the other's parameter,
  or matching them to objects by id alone, gives one study's genes to the other's images,
  without an error (``idclash`` preset).
* The JSON API's ``url:*`` links are absolute to the server's configured address (IDR's
  ``omero.web.api.absolute_url`` names production whatever host was asked): a client
  following them leaves the server it was given. Here they point at a refused port.
* OMERO.web runs under gunicorn, which refuses a request line over 4094 bytes with a 400
  before Django sees it: the ids of a plate's wells asked for labels in one query
  (``annotations/?well=..&well=..``) must be split into batches that each fit.
  So must a render of an image of a few hundred channels, each listed in ``c=``.
* IDR's image-region service renders at most 10 active channels per request (400 ``Too
  many active channels``): an image saved with more cannot be rendered as saved, which
  no plane size, nor a rerun, changes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
import tifffile
from harvest_helpers import DEMO_PROJECT, run_cli
from PIL import Image

from harvester.emulator import EmulatorThread, catalogue_presets
from harvester.emulator.catalogue import PLATE384_PLATE_ID, PLATE384_SCREEN_ID, Catalogue
from harvester.emulator.catalogue_presets import (
    CHANNELS_FEW_ACTIVE,
    CHANNELS_FEW_ACTIVE_IMAGE_ID,
    CHANNELS_IMAGE_ID,
    CHANNELS_PROJECT_ID,
)

CLASH_ID = 51  # screen, plate, project and dataset of ``idclash``
CLASH_WELLS = range(2_400_001, 2_400_005)  # the screen's well ids = the project's image ids


#: The ``channels`` preset's channel colours, in turn.
_HUES = ("FF0000", "00FF00", "0000FF", "FF00FF", "FFFF00", "00FFFF")


def _index(out: Path) -> dict[int, dict[str, str]]:
    """index.csv rows by image id."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        return {int(row["image_id"]): row for row in csv.DictReader(f)}


def _gene(annotations: list[object]) -> str:
    """The Gene Symbol among emulated map annotations."""
    (symbol,) = [v for a in annotations for k, v in a.values if k == "Gene Symbol"]  # type: ignore[attr-defined]
    return str(symbol)


def test_colliding_ids_keep_each_study_its_own_labels(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Screen 51 and project 51 harvested together: each screen image carries its well's
    gene, each project image (whose id is a well id) its own, never the other's; exit 0."""
    emu = make_emulator(preset="idclash")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(CLASH_ID), "--project",
        str(CLASH_ID), "--artifacts", "imgdata", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = _index(out)
    catalogue = Catalogue("idclash")
    assert len(rows) == 2 * len(CLASH_WELLS)
    wells_seen = set()
    for image_id, row in rows.items():
        if row["screen_id"]:  # a screen image: its well's annotations
            assert row["screen_id"] == str(CLASH_ID) and row["project_id"] == ""
            well_id = int(row["well_id"])
            wells_seen.add(well_id)
            assert row["Gene Symbol"] == _gene(catalogue.well_annotations(well_id)), image_id
        else:  # a project image whose id is also a well's: its own annotations
            assert row["project_id"] == str(CLASH_ID) and image_id in CLASH_WELLS
            assert row["Gene Symbol"] == _gene(catalogue.image_annotations(image_id)), image_id
    assert wells_seen == set(CLASH_WELLS)
    # The two studies' genes differ on every shared id: a mix-up could not pass unseen.
    for shared in CLASH_WELLS:
        assert _gene(catalogue.well_annotations(shared)) != _gene(
            catalogue.image_annotations(shared)
        )


def test_absolute_api_links_to_another_host_are_never_followed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], refused_url: str
) -> None:
    """Every url:* link names a refused port (as IDR's name production): a harvest of a
    project with every artifact, ROIs included, still gets every file; exit 0."""
    emu = make_emulator(preset="demo", api_base_url=refused_url)
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT), "--artifacts",
        "all", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "failed 0" in proc.stdout
    assert len(_index(out)) == 8
    assert refused_url not in proc.stdout + proc.stderr


def test_imgdata_busy_answers_are_waited_out(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Three imgData answers are OMERO's 200 ConcurrencyException (the emulator's concurrency
    fault): the run retries them after backOff and stores only real imgData; exit 0."""
    emu = make_emulator(preset="demo", faults="first:concurrency*3,only:image:imgdata")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT), "--artifacts",
        "imgdata", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 retries" in proc.stdout, proc.stdout
    stored = sorted(out.rglob("*.imgdata.json"))
    assert len(stored) == 8
    assert all(b'"size": {' in p.read_bytes() for p in stored)
    assert b"ConcurrencyException" not in b"".join(p.read_bytes() for p in stored)
    assert emu.stats()["faults"] == {"concurrency": 3}


def test_labels_of_384_wells_are_asked_in_requests_gunicorn_takes(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A 384-well plate's labels (its well ids in one query: a 5,041-byte request line, over
    gunicorn's 4094) come in batches the emulator answers, never its 400: every image is
    indexed with its well's gene; exit 0."""
    emu = make_emulator(preset="plate384")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(PLATE384_SCREEN_ID),
        "--artifacts", "imgdata", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_route = emu.stats()["by_route"]
    assert "request_line" not in by_route, by_route
    # The screen's annotations, then its 384 wells' in two batches (200 + 184).
    assert by_route["webclient_api_annotations"] == {"200": 3}
    rows = _index(out)
    catalogue = Catalogue("plate384")
    wells = catalogue.wells(PLATE384_PLATE_ID)
    assert len(rows) == len(wells) == 384
    for row in rows.values():
        assert row["Gene Symbol"] == _gene(catalogue.well_annotations(int(row["well_id"])))


def test_render_over_the_active_channel_limit_is_said_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An image saved with 12 active channels: IDR's image-region service refuses its render
    (400, asked once); the harvest and status say why and point at the stack, not at
    max_plane; the image with 3 active channels is rendered; exit 1."""
    emu = make_emulator(preset="channels", mode="microservice")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--project", str(CHANNELS_PROJECT_ID),
        "--artifacts", "render", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    hint = (
        "hint: the server renders only so many active channels at once (IDR's image-region "
        "service: 10) and these images' saved settings have more: --artifacts stack has every "
        "channel (asked one at a time)"
    )
    lines = proc.stderr.splitlines()
    assert hint in lines, proc.stderr
    assert "max_plane" not in proc.stderr
    (failed,) = [line for line in lines if line.startswith("failed: ")]
    assert failed.startswith(
        f"failed: render of image {CHANNELS_IMAGE_ID}: HTTP 400 Bad Request: Too many active "
        "channels. Cannot process more than 10 per request <"
    )
    assert any(line.startswith("a rerun would get the same answers") for line in lines)
    assert emu.stats()["by_route"]["image:render"] == {"200": 1, "400": 1}
    renders = [p.name for p in out.rglob("*") if p.suffix in (".png", ".jpg")]
    assert len(renders) == 1 and str(CHANNELS_FEW_ACTIVE_IMAGE_ID) in renders[0], renders
    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert hint in status.stdout.splitlines() and "max_plane" not in status.stdout


def test_an_image_of_many_channels_is_rendered_within_the_request_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image of 250 channels (3 active): every channel in ``c=`` made render and stack
    URLs over gunicorn's 4094 bytes (400, and a hint to set max_plane); now both are asked
    within it, exit 0, the render is the picture every channel listed gives, and the
    stack's planes are the server's, channel by channel."""
    monkeypatch.setattr(catalogue_presets, "CHANNELS_SIZE_C", 250)
    emu = make_emulator(preset="channels")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--image", str(CHANNELS_FEW_ACTIVE_IMAGE_ID),
        "--artifacts", "render,stack", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "request_line" not in emu.stats()["by_route"]
    image = CHANNELS_FEW_ACTIVE_IMAGE_ID
    folder = out / "images" / f"{image // 1_000_000:03d}" / f"{image // 1000 % 1000:03d}"
    # The same render asked of a server without gunicorn's limit, every channel listed.
    unlimited = make_emulator(preset="channels", request_line_limit=0)
    every = ",".join(
        f"{'' if c < CHANNELS_FEW_ACTIVE else '-'}{c + 1}%7C0:200${_HUES[c % len(_HUES)]}"
        for c in range(250)
    )
    with httpx.Client(base_url=unlimited.base_url, timeout=30) as client:
        full = client.get(f"/webgateway/render_image/{image}/0/0/?c={every}&m=c&q=0.9")
    assert full.status_code == 200
    assert (folder / f"{image}.render.jpg").read_bytes() == full.content
    stack = tifffile.imread(folder / f"{image}.stack.ome.tif")
    assert stack.shape == (250, 64, 96)  # (T and Z of 1 squeezed out)
    with httpx.Client(base_url=unlimited.base_url, timeout=30) as client:
        for channel in (0, 1, 249):
            grey = ",".join(
                f"{c + 1}%7C0:200$FFFFFF"
                if c == channel
                else f"-{c + 1}%7C0:200${_HUES[c % len(_HUES)]}"
                for c in range(250)
            )
            plane = client.get(
                f"/webgateway/render_image/{image}/0/0/?c={grey}&m=g&format=png&q=1.0"
            )
            assert plane.status_code == 200
            expected = np.asarray(Image.open(io.BytesIO(plane.content)).convert("L"))
            assert np.array_equal(stack[channel], expected)
    assert not np.array_equal(stack[0], stack[1])


def test_a_render_whose_active_channels_alone_are_too_long_is_said_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image of 300 channels, 280 of them active: its render's URL is over gunicorn's
    request line even with the active channels alone (400); the hint says so and points at
    the stack (which is harvested), not at max_plane; exit 1."""
    monkeypatch.setattr(catalogue_presets, "CHANNELS_SIZE_C", 300)
    monkeypatch.setattr(catalogue_presets, "CHANNELS_FEW_ACTIVE", 280)
    emu = make_emulator(preset="channels")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--image", str(CHANNELS_FEW_ACTIVE_IMAGE_ID),
        "--artifacts", "render,stack", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert emu.stats()["by_route"]["request_line"] == {"400": 1}
    hint = (
        "hint: the server refused the request as too long (over gunicorn's 4094-byte request "
        "line: every active channel is listed in it): --artifacts stack has every channel "
        "(asked one at a time)"
    )
    assert hint in proc.stderr.splitlines(), proc.stderr[-3000:]
    assert "max_plane" not in proc.stderr
    image = CHANNELS_FEW_ACTIVE_IMAGE_ID
    folder = out / "images" / f"{image // 1_000_000:03d}" / f"{image // 1000 % 1000:03d}"
    assert tifffile.imread(folder / f"{image}.stack.ome.tif").shape == (300, 64, 96)


def test_a_failed_render_of_many_channels_shows_its_url_shortened(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render URL of 280 active channels (over 4 KB) that failed: the harvest's ``failed:``
    line and status's failure line show its path and the ends of its query around the
    length cut, a few hundred characters; status --json keeps it whole for a rerun."""
    monkeypatch.setattr(catalogue_presets, "CHANNELS_SIZE_C", 300)
    monkeypatch.setattr(catalogue_presets, "CHANNELS_FEW_ACTIVE", 280)
    emu = make_emulator(preset="channels")
    out = tmp_path / "out"
    image = CHANNELS_FEW_ACTIVE_IMAGE_ID
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--image", str(image),
        "--artifacts", "render", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    status = run_cli("status", str(out), "--json")
    assert status.returncode == 0, status.stderr
    (record,) = json.loads(status.stdout)["failures"]
    whole = record["url"]
    assert len(whole) > 4094 and f"/webgateway/render_image/{image}/0/0/?c=" in whole
    path, query = whole.split("?", 1)
    shown = f"<{path}?{query[:160]}…({len(query) - 220:,} characters cut)…{query[-60:]}>"
    (failed,) = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert failed.startswith(f"failed: render of image {image}: HTTP 400 ")
    assert failed.endswith(shown) and len(failed) < 600, failed
    text = run_cli("status", str(out))
    assert text.returncode == 0, text.stderr
    (listed,) = [line for line in text.stdout.splitlines() if line.endswith(shown)]
    assert listed.startswith(f"  render {image}: HTTP 400 ") and len(listed) < 600, listed

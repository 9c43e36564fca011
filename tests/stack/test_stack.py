"""The stack artifact end to end against the emulator over loopback sockets.

Each test harvests one image with a real Client, reads the OME-TIFF back with
tifffile and compares it with the emulator's ground-truth rendering
(``render.render_plane``): exactly for PNG (microservice), within JPEG
tolerance for JPEG (omero-web mode).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import tifffile
import xmlschema
from PIL import Image
from stack_support import DirStore, silent_flip

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import (
    DEMO_IMAGE_ID,
    TILED_OVER_IMAGE_ID,
    TILED_OVER_LEVELS,
    TILED_SMALL_IMAGE_ID,
    TIMESERIES_SIZE_T,
    ZSTACK_SIZE_Z,
)
from harvester.emulator.http import Response
from harvester.emulator.pixels import pixel_range
from harvester.emulator.render import render_plane
from harvester.emulator.server import corrupted
from harvester.models import ImageRef
from harvester.ometiff import OME_XSD
from harvester.retry import zero_waits
from harvester.stack import ASSEMBLY_NAME, RenderLimits, harvest_stack
from harvester.window import choose_windows

ZSTACK_IMAGE_ID = 1_300_001
TIMESERIES_IMAGE_ID = 1_400_001
SINGLE_PLANE_IMAGE_ID = 3_200_001  # bigproject: 64 x 48, one channel, no pixel size
JPEG_TOLERANCE = 12  # max abs difference of a q=1.0 JPEG render, grey values
Factory = Callable[..., EmulatorThread]


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    """The OME 2016-06 schema shipped in the package."""
    return xmlschema.XMLSchema(str(OME_XSD))


async def _harvest(
    emu: EmulatorThread, image_id: int, out: Path, window: str = "rendering", **kwargs: Any
) -> tuple[Path, dict[str, Any]]:
    """Harvest one stack into ``out``; return the file and the imgData used."""
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    store = DirStore(out)
    with anyio.fail_after(120):
        async with Client(settings) as client:
            fetched = await client.get(f"webgateway/imgData/{image_id}/", Expect.JSON)
            imgdata = fetched.json()
            await harvest_stack(
                client, store, ImageRef(image_id), imgdata, window=window, out_dir=out, **kwargs
            )
    assert len(store.done) == 1
    kind, object_id, rel_path = store.done[0]
    assert (kind, object_id) == ("stack", image_id)
    assert not (out / "staging" / str(image_id)).exists()
    return out / rel_path, imgdata


def _expected_windows(image: Any, window: str) -> list[tuple[float, float]]:
    """Each channel's window straight from the emulator's catalogue (not from imgData)."""
    if window == "rendering":
        return [(ch.start, ch.end) for ch in image.channels]
    if window == "minmax":
        return [(ch.window_min, ch.window_max) for ch in image.channels]
    assert window == "full"
    return [pixel_range(image.pixel_type)] * image.size_c


def _c_spec(image: Any, window: str, active: int) -> str:
    """A ``c=`` string written here from the catalogue: only ``active`` on, every window."""
    parts = []
    for k, (start, end) in enumerate(_expected_windows(image, window)):
        if k == active:
            parts.append(f"{k + 1}|{start!r}:{end!r}$FFFFFF")
        else:
            parts.append(f"-{k + 1}|{start!r}:{end!r}${image.channels[k].color}")
    return ",".join(parts)


def _truth(emu: EmulatorThread, imgdata: dict[str, Any], window: str) -> np.ndarray:
    """Ground truth TZCYX from the emulator's renderer and catalogue alone.

    The windows come from the catalogue's ChannelInfo (start/end, window_min/max)
    or the pixel type's range, so a harvester misreading imgData cannot agree
    with itself here.
    """
    image = emu.app.site.catalogue.image(int(imgdata["id"]))  # type: ignore[attr-defined]
    truth = np.zeros(
        (image.size_t, image.size_z, image.size_c, image.size_y, image.size_x), dtype=np.uint8
    )
    for t in range(image.size_t):
        for z in range(image.size_z):
            for c in range(image.size_c):
                rgb = render_plane(image, z, t, _c_spec(image, window, c), "g")
                truth[t, z, c] = rgb[:, :, 0]
    return truth


def _unsqueezed(tif: tifffile.TiffFile) -> tuple[Any, str, tuple[int, ...]]:
    """The first series with its singleton dimensions kept: the series, its axes, its shape.

    tifffile 2026.5.2 removed a series' two states (``get_axes(False)``,
    ``get_shape(False)``): an unsqueezed series is asked for as such
    (``tif.series(squeeze=False)``). Python 3.12+ installs get that tifffile, 3.11 an
    older one, so the tests read the file either way.
    """
    if callable(tif.series):
        series = tif.series(squeeze=False)[0]
        return series, series.axes, series.shape
    series = tif.series[0]
    return series, series.get_axes(False), series.get_shape(False)


def _read(path: Path) -> tuple[np.ndarray, str, dict[str, Any], int]:
    """Data (TZCYX, singletons kept), axes, parsed OME-XML and number of levels."""
    with tifffile.TiffFile(path) as tif:
        series, axes, _shape = _unsqueezed(tif)
        data = tif.asarray(squeeze=False)
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
        if axes.endswith("S"):  # one sample per pixel: drop tifffile's samples axis
            data, axes = data[..., 0], axes[:-1]
        return data, axes, ome, len(series.levels)


def _check_metadata(ome: dict[str, Any], imgdata: dict[str, Any], window: str, fmt: str) -> None:
    pixels = ome["Image"]["Pixels"]
    size = imgdata["size"]
    assert (
        pixels["SizeX"],
        pixels["SizeY"],
        pixels["SizeZ"],
        pixels["SizeC"],
        pixels["SizeT"],
    ) == (size["width"], size["height"], size["z"], size["c"], size["t"])
    assert pixels["DimensionOrder"] == "XYCZT" and pixels["Type"] == "uint8"
    for axis in ("x", "y", "z"):
        expected = imgdata["pixel_size"].get(axis)
        if expected:
            assert pixels[f"PhysicalSize{axis.upper()}"] == pytest.approx(expected)
            assert pixels[f"PhysicalSize{axis.upper()}Unit"] == "µm"
    channels = pixels["Channel"] if isinstance(pixels["Channel"], list) else [pixels["Channel"]]
    assert [c["Name"] for c in channels] == [c["label"] for c in imgdata["channels"]]
    description = ome["Image"]["Description"]
    assert "not raw data" in description and f"window '{window}'" in description
    pairs = {
        m["K"]: m["value"] for m in ome["StructuredAnnotations"]["MapAnnotation"]["Value"]["M"]
    }
    assert pairs["format"] == fmt and pairs["window_mode"] == window
    for k, w in enumerate(choose_windows(imgdata, window)):
        assert pairs[f"window.c{k}"] == f"{w.text.replace(':', '..')}"


async def test_zstack_png_exact(
    make_emulator: Factory, tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    """A z-stack from the microservice is TZCYX uint8 equal to the ground truth, XML valid."""
    emu = make_emulator(preset="zstack", mode="microservice")
    path, imgdata = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "out")
    data, axes, ome, _ = _read(path)
    assert axes == "TZCYX" and data.dtype == np.uint8
    assert data.shape == (1, ZSTACK_SIZE_Z, 2, 256, 256)
    assert (data == _truth(emu, imgdata, "rendering")).all()
    _check_metadata(ome, imgdata, "rendering", "png")
    with tifffile.TiffFile(path) as tif:
        schema.validate(tif.ome_metadata)


async def test_resolution_tags_from_the_pixel_size(make_emulator: Factory, tmp_path: Path) -> None:
    """The z-stack's 0.1 µm pixels are 100,000 per cm in every page's TIFF tags (PIL reads them)."""
    emu = make_emulator(preset="zstack", mode="microservice")
    path, imgdata = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "out")
    assert (imgdata["pixel_size"]["x"], imgdata["pixel_size"]["y"]) == (0.1, 0.1)
    with tifffile.TiffFile(path) as tif:
        tags = {(page.resolution, page.resolutionunit) for page in tif.pages}
        assert len(tif.pages) == ZSTACK_SIZE_Z * 2
    assert tags == {((100000.0, 100000.0), tifffile.RESUNIT.CENTIMETER)}
    with Image.open(path) as plain:  # a reader that never looks at the OME-XML
        assert plain.info["dpi"] == pytest.approx((254000.0, 254000.0))


async def test_timeseries_png_exact(
    make_emulator: Factory, tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    """A time series keeps every t and z, window `full` per channel, TimeIncrement from the API."""
    emu = make_emulator(preset="timeseries", mode="microservice")
    path, imgdata = await _harvest(emu, TIMESERIES_IMAGE_ID, tmp_path / "out", window="full")
    data, axes, ome, _ = _read(path)
    assert data.shape == (TIMESERIES_SIZE_T, 3, 1, 128, 128)
    assert (data == _truth(emu, imgdata, "full")).all()
    _check_metadata(ome, imgdata, "full", "png")
    pixels = ome["Image"]["Pixels"]
    assert (pixels["TimeIncrement"], pixels["TimeIncrementUnit"]) == (30.0, "s")
    with tifffile.TiffFile(path) as tif:
        schema.validate(tif.ome_metadata)


async def test_multichannel_jpeg_within_tolerance(make_emulator: Factory, tmp_path: Path) -> None:
    """omero-web answers JPEG: the stack is within JPEG tolerance and says it was JPEG."""
    emu = make_emulator(preset="demo", mode="omeroweb")
    path, imgdata = await _harvest(emu, DEMO_IMAGE_ID, tmp_path / "out", window="minmax")
    data, axes, ome, _ = _read(path)
    assert data.shape == (1, 1, 4, 493, 659)
    diff = np.abs(data.astype(np.int16) - _truth(emu, imgdata, "minmax").astype(np.int16))
    assert diff.max() <= JPEG_TOLERANCE
    _check_metadata(ome, imgdata, "minmax", "jpeg")
    assert "JPEG q=1.0 (lossy)" in ome["Image"]["Description"]


async def test_multichannel_png_exact(make_emulator: Factory, tmp_path: Path) -> None:
    """Four channels from the microservice are each rendered alone and exact."""
    emu = make_emulator(preset="demo", mode="microservice")
    path, imgdata = await _harvest(emu, DEMO_IMAGE_ID, tmp_path / "out", window="minmax")
    data, _, ome, _ = _read(path)
    assert (data == _truth(emu, imgdata, "minmax")).all()
    _check_metadata(ome, imgdata, "minmax", "png")


async def test_regions_reassemble_exactly(make_emulator: Factory, tmp_path: Path) -> None:
    """A plane over max_plane is fetched as regions and stitched back bit for bit."""
    emu = make_emulator(preset="tiled", mode="microservice")
    path, imgdata = await _harvest(
        emu, TILED_SMALL_IMAGE_ID, tmp_path / "out", max_plane=200, max_tile=160
    )
    data, _, _, _ = _read(path)
    assert data.shape == (1, 1, 3, 512, 512)
    assert (data == _truth(emu, imgdata, "rendering")).all()
    routes = emu.stats()["by_route"]
    region_calls = sum(sum(v.values()) for k, v in routes.items() if "region" in k)
    assert region_calls == 3 * 4 * 4


@pytest.mark.slow
async def test_tiled_image_pyramid(
    make_emulator: Factory, tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    """A pyramid image over the 3192 limit: regions under it, tiled file with levels.

    3400 x 3100 (4 levels) takes the path an 8000 x 6000 image does (refused whole by
    the microservice, 2048-px regions with a ragged last one each way, 512-px tiles, a
    level per imgData level) at a fifth of the pixels.
    """
    emu = make_emulator(preset="tiled", mode="microservice")
    path, imgdata = await _harvest(emu, TILED_OVER_IMAGE_ID, tmp_path / "out")
    with tifffile.TiffFile(path) as tif:
        series, _axes, shape = _unsqueezed(tif)
        assert shape[:5] == (1, 1, 3, 3100, 3400)
        assert len(series.levels) == imgdata["levels"] == TILED_OVER_LEVELS
        assert tif.pages[0].is_tiled and tif.pages[0].tilewidth == 512
        schema.validate(tif.ome_metadata)
        plane = series.asarray(key=1)  # channel 1
    image = emu.app.site.catalogue.image(TILED_OVER_IMAGE_ID)  # type: ignore[attr-defined]
    c_spec = _c_spec(image, "rendering", 1)
    window = (1800, 1900, 600, 400)  # straddles region borders at 2048
    truth = render_plane(image, 0, 0, c_spec, "g", region=window)[:, :, 0]
    assert (plane[1900:2300, 1800:2400] == truth).all()
    routes = emu.stats()["by_route"]
    assert sum(sum(v.values()) for k, v in routes.items() if "region" in k) == 3 * 2 * 2


def _render_calls(emu: EmulatorThread) -> int:
    routes = emu.stats()["by_route"]
    return sum(sum(v.values()) for k, v in routes.items() if "render" in k)


def test_kill_and_resume(make_emulator: Factory, tmp_path: Path) -> None:
    """kill -9 mid-stack, rerun: only missing planes are fetched; file equals a clean run's."""
    emu = make_emulator(preset="zstack", mode="microservice", latency_ms=40)
    killed_out = tmp_path / "killed"
    staging = killed_out / "staging" / str(ZSTACK_IMAGE_ID)
    child = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("stack_child.py")),
            emu.base_url,
            str(ZSTACK_IMAGE_ID),
            str(killed_out),
            "rendering",
        ],
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if staging.exists() and len(list(staging.glob("*.png"))) >= 6:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    # The server counts the request the child had in flight before the stats are reset: it
    # has once it has seen the child's connections end (it counts a request whose client
    # left as it drops the connection); a fixed 0.5 s may be too short on a loaded machine.
    deadline = time.monotonic() + 30
    while emu.stats()["open_connections"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emu.stats()["open_connections"] == 0 and emu.stats()["in_flight"] == 0, emu.stats()
    staged = len(list(staging.glob("*.png")))
    assert 6 <= staged < ZSTACK_SIZE_Z * 2
    emu.reset_stats()
    resumed, _ = anyio.run(_harvest, emu, ZSTACK_IMAGE_ID, killed_out)
    assert _render_calls(emu) == ZSTACK_SIZE_Z * 2 - staged
    clean, _ = anyio.run(_harvest, emu, ZSTACK_IMAGE_ID, tmp_path / "clean")
    assert resumed.read_bytes() == clean.read_bytes()


async def test_stale_staging_for_other_window_is_discarded(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """Planes staged with another window are not mixed in: the rerun fetches all planes."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    staging.mkdir(parents=True)
    (staging / "stack.json").write_text('{"window": "full"}')
    (staging / "t00000-z00000-c000-r0000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 40)
    path, imgdata = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == ZSTACK_SIZE_Z * 2
    data, _, _, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()


def _recorded_limit(path: Path) -> str:
    """The ``max_plane`` the stack's MapAnnotation records (``3192 (options)``)."""
    _, _, ome, _ = _read(path)
    pairs = {
        m["K"]: m["value"] for m in ome["StructuredAnnotations"]["MapAnnotation"]["Value"]["M"]
    }
    return str(pairs["max_plane"])


async def test_limits_default_without_options(make_emulator: Factory, tmp_path: Path) -> None:
    """Against omero-web (no OPTIONS limits) the defaults are used and recorded, unretried."""
    emu = make_emulator(preset="zstack", mode="omeroweb")
    path, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "out")
    assert _recorded_limit(path) == f"{RenderLimits().max_plane} (default)"
    assert sum(emu.stats()["by_route"]["options"].values()) == 1


@pytest.mark.parametrize(
    ("faults", "least_wait"),
    [("first:503,only:options", 0.0), ("first:429,retry-after:1s,only:options", 0.9)],
)
async def test_busy_options_probe_is_retried(
    make_emulator: Factory, tmp_path: Path, faults: str, least_wait: float
) -> None:
    """A 503 or 429 (Retry-After honoured) to the OPTIONS probe is retried: the server's limits
    are used, not the defaults for the whole run, and the retry is counted."""
    emu = make_emulator(preset="zstack", mode="microservice", faults=faults)
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None, backoff_base=0.0)
    with anyio.fail_after(60):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            started = time.monotonic()
            store = DirStore(tmp_path)
            await harvest_stack(
                client,
                store,
                ImageRef(ZSTACK_IMAGE_ID),
                imgdata,
                window="rendering",
                out_dir=tmp_path,
            )
            took = time.monotonic() - started
            retries = client.stats.retries
    assert _recorded_limit(tmp_path / store.done[0][2]) == f"{RenderLimits().max_plane} (options)"
    assert sum(emu.stats()["by_route"]["options"].values()) == 2
    assert retries == 1
    assert took >= least_wait


async def test_plane_faults_by_route_spare_the_options_probe(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """first:503,only:image:render faults the first plane, not the OPTIONS probe of the limits."""
    emu = make_emulator(preset="zstack", mode="microservice", faults="first:503,only:image:render")
    path, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "out")
    _, _, ome, _ = _read(path)
    pairs = {
        m["K"]: m["value"] for m in ome["StructuredAnnotations"]["MapAnnotation"]["Value"]["M"]
    }
    assert pairs["max_plane"] == f"{RenderLimits().max_plane} (options)"
    by_route = emu.stats()["by_route"]
    assert by_route["options"] == {"200": 1}
    assert by_route["image:render"] == {"200": ZSTACK_SIZE_Z * 2, "503": 1}


async def test_real_store_journals_the_stack(make_emulator: Factory, tmp_path: Path) -> None:
    """With harvester.store.Store the OME-TIFF lands under images/ with a done record."""
    from harvester.journal import JournalState
    from harvester.layout import make_writer, new_run_id
    from harvester.store import Store

    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    run_id = new_run_id()
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    with anyio.fail_after(60):
        async with (
            Client(settings) as client,
            Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store,
        ):
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            await harvest_stack(
                client, store, ImageRef(ZSTACK_IMAGE_ID), imgdata, window="rendering", out_dir=out
            )
            assert not (out / "staging" / str(ZSTACK_IMAGE_ID)).exists()
    record = JournalState.load(out).done[("stack", ZSTACK_IMAGE_ID)]
    path = out / record["path"]
    assert record["path"].endswith(f"{ZSTACK_IMAGE_ID}.stack.ome.tif")
    assert path.stat().st_size == record["size"]
    data, axes, _, _ = _read(path)
    assert axes == "TZCYX" and data.shape == (1, ZSTACK_SIZE_Z, 2, 256, 256)


async def test_failed_plane_keeps_staging(make_emulator: Factory, tmp_path: Path) -> None:
    """A plane that fails for good raises FetchError; staged planes stay for the next run."""
    from harvester.errors import FetchError

    flaky = make_emulator(
        preset="zstack", mode="microservice", faults="500:30%,seed:5,only:/webgateway/render"
    )
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    settings = ClientSettings(base_url=flaky.base_url, concurrency=1, rate=None, max_retries=0)
    with anyio.fail_after(60):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            with pytest.raises(FetchError):
                await harvest_stack(
                    client,
                    DirStore(out),
                    ImageRef(ZSTACK_IMAGE_ID),
                    imgdata,
                    window="rendering",
                    out_dir=out,
                    plane_concurrency=1,
                )
    staged = len(list(staging.glob("*.png")))
    assert 0 < staged < ZSTACK_SIZE_Z * 2  # some planes came before the failure, and stay
    emu = make_emulator(preset="zstack", mode="microservice")
    path, imgdata = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == ZSTACK_SIZE_Z * 2 - staged
    data, _, _, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()


class _CrashingStore(DirStore):
    """A store that fails as the finished stack is handed over: every plane stays staged."""

    async def put_file(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        tmp_path: Path,
        sha256: str | None = None,
    ) -> None:
        """Fail like a process killed between assembly and storing."""
        raise RuntimeError("killed before the stack was stored")


async def _staged_then_killed(emu: EmulatorThread, out: Path) -> dict[str, Any]:
    """Stage every plane of the zstack image into ``out``, then fail as a process killed
    before the stack was stored (the planes stay staged); the imgData used."""
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    with anyio.fail_after(120):
        async with Client(settings) as client:
            imgdata: dict[str, Any] = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            with pytest.raises(RuntimeError, match="killed"):
                await harvest_stack(
                    client,
                    _CrashingStore(out),
                    ImageRef(ZSTACK_IMAGE_ID),
                    imgdata,
                    window="rendering",
                    out_dir=out,
                )
    return imgdata


def _damage(path: Path) -> None:
    """Damage a staged file as the emulator's ``corrupt`` fault does: its magic bytes and
    trailer stay."""
    path.write_bytes(corrupted(Response(200, path.read_bytes())).body)


def _flip_silently(path: Path) -> None:
    """Flip one bit of a staged PNG's pixel data that Pillow still decodes (to other pixels)."""
    path.write_bytes(silent_flip(path.read_bytes()))


@pytest.mark.parametrize("damage", [_damage, _flip_silently], ids=["undecodable", "decodable"])
async def test_damaged_staged_plane_is_fetched_again_alone(
    make_emulator: Factory, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    """A staged plane spoilt on disk: its one request again, same bytes as a clean run.
    Damage that still decodes (to wrong pixels) too: the PNG's CRCs show it."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    imgdata = await _staged_then_killed(emu, out)
    staged = sorted(staging.glob("*.png"))
    assert len(staged) == ZSTACK_SIZE_Z * 2
    damage(staged[5])
    emu.reset_stats()
    resumed, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == 1
    clean, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "clean")
    assert resumed.read_bytes() == clean.read_bytes()
    data, _, _, _ = _read(resumed)
    assert (data == _truth(emu, imgdata, "rendering")).all()


async def test_staged_jpeg_plane_that_decodes_to_wrong_pixels_is_fetched_again(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """Plain OMERO.web's JPEG planes: a staged one with an ``FF E1`` made in its scan data
    decodes without a word, to wrong pixels, which were stacked; its markers show it now:
    its one request again, and the stack a clean run stores."""
    emu = make_emulator(preset="zstack")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    await _staged_then_killed(emu, out)
    staged = sorted(staging.glob("*.jpg"))
    assert len(staged) == ZSTACK_SIZE_Z * 2
    body = staged[5].read_bytes()
    middle = len(body) // 2
    staged[5].write_bytes(body[:middle] + b"\xff\xe1\xff\x00" + body[middle + 4 :])
    emu.reset_stats()
    resumed, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == 1
    clean, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "clean")
    assert resumed.read_bytes() == clean.read_bytes()


async def test_staged_plane_unreadable_in_the_damage_scan_is_a_storage_error(
    make_emulator: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error while the other staged planes are checked (one was found damaged) is
    the one-line StorageError of any disk error of the stack, not a raw OSError."""
    import harvester.stack as stack_module
    from harvester.errors import StorageError

    emu = make_emulator(preset="zstack", mode="microservice")
    await _staged_then_killed(emu, tmp_path / "out")
    staging = tmp_path / "out" / "staging" / str(ZSTACK_IMAGE_ID)
    _damage(sorted(staging.glob("*.png"))[0])  # an earlier run's: the assembly finds it
    real_scan = stack_module.undecodable

    def scan_after_a_plane_vanished(*args: Any, **kwargs: Any) -> list[Path]:
        files = args[2]
        sorted(files.values())[-1].unlink()  # gone from the disk under the run
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(stack_module, "undecodable", scan_after_a_plane_vanished)
    with pytest.raises(StorageError, match=f"^cannot read the staged planes in {staging}: "):
        await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "out")


async def test_staged_planes_kept_when_only_the_limits_changed(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """A max_plane set since the planes were staged, asking the very same URLs, keeps them:
    no plane is asked again (every one was, as if staged for other requests)."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    imgdata = await _staged_then_killed(emu, out)
    emu.reset_stats()
    path, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out, max_plane=4000)
    assert _render_calls(emu) == 0
    data, _, _, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()
    assert _recorded_limit(path) == "4000 (config)"


@pytest.mark.parametrize("mode", ["microservice", "omeroweb"])
async def test_plane_served_damaged_is_fetched_again(
    make_emulator: Factory, tmp_path: Path, mode: str
) -> None:
    """A plane served damaged (header and trailer intact) is asked once more as it comes, by
    the client's retry: never staged, so the assembly finds nothing to fetch again. The
    stack is exact (PNG), or a clean run's byte for byte (JPEG)."""
    emu = make_emulator(preset="zstack", mode=mode, faults="first:corrupt,only:image:render")
    out = tmp_path / "out"
    with zero_waits():
        path, imgdata = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert emu.stats()["faults"] == {"corrupt": 1}
    assert _render_calls(emu) == ZSTACK_SIZE_Z * 2 + 1
    if mode == "microservice":
        data, _, _, _ = _read(path)
        assert (data == _truth(emu, imgdata, "rendering")).all()
    else:
        clean, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "clean")
        assert path.read_bytes() == clean.read_bytes()


async def test_plane_served_damaged_on_every_try_fails_within_one_budget(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """Damaged on each of its 1 + max_retries tries: the image fails after those requests
    (they were 2 x (1 + max_retries), staged and found at assembly, then asked again with a
    fresh budget), nothing of that plane staged; the rerun makes the exact stack."""
    from harvester.errors import InvalidBodyError

    emu = make_emulator(
        preset="zstack", mode="microservice", faults="first:corrupt*3,only:image:render"
    )
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None, max_retries=2)
    store = DirStore(out)
    with anyio.fail_after(120), zero_waits():
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            with pytest.raises(InvalidBodyError, match="^PNG does not decode: .* CRC") as failed:
                await harvest_stack(
                    client, store, ImageRef(ZSTACK_IMAGE_ID), imgdata, window="rendering",
                    out_dir=out,
                )  # fmt: skip
    assert failed.value.status == 200
    # The first plane is asked alone: its three tries, and no other plane.
    assert _render_calls(emu) == 1 + 2
    assert store.done == []
    assert not list(staging.glob("*.png"))
    assert not (staging / ASSEMBLY_NAME).exists()
    with zero_waits():
        path, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    data, _, _, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()


async def test_single_plane_without_pixel_size(make_emulator: Factory, tmp_path: Path) -> None:
    """One z, t and channel reads as YX (TZCYXS unsqueezed); no PhysicalSize the server lacks."""
    emu = make_emulator(preset="bigproject", mode="microservice")
    path, imgdata = await _harvest(emu, SINGLE_PLANE_IMAGE_ID, tmp_path / "out")
    assert imgdata["pixel_size"] == {"x": None, "y": None, "z": None}
    plane = tifffile.imread(path)
    assert plane.dtype == np.uint8 and plane.shape == (48, 64)
    assert tifffile.imread(path, squeeze=False).shape == (1, 1, 1, 48, 64, 1)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "YX"
        assert _unsqueezed(tif)[1] == "TZCYXS"
    data, _, ome, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()
    pixels = ome["Image"]["Pixels"]
    assert not [key for key in pixels if key.startswith("PhysicalSize")]
    assert "TimeIncrement" not in pixels
    with tifffile.TiffFile(path) as tif:  # no scale in the tags either: 1/1, no unit
        assert tif.pages[0].resolution == (1.0, 1.0)
        assert tif.pages[0].resolutionunit == tifffile.RESUNIT.NONE


async def test_plane_fetched_in_this_run_that_does_not_decode_fails_without_asking_again(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """A plane that passed its checks as it came and does not decode at assembly (spoilt on
    the disk since, here as each is staged) is not asked again in this run: its one retry
    budget was spent on it. The image fails in one line, that file is dropped and the
    others are kept; the rerun asks that plane alone and makes the exact stack."""
    from harvester.errors import InvalidBodyError

    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    first = staging / "t00000-z00000-c000-r0000.png"

    def spoil_the_first() -> None:
        if first.exists() and not hasattr(spoil_the_first, "done"):
            _damage(first)
            spoil_the_first.done = True  # type: ignore[attr-defined]

    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    with anyio.fail_after(120):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            expected = r"^staged plane t00000-z00000-c000-r0000\.png: PNG does not decode.*, as "
            expected += r"fetched in this run \(23 other staged plane files kept for the next run"
            with pytest.raises(InvalidBodyError, match=expected):
                await harvest_stack(
                    client, DirStore(out), ImageRef(ZSTACK_IMAGE_ID), imgdata,
                    window="rendering", out_dir=out, on_staged=spoil_the_first,
                )  # fmt: skip
    planes = ZSTACK_SIZE_Z * 2
    assert _render_calls(emu) == planes
    assert not first.exists() and len(list(staging.glob("*.png"))) == planes - 1
    assert not (staging / ASSEMBLY_NAME).exists()
    path, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == planes + 1
    data, _, _, _ = _read(path)
    assert (data == _truth(emu, imgdata, "rendering")).all()


@pytest.mark.parametrize("mode", ["microservice", "omeroweb"])
async def test_a_stack_resumed_from_half_its_planes_is_a_clean_runs(
    make_emulator: Factory, tmp_path: Path, mode: str
) -> None:
    """Half the planes staged by an earlier run (0.1.22's too: staging holds the server's
    answers as they came, decoded only at assembly), half fetched now: the stack is a clean
    run's byte for byte, a JPEG one too (its planes all decoded the same way, whenever
    staged), and only the missing planes are asked."""
    emu = make_emulator(preset="zstack", mode=mode)
    out = tmp_path / "out"
    await _staged_then_killed(emu, out)
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    staged = sorted(p for p in staging.iterdir() if p.suffix in (".png", ".jpg"))
    assert len(staged) == ZSTACK_SIZE_Z * 2
    assert {p.suffix for p in staged} == {".png" if mode == "microservice" else ".jpg"}
    for path in staged[::2]:
        path.unlink()
    emu.reset_stats()
    resumed, _ = await _harvest(emu, ZSTACK_IMAGE_ID, out)
    assert _render_calls(emu) == len(staged[::2])
    clean, _ = await _harvest(emu, ZSTACK_IMAGE_ID, tmp_path / "clean")
    assert resumed.read_bytes() == clean.read_bytes()

"""Planning plane requests, staging files and decoding renders (no server)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stack_support import silent_flip

from harvester.planes import (
    Geometry,
    PlaneError,
    Region,
    StagedPlaneError,
    decode_grey,
    decode_staged,
    halve,
    looks_complete,
    paste_region,
    plan_requests,
    pyramid_shapes,
    read_plane,
    region_grid,
    render_refusal,
    render_url,
    staged_files,
    too_big_to_assemble,
    write_atomic,
)
from harvester.window import ChannelWindow

WINDOWS = (
    ChannelWindow(0, "DAPI", "0000FF", 0, 65535),
    ChannelWindow(1, "GFP", "00FF00", 10, 500.5),
)


def _geometry(**kw: int) -> Geometry:
    sizes = {"size_x": 64, "size_y": 48, "size_z": 3, "size_c": 2, "size_t": 2}
    sizes.update(kw)
    return Geometry(image_id=42, name="x", pixel_type="uint16", **sizes)


def _png(array: np.ndarray, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.stack([array] * 3, axis=-1) if mode == "RGB" else array)
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_render_url_is_fully_specified() -> None:
    """One channel active, every channel with window and colour, m=g, z/t in the path."""
    url = render_url(42, 2, 1, 1, WINDOWS)
    assert url == (
        "webgateway/render_image/42/2/1/?c=-1|0:65535$0000FF,2|10:500.5$FFFFFF&m=g&format=png&q=1.0"
    )


def test_plan_order_and_stems() -> None:
    """Requests come in T, Z, C order with sortable staging names."""
    requests = plan_requests(_geometry(), WINDOWS)
    assert len(requests) == 12
    assert [(r.t, r.z, r.c) for r in requests[:3]] == [(0, 0, 0), (0, 0, 1), (0, 1, 0)]
    stems = [r.stem for r in requests]
    assert stems == sorted(stems) and len(set(stems)) == 12
    assert plan_requests(_geometry(), WINDOWS) == requests


def test_large_plane_becomes_regions() -> None:
    """A plane above max_plane is covered exactly by region requests of <= max_tile."""
    grid = region_grid(5000, 3300, 3192, 2048)
    assert grid is not None
    covered = np.zeros((3300, 5000), dtype=np.uint8)
    for region in grid:
        assert region.width <= 2048 and region.height <= 2048
        covered[region.y : region.y + region.height, region.x : region.x + region.width] += 1
    assert (covered == 1).all()
    assert region_grid(3192, 3192, 3192, 2048) is None
    requests = plan_requests(
        _geometry(size_x=100, size_y=40, size_z=1, size_t=1), WINDOWS, max_plane=64, max_tile=32
    )
    assert "render_image_region/42/0/0/?c=" in requests[0].url
    assert "&region=0,0,32,32&" in requests[0].url
    assert len(requests) == 2 * 4 * 2


def test_a_huge_max_plane_never_asks_a_plane_wider_than_a_jpeg_whole() -> None:
    """max_plane over 65,500 px asks wider planes as regions (OMERO.web answers every
    render as JPEG), and planes up to 65,500 px whole, as it says."""
    assert region_grid(65_500, 16_000, 100_000, 2048) is None
    grid = region_grid(66_000, 16_000, 100_000, 2048)
    assert grid is not None and len(grid) == 33 * 8
    assert max(max(r.width, r.height) for r in grid) == 2048
    requests = plan_requests(
        _geometry(size_x=66_000, size_y=100, size_z=1, size_t=1, size_c=1),
        WINDOWS[:1],
        max_plane=100_000,
    )
    assert all("render_image_region/" in r.url for r in requests) and len(requests) == 33


def test_read_plane_reassembles_regions(tmp_path: Path) -> None:
    """Regions staged as PNG are stitched back to the exact plane."""
    geometry = _geometry(size_x=100, size_y=40, size_z=1, size_t=1, size_c=1)
    truth = np.random.default_rng(1).integers(0, 256, (40, 100), dtype=np.uint8)
    requests = plan_requests(geometry, WINDOWS[:1], max_plane=64, max_tile=32)
    for request in requests:
        r = request.region
        assert r is not None
        write_atomic(
            tmp_path / f"{request.stem}.png", _png(truth[r.y : r.y + r.height, r.x : r.x + r.width])
        )
    files = staged_files(tmp_path)
    assert set(files) == {r.stem for r in requests}
    assert (read_plane(geometry, requests, files) == truth).all()


def test_decode_checks_size_and_format() -> None:
    """Decoding refuses wrong sizes and non-images; greyscale PNGs decode exactly."""
    truth = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert (decode_grey(_png(truth, "L"), (4, 3)) == truth).all()
    with pytest.raises(PlaneError):
        decode_grey(_png(truth), (3, 4))
    with pytest.raises(PlaneError):
        decode_grey(b"<html>", None)


def test_pasting_a_damaged_region_is_a_plane_error() -> None:
    """Pillow's SyntaxError for a broken region is a PlaneError (it escaped as a traceback)."""
    # Noise over 64 KiB compressed: several IDAT chunks; the second one's name damaged.
    body = _png(np.random.default_rng(2).integers(0, 256, (200, 300), dtype=np.uint8))
    second = body.index(b"IDAT", body.index(b"IDAT") + 4)
    broken_chunk = body[:second] + bytes(b ^ 0xFF for b in body[second : second + 4])
    broken_chunk += body[second + 4 :]
    for bad in (broken_chunk, body[:60]):
        with pytest.raises(PlaneError, match="PNG region does not decode"):
            paste_region(Image.new("RGB", (300, 200)), Region(0, 0, 300, 200), bad)


def test_truncated_staged_file_is_not_complete(tmp_path: Path) -> None:
    """A short or empty staged file fails the trailer check and will be refetched."""
    body = _png(np.zeros((8, 8), dtype=np.uint8))
    good, short, empty = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    good.write_bytes(body)
    short.write_bytes(body[:-5])
    empty.write_bytes(b"")
    assert looks_complete(good)
    assert not looks_complete(short) and not looks_complete(empty)
    assert set(staged_files(tmp_path)) == {"a"}


def test_pyramid_helpers() -> None:
    """Levels halve both sides; halving averages 2x2 blocks rounding half up."""
    assert pyramid_shapes(4000, 5001, 3) == [(4000, 5001), (2000, 2500), (1000, 1250)]
    plane = np.array([[0, 1, 9], [1, 1, 9]], dtype=np.uint8)
    assert halve(plane).tolist() == [[1]]


def test_geometry_from_imgdata() -> None:
    """imgData sizes, pixel sizes (µm), levels and name are read; Exception bodies refused."""
    geometry = Geometry.from_imgdata(
        {
            "id": 5,
            "meta": {"imageName": "a", "pixelsType": "uint8", "imageTimestamp": 10.0},
            "size": {"width": 30, "height": 20, "z": 4, "t": 2, "c": 3},
            "pixel_size": {"x": 0.5, "y": 0.5, "z": None},
            "levels": 3,
        }
    )
    assert (geometry.size_x, geometry.size_y, geometry.plane_count) == (30, 20, 24)
    assert (geometry.physical_size_x, geometry.physical_size_z, geometry.levels) == (0.5, None, 3)
    with pytest.raises(PlaneError):
        Geometry.from_imgdata({"id": 5, "meta": {}, "Exception": "boom"})


@pytest.mark.parametrize("stamp", [float("nan"), float("inf"), True, 1.5e15, -1e20, "2017"])
def test_geometry_ignores_an_impossible_timestamp(stamp: object) -> None:
    """An imageTimestamp that is no date (NaN, a bool, out of datetime's range) is
    dropped: it made the OME-XML's AcquisitionDate raise while the stack was assembled."""
    geometry = Geometry.from_imgdata(
        {
            "id": 5,
            "meta": {"imageTimestamp": stamp},
            "size": {"width": 3, "height": 2, "z": 1, "t": 1, "c": 1},
        }
    )
    assert geometry.acquisition_ts is None


def test_render_refusal_jpeg_side_and_plane_size() -> None:
    """A JPEG render over 65,500 px a side is refused (PNG is not); any over 2 Gi px is."""
    assert render_refusal(65500, 30000, "jpeg") is None
    jpeg = render_refusal(65501, 30000, "jpeg")
    assert jpeg == (
        "the plane is 65501x30000 px, wider or taller than a JPEG holds (65,500 px a side)"
    )
    assert render_refusal(65501, 30000, "png") is None
    assert render_refusal(30000, 65501, "jpeg") is not None
    assert render_refusal(46340, 46340, "png") is None  # 2,147,395,600 px: just under
    whole = render_refusal(46341, 46341, "png")
    assert whole is not None and whole.startswith(
        "the plane is 46341x46341 px (8.0 GiB as an RGB canvas), too big to put together in memory"
    )


def test_a_render_and_a_stack_refuse_a_plane_too_big_in_one_wording() -> None:
    """Both refusals of a plane over 2 Gi px say its size, the memory it would take and
    the one limit alike; only the memory (4 bytes a pixel, or 1) and the way it is made
    differ. A plane at the limit is refused by neither."""
    assert too_big_to_assemble(46340, 46340, "stack") is None
    render = too_big_to_assemble(70000, 40000, "render")
    stack = too_big_to_assemble(70000, 40000, "stack")
    assert render == render_refusal(70000, 40000, "png")
    assert render is not None and stack is not None
    common = "too big to put together in memory: {} planes of up to 2,147,483,648 px"
    assert render.startswith("the plane is 70000x40000 px (10.4 GiB as an RGB canvas), ")
    assert stack.startswith("the plane is 70000x40000 px (2.6 GiB in memory), ")
    assert common.format("renders are stitched from") in render
    assert common.format("stacks are made of") in stack


def test_png_damage_that_still_decodes_is_refused() -> None:
    """A bit flipped in a PNG's pixel data that Pillow decodes to other pixels is refused
    by the chunks' CRCs: such a plane was stacked wrong, unnoticed."""
    smooth = np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8)
    body = _png(smooth)
    assert (decode_grey(body, (64, 48)) == smooth).all()
    with pytest.raises(PlaneError, match="^PNG does not decode: its IDAT chunk fails its CRC$"):
        decode_grey(silent_flip(body), (64, 48))
    iend = body.rindex(b"IEND") - 4
    with pytest.raises(PlaneError, match="^PNG does not decode: its chunks end before IEND$"):
        decode_grey(body[:iend], (64, 48))


def test_a_staged_jpeg_damaged_in_its_markers_is_refused_though_it_decodes(
    tmp_path: Path,
) -> None:
    """An ``FF E1`` (a segment running past the end) made in a JPEG's scan data: Pillow
    decodes it without a word, to wrong pixels; the staged plane is refused as damaged."""
    plane = (np.add.outer(np.arange(200), np.arange(300)) % 256).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(plane).save(out, "JPEG", quality=90)
    body = out.getvalue()
    middle = len(body) // 2
    damaged = body[:middle] + b"\xff\xe1\xff\x00" + body[middle + 4 :]
    wrong = decode_grey(damaged, (300, 200))  # (no error: the reason for the check)
    assert (wrong != decode_grey(body, (300, 200))).any()
    path = tmp_path / "t00000-z00000-c000.jpg"
    path.write_bytes(damaged)
    with pytest.raises(StagedPlaneError, match="JPEG is damaged: segment 0xe1"):
        decode_staged(path, (300, 200))
    path.write_bytes(body)
    assert (decode_staged(path, (300, 200)) == decode_grey(body, (300, 200))).all()

"""render_image / render_image_region in both modes: ground truth, tiles, errors, OPTIONS."""

from __future__ import annotations

import json

import numpy as np
import pytest
from images_helpers import call, decode, make_app

from harvester.emulator import render
from harvester.emulator.catalogue import (
    DEMO_IMAGE_ID,
    TILED_IMAGE_ID,
    TILED_OVER_IMAGE_ID,
    Catalogue,
)

UNKNOWN = 999_999_999
C4 = "1|0:187$FF0000,2|0:342$00FF00,3|1:117$0000FF,-4|0:381$FF0000"


@pytest.fixture(scope="module")
def web():  # type: ignore[no-untyped-def]
    """Demo app in omero-web mode."""
    return make_app()


@pytest.fixture(scope="module")
def ms():  # type: ignore[no-untyped-def]
    """Demo app in image-region microservice mode."""
    return make_app(mode="microservice")


@pytest.fixture(scope="module")
def demo_image():  # type: ignore[no-untyped-def]
    """The demo image 9762957 (659 x 493, 4 channels)."""
    return Catalogue("demo", 0).image(DEMO_IMAGE_ID)


def test_ms_png_equals_ground_truth(ms, demo_image) -> None:  # type: ignore[no-untyped-def]
    """A microservice PNG render decodes to exactly render_plane(...)."""
    resp = call(ms, f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/?c={C4}&m=c&format=png")
    assert resp.status == 200 and resp.content_type == "image/png"
    assert np.array_equal(decode(resp.body), render.render_plane(demo_image, 0, 0, C4, "c"))


def test_ms_greyscale_png_and_tiff(ms, demo_image) -> None:  # type: ignore[no-untyped-def]
    """m=g renders the first active channel; format=tif gives an RGB TIFF of the same pixels."""
    c = "-1|0:187$FF0000,2|0:300$00FF00"
    png = call(ms, f"/webclient/render_image/{DEMO_IMAGE_ID}/0/0/?c={c}&m=g&format=png")
    truth = render.render_plane(demo_image, 0, 0, c, "g")
    assert np.array_equal(decode(png.body), truth)
    tif = call(ms, f"/webclient/render_image/{DEMO_IMAGE_ID}/0/0/?c={c}&m=g&format=tif")
    assert tif.content_type == "image/tiff" and np.array_equal(decode(tif.body), truth)


def test_omeroweb_render_is_jpeg_close_to_truth(web, demo_image) -> None:  # type: ignore[no-untyped-def]
    """omero-web renders JPEG (format= ignored) within JPEG loss of the ground truth."""
    resp = call(web, f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/?c={C4}&m=c&q=0.95&format=png")
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    got = decode(resp.body).astype(int)
    assert got.shape == (493, 659, 3)
    assert np.abs(got - render.render_plane(demo_image, 0, 0, C4, "c")).mean() < 6.0
    assert not any(name == "Set-Cookie" for name, _ in resp.headers)


def test_omeroweb_defaults_without_z_t_or_c(web, demo_image) -> None:  # type: ignore[no-untyped-def]
    """render_image/{id}/ uses the default plane and saved settings; q changes the bytes."""
    resp = call(web, f"/webgateway/render_image/{DEMO_IMAGE_ID}/")
    assert resp.status == 200
    truth = render.render_plane(demo_image, 0, 0)
    assert np.abs(decode(resp.body).astype(int) - truth).mean() < 6.0
    low = call(web, f"/webgateway/render_image/{DEMO_IMAGE_ID}/?q=0.2")
    assert len(low.body) < len(resp.body)


def test_ms_tiles_reassemble_to_full_plane(ms, demo_image) -> None:  # type: ignore[no-untyped-def]
    """256-px PNG tiles (edge tiles truncated) put together equal the full-plane render."""
    base = f"/webgateway/render_image_region/{DEMO_IMAGE_ID}/0/0/?c={C4}&m=c&format=png"
    canvas = np.zeros((493, 659, 3), dtype=np.uint8)
    for ty in range(2):
        for tx in range(3):
            resp = call(ms, f"{base}&tile=0,{tx},{ty},256,256")
            assert resp.status == 200, resp.body
            tile = decode(resp.body)
            canvas[ty * 256 : ty * 256 + tile.shape[0], tx * 256 : tx * 256 + tile.shape[1]] = tile
    assert np.array_equal(canvas, render.render_plane(demo_image, 0, 0, C4, "c"))


def test_ms_region_equals_window_of_truth(ms, demo_image) -> None:  # type: ignore[no-untyped-def]
    """region=x,y,w,h returns that window; a region past the edge is truncated."""
    url = f"/webgateway/render_image_region/{DEMO_IMAGE_ID}/0/0/?c={C4}&m=c&format=png"
    got = decode(call(ms, f"{url}&region=600,400,100,100").body)
    truth = render.render_plane(demo_image, 0, 0, C4, "c")
    assert np.array_equal(got, truth[400:, 600:])


def test_pyramid_tile_levels(ms) -> None:  # type: ignore[no-untyped-def]
    """tile=level,... addresses pyramid levels (0 = full resolution) of the tiled image."""
    tiled = Catalogue("tiled", 0).image(TILED_IMAGE_ID)
    assert tiled is not None
    app = make_app("tiled", mode="microservice")
    c = "1|0:255$00FF00,2|0:255$FF0000,3|0:255$0000FF"
    url = f"/webgateway/render_image_region/{TILED_IMAGE_ID}/0/0/?c={c}&m=c&format=png"
    got = decode(call(app, f"{url}&tile=2,1,1,512,512").body)
    truth = render.render_plane(tiled, 0, 0, c, "c", region=(512, 512, 512, 512), level=2)
    assert np.array_equal(got, truth)
    big = call(app, f"{url}&tile=0,0,0,4096,4096")
    assert decode(big.body).shape[:2] == (2048, 2048)  # clamped to maxTileLength


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("tile=a,b", "malformed tile argument, tile=a,b"),
        ("region=1,2,3", "malformed region argument, region=1,2,3"),
        ("", "tile or region argument required"),
        ("tile=1,0,0", "Invalid resolution level 1, non pyramid file"),
    ],
)
def test_omeroweb_region_400_texts(web, query: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """omero-web answers malformed tile/region arguments with its 400 one-liners."""
    resp = call(web, f"/webgateway/render_image_region/{DEMO_IMAGE_ID}/0/0/?{query}")
    assert resp.status == 400 and resp.body.decode() == text


def test_omeroweb_unknown_image_and_plane_404(web) -> None:  # type: ignore[no-untyped-def]
    """Unknown image or z outside the stack -> Django 404 HTML."""
    assert call(web, f"/webgateway/render_image/{UNKNOWN}/0/0/").status == 404
    assert call(web, f"/webgateway/render_image/{DEMO_IMAGE_ID}/3/0/").status == 404
    resp = call(web, f"/webclient/render_image_region/{UNKNOWN}/0/0/?tile=0,0,0")
    assert resp.status == 404 and resp.content_type.startswith("text/html")


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("m=c", "Must provide channels in parameter 'c'"),
        (
            "c=1|0:100,2|0:100$00FF00&m=c",
            "Must include window and color in each channel. Missing in channel 1",
        ),
        ("c=1$FF0000&m=c", "Must include window and color in each channel. Missing in channel 1"),
        (
            "c=1|0:100$FF0000",
            "Must provide rendering model parameter 'm' with value either 'g' or 'c'",
        ),
        (
            "c=1|0:100$FF0000&m=c&format=gif",
            "Unsupported format request.Supported formats are jpeg, png, and tif",
        ),
        ("c=x|0:100$FF0000&m=c", "Failed to parse channel 'x|0:100$FF0000'"),
        ("c=1|0:100$FF0000&m=c&q=abc", 'For input string: "abc"'),
        ("c=1|0:100$FF0000&m=c&region=1,2", "Region string format incorrect. Should be 'x,y,w,h'"),
        (
            "c=1|0:100$FF0000&m=c&region=9999,0,10,10",
            "Start position (9999,0) exceeds image size (659, 493)",
        ),
    ],
)
def test_ms_400_texts(ms, query: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """The microservice refuses incomplete settings with its exact plain-text 400s."""
    url = f"/webgateway/render_image_region/{DEMO_IMAGE_ID}/0/0/?{query}"
    if "region" not in query:
        url = f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/?{query}"
    resp = call(ms, url)
    assert resp.status == 400
    assert resp.body.decode() == text


def test_ms_too_many_active_channels(ms) -> None:  # type: ignore[no-untyped-def]
    """More than 10 active channels -> 400."""
    c = ",".join(f"{i}|0:100$FF0000" for i in range(1, 12))
    resp = call(ms, f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/?c={c}&m=c")
    assert resp.status == 400 and b"Too many active channels" in resp.body


def test_ms_unknown_image_and_missing_z_t(ms) -> None:  # type: ignore[no-untyped-def]
    """Unknown image -> 404 `Cannot find Image:<id>`; no z/t in the path -> Vert.x 404."""
    resp = call(ms, f"/webgateway/render_image/{UNKNOWN}/0/0/?c=1|0:1$FF0000&m=g")
    assert resp.status == 404 and resp.body == f"Cannot find Image:{UNKNOWN}".encode()
    resp = call(ms, f"/webgateway/render_image/{DEMO_IMAGE_ID}/?c=1|0:1$FF0000&m=g")
    assert resp.status == 404 and b"Resource not found" in resp.body


def test_ms_full_plane_limit(ms) -> None:  # type: ignore[no-untyped-def]
    """render_image of a plane larger than 3192 x 3192 pixels -> 400 max plane size."""
    app = make_app("tiled", mode="microservice")
    c = "1|0:255$00FF00,2|0:255$FF0000,3|0:255$0000FF"
    resp = call(app, f"/webgateway/render_image/{TILED_IMAGE_ID}/0/0/?c={c}&m=c")
    assert resp.status == 400
    assert resp.body == b"Requested shape [1, 1, 1, 6000, 8000] > max plane size 3192 * 3192"
    # The tiled preset's image just over the limit (tests use it for a fifth of the pixels).
    resp = call(app, f"/webgateway/render_image/{TILED_OVER_IMAGE_ID}/0/0/?c={c}&m=c")
    assert resp.status == 400
    assert resp.body == b"Requested shape [1, 1, 1, 3100, 3400] > max plane size 3192 * 3192"


def test_ms_options_advertises_limits(ms) -> None:  # type: ignore[no-untyped-def]
    """OPTIONS on a render path answers the microservice's details and limits."""
    resp = call(ms, f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/", method="OPTIONS")
    assert resp.status == 200 and resp.content_type == "application/json"
    body = json.loads(resp.body)
    assert body["provider"] == "ImageRegionMicroservice"
    assert body["options"]["maxTileLength"] == 2048
    assert body["options"]["maxPlaneWidth"] == 3192 and body["options"]["maxPlaneHeight"] == 3192


def test_migration_2026_blocks_renders() -> None:
    """In 2026 mode every render answers 403 with an empty body."""
    app = make_app(migration_2026=True)
    resp = call(app, f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/")
    assert resp.status == 403 and resp.body == b""

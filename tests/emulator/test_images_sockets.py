"""Image routes over real loopback sockets: bodies decode, headers and stats are right."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import numpy as np
from images_helpers import decode

from harvester.emulator import EmulatorThread, render
from harvester.emulator.catalogue import DEMO_IMAGE_ID, Catalogue

C4 = "1|0:187$FF0000,2|0:342$00FF00,3|1:117$0000FF,-4|0:381$FF0000"


def test_thumbnail_imgdata_render_walk_over_http(emulator: EmulatorThread) -> None:
    """imgData -> thumbnail -> render with plain httpx: bodies decode to the expected sizes."""
    with httpx.Client(base_url=emulator.base_url, timeout=10) as client:
        imgdata = client.get(f"/webclient/imgData/{DEMO_IMAGE_ID}/").json()
        width, height = imgdata["size"]["width"], imgdata["size"]["height"]
        thumb = client.get(f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/")
        assert thumb.headers["content-type"] == "image/jpeg" and "set-cookie" not in thumb.headers
        assert decode(thumb.content).shape == (71, 96, 3)
        plane = client.get(f"/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/", params={"c": C4})
        assert plane.status_code == 200
        assert decode(plane.content).shape == (height, width, 3)
    by_route = emulator.stats()["by_route"]
    assert {"image:imgdata", "image:thumbnail", "image:render"} <= set(by_route)


def test_microservice_png_over_http_equals_ground_truth(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A PNG fetched over a socket from the microservice mode equals render_plane."""
    emu = make_emulator(preset="demo", mode="microservice")
    image = Catalogue("demo", 0).image(DEMO_IMAGE_ID)
    assert image is not None
    url = f"{emu.base_url}/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/"
    resp = httpx.get(url, params={"c": C4, "m": "c", "format": "png"}, timeout=10)
    assert resp.headers["content-type"] == "image/png"
    assert np.array_equal(decode(resp.content), render.render_plane(image, 0, 0, C4, "c"))
    options = httpx.request("OPTIONS", url, timeout=10)
    assert options.json()["options"]["maxPlaneWidth"] == 3192


def test_faulted_options_probe_is_counted_as_options(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """only:options faults the OPTIONS probe alone, and by_route counts it under "options"."""
    emu = make_emulator(preset="demo", mode="microservice", faults="503:100%,only:options")
    url = f"{emu.base_url}/webgateway/render_image/{DEMO_IMAGE_ID}/0/0/"
    with httpx.Client(timeout=10) as client:
        assert client.request("OPTIONS", url).status_code == 503
        plane = client.get(url, params={"c": C4, "m": "c", "format": "png"})
    assert plane.status_code == 200
    assert emu.stats()["by_route"] == {"options": {"503": 1}, "image:render": {"200": 1}}

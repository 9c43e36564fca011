"""The demo screen walks end to end over real sockets with plain httpx.

annotations -> plates -> grids -> imgData -> thumbnail -> render, each body
valid: JSON parses, JPEG decodes (Pillow) to the size the metadata promises.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c


def _jpeg_size(body: bytes) -> tuple[int, int]:
    assert body[:2] == b"\xff\xd8", "not a JPEG"
    with Image.open(io.BytesIO(body)) as im:
        im.load()
        return im.size


def _json(client: httpx.Client, url: str) -> Any:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:200])
    assert resp.headers["content-type"] == "application/json"
    return resp.json()


def test_demo_screen_walks_end_to_end(emulator: EmulatorThread) -> None:
    """Every image of screen 2302 is reachable and yields valid imgData, thumbnail and render."""
    with httpx.Client(base_url=emulator.base_url, timeout=10.0) as client:
        anns = _json(client, f"/webclient/api/annotations/?type=map&screen={c.DEMO_SCREEN_ID}")
        (study,) = anns["annotations"]
        assert dict(map(tuple, study["values"]))["Study Type"] == "high content screen"

        plates = _json(client, f"/webclient/api/plates/?id={c.DEMO_SCREEN_ID}")["plates"]
        assert [p["id"] for p in plates] == list(c.DEMO_PLATE_IDS)

        images: list[dict[str, Any]] = []
        for plate in plates:
            grid = _json(client, f"/webgateway/plate/{plate['id']}/")
            cells = [cell for row in grid["grid"] for cell in row if cell is not None]
            assert len(cells) == c.DEMO_WELLS_PER_PLATE
            images += cells
        assert len(images) == c.DEMO_SCREEN_IMAGE_COUNT

        well_ids = sorted({cell["wellId"] for cell in images})
        query = "&".join(f"well={w}" for w in well_ids[:40])
        well_anns = _json(client, f"/webclient/api/annotations/?type=map&{query}")["annotations"]
        assert {a["link"]["parent"]["id"] for a in well_anns} == set(well_ids[:40])

        for cell in images:
            image_id = cell["id"]
            meta = _json(client, f"/webclient/imgData/{image_id}/")
            assert meta["id"] == image_id and meta["meta"]["wellId"] == cell["wellId"]
            width, height = meta["size"]["width"], meta["size"]["height"]
            assert (width, height) == (c.DEMO_SIZE_X, c.DEMO_SIZE_Y)

            thumb = client.get(cell["thumb_url"])
            assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
            tw, th = _jpeg_size(thumb.content)
            assert max(tw, th) == 96 and abs(tw / th - width / height) < 0.05

            render = client.get(f"/webgateway/render_image/{image_id}/0/0/")
            assert render.status_code == 200, render.text[:200]
            assert render.headers["content-type"] == "image/jpeg"
            assert _jpeg_size(render.content) == (width, height)


def test_demo_project_walks_via_the_json_api(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """projects -> datasets -> images over /api/v0 with links that stay on the emulator."""
    emu = make_emulator(preset="demo")
    with httpx.Client(timeout=10.0) as client:
        base = client.get(f"{emu.base_url}/api/v0/").json()
        projects = client.get(base["url:projects"]).json()["data"]
        assert [p["@id"] for p in projects] == [c.DEMO_PROJECT_ID]
        seen: list[int] = []
        for project in projects:
            assert project["url:datasets"].startswith(emu.base_url)
            for dataset in client.get(project["url:datasets"]).json()["data"]:
                listing = client.get(dataset["url:images"]).json()
                assert listing["meta"]["totalCount"] == c.DEMO_IMAGES_PER_DATASET
                for image in listing["data"]:
                    detail = client.get(image["url:image"]).json()["data"]
                    assert detail["Pixels"]["Channels"]
                    seen.append(image["@id"])
        assert seen == list(c.DEMO_PROJECT_IMAGE_IDS)

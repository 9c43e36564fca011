"""Answers a rerun cannot change are not retried, and the run says what to do instead.

IDR in 2026 (``migration_2026``): imgData answers 200 + "Error instantiating pixel
buffer" for every image not converted to OME-Zarr, renders 403 with an empty body, sized
thumbnails 404 (the 96 px one still works). A classic OMERO.web ignores ``format=png``
and answers JPEG. Each costs one request per image (retries would ask the one endpoint
IDR's proxy does not cache, for nothing), thumbnails and metadata still come, and
:func:`harvester.fetch.failure_advice` gives one hint per cause and says a rerun cannot
help. Transient answers (another imgData Exception, a ConcurrencyException with its
``backOff``) are still retried. All over the emulator's real sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from harvest_helpers import DEMO_SCREEN, SMALL_PLATE, harvest

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.fetch import (
    HINT_NOT_RENDERED,
    HINT_PNG_IGNORED,
    HINT_THUMBNAIL_96,
    PNG_IGNORED,
    check_imgdata,
    failure_advice,
)
from harvester.retry import RetryEvent

SCREEN_IMAGES = 80
PLATE_IMAGES = 8


def files(out: Path, suffix: str) -> list[Path]:
    return sorted(p for p in (out / "images").rglob(f"*{suffix}") if p.is_file())


def route(emu: EmulatorThread, name: str) -> dict[str, int]:
    return dict(emu.stats()["by_route"].get(name, {}))


def test_migrated_screen_asks_imgdata_once_per_image_and_keeps_thumbnails(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The audit's run: screen 2302 from IDR as of 2026, default artifacts, 5 retries.

    Before: every failed imgData cost 6 requests (204 for 34 images, 170 retries).
    Now: one each, no retry; thumbnails and metadata of all 80 images are on disk; one hint.
    """
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "d"
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), labels=False, max_retries=5)
    imgdata_failures = [f for f in summary.failures if f.kind == "imgdata"]
    assert summary.exit_code == 1
    assert summary.retries == 0
    assert imgdata_failures and "pixel buffer" in imgdata_failures[0].reason
    assert route(emu, "image:imgdata") == {"200": len(imgdata_failures)}  # one request each
    assert "imgdata" in summary.given_up  # the give-up rule still stops it after 20
    assert len(files(out, ".thumbnail.jpg")) == SCREEN_IMAGES
    assert len(files(out, ".metadata.json")) == SCREEN_IMAGES
    assert files(out, ".imgdata.json") == [] and files(out, ".render.jpg") == []
    advice = failure_advice(summary.failures, done_by_kind=summary.done_by_kind)
    assert advice.hints == (HINT_NOT_RENDERED,)
    assert not advice.rerun_helps
    assert advice.closing("harvester harvest --out D") == (
        "a rerun would get the same answers for these failures: follow the hint above; "
        "this folder resumes with: harvester harvest --out D"
    )
    assert HINT_NOT_RENDERED == (
        "this server does not render these images (IDR since its move to OME-Zarr): "
        "--artifacts thumbnail,metadata,rois still work; pixels: IDR's OME-Zarr or the original "
        "files"
    )

    # What the hint says works: the same folder, the artifacts the server still serves.
    emu.reset_stats()
    again = harvest(
        emu.base_url, out, screens=(DEMO_SCREEN,), labels=False, artifacts=("thumbnail", "metadata")
    )
    assert (again.exit_code, again.failed, emu.stats()["image_requests"]) == (0, 0, 0)


def test_give_up_sees_one_answer_whatever_the_file_names(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Real IDR names each image's file in the Exception (letters, not only digits:
    ``.../Plate1-Blue-A-12-Scene-3.czi``): still the same answer for the give-up rule,
    which stops asking imgData after 20 of them instead of asking all 80 images."""
    app = build_application("demo", migration_2026=True)
    letters = "abcdefghijklmnopqrstuvwxyz"

    class NamedFiles:
        def handle(self, req: Request) -> Response:
            resp = app.handle(req)
            if "/imgData/" in req.path:
                body = json.loads(resp.body)
                image = int(body["id"])
                name = "".join(letters[(image // 26**i) % 26] for i in range(4))
                body["Exception"] = (
                    f"Error instantiating pixel buffer: /OMERO/ManagedRepo/demo_2/{name}/"
                    f"Plate-{name.upper()}-Scene.czi"
                )
                resp = Response(200, json.dumps(body).encode(), resp.content_type, route=resp.route)
            return resp

    emu = make_emulator(app=NamedFiles())
    summary = harvest(
        emu.base_url, tmp_path / "d", screens=(DEMO_SCREEN,), labels=False,
        artifacts=("thumbnail", "imgdata"),
    )  # fmt: skip
    assert "imgdata" in summary.given_up
    asked = sum(route(emu, "image:imgdata").values())
    assert asked == summary.failed < SCREEN_IMAGES
    assert len(files(tmp_path / "d", ".thumbnail.jpg")) == SCREEN_IMAGES


def test_a_stack_of_a_migrated_image_costs_one_imgdata_request(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgData, stack and render of one image: one imgData request, three failures, one hint."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "d"
    image = 9762885
    summary = harvest(
        emu.base_url,
        out,
        images=(image,),
        labels=False,
        artifacts=("imgdata", "render", "stack", "thumbnail"),
    )
    assert summary.retries == 0
    assert route(emu, "image:imgdata") == {"200": 1}
    assert sorted(f.kind for f in summary.failures) == ["imgdata", "render", "stack"]
    assert len(files(out, ".thumbnail.jpg")) == 1
    advice = failure_advice(summary.failures, done_by_kind=summary.done_by_kind)
    assert (advice.hints, advice.rerun_helps) == ((HINT_NOT_RENDERED,), False)


def _migrated_after_imgdata(
    make_emulator: Callable[..., EmulatorThread], out: Path
) -> EmulatorThread:
    """``out`` with the small plate's imgData harvested before IDR's migration; returns the
    emulator of after it (renders refused with an empty 403)."""
    before = make_emulator(preset="demo")
    first = harvest(
        before.base_url, out, plates=(SMALL_PLATE,), labels=False, artifacts=("imgdata",)
    )
    assert first.exit_code == 0
    return make_emulator(preset="demo", migration_2026=True)


def test_render_and_stack_refused_with_an_empty_403_are_asked_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgData already on disk (harvested before the migration), renders now 403 empty:
    one render request per image, and one plane request per stack (before: one per plane
    worker in flight, 4 per image); the same hint (a rerun gets 403 again)."""
    out = tmp_path / "d"
    after = _migrated_after_imgdata(make_emulator, out)
    summary = harvest(
        after.base_url,
        out,
        plates=(SMALL_PLATE,),
        labels=False,
        artifacts=("imgdata", "render", "stack"),
    )
    assert summary.exit_code == 1 and summary.retries == 0
    assert route(after, "image:imgdata") == {}  # read from disk
    assert route(after, "image:render") == {"403": 2 * PLATE_IMAGES}
    assert {(f.kind, f.status) for f in summary.failures} == {("render", 403), ("stack", 403)}
    assert files(out, ".stack.ome.tif") == [] and not (out / "staging").exists()
    advice = failure_advice(summary.failures, done_by_kind=summary.done_by_kind)
    assert (advice.hints, advice.rerun_helps) == ((HINT_NOT_RENDERED,), False)


def test_a_big_render_refused_with_an_empty_403_asks_one_region(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plane fetched as regions (``max_plane`` below its size): one region request per
    image when renders are refused, not one per region worker in flight (before: 4)."""
    out = tmp_path / "d"
    after = _migrated_after_imgdata(make_emulator, out)
    summary = harvest(
        after.base_url,
        out,
        plates=(SMALL_PLATE,),
        labels=False,
        artifacts=("imgdata", "render"),
        max_plane=64,
    )
    assert summary.exit_code == 1 and summary.retries == 0
    assert route(after, "image:render_region") == {"403": PLATE_IMAGES}
    assert {(f.kind, f.status) for f in summary.failures} == {("render", 403)}


def test_sized_thumbnails_all_404_say_use_96(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """400 px thumbnails from IDR 2026: one 404 each, and the 96 px hint; 96 px works."""
    emu = make_emulator(preset="demo", migration_2026=True)
    summary = harvest(
        emu.base_url,
        tmp_path / "d",
        plates=(SMALL_PLATE,),
        labels=False,
        artifacts=("thumbnail",),
        thumbnail_size=400,
    )
    assert summary.exit_code == 1 and summary.retries == 0
    assert route(emu, "image:thumbnail") == {"404": PLATE_IMAGES}
    advice = failure_advice(summary.failures, done_by_kind=summary.done_by_kind)
    assert (advice.hints, advice.rerun_helps) == ((HINT_THUMBNAIL_96,), False)
    assert HINT_THUMBNAIL_96.startswith(
        "this server serves 96 px thumbnails only: use --thumbnail-size 96"
    )
    ok = harvest(
        emu.base_url, tmp_path / "e", plates=(SMALL_PLATE,), labels=False, artifacts=("thumbnail",)
    )
    assert ok.exit_code == 0 and len(files(tmp_path / "e", ".thumbnail.jpg")) == PLATE_IMAGES


def test_png_render_answered_with_jpeg_fails_at_once_saying_why(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Classic OMERO.web ignores format=png: before, 6 requests per image and "body is not
    a PNG image"; now one, a reason naming render_format, and the PNG hint."""
    emu = make_emulator(preset="demo", mode="omeroweb")
    out = tmp_path / "d"
    summary = harvest(
        emu.base_url,
        out,
        plates=(SMALL_PLATE,),
        labels=False,
        artifacts=("render",),
        render_format="png",
        max_retries=5,
    )
    assert summary.exit_code == 1 and summary.retries == 0
    assert route(emu, "image:render") == {"200": PLATE_IMAGES}
    assert len(summary.failures) == PLATE_IMAGES
    assert all(f.reason.startswith(PNG_IGNORED) for f in summary.failures)
    assert 'render_format = "jpeg"' in summary.failures[0].reason
    assert files(out, ".render.png") == []
    advice = failure_advice(summary.failures, done_by_kind=summary.done_by_kind)
    assert (advice.hints, advice.rerun_helps) == ((HINT_PNG_IGNORED,), False)


def test_png_render_from_the_microservice_is_kept(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """IDR's image-region service honours format=png: the check lets real PNGs through."""
    emu = make_emulator(preset="demo", mode="microservice")
    out = tmp_path / "d"
    summary = harvest(
        emu.base_url, out, plates=(SMALL_PLATE,), labels=False, artifacts=("render",),
        render_format="png",
    )  # fmt: skip
    assert summary.exit_code == 0, summary.failures[:1]
    pngs = files(out, ".render.png")
    assert len(pngs) == PLATE_IMAGES
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)


def test_other_imgdata_exceptions_are_still_retried(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An imgData Exception that is not about the pixel buffer (the emulator's transient
    fault) is retried and the artifact ends present; nothing to hint."""
    app = build_application("demo")

    class OnceBroken:
        """Each imgData first answers a lost-connection Exception, then the real body."""

        def __init__(self) -> None:
            self.seen: set[str] = set()

        def handle(self, req: Request) -> Response:
            if "/imgData/" in req.path and req.path not in self.seen:
                self.seen.add(req.path)
                body = {"id": 1, "Exception": "Ice.ConnectionLostException: recv() lost"}
                return Response(200, json.dumps(body).encode(), "application/json", route="x")
            return app.handle(req)

    emu = make_emulator(app=OnceBroken())
    out = tmp_path / "d"
    summary = harvest(
        emu.base_url, out, plates=(SMALL_PLATE,), labels=False, artifacts=("imgdata",)
    )
    assert summary.exit_code == 0
    assert summary.retries == PLATE_IMAGES
    assert len(files(out, ".imgdata.json")) == PLATE_IMAGES
    advice = failure_advice([{"kind": "imgdata", "status": 200, "reason": "imgData Exception: x"}])
    assert (advice.hints, advice.rerun_helps) == ((), True)


@pytest.mark.anyio
async def test_concurrency_exception_is_retried_after_its_back_off(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """``{"ConcurrencyException": {"backOff": 250}}`` (HTTP 200): retried, waiting 0.25 s
    (the server's backOff, not the jittered backoff), until imgData comes."""
    app = build_application("demo")
    busy = {"left": 2}

    class Busy:
        def handle(self, req: Request) -> Response:
            if "/imgData/" in req.path and busy["left"] > 0:
                busy["left"] -= 1
                body = b'{"ConcurrencyException": {"backOff": 250}}'
                return Response(200, body, "application/json", route="busy")
            return app.handle(req)

    emu = make_emulator(app=Busy())
    events: list[RetryEvent] = []
    settings = ClientSettings(base_url=emu.base_url, rate=None)
    with anyio.fail_after(30):
        async with Client(settings, on_retry=events.append) as client:
            fetched = await client.get("webclient/imgData/9762885/", Expect.JSON, check_imgdata)
    body: Any = fetched.json()
    assert "size" in body
    assert [e.wait for e in events] == [0.25, 0.25]
    assert all("ConcurrencyException" in e.error.reason for e in events)
    assert emu.stats()["requests"] == 3


def test_a_java_trace_in_imgdata_is_one_line_of_reason() -> None:
    """The server's Exception text (a stack trace with line breaks) becomes one line: the
    summary and `status` print one line per failure."""
    from harvester.client import Fetched
    from harvester.errors import InvalidBodyError
    from harvester.fetch import check_imgdata

    trace = "omero.InternalException\n    at ome.io.Pixels.read(Pixels.java:42)\n\tat x.y"
    body = json.dumps({"id": 1, "Exception": trace}).encode()
    with pytest.raises(InvalidBodyError) as err:
        check_imgdata(Fetched("u", 200, "application/json", body))
    assert err.value.reason == (
        "imgData Exception: omero.InternalException at ome.io.Pixels.read(Pixels.java:42) at x.y"
    )

"""Planes over Pillow's decompression-bomb limit (~179 M px), asked whole with ``max_plane``.

The emulator's imgData of the ``tiled`` preset's 8000x6000 image is made to say a bigger
plane, and its renders answer a PNG of that size (one grey level: small to send), so that
a harvest decodes a real plane over the limit without the emulator rendering one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import tifffile
from PIL import Image

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.app import build_app
from harvester.emulator.catalogue import TILED_IMAGE_ID
from harvester.emulator.http import Request, Response

Factory = Callable[..., EmulatorThread]
#: Over Pillow's default refusal (2 x 89,478,485 px): 182 M px, about 13,500 px square.
BIG_SIDE = 13_500
GREY = 7


@cache
def grey_png(side: int) -> bytes:
    """A ``side`` x ``side`` PNG of one grey level. zlib's fastest level: at 13,500 px a side
    it takes half the CPU to encode here and to decode in the harvester (0.8 MB, not 0.2 MB,
    over loopback), the same pixels."""
    out = io.BytesIO()
    Image.new("L", (side, side), GREY).save(out, "PNG", compress_level=1)
    return out.getvalue()


def claiming_png(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` px (a decompression bomb):
    valid chunks and CRCs, a few bytes of pixel data."""

    def chunk(name: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(name + data)
        return struct.pack(">I", len(data)) + name + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


class SizedImage:
    """The ``tiled`` emulator, its image's imgData saying ``size`` and its renders ``png``."""

    def __init__(self, size: tuple[int, int], png: bytes) -> None:
        self.inner = build_app(preset="tiled")
        self.size = size
        self.png = png

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)

    def handle(self, req: Request) -> Response:
        resp = self.inner.handle(req)
        if req.path.endswith(f"/imgData/{TILED_IMAGE_ID}/"):
            data = json.loads(resp.body)
            data["size"]["width"], data["size"]["height"] = self.size
            data["levels"] = 1
            return dataclasses.replace(resp, body=json.dumps(data).encode())
        if f"/render_image/{TILED_IMAGE_ID}/" in req.path:
            return Response(200, self.png, "image/png", route=resp.route)
        return resp


def harvest_stack(
    capsys: pytest.CaptureFixture[str], emu: EmulatorThread, out: Path, max_plane: int
) -> tuple[int, str, str]:
    """``harvester harvest CONFIG --artifacts stack`` of the image, ``max_plane`` in CONFIG."""
    config = out.parent / "harvest.toml"
    config.write_text(f"max_plane = {max_plane}\n", encoding="utf-8")
    code = main(
        [
            "harvest", str(config), "--base-url", emu.base_url, "--image", str(TILED_IMAGE_ID),
            "--out", str(out), "--artifacts", "stack", "--rate", "none", "--max-retries", "0",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    return code, captured.out, captured.err


def test_whole_plane_over_pillows_limit_is_stacked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """A 13500x13500 plane asked whole (max_plane 13500) is decoded and stacked, exit 0: it
    stopped the run with "internal error: DecompressionBombError" (Pillow's default limit,
    which the harvester's own bound on planes replaces), and warned over ~9,500 px."""
    emu = make_emulator(app=SizedImage((BIG_SIDE, BIG_SIDE), grey_png(BIG_SIDE)))
    out = tmp_path / "d"
    code, said, err = harvest_stack(capsys, emu, out, BIG_SIDE)
    assert code == 0, err
    assert said.startswith("done 1 (stack 1), skipped 0 (already done), failed 0")
    assert "DecompressionBomb" not in err
    (stack,) = out.rglob(f"{TILED_IMAGE_ID}.stack.ome.tif")
    with tifffile.TiffFile(stack) as tif:
        plane = tif.series[0].asarray()
    assert plane.shape[-2:] == (BIG_SIDE, BIG_SIDE)
    assert plane.min() == plane.max() == GREY


def test_answer_claiming_more_than_any_plane_fails_its_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """An 8000x6000 plane answered by a PNG that claims 70000x70000 px (4.9 G px, a
    decompression bomb) fails its stack in one line that says so, exit 1, nothing decoded
    nor stored: no traceback, no "internal error", no "no answer"."""
    emu = make_emulator(app=SizedImage((8000, 6000), claiming_png(70_000, 70_000)))
    out = tmp_path / "d"
    code, said, err = harvest_stack(capsys, emu, out, 8000)
    assert code == 1, err
    assert said.startswith("done 0, skipped 0 (already done), failed 1")
    (failed,) = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failed.startswith(
        f"failed: stack of image {TILED_IMAGE_ID}: PNG not decoded, too big: Image size "
        "(4900000000 pixels) exceeds limit of 4294967296 pixels"
    ), failed
    assert "no answer" not in failed
    assert not list(out.rglob("*.stack.ome.tif"))


def test_verify_keeps_a_render_over_pillows_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """A stored 13500x13500 render is ok to ``harvester verify``, exit 0: it was called
    damaged ("does not decode (DecompressionBombError ...)"), and every harvest after
    fetched it again for the same verdict."""
    emu = make_emulator(app=SizedImage((BIG_SIDE, BIG_SIDE), grey_png(BIG_SIDE)))
    out = tmp_path / "d"
    config = tmp_path / "harvest.toml"
    config.write_text(f'max_plane = {BIG_SIDE}\nrender_format = "png"\n', encoding="utf-8")
    code = main(
        [
            "harvest", str(config), "--base-url", emu.base_url, "--image", str(TILED_IMAGE_ID),
            "--out", str(out), "--artifacts", "render", "--rate", "none",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    said = capsys.readouterr()
    assert "damaged: " not in said.out + said.err
    assert said.out.splitlines()[-1].endswith(": 1 ok, 0 damaged, 0 missing")

"""A plane decoded a strip of rows at a time is the plane decoded whole, in every format.

:func:`harvester.planes.decode_grey` copies a decoded render into the plane strip by strip
(its memory) and asks libjpeg for a JPEG's luminance alone (Pillow's ``draft("L")``). Here
strips of three rows (the last one shorter) are compared with one strip for the whole
image, for the PNG kinds a server or a proxy may answer (grey, RGB, Adam7-interlaced,
palette, grey + alpha, RGBA) and the JPEG kinds (baseline, 4:2:0, progressive, restart
markers, Adobe RGB, CMYK); a lossless m=g render must decode to its exact grey plane, and a
JPEG within one grey level of 0.1.22's decode (Pillow's RGB converted to L), at its full size.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from harvester import planes

WIDTH, HEIGHT = 301, 37  # (37 rows: strips of 3, the last of 1)


def _truth() -> np.ndarray:
    """A grey plane with smooth parts and noisy rows."""
    grey = (np.add.outer(np.arange(HEIGHT) * 5, np.arange(WIDTH)) % 256).astype(np.uint8)
    grey[::4] = np.random.default_rng(7).integers(0, 256, (len(grey[::4]), WIDTH))
    return grey


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _adam7_rgb(grey: np.ndarray) -> bytes:
    """An interlaced (Adam7) 8-bit RGB PNG of ``grey`` (Pillow writes none)."""
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in [*passes, (0, 1, 1, 2)]:
        for row in rgb[y0::dy, x0::dx]:
            if row.size:
                raw += b"\0" + row.tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 1)
    return (
        planes.PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def _grey(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(grey)


def _rgb(grey: np.ndarray) -> Image.Image:
    return _grey(grey).convert("RGB")


PNGS: dict[str, Callable[[np.ndarray], bytes]] = {
    "grey": lambda g: _saved(_grey(g), "PNG"),
    "rgb": lambda g: _saved(_rgb(g), "PNG"),
    "rgb-adam7": _adam7_rgb,
    "palette": lambda g: _saved(_grey(g).convert("P"), "PNG"),
    "grey-alpha": lambda g: _saved(Image.merge("LA", [_grey(g), _grey(g)]), "PNG"),
    "rgba": lambda g: _saved(_rgb(g).convert("RGBA"), "PNG"),
}

JPEGS: dict[str, Callable[[np.ndarray], bytes]] = {
    "grey": lambda g: _saved(_grey(g), "JPEG", quality=100),
    "baseline": lambda g: _saved(_rgb(g), "JPEG", quality=100),
    "420": lambda g: _saved(_rgb(g), "JPEG", quality=90, subsampling=2),
    "progressive": lambda g: _saved(_rgb(g), "JPEG", quality=100, progressive=True),
    "restart-markers": lambda g: _saved(_rgb(g), "JPEG", quality=100, restart_marker_rows=1),
    "adobe-rgb": lambda g: _saved(_rgb(g), "JPEG", quality=100, keep_rgb=True),
    "cmyk": lambda g: _saved(_rgb(g).convert("CMYK"), "JPEG", quality=100),
}


def _strip_wise(body: bytes, rows: int, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """``decode_grey`` with strips of ``rows`` rows of an RGB image."""
    with monkeypatch.context() as patch:
        patch.setattr(planes, "_STRIP_BYTES", rows * 4 * WIDTH)
        return planes.decode_grey(body, (WIDTH, HEIGHT))


@pytest.mark.parametrize("kind", list(PNGS))
def test_png_strips_make_the_exact_plane(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PNG kind decoded three rows at a time (and in one strip) is the exact plane."""
    truth = _truth()
    body = PNGS[kind](truth)
    assert (_strip_wise(body, 3, monkeypatch) == truth).all()
    assert (_strip_wise(body, HEIGHT, monkeypatch) == truth).all()


def test_the_adam7_png_is_interlaced() -> None:
    """(The interlaced case is one: Pillow reads its IHDR's interlace flag.)"""
    with Image.open(io.BytesIO(_adam7_rgb(_truth()))) as image:
        assert image.info.get("interlace") == 1 and image.mode == "RGB"


@pytest.mark.parametrize("kind", list(JPEGS))
def test_jpeg_strips_make_the_whole_decode_within_a_level_of_0_1_22s(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every JPEG kind decoded three rows at a time is its whole decode, and within one grey
    level of 0.1.22's RGB-then-convert decode."""
    truth = _truth()
    body = JPEGS[kind](truth)
    stripped = _strip_wise(body, 3, monkeypatch)
    assert stripped.shape == (HEIGHT, WIDTH)
    assert (stripped == _strip_wise(body, HEIGHT, monkeypatch)).all()
    with Image.open(io.BytesIO(body)) as image:
        before = np.asarray(image.convert("L"), dtype=np.int16)  # 0.1.22's decode
    assert np.abs(stripped.astype(np.int16) - before).max() <= 1


def test_the_jpeg_variants_are_what_they_say() -> None:
    """Restart markers written, Adobe RGB and CMYK kept as such, progressive flagged."""
    truth = _truth()
    assert b"\xff\xd0" in JPEGS["restart-markers"](truth)
    with Image.open(io.BytesIO(JPEGS["progressive"](truth))) as image:
        assert image.info.get("progressive")
    with Image.open(io.BytesIO(JPEGS["cmyk"](truth))) as image:
        assert image.mode == "CMYK"
    with Image.open(io.BytesIO(JPEGS["adobe-rgb"](truth))) as image:
        assert image.mode == "RGB" and image.info.get("adobe_transform") == 0


def test_a_large_jpeg_is_decoded_at_its_full_size() -> None:
    """``draft`` may scale a JPEG down by up to 8: asked for the image's own size, never."""
    grey = (np.add.outer(np.arange(1600), np.arange(2400)) % 251).astype(np.uint8)
    body = _saved(_rgb(grey), "JPEG", quality=100)
    plane = planes.decode_grey(body, (2400, 1600))
    assert plane.shape == (1600, 2400)
    assert np.abs(plane.astype(np.int16) - grey).max() <= 2

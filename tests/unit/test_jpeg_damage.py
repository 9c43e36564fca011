"""The JPEG structure check of thumbnails and JPEG renders (no decoding)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from harvester.emulator.http import Response
from harvester.emulator.server import corrupted
from harvester.jpeg import jpeg_damage

OPTIONS = [{}, {"progressive": True}, {"optimize": True}, {"restart_marker_blocks": 2}]


def _jpeg(seed: int, mode: str = "RGB", size: int = 96, **options: object) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(out, "JPEG", **options)
    return out.getvalue()


@pytest.mark.parametrize("options", OPTIONS, ids=["baseline", "progressive", "optimized", "rst"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_whole_jpegs_pass(options: dict[str, object], mode: str) -> None:
    """Baseline, progressive, optimized and restart-marker JPEGs, colour and grey, pass."""
    for seed in range(5):
        assert jpeg_damage(_jpeg(seed, mode, **options)) is None


@pytest.mark.parametrize("options", OPTIONS, ids=["baseline", "progressive", "optimized", "rst"])
def test_the_emulators_corrupt_fault_is_caught(options: dict[str, object]) -> None:
    """A third of the body inverted, first and last bytes intact: said damaged."""
    for seed in range(5):
        damaged = corrupted(Response(200, _jpeg(seed, **options))).body
        assert jpeg_damage(damaged) is not None


def test_cut_short_or_padded() -> None:
    """Cut short is damage; zero padding after EOI is not."""
    body = _jpeg(1)
    assert "without an EOI" in str(jpeg_damage(body[:-2]))
    assert jpeg_damage(body[: len(body) // 2]) is not None
    assert jpeg_damage(body + b"\x00" * 16) is None
    assert "SOI" in str(jpeg_damage(b"\x89PNG\r\n\x1a\n"))


@pytest.mark.parametrize(
    "trailer", [b"\r\n", b"junk", b"\xff", b"\xffx"], ids=["crlf", "text", "ff", "ffx"]
)
def test_bytes_a_server_appends_after_eoi_pass(trailer: bytes) -> None:
    """Bytes after EOI that are not the rest of the image pass: decoders stop at EOI."""
    body = _jpeg(1) + trailer
    Image.open(io.BytesIO(body)).load()  # (a valid JPEG to Pillow)
    assert jpeg_damage(body) is None


def test_a_further_image_after_eoi_passes() -> None:
    """A JPEG followed by another (a Multi-Picture Format file) passes."""
    assert jpeg_damage(_jpeg(1) + _jpeg(2)) is None


def test_an_eoi_made_inside_the_scan_is_damage() -> None:
    """``FF D9`` in the scan data, the real EOI still at the end: said damaged."""
    body = _jpeg(3)
    middle = len(body) // 2
    damaged = body[:middle] + b"\xff\xd9" + body[middle + 2 :]
    assert "comes" in str(jpeg_damage(damaged))


def test_fill_bytes_before_restart_markers_pass() -> None:
    """``FF FF D0`` inside the scan (fill bytes before a restart marker, as T.81 allows) passes."""
    body = _jpeg(4, restart_marker_blocks=1)
    filled = re.sub(rb"\xff[\xd0-\xd7]", lambda m: b"\xff\xff" + m.group(0), body)
    assert filled != body
    Image.open(io.BytesIO(filled)).load()  # (a valid JPEG to Pillow)
    assert jpeg_damage(filled) is None
    assert jpeg_damage(body[:-2] + b"\xff\xff\xff\xd9") is None  # and before EOI

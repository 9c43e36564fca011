"""The JPEG structure check of thumbnails and JPEG renders (no decoding)."""

from __future__ import annotations

import io

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


def test_cut_short_padded_or_followed_by_bytes() -> None:
    """Cut short, or bytes after EOI, is damage; zero padding after EOI is not."""
    body = _jpeg(1)
    assert "without an EOI" in str(jpeg_damage(body[:-2]))
    assert jpeg_damage(body[: len(body) // 2]) is not None
    assert jpeg_damage(body + b"\x00" * 16) is None
    assert "follow its EOI" in str(jpeg_damage(body + b"junk"))
    assert "SOI" in str(jpeg_damage(b"\x89PNG\r\n\x1a\n"))

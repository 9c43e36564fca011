"""Memory of one big stack plane: decoding a render and halving it for the pyramid.

A stack is built plane by plane, so its peak memory is a few planes' worth;
for IDR's large images (8000 x 6000 and more) the per-plane factor is what
matters. numpy reports its buffers to tracemalloc, so the peaks below are
measured, not timed; Pillow does not (its pixels are allocated where tracemalloc
does not look), so a render's decode is measured as RSS, in a fresh process.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from harvester.ometiff import StackMetadata, write_ome_tiff
from harvester.planes import decode_grey, halve
from harvester.window import ChannelWindow


def _reference_halve(plane: np.ndarray) -> np.ndarray:
    height, width = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    blocks = plane[:height, :width].astype(np.int64)
    total = blocks[0::2, 0::2] + blocks[1::2, 0::2] + blocks[0::2, 1::2] + blocks[1::2, 1::2]
    return ((total + 2) // 4).astype(np.uint8)


def test_halve_exact_and_under_one_plane_of_memory() -> None:
    """The 2x2 mean (half up) is exact, odd edges dropped, and its peak is below the
    plane's own size (it made a uint16 copy of the whole plane: 2x, plus temporaries)."""
    rng = np.random.default_rng(4)
    plane = rng.integers(0, 256, size=(2049, 2047), dtype=np.uint8)
    plane[:4, :4] = 255  # the largest sums: 4 * 255 + 2 must not overflow
    tracemalloc.start()
    try:
        small = halve(plane)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert small.shape == (1024, 1023) and small.dtype == np.uint8
    assert (small == _reference_halve(plane)).all()
    assert small[0, 0] == 255
    assert peak < plane.nbytes, f"halve peaked at {peak / plane.nbytes:.2f} x the plane"


#: Decodes the render in ``argv[1]`` (``argv[2]`` x ``argv[3]`` px) in a fresh process and
#: prints the RSS its decode added at its peak, in bytes, and whether the plane has its size.
#: RSS, not tracemalloc: Pillow's pixels are allocated where tracemalloc does not look.
_DECODE_CHILD = """
import sys
from pathlib import Path
import numpy  # imported by decode_grey: its 13 MB are no decode's
from harvester.planes import decode_grey, opened

def status_bytes(field):
    lines = Path("/proc/self/status").read_text().splitlines()
    return int(next(x for x in lines if x.startswith(field)).split()[1]) * 1024

body = Path(sys.argv[1]).read_bytes()
size = (int(sys.argv[2]), int(sys.argv[3]))
with opened(body):  # Pillow and its plugins loaded before the measure
    pass
Path("/proc/self/clear_refs").write_text("5")  # the peak so far: now
base = status_bytes("VmRSS")
plane = decode_grey(body, size)
peak = status_bytes("VmHWM")
print(peak - base, int(plane.shape == size[::-1]))
"""


def _grey_render(fmt: str, width: int, height: int) -> tuple[np.ndarray, bytes]:
    """An m=g render as a server sends it (RGB, R = G = B), with the grey plane it shows."""
    yy, xx = np.mgrid[0:height, 0:width]
    grey = ((xx // 3 + yy // 2) % 200 + (xx * yy) % 41).astype(np.uint8)
    buf = io.BytesIO()
    rgb = Image.fromarray(grey).convert("RGB")
    if fmt == "png":
        rgb.save(buf, format="PNG", compress_level=1)
    else:
        rgb.save(buf, format="JPEG", quality=100)
    return grey, buf.getvalue()


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures RSS through Linux's /proc"
)
@pytest.mark.parametrize(
    ("fmt", "most"),
    # Pillow holds RGB at 4 bytes a pixel; the plane 1, a strip of rows a little. It was
    # 6.5 for a PNG (its first band as an image, numpy's copy through tobytes: 2) and 7
    # for a JPEG (decoded to RGB, converted to L, copied as the PNG's band).
    [("png", 5.5), ("jpeg", 2.5)],
)
def test_decode_grey_of_a_whole_rgb_render_holds_what_the_readme_says(
    tmp_path: Path, fmt: str, most: float
) -> None:
    """A whole plane's RGB render decodes to its grey plane adding at most ``most`` bytes
    a pixel of RSS at its peak, measured in a fresh process: with the answer itself, the
    bulk of what README says assembling a plane fetched whole holds (about 6 bytes a pixel
    for an RGB PNG, 3 for a JPEG)."""
    width, height = 2400, 2000
    _grey, body = _grey_render(fmt, width, height)
    path = tmp_path / f"plane.{fmt}"
    path.write_bytes(body)
    child = subprocess.run(
        [sys.executable, "-c", _DECODE_CHILD, str(path), str(width), str(height)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    added, shaped = (int(v) for v in child.stdout.split())
    assert shaped == 1
    held = added / (width * height)
    assert held <= most, f"decoding held {held:.2f} bytes a pixel"


def test_decode_grey_png_takes_the_exact_first_band() -> None:
    """An m=g render (R = G = B) decodes to its exact grey plane, copied strip by strip."""
    grey, body = _grey_render("png", 2000, 1500)
    decoded = decode_grey(body, (2000, 1500))
    assert decoded.dtype == np.uint8 and decoded.flags.c_contiguous
    assert (decoded == grey).all()


def test_decode_grey_jpeg_is_the_luminance_within_jpeg_error() -> None:
    """A JPEG render decodes to its luminance alone: within a JPEG's error of the grey plane."""
    grey, body = _grey_render("jpeg", 700, 500)
    decoded = decode_grey(body, (700, 500))
    assert decoded.shape == (500, 700)
    assert np.abs(decoded.astype(int) - grey).max() <= 12


def test_write_ome_tiff_holds_one_plane_at_a_time(tmp_path: Path) -> None:
    """A tiled pyramid stack is written with about one plane alive at a time: the
    writer kept the previous plane (loop variable, and tifffile holding a
    tile view of it) while the next was made: 3 planes; now 1 plus the halving."""
    side = 2048
    plane_bytes = side * side
    windows = (ChannelWindow(0, "C0", "FFFFFF", 0, 255),)
    meta = StackMetadata(
        image_id=1,
        name="big",
        server="test",
        size_x=side,
        size_y=side,
        size_z=4,
        size_c=1,
        size_t=1,
        windows=windows,
        window_mode="full",
        source_format="png",
        levels=2,
    )

    def source(t: int, z: int, c: int) -> np.ndarray:
        return np.full((side, side), 10 * z + 1, dtype=np.uint8)  # a fresh plane each call

    path = tmp_path / "big.ome.tif"
    tracemalloc.start()
    try:
        write_ome_tiff(path, meta, source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with tifffile.TiffFile(path) as tif:
        data = tif.series[0].asarray()
        assert data.shape == (4, side, side)
        assert [int(data[z, 0, 0]) for z in range(4)] == [1, 11, 21, 31]
        assert tif.series[0].levels[1].shape == (4, side // 2, side // 2)
    assert peak < 2.2 * plane_bytes, f"writer peaked at {peak / plane_bytes:.2f} planes"

"""Memory of one big stack plane: decoding a render and halving it for the pyramid.

A stack is built plane by plane, so its peak memory is a few planes' worth;
for IDR's large images (8000 x 6000 and more) the per-plane factor is what
matters. numpy reports its buffers to tracemalloc, so the peaks below are
measured, not timed.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import numpy as np
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


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def test_decode_grey_png_takes_the_first_band_within_two_planes() -> None:
    """An m=g render (R = G = B) decodes to its exact grey plane; the decoder's
    peak is at most two grey planes (it copied the whole RGB image: 3 planes, then
    the band: about 4 planes in all)."""
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, size=(1500, 2000), dtype=np.uint8)
    body = _png(np.repeat(grey[:, :, None], 3, axis=2))
    tracemalloc.start()
    try:
        decoded = decode_grey(body, (2000, 1500))
        peak = tracemalloc.get_traced_memory()[1] - len(body)
    finally:
        tracemalloc.stop()
    assert decoded.dtype == np.uint8 and decoded.flags.c_contiguous
    assert (decoded == grey).all()
    assert peak <= 2 * grey.nbytes + 65536, f"decode peaked at {peak / grey.nbytes:.2f} planes"


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

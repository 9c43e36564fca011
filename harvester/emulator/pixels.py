"""Synthetic pixel planes: a deterministic function of (image, z, t, c).

Every emulated image has pixels, but none are stored: a plane is computed on
demand from the image id, so a catalogue of a million images costs nothing
until a pixel is asked for, and the ground truth of any render can be
recomputed in-process by tests (``render.render_plane``).

What a plane looks like (so renders and thumbnails show visible structure):

* a soft background gradient whose direction depends on (image, c);
* "nuclei": gaussian blobs on a jittered grid of cells. Positions are shared
  by all channels of an image (channels look related, as in a real assay),
  while size, brightness and presence differ per channel. Blobs come into
  focus at their own z and wobble with t, so z-stacks and time series change
  from plane to plane;
* a little fixed-pattern noise (one 256 x 256 tile, offset per plane).

Intensities are scaled to each channel's saved rendering window
(``ChannelInfo.start``/``end``) so that rendering with the saved settings
shows the structure, as IDR's own thumbnails do.

Geometry and exactness:

* the cell size grows with the image (at most 32 x 32 cells), so a plane has
  at most ~1,000 blobs whatever its size, and a tile of a huge image touches
  only a few of them;
* a pixel's value depends only on its global position: a region (``x, y, w,
  h``) of a plane is computed without the rest of it and is bit-identical to
  the same window of the full plane (each blob is added over a support fixed
  in global coordinates, in a fixed global order);
* pyramid level ``k`` halves both sides ``k`` times (``ceil``); a level-k pixel
  samples the centre of its 2^k x 2^k block, with blobs widened so that their
  integrated intensity is kept (a cheap, honest downsampling).

Planes of small images are kept in a small LRU cache (the render and
thumbnail paths ask for the same planes repeatedly).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from harvester.emulator.model import ImageInfo

#: numpy dtype and inclusive value range per OMERO pixel type.
PIXEL_TYPES: dict[str, tuple[str, float, float]] = {
    "bit": ("uint8", 0.0, 1.0),
    "int8": ("int8", -128.0, 127.0),
    "uint8": ("uint8", 0.0, 255.0),
    "int16": ("int16", -32768.0, 32767.0),
    "uint16": ("uint16", 0.0, 65535.0),
    "int32": ("int32", -2147483648.0, 2147483647.0),
    "uint32": ("uint32", 0.0, 4294967295.0),
    "float": ("float32", -2147483648.0, 2147483647.0),
    "double": ("float64", -2147483648.0, 2147483647.0),
}

Region = tuple[int, int, int, int]
FloatArray = npt.NDArray[np.float64]

_CACHE_PLANES = 48
_CACHE_MAX_BYTES = 48 * 1024 * 1024  # cached planes never hold more than this
_MAX_CELLS_PER_SIDE = 32
_MIN_CELL = 40
_NOISE_SIDE = 256
_U64 = np.uint64
_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class _LRU(OrderedDict[_K, _V]):
    """A tiny thread-safe LRU bounded by entries and, optionally, by total weight (bytes).

    Planes are asked for by the server thread and by tests at once; the
    weight bound keeps memory flat whatever the images' sizes.
    """

    def __init__(self, size: int, max_weight: int | None = None) -> None:
        super().__init__()
        self.size = size
        self.max_weight = max_weight
        self.weights: dict[_K, int] = {}
        self.total = 0
        self.lock = threading.Lock()

    def lookup(self, key: _K) -> _V | None:
        with self.lock:
            value = self.get(key)
            if value is not None:
                self.move_to_end(key)
            return value

    def store(self, key: _K, value: _V, weight: int = 0) -> None:
        with self.lock:
            if self.max_weight is not None and weight > self.max_weight:
                return
            self.total += weight - self.weights.get(key, 0)
            self.weights[key] = weight
            self[key] = value
            self.move_to_end(key)
            while len(self) > self.size or (
                self.max_weight is not None and self.total > self.max_weight
            ):
                old, _ = self.popitem(last=False)
                self.total -= self.weights.pop(old, 0)

    def reset(self) -> None:
        with self.lock:
            self.clear()
            self.weights.clear()
            self.total = 0


def dtype_of(pixel_type: str) -> np.dtype[np.generic]:
    """The numpy dtype of an OMERO pixel type (unknown types read as uint16)."""
    return np.dtype(PIXEL_TYPES.get(pixel_type, PIXEL_TYPES["uint16"])[0])


def pixel_range(pixel_type: str) -> tuple[float, float]:
    """The value range of an OMERO pixel type (imgData ``pixel_range``)."""
    _, low, high = PIXEL_TYPES.get(pixel_type, PIXEL_TYPES["uint16"])
    return low, high


def level_shape(image: ImageInfo, level: int) -> tuple[int, int]:
    """``(height, width)`` of pyramid level ``level`` (each level halves, rounding up)."""
    if level < 0:
        raise ValueError(f"negative level {level}")
    f = 1 << level
    return -(-image.size_y // f), -(-image.size_x // f)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser on arrays (wrapping arithmetic, no warnings)."""
    x = x + _U64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _unit(*keys: int | npt.NDArray[np.uint64]) -> FloatArray:
    """Uniform [0, 1) numbers from a chain of integer keys (arrays broadcast)."""
    h = np.zeros(1, dtype=np.uint64)
    for key in keys:
        k = np.asarray(key, dtype=np.uint64) if isinstance(key, np.ndarray) else None
        if k is None:
            k = np.array([int(key) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
        h = _mix(h ^ k)
    return (h >> _U64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _noise_tile() -> FloatArray:
    rng = np.random.default_rng(20_200_303)
    tile: FloatArray = rng.standard_normal((_NOISE_SIDE, _NOISE_SIDE))
    return tile


_NOISE = _noise_tile()


@dataclass(frozen=True, slots=True)
class _Blobs:
    """Per (image geometry, channel) blob table, in full-resolution pixels."""

    cx: FloatArray
    cy: FloatArray
    sigma: FloatArray
    amp: FloatArray  # fraction of the channel's window range
    zfocus: FloatArray
    wobble: FloatArray  # amplitude of the t-motion
    period: FloatArray
    phase: FloatArray


_BLOBS: _LRU[tuple[int, int, int, int, int], _Blobs] = _LRU(256)
_PLANES: _LRU[tuple[ImageInfo, int, int, int, int], np.ndarray] = _LRU(
    _CACHE_PLANES, _CACHE_MAX_BYTES
)

# Per-channel character (cycled): presence probability, relative size, brightness.
_PRESENCE = (0.85, 0.6, 0.3, 0.95)
_SIZE = (0.13, 0.08, 0.12, 0.16)
_BRIGHT = (0.9, 1.1, 1.2, 0.8)


def cell_size(image: ImageInfo) -> int:
    """Side of the blob grid cell: grows with the image so a plane has <= 32 x 32 cells."""
    return max(_MIN_CELL, -(-max(image.size_x, image.size_y) // _MAX_CELLS_PER_SIDE))


def _blobs(image: ImageInfo, c: int) -> _Blobs:
    key = (image.id, image.size_x, image.size_y, image.size_z, c)
    cached = _BLOBS.lookup(key)
    if cached is not None:
        return cached
    size = cell_size(image)
    nx, ny = -(-image.size_x // size), -(-image.size_y // size)
    jj, ii = np.meshgrid(np.arange(ny, dtype=np.uint64), np.arange(nx, dtype=np.uint64))
    cells = (jj * _U64(nx) + ii).ravel()  # row-major cell index: a fixed global order
    ci = ii.ravel().astype(np.float64)
    cj = jj.ravel().astype(np.float64)
    iid = image.id
    k = c % 4
    present = _unit(iid, 7 + c, cells) < _PRESENCE[k]
    cx = (ci + 0.15 + 0.7 * _unit(iid, 1, cells)) * size
    cy = (cj + 0.15 + 0.7 * _unit(iid, 2, cells)) * size
    cx = cx + (_unit(iid, 11 + c, cells) - 0.5) * 0.1 * size
    cy = cy + (_unit(iid, 13 + c, cells) - 0.5) * 0.1 * size
    sigma = size * _SIZE[k] * (0.7 + 0.6 * _unit(iid, 17 + c, cells))
    amp = _BRIGHT[k] * (0.45 + 0.7 * _unit(iid, 19 + c, cells))
    zfocus = _unit(iid, 3, cells) * max(image.size_z - 1, 0)
    wobble = size * 0.08 * _unit(iid, 5, cells)
    period = 6.0 + 10.0 * _unit(iid, 6, cells)
    phase = 2.0 * math.pi * _unit(iid, 8, cells)
    blobs = _Blobs(
        cx=cx[present],
        cy=cy[present],
        sigma=sigma[present],
        amp=amp[present],
        zfocus=zfocus[present],
        wobble=wobble[present],
        period=period[present],
        phase=phase[present],
    )
    _BLOBS.store(key, blobs)
    return blobs


@dataclass(frozen=True, slots=True)
class Grid:
    """Sample positions along one axis: ``pos(g) = g * step + offset`` (full-res pixels).

    ``first``/``count`` select global sample indices ``first .. first+count-1``.
    Planes of level k use ``step = 2**k``, ``offset = (step - 1) / 2``;
    thumbnails use a fractional step.
    """

    first: int
    count: int
    step: float
    offset: float

    def positions(self) -> FloatArray:
        g = np.arange(self.first, self.first + self.count, dtype=np.float64)
        return g * self.step + self.offset


def _window(channel_index: int, image: ImageInfo) -> tuple[float, float]:
    """The (base, span) intensities a channel's structure is scaled to."""
    low, high = pixel_range(image.pixel_type)
    if channel_index < len(image.channels):
        ch = image.channels[channel_index]
        start, end = ch.start, ch.end
    else:
        start, end = low, low
    if not end > start:
        start, end = max(low, 0.0), min(high, 255.0 if high <= 255.0 else 1000.0)
    return start, end - start


def sample(image: ImageInfo, z: int, t: int, c: int, gx: Grid, gy: Grid) -> FloatArray:
    """The continuous plane sampled on a grid, as float64 (before quantisation).

    This is the single definition of the synthetic pixels; :func:`plane`
    quantises it to the pixel type.
    """
    xs = gx.positions()
    ys = gy.positions()
    step = max(gx.step, gy.step)
    base, span = _window(c, image)
    out = np.zeros((gy.count, gx.count), dtype=np.float64)
    b = _blobs(image, c)
    if b.cx.size:
        dz = abs(z - b.zfocus)
        focus = np.exp(-0.5 * (dz / max(1.0, image.size_z / 4.0)) ** 2)
        sig = b.sigma * (1.0 + 0.15 * dz)
        sig_eff = np.sqrt(sig * sig + (step * step - 1.0) / 12.0)
        amp = b.amp * focus * (sig / sig_eff) ** 2 * span
        angle = 2.0 * math.pi * t / b.period + b.phase
        cx = b.cx + b.wobble * np.sin(angle)
        cy = b.cy + b.wobble * np.cos(angle)
        reach = 4.0 * sig_eff
        # Global sample index ranges each blob touches (fixed in global coordinates).
        x_lo = np.ceil((cx - reach - gx.offset) / gx.step).astype(np.int64)
        x_hi = np.floor((cx + reach - gx.offset) / gx.step).astype(np.int64) + 1
        y_lo = np.ceil((cy - reach - gy.offset) / gy.step).astype(np.int64)
        y_hi = np.floor((cy + reach - gy.offset) / gy.step).astype(np.int64) + 1
        x_lo = np.maximum(x_lo, gx.first) - gx.first
        x_hi = np.minimum(x_hi, gx.first + gx.count) - gx.first
        y_lo = np.maximum(y_lo, gy.first) - gy.first
        y_hi = np.minimum(y_hi, gy.first + gy.count) - gy.first
        hits = np.nonzero((x_lo < x_hi) & (y_lo < y_hi) & (amp > 0))[0]
        for n in hits.tolist():
            x0, x1, y0, y1 = int(x_lo[n]), int(x_hi[n]), int(y_lo[n]), int(y_hi[n])
            inv = 1.0 / float(sig_eff[n])
            ex = np.exp(-0.5 * ((xs[x0:x1] - cx[n]) * inv) ** 2)
            ey = np.exp(-0.5 * ((ys[y0:y1] - cy[n]) * inv) ** 2) * amp[n]
            out[y0:y1, x0:x1] += ey[:, None] * ex[None, :]
    # Background gradient (direction per image and channel) and fixed-pattern noise.
    u = _unit(image.id, 101 + c, np.arange(3, dtype=np.uint64))
    gxw = (u[0] - 0.5) * 0.2 * span / max(image.size_x, 1)
    gyw = (u[1] - 0.5) * 0.2 * span / max(image.size_y, 1)
    out += base + 0.08 * span + gyw * ys[:, None] + gxw * xs[None, :]
    shift = int(u[2] * _NOISE_SIDE * _NOISE_SIDE) + 7919 * z + 104729 * t
    ox, oy = shift % _NOISE_SIDE, (shift // _NOISE_SIDE) % _NOISE_SIDE
    nx = (np.floor(xs + 0.5).astype(np.int64) + ox) % _NOISE_SIDE
    ny = (np.floor(ys + 0.5).astype(np.int64) + oy) % _NOISE_SIDE
    # Rows then columns (not np.ix_, twice as slow), scaled in place: the same values.
    noise = _NOISE.take(ny, axis=0).take(nx, axis=1)
    noise *= 0.025 * span / step
    out += noise
    return out


def quantise(values: FloatArray, pixel_type: str) -> np.ndarray:
    """Round half up and clip to the pixel type (floats are only clipped)."""
    dtype = dtype_of(pixel_type)
    low, high = pixel_range(pixel_type)
    if dtype.kind == "f":
        return np.clip(values, low, high).astype(dtype)
    # In place on one temporary: the same operations in the same order, less memory traffic.
    rounded = values + 0.5
    np.floor(rounded, out=rounded)
    np.clip(rounded, low, high, out=rounded)
    return rounded.astype(dtype)


def level_grids(image: ImageInfo, level: int, region: Region | None) -> tuple[Grid, Grid]:
    """The sample grids of a region of a pyramid level (region clipped by the caller)."""
    height, width = level_shape(image, level)
    x, y, w, h = region if region is not None else (0, 0, width, height)
    step = float(1 << level)
    off = (step - 1.0) / 2.0
    return Grid(x, w, step, off), Grid(y, h, step, off)


def plane(
    image: ImageInfo,
    z: int,
    t: int,
    c: int,
    level: int = 0,
    region: Region | None = None,
) -> np.ndarray:
    """One plane (or a window ``(x, y, w, h)`` of it) of pyramid level ``level``.

    ``z``, ``t``, ``c`` are 0-based. The result has the pixel type's dtype
    and shape ``(h, w)`` (the level's shape without a region). A region must
    lie inside the level; only the window is computed, so a tile of a huge
    image costs what the tile costs. The returned array must not be modified
    (it may be shared through the cache).
    """
    if not (0 <= z < image.size_z and 0 <= t < image.size_t and 0 <= c < image.size_c):
        raise ValueError(f"plane z={z} t={t} c={c} outside image {image.id}")
    height, width = level_shape(image, level)
    if region is not None:
        x, y, w, h = region
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
            raise ValueError(f"region {region} outside level {level} ({width} x {height})")
        if (x, y, w, h) == (0, 0, width, height):
            region = None
    key = (image, z, t, c, level)
    if region is None:
        cached = _PLANES.lookup(key)
        if cached is not None:
            return cached
    gx, gy = level_grids(image, level, region)
    result = quantise(sample(image, z, t, c, gx, gy), image.pixel_type)
    result.setflags(write=False)
    if region is None:
        _PLANES.store(key, result, result.nbytes)
    return result


def thumbnail_grids(image: ImageInfo, width: int, height: int) -> tuple[Grid, Grid]:
    """Grids that sample the whole plane at ``width x height`` (thumbnails)."""
    sx = image.size_x / width
    sy = image.size_y / height
    return Grid(0, width, sx, (sx - 1.0) / 2.0), Grid(0, height, sy, (sy - 1.0) / 2.0)


def clear_caches() -> None:
    """Forget cached planes and blob tables (tests and memory checks)."""
    _PLANES.reset()
    _BLOBS.reset()

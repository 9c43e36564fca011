"""Honest rendering: OMERO's c=/m=/p=/q=/maps= settings applied to the synthetic planes.

This module is the ground truth a harvested render is compared with: the
routes encode exactly what :func:`render_plane` returns, so a PNG fetched from
the emulator decodes to ``render_plane(...)`` bit for bit (JPEG within its
loss).

Grammar (idr-api.md §5.2, §5.3):

* ``c=`` comma list of channel entries ``[-]IDX[$COLOR][|START:END][$COLOR]``:
  ``IDX`` 1-based, negative = listed but inactive; ``COLOR`` hex ``RRGGBB``
  (``RGB``, ``RGBA``, ``RRGGBBAA`` accepted as ``splitHTMLColor`` does).
  OMERO.web's reading (``_split_channel_info`` + ``setActiveChannels``) is
  lenient: unparsable entries are skipped, a bad window or colour is ignored,
  channels not listed with a positive index become inactive while keeping
  their saved window and colour. Without ``c=`` every saved setting applies.
* ``m=g`` greyscale, ``m=c`` colour; absent = the saved model (colour).
* ``p=normal|intmax|intmean|intsum[|START:END]`` z-projection (0-based, inclusive).
* ``maps=`` JSON list, one object per listed channel; ``inverted.enabled``
  (or legacy ``reverse.enabled``) inverts that channel. Quantization
  families other than linear are accepted and ignored (linear is used).
* ``q=`` JPEG quality 0..1 (default :data:`DEFAULT_QUALITY`).

Window mapping (exact; tests compare PNG output with it):

* for an active channel with window ``start < end`` and pixel value ``v``:
  ``g = floor(clip((v - start) / (end - start), 0, 1) * 255 + 0.5)`` (uint8,
  computed in float64); a degenerate window (``end <= start``) maps
  ``v >= start`` to 255 and the rest to 0; an inverted channel gives ``255 - g``;
* greyscale (``m=g``): ``R = G = B = g`` of the first active channel (by
  channel index); no active channel gives black;
* colour (``m=c``): per output component ``k``:
  ``S_k = sum over active channels of g * colour_k`` (integers), output
  ``min(255, (2 * S_k + 255) // 510)``, i.e. ``round_half_up(S_k / 255)``
  clipped, so a single channel of colour ``FF0000`` renders ``(g, 0, 0)``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

from harvester.emulator import pixels
from harvester.emulator.model import ImageInfo

DEFAULT_QUALITY = 0.9
MAX_ACTIVE_CHANNELS = 10
FORMATS = ("jpeg", "png", "tif")
PROJECTIONS = ("normal", "intmax", "intmean", "intsum")

Model = Literal["g", "c"]
RGB = tuple[int, int, int]
U8 = npt.NDArray[np.uint8]


class RenderParamError(ValueError):
    """A rendering parameter the server refuses; ``str()`` is the 400 body."""


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One entry of ``c=`` as written (``index`` 1-based and signed)."""

    index: int
    start: float | None = None
    end: float | None = None
    color: str | None = None
    raw: str = ""

    @property
    def has_window(self) -> bool:
        return self.start is not None and self.end is not None


@dataclass(frozen=True, slots=True)
class ChannelRender:
    """A resolved active channel: 0-based index, window, colour, inversion."""

    index: int
    start: float
    end: float
    rgb: RGB
    inverted: bool = False


@dataclass(frozen=True, slots=True)
class Rendering:
    """Fully resolved settings for one render."""

    channels: tuple[ChannelRender, ...]
    model: Model = "c"
    projection: str = "normal"
    p_start: int | None = None
    p_end: int | None = None


def parse_color(text: str) -> RGB | None:
    """``splitHTMLColor``: RGB, RGBA, RRGGBB or RRGGBBAA hex; None if invalid."""
    s = text.strip()
    if len(s) in (3, 4):
        s = "".join(ch * 2 for ch in s)
    if len(s) not in (6, 8):
        return None
    try:
        value = int(s[:6], 16)
        int(s, 16)
    except ValueError:
        return None
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def parse_channels(text: str, *, strict: bool = False) -> list[ChannelSpec]:
    """Parse ``c=``.

    Lenient (OMERO.web): entries whose index is not an integer are skipped;
    a malformed window is ignored. Strict (image-region microservice): any
    malformed entry raises :class:`RenderParamError` ``Failed to parse channel '<entry>'``.
    """
    specs: list[ChannelSpec] = []
    for entry in text.split(","):
        head, sep, tail = entry.partition("|")
        head = head.strip()
        color: str | None = None
        if "$" in head:
            head, _, color = head.partition("$")
        try:
            index = int(head)
        except ValueError:
            if strict:
                raise RenderParamError(f"Failed to parse channel '{entry}'") from None
            continue
        start: float | None = None
        end: float | None = None
        if sep:
            window = tail.strip()
            if "$" in window:
                window, _, color = window.partition("$")
            bounds = window.split(":")
            if len(bounds) == 2:
                try:
                    start, end = _float(bounds[0]), _float(bounds[1])
                except ValueError:
                    if strict:
                        raise RenderParamError(f"Failed to parse channel '{entry}'") from None
            elif strict:
                raise RenderParamError(f"Failed to parse channel '{entry}'")
        specs.append(ChannelSpec(index, start, end, color, entry))
    return specs


def parse_model(text: str | None) -> Model | None:
    """``m=``: ``g``/``greyscale`` or ``c``/``color``/``rgb``; anything else = saved."""
    if text in ("g", "greyscale"):
        return "g"
    if text in ("c", "color", "rgb"):
        return "c"
    return None


def parse_projection(text: str | None) -> tuple[str, int | None, int | None]:
    """``p=mode[|start:end]``; unknown modes read as ``normal`` (as OMERO.web does)."""
    if text is None:
        return "normal", None, None
    mode, _, rng = text.partition("|")
    if mode not in PROJECTIONS:
        mode = "normal"
    start: int | None = None
    end: int | None = None
    if rng:
        parts = rng.split(":")
        try:
            start, end = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            start = end = None
    return mode, start, end


def parse_maps(text: str | None) -> list[bool]:
    """``maps=``: the inverted flag per listed channel; bad JSON raises RenderParamError."""
    if text is None:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        raise RenderParamError(f"Failed to decode maps: {text}") from None
    flags: list[bool] = []
    for item in data if isinstance(data, list) else []:
        flag = False
        if isinstance(item, dict):
            for key in ("inverted", "reverse"):
                sub = item.get(key)
                if isinstance(sub, dict) and sub.get("enabled"):
                    flag = True
        flags.append(flag)
    return flags


def resolve(
    image: ImageInfo,
    channels: str | Sequence[ChannelSpec] | None = None,
    model: str | None = None,
    *,
    maps: Sequence[bool] = (),
    projection: str = "normal",
    p_start: int | None = None,
    p_end: int | None = None,
) -> Rendering:
    """Saved settings overridden by a request, as ``setActiveChannels`` applies them."""
    specs = parse_channels(channels) if isinstance(channels, str) else channels
    saved = image.channels
    resolved: list[ChannelRender] = []
    if specs is None:
        for i, ch in enumerate(saved[: image.size_c]):
            if ch.active:
                resolved.append(ChannelRender(i, ch.start, ch.end, _saved_rgb(ch.color)))
    else:
        listed = [s.index for s in specs]
        absolute = [abs(i) for i in listed]
        for i in range(image.size_c):
            if (i + 1) not in listed:
                continue
            pos = absolute.index(i + 1)
            spec = specs[pos]
            known = saved[i] if i < len(saved) else None
            start = known.start if known else 0.0
            end = known.end if known else 255.0
            if spec.start is not None and spec.end is not None:
                start, end = spec.start, spec.end
            rgb = _saved_rgb(known.color if known else "FFFFFF")
            if spec.color:
                rgb = parse_color(spec.color) or rgb
            inverted = pos < len(maps) and bool(maps[pos])
            resolved.append(ChannelRender(i, start, end, rgb, inverted))
    return Rendering(tuple(resolved), parse_model(model) or "c", projection, p_start, p_end)


def _saved_rgb(color: str) -> RGB:
    return parse_color(color) or (255, 255, 255)


def window(values: npt.NDArray[np.generic], start: float, end: float, inverted: bool) -> U8:
    """The exact window mapping documented in the module docstring."""
    v = values.astype(np.float64, copy=False)
    if end > start:
        # ``floor(clip((v - start) / (end - start), 0, 1) * 255 + 0.5)``, each step in place
        # on one temporary (the same float64 operations in the same order: the same bits).
        f = v - start
        f /= end - start
        np.clip(f, 0.0, 1.0, out=f)
        f *= 255.0
        f += 0.5
        np.floor(f, out=f)
        g = f.astype(np.uint8)
    else:
        g = np.where(v >= start, 255, 0).astype(np.uint8)
    if inverted:
        g = 255 - g
    return g


def compose(layers: Sequence[tuple[U8, RGB]], model: Model, shape: tuple[int, int]) -> U8:
    """Blend windowed channels into ``(H, W, 3)`` uint8 (greyscale or additive colour)."""
    h, w = shape
    if not layers:
        return np.zeros((h, w, 3), dtype=np.uint8)
    if model == "g":
        g = layers[0][0]
        return np.repeat(g[:, :, None], 3, axis=2)
    out = np.empty((h, w, 3), dtype=np.uint8)
    # int32, not int64 (half the memory traffic, twice as fast): a channel adds at most
    # 255 * 255, so even 10,000 channels stay far below 2**31 after ``2 * acc + 255``.
    acc = np.empty((h, w), dtype=np.int32)
    term = np.empty((h, w), dtype=np.int32)
    for k in range(3):
        acc.fill(0)
        for g, rgb in layers:
            if rgb[k]:
                np.multiply(g, rgb[k], out=term, dtype=np.int32)
                acc += term
        acc *= 2
        acc += 255
        acc //= 510
        np.minimum(acc, 255, out=acc)
        out[:, :, k] = acc
    return out


def _projected(
    image: ImageInfo,
    z: int,
    t: int,
    c: int,
    rendering: Rendering,
    level: int,
    region: pixels.Region | None,
) -> npt.NDArray[np.generic]:
    if rendering.projection == "normal":
        return pixels.plane(image, z, t, c, level, region)
    first = 0 if rendering.p_start is None else max(0, rendering.p_start)
    last = image.size_z - 1 if rendering.p_end is None else min(image.size_z - 1, rendering.p_end)
    if last < first:
        first, last = 0, image.size_z - 1
    stack = np.stack(
        [pixels.plane(image, zz, t, c, level, region) for zz in range(first, last + 1)]
    ).astype(np.float64)
    if rendering.projection == "intmax":
        values = stack.max(axis=0)
    elif rendering.projection == "intmean":
        values = stack.mean(axis=0)
    else:
        values = stack.sum(axis=0)
    return pixels.quantise(values, image.pixel_type)


def render(
    image: ImageInfo,
    z: int,
    t: int,
    rendering: Rendering,
    region: pixels.Region | None = None,
    level: int = 0,
) -> U8:
    """Render resolved settings on a plane or a window of it: ``(H, W, 3)`` uint8."""
    shape = pixels.level_shape(image, level) if region is None else (region[3], region[2])
    layers = []
    for ch in rendering.channels:
        values = _projected(image, z, t, ch.index, rendering, level, region)
        layers.append((window(values, ch.start, ch.end, ch.inverted), ch.rgb))
        if rendering.model == "g":
            break
    return compose(layers, rendering.model, shape)


def render_plane(
    image: ImageInfo,
    z: int,
    t: int,
    channels_spec: str | Sequence[ChannelSpec] | None = None,
    model: str | None = None,
    region: pixels.Region | None = None,
    level: int = 0,
    *,
    projection: str | None = None,
    maps: str | None = None,
) -> U8:
    """The ground truth of a render: what the emulator encodes for these settings.

    ``channels_spec`` is a ``c=`` string (or parsed specs, or None for the
    saved settings), ``model`` ``"g"``/``"c"`` (None = saved), ``region``
    ``(x, y, w, h)`` in the coordinates of ``level`` and inside it,
    ``projection`` a ``p=`` string, ``maps`` a ``maps=`` JSON string.
    """
    mode, p_start, p_end = parse_projection(projection)
    rendering = resolve(
        image,
        channels_spec,
        model,
        maps=parse_maps(maps),
        projection=mode,
        p_start=p_start,
        p_end=p_end,
    )
    return render(image, z, t, rendering, region, level)


def thumbnail_size(image: ImageInfo, longest: int) -> tuple[int, int]:
    """``(width, height)`` with the longest side ``longest``, aspect kept (truncated, >= 1)."""
    sx, sy = image.size_x, image.size_y
    if sx >= sy:
        return longest, max(1, sy * longest // sx)
    return max(1, sx * longest // sy), longest


def render_thumbnail(
    image: ImageInfo, width: int, height: int, z: int | None = None, t: int | None = None
) -> U8:
    """The whole plane with the saved settings sampled at ``width x height``.

    Thumbnails sample the synthetic plane directly at thumbnail resolution
    (blobs widened to keep their integrated intensity), so a thumbnail of a
    huge image costs what a small one does.
    """
    zz = default_z(image) if z is None else z
    tt = 0 if t is None else t
    rendering = resolve(image)
    gx, gy = pixels.thumbnail_grids(image, width, height)
    layers = []
    for ch in rendering.channels:
        values = pixels.quantise(pixels.sample(image, zz, tt, ch.index, gx, gy), image.pixel_type)
        layers.append((window(values, ch.start, ch.end, ch.inverted), ch.rgb))
    return compose(layers, rendering.model, (height, width))


def default_z(image: ImageInfo) -> int:
    """The saved default Z (OMERO sets the middle plane at import)."""
    return image.size_z // 2


def encode(rgb: U8, fmt: str = "jpeg", quality: float | None = None) -> bytes:
    """Encode ``(H, W, 3)`` uint8 as JPEG (quality ``q * 100``), PNG (lossless) or TIFF (RGB)."""
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    buf = io.BytesIO()
    if fmt in ("png",):
        im.save(buf, format="PNG", compress_level=1)
    elif fmt in ("tif", "tiff"):
        im.save(buf, format="TIFF")
    elif fmt in ("jpeg", "jpg"):
        q = DEFAULT_QUALITY if quality is None else quality
        im.save(buf, format="JPEG", quality=max(1, min(100, round(q * 100))))
    else:
        raise ValueError(f"unsupported format {fmt!r}")
    return buf.getvalue()

"""Intensity windows for the ``stack`` artifact (``--window full|rendering|minmax``).

A rendered plane is 8-bit: the server maps raw intensities linearly through a
window ``start..end`` onto 0..255. The window is therefore the only link from
a stored value back to an approximate raw intensity, so it is chosen once per
channel from imgData, written into every plane request and recorded in the
OME-XML of the result:

``full``
    the pixel type's range (imgData ``pixel_range``, else the type's limits):
    the same mapping for every image of a type, nothing clipped.
``rendering``
    the saved rendering window (imgData ``channels[].window.start/end``): what
    the viewer shows; values outside the window are clipped.
``minmax``
    the channel's statistics (imgData ``channels[].window.min/max``).

An empty or inverted window (end <= start) would make the server divide by
zero; it is widened to ``start..start+1`` and recorded as used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harvester.text import plural, shown

WINDOW_MODES: Final = ("full", "rendering", "minmax")
DEFAULT_WINDOW: Final = "rendering"

#: Value range of each OMERO pixel type, used by ``full`` when imgData has no
#: usable ``pixel_range``. Floating types have no intrinsic range.
PIXEL_TYPE_RANGES: Final[Mapping[str, tuple[float, float]]] = {
    "bit": (0.0, 1.0),
    "int8": (-128.0, 127.0),
    "uint8": (0.0, 255.0),
    "int16": (-32768.0, 32767.0),
    "uint16": (0.0, 65535.0),
    "int32": (-2147483648.0, 2147483647.0),
    "uint32": (0.0, 4294967295.0),
}


class WindowError(ValueError):
    """imgData lacks what the chosen window needs (bad mode, missing channels)."""


@dataclass(frozen=True, slots=True)
class ChannelWindow:
    """One channel's label, colour and the window its planes are rendered with."""

    index: int  # 0-based channel index
    label: str
    color: str  # "RRGGBB", upper case
    start: float
    end: float
    emission_wave: float | None = None

    @property
    def text(self) -> str:
        """The window as written in URLs and metadata, e.g. ``0:65535``."""
        return f"{format_number(self.start)}:{format_number(self.end)}"


def format_number(value: float) -> str:
    """A stable, short text for a window bound: integers without ``.0``.

    URLs must be byte-identical across runs (proxy caches key on the URI), so
    the formatting is fixed here rather than left to ``str(float)``.
    """
    number = float(value)
    if number.is_integer():
        return str(int(number))
    return repr(number)


def choose_windows(imgdata: Mapping[str, Any], mode: str) -> tuple[ChannelWindow, ...]:
    """Return one window per channel of the image described by ``imgdata``.

    Raises :class:`WindowError` when ``mode`` is unknown or imgData does not
    describe every channel (e.g. the 200 + ``Exception`` variant).
    """
    if mode not in WINDOW_MODES:
        raise WindowError(f"unknown window {mode!r}; choose one of {', '.join(WINDOW_MODES)}")
    size = imgdata.get("size")
    channels = imgdata.get("channels")
    if not isinstance(size, Mapping) or not isinstance(channels, Sequence):
        raise WindowError("imgData has no size/channels (rendering engine failure?)")
    try:
        size_c = int(size.get("c", 0))
    except (TypeError, ValueError) as exc:
        raise WindowError(f"imgData sizeC is not a number: {shown(repr(size.get('c')))}") from exc
    if size_c < 1 or len(channels) < size_c:
        raise WindowError(f"imgData lists {plural(len(channels), 'channel')} for sizeC={size_c}")
    full = _full_range(imgdata) if mode == "full" else None
    windows = []
    for index in range(size_c):
        channel = channels[index]
        if not isinstance(channel, Mapping):
            # A malformed answer is this image's failure, not an AttributeError
            # out of the render or stack code.
            raise WindowError(f"channel {index} in imgData is not an object: {channel!r:.40}")
        window = channel.get("window")
        window = window if isinstance(window, Mapping) else {}
        if full is not None:
            start, end = full
        elif mode == "rendering":
            start, end = _pair(window, "start", "end", index)
        else:
            start, end = _pair(window, "min", "max", index)
        if end <= start:
            end = start + 1.0
        emission = channel.get("emissionWave")
        windows.append(
            ChannelWindow(
                index=index,
                label=str(channel.get("label") or f"C{index}"),
                color=_color(channel.get("color")),
                start=start,
                end=end,
                emission_wave=float(emission) if isinstance(emission, int | float) else None,
            )
        )
    return tuple(windows)


def _full_range(imgdata: Mapping[str, Any]) -> tuple[float, float]:
    """The pixel type's range: imgData ``pixel_range`` when sane, else the type table."""
    pixel_range = imgdata.get("pixel_range")
    if (
        isinstance(pixel_range, Sequence)
        and len(pixel_range) == 2
        and all(isinstance(v, int | float) and math.isfinite(v) for v in pixel_range)
        and pixel_range[1] > pixel_range[0]
    ):
        return float(pixel_range[0]), float(pixel_range[1])
    meta = imgdata.get("meta")
    pixel_type = meta.get("pixelsType") if isinstance(meta, Mapping) else None
    if isinstance(pixel_type, str) and pixel_type in PIXEL_TYPE_RANGES:
        return PIXEL_TYPE_RANGES[pixel_type]
    raise WindowError(
        f"no pixel range known for pixel type {shown(repr(pixel_type))}; use --window minmax"
    )


def _pair(window: Mapping[str, Any], low: str, high: str, index: int) -> tuple[float, float]:
    try:
        pair = float(window[low]), float(window[high])
    except (KeyError, TypeError, ValueError) as exc:
        raise WindowError(f"channel {index} has no window {low}/{high} in imgData") from exc
    if not all(math.isfinite(v) for v in pair):
        # "nan"/"inf" would go into every plane URL and the OME-XML.
        raise WindowError(f"channel {index} window {low}/{high} is not finite: {pair}")
    return pair


def _color(value: object) -> str:
    """``RRGGBB`` upper case (a leading ``#`` dropped); white when not a colour."""
    text = str(value or "FFFFFF").lstrip("#").upper()
    if len(text) != 6 or any(ch not in "0123456789ABCDEF" for ch in text):
        return "FFFFFF"
    return text

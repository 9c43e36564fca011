"""Synthetic regions of interest: which images have ROIs, and each ROI's shapes.

Why: the harvester's ``rois`` artifact pages the JSON API's ``m/images/{id}/rois/``;
tests need images with none, with a few and with more than one page of them, and a
fixed answer to compare the harvested files with. Like the rest of the catalogue,
nothing is stored: an image's ROI count and every ROI are computed from the image id
and the catalogue's seed, so the ``huge`` preset costs nothing more.

The facts (not the code) follow OMERO: ROIs of one image are listed in id order
(``RoisView`` orders by ``obj.id`` "for consistency & paging"), each with its shapes
loaded. Shapes are Rectangle, Ellipse, Polygon, Point, Line or Mask, each with the
``Shape`` fields omero_marshal encodes (colours as signed 32-bit RGBA integers,
``StrokeWidth`` as a length in pixels, ``TheZ``/``TheT``, ``TheC`` only when the shape
belongs to one channel) and its own geometry (``X``/``Y``/``Width``/``Height``,
``RadiusX``/``RadiusY``, ``Points`` as ``"x,y x,y ..."``, ``X1``...``Y2``). A Mask's
bytes are not encoded by omero_marshal, so none are here.

Counts (:func:`roi_count`): the images named in
:data:`~harvester.emulator.catalogue_presets.ROI_COUNTS` have exactly that many
(demo: image 1884801 none, 1884802 :data:`~harvester.emulator.catalogue_presets.MANY_ROIS`,
more than the JSON API's 1000 a page); every other image has 0 to 4, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harvester.emulator.catalogue_presets import ROI_COUNTS
from harvester.emulator.model import ImageInfo

#: Shape kinds, in the order the seeded choice picks them.
SHAPE_KINDS: tuple[str, ...] = ("Rectangle", "Ellipse", "Polygon", "Point", "Line", "Mask")
#: An image's ROI ids are ``image_id * ROI_ID_STRIDE + k + 1`` (k: 0-based, in id order).
ROI_ID_STRIDE = 10_000
#: A ROI's shape ids are ``roi_id * SHAPE_ID_STRIDE + j``.
SHAPE_ID_STRIDE = 4
#: Stroke colours (signed RGBA integers, as OMERO stores them): red, green, yellow, cyan.
_STROKES = (-16776961, 16711935, -65281, 16777215)


def _mix(*values: int) -> int:
    """A small deterministic hash of integers (no ``hash()``: it is salted per process)."""
    h = 0x9E3779B9
    for value in values:
        h = (h ^ (value & 0xFFFFFFFFFFFF)) * 0x100000001B3 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h


def roi_count(image_id: int, seed: int = 0) -> int:
    """How many ROIs image ``image_id`` has (0 to 4 unless :data:`ROI_COUNTS` says)."""
    fixed = ROI_COUNTS.get(image_id)
    if fixed is not None:
        return fixed
    return _mix(seed, image_id, 1) % 5


@dataclass(frozen=True, slots=True)
class Shape:
    """One shape's facts (what the JSON API encodes)."""

    id: int
    kind: str
    the_z: int
    the_t: int
    the_c: int | None
    stroke: int
    geometry: tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Roi:
    """One ROI: its id, name (None: unnamed) and shapes."""

    id: int
    name: str | None
    shapes: tuple[Shape, ...]


def roi_ids(image_id: int, seed: int = 0) -> list[int]:
    """Every ROI id of the image, ascending (the server's order)."""
    base = image_id * ROI_ID_STRIDE
    return [base + k + 1 for k in range(roi_count(image_id, seed))]


def make_roi(info: ImageInfo, index: int, seed: int = 0) -> Roi:
    """ROI number ``index`` (0-based) of an image: shapes inside its planes, seeded."""
    roi_id = info.id * ROI_ID_STRIDE + index + 1
    h = _mix(seed, info.id, index, 2)
    n_shapes = 1 + (h >> 3) % 2  # one shape, or the same region on two planes
    kind = SHAPE_KINDS[(h >> 5) % len(SHAPE_KINDS)]
    w, hgt = max(info.size_x, 2), max(info.size_y, 2)
    x = float((h >> 8) % (w - 1))
    y = float((h >> 20) % (hgt - 1))
    dx = float(1 + (h >> 32) % max(1, min(64, w - 1 - int(x))))
    dy = float(1 + (h >> 40) % max(1, min(64, hgt - 1 - int(y))))
    the_c = None if (h >> 48) % 3 else (h >> 50) % max(1, info.size_c)
    shapes = []
    for j in range(n_shapes):
        the_z = (((h >> 52) % max(1, info.size_z)) + j) % max(1, info.size_z)
        the_t = (h >> 56) % max(1, info.size_t)
        shapes.append(
            Shape(
                id=roi_id * SHAPE_ID_STRIDE + j,
                kind=kind,
                the_z=the_z,
                the_t=the_t,
                the_c=the_c,
                stroke=_STROKES[(h >> 60) % len(_STROKES)],
                geometry=_geometry(kind, x, y, dx, dy),
            )
        )
    name = None if index % 3 == 2 else f"cell {index + 1}"
    return Roi(roi_id, name, tuple(shapes))


def _geometry(kind: str, x: float, y: float, dx: float, dy: float) -> tuple[tuple[str, Any], ...]:
    """The kind's own fields, in omero_marshal's order."""
    if kind in ("Rectangle", "Mask"):
        return (("X", x), ("Y", y), ("Width", dx), ("Height", dy))
    if kind == "Ellipse":
        return (("X", x + dx / 2), ("Y", y + dy / 2), ("RadiusX", dx / 2), ("RadiusY", dy / 2))
    if kind == "Polygon":
        points = [(x, y), (x + dx, y), (x + dx / 2, y + dy)]
        return (("Points", " ".join(f"{px:g},{py:g}" for px, py in points)),)
    if kind == "Point":
        return (("X", x), ("Y", y))
    return (("X1", x), ("Y1", y), ("X2", x + dx), ("Y2", y + dy))


def image_rois(info: ImageInfo, offset: int, limit: int, seed: int = 0) -> list[Roi]:
    """The ROIs ``offset`` .. ``offset + limit`` of an image, in id order."""
    count = roi_count(info.id, seed)
    start = max(0, offset)
    return [make_roi(info, k, seed) for k in range(start, min(count, start + max(0, limit)))]

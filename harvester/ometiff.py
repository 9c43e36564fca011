"""OME-TIFF writing for the ``stack`` artifact: OME-XML plus tifffile, streamed.

The file holds one TZCYX uint8 series (pages in C, then Z, then T order =
OME ``DimensionOrder="XYCZT"``). Planes come from a callable and are written
one at a time, so memory is bounded by one plane (plus tifffile's buffers),
never by the number of planes. Images larger than :data:`TILE_THRESHOLD`
are written in 512 x 512 tiles; every page is zlib-compressed (standard
library codec, no extra dependency). When the source image has pyramid
levels, each page gets SubIFDs with 2x-downsampled copies (Fiji/Bio-Formats
read them as resolutions).

The OME-XML is built here rather than by tifffile so that it can say what the
data are: ``rendered 8-bit`` values through a per-channel window, never raw
intensities. The same text is in ``Image/Description`` and in a
``MapAnnotation`` (machine-readable keys) that Fiji shows as metadata.
Nothing in the file depends on the clock, so an interrupted-and-resumed run
writes the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Final

import numpy as np
import tifffile
from numpy.typing import NDArray

from harvester import __version__
from harvester.planes import halve, pyramid_shapes
from harvester.si import SI_PREFIXES
from harvester.window import ChannelWindow

OME_NS: Final = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION: Final = f"{OME_NS} {OME_NS}/ome.xsd"
ANNOTATION_NS: Final = "harvester/stack/rendering"
#: The OME 2016-06 schema shipped with the package (CC-BY 3.0, see schemas/README.md),
#: so the XML can be validated offline.
OME_XSD: Final = Path(__file__).parent / "schemas" / "ome-2016-06.xsd"
TILE: Final = 512
#: Planes with a side at least this long are written tiled.
TILE_THRESHOLD: Final = 1024
_BIGTIFF_BYTES: Final = 2**31
#: The unit of imgData's ``pixel_size``, as an OME ``UnitsLength`` symbol. OMERO stores a
#: size in any length unit, but imgData converts it to micrometres (webgateway's
#: ``imageMarshal`` asks ``getPixelSizeX("MICROMETER")`` since ome/openmicroscopy#4460, 2016),
#: and sends null for a unit with no length (pixel, reference frame): no request for the
#: stored unit is needed.
PHYSICAL_SIZE_UNIT: Final = "µm"
#: Centimetres in one of each OME ``UnitsLength`` (the symbols of ome.xsd). ``pixel`` and
#: ``reference frame`` are abstract, convertible to nothing: absent, so no TIFF resolution.
CM_PER_LENGTH_UNIT: Final[dict[str, float]] = {
    **{f"{prefix.symbol}m": 10.0 ** (prefix.exponent + 2) for prefix in SI_PREFIXES},
    **{"Å": 1e-8, "thou": 2.54e-3, "li": 2.54 / 12, "in": 2.54, "ft": 30.48, "yd": 91.44},
    **{"mi": 160934.4, "pt": 2.54 / 72, "ua": 1.495978707e13, "ly": 9.4607304725808e17},
    "pc": 3.0856775814913673e18,
}
_RATIONAL_MAX: Final = 2**32 - 1
#: A resolution is written only if a TIFF RATIONAL (two uint32) holds it this closely.
_RESOLUTION_TOLERANCE: Final = 1e-6

#: Characters XML 1.0 cannot carry at all (server names may contain them).
#: (Lone surrogates too: a JSON string's \ud800 escape gives one, written as ``&#55296;``, which
#: is no XML character: the whole OME-XML would fail to parse.)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Control characters (tab, newline, escape, DEL, C1) and line breaks in a name: some are
#: legal XML, but the name is one line in a viewer (Fiji's window title, QuPath's image list).
_NAME_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]+")

PlaneSource = Callable[[int, int, int], NDArray[np.uint8]]
"""``source(t, z, c)`` -> the full-resolution (height, width) uint8 plane."""


@dataclass(frozen=True, slots=True)
class StackMetadata:
    """What the OME-XML says about a stack."""

    image_id: int
    name: str
    server: str
    size_x: int
    size_y: int
    size_z: int
    size_c: int
    size_t: int
    windows: tuple[ChannelWindow, ...]
    window_mode: str
    source_format: str  # "png", "jpeg" or "png+jpeg"
    pixel_type: str = ""
    physical_size_x: float | None = None
    physical_size_y: float | None = None
    physical_size_z: float | None = None
    #: The OME ``UnitsLength`` symbol of the three physical sizes.
    physical_size_unit: str = PHYSICAL_SIZE_UNIT
    time_increment: float | None = None
    acquisition_ts: float | None = None
    levels: int = 1
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """TZCYX shape of the series."""
        return (self.size_t, self.size_z, self.size_c, self.size_y, self.size_x)

    def provenance(self) -> str:
        """One human sentence: where the values come from and what they are not."""
        lossy = {
            "png": "lossless PNG",
            "jpeg": "JPEG q=1.0 (lossy)",
        }.get(self.source_format, f"{self.source_format} (partly lossy)")
        channels = "; ".join(
            f"channel {w.index} {_clean(w.label)!r} window {w.text.replace(':', '..')}"
            for w in self.windows
        )
        raw = f" (raw pixel type {self.pixel_type})" if self.pixel_type else ""
        return (
            f"Rendered 8-bit greyscale, not raw data{raw}: image {self.image_id} from "
            f"{self.server}, each plane rendered by the server (m=g) with window "
            f"'{self.window_mode}' and fetched as {lossy}; value v maps back to roughly "
            f"start + v/255*(end-start) per channel; {channels}."
        )


def color_int(rrggbb: str) -> int:
    """OME ``Color``: RGBA packed into a signed 32-bit integer (alpha opaque)."""
    value = (int(rrggbb, 16) << 8) | 0xFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _name(text: str, fallback: str) -> str:
    """A one-line name: the pieces between control characters, trimmed, joined by a space.

    ``fallback`` when nothing is left, so that a viewer still has something to show.
    """
    pieces = (piece.strip() for piece in _NAME_BREAKS.split(text))
    return " ".join(piece for piece in pieces if piece) or fallback


def _num(value: float) -> str:
    return repr(float(value))


def _measure(value: float | None) -> str | None:
    """An OME float attribute's text; None (attribute left out) unless finite and positive.

    Python's JSON reads ``Infinity``, and ``inf`` is no xsd:float: the whole OME-XML
    would fail the schema (and Bio-Formats' number parsing) for one odd server value.
    """
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return _num(value)


def _date(timestamp: float | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) of a timestamp, None if datetime cannot show it."""
    if timestamp is None:
        return None
    try:
        stamp = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    except (ValueError, OverflowError, OSError):  # NaN, beyond year 9999, platform limits
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


def _rational(value: float) -> tuple[int, int] | None:
    """``value`` as a TIFF RATIONAL (numerator, denominator), None if none is close enough."""
    if not math.isfinite(value) or value <= 0:
        return None
    fraction = Fraction(value).limit_denominator(
        max(1, min(_RATIONAL_MAX, int(_RATIONAL_MAX / value)))
    )
    if not 0 < fraction.numerator <= _RATIONAL_MAX:
        return None
    if abs(float(fraction) - value) > _RESOLUTION_TOLERANCE * value:
        return None
    return fraction.numerator, fraction.denominator


Resolution = tuple[tuple[int, int], tuple[int, int]]


def tiff_resolution(meta: StackMetadata, level: int = 0) -> Resolution | None:
    """XResolution and YResolution of pyramid ``level``, in pixels per centimetre.

    Readers that ignore the OME-XML (PIL, ImageJ without Bio-Formats, GIS tools) take
    the scale from these tags alone. None (tifffile then writes 1/1 and no unit, as
    without a pixel size) unless both X and Y sizes are known, in a unit convertible to
    centimetres, and fit a RATIONAL. Each level's pixels are exactly ``2**level`` times
    larger (:func:`~harvester.planes.halve` drops an odd last row or column).
    """
    cm = CM_PER_LENGTH_UNIT.get(meta.physical_size_unit)
    x, y = meta.physical_size_x, meta.physical_size_y
    if cm is None or x is None or y is None or not (x > 0 and y > 0):  # also NaN
        return None
    # Divided in this order a huge result is inf (refused by _rational), never an error.
    per_cm = 1 / cm / 2**level
    x_res, y_res = _rational(per_cm / x), _rational(per_cm / y)
    return (x_res, y_res) if x_res is not None and y_res is not None else None


def build_ome_xml(meta: StackMetadata) -> str:
    """The OME-XML (2016-06 schema) for ``meta``, ASCII-only; validates against ome.xsd."""
    ET.register_namespace("", OME_NS)
    ET.register_namespace("xsi", XSI_NS)
    q = f"{{{OME_NS}}}"
    root = ET.Element(
        f"{q}OME",
        {
            f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION,
            "Creator": f"harvester {__version__}",
        },
    )
    image = ET.SubElement(
        root, f"{q}Image", {"ID": "Image:0", "Name": _name(meta.name, f"image {meta.image_id}")}
    )
    stamp = _date(meta.acquisition_ts)
    if stamp is not None:
        ET.SubElement(image, f"{q}AcquisitionDate").text = stamp
    ET.SubElement(image, f"{q}Description").text = _clean(meta.provenance())
    pixels_attrs = {
        "ID": "Pixels:0",
        "DimensionOrder": "XYCZT",
        "Type": "uint8",
        "SignificantBits": "8",
        "Interleaved": "false",
        "BigEndian": "false",
        "SizeX": str(meta.size_x),
        "SizeY": str(meta.size_y),
        "SizeZ": str(meta.size_z),
        "SizeC": str(meta.size_c),
        "SizeT": str(meta.size_t),
    }
    for axis, value in (
        ("X", meta.physical_size_x),
        ("Y", meta.physical_size_y),
        ("Z", meta.physical_size_z),
    ):
        text = _measure(value)
        if text is not None:
            pixels_attrs[f"PhysicalSize{axis}"] = text
            pixels_attrs[f"PhysicalSize{axis}Unit"] = meta.physical_size_unit
    increment = _measure(meta.time_increment)
    if increment is not None:
        pixels_attrs["TimeIncrement"] = increment
        pixels_attrs["TimeIncrementUnit"] = "s"
    pixels = ET.SubElement(image, f"{q}Pixels", pixels_attrs)
    for window in meta.windows:
        attrs = {
            "ID": f"Channel:0:{window.index}",
            "Name": _name(window.label, f"C{window.index}"),
            "SamplesPerPixel": "1",
            "Color": str(color_int(window.color)),
        }
        wave = _measure(window.emission_wave)
        if wave is not None:
            attrs["EmissionWavelength"] = wave
            attrs["EmissionWavelengthUnit"] = "nm"
        ET.SubElement(pixels, f"{q}Channel", attrs)
    planes = meta.size_t * meta.size_z * meta.size_c
    ET.SubElement(pixels, f"{q}TiffData", {"IFD": "0", "PlaneCount": str(planes)})
    ET.SubElement(image, f"{q}AnnotationRef", {"ID": "Annotation:0"})
    annotations = ET.SubElement(root, f"{q}StructuredAnnotations")
    mapping = ET.SubElement(
        annotations, f"{q}MapAnnotation", {"ID": "Annotation:0", "Namespace": ANNOTATION_NS}
    )
    ET.SubElement(mapping, f"{q}Description").text = "How these values were made (harvester)"
    values = ET.SubElement(mapping, f"{q}Value")
    pairs: list[tuple[str, str]] = [
        ("values", "rendered 8-bit (not raw data)"),
        ("server", meta.server),
        ("image_id", str(meta.image_id)),
        ("raw_pixel_type", meta.pixel_type),
        ("window_mode", meta.window_mode),
        ("format", meta.source_format),
    ]
    pairs += [(f"window.c{w.index}", w.text.replace(":", "..")) for w in meta.windows]
    pairs += list(meta.extra)
    for key, text in pairs:
        ET.SubElement(values, f"{q}M", {"K": _clean(key)}).text = _clean(text)
    # TIFF ImageDescription must be 7-bit ASCII: non-ASCII (µ, names) become
    # character references, which every XML parser reads back unchanged.
    body = ET.tostring(root, encoding="unicode").encode("ascii", "xmlcharrefreplace")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body.decode("ascii")


def _plane_iter(
    meta: StackMetadata,
    source: PlaneSource,
    tiled: bool,
    keep: Path | None,
    check: Callable[[], None] | None = None,
) -> Iterator[NDArray[np.uint8]]:
    """Planes (or their tiles) of one resolution, in page order.

    With ``keep``, each plane's 2x-downsampled copy is saved there as
    ``<page>.npy`` for the next resolution, so that level reads this level's
    small copy instead of decoding the full-resolution renders again.
    ``check`` is called before each plane and each row of tiles (see
    :func:`write_ome_tiff`).
    """
    page = 0
    for t in range(meta.size_t):
        for z in range(meta.size_z):
            for c in range(meta.size_c):
                if check is not None:
                    check()
                plane = source(t, z, c)
                if keep is not None:
                    np.save(keep / f"{page}.npy", halve(plane), allow_pickle=False)
                page += 1
                if not tiled:
                    yield plane
                else:
                    height, width = plane.shape
                    for y in range(0, height, TILE):
                        if check is not None and y:
                            check()
                        for x in range(0, width, TILE):
                            # A copy, not a view: tifffile keeps the last chunk
                            # while asking for the next, and a view would keep
                            # this whole plane alive while the next is decoded.
                            yield plane[y : y + TILE, x : x + TILE].copy()
                # Drop this plane before the next one is decoded: held here too,
                # two full planes were alive at once (+48 MB at 8000 x 6000).
                del plane


def _cached_source(meta: StackMetadata, folder: Path) -> PlaneSource:
    """Read the planes a previous pass saved in ``folder`` (by page number)."""

    def source(t: int, z: int, c: int) -> NDArray[np.uint8]:
        page = (t * meta.size_z + z) * meta.size_c + c
        plane: NDArray[np.uint8] = np.load(folder / f"{page}.npy", allow_pickle=False)
        return plane

    return source


def write_ome_tiff(
    path: Path,
    meta: StackMetadata,
    source: PlaneSource,
    *,
    scratch: Path | None = None,
    check: Callable[[], None] | None = None,
) -> None:
    """Write the whole stack to ``path`` (overwriting), streaming plane by plane.

    ``source`` is called once per plane; it should read from disk, not from
    memory, to keep memory bounded. Pyramid levels are computed from the
    previous level, kept meanwhile as ``.npy`` files in ``scratch`` (default:
    a folder beside ``path``; removed afterwards; about a third of the
    uncompressed level-0 size). ``check`` is called before each plane and
    each row of 512-px tiles, so an exception it raises (a cancellation)
    abandons a big stack within a fraction of a plane; the caller removes
    ``path`` then.
    """
    shapes = pyramid_shapes(meta.size_y, meta.size_x, meta.levels)
    tiled = max(meta.size_x, meta.size_y) >= TILE_THRESHOLD or len(shapes) > 1
    pages = meta.size_t * meta.size_z * meta.size_c
    bigtiff = pages * meta.size_x * meta.size_y * 4 // 3 >= _BIGTIFF_BYTES
    tile = (TILE, TILE) if tiled else None
    work = scratch if scratch is not None else path.with_name(path.name + ".levels")
    try:
        # Little-endian whatever the host: the OME-XML says BigEndian="false", and a
        # big-endian host (tifffile's default is the native order) would write the
        # opposite, and other bytes than a little-endian one for the same planes.
        with tifffile.TiffWriter(path, bigtiff=bigtiff, byteorder="<", ome=False) as tif:
            for level, (height, width) in enumerate(shapes):
                keep = None
                if level + 1 < len(shapes):
                    keep = work / str(level + 1)
                    keep.mkdir(parents=True, exist_ok=True)
                level_source = source if level == 0 else _cached_source(meta, work / str(level))
                # Level 0 carries the OME-XML and announces the SubIFDs; each
                # further level fills one SubIFD of every page, in page order.
                resolution = tiff_resolution(meta, level)
                tif.write(
                    _plane_iter(meta, level_source, tiled, keep, check),
                    shape=(pages, height, width),
                    dtype=np.uint8,
                    photometric="minisblack",
                    compression="zlib",
                    tile=tile,
                    metadata=None,
                    description=build_ome_xml(meta) if level == 0 else None,
                    subifds=(len(shapes) - 1 or None) if level == 0 else None,
                    subfiletype=1 if level else None,
                    resolution=resolution,
                    resolutionunit=tifffile.RESUNIT.CENTIMETER if resolution else None,
                )
                if level > 0:
                    shutil.rmtree(work / str(level), ignore_errors=True)
    finally:
        if len(shapes) > 1:
            shutil.rmtree(work, ignore_errors=True)

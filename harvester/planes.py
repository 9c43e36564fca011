"""Which requests make up a stack, what they are called on disk, how they decode.

Pure planning plus small synchronous file helpers, so that it can be tested
without a server and called from worker threads:

* :class:`Geometry` — sizes, pixel sizes and pyramid levels read from imgData;
* :func:`plan_requests` — one :class:`PlaneRequest` per (t, z, c) plane, or per
  region of a plane when the plane is larger than the server renders at once;
* :func:`render_url` — the fully specified render URL (z and t in the path, a
  window and colour for *every* channel, one channel active, ``m=g``), built
  byte-identically on every run so that proxy caches hit;
* staging names, atomic staging writes and a cheap completeness check;
* :func:`decode_grey` — Pillow decoding of a rendered PNG/JPEG to one 8-bit band,
  after :func:`check_png_chunks` (a PNG's CRCs); :func:`body_damage` checks an answer
  without decoding it (a PNG's CRCs, a JPEG's markers); :func:`undecodable` finds the
  staged files that do not decode;
* :func:`render_refusal` — a plane refused before any request (too big to put together
  in memory, :func:`too_big_to_assemble`, as a stack's is; too wide for a JPEG);
  :func:`paste_region` and :func:`encode_rgb` stitch the ``render`` of a plane fetched as
  regions.

numpy and Pillow are imported inside the functions that use them, so that
planning (and a harvest that never decodes a plane) does not load them.

Pillow is the decoder: it is already a dependency (the emulator encodes with
it), it is mature and well maintained, and it reads both JPEG and PNG, so no
second codec library (imagecodecs) is needed.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from harvester import urls
from harvester.jpeg import jpeg_damage

# (The refusals' limits and words live apart, for fetch's hints: see plane_limits.)
from harvester.plane_limits import (
    JPEG_MAX_SIDE,
    TOO_BIG_TO_ASSEMBLE,
    TOO_WIDE_FOR_JPEG,
    canvas_gib,
)
from harvester.text import shown
from harvester.window import ChannelWindow

if TYPE_CHECKING:
    # numpy and Pillow are imported by the functions that decode or build
    # pixels, not here: fetch imports this module for its planning helpers on
    # every harvest, and a thumbnails-only run must not pay ~90 ms of start-up
    # for libraries it never calls (tests/unit/test_startup_imports.py).
    import numpy as np
    from numpy.typing import NDArray
    from PIL.Image import Image as PILImage

#: IDR's image-region microservice renders at most 3192 x 3192 in one request.
DEFAULT_MAX_PLANE: Final = 3192
#: Its ``maxTileLength``; regions are never asked bigger than this.
DEFAULT_MAX_TILE: Final = 2048

#: The widest or tallest plane asked in one request, whatever ``max_plane`` says: a wider
#: one is asked as regions. OMERO.web answers every render as JPEG (``format=png`` is IDR's
#: microservice's alone, which renders 3192 px at most), so no server answers a whole plane
#: wider than a JPEG holds: asked anyway (``max_plane`` = 70,000), the server rendered a
#: whole slide for an answer it could not encode.
MAX_WHOLE_SIDE: Final = JPEG_MAX_SIDE
#: The most pixels of one plane put together in memory: a stack's plane (its assembly
#: holds about 2.5 of them at a byte a pixel) and a render's canvas (4 bytes a pixel:
#: Pillow keeps RGB as 32 bits; with every region's answer). A whole slide of
#: 100,000 x 100,000 px would need tens of GB: killed for memory after thousands of
#: region requests, and again on every rerun.
MAX_PLANE_PIXELS: Final = 2 * 1024**3

PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC: Final = b"\xff\xd8"
_PNG_TRAILER: Final = b"IEND\xaeB`\x82"
_JPEG_TRAILER: Final = b"\xff\xd9"


class PlaneError(ValueError):
    """A rendered plane is not what was asked (format, size), or does not decode."""


class StagedPlaneError(PlaneError):
    """A staged file does not decode as the plane it stands for.

    Its magic bytes and trailer passed :func:`looks_complete` (the only check made
    before assembly, cheap enough for every rerun), but its data is damaged: as the
    server sent it, or on disk since. ``path`` names the file, so that the caller can
    drop that one file and fetch it again rather than every staged plane.
    """

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True, slots=True)
class Geometry:
    """The parts of imgData a stack needs, validated once."""

    image_id: int
    name: str
    size_x: int
    size_y: int
    size_z: int
    size_c: int
    size_t: int
    pixel_type: str
    #: Micrometres: imgData's ``pixel_size``, which OMERO.web converts from the stored unit.
    physical_size_x: float | None = None
    physical_size_y: float | None = None
    physical_size_z: float | None = None
    levels: int = 1
    acquisition_ts: float | None = None

    @property
    def plane_count(self) -> int:
        """Number of (t, z, c) planes."""
        return self.size_t * self.size_z * self.size_c

    @classmethod
    def from_imgdata(cls, imgdata: Mapping[str, Any]) -> Geometry:
        """Read imgData; :class:`PlaneError` if it has no usable ``size``."""
        size = imgdata.get("size")
        if not isinstance(size, Mapping):
            raise PlaneError("imgData has no size (rendering engine failure?)")
        try:
            dims = [int(size[key]) for key in ("width", "height", "z", "c", "t")]
            image_id = int(imgdata["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlaneError(f"imgData size is incomplete: {shown(repr(size))}") from exc
        if min(dims) < 1:
            raise PlaneError(f"imgData size has an empty dimension: {shown(repr(size))}")
        meta = imgdata.get("meta") if isinstance(imgdata.get("meta"), Mapping) else {}
        assert isinstance(meta, Mapping)
        pixel_size = imgdata.get("pixel_size")
        pixel_size = pixel_size if isinstance(pixel_size, Mapping) else {}
        levels = imgdata.get("levels")
        timestamp = meta.get("imageTimestamp")
        return cls(
            image_id=image_id,
            name=str(meta.get("imageName") or ""),
            size_x=dims[0],
            size_y=dims[1],
            size_z=dims[2],
            size_c=dims[3],
            size_t=dims[4],
            pixel_type=str(meta.get("pixelsType") or ""),
            physical_size_x=_positive(pixel_size.get("x")),
            physical_size_y=_positive(pixel_size.get("y")),
            physical_size_z=_positive(pixel_size.get("z")),
            levels=int(levels) if isinstance(levels, int) and levels > 1 else 1,
            acquisition_ts=_timestamp(timestamp),
        )


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in full-resolution pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PlaneRequest:
    """One HTTP request of a stack: a whole plane, or one region of it."""

    t: int
    z: int
    c: int
    region: Region | None  # None: the whole plane
    index: int  # region number within the plane (0 for whole planes)
    url: str

    @property
    def stem(self) -> str:
        """Staging file name without extension; sorts in TZC order."""
        return f"t{self.t:05d}-z{self.z:05d}-c{self.c:03d}-r{self.index:04d}"


def whole_plane_limit(max_plane: int) -> int:
    """The widest or tallest plane asked whole: ``max_plane``, at most :data:`MAX_WHOLE_SIDE`."""
    return min(max_plane, MAX_WHOLE_SIDE)


def region_grid(size_x: int, size_y: int, max_plane: int, max_tile: int) -> list[Region] | None:
    """Regions covering a plane, or None when the plane fits in one request.

    It fits when neither side is over :func:`whole_plane_limit` (``max_plane``, at most
    :data:`MAX_WHOLE_SIDE`). Regions are at most ``min(max_plane, max_tile)`` on a side
    and laid out row by row; the last row/column takes the remainder, so reassembly is a
    plain copy of each region to its offset.
    """
    whole = whole_plane_limit(max_plane)
    if size_x <= whole and size_y <= whole:
        return None
    step = max(16, min(max_plane, max_tile))
    return [
        Region(x, y, min(step, size_x - x), min(step, size_y - y))
        for y in range(0, size_y, step)
        for x in range(0, size_x, step)
    ]


def too_big_to_assemble(width: int, height: int, kind: Literal["render", "stack"]) -> str | None:
    """Why a ``width`` x ``height`` plane is not put together for a ``render`` (stitched
    from regions, a canvas of 4 bytes a pixel) or a ``stack`` (assembled at a byte a pixel,
    about 2.5 planes held at its peak: the plane, its halved copy, a decoded region, so a
    plane at the limit peaks near 5 GB), or None: it is within :data:`MAX_PLANE_PIXELS`.
    Asked from imgData, before any request for the plane.

    Why one: the render's and the stack's refusals were worded apart ("the plane is ...
    planes of up to 2,147,483,648 px", "one plane is ... planes up to 2 GiB") for the one
    limit; they differ now only in the memory each would hold."""
    if width * height <= MAX_PLANE_PIXELS:
        return None
    if kind == "render":
        memory, made = f"{canvas_gib(width, height):.1f} GiB as an RGB canvas", "stitched from"
    else:
        memory, made = f"{width * height / 1024**3:.1f} GiB in memory", "made of"
    held = "" if kind == "render" else "; assembly holds about 2.5 of them"
    return (
        f"the plane is {width}x{height} px ({memory}), {TOO_BIG_TO_ASSEMBLE}: {kind}s are "
        f"{made} planes of up to {MAX_PLANE_PIXELS:,} px (about 46,000 px square{held})"
    )


def render_refusal(width: int, height: int, fmt: str) -> str | None:
    """Why the ``render`` of a ``width`` x ``height`` plane in ``fmt`` is not made, or None.

    Asked before any region request: the canvas would not fit in memory, or the JPEG
    could not hold it, whatever the answers; found out after the last region, every
    rerun would ask them all again for the same end.
    """
    if (too_big := too_big_to_assemble(width, height, "render")) is not None:
        return too_big
    if fmt != "png" and max(width, height) > JPEG_MAX_SIDE:
        return (
            f"the plane is {width}x{height} px, {TOO_WIDE_FOR_JPEG} ({JPEG_MAX_SIDE:,} px a side)"
        )
    return None


def channel_spec(windows: Sequence[ChannelWindow], active: int) -> str:
    """The ``c=`` value: every channel with window and colour, only ``active`` on.

    The active channel is drawn white (``m=g`` ignores colour, but IDR's
    microservice rejects any entry without one); inactive ones keep their own
    colour so the request is still complete (:func:`render_url` lists ``active`` alone
    where every channel would not fit gunicorn's request line).
    """
    parts = []
    for window in windows:
        number = window.index + 1
        if window.index == active:
            parts.append(f"{number}|{window.text}$FFFFFF")
        else:
            parts.append(f"-{number}|{window.text}${window.color}")
    return ",".join(parts)


def render_url(
    image_id: int,
    z: int,
    t: int,
    channel: int,
    windows: Sequence[ChannelWindow],
    region: Region | None = None,
) -> str:
    """Fully specified greyscale render URL of one channel of one plane.

    ``format=png`` makes IDR's microservice answer losslessly; omero-web
    ignores it and answers JPEG, for which ``q=1.0`` asks the best quality.
    The caller detects which came back by magic bytes.
    """
    query = "&m=g"
    if region is None:
        route = "render_image"
    else:
        route = "render_image_region"
        query += f"&region={region.x},{region.y},{region.width},{region.height}"
    query += "&format=png&q=1.0"
    path = f"webgateway/{route}/{image_id}/{z}/{t}/"
    spec = channel_spec(windows, channel)
    if not urls.request_line_fits(f"{path}?c={spec}{query}"):
        # Every channel listed made a line gunicorn refuses (an image of ~150 channels): the
        # channel drawn alone, the others left out, which renders them inactive all the same.
        spec = channel_spec([w for w in windows if w.index == channel], channel)
    return f"{path}?c={spec}{query}"


def plan_requests(
    geometry: Geometry,
    windows: Sequence[ChannelWindow],
    *,
    max_plane: int = DEFAULT_MAX_PLANE,
    max_tile: int = DEFAULT_MAX_TILE,
) -> list[PlaneRequest]:
    """Every request of the stack, in TZC (then region) order."""
    regions = region_grid(geometry.size_x, geometry.size_y, max_plane, max_tile)
    requests = []
    for t in range(geometry.size_t):
        for z in range(geometry.size_z):
            for c in range(geometry.size_c):
                if regions is None:
                    url = render_url(geometry.image_id, z, t, c, windows)
                    requests.append(PlaneRequest(t, z, c, None, 0, url))
                    continue
                for index, region in enumerate(regions):
                    url = render_url(geometry.image_id, z, t, c, windows, region)
                    requests.append(PlaneRequest(t, z, c, region, index, url))
    return requests


def image_format(body: bytes) -> str:
    """``"png"`` or ``"jpeg"`` from magic bytes; :class:`PlaneError` otherwise."""
    if body.startswith(PNG_MAGIC):
        return "png"
    if body.startswith(JPEG_MAGIC):
        return "jpeg"
    raise PlaneError(f"not a PNG or JPEG (starts {body[:8]!r})")


def extension(fmt: str) -> str:
    """Staging file extension for a format."""
    return ".png" if fmt == "png" else ".jpg"


def bound_pillow() -> None:
    """Set Pillow's decompression-bomb limit to the harvester's own bound on a plane.

    Pillow warns of an image over ``Image.MAX_IMAGE_PIXELS`` (89.5 M px by default) and
    refuses one over twice that (179 M px, about 13,400 px square), to keep a small file
    that claims a huge size from filling memory. The harvester bounds what it decodes
    already: it asks for no plane over :data:`MAX_PLANE_PIXELS` (refused from imgData,
    before any request) and compares every answer's size with the size asked before it
    decodes a pixel. Pillow's default only stopped real planes: a whole plane over
    13,400 px (``max_plane`` set that high) stopped the run with "internal error:
    DecompressionBombError", and one over 9,500 px printed Pillow's warning. The limit is
    therefore :data:`MAX_PLANE_PIXELS`: nothing asked for warns, and an answer claiming
    over twice as much is refused by Pillow (:func:`opened` makes that a
    :class:`PlaneError`), one claiming less by the size check, both before decoding.
    Every decoding site calls this (the value is a constant: setting it from several
    threads at once is harmless).
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PLANE_PIXELS


@contextmanager
def opened(body: bytes) -> Iterator[PILImage]:
    """``Image.open`` of a rendered answer under :func:`bound_pillow`'s limit, header only.

    An answer that claims more pixels than that (a decompression bomb, or a server's
    mistake) is :class:`PlaneError` "not decoded, too big", as any other bad answer, rather than
    Pillow's ``DecompressionBombError``, which no caller expects (its warning too, where
    warnings are errors).
    """
    from PIL import Image

    bound_pillow()
    try:
        img = Image.open(io.BytesIO(body))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PlaneError(f"{image_format(body).upper()} not decoded, too big: {exc}") from exc
    with img:
        yield img


#: Bytes of the decoded image copied into the plane at a time (:func:`decode_grey`).
_STRIP_BYTES: Final = 256 * 1024


def decode_grey(body: bytes, expected: tuple[int, int] | None = None) -> NDArray[np.uint8]:
    """Decode a greyscale render to a 2-D uint8 array (height, width).

    ``m=g`` renders carry R = G = B; a PNG's first band is exact, a JPEG is
    decoded to its luminance alone (libjpeg's grey output, Pillow's ``draft``), which
    averages the small per-band JPEG errors. ``expected`` = (width, height) is checked
    so a wrong-sized answer is never stacked.

    Memory, measured as RSS (``tests/unit/test_stack_plane_memory.py``; tracemalloc does
    not see Pillow's pixels): an RGB PNG is held by Pillow at 4 bytes a pixel, and it is
    copied into the plane a strip of rows at a time, so at its peak the answer, Pillow's
    image and the plane are alive, about 6 bytes a pixel of the plane. It was 8: the
    first band as a whole image of its own, and numpy's copy of it made through
    ``tobytes`` (two more planes, its pieces and their join). A JPEG is decoded to one
    byte a pixel (it was converted from Pillow's RGB, 4), about 3 bytes a pixel in all.
    """
    import numpy as np

    fmt = image_format(body)
    if fmt == "png":
        check_png_chunks(body)
    with _decoding(fmt.upper()), opened(body) as img:
        if expected is not None and img.size != expected:
            raise PlaneError(f"rendered plane is {img.size}, expected {expected}")
        if fmt == "jpeg" and img.mode in ("RGB", "YCbCr"):
            img.draft("L", img.size)  # libjpeg writes the luminance alone, at its full size
        img.load()
        width, height = img.size
        plane = np.empty((height, width), dtype=np.uint8)
        step = max(1, _STRIP_BYTES // (4 * width))
        for top in range(0, height, step):
            strip = img.crop((0, top, width, min(height, top + step)))
            plane[top : top + strip.height] = np.asarray(_grey(strip, fmt), dtype=np.uint8)
    return plane


def _grey(strip: PILImage, fmt: str) -> PILImage:
    """One 8-bit band of a decoded strip: itself (grey), a PNG's first band (exact: R = G =
    B), else its luminance (a JPEG in another colour space than YCbCr, a palette PNG...)."""
    if strip.mode == "L":
        return strip
    if fmt == "png":
        rgb = strip if strip.mode == "RGB" else strip.convert("RGB")
        return rgb.getchannel(0)
    return strip.convert("L")


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Pillow's errors for damaged data as :class:`PlaneError` "``what`` does not decode".

    Its words for it ("broken data stream", "broken PNG file", "image file is
    truncated") are a bad plane or region, never a disk error of ours nor a traceback
    that ends the run. A :class:`PlaneError` raised inside (a ``ValueError`` too: a
    wrong size) is said as it is.
    """
    try:
        yield
    except PlaneError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PlaneError(f"{what} does not decode: {exc}") from exc


def check_png_chunks(body: bytes) -> None:
    """:class:`PlaneError` unless every chunk of the PNG ``body`` up to IEND has its CRC.

    Pillow checks no CRC of the pixel data (IDAT) and stops inflating once it has the
    rows: a flipped bit there often decodes, to wrong pixels (over 40% of single-bit
    flips in a smooth 256 x 256 render, measured). The CRCs catch every such damage, for about 3%
    of the decoding's time. JPEG has no checksum: only damage that breaks decoding shows.
    """
    view = memoryview(body)
    pos = len(PNG_MAGIC)
    while pos + 12 <= len(body):
        (length,) = struct.unpack_from(">I", body, pos)
        end = pos + 8 + length
        if end + 4 > len(body):
            break
        name = bytes(view[pos + 4 : pos + 8]).decode("latin-1")
        if zlib.crc32(view[pos + 4 : end]) != struct.unpack_from(">I", body, end)[0]:
            raise PlaneError(f"PNG does not decode: its {shown(name)} chunk fails its CRC")
        if name == "IEND":
            return
        pos = end + 4
    raise PlaneError("PNG does not decode: its chunks end before IEND")


def probe_size(body: bytes) -> tuple[int, int]:
    """(width, height) from the image header, without decoding pixels."""
    image_format(body)
    try:
        with opened(body) as img:
            return img.size
    except OSError as exc:
        raise PlaneError(f"unreadable image: {exc}") from exc


def looks_complete(path: Path) -> bool:
    """Cheap check that a staged file was written whole (magic + trailer).

    Staged files are renamed into place complete, but a power loss can leave
    a renamed file empty or short; those are refetched rather than stacked.
    """
    try:
        size = path.stat().st_size
        if size < 16:
            return False
        with path.open("rb") as fh:
            head = fh.read(8)
            fh.seek(-16, os.SEEK_END)
            tail = fh.read()
    except OSError:
        return False
    if head.startswith(PNG_MAGIC):
        return tail.endswith(_PNG_TRAILER)
    if head.startswith(JPEG_MAGIC):
        return tail.rstrip(b"\x00").endswith(_JPEG_TRAILER)
    return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file beside it and a rename."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def staged_files(staging: Path) -> dict[str, Path]:
    """Complete staged planes by stem (one directory listing + trailer checks)."""
    found: dict[str, Path] = {}
    try:
        entries = list(os.scandir(staging))
    except FileNotFoundError:
        return found
    for entry in entries:
        stem, dot, ext = entry.name.rpartition(".")
        if dot and ext in ("png", "jpg") and looks_complete(Path(entry.path)):
            found[stem] = Path(entry.path)
    return found


def read_plane(
    geometry: Geometry,
    requests: Sequence[PlaneRequest],
    files: Mapping[str, Path],
    check: Callable[[], None] | None = None,
) -> NDArray[np.uint8]:
    """Decode and reassemble one (t, z, c) plane from its staged request files.

    ``check`` is called before each region is decoded (a cancellation check:
    a plane of a few hundred regions takes seconds).
    """
    if len(requests) == 1 and requests[0].region is None:
        return decode_staged(files[requests[0].stem], (geometry.size_x, geometry.size_y))
    import numpy as np

    plane = np.zeros((geometry.size_y, geometry.size_x), dtype=np.uint8)
    for request in requests:
        region = request.region
        assert region is not None
        if check is not None:
            check()
        tile = decode_staged(files[request.stem], (region.width, region.height))
        plane[region.y : region.y + region.height, region.x : region.x + region.width] = tile
    return plane


def expected_size(geometry: Geometry, request: PlaneRequest) -> tuple[int, int]:
    """(width, height) of the answer to ``request``: its region's, else the whole plane's."""
    if request.region is None:
        return (geometry.size_x, geometry.size_y)
    return (request.region.width, request.region.height)


def undecodable(
    geometry: Geometry,
    requests: Sequence[PlaneRequest],
    files: Mapping[str, Path],
    check: Callable[[], None] | None = None,
) -> list[Path]:
    """The staged files of ``requests`` that do not decode as their plane or region.

    Run once an assembly has met one such file, so that every damaged file is fetched
    again at once (a retry per file would assemble the stack again for each).
    ``check`` is called before each file (a cancellation check). A PNG is checked by
    its CRCs and header, not decoded: the scan of a big stack then costs a small part
    of its assembly (a JPEG, which has no checksum, by its markers, then decoded).
    """
    bad: list[Path] = []
    for request in requests:
        path = files.get(request.stem)
        if path is None:
            continue
        if check is not None:
            check()
        if _damaged(path.read_bytes(), expected_size(geometry, request)):
            bad.append(path)
    return bad


def body_damage(body: bytes) -> str | None:
    """Why a rendered PNG or JPEG ``body`` is damaged, or None: a PNG by its chunks' CRCs
    (:func:`check_png_chunks`), a JPEG by its markers (:func:`harvester.jpeg.jpeg_damage`).

    No pixel is decoded (one pass over the bytes): it is the check of a stack's plane as it
    arrives (the client's ``verify``: a damaged one is asked again within the request's one
    retry budget, never staged), and the first part of :func:`undecodable`'s. Damage on the
    way with the length and both ends intact (the emulator's ``corrupt`` fault) shows in
    either format.
    """
    try:
        if image_format(body) == "png":
            check_png_chunks(body)
            return None
    except PlaneError as exc:
        return str(exc)
    damage = jpeg_damage(body)
    return None if damage is None else f"JPEG is damaged: {damage}"


def _damaged(body: bytes, expected: tuple[int, int]) -> bool:
    """Whether a staged file is not the intact image of ``expected`` size it stands for."""
    try:
        if body_damage(body) is not None:  # (Pillow decodes some such to wrong pixels)
            return True
        if image_format(body) == "png":
            return probe_size(body) != expected
        decode_grey(body, expected)
    except (PlaneError, OSError, SyntaxError, ValueError):  # the body is in memory: no disk error
        return True
    return False


def decode_staged(path: Path, expected: tuple[int, int]) -> NDArray[np.uint8]:
    """Decode one staged file; :class:`StagedPlaneError` names it when it does not decode,
    or is a JPEG whose markers show it damaged (:func:`harvester.jpeg.jpeg_damage`).

    Reading it is outside the ``try``: an ``OSError`` of the disk stays one.
    """
    body = path.read_bytes()
    damage = jpeg_damage(body) if body.startswith(JPEG_MAGIC) else None
    if damage is not None:  # (Pillow decodes some such, to wrong pixels, without a word)
        raise StagedPlaneError(f"staged plane {path.name}: JPEG is damaged: {damage}", path)
    try:
        return decode_grey(body, expected)
    except PlaneError as exc:
        raise StagedPlaneError(f"staged plane {path.name}: {exc}", path) from exc


def paste_region(canvas: PILImage, region: Region, body: bytes) -> None:
    """Decode one rendered region into ``canvas`` (RGB, the whole plane) at its place.

    The ``render`` of a plane larger than the server renders at once is asked as
    :func:`region_grid` regions, each of exactly its asked size, pasted here and
    encoded by :func:`encode_rgb`. Called as each region arrives (in a worker thread:
    the decode is the costly part), so a region that does not decode is asked again
    alone, not found after the last.
    """
    with _decoding(f"{image_format(body).upper()} region"), opened(body) as tile:
        if tile.size != (region.width, region.height):
            raise PlaneError(
                f"rendered region is {tile.size}, expected {(region.width, region.height)}"
            )
        canvas.paste(tile.convert("RGB"), (region.x, region.y))


def encode_rgb(canvas: PILImage, fmt: str, quality: float) -> bytes:
    """The stitched ``canvas`` as JPEG at ``quality`` (0-1], or PNG."""
    out = io.BytesIO()
    if fmt == "png":
        canvas.save(out, "PNG")
    else:
        canvas.save(out, "JPEG", quality=max(1, min(100, round(quality * 100))))
    return out.getvalue()


def pyramid_shapes(size_y: int, size_x: int, levels: int) -> list[tuple[int, int]]:
    """(height, width) of each pyramid level; each level halves both sides."""
    shapes = [(size_y, size_x)]
    for _ in range(1, levels):
        height, width = shapes[-1]
        if height < 2 or width < 2:
            break
        shapes.append((height // 2, width // 2))
    return shapes


def halve(plane: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """2 x 2 mean (rounded half up), dropping an odd last row/column."""
    import numpy as np

    height, width = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    # Accumulated in place in one quarter-size uint16 array (4 * 255 + 2 fits):
    # a uint16 copy of the whole plane and its temporaries peaked at 3.5 planes,
    # ~170 MB for one 8000 x 6000 plane of a pyramid image.
    total = plane[0:height:2, 0:width:2].astype(np.uint16)
    total += plane[1:height:2, 0:width:2]
    total += plane[0:height:2, 1:width:2]
    total += plane[1:height:2, 1:width:2]
    total += 2
    total //= 4
    return total.astype(np.uint8)


#: Seconds since 1970 that make a four-digit year (1970..9999) for AcquisitionDate.
_TIMESTAMP_RANGE: Final = (0.0, 253_402_300_799.0)


def _timestamp(value: object) -> float | None:
    """imgData's ``imageTimestamp`` (seconds since 1970) if it can be a date, else None.

    NaN, a bool or a value beyond year 9999 (milliseconds, say) would make the
    OME-XML's AcquisitionDate fail the whole stack; the date is optional.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and _TIMESTAMP_RANGE[0] <= number <= _TIMESTAMP_RANGE[1]:
            return number
    return None


def _positive(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number > 0:
            return number
    return None

"""The limits a plane is refused by before any request, as their failures word them.

Why a module of its own: :mod:`harvester.fetch` words the hints of these failures when it
is imported, and :mod:`harvester.planes` (the planning and decoding of stacks and renders,
which makes the refusals) is needed by no thumbnails-only harvest; importing it for these
few names put its classes and patterns into every harvest's start-up
(``tests/unit/test_startup_imports.py``). :mod:`harvester.planes` uses them from here.
"""

from __future__ import annotations

import functools
import re
from typing import Final

#: The widest or tallest image a JPEG holds (libjpeg's limit, which Pillow enforces: a
#: wider one fails as "broken data stream when writing image file").
JPEG_MAX_SIDE: Final = 65500
#: Said in the failure of a plane over :data:`harvester.planes.MAX_PLANE_PIXELS` (its hint
#: keys on it).
TOO_BIG_TO_ASSEMBLE: Final = "too big to put together in memory"
#: Said in the failure of a JPEG render over :data:`JPEG_MAX_SIDE` (its hint keys on it).
TOO_WIDE_FOR_JPEG: Final = "wider or taller than a JPEG holds"


def canvas_gib(width: int, height: int) -> float:
    """GiB of the RGB canvas a stitched ``render`` of ``width`` x ``height`` px holds.

    Pillow keeps an RGB canvas at 4 bytes a pixel (measured), not 3. Said by the refusal
    of a plane too big to stitch and by the hint that offers a PNG render instead of a
    JPEG one (:func:`harvester.planes.render_refusal`), so both give the same figure.
    """
    return width * height * 4 / 1024**3


@functools.cache
def _refused_size_pattern() -> re.Pattern[str]:
    """How each :func:`harvester.planes.render_refusal` begins: the plane's size (compiled
    on first use: only a run with such failures reads one back)."""
    return re.compile(r"the plane is ([0-9]+)x([0-9]+) px")


def refused_size(reason: str) -> tuple[int, int] | None:
    """(width, height) of the plane a :func:`harvester.planes.render_refusal` ``reason``
    refused, else None.

    The refusal is all a failure keeps of the plane (in the run's summary and in the
    journal that ``harvester status`` reads): the hint that offers a PNG render reads the
    size back from it to say the memory that render needs.
    """
    match = _refused_size_pattern().match(reason)
    return (int(match.group(1)), int(match.group(2))) if match else None

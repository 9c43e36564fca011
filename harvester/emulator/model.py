"""The emulator's catalogue objects, as plain frozen values.

These are what the catalogue (``catalogue.py``) generates lazily from the
seed and what every route module reads. They carry the facts OMERO keeps, not
any one endpoint's JSON shape: each route marshals them the way its real
counterpart does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: OMERO ``UnitsLength`` names the emulator stores pixel sizes in: (symbol, micrometres in
#: one). ``PIXEL`` is no length: OMERO.web cannot convert it, so imgData says null for it.
LENGTH_UNITS: Final[dict[str, tuple[str, float | None]]] = {
    "MICROMETER": ("\u00b5m", 1.0),
    "NANOMETER": ("nm", 1e-3),
    "ANGSTROM": ("\u00c5", 1e-4),
    "PIXEL": ("pixel", None),
}


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One channel's saved rendering settings (as imgData reports them)."""

    label: str
    color: str  # "RRGGBB", upper case
    window_min: float  # channel statistics / pixel-type range
    window_max: float
    start: float  # saved rendering window
    end: float
    active: bool = True
    emission_wave: float | None = None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """An image with its pixels' geometry and where it sits in the hierarchy.

    ``levels`` > 1 means a pyramid (tiled image); level 0 is full resolution
    and each further level halves both sides. ``well_id``/``field`` are set
    for HCS images; ``dataset_ids`` for project images.
    """

    id: int
    name: str
    size_x: int
    size_y: int
    size_z: int
    size_c: int
    size_t: int
    pixel_type: str  # "uint8" | "uint16" | ...
    channels: tuple[ChannelInfo, ...]
    physical_size_x: float | None = None  # in ``length_unit``
    physical_size_y: float | None = None
    physical_size_z: float | None = None
    #: The unit the physical sizes are stored in (a key of :data:`LENGTH_UNITS`).
    length_unit: str = "MICROMETER"
    time_increment: float | None = None  # seconds
    levels: int = 1
    tile_width: int = 256
    tile_height: int = 256
    acquisition_ts: float = 1404512029.0  # seconds since the epoch
    well_id: int | None = None
    well_sample_id: int | None = None
    field: int | None = None
    run_id: int | None = None
    dataset_ids: tuple[int, ...] = ()
    fileset_id: int | None = None

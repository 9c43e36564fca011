"""The emulator's catalogue objects, as plain frozen values.

These are what the catalogue (``catalogue.py``) generates lazily from the
seed and what every route module reads. They carry the facts OMERO keeps, not
any one endpoint's JSON shape: each route marshals them the way its real
counterpart does.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    physical_size_x: float | None = None  # micrometres
    physical_size_y: float | None = None
    physical_size_z: float | None = None
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

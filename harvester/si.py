"""The SI prefixes, once, for the two ways the harvester meets a prefixed unit.

OME-XML names a unit by symbol (ome.xsd's ``UnitsLength``: ``nm``, ``µm``) and OMERO's
JSON API by enum name (``UnitsTime``: ``NANOSECOND``, ``MICROSECOND``). Both are an SI
prefix on a base unit, so :mod:`harvester.ometiff` (centimetres per length symbol) and
:mod:`harvester.stack` (seconds per time name) build their tables from this one.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Prefix(NamedTuple):
    """One SI prefix: OMERO's enum spelling, the OME symbol and the power of ten."""

    name: str
    symbol: str
    exponent: int


#: Every SI prefix (none: the bare unit), largest first. The symbol of micro is U+00B5
#: MICRO SIGN, as ome.xsd spells ``µm``.
SI_PREFIXES: Final[tuple[Prefix, ...]] = (
    Prefix("YOTTA", "Y", 24),
    Prefix("ZETTA", "Z", 21),
    Prefix("EXA", "E", 18),
    Prefix("PETA", "P", 15),
    Prefix("TERA", "T", 12),
    Prefix("GIGA", "G", 9),
    Prefix("MEGA", "M", 6),
    Prefix("KILO", "k", 3),
    Prefix("HECTO", "h", 2),
    Prefix("DECA", "da", 1),
    Prefix("", "", 0),
    Prefix("DECI", "d", -1),
    Prefix("CENTI", "c", -2),
    Prefix("MILLI", "m", -3),
    Prefix("MICRO", "\u00b5", -6),
    Prefix("NANO", "n", -9),
    Prefix("PICO", "p", -12),
    Prefix("FEMTO", "f", -15),
    Prefix("ATTO", "a", -18),
    Prefix("ZEPTO", "z", -21),
    Prefix("YOCTO", "y", -24),
)

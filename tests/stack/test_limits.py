"""Render limits from OPTIONS and TimeIncrement from the JSON API (parsing only)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from harvester.errors import PermanentError
from harvester.models import ImageRef
from harvester.ometiff import OME_XSD
from harvester.stack import (
    RenderLimits,
    discover_limits,
    harvest_stack,
    parse_options,
    parse_time_increment,
)


def test_parse_microservice_options() -> None:
    """The microservice's OPTIONS JSON gives plane and tile limits."""
    body = {
        "provider": "ImageRegionMicroservice",
        "options": {"maxTileLength": 2048, "maxPlaneWidth": 3192, "maxPlaneHeight": 3000},
    }
    assert parse_options(body) == RenderLimits(3000, 2048, "options")
    assert parse_options({"provider": "x"}) is None
    assert parse_options({"options": {"maxPlaneWidth": "big"}}) is None


def test_parse_time_increment_units() -> None:
    """TimeIncrement unit objects convert to seconds; missing or zero is unknown."""

    def body(value: object) -> dict[str, object]:
        return {"data": {"Pixels": {"TimeIncrement": value}}}

    assert parse_time_increment(body({"Unit": "SECOND", "Value": 30.0})) == 30.0
    assert parse_time_increment(body({"Unit": "MILLISECOND", "Value": 500})) == 0.5
    assert parse_time_increment(body(2.5)) == 2.5
    assert parse_time_increment(body(None)) is None
    assert parse_time_increment(body({"Unit": "SECOND", "Value": 0})) is None
    assert parse_time_increment({"message": "not found"}) is None


#: Every OMERO ``UnitsTime`` name with its length in seconds (written out independently).
OMERO_TIME_UNITS = {
    "YOTTASECOND": 1e24,
    "ZETTASECOND": 1e21,
    "EXASECOND": 1e18,
    "PETASECOND": 1e15,
    "TERASECOND": 1e12,
    "GIGASECOND": 1e9,
    "MEGASECOND": 1e6,
    "KILOSECOND": 1e3,
    "HECTOSECOND": 100.0,
    "DECASECOND": 10.0,
    "SECOND": 1.0,
    "DECISECOND": 0.1,
    "CENTISECOND": 0.01,
    "MILLISECOND": 1e-3,
    "MICROSECOND": 1e-6,
    "NANOSECOND": 1e-9,
    "PICOSECOND": 1e-12,
    "FEMTOSECOND": 1e-15,
    "ATTOSECOND": 1e-18,
    "ZEPTOSECOND": 1e-21,
    "YOCTOSECOND": 1e-24,
    "MINUTE": 60.0,
    "HOUR": 3600.0,
    "DAY": 86400.0,
}


def test_every_omero_time_unit_converts() -> None:
    """Each UnitsTime of the bundled OME schema (days, picoseconds...) converts to seconds."""
    schema = ET.parse(OME_XSD).getroot()
    xsd = "{http://www.w3.org/2001/XMLSchema}"
    units = next(t for t in schema.iter(f"{xsd}simpleType") if t.get("name") == "UnitsTime")
    assert len(list(units.iter(f"{xsd}enumeration"))) == len(OMERO_TIME_UNITS)
    for unit, seconds in OMERO_TIME_UNITS.items():
        body = {"data": {"Pixels": {"TimeIncrement": {"Unit": unit, "Value": 2.5}}}}
        assert parse_time_increment(body) == pytest.approx(2.5 * seconds, rel=1e-12), unit


def test_time_increment_out_of_float_range_is_unknown() -> None:
    """A value that overflows or underflows in seconds is no interval (not inf, not 0)."""

    def body(unit: str, value: float) -> dict[str, object]:
        return {"data": {"Pixels": {"TimeIncrement": {"Unit": unit, "Value": value}}}}

    assert parse_time_increment(body("YOTTASECOND", 1e300)) is None
    assert parse_time_increment(body("YOCTOSECOND", 1e-300)) is None
    assert parse_time_increment(body("FURLONG", 1.0)) is None


@dataclass
class _Answer:
    body: bytes
    url: str = "x"


class _OptionsClient:
    """A client whose OPTIONS answers like the microservice (counts calls)."""

    def __init__(self) -> None:
        self.calls = 0

    async def options(self, path: str) -> _Answer:
        self.calls += 1
        return _Answer(
            json.dumps(
                {"options": {"maxPlaneWidth": 1000, "maxPlaneHeight": 1000, "maxTileLength": 512}}
            ).encode()
        )


class _PlainClient:
    """A client without OPTIONS support (omero-web)."""


async def test_discover_limits_asks_once() -> None:
    """Limits come from OPTIONS once per client; without OPTIONS the defaults apply."""
    client = _OptionsClient()
    assert await discover_limits(client, 1) == RenderLimits(1000, 512, "options")  # type: ignore[arg-type]
    assert await discover_limits(client, 2) == RenderLimits(1000, 512, "options")  # type: ignore[arg-type]
    assert client.calls == 1
    assert await discover_limits(_PlainClient(), 1) == RenderLimits()  # type: ignore[arg-type]


async def test_plane_too_big_to_assemble_fails_before_any_request() -> None:
    """A whole-slide plane (100,000 x 80,000 px = 7.5 GiB, ~19 GB at assembly) is this
    image's failure, said in one line, before a request: assembling it would get the
    process killed for memory, and again on every rerun after re-asking its regions."""

    class NoClient:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"no request expected (client.{name})")

    imgdata = {
        "id": 9,
        "meta": {"pixelsType": "uint8"},
        "size": {"width": 100_000, "height": 80_000, "z": 1, "t": 1, "c": 1},
        "channels": [{"label": "C", "color": "FFFFFF", "window": {"start": 0, "end": 255}}],
    }
    with pytest.raises(PermanentError, match=r"100000x80000 px \(7\.5 GiB in memory\)"):
        await harvest_stack(
            cast(Any, NoClient()),
            cast(Any, None),
            ImageRef(9),
            imgdata,
            window="rendering",
            out_dir=Path("/nonexistent"),
        )

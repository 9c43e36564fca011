"""Render limits from OPTIONS and TimeIncrement from the JSON API (parsing only)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from harvester.stack import RenderLimits, discover_limits, parse_options, parse_time_increment


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

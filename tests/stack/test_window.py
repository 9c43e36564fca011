"""Window choice for the stack artifact (--window full|rendering|minmax)."""

from __future__ import annotations

from typing import Any

import pytest

from harvester.window import WindowError, choose_windows, format_number


def _imgdata(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": 7,
        "meta": {"pixelsType": "uint16"},
        "size": {"width": 10, "height": 8, "z": 1, "t": 1, "c": 2},
        "pixel_range": [0, 65535],
        "channels": [
            {
                "label": "DAPI",
                "color": "0000ff",
                "emissionWave": 461,
                "window": {"min": 12.0, "max": 4000.0, "start": 100.0, "end": 900.5},
            },
            {
                "label": "GFP",
                "color": "00FF00",
                "emissionWave": None,
                "window": {"min": 5.0, "max": 300.0, "start": 50.0, "end": 50.0},
            },
        ],
    }
    data.update(overrides)
    return data


def test_full_uses_pixel_range() -> None:
    """`full` maps the pixel type's range for every channel."""
    windows = choose_windows(_imgdata(), "full")
    assert [(w.start, w.end) for w in windows] == [(0.0, 65535.0), (0.0, 65535.0)]
    assert windows[0].text == "0:65535"


def test_full_falls_back_to_pixel_type() -> None:
    """Without a usable pixel_range, `full` uses the pixel type's limits."""
    windows = choose_windows(_imgdata(pixel_range=[0, 0], meta={"pixelsType": "uint8"}), "full")
    assert windows[0].text == "0:255"


def test_rendering_and_minmax() -> None:
    """`rendering` takes start/end, `minmax` min/max; an empty window is widened by one."""
    rendering = choose_windows(_imgdata(), "rendering")
    assert [w.text for w in rendering] == ["100:900.5", "50:51"]
    minmax = choose_windows(_imgdata(), "minmax")
    assert [w.text for w in minmax] == ["12:4000", "5:300"]


def test_labels_colours_and_emission() -> None:
    """Channel labels, upper-case colours and emission wavelengths are carried along."""
    windows = choose_windows(_imgdata(), "rendering")
    assert [(w.label, w.color, w.emission_wave) for w in windows] == [
        ("DAPI", "0000FF", 461.0),
        ("GFP", "00FF00", None),
    ]


_GOOD = {"window": {"start": 0, "end": 1}}


@pytest.mark.parametrize(
    "data",
    [
        {"id": 7, "meta": {}, "perms": {}, "Exception": "Error instantiating pixel buffer"},
        _imgdata(channels=[]),
        # A server's malformed imgData is a WindowError (the image's failure), never a
        # ValueError/AttributeError out of the render or stack code:
        _imgdata(size={"width": 10, "height": 8, "z": 1, "t": 1, "c": "two"}),
        _imgdata(size={"width": 10, "height": 8, "z": 1, "t": 1, "c": None}),
        _imgdata(channels=[None, None]),
        _imgdata(channels=["DAPI", "GFP"]),
        _imgdata(channels=[{"window": 5}, {"window": 5}]),
        _imgdata(channels=[{"window": {"start": 0, "end": float("nan")}}, _GOOD]),
        _imgdata(channels=[{"window": {"start": float("-inf"), "end": 1}}, _GOOD]),
    ],
)
def test_unusable_imgdata(data: dict[str, Any]) -> None:
    """imgData without size, with too few or malformed channels, or a window that is
    not a finite number pair, is refused with WindowError."""
    with pytest.raises(WindowError):
        choose_windows(data, "rendering")


def test_unknown_mode() -> None:
    """An unknown window name is refused and the message lists the valid ones."""
    with pytest.raises(WindowError, match="full, rendering, minmax"):
        choose_windows(_imgdata(), "auto")


def test_format_number_is_stable() -> None:
    """Integral bounds print without '.0'; others use repr (byte-stable URLs)."""
    assert format_number(255.0) == "255"
    assert format_number(-3) == "-3"
    assert format_number(0.125) == "0.125"

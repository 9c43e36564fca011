"""Physical sizes OMERO stores in nm, Å or pixels end up right in the stack's OME-TIFF.

The emulator's ``units`` preset stores each image's sizes in another unit than
micrometres: its JSON API states the stored value and unit, its imgData converts to
micrometres as OMERO.web does (null for a pixel, which is no length). The expected
values here come from the stored value and unit alone, so a harvester that wrote the
stored number as micrometres (1000 times too large for nm) would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tifffile
from harvest_helpers import harvest

from harvester import layout
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue_presets import UNITS_PROJECT_ID, UNITS_STORED

Factory = Callable[..., EmulatorThread]
#: Micrometres in one of each stored unit the preset uses (PIXEL: no length).
MICRONS_PER_UNIT = {"NANOMETER": 1e-3, "ANGSTROM": 1e-4, "PIXEL": None}


def _pixels(path: Path) -> dict[str, Any]:
    """The OME-XML ``Pixels`` attributes of a stack file."""
    with tifffile.TiffFile(path) as tif:
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
    pixels: dict[str, Any] = ome["Image"]["Pixels"]
    return pixels


def _tags(path: Path) -> set[tuple[tuple[float, float], int]]:
    """Every page's (XResolution/YResolution, ResolutionUnit)."""
    with tifffile.TiffFile(path) as tif:
        return {(page.resolution, int(page.resolutionunit)) for page in tif.pages}


def test_stored_units_become_micrometres_and_a_rerun_fetches_nothing(
    make_emulator: Factory, tmp_path: Path
) -> None:
    """65 nm is 0.065 µm (153,846 px/cm), 6459 Å 0.6459 µm; a pixel size writes no scale."""
    emu = make_emulator(preset="units", mode="microservice")
    out = tmp_path / "d"
    first = harvest(emu.base_url, out, projects=(UNITS_PROJECT_ID,), artifacts=("stack",))
    assert (first.exit_code, first.done) == (0, len(UNITS_STORED))
    for image_id, (xy, z, unit) in UNITS_STORED.items():
        path = out / layout.image_path(image_id, "stack")
        pixels = _pixels(path)
        factor = MICRONS_PER_UNIT[unit]
        if factor is None:  # pixels: no physical size, no scale in the tags (1/1, no unit)
            assert not [key for key in pixels if key.startswith("PhysicalSize")], image_id
            assert _tags(path) == {((1.0, 1.0), tifffile.RESUNIT.NONE)}
            continue
        microns = xy * factor
        for axis in ("X", "Y"):
            assert float(pixels[f"PhysicalSize{axis}"]) == pytest.approx(microns, rel=1e-9)
            assert pixels[f"PhysicalSize{axis}Unit"] == "µm"
        if z is None:
            assert "PhysicalSizeZ" not in pixels
        else:
            assert float(pixels["PhysicalSizeZ"]) == pytest.approx(z * factor, rel=1e-9)
            assert pixels["PhysicalSizeZUnit"] == "µm"
        per_cm = 1e4 / microns  # 10,000 µm in a centimetre
        ((x_res, y_res),) = {resolution for resolution, _unit in _tags(path)}
        assert x_res == pytest.approx(per_cm, rel=1e-6) and y_res == pytest.approx(per_cm, rel=1e-6)
        assert {unit for _resolution, unit in _tags(path)} == {tifffile.RESUNIT.CENTIMETER}
    assert {unit for _xy, _z, unit in UNITS_STORED.values()} == set(MICRONS_PER_UNIT)
    emu.reset_stats()
    again = harvest(emu.base_url, out, projects=(UNITS_PROJECT_ID,), artifacts=("stack",))
    assert (again.exit_code, again.done, again.skipped) == (0, 0, len(UNITS_STORED))
    assert emu.stats()["image_requests"] == 0

"""The OME-TIFF writer: read back with tifffile, OME-XML valid against ome.xsd."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xmlschema

from harvester.ometiff import (
    OME_XSD,
    StackMetadata,
    build_ome_xml,
    color_int,
    tiff_resolution,
    write_ome_tiff,
)
from harvester.window import ChannelWindow

WINDOWS = (
    ChannelWindow(0, "DAPI", "0000FF", 0, 65535, 461.0),
    ChannelWindow(1, "GFP <&> \x00µ", "00FF00", 10, 500.5),
)


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    """The shipped OME 2016-06 schema (loaded offline)."""
    return xmlschema.XMLSchema(str(OME_XSD))


def _meta(size_x: int, size_y: int, levels: int = 1) -> StackMetadata:
    return StackMetadata(
        image_id=5,
        name="img \x01 ../name",
        server="http://127.0.0.1:9",
        size_x=size_x,
        size_y=size_y,
        size_z=3,
        size_c=2,
        size_t=2,
        windows=WINDOWS,
        window_mode="rendering",
        source_format="png",
        pixel_type="uint16",
        physical_size_x=0.5,
        physical_size_y=0.25,
        physical_size_z=2.0,
        time_increment=1.5,
        acquisition_ts=1404512029.0,
        levels=levels,
    )


@pytest.mark.parametrize(("size_x", "size_y", "levels"), [(60, 40, 1), (1100, 1030, 3)])
def test_roundtrip(
    tmp_path: Path, schema: xmlschema.XMLSchema, size_x: int, size_y: int, levels: int
) -> None:
    """Written data read back equal, TZCYX uint8 with sizes, channels, pyramid and valid XML."""
    data = np.random.default_rng(0).integers(0, 256, (2, 3, 2, size_y, size_x), dtype=np.uint8)
    path = tmp_path / "s.ome.tif"
    write_ome_tiff(path, _meta(size_x, size_y, levels), lambda t, z, c: data[t, z, c])
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome
        series = tif.series[0]
        assert series.axes == "TZCYX"
        assert series.dtype == np.uint8
        assert (series.asarray() == data).all()
        assert len(series.levels) == levels
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.is_tiled == (levels > 1)
        xml = tif.ome_metadata
    schema.validate(xml)
    ome = tifffile.xml2dict(xml)["OME"]
    pixels = ome["Image"]["Pixels"]
    assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeY"], pixels["PhysicalSizeZ"]) == (
        0.5,
        0.25,
        2.0,
    )
    assert pixels["PhysicalSizeXUnit"] == "µm" and pixels["TimeIncrement"] == 1.5
    assert [c["Name"] for c in pixels["Channel"]] == ["DAPI", "GFP <&> µ"]
    assert "not raw data" in ome["Image"]["Description"]
    assert "window 10..500.5" in ome["Image"]["Description"]


def test_xml_is_ascii_and_deterministic() -> None:
    """The OME-XML is 7-bit ASCII (TIFF requirement) and the same on every call."""
    xml = build_ome_xml(_meta(10, 10))
    assert xml == build_ome_xml(_meta(10, 10))
    xml.encode("ascii")
    assert "rendered 8-bit" in xml


def test_color_int() -> None:
    """OME colours are signed RGBA integers."""
    assert color_int("FFFFFF") == -1
    assert color_int("0000FF") == 65535
    assert color_int("FF0000") == -16776961


def test_written_bytes_are_reproducible(tmp_path: Path) -> None:
    """Two writes of the same planes give byte-identical files (no clock in the file)."""
    data = np.random.default_rng(3).integers(0, 256, (2, 3, 2, 20, 30), dtype=np.uint8)
    paths = [tmp_path / "a.ome.tif", tmp_path / "b.ome.tif"]
    for path in paths:
        write_ome_tiff(path, _meta(30, 20), lambda t, z, c: data[t, z, c])
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_out_of_range_acquisition_time_is_left_out() -> None:
    """A timestamp datetime cannot represent leaves AcquisitionDate out instead of
    failing the whole stack (ValueError/OverflowError from fromtimestamp)."""
    for stamp in (1.5e15, -1e20, float("nan")):
        meta = replace(_meta(60, 40), acquisition_ts=stamp)
        assert "AcquisitionDate" not in build_ome_xml(meta)
    assert "<AcquisitionDate>2014-07-04T22:13:49<" in build_ome_xml(_meta(60, 40))


def test_names_are_one_line_with_a_fallback(schema: xmlschema.XMLSchema) -> None:
    """Control characters and lone surrogates in image and channel names become one space
    (the XML still parses); nothing left: a name."""
    windows = (replace(WINDOWS[0], label="a\r\n\tb"), replace(WINDOWS[1], label="\x1b\x7f"))
    for name, expected in (("x\x85\u2028y", "x y"), ("\x00\n ", "image 5"), ("p\ud800q", "p q")):
        meta = replace(_meta(60, 40), name=name, windows=windows)
        xml = build_ome_xml(meta)
        schema.validate(xml)
        image = tifffile.xml2dict(xml)["OME"]["Image"]
        assert image["Name"] == expected
        assert [c["Name"] for c in image["Pixels"]["Channel"]] == ["a b", "C1"]


def test_non_finite_measures_are_left_out(schema: xmlschema.XMLSchema) -> None:
    """An infinite size, interval or wavelength (JSON's Infinity) is left out; the XML validates."""
    inf = float("inf")
    windows = (replace(WINDOWS[0], emission_wave=inf), WINDOWS[1])
    meta = replace(_meta(60, 40), physical_size_x=inf, time_increment=inf, windows=windows)
    xml = build_ome_xml(meta)
    schema.validate(xml)
    pixels = tifffile.xml2dict(xml)["OME"]["Image"]["Pixels"]
    assert "PhysicalSizeX" not in pixels and pixels["PhysicalSizeY"] == 0.25
    assert "TimeIncrement" not in pixels and "TimeIncrementUnit" not in pixels
    assert "EmissionWavelength" not in pixels["Channel"][0]


def test_file_is_little_endian_on_a_big_endian_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is little-endian, as its OME-XML says (BigEndian="false"), on any host."""
    data = np.random.default_rng(4).integers(0, 256, (2, 3, 2, 20, 30), dtype=np.uint8)
    path = tmp_path / "s.ome.tif"
    monkeypatch.setattr(sys, "byteorder", "big")  # tifffile's default: the host's order
    write_ome_tiff(path, _meta(30, 20), lambda t, z, c: data[t, z, c])
    monkeypatch.undo()
    assert path.read_bytes()[:2] == b"II"
    with tifffile.TiffFile(path) as tif:
        assert tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]["BigEndian"] is False
        assert (tif.series[0].asarray() == data).all()


def _resolutions(path: Path) -> list[tuple[tuple[float, float], int]]:
    """(XResolution, YResolution) and ResolutionUnit of every page and SubIFD, in file order."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        pages = [page for level in series.levels for page in level.pages]
        return [(page.resolution, page.resolutionunit) for page in pages]


def test_resolution_tags_hold_pixels_per_centimetre(tmp_path: Path) -> None:
    """Every page's XResolution/YResolution is pixels per cm of the pixel size (CENTIMETER unit);
    each pyramid level's twice coarser than the one above; the OME-XML keeps µm."""
    data = np.zeros((2, 3, 2, 1030, 1100), dtype=np.uint8)
    meta = replace(_meta(1100, 1030, levels=3), physical_size_x=0.1, physical_size_y=0.6459)
    path = tmp_path / "s.ome.tif"
    write_ome_tiff(path, meta, lambda t, z, c: data[t, z, c])
    tags = _resolutions(path)
    assert len(tags) == 3 * 12
    for index, ((x_res, y_res), unit) in enumerate(tags):
        scale = 2 ** (index // 12)  # 12 pages of level 0, then 12 of each SubIFD level
        assert unit == tifffile.RESUNIT.CENTIMETER
        assert 1e4 / x_res == pytest.approx(0.1 * scale, rel=1e-6)
        assert 1e4 / y_res == pytest.approx(0.6459 * scale, rel=1e-6)
    with tifffile.TiffFile(path) as tif:
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeXUnit"]) == (0.1, "µm")


@pytest.mark.parametrize("size", [1e-4, 0.04, 0.1, 1 / 3, 0.6459, 12.5, 2e5])
def test_resolution_rationals_are_close(size: float) -> None:
    """Any plausible pixel size (0.1 nm .. 20 cm) fits two uint32 within 1e-6 relative."""
    resolution = tiff_resolution(replace(_meta(60, 40), physical_size_x=size, physical_size_y=size))
    assert resolution is not None
    for numerator, denominator in resolution:
        assert 0 < numerator < 2**32 and 0 < denominator < 2**32
        assert 1e4 * denominator / numerator == pytest.approx(size, rel=1e-6)


def test_resolution_units(schema: xmlschema.XMLSchema) -> None:
    """Sizes in nm or inches convert to pixels per cm; pixel and reference frame give none."""
    meta = _meta(60, 40)
    nm = tiff_resolution(replace(meta, physical_size_x=100.0, physical_size_unit="nm"))
    assert nm is not None and nm[0] == (100000, 1)  # 100 nm: 1e5 pixels per cm
    inch = tiff_resolution(replace(meta, physical_size_x=0.5, physical_size_unit="in"))
    assert inch is not None and inch[0][0] / inch[0][1] == pytest.approx(1 / 1.27)
    for unit in ("pixel", "reference frame"):
        abstract = replace(meta, physical_size_unit=unit)
        assert tiff_resolution(abstract) is None
        schema.validate(build_ome_xml(abstract))


def test_without_a_usable_pixel_size_the_tags_are_as_before(tmp_path: Path) -> None:
    """No X or Y size, a size in pixels, or one no TIFF RATIONAL holds: 1/1 with no unit."""
    data = np.zeros((2, 3, 2, 20, 30), dtype=np.uint8)
    cases = {
        "none": dict(physical_size_x=None, physical_size_y=None),
        "x only": dict(physical_size_y=None),
        "pixel": dict(physical_size_unit="pixel"),
        "nan": dict(physical_size_x=float("nan")),
        "inf": dict(physical_size_y=float("inf")),
        "zero": dict(physical_size_x=0.0),
        "tiny": dict(physical_size_x=1e-320),  # 1e324 pixels per cm: beyond uint32
    }
    for name, change in cases.items():
        path = tmp_path / f"{name}.ome.tif"
        write_ome_tiff(path, replace(_meta(30, 20), **change), lambda t, z, c: data[t, z, c])
        assert set(_resolutions(path)) == {((1.0, 1.0), tifffile.RESUNIT.NONE)}, name

"""imgData: the 5.26 key order of IDR's real body, values, tiled extras, 403 and Exception."""

from __future__ import annotations

import json

import pytest
from images_helpers import call, make_app

from harvester.emulator.catalogue import DEMO_IMAGE_ID, TILED_IMAGE_ID
from harvester.emulator.catalogue_presets import (
    UNITS_ANGSTROM_IMAGE_ID,
    UNITS_NM_IMAGE_ID,
    UNITS_PIXEL_IMAGE_ID,
)

UNKNOWN = 999_999_999
# Key order of idr-samples/webclient_imgData_122770_2022.json (IDR, server order).
SAMPLE_KEYS = [
    "id", "meta", "perms", "tiles", "interpolate", "size", "pixel_size", "init_zoom",
    "pixel_range", "channels", "split_channel", "rdefs",
]  # fmt: skip
SAMPLE_META_KEYS = [
    "imageName", "imageDescription", "imageAuthor", "projectName", "projectId",
    "projectDescription", "datasetName", "datasetId", "datasetDescription", "wellSampleId",
    "wellId", "imageTimestamp", "imageId", "pixelsType",
]  # fmt: skip
SAMPLE_CHANNEL_KEYS = [
    "emissionWave", "label", "color", "inverted", "reverseIntensity", "family", "coefficient",
    "window", "active",
]  # fmt: skip
SAMPLE_PERMS = {"canAnnotate": False, "canEdit": False, "canDelete": False, "canLink": False}


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    """Demo app."""
    return make_app()


def test_key_order_matches_the_idr_sample(app) -> None:  # type: ignore[no-untyped-def]
    """Top-level, meta, channel, size and rdefs keys come in IDR's order."""
    resp = call(app, f"/webclient/imgData/{DEMO_IMAGE_ID}/")
    assert resp.status == 200 and resp.content_type == "application/json"
    body = json.loads(resp.body)
    assert list(body) == SAMPLE_KEYS
    assert list(body["meta"]) == SAMPLE_META_KEYS
    assert list(body["channels"][0]) == SAMPLE_CHANNEL_KEYS
    assert list(body["channels"][0]["window"]) == ["min", "max", "start", "end"]
    assert list(body["size"]) == ["width", "height", "z", "t", "c"]
    assert list(body["rdefs"]) == ["model", "projection", "defaultZ", "defaultT", "invertAxis"]
    assert body["perms"] == SAMPLE_PERMS
    assert b'"id": 9762957, "meta": {' in resp.body  # Django's default separators


def test_demo_values_match_the_2021_idr_body(app) -> None:  # type: ignore[no-untyped-def]
    """Image 9762957 reports what IDR reported in 2021 (sizes, split_channel, window, meta)."""
    body = json.loads(call(app, f"/webgateway/imgData/{DEMO_IMAGE_ID}/").body)
    assert body["size"] == {"width": 659, "height": 493, "z": 1, "t": 1, "c": 4}
    assert body["split_channel"] == {
        "g": {"width": 1324, "height": 992, "border": 2, "gridx": 2, "gridy": 2},
        "c": {"width": 1985, "height": 992, "border": 2, "gridx": 3, "gridy": 2},
    }
    assert body["pixel_range"] == [0, 65535]
    assert body["pixel_size"] == {"x": 0.6459, "y": 0.6459, "z": None}
    assert body["tiles"] is False
    meta = body["meta"]
    assert meta["imageName"] == "1988 [Well A-1; Field #1]"
    assert (meta["projectName"], meta["projectId"], meta["datasetName"]) == (
        "Multiple",
        None,
        "Multiple",
    )
    assert meta["wellSampleId"] == "" and meta["wellId"] == 1475376
    assert meta["imageAuthor"] == "Public data" and meta["pixelsType"] == "uint16"
    assert isinstance(meta["imageTimestamp"], float)
    assert body["channels"][0]["window"] == {"min": 0.0, "max": 65535.0, "start": 0.0, "end": 187.0}
    assert body["channels"][3]["active"] is False


def test_tiled_extras_for_pyramids() -> None:
    """A pyramid adds tile_size, levels and zoomLevelScaling (string keys) after `tiles`."""
    body = json.loads(call(make_app("tiled"), f"/webgateway/imgData/{TILED_IMAGE_ID}/").body)
    keys = list(body)
    assert keys[:7] == ["id", "meta", "perms", "tiles", "tile_size", "levels", "zoomLevelScaling"]
    assert body["tiles"] is True and body["levels"] == 5
    assert body["tile_size"] == {"width": 256, "height": 256}
    assert body["zoomLevelScaling"] == {"0": 1.0, "1": 0.5, "2": 0.25, "3": 0.125, "4": 0.0625}


def test_unknown_image_is_403_empty(app) -> None:  # type: ignore[no-untyped-def]
    """The public user gets 403 with an empty body for an unknown id (not 404)."""
    for prefix in ("webclient", "webgateway"):
        resp = call(app, f"/{prefix}/imgData/{UNKNOWN}/")
        assert resp.status == 403 and resp.body == b""


def test_exception_variant_from_site_and_fault() -> None:
    """imgdata_exception (site option or fault) -> 200 with only id/meta/perms/Exception."""
    resp = call(make_app(imgdata_exception=True), f"/webclient/imgData/{DEMO_IMAGE_ID}/")
    body = json.loads(resp.body)
    assert resp.status == 200
    assert list(body) == ["id", "meta", "perms", "Exception"]
    assert body["Exception"].startswith("Error instantiating pixel buffer: ")
    injected = call(
        make_app(), f"/webclient/imgData/{DEMO_IMAGE_ID}/", inject=frozenset({"imgdata_exception"})
    )
    assert "size" not in json.loads(injected.body)


def test_key_path_and_jsonp(app) -> None:  # type: ignore[no-untyped-def]
    """imgData/{id}/{key}/ returns the dotted value (null if missing); ?callback= wraps it."""
    assert (
        json.loads(call(app, f"/webgateway/imgData/{DEMO_IMAGE_ID}/meta.imageId/").body)
        == DEMO_IMAGE_ID
    )
    assert json.loads(call(app, f"/webgateway/imgData/{DEMO_IMAGE_ID}/nothing/").body) is None
    resp = call(app, f"/webgateway/imgData/{DEMO_IMAGE_ID}/size/?callback=cb")
    assert resp.body.startswith(b"cb({") and resp.body.endswith(b")")


def test_imgdata_sets_session_cookie(app) -> None:  # type: ignore[no-untyped-def]
    """imgData is not proxy-cached on IDR, so it carries Set-Cookie: sessionid_idr."""
    resp = call(app, f"/webclient/imgData/{DEMO_IMAGE_ID}/")
    assert any(name == "Set-Cookie" and "sessionid_idr=" in value for name, value in resp.headers)


def test_project_image_names_its_project_and_dataset(app) -> None:  # type: ignore[no-untyped-def]
    """An image in exactly one dataset reports its dataset and project, wellId ''."""
    from harvester.emulator.catalogue import DEMO_PROJECT_ID, DEMO_PROJECT_IMAGE_IDS

    meta = json.loads(call(app, f"/webclient/imgData/{DEMO_PROJECT_IMAGE_IDS[0]}/").body)["meta"]
    assert meta["projectId"] == DEMO_PROJECT_ID
    assert isinstance(meta["datasetId"], int) and meta["datasetName"] != "Multiple"
    assert meta["wellId"] == ""


@pytest.mark.parametrize(
    ("image_id", "stored", "microns"),
    [
        (UNITS_NM_IMAGE_ID, ("NANOMETER", "nm", 65.0, 200.0), (0.065, 0.2)),
        (UNITS_ANGSTROM_IMAGE_ID, ("ANGSTROM", "\u00c5", 6459.0, None), (0.6459, None)),
        (UNITS_PIXEL_IMAGE_ID, ("PIXEL", "pixel", 1.0, None), (None, None)),
    ],
)
def test_stored_unit_in_the_json_api_micrometres_in_imgdata(
    image_id: int,
    stored: tuple[str, str, float, float | None],
    microns: tuple[float | None, float | None],
) -> None:
    """A size stored in nm or Å: the JSON API says so, imgData says µm (null for pixels)."""
    app = make_app("units")
    unit, symbol, xy, z = stored
    pixels = json.loads(call(app, f"/api/v0/m/images/{image_id}/").body)["data"]["Pixels"]
    for axis, value in (("X", xy), ("Y", xy), ("Z", z)):
        if value is None:
            assert f"PhysicalSize{axis}" not in pixels
        else:
            length = pixels[f"PhysicalSize{axis}"]
            assert (length["Unit"], length["Symbol"], length["Value"]) == (unit, symbol, value)
    size = json.loads(call(app, f"/webgateway/imgData/{image_id}/").body)["pixel_size"]
    xy_um, z_um = microns
    assert size["x"] == size["y"] == (pytest.approx(xy_um) if xy_um else None)
    assert size["z"] == (pytest.approx(z_um) if z_um else None)


def test_micrometre_presets_keep_their_exact_sizes() -> None:
    """Sizes stored in µm pass through imgData and the JSON API unchanged (no conversion)."""
    app = make_app("zstack")
    size = json.loads(call(app, "/webgateway/imgData/1300001/").body)["pixel_size"]
    assert size == {"x": 0.1, "y": 0.1, "z": 0.3}
    pixels = json.loads(call(app, "/api/v0/m/images/1300001/").body)["data"]["Pixels"]
    assert pixels["PhysicalSizeZ"] == {
        "@type": "TBD#LengthI",
        "Unit": "MICROMETER",
        "Symbol": "\u00b5m",
        "Value": 0.3,
    }

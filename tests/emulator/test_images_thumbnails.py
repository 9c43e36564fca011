"""Thumbnail routes: sizes, the webclient placeholder trap, get_thumbnails and its 50-id cap."""

from __future__ import annotations

import base64
import json

import pytest
from images_helpers import call, decode, make_app

from harvester.emulator.catalogue import DEMO_IMAGE_ID, TILED_IMAGE_ID

UNKNOWN = 999_999_999


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    """The demo emulator app (omero-web mode)."""
    return make_app()


def test_default_thumbnail_is_96_longest_side_jpeg(app) -> None:  # type: ignore[no-untyped-def]
    """webgateway/render_thumbnail/{id}/ -> image/jpeg 96x71 for a 659x493 image, no cookie."""
    resp = call(app, f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/")
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert resp.body[:2] == b"\xff\xd8"
    assert decode(resp.body).shape == (71, 96, 3)
    assert 500 < len(resp.body) < 8000
    assert not any(name == "Set-Cookie" for name, _ in resp.headers)
    assert resp.route == "image:thumbnail"


@pytest.mark.parametrize(
    ("suffix", "shape"), [("64/", (47, 64)), ("200/", (149, 200)), ("50/30/", (30, 50))]
)
def test_sized_thumbnails(app, suffix: str, shape: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """w/ keeps the aspect ratio; w/h/ gives exactly w x h."""
    resp = call(app, f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/{suffix}")
    assert decode(resp.body).shape[:2] == shape


def test_unknown_image_404_on_webgateway(app) -> None:  # type: ignore[no-untyped-def]
    """webgateway answers an unknown image with Django's 404 HTML page."""
    resp = call(app, f"/webgateway/render_thumbnail/{UNKNOWN}/")
    assert resp.status == 404 and resp.content_type.startswith("text/html")


def test_webclient_unknown_image_is_png_labelled_jpeg(app) -> None:  # type: ignore[no-untyped-def]
    """webclient answers 200 with PNG bytes while claiming image/jpeg (trap §14.3)."""
    resp = call(app, f"/webclient/render_thumbnail/{UNKNOWN}/")
    assert resp.status == 200 and resp.content_type == "image/jpeg"
    assert resp.body[:8] == b"\x89PNG\r\n\x1a\n"


def test_webclient_second_number_is_a_share_id_not_a_size(app) -> None:  # type: ignore[no-untyped-def]
    """/webclient/render_thumbnail/{id}/{n}/ ignores n; /size/{w}/{id}/ sizes."""
    shared = call(app, f"/webclient/render_thumbnail/{DEMO_IMAGE_ID}/64/")
    assert decode(shared.body).shape[:2] == (71, 96)
    sized = call(app, f"/webclient/render_thumbnail/size/64/{DEMO_IMAGE_ID}/")
    assert sized.content_type == "image/jpeg" and decode(sized.body).shape[:2] == (47, 64)


def test_thumbnail_of_huge_tiled_image(app) -> None:  # type: ignore[no-untyped-def]
    """A thumbnail of the 8000x6000 pyramid is cheap and 96x72."""
    resp = call(make_app("tiled"), f"/webgateway/render_thumbnail/{TILED_IMAGE_ID}/")
    assert decode(resp.body).shape[:2] == (72, 96)


def test_cached_thumbnails_are_identical(app) -> None:  # type: ignore[no-untyped-def]
    """Repeated requests (served from the thumbnail cache) give identical bytes."""
    url = f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/"
    first = call(app, url).body
    for _ in range(20):
        assert call(app, url).body == first


def test_get_thumbnails_dedupes_and_nulls_unknown(app) -> None:  # type: ignore[no-untyped-def]
    """get_thumbnails returns one data URI per distinct id and null for unknown ids."""
    url = f"/webgateway/get_thumbnails/?id={DEMO_IMAGE_ID}&id={DEMO_IMAGE_ID}&id={UNKNOWN}"
    resp = call(app, url)
    assert resp.status == 200 and resp.content_type == "application/json"
    body = json.loads(resp.body)
    assert sorted(body) == sorted([str(DEMO_IMAGE_ID), str(UNKNOWN)])
    assert body[str(UNKNOWN)] is None
    prefix = "data:image/jpeg;base64,"
    assert body[str(DEMO_IMAGE_ID)].startswith(prefix)
    jpeg = base64.b64decode(body[str(DEMO_IMAGE_ID)][len(prefix) :])
    assert decode(jpeg).shape[:2] == (71, 96)


def test_get_thumbnails_single_id_and_size(app) -> None:  # type: ignore[no-untyped-def]
    """A single id uses the render path; /get_thumbnails/{w}/ sizes the thumbnails."""
    body = json.loads(call(app, f"/webclient/get_thumbnails/64/?id={DEMO_IMAGE_ID}").body)
    data = body[str(DEMO_IMAGE_ID)].split(",", 1)[1]
    assert decode(base64.b64decode(data)).shape[:2] == (47, 64)
    assert json.loads(call(app, f"/webgateway/get_thumbnails/?id={UNKNOWN}").body) == {
        str(UNKNOWN): None
    }


def test_get_thumbnails_caps_at_50_ids(app) -> None:  # type: ignore[no-untyped-def]
    """51 distinct ids -> 500 text/javascript `Max 50 thumbnails at a time.`; 50 is fine."""
    ids51 = "&".join(f"id={i}" for i in range(1, 52))
    resp = call(app, f"/webgateway/get_thumbnails/?{ids51}")
    assert resp.status == 500 and resp.content_type == "text/javascript"
    assert resp.body == b"Max 50 thumbnails at a time."
    ids50 = "&".join(f"id={i}" for i in range(1, 51))
    assert call(app, f"/webgateway/get_thumbnails/?{ids50}").status == 200


def test_get_thumbnail_json_string_and_error(app) -> None:  # type: ignore[no-untyped-def]
    """get_thumbnail answers a JSON data URI string; unknown image -> 500 JSON message."""
    ok = call(app, f"/webgateway/get_thumbnail/{DEMO_IMAGE_ID}/")
    assert json.loads(ok.body).startswith("data:image/jpeg;base64,")
    bad = call(app, f"/webgateway/get_thumbnail/{UNKNOWN}/")
    assert bad.status == 500 and json.loads(bad.body)["message"] == "Failed to render thumbnail"


def test_thumbnail_z_t_query_and_out_of_range() -> None:
    """?z= renders that plane of a z-stack; z beyond the stack -> 404 on webgateway."""
    from harvester.emulator.catalogue import ZSTACK_DATASET_ID, Catalogue

    cat = Catalogue("zstack", 0)
    iid = cat.dataset_image_ids(ZSTACK_DATASET_ID)[0]
    app = make_app("zstack")
    z0 = call(app, f"/webgateway/render_thumbnail/{iid}/?z=0").body
    z5 = call(app, f"/webgateway/render_thumbnail/{iid}/?z=5").body
    assert z0 != z5
    assert call(app, f"/webgateway/render_thumbnail/{iid}/?z=999").status == 404


def test_migration_2026_blocks_sized_thumbnails_only() -> None:
    """In 2026 mode the default thumbnail works, sized ones 404 (webclient: placeholder)."""
    app = make_app(migration_2026=True)
    assert call(app, f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/").status == 200
    assert call(app, f"/webgateway/render_thumbnail/{DEMO_IMAGE_ID}/64/").status == 404
    wc = call(app, f"/webclient/render_thumbnail/size/64/{DEMO_IMAGE_ID}/")
    assert wc.status == 200 and wc.body.startswith(b"\x89PNG")

"""The c=/m=/p=/maps= grammar, the exact window mapping, blending and encoders."""

from __future__ import annotations

import numpy as np
import pytest
from images_helpers import decode, stand_in_image

from harvester.emulator import pixels, render
from harvester.emulator.render import ChannelSpec, RenderParamError


def test_channel_grammar_full_entries() -> None:
    """Index, window and colour are read from `IDX|START:END$RRGGBB`, negative = inactive."""
    specs = render.parse_channels("1|100:505$0000FF,-2,3|620:3879$FF0000")
    assert specs[0] == ChannelSpec(1, 100.0, 505.0, "0000FF", "1|100:505$0000FF")
    assert (specs[1].index, specs[1].has_window, specs[1].color) == (-2, False, None)
    assert (specs[2].index, specs[2].start, specs[2].end, specs[2].color) == (
        3,
        620.0,
        3879.0,
        "FF0000",
    )


def test_colour_may_follow_the_index() -> None:
    """`1$FF0000` sets a colour without a window."""
    (spec,) = render.parse_channels("1$FF0000")
    assert (spec.index, spec.color, spec.has_window) == (1, "FF0000", False)


def test_lenient_parsing_skips_bad_entries_and_windows() -> None:
    """OMERO.web skips non-integer indices and ignores malformed windows."""
    specs = render.parse_channels("x,2|abc$00FF00,3|1:2:3")
    assert [s.index for s in specs] == [2, 3]
    assert not specs[0].has_window and specs[0].color == "00FF00"
    assert not specs[1].has_window


@pytest.mark.parametrize("entry", ["x|1:2$FF0000", "1|a:b$FF0000", "1|12$FF0000"])
def test_strict_parsing_names_the_bad_entry(entry: str) -> None:
    """The microservice refuses a malformed entry with `Failed to parse channel '<entry>'`."""
    with pytest.raises(RenderParamError, match=f"Failed to parse channel '{entry}'"):
        render.parse_channels(entry, strict=True)


@pytest.mark.parametrize(
    ("text", "rgb"),
    [("FF0000", (255, 0, 0)), ("0f0", (0, 255, 0)), ("0000FF80", (0, 0, 255)), ("zz0000", None)],
)
def test_colour_forms(text: str, rgb: tuple[int, int, int] | None) -> None:
    """RRGGBB, RGB and RRGGBBAA are accepted; non-hex is rejected."""
    assert render.parse_color(text) == rgb


def test_model_projection_and_maps_parsing() -> None:
    """m=, p= (with range) and maps= inverted flags are read; unknown p is `normal`."""
    assert render.parse_model("g") == "g" and render.parse_model("c") == "c"
    assert render.parse_model("x") is None
    assert render.parse_projection("intmax|1:3") == ("intmax", 1, 3)
    assert render.parse_projection("bogus") == ("normal", None, None)
    assert render.parse_maps(
        '[{"inverted": {"enabled": true}}, {"reverse": {"enabled": false}}]'
    ) == [True, False]
    with pytest.raises(RenderParamError):
        render.parse_maps("[{")


def test_window_mapping_is_the_documented_formula() -> None:
    """g = floor(clip((v-s)/(e-s),0,1)*255 + 0.5); degenerate windows are a step; inversion."""
    v = np.array([0, 10, 11, 60, 110, 500], dtype=np.uint16)
    expected = np.floor(np.clip((v - 10.0) / 100.0, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(render.window(v, 10.0, 110.0, False), expected)
    assert render.window(v, 10.0, 110.0, False).tolist() == [0, 0, 3, 128, 255, 255]
    assert render.window(v, 60.0, 60.0, False).tolist() == [0, 0, 0, 255, 255, 255]
    assert render.window(v, 10.0, 110.0, True).tolist() == [255, 255, 252, 127, 0, 0]


def test_colour_blend_is_additive_and_clipped() -> None:
    """Colour channels add per component with round-half-up and clip at 255."""
    a = np.array([[200]], dtype=np.uint8)
    b = np.array([[100]], dtype=np.uint8)
    out = render.compose([(a, (255, 0, 128)), (b, (255, 255, 0))], "c", (1, 1))
    assert out[0, 0].tolist() == [255, 100, 100]  # 200*128/255 = 100.39 -> 100


def test_window_blend_and_quantise_are_their_formulas_on_every_kind_of_value() -> None:
    """The in-place (fast) forms compute the documented formulas exactly, element for
    element: windows over signed and float values, inverted, ten channels of full white
    (the blend's largest sum), and quantisation's round half up and clip per type."""
    rng = np.random.default_rng(7)
    v = np.concatenate([rng.normal(100.0, 400.0, 5000), [-1e9, 1e9, 10.0, 110.0, 60.5]])
    for start, end, inverted in [(10.0, 110.0, False), (-300.0, 700.5, True), (0.0, 1.0, False)]:
        g = np.floor(np.clip((v - start) / (end - start), 0, 1) * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(render.window(v, start, end, inverted), 255 - g if inverted else g)
    layers = [(rng.integers(0, 256, (7, 9), dtype=np.uint8), (255, 255, 255)) for _ in range(9)]
    layers += [(np.full((7, 9), 255, np.uint8), (255, 17, 0))]
    blended = render.compose(layers, "c", (7, 9))
    for k in range(3):
        total = sum(g.astype(np.int64) * rgb[k] for g, rgb in layers)
        assert np.array_equal(blended[:, :, k], np.minimum(255, (2 * total + 255) // 510))
    for pixel_type in ("uint8", "int8", "uint16", "int16", "int32"):
        low, high = pixels.pixel_range(pixel_type)
        want = np.clip(np.floor(v + 0.5), low, high).astype(pixels.dtype_of(pixel_type))
        assert np.array_equal(pixels.quantise(v, pixel_type), want)


def test_greyscale_uses_first_active_channel() -> None:
    """m=g renders the first active channel (by index) as R=G=B, ignoring colour."""
    img = stand_in_image(size_c=3)
    rgb = render.render_plane(img, 0, 0, "-1,3|0:300$FF0000,2|0:200$00FF00", "g")
    expected = render.window(pixels.plane(img, 0, 0, 1), 0.0, 200.0, False)
    assert np.array_equal(rgb[:, :, 0], expected)
    assert np.array_equal(rgb[:, :, 0], rgb[:, :, 2])


def test_unlisted_channels_are_inactive_and_saved_settings_apply_without_c() -> None:
    """c= activates exactly the listed positive indices; no c= uses saved windows/colours."""
    img = stand_in_image(size_c=2)
    only_first = render.render_plane(img, 0, 0, "1", "c")
    g0 = render.window(pixels.plane(img, 0, 0, 0), 10.0, 400.0, False)
    assert np.array_equal(only_first[:, :, 0], g0)
    assert not only_first[:, :, 1].any()
    saved = render.render_plane(img, 0, 0)
    g1 = render.window(pixels.plane(img, 0, 0, 1), 10.0, 500.0, False)
    assert np.array_equal(saved[:, :, 1], g1)


def test_projection_intmax_is_max_over_z() -> None:
    """p=intmax renders the per-pixel maximum over the z range."""
    img = stand_in_image(size_z=4, size_c=1)
    rgb = render.render_plane(img, 0, 0, "1|0:1000$FFFFFF", "g", projection="intmax|1:2")
    stack = np.maximum(pixels.plane(img, 1, 0, 0), pixels.plane(img, 2, 0, 0))
    assert np.array_equal(rgb[:, :, 0], render.window(stack, 0.0, 1000.0, False))


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_lossless_encoders_round_trip(fmt: str) -> None:
    """PNG and TIFF encodings decode back to the exact RGB array."""
    rgb = render.render_plane(stand_in_image(), 0, 0)
    assert np.array_equal(decode(render.encode(rgb, fmt)), rgb)


def test_jpeg_quality_changes_size_and_stays_close() -> None:
    """JPEG is within a small mean error of the ground truth; lower q means fewer bytes."""
    rgb = render.render_plane(stand_in_image(), 0, 0)
    high, low = render.encode(rgb, "jpeg", 0.95), render.encode(rgb, "jpeg", 0.3)
    assert high[:2] == b"\xff\xd8" and len(low) < len(high)
    assert np.abs(decode(high).astype(int) - rgb).mean() < 6.0


def test_thumbnail_size_keeps_aspect_by_truncation() -> None:
    """The longest side is the requested size; the other is truncated (659x493 -> 96x71)."""
    assert render.thumbnail_size(stand_in_image(size=(659, 493)), 96) == (96, 71)
    assert render.thumbnail_size(stand_in_image(size=(200, 400)), 96) == (48, 96)

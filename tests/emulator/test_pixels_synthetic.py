"""Synthetic planes: deterministic, typed, structured, and exact for any region or level."""

from __future__ import annotations

import numpy as np
import pytest
from images_helpers import stand_in_image

from harvester.emulator import pixels
from harvester.emulator.catalogue import DEMO_IMAGE_ID, TILED_IMAGE_ID, Catalogue


def test_plane_is_deterministic_across_cache_clears() -> None:
    """The same (image, z, t, c) gives the same bytes after the caches are dropped."""
    img = stand_in_image()
    first = pixels.plane(img, 0, 0, 1).copy()
    pixels.clear_caches()
    assert np.array_equal(first, pixels.plane(img, 0, 0, 1))


@pytest.mark.parametrize(
    ("pixel_type", "dtype"),
    [("uint8", np.uint8), ("uint16", np.uint16), ("int16", np.int16), ("float", np.float32)],
)
def test_plane_dtype_follows_pixel_type(pixel_type: str, dtype: type) -> None:
    """The plane's dtype is the image's pixel type and its shape (sizeY, sizeX)."""
    img = stand_in_image(pixel_type=pixel_type, size=(123, 45))
    plane = pixels.plane(img, 0, 0, 0)
    assert plane.dtype == dtype
    assert plane.shape == (45, 123)


def test_plane_has_visible_structure_scaled_to_the_saved_window() -> None:
    """Demo planes are not flat: bright blobs reach past the saved window end."""
    img = Catalogue("demo", 0).image(DEMO_IMAGE_ID)
    assert img is not None
    plane = pixels.plane(img, 0, 0, 0)
    assert plane.std() > 10
    assert plane.max() > img.channels[0].end * 0.8
    assert np.percentile(plane, 50) < img.channels[0].end * 0.5


def test_planes_differ_by_z_t_c_and_image() -> None:
    """Changing z, t, c or the image id changes the pixels."""
    img = stand_in_image(size_z=5, size_t=4, size_c=3)
    base = pixels.plane(img, 2, 1, 0)
    assert not np.array_equal(base, pixels.plane(img, 3, 1, 0))
    assert not np.array_equal(base, pixels.plane(img, 2, 2, 0))
    assert not np.array_equal(base, pixels.plane(img, 2, 1, 1))
    assert not np.array_equal(
        base, pixels.plane(stand_in_image(image_id=43, size_z=5, size_t=4, size_c=3), 2, 1, 0)
    )


@pytest.mark.parametrize("region", [(0, 0, 10, 10), (37, 11, 200, 150), (299, 199, 1, 1)])
def test_region_equals_window_of_full_plane(region: tuple[int, int, int, int]) -> None:
    """A region is computed alone yet bit-identical to the same window of the full plane."""
    img = stand_in_image()
    full = pixels.plane(img, 0, 0, 1)
    x, y, w, h = region
    assert np.array_equal(pixels.plane(img, 0, 0, 1, region=region), full[y : y + h, x : x + w])


def test_pyramid_levels_halve_rounding_up() -> None:
    """Level k has ceil(size / 2**k) sides, and its regions match its full plane."""
    img = stand_in_image(size=(1001, 777), levels=4)
    assert pixels.plane(img, 0, 0, 0, level=2).shape == (195, 251)
    full = pixels.plane(img, 0, 0, 0, level=1)
    assert full.shape == (389, 501)
    assert np.array_equal(
        pixels.plane(img, 0, 0, 0, level=1, region=(250, 300, 251, 89)), full[300:, 250:]
    )


def test_tile_of_huge_image_is_computed_without_the_full_plane() -> None:
    """A far-corner tile of the 8000 x 6000 tiled image comes back at tile size."""
    img = Catalogue("tiled", 0).image(TILED_IMAGE_ID)
    assert img is not None
    tile = pixels.plane(img, 0, 0, 0, region=(img.size_x - 256, img.size_y - 256, 256, 256))
    assert tile.shape == (256, 256)
    assert tile.std() > 0


def test_outside_plane_or_region_is_refused() -> None:
    """z/t/c outside the image or a region leaving the plane raise ValueError."""
    img = stand_in_image()
    with pytest.raises(ValueError, match="outside"):
        pixels.plane(img, 1, 0, 0)
    with pytest.raises(ValueError, match="outside"):
        pixels.plane(img, 0, 0, 0, region=(250, 0, 100, 10))

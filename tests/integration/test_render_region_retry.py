"""A render region that stays damaged costs its own retries, then one clean failure.

A render over ``max_plane`` is stitched from region requests; a region answered damaged
(same length, so the length check passed) is asked again alone. Damaged on every try,
it fails the render with a one-line message once its retries are spent: the other
regions are not asked, and the image's other artifacts are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import harvest

from harvester.emulator import EmulatorThread


def test_a_region_damaged_every_time_fails_the_render_in_one_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Damaged on every try: 1 + max_retries requests, as many again at the run's end (its
    second chance), a one-line failure, the run goes on."""
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID

    emu = make_emulator(
        preset="tiled", mode="microservice", faults="corrupt:100%,only:image:render_region"
    )
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url,
        out,
        images=(TILED_SMALL_IMAGE_ID,),
        artifacts=("render", "imgdata"),
        max_plane=300,  # the 512 x 512 image as 2 x 2 regions
        max_retries=2,
    )
    assert summary.exit_code != 0
    assert summary.failed == 1
    (failure,) = summary.failures
    assert failure.kind == "render"
    assert "\n" not in failure.reason and "CRC" in failure.reason, failure.reason
    assert list((out / "images").rglob("*.render.*")) == []
    assert len(list((out / "images").rglob("*.imgdata.json"))) == 1
    routes = emu.stats()["by_route"]
    # The first region (asked alone) on each of its tries; no other region was asked.
    assert sum(sum(v.values()) for k, v in routes.items() if "region" in k) == 2 * (1 + 2)


def _render_from_regions(emu: EmulatorThread, out: Path) -> tuple[bytes, int]:
    """The stored render of the 512 x 512 image as 2 x 2 regions; region requests made."""
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID

    summary = harvest(
        emu.base_url, out, images=(TILED_SMALL_IMAGE_ID,), artifacts=("render",), max_plane=300
    )
    assert summary.exit_code == 0, summary.failures
    routes = emu.stats()["by_route"]
    asked = sum(sum(v.values()) for k, v in routes.items() if "region" in k)
    return next((out / "images").rglob("*.render.jpg")).read_bytes(), asked


def test_a_jpeg_region_that_does_not_decode_is_asked_again_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """OMERO.web answers regions as JPEG (no checksum): one that does not decode costs
    one more request, not a failed render; the render is the clean run's, byte for byte."""
    clean, clean_asked = _render_from_regions(make_emulator(preset="tiled"), tmp_path / "clean")
    assert clean_asked == 4
    damaged_emu = make_emulator(preset="tiled", faults="first:corrupt,only:image:render_region")
    damaged, asked = _render_from_regions(damaged_emu, tmp_path / "damaged")
    assert asked == 4 + 1
    assert damaged == clean


def _region_requests(emu: EmulatorThread) -> int:
    """Region requests the emulator answered, whatever it answered."""
    routes = emu.stats()["by_route"]
    return sum(sum(v.values()) for k, v in routes.items() if "region" in k)


def test_a_jpeg_region_damaged_every_time_costs_one_retry_budget(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A JPEG region that never decodes costs 1 + max_retries requests in all, each retry
    counted as one (the run's policy asked it again), as many again at the run's end (its
    second chance), then one clean failure line."""
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID

    emu = make_emulator(preset="tiled", faults="corrupt:100%,only:image:render_region")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url,
        out,
        images=(TILED_SMALL_IMAGE_ID,),
        artifacts=("render",),
        max_plane=300,
        max_retries=3,
    )
    assert summary.exit_code != 0
    (failure,) = summary.failures
    assert failure.kind == "render" and failure.status == 200
    # (its markers show the damage before any decode: Pillow decodes some such regions)
    assert failure.reason.startswith("JPEG is damaged: ") and "\n" not in failure.reason
    assert _region_requests(emu) == 2 * (1 + 3)
    assert summary.retries == 2 * 3
    assert list((out / "images").rglob("*.render.*")) == []


def test_decode_and_network_retries_share_one_budget(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Answers cut short, then damaged: the region's requests stop at 1 + max_retries in all
    (they were (1 + max_retries) per decode attempt, up to (1 + max_retries)²), and so do
    its second chance's at the run's end."""
    from harvester.emulator.catalogue import TILED_SMALL_IMAGE_ID

    emu = make_emulator(
        preset="tiled", faults="first:truncate*2|corrupt*20,only:image:render_region"
    )
    summary = harvest(
        emu.base_url,
        tmp_path / "out",
        images=(TILED_SMALL_IMAGE_ID,),
        artifacts=("render",),
        max_plane=300,
        max_retries=3,
    )
    assert summary.exit_code != 0
    (failure,) = summary.failures
    assert failure.reason.startswith("JPEG is damaged: "), failure.reason
    assert emu.stats()["faults"] == {"truncate": 2, "corrupt": 2 + 4}
    assert _region_requests(emu) == 2 * (1 + 3)


def test_a_region_damaged_then_whole_within_the_budget_makes_the_clean_render(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Cut short, then damaged, then whole: the render is stored, byte for byte the clean
    run's, after exactly those three requests for that region (2 counted as retries)."""
    clean, _ = _render_from_regions(make_emulator(preset="tiled"), tmp_path / "clean")
    emu = make_emulator(preset="tiled", faults="first:truncate|corrupt,only:image:render_region")
    damaged, asked = _render_from_regions(emu, tmp_path / "damaged")
    assert asked == 4 + 2
    assert damaged == clean

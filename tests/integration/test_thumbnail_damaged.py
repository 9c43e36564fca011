"""A thumbnail (or JPEG render) served damaged is asked again, not stored as it came.

Nothing decodes a thumbnail before it is stored: the emulator's ``corrupt`` fault (a third of
the body inverted, its length, first and last bytes intact) passed every check the client made
(status, type, magic bytes, length) and was stored. Its JPEG markers show the damage now.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import harvest

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_IMAGE_ID
from harvester.emulator.server import TRAILER


def _asked(emu: EmulatorThread, route: str) -> int:
    """Requests of ``route`` the emulator answered, whatever it answered."""
    return sum(emu.stats()["by_route"].get(route, {}).values())


def _stored(out: Path, suffix: str) -> bytes:
    (path,) = (out / "images").rglob(f"{DEMO_IMAGE_ID}.{suffix}")
    return path.read_bytes()


def test_a_thumbnail_served_damaged_is_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Damaged once: asked again (one retry), stored byte for byte as a clean run stores it."""
    clean = harvest(
        make_emulator().base_url, tmp_path / "clean", images=(DEMO_IMAGE_ID,),
        artifacts=("thumbnail",),
    )  # fmt: skip
    assert clean.exit_code == 0
    emu = make_emulator(faults="first:corrupt,only:image:thumbnail")
    summary = harvest(
        emu.base_url, tmp_path / "damaged", images=(DEMO_IMAGE_ID,), artifacts=("thumbnail",)
    )
    assert summary.exit_code == 0, summary.failures
    assert emu.stats()["faults"] == {"corrupt": 1}
    assert _asked(emu, "image:thumbnail") == 2
    assert summary.retries == 1
    assert _stored(tmp_path / "damaged", "thumbnail.jpg") == _stored(
        tmp_path / "clean", "thumbnail.jpg"
    )


def test_a_thumbnail_damaged_every_time_fails_in_one_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Damaged on every try: 1 + max_retries requests, and as many once more at the run's end
    (its second chance), a one-line failure that says why, no thumbnail file; the image's
    other artifacts are stored."""
    emu = make_emulator(faults="corrupt:100%,only:image:thumbnail")
    out = tmp_path / "out"
    summary = harvest(
        emu.base_url, out, images=(DEMO_IMAGE_ID,), artifacts=("thumbnail", "imgdata"),
        max_retries=2,
    )  # fmt: skip
    assert summary.exit_code != 0
    (failure,) = summary.failures
    assert failure.kind == "thumbnail" and failure.status == 200
    assert failure.reason.startswith("JPEG is damaged: "), failure.reason
    assert "\n" not in failure.reason
    assert _asked(emu, "image:thumbnail") == 2 * (1 + 2)
    assert list((out / "images").rglob("*.thumbnail.*")) == []
    assert len(list((out / "images").rglob("*.imgdata.json"))) == 1


def test_a_jpeg_render_served_damaged_is_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A whole-plane JPEG render, stored as it comes too, is checked the same way."""
    clean = harvest(
        make_emulator().base_url, tmp_path / "clean", images=(DEMO_IMAGE_ID,),
        artifacts=("render",),
    )  # fmt: skip
    assert clean.exit_code == 0
    emu = make_emulator(faults="first:corrupt,only:image:render")
    summary = harvest(
        emu.base_url, tmp_path / "damaged", images=(DEMO_IMAGE_ID,), artifacts=("render",)
    )
    assert summary.exit_code == 0, summary.failures
    assert _asked(emu, "image:render") == 2
    assert _stored(tmp_path / "damaged", "render.jpg") == _stored(tmp_path / "clean", "render.jpg")


def test_a_thumbnail_with_bytes_after_its_eoi_is_stored_at_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A whole JPEG with a stray CRLF after its EOI (some servers, proxies) is no damage:
    stored as served on its one request (it was asked again, then failed on every run)."""
    clean = harvest(
        make_emulator().base_url, tmp_path / "clean", images=(DEMO_IMAGE_ID,),
        artifacts=("thumbnail",),
    )  # fmt: skip
    assert clean.exit_code == 0
    emu = make_emulator(faults="trailer:100%,only:image:thumbnail")
    summary = harvest(
        emu.base_url, tmp_path / "trailer", images=(DEMO_IMAGE_ID,), artifacts=("thumbnail",)
    )
    assert summary.exit_code == 0, summary.failures
    assert emu.stats()["faults"] == {"trailer": 1}
    assert _asked(emu, "image:thumbnail") == 1
    assert summary.retries == 0
    assert _stored(tmp_path / "trailer", "thumbnail.jpg") == (
        _stored(tmp_path / "clean", "thumbnail.jpg") + TRAILER
    )

"""A stack's JPEG plane (plain OMERO.web) damaged on the way is asked again at once, never
stacked as it came (a render's JPEG regions: tests/integration/test_render_region_retry.py).

A JPEG has no checksum, and Pillow decodes some damaged ones without a word, to wrong
pixels: the plane's check was its size alone, so such a plane went into the stack.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import harvest

from harvester.emulator import EmulatorThread

ZSTACK_IMAGE_ID = 1_300_001


def _asked(emu: EmulatorThread, route: str) -> int:
    """Requests of ``route`` the emulator answered, whatever it answered."""
    return sum(emu.stats()["by_route"].get(route, {}).values())


def _stored(out: Path, name: str) -> bytes:
    (path,) = (out / "images").rglob(name)
    return path.read_bytes()


def test_a_jpeg_plane_served_damaged_is_asked_again_before_it_is_staged(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Its first plane damaged: one retry of that plane, and the stack a clean run stores."""
    emu = make_emulator(preset="zstack", faults="first:corrupt,only:image:render")
    damaged = harvest(emu.base_url, tmp_path / "d", images=(ZSTACK_IMAGE_ID,), artifacts=("stack",))
    assert damaged.exit_code == 0, damaged.failures
    assert emu.stats()["faults"] == {"corrupt": 1}
    assert damaged.retries == 1
    planes = _asked(emu, "image:render")
    # (the same server: its URL is in the OME-XML; its one scripted fault is spent)
    clean = harvest(emu.base_url, tmp_path / "c", images=(ZSTACK_IMAGE_ID,), artifacts=("stack",))
    assert clean.exit_code == 0 and clean.retries == 0
    assert _asked(emu, "image:render") - planes == planes - 1
    name = f"{ZSTACK_IMAGE_ID}.stack.ome.tif"
    assert _stored(tmp_path / "d", name) == _stored(tmp_path / "c", name)

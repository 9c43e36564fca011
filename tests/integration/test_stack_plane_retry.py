"""A stack's plane damaged on the way costs its own retries, inside the run's one budget.

Each plane is checked as it comes (a PNG's CRCs, a JPEG's markers): damaged, it is asked
again by the client's retry, never staged. It was staged, found damaged at assembly and asked
again with a fresh budget: up to 2 x (1 + max_retries) requests a plane. The first plane is
asked alone, so the emulator's first ``k`` answers are all that plane's tries.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import harvest

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import ZSTACK_SIZE_Z
from harvester.pipeline import RunSummary

ZSTACK_IMAGE_ID = 1_300_001
PLANES = ZSTACK_SIZE_Z * 2
MAX_RETRIES = 2


def _renders(emu: EmulatorThread) -> int:
    """Plane requests the emulator answered, whatever it answered."""
    return sum(emu.stats()["by_route"].get("image:render", {}).values())


def _stack(emu: EmulatorThread, out: Path) -> RunSummary:
    """Harvest the z-stack's stack into ``out``, ``max_retries`` = :data:`MAX_RETRIES`."""
    return harvest(
        emu.base_url,
        out,
        images=(ZSTACK_IMAGE_ID,),
        artifacts=("stack",),
        max_retries=MAX_RETRIES,
    )


@pytest.mark.parametrize("mode", ["microservice", "omeroweb"])
def test_a_plane_damaged_within_its_retries_makes_the_clean_stack(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], mode: str
) -> None:
    """Damaged ``k = max_retries`` times (once: tests/stack/test_stack.py): ``k`` more
    requests, each a retry of that plane, and the stack a clean run stores, byte for byte."""
    damaged = MAX_RETRIES
    emu = make_emulator(
        preset="zstack", mode=mode, faults=f"first:corrupt*{damaged},only:image:render"
    )
    summary = _stack(emu, tmp_path / "d")
    assert summary.exit_code == 0, summary.failures
    assert emu.stats()["faults"] == {"corrupt": damaged}
    assert summary.retries == damaged
    assert _renders(emu) == PLANES + damaged
    clean = harvest(emu.base_url, tmp_path / "c", images=(ZSTACK_IMAGE_ID,), artifacts=("stack",))
    assert clean.exit_code == 0 and clean.retries == 0
    name = f"{ZSTACK_IMAGE_ID}.stack.ome.tif"
    (stored,) = (tmp_path / "d" / "images").rglob(name)
    (reference,) = (tmp_path / "c" / "images").rglob(name)
    assert stored.read_bytes() == reference.read_bytes()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("microservice", "PNG does not decode: "), ("omeroweb", "JPEG is damaged: ")],
)
def test_a_plane_damaged_past_its_retries_fails_the_image_in_one_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], mode: str, reason: str
) -> None:
    """Damaged on all ``1 + max_retries`` tries, and on as many again at the run's end (the
    second chance of a file that failed on a bad body): exactly those requests, no other
    plane asked, one failure line saying why, no stack stored and nothing of the plane
    staged."""
    tries = 2 * (1 + MAX_RETRIES)
    emu = make_emulator(
        preset="zstack", mode=mode, faults=f"first:corrupt*{tries},only:image:render"
    )
    out = tmp_path / "d"
    summary = _stack(emu, out)
    assert summary.exit_code == 1
    (failure,) = summary.failures
    assert failure.kind == "stack" and failure.status == 200
    assert failure.reason.startswith(reason) and "\n" not in failure.reason, failure.reason
    assert summary.retries == 2 * MAX_RETRIES
    assert _renders(emu) == tries
    assert not list((out / "images").rglob("*.stack.*"))
    assert not [p for p in (out / "staging").rglob("*") if p.suffix in (".png", ".jpg", ".tif")]

"""A stack resumed from its staged planes asks the server no imgData again.

A task of a job array cut short mid-stack (a kill, a time limit, a plane that failed)
leaves its planes staged; the resubmitted task finished them, but asked imgData again
first, once per unfinished stack (where imgData is no artifact of the run): the one
image request IDR's proxy never caches, asked twice across the array's tasks.
"""

from __future__ import annotations

from pathlib import Path

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_IMAGE_ID
from harvester.layout import STAGED_IMGDATA

#: The demo image's planes: one z, one t, 4 channels, one render each.
PLANES = 4


def _harvest_stack(emulator: EmulatorThread, out: Path, *extra: str) -> int:
    return main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none"]
        + ["--image", str(DEMO_IMAGE_ID), "--artifacts", "stack", "--quiet", "--no-labels"]
        + list(extra)
    )


def _stack_file(out: Path) -> bytes:
    (stack,) = (out / "images").rglob("*.ome.tif")
    return stack.read_bytes()


def _count(emulator: EmulatorThread, route: str) -> int:
    return sum(emulator.stats()["by_route"].get(route, {}).values())


def test_resumed_stack_reads_its_staged_imgdata(
    make_emulator: type[EmulatorThread], tmp_path: Path
) -> None:
    """A stack resumed from staged planes reads the imgData it started from (staging) and asks
    the server for no imgData again, ending byte-identical to a clean run's."""
    # The first 4 renders answer (a clean harvest, the reference), then 1 more: the cut
    # run stages one plane and fails the other 3 (no retries); later renders all answer.
    emulator = make_emulator(
        preset="demo", faults=f"first:ok*{PLANES + 1}|500*{PLANES - 1},only:image:render"
    )
    assert _harvest_stack(emulator, tmp_path / "reference") == 0
    out = tmp_path / "out"
    assert _harvest_stack(emulator, out, "--max-retries", "0") != 0
    staging = out / "staging" / str(DEMO_IMAGE_ID)
    staged = len(list(staging.glob("*.jpg")))
    assert 1 <= staged < PLANES and (staging / STAGED_IMGDATA).is_file()

    imgdata_before = _count(emulator, "image:imgdata")
    renders_before = _count(emulator, "image:render")
    assert _harvest_stack(emulator, out) == 0
    assert _count(emulator, "image:imgdata") == imgdata_before, "imgData asked again"
    assert _count(emulator, "image:render") - renders_before == PLANES - staged
    assert _stack_file(out) == _stack_file(tmp_path / "reference")
    assert not (out / "staging").exists()

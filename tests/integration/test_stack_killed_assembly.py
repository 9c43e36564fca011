"""A harvest killed (SIGKILL) while it assembles a stack: what it leaves is counted, then removed.

The half-written OME-TIFF and its pyramid levels' folder stay in the image's staging folder,
as big as the stack: ``status`` counted the staged planes only, and nothing removed them until
the stack was assembled again. The kill is timed by the disk (the files exist), while a gate
holds another image's imgData so that the run cannot end before it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_helpers import DEADLINE_S, POLL_S, holding
from harvest_helpers import reaped, start_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import TILED_OVER_IMAGE_ID, TILED_SMALL_IMAGE_ID
from harvester.layout import ASSEMBLY_LEVELS, ASSEMBLY_NAME
from harvester.progress import human_bytes


def _bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _regions(emu: EmulatorThread) -> int:
    return sum(emu.stats()["by_route"].get("image:render_region", {}).values())


def test_a_kill_during_assembly_is_counted_then_cleaned(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """SIGKILL mid-assembly: status counts the half-written stack apart, with its bytes; the
    rerun removes it, asks no plane again and stores the stack a clean run stores."""
    emu = make_emulator(
        preset="tiled", faults=f"hold:other,only:/webclient/imgData/{TILED_SMALL_IMAGE_ID}/"
    )
    out = tmp_path / "d"
    staging = out / "staging" / str(TILED_OVER_IMAGE_ID)
    tmp, levels = staging / ASSEMBLY_NAME, staging / ASSEMBLY_LEVELS
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--image", str(TILED_OVER_IMAGE_ID),
        "--image", str(TILED_SMALL_IMAGE_ID), "--out", str(out), "--artifacts", "stack",
        "--rate", "none", "--concurrency", "4",
    )  # fmt: skip
    with reaped(proc), holding(emu, "other"):
        deadline = time.monotonic() + DEADLINE_S
        # Once a plane's halved copy is kept for the next level, both hold bytes.
        while not (tmp.is_file() and any(levels.rglob("*.npy"))):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the stack's assembly never began"
            time.sleep(POLL_S)
        proc.kill()
        proc.communicate(timeout=30)
    assert tmp.is_file() and levels.is_dir(), "the assembly ended before the kill"
    leftover = _bytes(tmp) + _bytes(levels)
    assert leftover > 0
    planes = [p for p in staging.iterdir() if p.suffix in (".png", ".jpg")]
    assert len(planes) == 3 * 4  # 3 channels, 2 x 2 regions each: all staged
    planes_bytes = sum(p.stat().st_size for p in planes)

    assert main(["status", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["staged"] == {
        "stacks": 1,
        "planes": 3,
        "bytes": planes_bytes + leftover,
        "assembly_bytes": leftover,
    }
    assert main(["status", str(out)]) == 0
    said = (
        f"3 planes staged ({human_bytes(planes_bytes + leftover)}, {human_bytes(leftover)} of "
        "it a killed run's half-written stack, removed when the rerun resumes it) for 1 "
        f"unfinished stack in {out / 'staging'}, kept for the rerun"
    )
    assert said in capsys.readouterr().out.splitlines()

    regions = _regions(emu)
    assert main(["harvest", "--out", str(out), "--rate", "none", "--quiet"]) == 0
    assert _regions(emu) == regions  # every plane was staged: none asked again
    assert not (out / "staging").exists()
    (stack,) = (out / "images").rglob(f"{TILED_OVER_IMAGE_ID}.stack.ome.tif")
    clean = tmp_path / "clean"
    assert main(  # (the same server: its URL is in the OME-XML)
        ["harvest", "--base-url", emu.base_url, "--out", str(clean),
         "--image", str(TILED_OVER_IMAGE_ID), "--artifacts", "stack", "--rate", "none", "--quiet"]
    ) == 0  # fmt: skip
    (clean_stack,) = (clean / "images").rglob(f"{TILED_OVER_IMAGE_ID}.stack.ome.tif")
    assert stack.read_bytes() == clean_stack.read_bytes()

"""A stack staging folder left by a run stopped right after storing the stack goes next run."""

from __future__ import annotations

from pathlib import Path

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_IMAGE_ID


def _harvest_stack(emulator: EmulatorThread, out: Path) -> int:
    return main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out)]
        + ["--image", str(DEMO_IMAGE_ID), "--artifacts", "stack", "--quiet", "--no-labels"]
    )


def test_next_run_removes_staging_of_stored_stacks_only(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The next run removes staged planes of stacks already stored, keeps others, refetches none."""
    out = tmp_path / "out"
    assert _harvest_stack(emulator, out) == 0
    stacks = list((out / "images").rglob("*.ome.tif"))
    assert len(stacks) == 1
    stored = stacks[0].read_bytes()
    assert not (out / "staging" / str(DEMO_IMAGE_ID)).exists()  # removed by the run itself

    # As if the process died between journaling the stack and removing its planes:
    leftover = out / "staging" / str(DEMO_IMAGE_ID)
    leftover.mkdir(parents=True)
    (leftover / "z0-c0-t0.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    # ...and a stack still in progress for another image (another shard's, say): kept.
    unfinished = out / "staging" / "123456789"
    unfinished.mkdir()
    (unfinished / "z0-c0-t0.png").write_bytes(b"\x89PNG\r\n\x1a\n")

    requests_before = emulator.stats()["requests"]
    assert _harvest_stack(emulator, out) == 0
    assert not leftover.exists()
    assert (unfinished / "z0-c0-t0.png").exists()
    assert stacks[0].read_bytes() == stored
    # Only the probe: the stored stack is not fetched again.
    assert emulator.stats()["requests"] - requests_before == 1


def test_next_run_removes_the_emptied_staging_folder(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """``staging/`` holds stacks in progress: once the last leftover goes, the folder goes too."""
    out = tmp_path / "out"
    assert _harvest_stack(emulator, out) == 0
    leftover = out / "staging" / str(DEMO_IMAGE_ID)
    leftover.mkdir(parents=True)  # as if killed between journaling the stack and cleaning up
    (leftover / "z0-c0-t0.png").write_bytes(b"\x89PNG\r\n\x1a\n")

    assert _harvest_stack(emulator, out) == 0
    assert not (out / "staging").exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["harvest.json", "images", "index.csv", "journals", "locks", "runs", "written.json"]
    )

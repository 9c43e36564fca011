"""A shard's summary counts the staged planes of its own stacks, not the other shards'.

The tasks of a job array share ``DIR/staging``. A task cut short said "N planes staged for
M unfinished stacks ..., kept for the rerun" of every task's stacks: each task of an
array stopped by its time limit gave the whole array's count, and its resubmission
(``--array=K``) resumes its own stacks alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_IMAGE_ID
from harvester.shard import shard_of

#: The demo image's planes: one z, one t, 4 channels, one render each.
PLANES = 4


def test_a_shards_summary_counts_its_own_staged_stacks(
    make_emulator: type[EmulatorThread], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --shard run cut short counts only its own stacks' staged planes in its summary, not
    another task's in the shared staging folder."""
    # One plane answered, the other 3 refused: the run fails with 1 plane staged.
    emulator = make_emulator(preset="demo", faults=f"first:ok|500*{PLANES - 1},only:image:render")
    out = tmp_path / "out"
    k = shard_of(DEMO_IMAGE_ID, 2)
    # Another task's stack in progress: a plane of an image of the other shard.
    other = next(i for i in range(DEMO_IMAGE_ID + 1, DEMO_IMAGE_ID + 100) if shard_of(i, 2) != k)
    (out / "staging" / str(other)).mkdir(parents=True)
    (out / "staging" / str(other) / "t00000-z00000-c000-r0000.jpg").write_bytes(b"\xff" * 64)
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none"]
        + ["--image", str(DEMO_IMAGE_ID), "--shard", f"{k}/2", "--artifacts", "stack"]
        + ["--max-retries", "0", "--no-labels"]
    )
    assert code != 0
    said = capsys.readouterr()
    lines = [line for line in (said.out + said.err).splitlines() if " staged (" in line]
    assert len(lines) == 1 and lines[0].startswith("1 plane staged ("), lines
    assert "for 1 unfinished stack in " in lines[0], lines
    assert len(list((out / "staging" / str(DEMO_IMAGE_ID)).glob("*.jpg"))) == 1

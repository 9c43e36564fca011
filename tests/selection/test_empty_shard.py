"""A shard whose share of the selection is empty still counts as walked.

``--sample 2`` over three shards leaves one shard no image. Its run fetched and journaled
nothing, so it removed its journal and saved config as a no-op rerun does, and with them
its "walk" record: ``harvester index`` then said index.csv lacked the images of a walk, and
``harvester status`` that the shard never walked and should be resumed, which changed
nothing (the rerun removed its files again). Everything runs the real command line against
the emulator over loopback sockets.
"""

from __future__ import annotations

from pathlib import Path

from selection_helpers import DEMO_SCREEN, index_rows, run_cli

from harvester.emulator import EmulatorThread

SHARDS = 3


def test_a_shard_that_selects_nothing_is_walked_for_index_and_status(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """--sample 2 over 3 shards: every shard exits 0, one of them selects nothing; the index
    lists the 2 sampled images with no note of a walk short, and status asks no resume."""
    out = tmp_path / "d"
    selected = []
    for k in range(SHARDS):
        result = run_cli(
            "harvest", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
            "--out", str(out), "--sample", "2", "--artifacts", "thumbnail", "--rate", "none",
            "--shard", f"{k}/{SHARDS}",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        selected.append(result.stdout.split("selected ", 1)[1].split(" ", 1)[0])
    assert "0" in selected, selected  # the case at hand: a shard with no image of the sample
    index = run_cli("index", str(out))
    assert index.returncode == 0, index.stderr
    assert "did not list everything" not in index.stdout + index.stderr, index.stdout
    assert len(index_rows(out)) == 2
    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert "never walked" not in status.stdout, status.stdout
    assert "to resume" not in status.stdout, status.stdout
    again = run_cli("harvest", "--out", str(out), "--shard", f"{selected.index('0')}/{SHARDS}")
    assert again.returncode == 0, again.stderr
    assert "never walked" not in run_cli("status", str(out)).stdout

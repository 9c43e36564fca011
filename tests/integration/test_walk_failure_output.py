"""A failed listing is said once, in the summary, as a failed file is.

It printed twice: ``WARNING harvester.walk: walk of plate ... failed: ...`` while the run went
on, then ``walk failed: plate ...: ...`` in the summary. Now the summary line alone (with
``--quiet`` too); ``--debug`` still shows the moment it failed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread


@pytest.mark.parametrize("extra", [[], ["-q"], ["--debug"]], ids=["plain", "quiet", "debug"])
def test_a_failed_listing_is_one_line_of_the_summary(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path, extra: list[str]
) -> None:
    """A failed listing is one summary line (plain, -q, --debug), no warning; detail in --debug."""
    emu = make_emulator(preset="demo", faults="500:100%,only:api_plate_wells")
    run = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE),
        "--out", str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none",
        "--max-retries", "0", *extra,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    said = [line for line in run.stderr.splitlines() if f"/m/plates/{SMALL_PLATE}/wells/" in line]
    summary = [line for line in said if not line.startswith("DEBUG ")]
    assert summary == [
        f"walk failed: plate {SMALL_PLATE}: HTTP 500 Internal Server Error <{emu.base_url}/api/v0"
        f"/m/plates/{SMALL_PLATE}/wells/?offset=0&limit=1000>"
    ], run.stderr
    assert "WARNING harvester.walk" not in run.stderr
    debug = [line for line in said if line.startswith("DEBUG harvester.walk: walk of plate")]
    assert len(debug) == (1 if "--debug" in extra else 0), run.stderr

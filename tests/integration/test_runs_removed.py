"""A folder whose ``runs/`` was removed (taken for logs, left out of a copy) still says how
to resume it.

``harvester harvest --out DIR`` replays the settings runs saved in ``runs/``; with none
left it said only "nothing to harvest" and to name a target, and a run then given the
targets but no ``--base-url`` asked IDR and fetched the default kinds. The journals keep
each walk's targets and each run's command line: the hint now gives the command with the
targets, the kinds the journals hold and the server the run named. Every command runs as
its own process against the emulator over real sockets.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from harvest_helpers import kind_files
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread


def test_a_folder_without_runs_hints_the_command_its_journals_name(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`rm -r DIR/runs`, then `harvest --out DIR`: exit 2 with a hint naming `--plate 7375
    --artifacts thumbnail --base-url URL`; that command, run as printed, asks for no image
    (everything is done) and fetches no other kind."""
    out = tmp_path / "d"
    first = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    shutil.rmtree(out / "runs")

    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    command = (
        f"harvester harvest --out {out} --plate 7375 --artifacts thumbnail --base-url "
        f"{emulator.base_url}"
    )
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        f"hint: no run of {out} saved readable settings in {out / 'runs'} (removed or "
        f"damaged?), but its journals name what its newest walk harvested: {command}",
    ]
    emulator.reset_stats()
    again = cli(*shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["image_requests"] == 0
    assert len(kind_files(out, "thumbnail")) == 8
    assert kind_files(out, "render") == [] and kind_files(out, "imgdata") == []

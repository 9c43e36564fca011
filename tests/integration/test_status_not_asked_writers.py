"""``harvester status``'s writer and run lines count the failures no resume asks for apart.

After following the migration-2026 hint (dropping ``imgdata`` and ``render``), their old
failures are ``not_asked``: the totals and the "failed before, not asked for any more" line
said so, but each writer's line (and ``--json``'s ``writers`` and ``runs``) still counted them
as failed, telling the user a run failed what no command asks for now. Each command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py) against the emulator over
real sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread


def test_writer_and_run_lines_count_failures_not_asked_for_apart(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """imgdata and render dropped after they failed: the first run's writer line says 0
    failed and 16 not asked for any more, as the totals do, and --json agrees."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "mg"
    first = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    followed = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata", "-q")
    assert followed.returncode == 0, followed.stderr

    shown = run_cli("status", str(out))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(
        x.startswith("failed before, not asked for any more: imgdata 8, render 8") for x in lines
    )
    writers = [x for x in lines[lines.index("writers:") + 1 :] if x.startswith("  ")]
    first_writer = next(x for x in writers if ": 16 done," in x)
    assert ": 16 done, 0 failed, 16 not asked for any more, " in first_writer, writers
    assert not any(" 16 failed" in x or " 8 failed" in x for x in writers), writers

    data = json.loads(run_cli("status", str(out), "--json").stdout)
    assert data["totals"]["failed"] == 0 and data["not_asked"] == {"imgdata": 8, "render": 8}
    assert sum(w["failed"] for w in data["writers"]) == 0
    assert sum(w["not_asked"] for w in data["writers"]) == 16
    assert sum(r["failed"] for r in data["runs"].values()) == 0
    assert sum(r["not_asked"] for r in data["runs"].values()) == 16

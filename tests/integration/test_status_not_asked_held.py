"""``harvester status`` holds back the dropped kinds' command while a harvest holds DIR.

In a plain folder (no ``harvester slurm`` script), a harvest running there holds DIR's run
lock, and the ``harvester harvest --out DIR ...`` that tries dropped kinds again is refused
by it (exit 75). Status still offered that command, in the text and under ``--json``'s
``not_asked_commands``, as in a job array's folder before 0.1.20. Each command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py) against the emulator over
real sockets; the lock is held by another process as a running harvest holds it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli, run_lock_held

from harvester.emulator import EmulatorThread
from harvester.runlock import DROPPING_SET


def _dropped(base_url: str, out: Path) -> None:
    """Harvest a plate whose imgdata and renders fail (migration-2026), then follow the
    hint: the next run asks for thumbnails and metadata only, the failures not asked."""
    first = run_cli(
        "harvest", "--base-url", base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    followed = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata", "-q")
    assert followed.returncode == 0, followed.stderr


def test_a_running_harvest_holds_back_the_dropped_kinds_command_of_a_plain_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest holding a plain folder: status says it gives the command once the running
    harvests have ended (the lock refuses it meanwhile, exit 75), --json lists it under
    not_asked_held by running_harvests; once the lock is free, the command is given again."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "mg"
    _dropped(emu.base_url, out)
    command = f"harvester harvest --out {out} --artifacts thumbnail,imgdata,render,metadata"
    with run_lock_held(out, None):
        shown = run_cli("status", str(out))
        as_json = run_cli("status", str(out), "--json")
        refused = run_cli(*command.split()[1:], "--rate", "none", "-q")
    assert refused.returncode == 75, refused.stderr
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr + as_json.stderr
    lines = shown.stdout.splitlines()
    said = [x for x in lines if x.startswith("failed before, not asked for any more:")]
    assert said == [
        "failed before, not asked for any more: imgdata 8, render 8 (the newest run of their "
        f"targets asks for other kinds); to try them again: harvester status {out} gives the "
        "command once the harvests running now (named below) have ended"
    ], lines
    assert not any("harvester harvest --out" in x for x in lines), lines
    assert not any("job array" in x for x in lines), lines
    assert any(x.startswith("running now: ") for x in lines), lines
    data = json.loads(as_json.stdout)
    assert "not_asked_commands" not in data, data["not_asked_commands"]
    assert data["not_asked_held"] == {"by": "running_harvests", "commands": [command]}

    freed = run_cli("status", str(out))
    assert (
        "failed before, not asked for any more: imgdata 8, render 8 (the newest run of their "
        f"targets asks for other kinds); to try them again: {command}"
    ) in freed.stdout.splitlines(), freed.stdout
    data = json.loads(run_cli("status", str(out), "--json").stdout)
    assert "not_asked_held" not in data, data["not_asked_held"]
    assert data["not_asked_commands"] == [command]


def test_forget_holding_the_folder_is_not_called_a_running_harvest(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While harvester forget holds a plain folder, the dropped kinds' line and the resume
    line wait for that command's end, said as no harvest (they said "the harvests running
    now" with only "running now: harvester forget (...)" below), and --json's not_asked_held
    is by running_command, not running_harvests; a harvest's words stay, for a resume
    dropping a refused set too (it harvests the other sets next)."""
    emu = make_emulator(
        preset="demo", migration_2026=True, faults="503:100%,only:/webgateway/render_thumbnail"
    )
    out = tmp_path / "mg"
    first = run_cli(
        "harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    followed = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata",
                       "--max-retries", "0", "-q")  # fmt: skip
    assert followed.returncode == 1, followed.stderr  # (its thumbnails still fail: 503)
    with run_lock_held(out, None, doing="harvester forget") as holder:
        shown = run_cli("status", str(out))
        as_json = run_cli("status", str(out), "--json")
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr + as_json.stderr
    data = json.loads(as_json.stdout)
    assert "not_asked_commands" not in data, data["not_asked_commands"]
    assert data["not_asked_held"]["by"] == "running_command", data["not_asked_held"]
    lines = shown.stdout.splitlines()
    ended = "the command holding the folder now (named {}: it harvests nothing) has ended"
    said = [x for x in lines if x.startswith("failed before, not asked for any more:")]
    assert said == [
        "failed before, not asked for any more: imgdata 8, render 8 (the newest run of their "
        f"targets asks for other kinds); to try them again: harvester status {out} gives the "
        f"command once {ended.format('below')}"
    ], lines
    assert f"running now: harvester forget (pid {holder.pid} on {socket.gethostname()})" in lines
    assert lines[-1] == f"to resume, once {ended.format('above')}: harvester harvest --out {out}"
    assert not any("harvests running now" in x or "running harvests" in x for x in lines), lines

    with run_lock_held(out, None):
        by_harvest = run_cli("status", str(out)).stdout.splitlines()
        data = json.loads(run_cli("status", str(out), "--json").stdout)
    assert (
        by_harvest[-1]
        == f"to resume, once the running harvests have ended: harvester harvest --out {out}"
    )
    assert data["not_asked_held"]["by"] == "running_harvests", data["not_asked_held"]

    # A resume dropping a refused target set holds DIR for a moment, then harvests its
    # other sets: a harvest, not "a command that harvests nothing" (so it was said).
    with run_lock_held(out, None, doing=DROPPING_SET):
        dropping = run_cli("status", str(out)).stdout.splitlines()
        data = json.loads(run_cli("status", str(out), "--json").stdout)
    assert (
        dropping[-1]
        == f"to resume, once the running harvests have ended: harvester harvest --out {out}"
    ), dropping
    assert not any("harvests nothing" in x for x in dropping), dropping
    assert data["not_asked_held"]["by"] == "running_harvests", data["not_asked_held"]

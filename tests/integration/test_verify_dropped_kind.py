"""``verify`` and ``status`` on damaged files of a kind the folder asks for no more.

After ``--artifacts thumbnail,metadata`` for the same targets (a hint followed, ``render``
dropped), a damaged render was said "awaiting refetch by harvest", and verify gave
``harvester harvest --out DIR`` "to refetch exactly those": a resume that asks for renders
no more, so it refetched nothing, and verify said the same, run after run.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_PROJECT, run_cli

from harvester.emulator import EmulatorThread


def _damage(path: Path) -> None:
    """One byte more: the size no longer the journal's."""
    with path.open("ab") as handle:
        handle.write(b"x")


def test_a_damaged_file_of_a_dropped_kind_gets_a_command_that_refetches_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A damaged render and thumbnail after renders were dropped: verify (exit 1) names the
    resume and the command with the folder's kinds and render; status counts the render
    apart with that command (in --json too); the two commands run, verify is clean."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "mirror"
    first = ["harvest", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT)]
    first += ["--out", str(out), "--rate", "none", "--quiet"]
    assert run_cli(*first).returncode == 0
    assert run_cli(*first, "--artifacts", "thumbnail,metadata").returncode == 0
    render = next((out / "images").rglob("*.render.jpg"))
    thumbnail = next((out / "images").rglob("*.thumbnail.jpg"))
    _damage(render)
    _damage(thumbnail)

    checked = run_cli("verify", str(out))
    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.splitlines()
    assert (
        lines[-2]
        == f"2 damaged or missing files: to refetch exactly those: harvester harvest --out {out}"
    )
    widened = f"harvester harvest --out {out} --artifacts thumbnail,render,metadata"
    assert lines[-1] == (
        f"  also: {widened}  # 1 file of kinds their targets' newest run asks for no more, "
        "which a resume leaves out"
    )

    status = run_cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert (
        "1 file marked invalid (by verify or the next run's check of an interrupted run) of "
        "kinds not asked for any more: render 1 (the newest run of their targets asks for "
        f"other kinds; not refetched by a resume); to refetch them: {widened}"
    ) in status.stdout
    assert (
        "1 file marked invalid (by verify or the next run's check of an interrupted "
        "run), awaiting refetch by harvest" in status.stdout
    )
    report = json.loads(run_cli("status", str(out), "--json").stdout)
    assert report["invalid_not_asked"] == {"render": 1}
    assert report["not_asked_commands"] == [widened]

    for command in (f"harvester harvest --out {out}", widened):
        done = run_cli(*shlex.split(command)[1:], "--quiet")
        assert done.returncode == 0, done.stderr
    clean = run_cli("verify", str(out))
    assert clean.returncode == 0, clean.stdout
    assert " 0 damaged, 0 missing" in clean.stdout

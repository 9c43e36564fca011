"""`harvester demo` run again into its folder, as the README's quick start invites."""

from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

from demo_helpers import DemoRun, run_demo

from harvester.runlock import acquire_run_lock, release_run_lock

OTHER_SERVER = "was harvested from"


def _served_port(run: DemoRun) -> int:
    """The port of the demo's emulator, from its `emulator was serving URL` line."""
    found = re.search(r"emulator was serving http://127\.0\.0\.1:(\d+)", run.stdout)
    assert found is not None, run.stdout
    return int(found.group(1))


def _first_demo_folder(first: DemoRun, tmp_path: Path) -> Path:
    """A copy of the first demo's folder, this test's own to run the demo into again."""
    assert first.code == 0, first.stderr
    return Path(shutil.copytree(first.out, tmp_path / "demo", symlinks=True))


def test_demo_rerun_asks_the_same_server(tmp_path: Path, demo_run: DemoRun) -> None:
    """A second demo into the same folder serves on the first one's port: all skipped, no
    warning that the folder was harvested from another server."""
    # The first demo is the run's `demo_run` (made once for every demo test), rerun into
    # this test's copy of its folder: the copy holds its server and files as the folder
    # does. The port-taken test runs a first demo of its own: on another xdist worker, it
    # would otherwise hold this one's port while this one runs.
    second = run_demo(_first_demo_folder(demo_run, tmp_path))
    assert second.code == 0, second.stderr
    assert "done 0, skipped 320 (already done), failed 0" in second.stdout
    assert OTHER_SERVER not in second.stderr
    assert _served_port(second) == _served_port(demo_run)


def test_demo_rerun_with_its_port_taken(tmp_path: Path) -> None:
    """When the first demo's port is taken, the rerun serves on another one, skips the same
    files, and says that the folder's server changed (which is then true)."""
    first = run_demo(tmp_path / "demo")
    assert first.code == 0, first.stderr
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", _served_port(first)))
        holder.listen()
        second = run_demo(tmp_path / "demo")
    assert second.code == 0, second.stderr
    assert "done 0, skipped 320 (already done), failed 0" in second.stdout
    assert _served_port(second) != _served_port(first)
    assert OTHER_SERVER in second.stderr


def test_demo_into_a_folder_another_demo_holds_is_refused_alone(tmp_path: Path) -> None:
    """A demo while another holds the folder (its lock and its port taken): the refusal,
    exit 75, is all it says; it said first that the folder was harvested from another
    server (the new port), which it then never harvested."""
    # A first demo of its own (as the port-taken test): holding the shared `demo_run`'s
    # port would take it from the rerun test on another xdist worker.
    first = run_demo(tmp_path / "demo")
    assert first.code == 0, first.stderr
    out = first.out
    fd = acquire_run_lock(out, None)
    try:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", _served_port(first)))
            holder.listen()
            second = run_demo(out)
    finally:
        release_run_lock(fd)
    assert second.code == 75, second.stderr
    assert OTHER_SERVER not in second.stderr
    assert second.stderr.startswith(f"error: {out} is already being harvested by another "), (
        second.stderr
    )

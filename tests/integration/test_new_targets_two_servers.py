"""New targets run into a folder of two servers: the "mixed in" warning.

A run of new targets warned that its images were "mixed in" whenever its server was not
that of DIR's newest run, even when DIR already held target sets of the server it asked
(a folder of two servers, a new plate of the older one). It now warns only when its
server is none of those DIR's runs asked. Each command runs as its own process against
emulators over real sockets (demo: plate 7375 and project 51; fields: plate 3001).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread


def harvest(emu: EmulatorThread, out: Path, *target: str) -> str:
    """A thumbnail harvest of ``target`` from ``emu`` into DIR (exit 0); its stderr."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *target, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def next_second() -> None:
    """Wait for the next second: runs of one second rank by their ids' random ends, and
    which run is DIR's newest is what the warning was about."""
    time.sleep(1.05)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "mixed in" in line]


def test_new_targets_of_a_server_the_folder_holds_are_not_warned_about(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Demo, then fields (warned: a second server), then a new demo project: no warning,
    its images written; then a third server: warned, naming both of DIR's servers."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    assert warnings(harvest(demo, out, "--plate", "7375")) == []
    next_second()
    (warned,) = warnings(harvest(fields, out, "--plate", "3001"))
    assert f"was harvested from {demo.base_url} (its newest run," in warned, warned
    demo.reset_stats()
    next_second()  # (fields' run stays the newest: the warning was about it)
    assert warnings(harvest(demo, out, "--project", "51")) == []
    assert demo.stats()["image_requests"] == 8  # (the project's images, fetched)
    third = make_emulator(preset="demo")
    (warned,) = warnings(harvest(third, out, "--image", "9762885"))
    assert warned.startswith(
        f"WARNING harvester.problems: {out} was harvested from {demo.base_url} (its newest run, "
    ), warned
    assert warned.endswith(
        f") and {fields.base_url}; this run asks {third.base_url}: image ids are one server's, "
        "so ids done from those servers are skipped as done and the rest mixed in"
    ), warned

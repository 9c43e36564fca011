"""The same targets harvested from two servers into one folder (``--project 51`` of each).

A folder's target sets were keyed by their targets alone: a bare resume replayed the newer
server's set and never the older one's, whose failed and damaged files stayed so. Each
server's set is now replayed. A server that moved is not replayed at its dead address: a
resume given the new ``--base-url`` marks the move in the runs it saves, and a set whose
server does not answer while DIR holds its targets from another server gets one
``not resumed:`` line naming ``harvester forget DIR TARGETS --base-url OLD``. Each command
runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py) against emulators
over real sockets (demo preset: project 51, the same 8 image ids on each server).
"""

from __future__ import annotations

import csv
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import refused_port
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

QUICK = ("--rate", "none", "--no-labels", "-q")


def harvest(emu: EmulatorThread, out: Path, kinds: str) -> None:
    """``--project 51`` of ``emu`` into DIR, fetching ``kinds`` (exit 0)."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
        "--artifacts", kinds, *QUICK,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def two_servers(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[Path, EmulatorThread, EmulatorThread]:
    """DIR holding project 51's thumbnails from A, then its metadata from B (ids done
    from A are skipped as done by kind: B's run records its metadata, a set of its own)."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="demo", seed=7)
    out = tmp_path / "d"
    harvest(a, out, "thumbnail")
    harvest(b, out, "metadata")
    return out, a, b


def not_resumed(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("not resumed:")]


def test_a_bare_resume_replays_each_servers_set_of_the_same_targets(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A thumbnail of A's set damaged: the bare resume refetches it from A (it replayed
    B's newer set alone, and the file stayed bad) and asks B its own set; exit 0, clean."""
    out, a, b = two_servers(tmp_path, make_emulator)
    with open(out / "index.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["thumbnail_path"])
    (out / row["thumbnail_path"]).write_bytes(b"not a jpeg")
    assert cli("verify", str(out)).returncode == 1
    a.reset_stats()
    b.reset_stats()
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert a.stats()["image_requests"] == 1  # (the damaged thumbnail, from its server)
    assert b.stats()["requests"] > 0  # (B's set walked too: it was replayed)
    assert cli("verify", str(out)).returncode == 0


def test_a_set_of_a_dead_address_is_one_line_naming_the_forget_that_retires_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A stopped (the server moved to B, its targets harvested there again): the resume
    says A's set in one `not resumed:` line, exit 1 (no error, no hint to start a server);
    its forget command, pasted, retires A's set alone, and the next resume ends 0."""
    out, a, b = two_servers(tmp_path, make_emulator)
    a.stop()
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 1, proc.stderr
    assert "error:" not in proc.stderr and "hint:" not in proc.stderr, proc.stderr
    (line,) = not_resumed(proc.stderr)
    forget = f"harvester forget {out} --project 51 --base-url {a.base_url}"
    assert line.startswith(f"not resumed: the target set --project 51 of {a.base_url}: "), line
    assert f"holds its targets from {b.base_url} too: if the server moved there" in line, line
    assert f"(its files stay): {forget}; if it is down, run this command again" in line, line
    forgot = cli(*shlex.split(forget)[1:])
    assert forgot.returncode == 0, forgot.stderr
    assert f"forgot the target set --project 51 of {a.base_url}:" in forgot.stdout
    b.reset_stats()
    again = cli("harvest", "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    assert not not_resumed(again.stderr), again.stderr
    assert b.stats()["requests"] > 0  # (B's set, still resumed)


def test_a_server_moved_by_a_resume_given_its_new_url_is_not_asked_at_its_old_one(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of A resumed with `--base-url B` (the server moved): the runs say so, and
    with A gone, the bare resume asks B alone, exit 0, nothing said of A."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="demo")
    out = tmp_path / "d"
    harvest(a, out, "thumbnail")
    moved = cli("harvest", "--out", str(out), "--base-url", b.base_url, "--artifacts", "metadata")
    assert moved.returncode == 0, moved.stderr
    a.stop()
    b.reset_stats()
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert b.stats()["requests"] > 0


def test_a_move_with_nothing_to_fetch_is_remembered_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A finished folder of A resumed with `--base-url B` (the server moved; nothing left to
    fetch) keeps that one run, the record of the move (it recorded none: the bare resume
    asked A again, an error once A was gone); the same resume again adds no run; with A
    gone, the bare resume asks B alone, exit 0, nothing said."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="demo")
    out = tmp_path / "d"
    harvest(a, out, "thumbnail")
    moved = cli("harvest", "--out", str(out), "--base-url", b.base_url, "-q")
    assert moved.returncode == 0, moved.stderr
    assert b.stats()["requests"] > 0  # (it walked the set there: nothing to fetch)
    assert len(list((out / "runs").iterdir())) == 2
    again = cli("harvest", "--out", str(out), "--base-url", b.base_url, "-q")
    assert (again.returncode, again.stderr) == (0, "")
    assert len(list((out / "runs").iterdir())) == 2  # (no run kept per resume)
    a.stop()
    b.reset_stats()
    proc = cli("harvest", "--out", str(out), "-q")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert b.stats()["requests"] > 0


def test_forget_given_a_base_url_of_no_run_of_the_set_is_refused(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`forget DIR --project 51 --base-url C` (C harvested nothing into DIR): exit 2, one
    error naming the set's two servers, and nothing forgotten."""
    out, a, b = two_servers(tmp_path, make_emulator)
    third = make_emulator(preset="demo")
    proc = cli("forget", str(out), "--project", "51", "--base-url", third.base_url)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(
        f"error: {out} has no target set --project 51 harvested from {third.base_url}: it was "
        f"harvested from "
    ), proc.stderr
    assert a.base_url in proc.stderr and b.base_url in proc.stderr
    assert not (out / "forgotten.json").exists()


def test_a_server_moved_twice_is_asked_at_its_newest_address_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of A resumed with `--base-url B`, then with `--base-url C` (moved twice):
    with A and B gone, the bare resume asks C alone, exit 0, nothing said of B (the runs
    remember the first person's run only, so B's set was replayed in vain)."""
    a, b, c = (make_emulator(preset="demo") for _ in range(3))
    out = tmp_path / "d"
    harvest(a, out, "thumbnail")
    for emu, kinds in ((b, "metadata"), (c, "rois")):  # (work to do: the runs are kept)
        moved = cli(
            "harvest", "--out", str(out), "--base-url", emu.base_url, "--artifacts", kinds,
            *QUICK,
        )  # fmt: skip
        assert moved.returncode == 0, moved.stderr
    a.stop()
    b.stop()
    c.reset_stats()
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert c.stats()["requests"] > 0


def test_a_proxy_that_does_not_answer_is_an_error_not_a_moved_server(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both servers up, the proxy of the environment down: the resume says the proxy's
    error, exit 2; no `not resumed:` line offers to forget either server's set (each was
    said as a server that may have moved, with the forget command of each)."""
    out, _a, _b = two_servers(tmp_path, make_emulator)
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with refused_port() as dead:
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
        proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 2, proc.stderr
    assert not not_resumed(proc.stderr), proc.stderr
    assert f"proxy 127.0.0.1:{dead}" in proc.stderr, proc.stderr


def test_both_servers_not_answering_are_errors_not_moved_servers(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A and B both stopped (the network down): neither set moved to the other, so each
    is its error (exit 2); no `not resumed:` line offers to forget either (each did)."""
    out, a, b = two_servers(tmp_path, make_emulator)
    a.stop()
    b.stop()
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 2, proc.stderr
    assert not not_resumed(proc.stderr), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, proc.stderr
    assert all("cannot reach" in line for line in errors), proc.stderr

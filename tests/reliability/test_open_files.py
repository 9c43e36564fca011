"""A --concurrency larger than the open-file limit allows, through the CLI (``ulimit -n``).

A run opens one keep-alive connection per concurrency slot: under the usual ``ulimit -n
1024``, ``--concurrency 1000`` failed its files with ``Too many open files`` (exit 1, the
folder half made), or stopped naming a Python source file (exit 2).
"""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import (
    CLI_TIMEOUT_S,
    DEMO_PROJECT,
    assert_one_line_error,
    cli_env,
    harvest_args,
)

from harvester.emulator import EmulatorThread


def limited_cli(soft: int, hard: int, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` under an open-file limit of ``soft`` (``hard``)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        preexec_fn=limit,
        stdin=subprocess.DEVNULL,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def test_concurrency_past_the_hard_limit_is_refused_before_any_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--concurrency 600 under ulimit -n 512: one error line naming the limit, a hint with the
    most --concurrency that fits, exit 2, no folder made, and not one request sent (a harvest
    and a plan); under a
    limit too small for any run, the hint says to raise it."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "harvest"
    argv = harvest_args(emu.base_url, out, "--project", str(DEMO_PROJECT), rate="none")
    refused = limited_cli(512, 512, *argv, "--concurrency", "600")
    assert refused.returncode == 2, refused.stderr
    assert_one_line_error(refused.stderr, "--concurrency 600", "may open 512 at most (ulimit -n)")
    assert "hint: give --concurrency 320 or less" in refused.stderr
    assert not out.exists()
    assert emu.stats()["requests"] == 0
    plan = [*argv[: argv.index("--quiet")], "--concurrency", "600"]
    planned = limited_cli(512, 512, "plan", *plan[1:])
    assert planned.returncode == 2, planned.stderr
    assert_one_line_error(planned.stderr, "--concurrency 600", "may open 512 at most")
    assert not out.exists()
    tiny = limited_cli(128, 128, *argv, "--concurrency", "8")
    assert tiny.returncode == 2, tiny.stderr
    assert_one_line_error(tiny.stderr, "may open 128 files at most (ulimit -n), too few")
    assert "hint: raise the limit of open files (ulimit -n" in tiny.stderr
    assert not out.exists()
    assert emu.stats()["requests"] == 0


def test_concurrency_past_the_soft_limit_raises_it_and_completes(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--concurrency 400 under a soft limit of 256 (hard 1024): the run raises its own soft
    limit and harvests the project whole, exit 0, no error."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip(f"the hard limit of open files here is {hard}, below 1024")
    emu = make_emulator(preset="demo")
    out = tmp_path / "harvest"
    argv = harvest_args(emu.base_url, out, "--project", str(DEMO_PROJECT), rate="none")
    done = limited_cli(256, 1024, *argv, "--concurrency", "400")
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    rows = (out / "index.csv").read_text().splitlines()
    assert len(rows) == 1 + 8  # header + the project's 8 images
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8


def test_a_hard_limit_of_256_still_runs_the_default_concurrency(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Under ulimit -n 256 (soft and hard: a batch system's or container's), a harvest with the
    default --concurrency 8 completes, exit 0, every image stored, no error line."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "harvest"
    argv = harvest_args(emu.base_url, out, "--screen", "2302", "--project", str(DEMO_PROJECT))
    done = limited_cli(256, 256, *argv, "--rate", "none")
    assert done.returncode == 0, done.stderr
    assert "error" not in done.stderr.lower(), done.stderr
    assert len((out / "index.csv").read_text().splitlines()) == 1 + 88
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 88


def test_a_resume_of_two_target_sets_is_refused_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvest --out DIR --concurrency 600` under ulimit -n 512, DIR holding two target sets:
    one error line (not one per set's replay), exit 2, nothing asked of the server."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "harvest"
    for target in (["--project", str(DEMO_PROJECT)], ["--image", "9762957"]):
        argv = harvest_args(emu.base_url, out, *target, rate="none", artifacts="thumbnail")
        assert limited_cli(512, 512, *argv).returncode == 0
    emu.reset_stats()
    refused = limited_cli(512, 512, "harvest", "--out", str(out), "--concurrency", "600")
    assert refused.returncode == 2, refused.stderr
    assert_one_line_error(refused.stderr, "--concurrency 600", "may open 512 at most")
    assert emu.stats()["requests"] == 0

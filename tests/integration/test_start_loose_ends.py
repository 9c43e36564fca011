"""What a run says at its start when the server fails a target's check (500), is slow to
answer its API root under ``--quiet``, or refuses the credentials at its first check (401)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import run_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.retry import zero_waits

PROJECT = "51"  # the demo preset's project: 8 images


def _harvest(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str
) -> tuple[int, list[str]]:
    """A thumbnail harvest of the demo project, waits zeroed: its exit code and stderr lines."""
    with zero_waits():
        code = main(
            ["harvest", "--base-url", base_url, "--project", PROJECT, "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", *extra]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err.strip().splitlines()


def test_a_target_check_failing_with_500_says_what_exit_2_means_and_when_to_run_again(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The project's check answers 500 through the retries: exit 2 with a hint that says why
    not 75 (a target that always fails would loop a job retrying on 75) and when running
    again helps (it said "run the same command again later" beside exit 2, no why); no folder."""
    emu = make_emulator(preset="demo", faults="500:100%,only:api_project")
    out = tmp_path / "d"
    code, lines = _harvest(capsys, emu.base_url, out, "--max-retries", "1")
    assert code == 2, lines
    error, hint = lines[-2:]
    assert error.startswith("error: HTTP 500 Internal Server Error"), lines
    assert hint == (
        f"hint: the server failed on project {PROJECT} through the retries; if it failed for "
        f"a moment, run the same command again later; if project {PROJECT} fails again, "
        f"check it on {emu.base_url}/ or tell the server's administrators (exit 2, not 75 "
        "'try again later': a project that fails every time would keep a job that retries "
        "on 75 asking for ever)"
    ), hint
    assert emu.stats()["by_route"]["api_project"] == {"500": 2}
    assert not out.exists()


def test_quiet_stays_silent_while_the_check_at_start_asks_a_failing_api_root_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The API root answers 500 three times, then 200: with --quiet the run prints nothing
    (the `asking again` line is a wait that ended well, as a pause for a server down is: no
    problem) and every thumbnail comes; without it, that one line is said on stderr."""
    faults = "500:60%,only:api_versions,seed:64"  # (500, 500, 500, then 200)
    for out, quiet in ((tmp_path / "quiet", ["--quiet"]), (tmp_path / "said", [])):
        emu = make_emulator(preset="demo", faults=faults)
        proc = run_cli(
            "harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", *quiet,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert emu.stats()["by_route"]["api_versions"] == {"500": 3, "200": 1}
        assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8
        said = [line for line in proc.stderr.splitlines() if "asking again" in line]
        if quiet:
            assert proc.stderr == "" and proc.stdout == "", proc.stderr + proc.stdout
        else:
            assert len(said) == 1 and f"{emu.base_url}/ answered its API root" in said[0], said

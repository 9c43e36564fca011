"""A plan (and a dry run) says how long its requests take at the rate: the figure a SLURM
``--time`` or an allocation is chosen from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import run_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.progress import request_time_line

DEMO_SCREEN = "2302"  # 80 images


def test_plan_prints_the_time_its_requests_take_at_the_rate(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """plan prints how long its requests take at --rate, at least that long for stacks."""
    # --burst: the plan's own listing requests go at once (2.5 s a plan at --burst 1);
    # the line is the artifacts' time at --rate, whatever the burst.
    common = ["--base-url", emulator.base_url, "--screen", DEMO_SCREEN, "--burst", "200"]
    plan = run_cli("plan", *common, "--artifacts", "thumbnail,metadata", "--rate", "20",
                     "--out", str(tmp_path / "a"))  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    assert "at --rate 20/s: 8s of requests" in plan.stdout.splitlines()  # 160 requests

    stacks = run_cli("plan", *common, "--artifacts", "stack", "--rate", "16",
                       "--out", str(tmp_path / "b"))  # fmt: skip
    assert stacks.returncode == 0, stacks.stderr
    assert (
        "at --rate 16/s: at least 5s of requests (a stack asks one request a plane)"
        in stacks.stdout.splitlines()
    )


def test_a_plan_over_a_harvested_folder_counts_only_the_work_left(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A plan grown over a folder that harvested one plate of the screen (8 of its 80
    images): the estimate is the 72 thumbnails left, and it says 8 are done (it counted
    all 80, whose harvest skips 8)."""
    out = str(tmp_path / "d")
    common = ["--base-url", emulator.base_url, "--artifacts", "thumbnail", "--out", out]
    first = run_cli("harvest", *common, "--plate", "7375", "--rate", "none", "--quiet")
    assert first.returncode == 0, first.stderr
    plan = run_cli("plan", *common, "--screen", DEMO_SCREEN, "--rate", "8", "--burst", "200")
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert f"already harvested in {out}: 8 of the plan's 80 files; 72 left" in lines, lines
    assert "at --rate 8/s: 9s of requests" in lines, lines  # (72 / 8; all 80: 10s)
    again = run_cli("plan", *common, "--screen", DEMO_SCREEN, "--rate", "8", "--force")
    assert again.returncode == 0, again.stderr
    assert "at --rate 8/s: 9s of requests" in again.stdout.splitlines(), again.stdout


def test_a_plan_over_a_harvested_folder_loads_its_journals_once(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The plan's count of files done comes from the journals its walk loaded: they are
    read once (twice before, slow on a huge folder), and the count is still right."""
    out = str(tmp_path / "d")
    common = ["--base-url", emulator.base_url, "--artifacts", "thumbnail", "--out", out]
    first = run_cli("harvest", *common, "--plate", "7375", "--rate", "none", "--quiet")
    assert first.returncode == 0, first.stderr
    loads: list[Path] = []
    load = JournalState.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[JournalState], out_dir: Path, *args: Any, **kwargs: Any) -> Any:
        loads.append(Path(out_dir))
        return load(cls, out_dir, *args, **kwargs)

    monkeypatch.setattr(JournalState, "load", classmethod(counted))
    assert main(["plan", *common, "--screen", DEMO_SCREEN, "--rate", "8", "--burst", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"already harvested in {out}: 8 of the plan's 80 files; 72 left" in lines, lines
    assert "at --rate 8/s: 9s of requests" in lines, lines
    assert loads == [Path(out)], loads


def test_a_plan_of_files_all_harvested_says_nothing_is_left_instead_of_next_steps(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan over a folder that holds every file it lists: it says nothing is left, and
    no `next: harvester slurm ... --submit` (a job array of tasks that would skip all)."""
    out = str(tmp_path / "d")
    common = ["--base-url", emulator.base_url, "--artifacts", "thumbnail", "--out", out]
    assert main(["harvest", *common, "--plate", "7375", "--rate", "none", "-q"]) == 0
    capsys.readouterr()
    assert main(["plan", *common, "--plate", "7375", "--rate", "none"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"planned 8 images (8 thumbnail) in {Path(out) / 'plan'}",
        f"already harvested in {out}: 8 of the plan's 8 files; 0 left",
        f"nothing left to harvest: {out} holds every file of the plan",
    ]


def test_no_estimate_without_a_limit() -> None:
    """No estimate without a rate or requests; stacks and rois say "at least"; 5 days is 5d00h."""
    assert request_time_line(1000, None, kinds=()) is None
    assert request_time_line(0, 5.0, kinds=()) is None
    assert request_time_line(100, 10.0, kinds=("thumbnail", "stack", "rois")) == (
        "at --rate 10/s: at least 10s of requests (a stack asks one request a plane; rois one"
        " a page)"
    )
    assert request_time_line(5 * 86400 * 10, 10.0, kinds=()) == (
        "at --rate 10/s: 5d00h of requests"
    )
    # Under a second: it said "0s of requests", read as no time or nothing to fetch.
    assert request_time_line(4, 10.0, kinds=()) == "at --rate 10/s: under 1s of requests"
    assert request_time_line(1, 10.0, kinds=("stack",)) == (
        "at --rate 10/s: at least 0.1s of requests (a stack asks one request a plane)"
    )
    # (never "at least 0.0s": a tenth rounded a hundredth of a second to nothing)
    assert request_time_line(1, 100.0, kinds=("stack",)) == (
        "at --rate 100/s: at least 0.01s of requests (a stack asks one request a plane)"
    )


def test_a_dry_run_says_it_too_and_repeated_artifacts_add_up(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`--artifacts thumbnail --artifacts metadata` is both (the last one alone won before)."""
    dry = run_cli("harvest", "--base-url", emulator.base_url, "--screen", DEMO_SCREEN,
                    "--artifacts", "thumbnail", "--artifacts", "metadata", "--rate", "20",
                    "--dry-run", "--out", str(tmp_path / "d"))  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-2:] == [
        "dry run: 80 images found, 160 artifacts to fetch (23 listing requests)",
        "at --rate 20/s: 8s of requests",
    ]

"""Two runs of one folder and shard on a filesystem without ``flock`` each keep their own
progress line, and ``status`` shows both.

Without ``flock`` no run lock is taken (runs go on unlocked), so two runs of one shard can
run side by side. Both kept their line in ``locks/all.progress``, and the first to end
removed the other's; ``status``, which read the line beside each lock it saw held, saw no
lock held and showed neither. Each such run now keeps ``locks/all.<run id>.progress``.
"""

from __future__ import annotations

import errno
import fcntl
import io
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec
from harvester.pipeline import RunSummary, run_harvest
from harvester.progress import Progress
from harvester.retry import zero_waits
from harvester.status import collect_status

SCREEN = 2302  # the demo screen: 80 images (the run that ends last)
PROJECT = 51  # the demo project: 8 images (the run that ends first)


def no_flock(fd: int, operation: int) -> None:
    """``fcntl.flock`` on a filesystem without it (some NFS mounts)."""
    raise OSError(errno.ENOLCK, "no locks available")


def lines_files(out: Path) -> list[Path]:
    """The progress files in ``DIR/locks``, by name."""
    return sorted((out / "locks").glob("*.progress"))


async def until(found: Callable[[], bool], what: str) -> None:
    """Poll ``found`` until it holds, for 30 s at most."""
    for _ in range(1500):
        if found():
            return
        await anyio.sleep(0.02)
    raise AssertionError(f"no {what} after 30 s")


async def test_two_unlocked_runs_keep_and_remove_their_own_lines(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No flock: two runs of DIR each publish a file; status shows both lines, each named by
    its run; the first to end removes its own only, and status then shows the other."""
    monkeypatch.setattr(fcntl, "flock", no_flock)
    emu = make_emulator(preset="demo", latency_ms=40)
    out = tmp_path / "d"

    def config(**targets: tuple[int, ...]) -> HarvestConfig:
        """A slow, quiet thumbnails harvest of ``targets`` into DIR."""
        return HarvestConfig(
            base_url=emu.base_url, out=out, artifacts=("thumbnail",), rate=None,
            concurrency=1, quiet=True, **targets,
        )  # fmt: skip

    ended: dict[str, RunSummary] = {}

    async def harvest(name: str, cfg: HarvestConfig) -> None:
        progress = Progress(file=io.StringIO(), line_interval=0.05)
        ended[name] = await run_harvest(cfg, progress=progress)

    with zero_waits(), anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            group.start_soon(harvest, "long", config(screens=(SCREEN,)))
            await until(lambda: len(lines_files(out)) == 1, "the first run's line")
            (long_file,) = lines_files(out)
            group.start_soon(harvest, "short", config(projects=(PROJECT,)))
            await until(lambda: len(lines_files(out)) == 2, "a line of each run")
            names = [path.name for path in lines_files(out)]
            assert all(name.startswith("all.") and name != "all.progress" for name in names)
            report = await anyio.to_thread.run_sync(collect_status, out)
            runs = sorted(name.removeprefix("all.").removesuffix(".progress") for name in names)
            assert sorted(live["run"] for live in report.unlocked_progress) == runs
            text = report.format_text()
            assert "running now, or stopped (no lock on this filesystem tells): " in text
            for run in runs:
                assert f"  a harvest of the whole set (run {run}): seen running " in text
            await until(lambda: "short" in ended, "the short run's end")
            assert "long" not in ended  # (the screen's run outlasts the project's)
            assert lines_files(out) == [long_file]  # the other run's line stays
            report = await anyio.to_thread.run_sync(collect_status, out)
            assert [live["run"] for live in report.unlocked_progress] == [
                long_file.name.removeprefix("all.").removesuffix(".progress")
            ]
            # The rest of the long run proves nothing by being slow: serve it without latency.
            emu.server.faults = FaultInjector(FaultSpec())
    assert ended["short"].exit_code == 0 and ended["long"].exit_code == 0
    assert lines_files(out) == []  # each run removed its own as it ended
    assert "running now" not in collect_status(out).format_text()

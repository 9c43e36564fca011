"""A long walk is visible: the progress line and ``harvester status`` say how far it is.

A sampled harvest lists the whole screen before it fetches an image; on a busy server that
took many minutes, in which the terminal showed nothing of it and ``status`` showed the run's
first line ("0 images found"), minutes old, under "still running, or stopped" of the very
walk whose run it named as running.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import DEMO_SCREEN, run_cli, run_lock_held

from harvester.cli import main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.pipeline import RunSummary, run_harvest
from harvester.plan import read_plan_info
from harvester.progress import Progress
from harvester.status import collect_status

#: The published line of a sampled walk of the demo screen (10 plates) under way.
WALKING = re.compile(
    rf"progress \(\d+s\): walking --screen {DEMO_SCREEN}: (\d+) of 10 plates listed, "
    r"(\d+) images found, 0 selected \(the sample is chosen once every image is listed\)$"
)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _sampled(base_url: str, out: Path) -> HarvestConfig:
    """A sampled harvest of the demo screen, one plate listed at a time."""
    return HarvestConfig(
        base_url=base_url, out=out, screens=(DEMO_SCREEN,), artifacts=("thumbnail",),
        rate=None, sample=5, seed=4, walk_concurrency=1, quiet=True,
    )  # fmt: skip


async def test_status_shows_how_far_a_running_walk_is(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While a sampled walk lists a slow server's screen, the line kept for status says how
    many plates are listed and images found, and status says the walk is "still running"
    (its run holds the lock); once the run is stopped, the walk is "stopped", and with
    another run holding the lock, "still running, or stopped" (that run is not the walk's)."""
    emu = make_emulator(preset="demo", latency_ms=400)  # a walk of ~20 s: stopped long before
    out = tmp_path / "d"
    live = out / "locks" / "all.progress"
    log = io.StringIO()
    progress = Progress(file=log, line_interval=0.05)
    seen: list[re.Match[str]] = []
    status: list[str] = []
    ended = anyio.Event()
    cfg = _sampled(emu.base_url, out)

    async def harvest() -> None:
        await run_harvest(cfg, progress=progress)
        ended.set()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(harvest)
            while not seen and not ended.is_set():
                await anyio.sleep(0.05)
                text = live.read_text(encoding="utf-8") if live.exists() else ""
                found = WALKING.match(text.partition("\n")[0])
                if found and int(found[1]) >= 1:
                    seen.append(found)
            assert seen, f"no walking line published: {log.getvalue()}"
            shown = await anyio.to_thread.run_sync(run_cli, "status", str(out))
            assert shown.returncode == 0, shown.stderr
            status.append(shown.stdout)
            tg.cancel_scope.cancel()
    listed, images = int(seen[0][1]), int(seen[0][2])
    assert 1 <= listed < 10 and images == 8 * listed  # 8 imaged wells a plate
    lines = status[0].splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("running now: "))
    latest = re.fullmatch(r"  latest progress line, \d+s ago: (.*)", lines[at + 1])
    shown_walk = WALKING.match(latest[1]) if latest is not None else None
    assert shown_walk is not None and int(shown_walk[1]) >= listed, status[0]
    walk = [line for line in lines if line.startswith(f"walk of --screen {DEMO_SCREEN} (run ")]
    assert len(walk) == 1 and " has not finished: still running; the images " in walk[0], walk
    assert any(WALKING.match(line) for line in log.getvalue().splitlines())  # a log says it too
    after = collect_status(out).format_text()
    assert " has not finished: stopped; " in after and "running now" not in after, after
    with run_lock_held(out, None):  # another run holds DIR now: not the walk's own
        other = collect_status(out).format_text()
    assert " has not finished: still running, or stopped; " in other, other


async def test_a_terminal_shows_the_walk_beside_images_found(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """On a terminal the first bar shows the walk's state while it lists (it drew nothing at
    all until the sample was chosen), named for what it counts, the images selected (it read
    ``images found: 0 img`` beside the walk's own count), and the run ends with its sample."""
    emu = make_emulator(preset="demo")
    term = FakeTerminal()
    progress = Progress(file=term)
    summary: list[RunSummary] = []
    with anyio.fail_after(60):
        with progress.shown():
            cfg = _sampled(emu.base_url, tmp_path / "d")
            summary.append(await run_harvest(cfg, progress=progress))
    assert summary[0].exit_code == 0 and summary[0].done == 5
    drawn = term.getvalue()
    assert re.search(
        rf"selected    : 0 img \[[^\]]*walking --screen {DEMO_SCREEN}: \d+ of 10 plates listed",
        drawn,
    ), drawn
    assert "selected    : 5 img" in drawn and "images found:" not in drawn, drawn


def test_plan_on_a_terminal_shows_its_walk(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester plan --sample` on a terminal: its ``images found`` bar (every image its walk
    found) shows how far the walk is, as a harvest's does (it showed the count alone), and
    the plan holds its sample."""
    emu = make_emulator(preset="demo")
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    out = tmp_path / "p"
    args = ["plan", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--sample", "5"]
    assert main([*args, "--rate", "none", "--out", str(out)]) == 0
    drawn = term.getvalue()
    assert re.search(
        rf"images found: \d+ img \[[^\]]*walking --screen {DEMO_SCREEN}: \d+ of 10 plates "
        r"listed, \d+ images found, 0 selected \(the sample is chosen once every image is listed",
        drawn,
    ), drawn
    assert "images found: 80 img" in drawn, drawn
    assert read_plan_info(out).images == 5

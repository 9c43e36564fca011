"""The progress line kept for ``harvester status`` survives a write that fails for a while.

One OSError writing ``DIR/locks/all.progress`` (a full disk, EIO from an NFS server) turned
publishing off for the rest of the run: a week-long harvest whose disk filled for an hour on
its first day showed ``status`` that hour's line for the rest of the week. Now the write is
tried again at a later line (``PUBLISH_RETRY`` later: once a minute; here a fifth of a
second), the harvest never fails for it, and one warning says so, not one a line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from gate_helpers import holding
from harvest_helpers import reaped, start_cli

from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.pipeline import RunSummary, run_harvest
from harvester.progress import Progress
from harvester.retry import zero_waits

SCREEN = 2302  # the demo screen: 80 images


class _Heard(logging.Handler):
    """Sets an event at the first record (in the event loop's thread, where the progress
    line is written)."""

    def __init__(self, event: anyio.Event) -> None:
        super().__init__(logging.WARNING)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


async def test_progress_line_is_published_again_after_failed_writes(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Writes of the progress line fail (its temporary name taken by a folder) for the first
    part of a run, then work again: the run ends cleanly, the file held lines of that run
    with its counts meanwhile (removed at its end), and the failures gave one warning in all."""
    emu = make_emulator(preset="demo", latency_ms=30)
    out = tmp_path / "d"
    blocker = out / "locks" / "all.progress.tmp"
    blocker.mkdir(parents=True)  # each write of the line fails (IsADirectoryError)
    cfg = HarvestConfig(
        base_url=emu.base_url, out=out, screens=(SCREEN,), artifacts=("thumbnail",), rate=None,
        concurrency=1, quiet=True,
    )  # fmt: skip
    progress = Progress(file=io.StringIO(), line_interval=0.05, publish_retry=0.2)
    summary: list[RunSummary] = []

    async def harvest() -> None:
        summary.append(await run_harvest(cfg, progress=progress))

    failed = anyio.Event()  # set by the warning of the first failed write

    seen: list[str] = []  # the lines published once writes work again, read while it runs

    async def unblock_later() -> None:
        await failed.wait()
        await anyio.sleep(0.5)  # the next lines fail too meanwhile
        blocker.rmdir()
        while not summary:
            with contextlib.suppress(FileNotFoundError):
                seen.append((out / "locks" / "all.progress").read_text(encoding="utf-8"))
            await anyio.sleep(0.02)

    caplog.set_level(logging.WARNING, logger="harvester.progress")
    heard = _Heard(failed)
    logging.getLogger("harvester.progress").addHandler(heard)
    try:
        with zero_waits(), anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(harvest)
                group.start_soon(unblock_later)
    finally:
        logging.getLogger("harvester.progress").removeHandler(heard)
    assert summary[0].exit_code == 0 and summary[0].done == 80
    published = [line for line in seen if line.startswith("progress (")]
    assert published, seen
    assert "images found" in published[-1] and "files done" in published[-1], published[-1]
    assert not (out / "locks" / "all.progress").exists()  # removed as the run ended
    warnings = [r.getMessage() for r in caplog.records if r.name == "harvester.progress"]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(
        f"cannot keep the progress line for harvester status in {out / 'locks' / 'all.progress'}"
    )
    assert "the harvest goes on; trying again every " in warnings[0]


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``path`` exists, while ``proc`` runs (bounded)."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert proc.poll() is None, proc.communicate(timeout=30)
        assert time.monotonic() < deadline, f"no {path} after 30 s"
        time.sleep(0.02)


def test_a_stopped_shard_removes_its_own_line_only(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Two shards of one folder each publish a line; SIGTERM stops one (exit 130): its line
    goes, the other shard's, still running, stays; it goes once that shard is stopped too."""
    # Every thumbnail held until both shards are stopped: neither can end first.
    emu = make_emulator(preset="demo", faults="hold:thumbnails,only:image:thumbnail")
    out = tmp_path / "d"
    locks = out / "locks"
    args = ["harvest", "--base-url", emu.base_url, "--screen", str(SCREEN), "--out", str(out),
            "--artifacts", "thumbnail", "--concurrency", "1", "--rate", "none", "-q"]  # fmt: skip
    with reaped(start_cli(*args, "--shard", "0/2")) as first, holding(emu, "thumbnails"):
        _wait_for(locks / "shard-0-of-2.progress", first)
        with reaped(start_cli(*args, "--shard", "1/2")) as second:
            _wait_for(locks / "shard-1-of-2.progress", second)
            first.send_signal(signal.SIGTERM)
            first.communicate(timeout=30)
            assert first.returncode == 130
            assert not (locks / "shard-0-of-2.progress").exists()
            assert (locks / "shard-1-of-2.progress").exists()
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)
            assert second.returncode == 130
    assert sorted(path.name for path in locks.glob("*.progress")) == []

"""``harvester demo``: the built-in IDR emulator and a harvest of its demo screen.

The emulator (``harvester.emulator``) serves the ``demo`` preset on a loopback
port from its own thread, so this process's event loop is the harvester's
alone. The harvest uses the default artifacts and the default concurrency;
the rate limit is raised to 100 requests/s because the server is local (the
IDR default, 10/s, would make the demo take half a minute for no reason).
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from harvester.config import HarvestConfig
from harvester.pipeline import ProgressSink, RunSummary, run_harvest

DEMO_SCREEN_ID = 2302
DEMO_RATE = 100.0


def demo_config(base_url: str, out: Path) -> HarvestConfig:
    """The settings of the demo harvest (what ``configs/demo.toml`` holds, plus the URL)."""
    return HarvestConfig(base_url=base_url, screens=(DEMO_SCREEN_ID,), out=out, rate=DEMO_RATE)


async def run_demo(
    out: Path, *, progress: ProgressSink | None = None, handle_signals: bool = True
) -> tuple[RunSummary, str]:
    """Start the emulator, harvest the demo screen into ``out``, stop the emulator."""
    from harvester.emulator import EmulatorThread

    emu = EmulatorThread(preset="demo")
    await anyio.to_thread.run_sync(emu.start)
    # The emulator is this process's own, on loopback: a proxy named by the environment
    # (http_proxy on an HPC node) could not reach it, so the demo's requests bypass it.
    saved = os.environ.get("no_proxy")
    bypass = (saved or os.environ.get("NO_PROXY", ""), "127.0.0.1")
    os.environ["no_proxy"] = ",".join(name for name in bypass if name)
    try:
        summary = await run_harvest(
            demo_config(emu.base_url, out), progress=progress, handle_signals=handle_signals
        )
    finally:
        if saved is None:
            del os.environ["no_proxy"]
        else:
            os.environ["no_proxy"] = saved
        await anyio.to_thread.run_sync(emu.stop)
    return summary, emu.base_url

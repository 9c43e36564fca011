"""``harvester demo``: the built-in IDR emulator and a harvest of its demo screen.

The emulator (``harvester.emulator``) serves the ``demo`` preset on a loopback
port from its own thread, so this process's event loop is the harvester's
alone. The harvest uses the default artifacts and the default concurrency;
the rate limit is raised to 100 requests/s because the server is local (the
IDR default, 10/s, would make the demo take half a minute for no reason).
A rerun into the same folder serves on the port its last run asked, when it is free.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio

from harvester.config import HarvestConfig, newest_recorded_run
from harvester.pipeline import ProgressSink, RunSummary, run_harvest

if TYPE_CHECKING:
    from harvester.emulator import EmulatorThread

DEMO_SCREEN_ID = 2302
DEMO_RATE = 100.0


def demo_config(base_url: str, out: Path) -> HarvestConfig:
    """The settings of the demo harvest (what ``configs/demo.toml`` holds, plus the URL)."""
    return HarvestConfig(base_url=base_url, screens=(DEMO_SCREEN_ID,), out=out, rate=DEMO_RATE)


def previous_port(out: Path) -> int:
    """The loopback port of the demo emulator that ``out``'s newest run asked, else 0 (any).

    Every demo serves the same deterministic data, but on a new port each time, and a
    folder's server is its URL: a rerun of ``harvester demo`` on another port warned that
    the folder was harvested from another server. Serving on the last run's port keeps it
    the folder's server. Only a plain ``http://127.0.0.1:PORT`` counts (the demo's own form).
    """
    if not out.is_dir():
        return 0
    recorded = newest_recorded_run(out, tries=3)
    if recorded is None:
        return 0
    url = urlsplit(recorded.base_url)
    try:
        port = url.port
    except ValueError:  # a saved URL with a port out of range
        return 0
    loopback = url.scheme == "http" and url.hostname == "127.0.0.1" and url.path in ("", "/")
    return port if loopback and port is not None and not url.query else 0


def _start_emulator(out: Path) -> EmulatorThread:
    """The demo emulator, started on ``out``'s previous port if that is free, else any port
    (the harvest then warns that the folder's server changed, which is then true)."""
    from harvester.emulator import EmulatorThread

    port = previous_port(out)
    if port:
        try:
            return EmulatorThread(preset="demo", port=port).start()
        except OSError:  # taken meanwhile (another demo, another server): any port
            pass
    return EmulatorThread(preset="demo").start()


async def run_demo(
    out: Path, *, progress: ProgressSink | None = None, handle_signals: bool = True
) -> tuple[RunSummary, str]:
    """Start the emulator, harvest the demo screen into ``out``, stop the emulator."""
    emu = await anyio.to_thread.run_sync(_start_emulator, out)
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

"""An emulator of the IDR / OMERO.web HTTP API on loopback, with faults and politeness stats.

Three ways to run it:

* ``async with serve(preset="demo") as emu:`` from async code (tests, the demo command);
* ``with running_emulator(preset="demo") as emu:`` (or ``EmulatorThread(...)``) from sync code;
* ``harvester emulate`` / ``python -m harvester.emulator`` as its own process
  (``spawn_emulator(args)`` starts one and returns its base URL).

The first two run the server on its own event loop in a background thread, so
the caller's event loop (the harvester's) never shares work with the server and
sync tests can use it too. The handle exposes ``base_url``, ``stats()``,
``reset_stats()``, ``app``, and ``wait_held()`` / ``release()`` for the ``hold:`` fault's
gates.

All three serve HTTPS instead of plain HTTP when given a certificate:
``ssl_context=`` (a server ``ssl.SSLContext``) in Python, ``--tls-cert FILE
[--tls-key FILE]`` on the command line; ``base_url`` then starts with
``https://``. ``idle_timeout_s=`` / ``--idle-timeout S`` sets how long an idle
keep-alive connection is kept open (75 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio

from harvester.emulator.faults import FaultSpec, parse_faults
from harvester.emulator.server import KEEPALIVE_TIMEOUT_S, Application, EmulatorServer
from harvester.emulator.stats import Stats

__all__ = [
    "EmulatorThread",
    "build_application",
    "running_emulator",
    "serve",
    "spawn_emulator",
    "start_emulator",
]

MODES = ("omeroweb", "microservice")
START_TIMEOUT_S = 30.0


def build_application(
    preset: str = "demo", seed: int = 0, mode: str = "omeroweb", **site_options: Any
) -> Application:
    """Build the IDR application (``app.build_app``); ``ValueError`` on bad preset or mode."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (choose from {', '.join(MODES)})")
    # Imported here: heavy (numpy, Pillow), and only needed when serving IDR.
    from harvester.emulator.app import build_app  # type: ignore[import-not-found,unused-ignore]

    try:
        app: Application = build_app(preset, seed, mode, **site_options)
    except KeyError as exc:  # a preset lookup that did not say what was wrong
        raise ValueError(f"unknown preset {preset!r} ({exc})") from None
    return app


def _fault_spec(faults: str | FaultSpec | None, latency_ms: float, jitter_ms: float) -> FaultSpec:
    spec = faults if isinstance(faults, FaultSpec) else parse_faults(faults)
    return spec.with_latency(latency_ms or None, jitter_ms or None)


class EmulatorThread:
    """An emulator serving on a background thread with its own event loop.

    Either pass ``app`` (any object with ``handle(Request) -> Response``) or
    the ``build_app`` arguments (``preset``, ``seed``, ``mode``, site options).
    ``ssl_context`` serves HTTPS; ``idle_timeout_s`` closes keep-alive
    connections idle that long. ``start()`` returns once the server accepts
    connections; ``stop()`` closes it and joins the thread. Also a context
    manager.
    """

    def __init__(
        self,
        preset: str = "demo",
        seed: int = 0,
        mode: str = "omeroweb",
        latency_ms: float = 0,
        jitter_ms: float = 0,
        faults: str | FaultSpec | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        app: Application | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout_s: float = KEEPALIVE_TIMEOUT_S,
        **site_options: Any,
    ) -> None:
        self.spec = _fault_spec(faults, latency_ms, jitter_ms)
        self.app: Application = (
            app if app is not None else build_application(preset, seed, mode, **site_options)
        )
        self.server = EmulatorServer(
            self.app,
            host=host,
            port=port,
            faults=self.spec,
            stats=Stats(),
            ssl_context=ssl_context,
            idle_timeout_s=idle_timeout_s,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with TLS) of the running server."""
        return self.server.base_url

    def stats(self) -> dict[str, Any]:
        """The same dict as ``GET /__emulator__/stats`` (connection counts included)."""
        return self.server.stats_snapshot()

    def reset_stats(self) -> None:
        """Zero the stats and restart the fault sequence (like ``/__emulator__/reset``)."""
        self.server.reset_stats()

    def release(self, gate: str) -> None:
        """Open the ``hold:`` gate ``gate``: its held answers are sent, later ones pass (until
        ``reset_stats()`` closes it again). Raises ``GateTimeout`` if the gate already gave
        up on an answer (the test released it too late)."""
        self.server.gates.get(gate).release()

    def wait_held(self, gate: str, count: int = 1, timeout_s: float = 60.0) -> None:
        """Return once ``count`` answers reached the closed ``hold:`` gate ``gate`` (since
        the start or the last ``reset_stats()``); ``TimeoutError`` after ``timeout_s``."""
        self.server.gates.get(gate).wait_held(count, timeout_s)

    def start(self) -> EmulatorThread:
        """Start serving; raises ``OSError`` if the address cannot be bound."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="harvester-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.server.close()

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent)."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                loop.call_soon_threadsafe(stopped.set)
        thread.join(START_TIMEOUT_S)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(**kwargs: Any) -> EmulatorThread:
    """Start an :class:`EmulatorThread` (call ``.stop()`` when done)."""
    return EmulatorThread(**kwargs).start()


@contextmanager
def running_emulator(**kwargs: Any) -> Iterator[EmulatorThread]:
    """Sync context manager: a started :class:`EmulatorThread`, stopped on exit."""
    emu = EmulatorThread(**kwargs).start()
    try:
        yield emu
    finally:
        emu.stop()


@asynccontextmanager
async def serve(
    preset: str = "demo",
    seed: int = 0,
    mode: str = "omeroweb",
    latency_ms: float = 0,
    jitter_ms: float = 0,
    faults: str | FaultSpec | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    app: Application | None = None,
    ssl_context: ssl.SSLContext | None = None,
    idle_timeout_s: float = KEEPALIVE_TIMEOUT_S,
    **site_options: Any,
) -> AsyncIterator[EmulatorThread]:
    """Async context manager: an emulator on its own thread; yields the handle.

    Starting and stopping run in a worker thread so the caller's loop keeps running.
    """
    emu = EmulatorThread(
        preset,
        seed,
        mode,
        latency_ms,
        jitter_ms,
        faults,
        host,
        port,
        app,
        ssl_context=ssl_context,
        idle_timeout_s=idle_timeout_s,
        **site_options,
    )
    await anyio.to_thread.run_sync(emu.start)
    try:
        yield emu
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(emu.stop)


def spawn_emulator(
    args: Sequence[str] = (),
    *,
    timeout: float = START_TIMEOUT_S,
    command: Sequence[str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m harvester.emulator ARGS`` and wait for its ``serving URL`` line.

    ``command`` replaces the program part (e.g. ``[python, "-m", "harvester",
    "emulate"]``). Returns the process (the caller stops it: SIGTERM, then
    ``wait()``) and the base URL. Raises ``RuntimeError`` with the process's
    stderr if it exits or stays silent. The child's stdout and stderr go to
    temporary files, not pipes, so nothing is left for the caller to drain or
    close.
    """
    program = list(command) if command else [sys.executable, "-m", "harvester.emulator"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*program, *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,  # no pipes; only types the Popen as str like most callers expect
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            # pread, not seek + read: the child writes through the same open file, whose
            # offset a seek here would move back, so a newline printed after the text of
            # the serving line (two writes) would land on its first byte.
            head = os.pread(out.fileno(), 4096, 0)
            first, newline, _rest = head.partition(b"\n")
            if newline:
                text = first.decode("utf-8", "replace").strip()
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        if text.startswith("serving "):
            return proc, text.split(" ", 1)[1]
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        err.seek(0)
        detail = err.read().decode("utf-8", "replace").strip()
        raise RuntimeError(
            f"emulator did not start: {detail or f'no serving line within {timeout:g} s'}"
        )

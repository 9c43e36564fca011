"""Shared fixtures: the anyio backend and in-process emulators on ephemeral ports.

``emulator`` is the IDR emulator (demo preset) on a background thread;
``make_emulator(**kwargs)`` starts others (presets, faults, modes, or a custom
``app=``) and stops them all at teardown; ``refused_url`` is a server URL where nothing
answers. ``fake_app`` is a tiny application for tests of the server itself (it does not
need the IDR catalogue). ``demo_run`` is one ``harvester demo`` run, shared by the tests
of what it prints and writes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from collect_gate import collection_slot
from demo_helpers import DemoRun, run_demo
from once_per_run import once_per_run
from ram_basetemp import ram_basetemp

from harvester.emulator import EmulatorThread
from harvester.emulator.http import Request, Response

# The suite talks to emulators on loopback: a proxy set on the machine (CI runners often
# have http_proxy without 127.0.0.1 in no_proxy) would take every request away from them.
# Every NAME_proxy variable (what urllib.request.getproxies() reads) is dropped for the
# whole session, subprocesses included; tests of the proxy support set theirs with
# monkeypatch.
for _name in [name for name in os.environ if name.lower().endswith("_proxy")]:
    del os.environ[_name]

# A test run started with SIGINT ignored (`cmd &` in a script without job control; some CI
# runners) hands that on to every process it starts: a `harvester` child would never see the
# Ctrl-C a test sends it. The run takes SIGINT back, so its children start as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _compile_once_per_run() -> None:
    """With ``PYTHONDONTWRITEBYTECODE`` set (container images often set it), every
    ``python -m harvester`` a test starts (over a thousand in a run) compiled the package
    from source again, half of its start-up (~0.1 s of CPU of ~0.2), and every xdist
    worker rewrote every test module's asserts. The run's processes (the workers and the
    commands the tests start) now write their bytecode into a folder of the run's own
    (``PYTHONPYCACHEPREFIX``), never into the source tree, which stays as that setting
    keeps it; the folder goes with the run. A prefix set already is left as it is."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="harvester-tests-pycache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = folder


_compile_once_per_run()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The run's temporary folders go to RAM where there is room (ram_basetemp.py): the
    harvests' fsyncs and syncfs calls no longer wait for the disk. Set before pytest's own
    hook makes the run's temporary-folder factory from ``--basetemp``; xdist workers get
    theirs from the controller, and a ``--basetemp`` given is kept as given."""
    if os.environ.get("PYTEST_XDIST_WORKER") or config.option.basetemp:
        return
    folder = ram_basetemp()
    if folder is None:
        return
    config.option.basetemp = str(folder / "pytest")
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """Under xdist, no more workers collect (compile the test modules) at once than there
    are cores; the later ones collect from the bytecode the first wrote (collect_gate.py)."""
    with collection_slot(session.config.option.basetemp):
        return (yield)


@pytest.fixture(autouse=True)
def _root_log_level_kept() -> Iterator[None]:
    """Each test ends with the root logger's level it began with: ``main([..., "--debug"])``
    in-process sets it to DEBUG for the rest of the process (as the CLI does for its own),
    and a later test on that worker whose ``caplog`` expected one line got every DEBUG
    line (test_proxy's 500-at-start test after test_credentials' --debug one)."""
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio only (trio is installed but not used)."""
    return "asyncio"


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorThread]]:
    """Factory: ``make_emulator(preset=..., faults=..., mode=..., app=...)`` -> started handle."""
    started: list[EmulatorThread] = []

    def factory(**kwargs: Any) -> EmulatorThread:
        emu = EmulatorThread(**kwargs).start()
        started.append(emu)
        return emu

    yield factory
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., EmulatorThread]) -> EmulatorThread:
    """The IDR emulator, demo preset, seed 0, no faults; ``.base_url``, ``.stats()``."""
    return make_emulator(preset="demo")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``harvester demo`` run once, as a user runs it, for the tests of what it prints and
    writes (each ran its own: ~4 s apiece at the demo's 100 requests/s). It runs as on an
    HPC node whose ``http_proxy`` no loopback request could go through (port 9, where
    nothing listens), which its own emulator must bypass. Made once per test run (not per
    xdist worker), so every worker's tests read the same ``out``, never write it.
    """
    return once_per_run(tmp_path_factory, "demo_run", lambda folder: run_demo(folder / "demo"))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT``, where connections are refused while the test runs: the
    port is bound and held, never listening (as ``harvest_helpers.refused_port``: a port
    bound and closed at once may be taken by another test's server meanwhile). For tests
    of something else that must not reach a server: ``harvester slurm`` checks the targets
    on the server, and the default (IDR) is not reachable here, its DNS may even hang."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


class FakeApp:
    """A minimal application for server tests.

    ``/json/...`` echoes the parsed request as JSON; ``/thumb/{n}/`` answers n
    bytes of image/jpeg (route ``image:thumb``); ``/webgateway/imgData/{id}/``
    honours the ``imgdata_exception`` injection; anything else is 404.
    """

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, req: Request) -> Response:
        self.calls += 1
        if req.path.startswith("/json/"):
            body = {
                "method": req.method,
                "path": req.path,
                "raw_path": req.raw_path,
                "query": [list(pair) for pair in req.query],
                "client": req.client,
                "base_url": req.base_url,
                "inject": sorted(req.inject),
                "headers": dict(req.headers),
            }
            return Response(200, json.dumps(body).encode(), "application/json", route="json")
        match = re.fullmatch(r"/thumb/(\d+)/", req.path)
        if match:
            size = int(match[1])
            data = bytes((i * 7) % 251 for i in range(size))
            return Response(200, data, "image/jpeg", route="image:thumb")
        match = re.fullmatch(r"/webgateway/imgData/(\d+)/", req.path)
        if match:
            if "imgdata_exception" in req.inject:
                obj: dict[str, Any] = {"Exception": "Zarr image cannot be read"}
            else:
                obj = {"id": int(match[1]), "size": {"width": 659}}
            return Response(200, json.dumps(obj).encode(), "application/json", route="imgData")
        return Response(404, b"<h1>Not Found</h1>", "text/html; charset=utf-8", route="404")

    def route_name(self, req: Request) -> str:
        """Stats label for faulted answers (what the real app will also offer)."""
        if req.path.startswith("/json/"):
            return "json"
        if req.path.startswith("/thumb/"):
            return "image:thumb"
        return "imgData" if "imgData" in req.path else "404"


@pytest.fixture
def fake_app() -> FakeApp:
    """A fresh :class:`FakeApp`."""
    return FakeApp()

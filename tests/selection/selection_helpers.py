"""Helpers for the training-data selection tests (a uniquely named module, so that
``pytest`` and ``python -m pytest`` both import it)."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import cli_in_process
from cli_in_process import run_cli_in_process

import harvester
from harvester.config import HarvestConfig
from harvester.emulator import build_application
from harvester.emulator.http import Request, Response
from harvester.pipeline import RunSummary, run_harvest
from harvester.retry import zero_waits

DEMO_SCREEN = 2302
DEMO_IMAGES_IN_SCREEN = 80
#: Demo image ids are 9762xxx (screen) and 18848xx (project): 7 digits, unlike well/plate ids.
_IMAGE_ID = re.compile(r"(?<!\d)(9762\d{3}|18848\d{2})(?!\d)")


class RecordingApp:
    """The demo emulator application, remembering which image ids each request named."""

    def __init__(self, preset: str = "demo") -> None:
        self.inner = build_application(preset, 0, "omeroweb")
        self.lock = threading.Lock()
        self.image_ids: list[int] = []
        #: Requests whose path contains this text answer 404 (a listing that fails for good).
        self.fail = ""

    def handle(self, req: Request) -> Response:
        if self.fail and self.fail in req.raw_path:
            return Response(404, b"not found", "text/plain", route="test:fail")
        found = _IMAGE_ID.findall(req.raw_path)
        if found and "annotation" not in req.raw_path:
            with self.lock:
                self.image_ids.extend(int(i) for i in found)
        return self.inner.handle(req)

    def take(self) -> set[int]:
        """Image ids named since the last call (then forgets them)."""
        with self.lock:
            ids, self.image_ids = set(self.image_ids), []
        return ids


class HeldRoute:
    """The demo emulator, holding requests of one route (every one, or the ``nth`` alone)
    until ``release`` is set: a run that stands still there, for a test to interrupt it.
    ``asked`` is set once a request is held."""

    def __init__(self, route: str, nth: int = 0) -> None:
        self.inner = build_application("demo", 0, "omeroweb")
        self.route = route
        self.nth = nth
        self.asked = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.seen = 0

    def handle(self, req: Request) -> Response:
        if self._holds(req):
            self.asked.set()
            self.release.wait(60)  # (blocks the emulator; bounded: a test that fails ends)
        return self.inner.handle(req)

    def _holds(self, req: Request) -> bool:
        if self.inner.route_name(req) != self.route:
            return False
        with self.lock:
            self.seen += 1
            return not self.nth or self.seen == self.nth

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)

    @contextlib.contextmanager
    def released_after(self, proc: subprocess.Popen[str]) -> Iterator[None]:
        """The block; then the held requests let go, and the CLI child ``proc`` killed and
        waited for if it still runs (a test that fails leaves neither waiting)."""
        try:
            yield
        finally:
            self.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)


def harvest(base_url: str, out: Path, **values: Any) -> RunSummary:
    """One in-process harvest of thumbnails (no retry sleeps, no rate limit)."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "out": out,
        "rate": None,
        "quiet": True,
        "artifacts": ("thumbnail",),
    }
    settings.update(values)
    cfg = HarvestConfig(**settings)
    with zero_waits():
        return anyio.run(lambda: run_harvest(cfg))


def index_rows(out: Path) -> list[dict[str, str]]:
    """The rows of DIR/index.csv as dicts."""
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def index_ids(out: Path) -> set[int]:
    return {int(row["image_id"]) for row in index_rows(out)}


def cli_env() -> dict[str, str]:
    """The environment of a CLI child that imports this very package."""
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` with this very package; bounded in time. Run in this process, kept
    to itself as a child would be (cli_in_process.py); a real child: :func:`run_cli_process`."""
    return run_cli_in_process(*args)


def run_cli_process(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` as a child process; otherwise as :func:`run_cli`."""
    return cli_in_process.run_cli_process(*args, env=cli_env())


def start_cli(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m harvester ARGS`` with this very package (its output captured)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )


# --------------------------------------------------------------------------- context columns
# (the ``fields`` preset's harvests of tests/selection/test_where_context.py and
# test_sample_per_column.py)


def thumbnail_ids(out: Path) -> set[int]:
    """The image ids of the thumbnails on disk under DIR."""
    return {int(p.name.split(".")[0]) for p in (out / "images").rglob("*.thumbnail.jpg")}


def thumbnail_requests(emu: Any) -> int:
    """How many thumbnails the emulator (an ``EmulatorThread``) was asked for."""
    return sum(emu.stats()["by_route"].get("image:thumbnail", {}).values())


def harvest_thumbnails(emu: Any, out: Path, *args: str) -> tuple[int, str, str]:
    """``harvester harvest --artifacts thumbnail`` from ``emu`` into ``out``, unthrottled:
    exit code, stdout, stderr."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--rate", "none", "--out", str(out),
        "--artifacts", "thumbnail", *args,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


# --------------------------------------------------------------------------- warnings said once
# (tests/selection/test_sample_warning_said.py and test_where_warning_said.py: which of a run's
# selection warnings it says, run after run)

PROBLEMS = "WARNING harvester.problems: "


def problems_said(stderr: str) -> list[str]:
    """The ``harvester.problems`` warning lines of a run's stderr, without their prefix."""
    lines = stderr.splitlines()
    return [line.removeprefix(PROBLEMS) for line in lines if line.startswith(PROBLEMS)]


def harvest_said(emu: Any, out: Path, *args: str) -> tuple[int, list[str]]:
    """``harvester harvest -q`` of the demo screen's thumbnails: exit code, warnings."""
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none",
        "--artifacts", "thumbnail", "--screen", str(DEMO_SCREEN), "-q", *args,
    )  # fmt: skip
    return result.returncode, problems_said(result.stderr)


def resume_said(out: Path) -> tuple[int, list[str]]:
    """``harvester harvest --out DIR -q`` (the resume of DIR's run): exit code, warnings."""
    result = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
    return result.returncode, problems_said(result.stderr)

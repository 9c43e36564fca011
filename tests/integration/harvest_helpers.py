"""Helpers for the end-to-end tests (a module with a unique name: importable
under both ``pytest`` and ``python -m pytest``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import cli_in_process
from cli_in_process import run_cli_in_process

import harvester
from harvester.config import HarvestConfig
from harvester.pipeline import RunSummary, run_harvest
from harvester.retry import zero_waits

DEMO_SCREEN = 2302
DEMO_PROJECT = 51
DEMO_IMAGES = 88  # 80 in the screen, 8 in the project
SMALL_PLATE = 7375  # 8 images


@dataclass
class Reference:
    """A completed fault-free harvest."""

    out: Path
    summary: RunSummary
    base_url: str


def harvest(base_url: str, out: Path, **values: Any) -> RunSummary:
    """Run one in-process harvest (no retry sleeps) and return its summary."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "out": out,
        "rate": None,
        "quiet": True,
    }
    settings.update(values)
    cfg = HarvestConfig(**settings)
    with zero_waits():
        return anyio.run(lambda: run_harvest(cfg))


def content(out: Path, *folders: str, base_url: str = "") -> dict[str, str]:
    """rel path -> sha256 of every file under the given folders of DIR.

    The JSON API embeds the server's own base URL in ``url:*`` links; with
    ``base_url`` it is replaced by a placeholder so that harvests from two
    emulators on different ports compare equal.
    """
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((out / folder).rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                if base_url:
                    data = data.replace(base_url.encode(), b"BASE")
                found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


def temp_files(out: Path) -> list[Path]:
    """Leftover temporary files anywhere in DIR."""
    return [p for p in out.rglob("*") if ".tmp-" in p.name or p.name.endswith(".tmp")]


def cli_env() -> dict[str, str]:
    """Environment for ``python -m harvester`` subprocesses using this very package."""
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port where connections are refused, for the block: bound and held, never
    listening. (A port bound and closed at once may be taken meanwhile by another test's
    server: a CI run found a harvest reaching an emulator on such a "closed" port.)"""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` with this very package, its output captured, bounded in time;
    ``stdin``: text on its standard input (else none: a terminal would wait). Run in this
    process, kept to itself as a child would be (cli_in_process.py): ~0.25 s of CPU less a
    call. Where a test needs a real process (signals, the exit path): :func:`run_cli_process`."""
    return run_cli_in_process(*args, stdin=stdin)


def run_cli_process(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` as a child process; otherwise as :func:`run_cli`."""
    return cli_in_process.run_cli_process(*args, stdin=stdin, env=cli_env())


def start_cli(*args: str, cwd: Path | None = None, stdin: bool = False) -> subprocess.Popen[str]:
    """Start ``python -m harvester ARGS`` (its output captured; ``stdin``: a pipe to write to)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdin=subprocess.PIPE if stdin else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=cwd,
    )


class StderrLines:
    """A CLI child's stderr, read line by line as it comes (by a thread): a test waits for
    the line that says the run reached a state (``the server looks down``) before it acts,
    instead of sleeping a while and hoping a loaded machine got there meanwhile."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="stderr-lines", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Return once a line holds ``text``; fail with what was said if the child ended (or
        ``timeout`` passed: a bound on a broken run only) without one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                ended = not self._reader.is_alive()
                assert left > 0 and not ended, f"no {text!r} on stderr: {''.join(self.lines)}"
                self._changed.wait(min(left, 1.0))

    def ended(self, timeout: float = 30.0) -> tuple[str, str]:
        """Wait for the child to end: its stdout and its whole stderr (both pipes closed, as
        ``communicate`` leaves them)."""
        self.proc.wait(timeout=timeout)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        with self.proc.stdout:
            out = self.proc.stdout.read()
        self._reader.join(timeout)
        self.proc.stderr.close()
        return out, "".join(self.lines)


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """A CLI child that is never left running: killed and waited for if the block fails."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@contextlib.contextmanager
def run_lock_held(
    out: Path, shard: str | None, *, doing: str | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a run lock of ``out`` (shard ``K/N``, or None: unsharded),
    as a harvest running there holds it (``doing``: as that command holds it, e.g.
    ``harvester forget``, its lock file naming it), until it is killed or the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from harvester.runlock import "
         "acquire_run_lock; acquire_run_lock(Path(sys.argv[1]), sys.argv[2] or None, "
         "doing=sys.argv[3] or None); print('held', flush=True); time.sleep(120)",
         str(out), shard or "", doing or ""],
        stdout=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(holder):
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder


def status_json(out: Path) -> dict[str, Any]:
    """``harvester status DIR --json``, which must exit 0, parsed."""
    proc = run_cli("status", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def kind_files(out: Path, kind: str) -> list[Path]:
    """DIR's image files of one artifact kind (``thumbnail``, ``render``, ``imgdata``...)."""
    suffix = {"thumbnail": "thumbnail.jpg", "render": "render.jpg"}.get(kind, f"{kind}.json")
    return sorted((out / "images").rglob(f"*.{suffix}"))


def interrupt(proc: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum`` to the CLI child and wait for it to end; its standard error."""
    proc.send_signal(signum)
    _stdout, stderr = proc.communicate(timeout=30)
    return stderr


def wait_for_files(out: Path, count: int, timeout: float = 30.0) -> None:
    """Until at least ``count`` artifact files exist (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        images = out / "images"
        if images.is_dir() and sum(1 for _ in images.rglob("*.*")) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} files after {timeout} s")


def spooled_copies(folder: Path) -> set[str]:
    """The copies of piped ids (``--ids-from -`` or a pipe) left in temporary ``folder``."""
    return {p.name for p in folder.glob("harvester-ids-*.txt")}


#: A length of time as messages say it (``harvester.text.duration_text``): ``2.0s``, ``45s``,
#: ``4m10s``.
_DURATION = re.compile(r"(?:(?P<m>\d+)m)?(?P<s>\d+(?:\.\d+)?)s")


def said_seconds(text: str, before: str, after: str = "") -> float:
    """The seconds of the duration a message says between ``before`` and ``after``
    (``said_seconds(line, "waited ", " for the server")``). Such a figure is measured: a
    loaded machine wakes late, so tests compare it with the limit it must reach (at least
    the ``--outage-wait`` given), never with one exact value."""
    found = re.search(re.escape(before) + r"(\S+)" + re.escape(after), text)
    assert found, f"no {before!r}DURATION{after!r} in {text!r}"
    duration = _DURATION.fullmatch(found.group(1))
    assert duration, f"{found.group(1)!r} is not a duration"
    return 60 * int(duration["m"] or 0) + float(duration["s"])


@contextlib.contextmanager
def standard_input(data: bytes) -> Iterator[None]:
    """Descriptor 0 reads ``data`` from a pipe meanwhile (what ``--ids-from -`` reads as
    ``/dev/stdin``, in process), then is put back."""
    reading, writing = os.pipe()
    saved = os.dup(0)
    try:
        os.write(writing, data)
        os.close(writing)
        writing = -1
        os.dup2(reading, 0)
        yield
    finally:
        os.dup2(saved, 0)
        for fd in (saved, reading, writing):
            if fd >= 0:
                os.close(fd)

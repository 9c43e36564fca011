"""Helpers for the reliability suite (a module with a unique name: importable under
both ``pytest`` and ``python -m pytest``).

Every harvest here runs through the real command line (``python -m harvester``
in a subprocess) against an emulator over loopback sockets, so what is proven is
what a user gets: exit codes, stderr lines, files on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harvester

DEMO_SCREEN = 2302  # 10 plates x 8 wells x 1 field = 80 images
DEMO_PROJECT = 51  # 2 datasets x 4 images
SMALL_PLATE = 7375  # 8 images
DEMO_IMAGES = 88
ARTIFACTS = ("thumbnail", "imgdata", "render", "metadata")
CLI_TIMEOUT_S = 120.0


@dataclass
class Harvested:
    """A finished harvest folder and the emulator URL it came from."""

    out: Path
    base_url: str


def cli_env() -> dict[str, str]:
    """Environment for ``python -m harvester`` subprocesses using this very package."""
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("COLUMNS", None)
    return env


def cli(
    *args: str, timeout: float = CLI_TIMEOUT_S, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m harvester ARGS`` to completion (bounded) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def start_cli(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``python -m harvester ARGS`` (output captured; the caller waits or kills)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
        cwd=cwd,
    )


def harvest_args(
    base_url: str, out: Path, *targets: str, quiet: bool = True, **flags: str
) -> list[str]:
    """``harvest`` argv: targets as given (e.g. ``"--screen", "2302"``), --quiet, flags."""
    argv = ["harvest", "--base-url", base_url, *targets, "--out", str(out)]
    argv += ["--quiet"] if quiet else []
    for name, value in flags.items():
        argv += ["--" + name.replace("_", "-"), value]
    return argv


def content(out: Path, base_url: str) -> dict[str, str]:
    """rel path -> sha256 of every artifact, study file and index.csv of DIR.

    The JSON API embeds the server's base URL in ``url:*`` links; it is replaced
    by a placeholder so that harvests from emulators on different ports compare.
    """
    found: dict[str, str] = {}
    paths = [p for folder in ("images", "study") for p in (out / folder).rglob("*")]
    paths.append(out / "index.csv")
    for path in sorted(paths):
        if path.is_file():
            data = path.read_bytes().replace(base_url.encode(), b"BASE")
            found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


def every_file(out: Path) -> dict[str, bytes]:
    """rel path -> bytes of every regular file under DIR (to prove nothing changed).

    ``locks/`` is left out: a run lock names its latest holder, it holds no data.
    """
    if not out.exists():
        return {}
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and p.relative_to(out).parts[0] != "locks"
    }


def temp_files(out: Path) -> list[Path]:
    """Leftover temporary files anywhere in DIR."""
    return [p for p in out.rglob("*") if ".tmp-" in p.name or p.name.endswith(".tmp")]


def journal_records(out: Path) -> Iterator[dict[str, Any]]:
    """Every record of every journal; any line but a torn (unterminated) last one must parse."""
    for journal in sorted((out / "journals").glob("*.jsonl")):
        lines = journal.read_bytes().split(b"\n")
        for number, line in enumerate(lines[:-1], 1):  # lines[-1]: b"" or a torn last line
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise AssertionError(
                    f"{journal.name} line {number} does not parse: {line!r}"
                ) from exc
            assert isinstance(rec, dict), (journal.name, number)
            yield rec


def done_counts(out: Path) -> Counter[tuple[str, int]]:
    """(kind, id) -> number of ``done`` records across all journals (checking each one's file)."""
    counts: Counter[tuple[str, int]] = Counter()
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for rec in journal_records(out):
        if rec.get("rec") == "done":
            key = (rec["kind"], rec["id"])
            counts[key] += 1
            latest[key] = rec
    for rec in latest.values():
        for item in [rec, *rec.get("files", [])]:
            data = (out / item["path"]).read_bytes()
            assert len(data) == item["size"], item["path"]
            assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]
    return counts


def assert_artifacts_recorded_once(
    out: Path, images: int, artifacts: Sequence[str] = ARTIFACTS
) -> None:
    """Each artifact of each image is journaled done exactly once, and its file matches."""
    counts = done_counts(out)
    per_image = {key: n for key, n in counts.items() if key[0] in artifacts}
    assert len(per_image) == images * len(artifacts), len(per_image)
    doubled = {key: n for key, n in per_image.items() if n != 1}
    assert not doubled, doubled


def assert_verify_clean(out: Path) -> None:
    """``harvester verify DIR`` re-reads every recorded file: exit 0, no problem."""
    proc = cli("verify", str(out), "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["problems"] == [], report["problems"][:5]
    assert report["checked"] == report["ok"] > 0


def error_lines(stderr: str) -> list[str]:
    """The non-blank stderr lines (after checking there is no traceback)."""
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.strip()]


def assert_one_line_error(stderr: str, *needles: str) -> str:
    """Exactly one ``error:`` line (plus optional ``hint:`` lines) naming every needle."""
    lines = error_lines(stderr)
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), stderr
    for needle in needles:
        assert needle.lower() in errors[0].lower(), (needle, stderr)
    return errors[0]


@contextmanager
def subprocess_emulator(*args: str) -> Iterator[str]:
    """An emulator in its own process (``harvester emulate ARGS``); yields its base URL."""
    from harvester.emulator import spawn_emulator

    proc, url = spawn_emulator(["--port", "0", *args])
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def harvest_with_debug_and_faults(base_url: str, out: Path) -> subprocess.CompletedProcess[str]:
    """The credentials tests' harvest: project 51's thumbnails (64 px: 404 on a 2026 IDR
    emulator, permanent failures listed with their URL) and metadata, retried faults,
    ``--debug``; exit 1 (the 404s) and the 8 metadata files asserted."""
    proc = cli(
        "harvest",
        "--base-url", base_url,
        "--project", str(DEMO_PROJECT),
        "--artifacts", "thumbnail,metadata",
        "--thumbnail-size", "64",
        "--out", str(out),
        "--rate", "none",
        "--max-retries", "6",
        "--debug",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "failed: thumbnail of image" in proc.stderr
    # (Not a bare "401": the emulator's random port may hold those digits.)
    assert "HTTP 401" not in proc.stderr and "-> 401" not in proc.stderr
    assert len(list((out / "images").rglob("*.json"))) == 8  # metadata of the 8 images
    return proc


def assert_no_file_holds(out: Path, leaks: Sequence[str]) -> list[Path]:
    """No file under ``out`` holds any of ``leaks``; DIR has its saved run config and
    index.csv (so the files a secret could reach were written). Returns the files."""
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "config.json" and p.parent.parent.name == "runs" for p in files)
    assert (out / "index.csv") in files
    for path in files:
        data = path.read_bytes()
        for leak in leaks:
            assert leak.encode() not in data, (leak, str(path.relative_to(out)))
    return files

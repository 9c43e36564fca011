"""Small loose ends of the everyday harvest, each seen from the command line.

A failed `harvester plan` left a new folder behind (empty, or holding harvest.json,
journals/ and locks/, which `status` then read as a harvest). A host that never answers
printed `server overloaded: slowing down` above `cannot reach`. A retry was counted when
scheduled, so a run stopped in its wait said `1 retry` of a request never sent. A `walk
failed:` line gave its URL without the `<...>` a file's `failed:` line has. A dry run's
Ctrl-C said `finishing what is written` of a run that writes nothing. On a terminal of
size 0 (`script` with no size set) the progress bars were blank lines.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from gate_helpers import held_after, holding
from harvest_helpers import (
    DEMO_SCREEN,
    SMALL_PLATE,
    StderrLines,
    cli_env,
    interrupt,
    reaped,
    run_cli,
    start_cli,
)

from harvester.emulator import EmulatorThread

KNOWN = "1884801"  # an image of the demo preset's project 51


def plan(base_url: str, out: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """``harvester plan`` of ``targets`` into ``out`` (in the test process, cli_in_process.py)."""
    return run_cli("plan", "--base-url", base_url, "--out", str(out), "--rate", "none", *targets)


def wait_until(done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Until ``done()`` (bounded)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.02)


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections and never answers (a silent host)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)  # the kernel accepts; nothing ever reads or writes
        yield server.getsockname()[1]


@pytest.mark.parametrize("case", ["unreachable", "unknown image"])
def test_a_failed_plan_leaves_no_new_folder(
    emulator: EmulatorThread, refused_url: str, tmp_path: Path, case: str
) -> None:
    """Exit 2 with the error, and neither DIR nor its missing parents appear, as for a
    harvest (no folder for `status` to read as a harvest that never journaled)."""
    out = tmp_path / "a" / "planned"
    if case == "unreachable":
        run = plan(refused_url, out, "--image", KNOWN)
        said = "error: cannot reach"
    else:
        run = plan(emulator.base_url, out, "--image", KNOWN, "--image", "123")
        said = "error: image 123 not found on the server"
    assert run.returncode == 2, run.stderr
    assert said in run.stderr
    assert not (tmp_path / "a").exists()


def test_a_failed_plan_into_an_existing_folder_writes_nothing(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A folder made beforehand stays as it was (empty), and a plan of known ids then works."""
    out = tmp_path / "mine"
    out.mkdir()
    run = plan(emulator.base_url, out, "--image", "123")
    assert run.returncode == 2, run.stderr
    assert list(out.iterdir()) == []
    run = plan(emulator.base_url, out, "--image", KNOWN)
    assert run.returncode == 0, run.stderr
    assert (out / "plan" / "plan.json").is_file()


@pytest.mark.parametrize("command", ["harvest", "plan"])
def test_a_silent_host_is_not_called_overloaded(tmp_path: Path, command: str) -> None:
    """Nothing answering (timeouts at the server check) is `cannot reach`, without a
    `server overloaded: slowing down` line first: nothing says the server is there."""
    with silent_port() as port:
        run = run_cli(
            command, "--base-url", f"http://127.0.0.1:{port}", "--out", str(tmp_path / "o"),
            "--image", KNOWN, "--timeout", "0.5",
        )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "error: cannot reach" in run.stderr and "timed out" in run.stderr
    assert "overloaded" not in run.stderr, run.stderr


def test_a_retry_stopped_in_its_wait_is_not_counted(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """Ctrl-C while a 429's Retry-After is waited: the summary's requests are the server's,
    and the retry that was never sent is not among them (it said `1 retry`)."""
    emu = make_emulator(preset="demo", faults="429:100%,retry-after:30s,only:image:thumb*")
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--out", str(tmp_path / "o"), "--image", KNOWN,
        "--artifacts", "thumbnail", "--rate", "none", "--debug",
    )  # fmt: skip
    with reaped(proc):
        err_lines = StderrLines(proc)
        # The 429 read and its retry scheduled, 30 s away: --debug's line says so (half a
        # second after the server answered was not a sure sign on a loaded machine).
        err_lines.wait_for("retry 1/")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = err_lines.ended()
    assert proc.returncode == 130, stderr
    served = emu.stats()["requests"]
    assert emu.stats()["by_route"]["image:thumbnail"] == {"429": 1}
    assert f"{served} requests, 0 retries" in stdout, stdout


@pytest.mark.parametrize("dry_run", [False, True])
def test_walk_failed_lines_bracket_their_redacted_url(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path, dry_run: bool
) -> None:
    """A failed listing's line ends in `<URL>`, as a failed file's does, the password of
    --base-url redacted; a dry run's line is the same."""
    emu = make_emulator(
        preset="demo", basic_auth="reader:S3CRET-PW", faults="500:100%,only:api_plate_wells"
    )
    url = emu.base_url.replace("http://", "http://reader:S3CRET-PW@")
    run = run_cli(
        "harvest", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(tmp_path / "d"),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0",
        *(["--dry-run"] if dry_run else []),
    )  # fmt: skip
    lines = [line for line in run.stderr.splitlines() if line.startswith("walk failed:")]
    shown = emu.base_url.replace("http://", "http://reader:REDACTED@")
    assert lines == [
        f"walk failed: plate {SMALL_PLATE}: HTTP 500 Internal Server Error "
        f"<{shown}/api/v0/m/plates/{SMALL_PLATE}/wells/?offset=0&limit=1000>"
    ], run.stderr
    assert "S3CRET-PW" not in run.stderr + run.stdout


def test_a_dry_runs_ctrl_c_does_not_promise_to_finish_writing(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """The log line of an interrupted dry run says it stops counting and writes nothing."""
    # Its third request (past the server check: the count's walk) held until interrupted.
    emu = make_emulator(preset="demo", faults=held_after(2, "count", "/"))
    proc = start_cli(
        "harvest", "--base-url", emu.base_url, "--out", str(tmp_path / "o"), "--screen",
        str(DEMO_SCREEN), "--rate", "none", "--dry-run",
    )  # fmt: skip
    with reaped(proc), holding(emu, "count"):
        stderr = interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "interrupted (SIGINT): stopping the count (a dry run writes nothing)" in stderr
    assert "finishing what is written" not in stderr
    assert not (tmp_path / "o").exists()


def run_on_sizeless_terminal(*args: str) -> tuple[int, str]:
    """``harvester ARGS`` with its output on a new pseudo-terminal, whose size is 0 by 0
    (as under `script` with no size set): its exit code and everything it wrote."""
    leader, follower = os.openpty()
    assert tuple(os.get_terminal_size(follower)) == (0, 0)  # (else the test proves nothing)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=cli_env(),
        )  # fmt: skip
    finally:
        os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            try:
                data = os.read(leader, 65536) if ready else b""
            except OSError:  # EIO: the child has gone and closed its end
                break
            if ready and not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bars_show_on_a_terminal_of_size_zero(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The bars are drawn (80 columns) where the terminal reports a size of 0, not left as
    blank lines above the summary."""
    code, said = run_on_sizeless_terminal(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--out", str(tmp_path / "o"), "--artifacts", "thumbnail", "--rate", "none",
    )  # fmt: skip
    assert code == 0, said
    bars = [line for line in re.split(r"[\r\n]+", said) if line.startswith("artifacts   :")]
    assert bars and all(len(line) <= 80 for line in bars), said
    assert "8 file" in bars[-1], said

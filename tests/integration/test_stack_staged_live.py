"""A harvest's summary does not call another live process's stack in progress a killed run's.

A failed or interrupted run says what ``DIR/staging`` keeps after its ``stored`` line, a
half-written stack apart. It said "a killed run's half-written stack" of every one, though a
process harvesting DIR as the run ends (one that took a lock as this run gave its own back, or
any run where the filesystem has no locks to tell) may be assembling it right then. Here the
other process takes a shard's lock while the run waits at a gate (with locks, no harvest can run
beside a whole-set run: it holds the lock file raw, as a race would leave it).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from gate_helpers import DEADLINE_S
from harvest_helpers import cli_env, reaped

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.layout import ASSEMBLY_NAME
from harvester.progress import human_bytes
from harvester.shard import in_shard

ZSTACK_IMAGE_ID = 1_300_001
#: The image whose stack the other process is assembling (any id but the run's).
OTHERS_IMAGE_ID = 1_300_002
_HOLDER = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
    "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()"
)


def _others_stack_in_progress(out: Path) -> int:
    """Another image's staging as a process assembling it has it: a plane, a half-written
    stack; the half-written stack's bytes."""
    staging = out / "staging" / str(OTHERS_IMAGE_ID)
    staging.mkdir(parents=True, exist_ok=True)
    (staging / "t00000-z00000-c000-r0000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (staging / ASSEMBLY_NAME).write_bytes(bytes(5000))
    return 5000


@contextmanager
def _live_holder(out: Path, live: bool, name: str = "shard-0-of-2.lock") -> Iterator[None]:
    """A process holding the run lock ``name`` (shard 0/2's) of ``out`` for the block
    (``live``), or only the lock file it left, as a killed one does."""
    lock = out / "locks" / name
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(holder):
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        if not live:
            holder.kill()
            holder.communicate(timeout=30)
        yield
        if live:
            holder.communicate(timeout=30)  # its standard input closed: it ends


@pytest.mark.parametrize("live", [True, False], ids=["live", "killed"])
def test_the_summary_tells_a_live_process_stack_from_a_killed_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    live: bool,
) -> None:
    """While another process holds a lock of DIR, the summary says the half-written stack
    may be its, being assembled, not a killed run's; once it is gone, a killed run's."""
    _check_staged_line(capsys, tmp_path, make_emulator, live=live, hedged=live)


@pytest.mark.parametrize(
    ("lock", "hedged"),
    [("shard-1-of-2.lock", False), ("all.lock", True)],
    ids=["sibling-shard", "whole-set"],
)
def test_a_shards_summary_heeds_only_runs_that_may_take_its_images(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    lock: str,
    hedged: bool,
) -> None:
    """Shard 0/2 (both images' shard) ends failed while another process holds ``lock``:
    the other task of its array never takes its images, so its half-written stack is a
    killed run's (the line hedged as "being assembled" before); a whole-set run's lock
    still hedges it."""
    assert in_shard(ZSTACK_IMAGE_ID, 0, 2) and in_shard(OTHERS_IMAGE_ID, 0, 2)
    _check_staged_line(
        capsys, tmp_path, make_emulator, live=True, hedged=hedged, lock=lock, shard="0/2"
    )


def _check_staged_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    *,
    live: bool,
    hedged: bool,
    lock: str = "shard-0-of-2.lock",
    shard: str | None = None,
) -> None:
    """A run failing its stack while another process holds ``lock`` (``live``) or left it;
    its summary's staged line hedged (``hedged``) or saying a killed run's."""
    emu = make_emulator(
        preset="zstack", mode="microservice", faults="first:hold+503,hold:g,only:image:render"
    )
    out = tmp_path / "d"
    failures: list[BaseException] = []
    others: list[int] = []

    def while_the_run_waits() -> None:
        try:
            emu.wait_held("g", 1, DEADLINE_S)
            others.append(_others_stack_in_progress(out))
            with _live_holder(out, live, lock):
                ready.set()
                done.wait(DEADLINE_S)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)
            ready.set()

    ready, done = threading.Event(), threading.Event()
    other = threading.Thread(target=while_the_run_waits, daemon=True)
    other.start()
    released = threading.Thread(target=lambda: (ready.wait(DEADLINE_S), emu.release("g")))
    released.start()
    try:
        code = main([
            "harvest", "--base-url", emu.base_url, "--image", str(ZSTACK_IMAGE_ID),
            "--out", str(out), "--artifacts", "stack", "--rate", "none", "--max-retries", "0",
            *(["--shard", shard] if shard else []),
        ])  # fmt: skip
        said = capsys.readouterr().out
    finally:
        done.set()
        released.join(DEADLINE_S)
        other.join(DEADLINE_S)
    assert not failures, failures[0]
    assert code == 1
    (line,) = [x for x in said.splitlines() if " staged (" in x]
    half = human_bytes(others[0])
    if hedged:
        assert f"{half} of it half-written stacks, being assembled or a killed run's)" in line
        assert line.endswith(", in progress or kept for the rerun"), line
    else:
        assert f"{half} of it a killed run's half-written stack, removed when the rerun" in line
        assert line.endswith(", kept for the rerun") and "in progress" not in line, line

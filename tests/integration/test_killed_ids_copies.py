"""A run killed while it reads piped ids (SIGKILL, the OOM killer) cannot remove its copy of
them from the temporary folder; the next copy made on the machine removes it, and nothing
that is not such litter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_helpers import held_after
from harvest_helpers import cli_env, reaped, spooled_copies, wait_for_files

from harvester import walk
from harvester.emulator import EmulatorThread
from harvester.processes import HOST, host_may_be_shared, process_start
from harvester.walk import remove_dead_runs_copies

PROJECT_IMAGES = [1884801 + n for n in range(8)]


def _piped_harvest(base_url: str, out: Path, tmp: Path) -> subprocess.Popen[str]:
    """``harvester harvest --ids-from -`` (one request at a time), its copy made in ``tmp``."""
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", base_url,
         "--ids-from", "-", "--out", str(out), "--artifacts", "thumbnail", "-q",
         "--concurrency", "1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**cli_env(), "TMPDIR": str(tmp)},
    )  # fmt: skip


@pytest.mark.skipif(
    host_may_be_shared(HOST), reason="a host named as others may be removes no copy"
)
def test_the_next_piped_run_removes_a_killed_runs_copy(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGKILL a piped harvest mid-run: its copy stays; the next piped harvest (its own copy
    removed at its end) leaves the temporary folder without any."""
    gate = "third-thumbnail"  # held until the first run is killed: it cannot end before
    slow = make_emulator(preset="demo", faults=held_after(2, gate, "image:thumbnail"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    ids = "".join(f"{i}\n" for i in PROJECT_IMAGES)
    first = _piped_harvest(slow.base_url, tmp_path / "a", tmp)
    with reaped(first):
        assert first.stdin is not None
        first.stdin.write(ids)
        first.stdin.close()
        slow.wait_held(gate)
        wait_for_files(tmp_path / "a", 2)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    slow.release(gate)  # (the second run's thumbnails then pass)
    for pipe in (first.stdout, first.stderr):
        assert pipe is not None
        pipe.close()
    assert len(spooled_copies(tmp)) == 1  # what a kill -9 leaves

    second = _piped_harvest(slow.base_url, tmp_path / "b", tmp)
    with reaped(second):
        _out, err = second.communicate(ids, timeout=120)
    assert second.returncode == 0, err
    assert spooled_copies(tmp) == set()


def _ended_pid() -> tuple[int, int]:
    """The pid and start time of a process that has ended (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = process_start(child.pid)
    child.kill()
    child.wait(timeout=30)
    return child.pid, start or 0


def test_only_copies_of_ended_runs_of_this_host_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run's copy, another host's, a copy named before 0.1.15 (no owner) and other
    files stay; an ended run's copy goes."""
    host = HOST
    if host_may_be_shared(host):  # (a machine named localhost: as one named uniquely)
        host = "node-7"
        monkeypatch.setattr(walk, "HOST", host)
    pid, start = _ended_pid()
    own = os.getpid()
    names = {
        "ended": f"harvester-ids-{host}-{pid}-{start}-abc123_x.txt",
        "live": f"harvester-ids-{host}-{own}-{process_start(own) or 0}-def456.txt",
        "other host": f"harvester-ids-elsewhere-node-{pid}-{start}-ghi789.txt",
        "old name": "harvester-ids-k3j4h5g6.txt",
        "not ours": f"notes-{host}-{pid}-{start}-x.txt",
    }
    for name in names.values():
        (tmp_path / name).write_text("1\n")

    assert remove_dead_runs_copies(tmp_path) == 1
    left = {path.name for path in tmp_path.iterdir()}
    assert left == set(names.values()) - {names["ended"]}


def test_no_copy_is_removed_where_the_host_name_may_be_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine named as many are (a container's ``localhost``), with a shared temporary
    folder, a copy named by a pid that is not alive here may be a live run's of another such
    machine: none is removed, as the store removes no temp file of such a host's writers."""
    pid, start = _ended_pid()
    for shared in ("localhost", "(none)"):
        monkeypatch.setattr(walk, "HOST", shared)
        copy = tmp_path / f"harvester-ids-{shared}-{pid}-{start}-abc123.txt"
        copy.write_text("1\n")
        assert remove_dead_runs_copies(tmp_path) == 0
        assert copy.read_text() == "1\n"

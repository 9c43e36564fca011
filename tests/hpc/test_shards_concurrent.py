"""Four shard processes on one folder, killed and restarted at random, equal one process."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hpc_helpers import (
    ARTIFACTS,
    EmulatorProcess,
    assert_each_image_fetched_once,
    assert_same_output,
    harvest_args,
    harvester_cmd,
    image_request_counts,
    run,
    temp_files,
)

SHARDS = 4
DEADLINE_S = 180


def _start(base_url: str, out: Path, k: int, logs: Path) -> subprocess.Popen[bytes]:
    cmd = harvest_args(base_url, out, "--shard", f"{k}/{SHARDS}", "--concurrency", "2")
    with (logs / f"shard-{k}.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_killed_and_restarted_shards_equal_a_single_process_run(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """SIGKILLed-and-restarted shards 0-3/4 end with the files and index of one process."""
    emu = emulator_process
    reference = tmp_path / "single"
    run(harvest_args(emu.base_url, reference))
    ref_images = image_request_counts(emu.stats())

    shared = tmp_path / "shared"
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(20260505)
    procs = {k: _start(emu.base_url, shared, k, logs) for k in range(SHARDS)}
    kills = 0
    deadline = time.monotonic() + DEADLINE_S
    while kills < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.2, 0.7))
        alive = [k for k, p in procs.items() if p.poll() is None]
        if not alive:
            break
        k = rng.choice(alive)
        os.kill(procs[k].pid, signal.SIGKILL)
        procs[k].wait(10)
        kills += 1
        procs[k] = _start(emu.base_url, shared, k, logs)
        # `harvester index` is safe while shards write: it succeeds and sees complete rows.
        if (shared / "journals").is_dir():
            run(harvester_cmd("index", str(shared)))
            header = (shared / "index.csv").read_text().splitlines()[0]
            assert header.startswith("image_id,")
    for k, proc in procs.items():
        remaining = max(1.0, deadline - time.monotonic())
        rc = proc.wait(remaining)
        assert rc == 0, (
            f"shard {k}/{SHARDS} exited {rc}:\n"
            + (logs / f"shard-{k}.log").read_text(errors="replace")[-3000:]
        )
    assert kills >= 1, "no shard was killed: the runs were too quick for the test to mean much"

    # Concurrent finishes race on index.csv; the documented last step rebuilds it.
    run(harvester_cmd("index", str(shared)))
    assert_same_output(reference, shared)
    # Each restart cleans the temporary files of dead writers: nothing is left behind.
    assert temp_files(shared) == []
    # Killed shards may refetch what they had not journaled yet, never more than that:
    # every image request of the reference run happened at least once in the sharded run.
    total = image_request_counts(emu.stats())
    assert all(total.get(route, 0) >= 2 * n for route, n in ref_images.items())


def test_unkilled_shards_fetch_every_image_exactly_once(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """Four shards run side by side fetch exactly the image requests of one process, and
    end with one file of each fileset's ``paths`` list, as one process does: each stored
    its own copies, which it made links to one as it ended (a shared folder held a copy
    a task or two, one for each of the store's two batches in flight)."""
    emu = emulator_process
    reference = tmp_path / "single"
    with_paths = ("--artifacts", f"{ARTIFACTS},paths")
    run(harvest_args(emu.base_url, reference, *with_paths))
    assert_each_image_fetched_once(image_request_counts(emu.stats()))
    emu.reset()
    shared = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            harvest_args(emu.base_url, shared, "--shard", f"{k}/{SHARDS}", *with_paths),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for k in range(SHARDS)
    ]
    for k, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=DEADLINE_S)
        assert proc.returncode == 0, f"shard {k}: {out.decode(errors='replace')[-3000:]}"
    run(harvester_cmd("index", str(shared)))
    assert_same_output(reference, shared)
    assert_each_image_fetched_once(image_request_counts(emu.stats()))
    files = _files_per_content(shared)
    assert files == _files_per_content(reference) == dict.fromkeys(files, 1)
    assert max(_names_per_content(shared).values()) > 1  # (shared files there are)


def _files_per_content(out: Path) -> dict[str, int]:
    """SHA-256 of each ``paths`` content under DIR -> how many files on disk hold it."""
    files: dict[str, set[int]] = {}
    for path in (out / "images").rglob("*.paths.json"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.setdefault(digest, set()).add(path.stat().st_ino)
    return {digest: len(inodes) for digest, inodes in files.items()}


def _names_per_content(out: Path) -> dict[str, int]:
    """SHA-256 of each ``paths`` content under DIR -> how many names it has."""
    names: dict[str, int] = {}
    for path in (out / "images").rglob("*.paths.json"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        names[digest] = names.get(digest, 0) + 1
    return names

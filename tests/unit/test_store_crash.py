"""Crash safety: SIGKILL at random moments, and two processes writing one folder at once."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from harvester.journal import JournalState, read_all
from harvester.layout import image_path, make_writer, new_run_id
from harvester.store import Store

N_IMAGES = 400

WRITER_SCRIPT = r"""
import hashlib, sys, anyio
from pathlib import Path
from harvester.layout import image_path, make_writer, new_run_id
from harvester.store import Store

def payload(i):
    return hashlib.sha256(str(i).encode()).digest() * (1 + i % 700)

async def main(out, first, last, batch, pace):
    run = new_run_id()
    writer = make_writer(run)
    async with Store.open(Path(out), run_id=run, writer=writer, batch_size=batch) as store:
        print("started", flush=True)
        for i in range(first, last):
            if not store.state.is_done("thumbnail", i):
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), payload(i))
                await anyio.sleep(pace)  # network pacing, so that kills land mid-run
    print("finished", flush=True)

out, first, last, batch, pace = sys.argv[1:6]
anyio.run(main, out, int(first), int(last), int(batch), float(pace))
"""


def payload(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * (1 + i % 700)


def spawn(script: Path, out: Path, batch: int = 16, pace: float = 0.001) -> subprocess.Popen[str]:
    """A writer of images 0..N_IMAGES-1 sleeping ``pace`` s after each (as network time would)."""
    return subprocess.Popen(
        [sys.executable, str(script), str(out), "0", str(N_IMAGES), str(batch), str(pace)],
        stdout=subprocess.PIPE,
        text=True,
    )


def assert_done_files_complete(out: Path) -> int:
    state = JournalState.load(out)
    for (kind, i), rec in state.done.items():
        data = (out / rec["path"]).read_bytes()
        assert data == payload(i), f"{kind} {i} journaled but not complete"
        assert rec["size"] == len(data) and rec["sha256"] == hashlib.sha256(data).hexdigest()
    return len(state.done)


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp-" in p.name or p.name.endswith(".pending")]


def test_sigkill_at_random_points_never_counts_a_partial_file(tmp_path: Path) -> None:
    """Killed writers leave only complete journaled files; resumes clean up and finish."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    out = tmp_path / "out"
    rng = random.Random(1234)
    done_counts = []
    for _ in range(5):
        # 5 kills after at most 0.25 s each, pacing 4 ms per image: < 320 of 400 images done.
        proc = spawn(script, out, pace=0.004)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        done_counts.append(assert_done_files_complete(out))
    assert done_counts == sorted(done_counts)
    assert 0 < done_counts[-1] < N_IMAGES  # the kills did land mid-run
    final = spawn(script, out)
    stdout, _ = final.communicate(timeout=120)
    assert final.returncode == 0 and "finished" in stdout
    assert assert_done_files_complete(out) == N_IMAGES
    assert temp_files(out) == []
    # Every file on disk is a complete, journaled one: nothing partial under a final name.
    on_disk = sorted(p for p in (out / "images").rglob("*") if p.is_file())
    assert len(on_disk) == N_IMAGES


def test_two_processes_writing_the_same_files_end_with_complete_files(tmp_path: Path) -> None:
    """Two writers on one folder: no corrupt or doubled file, duplicate done records harmless."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    out = tmp_path / "out"
    procs = [spawn(script, out, batch=8), spawn(script, out, batch=8)]
    for proc in procs:
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "finished" in stdout
    assert assert_done_files_complete(out) == N_IMAGES
    assert len(list((out / "journals").glob("*.jsonl"))) == 2
    assert temp_files(out) == []
    assert len([p for p in (out / "images").rglob("*") if p.is_file()]) == N_IMAGES
    done_records = sum(1 for r in read_all(out) if r["rec"] == "done")
    assert N_IMAGES <= done_records <= 2 * N_IMAGES


async def test_journaled_only_after_rename(tmp_path: Path) -> None:
    """At every moment, each journaled file already exists complete under its final name."""
    run = new_run_id()
    seen_bad: list[int] = []
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run), batch_size=4) as store:

        async def watcher() -> None:
            while True:
                for (_, i), rec in list(store.state.done.items()):
                    if (tmp_path / rec["path"]).read_bytes() != payload(i):
                        seen_bad.append(i)
                await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher)
            for i in range(60):
                await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), payload(i))
            await store.flush()
            tg.cancel_scope.cancel()
    assert seen_bad == []

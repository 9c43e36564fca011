"""The run lock: one harvest per folder and shard, released with its holder."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.errors import UsageError
from harvester.runlock import acquire_run_lock, lock_name, release_run_lock


def test_lock_names() -> None:
    """Unsharded runs share all.lock; each shard K/N has its own."""
    assert lock_name(None) == "all.lock"
    assert lock_name("3/8") == "shard-3-of-8.lock"


def test_second_holder_refused_until_release(tmp_path: Path) -> None:
    """A held lock refuses a second taker with the holder's pid; released, it can be taken."""
    fd = acquire_run_lock(tmp_path, None)
    assert fd is not None
    with pytest.raises(UsageError, match=r"already being harvested .* \(pid \d+ on "):
        acquire_run_lock(tmp_path, None)
    release_run_lock(fd)
    again = acquire_run_lock(tmp_path, None)
    release_run_lock(again)


def test_a_run_refused_before_the_holder_wrote_its_line_still_names_it(tmp_path: Path) -> None:
    """Two runs started at the same instant: the winner writes "pid N on HOST" just after it
    takes the lock, and the loser may look in between; it waits for the line (found by CI:
    "already being harvested ... by another process" without the pid, 1 run in many)."""
    import fcntl
    import os
    import threading

    from harvester.runlock import LOCKS_DIR

    (tmp_path / LOCKS_DIR).mkdir()
    path = tmp_path / LOCKS_DIR / lock_name(None)
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, its line not written yet
    writer = threading.Timer(0.1, lambda: os.pwrite(fd, b"pid 4242 on elsewhere\n", 0))
    writer.start()
    try:
        with pytest.raises(
            UsageError,
            match=r"by another process in a harvest of the whole set \(pid 4242 on elsewhere\)",
        ):
            acquire_run_lock(tmp_path, None)
    finally:
        writer.join()
        os.close(fd)


def test_a_run_of_another_split_is_refused_while_one_holds_the_folder(tmp_path: Path) -> None:
    """Shard 0/2 and shard 0/4 (or a run without --shard) hold many of the same images: while
    one runs, the other is refused with the holder named, and its own lock is given back
    (found by an HPC walkthrough: two arrays with different --tasks fetched images twice).
    Shards of the same split still share the folder."""
    held = acquire_run_lock(tmp_path, "0/2")
    assert held is not None
    with pytest.raises(
        UsageError, match=r"harvested by another process as shard 0/2 \(pid \d+ on "
    ):
        acquire_run_lock(tmp_path, "0/4")
    with pytest.raises(UsageError, match=r"as shard 0/2 .*different counts"):
        acquire_run_lock(tmp_path, None)
    same_split = acquire_run_lock(tmp_path, "1/2")
    release_run_lock(same_split)
    release_run_lock(held)
    # The refused runs kept nothing: both take their locks now, and a leftover lock file of
    # another split that nobody holds refuses nobody.
    quarter = acquire_run_lock(tmp_path, "0/4")
    release_run_lock(quarter)
    whole = acquire_run_lock(tmp_path, None)
    with pytest.raises(
        UsageError, match=r"harvested by another process in a harvest of the whole set \(pid "
    ):
        acquire_run_lock(tmp_path, "3/4")
    with pytest.raises(UsageError, match=r"in a harvest of the whole set") as refused:
        acquire_run_lock(tmp_path, "0/1")  # the same images as a run without --shard
    # No --shard count runs beside a run of every image: the hint says only to wait.
    assert refused.value.hint == "wait for it to finish"
    release_run_lock(whole)
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == [
        "all.lock", "shard-0-of-1.lock", "shard-0-of-2.lock", "shard-0-of-4.lock",
        "shard-1-of-2.lock", "shard-3-of-4.lock",
    ]  # fmt: skip


def test_another_splits_probe_does_not_refuse_a_run(tmp_path: Path) -> None:
    """A run of another split (or ``harvester slurm``) probes this lock file with a shared
    flock for an instant; a run taking its lock in that instant was refused as "already being
    harvested", naming whoever last ran with the file (long gone). It now takes the lock."""
    import fcntl
    import os
    import threading

    from harvester.runlock import LOCKS_DIR

    (tmp_path / LOCKS_DIR).mkdir()
    path = tmp_path / LOCKS_DIR / lock_name(None)
    path.write_text("pid 4242 on long-gone\n")  # left by an earlier run
    probe = os.open(path, os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shard 0/2's probe, looking now
    looked = threading.Timer(0.05, lambda: fcntl.flock(probe, fcntl.LOCK_UN))
    looked.start()
    try:
        fd = acquire_run_lock(tmp_path, None)
    finally:
        looked.join()
        os.close(probe)
    assert fd is not None
    assert path.read_text() == f"pid {os.getpid()} on {__import__('socket').gethostname()}\n"
    release_run_lock(fd)


def test_probe_tells_free_held_and_gone_lock_files_apart(tmp_path: Path) -> None:
    """The one probe behind the three lock readers: a free file is free, a held one is held
    with its holder's line and the command it names, if no harvest (only when asked for), a
    missing one is gone, and probing takes nothing: the holder keeps its lock and a free
    file can still be locked."""
    import fcntl
    import os

    from harvester.runlock import _probe

    free, held = tmp_path / "free.lock", tmp_path / "held.lock"
    free.write_text("pid 1 on earlier\n")
    held.write_text("pid 4242 on elsewhere\n")
    fd = os.open(held, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        assert _probe(free) == ("free", "", "")
        assert _probe(held) == ("held", "pid 4242 on elsewhere", "")
        assert _probe(held, holder=False) == ("held", "", "")
        assert _probe(tmp_path / "missing.lock") == ("gone", "", "")
        other = os.open(free, os.O_RDWR)
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the probe left nothing behind
        finally:
            os.close(other)
    finally:
        os.close(fd)


@pytest.mark.parametrize("typed", ["0 / 4", "00/4", " 0/04"])
def test_a_shard_typed_with_spaces_or_zeros_takes_that_shards_lock(
    tmp_path: Path, typed: str
) -> None:
    """``--shard "0 / 4"`` is shard 0/4: its lock is shard-0-of-4.lock, so a run of 0/4 is
    refused beside it (as typed, it took "shard-0 -of- 4.lock", which no check read)."""
    assert lock_name(typed) == "shard-0-of-4.lock"
    held = acquire_run_lock(tmp_path, typed)
    assert held is not None
    try:
        with pytest.raises(UsageError, match="already being harvested"):
            acquire_run_lock(tmp_path, "0/4")
    finally:
        release_run_lock(held)

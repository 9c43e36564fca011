"""Which live runs may be working on a shard's images (a failed shard's staged stacks).

A failed or interrupted run's summary words its staged stacks "in progress or kept for the
rerun" when another run may be harvesting DIR. A shard of a job array asked about every
lock, its siblings' too: ending while they ran, it called its own half-written stack "being
assembled or a killed run's", though no sibling ever takes its images. The lock files are
held here as a running run holds them (an exclusive ``flock`` on another open file).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harvester.runlock import LOCKS_DIR, others_may_harvest_shard, others_may_hold


@contextmanager
def held(out: Path, name: str) -> Iterator[None]:
    """``DIR/locks/name`` held by a live run for the block."""
    folder = out / LOCKS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A DIR where every shard of two, and a whole-set run, took a lock once (all free now)."""
    folder = tmp_path / LOCKS_DIR
    folder.mkdir()
    for name in ("all.lock", "shard-0-of-2.lock", "shard-1-of-2.lock"):
        (folder / name).write_text("pid 1 on elsewhere\n")
    return tmp_path


def test_no_lock_held_is_no_other_run(out: Path) -> None:
    """Lock files nobody holds (killed runs') are no other run, for a shard or the whole set."""
    assert not others_may_harvest_shard(out, "0/2")
    assert not others_may_harvest_shard(out, None)


def test_a_sibling_shard_running_never_works_on_this_shards_images(out: Path) -> None:
    """Shard 1/2 runs: shard 0/2's staged stacks are not its work (the whole set's run
    would be, which is why ``others_may_hold`` still says yes)."""
    with held(out, "shard-1-of-2.lock"):
        assert not others_may_harvest_shard(out, "0/2")
        assert not others_may_harvest_shard(out, " 0 / 2 ")  # (as typed: the same shard)
        assert others_may_harvest_shard(out, None)
        assert others_may_hold(out, None)


@pytest.mark.parametrize(
    "name",
    [
        "shard-0-of-2.lock",  # this task resubmitted, running as the summary is written
        "all.lock",  # a harvest of the whole set, which takes every image
        "shard-2-of-3.lock",  # another split's shard, whose images overlap
    ],
)
def test_a_run_that_may_take_this_shards_images_counts(out: Path, name: str) -> None:
    """This shard resubmitted, a whole-set run or another split's shard may take its images."""
    with held(out, name):
        assert others_may_harvest_shard(out, "0/2")


def test_no_locks_folder_is_no_other_run(tmp_path: Path) -> None:
    """A folder without a locks folder holds no other run."""
    assert not others_may_harvest_shard(tmp_path, "0/2")

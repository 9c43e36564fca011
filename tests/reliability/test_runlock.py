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
    other = acquire_run_lock(tmp_path, "0/2")  # another shard: no conflict
    release_run_lock(other)
    release_run_lock(fd)
    again = acquire_run_lock(tmp_path, None)
    release_run_lock(again)

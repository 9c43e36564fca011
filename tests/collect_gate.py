"""Test modules compiled by as many xdist workers at once as there are cores, not by all.

Every xdist worker collects the whole suite, and collecting is mostly pytest rewriting the
asserts of ~450 test modules and Python compiling the package and its libraries (about 15 s
of CPU on a clean clone, or wherever the run's bytecode folder is new: see conftest's
``_compile_once_per_run``). The four workers of ``-n 4`` did it at once on a 2-core machine:
four times the work, about 30 s before the first test. Here a worker collects holding one of
``cores`` slots (file locks in the run's shared temporary folder): the first ones compile and
write the bytecode; a later one waits for a slot, then collects from that bytecode (about 3 s
of CPU). Whatever a worker holds is released when it ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

#: How often a waiting worker looks for a free slot.
POLL_S = 0.05


@contextmanager
def collection_slot(basetemp: str | None) -> Iterator[None]:
    """Hold a collection slot of this test run while the body runs (no gate outside xdist:
    ``basetemp``, an xdist worker's own temporary folder, names the run's shared one)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not basetemp:
        yield
        return
    root = Path(basetemp).parent
    with ExitStack() as files:
        slots = [
            files.enter_context(open(root / f"collect-slot-{k}.lock", "w")) for k in range(_cores())
        ]
        while not any(_took(slot.fileno()) for slot in slots):
            time.sleep(POLL_S)
        yield  # (closing the files releases the slot taken)


def _took(fd: int) -> bool:
    """Whether the lock on ``fd`` was free, and is now this process's."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _cores() -> int:
    """The cores this process may run on (more workers than that compile no faster)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (macOS has no sched_getaffinity)
        return os.cpu_count() or 1

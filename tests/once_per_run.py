"""A session fixture's value made once per test run, not once per xdist worker.

Under ``pytest -n 4`` a session-scoped fixture runs in every worker that has a test using
it: ``harvester demo`` and the reference harvest (~4 s of CPU each) ran four times, on two
cores shared with the other workers' tests. Here the first worker to ask makes the value in
the run's shared temporary folder (the parent of the workers' own, as pytest-xdist names
them) under a file lock; the others wait for it and load it. The value must be picklable,
and whatever it names on disk is shared by every worker: tests read it, never write it.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

#: How long a worker waits for another to make the value (a demo run takes seconds; its
#: own timeout is 120 s).
WAIT_S = 300.0


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T]
) -> T:
    """``make(folder)`` run once per test run (``folder``: a new empty folder of that run);
    its value, the same in every worker. Without xdist, simply ``make`` in a new folder."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent
    saved = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        _lock(lock.fileno(), name)
        if saved.is_file():
            value: T = pickle.loads(saved.read_bytes())
            return value
        # (a folder of this attempt's own: a worker whose attempt failed left its folder)
        value = make(Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root)))
        partial = saved.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(value))
        partial.replace(saved)
        return value


def _lock(fd: int, name: str) -> None:
    """Take the lock on ``fd``, waiting (bounded) while another worker makes the value."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"another worker made {name} for over {WAIT_S:g} s") from None
            time.sleep(0.05)

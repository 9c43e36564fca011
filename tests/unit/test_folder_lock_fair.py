"""A ``folder_lock`` wait with a deadline queues for the lock: holders never starve it.

The wait tried ``LOCK_NB`` every 50 ms: while others took the lock in turn, each holding it
for milliseconds, it was always held when looked at, the deadline passed, and the block ran
unlocked (eight processes writing ``servers.json`` at once lost an entry so on a loaded
machine). ``flock`` locks an open file, so threads with their own opens contend as processes.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from harvester.runlock import LOCKS_DIR, folder_lock

LOCK = "fair.lock"
#: Each waiter's deadline: a hundred of the holders' turns.
WAIT = 3.0


def hold_in_turns(path: Path, done: threading.Event) -> None:
    """Take the lock (blocking), hold it 30 ms, give it back, 5 ms later queue again: two
    of these keep it held but for the instant one hands it to the other."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        while not done.is_set():
            fcntl.flock(fd, fcntl.LOCK_EX)
            time.sleep(0.03)
            fcntl.flock(fd, fcntl.LOCK_UN)
            time.sleep(0.005)
    finally:
        os.close(fd)


def test_waiters_get_a_lock_taken_in_turns_by_others(tmp_path: Path) -> None:
    """Eight waiters with a deadline, while two holders take the lock in turns: each holds
    it before its deadline (a poller found it held at every look and ran unlocked)."""
    (tmp_path / LOCKS_DIR).mkdir()
    done = threading.Event()
    holders = [
        threading.Thread(target=hold_in_turns, args=(tmp_path / LOCKS_DIR / LOCK, done))
        for _ in range(2)
    ]
    for holder in holders:
        holder.start()
    held: list[bool] = []

    def wait_for_it() -> None:
        with folder_lock(tmp_path, LOCK, wait=WAIT) as got:
            held.append(got)

    waiters = [threading.Thread(target=wait_for_it) for _ in range(8)]
    try:
        time.sleep(0.05)  # (the holders' turns have begun)
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join(WAIT + 30)
    finally:
        done.set()
        for holder in holders:
            holder.join(30)
    assert not any(t.is_alive() for t in waiters + holders)
    assert held == [True] * 8

"""The thread that queues a ``folder_lock`` wait in the kernel (``runlock._QueuedFlock``).

A wait with a deadline or a ``stop`` has a thread do a blocking ``flock`` on a duplicate
of the lock file's descriptor while the caller waits on an event. Two ways that went wrong:
a Ctrl-C that the kernel hands to another thread than the main one (macOS may pick any
thread; Linux does when the main one has a signal pending) was seen only when the main
thread's wait for that event ended, up to the whole wait (2 minutes for the index lock)
later; the waiting loop it replaced looked every 50 ms. And a Ctrl-C raised inside
``Thread.start`` (the new thread already running) had the caller close the duplicate
that the thread still used, then the thread close it again: by then the number of
another file of the process, opened meanwhile. And an NFS client whose server cannot call
back (NFSv4.0) queues nobody: its blocking ``flock`` asks again on its own, 1, 2, 4 ... 30 s
apart, so a lock freed meanwhile went untaken for seconds (3 asks in the 5 s of
``servers.json``, 100 for the loop before the queue): the caller tries it too at each look.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harvester.runlock import LOCKS_DIR, _QueuedFlock, flock_exclusive, folder_lock

LOCK = "queued.lock"
#: Bounds every wait of these tests; the waits under test are far longer.
WAIT = 60.0

#: Waits (600 s) in its main thread for argv[1]'s lock, which the test holds; another
#: thread of it takes a SIGINT once the wait's own thread is queued. Exit 130 on the
#: KeyboardInterrupt, 3 if the lock was ever had.
WAITER = """
import signal, sys, threading, time
from pathlib import Path
from harvester.runlock import folder_lock

def elsewhere():
    deadline = time.monotonic() + 60
    while not any(t.name.startswith("flock-") for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # this thread takes it

threading.Thread(target=elsewhere, daemon=True).start()
try:
    with folder_lock(Path(sys.argv[1]), "queued.lock", wait=600):
        sys.exit(3)
except KeyboardInterrupt:
    sys.exit(130)
"""


@contextmanager
def held(path: Path) -> Iterator[None]:
    """``path``'s lock held by an open file of this test (as another process would)."""
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def free_to_others(path: Path) -> bool:
    """Whether another open file of ``path`` (as another process) can lock it now."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def open_files() -> set[str]:
    """The paths this process has open now (other tests' threads may open and close files
    meanwhile: a path, not a count, tells this test's own apart)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # (closed meanwhile)
            continue
    return found


def test_a_lock_is_the_open_files_whichever_descriptor_took_it(tmp_path: Path) -> None:
    """The ``flock`` facts the waiting thread and its caller rely on (Linux): taken through
    the caller's descriptor, a blocking ``flock`` on a duplicate returns at once, and
    closing that duplicate keeps the lock; closing the caller's too lets it go. Taken
    through the duplicate, a ``LOCK_NB`` try on the caller's descriptor succeeds."""
    path = tmp_path / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    duplicate = os.dup(fd)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    fcntl.flock(duplicate, fcntl.LOCK_EX)  # (would wait forever, were the lock another's)
    os.close(duplicate)
    assert not free_to_others(path)
    os.close(fd)
    assert free_to_others(path)

    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    duplicate = os.dup(fd)
    fcntl.flock(duplicate, fcntl.LOCK_EX)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(duplicate)
        assert not free_to_others(path)
    finally:
        os.close(fd)
    assert free_to_others(path)


def test_a_lock_freed_while_the_queued_flock_is_not_woken_is_taken_at_the_next_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiting thread's ``flock`` not woken when the holder lets go (as an NFS client
    between its own retries): a ``folder_lock`` wait of 10 s still gets the lock, held for
    the block, not the block run unlocked once the 10 s are over. The lock goes at the
    block's end, the thread still asleep with its duplicate; no file of the process stays
    open on it once the thread, woken at last, has closed that duplicate."""
    path = tmp_path / LOCKS_DIR / LOCK
    asleep, wake = threading.Event(), threading.Event()
    sleepers: list[threading.Thread] = []

    def not_woken(self: _QueuedFlock, duplicate: int) -> None:
        if not self._owned.acquire(blocking=False):
            return
        sleepers.append(threading.current_thread())
        asleep.set()
        wake.wait(WAIT)
        self._ended(duplicate)  # (closes the duplicate, as the real one does)

    monkeypatch.setattr(_QueuedFlock, "_take", not_woken)
    seen: list[bool] = []

    def wait_for_it() -> None:
        with folder_lock(tmp_path, LOCK, wait=10.0) as got:
            seen.extend([got, free_to_others(path), str(path) in open_files()])

    waiter = threading.Thread(target=wait_for_it)
    try:
        with held(path):
            waiter.start()
            assert asleep.wait(WAIT)
        waiter.join(WAIT)
        assert not waiter.is_alive()
        assert seen == [True, False, True]  # held, and by this wait's file alone
        # Let go at the block's end while the thread, not woken yet, still holds its
        # duplicate (locks31b: the close alone kept it until the client's next retry).
        assert free_to_others(path)
    finally:
        wake.set()
    sleepers[0].join(WAIT)
    assert not sleepers[0].is_alive()
    assert free_to_others(path)
    assert str(path) not in open_files()


def test_ctrl_c_taken_by_another_thread_ends_a_long_wait_for_a_lock(tmp_path: Path) -> None:
    """A SIGINT delivered to a thread other than the main one, which waits 10 minutes for
    a held lock: the process ends on it (exit 130) while the lock is still held, not once
    the wait is over."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    with held(tmp_path / LOCKS_DIR / LOCK):
        proc = subprocess.Popen([sys.executable, "-c", WAITER, str(tmp_path)], env=env)
        try:
            assert proc.wait(timeout=WAIT) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)


def test_ctrl_c_inside_thread_start_leaves_the_processes_other_files_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt out of ``Thread.start`` once the waiting thread runs: the wait
    ends on it, the lock is still taken for the caller's file when it comes free, and a
    file opened meanwhile (given the number the duplicate had, were it closed) stays open."""
    path = tmp_path / LOCKS_DIR / LOCK
    real_start = threading.Thread.start

    def interrupted_start(self: threading.Thread) -> None:
        real_start(self)
        if self.name.startswith("flock-"):
            raise KeyboardInterrupt

    with held(path):
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            monkeypatch.setattr(threading.Thread, "start", interrupted_start)
            with pytest.raises(KeyboardInterrupt):
                flock_exclusive(fd, WAIT, poll=0.05)
            monkeypatch.undo()
            waiter = next(t for t in threading.enumerate() if t.name.startswith("flock-"))
            other = os.open(tmp_path / "other", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except BaseException:
            os.close(fd)
            raise
    try:
        waiter.join(WAIT)  # the lock came free: the thread took it, and ended
        assert not waiter.is_alive()
        os.write(other, b"still mine")
        assert os.pread(other, 10, 0) == b"still mine"
        # Taken for the caller's file, which holds it until it is closed.
        with pytest.raises(BlockingIOError):
            probe = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
            finally:
                os.close(probe)
    finally:
        os.close(fd)
        os.close(other)


def test_a_wait_with_no_thread_to_be_had_still_waits_for_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread can be started (a cap on a user's threads): a wait for a held lock still
    waits (tried again in turn, as before the queue), then goes on unlocked as documented,
    not with a RuntimeError out of ``folder_lock``; its files are all closed again."""

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    before = sorted(os.listdir("/proc/self/fd"))
    with held(tmp_path / LOCKS_DIR / LOCK):
        monkeypatch.setattr(threading.Thread, "start", no_thread)
        with folder_lock(tmp_path, LOCK, wait=0.2) as got:
            assert got is False
    with folder_lock(tmp_path, LOCK, wait=0.2) as got:
        assert got is True
    assert sorted(os.listdir("/proc/self/fd")) == before

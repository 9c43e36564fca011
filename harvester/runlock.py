"""One harvest at a time per output folder and shard: a clear refusal instead of double work.

Two processes harvesting the same folder with the same shard would each fetch
everything (neither sees the other's journal until it starts again): the files
stay correct, but the server gets twice the load the user configured. So a run
takes an exclusive ``flock`` on ``DIR/locks/<shard>.lock`` (``all.lock`` without
``--shard``, ``shard-K-of-N.lock`` with it) for as long as its store is open, and
a second run of the same shard is refused with a one-line error naming the
holder. Runs of different shards (HPC job arrays) do not conflict.

The kernel drops the lock when its holder dies (SIGKILL included), so a crash
never leaves a stale lock. Filesystems without ``flock`` support (some parallel
filesystems mount without it) run unlocked, as before.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import time
from pathlib import Path

from harvester.errors import UsageError

__all__ = ["LOCKS_DIR", "acquire_run_lock", "lock_name", "release_run_lock"]

logger = logging.getLogger(__name__)

LOCKS_DIR = "locks"
#: flock() errors meaning "this filesystem cannot lock": run without the lock.
_UNSUPPORTED = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


def lock_name(shard: str | None) -> str:
    """``all.lock`` or ``shard-K-of-N.lock`` for a shard spec ``"K/N"``."""
    if not shard:
        return "all.lock"
    k, _, n = shard.partition("/")
    return f"shard-{k}-of-{n}.lock"


def acquire_run_lock(out_dir: Path, shard: str | None) -> int | None:
    """Lock DIR for this shard; returns the lock's fd (None when the filesystem cannot lock).

    Raises :class:`UsageError` when another live process holds the same lock.
    """
    folder = out_dir / LOCKS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / lock_name(shard)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_holder(fd)
        os.close(fd)
        if exc.errno in _UNSUPPORTED:
            logger.debug("no run lock (%s does not support flock: %s)", folder, exc)
            return None
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            which = f"shard {shard}" if shard else "this folder"
            raise UsageError(
                f"{out_dir} is already being harvested ({which}) by another process"
                + (f" ({holder})" if holder else ""),
                hint="wait for it to finish or stop it, then run again to resume",
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return fd


def release_run_lock(fd: int | None) -> None:
    """Give the lock back (closing the fd releases the flock)."""
    if fd is not None:
        os.close(fd)


#: How long a refused run waits for the holder to write its "pid N on HOST" line.
HOLDER_WAIT = 0.5


def _read_holder(fd: int) -> str:
    """The holder's "pid N on HOST" line, or "" if unreadable.

    The holder writes it just after taking the lock: a run refused in between (two runs
    started at the same instant) would read an empty file, so it looks again for a moment.
    """
    deadline = time.monotonic() + HOLDER_WAIT
    while True:
        try:
            text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        except OSError:
            return ""
        if text or time.monotonic() >= deadline:
            return text
        time.sleep(0.01)

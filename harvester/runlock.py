"""One harvest at a time per output folder and shard: a clear refusal instead of double work.

Two processes harvesting the same folder with the same shard would each fetch
everything (neither sees the other's journal until it starts again): the files
stay correct, but the server gets twice the load the user configured. So a run
takes an exclusive ``flock`` on ``DIR/locks/<shard>.lock`` (``all.lock`` without
``--shard``, ``shard-K-of-N.lock`` with it) for as long as its store is open, and
a second run of the same shard is refused with a one-line error naming the
holder. Runs of different shards of one split (HPC job arrays) do not conflict.

Shards of different splits do: shard 0/2 holds half of the images and shard 0/4
a quarter, much of it the same quarter, and an unsharded run holds them all. Their
locks have different names, so after taking its own lock a run also looks at the
locks of every other split in DIR (a shared ``flock`` probe, dropped at once) and
is refused, naming the holder, while one of them is held. Two such runs starting
at the same instant may both be refused, never both run.

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

__all__ = [
    "LOCKS_DIR",
    "acquire_run_lock",
    "held_run_locks",
    "lock_name",
    "other_split_holding",
    "others_may_hold",
    "release_run_lock",
]

logger = logging.getLogger(__name__)

LOCKS_DIR = "locks"
#: flock() errors meaning "this filesystem cannot lock": run without the lock.
_UNSUPPORTED = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})
#: flock() errors meaning "another process holds it".
_HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})


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
        _lock_exclusive(fd)
    except OSError as exc:
        holder = _read_holder(fd)
        os.close(fd)
        if exc.errno in _UNSUPPORTED:
            logger.debug("no run lock (%s does not support flock: %s)", folder, exc)
            return None
        if exc.errno in _HELD:
            which = f"shard {shard}" if shard else "this folder"
            raise UsageError(
                f"{out_dir} is already being harvested ({which}) by another process"
                + (f" ({holder})" if holder else ""),
                hint="wait for it to finish or stop it, then run again to resume",
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    other = other_split_holding(out_dir, shard)
    if other is not None:
        os.close(fd)
        # A run without --shard holds every image: no split can run beside it.
        hint = (
            "wait for it to finish"
            if other.startswith("without --shard")
            else "wait for it to finish, or use its --shard count (harvester slurm: the same"
            " --tasks)"
        )
        raise UsageError(
            f"{out_dir} is being harvested by another process {other}: shards of different"
            " counts (or a run without --shard) hold the same images",
            hint=hint,
        )
    return fd


#: How long a run keeps trying for its own lock before it is refused. Why: another
#: split's :func:`other_split_holding` (or ``harvester slurm``) holds a shared ``flock``
#: on this file for an instant while it looks; a run starting in that instant was refused
#: as "already being harvested", naming whoever last ran with this lock (long gone).
#: A real holder holds it for the whole run, so waiting this long refuses it all the same.
PROBE_WAIT = 0.25


def _lock_exclusive(fd: int) -> None:
    """``flock(LOCK_EX | LOCK_NB)``, tried again for :data:`PROBE_WAIT` while it is busy."""
    deadline = time.monotonic() + PROBE_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            busy = exc.errno in _HELD
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(0.01)


def _split_of(name: str) -> str | None:
    """The shard count N of ``shard-K-of-N.lock`` ("all" for ``all.lock``), None for other files.

    ``all`` is a split of its own: even shard 0/1 (the same images) is another run's lock file.
    """
    if name == lock_name(None):
        return "all"
    stem, _, n = name.removesuffix(".lock").rpartition("-of-")
    if not stem.startswith("shard-") or not n.isdigit() or not name.endswith(".lock"):
        return None
    return n


def other_split_holding(out_dir: Path, shard: str | None) -> str | None:
    """Who holds DIR with another split than ``shard``'s, or None.

    As ``as shard 0/2 (pid N on HOST)`` or ``without --shard (...)``. Each lock file of
    another split is probed with a non-blocking shared ``flock``, released at once: it
    succeeds on a free file (left by an earlier run) and fails on a held one. Files of
    ``shard``'s own split are not opened, so the tasks of one job array never look at
    each other's locks. Also used by ``harvester slurm`` before it writes a script.
    """
    folder = out_dir / LOCKS_DIR
    mine = _split_of(lock_name(shard))
    try:
        with os.scandir(folder) as entries:
            others = sorted(e.name for e in entries if _split_of(e.name) not in (None, mine))
    except OSError:  # no locks folder yet: nobody holds anything
        return None
    for name in others:
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # removed meanwhile, or unreadable: nobody to refuse for
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in _HELD:
                    continue  # a filesystem without flock: runs there go unlocked too
                holder = _read_holder(fd)
                theirs = "without --shard" if name == lock_name(None) else _shard_text(name)
                return theirs + (f" ({holder})" if holder else "")
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return None


def others_may_hold(out_dir: Path, own: str | None) -> bool:
    """Might a run other than this one hold a run lock of DIR (any shard, any split)?

    False only when every run lock file but ``own`` (the name of the lock this process
    holds, :func:`lock_name`; None: it holds none) is provably free: a non-blocking shared
    ``flock`` on it succeeds (and is dropped at once). Every doubt answers True: a held
    lock, a filesystem without ``flock`` (free and held look alike there), a file or the
    folder that cannot be read. Why: a folder's kept setting may be changed only while
    nobody can be about to write a file made with the old one
    (:func:`harvester.folder_settings.repinnable`). Unlike :func:`other_split_holding`,
    the shards of this run's own split are probed too: a shard of the same array writes
    into the same folder. No ``locks`` folder: no run ever took a lock here, so none
    holds one.
    """
    folder = out_dir / LOCKS_DIR
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if _split_of(e.name) is not None and e.name != own]
    except FileNotFoundError:
        return False
    except OSError:
        return True
    for name in names:
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # removed meanwhile: nobody holds it
            continue
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            return True
        finally:
            os.close(fd)
    return False


def held_run_locks(out_dir: Path) -> list[str]:
    """The harvests running in DIR now, as ``shard 1/4 (pid N on HOST)`` or ``without
    --shard (...)``, in lock-file order; empty when none (or no ``flock`` here).

    For ``harvester status``: while shards run it said "to resume: sbatch ..." as if they
    had stopped; and for ``plan --force``, refused while any runs. Each lock file gets the
    shared, non-blocking probe of :func:`other_split_holding`, dropped at once (a run
    starting meanwhile waits :data:`PROBE_WAIT` for it).
    """
    folder = out_dir / LOCKS_DIR
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if _split_of(e.name) is not None)
    except OSError:
        return []
    held: list[str] = []
    for name in names:
        try:
            fd = os.open(folder / name, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _HELD:
                    holder = _read_holder(fd)
                    what = (
                        "without --shard"
                        if name == lock_name(None)
                        else _shard_text(name).removeprefix("as ")
                    )
                    held.append(what + (f" ({holder})" if holder else ""))
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    return held


def _shard_text(name: str) -> str:
    """``as shard 0/2`` for ``shard-0-of-2.lock``."""
    k, _, n = name.removeprefix("shard-").removesuffix(".lock").partition("-of-")
    return f"as shard {k}/{n}"


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

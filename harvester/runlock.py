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

The short writes that processes sharing DIR must not interleave (the marker, index.csv)
hold a lock of their own in ``DIR/locks`` for the write alone: :func:`folder_lock`.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from harvester.errors import FolderBusyError, FolderInUseError, SplitHeldError
from harvester.layout import RUN_ID_PATTERN
from harvester.shell_words import shell_quote

__all__ = [
    "FLOCK_HELD",
    "FLOCK_UNSUPPORTED",
    "LOCKS_DIR",
    "LockWaitStopped",
    "POLL",
    "acquire_run_lock",
    "flock_exclusive",
    "folder_lock",
    "held_run_locks",
    "held_run_locks_named",
    "holder_run",
    "is_harvest_holder",
    "lock_name",
    "other_split_holding",
    "others_may_hold",
    "progress_name",
    "release_run_lock",
    "remove_stale_progress",
    "unlocked_progress",
    "unlocked_run_text",
]

logger = logging.getLogger(__name__)

#: Seconds between two refreshes of the progress file of a run that holds no lock (a
#: filesystem without ``flock``): its time is set anew this often while the run lives, even
#: when nothing happens (a progress line is written only at the first event a minute on).
UNLOCKED_FRESH_EVERY = 60.0
#: Such a file this much older than that (seconds) belongs to a run that stopped without
#: removing it (``kill -9``, the out-of-memory killer, a node gone): ``status`` says so,
#: and the next run in DIR removes it. Ten refreshes missed, for a busy NFS server's room.
UNLOCKED_STALE_AFTER = 10 * UNLOCKED_FRESH_EVERY

LOCKS_DIR = "locks"
#: flock() errors meaning "this filesystem cannot lock": run without the lock. ENOTSUP
#: beside EOPNOTSUPP: one number on Linux, two on macOS, whose filesystems without locks
#: (smbfs, some NFS mounts) answer ENOTSUP, which was raised as a failure of the run.
FLOCK_UNSUPPORTED = frozenset(
    {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
)
#: flock() errors meaning "another process holds it".
FLOCK_HELD = frozenset({errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES})


def lock_name(shard: str | None) -> str:
    """``all.lock`` or ``shard-K-of-N.lock`` for a shard spec ``"K/N"``.

    K and N as numbers, not as typed: ``--shard "0 / 4"`` (or ``00/4``) is shard 0/4 and
    takes its lock; as typed it took ``shard-0 -of- 4.lock``, a file no other run, status
    or split check read as a lock, so a run of ``0/4`` (or of ``0/2``) ran beside it."""
    if not shard:
        return "all.lock"
    from harvester.shard import parse_shard  # (only a shard's run: not at every start-up)

    parsed = parse_shard(shard)
    return f"shard-{parsed.k}-of-{parsed.n}.lock"


#: The line under the holder's "pid N on HOST" line naming a holder that is no harvest.
_DOING_PREFIX = "doing "

#: The holder a resume names while it drops a target set refused before it did any work
#: (:func:`harvester.config.drop_refused_set`): it harvests DIR's other sets right after.
DROPPING_SET = "harvester harvest, dropping a target set refused before it did any work"


def acquire_run_lock(out_dir: Path, shard: str | None, doing: str | None = None) -> int | None:
    """Lock DIR for this shard; returns the lock's fd (None when the filesystem cannot lock).

    ``doing``: the command of a holder that is no harvest (``harvester forget``, which holds
    DIR while it records its change), written into the lock file for a run it refuses to say.

    Raises :class:`FolderBusyError` when another live process holds the same lock (exit 75),
    :class:`SplitHeldError` (a UsageError, exit 2) when a split of another shard count runs.
    """
    folder = out_dir / LOCKS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / lock_name(shard)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _flock_polled(fd, PROBE_WAIT, poll=0.01)
    except OSError as exc:
        holder, theirs = _read_lock_file(fd)
        os.close(fd)
        if exc.errno in FLOCK_UNSUPPORTED:
            logger.debug("no run lock (%s does not support flock: %s)", folder, exc)
            return None
        if exc.errno in FLOCK_HELD:
            if theirs:
                raise _held_by_command(out_dir, holder, theirs) from None
            which = _holder_text(lock_name(shard), holder, shard_prefix="as ")
            raise FolderBusyError(
                f"{out_dir} is already being harvested by another process {which}",
                hint=_busy_hint(out_dir, shard, holder),
            ) from None
        raise
    os.ftruncate(fd, 0)
    text = f"{holder_line()}\n"
    if doing:
        text += f"{_DOING_PREFIX}{' '.join(doing.split())}\n"
    os.write(fd, text.encode())
    other = other_split_holding(out_dir, shard)
    if other is not None:
        os.close(fd)
        command = _command_holding(out_dir) if shard else None
        if command is not None:  # (harvester forget: no split, a moment's wait)
            raise _held_by_command(out_dir, *command)
        # A harvest of the whole set holds every image: no split can run beside it.
        hint = (
            "wait for it to finish"
            if other.startswith(WHOLE_SET_HOLDER)
            else "wait for it to finish, or use its --shard count (harvester slurm: the same"
            " --tasks)"
        )
        raise SplitHeldError(
            f"{out_dir} is being harvested by another process {other}: shards of different"
            f" counts (or {WHOLE_SET_RUN}) hold the same images",
            hint=hint,
            whole_set=other.startswith(WHOLE_SET_HOLDER),
        )
    return fd


def _held_by_command(out_dir: Path, holder: str, doing: str) -> FolderInUseError:
    """The refusal of a run while a command that is no harvest holds DIR's run lock.

    Why: ``harvester forget --gone-ids-from ... --check-server`` holds it while it asks the
    server, and a harvest started then was told DIR "is already being harvested ... in a
    harvest of the whole set" and that "nothing needs doing if it finishes": no harvest ran,
    and the one refused was never run again by whoever believed it."""
    who = f"{doing} ({holder})" if holder else doing
    hint = "it harvests nothing: run this command again once it has ended"
    if doing == DROPPING_SET:
        # A resume dropping a refused set harvests DIR's other sets next: "harvests
        # nothing" sent its user back into "already being harvested".
        hint = (
            "it resumes DIR's other target sets next: run this command again once that "
            f"resume has ended (harvester status {shell_quote(str(out_dir))} shows how it goes)"
        )
    return FolderInUseError(
        f"{out_dir} is in use by another process: {who}, which holds it while it records "
        "its change",
        hint=hint,
    )


def _command_holding(out_dir: Path) -> tuple[str, str] | None:
    """The holder line and command of a command that is no harvest holding DIR's
    ``all.lock`` (``harvester forget``), or None. Why: a shard started meanwhile was refused
    as beside "a harvest of the whole set" of another split count, exit 2, a person asked
    to look (a job array's tasks failed so), for a wait of a moment."""
    path = out_dir / LOCKS_DIR / lock_name(None)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        holder, doing = _read_lock_file(fd)
    finally:
        os.close(fd)
    if not doing or _probe(path, holder=False)[0] != "held":
        return None
    return holder, doing


#: What the busy hint (:func:`_busy_hint`) says is left once the run already going
#: finishes: nothing, for a copy of its own command. Not so for a resume it stops before
#: its other target sets (:func:`harvester.cli.harvest._stop_on_busy_folder`): those still
#: need the command, and that hint says so instead.
NOTHING_LEFT = "nothing needs doing if it finishes"


def _busy_hint(out_dir: Path, shard: str | None, holder: str) -> str:
    """What a second copy of a run says (a task of a job array started twice, say): the
    copy already going does the work. Why: "run again to resume", read in a task's log,
    asked for a run the running copy makes needless."""
    from harvester.shard import parse_shard

    work = f"shard {parse_shard(shard)}'s work" if shard else "this work"
    who = f"the run already going ({holder})" if holder else "the run already going"
    return (
        f"{who} is doing {work}: {NOTHING_LEFT}; harvester status "
        f"{shell_quote(str(out_dir))} shows how it goes (and the line that resumes it, if "
        "it stops short)"
    )


def holder_line() -> str:
    """``pid N on HOST``: this process, as its lock file names it."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def holder_run(out_dir: Path, shard: str | None) -> str | None:
    """The run id of the run holding this shard's lock, from its progress file's ``run ID``
    line (None: no such file or line yet, not a run id, or not the holder's file).

    The file counts only when written since the lock file was (its holder writes its "pid N
    on HOST" line there as it takes the lock), as ``status`` reads it: a killed run's file
    stays until the next holder writes its own (once it has opened DIR), and a refusal in
    between named the dead run, and its targets, as the one going. Its modification time,
    not a holder line in the file: an older version's ``status`` reads all that follows
    the ``run ID`` line as the run id.

    Why: a refused run compares the holder's saved settings with its own, to say whether
    the holder does its work (see ``Harvest._busy_elsewhere``)."""
    folder = out_dir / LOCKS_DIR
    path = folder / progress_name(lock_name(shard))
    try:
        text = path.read_text("utf-8", errors="replace")
        written = path.stat().st_mtime
        taken = (folder / lock_name(shard)).stat().st_mtime
    except OSError:
        return None
    if written < taken:  # (the file of a run before the holder)
        return None
    for line in text.splitlines():
        run = line.removeprefix("run ").strip()
        if line.startswith("run ") and re.fullmatch(RUN_ID_PATTERN, run):
            return run
    return None


#: How long a run keeps trying for its own lock before it is refused. Why: another
#: split's :func:`other_split_holding` (or ``harvester slurm``) holds a shared ``flock``
#: on this file for an instant while it looks; a run starting in that instant was refused
#: as "already being harvested", naming whoever last ran with this lock (long gone).
#: A real holder holds it for the whole run, so waiting this long refuses it all the same.
PROBE_WAIT = 0.25


class LockWaitStopped(Exception):
    """A wait for a lock another process holds, given up because ``stop`` was set: the
    run that waited is stopping (Ctrl-C, SIGTERM). Raised by :func:`flock_exclusive` and
    :func:`folder_lock` given ``stop``; that run catches it (it never reaches the CLI)."""


def flock_exclusive(
    fd: int, wait: float | None, *, poll: float, stop: threading.Event | None = None
) -> None:
    """``flock(LOCK_EX)`` on ``fd``, waited for in the kernel's queue for ``wait`` seconds
    while another process holds it (None: until it is free).

    Raises the OSError otherwise: errno in :data:`FLOCK_HELD` when still held after ``wait``,
    in :data:`FLOCK_UNSUPPORTED` when the filesystem cannot lock; the caller decides.
    ``stop``: raises :class:`LockWaitStopped` once it is set while the lock is still held
    (at once if set before: a free lock is still taken, and so is one that a wait of this
    process given up before takes for an instant on its way out, :func:`_queued_here_end`),
    looked at every ``poll`` seconds.
    Why: a harvest's index write waits in a worker thread, which no cancellation reaches;
    Ctrl-C waited out the 2 minutes that ``harvester index`` could hold the lock.

    Queued: a try between turns of others that each hold the lock for milliseconds found it
    held at every look (eight processes writing ``servers.json`` at once), and gave up at its
    deadline while they all had theirs (:class:`_QueuedFlock`). And tried again every ``poll``
    seconds besides: an NFS client whose server cannot call back (NFSv4.0) queues nobody,
    and asks again itself 1, 2, 4 ... 30 s apart, 3 times in the 5 s of ``servers.json``.
    A free lock costs one ``flock`` call, as before.
    """
    if wait is None and stop is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except OSError as exc:
        if exc.errno not in FLOCK_HELD or (wait is not None and wait <= 0):
            raise
    if stop is not None and stop.is_set():
        if _queued_here_end(fd, GIVEN_UP_GRACE):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in FLOCK_HELD:
                    raise
        raise LockWaitStopped(f"fd {fd}: the wait for its lock was stopped")
    try:
        queued = _QueuedFlock(fd)
    except RuntimeError:  # no thread to be had (a cap on a user's threads): as before
        logger.debug("fd %d: no thread to queue for its lock; trying it every %s s", fd, poll)
        _flock_polled(fd, wait, poll=poll, stop=stop)
        return
    queued.wait(wait, poll=poll, stop=stop)


#: How long a wait with its ``stop`` set already gives the waits this process queued before
#: for the same lock file (:class:`_QueuedFlock`) to end, when it finds the lock held.
GIVEN_UP_GRACE = 0.25

#: This process's :class:`_QueuedFlock` threads not yet ended, by lock file (device, inode):
#: each one's event, set once it has ended and closed its duplicate.
_queued: dict[tuple[int, int], set[threading.Event]] = {}
_queued_guard = threading.Lock()


def _queued_here_end(fd: int, within: float) -> bool:
    """Whether waits of this process queued for ``fd``'s lock file (given up on: a wait
    with its ``stop`` set now) were there and have all ended within ``within`` seconds.

    Why: one given up on stays queued, and when the holder ends it takes the lock for an
    instant (then lets it go): a harvest stopped while ``harvester index`` held the index
    lock, writing its index as that ended, could find the lock held by its own given-up
    wait and, its ``stop`` set, write nothing (a free lock refused: test_folder_lock_reentry
    caught it). One still queued after ``within`` seconds waits behind a real holder."""
    st = os.fstat(fd)
    with _queued_guard:
        pending = list(_queued.get((st.st_dev, st.st_ino), ()))
    deadline = time.monotonic() + within
    return bool(pending) and all(
        done.wait(max(0.0, deadline - time.monotonic())) for done in pending
    )


class _QueuedFlock:
    """A blocking ``flock(LOCK_EX)`` on a duplicate of ``fd`` in a daemon thread, which the
    caller waits for with a deadline and a ``stop``, neither of which a blocking ``flock``
    has.

    A duplicate shares ``fd``'s open file, which is what ``flock`` locks: taken through it,
    the lock is ``fd``'s, and the thread closes its duplicate (the lock stays while ``fd``
    is open). Given up on (the deadline, ``stop``), the thread stays queued until the lock
    is free, takes it and closes its duplicate: the lock goes when the caller's ``fd`` has
    been closed too, so a caller that goes on unlocked holds it for the rest of that block
    at most (as if it had had it: never a write unguarded that would have been guarded).
    The caller also tries ``LOCK_NB`` on ``fd`` every ``poll`` seconds (:meth:`wait`): taken
    so, the lock is the same open file's, and the thread's ``flock`` on the duplicate, once
    it wakes, returns at once (Linux: a lock its open file holds already) and closes it as
    always. Until then the duplicate keeps the lock: an NFS client asking again on its own
    (see :func:`flock_exclusive`) holds it up to its next retry (30 s at most) after the
    caller's block, the wait the caller no longer made.
    Never used for a run lock, whose probes (:func:`_probe`) must not see a waiter that
    gave up take it for an instant: :func:`_flock_polled`.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._error: OSError | None = None
        self._done = threading.Event()
        # Who closes the duplicate: the thread, or the caller when its start fails; the
        # first to take this, never both (see below).
        self._owned = threading.Lock()
        st = os.fstat(fd)
        self._file = (st.st_dev, st.st_ino)
        duplicate = os.dup(fd)  # (not inherited by children: Python makes it so)
        with _queued_guard:
            _queued.setdefault(self._file, set()).add(self._done)
        try:
            threading.Thread(
                target=self._take, args=(duplicate,), name=f"flock-{fd}", daemon=True
            ).start()
        except BaseException:
            # No thread to be had (RuntimeError), or a Ctrl-C raised in ``start`` while it
            # waited for a thread that already runs: that one may be in its ``flock`` on the
            # duplicate, and closed it again once done, by then maybe the number of another
            # file of the process. So the duplicate is closed here only when not yet its.
            if self._owned.acquire(blocking=False):
                self._ended(duplicate)
            raise

    def _take(self, duplicate: int) -> None:
        if not self._owned.acquire(blocking=False):
            return  # (closed by the caller, whose start failed)
        try:
            fcntl.flock(duplicate, fcntl.LOCK_EX)
        except OSError as exc:
            self._error = exc
        finally:
            self._ended(duplicate)

    def _ended(self, duplicate: int) -> None:
        """Close the duplicate (the lock goes if the caller's fd is closed), then say so."""
        try:
            os.close(duplicate)
        finally:
            with _queued_guard:
                pending = _queued[self._file]
                pending.discard(self._done)
                if not pending:
                    del _queued[self._file]
            self._done.set()

    def wait(self, wait: float | None, *, poll: float, stop: threading.Event | None) -> None:
        """Until the thread, or a try of the caller's own every ``poll`` seconds
        (:meth:`_taken_here`), has the lock (returns) or the thread failed (its OSError); an
        OSError ``EWOULDBLOCK`` after ``wait`` seconds, :class:`LockWaitStopped` once
        ``stop`` is set (looked at every ``poll`` seconds, after that try).

        Never more than ``poll`` seconds in one wait for the thread, ``stop`` or not. Why: a
        main thread blocked in that wait sees a signal only if the kernel hands it to that
        very thread; one taken by another (macOS may pick any thread, this one among them;
        Linux does when the main thread has a signal pending) ran its Ctrl-C handler only
        when the wait ended, 2 minutes on for ``harvester index``. Python runs the handlers
        between the main thread's steps, so every ``poll`` seconds at the latest."""
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            look = poll if left is None else min(poll, left)
            if self._done.wait(look):
                break
            if self._taken_here():
                return
            if stop is not None and stop.is_set():
                raise LockWaitStopped(f"fd {self._fd}: the wait for its lock was stopped")
        if not self._done.is_set():
            raise BlockingIOError(errno.EWOULDBLOCK, f"fd {self._fd}: still held after {wait} s")
        if self._error is not None:
            raise self._error

    def _taken_here(self) -> bool:
        """Whether a ``LOCK_NB`` try on the caller's ``fd`` takes the lock now. Why: a lock
        freed while the thread's ``flock`` is not woken for it (an NFS client between its own
        retries) is taken at the next ``poll``, as the loop before the queue took it. Any
        failure leaves it to the thread, whose ``flock`` says what it is."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _flock_polled(
    fd: int, wait: float | None, *, poll: float, stop: threading.Event | None = None
) -> None:
    """:func:`flock_exclusive` without a queue: ``LOCK_NB`` tried every ``poll`` seconds
    for ``wait`` seconds (None: until it is free), until ``stop`` is set.

    For a run lock (:func:`acquire_run_lock`), waited for only while another split's probe
    holds it for an instant: a waiter given up on in a queue would take it for an instant
    after its holder ends, and ``status`` (:func:`_probe`) see a run going that is not.
    And for a wait that can have no thread to queue it (:func:`flock_exclusive`).
    """
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in FLOCK_HELD or (
                deadline is not None and time.monotonic() >= deadline
            ):
                raise
        if stop is None:
            time.sleep(poll)
        elif stop.wait(poll):  # (True at once when set)
            raise LockWaitStopped(f"fd {fd}: the wait for its lock was stopped")


#: How often a wait on another process looks again: its removal of DIR
#: (``Store._still_there_a_while``); a wait for its lock (:func:`folder_lock`), queued, at
#: its ``stop``, for signals and, besides the queue, at the lock itself (see
#: :func:`flock_exclusive`).
POLL = 0.05


#: The :func:`folder_lock` blocks this thread is inside: lock file -> what the outermost
#: block yielded (whether it holds the lock).
_inside = threading.local()


@contextmanager
def folder_lock(
    out_dir: Path,
    name: str,
    *,
    wait: float | None = None,
    denied_ok: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[bool]:
    """Hold ``DIR/locks/<name>`` (an exclusive ``flock``) for the block; yields whether held.

    Without flock support (some parallel filesystems) the block runs unlocked; so it does,
    with a debug line, when another process still holds the lock after ``wait`` seconds
    (None: wait as long as it holds it), and with ``denied_ok`` when this user may not open
    the lock file (another user's, in a shared folder: what the block writes then says
    whether it can). Raises OSError when the lock file cannot be made or opened otherwise,
    and :class:`LockWaitStopped` when ``stop`` is set while another process holds the lock
    (see :func:`flock_exclusive`): the block does not run.

    Reentrant within a thread: a block for the same lock file inside another (an index
    write holding DIR's index lock from its read of ``split.json`` to its last table, each
    table's :func:`harvester.index.write_table` taking it again) yields what the outer
    block did and takes nothing. Why: ``flock`` locks an open file, not a process, so a
    second open of the file waited for this very thread, and went on unlocked only after
    ``wait`` seconds. Other threads of the process still wait for the holder.
    """
    folder = out_dir / LOCKS_DIR
    key = os.path.abspath(folder / name)
    held: dict[str, bool] = _inside.__dict__.setdefault("held", {})
    if key in held:
        yield held[key]
        return
    folder.mkdir(exist_ok=True)
    try:
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError as exc:
        if not denied_ok:
            raise
        logger.debug("%s not taken (%s): going on unlocked", folder / name, exc)
        held[key] = False
        try:
            yield False
        finally:
            del held[key]
        return
    try:
        held[key] = _flock_within(fd, folder / name, wait, stop)
        yield held[key]
    finally:
        if held.pop(key, False):
            # Released explicitly, not by the close alone: a queued wait's thread may
            # still hold a duplicate of fd (on NFSv4.0 it sleeps between the client's
            # retries, up to 30 s), which kept the lock past the block.
            with suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)  # releases the flock


def _flock_within(
    fd: int, path: Path, wait: float | None, stop: threading.Event | None = None
) -> bool:
    """Take an exclusive ``flock`` on ``fd`` within ``wait`` seconds (None: however long),
    unless ``stop`` is set first (:class:`LockWaitStopped`)."""
    try:
        flock_exclusive(fd, wait, poll=POLL, stop=stop)
        return True
    except OSError as exc:
        if exc.errno in FLOCK_HELD:  # another process holds it
            logger.debug("%s still held after %.0f s: going on unlocked", path, wait)
        elif exc.errno in FLOCK_UNSUPPORTED:
            logger.debug("%s not taken (this filesystem cannot flock: %s)", path, exc)
        else:
            raise
        return False


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

    As ``as shard 0/2 (pid N on HOST)`` or ``in a harvest of the whole set (...)``. Each
    lock file of another split gets :func:`_probe`: it succeeds on a free file (left by an
    earlier run) and fails on a held one. Files of ``shard``'s own split are not opened, so the
    tasks of one job array never look at each other's locks. Also used by ``harvester
    slurm`` before it writes a script.
    """
    folder = out_dir / LOCKS_DIR
    mine = _split_of(lock_name(shard))
    try:
        with os.scandir(folder) as entries:
            others = sorted(e.name for e in entries if _split_of(e.name) not in (None, mine))
    except OSError:  # no locks folder yet: nobody holds anything
        return None
    for name in others:
        # Gone or unreadable: nobody to refuse for; no flock: runs there go unlocked too.
        state, holder, doing = _probe(folder / name)
        if state == "held":
            return _holder_text(name, holder, shard_prefix="as ", doing=doing)
    return None


def others_may_hold(out_dir: Path, own: str | None) -> bool:
    """Might a run other than this one hold a run lock of DIR (any shard, any split)?

    False only when every run lock file but ``own`` (the name of the lock this process
    holds, :func:`lock_name`; None: it holds none) is provably free (:func:`_probe`).
    Every doubt answers True: a held lock, a filesystem without ``flock`` (free and held
    look alike there), a file or the folder that cannot be read. Why: a folder's kept
    setting may be changed only while nobody can be about to write a file made with the
    old one (:func:`harvester.folder_settings.repinnable`). Unlike
    :func:`other_split_holding`, the shards of this run's own split are probed too: a
    shard of the same array writes into the same folder. No ``locks`` folder: no run
    ever took a lock here, so none holds one.
    """
    return _may_hold(out_dir, lambda name: name != own)


def others_may_harvest_shard(out_dir: Path, shard: str | None) -> bool:
    """Might another run be harvesting images of ``shard`` (None: the whole set) in DIR now?

    Asked once this run gave its own lock back (a failed or interrupted run's summary of
    the stacks it left staged): as :func:`others_may_hold`, every doubt answering True,
    but the other shards of ``shard``'s own split are left out, as they never harvest its
    images. Why: a shard ending while the rest of its job array runs called its own
    half-written stack "being assembled or a killed run's", which no running task could be
    assembling. Still probed: ``shard``'s own lock (a resubmission of this task) and every
    lock of another split (the whole set, another split's shards), whose images overlap.
    """
    mine, split = lock_name(shard), _split_of(lock_name(shard))
    return _may_hold(out_dir, lambda name: name == mine or _split_of(name) != split)


def _may_hold(out_dir: Path, probed: Callable[[str], bool]) -> bool:
    """Whether a run lock file of DIR that ``probed`` names is held, or may be (no flock,
    unreadable); False when no ``locks`` folder exists."""
    folder = out_dir / LOCKS_DIR
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if _split_of(e.name) is not None and probed(e.name)]
    except FileNotFoundError:
        return False
    except OSError:
        return True
    # A file removed meanwhile: nobody holds it.
    return any(_probe(folder / name, holder=False)[0] not in ("free", "gone") for name in names)


#: How ``harvester status`` names the run holding ``all.lock``: "running now: without
#: --shard (pid N on HOST)" named a flag not given, not the run.
WHOLE_SET_RUN = "a harvest of the whole set"
#: ... and how the refusals of another run name it, in the same words: "DIR is being
#: harvested by another process in a harvest of the whole set (pid N on HOST)".
WHOLE_SET_HOLDER = f"in {WHOLE_SET_RUN}"


def held_run_locks(out_dir: Path) -> list[str]:
    """The harvests running in DIR now, as ``shard 1/4 (pid N on HOST)`` or ``a harvest of
    the whole set (...)``, in lock-file order; empty when none (or no ``flock`` here).

    For ``harvester status``: while shards run it said "to resume: sbatch ..." as if they
    had stopped; and for ``plan --force``, refused while any runs. Each lock file gets
    :func:`_probe` (a run starting meanwhile waits :data:`PROBE_WAIT` for it).
    """
    return [text for _name, text in held_run_locks_named(out_dir)]


def held_run_locks_named(out_dir: Path) -> list[tuple[str, str]]:
    """:func:`held_run_locks` with each lock file's name: ``("all.lock", "a harvest of the
    whole set (pid N on HOST)")``; the name finds the run's :func:`progress_name` file."""
    folder = out_dir / LOCKS_DIR
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if _split_of(e.name) is not None)
    except OSError:
        return []
    held: list[tuple[str, str]] = []
    for name in names:
        state, holder, doing = _probe(folder / name)
        if state == "held":
            text = _holder_text(name, holder, shard_prefix="", whole=WHOLE_SET_RUN, doing=doing)
            held.append((name, text))
    return held


def progress_name(lock: str, run: str | None = None) -> str:
    """``all.progress`` for ``all.lock``: the file in ``DIR/locks`` where the run holding that
    lock keeps its latest progress line, for ``harvester status`` (a run of days is checked
    on from another shell, which cannot see its log's rate, time left or pause).

    ``run``: the id of a run that holds no lock (a filesystem without ``flock``), whose file
    is ``all.<run>.progress``, its own. Why: there two runs of one shard run side by side,
    and with one name the first to end removed the other's line (:func:`unlocked_progress`
    finds them for ``status``). A run holding its lock keeps the one name: none other can
    hold it, and a killed run's line is replaced by the next run's, not left behind."""
    stem = lock.removesuffix(".lock")
    return f"{stem}.{run}.progress" if run else f"{stem}.progress"


def unlocked_progress(out_dir: Path) -> list[tuple[str, str, Path]]:
    """The progress files of runs that hold no lock (:func:`progress_name` given ``run``):
    ``(lock name, run id, path)`` each, in name order; none when ``DIR/locks`` cannot be read.

    Each such run removes its own file as it ends, so a file here is a run still going, or
    one that was killed: a live run refreshes it every :data:`UNLOCKED_FRESH_EVERY`, so
    one not refreshed for :data:`UNLOCKED_STALE_AFTER` is a killed run's (no ``flock``
    tells them apart here)."""
    try:
        with os.scandir(out_dir / LOCKS_DIR) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".progress"))
    except OSError:
        return []
    found = []
    for name in names:
        stem, dot, run = name.removesuffix(".progress").partition(".")
        lock = f"{stem}.lock"
        if dot and run and _split_of(lock) is not None:
            found.append((lock, run, out_dir / LOCKS_DIR / name))
    return found


def remove_stale_progress(out_dir: Path) -> list[str]:
    """Remove the progress files of runs holding no lock (:func:`unlocked_progress`) that
    are stale (not refreshed for :data:`UNLOCKED_STALE_AFTER`); return the ids of their
    runs. Never a fresh one: another live run's.

    Why: each such run removes its own file as it ends, but one killed (``kill -9``) left
    it forever, and ``status`` went on showing it, its age growing. A file that cannot be
    removed (or was meanwhile) is left to the next run."""
    removed = []
    for _lock, run, path in unlocked_progress(out_dir):
        try:
            if time.time() - path.stat().st_mtime <= UNLOCKED_STALE_AFTER:
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(run)
    if removed:
        logger.info("removed the progress lines of stopped runs %s", ", ".join(removed))
    return removed


def unlocked_run_text(lock: str, run: str) -> str:
    """``a harvest of the whole set (run ID)``, ``shard 0/2 (run ID)``: how ``status`` names
    a run that holds no lock (no "pid N on HOST" line is written without one)."""
    return _holder_text(lock, f"run {run}", shard_prefix="", whole=WHOLE_SET_RUN)


#: What :func:`_probe` found: a free lock file, one another process holds, one removed
#: meanwhile ("gone"), one that cannot be opened, or one ``flock`` fails on otherwise
#: (a filesystem without it).
_ProbeState = Literal["free", "held", "gone", "unreadable", "no-flock"]


def _probe(path: Path, *, holder: bool = True) -> tuple[_ProbeState, str, str]:
    """Probe one lock file with a non-blocking shared ``flock``, dropped at once.

    Returns the state and, when held and ``holder`` is asked for, the holder's "pid N on
    HOST" line and the command it names when it is no harvest (:func:`_read_lock_file`;
    "" otherwise: reading it may wait :data:`HOLDER_WAIT` for a run that just took its
    lock, a wait a caller that only needs "held or not" should not pay).
    Shared, so that two runs probing the same file at once do not see each other as a
    holder; non-blocking, so that a held lock answers at once.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return "gone", "", ""
    except OSError:
        return "unreadable", "", ""
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in FLOCK_HELD:
                return "no-flock", "", ""
            return ("held", *_read_lock_file(fd)) if holder else ("held", "", "")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return "free", "", ""
    finally:
        os.close(fd)


def _holder_text(
    name: str, holder: str, *, shard_prefix: str, whole: str = WHOLE_SET_HOLDER, doing: str = ""
) -> str:
    """``<whole> (pid N on HOST)`` for ``all.lock``, ``<shard_prefix>shard 0/2 (...)`` for
    ``shard-0-of-2.lock``, ``harvester forget (...)`` for a holder that is no harvest
    (``doing``, the command its lock file names: see :func:`is_harvest_holder`); no
    parentheses when the holder line is empty. Why ``doing``: while ``harvester forget``
    held DIR, ``status`` said "running now: a harvest of the whole set", which no run was."""
    if doing:
        what = doing
    elif name == lock_name(None):
        what = whole
    else:
        k, _, n = name.removeprefix("shard-").removesuffix(".lock").partition("-of-")
        what = f"{shard_prefix}shard {k}/{n}"
    return what + (f" ({holder})" if holder else "")


def is_harvest_holder(text: str) -> bool:
    """Does ``text`` (the words of :func:`held_run_locks` or :func:`other_split_holding`)
    name a harvest, not a command that holds DIR without harvesting (``harvester forget
    (pid N on HOST)``)? A resume dropping a refused set (:data:`DROPPING_SET`) is one: it
    harvests DIR's other sets next, and status, plan, verify and slurm said of it that it
    "harvests nothing"."""
    return text.startswith(("shard ", "as shard ", WHOLE_SET_RUN, WHOLE_SET_HOLDER, DROPPING_SET))


def release_run_lock(fd: int | None) -> None:
    """Give the lock back (closing the fd releases the flock)."""
    if fd is not None:
        os.close(fd)


#: How long a refused run waits for the holder to write its "pid N on HOST" line.
HOLDER_WAIT = 0.5


def _read_lock_file(fd: int) -> tuple[str, str]:
    """The holder's "pid N on HOST" line ("" if unreadable) and the command it names when it
    is no harvest ("": a harvest, or a holder of a version before that line).

    The holder writes it just after taking the lock: a run refused in between (two runs
    started at the same instant) would read an empty file, so it looks again for a moment.
    """
    deadline = time.monotonic() + HOLDER_WAIT
    while True:
        try:
            text = os.pread(fd, 400, 0).decode("utf-8", "replace").strip()
        except OSError:
            return "", ""
        if text or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    lines = text.splitlines() or [""]
    doing = next((line for line in lines[1:] if line.startswith(_DOING_PREFIX)), "")
    return lines[0].strip(), doing.removeprefix(_DOING_PREFIX).strip()

"""Is a process that left something behind still alive? (pid + start time, this host).

A pid alone is not enough: after a reboot or a long uptime the number is given to
another process. The start time tells the process that wrote a record from a later one
with its number: on Linux read from ``/proc/PID/stat`` (clock ticks since boot); where
there is no ``/proc`` (macOS, the BSDs) asked of ``ps -o lstart=`` (seconds since the
epoch, one host's records never mix the two). Where neither answers (a ``ps`` without
``lstart``), ``kill(pid, 0)`` alone decides: a reused pid then counts as alive, so what
its ended process left behind is kept (never removed from a live one) until the number
is free again.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time

__all__ = ["HOST", "SHARED_HOST_NAMES", "host_may_be_shared", "process_alive", "process_start"]

#: This machine's name, as records of live processes give it (a pid means nothing elsewhere).
HOST = socket.gethostname()

#: Host names that several machines may have at once (a container's default, a name never
#: set): a pid recorded under one of them may be another machine's live process.
SHARED_HOST_NAMES = frozenset({"localhost", "localhost.localdomain", "host", "(none)"})

#: Seconds a ``ps`` asked for one process's start may take (it answers in milliseconds).
PS_TIMEOUT = 5.0

#: ``ps -o lstart`` in the C locale: ``Sat Nov 28 04:43:24 2026``.
_LSTART_FORMAT = "%a %b %d %H:%M:%S %Y"


def host_may_be_shared(host: str) -> bool:
    """Whether ``host`` (a record's, or :data:`HOST`) may name other machines too: then
    :func:`process_alive` may see another machine's live pid as gone. Where a wrong
    judgement costs little to avoid (the ids copies in the temporary folder, the stray
    temp files a writer's name points to), such a process is not judged ended here."""
    return not host or host.lower() in SHARED_HOST_NAMES


@functools.cache
def _has_proc() -> bool:
    """Whether this system shows its processes in ``/proc`` (Linux), where start times
    are read; elsewhere (macOS) ``ps`` is asked instead."""
    return os.path.exists("/proc/self/stat")


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _ps_state(pid: int) -> tuple[str, int] | None:
    """``pid``'s state letters and start (whole seconds since the epoch) as ``ps`` gives
    them, or None (no such process, no ``ps``, or one that does not know ``lstart``).

    In the C locale and UTC, so that every process of this host spells a start the same
    way, whatever its user's language and time zone. One ``-o`` per column: POSIX (and
    macOS's ps) takes all that follows ``=`` as the header, ``stat=,lstart=`` one column."""
    import calendar  # (not at the top: only where there is no /proc; the start stays lean)

    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC0"}
    try:
        proc = subprocess.run(
            ["ps", "-o", "stat=", "-o", "lstart=", "-p", str(pid)],
            capture_output=True, text=True, timeout=PS_TIMEOUT, check=False, env=env,
        )  # fmt: skip
        state, lstart = proc.stdout.strip().split(None, 1)
        started = calendar.timegm(time.strptime(" ".join(lstart.split()), _LSTART_FORMAT))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return state, started


def _ps_start(pid: int) -> int | None:
    """``pid``'s start from ``ps`` (seconds since the epoch), or None."""
    found = _ps_state(pid)
    return None if found is None else found[1]


@functools.lru_cache(maxsize=1)
def _own_ps_start(pid: int) -> int | None:
    """This process's start from ``ps``, asked once (its records name it again and again;
    keyed by pid, so a forked child asks for its own)."""
    return _ps_start(pid)


def process_start(pid: int) -> int | None:
    """Start time of ``pid`` (clock ticks since boot from /proc, else seconds since the
    epoch from ``ps``), None where unavailable."""
    if not _has_proc():
        return _own_ps_start(pid) if pid == os.getpid() else _ps_start(pid)
    fields = _proc_stat(pid)
    try:
        return None if fields is None else int(fields[19])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start: int | None) -> bool:
    """Whether ``pid`` is still the (non-zombie) process that started at ``start``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if not _has_proc():
        if start is None:
            return True  # nothing to compare: trust kill(0)
        found = _ps_state(pid)
        if found is None:
            return True  # ps cannot tell: trust kill(0)
        state, started = found
        return not state.startswith("Z") and started == start
    fields = _proc_stat(pid)
    if fields is None:
        return True  # unreadable: trust kill(0)
    if fields and fields[0] in (b"Z", b"X"):
        return False
    return not (start is not None and len(fields) > 19 and int(fields[19]) != start)

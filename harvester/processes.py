"""Is a process that left something behind still alive? (pid + start time, this host).

A pid alone is not enough: after a reboot or a long uptime the number is given to
another process. The start time read from ``/proc/PID/stat`` (clock ticks since boot)
tells the process that wrote a record from a later one with its number. Where there is
no ``/proc`` (macOS), ``kill(pid, 0)`` alone decides.
"""

from __future__ import annotations

import os
import socket

__all__ = ["HOST", "SHARED_HOST_NAMES", "host_may_be_shared", "process_alive", "process_start"]

#: This machine's name, as records of live processes give it (a pid means nothing elsewhere).
HOST = socket.gethostname()

#: Host names that several machines may have at once (a container's default, a name never
#: set): a pid recorded under one of them may be another machine's live process.
SHARED_HOST_NAMES = frozenset({"localhost", "localhost.localdomain", "host", "(none)"})


def host_may_be_shared(host: str) -> bool:
    """Whether ``host`` (a record's, or :data:`HOST`) may name other machines too: then
    :func:`process_alive` may see another machine's live pid as gone. Where a wrong
    judgement costs little to avoid (the ids copies in the temporary folder, the stray
    temp files a writer's name points to), such a process is not judged ended here."""
    return not host or host.lower() in SHARED_HOST_NAMES


def process_start(pid: int) -> int | None:
    """Start time (clock ticks since boot) of ``pid`` from /proc, None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
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
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return True  # no /proc: trust kill(0)
    if fields and fields[0] in (b"Z", b"X"):
        return False
    return not (start is not None and len(fields) > 19 and int(fields[19]) != start)

"""Room for the run's open files: one connection per request in flight, and its own files.

A run opens a keep-alive connection for each of its ``--concurrency`` slots (all of them
at its start, during the server check), so ``--concurrency 1000`` under the usual
``ulimit -n 1024`` ran out of file descriptors: its connections took them all, and the
first file it then wrote (or a module it imported) failed with ``Too many open files``,
exit 1 with the folder half made, or exit 2 naming a Python source file. Before its
client is made, a run now raises its own soft limit where the hard limit allows (as a
shell's ``ulimit -n`` may), and is refused, before any request and any folder, where it
does not: one ``error:`` line saying the most ``--concurrency`` this machine allows. Where
the system caps the soft limit below the hard one (macOS, under a hard limit it calls
unlimited), the limit is raised as far as the system lets it, and a refusal says so.

The soft limit is raised to room for :data:`OWN_FILES` where it can be; a run is refused
only where even :data:`FEWEST_OWN_FILES` beside its connections do not fit. Why: a hard
limit of 256 (a batch system's, a container's) refused every run, ``--concurrency 8``
included, which needs far fewer than ``8 + 256`` files and had always completed there.
"""

from __future__ import annotations

from harvester.errors import ConfigError

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

OWN_FILES = 256
"""Descriptors a run needs besides its connections: the files of the store's batches being
committed (two batches of up to 64 items, each file open until its batch is made durable:
128 for images, more for a plate's study files), journals, locks, standard streams and the
event loop's. (With 100, ``--concurrency 924`` under ``ulimit -n 1024`` still failed a
file with ``Too many open files``.)"""

FEWEST_OWN_FILES = 192
"""The fewest descriptors besides its connections a run is let start with: its batches'
128 files and 64 for journals, locks, standard streams and the event loop (measured: a
run of the demo screen and project used 72 besides ``--concurrency 8``'s connections, 110
besides 864's). Below :data:`OWN_FILES` where the hard limit allows no more (see
:func:`fit_open_files`)."""


def files_needed(concurrency: int) -> int:
    """How many descriptors a run of ``concurrency`` requests in flight may hold at once."""
    return concurrency + OWN_FILES


def fit_open_files(concurrency: int) -> None:
    """Make room for :func:`files_needed`, or refuse the run (:class:`ConfigError`, exit 2).

    The soft limit is raised towards what is needed, never lowered, and never past the hard
    limit (which only the administrator can raise). The run is refused only where the
    limit it then has leaves fewer than :data:`FEWEST_OWN_FILES` beside its connections.
    Where the limits cannot be read (no ``resource`` module) nothing is checked.
    """
    if resource is None:  # pragma: no cover - not on Windows
        return
    needed = files_needed(concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    room = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    capped = False
    if room > soft:
        raised = _raise_soft_limit(soft, room, hard)
        capped, soft = raised < room, raised
    if soft - concurrency >= FEWEST_OWN_FILES:
        return
    raise _refusal(concurrency, concurrency + FEWEST_OWN_FILES, soft, capped=capped)


def _raise_soft_limit(soft: int, room: int, hard: int) -> int:
    """Set the soft limit to ``room``, or where the system refuses that, to the most below
    it that it accepts (found by halving the gap); the soft limit set.

    Why: macOS refuses a soft limit past its own cap (``kern.maxfilesperproc``) under a
    hard limit it calls unlimited; the run then kept its soft limit (256) and was refused
    quoting that, although a few thousand files could have been had. A ``room`` past what
    an rlim_t holds (a ``--concurrency`` in the quintillions under that unlimited hard
    limit) Python refuses with OverflowError, taken as the system's refusal: it escaped
    as a traceback."""
    assert resource is not None
    lo, hi = soft, room + 1  # lo: accepted (the limit now); hi: refused (or past room)
    while hi - lo > 1:
        mid = hi - 1 if hi == room + 1 else (lo + hi) // 2  # room itself first
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (mid, hard))
        except (OSError, ValueError, OverflowError):  # (Overflow: past what rlim_t holds)
            hi = mid
        else:
            lo = mid
    return lo


def _refusal(concurrency: int, needed: int, allowed: int, *, capped: bool = False) -> ConfigError:
    """The one-line refusal: what was asked, what this process may open, what fits.
    ``capped``: the system refused a higher soft limit than ``allowed`` (said so: the
    hard limit, maybe unlimited, is not what stops the run)."""
    fits = allowed - FEWEST_OWN_FILES
    limit = "ulimit -n, raised as far as the system let it" if capped else "ulimit -n"
    if fits < 1:
        return ConfigError(
            f"this process may open {allowed} files at most ({limit}), too few for a run "
            f"(it needs {needed} for --concurrency {concurrency})",
            hint="raise the limit of open files (ulimit -n, or the batch system's)",
            key="concurrency",
        )
    return ConfigError(
        f"--concurrency {concurrency} needs about {needed} open files (a connection per "
        f"request in flight, and the run's own files), and this process may open "
        f"{allowed} at most ({limit})",
        hint=f"give --concurrency {fits} or less (concurrency = {fits} in a config file), "
        "or raise the limit of open files (ulimit -n, or the batch system's)",
        key="concurrency",
    )

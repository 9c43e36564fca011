"""``DIR/servers.json``: the server each run of DIR asked, as its saved settings say.

The "mixed in" check (:func:`harvester.config.other_server_note`) asks whether any run of
DIR asked the server a run asks now. It read the saved settings of DIR's 100 newest runs
only, so after a job array of more than 100 tasks from server A, a run of server B,
whose sets DIR held already, was warned about as mixed in. Reading every run's
``runs/<run>/config.json`` instead costs seconds in a folder of 10,000 runs, at the start
of every task of an array of B. So what a check read is kept here, and the next check
reads only the runs this record does not name::

    DIR/servers.json
      {"servers": {"<base URL as saved: no credentials>": ["<run id>", ...]}}

A record of facts that never change (a run's saved server), checked against ``runs/`` at
every use: a run it names that is gone counts for nothing, a run it does not name is read
from its config. So a record that is missing, damaged, stale, or lost a write to a race
costs reads, never a wrong answer; one that cannot be read is not said (nothing is lost).
Written in one step (temp file, rename) under ``DIR/locks/servers.lock``, merged with
what it holds then: the tasks of an array that learn at once add up, rather than one
writing over another's. A lock not had within :data:`LOCK_WAIT` (or a filesystem without
``flock``) writes all the same: the worst a race does there is drop entries, read again
next time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

# At the top, not in _write: imported there the first time, under the lock, a quarter of a
# second on a loaded machine that every other writer of an array waited out (and, past
# LOCK_WAIT, wrote unlocked). Imported late anyway: config imports this module where used.
from harvester.errors import redact_url
from harvester.store import atomic_write_bytes

__all__ = ["LOCK_WAIT", "SERVERS_LOCK", "SERVERS_NAME", "read_servers", "record_servers"]

logger = logging.getLogger(__name__)

SERVERS_NAME = "servers.json"
#: ``DIR/locks/servers.lock``: held while ``servers.json`` is read, merged and written.
SERVERS_LOCK = "servers.lock"
#: How long a write waits for another process's (each holds it for milliseconds).
LOCK_WAIT = 5.0


def read_servers(out_dir: Path) -> dict[str, str]:
    """The server (its URL as saved) of each run the record names, by run id; empty when
    there is no record, or it cannot be read or is not one (then every run is read)."""
    try:
        data = json.loads((out_dir / SERVERS_NAME).read_bytes())
    except (OSError, ValueError, RecursionError):  # (nested too deep: damaged, as not JSON)
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return {}
    return {
        str(run): url
        for url, runs in servers.items()
        if isinstance(url, str) and isinstance(runs, list)
        for run in runs
    }


def record_servers(out_dir: Path, learned: Mapping[str, str], runs: AbstractSet[str]) -> None:
    """Add ``learned`` (run id -> its server as saved) to DIR's record, keeping of what it
    holds only the ``runs`` listed in ``runs/`` now (a run removed since is dropped). Never
    raises: a record not written is read again next time, which is all it costs."""
    from harvester.runlock import folder_lock

    try:
        with folder_lock(out_dir, SERVERS_LOCK, wait=LOCK_WAIT, denied_ok=True):
            merged = {r: url for r, url in read_servers(out_dir).items() if r in runs}
            merged.update(learned)
            _write(out_dir, merged)
    except OSError as exc:  # (a read-only or full folder, another user's record)
        logger.debug("%s not written: %s", out_dir / SERVERS_NAME, exc)


def _write(out_dir: Path, servers: Mapping[str, str]) -> None:
    """Replace the record in one step, keeping its mode and group (a shared folder's).

    Each URL redacted (:func:`harvester.errors.redact_url`): a run saved before 0.1.13 kept
    a ``--base-url`` user (``https://TOKEN@host``), which only its own record may hold
    until it is scrubbed; the server compares the same without it."""
    path = out_dir / SERVERS_NAME
    by_url: dict[str, list[str]] = {}
    for run, url in sorted(servers.items()):
        by_url.setdefault(redact_url(url), []).append(run)
    data = (json.dumps({"servers": by_url}, indent=1) + "\n").encode()
    try:
        like: os.stat_result | None = path.stat()
    except FileNotFoundError:
        like = None
    atomic_write_bytes(out_dir, path, data, durable=False, like=like)

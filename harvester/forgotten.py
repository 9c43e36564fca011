"""The target sets of a folder that ``harvester forget`` took out of its resumes.

A set whose target is gone from the server (``--image 5`` deleted, a plate removed) is
refused by every replay of ``harvester harvest --out DIR`` (exit 2), and ``status`` kept
promising that resume. Removing ``runs/<run>`` by hand ended that but lost the record of
what the set harvested. Forgetting a set keeps every file, journal and index.csv row; it
only lists the set here, and the readers of DIR's target sets
(:func:`harvester.config.recorded_target_sets`) leave it out::

    DIR/forgotten.json
      {"sets": [{"key": <harvester.config.target_set>, "targets": "--image 5",
                 "server": "https://idr.openmicroscopy.org",
                 "runs": [<every run of the set and server when it was forgotten>],
                 "at": <when, ISO 8601 UTC: "2026-11-27T15:04:03+00:00">}]}

``server`` is the server of the set's runs (as saved: no credentials): ids are one
server's, so in a folder of two servers ``--project 51`` of each is another set of images,
each forgotten (and taken back by a run of its targets) on its own. An entry without one
(written before 0.1.23) holds the runs of every server, as it was written.

A set stays forgotten while its newest run is one of ``runs``: a later run given the same
targets that passed its target check removes the entry (:func:`revive_set`), and one that
left a run of the set for another reason (the entry's removal failed) makes it live too.

A list that cannot be read (not JSON, an entry edited by hand into something else, a time
that is no time) forgets nothing, and the first read of it in a command says so on one
warning line naming the file: a set's resume is refused again, and its hint says how to
forget it again (which writes a new list). (An older version wrote ``at`` as Unix time:
still read.)

Writes are atomic (temp file, fsync, rename) and made under ``locks/forgotten.lock``, so
two processes changing the list (two shards reviving a set) never lose each other's
change; ``harvester forget`` also holds DIR's run lock, so no harvest runs meanwhile.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.errors import PROBLEMS_LOGGER

__all__ = [
    "DamagedForgottenError",
    "FORGOTTEN_LOCK",
    "FORGOTTEN_NAME",
    "ForgottenKey",
    "ForgottenSet",
    "add_forgotten",
    "read_forgotten",
    "revive_set",
]

#: A damaged list is said under ``--quiet`` too: a cron mirror's quiet resume replayed every
#: forgotten set again (refused, exit 2) without a word why. As ``gone_images.json``'s.
_problems = logging.getLogger(PROBLEMS_LOGGER)

FORGOTTEN_NAME = "forgotten.json"
#: ``DIR/locks/forgotten.lock``: held while ``forgotten.json`` is read, changed and written.
FORGOTTEN_LOCK = "forgotten.lock"


class DamagedForgottenError(ValueError):
    """``DIR/forgotten.json`` holds something this version did not write; ``str()`` says
    what, in a few words (for the one line that names the file)."""


#: An entry's place in :func:`read_forgotten`'s answer: its set's key and its server
#: (:func:`harvester.config.normal_base_url`; "" for an entry of every server, as written
#: before 0.1.23).
ForgottenKey = tuple[str, str]


@dataclass(frozen=True)
class ForgottenSet:
    """One forgotten target set: its key (:func:`harvester.config.target_set`), its targets
    as flags (what ``status`` and ``forget`` say), the runs it had and when it was forgotten
    (aware, UTC), and the server of those runs (as saved; "": an older entry, of any)."""

    key: str
    targets: str
    runs: tuple[str, ...]
    at: datetime
    server: str = ""

    @property
    def slot(self) -> ForgottenKey:
        """The entry's place in :func:`read_forgotten`'s answer (:data:`ForgottenKey`)."""
        from harvester.config import normal_base_url

        return self.key, normal_base_url(self.server) if self.server else ""

    def to_json(self) -> dict[str, Any]:
        """The entry as saved: ``at`` as ISO 8601 text, read by a person opening the file."""
        return {
            "key": self.key,
            "targets": self.targets,
            **({"server": self.server} if self.server else {}),
            "runs": list(self.runs),
            "at": self.at.astimezone(UTC).isoformat(timespec="seconds"),
        }

    @classmethod
    def from_json(cls, data: object) -> ForgottenSet:
        """An entry as saved; :class:`DamagedForgottenError` for one that is not (edited by
        hand): a half-read entry might forget a set nobody forgot."""
        if not isinstance(data, dict):
            raise DamagedForgottenError("an entry is not an object")
        key, targets, runs = data.get("key"), data.get("targets", ""), data.get("runs")
        if not isinstance(key, str) or not key:
            raise DamagedForgottenError("an entry has no key")
        if not isinstance(runs, list) or not all(isinstance(run, str) for run in runs):
            raise DamagedForgottenError("an entry's runs are not a list of run ids")
        server = data.get("server", "")
        if not isinstance(server, str):
            raise DamagedForgottenError("an entry's server is not a URL")
        return cls(
            key,
            targets if isinstance(targets, str) else "",
            tuple(runs),
            _when(data.get("at")),
            server,
        )


def _when(at: object) -> datetime:
    """An entry's ``at``: ISO 8601 text, or the Unix time an older version wrote."""
    try:
        if isinstance(at, str):
            when = datetime.fromisoformat(at)
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        if isinstance(at, int | float) and not isinstance(at, bool):
            return datetime.fromtimestamp(at, UTC)
    except (ValueError, OverflowError, OSError):  # (OSError: out of the platform's range)
        pass
    raise DamagedForgottenError(f"an entry's time {_shown(at)} is not a time")


def _shown(value: object) -> str:
    """A value edited into the file, short enough for a one-line message."""
    text = repr(value) if isinstance(value, str) else str(value)[:40]
    return text if len(text) <= 40 else text[:37] + "..."


#: The lists said to be damaged in this process: each is said once, however often read.
_SAID_DAMAGED: set[Path] = set()


def read_forgotten(out_dir: Path) -> dict[ForgottenKey, ForgottenSet]:
    """DIR's forgotten sets by key and server (:attr:`ForgottenSet.slot`); none when there
    is no list, or it cannot be read.

    A list that cannot be read (edited by hand) forgets nothing: the sets are resumed
    again, and a refused one's hint says how to forget it again (which writes a new list).
    Said once per process, as a warning naming the file and what is wrong.
    """
    path = out_dir / FORGOTTEN_NAME
    try:
        data = json.loads(path.read_bytes())
        sets = data.get("sets") if isinstance(data, dict) else None
        if not isinstance(sets, list):
            raise DamagedForgottenError('no "sets" list')
        entries = [ForgottenSet.from_json(item) for item in sets]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:  # (DamagedForgottenError too)
        _say_damaged(path, exc)
        return {}
    return {entry.slot: entry for entry in entries}


def _say_damaged(path: Path, exc: BaseException) -> None:
    """One warning line for a list that cannot be read, the first time this process reads it."""
    if path in _SAID_DAMAGED:
        return
    _SAID_DAMAGED.add(path)
    if isinstance(exc, OSError):
        what = f"cannot be read ({exc.strerror or type(exc).__name__})"
    elif isinstance(exc, DamagedForgottenError):
        what = f"is damaged ({exc})"
    else:
        what = "is damaged (not JSON)"
    _problems.warning(
        "%s %s: no target set is forgotten; `harvester forget` writes it again", path, what
    )


def add_forgotten(out_dir: Path, entry: ForgottenSet) -> bool:
    """Add ``entry`` to DIR's forgotten sets; False when its set is forgotten already for
    its server (the list unchanged). Raises OSError when the list cannot be written."""
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        sets = read_forgotten(out_dir)
        if entry.slot in sets:
            return False
        sets[entry.slot] = entry
        _write(out_dir, sets)
    return True


def revive_set(out_dir: Path, key: str, server: str) -> ForgottenSet | None:
    """Take target set ``key`` of ``server`` (a run's base URL) off DIR's forgotten sets (a
    run given its targets), and an older entry of the set without a server; the entry
    removed, None when it was not forgotten. The set of another server stays forgotten:
    ids are one server's. Reads nothing more than the list; raises OSError when it cannot
    be written."""
    if not (out_dir / FORGOTTEN_NAME).is_file():
        return None  # (every run given targets asks: no lock file made for nothing)
    from harvester.config import normal_base_url
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        sets = read_forgotten(out_dir)
        mine = sets.pop((key, normal_base_url(server)), None)
        older = sets.pop((key, ""), None)
        if mine is not None or older is not None:
            _write(out_dir, sets)
    return mine or older


def _write(out_dir: Path, sets: dict[ForgottenKey, ForgottenSet]) -> None:
    """Replace the list in one step (temp file, fsync, rename); none left: remove it."""
    from harvester.store import atomic_write_bytes

    path = out_dir / FORGOTTEN_NAME
    if not sets:
        path.unlink(missing_ok=True)
        return
    data: dict[str, Any] = {"sets": [entry.to_json() for entry in sets.values()]}
    atomic_write_bytes(out_dir, path, (json.dumps(data, indent=1) + "\n").encode())

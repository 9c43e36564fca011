"""The target sets of a folder that ``harvester forget`` took out of its resumes.

A set whose target is gone from the server (``--image 5`` deleted, a plate removed) is
refused by every replay of ``harvester harvest --out DIR`` (exit 2), and ``status`` kept
promising that resume. Removing ``runs/<run>`` by hand ended that but lost the record of
what the set harvested. Forgetting a set keeps every file, journal and index.csv row; it
only lists the set here, and the readers of DIR's target sets
(:func:`harvester.config.recorded_target_sets`) leave it out::

    DIR/forgotten.json
      {"sets": [{"key": <harvester.config.target_set>, "targets": "--image 5",
                 "runs": [<every run of the set when it was forgotten>], "at": <unix time>}]}

A set stays forgotten while its newest run is one of ``runs``: a later run given the same
targets that passed its target check removes the entry (:func:`revive_set`), and one that
left a run of the set for another reason (the entry's removal failed) makes it live too.

Writes are atomic (temp file, fsync, rename) and made under ``locks/forgotten.lock``, so
two processes changing the list (two shards reviving a set) never lose each other's
change; ``harvester forget`` also holds DIR's run lock, so no harvest runs meanwhile.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FORGOTTEN_LOCK",
    "FORGOTTEN_NAME",
    "ForgottenSet",
    "add_forgotten",
    "read_forgotten",
    "revive_set",
]

logger = logging.getLogger(__name__)

FORGOTTEN_NAME = "forgotten.json"
#: ``DIR/locks/forgotten.lock``: held while ``forgotten.json`` is read, changed and written.
FORGOTTEN_LOCK = "forgotten.lock"


@dataclass(frozen=True)
class ForgottenSet:
    """One forgotten target set: its key (:func:`harvester.config.target_set`), its targets
    as flags (what ``status`` and ``forget`` say), the runs it had and when it was forgotten."""

    key: str
    targets: str
    runs: tuple[str, ...]
    at: float

    @classmethod
    def from_json(cls, data: object) -> ForgottenSet | None:
        """An entry as saved; None for one that is not (edited by hand)."""
        if not isinstance(data, dict):
            return None
        key, targets, runs, at = (data.get(k) for k in ("key", "targets", "runs", "at"))
        if not isinstance(key, str) or not isinstance(runs, list):
            return None
        return cls(
            key,
            targets if isinstance(targets, str) else "",
            tuple(str(run) for run in runs),
            float(at) if isinstance(at, int | float) else 0.0,
        )


def read_forgotten(out_dir: Path) -> dict[str, ForgottenSet]:
    """DIR's forgotten sets by key; none when there is no list, or it cannot be read.

    A list that cannot be read (edited by hand) forgets nothing: the sets are resumed
    again, and a refused one's hint says how to forget it again (which writes a new list).
    """
    try:
        data = json.loads((out_dir / FORGOTTEN_NAME).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.debug("%s cannot be read (%s): no set is forgotten", out_dir / FORGOTTEN_NAME, exc)
        return {}
    sets = data.get("sets") if isinstance(data, dict) else None
    entries = (ForgottenSet.from_json(item) for item in (sets if isinstance(sets, list) else ()))
    return {entry.key: entry for entry in entries if entry is not None}


def add_forgotten(out_dir: Path, entry: ForgottenSet) -> bool:
    """Add ``entry`` to DIR's forgotten sets; False when its set is forgotten already (the
    list unchanged). Raises OSError when the list cannot be written."""
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        sets = read_forgotten(out_dir)
        if entry.key in sets:
            return False
        sets[entry.key] = entry
        _write(out_dir, sets)
    return True


def revive_set(out_dir: Path, key: str) -> ForgottenSet | None:
    """Take target set ``key`` off DIR's forgotten sets (a run given its targets); the entry
    removed, None when it was not forgotten. Reads nothing more than the list; raises
    OSError when it cannot be written."""
    if not (out_dir / FORGOTTEN_NAME).is_file():
        return None  # (every run given targets asks: no lock file made for nothing)
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        sets = read_forgotten(out_dir)
        entry = sets.pop(key, None)
        if entry is not None:
            _write(out_dir, sets)
    return entry


def _write(out_dir: Path, sets: dict[str, ForgottenSet]) -> None:
    """Replace the list in one step (temp file, fsync, rename); none left: remove it."""
    from harvester.store import atomic_write_bytes

    path = out_dir / FORGOTTEN_NAME
    if not sets:
        path.unlink(missing_ok=True)
        return
    data: dict[str, Any] = {"sets": [asdict(entry) for entry in sets.values()]}
    atomic_write_bytes(out_dir, path, (json.dumps(data, indent=1) + "\n").encode())

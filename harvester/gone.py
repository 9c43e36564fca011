"""The images of a folder that ``harvester forget --gone-ids-from`` recorded as gone.

An image deleted from the server answers 404 for ever: its set was resumed for ever, every
resume exited 1 and ``status --failed-ids`` never emptied. ``forget`` on its whole set is
wrong when 3 of 10,000 images are gone, so the gone images are listed here, and every
harvest into DIR (each set's resume, a shard, a ``--from-plan`` task) asks nothing for them,
and ``status`` counts them apart from the failures::

    DIR/gone_images.json
      {"images": [{"id": 9762957, "status": 404, "at": "2026-11-27T15:04:03+00:00"}]}

``status`` is the HTTP status of the image's latest failure when it was recorded (None:
no answer, recorded with ``--force``); ``at`` when (ISO 8601, UTC). ``harvester forget
DIR --gone-ids-from FILE --undo`` takes ids off the list, and they are asked for again.

A list that cannot be read (not JSON, an entry edited into something else) forgets no
image, and the first read of it in a process says so on one warning line naming the file:
the images are asked for again, which costs requests but loses nothing. Writes are atomic
and made under ``locks/forgotten.lock``, as :mod:`harvester.forgotten`'s are.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.forgotten import FORGOTTEN_LOCK

__all__ = [
    "GONE_NAME",
    "GoneImage",
    "add_gone",
    "gone_ids",
    "read_gone",
    "remove_gone",
]

logger = logging.getLogger(__name__)

GONE_NAME = "gone_images.json"


class _DamagedGoneError(ValueError):
    """``DIR/gone_images.json`` holds something this version did not write."""


@dataclass(frozen=True)
class GoneImage:
    """One image recorded as gone: its id, the HTTP status of its latest failure when it
    was recorded (None: no answer), and when (aware, UTC)."""

    image_id: int
    status: int | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """The entry as saved (``at`` as ISO 8601 text, for a person opening the file)."""
        return {
            "id": self.image_id,
            "status": self.status,
            "at": self.at.astimezone(UTC).isoformat(timespec="seconds"),
        }

    @classmethod
    def from_json(cls, data: object) -> GoneImage:
        """An entry as saved; :class:`_DamagedGoneError` for one that is not."""
        if not isinstance(data, dict):
            raise _DamagedGoneError("an entry is not an object")
        image_id, status, at = data.get("id"), data.get("status"), data.get("at")
        if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id <= 0:
            raise _DamagedGoneError("an entry has no image id")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise _DamagedGoneError(f"image {image_id}'s status is not an HTTP status")
        try:
            when = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            when = None
        if when is None:
            raise _DamagedGoneError(f"image {image_id}'s time is not a time")
        return cls(image_id, status, when if when.tzinfo else when.replace(tzinfo=UTC))


#: The lists said to be damaged in this process: each is said once, however often read.
_SAID_DAMAGED: set[Path] = set()


def read_gone(out_dir: Path) -> dict[int, GoneImage]:
    """DIR's gone images by id; none when there is no list, or it cannot be read (said
    once per process, as a warning naming the file)."""
    path = out_dir / GONE_NAME
    try:
        data = json.loads(path.read_bytes())
        images = data.get("images") if isinstance(data, dict) else None
        if not isinstance(images, list):
            raise _DamagedGoneError('no "images" list')
        entries = [GoneImage.from_json(item) for item in images]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as exc:  # (_DamagedGoneError too)
        if path not in _SAID_DAMAGED:
            _SAID_DAMAGED.add(path)
            what = (
                f"cannot be read ({exc.strerror or type(exc).__name__})"
                if isinstance(exc, OSError)
                else f"is damaged ({exc if isinstance(exc, _DamagedGoneError) else 'not JSON'})"
            )
            logger.warning(
                "%s %s: no image is taken as gone; `harvester forget DIR --gone-ids-from "
                "FILE` writes it again",
                path,
                what,
            )
        return {}
    return {entry.image_id: entry for entry in entries}


def gone_ids(out_dir: Path) -> frozenset[int]:
    """The ids of DIR's gone images (what a harvest does not ask for)."""
    return frozenset(read_gone(out_dir))


def add_gone(out_dir: Path, entries: list[GoneImage]) -> list[int]:
    """Add ``entries`` to DIR's gone images; the ids added (those listed already are left
    as they were). Raises OSError when the list cannot be written."""
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        gone = read_gone(out_dir)
        added = [entry for entry in entries if entry.image_id not in gone]
        if added:
            gone.update((entry.image_id, entry) for entry in added)
            _write(out_dir, gone)
    return [entry.image_id for entry in added]


def remove_gone(out_dir: Path, ids: list[int]) -> list[int]:
    """Take ``ids`` off DIR's gone images; the ids removed (the others were not listed).
    Raises OSError when the list cannot be written."""
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        gone = read_gone(out_dir)
        removed = [image_id for image_id in ids if gone.pop(image_id, None) is not None]
        if removed:
            _write(out_dir, gone)
    return removed


def _write(out_dir: Path, gone: dict[int, GoneImage]) -> None:
    """Replace the list in one step (temp file, fsync, rename); none left: remove it."""
    from harvester.store import atomic_write_bytes

    path = out_dir / GONE_NAME
    if not gone:
        path.unlink(missing_ok=True)
        return
    data = {"images": [gone[image_id].to_json() for image_id in sorted(gone)]}
    atomic_write_bytes(out_dir, path, (json.dumps(data, indent=1) + "\n").encode())

"""The images of a folder that ``harvester forget --gone-ids-from`` recorded as gone.

An image deleted from the server answers 404 for ever: its set was resumed for ever, every
resume exited 1 and ``status --failed-ids`` never emptied. ``forget`` on its whole set is
wrong when 3 of 10,000 images are gone, so the gone images are listed here, and every
harvest into DIR (each set's resume, a shard, a ``--from-plan`` task) asks nothing for them,
and ``status`` counts them apart from the failures::

    DIR/gone_images.json
      {"images": [{"id": 9762957, "server": "https://idr.openmicroscopy.org",
                   "status": 404, "at": "2026-11-27T15:04:03.250+00:00"}]}

``server`` is the server whose run failed the image (its URL as saved: no credentials):
image ids are one server's, so in a folder harvested from two servers only a run of that
server skips it (the other's image of that id is another image). ``status`` is the HTTP
status of the image's latest failure when it was recorded (None: no answer, recorded with
``--force``; with ``--check-server``, what the server's JSON API answered then); ``at``
when (ISO 8601, UTC, to the millisecond: a sample first drawn after it leaves the image
out, one drawn before keeps it; see :func:`gone_since`). ``harvester forget DIR
--gone-ids-from FILE --undo`` takes ids off the list, and they are asked for again.

A list that cannot be read (not JSON, an entry edited into something else) forgets no
image, and the first read of it in a process says so on one warning line naming the file:
the images are asked for again, which costs requests but loses nothing. Writes are atomic
and made under ``locks/forgotten.lock``, as :mod:`harvester.forgotten`'s are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvester.errors import PROBLEMS_LOGGER
from harvester.forgotten import FORGOTTEN_LOCK
from harvester.shell_words import shell_quote

__all__ = [
    "GONE_NAME",
    "GONE_STATUSES",
    "GoneImage",
    "GoneKey",
    "CHECK_RETRIES",
    "CHECK_TIMEOUT",
    "add_gone",
    "ask_server",
    "gone_key",
    "gone_ids",
    "gone_since",
    "gone_status",
    "gone_among",
    "gone_images_hint",
    "read_gone",
    "remove_gone",
]

#: A damaged list is said under ``--quiet`` too (a cron mirror's every resume asked for the
#: gone images again, exit 1, without a word why): :data:`harvester.errors.PROBLEMS_LOGGER`.
_problems = logging.getLogger(PROBLEMS_LOGGER)

GONE_NAME = "gone_images.json"


class _DamagedGoneError(ValueError):
    """``DIR/gone_images.json`` holds something this version did not write."""


@dataclass(frozen=True)
class GoneImage:
    """One image recorded as gone: its id, the server whose run failed it (as saved, no
    credentials), the HTTP status of its latest failure when it was recorded (None: no
    answer), and when (aware, UTC)."""

    image_id: int
    server: str
    status: int | None
    at: datetime

    def to_json(self) -> dict[str, Any]:
        """The entry as saved (``at`` as ISO 8601 text, for a person opening the file)."""
        return {
            "id": self.image_id,
            "server": self.server,
            "status": self.status,
            # (milliseconds: a sample drawn in the second after a forget leaves it out, see
            # gone_since; lists of 0.1.16 saved whole seconds, and read as well)
            "at": self.at.astimezone(UTC).isoformat(timespec="milliseconds"),
        }

    @classmethod
    def from_json(cls, data: object) -> GoneImage:
        """An entry as saved; :class:`_DamagedGoneError` for one that is not."""
        if not isinstance(data, dict):
            raise _DamagedGoneError("an entry is not an object")
        image_id, status, at = data.get("id"), data.get("status"), data.get("at")
        server = data.get("server")
        if not isinstance(image_id, int) or isinstance(image_id, bool) or image_id <= 0:
            raise _DamagedGoneError("an entry has no image id")
        if not isinstance(server, str) or not server:
            raise _DamagedGoneError(f"image {image_id} has no server")
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise _DamagedGoneError(f"image {image_id}'s status is not an HTTP status")
        try:
            when = datetime.fromisoformat(at) if isinstance(at, str) else None
        except ValueError:
            when = None
        if when is None:
            raise _DamagedGoneError(f"image {image_id}'s time is not a time")
        return cls(image_id, server, status, when if when.tzinfo else when.replace(tzinfo=UTC))


#: The lists said to be damaged in this process: each is said once, however often read.
_SAID_DAMAGED: set[Path] = set()


#: An entry's key: its server (normalised) and image id. Why not the id alone: an id gone
#: from both servers of a folder is recorded for each (the second was "recorded already",
#: and its server's every resume asked for it again).
GoneKey = tuple[str, int]


def gone_key(entry: GoneImage) -> GoneKey:
    """The key of ``entry`` in :func:`read_gone`'s answer."""
    from harvester.config import normal_base_url

    return normal_base_url(entry.server), entry.image_id


def read_gone(out_dir: Path) -> dict[GoneKey, GoneImage]:
    """DIR's gone images by server and id (:func:`gone_key`); none when there is no list,
    or it cannot be read (said once per process, as a warning naming the file)."""
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
            _problems.warning(
                "%s %s: no image is taken as gone; `harvester forget DIR --gone-ids-from "
                "FILE` writes it again",
                path,
                what,
            )
        return {}
    return {gone_key(entry): entry for entry in entries}


def gone_ids(out_dir: Path, server: str | None = None) -> frozenset[int]:
    """The ids of DIR's gone images; with ``server`` (a run's base URL), those that server
    failed: what its harvest does not ask for (another server's image of that id is
    another image)."""
    from harvester.config import normal_base_url

    gone = read_gone(out_dir)
    if server is None:
        return frozenset(image_id for _server, image_id in gone)
    mine = normal_base_url(server)
    return frozenset(image_id for url, image_id in gone if url == mine)


def gone_since(out_dir: Path, server: str, when: float) -> tuple[frozenset[int], frozenset[int]]:
    """The ids of DIR's gone images of ``server`` recorded before ``when`` (seconds since
    the epoch), and those recorded at or after it: a sample first drawn at ``when`` leaves
    the first out and keeps the others in their places (see ``select.GoneInSample``)."""
    from harvester.config import normal_base_url

    mine = normal_base_url(server)
    entries = [entry for (url, _id), entry in read_gone(out_dir).items() if url == mine]
    before = frozenset(e.image_id for e in entries if e.at.timestamp() < when)
    return before, frozenset(e.image_id for e in entries) - before


#: What "gone" answers: the server has no such image (404), or says it is gone (410).
GONE_STATUSES = frozenset({404, 410})


def gone_status(statuses: list[int | None]) -> int | None:
    """The 404 (410) that says an image is gone, or None when its failures do not:
    ``statuses`` are the HTTP statuses of its failed kinds' latest failures (None: no
    answer), each a refusal a retry gets again (a 4xx but 408 and 429: OMERO.web answers
    imgData of a deleted image 403) and one of them "not there". The one rule of
    ``forget --gone-ids-from`` and of the hints that point at it."""
    refused = all(s is not None and 400 <= s < 500 and s not in (408, 429) for s in statuses)
    found = [s for s in statuses if s in GONE_STATUSES]
    return found[0] if refused and found else None


def add_gone(out_dir: Path, entries: list[GoneImage]) -> list[int]:
    """Add ``entries`` to DIR's gone images; the ids added (those listed already for their
    server are left as they were). Raises OSError when the list cannot be written."""
    from harvester.runlock import folder_lock

    with folder_lock(out_dir, FORGOTTEN_LOCK):
        gone = read_gone(out_dir)
        added = [entry for entry in entries if gone_key(entry) not in gone]
        if added:
            gone.update((gone_key(entry), entry) for entry in added)
            _write(out_dir, gone)
    return [entry.image_id for entry in added]


def remove_gone(
    out_dir: Path,
    ids: list[int],
    only: Mapping[int, AbstractSet[str]] | None = None,
    server: str | None = None,
) -> list[int]:
    """Take ``ids`` off DIR's gone images (for every server, or, for an id of ``only``,
    for those servers alone: normal URLs, an image link's; with ``server``, a base URL, for
    that server alone: another server's image of that id stays gone); the ids removed (the
    others were not listed). Raises OSError when the list cannot be written.

    Why ``only`` and ``server``: ids are one server's; a link of one server's image took
    back the other server's image of that id too, and so did the undo a recording prints."""
    from harvester.config import normal_base_url
    from harvester.runlock import folder_lock

    only = only or {}
    mine = normal_base_url(server) if server is not None else None
    with folder_lock(out_dir, FORGOTTEN_LOCK):
        gone = read_gone(out_dir)
        asked = set(ids)
        taken = {
            key
            for key in gone
            if key[1] in asked
            and mine in (None, key[0])
            and (key[1] not in only or key[0] in only[key[1]])
        }
        listed = {image_id for _server, image_id in taken}
        removed = [image_id for image_id in ids if image_id in listed]
        if taken:
            _write(out_dir, {key: entry for key, entry in gone.items() if key not in taken})
    return removed


def _write(out_dir: Path, gone: dict[GoneKey, GoneImage]) -> None:
    """Replace the list in one step (temp file, fsync, rename); none left: remove it."""
    from harvester.store import atomic_write_bytes

    path = out_dir / GONE_NAME
    if not gone:
        path.unlink(missing_ok=True)
        return
    data = {"images": [gone[key].to_json() for key in sorted(gone, key=lambda k: (k[1], k[0]))]}
    atomic_write_bytes(out_dir, path, (json.dumps(data, indent=1) + "\n").encode())


def gone_among(failures: Iterable[tuple[int, int | None]]) -> list[int]:
    """Of failed images (``failures``: an image id and the HTTP status of a failed kind's
    latest failure, None for no answer, as many as it has failed kinds), those that
    :func:`gone_status` takes for gone, in their order: what ``forget --gone-ids-from``
    records without ``--force``."""
    statuses: dict[int, list[int | None]] = {}
    for image_id, status in failures:
        statuses.setdefault(image_id, []).append(status)
    return [image_id for image_id, said in statuses.items() if gone_status(said) is not None]


#: The kinds asked for after imgData, or imgData itself: a deleted image answers them 403
#: (OMERO.web's imgData to the public user), never 404 (see ``../idr-api.md``).
IMGDATA_KINDS = frozenset({"imgdata", "render", "stack"})


def imgdata_refused_among(failures: Iterable[tuple[int, str, int | None]]) -> list[int]:
    """Of failed images (``failures``: an image id, a failed kind and the HTTP status of
    its latest failure, None for no answer), those whose every failure is a 403 of
    :data:`IMGDATA_KINDS`, in their order: what a deleted image answers, and a private
    one too, so ``forget --gone-ids-from`` records them only with ``--check-server`` (or
    ``--force``)."""
    refused: dict[int, bool] = {}
    for image_id, kind, status in failures:
        alone = status == 403 and kind in IMGDATA_KINDS
        refused[image_id] = refused.get(image_id, True) and alone
    return [image_id for image_id, alone in refused.items() if alone]


def gone_images_hint(
    count: int | None, listings: list[str], out_dir: Path, refused: int | None = 0
) -> str:
    """The hint naming the way out for ``count`` failed images gone from the server (None:
    some, not counted): each of ``listings`` (``status --failed-ids``, one per server of
    a folder of two) piped into ``forget --gone-ids-from -``. A harvest's summary and
    ``status`` say it, so that the pipe is found where the failures are read, not only in
    the README.

    ``refused``: how many failed images answered imgData's 403 alone
    (:func:`imgdata_refused_among`; None: some, not counted). Then the pipe adds
    ``--check-server``, which asks the server's JSON API about those (404 for an image it
    lacks): without it the pipe refused them, and only that refusal named the flag, so an
    imgdata-only folder of deleted images was never pointed at it."""
    q = shell_quote(str(out_dir))
    check = " --check-server" if refused != 0 else ""
    pipes = " and ".join(f"{ls} | harvester forget {q} --gone-ids-from -{check}" for ls in listings)
    if refused == 0:
        return (
            f"if {_these(count)} not found (HTTP 404 or 410) {'is' if count == 1 else 'are'} "
            f"gone from the server for good, stop asking for {'it' if count == 1 else 'them'}: "
            f"{pipes}"
        )
    found = f"{_these(count)} not found (HTTP 404 or 410) and " if count != 0 else ""
    verb = "is" if not found and refused == 1 else "are"
    return (
        f"if {found}{_these(refused)} refused by imgData (HTTP 403: a deleted image answers so, "
        f"and a private one) {verb} gone from the server for good, have its JSON API asked "
        f"and stop asking for any it lacks: {pipes}"
    )


def _these(count: int | None) -> str:
    """``the 2 images`` (None: some, not counted: ``the images``)."""
    return {None: "the images", 1: "the image"}.get(count, f"the {count} images")


#: How long ``forget --check-server`` waits for each answer (seconds), and how many
#: times it asks again after a failure that may pass: one look per image, not a harvest's.
CHECK_TIMEOUT = 30.0
CHECK_RETRIES = 1


def ask_server(asked: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int | None]:
    """Ask each image's server (``asked``: image id and its server's URL as saved, no
    credentials; an id of two servers once for each) for the image at its JSON API
    (``api/v0/m/images/ID/``, what ``metadata`` fetches): (image id, server) -> the HTTP
    status it answered (None: no answer).

    Why that endpoint: it answers 404 for an image the server lacks, where imgData (and
    so ``imgdata``, ``render`` and ``stack``) answers a deleted image 403, as it answers a
    private one. Asked as the public user: a folder's saved URL holds no credentials, so
    a private server answers 403 (not recorded, as before). One request at a time, each
    bounded (:data:`CHECK_TIMEOUT`, :data:`CHECK_RETRIES`)."""
    import anyio

    return anyio.run(_ask_all, list(asked))


async def _ask_all(asked: list[tuple[int, str]]) -> dict[tuple[int, str], int | None]:
    """:func:`ask_server` in the event loop: one client per server."""
    from harvester.client import Client, ClientSettings, Expect
    from harvester.errors import FetchError, HarvesterError
    from harvester.urls import image_metadata

    answers: dict[tuple[int, str], int | None] = {}
    by_server: dict[str, list[int]] = {}
    for image_id, server in asked:
        by_server.setdefault(server, []).append(image_id)
    for server, ids in by_server.items():
        settings = ClientSettings(server, max_retries=CHECK_RETRIES, timeout=CHECK_TIMEOUT)
        async with Client(settings) as client:
            for image_id in ids:
                try:
                    fetched = await client.get(image_metadata(image_id), Expect.JSON)
                except FetchError as exc:
                    answers[image_id, server] = exc.status
                except HarvesterError:  # (a refused TLS, a proxy: no answer from the server)
                    answers[image_id, server] = None
                else:
                    answers[image_id, server] = fetched.status
    return answers

"""A harvest plan: the full work list, walked once, read by every shard.

On a cluster, letting N array tasks each walk the same screen multiplies the
listing requests by N. ``harvester plan`` walks once and writes
``DIR/plan/images.jsonl`` (one image per line: ``ImageRef.to_json()`` plus the
``artifacts`` to fetch for it) and ``DIR/plan/plan.json`` (totals and where
the plan came from). ``harvester harvest --from-plan DIR --shard K/N`` then
streams the lines and keeps its own images, without any walk.

A plan is either complete or absent: both files are written into a private
temporary folder, made durable (fsync of files and folder), and the folder is
renamed to ``DIR/plan`` in one step. A reader that finds ``plan.json`` can
trust that ``images.jsonl`` is whole; it still checks the line count against
the totals so that a plan damaged later is reported, not half-harvested.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import (
    AsyncIterable,
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from harvester.errors import RemoteError, SessionEndedError, UsageError
from harvester.journal import flush_drive
from harvester.models import Artifact, ImageRef, keep_placed_first, placed_before
from harvester.shell_words import shell_quote
from harvester.target_text import MAX_ID, OVER_MAX_ID
from harvester.text import plural, shown

if TYPE_CHECKING:
    from harvester.client import Client
    from harvester.config import HarvestConfig
    from harvester.session import SessionWatch

log = logging.getLogger(__name__)

PLAN_DIRNAME = "plan"
IMAGES_FILE = "images.jsonl"
META_FILE = "plan.json"
PLAN_FORMAT = 1
#: The writer name of ``harvester plan``'s journal ends so: ``harvester status`` tells the
#: walk that wrote the plan apart from the harvest runs by it (a plan is not a started task).
PLAN_WRITER_SUFFIX = "-plan"
#: The run settings ``plan`` and the harvest of its plan share, as flags: how politely the
#: server is asked. A plan holds none of them, so the commands ``plan`` prints give those
#: given to it again (``harvester.cli.hpc.plan_run_flags``), and so does ``status``'s
#: "next:" line (:func:`run_flags_in`, from the plan run's command line).
RUN_FLAGS = (
    "--concurrency",
    "--rate",
    "--burst",
    "--max-retries",
    "--timeout",
    "--min-speed",
    "--outage-wait",
)


def run_flags_in(argv: Sequence[str]) -> list[str]:
    """The :data:`RUN_FLAGS` of a journaled command line (``--rate 3``, ``--rate=3``, ``--rat
    3``), each as ``[flag, value]`` in :data:`RUN_FLAGS`' order (a later one overrides, as
    argparse reads it).

    Why: ``status`` of a folder holding only a plan said ``next: harvester harvest
    --from-plan DIR --out DIR``, without the plan's ``--rate 3``: a user copying it ran at
    the default 10 requests/s, not the rate planned (``plan`` prints it with them)."""
    found: dict[str, str] = {}
    for n, word in enumerate(argv):
        given, eq, value = word.partition("=")
        flag = _run_flag_named(given)
        if flag is None:
            continue
        if eq:
            found[flag] = value
        elif n + 1 < len(argv):
            found[flag] = argv[n + 1]
    return [part for flag in RUN_FLAGS if flag in found for part in (flag, found[flag])]


#: ``plan``'s flags that are the first letters of a run flag (``--out``, of
#: ``--outage-wait``): argparse reads each as itself, never as that flag shortened.
WHOLE_FLAGS = ("--out",)


def _run_flag_named(given: str) -> str | None:
    """The :data:`RUN_FLAGS` flag that ``given`` (a word before any ``=``) names as argparse
    read ``plan``'s command line: the flag, or its first letters (four characters at least,
    as :func:`harvester.pipeline.names_flag` reads them: ``--rat 3`` was the plan's rate,
    and status's "next:" line left it out). None for any other word."""
    if given in RUN_FLAGS:
        return given
    if len(given) < 4 or given in WHOLE_FLAGS:
        return None
    named = [flag for flag in RUN_FLAGS if flag.startswith(given)]
    return named[0] if len(named) == 1 else None


#: The key of ``plan.json`` naming the config file given to ``plan`` (absolute).
CONFIG_KEY = "config"


def plan_config_file(info: PlanInfo) -> str | None:
    """The config file given to the ``plan`` that wrote ``info``, absolute; None for none
    (or a plan written before it was recorded).

    Why: ``status`` of a folder holding only a plan gave ``next: harvester harvest
    --from-plan DIR --out DIR`` without it, while ``plan`` had printed ``harvester harvest
    demo.toml --out DIR ...``: a user copying status's line ran without the file's rate,
    headers or cookies."""
    path = info.extra.get(CONFIG_KEY)
    return path if isinstance(path, str) and path else None


@dataclass(frozen=True, slots=True)
class PlanInfo:
    """The contents of ``plan.json``: what was planned, from where, and how much."""

    images: int
    artifacts: dict[str, int]
    targets: dict[str, list[int]]
    base_url: str
    created: float
    format: int = PLAN_FORMAT
    tool: str = "harvester"
    extra: dict[str, Any] = field(default_factory=dict)
    #: Seconds the walk that wrote the plan paused while the server was down (for the
    #: line ``harvester plan`` ends with, as a harvest's summary says it); not in plan.json.
    outage_waited: float = 0.0
    #: Per kind, the planned files DIR's journals held done when the plan was made
    #: (:func:`planned_done`); not in plan.json.
    done: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the on-disk form of ``plan.json``)."""
        data: dict[str, Any] = {
            "tool": self.tool,
            "format": self.format,
            "images": self.images,
            "artifacts": dict(self.artifacts),
            "targets": {k: list(v) for k, v in self.targets.items()},
            "base_url": self.base_url,
            "created": self.created,
        }
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanInfo:
        """Inverse of :meth:`to_json`; unknown keys are kept in ``extra``."""
        known = {"tool", "format", "images", "artifacts", "targets", "base_url", "created"}
        return cls(
            images=int(data["images"]),
            artifacts={str(k): int(v) for k, v in dict(data.get("artifacts", {})).items()},
            targets={str(k): [int(i) for i in v] for k, v in dict(data.get("targets", {})).items()},
            base_url=str(data.get("base_url", "")),
            created=float(data.get("created", 0.0)),
            format=int(data.get("format", PLAN_FORMAT)),
            tool=str(data.get("tool", "harvester")),
            extra={k: v for k, v in data.items() if k not in known},
        )


def plan_dir(path: Path) -> Path:
    """The plan folder for ``path``: the harvest DIR (-> DIR/plan), the plan folder itself, or
    one of the plan's files (``DIR/plan/plan.json``).

    Why the file: ``--from-plan DIR/plan/plan.json`` was read as ``plan.json/plan/plan.json``
    and refused with a bare "Not a directory"; the file names its plan unambiguously.
    """
    path = Path(path)
    if path.is_file() and (path.parent / META_FILE).is_file():
        return path.parent
    if (path / META_FILE).is_file() and not (path / PLAN_DIRNAME / META_FILE).is_file():
        return path
    return path / PLAN_DIRNAME


def _plan_error(message: str, where: Path) -> UsageError:
    out = shell_quote(str(where))
    return UsageError(
        message, hint=f"write a plan first: harvester plan [CONFIG] [targets] --out {out}"
    )


def reselection_note(info: PlanInfo) -> str:
    """What a selection given with ``--from-plan`` does: it selects again within the plan.

    A plan holds the images of the selection it was made with; a second selection narrows
    them, so the plan's other images are never harvested and ``status``/``index`` count
    them as not harvested yet, for good. Said by ``harvester slurm`` and by the harvest.
    """
    made = info.extra.get("selection")
    holds = plural(info.images, "image") + (f" selected by {made}" if made else ", no selection")
    return (
        f"the plan holds {holds}; the selection given here selects again among them, and "
        "harvester status and index will count the plan's other images as not harvested "
        "(to change the selection, make a new plan with it: harvester plan ... --force)"
    )


def read_plan_info(path: Path) -> PlanInfo:
    """Read ``plan.json`` of the plan in ``path`` (the harvest DIR or its ``plan`` folder)."""
    pdir = plan_dir(path)
    meta = pdir / META_FILE
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _plan_error(f"no harvest plan in {path} ({meta} not found)", Path(path)) from None
    except (OSError, ValueError) as exc:
        raise _plan_error(f"unreadable harvest plan {meta}: {exc}", Path(path)) from None
    if not isinstance(data, dict) or data.get("tool") != "harvester" or "images" not in data:
        raise _plan_error(f"{meta} is not a harvester plan", Path(path))
    if int(data.get("format", 0)) > PLAN_FORMAT:
        raise UsageError(
            f"{meta} has plan format {data.get('format')}; this harvester reads up to {PLAN_FORMAT}"
        )
    return PlanInfo.from_json(data)


def iter_plan_records(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the raw JSON objects of ``images.jsonl`` (memory O(1) in the plan size).

    Raises :class:`UsageError` if the plan is absent, or (after the last line)
    if its line count disagrees with ``plan.json``: a damaged plan must not be
    taken for a smaller study.
    """
    for lineno, line in _plan_lines(path):
        yield _plan_record(path, lineno, line)


def iter_plan_ids(path: Path) -> Iterator[int]:
    """Stream the image ids of the plan in ``path``, cheaply (``harvester status``).

    A line written by :class:`PlanWriter` starts with ``{"image_id":<id>,`` (the first key
    of :meth:`ImageRef.to_json`), read without parsing the rest of the line; any other
    line is parsed whole. Same checks as :func:`iter_plan_records` (the line count
    against ``plan.json`` included), at a fraction of the cost for millions of images:
    its own loop over the file, as :func:`_plan_lines` does, without a generator, a strip
    or a tuple per line in between (``status`` reads every line of the plan every time).

    The quick read takes an id of ASCII digits not led by 0 and shorter than
    :data:`~harvester.target_text.MAX_ID` (``0``, ``-5``, ``²``, a digit to ``str.isdigit``
    that ``int`` refuses, and a number as long as OMERO's largest id or longer go to the
    whole parse, which refuses them naming the line: 5,000 digits ended ``status`` in an
    internal error, int() reading at most 4,300); a last line without its line break is
    parsed whole after the loop, so a line cut after its id (``{"image_id":12,"da``) is
    refused as cut short, not taken as a whole record.
    """
    prefix = '{"image_id":'
    start = len(prefix)
    info, images, fh = _open_plan(path)
    count = 0
    lineno, line = 0, "\n"
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith(prefix):
                end = line.find(",", start)
                text = line[start:end] if end > 0 else ""
                if text.isdigit() and text[0] != "0" and text.isascii() and len(text) < _ID_DIGITS:
                    count += 1
                    yield int(text)
                    continue
            if line.strip():
                count += 1
                yield int(_plan_record(path, lineno, line)["image_id"])  # (checked there)
    if not line.endswith("\n"):  # (the quick read took its id: the line must be whole)
        _plan_record(path, lineno, line)
    _check_count(images, count, info)


def _plan_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of every non-blank line of the plan's ``images.jsonl``.

    After the last line, their count must be the one ``plan.json`` gives (UsageError).
    """
    info, images, fh = _open_plan(path)
    count = 0
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                count += 1
                yield lineno, line
    _check_count(images, count, info)


#: The digits of OMERO's largest id: an id as long is read by the whole parse of its line.
_ID_DIGITS = len(str(MAX_ID))

#: What a message about a damaged plan ends with: the way out (a plan is never repaired).
_REMAKE = "write it again with `harvester plan ... --force`"


def _open_plan(path: Path) -> tuple[PlanInfo, Path, TextIO]:
    """The plan's ``plan.json``, the path of its ``images.jsonl`` and that file, open."""
    info = read_plan_info(path)
    images = plan_dir(path) / IMAGES_FILE
    try:
        fh = images.open("r", encoding="utf-8")
    except FileNotFoundError:
        raise _plan_error(f"harvest plan {images} is missing", Path(path)) from None
    return info, images, fh


def _check_count(images: Path, count: int, info: PlanInfo) -> None:
    """UsageError unless ``images.jsonl`` held the ``count`` lines ``plan.json`` gives."""
    if count != info.images:
        raise UsageError(
            f"harvest plan {images} has {plural(count, 'image')} but plan.json says {info.images}: "
            f"the plan is damaged; {_REMAKE}"
        )


def _plan_record(path: Path, lineno: int, line: str) -> dict[str, Any]:
    """One line of ``images.jsonl`` parsed, its ``image_id`` a valid id; UsageError naming
    the line when it is not one.

    Why a last line without its line break is said apart: :class:`PlanWriter` ends every
    line with one, so such a line was cut short (a copy of the plan stopped, a disk that
    filled), and "is not JSON" told nothing of what happened nor what to do.
    """
    images = plan_dir(path) / IMAGES_FILE
    try:
        record = json.loads(line)
    except ValueError:
        if not line.endswith("\n"):
            raise UsageError(
                f"harvest plan {images} line {lineno} is cut short (the file ends inside "
                f"it): the plan is incomplete; {_REMAKE}"
            ) from None
        raise UsageError(
            f"harvest plan {images} line {lineno} is not JSON: the plan is damaged; {_REMAKE}"
        ) from None
    if not isinstance(record, dict) or "image_id" not in record:
        raise UsageError(
            f"harvest plan {images} line {lineno} has no image_id: the plan is damaged; {_REMAKE}"
        )
    _plan_id(images, lineno, record)
    return record


def _plan_id(images: Path, lineno: int, record: dict[str, Any]) -> int:
    """The ``image_id`` of a parsed plan line: a whole number of at least 1, or UsageError
    naming the file and line.

    Why: ``-5`` and ``0`` were taken as images to fetch (asked of the server, counted by
    ``status``), ``1.5`` and ``true`` as images 1, and ``"abc"`` ended ``status`` with an
    internal error.
    """
    image_id = record["image_id"]
    if isinstance(image_id, int) and not isinstance(image_id, bool) and image_id > MAX_ID:
        # (no OMERO has such an id: it was asked of the server, "not found" at best)
        raise UsageError(
            f"harvest plan {images} line {lineno}: image_id {image_id} is not an image id "
            f"({OVER_MAX_ID}): the plan is damaged; {_REMAKE}"
        )
    if isinstance(image_id, bool) or not isinstance(image_id, int) or image_id < 1:
        raise UsageError(
            f"harvest plan {images} line {lineno}: image_id {shown(json.dumps(image_id))} is "
            f"not an image id (ids are whole numbers from 1): the plan is damaged; {_REMAKE}"
        )
    return image_id


def read_plan(path: Path) -> Iterator[ImageRef]:
    """Stream the planned images of the plan in ``path`` (harvest DIR or plan folder)."""
    for record in iter_plan_records(path):
        yield ImageRef.from_json(record)


def planned_done(
    out_dir: Path, info: PlanInfo, done: Collection[tuple[str, int]]
) -> dict[str, int]:
    """Per kind, the files of DIR's plan (``info``) that ``done`` (the done records of
    DIR's journals, as the plan's walk loaded them: ``JournalState.done``) holds; empty
    when none is done.

    Why: a plan grown over a harvested folder (``plan --force`` with a wider selection)
    said the time of requests for every planned file, the harvested ones too; its harvest
    skips those, so the estimate counts the work left and says how many are done. Why the
    walk's records: read again here, the journals of a huge folder were loaded twice."""
    if not done:
        return {}
    kinds = [kind for kind, n in info.artifacts.items() if n]
    counts = dict.fromkeys(kinds, 0)
    for image_id in iter_plan_ids(out_dir):
        for kind in kinds:
            counts[kind] += (kind, image_id) in done
    return {kind: n for kind, n in counts.items() if n}


# --------------------------------------------------------------------------- plan settings
#: The settings a plan fixes for the runs that harvest it, unless the user gives them.
PLAN_SETTINGS = ("base_url", "artifacts")


def given_settings(config_file: Path | None, overrides: Mapping[str, Any]) -> set[str]:
    """The config keys the user gave: a flag (an override that is not None) or the file.

    A key in the config file counts even when its value is the default: ``base_url =
    "https://idr.openmicroscopy.org"`` names IDR, it does not leave the choice open.
    """
    from harvester.config import load_toml

    given = {key for key, value in overrides.items() if value is not None}
    if config_file is not None:
        given.update(load_toml(config_file))
    return given


def check_plan_server(base_url: str, info: PlanInfo, plan_path: Path) -> None:
    """Refuse to harvest a plan from another server than the one it was made from.

    A plan lists image ids of one server: the same ids elsewhere are other images (or
    none), so the run would fill DIR with the wrong data under the planned context.
    Compared without credentials (the plan stores none) or a trailing slash.
    """
    chosen = public_url(base_url).rstrip("/")
    if info.base_url and chosen != info.base_url.rstrip("/"):
        raise UsageError(
            f"the plan in {plan_path} was made for {info.base_url}, not {chosen}",
            hint="leave the base URL out (no --base-url, no base_url in the config file: "
            "the plan's is used), or plan again for that server",
        )


def apply_plan(
    config: HarvestConfig, plan_path: Path, given: Container[str], command: str = "harvest"
) -> tuple[HarvestConfig, PlanInfo]:
    """``config`` with the plan's base URL and artifacts where the user gave none.

    What ``harvester harvest --from-plan`` and ``harvester slurm --from-plan`` both do: the
    plan was walked on one server for some artifacts, so those are the run's unless a flag
    or the config file (``given``, see :func:`given_settings`) says otherwise; another
    server is refused (:func:`check_plan_server`), and so is a run given none of the
    credentials the plan was made with (``command`` names the subcommand in the hint).
    Reads ``plan.json`` only.
    """
    info = read_plan_info(plan_path)
    changes: dict[str, Any] = {}
    if "base_url" not in given and info.base_url:
        changes["base_url"] = info.base_url
    if "artifacts" not in given and info.artifacts:
        changes["artifacts"] = tuple(info.artifacts)
    if changes:
        config = replace(config, **changes)
    check_plan_server(config.base_url, info, plan_path)
    if "base_url" not in given:
        _check_plan_credentials(config, info, plan_path, command)
    return config, info


def _check_plan_credentials(
    config: HarvestConfig, info: PlanInfo, plan_path: Path, command: str
) -> None:
    """Refuse a run of a plan made with credentials, none of which it was given again.

    The plan saves its server without them (every task and log reads ``plan.json``), so
    such a run asked a private server anonymously, whose answers then said the planned
    images were not there. As :func:`harvester.config.folder_server` refuses a run into a
    folder; ``withheld`` names the kinds (never a value). A run naming its own base URL
    chose the server, credentials included.
    """
    from harvester.config import SECRET_KEYS, secrets_again_note

    saved = info.extra.get("withheld")
    withheld = [str(key) for key in saved] if isinstance(saved, list) else []
    missing = [
        key
        for key in withheld
        if key == "base_url" or (key in SECRET_KEYS and not getattr(config, key))
    ]
    if not missing:
        return
    said = " and ".join(
        "credentials in its base URL" if key == "base_url" else key for key in missing
    )
    # harvester slurm refuses a --base-url holding a session (its script would spell it
    # out): there the URL goes in the config file too.
    url_in_file = command == "slurm"
    url_flag = "base_url" in missing and not url_in_file
    in_file = any(key in SECRET_KEYS for key in missing) or ("base_url" in missing and url_in_file)
    words = [f"harvester {command}"] + (["SECRETS.toml"] if in_file else [])
    words += ["--out", shell_quote(str(config.out)), "--from-plan", shell_quote(str(plan_path))]
    if url_flag:
        words += ["--base-url", "URL"]
    note = secrets_again_note(missing, url_in_file=url_in_file, shown=info.base_url)
    raise UsageError(
        f"the plan in {plan_path} was made with credentials that are not saved: {said} "
        f"({info.base_url})",
        hint=f"give --base-url {shell_quote(info.base_url)} to ask without them, or run: "
        f"{' '.join(words)}  # {note}",
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def clean_stale_plan_temps(out_dir: Path) -> int:
    """Remove ``plan.tmp-*``/``plan.old-*`` folders left by dead planners on this host.

    Folders are named ``plan.tmp-<host>-<pid>-<random>``; only those of this
    host whose process is gone are removed (another host's planner may still
    be writing on a shared filesystem). Returns how many were removed.
    """
    removed = 0
    for entry, host, live in _plan_temps(out_dir, (f"{PLAN_DIRNAME}.tmp-", f"{PLAN_DIRNAME}.old-")):
        if host == socket.gethostname() and not live:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def planners_running(out_dir: Path) -> list[str]:
    """The hosts of the ``harvester plan`` runs that may be writing DIR's plan now: this
    host's whose process lives (their ``plan.tmp-*`` folder), and every other host's that
    left one (another host's process cannot be told alive from here).

    Why: ``status`` of a folder whose plan is being made (its journal and study files
    written, its plan not yet) said the plan "stopped before it wrote its plan" and asked
    for it to be run again, of a plan running then."""
    hosts = [host for _entry, host, live in _plan_temps(out_dir, (f"{PLAN_DIRNAME}.tmp-",)) if live]
    return sorted(set(hosts), key=lambda host: (host != socket.gethostname(), host))


def _plan_temps(
    out_dir: Path, prefixes: tuple[str, ...]
) -> Iterator[tuple[os.DirEntry[str], str, bool]]:
    """DIR's folders named ``<prefix><host>-<pid>-<random>``, each with its host and
    whether its planner may be running (another host's: True, not ours to tell)."""
    here = socket.gethostname()
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return
    for entry in entries:
        for prefix in prefixes:
            if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
                continue
            parts = entry.name[len(prefix) :].rsplit("-", 2)
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            host, pid = parts[0], int(parts[1])
            yield entry, host, host != here or pid == os.getpid() or _pid_alive(pid)


#: How :meth:`PlanWriter.add` begins each line (ImageRef.to_json's first key).
_LINE_START = '{"image_id":'


def _line_id(line: str) -> int | None:
    """The image id a plan line written by :meth:`PlanWriter.add` begins with, read
    without parsing the line (None: it begins otherwise, and is parsed)."""
    if not line.startswith(_LINE_START):
        return None
    end = line.find(",", len(_LINE_START))
    digits = line[len(_LINE_START) : end]
    return int(digits) if end > 0 and digits.isdigit() else None


class PlanWriter:
    """Writes a plan into a private temporary folder; :meth:`commit` publishes it.

    Use as a context manager: leaving the block without ``commit()`` (an
    error, Ctrl-C) removes the temporary folder, so no partial plan is ever
    visible. Images seen twice (an image listed in two datasets) are kept once, in
    the context placed first (:func:`~harvester.models.placed_before`, see
    :meth:`place_again`), as a harvest journals them.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        artifacts: Sequence[Artifact | str],
        targets: dict[str, list[int]] | None = None,
        base_url: str = "",
        force: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.final = self.out_dir / PLAN_DIRNAME
        if (self.final / META_FILE).exists() and not force:
            raise UsageError(
                f"{self.final} already holds a plan",
                hint="pass --force to replace it (only while no shard is reading it)",
            )
        self.artifacts = [str(Artifact(a)) for a in artifacts]
        self.targets = {k: list(v) for k, v in (targets or {}).items() if v}
        self.base_url = base_url
        self.force = force
        from harvester.walk import SeenIds

        tag = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp = self.out_dir / f"{PLAN_DIRNAME}.tmp-{tag}"
        clean_stale_plan_temps(self.out_dir)
        self._seen = SeenIds()
        self._count = 0
        self._fh: IO[str] | None = None
        self.info: PlanInfo | None = None

    def __enter__(self) -> PlanWriter:
        try:
            self.tmp.mkdir(parents=True)
            self._fh = (self.tmp / IMAGES_FILE).open("w", encoding="utf-8")
        except OSError as exc:
            from harvester.errors import StorageError

            raise StorageError(
                f"cannot write a plan into {self.out_dir}: {exc}", cause=exc
            ) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            # (only after a failure: its temporary folder goes; a close that fails again,
            # its buffer on a full disk still, would hide the error that said so)
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, ref: ImageRef) -> bool:
        """Append one image; returns False (and writes nothing) if it was already planned."""
        if self._fh is None:
            raise RuntimeError("PlanWriter.add() outside its `with` block")
        if not self._seen.add(ref.image_id):
            return False
        self._count += 1
        record = ref.to_json()
        record["artifacts"] = self.artifacts
        try:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        except OSError as exc:  # (a full disk: named, as commit() names it)
            from harvester.store import storage_error

            raise storage_error(exc, f"the plan in {self.out_dir}", started=False) from exc
        return True

    def place_again(self, best: Mapping[int, ImageRef]) -> None:
        """Rewrite the line of each image the walk met again under another parent whose
        context there (``best``, by :func:`~harvester.models.keep_placed_first`) is placed
        first (the lowest dataset id, say): the walk queued it under the parent it reached
        first, which depends on timing. One pass over the plan's lines, only when some
        image was met twice; only those images' lines are parsed (:func:`_line_id`)."""
        if not best or self._fh is None:
            return
        self._fh.close()
        path = self.tmp / IMAGES_FILE
        new = path.with_name(f"{IMAGES_FILE}.again")
        with path.open(encoding="utf-8") as src, new.open("w", encoding="utf-8") as dst:
            for line in src:
                image_id = _line_id(line)
                ref = best.get(image_id) if image_id is not None else None
                if ref is not None or image_id is None:
                    line = self._placed_line(line, best)
                dst.write(line)
        new.replace(path)
        self._fh = path.open("a", encoding="utf-8")

    @staticmethod
    def _placed_line(line: str, best: Mapping[int, ImageRef]) -> str:
        """``line`` (a planned image), in its context from ``best`` if that is placed first."""
        record = json.loads(line)
        ref = best.get(record.get("image_id"))
        if ref is None or not placed_before(ref, ImageRef.from_json(record)):
            return line
        placed = ref.to_json()
        placed["artifacts"] = record["artifacts"]
        return json.dumps(placed, separators=(",", ":")) + "\n"

    def commit(self, **extra: Any) -> PlanInfo:
        """Make the plan durable and publish it as ``DIR/plan`` in one rename.

        A write that fails (a full disk, a file-size limit) is a StorageError naming the
        plan: as a bare OSError it said only ``error: File too large``, exit 2."""
        try:
            return self._commit(extra)
        except OSError as exc:
            from harvester.store import storage_error

            raise storage_error(exc, f"the plan in {self.out_dir}", started=False) from exc

    def _commit(self, extra: dict[str, Any]) -> PlanInfo:
        if self._fh is None:
            raise RuntimeError("PlanWriter.commit() outside its `with` block")
        self._fh.flush()
        flush_drive(self._fh.fileno())  # (fsync; on macOS past the drive's cache)
        self._fh.close()
        self._fh = None
        n = self._count
        info = PlanInfo(
            images=n,
            artifacts={a: n for a in self.artifacts},
            targets=self.targets,
            base_url=self.base_url,
            created=time.time(),
            extra=extra,
        )
        meta = self.tmp / META_FILE
        with meta.open("w", encoding="utf-8") as fh:
            json.dump(info.to_json(), fh, indent=2)
            fh.write("\n")
            fh.flush()
            flush_drive(fh.fileno())  # (before the rename that publishes the plan)
        _fsync_dir(self.tmp)
        old: Path | None = None
        if self.final.exists():
            refuse_while_harvests_run(self.out_dir)  # (one may have started during the walk)
            old = self.out_dir / f"{PLAN_DIRNAME}.old-{self.tmp.name.split('.tmp-', 1)[1]}"
            self.final.rename(old)
        self.tmp.rename(self.final)
        _fsync_dir(self.out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.info = info
        log.info("plan written: %s (%d images)", self.final, n)
        return info


def write_plan(
    out_dir: Path,
    refs: Iterable[ImageRef],
    *,
    artifacts: Sequence[Artifact | str],
    targets: dict[str, list[int]] | None = None,
    base_url: str = "",
    force: bool = False,
) -> PlanInfo:
    """Write the plan of ``refs`` into ``out_dir/plan`` atomically and return its totals."""
    with PlanWriter(
        out_dir, artifacts=artifacts, targets=targets, base_url=base_url, force=force
    ) as writer:
        for ref in refs:
            writer.add(ref)
        return writer.commit()


async def write_plan_async(
    out_dir: Path,
    refs: AsyncIterable[ImageRef],
    *,
    artifacts: Sequence[Artifact | str],
    targets: dict[str, list[int]] | None = None,
    base_url: str = "",
    force: bool = False,
) -> PlanInfo:
    """:func:`write_plan` for an async stream of images (the walker's output).

    Lines go to a buffered file, so the rare blocking write is a memory copy;
    the fsyncs happen once, at commit.
    """
    with PlanWriter(
        out_dir, artifacts=artifacts, targets=targets, base_url=base_url, force=force
    ) as writer:
        async for ref in refs:
            writer.add(ref)
        return writer.commit()


def _targets_of(config: HarvestConfig) -> dict[str, list[int]]:
    return {
        "screens": list(config.screens),
        "projects": list(config.projects),
        "plates": list(config.plates),
        "datasets": list(config.datasets),
        "images": list(config.images),
    }


def check_plan_targets(config: HarvestConfig) -> None:
    """Refuse a plan of no targets (or of a plan: ``--from-plan``). Also called by the CLI
    before it says which server and kinds a plan in a harvested folder takes: those lines,
    printed above the refusal, read as if planning had begun."""
    if not config.has_targets or config.from_plan is not None:
        raise UsageError(
            "nothing to plan: give targets (--screen, --project, --plate, --dataset, --image, "
            "--ids-from) or a config file that lists them"
        )


async def plan_targets(
    config: HarvestConfig,
    out_dir: Path,
    *,
    force: bool = False,
    argv: Sequence[str] = (),
    on_image: Callable[[ImageRef], None] | None = None,
    say: Callable[[str], None] | None = None,
    on_wait: Callable[[str | None, float, float | None], None] | None = None,
    ids_copy: Path | None = None,
    on_walk: Callable[[Callable[[], str] | None], None] | None = None,
    out_note: str | None = None,
    config_file: Path | None = None,
) -> PlanInfo:
    """Walk the targets of ``config`` once and publish the plan in ``out_dir/plan``
    (``config_file``: the config file given, absolute, recorded for :func:`plan_config_file`).

    ``ids_copy``: the caller's copy of a ``--ids-from`` source readable once (standard
    input, a pipe: :func:`~harvester.pipeline.copy_of_ids_source`, which the caller removes),
    read instead of ``config.ids_from``; without it such a source is copied here. An
    ``--ids-from`` source holding no id as the only target is refused as a harvest refuses
    it (:func:`~harvester.pipeline.no_ids_held`), before DIR is made or touched: a plan of
    nothing, exit 0, read as success after the command writing the ids had failed.

    Screen and project names are looked up once after the server check
    (:mod:`harvester.names`; ``say`` gets what each resolved to): the plan holds ids.

    A server down as a whole, at the start or during the walk, is waited for as a harvest
    waits (:mod:`harvester.outage`, ``config.outage_wait``); ``on_wait(reason, seconds,
    next_check)`` hears of the pause every second (``reason`` None: going on), and the plan's
    ``outage_waited`` says how long it paused in all. Past the limit the walk stops with
    :class:`ServerUnavailableError` (exit 75), no plan written.

    ``on_walk(describe)`` hears after each listing that advanced the walk, ``describe()``
    saying how far it is as a harvest's walk says it (``walking --screen 1601: 188 of 1,200
    plates listed, ...``: :func:`~harvester.pipeline.walk_text`), and ``on_walk(None)`` once
    it has listed everything (:meth:`harvester.progress.Progress.walking`): a plan of a big
    screen walks for hours, in which "images found" alone did not say how far it was.

    ``out_note``: a warning about DIR (the user's files there:
    :func:`harvester.cli.harvest.foreign_folder_note`), said once the store opened there,
    as a harvest says it: a plan refused first (an unknown id, a server that does not
    answer) puts nothing among those files, and was told its files "go in among them".

    The walk also saves the study-level metadata (screen, plates, wells,
    project, datasets) into DIR through the store, exactly as a single
    harvest would: a plan-driven harvest does not walk, so the planner is the
    one writer of those files. A walk with failures (a plate listing that
    failed for good) publishes no plan: an incomplete plan would silently
    shrink the harvest of every shard.
    """
    import anyio

    from harvester.openfiles import fit_open_files
    from harvester.pipeline import check_out_dir, copy_of_ids_source, no_ids_held
    from harvester.walk import check_ids_file

    check_plan_targets(config)
    fit_open_files(config.concurrency)  # before DIR is made: the walk's connections need them
    own_copy = None
    if ids_copy is None:  # (a pipe read to see whether it holds an id would be gone for the walk)
        ids_copy = own_copy = await anyio.to_thread.run_sync(
            copy_of_ids_source, config.ids_from, "plan", config.base_url
        )
    try:
        if ids_copy is None and config.ids_from is not None:
            # A file read where it is: checked whole before DIR is made, as a harvest checks
            # it (a junk line; a link of another server, which the walk reads as ids).
            await anyio.to_thread.run_sync(check_ids_file, config.ids_from, config.base_url)
        no_ids_held(config, ids_copy, going_on="planning the other targets")
        await anyio.to_thread.run_sync(_prepare_out_dir, out_dir, force, check_out_dir)
        return await _plan_from(
            config, out_dir, ids_copy, force, argv, on_image, say, on_wait, on_walk, out_note,
            config_file,
        )  # fmt: skip
    finally:
        if own_copy is not None:
            own_copy.unlink(missing_ok=True)


async def _plan_from(
    config: HarvestConfig,
    out_dir: Path,
    ids_file: Path | None,
    force: bool,
    argv: Sequence[str],
    on_image: Callable[[ImageRef], None] | None,
    say: Callable[[str], None] | None,
    on_wait: Callable[[str | None, float, float | None], None] | None,
    on_walk: Callable[[Callable[[], str] | None], None] | None,
    out_note: str | None,
    config_file: Path | None = None,
) -> PlanInfo:
    """:func:`plan_targets` once its targets are checked and DIR is ready: the server check,
    the names, the walk (``ids_file``: where the ``--ids-from`` ids are read, if not there;
    ``out_note``: see :func:`plan_targets`)."""
    from harvester.client import Client
    from harvester.outage import Outage
    from harvester.pipeline import client_settings, probe_server, unwrap_errors

    outage = Outage(config.outage_wait, on_wait=on_wait)
    # One client for the check, the names and the walk: one set of limits, one pause.
    # unwrap_errors: a pause past outage_wait stops every worker of the walk with the same
    # ServerUnavailableError; the CLI reports it, not their group.
    with unwrap_errors():
        async with Client(client_settings(config), outage=outage) as client:
            await probe_server(config, share_limits_of=client)
            try:
                if config.screen_names or config.project_names:
                    # Names become ids once, before the store opens: the plan records ids.
                    from harvester.names import resolve_target_names

                    watch = _PlanStop().watch(client, config)  # (its lookups' only)
                    config = await resolve_target_names(config, client, say=say, watch=watch)
                info = await _walk_into_plan(
                    config,
                    out_dir,
                    client,
                    force=force,
                    argv=argv,
                    on_image=on_image,
                    ids_file=ids_file,
                    on_walk=on_walk,
                    out_note=out_note,
                    config_file=config_file,
                )
            except SessionEndedError as exc:  # a lookup before the walk: said as mid-walk
                raise _stopped_error(exc.status, exc.reason) from None
    return replace(info, outage_waited=outage.waited())


async def _walk_into_plan(
    config: HarvestConfig,
    out_dir: Path,
    client: Client,
    *,
    force: bool,
    argv: Sequence[str],
    on_image: Callable[[ImageRef], None] | None,
    ids_file: Path | None = None,
    on_walk: Callable[[Callable[[], str] | None], None] | None = None,
    out_note: str | None = None,
    config_file: Path | None = None,
) -> PlanInfo:
    """The walk of :func:`plan_targets`, through ``client``, into a new plan (``ids_file``:
    where the ``--ids-from`` ids are read, a copy of a source readable once; else
    ``config.ids_from``; ``on_walk``, ``out_note``: see :func:`plan_targets`)."""
    import anyio

    from harvester import layout
    from harvester.errors import ServerUnavailableError
    from harvester.gone import gone_ids
    from harvester.pipeline import StoreStudy, public_argv, walk_text
    from harvester.select import GoneInSample, run_stage
    from harvester.selection import Selection, SelectStats
    from harvester.store import Store
    from harvester.walk import Walker, preflight

    extra: dict[str, Any] = {}
    if config.ids_from is not None:
        # A record of the source (a run of the plan reads the plan, not this file), named as
        # the runs' saved configs name it: absolute, so it means one file from any folder
        # (a read-once source, /dev/stdin or /dev/fd/N, as it was).
        extra["ids_from"] = str(config.ids_from.absolute())
    if config.withheld:  # which credentials its runs must be given again (never their values)
        extra["withheld"] = config.withheld
    if config_file is not None:  # (absolute, as ids_from: one file from any folder)
        extra[CONFIG_KEY] = str(config_file)
    run_id = layout.new_run_id(out_dir)
    writer_name = layout.check_writer(layout.make_writer(run_id) + PLAN_WRITER_SUFFIX)
    stop = _PlanStop()
    watch = stop.watch(client, config)
    # Every named target is checked before the store opens (and makes DIR): an unknown id
    # leaves no new folder behind, and an existing one as it was.
    prefetched = await preflight(
        client,
        screens=config.screens,
        projects=config.projects,
        plates=config.plates,
        datasets=config.datasets,
        images=config.images,
        watch=watch,
        index=layout.index_path(out_dir),
    )
    # The command line as the journal keeps it: a session in --base-url redacted.
    async with Store.open(
        out_dir, run_id=run_id, writer=writer_name, argv=public_argv(argv)
    ) as store:
        if out_note:  # (once the store opened there: see plan_targets)
            from harvester.errors import PROBLEMS_LOGGER

            logging.getLogger(PROBLEMS_LOGGER).warning("%s", out_note)
        send, receive = anyio.create_memory_object_stream[ImageRef](config.queue_size)
        # With selection flags the plan holds the selected images only (the whole
        # selection: shards of a plan-driven harvest split it, they do not re-sample).
        selection = Selection.from_config(replace(config, shard=None))
        selected = SelectStats()
        walk_send, walk_receive = send, receive
        gone: frozenset[int] = frozenset()
        if selection.active:
            # Images recorded as gone before the plan is made are no candidates of its
            # sample: the plan's draw is a new one (a harvest's rule: select.GoneInSample).
            gone = await anyio.to_thread.run_sync(gone_ids, out_dir, config.base_url)
            walk_send, walk_receive = anyio.create_memory_object_stream[ImageRef](config.queue_size)
            extra["selection"] = selection.describe()
        again: dict[int, ImageRef] = {}  # images met again under another parent (place_again)
        walker = Walker(
            client,
            walk_send,
            walk_concurrency=config.walk_concurrency,
            study=StoreStudy(store),
            on_image=on_image,
            prefetched=prefetched,
            watch=watch,
            on_again=lambda ref: keep_placed_first(again, ref),
            second_chance=config.max_retries > 0,  # (as a harvest's walk: --max-retries 0 none)
        )
        if config.ids_from is not None:  # (ids of DIR's other server: harvester.ids_servers)
            from harvester.ids_servers import other_servers_ids, say_another_folders

            await anyio.to_thread.run_sync(
                say_another_folders, config.ids_from, out_dir, config.base_url
            )
            kinds = [a.value for a in config.artifacts]
            walker.ids_skip = await anyio.to_thread.run_sync(
                other_servers_ids, out_dir, store.state, config.base_url, run_id, kinds
            )
        if on_walk is not None:  # how far the walk is, worded as a harvest's (its progress)
            describe = walk_text(config.walk_targets(run_id), walker.stats, selection, selected)
            walker.on_listed = lambda: on_walk(describe)

        async def produce() -> None:
            async with walk_send:
                await walker.walk(
                    screens=config.screens,
                    projects=config.projects,
                    plates=config.plates,
                    datasets=config.datasets,
                    images=config.images,
                    ids_file=ids_file or config.ids_from,
                )
            if on_walk is not None:
                on_walk(None)  # listed all it could: the progress says the images found
            from harvester.ids_servers import say_left_out

            kinds = [a.value for a in config.artifacts]
            say_left_out(walker.ids_skip, config.ids_from, out_dir, kinds)

        targets = {k: v for k, v in _targets_of(config).items() if v}
        with PlanWriter(
            out_dir,
            artifacts=config.artifacts,
            targets=targets,
            base_url=public_url(config.base_url),
            force=force,
        ) as writer:
            with stop.scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(produce)
                    if selection.active:
                        tg.start_soon(
                            partial(
                                run_stage,
                                selection,
                                walk_receive,
                                send,
                                selected,
                                gone=GoneInSample(left_out=gone),
                            )
                        )
                    async with receive:
                        async for ref in receive:
                            writer.add(ref)
            stop.raise_if_stopped()  # (leaving the block removes the plan begun)
            writer.place_again(again)
            failures = walker.stats.failures
            if failures:
                first = failures[0]
                # All of them "busy" (a maintenance window): try later, exit 75; else exit 2.
                busy = all(f.busy for f in failures)
                # Study files alone (a plate's grid; every image listed): a harvest from the
                # plan does not walk, so they would be missing for good all the same.
                # Labels alone (an --image or --ids-from image's annotation request): a
                # harvest from the plan asks none, so they would be missing for good too.
                missed = (
                    "their labels: a harvest from a plan asks none"
                    if all(f.labels_only for f in failures)
                    else "their study files: a harvest from a plan does not walk"
                    if walker.stats.listed_every_image()
                    else "their images"
                )
                hint = "run `harvester plan` again later (with --force if a plan exists)"
                if first.status == 401:  # "later" gets the same answer: credentials are wanted
                    from harvester.fetch import HINT_CREDENTIALS

                    hint = HINT_CREDENTIALS
                raise (ServerUnavailableError if busy else RemoteError)(
                    f"the walk failed for {plural(len(failures), 'listing')}, first: {first.what}: "
                    f"{first.reason}; no plan was written (it would miss {missed})",
                    hint=hint,
                )
            if selection.active:
                extra["walked"] = selected.walked
            # What the walk listed whole: a harvest from the plan tells by it an image that
            # moved since DIR journaled it (placing.Listed.left) from one it did not list.
            extra["listed"] = walker.listed.to_json()
            if selected.gone_left_out:  # (the summary's "2 images recorded as gone ...")
                extra["gone_left_out"] = selected.gone_left_out
            if selected.per_key:  # (the summary's "11 classes of 'Phenotype', ...")
                extra |= {
                    "sample_per": selected.per_key,
                    "classes": selected.classes,
                    "unclassed": selected.unclassed,
                }
            info = writer.commit(**extra)
        # (the store's records, loaded as it opened: plans journal no image files)
        done = await anyio.to_thread.run_sync(planned_done, out_dir, info, store.state.done)
        return replace(info, done=done)


class _PlanStop:
    """The walk of a plan watched as a harvest's (:mod:`harvester.session`), for a plan
    that sent credentials: once its session ended, or the server refused them, every
    listing left failed in turn, and the plan failed with each of them listed. The watch
    cancels :attr:`scope` (the walk) and :meth:`raise_if_stopped` says why, as a harvest
    does (exit 2), no plan written."""

    def __init__(self) -> None:
        import anyio

        self.scope = anyio.CancelScope()
        self._why: tuple[int, str] | None = None

    def watch(self, client: Client, config: HarvestConfig) -> SessionWatch | None:
        """The watch for ``config``'s walk through ``client`` (None: a public plan)."""
        from harvester.session import SessionWatch, check_at_most

        if not config.withheld:
            return None
        return SessionWatch(
            client,
            self._stopped,
            session=config.sends_session,
            at_most=check_at_most(config.give_up_after),
        )

    def _stopped(self, status: int, reason: str) -> None:
        self._why = (status, reason)
        self.scope.cancel()

    def raise_if_stopped(self) -> None:
        """The plan's error when the watch stopped the walk (exit 2, the harvest's hint)."""
        if self._why is not None:
            raise _stopped_error(*self._why)


def _stopped_error(status: int, reason: str) -> RemoteError:
    """A plan's error when the session or credentials it sent stopped working (``status``,
    the ``reason`` shown), in its walk or a lookup before it: exit 2, the harvest's hint."""
    from harvester.session import again_hint, stopped_text

    return RemoteError(
        f"{stopped_text(status, reason)}: stopped asking for more; no plan was written",
        hint=f"{again_hint(status)}, then run `harvester plan` again "
        "(with --force if a plan exists)",
    )


def _prepare_out_dir(out_dir: Path, force: bool, check: Callable[[Path], None]) -> None:
    """Refuse an existing plan (unless forced, and then while harvests run in DIR) or an
    unusable DIR. DIR is not made here: the store makes it once the server has answered
    and every target was found, so a plan that fails before (nothing answers, an unknown
    ``--image``) leaves no new folder behind, as a harvest does."""
    refuse_existing_plan(out_dir, force)
    if (out_dir / PLAN_DIRNAME / META_FILE).exists():
        refuse_while_harvests_run(out_dir)
    check(out_dir)


def refuse_existing_plan(out_dir: Path, force: bool) -> None:
    """A :class:`UsageError` where DIR holds a plan and ``force`` is not given.

    Why apart: ``harvester plan`` says it before the lines that name the folder's server
    and kinds ("fetching --artifacts ..."), which came first, as if the plan were under way
    (and again once the server has answered: a plan written meanwhile)."""
    if not force and (out_dir / PLAN_DIRNAME / META_FILE).exists():
        raise UsageError(
            f"{out_dir / PLAN_DIRNAME} already holds a plan",
            hint="pass --force to replace it (only while no shard is reading it)",
        )


def refuse_while_harvests_run(out_dir: Path) -> None:
    """Refuse to replace DIR's plan while a harvest of DIR holds a run lock.

    The shards of a job array read the plan as they start and trust it to the end (each
    takes its images by ``hash % N`` of the plan's): a plan replaced under them gives the
    shards still to start another image list than those running, and the split no longer
    adds up. Only held locks count (:func:`harvester.runlock.held_run_locks`): a filesystem
    without ``flock`` cannot tell, and there ``--force`` stays the user's word.
    """
    from harvester.runlock import held_run_locks, is_harvest_holder

    running = held_run_locks(out_dir)
    q = shell_quote(str(out_dir))
    if running and not any(is_harvest_holder(text) for text in running):
        # (harvester forget, for a moment: "harvests ... are running" named none that was)
        raise UsageError(
            f"{out_dir / PLAN_DIRNAME} is in use: {out_dir} is held by "
            f"{'; '.join(running)}, which records its change and harvests nothing",
            hint="plan again once it has ended",
        )
    if running:
        raise UsageError(
            f"{out_dir / PLAN_DIRNAME} is in use: harvests of {out_dir} are running "
            f"({'; '.join(running)}), and --force would replace the plan under them",
            hint=f"wait for them to end or stop them (scancel, Ctrl-C), then plan again; "
            f"harvester status {q} names them",
        )


def public_url(url: str) -> str:
    """The base URL without credentials (a plan is shared with every task and log)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

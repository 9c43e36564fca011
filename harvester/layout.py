"""Where every harvested file lives inside the output folder DIR, and how names become paths.

The layout is a pure function of ids, so that any process (a resume, another shard, ``status``,
``verify``, ``index``) finds a file from the journal record alone::

    DIR/
      harvest.json                 marker: tool + layout version + the settings DIR keeps
      runs/<run-id>/config.json    resolved config of each run (secrets removed)
      journals/<writer>.jsonl      one append-only journal per process
                                   (a rerun that recorded nothing and whose config nothing
                                   reads removes both: Harvest._forget_if_nothing_done)
      journals/<writer>.pending    temp files of the batch a writer is committing (crash clean-up)
      images/<AAA>/<BBB>/<image_id>.<kind>.<ext>
      study/screen-<id>/...  study/plate-<id>/...  study/project-<id>/...  study/dataset-<id>/...
      staging/<image_id>/...       per-image plane staging for stacks
      index.csv

The marker's ``"settings"`` are those that shape a file's bytes but not its name
(``thumbnail_size``, ``render_quality`` of JPEG renders, ``window`` of stacks): one folder,
one value each (:mod:`harvester.folder_settings`). Readers need only ``"tool"`` and
``"layout"``; other keys are kept as they are when the marker is rewritten.

``AAA = image_id // 1_000_000`` and ``BBB = image_id // 1000 % 1000`` (both 3 digits, wider past
999), so a leaf folder holds at most 1,000 ids x 7 kinds (+ their short-lived temp files) and a
middle folder at most 1,000 leaves: IDR's ~15 M ids make 16 top folders. Study folders are named
by id, never by server-supplied names; any name that must reach a path goes through
:func:`sanitize_component`.

Temporary files are ``<target>.tmp-<writer>`` beside the target: each process has its own writer
name, so two processes never share a temp file, and ``rename`` makes the final name appear
atomically with complete content.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

LAYOUT_VERSION = 1
"""Bumped whenever an existing DIR could no longer be read the same way."""

TOOL_NAME = "harvester"
MARKER_NAME = "harvest.json"
JOURNALS_DIR = "journals"
RUNS_DIR = "runs"
IMAGES_DIR = "images"
STUDY_DIR = "study"
STAGING_DIR = "staging"
#: A stack's OME-TIFF while it is assembled, in its image's staging folder
#: (:func:`harvester.stack.harvest_stack`), and the scratch folder of its pyramid levels beside
#: it (:func:`harvester.ometiff.write_ome_tiff`). A process killed meanwhile leaves both.
ASSEMBLY_NAME = "assembly.ome.tif.tmp"
ASSEMBLY_LEVELS = ASSEMBLY_NAME + ".levels"
#: The imgData a stack's planes were planned from, kept in its image's staging folder
#: (:func:`harvester.stack.prepare_staging`): a run that resumes the stack (a task
#: resubmitted after a kill or a time limit) and does not store imgData reads it instead of
#: asking the server again; imgData is the one image request IDR's proxy never caches.
STAGED_IMGDATA = "imgdata.json"
INDEX_NAME = "index.csv"
#: The tables an index write adds beside ``index.csv`` with label keys (``labels.csv``)
#: or a split (``splits.csv``), and the split's record: named here, the layout's module,
#: so that the plain index write (:mod:`harvester.plain_index`) tells a folder without
#: them from a stat, without importing :mod:`harvester.select` or :mod:`harvester.splits`.
LABELS_NAME = "labels.csv"
SPLITS_NAME = "splits.csv"
SPLIT_RECORD_NAME = "split.json"
#: The lists of originals an index write makes in a folder with ``paths`` files
#: (:mod:`harvester.originals`), named here for the index's record of the tables it wrote.
ORIGINALS_NAME = "originals.tsv"
RAW_URLS_NAME = "raw-urls.txt"
TEMP_INFIX = ".tmp-"

MAX_COMPONENT_BYTES = 100
"""Cap for a sanitised name (UTF-8 bytes), far below every filesystem's 255-byte limit so that a
temp suffix and an extension still fit."""

ARTIFACT_FILES: dict[str, str] = {
    "thumbnail": "jpg",
    "imgdata": "json",
    "render": "jpg",
    "metadata": "json",
    "stack": "ome.tif",
    "rois": "json",
    "paths": "json",
}
"""Per-image kinds and their default extension (render may be ``png`` with ``render_format``)."""

STUDY_KINDS: tuple[str, ...] = ("screen", "plate", "project", "dataset")


def _bucket(image_id: int) -> tuple[str, str]:
    return f"{image_id // 1_000_000:03d}", f"{image_id // 1000 % 1000:03d}"


def _check_id(object_id: int) -> None:
    if isinstance(object_id, bool) or not isinstance(object_id, int) or object_id < 0:
        raise ValueError(f"object id must be a non-negative integer, got {object_id!r}")


def image_dir(image_id: int) -> str:
    """Relative folder (POSIX form) that holds every file of ``image_id``."""
    _check_id(image_id)
    top, leaf = _bucket(image_id)
    return f"{IMAGES_DIR}/{top}/{leaf}"


def image_path(image_id: int, kind: str, ext: str | None = None) -> str:
    """Relative path of one per-image artifact, e.g. ``images/000/002/2345.thumbnail.jpg``.

    ``ext`` overrides the default extension of ``kind`` (a PNG render is ``render.png``).
    """
    if kind not in ARTIFACT_FILES:
        raise ValueError(
            f"unknown artifact kind {kind!r}; expected one of {sorted(ARTIFACT_FILES)}"
        )
    suffix = ARTIFACT_FILES[kind] if ext is None else sanitize_component(ext.lstrip("."))
    return f"{image_dir(image_id)}/{image_id}.{kind}.{suffix}"


def default_image_path(image_id: int, kind: str) -> str:
    """:func:`image_path` of a kind in :data:`ARTIFACT_FILES` and a non-negative int id,
    unchecked (the caller checked both): the journal's load asks it once per done record."""
    top, leaf = _bucket(image_id)
    return f"{IMAGES_DIR}/{top}/{leaf}/{image_id}.{kind}.{ARTIFACT_FILES[kind]}"


def study_dir(kind: str, object_id: int) -> str:
    """Relative folder of one study object, e.g. ``study/plate-4101``."""
    if kind not in STUDY_KINDS:
        raise ValueError(f"unknown study kind {kind!r}; expected one of {list(STUDY_KINDS)}")
    _check_id(object_id)
    return f"{STUDY_DIR}/{kind}-{object_id}"


def study_path(kind: str, object_id: int, filename: str) -> str:
    """Relative path of one study file, e.g. ``study/plate-4101/grid-0.json`` (name sanitised)."""
    return f"{study_dir(kind, object_id)}/{sanitize_component(filename)}"


def staging_dir(out_dir: Path, image_id: int) -> Path:
    """Per-image staging folder for stack planes (removed by its user when the stack is done)."""
    _check_id(image_id)
    return out_dir / STAGING_DIR / str(image_id)


def staged_imgdata_path(out_dir: Path, image_id: int) -> Path:
    """Where an unfinished stack keeps the imgData it was planned from (:data:`STAGED_IMGDATA`)."""
    return staging_dir(out_dir, image_id) / STAGED_IMGDATA


def finished_staging(out_dir: Path, stack_done: Callable[[int], bool]) -> list[Path]:
    """Staging folders of images whose stack is already recorded as done.

    A run stopped between journaling a stack and removing its staging folder
    leaves one behind; nothing will ever read it again. One ``scandir`` of
    ``DIR/staging`` (usually absent).
    """
    try:
        entries = list(os.scandir(out_dir / STAGING_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(entry.path)
        for entry in entries
        if entry.name.isdigit()
        and entry.is_dir(follow_symlinks=False)
        and stack_done(int(entry.name))
    ]


def staged_planes(
    out_dir: Path, left_out: Callable[[int], bool] | None = None
) -> tuple[int, int, int, int]:
    """``(stacks, planes, bytes, assembly bytes)`` in ``DIR/staging`` for stacks not finished
    yet (``left_out``: the images whose staging is not counted, such as the staging a
    killed run left of a stored stack, or, for a shard's summary, another shard's).

    A plane is one (t, z, c) of an image, however many region files it was fetched as
    (``t00000-z00000-c000-r0003.png``: its stem up to ``-r``); the bytes are every staged
    file's, and those of a half-written stack a killed process left (:data:`ASSEMBLY_NAME`
    and its :data:`ASSEMBLY_LEVELS`), which the last figure gives apart: those are not work
    kept but disk held until the rerun resumes that stack (:func:`assembly_leftovers`). Said
    after an interrupted or failed run and by ``status``. One ``scandir`` per image folder;
    a folder or file vanishing meanwhile (a stack finishing) is skipped.
    """
    try:
        folders = [
            e
            for e in os.scandir(out_dir / STAGING_DIR)
            if e.name.isdigit() and not (left_out is not None and left_out(int(e.name)))
        ]
    except OSError:  # none (the usual case), or unreadable: nothing to tell
        return 0, 0, 0, 0
    stacks = planes = size = assembly = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder.path))
        except OSError:
            continue
        stems: set[str] = set()
        for entry in entries:
            if entry.name in (ASSEMBLY_NAME, ASSEMBLY_LEVELS):
                assembly += _tree_bytes(entry)
                continue
            stem, dot, ext = entry.name.rpartition(".")
            if not dot or ext not in ("png", "jpg"):
                continue
            try:
                size += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            stems.add(stem.rpartition("-r")[0] or stem)
        if stems:
            stacks += 1
            planes += len(stems)
    return stacks, planes, size + assembly, assembly


def assembly_leftovers(staging: Path) -> list[Path]:
    """The half-written stack (and its levels' folder) a killed process left in one image's
    staging folder. Removed by the process about to stage and assemble that image's stack
    (the folder is its own then, as :func:`harvester.stack.prepare_staging` assumes), never
    at a run's start: another shard's process may be assembling that stack right now."""
    return [p for p in (staging / ASSEMBLY_NAME, staging / ASSEMBLY_LEVELS) if p.exists()]


def _tree_bytes(entry: os.DirEntry[str]) -> int:
    """Bytes of a file, or of every file under a folder (symlinks not followed); 0 if gone."""
    try:
        if not entry.is_dir(follow_symlinks=False):
            return entry.stat(follow_symlinks=False).st_size
        total = 0
        for root, _dirs, files in os.walk(entry.path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(root, name)).st_size
        return total
    except OSError:
        return 0


def journals_dir(out_dir: Path) -> Path:
    """Folder holding every process's journal."""
    return out_dir / JOURNALS_DIR


def journal_path(out_dir: Path, writer: str) -> Path:
    """The journal file of one writer."""
    return out_dir / JOURNALS_DIR / f"{check_writer(writer)}.jsonl"


def pending_path(out_dir: Path, writer: str) -> Path:
    """The intent file listing the temp files a writer is committing right now."""
    return out_dir / JOURNALS_DIR / f"{check_writer(writer)}.pending"


def run_config_path(out_dir: Path, run_id: str) -> Path:
    """Where the resolved configuration of run ``run_id`` is saved."""
    return out_dir / RUNS_DIR / sanitize_component(run_id) / "config.json"


def index_path(out_dir: Path) -> Path:
    """The ``index.csv`` of DIR."""
    return out_dir / INDEX_NAME


def temp_path(target: Path, writer: str) -> Path:
    """The temp name beside ``target`` used by ``writer`` (unique per process)."""
    return target.with_name(f"{target.name}{TEMP_INFIX}{writer}")


_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f]")


def resolve(out_dir: Path, rel_path: str) -> Path:
    """``out_dir / rel_path`` after proving the relative path cannot leave ``out_dir``.

    Raises ValueError for absolute paths, ``..``/``.``/empty parts, backslashes, NUL or control
    characters: relative paths come from our own layout functions, so anything else is a bug.
    """
    check_relative(rel_path)
    return out_dir.joinpath(*rel_path.split("/"))


def check_relative(rel_path: str) -> None:
    """:func:`resolve`'s check alone (ValueError for a path that could leave DIR), with no
    path made: a million names read from a file (:mod:`harvester.onecopy`'s register) were
    seconds of ``Path`` objects."""
    if not rel_path or rel_path.startswith("/") or "\\" in rel_path:
        raise ValueError(f"not a safe relative path: {rel_path!r}")
    parts = rel_path.split("/")
    if _CONTROL_CHAR.search(rel_path) or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a safe relative path: {rel_path!r}")


def _is_unsafe_char(ch: str) -> bool:
    code = ord(ch)
    # C0/C1 control characters, DEL and lone surrogates (unencodable in UTF-8 file names).
    return code < 32 or 127 <= code < 160 or 0xD800 <= code <= 0xDFFF


def sanitize_component(name: str) -> str:
    """Turn any server-supplied string into one safe path component.

    Control characters (NUL included) are dropped, ``/`` and ``\\`` become ``_``, surrounding
    whitespace is stripped, ``""``/``"."``/``".."`` become ``_``/``_.``/``_..``, and a name longer
    than 100 UTF-8 bytes is cut at a character boundary and given ``~`` plus 10 hex digits of its
    SHA-256, so that two long names with a common prefix stay distinct. The result never contains a
    separator and is never ``.`` or ``..``: joined to DIR it stays inside DIR.
    """
    cleaned = "".join(
        "_" if ch in "/\\" else ch for ch in str(name) if not _is_unsafe_char(ch)
    ).strip()
    if cleaned in ("", ".", ".."):
        cleaned = "_" + cleaned
    encoded = cleaned.encode("utf-8")
    if len(encoded) <= MAX_COMPONENT_BYTES:
        return cleaned
    digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    keep = MAX_COMPONENT_BYTES - len(digest) - 1
    head = encoded[:keep].decode("utf-8", "ignore").rstrip()
    return f"{head}~{digest}"


def check_writer(writer: str) -> str:
    """Return ``writer`` if it is usable verbatim in file names, else raise ValueError."""
    if not writer or sanitize_component(writer) != writer or len(writer.encode()) > 150:
        raise ValueError(f"writer name must be a short safe file name component, got {writer!r}")
    return writer


#: A run id (:func:`new_run_id`): its UTC second (group 1), then 6 random hex digits.
RUN_ID_PATTERN = r"(\d{8}T\d{6}Z)-[0-9a-f]{6}"
_RUN_SECOND_FORMAT = "%Y%m%dT%H%M%SZ"
#: A run id's UTC second, found in ``runs/`` and journal names.
_RUN_SECOND_RE = re.compile(RUN_ID_PATTERN)


def is_run_id(name: str) -> bool:
    """Whether ``name`` has a run id's form (``20261126T055033Z-3f9a1c``).

    Why: ``runs/`` may hold a folder of the user's (``runs/notes``), which sorted after
    every run id and was read as DIR's newest run; only a run id's folder is a run's.
    """
    return _RUN_SECOND_RE.fullmatch(name) is not None


def run_folders(out_dir: Path) -> tuple[list[str], list[str]]:
    """The run ids of DIR's ``runs/`` folders, and its other entries (a user's ``notes``),
    each sorted; OSError when ``runs/`` cannot be listed (FileNotFoundError: none)."""
    runs: list[str] = []
    others: list[str] = []
    with os.scandir(Path(out_dir) / RUNS_DIR) as entries:
        for entry in entries:
            if is_run_id(entry.name) and entry.is_dir():
                runs.append(entry.name)
            else:
                others.append(entry.name)
    return sorted(runs), sorted(others)


def new_run_id(out_dir: Path | None = None) -> str:
    """A fresh, sortable, collision-resistant run id, e.g. ``20261126T055033Z-3f9a1c``.

    Its second is this host's UTC time, or, in ``out_dir``, the newest second of a run
    already there (:func:`newest_run_second`) when that is later. Why: runs are ordered
    by their id's second first, and on a folder shared by hosts whose clocks disagree, a
    run started here after one from a host whose clock runs ahead was ordered before it
    (a resume then replayed the older run's settings as the newest). A second never below
    any run visible in DIR orders this run after every one of them; ties within a second
    are ordered by the run record's ``order`` (:func:`run_order_time`).
    """
    now = time.time()
    second = time.strftime(_RUN_SECOND_FORMAT, time.gmtime(now))
    if out_dir is not None:
        second = max(second, newest_run_second(out_dir, now + FOLLOWED_AHEAD))
    return second + "-" + os.urandom(3).hex()


#: How far ahead of this host's clock another run's time is followed (seconds): further,
#: it is taken for a wrong date (a node booted without its clock set), not a skew, and
#: every later run id would carry it.
FOLLOWED_AHEAD = 86_400.0


def _second_time(second: str) -> float | None:
    """A run id's second (``20261126T055033Z``) as a Unix time; None when it is none."""
    import calendar  # (not at the top: it loads datetime, which a harvest's start need not)

    try:
        return float(calendar.timegm(time.strptime(second, _RUN_SECOND_FORMAT)))
    except ValueError:
        return None


def newest_run_second(out_dir: Path, latest: float) -> str:
    """The latest UTC second of the run ids DIR holds (its ``runs/`` folders and the writer
    names of its journals) that is a real time no later than ``latest``; ``""`` without
    any. Two directory listings, no file read."""
    seconds: set[str] = set()
    for folder in (RUNS_DIR, JOURNALS_DIR):
        try:
            names = os.listdir(Path(out_dir) / folder)
        except OSError:
            continue
        seconds.update(found.group(1) for name in names for found in _RUN_SECOND_RE.finditer(name))
    for second in sorted(seconds, reverse=True):
        at = _second_time(second)
        if at is not None and at <= latest:
            return second
    return ""


def run_order_time(run_id: str, started: float, before: Iterable[float]) -> float:
    """The ``order`` of a run record: when the run started, as a time that no run DIR
    held before it exceeds (``before``: their ``order``, or ``started`` where they have
    none; and the store adds the latest ``t`` of the records it loaded, which its own
    records are then dated after), nor below its id's second (:func:`new_run_id`).

    A hybrid logical clock: equal to ``started`` (this host's time) unless another host's
    clock ran ahead; then just after the newest run seen, so that a run started after
    another is ordered after it, whatever the two hosts' clocks say. ``started`` stays the
    host's time, for what is shown. A time more than :data:`FOLLOWED_AHEAD` ahead of
    ``started`` is not followed (a wrong date, not a skew).
    """
    floor = started
    found = _RUN_SECOND_RE.match(run_id)
    own = _second_time(found.group(1)) if found is not None else None
    if own is not None and own <= started + FOLLOWED_AHEAD:
        floor = max(floor, own)
    newest = max((t for t in before if t <= started + FOLLOWED_AHEAD), default=None)
    if newest is not None:
        floor = max(floor, newest + 0.001)
    return floor


#: The ``<host>`` part of a writer name is cut to this many characters (so two hosts whose
#: names differ only beyond it share one: ``store.writer_pid_here`` then proves nothing).
HOST_PART_MAX = 40


def host_component() -> str:
    """This host's name as the ``<host>`` part of a writer name."""
    return sanitize_component(socket.gethostname() or "host").replace(" ", "_")[:HOST_PART_MAX]


def make_writer(run_id: str, shard: tuple[int, int] | None = None) -> str:
    """``<host>-<pid>-<run-id>[-shard-K-of-N]``: the name of this process's journal and temps."""
    name = f"{host_component()}-{os.getpid()}-{sanitize_component(run_id)}"
    if shard is not None:
        name += f"-shard-{shard[0]}-of-{shard[1]}"
    return check_writer(name)


def ephemeral_writer(tag: str) -> str:
    """``<tag>-<host>-<pid>-<random>``: the writer of one short task (verify, an atomic write)."""
    return check_writer(f"{tag}-{host_component()}-{os.getpid()}-{os.urandom(3).hex()}")

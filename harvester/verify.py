"""``harvester verify DIR``: re-check every file the journals call done.

For each done record (and each extra file of a study record): the file exists, has the journaled
size and SHA-256, and decodes (JPEG/PNG with Pillow, JSON with ``json``, TIFF page by page with
tifffile). Problems are reported as *missing* or *damaged*, and an ``"invalid"`` record per bad
artifact is appended to verify's own journal (``journals/verify-<host>-<pid>-<token>.jsonl``), so
that :class:`~harvester.journal.JournalState` no longer counts it done and the next ``harvest``
refetches exactly those. The checks run in a few threads (hashing and decoding release the GIL).

verify is what a user reaches for when a folder looks damaged, so it keeps working and keeps
its list of bad files when the folder itself is in trouble: on a read-only mount (the files are
listed, and it says they could not be marked), with a ``harvest.json`` that no longer parses
(the journals are read anyway), without journals (it says that nothing could be checked rather
than "0 ok"), and without ``index.csv`` (it says how to rebuild it). Only regular files are
opened: a folder or a FIFO where a file should be is named as such, never read.

It also says what the journals' readers recover from silently: damaged journal lines skipped
(NUL bytes a crash leaves, garbled lines), a journal copied under another name, and temp
files no pending file lists (strays; those of writers that provably ended are handed over to
the next harvest, see :func:`harvester.store.find_stray_temps`; the others are never removed
by harvester, and the note says how to remove them when no harvest runs).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harvester.index import changed_by_hand, images_not_indexed, since_written
from harvester.journal import DoneRecord, Journal, JournalState, SavedConfigs
from harvester.layout import (
    ARTIFACT_FILES,
    IMAGES_DIR,
    INDEX_NAME,
    JOURNALS_DIR,
    RUNS_DIR,
    TEMP_INFIX,
    ephemeral_writer,
    resolve,
    run_folders,
)
from harvester.models import ImageRef
from harvester.shell_words import shell_quote
from harvester.store import (
    DamagedMarkerError,
    StrayTemps,
    check_existing_out_dir,
    find_stray_temps,
    hand_over_strays,
    invalid_time,
    scrub_saved_credentials,
    sha256_of,
    storage_error,
)
from harvester.text import agree, plural, shown

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One bad file: ``status`` is "missing" or "damaged"."""

    kind: str
    id: int
    path: str
    status: str
    reason: str


@dataclass
class VerifyReport:
    """The result of :func:`verify`."""

    checked: int = 0
    ok: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: Marked invalid by an earlier verify and not refetched since (still not usable).
    awaiting: list[Problem] = field(default_factory=list)
    #: Marked invalid earlier, and whole again now (restored from a backup, the copy
    #: finished): journaled done again, so no harvest refetches them.
    restored: list[Problem] = field(default_factory=list)
    journal: str | None = None
    #: Why the problems could not be marked invalid (a read-only mount): the next harvest
    #: will not refetch them until a verify that can write runs.
    unmarked: str | None = None
    #: Things about the folder itself that a user must know (damaged marker, no journals,
    #: no index.csv); one line each.
    notes: list[str] = field(default_factory=list)
    #: images/ holds files that no journal records (journals deleted): nothing could be
    #: checked, so "0 damaged" does not mean the folder is fine (the CLI may exit 1 on it).
    unjournaled_files: bool = False
    #: Temp files no pending file lists (see :func:`harvester.store.find_stray_temps`): how
    #: many, the first few paths, and how many the next harvest removes (handed over).
    stray_temps: int = 0
    stray_samples: list[str] = field(default_factory=list)
    strays_handed_over: int = 0
    #: Files in images/ that no done or invalid record names, while other files are
    #: journaled (a journal, or lines of one, removed): how many, and the first few paths.
    unrecorded: int = 0
    unrecorded_samples: list[str] = field(default_factory=list)
    #: The journaled images verify loaded (not reported): the CLI's resume line takes a
    #: split's bad images from them (:func:`harvester.status.split_images`) rather than
    #: reading every journal again.
    images: Mapping[int, ImageRef] = field(default_factory=dict, repr=False, compare=False)
    #: DIR's saved configs as verify read them (its damaged-config notes): the CLI's resume
    #: line reads the same, each file once per command.
    saved_configs: SavedConfigs = field(default_factory=SavedConfigs, repr=False, compare=False)

    @property
    def missing(self) -> list[Problem]:
        return [p for p in self.problems if p.status == "missing"]

    @property
    def damaged(self) -> list[Problem]:
        return [p for p in self.problems if p.status == "damaged"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "checked": self.checked,
            "ok": self.ok,
            "bytes": self.bytes,
            "missing": len(self.missing),
            "damaged": len(self.damaged),
            "problems": [asdict(p) for p in self.problems],
            "awaiting_refetch": [asdict(p) for p in self.awaiting],
            "restored": [asdict(p) for p in self.restored],
            "journal": self.journal,
            "unmarked": self.unmarked,
            "notes": self.notes,
            "unjournaled_files": self.unjournaled_files,
            "stray_temps": self.stray_temps,
            "stray_temp_samples": self.stray_samples,
            "strays_handed_over": self.strays_handed_over,
            "unrecorded": self.unrecorded,
            "unrecorded_samples": self.unrecorded_samples,
        }

    def to_text(self) -> str:
        """Alias of :meth:`format_text` (the CLI looks for ``to_text``)."""
        return self.format_text()

    def format_text(self) -> str:
        """Human-readable summary: one line per problem, then the totals."""
        lines = [f"{p.status}: {p.path} ({p.kind} {p.id}): {p.reason}" for p in self.problems]
        lines += [f"{p.status}: {p.path} ({p.kind} {p.id}): {p.reason}" for p in self.awaiting]
        lines += [f"{p.status}: {p.path} ({p.kind} {p.id}): {p.reason}" for p in self.restored]
        lines.append(
            f"checked {plural(self.checked, 'file')} ({self.bytes:,} bytes): {self.ok} ok, "
            f"{len(self.damaged)} damaged, {len(self.missing)} missing"
        )
        if self.awaiting:
            lines.append(f"{len(self.awaiting)} marked damaged, awaiting refetch by harvest")
        if self.unmarked is not None:
            lines.append(
                f"not marked for refetch ({self.unmarked}): a harvest will not refetch them "
                "until verify runs where the folder can be written"
            )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _decode_image(path: Path) -> None:
    from PIL import Image

    from harvester.planes import bound_pillow

    bound_pillow()  # a stitched render over ~13,400 px square is no decompression bomb
    with Image.open(path) as im:
        im.load()


def _decode_json(path: Path) -> None:
    json.loads(path.read_bytes())


def _decode_tiff(path: Path) -> None:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ValueError("TIFF has no pages")
        for page in tif.pages:
            page.asarray()


def decoder_for(rel_path: str) -> Callable[[Path], None] | None:
    """The decoder that proves a file of this name is usable, None for unknown types."""
    name = rel_path.lower()
    if name.endswith((".jpg", ".jpeg", ".png")):
        return _decode_image
    if name.endswith(".json"):
        return _decode_json
    if name.endswith((".tif", ".tiff")):
        return _decode_tiff
    return None


def check_file(out_dir: Path, rel_path: str, size: int | None, sha256: str | None) -> str | None:
    """None when the file is fine, else ``"missing: ..."``/``"damaged: ..."``."""
    try:
        path = resolve(out_dir, rel_path)
    except ValueError:
        return "damaged: unsafe path in journal"
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return "damaged: a folder is where the file should be (remove it; a harvest cannot)"
        if not stat.S_ISREG(st.st_mode):
            return "damaged: not a regular file (a FIFO, socket or device is in its place)"
        actual = st.st_size
        if size is not None and actual != size:
            return f"damaged: size {actual} bytes, journal says {size}"
        if sha256 is not None and sha256_of(path) != sha256:
            return "damaged: sha256 differs from the journal"
    except FileNotFoundError:
        return "missing: file does not exist"
    except OSError as exc:
        return f"damaged: cannot be read ({exc.strerror or exc})"
    decode = decoder_for(rel_path)
    if decode is not None:
        try:
            decode(path)
        except Exception as exc:  # any decoder failure means the file is unusable
            return f"damaged: does not decode ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _check_record(out_dir: Path, rec: Mapping[str, Any]) -> tuple[int, int, list[str]]:
    """(files checked, bytes, problems as "path\\x00status: reason") for one done record."""
    files = [rec] + [f for f in rec.get("files", ()) if isinstance(f, dict)]
    problems = []
    nbytes = 0
    for f in files:
        rel = str(f.get("path"))
        reason = check_file(out_dir, rel, f.get("size"), f.get("sha256"))
        nbytes += int(f.get("size") or 0)
        if reason is not None:
            problems.append(f"{rel}\x00{reason}")
    return len(files), nbytes, problems


def damaged_marker(out_dir: Path) -> str | None:
    """Open DIR for reading as :func:`~harvester.store.check_existing_out_dir` does, except
    that a ``harvest.json`` which no longer parses (empty, cut short, junk) in a folder that
    holds journals is not a reason to refuse: return a note saying so instead of raising.

    Why: such a folder is ours (its journals say so), and ``status``/``verify`` are what a
    user runs to find out what state a damaged folder is in; "not written by harvester,
    choose another --out folder" told them to abandon a week of downloads. A marker that
    parses but names another tool, or a newer layout, is still refused.
    """
    try:
        check_existing_out_dir(out_dir)
    except DamagedMarkerError as damaged:
        return (
            f"{damaged.damage}; the journals were read anyway. A harvest refuses this folder: "
            f"{damaged.hint}"
        )
    return None


def damaged_journal_lines(
    damaged_lines: Mapping[str, int],
    out_dir: Path,
    *,
    by: Literal["status", "harvest", "index"] = "status",
    within: str = "",
) -> list[str]:
    """One line per journal with damaged lines skipped (journal file name -> count), said
    by ``by``: ``status`` (and ``verify``) with the command that does their records again,
    ``harvest`` that it does so now (``within``: what of the harvest's limits DIR's records
    may lie outside, ``targets and kinds`` or ``targets, kinds and shard``: that it does so
    only for what is among them, and what does the rest), ``index`` what index.csv lacks
    meanwhile.

    Why one line per journal, here only: the journal reader warned of each garbled line,
    with its raw bytes, on every command, so ``status`` said it twice (that warning and its
    note) and kept saying "a harvest does again" after one had. A line stays damaged (the
    journals are append-only: nothing rewrites them), so each command says it once, in its
    own terms; the bytes are for ``--debug``.
    """
    q = shell_quote(str(out_dir))
    lines = []
    for name, count in sorted(damaged_lines.items()):
        what = agree(count, "it", "they")
        if name.startswith("verify-"):
            again = f"the next harvester verify {q} marks again what {what} recorded"
        elif by == "harvest" and not within:
            again = f"this harvest does again what {what} recorded"
        elif by == "harvest":
            # (what a damaged line held is unknown: another target set's image, another kind)
            again = (
                f"this harvest does again what {what} recorded if that is of its {within}; "
                f"else the command harvester status {q} gives to resume does"
            )
        elif by == "index":
            again = f"what {what} recorded is in index.csv once a harvest has done it again"
        else:
            again = (
                f"nothing is lost once a harvest has run since (harvester harvest --out {q}"
                f" does again what {what} recorded)"
            )
        lines.append(
            f"{JOURNALS_DIR}/{name}: {plural(count, 'damaged line')} skipped "
            f"(NUL bytes or not JSON, as a crash can leave); {again}"
        )
    return lines


def folder_notes(
    out_dir: Path,
    state: JournalState,
    *,
    unjournaled: bool,
    damaged_lines: Mapping[str, int] | None = None,
    misnamed: Mapping[str, str] | None = None,
    index_jobs: Sequence[str] | Callable[[], Sequence[str]] = (),
    saved: SavedConfigs | None = None,
) -> list[str]:
    """What is wrong with DIR beyond its files: no journal records anything although
    ``images/`` holds files (``unjournaled``, see :func:`has_unjournaled_files`: journals
    deleted or left behind in a copy), or images are journaled but ``index.csv`` is missing
    or not ours, or changed by hand since harvester wrote it, or short of images journaled
    since (:func:`harvester.index.images_not_indexed`); or a list of originals harvester
    wrote is gone or changed by hand (:func:`_originals_notes`). Cheap: the first line of
    ``index.csv`` at most, and its hash only when its size matches the record and its time
    does not (:func:`harvester.index.changed_by_hand`).

    Also, one line per journal: damaged lines skipped in it (``damaged_lines``, journal file
    name -> count; default the state's own, see ``JournalState.damaged_lines``), and journals
    that hold another writer's records (``misnamed``, name -> that writer; default
    ``JournalState.misnamed_journals``). ``index_jobs``: DIR's index job in the queue
    (``status`` knows the queue): it writes a missing ``index.csv``; or how to ask for it
    (``verify``), called only when ``index.csv`` is missing: asking the queue may take
    seconds on a login node, for a note no other folder needs. ``saved``: the saved configs
    the caller reads too (each file read once per command)."""
    if damaged_lines is None:
        damaged_lines = state.damaged_lines
    notes = damaged_journal_lines(damaged_lines, out_dir)
    if misnamed is None:
        misnamed = state.misnamed_journals
    for name, writer in sorted(misnamed.items()):
        notes.append(
            f"{JOURNALS_DIR}/{name} is not a writer's own journal: it holds the records of "
            f"writer {writer} (a copy, or renamed?); they count once, as {writer}'s"
        )
    notes += damaged_config_notes(out_dir, state, saved)
    if unjournaled:
        notes.append(
            f"no journal records any file, yet {IMAGES_DIR}/ holds files (were {JOURNALS_DIR}/ "
            "deleted or left out of a copy?): they cannot be checked, and a harvest would "
            "fetch everything again"
        )
    rebuild = f"rebuild it with harvester index {shell_quote(str(out_dir))}"
    if state.images:
        try:
            with open(out_dir / INDEX_NAME, "rb") as fh:
                head = fh.readline(4096)
        except FileNotFoundError:
            jobs = index_jobs() if callable(index_jobs) else index_jobs
            advice = _index_missing_advice(out_dir, rebuild, jobs)
            notes.append(f"{INDEX_NAME} is missing: {advice}")
        except OSError as exc:
            notes.append(f"{INDEX_NAME} cannot be read ({exc.strerror or exc})")
        else:
            if not head.startswith(b"image_id,"):
                notes.append(
                    f"{INDEX_NAME} is not an index harvester wrote (its first line is not the "
                    f"header): {rebuild}"
                )
            elif changed_by_hand(out_dir, out_dir / INDEX_NAME):
                notes.append(_edited_note(INDEX_NAME))
            elif lacking := images_not_indexed(out_dir, state):
                jobs = index_jobs() if callable(index_jobs) else index_jobs
                notes.append(_index_lag_note(out_dir, lacking, rebuild, jobs))
    notes += _originals_notes(out_dir, state, rebuild)
    return notes


def _originals_notes(out_dir: Path, state: JournalState, rebuild: str) -> list[str]:
    """One line per list of originals (``originals.tsv``, ``raw-urls.txt``) harvester wrote
    that is gone or has been changed by hand since (:func:`harvester.index.since_written`):
    an index write rewrites them, keeping an edited one beside as it keeps ``index.csv``.
    Cheap: ``written.json`` and a stat (a hash only as for ``index.csv``); the records are
    looked through for a ``paths`` one only for a list gone (an index write makes the lists
    only where some image's paths are done: no "rebuild it" where it would not)."""
    from harvester.originals import ORIGINALS_NAME, PATHS_KIND, RAW_URLS_NAME

    notes: list[str] = []
    for name in (ORIGINALS_NAME, RAW_URLS_NAME):
        how = since_written(out_dir, out_dir / name)
        if how == "gone" and any(kind == PATHS_KIND for kind, _ in state.done):
            notes.append(f"{name} is missing: {rebuild}")
        elif how == "edited":
            notes.append(_edited_note(name))
    return notes


def _edited_note(name: str) -> str:
    """The note of a table harvester wrote (``index.csv``, a list of originals) that has
    been changed by hand since: what the next index write does with it."""
    stem, _, suffix = name.rpartition(".")
    return (
        f"{name} has been changed since harvester wrote it: the next harvest (or harvester "
        f"index) keeps that copy as {stem}.edited-<UTC time>.{suffix} and writes a new one"
    )


def _index_lag_note(out_dir: Path, lacking: int, rebuild: str, index_jobs: Sequence[str]) -> str:
    """The note of an ``index.csv`` short of ``lacking`` images journaled since it was
    written, with the advice for a missing one (:func:`_index_missing_advice`). Why the
    cause is said only where no harvest without ``--shard`` runs: such a run journals its
    images before it writes the index at its end, and a ``status`` during any run into a
    folder indexed before said they came "by --shard runs after it" (none had run)."""
    advice = _index_missing_advice(out_dir, rebuild, index_jobs)
    said = (
        f"{INDEX_NAME} lacks {plural(lacking, 'image')} with files, journaled since it was written"
    )
    if advice.endswith(WRITES_AT_END):
        return f"{said}: {advice}"
    return (
        f"{said} (by --shard runs after it, a run stopped before its end, or while it was "
        f"rebuilt): {advice}"
    )


def damaged_config_notes(
    out_dir: Path, state: JournalState, saved: SavedConfigs | None = None
) -> list[str]:
    """One line per run whose saved settings no longer parse (see
    :func:`harvester.config.damaged_run_configs`), with the command that resumes its
    targets, from its journal's walk and the kinds of its files."""
    from harvester.config import damaged_run_config_note, damaged_run_configs
    from harvester.models import Artifact

    damaged = damaged_run_configs(out_dir, saved)
    if not damaged:
        return []
    kinds: dict[str, set[str]] = {run: set() for run in damaged}
    for rec in state.done.values():
        held = kinds.get(str(rec.get("run")))
        if held is not None:
            held.add(str(rec["kind"]))
    walks = list(state.walks.values())
    argv_of = {rec.get("run"): rec.get("argv") for rec in state.runs}
    return [
        damaged_run_config_note(
            out_dir,
            run,
            walks,
            [a.value for a in Artifact if a.value in kinds[run]],
            argv_of.get(run),
        )
        for run in damaged
    ]


STRAY_SAMPLES = 3

#: What verify says of a file marked invalid earlier that is whole again.
RESTORED = "whole again (size and SHA-256 as first recorded, decodes): no longer awaiting refetch"


#: How :func:`_index_missing_advice` ends where a harvest without ``--shard`` runs in DIR.
WRITES_AT_END = "writes it at its end"


def _index_missing_advice(out_dir: Path, rebuild: str, index_jobs: Sequence[str]) -> str:
    """What to do about a missing ``index.csv``: rebuild it, unless harvests of DIR are
    running now (a first run writes it only at its end: "rebuild it" read at 3 a.m. in the
    middle of a week-long run said something was broken), or DIR's index job is queued
    (``index_jobs``: "rebuild it" asked for what that job does); lock probes only, no file
    read."""
    from harvester.runlock import held_run_locks_named, is_harvest_holder, lock_name

    # (harvester forget holding DIR writes no index.csv: no harvest of it runs)
    held = [(name, text) for name, text in held_run_locks_named(out_dir) if is_harvest_holder(text)]
    running = [text for _name, text in held]
    if any(name == lock_name(None) for name, _text in held):  # a run without --shard
        return f"{', '.join(running)}, running now, {WRITES_AT_END}"
    if index_jobs:
        ids = ",".join(index_jobs)
        return (
            f"the index job in the queue (job {ids}, squeue -j {ids}) writes it once the "
            "job array has ended: nothing to do"
        )
    if running:  # shards leave it to `harvester index`
        return f"{rebuild} once the harvests running now have ended ({', '.join(running)})"
    return rebuild


def stray_notes(
    out_dir: Path,
    strays: StrayTemps,
    handed_over: int,
    why_not: str | None,
    *,
    reporting_only: bool = False,
) -> list[str]:
    """The lines that tell the user about stray temp files and who removes them.

    ``handed_over``: how many the next harvest removes (their writers ended on this host);
    ``why_not``: why none could be handed over although some could have (read-only DIR).
    ``reporting_only`` (``status``, which writes nothing): the strays of ended writers are
    said to be ``verify``'s to hand over, the others as usual.
    """
    paths = strays.paths
    if not paths:
        return []
    more = f" and {len(paths) - STRAY_SAMPLES} more" if len(paths) > STRAY_SAMPLES else ""
    several = len(paths) != 1
    notes = [
        f"{plural(len(paths), 'stray temporary file')} that no "
        f"{JOURNALS_DIR}/*.pending lists (left by a killed run whose pending file was lost, "
        f"or copied in): {', '.join(paths[:STRAY_SAMPLES])}{more}"
    ]

    def some(n: int, one: str, many: str) -> str:
        return ("it " + one) if not several else f"{n} of them {agree(n, one, many)}"

    def left_by(n: int) -> str:
        """Who left ``n`` strays: one file has one writer, several may have several."""
        if n == 1:
            return "left by a process of this host that has ended"
        return "left by processes of this host that have ended"

    if reporting_only and strays.removable:
        them = agree(strays.removable, "it", "them")
        notes.append(
            some(strays.removable, "was", "were") + f" {left_by(strays.removable)}: harvester "
            f"verify {shell_quote(str(out_dir))} hands {them} to the next harvest, which "
            f"removes {them}"
        )
        handed_over = strays.removable  # not "left": said above
    elif handed_over:
        notes.append(
            some(handed_over, "was", "were") + f" {left_by(handed_over)}: the next harvest "
            f"removes {agree(handed_over, 'it', 'them')}"
        )
    left = len(paths) - handed_over
    if left:
        they, them = agree(left, "it", "they"), agree(left, "it", "them")
        writers = agree(left, "its writer runs", "their writers run")
        reason = (
            f"{they} could not be handed over ({why_not})"
            if why_not is not None
            else f"{writers} on another host, still run{agree(left, 's', '')} here, or cannot "
            f"be told: a harvest never removes a temp file whose writer may be alive"
        )
        notes.append(
            some(left, "stays", "stay") + f": {reason}; when no harvest is running on this folder, "
            f"remove {them} with: {stray_removal_command(out_dir, paths)}"
        )
    return notes


def stray_removal_command(out_dir: Path, paths: Sequence[str]) -> str:
    """The ``find ... -delete`` that removes the stray temp files ``paths`` (relative to DIR),
    looking only in the folders that hold them: ``images``, ``study``, a run's own
    ``runs/<run id>``, DIR itself to depth 1 (:func:`harvester.store.find_stray_temps`
    looks nowhere else).

    Why: ``find DIR -type f -name '*.tmp-*' -delete`` went through the whole folder, a
    user's own ``runs/notes/draft.tmp-1`` (or anything under DIR) removed with the strays."""
    roots: set[str] = set()
    top = False
    for rel in paths:
        parts = rel.split("/")
        if len(parts) == 1:
            top = True
        else:  # images/..., study/..., runs/<run id>/...
            roots.add("/".join(parts[:2]) if parts[0] == RUNS_DIR else parts[0])
    name = shell_quote(f"*{TEMP_INFIX}*")
    commands = []
    if roots:
        folders = " ".join(shell_quote(str(out_dir / root)) for root in sorted(roots))
        commands.append(f"find {folders} -type f -name {name} -delete")
    if top:
        commands.append(
            f"find {shell_quote(str(out_dir))} -maxdepth 1 -type f -name {name} -delete"
        )
    return "; ".join(commands)


def stray_run_entries_note(out_dir: Path) -> str | None:
    """A line naming what ``runs/`` holds besides run folders (a user's ``runs/notes``).

    Why: such an entry is no run: every command passes it over (it was once read as DIR's
    newest run, which could not be read). Said by ``verify`` so the user knows it is
    ignored, not lost."""
    try:
        others = run_folders(out_dir)[1]
    except OSError:
        return None
    if not others:
        return None
    named = ", ".join(f"{RUNS_DIR}/{shown(name)}" for name in others[:STRAY_SAMPLES])
    more = f" and {len(others) - STRAY_SAMPLES} more" if len(others) > STRAY_SAMPLES else ""
    return (
        f"{named}{more} {agree(len(others), 'is', 'are')} not a run's "
        f"{agree(len(others), 'folder', 'folders')} (a run's is named by its id, like "
        f"20261126T055033Z-3f9a1c): harvester ignores {agree(len(others), 'it', 'them')}"
    )


def has_unjournaled_files(out_dir: Path, state: JournalState) -> bool:
    """No journal records a done file, yet ``images/`` holds one (journals deleted).

    ``state`` may predate the files: a first harvest that started after it was read wrote
    them, and "no journal records any file" was said of a folder whose journals did. So,
    files found, no run may hold DIR now (it renames each batch's files into place just
    before journaling them), and the journals as they are now must record none either."""
    from harvester.runlock import held_run_locks_named

    if state.done or not _has_any_file(out_dir / IMAGES_DIR):
        return False
    return not held_run_locks_named(out_dir) and not JournalState.load(out_dir).done


def _has_any_file(folder: Path) -> bool:
    """Whether ``folder`` holds a file at any depth; stops at the first one found."""
    try:
        for _dirpath, _dirs, files in os.walk(folder):
            if files:
                return True
    except OSError:
        return False
    return False


def unrecorded_files(out_dir: Path, state: JournalState) -> list[str]:
    """The files of ``images/`` (relative to DIR, sorted) that no done or invalid record of
    ``state`` names, temp files aside (strays are noted apart).

    Why: with every journal gone :func:`has_unjournaled_files` says so, but a journal of
    several removed, or a line of one, left verify saying "0 damaged, 0 missing" while a
    resume fetched those files again, as ``status`` counted them pending. Lists the folders
    of ``images/`` (no stat of a file): verify reads every file anyway."""
    recorded = _Recorded(state)
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(out_dir / IMAGES_DIR):
        rel_dir = Path(dirpath).relative_to(out_dir).as_posix()
        found += [
            rel
            for name in files
            if TEMP_INFIX not in name and (rel := f"{rel_dir}/{name}") not in recorded
        ]
    return sorted(found)


class _Recorded:
    """The paths (relative to DIR) that a done or invalid record of ``state`` names, as a
    container (``rel in recorded``).

    A record whose path is where the layout puts its kind and id (nearly all) is looked up
    by the kind and id its file name holds rather than kept in a set of every path: that
    set was ~13 MB per 100,000 images, the peak of verify's memory."""

    def __init__(self, state: JournalState) -> None:
        self._done = state.done
        others: set[str] = set()
        for rec in state.done.values():
            if not getattr(rec, "at_layout", False):  # (a record that is a plain dict)
                others.add(str(rec["path"]))
            if "files" in rec:
                others.update(str(f.get("path")) for f in rec["files"] if isinstance(f, dict))
        others.update(str(inv.get("path")) for inv in state.invalid.values())
        self._others = others

    def __contains__(self, rel: object) -> bool:
        if rel in self._others:
            return True
        if not isinstance(rel, str):
            return False
        # images/AAA/BBB/<id>.<kind>.<ext> (image_path): the record of that kind and id
        number, _, rest = rel.rpartition("/")[2].partition(".")
        kind = rest.partition(".")[0]
        if not (number.isdigit() and number.isascii() and kind in ARTIFACT_FILES):
            return False
        rec = self._done.get((kind, int(number)))
        return rec is not None and getattr(rec, "at_layout", False) and rec["path"] == rel


def _check_unrecorded(out_dir: Path, state: JournalState, report: VerifyReport) -> None:
    """Note the files of ``images/`` that no journal records (see :func:`unrecorded_files`),
    unless a harvest runs in DIR now: it renames each batch's files into place just before
    journaling them, and verify's state was read before its walk, so its newest files would
    be counted.

    Files found unrecorded are looked up again in the journals as they are now (only the
    lines appended since ``state`` was loaded are read), after a second look for a run
    lock: a short harvest that started after ``state`` was read and ended before the
    listing journaled its files meanwhile, and they were reported as recorded by none."""
    from harvester.runlock import held_run_locks_named

    if report.unjournaled_files or held_run_locks_named(out_dir):
        return
    found = unrecorded_files(out_dir, state)
    if found:
        if held_run_locks_named(out_dir):
            return
        recorded = _Recorded(JournalState.load(out_dir))
        found = [rel for rel in found if rel not in recorded]
    if not found:
        return
    report.unrecorded = len(found)
    report.unrecorded_samples = found[:STRAY_SAMPLES]
    more = f" and {len(found) - STRAY_SAMPLES} more" if len(found) > STRAY_SAMPLES else ""
    report.notes.append(
        f"{plural(len(found), 'file')} in {IMAGES_DIR}/ that no journal records (a journal, "
        f"or lines of one, removed?): {', '.join(found[:STRAY_SAMPLES])}{more}; "
        f"{agree(len(found), 'it was', 'they were')} not checked, and a harvest that asks for "
        f"{agree(len(found), 'it', 'them')} fetches {agree(len(found), 'it', 'them')} again"
    )


def _check_strays(out_dir: Path, report: VerifyReport, *, hand_over: bool) -> None:
    """Find stray temp files, hand those of ended writers of this host over to the next
    harvest (unless ``hand_over`` is False: verify then writes nothing), and note them."""
    strays = find_stray_temps(out_dir)
    paths = strays.paths
    report.stray_temps = len(paths)
    report.stray_samples = paths[:STRAY_SAMPLES]
    why_not: str | None = None
    if hand_over and strays.removable:
        try:
            report.strays_handed_over = hand_over_strays(out_dir, strays)
        except OSError as exc:
            why_not = str(storage_error(exc, f"{JOURNALS_DIR}/"))
    elif strays.removable:
        why_not = "verify was asked not to write"
    report.notes += stray_notes(out_dir, strays, report.strays_handed_over, why_not)


#: Records checked ahead per thread: enough to keep every thread busy, few enough that the
#: pending checks stay a few hundred futures, not one per record.
CHECKS_AHEAD = 64


def _checks_in_order(
    pool: ThreadPoolExecutor, out_dir: Path, records: Sequence[Mapping[str, Any]], *, window: int
) -> Iterator[tuple[int, int, list[str]]]:
    """:func:`_check_record` of each record, in ``records``' order, run in ``pool`` with at
    most ``window`` checks submitted and not yet taken.

    Why not ``pool.map``: it submits every record at once, a Future (with its lock and
    condition) per record held until the end: about 80 MB of a 50,000-image folder's
    verify, more than the records themselves (a folder of 96,000 images peaked at twice
    ``status``'s memory)."""
    ahead: deque[Future[tuple[int, int, list[str]]]] = deque()
    try:
        for rec in records:
            if len(ahead) >= max(1, window):
                yield ahead.popleft().result()
            ahead.append(pool.submit(_check_record, out_dir, rec))
        while ahead:
            yield ahead.popleft().result()
    finally:
        for pending in ahead:  # (a check that raised, or a caller that stopped early)
            pending.cancel()


def verify(out_dir: Path, *, jobs: int = 4, mark_invalid: bool = True) -> VerifyReport:
    """Check every done file of DIR; journal the bad ones as invalid (unless ``mark_invalid``
    is False) so the next harvest refetches exactly those, and those marked so earlier that
    are whole again as done (unless a harvest runs in DIR now)."""
    from harvester.runlock import held_run_locks_named
    from harvester.slurm import queued_index_jobs  # (asked only of a missing index.csv)

    out_dir = Path(out_dir)
    marker_note = damaged_marker(out_dir)
    # No fold kept for a later load: verify loads once (again only for strays, or a
    # folder whose journals record no file), and the fold was ~25 MB per 100,000 images.
    state = JournalState.load(out_dir, remember=False)
    if mark_invalid:  # (else asked not to write)
        scrub_saved_credentials(out_dir, state.runs)  # a token saved before 0.1.13
    report = VerifyReport(images=state.images)
    if marker_note is not None:
        report.notes.append(marker_note)
    report.unjournaled_files = has_unjournaled_files(out_dir, state)
    report.notes += folder_notes(
        out_dir,
        state,
        unjournaled=report.unjournaled_files,
        # As status says it: a queued index job writes a missing index.csv ("rebuild it"
        # asked for what that job is about to do).
        index_jobs=lambda: queued_index_jobs(out_dir),
        saved=report.saved_configs,
    )
    runs_note = stray_run_entries_note(out_dir)
    if runs_note is not None:
        report.notes.append(runs_note)
    _check_strays(out_dir, report, hand_over=mark_invalid)
    _check_unrecorded(out_dir, state, report)
    records = [state.done[key] for key in sorted(state.done)]
    # Marked invalid earlier and not done again since: the bad file may still be on
    # disk, so it is neither ok nor freshly damaged, but it is still a problem, unless it
    # is whole again (checked against the done record the mark voided).
    marked = sorted(k for k in state.invalid if k not in state.done)
    recheck = [state.voided[k] for k in marked if k in state.voided]
    if not mark_invalid or (recheck and held_run_locks_named(out_dir)):
        # (a harvest running now may be writing those very files again: it refetches them)
        recheck = []
    invalid: list[dict[str, Any]] = []
    restored: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="verify") as pool:
        rechecked = _checks_in_order(pool, out_dir, recheck, window=CHECKS_AHEAD * jobs)
        for rec, (count, nbytes, problems) in zip(recheck, rechecked, strict=True):
            if problems:
                continue
            report.checked += count
            report.bytes += nbytes
            report.ok += count
            restored.append(_restored_record(rec, state.invalid[(rec["kind"], rec["id"])]))
        # The results of the records with problems only: a tuple and a list per record
        # held to the end were ~15 MB per 100,000 images.
        failing: dict[int, tuple[int, int, list[str]]] = {}
        checks = _checks_in_order(pool, out_dir, records, window=CHECKS_AHEAD * jobs)
        for at, (count, nbytes, problems) in enumerate(checks):
            if problems:
                failing[at] = (count, nbytes, problems)
            else:
                report.checked += count
                report.bytes += nbytes
                report.ok += count
        _look_again(out_dir, state, records, failing)
        for at, (count, nbytes, problems) in sorted(failing.items()):
            rec = records[at]
            report.checked += count
            report.bytes += nbytes
            report.ok += count - len(problems)
            for entry in problems:
                rel, reason = entry.split("\x00", 1)
                status, _, detail = reason.partition(": ")
                report.problems.append(Problem(rec["kind"], rec["id"], rel, status, detail))
            if problems:
                invalid.append(
                    {
                        "rec": "invalid",
                        "kind": rec["kind"],
                        "id": rec["id"],
                        "path": rec["path"],
                        "reason": "; ".join(p.split("\x00", 1)[1] for p in problems),
                        "t": invalid_time(rec["t"]),
                    }
                )
    whole = {(rec["kind"], rec["id"]) for rec in restored}
    for key in marked:
        inv = state.invalid[key]
        problem = Problem(
            inv["kind"],
            inv["id"],
            str(inv.get("path", "")),
            "awaiting refetch",
            str(inv.get("reason", "marked damaged by verify")),
        )
        if key in whole:
            problem = Problem(problem.kind, problem.id, problem.path, "restored", RESTORED)
            report.restored.append(problem)
        else:
            report.awaiting.append(problem)
    if (invalid or restored) and mark_invalid:
        writer = ephemeral_writer("verify")
        try:
            with Journal(out_dir, writer) as journal:
                journal.append(invalid + restored)
                report.journal = str(journal.path.relative_to(out_dir))
        except OSError as exc:
            # The list of bad files is what the user ran verify for: a folder that cannot
            # be written (a read-only mount, a full disk) must not swallow it.
            report.unmarked = str(storage_error(exc, "the verify journal"))
            _unrestored(report, state)
            return report
        logger.info("marked %s invalid in %s", plural(len(invalid), "artifact"), report.journal)
    return report


def _look_again(
    out_dir: Path,
    state: JournalState,
    records: list[DoneRecord],
    failing: dict[int, tuple[int, int, list[str]]],
) -> None:
    """Check each record whose files failed (in place, ``failing`` the checks with
    problems, by their record's place in ``records``) again where the journals as they are
    now (``state`` caught up: only the lines appended since it was read) record its object
    done anew meanwhile.

    Why: a harvest running meanwhile saves a study object's files again where its listing
    changed on the server (``walk.ListingDigest``: a dataset's ``images.json``), in place,
    under a new record. Checked against the record verify read, they were reported
    damaged and marked for refetch, voiding the new record: the next harvest asked for
    them again."""
    if not failing:
        return
    done = state.catch_up().done
    for index in failing:
        rec = records[index]
        now = done.get((rec["kind"], rec["id"]))
        if now is not None and dict(now) != dict(rec):
            records[index] = now
            failing[index] = _check_record(out_dir, now)


def _restored_record(rec: Mapping[str, Any], inv: Mapping[str, Any]) -> dict[str, Any]:
    """A done record journaling ``rec`` again, later than the invalid record ``inv`` that
    voided it (records fold by ``t``: a done record stands only when later than the mark).

    Why: a file marked invalid and then restored (from a backup, or a copy that finished)
    was listed as "awaiting refetch" with its old reason ("missing: file does not exist")
    by every verify, exit 1, and the next harvest fetched it again: requests for a file
    that was there. It keeps the run that made it (index.csv's run column, status's runs).
    """
    done = dict(rec)
    inv_t = inv.get("t")
    later = float(inv_t) + 0.001 if isinstance(inv_t, int | float) else 0.0
    done["t"] = max(time.time(), later)
    return done


def _unrestored(report: VerifyReport, state: JournalState) -> None:
    """Put the files found whole again back among those awaiting refetch: their done
    record could not be journaled (a read-only mount), so a harvest still refetches them."""
    for problem in report.restored:
        inv = state.invalid[(problem.kind, problem.id)]
        report.awaiting.append(
            Problem(
                problem.kind,
                problem.id,
                problem.path,
                "awaiting refetch",
                str(inv.get("reason", "marked damaged by verify")),
            )
        )
    report.restored = []

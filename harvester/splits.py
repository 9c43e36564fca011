"""Train/validation/test splits of ``index.csv`` that do not leak between wells or plates.

In a screen the fields of one well (and the wells of one plate) are near-duplicates: a split
drawn image by image puts one well's fields in train and in test, and a model's test score
then measures memory. So images are split by *group* (``split_by``: ``well``, the default,
``plate``, ``dataset`` or ``image``): every image of a group gets one split. An image without
the grouping id (a project image has no well) is a group of its own, by its image id.

A group goes to a split by ``blake2b("split:<seed>:<kind>:<id>") / 2**64`` against the
cumulative fractions, in the order given: it depends only on the group's id and the seed,
never on the order of rows, shards or timing, so a split is reproducible in another folder
and an image's split never changes when the folder grows. The hash is not the one of
``--sample`` (``"<seed>:<image id>"``): a sample keeps the smallest sample hashes, and with
the same hash every sampled image would land in the first split.

The split given last is recorded in ``DIR/split.json`` (:func:`remember_split`; ``None``
after ``--no-split``), so every later index write (a resumed harvest, ``harvester index``,
the SLURM index job) keeps it without the flags.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester import layout
from harvester.errors import PROBLEMS_LOGGER, ConfigError
from harvester.models import ImageRef
from harvester.selection import check_seed_range
from harvester.shell_words import shell_join, shell_quote
from harvester.text import agree, plural, quoted

if TYPE_CHECKING:
    import threading

__all__ = [
    "DEFAULT_SPLIT_BY",
    "NO_SPLIT",
    "SPLITS_FILE",
    "SPLIT_BY",
    "SPLIT_FILE",
    "RECORD_LIMIT",
    "SplitRecord",
    "SplitSpec",
    "SplitTally",
    "check_split_by",
    "check_split_seed",
    "folder_split",
    "grouping_text",
    "parse_split",
    "read_split_record",
    "remember_split",
    "replaced_split",
    "say_damaged",
    "split_counts_text",
    "split_gaps_line",
    "split_path",
    "splits_table",
]

#: ``split_by`` values, and the default: screens are split by well (fields of one well are
#: near-duplicates); images without a well fall back to their own id.
SPLIT_BY = ("image", "well", "plate", "dataset")
DEFAULT_SPLIT_BY = "well"
#: The ``split`` value (``--no-split``) that drops the column and the record's split.
NO_SPLIT = "none"
SPLIT_FILE = layout.SPLIT_RECORD_NAME
SPLITS_FILE = layout.SPLITS_NAME
#: How far from 1 the fractions may sum (they are typed as decimals: 0.7+0.2+0.1 != 1.0).
SUM_TOLERANCE = 1e-9
#: How a gaps line (:func:`split_gaps_line`) says to get more groups of each kind.
_MORE_OF = {"well": "a larger --sample, more plates"}
#: How many labels a gaps line names (:func:`split_gaps_line`); the rest are counted.
GAPS_NAMED = 3
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_HASH_SPACE = 1 << 64
_EXAMPLE = "e.g. --split train=0.8,val=0.1,test=0.1"
#: The same for a value read from a config file, in its terms (``ConfigError.file_hint``).
_FILE_EXAMPLE = 'e.g. split = "train=0.8,val=0.1,test=0.1"'
_problems = logging.getLogger(PROBLEMS_LOGGER)


@dataclass(frozen=True)
class SplitSpec:
    """A split: (name, fraction) pairs in the order given, the grouping and the seed."""

    parts: tuple[tuple[str, float], ...]
    by: str = DEFAULT_SPLIT_BY
    seed: int = 0

    @property
    def text(self) -> str:
        """``train=0.8,val=0.1,test=0.1``: the spec as typed (normalised)."""
        # repr: the shortest text that reads back as the same float (":g" cut 1/3 to 6
        # digits, and a record of thirds then summed to 0.999999 and was refused when read).
        return ",".join(f"{name}={fraction!r}" for name, fraction in self.parts)

    @property
    def flags(self) -> list[str]:
        """``--split TEXT`` with ``--split-by``/``--split-seed`` where not the defaults: the
        flags that give this split again (to ``harvester index``, in a printed command)."""
        words = ["--split", self.text]
        if self.by != DEFAULT_SPLIT_BY:
            words += ["--split-by", self.by]
        if self.seed != 0:
            words += ["--split-seed", str(self.seed)]
        return words

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.parts)

    def group_of(self, ref: ImageRef) -> str:
        """``well:123`` (the grouping id), or ``image:<id>`` for an image without one."""
        group = {"well": ref.well_id, "plate": ref.plate_id, "dataset": ref.dataset_id}
        value = group.get(self.by)
        if value is None:
            return f"image:{ref.image_id}"
        return f"{self.by}:{value}"

    def split_of(self, ref: ImageRef) -> str:
        """The split of the image's group: the first whose cumulative fraction passes the hash."""
        return self.split_of_group(self.group_of(ref))

    def split_of_group(self, group: str) -> str:
        """The split of ``group`` (:meth:`group_of`), for a caller that counts groups too."""
        key = f"split:{self.seed}:{group}".encode()
        point = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / _HASH_SPACE
        edge = 0.0
        for name, fraction in self.parts:
            edge += fraction
            if point < edge:
                return name
        return self.parts[-1][0]  # (the sum may fall a rounding short of 1)

    def describe(self) -> str:
        """``split train=0.8,val=0.1,test=0.1 by well, seed 0`` for summary lines."""
        return f"split {self.text} by {self.by}, seed {self.seed}"

    def describe_asked(self) -> str:
        """:meth:`describe` where which images have a ``by`` id is not known yet
        (:func:`asked_grouping`): ``split ... by well (images without a well alone), seed 0``."""
        return f"split {self.text} {asked_grouping(self.by)}, seed {self.seed}"

    def describe_grouped(self, images: int, alone: int) -> str:
        """:meth:`describe` with how ``images`` were grouped, ``alone`` of them without a
        ``by`` id (:func:`grouping_text`): ``split ... by image, as no image has a well;
        seed 0`` where a project's folder said ``by well``."""
        return f"split {self.text} {_then_seed(grouping_text(self.by, images, alone))} {self.seed}"


def regrouped(described: str, by: str, images: int, alone: int) -> str:
    """A recorded split's :meth:`SplitSpec.describe` (``split ... by well, seed 0``) with its
    grouping said as :meth:`SplitSpec.describe_grouped` says it, where it grouped ``by`` the
    same id: the same images had the same ids then. Else (another ``by``, a text of another
    form) as recorded."""
    asked = f" by {by}, seed "
    if asked not in described:
        return described
    return described.replace(asked, f" {_then_seed(grouping_text(by, images, alone))} ", 1)


def asked_grouping(by: str) -> str:
    """How a split groups images, where which of them have a ``by`` id is not known (the
    folder's ``status``, a resume's first line): ``by well (images without a well alone)``.
    Why: ``by well`` alone, for a project's folder, implied wells that it has none of."""
    return f"by {by}" if by == "image" else f"by {by} (images without a {by} alone)"


def parse_split(value: object) -> tuple[tuple[str, float], ...]:
    """``"train=0.8,val=0.1,test=0.1"`` -> pairs; :class:`ConfigError` (key ``split``) else.

    Names are letters, digits, ``_`` and ``-`` (from a letter), each once; fractions are
    positive numbers summing to 1 within :data:`SUM_TOLERANCE`.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"split: expected NAME=FRACTION,... got {value!r}",
            hint=_EXAMPLE,
            file_hint=_FILE_EXAMPLE,
            key="split",
        )
    # (a blank part, `train=0.8,val=0.2,` as a list is often typed, is no part: it was
    # refused as "'' is not NAME=FRACTION", naming nothing the user could see)
    items = [item for item in value.split(",") if item.strip()]
    if not items:
        raise ConfigError(
            f"split: expected NAME=FRACTION,... got {value!r}",
            hint=_EXAMPLE,
            file_hint=_FILE_EXAMPLE,
            key="split",
        )
    parts: list[tuple[str, float]] = []
    for item in items:
        name, eq, number = (s.strip() for s in item.partition("="))
        if not eq or not _NAME.fullmatch(name):
            raise ConfigError(
                f"split: {item.strip()!r} is not NAME=FRACTION (a name of letters, digits,"
                " _ or -, from a letter)",
                hint=_EXAMPLE,
                file_hint=_FILE_EXAMPLE,
                key="split",
            )
        fraction = _fraction(name, number)
        if fraction <= 0:
            raise ConfigError(
                f"split: {name}={number} must be a fraction above 0",
                hint=_EXAMPLE,
                file_hint=_FILE_EXAMPLE,
                key="split",
            )
        if any(name.casefold() == other.casefold() for other, _ in parts):
            raise ConfigError(
                f"split: {name!r} is named twice", hint="give each split once", key="split"
            )
        parts.append((name, fraction))
    total = math.fsum(f for _, f in parts)
    if abs(total - 1) > SUM_TOLERANCE:
        # (percentages without their %, ``train=80,val=20``: say the fractions they mean)
        meant = ",".join(f"{name}={fraction / 100:g}" for name, fraction in parts)
        percent = f": percentages? as fractions, {meant}" if abs(total - 100) < 1e-6 else ""
        raise ConfigError(
            f"split: the fractions of {value.strip()} sum to {total:g}, not 1{percent}",
            hint=_EXAMPLE,
            file_hint=_FILE_EXAMPLE,
            key="split",
        )
    return tuple(parts)


def _fraction(name: str, number: str) -> float:
    """The fraction of one ``NAME=FRACTION`` part; a :class:`ConfigError` naming what it is
    instead where it is no number (``train=80%``, ``train=1/2``, ``train=``).

    Why: those were refused as "must be a fraction above 0", which an 80 is.
    """
    try:
        fraction = float(number)
    except ValueError:
        pass
    else:
        if math.isfinite(fraction):
            return fraction
        # `train=inf`, `train=nan`: float() reads them, but they are no fraction (they were
        # told "must be a fraction above 0", which an infinity is)
        what = f"{name}={number} is not a number: a fraction is a decimal such as 0.8"
        raise ConfigError(f"split: {what}", hint=_EXAMPLE, file_hint=_FILE_EXAMPLE, key="split")
    try:
        percent: float | None = float(number.removesuffix("%")) if number[-1:] == "%" else None
    except ValueError:
        percent = None
    if not number:
        what = f"{name}= has no fraction after '='"
    elif "=" in number:
        # `train=0.8 val=0.2` or `train=0.8;val=0.2`: parts joined otherwise than by commas
        # read as one part whose fraction is the rest ("is not a number" named no slip).
        # (spaces around '=', `train = 0.8 val = 0.2`, stay with their part: the hint read
        # `train=0.8,val,=,0.2`)
        joined = re.sub(r"\s*=\s*", "=", f"{name}={number}")
        parts = ",".join(p for p in re.split(r"[\s;|]+", joined) if p)
        what = f"{name}={number} is several parts: separate them with commas, {parts}"
    elif percent is not None:
        what = f"{name}={number} is a percentage: give it as a fraction, {name}={percent / 100:g}"
    else:
        what = f"{name}={number} is not a number: a fraction is a decimal such as 0.8"
    raise ConfigError(f"split: {what}", hint=_EXAMPLE, file_hint=_FILE_EXAMPLE, key="split")


def check_split_by(value: object) -> str | None:
    """A ``split_by`` value (None: not given)."""
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in SPLIT_BY:
        raise ConfigError(
            f"split_by: {value!r} is not one of {', '.join(SPLIT_BY)}",
            hint="--split-by well keeps every field of a well in one split (the default)",
            file_hint='split_by = "well" keeps every field of a well in one split (the default)',
            key="split_by",
        )
    return str(text)


def check_split_seed(value: object) -> int | None:
    """A ``split_seed`` (None: not given): a whole number of
    :data:`~harvester.selection.SEED_RANGE`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"split_seed: expected an integer, got {value!r}", key="split_seed")
    return check_seed_range("split_seed", value)


# --------------------------------------------------------------------------- the record
def split_path(out_dir: Path) -> Path:
    """``DIR/split.json``."""
    return Path(out_dir) / SPLIT_FILE


def remember_split(
    out_dir: Path,
    spec: SplitSpec | None,
    *,
    by: str,
    unless_newer_than: float | None = None,
    stop: threading.Event | None = None,
) -> bool:
    """Record ``spec`` (None: no split) as DIR's split, for every later index write; whether
    it was recorded. ``unless_newer_than``: a task of a job array, whose script was written
    then (:func:`harvester.slurm.script_written`): a record made later (``harvester index
    --no-split``, a sibling task's) is kept, and this one not made.

    A ``split.json`` that is no record (damaged, or the user's own) is kept beside first
    (:func:`harvester.folder_settings.keep_unread_record`).
    Read, then written atomically (temp file and rename), under DIR's index lock, as
    ``label_ids.json`` and the index tables are: the tasks of a SLURM array and an index
    job share DIR, and a record made between another writer's read of the old one and its
    write was lost (its ``replaced`` too), or an index write read the split of one record
    and the ``replaced`` of the next. Holds no URL or credential.
    ``stop``: set when the caller is stopping (a harvest's Ctrl-C): the wait for another
    writer's index lock is then given up, nothing written
    (:class:`~harvester.runlock.LockWaitStopped`).
    Raises :class:`~harvester.errors.StorageError` when DIR cannot be written.
    """
    from harvester.folder_settings import SCRIPT_KEY, keep_unread_record
    from harvester.index import INDEX_LOCK, INDEX_LOCK_WAIT
    from harvester.runlock import folder_lock
    from harvester.store import atomic_write_bytes, storage_error

    now = time.time()
    body: dict[str, Any] = {
        "split": None if spec is None else spec.text,
        "split_by": None if spec is None else spec.by,
        "split_seed": None if spec is None else spec.seed,
        "at": now,
        "at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "by": by,
    }
    if unless_newer_than is not None:
        body[SCRIPT_KEY] = unless_newer_than
    path = split_path(out_dir)
    try:
        with folder_lock(
            Path(out_dir), INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True, stop=stop
        ):
            before = read_split_record(out_dir)
            if unless_newer_than is not None and before.made_after(unless_newer_than):
                return False
            # Kept as it is not read: its own line when no split replaces it, else named in
            # _replaced_by's (one warning for one file).
            kept = None
            if before.damaged is not None:  # (none can be read: a made_after of nothing)
                kept = keep_unread_record(path, say=spec is None)
            replaced = _replaced_by(out_dir, before, spec, kept)
            if replaced is not None:
                body["replaced"] = replaced
            data = (json.dumps(body, indent=1) + "\n").encode()
            atomic_write_bytes(Path(out_dir), path, data)
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc
    return True


def _replaced_by(
    out_dir: Path, before: SplitRecord, spec: SplitSpec | None, kept: Path | None = None
) -> str | None:
    """What ``spec`` replaces, for the record's ``replaced``: the split recorded until now
    (:meth:`SplitSpec.describe`) when ``spec`` is another one, else the ``replaced`` already
    recorded (every task of a SLURM array records the new split: the first task's record
    must not be lost by the next). None: no split replaced (or ``spec`` drops the split).

    Why: the index write that then moves images to another split names the old one
    (:func:`replaced_split`), so a model trained on it can be traced and the old split drawn
    again (``--split``, ``--split-by``, ``--split-seed`` as named). With no split recorded
    (a damaged or removed record) but a split column in ``index.csv``, that column is what
    is replaced (:data:`UNRECORDED_SPLIT`): the index write counts the moves against it, as
    for a changed split, and keeps the replaced ``splits.csv``. A damaged record is said in
    one warning naming ``kept``, the copy of the file
    (:func:`harvester.folder_settings.keep_unread_record`), and, where ``index.csv`` has no
    split column to count against, that its images may have moved (its own damage warning,
    saying to record a split again, is not given: that is being done).
    """
    from harvester.layout import index_path

    if spec is None:
        return None
    if before.spec is None:
        # No split recorded (damaged, removed, or --no-split not yet written): the split
        # column of index.csv, if it has one, is the only trace of the split replaced, and
        # the index write counts the images it moves against it (_SplitMoves).
        counted = _index_has_split_column(out_dir)
        if before.damaged is not None:
            _problems.warning(
                "%s",
                f"{before.damaged.replace(' is damaged ', ' could not be read ', 1)}, so the "
                "split it recorded is unknown"
                + (
                    ""
                    if counted
                    # (the grouping asked: which images have a `by` id is known only once
                    # the index is written; "by well" implied wells a project has none of)
                    else f": images already in {index_path(out_dir)} may be in another "
                    f"split now that {spec.describe_asked()} replaces it"
                )
                + (f"; the file is kept as {kept}" if kept is not None else ""),
            )
        return UNRECORDED_SPLIT if counted else None
    if before.spec != spec:
        return before.spec.describe()
    return before.replaced


def _index_has_split_column(out_dir: Path) -> bool:
    """Whether DIR's ``index.csv`` has harvester's own ``split`` column, not a map
    annotation's of that name (:func:`harvester.index.own_split_column`; its header alone
    is read)."""
    import csv

    from harvester.index import own_split_column
    from harvester.layout import index_path

    try:
        with index_path(out_dir).open(encoding="utf-8", newline="") as handle:
            return own_split_column(out_dir, next(csv.reader(handle), [])) is not None
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


#: What a split replaced when ``split.json`` recorded none (damaged, removed, ``--no-split``
#: not yet written) but ``index.csv`` has a split column: the moves are counted against it.
UNRECORDED_SPLIT = "the split in index.csv's split column (not recorded in split.json)"

#: ``split.json`` is a few hundred bytes: a bigger one is damaged, and is not read whole.
RECORD_LIMIT = 1 << 20


@dataclass(frozen=True)
class SplitRecord:
    """``DIR/split.json`` as read once: the split (None: none recorded, ``--no-split``, or
    a damaged record), the split it replaced, when it was recorded (None: not known), and
    for a damaged record the line saying what is wrong with it (``DIR/split.json is
    damaged (...)``)."""

    spec: SplitSpec | None = None
    replaced: str | None = None
    damaged: str | None = None
    at: float | None = None
    #: Made by a task of a job array: when its script was written (see :meth:`made_after`).
    script: float | None = None

    def made_after(self, written: float) -> bool:
        """Whether it was recorded after a job array's script written at ``written``
        (:func:`harvester.folder_settings.made_after_script`): that script's tasks keep it."""
        from harvester.folder_settings import SCRIPT_KEY, made_after_script

        return made_after_script({"at": self.at, SCRIPT_KEY: self.script}, written)

    def damaged_line(self, out_dir: Path) -> str | None:
        """The warning for a damaged record, with what to do; None when it is not damaged."""
        if self.damaged is None:
            return None
        return (
            f"{self.damaged}: index.csv gets no split column; record it again "
            f"with harvester index {shell_quote(str(out_dir))} --split NAME=FRACTION,..."
        )


class _DamagedRecord(Exception):
    """``split.json`` is there but cannot be used; ``str()`` names it and what is wrong."""


def read_split_record(out_dir: Path) -> SplitRecord:
    """DIR's ``split.json``, read once (at most :data:`RECORD_LIMIT` bytes), never raising:
    a record that cannot be read, is too big or too deeply nested, or is not a split is a
    :class:`SplitRecord` with ``damaged`` set, for the caller to say (or keep quiet)."""
    from harvester.folder_settings import SCRIPT_KEY, read_json_record, record_time

    path = split_path(out_dir)
    try:
        data = read_json_record(path, RECORD_LIMIT, _DamagedRecord)
        if data is None:
            return SplitRecord()
        if "split" not in data:  # (read_json_record gives {} for JSON that is no object)
            raise ConfigError("not a JSON object with a 'split'")
        if data["split"] is None:
            return SplitRecord(at=record_time(data), script=record_time(data, SCRIPT_KEY))
        by = check_split_by(data.get("split_by")) or DEFAULT_SPLIT_BY
        spec = SplitSpec(
            parse_split(data["split"]), by, check_split_seed(data.get("split_seed")) or 0
        )
    except _DamagedRecord as exc:
        return SplitRecord(damaged=str(exc))
    except ConfigError as exc:
        return SplitRecord(damaged=f"{path} is damaged ({exc})")
    replaced = data.get("replaced")
    return SplitRecord(
        spec,
        replaced if isinstance(replaced, str) else None,
        at=record_time(data),
        script=record_time(data, SCRIPT_KEY),
    )


def redraw_hint(out_dir: Path, flag: str, value: object) -> str:
    """The hint of a ``--split-by``/``--split-seed`` given without ``--split`` (to
    ``harvester index DIR``, or to a resume of DIR): the command that draws DIR's recorded
    split so, its other settings kept, where it has one; else an example.

    Why: ``harvester index DIR --split-seed 1`` (the split drawn again with another seed)
    was told ``e.g. --split train=0.8,val=0.1,test=0.1``, fractions that need not be the
    folder's: typed as shown, they replaced its split with another one."""
    recorded = read_split_record(out_dir).spec
    if recorded is None:
        return "add --split NAME=FRACTION,..., e.g. --split train=0.8,val=0.1,test=0.1"
    words = recorded.flags  # (its --split-by and --split-seed kept, but for the one given)
    if flag in words:
        del words[words.index(flag) : words.index(flag) + 2]
    kept = shell_join(recorded.flags)
    again = shell_join([*words, flag, str(value)])
    return (
        f"add the split to draw; {split_path(out_dir)} records {kept}: harvester index"
        f" {shell_quote(str(out_dir))} {again}"
    )


def with_redraw_hint(error: ConfigError, given: Mapping[str, object]) -> ConfigError:
    """``error`` with the hint of :func:`redraw_hint` where it refuses a ``split_by`` or
    ``split_seed`` given (``given``: the settings given as flags) without a split, into
    an ``out`` folder that records one (``harvester harvest --out DIR --split-seed 3``: a
    resume replays no split, as ``split.json`` keeps it); any other error as it is."""
    key = error.key if error.key in ("split_by", "split_seed") else None
    value = given.get(key) if key else None
    out = given.get("out")
    if value is None or out is None or not str(error).endswith("no split is given"):
        return error
    flag = "--" + key.replace("_", "-") if key else ""
    return ConfigError(str(error), hint=redraw_hint(Path(str(out)), flag, value), key=key)


def replaced_split(out_dir: Path) -> str | None:
    """The split the recorded one replaced (``split ... by well, seed 0``), or None."""
    return read_split_record(out_dir).replaced


def folder_split(out_dir: Path, notes: list[str] | None = None) -> SplitSpec | None:
    """DIR's recorded split; None without a record, after ``--no-split``, or when the record
    is damaged (one warning: the index then has no split column until ``--split`` again;
    ``notes``: gets that line instead, for ``harvester status``)."""
    record = read_split_record(out_dir)
    say_damaged(record, out_dir, notes)
    return record.spec


def say_damaged(record: SplitRecord, out_dir: Path, notes: list[str] | None = None) -> None:
    """A damaged record's line as a warning (``notes``: appended there instead)."""
    line = record.damaged_line(out_dir)
    if line is None:
        return
    if notes is not None:
        notes.append(line)
    else:
        _problems.warning("%s", line)


@dataclass
class SplitTally:
    """What an index write with a split wrote, for its caller's line: the split it used
    (``split.json`` read once, by the write itself) and the images per split."""

    spec: SplitSpec | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: Of those images, how many had no grouping id: each was a group of its own.
    alone: int = 0


def split_counts_text(spec: SplitSpec, counts: Mapping[str, int], alone: int = 0) -> str:
    """``train 80, val 10, test 10 (by well, seed 0)``: images per split, in spec order,
    and how they were grouped (``alone``: images with no grouping id, each split on its own:
    :func:`grouping_text`)."""
    shown = ", ".join(f"{name} {counts.get(name, 0)}" for name in spec.names)
    grouping = grouping_text(spec.by, sum(counts.values()), alone)
    return f"{shown} ({_then_seed(grouping)} {spec.seed})"


def grouping_text(by: str, images: int, alone: int) -> str:
    """How ``images`` were split, ``alone`` of them having no ``by`` id: ``by well``, ``by
    image, as no image has a well`` (none had one), or ``by well where images have one,
    else by image``. Why: a project's folder said ``by well`` with no well in it, every
    image split on its own (the rule is documented; the line said what was asked)."""
    if by == "image" or alone <= 0:
        return f"by {by}"
    if alone >= images:
        return f"by image, as no image has a {by}"
    return f"by {by} where images have one, else by image"


def _then_seed(grouping: str) -> str:
    """``by well, seed``: :func:`grouping_text` and the word before the seed, after a ``;``
    where the grouping holds a comma itself (``by image, as no image has a well; seed``)."""
    return f"{grouping}{';' if ',' in grouping else ','} seed"


def splits_table(
    spec: SplitSpec, per: Mapping[tuple[str, str], int], labelled: bool
) -> tuple[list[str], list[list[str]], dict[str, int]]:
    """Header and rows of ``splits.csv`` from the images per (split, label); images per split.

    Labelled: ``split,label,images`` per split and non-empty label (unlabelled images are
    left out, as in labels.csv); else ``split,images``. Splits in the order given.
    """
    totals = dict.fromkeys(spec.names, 0)
    for (split, _label), count in per.items():
        totals[split] += count
    if not labelled:
        return ["split", "images"], [[n, str(totals[n])] for n in spec.names], totals
    order = {name: n for n, name in enumerate(spec.names)}
    rows = [
        [split, label, str(count)]
        for (split, label), count in sorted(per.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
        if label
    ]
    return ["split", "label", "images"], rows, totals


def split_gaps_line(
    spec: SplitSpec, per: Mapping[tuple[str, str], int], described: str, where: str, unit: str
) -> str | None:
    """The warning for a split that leaves a gap, or None: a split with no image, or one
    with images that lacks labels other splits have (``per``: images per split and label,
    ``""`` for none).

    Why: a split draws whole groups (wells, by default), so a small folder, or a label held
    by one or two wells, puts every image of the label in one split; ``splits.csv`` shows
    it, but nothing said it, and a model trained on ``train`` then never saw a class it was
    tested on (or a ``val`` with no image made an empty loader). ``described``: the split
    as the summary says it (:meth:`SplitSpec.describe_grouped`); ``where``: the
    ``splits.csv`` to read the counts in; ``unit``: the groups it drew (``well``, or
    ``image`` where no image had a well). Splits in the order given, labels sorted, so the
    line is the same on every write of the same folder.
    """
    totals = dict.fromkeys(spec.names, 0)
    held: dict[str, set[str]] = {name: set() for name in spec.names}
    for (name, label), count in per.items():
        totals[name] += count
        if label and count:
            held[name].add(label)
    labels = set().union(*held.values())
    empty = [name for name in spec.names if totals[name] == 0]
    lacking = {
        name: sorted(labels - held[name])
        for name in spec.names
        if totals[name] and held[name] != labels
    }
    if not empty and not lacking or not any(totals.values()):
        return None  # (an empty folder: the empty selection was said)
    gaps = []
    if empty:
        names = ", ".join(repr(name) for name in empty)
        gaps.append(f"{names} {agree(len(empty), 'has', 'have')} no image")
    for n, (name, missing) in enumerate(lacking.items()):
        named = ", ".join(quoted(label) for label in missing[:GAPS_NAMED])
        more = f" and {len(missing) - GAPS_NAMED} more" if len(missing) > GAPS_NAMED else ""
        of = f" of the {plural(len(labels), 'label')}" if n == 0 else ""
        gaps.append(f"{name!r} lacks {len(missing)}{of} ({named}{more})")
    if lacking:
        gaps[-1] += ": a model trained or scored on a split never sees the labels it lacks"
    count = sum(totals.values())
    images = plural(count, "image")
    few = f"{agree(count)} too few to fill every split"  # (one image is one too)
    if unit == "image":
        whole = ""
        why = "A label of few images lands in few splits" if lacking else f"{images} {few}"
    else:
        whole = f"A split takes whole {unit}s (no leakage), so "
        groups = f"the {unit} of {images}" if count == 1 else f"the {unit}s of these {images}"
        why = f"a label on few {unit}s lands in few splits" if lacking else f"{groups} {few}"
    return (
        f"{described} leaves gaps: {'; '.join(gaps)}. {whole}{why}: harvest more {unit}s"
        f"{' of each label' if lacking else ''} ({_MORE_OF.get(unit, 'a larger --sample')}) or give"
        f" fewer splits (counts per split{' and label' if labels else ''}: {where})"
    )

"""Settings a folder keeps for good: those that shape an artifact's bytes but not its name.

``{id}.thumbnail.jpg`` does not say its size. A rerun of a 96-px folder with
``--thumbnail-size 128`` used to skip the 96-px files as done and write the new
images at 128, so one folder silently held two sizes that nothing on disk could
tell apart. So DIR's marker (``harvest.json``) records, under ``"settings"``, the
value of each such setting when a run that fetches the kind it shapes opens DIR (before
its first file: one that ends before any still leaves the value, and a refusal then
says that none is done), and a later run with another value for a kind it fetches is
refused before any request or write.

Unless no file of that kind was ever made with the folder's value: a run stopped before
its first one (Ctrl-C, an unknown ``--image``, a server that serves no thumbnail at that
size) pinned a value that shaped nothing, and refusing every other value then cost the
user the folder. Such a setting is re-pinned to the value a new run gives (:func:`repinnable`,
one warning line; a run given none takes the folder's: :func:`kept_values`) when, under
DIR's marker lock:

* no journal of DIR holds a done record of the kind, not even one ``verify`` invalidated
  since (:func:`_any_done`): ``verify`` leaves a damaged file's bytes in place, made with
  the old value, and a record it voided still says a file was made with it; and
* nobody else can be about to write such a file: the caller holds its own run lock (or,
  for ``harvester slurm``, which writes no file, none), and every other run lock of DIR
  is probed free (:func:`harvester.runlock.others_may_hold`). A filesystem without
  ``flock`` cannot show that, so there the refusal stays.

Nothing else holds bytes made with the old value: a stack's planes staged by a stopped
run record their window (``staging/<id>/stack.json``) and are discarded when it differs
(:func:`harvester.stack.prepare_staging`), and a stitched render is assembled in memory.

Every harvest reads the marker under the marker lock after taking its run lock, so of two
runs starting at once with different values, the one that checks second finds the other's
lock held and is refused: one value wins and no file is made with the other (see
:func:`harvester.store.prepare_out_dir`).

Which settings (read from :mod:`harvester.fetch`, :mod:`harvester.urls`,
:mod:`harvester.stack`, :mod:`harvester.window`):

``thumbnail_size`` (thumbnail)
    the URL's size: other pixels under the same ``{id}.thumbnail.jpg``.
``render_quality`` (render, JPEG only)
    the ``q=`` of the render URL and the quality of a stitched render: other
    bytes under the same ``{id}.render.jpg``. A PNG is lossless: the server and
    the stitcher ignore the quality there, so a PNG render is not tied to it.
``window`` (stack)
    the intensity window every plane is rendered with: other values under the
    same ``{id}.stack.ome.tif`` (the renders always use the saved rendering window).

Not kept, on purpose:

``render_format``
    changes the suffix (``render.jpg`` / ``render.png``): a file never holds a
    format its name does not say, so nothing is mixed under one name.
``max_plane``
    chooses how a big plane is fetched (whole, or as regions stitched together),
    not what it is: both give the full-resolution plane with the same window and
    colours; only the encoder's rounding differs (and the stack's OME-XML notes it).
``base_url`` and the rest
    not rendering settings; pinning the server's URL would refuse a move from http
    to https or to a mirror.

A folder made before this (a marker without ``"settings"``), or one whose marker
lacks a setting, adopts the value of the runs that made its existing artifacts of
that kind: the journals' done records name their run, and each run saved its
resolved configuration (``runs/<run>/config.json``). That is read only when an
earlier run that fetched the kind used another value than this run's (one
``config.json`` per run otherwise, and none at all once the marker holds the
setting). If the folder holds artifacts made with several values already, this
run may go on with one of them (recorded, with a warning naming the others and
how to fetch them again); with none of them it is refused.

The label keys (``--label-key``), kept apart from those settings: they shape only the
``label``/``label_id`` columns and ``labels.csv``, which every index write makes again,
so another value is never refused: the keys given last win. ``harvester index
--label-key`` records them in ``DIR/label_keys.json`` (:func:`remember_label_keys`),
as a harvest records its keys in its saved configuration, and every later index write
given no keys takes the keys given last (:func:`remembered_label_keys`): a harvest
resumed without ``--label-key``, ``harvester index DIR``, the index job of a SLURM array.
``harvester index --no-label-key`` records "no keys", which drops the label columns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.errors import PROBLEMS_LOGGER, UsageError
from harvester.journal import JournalState, SavedConfigs, run_config_of
from harvester.layout import (
    JOURNALS_DIR,
    RUNS_DIR,
    run_config_path,
    run_folders,
    sanitize_component,
)
from harvester.shell_words import shell_quote
from harvester.text import agree, quoted

if TYPE_CHECKING:
    import threading

__all__ = [
    "LABEL_KEYS_FILE",
    "PINNED",
    "SETTINGS_KEY",
    "DamagedLabelKeysError",
    "LabelKeysRecord",
    "Pinned",
    "carry_label_keys",
    "kept_value_note",
    "kept_values",
    "folder_has_label_keys",
    "older_folder_values",
    "label_keys_path",
    "old_label_keys_time",
    "read_label_keys_record",
    "recorded_settings",
    "remember_label_keys",
    "remembered_label_keys",
    "repin_note",
    "repinnable",
    "run_settings",
    "settle",
]

SETTINGS_KEY = "settings"
"""The marker's key holding the kept settings (a JSON object, setting name -> value)."""


def _artifacts_of(config: Mapping[str, Any]) -> set[str]:
    raw = config.get("artifacts")
    if isinstance(raw, str):
        raw = raw.split(",")
    if not isinstance(raw, list | tuple):
        return set()
    return {str(getattr(a, "value", a)).strip() for a in raw}


@dataclass(frozen=True)
class Pinned:
    """One setting a folder keeps, and which of a run's files it shapes."""

    name: str  # configuration key
    kind: str  # artifact kind whose bytes it decides
    what: str  # those files in words, for messages ("thumbnails")
    suffix: str  # the done paths it shapes end with this
    flag: str  # how a user sets it: "--thumbnail-size" (a flag) or "render_quality =" (a key)
    default: Any
    only_if: Callable[[Mapping[str, Any]], bool] = lambda config: True

    def applies(self, config: Mapping[str, Any]) -> bool:
        """Does a run with this (resolved or saved) configuration write the files it shapes?"""
        return self.kind in _artifacts_of(config) and self.only_if(config)

    def value_of(self, config: Mapping[str, Any]) -> Any:
        """The setting's value in a configuration (its default when the key is missing)."""
        return config.get(self.name, self.default)

    def spelled(self, value: Any) -> str:
        """``--thumbnail-size 96`` or ``render_quality = 0.9``, as a user would write it."""
        return f"{self.flag} {value}"


def _jpeg_render(config: Mapping[str, Any]) -> bool:
    return str(config.get("render_format", "jpeg")) == "jpeg"


# Defaults spelled here (the values of harvester.urls / harvester.window / harvester.config)
# so that this module loads nothing else at start-up; a test ties them together.
PINNED: tuple[Pinned, ...] = (
    Pinned("thumbnail_size", "thumbnail", "thumbnails", ".thumbnail.jpg", "--thumbnail-size", 96),
    Pinned(
        "render_quality",
        "render",
        "JPEG renders",
        ".render.jpg",
        "render_quality =",
        0.9,
        _jpeg_render,
    ),
    Pinned("window", "stack", "stacks", ".stack.ome.tif", "--window", "rendering"),
)


def _as_mapping(config: Any) -> Mapping[str, Any]:
    """A saved configuration (a mapping) or a :class:`~harvester.config.HarvestConfig`."""
    if isinstance(config, Mapping):
        return config
    keys = ("artifacts", "render_format", *(pin.name for pin in PINNED))
    return {key: getattr(config, key) for key in keys if hasattr(config, key)}


def run_settings(config: Any) -> dict[str, Any]:
    """The kept settings that matter to a run: those of the kinds it fetches, by name.

    ``config``: a :class:`~harvester.config.HarvestConfig` or its saved (public) form.
    A thumbnails-only run gives ``{"thumbnail_size": 96}``: it does not care about
    ``--window``.
    """
    values = _as_mapping(config)
    return {pin.name: pin.value_of(values) for pin in PINNED if pin.applies(values)}


def unused_settings(config: Mapping[str, Any], kept: Mapping[str, Any]) -> frozenset[str]:
    """The kept settings a saved run's configuration holds for kinds it did not fetch
    (``--thumbnail-size 256`` beside ``--artifacts render``) whose value DIR keeps otherwise
    (``kept``: :func:`recorded_settings`): they shaped none of its files, so a command
    replaying the run leaves them out and takes DIR's value.

    Why: such a run is accepted whatever the folder keeps (only the kinds a run fetches
    count), but its saved value was replayed as given, so its resume with ``--artifacts
    thumbnail,render``, and the commands ``status`` and ``verify`` print to refetch a
    thumbnail of its set, asked for 256 px in a folder of 96 px thumbnails and were
    refused. A value DIR keeps none of is the user's choice, still replayed: left out, a
    resume adding thumbnails made them at the default size, and DIR kept that one for good.
    A configuration naming no kinds is left whole (nothing says which applied)."""
    if "artifacts" not in config:
        return frozenset()
    return frozenset(
        pin.name
        for pin in PINNED
        if not pin.applies(config) and pin.name in kept and kept[pin.name] != pin.value_of(config)
    )


def idle_settings(config: Mapping[str, Any]) -> bool:
    """Whether a saved run's configuration holds a kept setting of a kind it did not fetch
    (:func:`unused_settings` needs DIR's kept settings then: read them only so)."""
    return "artifacts" in config and any(not pin.applies(config) for pin in PINNED)


def recorded_settings(marker: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings a marker keeps (none for a folder made before they were kept)."""
    kept = marker.get(SETTINGS_KEY) if marker is not None else None
    return dict(kept) if isinstance(kept, Mapping) else {}


def _pin(name: str) -> Pinned:
    for pin in PINNED:
        if pin.name == name:
            return pin
    raise ValueError(f"{name!r} is not a setting a folder keeps")


def _refusal(
    out_dir: Path, pin: Pinned, folder: list[Any], wanted: Any, *, none_done: bool = False
) -> UsageError:
    values = " and ".join(pin.spelled(v) if i == 0 else str(v) for i, v in enumerate(folder))
    if none_done:
        # The marker records a value when a run starts asking for the kind; a run that ended
        # before its first file (interrupted, an unknown --image) leaves DIR without any.
        held = f"{out_dir} has no {pin.what} yet but is set for {pin.what} made with {values}"
    else:
        held = f"{out_dir} holds {pin.what} made with {values}"
    # With no file made, what kept the value is another run that may be writing (or a
    # filesystem that cannot show there is none): the next step is to run again later.
    later = (
        f"another harvest of {out_dir} may be running: once none is, run again and the "
        f"folder takes {pin.spelled(wanted)} (not on a filesystem without flock); or "
        if none_done
        else ""
    )
    return UsageError(
        f"{held}; this run asks for {pin.spelled(wanted)}"
        " (the file names do not say it, so one folder keeps one value)",
        hint=f"{later}use another --out, or {pin.spelled(folder[0])}"
        + (" in the config file" if pin.flag.endswith("=") else ""),
    )


def settle(
    out_dir: Path, recorded: Mapping[str, Any], wanted: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Check a run's settings against DIR's; return what to record and what to warn about.

    ``recorded``: the marker's settings; ``wanted``: :func:`run_settings` of the run.
    Raises :class:`UsageError` (exit 2) naming the setting, the folder's value and the
    run's when they differ. Returns the settings to add to the marker (those the run
    needs and the marker lacks: see the module docstring for how an older folder's
    value is found) and warning lines for a folder that mixes values already. Reads
    the marker's caller's DIR only; writes nothing.
    """
    add: dict[str, Any] = {}
    warnings: list[str] = []
    history: _History | None = None
    for name, value in wanted.items():
        pin = _pin(name)
        if name in recorded:
            if recorded[name] != value:
                none_done = not _any_done(out_dir, pin.suffix)  # the refusal's words only
                raise _refusal(out_dir, pin, [recorded[name]], value, none_done=none_done)
            continue
        if history is None:
            history = _History(out_dir)
        made = history.values_made(pin, value)
        if made and value not in made:
            raise _refusal(out_dir, pin, sorted(made, key=lambda v: -made[v]), value)
        others = {v: n for v, n in made.items() if v != value}
        if others:
            listed = ", ".join(f"{n} with {pin.spelled(v)}" for v, n in others.items())
            warnings.append(
                f"{out_dir} already holds {pin.what} made with other settings ({listed}); "
                f"keeping {pin.spelled(value)} for this folder from now on. To fetch those "
                f"again: delete their files, run `harvester verify {shell_quote(str(out_dir))}`, "
                "then harvest again"
            )
        add[name] = value
    return add, warnings


def kept_values(
    config: Any, recorded: Mapping[str, Any], given: Callable[[str], bool]
) -> dict[str, Any]:
    """The kept settings a run takes from DIR (whose marker's settings are ``recorded``)
    for want of its own: name -> DIR's value.

    Those of the kinds the run fetches whose value DIR records and the run's differs from,
    for which ``given(name)`` says the user gave none (no flag, no config file key). Why: a
    run given no ``--artifacts`` takes the folder's kinds, but one given no
    ``--thumbnail-size`` took the default, 96, so a target added to a folder of 256 px
    thumbnails was refused for a value the user never typed ("this run asks for
    --thumbnail-size 96"). Taken whether or not DIR holds a file of the kind yet: the
    marker alone decides, so the tasks of one array (or shards started by hand) agree
    whenever each starts, before the first file or after; deciding by the files made the
    tasks started before them ask the default, and those beside a sibling's run lock were
    refused. A value given is checked by :func:`settle`, as before, and one no file was
    made with is re-pinned to it (:func:`repinnable`).
    """
    values = _as_mapping(config)
    return {
        pin.name: recorded[pin.name]
        for pin in PINNED
        if pin.applies(values)
        and pin.name in recorded
        and recorded[pin.name] != pin.value_of(values)
        and not given(pin.name)
    }


def older_folder_values(
    out_dir: Path, config: Any, marker: Mapping[str, Any] | None, given: Callable[[str], bool]
) -> tuple[dict[str, Any], list[str]]:
    """:func:`kept_values` for a folder made by 0.1.4 or older, whose marker (``marker``)
    has no ``"settings"``, or none for a kind its runs of then made (a later version's run
    of another kind recorded only its own): (name -> the value a run given none takes, the
    lines that say so); nothing for any other folder (a later one records each value as its
    kind is first fetched: one it lacks, no file was made with).

    Why: :func:`kept_values` reads the marker alone, so a run given no ``--thumbnail-size``
    into an old folder of 256 px thumbnails asked for the default, 96, and was refused for
    a value nobody typed. The value is read as :func:`settle` reads it, from the runs that
    made the folder's files (their saved configurations; the value most files were made
    with where they disagree, and :func:`settle` warns of the others). Where those runs
    saved no configuration, the folder cannot tell: the run keeps its own value, and one
    ``note:`` line says so (once: the value is recorded as the run opens DIR). Reads the
    journals only for such a folder, and a setting the user did not give; for a marker that
    has ``"settings"`` (and lacks this one), only where a saved configuration holds another
    value than the run's, or a run's configuration cannot be read (a later folder's first
    run of a kind reads no journal while every run's configuration can be read).
    """
    if marker is None:
        return {}, []
    recorded = recorded_settings(marker)
    upgraded = SETTINGS_KEY in marker  # (a run of 0.1.5 or later recorded some settings)
    values = _as_mapping(config)
    wanted = [
        pin
        for pin in PINNED
        if pin.applies(values) and pin.name not in recorded and not given(pin.name)
    ]
    if not wanted or not (out_dir / JOURNALS_DIR).is_dir():
        return {}, []
    history = _History(out_dir)
    taken: dict[str, Any] = {}
    lines: list[str] = []
    for pin in wanted:
        own = pin.value_of(values)
        # (a run whose configuration is lost may have made files of the kind: the
        # journals say, and then the folder cannot tell their value; it was said nothing)
        if upgraded and not history.other_value(pin, own) and not history.unread:
            continue
        made, unknown = history.origins(pin)
        if made:
            value = max(made, key=lambda v: (made[v], v == own))  # (a tie: the run's own)
            if value != own:
                taken[pin.name] = value
                lines.append(
                    f"fetching {pin.what} with {pin.spelled(value)}, the value {out_dir}'s "
                    f"{pin.what} were made with (read from the runs that made them: a folder "
                    "of harvester 0.1.4 or older records none; a folder keeps one: another "
                    "--out for another)"
                )
        elif unknown:
            default = " (the default)" if own == pin.default else ""
            keeps = "" if getattr(config, "dry_run", False) else " and the folder keeps it"
            lines.append(
                f"note: {out_dir} was made by harvester 0.1.4 or older, which recorded no "
                f"{pin.flag.rstrip(' =')}, and the runs that made its {pin.what} saved no "
                f"configuration: it cannot tell their {_measure(pin)}; this run fetches "
                f"with {pin.spelled(own)}{default}{keeps}"
            )
    return taken, lines


def _measure(pin: Pinned) -> str:
    """What the setting says of a file, in a word: ``size``, ``quality``, ``window``."""
    return {"thumbnail_size": "size", "render_quality": "quality"}.get(pin.name, pin.name)


def kept_value_note(out_dir: Path, name: str, value: Any) -> str:
    """The one line saying a run takes DIR's value of the kept setting ``name``: one the
    folder's files were made with, or (none made yet) one the user may still change."""
    pin = _pin(name)
    # (no journals folder: no file yet, though _any_done, unable to list it, says "some")
    journals = (out_dir / JOURNALS_DIR).is_dir()
    if not journals or not _any_done(out_dir, pin.suffix):
        return (
            f"fetching {pin.what} with {pin.spelled(value)}, the value {out_dir} is set for "
            f"(it holds no {pin.what} yet: {pin.spelled('N')} sets another)"
        )
    return (
        f"fetching {pin.what} with {pin.spelled(value)}, the value {out_dir} keeps for them "
        "(a folder keeps one: another --out for another)"
    )


def repinnable(
    out_dir: Path,
    recorded: Mapping[str, Any],
    wanted: Mapping[str, Any],
    nobody_else: Callable[[], bool],
) -> dict[str, Any]:
    """The kept settings this run may change to its own value: name -> the folder's value.

    Those whose recorded value differs from ``wanted``'s and of whose kind DIR holds no
    done file (see the module docstring), provided ``nobody_else()`` (called at most once,
    first: a probe of the run locks is cheaper than a scan of the journals) says no other
    run can be writing. Empty otherwise: the caller's :func:`settle` then refuses as it
    always did. Reads only; the caller holds the marker lock when it writes the result.
    """
    differ = [n for n, v in wanted.items() if n in recorded and recorded[n] != v]
    if not differ or not nobody_else():
        return {}
    return {n: recorded[n] for n in differ if not _any_done(out_dir, _pin(n).suffix)}


def repin_note(out_dir: Path, name: str, old: Any, new: Any, *, dry_run: bool = False) -> str:
    """The one line saying DIR's setting ``name`` changed (or, for a dry run, would)."""
    pin = _pin(name)
    changed = "would change" if dry_run else "changed"
    return (
        f"{out_dir}: the folder's setting {changed} from {pin.spelled(old)} to "
        f"{pin.spelled(new)}, because no file was made with {pin.spelled(old)} (it holds "
        f"no {pin.what} yet)" + ("; a dry run changes nothing" if dry_run else "")
    )


class _History:
    """What earlier runs of DIR did: their saved configurations, read once, and the done
    records' runs, read only when an earlier run used another value than this one."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        #: Run folders whose configuration cannot be read: what they made, only the
        #: journals can say (and its value, nothing).
        self.unread: list[str] = []
        self.configs = dict(_saved_configs(out_dir, self.unread))
        self._done: list[tuple[str, str | None]] | None = None

    def values_made(self, pin: Pinned, wanted: Any) -> Counter[Any]:
        """How many of DIR's done artifacts shaped by ``pin`` each value made.

        Empty when no artifact of the kind is done, or when every earlier run that
        fetched the kind used ``wanted`` (what it made, it made with that). A done
        artifact whose run saved no configuration counts as made with the setting's
        default (a configuration was saved before any fetch since 0.1.0; this only
        covers hand-made journals).
        """
        if not self.other_value(pin, wanted):
            return Counter()
        made, unknown = self.origins(pin)
        if unknown:
            made[pin.default] += unknown
        return made

    def other_value(self, pin: Pinned, wanted: Any) -> bool:
        """Did an earlier run that fetched ``pin``'s kind save a configuration with another
        value than ``wanted``? (Their configurations alone: no journal is read.)"""
        return any(pin.value_of(cfg) != wanted for cfg in self.configs.values() if pin.applies(cfg))

    def origins(self, pin: Pinned) -> tuple[Counter[Any], int]:
        """(how many of DIR's done artifacts shaped by ``pin`` each value made, known from
        their runs' saved configurations; how many were made by runs that saved none)."""
        made: Counter[Any] = Counter()
        unknown = 0
        for path, run in self._done_paths():
            if path.endswith(pin.suffix):
                cfg = self.configs.get(run) if run is not None else None
                value = pin.value_of(cfg) if cfg is not None else None
                # (a list or object edited by hand into its config.json: no value, not a
                # TypeError of the Counter's)
                if value is None or not isinstance(value, Hashable):
                    unknown += 1
                else:
                    made[value] += 1
        return made, unknown

    def _done_paths(self) -> list[tuple[str, str | None]]:
        """(path, run) of every done artifact (folded: an artifact made invalid since is not
        done). Loaded once, only on the rare path where it decides something."""
        if self._done is None:
            if not (self.out_dir / JOURNALS_DIR).is_dir():
                self._done = []
            else:
                state = JournalState.load(self.out_dir, remember=False)
                self._done = [
                    (str(rec.get("path", "")), rec.get("run")) for rec in state.done.values()
                ]
        return self._done


def _any_done(out_dir: Path, suffix: str) -> bool:
    """Does a journal of DIR hold a done record of a file ending with ``suffix``?

    For a refusal's words (is "holds thumbnails made with" true?) and for a re-pin
    (:func:`repinnable`: only where this is False), so on those paths alone: the journals'
    lines are scanned as bytes, stopping at the first match (a folder holding such files
    matches early), never folded. Every doubt answers True, the side that refuses: a
    record ``verify`` invalidated since still counts, as does a line that merely holds
    both strings, and a journal that cannot be read.
    """
    needle = f'{suffix}"'.encode()
    try:
        entries = [e for e in os.scandir(out_dir / JOURNALS_DIR) if e.name.endswith(".jsonl")]
    except OSError:
        return True  # cannot tell: the words of a folder holding files
    for entry in entries:
        try:
            with open(entry.path, "rb") as fh:
                for line in fh:
                    if needle in line and b'"done"' in line:
                        return True
        except OSError:
            return True
    return False


def _saved_configs(
    out_dir: Path, unread: list[str] | None = None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(run id, resolved configuration) of every ``runs/<run>/config.json`` of DIR.

    One listing of ``runs/``; a config that cannot be read is skipped (a run killed
    before saving it fetched nothing), its run folder's name added to ``unread`` when
    given. Read as :func:`~harvester.journal.run_config_of` reads it.
    """
    try:
        names, _others = run_folders(out_dir)  # (not a user's runs/notes)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        try:
            data = json.loads((out_dir / RUNS_DIR / name / "config.json").read_bytes())
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict):
            if unread is not None:
                unread.append(name)
            continue
        config = run_config_of(data)
        run = data.get("run") if isinstance(data.get("run"), str) else name
        yield str(run), config


# --------------------------------------------------------------------------- label keys
LABEL_KEYS_FILE = "label_keys.json"
"""``DIR/label_keys.json``: the label keys given last to ``harvester index`` (see below)."""

#: A record is a few hundred bytes; anything longer is not one (read no more than this).
_RECORD_LIMIT = 1 << 20

#: Where a damaged record is said: shown under --quiet too, like a misspelt key.
_problems = logging.getLogger(PROBLEMS_LOGGER)


@dataclass(frozen=True)
class LabelKeysRecord:
    """What ``DIR/label_keys.json`` says.

    ``keys``: the keys given last (``()``: dropped with ``--no-label-key``); ``at``: when
    (``time.time()`` of the host that wrote it, for people reading it); ``by``: the
    command; ``runs``: the runs DIR had saved a configuration for when it was written (the
    names under ``runs/``), which say which runs it came after (:meth:`after_run`); None
    in a record of an earlier version, which kept none. Nothing else is kept: no URL,
    header or cookie, so the file is safe to share with DIR.
    """

    keys: tuple[str, ...]
    at: float
    by: str
    runs: frozenset[str] | None = None

    def after_run(self, run: str, order: float) -> bool:
        """Whether this record was made after run ``run`` (whose place in DIR's order of
        runs is ``order``: :func:`harvester.journal.run_orders`) began: its keys then win
        over the run's.

        Told by the runs the record saw (a run saves its configuration as it starts,
        before its first file), never by clocks: ``at`` is the clock of the host that
        wrote the record (a login node's, for ``harvester index``) and ``started`` that of
        the host the run ran on (a compute node's). Compared, a node whose clock ran a
        minute ahead made a run that started before ``harvester index --label-key B``
        "newer" than it, so the next index took the run's keys and not B; and one whose
        clock ran behind made a run started after the record "older", losing its keys.
        A record that kept no runs (an older version's) is compared by time, as then, with
        the run's ``order``, not its ``started``: a run's store opens after such a record's
        ``at`` (:func:`old_label_keys_time`), so a run started after it is ordered after it
        whatever the clocks, as :func:`remembered_label_keys` orders the runs themselves.
        """
        if self.runs is None:
            return self.at >= order
        return sanitize_component(run) in self.runs


class DamagedLabelKeysError(Exception):
    """``DIR/label_keys.json`` is there but cannot be used; ``str()`` is one line naming it."""


def old_label_keys_time(out_dir: Path) -> float | None:
    """The ``at`` of DIR's ``label_keys.json`` where it kept no runs (written by 0.1.16 or
    before: :meth:`LabelKeysRecord.after_run` compares it with runs by time); None for
    none, a damaged one, or one that kept its runs (those say which runs it came after).

    Why: a run's ``order`` starts above it, as above every run DIR held, so a run
    started after the record comes after it even where the record's host (a login
    node's, for ``harvester index``) had a clock ahead of the run's."""
    try:
        record = read_label_keys_record(out_dir)
    except DamagedLabelKeysError:
        return None
    return record.at if record is not None and record.runs is None else None


def label_keys_path(out_dir: Path) -> Path:
    """``DIR/label_keys.json``."""
    return Path(out_dir) / LABEL_KEYS_FILE


def read_label_keys_record(out_dir: Path) -> LabelKeysRecord | None:
    """The label keys DIR remembers; None when nothing was recorded (no file).

    Raises :class:`DamagedLabelKeysError` for a file that cannot be read or is not a
    record (cut short by hand, edited into junk, a folder in its place): one line naming
    the file and what is wrong, never a traceback.
    """
    path = label_keys_path(out_dir)
    obj = read_json_record(path, _RECORD_LIMIT, DamagedLabelKeysError)
    if obj is None:
        return None
    keys, at = obj.get("label_keys"), record_time(obj)
    if (
        not isinstance(keys, list)
        or not all(isinstance(key, str) and key.strip() for key in keys)
        or at is None
    ):
        raise DamagedLabelKeysError(
            f"{path} is damaged (not an object with a list of label_keys and a time 'at')"
        )
    by, runs = obj.get("by"), obj.get("runs")
    if runs is not None and (
        not isinstance(runs, list) or not all(isinstance(run, str) for run in runs)
    ):
        raise DamagedLabelKeysError(f"{path} is damaged (its 'runs' is not a list of run ids)")
    return LabelKeysRecord(
        tuple(keys),
        at,
        by if isinstance(by, str) else "",
        None if runs is None else frozenset(runs),
    )


def keep_unread_record(path: Path, *, say: bool = True) -> Path | None:
    """Keep ``path``, a record of DIR that harvester cannot read (``split.json``,
    ``label_keys.json``, ``label_ids.json``: damaged, or a file of the user's own by that
    name), as ``<stem>.edited-<UTC time><suffix>`` beside it, with one warning (``say``
    False: the caller's own warning names the copy), before harvester writes its record
    there; the copy. Nothing for no file (or a folder in its place). Raises OSError.

    Why: such a file was only warned of as damaged, and the next ``--split`` or
    ``--label-key`` replaced it, the user's own ``split.json`` (their split, by image)
    lost without a word, where an ``index.csv`` of theirs is kept
    (:func:`harvester.index.write_table`).
    """
    from harvester.index import keep_beside

    if not path.is_file():
        return None
    kept = keep_beside(path, "edited")
    if kept is not None and say:
        _problems.warning(
            "%s is not a record harvester can read (damaged, or a file of your own): kept it "
            "as %s; harvester keeps its own %s there (keep your own files under other names)",
            path,
            kept,
            path.name,
        )
    return kept


def read_json_record(
    path: Path, limit: int, damaged: Callable[[str], Exception]
) -> dict[str, Any] | None:
    """A small JSON object a command keeps in DIR (``label_keys.json``, ``label_ids.json``);
    None when there is no file. Raises ``damaged(message)`` for one that cannot be read,
    is over ``limit`` bytes or is not JSON (cut short by hand, edited into junk, a folder
    in its place): one line naming the file and what is wrong, never a traceback. A JSON
    value that is not an object is returned as ``{}``, for the caller to call damaged."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise damaged(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > limit:
        raise damaged(f"{path} is damaged (over {limit} bytes)")
    try:
        obj = json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        raise damaged(f"{path} is damaged (not JSON, {len(data)} bytes)") from None
    except RecursionError:  # '[[[[...': within the limit, deeper than the parser goes
        raise damaged(f"{path} is damaged (JSON nested too deep)") from None
    return obj if isinstance(obj, dict) else {}


def record_time(record: Mapping[str, Any], key: str = "at") -> float | None:
    """A record's ``at`` (Unix time; or ``key``) as a float; None when it is not a finite number."""
    at = record.get(key)
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        return None
    return float(at)


#: The key of a record (``split.json``, ``label_ids.json``) made by a task of a job array:
#: when its script was written (:func:`made_after_script`).
SCRIPT_KEY = "script_written"


def made_after_script(record: Mapping[str, Any], written: float) -> bool:
    """Whether a record of DIR (``split.json``, ``label_ids.json``) was made after a job
    array's script written at ``written`` (:func:`harvester.slurm.script_written`), so that
    the script's tasks keep it rather than record their own flags over it.

    A record made by such a task carries its own script's time (:data:`SCRIPT_KEY`), and the
    two script times are compared: both are the clock of the machine ``harvester slurm``
    ran on, where the record's ``at`` is that of the node the task ran on. Compared with
    ``at``, a node whose clock ran a minute ahead made its record "after" a script written
    in that minute, and the new script's tasks kept the old split (the user's later
    choice, lost with a warning); and an old array's task that only started after a new
    script was written kept the new script's tasks from recording theirs. Any other record
    (``harvester index``, a harvest not in an array) counts by its ``at``.
    """
    script = record_time(record, SCRIPT_KEY)
    if script is not None:
        return script > written
    return (record_time(record) or 0.0) > written


#: The most :func:`recorded_by` reads of a record: ``label_ids.json``'s own limit, the
#: largest of DIR's records (a pin of many labels).
_KEPT_RECORD_LIMIT = 64 << 20


def utc_text(when: float) -> str:
    """``2026-11-27T20:20:54Z``: a Unix time as DIR's records write it (their ``at_utc``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def recorded_by(path: Path) -> str:
    """``by harvester index at 2026-11-27T20:20:54Z`` (a job array task's record: ``by a
    task of a script written at ...``): who made the record at ``path`` (``split.json``,
    ``label_ids.json``) and when, for a task's warning that it kept it; "" when that cannot
    be read. Why: the warning guessed "by harvester index, or a newer script's task" where
    the record says which, and when."""
    try:
        record = read_json_record(path, _KEPT_RECORD_LIMIT, ValueError) or {}
    except ValueError:
        return ""
    script, at, by = record_time(record, SCRIPT_KEY), record_time(record), record.get("by")
    if script is not None:
        who = f"by a task of a script written at {utc_text(script)}"
    elif isinstance(by, str) and by.isprintable() and 0 < len(by) <= 40:
        who = f"by {by}"
    else:
        who = ""
    return " ".join(part for part in (who, f"at {utc_text(at)}" if at is not None else "") if part)


def remember_label_keys(
    out_dir: Path, keys: Sequence[str], *, by: str, stop: threading.Event | None = None
) -> LabelKeysRecord:
    """Record ``keys`` (``()``: no label columns) as DIR's label keys, replacing any record.

    Why: ``harvester index --label-key`` used to make a labelled index for that one write;
    the next harvest or ``harvester index`` without keys wrote a plain one and removed
    ``labels.csv``. Written atomically (a temp file beside it, made durable, renamed, as
    index.csv is), so processes sharing DIR (shards, an index job) read the old record or
    the new one, never half of one; under DIR's index lock, as :func:`carry_label_keys`
    reads and writes it. Always written, even with the same keys: its time is
    what makes it newer than the runs that came before it (:func:`remembered_label_keys`).
    ``stop``: see :func:`_index_lock`.
    Raises :class:`~harvester.errors.StorageError` (one line) when DIR cannot be written.
    """
    with _index_lock(out_dir, stop):
        return _write_label_keys(out_dir, keys, by=by)


@contextlib.contextmanager
def _index_lock(out_dir: Path, stop: threading.Event | None = None) -> Iterator[None]:
    """DIR's index lock, as ``split.json`` and ``label_ids.json`` are written under it; a
    lock file that cannot be made is a :class:`~harvester.errors.StorageError`. ``stop``:
    set when the caller is stopping (a harvest's Ctrl-C): the wait for another writer's
    index lock is then given up, the block not run
    (:class:`~harvester.runlock.LockWaitStopped`)."""
    from harvester.index import INDEX_LOCK, INDEX_LOCK_WAIT
    from harvester.runlock import folder_lock
    from harvester.store import storage_error

    try:
        with folder_lock(
            Path(out_dir), INDEX_LOCK, wait=INDEX_LOCK_WAIT, denied_ok=True, stop=stop
        ):
            yield
    except OSError as exc:  # (the block's own writes raise StorageError, said as they are)
        raise storage_error(exc, str(label_keys_path(out_dir))) from exc


def _write_label_keys(out_dir: Path, keys: Sequence[str], *, by: str) -> LabelKeysRecord:
    """:func:`remember_label_keys`'s write (the caller holds the index lock), with the runs
    DIR holds now (:meth:`LabelKeysRecord.after_run`); a file there that is no record is
    kept first (:func:`keep_unread_record`)."""
    from harvester.store import atomic_write_bytes, storage_error

    path = label_keys_path(out_dir)
    try:
        read_label_keys_record(out_dir)
    except DamagedLabelKeysError:
        try:
            keep_unread_record(path)
        except OSError as exc:
            raise storage_error(exc, str(path)) from exc
    now = time.time()
    runs = _saved_runs(out_dir)
    record = LabelKeysRecord(tuple(keys), now, by, frozenset(runs))
    body = {
        "label_keys": list(record.keys),
        "at": now,
        "at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "by": by,
        "runs": runs,
    }
    data = (json.dumps(body, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    try:
        atomic_write_bytes(Path(out_dir), path, data)
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc
    return record


def _saved_runs(out_dir: Path) -> list[str]:
    """The names under DIR's ``runs/`` (one folder per run that saved its configuration),
    sorted; none when there is no such folder, or it cannot be listed (then no run's saved
    keys can be read either: a run's keys count only once they can)."""
    try:
        return run_folders(Path(out_dir))[0]  # (a user's runs/notes is no run)
    except OSError:
        return []


def carry_label_keys(
    out_dir: Path,
    keys: Sequence[str],
    *,
    by: str,
    run: str,
    order: float,
    stop: threading.Event | None = None,
) -> bool:
    """Record a run's ``keys`` where DIR's record, older than the run, holds others; return
    whether it did. ``run``: the run's id; ``order``: its place in DIR's order of runs (its
    journaled "run" record's ``order``), for a record that kept no runs
    (:meth:`LabelKeysRecord.after_run`).

    For a harvest given ``--label-key`` that is about to remove its saved configuration
    (a rerun that recorded nothing): that configuration is what says its keys were given
    after the record, so without it a record of other keys, written by ``harvester
    index`` before the run, would win. Writes nothing where there is no record (the runs'
    configurations decide), where it holds these keys already (an hourly rerun rewrites
    nothing), or where it was made after the run started: ``harvester index --label-key``
    given while the run went on was given last, and :func:`remembered_label_keys` lets such
    a record win over the run's configuration too. Read and written under DIR's index lock,
    as :func:`remember_label_keys` writes: a record made between the read and the write
    was replaced. A damaged record is replaced. ``stop``: see :func:`_index_lock`.
    """
    with _index_lock(out_dir, stop):
        try:
            record = read_label_keys_record(out_dir)
        except DamagedLabelKeysError:
            record = LabelKeysRecord((), 0.0, "")
        if record is None or record.keys == tuple(keys) or record.after_run(run, order):
            return False
        _write_label_keys(out_dir, keys, by=by)
        return True


def remembered_label_keys(
    out_dir: Path,
    state: JournalState,
    *,
    warn: bool = True,
    besides: str | None = None,
    saved: SavedConfigs | None = None,
    no_image_has: Collection[str] = (),
) -> tuple[str, ...]:
    """The label keys for an index write given none: those given last (``()``: none).

    Given last means: the keys of the newest run of DIR that was given any (its saved
    configuration, as before ``label_keys.json`` existed) among the runs that started
    after ``label_keys.json`` was written (:meth:`LabelKeysRecord.after_run`: told by the
    runs the record saw, not by clocks), else the record's keys (possibly none: a
    ``--no-label-key``). So ``harvester index --label-key A`` holds until a later
    ``--label-key`` replaces it, whether given to ``harvester index`` or to a harvest, and
    a harvest resumed without keys keeps A. Runs are ordered as
    :func:`harvester.journal.runs_newest_last` orders them, and only the configurations of
    runs newer than the record are read.

    A damaged record is said in one warning line (``warn=False``: by the caller, as
    ``status`` notes it), and the keys are then those of the newest run that set any (what
    they were before such records existed). ``besides``: a run whose keys do not count (a
    harvest asking what the keys were before it). ``saved``: the configs a caller read already.
    ``no_image_has``: keys known to be on no image (typos): a run given only such keys does
    not count either. Why: a harvest given a typo is stopped (Ctrl-C) before it records the
    keys kept instead (:func:`record_label_keys_but_absent`); its rerun, asking what they
    were, took that run's typo, and recorded it as the keys kept.
    """
    from harvester.journal import run_orders, runs_newest_last

    saved = saved if saved is not None else SavedConfigs()
    try:
        record = read_label_keys_record(out_dir)
    except DamagedLabelKeysError as exc:
        if warn:
            _problems.warning("%s", damaged_label_keys_note(exc, out_dir))
        record = None
    orders = run_orders(state)
    for run in reversed(runs_newest_last(state)):
        if run == besides:
            continue
        if record is not None and record.after_run(run, orders.get(run, 0.0)):
            if record.runs is None:
                break  # (by order: every run before this one is older too)
            continue
        keys = _saved_label_keys(out_dir, run, saved)
        if keys and not set(keys) <= set(no_image_has):
            return keys
    return record.keys if record is not None else ()


def folder_has_label_keys(out_dir: Path) -> bool:
    """Could an index write of DIR given no keys have label columns (keys recorded in
    ``label_keys.json``, or saved by a run)? For ``--label-ids-from`` given without keys.

    Read without the journals (a record, then each run's saved configuration): a record of
    no keys older than a run given some still says True, as that run's keys may hold.
    """
    try:
        record = read_label_keys_record(out_dir)
    except DamagedLabelKeysError:
        record = None
    if record is not None and record.keys:
        return True
    return any(config.get("label_keys") for _run, config in _saved_configs(out_dir))


def record_label_keys_but_absent(
    out_dir: Path,
    given: Sequence[str],
    absent: Sequence[str],
    kept: tuple[str, ...],
    *,
    by: str,
    stop: threading.Event | None = None,
) -> str:
    """Record the ``given`` keys that some image has; return the warning naming the others.

    For a harvest given ``--label-key``: its saved configuration names the keys, and later
    index writes given none take them from it (:func:`remembered_label_keys`), so a typo
    (``absent``: no image has it) made every later index's labels empty, where ``harvester
    index`` records no such key. Recording the valid keys, or, when none is, the keys
    later writes kept before (``kept``), in a record newer than the run, makes harvest
    behave as ``harvester index`` does. Empty, and nothing written, when no key is absent.
    ``stop``: see :func:`_index_lock`.
    """
    wrong = [key for key in given if key in absent]
    if not wrong:
        return ""
    valid = tuple(key for key in given if key not in absent)
    remember_label_keys(out_dir, valid or kept, by=by, stop=stop)
    return absent_label_keys_line(label_keys_path(out_dir), wrong, None if valid else kept)


def absent_label_keys_line(record: Path, wrong: Sequence[str], kept: tuple[str, ...] | None) -> str:
    """The warning for given label keys that no image has, so not recorded in ``record``.

    ``kept``: None when other given keys were recorded (the wrong ones were dropped), else
    the keys later index writes keep (``()``: no label columns).
    """
    names = f"{agree(len(wrong), 'label key', 'label keys')} " + ", ".join(
        quoted(key) for key in wrong
    )
    if kept is None:
        return f"{names} dropped, not recorded in {record}, as no image has them"
    now = "no label columns"
    if kept:
        now = "the keys recorded before, " + ", ".join(quoted(key) for key in kept)
    return f"{names} not recorded in {record}, as no image has them: later index writes keep {now}"


def damaged_label_keys_note(exc: DamagedLabelKeysError, out_dir: Path) -> str:
    """What a damaged ``label_keys.json`` means for the next index write, in one line."""
    return (
        f"{exc}: the label keys given last to `harvester index` are unknown, so an index "
        "takes those of the newest run that set any; to record them again: harvester "
        f"index {out_dir} --label-key KEY (or --no-label-key)"
    )


def _saved_label_keys(out_dir: Path, run: str, saved: SavedConfigs) -> tuple[str, ...]:
    """The ``label_keys`` run ``run`` saved in its configuration (none, or no config: ``()``)."""
    data = saved.read(run_config_path(Path(out_dir), run))
    if not isinstance(data, dict):
        return ()
    keys = run_config_of(data).get("label_keys")
    if isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys):
        return tuple(keys)
    return ()

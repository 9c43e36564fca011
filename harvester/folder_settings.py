"""Settings a folder keeps for good: those that shape an artifact's bytes but not its name.

``{id}.thumbnail.jpg`` does not say its size. A rerun of a 96-px folder with
``--thumbnail-size 128`` used to skip the 96-px files as done and write the new
images at 128, so one folder silently held two sizes that nothing on disk could
tell apart. So DIR's marker (``harvest.json``) records, under ``"settings"``, the
value of each such setting when a run that fetches the kind it shapes opens DIR (before
its first file: one that ends before any still leaves the value, and a refusal then
says that none is done), and a later run with another value for a kind it fetches is
refused before any request or write.

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
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester.errors import UsageError
from harvester.journal import JournalState, run_config_of
from harvester.layout import JOURNALS_DIR, RUNS_DIR

__all__ = [
    "PINNED",
    "SETTINGS_KEY",
    "Pinned",
    "recorded_settings",
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
    return UsageError(
        f"{held}; this run asks for {pin.spelled(wanted)}"
        " (the file names do not say it, so one folder keeps one value)",
        hint=f"use another --out, or {pin.spelled(folder[0])}"
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
                f"again: delete their files, run `harvester verify {out_dir}`, then harvest again"
            )
        add[name] = value
    return add, warnings


class _History:
    """What earlier runs of DIR did: their saved configurations, read once, and the done
    records' runs, read only when an earlier run used another value than this one."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.configs = dict(_saved_configs(out_dir))
        self._done: list[tuple[str, str | None]] | None = None

    def values_made(self, pin: Pinned, wanted: Any) -> Counter[Any]:
        """How many of DIR's done artifacts shaped by ``pin`` each value made.

        Empty when no artifact of the kind is done, or when every earlier run that
        fetched the kind used ``wanted`` (what it made, it made with that). A done
        artifact whose run saved no configuration counts as made with the setting's
        default (a configuration was saved before any fetch since 0.1.0; this only
        covers hand-made journals).
        """
        runs = {run: pin.value_of(cfg) for run, cfg in self.configs.items() if pin.applies(cfg)}
        if all(value == wanted for value in runs.values()):
            return Counter()
        made: Counter[Any] = Counter()
        for path, run in self._done_paths():
            if path.endswith(pin.suffix):
                cfg = self.configs.get(run) if run is not None else None
                made[pin.value_of(cfg) if cfg is not None else pin.default] += 1
        return made

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

    For a refusal's words only (is "holds thumbnails made with" true?), so on that path
    alone: the journals' lines are scanned as bytes, stopping at the first match (a folder
    holding such files matches early), never folded. A record ``verify`` invalidated since
    still counts: the refusal then says "holds", as before.
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


def _saved_configs(out_dir: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(run id, resolved configuration) of every ``runs/<run>/config.json`` of DIR.

    One listing of ``runs/``; a config that cannot be read is skipped (a run killed
    before saving it fetched nothing). Read as :func:`~harvester.journal.run_config_of` reads it.
    """
    try:
        entries = list(os.scandir(out_dir / RUNS_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        try:
            data = json.loads(Path(entry.path, "config.json").read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        config = run_config_of(data)
        run = data.get("run") if isinstance(data.get("run"), str) else entry.name
        yield str(run), config

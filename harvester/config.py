"""The resolved settings of one harvest run, loaded once and validated once.

A :class:`HarvestConfig` is a frozen value: the CLI builds it from a TOML file
(``tomllib``) overlaid with command-line flags, and every other module only
reads it. Validation happens on construction so that a bad value is a
:class:`~harvester.errors.ConfigError` with a one-line message before any
request is sent. Unknown keys name the nearest valid key (``difflib``), because
a typo'd key silently ignored is the worst kind of configuration bug.

Secrets (``headers``, ``cookies``) live here but never leave it: :meth:`HarvestConfig.to_public`
is what gets saved in ``DIR/runs/<run-id>/config.json``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from harvester.client import DEFAULT_BURST as DEFAULT_BURST
from harvester.client import DEFAULT_CONCURRENCY as DEFAULT_CONCURRENCY
from harvester.client import DEFAULT_MIN_SPEED as DEFAULT_MIN_SPEED
from harvester.client import DEFAULT_RATE as DEFAULT_RATE
from harvester.client import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from harvester.client import check_header_fields, is_http_url
from harvester.errors import (
    ConfigError,
    UsageError,
    base_url_holds_secret,
    cut_user_shown,
    redact_base_url,
    redact_loose_url,
    redact_url,
    remember_secrets,
    url_holds_secret,
    url_secret_values,
)
from harvester.models import DEFAULT_ARTIFACTS, Artifact
from harvester.outage import DEFAULT_OUTAGE_WAIT as DEFAULT_OUTAGE_WAIT
from harvester.outage import parse_duration
from harvester.retry import DEFAULT_MAX_RETRIES as DEFAULT_MAX_RETRIES
from harvester.selection import (
    Condition,
    check_fraction,
    check_sample,
    check_sample_per,
    check_seed,
    names_annotations,
    parse_label_keys,
    parse_where,
    per_annotation,
    per_by_id_column,
    per_column,
    unknown_by_id,
)
from harvester.shell_words import shell_join, shell_quote
from harvester.target_text import (
    KINDS,
    MAX_ID,
    MAX_ID_DIGITS,
    MAX_RANGE,
    OVER_MAX_ID,
    TargetTextError,
    a_kind,
    compact_ids,
    id_range,
    not_an_id,
    typed_id,
    typed_like,
    typed_well,
)
from harvester.urls import DEFAULT_THUMBNAIL_SIZE as DEFAULT_THUMBNAIL_SIZE
from harvester.window import DEFAULT_WINDOW as DEFAULT_WINDOW
from harvester.window import WINDOW_MODES as WINDOWS

if TYPE_CHECKING:
    from harvester.forgotten import ForgottenKey, ForgottenSet
    from harvester.journal import SavedConfigs
    from harvester.shard import WorkLeft
    from harvester.splits import SplitSpec

DEFAULT_BASE_URL = "https://idr.openmicroscopy.org"
DEFAULT_RENDER_FORMAT = "jpeg"
DEFAULT_RENDER_QUALITY = 0.9
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_WALK_CONCURRENCY = 4
DEFAULT_GIVE_UP_AFTER = 20

RENDER_FORMATS = ("jpeg", "png")
#: Values that never reach disk, logs or error messages.
SECRET_KEYS = ("headers", "cookies")
REDACTED = "<redacted>"


def _is_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` is true of ``²`` too, which ``int()`` refuses
    (an internal error instead of the one-line "not a numeric id")."""
    return text.isascii() and text.isdigit()


def _refuse_link(key: str, item: object) -> None:
    """A link given to a target key of a config file: a ConfigError naming the ids it
    shows, and the link without its query (it may hold a session key).

    Why: the target flags read links (:func:`harvester.cli.harvest.apply_target_links`,
    the link's server becoming the base URL), the file does not; ``images = [LINK]`` was
    "not a numeric id" with the whole link, key and all, and ``screens = [LINK]`` a name
    looked up on the server, said back as not found."""
    from harvester.target_text import KeyedLinkError, is_link, link_shown, parse_link, with_login

    if not (isinstance(item, str) and is_link(item)):
        return
    kind = next((k for k, (each, _flag) in KINDS.items() if each == key), "image")
    try:
        link = parse_link(item, kind)
    except TargetTextError as exc:
        # (a page of no target, a study's or a mapr page: the flag refuses it too, so the
        # refusal's own words say what to give, not "a link is taken by --screen LINK")
        # (a study's or a mapr page's refusal in the file's words: screens = [...],
        # where = [...], not --screen, --where)
        said = exc.in_config if isinstance(exc, KeyedLinkError) else str(exc)
        shown = repr(link_shown(item))
        # ("the link 'X' shows no target" as "it shows no target", not "the link it shows")
        named = f"the link {shown} " if said.startswith(f"the link {shown} ") else f"{shown} "
        raise ConfigError(
            f"{key}: {shown} is a link; a config file takes ids",
            hint=said.replace(named, "it ", 1),
            key=key,
        ) from None
    else:
        ids = ", ".join(map(str, link.ids_of(kind)))
        base_url = with_login(item, link.server)  # (its login REDACTED, said so)
        shown = redact_base_url(base_url)
        login = ", with the link's login for REDACTED" if shown != base_url else ""
        shows = f": {key} = [{ids}], base_url = {shown!r}{login}" if ids else ""
    raise ConfigError(
        f"{key}: {link_shown(item)!r} is a link; a config file takes ids",
        hint=f"give the ids it shows{shows} (a link is taken by {KINDS[kind][1]} LINK)",
        key=key,
    )


#: The hint of a config file's target that is no id (:func:`~harvester.target_text.not_an_id`).
ID_HINT = "ids are positive integers, e.g. 2302"


def _as_int_list(key: str, value: object) -> tuple[int, ...]:
    """Ids as a tuple of positive ints; a single int or numeric string is accepted, and
    the forms a user pastes as strings (:func:`_typed_ids`): ``"Image:123"``, ``"100-120"``."""
    items = value if isinstance(value, list | tuple) else [value]
    out: list[int] = []
    for item in items:
        _refuse_link(key, item)
        if isinstance(item, int) and not isinstance(item, bool):
            number = item
        elif (
            isinstance(item, str)
            and _is_number(item.strip())
            and len(item.strip()) <= MAX_ID_DIGITS
        ):
            number = int(item.strip())  # (int() refuses over 4,300 digits: no id has that many)
        elif isinstance(item, str) and (typed := _typed_ids(key, item.strip())) is not None:
            out.extend(typed)
            continue
        else:
            _refuse_misspelt_range(key, item)
            raise ConfigError(f"{key}: {not_an_id(item)}", hint=ID_HINT)
        if number <= 0:
            raise ConfigError(f"{key}: {number} is not a valid id (ids are positive)")
        if number > MAX_ID:
            raise ConfigError(f"{key}: {number} is not a valid id ({OVER_MAX_ID})")
        out.append(number)
    return tuple(out)


def _refuse_misspelt_range(key: str, item: object) -> None:
    """A range or list of ids written otherwise than the file takes them (``"1..5"``,
    ``"[1,2]"``): a ConfigError with the spelling to give, as the flags say it
    (:func:`harvester.cli.harvest._range_or_list_misspelt`). Why: ``images = ["1..5"]``
    was "not a numeric id" after ``--image 1..5`` had come to name ``1-5``. A range naming
    no id (``"1..0"``), a bad item of a comma list in one string (``"1,5..3"``: that item
    named alone) and a string of several ids (``"1,5"``: the list to write) likewise."""
    from harvester.target_text import (
        bracketed_ids,
        comma_ids,
        comma_item_refusal,
        marked_range_refusal,
        positive_id,
        range_respelt,
    )

    if not isinstance(item, str):
        return
    ids_only = key not in NAMED_TARGETS  # (screens and projects take names: "2019..2020")
    # A range that names no id (`"1..0"`, `"5..3"`), alone or in a comma list (`"1,5..3"`,
    # the item named alone): worded as the flags and an ids file's line word it.
    refusal = marked_range_refusal(item.strip(), None)
    if ids_only and refusal is not None:
        raise ConfigError(f"{key}: {refusal}", hint=_range_hint(key), key=key)
    if ids_only and (of_list := comma_item_refusal(item, None)) is not None:
        hint = _range_hint(key) if of_list.a_range else ID_HINT
        raise ConfigError(f"{key}: {of_list.said}", hint=hint, key=key)
    if ids_only and (listed := comma_ids(item)) is not None:
        written = ", ".join(each if positive_id(each) else f'"{each}"' for each in listed)
        raise ConfigError(
            f"{key}: {item!r} is several ids in one string",
            hint=f"give them as a list, {key} = [{written}]",
            key=key,
        )
    if ids_only and (respelt := range_respelt(item)) is not None:
        raise ConfigError(
            f"{key}: {item!r} is not a range harvester reads",
            hint=f'give it as FIRST-LAST, {key} = ["{respelt}"], or as a list of ids',
            key=key,
        )
    if (inner := bracketed_ids(item)) is not None and item.strip()[:1] in "[(":
        raise ConfigError(
            f"{key}: {item!r}: brackets are not part of an id",
            hint=f"give the ids as a list, {key} = [{', '.join(inner)}]",
            key=key,
        )


def _typed_ids(key: str, text: str) -> Sequence[int] | None:
    """A target key's string item written as the target flags take it: a typed id of the
    key's kind (``"Image:123"``, as OMERO.downloader writes it), or, for the keys of ids
    alone (not ``screens``/``projects``, where ``"2021-03"`` is a name), a range
    (``"100-120"``, at most :data:`~harvester.target_text.MAX_RANGE` ids). None: neither
    (the caller says what it is not); a typed id of another kind or a bad range is a
    ConfigError naming the key to give it to."""
    kind = next(k for k, (each, _flag) in KINDS.items() if each == key)
    try:
        well = typed_well(text)
    except TargetTextError as exc:
        raise ConfigError(f"{key}: {exc}", hint=ID_HINT) from None
    if well is not None:
        # (it was "not a numeric id", as ``--plate Well:ID`` was before it named the way)
        raise ConfigError(
            f"{key}: {text!r} is a well, not a target harvester takes: a well's images are "
            "its plate's, selected by where",
            hint=f'plates = [PLATE] and where = ["well_id={well}"]',
        )
    if typed_like(text):
        typed = typed_id(text)
        if typed is None:  # ("Screen:0" is no name either)
            return None
        if typed[0] != kind:
            other = KINDS[typed[0]][0]
            raise ConfigError(
                f"{key}: {text!r} is {a_kind(typed[0])}, not {a_kind(kind)}",
                hint=f"give it as {other} = [{typed[1]}]",
            )
        return [typed[1]]
    if key in NAMED_TARGETS:
        return None
    try:
        return id_range(text, None)
    except TargetTextError as exc:
        raise ConfigError(f"{key}: {exc}", hint=_range_hint(key)) from None


def _range_hint(key: str) -> str:
    """The hint of a target key's range refused (backwards, empty, too long)."""
    more = "; more images go in an ids file (ids_from)" if key == "images" else ""
    return f"a range is FIRST-LAST, at most {MAX_RANGE:,} ids{more}"


#: Targets that may be named as IDR shows them (``--screen idr0056``): kind -> names field.
NAMED_TARGETS = {"screens": "screen_names", "projects": "project_names"}


def name_key(name: str) -> str:
    """A screen or project name as names compare: blanks and a trailing ``-`` or ``/``
    dropped, case folded (``IDR0056/`` is ``idr0056``)."""
    return name.strip().rstrip("-/").casefold()


def _ids_and_names(key: str, value: object) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Screen or project targets: the numeric ids, and the names (any text not all digits).

    A name is looked up on the server once per run (:mod:`harvester.names`), which turns it
    into ids; ``2302`` and ``"2302"`` are ids, ``"idr0056"`` a name. Each name is kept once,
    in the order given, without surrounding blanks.
    """
    items = value if isinstance(value, list | tuple) else [value]
    ids: list[int] = []
    names: list[str] = []
    for item in items:
        _refuse_link(key, item)
        if isinstance(item, str) and not _is_number(item.strip()):
            name = item.strip()
            if (typed := _typed_ids(key, name)) is not None:  # "Screen:2302" is no name
                ids.extend(typed)
                continue
            if typed_like(name):  # ("Screen:0", "Screen:x": no name either)
                raise ConfigError(f"{key}: {not_an_id(name)}", hint=ID_HINT)
            if not name:
                raise ConfigError(
                    f"{key}: an empty name", hint="give an id (2302) or a name (idr0056)"
                )
            if name not in names:
                names.append(name)
        else:
            ids.extend(_as_int_list(key, [item]))
    return tuple(ids), tuple(names)


def parse_artifacts(value: object) -> tuple[Artifact, ...]:
    """``"thumbnail,render"`` or a list of names -> artifacts in a canonical order."""
    # Case-insensitive (`ROIS`, `Thumbnail`): the kinds are lower case words, never two alike.
    if isinstance(value, str):
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        names = [str(part).strip().lower() for part in value]
    else:
        raise ConfigError(f"artifacts: expected a list of names, got {value!r}")
    valid = [a.value for a in Artifact]
    chosen: set[Artifact] = set()
    for name in names:
        if name == "all":
            chosen.update(Artifact)
            continue
        if name not in valid:
            raise _unknown_artifact(name, valid, names)
        chosen.add(Artifact(name))
    if not chosen:
        raise ConfigError("artifacts: choose at least one", hint=f"valid: {', '.join(valid)}")
    return tuple(a for a in Artifact if a in chosen)


#: Words a user may give for a kind (a format, a synonym), with the kind meant and what it
#: is: ``tiff`` is asked for by someone who wants the n-D OME-TIFF, which is ``stack``.
_STACK = "'stack' (every z, t and channel of an image as one OME-TIFF)"
_RENDER = "'render' (the image's default plane, rendered as JPEG or PNG)"
_ARTIFACT_WORDS = {
    **dict.fromkeys(
        ("tif", "tiff", "ome-tiff", "ome.tiff", "ometiff", "ome-tif", "ome.tif", "planes"), _STACK
    ),
    **dict.fromkeys(("jpeg", "jpg", "png", "plane", "image", "images"), _RENDER),
    **dict.fromkeys(
        ("json", "meta"),
        "'metadata' (the JSON API's record of each image) or 'imgdata' (the viewer's JSON: "
        "channels, windows, pixel sizes)",
    ),
    **dict.fromkeys(
        ("original", "originals", "raw", "files"),
        "'paths' (where each image's original files are, as a download list)",
    ),
}


def _several_kinds(name: str, valid: list[str]) -> list[str] | None:
    """The kinds of an artifacts item that is several (``thumbnail metadata``), else None."""
    parts = name.replace(";", " ").split()
    if len(parts) > 1 and all(part in valid or part == "all" for part in parts):
        return parts
    return None


def _unknown_artifact(name: str, valid: list[str], names: list[str]) -> ConfigError:
    """The refusal of ``name`` of the artifacts list ``names``: several kinds in one item
    (``thumbnail metadata``: the whole list to give, each such item split), a word for a
    kind (``tiff``: ``stack``), the nearest kind, or the valid ones.

    Why: ``--artifacts "thumbnail metadata"`` was told ``did you mean 'thumbnail'?``, which
    drops metadata, and ``--artifacts tiff`` got the list of kinds, none saying TIFF. The
    whole list: ``--artifacts "rois,thumbnail metadata"`` was told ``--artifacts
    thumbnail,metadata``, which dropped rois; a list the hint gives holds no other unknown
    item (that item's refusal comes first)."""
    import difflib  # only on this error path: not part of every start-up

    error = f"artifacts: unknown artifact {name!r}"
    if _several_kinds(name, valid) is not None:
        parts = [part for item in names for part in (_several_kinds(item, valid) or [item])]
        other = next((part for part in parts if part not in valid and part != "all"), None)
        if other is not None:
            return _unknown_artifact(other, valid, parts)
        listed = ", ".join(f'"{part}"' for part in parts)
        return ConfigError(
            f"artifacts: {name!r} is several kinds, not one",
            hint=f"give them as one comma list: --artifacts {','.join(parts)}",
            file_hint=f"give each as an item of the list: artifacts = [{listed}]",
        )
    if name in _ARTIFACT_WORDS:
        return ConfigError(error, hint=f"did you mean {_ARTIFACT_WORDS[name]}?")
    if name in ("zarr", "ome-zarr", "ome.zarr", "omezarr"):
        return ConfigError(
            error,
            hint="harvester writes no OME-Zarr: 'stack' is every z, t and channel of an image "
            "as one OME-TIFF (rendered 8-bit planes); 'paths' lists where its original files are",
        )
    near = difflib.get_close_matches(name, valid, n=1)
    return ConfigError(
        error, hint=f"did you mean {near[0]!r}?" if near else f"valid: {', '.join(valid)}"
    )


def parse_rate(value: object) -> float | None:
    """A request rate: positive number, or ``none``/``0``-free "unlimited" spelled ``none``."""
    if value is None:
        return None
    shown = value.strip() if isinstance(value, str) else value  # as the user wrote it
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", "unlimited", "off"):
            return None
        try:
            value = float(text)
        except ValueError:
            from harvester.text import without_unit

            number = without_unit(text, positive=True)
            hint = "use requests per second, or 'none'"
            if number is not None:  # (`--rate 10/s`: the rate alone)
                hint = f"give the requests per second alone, {number}, or 'none'"
            elif without_unit(text) is not None:  # (`--rate 0s`: 0 is refused too)
                hint = "give a positive number of requests per second alone, or 'none'"
            raise ConfigError(f"rate: {value!r} is not a number", hint=hint) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"rate: {value!r} is not a number")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0:
        raise ConfigError(
            f"rate: {shown} must be a positive number of requests per second",
            hint="use --rate none to lift the limit",
            file_hint='write rate = "none" to lift the limit',
        )
    return rate


#: Binary units (``du -h``'s, as the summary counts bytes): ``500M`` is 500 MiB.
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
#: (A pattern, compiled by ``re`` when a budget is given: most runs have none.)
_SIZE = r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGTP]?)(?:I?B|I)?"
_SIZE_HINT = "e.g. 500M, 20G, 1.5T (binary units: 1K = 1024 bytes) or plain bytes; none: no budget"


def parse_size(value: object) -> int | None:
    """``max_bytes``: a size in bytes (``500M``, ``20G``, ``1.5T``, ``1048576``; ``KiB``,
    ``MB`` spellings too, all binary), or None for ``none`` (no budget: what a resume is
    given to lift a saved one). Junk, zero and negatives are a :class:`ConfigError`
    naming the key (a budget of nothing would stop every run before its first file)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"max_bytes: {value!r} is not a size", hint=_SIZE_HINT, key="max_bytes")
    text = str(value).strip()
    if text.lower() in ("none", "off", "unlimited"):
        return None
    size = bytes_of(text)
    if size is None or not math.isfinite(size) or size < 1:
        said = f"{text!r} is not a size" if size is None else f"{text!r} must be at least 1 byte"
        raise ConfigError(f"max_bytes: {said}", hint=_SIZE_HINT, key="max_bytes")
    return int(size)


def bytes_of(text: str) -> float | None:
    """``text`` as a number of bytes (``500M``, ``1.5T``, ``1K``, ``2048``; ``KiB`` and
    ``MB`` spellings too, all binary), None where it is no size: ``--max-bytes``'s
    and ``--min-speed``'s reading of a size."""
    match = re.fullmatch(_SIZE, text.strip(), re.IGNORECASE)
    return float(match[1]) * _SIZE_UNITS[match[2].upper()] if match else None


#: A size given without a unit (bytes) below this is taken for a unit left out
#: (``--max-bytes 20`` for ``20G``): every file a harvest stores is larger (a thumbnail is
#: some KiB), so such a budget stops a run after its first files.
UNITLESS_BUDGET_WARNED = 1 << 10


def unitless_budget(value: object) -> int | None:
    """The budget ``value`` (``--max-bytes``'s text, a config file's ``max_bytes``) in
    bytes where it has no unit and is below :data:`UNITLESS_BUDGET_WARNED`, else None (a
    unit given, ``20B`` too: bytes said on purpose; a larger number; none; not a size)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", text):
        return None
    size = parse_size(text)  # (a number: a size, or a ConfigError for below 1 byte)
    return size if size is not None and size < UNITLESS_BUDGET_WARNED else None


def size_text(size: int) -> str:
    """``size`` as ``--max-bytes`` takes it, in the largest unit that holds it whole
    (``524288000`` -> ``500M``), so a printed command reads as typed."""
    for unit in ("P", "T", "G", "M", "K"):
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return str(size)


def parse_outage_wait(value: object) -> float:
    """``outage_wait`` in seconds (:func:`harvester.outage.parse_duration`), or a
    :class:`ConfigError` naming the key. One place for a flag's, a file's and a direct
    :class:`HarvestConfig`'s value (as :func:`parse_rate`), so they say the same hint."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(
            f"outage_wait: {exc}", hint=_duration_hint(value), key="outage_wait"
        ) from None


#: A duration whose last number has no unit, one smaller than the one before (``1h30``).
_UNIT_LEFT_OUT = re.compile(r"((?:\d+\s*[dhm]\s*)+?)(\d+)", re.IGNORECASE)
#: The unit a number after each unit means (``1h30``: minutes; ``2d4``: hours).
_NEXT_UNIT = {"d": "h", "h": "m", "m": "s"}


def _duration_hint(value: object) -> str:
    """``outage_wait``'s hint: the duration meant where the last unit was left out
    (``1h30``: ``did you mean 1h30m?``), else examples, several units among them.

    Why: ``1h30`` reads as an hour and a half, and was told "e.g. 30m, 2h, 90s, or 0",
    which named no way to say it (``1h30m`` is taken since 0.1.26)."""
    text = str(value).strip()
    match = _UNIT_LEFT_OUT.fullmatch(text)
    if match is not None:
        unit = _NEXT_UNIT[match[1].rstrip()[-1].lower()]
        return f"did you mean {text}{unit}?"
    return "e.g. 30m, 2h, 1h30m, 90s, or 0"


def parse_shard(value: object) -> tuple[int, int] | None:
    """``"K/N"`` (0-based K) -> ``(K, N)``; the rules and messages are :mod:`harvester.shard`'s."""
    if value is None:
        return None
    # (Here, not with this module: most runs are no shard, and every run's start-up imports
    # this module.)
    from harvester.shard import parse_shard as shard_spec

    try:
        shard = shard_spec(str(value).strip(), setting="shard")
    except UsageError as error:
        raise ConfigError(str(error), hint=error.hint, key="shard") from None
    return shard.k, shard.n


_INT_LIST_KEYS = ("screens", "projects", "plates", "datasets", "images")
_PATH_KEYS = ("ids_from", "out", "from_plan", "label_ids_from")


@dataclass(frozen=True)
class HarvestConfig:
    """Everything one run needs to know; see ``configs/default.toml`` for each key."""

    base_url: str = DEFAULT_BASE_URL
    screens: tuple[int, ...] = ()
    projects: tuple[int, ...] = ()
    plates: tuple[int, ...] = ()
    datasets: tuple[int, ...] = ()
    images: tuple[int, ...] = ()
    #: ``--screen NAME``/``--project NAME`` (not all digits): matched against the server's
    #: screen and project names once, after the server check, and replaced by their ids
    #: (:func:`harvester.names.resolve_target_names`); empty in a resolved configuration.
    #: Given as ``screens``/``projects`` (ids and names mixed), split here.
    screen_names: tuple[str, ...] = ()
    project_names: tuple[str, ...] = ()
    #: ``screens``/``projects`` -> the config file whose key gave them (absent: a flag, or a
    #: Python caller): a name that selects nothing is then named as the user wrote it,
    #: ``c.toml: screens 'idr900'``, not as a ``--screen`` they never typed. Set by
    #: :func:`resolve`; not a setting (no key, never saved).
    names_file: Mapping[str, Path] = field(default_factory=dict)
    ids_from: Path | None = None
    out: Path | None = None
    artifacts: tuple[Artifact, ...] = DEFAULT_ARTIFACTS
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    min_speed: float = DEFAULT_MIN_SPEED
    #: Seconds the run pauses while the server is down before it stops (exit 75), pauses
    #: less than 10 minutes apart counted together; 0: no pause, each request fails after
    #: its retries (:mod:`harvester.outage`).
    outage_wait: float = DEFAULT_OUTAGE_WAIT
    #: Bytes of files this run may store before it stops asking for images (exit 8, the
    #: rest pending: the same command continues, with a budget of its own); None: no budget.
    max_bytes: int | None = None
    thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE
    render_format: str = DEFAULT_RENDER_FORMAT
    render_quality: float = DEFAULT_RENDER_QUALITY
    window: str = DEFAULT_WINDOW
    max_plane: int | None = None
    dry_run: bool = False
    quiet: bool = False
    debug: bool = False
    shard: str | None = None
    from_plan: Path | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    follow_redirects: bool = False
    labels: bool = True
    #: Ask the labels of journaled images again (``--refresh-labels``), not only new ones'.
    refresh_labels: bool = False
    queue_size: int = DEFAULT_QUEUE_SIZE
    walk_concurrency: int = DEFAULT_WALK_CONCURRENCY
    give_up_after: int = DEFAULT_GIVE_UP_AFTER
    # training-data selection (harvester/select.py)
    where: tuple[Condition, ...] = ()
    sample: int | None = None
    sample_fraction: float | None = None
    seed: int = 0
    label_keys: tuple[str, ...] = ()
    #: A ``labels.csv`` whose label ids the index keeps (``--label-ids-from``; recorded in
    #: ``DIR/label_ids.json`` when the run opens DIR: :mod:`harvester.label_ids`).
    label_ids_from: Path | None = None
    #: ``sample`` images of each value of this annotation key (None: ``sample`` in all).
    sample_per: str | None = None
    #: ``train=0.8,val=0.1,test=0.1``: a ``split`` column in index.csv, recorded in
    #: ``DIR/split.json`` (:mod:`harvester.splits`); ``"none"``: drop it; None: keep DIR's.
    split: str | None = None
    #: What a split keeps together (``image``/``well``/``plate``/``dataset``; None: well).
    split_by: str | None = None
    #: The seed of the split's hash (None: 0); not ``seed``, so a new sample keeps the split.
    split_seed: int | None = None

    def __post_init__(self) -> None:
        # Noted first, for the CLI's "internal error" line: a bug's message may quote them.
        given = (*self.headers.values(), *self.cookies.values())
        remember_secrets([*map(str, given), *url_secret_values(str(self.base_url))])
        # Normalise what Python callers may pass loosely (lists, strings, str paths).
        object.__setattr__(self, "artifacts", parse_artifacts(list(self.artifacts)))
        for key in _INT_LIST_KEYS:
            names_key = NAMED_TARGETS.get(key)
            if names_key is None:
                object.__setattr__(self, key, _as_int_list(key, list(getattr(self, key))))
                continue
            ids, names = _ids_and_names(key, list(getattr(self, key)))
            given = tuple(str(name).strip() for name in getattr(self, names_key))
            object.__setattr__(self, key, ids)
            object.__setattr__(self, names_key, tuple(dict.fromkeys((*given, *names))))
        for key in _PATH_KEYS:
            value = getattr(self, key)
            if isinstance(value, str):
                object.__setattr__(self, key, Path(value))
        if isinstance(self.rate, str):
            object.__setattr__(self, "rate", parse_rate(self.rate))
        if not is_http_url(self.base_url):
            # Named without its query, and without the password of a user:password@ in it
            # (an http:// forgotten left one where redact_url does not look).
            shown = redact_loose_url(self.base_url.partition("?")[0])
            meant = meant_http_url(self.base_url)
            hint = f"did you mean {meant}?" if meant else "e.g. https://idr.openmicroscopy.org"
            hint = file_as_url_hint(self.base_url) or hint
            if "@" in self.base_url:
                # A '/', '?' or '#' in a password cuts the URL short where it stands.
                hint += f"; {_PERCENT_ENCODE_HINT}"
            raise ConfigError(
                f"base_url: {shown!r} is not an http(s) URL", hint=hint, key="base_url"
            )
        _check_cut_userinfo(self.base_url)
        _check_basic_user(self.base_url)
        positive = {
            "concurrency": self.concurrency,
            "burst": self.burst,
            "thumbnail_size": self.thumbnail_size,
            "queue_size": self.queue_size,
            "walk_concurrency": self.walk_concurrency,
            "give_up_after": self.give_up_after,
        }
        for key, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{key}: {value!r} must be an integer of at least 1", key=key)
        if self.max_plane is not None and (
            isinstance(self.max_plane, bool)
            or not isinstance(self.max_plane, int)
            or self.max_plane < 1
        ):
            raise ConfigError(
                f"max_plane: {self.max_plane!r} must be a positive integer", key="max_plane"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise ConfigError(
                f"max_retries: {self.max_retries!r} must be an integer >= 0", key="max_retries"
            )
        if not isinstance(self.timeout, int | float) or not self.timeout > 0:
            raise ConfigError(
                f"timeout: {self.timeout!r} must be a positive number of seconds", key="timeout"
            )
        if (
            isinstance(self.min_speed, bool)
            or not isinstance(self.min_speed, int | float)
            or not 0 <= self.min_speed < math.inf
        ):
            raise ConfigError(
                f"min_speed: {self.min_speed!r} must be 0 (no minimum) or more bytes per second",
                key="min_speed",
            )
        object.__setattr__(self, "outage_wait", parse_outage_wait(self.outage_wait))
        object.__setattr__(self, "max_bytes", parse_size(self.max_bytes))
        if self.rate is not None:
            parse_rate(self.rate)
        if not isinstance(self.render_quality, int | float) or not 0 < self.render_quality <= 1:
            raise ConfigError(
                f"render_quality: {self.render_quality!r} must be in (0, 1]", key="render_quality"
            )
        if self.window not in WINDOWS:
            raise ConfigError(
                f"window: {self.window!r} is not one of {', '.join(WINDOWS)}",
                file_hint=_choice_hint("window", self.window, WINDOWS),
                key="window",
            )
        if self.render_format not in RENDER_FORMATS:
            raise ConfigError(
                f"render_format: {self.render_format!r} is not one of {', '.join(RENDER_FORMATS)}",
                file_hint=_choice_hint("render_format", self.render_format, RENDER_FORMATS),
                key="render_format",
            )
        spec = parse_shard(self.shard)
        if spec is not None:
            # One spelling everywhere (journals, saved runs, lock names, status): "1/4", not
            # " 01 / 4" as typed, which no comparison of shard text would match.
            object.__setattr__(self, "shard", f"{spec[0]}/{spec[1]}")
        object.__setattr__(self, "where", parse_where(self.where))
        object.__setattr__(self, "label_keys", parse_label_keys(self.label_keys))
        check_sample(self.sample)
        check_fraction(self.sample_fraction)
        check_seed(self.seed)
        object.__setattr__(self, "sample_per", check_sample_per(self.sample_per))
        # Here as well as in ClientSettings: a value from a config file is then said with the
        # file's name (resolve), never with the value itself.
        check_header_fields(self.headers, self.cookies)
        if names_annotations(self.where) and not self.labels:
            raise ConfigError(
                "where: selecting by annotation needs labels",
                hint="remove --no-labels",
                key="labels",
                file_hint="remove labels = false",
            )
        if self.refresh_labels and not self.labels:
            # Keyed by labels, as where's: a resume of a --no-labels folder (a replayed
            # labels = false) is then told the folder's setting, not to leave out a flag
            # it never typed (resolve: as_saved).
            raise ConfigError(
                "refresh_labels: asks the labels again, which --no-labels skips",
                hint="leave out --no-labels (or --refresh-labels)",
                key="labels",
                file_hint="remove labels = false (or leave out refresh_labels)",
            )
        if self.refresh_labels and self.from_plan is not None:
            # A run from a plan walks nothing: its labels are the plan's, asked when it was
            # made. Taken, the flag asked nothing and said nothing (exit 0, old labels kept).
            raise ConfigError(
                "refresh_labels: a run from a plan asks no labels: it takes the plan's, "
                "asked when the plan was made",
                hint="make the plan again to ask them again (harvester plan ... --force), "
                "or leave out --refresh-labels",
                key="from_plan",
                file_hint="make the plan again (harvester plan ... --force), or remove "
                "refresh_labels = true",
            )
        self._check_where_by_id()
        self._check_sample_per()
        self._check_split()

    def _check_where_by_id(self) -> None:
        """Refuse ``where`` terms on context columns (``field``, ``plate_id``) when every
        target is an image given by id.

        Why: such an image is selected before anything places it in a plate or well, so
        ``--ids-from index.csv --where field=0`` selected none of them and ended with
        nothing done, exit 0 (and ``field!=1`` kept them all). A walk's images have the
        columns: with a screen, plate, project or dataset beside the ids, the run goes on.
        A ``sample_per`` on such a column is refused alike: none of them would have a class.
        """
        walked = (
            self.screens
            or self.projects
            or self.screen_names
            or self.project_names
            or self.plates
            or self.datasets
            or self.from_plan
        )
        by_id = not walked and bool(self.images or self.ids_from)
        keys = unknown_by_id(self.where) if by_id else []
        if by_id and (per := per_by_id_column(self.sample_per)):
            raise ConfigError(
                f"sample_per: {per!r} is a column of the walk's context, which images"
                " given by id (--image, --ids-from) do not have when they are selected: none"
                " of them would have a class",
                hint="give their plate, screen or dataset instead (--plate ID --sample-per"
                f" {per} --sample N)",
                key="sample_per",
            )
        if keys:
            columns = " and ".join(repr(key) for key in keys)
            what = "columns" if len(keys) > 1 else "a column"
            raise ConfigError(
                f"where: {columns} {'are' if len(keys) > 1 else 'is'} {what} of the walk's "
                "context, which images given by id (--image, --ids-from) do not have when "
                "they are selected: no term on it could select them",
                hint="give their plate, screen or dataset instead (--plate ID --where "
                f"{keys[0]}=...), or keep only the rows wanted in the ids file",
                key="where",
            )

    def _check_split(self) -> None:
        """Normalise ``split`` and refuse ``split_by``/``split_seed`` without one."""
        if self.split is None and self.split_by is None and self.split_seed is None:
            return  # (no split asked: nothing to check, nor harvester.splits to load)
        from harvester.splits import (
            NO_SPLIT,
            SplitSpec,
            check_split_by,
            check_split_seed,
            parse_split,
        )

        object.__setattr__(self, "split_by", check_split_by(self.split_by))
        object.__setattr__(self, "split_seed", check_split_seed(self.split_seed))
        if self.split is not None:
            if isinstance(self.split, str) and self.split.strip().lower() == NO_SPLIT:
                object.__setattr__(self, "split", NO_SPLIT)
            else:
                spec = SplitSpec(parse_split(self.split))
                object.__setattr__(self, "split", spec.text)
        if (self.split_by is not None or self.split_seed is not None) and (
            self.split is None or self.split == NO_SPLIT
        ):
            key = "split_by" if self.split_by is not None else "split_seed"
            if self.split == NO_SPLIT:  # (a hint to add --split read as if it was not seen)
                raise ConfigError(
                    f"{key}: says how to split, but the split is dropped (no split: "
                    '--no-split, or split = "none")',
                    hint=f"leave out --{key.replace('_', '-')} with --no-split, or give "
                    "--split NAME=FRACTION,... in its place",
                    key=key,
                    file_hint=f'remove {key}, or give split = "train=0.8,val=0.1,test=0.1"',
                )
            raise ConfigError(
                f"{key}: says how to split, but no split is given",
                hint="add --split NAME=FRACTION,..., e.g. --split train=0.8,val=0.1,test=0.1",
                key=key,
                file_hint='add split = "train=0.8,val=0.1,test=0.1"',
            )

    @property
    def split_spec(self) -> SplitSpec | None:
        """The split given (None: none given, or ``--no-split``)."""
        if self.split is None:
            return None
        from harvester.splits import DEFAULT_SPLIT_BY, NO_SPLIT, SplitSpec, parse_split

        if self.split == NO_SPLIT:
            return None
        return SplitSpec(
            parse_split(self.split), self.split_by or DEFAULT_SPLIT_BY, self.split_seed or 0
        )

    def _check_sample_per(self) -> None:
        """Refuse a ``sample_per`` that cannot mean what it says (:func:`sample_per_refusal`;
        :func:`resolve` refuses it first, in the terms the user wrote it in)."""
        refusal = sample_per_refusal(
            self.sample_per,
            self.sample,
            self.sample_fraction,
            labels=self.labels,
            resume=not self.has_targets,
        )
        if refusal is not None:
            raise refusal

    # ------------------------------------------------------------------ derived
    @property
    def base(self) -> str:
        """The base URL with exactly one trailing slash on its path (paths are joined to
        it), its query kept as given: ``?bsession=KEY`` went out as ``KEY/``, a session key
        no server knows."""
        url, sep, query = self.base_url.partition("#")[0].partition("?")
        return url.rstrip("/") + "/" + sep + query

    @property
    def shard_spec(self) -> tuple[int, int] | None:
        """``(K, N)`` when sharded."""
        return parse_shard(self.shard)

    @property
    def has_targets(self) -> bool:
        """Whether anything at all was asked for."""
        return bool(
            self.screens
            or self.projects
            or self.screen_names
            or self.project_names
            or self.plates
            or self.datasets
            or self.images
            or self.ids_from
            or self.from_plan
        )

    def walk_targets(self, run: str = "") -> str:
        """What this run walks, as flags in a fixed order (``--screen 1 --plate 5``).

        The key of the walk's journal records (see the "walk" records in
        :mod:`harvester.journal`): runs with the same targets, however they were typed,
        have the same key, and ``status`` shows it to say which walk did not finish. An
        ``--ids-from`` file is named by its absolute path, as the saved settings a resume
        replays name it (a relative one would be another key, never cleared by the
        resume); ids read once (standard input, a pipe) are this ``run``'s alone: two such
        runs list different ids, and one that finished says nothing of the other.
        """
        words: list[str] = []
        for key in ("screens", "projects", "plates", "datasets", "images"):
            flag = FLAGS[key]
            for object_id in sorted(set(getattr(self, key))):
                words += [flag, str(object_id)]
        for key, flag in (("screen_names", "--screen"), ("project_names", "--project")):
            for name in sorted(set(getattr(self, key))):
                words += [flag, name]
        if self.ids_from is not None:
            path = str(self.ids_from)
            if ids_read_once(path) or not self.ids_from.is_file():  # (a named pipe too)
                words += ["--ids-from", path, f"(run {run})"]
            else:
                words += ["--ids-from", str(self.ids_from.absolute())]
        return shell_join(words)

    def to_public(self) -> dict[str, Any]:
        """A JSON-ready dict of every key, with secret values replaced by ``<redacted>``.

        What it saves is what ``harvester harvest --out DIR`` replays (see
        :func:`recorded_overrides`), so: paths are made absolute (``--ids-from ids.txt``
        means the file of the folder the run was started in, which a later resume need not
        share), and ``withheld`` names what was used but not saved (``headers``,
        ``cookies``, ``base_url``'s user and query): a resume must be given those again.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _NAMES_KEYS and not value:
                continue  # resolved into ids: a resume never looks names up again
            if f.name == "names_file":
                continue  # where this command's names were written: not a setting
            if f.name in SECRET_KEYS:
                value = {key: REDACTED for key in value}
            elif isinstance(value, Path):
                value = str(value if str(value) == "-" else value.absolute())
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Artifact | Condition) else v for v in value]
            out[f.name] = value
        out["base_url"] = saved_base_url(self.base_url)
        out["withheld"] = self.withheld
        out["sends_session"] = self.sends_session
        return out

    @property
    def withheld(self) -> list[str]:
        """The credentials this configuration sends and no saved file keeps: ``headers``,
        ``cookies``, ``base_url`` (its user or query). A run into the folder, or of the
        plan, that is given none of them again is refused rather than sent without."""
        withheld = [key for key in SECRET_KEYS if getattr(self, key)]
        parts = urlsplit(self.base_url)
        if parts.username is not None or parts.password is not None or parts.query:
            withheld.append("base_url")
        return withheld

    @property
    def sends_session(self) -> bool:
        """Whether this configuration sends a session that may end while a run goes on:
        headers or cookies of its own (``sessionid``, a token), a query on the base URL
        (``?bsession=KEY``), or a user alone (``TOKEN@host``). A ``user:password@`` is a
        login sent the same way all run long, not a session: its 403s are the images'
        own (:mod:`harvester.session`)."""
        if self.headers or self.cookies:
            return True
        parts = urlsplit(self.base_url)
        return bool(parts.query) or (parts.username is not None and not parts.password)


def saved_base_url(url: str) -> str:
    """``url`` as a run saves it: scheme, host, port and path, without a user, password or
    query (a session key, ``?bsession=...``), which are never saved. Also the URL a printed
    command's note names for ``URL`` (:func:`url_again_note`): the same words in the
    harvest's rerun command as in ``status``'s, and no part of a credential in either.
    An IPv6 literal keeps its brackets: without them the saved URL was no URL, and a
    resume refused the folder's settings as damaged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return (
        f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
        + (f":{parts.port}" if parts.port else "")
        + parts.path
    )


#: How to write a user or password that holds a character which would end it (the hint of
#: a base URL refused as not a URL, or as cut short).
_PERCENT_ENCODE_HINT = (
    "percent-encode a '/', '?', '#' or '@' in a user or password as %2F, %3F, %23, %40"
)


def _check_cut_userinfo(base_url: str) -> None:
    """Refuse a base URL whose user (or password) a '/', '?' or '#' cut short
    (:func:`~harvester.errors.cut_user_shown` says why and how it is told)."""
    shown = cut_user_shown(base_url)
    if shown is not None:
        raise ConfigError(
            f"base_url: {shown!r}: a '/', '?' or '#' in its user or password cuts the URL "
            "short there (it would be read as the host)",
            hint=_PERCENT_ENCODE_HINT,
            key="base_url",
        )


def _check_basic_user(base_url: str) -> None:
    """Refuse a base URL whose user holds a ``:`` once percent-decoded (``al%3Aice``).

    Why: HTTP Basic auth sends ``user:password`` and the server reads the user up to the
    first ``:`` (RFC 7617 forbids one in it), so such a user is refused with 401 on every
    request, and the 401's hint ("percent-encode a ':' as %3A") was what the user had done.
    """
    user = urlsplit(base_url).username
    if user is not None and ":" in unquote(user):
        raise ConfigError(
            f"base_url: the user of {redact_url(base_url)!r} holds a ':', which HTTP Basic auth"
            " cannot send (the server reads the user up to it)",
            hint="check the user name; a ':' in the password is fine (USER:PASS:WORD@HOST or %3A)",
            key="base_url",
        )


#: Target kinds a new user types as a bare word (``harvest screen 2302``).
_TARGET_KINDS = frozenset({"screen", "project", "plate", "dataset", "image"})


def _choice_hint(key: str, value: object, choices: Sequence[str]) -> str | None:
    """``did you mean window = "full"?`` for a config file's value that is one of the
    ``choices`` but for case or spacing (``"Full"``), or close to one; else None. Why: the
    flag's argparse error says the nearest choice, the file's said none."""
    import difflib  # only on this error path

    text = str(value).strip().lower()
    near = [text] if text in choices else difflib.get_close_matches(text, choices, n=1)
    return f'did you mean {key} = "{near[0]}"?' if near else None


def _id_like(word: str) -> bool:
    """Whether a bare word is an id as the target flags take it (``9762957``, ``Image:1``,
    ``1-5``), a comma after it too."""
    text = word.rstrip(",")
    if typed_id(text) is not None or (text.isascii() and text.isdigit()):
        return True
    try:
        return id_range(text, None, most=10**9) is not None
    except TargetTextError:
        return False


def _is_artifact_word(word: str) -> bool:
    """Whether a bare word is an artifact kind (``stack``: ``--artifacts thumbnail stack``)."""
    return word.casefold() in {*(kind.value for kind in Artifact), "all"}


def folder_word_hint(path: Path) -> str | None:
    """The hint for a run given no output folder whose config file is a bare word that
    names nothing (``harvester harvest --screen 2302 idr0056``): the word is the folder
    meant, to give with ``--out``; None for any other config path (an id, a target kind or
    an artifact left without its flag keeps :func:`_missing_hint`'s words). Why: it said
    to quote a value with spaces and to comma-list artifacts, neither of which was the
    slip, and a run given its config file then asked for ``--out``."""
    word = str(path)
    if path.exists() or len(path.parts) != 1 or path.suffix or _web_address(path) is not None:
        return None
    if word.casefold().removesuffix("s") in _TARGET_KINDS or _id_like(word):
        return None
    if _is_artifact_word(word) or word.startswith("-"):
        return None
    return (
        f"{word!r} was read as the config file: the output folder is given with --out "
        f"(--out {shell_quote(word)}), and a value with spaces in quotes (--label-key "
        "'Gene Symbol')"
    )


def _missing_hint(path: Path) -> str | None:
    """Where a relative config path was looked for, and where the example configs live.

    A bare word is most often a flag's second value, which argparse leaves to the config
    file: ``--artifacts thumbnail stack`` or ``--label-key Gene Symbol`` said only
    ``config file 'stack' not found``, about a file never meant.
    """
    if path.is_absolute():
        return None
    if len(path.parts) == 1 and not path.suffix:
        word = str(path)
        if word.casefold().removesuffix("s") in _TARGET_KINDS:
            kind = word.casefold().removesuffix("s")
            return f"{word!r} was read as the config file: targets are flags, e.g. --{kind} ID"
        if _id_like(word):  # `--image 1 2`, `harvest 2302`: an id without its flag
            # (a typed id's own flag: `Image:5` goes after --image, not the example's --plate)
            typed = typed_id(word.rstrip(","))
            flag = f"--{typed[0]}" if typed else "--plate"
            return (
                f"{word!r} was read as the config file: an id goes after its flag ({flag} "
                f"{word.rstrip(',')}), and several ids of one flag in one comma list "
                "(--image 1,2,3)"
            )
        if _is_artifact_word(word):
            return (
                f"{word!r} was read as the config file: --artifacts takes one comma list,"
                " e.g. --artifacts thumbnail,stack"
            )
        return (
            f"{word!r} was read as the config file: quote a value with spaces"
            " (--label-key 'Gene Symbol'), and give several artifacts as one comma list"
            " (--artifacts thumbnail,stack)"
        )
    near = _near_config(path)
    if near is not None:
        return f"did you mean {shell_quote(str(near))}?"
    hint = f"a relative path is read from the current folder, {Path.cwd()}"
    if path.parts[:1] == ("configs",):
        from harvester.example_configs import example_configs_dir  # (an error's path only)

        examples = example_configs_dir()
        if examples is None:
            hint += (
                "; the example configs are in the configs/ folder of harvester's source"
                " checkout and sdist"
            )
        else:
            hint += f"; this harvester's example configs are in {examples}/: copy one from there"
    return hint


#: At most so many names of a folder are looked at for a config file's near name: a look,
#: not a search (a config given in a folder of a million images).
_NEAR_LOOK = 1000


def _near_config(path: Path) -> Path | None:
    """A TOML file whose name is near ``path``'s in its folder (``configs/demo.tml``,
    ``configs/dmeo.toml``: ``configs/demo.toml``), or the example config of that name
    where ``path`` is a bare name and the current folder has it in ``configs/`` (a
    checkout's: ``demo.toml``); None for none. Why: the hint said where relative paths
    are read and where the examples are, to a user who had typed one letter wrong."""
    import difflib  # (an error's path only)

    example = Path("configs") / path.name
    if len(path.parts) == 1 and example.is_file():
        return example
    folder = path.parent
    names: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.lower().endswith(".toml"):
                names.append(entry.name)
            if len(names) >= _NEAR_LOOK:
                break
    near = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return folder / near[0] if near and (folder / near[0]).is_file() else None


#: Not settings of their own: names are given in ``screens``/``projects`` (the file's keys
#: and the flags), and a saved configuration holds the ids they resolved to.
_NAMES_KEYS = tuple(NAMED_TARGETS.values())
KEYS: tuple[str, ...] = tuple(
    f.name for f in fields(HarvestConfig) if f.name not in (*_NAMES_KEYS, "names_file")
)
_BOOL_KEYS = ("dry_run", "quiet", "debug", "follow_redirects", "labels", "refresh_labels")
_MAPPING_KEYS = ("headers", "cookies")


def _coerce(key: str, value: Any, base_dir: Path | None) -> Any:
    """Turn one raw (TOML or CLI) value into the field's type, or raise ConfigError."""
    if key in NAMED_TARGETS:
        ids, names = _ids_and_names(key, value)
        return (*ids, *names)  # split again by HarvestConfig
    if key in _INT_LIST_KEYS:
        return _as_int_list(key, value)
    if key in _PATH_KEYS:
        if value is None:
            return None
        if not isinstance(value, str | Path):
            raise ConfigError(f"{key}: expected a path, got {_toml_shown(value)}")
        if base_dir is not None and isinstance(value, str):  # (a file's: see path_vars)
            from harvester.path_vars import expand_variables

            value = expand_variables(key, value)
        path = Path(value).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return path
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            meant = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false"}
            said = meant.get(value.strip().lower()) if isinstance(value, str) else None
            raise ConfigError(
                f"{key}: expected true or false, got {_toml_shown(value)}",
                hint=None if said is None else f"write {key} = {said}, without quotes",
            )
        return value
    if key in _MAPPING_KEYS:
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError(f"{key}: expected a table of strings")
        return dict(value)
    if key == "artifacts":
        return parse_artifacts(value)
    if key == "rate":
        return parse_rate(value)
    if key == "outage_wait":
        return parse_outage_wait(value)
    if key == "max_bytes":
        return parse_size(value)
    if key == "min_speed" and isinstance(value, str) and (speed := bytes_of(value)) is not None:
        return speed  # ("10K", as --min-speed 10K: a size's units)
    if key in ("timeout", "render_quality", "min_speed"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(
                f"{key}: expected a number, got {_toml_shown(value)}",
                hint=_bare(key, value) or _number_meant(key, value),
            )
        return float(value)
    if key in ("base_url", "render_format", "window", "shard"):
        if value is None and key == "shard":
            return None
        if not isinstance(value, str):
            # A base URL given as a table or an array may hold its session key or password.
            got = _toml_kind(value) if key == "base_url" else _toml_shown(value)
            raise ConfigError(f"{key}: expected a string, got {got}")
        return value.strip()
    if key == "max_plane" and (value is None or value == 0):
        return None
    if key == "where":
        return parse_where(value)
    if key == "label_keys":
        return parse_label_keys(value)
    if key == "sample":
        # (not "must be at least 1"; `"0"` is told that: "write sample = 0" was refused next)
        # (ASCII digits, not all 0, read as text: int() refuses `"²"` and 4,300 digits)
        if isinstance(value, str) and _is_number(value.strip()) and value.strip().strip("0"):
            _refuse_quoted_integer(key, value)
        return check_sample(value)
    if key == "sample_fraction":
        return check_fraction(value)
    if key == "sample_per":
        return check_sample_per(value)
    if key == "split":
        if isinstance(value, Mapping) and value:
            # `split = {train = 0.8, test = 0.2}`: TOML's natural spelling of the pairs.
            pairs = ",".join(f"{name}={fraction}" for name, fraction in value.items())
            raise ConfigError(
                "split: expected a string, got a table",
                hint=f'write split = "{pairs}"',
                key="split",
            )
        if not isinstance(value, str):
            raise ConfigError(f"split: expected a string, got {_toml_shown(value)}", key="split")
        return value
    if key in ("split_by", "split_seed"):
        from harvester.splits import check_split_by, check_split_seed

        return check_split_by(value) if key == "split_by" else check_split_seed(value)
    # remaining keys are integers
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse_quoted_integer(key, value)
        raise ConfigError(
            f"{key}: expected an integer, got {_toml_shown(value)}",
            hint=_bare(key, value, whole=True) or _number_meant(key, value, whole=True),
        )
    return value


#: The number keys that refuse 0 (counts of at least 1, a timeout): their refusal of a 0
#: typed with a unit or in quotes says so, not "write burst = 0", refused in turn.
POSITIVE_KEYS = frozenset(
    {"concurrency", "burst", "thumbnail_size", "queue_size", "walk_concurrency"}
    | {"give_up_after", "timeout"}
)


def _positive_wanted(key: str) -> str:
    """``a positive number``, ``an integer of at least 1``: what a key of POSITIVE_KEYS
    takes, in the words its refusal of a 0 uses."""
    return "a positive number" if key == "timeout" else "an integer of at least 1"


def _bare(key: str, value: object, *, whole: bool = False) -> str | None:
    """The hint for a number written as text with its unit (``timeout = "30s"``): the line
    with the number alone; None otherwise (:func:`harvester.text.without_unit`; ``whole``:
    an integer key's). A 0 with its unit to a key that refuses 0 (``burst = "0s"``) is told
    what the key takes: "write burst = 0" was refused next."""
    from harvester.text import without_unit

    if not isinstance(value, str):
        return None
    positive = key in POSITIVE_KEYS
    number = without_unit(value, whole=whole, positive=positive)
    if number is None and positive and without_unit(value, whole=whole) is not None:
        return f"{key} takes {_positive_wanted(key)}, written without quotes or unit"
    return None if number is None else f"write {key} = {number}, without quotes or unit"


def _refuse_quoted_integer(key: str, value: object) -> None:
    """A :class:`ConfigError` for a whole number written in quotes (``seed = "1"``),
    which TOML reads as text: the hint is the line without them."""
    if isinstance(value, str) and _is_number(value.strip().lstrip("-")):
        hint = f"write {key} = {value.strip()} without quotes"
        below_one = value.strip().startswith("-") or not value.strip().strip("0")
        if key in POSITIVE_KEYS and below_one:  # (`burst = "0"`: not a line refused next)
            hint = f"{key} takes {_positive_wanted(key)}, written without quotes"
        raise ConfigError(f"{key}: expected an integer, got the text {value!r}", hint=hint)


def _toml_shown(value: object) -> str:
    """``value`` as a refusal shows it: a text or number as it is (``'8s'``, ``8.5``), any
    other value as TOML writes it (``true``) or by its TOML type (``a date or time``).

    Why: the refusals showed Python's spelling, ``got True``, ``got datetime.date(2026, 1,
    1)`` or ``got {'n': 8}``, of a value the user wrote as ``true``, ``2026-01-01``..."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    return _toml_kind(value)


def _number_meant(key: str, value: object, *, whole: bool = False) -> str | None:
    """The line to write for a number written otherwise than a number key takes it: in a
    list of one (``thumbnail_size = [96]``), or as a whole float to an integer key
    (``concurrency = 8.0``; ``whole``: the key's); None for any other value."""
    listed = isinstance(value, list) and len(value) == 1
    number = value[0] if isinstance(value, list) and listed else value
    if isinstance(number, bool) or not isinstance(number, int | float):
        return None
    if whole:
        if not float(number).is_integer():
            return None
        number = int(number)
    if listed:
        return f"write {key} = {number}, a number, not a list"
    return f"write {key} = {number}, a whole number" if whole else None


def _toml_kind(value: object) -> str:
    """What TOML calls ``value``'s type, for an error that must not show the value."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a date or time"


_UNCLOSED = "a text value's opening quote has no closing one on its line"

#: What to write instead, by the start of tomllib's message for the syntax error. Why:
#: ``Invalid value (at line 5, column 12)`` alone did not say that the slip was a text
#: value without its quotes (``base_url = https://...``), the commonest one. The line is
#: never quoted: it may hold a password or a session key.
_TOML_FIXES = (
    (
        "Invalid value",
        'a text value goes in double quotes (base_url = "https://host/", rate = "none", '
        'label_keys = ["Gene Symbol"]); numbers, true and false do not',
    ),
    ("Cannot overwrite a value", "a key is given twice, or a table twice: keep one of them"),
    ("Expected '=' after a key", "each setting is KEY = VALUE on a line of its own"),
    (  # (`max_bytes = 20G`: TOML read the number 20, then a G it did not expect)
        "Expected newline or end of document after a statement",
        'text values go in double quotes (max_bytes = "20G", rate = "none"), and each '
        "setting on a line of its own",
    ),
    ("Unclosed array", "a list's [ has no closing ]: screens = [2302, 2303]"),
    ("Illegal character '\\n'", _UNCLOSED),
    ('Expected "\'"', _UNCLOSED),
    ("Unterminated string", _UNCLOSED),
)


#: A scheme typed without its ``://`` whole (``http//host``, ``https:/host``, ``http:host``).
_CUT_SCHEME = re.compile(r"(?i)(https?)(?::/{0,2}|/{1,2})(?=[^/])")


def meant_http_url(text: str) -> str | None:
    """The http(s) URL a base URL that is none likely meant, else None: one typed without
    its scheme (``127.0.0.1:8080``: ``http://`` for this machine, ``https://`` elsewhere),
    with the ``://`` cut (``http//host``) or the scheme misspelt (``htps://host``).

    Why: "is not an http(s) URL, e.g. https://idr.openmicroscopy.org" made the user find
    the slip. Never for text with a user, password or query: those stay out of messages.
    """
    import difflib  # only on this error path

    stripped = text.strip()
    if "@" in stripped or "?" in stripped or "#" in stripped:
        return None
    if not stripped.isprintable():  # (a line break in it made the hint two lines)
        return None
    scheme, sep, rest = stripped.partition("://")
    if not sep:
        cut = _CUT_SCHEME.match(stripped)
        scheme, rest = (cut.group(1), stripped[cut.end() :]) if cut else ("", stripped)
    if not scheme:
        host = (urlsplit(f"//{rest}").hostname or "") if is_http_url(f"http://{rest}") else ""
        here = host == "localhost" or host.startswith("127.") or host == "::1"
        scheme = "http" if here else "https"
    else:
        near = difflib.get_close_matches(scheme.lower(), ("http", "https"), n=1, cutoff=0.75)
        if not near:  # (ftp://: another protocol, not a slip)
            return None
        scheme = near[0]
    meant = f"{scheme}://{rest}"
    return meant if meant != stripped and is_http_url(meant) else None


#: Suffixes of a file given where the base URL goes, and where such a file belongs.
_FILE_SUFFIX_PLACES = {
    ".toml": "config",
    ".json": "config",
    ".txt": "ids",
    ".csv": "ids",
}


def file_as_url_hint(text: str) -> str | None:
    """The hint for a base URL that is a file's name (``--base-url c.toml``), else None.

    Why: ``c.toml`` made a host name, and the hint asked "did you mean https://c.toml?",
    leading the user on to a server that does not exist. A value ending in a config's or
    an id list's suffix, or naming a file that exists, names where it belongs instead.
    Never for text with a user, password or query (it would be quoted).
    """
    stripped = text.strip()
    if "@" in stripped or "?" in stripped or "#" in stripped or "://" in stripped:
        return None
    place = _FILE_SUFFIX_PLACES.get(Path(stripped).suffix.lower())
    if place is None:
        try:
            if not stripped or not Path(stripped).is_file():
                return None
        except (OSError, ValueError):  # (a name too long, a NUL in it)
            return None
    config = "a config file is the command's first argument (harvester harvest c.toml ...)"
    ids = "a file of image ids goes with --ids-from FILE"
    where = {"config": config, "ids": ids}.get(place or "", f"{config}; {ids}")
    return f"{stripped!r} looks like a file, not a server's address: {where}"


def _toml_hint(message: str) -> str:
    """What to do about a config file that is not TOML, from tomllib's message."""
    fix = next((fix for start, fix in _TOML_FIXES if message.startswith(start)), None)
    every = f"see {_every_key()} for every key"
    return f"{fix}; {every}" if fix else every


def _folder_hint(path: Path) -> str:
    """How to name a folder: ``harvester harvest idr0056`` (the folder as ``status`` takes it)
    read it as the config file, and said only that it is a directory, with no way forward."""
    shown = shell_quote(str(path))
    return (
        f"{str(path)!r} was read as the config file, a TOML file: a folder is given with"
        f" --out, e.g. --out {shown}"
    )


def check_keys(data: Mapping[str, Any], source: str) -> None:
    """Refuse unknown keys, naming the nearest valid one."""
    for key in data:
        if key not in KEYS:
            import difflib  # only on this error path: not part of every start-up

            near = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5)
            hint = f"did you mean {near[0]!r}?" if near else f"see {_every_key()} for every key"
            raise ConfigError(f"{source}: unknown key {key!r}", hint=hint)


def _web_address(path: Path) -> str | None:
    """The web address a config file's path was typed as, else None: ``harvester harvest
    https://host/`` (the server, meant for --base-url) or a pasted link, which ``Path``
    made ``https:/host`` (one ``/``)."""
    scheme, sep, rest = str(path).partition(":/")
    if sep and scheme.lower() in ("http", "https") and rest and not rest.startswith("/"):
        return f"{scheme}://{rest}"
    return None


def _address_as_config(address: str) -> ConfigError:
    """The refusal of a web address given where the config file goes, with the flags that
    take it. Why: it said ``config file 'https:/host' not found`` (the ``//`` made one by
    the path, the hint about the current folder), which did not say the address went after
    ``--base-url``, or a link after its target's flag. The address is named without its
    password or query (:func:`~harvester.target_text.link_shown`)."""
    from harvester.target_text import ask_hint, link_shown, parse_link, study_page, with_login

    try:
        link = parse_link(address)
    except TargetTextError:
        if (study := study_page(address)) is not None:
            hint = f"give the study by its name: --screen {study} or --project {study}"
        elif "@" in address or base_url_holds_secret(address):
            # (not to be printed: typed again by its user; an '@' after a '/' or '?' ends a
            # user or password cut short there, which no redaction finds: alice:pa/ss@host)
            hint = "give a server's address after --base-url: --base-url URL"
        else:
            server = address.partition("?")[0].partition("#")[0].rstrip("/")
            hint = f"give a server's address after --base-url: --base-url {shell_quote(server)}"
    else:
        base_url = ask_hint(with_login(address, link.server))  # (its login kept, REDACTED)
        hint = f"give a link after the flag of what it shows: {link.as_flags()} {base_url}"
    return ConfigError(
        f"{link_shown(address)!r} is a web address, not a config file (the one argument "
        "harvester reads without a flag)",
        hint=hint,
    )


def _every_key() -> Path:
    """The example config listing every key, where this harvester has it (a relative
    ``configs/`` names nothing outside the source folder)."""
    from harvester.example_configs import DEFAULT_CONFIG, example_configs_dir

    examples = example_configs_dir()
    return (examples or Path("configs")) / DEFAULT_CONFIG


def written_value(path: Path, key: str) -> object:
    """``key``'s value in config file ``path`` as written there, before :func:`load_toml`
    reads it (``max_bytes = "500B"``: the text, not 500), None where it has none or the
    file no longer reads. Why: a message naming the key says it as the user wrote it. Read
    as load_toml reads it (:func:`_toml_text`): a file with a byte order mark, which that
    reads, was None here, and its ``ids_from = "$SCRATCH/ids.txt"`` went unseen by
    ``harvester slurm`` (hpc._paths_with_variables), its tasks reading it on their nodes."""
    import tomllib

    try:
        with path.open("rb") as handle:
            raw = tomllib.loads(_toml_text(path, handle.read()))
    except (OSError, tomllib.TOMLDecodeError, ConfigError):
        return None
    if set(raw) == {"harvest"} and isinstance(raw["harvest"], dict):
        raw = raw["harvest"]
    return raw.get(key)


#: The config keys that hold a path: ``$NAME`` in a file's is expanded (path_vars).
PATH_KEYS = frozenset(_PATH_KEYS)


def load_toml(path: Path, *, replaced: AbstractSet[str] = PATH_KEYS) -> dict[str, Any]:
    """Read a config file; relative paths inside it are relative to the file, ``$NAME``
    and ``~`` in them expanded.

    ``replaced``: the keys whose value is not used (a flag replaces it, or the caller asks
    which keys the file has): a path of theirs naming a variable that is not set is kept as
    written, not refused. Every key by default; :func:`resolve` passes the flags given, so
    that a task of ``harvester slurm`` (given ``--out``) is not refused for a file's ``out
    = "$SCRATCH/x"`` where its node has no SCRATCH.
    """
    import tomllib  # only with a config file: a flags-only run does not load the parser

    try:
        with path.open("rb") as handle:
            raw = tomllib.loads(_toml_text(path, handle.read()))
    except FileNotFoundError:
        if (address := _web_address(path)) is not None:
            raise _address_as_config(address) from None
        raise ConfigError(
            f"config file {str(path)!r} not found", hint=_missing_hint(path)
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"config file {str(path)!r} is a directory", hint=_folder_hint(path)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", hint=_toml_hint(str(exc))) from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    # Allow an optional [harvest] table so that one file can hold several tools' settings.
    if set(raw) == {"harvest"} and isinstance(raw["harvest"], dict):
        raw = raw["harvest"]
    check_keys(raw, str(path))
    values = {}
    for key, value in raw.items():
        try:
            values[key] = _coerce(key, value, path.parent)
        except ConfigError as error:
            if key in replaced and key in PATH_KEYS and isinstance(value, str):
                values[key] = Path(value)  # (not used: see the docstring)
                continue
            raise in_file(path, error) from None
    base_url = values.get("base_url")
    held = ["base_url"] if isinstance(base_url, str) and url_holds_secret(base_url) else []
    _warn_if_others_read_secrets(path, held + [key for key in SECRET_KEYS if values.get(key)])
    return values


#: The byte order marks of UTF-16 text (Windows editors' "Unicode"), little and big endian.
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: What a config file that is no UTF-8 text is told to do.
_UTF8_HINT = "save it as UTF-8 (the encoding in the editor's Save As), which TOML files are"


def _toml_text(path: Path, data: bytes) -> str:
    """A config file's bytes as text: UTF-8, a leading byte order mark dropped (Notepad
    writes one), else a :class:`ConfigError` naming the encoding and where it breaks.

    Why: a file saved as Latin-1 (``# café``) or UTF-16 stopped the run with ``internal
    error: UnicodeDecodeError`` (exit 1), and one with a UTF-8 byte order mark was
    ``Invalid statement (at line 1, column 1)``, a line that looks right. No byte of the
    file is quoted: it may hold a password."""
    if data.startswith(_UTF16_BOMS):
        raise ConfigError(
            f'{path}: not valid TOML: it is UTF-16 text (Windows\' "Unicode"), not UTF-8',
            hint=_UTF8_HINT,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}: not valid TOML: not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
            f"{line}; Latin-1 or another encoding?)",
            hint=_UTF8_HINT,
        ) from None


#: Config files already warned about in this process (a resume replaying several sets reads
#: one file more than once: one line is enough).
_WARNED_READABLE: set[Path] = set()


def _warn_if_others_read_secrets(path: Path, secret_tables: Sequence[str]) -> None:
    """One warning line when a config file holding credentials (``headers``, ``cookies``, a
    ``base_url`` with a user, password or session key) can be read by other users of this
    machine (its group or others may read it), with the ``chmod`` that fixes it.

    Why: the harvester keeps credentials out of everything it writes and prints; the file
    the user gave them in is theirs, and a shared cluster's home or project folder is often
    readable by the whole group. ssh refuses a key file so exposed; a harvest only says so
    (the file may be on a filesystem without modes, or shared on purpose)."""
    if not secret_tables or os.name != "posix":
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not mode & 0o044:
        return
    resolved = path.resolve()
    if resolved in _WARNED_READABLE:
        return
    _WARNED_READABLE.add(resolved)
    who = "other users" if mode & 0o004 else "its group"
    import logging

    from harvester.errors import PROBLEMS_LOGGER

    # The problems logger: --quiet ("problems only") keeps it, as a security matter.
    logging.getLogger(PROBLEMS_LOGGER).warning(
        "%s holds credentials (%s) and %s can read it: chmod 600 %s",
        path,
        ", ".join(secret_tables),
        who,
        shell_quote(str(path)),
    )


def sample_per_refusal(
    sample_per: object,
    sample: object,
    sample_fraction: object,
    *,
    labels: object = True,
    given: Mapping[str, str] | None = None,
    file_keys: AbstractSet[str] = frozenset(),
    saved: AbstractSet[str] = frozenset(),
    resume: bool = False,
) -> ConfigError | None:
    """Why a ``sample_per`` cannot mean what it says (exit 2, before any request), or None.

    ``resume``: no target is given (``harvester harvest --out DIR --sample-per KEY``), so
    the sample size may be the folder's: each set's replay, its saved settings under the
    flags given now, is checked again and refused there if none of them has one. Why: a
    resume given ``--sample-per 'Gene Symbol'`` alone was refused as needing ``--sample``
    while the folder's run had ``--sample 3``, where a resume given ``--sample 4`` alone
    kept the folder's ``--sample-per``.

    Without ``sample`` there is no number of images per class; with ``sample_fraction``
    the fraction already keeps the same share of each class, and the two together read
    as a per-class fraction that it is not; without labels no image has a class.

    Each setting is named as the user wrote it (as :func:`harvester.names.named_as` names
    a target): ``given`` maps a key to its flag or to ``c.toml: key`` (:func:`resolve`),
    and ``file_keys`` are those read from the config file, whose hints then say how to
    write them there. Why: ``sample_per: ... cannot be combined with sample_fraction``
    named two config keys to a user who had typed ``--sample-per`` and
    ``--sample-fraction``. A Python caller's settings are named by their keys. ``saved``:
    the keys a resume's replay took from the folder's saved settings (:func:`saved_named`
    names them in ``given``), whose hints say how to do without them: a resume cannot drop
    a saved setting, so "drop --sample-fraction" asked for what the user could not do.
    """
    if not (isinstance(sample_per, str) and sample_per.strip()):
        return None  # none, or a blank key (check_sample_per refuses it)
    names = given or {}
    per = names.get("sample_per", "sample_per")
    if not labels and per_column(sample_per) is None:  # (a column's classes need no labels)
        hint = "remove labels = false" if "labels" in file_keys else "remove --no-labels"
        if "labels" in saved:
            hint = saved_hint(names.get("labels", "labels = false"), per)
        return ConfigError(f"{per}: sampling per class needs labels", hint=hint, key="sample_per")
    if sample is None and not resume:
        in_file = "sample_per" in file_keys
        return ConfigError(
            f"{per}: sampling per class needs a sample size: how many images of each class",
            hint="add sample = N, e.g. sample = 50"
            if in_file
            else "add --sample N, e.g. --sample 50 --sample-per 'Gene Symbol'",
            key="sample_per",
        )
    if sample_fraction is not None:
        fraction = names.get("sample_fraction", "sample_fraction")
        if {"sample_per", "sample_fraction"} <= file_keys:
            fraction = "sample_fraction"  # the same file: named once
        hint = (
            "drop sample_fraction: a fraction keeps the same share of every class"
            " already; sample = N with sample_per keeps N images of each"
            if "sample_fraction" in file_keys
            else "drop --sample-fraction: a fraction keeps the same share of every class"
            " already; --sample N --sample-per KEY keeps N images of each"
        )
        if "sample_fraction" in saved:
            hint = saved_hint(fraction, per)
        return ConfigError(
            f"{per}: sampling per class cannot be combined with {fraction}",
            hint=hint,
            key="sample_per",
        )
    return None


def in_file(path: Path, error: ConfigError) -> ConfigError:
    """``error`` about a value read from config file ``path``, said with the file's name.

    Why: an unknown key named its file (``c.toml: unknown key ...``) but a bad value did
    not (``concurrency: 0 must be ...``), and a flag of the same name could be blamed. The
    hint is the one for a file (``error.file_hint``) where the error has one: a hint
    naming ``--rate`` sent the user looking for a flag they never typed.
    """
    hint = error.file_hint or error.hint
    return ConfigError(f"{path}: {error}", hint=hint, key=error.key, file_hint=error.file_hint)


def _check_ids_from_file(config_file: Path, path: Path | None) -> None:
    """A config file's ``ids_from`` that names no file, said with the file and its key.

    Why here: the walk's "cannot read ids file" came with the hint "--ids-from takes a text
    file", a flag the user never typed, and did not say that a relative path in a config
    file is read from that file's folder (not the current one).
    """
    if path is None or path.exists():
        return
    raise ConfigError(
        f"{config_file}: ids_from: {str(path)!r} not found",
        hint="ids_from names a text file with one image id a line; a relative path there is"
        f" read from the config file's folder, {config_file.parent.absolute()}",
        key="ids_from",
    )


def resolve(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    typed: bool = True,
    saved: AbstractSet[str] = frozenset(),
) -> HarvestConfig:
    """File values, then overrides (CLI flags; ``None`` means "not given").

    Which of ``screens``/``projects`` came from the file is kept (``names_file``): their
    names' messages then name the file's key, not a flag. ``typed``: the overrides are
    flags the user typed, so a refusal of one names the flag (:func:`as_typed`); False for
    values read elsewhere (a run's saved settings), whose refusals keep their keys.
    ``saved``: the overrides a resume's replay took from the folder's saved settings, the
    others typed now; a refusal names each as saved (:func:`saved_named`), not as typed.
    """
    given = {key for key, value in (overrides or {}).items() if value is not None}
    values: dict[str, Any] = {} if config_file is None else load_toml(config_file, replaced=given)
    from_file = set(values)
    from_folder = {
        key: saved_named(key, value)
        for key, value in (overrides or {}).items()
        if key in saved and value is not None
    }
    flags = given - set(from_folder) if typed else set()
    for key, value in (overrides or {}).items():
        if key not in KEYS:
            raise ConfigError(f"unknown setting {key!r}")
        if value is None:
            continue
        try:
            values[key] = _coerce(key, value, None)
        except ConfigError as error:
            raise as_typed(error, flags) from None
    per_key = per_annotation(values["sample_per"]) if values.get("sample_per") else None
    if per_key and "label_keys" not in values:
        # A per-class sample is a training set whose classes are the key's values: its
        # index is labelled by them (labels.csv shows the balance) unless keys are given.
        # (A resume's replay is no new --sample-per: recorded_overrides keeps its keys.)
        # Not a context column's (one field per well): its values are index.csv's already.
        values["label_keys"] = (per_key,)
    if config_file is not None and "ids_from" in from_file - given:
        _check_ids_from_file(config_file, values["ids_from"])
    if config_file is not None:
        values["names_file"] = {
            key: config_file for key in NAMED_TARGETS if key in values and key not in given
        }
    file_keys = from_file - given if config_file is not None else set()
    refusal = sample_per_refusal(
        values.get("sample_per"),
        values.get("sample"),
        values.get("sample_fraction"),
        labels=values.get("labels", True),
        given={key: f"{config_file}: {key}" if key in file_keys else FLAGS[key] for key in FLAGS}
        | from_folder,
        file_keys=file_keys,
        saved=set(from_folder),
        resume=not any(values.get(key) for key in TARGET_KEYS),
    )
    if refusal is not None:
        raise refusal
    if values.get("refresh_labels") and "labels" in from_folder and values.get("labels") is False:
        # A resume's replay of a set harvested with --no-labels: it has no labels to ask
        # again. Refused, `harvester harvest --out DIR --refresh-labels` (a nightly cron
        # line) ended 2 every night for that one set, told to leave out a --no-labels
        # nobody typed.
        values["refresh_labels"] = False
    if values.get("refresh_labels") and "from_plan" in from_folder and values.get("from_plan"):
        # A resume's replay of a set harvested from a plan: its labels are the plan's (a run
        # from a plan walks nothing), replayed as it was, as a --no-labels set is. Typed with
        # --from-plan, the flag is refused (HarvestConfig.validate).
        values["refresh_labels"] = False
    try:
        return HarvestConfig(**values)
    except ConfigError as error:
        # A value the file set and no flag replaced: the file is named (a flag's is not).
        if config_file is not None and error.key in from_file - given:
            raise in_file(config_file, error) from None
        raise as_typed(as_saved(error, from_folder), flags) from None
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise ConfigError(str(exc)) from None


#: The flags of the training-data settings (labels, split) that :data:`FLAGS` (the flags a
#: resume replays) leaves out; with it, the flag of every setting a flag sets, whose
#: refusals :func:`as_typed` says with the flag typed (``--timeout: ...``, not ``timeout: ...``).
_TRAINING_FLAGS = {
    "label_keys": "--label-key",
    "label_ids_from": "--label-ids-from",
    "split": "--split",
    "split_by": "--split-by",
    "split_seed": "--split-seed",
    "refresh_labels": "--refresh-labels",
}


def as_typed(error: ConfigError, given: AbstractSet[str]) -> ConfigError:
    """``error`` in the user's terms: a message that starts with a setting's key
    (``timeout: -1 must be ...``) starts with its flag instead when the user gave that
    setting as a flag (``--timeout: -1 ...``), as the hint already says. (A value from a
    config file is named with the file and its key instead: :func:`in_file`.)

    Why: a user who typed ``--split-by well`` was told ``split_by: says how to split``, a
    config key they never wrote; ``--timeout 0`` and ``--burst 0`` still were, once the
    training-data flags were said as typed. ``given``: the settings given as flags
    (resolve's overrides). Any other error is returned as it is.
    """
    head, sep, rest = str(error).partition(": ")
    flag = FLAGS.get(head) or _TRAINING_FLAGS.get(head)
    if not sep or flag is None or head not in given:
        return error
    return ConfigError(f"{flag}: {rest}", hint=error.hint, key=error.key, file_hint=error.file_hint)


#: How a refusal names a setting a resume's replay took from the folder (the saved settings
#: of the run it replays), not from a flag typed now (:func:`saved_named`).
SAVED_IN_FOLDER = "saved in the folder"


def saved_named(key: str, value: Any) -> str:
    """``--sample-fraction 0.5 (saved in the folder)``: a setting a resume replays from the
    folder, as its refusals name it: the flag that gives it, its value, and where it is.

    Why: a resume combining a set's saved ``--sample-fraction 0.5`` with a ``--sample-per``
    typed now said ``cannot be combined with --sample-fraction``, a flag the user had not
    typed (the resume line that shows the saved ones comes after the check). A setting no
    flag gives (a config file's) is said ``key=value`` as the resume line says it.
    """
    flag = FLAGS.get(key) or _TRAINING_FLAGS.get(key)
    if key == "labels":
        words = "--no-labels" if value is False else "labels=true"
    elif flag is None:
        words = f"{key}={json.dumps(value, default=str)}"
    else:
        items = value if isinstance(value, list | tuple) else [value]
        words = shell_join(
            word
            for item in items
            for word in (flag, f"{item:g}" if isinstance(item, float) else str(item))
        )
    return f"{words} ({SAVED_IN_FOLDER})"


def saved_hint(saved: str, typed: str) -> str:
    """The hint of a refusal whose cause is saved setting ``saved`` (:func:`saved_named`)
    combined with ``typed``: a resume cannot drop a saved setting, so the hint does not
    ask that; it names what can be done."""
    return (
        f"a resume replays {saved}: leave out {typed}, or give the set's targets again "
        "with the settings you want (harvester harvest --out DIR TARGETS ...)"
    )


def as_saved(error: ConfigError, saved: Mapping[str, str]) -> ConfigError:
    """``error`` with the settings of ``saved`` (key -> :func:`saved_named`) said as saved: a
    message starting with such a key starts with its saved name, and a hint to remove the
    setting the error is about (``error.key``, another than the one it starts with: the
    ``--no-labels`` of ``where: ... needs labels``), which a resume cannot, is replaced by
    :func:`saved_hint`. Any other error is returned as it is."""
    head, sep, rest = str(error).partition(": ")
    message = f"{saved[head]}: {rest}" if sep and head in saved else str(error)
    hint, key = error.hint, error.key
    if key is not None and key in saved and key != head:
        hint = saved_hint(saved[key], FLAGS.get(head) or _TRAINING_FLAGS.get(head) or head)
    if message == str(error) and hint == error.hint:
        return error
    return ConfigError(message, hint=hint, key=error.key, file_hint=error.file_hint)


# --------------------------------------------------------------------------- resume
#: A run id starts with its UTC second (``layout.new_run_id``): runs of one second tie.
_RUN_SECOND = len("20261126T090000Z")
#: The end of a shard's journal name (``layout.make_writer``).
_SHARD_SUFFIX = re.compile(r"-shard-\d+-of-\d+$")

#: Saved settings a resume does not take from the newest run, and why: ``out`` is the
#: command's own; ``headers``/``cookies`` were never saved; ``dry_run``/``quiet``/``debug``
#: are about this terminal, not the folder; ``label_keys``: a harvest given none takes the
#: keys given last, which may be newer than that run (``harvester index --label-key``,
#: ``folder_settings.remembered_label_keys``) -- replaying the run's keys would undo them;
#: ``label_ids_from``: the pin is recorded in ``DIR/label_ids.json`` and may have been
#: dropped since (``harvester index --no-label-ids-from``), which a replay would undo;
#: ``refresh_labels``: a run's own (one label request a page), never a nightly cost left
#: behind by one run given it (a resume given it refreshes every set it replays, but one
#: harvested with ``--no-labels``: :func:`resolve`).
NOT_REPLAYED = (
    "out",
    "headers",
    "cookies",
    "dry_run",
    "quiet",
    "debug",
    "refresh_labels",
    "label_keys",
    "label_ids_from",
    "split",
    "split_by",
    "split_seed",
)

#: The flag of each setting that has one, for the commands printed (``--no-labels``,
#: ``--where`` and the repeatable targets are handled where they are written).
FLAGS: dict[str, str] = {
    "base_url": "--base-url",
    "screens": "--screen",
    "projects": "--project",
    "plates": "--plate",
    "datasets": "--dataset",
    "images": "--image",
    "ids_from": "--ids-from",
    "from_plan": "--from-plan",
    "shard": "--shard",
    "artifacts": "--artifacts",
    "concurrency": "--concurrency",
    "rate": "--rate",
    "burst": "--burst",
    "max_retries": "--max-retries",
    "timeout": "--timeout",
    "min_speed": "--min-speed",
    "outage_wait": "--outage-wait",
    "max_bytes": "--max-bytes",
    "thumbnail_size": "--thumbnail-size",
    "window": "--window",
    "where": "--where",
    "sample": "--sample",
    "sample_fraction": "--sample-fraction",
    "seed": "--seed",
    "sample_per": "--sample-per",
}


@dataclass(frozen=True)
class RecordedRun:
    """The newest harvest run of DIR that saved its settings (``runs/<run>/config.json``).

    ``config``: its resolved configuration as :meth:`HarvestConfig.to_public` saved it;
    ``argv``: its command line (credentials redacted), without the program name.
    """

    run: str
    config: dict[str, Any]
    argv: tuple[str, ...] = ()
    #: Saved by a resume's replay (``harvester harvest --out DIR``): the run whose place in
    #: DIR's order of runs it takes (:func:`replay_origin`). None: a run of its own.
    replay_of: str | None = None

    @property
    def base_url(self) -> str:
        return str(self.config.get("base_url") or DEFAULT_BASE_URL)

    @property
    def shard(self) -> str | None:
        shard = self.config.get("shard")
        return shard if isinstance(shard, str) and shard else None

    @property
    def ids_read_once(self) -> str | None:
        """``--ids-from`` of standard input, a pipe or ``<(cmd)``: read once, gone since."""
        path = self.config.get("ids_from")
        return path if isinstance(path, str) and ids_read_once(path) else None

    @property
    def withheld(self) -> list[str]:
        """What the run used and did not save: ``headers``, ``cookies``, ``base_url``.

        Saved by this version (``withheld``); for a config saved before, the secret
        tables' names tell, and a redacted word in the command line tells of the URL's.
        """
        saved = self.config.get("withheld")
        if isinstance(saved, list):
            return [str(key) for key in saved]
        out = [key for key in SECRET_KEYS if self.config.get(key)]
        from harvester.errors import REDACTED as URL_REDACTED

        if any(URL_REDACTED in word for word in self.argv):
            out.append("base_url")
        return out

    @property
    def sent_session(self) -> bool:
        """Whether the run sent a session (:attr:`HarvestConfig.sends_session`), which may
        have ended under it. Saved by this version; for a config saved before, any
        credential withheld counts, as it did (a password URL included)."""
        saved = self.config.get("sends_session")
        return saved if isinstance(saved, bool) else bool(self.withheld)


def _run_started(out_dir: Path, runs: set[str]) -> dict[str, float]:
    """The start time the journals recorded for each of ``runs`` (first line of each of
    their journals: the "run" record the store writes as it opens), as its ``order`` where
    it has one (:func:`harvester.journal.run_orders`). Only for runs that started within
    one second of each other, which their ids cannot order.

    Their journals are found by name (:func:`_journal_runs`)."""
    from harvester.layout import JOURNALS_DIR

    started: dict[str, float] = {}
    try:
        names = sorted(os.listdir(out_dir / JOURNALS_DIR))
    except OSError:
        return started
    for name, run in _journal_runs(names, runs):
        try:
            with open(out_dir / JOURNALS_DIR / name, "rb") as handle:
                first = json.loads(handle.readline(1 << 16))
        except (OSError, ValueError):
            continue
        if not isinstance(first, dict) or first.get("rec") != "run":
            continue
        # Its place in DIR's order of runs (harvester.journal.run_orders), else its start.
        at = first.get("order", first.get("started"))
        if isinstance(at, int | float) and not isinstance(at, bool):
            started[run] = max(started.get(run, 0.0), float(at))
    return started


def _runs_by_second(out_dir: Path) -> dict[str, list[str]]:
    """DIR's run ids (the folders of ``runs/``, listed once) by the UTC second they start with;
    a folder whose name is no run id (the user's ``runs/notes``) is none of DIR's runs."""
    from harvester.layout import run_folders

    try:
        names, _others = run_folders(out_dir)
    except OSError:
        return {}
    seconds: dict[str, list[str]] = {}
    for name in names:
        seconds.setdefault(name[:_RUN_SECOND], []).append(name)
    return seconds


def _unused_left_out(config: dict[str, Any], out_dir: Path, saved: SavedConfigs) -> dict[str, Any]:
    """A saved run's configuration without the kept settings of kinds it did not fetch
    whose value DIR keeps otherwise (:func:`harvester.folder_settings.unused_settings`):
    every command that replays the run, or prints a command that does (a resume, the
    refetch commands of ``status`` and ``verify``), takes DIR's value. A copy where one is
    left out (``saved`` shares its values)."""
    from harvester.folder_settings import idle_settings, recorded_settings, unused_settings
    from harvester.layout import MARKER_NAME

    if not idle_settings(config):
        return config
    marker = saved.read(out_dir / MARKER_NAME)
    unused = unused_settings(
        config, recorded_settings(marker if isinstance(marker, dict) else None)
    )
    return {k: v for k, v in config.items() if k not in unused} if unused else config


def _read_recorded(
    out_dir: Path, run: str, saved: SavedConfigs | None = None
) -> RecordedRun | None:
    """The settings ``run`` saved (``runs/<run>/config.json``); None when they cannot be read
    or are not a harvest's (no ``base_url``: a plan's). ``saved``: the configs a caller
    read already (else read here)."""
    from harvester.journal import SavedConfigs
    from harvester.layout import RUNS_DIR

    saved = saved if saved is not None else SavedConfigs()
    data = saved.read(out_dir / RUNS_DIR / run / "config.json")
    if not isinstance(data, dict):
        return None
    nested = data.get("config")
    config = nested if isinstance(nested, dict) else data
    if not isinstance(config.get("base_url"), str):
        return None
    argv = data.get("argv")
    words = tuple(str(w) for w in argv) if isinstance(argv, list) else ()
    origin = data.get("replay_of")
    replay_of = origin if isinstance(origin, str) and origin else None
    config = _unused_left_out(moved_with_folder(config, out_dir), out_dir, saved)
    recorded = RecordedRun(str(data.get("run") or run), config, words, replay_of)
    if base_url_holds_secret(recorded.base_url):
        # Saved before 0.1.13 (a token as the URL's user), and not scrubbed yet (the scrub
        # reads the journaled command line, which may not hold it): read as a record saved
        # now, the URL redacted and withheld, so no line or command built from it spells it.
        withheld = (
            [*recorded.withheld, "base_url"]
            if "base_url" not in recorded.withheld
            else recorded.withheld
        )
        config = {**config, "base_url": redact_base_url(recorded.base_url), "withheld": withheld}
        recorded = replace(recorded, config=config)
    return recorded


#: The saved paths that may lie inside the output folder itself (``--ids-from DIR/retry.txt``,
#: ``--from-plan DIR``), and so move with it.
_INSIDE_KEYS = ("ids_from", "from_plan")


def moved_with_folder(config: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """``config`` as saved by a run of DIR, with each ``--ids-from`` and ``--from-plan`` path
    that lay inside the folder the run saved as ``out`` taken at the same place in
    ``out_dir``, where DIR is now.

    Paths are saved absolute, so after ``mv DIR NEW`` (``cp -a``, ``rsync -a`` to another
    machine) a resume of NEW read the plan or the ids file at the old place: gone (exit 2,
    "no harvest plan in OLD", with a hint to plan there again), or, for a copy, the old
    folder's and not the copy's. A path outside the folder stays as saved: it did not move.
    """
    saved_out = config.get("out")
    if not isinstance(saved_out, str) or not os.path.isabs(saved_out):
        return config
    old = os.path.normpath(saved_out)
    here = os.path.normpath(out_dir.absolute())
    if old == here:
        return config
    moved: dict[str, Any] = {}
    for key in _INSIDE_KEYS:
        value = config.get(key)
        if not isinstance(value, str) or not os.path.isabs(value) or ids_read_once(value):
            continue
        path = os.path.normpath(value)
        if path == old:
            moved[key] = here
        elif path.startswith(old.rstrip(os.sep) + os.sep):
            moved[key] = os.path.join(here, os.path.relpath(path, old))
    return {**config, **moved} if moved else config


def replay_origin(recorded: RecordedRun) -> str:
    """The run whose place ``recorded`` takes among DIR's runs: for a resume's replay, the
    run of its target set that a person ran (saved as ``replay_of``, passed on from replay
    to replay); else the run itself.

    A resume replays DIR's target sets newest first, so the oldest set's replay started
    last: taken as DIR's newest run, it gave a new target that old set's kinds and server
    and turned the next resume's order round. A replay ranked by its origin leaves the order
    as the user's own commands made it, whatever the replays did, however many of them were
    interrupted, refused or forgotten (a replay that recorded nothing removes its run).
    Replaying the oldest set first instead kept that only when every replay ran to its end
    and the newest set's left a run. An origin said to be newer than the run (a file edited
    by hand) is ignored."""
    origin = recorded.replay_of
    if origin is None or origin[:_RUN_SECOND] > recorded.run[:_RUN_SECOND]:
        return recorded.run
    return origin


class _RunOrder:
    """The start-time order of DIR's runs (see :func:`newest_recorded_run`): a run's key is
    its id's second, then, where runs share that second, its journals' start time. The
    journals of a second are read when a key of that second is first asked for."""

    def __init__(self, out_dir: Path, seconds: dict[str, list[str]], order_ties: bool) -> None:
        self.out_dir = out_dir
        self.seconds = seconds
        self.order_ties = order_ties
        self._started: dict[str, dict[str, float]] = {}

    def prime(self, runs: set[str]) -> None:
        """Read the journals once for the ties among ``runs`` (rather than once a second)."""
        tied = {run for group in self.seconds.values() if len(group) > 1 for run in group}
        started = _run_started(self.out_dir, tied & runs) if tied & runs else {}
        for group in self.seconds.values():
            second = group[0][:_RUN_SECOND]
            self._started[second] = {r: started[r] for r in group if r in started}

    def key(self, run: str) -> tuple[str, float, str]:
        second = run[:_RUN_SECOND]
        started = self._started.get(second)
        if started is None:
            group = self.seconds.get(second, [])
            tied = len(group) > 1 and self.order_ties
            started = _run_started(self.out_dir, set(group)) if tied else {}
            self._started[second] = started
        return (second, started.get(run, 0.0), run)

    def rank(self, recorded: RecordedRun) -> tuple[tuple[str, float, str], tuple[str, float, str]]:
        """Newer ranks higher: by the place of its origin (:func:`replay_origin`), then, among
        the runs of one origin (the run and its replays), by its own start."""
        return (self.key(replay_origin(recorded)), self.key(recorded.run))


def newest_recorded_run(
    out_dir: Path,
    *,
    tries: int | None = None,
    order_ties: bool = True,
    most: int | None = None,
    unread: list[str] | None = None,
) -> RecordedRun | None:
    """The newest run of DIR whose saved configuration can be read, else None.

    Newest as :func:`harvester.journal.runs_newest_last` has it (by start time), found
    cheaply: ``runs/`` is listed once and run ids sort by their second; only runs of the
    same second are ordered by the journals' start records. A resume's replay takes the
    place of the run it replayed (:func:`replay_origin`): after a resume of several target
    sets, the newest is still the newest set's (its replay, which may carry flags given to
    the resume), not the oldest set's, replayed last. Every task of a job array
    calls this at its start, so it reads at most ``tries`` config files besides those of
    replays placed before their own start (None: as many as it takes), and the journals of
    a second only where runs of it tie; ``order_ties=False`` reads no journal at all (runs
    of one second by id: the tasks of one array, started together, whose order does not
    matter to the caller); ``most``: at most that many config files in all, replays
    included (the newest ranked of those read). A config without a ``base_url``
    (not a harvest's) or that cannot be read is passed over: a plan, a killed run.

    A run of a set ``harvester forget`` took out is passed over too, unless every run is
    one: a run given new targets took the forgotten set's server and kinds (a set from a
    server since left, its images gone), where the newest set still resumed was meant.

    ``unread``: given, gets the runs read and passed over (no readable config, or not a
    harvest's), for a caller that says which run it found.
    """
    forgotten = _forgotten_runs(out_dir)
    newest = _newest_run(out_dir, tries, order_ties, most, forgotten, unread)
    if newest is None and forgotten:  # (every run forgotten: still the folder's server)
        newest = _newest_run(out_dir, tries, order_ties, most, frozenset(), unread)
    return newest


def newest_run_words(out_dir: Path, recorded: RecordedRun) -> str:
    """How a message names ``recorded``, DIR's newest run (:func:`newest_recorded_run`):
    ``its newest run``, or ``its newest run not of a forgotten target set`` where newer runs
    are of sets ``harvester forget`` took out, which it passes over: "its newest run" named
    an older run than ``runs/`` shows then. Reads ``forgotten.json`` (if any), and where
    it lists runs, ``runs/`` and the journals of runs started in one second, as
    :func:`newest_recorded_run` orders them."""
    forgotten = _forgotten_runs(out_dir)
    if not forgotten or recorded.run in forgotten:
        return "its newest run"
    order = _RunOrder(out_dir, _runs_by_second(out_dir), order_ties=True)
    newest = order.key(recorded.run)
    if any(order.key(run) > newest for run in forgotten):
        return "its newest run not of a forgotten target set"
    return "its newest run"


def _forgotten_runs(out_dir: Path) -> frozenset[str]:
    """The runs of DIR's forgotten sets (none read when there is no list)."""
    from harvester.forgotten import FORGOTTEN_NAME, read_forgotten

    if not (out_dir / FORGOTTEN_NAME).is_file():
        return frozenset()
    return frozenset(run for entry in read_forgotten(out_dir).values() for run in entry.runs)


def _newest_run(
    out_dir: Path,
    tries: int | None,
    order_ties: bool,
    most: int | None,
    passed_over: AbstractSet[str],
    unread: list[str] | None = None,
) -> RecordedRun | None:
    """:func:`newest_recorded_run`, the runs ``passed_over`` left out unread."""
    seconds = _runs_by_second(out_dir)
    order = _RunOrder(out_dir, seconds, order_ties)
    best: RecordedRun | None = None
    best_rank: tuple[tuple[str, float, str], tuple[str, float, str]] | None = None
    for second in sorted(seconds, reverse=True):
        group = sorted(seconds[second], key=order.key, reverse=True)
        for run in group:
            if run in passed_over:
                continue
            if best_rank is not None and order.key(run) < best_rank[0]:
                return best  # it, and every run older, takes a place before the best's
            if (tries is not None and tries <= 0) or (most is not None and most <= 0):
                return best
            if most is not None:
                most -= 1
            recorded = _read_recorded(out_dir, run)
            if tries is not None and (recorded is None or replay_origin(recorded) == run):
                tries -= 1
            if recorded is None:
                if unread is not None:
                    unread.append(run)
                continue
            rank = order.rank(recorded)
            if best_rank is None or rank > best_rank:
                best, best_rank = recorded, rank
    return best


#: The saved settings that say which images a run was asked for: its target set. Runs of
#: one target set (every resume records a run) are resumed once, as the newest of them.
TARGET_KEYS = (
    "screens",
    "projects",
    "plates",
    "datasets",
    "images",
    "screen_names",
    "project_names",
    "ids_from",
    "from_plan",
)


def ids_read_once(path: str) -> bool:
    """Is an ``--ids-from`` path standard input or a pipe's descriptor (``<(cmd)``)?"""
    return path == "-" or path.startswith(("/dev/fd/", "/proc/self/fd/", "/dev/stdin"))


def target_set(recorded: RecordedRun) -> str:
    """The run's targets as one comparable value: the ids of each kind as a set (order and
    repeats do not change the images), the ``--ids-from`` file and the plan as saved
    (absolute paths), and the ``--where`` terms as a set. Ids read once (standard input,
    ``<(cmd)``) are their run's own set: two such runs read different ids under one name.

    Why ``--where``: a balanced training set is one run per class into one DIR (``--where
    'Gene Symbol=ECT2' --sample 50``, then ``=PLK1``...). With the screen as the only key
    they were one set, and a resume replayed the newest class alone: the other classes'
    failures were never retried, with exit 0, while ``status`` went on listing them. A
    changed ``--sample`` or ``--seed`` on the same terms is still the same set (the
    newest wins): it changes how many of those images are wanted, not which. A
    ``--sample-per`` key is part of the set: a sample of each gene and a sample of each
    phenotype into one DIR are two training sets, each resumed.
    """
    from harvester.plan import plan_dir

    key: dict[str, Any] = {}
    if recorded.ids_read_once is not None:
        key["run"] = recorded.run
    for name in TARGET_KEYS:
        value = recorded.config.get(name)
        if isinstance(value, list):
            value = sorted({str(item) for item in value})
        elif name == "from_plan" and isinstance(value, str) and value:
            # ``--from-plan DIR`` and ``--from-plan DIR/plan`` are one plan: two sets would
            # harvest it twice on every resume.
            value = str(plan_dir(Path(value)))
        if value in (None, [], ""):
            continue
        key[name] = value
    where = where_terms(recorded.config.get("where"))
    if where:
        key["where"] = where
    per = recorded.config.get("sample_per")
    if isinstance(per, str) and per.strip():
        key["sample_per"] = per.strip().casefold()  # (keys compare as the selection does)
    return json.dumps(key, sort_keys=True)


def server_set(recorded: RecordedRun) -> tuple[str, str]:
    """The run's target set (:func:`target_set`) and its server (:func:`normal_base_url`):
    what a resume replays once, as the newest run of it.

    Why the server: ids are one server's, so ``--project 51`` harvested from A and from B
    into one DIR is two sets of images. Keyed by targets alone, a resume replayed the newer
    server's set only, and the older one's failures and pending images were never asked
    for again (``status`` went on counting them)."""
    return target_set(recorded), normal_base_url(recorded.base_url)


def _moved_sets(
    readable: Mapping[str, RecordedRun],
    sets: Mapping[tuple[str, str], RecordedRun],
    order: _RunOrder,
) -> set[tuple[str, str]]:
    """The keys of ``sets`` (:func:`server_set`) whose server moved: a resume given another
    server's ``--base-url`` (``harvester harvest --out DIR --base-url NEW``) replayed the set
    on NEW after the set's newest run of its old server. Such a replay saves the run a
    person ran that it replays (``replay_of``, passed on from replay to replay): a set of
    another server whose newest run has that origin too, older than the replay, is the
    same set at an address left since.

    Why: replayed on each server, a server that moved (its old address dead) cost an error
    on every resume. Why the origin, not the replay's own server: ``replay_of`` names the
    first run of the chain, so a server moved twice (A, then B, then C) left B's set
    replayed at its dead address. A set run again on its old server since the move is its
    own again; two servers' sets of the same targets, each a person's command, have two
    origins and are both kept."""
    by_origin: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for set_key, newest in sets.items():
        by_origin.setdefault((set_key[0], replay_origin(newest)), []).append(set_key)
    moved: set[tuple[str, str]] = set()
    for recorded in readable.values():
        if recorded.replay_of is None:
            continue
        key, server = server_set(recorded)
        for old in by_origin.get((key, replay_origin(recorded)), []):
            if old[1] != server and order.key(sets[old].run) < order.key(recorded.run):
                moved.add(old)
    return moved


def where_terms(saved: object) -> list[str]:
    """Saved ``--where`` terms as a sorted set, folded as the selection compares them: keys
    always (``gene symbol=ECT2`` is ``Gene Symbol=ECT2``), a ``~`` term's text too, which
    matches case-insensitively (``phenotype~mitotic`` is ``Phenotype~Mitotic``: two sets
    of one selection made a resume walk it twice, the older run replayed after the newer);
    ``=`` and ``!=`` values stay as given, being compared exactly. A saved value that does
    not parse is kept as it was."""
    try:
        terms = parse_where(saved) if saved else ()
    except ConfigError:
        return sorted({str(term) for term in saved}) if isinstance(saved, list) else [str(saved)]
    return sorted(
        {f"{t.key.casefold()}{t.op}{t.value.casefold() if t.op == '~' else t.value}" for t in terms}
    )


def recorded_target_sets(
    out_dir: Path,
    *,
    besides: str | None = None,
    saved: SavedConfigs | None = None,
    forgotten: bool = False,
) -> list[RecordedRun]:
    """The newest run of each distinct target set of DIR of each server (:func:`server_set`;
    but a set whose server moved, :func:`_moved_sets`), newest first: what ``harvester
    harvest --out DIR`` given no target replays, one after another.

    Resuming the newest run alone was a trap: after ``--screen 2302`` and then ``--ids-from
    retry.txt`` (its failures, as ``status --failed-ids`` suggests), the screen's pending
    images were never resumed. Runs are ordered as by :func:`newest_recorded_run`; this
    reads every run's saved config once (a folder resumed weekly for years holds a thousand:
    small files, read once, and a resume that recorded nothing leaves none), and the
    journals' first lines only where runs share a second. Not for the job array's tasks,
    which call :func:`newest_recorded_run` with its bounded reads. ``besides``: a run left
    out (a run asking what its set was before it). ``saved``: the configs a caller read
    already (``status``: for its kinds and label keys). ``forgotten``: also the sets
    ``harvester forget`` took out of DIR's resumes (:func:`forgotten_entry`), left out
    otherwise: no resume replays them, no ``status`` counts them.
    """
    seconds = _runs_by_second(out_dir)
    readable: dict[str, RecordedRun] = {}
    for group in seconds.values():
        for run in group:
            if run == besides:
                continue
            recorded = _read_recorded(out_dir, run, saved)
            if recorded is not None:
                readable[run] = recorded
    order = _RunOrder(out_dir, seconds, True)
    order.prime(set(readable))
    out: dict[tuple[str, str], RecordedRun] = {}
    for run in sorted(readable, key=order.key, reverse=True):
        out.setdefault(server_set(readable[run]), readable[run])
    for moved in _moved_sets(readable, out, order):
        del out[moved]
    # Each set as its newest run has it, the sets by where the user's own commands placed
    # them (:func:`replay_origin`): a resume leaves their order as it found it.
    sets = sorted(out.values(), key=order.rank, reverse=True)
    if forgotten:
        return sets
    from harvester.forgotten import read_forgotten

    gone = read_forgotten(out_dir)
    return [recorded for recorded in sets if forgotten_entry(recorded, gone) is None]


def damaged_run_configs(out_dir: Path, saved: SavedConfigs | None = None) -> list[str]:
    """The runs of DIR (sorted) whose ``runs/<run>/config.json`` is there but is no JSON
    object: cut short or edited by hand (harvester writes it whole, in one rename).

    Why: :func:`recorded_target_sets` skips such a run as it skips a plan's, so ``harvester
    harvest --out DIR`` stopped resuming its target set without a word, ``status`` counted
    its images by another set's kinds, and ``verify`` gave that resume to refetch files it
    then never asked for. A missing file is not damage here (a run killed before saving
    it; ``runs/`` removed by hand is said where nothing is left to replay)."""
    from harvester.journal import SavedConfigs
    from harvester.layout import RUNS_DIR

    saved = saved if saved is not None else SavedConfigs()
    damaged = []
    for group in _runs_by_second(out_dir).values():
        for run in group:
            path = out_dir / RUNS_DIR / run / "config.json"
            if path.is_file() and not isinstance(saved.read(path), dict):
                damaged.append(run)
    return sorted(damaged)


def damaged_run_config_note(
    out_dir: Path,
    run: str,
    walks: Iterable[Mapping[str, Any]],
    kinds: Sequence[str],
    argv: object = None,
) -> str:
    """What to do about run ``run``'s damaged config (see :func:`damaged_run_configs`):
    ``walks``, DIR's journaled walk records, name its targets where one of them is that
    run's; ``kinds``: the artifact kinds its journal holds files of; ``argv``: its run
    record's command line (credentials redacted), for its ``--base-url``."""
    from harvester.errors import REDACTED, base_url_holds_secret
    from harvester.layout import RUNS_DIR

    q = shell_quote(str(out_dir))
    targets = next(
        (
            str(walk["targets"])
            for walk in walks
            if walk.get("run") == run and isinstance(walk.get("targets"), str) and walk["targets"]
        ),
        None,
    )
    head = (
        f"{RUNS_DIR}/{run}/config.json is damaged (not a JSON object): harvester harvest "
        f"--out {q} resumes nothing from it"
    )
    gone = f"; then remove {RUNS_DIR}/{run}/ (nothing in it can be read)"
    if targets is None:
        return f"{head}; give that run's targets again to resume them{gone}"
    fetch = f" --artifacts {','.join(kinds)}" if kinds else ""
    words = [str(w) for w in argv] if isinstance(argv, list) else []
    base = next(
        (words[n + 1] for n, w in enumerate(words[:-1]) if w == "--base-url"),
        next((w.partition("=")[2] for w in words if w.startswith("--base-url=")), None),
    )
    if base is None:
        server = " and the --base-url it was given, unless it was IDR's"
    elif REDACTED in base or base_url_holds_secret(base):
        server = " --base-url URL (with its credentials again)"
    else:
        server = f" --base-url {shell_quote(base)}"
    return (
        f"{head}; unless another run names its targets ({targets}), give them again: "
        f"harvester harvest --out {q} {targets}{fetch}{server}{gone}"
    )


def forgotten_entry(
    newest: RecordedRun, gone: Mapping[ForgottenKey, ForgottenSet]
) -> ForgottenSet | None:
    """The entry of DIR's forgotten sets (``gone``: :func:`harvester.forgotten.read_forgotten`)
    that holds the target set whose newest run is ``newest``, of that run's server (or an
    older entry of any server); None when that set is live.

    Only while its newest run is one the set had when it was forgotten: a run given its
    targets since (which takes the entry off as it starts, :func:`harvester.forgotten.revive_set`)
    makes it live even where taking the entry off failed. Why the server: ids are one
    server's, and another server's set of the same ids was forgotten (and taken back) with
    it."""
    if not gone:
        return None
    key = target_set(newest)
    for entry in (gone.get((key, normal_base_url(newest.base_url))), gone.get((key, ""))):
        if entry is not None and newest.run in entry.runs:
            return entry
    return None


def target_flags(recorded: RecordedRun) -> list[str]:
    """The flags that name the run's target set (:func:`target_set`) on a command line: its
    targets, ``--ids-from`` and ``--from-plan`` paths as saved, its ``--where`` terms and
    its ``--sample-per`` key. What ``harvester forget`` is given to name a set, and says of
    one. Why the key: it is part of the set, and a hint that left it out named a set that
    ``forget`` then said DIR does not have."""
    config = recorded.config
    words: list[str] = []
    for key in ("screens", "projects", "plates", "datasets", "images"):
        values = config.get(key)
        words += id_flags(key, values if isinstance(values, list) else [])
    for key, plain in NAMED_TARGETS.items():
        names = config.get(plain)
        for name in names if isinstance(names, list) else ():
            words += [FLAGS[key], str(name)]
    for key in ("ids_from", "from_plan"):
        value = config.get(key)
        if isinstance(value, str) and value:
            words += [FLAGS[key], value]
    where = config.get("where")
    for term in where if isinstance(where, list) else ():
        words += ["--where", str(term)]
    per = config.get("sample_per")
    if isinstance(per, str) and per.strip():  # (part of the set: forget must be given it)
        words += ["--sample-per", per]
    return words


#: The target keys whose flags take ranges (``--image 100-120``): not ``--screen`` nor
#: ``--project``, where ``2021-03`` is a name.
RANGE_KEYS = ("plates", "datasets", "images")


def id_flags(key: str, values: Sequence[object]) -> list[str]:
    """The flag of ``key`` once per item of ``values`` (``--where A --where B``); a target
    key's run of consecutive ids as one range (``--image 1-500``, not 500 flags:
    :func:`~harvester.target_text.compact_ids`), which the flag reads back as those ids."""
    flag = FLAGS[key]
    if key in RANGE_KEYS and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        items = compact_ids(v for v in values if isinstance(v, int))
    else:
        items = [str(v) for v in values]
    return [word for item in items for word in (flag, item)]


def take_back_flags(recorded: RecordedRun, folder_server: str | None = None) -> list[str]:
    """The flags of a harvest that takes a forgotten set back, as its resumes would have
    replayed them: its newest run's flags (:func:`recorded_flags`: targets, sample, kinds,
    rate...) but ``--shard`` (given a shard's flags, the set came back as one shard of it,
    the others' images left to nobody). One helper for ``forget``, ``status``, ``verify``
    and a resume of a folder of forgotten sets: they printed different commands, the short
    one (targets and sample only) taking the set back with the folder's kinds, not its own.

    ``--base-url URL`` when the set's URL held credentials (never saved: without it a
    harvest is refused as needing them; :func:`take_back_note` says what URL stands for),
    and ``SECRETS.toml`` first when its runs sent headers or cookies (a config file's, not
    saved either). ``folder_server``: the URL a harvest of DIR given none asks
    (:func:`folder_server_url`): a set harvested from another server (a folder of two) gets
    ``--base-url`` with its own, or the command asked DIR's server for the set's ids."""
    from dataclasses import replace

    words = recorded_flags(replace(recorded, config={**recorded.config, "shard": None}))
    if "base_url" in recorded.withheld:
        if "--base-url" in words:
            words[words.index("--base-url") + 1] = "URL"
        else:
            words = ["--base-url", "URL", *words]
    elif "--base-url" not in words and other_server(recorded, folder_server):
        words = ["--base-url", recorded.base_url, *words]
    if any(key in SECRET_KEYS for key in recorded.withheld):
        words = ["SECRETS.toml", *words]
    return words


def folder_server_url(out_dir: Path) -> str | None:
    """The server a harvest of DIR given no base URL asks (:func:`folder_server`): that of
    DIR's newest run of a set still resumed, as saved (None: no run saved its settings)."""
    newest = newest_recorded_run(out_dir)
    return None if newest is None else newest.base_url


def other_server(recorded: RecordedRun, folder_server: str | None) -> bool:
    """Whether ``recorded`` asked another server than ``folder_server`` (None: unknown)."""
    return folder_server is not None and (
        normal_base_url(folder_server) != normal_base_url(recorded.base_url)
    )


def servers_of(sets: Sequence[RecordedRun]) -> dict[str, str]:
    """The servers DIR's target sets (``sets``) were harvested from, each once: by
    :func:`normal_base_url`, the URL as the first set (newest) saved it (no credentials)."""
    servers: dict[str, str] = {}
    for recorded in sets:
        servers.setdefault(normal_base_url(recorded.base_url), recorded.base_url)
    return servers


def own_server_command(recorded: RecordedRun, out_dir: Path) -> tuple[str, str]:
    """``harvester harvest [SECRETS.toml] --out DIR --base-url X``: the bare resume that
    replays the target sets of ``recorded``'s server (X its URL as saved, or ``URL`` when it
    held credentials, never saved), and the note saying what ``URL`` and ``SECRETS.toml``
    stand for ("" for none). For a set that a resume given another server's
    ``--base-url`` leaves out (:func:`harvester.cli.harvest` replays that server's alone)."""
    command, needs = _secrets_again(recorded, shell_quote(str(out_dir)))
    if "base_url" not in recorded.withheld:
        command += f" --base-url {shell_quote(recorded.base_url)}"
    return command, needs


def take_back_note(recorded: RecordedRun) -> str:
    """What ``URL`` and ``SECRETS.toml`` stand for in :func:`take_back_flags` ("" when
    they name neither)."""
    return secrets_again_note(recorded.withheld, shown=recorded.base_url)


def runs_of_set(out_dir: Path, key: str) -> list[str]:
    """The ids of every run of DIR (readable saved config) of target set ``key``."""
    return [run.run for run in _runs_of_set(out_dir, key)]


def recorded_runs_of_set(out_dir: Path, key: str) -> list[RecordedRun]:
    """Every run of DIR (readable saved config) of target set ``key``, oldest first in
    DIR's order of runs (:class:`_RunOrder`: its id's second, then, where runs share it,
    their journals' ``order``, :func:`harvester.journal.run_orders`).

    Why not by id: an id holds its start second, then a random suffix, so two runs of one
    second (a quick rerun) were ordered by chance, and ``forget`` of a two-server folder
    took the older run of a server as its newest (its take-back command the older kinds)."""
    runs = _runs_of_set(out_dir, key)
    order = _RunOrder(out_dir, _runs_by_second(out_dir), order_ties=True)
    order.prime({recorded.run for recorded in runs})
    return sorted(runs, key=lambda recorded: order.key(recorded.run))


def drop_refused_set(out_dir: Path, key: str) -> list[RecordedRun]:
    """Remove the saved config and journals of every run of target set ``key``
    (:func:`target_set`) when none of them recorded anything but its "run" record; the runs
    removed, oldest first (none: the set is kept).

    For a set whose replay was refused for a target the server does not have, before any
    work: a run refused so (by 0.1.11, which kept its files) made a set that every
    ``harvester harvest --out DIR`` replayed and was refused for (exit 2, for ever), until
    ``runs/`` was cleared by hand. A set any of whose runs recorded a file, a failure or a
    walk did work once (its target was there): kept, its refusal stays one a person must
    read. Done under DIR's run lock, so that no live run's files go; another run holding
    DIR keeps the set for now.
    """
    from harvester.errors import HarvesterError
    from harvester.layout import RUNS_DIR
    from harvester.runlock import DROPPING_SET, acquire_run_lock, release_run_lock

    try:
        lock = acquire_run_lock(out_dir, None, doing=DROPPING_SET)
    except (HarvesterError, OSError):
        return []
    try:
        runs = _runs_of_set(out_dir, key)
        journals = _journals_of(out_dir, {run.run for run in runs})
        if not runs or not all(_only_run_records(path) for path in journals):
            return []
        for run in runs:  # the configs first: a crash between leaves journals of nothing
            config = out_dir / RUNS_DIR / run.run / "config.json"
            try:
                config.unlink(missing_ok=True)
            except OSError:
                return []
            with contextlib.suppress(OSError):
                config.parent.rmdir()
        for path in journals:
            with contextlib.suppress(OSError):
                path.unlink()
        return runs
    finally:
        release_run_lock(lock)


def _runs_of_set(out_dir: Path, key: str) -> list[RecordedRun]:
    """Every run of DIR (readable saved config) of target set ``key``, oldest id first."""
    runs = [
        recorded
        for group in _runs_by_second(out_dir).values()
        for run in group
        if (recorded := _read_recorded(out_dir, run)) is not None
    ]
    return sorted((r for r in runs if target_set(r) == key), key=lambda r: r.run)


def _journals_of(out_dir: Path, runs: set[str]) -> list[Path]:
    """The journals of ``runs`` (found by name: :func:`_journal_runs`)."""
    from harvester.journal import journal_files

    files = {path.name: path for path in journal_files(out_dir)}
    return [files[name] for name, _run in _journal_runs(files, runs)]


def _journal_runs(names: Iterable[str], runs: AbstractSet[str]) -> Iterator[tuple[str, str]]:
    """``(name, run)`` for each of ``names`` that is the journal of one of ``runs``, in the
    order given. A journal is ``<host>-<pid>-<run>[-shard-K-of-N].jsonl``: its run is found
    by the end of its name, one look-up per length of run id (not one test per run and
    journal: a folder resumed weekly has many runs, see :func:`recorded_target_sets`)."""
    lengths = {len(run) for run in runs}
    for name in names:
        if not name.endswith(".jsonl"):
            continue
        stem = _SHARD_SUFFIX.sub("", name[: -len(".jsonl")])
        for n in lengths:
            if len(stem) > n and stem[-n - 1] == "-" and stem[-n:] in runs:
                yield name, stem[-n:]
                break


#: A journal larger than this recorded more than its "run" record (one line, < 1 KiB
#: unless its command line is long).
_ONLY_RUN_MOST = 1 << 16


def _only_run_records(path: Path) -> bool:
    """Does this journal hold "run" records alone (no file, failure, image or walk)?"""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_ONLY_RUN_MOST + 1)
    except OSError:
        return False
    if len(data) > _ONLY_RUN_MOST:
        return False
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return False
        if not isinstance(record, dict) or record.get("rec") != "run":
            return False
    return True


def recorded_overrides(recorded: RecordedRun) -> dict[str, Any]:
    """The run's saved settings as overrides of :func:`resolve` (what a resume replays).

    Every setting but :data:`NOT_REPLAYED`, and only known keys (a config saved by another
    version may hold others). ``rate``: None was "no limit" (an override of None means
    "not given"), so it is replayed as ``"none"``; other None values are defaults.
    """
    out: dict[str, Any] = {}
    for key, value in recorded.config.items():
        if key not in KEYS or key in NOT_REPLAYED:
            continue
        if key == "rate" and value is None:
            value = "none"
        if value is None:
            continue
        out[key] = value
    if recorded.config.get("sample_per"):
        # No label keys, rather than none given: resolve would make the --sample-per key the
        # replay's label key, undoing keys given since (``harvester index --label-key``).
        # Given none, the index keeps the keys given last, the run's own among them.
        out["label_keys"] = []
    return out


def other_server_note(cfg: HarvestConfig, replay_of: str | None = None) -> str | None:
    """A warning when the server asked (``--base-url``, compared as scheme, host, port and
    path) is none of those DIR's runs asked: image ids are one server's, so the ids done
    from the other are skipped as done and the rest mixed in. Not a refusal: a folder may
    move from http to https or to a mirror (see :mod:`harvester.folder_settings`), which the
    user knows and harvester cannot. Said once the server check passed (a base URL that is
    not a server at all is that error alone). Reads ``runs/`` once, at most three saved
    configs besides a resume's replays, ten in all, and no journal (every task of a job
    array does this at its start: a thousand tasks after a resume of 200 sets must not
    read 200 each); only where the newest run asked another server, the servers of all
    DIR's runs, until one asked this server (:func:`_servers_asked`: each run's config
    read once for all checks to come).

    Why all of them: in a folder of two servers, a run of new targets of the older one's
    was warned about as mixed in, the folder's newest set being the other's, though DIR
    holds that server's sets already (a resume of it replays them).

    ``replay_of``: the run whose target set a resume replays. Asked from that run's server,
    the set mixes nothing in, whatever DIR's newest run asked: in a folder of two servers,
    each set replayed from its own was warned about as mixed in. One more config read.

    The newest run named is the newest whose settings can be read, and said to be so
    where a newer run's cannot (damaged, or never saved): "its newest run" named an older
    one then; so is one newer runs of forgotten sets passed (:func:`newest_run_words`)."""
    out = cfg.out
    if out is None or not out.is_dir():
        return None
    wanted = normal_base_url(cfg.base_url)
    own = _read_recorded(out, replay_of) if replay_of is not None else None
    if own is not None and normal_base_url(own.base_url) == wanted:
        return None
    unread: list[str] = []
    recorded = newest_recorded_run(out, tries=3, order_ties=False, most=10, unread=unread)
    if recorded is None or normal_base_url(recorded.base_url) == wanted:
        return None
    servers = _servers_asked(out, wanted, record=not cfg.dry_run)
    if wanted in servers:
        return None
    newest = normal_base_url(recorded.base_url)
    also = [url for key, url in servers.items() if key != newest]
    there = f" and {', '.join(also)}" if also else ""
    done = "those servers" if also else recorded.base_url
    newest_run = newest_run_words(out, recorded) + (
        " whose settings can be read"
        if _settings_unreadable(out, _ranked_after(unread, recorded))
        else ""
    )
    return (
        f"{out} was harvested from {recorded.base_url} ({newest_run}, {recorded.run}){there}; "
        f"this run asks {cfg.to_public()['base_url']}: image ids are one server's, so ids "
        f"done from {done} are skipped as done and the rest mixed in"
    )


def _ranked_after(runs: Iterable[str], recorded: RecordedRun) -> list[str]:
    """Of ``runs``, those :func:`newest_recorded_run` (``order_ties=False``) ranks after
    ``recorded``'s place: a replay's place is its origin's (:func:`replay_origin`), and
    runs rank by their ids (their second, then, in one second, the rest: every id harvester
    made has one width, ``YYYYMMDDTHHMMSSZ-`` and 6 hex digits, so the ids compare so).

    Why not after ``recorded.run`` itself: a run started after a replay's origin and before
    the replay ranks after the replay, and where its settings could not be read, the
    replay named as DIR's newest run was not said to be only the newest readable one."""
    place = replay_origin(recorded)
    return [run for run in runs if run > place]


def _settings_unreadable(out_dir: Path, runs: Iterable[str]) -> bool:
    """Whether the saved settings of any of ``runs`` cannot be read (no file, not JSON):
    not those of a plan, which are read but are not a harvest's."""
    from harvester.journal import SavedConfigs
    from harvester.layout import RUNS_DIR

    saved = SavedConfigs()
    return any(
        not isinstance(saved.read(out_dir / RUNS_DIR / run / "config.json"), dict) for run in runs
    )


def _servers_asked(out_dir: Path, wanted: str, *, record: bool = True) -> dict[str, str]:
    """The servers (by :func:`normal_base_url`, each as saved) DIR's runs asked, newest
    first, read until one asked ``wanted`` (a normal base URL): every run's, at any number
    of runs. Run ids sort by their start second, which is all the order needed here.

    The runs ``DIR/servers.json`` names are not read again (:mod:`harvester.servers`);
    those it does not name are, and are added to it. Why: reading the 100 newest runs
    only warned a run of B, a server DIR held, as mixed in after an array of 100 tasks of
    A; reading all of them at each task's start costs seconds in a folder of 10,000.
    ``record``: False for a dry run, which writes nothing in DIR (nor this record)."""
    from harvester.journal import SavedConfigs
    from harvester.servers import read_servers, record_servers

    runs = sorted((r for group in _runs_by_second(out_dir).values() for r in group), reverse=True)
    known = read_servers(out_dir)
    servers: dict[str, str] = {}
    for run in runs:
        if run in known:
            servers.setdefault(normal_base_url(known[run]), known[run])
    if wanted in servers:
        return servers
    saved = SavedConfigs()
    learned: dict[str, str] = {}
    servers = {}
    for run in runs:
        url = known.get(run)
        if url is None:
            recorded = _read_recorded(out_dir, run, saved)
            if recorded is None:
                continue
            url = learned[run] = recorded.base_url
        servers.setdefault(normal_base_url(url), url)
        if wanted in servers:
            break
    if learned and record:
        record_servers(out_dir, learned, set(runs))
    return servers


class NewestRun:
    """DIR's newest run with readable settings, looked up once for the settings a run into
    DIR takes from it (:func:`folder_server`, then :func:`folder_artifacts`, and
    :func:`all_grew_note` before them: one look-up for all, given this to each), and not at
    all when none asks.

    Reads: ``runs/`` once, at most three saved configs besides the replays started since
    the newest set's own run (they rank as the runs they replayed, :func:`replay_origin`,
    so every resume's since then is read: a set per resume each), and the journals' first
    lines only where runs of one second tie: run ids order by the second, and two runs of
    one second with other kinds would otherwise give a new target either's kinds, by the
    ids' random ends. (The tasks of a job array, which start together, are given
    ``--base-url`` and ``--artifacts`` by their script and read nothing here.)"""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self._looked = False
        self._run: RecordedRun | None = None

    def unless(self, given: bool) -> RecordedRun | None:
        """The run whose value a run into DIR takes for a setting it was not ``given``;
        None when it was given one, or DIR is not a folder yet."""
        if given:
            return None
        if not self._looked:
            self._looked = True
            if self.out is not None and self.out.is_dir():
                self._run = newest_recorded_run(self.out, tries=3)
        return self._run


def folder_server(
    cfg: HarvestConfig, *, given: bool, newest: NewestRun | None = None, url_in_file: bool = False
) -> tuple[HarvestConfig, str | None]:
    """``cfg`` on the server of DIR's newest run when the run was given no base URL; the line
    that says so (None: ``cfg`` unchanged).

    Image ids are one server's. A folder harvested from a private OMERO.web and then topped
    up with ``harvester harvest --out DIR --ids-from retry.txt`` (the ``status --failed-ids``
    recipe) without ``--base-url`` asked IDR, the default, for those ids, and mixed another
    server's images in under a warning. Given none (``given``: no ``--base-url`` and no
    ``base_url`` in the config file), a run into a folder now takes the folder's server.
    When that run's URL held credentials, which are never saved, the run is refused
    (:class:`UsageError`, the URL redacted): asking the default instead asked IDR for a
    private server's ids. So is a run given none of the headers or cookies the newest run
    sent (their names said, never their values). ``url_in_file``: the URL goes in the
    config file (``harvester slurm``, which refuses a ``--base-url`` holding credentials:
    its hint to give ``--base-url`` was refused in turn). Reads what :class:`NewestRun` reads
    (every task of a job array may call this at its start, given ``--base-url``), nothing
    when ``newest`` (DIR's, shared with :func:`folder_artifacts`) looked already.
    """
    recorded = (newest or NewestRun(cfg.out)).unless(given)
    if recorded is None or cfg.out is None:
        return cfg, None
    out = cfg.out
    # Headers and cookies given in a config file, which were not saved either: without
    # them the folder's server was asked as an anonymous (or public) user, whose answers
    # said a private folder's images were not there. Given now (any), they are taken as
    # given again, as a resume takes them (:func:`replay_problem`).
    tables = [key for key in recorded.withheld if key in SECRET_KEYS and not getattr(cfg, key)]
    if "base_url" in recorded.withheld or tables:
        # Its credentials were never saved: the default (IDR) was asked instead, which
        # failed as "cannot reach" with nothing saying why IDR, or mixed IDR's images into
        # a private folder. The saved URL is the redacted one (no user, no query).
        how = []
        hints = []
        if "base_url" in recorded.withheld:
            how.append("through a URL with credentials")
            hints.append(
                "give base_url with them again in a config file (its path the command's first "
                "argument; that URL with its user or query)"
                if url_in_file
                else "give --base-url with them again (that URL with its user or query)"
            )
        if tables:
            how.append("with " + " and ".join(_secret_names(recorded, key) for key in tables))
            hints.append(
                "give "
                + " and ".join(f"{key} = {{...}}" for key in tables)
                + " again in a config file (its path the command's first argument)"
            )
        raise UsageError(
            f"{out}'s server needs credentials that are not saved: "
            f"{newest_run_words(out, recorded)} ({recorded.run}) asked {recorded.base_url} "
            f"{' and '.join(how)}",
            hint="; ".join(hints) + ", or the --base-url of the server to ask instead",
        )
    if normal_base_url(recorded.base_url) == normal_base_url(cfg.base_url):
        return cfg, None
    line = (
        f"asking {recorded.base_url}, the server {out} was harvested from "
        f"({newest_run_words(out, recorded)}, {recorded.run}): give --base-url to ask another"
    )
    return replace(cfg, base_url=recorded.base_url), line


def folder_artifacts(
    cfg: HarvestConfig, *, given: bool, newest: NewestRun | None = None
) -> tuple[HarvestConfig, str | None]:
    """``cfg`` with the artifact kinds of DIR's newest run when the run was given none; the
    line that says so (None: ``cfg`` unchanged).

    A folder harvested with ``--artifacts thumbnail`` and then given new targets (``status
    --failed-ids`` > retry.txt; ``harvest --ids-from retry.txt --out DIR``, or ``harvester
    plan --out DIR``) fetched the defaults for them, and ``status``, counting by the newest
    run's kinds, then promised a resume that fetched nothing. Given none (``given``: no
    ``--artifacts`` and no ``artifacts`` in the config file), a run into a folder now takes
    the folder's, as :func:`folder_server` takes its server. Reads what :class:`NewestRun`
    reads (every task of a job array may call this at its start, given ``--artifacts``),
    nothing when ``newest`` (DIR's, shared with :func:`folder_server`) looked already.
    """
    recorded = (newest or NewestRun(cfg.out)).unless(given)
    if recorded is None or cfg.out is None:
        return cfg, None
    out = cfg.out
    saved = recorded.config.get("artifacts")
    try:
        kinds = parse_artifacts(saved) if isinstance(saved, list) and saved else None
    except ConfigError:  # a kind of another version: the defaults, as before
        kinds = None
    if kinds is None or kinds == cfg.artifacts:
        return cfg, None
    names = ",".join(a.value for a in kinds)
    line = (
        f"fetching --artifacts {names}, the kinds {out} was harvested with "
        f"({newest_run_words(out, recorded)}, {recorded.run}): give --artifacts to fetch others"
    )
    return replace(cfg, artifacts=kinds), line


def artifacts_words(argv: Sequence[str]) -> list[str]:
    """The kinds a command line's ``--artifacts`` flags name (``all`` among them), lower
    case, as :func:`parse_artifacts` reads them (``--artifacts a,b``, ``--artifacts=a``)."""
    words: list[str] = []
    for n, word in enumerate(argv):
        if word == "--artifacts" and n + 1 < len(argv):
            value = argv[n + 1]
        elif word.startswith("--artifacts="):
            value = word.partition("=")[2]
        else:
            continue
        words += [part.strip().lower() for part in value.split(",") if part.strip()]
    return words


def _artifacts_asked(out: Path, recorded: RecordedRun) -> list[str]:
    """The kinds ``recorded``'s command line named; for a resume's replay that named none
    (``harvester harvest --out DIR``), those of the run it replayed, whose kinds it took."""
    words = artifacts_words(recorded.argv)
    if words or recorded.replay_of is None:
        return words
    origin = _read_recorded(out, recorded.replay_of)
    return artifacts_words(origin.argv) if origin is not None else []


def all_grew_note(
    cfg: HarvestConfig, *, all_given: bool, newest: NewestRun | None = None
) -> str | None:
    """The ``note:`` for ``--artifacts all`` given again in a folder whose newest run gave
    ``all`` when it meant fewer kinds (None otherwise): the kinds added since are fetched
    for every image, those done too.

    Why: ``all`` took ``paths`` in 0.1.20; a folder harvested with ``all`` before then, given
    ``all`` again, fetched a new kind for each of its images without a word, where a change
    of kinds given by name is the user's own. Said once, before any request. Reads what
    :class:`NewestRun` reads, and only when ``all`` was given."""
    if not all_given or cfg.out is None:
        return None
    recorded = (newest or NewestRun(cfg.out)).unless(False)
    if recorded is None or "all" not in _artifacts_asked(cfg.out, recorded):
        return None
    saved = recorded.config.get("artifacts")
    try:
        before = parse_artifacts(saved) if isinstance(saved, list) and saved else None
    except ConfigError:  # a kind of another version: it meant other kinds, not fewer
        return None
    added = [a.value for a in cfg.artifacts if before is not None and a not in before]
    if before is None or not added:
        return None
    kept = ",".join(a.value for a in before)
    return (
        f"note: --artifacts all now includes {', '.join(added)}, which it did not when "
        f"{cfg.out} was harvested with all ({newest_run_words(cfg.out, recorded)}, "
        f"{recorded.run}): {'it is' if len(added) == 1 else 'they are'} fetched for every "
        f"image, those already harvested too; --artifacts {kept} keeps the kinds of that run"
    )


def normal_base_url(url: str) -> str:
    """``scheme://host:port/path`` of a base URL, lower-case scheme and host, the scheme's
    default port spelt out, no user, query or trailing slash: two spellings of one server
    compare equal (``HTTPS://IDR.org/`` and ``https://idr.org:443``)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"


def _default_of(key: str) -> Any:
    for f in fields(HarvestConfig):
        if f.name == key:
            return f.default
    return None


def recorded_flags(recorded: RecordedRun) -> list[str]:
    """The run's settings as the flags of a command line, those that differ from the
    defaults: what a resume replays, said in the user's words. Settings without a flag
    (set in a config file) are left out."""
    words: list[str] = []
    config = recorded.config
    for key, flag in FLAGS.items():
        value = config.get(key)
        if key == "artifacts" and isinstance(value, list):
            if value == [a.value for a in DEFAULT_ARTIFACTS]:
                continue
            words += [flag, ",".join(str(v) for v in value)]
            continue
        if key == "rate":
            if value == DEFAULT_RATE:
                continue
            words += [flag, "none" if value is None else f"{value:g}"]
            continue
        if key == "max_bytes" and isinstance(value, int) and value > 0:
            words += [flag, size_text(value)]
            continue
        if value is None or value == () or value == [] or value == _default_of(key):
            continue
        if isinstance(value, list):
            words += id_flags(key, value)
        elif isinstance(value, float):
            words += [flag, f"{value:g}"]
        else:
            words += [flag, str(value)]
    if config.get("labels") is False:
        words.append("--no-labels")
    return words


#: Settings with no flag (a config file's), said as ``key=value`` when not the default.
_FILE_ONLY = (
    "render_format",
    "render_quality",
    "max_plane",
    "follow_redirects",
    "queue_size",
    "walk_concurrency",
    "give_up_after",
)


def recorded_file_settings(recorded: RecordedRun) -> list[str]:
    """The run's settings that no flag can give (from its config file), ``key=value``,
    those that differ from the defaults: a resume replays them too, and says so."""
    out = []
    for key in _FILE_ONLY:
        value = recorded.config.get(key)
        if key in recorded.config and value != _default_of(key):
            out.append(f"{key}={json.dumps(value)}")
    return out


@dataclass(frozen=True)
class ReplayProblem:
    """Why a run (the newest of its target set) cannot be resumed as ``harvester harvest
    --out DIR``, and the command(s) that resume it instead (one line each).

    ``needs``: what the command needs given again (the same ids, credentials), said after
    it as a shell comment (:attr:`line`), after the reason where a line names both.
    ``plain``: the command says it all (resubmitting DIR's job array): a resume line names
    no reason after it (a SLURM user told to resubmit the array has no use for "the newest
    run (...) was shard 2/3 of a split"); the refusal of ``harvest --out DIR`` still does.
    """

    reason: str
    command: str
    needs: str = ""
    plain: bool = False
    #: The command names no target (``harvester harvest SECRETS.toml --out DIR``): given
    #: what it needs, it replays every target set of DIR, so a resume line says it once for
    #: all the sets it is said for (:func:`said_once`).
    resumes_all: bool = False

    @property
    def line(self) -> str:
        """The command and what it needs, as a ``run:`` says it."""
        return commented(self.command, self.needs)

    @property
    def with_reason(self) -> str:
        """The command, then why and what it needs (``status``'s resume line); what it needs
        alone where the command says it all (:attr:`plain`)."""
        if self.plain:
            return self.line
        return commented(self.command, self.reason + ("; " + self.needs if self.needs else ""))


def commented(command: str, note: str) -> str:
    """``command`` with ``note`` after it as a shell comment (``CMD  # note``; no note: the
    command alone). Why: a printed command line is pasted into a shell whole, and a note
    in brackets after it (``CMD (the newest run ... was shard 2/4 of a split)``) was a
    syntax error there."""
    return f"{command}  # {note}" if note else command


def url_again_note(shown: str = "") -> str:
    """What ``URL`` stands for in a printed command whose ``--base-url`` held credentials:
    ``URL: <shown> with its user or session again`` (``shown``: the URL redacted or as
    saved; "" names none). Why ``URL``: a redacted URL pasted back asks the server with the
    word REDACTED as its session, and the saved one (no user, no query) as nobody."""
    return f"URL: {shown + ' ' if shown else ''}with its user or session again"


def secrets_again_note(
    missing: Sequence[str], *, url_in_file: bool = False, shown: str = ""
) -> str:
    """What a command must be given again of the credentials a run or plan used and never
    saved (``missing``: ``headers``, ``cookies``, ``base_url``), as the note after it:
    ``SECRETS.toml: headers = {...}, cookies = {...} again; URL: <shown> with its user or
    session again`` ("" for none). ``url_in_file``: the URL goes in SECRETS.toml too
    (``harvester slurm``, whose script would spell a ``--base-url`` out on every task's
    command line). ``shown``: the URL as saved (no credentials), so that the note says
    which server URL stands for."""
    in_file = [f"{key} = {{...}}" for key in missing if key in SECRET_KEYS]
    if "base_url" in missing and url_in_file:
        in_file.insert(0, "base_url with its user or session")
    notes = [f"SECRETS.toml: {', '.join(in_file)} again"] if in_file else []
    if "base_url" in missing and not url_in_file:
        notes.append(url_again_note(shown))
    return "; ".join(notes)


def failed_ids_command(out_dir: Path) -> str:
    """``harvester status DIR --failed-ids``: DIR's failed image ids, one a line."""
    return f"harvester status {shell_quote(str(out_dir))} --failed-ids"


def failed_ids_listing(out_dir: Path, servers: Sequence[str] = ()) -> str:
    """``: harvester status DIR --failed-ids``, the words a message points at DIR's failed
    image ids with; where they are of two or more ``servers`` (as saved: no credentials,
    which ``status`` needs none of), ``, one server's at a time: ... --base-url A and ...
    --base-url B``. Why: ``status --failed-ids`` refuses such a folder's one list (one
    server asked for the other's ids), so the plain command, pasted, only met that error."""
    plain = failed_ids_command(out_dir)
    if len(servers) < 2:
        return f": {plain}"
    each = [f"{plain} --base-url {shell_quote(server)}" for server in servers]
    return f", one server's at a time: {' and '.join(each)}"


def failed_ids_recipe(out_dir: Path, head: str = "", url: str = "", server: str = "") -> str:
    """The command that retries DIR's failed images by id, for ids that cannot be read
    again: ``status --failed-ids`` piped into a harvest of DIR (its server and kinds).

    ``head`` and ``url``: the config file word (`` SECRETS.toml``) and ``--base-url`` value
    (``URL``) of the credentials the set's run sent (:func:`_credentials_again`). Why: the
    pipe said without them, pasted alone, was refused as needing credentials (or asked
    as nobody), while the set's command beside it named them.

    ``server``: the set's server as saved, in a folder of two servers: both sides name it
    (``status --failed-ids --base-url S``: that server's failed images alone). Why: one
    list of both servers' ids, harvested from one, fetched the other's ids from it (other
    images, or failures); ``status`` now refuses that list."""
    q = shell_quote(str(out_dir))
    listing = failed_ids_command(out_dir)
    if server:
        listing += f" --base-url {shell_quote(server)}"
        url = url or shell_quote(server)
    harvest = f"harvester harvest{head} --out {q}" + (f" --base-url {url}" if url else "")
    return f"{listing} | {harvest} --ids-from -"


def server_failed_ids_recipe(out_dir: Path, sets: Sequence[RecordedRun], server: str) -> str:
    """:func:`failed_ids_recipe` of ``server``'s failed images alone (``server``: a URL as
    saved), with the credentials its newest target set of ``sets`` sent (``SECRETS.toml``,
    ``--base-url URL``) and the note saying what they stand for."""
    wanted = normal_base_url(server)
    own = next((r for r in sets if normal_base_url(r.base_url) == wanted), None)
    withheld = own.withheld if own is not None else []
    head = " SECRETS.toml" if any(key in SECRET_KEYS for key in withheld) else ""
    url = "URL" if "base_url" in withheld else ""
    recipe = failed_ids_recipe(out_dir, head, url, server)
    return commented(recipe, secrets_again_note(withheld, shown=server))


def failed_ids_servers(
    out_dir: Path,
    runs: Mapping[int, AbstractSet[str]],
    orders: Mapping[str, float],
    saved: SavedConfigs | None = None,
) -> dict[int, str]:
    """The server (its URL as saved: no credentials) of each failed image of DIR, by id:
    of the servers :func:`failed_ids_each_server` finds, the newest run's (an image failed
    from two servers counts as the newest's)."""
    return {
        image_id: servers[0]
        for image_id, servers in failed_ids_each_server(out_dir, runs, orders, saved).items()
    }


def failed_ids_each_server(
    out_dir: Path,
    runs: Mapping[int, AbstractSet[str]],
    orders: Mapping[str, float],
    saved: SavedConfigs | None = None,
) -> dict[int, list[str]]:
    """The servers (their URLs as saved: no credentials) whose runs failed each failed
    image of DIR, by id, the newest run's first, each once; ``runs``: the runs whose
    journals recorded its failures. An image whose runs saved no settings is left out (a
    folder of an older version: one server's).

    ``orders``: DIR's order of runs (:func:`harvester.journal.run_orders`), by which the
    newest is found; a run it lacks is the oldest. Why not by run id: an id holds its
    start second, then a random suffix, so the runs of one second (a quick rerun from the
    other server) were ordered by chance, and with them whose image an id was.

    Why: image ids are one server's, and ``status --failed-ids`` of a folder of two
    servers printed both servers' ids as one list, which piped into ``harvest --ids-from``
    fetched one server's ids from the other. ``saved``: the configs a caller read already
    (:func:`recorded_target_sets` read them all: read again here, they doubled the reads of
    ``status --failed-ids``)."""
    from harvester.journal import SavedConfigs

    saved = saved if saved is not None else SavedConfigs()
    urls: dict[str, tuple[str, str] | None] = {}  # run -> (normal URL, as saved)
    servers: dict[int, list[str]] = {}
    for image_id, image_runs in runs.items():
        newest_first = sorted(image_runs, key=lambda r: (orders.get(r, 0.0), r), reverse=True)
        found: dict[str, str] = {}
        for run in newest_first:
            if run not in urls:
                recorded = _read_recorded(out_dir, run, saved)
                url = recorded.base_url if recorded is not None else None
                urls[run] = None if url is None else (normal_base_url(url), url)
            if (known := urls[run]) is not None:
                found.setdefault(*known)
        if found:
            servers[image_id] = list(found.values())
    return servers


def read_run_server(out_dir: Path, run: str, saved: SavedConfigs | None = None) -> str | None:
    """The server ``run`` of DIR asked, as its saved settings name it (no credentials);
    None when they cannot be read or are not a harvest's."""
    recorded = _read_recorded(out_dir, run, saved)
    return None if recorded is None else recorded.base_url


def _secret_names(recorded: RecordedRun, key: str) -> str:
    names = recorded.config.get(key)
    listed = ", ".join(sorted(str(n) for n in names)) if isinstance(names, dict) else ""
    return f"{key} ({listed})" if listed else key


def replay_problem(
    recorded: RecordedRun,
    out_dir: Path,
    *,
    shard_given: str | None = None,
    secrets_given: frozenset[str] = frozenset(),
    which: str = "the newest run",
    settings: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    work_left: WorkLeft | None = None,
    resubmits: bool | None = None,
    array: tuple[int, int | None] | None = None,
    mixed: bool = False,
) -> ReplayProblem | None:
    """None when ``harvester harvest --out DIR`` does what the newest run's command did.

    ``which``: how the reason names the run (``an earlier run``: one of the other target
    sets of :func:`recorded_target_sets`). ``settings``: what a replay of it would run with
    (saved as :meth:`HarvestConfig.to_public` saves them: the saved settings with the flags
    given now on top) and ``config_file`` the config file given now, for the command said
    instead: ``--out DIR --max-retries 5`` must not suggest the saved ``--max-retries 0``.

    Not so, and the exact command(s) said instead of a guess:

    * the run was one shard of a split (``shard_given``: the ``K/N`` the command names,
      which settles it): resuming that shard alone would leave the others as they are, and
      running the split's images unsharded could meet a task still running; each shard
      (or the ``harvester slurm`` array, resubmitted) resumes its own images. With
      ``work_left`` (what ``status`` found, a split walked by its shards) the command
      names the shards with work left, up to :data:`MAX_SHARDS_NAMED`, one command each;
      else (a plan's split, whose images no journal holds yet) every shard.
      ``resubmits``: :func:`harvester.slurm.resubmit_resumes` when the caller asked it
      already (it reads ``harvest.sbatch``: once for every set); None: asked here;
      ``array``: that script's :func:`harvester.slurm.script_array` when the caller read
      it too (status); None: read here, when the resubmission is said;
    * its ids came from standard input, a pipe or ``<(cmd)`` (read once), or from a
      file that is gone: they must be given again (``mixed``: DIR's sets are of two
      or more servers, so the pipe of its failed images alone names this set's server);
    * it used credentials (``secrets_given``: those the command gives again), which
      are never saved: a resume without them would ask as nobody and record failures.

    A command said for a run that used credentials names them (``SECRETS.toml``,
    ``--base-url URL``) whether given now or not, and one for a shard keeps it: a command
    lacking either was refused in turn with a hint lacking the other, back and forth.
    """
    from harvester.shard import MAX_SHARDS_NAMED, shard_commands, split_count

    q = shell_quote(str(out_dir))
    run = recorded.run
    shard = recorded.shard
    if shard is not None and not shard_given:
        n = split_count(shard)
        from harvester.slurm import SCRIPT_NAME, resubmit_resumes, resume_line, script_array

        # (a plan's images are in no journal until reached: status counts the plan for them)
        known = work_left is not None and (
            work_left.covers_plan or not recorded.config.get("from_plan")
        )
        shards = work_left.shards(n) if work_left is not None and known and n else None
        from harvester.array_scripts import set_script

        # A folder of several selections: each set's own script (None: no script runs it).
        script = set_script(out_dir, recorded)
        if script is None:
            resubmits = False
        elif script.name != SCRIPT_NAME:
            resubmits, array = resubmit_resumes(out_dir, script), script_array(out_dir, script)
        if resubmits is None:
            resubmits = resubmit_resumes(out_dir)  # (a moved script writes the old folder)
        needs = ""
        if resubmits:  # (the script names the config file that holds the credentials)
            tasks = _array_tasks(out_dir, work_left if known else None, array, script)
            command = resume_line(out_dir, tasks, script)
        else:
            head, needs = _secrets_again(recorded, q)
            command = shard_commands(lambda s: f"{head} --shard {s}", shard, shards or [])
        why = f"{which} ({run}) was shard {shard} of a split"
        if not resubmits and shards and len(shards) > MAX_SHARDS_NAMED:
            why += f" ({len(shards)} of its shards have work left)"
        return ReplayProblem(why, command, needs, plain=bool(resubmits))
    ids = recorded.config.get("ids_from")
    once = recorded.ids_read_once
    gone = isinstance(ids, str) and once is None and not Path(ids).exists()
    if once is not None or gone:
        as_now = recorded if settings is None else replace(recorded, config=dict(settings))
        flags = recorded_flags(as_now)
        if "--ids-from" in flags:
            flags[flags.index("--ids-from") + 1] = "-" if once == "-" else "FILE"
        head, flags, secrets = _credentials_again(recorded, flags, config_file)
        command = f"harvester harvest{head} --out {q} {shell_join(flags)}"
        if once == "-":
            what = "standard input"
            needs = "the same ids on standard input again"
        else:
            what = str(ids)
            needs = "FILE: the same ids again"
        # (a config file given now only where it stands for credentials the run sent:
        # given for other settings, it is the user's to add; the pipe said without it)
        sent = any(key in SECRET_KEYS for key in recorded.withheld)
        url = "URL" if "base_url" in recorded.withheld else ""
        server = recorded.base_url if mixed else ""
        recipe = failed_ids_recipe(out_dir, head if sent else "", url, server)
        needs += f", or for the failed images alone: {recipe}"
        needs = f"{secrets}; {needs}" if secrets else needs
        why = "which is gone" if gone else "which cannot be read again"
        return ReplayProblem(
            f"{which} ({run}) read its image ids from {what}, {why}", command, needs
        )
    missing = [key for key in recorded.withheld if key not in secrets_given]
    if missing:
        said = [
            "credentials in its --base-url" if key == "base_url" else _secret_names(recorded, key)
            for key in missing
        ]
        command, needs = _secrets_again(recorded, q)
        if shard_given is not None:
            command += f" --shard {shard_given}"
        return ReplayProblem(
            f"{which} ({run}) sent {' and '.join(said)}, which are never saved",
            command,
            needs,
            resumes_all=shard_given is None,
        )
    return None


def _has_work(work_left: WorkLeft | None) -> bool:
    """Whether a set's work left (:class:`WorkLeft`) names anything: unknown (None) counts."""
    if work_left is None:
        return True
    return bool(work_left.walks or work_left.ids or work_left.unreached)


def _credentials_again(
    recorded: RecordedRun, flags: list[str], config_file: Path | None
) -> tuple[str, list[str], str]:
    """The config file word (`` SECRETS.toml``, or `` FILE`` given now), ``flags`` with
    ``--base-url URL``, and the note saying what they stand for, for a command that gives
    ``recorded``'s targets again and the credentials it used (never saved). Why: a set of
    ids piped in that sent cookies or a URL's user was said without them (its saved URL, no
    user), and the command pasted asked as nobody, every private image failed."""
    withheld = recorded.withheld
    in_file = [key for key in withheld if key in SECRET_KEYS]
    if config_file is not None:  # (what the file given now holds is the user's word)
        head, in_file = f" {shell_quote(str(config_file))}", []
    else:
        head = " SECRETS.toml" if in_file else ""
    said = in_file + (["base_url"] if "base_url" in withheld else [])
    if "base_url" in withheld:
        flags = list(flags)
        if "--base-url" in flags:
            flags[flags.index("--base-url") + 1] = "URL"
        else:
            flags[:0] = ["--base-url", "URL"]
    return head, flags, secrets_again_note(said, shown=recorded.base_url)


def _secrets_again(recorded: RecordedRun, quoted_out: str) -> tuple[str, str]:
    """``harvester harvest [SECRETS.toml] --out DIR [--base-url URL]`` for a resume of
    ``recorded``, naming every credential it used (never saved), and the note saying what
    they stand for ("" for a run that used none)."""
    withheld = recorded.withheld
    tables = [key for key in withheld if key in SECRET_KEYS]
    command = "harvester harvest" + (" SECRETS.toml" if tables else "") + f" --out {quoted_out}"
    if "base_url" in withheld:
        command += " --base-url URL"
    return command, secrets_again_note(withheld, shown=recorded.base_url)


def _array_tasks(
    out_dir: Path,
    work_left: WorkLeft | None,
    array: tuple[int, int | None] | None,
    script: Path | None = None,
) -> str | None:
    """``--array`` for the tasks of ``DIR/harvest.sbatch`` with work left (``1,3``, with
    the script's ``%M`` when more than M), so that a resubmission starts only those; None
    (the whole array) when that is every task, or when the work left is not known by the
    script's shards (a walk of another split that did not list everything). ``array``: the
    script's array line as the caller read it; None: read here (from ``script``, where it
    is not ``harvest.sbatch``)."""
    from harvester.shard import shard_pair
    from harvester.slurm import array_spec, script_array

    if work_left is None:
        return None
    if array is None:
        array = script_array(out_dir, script)
    if array is None:
        return None
    tasks, parallel = array
    shards = [shard_pair(s) for s in work_left.shards(tasks)]
    ks = [pair[0] for pair in shards if pair is not None and pair[1] == tasks]
    if not ks or len(ks) != len(shards) or len(ks) == tasks:
        return None
    return array_spec(ks, parallel)


def replay_which(index: int) -> str:
    """How a resume names the run of the ``index``-th target set (newest first) it replays."""
    return "the newest run" if index == 0 else "an earlier run"


#: Between the commands of a resume: a line each (``  also: CMD  # why; what to give
#: again``). Why: a command's note is a shell comment, which ends only with its line; joined
#: by "; also: " on one line, a pasted resume ran the first command, then failed on
#: ``also:``, and every later command stood inside the first one's comment.
ALSO = "\n  also: "

#: The target sets that cannot be replayed that ``status``'s resume line names one by one.
MAX_RESUME_COMMANDS = 3


def said_once(problems: list[ReplayProblem]) -> list[str]:
    """A line for each problem (:attr:`ReplayProblem.with_reason`), but one for all those
    whose command is the same and resumes every set (:attr:`ReplayProblem.resumes_all`), at
    the first one's place, with every reason and what it needs once. Why: two sets that sent
    cookies printed ``harvester harvest SECRETS.toml --out DIR`` twice, as if it had to be
    run twice, when one run of it resumes both. Only where what it needs is the same too:
    ``--base-url URL`` for two sets of two servers is two commands (each ``URL`` its own
    server's), which one line said as one, with two meanings of ``URL`` in its note.
    A line that says it all (:attr:`ReplayProblem.plain`, a resubmission) is said once."""
    groups: dict[tuple[str, str], list[ReplayProblem]] = {}
    order: list[ReplayProblem | tuple[str, str]] = []
    plain_said: set[str] = set()
    for problem in problems:
        if problem.plain and problem.line in plain_said:
            # The same resubmission of DIR's job array for two sets split alike (two
            # arrays of different targets into one folder): it printed "to resume: CMD" and
            # "also: CMD", one array resubmitted twice, each shard run twice at once.
            continue
        if problem.plain:
            plain_said.add(problem.line)
        if not problem.resumes_all:
            order.append(problem)
            continue
        key = (problem.command, problem.needs)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(problem)
    return [
        (entry if isinstance(entry, ReplayProblem) else merged_problem(groups[entry])).with_reason
        for entry in order
    ]


def merged_problem(group: list[ReplayProblem]) -> ReplayProblem:
    """One problem for ``group``, sets whose command and what it needs are the same, and
    which it resumes all (:attr:`ReplayProblem.resumes_all`): every reason (the first
    :data:`MAX_RESUME_COMMANDS`, then how many more), and what they need once. ``status``
    (:func:`said_once`) and the refusal of ``harvester harvest --out DIR`` say it."""
    reasons = [p.reason for p in group[:MAX_RESUME_COMMANDS]]
    if len(group) > MAX_RESUME_COMMANDS:
        reasons.append(f"so did {len(group) - MAX_RESUME_COMMANDS} more target sets")
    return ReplayProblem("; ".join(reasons), group[0].command, group[0].needs, resumes_all=True)


def resume_command(
    out_dir: Path,
    work_left: WorkLeft | None = None,
    *,
    sets: list[RecordedRun] | None = None,
    resubmits: bool | None = None,
    array: tuple[int, int | None] | None = None,
    by_set: Mapping[str, WorkLeft] | None = None,
) -> str:
    """The shortest command that resumes DIR, as ``status`` and ``verify`` print it:
    ``harvester harvest --out DIR`` when the settings of one of its target sets can be
    replayed (see :func:`recorded_target_sets` and :func:`replay_problem`), then, for each
    set that cannot, the command(s) that resume it, with why, each on a line of its own
    (:data:`ALSO`).
    ``work_left``: where a split still has work (``status``), for its shards' commands.
    ``sets``: DIR's :func:`recorded_target_sets` when the caller read them already (every
    saved config of DIR: ``status`` read each twice); None: read here. ``resubmits`` and
    ``array``: as :func:`replay_problem` takes them, ``resubmits`` asked here once for every
    split set when None. ``by_set``: each set's own work left (run of its newest run ->
    :class:`WorkLeft`), where ``status`` told it (a folder of several selections' job-array
    scripts): a split set with none is left out, the others resubmit their own shards."""

    if sets is None:
        sets = recorded_target_sets(out_dir)
    if not sets:
        return (
            "the harvest command that made it, again (no run's settings are saved in "
            f"{shell_quote(str(out_dir / 'runs'))})"
        )
    if resubmits is None and any(r.shard is not None for r in sets):
        from harvester.slurm import resubmit_resumes

        resubmits = resubmit_resumes(out_dir)
    mixed = len(servers_of(sets)) > 1
    own = {
        r.run: by_set[r.run] if by_set is not None and r.run in by_set else work_left for r in sets
    }
    said_for = [
        (n, r)
        for n, r in enumerate(sets)
        if by_set is None or r.shard is None or _has_work(own[r.run])
    ] or list(enumerate(sets))  # (none told apart: every set, as before)
    problems = [
        replay_problem(
            r,
            out_dir,
            which=replay_which(n),
            work_left=own[r.run],
            resubmits=resubmits,
            array=array,
            mixed=mixed,
        )
        for n, r in said_for
    ]
    said = said_once([p for p in problems if p is not None])
    more = len(said) - MAX_RESUME_COMMANDS
    if more > 0:  # (ids read once are a set per run: a folder may hold dozens)
        q = shell_quote(str(out_dir))
        said[MAX_RESUME_COMMANDS:] = [
            f"{more} more target sets that cannot be replayed (harvester harvest --out {q} "
            "names each)"
        ]
    if any(p is None for p in problems):
        said.insert(0, f"harvester harvest --out {shell_quote(str(out_dir))}")
    return ALSO.join(said)

"""Screens and projects named as IDR shows them: ``--screen idr0056`` -> screen ids.

Users copy ``idr0056-stojic-lncrnas/screenB``, or just the study ``idr0056``, from the
IDR website; the harvest needs the numeric id. A name (anything not all digits) selects
every screen (project) whose name equals it or starts with it followed by ``-`` or ``/``,
case-insensitively: ``idr0056`` is every screen of study idr0056, the whole name is that
one screen, and ``idr005`` is none (``6`` follows). A name ending in ``-`` or ``/``
(``idr0056-stojic-lncrnas/``) is read without it.

Resolution happens once per run, after the server check and before the targets are
checked (:meth:`harvester.pipeline.Harvest._run_stages`, :func:`harvester.plan.plan_targets`),
with one paged listing per kind that has names (IDR: one request each). The run goes on
with ids only, so what it saves (``runs/<id>/config.json``, sample keys, plans) holds ids
and a resume never looks names up again. A name that matches nothing is a
:class:`~harvester.errors.UsageError` (exit 2, as an unknown id) naming the nearest names,
before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester import urls
from harvester.client import Client, Expect
from harvester.config import HarvestConfig, name_key
from harvester.errors import (
    FetchError,
    HarvesterError,
    RemoteError,
    UsageError,
    redact_url,
    unavailable,
    with_status,
)
from harvester.text import plural, quoted, shown  # (shown: names in messages, escaped and cut)

if TYPE_CHECKING:
    from harvester.session import SessionWatch

__all__ = [
    "ids_of_names",
    "matches",
    "named_as",
    "nearest_names",
    "resolve_target_names",
    "shown",
]

#: A listing answer of more pages than this is not a server's list of studies (a loop guard).
MAX_PAGES = 1000
#: Matches named in the line that says what a name resolved to (the rest are counted).
MAX_SHOWN = 10

#: kind -> (config field of ids, field of names, flag, listing URL builder)
_KINDS: dict[str, tuple[str, str, str, Callable[[int], str]]] = {
    "screen": ("screens", "screen_names", "--screen", urls.screens),
    "project": ("projects", "project_names", "--project", urls.projects),
}


def named_as(kind: str, config_file: Path | None = None) -> str:
    """Where the user wrote ``kind``'s names, as messages name it: the flag
    (``--screen``), or the config file's key (``c.toml: screens``) when they came from a
    config file. Someone who wrote ``screens = [...]`` in a file looks for that line, not
    for a flag they never typed."""
    ids_key, _names_key, flag, _page = _KINDS[kind]
    return flag if config_file is None else f"{shown(str(config_file), limit=None)}: {ids_key}"


def _key(name: str) -> str:
    """A name as compared: blanks and a trailing ``-`` or ``/`` dropped, case folded."""
    return name_key(name)


def matches(name: str, candidate: str) -> bool:
    """Does ``name`` (the user's) select ``candidate`` (a server's screen or project name)?

    Equal, or ``candidate`` starts with it followed by ``-`` or ``/``; case-insensitive.
    """
    key, other = _key(name), candidate.casefold()
    if not key:
        return False
    if other == key or other.rstrip("-/") == key:
        return True
    return other.startswith(key) and other[len(key)] in "-/"


def nearest_names(name: str, names: Sequence[str], n: int = 3) -> list[str]:
    """The names closest to ``name`` (difflib), shown as the user could type them.

    Compared with each whole name and with its study parts (``idr0056``,
    ``idr0056-stojic-lncrnas``): a short name is near a study, not a long name.
    """
    import difflib  # only on this error path

    forms: dict[str, str] = {}
    for full in names:
        study, slash, _rest = full.partition("/")
        parts = [study.partition("-")[0], study, full] if slash else [study.partition("-")[0], full]
        for form in parts:
            if form:
                forms.setdefault(form.casefold(), form)
    near = difflib.get_close_matches(_key(name), list(forms), n=n, cutoff=0.6)
    return [forms[form] for form in near]


async def _list_names(
    client: Client, kind: str, watch: SessionWatch | None = None
) -> list[tuple[int, str]]:
    """Every (id, name) of ``kind`` on the server: pages of ``api/v0/m/{kind}s/``.
    ``watch``: a private run's, for a refusal that shows its session ended (see
    :func:`harvester.walk.preflight`)."""
    page = _KINDS[kind][3]
    found: list[tuple[int, str]] = []
    offset = 0
    server = redact_url(client.settings.base_url.partition("?")[0])
    for _ in range(MAX_PAGES):
        try:
            fetched = await client.get(page(offset), Expect.JSON)
        except FetchError as exc:
            if watch is not None:  # (its module only on this error path of a private run)
                from harvester.session import raise_if_ended

                await raise_if_ended(watch, exc)
            # As the targets' check says it: busy is "try later" (exit 75); else exit 2.
            busy = unavailable(
                server,
                exc,
                f" (listing the {kind}s to look names up)",
                honoured=client.retry.max_retry_after,
            )
            if busy is not None:
                raise busy from None
            raise RemoteError(
                f"cannot list the {kind}s of {server} to look up names: "
                f"{shown(with_status(exc.status, exc.reason))}",
                hint=f"give the {kind} id instead of its name",
            ) from None
        body: Any = fetched.json()
        data = body.get("data") if isinstance(body, dict) else None
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise RemoteError(
                f"cannot list the {kind}s of {server} to look up names: no 'data' in its answer",
                hint=f"give the {kind} id instead of its name",
            )
        for item in data:
            if not isinstance(item, dict):
                continue
            object_id, name = item.get("@id"), item.get("Name")
            if isinstance(object_id, int) and not isinstance(object_id, bool):
                found.append((object_id, name if isinstance(name, str) else ""))
        offset += len(data)
        total = meta.get("totalCount") if isinstance(meta, dict) else None
        if not data or not isinstance(total, int) or offset >= total:
            break
    return found


async def resolve_target_names(
    cfg: HarvestConfig,
    client: Client,
    *,
    say: Callable[[str], None] | None = None,
    watch: SessionWatch | None = None,
) -> HarvestConfig:
    """``cfg`` with its screen and project names replaced by the ids they select.

    One listing per kind that has names (none at all without names: ``cfg`` is returned
    as it is). Says one line per name (``--screen idr0056: screen 2302 (...)``) through
    ``say`` (the command line's: it prints them on standard error unless ``--quiet``;
    None says nothing). Ids already given come first, then each name's, each id once. A
    name that selects nothing: UsageError with the nearest names, before the caller
    writes anything. With ``from_plan`` nothing is listed (the plan's images are the run's).
    ``watch``: a private run's (see :func:`harvester.walk.preflight`).
    """
    if not (cfg.screen_names or cfg.project_names):
        return cfg
    if cfg.from_plan is not None:  # the plan's images are the run's: targets are not walked
        return dataclasses.replace(cfg, screen_names=(), project_names=())
    changes: dict[str, Any] = {}
    for kind, (ids_key, names_key, _flag, _page) in _KINDS.items():
        names: tuple[str, ...] = getattr(cfg, names_key)
        if not names:
            continue
        ids: list[int] = list(getattr(cfg, ids_key))
        config_file = cfg.names_file.get(ids_key)
        named = await ids_of_names(
            client, kind, names, say=say, config_file=config_file, watch=watch
        )
        for selected in named.values():
            ids.extend(selected)
        changes[ids_key] = tuple(dict.fromkeys(ids))
        changes[names_key] = ()
    return dataclasses.replace(cfg, **changes)


async def ids_of_names(
    client: Client,
    kind: str,
    names: Sequence[str],
    *,
    say: Callable[[str], None] | None = None,
    config_file: Path | None = None,
    watch: SessionWatch | None = None,
) -> dict[str, list[int]]:
    """Each name of ``kind`` ("screen", "project") -> the ids it selects, from one listing.

    Says one line per name through ``say``; a name that selects nothing is a UsageError
    naming the nearest names (see :func:`resolve_target_names`). ``config_file``: the
    file whose key gave the names (:func:`named_as`), None for the flag; ``watch``: see
    :func:`resolve_target_names`.
    """
    flag = named_as(kind, config_file)
    listed = await _list_names(client, kind, watch)
    found: dict[str, list[int]] = {}
    for name in names:
        chosen = [(i, n) for i, n in listed if matches(name, n)]
        if not chosen:
            raise await _no_match(
                client, kind, flag, name, [n for _i, n in listed], in_file=config_file is not None
            )
        found[name] = [i for i, _n in chosen]
        said = ", ".join(f"{i} ({shown(n)})" for i, n in chosen[:MAX_SHOWN])
        if len(chosen) > MAX_SHOWN:
            said += f" and {len(chosen) - MAX_SHOWN} more"
        noun = kind if len(chosen) == 1 else f"{len(chosen)} {kind}s"
        if say is not None:
            say(f"{flag} {shown(name)}: {noun} {said}")
    return found


async def _no_match(
    client: Client, kind: str, flag: str, name: str, listed: list[str], *, in_file: bool
) -> UsageError:
    """The one-line error of a name that selects nothing: the nearest names in the hint,
    or the other kind's flag (``in_file``: its config key) when the name is a project's
    (a screen's) instead. That costs one more listing, on this error path only."""
    shown_name = shown(name)
    error = UsageError(f"{flag} {quoted(name)}: no {kind} of that name on the server")
    other = "project" if kind == "screen" else "screen"
    with contextlib.suppress(HarvesterError):  # the hint is a help, not the error
        theirs = [(i, n) for i, n in await _list_names(client, other) if matches(name, n)]
        if theirs:
            first_id, first_name = theirs[0]
            move = (
                f"list it in {_KINDS[other][0]}, not {_KINDS[kind][0]}"
                if in_file
                else f"use {_KINDS[other][2]} {shown_name}"
            )
            error.hint = (
                f"{quoted(name)} names {plural(len(theirs), other)}, e.g. {first_id} "
                f"({shown(first_name)}): {move}"
            )
            return error
    if not listed:
        error.hint = f"the server lists no {kind}s; give a {kind} id"
        return error
    near = nearest_names(name, listed)
    if near:
        hint = "nearest: " + ", ".join(quoted(n) for n in near)
    elif len(listed) <= 3:
        hint = f"the server's {kind}s: " + ", ".join(quoted(n) for n in listed)
    else:
        hint = f"none of the server's {len(listed)} {kind}s is near"
    error.hint = hint + (
        f" (a name selects the {kind}s named so, or starting with it then '-' or '/';"
        f" or give the {kind} id)"
    )
    return error

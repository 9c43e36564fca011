"""``harvester forget DIR TARGETS``: stop resuming one target set of DIR, keeping its files;
``harvester forget DIR --gone-ids-from FILE``: stop asking for some images of DIR.

A set whose target is gone from the server (an image deleted, a plate removed) after its
runs did work is kept by ``harvester harvest --out DIR``, which is refused for it on every
resume (exit 2); its refusal's hint names this command. The set is named by its targets,
exactly as that hint and ``status`` give them, not by a number: a set's number changes as
sets are added, run again or forgotten, and a stale number would forget another set.

An image deleted from the server answers 404 to every request: its set failed every resume
(exit 1 for ever) though 9,997 of its 10,000 images were done. ``--gone-ids-from`` records
such images (:mod:`harvester.gone`), each with the server that failed it, taking only
failed images of DIR whose latest answer was "not there" (``--force``: any failed image),
so that a server down for an hour (503s, timeouts) is never mistaken for images gone for
good, nor a 404 another hint explains (a thumbnail size the server lacks): the others given
are said on a ``note:`` line and left, so that ``status --failed-ids`` piped in records
those that are gone. The failures of a folder of imgdata, render or stack alone never
qualify: they ask imgData first, which answers a deleted image 403, as a private one;
``--check-server`` asks the server's JSON API about those (404 for an image it lacks),
and without it ``forget`` asks no server. ``--undo`` takes them back.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.cli.harvest import add_target_flags, folder_arg, say_note, target_overrides
from harvester.shell_words import shell_join, shell_quote

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from collections.abc import Set as AbstractSet

    from harvester.config import RecordedRun
    from harvester.gone import GoneImage
    from harvester.walk import LinkServers

__all__ = ["register"]

#: The sets an error lists by name (the rest are counted).
MAX_LISTED_SETS = 5
#: Why a screen or project name matched no set: forget asks no server.
NAMES_NOT_LOOKED_UP = (
    "a name is not looked up on the server: forget knows only those its runs were given "
    "and its study records hold; give the set's ids"
)


def register(subparsers: Any) -> None:
    """Add ``forget``."""
    forget = subparsers.add_parser(
        "forget",
        help="stop resuming one target set of DIR (a target gone from the server); its files stay",
        description="Take one target set out of `harvester harvest --out DIR` and `status`: "
        "name it by its targets, as a resume's refusal names it. Its files, journals and "
        "index.csv rows stay. A later harvest given the same targets resumes it again.",
    )
    forget.add_argument("out", type=folder_arg, metavar="DIR", help="the harvest folder")
    add_target_flags(forget)
    forget.add_argument("--ids-from", type=Path, metavar="FILE", help="the set's ids file")
    forget.add_argument("--from-plan", type=folder_arg, metavar="DIR", help="the set's plan")
    forget.add_argument(
        "--where", action="append", metavar="KEY=VALUE", help="the set's --where terms"
    )
    forget.add_argument("--sample-per", metavar="KEY", help="the set's --sample-per key")
    forget.add_argument(
        "--base-url",
        metavar="URL",
        help="the set's server, where two servers' runs had the same targets (default: the "
        "server of the set's newest run); with --gone-ids-from and --undo, take back that "
        "server's records alone",
    )
    gone = forget.add_argument_group(
        "images gone from the server (instead of a target set)",
        "Stop asking for some failed images of DIR (deleted from the server: they answer "
        "404 or 410), every target set of DIR still resumed: harvester status DIR "
        "--failed-ids | harvester forget DIR --gone-ids-from -",
    )
    gone.add_argument(
        "--gone-ids-from",
        metavar="FILE",
        help="their image ids, one a line, as --ids-from reads them (an image link: of DIR's "
        "server only); '-': standard input",
    )
    gone.add_argument(
        "--force",
        action="store_true",
        help="also record images whose latest failures do not say they are gone (a 503, a "
        "timeout, imgData's 403, a 404 another hint explains; without it they are left, "
        "said on a note: line)",
    )
    gone.add_argument(
        "--check-server",
        action="store_true",
        help="ask the server once per image whose failures cannot tell (imgData's 403: an "
        "imgdata, render or stack folder) at its JSON API, and record those it answers 404",
    )
    gone.add_argument(
        "--undo", action="store_true", help="ask for those images again (take them off the list)"
    )
    forget.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    forget.set_defaults(run=run_forget_command)


def run_forget_command(args: argparse.Namespace) -> int:
    """``harvester forget DIR TARGETS``: 0 forgotten (or already), 2 no such set or DIR,
    75 another harvest of DIR runs (wait for it: it may be running this very set), 1 a
    full disk (its hint: free space, then run the same command again; forget resumes
    nothing)."""
    from harvester.errors import StorageError
    from harvester.store import retold_storage_error

    try:
        return _forget(args)
    except StorageError as exc:
        raise retold_storage_error(exc) from exc.__cause__


def _forget(args: argparse.Namespace) -> int:
    """:func:`run_forget_command`, its storage errors worded as a harvest's."""
    from datetime import UTC, datetime  # (not at the top: only forget needs it)

    from harvester.config import (
        RecordedRun,
        normal_base_url,
        recorded_runs_of_set,
        recorded_target_sets,
        target_flags,
        target_set,
    )
    from harvester.errors import UsageError
    from harvester.forgotten import FORGOTTEN_NAME, ForgottenSet, add_forgotten
    from harvester.runlock import release_run_lock
    from harvester.store import (
        check_existing_out_dir,
        refuse_unstarted_array,
        scrub_folder_credentials,
        storage_error,
    )

    out: Path = args.out
    if args.gone_ids_from is None and args.undo and _named_set(args) is not None:
        raise _undo_of_a_set(args, out)
    if args.gone_ids_from is None and (args.force or args.undo or args.check_server):
        flag = "--force" if args.force else "--undo" if args.undo else "--check-server"
        raise UsageError(
            f"{flag} goes with --gone-ids-from FILE (images gone from the server)",
            hint=f"harvester forget {shell_quote(str(out))} --gone-ids-from FILE {flag}",
        )
    chosen = [
        flag
        for flag, given in (
            ("--force", args.force),
            ("--check-server", args.check_server),
            ("--undo", args.undo),
        )
        if given
    ]
    if len(chosen) > 1:  # each is a different answer to "which of these are gone?"
        raise UsageError(
            f"{chosen[0]} and {chosen[1]} do not go together: give one",
            hint="--force records the images without asking anything, --check-server asks "
            "the server first, --undo takes them back",
        )
    refuse_unstarted_array(out, "forget")  # (a folder harvester slurm prepared)
    check_existing_out_dir(out)
    scrub_folder_credentials(out)  # a token saved before 0.1.13 (its runs are read below)
    named = _named_set(args)
    if args.gone_ids_from is not None:
        if args.base_url and not args.undo:
            raise UsageError(
                "--base-url goes with --gone-ids-from only beside --undo (take back that "
                "server's records alone)",
                hint="the ids recorded are each of the server whose runs failed them",
            )
        if named is not None:
            raise UsageError(
                "--gone-ids-from names images, not a target set: give one or the other",
                hint="the images' sets are still resumed; to forget a whole set, name its "
                "targets without --gone-ids-from",
            )
        return _forget_gone_images(
            out,
            args.gone_ids_from,
            force=args.force,
            undo=args.undo,
            check=args.check_server,
            server=args.base_url,
        )
    if named is None:
        raise UsageError("name the target set to forget by its targets", hint=_sets_hint(out, None))
    key = target_set(RecordedRun("", named))
    flags = shell_join(target_flags(RecordedRun("", named)))
    lock = _lock_folder(out)
    try:
        sets = recorded_target_sets(out, forgotten=True)
        found = [s for s in sets if target_set(s) == key]
        if not found and (
            found := _given_names_set(out, named, sets) or _study_names_set(out, named, sets)
        ):
            # Named as one of its runs named it, or as DIR's study records name its
            # screens: the set is said by its ids, as saved.
            key, flags = target_set(found[0]), shell_join(target_flags(found[0]))
        if not found:
            why = f" ({NAMES_NOT_LOOKED_UP})" if _has_names(named) else ""
            raise UsageError(f"{out} has no target set {flags}{why}", hint=_sets_hint(out, flags))
        runs = recorded_runs_of_set(out, key)
        found = _newest_of_each_server(found[0], runs)
        _check_link_server(args, out, flags, found, sets)
        _check_given_server(args, out, flags, found)
        forgetting = _set_of_link_server(args, found)
        server = normal_base_url(forgetting.base_url)
        mine = tuple(run.run for run in runs if normal_base_url(run.base_url) == server)
        entry = ForgottenSet(key, flags, mine, datetime.now(UTC), forgetting.base_url)
        try:
            added = add_forgotten(out, entry)
        except OSError as exc:
            raise storage_error(exc, str(out / FORGOTTEN_NAME)) from exc
    finally:
        release_run_lock(lock)
    again = _again_command(out, forgetting)
    # (ids are one server's: where another server's runs had the same targets, that set
    # stays as it was, and the line says whose was forgotten)
    of = f" of {forgetting.base_url}" if len(found) > 1 else ""
    if not added:
        print(
            f"{out}: the target set {flags}{of} is forgotten already; to resume it again: {again}"
        )
        return 0
    print(
        f"{out}: forgot the target set {flags}{of}: resumes and status leave it out, its "
        f"files, journals and index.csv rows stay; to undo, run its targets again: {again}"
    )
    return 0


def _undo_of_a_set(args: argparse.Namespace, out: Path) -> Exception:
    """The refusal of ``--undo`` beside a target set's targets: a forgotten set comes back
    by a harvest given its targets, said with the command that does it where DIR has the
    set (the one ``forget`` printed), else how to find it.

    Why: a user who had forgotten a set typed the same command with ``--undo``, and was
    told to give ``--gone-ids-from FILE``, which is about images, not sets. A set DIR has
    that is not forgotten is said to be live (it was offered the harvest that takes it back,
    as if it were forgotten)."""
    from harvester.config import (
        RecordedRun,
        forgotten_entry,
        recorded_target_sets,
        target_flags,
        target_set,
    )
    from harvester.errors import UsageError
    from harvester.forgotten import read_forgotten

    error = "--undo takes back images recorded by --gone-ids-from, not a target set"
    named = _named_set(args)
    found: list[RecordedRun] = []
    live = False
    if named is not None and (out / "runs").is_dir():
        key = target_set(RecordedRun("", named))
        with contextlib.suppress(OSError, ValueError):
            found = [s for s in recorded_target_sets(out, forgotten=True) if target_set(s) == key]
            gone = read_forgotten(out)
            live = bool(found) and all(forgotten_entry(s, gone) is None for s in found)
    back = "a forgotten target set comes back when a harvest is given its targets"
    if live:
        targets = shell_join(target_flags(found[0]))
        hint = f"{targets} is not forgotten in {shell_quote(str(out))}: nothing to take back"
    elif found:
        hint = f"{back}: {_again_command(out, found[0])}"
    else:
        hint = f"{back} (harvester status {shell_quote(str(out))} names the forgotten ones)"
    return UsageError(error, hint=hint)


def _newest_of_each_server(newest: RecordedRun, runs: list[RecordedRun]) -> list[RecordedRun]:
    """The newest run of a target set for each server its ``runs`` (oldest first, in DIR's
    order of runs: :func:`harvester.config.recorded_runs_of_set`) were of: ``newest`` (the
    one resumes see) first, then each other server's last run in that order (by run id,
    the runs of one second were ordered by chance).

    Why: a target set is named by its ids, and ids are one server's: ``--project 51`` of
    two servers harvested into one folder is two sets of images, forgotten each on its own
    (forgetting one forgot both, and a run of either took both back)."""
    from harvester.config import normal_base_url

    each = {normal_base_url(newest.base_url): newest}
    for run in reversed(runs):
        each.setdefault(normal_base_url(run.base_url), run)
    return list(each.values())


def _set_of_link_server(args: argparse.Namespace, found: list[RecordedRun]) -> RecordedRun:
    """Of ``found`` (a set's newest run of each server, the one resumes see first), the one
    of the server of the targets' links (``--project URL``: checked by
    :func:`_check_link_server`), else the first."""
    from harvester.cli.harvest import _one_link_server
    from harvester.config import normal_base_url

    links = getattr(args, "target_links", None) or []
    given = getattr(args, "base_url", None)
    if links or given:
        server = normal_base_url(_one_link_server(links) if links else str(given))
        for recorded in found:
            if normal_base_url(recorded.base_url) == server:
                return recorded
    return found[0]


def _check_link_server(
    args: argparse.Namespace,
    out: Path,
    flags: str,
    found: list[RecordedRun],
    sets: list[RecordedRun],
) -> None:
    """Refuse (UsageError, nothing forgotten) targets given as links (``--image URL``) of
    another server than that of the set they name (``found``); ``sets``: DIR's, whose
    servers the error names.

    Why: a target set is named by its ids, and ids are one server's: in a folder of two
    servers, a link of either forgot the set of the other's image of that id (and a link
    of a server DIR never asked forgot DIR's set alike)."""
    from harvester.cli.harvest import _one_link_server
    from harvester.config import normal_base_url, servers_of
    from harvester.errors import UsageError

    links = getattr(args, "target_links", None) or []
    if not links:
        return
    server = _one_link_server(links)
    theirs = servers_of(found)
    if normal_base_url(server) in theirs:
        return
    raise UsageError(
        f"the link given to {links[0].flag} is of {server}, but the target set {flags} is of "
        f"{' or '.join(theirs.values())} (of {_servers_said(out, servers_of(sets).values())})",
        hint="image ids are one server's: the link's objects are another server's, not those "
        f"of {out}; give a link of the set's server, or its ids",
    )


def _check_given_server(
    args: argparse.Namespace, out: Path, flags: str, found: list[RecordedRun]
) -> None:
    """Refuse (UsageError, nothing forgotten) a ``--base-url`` none of whose runs of the set
    (``found``, each server's newest) asked, or one beside a link of another server.

    Why ``--base-url``: a server that moved (its targets harvested again from its new
    address) left a set of its old address that each resume replays in vain; its
    ``not resumed:`` line names this command to retire it."""
    from harvester.cli.harvest import _one_link_server
    from harvester.config import normal_base_url, servers_of
    from harvester.errors import UsageError, redact_base_url

    given = getattr(args, "base_url", None)
    if not given:
        return
    links = getattr(args, "target_links", None) or []
    if links and normal_base_url(_one_link_server(links)) != normal_base_url(given):
        raise UsageError(
            f"--base-url {shell_quote(redact_base_url(given))} is not the server of the link "
            "given to "
            f"{links[0].flag}",
            hint="give one of them",
        )
    theirs = servers_of(found)
    if normal_base_url(given) not in theirs:
        raise UsageError(
            f"{out} has no target set {flags} harvested from {redact_base_url(given)}: it was "
            f"harvested from {' and '.join(theirs.values())}",
            hint=f"give --base-url {' or '.join(map(shell_quote, theirs.values()))}, or leave "
            "it out",
        )


def _lock_folder(out: Path) -> int | None:
    """DIR's run lock (without ``--shard``), so that no harvest runs or starts meanwhile:
    none is replaying the set or running its targets again while it is forgotten.

    Held by any harvest, DIR is :class:`FolderBusyError` (exit 75: wait for it). A shard of
    a job array holds a lock of its own, which the run lock's check refuses as another
    split (exit 2, "shards of different counts ... use its --shard count"): words for a
    harvest given the wrong ``--shard``, not for ``forget``, which only has to wait too.
    """
    from harvester.errors import FolderBusyError, UsageError
    from harvester.runlock import acquire_run_lock, other_split_holding

    wait = "wait for it to end, then forget the set (it may be harvesting it now)"
    try:
        # Said in the lock file: a harvest refused meanwhile is told it is no harvest.
        return acquire_run_lock(out, None, doing="harvester forget")
    except FolderBusyError as exc:
        exc.hint = wait
        raise
    except UsageError as exc:
        holder = other_split_holding(out, None)
        if holder is None:  # (ended meanwhile: the refusal as it was, a wait all the same)
            raise FolderBusyError(str(exc), hint=wait) from None
        raise FolderBusyError(
            f"{out} is being harvested by another process {holder}", hint=wait
        ) from None
    except OSError as exc:  # (a read-only DIR, one not ours: said with forget's own hint)
        from harvester.runlock import LOCKS_DIR
        from harvester.store import storage_error

        raise storage_error(exc, str(out / LOCKS_DIR)) from exc


def _named_set(args: argparse.Namespace) -> dict[str, Any] | None:
    """The target settings the command named, as a run saves them (paths absolute, names
    apart from ids), so that they compare as a run's do; None when it named none."""
    from harvester.config import resolve

    given: dict[str, Any] = dict(target_overrides(args))
    for key in ("ids_from", "from_plan", "where"):
        if getattr(args, key):
            given[key] = getattr(args, key)
    if not given.keys() - {"where"}:
        return None
    named = resolve(None, {**given, "out": args.out}).to_public()
    if args.sample_per:  # (set apart: a config refuses a --sample-per without --sample)
        named["sample_per"] = args.sample_per
    return named


def _has_names(named: dict[str, Any]) -> bool:
    """Whether the set named holds screen or project names (not ids)."""
    from harvester.config import NAMED_TARGETS

    return any(named.get(field) for field in NAMED_TARGETS.values())


def _given_names_set(
    out: Path, named: dict[str, Any], sets: list[RecordedRun]
) -> list[RecordedRun]:
    """The set of ``sets`` (DIR's) that a run was given as ``named`` names it, screen and
    project names included ([] when none, or ``named`` holds no name).

    A run saves the ids its names selected (``--screen idr0056`` is saved as ``--screen
    2302``), so the names the user knows the set by matched no set; ``forget`` asks no
    server (the set's server may be the gone one). The names each run was given are in
    its saved command line: a set one of whose runs was given the same names and ids
    (names as they compare: ``IDR0056/`` is ``idr0056``), and the same other targets, is
    the one meant. Names given in a config file are not in the command line: see
    :func:`_study_names_set`.
    """
    from dataclasses import replace

    from harvester.config import NAMED_TARGETS, recorded_runs_of_set, target_set

    given = {
        kind: _given_targets(named.get(kind), named.get(field))
        for kind, field in NAMED_TARGETS.items()
    }
    if not any(names for _ids, names in given.values()):
        return []
    for recorded in sets:
        saved = {kind: recorded.config.get(kind) or [] for kind in NAMED_TARGETS}
        as_saved = {**named, **saved, **dict.fromkeys(NAMED_TARGETS.values(), [])}
        if target_set(replace(recorded, config=as_saved)) != target_set(recorded):
            continue  # (other targets, terms or key)
        runs = recorded_runs_of_set(out, target_set(recorded))
        if any(_argv_targets(run.argv) == given for run in runs):
            return [recorded]
    return []


def _study_names_set(
    out: Path, named: dict[str, Any], sets: list[RecordedRun]
) -> list[RecordedRun]:
    """The set of ``sets`` whose screen (project) ids are those ``named`` gives, its names
    taken as the ids of every screen (project) of DIR's study records they select ([]
    when none, a name selects no record, or ``named`` holds no name).

    For a set whose names its command line does not hold (a config file's ``screens =
    ["idr0056"]``): ``study/screen-<id>/screen.json`` keeps each walked screen's name, so
    the name is matched as a harvest matches it (:func:`harvester.names.matches`), with
    no server asked. Only a set whose ids are exactly those matched is the one meant.
    """
    from harvester.config import NAMED_TARGETS, RecordedRun, target_set

    if not _has_names(named):
        return []
    as_ids = dict(named)
    for kind, field in NAMED_TARGETS.items():
        names = named.get(field) or []
        if not names:
            continue
        records = _study_names(out, kind.removesuffix("s"))
        ids = set(named.get(kind) or [])
        for name in names:
            matched = _matching_ids(str(name), records)
            if not matched:
                return []
            ids |= matched
        as_ids[kind], as_ids[field] = sorted(ids), []
    key = target_set(RecordedRun("", as_ids))
    return [recorded for recorded in sets if target_set(recorded) == key][:1]


def _matching_ids(name: str, records: dict[int, str]) -> set[int]:
    """The ids of ``records`` (id -> name) whose name ``name`` selects, as a harvest does."""
    from harvester.names import matches

    return {object_id for object_id, candidate in records.items() if matches(name, candidate)}


def _study_names(out: Path, kind: str) -> dict[int, str]:
    """id -> name of the screens (``kind`` ``screen``) or projects DIR's study records hold:
    ``study/<kind>-<id>/<kind>.json`` as a walk saved it (``{"data": {"Name": ...}}``); a
    record that cannot be read or names no object is left out."""
    import json

    from harvester.layout import STUDY_DIR

    found: dict[int, str] = {}
    for path in (out / STUDY_DIR).glob(f"{kind}-*/{kind}.json"):
        suffix = path.parent.name.removeprefix(f"{kind}-")
        if not (suffix.isascii() and suffix.isdigit()):
            continue
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            continue
        obj = data.get("data") if isinstance(data, dict) else None
        name = obj.get("Name") if isinstance(obj, dict) else None
        if isinstance(name, str) and name:
            found[int(suffix)] = name
    return found


def _given_targets(ids: object, names: object) -> tuple[frozenset[int], frozenset[str]]:
    """Screen (project) ids and names as compared: ids a set, names by their keys."""
    from harvester.config import name_key

    return (
        frozenset(i for i in ids if isinstance(i, int)) if isinstance(ids, list) else frozenset(),
        frozenset(name_key(str(n)) for n in names) if isinstance(names, list) else frozenset(),
    )


def _argv_targets(argv: tuple[str, ...]) -> dict[str, tuple[frozenset[int], frozenset[str]]]:
    """The screens and projects a saved command line gave (``--screen X``, ``--screen=X``,
    comma lists), by kind, as :func:`_given_targets` compares them."""
    from harvester.config import NAMED_TARGETS
    from harvester.target_text import typed_id

    flags = {"--screen": "screens", "--project": "projects"}
    found: dict[str, tuple[list[int], list[str]]] = {kind: ([], []) for kind in NAMED_TARGETS}
    for n, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        if flag not in flags:
            continue
        if not eq:
            value = argv[n + 1] if n + 1 < len(argv) else ""
        ids, names = found[flags[flag]]
        for item in value.split(","):
            item = item.strip()
            # ``Screen:2302`` an id, as the run read it; ``2302-2304`` a name (no ranges
            # where names are taken: see harvest._target_items)
            typed = typed_id(item)
            if typed is not None:
                ids.append(typed[1])
            elif item.isascii() and item.isdigit():
                ids.append(int(item))
            elif item:
                names.append(item)
    return {kind: _given_targets(ids, names) for kind, (ids, names) in found.items()}


def _again_command(out: Path, recorded: RecordedRun) -> str:
    """The command that takes the set back (:func:`harvester.config.take_back_flags`, as
    ``status`` and a resume say it), DIR as ``--out``."""
    from harvester.config import commented, folder_server_url, take_back_flags, take_back_note

    flags = take_back_flags(recorded, folder_server_url(out))
    head = flags[:1] if flags[:1] == ["SECRETS.toml"] else []
    command = shell_join(["harvester", "harvest", *head, "--out", str(out), *flags[len(head) :]])
    return commented(command, take_back_note(recorded))


def _sets_hint(out: Path, given: str | None) -> str:
    """The hint of a refusal: DIR's target sets, each as the command that forgets it."""
    from harvester.config import forgotten_entry, recorded_target_sets, target_flags, target_set
    from harvester.forgotten import read_forgotten

    sets = recorded_target_sets(out, forgotten=True)
    if not sets:
        return f"{out} has no target set to forget (no run saved its settings in {out / 'runs'})"
    gone = read_forgotten(out)
    named = []
    keys = [target_set(recorded) for recorded in sets]
    for n, recorded in enumerate(sets[:MAX_LISTED_SETS]):
        flags = shell_join(target_flags(recorded)) or f"(run {recorded.run})"
        if keys[n] in keys[:n]:  # (another server's set of these targets is said first)
            flags += f" --base-url {shell_quote(recorded.base_url)}"
        said = "" if forgotten_entry(recorded, gone) is None else " (forgotten)"
        named.append(f"harvester forget {shell_quote(str(out))} {flags}{said}")
    more = len(sets) - len(named)
    tail = f"; and {more} more" if more > 0 else ""
    which = "its target sets" if given is None else "name one of its target sets instead"
    return f"{which}: {'; '.join(named)}{tail}"


#: Ids a refusal of ``--gone-ids-from`` names (the rest are counted).
MAX_LISTED_IDS = 5
#: The most ids the undo of ids read from standard input names on its command line; more
#: are written to a file beside DIR's gone list, which the undo reads.
MAX_UNDO_IDS = 10


def _forget_gone_images(
    out: Path,
    source: str,
    *,
    force: bool,
    undo: bool,
    check: bool = False,
    server: str | None = None,
) -> int:
    """``forget DIR --gone-ids-from FILE [--force | --check-server | --undo]``: record
    (take back) images gone from the server; 0 done (some may be left, said on a
    ``note:`` line), 2 refused (nothing recorded), 75 a harvest runs."""
    from harvester.gone import GONE_NAME
    from harvester.runlock import release_run_lock
    from harvester.store import storage_error

    servers = _folder_link_servers(out, undo=undo)
    ids = _gone_ids_given(source, servers)
    linked = servers.linked or {}  # (ids given as links: their server's image alone)
    if not ids:
        done = "nothing changed" if undo else "nothing recorded"
        print(f"{out}: {_source_name(source)} holds no image id: {done}")
        return 0
    note = ""
    lock = _lock_folder(out)
    try:
        try:
            if undo:
                line = _take_back(out, ids, source, linked, server)
            else:
                line, note = _record_gone(out, ids, source, force, check, linked)
        except OSError as exc:
            raise storage_error(exc, str(out / GONE_NAME)) from exc
        if undo:
            _remove_spent_undo_file(out, source)
    finally:
        release_run_lock(lock)
    print(line)
    if note:
        say_note(note)
    return 0


def _source_name(source: str) -> str:
    """How a message names ``--gone-ids-from``'s source."""
    return "standard input" if source == "-" else source


def _folder_link_servers(out: Path, *, undo: bool = False) -> LinkServers:
    """The servers DIR's images are of, as ``--gone-ids-from``'s links must be: those of
    DIR's target sets (forgotten ones too) and of its gone list, else DIR's server (IDR
    for a folder whose runs saved no settings, as :func:`_failed_images` takes it). In a
    folder of several servers, a link's image must be of the server the image came from:
    that of its failures (recorded as gone for it), or, with ``undo``, one it is recorded
    as gone from (see :func:`_image_servers`).

    Why: a link names its server's image, and another server's image 123 is another
    image; the file's links were read without a look at their server, so a link of
    another server recorded (or took back) DIR's image of that id; and in a folder of two
    servers a link of either was taken for the image of the other."""
    from harvester.config import (
        DEFAULT_BASE_URL,
        folder_server_url,
        normal_base_url,
        recorded_target_sets,
        servers_of,
    )
    from harvester.gone import read_gone
    from harvester.walk import LinkServers

    servers = servers_of(recorded_target_sets(out, forgotten=True))
    for entry in read_gone(out).values():
        servers.setdefault(normal_base_url(entry.server), entry.server)
    if not servers:
        url = folder_server_url(out) or DEFAULT_BASE_URL
        servers[normal_base_url(url)] = url
    urls = tuple(servers.values())
    said = _servers_said(out, urls)
    hint = (
        "image ids are one server's: the link's image is another server's, not one of "
        f"{out}'s; give the ids harvester status {shell_quote(str(out))} --failed-ids lists"
    )
    image_of = _image_servers(out, undo=undo) if len(urls) > 1 else None
    return LinkServers(urls, said, hint, image_of, linked={})


def _servers_said(out: Path, urls: Iterable[str]) -> str:
    """``DIR's server, URL`` or ``DIR's servers, URL or URL``: how a refused link's
    error names the servers of DIR."""
    listed = list(urls)
    if len(listed) == 1:
        return f"{out}'s server, {listed[0]}"
    return f"{out}'s servers, " + " or ".join(listed)


def _image_servers(out: Path, *, undo: bool) -> Callable[[int], frozenset[str]]:
    """For :class:`~harvester.walk.LinkServers`: the servers (normal URLs) DIR's image of
    an id came from, as ``forget --gone-ids-from`` takes it: the server of its failures
    (the one recording it as gone names), or, with ``undo``, each server it is recorded as
    gone from. Read at the first link only: a file of plain ids reads no failures."""
    from functools import cache

    from harvester.config import normal_base_url
    from harvester.gone import read_gone

    @cache
    def servers() -> dict[int, frozenset[str]]:
        found: dict[int, set[str]] = {}
        if undo:
            for server, image_id in read_gone(out):
                found.setdefault(image_id, set()).add(normal_base_url(server))
        else:
            for image_id, servers in _failed_images(out).servers.items():
                found.setdefault(image_id, set()).update(map(normal_base_url, servers))
        return {image_id: frozenset(urls) for image_id, urls in found.items()}

    return lambda image_id: servers().get(image_id, frozenset())


def _gone_ids_given(source: str, servers: LinkServers) -> list[int]:
    """The distinct ids of ``--gone-ids-from`` (a file, or ``-``: standard input, which must
    not be a terminal), in their order; a link line's must be of ``servers`` (DIR's). A
    junk line is a :class:`UsageError` naming it."""
    import os

    from harvester.errors import UsageError
    from harvester.walk import read_ids_file

    if source == "-":
        if os.isatty(0):
            raise UsageError(
                "--gone-ids-from -: standard input is a terminal, not a list of ids",
                hint="pipe them in (harvester status DIR --failed-ids | harvester forget DIR "
                "--gone-ids-from -) or name a file",
            )
        path = Path("/dev/stdin")
    else:
        path = Path(source)
    try:
        return list(dict.fromkeys(read_ids_file(path, servers)))
    except UsageError as exc:  # (worded for --ids-from, and stdin as /dev/stdin)
        said = str(exc)
        if source == "-" and said.startswith(f"{path}: "):
            said = "standard input: " + said.removeprefix(f"{path}: ")
        hint = (exc.hint or "").replace("--ids-from", "--gone-ids-from") or None
        raise UsageError(said, hint=hint) from None


def _listed(ids: list[int], shown: Any = str) -> str:
    """The first :data:`MAX_LISTED_IDS` of ``ids`` (each as ``shown`` words it), and how
    many more."""
    named = ", ".join(shown(image_id) for image_id in ids[:MAX_LISTED_IDS])
    more = len(ids) - MAX_LISTED_IDS
    return named + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class _FailedImages:
    """DIR's failed images (those ``status --failed-ids`` lists), as ``--gone-ids-from``
    weighs them."""

    #: image id -> the HTTP status of each of its failed kinds' latest failure, as
    #: :func:`harvester.gone.gone_status` reads them: None for no answer (a timeout), and
    #: for a failure another hint explains (as the hint ``status`` gives reads them).
    judged: dict[int, list[int | None]]
    #: image id -> the HTTP status of its latest failure as answered (None: no answer).
    latest: dict[int, int | None]
    #: image id -> each server whose runs failed it (as saved, no credentials) -> the
    #: statuses of ``judged`` that server's failures gave. Why per server: ids are one
    #: server's, and an id two servers of DIR failed was recorded gone for one of them
    #: alone (the newest's), the other's every resume asking for its image again.
    servers: dict[int, dict[str, list[int | None]]]
    #: image id -> the cause another hint names for its 404 (a thumbnail size this server
    #: does not serve: the image answers other requests), for those with one.
    explained: dict[int, str]
    #: The ids whose every failure is a 403 of a kind that asks imgData first (imgdata,
    #: render, stack): a deleted image answers so, and so does a private one.
    forbidden: frozenset[int]

    def said(self, image_id: int) -> str:
        """``9762957 (HTTP 503)``: how a message names an image by its latest failure."""
        latest = self.latest[image_id]
        return f"{image_id} ({f'HTTP {latest}' if latest else 'no answer'})"

    def gone_from(self, image_id: int) -> dict[str, int]:
        """The servers whose failures of ``image_id`` say it is gone (each server's own,
        by :func:`harvester.gone.gone_status`), and the 404 (410) each said."""
        from harvester.gone import gone_status

        found = {s: gone_status(said) for s, said in self.servers[image_id].items()}
        return {server: status for server, status in found.items() if status is not None}


def _failed_images(out: Path) -> _FailedImages:
    """DIR's failed images: each one's latest failures (:class:`_FailedImages`), and its
    servers: those of the runs that failed it, else DIR's (a folder whose runs saved no
    settings: IDR's, the default then). A 404 another hint explains is judged as
    ``status`` judges it for its hint (:func:`harvester.fetch.known_cause`), so that
    ``forget`` records no image the hint did not name."""
    from harvester.config import (
        DEFAULT_BASE_URL,
        folder_server_url,
        normal_base_url,
        read_run_server,
    )
    from harvester.fetch import known_cause
    from harvester.gone import GONE_STATUSES, IMGDATA_KINDS
    from harvester.models import Artifact
    from harvester.status import collect_status

    kinds = {a.value for a in Artifact}
    report = collect_status(out, by_files=False)  # (done counts only: no stat of files)
    done = {kind: ks.done for kind, ks in report.kinds.items()}
    judged: dict[int, list[int | None]] = {}
    latest: dict[int, int | None] = {}
    servers: dict[int, dict[str, list[int | None]]] = {}
    explained: dict[int, str] = {}
    not_forbidden: set[int] = set()
    run_servers: dict[str, str] = {}
    # (each server by its normal URL, spelt as first met: ids are one server's, and one
    # saved as http://h by one run and as http://h:80/ by another is one server)
    spelt: dict[str, str] = {}
    folder: str | None = None
    # (oldest first: the last one is the latest)
    for failure, run in zip(report.failures, report.failure_runs, strict=True):
        if failure["kind"] not in kinds:
            continue
        image_id = int(failure["id"])
        raw = failure.get("status")
        status = raw if isinstance(raw, int) else None
        cause = known_cause(failure, done)
        judged.setdefault(image_id, []).append(None if cause else status)
        if run not in run_servers:
            url = read_run_server(out, run, report.saved_configs)
            if url is None:  # (a run that saved no settings: an older folder, one server's)
                folder = folder or folder_server_url(out) or DEFAULT_BASE_URL
            url = url or folder or DEFAULT_BASE_URL
            run_servers[run] = spelt.setdefault(normal_base_url(url), url)
        by_server = servers.setdefault(image_id, {})
        by_server.setdefault(run_servers[run], []).append(None if cause else status)
        latest[image_id] = status
        if cause and status in GONE_STATUSES:
            explained[image_id] = cause.partition(":")[0]
        if status != 403 or failure["kind"] not in IMGDATA_KINDS:
            not_forbidden.add(image_id)
    _add_hidden_failures(out, report, servers, spelt, done)
    forbidden = frozenset(judged.keys() - not_forbidden)
    return _FailedImages(judged, latest, servers, explained, forbidden)


def _add_hidden_failures(
    out: Path,
    report: Any,
    servers: dict[int, dict[str, list[int | None]]],
    spelt: dict[str, str],
    done: Any,
) -> None:
    """Into ``servers`` (image id -> server, spelt as in ``spelt``, normal URL -> the URL
    first met -> statuses), the failures of another server than the latest's of each
    failed kind, which the journals' fold hides (it keeps one failure per kind and id):
    each server's own latest of that kind (:func:`harvester.status.other_servers_failures`,
    servers compared by their normal URL). In a folder of one server, nothing (no journal
    is read again).

    Why: both servers of a folder failed an id (each its own image of it, 404), and the
    pipe of the older server's ``status --failed-ids --base-url`` recorded it as gone from
    the newer server alone: the older server's every resume asked for it again."""
    from functools import cache

    from harvester.config import read_run_server, recorded_target_sets, servers_of
    from harvester.fetch import known_cause
    from harvester.models import Artifact
    from harvester.status import other_servers_failures

    if len(servers_of(recorded_target_sets(out, forgotten=True))) < 2:
        return
    kinds = {a.value for a in Artifact}
    latest = {
        (str(f["kind"]), int(f["id"])): run
        for f, run in zip(report.failures, report.failure_runs, strict=True)
        if f["kind"] in kinds
    }

    @cache
    def server_of(run: str) -> str | None:
        return read_run_server(out, run, report.saved_configs)

    for key, own in other_servers_failures(out, latest, server_of).items():
        for server, (url, rec) in own.items():
            raw = rec.get("status")
            status = raw if isinstance(raw, int) else None
            said = servers.setdefault(key[1], {}).setdefault(spelt.setdefault(server, url), [])
            said.append(None if known_cause(rec, done) else status)


def _left_reasons(
    left: list[int], failed: _FailedImages, checked: dict[int, int | None], *, refusal: bool
) -> list[str]:
    """Why ``left`` (ids given, failed images of DIR) are not taken as gone: one clause
    per reason, each naming its ids (:meth:`_FailedImages.said`; ``checked``: those
    ``--check-server`` asked, and the server's answer). ``refusal``: worded for the error
    line (``1 id of 1 given did not answer ...``), else for the note's (``... not
    recorded: their latest failure was ...``)."""
    asked_now = [i for i in left if i in checked]
    forbidden = [i for i in left if i in failed.forbidden and i not in checked]
    explained = [i for i in left if i in failed.explained and i not in failed.forbidden]
    unsure = [i for i in left if i not in failed.explained and i not in failed.forbidden]
    reasons: list[str] = []
    if unsure:
        reasons.append(
            (
                "did not answer 404 or 410 at their latest try, so may not be gone"
                if refusal
                else "their latest failure was no 404 or 410, so they may not be gone"
            )
            + f": {_listed(unsure, failed.said)}"
        )
    if explained:
        causes = "; ".join(dict.fromkeys(failed.explained[i] for i in explained))
        reasons.append(
            (
                f"answered 404 for a cause another hint names ({causes}), not as images gone"
                if refusal
                else f"their 404 has a cause another hint names ({causes}), not an image gone"
            )
            + f": {_listed(explained, failed.said)}"
        )
    if forbidden:
        reasons.append(
            (
                "answered imgData 403 alone, as a deleted image does and a private one too"
                if refusal
                else "their only failures are imgData's 403, which a deleted image and a "
                "private one answer alike"
            )
            + " (imgdata, render and stack get no 404; a thumbnail or metadata does)"
            + f": {_listed(forbidden, failed.said)}"
        )
    if asked_now:
        now = {
            i: f"{i} ({f'HTTP {checked[i]}' if checked[i] else 'no answer'} now)" for i in asked_now
        }
        reasons.append(
            (
                "answered imgData 403, and no 404 when asked now at the server's JSON API, "
                "so may not be gone"
                if refusal
                else "they answered imgData 403, and no 404 when asked now at the server's "
                "JSON API, so they may not be gone"
            )
            + f": {_listed(asked_now, now.__getitem__)}"
        )
    return reasons


def _left_advice(
    left: list[int],
    failed: _FailedImages,
    q: str,
    verb: str = "give",
    checked: Mapping[int, int | None] | None = None,
) -> str:
    """What to do about ``left`` (--force aside): resume and ``verb`` (give, record)
    those that answer 404 then (a failure that may pass); else have the server asked
    (``--check-server``, unless ``checked``: the answers it gave then), or follow the other
    hint. Where the server gave no answer (or a 5xx, a 429) when asked, to ask it again:
    "the server still has them" said of a server that was down was no truth."""
    if any(i not in failed.explained and i not in failed.forbidden for i in left):
        return f"resume (harvester harvest --out {q}) and {verb} those that answer 404 then"
    if all(i in failed.forbidden for i in left):
        if checked is not None:
            unanswered = [i for i in left if _no_answer(checked.get(i))]
            if len(unanswered) == len(left):
                return (
                    "the server gave no answer now (down or busy?): run this again once it answers"
                )
            if unanswered:
                return (
                    f"run this again once the server answers for {_listed(unanswered)}; the "
                    "others it still has, or it refuses the public user"
                )
            return "the server still has them, or refuses the public user"
        return (
            "add --check-server to ask the server's JSON API, which answers a deleted image "
            "404 (a thumbnail or metadata of it does too)"
        )
    return f"follow the hint harvester status {q} gives for that cause"


def _no_answer(status: int | None) -> bool:
    """Whether a ``--check-server`` answer says nothing of the image: none at all (a server
    down, a timeout), a server error or "busy" (429) through the retries."""
    return status is None or status >= 500 or status == 429


def _check_left(left: list[int], failed: _FailedImages) -> dict[tuple[int, str], int | None]:
    """``--check-server``: of ``left``, those whose failures cannot tell a deleted image
    from a private one (imgData's 403 alone), asked of each server that failed them once
    each at its JSON API (:func:`harvester.gone.ask_server`): (image id, server) -> the
    status it answers now."""
    from harvester.gone import ask_server

    unsure = [(i, server) for i in left if i in failed.forbidden for server in failed.servers[i]]
    return ask_server(unsure) if unsure else {}


def _said_now(checked: dict[tuple[int, str], int | None]) -> dict[int, int | None]:
    """``--check-server``'s answers by image id, as messages say them: a 404 (410) where a
    server answered one, else the first server's answer."""
    from harvester.gone import GONE_STATUSES

    said: dict[int, int | None] = {}
    for (image_id, _server), status in checked.items():
        if image_id not in said or status in GONE_STATUSES:
            said[image_id] = status
    return said


def _record_gone(
    out: Path,
    ids: list[int],
    source: str,
    force: bool,
    check: bool = False,
    linked: Mapping[int, AbstractSet[str]] | None = None,
) -> tuple[str, str]:
    """Record ``ids`` as gone: the line that says what was recorded, and the ``note:``
    line naming those left out ("" for none): without ``force``, those whose latest
    failures say no 404 or 410 (a server down is no image gone), or whose 404 another
    hint explains. Refused, nothing recorded, when an id is no failed image of DIR (a
    wrong file or folder), or when every id given is left out (none recorded already:
    a pipe run again after it recorded some says nothing new, exit 0). ``check``: ask
    the server about those whose failures cannot tell (:func:`_check_left`). ``linked``:
    the ids given as image links, with their links' servers: recorded for those alone.
    """
    from datetime import UTC, datetime  # (not at the top: only forget needs it)

    from harvester.errors import UsageError
    from harvester.gone import (
        GONE_NAME,
        GONE_STATUSES,
        GoneImage,
        add_gone,
        gone_key,
        read_gone,
    )

    q = shell_quote(str(out))
    listed = set(read_gone(out))
    before = {image_id for _server, image_id in listed}
    failed = _linked_only(_failed_images(out), linked or {})
    judged = failed.judged
    # (an id recorded gone from one server that another still fails is asked for there)
    asked = [image_id for image_id in ids if image_id in judged or image_id not in before]
    unknown = [image_id for image_id in asked if image_id not in judged]
    if unknown:
        raise UsageError(
            f"{_plural_ids(unknown)} of {len(ids)} given {'is' if len(unknown) == 1 else 'are'} "
            f"no failed image of {out}: {_listed(unknown)} (nothing recorded)",
            hint=f"give the ids harvester status {q} --failed-ids lists",
        )
    # (each server's failures of an id judged apart: ids are one server's)
    left = [] if force else [i for i in asked if not failed.gone_from(i)]
    answers = _check_left(left, failed) if check else {}
    checked = _said_now(answers)
    found = {key: status for key, status in answers.items() if status in GONE_STATUSES}
    left = [i for i in left if not any(image_id == i for image_id, _server in found)]
    if left and len(left) == len(ids):
        reasons = _left_reasons(left, failed, checked, refusal=True)
        said = f" {reasons[0]}" if len(reasons) == 1 else ": " + "; ".join(reasons)
        advice = _left_advice(left, failed, q, "record", checked if check else None)
        raise UsageError(
            f"{_plural_ids(left)} of {len(ids)} given{said} (nothing recorded)",
            hint=f"{advice}; or add --force to record them anyway",
        )
    now = datetime.now(UTC)
    entries = [
        GoneImage(i, server, status, now)
        for i in asked
        if i not in left
        for server, status in _gone_servers(i, failed, found, force).items()
    ]
    added = list(dict.fromkeys(add_gone(out, entries)))  # (an id of two servers said once)
    new = list({gone_key(e): e for e in entries if gone_key(e) not in listed}.values())
    already = len(ids) - len(left) - len(added)
    also = f" ({already} recorded already)" if already else ""
    if found:
        also += f" ({len({i for i, _server in found})} answering 404 at the server's JSON API now)"
    them = _them(added)
    line = (
        f"{out}: recorded {_plural_ids(added, 'image')} as gone from the server{also} in "
        f"{out / GONE_NAME}: no harvest asks for {them}, status counts {them} apart; to ask "
        f"for {them} again: {_undo_command(out, source, ids, added, _undo_links(new, before))}"
        if added
        else f"{out}: nothing new to record: {already} already recorded as gone from the "
        f"server in {out / GONE_NAME}"
    )
    note = (
        f"note: {_plural_ids(left)} of {len(ids)} given not recorded: "
        f"{'; '.join(_left_reasons(left, failed, checked, refusal=False))}; "
        f"{_left_advice(left, failed, q, checked=checked if check else None)}, or add --force "
        "to record them anyway"
        if left
        else ""
    )
    recorded_for = {entry.image_id for entry in entries}
    return line, "\n".join(filter(None, (note, _other_server_note(recorded_for, failed, entries))))


def _linked_only(failed: _FailedImages, linked: Mapping[int, AbstractSet[str]]) -> _FailedImages:
    """``failed`` with each id given as an image link (``linked``: its links' servers,
    normal URLs) weighed by the failures of those servers alone (where they have any).

    Why: ids are one server's, and a link names its server's image; an id both servers
    of DIR failed with 404 was recorded gone from each, the other server's image too,
    given one server's link."""
    if not linked:
        return failed
    from harvester.config import normal_base_url

    servers = dict(failed.servers)
    for image_id, named in linked.items():
        by_server = servers.get(image_id)
        if by_server is None:
            continue
        mine = {s: said for s, said in by_server.items() if normal_base_url(s) in named}
        if mine:
            servers[image_id] = mine
    return replace(failed, servers=servers)


def _undo_links(new: list[GoneImage], before: AbstractSet[int]) -> list[str] | None:
    """The undo's lines as image links (``SERVER/webclient/?show=image-ID``, the server as
    saved: no credentials), one for each entry recorded now (``new``), where an id of
    them was recorded gone from another server before (``before``: the ids listed then);
    None where plain ids take back exactly what was recorded.

    Why: an undo of plain ids takes an id back for every server, so the undo of a record
    for server B took back the record of that id for server A made earlier."""
    if not any(entry.image_id in before for entry in new):
        return None
    return [
        f"{entry.server.rstrip('/')}/webclient/?show=image-{entry.image_id}"
        for entry in sorted(new, key=lambda e: (e.image_id, e.server))
    ]


def _other_server_note(ids: set[int], failed: _FailedImages, entries: list[GoneImage]) -> str:
    """The ``note:`` line naming the ids of ``ids`` recorded gone from some servers of
    DIR but not from another whose failures of them do not say they are gone ("" for none):
    that server's image of the id is another image, still asked for. Said, as the ids
    left are, so that "recorded" is not read as every server's."""
    from harvester.config import normal_base_url

    recorded = {(e.image_id, normal_base_url(e.server)) for e in entries}
    others: dict[str, list[int]] = {}
    for image_id in sorted(ids):
        for server in failed.servers[image_id]:
            if (image_id, normal_base_url(server)) not in recorded:
                others.setdefault(server, []).append(image_id)
    return "\n".join(
        f"note: {_plural_ids(listed)} not recorded as gone from {server}, whose failures of "
        f"{'it' if len(listed) == 1 else 'them'} do not say so (its image of "
        f"{'that id' if len(listed) == 1 else 'those ids'} is another image, still asked "
        f"for): {_listed(listed)}"
        for server, listed in others.items()
    )


def _gone_servers(
    image_id: int, failed: _FailedImages, found: Mapping[tuple[int, str], int], force: bool
) -> dict[str, int | None]:
    """The servers (as saved) ``image_id`` is recorded as gone from, each with the status
    recorded: those whose own failures say so, or whose JSON API answered 404 now
    (``found``: ``--check-server``'s); with ``force``, every server that failed it, its
    latest failure's status where none says gone. Another server's failures of that id
    (a 503) are another image's, which its runs still ask for."""
    gone: dict[str, int | None] = dict(failed.gone_from(image_id))
    for (i, server), status in found.items():
        if i == image_id:
            gone[server] = status
    if force:
        for server in failed.servers[image_id]:
            gone.setdefault(server, failed.latest[image_id])
    return gone


def _take_back(
    out: Path,
    ids: list[int],
    source: str,
    linked: Mapping[int, AbstractSet[str]] | None = None,
    server: str | None = None,
) -> str:
    """Take ``ids`` off DIR's gone images (refusing, nothing changed, ids not on it); the
    line that says so. ``linked``: the ids given as image links, with their links'
    servers: taken back for those alone (another server's image of the id stays gone).
    ``server`` (``--base-url``): that server's records alone.

    Why: an id recorded for both servers of a folder (each failed its own image of it)
    was taken back for both, and the other server's image, still gone, asked again on
    every resume; the line now names both servers and the ``--base-url`` of one."""
    from harvester.config import normal_base_url
    from harvester.errors import UsageError, redact_base_url
    from harvester.gone import read_gone, remove_gone

    q = shell_quote(str(out))
    gone = read_gone(out)
    mine = normal_base_url(server) if server is not None else None
    only = linked or {}
    if server is not None:
        _refuse_crossed_links(ids, only, server, gone)
    taken = {  # (the records both the links and --base-url name: those taken back)
        (url, image_id)
        for url, image_id in gone
        if mine in (None, url) and (image_id not in only or url in only[image_id])
    }
    listed = {image_id for _url, image_id in taken}
    unknown = [image_id for image_id in ids if image_id not in listed]
    if unknown:
        of = f" from {redact_base_url(server)}" if server is not None else ""
        lists = f" --base-url {shell_quote(redact_base_url(server))}" if server is not None else ""
        raise UsageError(
            f"{_plural_ids(unknown)} of {len(ids)} given {'is' if len(unknown) == 1 else 'are'} "
            f"not recorded as gone{of} in {out}: {_listed(unknown)} (nothing changed)",
            hint=f"harvester status {q} --gone-ids{lists} lists those that are",
        )
    asked = set(ids)
    servers = {entry.server for key, entry in gone.items() if key in taken and key[1] in asked}
    removed = remove_gone(out, ids, linked, server)
    line = (
        f"{out}: {_plural_ids(removed, 'image')} no longer taken as gone"
        + (f" from {redact_base_url(str(server))}" if server is not None else "")
        + f": the next harvest asks for {_them(removed)} again (harvester harvest --out {q})"
    )
    if server is None and len(servers) > 1:
        named = " and ".join(sorted(servers))
        line += (
            f"; taken back for each server they were recorded for, {named} (to take back "
            "one server's alone, add --base-url URL)"
        )
    return line


def _refuse_crossed_links(
    ids: list[int],
    only: Mapping[int, AbstractSet[str]],
    server: str,
    gone: Mapping[tuple[str, int], GoneImage],
) -> None:
    """Refuse (a :class:`UsageError`, nothing changed) an undo whose image links (``only``:
    each linked id's link servers, normal URLs) are of another server than its
    ``--base-url`` (``server``).

    Why: the two name no record together, and the refusal said the id was "not recorded
    as gone from" the ``--base-url`` server, and that ``status --gone-ids --base-url`` listed
    those that are, which listed that very id where it is gone from both servers."""
    from harvester.config import normal_base_url
    from harvester.errors import UsageError, redact_base_url

    mine = normal_base_url(server)
    crossed = [image_id for image_id in ids if image_id in only and mine not in only[image_id]]
    if not crossed:
        return
    saved = {url: entry.server for (url, _image_id), entry in gone.items()}
    links = sorted({redact_base_url(saved.get(url, url)) for i in crossed for url in only[i]})
    one = len(crossed) == 1
    raise UsageError(
        f"the image {'link' if one else 'links'} of {_listed(crossed)} "
        f"{'is' if one else 'are'} of {' and '.join(links)}, not of --base-url "
        f"{redact_base_url(server)} (nothing changed)",
        hint="give the link without --base-url (its server's record alone is taken back), "
        "or the plain id with --base-url",
    )


def _plural_ids(ids: list[int], word: str = "id") -> str:
    """``1 id``, ``3 ids`` (``image``/``images``)."""
    from harvester.text import plural

    return plural(len(ids), word)


def _them(ids: list[int]) -> str:
    """``it`` for one image, ``them`` for more: "recorded 1 image ... asks for them" read wrong."""
    from harvester.text import agree

    return agree(len(ids), "it", "them")


def _undo_command(
    out: Path, source: str, ids: list[int], added: list[int], links: list[str] | None = None
) -> str:
    """``forget``'s undo of exactly the ids it recorded (``added`` of those given,
    ``ids``): the same file with ``--undo`` when it recorded every id of a file; else
    those ids piped back in, up to :data:`MAX_UNDO_IDS` on the command line, more written
    to a file beside DIR's gone list. Why: ids read from standard input are gone by then,
    and every gone image's undo (``status --gone-ids``), as was said, took back those
    that earlier commands recorded too; a file with ids left out or recorded before is
    no exact undo either. Should that file not be written, every gone image's undo is
    said, as status says it (the ids are recorded all the same). ``links``: the lines to
    give back instead of ``added`` (:func:`_undo_links`: each image of its server)."""
    from harvester.status import gone_undo_command

    # DIR and the ids file both absolute: the undo is pasted later, from another folder
    # (DIR as typed, beside an absolute file, undid nothing there, or another folder's).
    where = str(out.absolute())
    if source != "-" and added == ids and links is None:
        given = str(Path(source).absolute())
        return shell_join(["harvester", "forget", where, "--gone-ids-from", given, "--undo"])
    tail = shell_join(["harvester", "forget", where, "--gone-ids-from", "-", "--undo"])
    lines = links if links is not None else list(map(str, added))
    if len(lines) <= MAX_UNDO_IDS:
        return f"printf '%s\\n' {' '.join(map(shell_quote, lines))} | {tail}"
    try:
        path = _write_undo_ids(out, lines)
    except OSError:
        return gone_undo_command(out.absolute())
    return shell_join(["harvester", "forget", where, "--gone-ids-from", str(path), "--undo"])


def _remove_spent_undo_file(out: Path, source: str) -> None:
    """Remove ``source`` once its undo has run when it is a file :func:`_write_undo_ids`
    wrote (``DIR/gone_images.<UTC time>.txt``): it exists for that undo alone, and each
    recording of more than :data:`MAX_UNDO_IDS` ids left one in DIR for good. A user's own
    file, or one of another folder, is left alone; a file that cannot be removed is too."""
    if source == "-":
        return
    path = Path(source).absolute()
    if path.parent != out.absolute() or not _UNDO_FILE.fullmatch(path.name):
        return
    with contextlib.suppress(OSError):
        path.unlink()


#: The name of an undo file :func:`_write_undo_ids` writes.
_UNDO_FILE = re.compile(r"gone_images\.[0-9]{8}T[0-9]{6}\.[0-9]{6}Z\.txt")


def _write_undo_ids(out: Path, ids: list[str]) -> Path:
    """Write ``ids`` (ids or image links, one a line) to ``DIR/gone_images.<UTC
    time>.txt``, atomically, for the undo of the command that recorded them; the file's
    path (absolute). Raises OSError when it cannot be written."""
    from datetime import UTC, datetime  # (not at the top: only forget needs it)

    from harvester.store import atomic_write_bytes

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = out.absolute()  # (DIR given relative: the temp's name is taken within it)
    path = folder / f"gone_images.{stamp}.txt"
    atomic_write_bytes(folder, path, "".join(f"{i}\n" for i in ids).encode())
    return path

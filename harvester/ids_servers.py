"""Which ids of an ``--ids-from`` source name another server's images of DIR.

Image ids are one server's. In a folder harvested from two servers (say ``--plate 3001``
from A, then ``--screen 2302`` from B), the folder's own ``index.csv``, given back as an
ids file with ``--base-url B`` (to add an artifact, say), asked B for A's ids: B has no
such images (404: twenty in a row stopped the run, nothing fetched, no word why) or other
images of those ids (written as A's). The ids DIR's journals record as harvested from
other servers only are left out instead, counted by server, and the run says so with the
command for them (:func:`left_out_note`). Ids DIR does not know (a plain list of new ids)
and ids of a folder of one server (its server may have moved) are asked as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harvester.config import (
    RecordedRun,
    ids_read_once,
    normal_base_url,
    own_server_command,
    read_run_server,
    recorded_target_sets,
    servers_of,
)
from harvester.errors import redact_base_url
from harvester.journal import JournalState
from harvester.layout import MARKER_NAME
from harvester.models import Artifact
from harvester.shell_words import shell_quote
from harvester.text import plural

#: Every artifact kind a done record may name (the image's files of any run).
_KINDS = tuple(a.value for a in Artifact)


@dataclass
class OtherServersIds:
    """Tells an ``--ids-from`` id of an image DIR has only from another server.

    ``runs``: the server (normal URL) of each run of DIR that saved its settings;
    ``mine``: the normal URL of the server asked now. ``left``: per other server (normal
    URL), the distinct ids left out so far with a kind of ``wanted`` (the run's) not done
    yet. ``sets``: DIR's target sets, as read; ``asked``: the server asked now as messages
    name it (no credentials, no query).
    """

    state: JournalState
    runs: Mapping[str, str]
    mine: str
    sets: list[RecordedRun]
    asked: str
    wanted: tuple[str, ...] = ()
    left: dict[str, set[int]] = field(default_factory=dict)

    def __call__(self, image_id: int) -> bool:
        """True for an id whose files DIR has from other servers only; counted in
        ``left`` while a kind the run wants is not done for it.

        Why only then: once the other server's run has fetched those kinds, nothing is
        left for the command the warning names, and every resume of the set (an hourly
        sync) warned of the same ids again."""
        done = self.state.done
        get, runs, mine = done.get, self.runs, self.mine
        other: str | None = None  # (the first of the other servers, by URL)
        for kind in _KINDS:  # (once per id of a file of millions: no set built)
            rec = get((kind, image_id))
            if rec is None or (server := runs.get(str(rec.run))) is None:
                continue
            if server == mine:
                return False
            if other is None or server < other:
                other = server
        if other is None:
            return False
        if any((kind, image_id) not in done for kind in self.wanted):
            self.left.setdefault(other, set()).add(image_id)
        return True


def other_servers_ids(
    out_dir: Path, state: JournalState, base_url: str, run_id: str, kinds: Iterable[str]
) -> OtherServersIds | None:
    """The filter for run ``run_id`` of ``base_url`` into DIR (whose journals ``state``
    holds), which fetches ``kinds``; None in a folder whose target sets, ``run_id``'s left
    out, are of one server (a ``--base-url`` of another server there is a moved server:
    every id is asked). Reads every run's saved settings: call it in a worker thread."""
    sets = recorded_target_sets(out_dir, besides=run_id)
    servers = {normal_base_url(s.base_url) for s in sets}
    if len(servers) < 2:
        return None
    runs: dict[str, str] = {}
    for run in {str(rec.run) for rec in state.done.values()}:
        url = read_run_server(out_dir, run)
        if url is not None:
            runs[run] = normal_base_url(url)
    asked = redact_base_url(base_url).partition("?")[0]
    return OtherServersIds(state, runs, normal_base_url(base_url), sets, asked, tuple(kinds))


def left_out_note(
    left: OtherServersIds, source: str, out_dir: Path, kinds: Iterable[str]
) -> str | None:
    """The warning for the ids ``left`` left out of ``source`` (None: none): how many, of
    which server, and the command that asks that server for them
    (:func:`left_out_commands`)."""
    if not left.left:
        return None
    source = "-" if source == "/dev/stdin" else source
    parts = [
        f"{plural(count, 'id', spec=',')} of {url} (for them: {command})"
        for url, count, command in left_out_commands(left, source, out_dir, kinds)
    ]
    return (
        f"--ids-from {shell_quote(source)}: left out {' and '.join(parts)}: {out_dir} holds "
        f"those images from that server, and image ids are one server's (asked of {left.asked} "
        "they are other images, or none)"
    )


def left_out_commands(
    left: OtherServersIds, source: str, out_dir: Path, kinds: Iterable[str]
) -> list[tuple[str, int, str]]:
    """For each other server whose ids ``left`` left out of ``source``: its URL (as its
    newest set saved it), how many ids, and the command that asks it for them:
    ``--ids-from source`` with the run's ``kinds``, and ``SECRETS.toml`` or ``URL`` where
    that server's sets sent credentials (:func:`~harvester.config.own_server_command`, whose
    note follows as a shell comment). ``source``: the ``--ids-from`` path as given,
    ``/dev/stdin`` said as ``-`` (the same ids given again); a pipe's (``<(cmd)``:
    ``/dev/fd/63``, gone once the run ends) as ``FILE``, noted as the same ids again, as a
    resume's command says it. Why apart: a run's warning and ``status``'s resume line (whose
    resume leaves those ids out again) name the same commands."""
    source = "-" if source == "/dev/stdin" else source
    again = source != "-" and ids_read_once(source)
    newest: dict[str, RecordedRun] = {}
    for one in left.sets:  # (newest first)
        newest.setdefault(normal_base_url(one.base_url), one)
    given = "FILE" if again else shell_quote(source)
    fetch = f" --ids-from {given} --artifacts {','.join(kinds)}"
    found = []
    for server, ids in sorted(left.left.items()):
        recorded = newest.get(server)
        if recorded is None:  # (a server of runs alone, no set left: its URL as compared)
            url, command, note = server, "", ""
        else:
            url = recorded.base_url
            command, note = own_server_command(recorded, out_dir)
        if again:
            note = "; ".join(filter(None, (note, "FILE: the same ids again")))
        command = command or (
            f"harvester harvest --out {shell_quote(str(out_dir))} --base-url {shell_quote(url)}"
        )
        found.append((url, len(ids), f"{command}{fetch}{f'  # {note}' if note else ''}"))
    return found


def another_folders_note(source: Path | str | None, out_dir: Path, base_url: str) -> str | None:
    """The warning for an ``--ids-from`` file of another harvest folder (its ``index.csv``,
    say) harvested from two or more servers, else None.

    Why: its rows do not say their server (index.csv has no such column) and this run's
    journals do not know its images, so the other server's ids were sent to ``base_url``
    without a word: 404s, or, under ``--sample-per``, images counted as "without the key".
    Not refused: rows kept of one server's targets are a right list, and only that
    folder's journals could tell them apart (a load of a whole folder's records). DIR's
    own file is :class:`OtherServersIds`'s (it leaves those ids out)."""
    if source is None or str(source) in ("-", "/dev/stdin"):
        return None
    folder = Path(source).parent
    try:
        if folder.resolve() == out_dir.resolve() or not (folder / MARKER_NAME).is_file():
            return None
        servers = servers_of(recorded_target_sets(folder))
    except (OSError, ValueError):  # (a folder that cannot be read: nothing to say of it)
        return None
    if len(servers) < 2:
        return None
    shown = [redact_base_url(url).partition("?")[0] for url in servers.values()]
    asked = redact_base_url(base_url).partition("?")[0]
    return (
        f"--ids-from {shell_quote(str(source))}: {folder} was harvested from {len(shown)} servers"
        f" ({', '.join(shown)}) and its rows do not say whose each image is: the ids of"
        f" another server's images are asked of {asked} as its own (404s, or other images of"
        " those ids); keep the rows of that server's targets first (by their screen_id,"
        " plate_id, project_id or dataset_id)"
    )


def say_another_folders(source: Path | str | None, out_dir: Path, base_url: str) -> None:
    """:func:`another_folders_note` as one warning (``--quiet`` too), for a harvest and a
    plan alike. Reads that folder's saved runs: call it in a worker thread."""
    import logging

    from harvester.errors import PROBLEMS_LOGGER

    note = another_folders_note(source, out_dir, base_url)
    if note is not None:
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def say_left_out(
    skip: Callable[[int], bool] | None,
    source: Path | str | None,
    out_dir: Path,
    kinds: Iterable[str],
) -> None:
    """One warning (``--quiet`` too) naming the ids a walk's ``skip`` (an
    :class:`OtherServersIds`, else nothing to say) left out of ``source``, the
    ``--ids-from`` given (None: none): :func:`left_out_note`. Why here: a harvest and a plan
    say it alike, and each built it on its own."""
    import logging

    from harvester.errors import PROBLEMS_LOGGER

    if isinstance(skip, OtherServersIds) and source is not None:
        note = left_out_note(skip, str(source), out_dir, kinds)
        if note is not None:
            logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)

"""One harvest run: walkers -> bounded queue -> workers -> store, owned by one task group.

::

    preflight (is it OMERO? do the targets exist?)
        |
    walker(s) --ImageRef--> [memory object stream, queue_size] --> N workers
     (walk.py, or a plan file)                                      (fetch.py)
                                                                        |
                                                           store (group commit, journal)

Every producer and consumer holds its own clone of its end of the stream, so
the stream closes by itself when the last walker finishes and the workers then
drain it and stop. One task group owns every task; SIGINT/SIGTERM cancel that
group only, after which the store is flushed (every finished file is
journaled), ``index.csv`` is rewritten and the summary says how to resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from harvester import __version__, end_lines, layout, runlock, urls
from harvester.changes import Changes, unlisted_text
from harvester.client import (
    REFUSED_CAUSES,
    Client,
    ClientSettings,
    ClientStats,
    Expect,
    Fetched,
    Proxy,
)
from harvester.config import (
    DEFAULT_BASE_URL,
    HarvestConfig,
    normal_base_url,
    other_server_note,
    size_text,
    where_terms,
)
from harvester.early import EarlyAnswers, EarlyRequest
from harvester.errors import (
    PROBLEMS_LOGGER,
    SERVER_BUSY,
    ConfigError,
    CredentialsError,
    FetchError,
    FolderBusyError,
    FolderInUseError,
    HarvesterError,
    InvalidBodyError,
    NotOmeroError,
    OverloadError,
    PermanentError,
    RedirectRefused,
    RemoteError,
    ServerStatusError,
    ServerUnavailableError,
    SessionEndedError,
    StorageError,
    TargetNotFoundError,
    TLSError,
    UnreachableServerError,
    UntrustedServerError,
    UsageError,
    redact_base_url,
    redact_url,
    server_is_there,
    unavailable,
    url_holds_secret,
    with_status,
)
from harvester.fetch import Failure, Fetcher, FetchSettings, head_start_requests
from harvester.folder_settings import (
    carry_label_keys,
    label_keys_path,
    record_label_keys_but_absent,
    remembered_label_keys,
    repin_note,
    run_settings,
)
from harvester.journal import (
    STUDY_ONLY,
    JournalState,
    newest_saved_config,
    run_config_of,
    run_orders,
    saved_run_configs,
    walk_listed_all,
    walk_lost_images,
)
from harvester.models import (
    Artifact,
    ImageRef,
    has_context,
    with_context_of,
    with_meta,
)
from harvester.openfiles import fit_open_files
from harvester.outage import Outage
from harvester.placing import Listed, Placing
from harvester.ratelimit import AdaptiveLimiter
from harvester.retry import RetryEvent, retry_after_cap
from harvester.runlock import (
    LOCKS_DIR,
    LockWaitStopped,
    holder_run,
    lock_name,
    progress_name,
    remove_stale_progress,
)
from harvester.selection import (
    SELECTION_KEYS,
    Selection,
    SelectStats,
    parse_where,
    sample_per_token,
)
from harvester.session import (
    CREDENTIALS_REFUSED,
    SESSION_ENDED,
    SessionWatch,
    again_hint,
    check_at_most,
    stopped_text,
)
from harvester.shell_words import shell_join, shell_quote
from harvester.store import LostFiles, Store, check_settings
from harvester.text import agree, duration_text, plural
from harvester.walk import (
    QueueRoom,
    SeenIds,
    Walker,
    WalkFailure,
    WalkStats,
    check_ids_file,
    first_ids,
    labels_were_asked,
    preflight,
    spool_ids_file,
    standard_input_ids,
)

if TYPE_CHECKING:
    from harvester.ids_servers import OtherServersIds
    from harvester.originals import OriginalsSummary
    from harvester.select import GoneInSample, LeftIndex, SampleReuse
    from harvester.splits import SplitTally

T = TypeVar("T")
logger = logging.getLogger(__name__)

#: Bodies fetched by the preflight checks, keyed by (kind, id), reused by the walk.
Prefetched = dict[tuple[str, int], Any]

#: The walk's targets are shown in its progress line up to this many characters (a resume
#: of a hundred plates, or a long --ids-from path, would fill the line).
WALK_TARGETS_SHOWN = 60
#: A probe answer larger than this is not OMERO's small API root document.
PROBE_MAX_BYTES = 64 * 1024
#: The probe's time limit at most (an unreachable host should fail in seconds).
PROBE_TIMEOUT = 15.0
#: The time limit of a probe whose failure only skips a check (``probe_server(quick=True)``):
#: a login node without the server's network must not hold ``harvester slurm`` for long.
QUICK_PROBE_TIMEOUT = 5.0
#: The kinds whose stored file tells an image given by id its context (Harvest._context_of).
IMGDATA, METADATA = Artifact.IMGDATA.value, Artifact.METADATA.value


@contextlib.contextmanager
def unwrap_errors() -> Iterator[None]:
    """Turn a task group's ExceptionGroup holding a HarvesterError into that error.

    A worker that hits a full disk (StorageError) or a walker that meets an
    unknown id (UsageError) fails the whole group; the CLI maps the error, not
    the group, to a message and an exit code. Anything else is re-raised as is.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        for exc in leaves:
            if isinstance(exc, HarvesterError):
                raise exc from group
        if leaves and all(isinstance(exc, KeyboardInterrupt) for exc in leaves):
            raise KeyboardInterrupt from group
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def walk_text(
    targets: str, stats: WalkStats, selection: Selection, chosen: SelectStats
) -> Callable[[], str]:
    """What the progress says of a walk while it lists (:meth:`ProgressSink.walking`):
    ``walking --screen 1601: 188 of 1,200 plates listed, 225,600 images found``, with
    the images selected so far (``chosen``) under an active ``selection`` (a ``--sample``:
    none until the walk is over, which says why the run fetches nothing yet). One wording
    for a harvest's walk and a plan's (:func:`harvester.plan.plan_targets`)."""
    if len(targets) > WALK_TARGETS_SHOWN:  # (a resume of many targets, a long path)
        targets = targets[: WALK_TARGETS_SHOWN - 3] + "..."
    head = f"walking {targets}: " if targets else "walking: "

    def describe() -> str:
        text = head + stats.listed_text()
        if not selection.active:
            return text
        text += f", {chosen.selected:,} selected"
        if selection.sample is not None and not chosen.selected:
            text += " (the sample is chosen once every image is listed)"
        return text

    return describe


class ProgressSink(Protocol):
    """What the pipeline reports while it runs (``progress.Progress`` draws it)."""

    def discovered(self, count: int = 1) -> None: ...
    def selecting(self) -> None: ...
    def done(self, kind: str, nbytes: int) -> None: ...
    def stored(self, nbytes: int) -> None: ...
    def failed(self, kind: str) -> None: ...
    def stack_render_staged(self) -> None: ...
    def skipped(self, count: int) -> None: ...
    def image_finished(self, worked: bool = True) -> None: ...
    def walk_finished(self) -> None: ...
    def expect(self, total: int) -> None: ...
    def waiting(
        self, reason: str | None, seconds: float, next_check: float | None = None
    ) -> None: ...
    def walking(self, describe: Callable[[], str] | None) -> None: ...
    def publish(self, path: Path, run: str = "", *, keep_fresh: float | None = None) -> None: ...
    def unpublish(self) -> None: ...


class _NoProgress:
    def discovered(self, count: int = 1) -> None:
        return None

    def selecting(self) -> None:
        return None

    def done(self, kind: str, nbytes: int) -> None:
        return None

    def stored(self, nbytes: int) -> None:
        return None

    def failed(self, kind: str) -> None:
        return None

    def stack_render_staged(self) -> None:
        return None

    def skipped(self, count: int) -> None:
        return None

    def image_finished(self, worked: bool = True) -> None:
        return None

    def walk_finished(self) -> None:
        return None

    def expect(self, total: int) -> None:
        return None

    def waiting(self, reason: str | None, seconds: float, next_check: float | None = None) -> None:
        return None

    def walking(self, describe: Callable[[], str] | None) -> None:
        return None

    def publish(self, path: Path, run: str = "", *, keep_fresh: float | None = None) -> None:
        return None

    def unpublish(self) -> None:
        return None


@dataclass
class RunSummary:
    """What one run did, for the CLI's final report and for tests."""

    out_dir: Path
    run_id: str = ""
    images: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    #: Files of ``bytes`` the store made hard links to another image's file (``paths`` of one
    #: fileset), and their bytes: ``bytes`` counts them as ``--max-bytes`` does, not the disk.
    linked: int = 0
    linked_bytes: int = 0
    requests: int = 0
    retries: int = 0
    elapsed: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    #: What changed on the server since DIR's earlier runs, as this run saw it (the
    #: summary's ``changes on the server ...`` line; "": nothing, or a first run).
    changes_line: str = ""
    #: Ids of the images journaled in a dataset or plate this walk listed whole but met
    #: nowhere (:func:`harvester.changes.no_longer_listed`): their files stay.
    unlisted_ids: list[int] = field(default_factory=list)
    walk_failures: list[str] = field(default_factory=list)
    #: The HTTP status of each of ``walk_failures`` (None: no answer), for the report's hints.
    walk_statuses: list[int | None] = field(default_factory=list)
    given_up: dict[str, str] = field(default_factory=dict)
    not_requested: dict[str, int] = field(default_factory=dict)
    done_by_kind: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    dry_run: bool = False
    pending: int = 0
    index_rows: int | None = None
    #: ``DIR/labels.csv`` when the index write made one (label keys given or recorded).
    labels_file: Path | None = None
    #: How many labels that ``labels.csv`` lists (the classes), for the summary's line.
    labels_listed: int = 0
    #: Images per split and the line naming them, when DIR records a split (``split.json``).
    split_counts: dict[str, int] | None = None
    split_line: str = ""
    #: The line saying what ``originals.tsv``/``raw-urls.txt`` hold, when the index write
    #: made them (a folder with ``paths`` files: :mod:`harvester.originals`).
    originals_line: str = ""
    #: A shard run leaves index.csv to ``harvester index`` (see Harvest.run).
    index_deferred: bool = False
    #: Stopped (Ctrl-C, SIGTERM) while another process held DIR's index lock (``harvester
    #: index`` labelling a big folder): the index write gave up its wait, index.csv is left
    #: to the next write (see Harvest._write_index).
    index_left: bool = False
    #: The run sent credentials of its own (headers, cookies, a user or a query such as
    #: ``?bsession=KEY`` on the base URL, as the target check counts them): a 403 then may
    #: be that session ending, not the images' fault.
    session_sent: bool = False
    slowdowns: int = 0
    #: The run's ``max_retries``: how the report words failures that got a busy answer to
    #: their last try ("through all retries" is untrue of a run that retries nothing).
    max_retries: int | None = None
    #: ``(stacks, planes, bytes, assembly bytes)`` left in ``DIR/staging`` by an interrupted
    #: or failed run, of a shard's own images for a shard's run
    #: (:func:`harvester.layout.staged_planes`): kept for the rerun, said in the
    #: summary (the run's "0 B stored" hid them). None: not looked at (a run that finished).
    staged: tuple[int, int, int, int] | None = None
    #: Another process may be harvesting DIR as the run ends (:func:`harvester.runlock.
    #: others_may_hold`: a lock held, or no locks here to tell): the staged planes and a
    #: half-written stack in ``staged`` may be its work in progress, not a killed run's.
    staged_others_running: bool = False
    selection: str = ""
    #: The run's store opened DIR (before that, an interrupted run wrote nothing).
    store_opened: bool = False
    #: Why the run stopped when the session it sent ended mid-run (the server's "Not logged
    #: in", :mod:`harvester.session`): every finished file journaled, the rest pending, exit
    #: 2 (a person must log in again). Empty: it did not.
    session_ended: str = ""
    #: Why the run stopped when the credentials it sent stopped working mid-run (a 401 of
    #: the API root too, :mod:`harvester.session`: a token expired, a password changed):
    #: as :attr:`session_ended`, with new credentials to give. Empty: it did not.
    credentials_refused: str = ""
    #: Why the run stopped waiting for a server that was down (``outage_wait`` reached):
    #: an interruption that exits 75, "try again later". Empty: it did not.
    server_down: str = ""
    #: Why the run stopped asking for images: the files it stored reached ``max_bytes``
    #: (``--max-bytes``), said as ``the --max-bytes budget of 500M was reached``. Every
    #: finished file journaled, the rest pending: exit 8, and the same command continues,
    #: with a budget of its own. Empty: it did not, or the file that reached it was the
    #: run's last (the stop cut nothing short: the run ended as a complete one).
    budget_reached: str = ""
    #: What ended the walk that went on after :attr:`budget_reached` to learn whether work
    #: was left: the server going down, the session ending (said on a ``note:`` line before
    #: the budget's ``stopped:`` line). The run still exits 8: the budget stopped its
    #: fetching, everything it stored is kept, and the same command continues (where the
    #: session ended, once logged in again). Empty: nothing did.
    after_budget: str = ""
    #: A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run, not the run itself (its budget,
    #: the server down, the session's end): exit 130 even after the budget was reached,
    #: as the person who pressed Ctrl-C expects.
    signalled: bool = False
    #: Seconds the run paused while the server was down (:mod:`harvester.outage`).
    outage_waited: float = 0.0
    #: The pause under way when the run was interrupted: ``6.1s (HTTP 503 ...)``, how long
    #: the server had been down and what it answered. Empty: the run was not paused.
    paused_when_stopped: str = ""
    #: The run's only target, a replayed ``--ids-from`` source, held no id: nothing was
    #: done, and one warning said so (a summary of zeros under it said nothing more).
    no_ids: bool = False
    #: Of the images a dry run found, those read from ``--ids-from`` alone, which it did not
    #: ask the server about (``--image`` ids it checked): its note counts them.
    unchecked_ids: int = 0
    #: Images found that ``harvester forget --gone-ids-from`` recorded as gone from the
    #: server (:mod:`harvester.gone`): nothing asked for them, no failure counted.
    gone: int = 0
    #: Files asked again at the end of the run after failing on busy or broken answers
    #: (:mod:`harvester.second_chance`), and how many of them were done then.
    asked_again: int = 0
    done_again: int = 0
    #: Walk steps (listings) walked again at the end after failing on busy or broken
    #: answers (:class:`~harvester.walk.WalkAgain`), and how many of them were done then.
    walked_again: int = 0
    walked_again_done: int = 0

    @property
    def rate(self) -> float:
        """Mean requests per second over the time the run worked: the time it paused for a
        server down is left out (an hour's outage in a two-hour run halved the figure, which
        read as the server's pace or the harvester's)."""
        working = self.elapsed - self.outage_waited
        return self.requests / working if working > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not (self.failed or self.walk_failures or self.not_requested)

    @property
    def exit_code(self) -> int:
        """0 all done, 1 finished with failures, 130 interrupted, 75 the server stayed down,
        2 the session ended or the credentials were refused (new ones are needed: no
        retry later can help), 8 the ``--max-bytes`` budget was reached (as rclone's
        ``--max-transfer``; not 75, which scripts retry at once, spending a new budget
        each time, nor 130, a signal's; also where the server went down or the session
        ended after it, as the walk looked for work left: :attr:`after_budget`). A signal
        after the budget is still 130: the person who sent it stopped the run."""
        if self.session_ended or self.credentials_refused:
            return 2
        if self.server_down:
            return 75
        if self.budget_reached and not self.signalled:
            return 8
        if self.interrupted:
            return 130
        return 0 if self.ok else 1


# --------------------------------------------------------------------------- checks
def resolve_config(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    typed: bool = True,
    saved: AbstractSet[str] = frozenset(),
) -> HarvestConfig:
    """:func:`harvester.config.resolve` (``typed``: the overrides are flags typed now, named
    so in a refusal; ``saved``: those a resume took from the folder, named as saved), then
    a plan's settings (``harvester harvest``).

    With ``--from-plan`` (or ``from_plan`` in the file) the plan's base URL and artifacts
    are the run's unless a flag or the config file gives them, and a plan of another server
    is refused (:func:`harvester.plan.apply_plan`, which ``harvester slurm`` uses too):
    before anything is sent or written. Without a plan, exactly ``resolve``.
    """
    from harvester.config import resolve

    given = dict(overrides or {})
    try:
        cfg = resolve(config_file, given, typed=typed, saved=saved)
    except ConfigError as exc:  # (a --split-seed without --split: DIR's split, if any)
        from harvester.splits import with_redraw_hint  # (a refusal's hint: not on start-up)

        raise with_redraw_hint(exc, given) from None
    if cfg.from_plan is None:
        return cfg
    from harvester.plan import apply_plan, given_settings

    cfg, _info = apply_plan(cfg, cfg.from_plan, given_settings(config_file, given))
    return cfg


def walk_failure_lines(failures: Iterable[WalkFailure]) -> list[str]:
    """The summary's ``walk failed:`` lines (after that word), a run's and a dry run's: the
    status once, and the URL (redacted, as the client records it) in ``<...>`` as a file's
    ``failed:`` line has it, so that where a URL holding spaces or ``|`` ends is plain."""
    return [
        f"{f.what}{STUDY_ONLY if f.study_only else ''}: {with_status(f.status, f.reason)}"
        + (f" <{f.url}>" if f.url else "")
        for f in failures
    ]


def check_out_dir(out: Path) -> None:
    """Refuse an output folder we cannot use, before anything is sent."""
    if out.exists() and not out.is_dir():
        raise StorageError(
            f"output folder {str(out)!r} is a file", hint="choose a folder with --out DIR"
        )
    if out.is_symlink() and not out.exists():  # dangling: mkdir says only "File exists"
        raise StorageError(
            f"output folder {str(out)!r} is a broken symbolic link (to {os.readlink(out)!r})",
            hint="create the folder it points to, or choose another with --out DIR",
        )
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe != out and probe.exists() and not probe.is_dir():
        raise StorageError(
            f"output folder {str(out)!r} cannot be made: {str(probe)!r} is a file",
            hint="choose a folder with --out DIR",
        )
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise StorageError(
            f"output folder {str(out)!r} cannot be written",
            hint="check the permissions, or choose another folder with --out DIR",
        )


def client_settings(cfg: HarvestConfig, **changes: Any) -> ClientSettings:
    values: dict[str, Any] = {
        "base_url": cfg.base,
        "concurrency": cfg.concurrency,
        "rate": cfg.rate,
        "burst": cfg.burst,
        "max_retries": cfg.max_retries,
        "timeout": cfg.timeout,
        "min_speed": cfg.min_speed,
        "headers": dict(cfg.headers),
        "cookies": dict(cfg.cookies),
        "follow_redirects": cfg.follow_redirects,
    }
    values.update(changes)
    return ClientSettings(**values)


async def probe_server(
    cfg: HarvestConfig, *, share_limits_of: Client | None = None, quick: bool = False
) -> None:
    """Make sure ``base_url`` is an OMERO.web server before walking anything.

    ``api/`` answers a tiny JSON version list on every OMERO.web with the JSON
    API; anything else (an HTML page, garbage, a huge body) is a
    :class:`NotOmeroError`, no answer a :class:`RemoteError`, each with a
    one-line reason. Few retries: an unreachable host should fail in seconds,
    not after a full backoff schedule (:class:`_Looks` says how it is asked).
    ``share_limits_of``: the run's client, whose concurrency and rate limits
    the probe shares, so that it counts towards the run's politeness; a server
    still busy (or breaking off its answers) after the retry budget is then
    waited for as a run waits mid-way, when the client has an enabled
    :class:`~harvester.outage.Outage` (:meth:`~harvester.outage.Outage.wait_at_start`),
    and asked again once it answers. Else, or past ``outage_wait``:
    :class:`ServerUnavailableError` (exit 75).
    ``quick``: for a check the caller can do without (``harvester slurm`` on a
    login node, whose tasks check again): no retry, fewer looks at a wrong
    answer, a shorter time limit, and a busy server is not waited for
    (:class:`ServerUnavailableError` at once).
    """
    outage = share_limits_of.outage if share_limits_of is not None and not quick else None
    while True:
        try:
            await _probe_once(cfg, share_limits_of, quick)
        except _BusyAtStart as busy:
            if outage is None or not outage.enabled or not busy.worth_waiting:
                raise busy.error from None
            await outage.wait_at_start(busy.answer)
            continue
        if share_limits_of is not None:  # the server answered: its timeouts mean overload now
            share_limits_of.answered = True
        return


class _BusyAtStart(Exception):
    """The server check's answer was busy or broken off through its retries: ``error`` is
    what the user is told if the run does not wait, ``answer`` the last failure."""

    def __init__(self, error: ServerUnavailableError, answer: FetchError, *, proxied: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.answer = answer
        self.proxied = proxied

    @property
    def worth_waiting(self) -> bool:
        """Is this a server down for a while, not a proxy failing to reach it? Through a
        proxy, a 502 or 504, or an answer broken off, is as often the proxy unable to reach
        a wrong host as a server down: such a run fails at once, as before (exit 75, naming
        the proxy), rather than waiting an hour. A 429 or a 503 (a maintenance page) comes
        from the server itself and is waited for."""
        return not self.proxied or self.answer.status in (429, 503)


async def _probe_once(cfg: HarvestConfig, share_limits_of: Client | None, quick: bool) -> None:
    """One server check, as :func:`probe_server` describes it, with its retries; a busy
    server raises :class:`_BusyAtStart`."""
    settings = client_settings(
        cfg,
        max_retries=0 if quick else min(cfg.max_retries, 1),
        timeout=min(cfg.timeout, QUICK_PROBE_TIMEOUT if quick else PROBE_TIMEOUT),
    )
    # A base-URL query may hold a session key, the authority a password.
    shown = redact_url(settings.base_url.partition("?")[0])
    hint = "check --base-url (e.g. https://idr.openmicroscopy.org)"
    shared = share_limits_of.limiter if share_limits_of is not None else None
    counts = share_limits_of.stats if share_limits_of is not None else None
    looks = _Looks(cfg, shared, quick, counts)
    outage = share_limits_of.outage if share_limits_of is not None and not quick else None
    looks.waited_out = outage is not None and outage.enabled
    async with _probe_client(settings, shared, looks.seen, counts) as client:
        if client.proxy is not None:
            # Through a proxy (proxy environment variables), the proxy is what may be wrong.
            hint = (
                f"requests go through the proxy {client.proxy.shown} (from "
                f"{client.proxy.variable}): check it, or name the server in no_proxy"
            )
        not_omero = hint if client.proxy is not None else _not_omero_hint(settings.base_url)
        looks.shown, looks.proxy = shown, client.proxy
        try:
            await looks.ask(client, urls.api_root(), _api_root_check)
        except InvalidBodyError as exc:
            looks.wrong.append(exc.reason)
            raise looks.not_omero(shown, not_omero) from None
        except TLSError as exc:
            # Not "not OMERO": the server was never heard; keep the client's certificate hint.
            raise UntrustedServerError(
                f"cannot reach {shown}: {exc.reason}", hint=exc.hint
            ) from None
        except RedirectRefused as exc:
            # A front end sending http:// to https://, or / to /omero/: where it sends api/
            # is the base URL to give (not "e.g. IDR", nor "served under a path").
            where = exc.target.partition("?")[0].partition("#")[0]
            root = where.removesuffix(urls.api_root())
            keep = " (with its credentials)" if url_holds_secret(settings.base_url) else ""
            root_flag = f"--base-url {shell_quote(root)}{keep}"
            sent = f"the server sends its API root to {where}: give {root_flag}"
            raise NotOmeroError(
                f"{shown} sends its API root (api/) elsewhere: {exc.reason}",
                hint=sent if root != where else not_omero,
            ) from None
        except PermanentError as exc:
            if exc.status == 407 and client.proxy is not None:
                raise RemoteError(f"cannot reach {shown}: {exc.reason}", hint=exc.hint) from None
            if exc.status == 401:
                # An OMERO.web behind HTTP Basic auth (a proxy's): not "not OMERO.web".
                # With credentials sent, a typo and a token expired get the same 401: both
                # are said (the credentials themselves never are).
                said = f"{shown} asks for credentials (api/ answered {exc.reason})"
                if client.authorizes:
                    said = (
                        f"{shown} refused the credentials sent (api/ answered {exc.reason}): "
                        f"{REFUSED_CAUSES}"
                    )
                raise CredentialsError(said, hint=exc.hint) from None
            if exc.status == 404 and await _probe_webclient(client, looks):
                logger.warning("%s has no JSON API (api/ 404): plates cannot be walked", shown)
                return
            raise NotOmeroError(
                f"{shown} does not look like an OMERO.web server (api/ answered {exc.reason})",
                hint=not_omero,
            ) from None
        except FetchError as exc:
            through = f" (through the proxy {client.proxy.shown})" if client.proxy else ""
            # A proxy's 502 reads as the server's.
            busy = unavailable(shown, exc, through, honoured=client.retry.max_retry_after)
            if busy is not None:
                raise _BusyAtStart(busy, exc, proxied=client.proxy is not None) from None
            if exc.status is not None:
                # It answered (a 500 through the retries): "cannot reach" and "nothing answers
                # on this machine's port" were both untrue of it. An error of the server's
                # own (or its proxy's), not of the command: exit 75 (try again later), as a
                # busy server's.
                raise _failing_at_start(shown, exc, client.proxy) from None
            if client.proxy is not None:  # (the proxy not answering: no sign of a move)
                raise RemoteError(f"cannot reach {shown}: {exc.reason}", hint=hint) from None
            hint = _unreachable_hint(settings.base_url, hint)
            raise UnreachableServerError(f"cannot reach {shown}: {exc.reason}", hint=hint) from None


@contextlib.asynccontextmanager
async def _probe_client(
    settings: ClientSettings,
    shared: AdaptiveLimiter | None,
    on_retry: Callable[[RetryEvent], None],
    counts: ClientStats | None,
    *,
    asks_again: bool = False,
) -> AsyncIterator[Client]:
    """A client of the server check, whose requests and retries count into ``counts`` (the
    run client's) once it closes: the summary's "N requests" is every request the run sent,
    as the server's log has them, the check at start's included (it left them out).
    ``asks_again``: its first request follows another client's failed tries, so it is a
    retry too (counted as one: the summary said 2 retries of 4 requests, 3 of them retries)."""
    client = Client(settings, limiter=shared, on_retry=on_retry)
    # Longer than any retry would wait (twice the backoff cap, 60 s): a Retry-After a retry
    # honours (a 429's 45 s) is still waited and retried as any request's is.
    client.retry.longest_retry_after = retry_after_cap(settings.backoff_cap)
    try:
        async with client:
            yield client
    finally:
        if counts is not None:
            counts.requests += client.stats.requests
            counts.retries += client.stats.retries
            if asks_again and client.stats.requests:
                counts.retries += 1


def _answered(shown: str, proxy: Proxy | None, reason: str) -> str:
    """What the server check was answered, said with who answered: the server's API root, or,
    through a proxy, the proxy (its answer may be its own or the server's: it gave it)."""
    if proxy is None:
        return f"{shown} answered its API root (api/) with {reason}"
    return f"the proxy {proxy.shown} answered {reason} for the API root (api/) of {shown}"


def _failing_at_start(shown: str, exc: FetchError, proxy: Proxy | None) -> ServerUnavailableError:
    """The error for a server check answered with a failure (500, 408) through the whole retry
    budget: server (or proxy) trouble, so "try again later" (exit 75), never "cannot reach"."""
    if proxy is None:
        return ServerUnavailableError(
            _answered(shown, None, exc.reason),
            hint="the server is there but failing: try again later; if it keeps "
            "failing, tell its administrators, or check --base-url",
        )
    return ServerUnavailableError(
        _answered(shown, proxy, exc.reason),
        hint="the server, or the proxy before it, is failing: try again later; if it keeps "
        f"failing, check the proxy (from {proxy.variable}) and --base-url, or name the server "
        "in no_proxy",
    )


#: More looks at a server check's answer that is not the one asked for (an HTML page with
#: status 200, garbage, JSON that is not the API root), after its first tries: a flaky proxy's
#: error page, once, must not end a run as "not OMERO.web", while a wrong --base-url answers
#: the same every time and still fails in seconds (the looks wait the usual backoff, up to
#: 1 s before them and 0.5 s, then 1 s between them). Never more than --max-retries (0: one
#: try, as asked).
MORE_LOOKS = 3
#: The quick probe's (``harvester slurm`` on a login node): fewer, so that it stays quick.
QUICK_MORE_LOOKS = 2


#: A busy API root's wait before the next try that the server check says as it begins
#: (seconds): a maintenance page's Retry-After, not a first retry's usual second at most.
SAY_BUSY_WAIT = 2.0


@dataclass
class _Looks:
    """How the server check asks one path, and the answers it got that were not it.

    Silence, a refused connection or a TLS failure: the probe client's few tries (an
    unreachable host fails in seconds). A server that is there but busy, breaking off its
    answers, failing (500) or timing out a request (408; :class:`ServerStatusError`): the
    run's whole retry budget, Retry-After honoured. An answer that is not the one asked for
    (:class:`InvalidBodyError`): a few more looks, as one such answer may be something in
    between failing once; any right answer among them is believed. Every try goes through
    ``shared`` (the run's limits), when given.
    """

    cfg: HarvestConfig
    shared: AdaptiveLimiter | None
    quick: bool
    #: The run client's counters, which every request of the check counts into (None: none).
    counts: ClientStats | None = None
    #: The reason of each wrong answer, in order (retries included): for the message.
    wrong: list[str] = field(default_factory=list)
    #: The server as messages show it, and the proxy that answers for it: for the line that
    #: says a failing API root is asked again ("": not said).
    shown: str = ""
    proxy: Proxy | None = None
    #: Is a server still busy after the budget waited for (the run's outage wait)? Then the
    #: line says so, not "before giving up".
    waited_out: bool = False

    #: Whether the check's waits were said: a busy API root's long wait
    #: (:data:`SAY_BUSY_WAIT`), or the budget's line (:meth:`_say_retrying`). Once a check.
    said_wait: bool = False

    def seen(self, event: RetryEvent) -> None:
        """The clients' retry hook: note a wrong answer before it is asked again, and say a
        busy answer's long wait (a maintenance page's Retry-After) before it begins.

        Only a wait the answer asked for (a backoff's, 6 s between the budget's tries, was
        said too, after the line that gave the whole budget's), and not once that line
        said the check's waits."""
        if isinstance(event.error, InvalidBodyError):
            self.wrong.append(event.error.reason)
        elif (
            isinstance(event.error, OverloadError)
            and event.error.retry_after is not None
            and event.wait >= SAY_BUSY_WAIT
            and not self.said_wait
            and self.shown
        ):
            # A maintenance page's Retry-After (up to a minute) is waited within the first
            # tries: a SLURM task started in the window sat through it with nothing in its
            # log but the limiter's "server overloaded" line.
            self.said_wait = True
            logger.warning(
                "%s: asking again in %s%s",
                _answered(self.shown, self.proxy, event.error.reason),
                duration_text(math.ceil(event.wait), tenths=False),
                ", as its Retry-After asks",
            )

    async def ask(
        self, client: Client, path: str, check: Callable[[Fetched], None] | None = None
    ) -> Fetched:
        """``path``'s answer as JSON, passing ``check``, asked through ``client`` and then as
        patiently as the failure deserves; the last failure is raised."""
        try:
            return await self._ask_patiently(client, path, check)
        except InvalidBodyError as exc:
            more = min(self.cfg.max_retries, QUICK_MORE_LOOKS if self.quick else MORE_LOOKS)
            if more == 0:
                raise
            self.wrong.append(exc.reason)
            wrong = exc
        return await self._again(client, path, check, after=wrong, max_retries=more - 1)

    async def _ask_patiently(
        self, client: Client, path: str, check: Callable[[Fetched], None] | None
    ) -> Fetched:
        try:
            return await client.get(path, Expect.JSON, check)
        except FetchError as exc:
            # Such a server gets the run's whole retry budget; silence, a refused
            # connection or a TLS failure keep the quick probe (fails in seconds).
            if self.quick or not (server_is_there(exc) or isinstance(exc, ServerStatusError)):
                raise
            if self.cfg.max_retries == 0:
                # No budget: one try, as asked (it was asked again, once, after a line saying
                # "asking again ... (--max-retries 0)"), as a wrong answer is looked at once.
                raise
            if client.retry.asks_too_long(exc):
                # A busy server asking to come back later than a retry waits (a maintenance
                # page's Retry-After: 900): down for a while, which the outage wait (or, with
                # --outage-wait 0, exit 75 now) is for; the budget's retries would sit through
                # up to a minute each, 6 minutes in all, before either.
                raise
            # The server is there and says "later" (maintenance, overload), or its answers
            # break off (a proxy resetting under load), or it fails with a 500 (OMERO.web's
            # Django erring under load, which passes) or a 408 (it gave up waiting for the
            # request, under the same load): worth the run's whole retry budget, as any
            # request gets, Retry-After honoured, before giving up.
            # A busy answer (a maintenance page's 503) is said too: a task started inside a
            # maintenance window waited through the budget with nothing in its log but the
            # limiter's "server overloaded" line, and status had no word of why.
            if isinstance(exc, (ServerStatusError, OverloadError)) and path == urls.api_root():
                self._say_retrying(client, exc)
            return await self._again(
                client, path, check, after=exc, max_retries=self.cfg.max_retries
            )

    def _say_retrying(self, client: Client, exc: ServerStatusError | OverloadError) -> None:
        """Say, before the wait, that a failing or busy API root is asked again and for how
        long: a wrong --base-url whose api/ answers 500 spends the whole budget (up to 17 s by
        default) before its error, a silence that looked like a hang; so does a server in
        maintenance (503), and a SLURM task's log then held no word of why it waited."""
        if not self.shown:
            return
        self.said_wait = True  # (each wait after it is one of those it says)
        retries = self.cfg.max_retries
        if exc.retry_after is None:
            # The waits' ceilings: the one before the budget's first try, then each retry's.
            longest = client.retry.ceiling(2) + sum(
                client.retry.ceiling(n) for n in range(1, retries + 1)
            )
            within = f"for up to {duration_text(math.ceil(longest), tenths=False)} "
        else:
            # Each wait is what the answer asks (60 s at most): one before the budget's first
            # try, one each retry, if the next answers ask the same. It said "as its
            # Retry-After asks" alone, which left when it gives up unsaid (6 minutes at 60 s).
            each = min(max(0.0, exc.retry_after), client.retry.max_retry_after)
            longest = each * (retries + 1)
            about = duration_text(max(1, math.ceil(longest)), tenths=False)
            within = f"for about {about} as its Retry-After asks "
        # A 502 straight from the server is busy: past the budget it is waited for as a
        # server down (its line said "before giving up", then the run paused for an hour).
        waits = self.waited_out and self.proxy is None and exc.status in SERVER_BUSY
        then = "waiting for it as for a server down (--outage-wait)" if waits else "giving up"
        logger.warning(
            "%s: asking again %s(--max-retries %d) before %s",
            _answered(self.shown, self.proxy, exc.reason),
            within,
            retries,
            then,
        )

    async def _again(
        self,
        client: Client,
        path: str,
        check: Callable[[Fetched], None] | None,
        *,
        after: FetchError,
        max_retries: int,
    ) -> Fetched:
        """Ask ``path`` again through a new client of ``max_retries`` retries (the run's
        limits, wrong answers noted), after ``client``'s first tries failed with ``after``.

        The next request is a retry too: it waits as a retry does after a first attempt
        (it follows one or two tries), what the last answer asked for when it did."""
        await anyio.sleep(client.retry.wait_for(2, after))
        settings = dataclasses.replace(client.settings, max_retries=max_retries)
        async with _probe_client(
            settings, self.shared, self.seen, self.counts, asks_again=True
        ) as again:
            return await again.get(path, Expect.JSON, check)

    def not_omero(self, shown: str, hint: str) -> NotOmeroError:
        """The error for answers that were never the API root: the last one's reason, and
        how many there were; answers that differ are more likely something in between
        failing than a wrong --base-url (which answers the same every time)."""
        last, count = self.wrong[-1], len(self.wrong)
        if count == 1:
            return NotOmeroError(
                f"{shown} does not look like an OMERO.web server ({last})", hint=hint
            )
        if len(set(self.wrong)) == 1:
            return NotOmeroError(
                f"{shown} does not look like an OMERO.web server ({last}, {count} times)",
                hint=hint,
            )
        return NotOmeroError(
            f"{shown} does not look like an OMERO.web server "
            f"({last}; {count} answers, none the JSON API root)",
            hint="its answers differ from one try to the next (something in between may be "
            f"failing): try again later; if it keeps failing, {hint}",
        )


def _api_root_check(fetched: Fetched) -> None:
    """Refuse a JSON answer that is not OMERO.web's API root as a wrong answer (looked at
    again): a huge body, or no version list."""
    if len(fetched.body) > PROBE_MAX_BYTES:
        raise InvalidBodyError(
            f"api/ answered {len(fetched.body)} bytes of JSON",
            url=fetched.url,
            status=fetched.status,
        )
    body = fetched.json()
    versions = body.get("data") if isinstance(body, dict) else None
    if not isinstance(versions, list) or not any(
        isinstance(v, dict) and ("url:base" in v or "version" in v) for v in versions
    ):
        raise InvalidBodyError(
            "api/ is not the JSON API root", url=fetched.url, status=fetched.status
        )


#: The first path segments of OMERO.web's own pages: a base URL holding one was copied from
#: the browser, and the server's root is the part before it.
OMERO_WEB_PAGES = frozenset(
    {"webclient", "webgateway", "webadmin", "api", "figure", "iviewer", "omero_iviewer",
     "gallery", "mapr", "webstart", "login"}
)  # fmt: skip


def _not_omero_hint(base_url: str) -> str:
    """What to give instead when ``base_url`` answered but is not OMERO.web's root.

    "e.g. https://idr.openmicroscopy.org" helps little on a private server: there the usual
    slips are a URL copied from the browser (``https://host/omero/webclient/?show=...``,
    whose root is before ``webclient/``) and a server served under a path (``/omero/``)
    given as its host alone. Neither names a credential (no user, no query); where the
    URL held some, the hint says to give them again: the URL as named, pasted, was
    refused as asking for credentials.
    """
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    keep = " (with its credentials)" if url_holds_secret(base_url) else ""
    segments = [segment for segment in parts.path.split("/") if segment]
    for n, segment in enumerate(segments):
        if segment.lower() in OMERO_WEB_PAGES:
            root = origin + "".join(f"/{s}" for s in segments[:n])
            return (
                "check --base-url: give the address OMERO.web is served under, without its "
                f"{segment}/ page: --base-url {shell_quote(root)}{keep}" + _link_targets(base_url)
            )
    if not segments:
        return (
            "check --base-url: where OMERO.web is served under a path, give it too "
            f"(--base-url {shell_quote(origin + '/omero')}{keep}, as the browser shows it "
            "before /webclient/)"
        )
    # A path that is no page (``/omero/`` on a server at its root, a path mistyped): the
    # address the browser shows before /webclient/ is the one, not "e.g. IDR".
    path = "/" + "/".join(segments) + "/"
    return (
        f"check --base-url: OMERO.web is not under {path} there: give the address the "
        f"browser shows before /webclient/ (--base-url {shell_quote(origin)}{keep} where it "
        "is at the server's root)"
    )


def _link_targets(base_url: str) -> str:
    """``; what the link shows: --plate 7361`` for a link to what OMERO.web shows given as
    the base URL (``.../webclient/?show=plate-7361``, an image viewer's: the links
    :func:`~harvester.target_text.parse_link` reads): the user meant its targets too, and
    the target flags take them (the link itself as well); empty for any other URL. Its ids
    alone are named: the rest of its query may hold a session key."""
    from harvester.target_text import TargetTextError, parse_link

    try:
        return f"; what the link shows: {parse_link(base_url).as_flags()}"
    except TargetTextError:
        return ""


def _unreachable_hint(base_url: str, default: str) -> str:
    """What to check when nothing answered: "check --base-url (e.g. IDR)" helps little when
    the URL is IDR's already, or this machine's own (an emulator not started)."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1") or host.startswith("127."):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # OMERO.web under a path (`http://127.0.0.1:8080/omero`): the emulator serves it so
        # with --prefix; the command without it answered every request 404 once started.
        segments = [s for s in parts.path.split("/") if s]
        pages = {"webclient", "webgateway", "iviewer", "api"}  # (a page pasted: no prefix)
        prefix = "/" + "/".join(segments) if segments and pages.isdisjoint(segments) else ""
        prefix_flag = f" --prefix {shell_quote(prefix)}" if prefix else ""
        return (
            f"nothing answers on this machine's port {port}: start the server there (the "
            f"emulator: harvester emulate --port {port}{prefix_flag}), or check --base-url"
        )
    if host == urlsplit(DEFAULT_BASE_URL).hostname:
        return (
            "IDR did not answer from this machine: check its network access (behind a "
            "proxy, set https_proxy; see README, Proxies)"
        )
    return default


async def probe_and_preconnect(cfg: HarvestConfig, client: Client) -> None:
    """:func:`probe_server`, with ``client``'s connections being opened during its round trip.

    The probe's answer is a round trip of idle time before the run can start;
    opening the run's keep-alive connections meanwhile (in the background: the
    run never waits for them, a request whose connection is still being opened
    waits for that one) lets the first requests leave at once. Nothing in DIR is
    touched either way.
    """
    client.start_preconnect()
    await probe_server(cfg, share_limits_of=client)


async def _probe_webclient(client: Client, looks: _Looks) -> bool:
    """Second chance for servers without the JSON API: the webclient tree answers JSON
    (asked as the API root is, a wrong answer looked at again)."""
    try:
        await looks.ask(client, urls.containers(), _containers_check)
    except FetchError:
        return False
    return True


def _containers_check(fetched: Fetched) -> None:
    """Refuse (as a wrong answer) a JSON body that is not the webclient's container tree."""
    body = fetched.json()
    if not (isinstance(body, dict) and {"screens", "projects"} & set(body)):
        raise InvalidBodyError(
            "webclient/api/containers/ is not the container tree",
            url=fetched.url,
            status=fetched.status,
        )


# --------------------------------------------------------------------------- store adapter
class StoreStudy:
    """Study metadata into the store: one journaled record per object (``put_study``).

    The main file (``plate.json``...) goes first: it is the record's ``path``.
    A rerun skips objects whose record is done, so their requests are not sent.
    """

    def __init__(
        self,
        store: Store,
        on_stored: Callable[[int], None] | None = None,
        past_budget: Callable[[int], bool] | None = None,
        on_unsaved: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.on_stored = on_stored
        #: True once the run's ``--max-bytes`` budget is reached, or where the files of a
        #: save (their bytes given) would take the run past it: then the save is work left,
        #: which stops the run, and nothing is saved (``Harvest._study_past_budget``). A
        #: save it lets through is counted as underway until ``on_stored`` (saved) or
        #: ``on_unsaved`` (its write failed or was cancelled) is told of its bytes.
        self.past_budget = past_budget
        self.on_unsaved = on_unsaved
        #: Bytes of the study files queued this run: the summary's "stored" counts them
        #: with the images' (status's total of the folder does), and so does the progress.
        self.bytes = 0

    def wants(self, kind: str, object_id: int) -> bool:
        return not self.store.state.is_done(kind, object_id)

    async def saved_listing(
        self, kind: str, object_id: int, name: str, sha256: str
    ) -> bytes | None:
        return await anyio.to_thread.run_sync(
            self.store.saved_study_file, kind, object_id, name, sha256
        )

    async def save(self, kind: str, object_id: int, files: dict[str, bytes]) -> None:
        nbytes = sum(len(data) for data in files.values())
        if self.past_budget is not None and self.past_budget(nbytes):
            await anyio.lowlevel.checkpoint()  # (the run is stopping: cancelled here)
            return
        main = f"{kind}.json"
        ordered = {main: files[main]} if main in files else {}
        ordered.update((name, data) for name, data in files.items() if name != main)
        try:
            await self.store.put_study(kind, object_id, ordered)
        except BaseException:
            if self.on_unsaved is not None:
                self.on_unsaved(nbytes)
            raise
        self.bytes += nbytes
        if self.on_stored is not None:
            self.on_stored(nbytes)


def _shielded(
    record: Callable[[Mapping[str, Any] | None], Awaitable[None]],
) -> Callable[[Mapping[str, Any] | None], Awaitable[None]]:
    """``record`` run to its end whatever cancels its caller meanwhile (a journal write:
    see :meth:`Harvest._fetch_within_budget`)."""

    async def journal(meta: Mapping[str, Any] | None) -> None:
        with anyio.CancelScope(shield=True):
            await record(meta)

    return journal


def names_flag(given: str, flag: str) -> bool:
    """Does ``given`` (a word before any ``=``) name ``flag`` as argparse reads the command
    line: the flag, or a prefix of it (``--base`` for ``--base-url``, ``--ids`` for
    ``--ids-from``)? Four characters at least: ``--b`` and ``--i`` are ambiguous among
    harvester's flags, which argparse refuses, so they name no flag here either."""
    return len(given) >= 4 and flag.startswith(given)


def public_argv(argv: Sequence[str]) -> list[str]:
    """The command line with any credential in a URL redacted (for journals and configs):
    the ``--base-url``'s every query value (:func:`redact_base_url`), a secret-looking
    parameter of any other URL."""
    public: list[str] = []
    base_url_next = False
    for arg in argv:
        flag, eq, value = arg.partition("=")
        is_base_url = names_flag(flag, "--base-url")  # --base, --base-u... too
        if base_url_next:
            public.append(redact_base_url(arg))
        elif is_base_url and eq:
            public.append(f"{flag}={redact_base_url(value)}")
        else:
            public.append(redact_url(arg))
        base_url_next = is_base_url and not eq
    return public


# --------------------------------------------------------------------------- the run
#: The saved settings that decide which images a sample draws, besides the catalogue.
_DRAW_KEYS = (
    "screens", "projects", "plates", "datasets", "images", "ids_from", "from_plan",
    *SELECTION_KEYS,
)  # fmt: skip


def _draw_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """What of a saved configuration decides its sample's draw (targets in sorted order:
    ``--plate 2 --plate 1`` draws what ``--plate 1 --plate 2`` draws)."""

    draw = {key: config.get(key) for key in _DRAW_KEYS}
    for key in ("screens", "projects", "plates", "datasets", "images"):
        value = draw[key]
        if isinstance(value, list):
            draw[key] = sorted(value, key=str)
    # Keys as the selection compares them (case-blind, as the target set's key has them):
    # ``--sample-per phenotype`` given again to a ``Phenotype`` sample is its draw, and was
    # taken for a new one, whose gone images lost their places to new ones.
    per = draw["sample_per"]
    if isinstance(per, str) and per.strip():
        draw["sample_per"] = sample_per_token(per)
    if draw["where"]:
        draw["where"] = where_terms(draw["where"])
    return draw


def _run_started(run: Mapping[str, Any]) -> float:
    """A "run" record's start (wall clock, as a gone image's record time is; 0 if none)."""
    started = run.get("started")
    if isinstance(started, int | float) and not isinstance(started, bool):
        return float(started)
    return 0.0


def _run_drew(state: JournalState, run: str) -> bool:
    """Did ``run`` draw its sample, as far as DIR's journals tell? It did if its walk, the
    latest of its targets, listed everything (a sample is journaled whole before any of it
    is fetched), or if it fetched an image's file (a "done" or "failed" record of one:
    fetching starts once the sample is drawn), or if a later run's walk names it as the run
    whose draw its sample is (``sample_of``: that walk's record replaced ``run``'s, whose
    sample, stopped before any image was fetched, left no other trace). A run whose walk
    failed a listing or was stopped did none of these. (Stops at the first record of
    ``run``: a first run that fetched is told without reading a big folder's every record.)"""
    if any(
        (walk.get("run") == run and not walk_lost_images(walk)) or walk.get("sample_of") == run
        for walk in state.walks.values()
    ):
        return True
    images = layout.ARTIFACT_FILES  # (image kinds: a study file is fetched while walking)
    return any(
        rec.get("run") == run and rec.get("kind") in images
        for records in (state.done.values(), state.failed.values())
        for rec in records
    )


class Harvest:
    """One run of the pipeline; see the module docstring."""

    def __init__(
        self,
        cfg: HarvestConfig,
        *,
        argv: Sequence[str] = (),
        progress: ProgressSink | None = None,
        handle_signals: bool = False,
        ids_copy: Path | None = None,
        say: Callable[[str], None] | None = None,
        replay_of: str | None = None,
        moves_server: bool = False,
        said: set[str] | None = None,
        script_written: float | None = None,
        spent_before: int = 0,
        left_index: LeftIndex | None = None,
        out_note: str | None = None,
    ) -> None:
        if cfg.out is None:
            raise UsageError("no output folder", hint="add --out DIR")
        if not cfg.has_targets:
            raise UsageError(
                "nothing to harvest",
                hint="name --screen, --project, --plate, --dataset, --image or --ids-from",
            )
        self.cfg = cfg
        self.out: Path = cfg.out
        self.argv = list(argv)
        self.progress: ProgressSink = progress or _NoProgress()
        self.handle_signals = handle_signals
        #: Where the run's informational lines go (what a name resolved to); None: nowhere.
        self.say = say
        #: A resume's replay: the run whose place it takes (harvester.config.replay_origin).
        self.replay_of = replay_of
        #: A replay that asks another server than its set's newest run asked (a --base-url
        #: given now: the server moved). Its saved run is what tells later resumes so
        #: (harvester.config._moved_sets), so it is kept though it fetched nothing.
        self.moves_server = moves_server
        #: Notes about DIR itself said already by this command (a damaged journal line):
        #: a resume's replays share it, so that each is said once, not once per replay.
        self._said = said if said is not None else set()
        #: A resume of several target sets: the images its replays took out of index.csv,
        #: said once they all ran (LeftIndex); None: this run says its own at its end.
        self._left_index = left_index
        #: A warning about DIR itself (another's files there: warn_foreign_folder), said
        #: as the store opens, once the run is known to write there (_store_run).
        self._out_note = out_note
        #: The ``--where`` of DIR's runs, read once when first asked (_no_selection_unlists).
        self._run_selections: list[Selection | None] | None = None
        #: The run this one replays said its selection's notes (see _selection_told_before).
        self._told_before = False
        #: The digests of the selection's warnings (--where, --sample) that the last run of
        #: these targets and this selection said (see _sample_said_before): the same lines
        #: are not said again.
        self._sample_told: frozenset[str] | None = None
        #: A task of a ``harvester slurm`` array: when its script was written (it records
        #: its split and pin only over older records: harvester.slurm.script_written).
        self._script_written = script_written
        self.summary = RunSummary(
            out_dir=self.out,
            dry_run=cfg.dry_run,
            session_sent=cfg.sends_session,
            max_retries=cfg.max_retries,
        )
        self.walk_stats: WalkStats | None = None
        self._shard = cfg.shard_spec
        self._store_opened = False
        # Training-data selection: when active it also applies the shard filter (after sampling).
        self._selection = Selection.from_config(cfg)
        # (the ids of the images a resume's replay unlists: for LeftIndex alone)
        self.select_stats = SelectStats(unlisted_ids=set() if left_index is not None else None)
        # A sample's labels asked only where needed, and an earlier sample's edge (_produce).
        self._sample_reuse: SampleReuse | None = None
        # The store's journal state, kept current by its commits: index.csv is built from it
        # plus what other writers appended (not from every journal read again).
        # (a dry run's too, read from DIR: it shows the sample the real run draws)
        self._journal_state: JournalState | None = None
        #: The earlier run whose draw this run's sample is (_sample_first_drawn), named in
        #: this run's "walk" records: they replace that run's, which told that it drew.
        self._sample_of: str | None = None
        # The index write recorded this run's label keys but a typo (_record_label_keys_but_absent).
        self._label_keys_recorded = False
        # --label-ids-from as read (label -> id; _check_label_ids_from), and whether this
        # run recorded it in DIR/label_ids.json (then its index write says what it did).
        self._pin_ids: dict[str, int] | None = None
        self._pin_recorded = False
        # --ids-from as the run reads it (a temporary copy of a pipe; see _check_ids_file).
        self._ids_file: Path | None = cfg.ids_from
        # That copy, when the caller made it already (copy_of_ids_source); the run removes it.
        self._ids_copy = ids_copy
        # Did a run of 0.1.3 or before skip labels here (None: not read yet)? Which images
        # did a --no-labels run journal without asking? (see _note_runs_without_labels)
        self._labels_skipped_before: bool | None = False
        self._runs_state: JournalState | None = None
        self._unasked: Container[int] = ()
        #: The fetching stage's scope while it runs: what a signal cancels (_watch_signals).
        self._work_scope: anyio.CancelScope | None = None
        #: The fetching has ended (done or stopped): what is left (the walk's end, the store's last
        #: batch, index.csv) is what a stop finishes, so a signal from now on cancels
        #: nothing (_watch_signals).
        self._work_over = False
        self._store: Store | None = None  # the run's store, once opened (closed after)
        #: The run's fetcher, once made: the walk tells it the plates' images it queues.
        self._fetcher: Fetcher | None = None
        #: The walk's targets (HarvestConfig.walk_targets) once it has ended (see _pipeline).
        self._walk_ended: str | None = None
        #: The image ids the walk sent (its walker's, once it walks; None: no walk).
        self._walk_sent: SeenIds | None = None
        #: Each image's place (placing.Placing): those the walk met again under another
        #: parent, or whose journaled place it has not listed yet, until it can tell. The
        #: walk's own once it starts (a plan's for --from-plan); this one places by id only.
        self._placing = Placing(Listed(), final=True, settled=SeenIds())
        #: What the records this run journals change (harvester.changes), for the summary.
        self._changes = Changes()
        self._placing_held = False  # a worker journals the places Placing can tell (_place_held)
        #: The workers' queue as the walk and the workers count it (_run_tasks: QueueRoom).
        self._room: QueueRoom | None = None
        #: The walk's targets once its start is journaled (None: no walk started yet).
        self._walk_started: str | None = None
        self._walk_finished = False  # its end journaled (every image it sent journaled)
        #: The latest "walk" record of those targets before this run (None: no such record).
        self._walk_before: dict[str, Any] | None = None
        self._whole: anyio.CancelScope | None = None  # the whole run's scope, once it runs
        #: Set by a stopping signal: what a wait in a worker thread, which no cancellation
        #: reaches, looks at (the index write's wait for DIR's index lock).
        self._stopping = threading.Event()
        #: Told of every file and listing of a run that sent credentials (None: no such
        #: run, or not fetching yet): stops it once they no longer open the server.
        self._watch: SessionWatch | None = None
        #: DIR's images recorded as gone from this run's server (read as the run starts
        #: work): never asked for, so that a few deleted images do not fail every resume.
        self._gone: frozenset[int] = frozenset()
        #: Bytes stored so far against ``cfg.max_bytes``: those of the earlier replays of
        #: the same resume (``spent_before``: one command, one budget), then this run's.
        self._spent = spent_before
        #: The cancel scope of each image a worker is fetching: what reaching the budget
        #: cancels (:meth:`_spend`), the walk and the other workers going on.
        self._fetching: set[anyio.CancelScope] = set()
        #: Bytes of the study files being saved (let through by :meth:`_study_past_budget`,
        #: not stored yet): what a concurrent save's budget check counts as taken.
        self._study_underway = 0
        #: What ended the walk after the budget (:meth:`_after_budget`), by the walk record's
        #: key that names it (``server_down``, ``session_ended``, ``credentials_refused``)
        #: and what the server answered: journaled with the budget's stop for ``status``.
        self._after_budget_cause: tuple[str, str] | None = None
        #: The "mixed in" note of a run asking another server than DIR's, said once the
        #: run holds DIR (:meth:`_say_server_note`).
        self._server_note: str | None = None

    # ---------------------------------------------------------------- entry
    async def run(self) -> RunSummary:
        started = time.monotonic()
        cfg = self.cfg
        spooled = self._check_ids_file()
        try:
            if cfg.from_plan is not None:
                self._check_plan()
            check_out_dir(self.out)  # in the try: a refused folder still removes the copy
            self._pin_ids = self._check_label_ids_from()
            if self._no_ids_to_harvest():
                return self.summary
            # DIR keeps the settings that shape its files (harvester.folder_settings): a run
            # asking for other values is refused here, before any request (a dry run too).
            # Inline: it reads harvest.json only (~20 us), the journals once in an old folder.
            # A setting that shaped no file yet passes: the store re-pins it (and says so)
            # under its locks; a dry run only says it would.
            repins = check_settings(self.out, run_settings(cfg))
            if cfg.dry_run:
                for name, (old, new) in repins.items():
                    note = repin_note(self.out, name, old, new, dry_run=True)
                    logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)
            # One signal watcher for the whole run, from before the probe to after the index
            # (see _watch_signals): a Ctrl-C or SIGTERM at any moment is an anyio
            # cancellation, never asyncio's native cancel of the main task.
            with anyio.CancelScope() as whole, unwrap_errors():
                self._whole = whole  # what a server down for too long cancels, outside the work
                async with anyio.create_task_group() as watching:
                    if self._watches_signals():
                        await watching.start(self._watch_signals, whole)
                    await self._run_stages(cfg)
                    watching.cancel_scope.cancel()  # the run is over: stop watching
        except StorageError as exc:
            # Once files were being written, a storage failure is "finished with failures"
            # (exit 1): everything journaled so far is kept and a rerun resumes.
            if self._store_opened:
                exc.mid_run = True  # type: ignore[attr-defined]
            raise
        finally:
            self.summary.elapsed = time.monotonic() - started
            if spooled is not None:
                spooled.unlink(missing_ok=True)
        summary = self.summary
        if not cfg.dry_run and (summary.interrupted or not summary.ok):
            # A shard's own stacks: its resubmission resumes those, not the other tasks'
            # (all of DIR/staging made every task of an array say the array's count).
            mine = self._shard_images()
            summary.staged = layout.staged_planes(
                self.out, None if mine is None else lambda image_id: not mine(image_id)
            )
            if summary.staged[1]:
                # (this run's lock is given back by now: a run that took it since counts;
                # a shard's siblings in its array do not, as they never take its images)
                summary.staged_others_running = runlock.others_may_harvest_shard(
                    self.out, cfg.shard
                )
        return summary

    def _say_server_note(self) -> None:
        """Warn, once, that DIR was harvested from another server than this run's (the
        "mixed in" note, :func:`other_server_note`), if it was."""
        note, self._server_note = self._server_note, None
        if note is not None:
            logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)

    def _watches_signals(self) -> bool:
        """Signals are the run's to handle: asked for, and only Python's main thread gets them."""
        return self.handle_signals and threading.current_thread() is threading.main_thread()

    async def _run_stages(self, cfg: HarvestConfig) -> None:
        """Probe, walk and fetch (or count, for a dry run), then write index.csv."""
        outage = Outage(cfg.outage_wait, on_give_up=self._server_down, on_wait=self._outage_waiting)
        client: Client | None = None
        fit_open_files(cfg.concurrency)  # before any request: its connections need them
        try:
            async with Client(client_settings(cfg), outage=outage) as client:
                with unwrap_errors():
                    async with anyio.create_task_group() as early_tasks:
                        early = await self._probe_with_head_start(early_tasks, client)
                        # Watched from the first lookup on: a session ended before the run
                        # began stops it as one ending mid-run does (not "not permitted").
                        watch = self._watch_credentials(client)
                        # Screen and project names become ids here, once: everything after
                        # (the targets' check, sample keys, the saved config) sees ids only.
                        if self.cfg.screen_names or self.cfg.project_names:
                            from harvester.names import resolve_target_names

                            self.cfg = await self._looked_up(
                                resolve_target_names(self.cfg, client, say=self.say, watch=watch)
                            )
                        # (in a worker thread: a folder's first check may read thousands
                        # of saved configs, and its record's write waits for a lock)
                        note = await anyio.to_thread.run_sync(
                            other_server_note, self.cfg, self.replay_of
                        )
                        # A real run says it once it holds DIR's run lock (_work_in_store):
                        # a run refused as DIR is busy said it first, then never harvested.
                        self._server_note = note
                        if cfg.dry_run:
                            self._say_server_note()
                            await self._dry_run(client)
                        else:
                            await self._real_run(client, early)
                        early_tasks.cancel_scope.cancel()  # what an interrupted run never took
        finally:
            self._outage_counts(outage, client)
        if not cfg.dry_run:
            if self._shard_images() is None:
                await self._write_index()
            else:
                # Shards end at different times: each would write a partial or racing
                # index, from the whole folder's journals that it does not hold (its
                # store loads its own images only). `harvester index` writes it once.
                self.summary.index_deferred = True
            # (after the index, which no longer lists them; by a replay too: news each time)
            deferred = self.summary.index_deferred
            if self._left_index is not None:  # (said when every set of the resume has run)
                if self._journal_state is not None:
                    self._left_index.relisted(self._journal_state)
                unlisted = self.select_stats.unlisted_ids or ()
                self._left_index.add(self._selection.where, unlisted, deferred=deferred)
            elif note := self.select_stats.no_longer_match_note(
                self._selection.where, deferred=deferred
            ):
                logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)
            await self._forget_if_nothing_done()

    async def _forget_if_nothing_done(self) -> None:
        """Remove this run's journal and saved config if it recorded nothing and nothing
        reads them (:meth:`Store.forget_run`): an hourly sync of a finished folder would
        otherwise leave two small files an hour. A run that stopped short (interrupted, a
        listing that failed) keeps them, as does the first walk of its targets and shard (a
        shard that selected nothing: its walk record is all it leaves), one whose sample
        warnings differ from those the last walk recorded (:meth:`_sample_record_changes`),
        a resume's replay at a server its set's newest run did not ask (``moves_server``),
        and one whose config
        a later command would take as the newest: other label keys (``harvester index``) or
        other artifact kinds (``harvester status``) than the newest earlier run's.
        """
        store, s = self._store, self.summary
        if store is None or not store.journaled_nothing:
            return
        if s.interrupted or s.failed or s.walk_failures:
            return
        before = self._walk_before
        if before is not None and not walk_listed_all(before):
            return  # this run's finished walk is what tells status the earlier one is mended
        if self._sample_record_changes():
            return  # its walk record tells the next run which sample warnings were said
        if self.moves_server:
            # Removed, the move was forgotten: the next resume given no --base-url asked
            # the old address again (an error once it is gone). Kept once per move: a
            # replay at the same server again has that run as its set's newest.
            return
        if before is None and self._walk_started is not None:
            # The first walk of these targets and shard: its record is what tells status
            # and index that the shard was walked. A shard whose share of a sample is empty
            # journals nothing else, and removed, it read as "never walked" for ever.
            return
        if self.cfg.label_keys and not self._label_keys_recorded:
            # Its config, which says these keys were given now, is about to go: where
            # `harvester index --label-key` recorded other keys before it began, the record
            # takes these (one recorded while it ran was given later, and stays).
            keys = self.cfg.label_keys
            run = self.summary.run_id
            order = run_orders(store.state).get(run, 0.0)
            try:
                await anyio.to_thread.run_sync(
                    lambda: carry_label_keys(
                        self.out,
                        keys,
                        by="harvester harvest",
                        order=order,
                        run=run,
                        stop=self._stopping,
                    )
                )
            except LockWaitStopped:  # its config stays: later index writes take its keys
                self._record_left(label_keys_path(self.out))
                return
        if await anyio.to_thread.run_sync(self._config_is_read, store.state):
            return
        if await anyio.to_thread.run_sync(store.forget_run):
            logger.debug("nothing to record: removed this run's journal and saved config")

    def _config_is_read(self, state: JournalState) -> bool:
        """Would ``status`` or ``harvester index`` take something from this run's config?

        Compared with the newest earlier run's config alone (one file read, usually): the
        same artifact kinds, and no label keys or the same ones. Anything else (no earlier
        config found, other values) keeps this run's files, which is what happened before.
        """
        mine = self.cfg.to_public()
        newest = newest_saved_config(self.out, state, besides=self.summary.run_id)
        if newest is None:
            return True
        if bool(mine["label_keys"]) and newest.get("label_keys") != mine["label_keys"]:
            return True
        if newest.get("artifacts") == mine["artifacts"]:
            return False
        # Other kinds than the newest run's: a resume's replay of an older target set (the
        # sets are replayed newest first). ``status`` reads its kinds as its set's newest
        # run's, so where that run had these kinds already, nothing reads this one: kept, it
        # became the folder's newest run, every resume of a finished folder left one, and a
        # new target took its kinds, then the other set's after the next resume.
        return self._set_had_other_kinds(mine)

    def _set_had_other_kinds(self, mine: dict[str, Any]) -> bool:
        """Did the newest earlier run of this run's target set ask for other kinds (or is
        there none)? Reads every saved config once: only a run that did nothing and asked
        for other kinds than DIR's newest run gets here."""
        from harvester.config import RecordedRun, recorded_target_sets, server_set

        run = self.summary.run_id
        key = server_set(RecordedRun(run, mine))
        for recorded in recorded_target_sets(self.out, besides=run, forgotten=True):
            if server_set(recorded) == key:
                return bool(recorded.config.get("artifacts") != mine["artifacts"])
        return True

    async def _probe_with_head_start(self, tg: TaskGroup, client: Client) -> EarlyAnswers:
        """Probe the server while the head start's first round is out (:mod:`harvester.early`).

        The first round takes every slot but the probe's; a request of it not answered
        within the probe's time limit is dropped, freeing its slot for the probe's retry
        (a silent server fails in the probe's time). Once the server is known to be
        OMERO.web, the second round leaves as the first one's answers free their slots,
        covering the store's opening. Returns the answers, held or in flight, in ``tg``.
        """
        cfg = self.cfg
        early = EarlyAnswers()
        head_start = self._head_start_plan()
        first_round = cfg.concurrency - 1
        early.send(tg, client, head_start[:first_round], within=min(cfg.timeout, PROBE_TIMEOUT))
        await probe_and_preconnect(cfg, client)
        early.lift_time_limits()
        early.drop_transient_failures()  # ended while the server was still refusing
        early.send(tg, client, head_start[first_round:])
        return early

    def _check_label_ids_from(self) -> dict[str, int] | None:
        """``--label-ids-from FILE`` read and checked whole before anything is written
        (:func:`harvester.label_ids.read_labels_file_for_run`); None when not given.

        Refused too where no label key will label the index (none given, none recorded in
        DIR): ids of labels that no index has would pin nothing, with no word.
        """
        path = self.cfg.label_ids_from
        if path is None:
            return None
        # (not at the top: most runs pin no label ids, and their start-up need not load it)
        from harvester.label_ids import read_labels_file_for_run

        return read_labels_file_for_run(path, self.out, self.cfg.label_keys)

    async def _record_pin(self) -> None:
        """Record ``--label-ids-from`` in ``DIR/label_ids.json`` once DIR is open, before
        any file: an interrupted run, a shard (whose index the SLURM index job writes)
        and every later index write keep the pinned ids."""
        path = self.cfg.label_ids_from
        if self._pin_ids is None or path is None:
            return
        # (not at the top: most runs pin no label ids, and their start-up need not load it)
        from harvester.label_ids import label_ids_path, read_pin_quietly, record_pin

        try:
            pin = await anyio.to_thread.run_sync(
                functools.partial(
                    record_pin,
                    self.out,
                    self._pin_ids,
                    path,
                    by="harvester harvest",
                    unless_newer_than=self._script_written,
                    stop=self._stopping,
                )
            )
        except LockWaitStopped:
            self._record_left(label_ids_path(self.out))
            return
        if pin is None:  # a job array's task, and a later record kept
            kept = await anyio.to_thread.run_sync(read_pin_quietly, self.out)
            if kept is None or dict(kept.ids) != self._pin_ids:
                await self._say_kept(label_ids_path(self.out), ["--label-ids-from", str(path)])
            return
        self._pin_recorded = True
        if self._shard_images() is not None and self.say is not None:
            # A shard writes no index, so no line says what the pin did: its index will.
            self.say(
                f"label_ids pinned to {pin.source}, recorded in {label_ids_path(self.out)}: "
                f"the index (harvester index {shell_quote(str(self.out))}, the SLURM index job) "
                "says what it did"
            )

    async def _record_split(self) -> None:
        """Record ``--split`` (or ``--no-split``) in ``DIR/split.json`` once DIR is open,
        before any file: a shard (whose index the SLURM index job writes), a resume and
        every later index write keep it. Nothing is recorded when neither was given."""
        if self.cfg.split is None:
            return
        # (not at the top: only a run given --split or --no-split records one)
        from harvester.splits import read_split_record, remember_split, split_path

        spec = self.cfg.split_spec
        try:
            recorded = await anyio.to_thread.run_sync(
                functools.partial(
                    remember_split,
                    self.out,
                    spec,
                    by="harvester harvest",
                    unless_newer_than=self._script_written,
                    stop=self._stopping,
                )
            )
        except LockWaitStopped:
            self._record_left(split_path(self.out))
            return
        if not recorded:  # a job array's task, and a later record kept
            kept = await anyio.to_thread.run_sync(read_split_record, self.out)
            if kept.spec != spec:
                await self._say_kept(
                    split_path(self.out), ["--no-split"] if spec is None else spec.flags
                )

    def _record_left(self, record: Path) -> None:
        """Say that a stop (Ctrl-C, SIGTERM) gave up this run's wait for DIR's index lock,
        held by another process, before ``record`` was written under it. Why: that wait runs
        in a worker thread, which no cancellation reaches, and took up to
        :data:`~harvester.index.INDEX_LOCK_WAIT`; ``record`` is simply not written, and the
        same command run again (the resume line) writes it."""
        logger.info("stopped while another process held DIR's index lock: %s not written", record)

    async def _say_kept(self, record: Path, given: list[str]) -> None:
        """Say that a job array's task kept a record newer than its script (see
        :func:`harvester.slurm.script_written`) rather than its own flag's (``given``): a
        warning (``--quiet`` tasks too), since a flag on the task's command line is not
        applied. It says who made the record and when, and the script's time: the one its
        ``HARVESTER_SCRIPT_WRITTEN`` line says, which a hand edit of the script keeps (an
        edited ``--split`` was kept out "as recorded after the script", which the user had
        just edited); and the command that records the flag all the same."""
        from harvester.folder_settings import recorded_by, utc_text
        from harvester.slurm import SCRIPT_WRITTEN_ENV

        who = await anyio.to_thread.run_sync(recorded_by, record)
        written = utc_text(self._script_written) if self._script_written is not None else "?"
        logging.getLogger(PROBLEMS_LOGGER).warning(
            "kept %s, recorded %safter this array's script was written (%s, as its %s line "
            "says; editing the script by hand does not change it): this task's %s is not "
            "recorded; to record it: harvester index %s %s (later index writes keep it), or "
            "write a new script with harvester slurm",
            record,
            f"{who}, " if who else "",
            written,
            SCRIPT_WRITTEN_ENV,
            shell_join(given),
            shell_quote(str(self.out)),
            shell_join(given),
        )

    def _check_plan(self) -> None:
        """The plan is there and was made for this server: checked before DIR is touched.

        (``plan.json`` only; a damaged ``images.jsonl`` is found as it is read.) A caller
        that built the config with :func:`resolve_config` has had the plan's settings applied
        and this check made already; a config built otherwise is checked here all the same.
        """
        from harvester.plan import check_plan_server, read_plan_info, reselection_note

        assert self.cfg.from_plan is not None
        info = read_plan_info(self.cfg.from_plan)
        check_plan_server(self.cfg.base_url, info, self.cfg.from_plan)
        if not self._selection.active:
            return
        if self._selection.describe() == info.extra.get("selection"):
            # The plan's own selection (its config file passed on, as the commands that
            # `harvester plan` prints do): the plan holds exactly its images, so they are
            # all harvested, as given no selection. Applied again, it warned that the run
            # selected again among them, after the very command `harvester plan` printed.
            self._selection = Selection(shard=self._shard)
            return
        # `--quiet` too: the rest of the plan is never harvested
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", reselection_note(info))

    def _check_ids_file(self) -> Path | None:
        """Check ``--ids-from`` before anything else; a source readable once is spooled.

        ``-`` is standard input. Returns the temporary copy of it, a pipe or a device (see
        :func:`~harvester.walk.spool_ids_file`), which the run reads instead and removes.
        """
        path = self.cfg.ids_from
        if path is None:
            return None
        server = self.cfg.base_url  # that of the source's links (the CLI's copy checks it too)
        copy = self._ids_copy
        if copy is None:
            copy = copy_of_ids_source(path, server=server)
        if copy is None:
            check_ids_file(path, server)  # a folder, a missing file: named there
            return None
        self._ids_file = copy
        return copy

    def _no_ids_to_harvest(self) -> bool:
        """Say an ``--ids-from`` source that held no id (:func:`no_ids_held`); True when it
        was the only target of a resume's replay (nothing to do, DIR left as it is).

        An emptied ``retry.txt`` replayed by a resume is no failure: that set gets one
        problem line, not the refusal a command given it alone gets."""
        if self._ids_file is None:
            return False
        alone = (
            None if self.replay_of is None else f"nothing to harvest; {self.out} is left as it is"
        )
        self.summary.no_ids = no_ids_held(self.cfg, self._ids_file, alone=alone)
        return self.summary.no_ids

    def _head_start_plan(self) -> list[EarlyRequest]:
        """The image requests to send before the store is open (see :mod:`harvester.early`).

        Two rounds of the run's concurrency, but only where the first images are
        known without walking and none can be done yet: an ``--ids-from``-only run
        (no sampling) into a folder that is not a harvest yet. Elsewhere (a resume,
        a walk, a plan, a dry run) nothing is sent early.
        """
        cfg = self.cfg
        walks = cfg.screens or cfg.projects or cfg.plates or cfg.datasets or cfg.images
        named = cfg.screen_names or cfg.project_names  # walks too, once resolved
        if (
            cfg.dry_run
            or cfg.ids_from is None
            or walks
            or named
            or cfg.from_plan is not None
            or self._selection.active
            or not self._is_new_folder()
        ):
            return []
        count = 2 * cfg.concurrency - 1
        assert self._ids_file is not None
        ids = first_ids(self._ids_file, count, self._keep())
        return head_start_requests(ids, self._fetch_settings(), count)

    def _is_new_folder(self) -> bool:
        """Is DIR not a harvest yet (so nothing in it is done)? No marker, no journals."""
        return not (
            (self.out / layout.MARKER_NAME).exists()
            or (self.out / layout.JOURNALS_DIR).exists()  # a harvest whose marker is gone
        )

    def _selection_told_before(self) -> bool:
        """Did the run this one replays say its selection's index note (``index.csv lists N
        more``) already? (Its sample's warnings: :meth:`_sample_said_before`.) Only a
        replay whose targets' last walk listed everything: a run stopped mid-walk, or whose
        walk failed a listing, fetched no sample and said neither, and its resume is the
        first to walk it all. And only
        where the run it replays (or the one of that walk) saved this run's selection: a
        resume given another one now (``harvester harvest --out DIR --sample 10`` after
        ``--sample 500``) was silent about the rows of DIR it did not select, which the same
        flags with the targets typed out said. Asked before this run journals its own walk."""
        state = self._journal_state
        if self.replay_of is None or state is None:
            return False
        cfg = self.cfg
        before = state.walks.get((cfg.walk_targets(self.summary.run_id), cfg.shard))
        if before is None or not walk_listed_all(before):
            return False
        walked_by = before.get("run")
        runs = [self.replay_of, *([walked_by] if isinstance(walked_by, str) else [])]
        return any(self._saved_same_selection(run) for run in dict.fromkeys(runs))

    def _sample_said_before(self) -> frozenset[str] | None:
        """The digests of the selection's warnings (``--sample 500`` more than there is, a
        ``--where`` term that matches nothing) that the last walk of these targets (and
        shard) by a run of this draw (this selection from the same server) recorded; None:
        no such record, so every line is said. The same for a resume's replay and for the
        command typed again. (The ``--where`` lines joined in 0.1.23: they were said on
        every run, a misspelt term's "did you mean" on each resume of a nightly mirror.)

        Why a record of what was said, not of which run walked: the identical command run
        again (to pick up what a failed run left, or from a script) said the same
        "--sample 500 is more than the 80 walked images" on every run, while its resume
        (``harvest --out DIR``) said it once; but a count that changed since (images gone
        from the server, ``--sample 50`` of 80 that is now of 40) is news, said again, and
        another selection (or server) is a new question. Per draw, not the last walk's: a
        balanced set (one ``--where`` per class into DIR) resumes each class after the
        others' runs. Only the selection stage's warnings: the index note (``index.csv
        lists N more``) is about the folder, said after the walk's record is written, and
        stays said to whoever types the selection. Walk records without ``sample_said``
        (an older version's) tell nothing. Asked before this run journals its own walk."""
        state = self._journal_state
        if state is None:
            return None
        cfg = self.cfg
        key = (cfg.walk_targets(self.summary.run_id), cfg.shard, self._sample_draw())
        before = state.sample_walks.get(key)
        if before is None or before.get("run") == self.summary.run_id:
            return None
        said = before.get("sample_said")
        if not isinstance(said, list) or not all(isinstance(d, str) for d in said):
            return None
        return frozenset(said)

    def _sample_draw(self) -> str:
        """This run's selection and server as a digest (a walk record's ``sample_draw``):
        "URL/" or its default port spelt out is the same server (normal_base_url)."""
        mine = self.cfg.to_public()
        what = [normal_base_url(self.cfg.base_url), {key: mine[key] for key in SELECTION_KEYS}]
        text = json.dumps(what, sort_keys=True, default=str)
        return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()

    def _sample_said(self) -> tuple[str, list[str]] | None:
        """What this run's finished walk records of its selection's warnings: its draw and
        their digests, said now or before (``sample_draw``, ``sample_said``); None where
        the selection stage did not end its walk (no selection, or a run stopped)."""
        lines = self.select_stats.warning_lines
        if lines is None:
            return None
        from harvester.select import warning_digest  # (lines only under a selection)

        return self._sample_draw(), [warning_digest(line) for line in lines]

    def _sample_record_changes(self) -> bool:
        """Would this run's walk record tell the next run of its selection something the
        last one's does not (:meth:`_sample_said_before`)? Then its journal is kept, though
        it fetched nothing: removed, ``--sample 600`` after ``--sample 500`` said its
        warning on every run, and ``--sample 50`` of 80 again after the images went back
        to 80 from 40 kept the 40's record, which silenced the 40 said once more later."""
        mine = self._sample_said()
        if mine is None:
            return False
        return frozenset(mine[1]) != (self._sample_told or frozenset())

    def _gone_in_sample(self) -> GoneInSample | None:
        """This run's gone images, split for its sample (None: no sample, or none gone):
        those recorded before the sample was first drawn into DIR are left out of it.

        Why by that time: a sample's resume (and each shard's task) must draw the sample
        its first run journaled, which held the images recorded as gone since; a sample
        drawn after they were recorded (a new one, a larger one, another seed) gives
        their places to the next-ranked images."""
        if not self._gone or self._selection.sample is None:
            return None
        from harvester.gone import gone_since
        from harvester.select import GoneInSample

        drawn, self._sample_of = self._sample_first_drawn()
        before, since = gone_since(self.out, self.cfg.base_url, drawn)
        return GoneInSample(left_out=before & self._gone, kept=since & self._gone)

    def _sample_first_drawn(self) -> tuple[float, str | None]:
        """When DIR's first run of this run's sample started (seconds since the epoch): the
        earliest run that saved the same targets and selection and drew its sample (this
        one, if none did); and that run, where it is an earlier one (else None).

        Why "drew": a run whose walk failed or was stopped drew no sample and journaled
        none; images recorded as gone after it are no part of any sample, and the run that
        first draws it leaves them out."""
        state = self._journal_state
        runs = state.runs if state is not None else []
        mine = _draw_of(self.cfg.to_public())
        seen: set[str] = set()
        for run in sorted(runs, key=_run_started):
            run_id = run.get("run")
            if not isinstance(run_id, str) or run_id in seen:
                continue
            seen.add(run_id)
            if run_id == self.summary.run_id:
                return _run_started(run), None
            if _draw_of(self._saved_config(run_id) or {}) != mine:
                continue
            if state is None or _run_drew(state, run_id):
                return _run_started(run), run_id
        return time.time(), None

    def _saved_config(self, run: str) -> dict[str, Any] | None:
        """The configuration ``run`` saved (None when it cannot be read)."""
        try:
            saved = json.loads(layout.run_config_path(self.out, run).read_bytes())
        except (OSError, ValueError):
            return None
        return run_config_of(saved) if isinstance(saved, dict) else None

    def _saved_same_selection(self, run: str) -> bool:
        """Did ``run`` save this run's selection (``where``, the sample, its seed)? False
        when its config cannot be read: a note said twice is better than one never said."""
        config = self._saved_config(run)
        if config is None:
            return False
        mine = self.cfg.to_public()
        return all(config.get(key) == mine[key] for key in SELECTION_KEYS)

    def _note_damaged_journals(self, state: JournalState) -> None:
        """One warning per journal with damaged lines: this run does their records again, or
        may not (:meth:`_covers_folder`)."""
        if not state.damaged_lines:
            return
        from harvester.verify import damaged_journal_lines

        within = ""
        if not self._covers_folder(state):
            within = "targets, kinds and shard" if self.cfg.shard else "targets and kinds"
        lines = damaged_journal_lines(state.damaged_lines, self.out, by="harvest", within=within)
        for line in lines:
            if line not in self._said:
                self._said.add(line)
                logging.getLogger(PROBLEMS_LOGGER).warning("%s", line)

    def _note_lost_files(self, lost: Sequence[LostFiles]) -> None:
        """One warning per run that ended uncleanly and whose recorded files the store found
        missing (or of another size) as it opened: marked invalid, so fetched again by this
        run where they are among its targets, else by the resume ``status`` names."""
        for entry in lost:
            what = "missing" if not entry.resized else "missing or not the size it recorded"
            logging.getLogger(PROBLEMS_LOGGER).warning(
                "%s recorded by the interrupted run %s %s %s; fetching %s again",
                plural(entry.files, "file"),
                entry.run,
                agree(entry.files),
                what,
                agree(entry.files, "it", "them"),
            )

    def _covers_folder(self, state: JournalState) -> bool:
        """Does this run do again whatever a damaged journal line recorded? Only when it is
        no shard, asks every kind journaled in DIR, and every walk journaled there was of
        its own targets: a run of other targets or kinds, or one shard's task, does not
        (what the line held is unknown), and its note said it did."""
        from harvester.status import journaled_kinds

        cfg = self.cfg
        targets = cfg.walk_targets(self.summary.run_id)
        asked = {a.value for a in cfg.artifacts}
        return (
            cfg.shard is None
            and asked.issuperset(journaled_kinds(state))
            and all(key == (targets, None) for key in state.walks)
        )

    def _note_runs_without_labels(self, state: JournalState) -> None:
        """Remember whether a run of harvester 0.1.3 or before ran here with ``labels = false``.

        Since 0.1.4 a ``--no-labels`` run marks each image it journals without asking
        (``state.labels_unasked``); before, such an image looked like "asked, none", so
        after any such run no empty labels can be trusted. Read from the runs' saved
        configurations, only when this run wants labels and walks: a run from a plan takes
        its images and labels from the plan (each task of a 1,000-task array read every
        other task's config.json for nothing). Read when first needed, not here: only a
        journaled image without labels and without the mark raises the question (one
        config.json per earlier run, read once; a fresh folder or a resume whose images
        all have labels reads none).
        """
        if self.cfg.labels and self.cfg.from_plan is None:
            self._labels_skipped_before = None
            self._runs_state = state
        self._unasked = state.labels_unasked

    def _empty_labels_known(self, image_id: int) -> bool:
        """Is an image's empty labels tuple in the journal "asked, none"? (See the walker.)"""
        if image_id in self._unasked:
            return False
        skipped = self._labels_skipped_before
        if skipped is None:
            state = self._runs_state
            skipped = state is not None and any(
                run_config_of(saved).get("labels") is False and not _marks_unasked_labels(saved)
                for saved in saved_run_configs(self.out, state, whole=True)
            )
            self._labels_skipped_before = skipped
        return not skipped

    def _fetch_settings(self) -> FetchSettings:
        cfg = self.cfg
        return FetchSettings(
            artifacts=cfg.artifacts,
            out_dir=self.out,
            thumbnail_size=cfg.thumbnail_size,
            render_format=cfg.render_format,
            render_quality=cfg.render_quality,
            window=cfg.window,
            max_plane=cfg.max_plane,
            give_up_after=cfg.give_up_after,
            second_chance=cfg.max_retries > 0,  # (--max-retries 0: fail fast)
        )

    def _keep(self) -> Callable[[int], bool] | None:
        """The shard filter for found images (None: keep everything; a selection applies
        the shard itself, after sampling)."""
        return None if self._selection.active else self._shard_images()

    def _shard_images(self) -> Callable[[int], bool] | None:
        """Is an image this run's? None when every image is (no shard, or one of one)."""
        if self._shard is None or self._shard[1] == 1:
            return None
        from harvester.shard import in_shard

        k, n = self._shard

        def mine(image_id: int) -> bool:
            return in_shard(image_id, k, n)

        return mine

    async def _looked_up(self, lookup: Awaitable[T]) -> T:
        """``lookup``'s result (a lookup made before the walk and the fetch: the targets'
        check, the names' listings); when its refusal showed the session or credentials
        ended (:class:`SessionEndedError`), the run stops as the watch stops it mid-run:
        same summary, ``error:`` and ``hint:``, exit 2."""
        try:
            return await lookup
        except SessionEndedError as exc:
            self._session_ended(exc.status, exc.reason)
            await anyio.lowlevel.checkpoint()  # the run's scope is cancelled: it stops here
            raise  # (a run without a scope to cancel: the error says it alone)

    async def _preflight_containers(self, client: Client) -> Prefetched:
        """Screens, projects, plates, datasets: checked before DIR is touched."""
        cfg = self.cfg
        if cfg.from_plan is not None:
            return {}
        return await self._looked_up(
            preflight(
                client,
                screens=cfg.screens,
                projects=cfg.projects,
                plates=cfg.plates,
                datasets=cfg.datasets,
                watch=self._watch,
                index=None if cfg.out is None else layout.index_path(cfg.out),
            )
        )

    async def _preflight_images(
        self, client: Client, state: JournalState, answers: EarlyAnswers | None = None
    ) -> Prefetched:
        """``--image`` ids, except those whose every artifact is done (a rerun asks nothing).

        A shard checks the ids it owns only: the others are other shards' to check (and
        its store, holding its own images' records, could not tell whether they are done).
        The check's answer is the image's metadata artifact: held in ``answers`` (the
        fetcher's early answers) so that it is stored, not asked for a second time."""
        cfg = self.cfg
        if cfg.from_plan is not None:
            return {}
        # Under a selection every shard walks every id (the selection is global): all checked.
        mine = None if self._selection.active else self._shard_images()
        images = [
            i
            for i in cfg.images
            if (mine is None or mine(i))
            and any((a.value, i) not in state.done for a in cfg.artifacts)
        ]
        return await self._looked_up(
            preflight(client, images=images, answers=answers, watch=self._watch)
        )

    async def _produce(
        self,
        client: Client,
        send: ObjectSendStream[ImageRef],
        study: StoreStudy | None,
        prefetched: Prefetched,
        known: Mapping[int, ImageRef],
    ) -> None:
        if self._selection.active:
            # (not at the top: only a run that selects needs the stage, and a plain run's
            # start-up, before its first request, loads none of it)
            from harvester.select import SampleReuse, selecting

            self.progress.selecting()  # it counts the images selected (on_selected), named so
            self._sample_reuse = await SampleReuse.for_run(
                self.cfg, self._selection, self.out, self.summary.run_id
            )
            # (before this run's walk record; it may read a saved config: not on the loop)
            self._told_before = await anyio.to_thread.run_sync(self._selection_told_before)
            self._sample_told = await anyio.to_thread.run_sync(self._sample_said_before)
            gone = await anyio.to_thread.run_sync(self._gone_in_sample)
            async with selecting(
                self._selection,
                send,
                self.select_stats,
                buffer=self.cfg.queue_size,
                on_selected=self._on_image(self.progress.discovered),
                walk_complete=lambda: not self.walk_stats or self.walk_stats.listed_every_image(),
                reuse=self._sample_reuse,
                said_before=self._sample_told or frozenset(),
                on_sampled=self._journal_sample,
                gone=gone,
                in_index=self._in_index(),
                relabel=self._relabel_passed_over if self._selection.where else None,
            ) as inner:
                await self._produce_all(client, inner, study, prefetched, known)
        else:
            await self._produce_all(client, send, study, prefetched, known)
        if not self.walk_stats or self.walk_stats.listed_every_image():  # else the total is short
            self.progress.walk_finished()

    def _in_index(self) -> Callable[[int], bool] | None:
        """Has an image a row in DIR's index.csv (a done artifact in the journals)? For the
        selection's ``index.csv lists N more`` note, which counts the rows of images this
        run walked and did not select (:meth:`harvester.selection.SelectStats.index_note`);
        None where no note is said (a shard writes no index).

        Asked of the live state as each image is walked: an image fetched since is one
        this run selected (the selection leaves it out again), and a snapshot of every row
        of a big folder would cost its memory once more."""
        state = self._journal_state
        if state is None or self._shard is not None:
            return None
        done = state.done
        kinds = tuple(layout.ARTIFACT_FILES)

        unlisted = state.unlisted

        def in_index(image_id: int) -> bool:
            return image_id not in unlisted and any((kind, image_id) in done for kind in kinds)

        return in_index

    async def _relabel_passed_over(self, ref: ImageRef) -> bool:
        """Journal the labels walked of an image ``--where`` left out, where the journal
        holds others that matched the terms and these labels do not, as unlisted (no row
        in index.csv): whether it was.

        Why: no worker journals an image that is not selected, so an image whose labels a
        curator edited on the server (asked again by ``--refresh-labels``) so that it no
        longer matches kept its row, with the labels that had matched, and labels.csv
        counted it: a training set whose labels said what the server no longer says. Its
        files stay, and a run that selects it again lists it again (:func:`_record`). An
        image that matched none of these terms before is left as it is: its row is another
        selection's (a folder of one run per class), whose run decides (were its labels
        journaled here, that run would find them unchanged and keep a row that no longer
        matches its terms), as is one unlisted already. Only the labels change:
        the record is the journaled one (its place, its name), so a move is the
        placing's to journal; and only the labels unlist it: one that its journaled place
        and name with these labels would match keeps its row (left out for its place
        or name now, a term on ``image_name`` or ``plate_name``, or given by id without
        them: it was said to no longer match, "labels changed", with labels that still
        matched), journaled with these labels, listed, where no selection of DIR would
        unlist it for them (:meth:`_no_selection_unlists`; else left as it is, for that
        selection's run to decide: it kept its old labels until a run selected it again).
        Nothing in a dry run (no store), a run from a plan (its
        labels are the plan's, not the server's now), nor for labels the walk could not
        ask (an ``UnaskedRef`` carries the journaled ones)."""
        store = self._store
        if store is None or self.cfg.from_plan is not None:
            return False  # (a plan's labels were asked when it was made: not news)
        if not labels_were_asked(ref, self.cfg.labels):
            return False
        state = store.state
        journaled = state.images.get(ref.image_id)
        if journaled is None or journaled.labels == ref.labels:
            return False
        if ref.image_id in state.unlisted or ref.image_id in state.labels_unasked:
            # (unlisted already; or labels never asked, a --no-labels run's: they matched
            # nothing, being unknown)
            return False
        if not self._selection.admits(journaled):
            return False
        relabelled = dataclasses.replace(journaled, labels=ref.labels)
        if self._selection.admits(relabelled):
            # (its labels still match: left out for its place or name now)
            if await self._no_selection_unlists(journaled, relabelled):
                await store.record_image(relabelled)
            return False
        await store.record_image(relabelled, unlisted=True)
        return True

    async def _no_selection_unlists(self, journaled: ImageRef, relabelled: ImageRef) -> bool:
        """Would no ``--where`` of DIR's runs unlist ``journaled`` for its new labels
        (``relabelled``)? None admits the one and not the other.

        Why: an image left out for its name or place whose labels changed but still match
        kept its old labels in index.csv until a run selected it again. Journaled with its
        new labels, it shows them; but another selection of DIR (a run per class) whose
        terms its old labels match and its new ones do not would then find them unchanged
        and never take it out (:meth:`_relabel_passed_over` unlists only labels that
        changed). So they are journaled only where every selection recorded in DIR judges
        both alike. The runs' terms are read once, in a worker thread (a saved config per
        run), and only when such an image is met; a saved ``where`` that cannot be read
        counts as one that would unlist it."""
        if self._run_selections is None:
            state = self._journal_state
            out = self.out

            def read() -> list[Selection | None]:
                found: dict[str, Selection | None] = {}
                for config in saved_run_configs(out, state) if state is not None else ():
                    saved = config.get("where")
                    if not saved or config.get("from_plan"):
                        continue  # (no terms; a plan's run unlists nothing)
                    try:
                        found.setdefault(repr(saved), Selection(where=parse_where(saved)))
                    except ConfigError:
                        found[repr(saved)] = None
                return list(found.values())

            self._run_selections = await anyio.to_thread.run_sync(read)
        return all(
            selection is not None
            and (not selection.admits(journaled) or selection.admits(relabelled))
            for selection in (self._selection, *self._run_selections)
        )

    async def _journal_sample(self, refs: list[ImageRef]) -> None:
        """Journal a chosen sample's images (this shard's) at once, then its walk as ended.

        Why: the walk's "finished" record waits for the workers (an image sent but taken by
        no worker yet is in no journal, and ``status`` could not count it), so a sample run
        interrupted while fetching left its walk "not finished": ``status`` counted only the
        images the workers had taken and blamed images "not listed yet", though the walk
        had listed everything and the whole sample was chosen. A sample is known whole
        before any of it is fetched: journaled now, each of its images is counted (pending
        until fetched). An image given by id, its context unknown yet, is journaled by its
        worker once imgData tells it (:meth:`_consume`): the walk's record then waits as
        before. Nothing here in a dry run or a plan's run (no store, or no walk).
        """
        store, targets = self._store, self._walk_ended
        if store is None or targets is None:
            return
        state = store.state
        whole = True
        for ref in refs:
            if not has_context(ref):
                whole = False
                continue
            if ref.image_id in self._gone:
                continue  # (no worker journals it either: it keeps its record, _met_again)
            asked_now = labels_were_asked(ref, self.cfg.labels)
            journaled = state.images.get(ref.image_id)
            unasked = ref.image_id in state.labels_unasked
            # Placed as its worker will, marking nothing: the worker places it (Placing.peek).
            placed = self._placing.peek(ref, journaled)
            await _record(store, placed, journaled, unasked, asked_now, changes=self._changes)
        if whole:
            # (the images first: a kill between leaves it "not finished")
            await self._record_walk_finished(store, targets)
            self._walk_ended = None  # recorded: not again after the workers
            # (nor as not finished by a stop: a budget's or a session's, _record_stop)

    def _walk_failures(self) -> list[dict[str, Any]]:
        """The walk's failed listings, as its "walk" record keeps them."""
        return [
            {"what": f.what, "url": f.url, "status": f.status, "reason": f.reason}
            | ({"study_only": True} if f.study_only else {})
            for f in (self.walk_stats.failures if self.walk_stats is not None else [])
        ]

    def _on_image(self, found: Callable[[int], None] | None) -> Callable[[ImageRef], None] | None:
        """What the walk (or, under a selection, the selection) calls for each image it
        queues: the progress count (``found``), and in a run fetching ``paths``, the fetcher
        told of each plate's image whose ``paths`` is pending, so that it checks them in
        batches (:mod:`harvester.plate_filesets`).

        Why the selection's, not the walk's, under a selection: the walk lists every image
        (a sample's draw waits for its end), and the checks gave the server images no run
        of that selection fetches, proved for nothing, each listed image held meanwhile."""
        fetcher = self._fetcher
        if fetcher is None or Artifact.PATHS not in self.cfg.artifacts:
            return (lambda _ref: found(1)) if found is not None else None
        plates, done, kind = fetcher.plates, fetcher.store.state.done, Artifact.PATHS.value

        def queued(ref: ImageRef) -> None:
            if found is not None:
                found(1)
            if type(ref.plate_id) is int and (kind, ref.image_id) not in done:
                plates.queued(ref.plate_id, ref.image_id)

        return queued

    async def _produce_all(
        self,
        client: Client,
        send: ObjectSendStream[ImageRef],
        study: StoreStudy | None,
        prefetched: Prefetched,
        known: Mapping[int, ImageRef],
    ) -> None:
        cfg = self.cfg
        found = None if self._selection.active else self.progress.discovered
        async with send:
            if cfg.from_plan is not None:
                await self._produce_plan(send)
                return
            walker = Walker(
                client,
                send,
                walk_concurrency=cfg.walk_concurrency,
                study=study,
                keep=self._keep(),
                # (under a selection, the images it sends on are told: on_selected)
                on_image=None if self._selection.active else self._on_image(found),
                prefetched=prefetched,
                known=known,
                labels=cfg.labels,
                refresh_labels=cfg.refresh_labels,
                empty_labels_known=self._empty_labels_known,
                labels_for=self._sample_reuse.needed if self._sample_reuse else None,
                said_in_summary=True,
                watch=self._watch,
                filesets=Artifact.PATHS in cfg.artifacts,
                second_chance=cfg.max_retries > 0,  # (--max-retries 0: fail fast)
            )
            # Told by the workers only where it sends to their queue: a selection's walk
            # sends to the selection's own, and the images it leaves out no worker takes
            # (told, the walk waited for a half-empty queue that never came: a hang).
            walker.room = None if self._selection.active else self._room
            if self._store is not None:
                self._walk_sent = walker.seen
                self._placing = Placing(walker.listed, settled=SeenIds())
                walker.on_again = self._met_again
                walker.ids_skip = await self._other_servers_ids(self._store)
                if cfg.max_bytes is not None and not self._selection.where:
                    # (a --where run's annotations tell whether an image is work left: asked
                    # past the budget too, see _past_budget)
                    walker.past_budget = self._past_budget
            targets = cfg.walk_targets(self.summary.run_id)
            describe = self._walk_text(targets, walker.stats)
            walker.on_listed = lambda: self.progress.walking(describe)
            if self._sample_reuse is not None:
                self._sample_reuse.ask = walker.labels_of
            self.walk_stats = walker.stats
            store = self._store  # None in a dry run: nothing is journaled
            if store is not None:
                self._walk_before = store.state.walks.get((targets, cfg.shard))
                await store.record_walk(
                    targets, cfg.shard, finished=False, sample_of=self._sample_of
                )
                self._walk_started = targets
                # Journaled before any image it finds: the store's commit loops may write a
                # later batch first, and a kill then would leave the last walk "finished".
                await store.flush()
            await walker.walk(
                screens=cfg.screens,
                projects=cfg.projects,
                plates=cfg.plates,
                datasets=cfg.datasets,
                images=cfg.images,
                ids_file=self._ids_file,
            )
            self._say_ids_left_out(walker.ids_skip)
            self._placing.final = True  # listed all it will: a kept-back place is told now
            self.progress.walking(None)
            # The walk listed all it could; journaled once every image it sent is (_pipeline).
            self._walk_ended = targets
            logger.debug("the walk listed all it could (%s)", targets or "no target")

    async def _other_servers_ids(self, store: Store) -> OtherServersIds | None:
        """What leaves out the ``--ids-from`` ids of images DIR has from another server
        (:mod:`harvester.ids_servers`); None without ``--ids-from``, or in a folder of one
        server. Says first whether the ids are of another folder of two servers, which
        no journal of DIR tells apart."""
        if self.cfg.ids_from is None:
            return None
        from harvester.ids_servers import other_servers_ids, say_another_folders

        await anyio.to_thread.run_sync(
            say_another_folders, self.cfg.ids_from, self.out, self.cfg.base_url
        )
        kinds = [a.value for a in self.cfg.artifacts]
        return await anyio.to_thread.run_sync(
            other_servers_ids, self.out, store.state, self.cfg.base_url, self.summary.run_id, kinds
        )

    def _say_ids_left_out(self, skip: Callable[[int], bool] | None) -> None:
        """One warning (``--quiet`` too) naming the ids :meth:`_other_servers_ids` left out."""
        from harvester.ids_servers import say_left_out

        kinds = [a.value for a in self.cfg.artifacts]
        say_left_out(skip, self.cfg.ids_from, self.out, kinds)

    def _met_again(self, ref: ImageRef) -> None:
        """The walk met ``ref``'s image again, under another parent: :class:`Placing` holds
        it, but an image gone from the server (:mod:`harvester.gone`) keeps its record.

        Why: no worker takes a gone image, so its first place in this walk was never
        offered; held alone, a later meeting was journaled as its place (an image of
        datasets 1 and 2 of one project, journaled under 2 of another project, went to 2
        of the first, a place no harvest gives it: 1 ranks first)."""
        if ref.image_id not in self._gone:
            self._placing.met_again(ref)

    def _walk_text(self, targets: str, stats: WalkStats) -> Callable[[], str]:
        """What the progress says of this run's walk while it lists (:func:`walk_text`)."""
        return walk_text(targets, stats, self._selection, self.select_stats)

    async def _produce_plan(self, send: ObjectSendStream[ImageRef]) -> None:
        from harvester.plan import read_plan, read_plan_info

        assert self.cfg.from_plan is not None
        keep = self._keep()
        seen = SeenIds()
        stats = WalkStats()
        self.walk_stats = stats
        plan = self.cfg.from_plan
        info = await anyio.to_thread.run_sync(read_plan_info, plan)
        # What the plan's walk listed tells the images that moved since DIR journaled them.
        listed = Listed.from_json(info.extra.get("listed"))
        self._placing = Placing(listed, final=True, settled=SeenIds())
        if not self._selection.active:
            # The plan knows its images before they go through the queue (which the loop
            # below waits on): the share done and the time left show from the start.
            def count() -> int:
                if keep is None:
                    return info.images
                return sum(1 for ref in read_plan(plan) if keep(ref.image_id))

            self.progress.expect(await anyio.to_thread.run_sync(count))
        # (a plate's images checked in batches: paths; under a selection, on_selected)
        queued = None if self._selection.active else self._on_image(None)
        for ref in read_plan(plan):
            if not seen.add(ref.image_id):
                stats.duplicates += 1
                continue
            if keep is not None and not keep(ref.image_id):
                stats.out_of_shard += 1
                continue
            await send.send(ref)
            if queued is not None:
                queued(ref)
            stats.images += 1
            if not self._selection.active:
                self.progress.discovered(1)

    async def _consume(
        self,
        receive: ObjectReceiveStream[ImageRef],
        fetcher: Fetcher,
        store: Store,
        room: QueueRoom,
    ) -> None:
        # Queued refs are taken without a checkpoint while there are any (anyio's receive()
        # checkpoints on every item, a third of a resumed run's CPU time); an empty queue is
        # awaited as before, so the task still yields and sees cancellation there.
        # There are twice as many workers as concurrency slots, so that requests keep flowing
        # while some workers sleep in a retry back-off or assemble a stack. A worker takes a ref
        # only once a slot is free for it (limiter.standby): the spares wait empty-handed, and a
        # busy worker keeps its slot from one image to the next (see ratelimit.Slots).
        nowait = receive.receive_nowait if isinstance(receive, MemoryObjectReceiveStream) else None
        limiter = fetcher.client.limiter
        # Were this run's labels asked? (A plan's were, when it was made.) An image journaled
        # by a --no-labels run is journaled again once they are, without the "not asked" mark.
        # A --no-labels walk asks them too where it saves the study files (an AskedRef);
        # an image whose annotation request failed was not asked (an UnaskedRef).
        labels_asked = self.cfg.labels or self.cfg.from_plan is not None
        took = room.took  # (told of each image taken, it wakes the walk at half: QueueRoom)
        async with receive, room:
            while True:
                await limiter.standby()
                try:
                    if nowait is None:
                        raise anyio.WouldBlock
                    ref = nowait()
                except anyio.WouldBlock:
                    try:
                        ref = await receive.receive()
                    except anyio.EndOfStream:
                        limiter.end_standby()
                        return
                except anyio.EndOfStream:
                    limiter.end_standby()
                    return
                took()
                if ref.image_id in self._gone:  # (standby took no slot: none to give back)
                    self.summary.gone += 1
                    self.progress.image_finished(worked=False)
                    continue
                if self.summary.budget_reached and fetcher.pending(ref.image_id):
                    # Past the --max-bytes budget, an image with a file to fetch is work
                    # left: the run stops here (one that is done is taken as before: _spend).
                    self._stop()
                    return
                state = store.state
                journaled = state.images.get(ref.image_id)
                unasked = ref.image_id in state.labels_unasked
                unlisted = state.unlisted
                asked_now = labels_were_asked(ref, labels_asked)
                if not has_context(ref):
                    ref = await self._context_of(ref, journaled, fetcher)
                placing = self._placing
                record = None
                if has_context(ref):
                    # (no call on a rerun; an unlisted image selected again: listed again)
                    if journaled != ref or (asked_now and unasked) or ref.image_id in unlisted:
                        await _record(
                            store,
                            ref,
                            journaled,
                            unasked,
                            asked_now,
                            placing=placing,
                            changes=self._changes,
                        )
                    else:
                        placing.settled(ref.image_id)
                else:
                    # Given by id, its context unknown yet: journaled once the imgData step
                    # has told its meta (if this run asks for imgData), before the other files.
                    record = functools.partial(
                        _record,
                        store,
                        ref,
                        journaled,
                        unasked,
                        asked_now,
                        placing=placing,
                        changes=self._changes,
                    )
                if self.cfg.max_bytes is None:
                    todo: int | None = await fetcher.fetch_image(ref, record)
                else:
                    todo = await self._fetch_within_budget(fetcher, ref, record)
                if todo is None:
                    # Cut short by the budget: pending, whatever it stored. Work left, so the
                    # run stops as an interruption does.
                    self._stop()
                    return
                if placing.due and not self._placing_held:
                    await self._place_held(store)
                # This image's own count (stats.skipped also grows while it awaits, with other
                # consumers' images, which were then counted twice).
                skipped = len(fetcher.settings.artifacts) - todo
                if skipped:
                    self.progress.skipped(skipped)
                self.progress.image_finished(worked=todo > 0)

    async def _fetch_within_budget(
        self,
        fetcher: Fetcher,
        ref: ImageRef,
        record: Callable[[Mapping[str, Any] | None], Awaitable[None]] | None,
        *,
        again: bool = False,
    ) -> int | None:
        """:meth:`Fetcher.fetch_image` in a scope of its own that reaching the budget
        cancels (:meth:`_spend`); None where it did: the image was cut short. ``again``:
        its second chance (:meth:`_second_chance`).

        An image with nothing to fetch gets no scope: one costs ~15 us, which a resume of
        a million done images would pay for nothing (a run without a budget asks none).

        Why a scope is cancelled at once where the budget is reached already: the worker
        checked the budget before this image's record and context (:meth:`_consume`), which
        may wait (a full store queue); reached meanwhile by another worker's file, it
        cancelled the scopes then registered, not this one, and the image was fetched whole
        past the budget.

        Why the image's journaling (``record``, an image given by id) is shielded: it
        comes after its imgData file (or its JSON API image) is stored, and where that
        file was its last and reached the budget, the cancellation landed in it: a
        complete image was counted cut short (exit 8, and its context never journaled).
        It is one journal record, not a byte against the budget."""
        if not fetcher.pending(ref.image_id):
            return await fetcher.fetch_image(ref, record, again=again)
        journal = None if record is None else _shielded(record)
        with anyio.CancelScope() as scope:
            if self.summary.budget_reached:
                scope.cancel()  # (cut before its first request: pending, nothing stored)
            self._fetching.add(scope)
            try:
                return await fetcher.fetch_image(ref, journal, again=again)
            finally:
                self._fetching.discard(scope)
        return None  # (reached only once the scope caught its cancellation)

    @staticmethod
    async def _context_of(ref: ImageRef, journaled: ImageRef | None, fetcher: Fetcher) -> ImageRef:
        """An image given by id (``--ids-from``, ``--image``, a plan's such images) in the
        context the journal has for it, else the one its stored imgData's meta tells.

        Why: index.csv shows an image's name, well and dataset; an id carries none, and
        journaling the bare ref again would erase what an earlier run found (a walk's
        context, or imgData's). Only empty fields are filled (:func:`with_context_of`,
        :func:`with_meta`), so a walk's context wins. The stored file (imgData, else the
        JSON API image, which names it) is read only for an image the journal neither
        places nor names: one an older harvester stored without completing it.
        """
        if journaled is not None:
            ref = with_context_of(ref, journaled)
            if has_context(ref) or ref.image_name:
                return ref  # completed by an earlier run: no file read on every rerun
        done = fetcher.store.state.done
        image_id = ref.image_id
        if (IMGDATA, image_id) not in done and (METADATA, image_id) not in done:
            return ref  # (no file to read: thumbnails only, or not fetched yet)
        return with_meta(ref, await fetcher.stored_meta(image_id))

    async def _watch_signals(
        self,
        whole: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Turn the first SIGINT or SIGTERM (or SIGHUP, :func:`_stopping_signals`) into an
        orderly stop of the run.

        While images are being fetched it cancels that work only (``self._work_scope``): the
        store then commits every finished file and index.csv is rewritten. Before (probe,
        store opening) it cancels the whole run. Once the fetching has ended
        (``self._work_over``) it cancels nothing: what is left is what a stop finishes (the
        walk's end, the store's last batch, index.csv, whose wait for another writer's lock
        ``self._stopping`` ends), and the run ends interrupted (exit 130). Cancelling the
        whole run there skipped index.csv (none in a first run) and no line said so. Either
        way it is an anyio cancellation. Before this watcher covered the whole run, SIGINT
        in those moments went to asyncio's own handler, which cancels the main task
        natively; twice in the soak (under heavy load, SIGINT during the store's opening)
        such a run went on harvesting as if no signal had come, which an anyio cancel scope
        cannot do.

        When the receiver closes, asyncio puts SIGTERM back to the default (the process
        dies on the spot) and SIGINT to Python's: the handlers from before are restored
        instead (the CLI's SIGTERM = Ctrl-C, asyncio's SIGINT, or an ignored SIGINT), so
        the rest (summary, exit) is still interrupted cleanly. A CLI run that ended by
        itself gets :func:`_too_late` instead: nothing is left to stop.
        """
        both = _stopping_signals()
        before = {signum: signal.getsignal(signum) for signum in both}
        held_by_cli = False
        try:
            with anyio.open_signal_receiver(*both) as signals:
                # The CLI holds these signals from before the event loop until now (cli
                # hold_signals): one that came meanwhile arrives here, as an orderly stop.
                held_by_cli = signal.SIGINT in signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
                task_status.started()
                async for signum in signals:
                    logger.warning(
                        "interrupted (%s): %s", signal.Signals(signum).name, self._stop_words()
                    )
                    self.summary.interrupted = self.summary.signalled = True
                    self._stopping.set()
                    if not self._work_over:
                        (self._work_scope or whole).cancel()
                    return
        finally:
            late = held_by_cli and not self.summary.interrupted
            for signum, handler in before.items():
                if late:
                    # The run ended by itself: a signal from now on comes too late to stop
                    # it, and is dropped until the CLI has printed the summary (cli
                    # drop_late_signals). Not blocked: anyio's worker threads would take it.
                    # After an interruption a second Ctrl-C still gets through.
                    signal.signal(signum, _too_late)
                elif handler is not None:
                    signal.signal(signum, handler)

    def _stop_words(self) -> str:
        """What the run does once interrupted, for the log line that says so: a dry run writes
        nothing, so "finishing what is written" promised it something to finish."""
        if self.cfg.dry_run:
            return "stopping the count (a dry run writes nothing)"
        return "finishing what is written"

    def _outage_counts(self, outage: Outage, client: Client | None) -> None:
        """The time paused into the summary, a pause cut short by Ctrl-C included, and
        what the run asked: interrupted while paused at the start, it said "0 requests"
        after its check had asked the server again and again."""
        s = self.summary
        s.outage_waited = outage.waited()
        if outage.paused and not s.server_down:
            s.paused_when_stopped = f"{duration_text(outage.paused_for())} ({outage.reason})"
        if client is not None and client.stats.requests > s.requests:
            s.requests = client.stats.requests
            s.retries = client.stats.retries

    def _server_down(self, reason: str) -> None:
        """The server stayed down longer than ``outage_wait``: stop as an interruption does
        (every finished file journaled, the rest pending), to exit 75 (try again later);
        after the ``--max-bytes`` budget, exit 8 with the outage noted (:meth:`_after_budget`)."""
        if self._after_budget(reason, ("server_down", reason)):
            return
        self.summary.server_down = reason
        self._stop()

    def _outage_waiting(self, reason: str | None, seconds: float, nxt: float | None) -> None:
        """A pause for a server that is down began or goes on (``reason``; None: it ended):
        shown on the progress line. After the ``--max-bytes`` budget the run stops there
        (:meth:`_after_budget`): its walk only looked for work left, which no run can
        fetch before a new budget, so waiting up to ``--outage-wait`` for that answer
        held the budget's exit 8 back for an hour, then turned it into a 75."""
        self.progress.waiting(reason, seconds, nxt)
        if reason is not None and not self.summary.after_budget:
            down = f"{end_lines.AFTER_BUDGET_SERVER_DOWN} ({reason})"
            self._after_budget(down, ("server_down", reason))

    def _after_budget(self, what: str, cause: tuple[str, str]) -> bool:
        """Stop a run whose ``--max-bytes`` budget is reached because of ``what`` (the
        server down, the session ended): noted (:attr:`RunSummary.after_budget`), exit 8.
        False, doing nothing, before the budget is reached. ``cause``: the walk record's
        key for it and the server's answer (journaled: :meth:`_record_stop`).

        Why 8 and not the stop's own code (75, 2): the budget was reached first and stopped
        every request that would store more; what came after could only stop the walk
        that looked for work left. Everything stored is kept, and what a script does next
        is the budget's (continue later with a new one), not a retry at once."""
        s = self.summary
        if not s.budget_reached:
            return False
        if not s.after_budget:
            s.after_budget = what
            self._after_budget_cause = cause
            logger.warning("stopping: %s, then %s", s.budget_reached, what)
        self._stop()
        return True

    def _session_ended(self, status: int, reason: str) -> None:
        """The session this run sent has ended (403), or the server refuses the credentials
        it sent (401) (:mod:`harvester.session`): stop as an interruption does (every
        finished file journaled, the images not fetched pending), to exit 2 with how to
        give new ones and resume. Going on, each image, kind and listing left was refused
        in turn, and the images not reached looked failed."""
        key = "credentials_refused" if status == CREDENTIALS_REFUSED else "session_ended"
        if self._after_budget(
            f"{stopped_text(status, reason)}: {again_hint(status)} first", (key, reason)
        ):
            return
        if status == CREDENTIALS_REFUSED:
            self.summary.credentials_refused = reason
        else:
            self.summary.session_ended = reason
        self._stop()

    def _stop(self) -> None:
        """Stop the run as an interruption does: the fetching if it runs, else the run."""
        self.summary.interrupted = True
        scope = self._work_scope or self._whole
        if scope is not None:
            scope.cancel()

    async def _real_run(self, client: Client, early: EarlyAnswers) -> None:
        run_id = layout.new_run_id(self.out)
        writer = layout.make_writer(run_id, self._shard)
        self.summary.run_id = run_id
        prefetched = await self._preflight_containers(client)
        # In a folder that is not a harvest yet nothing is done, so every --image id is
        # checked now, before the store creates DIR: an unknown id leaves no new folder
        # behind (as an unknown screen does). Elsewhere the check needs the journals.
        new_folder = self._is_new_folder()
        if new_folder:
            prefetched.update(await self._preflight_images(client, JournalState(), early))
        try:
            await self._store_run(client, early, run_id, writer, prefetched, new_folder)
        except TargetNotFoundError:
            await self._forget_refused_run()
            raise
        except FolderBusyError as exc:  # (only the run lock raises it: the store's open)
            raise await anyio.to_thread.run_sync(self._busy_elsewhere, exc) from None

    def _busy_elsewhere(self, exc: FolderBusyError) -> FolderBusyError:
        """``exc``, the refusal of a second run of DIR and shard, with a hint that says what
        to do when the run holding the lock harvests other targets, artifacts or selection.

        Why: its hint says the run already going does this work and "nothing needs doing
        if it finishes", for a copy of the same command (an array task started twice). A
        harvest of another ``--where`` or other targets into the same DIR was told the
        same, and a user who believed it never fetched its images. The holder is named by
        its progress file's run id; its saved settings are compared with this run's. Where
        they cannot be read, the hint stays as it was."""
        if isinstance(exc, FolderInUseError):  # (held by harvester forget: no run's targets)
            return exc
        run = holder_run(self.out, self.cfg.shard)
        if run is None or self._saved_same_work(run):
            return exc
        out = shell_quote(str(self.out))
        return FolderBusyError(
            str(exc),
            hint=f"the run already going (run {run}) harvests other targets, artifacts or "
            f"another selection into {out}, so it does not do this command's work: run this "
            f"command again once it has ended (harvester status {out} shows how it goes)",
        )

    def _saved_same_work(self, run: str) -> bool:
        """Did ``run`` save this run's targets, artifacts and selection? (True when its
        config cannot be read: the refusal then keeps its usual hint.)"""
        theirs = self._saved_config(run)
        if theirs is None:
            return True
        mine = self.cfg.to_public()
        return all(_as_set(theirs.get(key)) == _as_set(mine.get(key)) for key in _WORK_KEYS)

    async def _forget_refused_run(self) -> None:
        """An ``--image`` id the server does not have, found once the store was open (DIR is
        a harvest already: done ids are not asked again): the run did no work, so its
        journal and saved config go, as an unknown id leaves no new folder behind. Kept,
        they made a target set that every ``harvester harvest --out DIR`` replayed and
        was refused for, until ``runs/`` was cleared by hand."""
        store = self._store
        if store is not None and await anyio.to_thread.run_sync(store.forget_run):
            logger.debug("refused for its targets: removed this run's journal and saved config")

    def _revive_forgotten_set(self) -> None:
        """Given the targets of a set ``harvester forget`` took out of DIR's resumes, and
        past their check (the targets are there again): resumes and ``status`` take the
        set again, as the forget line said they would. Said in one line. Not by a resume's
        replay (it never replays a forgotten set), nor before the check: a run refused for
        the same missing target leaves no run, and the set stays forgotten."""
        from harvester.config import RecordedRun, target_set
        from harvester.forgotten import revive_set

        key = target_set(RecordedRun(self.summary.run_id, self.cfg.to_public()))
        try:
            entry = revive_set(self.out, key, self.cfg.base_url)
        except OSError as exc:  # (this run's config, once it records something, does it too)
            logger.debug("could not take the set off %s's forgotten sets: %s", self.out, exc)
            return
        if entry is not None and self.say is not None:
            self.say(
                f"{self.out}: the target set {entry.targets or 'of this run'} is resumed again "
                "(`harvester forget` had left it out)"
            )

    async def _store_run(
        self,
        client: Client,
        early: EarlyAnswers,
        run_id: str,
        writer: str,
        prefetched: Prefetched,
        new_folder: bool,
    ) -> None:
        """The run's work in its store: its config saved, the images checked, the pipeline,
        with the progress line published while the store is open."""
        cfg = self.cfg
        try:
            async with Store.open(
                self.out,
                run_id=run_id,
                writer=writer,
                shard=cfg.shard,
                argv=public_argv(self.argv),
                lock=True,  # a second run of this DIR and shard is refused (harvester.runlock)
                images=self._shard_images(),  # a shard holds its own images' records only
                settings=run_settings(cfg),  # checked again and recorded under the marker lock
            ) as store:
                self._store_opened = self.summary.store_opened = True
                self._store = store
                self._changes.had_images = bool(store.state.images)
                if self._out_note:  # (once the store opened there: a run refused first, or
                    # one that found the disk full, put nothing among the folder's entries)
                    logging.getLogger(PROBLEMS_LOGGER).warning("%s", self._out_note)
                store.stop_waits = self._stopping  # (its end's wait: see harvester.onecopy)
                if Artifact.PATHS in cfg.artifacts:  # (stored shared: see Fetcher._put)
                    store.shares(Artifact.PATHS.value)
                # Beside the run lock: `harvester status` shows it while the lock is held. A
                # run without one (no flock here) names the file by its run id: its own, which
                # another run of the same shard running beside it neither replaces nor removes.
                # Its time is kept fresh while it runs, so that a killed run's is told stale
                # and removed by the next run (the stale ones found now are).
                own = None if store.holds_run_lock else run_id
                await anyio.to_thread.run_sync(remove_stale_progress, self.out)
                self.progress.publish(
                    self.out / LOCKS_DIR / progress_name(lock_name(cfg.shard), own),
                    run=run_id,
                    keep_fresh=None if own is None else runlock.UNLOCKED_FRESH_EVERY,
                )
                try:
                    await self._work_in_store(
                        store, client, early, run_id, writer, prefetched, new_folder
                    )
                finally:
                    # Under the run lock still: a later run's line is never the one removed
                    # (without the lock, this run's own file is).
                    self.progress.unpublish()
                # Leaving the store flushes: every finished file is journaled.
        finally:
            # Every ending that prints a summary says how many files are hard links: an
            # ending cut short (a Ctrl-C as the store closed) printed a summary without it.
            # (After the store closed: the links of its last batch are counted too.)
            if self._store is not None:
                self.summary.linked = self._store.stats.linked
                self.summary.linked_bytes = self._store.stats.linked_bytes

    async def _work_in_store(
        self,
        store: Store,
        client: Client,
        early: EarlyAnswers,
        run_id: str,
        writer: str,
        prefetched: Prefetched,
        new_folder: bool,
    ) -> None:
        """:meth:`_store_run`'s work while the store is open and the progress line published."""
        cfg = self.cfg
        self._journal_state = store.state
        self._say_server_note()
        self._note_runs_without_labels(store.state)
        self._note_damaged_journals(store.state)
        self._note_lost_files(store.lost)
        await self._record_pin()
        await self._record_split()
        await self._remove_finished_staging(store)
        from harvester.gone import gone_ids  # (not at the top: read after the first requests)

        self._gone = await anyio.to_thread.run_sync(gone_ids, self.out, cfg.base_url)
        saved: dict[str, Any] = {
            "tool": "harvester",
            "version": __version__,
            "run": run_id,
            "writer": writer,
            "argv": public_argv(self.argv),
            "config": cfg.to_public(),
        }
        if self.replay_of is not None:
            saved["replay_of"] = self.replay_of
        await store.save_run_config(saved)
        save_study = self._shard is None or self._shard[0] == 0
        study = (
            StoreStudy(store, self._stored, self._study_past_budget, self._study_unsaved)
            if save_study
            else None
        )
        fetcher = Fetcher(
            client,
            store,
            self._fetch_settings(),
            on_done=self._done,
            on_failed=self.progress.failed,
            on_staged=self.progress.stack_render_staged,
            early=early,
            watch=self._watch_credentials(client),
        )
        self._fetcher = fetcher
        try:
            with anyio.CancelScope() as work:
                self._work_scope = work  # what a signal cancels from now on
                if not new_folder:
                    prefetched.update(
                        await self._preflight_images(client, store.state, fetcher.early)
                    )
                if self.replay_of is None and not new_folder:
                    await anyio.to_thread.run_sync(self._revive_forgotten_set)
                await self._pipeline(client, store, fetcher, study, prefetched)
            # Ended: a Ctrl-C from now on is told (exit 130) and lets the rest be written.
            self._work_over = True
            self._work_scope = None
            if self.summary.budget_reached:
                self._settle_budget_stop()
            await self._record_walk_end_before_stop(store)
            await self._record_stop(store)
        finally:
            self._work_scope = None
            self._collect(fetcher, client, study)

    def _settle_budget_stop(self) -> None:
        """After a run that reached its ``--max-bytes`` budget: said (exit 8) where it cut
        work short; where it did not, the run ends as a complete one (exit 0, or 1 with
        failures), saying nothing of a budget.

        Why: a run whose last file reached the budget exited 8 saying the rest was pending
        when nothing was, and a script looping on 8 ran it again for nothing. Only work
        left stops the run once the budget is reached (:meth:`_spend`): a run that was not
        stopped found none, whatever it still listed after its last file."""
        s = self.summary
        if s.interrupted:
            if not (s.after_budget or s.signalled):  # (those said as they stopped it)
                logger.warning("stopping: %s", s.budget_reached)
            return
        logger.info("%s with the run's last file: nothing was left to stop", s.budget_reached)
        s.budget_reached = ""

    def _done(self, kind: str, nbytes: int) -> None:
        """A file fetched and stored: shown, and spent from the budget."""
        self.progress.done(kind, nbytes)
        self._spend(nbytes)

    def _stored(self, nbytes: int) -> None:
        """A study file stored: shown, and spent from the budget (the summary's bytes
        count it too, so the budget and the ``stored`` figure agree)."""
        self._study_underway -= nbytes
        self.progress.stored(nbytes)
        self._spend(nbytes)

    def _study_unsaved(self, nbytes: int) -> None:
        """Study files let through by :meth:`_study_past_budget` whose write failed or was
        cancelled: no longer underway (nothing was stored, nothing is spent)."""
        self._study_underway -= nbytes

    def _spend(self, nbytes: int) -> None:
        """Count ``nbytes`` against ``--max-bytes``. Once the budget is reached, the files
        being fetched are cancelled (each is stored whole or not at all), and the first
        thing that would store more stops the run as an interruption does: an image cut
        short, an image with a file to fetch, a study file to save, images whose
        annotations the walk would ask (:meth:`_consume`, :meth:`_past_budget`). Every
        finished file is journaled and the rest stays pending for the next run (exit 8).

        Why not stop everything at once: a walk still listing after its last image (waiting
        for a plate's wells, comparing a saved listing) was cut too, and a run with nothing
        left exited 8 saying the rest was pending (its rerun stored nothing). Whether the
        walk had anything left is known only by letting it go on: it costs requests but no
        bytes, and it goes on only while what it lists is done (a rerun's walk of images
        fetched before) or gone; the first image it finds with work stops it. The study
        files are no exception (their bytes count), so nothing is stored past the budget
        but what finished as it was reached: at most one file per image worker (study
        files are never saved past it: :meth:`_study_past_budget`).

        Why stop the images in flight rather than let them finish: an image's remaining
        files (a stack's planes) could each be large."""
        self._spent += nbytes
        limit = self.cfg.max_bytes
        if limit is None or self._spent < limit or self.summary.budget_reached:
            return
        self._reach_budget(limit)

    def _reach_budget(self, limit: int) -> None:
        """The budget is reached: the files being fetched are cancelled (see :meth:`_spend`)."""
        # (said once the run is over: where it cut nothing, it is no stop; _settle_budget_stop)
        self.summary.budget_reached = end_lines.budget_reached(size_text(limit))
        # (--debug: the moment the run's stop began, as the walk goes on to find work left)
        logger.info(
            "%s; the walk goes on to learn whether work is left", self.summary.budget_reached
        )
        for scope in self._fetching:
            scope.cancel()

    def _study_past_budget(self, nbytes: int) -> bool:
        """May an object's study files, ``nbytes`` in all, not be saved? So past the budget
        (:meth:`_past_budget`), and where they would take the run past it: then the budget
        counts as reached (the run stops, exit 8) and the next run saves them, first.

        Why: an object's study files are one record, saved whole, and known whole before
        (unlike an image's file): saved past the budget they exceeded it by a whole set (a
        screen plate's ``wells.json`` and well annotations). Only the first thing a run
        stores is saved whatever its size: a set larger than the budget on its own would
        else stop every run before it.

        Decided and counted at once (no await between: the event loop runs one save's check
        at a time), before the files are written: the sets let through are underway until
        stored (:meth:`_stored`). So two objects' sets saved concurrently as a run starts
        are not both its first (each saw nothing spent: both were saved whole past the
        budget), and a set saved beside another counts the other's bytes."""
        limit = self.cfg.max_bytes
        taken = self._spent + self._study_underway  # (stored, or being saved)
        unfit = limit is not None and taken > 0 and taken + nbytes > limit
        if unfit and limit is not None and not self.summary.budget_reached:
            logger.info(
                "study files of %s do not fit in the budget left",
                end_lines.size_said(size_text(nbytes)),
            )
            self._reach_budget(limit)
        if self._past_budget():
            return True
        self._study_underway += nbytes
        return False

    def _past_budget(self) -> bool:
        """Is the ``--max-bytes`` budget reached? Then a study file the walk would save is
        work left, and so are images whose annotations it would ask (no journal knows
        them: :meth:`Walker._labels`): the run stops (see :meth:`_spend`), and the caller
        saves or asks nothing.

        Not asked of a ``--where`` run's annotations: they decide whether its images are
        work at all. Taken as work left, pages of images that would not have matched
        stopped the run (exit 8, "the rest is pending") where its rerun, filtering them,
        found nothing to fetch and ended 0; a script looping on 8 ran it for nothing.
        Filtered, the run stops at the first image that matches (or a study file to save),
        and ends as a complete run where none does: a page's annotations are one request
        (200 images), asked again by the next run only where it stopped."""
        if not self.summary.budget_reached:
            return False
        self._stop()
        return True

    def _watch_credentials(self, client: Client) -> SessionWatch | None:
        """The watch of a run that sent credentials (its 403s watched only when it sent a
        session), shared by the lookups, the fetcher and the walk (made once); None for a
        public run."""
        cfg = self.cfg
        if cfg.withheld and self._watch is None:
            self._watch = SessionWatch(
                client,
                self._session_ended,
                session=cfg.sends_session,
                at_most=check_at_most(cfg.give_up_after),
            )
        return self._watch

    async def _record_walk_end_before_stop(self, store: Store) -> None:
        """After a Ctrl-C (or SIGTERM) that cut the fetching short once the walk had ended:
        the walk journaled as finished where every image it sent is journaled.

        Why: the walk's "finished" record waits for the workers (:meth:`_after_workers`),
        and the stop cut them: a small walk that had listed everything, each image it found
        journaled, was "has not finished" to ``status``, which then warned of images not
        counted when there were none. Where an image it sent is in no journal (still
        queued, or given by id and cut before its imgData), the walk stays not finished:
        ``status`` could not count that image. A selection's walk is left as it was (the
        images it does not select are in no journal; a sample's end is journaled with the
        sample: :meth:`_journal_sample`).

        Only this shard's images are looked for (:attr:`Walker.seen`: those it sent): the
        other shards' were among them, and a shard's store loads its own images only, so a
        sharded walk was never found whole. The places held (an image met under two
        parents, :meth:`_place_held`) are journaled first, as after the workers: a stop
        that cut that step (the last thing a big run does) left such an image in the place
        its worker found first, under a walk that said it was over.
        """
        s, targets, sent = self.summary, self._walk_ended, self._walk_sent
        if not s.signalled or targets is None or self._walk_finished or sent is None:
            return
        if self._selection.active or s.session_ended or s.credentials_refused:
            return
        await store.flush()  # (what the workers queued before the stop, committed)
        images = store.state.images
        if any(image_id not in images for image_id in sent):
            return
        await self._place_held(store, last=True)
        # (the places first: a kill between leaves it "not finished")
        await self._record_walk_finished(store, targets)
        logger.info("the walk had listed everything before the stop: journaled as finished")

    async def _record_stop(self, store: Store) -> None:
        """After a stop because the session ended, the credentials were refused, the server
        stayed down longer than ``--outage-wait`` or the ``--max-bytes`` budget was reached
        (and what then ended the walk that looked for work left: the server down, the
        session ended): the walk, unfinished, says so in the journal, for ``status`` to say
        why it stopped and how to go on.

        Why the budget too: ``status`` said such a walk had "stopped", as after a kill, and
        one the session's end cut short after the budget as a plain budget stop, when the
        same command then refuses to start before a new login."""
        summary, targets = self.summary, self._walk_started
        if targets is None or self._walk_finished:
            return
        budget = ""
        if summary.budget_reached and not summary.signalled and self.cfg.max_bytes is not None:
            budget = size_text(self.cfg.max_bytes)
        cause = self._after_budget_cause if budget else None
        then = {cause[0]: cause[1]} if cause is not None else {}
        ended = summary.session_ended or then.get("session_ended", "")
        refused = summary.credentials_refused or then.get("credentials_refused", "")
        # Stopped because the server stayed down past --outage-wait (exit 75): status said
        # "stopped", as of a run killed, though the same command goes on once it answers.
        down = then.get("server_down", "") or (summary.server_down if not budget else "")
        if ended or refused or budget or down:
            await store.record_walk(
                targets,
                self.cfg.shard,
                finished=False,
                session_ended=ended,
                credentials_refused=refused,
                max_bytes=budget,
                server_down=down,
                sample_of=self._sample_of,
            )

    async def _pipeline(
        self,
        client: Client,
        store: Store,
        fetcher: Fetcher,
        study: StoreStudy | None,
        prefetched: Prefetched,
    ) -> None:
        cfg = self.cfg
        send, receive = anyio.create_memory_object_stream[ImageRef](cfg.queue_size)
        with unwrap_errors():
            await self._run_tasks(client, store, fetcher, study, prefetched, send, receive)
        await self._after_workers(store)
        await self._second_chance(fetcher, store)

    async def _second_chance(self, fetcher: Fetcher, store: Store) -> None:
        """Once the queue has ended (the walk done, every worker's images fetched): the
        images with files kept aside after a busy or broken answer
        (:mod:`harvester.second_chance`) are fetched again by the workers, those files only,
        each with a fresh retry budget, through the same limits, gate and budget as before;
        then the files it did not ask (their kind given up on) are journaled failed.

        After :meth:`_after_workers`: the walk is journaled finished, as it is (a kill now
        leaves only files pending, which ``status`` counts so). A stop (Ctrl-C, the budget,
        the server down) cancels this whole step: the files not asked again stay pending,
        not failed, for the next run."""
        refs = fetcher.later.start()
        files = fetcher.kept_to_ask()  # (a kind given up on meanwhile: none of its files)
        if refs and files:
            logger.warning(
                "asking again at the end: %s that failed on busy or broken answers",
                plural(files, "file"),
            )
            await store.flush()  # (their images' other files journaled: not asked again)
            send, receive = anyio.create_memory_object_stream[ImageRef](len(refs))
            with send:
                for ref in refs:
                    send.send_nowait(ref)
            workers = min(len(refs), max(2, self.cfg.concurrency * 2))
            with unwrap_errors():
                async with anyio.create_task_group() as tg, receive:
                    for _ in range(workers):
                        tg.start_soon(self._consume_again, receive.clone(), fetcher)
        await fetcher.journal_left()

    async def _consume_again(
        self, receive: MemoryObjectReceiveStream[ImageRef], fetcher: Fetcher
    ) -> None:
        """A worker of the second chance (:meth:`_second_chance`): as :meth:`_consume`, but
        every image is queued already, journaled and counted by its first fetch."""
        limiter = fetcher.client.limiter
        async with receive:
            while True:
                await limiter.standby()
                try:
                    ref = receive.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    limiter.end_standby()
                    return
                if self.summary.budget_reached and fetcher.pending(ref.image_id):
                    self._stop()  # (work left past the budget: the rest stays pending)
                    return
                record = self._completing_record(fetcher.store, ref)
                if self.cfg.max_bytes is None:
                    await fetcher.fetch_image(ref, record, again=True)
                elif await self._fetch_within_budget(fetcher, ref, record, again=True) is None:
                    self._stop()
                    return

    def _completing_record(
        self, store: Store, ref: ImageRef
    ) -> Callable[[Mapping[str, Any] | None], Awaitable[None]] | None:
        """For the second chance of an image given by id (:meth:`_consume_again`): the
        record that journals it again completed from the imgData ``meta`` (or the name the
        JSON API image gives) fetched now, as :meth:`_consume` does on a first fetch; None
        for an image a walk placed, or one its journal places already.

        Why: where its first fetch had no imgData (kept aside), the image was journaled
        without its well, dataset or project; done at the end, it kept that index.csv row,
        and a rerun, with nothing left to fetch, never asked imgData to complete it."""
        journaled = store.state.images.get(ref.image_id)
        if has_context(ref) or (journaled is not None and has_context(journaled)):
            return None
        state = store.state
        labels_asked = self.cfg.labels or self.cfg.from_plan is not None
        return functools.partial(
            _record,
            store,
            ref if journaled is None else journaled,
            journaled,
            ref.image_id in state.labels_unasked,
            labels_were_asked(ref, labels_asked),
        )

    async def _after_workers(self, store: Store) -> None:
        """Once the workers are over: every held place journaled, then the walk as finished."""
        await self._place_held(store, last=True)
        await self._tell_changes(store)
        if self._walk_ended is not None and not self._walk_finished:
            # After the workers, and after what they queued is journaled (the store commits
            # batches side by side, so queue order alone is no journal order): a run killed
            # before this record leaves the walk "not finished" (images the walk sent but no
            # worker took yet are in no journal: status cannot count them).
            await self._record_walk_finished(store, self._walk_ended)

    async def _tell_changes(self, store: Store) -> None:
        """What changed on the server since DIR's earlier runs into the summary (its
        ``changes on the server ...`` line), once the walk listed all it could and every
        image it sent is journaled.

        The images no longer listed are looked for only where this walk sent every image
        it met: not in a shard (it sends its own), a selection (it sends those matching)
        or a plan's run (no walk), whose images not sent may well be listed; nor in a
        folder of two servers, whose other server's images this walk could not meet."""
        changes = self._changes
        changes.had_images = changes.had_images and self._walked_whole_before()
        sent = self._walk_sent
        looks = (
            sent is not None
            and self._walk_ended is not None
            and not self.summary.signalled
            and not self._selection.active
            and self.cfg.shard is None
        )
        if looks and sent is not None:
            from harvester.changes import no_longer_listed, one_server

            one = functools.partial(one_server, self.out, self.cfg.base_url, self.summary.run_id)
            if await anyio.to_thread.run_sync(one):  # (ids are one server's)
                await store.flush()
                # (read in a thread: the workers are over, nothing journals an image meanwhile)
                look = functools.partial(
                    no_longer_listed,
                    store.state.images,
                    sent,
                    self._placing.listed.holds_place,
                    self._gone,
                )
                changes.unlisted = await anyio.to_thread.run_sync(look)
        self.summary.unlisted_ids = changes.unlisted
        self.summary.changes_line = changes.line()
        if changes.unlisted:
            # Capped as the summary's line is: every id of a dataset of a million images
            # removed from the server was about 8 MB of log.
            logger.info("%s", unlisted_text(changes.unlisted))

    def _walked_whole_before(self) -> bool:
        """Did the last walk of these targets (and shard) list everything, under this run's
        selection (or none, as now)? Only then is an image journaled for the first time
        news from the server ("new to the folder"): after a walk killed, stopped or whose
        listing failed, or of another ``--where``, the rerun journals images the server
        listed all along (a dataset's listing failing one night: its images "new" the next).
        """
        before = self._walk_before
        if before is None or not walk_listed_all(before):
            return False
        draw = self._sample_draw() if self._selection.active else None
        return before.get("sample_draw") == draw

    async def _record_walk_finished(self, store: Store, targets: str) -> None:
        """Journal the walk of ``targets`` as finished, after everything queued before it
        (a flush first: a kill between leaves the walk "not finished", never finished with
        images missing), with its failures and selection warnings; once a run.

        Why one place: the walk is recorded finished at three moments (the walk seen whole,
        after the workers, after a stop that came once it had ended), and the stop's copy
        lacked the selection's warnings record the other two wrote."""
        await store.flush()
        await store.record_walk(
            targets,
            self.cfg.shard,
            finished=True,
            failures=self._walk_failures(),
            sample_of=self._sample_of,
            sample_said=self._sample_said(),
        )
        self._walk_finished = True

    async def _place_held(self, store: Store, *, last: bool = False) -> None:
        """Journal the place of each image :class:`Placing` holds and can tell now (met
        again under a parent that ranks first, or moved: :meth:`Placing.decide`), so that
        index.csv places it alike whatever order the walk took. A worker asks every
        PLACING_BATCH held images, so the run holds a few MB of them, not one per shared
        image; ``last``: after the workers, every one.

        The records read are committed first (the store's commit loops may write a later
        batch before an earlier one: a place journaled before its worker's record could
        be overwritten by it). An image with no record (not selected, gone) is left out.
        """
        placing = self._placing
        if not placing:
            return  # (no flush: a run that met no image twice waits for nothing here)
        self._placing_held = True
        try:
            image_ids = None if last else placing.ready()
            await store.flush()
            state = store.state
            for placed, journaled in list(placing.decide(state.images, image_ids)):
                unasked = placed.image_id in state.labels_unasked
                asked_now = labels_were_asked(placed, self.cfg.labels)
                # (an image held here was selected, and its worker listed it again, or not
                # selected: an unlisted one stays so)
                await _record(
                    store,
                    placed,
                    journaled,
                    unasked,
                    asked_now,
                    selected=False,
                    changes=self._changes,
                )
        finally:
            self._placing_held = False

    async def _run_tasks(
        self,
        client: Client,
        store: Store,
        fetcher: Fetcher,
        study: StoreStudy | None,
        prefetched: Prefetched,
        send: MemoryObjectSendStream[ImageRef],
        receive: MemoryObjectReceiveStream[ImageRef],
    ) -> None:
        workers = max(2, self.cfg.concurrency * 2)
        room = self._room = QueueRoom(self.cfg.queue_size)
        async with anyio.create_task_group() as tg, send, receive:
            tg.start_soon(
                self._produce, client, send.clone(), study, prefetched, store.state.images
            )
            for _ in range(workers):
                tg.start_soon(self._consume, receive.clone(), fetcher, store, room)
            # The original ends are closed: the stream ends with the last walker.

    def _collect(self, fetcher: Fetcher, client: Client, study: StoreStudy | None) -> None:
        s = self.summary
        fs = fetcher.stats
        s.images = self.walk_stats.images if self.walk_stats else fs.images
        if self._selection.active:
            s.images = self.select_stats.selected
            s.selection = self.select_stats.summary(self._stop_cause())
        s.done, s.skipped, s.failed = fs.done, fs.skipped, fs.failed
        s.bytes = fs.bytes + (study.bytes if study is not None else 0)
        s.failures = list(fs.failures)
        s.given_up = dict(fetcher.give_up.stopped)
        s.asked_again, s.done_again = fetcher.later.asked, fetcher.later.done
        s.not_requested = dict(fs.not_requested)
        s.done_by_kind = dict(fs.done_by_kind)
        s.requests = client.stats.requests
        s.retries = client.stats.retries
        s.slowdowns = client.limiter.slowdowns  # the probe shares it: its slowdowns count too
        if self.walk_stats is not None:
            s.walked_again = self.walk_stats.walked_again
            s.walked_again_done = self.walk_stats.walked_again_done
            s.walk_failures = walk_failure_lines(self.walk_stats.failures)
            s.walk_statuses = [f.status for f in self.walk_stats.failures]

    async def _remove_finished_staging(self, store: Store) -> None:
        """Remove stack staging folders left by a run stopped just after storing the stack."""
        done = store.state.done
        stack = Artifact.STACK.value

        def remove() -> list[Path]:
            found = layout.finished_staging(self.out, lambda image_id: (stack, image_id) in done)
            for folder in found:
                shutil.rmtree(folder, ignore_errors=True)
            if found:  # staging/ holds stacks in progress: none left, no folder either
                with contextlib.suppress(OSError):  # not empty: another stack's planes
                    (self.out / layout.STAGING_DIR).rmdir()
            return found

        leftovers = await anyio.to_thread.run_sync(remove)
        if leftovers:
            logger.info("removed %d staging folders of stacks already stored", len(leftovers))

    async def _write_index(self) -> None:
        """Rewrite index.csv (and labels.csv, splits.csv) from the journals, and say so.

        The write waits in a worker thread for another writer's index lock (up to
        :data:`~harvester.index.INDEX_LOCK_WAIT`), which a cancellation cannot cut short: a
        stopping signal (``self._stopping``) ends that wait instead, within a poll, and the
        index is left to the next write (:attr:`RunSummary.index_left`). Why: Ctrl-C while
        ``harvester index`` labelled a big folder took up to 2 minutes to stop the run.
        """
        # (not at the top: the index is written once the requests are done; the labelled
        # writer's modules only for a folder with labels or a split: see plain_index)
        from harvester.plain_index import write_plain_index

        keys = self.cfg.label_keys or None  # None: keep the label keys an earlier run recorded
        absent: list[str] = []
        written: list[Path] = []
        pin_note: list[str] | None = [] if self._pin_recorded else None
        originals: list[OriginalsSummary] = []
        label_rows: list[int] = []
        splits: list[SplitTally] = []  # (the split the labelled writer wrote, if it ran)
        labelled = functools.partial(
            self._write_labelled_index,
            keys,
            absent,
            written,
            pin_note,
            originals,
            label_rows,
            splits,
        )
        try:
            self.summary.index_rows = await anyio.to_thread.run_sync(
                functools.partial(
                    write_plain_index,
                    self.out,
                    keys,
                    self._journal_state,
                    written=written,
                    originals=originals,
                    stop=self._stopping,
                    otherwise=labelled,
                )
            )
        except LockWaitStopped:
            logger.info("stopped while another process held DIR's index lock: index.csv left")
            self.summary.index_left = True
            return
        await self._index_written(
            keys, absent, written, pin_note, splits[0] if splits else None, originals, label_rows
        )

    def _write_labelled_index(
        self,
        keys: Sequence[str] | None,
        absent: list[str],
        written: list[Path],
        pin_note: list[str] | None,
        originals: list[OriginalsSummary],
        label_rows: list[int],
        splits: list[SplitTally],
    ) -> int:
        """:meth:`_write_index` for a folder with label keys or a split
        (:func:`harvester.select.write_labelled_index`), in the worker thread of the plain
        writer, which holds DIR's index lock meanwhile; the split written is added to
        ``splits``."""
        from harvester.select import write_labelled_index
        from harvester.splits import SplitTally

        tally = SplitTally()
        splits.append(tally)
        return write_labelled_index(
            self.out,
            keys,
            self._journal_state,
            absent=absent,
            written=written,
            pin_note=pin_note,
            partial=self.summary.interrupted,
            splits=tally,
            stop=self._stopping,
            originals=originals,
            label_rows=label_rows,
        )

    async def _index_written(
        self,
        keys: Sequence[str] | None,
        absent: list[str],
        written: list[Path],
        pin_note: list[str] | None,
        splits: SplitTally | None,
        originals: list[OriginalsSummary],
        label_rows: list[int],
    ) -> None:
        """What :meth:`_write_index` says once the tables are written."""
        for made in originals:
            from harvester.originals import originals_line

            self.summary.originals_line = originals_line(self.out, made)
        if splits is not None and splits.spec is not None:
            from harvester.splits import split_counts_text

            self.summary.split_counts = splits.counts
            self.summary.split_line = split_counts_text(splits.spec, splits.counts, splits.alone)
        for line in pin_note or ():
            if self.say is not None:
                self.say(line)
        if keys and absent:
            await self._record_label_keys_but_absent(keys, absent)
        s = self.summary
        labels = self.out / layout.LABELS_NAME
        if labels in written:  # (with label keys: the summary names it beside index.csv)
            s.labels_file = labels
            s.labels_listed = sum(label_rows)
        if (
            self._selection.active
            and self._shard is None
            and not self._told_before
            and not (s.interrupted or s.walk_failures)
        ):
            # index.csv lists every image of DIR, not only this selection (a run cut short
            # selected only part of it: nothing to compare then). Said to whoever gave the
            # selection, not again by a replay of a run that said it (_selection_told_before):
            # a balanced set (one --where per class, each a target set of its own) had one
            # such line per class on every resume.
            note = self.select_stats.index_note(s.index_rows)
            if note:
                logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)

    async def _record_label_keys_but_absent(
        self, keys: Sequence[str], absent: Sequence[str]
    ) -> None:
        """Keep a given label key that no image has (a typo) out of later index writes.

        This run's saved configuration names its keys, and later index writes given none
        (a resume, ``harvester index``, the SLURM index job) would take them from it: every
        later index had empty labels. As ``harvester index`` does, only the keys some image
        has are recorded (none valid: the keys recorded before), with one warning.
        """
        state = self._journal_state
        run = self.summary.run_id

        def record() -> str:
            kept = (
                remembered_label_keys(self.out, state, warn=False, besides=run, no_image_has=absent)
                if state is not None
                else ()
            )
            return record_label_keys_but_absent(
                self.out, keys, absent, kept, by="harvester harvest", stop=self._stopping
            )

        try:
            line = await anyio.to_thread.run_sync(record)
        except LockWaitStopped:
            self._record_left(label_keys_path(self.out))
            return
        if line:
            self._label_keys_recorded = True
            logging.getLogger(PROBLEMS_LOGGER).warning("%s", line)

    async def _dry_run(self, client: Client) -> None:
        """Walk without storing: count images and the artifacts that would be fetched."""
        cfg = self.cfg
        mine = self._shard_images()
        state = (
            await anyio.to_thread.run_sync(lambda: JournalState.load(self.out, images=mine))
            if (self.out / layout.MARKER_NAME).exists()
            else JournalState()
        )
        # Read as a run's is: a replay of a run that said its selection's notes does not
        # say them again (_selection_told_before, _sample_said_before), as the real resume
        # it previews does not.
        self._journal_state = state
        from harvester.gone import gone_ids  # (not at the top: see _work_in_store)

        self._gone = await anyio.to_thread.run_sync(gone_ids, self.out, self.cfg.base_url)
        pending = 0
        self._note_runs_without_labels(state)
        # Its walk watched as a run's is: once the session ended, each listing left failed.
        self._watch_credentials(client)
        try:
            prefetched = await self._preflight_containers(client)
            prefetched.update(await self._preflight_images(client, state))
            send, receive = anyio.create_memory_object_stream[ImageRef](cfg.queue_size)
            # A misspelt --label-key is worth a warning before the real run (select.KeyCensus).
            from harvester.select import KeyCensus, unknown_label_keys

            wants_keys = cfg.label_keys and cfg.labels  # --no-labels walks fetch no labels
            census = KeyCensus(cfg.label_keys, state.labels_unasked) if wants_keys else None
            with unwrap_errors():
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._produce, client, send, None, prefetched, state.images)
                    async with receive:
                        async for ref in receive:
                            if ref.image_id in self._gone:
                                self.summary.gone += 1
                                continue
                            pending += sum(
                                1
                                for a in cfg.artifacts
                                if (a.value, ref.image_id) not in state.done
                            )
                            if census is not None:
                                census.see(ref)
        finally:
            # Also when stopped (a server down longer than outage_wait, Ctrl-C): the counts
            # line says what was found and asked until then, not "0 listing requests".
            self._dry_run_counts(client, pending)
        if census is not None:
            for line in unknown_label_keys(census, ("image found", "images found")):
                logging.getLogger(PROBLEMS_LOGGER).warning("%s", line)

    def _dry_run_counts(self, client: Client, pending: int) -> None:
        """A dry run's counts into the summary: requests, artifacts to fetch, images found."""
        self.summary.requests = client.stats.requests
        self.summary.retries = client.stats.retries
        self.summary.pending = pending
        if self.walk_stats is not None:
            self.summary.images = self.walk_stats.images
            self.summary.unchecked_ids = self.walk_stats.unchecked
            self.summary.walked_again = self.walk_stats.walked_again
            self.summary.walked_again_done = self.walk_stats.walked_again_done
            self.summary.walk_failures = walk_failure_lines(self.walk_stats.failures)
        if self._selection.active:
            self.summary.images = self.select_stats.selected
            self.summary.selection = self.select_stats.summary(self._stop_cause())

    def _stop_cause(self) -> str:
        """Why the run stopped, when something other than an interruption stopped it (the
        server stayed down, the session or the credentials it sent ended); else ""."""
        s = self.summary
        if s.server_down:
            return s.server_down
        if s.budget_reached:
            return s.budget_reached
        if s.session_ended:
            return stopped_text(SESSION_ENDED, s.session_ended)
        if s.credentials_refused:
            return stopped_text(CREDENTIALS_REFUSED, s.credentials_refused)
        return ""


async def _record(
    store: Store,
    ref: ImageRef,
    journaled: ImageRef | None,
    unasked: bool,
    asked_now: bool,
    meta: Mapping[str, Any] | None = None,
    *,
    placing: Placing | None = None,
    selected: bool = True,
    changes: Changes | None = None,
) -> None:
    """Journal ``ref`` unless the journal has it already (``journaled``, its record's
    ``unasked`` mark): a finished rerun writes no image record.

    ``asked_now``: this run asked for its labels (labels on, a plan's, or an ``AskedRef``;
    not an ``UnaskedRef``: :func:`~harvester.walk.labels_were_asked`).
    ``meta``: imgData's, which completes an image given by id first (:func:`with_meta`).
    ``placing``: the run's, which keeps the place the journal has for the image where
    that ranks first (it is in several datasets, say), unless this run listed that place
    and did not find it there (it moved: :meth:`Placing.place`); None: ``ref`` is placed.
    ``selected``: this run selected it, so an image journaled as unlisted (it no longer
    matched the ``--where`` that selected it) is journaled again, listed; False (the
    placing's record of an image met under two parents): its mark is kept as it is.
    ``changes``: the run's count of what its records change (new, relabelled, moved).
    """
    if meta is not None:
        ref = with_meta(ref, meta)
    if placing is not None:
        ref = placing.place(ref, journaled)
    unlisted = ref.image_id in store.state.unlisted
    if journaled != ref or (asked_now and unasked) or (selected and unlisted):
        # Without labels the walker gives an image the labels journaled for it
        # (Walker._known_labels): those of an unmarked image were asked.
        asked = asked_now or bool(ref.labels) or (journaled is not None and not unasked)
        await store.record_image(ref, labels_asked=asked, unlisted=unlisted and not selected)
        if changes is not None and journaled != ref:
            changes.saw(journaled, ref, unasked=unasked)


def _stopping_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop a run: SIGINT, SIGTERM, and SIGHUP where the CLI made it stop the
    command (a callable handler: ``cli._take_hangup``). Not where it is ignored (``nohup``),
    nor at Python's default for an in-process caller, whose SIGHUP is its own business."""
    hangup = (signal.SIGHUP,) if callable(signal.getsignal(signal.SIGHUP)) else ()
    return (signal.SIGINT, signal.SIGTERM, *hangup)


def _too_late(signum: int, frame: object) -> None:
    """The handler of a signal that comes after a run's work is done: nothing to stop."""


#: The saved settings that say what work a run does in DIR: its targets, kinds and selection
#: (two runs alike in these fetch the same images; see ``Harvest._busy_elsewhere``).
_WORK_KEYS = (
    *("screens", "projects", "plates", "datasets", "images", "ids_from", "from_plan"),
    *("artifacts", *SELECTION_KEYS),
)


def _as_set(value: object) -> object:
    """A saved list as a set of its items (their order says nothing of the work), else as is."""
    if isinstance(value, list):
        return frozenset(json.dumps(item, sort_keys=True) for item in value)
    return value


def _marks_unasked_labels(saved: Mapping[str, Any]) -> bool:
    """Did the harvester that saved this run mark images journaled without labels (0.1.4+)?"""
    try:
        version = tuple(int(part) for part in str(saved.get("version", "")).split(".")[:3])
    except ValueError:
        return False
    return version >= (0, 1, 4)


#: What an ``--ids-from`` source holds, as the refusal of one that holds no id says it.
IDS_FORMAT = "one image id a line ('#' starts a comment), or a CSV/TSV with an image_id column"


def no_ids_held(
    cfg: HarvestConfig,
    read: Path | None = None,
    *,
    going_on: str = "harvesting the other targets",
    alone: str | None = None,
) -> bool:
    """Say an ``--ids-from`` source that holds no id; True when it was the only target and
    ``alone`` was given.

    A pipe from a command that failed (``curl ... | jq ... | harvester harvest --ids-from
    -``) gives no id: a harvest used to make a new DIR with an empty index and a summary of
    zeros, and ``harvester plan`` an empty plan, all exit 0, which read as success. Given as
    the only target it is refused (:class:`UsageError`, exit 2: there is nothing to do, as
    with no target at all), before anything is made or touched; ``alone`` instead makes it
    one problem line ending so (a resume's replay of a saved set: an emptied ``retry.txt``
    is no failure). Beside other targets it is one problem line ending ``going_on``
    (``--quiet`` prints it too), and the command goes on. One check for ``harvest``,
    ``plan`` and ``slurm``, so that all three answer alike.

    ``read``: where the ids are read (a temporary copy of a source readable once, see
    :func:`copy_of_ids_source`); default ``cfg.ids_from``, which must then be readable again.
    """
    given = cfg.ids_from
    path = read if read is not None else given
    if given is None or path is None or first_ids(path, 1):
        return False
    stdin = str(given) in ("-", "/dev/stdin")
    source = "standard input" if stdin else shell_quote(str(given))
    piped = stdin or path != given  # (copied: readable once, so a command wrote it)
    said = (
        f"--ids-from {source} held no image id (it was empty, or only blank lines, "
        "comments or a CSV header)"
    )
    others = (
        cfg.screens
        or cfg.projects
        or cfg.plates
        or cfg.datasets
        or cfg.images
        or cfg.screen_names
        or cfg.project_names
    )
    if not others and alone is None:
        raise UsageError(
            f"{said}: nothing to harvest",
            hint=f"did the command writing the ids fail? It must write {IDS_FORMAT}"
            if piped
            else f"give a file of {IDS_FORMAT}",
        )
    question = "; did the command writing the ids fail?" if piped else ""
    outcome = going_on if others else (alone or "")
    logging.getLogger(PROBLEMS_LOGGER).warning("%s: %s%s", said, outcome, question)
    return not others


def copy_of_ids_source(
    path: Path | None, command: str = "harvest", server: str | None = None
) -> Path | None:
    """A temporary copy of an ``--ids-from`` source that can be read only once, else None.

    ``-`` (standard input; always copied, even a file redirected in: reopening /dev/stdin
    is not a fresh read of it everywhere, a dup of descriptor 0 on macOS), a pipe, ``<(cmd)``
    or a device are copied (:func:`~harvester.walk.spool_ids_file`); a regular file, a folder
    or a missing path are not (None: the run checks them where they are). The command line
    makes the copy before its event loop starts: the copy waits for the producer to end,
    and a Ctrl-C or SIGTERM meanwhile must interrupt that wait, which it cannot while the
    event loop's own thread is blocked in the read. ``command``: the one a terminal on
    standard input is told to pipe the ids into; ``server``: the run's base URL, whose server
    the source's links must be of (the copy holds their ids alone).
    """
    if path is None:
        return None
    if str(path) == "-":
        return spool_ids_file(standard_input_ids(command), server, said="-")
    if path.is_file() or path.is_dir() or not path.exists():
        return None
    return spool_ids_file(path, server)


async def run_harvest(
    cfg: HarvestConfig,
    *,
    argv: Iterable[str] = (),
    progress: ProgressSink | None = None,
    handle_signals: bool = False,
    ids_copy: Path | None = None,
    say: Callable[[str], None] | None = None,
    replay_of: str | None = None,
    moves_server: bool = False,
    said: set[str] | None = None,
    script_written: float | None = None,
    spent_before: int = 0,
    left_index: LeftIndex | None = None,
    out_note: str | None = None,
) -> RunSummary:
    """Run one harvest to the end (or to an interruption) and return its summary.

    ``ids_copy``: the copy of a read-once ``--ids-from`` source already made
    (:func:`copy_of_ids_source`), which the run reads and removes. ``say``: where
    informational lines go (the CLI's standard error; what a screen name resolved to).
    ``replay_of``: this run replays a target set for ``harvester harvest --out DIR``, and
    takes that run's place among DIR's runs (saved with its config; see
    :func:`harvester.config.replay_origin`). ``moves_server``: that replay asks another
    server than its set's newest run asked (the server moved), and keeps its run, the
    record of the move, though it fetches nothing. ``said``: notes about DIR said already by this
    command (the replays of one resume share it); this run adds those it says.
    ``script_written``: a task of a ``harvester slurm`` array, whose script was written
    then (:func:`harvester.slurm.script_written`). ``spent_before``: bytes the earlier
    replays of the same resume stored, counted against ``cfg.max_bytes``. ``left_index``:
    the replays of one resume of several sets share it, and their caller says what it
    holds once they all ran (:class:`~harvester.select.LeftIndex`). ``out_note``: a warning
    about DIR the command counted before anything was written, said as the store opens.
    """
    harvest = Harvest(
        cfg,
        argv=list(argv),
        progress=progress,
        handle_signals=handle_signals,
        ids_copy=ids_copy,
        say=say,
        replay_of=replay_of,
        moves_server=moves_server,
        said=said,
        script_written=script_written,
        spent_before=spent_before,
        left_index=left_index,
        out_note=out_note,
    )
    return await harvest.run()

"""``harvester status DIR``: what is done, failed and pending, and who wrote it.

Everything comes from the journals (every shard's, read with complete lines only, so it is safe
while shards still run) plus the saved configs of the runs (which artifact kinds each target set
asks for). No artifact file is stat-ed.

Counts are of what the suggested resume would fetch: an image's kinds are those the newest run
of each target set holding it asks for (:class:`_Wanted`), as ``harvester harvest --out DIR``
replays each set with its newest run's settings, plus a plan's kinds for the plan's images.

* done: artifacts journaled done and not invalidated by ``verify``, with their bytes;
* failed: the latest failure of something that is not done, of a kind still asked for (the
  others are ``not_asked``: a hint followed, ``render`` dropped); in a folder of two
  servers, each server's own latest failure of an image's kind and id (ids are one
  server's: :func:`other_servers_failures`);
* pending: images the walk journaled whose kinds are neither done nor failed;
* walks that did not list everything (their "walk" records, :mod:`harvester.journal`): a
  listing that failed for good, or a run stopped before its end. Their images are in no
  journal, so ``pending`` cannot count them; they are listed apart, with the resume command.
  So are the shards of a split walk that no walk covers (:func:`_unwalked_shards`).

With a plan in ``DIR/plan`` (``harvester plan``), the plan's images count too, those no shard
has reached yet (not journaled) included, and the plan's artifacts are the selected kinds
until a run saves its own; ``plan`` sums up the planned work. The plan is streamed (its ids
only, never held), so a plan of millions of images costs one pass over ``images.jsonl``.

A folder ``harvester slurm`` has prepared (``DIR/harvest.sbatch``) holds no ``harvest.json``
until its first task starts, yet the script tells the user to follow it with ``status``: such a
folder is reported as not started (the script, its task count, the plan it names), not refused.
The script is read, never run; what cannot be read from it is left out. A folder with neither
``harvest.json``, journals nor a script ``harvester slurm`` wrote is still refused.

A job-array task with work left whose log ends with the script's start line (the script
``exec``s Python: killed by the out-of-memory killer, ``kill -9`` or a node failure) is named,
with what tells how it ended (``sacct`` where it answers here; else its log and ``scontrol
show job``), once ``squeue`` shows it neither running nor queued again; where
the queue cannot be asked, it is named as unknown (:class:`SilentEnd`). Only
``harvester status`` looks (``ask_queue``).

A damaged folder is described, not refused: a ``harvest.json`` that no longer parses in a
folder with journals, journals gone while ``images/`` holds files, a missing ``index.csv``
(:func:`harvester.verify.folder_notes`, one ``note:`` line each), damaged journal lines that
were skipped, a journal copied under another name (its records count once, as the writer's
its run record names, not as a phantom writer), and temp files no pending file lists (found
by listing the folders of ``images/``, no file stat-ed; ``verify`` hands those of ended
writers to the next harvest, status only says so).
Every failure is in ``--json`` (``failures``, and ``failed_ids``: the ids of the images with
a failed artifact, which ``--failed-ids`` prints one a line for ``harvest --ids-from``); the
text lists the first :data:`MAX_FAILURE_SAMPLES` and says how to get the rest. When something
is left to do, both say the command that resumes (``resume``,
:func:`harvester.config.resume_command`): ``harvester harvest --out DIR`` when the settings
of one of its target sets can be replayed, and the command of each set that cannot.
When no run's saved config can be read (``runs/`` deleted, a run killed before saving it) the
artifact kinds are the ones the journals hold, not the defaults, which counted a ``render``
never asked for as pending for every image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester import runlock
from harvester.end_lines import size_said
from harvester.errors import HarvesterError, UsageError, with_status
from harvester.folder_settings import (
    DamagedLabelKeysError,
    damaged_label_keys_note,
    read_label_keys_record,
    remembered_label_keys,
)
from harvester.gone import GoneKey, read_gone
from harvester.journal import (
    STUDY_ONLY,
    JournalState,
    ReadMark,
    SavedConfigs,
    journal_files,
    journals_of_other_writers,
    read_journal,
    run_orders,
    saved_run_configs,
    walk_listed_all,
    walk_lost_images,
    writer_of,
)
from harvester.label_ids import LABEL_IDS_FILE, DamagedPinError, read_pin
from harvester.layout import (
    JOURNALS_DIR,
    MARKER_NAME,
    STAGING_DIR,
    STUDY_KINDS,
    resolve,
    staged_planes,
)
from harvester.models import DEFAULT_ARTIFACTS, Artifact, ImageRef
from harvester.plan import (
    PLAN_DIRNAME,
    PLAN_WRITER_SUFFIX,
    iter_plan_ids,
    plan_config_file,
    planners_running,
    run_flags_in,
)
from harvester.runlock import (
    LOCKS_DIR,
    held_run_locks_named,
    others_may_hold,
    progress_name,
    unlocked_progress,
    unlocked_run_text,
)
from harvester.shard import (
    WorkLeft,
    finer_parts,
    holders,
    shard_commands,
    shard_hash,
    shard_pair,
)
from harvester.shell_words import shell_join, shell_quote
from harvester.splits import SPLIT_FILE, asked_grouping, folder_split
from harvester.store import find_stray_temps, scrub_saved_credentials
from harvester.text import agree, and_list, duration_text, plural, quoted, shown, shown_url
from harvester.verify import damaged_marker, folder_notes, has_unjournaled_files, stray_notes

if TYPE_CHECKING:
    from harvester.array_scripts import ArrayScript
    from harvester.config import RecordedRun
    from harvester.forgotten import ForgottenSet
    from harvester.plan import PlanInfo
    from harvester.slurm import Queue

logger = logging.getLogger(__name__)

#: Said before the ``forget`` command of a plan whose images all answered 404 (as the
#: harvest of it closes, naming the plan: the resume above may replay other sets too).
GONE_FOR_GOOD = (
    "if the plan's images are gone from the server for good, stop resuming its target set "
    "(its files stay)"
)
#: Failures listed by the text form (``--json`` and ``--failed-ids`` have all of them).
MAX_FAILURE_SAMPLES = 20

#: One kind and id's failures by server (:func:`other_servers_failures`): the server's
#: normal URL -> (its URL as saved, its latest failure record).
FailuresByServer = dict[str, tuple[str, dict[str, Any]]]
#: Running harvests or shards a line of the text form names before it cuts the list short.
MAX_NAMED = 10
#: The job-array tasks with work left that ``status`` lists one line each.
MAX_TASK_LINES = 10
#: The writers (journals) the text form lists one line each, the newest: a job array of
#: hundreds of tasks, resubmitted, put as many lines between its summary and its end.
MAX_WRITER_LINES = 20
_RUNNING_SHARD = re.compile(r"shard (\d+)/(\d+) ")
_SHARD_IN_WRITER = re.compile(r"-shard-(\d+)-of-(\d+)$")
#: The run a walk of ids read once is keyed by (:meth:`HarvestConfig.walk_targets`).
_READ_ONCE_RUN = re.compile(r" '\(run [^']*\)'$")


def _stopped_walk_state(ended: str, refused: str) -> str:
    """What became of a walk the session watch stopped: the session it sent had ended
    (``ended``, the answer that showed it) or the credentials were refused (``refused``),
    and what to do, in the words of the run's own hint (:func:`harvester.session.again_hint`:
    one text, where ``status`` said it its own shorter way)."""
    said, again = _session_stop(ended, refused)
    return f"stopped, {said}: {again}, then resume"


def _session_stop(ended: str, refused: str) -> tuple[str, str]:
    """What the server said of the session (``ended``) or credentials (``refused``) a
    walk's run sent, and what to do before resuming (:func:`harvester.session.again_hint`)."""
    from harvester.session import CREDENTIALS_REFUSED, SESSION_ENDED, again_hint  # (rare)

    if ended:
        return f"the session its run sent had ended ({ended})", again_hint(SESSION_ENDED)
    said = f"the server no longer took the credentials its run sent ({refused})"
    return said, again_hint(CREDENTIALS_REFUSED)


def _budget_walk_state(walk: Mapping[str, Any]) -> str:
    """What became of a walk its run's ``--max-bytes`` budget stopped (its ``max_bytes``),
    and of the walk that then went on to look for work left where the server went down or
    the session ended (``server_down``, ``session_ended``, ``credentials_refused``): the
    budget's stop (the run exited 8: nothing failed), and what the resume line needs first.

    Why: such a walk read "stopped", as after a kill, and one whose session ended after the
    budget read as a plain budget stop, though the resume would refuse to start before a
    new login."""
    stopped = f"stopped by its --max-bytes budget ({size_said(walk['max_bytes'])})"
    ended, refused = walk.get("session_ended", ""), walk.get("credentials_refused", "")
    if ended or refused:
        said, again = _session_stop(ended, refused)
        return (
            f"{stopped}, then, as it looked for work left, {said}: {again}, then resume "
            "(a new budget of that size)"
        )
    if down := walk.get("server_down", ""):
        return (
            f"{stopped}, then, as it looked for work left, the server went down ({down}): "
            "once it answers again, resume (a new budget of that size)"
        )
    return f"{stopped}, the rest pending: resume (a new budget of that size)"


def _walk_of(targets: str, *, run_named: bool = False) -> str:
    """``walk of TARGETS`` as a person reads it. Ids read once key their walk by run
    (``--ids-from - '(run R)'``); a line that names that run itself (``(run R)``) drops it
    from the key, where it said it twice."""
    if run_named:
        targets = _READ_ONCE_RUN.sub("", targets)
    return f"walk of {targets}" if targets else "walk"


#: What marks a row of ``status``'s table that counts study objects (plates, screens,
#: projects, datasets), not files.
STUDY_ROW = "(study)"


def _row_label(kind: str) -> str:
    """``plates (study)`` for a study kind (objects), the kind itself for an artifact (files)."""
    return f"{kind}s {STUDY_ROW}" if kind in STUDY_KINDS else kind


#: Said under the runs that may still go on a filesystem without ``flock`` (no lock held
#: there) when status gives a command: no lock refuses it there (exit 75 elsewhere), so
#: run now it goes on beside them, each fetching the same images, the server's load doubled.
#: "A command this status gives", not "below": the dropped kinds' command is said above the
#: runs, the resume below them. (Every folder offered ``forget`` has failures, so a resume
#: too: a harvest is always among the commands, and "fetching" holds.)
UNGUARDED_NOTE = (
    "note: this filesystem cannot lock, so nothing refuses a command this status gives while "
    "a run above still goes: the two would run side by side, fetching the same images twice; "
    "start it once those runs have ended"
)


def _first_named(names: list[str], *, counted: bool = False) -> str:
    """The first :data:`MAX_NAMED` of ``names``, comma-separated, then ", and N more"
    (``counted``) or ", ..." when there are more."""
    listed = ", ".join(names[:MAX_NAMED])
    if len(names) <= MAX_NAMED:
        return listed
    return listed + (f", and {len(names) - MAX_NAMED} more" if counted else ", ...")


@dataclass
class KindStatus:
    """Counts for one artifact or study kind."""

    done: int = 0
    failed: int = 0
    pending: int = 0
    bytes: int = 0


def _summed(rows: Iterable[KindStatus]) -> KindStatus:
    """Rows of ``status``'s table added up."""
    total = KindStatus()
    for k in rows:
        total.done += k.done
        total.failed += k.failed
        total.pending += k.pending
        total.bytes += k.bytes
    return total


@dataclass
class WriterStatus:
    """What one process (one journal) contributed to the current state.

    ``done`` and ``failed`` count files (artifacts), ``study_done`` and ``study_failed``
    study objects (plates, screens ...: one each, for all of its files in ``study/``);
    ``bytes`` is everything it wrote, ``study/`` included. Added together, a plan's writer
    of 11 study objects read as "11 done", beside shards' counts of files. ``gone``
    counts its failed files of images ``forget --gone-ids-from`` recorded as gone from the
    server, apart from ``failed``: the totals count no failure of theirs, and a writer's
    line that did read as failures the summary says are settled. ``forgotten`` counts, the
    same way, its failed files of target sets ``harvester forget`` took out of DIR's resumes,
    and ``not_asked`` those of kinds no resume asks for any more (a hint followed, ``render``
    dropped: :attr:`StatusReport.not_asked`), which its line counted as failed: a run was
    said to have failed what no command asks of it now.
    """

    writer: str
    run: str | None = None
    shard: str | None = None
    started: float | None = None
    done: int = 0
    failed: int = 0
    bytes: int = 0
    study_done: int = 0
    study_failed: int = 0
    gone: int = 0
    forgotten: int = 0
    not_asked: int = 0

    def count(self, kind: str, *, failed: bool = False, times: int = 1) -> None:
        """Count ``times`` journaled files or study objects of ``kind`` (done, or ``failed``)."""
        study = kind in STUDY_KINDS
        if failed and study:
            self.study_failed += times
        elif failed:
            self.failed += times
        elif study:
            self.study_done += times
        else:
            self.done += times

    def text(self) -> str:
        """Its line of ``status``'s ``writers:`` list."""
        shard = f" shard {self.shard}" if self.shard else ""
        line = (
            f"  {self.writer} (run {self.run}{shard}): {self.done} done, {self.failed} failed, "
            + (f"{self.gone} gone (forgotten), " if self.gone else "")
            + (f"{self.forgotten} forgotten, " if self.forgotten else "")
            + (f"{self.not_asked} not asked for any more, " if self.not_asked else "")
            + f"{self.bytes:,} bytes"
        )
        if self.study_done or self.study_failed:
            failed = f", {self.study_failed} failed" if self.study_failed else ""
            line += f"; study objects: {self.study_done} saved{failed}"
        return line


@dataclass
class PlanStatus:
    """The planned work (``DIR/plan``): images, and their planned artifacts' states.

    ``reached``: planned images some run has journaled; ``complete``: those with every
    planned artifact done, or recorded as gone from the server (``gone`` of them: settled,
    as a job-array task counts them, not work left); ``done``/``failed``/``pending`` count
    (artifact, image) pairs of the plan, so ``pending`` includes every artifact of the
    images not reached yet.
    """

    images: int
    artifacts: list[str]
    reached: int = 0
    complete: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    #: Of ``complete``, the images ``forget --gone-ids-from`` recorded as gone.
    gone: int = 0
    #: Per task of DIR's job array (``harvest.sbatch``), its shard's share of the plan.
    tasks: list[TaskProgress] = field(default_factory=list)


@dataclass
class TaskProgress:
    """Task K of a job array: its shard's planned images, how many a run has journaled
    (``reached``), have every planned artifact or are recorded as gone from the server
    (``complete``: no work left) or a failed one (``failed``)."""

    task: int
    images: int = 0
    reached: int = 0
    complete: int = 0
    failed: int = 0
    #: Reached, neither complete nor failed: some of its planned artifacts still pending
    #: (a task stopped mid-image), so that complete, failed, partial and not reached add
    #: up to its images.
    partial: int = 0
    #: Its newest log in ``DIR/logs`` (``harvest-<job>_<K>.log``), for a task with work
    #: left: where it says why it ended short (a task killed by ``kill -9`` or the OOM
    #: killer left only its start line: see :class:`SilentEnd`).
    log: str | None = None
    #: How its newest log says its harvest ended, for a task with work left that is neither
    #: running nor queued (asked by ``harvester status``): ``"interrupted"`` (``scancel``,
    #: Ctrl-C), ``"max_bytes"`` (its ``--max-bytes`` budget was spent: it exits 8, which
    #: SLURM calls FAILED) or ``"server_down"`` (down longer than its ``--outage-wait``);
    #: None when it says none of them, or was not read.
    ended: str | None = None
    #: With ``ended`` ``"max_bytes"``: the budget, as its log says it (``30K``); None where
    #: its line was cut short (a disk full as it was written).
    max_bytes: str | None = None
    #: Its newest log was read for how it ended, and its last 1 MiB (status reads no more)
    #: holds no start line: how it ended is unknown, said so (it went unsaid).
    start_unread: bool = False
    #: With ``ended`` ``"max_bytes"``: what ended the walk that then looked for work left, as
    #: its log's note says (:func:`harvester.end_lines.after_budget`): ``"server_down"``,
    #: ``"session_ended"`` or ``"credentials_refused"`` (a new login, or new credentials,
    #: before it is resubmitted); None where nothing did.
    after_budget: str | None = None
    #: What its newest log says stopped its job script before harvester began
    #: (:func:`_failed_start`): the shell's or Python's words, ``/opt/venv/bin/python: No
    #: such file or directory``; None where harvester began (or the log was not read).
    #: Why: a node that cannot run the script's Python fails every task at once, and status
    #: listed each with its work left and nothing more, offering the resubmission that
    #: fails the same way.
    not_started: str | None = None
    #: ``<job>_<K>``, the task the queue lists (pending or running) as it, where status
    #: asked the queue; None where it lists none. Why: a resubmitted array reuses its task
    #: numbers, so ``log`` (the newest) may be an earlier job's: its line says so.
    queued_as: str | None = None


@dataclass
class SilentEnd:
    """A job-array task with work left that ended without a word: its newest log
    (``DIR/logs/harvest-<job>_<K>.log``) holds the script's start line and, after it,
    nothing from the harvest (no summary, error or interruption), only SLURM's own lines
    if any. The script ``exec``s Python, so a task killed by the out-of-memory killer,
    ``kill -9`` or a node failure leaves just that, and its journal stops mid-run.

    ``killed``: True when the queue (``squeue``) holds no task K of DIR's script, pending
    or running, or when SLURM's line in its log says it was cancelled (``cancelled``: it
    ended, queue or not); else None when the queue cannot be asked here (``queue_error``
    says why): then it may still be running on another node, and status does not guess.
    """

    task: int
    #: ``<array job>_<K>``, as ``sacct -j`` takes it (from the log's name).
    job: str
    log: str
    killed: bool | None = None
    #: SLURM's ``slurmstepd`` line in the log reports an oom_kill event.
    out_of_memory: bool = False
    #: SLURM's ``slurmstepd`` line in the log says it cancelled the job: ``scancel``, or
    #: the reason it names (``DUE TO TIME LIMIT`` -> ``time limit``); None when none does.
    cancelled: str | None = None
    queue_error: str | None = None
    #: The commands that tell how it ended, where they can answer: ``sacct`` where it
    #: answers here, else ``scontrol show job`` while the controller still lists the task.
    see: list[str] = field(default_factory=list)
    #: Why ``sacct`` is not among them (no accounting: it refuses), None when it is.
    no_sacct: str | None = None
    #: Its end as ``scontrol show job`` says it, where status asked it (no ``sacct``):
    #: ``FAILED (JobLaunchFailure)``; None where it was not asked or lists no such task.
    slurm_state: str | None = None
    #: The script whose array it is of, where not harvest.sbatch (a folder of several
    #: selections' scripts: ``harvest-2.sbatch`` ...); None: harvest.sbatch's.
    script: str | None = None


@dataclass
class TimeLimited:
    """A job-array task with work left whose newest log holds SLURM's line cancelling it
    ``DUE TO TIME LIMIT``, after which the harvest said ``interrupted`` (SLURM sends SIGTERM
    first): not silent, so no :class:`SilentEnd`, but resubmitted as it is, the same
    ``#SBATCH --time`` would cut it short again at about the same point."""

    task: int
    #: ``<array job>_<K>`` (from the log's name).
    job: str
    log: str
    #: As :attr:`SilentEnd.script`: None for harvest.sbatch's task.
    script: str | None = None


def _ends_json(ends: Iterable[SilentEnd | TimeLimited]) -> list[dict[str, Any]]:
    """``--json``'s entries of tasks that ended so: ``script`` only where it is another
    script than harvest.sbatch (the shape of a folder of one script kept)."""
    return [
        {key: value for key, value in asdict(end).items() if key != "script" or value is not None}
        for end in ends
    ]


def _task_named(task: int, job: str, script: str | None) -> str:
    """``task 1 (job 4242_1)``, or ``task 1 of DIR/harvest-2.sbatch (job 4243_1)`` for
    another script's array than harvest.sbatch's."""
    of = f" of {shell_quote(script)}" if script is not None else ""
    return f"task {task}{of} (job {job})"


@dataclass
class SlurmStatus:
    """What ``DIR/harvest.sbatch`` (written by ``harvester slurm``) says about the job array.

    ``tasks``, ``from_plan`` and ``artifacts`` are read from the script, None when a user's
    edit removed them; ``task_logs`` counts the tasks' ``logs/harvest-*.log`` files (a log
    without any journal means a task ended before its harvest began).
    """

    script: str
    config: str | None = None
    index_script: str | None = None
    logs: str | None = None
    tasks: int | None = None
    from_plan: str | None = None
    artifacts: list[str] | None = None
    task_logs: int = 0
    newest_log: str | None = None
    #: The folder the tasks harvest into when it is not DIR (DIR moved or copied since).
    elsewhere: str | None = None
    #: The array line's ``%M`` (at most this many tasks at once), None without one.
    parallel: int | None = None
    #: Each task log's (mtime, path), from the one listing of ``logs``: counted above, and
    #: each task's newest named (:func:`_name_task_logs`).
    log_files: list[tuple[float, str]] = field(default_factory=list, repr=False)
    #: Each task's ``--max-bytes`` budget (its flag, else its config file's ``max_bytes``),
    #: as written; None without one (or ``none``): a task may end with work left by design.
    max_bytes: str | None = None
    #: The script's ``#SBATCH --job-name``, None without one: the ``squeue -n`` said where
    #: the queue cannot be asked (:func:`harvester.slurm.queue_command`).
    job_name: str | None = None

    def resubmit_resumes(self) -> bool:
        """:func:`harvester.slurm.resubmit_resumes`, from what was read of the script."""
        return self.index_script is not None and self.elsewhere is None

    def described(self) -> str:
        """``DIR/harvest.sbatch (4 tasks), written by harvester slurm``: the array, as
        status names it and as ``harvest --out`` of its folder is told of it."""
        tasks = f" ({plural(self.tasks, 'task')})" if self.tasks is not None else ""
        return f"{self.script}{tasks}, written by harvester slurm"

    def submit_command(self) -> str:
        """The command that submits the array, its index job after it where the folder has
        that script (as ``--submit`` queues both: the array alone left index.csv unwritten,
        its tasks each naming the command)."""
        if self.index_script:
            from harvester.slurm import resume_line

            return resume_line(Path(self.script).parent)
        return f"sbatch {shell_quote(self.script)}"

    @property
    def array(self) -> tuple[int, int | None] | None:
        """:func:`harvester.slurm.script_array`, from what was read of the script."""
        return None if self.tasks is None else (self.tasks, self.parallel)

    def to_dict(self) -> dict[str, Any]:
        """``status --json``'s ``slurm``: what was read of the script and its logs, but what
        status keeps for itself (:data:`_NOT_IN_JSON`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_IN_JSON}


#: What :class:`SlurmStatus` holds for status alone: ``--json`` keeps the keys it had.
_NOT_IN_JSON = frozenset({"parallel", "log_files", "max_bytes", "job_name"})


@dataclass
class StatusReport:
    """The result of :func:`collect_status`; ``to_dict`` is the ``--json`` form."""

    out_dir: str
    selected: list[str]
    images: int = 0
    kinds: dict[str, KindStatus] = field(default_factory=dict)
    writers: list[WriterStatus] = field(default_factory=list)
    runs: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    invalid: int = 0
    #: Done files the store made hard links to another image's file (``paths`` of one
    #: fileset: their done records say ``"linked": true``), and their bytes: counted once,
    #: the bytes of the rows leave them out (they take no more disk).
    linked: int = 0
    linked_bytes: int = 0
    #: Files marked invalid (by verify, or the next run's check of an interrupted run's
    #: files: :func:`harvester.store.lost_files`) of images only a forgotten target set
    #: holds: no resume refetches them (not in ``invalid``); their set's targets given
    #: again do.
    invalid_forgotten: int = 0
    #: Files marked invalid of kinds their target set's newest run no longer asks for (a
    #: hint followed, ``render`` dropped), by kind: no resume refetches them (not in
    #: ``invalid``); the ``not_asked_commands`` do.
    invalid_not_asked: dict[str, int] = field(default_factory=dict)
    plan: PlanStatus | None = None
    plan_error: str | None = None  # DIR/plan exists but cannot be read: the journals still count
    #: The run settings given to the newest ``harvester plan`` of DIR (``--rate 3``), for
    #: the "next:" line of a folder no harvest has started in (:func:`harvester.plan.run_flags_in`).
    plan_run_flags: list[str] = field(default_factory=list)
    #: The config file given to that plan, absolute (:func:`harvester.plan.plan_config_file`),
    #: named by the same "next:" line as ``plan`` named it; None for none.
    plan_config: str | None = None
    #: A harvest run (not ``harvester plan``) has journaled its start in DIR.
    started: bool = True
    #: ``harvest.json`` exists (a folder ``harvester slurm`` prepared has none until a task starts).
    marker: bool = True
    slurm: SlurmStatus | None = None
    #: The plan counted when it is not ``DIR/plan`` (the job array's ``--from-plan``).
    plan_path: str | None = None
    #: Where ``selected`` came from when no run's saved config could be read: "journals".
    selected_from: str | None = None
    #: What is wrong with the folder itself (damaged marker, journals gone, no index.csv).
    notes: list[str] = field(default_factory=list)
    #: The ids of the images with at least one failed artifact, sorted (``--failed-ids``).
    failed_ids: list[int] = field(default_factory=list)
    #: image id -> the runs whose journals recorded its failed artifacts: their servers
    #: (:func:`harvester.config.failed_ids_each_server`) part ``--failed-ids`` of a folder
    #: of two servers. Not in ``--json``.
    failed_runs: dict[int, set[str]] = field(default_factory=dict, repr=False)
    #: DIR's order of runs (:func:`harvester.journal.run_orders`): which of an image's
    #: failing runs is the newest (never their run ids: those of one second sort by
    #: chance). Not in ``--json``.
    run_orders: dict[str, float] = field(default_factory=dict, repr=False)
    #: The run that journaled each of ``failures``, in their order: whose server failed
    #: it (``forget --gone-ids-from`` records an image gone per server). Not in ``--json``.
    failure_runs: list[str] = field(default_factory=list, repr=False)
    #: (kind, image id) -> the run of its latest failure (the journals' fold keeps that
    #: one) and the failures of other servers that the fold hides, still failed (not of an
    #: image recorded gone from their server), by server (:func:`_other_servers_failed`):
    #: each counted in the totals, and listed by ``--failed-ids --base-url`` of its server.
    #: Empty but in a folder of two servers. Not in ``--json``.
    other_servers_failed: dict[tuple[str, int], tuple[str, FailuresByServer]] = field(
        default_factory=dict, repr=False
    )
    #: The servers (as saved) of the failed images when two or more (:func:`failing_servers`):
    #: ``--failed-ids`` is then one server's at a time, each with ``--base-url``. Not in
    #: ``--json``.
    failed_servers: list[str] = field(default_factory=list, repr=False)
    #: A ``harvester plan`` journaled its start in DIR and no plan is there: one stopped
    #: (Ctrl-C, a server down) before it wrote its plan. Not in ``--json``.
    plan_stopped: bool = field(default=False, repr=False)
    #: A ``harvester plan`` journaled its start in DIR, no plan is there yet, and its
    #: ``plan.tmp-*`` folder says it may be writing one now: the hosts of such planners
    #: (:func:`harvester.plan.planners_running`). Not in ``--json``.
    plan_making: list[str] = field(default_factory=list, repr=False)
    #: DIR's saved configs as status read them, for a caller that asks more of them
    #: (``--failed-ids``: the failures' servers), rather than read them again. Not in ``--json``.
    saved_configs: SavedConfigs | None = field(default=None, repr=False, compare=False)
    #: The command that resumes DIR, when something is left to do
    #: (:func:`harvester.config.resume_command`).
    resume: str | None = None
    #: The label keys index.csv's ``label`` column is made of (given last; none: no column).
    label_keys: list[str] = field(default_factory=list)
    #: The pinned label ids (``DIR/label_ids.json``, :mod:`harvester.label_ids`): the file
    #: they came from and how many labels; None: not pinned.
    label_ids_pinned: dict[str, Any] | None = None
    #: The split recorded in ``DIR/split.json`` (:mod:`harvester.splits`): its spec, grouping
    #: and seed; None: no split column.
    split: dict[str, Any] | None = None
    #: What to do instead of a rerun for failures the server gives every time (the final
    #: report's "hint:" lines, :func:`harvester.fetch.failure_advice`).
    hints: list[str] = field(default_factory=list)
    #: False when every failure is one the hints say a rerun cannot fix (and none is pending).
    rerun_helps: bool = True
    #: Whether a live set's newest run sent a session (a query on its URL, a token, headers,
    #: cookies: :attr:`harvester.config.RecordedRun.sent_session`): its 403s may be that
    #: session's end. A ``user:password`` URL is no session: its 403s are the images' own.
    sent_session: bool = False
    #: The walks that did not list everything (their latest "walk" record, see
    #: :mod:`harvester.journal`): not finished, or with listings that failed for good. The
    #: images they did not list are in no journal, so ``pending`` cannot count them.
    walks: list[dict[str, Any]] = field(default_factory=list)
    #: The harvests running in DIR now (their run locks held: :func:`held_run_locks`).
    running: list[str] = field(default_factory=list)
    #: Whether a run may hold DIR unseen (:func:`harvester.runlock.others_may_hold`: a lock
    #: file on a filesystem without ``flock``, or one that cannot be read): then an
    #: unfinished walk may be running, and is not said to have stopped.
    locks_unknown: bool = False
    #: Of those, the ones that keep a progress line (:meth:`harvester.progress.Progress.publish`):
    #: ``{"running": <as in running>, "line": "progress (3h07m): ...", "age": seconds}``,
    #: with ``"run": ID`` when the file names its run (its walk is then marked running).
    running_progress: list[dict[str, Any]] = field(default_factory=list)
    #: The progress lines of runs that hold no lock (a filesystem without ``flock``: each
    #: keeps its own file, :func:`harvester.runlock.unlocked_progress`), as in
    #: ``running_progress`` (``running`` names the run): running, or killed; ``"stale":
    #: true`` when not refreshed for long (a live run refreshes it every minute): killed.
    unlocked_progress: list[dict[str, Any]] = field(default_factory=list)
    #: The jobs of ``DIR/harvest.sbatch`` in the queue, pending or running, every user's
    #: (:func:`harvester.slurm.script_queue`; empty without ``squeue``).
    queued: list[str] = field(default_factory=list)
    #: Job id -> owner of the ``queued`` jobs another user submitted (a shared folder):
    #: named beside them, as this user cannot cancel them (:attr:`Queue.owners`).
    queued_owners: dict[str, str] = field(default_factory=dict)
    #: Job id -> SLURM's reason (``%r``) for the ``queued`` jobs pending for one no wait
    #: resolves (a drained node, a partition down: :data:`harvester.slurm.STUCK_REASONS`).
    queued_reasons: dict[str, str] = field(default_factory=dict)
    #: Why the queue could not be asked here (:func:`harvester.slurm.script_queue`: no
    #: ``squeue``, no controller answering ``scontrol ping``), None when it answered or was
    #: not asked: the job array's tasks may then still be queued or running.
    queue_unknown: str | None = None
    #: The tasks K of DIR's job array the queue lists (pending or running), from the same
    #: listing as ``queued``: their task lines say so (a task waiting its turn read as one
    #: that never ran). Empty where the queue did not say.
    queued_tasks: set[int] = field(default_factory=set, repr=False)
    #: Those of ``queued_tasks`` SLURM runs now (:attr:`harvester.slurm.Queue.running`),
    #: each with the job it runs as (``4300``: its log is ``logs/harvest-4300_K.log``).
    running_tasks: dict[int, str] = field(default_factory=dict, repr=False)
    #: Whether status asked the queue (``queued``, ``queue_unknown`` say what it answered).
    queue_asked: bool = field(default=False, repr=False)
    #: The script whose array the plan's per-task lines count (``plan.tasks``) where it is
    #: not harvest.sbatch (a folder of several selections' scripts, the plan's
    #: ``--from-plan`` script another: :func:`harvester.array_scripts.plan_script`), with
    #: the tasks of it the queue lists and runs (as ``queued_tasks``, ``running_tasks``
    #: are harvest.sbatch's); None: harvest.sbatch's, as ever.
    plan_script: str | None = None
    plan_queued_tasks: set[int] = field(default_factory=set, repr=False)
    plan_running_tasks: dict[int, str] = field(default_factory=dict, repr=False)
    #: DIR's job-array scripts where it holds one per selection, two or more
    #: (:func:`harvester.array_scripts.array_scripts`); empty otherwise.
    array_scripts: list[ArrayScript] = field(default_factory=list)
    #: Where a split still has work (set with ``resume``): the shards its resume names.
    work_left: WorkLeft | None = field(default=None, repr=False)
    #: The job-array tasks with work left that ended without a word (:class:`SilentEnd`);
    #: looked for by ``harvester status`` only (``ask_queue``).
    silent_ends: list[SilentEnd] = field(default_factory=list)
    #: The job-array tasks with work left that their time limit cut short, though they
    #: said ``interrupted`` (:class:`TimeLimited`); looked for with ``silent_ends``.
    time_limited: list[TimeLimited] = field(default_factory=list)
    #: kind -> failures no resume asks for again (the newest run of each target set holding
    #: the image asks for other kinds, e.g. after following a hint to drop ``render``): not
    #: counted as ``failed``, not in ``failures`` or ``failed_ids``.
    not_asked: dict[str, int] = field(default_factory=dict)
    #: The command(s) that try the ``not_asked`` failures again without narrowing what DIR
    #: fetches (:func:`_not_asked_commands`): one, or one per target set holding them. In
    #: ``--json``, under ``not_asked_held`` instead while DIR's job array or a harvest holds
    #: DIR (:meth:`_held_by`): to run once it has ended, not now.
    not_asked_commands: list[str] = field(default_factory=list)
    #: The targets of each set ``harvester forget`` took out of DIR's resumes (as flags):
    #: not resumed, and their images' failures, pending kinds and walks not counted.
    forgotten: list[str] = field(default_factory=list)
    #: Each of ``forgotten``'s server (as saved, credentials redacted): ``--json``'s
    #: ``forgotten_servers``, which tells two sets of one name (one per server) apart.
    forgotten_servers: list[str] = field(default_factory=list, repr=False)
    #: Whether the text names each of ``forgotten``'s server (:func:`_forgotten_servers`).
    forgotten_named: list[bool] = field(default_factory=list, repr=False)
    #: ``harvester forget DIR --from-plan PLAN`` for a plan whose every image asked for
    #: answered 404, none done (:func:`_gone_plan_command`); None: not so.
    forget_gone: str | None = None
    #: The hint naming ``status --failed-ids | forget --gone-ids-from -`` for failed images
    #: not there (:func:`_gone_images_hint`); None: none, or ``forget_gone`` is said.
    forget_gone_ids: str | None = None
    #: The ids of DIR's images ``harvester forget --gone-ids-from`` recorded as gone from
    #: the server (:mod:`harvester.gone`): not asked for, their failures and pending kinds
    #: not counted, not in ``failed_ids``.
    gone_ids: list[int] = field(default_factory=list)
    #: Of ``gone_ids``, those this folder treats as gone (:func:`_gone_here`): not asked
    #: for, their failures not counted. The others are ids recorded gone from one server
    #: whose other server's image of that id is still asked for (its failure the latest).
    #: Why apart: the line "N images gone ... failures not counted" (and ``harvester
    #: index``'s explanation of a short index) counted those too.
    gone_here: list[int] = field(default_factory=list)
    #: The planes in ``DIR/staging`` of stacks not finished (a run interrupted or failed
    #: mid-stack): ``{"stacks": N, "planes": N, "bytes": N}``, kept for the rerun; None: none.
    #: With ``"assembly_bytes": N`` too when a process killed while assembling a stack left
    #: its half-written file (counted in ``bytes``; removed when the rerun resumes that stack).
    staged: dict[str, int] | None = None

    # done, failed, pending and bytes add up every row, study objects too: what is left to
    # do; `files` and `study` keep the two apart, for what status shows (_kind_rows).
    @property
    def done(self) -> int:
        return sum(k.done for k in self.kinds.values())

    @property
    def failed(self) -> int:
        return sum(k.failed for k in self.kinds.values())

    @property
    def pending(self) -> int:
        return sum(k.pending for k in self.kinds.values())

    @property
    def bytes(self) -> int:
        return sum(k.bytes for k in self.kinds.values())

    @property
    def files(self) -> KindStatus:
        """The artifact rows added up: files (the ``total`` row, ``totals`` in ``--json``)."""
        return _summed(k for name, k in self.kinds.items() if name not in STUDY_KINDS)

    @property
    def study(self) -> KindStatus:
        """The study rows added up: objects (plates, screens ...), not files."""
        return _summed(k for name, k in self.kinds.items() if name in STUDY_KINDS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``status --json`` prints).

        ``plan`` only with a plan (``plan_path`` when it is not ``DIR/plan``), ``slurm`` only
        with a ``harvest.sbatch`` of ``harvester slurm`` (``array_tasks``: its tasks' shares
        of the plan, with both; ``queued``: its jobs in the queue, if any;
        ``ended_without_summary``: its tasks killed without a word, :class:`SilentEnd`);
        ``started`` always. ``not_asked_commands`` only when they may run now (else
        ``not_asked_held``: ``by`` what holds DIR, :meth:`_held_by`, and the ``commands`` for
        after it). ``commands_unguarded`` (true, else absent) where a run of
        ``unlocked_progress`` may still go and no lock refuses the commands given (the
        resume, ``not_asked_commands``, ``forget_gone``): wait for those runs to end. Keys
        are only ever added: scripts read this.
        """
        data: dict[str, Any] = {
            "out_dir": self.out_dir,
            "selected": self.selected,
            "images": self.images,
            # Files: the study rows count objects (added in "study", only where there are
            # some); bytes are every row's, study/ included.
            "totals": {
                "done": self.files.done,
                "failed": self.files.failed,
                "pending": self.files.pending,
                "bytes": self.bytes,
                "invalid": self.invalid,
            },
            "kinds": {name: asdict(k) for name, k in sorted(self.kinds.items())},
            "writers": [asdict(w) for w in self.writers],
            "runs": self.runs,
            "failures": self.failures,
            "failed_ids": self.failed_ids,
            "label_keys": self.label_keys,
        }
        if self.linked:  # (only in a folder with hard links, as the pin)
            data["totals"]["linked"] = self.linked
            data["totals"]["linked_bytes"] = self.linked_bytes
        if self.label_ids_pinned is not None:  # (a folder without a pin keeps its shape)
            data["label_ids_pinned"] = self.label_ids_pinned
        if self.split is not None:  # (only in a folder with a split, as the pin)
            data["split"] = self.split
        if self.plan is not None:
            data["plan"] = asdict(self.plan)
            if tasks := data["plan"].pop("tasks"):  # (under "plan" would change its shape)
                data["array_tasks"] = tasks
            if not data["plan"]["gone"]:  # (only where some are: its shape kept, as above)
                del data["plan"]["gone"]
        if self.queued:
            data["queued"] = self.queued
        if self.queued_owners:
            data["queued_owners"] = self.queued_owners
        if self.queued_reasons:
            data["queued_reasons"] = self.queued_reasons
        if self.running_tasks and not self.started:  # (running, none journaled yet)
            data["running_tasks"] = sorted(self.running_tasks)
        if self.queue_unknown is not None:
            data["queue_unknown"] = self.queue_unknown
        if self.staged is not None:
            data["staged"] = self.staged
        if self.silent_ends:
            data["ended_without_summary"] = _ends_json(self.silent_ends)
        if self.time_limited:
            data["time_limited"] = _ends_json(self.time_limited)
        if self.plan_error is not None:
            data["plan_error"] = self.plan_error
        if self.plan_path is not None:
            data["plan_path"] = self.plan_path
        data["started"] = self.started
        if self.selected_from is not None:
            data["selected_from"] = self.selected_from
        if self.notes:
            data["notes"] = self.notes
        if self.slurm is not None:
            data["slurm"] = self.slurm.to_dict()
        if self.array_scripts:
            data["array_scripts"] = [asdict(script) for script in self.array_scripts]
        if self.resume is not None:
            data["resume"] = self.resume
        if self.hints:
            data["hints"] = self.hints
        if self.walks:
            data["walks"] = self.walks
        if self.running:
            data["running"] = self.running
        if self.running_progress:
            data["running_progress"] = self.running_progress
        if self.unlocked_progress:
            data["unlocked_progress"] = self.unlocked_progress
        if self._commands_unguarded():
            # (the note the human status says: a script ran "resume" beside the runs it lists)
            data["commands_unguarded"] = True
        if self.not_asked:
            data["not_asked"] = self.not_asked
        if self.not_asked_commands and (held_by := self._held_by()) is not None:
            # Not under "not_asked_commands": a script running those started them beside
            # the array (or harvest) still holding DIR, a second array queued or refused.
            data["not_asked_held"] = {"by": held_by, "commands": self.not_asked_commands}
        elif self.not_asked_commands:
            data["not_asked_commands"] = self.not_asked_commands
        if self.forgotten:
            data["forgotten"] = self.forgotten
            data["forgotten_servers"] = self.forgotten_servers
        if self.forget_gone is not None:
            data["forget_gone"] = self.forget_gone
        if self.forget_gone_ids is not None:
            data["forget_gone_ids"] = self.forget_gone_ids
        if self.gone_ids:
            data["gone_ids"] = self.gone_ids
            data["gone_here"] = self.gone_here
            data["gone_undo"] = gone_undo_command(Path(self.out_dir))
        if self.invalid_forgotten:
            data["totals"]["invalid_forgotten"] = self.invalid_forgotten
        if self.invalid_not_asked:
            data["invalid_not_asked"] = self.invalid_not_asked
        if any(name in STUDY_KINDS for name in self.kinds):
            study = self.study
            data["totals"]["study"] = {"done": study.done, "failed": study.failed}
        return data

    def _gone_lines(self) -> list[str]:
        """The images ``harvester forget --gone-ids-from`` recorded gone: those this
        folder asks for no more, counted apart from ids recorded gone from one server whose
        other server's image is still asked for (one line each, the undo on the last)."""
        if not self.gone_ids:
            return []
        undo = gone_undo_command(Path(self.out_dir))
        here, others = len(self.gone_here), len(self.gone_ids) - len(self.gone_here)
        lines = []
        if here:
            again = f"; to ask for them again: {undo}" if not others else ""
            lines.append(
                f"{plural(here, 'image')} gone from the server, forgotten by harvester forget "
                f"(not asked for, failures not counted{again})"
            )
        if others:
            lines.append(
                f"{plural(others, 'id')} recorded gone from one server by harvester forget "
                f"{agree(others, 'names', 'name')} another server's image here too, still asked "
                f"for (its failures counted; to take the records back: {undo})"
            )
        return lines

    def _invalid_not_asked_lines(self) -> list[str]:
        """The files marked invalid that no resume refetches, their kinds being asked no
        more, with the command(s) that do (those of the failures of such kinds, when there
        are some: the same commands, said below them)."""
        counts = ", ".join(f"{k} {n}" for k, n in sorted(self.invalid_not_asked.items()))
        said = (
            f"{plural(sum(self.invalid_not_asked.values()), 'file')} marked invalid (by verify or "
            "the next run's check of an interrupted run) of kinds not asked for any more: "
            f"{counts} "
            "(the newest run of their targets asks for other kinds; not refetched by a resume)"
        )
        commands = self.not_asked_commands
        if commands and self._held_by() is not None:
            return [f"{said}; to refetch them: {self._once_free()}"]
        if self.not_asked or not commands:
            below = "the command below" if len(commands) == 1 else "the commands below"
            return [f"{said}; to refetch them: {below}"] if commands else [said]
        if len(commands) == 1:
            return [f"{said}; to refetch them: {commands[0]}"]
        return [f"{said}; to refetch them, one command per target set holding them:"] + [
            f"  {command}" for command in commands
        ]

    def _held_by(self) -> str | None:
        """What holds DIR now, so that the advice for after it (a new script, a command that
        tries dropped kinds again) waits for its end: ``"job_array"`` (``squeue`` lists
        tasks of DIR's script), ``"running_harvests"`` (a run lock held, the queue listing
        none: a harvest started by hand, or SLURM's answer not to be had; in a plain folder,
        any harvest running there), ``"running_command"`` (the lock held by a command that
        harvests nothing, ``harvester forget``: "running_harvests" named harvests that no
        run was), or None.

        Why: the ``harvester slurm ... --submit`` that tries dropped kinds again was said
        while the array's tasks still ran, as if it were over. A harvest holding a lock
        holds the advice back too (the new array's task of its shard, or every task beside
        a harvest of the whole set, would be refused), but it was called the job array's
        task, and "once no task of the job array is queued or running" read as a go while
        that harvest still ran, the queue empty. A plain folder's harvest holds them back
        alike: its run lock refuses the ``harvester harvest --out DIR ...`` they are (exit
        75), which status offered, and ``--json`` listed as to run now."""
        if self.queued:  # (only ever listed for a job array's script)
            return "job_array"
        if not self.running:
            return None
        return "running_harvests" if self._harvest_holds() else "running_command"

    def _harvest_holds(self) -> bool:
        """Whether a harvest is among what holds DIR's run locks now, not only a command
        that harvests nothing (:func:`harvester.runlock.is_harvest_holder`)."""
        return any(runlock.is_harvest_holder(text) for text in self.running)

    def _running_ended(self, harvests: str, named: str) -> str:
        """``harvests`` (the words for the end of the harvests holding DIR), or where what
        holds it is no harvest (``harvester forget``), the words for that command's end,
        ``named`` where its ``running now:`` line is (``below``, ``above``).
        Why: "once the harvests running now have ended" while only forget held DIR named
        harvests that no run was, and ``running now:`` below named forget."""
        if self._harvest_holds():
            return harvests
        return f"the command holding the folder now (named {named}: it harvests nothing) has ended"

    def _queue_unknown_note(self) -> str:
        """The note of a job array's folder where the SLURM queue cannot be asked: its
        tasks may still run, so neither a resume nor a new script is safe to send yet."""
        return (
            f"note: the SLURM queue cannot be asked here ({self.queue_unknown}): tasks of "
            "the job array may still be queued or running, another user's too; check with "
            f"{self._queue_command()} where SLURM answers before resuming"
        )

    def _stuck_words(self) -> str:
        """``, pending: PartitionDown (...)`` for queued jobs SLURM holds back for a reason
        that waiting does not resolve (:attr:`queued_reasons`); "" for none. Why: "in the
        queue now" alone read as "wait" for an array that would never start."""
        stuck = [job for job in self.queued if job in self.queued_reasons]
        if not stuck:
            return ""
        if len(self.queued) == 1:
            why = self.queued_reasons[stuck[0]]
        else:
            why = "; ".join(f"job {job}: {self.queued_reasons[job]}" for job in stuck)
        return (
            f", pending: {why} (SLURM's reason: it will not start until that is fixed; "
            f"scontrol show job {stuck[0]} says more)"
        )

    def _queue_command(self) -> str:
        """The ``squeue`` that shows every user's tasks of DIR's script (its job name)."""
        from harvester.slurm import queue_command

        return queue_command(self.slurm.job_name if self.slurm is not None else None)

    def _once_free(self) -> str:
        """What :meth:`_held_by` says instead of the command(s) (its words, for the dropped
        kinds' line and the invalid files' line alike): status gives them once what holds
        DIR has ended, named as it is (the job array, or the harvests running in DIR, which
        may be the array's tasks where the queue cannot be asked)."""
        q = shell_quote(self.out_dir)
        what = (
            "the command"
            if len(self.not_asked_commands) == 1
            else "the commands (one per target set holding them)"
        )
        until = "no task of the job array is queued or running"
        if self._held_by() != "job_array":
            until = self._running_ended(
                "the harvests running now (named below) have ended", "below"
            )
        if self._held_by() != "job_array" and self.queue_unknown is not None:
            # (they may be its tasks, with more of them queued)
            until += " and no task of the job array is queued (the SLURM queue cannot be asked)"
        return f"harvester status {q} gives {what} once {until}"

    def to_text(self) -> str:
        """Alias of :meth:`format_text` (the CLI looks for ``to_text``)."""
        return self.format_text()

    def format_text(self) -> str:
        """Human-readable table (what ``status`` prints)."""
        lines = [f"{self.out_dir}: {self._images_counted()}, artifacts {','.join(self.selected)}"]
        if self.selected_from == "journals":
            lines[0] += " (as journaled: no run's saved config can be read)"
        if self.label_keys:
            keys = ", ".join(quoted(k) for k in self.label_keys)
            lines.append(f"label keys (index.csv's label column): {keys}")
        if self.label_ids_pinned is not None:
            pin = self.label_ids_pinned
            lines.append(
                f"label ids pinned ({LABEL_IDS_FILE}): {plural(pin['labels'], 'label')} "
                f"from {pin['from'] or 'a file not named'}"
            )
        if self.split is not None:
            split = self.split
            lines.append(
                f"split (index.csv's split column, {SPLIT_FILE}): {split['split']} "
                f"{asked_grouping(str(split['split_by']))}, seed {split['split_seed']}"
            )
        lines += [f"note: {n}" for n in self.notes]
        if not self.started:
            lines += self._not_started_lines()
        if self.plan is not None:
            p = self.plan
            # "reached" includes "complete": the complete ones are named as a part of the
            # reached, so that reached + not reached adds up to the plan's images.
            where = f" {self.plan_path}" if self.plan_path is not None else ""
            lines.append(
                f"plan{where}: {plural(p.images, 'image')} ({','.join(p.artifacts)}): "
                f"{p.reached} reached ({p.complete} of them complete"
                f"{f', {p.gone} of those gone from the server' if p.gone else ''}), "
                f"{p.images - p.reached} not reached yet; "
                f"artifacts {p.done} done, {p.failed} failed, {p.pending} pending"
            )
            lines += self._task_lines()
        if self.plan_error is not None:
            lines.append(
                f"plan: cannot be read ({self.plan_error}); counts below are the journals'"
            )
        if (
            not self.started
            and self.plan is None
            and not any(k.done or k.failed for k in self.kinds.values())
        ):
            # Nothing walked, nothing planned: a table of zeros would read as "nothing to do".
            # (A queued array named first: returned before the line below, a prepared
            # folder's held or pending array, a colleague's too, went unsaid.)
            lines += self._queued_lines()
            lines += self._array_scripts_lines()
            runs = "a task" if self.slurm is not None else "a harvest"
            lines.append(f"counts appear once {runs} has journaled the images it walked")
            return "\n".join(lines)
        lines += self._kind_rows()
        if self.staged is not None:
            staging = Path(self.out_dir) / STAGING_DIR
            staged = self.staged
            lines.append(
                staged_text(
                    staged["stacks"],
                    staged["planes"],
                    staged["bytes"],
                    staged.get("assembly_bytes", 0),
                    staging=staging,
                    running=bool(self.running or self.unlocked_progress),
                )
            )
        if self.invalid:
            lines.append(
                f"{plural(self.invalid, 'file')} marked invalid (by verify or the next run's "
                "check of an interrupted run), awaiting refetch by harvest"
            )
        if self.invalid_forgotten:
            lines.append(
                f"{plural(self.invalid_forgotten, 'file')} of forgotten target sets marked "
                "invalid (by verify or the next run's check of an interrupted run; not "
                "refetched: a resume leaves their sets out; their targets given again take them "
                "back)"
            )
        if self.invalid_not_asked:
            lines += self._invalid_not_asked_lines()
        dropped = {k: self.not_asked[k] for k in sorted(self.not_asked)}
        if dropped:
            counts = ", ".join(f"{kind} {n}" for kind, n in dropped.items())
            commands = self.not_asked_commands
            said = (
                f"failed before, not asked for any more: {counts} (the newest run of their "
                "targets asks for other kinds); to try them again"
            )
            # Several: a line each. A command's note is a shell comment, which ends only with
            # its line: joined by "; ", the next command stood inside it, unrun when pasted.
            if self._held_by() is not None:
                lines.append(f"{said}: {self._once_free()}")
            elif len(commands) == 1:
                lines.append(f"{said}: {commands[0]}")
            else:
                each = ", one command per target set holding them" if len(commands) > 1 else ""
                lines += [f"{said}{each}:", *(f"  {command}" for command in commands)]
        if len(self.writers) > MAX_WRITER_LINES:
            lines.append(
                f"writers (the newest {MAX_WRITER_LINES} of {len(self.writers)}; all: harvester "
                f"status {shell_quote(self.out_dir)} --json):"
            )
            lines += [w.text() for w in self.writers[-MAX_WRITER_LINES:]]
        elif self.writers:
            lines.append("writers:")
            lines += [w.text() for w in self.writers]
        if self.failures:
            samples = self.failures[:MAX_FAILURE_SAMPLES]
            if len(samples) < len(self.failures):
                from harvester.config import failed_ids_listing

                q = shell_quote(self.out_dir)
                lines.append(
                    f"failures (first {len(samples)} of {len(self.failures)}; all: harvester "
                    f"status {q} --json, their image ids"
                    f"{failed_ids_listing(Path(self.out_dir), self.failed_servers)}):"
                )
            else:
                lines.append("failures:")
            for f in samples:
                # As the harvest's summary words it: the status leads only where it says
                # something (a 2xx whose body was wrong is the reason alone).
                reason = _journaled_reason(f)
                # The URL in <...> as the harvest's summary shows it: a render URL holds
                # "|" and "$", and the brackets say where it ends (RFC 3986, appendix C).
                url = f" <{shown_url(str(f['url']))}>" if f.get("url") else ""
                lines.append(f"  {shown(f['kind'])} {shown(f['id'])}: {reason}{url}")
        lines += self._walk_lines()
        if self.forgotten:
            q = shell_quote(self.out_dir)
            # (a set of another server than DIR's: its targets alone asked DIR's server, which
            # refused ids it does not have)
            servers = [
                server if said else ""
                for server, said in zip(self.forgotten_servers, self.forgotten_named, strict=True)
            ] or [""] * len(self.forgotten)
            named = [
                f"{targets} (of {server})" if server else targets
                for targets, server in zip(self.forgotten, servers, strict=True)
            ]
            other = (
                ", with --base-url and the server named for one of another server"
                if any(servers)
                else ""
            )
            lines.append(
                f"forgotten (`harvester forget`: not resumed, failed and pending not counted): "
                f"{'; '.join(named)}; to take one back, give its targets to "
                f"harvester harvest --out {q}{other}"
            )
        lines += self._gone_lines()
        lines += self._silent_lines()
        lines += self._time_limit_lines()
        if self.running:
            lines.append(f"running now: {_first_named(self.running, counted=True)}")
            lines += self._running_progress_lines()
        lines += self._unlocked_progress_lines()
        lines += self._queued_lines()
        lines += self._array_scripts_lines()
        lines += [f"hint: {hint}" for hint in self.hints]
        if self.forget_gone_ids is not None:  # (above the note the resume line answers)
            lines.append(f"hint: {self.forget_gone_ids}")
        lines += self._refused_lines()
        if (
            self.resume is not None
            and not self.rerun_helps
            and not self.pending
            and not self.walks
            # (said once the array has ended: its tasks first; a plain folder's, waiting below)
            and (self.slurm is None or self._held_by() is None)
        ):
            # Every failure is one the hints say a rerun cannot fix: no "to resume" promise.
            from harvester.fetch import no_rerun_line  # only a folder with such failures

            # (a job array's resubmission: the hints' flags go to harvester slurm instead)
            slurm = self.slurm if self.slurm is not None and self.slurm.resubmit_resumes() else None
            plan = None
            if slurm is not None and slurm.from_plan is not None and slurm.tasks is not None:
                plan = (slurm.from_plan, slurm.tasks)  # (named in its harvester slurm command)
            if self.slurm is not None and self.queue_unknown is not None:
                # (its tasks may still run: the note the resume lines below get, said here too)
                lines.append(self._queue_unknown_note())
            # (a plain folder's harvest holding DIR: its lock refuses the resume until then)
            until = None
            if self._held_by() is not None:
                until = self._running_ended("the running harvests have ended", "above")
            lines.append(
                no_rerun_line(
                    len(self.hints), self.resume, self.out_dir if slurm else None, plan, until=until
                )
            )
        elif self.resume is not None and (
            self.queued or any(script.state == "queued" for script in self.array_scripts)
        ):
            # Its tasks still to start do the work left: resubmitted now, twice queued. Before
            # the running harvests' line: those are mostly the array's own tasks, and "once
            # the running harvests have ended" read as a go once they had, its next tasks
            # still waiting in the queue.
            lines.append(f"to resume, once the queued job array has ended: {self.resume}")
        elif self.resume is not None and self.running:
            # Resubmitted now, the running shards' tasks would be refused by their locks.
            lines += self._running_resume_lines()
        elif self.resume is not None and self.queue_unknown is not None:
            # No queue to ask: a plain "to resume" read as "nothing runs", and a resubmit
            # while tasks still ran would have them refused by their locks, or queued twice.
            lines.append(self._queue_unknown_note())
            lines.append(f"to resume, once no task of the job array is running: {self.resume}")
        elif self.resume is not None:
            lines.append(f"to resume: {self.resume}")
        if self.forget_gone is not None:
            lines.append(f"{GONE_FOR_GOOD}: {self.forget_gone}")
        return "\n".join(lines)

    def _running_resume_lines(self) -> list[str]:
        """The resume line while harvests hold DIR, after the note that the SLURM queue
        cannot be asked where it cannot: the note was never said beside a lock held (the
        running harvests' line came first), and "once the running harvests have ended"
        read as a go with tasks of the array perhaps still queued. One idea a line."""
        until = self._running_ended("the running harvests have ended", "above")
        if self.queue_unknown is None:
            return [f"to resume, once {until}: {self.resume}"]
        return [
            self._queue_unknown_note(),
            f"to resume, once {until} and no task of the job array is queued: {self.resume}",
        ]

    def _kind_rows(self) -> list[str]:
        """The table of counts per kind, then the total. A study kind's row counts objects
        (``plates (study)``: one a plate, for all of its files in ``study/``), and a line
        under the table says so: labelled ``plate`` it read as a count of files, beside
        rows that are. The total counts files, the study rows' bytes alone added in: it
        added 10 plates to 80 thumbnails as "90 done"."""
        rows = [(_row_label(name), k) for name, k in sorted(self.kinds.items())]
        width = max([12, *(len(label) + 2 for label, _k in rows)])
        lines = [f"{'kind':<{width}}{'done':>10}{'failed':>10}{'pending':>10}{'bytes':>16}"]
        for label, k in rows:
            lines.append(f"{label:<{width}}{k.done:>10}{k.failed:>10}{k.pending:>10}{k.bytes:>16,}")
        files = self.files
        lines.append(
            f"{'total':<{width}}{files.done:>10}{files.failed:>10}{files.pending:>10}"
            f"{self.bytes:>16,}"
        )
        if self.linked:
            from harvester.progress import human_bytes  # (no tqdm: see staged_text)
            from harvester.samefiles import linked_files_text

            lines.append(
                f"{linked_files_text(self.linked)} "
                "(one fileset's list, one file on disk): the bytes count each file once; "
                f"counted by every name (du -l, ls -l), {human_bytes(self.linked_bytes)} more"
            )
        study = [f"{name}s" for name in sorted(self.kinds) if name in STUDY_KINDS]
        if study:
            named = and_list(study)
            # (it said "(study) rows count the plates and screens saved in study/, one per
            # object, not per file; the total and the writers leave them out of their
            # counts, not of their bytes": a note users read twice and still asked about)
            lines.append(
                f"rows marked {STUDY_ROW} count {named}, not files (they are saved in study/);"
                ' the "total" row and each writer\'s "done" count only files, but their bytes'
                " include study/ too"
            )
        return lines

    def _running_progress_lines(self) -> list[str]:
        """The latest progress line of each running harvest (the first
        :data:`MAX_TASK_LINES`), with its age: its rate of work, time left and any pause
        for a server down, which its log alone said."""
        samples = self.running_progress[:MAX_TASK_LINES]
        several = len(self.running) > 1
        lines = []
        for live in samples:
            who = f"{live['running']}: " if several else ""
            age = duration_text(live["age"], tenths=False)
            lines.append(f"  {who}latest progress line, {age} ago: {live['line']}")
        if len(self.running_progress) > len(samples):
            lines.append(f"  ... and {len(self.running_progress) - len(samples)} more (--json)")
        return lines

    def _unlocked_progress_lines(self) -> list[str]:
        """The progress lines of runs holding no lock (no ``flock`` here), each named: such
        a run is running, or was killed (only a run that ends removes its file). A live one
        refreshes its file every minute, so one not refreshed for long is said stopped
        (``stale``), apart: it was shown as running, its age growing, until removed by hand.
        They were not shown at all before (no lock showed held)."""
        fresh = [live for live in self.unlocked_progress if not live.get("stale")]
        stale = [live for live in self.unlocked_progress if live.get("stale")]
        lines = []
        if fresh:
            lines.append(
                "running now, or stopped (no lock on this filesystem tells): "
                + _first_named([live["running"] for live in fresh], counted=True)
            )
            for live in fresh[:MAX_TASK_LINES]:
                age = duration_text(live["age"], tenths=False)
                # The age is the file's last refresh (a minute at most on a live run), not
                # the line's: said as the run seen alive, so an hour-old line is not taken
                # for a fresh one.
                lines.append(
                    f"  {live['running']}: seen running {age} ago; latest progress line: "
                    f"{live['line']}"
                )
            if len(fresh) > MAX_TASK_LINES:
                lines.append(f"  ... and {len(fresh) - MAX_TASK_LINES} more (--json)")
            if self._commands_unguarded():
                lines.append(UNGUARDED_NOTE)
        if stale:
            after = duration_text(runlock.UNLOCKED_STALE_AFTER, tenths=False)
            lines.append(
                f"stopped without ending (no update for over {after}; the next run here "
                "removes its line): " + _first_named([live["running"] for live in stale])
            )
            for live in stale[:MAX_TASK_LINES]:
                age = duration_text(live["age"], tenths=False)
                lines.append(f"  {live['running']}: stopped (no update for {age}): {live['line']}")
            if len(stale) > MAX_TASK_LINES:
                lines.append(f"  ... and {len(stale) - MAX_TASK_LINES} more (--json)")
        return lines

    def _commands_unguarded(self) -> bool:
        """Whether a command this status gives would run beside a run that may still go,
        no lock refusing it (:data:`UNGUARDED_NOTE`; ``commands_unguarded`` in ``--json``):
        a run of this folder holding no lock (no ``flock`` here) not said stopped."""
        fresh = any(not live.get("stale") for live in self.unlocked_progress)
        return fresh and self._offers_commands()

    def _offers_commands(self) -> bool:
        """Whether status gives a command that takes DIR's run lock (a resume, a harvest of
        kinds not asked for any more, ``harvester forget``), for :data:`UNGUARDED_NOTE`."""
        return bool(self.resume or self.not_asked_commands or self.forget_gone)

    def _refused_lines(self) -> list[str]:
        """The harvest summary's note when every failure was refused (a 4xx a rerun gets
        again) and no hint covers them: ``status`` said "to resume" alone, which read as if
        resuming would fetch them. Not beside a walk that did not list everything (as the
        summary's ``_refused_for_good``): a rerun lists what it did not, and the note, read
        after that walk's busy listings, called them refused too."""
        if not self.rerun_helps or not self.failures or self.walks:
            return []
        from harvester.fetch import (  # only a folder with failures
            REFUSED_NOTE,
            SESSION_ENDED_NOTE,
            all_refused,
        )

        if not all_refused(self.failures):
            return []
        # As the harvest's summary says it: a 403 of a run that sent a session is as likely
        # that session ending as an id that is not public.
        ended = self.sent_session and any(f.get("status") == 403 for f in self.failures)
        return [f"note: {SESSION_ENDED_NOTE if ended else REFUSED_NOTE}"]

    def _images_counted(self) -> str:
        """The first line's count: ``24 images journaled``, or with a plan ``24 of the plan's
        384 images journaled`` (``30 images journaled, 22 of the plan's 384 images`` when
        runs of other targets add some). Why: "24 images known" above "plan: 384 images"
        read as a contradiction; the one counts what runs have journaled, the other the
        plan. So did "16 images known" below an interrupted harvest's "images 32" (what its
        walk found, most of them not begun): each line now says what it counts."""
        if self.plan is None:
            return f"{plural(self.images, 'image')} journaled"
        planned = plural(self.plan.images, "image")
        if self.images == self.plan.reached:
            return f"{self.images} of the plan's {planned} journaled"
        return (
            f"{plural(self.images, 'image')} journaled, {self.plan.reached} of the plan's {planned}"
        )

    def _silent_lines(self) -> list[str]:
        """A line per task that ended without a word (the first :data:`MAX_TASK_LINES`):
        the job to ask ``sacct`` about, and that the resume line redoes it."""
        ends = self.silent_ends
        if not ends:
            return []
        lines = []
        for end in ends[:MAX_TASK_LINES]:
            squeue = f"squeue -j {end.job.partition('_')[0]}"
            if end.killed is None:  # the queue did not answer: running or not is unknown
                tell = (
                    f"{squeue} and {end.see[0]} tell"
                    if end.no_sacct is None and end.see
                    else f"{squeue} tells where SLURM answers; its log: {end.log} ({end.no_sacct})"
                )
                named = _task_named(end.task, end.job, end.script)
                lines.append(
                    f"{named}: no summary in its log, and the queue "
                    f"cannot be asked here ({end.queue_error}): still running on another "
                    f"node, or killed (out of memory, kill -9 or node failure?); {tell}"
                )
                continue
            if end.out_of_memory:
                why = "killed: out of memory, as SLURM's line in its log says"
            elif end.cancelled is not None:  # (scancel --batch --signal=KILL, on 22.05)
                why = f"cancelled ({end.cancelled}), as SLURM's line in its log says"
            else:
                why = "killed: out of memory, kill -9 or node failure?"
            lines.append(
                f"{_task_named(end.task, end.job, end.script)}: ended without its summary ({why}); "
                f"see {_what_tells(end)}{_slurm_state_text(end)}"
            )
        if len(ends) > MAX_TASK_LINES:
            lines.append(f"  ... and {len(ends) - MAX_TASK_LINES} more tasks (--json)")
        if self.resume is not None and any(e.killed for e in ends):
            script = self._scripts_of(e for e in ends if e.killed)
            them = "them" if sum(1 for e in ends if e.killed) > 1 else "it"
            when = (
                "if sacct says OUT_OF_MEMORY"
                if ends[0].no_sacct is None
                else "after an out-of-memory kill"
            )
            # A task SLURM says it cancelled was not out of memory: no --mem advice for it.
            memory = (
                f"; {when}, raise #SBATCH --mem in {script} first"
                if any(e.killed and e.cancelled is None for e in ends)
                else ""
            )
            lines.append(f"  the resume line below runs {them} again{memory}")
            # The same time limit would cancel the resubmitted task again at the same point.
            if any(e.killed and e.cancelled == "time limit" for e in ends):
                lines.append(
                    f"  a time limit may cancel {them} again: raise #SBATCH --time in {script},"
                    " or run more tasks (--tasks N) so each does less"
                )
        return lines

    def _scripts_of(self, ends: Iterable[SilentEnd | TimeLimited]) -> str:
        """The scripts whose arrays ``ends`` are of, quoted, for advice to edit them."""
        main = self.slurm.script if self.slurm is not None else "the script"
        scripts = dict.fromkeys(end.script or main for end in ends)
        return and_list([shell_quote(script) for script in scripts])

    def _time_limit_lines(self) -> list[str]:
        """A line per task its time limit cut short though it said ``interrupted`` (the
        first :data:`MAX_TASK_LINES`), and the advice against the next one: its log's
        ``interrupted`` line gives a resubmission that would meet the same limit."""
        timed = self.time_limited
        if not timed:
            return []
        lines = [
            f"{_task_named(t.task, t.job, t.script)}: cancelled (time limit), as SLURM's line "
            f"in its log says (log: {shell_quote(t.log)})"
            for t in timed[:MAX_TASK_LINES]
        ]
        if len(timed) > MAX_TASK_LINES:
            lines.append(f"  ... and {len(timed) - MAX_TASK_LINES} more tasks (--json)")
        if any(e.killed and e.cancelled == "time limit" for e in self.silent_ends):
            return lines  # (the advice is under the silent tasks' lines already)
        script = self._scripts_of(timed)
        them = "them" if len(timed) > 1 else "it"
        lines.append(
            f"  a time limit may cancel {them} again: raise #SBATCH --time in {script},"
            " or run more tasks (--tasks N) so each does less"
        )
        return lines

    def _walk_lines(self) -> list[str]:
        """The walks that did not list everything, and why the counts are short of them.

        Unfinished walks of one target set are one line, however many shards (a job array
        of 100 tasks still walking is one line, not 100).
        """
        lines: list[str] = []
        unfinished: dict[str, list[dict[str, Any]]] = {}
        unwalked: dict[str, list[str]] = {}
        for walk in self.walks:
            if walk.get("started") is False:
                unwalked.setdefault(walk["targets"], []).append(str(walk["shard"]))
            elif not walk.get("finished"):
                unfinished.setdefault(walk["targets"], []).append(walk)
        for targets, shards in unwalked.items():
            what = _walk_of(targets)
            lines.append(
                f"{what}: {plural(len(shards), 'shard')} of its split never walked "
                f"({_first_named(shards)}): "
                "not run yet, or stopped before walking; their images are not counted above"
            )
        for targets, walks in unfinished.items():
            shards = [str(w["shard"]) for w in walks if w.get("shard")]
            what = _walk_of(targets, run_named=not shards)
            if shards:
                where = f"in {plural(len(shards), 'shard')} ({_first_named(shards)})"
            else:
                where = f"(run {walks[0].get('run')})"
            # No harvest holds DIR: the walk stopped (a shard's task may run on another
            # node, whose lock a filesystem may not show, and without flock no lock shows:
            # both keep both words). Its run holds a lock now: it runs.
            maybe = self.running or shards or self.locks_unknown
            if all(w.get("running") for w in walks):
                state = "still running"
            else:
                state = "still running, or stopped" if maybe else "stopped"
            ended = next((w["session_ended"] for w in walks if w.get("session_ended")), "")
            refused = next(
                (w["credentials_refused"] for w in walks if w.get("credentials_refused")), ""
            )
            budget = next((w for w in walks if w.get("max_bytes")), None)
            down = next((w["server_down"] for w in walks if w.get("server_down")), "")
            if budget is not None:
                state = _budget_walk_state(budget)
            elif ended or refused:
                state = _stopped_walk_state(ended, refused)
            elif down and state == "stopped":
                # (not "stopped" as after a kill: the same command goes on once it answers)
                state = f"stopped, as {down}, the rest pending: resume once it answers again"
            lines.append(
                f"{what} {where} has not finished: {state}; the images "
                "it had not journaled yet are not counted above"
            )
        for walk in self.walks:
            if not walk.get("finished"):
                continue
            what = _walk_of(walk["targets"], run_named=True)
            shard = f", shard {walk['shard']}" if walk.get("shard") else ""
            failures = walk.get("failures") or []
            # A plate whose images were all listed before its runs or grids failed lost no
            # image, only study files (``study_only``): not "not counted" (they are).
            why = (
                "the images under them are not counted above:"
                if walk_lost_images(walk)
                else "every image under them was listed (counted above); their study files "
                "are missing:"
            )
            lines.append(
                f"{what} (run {walk.get('run')}{shard}): "
                f"{plural(len(failures), 'listing')} failed; {why}"
            )
            for f in failures[:MAX_FAILURE_SAMPLES]:
                reason = _journaled_reason(f)
                only = STUDY_ONLY if f.get("study_only") else ""
                url = shown_url(str(f.get("url") or ""))
                lines.append(f"  {shown(f.get('what'))}{only}: {reason} {url}".rstrip())
            if len(failures) > MAX_FAILURE_SAMPLES:
                lines.append(f"  ... and {len(failures) - MAX_FAILURE_SAMPLES} more (--json)")
        return lines

    def _task_lines(self) -> list[str]:
        """Each job-array task's share of the plan, for those with work left (the first
        :data:`MAX_TASK_LINES`): which tasks ended short, without reading their logs."""
        tasks = self.plan.tasks if self.plan is not None else []
        if not tasks or not self.started:
            return []
        left = [t for t in tasks if t.complete < t.images]
        n = len(tasks)
        running = _running_tasks(self.running, n)
        # (named below, with how to tell what ended it: its line pointed nowhere)
        # (of the array counted: harvest.sbatch's, or another script's, plan_script)
        of = self.plan_script
        silent = {e.task for e in self.silent_ends if e.killed is not None and e.script == of}
        timed = {t.task for t in self.time_limited if t.script == of}
        queued_tasks, running_tasks = self.queued_tasks, self.running_tasks
        array = "job array"
        if of is not None:  # (another script's array: its own queue's tasks)
            queued_tasks, running_tasks = self.plan_queued_tasks, self.plan_running_tasks
            array = f"job array of {shell_quote(of)}"
        head = f"{array}: {n - len(left)} of {plural(n, 'task')} complete"
        lines = [head + (", work left in:" if left else "")]
        for t in left[:MAX_TASK_LINES]:
            parts = [f"  task {t.task}: {t.complete} of {plural(t.images, 'image')} complete"]
            if t.failed:
                parts.append(f"{t.failed} with failures")
            if t.partial:
                parts.append(f"{t.partial} partly harvested")
            if t.images > t.reached:
                parts.append(f"{t.images - t.reached} not reached")
            if t.task in running:
                parts.append("running")
            elif t.task in running_tasks:
                # SLURM runs it, its run lock not taken yet: its server check (waiting out a
                # maintenance window) or its read of DIR. It said "in the queue".
                parts.append("running (squeue), its harvest not begun yet: checking the server")
            elif t.task in queued_tasks:
                parts.append("in the queue" + _queued_task_log(t))
                lines.append(", ".join(parts))
                continue
            elif t.not_started is not None:
                parts.append(f"harvester did not start: {t.not_started}")
            elif t.ended == "max_bytes":
                size = f" ({size_said(t.max_bytes)})" if t.max_bytes else ""
                parts.append(f"stopped by its --max-bytes budget{size}{_TASK_THEN[t.after_budget]}")
            elif t.ended == "server_down":
                parts.append("stopped: the server was down, as its log says")
            elif t.task in timed:
                parts.append("interrupted by its time limit: see below")
            elif t.ended == "interrupted":
                parts.append("interrupted")
            elif t.task in silent:
                parts.append("ended without its summary: see below")
            elif t.start_unread:
                parts.append(
                    f"how it ended is not read: its log's last {_LOG_MAX_BYTES >> 20} MiB holds "
                    "no start line"
                )
            lines.append(", ".join(parts) + (f" (log: {shell_quote(t.log)})" if t.log else ""))
        if len(left) > MAX_TASK_LINES:
            lines.append(f"  ... and {len(left) - MAX_TASK_LINES} more tasks (--json)")
        lines.extend(self._not_started_advice(left, running, queued_tasks))
        spent = [t for t in left if _budget_spent(t, running, queued_tasks)]
        if spent:
            # SLURM lists such a task as FAILED (exit code 8): read as a failure to look into.
            lines.append(
                "  a task its --max-bytes budget stopped exits 8, which SLURM calls FAILED: "
                "nothing failed; the resume line below continues it with a new budget of that size"
                + (
                    " (where its line says so, after a new login or new credentials)"
                    if any(t.after_budget in _NEW_LOGIN for t in spent)
                    else ""
                )
            )
        return lines

    def _not_started_advice(
        self, left: list[TaskProgress], running: AbstractSet[int], queued: AbstractSet[int]
    ) -> list[str]:
        """What to fix before resubmitting the tasks whose job script failed before harvester
        began (:attr:`TaskProgress.not_started`), where one is neither running nor queued:
        resubmitted as it is, the script fails the same way on the same nodes."""
        failed = [t for t in left if t.not_started is not None and t.task not in running | queued]
        if not failed:
            return []
        # (the array counted: harvest.sbatch's, or the plan's script's, plan_script)
        named = self.plan_script or (self.slurm.script if self.slurm is not None else None)
        script = shell_quote(named) if named is not None else "the script"
        them = plural(len(failed), "task")
        return [
            f"  harvester did not start in {them}: the compute nodes must run the Python of the "
            f"exec line in {script} with harvester installed (see Install in README.md), or "
            "write the script again with harvester slurm from a Python they run; resubmitted as "
            "it is, the script fails the same way"
        ]

    def _queued_lines(self) -> list[str]:
        """``in the queue now: job 182 (squeue -j 182)`` while DIR's array is queued or
        running (another user's job named with its owner, :func:`harvester.slurm.jobs_said`)."""
        if not self.queued:
            return []
        from harvester.slurm import jobs_said

        ids = ",".join(self.queued)
        lines = [
            f"in the queue now: job {jobs_said(self.queued, self.queued_owners)}"
            f" (squeue -j {ids}){self._stuck_words()}"
        ]
        pending = self.queued_tasks - self.running_tasks.keys()
        if self.slurm is not None and self.slurm.config is not None and pending:
            # Each task reads the config file as it starts (the script names it): an edit
            # made for the next array reached the tasks of this one still waiting, unsaid.
            lines.append(
                f"  its tasks read {shell_quote(self.slurm.config)} as they start: an edit "
                f"there reaches the {plural(len(pending), 'task')} not started yet"
            )
        return lines

    def _array_scripts_lines(self) -> list[str]:
        """Each of DIR's scripts, one per selection, where it holds two or more."""
        if not self.array_scripts:
            return []
        from harvester.array_scripts import array_scripts_lines

        return array_scripts_lines(self.array_scripts, self.out_dir)

    def _not_started_lines(self) -> list[str]:
        """What a folder no harvest run has started in holds, and what comes next."""
        q = shell_quote
        s = self.slurm
        if s is None:
            if self.plan is None and self.plan_making:
                return [
                    "no harvest run is journaled in this folder: a harvester plan is being "
                    f"made here{_planner_hosts(self.plan_making)} and has not written its plan "
                    "yet; once it has, status names the next step"
                ]
            if self.plan is None and self.plan_stopped:
                # (it said "no harvest run is journaled in this folder" and "counts appear
                # once a task has journaled ...": no word of the plan the user had begun)
                return [
                    "no harvest run is journaled in this folder: a harvester plan began here "
                    "and stopped before it wrote its plan (interrupted, or it failed); run "
                    "that harvester plan again, or harvest its targets"
                ]
            if self.plan is None:  # no plan either: journals removed by hand, an early stop
                return ["no harvest run is journaled in this folder"]
            # A plan alone (``harvester plan``): it has journaled its study files, no image.
            # The plan's --rate and other run settings given again, as `plan` printed them.
            out = q(self.out_dir)
            flags = f" {shell_join(self.plan_run_flags)}" if self.plan_run_flags else ""
            conf = f"{shell_quote(self.plan_config)} " if self.plan_config else ""
            return [
                f"no harvest has started yet; next: harvester harvest {conf}--from-plan "
                f"{out} --out {out}{flags}, or harvester slurm {conf}--from-plan {out} --out "
                f"{out}{flags} --tasks N"
            ]
        # Task logs, and a queue that answered holding none of the script's jobs: it was
        # submitted and every task ended before its harvest began (a config file moved, a
        # module missing on the nodes). "not submitted yet: sbatch ..." said otherwise.
        ended = bool(s.task_logs) and s.elsewhere is None and self._queue_answered_empty()
        # A folder of several selections' scripts: the list below (:meth:`_array_scripts_lines`)
        # says each, submitted or not; harvest.sbatch's own line said it twice, in two forms.
        one_script = not self.array_scripts
        described = [f"job array: {s.described()}"] if one_script else []
        if self.running_tasks and not ended:
            # Running, not journaled yet: each task checks the server first (a maintenance
            # window is waited out there) and reads DIR's journals. It said "no task has
            # started yet" of an array squeue listed as running, its log unnamed.
            running = sorted(self.running_tasks)
            if len(running) == 1:
                k = running[0]
                said = f"task {k} is running (squeue), checking"
                job_log = os.path.join(s.logs or "", f"harvest-{self.running_tasks[k]}_{k}.log")
                log = f"its log {job_log} says"
            else:
                said = f"{len(running)} tasks are running (squeue), each checking"
                log = f"their logs in {s.logs} say"
            return [
                f"no task has begun its harvest yet: {said} the server and reading DIR first "
                f"(a server down or in maintenance is waited for there, as {log})",
                *described,
            ]
        lines = [
            ("no task has begun its harvest" if ended else "no task has started yet")
            + ("" if self.marker else f" (a task writes {MARKER_NAME} as it starts)"),
            *described,
        ]
        if s.elsewhere is None and not self.queued and not ended and one_script:
            # (Queued: "in the queue now: job N" says so below; else the note says not to
            # submit it. The line said "not submitted yet: sbatch ..." right after --submit,
            # inviting a second submission.)
            lines += self._unsubmitted_lines(s.submit_command())
        if ended:
            from harvester.slurm import resume_line

            # (its index job after it where DIR has that script: without it, the line's
            # second sbatch failed, and the array alone is what is left to submit)
            again = resume_line(Path(self.out_dir)) if s.index_script else f"sbatch {q(s.script)}"
            lines += [
                f"{plural(s.task_logs, 'task log')} in {s.logs} but no harvest journal: its tasks "
                f"ended before their harvest began; read {s.newest_log}",
                f"  once what it says is fixed, submit it again: {again}",
            ]
        elif s.task_logs:
            # A task that ran but left no journal stopped before its harvest began (a usage
            # error, a missing module on the node): its log says why.
            lines.append(
                f"{plural(s.task_logs, 'task log')} in {s.logs} but no harvest journal yet: a task "
                f"is starting, or ended before its harvest began; read {s.newest_log}"
            )
        return lines

    def _queue_answered_empty(self) -> bool:
        """Whether status asked the SLURM queue (``harvester status``: a script of
        ``harvester slurm`` in DIR) and it answered, listing no job of DIR's script."""
        return self.queue_asked and self.queue_unknown is None and not self.queued

    def _unsubmitted_lines(self, submit: str) -> list[str]:
        """Under a job array no task has started and the queue does not hold: ``not
        submitted yet`` where the queue was asked, else that it could not be, and what to do
        either way (``submit``: the command that submits it), one idea a line. Why: without
        a controller it said "not submitted yet: sbatch ...   submitted: squeue ..." as a
        fact, right after a submission it never saw."""
        if self.queue_unknown is None:
            return [f"  not submitted yet: {submit}"]
        return [
            f"  not seen in the SLURM queue: it cannot be asked here ({self.queue_unknown})",
            f"  if not submitted yet: {submit}",
            f"  if submitted: {self._queue_command()} shows its queued tasks (every user's), "
            "where SLURM answers",
        ]


def staged_text(
    stacks: int,
    planes: int,
    size: int,
    assembly: int = 0,
    *,
    staging: Path,
    running: bool = False,
) -> str:
    """``12 planes staged (3.1 MiB) for 1 unfinished stack in DIR/staging, kept for the
    rerun``: said by ``status`` and after an interrupted or failed harvest. The planes an
    unfinished stack fetched are work the rerun does not repeat, and disk the folder holds
    meanwhile; "0 B stored" and the table's bytes (journaled files only) said neither.
    ``assembly``: bytes of ``size`` that a process killed while assembling a stack left (its
    half-written file, its levels' folder), said apart: they are no work kept, and were
    counted nowhere. ``running``: a harvest runs in DIR now, or may (a run lock held by
    another process, or no lock to tell: a harvest's summary then), whose stacks in progress
    they may be (a half-written file too, then): worded true either way."""
    from harvester.progress import human_bytes  # (no tqdm: that is imported when a bar is)

    kept = "in progress or kept for the rerun" if running else "kept for the rerun"
    killed = ""
    if assembly:
        killed = f", {human_bytes(assembly)} of it " + (
            "half-written stacks, being assembled or a killed run's"
            if running
            else "a killed run's half-written stack, removed when the rerun resumes it"
        )
    return (
        f"{plural(planes, 'plane')} staged ({human_bytes(size)}{killed}) for "
        f"{plural(stacks, 'unfinished stack')} in {staging}, {kept}"
    )


def selected_kinds(
    out_dir: Path,
    state: JournalState,
    planned: list[str] | None = None,
    *,
    saved: SavedConfigs | None = None,
) -> tuple[list[str], str]:
    """Artifact kinds asked for by the newest run that saved them, else ``planned`` (a
    plan's, before any run harvested it), else the kinds the journals hold (done or
    failed), else the defaults; with where they came from: ``"config"``, ``"plan"``,
    ``"journals"`` or ``"defaults"``.

    "Newest" as :func:`harvester.journal.runs_newest_last` orders runs (by start time).
    The journals' kinds come before the defaults because a folder whose ``runs/`` was
    deleted still holds what its runs asked for: the defaults would count a ``render`` no
    run asked for as pending for every image. ``saved``: the configs a caller read already.
    """
    for config in saved_run_configs(out_dir, state, saved=saved):
        artifacts = config.get("artifacts")
        if isinstance(artifacts, str):
            artifacts = [a.strip() for a in artifacts.split(",") if a.strip()]
        if isinstance(artifacts, list) and artifacts:
            return [str(a) for a in artifacts], "config"
    if planned:
        return list(planned), "plan"
    journaled = journaled_kinds(state)
    if journaled:
        return journaled, "journals"
    return [a.value for a in DEFAULT_ARTIFACTS], "defaults"


def journaled_kinds(state: JournalState) -> list[str]:
    """The artifact kinds with a done or failed record in the journals, in ``--artifacts``
    order (study kinds such as ``plate`` are not artifacts and are left out)."""
    seen = {kind for kind, _ in state.done} | {kind for kind, _ in state.failed}
    return [a.value for a in Artifact if a.value in seen]


#: A target kind of a saved config -> the :class:`ImageRef` field its ids are matched on.
_TARGET_FIELDS = {
    "screens": "screen_id",
    "plates": "plate_id",
    "projects": "project_id",
    "datasets": "dataset_id",
    "images": "image_id",
}


@dataclass
class _TargetKinds:
    """One target set of DIR as ``harvester harvest --out DIR`` replays it: the artifact
    kinds of its newest run, and which images it asks for (matched on the journaled refs).

    ``ids``: the ids of an ``--ids-from`` file; ``plan``: the set harvests ``DIR``'s plan
    (its images are found as the plan is counted); ``known`` False: which images cannot be
    told (ids read once, a file gone): such a set is taken to ask for the images no other
    set asks for.
    """

    kinds: frozenset[str]
    by_field: dict[str, frozenset[int]] = field(default_factory=dict)
    ids: frozenset[int] = frozenset()
    plan: bool = False
    known: bool = True
    #: The set's newest run (for the command that replays it with other kinds).
    recorded: RecordedRun | None = None
    #: Taken out of DIR's resumes by ``harvester forget``: it asks nothing (``kinds`` empty),
    #: and a failure only it holds is neither counted nor offered again.
    forgotten: bool = False


def _target_kinds(recorded_sets: list[RecordedRun], plan_at: Path | None) -> list[_TargetKinds]:
    """DIR's target sets (``recorded_sets``: :func:`harvester.config.recorded_target_sets`,
    read once for this and the resume line), each with its newest run's kinds: what a
    resume fetches, set by set. A set whose kinds cannot be read (a config of another
    version) is left out."""
    from harvester.config import parse_artifacts
    from harvester.errors import ConfigError
    from harvester.plan import plan_dir
    from harvester.walk import read_ids_file

    out: list[_TargetKinds] = []
    for recorded in recorded_sets:
        config = recorded.config
        try:
            kinds = frozenset(a.value for a in parse_artifacts(config.get("artifacts")))
        except ConfigError:
            continue
        target = _TargetKinds(kinds, recorded=recorded)
        for key, name in _TARGET_FIELDS.items():
            values = config.get(key)
            if isinstance(values, list) and values:
                target.by_field[name] = frozenset(v for v in values if isinstance(v, int))
        ids_from, from_plan = config.get("ids_from"), config.get("from_plan")
        if isinstance(from_plan, str) and from_plan:
            # By its plan folder: ``--from-plan DIR/plan`` harvests DIR's plan too.
            plan = plan_dir(Path(from_plan)).absolute()
            target.plan = plan_at is not None and plan == plan_dir(plan_at).absolute()
            target.known = target.plan
        if isinstance(ids_from, str) and ids_from:
            path = Path(ids_from)
            if recorded.ids_read_once is not None or not path.is_file():
                target.known = False
            else:
                try:
                    target.ids = frozenset(read_ids_file(path))
                except UsageError:
                    target.known = False
        out.append(target)
    return out


def _live_and_forgotten(
    out_dir: Path, every: list[RecordedRun] | None
) -> tuple[list[RecordedRun] | None, list[tuple[RecordedRun, ForgottenSet]]]:
    """DIR's target sets (``every``: with the forgotten ones; None: not read) split into
    those a resume replays and those ``harvester forget`` took out (each with its entry)."""
    if every is None:
        return None, []
    from harvester.config import forgotten_entry
    from harvester.forgotten import read_forgotten

    gone = read_forgotten(out_dir)
    live: list[RecordedRun] = []
    forgotten: list[tuple[RecordedRun, ForgottenSet]] = []
    for recorded in every:
        entry = forgotten_entry(recorded, gone)
        if entry is None:
            live.append(recorded)
        else:
            forgotten.append((recorded, entry))
    return live, forgotten


def _forgotten_kinds(
    forgotten: list[RecordedRun], plan_at: Path | None = None
) -> list[_TargetKinds]:
    """The forgotten sets that tell their images (by id, or an ids file still there), each
    asking nothing of them. One that cannot tell them (ids read once, another plan) is left
    out: as a set that cannot tell its images it would take every image no set names.

    ``plan_at``: DIR's plan when forgotten sets alone harvest it (:func:`_plan_forgotten`):
    such a set tells its images by the plan's ids, so that their failures and pending
    kinds are not counted, as for a forgotten plate's."""
    out = []
    for target in _target_kinds(forgotten, plan_at):
        if target.plan and plan_at is not None:
            try:
                target.ids, target.plan = frozenset(iter_plan_ids(plan_at)), False
            except UsageError:  # (damaged: said as plan_error where it is counted)
                continue
        if target.known and not target.plan:
            target.kinds, target.forgotten = frozenset(), True
            out.append(target)
    return out


def _forgotten_servers(
    out_dir: Path, every: list[RecordedRun], gone: list[tuple[RecordedRun, ForgottenSet]]
) -> list[tuple[str, bool]]:
    """Each forgotten set's server (as saved, credentials redacted), and whether status's
    line names it: where it is not the one a harvest of DIR given no ``--base-url`` asks
    (:func:`harvester.config.folder_server_url`), or where DIR holds the set's targets from
    another server too (two sets of one name, one forgotten: ``--project 51 (of B)``).

    Why: in a folder of two servers, the status line's "give its targets" asked DIR's server
    for the other's set, refused (exit 2) for ids it does not have; and of two sets of one
    name, the line did not say which one was forgotten, nor did ``--json`` (which has every
    set's server)."""
    if not gone:
        return []
    from harvester.config import folder_server_url, normal_base_url, other_server, target_set

    folder = folder_server_url(out_dir)
    servers = []
    for recorded, _entry in gone:
        key, server = target_set(recorded), normal_base_url(recorded.base_url)
        twin = any(target_set(r) == key and normal_base_url(r.base_url) != server for r in every)
        servers.append((recorded.base_url, twin or other_server(recorded, folder)))
    return servers


def _plan_forgotten(
    plan_at: Path | None, live: list[_TargetKinds], gone: list[tuple[RecordedRun, ForgottenSet]]
) -> bool:
    """Whether DIR's plan was harvested by sets ``harvester forget`` took out alone (none of
    the ``live`` sets harvests it). Then the plan is not counted: its images' failed and
    pending artifacts were counted, its tasks listed with work left and a resume offered
    for a set that resumes leave out (its images gone from the server)."""
    if plan_at is None or not gone or any(t.plan for t in live):
        return False
    return any(t.plan for t in _target_kinds([recorded for recorded, _ in gone], plan_at))


def plan_forgotten(out_dir: Path, plan_at: Path) -> bool:
    """Whether DIR's plan (at ``plan_at``) was harvested by forgotten sets alone
    (:func:`_plan_forgotten`), from DIR's saved configs: then no resubmission adds its
    missing images, and ``harvester index`` does not say to run it again after one."""
    from harvester.config import recorded_target_sets

    live, gone = _live_and_forgotten(out_dir, recorded_target_sets(out_dir, forgotten=True))
    return _plan_forgotten(plan_at, _target_kinds(live or [], plan_at), gone)


#: The artifact kinds of an image (journaled by image id).
_IMAGE_KINDS = frozenset(a.value for a in Artifact)
#: The kinds of an image no set asks anything of: one object, not a new empty set per image.
_NO_KINDS: frozenset[str] = frozenset()


def _dropped_kinds(
    wanted: _Wanted,
    sets: list[_TargetKinds],
    pairs: Iterable[tuple[str, int]],
    images: Mapping[int, ImageRef],
    dropped_by_set: dict[int, set[str]],
) -> dict[str, int]:
    """Of ``pairs`` (kind, image id: files marked invalid, or ``verify``'s bad files), how
    many of each kind the live set holding the image asks for no more (its newest run
    dropped the kind), each such kind added to ``dropped_by_set`` (by the set's index in
    ``sets``) for :func:`_not_asked_commands`. Why: ``status`` said such files were
    "awaiting refetch by harvest", and ``verify`` gave ``harvester harvest --out DIR`` "to
    refetch exactly those", a resume that asks for their kind no more: run again and again,
    it refetched nothing, and verify said the same each time."""
    counts: dict[str, int] = {}
    if not sets or wanted.plan_harvested:  # (a plan's images get its kinds: not told here)
        return counts
    for kind, image_id in pairs:
        if kind not in _IMAGE_KINDS:
            continue
        ref = images.get(image_id)
        if kind in wanted.kinds(image_id, ref):
            continue
        holder = wanted.holder(image_id, ref)
        index = next((n for n, s in enumerate(sets) if s is holder), None)
        if index is None:  # a forgotten set's: said apart, with its targets
            continue
        counts[kind] = counts.get(kind, 0) + 1
        dropped_by_set.setdefault(index, set()).add(kind)
    return counts


def dropped_kinds_refetch(
    out_dir: Path,
    pairs: Iterable[tuple[str, int]],
    images: Mapping[int, ImageRef],
    recorded_sets: list[RecordedRun],
) -> tuple[int, list[str]]:
    """For ``verify``: how many of its bad files (``pairs``: kind, image id; ``images``:
    the journaled images) are of kinds their live target set asks for no more, and the
    command(s) that refetch them (:func:`_not_asked_commands`: the set's kinds with the
    dropped ones, so that the set keeps its own). ``recorded_sets``: DIR's live sets."""
    if any(recorded.config.get("from_plan") for recorded in recorded_sets):
        return 0, []  # a plan's images get its kinds, which status tells as it counts it
    sets = _target_kinds(recorded_sets, None)
    fallback: list[str] = [a.value for a in Artifact if sets and a.value in sets[0].kinds]
    dropped_by_set: dict[int, set[str]] = {}
    counts = _dropped_kinds(_Wanted(sets, fallback), sets, pairs, images, dropped_by_set)
    return sum(counts.values()), _not_asked_commands(out_dir, sets, dropped_by_set)


def _forgotten_holder(wanted: _Wanted, object_id: int, images: Mapping[int, ImageRef]) -> bool:
    """Whether the set that holds journaled image ``object_id`` is a forgotten one."""
    holder = wanted.holder(object_id, images.get(object_id))
    return holder is not None and holder.forgotten


def _split(target: _TargetKinds) -> bool:
    """Whether the set's newest run was a shard of a split."""
    return target.recorded is not None and target.recorded.shard is not None


class _Wanted:
    """Which artifact kinds of each image the suggested resume would fetch: the kinds of
    every target set asking for the image (:class:`_TargetKinds`), so that ``status``
    counts as pending, and as failed, what that command would fetch again.

    Counting every image by the newest run's kinds was wrong both ways: after ``--plate 1
    --artifacts thumbnail`` and ``--image 5`` (the defaults), the plate's images were
    pending for imgdata, render and metadata that no resume fetched; after ``--artifacts
    thumbnail,metadata`` followed a failed render, the render failures still asked for a
    hint already followed. An image no set asks for (a run whose config is gone) is
    counted by ``fallback`` (the kinds of the sets that cannot tell their images, else
    those of DIR's newest set), as before. But not a journaled image of a plan some run harvested
    (:meth:`in_harvested_plan`): the plan's runs journaled it, and their kinds, which
    :func:`_count_plan` counts, are all the plan's replay asks of it: the fallback (the
    newest run's kinds, when another set came later) asked for kinds no resume fetched.
    """

    def __init__(self, sets: list[_TargetKinds], fallback: list[str]) -> None:
        self.sets = sets
        self.known = [s for s in sets if s.known and not s.plan]
        unknown = [s for s in sets if not s.known]
        self.unknown = unknown
        rest: frozenset[str] = frozenset().union(*(s.kinds for s in unknown))
        self.rest = rest if unknown else frozenset(fallback)
        self.plan_harvested = any(s.plan for s in sets)
        self.split = any(_split(s) for s in sets)  # a split's set is among them
        # Field -> id -> the known sets naming it: an image's sets are a few lookups, not a
        # test of every set per image (a folder topped up weekly gains a set a week; 200
        # sets made status on 100,000 images 6 times slower).
        self._naming: dict[str, dict[int, list[int]]] = {}
        for n, target in enumerate(self.known):
            for name, ids in (*target.by_field.items(), ("image_id", target.ids)):
                index = self._naming.setdefault(name, {})
                for object_id in ids:
                    index.setdefault(object_id, []).append(n)
        self._planned: set[int] = set()
        self._cache: dict[tuple[tuple[int, ...], bool], frozenset[str]] = {}

    def in_harvested_plan(self, image_id: int) -> None:
        """Say that a journaled image is in DIR's plan (before :meth:`kinds` is asked of
        it): when a run harvested the plan, the image no other set names is then asked
        nothing here, its plan's kinds being counted with the plan."""
        if self.plan_harvested:
            self._planned.add(image_id)

    def forget_plan(self) -> None:
        """The plan turned out damaged (found at its end) and is not counted: its images
        are asked what they would be asked without it."""
        self._planned.clear()

    def claimed_kinds(self, image_id: int) -> frozenset[str]:
        """The kinds asked of an image no run has journaled, by the sets that name it by
        id (``--image``, an ids file); none when no set does."""
        naming = self._naming.get("image_id", {}).get(image_id)
        if not naming:  # (most images of a plan: asked once per image, no set built)
            return _NO_KINDS
        return frozenset().union(*(self.known[n].kinds for n in naming))

    def _claimed(self, image_id: int, ref: ImageRef | None) -> tuple[int, ...]:
        """The known sets naming a journaled image (their indices, newest set first)."""
        if not self._naming:  # (no set names images: a plan's harvest, asked per image)
            return ()
        naming: set[int] = set()
        for name, index in self._naming.items():
            value = image_id if name == "image_id" else getattr(ref, name, None)
            found_sets = index.get(value) if value is not None else None
            if found_sets:
                naming.update(found_sets)
        return tuple(sorted(naming))

    def holder(self, image_id: int, ref: ImageRef | None) -> _TargetKinds | None:
        """The set whose replay asks for a journaled image: the newest set naming it, else
        the first that cannot tell its images, else DIR's newest set (the fallback's)."""
        claimed = self._claimed(image_id, ref)
        if claimed:
            return self.known[claimed[0]]
        if self.unknown:
            return self.unknown[0]
        return self.sets[0] if self.sets else None

    def asking(self, image_id: int, ref: ImageRef | None) -> list[_TargetKinds]:
        """The sets that may ask for a journaled image: the known sets naming it, and
        those that cannot tell their images."""
        return [*(self.known[n] for n in self._claimed(image_id, ref)), *self.unknown]

    def of_a_split(self, image_id: int, ref: ImageRef | None) -> bool:
        """Whether a split's set (run shard by shard) asks for a journaled image: one that
        names it, else, named by none, the set(s) whose kinds it gets (:meth:`holder`)."""
        claimed = self._claimed(image_id, ref)
        if claimed:
            return any(_split(self.known[n]) for n in claimed)
        if self.unknown:
            return any(_split(s) for s in self.unknown)
        return bool(self.sets) and _split(self.sets[0])

    def of_splits(self, ids: AbstractSet[int], images: Mapping[int, ImageRef]) -> AbstractSet[int]:
        """Of ``ids`` (journaled images, ``images`` by id), those a split's set asks for
        (:meth:`of_a_split`): another set's image is no shard's to run again. ``ids``
        itself, not a copy, when no set is a split's (it may hold millions)."""
        if not self.split:
            return ids
        return {i for i in ids if self.of_a_split(i, images.get(i))}

    def kinds(self, image_id: int, ref: ImageRef | None) -> frozenset[str]:
        """The kinds asked of a journaled image by the sets that name it (none for an
        image of a harvested plan no other set names), else the fallback."""
        claimed = self._claimed(image_id, ref)
        key = (claimed, image_id in self._planned)
        found = self._cache.get(key)
        if found is None:
            if claimed:
                found = frozenset().union(*(self.known[n].kinds for n in claimed))
            else:
                found = frozenset() if key[1] else self.rest
            self._cache[key] = found
        return found


def _plan_info(out_dir: Path, elsewhere: str | None = None) -> tuple[Path, PlanInfo] | None:
    """The plan counted for DIR and where it is: ``DIR/plan``, else ``elsewhere`` (the
    ``--from-plan`` folder the job array's script names), else None.

    A plan ``elsewhere`` that is gone is an error (``plan_error``): the tasks would fail too.
    """
    from harvester.plan import META_FILE, PLAN_DIRNAME, read_plan_info

    if (out_dir / PLAN_DIRNAME / META_FILE).is_file():
        return out_dir, read_plan_info(out_dir)
    if elsewhere is None:
        return None
    return Path(elsewhere), read_plan_info(Path(elsewhere))


#: A script longer than this is not one ``harvester slurm`` wrote (they are about 2 KB).
_MAX_SCRIPT_BYTES = 1 << 20
_WRITTEN_BY = "written by `harvester slurm`"


def read_slurm_script(out_dir: Path) -> SlurmStatus | None:
    """What ``DIR/harvest.sbatch`` says, if ``harvester slurm`` wrote it; None when DIR has
    none or the file is someone else's (no header of ours and no ``-m harvester harvest``
    task command). Never raises: a script that cannot be read is as good as none."""
    from harvester.slurm import (
        INDEX_SCRIPT_NAME,
        LOG_DIRNAME,
        SCRIPT_NAME,
        array_line,
        job_name_line,
        out_elsewhere,
        task_args,
        task_out_dir,
    )

    script = out_dir / SCRIPT_NAME
    try:
        if not script.is_file() or script.stat().st_size > _MAX_SCRIPT_BYTES:
            return None
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    tasks: int | None = None
    parallel: int | None = None
    job_name: str | None = None
    for line in text.splitlines():
        if array := array_line(line):
            tasks, parallel = array
        elif (name := job_name_line(line)) is not None:
            job_name = name
    command = task_args(text)  # ([] for a line an edit left unreadable: the rest is known)
    if command is None and _WRITTEN_BY not in text:
        return None

    def value(flag: str) -> str | None:
        args = command or []
        for i, arg in enumerate(args[:-1]):
            if arg == flag:
                return args[i + 1]
        return None

    status = SlurmStatus(
        script=str(script),
        tasks=tasks,
        parallel=parallel,
        from_plan=value("--from-plan"),
        job_name=job_name,
    )
    status.elsewhere = out_elsewhere(out_dir, task_out_dir(command or []))
    artifacts: object = value("--artifacts")
    budget: object = value("--max-bytes")
    args = command or []
    if args and not args[0].startswith("-"):  # harvest CONFIG ...: slurm puts the file first
        status.config = args[0]
        # The tasks read the file: its artifacts and from_plan count unless a flag overrides.
        try:
            from harvester.config import load_toml

            named = Path(args[0])
            # A regular file of script size only: a FIFO or /dev/zero named there by hand
            # would hang or exhaust `status` (found by review).
            if not named.is_file() or named.stat().st_size > _MAX_SCRIPT_BYTES:
                raise ValueError(f"{named} is not a small regular file")
            settings = load_toml(named)
        except (HarvesterError, OSError, ValueError):
            settings = {}
        if artifacts is None:
            artifacts = settings.get("artifacts")
        if budget is None:
            budget = settings.get("max_bytes")
        if status.from_plan is None and settings.get("from_plan") is not None:
            status.from_plan = str(settings["from_plan"])
    if budget is not None and str(budget).strip().lower() != "none":
        status.max_bytes = str(budget)
    if artifacts is not None:
        from harvester.config import parse_artifacts

        with contextlib.suppress(HarvesterError):  # the tasks will refuse it and say why
            status.artifacts = [a.value for a in parse_artifacts(artifacts)]
    if (out_dir / INDEX_SCRIPT_NAME).is_file():
        status.index_script = str(out_dir / INDEX_SCRIPT_NAME)
    logs = out_dir / LOG_DIRNAME
    if logs.is_dir():
        status.logs = str(logs)
        task_logs = status.log_files
        with contextlib.suppress(OSError):  # a log removed meanwhile: counted as gone
            for path in logs.glob("harvest-*.log"):
                with contextlib.suppress(OSError):
                    task_logs.append((path.stat().st_mtime, str(path)))
        status.task_logs = len(task_logs)
        if task_logs:
            status.newest_log = max(task_logs)[1]
    return status


_TASK_LOG = re.compile(r"harvest-(\d+)_(\d+)\.log")


def _name_task_logs(
    tasks: list[TaskProgress],
    log_files: list[tuple[float, str]],
    queued: Mapping[int, str] | None = None,
) -> None:
    """Set the newest log of each task with work left, from the listing of the task logs
    :func:`read_slurm_script` made (``SlurmStatus.log_files``), and the job each one the
    queue lists is queued as (``queued``: task K -> its job, :attr:`Queue.task_jobs`)."""
    left = {t.task: t for t in tasks if t.complete < t.images}
    for task, log in _newest_task_logs(log_files, set(left)).items():
        left[task].log = log
    for task, job in (queued or {}).items():
        if task in left:
            left[task].queued_as = f"{job}_{task}"


def _log_job(log: str) -> str | None:
    """``<job>_<K>`` of a task log's name (``harvest-<job>_<K>.log``), None for another."""
    m = _TASK_LOG.fullmatch(Path(log).name)
    return f"{m.group(1)}_{m.group(2)}" if m is not None else None


def _queued_task_log(task: TaskProgress) -> str:
    """What follows ``in the queue`` on a queued task's line: nothing, or its log.

    Why: a resubmitted array reuses its task numbers, and a task still waiting has no log
    of its own yet: its newest log was an earlier job's, shown as ``(log: ...)`` as if the
    queued task had written it (its end, its errors). That log is named as the earlier
    job's; a task the queue lists as the job its log is of (requeued) keeps its plain
    ``(log: ...)``."""
    if task.log is None:
        return ""
    written = _log_job(task.log)
    if task.queued_as is None or written is None or written == task.queued_as:
        return f" (log: {shell_quote(task.log)})"
    return f" as job {task.queued_as} (log of the earlier job {written}: {shell_quote(task.log)})"


#: How much of a task log's start is read for the script its start line names.
_LOG_HEAD_BYTES = 8 * 1024


def _own_script_logs(log_files: list[tuple[float, str]], script: str) -> list[tuple[float, str]]:
    """Of the task logs (``SlurmStatus.log_files``), those of ``script``'s jobs, by the
    name its start line ends with (:func:`harvester.slurm.log_script`: a log without one is
    harvest.sbatch's). Why: every script of a folder of several selections logs to
    ``logs/harvest-%A_%a.log``, and task K's newest log, another selection's job, was read
    as harvest.sbatch's task K (killed, silent, cut by its time limit)."""
    from harvester.slurm import log_script, task_start_pattern

    start = task_start_pattern()
    own: list[tuple[float, str]] = []
    for seen in log_files:
        try:
            with open(seen[1], "rb") as handle:
                head = handle.read(_LOG_HEAD_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        line = next((line for line in head.splitlines() if start.match(line)), "")
        if log_script(line) == script:
            own.append(seen)
    return own


def _newest_task_logs(
    log_files: list[tuple[float, str]], tasks: AbstractSet[int]
) -> dict[int, str]:
    """Task K -> its newest ``harvest-<job>_<K>.log`` (by modification time), for the
    ``tasks`` that have one, from the one listing of DIR/logs (``SlurmStatus.log_files``)."""
    newest: dict[int, tuple[float, str]] = {}
    for seen in log_files:
        m = _TASK_LOG.fullmatch(Path(seen[1]).name)
        if m is not None and (task := int(m.group(2))) in tasks:
            newest[task] = max(newest.get(task, seen), seen)
    return {task: log for task, (_, log) in newest.items()}


#: SLURM's own lines in a task log: ``slurmstepd:``, or ``slurmstepd-<node>:`` as
#: slurmstepd writes them on clusters that name the node (22.05 here: ``slurmstepd-localhost:
#: error: *** JOB 171 ON localhost CANCELLED ...``), which were read as the harvest's words.
_SLURMSTEPD = re.compile(r"slurmstepd(?:-[^\s:]+)?:")
#: The harvest's line a minute in a log (:class:`harvester.progress.Progress`): a tick of a
#: run going on, not a word of its end, so a task killed after hours of them is silent too.
_PROGRESS_LINE = re.compile(r"progress \([^)]*\): ")
#: A record of the harvest's loggers as the CLI formats it (``WARNING harvester.ratelimit:
#: server overloaded: slowing down ...``): said mid-run, never its end, which the CLI prints
#: (a summary, ``error:``, ``interrupted``). A task that logged a retry or a slow-down and was
#: then killed (``kill -9``, out of memory) read as one that spoke, and went unnamed. Any
#: logger's, not only harvester's: a task debugged (``debug = true``) logs asyncio's
#: ``DEBUG asyncio: Using selector`` as it starts, which read as its last words too.
_LOG_RECORD = re.compile(r"(?:DEBUG|INFO|WARNING) \w+(?:\.\w+)*: ")
#: How much of a task log's end is read first; when that holds no start line, back to four
#: times as much, and so on up to :data:`_LOG_MAX_BYTES` (:func:`_since_last_start`).
_LOG_TAIL_BYTES = 64 * 1024
#: The most of a task log's end status reads, per task: 1 MiB is thousands of warning lines,
#: or about five days of a task's minute ``progress`` lines (130 bytes or so), after its
#: start. It was 16 MiB, read again at each step (21 MB of reads for a log without a start
#: line in it).
_LOG_MAX_BYTES = 1024 * 1024
#: The most of its own log a task reads as it ends (:func:`task_cancelled_by`): once, for
#: itself, not for every task as status does; a task with a week's time limit writes more
#: than :data:`_LOG_MAX_BYTES` of minute progress lines alone, and its ``interrupted``
#: line stopped naming the time limit that cut it short.
_OWN_LOG_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class _LogEnd:
    """How a task log ends after its last start line (:func:`_ended_silently`)."""

    #: Nothing from the harvest after it: only blank, SLURM's own, progress and logged
    #: warning lines.
    silent: bool = False
    #: One of SLURM's lines reports an oom_kill.
    out_of_memory: bool = False
    #: What one of SLURM's lines says cancelled the job (:attr:`SilentEnd.cancelled`).
    cancelled: str | None = None
    #: How the harvest said it ended, where it spoke (:func:`_harvest_end`), and the
    #: budget its line names when that was its ``--max-bytes``.
    ended: str | None = None
    max_bytes: str | None = None
    #: Its last :data:`_LOG_MAX_BYTES` holds no start line (the log is longer): how it ended
    #: is not read, which status says rather than nothing.
    start_unread: bool = False
    #: What ended its walk after the budget, as its note says (:attr:`TaskProgress.after_budget`).
    after_budget: str | None = None
    #: What stopped the job script before harvester began (:attr:`TaskProgress.not_started`).
    not_started: str | None = None


#: slurmstepd's line for a cancelled job: ``*** JOB 171 ON node01 CANCELLED AT <time> ***``,
#: with ``DUE TO TIME LIMIT`` (or another reason) before the closing stars when SLURM did it.
_CANCELLED = re.compile(r"\*\*\* .*\bCANCELLED\b(?:.*\bDUE TO ([A-Z][A-Z ]*[A-Z]))?")


#: slurmstepd's reason for a node failure, the node named in it (``DUE TO NODE n01
#: FAILURE``, older SLURM) or not (``DUE TO NODE FAILURE, SEE SLURMCTLD LOG ...``).
_NODE_FAILURE = re.compile(r"\bDUE TO NODE (?:\S+ )?FAILURE\b")


def _cancelled_by(lines: list[str]) -> str | None:
    """``scancel``, or the reason SLURM gives (``time limit``, ``node failure``), when one
    of SLURM's lines (:data:`_SLURMSTEPD`) says the job was cancelled; None when none does.
    (A node failure is named so whatever the node's name: one in capitals, ``NODE CN01
    FAILURE``, read as the reason ``node cn``, which no requeue rule knew.)"""
    for line in lines:
        if _SLURMSTEPD.match(line) and (m := _CANCELLED.search(line)):
            if _NODE_FAILURE.search(line):
                return "node failure"
            return m.group(1).lower() if m.group(1) else "scancel"
    return None


def _ended_silently(log: Path, shard: str, cap: int = _LOG_MAX_BYTES) -> _LogEnd:
    """Whether a task log's last start line, of ``shard`` (``K/N``), has nothing from the
    harvest after it (only :func:`_tick` lines: blank, SLURM's own, progress lines, the
    warnings its loggers wrote mid-run), and whether one of SLURM's reports an oom_kill or
    a cancellation (read also where the harvest spoke after it: a time limit's SIGTERM lets
    it say ``interrupted``). Any other
    line after it (a summary, an error, a note) says the harvest spoke: not said to be
    killed; nor is a start of another shard (a log of an older array of another task
    count, which the script's task K never wrote). Not silent for a log that cannot be
    read. ``cap``: the most of the log's end read (:func:`_since_last_start`)."""
    from harvester.slurm import task_start_pattern  # (the start line the script echoes)

    start = task_start_pattern()
    lines, reached = _since_last_start(log, start, cap)
    if not reached:
        return _LogEnd(start_unread=True)
    starts = [(n, m.group(1)) for n, line in enumerate(lines) if (m := start.match(line))]
    if not starts or starts[-1][1] != shard:
        return _LogEnd()
    after = [line.strip() for line in lines[starts[-1][0] + 1 :] if line.strip()]
    if not all(_tick(line) for line in after):
        if (failed := _failed_start(after)) is not None:
            return _LogEnd(cancelled=_cancelled_by(after), not_started=failed)
        # The harvest spoke (SIGTERM: "interrupted"), but SLURM's line still says why.
        ended, budget, then = _harvest_end(after)
        return _LogEnd(
            cancelled=_cancelled_by(after), ended=ended, max_bytes=budget, after_budget=then
        )
    oom = any("oom" in line.lower() for line in after if _SLURMSTEPD.match(line))
    return _LogEnd(True, oom, _cancelled_by(after))


#: A job script's words before harvester began, in a task log after its start line: bash's
#: error naming the script's line (``/var/spool/slurmd/job182/slurm_script: line 44:
#: /opt/venv/bin/python: No such file or directory``, ``...: Permission denied``: its
#: ``exec`` failed), group 1 what follows ``line N:``; or Python's on a node where harvester
#: is not installed (``/usr/bin/python3: No module named harvester``), group 2 the whole of
#: it. Not harvester's own lines, which may name a file's line too (``error: ...``).
_SCRIPT_FAILED = re.compile(
    r"(?!(?:error|warning|note|hint): )(?:.+?: line \d+: (.+)|(.+: No module named harvester))"
)


def _failed_start(after: list[str]) -> str | None:
    """What stopped a task's job script before harvester began, from its log's lines after
    its last start line (stripped): the first of the task's own lines (not
    :func:`_tick`'s: SLURM's, blank) when it is the shell's or Python's failure
    (:data:`_SCRIPT_FAILED`), else None.
    Why: a task whose Python the node cannot run (a venv on a file system the compute
    nodes do not mount, a module not loaded, another user's folder) ends at once, exit 126
    or 127 (1 without harvester), and status named it as a task with work left and nothing
    more: its resubmission failed the same way."""
    said = next((line for line in after if not _tick(line)), None)
    if said is None or (m := _SCRIPT_FAILED.fullmatch(said)) is None:
        return None
    return m.group(1) or m.group(2)


def _harvest_end(after: list[str]) -> tuple[str | None, str | None, str | None]:
    """How a task's harvest said it ended, from its log's lines after its last start line
    (stripped): ``("max_bytes", "30K", then)`` for its budget spent, ``then`` what its note
    before that line says ended the walk after it (``"server_down"``, ``"session_ended"``;
    None: no note), ``("server_down", None, None)`` for a server down longer than its
    ``--outage-wait`` (exit 75), ``("interrupted", None, None)`` for a SIGTERM or Ctrl-C,
    else all None (a summary alone, failures, an error).
    Why: SLURM calls a task its budget stopped FAILED (exit 8), and a task ``scancel``
    interrupted read in status like one that never ran; its log said which."""
    from harvester.end_lines import after_budget, how_it_ended  # (the harvest's words)

    for n in range(len(after) - 1, -1, -1):
        if (ended := how_it_ended(after[n])) is not None:
            then = after_budget(after[n - 1]) if n and ended[0] == "max_bytes" else None
            return ended[0], ended[1], then
    return None, None, None


def task_cancelled_by(log: Path, shard: str) -> str | None:
    """What SLURM's line in a task log says cancelled the latest run of ``shard`` (``K/N``)
    there: ``scancel``, or the reason it names (``time limit``); None when no such line
    follows its last start line (or the log cannot be read).

    For the task itself: cut short by its time limit, it says ``interrupted`` and names its
    ``--array=K`` resubmission, which the same ``#SBATCH --time`` would cut short again. It
    reads back up to its log's last :data:`_OWN_LOG_MAX_BYTES`, not status's 1 MiB."""
    return _ended_silently(log, shard, _OWN_LOG_MAX_BYTES).cancelled


def task_requeued(log: Path) -> bool:
    """Whether SLURM's line after a task log's last start line says it cancelled the task
    for a reason it requeues tasks for (:data:`harvester.slurm.REQUEUE_REASONS`): ``JOB
    REQUEUE``, a preemption, a node failure; False for a log without a start line (in the
    part read) or that cannot be read.

    For the queue's ``COMPLETING`` tasks (:func:`harvester.slurm.script_queue`): one being
    requeued is listed so too, for a moment, and is not over. Any shard's start counts: a
    log named by its job and task is that task's."""
    from harvester.slurm import REQUEUE_REASONS, task_start_pattern

    start = task_start_pattern()
    lines, _reached = _since_last_start(log, start)
    starts = [n for n, line in enumerate(lines) if start.match(line)]
    return bool(starts) and _cancelled_by(lines[starts[-1] + 1 :]) in REQUEUE_REASONS


def _tick(line: str) -> bool:
    """Whether a task log's line is no word of the harvest's end: blank, SLURM's own line
    (:data:`_SLURMSTEPD`), a progress line (:data:`_PROGRESS_LINE`) or a warning its
    loggers wrote mid-run (:data:`_LOG_RECORD`)."""
    text = line.strip()
    return not text or bool(
        _SLURMSTEPD.match(text) or _PROGRESS_LINE.match(text) or _LOG_RECORD.match(text)
    )


def _since_last_start(
    log: Path, start: re.Pattern[str], cap: int = _LOG_MAX_BYTES
) -> tuple[list[str], bool]:
    """The lines of a task log's end, read back far enough to hold its last start line
    (``start``, :func:`harvester.slurm.task_start_pattern`), and whether the read reached
    it (or the log's head): its last :data:`_LOG_TAIL_BYTES`, then back to four times as
    much while that holds none, up to ``cap`` bytes (:data:`_LOG_MAX_BYTES`); of a part of
    the log, its whole lines alone. ``([], True)`` when it cannot be read; the lines of its
    last ``cap`` bytes and False when they hold no start line and the log is longer.

    Why grow: a task that wrote more than the tail (thousands of failures, warnings) before
    its last line had its start line out of it, and how it ended (its budget, the server
    down, ``interrupted``), said at the end, was unknown: status said nothing of it. Why a
    small cap, each byte read once: status reads the log of every task with work left, and
    one without a start line near its end was read up to 21 MB (16 MiB, re-read at each
    step); past the cap, the caller says the start was not found.
    """
    size = 0
    data = b""  # (the log's last ``size`` bytes, and the one before them where there is one)
    try:
        with log.open("rb") as handle:
            end = handle.seek(0, 2)
            while True:
                size = min(max(_LOG_TAIL_BYTES, size * 4), cap, end)
                begin = max(0, end - size - 1)
                handle.seek(begin)
                data = handle.read(end - begin - len(data)) + data
                lines = data.decode("utf-8", errors="replace").splitlines()
                if begin == 0:  # the whole log
                    return lines, True
                # The byte before the window makes lines[0] a line cut where the window
                # starts, or empty where a line starts there: the lines after it are whole,
                # a start line at the window's first byte too (it was said not found).
                whole = lines[1:]
                if any(map(start.match, whole)):
                    return whole, True
                if size >= cap:
                    return whole, False
    except OSError:
        return [], True


#: What a task's line adds to its budget's stop for what then ended its walk (its log's
#: note: :attr:`TaskProgress.after_budget`).
_TASK_THEN: dict[str | None, str] = {
    None: "",
    "server_down": ", then the server went down as it looked for work left",
    "session_ended": (
        ", then its session ended as it looked for work left: log in again before the resume"
    ),
    "credentials_refused": (
        ", then the server refused its credentials as it looked for work left: renew them "
        "before the resume"
    ),
}


#: The ends after a budget (:attr:`TaskProgress.after_budget`) whose resume needs a new
#: login or new credentials first.
_NEW_LOGIN = frozenset({"session_ended", "credentials_refused"})


def _budget_spent(task: TaskProgress, running: AbstractSet[int], queued: AbstractSet[int]) -> bool:
    """Whether a task's line says its --max-bytes budget stopped it: ended so, and neither
    running nor queued again."""
    return task.ended == "max_bytes" and task.task not in running and task.task not in queued


def _running_tasks(running: list[str], n: int) -> set[int]:
    """The tasks K of an array of ``n`` whose shard ``K/n`` holds a run lock now (of
    :attr:`StatusReport.running`): the task lines say "running", and none is called killed."""
    return {
        int(m.group(1))
        for r in running
        if (m := _RUNNING_SHARD.match(r)) is not None and int(m.group(2)) == n
    }


def _task_ends(
    report: StatusReport, slurm: SlurmStatus, queue: Queue | str, work: WorkLeft | None = None
) -> tuple[list[SilentEnd], list[TimeLimited]]:
    """The tasks of DIR's job array (harvest.sbatch's) with work left (those its resume
    names), not running here (run lock), whose newest log ends without a word
    (:func:`_ended_silently`), and which ``queue`` (:func:`harvester.slurm.script_queue`,
    asked once by status) does not hold again: see :class:`SilentEnd`; and those of them
    whose log says their time limit cancelled them though the harvest spoke after it
    (:class:`TimeLimited`). ``work``: its selection's own work left, in a folder of several
    selections' scripts (:func:`_work_by_script`); else the folder's (``report.work_left``)."""
    if slurm.logs is None:
        return [], []
    if report.array_scripts and work is None:  # (its selection has none: nothing to name)
        return [], []
    return _array_task_ends(report, slurm.tasks, slurm.log_files, queue, None, work)


def _more_scripts_task_ends(
    report: StatusReport,
    out_dir: Path,
    scripts: list[Path],
    every_log: list[tuple[float, str]],
    queues: list[Queue] | str,
    work: Mapping[str, WorkLeft],
) -> None:
    """:func:`_task_ends` of each script of a folder of several selections' but
    harvest.sbatch (``scripts[1:]``), from its own jobs' logs and queue, added to the
    report's. Why: a task of harvest-2.sbatch's array killed (a node crash, its time
    limit) got no line: only harvest.sbatch's were looked at (found by review). ``work``:
    each script's selection's own work left (:func:`_work_by_script`)."""
    from harvester.slurm import script_array

    for at, script in enumerate(scripts[1:], 1):
        array = script_array(out_dir, script)
        if array is None or script.name not in work:
            continue
        queue = queues if isinstance(queues, str) else queues[at]
        logs = _own_script_logs(every_log, script.name)
        ends, timed = _array_task_ends(
            report, array[0], logs, queue, str(script), work[script.name]
        )
        report.silent_ends += ends
        report.time_limited += timed


def _array_task_ends(
    report: StatusReport,
    n: int | None,
    log_files: list[tuple[float, str]],
    queue: Queue | str,
    script: str | None,
    work: WorkLeft | None = None,
) -> tuple[list[SilentEnd], list[TimeLimited]]:
    """:func:`_task_ends` of one script's array of ``n`` tasks, from its own jobs' logs
    (``log_files``) and queue: ``script`` None for harvest.sbatch, else its path (said
    on its tasks' lines); ``work``: its selection's work left (else the folder's)."""
    work = work if work is not None else report.work_left
    if n is None or work is None:
        return [], []
    running = _running_tasks(report.running, n)
    ends: list[SilentEnd] = []
    timed: list[TimeLimited] = []
    candidates = set(range(n)) - running
    # (the plan's share of each task, where the plan is this script's array's)
    own = report.plan is not None and report.plan_script == script
    shares = {t.task: t for t in report.plan.tasks} if own and report.plan is not None else {}
    # (a task queued again: its newest log is an earlier job's, whose end is not its own)
    waiting = set() if isinstance(queue, str) or isinstance(queue.tasks, str) else queue.tasks
    for task, log in sorted(_newest_task_logs(log_files, candidates).items()):
        said = _ended_silently(Path(log), f"{task}/{n}")
        m = _TASK_LOG.fullmatch(Path(log).name)
        if m is None:
            continue
        share = shares.get(task)
        if share is not None and share.complete < share.images and task not in waiting:
            share.ended, share.max_bytes = said.ended, said.max_bytes
            share.start_unread = said.start_unread
            share.after_budget = said.after_budget
            share.not_started = said.not_started
        job = f"{m.group(1)}_{task}"
        if said.silent:
            ends.append(
                SilentEnd(
                    task,
                    job,
                    log,
                    out_of_memory=said.out_of_memory,
                    cancelled=said.cancelled,
                    script=script,
                )
            )
        elif said.cancelled == "time limit":
            timed.append(TimeLimited(task, job, log, script))
    if ends or timed:  # (only then: the shards with work may take a pass over every pending image)
        left = {p[0] for s in work.shards(n) if (p := shard_pair(s)) is not None and p[1] == n}
        ends = [e for e in ends if e.task in left]  # a quiet task that finished says nothing
        timed = [t for t in timed if t.task in left]
    queued = queue if isinstance(queue, str) else queue.tasks
    if not isinstance(queued, str):  # (a task queued again is not cut short yet)
        timed = [t for t in timed if t.task not in queued]
    return _silent_ends(ends, queue), timed


def _silent_ends(ends: list[SilentEnd], queue: Queue | str) -> list[SilentEnd]:
    """Of the tasks whose log ends without a word, those ``queue`` does not hold again,
    each told whether it was killed and what tells how it ended."""
    if not ends:
        return []
    from harvester.slurm import REQUEUE_REASONS

    queued = queue if isinstance(queue, str) else queue.tasks
    if isinstance(queued, str):
        for end in ends:
            end.queue_error = queued
            # SLURM's CANCELLED line in its log is proof the task ended, whatever the queue:
            # "still running on another node, or killed" was a guess where none was needed.
            # Not one cancelling it to queue it again (a requeue, a preemption): it may run.
            if end.cancelled is not None and end.cancelled not in REQUEUE_REASONS:
                end.killed = True
    else:
        ends = [e for e in ends if e.task not in queued]  # running, or queued again
        for end in ends:
            end.killed = True
    _name_what_tells(ends, controller=not isinstance(queue, str))
    return ends


def _name_what_tells(ends: list[SilentEnd], *, controller: bool) -> None:
    """Each end's ``see``: ``sacct`` where it answers here, asked once (a cluster without
    accounting refuses it at once, whatever the job); else ``scontrol show job`` for the
    tasks the controller still lists (``controller``: it answered ``scontrol ping``), one
    call per array. Status said "see sacct" on clusters where sacct cannot answer."""
    from harvester.slurm import listed_tasks, sacct_command, sacct_unanswered

    if not ends:
        return
    why = sacct_unanswered(ends[0].job)
    arrays = dict.fromkeys(e.job.partition("_")[0] for e in ends)
    listed = (
        {f"{a}_{k}": said for a in arrays for k, said in listed_tasks(a).items()}
        if why and controller
        else {}
    )
    for end in ends:
        end.no_sacct = why
        if why is None:
            end.see = [sacct_command(end.job)]
        elif end.job in listed:
            end.see = [f"scontrol show job {end.job}"]
            state, reason = listed[end.job]
            if state:
                end.slurm_state = f"{state} ({reason})" if reason else state


def _what_tells(end: SilentEnd) -> str:
    """What a killed task's line says to look at: ``sacct`` where it answers here, else
    its log, and ``scontrol show job`` while the controller lists the task, with why not
    ``sacct``."""
    if end.no_sacct is None and end.see:
        return end.see[0]
    also = f" and {end.see[0]}" if end.see else ""
    return f"its log {end.log}{also} ({end.no_sacct})"


def _slurm_state_text(end: SilentEnd) -> str:
    """``; scontrol show job says FAILED (JobLaunchFailure): killed by a signal ...``: the
    task's end as SLURM says it, where status asked, with what it means for a harvest task
    (:func:`harvester.slurm.state_words`); "" where it was not asked."""
    from harvester.slurm import state_words

    if end.slurm_state is None:
        return ""
    state, _, reason = end.slurm_state.partition(" (")
    words = state_words(state, reason.rstrip(")"))
    return f"; scontrol show job says {end.slurm_state}" + (f": {words}" if words else "")


def _run_order(run: Mapping[str, Any]) -> float:
    """When a run record's run started (its ``order``, else ``started``): 0 for neither."""
    when = run.get("order", run.get("started"))
    return float(when) if isinstance(when, int | float) and not isinstance(when, bool) else 0.0


def _split_counts(state: JournalState, slurm: SlurmStatus | None) -> frozenset[int]:
    """The shard counts N of DIR's splits (its runs' ``--shard K/N``) and of its job array:
    those a resume may name shards of."""
    counts = {n for run in state.runs if (n := _shard_count(run.get("shard"))) is not None}
    if slurm is not None and slurm.tasks is not None:
        counts.add(slurm.tasks)
    return frozenset(counts)


def _shard_count(shard: object) -> int | None:
    """The N of a run record's ``shard`` (``"K/N"``), None for none or another form."""
    pair = shard_pair(shard) if isinstance(shard, str) else None
    return pair[1] if pair is not None else None


def _count_plan(
    out_dir: Path,
    info: PlanInfo,
    state: JournalState,
    wanted: _Wanted,
    plan_kinds: frozenset[str],
    split_ns: frozenset[int] = frozenset(),
    array_tasks: int | None = None,
    gone: AbstractSet[int] = frozenset(),
) -> tuple[PlanStatus, dict[str, int], set[tuple[str, int]], set[tuple[int, int]]]:
    """One pass over the plan's ids: its :class:`PlanStatus`, of ``plan_kinds`` (what
    harvesting the plan fetches: the plan's kinds, or those its harvest was given); per
    kind the artifacts the plan adds to the pending ones counted from the journals (its
    kinds for the images the journals hold, :meth:`_Wanted.kinds` besides, and every kind
    asked of the images no run has journaled); the failed (kind, id) pairs harvesting
    the plan asks for again; and for each N of ``split_ns`` the shards ``(K, N)`` holding
    an image no run has journaled, or one journaled with some of the plan's kinds still to
    fetch (a task that never ran, or was killed or cancelled mid-image: its resume names
    it, see :class:`WorkLeft`; the journals' pass does not count a plan's kinds as work).
    With ``array_tasks`` (the N of DIR's job array), the plan's share of each task
    (:attr:`PlanStatus.tasks`). The images of ``gone``
    (:mod:`harvester.gone`) are asked for by no task: neither failed nor pending."""
    planned: list[str] = [a.value for a in Artifact if a.value in plan_kinds]
    plan = PlanStatus(images=info.images, artifacts=planned)
    tasks = [TaskProgress(k) for k in range(array_tasks or 0)]
    extra: dict[str, int] = {}
    failed_wanted: set[tuple[str, int]] = set()
    unreached: dict[int, set[int]] = {n: set() for n in split_ns}
    # (an N whose every shard is named needs no more hashing; the array's is counted whole)
    open_ns = set(split_ns) - {len(tasks)}
    done, failed, images = state.done, state.failed, state.images
    # plan_kinds less the kinds the journals' pass counted, by the latter (a few distinct sets)
    uncounted: dict[frozenset[str], frozenset[str]] = {}
    for image_id in iter_plan_ids(out_dir):
        ref = images.get(image_id)
        reached = ref is not None
        place: int | None = None  # (its shard_hash, hashed once for every N)
        if reached:
            wanted.in_harvested_plan(image_id)
        plan.reached += reached
        finished = failures = pending = 0
        for kind in planned:
            key = (kind, image_id)
            if key in done:
                finished += 1
            elif image_id in gone:
                continue
            elif key in failed:
                failures += 1
                failed_wanted.add(key)
            else:
                pending += 1
        plan.pending += pending
        if open_ns and (not reached or pending):
            # Work no journal names as such: not reached, or reached and cut short
            # mid-image (a task killed or cancelled as it fetched a stack's planes).
            place = shard_hash(image_id)
            for n in list(open_ns):
                unreached[n].add(place % n)
                if len(unreached[n]) == n:
                    open_ns.discard(n)
        plan.done += finished
        plan.failed += failures
        # (a gone image is no work left: no task asks for it again; settled, not missing)
        settled = finished == len(planned) or image_id in gone
        plan.complete += settled
        plan.gone += finished < len(planned) and image_id in gone
        if tasks:
            if place is None:
                place = shard_hash(image_id)
            task = tasks[place % len(tasks)]
            task.images += 1
            task.reached += reached
            task.complete += settled
            task.failed += failures > 0
            task.partial += reached and not settled and not failures
        # Reached: the journals' pass counted wanted.kinds already; unreached: what the
        # sets naming the image by id ask, and the plan's kinds.
        if reached:
            counted = wanted.kinds(image_id, ref)
            more = uncounted.get(counted)
            if more is None:
                more = uncounted[counted] = plan_kinds - counted
        else:
            more = plan_kinds | wanted.claimed_kinds(image_id)
        if image_id in gone:
            continue
        for kind in more:
            key = (kind, image_id)
            if key not in done and key not in failed:
                extra[kind] = extra.get(kind, 0) + 1
    plan.tasks = tasks
    left = {(k, n) for n, ks in unreached.items() for k in ks}
    left |= {(t.task, len(tasks)) for t in tasks if t.reached < t.images or t.partial}
    return plan, extra, failed_wanted, left


@dataclass
class _Tagged:
    """The journals folded with each record's writer, and what reading them found amiss."""

    state: JournalState
    #: journal file name -> damaged lines skipped (see :class:`harvester.journal.ReadMark`)
    damaged_lines: dict[str, int]
    #: journal file name -> the writer its records belong to, when that is not its own name
    misnamed: dict[str, str]
    #: the journal name whose record of a done key the state kept
    done_source: Callable[[tuple[str, int]], str]
    #: the journals some of whose done records are tagged with another writer than theirs
    retagged: set[str]
    #: journal file name -> its own writer (:func:`harvester.journal.writer_of`)
    owners: dict[str, str]

    def done_writer(self, key: tuple[str, int], rec: Mapping[str, Any]) -> str:
        """The writer a kept done record is counted for: its tag where it has one (read
        after its journal's run record named another writer), else its journal's own."""
        source = self.done_source(key)
        if source in self.retagged:
            tag = rec.get("_writer")
            if tag is not None:
                return str(tag)
        return self.owners[source]


def _load_tagged(out_dir: Path) -> _Tagged:
    """Fold every journal, tagging each record with the writer (journal) it came from.

    A journal whose run record names another writer (a copy, ``foo-copy.jsonl``) tags its
    records with that writer: they count once, as that writer's, instead of making a phantom
    writer with the same run and counts.

    A done record is tagged only where that differs from its journal's own writer (after
    such a run record): the others are told by their journal (:meth:`_Tagged.done_writer`),
    so that nearly all of a big folder's records stay on the fold's fast path.
    """
    damaged: dict[str, int] = {}
    runs: list[tuple[str, dict[str, Any]]] = []
    retagged: set[str] = set()
    owners: dict[str, str] = {}

    def records(path: Path) -> Iterator[dict[str, Any]]:
        own = writer = owners[path.name] = writer_of(path)
        mark = ReadMark()
        for rec in read_journal(path, mark):
            if rec.get("rec") == "run":
                runs.append((path.name, rec))
                named = rec.get("writer")
                if writer == own and isinstance(named, str) and named:
                    writer = named  # the first run record says whose records these are
            if writer != own:
                rec["_writer"] = writer
                retagged.add(path.name)
            elif rec.get("rec") != "done":
                rec["_writer"] = writer
            yield rec
        if mark.damaged:
            damaged[path.name] = mark.damaged

    state, done_source = JournalState.from_journals(
        (path.name, records(path)) for path in journal_files(out_dir)
    )
    misnamed = journals_of_other_writers(runs)
    return _Tagged(state, damaged, misnamed, done_source, retagged, owners)


def _run_counts() -> dict[str, int]:
    """A run's counts in ``--json``'s ``runs``: files done and failed, every byte it wrote,
    study objects apart, and the failed files of gone images, of forgotten target sets and
    of kinds no resume asks for any more apart, as a writer's (:class:`WriterStatus`)."""
    return {
        "done": 0,
        "failed": 0,
        "bytes": 0,
        "study_done": 0,
        "study_failed": 0,
        "gone": 0,
        "forgotten": 0,
        "not_asked": 0,
    }


def _count_done(
    report: StatusReport,
    w: WriterStatus,
    kind: str,
    done_rec: Mapping[str, Any],
    size: int,
    times: int = 1,
) -> None:
    """``times`` done records of one writer, run and kind (``done_rec`` the first of them,
    ``size`` their bytes) in the table's row, its writer's line and its run's counts.
    Counted by such groups, not record by record: a folder has a few groups and may hold
    millions of records."""
    ks = report.kinds.setdefault(kind, KindStatus())
    ks.done += times
    ks.bytes += size
    w.count(kind, times=times)
    w.bytes += size
    run = report.runs.setdefault(str(done_rec.get("run")), _run_counts())
    run["study_done" if kind in STUDY_KINDS else "done"] += times
    run["bytes"] += size


@dataclass(slots=True)
class _Tally:
    """Done records of one writer, run and kind: the first, how many, their bytes."""

    first: Mapping[str, Any]
    times: int
    size: int


def _names_of_one_file(
    out_dir: Path, state: JournalState
) -> tuple[set[tuple[str, Any]], set[tuple[str, Any]]]:
    """Which ``paths`` names are one file, told by the files themselves: (the done records
    whose file was found, those of them whose file an earlier record's name is too).

    Why: a record's ``"linked"`` mark says how its file was made, not what it is now: the
    links 0.1.21 made carry none (counted at full size), and a copy that did not keep hard
    links (``rsync`` without ``-H``) made every marked name a file of its own (counted as
    nothing). Only the names of records holding the same bytes as another record can be one
    file, so only those are looked at (a plate's; none in a folder of single-image
    filesets); a name of a file outside DIR (a user's own hard link) is no record's, so it
    counts for nothing here. A file not found is left to its mark.

    Read a folder at a time (:func:`_file_ids`), not a stat a name: a million images'
    names were a million stats, each a round trip to the server on a cluster's network
    filesystem."""
    paths = Artifact.PATHS.value
    held = Counter(
        getattr(rec, "sha256", None) for (kind, _), rec in state.done.items() if kind == paths
    )
    wanted: dict[str, set[str]] = {}  # folder (relative) -> the names looked at in it
    names: list[tuple[tuple[str, Any], str, str]] = []
    for key, rec in state.done.items():
        if key[0] != paths or held[getattr(rec, "sha256", None)] < 2:
            continue
        folder, _, name = str(rec.get("path")).rpartition("/")
        wanted.setdefault(folder, set()).add(name)
        names.append((key, folder, name))
    ids = {folder: _file_ids(out_dir, folder, want) for folder, want in wanted.items()}
    found: set[tuple[str, Any]] = set()
    others: set[tuple[str, Any]] = set()
    files: set[tuple[int, int]] = set()
    for key, folder, name in names:
        file = ids[folder].get(name)
        if file is None:
            continue  # (not found, or a symlink put in its place: left to its mark)
        found.add(key)
        if file in files:
            others.add(key)
        files.add(file)
    return found, others


def _file_ids(out_dir: Path, folder: str, names: AbstractSet[str]) -> dict[str, tuple[int, int]]:
    """The (device, inode) of each of ``names`` that is a regular file in ``folder`` (a
    path relative to DIR; none where it is not a safe one, or cannot be read).

    The inodes are the folder listing's (no stat a name), trusted where one name's stat
    agrees (a filesystem whose listing gives other numbers than its stat, as overlayfs may
    in some set-ups: each name is then stat'ed)."""
    try:
        where = resolve(out_dir, folder)
        listed: dict[str, int] = {}
        with os.scandir(where) as entries:
            for entry in entries:
                if entry.name in names and entry.is_file(follow_symlinks=False):
                    listed[entry.name] = entry.inode()
    except (OSError, ValueError):
        return {}
    if not listed:
        return {}
    first = next(iter(listed))
    with contextlib.suppress(OSError):
        st = os.lstat(where / first)
        if stat.S_ISREG(st.st_mode) and st.st_ino == listed[first]:
            return {name: (st.st_dev, inode) for name, inode in listed.items()}
    ids = {}
    for name in listed:
        with contextlib.suppress(OSError):
            st = os.lstat(where / name)
            if stat.S_ISREG(st.st_mode):
                ids[name] = (st.st_dev, st.st_ino)
    return ids


def _held_by_links_alone(
    state: JournalState,
    linked: dict[Any, Mapping[str, Any]],
    one_file: AbstractSet[tuple[str, Any]],
    others: AbstractSet[tuple[str, Any]],
) -> dict[Any, Mapping[str, Any]]:
    """The contents (SHA-256 -> a linked record) that only linked names hold: the name first
    stored as a file of its own was removed and fetched again as a link, so no record counts
    the file's bytes. A second pass over the ``paths`` records, only where there are links."""
    if not linked:
        return {}
    left = dict(linked)
    paths = Artifact.PATHS.value
    for key, done_rec in state.done.items():
        if key[0] != paths:
            continue
        # (a record counts its file's bytes: see _names_of_one_file and collect_status)
        if key not in others if key in one_file else done_rec.get("linked") is not True:
            left.pop(done_rec.get("sha256"), None)
            if not left:
                break
    return left


def _planner_hosts(hosts: list[str]) -> str:
    """`` (on host n2, as its plan.tmp-* folder says; ...)`` for the planners of other
    hosts than this one, whose process status cannot see ("" for this host's alone)."""
    import socket

    others = [host for host in hosts if host != socket.gethostname()]
    if not others:
        return ""
    return (
        f" (on host {', '.join(others)}, as its {PLAN_DIRNAME}.tmp-* folder says; if it "
        "stopped there, a plan made again on that host clears that folder)"
    )


def collect_status(
    out_dir: Path, *, ask_queue: bool = False, scrub: bool = True, by_files: bool = True
) -> StatusReport:
    """:func:`_collect_status`, read once more where a run that held a lock of DIR as the
    journals were read ended before the report was made.

    Why: such a run's last records (its walk "finished") come after status read them, and
    its lock is free when status looks for the runs going on: status said of a run ending
    as it read "walk ... has not finished: stopped" and "to resume: ...", which was true
    neither then nor after. Read again once the run has ended, the folder is as it left it.
    """
    held = {name for name, _text in held_run_locks_named(Path(out_dir))}
    report = _collect_status(out_dir, ask_queue=ask_queue, scrub=scrub, by_files=by_files)
    if held and not held <= {name for name, _text in held_run_locks_named(Path(out_dir))}:
        report = _collect_status(out_dir, ask_queue=ask_queue, scrub=scrub, by_files=by_files)
    return report


def _collect_status(
    out_dir: Path, *, ask_queue: bool = False, scrub: bool = True, by_files: bool = True
) -> StatusReport:
    """Aggregate every journal of DIR (all shards and runs) into a :class:`StatusReport`.

    ``by_files``: tell the names of one file by the files (:func:`_names_of_one_file`: a
    stat of each ``paths`` file whose bytes another record holds); False where no byte
    count is read (a harvest's own look at what is left, which stats no stored file), the
    done records' marks then saying which names are links.

    ``ask_queue``: also ask SLURM which jobs of DIR's script are queued (``scontrol ping``,
    then ``squeue``): only ``harvester status`` says so; a resume that counts the work left
    has no use for it. ``scrub``: rewrite a saved run record that holds a token in the clear
    (:func:`~harvester.store.scrub_saved_credentials`); False for a dry run's resume, which
    writes nothing (a refused one rewrote them)."""
    out_dir = Path(out_dir)
    slurm = read_slurm_script(out_dir) if out_dir.is_dir() else None
    marker = (out_dir / MARKER_NAME).exists()
    marker_note: str | None = None
    if slurm is None or marker or (out_dir / JOURNALS_DIR).exists():
        # else: prepared by `harvester slurm`, not started. A marker that no longer parses
        # in a folder with journals is a note, not a refusal (see harvester.verify).
        marker_note = damaged_marker(out_dir)
    tagged = _load_tagged(out_dir)
    state = tagged.state
    if scrub:
        scrub_saved_credentials(out_dir, state.runs)  # a token saved before 0.1.13
    # A plan that cannot be read (damaged, a newer format) must not hide the harvest itself:
    # status reads the journals as it did before it counted plans, and says what is wrong.
    plan_error: str | None = None
    plan_at: Path | None = None
    info: PlanInfo | None = None
    try:
        found = _plan_info(out_dir, slurm.from_plan if slurm is not None else None)
    except UsageError as exc:
        plan_error = str(exc)
    else:
        if found is not None:
            plan_at, info = found
    planned = list(info.artifacts) if info is not None else None
    if slurm is not None and slurm.artifacts and not planned:
        planned = slurm.artifacts  # what every task will ask for
    # DIR's saved configs, each read once for the kinds, the label keys and the target sets.
    saved = SavedConfigs()
    selected, source = selected_kinds(out_dir, state, planned, saved=saved)
    report = StatusReport(out_dir=str(out_dir), selected=selected, saved_configs=saved)
    report.run_orders = run_orders(state)
    if source == "journals":  # no run's saved config names them: say where they came from
        report.selected_from = source
    if marker_note is not None:
        report.notes.append(marker_note)
    if slurm is not None and slurm.elsewhere is not None:
        from harvester.slurm import moved_script_note

        report.notes.append(moved_script_note(out_dir, slurm.elsewhere))
    # One listing of the queue (scontrol ping, squeue -r) for the jobs queued, the index
    # job (a missing index.csv's note) and, below, the tasks a silent log is checked
    # against: each call may take seconds on a login node.
    # A folder of several selections' scripts: the one listing holds each script's jobs.
    from harvester.array_scripts import folder_scripts

    array_files = folder_scripts(out_dir) if slurm is not None else []
    several = len(array_files) >= 2
    queues: list[Queue] | str = "not asked"
    if ask_queue and slurm is not None and (several or slurm.elsewhere is None):
        from harvester.slurm import INDEX_SCRIPT_NAME, scripts_queues

        listed = array_files if several else [Path(slurm.script)]
        queues = scripts_queues(listed, out_dir / INDEX_SCRIPT_NAME)
    queue: Queue | str | None = None
    if ask_queue and slurm is not None and slurm.elsewhere is None:
        queue = queues if isinstance(queues, str) else queues[0]
        report.queue_asked = True
        report.queued = [] if isinstance(queue, str) else queue.jobs
        if not isinstance(queue, str):
            report.queued_owners = {j: o for j, o in queue.owners.items() if j in queue.jobs}
            report.queued_reasons = dict(queue.reasons)
        report.queue_unknown = queue if isinstance(queue, str) else None
        if not isinstance(queue, str) and not isinstance(queue.tasks, str):
            report.queued_tasks = queue.tasks
            report.running_tasks = dict(queue.running)
    if slurm is not None:  # (a folder of several selections: each script's state)
        from harvester.array_scripts import array_scripts

        report.array_scripts = array_scripts(out_dir, array_files, state.runs, queues)
        if report.array_scripts:  # (its tasks' lines from its own jobs' logs alone)
            every_log = slurm.log_files
            slurm.log_files = _own_script_logs(every_log, Path(slurm.script).name)
    unjournaled = has_unjournaled_files(out_dir, state)
    report.notes += folder_notes(
        out_dir,
        state,
        unjournaled=unjournaled,
        damaged_lines=tagged.damaged_lines,
        misnamed=tagged.misnamed,
        index_jobs=[] if queue is None or isinstance(queue, str) else queue.index_jobs,
        saved=saved,
    )
    try:
        read_label_keys_record(out_dir)
    except DamagedLabelKeysError as exc:
        report.notes.append(damaged_label_keys_note(exc, out_dir))
    report.label_keys = list(remembered_label_keys(out_dir, state, warn=False, saved=saved))
    try:
        pin = read_pin(out_dir)
    except DamagedPinError as exc:
        report.notes.append(f"{exc}: index writes use ranks as label_ids until it is pinned again")
    else:
        if pin is not None:
            report.label_ids_pinned = {"from": pin.source, "labels": len(pin.ids)}
    spec = folder_split(out_dir, report.notes)
    if spec is not None:
        report.split = {"split": spec.text, "split_by": spec.by, "split_seed": spec.seed}
    # Lists the folders of images/ (no stat of a file): a fraction of reading the journals.
    report.notes += stray_notes(out_dir, find_stray_temps(out_dir), 0, None, reporting_only=True)
    report.images = len(state.images)
    # Marks a harvest has since answered with a new file (done after the mark) are over:
    # counted, they said a healthy folder held files marked bad.
    report.invalid = len(state.invalid.keys() - state.done.keys())
    report.plan_error = plan_error
    report.marker = marker
    report.slurm = slurm
    if plan_at is not None and plan_at != out_dir:
        report.plan_path = str(plan_at)
    # `harvester plan` journals its start and study files too; a harvest run is any other.
    report.started = any(
        not str(run.get("_writer") or run.get("writer") or "").endswith(PLAN_WRITER_SUFFIX)
        for run in state.runs
    )
    plan_runs = [
        run
        for run in state.runs
        if str(run.get("_writer") or run.get("writer") or "").endswith(PLAN_WRITER_SUFFIX)
    ]
    newest = max(plan_runs, key=_run_order, default=None)  # (a plan made again: --force)
    argv = newest.get("argv") if newest is not None else None
    if isinstance(argv, list) and all(isinstance(word, str) for word in argv):
        report.plan_run_flags = run_flags_in(argv)
    if info is not None:
        report.plan_config = plan_config_file(info)
    if info is None and plan_error is None and plan_runs:
        report.plan_making = planners_running(out_dir)
        report.plan_stopped = not report.plan_making
    writers: dict[str, WriterStatus] = {}
    for run in state.runs:
        name = str(run.get("_writer") or run.get("writer"))
        shard = run.get("shard")
        if shard is None and (m := _SHARD_IN_WRITER.search(name)):
            shard = f"{m.group(1)}/{m.group(2)}"
        writers[name] = WriterStatus(name, run.get("run"), shard, run.get("started"))

    # A done record verify journaled again (a file marked bad, then restored) counts for
    # the writer of the run that made it: verify's journal holds no run of its own.
    run_writers = {str(w.run): name for name, w in writers.items() if w.run is not None}

    def writer(rec: Mapping[str, Any], tag: str | None = None) -> WriterStatus:
        """The line of a record's writer (``tag``: a done record's, else its own tag)."""
        name = str(rec.get("_writer")) if tag is None else tag
        if name not in writers and str(rec.get("run")) in run_writers:
            name = run_writers[str(rec.get("run"))]
        if name not in writers:
            writers[name] = WriterStatus(name, rec.get("run"))
        return writers[name]

    # The contents of linked names whose file was not found (their SHA-256): counted once,
    # below, where no name stored as a file of its own holds them.
    linked: dict[Any, Mapping[str, Any]] = {}
    one_file, others = _names_of_one_file(out_dir, state) if by_files else (set(), set())
    # (writer, run, kind) -> the done records of that group: counted once a group, below
    tallies: dict[tuple[str, str, str], _Tally] = {}
    for key, done_rec in state.done.items():
        kind = key[0]
        size = int(done_rec.get("size") or 0) + sum(
            int(f.get("size") or 0) for f in done_rec.get("files", ())
        )
        if key in one_file:
            is_link = key in others
        else:
            is_link = kind == Artifact.PATHS.value and done_rec.get("linked") is True
            if is_link:
                linked.setdefault(done_rec.get("sha256"), done_rec)
        if is_link:
            # A name of another image's file: its bytes are that file's, counted there.
            report.linked += 1
            report.linked_bytes += size
            size = 0
        group = (tagged.done_writer(key, done_rec), str(done_rec.get("run")), kind)
        tally = tallies.get(group)
        if tally is None:
            tallies[group] = _Tally(done_rec, 1, size)
        else:
            tally.times += 1
            tally.size += size
    # (groups in the order of their first record: the table's rows, writers and runs too)
    for (name, _run, kind), tally in tallies.items():
        _count_done(report, writer(tally.first, name), kind, tally.first, tally.size, tally.times)
    for alone in _held_by_links_alone(state, linked, one_file, others).values():
        size = int(alone.get("size") or 0)
        report.linked_bytes -= size
        report.kinds[Artifact.PATHS.value].bytes += size
        alone_key = (alone["kind"], alone["id"])
        writer(alone, tagged.done_writer(alone_key, alone)).bytes += size
        report.runs[str(alone.get("run"))]["bytes"] += size
    # What the suggested resume fetches, set by set (not every image by the newest run's
    # kinds): pending and failed count that, so that status and the resume agree.
    # Read once, for the sets' kinds and for the resume line.
    from harvester.config import recorded_target_sets

    every = (
        recorded_target_sets(out_dir, saved=saved, forgotten=True) if source == "config" else None
    )
    recorded_sets, gone = _live_and_forgotten(out_dir, every)
    # Images `forget --gone-ids-from` recorded: no harvest asks for them (counted apart).
    # (DIR's gone file read once: the images it treats as gone, their failures, the ids)
    recorded_gone = read_gone(out_dir)
    gone_images = _gone_here(out_dir, recorded_gone, state, report.run_orders, saved)
    failure_gone = _failure_gone(out_dir, recorded_gone, gone_images, saved)
    report.forgotten = [entry.targets for _recorded, entry in gone]
    if report.array_scripts and gone:  # (a selection's script whose set is forgotten)
        from harvester.array_scripts import mark_forgotten

        mark_forgotten(report.array_scripts, (recorded for recorded, _entry in gone))
    servers = _forgotten_servers(out_dir, every or [], gone)
    report.forgotten_servers = [server for server, _named in servers]
    report.forgotten_named = [named for _server, named in servers]
    sets = _target_kinds(recorded_sets, plan_at) if recorded_sets is not None else []
    report.sent_session = any(
        kinds.recorded is not None and kinds.recorded.sent_session for kinds in sets
    )
    plan_forgotten = _plan_forgotten(plan_at, sets, gone)
    if plan_forgotten:
        info = None  # (not counted: its images are the forgotten set's, named below)
    # An image no set names is counted by DIR's newest set's kinds: the newest set as a
    # resume orders them (a replay ranks as the run it replayed), not the run started last.
    # A forgotten set names its images too, asking nothing of them (after the live sets: an
    # image a live set names is that set's).
    wanted = _Wanted(
        [
            *sets,
            *_forgotten_kinds(
                [recorded for recorded, _entry in gone], plan_at if plan_forgotten else None
            ),
        ],
        [a.value for a in Artifact if a.value in sets[0].kinds] if sets else selected,
    )
    # A forgotten set's invalid files are no resume's to refetch: counted apart (an image's;
    # another kind's id is no image id).
    report.invalid_forgotten = sum(
        kind in _IMAGE_KINDS and _forgotten_holder(wanted, object_id, state.images)
        for kind, object_id in state.invalid.keys() - state.done.keys()
    )
    report.invalid -= report.invalid_forgotten
    dropped_by_set: dict[int, set[str]] = {}
    report.invalid_not_asked = _dropped_kinds(
        wanted, sets, state.invalid.keys() - state.done.keys(), state.images, dropped_by_set
    )
    report.invalid -= sum(report.invalid_not_asked.values())
    extra: dict[str, int] = {}
    plan_failed: set[tuple[str, int]] = set()
    plan_unreached: set[tuple[int, int]] | None = None  # (None: no plan counted)
    # The plan's images get what harvesting it fetches: the kinds of the runs that did
    # (`--from-plan` with --artifacts fetches those), else, not harvested yet, the plan's.
    harvested = [t.kinds for t in sets if t.plan]
    plan_kinds: frozenset[str] = frozenset().union(*harvested)
    if info is not None and not harvested:
        plan_kinds = frozenset(info.artifacts)
    if info is not None and plan_at is not None:
        array_tasks = slurm.tasks if slurm is not None and slurm.elsewhere is None else None
        task_logs = slurm.log_files if slurm is not None else []
        task_queue = queue
        if report.array_scripts:  # (several scripts: the plan's is the one of its --from-plan)
            from harvester.array_scripts import plan_script
            from harvester.slurm import script_array

            at = plan_script(array_files, plan_at)
            if at not in (None, 0):  # (0: harvest.sbatch's own, counted as ever)
                array = script_array(out_dir, array_files[at])
                array_tasks = array[0] if array is not None else None
                task_logs = _own_script_logs(every_log, array_files[at].name)
                task_queue = queues if isinstance(queues, str) else queues[at]
                report.plan_script = str(array_files[at])
                if not isinstance(task_queue, str) and not isinstance(task_queue.tasks, str):
                    report.plan_queued_tasks = task_queue.tasks
                    report.plan_running_tasks = dict(task_queue.running)
        try:
            report.plan, extra, plan_failed, plan_unreached = _count_plan(
                plan_at,
                info,
                state,
                wanted,
                plan_kinds,
                _split_counts(state, slurm),
                array_tasks,
                gone_images,
            )
            _name_task_logs(
                report.plan.tasks,
                task_logs,
                None if task_queue is None or isinstance(task_queue, str) else task_queue.task_jobs,
            )
        except UsageError as exc:  # found as images.jsonl is read (its line count, last)
            report.plan_error = str(exc)
            wanted.forget_plan()
    if sets:  # the kinds some command asks for (the plan's too), in --artifacts order
        asked = frozenset().union(*(t.kinds for t in sets), plan_kinds)
        report.selected = [a.value for a in Artifact if a.value in asked]
    artifact_kinds = {a.value for a in Artifact}
    # (an image's failed file counted, or gone: -> the run of the failure the fold keeps)
    weighed: dict[tuple[str, int], str] = {}
    forgotten_runs = frozenset(run for _recorded, entry in gone for run in entry.runs)
    of_forgotten_run = _forgotten_run_failure(out_dir, wanted, forgotten_runs, every, saved)
    for (kind, object_id), rec in sorted(state.failed.items(), key=lambda kv: kv[1]["t"]):
        run = report.runs.setdefault(str(rec.get("run")), _run_counts())
        if kind in artifact_kinds and failure_gone(object_id, rec):
            # Counted below, as gone: no harvest asks for it again. Its writer's and run's
            # lines count it apart too, as the totals do (not as a failure to act on).
            # (Gone from that run's server: another server's image of that id, of a set
            # still resumed, is not: _other_servers_failed.)
            if not wanted.sets or kind in wanted.kinds(object_id, state.images.get(object_id)):
                weighed[(kind, int(object_id))] = str(rec.get("run"))
            writer(rec).gone += 1
            run["gone"] += 1
            continue
        ref = state.images.get(object_id)
        if kind in artifact_kinds and of_forgotten_run(str(rec.get("run")), kind, object_id, ref):
            # A forgotten set's run failed it, and no set of that server asks for it again:
            # counted apart, as a forgotten set's (another server's failure of that id,
            # which the fold hides, is another image's: _other_servers_failed counts it).
            weighed[(kind, int(object_id))] = str(rec.get("run"))
            writer(rec).forgotten += 1
            run["forgotten"] += 1
            continue
        not_asked = (
            wanted.sets
            and kind in artifact_kinds
            and (kind, object_id) not in plan_failed
            and kind not in wanted.kinds(object_id, state.images.get(object_id))
        )
        holder = wanted.holder(object_id, state.images.get(object_id)) if not_asked else None
        if holder is not None and holder.forgotten:
            # Its set is said to be forgotten, and how to take it back: no total counts it,
            # and its writer's and run's lines count it apart too (not as a failure to act on).
            writer(rec).forgotten += 1
            run["forgotten"] += 1
            continue
        if not_asked:
            # No resume asks for it again: not a failure to act on (said apart), and its
            # writer's and run's lines count it apart too, as the totals do.
            report.not_asked[kind] = report.not_asked.get(kind, 0) + 1
            writer(rec).not_asked += 1
            run["not_asked"] += 1
            if holder is not None:
                dropped_by_set.setdefault(sets.index(holder), set()).add(kind)
            continue
        writer(rec).count(kind, failed=True)
        run["study_failed" if kind in STUDY_KINDS else "failed"] += 1
        report.kinds.setdefault(kind, KindStatus()).failed += 1
        if kind in artifact_kinds:
            report.failed_runs.setdefault(int(object_id), set()).add(str(rec.get("run")))
            weighed[(kind, int(object_id))] = str(rec.get("run"))
        # Every failure (``--json`` is where a script gets them all); the text shows the
        # first MAX_FAILURE_SAMPLES and says how to get the rest.
        report.failures.append(
            {
                "kind": kind,
                "id": object_id,
                "status": rec.get("status"),
                "reason": rec.get("reason"),
                "url": rec.get("url"),
            }
        )
        report.failure_runs.append(str(rec.get("run")))
    report.other_servers_failed = _other_servers_failed(
        out_dir,
        weighed,
        every,
        failure_gone,
        saved,
        forgotten_runs,
    )
    for (kind, _image_id), (_run, own) in report.other_servers_failed.items():
        for _url, rec in own.values():
            # Another server's image of that id, failed too: a failed file of its own.
            writer(rec).count(kind, failed=True)
            report.runs.setdefault(str(rec.get("run")), _run_counts())["failed"] += 1
            report.kinds.setdefault(kind, KindStatus()).failed += 1
    report.not_asked_commands = _not_asked_commands(out_dir, sets, dropped_by_set)
    pending = dict.fromkeys(report.selected, 0)
    done_pairs, failed_pairs = state.done, state.failed
    work_ids = {int(f["id"]) for f in report.failures if f["kind"] in artifact_kinds}
    for image_id, ref in state.images.items():
        if image_id in gone_images:
            continue
        for kind in wanted.kinds(image_id, ref):
            key = (kind, image_id)
            if key not in done_pairs and key not in failed_pairs:
                pending[kind] = pending.get(kind, 0) + 1
                work_ids.add(image_id)
    by_sets = sum(pending.values())
    for kind in {*pending, *extra}:
        report.kinds.setdefault(kind, KindStatus()).pending = pending.get(kind, 0) + extra.get(
            kind, 0
        )
    # Those of DIR's images: an id taken for gone that DIR never had is no image of it.
    # Every server's records (not gone_images alone, which leaves out an id whose latest
    # failure is another server's): the undo pipe `status --gone-ids | forget --undo`
    # took back nothing of such an id, and the line saying the gone images was missing.
    failed_images = {i for k, i in state.failed if k in artifact_kinds}
    every_gone = {image_id for _server, image_id in recorded_gone}
    report.gone_ids = sorted(every_gone & (state.images.keys() | failed_images))
    report.gone_here = sorted(gone_images.intersection(report.gone_ids))
    report.writers = sorted(writers.values(), key=lambda w: (w.started or 0.0, w.writer))
    report.failed_ids = sorted(
        {int(f["id"]) for f in report.failures if f["kind"] in artifact_kinds}
    )
    report.failed_servers = failing_servers(
        out_dir,
        report,
        recorded_sets if recorded_sets is not None else recorded_target_sets(out_dir, saved=saved),
        saved,
    )
    if report.failures:
        from harvester.fetch import failure_advice  # only a folder with failures needs it

        done = {kind: ks.done for kind, ks in report.kinds.items()}
        advice = failure_advice(report.failures, done_by_kind=done)
        report.hints = list(advice.hints)
        report.rerun_helps = advice.rerun_helps
    stacks, planes, size, assembly = staged_planes(out_dir, lambda i: ("stack", i) in done_pairs)
    if planes:
        report.staged = {"stacks": stacks, "planes": planes, "bytes": size}
        if assembly:
            report.staged["assembly_bytes"] = assembly
    report.walks = _live_walks(unfinished_walks(state), state, gone)
    held = held_run_locks_named(out_dir)
    report.running = [text for _name, text in held]
    report.locks_unknown = bool(report.walks) and not held and others_may_hold(out_dir, None)
    report.running_progress = _running_progress(out_dir, held)
    report.unlocked_progress = _unlocked_progress(out_dir)
    _mark_running_walks(report.walks, report.running_progress)
    # (a folder of several selections' scripts: each script's own work left, by name)
    script_work: dict[str, WorkLeft] = {}
    if report.started and (report.failed or report.pending or report.walks):
        plan_unharvested = (
            bool(sets)
            and report.plan is not None
            and not any(t.plan for t in sets)
            and slurm is None
            and plan_at == out_dir
            and not plan_forgotten
        )
        sets_left = bool(by_sets or report.walks) or any(
            (f["kind"], f["id"]) not in plan_failed for f in report.failures
        )
        # Where a split still has work, so that its resume names those shards alone.
        report.work_left = WorkLeft(
            tuple(str(w["shard"]) for w in report.walks if w.get("shard")),
            wanted.of_splits(work_ids, state.images),
            unreached=plan_unreached or frozenset(),
            covers_plan=plan_unreached is not None,
        )
        if recorded_sets is None:  # (no set's kinds were read: for the resume line alone)
            recorded_sets = recorded_target_sets(out_dir, saved=saved)
        by_set = (
            _work_by_set(report.work_left, sets, wanted, work_ids, state.images, report.walks)
            if report.array_scripts
            else None
        )
        if by_set is not None:
            script_work = _work_by_script(out_dir, recorded_sets, by_set)
        report.resume = _resume_line(
            out_dir,
            plan_unharvested=plan_unharvested,
            sets_left=sets_left,
            work_left=report.work_left,
            recorded_sets=recorded_sets,
            # (None: harvest.sbatch is not harvester slurm's, or not there: looked at then)
            resubmits=slurm.resubmit_resumes() if slurm is not None else None,
            array=slurm.array if slurm is not None else None,
            by_set=by_set,
        )
        report.resume += "".join(_left_out_commands(out_dir, state, sets))
        report.forget_gone = _gone_plan_command(out_dir, report, sets, plan_failed)
    if report.forget_gone is None:
        report.forget_gone_ids = _gone_images_hint(out_dir, report)
        if queue is not None and slurm is not None:
            report.silent_ends, report.time_limited = _task_ends(
                report, slurm, queue, script_work.get(Path(slurm.script).name)
            )
        if ask_queue and report.array_scripts and slurm is not None and slurm.logs is not None:
            _more_scripts_task_ends(report, out_dir, array_files, every_log, queues, script_work)
    return report


def _work_by_set(
    work_left: WorkLeft,
    sets: list[_TargetKinds],
    wanted: _Wanted,
    work_ids: AbstractSet[int],
    images: Mapping[int, ImageRef],
    walks: list[dict[str, Any]],
) -> dict[str, WorkLeft]:
    """Each target set's own work left (by its newest run), for a folder of several
    selections' job-array scripts: the images with work that the set asks for, the walks
    of its targets that did not list everything, and a plan's unreached shards for the
    plan's set alone.

    Why: the work left was the folder's, so each selection's script was said with every
    other's shards, and a selection whose array had finished was resubmitted too. A walk of
    targets no set walks (ids read once from a pipe, a set forgotten) is no set's: it was
    every set's, and each finished array was resubmitted for its shard (found by review)."""
    from dataclasses import replace

    ids: dict[str, set[int]] = {}
    for image_id in work_ids:
        for held in wanted.asking(image_id, images.get(image_id)):
            if held.recorded is not None:
                ids.setdefault(held.recorded.run, set()).add(image_id)
    walked = {held.recorded.run: _walk_targets(held.recorded) for held in sets if held.recorded}
    shards = [(str(w["targets"]), str(w["shard"])) for w in walks if w.get("shard")]
    own: dict[str, WorkLeft] = {}
    for held in sets:
        if held.recorded is None:
            continue
        run = held.recorded.run
        own[run] = replace(
            work_left,
            walks=tuple(shard for targets, shard in shards if targets == walked[run]),
            ids=frozenset(ids.get(run, ())),
            unreached=work_left.unreached if held.plan else frozenset(),
        )
    return own


def _work_by_script(
    out_dir: Path, recorded_sets: list[RecordedRun], by_set: Mapping[str, WorkLeft]
) -> dict[str, WorkLeft]:
    """A script's name (``harvest-2.sbatch``) -> its selection's own work left
    (:func:`_work_by_set`, by the script its newest run's task command is:
    :func:`harvester.array_scripts.set_script`). A script of no live set (forgotten, never
    run) has none. Why: a task's end was checked against the folder's work left, so a
    finished quiet task of harvest-2.sbatch was named killed for harvest.sbatch's task of
    the same number, which has work left."""
    from harvester.array_scripts import set_script

    out: dict[str, WorkLeft] = {}
    for recorded in recorded_sets:
        script = set_script(out_dir, recorded)
        if script is not None and recorded.run in by_set:
            out.setdefault(script.name, by_set[recorded.run])
    return out


def _walk_targets(recorded: RecordedRun) -> str:
    """The key of the walk records of ``recorded``'s targets, as the run wrote them
    (:meth:`harvester.config.HarvestConfig.walk_targets`): its ids of each kind sorted, its
    names given as such, then an ``--ids-from`` file's path, or a pipe's with the run that
    read it (its walks are that run's alone)."""
    from harvester.config import FLAGS, NAMED_TARGETS, ids_read_once

    words: list[str] = []
    for key in ("screens", "projects", "plates", "datasets", "images"):
        values = recorded.config.get(key)
        ids = (
            sorted({int(v) for v in values if isinstance(v, int)})
            if isinstance(values, list)
            else []
        )
        for object_id in ids:
            words += [FLAGS[key], str(object_id)]
    for key, names_key in NAMED_TARGETS.items():
        names = recorded.config.get(names_key)
        for name in sorted({str(n) for n in names}) if isinstance(names, list) else []:
            words += [FLAGS[key], name]
    ids_from = recorded.config.get("ids_from")
    if isinstance(ids_from, str) and ids_from and ids_read_once(ids_from):
        words += ["--ids-from", ids_from, f"(run {recorded.run})"]
    elif isinstance(ids_from, str) and ids_from:
        words += ["--ids-from", str(Path(ids_from).absolute())]
    return shell_join(words)


def _left_out_commands(out_dir: Path, state: JournalState, sets: list[_TargetKinds]) -> list[str]:
    """For the resume line: the commands that fetch what an ``--ids-from`` set's replay
    leaves out, each an ``also:`` line (none in a folder of one server): the ids of its
    file that DIR holds from another server only, with kinds of the set not done
    (:mod:`harvester.ids_servers`), asked of that server, with a note saying which ids.

    Why: status counted those kinds as pending and said "to resume: harvester harvest
    --out DIR", whose replay of the set leaves them out again (only its warning, under
    the run's summary, named the command)."""
    from harvester.config import ALSO, commented, servers_of
    from harvester.ids_servers import left_out_commands, other_servers_ids

    runs = [t.recorded for t in sets if t.recorded is not None]
    if len(servers_of(runs)) < 2:
        return []
    lines = []
    for target in sets:
        recorded = target.recorded
        source = None if recorded is None else recorded.config.get("ids_from")
        if recorded is None or not target.ids or not isinstance(source, str):
            continue
        kinds = [kind for kind in (a.value for a in Artifact) if kind in target.kinds]
        skip = other_servers_ids(out_dir, state, recorded.base_url, recorded.run, kinds)
        if skip is None:
            continue
        for image_id in sorted(target.ids):
            skip(image_id)
        for url, count, command in left_out_commands(skip, source, out_dir, kinds):
            ids = f"{plural(count, 'id', spec=',')} of {url}"
            about = f"the {ids} that the resume leaves out of --ids-from {shell_quote(source)}"
            command, _, note = command.partition("  # ")  # (one comment: the notes joined)
            lines.append(ALSO + commented(command, "; ".join(filter(None, (about, note)))))
    return lines


def _gone_images_hint(out_dir: Path, report: StatusReport) -> str | None:
    """The hint naming the way out for DIR's failed images whose latest failures say they
    are not there (:func:`harvester.gone.gone_status`, the rule ``forget --gone-ids-from``
    records by), or whose every failure is imgData's 403 (a deleted image's answer: then
    with ``--check-server``): ``status --failed-ids`` piped into it, one server's at a time
    in a folder of two (``--base-url``: its one list is refused there). None for none.
    Why: their every resume failed again, and the pipe was in the README alone."""
    images = [f for f in report.failures if f["kind"] in _IMAGE_KINDS]
    if not images:  # (nothing to name: and harvester.fetch, ~0.1 s to import, is not loaded)
        return None
    from harvester.config import failed_ids_command
    from harvester.fetch import known_cause
    from harvester.gone import gone_among, gone_images_hint, imgdata_refused_among

    done = {kind: ks.done for kind, ks in report.kinds.items()}
    gone = gone_among(
        # (a 404 a hint explains, a thumbnail size this server lacks, is no image gone)
        (int(f["id"]), None if known_cause(f, done) else _http_status(f))
        for f in images
    )
    # imgData's 403 alone: a deleted image's answer (and a private one's); the pipe asks
    # the server about those with --check-server. Not where a set's run sent a session:
    # its 403s are as likely that session's end (the note under the hints says so).
    refused = (
        []
        if report.sent_session
        else imgdata_refused_among((int(f["id"]), f["kind"], _http_status(f)) for f in images)
    )
    if not gone and not refused:
        return None
    listing = failed_ids_command(out_dir)
    listings = [
        f"{listing} --base-url {shell_quote(s)}"
        for s in _servers_of(out_dir, report, [*gone, *refused])
    ]
    return gone_images_hint(len(gone), listings or [listing], out_dir, len(refused))


def _servers_of(out_dir: Path, report: StatusReport, ids: list[int]) -> list[str]:
    """Of ``report``'s failing servers (two or more, else none), those that failed one of
    ``ids``. Why: the pipe of a server whose failures are all 503s is refused (exit 2:
    no image of it is gone), and the hint named it too."""
    from harvester.config import failed_ids_servers, normal_base_url

    if not report.failed_servers:
        return []
    runs = {i: report.failed_runs[i] for i in ids if i in report.failed_runs}
    newest = failed_ids_servers(out_dir, runs, report.run_orders, report.saved_configs)
    theirs = {normal_base_url(url) for url in newest.values()}
    return [url for url in report.failed_servers if normal_base_url(url) in theirs]


def _http_status(failure: Mapping[str, Any]) -> int | None:
    """A failure's HTTP status as journaled (None: no answer)."""
    status = failure.get("status")
    return status if isinstance(status, int) else None


def _gone_here(
    out_dir: Path,
    gone: Collection[GoneKey],
    state: JournalState,
    orders: Mapping[str, float],
    saved: SavedConfigs,
) -> frozenset[int]:
    """The ids of DIR's gone images (:mod:`harvester.gone`) but those whose latest failure
    came from another server than the one they are gone from: in a folder of two servers,
    the other's image of that id is another image, which its harvest asks for (and whose
    failure status counts). ``orders``: DIR's order of runs
    (:func:`harvester.journal.run_orders`), which tells the latest. ``gone``: DIR's gone
    records (:func:`harvester.gone.read_gone`)."""
    from harvester.config import failed_ids_servers, normal_base_url

    if not gone:
        return frozenset()
    ids = {image_id for _server, image_id in gone}
    runs: dict[int, set[str]] = {}
    for (kind, object_id), rec in state.failed.items():
        if object_id in ids and kind in _IMAGE_KINDS:
            runs.setdefault(object_id, set()).add(str(rec.get("run")))
    failed_from = failed_ids_servers(out_dir, runs, orders, saved)
    return frozenset(
        image_id
        for server, image_id in gone
        if image_id not in failed_from or normal_base_url(failed_from[image_id]) == server
    )


def _failure_gone(
    out_dir: Path,
    gone_records: Iterable[GoneKey],
    gone_images: frozenset[int],
    saved: SavedConfigs | None,
) -> Callable[[int, Mapping[str, Any]], bool]:
    """Is a failure record (image id, record) one of an image recorded gone from the
    server of the run that failed it? A run whose settings name no server (an older
    folder's, one server's) by :func:`_gone_here`'s ids, as before.

    Why per record: ids are one server's, and ``forget --gone-ids-from`` records an id
    gone per server; judged by id, the failure of one server's image counted as gone
    where the other server's was recorded (and was left out of ``--failed-ids``, so it
    could not be recorded in turn), or another server's record hid nothing, by which
    server failed the id last."""
    from harvester.config import normal_base_url, read_run_server

    listed: dict[int, set[str]] = {}
    for server, image_id in gone_records:  # (all: gone_images leaves some out)
        listed.setdefault(image_id, set()).add(server)
    servers: dict[str, str | None] = {}

    def gone(image_id: int, rec: Mapping[str, Any]) -> bool:
        if image_id not in listed:
            return False
        run = str(rec.get("run"))
        if run not in servers:
            url = read_run_server(out_dir, run, saved)
            servers[run] = None if url is None else normal_base_url(url)
        server = servers[run]
        return image_id in gone_images if server is None else server in listed[image_id]

    return gone


def gone_undo_command(out_dir: Path) -> str:
    """The command that asks for DIR's gone images again (``forget``'s undo of them all)."""
    q = shell_quote(str(out_dir))
    return f"harvester status {q} --gone-ids | harvester forget {q} --gone-ids-from - --undo"


def _forgotten_run_failure(
    out_dir: Path,
    wanted: _Wanted,
    forgotten_runs: AbstractSet[str],
    every: list[RecordedRun] | None,
    saved: SavedConfigs,
) -> Callable[[str, str, int, ImageRef | None], bool]:
    """Is a failure (its run, kind, image id and ref) a run of a forgotten set's (of
    ``forgotten_runs``), in a folder of two servers (``every``: DIR's target sets), whose
    image no set of that run's server asks for again (that kind)?

    Why by server: forgotten sets were matched by image id, so where the other server's
    set (still resumed) names the same ids, the forgotten newest set's failures, which the
    journals' fold keeps, were counted as that set's, beside the other server's own.
    """
    from harvester.config import normal_base_url, read_run_server, servers_of

    if not forgotten_runs or every is None or len(servers_of(every)) < 2:
        return lambda _run, _kind, _image_id, _ref: False
    servers: dict[str, str | None] = {}  # (each run's read once)

    def forgotten(run: str, kind: str, image_id: int, ref: ImageRef | None) -> bool:
        if run not in forgotten_runs:
            return False
        if run not in servers:
            url = read_run_server(out_dir, run, saved)
            servers[run] = None if url is None else normal_base_url(url)
        server = servers[run]
        if server is None:
            return False
        return not any(
            kind in target.kinds
            and target.recorded is not None
            and normal_base_url(target.recorded.base_url) == server
            for target in wanted.asking(image_id, ref)
        )

    return forgotten


def _gone_plan_command(
    out_dir: Path,
    report: StatusReport,
    sets: list[_TargetKinds],
    plan_failed: AbstractSet[tuple[str, int]],
) -> str | None:
    """``harvester forget DIR --from-plan PLAN`` when DIR's plan is harvested by a set
    still resumed and none of its artifacts is done, each that failed answering 404: its
    images are gone from the server (a plan's are not checked as given targets are), and
    every resume asks for them again. The harvest closes with the same command; ``status``
    only promised that resume. None otherwise (some of the plan's images are there)."""
    from harvester.config import target_flags

    plan = report.plan
    holder = next((t for t in sets if t.plan and t.recorded is not None), None)
    if holder is None or holder.recorded is None or plan is None or plan.done or not plan.failed:
        return None
    failed = [f for f in report.failures if (f["kind"], f["id"]) in plan_failed]
    if not failed or any(f["status"] != 404 for f in failed):
        return None
    return shell_join(["harvester", "forget", str(out_dir), *target_flags(holder.recorded)])


def _other_servers_failed(
    out_dir: Path,
    weighed: Mapping[tuple[str, int], str],
    every: list[RecordedRun] | None,
    failure_gone: Callable[[int, Mapping[str, Any]], bool],
    saved: SavedConfigs,
    forgotten_runs: AbstractSet[str] = frozenset(),
) -> dict[tuple[str, int], tuple[str, FailuresByServer]]:
    """The failed files ``status`` counts beside those of the journals' fold, in a folder
    of two servers (``every``: DIR's target sets): of each image's failed kind and id it
    weighed (``weighed``: -> the run of the failure the fold keeps; counted, or gone from
    that run's server), another server's failures of them that the fold hides
    (:func:`other_servers_failures`), but those of an image recorded as gone from that
    server and those of a run of a forgotten set (``forgotten_runs``: no resume asks for
    them again); each key with its ``weighed`` run and those failures by server.

    Why: ids are one server's, so an id both servers of DIR failed is two failed images:
    the totals counted one, and where the fold's failure was of an image gone from its
    server, none (``--failed-ids --base-url`` of the other server left it out too). A
    forgotten set's failure counted so was a failure to act on again, after ``forget``.
    """
    from harvester.config import read_run_server, servers_of

    if not weighed or every is None or len(servers_of(every)) < 2:
        return {}

    def server_of(run: str) -> str | None:
        return read_run_server(out_dir, run, saved)

    found: dict[tuple[str, int], tuple[str, FailuresByServer]] = {}
    for key, own in other_servers_failures(out_dir, weighed, server_of).items():
        failed = {
            server: (url, rec)
            for server, (url, rec) in own.items()
            if not failure_gone(key[1], rec) and str(rec.get("run")) not in forgotten_runs
        }
        if failed:
            found[key] = (weighed[key], failed)
    return found


def other_servers_failures(
    out_dir: Path,
    latest: Mapping[tuple[str, int], str],
    server_of: Callable[[str], str | None],
) -> dict[tuple[str, int], FailuresByServer]:
    """The failures the journals' fold hides: of each failed kind and id of ``latest`` (->
    the run of its latest failure, the one the fold keeps), those of servers other than
    that run's, each server's own latest, by server (:func:`harvester.config.normal_base_url`
    -> its URL as saved, the record). ``server_of``: a run's server as saved (None: its
    settings cannot be read, and its failures are no known server's: left out). Reads
    every journal once (:func:`harvester.journal.failure_records`): for a folder of two
    servers alone.

    Why one function, keyed by the normal URL: ids are one server's, so an id two servers
    of DIR failed is two failed images. ``status --failed-ids --base-url``, ``forget
    --gone-ids-from`` and ``status``'s totals each read them; grouped by the URL as typed,
    one server saved as ``http://h`` and ``http://h:80/`` counted as two."""
    from harvester.config import normal_base_url
    from harvester.journal import failure_records

    # (each run's server read once: a run fails thousands of ids, and its saved settings
    # read per record made status of a folder of 3,000 failed ids a second slower)
    servers: dict[str, tuple[str, str] | None] = {}

    def server(run: str) -> tuple[str, str] | None:
        if run not in servers:
            url = server_of(run)
            servers[run] = None if url is None else (normal_base_url(url), url)
        return servers[run]

    found: dict[tuple[str, int], FailuresByServer] = {}
    for key, records in failure_records(out_dir, latest).items():
        newest = server(latest[key])
        skip = newest[0] if newest is not None else None
        own: FailuresByServer = {}
        for rec in records:  # (oldest first: each server's last one stays)
            known = server(str(rec.get("run")))
            if known is not None and (normal := known[0]) != skip:
                own[normal] = (own[normal][0] if normal in own else known[1], rec)
        if own:
            found[key] = own
    return found


def failed_by_server(
    out_dir: Path,
    report: StatusReport,
    sets: list[RecordedRun],
    saved: SavedConfigs | None = None,
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """DIR's failed image ids (``report.failed_ids``, each recorded by
    ``report.failed_runs``) by server (:func:`harvester.config.normal_base_url`; an image
    whose runs saved no settings, an old folder's, under none), and every server DIR knows
    (its target sets' ``sets``, newest first, then its failures'), each as saved.
    ``saved``: the configs read for ``sets``, not read again.

    An id whose kept failures (other kinds) are of two servers is under each: each server
    failed its own image of it. Why: it was under the newest run's server alone, which
    ``--failed-ids --base-url`` of the other left out (or, ordered by run id, either one
    by chance)."""
    from harvester.config import failed_ids_each_server, normal_base_url, servers_of

    of = failed_ids_each_server(out_dir, report.failed_runs, report.run_orders, saved)
    failing: dict[str, list[int]] = {}
    for image_id in report.failed_ids:
        for url in of.get(image_id, ()):
            failing.setdefault(normal_base_url(url), []).append(image_id)
    known = servers_of(sets)
    for urls in of.values():
        for url in urls:
            known.setdefault(normal_base_url(url), url)
    return failing, known


def with_hidden_failures(
    failing: Mapping[str, list[int]], known: dict[str, str], report: StatusReport
) -> dict[str, list[int]]:
    """``failing`` (:func:`failed_by_server`) with the failures the journals' fold hides
    (``report.other_servers_failed``: another server's image of an id, failed too), each
    id under its server, sorted; ``known`` gains their servers. Why: ``status``'s totals
    count them, but the plain ``--failed-ids`` weighed the kept failures alone: it listed
    one server's ids (or nothing) where two servers' images were failed."""
    from harvester.config import normal_base_url

    merged = {server: set(ids) for server, ids in failing.items()}
    for (_kind, image_id), (_run, own) in report.other_servers_failed.items():
        for server, (url, _rec) in own.items():
            merged.setdefault(server, set()).add(image_id)
            known.setdefault(normal_base_url(url), url)
    return {server: sorted(ids) for server, ids in merged.items()}


def failing_servers(
    out_dir: Path,
    report: StatusReport,
    sets: list[RecordedRun],
    saved: SavedConfigs | None = None,
) -> list[str]:
    """The servers (as saved: no credentials) of DIR's failed images (those the fold
    hides too: :func:`with_hidden_failures`) when they are two or more, DIR's newest
    set's first; else []. Why: ``status DIR --failed-ids`` refuses such a folder's one
    list, so a message pointing at it names each server's
    (:func:`harvester.config.failed_ids_listing`)."""
    if not report.failed_runs and not report.other_servers_failed:
        return []
    failing, known = failed_by_server(out_dir, report, sets, saved)
    failing = with_hidden_failures(failing, known, report)
    urls = [url for key, url in known.items() if key in failing]
    return urls if len(urls) > 1 else []


def split_images(
    out_dir: Path,
    ids: frozenset[int],
    *,
    recorded_sets: list[RecordedRun] | None = None,
    images: Mapping[int, ImageRef] | None = None,
) -> AbstractSet[int]:
    """Of ``ids`` (journaled images), those a split's set of DIR asks for: the images whose
    shards a split's resume names (``verify``'s bad files; ``status`` filters its own).
    Another set's image is no shard's to run again. ``recorded_sets``: DIR's
    :func:`harvester.config.recorded_target_sets` (None: read here), ``images``: its
    journaled images (``verify`` loaded them; None: the journals are read here, and only
    when DIR has a split's set)."""
    from harvester.config import recorded_target_sets

    if recorded_sets is None:
        recorded_sets = recorded_target_sets(out_dir)
    sets = _target_kinds(recorded_sets, None)
    if not any(_split(t) for t in sets):
        return ids
    if images is None:
        images = JournalState.load(out_dir).images
    return _Wanted(sets, []).of_splits(ids, images)


def forgotten_images(
    out_dir: Path, ids: AbstractSet[int], images: Mapping[int, ImageRef]
) -> dict[int, str]:
    """Of ``ids`` (journaled images, ``images`` by id), those a forgotten target set holds
    (no live set names them), each with that set's targets as flags (``--plate 3001``).

    Why: ``verify`` offered ``harvester harvest --out DIR`` "to refetch exactly" the bad
    files of such images, a resume that leaves their set out: nothing was refetched, and
    ``status`` then said nothing of them. Their set's targets given again take it back.
    """
    from harvester.config import folder_server_url, recorded_target_sets, take_back_flags
    from harvester.forgotten import FORGOTTEN_NAME

    if not (out_dir / FORGOTTEN_NAME).is_file():  # (no saved config read for nothing)
        return {}
    live, gone = _live_and_forgotten(out_dir, recorded_target_sets(out_dir, forgotten=True))
    if not gone or not ids:
        return {}
    sets = _target_kinds(live or [], None)
    wanted = _Wanted([*sets, *_forgotten_holders(live or [], gone)], [])
    found: dict[int, str] = {}
    server = folder_server_url(out_dir)  # (a set of another server names its own)
    for image_id in ids:
        holder = wanted.holder(image_id, images.get(image_id))
        if holder is not None and holder.forgotten and holder.recorded is not None:
            found[image_id] = shell_join(take_back_flags(holder.recorded, server))
    return found


def _forgotten_holders(
    live: list[RecordedRun], gone: list[tuple[RecordedRun, ForgottenSet]]
) -> list[_TargetKinds]:
    """The forgotten sets that tell their images (:func:`_forgotten_kinds`), a
    ``--from-plan`` set's by its plan's ids when no live set harvests that plan (then its
    images are the live set's). Without them, ``verify`` offered ``harvest --out DIR`` for
    a forgotten plan set's bad files: a resume that leaves the set out."""
    from harvester.plan import plan_dir

    def plan_of(recorded: RecordedRun) -> Path | None:
        saved = recorded.config.get("from_plan")
        return plan_dir(Path(saved)).absolute() if isinstance(saved, str) and saved else None

    harvested = {plan_of(recorded) for recorded in live} - {None}
    out: list[_TargetKinds] = []
    for recorded, _entry in gone:
        plan = plan_of(recorded)
        out += _forgotten_kinds([recorded], plan if plan not in harvested else None)
    return out


def _not_asked_commands(
    out_dir: Path, sets: list[_TargetKinds], dropped: dict[int, set[str]]
) -> list[str]:
    """The command(s) that try failures of kinds no run asks for any more again, without
    narrowing what DIR fetches: each set holding them (``dropped``: by index in ``sets``)
    with its kinds and the dropped ones.

    ``--out DIR --artifacts <the dropped kinds>`` was the hint: a resume replays every set
    with the kinds given, and they are each set's kinds from then on, so following it
    stopped thumbnails and metadata for the sets' new images. When every set would be
    given the same kinds, that is one resume (``--out DIR --artifacts ...``); else one
    command per set holding such failures, its saved flags with those kinds, so that the
    other sets keep theirs. A split's set and one that used credentials, which a resume
    does not replay, get theirs even alone: every shard's command (as a split's resume
    line names them), and ``--base-url URL`` or ``SECRETS.toml`` with what they must hold."""
    if not dropped:
        return []
    q = shell_quote(str(out_dir))

    def widened(n: int) -> str:
        kinds = sets[n].kinds | dropped.get(n, set())
        return ",".join(a.value for a in Artifact if a.value in kinds)

    # A resume does not replay a split's set, nor one whose URL held credentials (never
    # saved): their commands, with the kinds, are said one by one.
    own = any(
        r is not None and (r.shard or r.withheld) for r in (sets[n].recorded for n in dropped)
    )
    if len({widened(n) for n in range(len(sets))}) == 1 and not own:
        return [f"harvester harvest --out {q} --artifacts {widened(0)}"]
    from harvester.config import SECRET_KEYS, RecordedRun, recorded_flags, secrets_again_note
    from harvester.slurm import resubmit_resumes

    # A job array's folder (DIR/harvest.sbatch, which its resume resubmits): a split's
    # commands, run as written, harvested on the login node.
    array_folder = resubmit_resumes(out_dir)
    commands = []
    for n in sorted(dropped):
        recorded = sets[n].recorded
        config = dict(recorded.config) if recorded is not None else {}
        config.pop("artifacts", None)  # (said below, always: none given takes DIR's newest)
        flags = recorded_flags(RecordedRun(recorded.run if recorded else "", config))
        flags += ["--artifacts", widened(n)]
        note = ""
        if recorded is not None and recorded.withheld:
            # Saved without its user or session: pasted back as saved, it asked the server
            # as an anonymous user. URL stands in for it, as in every printed resume, and
            # SECRETS.toml for the headers and cookies a config file sent (not saved either).
            if "base_url" in recorded.withheld and "--base-url" in flags:
                flags[flags.index("--base-url") + 1] = "URL"
            if any(key in SECRET_KEYS for key in recorded.withheld):
                flags.insert(0, "SECRETS.toml")
            note = f"  # {secrets_again_note(recorded.withheld, shown=recorded.base_url)}"
        shard = recorded.shard if recorded is not None else None
        if shard is None or "--shard" not in flags:
            commands.append(f"harvester harvest --out {q} {shell_join(flags)}{note}")
            continue
        if array_folder and recorded is not None:
            commands.append(_array_not_asked_command(out_dir, recorded, widened(n), sets))
            continue
        # A split's set: its newest run's --shard alone tried the dropped kinds of that
        # shard's images again. Every shard, as a split's resume names them.
        at = flags.index("--shard") + 1

        def each(s: str, f: list[str] = flags, a: int = at) -> str:
            return f"harvester harvest --out {q} {shell_join([*f[:a], s, *f[a + 1 :]])}"

        commands.append(shard_commands(each, shard, None, note))
    return commands


def _array_not_asked_command(
    out_dir: Path, recorded: RecordedRun, kinds: str, sets: list[_TargetKinds]
) -> str:
    """For a split's set of a job array's folder, the ``harvester slurm --out DIR ...
    --artifacts KINDS --tasks N --submit`` that tries its dropped kinds again (``kinds``:
    its own with them), the script written anew for its targets and selection, of as many
    tasks as its split (``N`` when that is no number).

    Why: each shard's ``harvester harvest ... --shard K/N`` was said, which pasted on the
    login node harvested there, outside the job array (and the script resubmitted as it
    is asks for the set's old kinds)."""
    from harvester.config import servers_of
    from harvester.shard import split_count
    from harvester.slurm import new_script_command

    count = split_count(recorded.shard) if recorded.shard is not None else None
    runs = [s.recorded for s in sets if s.recorded is not None]
    command, note = new_script_command(
        out_dir,
        recorded,
        server=len(servers_of(runs)) > 1,
        artifacts=kinds,
        tasks="N" if count is None else str(count),
    )
    return f"{command} --submit{note}"


def _resume_line(
    out_dir: Path,
    *,
    plan_unharvested: bool,
    sets_left: bool,
    work_left: WorkLeft | None = None,
    recorded_sets: list[RecordedRun] | None = None,
    resubmits: bool | None = None,
    array: tuple[int, int | None] | None = None,
    by_set: Mapping[str, WorkLeft] | None = None,
) -> str:
    """The command(s) that fetch what status counts as left: ``resume_command`` (DIR's
    target sets replayed, ``recorded_sets`` when status read them), and, for DIR's plan
    that no run has harvested yet (``plan_unharvested``: ``harvester plan`` into a
    harvested folder), the plan's own command, which ``harvester harvest --out DIR`` does
    not run; alone when the target sets have nothing left (``sets_left``). ``resubmits``
    and ``array``: from the script status read; ``by_set``: each set's own work left, in a
    folder of several selections' scripts (see :func:`harvester.config.resume_command`)."""
    from harvester.config import ALSO, commented, resume_command

    if not plan_unharvested:
        return resume_command(
            out_dir, work_left, sets=recorded_sets, resubmits=resubmits, array=array, by_set=by_set
        )
    q = shell_quote(str(out_dir))
    plan_command = f"harvester harvest --out {q} --from-plan {q}"
    if not sets_left:
        return plan_command
    resume = resume_command(
        out_dir, work_left, sets=recorded_sets, resubmits=resubmits, array=array, by_set=by_set
    )
    return f"{resume}{ALSO}{commented(plan_command, 'its plan, not harvested yet')}"


def _journaled_reason(failure: Mapping[str, Any]) -> str:
    """A journaled failure's reason led by its status (:func:`with_status`), escaped as a
    message shows server text (:func:`harvester.text.shown`, never cut: the reason is whole).

    Why: a journal written by an older version may carry the server's bytes as they came
    (ESC, a line break), which printed raw drove the user's terminal."""
    return shown(with_status(failure.get("status"), str(failure.get("reason") or "")), None)


def _running_progress(out_dir: Path, held: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The progress line each running harvest keeps beside its lock, its age (seconds) and
    the run's id (``run``, when the file names it: from the line ``run ID`` under it).

    Read only for locks held now, and only a file written since the lock was taken (the
    holder writes its "pid N on HOST" line in the lock file as it takes it): the file of a
    run that ended or was killed says nothing of now, nor of the run holding the lock, which
    writes its own once it has opened DIR (a big folder's journals take a while to load).
    """
    found: list[dict[str, Any]] = []
    for name, running in held:
        path = out_dir / LOCKS_DIR / progress_name(name)
        try:
            text = path.read_text(encoding="utf-8").strip()
            written = path.stat().st_mtime
            taken = (out_dir / LOCKS_DIR / name).stat().st_mtime
        except (OSError, UnicodeDecodeError):  # an older harvester's run, or a moment too soon
            continue
        age = max(0.0, time.time() - written)
        line, _, tail = text.partition("\n")
        first = tail.strip().partition("\n")[0]  # (a later version may add lines)
        run = first.removeprefix("run ") if first.startswith("run ") else ""
        if line and written >= taken:
            live = {"running": running, "line": line, "age": round(age, 1)}
            found.append(live | ({"run": run} if run else {}))
    return found


def _unlocked_progress(out_dir: Path) -> list[dict[str, Any]]:
    """The progress line of each run holding no lock (:func:`harvester.runlock.unlocked_progress`),
    as :func:`_running_progress` gives them, ``running`` naming the run by its id; ``stale``
    when it was not refreshed for :data:`~harvester.runlock.UNLOCKED_STALE_AFTER` (a live
    run refreshes it every minute: that run was killed)."""
    found: list[dict[str, Any]] = []
    for lock, run, path in unlocked_progress(out_dir):
        try:
            text = path.read_text(encoding="utf-8").strip()
            written = path.stat().st_mtime
        except (OSError, UnicodeDecodeError):  # removed meanwhile: that run ended
            continue
        line = text.partition("\n")[0]
        if line:
            age = round(max(0.0, time.time() - written), 1)
            found.append(
                {
                    "running": unlocked_run_text(lock, run),
                    "line": line,
                    "age": age,
                    "run": run,
                    "stale": age > runlock.UNLOCKED_STALE_AFTER,
                }
            )
    return found


def _mark_running_walks(walks: list[dict[str, Any]], live: list[dict[str, Any]]) -> None:
    """``"running": true`` on each unfinished walk whose run holds a run lock now (its id
    is in the progress file beside that lock, :func:`_running_progress`).

    Why: status said "still running, or stopped" of the walk of the very run it named as
    "running now": a lock held says that some run works in DIR, not that it is the run of
    that walk (a harvest of other targets, a resume that has not come to that walk yet).
    """
    runs = {p["run"] for p in live if p.get("run")}
    for walk in walks:
        if not walk.get("finished") and walk.get("run") in runs:
            walk["running"] = True


def unfinished_walks(state: JournalState) -> list[dict[str, Any]]:
    """The walks whose latest record says they did not list everything, oldest first, then
    the shards of a split that never walked (``run`` None, ``started`` False).

    Per targets and shard only the latest "walk" record counts: a later walk of the same
    targets that finished with no failure means everything under them was listed, and a
    later unsharded one that did covers every shard's record of those targets.
    """
    found = []
    for (targets, shard), rec in sorted(state.walks.items(), key=lambda kv: kv[1].get("t", 0)):
        whole = state.walks.get((targets, None))
        if (
            shard is not None
            and whole is not None
            and walk_listed_all(whole)
            and whole["t"] >= rec["t"]
        ):
            continue  # a later unsharded walk of the same targets listed every shard's images
        failures = rec.get("failures")
        failures = (
            [f for f in failures if isinstance(f, dict)] if isinstance(failures, list) else []
        )
        if rec.get("finished") is True and not failures:
            continue
        walk = {
            "targets": targets,
            "shard": shard,
            "run": rec.get("run"),
            "finished": rec.get("finished") is True,
            "failures": failures,
        }
        ended = rec.get("session_ended")
        if isinstance(ended, str) and ended and not walk["finished"]:
            walk["session_ended"] = ended  # why it stopped: said with the way on
        refused = rec.get("credentials_refused")
        if isinstance(refused, str) and refused and not walk["finished"]:
            walk["credentials_refused"] = refused
        for key in ("max_bytes", "server_down"):  # (the budget stopped it, and what then)
            said = rec.get(key)
            if isinstance(said, str) and said and not walk["finished"]:
                walk[key] = said
        found.append(walk)
    for targets, shard in _unwalked_shards(state):
        found.append(
            {
                "targets": targets,
                "shard": shard,
                "run": None,
                "finished": False,
                "started": False,
                "failures": [],
            }
        )
    return found


def _live_walks(
    walks: list[dict[str, Any]],
    state: JournalState,
    gone: list[tuple[RecordedRun, ForgottenSet]],
) -> list[dict[str, Any]]:
    """``walks`` (:func:`unfinished_walks`) but those of forgotten target sets: a walk by a
    forgotten set's run, and a shard never walked of targets only such runs walked.

    A never-walked shard has no run to tell its set by: a forgotten split set (its newest
    run ``--shard 2/3``) was said to have shards "never walked", with a resume line that
    replays nothing (every resume leaves the set out).
    """
    forgotten_runs = {run for _recorded, entry in gone for run in entry.runs}
    walked_by: dict[str, set[bool]] = {}
    for (targets, _shard), rec in state.walks.items():
        walked_by.setdefault(targets, set()).add(rec.get("run") in forgotten_runs)
    return [
        w
        for w in walks
        if w.get("run") not in forgotten_runs
        and not (w.get("started") is False and walked_by.get(w["targets"]) == {True})
    ]


def _unwalked_shards(state: JournalState) -> list[tuple[str, str]]:
    """The shards ``K/N`` of a split walk that no walk record covers, per targets.

    Without a plan, a shard's images are known only once its own walk journals them: after
    shards 0, 1 and 2 of 4 ran (by hand, or an array with a task that never started), the
    fourth quarter is in no journal, and status counted nothing pending, as if the study
    were complete. A shard counts as walked when a walk of it, of a coarser split that
    holds it (``0/2`` holds ``0/4`` and ``2/4``: the split is ``hash % N``) or of every
    finer shard it is made of was journaled (finished or not: those are said apart), and
    any unsharded walk of the same targets covers them all. ``--from-plan`` runs walk
    nothing: the plan counts their images.
    """
    seen: dict[str, set[tuple[int, int]]] = {}
    whole: set[str] = set()
    for targets, shard in state.walks:
        if shard is None:
            whole.add(targets)
            continue
        pair = shard_pair(shard)
        if pair is not None:
            seen.setdefault(targets, set()).add(pair)
    missing: list[tuple[str, str]] = []
    for targets, shards in seen.items():
        if targets in whole:
            continue
        counts = sorted({n for _, n in shards})
        # Finest split first: a coarser shard whose missing part is named already is not
        # named again (after 0/2 and 1/4, "3/4", not "1/2" and "3/4").
        named: set[tuple[int, int]] = set()
        for n in reversed(counts):
            for k in range(n):
                if not _shard_covered(k, n, shards, counts) and not any(
                    part in named for parts in finer_parts(k, n, counts) for part in parts
                ):
                    named.add((k, n))
        missing += [(targets, f"{k}/{n}") for k, n in sorted(named, key=lambda s: (s[1], s[0]))]
    return missing


def _shard_covered(k: int, n: int, shards: set[tuple[int, int]], counts: list[int]) -> bool:
    """Is shard ``k/n`` walked, by itself, a coarser shard holding it or all its parts?"""
    if any(holder in shards for holder in holders(k, n, counts)):
        return True
    return any(all(part in shards for part in parts) for parts in finer_parts(k, n, counts))

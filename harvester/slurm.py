"""SLURM job arrays for a sharded harvest: write the sbatch script, submit it.

We do not schedule anything ourselves: SLURM already runs arrays, queues,
limits and restarts. ``harvester slurm`` only writes a script a user can
read and edit (``DIR/harvest.sbatch``) whose array task K of N runs
``harvester harvest ... --shard K/N`` with the same Python interpreter that
wrote it (so a virtual environment keeps working inside the job). Each task
gets ``total rate / max parallel tasks`` so that the tasks running at once
together never exceed the rate the user chose for the whole run; the burst is
each task's own (a burst cannot be split), which the script header spells out
when it lets the tasks together start more than the total rate in a second
(see :attr:`SlurmJob.burst_note`). Other harvest flags (``--timeout``,
``--max-retries``, ``--no-labels`` ...) are in ``harvest_args``, as given. Rerunning
the script resumes: the harvest skips what the journals record as done.

With ``--submit`` it runs ``sbatch --parsable`` and then submits a small
follow-up job (``DIR/index.sbatch``, ``--dependency=afterany:<array>``) that
rebuilds ``index.csv`` once every task has ended, because shards that end at
the same moment cannot know which of them is last.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harvester.errors import HarvesterError, UsageError
from harvester.shell_words import shell_quote
from harvester.text import plural

if TYPE_CHECKING:
    from harvester.config import RecordedRun

log = logging.getLogger(__name__)

SCRIPT_NAME = "harvest.sbatch"
INDEX_SCRIPT_NAME = "index.sbatch"
#: Set by ``harvest.sbatch`` for its tasks: when the script was written (Unix time). A task
#: records its ``--split`` / ``--label-ids-from`` only over an older record (see
#: :func:`script_written`).
SCRIPT_WRITTEN_ENV = "HARVESTER_SCRIPT_WRITTEN"
LOG_DIRNAME = "logs"
#: Set by each array script for its tasks: its own path (``DIR/harvest-2.sbatch`` of a
#: further selection), which a task's log names in the line that resubmits it.
SCRIPT_PATH_ENV = "HARVESTER_ARRAY_SCRIPT"

_TIME_RE = re.compile(r"\d+(-\d+(:\d+(:\d+)?)?)?|\d+:\d+(:\d+)?|\d+-\d+")
_MEM_RE = re.compile(r"\d+[KMGT]?", re.IGNORECASE)
_NAME_RE = re.compile(r"[A-Za-z0-9_.+-]+")
#: Megabytes per unit of ``#SBATCH --mem`` (no unit: megabytes, SLURM's default).
_MEM_UNIT_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2}
#: Less than this cannot hold a harvester task: its Python and modules alone take about
#: 30 MB (the README's "Memory per task" says the same), a task fetching stacks peaks near
#: 60 MB (measured, 0.1.27: the ``zstack`` preset's stacks; a thumbnail harvest 36 MB).
_LEAST_TASK_MB = 100
#: What the interpreter and harvester's modules take before any work (``status`` of an
#: empty folder, 0.1.27): said in the refusal, so it and the README give one number.
_PYTHON_MB = 30


def _check_memory(flag: str, value: str | None) -> None:
    """Refuse a ``--mem`` SLURM would not take, or one too small for any task.

    Why: ``--mem 1`` (meant as 1G) passed, and SLURM, which reads a number without a
    unit as megabytes, then killed every task for want of memory, each a log line
    `OUT_OF_MEMORY` later. 0 stays allowed: SLURM reads it as the node's whole memory.
    """
    if value is None:
        return
    if not _MEM_RE.fullmatch(value):
        meant = _memory_meant(value)
        hint = f"did you mean {flag} {meant}? (SLURM's form: a whole number, K, M, G or T)"
        raise UsageError(f"invalid {flag} {value!r}", hint=hint if meant else "e.g. 4G or 4000M")
    number, unit = value.rstrip("KMGTkmgt"), value[len(value.rstrip("KMGTkmgt")) :].upper()
    megabytes = int(number) * _MEM_UNIT_MB[unit]
    if megabytes == 0 or megabytes >= _LEAST_TASK_MB:
        return
    said = (
        f"{number} MB (SLURM reads a number without a unit as megabytes)"
        if not unit
        else f"under {_LEAST_TASK_MB} MB"
    )
    raise UsageError(
        f"{flag} {value} is {said}: too little for a harvester task, which needs at least "
        f"{_LEAST_TASK_MB} MB (its Python and modules alone take about {_PYTHON_MB} MB)",
        hint=f"did you mean {flag} {number}G?" if not unit else f"e.g. {flag} 1G",
    )


#: A memory SLURM does not take but that says one it does: ``1.5G``, ``2 GB``, ``4GiB``.
_MEM_SAID_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([KMGT])(?:i?B)?", re.IGNORECASE)


def _memory_meant(value: str) -> str | None:
    """The ``--mem`` SLURM takes for ``value`` where it says one (``1.5G``: ``1536M``,
    ``2 GB``: ``2G``), None where it does not. Why: ``--mem 1.5G`` was told "e.g. 4G or
    4000M", not that SLURM takes whole numbers only, nor the whole number it means."""
    match = _MEM_SAID_RE.fullmatch(value.strip())
    if match is None:
        return None
    number, unit = float(match[1]), match[2].upper()
    units = "KMGT"
    while number != int(number) and unit not in "KM":  # (a fraction: the next smaller unit)
        number, unit = number * 1024, units[units.index(unit) - 1]
    return f"{round(number)}{unit}" if round(number) > 0 else None


@dataclass(frozen=True)
class SlurmJob:
    """Everything needed to write the array script.

    ``harvest_args`` are the arguments after ``harvester harvest`` that every
    task shares (config file, targets or ``--from-plan``, ``--out`` ...);
    ``--shard``, ``--rate`` and ``--concurrency`` are added per task here.
    ``rate`` and ``concurrency`` are the totals for the whole array; ``burst`` is the
    burst each task gets (from its ``--burst`` in ``harvest_args`` or its config file),
    used here only to say what it means for the array as a whole.
    """

    out_dir: Path
    tasks: int
    harvest_args: Sequence[str]
    max_parallel: int | None = None
    rate: float | None = 10.0
    concurrency: int | None = None
    burst: int = 1
    partition: str | None = None
    time_limit: str | None = None
    cpus: int | None = None
    mem: str | None = None
    #: Memory of the index job, which reads every shard's records (the tasks read their own).
    index_mem: str | None = None
    job_name: str = "harvester"
    python: str = field(default_factory=lambda: sys.executable)
    #: Each task's ``--max-bytes`` budget in bytes (flag or config file), None for none:
    #: used here only to say what it means for the array as a whole (it is not split).
    max_bytes: int | None = None
    #: The script's file name in DIR: ``harvest.sbatch``, or ``harvest-2.sbatch`` ... for
    #: a further selection of the same folder (:func:`script_for`).
    script_name: str = SCRIPT_NAME

    def __post_init__(self) -> None:
        # Worded as a harvest words its own (`--burst: 0 must be ...`): one form for all.
        for flag, count in (
            ("--tasks", self.tasks),
            ("--max-parallel", self.max_parallel),
            ("--concurrency", self.concurrency),
            ("--burst", self.burst),
            ("--cpus", self.cpus),
        ):
            if count is not None and count < 1:
                raise UsageError(f"{flag}: {count} must be an integer of at least 1")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise UsageError(f"the total rate must be a positive number or 'none', got {self.rate}")
        if self.time_limit is not None and not _TIME_RE.fullmatch(self.time_limit):
            raise UsageError(
                f"invalid --time {self.time_limit!r}",
                hint="SLURM forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (e.g. 12:00:00)",
            )
        _check_memory("--mem", self.mem)
        _check_memory("--index-mem", self.index_mem)
        if self.partition is not None and not _NAME_RE.fullmatch(self.partition):
            raise UsageError(
                f"invalid --partition {self.partition!r}",
                hint="a partition name as sinfo lists it: letters, digits and _ . + - only",
            )
        if not _NAME_RE.fullmatch(self.job_name):
            raise UsageError(
                f"invalid --job-name {self.job_name!r}",
                hint="letters, digits and _ . + - only, e.g. --job-name my_study",
            )
        if '"' in str(self.out_dir):
            # The #SBATCH --output lines quote a folder with spaces in double quotes.
            raise UsageError(
                f"output folder {str(self.out_dir)!r} contains a double quote, which the "
                "script's #SBATCH --output line cannot hold",
                hint="choose another --out",
            )
        if "\\" in str(self.out_dir):
            # SLURM turns its filename patterns off for a path holding a backslash: every
            # task would log into one file literally named harvest-%A_%a.log.
            raise UsageError(
                f"output folder {shell_quote(str(self.out_dir))} contains a backslash, which "
                "turns off SLURM's filename patterns (%A_%a) in the script's #SBATCH --output "
                "line: every task would log into one file",
                # (not a symlink: the script names the folder's real path, links resolved)
                hint="use a folder whose path holds no backslash (rename or move it)",
            )
        # The script names these in `#` comments and on command lines: a line break in one
        # (a folder name, say) would end the comment and run the rest as a shell command.
        for word in (str(self.out_dir), self.python, *self.harvest_args):
            if "\n" in word or "\r" in word:
                raise UsageError(
                    f"{word!r} holds a line break, which a batch script cannot carry safely",
                    hint="no line breaks in folder or file names or in flag values",
                )

    @property
    def parallel(self) -> int:
        """How many tasks may run at once (``%M`` of ``--array``)."""
        return min(self.tasks, self.max_parallel or self.tasks)

    @property
    def task_rate(self) -> float | None:
        """Requests/s per task so that ``parallel`` tasks together stay within ``rate``."""
        if self.rate is None:
            return None
        return self.rate / self.parallel

    @property
    def task_concurrency(self) -> int | None:
        """Concurrent requests per task (total split across running tasks, at least 1)."""
        if self.concurrency is None:
            return None
        return max(1, self.concurrency // self.parallel)

    @property
    def burst_note(self) -> str | None:
        """What a per-task burst above the per-task rate allows across the array, or None.

        Each task's limiter allows max(task rate, burst) starts in any 1-second window,
        so the tasks running at once together allow max(rate, parallel x burst): with a
        burst above the task's share of the rate, that is more than the total ``--rate``.
        """
        if self.rate is None or self.task_rate is None or self.burst <= self.task_rate:
            return None
        peak = self.parallel * self.burst
        fix = "--max-parallel or --burst" if self.burst > 1 else "--max-parallel"
        return (
            f"the burst ({self.burst}) is per task: {plural(self.parallel, 'task')} at once may "
            f"start up to {plural(peak, 'request')} in one second, above the total --rate "
            f"{format_rate(self.rate)}; lower {fix} to stay within it"
        )

    @property
    def parallel_note(self) -> str | None:
        """The split of the total rate (with ``--rate none``, of the total concurrency) when
        ``--max-parallel`` was not given, or None.

        Without it the rate is split as if every task ran at once; a cluster that runs
        fewer at a time (a small partition, a per-user limit) then harvests at a fraction
        of the rate the user chose, with nothing saying why. So is the concurrency: 16 tasks
        of ``--rate none`` each asked one request at a time (8 // 16, at least 1), unsaid,
        4 of them at once on a cluster of 4 free cores, half the total 8.
        """
        if self.max_parallel is not None or self.tasks < 2:
            return None
        fix = "if the cluster runs fewer at a time, give --max-parallel with that number"
        if self.task_rate is not None:
            return (
                f"without --max-parallel the total --rate {format_rate(self.rate)} is split as "
                f"if all {self.tasks} tasks ran at once ({format_rate(self.task_rate)}/s each); "
                + fix
            )
        if self.concurrency is None or self.task_concurrency is None:
            return None
        return (
            f"without --max-parallel the total --concurrency {self.concurrency} is split as "
            f"if all {self.tasks} tasks ran at once ({plural(self.task_concurrency, 'request')}"
            f" at a time each); {fix}"
        )

    @property
    def budget_note(self) -> str | None:
        """What a per-task ``--max-bytes`` means for the array, or None (no budget, one task).

        ``--rate`` and ``--concurrency`` given to ``harvester slurm`` are totals, split; the
        budget is each task's own: a user sizing it to a scratch quota as a total would see
        the array store N times that, with nothing said outside the README."""
        if self.max_bytes is None or self.tasks < 2:
            return None
        from harvester.config import size_text
        from harvester.end_lines import size_said

        # (a size in a sentence says its unit, bytes too: "about 40 bytes", not "about 40")
        each, n = size_text(self.max_bytes), self.tasks
        return (
            f"--max-bytes {each} is each task's own, not split like --rate: {n} tasks may "
            f"store about {size_said(size_text(self.max_bytes * n))} in all per submission "
            f"(for about {size_said(each)} in all: --max-bytes "
            f"{size_text(max(1, self.max_bytes // n))})"
        )

    @property
    def script_path(self) -> Path:
        return self.out_dir / self.script_name

    @property
    def log_dir(self) -> Path:
        return self.out_dir / LOG_DIRNAME


def _sbatch_path(folder: Path, pattern: str) -> str:
    """``folder/pattern`` for an ``#SBATCH --output`` line: double-quoted when it holds
    whitespace. SLURM reads ``%`` in it as a filename pattern (``%A``, ``%j``), so one in the
    folder's name (``sample-10%``) is written ``%%``, SLURM's literal ``%``; the
    ``pattern``'s own are meant."""
    text = f"{str(folder).replace('%', '%%')}/{pattern}"
    if '"' in text or "\\" in text:  # (refused earlier with a hint: SlurmJob's checks)
        raise UsageError(f"output folder {text!r} contains a double quote or a backslash")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def format_rate(rate: float | None) -> str:
    """The ``--rate`` value for the command line (``none`` = unlimited), without float noise."""
    if rate is None:
        return "none"
    text = f"{rate:.6f}".rstrip("0").rstrip(".")
    return text if text and float(text) > 0 else f"{rate:.3g}"


def task_command(job: SlurmJob) -> list[str]:
    """The harvest command of one task, with ``$K/$N`` left for the shell to fill in."""
    cmd = [job.python, "-m", "harvester", "harvest", *job.harvest_args]
    cmd += ["--rate", format_rate(job.task_rate)]
    if job.task_concurrency is not None:
        cmd += ["--concurrency", str(job.task_concurrency)]
    return cmd


def resume_command(job: SlurmJob) -> str:
    """Resubmit the array and queue the index job after it, as one shell line.

    ``sbatch harvest.sbatch`` alone resumes the harvest but leaves index.csv as the first
    array's index job wrote it (short by every image the resumed tasks add).
    """
    return resume_line(job.out_dir, script=job.script_path)


def resume_line(out_dir: Path, tasks: str | None = None, script: Path | None = None) -> str:
    """:func:`resume_command` for the scripts in ``out_dir``; ``tasks``: only these array
    tasks (``--array=3``: what an interrupted task's own log says to run again); ``script``:
    the array's script when not ``DIR/harvest.sbatch`` (a further selection's)."""
    q = shell_quote
    script = script if script is not None else out_dir / SCRIPT_NAME
    array, index = q(str(script)), q(str(out_dir / INDEX_SCRIPT_NAME))
    only = f" --array={q(tasks)}" if tasks else ""
    return (
        f"jid=$(sbatch --parsable{only} {array}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {index}"
    )


#: What defines a run's images: its targets and its selection (the rest, server and kinds
#: included, the script takes from the folder or from the flags given to it).
IMAGE_KEYS = (
    "screens", "projects", "plates", "datasets", "images", "ids_from", "from_plan",
    "where", "sample", "sample_fraction", "seed", "sample_per",
)  # fmt: skip


def new_script_command(
    out: Path,
    recorded: RecordedRun,
    *,
    server: bool,
    artifacts: str | None = None,
    tasks: str = "N",
) -> tuple[str, str]:
    """The ``harvester slurm`` command of a new script for ``recorded``'s targets and
    selection, and the note (``  # ...``: "" for none) saying what its credentials, never
    saved, stand for. ``server``: name its ``--base-url`` (as saved; in ``SECRETS.toml``
    where it held credentials), for a folder of two servers. ``artifacts``: the kinds its
    tasks fetch (None: the folder's, as ``harvester slurm`` takes them); ``tasks``: its
    ``--tasks`` (``N``: the user's to choose)."""
    from harvester.config import FLAGS, recorded_flags, secrets_again_note

    wanted = {FLAGS[key] for key in IMAGE_KEYS}
    words = [word for word in recorded_flags(recorded) if word != "--no-labels"]
    flags = [
        f"{flag} {shell_quote(value)}"
        for flag, value in zip(words[::2], words[1::2], strict=True)
        if flag in wanted
    ]
    # Credentials it used, never saved, go in a config file (slurm refuses them as flags):
    # as printed without one, the command was refused in turn as needing them.
    withheld = recorded.withheld
    if server and "base_url" not in withheld:
        flags.insert(0, f"--base-url {shell_quote(recorded.base_url)}")
    if artifacts is not None:
        flags.append(f"--artifacts {shell_quote(artifacts)}")
    secrets = " SECRETS.toml" if withheld else ""
    note = f"  # {secrets_again_note(withheld, url_in_file=True)}" if withheld else ""
    q = shell_quote(str(out))
    return f"harvester slurm{secrets} --out {q} {' '.join(flags)} --tasks {tasks}", note


_ARRAY_LINE_RE = re.compile(r"#SBATCH\s+--array=0-(\d+)(?:%(\d+))?\s*")


def script_array(out_dir: Path, script: Path | None = None) -> tuple[int, int | None] | None:
    """(tasks, at most this many at once) of ``DIR/harvest.sbatch``'s ``#SBATCH --array``
    line (``script``'s, given one); None when DIR has no such script or its array line was
    edited into another form."""
    try:
        path = script if script is not None else out_dir / SCRIPT_NAME
        text = path.read_text(encoding="utf-8", errors="replace")[: 1 << 20]
    except OSError:
        return None
    for line in text.splitlines():
        if (array := array_line(line)) is not None:
            return array
    return None


def array_line(line: str) -> tuple[int, int | None] | None:
    """(tasks, at most this many at once) of one script line when it is the ``#SBATCH
    --array=0-M[%P]`` line ``harvester slurm`` writes, else None (:func:`script_array`, and
    ``status`` reading the script it has read already)."""
    if m := _ARRAY_LINE_RE.fullmatch(line.strip()):
        return int(m.group(1)) + 1, int(m.group(2)) if m.group(2) else None
    return None


_JOB_NAME_LINE_RE = re.compile(r"#SBATCH\s+(?:--job-name=|-J\s*)(\S+)\s*")


def job_name_line(line: str) -> str | None:
    """The job name of one script line when it is an ``#SBATCH --job-name=NAME`` line."""
    m = _JOB_NAME_LINE_RE.fullmatch(line.strip())
    return m.group(1) if m else None


def queue_command(job_name: str | None) -> str:
    """The ``squeue`` command that shows every user's tasks of a script named ``job_name``
    (plain ``squeue`` without one), for a user to run where SLURM answers.

    Why not ``squeue -u $USER``: the queue is asked for every user's jobs of DIR's script
    (:func:`_queue_rows`), as a colleague's array of a shared project folder runs the same
    shards; ``-u $USER`` hid that array from the one told to look before resuming.
    ``-o QUEUE_COLUMNS``: each job's owner, state and batch script. Why: every script's job
    name is ``harvester`` unless ``--job-name`` is given, so ``squeue -n harvester`` listed
    every user's arrays of every folder, none telling which was DIR's (its script is
    ``DIR/harvest.sbatch``: what :func:`_queue_rows` matches)."""
    columns = f"-o {shell_quote(QUEUE_COLUMNS)}"
    return f"squeue -n {shell_quote(job_name)} {columns}" if job_name else f"squeue {columns}"


#: The ``squeue -o`` columns :func:`queue_command` asks: job id, user, state, batch script.
QUEUE_COLUMNS = "%i %u %T %o"


#: The job states (``squeue %T``) of a job that has ended: SLURM's end states, and the two
#: it shows while an ended job is cleaned up (``COMPLETING``, ``STAGE_OUT``). Why: squeue
#: lists an array for a moment after its end, and a ``--submit`` just then was refused as
#: "queued or running". Why these, not the states that still run: SLURM adds states
#: (``EXPEDITING``, an expedited requeue, is newer than 22.05's manual), and a state this
#: list does not know counts as still running (``REVOKED`` too, a federation's job another
#: cluster runs): a job taken for ended is a second array of the same shards, and a
#: running task said to be killed; one taken for running is a refusal that says why. (A task
#: ``COMPLETING`` as SLURM requeues it is not ended: :func:`_still_runs`.)
ENDED = frozenset(
    {
        "COMPLETING", "STAGE_OUT", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
        "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY",
    }
)  # fmt: skip

#: The reasons of SLURM's ``CANCELLED AT ... DUE TO ...`` line in a task log (lower case, as
#: status reads them) after which SLURM may queue the task again by itself: ``scontrol
#: requeue`` (``JOB REQUEUE``), and a preemption or a node failure of a job SLURM may requeue
#: (a batch job, by default: ``JobRequeue=1``; ``node failure`` too where an older
#: slurmstepd names the node in between, ``DUE TO NODE n01 FAILURE``). Why: such a task is
#: listed ``COMPLETING`` for a moment, then ``PENDING`` again, and was taken for ended just
#: then (:func:`_still_runs`).
REQUEUE_REASONS = frozenset({"job requeue", "preemption", "node failure"})


@dataclass(frozen=True)
class Queue:
    """The jobs of one batch script in the queue (every user's), pending or running, from one
    ``squeue -r`` listing (:func:`script_queue`): what ``status`` asks twice of it (the
    jobs it names, the tasks a silent log is checked against) is read from one answer."""

    #: Their job ids (the array's, ``%F``), in the queue's order, each once.
    jobs: list[str]
    #: Their array tasks K (``%K``), or why which ones is unknown (not one task a line).
    tasks: set[int] | str
    #: The job ids of DIR's index job (``index.sbatch``) in the same listing, when asked:
    #: ``status`` then says that job writes a missing ``index.csv``.
    index_jobs: list[str] = field(default_factory=list)
    #: Task K -> the job (``%F``) it is queued or running as. Why: a resubmitted array
    #: reuses its task numbers, so a task waiting in the queue has no log of its own yet,
    #: and its newest ``harvest-<job>_<K>.log`` is an earlier job's: ``status`` showed that
    #: log beside ``in the queue`` as if it were the queued task's.
    task_jobs: dict[int, str] = field(default_factory=dict)
    #: Job id -> its owner's user name, for the jobs of :attr:`jobs` and
    #: :attr:`index_jobs` another user submitted (a shared project folder): this user
    #: cannot ``scancel`` them, so what is said of them names their owner.
    owners: dict[str, str] = field(default_factory=dict)
    #: Job id -> why SLURM keeps it pending (``%r``), for the jobs of :attr:`jobs` pending
    #: for a reason a user must act on (:data:`STUCK_REASONS`): a drained node, a partition
    #: down. Why: status said "in the queue now" of an array that would never start.
    reasons: dict[str, str] = field(default_factory=dict)
    #: The tasks K of :attr:`tasks` that SLURM runs now (``%T`` ``RUNNING``), each with the
    #: job it runs as (not :attr:`task_jobs`', which may be a resubmission's, queued after
    #: it: its log is not written yet). Why: a task runs before it journals anything (its
    #: server check, which waits out a maintenance window; its read of DIR's journals), and
    #: status said "no task has started yet" of an array whose every task squeue listed as
    #: running.
    running: dict[int, str] = field(default_factory=dict)


#: SLURM's pending reasons (``squeue %r``, the word before any ``,``) that no wait
#: resolves: a user (or the admins, when asked) must act. ``Resources``, ``Priority``,
#: ``Dependency`` or an array's own ``%M`` limit only wait their turn: not said.
STUCK_REASONS = frozenset(
    {
        "ReqNodeNotAvail",
        "PartitionDown",
        "PartitionInactive",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "NodeDown",
        "BadConstraints",
        "InvalidAccount",
        "InvalidQOS",
        "DependencyNeverSatisfied",
        "JobHeldUser",
        "JobHeldAdmin",
        "launch failed requeued held",
    }
)
#: How squeue's ``%r`` words a pending task's drained or down nodes once the scheduler has
#: described them (``Nodes required for job are DOWN, DRAINED or reserved for jobs in higher
#: priority partitions``, SLURM 22.05): its description replaces the code
#: (``ReqNodeNotAvail``), which an array's tasks show for their first seconds alone. Why:
#: status said "in the queue now" of an array on a drained node, the reason unsaid.
_NODES_UNAVAILABLE = "Nodes required for job are DOWN, DRAINED"


def _stuck_reason(why: str) -> bool:
    """Whether a pending reason (``squeue %r``) is one no wait resolves: one of
    :data:`STUCK_REASONS` (the word before any ``,``) or SLURM's description of the nodes
    a job needs being down or drained (:data:`_NODES_UNAVAILABLE`)."""
    return why.split(",")[0].strip() in STUCK_REASONS or why.startswith(_NODES_UNAVAILABLE)


def script_queue(script: Path, index: Path | None = None) -> Queue | str:
    """The jobs of ``script`` in the queue (:class:`Queue`), or why the queue
    cannot be asked here (no ``squeue``, no controller answering, ``squeue`` failing):
    :func:`scripts_queues` of that script alone."""
    queues = scripts_queues([script], index)
    return queues if isinstance(queues, str) else queues[0]


def scripts_queues(scripts: list[Path], index: Path | None = None) -> list[Queue] | str:
    """The jobs of each of ``scripts`` in the queue (a :class:`Queue` per script, in their
    order), from one listing; or why the queue cannot be asked here (no ``squeue``, no
    controller answering, ``squeue`` failing).

    ``-r``: one line per array task, pending ones too (a pending range is otherwise one
    line, ``1-3%2``). ``scontrol ping`` first: it fails at once where the controller is
    down, where ``squeue`` retries for about 9 seconds (every ``harvester status`` of a
    folder with a script would wait that long on a machine with the SLURM client and no
    cluster).

    ``index``: DIR's index script, whose jobs (:attr:`Queue.index_jobs`, on each queue) are
    read from the same listing: no second ``squeue`` on a login node. Why several scripts
    at once: a folder of several selections' scripts (:mod:`harvester.array_scripts`) had
    ``status`` ask ``squeue`` once for harvest.sbatch and again for them all.

    A job in a state of :data:`ENDED` (``%T``) does not count: one that has ended but that
    squeue still lists for a moment (``COMPLETING``), unless it is being requeued
    (:func:`_still_runs`)."""
    owners: dict[str, str] = {}
    reasons: dict[str, str] = {}
    listed = _queue_rows(
        [*scripts, *([index] if index is not None else [])],
        "%F|%K|%T",
        "-r",
        owners=owners,
        reasons=reasons,
    )
    if isinstance(listed, str):
        return listed
    index_jobs: list[str] = []
    for row in listed[len(scripts)] if index is not None else []:
        if _still_runs(row) and (job := row.partition("|")[0].strip()) and job not in index_jobs:
            index_jobs.append(job)
    return [
        _queue_of(rows, script.parent / LOG_DIRNAME, index_jobs, owners, reasons)
        for script, rows in zip(scripts, listed, strict=False)
    ]


def _queue_of(
    listed: list[str],
    logs: Path,
    index_jobs: list[str],
    owners: dict[str, str],
    reasons: dict[str, str],
) -> Queue:
    """The :class:`Queue` of one script's ``%F|%K|%T`` rows (:func:`scripts_queues`);
    ``logs``: DIR's task logs (a ``COMPLETING`` task's requeue is read there)."""
    rows = [row for row in listed if _still_runs(row, logs)]
    jobs: list[str] = []
    tasks: set[int] | str = set()
    task_jobs: dict[int, str] = {}
    running: dict[int, str] = {}
    for row in rows:
        job, task, state = (part.strip() for part in row.split("|"))
        if job and job not in jobs:
            jobs.append(job)
        if isinstance(tasks, str):
            continue
        if task.isdigit():
            tasks.add(int(task))
            task_jobs[int(task)] = job
            if state == "RUNNING":
                running[int(task)] = job
        else:  # (not one task a line: which ones is unknown)
            tasks = f"squeue names its tasks {task!r}"
    owners = {job: owner for job, owner in owners.items() if job in jobs or job in index_jobs}
    reasons = {job: why for job, why in reasons.items() if job in jobs}
    task_jobs = {} if isinstance(tasks, str) else task_jobs
    return Queue(jobs, tasks, list(index_jobs), task_jobs, owners, reasons, running)


def _still_runs(row: str, logs: Path | None = None) -> bool:
    """Whether a ``%F|%K|%T`` row of :func:`script_queue` is of a job that still runs or
    will: any state but those of :data:`ENDED`, and a task ``COMPLETING`` that SLURM is
    requeueing: its log (``logs/harvest-<job>_<K>.log``, ``logs`` DIR's task logs) holds
    SLURM's line cancelling it for a reason of :data:`REQUEUE_REASONS` after its last start.

    Why: squeue shows ``COMPLETING`` before any other state while a job is cleaned up, a
    requeue's too (it is ``PENDING`` again a moment later). Taken for ended, such a task
    let a ``--submit`` queue a second array beside it, and status called it killed and
    gave the ``--array=K`` line that runs its shard twice. A task that ended leaves no such
    line; the log is read only for a ``COMPLETING`` row (slurmstepd writes the line as the
    task is signalled, so a listing made in that instant may still miss it)."""
    state = row.rpartition("|")[2].strip()
    if state not in ENDED:
        return True
    if state != "COMPLETING" or logs is None:
        return False
    job, _, task = row.rpartition("|")[0].partition("|")
    job, task = job.strip(), task.strip()
    if not (job.isdigit() and task.isdigit()):
        return False
    from harvester.status import task_requeued  # (read for a COMPLETING task only)

    return task_requeued(logs / f"harvest-{job}_{task}.log")


def queued_index_jobs(out_dir: Path) -> list[str]:
    """The ids of the jobs of DIR's index script (``index.sbatch``) in the queue,
    pending or running, each once: what ``verify`` says writes a missing ``index.csv``, read
    as ``status`` reads it (:attr:`Queue.index_jobs`, the same listing); [] without that
    script, or where the queue cannot be asked (no ``squeue``, no controller answering)."""
    index = out_dir / INDEX_SCRIPT_NAME
    if not index.is_file():
        return []
    queue = script_queue(out_dir / SCRIPT_NAME, index)
    return [] if isinstance(queue, str) else queue.index_jobs


def queued_jobs(script: Path) -> list[str]:
    """The ids of the jobs, queued or running, whose batch script is ``script``
    (:func:`script_queue`); [] when there is no SLURM here or its controller does not
    answer, as on a machine that only writes scripts."""
    queue = script_queue(script)
    return [] if isinstance(queue, str) else queue.jobs


def tasks_in_queue(script: Path) -> set[int] | str:
    """The array tasks K of the jobs of ``script`` that are pending or running
    (:func:`script_queue`), or why the queue cannot be asked here: ``status`` tells a task
    that ended without a word from one still running or queued again only with the
    queue's answer, and says so when there is none."""
    queue = script_queue(script)
    return queue if isinstance(queue, str) else queue.tasks


def _queue_rows(
    scripts: list[Path],
    fields: str,
    *flags: str,
    owners: dict[str, str] | None = None,
    reasons: dict[str, str] | None = None,
) -> list[list[str]] | str:
    """``fields`` (``squeue -o`` fields) of each line of the queue whose batch script is
    one of ``scripts``, a list of rows per script in their order, or why the queue cannot be
    asked here (for :func:`script_queue`). The script's path, the job's working directory
    and its owner's user id are asked last (``%o|%Z|%U``): what follows the fields' own
    ``|`` is read by :func:`_queued_script`, the user id first taken off its end.

    Every user's jobs, not this user's alone (``-u``): a project folder's script submitted
    by a colleague runs the same shards, and was not seen, so ``--submit`` queued a second
    array beside it and status offered to resubmit tasks that were still queued.
    ``owners``, when given, gets the job id (the first field, ``%F``) and owner's name of
    every listed job of another user. (A cluster that hides other users' jobs,
    ``PrivateData=jobs``, lists this user's alone: as before.)
    ``reasons``, when given, gets the job id and pending reason (``%r``, asked after all
    else: :func:`_reason_cut`) of every listed job pending for a reason no wait resolves
    (:func:`_stuck_reason`)."""
    squeue, scontrol = shutil.which("squeue"), shutil.which("scontrol")
    if squeue is None or scontrol is None:
        return "no squeue here"
    if not _controller_answers(scontrol):
        return "scontrol ping finds no SLURM controller"
    tail = "|%o|%Z|%U|%r" if reasons is not None else "|%o|%Z|%U"
    proc = _quiet_run([squeue, "-h", *flags, "-o", f"{fields}{tail}"])
    if proc is None or proc.returncode != 0:
        return "squeue failed"
    wanted = [os.path.realpath(script) for script in scripts]
    cut = fields.count("|") + 1
    me = os.getuid()
    rows: list[list[str]] = [[] for _ in scripts]
    # Each job's script resolved once, not once a line. Why: every user's jobs are listed,
    # each array task a line (-r): a cluster's other arrays held 50,000 lines, each a few
    # realpath()s (a stat a path component, on a shared filesystem): seconds of status.
    resolved: dict[str, str | None] = {}
    # Lines whose script may be one of ``scripts`` submitted by a relative path from
    # elsewhere (``sbatch -D /elsewhere study/harvest.sbatch``: :func:`_submitted_elsewhere`).
    unplaced: list[tuple[list[str], int | None, str]] = []
    names = {os.path.basename(path) for path in wanted}
    elsewhere: dict[str, bool] = {}

    def place(path: str, parts: list[str], uid: int | None, why: str) -> None:
        rows[wanted.index(path)].append("|".join(parts[:-1]))
        if owners is not None and uid is not None and uid != me:
            owners[parts[0].strip()] = user_name(uid)
        if reasons is not None and _stuck_reason(why):
            reasons.setdefault(parts[0].strip(), why)

    for line in proc.stdout.splitlines():
        parts = line.split("|", cut)
        if len(parts) != cut + 1:
            continue
        said, why = _reason_cut(parts[-1]) if reasons is not None else (parts[-1], "")
        said, uid = _owner_cut(said)
        if said not in resolved:
            resolved[said] = _queued_script(said, wanted)
        if (path := resolved[said]) is not None:
            place(path, parts, uid, why)
            continue
        if said not in elsewhere:
            elsewhere[said] = _submitted_elsewhere(said, names)
        if elsewhere[said]:
            unplaced.append((parts, uid, why))
    if unplaced:
        by_job = _scripts_by_output(squeue, {parts[0].strip() for parts, _, _ in unplaced}, wanted)
        for parts, uid, why in unplaced:
            if (path := by_job.get(parts[0].strip())) is not None:
                place(path, parts, uid, why)
    return rows


def _submitted_elsewhere(said: str, names: set[str]) -> bool:
    """Whether a job's ``%o|%Z`` may name one of the scripts called ``names`` submitted by
    a relative path from another directory than its working directory: a relative path of
    that name which does not exist there. Why so narrow: a cluster's other jobs are mostly
    submitted by a relative path (``sbatch job.sh``), each found in its own working
    directory; asking the queue about them too cost every status a second ``squeue``."""
    script, _, workdir = said.strip().partition("|")
    script, workdir = script.strip(), workdir.strip()
    if not script or os.path.isabs(script) or os.path.basename(script) not in names:
        return False
    return not os.path.exists(os.path.join(workdir, script))


def _scripts_by_output(squeue: str, jobs: set[str], wanted: list[str]) -> dict[str, str]:
    """Job id -> the one of ``wanted`` (real paths of scripts) whose ``#SBATCH --output``
    path is the job's (``squeue -O STDOUT``, as the script names it, ``%A_%a`` and all), for
    ``jobs``: those listed by a relative script path their working directory does not
    resolve (:func:`_queued_script`).

    Why: ``sbatch --chdir=/scratch study/harvest.sbatch`` is listed as ``study/harvest.sbatch``
    in ``/scratch``, relative to where sbatch ran, which SLURM does not keep: such an array
    was not seen, so status said nothing of it and a second ``--submit`` went through. A
    harvester script's output path names DIR by its real path: the job's own is proof."""
    outputs: dict[str, str] = {}
    for path in wanted:
        if (output := _script_output(Path(path))) is not None:
            outputs.setdefault(output, path)
    if not outputs:
        return {}
    fields = "ArrayJobID:|,STDOUT:|"  # (a field with a suffix and no size is never cut)
    proc = _quiet_run([squeue, "-h", "-j", ",".join(sorted(jobs)), "-O", fields])
    if proc is None or proc.returncode != 0:
        return {}
    found: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        job, sep, output = line.strip().partition("|")
        output = output.removesuffix("|")
        if sep and (script := outputs.get(output)) is not None:
            found.setdefault(job.strip(), script)
    return found


def _script_output(script: Path) -> str | None:
    """The path of ``script``'s ``#SBATCH --output`` line as SLURM keeps it (its quotes
    off), or None where the script has none or cannot be read."""
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("#SBATCH --output="):
            value = line.removeprefix("#SBATCH --output=").strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value or None
    return None


def _reason_cut(said: str) -> tuple[str, str]:
    """``%o|%Z|%U|%r`` split into ``%o|%Z|%U`` and the pending reason ("" where the line
    ends in a user id or a path: a listing without ``%r``). Why from the end, as
    :func:`_owner_cut`: the paths before it may hold a ``|``; a reason holds no ``/``."""
    head, sep, why = said.strip().rpartition("|")
    why = why.strip()
    if sep and why and "/" not in why and not why.isdigit():
        return head, why
    return said, ""


def _owner_cut(said: str) -> tuple[str, int | None]:
    """``%o|%Z|%U`` split into ``%o|%Z`` and the owner's user id (None where the line
    ends in no number: then the whole is ``%o|%Z``). Why from the end: the paths before
    it may hold a ``|`` (:func:`_queued_script`), a user id never does."""
    head, sep, uid = said.strip().rpartition("|")
    if sep and uid.strip().isdigit():
        return head, int(uid)
    return said, None


def user_name(uid: int) -> str:
    """The login name of user id ``uid``, or ``uid N`` where it has no passwd entry (a
    container's user on a cluster node)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def jobs_said(jobs: Sequence[str], owners: dict[str, str]) -> str:
    """Job ids as status and ``harvester slurm`` name them: ``182``, ``182,190``, with
    each other user's job's owner (``190 of user bob``; ``182,190 (190 of user bob)``),
    said once where one colleague owns them all (``186,185 of user bob``).
    Why: ``scancel`` of another user's job is refused; the owner is whom to ask."""
    ids = ",".join(jobs)
    theirs = [f"{job} of user {owners[job]}" for job in jobs if job in owners]
    if not theirs:
        return ids
    if len(jobs) == 1:
        return theirs[0]
    if (one := {owners.get(job) for job in jobs}) and len(one) == 1 and None not in one:
        # (every job the same colleague's: "186,185 (186 of user bob, 185 of user bob)"
        # said the owner once a job)
        return f"{ids} of user {owners[jobs[0]]}"
    return f"{ids} ({', '.join(theirs)})"


def cancel_said(jobs: Sequence[str], owners: dict[str, str]) -> str:
    """The ``scancel`` of ``jobs``: ``scancel 182 190``, and for other users' jobs what
    their owner runs (``scancel 182; user bob: scancel 190``): this user's ``scancel``
    of another's job is refused (``Access/permission denied``)."""
    mine = [job for job in jobs if job not in owners]
    said = [f"scancel {' '.join(mine)}"] if mine else []
    for owner in dict.fromkeys(owners[job] for job in jobs if job in owners):
        theirs = " ".join(job for job in jobs if owners.get(job) == owner)
        said.append(f"user {owner}: scancel {theirs}")
    return "; ".join(said)


def _queued_script(said: str, wanted: list[str]) -> str | None:
    """Which of ``wanted`` (real paths) a job's ``%o|%Z`` (its batch script, its working
    directory) names, else None. Either may hold a ``|``: each split is tried.

    Why ``%Z``: ``sbatch ./harvest.sbatch`` (or ``../study/harvest.sbatch``) is listed by
    that relative path, which was resolved against status's own directory: an array so
    submitted was not seen, and a second ``harvester slurm --submit`` of it went through.
    It is resolved against the job's working directory, where it was submitted (an
    ``sbatch -D`` elsewhere is not: :func:`_scripts_by_output` tells those)."""
    said = said.strip()
    splits = [(said, "")] + [
        (said[:at], said[at + 1 :]) for at, char in enumerate(said) if char == "|"
    ]
    for script, workdir in splits:
        script, workdir = script.strip(), workdir.strip()
        if not script or (not os.path.isabs(script) and not workdir):
            continue  # (a relative path without the directory it is relative to)
        if (path := os.path.realpath(os.path.join(workdir, script))) in wanted:
            return path
    return None


#: How long a probe of what SLURM can tell about an ended task may take (sacct, scontrol).
PROBE_TIMEOUT_S = 5.0
#: What ``sacct`` is asked of a task killed without a word: how it ended, and its memory.
SACCT_FIELDS = "State,ExitCode,MaxRSS"
_ARRAY_TASK_RE = re.compile(r"\bArrayTaskId=(\d+)(?:\s|$)")
_JOB_STATE_RE = re.compile(r"\bJobState=(\S+)")
_REASON_RE = re.compile(r"\bReason=(\S+)")
#: What ``scontrol show job`` says for a field it has no value for (``Reason=None``).
_NO_REASON = ("", "None", "(null)")


def sacct_command(job: str) -> str:
    """The ``sacct`` line that tells how task ``job`` (``<array>_<K>``) ended."""
    return f"sacct -j {job} --format={SACCT_FIELDS}"


def sacct_unanswered(job: str) -> str | None:
    """None when ``sacct`` answers here (asked of ``job``: exit 0, its one cheap line);
    else why not, said as status says it (``sacct says: Slurm accounting storage is
    disabled``). A cluster without accounting (``AccountingStorageType`` none, as the test
    cluster) refuses every ``sacct``: status named it for a killed task all the same."""
    exe = shutil.which("sacct")
    if exe is None:
        return "no sacct here"
    proc = _quiet_run([exe, "-n", "-X", "-j", job, "-o", "State"], timeout=PROBE_TIMEOUT_S)
    if proc is None:
        return f"sacct did not answer in {PROBE_TIMEOUT_S:g} s"
    if proc.returncode == 0:
        return None
    said = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return f"sacct says: {said[-1][:120]}" if said else f"sacct exited {proc.returncode}"


def listed_tasks(array_job: str) -> dict[int, tuple[str, str]]:
    """The tasks K of ``array_job`` that ``scontrol show job`` still lists, ended ones too
    (for ``MinJobAge`` after their end, 300 s by default), each with its ``JobState`` and
    ``Reason`` as it says them (``""`` for one it does not say); empty when it lists none
    or cannot be asked. One call for the whole array (``-o``: a line per task).

    Why the state: a task killed by a signal (``scancel --batch --signal=KILL``, ``kill
    -9``) is ``FAILED`` with the reason ``JobLaunchFailure``, SLURM's word for any batch
    script a signal ended, which read as a launch that failed (see :data:`STATE_WORDS`)."""
    exe = shutil.which("scontrol")
    if exe is None:
        return {}
    proc = _quiet_run([exe, "-o", "show", "job", array_job], timeout=PROBE_TIMEOUT_S)
    if proc is None or proc.returncode != 0:
        return {}
    tasks: dict[int, tuple[str, str]] = {}
    for line in proc.stdout.splitlines():
        if (m := _ARRAY_TASK_RE.search(line)) is None:
            continue
        state, reason = _JOB_STATE_RE.search(line), _REASON_RE.search(line)
        said = (state.group(1) if state else "", reason.group(1) if reason else "")
        if said[1] in _NO_REASON:  # (a task scancel ended: "CANCELLED (None)" said nothing)
            said = (said[0], "")
        tasks[int(m.group(1))] = ("", "") if said[0] in _NO_REASON else said
    return tasks


#: What SLURM's end state of a task (``JobState``, with ``Reason`` where it tells) means for
#: a harvest task that ended without its summary, said where ``status`` names the task:
#: SLURM's own words mislead (``JobLaunchFailure`` for a script it launched, then killed).
STATE_WORDS: dict[tuple[str, str], str] = {
    ("FAILED", "JobLaunchFailure"): (
        "killed by a signal: SLURM says JobLaunchFailure for any batch script a signal "
        "ended (kill -9, scancel --signal=KILL, the out-of-memory killer), not a launch "
        "that failed"
    ),
    ("OUT_OF_MEMORY", ""): "out of memory: raise #SBATCH --mem",
    ("TIMEOUT", ""): "its time limit: raise #SBATCH --time, or run more tasks",
    ("NODE_FAIL", ""): "its node failed: the resume line runs it again",
}


def state_words(state: str, reason: str) -> str | None:
    """:data:`STATE_WORDS` for a task's ``JobState`` and ``Reason`` (the state alone where
    the pair is not there), None for any other."""
    return STATE_WORDS.get((state, reason)) or STATE_WORDS.get((state, ""))


def _controller_answers(scontrol: str) -> bool:
    """Whether ``scontrol ping`` finds the SLURM controller up (it fails at once if not)."""
    ping = _quiet_run([scontrol, "ping"])
    return ping is not None and ping.returncode == 0 and "is UP" in ping.stdout


def _quiet_run(argv: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str] | None:
    """Run a SLURM client command for its output (``timeout`` s at most); None when it
    cannot run."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def array_spec(tasks: Iterable[int], parallel: int | None) -> str:
    """``sbatch --array`` for some tasks only: runs as ranges (``0-2,7``), with the script's
    ``%M`` when more than M are named, since a command-line ``--array`` replaces the
    script's whole line, throttle included: each task's rate is the total over M, so more
    than M running at once would together exceed the total ``--rate``."""
    ks = sorted(set(tasks))
    runs: list[str] = []
    i = 0
    while i < len(ks):
        j = i
        while j + 1 < len(ks) and ks[j + 1] == ks[j] + 1:
            j += 1
        runs.append(str(ks[i]) if i == j else f"{ks[i]}-{ks[j]}")
        i = j + 1
    throttle = f"%{parallel}" if parallel is not None and len(ks) > parallel else ""
    return ",".join(runs) + throttle


#: The task command's words before its arguments (``exec <python> -m harvester harvest ARGS``).
_TASK_CMD = ["-m", "harvester", "harvest"]


def task_args(script_text: str) -> list[str] | None:
    """The arguments of the task command in a ``harvest.sbatch`` (its ``exec <python> -m
    harvester harvest ARGS`` line, the first: ``exec`` ends the script): ARGS, the tasks'
    shared ones; [] when an edit left that line unreadable (a quote open); None when the
    script has no such line (a user's edit, someone else's file). One parse of the line for
    ``status`` (what the tasks harvest) and :func:`harvests_elsewhere` (where).
    """
    for line in script_text.splitlines():
        if not (line.startswith("exec ") and " -m harvester harvest " in line):
            continue
        try:
            words = shlex.split(line)
        except ValueError:  # an edit left a quote open
            return []
        n = len(_TASK_CMD)
        return next(
            (words[i + n :] for i in range(len(words)) if words[i : i + n] == _TASK_CMD), []
        )
    return None


def task_out_dir(args: list[str]) -> str | None:
    """The ``--out`` among the task command's arguments (:func:`task_args`), None when they
    name none."""
    for i, word in enumerate(args):
        if word == "--out" and i + 1 < len(args):
            return args[i + 1]
        if word.startswith("--out="):
            return word.partition("=")[2]
    return None


def harvests_elsewhere(out_dir: Path, script: Path | None = None) -> str | None:
    """The folder ``DIR/harvest.sbatch``'s tasks harvest into when it is not DIR itself; None
    when it is DIR, or DIR has no such script.

    The script names DIR by its absolute path (``#SBATCH --output`` and the tasks'
    ``--out``), so after ``mv DIR NEW`` (or ``cp -a``, ``rsync -a`` to a cluster) submitting
    ``NEW/harvest.sbatch`` harvested into the old path: a new folder there, or for a copy,
    the original. What resubmits it must say so instead (see :func:`moved_script_note`).
    ``script``: another of DIR's scripts than ``harvest.sbatch`` (:func:`folder_scripts`).
    """
    script = script if script is not None else out_dir / SCRIPT_NAME
    try:
        if not script.is_file() or script.stat().st_size > 1 << 20:
            return None
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return out_elsewhere(out_dir, task_out_dir(task_args(text) or []))


def out_elsewhere(out_dir: Path, named: str | None) -> str | None:
    """:func:`harvests_elsewhere` for the ``--out`` of ``DIR/harvest.sbatch``'s tasks
    (:func:`task_out_dir`), read by the caller: ``named`` when it is not DIR, else None."""
    if named is None:
        return None
    try:
        if Path(named).samefile(out_dir):
            return None
    except OSError:  # the old folder is gone (moved): certainly not DIR
        pass
    return named


def resubmit_resumes(out_dir: Path, script: Path | None = None) -> bool:
    """Whether resubmitting DIR's job array (:func:`resume_line`) resumes DIR: both of its
    scripts are there, and harvest into DIR itself (a moved script writes the old folder).
    ``script``: another of DIR's array scripts than ``harvest.sbatch``."""
    script = script if script is not None else out_dir / SCRIPT_NAME
    return (
        script.is_file()
        and (out_dir / INDEX_SCRIPT_NAME).is_file()
        and harvests_elsewhere(out_dir, script) is None
    )


def moved_script_note(out_dir: Path, elsewhere: str) -> str:
    """What to do about a ``harvest.sbatch`` that harvests into ``elsewhere``, not DIR."""
    q = shell_quote
    return (
        f"{out_dir / SCRIPT_NAME} harvests into {elsewhere}, not {out_dir} (the folder was "
        "moved or copied since harvester slurm wrote it): do not submit it; write it again "
        f"with harvester slurm --out {q(str(out_dir))} and the options it was written with"
    )


#: The line each array task echoes into its log as it starts, before Python runs
#: (:func:`render_script` fills it in for the shell): ``status`` finds a task's start, and
#: its shard, by it (:func:`task_start_pattern`), so both are made from this one text.
TASK_START = "harvester shard {shard}: job {job} on {host}"
#: What follows the start line's date (:data:`TASK_START`): the script the task runs, by
#: its name in DIR. Why: every script of a folder (one per selection: harvest.sbatch,
#: harvest-2.sbatch ...) logs to ``logs/harvest-%A_%a.log``, so task K's newest log may be
#: another script's job; status reads this to take each task's lines from its own jobs'
#: logs. A log without it is harvest.sbatch's (written before 0.1.27, one script a folder).
LOG_SCRIPT_MARK = " (by {script})"
_LOG_SCRIPT_RE = re.compile(r" \(by (harvest(?:-[1-9][0-9]*)?\.sbatch)\)\s*$")


def log_script(start_line: str) -> str:
    """The script a task log's start line says its task ran (:data:`LOG_SCRIPT_MARK`);
    ``harvest.sbatch`` where it says none (a script written before 0.1.27)."""
    m = _LOG_SCRIPT_RE.search(start_line)
    return m.group(1) if m is not None else SCRIPT_NAME


@functools.cache
def task_start_pattern() -> re.Pattern[str]:
    """:data:`TASK_START` as ``status`` matches it at the start of a log line: group 1 is
    the shard ``K/N``; the job and the host are not read."""
    fill = {"shard": r"(\d+/\d+)", "job": r"\S+", "host": ""}
    return re.compile(
        "".join(
            re.escape(text) + (fill[name] if name else "")
            for text, name, _spec, _conv in string.Formatter().parse(TASK_START)
        )
    )


def render_script(job: SlurmJob) -> str:
    """The sbatch array script, meant to be read (and edited) by a person."""
    out = job.out_dir
    q = shell_quote
    sb = [
        f"#SBATCH --job-name={job.job_name}",
        f"#SBATCH --array=0-{job.tasks - 1}%{job.parallel}",
        f"#SBATCH --output={_sbatch_path(job.log_dir, 'harvest-%A_%a.log')}",
        "#SBATCH --open-mode=append",
        "#SBATCH --ntasks=1",
    ]
    if job.partition:
        sb.append(f"#SBATCH --partition={job.partition}")
    if job.time_limit:
        sb.append(f"#SBATCH --time={job.time_limit}")
    if job.cpus:
        sb.append(f"#SBATCH --cpus-per-task={job.cpus}")
    if job.mem:
        sb.append(f"#SBATCH --mem={job.mem}")
    rate_note = (
        f"{format_rate(job.rate)} requests/s in total = {format_rate(job.task_rate)}/s per task"
        f" x {plural(job.parallel, 'task')} at once"
        if job.rate is not None
        else "no request-rate limit (--rate none)"
    )
    cmd = " ".join(q(a) for a in task_command(job))
    start = TASK_START.format(shard="$K/$N", job="${SLURM_ARRAY_JOB_ID:-?}_$K", host="$(hostname)")
    now = time.time()
    created = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    lines = [
        "#!/bin/bash",
        f"# harvester job array, written by `harvester slurm` on {created}.",
        f"# {plural(job.tasks, 'shard')}, at most {job.parallel} running at once; {rate_note}.",
        *([f"# Note:    {job.burst_note}."] if job.burst_note else []),
        *([f"# Budget:  {job.budget_note}."] if job.budget_note else []),
        "#",
        f"# Submit:  sbatch {q(str(job.script_path))}",
        "# Resume:  submit the same script again; every task skips the work its",
        "#          journal (or another task's) already records as done. Queue the",
        "#          index job after it too, or index.csv keeps the first array's images:",
        f"#          {resume_command(job)}",
        f"# Follow:  {queue_command(job.job_name)};  tail -F "
        f"{q(str(job.log_dir))}/harvest-<jobid>_<task>.log;",
        f"#          {q(job.python)} -m harvester status {q(str(out))}",
        f"# Index:   {q(job.python)} -m harvester index {q(str(out))}  (safe at any time)",
        *sb,
        "",
        "set -euo pipefail",
        'K="${SLURM_ARRAY_TASK_ID:?submit this script with sbatch: it is a job array}"',
        f'N="${{SLURM_ARRAY_TASK_COUNT:-{job.tasks}}}"',
        "# The split is fixed when the script is written: a resubmission of some tasks only",
        "# (sbatch --array=2,5 ...) must still give shard K the same images.",
        'RESUBMITTED=""',
        f'if [ "$N" != {job.tasks} ]; then',
        '  RESUBMITTED="$N"',
        f"  N={job.tasks}",
        "fi",
        'if [ "$K" -ge "$N" ]; then echo "task $K is outside shards 0..$((N - 1))" >&2; exit 2; fi',
        'if [ -n "$RESUBMITTED" ]; then',
        "  # (SLURM's count, known only as the task starts: worded here as text.plural would)",
        '  TASKS="tasks"; if [ "$RESUBMITTED" = 1 ]; then TASKS="task"; fi',
        '  echo "a resubmission of $RESUBMITTED $TASKS of the array: task $K is shard $K/$N, '
        'as written" >&2',
        "fi",
        f'echo "{start} at $(date){LOG_SCRIPT_MARK.format(script=job.script_name)}"',
        "# When this script was written: a task records its split and label-id pin only in a",
        "# folder whose record is older (a later `harvester index --no-split` or pin stays).",
        "# A hand edit of this script keeps this time: to record another split or pin over",
        "# such a record, use `harvester index DIR --split ...` or write the script anew.",
        f"export {SCRIPT_WRITTEN_ENV}={now:.3f}",
        "# This script, for the line a task's log says resubmits it (a folder may hold one",
        "# script per selection: harvest.sbatch, harvest-2.sbatch ...).",
        f"export {SCRIPT_PATH_ENV}={q(str(job.script_path))}",
        "",
        f'exec {cmd} --shard "$K/$N"',
        "",
    ]
    return "\n".join(lines)


def script_written() -> float | None:
    """When the ``harvest.sbatch`` running this process (a task of its array) was written;
    None outside one (or a value that is not a time).

    Why: every task records the ``--split`` / ``--label-ids-from`` of its command line for
    the index job. The same script submitted again (a failed array, days later) re-recorded
    them over what the user recorded since (``harvester index DIR --no-split``, another
    pin), and the next index quietly undid it: a task records only over an older record.
    """
    if "SLURM_ARRAY_TASK_ID" not in os.environ:
        return None
    try:
        value = float(os.environ.get(SCRIPT_WRITTEN_ENV, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def render_index_script(job: SlurmJob) -> str:
    """A one-task job that rebuilds index.csv after the array (submitted as a dependency)."""
    q = shell_quote
    return "\n".join(
        [
            "#!/bin/bash",
            "# harvester: rebuild index.csv from every shard's journal once the array has ended.",
            f"#SBATCH --job-name={job.job_name}-index",
            f"#SBATCH --output={_sbatch_path(job.log_dir, 'index-%j.log')}",
            "#SBATCH --ntasks=1",
            *([f"#SBATCH --partition={job.partition}"] if job.partition else []),
            *([f"#SBATCH --mem={job.index_mem}"] if job.index_mem else []),
            "set -euo pipefail",
            f"exec {q(job.python)} -m harvester index {q(str(job.out_dir))}",
            "",
        ]
    )


def write_scripts(job: SlurmJob) -> tuple[Path, Path]:
    """Write ``DIR/harvest.sbatch`` and ``DIR/index.sbatch``; create ``DIR/logs``."""
    try:
        job.log_dir.mkdir(parents=True, exist_ok=True)
        for path, text in (
            (job.script_path, render_script(job)),
            (job.out_dir / INDEX_SCRIPT_NAME, render_index_script(job)),
        ):
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o755)
            tmp.replace(path)
    except OSError as exc:
        from harvester.errors import StorageError

        raise StorageError(
            f"cannot write the SLURM scripts into {job.out_dir}: {exc}", cause=exc
        ) from exc
    return job.script_path, job.out_dir / INDEX_SCRIPT_NAME


def _sbatch(args: list[str], cwd: Path) -> str:
    exe = shutil.which("sbatch")
    if exe is None:
        raise UsageError(
            "sbatch not found on PATH: cannot submit to SLURM from this machine",
            hint=f"run this on a SLURM login node, or submit later with: sbatch {args[-1]}",
        )
    try:
        proc = subprocess.run(
            [exe, "--parsable", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarvesterError(f"sbatch failed: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise HarvesterError(
            f"sbatch exited with {proc.returncode}: {detail[-1] if detail else 'no message'}"
        )
    job_id = proc.stdout.strip().split(";", 1)[0]
    if not job_id.isdigit():
        raise HarvesterError(f"sbatch printed no job id: {proc.stdout.strip()!r}")
    return job_id


def _refused_hint(job: SlurmJob, refusal: str) -> str:
    """What to do about the array ``sbatch`` refused (``refusal``: its words), the scripts
    written: fix the cause, then the command that submits both. A ``--partition`` SLURM
    does not know (one renamed or retired since the last array: ``Invalid partition name
    specified``) is named, with where to find the cluster's and the two places it is
    written. Why: the hint said "edit the #SBATCH lines if need be" alone, which line and
    which partition exists unsaid."""
    submit_line = f"then submit with: {resume_command(job)}"
    if job.partition is None or "invalid partition" not in refusal.lower():
        return (
            "the scripts are written; fix the cause (edit the #SBATCH lines if need be), "
            + submit_line
        )
    scripts = " and ".join(
        shell_quote(str(path)) for path in (job.script_path, job.out_dir / INDEX_SCRIPT_NAME)
    )
    return (
        f"the scripts are written; SLURM knows no partition {shell_quote(job.partition)} "
        f"(sinfo -s lists this cluster's): edit #SBATCH --partition in {scripts}, "
        f"{submit_line}; or run harvester slurm again with the right --partition"
    )


@dataclass(frozen=True)
class Submitted:
    """Job ids of a submission: the array and the index job that follows it."""

    array_id: str
    index_id: str | None


def submit(job: SlurmJob, *, index_job: bool = True) -> Submitted:
    """Submit the written array script (and the index job depending on it).

    A refused submission (a wrong partition, an account limit) names what is already done
    and the command that submits the rest: the scripts are written and stay, and an array
    already queued must not be queued twice.
    """
    index = str(job.out_dir / INDEX_SCRIPT_NAME)
    try:
        array_id = _sbatch([str(job.script_path)], cwd=job.out_dir)
    except HarvesterError as exc:
        if exc.hint is None:
            exc.hint = _refused_hint(job, str(exc))
        raise
    index_id: str | None = None
    if index_job:
        try:
            index_id = _sbatch([f"--dependency=afterany:{array_id}", index], cwd=job.out_dir)
        except HarvesterError as exc:
            if exc.hint is None:
                exc.hint = (
                    f"the array is queued as job {array_id}; index.csv is rebuilt by the "
                    f"index job: sbatch --dependency=afterany:{array_id} {shell_quote(index)}"
                )
            raise
    log.info("submitted array %s (index job %s)", array_id, index_id)
    return Submitted(array_id, index_id)


def _not_there_yet(array_id: str) -> str:
    """tail's line for a log of array ``array_id`` not there yet, in the C locale
    (``LC_ALL=C``: the words are fixed), as a ``grep`` pattern: the one message
    :func:`follow_logs_command` leaves out. The log's name ends it, before tail's closing
    quote, whatever the folder (tail quotes a name with a ``'`` in ``"``, and writes a
    non-ASCII byte as ``$'\\303'``). Why the name: a task's own line that begins
    ``tail: cannot open`` (a line of one of its logs: grep sees them all) was dropped too."""
    return (
        f"^tail: cannot open .*/harvest-{array_id}_[0-9]*\\.log. for reading: "
        "No such file or directory$"
    )


def follow_logs_command(log_dir: Path, array_id: str, tasks: int) -> str:
    """The shell line that follows the logs of every task of array ``array_id``, those not
    started yet too: ``tail -F`` waits for a missing file and follows it once it appears,
    and bash's ``{0..N-1}`` names each task's log whether it exists or not. Why: a glob
    (``harvest-ID_*.log``) is expanded once, at the prompt, to the logs of the tasks
    already started; the rest were never followed.

    Why the ``grep``: tail says ``cannot open ... No such file or directory`` once for each
    log not there yet, a screenful for a large array of tasks still pending, and has no
    option to keep that to itself (``-q`` drops the ``==> log <==`` headers, ``--retry``
    is part of ``-F``). Its output and its errors go through one pipe (``2>&1``), in the
    order tail wrote them, to a ``grep -v`` of that one message (:func:`_not_there_yet`,
    naming this array's logs: a log's own line like it stays): its other lines stay, in
    place: ``has appeared``, which names a late task's first lines where GNU tail prints no
    header before them, and a log it cannot read (``Permission denied``), which it would
    otherwise follow in silence. In the C locale (``LC_ALL=C``) the words are tail's
    English ones whatever the user's language, and ``-a`` passes any byte of a log through
    (grep stops printing a "binary" input otherwise).

    A log's last line shows once its newline is written (``--line-buffered``), not before:
    grep can only tell tail's message (anchored at the line's end) from a task's own line
    once the line is whole. Nothing is held for long by that: a task writes whole lines
    (Python's stderr is line-buffered, its progress lines are printed with ``flush``, a log
    record is one write), so a line lacks its newline only between two writes of it, or
    for good where a task was killed in the middle of one (SLURM's next line then ends it).

    Why ``bash -c``: the line is pasted into the user's login shell, and sh (dash) and tcsh
    do not expand ``{0..N-1}``: tail waited on one file of that name, which never appears,
    and showed nothing. bash is there wherever the script runs (``#!/bin/bash``); the
    folder is its ``$0``, quoted once, for any shell. An array of one task keeps a plain
    ``tail -F``: its one ``cannot open`` says the task has not started, and there is
    nothing else to read it among.
    """
    q = shell_quote
    if tasks == 1:
        return f"tail -F {q(str(log_dir / f'harvest-{array_id}_0.log'))}"
    logs = f'"$0"/harvest-{array_id}_{{0..{tasks - 1}}}.log'
    quiet = f'grep -av --line-buffered "{_not_there_yet(array_id)}"'
    each = f"export LC_ALL=C; tail -F {logs} 2>&1 | {quiet}"
    return f"bash -c {q(each)} {q(str(log_dir))}"


def follow_text(job: SlurmJob, sub: Submitted) -> str:
    """How to follow a submitted array (printed by the CLI)."""
    q = shell_quote
    out = q(str(job.out_dir))
    lines = [
        f"submitted job array {sub.array_id}: {plural(job.tasks, 'task')}, "
        f"at most {job.parallel} at once",
        f"  queue:    squeue -j {sub.array_id}",
        f"  logs:     {follow_logs_command(job.log_dir, sub.array_id, job.tasks)}",
        f"  progress: harvester status {out}",
        f"  cancel:   scancel {sub.array_id}",
        f"  resume:   {resume_command(job)}",
        # When, and the shorter line: run at once it doubles the queued array (each task
        # refused by the one running its shard), and it resubmits every task.
        f"            (once job {sub.array_id} has ended: finished work is skipped and the "
        f"index job rebuilds index.csv after it; harvester status {out} gives the line for "
        "the tasks with work left only)",
    ]
    if sub.index_id:
        lines.append(
            f"  index:    job {sub.index_id} rebuilds {out}/index.csv when the array ends"
            f" (or run: harvester index {out})"
        )
    return "\n".join(lines)

"""One job-array script per selection of a folder: ``harvest.sbatch``, ``harvest-2.sbatch`` ...

Why: ``harvester slurm`` wrote every selection into ``DIR/harvest.sbatch``. A second
selection (other targets or ``--where``) written while the first array still had
work left (tasks failed, cancelled, timed out) took its place: ``status``'s resubmit line
then named a script that harvests something else, and nothing could finish the first array
but writing its script again by hand. So a script is rewritten only by the same selection;
another gets the next free name, and ``status`` tells each apart by the command line its
tasks journal (a run's ``argv`` is the script's task command, with ``--rate`` and
``--shard`` of its own).

A folder of one selection (the common case) keeps ``harvest.sbatch`` alone, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.shell_words import shell_quote
from harvester.slurm import INDEX_SCRIPT_NAME, SCRIPT_NAME, task_args
from harvester.text import plural

if TYPE_CHECKING:
    from harvester.config import RecordedRun
    from harvester.slurm import Queue

#: A further selection's script: ``harvest-2.sbatch``, ``harvest-3.sbatch`` ...
_MORE_RE = re.compile(r"harvest-([1-9][0-9]{0,5})\.sbatch")
#: A script larger than this is not one ``harvester slurm`` wrote (they are about 2 KB).
_MAX_SCRIPT_BYTES = 1 << 20


#: What makes a target set of DIR (:func:`harvester.config.server_set`): its targets, an
#: ids file or plan, its ``--where`` terms and ``--sample-per`` key, its server.
_SET_KEYS = (
    "screens", "projects", "plates", "datasets", "images", "ids_from", "from_plan",
    "where", "sample_per", "base_url",
)  # fmt: skip


def _selection_flags() -> frozenset[str]:
    """The task flags that decide which target set of DIR a task harvests, as a resume
    tells sets apart (:func:`harvester.config.server_set`). Not ``--artifacts``, ``--sample``
    or ``--seed``: a set's newest run decides those (the kinds it drops are said apart, with
    the command that asks for them again), so a script of other kinds for the same set is
    that set's script rewritten, as before. Nor ``--rate`` and the other run settings, nor
    ``--out`` (one folder), nor how its files are labelled or split."""
    from harvester.config import FLAGS

    return frozenset(FLAGS[key] for key in _SET_KEYS)


def selection_words(args: Sequence[str]) -> tuple[str, ...]:
    """What of a task command's arguments (:func:`harvester.slurm.task_args`, or a run's
    journaled ``argv`` after ``harvest``) decides its target set: the config file (the
    first word, where it is no flag), then each such flag with its value, sorted (the order
    of the flags changes no image). Two scripts of the same words are one selection."""
    wanted = _selection_flags()
    config = [args[0]] if args and not args[0].startswith("-") else []
    pairs: list[str] = []
    for n, word in enumerate(args):
        flag, eq, value = word.partition("=")
        if flag not in wanted:
            continue
        if not eq:
            if n + 1 >= len(args):
                continue
            value = args[n + 1]
        pairs.append(f"{flag} {value}")
    return (*config, *sorted(pairs))


def folder_scripts(out_dir: Path) -> list[Path]:
    """DIR's job-array scripts: ``harvest.sbatch`` first (where it is there), then each
    ``harvest-N.sbatch`` by N."""
    more: list[tuple[int, Path]] = []
    try:
        for path in out_dir.iterdir():
            if (m := _MORE_RE.fullmatch(path.name)) is not None and path.is_file():
                more.append((int(m.group(1)), path))
    except OSError:
        return []
    first = out_dir / SCRIPT_NAME
    return [*([first] if first.is_file() else []), *(path for _n, path in sorted(more))]


def script_selection(script: Path) -> tuple[str, ...] | None:
    """:func:`selection_words` of ``script``'s task command; None where it has none (not a
    script ``harvester slurm`` wrote, or one it cannot read)."""
    try:
        if script.stat().st_size > _MAX_SCRIPT_BYTES:
            return None
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    args = task_args(text)
    return None if args is None else selection_words(args)


def script_for(out_dir: Path, harvest_args: Sequence[str]) -> Path:
    """Where ``harvester slurm`` writes the script whose tasks run ``harvest_args``: the
    script of DIR of the same selection (rewritten, as before), else ``harvest.sbatch``
    where DIR has none, else the next ``harvest-N.sbatch``: another selection's script is
    never written over (its array may still have work left)."""
    words = selection_words(harvest_args)
    scripts = folder_scripts(out_dir)
    for script in scripts:
        if script_selection(script) == words:
            return script
    if not (out_dir / SCRIPT_NAME).exists():
        return out_dir / SCRIPT_NAME
    numbers = [int(m.group(1)) for p in scripts if (m := _MORE_RE.fullmatch(p.name))]
    return out_dir / f"harvest-{max([1, *numbers]) + 1}.sbatch"


def run_words(argv: Iterable[str]) -> tuple[str, ...] | None:
    """:func:`selection_words` of a run's journaled command line (``harvest ...``); None
    for another command's."""
    words = list(argv)
    if not words or words[0] != "harvest":
        return None
    return selection_words(words[1:])


def set_script(out_dir: Path, recorded: RecordedRun) -> Path | None:
    """The script that resubmits ``recorded``'s target set (one shard of a split): with
    several scripts in DIR, the one whose task command its newest run ran; None where none
    did (a split run by hand). With one script (or none) ``harvest.sbatch``, as before."""
    scripts = folder_scripts(out_dir)
    if len(scripts) < 2:
        return out_dir / SCRIPT_NAME
    words = run_words(recorded.argv)
    return next((s for s in scripts if words is not None and script_selection(s) == words), None)


def plan_script(scripts: Sequence[Path], plan_at: Path) -> int | None:
    """Which of ``scripts`` (:func:`folder_scripts`, by index) harvests the plan of
    ``plan_at`` (its task command's ``--from-plan`` names that plan), the first such;
    None where none does. Why: status counted a plan's share of each task by
    harvest.sbatch's task count, though harvest-2.sbatch's array harvests the plan."""
    from harvester.plan import plan_dir

    here = plan_dir(plan_at).resolve()
    for n, script in enumerate(scripts):
        try:
            if script.stat().st_size > _MAX_SCRIPT_BYTES:
                continue
            args = task_args(script.read_text(encoding="utf-8", errors="replace")) or []
        except OSError:
            continue
        named = [
            value for flag, value in zip(args, args[1:], strict=False) if flag == "--from-plan"
        ]
        if named and plan_dir(Path(named[-1])).resolve() == here:
            return n
    return None


def short_selection(words: tuple[str, ...]) -> str:
    """A script's selection as status names it: its flags (``--screen 3 --artifacts
    thumbnail``), the config file by its name, the server left out (one per folder, mostly)."""
    said: list[str] = []
    for word in words:
        flag, _, value = word.partition(" ")
        if not flag.startswith("-"):
            said.append(f"config {shell_quote(Path(word).name)}")
        elif flag != "--base-url":
            said.append(f"{flag} {shell_quote(value)}")
    return " ".join(said) or "its targets"


@dataclass
class ArrayScript:
    """One of DIR's job-array scripts as ``status`` lists them (a folder of two or more):
    its selection, whether its array is in the queue, has run or was never submitted, and the
    command that submits it where it has not run."""

    script: str
    tasks: int | None
    #: Its targets and selection as status names them (:func:`short_selection`).
    selection: str
    #: ``"queued"`` (pending or running: ``jobs``), ``"ran"`` (a task of it journaled a
    #: run), ``"forgotten"`` (it ran, and ``harvester forget`` took its selection out of
    #: DIR's resumes: :func:`mark_forgotten`), ``"not_submitted"`` (none of these, the queue
    #: asked) or ``"not_run"`` (none, and the queue could not be asked: it may be waiting
    #: there).
    state: str
    jobs: list[str] = field(default_factory=list)
    #: The line that submits it with the index job after it (states ``not_submitted`` and
    #: ``not_run``), else None.
    submit: str | None = None

    def text(self) -> str:
        """Its line under ``job array scripts``."""
        tasks = f"{plural(self.tasks, 'task')}; " if self.tasks is not None else ""
        head = f"  {shell_quote(self.script)} ({tasks}{self.selection}): "
        if self.state == "queued":
            return head + f"queued or running as job {','.join(self.jobs)}"
        if self.state == "ran":
            return head + "its array has run (its line under 'to resume' where it has work left)"
        if self.state == "forgotten":
            return (
                head
                + "its array has run; its selection is forgotten (harvester forget): not resumed"
            )
        if self.state == "not_submitted":
            return head + f"written, never submitted; to submit: {self.submit}"
        return head + (
            "no task of it has run: not submitted yet, or waiting in the queue (not asked "
            f"here); to submit: {self.submit}"
        )


def array_scripts(
    out_dir: Path,
    scripts: Sequence[Path],
    runs: Iterable[Mapping[str, Any]],
    queues: Sequence[Queue] | str,
) -> list[ArrayScript]:
    """Each of DIR's job-array scripts (``scripts``: :func:`folder_scripts`), where DIR
    holds two or more ([] otherwise: the one script is the folder's, as status has always
    said it). ``runs``: DIR's journaled run records (their ``argv`` tells which script's
    tasks ran); ``queues``: each script's jobs in the queue, in their order
    (:func:`harvester.slurm.scripts_queues`, asked once by ``harvester status`` for them all),
    or why it was not asked."""
    from harvester.slurm import resume_line, script_array

    if len(scripts) < 2:
        return []
    ran = {words for run in runs if (words := run_words(_argv(run))) is not None}
    out: list[ArrayScript] = []
    for n, script in enumerate(scripts):
        words = script_selection(script)
        array = script_array(out_dir, script)
        jobs = list(queues[n].jobs) if not isinstance(queues, str) else []
        if jobs:
            state = "queued"
        elif words is not None and words in ran:
            state = "ran"
        else:
            state = "not_submitted" if not isinstance(queues, str) else "not_run"
        out.append(
            ArrayScript(
                script=str(script),
                tasks=array[0] if array is not None else None,
                selection=short_selection(words) if words is not None else "not harvester's",
                state=state,
                jobs=jobs,
                submit=resume_line(out_dir, script=script) if state.startswith("not_") else None,
            )
        )
    return out


def mark_forgotten(scripts: list[ArrayScript], forgotten: Iterable[RecordedRun]) -> None:
    """Say ``forgotten`` of each script of ``scripts`` (:func:`array_scripts`) whose array
    has run and whose selection is that of one of the ``forgotten`` target sets' newest
    runs (``harvester forget`` took them out of DIR's resumes). Why: status said "its array
    has run (its line under 'to resume' where it has work left)" of a selection no resume
    line will ever name, while its work left was not counted at all."""
    words = {said for recorded in forgotten if (said := run_words(recorded.argv)) is not None}
    if not words:
        return
    for script in scripts:
        if script.state == "ran" and script_selection(Path(script.script)) in words:
            script.state = "forgotten"


def _argv(run: Mapping[str, Any]) -> list[str]:
    argv = run.get("argv")
    return [str(word) for word in argv] if isinstance(argv, list) else []


def array_scripts_lines(scripts: list[ArrayScript], out_dir: str) -> list[str]:
    """``status``'s lines for DIR's scripts (:func:`array_scripts`): none for fewer than two."""
    if not scripts:
        return []
    index = shell_quote(str(Path(out_dir) / INDEX_SCRIPT_NAME))
    head = f"job array scripts, one per selection ({index} rebuilds index.csv after any of them):"
    return [head, *(script.text() for script in scripts)]

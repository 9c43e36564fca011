"""``harvester plan``, ``harvester slurm`` and ``harvester index``: cluster runs.

The workflow for a study too big for one process::

    harvester plan CONFIG --out DIR              # walk once -> DIR/plan/
    harvester slurm CONFIG --out DIR --from-plan DIR --tasks 16 --max-parallel 4 --submit
    harvester status DIR                         # any time, aggregates every shard
    harvester index DIR                          # any time; also run for you after the array
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harvester.cli.harvest import (
    IDS_FROM_HELP,
    TARGET_FLAGS,
    JoinedCommaLists,
    add_budget_flag,
    add_content_flags,
    add_outage_flag,
    add_request_flags,
    add_selection_flags,
    add_split_flags,
    add_target_flags,
    apply_target_links,
    artifacts_arg,
    config_arg,
    count_arg,
    folder_arg,
    foreign_folder_note,
    refuse_targets_with_plan,
    say_line,
    say_note,
    selection_argv,
    selection_overrides,
    split_argv,
    split_overrides,
    target_overrides,
    warn_foreign_folder,
    warn_unitless_budget,
)
from harvester.end_lines import size_said
from harvester.errors import HarvesterError, UsageError, base_url_holds_secret
from harvester.plan import RUN_FLAGS
from harvester.shell_words import shell_join, shell_quote
from harvester.text import agree, plural, quoted

if TYPE_CHECKING:
    from harvester.client import Client
    from harvester.config import HarvestConfig, RecordedRun
    from harvester.journal import JournalState
    from harvester.models import Artifact
    from harvester.originals import OriginalsSummary, UrlMap
    from harvester.plan import PlanInfo
    from harvester.session import SessionWatch
    from harvester.slurm import SlurmJob
    from harvester.splits import SplitSpec, SplitTally

#: How a run asks the server, beside its total ``--rate`` and ``--concurrency``: passed on
#: by ``slurm`` to its tasks and by ``plan`` to the commands it prints (flag, dest).
_ASKING_FLAGS = (
    ("--burst", "burst"),
    ("--max-retries", "max_retries"),
    ("--timeout", "timeout"),
    ("--min-speed", "min_speed"),
    ("--outage-wait", "outage_wait"),
)
#: Harvest flags with a value that ``harvester slurm`` passes on to every task as given,
#: spelled as ``harvester harvest`` spells them: (flag, argparse dest = config key).
#: ``--rate`` and ``--concurrency`` are not here: they are totals, split per task.
TASK_VALUE_FLAGS = (
    *_ASKING_FLAGS,
    ("--max-bytes", "max_bytes"),
    ("--thumbnail-size", "thumbnail_size"),
    ("--window", "window"),
)


def _add_common(parser: argparse.ArgumentParser, *, ids_help: str, slurm: bool) -> None:
    """The flags ``plan`` and ``slurm`` share; ``slurm``: the help of ``--concurrency``,
    ``--rate`` and ``--burst`` says how the tasks share them, else (``plan``) that the walk
    asks so and the commands it prints carry them.

    Why apart: ``plan --help`` said "for slurm the total of all tasks", in a command that
    runs no task, which read as if a plan's rate were a job array's."""
    parser.add_argument("config", nargs="?", type=config_arg, help="TOML config file (optional)")
    parser.add_argument(
        "--out", type=folder_arg, required=True, metavar="DIR", help="output folder DIR"
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="OMERO.web base URL (default: the server DIR was harvested from, else IDR)",
    )
    add_target_flags(parser)
    parser.add_argument("--ids-from", type=Path, metavar="FILE", help=ids_help)
    parser.add_argument(
        "--artifacts",
        metavar="LIST",
        action=JoinedCommaLists,
        type=artifacts_arg,
        help="comma list: thumbnail,imgdata,render,metadata,stack,rois,paths (or all; repeatable; "
        "default: the kinds of DIR's newest run, else the first four)",
    )
    whose = (
        "the total of all tasks, split across running tasks"
        if slurm
        else "of the walk, and of the commands printed after it"
    )
    parser.add_argument(
        "--concurrency",
        type=count_arg,
        metavar="N",
        help=f"concurrent requests (default 8; {whose})",
    )
    parser.add_argument(
        "--rate",
        metavar="R",
        help=f"requests/s, or 'none' (default 10; {whose})",
    )
    _add_client_flags(parser, slurm=slurm)
    add_selection_flags(parser)


def _add_client_flags(parser: argparse.ArgumentParser, *, slurm: bool) -> None:
    """How each request is sent: ``plan`` walks the server with them, ``slurm`` tasks fetch."""
    add_request_flags(
        parser,
        burst_help="rate burst (default 1); per task, not split like --rate: the tasks "
        "running at once may start up to max(rate, M x B) requests in one second"
        if slurm
        else "rate burst (default 1)",
    )


def _add_task_flags(parser: argparse.ArgumentParser) -> None:
    """Harvest flags that only matter when images are fetched: ``slurm`` passes them on."""
    add_content_flags(parser)
    add_outage_flag(parser)
    add_budget_flag(parser, per_task=True)  # each task's own, not split like --rate
    parser.add_argument(
        "--no-labels",
        dest="no_labels",
        action="store_true",
        help="skip the map-annotation requests made only for index.csv labels",
    )
    parser.add_argument(
        "--refresh-labels",
        dest="refresh_labels",
        action="store_true",
        help="each task asks the labels of its images already harvested again, so that "
        "annotations edited on the server reach index.csv (every run of the script does)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="tasks print only problems into their logs (this command still says what it wrote)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "out": str(args.out),
        "base_url": args.base_url,
        "ids_from": str(args.ids_from) if args.ids_from else None,
        "artifacts": args.artifacts,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "burst": args.burst,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
        "min_speed": args.min_speed,
        "outage_wait": args.outage_wait,
        **selection_overrides(args),
        **target_overrides(args),
    }
    return values


def _task_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`_overrides` plus the flags only ``slurm`` has, as harvest turns them into keys."""
    values = _overrides(args)
    values["thumbnail_size"] = args.thumbnail_size
    values["window"] = args.window
    values["max_bytes"] = args.max_bytes
    values.update(split_overrides(args))
    if args.label_ids_from is not None:
        values["label_ids_from"] = str(args.label_ids_from)
    if args.no_labels:
        values["labels"] = False
    if args.refresh_labels:  # (refused beside --no-labels now, as each task would be)
        values["refresh_labels"] = True
    if args.quiet:
        values["quiet"] = True
    return values


def _paths_with_variables(config_file: Path | None) -> set[str]:
    """The path keys of ``config_file`` whose value names an environment variable
    (``ids_from = "$SCRATCH/ids.txt"``), which config.load_toml expanded for this command.
    Why: the tasks read the file on their nodes, in an environment that may differ from
    (or lack) the login node's; such a path goes on their command line expanded."""
    if config_file is None:
        return set()
    from harvester.config import PATH_KEYS, written_value
    from harvester.path_vars import names_variable

    written = {key: written_value(config_file, key) for key in PATH_KEYS}
    return {key for key, text in written.items() if isinstance(text, str) and names_variable(text)}


def _pin_argv(
    args: argparse.Namespace, config: HarvestConfig, expanded: AbstractSet[str] = frozenset()
) -> list[str]:
    """``--label-ids-from FILE`` for every task (by its absolute path: a task starts in the
    folder sbatch ran from), FILE read and checked now as each task would (a config file's
    ``label_ids_from`` too), not refused N times in the queue. Each task records the pin in
    ``DIR/label_ids.json`` before its first file, so the index job keeps it (unless a record
    made after the script was written says otherwise: :func:`harvester.slurm.script_written`).
    A config file's ``label_ids_from`` goes on the command line only where it names a
    variable (in ``expanded``, :func:`_paths_with_variables`); else the file names it."""
    from harvester.label_ids import read_labels_file_for_run

    path = config.label_ids_from
    if path is None:
        return []
    read_labels_file_for_run(path, Path(args.out), config.label_keys)
    if args.label_ids_from is None and "label_ids_from" not in expanded:
        return []  # (the config file, which every task reads, names it)
    return ["--label-ids-from", str(Path(args.label_ids_from or path).resolve())]


def _arg_text(value: object) -> str:
    """A flag value for the task's command line: ``12`` rather than ``12.0`` for a float."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def task_flags_argv(args: argparse.Namespace) -> list[str]:
    """The per-task harvest flags given to ``slurm``, again, for each task's command line.

    Only the flags given: a value that came from the config file reaches the task through
    that file (which the task reads too), so a flag still wins over the file there as here.
    """
    out = _flags_given(args, TASK_VALUE_FLAGS)
    if args.no_labels:
        out.append("--no-labels")
    if args.refresh_labels:
        out.append("--refresh-labels")
    if args.quiet:
        out.append("--quiet")
    return out


def register(subparsers: Any) -> None:
    """Add the ``plan``, ``slurm`` and ``index`` subcommands."""
    plan = subparsers.add_parser(
        "plan",
        help="walk the targets once and write the work list into DIR/plan",
        description="Walk the targets once and write DIR/plan/images.jsonl and plan.json "
        "atomically; then `harvester harvest --from-plan DIR --shard K/N` needs no walk.",
    )
    _add_common(plan, ids_help=f"{IDS_FROM_HELP}; - reads standard input", slurm=False)
    add_outage_flag(plan)  # its walk waits for a server down as a harvest does
    plan.add_argument("--force", action="store_true", help="replace an existing plan")
    plan.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    plan.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    plan.set_defaults(run=run_plan)

    slurm = subparsers.add_parser(
        "slurm",
        help="write (and with --submit, submit) a SLURM job array running the harvest in shards",
        description="Write DIR/harvest.sbatch, a job array whose task K of N runs "
        "`harvester harvest ... --shard K/N`; the total --rate is split across the tasks "
        "that run at once. Submitting the same script again resumes. Another selection "
        "(other targets, --where, ...) into the same DIR gets a script of its own, "
        "DIR/harvest-2.sbatch (then -3, ...), and the first is kept.",
    )
    _add_common(
        slurm,
        ids_help=f"{IDS_FROM_HELP}; a regular file the nodes can read (the tasks read it later)",
        slurm=True,
    )
    _add_task_flags(slurm)
    slurm.add_argument(
        "--label-ids-from",
        type=Path,
        metavar="FILE",
        help="keep the label_ids of FILE (a labels.csv) for its labels, new labels after its "
        "largest; every task records it in DIR/label_ids.json, which the index job keeps",
    )
    add_split_flags(slurm)
    slurm.add_argument("--from-plan", type=folder_arg, metavar="DIR", help="use a plan (no walk)")
    slurm.add_argument(
        "--tasks", type=count_arg, required=True, metavar="N", help="number of shards N"
    )
    slurm.add_argument(
        "--max-parallel", type=count_arg, metavar="M", help="tasks running at once (default: all)"
    )
    slurm.add_argument("--partition", metavar="P", help="SLURM partition")
    slurm.add_argument(
        "--time", dest="time_limit", metavar="T", help="time limit per task, e.g. 12:00:00"
    )
    slurm.add_argument("--cpus", type=count_arg, metavar="C", help="CPUs per task")
    slurm.add_argument(
        "--mem", metavar="M", help="memory per task, e.g. 1G (a number alone is MB, SLURM's unit)"
    )
    slurm.add_argument(
        "--index-mem",
        metavar="M",
        help="memory of the job that rebuilds index.csv from every shard, e.g. 4G "
        "(about 2 KB per image; default: the cluster's)",
    )
    slurm.add_argument("--job-name", default="harvester", metavar="NAME", help="SLURM job name")
    slurm.add_argument("--submit", action="store_true", help="submit with sbatch")
    slurm.add_argument(
        "--no-check",
        action="store_true",
        help="do not ask the server about the targets now (each task checks them): for a "
        "login node that reaches it only through something that answers in its place",
    )
    slurm.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    slurm.set_defaults(run=run_slurm)

    index = subparsers.add_parser(
        "index",
        help="rebuild DIR/index.csv from every journal (safe while shards run)",
        description="Rebuild DIR/index.csv (and labels.csv, with label keys) from every "
        "journal, replacing the old one in one step; safe while shards still write. An "
        "index.csv or labels.csv edited since harvester wrote it is kept beside it, not "
        "overwritten. --label-key and --label-ids-from are recorded in DIR for later "
        "index writes.",
    )
    index.add_argument("out", type=folder_arg, metavar="DIR", help="the --out folder of a harvest")
    keys = index.add_mutually_exclusive_group()
    keys.add_argument(
        "--label-key",
        dest="label_keys",
        action="append",
        metavar="KEY",
        help="annotation key(s) for the label/label_id columns, recorded in "
        "DIR/label_keys.json: later index writes (harvest, index, the SLURM index job) keep "
        "them until another --label-key or --no-label-key; without it, the keys given last "
        "(default: those of the newest run that set any)",
    )
    keys.add_argument(
        "--no-label-key",
        dest="no_label_key",
        action="store_true",
        help="drop the label/label_id columns and labels.csv, and record that later index "
        "writes have none (not --no-labels, which is about fetching annotations)",
    )
    pins = index.add_mutually_exclusive_group()
    pins.add_argument(
        "--label-ids-from",
        type=Path,
        metavar="FILE",
        help="keep the label_ids of FILE (a labels.csv, of this folder or another) for its "
        "labels, new labels after its largest; recorded in DIR/label_ids.json: later index "
        "writes keep them until another --label-ids-from or --no-label-ids-from",
    )
    pins.add_argument(
        "--no-label-ids-from",
        dest="no_label_ids_from",
        action="store_true",
        help="drop the pinned label_ids (DIR/label_ids.json): label_id is the 0-based rank "
        "of the label again",
    )
    add_split_flags(index)
    index.add_argument(
        "--raw-url-map",
        dest="raw_url_maps",
        action="append",
        metavar="FROM=TO",
        help="client paths starting with FROM are public at TO + the rest, in "
        "DIR/originals.tsv and DIR/raw-urls.txt (folders with the paths artifact; "
        "repeatable, the first that fits wins); recorded in DIR/raw_url_map.json for later "
        "index writes, tried before the default: IDR's (uod/idr/filesets, idr/filesets, "
        "uod/idr/incoming, nfs/bioimage/drop... to https://ftp.ebi.ac.uk/pub/databases/IDR) "
        "for a folder harvested from IDR, none elsewhere (paths only)",
    )
    index.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    index.set_defaults(run=run_index)


def run_plan(args: argparse.Namespace) -> int:
    """``harvester plan``: walk once, publish DIR/plan."""
    from harvester.config import resolve
    from harvester.pipeline import copy_of_ids_source

    apply_target_links(args)
    overrides = _overrides(args)
    stdin = overrides["ids_from"] == "-"
    if stdin:  # standard input, as for harvest (the plan records it as /dev/stdin)
        from harvester.walk import standard_input_ids

        overrides["ids_from"] = str(standard_input_ids("plan"))
    config = resolve(args.config, overrides)
    # Before the event loop, as harvest copies it: the copy waits for the producer to end,
    # and a Ctrl-C meanwhile must interrupt that wait. Read once to see whether it holds an
    # id (plan_targets), a pipe would be gone for the walk.
    ids_copy = copy_of_ids_source(Path("-") if stdin else config.ids_from, "plan", config.base_url)
    try:
        return _plan(args, config, ids_copy)
    finally:
        if ids_copy is not None:
            ids_copy.unlink(missing_ok=True)


def _plan(args: argparse.Namespace, config: HarvestConfig, ids_copy: Path | None) -> int:
    """:func:`run_plan` once its config is resolved (``ids_copy``: see :func:`plan_targets`)."""
    import anyio

    from harvester.cli.harvest import artifacts_given, base_url_given, waited_text
    from harvester.config import NewestRun, folder_artifacts, folder_server
    from harvester.plan import check_plan_targets, plan_targets, refuse_existing_plan
    from harvester.progress import Progress, request_time_line

    check_plan_targets(config)  # (before the folder's server and kinds are said)
    refuse_existing_plan(Path(args.out), args.force)  # (so too)
    newest = NewestRun(config.out)  # (looked up once, for both)
    config, line = folder_server(config, given=base_url_given(args, config), newest=newest)
    if line and not args.quiet:  # a plan in a harvested folder: that folder's server
        print(line)
    config, line = folder_artifacts(config, given=artifacts_given(args, config), newest=newest)
    if line and not args.quiet:  # ... and its artifact kinds
        print(line)
    out = Path(args.out)
    # (the plan starts a harvest there; said once its store opened, as a harvest says it)
    out_note = foreign_folder_note(out, args.config, config.ids_from)
    argv = ["plan", *getattr(args, "command_argv", sys.argv[1:])[1:]]
    # Walking a big screen at the polite default rate takes hours: the images found, and how
    # far the walk is, are shown as a bar on a terminal, as a line a minute in a log (not
    # with --quiet).
    progress = Progress(enabled=not args.quiet)
    with progress.shown():
        info = anyio.run(
            lambda: plan_targets(
                config,
                out,
                force=args.force,
                argv=argv,
                on_image=lambda _ref: progress.discovered(),
                say=None if args.quiet else say_line,
                on_wait=_pause_noted(args, progress.waiting),
                ids_copy=ids_copy,
                on_walk=progress.walking,
                out_note=out_note,
                config_file=Path(args.config).absolute() if args.config else None,
            )
        )
    if not args.quiet:
        kinds = ", ".join(f"{n} {k}" for k, n in info.artifacts.items())
        print(
            f"planned {plural(info.images, 'image')} ({kinds}) in {out / 'plan'}"
            + waited_text(info)
        )
        done = info.done
        left = {k: n - done.get(k, 0) for k, n in info.artifacts.items()}
        if done:  # (a plan grown over a harvested folder: its harvest skips those)
            total = sum(info.artifacts.values())
            print(
                f"already harvested in {out}: {sum(done.values()):,} of the plan's "
                f"{plural(total, 'file', spec=',')}; {sum(left.values()):,} left"
            )
            if info.images and not any(left.values()):
                # Why: it went on to `next: harvester slurm ... --submit`, a job array
                # whose every task would skip all it was given.
                print(f"nothing left to harvest: {out} holds every file of the plan")
                return 0
        when = request_time_line(
            sum(left.values()), config.rate, kinds=[k for k, n in left.items() if n]
        )
        if when is not None:
            print(when)
        if "selection" in info.extra:
            print(_plan_selected_line(info))
        if not info.images:
            in_file = args.config if config.where and not args.where else None
            print(_empty_plan_line(bool(config.where), in_file))
            return 0
        # A --sample-per run labels by its key unless keys are given (config.resolve): the
        # plan does not hold label keys, so the commands carry the ones this plan implied.
        keys = args.label_keys or (config.label_keys if args.sample_per else ())
        # A --base-url with a user or session: neither the plan nor a config file keeps it.
        url_again = args.base_url is not None and "base_url" in config.withheld
        shown = str(config.to_public()["base_url"]) if url_again else ""
        for line in _plan_next_lines(
            args.config, out, keys, url_again=shown, run_flags=plan_run_flags(args)
        ):
            print(line)
    return 0


def _plan_selected_line(info: PlanInfo) -> str:
    """The harvest summary's ``selected ...`` line for a plan's selection: with a per-class
    sample, its classes and the images without the key too (the plan said neither, so the
    balance of an array's training set was known only once it had run)."""
    from harvester.selection import SelectStats

    extra = info.extra
    stats = SelectStats(
        walked=int(extra.get("walked", 0)),
        selected=info.images,
        description=str(extra["selection"]),
        per_key=str(extra.get("sample_per") or ""),
        classes=int(extra.get("classes", 0)),
        unclassed=int(extra.get("unclassed", 0)),
        gone_left_out=int(extra.get("gone_left_out", 0)),
    )
    return stats.summary()


def _pause_noted(
    args: argparse.Namespace, on_wait: Callable[[str | None, float, float | None], None]
) -> Callable[[str | None, float, float | None], None]:
    """``on_wait`` that also keeps the pause under way in ``args.server_down_since`` (what
    the server answers, since when: monotonic; None while it is up), for the line a Ctrl-C
    prints (:func:`harvester.cli._interrupted_line`): a plan interrupted while it waited for
    the server said only ``interrupted``."""

    def noted(reason: str | None, seconds: float, next_check: float | None) -> None:
        args.server_down_since = None if reason is None else (reason, time.monotonic() - seconds)
        on_wait(reason, seconds, next_check)

    return noted


def _empty_plan_line(selected: bool, where_file: Path | None = None) -> str:
    """What to do after a plan of no image, instead of the ``next:`` commands.

    Why: an empty selection (``--where 'Gene Symbol=ECT3'``) planned 0 images and then
    printed ``next: harvester slurm ... --submit``: a job array for nothing, submitted as
    told, and the warnings above it scrolled away. ``where_file``: the config file the
    terms came from (no ``--where`` given), whose ``where`` key is what to change.
    """
    change = "the targets"
    if where_file is not None:
        change = f"where = [...] in {shell_quote(str(where_file))} (see the warnings above)"
    elif selected:
        change = "the --where terms (see the warnings above)"
    return (
        f"nothing to harvest: the plan holds no image; change {change} and plan again with --force"
    )


#: The run settings ``plan`` and ``harvest``/``slurm`` share, as flags: how politely the
#: server is asked (a plan holds none of them: :func:`plan_run_flags`).
PLAN_RUN_FLAGS = tuple((flag, flag[2:].replace("-", "_")) for flag in RUN_FLAGS)


def plan_run_flags(args: argparse.Namespace) -> list[str]:
    """The run settings given to ``plan`` as flags, again, for the commands it prints.

    Why: ``plan --rate 2`` walked at 2 requests/s and printed a ``harvest --from-plan``
    that fetched at the default 10, and ``--rate none`` one that crawled at 10: the plan
    holds no run setting, and a user reading the ``next:`` lines expects the politeness
    they gave. As ``slurm`` passes its flags on to its tasks (:func:`task_flags_argv`),
    only the flags given: a config file's values reach the commands through that file,
    which they name. For ``slurm``, ``--rate`` and ``--concurrency`` are the totals of
    the tasks running at once: the server is asked no harder than by the plan's walk.
    """
    return _flags_given(args, PLAN_RUN_FLAGS)


def _flags_given(args: argparse.Namespace, flags: Sequence[tuple[str, str]]) -> list[str]:
    """``flags`` (flag, dest) given a value in ``args``, as a command line spells them."""
    out: list[str] = []
    for flag, dest in flags:
        value = getattr(args, dest, None)
        if value is not None:
            out += [flag, _arg_text(value)]
    return out


def _plan_next_lines(
    config: Path | None,
    out: Path,
    label_keys: Sequence[str] = (),
    *,
    url_again: str = "",
    run_flags: Sequence[str] = (),
) -> list[str]:
    """What to run after ``harvester plan``, as commands that work as written.

    The plan holds the server and the artifacts (``harvest``/``slurm --from-plan`` take
    them); a config file given to ``plan`` goes on too, for what else it sets (headers,
    cookies, rate ...), and so do the ``--label-key`` flags given to ``plan``: the plan does
    not hold them, and without them the harvest and the index job wrote no label column.
    Paths and keys are shell-quoted. ``url_again``: ``--base-url`` held a user or session,
    which the plan does not save (its URL as saved, which the note names; "" for none): the
    harvest is given ``--base-url URL`` (a note says which), and ``harvester slurm``, which
    refuses such a URL on its command line (its script would spell it out), a config file
    holding it (the commands as printed were refused, each with its own hint).
    ``run_flags``: the run settings given to ``plan`` (:func:`plan_run_flags`), for both.
    """
    from harvester.config import url_again_note

    conf = f"{shell_quote(str(config))} " if config is not None else ""
    where = f"--out {shell_quote(str(out))} --from-plan {shell_quote(str(out))}"
    where += "".join(f" --label-key {shell_quote(key)}" for key in label_keys)
    if run_flags:
        where += " " + shell_join(run_flags)
    slurm = f"next: harvester slurm {conf}{where} --tasks N --submit"
    harvest = f"  or: harvester harvest {conf}{where}"
    note = "one process; add --shard K/N for shard K of N"
    if url_again:
        secrets = conf.strip() or "SECRETS.toml"
        slurm = (
            f"next: harvester slurm {secrets} {where} --tasks N --submit"
            f"  # {secrets}: base_url with its user or session"
        )
        harvest += " --base-url URL"
        note += f"; {url_again_note(url_again)}"
    return [slurm, f"{harvest}  # {note}"]


def _folder_kept_for_tasks(
    args: argparse.Namespace, config: HarvestConfig, kinds: tuple[Artifact, ...]
) -> HarvestConfig:
    """``config`` with the values DIR keeps where none was given, for the tasks fetching
    ``kinds`` (:func:`harvester.cli.harvest.folder_kept_values`), each said in one line; a
    flag's value is put on the tasks' command line (``task_flags_argv``), so every task asks
    with the value seen now. ``render_quality``, a config file's key, is taken by each task
    as here (the marker decides, not the clock). Why also with a plan: ``harvester harvest
    --from-plan`` takes them, and ``harvester slurm --from-plan`` was refused for the
    default nobody typed."""
    from dataclasses import replace

    from harvester.cli.harvest import folder_kept_values

    kept, lines = folder_kept_values(args, replace(config, artifacts=kinds))
    for line in lines:
        print(line)
    for flag_dest in ("thumbnail_size", "window"):
        if getattr(kept, flag_dest) != getattr(config, flag_dest):
            setattr(args, flag_dest, getattr(kept, flag_dest))
    return replace(kept, artifacts=config.artifacts)


def run_slurm(args: argparse.Namespace) -> int:
    """``harvester slurm``: write the array script, optionally submit it."""
    from harvester.config import parse_rate, resolve
    from harvester.pipeline import check_out_dir
    from harvester.slurm import SCRIPT_NAME, SlurmJob, follow_text, submit, write_scripts
    from harvester.store import scrub_folder_credentials

    # Validate everything the tasks will see, now rather than N times in the queue.
    refuse_targets_with_plan(args)
    apply_target_links(args)
    overrides = _task_overrides(args)
    config = resolve(args.config, overrides)
    warn_unitless_budget(args, stops="each task stops")  # (once it is known to be a size)
    check_out_dir(Path(args.out))  # a file, or no write access: the words `plan` uses
    out = Path(args.out).resolve()
    scrub_folder_credentials(out)  # a token saved before 0.1.13 (its server is read below)
    rate = parse_rate(args.rate) if args.rate is not None else config.rate
    harvest_args: list[str] = []
    if args.config is not None:
        harvest_args.append(str(Path(args.config).resolve()))
    harvest_args += ["--out", str(out)]
    targets_at = len(harvest_args)  # the target flags go here, once checked (below)
    base_url = args.base_url
    artifacts = args.artifacts
    if not (args.from_plan or config.from_plan or config.has_targets):
        # Said before the folder's server and kinds are (they read as if work would follow).
        from harvester.cli.harvest import base_url_given

        raise _no_targets(out, config.base_url if base_url_given(args, config) else None)
    if config.ids_from is not None and config.ids_from.is_file():
        # Each task would be refused alike in the queue (or warn, beside other targets).
        # (A pipe or `-` is refused below: the tasks read the file later.)
        from harvester.pipeline import no_ids_held

        no_ids_held(config, going_on="the tasks harvest the other targets")
    if not (args.from_plan or config.from_plan):  # (a plan names its server and kinds)
        from harvester.cli.harvest import artifacts_given, base_url_given
        from harvester.config import NewestRun, folder_artifacts, folder_server

        newest = NewestRun(config.out)  # (looked up once, for both)
        given = base_url_given(args, config)
        config, line = folder_server(config, given=given, newest=newest, url_in_file=True)
        if line:  # every task asks that server, named on its command line
            print(line)
            base_url = config.base_url
        config, line = folder_artifacts(config, given=artifacts_given(args, config), newest=newest)
        if line:  # every task fetches those kinds, named on its command line
            print(line)
            artifacts = ",".join(a.value for a in config.artifacts)
    # A config file's path naming a variable ($SCRATCH/ids.txt), expanded here, goes on
    # every task's command line: a task must not read it in its node's environment.
    expanded = _paths_with_variables(args.config)
    if args.ids_from:
        harvest_args += ["--ids-from", str(_task_ids_file(Path(args.ids_from), config.base_url))]
    elif config.ids_from is not None and "ids_from" in expanded:
        harvest_args += ["--ids-from", str(_task_ids_file(config.ids_from, config.base_url))]
    plan = args.from_plan or config.from_plan  # the flag, or from_plan in the config file
    if plan and config.refresh_labels:
        raise _refresh_with_plan(args)
    if plan:
        # The tasks take the plan's server and artifacts (resolve_config): so do the checks.
        base_url, artifacts = _check_plan(plan, config, args.config, overrides)
        if args.from_plan:  # a config file's from_plan reaches the tasks through that file
            harvest_args += ["--from-plan", str(Path(args.from_plan).resolve())]
        elif "from_plan" in expanded:  # (unless it names a variable: see above)
            harvest_args += ["--from-plan", str(Path(plan).resolve())]
    # (after the plan's kinds are known: a plan's tasks take the folder's values as others do)
    from dataclasses import replace

    from harvester.config import parse_artifacts

    kinds = parse_artifacts(artifacts) if artifacts else config.artifacts
    config = _folder_kept_for_tasks(args, config, kinds)
    harvest_args += selection_argv(args)
    harvest_args += split_argv(args)
    harvest_args += _pin_argv(args, config, expanded)
    harvest_args += task_flags_argv(args)
    if base_url:
        if base_url_holds_secret(base_url):
            # The script is a plain file other people may read (and sbatch keeps a copy):
            # credentials go through the config file, which the script names, not copies.
            # Any query counts: what a resume would need again (withheld) is a credential.
            flag = getattr(args, "login_link_flag", None)
            if flag is not None and base_url == args.base_url:  # (a pasted link's login)
                raise UsageError(
                    f"the link given to {flag} holds a login, which harvest.sbatch would spell"
                    " out on every task's command line",
                    hint="give the link without its login, and base_url with it in the config"
                    " file (the script passes the file by name); keep that file private",
                )
            raise UsageError(
                "--base-url holds a user or password, or a query (a user alone, as a token, "
                "and every query value count as credentials), which harvest.sbatch would spell "
                "out on every task's command line",
                hint="put base_url in the config file instead (the script passes the file "
                "by name) and keep that file private",
            )
        harvest_args += ["--base-url", base_url]
    if artifacts:
        harvest_args += ["--artifacts", artifacts]
    # A folder keeps the settings that shape its files: refused now, not in every task.
    from harvester.folder_settings import run_settings
    from harvester.store import check_settings, repin_settings

    wanted = run_settings(replace(config, artifacts=kinds))
    repins = check_settings(out, wanted)
    job = SlurmJob(
        out_dir=out,
        tasks=args.tasks,
        harvest_args=[*harvest_args, *_target_argv(args, {})],  # validated with them as given
        max_parallel=args.max_parallel,
        rate=rate,
        concurrency=args.concurrency if args.concurrency is not None else config.concurrency,
        burst=config.burst,
        partition=args.partition,
        time_limit=args.time_limit,
        cpus=args.cpus,
        mem=args.mem,
        index_mem=args.index_mem,
        job_name=args.job_name,
        python=sys.executable,
        max_bytes=config.max_bytes,
    )
    _refuse_other_split(out, job.tasks)
    from harvester.array_scripts import script_for

    def with_targets(named: dict[str, dict[str, list[int]]]) -> SlurmJob:
        """The job of the targets (names given as the ids ``named`` holds), in the script
        of its selection: its own, or the next free name (:func:`script_for`)."""
        targets = _target_argv(args, named)
        made = replace(
            job, harvest_args=[*harvest_args[:targets_at], *targets, *harvest_args[targets_at:]]
        )
        return replace(made, script_name=script_for(out, made.harvest_args).name)

    typed = with_targets({})  # (the targets as typed: no server asked)
    queued = _refuse_queued_array(out, typed.script_path, typed.tasks)
    own = [array for array in queued if not array.other_selection]
    if own and args.submit and _same_work(own[0].script, typed):
        raise own[0].refusal(False, typed.script_path)  # (the same command: no server asked)
    # The server last, once everything local is known to be right: the targets the tasks
    # get (flags and config file alike) checked once now, not in every task, and the
    # names given as flags written as the ids they select.
    job = with_targets({} if plan or args.no_check else _check_targets_now(config))
    if job.script_name != typed.script_name:  # (a name was another selection's ids)
        queued = _refuse_queued_array(out, job.script_path, job.tasks)
    if queued and args.submit:  # (refused before anything is written)
        first = queued[0]
        other_work = first.other_selection or not _same_work(first.script, job)
        raise first.refusal(other_work, job.script_path)
    if repins:
        # A setting no file was made with, and no run of DIR now: re-pinned here, once, as
        # the script is written (a refused command changes nothing), so that the tasks find
        # their value kept: each task re-pinning at its start would find its siblings'
        # locks held and be refused.
        repin_settings(out, wanted)
    # (once the command is known to go on: a refused one puts nothing among those entries)
    warn_foreign_folder(Path(args.out), args.config, config.ids_from, config.from_plan)
    queued_notes = [array.note(job.script_path) for array in queued]
    own_queued = any(not array.other_selection for array in queued)
    replaced = _queued_task_args(job.script_path) if own_queued else None
    script, _index = write_scripts(job)
    if own_queued and replaced is not None and replaced != _queued_task_args(script):
        queued_notes[0] += f"; {_REPLACED_QUEUED}"
    print(f"wrote {script} ({plural(job.tasks, 'task')}, at most {job.parallel} at once)")
    if job.script_name != SCRIPT_NAME:
        print(f"note: {_another_selection_note(out, script)}")
    if job.burst_note:
        print(f"note: {job.burst_note}")
    if job.parallel_note:
        print(f"note: {job.parallel_note}")
    if job.budget_note:
        print(f"note: {job.budget_note}")
    if plan and (again := _reselection_note(plan, config)):
        print(f"note: {again}")
    elif plan and (idle := _idle_tasks_note(plan, job.tasks)):
        print(f"note: {idle}")
    if not args.submit:
        for note in queued_notes:
            print(f"note: {note}")
        for line in _submit_lines(script, _index):
            print(line)
        return 0
    submitted = submit(job)
    print(follow_text(job, submitted))
    return 0


def _another_selection_note(out: Path, script: Path) -> str:
    """Said as ``harvester slurm`` writes a further selection's script (``harvest-2.sbatch``):
    the scripts of DIR's other selections are kept, each resubmitted for its own work left."""
    from harvester.array_scripts import folder_scripts

    others = [shell_quote(str(s)) for s in folder_scripts(out) if s != script]
    return (
        f"this selection's script is {script.name}: {', '.join(others)} (another selection: "
        "other targets or --where) is kept as it is, for what its array leaves; harvester "
        f"status {shell_quote(str(out))} names each script with its command"
    )


def _target_argv(args: argparse.Namespace, named: dict[str, dict[str, list[int]]]) -> list[str]:
    """The target flags given, for every task's command line: a name looked up now
    (``named``: dest -> name -> ids) as the ids it selects, anything else as given, a run
    of consecutive ids as one range (:func:`~harvester.config.id_flags`)."""
    from harvester.config import id_flags

    out: list[str] = []
    for _flag, dest, _text in TARGET_FLAGS:
        values: list[int | str] = []
        for value in getattr(args, dest) or ():
            ids = named.get(dest, {}).get(value) if isinstance(value, str) else None
            values.extend(ids if ids is not None else [value])
        out += id_flags(dest, values)
    return out


def _check_targets_now(config: Any) -> dict[str, dict[str, list[int]]]:
    """The tasks' targets checked on the server once now: dest -> screen/project name -> ids.

    Every task would check them on its own, in the queue, hours later: an id or a name that
    is not on the server would fail each of them there. So the harvest's own checks run
    here, once, in one server contact: the server check, one listing per kind named
    (:func:`harvester.names.ids_of_names`), then one request per numeric id
    (:func:`harvester.walk.preflight`); an unknown one is a UsageError, before the script
    is written. Targets from the config file are checked too (the tasks read that file);
    the names given as flags are returned for the script to carry their ids (a screen
    added on the server between two tasks' starts cannot give them different targets).
    ``--ids-from`` ids are not asked for (the file may hold millions), nor a plan's (it
    was checked when it was made).

    Where this machine cannot reach the server (a login node without its network, a busy
    or failing server) the check is skipped, said in a note, and each task checks for
    itself; one try per request, each within the quick server check's time limit, keeps
    that to seconds. A server that answers but is not OMERO.web
    (:class:`~harvester.errors.NotOmeroError`) or that wants other credentials (a 401,
    :class:`~harvester.errors.CredentialsError`) would fail every task the same: refused.
    So does a certificate this machine does not trust
    (:class:`~harvester.errors.UntrustedServerError`): the nodes mostly trust the same CAs,
    and the tasks get the ``SSL_CERT_FILE`` the submitting shell has.
    """
    import anyio

    from harvester.client import Client
    from harvester.errors import (
        CredentialsError,
        NotOmeroError,
        RemoteError,
        TransientError,
        UntrustedServerError,
    )
    from harvester.layout import index_path
    from harvester.names import ids_of_names
    from harvester.pipeline import QUICK_PROBE_TIMEOUT, client_settings, probe_server
    from harvester.walk import preflight

    names = {"screen": config.screen_names, "project": config.project_names}
    ids = {
        kind: getattr(config, kind)
        for kind in ("screens", "projects", "plates", "datasets", "images")
    }
    if not any(names.values()) and not any(ids.values()):
        return {}
    found: dict[str, dict[str, list[int]]] = {}

    async def check() -> None:
        _leave_hung_lookups_behind()
        await probe_server(config, quick=True)
        # As quick as the server check: one try each, its time limit. With the harvest's
        # retry budget a failing listing (a 500) held the submit for its whole backoff
        # (11 s) only to leave the check to the tasks, which retry it themselves.
        quick = client_settings(
            config, max_retries=0, timeout=min(config.timeout, QUICK_PROBE_TIMEOUT)
        )
        async with Client(quick) as client:
            # A session (a config file's) that has ended: refused here, as a 401 is, where
            # every task would stop on it (harvester.session.raise_if_ended).
            watch = _lookups_watch(client, config)
            for kind, given in names.items():
                if given:
                    found[f"{kind}s"] = await ids_of_names(
                        client,
                        kind,
                        given,
                        say=_say,
                        config_file=config.names_file.get(f"{kind}s"),
                        watch=watch,
                    )
            await preflight(client, **ids, watch=watch, index=index_path(config.out))

    try:
        anyio.run(check)
    except (NotOmeroError, UntrustedServerError) as exc:
        # The tasks would fail the same, unless this machine's answer came from something
        # else (a login node's intercepting proxy): the way past it is named.
        hint = f"{exc.hint}; " if exc.hint else ""
        raise type(exc)(
            str(exc),
            hint=f"{hint}if only this machine gets that answer, add --no-check "
            "(each task checks the targets)",
        ) from None
    except CredentialsError:
        # A 401, or a session that has ended: every task would be refused the same (the
        # error names which case).
        raise
    except (RemoteError, TransientError) as exc:
        # Not reached, busy, or failing after the retries: the tasks check for themselves.
        looked = " and looks the names up" if any(names.values()) else ""
        print(f"note: targets not checked here ({exc}); each task checks them{looked}")
        return {}
    return found


def _lookups_watch(client: Client, config: HarvestConfig) -> SessionWatch | None:
    """The watch of the targets' check for a config that sends credentials (None: a
    public one, which asks nothing more): only its lookups' refusals are judged, so it
    stops nothing itself (:meth:`harvester.session.SessionWatch.ended_at_start`)."""
    if not config.withheld:
        return None
    from harvester.session import SessionWatch

    return SessionWatch(client, lambda _status, _reason: None, session=config.sends_session)


def _leave_hung_lookups_behind() -> None:
    """Let this event loop end without waiting for a server-name lookup that hangs.

    asyncio looks host names up (getaddrinfo) in its default executor's threads, and its
    end waits for them: where the resolver does not answer (a login node whose DNS cannot
    reach the outside) the check's time limit ended the request, yet ``harvester slurm``
    waited as long as the lookup hung (30 s with a stalled lookup, against 5 s for the
    quick server check). The check may be skipped, so its loop does not wait: the thread
    ends on its own, and at exit the command waits for it no longer than for any other
    (:data:`harvester.cli.THREAD_GRACE`).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    class NoWaitExecutor(ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            super().shutdown(wait=False, cancel_futures=cancel_futures)

    asyncio.get_running_loop().set_default_executor(NoWaitExecutor())


def _say(line: str) -> None:
    print(line)


def _reselection_note(plan: Path, config: HarvestConfig) -> str | None:
    """A selection given with ``--from-plan`` (flags or the config file) other than the
    plan's own: see :func:`harvester.plan.reselection_note`. None without one, or for the
    plan's own (the config file it was made with): its tasks harvest the plan whole, as
    they do given none (:meth:`harvester.pipeline.Harvest._check_plan`)."""
    from harvester.plan import read_plan_info, reselection_note
    from harvester.selection import Selection

    selection = Selection.from_config(config)
    if not selection.active:
        return None
    info = read_plan_info(plan)
    if selection.describe() == info.extra.get("selection"):
        return None
    return reselection_note(info)


def _idle_tasks_note(plan: Path, tasks: int) -> str | None:
    """More tasks than the plan has images, or None: the tasks past them get no image, yet
    each is queued and started (a job slot, a log) to find nothing to do."""
    from harvester.plan import read_plan_info

    images = read_plan_info(plan).images
    if tasks <= images:
        return None
    return (
        f"the plan holds {plural(images, 'image')}: at least {tasks - images} of the "
        f"{tasks} tasks get none (each still takes a job slot); --tasks {max(images, 1)} "
        "is enough"
    )


def _refuse_other_split(out: Path, tasks: int) -> None:
    """Refuse a script of N shards while a run with another split harvests DIR.

    Each run locks ``DIR/locks/shard-K-of-N.lock`` (``all.lock`` unsharded), and a task of
    this script would be refused by the run lock anyway (:mod:`harvester.runlock`); saying
    it now, before the script is written and queued, spares an array of failed tasks.
    """
    from harvester.errors import FolderInUseError
    from harvester.runlock import is_harvest_holder, other_split_holding

    other = other_split_holding(out, f"0/{tasks}")
    if other is not None and not is_harvest_holder(other):
        # (harvester forget, for a moment: "being harvested ... overlap" named no harvest)
        raise FolderInUseError(
            f"{out} is in use by another process: {other}, which holds it while it records "
            "its change",
            hint="it harvests nothing: write the script again once it has ended",
        )
    if other is not None:
        raise UsageError(
            f"{out} is being harvested by another process {other}: its images overlap the "
            f"{plural(tasks, 'shard')} of this script, which would fetch them a second time",
            hint=f"wait for that run to end ({_how_to_stop(out, other)}), then write the "
            "script again; a resubmitted array of the same --tasks resumes its work",
        )


_HOLDER_SHARD_RE = re.compile(r"as shard \d+/(\d+)\b")


def _how_to_stop(out: Path, holder: str) -> str:
    """How to stop the run ``holder`` names (:func:`other_split_holding`'s words): the
    ``scancel`` of the array the queue lists of DIR's one script (of its scripts, one a
    selection: :func:`harvester.array_scripts.folder_scripts`) whose task count is the
    holder's shard count; else plainly "or stop it" (a run by hand, no queue to ask, or two
    such arrays queued: which one it is is unknown). Why: "(or scancel it)" left the user
    to find which job; and only harvest.sbatch's queue was asked, so a task of
    harvest-2.sbatch's array was "a run to stop" (found by review)."""
    from harvester.array_scripts import folder_scripts
    from harvester.slurm import cancel_said, script_array, scripts_queues

    m = _HOLDER_SHARD_RE.match(holder)
    if m is None:
        return "or stop it"
    shards = int(m.group(1))
    scripts = [
        script
        for script in folder_scripts(out)
        if (array := script_array(out, script)) is not None and array[0] == shards
    ]
    queues = scripts_queues(scripts) if scripts else "no script of that count"
    queued = [] if isinstance(queues, str) else [queue for queue in queues if queue.jobs]
    if len(queued) == 1:
        return f"or cancel its job array: {cancel_said(queued[0].jobs, queued[0].owners)}"
    return "or stop it"


#: Said after the note of a script written over the one an array in the queue runs, when
#: the two harvest otherwise (other targets, artifacts or selection: not only another
#: --rate). Why: status's resume line resubmits DIR's script as it is now, so the work that
#: array leaves (a task cancelled, failed) was offered to this script's tasks, which
#: harvest something else, again and again.
_REPLACED_QUEUED = (
    "that array runs the script this one replaced, whose tasks harvest something else (other "
    "targets, artifacts or selection): status's resume lines now resubmit this one, which "
    "may not do what that array leaves undone: for that, write its script again (the "
    "harvester slurm command that wrote it) before this one is submitted"
)


#: Task command words that change no file, as :data:`harvester.plan.RUN_FLAGS` do not:
#: how much the tasks' logs say. Why: a script written again with ``--quiet`` was said to
#: harvest something else than the queued array of the same work.
_LOG_ONLY_WORDS = ("--quiet",)


def _queued_task_args(script: Path) -> list[str] | None:
    """The task command's arguments in one of DIR's scripts
    (:func:`harvester.slurm.task_args`) but how politely the server is asked
    (:data:`harvester.plan.RUN_FLAGS`) and how much the tasks' logs say
    (:data:`_LOG_ONLY_WORDS`), which change no file; None where there is no script or no
    such line."""
    try:
        text = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return _work_args(text, _folder_kept(script.parent))


def _same_work(script: Path, job: SlurmJob) -> bool:
    """Whether ``job``'s tasks harvest what those of ``script`` (one of DIR's) do
    (:func:`_work_args`); True where that script has no task line to compare.

    Why apart: ``--submit`` beside a queued array of the same command is refused before the
    server is asked (the targets as typed are those of the queued script); it was refused
    only once the targets had been checked there, a server down giving its error instead."""
    from harvester.slurm import render_script

    queued_work = _queued_task_args(script)
    if queued_work is None:
        return True
    return queued_work == _work_args(render_script(job), _folder_kept(script.parent))


def _folder_kept(out: Path) -> dict[str, Any]:
    """The settings DIR keeps (``--thumbnail-size``, ``--window``: its marker's), {} where
    it keeps none or its marker cannot be read (the tasks' own checks say so)."""
    from harvester.folder_settings import recorded_settings
    from harvester.store import read_marker

    try:
        return recorded_settings(read_marker(out))
    except (HarvesterError, OSError):
        return {}


#: The flags of a sample: ``--seed`` changes nothing without one of them.
_SAMPLE_FLAGS = frozenset({"--sample", "--sample-per", "--sample-fraction"})


def _valued_flags(args: list[str], flags: AbstractSet[str]) -> dict[str, list[tuple[int, int]]]:
    """Where each of ``flags`` is among ``args`` (``--flag VALUE`` or ``--flag=VALUE``):
    flag -> its (first word, value's word) of each time, in order."""
    found: dict[str, list[tuple[int, int]]] = {}
    for n, word in enumerate(args):
        flag, eq, _value = word.partition("=")
        if flag in flags and (eq or n + 1 < len(args)):
            found.setdefault(flag, []).append((n, n if eq else n + 1))
    return found


def _value_at(args: list[str], at: tuple[int, int]) -> str:
    start, value = at
    return args[value].partition("=")[2] if start == value else args[value]


def _idle_flags_dropped(args: list[str], kept: Mapping[str, Any]) -> list[str]:
    """``args`` (a task command's) without the flags that change nothing its tasks do:
    ``--seed`` without a sample flag, or of the default 0; ``--thumbnail-size`` or
    ``--window`` of a kind the tasks do not fetch (their ``--artifacts``), or of the value
    the tasks take without it (DIR's, ``kept``, else the default). A script naming a
    config file keeps those words but the kinds' (the file may set a sample or a size
    the flag overrides).

    Why: ``harvester slurm`` said a script written again with ``--seed 0``, or with
    ``--thumbnail-size`` of DIR's thumbnails, harvests something else than its queued
    array, which harvests the same files."""
    from harvester.config import parse_artifacts
    from harvester.folder_settings import PINNED

    pinned = {pin.flag: pin for pin in PINNED if pin.flag.startswith("--")}
    found = _valued_flags(args, {"--seed", "--artifacts", *_SAMPLE_FLAGS, *pinned})
    last = {flag: _value_at(args, spots[-1]) for flag, spots in found.items()}
    config_file = bool(args) and not args[0].startswith("-")
    kinds: set[str] | None = None
    if "--artifacts" in last:
        try:
            kinds = {kind.value for kind in parse_artifacts(last["--artifacts"])}
        except HarvesterError:  # (a hand-edited script: its words are compared as they are)
            kinds = None
    unsampled = not _SAMPLE_FLAGS & last.keys()
    idle = {"--seed"} if not config_file and (unsampled or last.get("--seed") == "0") else set()
    for flag, pin in pinned.items():
        unfetched = kinds is not None and pin.kind not in kinds
        as_without = not config_file and last.get(flag) == _arg_text(
            kept.get(pin.name, pin.default)
        )
        if unfetched or as_without:
            idle.add(flag)
    idle &= last.keys()
    dropped = {n for flag in idle for spot in found[flag] for n in range(spot[0], spot[1] + 1)}
    return [word for n, word in enumerate(args) if n not in dropped]


def _work_args(script_text: str, kept: Mapping[str, Any]) -> list[str] | None:
    """The arguments of a script's task command that say what its tasks harvest (all but
    :data:`harvester.plan.RUN_FLAGS`, :data:`_LOG_ONLY_WORDS` and the flags that change
    nothing: :func:`_idle_flags_dropped`, DIR keeping ``kept``), None where it has no such
    line."""
    from harvester.slurm import task_args

    args = task_args(script_text)
    if args is None:
        return None
    args = _idle_flags_dropped(args, kept)
    kept_words: list[str] = []
    skip = False
    for word in args:
        if skip:
            skip = False
        elif word in RUN_FLAGS:
            skip = True
        elif word.partition("=")[0] not in RUN_FLAGS and word not in _LOG_ONLY_WORDS:
            kept_words.append(word)
    return kept_words


@dataclass(frozen=True)
class _QueuedArray:
    """One of DIR's arrays queued or running (:func:`_refuse_queued_array`): of the script
    being written, of as many tasks, or of another selection's script (``harvest-2.sbatch``
    ...: :mod:`harvester.array_scripts`); its jobs named for a note or a refusal."""

    script: Path
    ids: str  # (for squeue -j)
    said: str  # (the jobs, another user's with its owner)
    cancel: str  # (how to cancel them)
    #: Its script is another selection's than the one being written. Why said apart: its
    #: tasks harvest other images, yet take the same shard locks of DIR (one run of a shard,
    #: one split, at a time), so an array beside it has tasks refused all the same.
    other_selection: bool = False

    def _head(self) -> str:
        other = " (another selection's script)" if self.other_selection else ""
        return f"{self.script}{other} is queued or running as job {self.said}"

    def note(self, written: Path) -> str:
        """What a script written without ``--submit`` (``written``) is told: submit it once
        that array has ended."""
        if not self.other_selection:
            return (
                f"{self._head()}: submit it once that has ended (squeue -j {self.ids}), not"
                " before: each shard would run twice at once"
            )
        return (
            f"{self._head()}: submit {written.name} once that has ended (squeue -j"
            f" {self.ids}), not before: DIR takes one run of a shard at a time, so the tasks"
            " of the two arrays would be refused where they meet"
        )

    def refusal(self, other_work: bool, written: Path) -> UsageError:
        """The refusal of ``--submit`` of ``written`` beside it; ``other_work``: the script
        written now harvests something else than the queued one (other targets, artifacts or
        selection).

        Why apart: the refusal said "a second array of it" and "each shard twice" of an array
        that would harvest another selection, which read as if the new one repeated it."""
        quoted_out = shell_quote(str(self.script.parent))
        this = written.name if self.other_selection else "this script"
        if other_work:
            return UsageError(
                f"{self._head()}, whose tasks harvest something else (other targets, artifacts"
                f" or selection): an array of {this} beside it would have each shard's"
                " task refused while that array's runs (DIR takes one run of a shard at a"
                " time), the two asking the server at up to twice the --rate",
                hint=f"wait for it to end (squeue -j {self.ids}), then run this command again;"
                f" or cancel it ({self.cancel}) and run it again (harvester status {quoted_out}"
                " says what that array left undone)",
            )
        return UsageError(
            f"{self._head()}: a second array of it "
            "would run each shard twice at once (one of the two refused where they meet), "
            "its tasks together asking the server at up to twice the --rate",
            hint=f"wait for it to end (squeue -j {self.ids}): harvester status "
            f"{quoted_out} then gives the line that resubmits the tasks with work "
            f"left; or cancel it ({self.cancel}) and submit again",
        )


def _refuse_queued_array(out: Path, written: Path, tasks: int) -> list[_QueuedArray]:
    """Refuse a script of N shards while its own array (``written``: the script of this
    selection) of another N waits in the queue; return DIR's arrays queued otherwise, its
    own first, then other selections' (:func:`harvester.array_scripts.folder_scripts`),
    for the note of a script written without ``--submit`` or the refusal of ``--submit``
    (:class:`_QueuedArray`).

    No run lock is held by a queued task, so :func:`_refuse_other_split` let it through:
    both arrays then ran, and each task meeting a task of the other split was refused by
    its run lock (exit 2), leaving failed tasks in both arrays (found by an HPC walkthrough).
    Of the same N, both arrays ran too: each shard's second task refused (FAILED in
    SLURM's words), and the tasks running at once, twice the M the script's share of the
    total ``--rate`` was cut for, asking the server at twice that rate (found by another).
    Another selection's array takes the same locks (one per shard of DIR): only
    ``harvest.sbatch``'s queue was asked, so ``harvest-2.sbatch``'s array let ``--submit``
    of harvest.sbatch through, and the reverse (found by review). Another selection's
    script of another N is no reason to refuse writing this one: it is said, and
    ``--submit`` refused, as for one of the same N.
    """
    from harvester.array_scripts import folder_scripts
    from harvester.slurm import cancel_said, jobs_said, script_array, scripts_queues

    scripts = [written, *(s for s in folder_scripts(out) if s != written)]
    arrays = [(script, array) for script in scripts if (array := script_array(out, script))]
    # (one listing of the queue for every script: each squeue may take seconds on a login node)
    queues = scripts_queues([script for script, _array in arrays]) if arrays else []
    found: list[_QueuedArray] = []
    if isinstance(queues, str):  # (no queue to ask here: nothing queued is known)
        return found
    for (script, array), queue in zip(arrays, queues, strict=True):
        if not queue.jobs:
            continue
        # (another user's job, of a shared folder, is named with its owner, who cancels it)
        ids, said = ",".join(queue.jobs), jobs_said(queue.jobs, queue.owners)
        cancel = cancel_said(queue.jobs, queue.owners)
        if script == written and array[0] != tasks:
            raise UsageError(
                f"{script} of {plural(array[0], 'task')} is queued or running as job "
                f"{said}: its tasks and those of a script of {plural(tasks, 'task')} would "
                "hold the same images, and each would be refused where they meet",
                hint=f"wait for it to end (squeue -j {ids}) or cancel it ({cancel}), then "
                f"write the script again; or keep --tasks {array[0]}",
            )
        found.append(_QueuedArray(script, ids, said, cancel, other_selection=script != written))
    return found


def _task_ids_file(path: Path, server: str) -> Path:
    """``--ids-from`` for the tasks, checked now: each task reads it later, on its node.

    A pipe (``<(cmd)``, ``-``) is gone by then (``harvester harvest`` copies one for its
    own run, a job cannot), and a missing or junk file would fail every task in the queue.
    ``server``: the tasks' base URL, that of the file's links (a link of another would
    fail every task too).
    """
    from harvester.walk import check_ids_file

    if str(path) == "-" or (path.exists() and not path.is_file() and not path.is_dir()):
        raise UsageError(
            f"--ids-from {shell_quote(str(path))}: the tasks read it later, so it must be a "
            "regular file",
            hint="save the ids first (cmd > ids.txt) on a filesystem the nodes share",
        )
    check_ids_file(path, server)  # a missing file, a folder, a junk line: named once, here
    return path.resolve()


def _submit_lines(script: Path, index_script: Path) -> list[str]:
    """How to submit what ``slurm`` wrote without ``--submit``: the array, then the job
    that rebuilds index.csv once every task has ended (what ``--submit`` queues itself)."""
    array, index = shell_quote(str(script)), shell_quote(str(index_script))
    return [
        f"submit with: sbatch {array}  # or rerun with --submit",
        f"then queue the index job (rebuilds index.csv when the array ends): "
        f"sbatch --dependency=afterany:<jobid> {index}",
        f"both at once: jid=$(sbatch --parsable {array}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {index}",
    ]


def _refresh_with_plan(args: argparse.Namespace) -> UsageError:
    """The refusal of ``--refresh-labels`` (or a config file's ``refresh_labels``) beside
    a plan, worded as each task's harvest words it.

    Why: ``slurm --from-plan PLAN --refresh-labels`` wrote the script, and every task of
    the array ended 2 in the queue (a harvest from a plan refuses the flag: it asks no
    labels, its labels are the plan's)."""
    said = "--refresh-labels" if args.refresh_labels else f"{args.config}: refresh_labels"
    return UsageError(
        f"{said}: a run from a plan asks no labels: it takes the plan's, asked when the plan "
        "was made (each task would be refused)",
        hint="make the plan again to ask them again (harvester plan ... --force), or leave "
        "out --refresh-labels",
    )


def _check_plan(
    plan_path: Path, config: Any, config_file: Path | None, overrides: dict[str, Any]
) -> tuple[str | None, str | None]:
    """Read the plan now (not N times in the queue): the base URL and artifacts of the tasks.

    As ``harvester harvest --from-plan`` (:func:`harvester.plan.apply_plan`): the plan's
    unless a flag or the config file gives them, a different server refused. A flag is
    passed on as given; a plan's value is passed as a flag; a config file's reaches the
    tasks through that file (None here: no flag added).
    """
    from harvester.plan import apply_plan, given_settings

    given = given_settings(config_file, overrides)
    config, _info = apply_plan(config, plan_path, given, command="slurm")
    base_url = overrides.get("base_url")
    artifacts = overrides.get("artifacts")
    if "base_url" not in given:
        base_url = config.base_url
    if "artifacts" not in given:
        artifacts = ",".join(str(a) for a in config.artifacts)
    return base_url, artifacts


def run_index(args: argparse.Namespace) -> int:
    """``harvester index DIR``: :func:`_index`, a full disk's hint in its own words (free
    space, then run the same command again: the index writer's are a harvest's, "resume")."""
    from harvester.errors import StorageError
    from harvester.store import retold_storage_error

    try:
        return _index(args)
    except StorageError as exc:
        raise retold_storage_error(exc) from exc.__cause__


def _index(args: argparse.Namespace) -> int:
    """``harvester index DIR``: rebuild index.csv from all journals.

    Label keys given here (``--label-key``, or none with ``--no-label-key``) are recorded in
    ``DIR/label_keys.json`` once the index is written, so every later index write given no
    keys (a resumed harvest, ``harvester index DIR``, the SLURM index job) keeps them; an
    interrupted or failed write records nothing (``--no-label-key`` has removed labels.csv
    by then: the next index without keys writes it again). Without either flag the keys
    given last are used (:func:`harvester.folder_settings.remembered_label_keys`).
    """
    from harvester.folder_settings import label_keys_path, remembered_label_keys
    from harvester.index import current_state, file_identity, index_lock
    from harvester.journal import JournalState
    from harvester.select import LABELS_FILE, write_labelled_index
    from harvester.splits import SplitTally, remember_split
    from harvester.store import refuse_unstarted_array, scrub_saved_credentials
    from harvester.verify import damaged_journal_lines, damaged_marker

    out = Path(args.out)
    # What index.csv is now: an interrupt tells by it whether the write replaced it
    # (harvester.cli._interrupted_line).
    args.index_before = file_identity(out / "index.csv")
    given = _given_label_keys(out, args)
    pin = _given_pin(args, given)
    split = _given_split(args)
    refuse_unstarted_array(out, "index")
    url_maps = _given_url_maps(args)
    # The same words as status and verify for a wrong DIR; a damaged harvest.json in a folder
    # with journals is a note, not a refusal (the index comes from the journals alone).
    note = damaged_marker(out)
    if note is not None:
        say_note(f"note: {note}")
    labels = out / LABELS_FILE
    if given is not None and label_keys_path(out).is_dir():
        # Said before the index is written, not after (the keys could not be recorded).
        raise UsageError(
            f"cannot record the label keys: {label_keys_path(out)} is a folder",
            hint="move that folder away (harvester writes a file there), then run the "
            "same command again",
        )
    # Handed over to write_labelled_index (popped, not kept here): it catches the state up
    # with what shards appended meanwhile, and two states of a big folder must not coexist.
    states = [current_state(out)]
    scrub_saved_credentials(out, states[0].runs)  # a token saved before 0.1.13
    for line in damaged_journal_lines(states[0].damaged_lines, out, by="index"):
        say_note(f"note: {line}")
    if given:
        from harvester.select import absent_label_keys_refusal

        refused = absent_label_keys_refusal(out, given, states[0])
        if refused is not None:  # before any table is written
            line, missing = refused
            if {key.strip() for key in given} <= set(missing):
                # A stopped harvest given the same typo left its config naming it: later
                # writes given no key would take it (_keep_label_keys records what they keep).
                with index_lock(out):
                    _keep_label_keys(out, JournalState(runs=states[0].runs), missing)
            raise UsageError(line)
    # What the write will find (said by it: a damaged record once, warn=False here); without
    # keys given, the write reads them again under DIR's index lock, as it reads split.json.
    keys = given if given is not None else remembered_label_keys(out, states[0], warn=False)
    if pin is not None and not keys:
        from harvester.label_ids import no_label_column

        raise no_label_column(args.label_ids_from, "the index")
    lost = _walks_short(states[0])
    dropped = False
    if not keys and given is not None and labels.exists():
        # Asked for: removed here, so the index write's "removed labels.csv ... add
        # --label-key" warning (meant for labels lost without asking) does not follow.
        dropped = _remove(labels)
    # The runs alone (their order and start), for the keys kept when no given key is
    # recorded: told after the write, which finds the keys no image has (_record_label_keys).
    runs = JournalState(runs=states[0].runs)
    pin_note = _pin_or_drop(out, args, pin)
    if split is not False:
        remember_split(out, split, by="harvester index")
    absent: list[str] = []
    written: list[Path] = []
    splits = SplitTally()
    label_rows: list[int] = []
    in_force: list[str] = []  # a pin recorded before (by the tasks of an array): said too
    # From the write to the record of the keys given: another index write (a harvest ending)
    # between the two read the keys recorded before, and left its tables on them last.
    originals: list[OriginalsSummary] = []
    with index_lock(out):
        if url_maps is not None:  # under the lock: a harvest ending now writes with these
            from harvester.originals import record_maps

            record_maps(out, url_maps)
        rows = write_labelled_index(
            out,
            given,
            states.pop(),
            absent=absent,
            written=written,
            pin_note=pin_note,
            pin_in_force=in_force,
            splits=splits,
            originals=originals,
            label_rows=label_rows,
        )
        also = f" and {labels} ({plural(sum(label_rows), 'label')})" if labels in written else ""
        print(f"wrote {out / 'index.csv'} ({plural(rows, 'image')}){also}")
        for summary in originals:
            from harvester.originals import originals_line

            print(originals_line(out, summary))
        _say_split(out, split, splits)
        for line in [*(pin_note or ()), *in_force]:
            print(line)
        if given is not None:
            _record_label_keys(out, given, absent, runs, removed=labels if dropped else None)
    short = _plan_shortfall(out, rows)
    if short:
        print(short.line)
        if short.provisional and labels in written:  # see harvester.index.mark_written_partial
            from harvester.index import mark_written_partial

            mark_written_partial(out, labels)
    elif lost:
        print(
            f"note: index.csv lacks the images of {lost} that did not list everything "
            f"(one still running or stopped, a shard not run yet, or a listing that failed: "
            f"harvester status {shell_quote(str(out))} names them)"
        )
    return 0


def _given_url_maps(args: argparse.Namespace) -> tuple[UrlMap, ...] | None:
    """The ``--raw-url-map`` mappings given (None: none given, the recorded ones hold)."""
    from harvester.originals import parse_url_map

    given: list[str] | None = getattr(args, "raw_url_maps", None)
    return None if not given else tuple(parse_url_map(text) for text in given)


def _record_label_keys(
    out: Path,
    given: tuple[str, ...],
    absent: Sequence[str],
    runs: JournalState,
    *,
    removed: Path | None,
) -> None:
    """Record the keys given to ``harvester index`` in ``DIR/label_keys.json``, and say so.

    A key no image has (``absent``, warned of by the index write with the nearest keys) is
    a typo: recorded, every later index write kept it, and its empty labels. Only the
    given keys some image has are recorded, the others said dropped; when none has any,
    later writes keep what they had (:func:`_keep_label_keys`; ``runs``: DIR's runs).
    ``removed``: the ``labels.csv`` that ``--no-label-key`` removed.
    """
    from harvester.folder_settings import (
        absent_label_keys_line,
        label_keys_path,
        remember_label_keys,
    )
    from harvester.select import problems

    record = label_keys_path(out)
    valid = tuple(key for key in given if key not in absent)
    wrong = [key for key in given if key in absent]
    if given and not valid:
        kept = _keep_label_keys(out, runs, absent)
        problems.warning("%s", absent_label_keys_line(record, wrong, kept))
        return
    remember_label_keys(out, valid, by="harvester index")
    if not valid:
        gone = f"removed {removed}; " if removed is not None else ""
        print(
            f"{gone}no label keys recorded in {record}: later index writes have no "
            "label columns until --label-key KEY"
        )
        return
    names = ", ".join(quoted(key) for key in valid)
    print(
        f"label keys {names} recorded in {record}: later index writes keep them "
        "until another --label-key or --no-label-key"
    )
    if wrong:
        problems.warning("%s", absent_label_keys_line(record, wrong, None))


def _keep_label_keys(out: Path, runs: JournalState, absent: Sequence[str]) -> tuple[str, ...]:
    """The keys later index writes keep when none of those given is on any image
    (``absent``): the keys given last, an earlier run given only such keys not counted, as
    a harvest given a typo counts them (``no_image_has``); recorded when later writes
    would take that run's instead (under DIR's index lock, held by the caller).

    Why: a harvest given the same typo and stopped before it recorded the keys kept left
    its config naming the typo; ``harvester index`` (asked before its write knew which keys
    no image has) named that typo as the keys kept, and later writes took it.
    """
    from harvester.folder_settings import remember_label_keys, remembered_label_keys

    kept = remembered_label_keys(out, runs, warn=False, no_image_has=absent)
    if remembered_label_keys(out, runs, warn=False) != kept:
        remember_label_keys(out, kept, by="harvester index")
    return kept


def _walks_short(state: JournalState) -> str | None:
    """How many walks left images out of every journal ("2 walks"), None if none did.

    Without a plan the index job cannot count what is missing, yet a shard whose task never
    started, or was killed while walking, leaves a short index.csv with exit 0 and nothing
    said; :func:`harvester.status.unfinished_walks` knows them (a failed study file lost
    no image: not counted).
    """
    from harvester.journal import walk_lost_images
    from harvester.status import unfinished_walks

    lost = [walk for walk in unfinished_walks(state) if walk_lost_images(walk)]
    if not lost:
        return None
    return plural(len(lost), "walk")


def _no_targets(out: Path, given_url: str | None = None) -> UsageError:
    """``harvester slurm`` given no targets: what to give, as commands for DIR where it can.

    Unlike ``harvester harvest --out DIR``, the script does not replay DIR's runs: it is
    one command for every task, and a folder's runs may hold several target sets (one
    array each) or ids read from a pipe, and their settings from a config file that a
    task's command line cannot carry (a selection lost there would harvest the whole
    study). So nothing is taken silently; the error names what to run instead: an array
    DIR holds already is submitted again as it is (the usual wish: a failed or timed-out
    array), and a new script gets DIR's plan, or the targets of DIR's newest run.

    ``given_url``: the ``--base-url`` given (or ``base_url`` in the config file). In a
    folder of two servers, as a resume given it (:mod:`harvester.cli.harvest`): the command
    is for that server's newest set, with its ``--base-url``, each set of another server
    gets a ``not resumed:`` line with its own command, and a URL of none of them is refused
    naming them. Why: the hint named DIR's newest set whatever the URL, and that URL added
    to its command asked one server for another's ids (other images, or failures).
    """
    from harvester.config import normal_base_url
    from harvester.slurm import SCRIPT_NAME, harvests_elsewhere, resume_line

    own = _sets_of_server(out, given_url) if given_url is not None else None
    again = _new_script_hint(out, own)
    # A script of a folder moved or copied since harvests into the old path: not resubmitted;
    # nor, in a folder of two servers, one of the other server than the one given.
    elsewhere = harvests_elsewhere(out)
    server = _script_server(out) if own is not None else None
    other = server is not None and normal_base_url(server) != normal_base_url(given_url or "")
    if (out / SCRIPT_NAME).is_file() and elsewhere is None and not other:
        hint = f"to run {out / SCRIPT_NAME} again (finished work is skipped): {resume_line(out)}"
        if again:
            hint += f"; for a new script, {again}"
    elif again:
        hint = again
    else:
        hint = (
            "give --screen, --project, --plate, --dataset, --image or --ids-from, a config "
            "file that lists them, or --from-plan DIR (a plan made by harvester plan)"
        )
    if other:
        hint = f"{out / SCRIPT_NAME} harvests from {server}: not it; for a new script, {hint}"
    if elsewhere is not None:
        hint = (
            f"{out / SCRIPT_NAME} harvests into {elsewhere} (the folder was moved or copied "
            f"since): do not submit it; for a new script, {hint}"
        )
    return UsageError(
        "nothing to harvest: harvester slurm needs the targets its tasks harvest", hint=hint
    )


def _sets_of_server(out: Path, given_url: str) -> list[RecordedRun] | None:
    """DIR's target sets harvested from ``given_url``, newest first, in a folder of two or
    more servers (None: DIR holds one server's; every set is that URL's, a server moved).
    The others' ``not resumed:`` lines, each with the ``harvester slurm`` command of its
    own set, are printed here; a URL of none of them is refused (UsageError), naming them.
    """
    from harvester.cli.harvest import no_set_of_server
    from harvester.config import (
        normal_base_url,
        recorded_target_sets,
        replay_which,
        servers_of,
        target_flags,
    )

    sets = recorded_target_sets(out)
    servers = servers_of(sets)
    if len(servers) < 2:
        return None
    wanted = normal_base_url(given_url)
    if wanted not in servers:
        example = _set_command(out, sets[0])
        hint = f"give one of theirs with a set's targets, e.g. {example}"
        raise no_set_of_server(out, given_url, servers, hint)
    for n, recorded in enumerate(sets):
        if normal_base_url(recorded.base_url) == wanted:
            continue
        if recorded.ids_read_once is not None:
            say_note(_read_once_elsewhere(out, recorded, replay_which(n)))
            continue
        targets = shell_join(target_flags(recorded)) or "its targets"
        say_note(
            f"not resumed: {replay_which(n)} ({recorded.run}) harvested {targets} from another "
            f"server, {recorded.base_url}; run: {_set_command(out, recorded)}",
        )
    return [r for r in sets if normal_base_url(r.base_url) == wanted]


def _read_once_elsewhere(out: Path, recorded: RecordedRun, which: str) -> str:
    """The ``not resumed:`` line of a set of another server whose ids were read once (standard
    input, a pipe): its ``harvester slurm`` command with ``--ids-from FILE`` (a task reads a
    regular file), and how to fill FILE with the failed images of that server's sets (the
    listing is per server, not per set). Why: such a set got no line at all, so a resume of
    one server's sets dropped it without a word."""
    from dataclasses import replace

    from harvester.config import failed_ids_command

    once = recorded.ids_read_once
    what = "standard input" if once == "-" else str(once)
    as_file = replace(recorded, config={**recorded.config, "ids_from": "FILE"})
    command, note = _set_command_and_note(out, as_file, server=True)
    server = recorded.base_url
    listing = f"{failed_ids_command(out)} --base-url {shell_quote(server)} > FILE"
    return (
        f"not resumed: {which} ({recorded.run}) read its image ids from {what}, which cannot "
        f"be read again, from another server, {server}; run, with the same ids in "
        f"FILE (or the failed images of that server's sets: {listing}): {command}{note}"
    )


def _script_server(out: Path) -> str | None:
    """The ``--base-url`` of the tasks of ``DIR/harvest.sbatch``; None when it names none
    (the URL in its config file, not read here) or is not there."""
    from harvester.slurm import SCRIPT_NAME, task_args

    try:
        words = task_args((out / SCRIPT_NAME).read_text(encoding="utf-8")) or []
    except (OSError, UnicodeDecodeError):
        return None
    return next((words[n + 1] for n, w in enumerate(words[:-1]) if w == "--base-url"), None)


def _new_script_hint(out: Path, own: list[RecordedRun] | None = None) -> str | None:
    """``harvest its plan: harvester slurm ...`` for DIR's plan, else ``give the targets
    again, ...`` with those of DIR's newest run whose ids a file holds; None without either.
    ``own``: the sets of the server given, in a folder of two (:func:`_sets_of_server`):
    the newest of those, with its ``--base-url``."""
    from harvester.config import recorded_target_sets, secrets_again_note
    from harvester.plan import META_FILE, plan_dir

    q = shell_quote(str(out))
    if (plan_dir(out) / META_FILE).is_file():
        # A plan made with credentials: never saved, so they go in a config file (as for a
        # folder's targets below); without one the command was refused as needing them.
        withheld = _plan_withheld(out)
        secrets = " SECRETS.toml" if withheld else ""
        note = f"  # {secrets_again_note(withheld, url_in_file=True)}" if withheld else ""
        return (
            f"harvest its plan: harvester slurm{secrets} --out {q} --from-plan {q} --tasks N{note}"
        )
    candidates = own if own is not None else recorded_target_sets(out)
    sets = [run for run in candidates if run.ids_read_once is None]
    if not sets:
        return None
    more = f" (its runs had {len(sets)} sets of targets: one array each)" if len(sets) > 1 else ""
    whose = "the folder's newest run" if own is None else "its newest set of that server"
    command, note = _set_command_and_note(out, sets[0], server=own is not None)
    return f"give the targets again, e.g. those of {whose}: {command}{more}{note}"


def _set_command(out: Path, recorded: RecordedRun) -> str:
    """``harvester slurm --out DIR --base-url ITS-URL TARGETS --tasks N``: a new script
    for ``recorded``'s target set from its own server (:func:`_set_command_and_note`)."""
    command, note = _set_command_and_note(out, recorded, server=True)
    return command + note


def _set_command_and_note(out: Path, recorded: RecordedRun, *, server: bool) -> tuple[str, str]:
    """The ``harvester slurm`` command of a new script for ``recorded``'s targets and
    selection, and its note (:func:`harvester.slurm.new_script_command`)."""
    from harvester.slurm import new_script_command

    return new_script_command(out, recorded, server=server)


def _plan_withheld(out: Path) -> list[str]:
    """The credentials DIR's plan was made with, never saved (``headers``, ``cookies``,
    ``base_url``: :attr:`harvester.config.HarvestConfig.withheld`); none for a plan that
    cannot be read (the run of it says why)."""
    from harvester.plan import read_plan_info

    try:
        saved = read_plan_info(out).extra.get("withheld")
    except UsageError:
        return []
    return [str(key) for key in saved] if isinstance(saved, list) else []


def _given_pin(args: argparse.Namespace, keys: tuple[str, ...] | None) -> dict[str, int] | None:
    """The label ids of ``--label-ids-from FILE`` (read and checked whole before anything
    is written: :func:`harvester.label_ids.read_labels_file`); None when not given."""
    from harvester.label_ids import read_labels_file

    path = args.label_ids_from
    if path is None:
        return None
    if keys == ():
        raise UsageError(
            "--label-ids-from pins the label_id column, which --no-label-key drops",
            hint="give one of them, or --label-key KEY with --label-ids-from",
        )
    return read_labels_file(path)


def _pin_or_drop(
    out: Path, args: argparse.Namespace, pin: dict[str, int] | None
) -> list[str] | None:
    """Record the pin given (then: the list that gets what it did), or drop DIR's pin
    with ``--no-label-ids-from`` (said in one line); None: no pin given now."""
    from harvester.label_ids import drop_pin, label_ids_path, record_pin

    if pin is not None:
        record_pin(out, pin, args.label_ids_from, by="harvester index")
        return []
    if args.no_label_ids_from:
        record = label_ids_path(out)
        if drop_pin(out, by="harvester index --no-label-ids-from"):
            print(
                f"dropped the pin of {record}: label_id is the 0-based rank of the label "
                "again (sorted), until --label-ids-from FILE"
            )
        else:
            print(f"note: {out} has no pinned label_ids ({record}): nothing to drop")
    return None


def _given_split(args: argparse.Namespace) -> SplitSpec | None | Literal[False]:
    """The split given to ``harvester index`` (None: ``--no-split``; False: neither given).

    Checked whole before anything is written, with the words of the harvest's refusals
    (``--split-by: says how to split, ...``, the flag named as the harvest names it).
    """
    from harvester.errors import ConfigError
    from harvester.splits import (
        DEFAULT_SPLIT_BY,
        NO_SPLIT,
        SplitSpec,
        check_split_by,
        check_split_seed,
        parse_split,
        redraw_hint,
    )

    try:
        by = check_split_by(args.split_by)
        none = args.split is not None and args.split.strip().lower() == NO_SPLIT
        if args.split is None or none:  # (--split none: as a config file's split = "none")
            dropped = "--no-split" if args.no_split else "--split none" if none else None
            if by is not None or args.split_seed is not None:
                flag = "--split-by" if by is not None else "--split-seed"
                if dropped:  # (a hint to add --split read as if it was not seen)
                    raise UsageError(
                        f"{flag}: says how to split, but the split is dropped ({dropped})",
                        hint=f"leave out {flag} with {dropped}, or give --split "
                        "NAME=FRACTION,... in its place",
                    )
                raise UsageError(
                    f"{flag}: says how to split, but no split is given",
                    hint=redraw_hint(Path(args.out), flag, by or args.split_seed),
                )
            return None if dropped else False
        # The seed's range is checked as a harvest's is: out of range, it was recorded and
        # split.json then read as damaged (no split column, exit 0).
        seed = check_split_seed(args.split_seed) or 0
        return SplitSpec(parse_split(args.split), by or DEFAULT_SPLIT_BY, seed)
    except ConfigError as exc:
        flag = "--" + (exc.key or "split").replace("_", "-")
        message = str(exc).removeprefix(f"{exc.key}: ") if exc.key else str(exc)
        raise UsageError(f"{flag}: {message}", hint=exc.hint) from None


def _say_split(out: Path, split: SplitSpec | None | Literal[False], tally: SplitTally) -> None:
    """The split line of ``harvester index``: images per split, or the split dropped."""
    from harvester.splits import SPLITS_FILE, split_counts_text, split_path

    if tally.spec is not None:
        recorded = f"; recorded in {split_path(out)}" if split else ""
        print(
            f"split: {split_counts_text(tally.spec, tally.counts, tally.alone)}, counted in "
            f"{out / SPLITS_FILE}{recorded}"
        )
    elif split is None:
        print(f"no split recorded in {split_path(out)}: index.csv has no split column")


def _given_label_keys(out: Path, args: argparse.Namespace) -> tuple[str, ...] | None:
    """The keys given to ``harvester index`` (``()``: ``--no-label-key``), None if neither.

    An empty key is refused rather than read as "no keys": ``--label-key "$KEY"`` with
    ``KEY`` unset would otherwise drop the labels of DIR for good, as a typo.
    """
    from harvester.errors import ConfigError
    from harvester.selection import parse_label_keys

    if args.no_label_key:
        return ()
    if not args.label_keys:
        return None
    try:
        return parse_label_keys(args.label_keys)
    except ConfigError:
        raise UsageError(
            "--label-key: an annotation key cannot be empty",
            hint=f"to drop the label columns: harvester index {shell_quote(str(out))} "
            "--no-label-key",
        ) from None


def _remove(path: Path) -> bool:
    """Remove ``path``; False if it was not there. A file that cannot be removed: one line."""
    from harvester.store import storage_error

    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise storage_error(exc, str(path)) from exc
    return True


@dataclass(frozen=True)
class _Shortfall:
    """:func:`_plan_shortfall`'s note, and whether a resubmitted array may still add the
    images it lacks (the index is then provisional)."""

    line: str
    provisional: bool


def _plan_shortfall(out: Path, rows: int) -> _Shortfall | None:
    """One line when ``DIR/plan`` holds more images than index.csv lists, else None.

    The index job runs once the array has ended, however its tasks ended: a cancelled or
    failed task leaves a short index.csv behind with exit 0, and a resubmitted array does
    not requeue the index job. Counting rows against the plan's total (its ``plan.json``,
    no pass over the images) says so where the user reads the result. Where all it lacks
    is images the server refused (:func:`_refused_for_good`), a resubmission gets the same
    answers: the note says so, and where their ids are, instead of "run again after the
    resubmitted array"; the index is then final.
    """
    from harvester.plan import META_FILE, plan_dir, read_plan_info
    from harvester.status import plan_forgotten, read_slurm_script

    plan: Path | None = out
    if not (plan_dir(out) / META_FILE).is_file():  # the array's --from-plan, if elsewhere
        slurm = read_slurm_script(out)
        plan = Path(slurm.from_plan) if slurm is not None and slurm.from_plan else None
    if plan is None or not (plan_dir(plan) / META_FILE).is_file():
        return None
    if plan_forgotten(out, plan):  # (`harvester forget`: its images gone from the server)
        return None
    try:
        planned = read_plan_info(plan).images
    except HarvesterError:
        return None  # `harvester status DIR` reports a plan that cannot be read
    if rows >= planned:
        return None
    missing = planned - rows
    q = shell_quote(str(out))
    head = (
        f"note: index.csv lists {rows} of the plan's {plural(planned, 'image')}; {missing} "
        f"{agree(missing)} not in it"
    )
    refused, servers, gone = _refused_for_good(out)
    if refused and gone and missing <= gone:
        return _Shortfall(
            f"{head}: {plural(gone, 'image')} {agree(gone)} gone from the server, "
            f"recorded by harvester forget --gone-ids-from (harvester status {q} counts them), "
            "so a resubmitted array would not add them",
            provisional=False,
        )
    if refused:
        from harvester.config import failed_ids_listing

        its, it, ids = ("its", "it", "its id") if missing == 1 else ("their", "them", "their ids")
        return _Shortfall(
            f"{head}: the server refused {its} files (HTTP 4xx), as it will again for an id "
            f"that does not exist or is not public, so a resubmitted array would not add "
            f"{it}; {ids}{failed_ids_listing(out, servers)}",
            provisional=False,
        )
    if (slurm := read_slurm_script(out)) is not None:
        # Where the array's script is: status's resume line resubmits the tasks left and
        # queues this job after them. "run harvester index again after the resubmitted
        # array" left how to resubmit unsaid, and read as a second step to do by hand.
        # A budget stops tasks short by design: "failed or cancelled" alone sent the user
        # looking for a fault (SLURM calls its exit 8 FAILED too).
        why = (
            "a task still running, failed or cancelled"
            if slurm.max_bytes is None
            else f"a task still running, failed, cancelled or stopped by its --max-bytes "
            f"budget ({size_said(slurm.max_bytes.strip())} each)"
        )
        return _Shortfall(
            f"{head} ({why}, or images whose every file failed); harvester status {q} gives "
            "the line that resubmits the tasks with work left and queues this index job "
            "again after them",
            provisional=True,
        )
    # No script: the plan is harvested by hand (`harvest --from-plan`), with no array to
    # resubmit ("after the resubmitted array" named one). A run without --shard rewrites
    # index.csv at its end; a --shard run leaves it to `harvester index`.
    return _Shortfall(
        f"{head} (a harvest still running, failed or stopped, or images whose every file "
        f"failed); harvester status {q} gives the line that resumes the work left; after "
        f"it, run harvester index {q} again if it ran with --shard (a run without --shard "
        "rewrites index.csv at its end)",
        provisional=True,
    )


def _refused_for_good(out: Path) -> tuple[bool, list[str], int]:
    """Whether all DIR lacks of its plan is images whose files the server refused (a 4xx
    a rerun gets again: :func:`harvester.fetch.all_refused`, status's note), or images
    ``harvester forget --gone-ids-from`` recorded as gone: nothing pending or not reached,
    no walk short, every failure refused; the servers of the failed images where they are
    two or more (their ids are listed one server's at a time); and how many images are
    recorded gone. A pass over the journals as status makes it, only for an index short
    of its plan."""
    from harvester.fetch import all_refused
    from harvester.status import collect_status

    try:
        report = collect_status(out, by_files=False)
    except HarvesterError:  # (status names what is wrong with DIR)
        return False, [], 0
    gone = len(report.gone_here)  # (not another server's image of an id, still asked for)
    refused = (
        not report.pending
        and not report.walks
        and (all_refused(report.failures) or (gone > 0 and not report.failures))
    )
    return refused, report.failed_servers, gone

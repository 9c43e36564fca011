"""``harvester harvest``, ``status``, ``verify`` and ``demo``: the user's commands.

Only this module (and its siblings in ``cli/``) prints. Parsing turns flags
into config overrides (``config.resolve``), the pipeline runs under
``anyio.run``, and the summary is printed here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harvester.end_lines import AFTER_BUDGET, INTERRUPTED, STOPPED
from harvester.shell_words import shell_join, shell_quote
from harvester.text import and_list, plural, shown_url
from harvester.window import DEFAULT_WINDOW, WINDOW_MODES

if TYPE_CHECKING:  # loaded when a harvest resolves its settings, not at every start-up
    from collections.abc import Callable, Mapping, Sequence
    from collections.abc import Set as AbstractSet

    from harvester.config import HarvestConfig, RecordedRun, ReplayProblem
    from harvester.errors import FolderBusyError, SplitHeldError, UsageError
    from harvester.journal import SavedConfigs
    from harvester.pipeline import RunSummary
    from harvester.plan import PlanInfo
    from harvester.splits import SplitSpec
    from harvester.status import StatusReport
    from harvester.target_text import Link

__all__ = ["register"]

#: What ``--ids-from FILE`` reads (harvest, plan and slurm; each says where it may come from).
IDS_FROM_HELP = (
    "image ids, one a line ('#' comments; also Image:ID, a range FIRST-LAST or an image link "
    "of the run's server), or a CSV/TSV with an image_id column (an index.csv)"
)

#: Failures listed in the summary (the journal keeps them all; ``status --json`` has all).
MAX_LISTED_FAILURES = 20

TARGET_FLAGS = (
    ("--screen", "screens", "screen id or name, e.g. 2302 or idr0056 (repeatable)"),
    ("--project", "projects", "project id or name, e.g. 51 or idr0021 (repeatable)"),
    ("--plate", "plates", "plate id (repeatable)"),
    ("--dataset", "datasets", "dataset id (repeatable)"),
    ("--image", "images", "image id (repeatable)"),
)


def comma_items(text: str, what: str) -> list[str]:
    """The items of a comma-list flag's value, without the blanks around them.

    One rule for every comma-list flag (the targets, ``--artifacts``): an empty item
    (``--image 1,``, ``1,,2``: what a script joining a list or a pasted column leaves) is
    ignored, as ``--artifacts rois,`` always was; a value without any item (``--image ,``,
    an unset ``$IDS``) is refused, naming ``what`` it lacks: it asked for nothing.
    """
    items = [item for item in (part.strip() for part in text.split(",")) if item]
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} holds no {what}")
    return items


def _target_items(text: str, kind: str, *, named: bool) -> list[int | str]:
    """The comma list of a ``kind`` target flag (one id, ``--image 1,2``, as ``--artifacts``
    takes a list): ids, typed ids of that kind (``Image:1``), and either ranges
    (``100-120``, the flags of ids only) or (``named``: ``--screen``/``--project``) names;
    a typed id of another kind is refused, naming the flag that takes it.

    Why no ranges where names are taken: ``--project 2021-03`` and ``--screen 2020-2021``
    are names a server may hold (they were, before ranges came), not ids 2021 to 3."""
    from harvester.target_text import (
        KINDS,
        TargetTextError,
        a_kind,
        comma_list,
        id_range,
        not_an_id,
        positive_id,
        several_ids,
        typed_id,
        typed_like,
        typed_well,
        well_refusal,
    )

    out: list[int | str] = []
    for value in comma_items(text, "id or name" if named else "id"):
        typed = typed_id(value)
        try:
            well = typed_well(value)
        except TargetTextError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if well is not None:
            raise argparse.ArgumentTypeError(f"{value!r} is a well, {well_refusal(well)}")
        if typed is not None:
            if typed[0] != kind:
                raise argparse.ArgumentTypeError(
                    f"{value!r} is {a_kind(typed[0])}, not {a_kind(kind)}: give it as "
                    f"{KINDS[typed[0]][1]} {typed[1]}"
                )
            out.append(typed[1])
            continue
        try:
            ids = None if named else id_range(value, kind)
        except TargetTextError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if ids is not None:
            out.extend(ids)
        elif (number := positive_id(value)) is not None:
            out.append(number)
        elif several_ids(value) is not None:  # (`--image "1 2"`: not a name)
            # The list names the value's every item (`--image "1,2 3"`: 1 too; it said
            # `--image 2,3`, so the fix it gave left out the ids before the one refused).
            listed = [
                part
                for item in comma_items(text, "id")
                for part in (item.replace(";", " ").split() if several_ids(item) else [item])
            ]
            # Said only of a list the flag takes whole: `--image "1,2 3,x"` was told
            # `--image 1,2,3,x`, refused again for the x; now it is that refusal, of the x.
            _target_items(",".join(listed), kind, named=named)
            raise argparse.ArgumentTypeError(
                f"{not_an_id(value, 'one id')} but several: give them as one comma list, "
                f"{KINDS[kind][1]} {comma_list(listed)}"
            )
        elif (said := _range_or_list_misspelt(text, value, kind, named=named)) is not None:
            raise argparse.ArgumentTypeError(said)
        elif named and not (value.isascii() and value.isdigit()) and not typed_like(value):
            out.append(value)  # (neither '0' nor 'Screen:0' is a name)
        else:
            hint = " (names are taken by --screen and --project only)"
            raise argparse.ArgumentTypeError(
                not_an_id(value)
                + (hint if value[:1].isalpha() and not named and not typed_like(value) else "")
            )
    return out


def _range_or_list_misspelt(text: str, value: str, kind: str, *, named: bool) -> str | None:
    """The refusal of a target item that is a range or a list written otherwise than the
    flags take them, with the spelling to give; None for any other item.

    Why: ``--image 9762957..9762964`` (or ``:``, or an en dash pasted from a document) and
    ``--image [9762957,9762958]`` (a Python list) were "is not a numeric id", which named
    no way out."""
    from harvester.target_text import (
        KINDS,
        bracketed_ids,
        comma_list,
        marked_range_refusal,
        range_respelt,
    )

    flag = KINDS[kind][1]
    # A backwards or empty one (`5..3`, `1..0`) is refused as its FIRST-LAST would be,
    # quoting the text given, with the range to give where one is plain.
    if not named and (refusal := marked_range_refusal(value, kind)) is not None:
        return refusal
    # (--screen and --project take names, which may be "2019..2020": looked up as names)
    if not named and (range_ := range_respelt(value)) is not None:
        # The whole list, each range respelt (`--image 5,7..9` was told `--image 7-9`,
        # dropping the 5), and only once the list is one the flag takes (as the several
        # ids of one item are said: `--image 7..9,x` is the refusal of the x).
        listed = [range_respelt(item) or item for item in comma_items(text, "id")]
        _target_items(",".join(listed), kind, named=named)
        return (
            f"{value!r} is not a range harvester reads: give it as FIRST-LAST, "
            f"{flag} {comma_list(listed) if len(listed) > 1 else range_}"
        )
    if (value[:1] in "[(" or value[-1:] in "])") and (inner := bracketed_ids(text)):
        return (
            f"{value!r}: brackets are not part of an id: give the ids as a comma list, "
            f"{flag} {','.join(inner)}"
        )
    return None


class LinkTargets(list[int | str]):
    """The ids a webclient link given to a target flag shows, with the link's server and
    the words it was given as (replaced in the run's record by the ids: see
    :func:`apply_target_links`)."""

    def __init__(self, ids: list[int | str], *, server: str, given: str, flag: str) -> None:
        from harvester.target_text import with_login

        super().__init__(ids)
        self.server = server
        #: The server with the link's login (``server`` when it holds none): what the run
        #: asks when no --base-url is given, as that login given in --base-url would be.
        self.base_url = with_login(given, server)
        self.given = given
        self.flag = flag


def _target_type(kind: str, *, named: bool) -> Callable[[str], list[int | str]]:
    """The argparse ``type`` of the ``kind`` target flag: :func:`_target_items`, or the ids
    of a webclient link (:func:`harvester.target_text.parse_link`) that shows ``kind``."""

    def parse(text: str) -> list[int | str]:
        from harvester.target_text import is_link

        if is_link(text):
            return _link_items(text, kind)
        return _target_items(text, kind, named=named)

    parse.__name__ = f"{kind} target"
    return parse


def _link_items(text: str, kind: str) -> list[int | str]:
    """A webclient link given to the ``kind`` flag: its ids, all of ``kind`` (another kind
    shown is refused with the flag and ids to give: a link is one kind's in the webclient,
    and a flag that silently took another kind's targets would hide a slip)."""
    from harvester.target_text import KINDS, TargetTextError, parse_link

    try:
        link = parse_link(text, kind)
    except TargetTextError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if (refused := link.other_kinds(kind)) is not None:
        raise argparse.ArgumentTypeError(refused)
    ids: list[int | str] = list(link.ids_of(kind))
    return LinkTargets(ids, server=link.server, given=text, flag=KINDS[kind][1])


def artifacts_arg(text: str) -> str:
    """``--artifacts``: the comma list as given, its empty items dropped (see
    :func:`comma_items`); the names are checked by :func:`harvester.config.parse_artifacts`."""
    return ",".join(comma_items(text, "artifact kind"))


def say_line(line: str) -> None:
    """An informational line of a run on standard error (what a screen name resolved to):
    stdout keeps the summary alone, and a closed stderr (``2>&-``) loses only this line.
    Its unprintable characters escaped, as ``error:`` lines are (:func:`harvester.cli.say`)."""
    from harvester.text import terminal_text

    if sys.stderr is not None:
        with contextlib.suppress(OSError):
            print(terminal_text(line), file=sys.stderr, flush=True)


def say_note(line: str) -> None:
    """A command's own line on standard error (``note: ...``, ``not resumed: ...``, a
    replay's ``resuming ...``): on a terminal, its control characters escaped as the
    summary's lines are (:class:`_SummaryStderr`); through a pipe, as it is.

    Why: these lines quote folders and files, in words or in a command to copy (``write it
    with harvester index DIR``), and a folder named with ``ESC[2J`` cleared the screen
    from one of them, where ``error:`` lines, warnings and the summary showed it escaped.
    """
    print(line, file=_SummaryStderr(sys.stderr))


class JoinedCommaLists(argparse.Action):
    """``--artifacts thumbnail --artifacts metadata`` means both (the last one alone won)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        earlier = getattr(namespace, self.dest, None)
        setattr(namespace, self.dest, f"{earlier},{values}" if earlier else values)


class OneSampleKey(argparse.Action):
    """``--sample-per``: one key, given once (or again in another case: keys compare so).

    Why: ``--sample-per 'Gene Symbol' --sample-per Phenotype`` reads as classes of both
    keys, and argparse let the last win without a word: the run sampled per phenotype
    alone, and genes the user meant to balance were left as they fell.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        earlier = getattr(namespace, self.dest, None)
        same = earlier is None or str(earlier).strip().casefold() == str(values).strip().casefold()
        if not same:
            raise argparse.ArgumentError(
                self,
                f"given twice ({earlier!r}, then {values!r}): a sample is balanced over the "
                "classes of one key, so give --sample-per once (--label-key may name both "
                "keys for the labels)",
            )
        if earlier is None:
            setattr(namespace, self.dest, values)


def sample_count(text: str) -> int:
    """``--sample N``; a share (``10%``, ``0.1``) is ``--sample-fraction``'s, and said so."""
    value = text.strip()
    share = _percent(value)
    if share is None and "." in value:
        try:
            share = float(value)
        except ValueError:
            share = None
    if share is not None and 0 < share <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is a share of the images: use --sample-fraction {share:g}"
        )
    if share is not None and value.endswith("%"):  # (`150%`: it was "not an integer")
        from harvester.selection import PERCENT_RANGE

        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of images, nor a share of them: {PERCENT_RANGE}"
            " (--sample-fraction 0.1 keeps about 10%)"
        )
    return count_arg(text)


def _percent(value: str) -> float | None:
    """``10%`` as the fraction it means (0.1); None for anything else."""
    from harvester.selection import percent_share  # (only for a value that may be one)

    return percent_share(value) if value.strip().endswith("%") else None


def integer_arg(text: str) -> int:
    """An integer flag; its range is checked by ``HarvestConfig`` (``--max-retries 0`` is valid)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer" + _unit_said(text, whole=True)
        ) from None


def count_arg(text: str) -> int:
    """An integer flag ``HarvestConfig`` takes at 1 or more (``--burst``, ``--concurrency``):
    its refusal of a 0 typed with a unit says so (``--burst 0s`` was told to give ``0``)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an integer" + _unit_said(text, whole=True, positive=True)
        ) from None


def _unit_said(text: str, *, whole: bool = False, positive: bool = False) -> str:
    """``: give it without its unit, 30`` for a number typed with its unit (``30s``), else
    "" (:func:`harvester.text.without_unit`; ``whole``: an integer flag's; ``positive``:
    a flag that refuses 0, whose 0 typed with a unit is told what the flag takes, as the
    neighbouring refusal of a bare 0 words it: ``--timeout 0s`` was "not a number" alone)."""
    from harvester.text import without_unit

    number = without_unit(text, whole=whole, positive=positive)
    if number is not None:
        return f": give it without its unit, {number}"
    if positive and without_unit(text, whole=whole) is not None:
        wanted = "an integer of at least 1" if whole else "a positive number"
        return f": give {wanted}, without a unit"
    return ""


def folder_arg(text: str) -> Path:
    """An output folder; an empty one is refused, not taken as the current folder.

    ``--out "$OUT"`` with OUT unset is ``--out ""``, which as a Path is ``.``: a harvest would
    spread harvest.json, images/, journals/ and index.csv over wherever it was started.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty folder name (an unset variable?)")
    path = Path(text)
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            # Why: it stopped at the first look at DIR with a bare "File name too long (...)".
            shown = part if len(part) <= 40 else part[:37] + "..."
            raise argparse.ArgumentTypeError(
                f"{shown!r} is a name of {len(os.fsencode(part))} bytes: a filesystem takes "
                f"at most {NAME_MAX} a name (folder or file)"
            )
    # (after the names' length, and os.path's look, which raises nothing: Path.exists() of a
    # name over NAME_MAX ended `status '$aaa...'` in a traceback)
    if text.lstrip().startswith("$") and not os.path.exists(path):
        _refuse_literal_variable(text)
    return path


def _refuse_literal_variable(text: str) -> None:
    """Refuse a new folder that begins with a variable the shell left unexpanded
    (``--out '$SCRATCH/mirror'``, single-quoted, or pasted from a config file, whose
    paths harvester expands): it made a folder literally named ``$SCRATCH`` in the current
    one. Only a variable set in the environment counts, and only for a folder that does
    not exist yet (one made so by an earlier run is still found). The message says how to
    make such a folder on purpose: ``./`` before it (a path that does not begin with ``$``
    is taken as typed)."""
    from harvester.path_vars import leading_variable

    name = leading_variable(text)
    if name is not None:
        on_purpose = shell_quote("./" + text.lstrip())
        raise argparse.ArgumentTypeError(
            f"{text!r} begins with ${name}, which the shell did not expand (single quotes?),"
            f' and no folder has that name yet: write it in double quotes ("{text}") or as'
            f" the path itself; for a folder of that very name, {on_purpose}"
        )


#: The longest name (one folder or file, in bytes) Linux's and macOS's filesystems take.
NAME_MAX = 255


def config_arg(text: str) -> Path:
    """A config file; an empty name is refused, not taken as the current folder.

    ``harvester harvest "$CONFIG"`` with CONFIG unset is ``harvest ""``, which as a Path is
    ``.``: it was said to be "config file '.' is a directory", naming no variable.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty config file name (an unset variable?)")
    return Path(text)


def number_arg(text: str, *, positive: bool = False) -> float:
    """A number flag; ``positive``: one that refuses 0 (``--timeout``), whose refusal of a
    number typed with its unit offers no ``0`` (``--timeout 0s`` was told ``0``)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number" + _unit_said(text, positive=positive)
        ) from None


def speed_arg(text: str) -> float:
    """``--min-speed B``: bytes per second, as a number or with a unit (``1K``, ``10K``).

    Why a unit: its default is 1024, 1K; ``--min-speed 10K`` was refused as "not a number".
    """
    from harvester.config import bytes_of

    try:
        return float(text)
    except ValueError:
        pass
    speed = bytes_of(text)
    if speed is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of bytes per second (e.g. 1024, or 1K, 10K)"
        )
    return speed


def positive_number_arg(text: str) -> float:
    """A number flag ``HarvestConfig`` takes above 0 only (``--timeout``)."""
    return number_arg(text, positive=True)


class TypedNumber(float):
    """A number flag's value that messages show as the user typed it (its ``repr``).

    Why: ``--sample-fraction 1e-400`` is 0.0 as a float, and was refused as "0.0 must be a
    number in (0, 1]", a value the user never gave. Checks read it as the float it is;
    ``float(value)`` drops the typed text once it is accepted.
    """

    typed: str

    def __new__(cls, text: str) -> TypedNumber:
        number = super().__new__(cls, text)
        number.typed = text
        return number

    def __repr__(self) -> str:
        return self.typed

    __str__ = __repr__


def typed_number_arg(text: str) -> float:
    """A number flag whose refusal quotes the text given (``--sample-fraction 1e-400``)."""
    number_arg(text)  # (refuses what is not a number, as every number flag does)
    return TypedNumber(text.strip())


def fraction_arg(text: str) -> float:
    """``--sample-fraction F``; a percentage (``10%``) is told the fraction it means.

    Why: ``--sample-fraction 10%`` was refused as "'10%' is not a number", naming no fix,
    where ``--sample 10%`` (the same slip, the other flag) was told ``--sample-fraction 0.1``;
    and ``150%`` or ``-10%``, numbers both, were "not a number" too, where what is wrong is
    their size.
    """
    share = _percent(text.strip())
    if share is not None and 0 < share <= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is a percentage: give it as a fraction, --sample-fraction {share:g}"
        )
    if share is not None:
        from harvester.selection import PERCENT_RANGE

        raise argparse.ArgumentTypeError(
            f"{text!r} is not a share of the images: {PERCENT_RANGE}"
            " (--sample-fraction 0.1 keeps about 10%)"
        )
    return typed_number_arg(text)


def add_request_flags(parser: argparse.ArgumentParser, *, burst_help: str) -> None:
    """How each request is sent: ``--burst``, ``--max-retries``, ``--timeout``, ``--min-speed``.

    One definition for ``harvest``, ``plan`` and ``slurm``, so a value is parsed (and then
    refused by ``HarvestConfig``) alike everywhere; only the burst's help differs (per task
    for ``slurm``).
    """
    parser.add_argument("--burst", type=count_arg, metavar="B", help=burst_help)
    parser.add_argument(
        "--max-retries",
        type=integer_arg,
        metavar="N",
        help="times a failed request is asked again (a busy server, a timeout, an answer cut "
        "short) before its file or listing fails (default 5); one that failed so is asked "
        "once more, with as many retries, at the end of the run (a listing: of the walk), and "
        "counts as failed only then (0: no retries, no second try)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_number_arg,
        metavar="S",
        help="longest wait for an answer's next bytes (default 30)",
    )
    parser.add_argument(
        "--min-speed",
        type=speed_arg,
        metavar="B",
        help="bytes/s an answer must average over each --timeout window (or 1K, 10K: "
        "binary units); 0: none (default 1024)",
    )


def add_outage_flag(parser: argparse.ArgumentParser) -> None:
    """``--outage-wait``: for ``harvest`` and ``plan``, and for ``slurm`` to pass on to every
    task."""
    parser.add_argument(
        "--outage-wait",
        metavar="TIME",
        help="while the server is down as a whole (at the start too: busy, not refusing "
        "connections), pause this long at most, then stop (exit 75); pauses less than 10m "
        "apart count together: seconds or 90s, 30m, 2h, 1h30m; 0: no pause (default 1h)",
    )


def add_budget_flag(parser: argparse.ArgumentParser, *, per_task: bool = False) -> None:
    """``--max-bytes``: for ``harvest``, and for ``slurm`` to give every task its own."""
    whose = "each task stored" if per_task else "this run stored"
    parser.add_argument(
        "--max-bytes",
        metavar="SIZE",
        help=f"stop asking for images once the files {whose} total SIZE (500M, 20G, 1.5T, "
        "or bytes; binary units), exit 8; the same command continues, with a new budget; "
        "none: no budget (default)",
    )


def add_content_flags(parser: argparse.ArgumentParser) -> None:
    """What shapes the fetched files: ``--thumbnail-size`` and the stacks' ``--window``."""
    parser.add_argument(
        "--thumbnail-size",
        type=count_arg,
        metavar="N",
        help="thumbnail size in px (default 96, or that of DIR's thumbnails)",
    )
    parser.add_argument(
        "--window",
        choices=WINDOW_MODES,
        help=f"stack intensity window (default {DEFAULT_WINDOW}, or that of DIR's stacks)",
    )


def register(subparsers: Any) -> None:
    """Add ``harvest``, ``status``, ``verify`` and ``demo``."""
    harvest = subparsers.add_parser(
        "harvest",
        help="harvest screens, projects, plates, datasets or images into DIR (resumable)",
        description="Walk the targets and fetch each image's artifacts into DIR. "
        "Flags override the config file. Rerun the same command to resume, or just "
        "`harvester harvest --out DIR`: given no target, it harvests every set of targets "
        "DIR's runs were given, each with the settings of its newest run (flags given now "
        "override them).",
    )
    harvest.add_argument("config", nargs="?", type=config_arg, help="TOML config file (optional)")
    harvest.add_argument(
        "--base-url",
        metavar="URL",
        help="OMERO.web base URL (default: the server DIR was harvested from, else IDR)",
    )
    add_target_flags(harvest)
    harvest.add_argument(
        "--ids-from",
        type=Path,
        metavar="FILE",
        help=f"{IDS_FROM_HELP}; - reads standard input",
    )
    harvest.add_argument(
        "--out",
        type=folder_arg,
        metavar="DIR",
        help="output folder, made if missing (given alone, without targets: resumes its harvest)",
    )
    harvest.add_argument(
        "--artifacts",
        metavar="LIST",
        action=JoinedCommaLists,
        type=artifacts_arg,
        help="comma list of thumbnail,imgdata,render,metadata,stack,rois,paths (or all; "
        "repeatable; default: the kinds of DIR's newest run, else the first four)",
    )
    harvest.add_argument(
        "--concurrency", type=count_arg, metavar="N", help="requests in flight (default 8)"
    )
    harvest.add_argument("--rate", metavar="R", help="requests per second, or 'none' (default 10)")
    add_request_flags(harvest, burst_help="rate burst (default 1)")
    add_outage_flag(harvest)
    add_budget_flag(harvest)
    add_content_flags(harvest)
    harvest.add_argument("--shard", metavar="K/N", help="only images of shard K (0-based) of N")
    harvest.add_argument("--from-plan", type=folder_arg, metavar="DIR", help="read the plan of DIR")
    harvest.add_argument(
        "--no-labels",
        dest="no_labels",
        action="store_true",
        help="skip the map-annotation requests made only for index.csv labels",
    )
    harvest.add_argument(
        "--refresh-labels",
        dest="refresh_labels",
        action="store_true",
        help="ask the labels of images already harvested again, so that annotations edited "
        "on the server reach index.csv (one request a page of wells or images)",
    )
    add_selection_flags(harvest).add_argument(
        "--label-ids-from",
        type=Path,
        metavar="FILE",
        help="keep the label_ids of FILE (a labels.csv) for its labels, new labels after its "
        "largest; recorded in DIR/label_ids.json for later index writes",
    )
    add_split_flags(harvest)
    harvest.add_argument("--dry-run", action="store_true", help="walk and count; fetch nothing")
    harvest.add_argument("-q", "--quiet", action="store_true", help="no progress bars, errors only")
    harvest.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    harvest.set_defaults(run=run_harvest_command)

    for name, help_text, description, run in (
        (
            "status",
            "done, failed and pending artifacts of DIR, per kind and writer",
            "Count DIR's done, failed and pending artifacts per kind, with the bytes and which "
            "writer, shard and run wrote what (safe while shards run). It names a walk that "
            "did not list everything, the harvests running now, and prints the command that "
            "resumes, without asking any server.",
            run_status_command,
        ),
        (
            "verify",
            "re-check every recorded file (size, sha256, decodes)",
            "Re-check every file DIR's journals record (exists, size, SHA-256, decodes as "
            "JPEG/PNG/JSON/TIFF), list the damaged and missing ones and mark them so the next "
            "`harvester harvest` refetches exactly those. Exits 1 while any is damaged, "
            "missing or awaiting refetch.",
            run_verify_command,
        ),
    ):
        report = subparsers.add_parser(name, help=help_text, description=description)
        # (folder_arg: `status "$OUT"` with OUT unset read the current folder, said as ".")
        report.add_argument(
            "out", type=folder_arg, metavar="DIR", help="the --out folder of a harvest"
        )
        outputs = report.add_mutually_exclusive_group()
        outputs.add_argument(
            "--json",
            action="store_true",
            help="machine-readable output" + (" (every failure)" if name == "status" else ""),
        )
        if name == "status":
            outputs.add_argument(
                "--failed-ids",
                action="store_true",
                help="only the ids of images with a failed artifact, one a line, sorted "
                "(for harvest --ids-from)",
            )
            outputs.add_argument(
                "--gone-ids",
                action="store_true",
                help="only the ids of images `harvester forget --gone-ids-from` recorded as "
                "gone from the server, one a line, sorted (for its --undo)",
            )
            report.add_argument(
                "--base-url",
                metavar="URL",
                help="with --failed-ids: only the failed images of that server's target sets "
                "(needed where DIR's failures are of two servers: ids are one server's); with "
                "--gone-ids: only those recorded as gone from that server",
            )
        report.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
        report.set_defaults(run=run)

    demo = subparsers.add_parser(
        "demo",
        help="start the built-in IDR emulator and harvest its demo screen (a few seconds)",
        description="Start the built-in IDR emulator in this process and harvest its demo "
        "screen (idr0056 screen 2302: 10 plates, 80 images) into DIR with the default "
        "artifacts, then print the summary and where the files are. Run again, it skips what "
        "is done. No network beyond loopback is used.",
    )
    demo.add_argument(
        "--out",
        type=folder_arg,
        default=Path("harvester-demo"),
        metavar="DIR",
        help="default ./harvester-demo",
    )
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    demo.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    demo.set_defaults(run=run_demo_command)


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    """``--screen``/``--project``/``--plate``/``--dataset``/``--image`` (repeatable ids)."""
    for flag, dest, text in TARGET_FLAGS:
        named = dest in ("screens", "projects")
        parser.add_argument(
            flag,
            dest=dest,
            action=TargetValues,
            type=_target_type(flag.removeprefix("--"), named=named),
            metavar="ID|NAME" if named else "ID",
            help=text.replace("(repeatable)", _target_syntax(flag, named=named)),
        )


def _target_syntax(flag: str, *, named: bool) -> str:
    """What a target flag's help says it takes besides one id. Why ``named`` apart: the
    ``--screen``/``--project`` help offered ``a range FIRST-LAST``, which they take as a name
    (``2021-03``, as a server may call a project: :func:`_target_items`)."""
    span = "" if named else ", a range FIRST-LAST,"
    viewers = (
        ", img_detail/ID/, iviewer/?images=... or an image's render or thumbnail address"
        if flag == "--image"
        else ""
    )
    return (
        f"(repeatable, or a comma list; also {flag[2:].title()}:ID{span} or a webclient link "
        f"?show=...{viewers})"
    )


class TargetValues(argparse.Action):
    """A target flag's values, added up over its repeats (``extend``); a webclient link's
    (:class:`LinkTargets`) also noted in ``target_links``, for :func:`apply_target_links`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or ()), *values])
        if isinstance(values, LinkTargets):
            namespace.target_links = [*(getattr(namespace, "target_links", None) or ()), values]


def target_overrides(args: argparse.Namespace) -> dict[str, list[int | str]]:
    """Config overrides of :func:`add_target_flags` (only the flags given)."""
    return {
        dest: list(getattr(args, dest))
        for _flag, dest, _text in TARGET_FLAGS
        if getattr(args, dest)
    }


def apply_target_links(args: argparse.Namespace) -> None:
    """The server of the webclient links given to target flags (``--image URL``) as the
    command's ``--base-url``, and each link replaced by its ids in the command's record.

    A link names its server, and its ids are that server's alone: given no ``--base-url``
    (nor ``base_url`` in the config file) the run asks the link's server, with the link's
    login if it holds one (``https://alice:pw@host/webclient/...``), as if it had been
    given as ``--base-url``, so redacted and withheld as that one is; given one, the link
    must be of it (another server's image 123 is another image), and its login is the one
    used (a note says so when the link's differs). The record (journals, ``runs/``, resume
    lines) keeps the ids and ``--base-url``, never the link: its query may hold a session
    key, and a saved query would be a leaked one.
    """
    from harvester.errors import UsageError
    from harvester.target_text import ask_hint, login_of

    links: list[LinkTargets] = getattr(args, "target_links", None) or []
    if not links:
        return
    server = _one_link_server(links)
    base_url = _one_link_login(links, server)
    given, named = _named_server(args)
    if given is not None and _normal(given) != _normal(server):
        raise UsageError(  # (the links are all of one server: _one_link_server)
            f"the link given to {links[0].flag} is of {server}, not of {named}",
            hint=f"give a link of the server asked, or ask the link's: {ask_hint(base_url)}",
        )
    if given is not None and base_url != server and login_of(base_url) != login_of(given):
        used = (
            f"the run asks with {named}'s (a run asks with one login)"
            if login_of(given)
            else f"{named} holds none, and the run asks without one (give it there to use it)"
        )
        say_line(f"note: the login in the link given to {links[0].flag} is not used: {used}")
    argv: list[str] | None = getattr(args, "command_argv", None)
    if argv is not None:
        argv[:] = _argv_without_links(argv, links)
    if given is None:
        args.base_url = base_url
        # (for a refusal of the login that names where it was given: slurm's script)
        args.login_link_flag = links[0].flag if base_url != server else None
        if argv is not None:
            argv += ["--base-url", base_url]


def _one_link_login(links: Sequence[LinkTargets], server: str) -> str:
    """The server with the one login the links hold (``server``: none); links holding two
    logins are a UsageError (a run asks with one)."""
    from harvester.errors import UsageError

    logins = {link.base_url for link in links if link.base_url != link.server}
    if len(logins) > 1:
        raise UsageError(
            f"the links given hold two logins for {server}: a run asks with one",
            hint="give the links without their login, and the login with --base-url",
        )
    return next(iter(logins)) if logins else server


def _base_url_link(args: argparse.Namespace) -> Link | None:
    """The ``--base-url`` given, when it is a link that shows targets (``--base-url
    .../webclient/?show=image-1``, ``.../iviewer/?images=1`` and no target: the user meant
    both)."""
    from harvester.target_text import TargetTextError, parse_link

    base_url = getattr(args, "base_url", None)
    if base_url is None:
        return None
    try:
        return parse_link(base_url)
    except TargetTextError:
        return None


def _link_base_url_hint(args: argparse.Namespace, server: str) -> str:
    """``--base-url SERVER`` for the hint to a ``--base-url`` that is a link, the link's
    login kept (REDACTED, said to be put back): it was dropped without a word."""
    from harvester.target_text import ask_hint, with_login

    return ask_hint(with_login(str(args.base_url), server))


def _normal(url: str) -> str:
    """A server's address as two spellings of it compare (:func:`normal_base_url`)."""
    from harvester.config import normal_base_url

    return normal_base_url(url)


def _one_link_server(links: Sequence[LinkTargets]) -> str:
    """The one server the links are of; links of two servers are a UsageError."""
    from harvester.errors import UsageError

    servers = {_normal(link.server): link.server for link in links}
    if len(servers) > 1:
        first, second = list(servers.values())[:2]
        raise UsageError(
            f"the links given are of two servers, {first} and {second}: a run asks one",
            hint="harvest each server's targets in a run of its own",
        )
    return links[0].server


def _named_server(args: argparse.Namespace) -> tuple[str | None, str]:
    """The base URL the command names (``--base-url``, else the config file's ``base_url``;
    None: neither), and how a message names it (no credential spelt out)."""
    from harvester.config import load_toml
    from harvester.errors import redact_base_url

    if getattr(args, "base_url", None) is not None:
        shown = redact_base_url(args.base_url).partition("?")[0]
        return args.base_url, f"--base-url {shell_quote(shown)}"
    config = getattr(args, "config", None)
    if config is not None and Path(config).is_file():
        value = load_toml(config).get("base_url")
        if isinstance(value, str):
            return value, f"{config}'s base_url {redact_base_url(value).partition('?')[0]}"
    return None, ""


def _argv_without_links(argv: Sequence[str], links: Sequence[LinkTargets]) -> list[str]:
    """``argv`` with each link given (``--image URL``, ``--image=URL``) as its ids."""
    from harvester.pipeline import names_flag

    ids = {link.given: ",".join(map(str, link)) for link in links}
    out: list[str] = []
    for n, word in enumerate(argv):
        flag, eq, value = word.partition("=")
        after = argv[n - 1] if n else ""
        if word in ids and any(names_flag(after, each) for each, _dest, _text in TARGET_FLAGS):
            out.append(ids[word])
        elif eq and value in ids and any(names_flag(flag, each) for each, *_ in TARGET_FLAGS):
            out.append(f"{flag}={ids[value]}")
        else:
            out.append(word)
    return out


#: Flags of settings a resume does not replay (so not in harvester.config.FLAGS), for the
#: flags given to a resume, said beside what it replays.
_NOT_REPLAYED_FLAGS = {
    "label_keys": "--label-key",
    "label_ids_from": "--label-ids-from",
    "split": "--split",
    "split_by": "--split-by",
    "split_seed": "--split-seed",
}


def add_selection_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Training-data selection flags (harvester/select.py); also used by ``plan``/``slurm``.

    Returns their group, for flags of ``harvest`` alone (``--label-ids-from``).
    """
    group = parser.add_argument_group("training-data selection")
    group.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        help="only images whose annotations match: KEY=VALUE, KEY!=VALUE, KEY~TEXT "
        "(repeatable: same key = any of, different keys = all of)",
    )
    group.add_argument(
        "--sample",
        type=sample_count,
        metavar="N",
        help="N images chosen by a stable hash of (seed, id)",
    )
    group.add_argument(
        "--sample-per",
        action=OneSampleKey,
        metavar="KEY",
        help="with --sample N: N images of each value of annotation KEY (a balanced set; "
        "the index is labelled by KEY unless --label-key is given), or of an index.csv "
        "column (--sample-per well_id --sample 1: one field per well)",
    )
    group.add_argument(
        "--sample-fraction",
        type=fraction_arg,
        metavar="F",
        help="keep each image with probability F (stable hash, streaming)",
    )
    group.add_argument(
        "--seed", type=integer_arg, metavar="S", help="seed of the sample (default 0)"
    )
    group.add_argument(
        "--label-key",
        dest="label_keys",
        action="append",
        metavar="KEY",
        help="annotation key(s) for the label/label_id columns of index.csv (repeatable)",
    )
    return group


def add_split_flags(parser: argparse.ArgumentParser) -> None:
    """``--split``, ``--split-by``, ``--split-seed``, ``--no-split`` (harvest and index)."""
    group = parser.add_argument_group("train/validation/test split")
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--split",
        metavar="NAME=F,...",
        help="a split column in index.csv, e.g. train=0.8,val=0.1,test=0.1 (fractions summing "
        "to 1); recorded in DIR/split.json for later index writes",
    )
    which.add_argument(
        "--no-split",
        dest="no_split",
        action="store_true",
        help="drop the split column and splits.csv, and record that later index writes have none",
    )
    group.add_argument(
        "--split-by",
        metavar="KIND",
        help="what stays in one split: well (default: every field of a well), plate, dataset "
        "or image; an image without that id is split by its own",
    )
    group.add_argument(
        "--split-seed",
        type=integer_arg,
        metavar="S",
        help="seed of the split's hash (default 0; --seed is the sample's)",
    )


def split_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides of :func:`add_split_flags` (None = not given)."""
    return {
        "split": "none" if args.no_split else args.split,
        "split_by": args.split_by,
        "split_seed": args.split_seed,
    }


def split_argv(args: argparse.Namespace) -> list[str]:
    """The split flags again, for a command line built from ``args`` (slurm tasks: each
    records the split in DIR/split.json, which the index job then keeps)."""
    out: list[str] = ["--no-split"] if args.no_split else []
    for flag, value in (
        ("--split", args.split),
        ("--split-by", args.split_by),
        ("--split-seed", args.split_seed),
    ):
        if value is not None:
            out += [flag, str(value)]
    return out


def selection_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides of :func:`add_selection_flags` (None = not given)."""
    return {
        "where": args.where,
        "sample": args.sample,
        "sample_per": args.sample_per,
        "sample_fraction": args.sample_fraction,
        "seed": args.seed,
        "label_keys": args.label_keys,
        "label_ids_from": getattr(args, "label_ids_from", None),  # (harvest only)
    }


def selection_argv(args: argparse.Namespace) -> list[str]:
    """The selection flags again, for a command line built from ``args`` (slurm tasks)."""
    out: list[str] = []
    for value in args.where or ():
        out += ["--where", value]
    for flag, value in (
        ("--sample", args.sample),
        ("--sample-per", args.sample_per),
        ("--sample-fraction", args.sample_fraction),
        ("--seed", args.seed),
    ):
        if value is not None:
            out += [flag, str(value)]
    for value in args.label_keys or ():
        out += ["--label-key", value]
    return out


# --------------------------------------------------------------------------- harvest
def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Flags given on the command line (None = not given, the file decides)."""
    values: dict[str, Any] = {
        "base_url": args.base_url,
        "ids_from": args.ids_from,
        "out": args.out,
        "artifacts": args.artifacts,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "burst": args.burst,
        "max_retries": args.max_retries,
        "timeout": args.timeout,
        "min_speed": args.min_speed,
        "outage_wait": args.outage_wait,
        "max_bytes": args.max_bytes,
        "thumbnail_size": args.thumbnail_size,
        "window": args.window,
        "shard": args.shard,
        "from_plan": args.from_plan,
        **selection_overrides(args),
        **split_overrides(args),
        **target_overrides(args),
    }
    for flag in ("dry_run", "quiet", "debug"):
        if getattr(args, flag):
            values[flag] = True
    if args.no_labels:
        values["labels"] = False
    if args.refresh_labels:
        values["refresh_labels"] = True
    return values


def refuse_targets_with_plan(args: argparse.Namespace) -> None:
    """A plan fixes the images: targets beside ``--from-plan`` would be silently ignored."""
    from harvester.errors import UsageError

    if getattr(args, "from_plan", None) is None:
        return
    given = [flag for flag, dest, _text in TARGET_FLAGS if getattr(args, dest, None)]
    if getattr(args, "ids_from", None) is not None:
        given.append("--ids-from")
    if given:
        raise UsageError(
            f"--from-plan harvests the plan's images; {'/'.join(given)} cannot be added "
            "(plan them with `harvester plan`, or drop --from-plan)"
        )


def refuse_a_folder_as_config(args: argparse.Namespace) -> None:
    """A run given no ``--out`` whose config file is a bare word naming nothing: the folder
    meant, said with ``--out`` (:func:`harvester.config.folder_word_hint`)."""
    from harvester.config import folder_word_hint
    from harvester.errors import ConfigError

    if args.config is None or getattr(args, "out", None) is not None:
        return
    hint = folder_word_hint(Path(args.config))
    if hint is not None:
        raise ConfigError(f"config file {str(args.config)!r} not found", hint=hint)


def run_harvest_command(args: argparse.Namespace) -> int:
    """``harvester harvest``."""
    from harvester.cli import start_up

    args.harvest_begun = False  # an interrupt before anyio.run finds nothing written yet
    args.foreign_note = None  # (a first harvest's, below: never a resume's replays)
    with start_up():  # the imports below are most of a harvest's start-up (anyio too)
        import harvester.progress  # noqa: F401 (for _harvest: loaded while start-up is held)
        from harvester.errors import UsageError
        from harvester.pipeline import resolve_config

    # Outside the held block: reading a config file may block (a FIFO, a slow mount), and
    # Ctrl-C must be able to end that wait.
    refuse_targets_with_plan(args)
    apply_target_links(args)
    refuse_a_folder_as_config(args)
    cfg = resolve_config(args.config, overrides_from_args(args))
    if cfg.debug:  # `debug = true` in the config file counts like --debug
        args.debug = True
        logging.getLogger().setLevel(logging.DEBUG)
    if not cfg.dry_run:  # (which ignores the budget)
        warn_unitless_budget(args)  # (once the value is known to be a size: resolve_config)
    if cfg.out is None:
        if args.config is None and not cfg.has_targets and cfg.from_plan is None:
            # `harvester harvest` alone, a first try: what a harvest needs, by example.
            raise UsageError(
                "nothing to harvest and no output folder given",
                hint="name the targets and the folder, e.g. harvester harvest --screen 2302 "
                "--out idr0056 (harvester harvest --help lists every option)",
            )
        raise UsageError(
            "no output folder given", hint="add --out DIR (or out = ... in the config)"
        )
    note = split_seed_note(args, cfg)
    if note and not cfg.quiet:
        say_note(note)
    from harvester.config import NewestRun

    newest = NewestRun(cfg.out)  # (looked up once, for each of the notes below)
    if cfg.from_plan is None and not cfg.quiet:  # (a plan names its kinds)
        from harvester.config import all_grew_note, artifacts_words

        all_given = "all" in artifacts_words(["--artifacts", args.artifacts or ""])
        note = all_grew_note(cfg, all_given=all_given, newest=newest)
        if note:
            say_note(note)
    if cfg.has_targets and cfg.from_plan is None:  # (a plan names its server and kinds)
        from harvester.config import folder_artifacts, folder_server

        cfg, line = folder_server(cfg, given=base_url_given(args, cfg), newest=newest)
        if line and not cfg.quiet:
            say_note(line)
        cfg, line = folder_artifacts(cfg, given=artifacts_given(args, cfg), newest=newest)
        if line and not cfg.quiet:
            say_note(line)
    if cfg.has_targets or cfg.from_plan is not None:  # (a resume replays its own values)
        cfg, lines = folder_kept_values(args, cfg)
        for line in lines if not cfg.quiet else ():
            say_note(line)
    if not cfg.has_targets:  # `harvester harvest --out DIR`: its runs' settings
        if args.label_keys and cfg.out is not None and cfg.shard is None and not cfg.refresh_labels:
            _refuse_absent_label_keys(cfg.out, cfg.label_keys)
        if args.concurrency is not None:  # refused once, not by each set's replay in turn
            from harvester.openfiles import fit_open_files

            fit_open_files(cfg.concurrency)
        replays, notes, unreplayed = _resumed_configs(args, cfg)  # (flags given now on top)
        _warn_nothing_refreshed(cfg, [replay[0] for replay in replays], unreplayed)
        if not replays:  # only sets that cannot be replayed, and nothing left to do
            # (or only forgotten sets: the line that says so)
            lines = [note for note, _moot in notes]
            for line in lines or [f"nothing to resume: {cfg.out} has nothing failed or pending"]:
                say_note(line)
            if not lines:
                _warn_none_resumed_refreshed(cfg)
                _note_index_missing(cfg.out)
            return 0
        if len(replays) > 1 or notes:
            return _replay_each(args, replays, notes)
        cfg, line, origin, moves = replays[0]
        if line:
            say_note(line)
        return _replay(args, cfg, origin, moves=moves)
    if cfg.out is not None and not cfg.dry_run:  # (a dry run writes nothing: the run does)
        # (counted now, before anything is written; said as the run first writes there)
        args.foreign_note = foreign_folder_note(cfg.out, args.config, cfg.ids_from, cfg.from_plan)
    return _harvest(args, cfg)


def _refuse_absent_label_keys(out: Path, keys: Sequence[str]) -> None:
    """Refuse a resume (``harvester harvest --out DIR --label-key KEY``) given a label key
    that no image of DIR has, where every walk of DIR listed everything: the images and
    their annotations are known, as for ``harvester index`` (the same line). Why: the
    resume wrote an index of empty labels at its end, a warning its only word. Not for a
    shard (it writes no index) or ``--refresh-labels`` (the annotations are asked again).
    """
    from harvester.errors import UsageError
    from harvester.index import current_state
    from harvester.layout import MARKER_NAME
    from harvester.select import absent_label_keys_refusal
    from harvester.status import unfinished_walks

    if not keys or not (out / MARKER_NAME).is_file():
        return
    state = current_state(out)
    if unfinished_walks(state):  # (images not listed yet may have the key)
        return
    refused = absent_label_keys_refusal(out, keys, state, "the resume did not start")
    if refused is not None:
        raise UsageError(refused[0])


def split_seed_note(args: argparse.Namespace, cfg: HarvestConfig) -> str | None:
    """The ``note:`` for a ``--seed`` given with a split and no ``--split-seed``, else None.

    Why: a first-time user gave ``--seed 4`` to a ``--split`` run expecting the split to use
    it; the split is drawn with ``--split-seed`` (default 0, so that another sample keeps the
    split), and ``status`` then said ``seed 0``. Nothing changes: the note says so, once.
    A ``--seed`` equal to the split's seed (``--seed 0``, the README's first example) gets
    none: the split is already drawn with it, and "give --split-seed 0" was noise.
    No split given, the targets typed into a folder that has one (``split.json``): the split
    kept there, as :func:`kept_split_seed_note` says (a resume's is said with its line:
    :meth:`_FolderTraining.seed_note`)."""
    spec = cfg.split_spec  # (a config file's split too; its split_seed is cfg's)
    if args.seed is None or cfg.split_seed is not None:
        return None
    if spec is None:
        if cfg.split is not None or not cfg.has_targets or cfg.out is None:
            return None  # (--no-split; or a resume, whose lines say it)
        from harvester.splits import folder_split

        kept = folder_split(cfg.out, notes=[])  # (a damaged record: the run warns)
        return kept_split_seed_note(args.seed, cfg.out, kept) if kept is not None else None
    if args.seed == spec.seed:
        return None
    return (
        f"note: --seed {args.seed} is the sample's seed, not the split's: the split is drawn "
        f"with --split-seed, {spec.seed} here; give --split-seed {args.seed} to draw it with "
        f"{args.seed}"
    )


def kept_split_seed_note(seed: int, out: Path, spec: SplitSpec) -> str | None:
    """The ``note:`` for a ``--seed`` given to a run into ``out`` that keeps the split
    recorded there (``spec``, from ``split.json``), else None (the split's seed is ``seed``).

    Why: a resume given ``--seed 4`` in a folder split with seed 0 draws its sample with 4
    and keeps the split on 0, and only the summary's ``(by well, seed 0)`` said so: a user
    who changed the seed expected a new split. Said once, with the flags that draw one."""
    if seed == spec.seed:
        return None
    from dataclasses import replace

    flags = shell_join(replace(spec, seed=seed).flags)
    return (
        f"note: --seed {seed} is the sample's seed, not the split's: {out} keeps its split"
        f" ({out / 'split.json'}), drawn with --split-seed {spec.seed}; to draw it with {seed},"
        f" add {flags} (images already in {out} may move to another split), or harvest into"
        " a new folder with them"
    )


def base_url_given(args: argparse.Namespace, cfg: HarvestConfig) -> bool:
    """Did the user name the server (``--base-url``, or ``base_url`` in the config file)?

    The file is read again only when it is a regular file (a FIFO cannot be read twice); one
    that is not says so by a base URL other than the default.
    """
    from harvester.config import DEFAULT_BASE_URL

    if getattr(args, "base_url", None) is not None or cfg.base_url != DEFAULT_BASE_URL:
        return True
    return _in_config_file(args, "base_url")


def artifacts_given(args: argparse.Namespace, cfg: HarvestConfig) -> bool:
    """Did the user choose the artifact kinds (``--artifacts``, or ``artifacts`` in the
    config file)? As :func:`base_url_given`: kinds other than the defaults say so too."""
    from harvester.models import DEFAULT_ARTIFACTS

    if getattr(args, "artifacts", None) is not None or cfg.artifacts != DEFAULT_ARTIFACTS:
        return True
    return _in_config_file(args, "artifacts")


def folder_kept_values(
    args: argparse.Namespace, cfg: HarvestConfig
) -> tuple[HarvestConfig, list[str]]:
    """``cfg`` with the values DIR keeps (``--thumbnail-size``, ``--window``,
    ``render_quality``) where the user gave none (:func:`harvester.folder_settings.kept_values`),
    and the lines that say so. A folder whose marker cannot be read, or holds a value no
    configuration takes, is left to the checks of the run as it opens DIR.

    As :func:`artifacts_given`, a value other than the default says the user gave it: a
    config file that is no regular file (a pipe, ``<(...)``) is not read again, and its
    ``thumbnail_size = 128`` was replaced by the folder's value."""
    from dataclasses import replace

    from harvester.errors import UsageError
    from harvester.folder_settings import (
        PINNED,
        kept_value_note,
        kept_values,
        older_folder_values,
        recorded_settings,
    )
    from harvester.store import read_marker

    if cfg.out is None:
        return cfg, []
    try:
        marker = read_marker(cfg.out)
    except (UsageError, OSError):
        return cfg, []
    flags = {"thumbnail_size": getattr(args, "thumbnail_size", None),
             "window": getattr(args, "window", None)}  # fmt: skip

    defaults = {pin.name: pin.default for pin in PINNED}

    def given(name: str) -> bool:
        if flags.get(name) is not None or getattr(cfg, name) != defaults[name]:
            return True
        return _in_config_file(args, name)

    recorded = recorded_settings(marker)
    taken = kept_values(cfg, recorded, given)
    try:
        kept = replace(cfg, **taken)
    except UsageError:  # (a value edited by hand into the marker: refused as DIR opens)
        return cfg, []
    notes = [kept_value_note(cfg.out, name, value) for name, value in taken.items()]
    try:  # (settings the marker lacks: none of those ``taken``)
        older, lines = older_folder_values(cfg.out, kept, marker, given)
        kept = replace(kept, **older)
    except (UsageError, OSError):  # (a damaged journal, or a value edited by hand into a
        return kept, notes  # run's config.json: said, or refused, as the run opens DIR)
    return kept, notes + lines


def warn_unitless_budget(args: argparse.Namespace, *, stops: str = "the run stops") -> None:
    """One warning where the command's ``--max-bytes`` (else its config file's
    ``max_bytes``) is a number without a unit under 1 KiB (:func:`~harvester.config.
    unitless_budget`): bytes, as documented, but most likely ``20G`` meant; the run goes on.
    ``stops``: who the budget stops (``each task stops``: ``harvester slurm``'s).

    Why: ``--max-bytes 20`` stopped a run after its first file, and its closing line said
    "the --max-bytes budget of 20 was reached", the unit unsaid. A warning, not a refusal:
    a tiny budget is a way to harvest one file (the tests' own), and said in bytes it is
    one. Said with ``--quiet`` too (a nightly ``-q`` job would stop at its first file every
    night); a resume's saved budget is not said again."""
    from harvester.config import unitless_budget
    from harvester.end_lines import size_said
    from harvester.errors import PROBLEMS_LOGGER

    value: object = getattr(args, "max_bytes", None)
    config: Path | None = getattr(args, "config", None)
    in_file = value is None and _in_config_file(args, "max_bytes")
    if in_file and config is not None:
        from harvester.config import written_value

        value = written_value(config, "max_bytes")
    size = unitless_budget(value)
    if size is None:
        return
    text = str(value).strip()  # (digits and a point: nothing to quote)
    if in_file:
        shown = json.dumps(value) if isinstance(value, str) else text
        named, fix = f"max_bytes = {shown} in {config}", f'write max_bytes = "{text}G"'
    else:
        named, fix = f"--max-bytes {shell_quote(str(value))}", f"give --max-bytes {text}G"
    note = (
        f"{named} is {size_said(str(size))} (a size without a unit is bytes), less than a "
        f"thumbnail: {stops} after its first files; for {text} GiB, {fix}"
    )
    logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def warn_foreign_folder(out: Path, *own: Path | str | None) -> None:
    """One warning where ``out``, the folder a command is about to start a harvest in, is
    no harvest and holds other entries (:func:`foreign_folder_note`). The run goes on:
    rsync and rclone copy into a folder that holds other files too, and nothing of the
    user's is touched (an ``index.csv`` there is kept aside as ``index.edited-<time>.csv``).
    Said once: the run makes the folder a harvest, and the next runs (a resume) say
    nothing. Said with ``--quiet`` too: the files are mixed once for good.

    Why: ``--out .`` in a folder of the user's own files put ``harvest.json``,
    ``images/``, ``study/``, ``index.csv`` and more among them without a word."""
    from harvester.errors import PROBLEMS_LOGGER

    note = foreign_folder_note(out, *own)
    if note:
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def foreign_folder_note(out: Path, *own: Path | str | None) -> str | None:
    """:func:`warn_foreign_folder`'s line, or None: how many entries ``out`` holds that are
    no harvest's (:func:`~harvester.store.foreign_entries`; ``own``: the command's config
    and ids files, which do not count), and a subfolder to give instead.

    Why apart: ``harvester harvest`` counts them before anything is written but says the
    line only as its store opens (:class:`harvester.pipeline.Harvest`'s ``out_note``): a
    run refused first (an unknown id, a server that does not answer) puts nothing among
    those entries, and was told its files "go in among them"."""
    from harvester.store import FOREIGN_COUNTED, foreign_entries

    found = foreign_entries(out, [Path(path) for path in own if path is not None])
    if not found:
        return None
    if found > FOREIGN_COUNTED:
        many = f"more than {FOREIGN_COUNTED:,} entries"
    else:
        many = plural(found, "entry", "entries")
    names = (f"harvest-{n}" if n > 1 else "harvest" for n in range(1, 1000))
    subfolder = next((out / name for name in names if not (out / name).exists()), out / "harvest")
    return (
        f"--out {shell_quote(str(out))} is no harvest folder (no harvest.json) but holds "
        f"{many}: harvester's files and folders (harvest.json, journals/, images/, study/, "
        "index.csv, ...) go in among them; for a folder of its own, give --out "
        f"{shell_quote(str(subfolder))}"
    )


def _in_config_file(args: argparse.Namespace, key: str) -> bool:
    """Does the command's config file set ``key``? Read again only when it is a regular
    file (a FIFO cannot be read twice)."""
    from harvester.config import load_toml

    config = getattr(args, "config", None)
    return config is not None and Path(config).is_file() and key in load_toml(config)


def recorded_argv(argv: list[str], config: Path | None) -> list[str]:
    """``argv`` as a run records it (journal, ``runs/<run>/config.json``): the config file by
    its absolute path, first after the subcommand (where ``harvester slurm`` puts it too).

    Why: a folder whose ``runs/`` is gone is resumed with the command its journals name
    (:func:`_journaled_targets_command`), which finds the config file there; a config path as
    typed (``configs/demo.toml``) named nothing from another folder, and one typed after the
    flags (``--out DIR demo.toml``, as argparse takes it) was left out of that command.
    """
    if config is None:
        return argv
    for n, word in enumerate(argv[1:], start=1):
        if not word.startswith("-") and Path(word) == config:
            return [argv[0], str(config.absolute()), *argv[1:n], *argv[n + 1 :]]
    return argv


def _harvest(
    args: argparse.Namespace,
    cfg: HarvestConfig,
    *,
    replay_of: str | None = None,
    moves_server: bool = False,
) -> int:
    """One harvest of ``cfg`` under the run's signal rules, its summary printed; its exit code.
    ``replay_of``: it replays a target set of DIR (see :func:`_resumed_configs`);
    ``moves_server``: at another server than that set's newest run asked."""
    import anyio

    from harvester.cli import _outcome_decided, drop_late_signals, hold_signals, restore_signals
    from harvester.pipeline import copy_of_ids_source, run_harvest
    from harvester.progress import Progress

    progress = Progress(enabled=not cfg.quiet)
    argv: list[str] = list(getattr(args, "command_argv", sys.argv[1:]))
    # Notes about DIR said by this command: a resume's replays (_replay_each) share them.
    said: set[str] = vars(args).setdefault("notes_said", set())
    # Before the event loop: copying a pipe waits for its producer, and Ctrl-C or SIGTERM
    # must be able to interrupt that wait (see copy_of_ids_source).
    ids_copy = copy_of_ids_source(cfg.ids_from, server=cfg.base_url)
    args.harvest_begun = True
    args.harvest_dry_run = cfg.dry_run  # (a config file's too) it has nothing to resume
    args.harvest_index = _index_as_it_is(cfg)
    # Held from here until the run's signal watcher is in place (Harvest._watch_signals
    # releases them): a KeyboardInterrupt raised while anyio builds its event loop left a
    # half-made loop behind ("Exception ignored ... no attribute '_signal_handlers'"). A run
    # that ends by itself drops them from its watcher's end to its summary (below).
    held = hold_signals()
    try:
        with progress.shown():
            summary = anyio.run(
                lambda: run_harvest(
                    cfg,
                    argv=recorded_argv(argv, getattr(args, "config", None)),
                    progress=progress,
                    handle_signals=True,
                    ids_copy=ids_copy,
                    say=None if cfg.quiet else say_line,
                    replay_of=replay_of,
                    moves_server=moves_server,
                    said=said,
                    script_written=_script_written(),
                    spent_before=_spent_before(args),
                    left_index=getattr(args, "left_index", None),
                    out_note=getattr(args, "foreign_note", None),
                )
            )
    except BaseException:
        restore_signals(held)  # a signal that came meanwhile is delivered now
        raise
    finally:
        if ids_copy is not None:
            ids_copy.unlink(missing_ok=True)
    _outcome_decided()  # a SIGTERM now would cut the summary and change the exit code
    # A resume replaying several sets stops at this one (_replay_each): the next would send
    # the same session or credentials, and each be refused in turn.
    args.credentials_stop = bool(summary.session_ended or summary.credentials_refused)
    # A --max-bytes given to a resume is the command's: its next replay counts what this one
    # stored, and none is started once it is spent (_replay_each), even where the file that
    # spent it was this set's last (the run then ended complete: no budget_reached).
    args.bytes_spent = _spent_before(args) + summary.bytes
    limit = cfg.max_bytes
    # (or where study files that did not fit in what was left of it stopped this one)
    spent = limit is not None and (args.bytes_spent >= limit or summary.exit_code == 8)
    args.budget_stop = _budget_shared(args) and spent
    # (and before its error, the other sets' `not resumed:` lines: none come after it)
    notes_at_stop = getattr(args, "notes_at_stop", None)
    stop_notes = notes_at_stop() if args.credentials_stop and notes_at_stop else []
    if summary.no_ids:  # its one warning said it all (see Harvest._no_ids_to_harvest)
        drop_late_signals(held)
        return summary.exit_code
    estimate = None
    if summary.dry_run:
        from harvester.progress import request_time_line

        estimate = request_time_line(summary.pending, cfg.rate, kinds=cfg.artifacts)
    # Every id read was journaled, done or failed: none left unlisted by a failed walk, or
    # unasked after the run stopped requesting a kind (neither is in --failed-ids).
    finished = not (summary.interrupted or summary.walk_failures or summary.not_requested)
    resume = _resume_command(argv, cfg.out, finished=finished, base_url=cfg.base_url)
    gone = _forget_line(cfg, summary, replayed=replay_of is not None)
    array = cfg.out if _slurm_task_resume(argv, cfg.out) is not None else None
    time_limited = (
        _time_limited_task(argv, array) if array is not None and summary.interrupted else None
    )
    report_summary(
        summary,
        quiet=cfg.quiet,
        resume=resume,
        array=str(array) if array is not None else None,
        time_limited=time_limited,
        plan=_array_plan(cfg) if array is not None else None,
        estimate=estimate,
        gone=gone,
        gone_hint="" if gone else _gone_images_line(cfg, summary, said),
        stop_notes=stop_notes,
    )
    if summary.dry_run and summary.unchecked_ids and not cfg.quiet:
        say_note(unchecked_ids_note(summary.unchecked_ids, bool(cfg.images)))
    drop_late_signals(held)
    return summary.exit_code


def unchecked_ids_note(unchecked: int, images_given: bool) -> str:
    """After a dry run given ``--ids-from``: its "N images found" counts every id it took
    from the source (``unchecked``), unknown ones too; ``images_given``: ``--image`` ids,
    which it did check, were given as well.

    Why: ids the server does not know were counted as found, and a user took the count for
    the server's; asking about each id would cost the dry run a request an id (a real run's
    first request of each image finds out, and names them: ``the 2 images not found``). Why
    the count and ``--image``: said for any dry run given both, an empty ids file's too,
    the note cast doubt on ``--image`` ids the dry run had checked one by one.
    """
    checked = "; the --image ids were checked" if images_given else ""
    return (
        f"note: a dry run does not ask the server about the {plural(unchecked, 'id')} it took "
        "from --ids-from: ids it does not know count as found here (a real run reports them "
        f"not found, HTTP 404){checked}"
    )


def _budget_shared(args: argparse.Namespace) -> bool:
    """Is the ``--max-bytes`` budget the whole command's? So where it was given now (the
    flag, or the config file given now) to a resume of several target sets (_replay_each).
    A budget a set's run saved is that set's replay's alone: the other sets' bytes (with no
    budget, or their own) take nothing from it, and its end stops no other replay."""
    return bool(getattr(args, "budget_shared", False))


def _spent_before(args: argparse.Namespace) -> int:
    """Bytes the earlier replays of this command stored against its shared budget."""
    return int(getattr(args, "bytes_spent", 0)) if _budget_shared(args) else 0


def _index_as_it_is(cfg: HarvestConfig) -> tuple[Path, tuple[int, int, int] | None] | None:
    """``index.csv`` of the run's DIR and its identity now, for the line of a run whose
    summary a second Ctrl-C cut short (:func:`harvester.cli._interrupted_line`): was the
    index rewritten before? None where the run writes none (a dry run, a shard)."""
    if cfg.dry_run or cfg.shard is not None or cfg.out is None:
        return None
    index = Path(cfg.out) / "index.csv"
    return index, index_identity(index)


def index_identity(path: Path) -> tuple[int, int, int] | None:
    """``path``'s device, inode and change time (None: none there): another once the index
    has been replaced. :func:`harvester.index.file_identity`'s, without loading that module
    before the run's first request (tests/unit/test_startup_imports.py)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_ctime_ns


def worst_exit(codes: list[int]) -> int:
    """The exit code of a resume that replayed several target sets: the worst of theirs.

    Worst first: 2 (a replay refused or a bad setting: rerunning as is cannot help, a person
    must look), then 75 (the server was busy: run again later), then 8 (the ``--max-bytes``
    budget was reached: the same command continues; before 1, so that a script looping on
    8 is not stopped by an earlier set's failures while work is left), then 1 (finished
    with failures, or a target set not resumed), then 0. An interruption (130) is not
    among them: it ends the whole resume at once.
    """
    from harvester.cli import EXIT_BUDGET, EXIT_FAILURES, EXIT_OK, EXIT_TRY_LATER, EXIT_USAGE

    order = (EXIT_USAGE, EXIT_TRY_LATER, EXIT_BUDGET, EXIT_FAILURES)
    return next((code for code in order if code in codes), max(codes, default=EXIT_OK))


def _replay_each(
    args: argparse.Namespace,
    replays: list[tuple[HarvestConfig, str, str, bool]],
    notes: list[tuple[str, bool]],
) -> int:
    """``harvester harvest --out DIR`` where DIR's runs asked for several target sets: each
    replayed in turn (newest first), exactly as a resume of one, in this one process.

    One replay's failures, busy server or refusal (an ``error:`` line, as the command would
    print it) do not stop the next; Ctrl-C or SIGTERM stops them all (130), and so does a
    replay stopped because the session it sent ended or its credentials were refused (2):
    the next sets send the same, and each was refused in turn, an error and a hint apiece
    for one cause; that replay's resume command (``harvester harvest --out DIR``) resumes
    them all. Then one ``not resumed:`` line per target set that could not be replayed
    (``notes``: after the summaries, where they are read). The exit code is
    :func:`worst_exit`'s, at least 1 when a set was not resumed, so a script notices.
    A ``--max-bytes`` given now is the command's budget, not each replay's: once the
    replays spent it, the sets after them are not replayed (exit 8: the same command
    continues them), unless DIR has nothing left to do (:func:`nothing_left`: each of them
    is complete, and the same command would end 0). One a set's run saved is that set's
    replay's own (:func:`_budget_shared`).
    The images the replays took out of index.csv (labels no longer matching) are said
    once they all ran, of those no later set listed again (:func:`_say_left_index`).
    """
    from harvester.select import LeftIndex

    args.left_index = LeftIndex()
    try:
        return _replay_sets(args, replays, notes)
    finally:
        _say_left_index(args)


def _say_left_index(args: argparse.Namespace) -> None:
    """The lines of the images a resume's replays took out of index.csv and no later
    replay listed again (:class:`harvester.select.LeftIndex`), said once: at the end of
    the replays, or where a stop ended them (Ctrl-C; what was done is done)."""
    from harvester.errors import PROBLEMS_LOGGER

    left = getattr(args, "left_index", None)
    for line in left.lines() if left is not None else ():
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", line)


def _replay_sets(
    args: argparse.Namespace,
    replays: list[tuple[HarvestConfig, str, str, bool]],
    notes: list[tuple[str, bool]],
) -> int:
    """:func:`_replay_each`'s replays, one by one; the resume's exit code."""
    from harvester.cli import (
        EXIT_BUDGET,
        EXIT_FAILURES,
        EXIT_INTERRUPTED,
        _outcome_open_again,
        report_error,
    )
    from harvester.errors import (
        FolderBusyError,
        HarvesterError,
        SplitHeldError,
        UnreachableServerError,
    )

    codes: list[int] = []
    first = replays[0][0]
    # A replay stopped by its session's end says these before its error and hint (see
    # _harvest): the stop ends the resume, and these lines, said last, were never said.
    args.notes_at_stop = lambda: _notes_to_say(first, notes)
    args.budget_shared = getattr(args, "max_bytes", None) is not None or _in_config_file(
        args, "max_bytes"
    )
    unreached: list[tuple[int, HarvestConfig, str, Exception]] = []
    for n, (cfg, line, origin, moves) in enumerate(replays):
        if n:
            _outcome_open_again()  # the last summary ignored SIGTERM: this harvest stops on it
        if line:
            say_note(line)
        try:
            code = _replay(args, cfg, origin, moves=moves)
        except BrokenPipeError:
            raise  # our output was closed: main() ends quietly
        except FolderBusyError as exc:
            why = _folder_wide(exc, cfg, [c for c, *_rest in replays[n + 1 :]])
            if why:  # every set after it is refused the same
                _say_unreached(args, unreached, codes)
                stopped = _stop_on_busy_folder(exc, args, len(replays) - n - 1, first, notes, why)
                return worst_exit([*codes, stopped])  # (an earlier set's 2 stays the worst)
            code = report_error(exc, args)
        except SplitHeldError as exc:
            if exc.whole_set:  # (every shard of every set is refused beside it, exit 2)
                why = "the lock is the whole folder's"
                _say_unreached(args, unreached, codes)
                stopped = _stop_on_busy_folder(exc, args, len(replays) - n - 1, first, notes, why)
                return worst_exit([*codes, stopped])  # (an earlier set's 2 stays the worst)
            code = report_error(exc, args)
        except UnreachableServerError as exc:
            if _maybe_moved_line(cfg, origin, exc) is None:
                code = report_error(exc, args)
            else:  # (said once every set was tried: its other server may not answer either)
                unreached.append((len(codes), cfg, origin, exc))
                code = EXIT_FAILURES
        except (HarvesterError, OSError) as exc:
            code = report_error(exc, args)
        if code == EXIT_INTERRUPTED or getattr(args, "credentials_stop", False):
            return code
        codes.append(code)
        if getattr(args, "budget_stop", False):
            left = len(replays) - n - 1
            if left and nothing_left(cfg.out):
                # (every set after it is complete: its replay would fetch nothing, and end
                # 0, so the resume ends as the replays did, not 8 "the rest is pending")
                left = 0
            _say_budget_stop(left)
            if left:  # (pending, though the replay that spent it ended complete)
                codes.append(EXIT_BUDGET)
            break
    _say_unreached(args, unreached, codes)
    _say_left_index(args)  # (before the `not resumed:` lines, said last to be read)
    said = _notes_to_say(first, notes)
    for note in said:
        say_note(note)
    if said:
        codes.append(EXIT_FAILURES)
    return worst_exit(codes)


def _say_unreached(
    args: argparse.Namespace,
    unreached: list[tuple[int, HarvestConfig, str, Exception]],
    codes: list[int],
) -> None:
    """The sets of a resume whose server did not answer while DIR holds their targets from
    another server (each with its place in ``codes``): a ``not resumed:`` line each
    (:func:`_maybe_moved_line`) where one of those other servers was not unreached too,
    else its error as it is (exit 2).

    Why after every set was tried: with the network down, both servers of ``--project 51``
    did not answer, and each set's line offered to forget it as moved to the other."""
    from harvester.cli import report_error
    from harvester.config import normal_base_url

    down = {normal_base_url(cfg.base_url) for _at, cfg, _origin, _exc in unreached}
    for at, cfg, origin, exc in unreached:
        moved = _maybe_moved_line(cfg, origin, exc, down)
        if moved is None:
            codes[at] = report_error(exc, args)
        else:
            say_note(moved)


def _maybe_moved_line(
    cfg: HarvestConfig, origin: str, exc: Exception, down: AbstractSet[str] = frozenset()
) -> str | None:
    """The ``not resumed:`` line of a replayed set whose server did not answer at all
    (``exc``), where DIR holds the same targets from another server: with the command that
    retires the old address. None where DIR holds them from no other server (its error is
    said as it is), or from none but those ``down`` (normal URLs that did not answer).

    Why: a server that moved to a new URL, its targets harvested again from there, left
    DIR a set of its dead address; replayed on every resume, each ended in an error and a
    hint to start a server there (exit 2). A server merely down looks the same, so the set
    is not dropped: the line says both, exit 1."""
    from harvester.config import (
        RecordedRun,
        normal_base_url,
        recorded_target_sets,
        target_flags,
        target_set,
    )

    assert cfg.out is not None  # (a resume's replay)
    mine = RecordedRun(origin, cfg.to_public())
    key, server = target_set(mine), normal_base_url(mine.base_url)
    others = [
        s.base_url
        for s in recorded_target_sets(cfg.out)
        if target_set(s) == key and normal_base_url(s.base_url) not in {server, *down}
    ]
    if not others:
        return None
    flags = shell_join(target_flags(mine))
    forget = shell_join(
        ["harvester", "forget", str(cfg.out), *target_flags(mine), "--base-url", mine.base_url]
    )
    return (
        f"not resumed: the target set {flags} of {mine.base_url}: {exc}; "
        f"{cfg.out} holds its targets from {' and '.join(others)} too: if the server moved "
        f"there, stop resuming its old address (its files stay): {forget}; if it is down, "
        "run this command again once it answers"
    )


def _say_budget_stop(left: int) -> None:
    """After the replay that reached ``--max-bytes``: the sets ``left`` after it, not tried.

    Why not replay them with what is left: nothing is (the budget is the command's), and
    each would stop at its first file, a summary apiece for nothing done."""
    if left:
        sets = plural(left, "other target set")
        say_note(
            f"not replayed: {sets} of this resume (the --max-bytes budget is spent); the "
            f"same command continues {'it' if left == 1 else 'them'}",
        )


def _folder_wide(exc: FolderBusyError, cfg: HarvestConfig, rest: Sequence[HarvestConfig]) -> str:
    """Whose lock refused this replay (``exc``: another process holds a lock of DIR), where
    it refuses every set replayed after it (``rest``) the same way; "" where a later set
    may take another lock.

    A replay without a shard takes DIR's own lock; a command that is no harvest
    (:class:`~harvester.errors.FolderInUseError`, ``harvester forget``) holds that lock too.
    A shard's lock is the shard's (``shard-K-of-N.lock``), not the set's: every later set
    replayed as that shard is refused by it too (``--shard`` given now replays each so)."""
    from harvester.errors import FolderInUseError

    if cfg.shard is None or isinstance(exc, FolderInUseError):
        return "the lock is the whole folder's"
    if all(other.shard == cfg.shard for other in rest):
        return f"each takes shard {cfg.shard}'s lock"
    return ""


def _stop_on_busy_folder(
    exc: FolderBusyError | SplitHeldError,
    args: argparse.Namespace,
    left: int,
    first: HarvestConfig,
    notes: list[tuple[str, bool]],
    why: str,
) -> int:
    """A resume of several sets refused by a lock that refuses each of them (DIR's own, the
    shard's each is replayed as, or, its shards, beside a harvest of the whole set; ``why``
    says which): said once, and the sets ``left`` after it are not tried; its exit code
    (75: run it again later; 2 beside a harvest of the whole set, as its run's).

    Why: each set's replay was refused in turn by the same lock, the same ``error:`` and
    ``hint:`` once per target set for one cause. The ``not resumed:`` lines (``notes``),
    said after the last set, come before the error, as at a credentials stop. A hint that
    said "nothing needs doing if it finishes" (a copy of the run going) says it of the set
    refused alone, and that the sets not tried still need this command once the run going
    has ended: the run holding the lock (a job array's task, a harvest of one set) may not
    harvest them, and a user who believed it never resumed them."""
    from harvester.cli import report_error
    from harvester.runlock import NOTHING_LEFT

    for note in _notes_to_say(first, notes):
        say_note(note)
    if left:
        others = plural(left, "other target set")
        tried = "was" if left == 1 else "were"
        untried = f"this resume's {others} {tried} not tried: {why}"
        if exc.hint and NOTHING_LEFT in exc.hint:
            them = "it" if left == 1 else "them"
            exc.hint = exc.hint.replace(
                NOTHING_LEFT, "nothing needs doing for this target set if it finishes"
            )
            untried += f"; run this command again for {them} once the run going has ended"
        exc.hint = f"{exc.hint}; {untried}" if exc.hint else untried
    return report_error(exc, args)


def _notes_to_say(first: HarvestConfig, notes: list[tuple[str, bool]]) -> list[str]:
    """The ``not resumed:`` lines of a resume (``notes``: each with whether it is moot
    once nothing is left, :func:`nothing_left`), those that still matter: a set that
    cannot be replayed has nothing left to do in a folder where nothing is left."""
    if any(moot for _note, moot in notes) and nothing_left(first.out, dry_run=first.dry_run):
        notes = [(note, moot) for note, moot in notes if not moot]
    return [note for note, _moot in notes]


def _replay(
    args: argparse.Namespace, cfg: HarvestConfig, origin: str, *, moves: bool = False
) -> int:
    """A resume's replay of one target set (:func:`_harvest`); its exit code. ``moves``:
    it asks another server than the set's newest run asked (see :func:`_resumed_configs`).

    A set refused for a target the server does not have, whose runs never did any work
    (a typo such as ``--image 1``, kept by 0.1.11), is dropped from DIR with a note naming
    its command (:func:`harvester.config.drop_refused_set`), and counts as done (0): it
    failed every resume of DIR, and only clearing ``runs/`` by hand ended that. Any other
    refusal is raised as before (one from a task group as its meaningful error).
    """
    from harvester.cli import EXIT_OK, _first_meaningful
    from harvester.errors import TargetNotFoundError

    try:
        try:
            return _harvest(args, cfg, replay_of=origin, moves_server=moves)
        except BaseExceptionGroup as group:
            raise _first_meaningful(group) from group
    except TargetNotFoundError as exc:
        note = _dropped_set_note(cfg, origin, exc)
        if note is None:
            exc.hint = _forget_hint(cfg, exc.hint)
            raise
        say_note(note)
        return EXIT_OK


def _forget_hint(cfg: HarvestConfig, hint: str | None) -> str:
    """``hint`` and then the ``harvester forget`` command that stops resuming the set of
    ``cfg`` (a replay refused for a target gone from the server), pastable as it is.

    Such a set did work once, so it is kept, and every resume of DIR was refused for it
    (exit 2) with no way out but removing ``runs/`` by hand, which lost its record."""
    assert cfg.out is not None  # (a replay's)
    stop = (
        "if it is gone for good, stop resuming this target set (its files stay): "
        f"{_forget_command(cfg.out, cfg)}"
    )
    return f"{hint}; {stop}" if hint else stop


def _forget_command(out: Path, cfg: HarvestConfig) -> str:
    """``harvester forget DIR TARGETS``: the command that stops resuming ``cfg``'s set."""
    from harvester.config import RecordedRun, target_flags

    flags = target_flags(RecordedRun("", cfg.to_public()))
    return shell_join(["harvester", "forget", str(out), *flags])


def _dropped_set_note(cfg: HarvestConfig, origin: str, exc: Exception) -> str | None:
    """Drop the target set of ``cfg`` (a replay refused with ``exc``) when none of its runs
    did any work; the note that says so, naming the command that was refused (None: kept)."""
    from harvester.config import RecordedRun, drop_refused_set, target_set
    from harvester.pipeline import public_argv

    if cfg.out is None or cfg.dry_run:  # (a dry run changes nothing in DIR)
        return None
    dropped = drop_refused_set(cfg.out, target_set(RecordedRun(origin, cfg.to_public())))
    if not dropped:
        return None
    # The user's own command (the set's first run), not a resume's replay of it.
    first = next((run for run in dropped if run.run == origin), dropped[0])
    # Redacted again: a version before 0.1.12 saved a base URL's query values whose names
    # did not look secret (``?sid=``), which no message may spell out now.
    argv = public_argv(first.argv)
    command = shell_join(["harvester", *argv]) if argv else f"run {first.run}"
    runs = ", ".join(run.run for run in dropped)
    return (
        f"dropped a target set refused before it did any work ({exc}): {command}; "
        f"no resume replays it again (removed the saved settings and journals of {runs})"
    )


def nothing_left(
    out: Path | None, report: StatusReport | None = None, *, dry_run: bool = False
) -> bool:
    """Does ``harvester status DIR`` find nothing left to do (no failure, nothing pending, no
    walk that did not list everything)?

    Then a target set that cannot be replayed (its ids came from a file since deleted, a pipe,
    or it used credentials) has nothing left either: saying it is "not resumed", with exit 1,
    on every resume of a finished folder would be a false alarm that never goes away.
    ``report``: DIR's status collected already, with nothing run since (it reads every
    journal: not twice in one command). ``dry_run``: DIR is only read (a dry run writes
    nothing, refused or not).
    """
    from harvester.status import collect_status

    if out is None:
        return False
    if report is None:
        report = collect_status(out, scrub=not dry_run, by_files=False)
    return report.started and not (report.failed or report.pending or report.walks)


def _split_counted(recorded: RecordedRun, out: Path) -> bool:
    """Does ``harvester status DIR`` count every image of this run's split, so that
    :func:`nothing_left` may speak for it?

    A split walked by its shards (no plan): yes, status names the shards no walk covers
    (:func:`harvester.status.unfinished_walks`). A split of a plan: only when status reads
    that plan, in ``DIR/plan`` or named by DIR's SLURM script; a plan elsewhere that
    nothing in DIR names holds images no journal knows of.
    """
    from harvester.plan import plan_dir
    from harvester.status import read_slurm_script

    from_plan = recorded.config.get("from_plan")
    if not from_plan:
        return True
    if not isinstance(from_plan, str):
        return False
    plan = plan_dir(Path(from_plan)).resolve()
    if plan == plan_dir(out).resolve():
        return True
    slurm = read_slurm_script(out)
    named = slurm.from_plan if slurm is not None else None
    return named is not None and plan == plan_dir(Path(named)).resolve()


def _given_now(now: list[str], resumed: HarvestConfig) -> str:
    """The ``; given now: ...`` end of a resume's line for one target set (``resumed``:
    its replay's settings).

    Why: a set harvested with ``--no-labels``, or from a plan (whose labels are the
    plan's), is replayed without the ``--refresh-labels`` given now (it has no labels to
    ask again: config.resolve), so the line must not say the flag applies to it, and says
    why of the two it is not refreshed (a plan's set was said to be a --no-labels one).
    """
    from harvester.pipeline import public_argv

    refreshed = resumed.refresh_labels
    words = now if refreshed else [word for word in now if word != "--refresh-labels"]
    text = f"; given now: {shell_join(public_argv(words))}" if words else ""  # (?bsession=)
    if len(words) < len(now):
        plan = resumed.from_plan is not None
        why = "its labels are its plan's" if plan else "this set was harvested with --no-labels"
        text += f"; labels not refreshed ({why})"
    return text


def _kinds_replaced(recorded: RecordedRun, resumed: HarvestConfig) -> str:
    """``; from now on this set fetches stack alone, not thumbnail,metadata (...)``: the
    end of a resume's line given ``--artifacts`` that leaves out kinds the set fetched
    (``recorded``: its newest run; ``resumed``: its replay), "" where it leaves none out.

    Why: the kinds given become the set's (a resume's replay is its newest run), so a user
    adding stacks to a mirror with ``harvester harvest --out DIR --artifacts stack`` had
    every later resume fetch stacks alone for the images new on the server, with no
    thumbnail or metadata, and was told nothing (the README said so, far from the command).
    """
    from harvester.models import Artifact

    before = recorded.config.get("artifacts")
    if not isinstance(before, list):
        return ""
    now = {kind.value for kind in resumed.artifacts}
    dropped = [kind.value for kind in Artifact if kind.value in before and kind.value not in now]
    if not dropped:
        return ""
    kinds = ",".join(kind.value for kind in Artifact if kind.value in now)
    both = ",".join(kind.value for kind in Artifact if kind.value in now or kind.value in before)
    # (a plan's set takes no image new on the server: its images not harvested yet it does)
    which = "of its plan not harvested yet" if resumed.from_plan else "new on the server"
    return (
        f"; from now on this set fetches {kinds} alone, not {','.join(dropped)} (their files "
        f"stay; an image {which} gets {kinds} only): to fetch {kinds} beside "
        f"them, --artifacts {both}"
    )


def _warn_nothing_refreshed(
    cfg: HarvestConfig, replays: Sequence[HarvestConfig], unreplayed: int = 0
) -> None:
    """One warning where a resume is given ``--refresh-labels`` (``cfg``: the command's
    settings) and none of its target sets refreshes: each was harvested with ``--no-labels``
    or from a plan (``replays``: their settings, the flag dropped from each: config.resolve),
    or, harvested with labels, could not be replayed (``unreplayed``: how many).

    Why a warning: each set's ``resuming`` line says ``labels not refreshed (...)``, but
    ``--quiet`` hides those lines, and a nightly ``harvester harvest --out DIR -q
    --refresh-labels`` of such a folder refreshed nothing, every night, without a word.
    Why ``unreplayed`` said first: a labelled set that could not be replayed (its ids read
    from a pipe, gone since) beside a ``--no-labels`` one was told "every target set of it
    was harvested with --no-labels", a cause that was not it, and no way to refresh it."""
    if not (cfg.refresh_labels and replays) or any(r.refresh_labels for r in replays):
        return
    from harvester.errors import PROBLEMS_LOGGER

    plans = sum(resumed.from_plan is not None for resumed in replays)
    if unreplayed:
        q = shell_quote(str(cfg.out))
        sets = "target set" if unreplayed == 1 else f"{unreplayed} target sets"
        was = "was" if unreplayed == 1 else "were"
        others = (
            "a plan's" if plans == len(replays)
            else "harvested with --no-labels" if not plans
            else "harvested with --no-labels or from a plan"
        )  # fmt: skip
        why = (
            f"its {sets} harvested with labels {was} not resumed (this command cannot replay "
            f"{'it' if unreplayed == 1 else 'them'}: give the targets again, harvester harvest "
            f"--out {q} TARGETS --refresh-labels), and "
            f"{'the other' if len(replays) == 1 else 'every other'} was {others}"
        )
    elif plans == len(replays):
        why = (
            f"{'its target set is' if plans == 1 else 'every target set of it is'} a plan's,"
            " whose labels are the plan's (make the plan again, harvester plan ... --force,"
            " to ask them again)"
        )
    elif not plans:
        why = (
            f"{'its target set was' if len(replays) == 1 else 'every target set of it was'}"
            " harvested with --no-labels (harvest the targets again without it to ask labels)"
        )
    else:
        why = (
            "every target set of it was harvested with --no-labels or from a plan (whose"
            " labels are the plan's)"
        )
    note = f"--refresh-labels refreshed no labels of {cfg.out}: {why}"
    logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def _warn_none_resumed_refreshed(cfg: HarvestConfig) -> None:
    """One warning where a resume given ``--refresh-labels`` replays no target set (each
    one resumed by its own command, as a set harvested in shards is by its ``--shard K/N``)
    and nothing is left to fetch: it said only ``nothing to resume``.

    Why: a nightly ``harvester harvest --out DIR -q --refresh-labels`` of a folder
    harvested in shards (a job array's) refreshed no label, every night, and the README
    says such a run says so."""
    if not cfg.refresh_labels:
        return
    from harvester.errors import PROBLEMS_LOGGER

    q = shell_quote(str(cfg.out))
    note = (
        f"--refresh-labels refreshed no labels of {cfg.out}: this command resumes none of its "
        "target sets (a set harvested in shards refreshes by its own shards: harvester "
        f"harvest --out {q} --shard K/N --refresh-labels, for each K)"
    )
    logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def _note_index_missing(out: Path | None) -> None:
    """A ``note:`` where a resume with nothing to do finds no ``index.csv`` in DIR.

    Why: a folder harvested in shards by hand (``--from-plan DIR --shard K/N``, as the
    README's cluster recipe runs its tasks), then ``harvester harvest --out DIR``, said only
    ``nothing to resume``, and the user looked for the index in vain: a shard does not
    write it, and a resume with nothing to do writes nothing."""
    from harvester.layout import INDEX_NAME

    if out is not None and not (out / INDEX_NAME).exists():
        say_note(
            f"note: {INDEX_NAME} is missing (a shard does not write it): write it with "
            f"harvester index {shell_quote(str(out))}",
        )


def _resumed_configs(
    args: argparse.Namespace, cfg: HarvestConfig
) -> tuple[list[tuple[HarvestConfig, str, str, bool]], list[tuple[str, bool]], int]:
    """The configurations of ``harvester harvest --out DIR`` given no target, one per target
    set of DIR's runs (:func:`harvester.config.recorded_target_sets`, newest first), each
    with the line that says it (empty with ``--quiet``) and the run whose place among DIR's
    runs its replay takes (:func:`harvester.config.replay_origin`), and whether it asks
    another server than the set's newest run asked (a ``--base-url`` given now: the server
    moved; that replay's run is kept, the record of the move, though it fetches nothing);
    and a ``not resumed:`` line per
    set that cannot be replayed, with whether a folder with nothing left makes it moot
    (:func:`nothing_left`; a split's only where status sees all its images:
    :func:`_split_counted`); and how many of the sets not replayed were harvested with
    labels (not from a plan): a ``--refresh-labels`` given now refreshes none of them
    (:func:`_warn_nothing_refreshed`).

    Each is the saved settings of the newest run of its targets
    (:func:`harvester.config.recorded_overrides`), the config file's and the flags given
    now on top: the replay behaves as that run's command. Retyping every target,
    ``--base-url`` and artifact to resume was the only way, and one forgotten ``--base-url``
    sent the run to IDR; replaying the newest run alone left the targets of earlier runs
    pending (a ``--screen`` run, then ``--ids-from retry.txt`` of its failures).

    A set is not replayed where that would not do what its command did (see
    :func:`harvester.config.replay_problem`), where a ``--base-url`` given now is another
    server's than its own in a folder of two (:func:`_other_servers_sets`) or where its
    saved settings are damaged; when
    no set is left, that is refused as before (exit 2, one line and a hint with the exact
    command, after the other sets' lines), unless the notes are moot: then no configuration
    is returned (nothing to resume). A DIR no run saved settings in keeps the old
    ``nothing to harvest``.
    """
    from harvester.config import (
        FLAGS,
        KEYS,
        SECRET_KEYS,
        load_toml,
        merged_problem,
        normal_base_url,
        recorded_file_settings,
        recorded_flags,
        recorded_overrides,
        recorded_target_sets,
        replay_origin,
        replay_problem,
        replay_which,
        servers_of,
    )
    from harvester.errors import ConfigError, HarvesterError, UsageError
    from harvester.journal import SavedConfigs
    from harvester.layout import JOURNALS_DIR, MARKER_NAME
    from harvester.pipeline import resolve_config

    out = cfg.out
    assert out is not None  # checked by the caller
    q = shell_quote(str(out))
    configs = SavedConfigs()  # each run's config read once, for its set and its damage
    sets = recorded_target_sets(out, saved=configs) if out.is_dir() else []
    if not sets and (gone := _all_forgotten(out)):
        return [], [(gone, True)], 0
    if not sets:
        hint = "name --screen, --project, --plate, --dataset, --image, --ids-from or --from-plan"
        again = _journaled_targets_command(out) if out.is_dir() else None
        if again is not None:
            hint = (
                f"no run of {out} saved readable settings in {out / 'runs'} (removed or "
                f"damaged?), but its journals name what its newest walk harvested: {again}"
            )
        elif out.is_dir() and (out / "runs").is_dir():
            hint += f" (no run of {out} saved readable settings in {out / 'runs'} to resume)"
        elif (link := _base_url_link(args)) is not None:
            hint = (
                f"--base-url is {link.described()}, not the server's address: give what it "
                "shows to the target flags: "
                f"{link.as_flags()} {_link_base_url_hint(args, link.server)}"
            )
        elif (out / "plan" / "plan.json").is_file():
            hint = f"harvest the plan in {out}: harvester harvest --from-plan {q} --out {q}"
        elif not out.exists():  # a resume of a mistyped folder: say that first
            hint = (
                f"{out} does not exist, so there is no harvest to resume there: check the "
                f"folder's name, or {hint}"
            )
        elif (prepared := _prepared_array_hint(out)) is not None:
            hint = prepared
        elif not (out / MARKER_NAME).exists() and not (out / JOURNALS_DIR).is_dir():
            from harvester.store import harvests_near

            near = harvests_near(out, prepared=False)  # (one harvester slurm prepared: no run)
            # ("holds 4 harvests, ...: give that folder" named no folder)
            which = "one of them" if len(near.holds) > 1 else "that folder"
            hint = (
                f"{out} is no harvest folder but {near.text}: give {which} as --out, or {hint}"
                if near
                else f"{out} holds no harvest to resume: check the folder's name, or {hint}"
            )
        raise UsageError("nothing to harvest", hint=hint)
    _warn_damaged_configs(out, configs)
    in_file = set(load_toml(args.config)) if args.config is not None else set()
    given = {k: v for k, v in overrides_from_args(args).items() if v is not None}
    secrets_given = {key for key in SECRET_KEYS if getattr(cfg, key)}
    elsewhere: set[str] = set()  # (the sets of another server than the --base-url given)
    mixed = len(servers_of(sets)) > 1  # (a pipe of failed ids then names its server)
    other_notes: set[str] = set()  # (their lines)
    if "base_url" in given or "base_url" in in_file:
        secrets_given.add("base_url")
        elsewhere = _other_servers_sets(sets, cfg.base_url, out)
    # Where a split still has work, so that its command names those shards alone
    # (read only when a split is to be said: it reads every journal, as status does).
    work_left = None
    resubmits: bool | None = None  # (its harvest.sbatch read once, not for each split set)
    array: tuple[int, int | None] | None = None  # (that script's array line, if read)
    report: StatusReport | None = None  # (reused by nothing_left below: nothing runs between)
    if cfg.shard is None and any(r.shard is not None for r in sets):
        from harvester.slurm import resubmit_resumes
        from harvester.status import collect_status

        with contextlib.suppress(HarvesterError):
            # (a dry run writes nothing; no byte count read: no stat of stored files)
            report = collect_status(out, scrub=not cfg.dry_run, by_files=False)
            work_left = report.work_left
        slurm = report.slurm if report is not None else None
        if slurm is not None:  # status read harvest.sbatch (harvester slurm's): not again
            resubmits, array = slurm.resubmit_resumes(), slurm.array
        else:
            resubmits = resubmit_resumes(out)
    replays: list[tuple[HarvestConfig, RecordedRun]] = []
    # (the refusal of a lone set, its note, whether a folder with nothing left drops it)
    refused: list[tuple[UsageError, str, bool]] = []
    # (a command that resumes every set: its place in refused, the sets it is said for)
    shared: dict[tuple[str, str], tuple[int, list[ReplayProblem]]] = {}

    def replayed(recorded: RecordedRun) -> dict[str, Any]:
        """The overrides a replay of ``recorded`` runs with: its saved settings, less those
        the config file given now sets, with the flags given now on top."""
        values = {k: v for k, v in recorded_overrides(recorded).items() if k not in in_file}
        if "sample_per" in given and "label_keys" not in given:
            # A --sample-per given now labels the index by its key, as the same flags with
            # the targets typed out do: the replayed "no keys" kept the old run's labels.
            values.pop("label_keys", None)
        values.update(given)
        return {k: v for k, v in values.items() if k in KEYS}

    for n, recorded in enumerate(sets):
        which = replay_which(n)
        if recorded.run in elsewhere:
            note = _elsewhere_note(recorded, out, which)
            other_notes.add(note)
            moot = recorded.shard is None or _split_counted(recorded, out)
            refused.append((UsageError(note), note, moot))
            continue
        try:  # what the command said instead carries: the flags given now, as a replay would
            as_now: dict[str, Any] | None = resolve_config(None, replayed(recorded)).to_public()
        except UsageError:
            # Damaged saved settings, or a plan gone (a job array's, on purged scratch):
            # said as saved. The set's own replay, if any, says what is wrong with it.
            as_now = None
        problem = replay_problem(
            recorded,
            out,
            shard_given=cfg.shard,
            secrets_given=frozenset(secrets_given),
            which=which,
            settings=as_now,
            config_file=args.config,
            work_left=work_left,
            resubmits=resubmits,
            array=array,
            mixed=mixed,
        )
        if problem is not None:
            moot = recorded.shard is None or _split_counted(recorded, out)
            same = (problem.command, problem.needs)  # (as config.said_once groups them)
            if problem.resumes_all and same in shared:
                # One command resumes every such set: one refusal names them all, at the
                # first one's place, as status says it (config.said_once). Each its own
                # line, said the same `harvester harvest SECRETS.toml --out DIR` twice.
                place, group = shared[same]
                group.append(problem)
                refused[place] = (*_refusal(out, merged_problem(group)), refused[place][2] and moot)
                continue
            if problem.resumes_all:
                shared[same] = (len(refused), [problem])
            refused.append((*_refusal(out, problem), moot))
            continue
        saved = out / "runs" / recorded.run / "config.json"
        overrides = recorded_overrides(recorded)
        try:  # a saved file edited by hand: named, not an internal error or a nameless value
            # (typed=False: a value is named by its key in config.json, not as a flag)
            resolve_config(None, {k: v for k, v in overrides.items() if k in KEYS}, typed=False)
        except ConfigError as exc:
            error = UsageError(
                f"cannot resume {out}: the settings its newest run saved in {saved} are "
                f"damaged ({exc})",
                hint=f"fix or remove {saved}, or give the targets again",
            )
            note = (
                f"not resumed: the settings {which} ({recorded.run}) saved in {saved} are "
                f"damaged ({exc}); fix or remove it, or give its targets again"
            )
            refused.append((error, note, False))
            continue
        overrides = replayed(recorded)
        # (a refusal of the saved settings combined with the flags given now names each
        # saved one as saved, not as a flag the user typed: config.saved_named)
        resumed = resolve_config(args.config, overrides, saved=set(overrides) - set(given))
        replays.append((resumed, recorded))
    if not replays:
        if all(moot for _e, _n, moot in refused) and nothing_left(out, report, dry_run=cfg.dry_run):
            return [], [], 0  # every image journaled is done: nothing to resume (the caller says)
        # (a set of this server's refusal first: the others' notes say their own commands)
        refused.sort(key=lambda entry: entry[1] in other_notes)
        for _error, note, _moot in refused[1:]:
            say_note(note)
        raise refused[0][0]
    now = [str(args.config)] if args.config is not None else []
    for key, value in given.items():
        if key == "out":
            continue
        flag = _NOT_REPLAYED_FLAGS.get(key) or FLAGS.get(key)
        if key == "labels":
            now.append("--no-labels")
        elif key == "split" and value == "none":
            now.append("--no-split")
        elif flag is None or isinstance(value, bool):
            now.append("--" + key.replace("_", "-"))
        else:
            for item in value if isinstance(value, list) else [value]:
                now += [flag, str(item)]
    said: list[tuple[HarvestConfig, str, str, bool]] = []
    training = _FolderTraining(out, configs, given)  # (read once, for every set's line)
    for n, (resumed, recorded) in enumerate(replays):
        origin = replay_origin(recorded)
        moves = normal_base_url(resumed.base_url) != normal_base_url(recorded.base_url)
        if resumed.quiet:
            said.append((resumed, "", origin, moves))
            continue
        whose = "its newest run" if recorded is sets[0] else "its newest run of these targets"
        which = f" (target set {n + 1} of {len(replays)})" if len(replays) > 1 else ""
        line = f"resuming {out}{which} with the settings of {whose}, {recorded.run}"
        flags = shell_join(recorded_flags(recorded))
        from_file = recorded_file_settings(recorded)
        if from_file:  # replayed too, though no flag says them
            flags += f"{' ' if flags else ''}({', '.join(from_file)})"
        line += (f": {flags}" if flags else " (all defaults)") + training.said(resumed)
        line += _given_now(now, resumed)
        if "artifacts" in given:
            line += _kinds_replaced(recorded, resumed)
        said.append((resumed, line, origin, moves))
    seed_note = training.seed_note(given.get("seed"))
    for n, (resumed, line, origin, moves) in enumerate(said):
        if seed_note and line:  # under the first line said (none with --quiet), once
            said[n] = (resumed, f"{line}\n{seed_note}", origin, moves)
            break
    unreplayed = sum(
        1
        for recorded in sets
        if all(recorded is not each for _resumed, each in replays)
        and recorded.config.get("labels") is not False
        and not recorded.config.get("from_plan")
    )
    return said, [(note, moot) for _error, note, moot in refused], unreplayed


class _FolderTraining:
    """The label keys and split a resume's index is written with, for its ``resuming ...``
    lines: ``; label keys: K1, K2; split: train=0.8,val=0.2``.

    Why: a resume does not replay a run's ``--label-key`` or ``--split``
    (:data:`harvester.config.NOT_REPLAYED`): given none, the index keeps the keys given last
    and DIR's recorded split, and the summary names what it wrote, but the line that says
    what the resume replays named neither. Read once per resume, and only when asked: the
    keys given last are told by the journals' order of runs, read only where some run or
    ``harvester index`` gave keys (that read is kept for the replay's own, see
    :meth:`harvester.journal.JournalState.load`). Those given now are said as given."""

    def __init__(self, out: Path, configs: SavedConfigs, given: Mapping[str, Any]) -> None:
        self._out = out
        self._configs = configs
        self._keys_given = "label_keys" in given
        self._split_given = bool({"split", "split_by", "split_seed"} & set(given))
        self._folder_keys: tuple[str, ...] | None = None  # (None: not read yet)
        self._folder_split: SplitSpec | None = None
        self._split_read = False

    def said(self, cfg: HarvestConfig) -> str:
        """What ``cfg``'s replay labels and splits its index by, as its line ends (or "")."""
        from harvester.splits import DEFAULT_SPLIT_BY, asked_grouping
        from harvester.text import shown

        words = ""
        keys = () if self._keys_given else cfg.label_keys or self._keys()
        if keys:
            words += f"; label keys: {', '.join(shown(key) for key in keys)}"
        spec = None if self._split_given else cfg.split_spec or self._split()
        if spec is not None:
            words += f"; split: {spec.text}"
            if spec.by != DEFAULT_SPLIT_BY or spec.seed:
                words += f" {asked_grouping(spec.by)}, seed {spec.seed}"
        return words

    def seed_note(self, seed: object) -> str | None:
        """The note for a ``--seed`` given now that the folder's split keeps its own seed
        (:func:`kept_split_seed_note`); None without a seed, a split given now or one kept."""
        if not isinstance(seed, int) or self._split_given:
            return None
        spec = self._split()
        return kept_split_seed_note(seed, self._out, spec) if spec is not None else None

    def _keys(self) -> tuple[str, ...]:
        if self._folder_keys is None:
            from harvester.errors import HarvesterError
            from harvester.folder_settings import folder_has_label_keys, remembered_label_keys
            from harvester.journal import JournalState

            self._folder_keys = ()
            if folder_has_label_keys(self._out):
                # (journals that cannot be read: the line names no keys; the replay says why)
                with contextlib.suppress(OSError, HarvesterError):
                    state = JournalState.load(self._out)
                    self._folder_keys = remembered_label_keys(
                        self._out, state, warn=False, saved=self._configs
                    )
        return self._folder_keys

    def _split(self) -> SplitSpec | None:
        if not self._split_read:
            from harvester.splits import folder_split

            self._folder_split = folder_split(self._out, notes=[])  # (its run warns)
            self._split_read = True
        return self._folder_split


def _refusal(out: Path, problem: ReplayProblem) -> tuple[UsageError, str]:
    """How a resume of DIR says a target set it cannot replay: the error when no set can be
    replayed (the newest set's), else its ``not resumed:`` line, each with the command."""
    from harvester.errors import UsageError

    error = UsageError(
        f"cannot resume {out} as its newest run did: {problem.reason}",
        hint=f"run: {problem.line}",
    )
    return error, f"not resumed: {problem.reason}; run: {problem.line}"


def _other_servers_sets(sets: list[RecordedRun], given_url: str, out: Path) -> set[str]:
    """The runs of ``sets`` (DIR's target sets) harvested from another server than
    ``given_url`` (a bare resume's ``--base-url``): a resume leaves them out; none when
    DIR holds one server's (``--base-url`` then asks it for every set, as always: a
    server moved). Compared by :func:`harvester.config.normal_base_url`, so that a URL
    with the user or session a set's run sent (never saved) matches that set.

    Why: image ids are one server's. Every set was replayed on the server given, so the
    other server's sets asked it for their ids: failures (a forget suggested for a plate
    it lacks), or its images written as theirs. A ``--base-url`` matching none of two or
    more servers is refused (:class:`UsageError`), naming them."""
    from harvester.config import normal_base_url, servers_of

    servers = servers_of(sets)
    if len(servers) < 2:
        return set()
    wanted = normal_base_url(given_url)
    if wanted not in servers:
        raise no_set_of_server(
            out,
            given_url,
            servers,
            hint=(
                f"resume every set from its own server: harvester harvest --out "
                f"{shell_quote(str(out))}; or one server's sets: give its --base-url; or, to "
                "ask another server for a set, give its targets with that --base-url"
            ),
        )
    return {r.run for r in sets if normal_base_url(r.base_url) != wanted}


def no_set_of_server(out: Path, given_url: str, servers: dict[str, str], hint: str) -> UsageError:
    """The refusal of a ``--base-url`` (``given_url``, said without its credentials) that
    is none of the servers DIR's target sets were harvested from (``servers``: by
    :func:`harvester.config.normal_base_url`, each as saved), naming them all."""
    from harvester.errors import UsageError, redact_base_url

    names = list(servers.values())  # (as read: credentials withheld, _read_recorded)
    listed = and_list(names)
    return UsageError(
        f"{out} holds no target set harvested from {redact_base_url(given_url)}: its sets "
        f"were harvested from {listed}",
        hint=hint,
    )


def _elsewhere_note(recorded: RecordedRun, out: Path, which: str) -> str:
    """The ``not resumed:`` line of a set of another server than the ``--base-url`` given
    (:func:`_other_servers_sets`), with the command that resumes its server's sets."""
    from harvester.config import commented, own_server_command, target_flags

    command, needs = own_server_command(recorded, out)
    targets = shell_join(target_flags(recorded)) or "its targets"
    return (
        f"not resumed: {which} ({recorded.run}) harvested {targets} from another server, "
        f"{recorded.base_url}; run: {commented(command, needs)}"
    )


def _prepared_array_hint(out: Path) -> str | None:
    """What a folder ``harvester slurm`` prepared and no task started in is, and the
    command that submits its array (as ``harvester status`` says them); None for any other
    folder. Why: ``harvest --out`` of such a folder said it "holds no harvest to resume",
    as if the folder were mistyped."""
    from harvester.layout import JOURNALS_DIR, MARKER_NAME
    from harvester.status import read_slurm_script

    if (out / MARKER_NAME).exists() or (out / JOURNALS_DIR).is_dir():
        return None
    slurm = read_slurm_script(out)
    if slurm is None or slurm.elsewhere is not None:
        return None
    q = shell_quote(str(out))
    here = ""
    if slurm.from_plan:  # (its plan elsewhere: a plan in DIR was named before this)
        here = "; or harvest its plan here: harvester harvest --from-plan "
        here += f"{shell_quote(slurm.from_plan)} --out {q}"
    return (
        f"{out} holds the job array {slurm.described()}, and no task has started yet: "
        f"if it is not submitted yet, submit it: {slurm.submit_command()} "
        f"(harvester status {q} says whether it is queued){here}"
    )


def _all_forgotten(out: Path) -> str | None:
    """The line of a resume of DIR whose every target set ``harvester forget`` took out of
    its resumes (None: not so): nothing to resume, exit 0, and how to take one back."""
    from harvester.config import (
        commented,
        folder_server_url,
        recorded_target_sets,
        take_back_flags,
        take_back_note,
    )

    if not out.is_dir():
        return None
    sets = recorded_target_sets(out, forgotten=True)
    if not sets:
        return None
    flags = take_back_flags(sets[0], folder_server_url(out))
    again = shell_join(["harvester", "harvest", "--out", str(out), *flags])
    return commented(
        f"nothing to resume: every target set of {out} is forgotten (`harvester forget`); "
        f"to resume one again, give its targets, e.g. {again}",
        take_back_note(sets[0]),
    )


#: The --ids-from value that stands for a pipe read once, in a resume hint.
IDS_AGAIN = "FILE"


def _resume_command(
    argv: list[str], out: Path | None = None, *, finished: bool = False, base_url: str = ""
) -> str:
    """The command to run again, as printed: credentials in URLs (?bsession=) redacted.

    ``--ids-from`` of a source read once is no command to run again as is:
    ``<(cmd)`` was ``/dev/fd/63``, a path gone when the shell's command ended,
    so it is printed as ``--ids-from FILE`` plus what FILE must be; with ``-``
    the command is right but the ids must be on standard input again. Unless the run
    ``finished`` (every id read was journaled, failures included): then what is left is its
    failures, whose ids ``status --failed-ids`` prints, so the command is that piped into
    the run's own with ``--ids-from -``: nothing to keep or type again.

    A task of a ``harvester slurm`` job array (``out``: its DIR, which holds the scripts) is
    resumed by resubmitting that task, not by running its command on the login node.

    ``base_url``: the server the run asked. In a folder of two servers, ``status
    --failed-ids`` of that pipe names it (``--base-url``, as saved: no credentials): both
    servers' failed ids, one list, are refused there (:func:`_failed_ids_to_list`).
    """
    from harvester.config import commented, failed_ids_command, saved_base_url, url_again_note
    from harvester.pipeline import names_flag, public_argv

    if not argv:
        return "the same command"
    slurm = _slurm_task_resume(argv, out)
    if slurm is not None:
        return slurm
    words = public_argv(argv)
    # A redacted base URL does not work pasted back: URL stands in for it, and the note
    # names the server as saved, without its user or query (as status and verify print a
    # resume of such a run: one URL in both, no part of a credential). Any other word
    # public_argv redacted (an --ids-from path holding "?token=") is no credential the run
    # sends: it is printed as given, as status prints it from the saved settings; as URL,
    # the command read that file from a path named URL.
    secret_url = ""
    base_url_next = False
    for n, (word, given) in enumerate(zip(words, argv, strict=True)):
        flag, eq, value = given.partition("=")
        is_base_url = names_flag(flag, "--base-url")
        if word != given and (base_url_next or (is_base_url and eq)):
            url, shown = (given, word) if base_url_next else (value, word.partition("=")[2])
            words[n] = "URL" if base_url_next else f"{flag}=URL"
            http = url.lower().startswith(("http://", "https://"))
            secret_url = url_again_note(saved_base_url(url) if http else shown)
        elif word != given:
            words[n] = given
        base_url_next = is_base_url and not eq
    read_once = ""
    for n, word in enumerate(words):
        flag, eq, value = word.partition("=")
        if not names_flag(flag, "--ids-from"):  # argparse's --ids too
            continue
        if not eq:
            if n + 1 == len(words):
                break
            value = words[n + 1]
        if (value == "-" or _read_once(value)) and finished and out is not None:
            words[n : n + (1 if eq else 2)] = [f"{flag}=-"] if eq else [flag, "-"]
            listing = failed_ids_command(out) + _server_of_mixed_folder(out, base_url)
            return commented(f"{listing} | harvester {shell_join(words)}", secret_url)
        if value == "-":
            read_once = "the same ids on standard input again"
        elif _read_once(value):
            read_once = (
                f"{IDS_AGAIN}: the same ids again, in a file or <(...);"
                f" {value} could be read only once"
            )
            words[n : n + (1 if eq else 2)] = [f"{flag}={IDS_AGAIN}"] if eq else [flag, IDS_AGAIN]
        break
    notes = "; ".join(note for note in (secret_url, read_once) if note)
    return commented("harvester " + shell_join(words), notes)


def _script_written() -> float | None:
    """When the ``harvest.sbatch`` running this harvest as a task was written (None: not a
    task of one): :func:`harvester.slurm.script_written`."""
    import os

    if "SLURM_ARRAY_TASK_ID" not in os.environ:
        return None  # (not importing harvester.slurm for every other run)
    from harvester.slurm import script_written

    return script_written()


def _slurm_task_resume(argv: list[str], out: Path | None) -> str | None:
    """``sbatch --array=K DIR/harvest.sbatch`` (and the index job after it) for a task of
    the array that ``harvester slurm`` wrote into DIR; None for any other run.

    A comment after it says it resubmits this task only and names ``harvester status DIR``
    for the array's others: after ``scancel JOB`` (the whole array) every task's log said
    to resubmit itself alone, and the tasks that never started were in no log."""
    import os

    task = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    if out is None or not task.isdigit() or not any(w.startswith("--shard") for w in argv):
        return None
    # Only now: every run's summary passes here, and importing the module takes ~2 ms.
    from harvester.config import commented
    from harvester.slurm import INDEX_SCRIPT_NAME, resume_line

    script = _own_script(out)
    if not (script.is_file() and (out / INDEX_SCRIPT_NAME).is_file()):
        return None
    others = f"this task only; every task with work left: harvester status {shell_quote(str(out))}"
    return commented(resume_line(out, task, script), others)


def _own_script(out: Path) -> Path:
    """The script this task of a job array runs (its ``HARVESTER_ARRAY_SCRIPT``: a folder
    may hold one per selection, ``harvest-2.sbatch`` ...) where it is DIR's; else
    ``DIR/harvest.sbatch`` (a script written before 0.1.27 sets none)."""
    import os

    from harvester.slurm import SCRIPT_NAME, SCRIPT_PATH_ENV

    named = Path(os.environ.get(SCRIPT_PATH_ENV, ""))
    if named.name and named.parent == out and named.name.endswith(".sbatch"):
        return named
    return out / SCRIPT_NAME


def _time_limited_task(argv: list[str], out: Path) -> str | None:
    """``DIR/harvest.sbatch`` when this run, a task of DIR's job array, was cut short by
    SLURM's time limit: its log (``DIR/logs/harvest-<job>_<K>.log``, the script's
    ``#SBATCH --output``) holds SLURM's ``CANCELLED ... DUE TO TIME LIMIT`` line after its
    start (slurmstepd writes it before the SIGTERM that interrupts the run); else None.

    Why: its ``interrupted`` line named the ``--array=K`` resubmission alone, which the
    same ``#SBATCH --time`` cuts short again at about the same point."""
    import os

    job, task = os.environ.get("SLURM_ARRAY_JOB_ID", ""), os.environ.get("SLURM_ARRAY_TASK_ID")
    shard = next(
        (w.partition("=")[2] or (argv[n + 1] if n + 1 < len(argv) else "")
         for n, w in enumerate(argv) if w == "--shard" or w.startswith("--shard=")),
        "",
    )  # fmt: skip
    if not (job and task and shard):
        return None
    from harvester.slurm import LOG_DIRNAME
    from harvester.status import task_cancelled_by

    log = out / LOG_DIRNAME / f"harvest-{job}_{task}.log"
    if task_cancelled_by(log, shard) != "time limit":
        return None
    return shell_quote(str(_own_script(out)))


def _array_plan(cfg: HarvestConfig) -> tuple[str, int] | None:
    """The plan a job array's task harvests (``--from-plan``) and the array's task count
    (its ``--shard K/N``'s N), for the command its log names for a hint's flags
    (:func:`harvester.fetch.no_rerun_line`); None for a task that walks for itself."""
    from harvester.shard import split_count

    count = split_count(cfg.shard) if cfg.shard else None
    if cfg.from_plan is None or count is None:
        return None
    return str(cfg.from_plan), count


def _read_once(path: str) -> bool:
    """Whether an ``--ids-from`` path was ``-``, a pipe, ``<(cmd)`` or a device: not there
    to reread.

    The rule of :func:`harvester.pipeline.copy_of_ids_source` (which copies exactly
    these), plus the descriptor paths by name: ``/dev/fd/63`` may already be closed.
    """
    from harvester.config import ids_read_once

    if ids_read_once(path):
        return True
    where = Path(path)
    try:
        return where.exists() and not (where.is_file() or where.is_dir())
    except OSError:
        return False


def report_summary(
    summary: RunSummary,
    *,
    quiet: bool = False,
    resume: str = "",
    array: str | None = None,
    estimate: str | None = None,
    gone: str = "",
    gone_hint: str = "",
    stop_notes: Sequence[str] = (),
    time_limited: str | None = None,
    plan: tuple[str, int] | None = None,
) -> None:
    """:func:`print_summary`, whose stderr part (failures, rerun hint) outlives a closed stdout.

    The totals go first, to stdout; if its reader went away (``| head -1``, a dead ``tee``)
    they are dropped and the problems and the hint still reach stderr; the exit code stays
    the run's (see :func:`harvester.cli.main`). A closed stderr too: nothing more to say.
    """
    from harvester.cli import discard_stdout

    try:
        print_summary(
            summary,
            quiet=quiet,
            resume=resume,
            array=array,
            estimate=estimate,
            gone=gone,
            gone_hint=gone_hint,
            stop_notes=stop_notes,
            time_limited=time_limited,
            plan=plan,
        )
    except BrokenPipeError:
        discard_stdout()
        with contextlib.suppress(BrokenPipeError):  # stderr closed as well: nobody listens
            print_summary(
                summary,
                quiet=quiet,
                resume=resume,
                array=array,
                totals=False,
                gone=gone,
                gone_hint=gone_hint,
                stop_notes=stop_notes,
                time_limited=time_limited,
                plan=plan,
            )


#: Below this many seconds of the server up, a run that paused for it says no mean rate.
RATE_UP_AT_LEAST_S = 1.0


def _rate_text(summary: RunSummary) -> str:
    """The summary's mean rate, after its time: over the time the server was up where the
    run paused for it down, and not at all where that was under :data:`RATE_UP_AT_LEAST_S`.
    Why: a run that found the server down at its start and waited it out said `3 requests,
    8.0 s, 449.3 requests/s while the server was up` (3 requests in its few milliseconds
    not paused), for a server that was never up."""
    if not summary.outage_waited:
        return f", {summary.rate:.1f} requests/s"
    if summary.elapsed - summary.outage_waited < RATE_UP_AT_LEAST_S:
        return ""
    return f", {summary.rate:.1f} requests/s while the server was up"


def _time_limit_line(summary: RunSummary, script: str, resume: str) -> str:
    """The last line of a job array's task SLURM's time limit interrupted (``script``: the
    array's ``DIR/harvest.sbatch``): its ``--array=K`` resubmission (``resume``) would meet
    the same limit, so the line says to raise ``#SBATCH --time`` (or run more tasks) first.

    Stopped while waiting for a server that is down (:attr:`paused_when_stopped`), it says
    that too, and that the wait counted towards the limit: that line alone ("run again
    later") sent the task back with the same ``--time``, which the next outage cuts short."""
    kept = (
        "every finished file is kept and journaled"
        if summary.store_opened
        else "nothing harvested yet"
    )
    paused = summary.paused_when_stopped
    if not paused:
        return (
            f"{INTERRUPTED} by SLURM's time limit, as its line above says: {kept}; the same "
            f"limit would cut the task short again: raise #SBATCH --time in {script}, or run "
            f"more tasks (--tasks N) so each does less, then resume with: {resume}"
        )
    return (
        f"{INTERRUPTED} by SLURM's time limit, as its line above says, while waiting for the "
        f"server, down for {paused}: {kept}; the wait counted towards the limit, which "
        f"may cut the task short again: raise #SBATCH --time in {script}, or run more "
        f"tasks (--tasks N) so each does less, then, once the server is back, resume with: "
        f"{resume}"
    )


def dry_run_interrupted_line(again: str, paused: str | None = None) -> str:
    """The last line of an interrupted dry run: its counts are short, it wrote nothing (it
    has nothing to resume), and the command that counts again. ``paused``: how long the
    server had been down, when it was stopped waiting for it (:attr:`paused_when_stopped`).
    """
    waiting = f" while waiting for the server, down for {paused}" if paused else ""
    return f"{INTERRUPTED}{waiting}: the counts are short, nothing was written; run again: {again}"


class _SummaryStderr:
    """Standard error for the summary's lines: on a terminal, their control characters
    escaped as standard output escapes them there (:func:`harvester.text.
    terminal_controls_escaped`); through a pipe or into a log, written as they are.

    Why: the closing command quotes the ``--out`` folder (``rerun to retry the failures:
    ... --out 'a<ESC>[31m'``), and a folder so named recoloured the terminal from that line
    while the ``index:`` line above it, on standard output, showed ``\\x1b``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        try:
            self._terminal = bool(stream.isatty())
        except (AttributeError, OSError, ValueError):
            self._terminal = False

    def write(self, text: str) -> int:
        if self._terminal and not text.isprintable():
            from harvester.text import terminal_controls_escaped

            return self._stream.write(terminal_controls_escaped(text))
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def print_summary(
    summary: RunSummary,
    *,
    quiet: bool = False,
    resume: str = "",
    array: str | None = None,
    totals: bool = True,
    estimate: str | None = None,
    gone: str = "",
    gone_hint: str = "",
    stop_notes: Sequence[str] = (),
    time_limited: str | None = None,
    plan: tuple[str, int] | None = None,
) -> None:
    """The final report: on stdout, failures on stderr (``--quiet`` keeps only problems).

    ``totals=False``: the stderr part only (stdout's reader went away, see report_summary).
    ``array``: DIR, when the run is a task of DIR's job array (``resume`` resubmits it): a
    closing line after failures no rerun fixes sends the hints' flags to ``harvester slurm``
    (:func:`harvester.fetch.no_rerun_line`).
    ``estimate``: a dry run's time at the rate (:func:`harvester.progress.request_time_line`).
    ``gone``: the line naming ``harvester forget`` for a run whose every image answered 404
    (:func:`_forget_line`), said last. ``gone_hint``: the ``hint:`` naming ``forget
    --gone-ids-from`` for failed images not found (:func:`_gone_images_line`), said with
    the hints, above the note and closing command (the last line, as a script reads it).
    ``time_limited``: the job array's script (``DIR/harvest.sbatch``) of a task SLURM's time
    limit interrupted (:func:`_time_limited_task`): its ``interrupted`` line says to raise
    the script's ``#SBATCH --time`` before the resubmission, which would meet it again.
    ``plan``: the plan an array's task harvests and the task count, for ``array``'s command.
    """
    from harvester.progress import human_bytes

    out, err = sys.stdout, _SummaryStderr(sys.stderr)
    if summary.dry_run:
        if totals:
            print(
                f"dry run: {plural(summary.images, 'image')} found, "
                f"{plural(summary.pending, 'artifact')} to fetch "
                f"({plural(summary.requests, 'listing request')}"
                # (as a run's summary says them: a second walk's retries are among them)
                + (f", {plural(summary.retries, 'retry', 'retries')})" if summary.retries else ")")
                + _gone_text(summary)
                + waited_text(summary),
                file=out,
            )
            if summary.walked_again:
                print(walked_again_line(summary), file=out)
            if summary.selection:
                print(summary.selection, file=out)
            if estimate:
                print(estimate, file=out)
        for line in summary.walk_failures:
            print(f"walk failed: {line}", file=err)
        if summary.server_down:
            print(f"{STOPPED}{summary.server_down}: the counts are short", file=err)
        elif summary.session_ended or summary.credentials_refused:
            _print_credentials_stop(
                summary, f"run it again: {resume}", kept="the counts are short", notes=stop_notes
            )
        elif summary.interrupted:
            # Its counts read as the answer (exit 130 alone said otherwise).
            print(dry_run_interrupted_line(resume, summary.paused_when_stopped), file=err)
        return
    if totals and (not quiet or not summary.ok or summary.interrupted):
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.done_by_kind.items()))
        print(
            f"done {summary.done}{f' ({kinds})' if kinds else ''}, skipped {summary.skipped} "
            f"(already done), failed {summary.failed}{_gone_text(summary)}; "
            f"{plural(summary.images, 'image')} found",
            file=out,
        )
        print(
            f"{human_bytes(summary.bytes)} stored{_linked_text(summary)}, "
            f"{plural(summary.requests, 'request')}, "
            f"{plural(summary.retries, 'retry', 'retries')}, {summary.elapsed:.1f} s"
            + _rate_text(summary)
            + (f", slowed down {summary.slowdowns}x" if summary.slowdowns else "")
            + waited_text(summary),
            file=out,
        )
        if summary.walked_again:
            print(walked_again_line(summary), file=out)
        if summary.asked_again:
            print(second_chance_line(summary.asked_again, summary.done_again), file=out)
        if (staged := summary.staged) and staged[1]:
            from harvester.layout import STAGING_DIR
            from harvester.status import staged_text

            running = summary.staged_others_running
            staging = summary.out_dir / STAGING_DIR
            print(staged_text(*staged, staging=staging, running=running), file=out)
        if summary.selection:
            print(summary.selection, file=out)
        if summary.index_rows is not None:
            rows = plural(summary.index_rows, "row")
            if summary.interrupted and summary.index_rows < summary.images:
                # "32 images found" counts what the walk found; the index holds the images
                # with a file done (a run the server's outage or its --max-bytes budget
                # stopped was not interrupted: said as it was)
                stopped = summary.server_down or (summary.budget_reached and not summary.signalled)
                stop = "the run stopped" if stopped else "the interruption"
                rows += f": the images with a file done before {stop}, of {summary.images} found"
            labels = ""
            if summary.labels_file:  # (how many classes: the first thing a model needs)
                listed = plural(summary.labels_listed, "label")
                labels = f" and {summary.labels_file} ({listed})"
            print(f"index: {summary.out_dir / 'index.csv'} ({rows}){labels}", file=out)
            if summary.originals_line:
                print(summary.originals_line, file=out)
            if summary.split_line:
                print(
                    f"split: {summary.split_line}, counted in {summary.out_dir / 'splits.csv'}",
                    file=out,
                )
        elif summary.index_deferred:
            print(
                "index: not rebuilt by a shard; once every shard has ended run "
                f"`harvester index {shell_quote(str(summary.out_dir))}` "
                "(`harvester slurm --submit` queues it after the array)",
                file=out,
            )
        elif summary.index_left:
            # Stopped while another index write held the lock: "rewrites index.csv" is
            # what an interruption promises, so say that it did not, and what will.
            print(
                f"index: {summary.out_dir / 'index.csv'} not rewritten: stopped while another "
                f"index write held {summary.out_dir / 'locks' / 'index.lock'}; the next one "
                "(the resume below, or "
                f"`harvester index {shell_quote(str(summary.out_dir))}`) brings it up to date",
                file=out,
            )
    if totals and summary.changes_line and (not quiet or summary.unlisted_ids):
        # (--quiet too where the server no longer lists images DIR has: a mirror that
        # now holds more than the server is news to a nightly job's log)
        print(summary.changes_line, file=out)
    for kind, why in sorted(summary.given_up.items()):
        skipped = summary.not_requested.get(kind, 0)
        print(f"stopped requesting {kind}: {why}; {skipped} not requested", file=err)
    for line in summary.walk_failures[:MAX_LISTED_FAILURES]:
        print(f"walk failed: {line}", file=err)
    for failure in summary.failures[:MAX_LISTED_FAILURES]:
        print(
            f"failed: {failure.kind} of image {failure.image_id}: {_failure_text(failure)}"
            + (f" <{shown_url(failure.url)}>" if failure.url else ""),
            file=err,
        )
    hidden = summary.failed - min(summary.failed, MAX_LISTED_FAILURES)
    if hidden > 0:
        q = shell_quote(str(summary.out_dir))
        print(
            f"... and {plural(hidden, 'more failure')} (all: harvester status {q} --json; "
            f"their image ids{_failed_ids_listing(summary)})",
            file=err,
        )
    if (summary.session_ended or summary.credentials_refused) and (not summary.store_opened):
        # Stopped by a lookup before the walk (the targets' check): nothing was harvested.
        _print_credentials_stop(
            summary, f"run it again: {resume}", kept="nothing harvested yet", notes=stop_notes
        )
    elif summary.session_ended or summary.credentials_refused:
        _print_credentials_stop(summary, f"resume: {resume}", notes=stop_notes)
    elif summary.server_down and not summary.store_opened:
        print(
            f"{STOPPED}{summary.server_down}; nothing harvested yet: run again later: {resume}",
            file=err,
        )
    elif summary.server_down:
        print(
            f"{STOPPED}{summary.server_down}; every finished file is kept and journaled, "
            f"the rest is pending: run again later: {resume}",
            file=err,
        )
    elif summary.budget_reached and not summary.signalled:
        if after := summary.after_budget:
            # (the walk that went on to learn whether work was left: the stop is the budget's)
            print(f"{AFTER_BUDGET}{after}", file=err)
        print(
            f"{STOPPED}{summary.budget_reached}; every finished file is kept and journaled, "
            f"the rest is pending: continue (with a new budget) with: {resume}",
            file=err,
        )
    elif summary.interrupted and time_limited is not None:
        # (before the outage's line: a task the limit ended while it waited for the server
        # would be resubmitted as it was, and meet the same limit)
        print(_time_limit_line(summary, time_limited, resume), file=err)
    elif summary.interrupted and (paused := summary.paused_when_stopped):
        # Stopped while waiting for a server that is down: say so, and that the command
        # is for later (the line said "interrupted before any file was harvested" alone).
        done = (
            "every finished file is kept and journaled, the rest is pending"
            if summary.store_opened
            else "nothing harvested yet"
        )
        print(
            f"{INTERRUPTED} while waiting for the server, down for {paused}; {done}: run "
            f"again later: {resume}",
            file=err,
        )
    elif summary.interrupted and not summary.store_opened:
        print(f"{INTERRUPTED} before any file was harvested; run: {resume}", file=err)
    elif summary.interrupted:
        print(
            f"{INTERRUPTED}: every finished file is kept and journaled; resume with: {resume}",
            file=err,
        )
    elif not summary.ok:
        from harvester.fetch import failure_advice
        from harvester.text import terminal_text

        # A failed listing's status counts for the hints (a 401 wants credentials wherever
        # it came), not for a rerun said useless: the rerun walks it again.
        walked = [{"status": status} for status in summary.walk_statuses]
        advice = failure_advice(
            [*summary.failures, *walked],
            complete=len(summary.failures) == summary.failed and not summary.walk_failures,
            done_by_kind=summary.done_by_kind,
        )
        for hint in advice.hints:
            print(terminal_text(f"hint: {hint}"), file=err)
        if gone_hint:  # (before the note, which the closing command answers)
            print(gone_hint, file=err)
        closing = advice.closing(resume, array, plan)
        if advice.rerun_helps and _refused_for_good(summary):
            from harvester.fetch import REFUSED_CLOSING, REFUSED_NOTE, SESSION_ENDED_NOTE

            ended = summary.session_sent and any(f.status == 403 for f in summary.failures)
            print(f"note: {SESSION_ENDED_NOTE if ended else REFUSED_NOTE}", file=err)
            # Not "rerun to retry the failures" right below "gets the same answer again".
            closing = f"{REFUSED_CLOSING}: {resume}"
        elif busy := _busy_throughout(summary):
            print(
                f"note: every failure was an {busy} answer{_tries_said(summary)}: the server "
                "was busy or down for maintenance, the images are not at fault; the command "
                "below fetches them once it is back",
                file=err,
            )
        print(closing, file=err)
        if gone:
            print(gone, file=err)


def _print_credentials_stop(
    summary: RunSummary,
    then: str,
    *,
    kept: str = "every finished file is kept and journaled, the rest is pending",
    notes: Sequence[str] = (),
) -> None:
    """The ``error:`` and ``hint:`` of a run stopped because the session it sent ended, or
    the server refused the credentials it took at the start: what the server answered, what
    the run kept (``kept``: nothing is lost, the images not fetched are pending), what to
    give again, and the step after that (``then``: ``resume: COMMAND``). ``notes``: the
    ``not resumed:`` lines of the other target sets of a resume this stop ends, said first
    (their commands were lost: the resume said them after its last replay)."""
    from harvester.session import CREDENTIALS_REFUSED, SESSION_ENDED, again_hint, stopped_text
    from harvester.text import terminal_text

    err = _SummaryStderr(sys.stderr)
    status, reason = (
        (SESSION_ENDED, summary.session_ended)
        if summary.session_ended
        else (CREDENTIALS_REFUSED, summary.credentials_refused)
    )
    for note in notes:
        print(note, file=err)
    # (an error: and a hint: line, escaped as every one is, harvester.cli.say)
    said = f"error: {stopped_text(status, reason)}: stopped asking for more; {kept}"
    print(terminal_text(said), file=err)
    print(terminal_text(f"hint: {again_hint(status)}, then {then}"), file=err)


def _linked_text(summary: RunSummary) -> str:
    """`` (52.1 KiB on disk: 7 paths files are hard links to another image's)`` for a run
    that stored files as hard links (the images of one fileset); else "". Why: ``stored``
    counts every name at full size (as ``--max-bytes`` does), far more than the disk took."""
    from harvester.progress import human_bytes
    from harvester.samefiles import linked_files_text

    linked = summary.linked
    if not linked:
        return ""
    on_disk = max(summary.bytes - summary.linked_bytes, 0)
    return f" ({human_bytes(on_disk)} on disk: {linked_files_text(linked)})"


def _gone_text(summary: RunSummary) -> str:
    """``, gone (forgotten) N`` for a run that found images ``harvester forget
    --gone-ids-from`` recorded as gone (not asked for, not failed); else ""."""
    gone = summary.gone
    return f", gone (forgotten) {gone}" if gone else ""


def waited_text(summary: RunSummary | PlanInfo) -> str:
    """``, waited 4m10s for the server``: the time the run paused while it was down."""
    from harvester.text import duration_text

    waited = summary.outage_waited
    return f", waited {duration_text(waited)} for the server" if waited else ""


def _failure_text(failure: Any) -> str:
    """``HTTP 404 Not Found: ...`` once, not ``HTTP 404: HTTP 404 Not Found: ...``."""
    from harvester.errors import with_status

    if failure.status is None:
        # No URL: nothing was asked (a plane refused for its size before any request).
        return f"no answer: {failure.reason}" if failure.url else str(failure.reason)
    return with_status(failure.status, str(failure.reason))


def _forget_line(cfg: HarvestConfig, summary: RunSummary, *, replayed: bool) -> str:
    """The closing line naming ``harvester forget`` for the run's target set when every image
    it asked for answered 404 and none was done before ("" otherwise): its images are gone
    from the server, and every resume of DIR would ask for them again.

    For a plan's run (its images were there when it was planned) and a resume's replay
    (``replayed``: a set DIR keeps resuming), where nothing pointed to ``forget``; given
    targets are checked first (a gone plate is refused, exit 2, its hint naming the same
    command). Not for a new ``--ids-from`` run: a wrong id or server is likelier than a set
    to stop resuming. Not when anything is done, skipped as done, or failed otherwise:
    some images are there, and a few gone ones are no reason to stop resuming the set. Not
    for a shard's run: it sees its share alone (the other shards may have done theirs);
    ``status``, which counts the whole plan, names the command when none of it is done."""
    from harvester.config import ids_read_once

    failures = summary.failures
    if (
        cfg.out is None
        or cfg.shard is not None
        or (cfg.from_plan is None and not replayed)
        or (cfg.ids_from is not None and ids_read_once(str(cfg.ids_from)))  # (none names it)
        or summary.done
        or summary.skipped
        or summary.walk_failures
        or not failures
        or len(failures) != summary.failed
        or any(failure.status != 404 for failure in failures)
    ):
        return ""
    return (
        "if the images are gone from the server for good, stop resuming this target set "
        f"(its files stay): {_forget_command(cfg.out, cfg)}"
    )


def _gone_images_line(cfg: HarvestConfig, summary: RunSummary, said: set[str]) -> str:
    """``hint: if the 2 images not found (HTTP 404 or 410) are gone from the server for
    good, stop asking for them: harvester status DIR --failed-ids | harvester forget DIR
    --gone-ids-from -`` for a run some of whose failed images are not there (the rule
    ``forget --gone-ids-from`` records by: :func:`harvester.gone.gone_status`), with
    ``--check-server`` where some answered imgData's 403 alone (a deleted image's answer,
    which that flag has the server's JSON API tell); "" for none. Why: every resume asked
    for them again and exited 1, and the way out was in the README alone.

    Said where the whole set's ``forget`` (:func:`_forget_line`) is not: that one is for
    a set none of whose images is there. Not for a shard's run, as that one: it sees its
    share alone, and a job array's every task said it. In a folder of two servers, the
    listing is this run's server's (``status --failed-ids`` refuses one list of both).
    Said once per listing in a command (``said``: a resume's replays share it): the pipe
    records every set's images, and a resume of 5 sets said it 5 times."""
    from harvester.fetch import known_cause
    from harvester.gone import gone_among, gone_images_hint, imgdata_refused_among
    from harvester.models import Artifact

    if cfg.out is None or cfg.shard is not None:
        return ""
    kinds = {a.value for a in Artifact}
    done = summary.done_by_kind
    images = [f for f in summary.failures if f.kind in kinds]
    gone = gone_among(
        # (a 404 a hint explains, a thumbnail size this server lacks, is no image gone)
        (f.image_id, None if known_cause(f, done) else f.status)
        for f in images
    )
    # imgData's 403 alone: a deleted image's answer (and a private one's), which the pipe
    # records with --check-server once the server's JSON API answers 404. Not where the run
    # sent a session: its 403s are as likely that session's end, said apart.
    refused = (
        []
        if cfg.sends_session or summary.session_ended
        else imgdata_refused_among((f.image_id, f.kind, f.status) for f in images)
    )
    if not gone and not refused:
        return ""
    complete = len(summary.failures) == summary.failed
    listing = _own_failed_ids(cfg.out, cfg.base_url)
    if f"gone-images pipe: {listing}" in said:
        return ""
    said.add(f"gone-images pipe: {listing}")
    counts = (
        (len(gone), len(refused)) if complete else (None if gone else 0, None if refused else 0)
    )
    return f"hint: {gone_images_hint(counts[0], [listing], cfg.out, counts[1])}"


def _own_failed_ids(out: Path, base_url: str) -> str:
    """``harvester status DIR --failed-ids``, with ``--base-url`` (the run's server,
    ``base_url``, as saved: no credentials) where DIR's target sets are of two servers."""
    from harvester.config import (
        failed_ids_command,
        normal_base_url,
        recorded_target_sets,
        servers_of,
    )

    listing = failed_ids_command(out)
    servers = servers_of(recorded_target_sets(out))
    saved = servers.get(normal_base_url(base_url))
    if len(servers) < 2 or saved is None:
        return listing
    return f"{listing} --base-url {shell_quote(saved)}"


def _refused_for_good(summary: RunSummary) -> bool:
    """Did the run fail only on answers a rerun gets again (4xx other than 408 and 429)?"""
    from harvester.fetch import all_refused

    return (
        not summary.walk_failures
        and len(summary.failures) == summary.failed
        and all_refused(summary.failures)
    )


def _warn_damaged_configs(out: Path, saved: SavedConfigs) -> None:
    """One warning per run of DIR whose saved settings no longer parse: the replay leaves
    its target set out (it cannot know it), which it did without a word, exit 0.
    ``saved``: the configs the replay read (each file read once)."""
    from harvester.config import damaged_run_configs
    from harvester.errors import PROBLEMS_LOGGER
    from harvester.journal import JournalState
    from harvester.verify import damaged_config_notes

    if not damaged_run_configs(out, saved):  # (the configs only: journals if needed)
        return
    for note in damaged_config_notes(out, JournalState.load(out), saved):
        logging.getLogger(PROBLEMS_LOGGER).warning("%s", note)


def _journaled_targets_command(out: Path) -> str | None:
    """The command that gives DIR's newest walked targets again, from its journals alone;
    None when they hold no walk that can be given again (ids read once, from a pipe).

    For a folder whose ``runs/`` is gone (removed by hand as "logs", left out of a copy):
    ``harvest --out DIR`` had nothing to replay and said only "name --screen, ...". The
    journals keep each walk's targets (as flags) and each run's command line (credentials
    redacted): its config file and ``--base-url`` are given again with the targets, since
    a run given no ``--base-url`` asks IDR once no saved run names the folder's server.
    """
    from harvester.config import commented, ids_read_once
    from harvester.errors import REDACTED, base_url_holds_secret
    from harvester.journal import JournalState
    from harvester.status import journaled_kinds

    try:
        state = JournalState.load(out, remember=False)
    except (OSError, ValueError):
        return None
    # The kinds its files are of: given no --artifacts, a run into a folder with no saved
    # run fetches the default four.
    kinds = journaled_kinds(state)
    fetch = f" --artifacts {','.join(kinds)}" if kinds else ""
    argv_of = {r.get("run"): r.get("argv") for r in state.runs}
    for walk in sorted(state.walks.values(), key=lambda r: r.get("t", 0), reverse=True):
        targets = walk.get("targets")
        argv = argv_of.get(walk.get("run"))
        if not isinstance(targets, str) or not targets or not isinstance(argv, list):
            continue
        if targets.startswith("--ids-from ") and ids_read_once(targets.split(" ", 1)[1]):
            continue
        words = [str(w) for w in argv[1:]]  # (argv[0]: the subcommand)
        head = f" {shell_quote(words[0])}" if words and not words[0].startswith("-") else ""
        base = next(
            (
                words[n + 1] if w == "--base-url" else w.partition("=")[2]
                for n, w in enumerate(words)
                if (w == "--base-url" and n + 1 < len(words)) or w.startswith("--base-url=")
            ),
            None,
        )
        q = shell_quote(str(out))
        command = f"harvester harvest{head} --out {q} {targets}{fetch}"
        # A config path recorded as typed (by a run before they were recorded absolute).
        relative = bool(head) and not Path(words[0]).is_absolute()
        typed = f"{words[0]}: from the folder that run was started in" if relative else ""
        if base is not None:
            # (a run before 0.1.12 journaled query values whose names did not look secret)
            hidden = REDACTED in base or base_url_holds_secret(base)
            url = "URL" if hidden else shell_quote(base)
            return commented(f"{command} --base-url {url}", typed)
        if head:
            return commented(command, typed)  # (its server is the config file's, or IDR)
        # A resume's replay journals the walk under its own command (`--out DIR`): the
        # server its settings named is not there to read.
        return commented(command, "and --base-url with its server, unless it was IDR's")
    return None


def second_chance_line(asked: int, done: int) -> str:
    """The summary's line for the files asked again at the end of the run
    (:mod:`harvester.second_chance`): said only where some were."""
    return (
        f"asked again at the end: {plural(asked, 'file')} that failed on busy or broken "
        f"answers, {done} done"
    )


def walked_again_line(summary: RunSummary) -> str:
    """The summary's line for the walk's listings walked again at the end of the walk
    (:class:`~harvester.walk.WalkAgain`), beside :func:`second_chance_line`: said only
    where some were."""
    return (
        f"walked again at the end: {plural(summary.walked_again, 'listing')} that failed on "
        f"busy or broken answers, {summary.walked_again_done} done"
    )


def _tries_said(summary: RunSummary) -> str:
    """How often the busy failures were asked: through all retries and, where the run's
    second chance (:mod:`harvester.second_chance`) asked them again, a second try at the
    end; or, for a run of ``--max-retries 0``, once (the note said "through all retries" of
    a run that made none, and said nothing of the second chance they also failed)."""
    if summary.max_retries == 0:
        return " to its only try (--max-retries 0)"
    failed_again = summary.asked_again - summary.done_again
    if failed_again <= 0:
        return ", through all retries"
    if failed_again >= summary.failed:
        return ", through all retries and a second try at the end"
    return f", through all retries ({failed_again} of them also a second try at the end)"


def _busy_throughout(summary: RunSummary) -> str:
    """``HTTP 503`` (the statuses, joined) when every failed file got a busy answer (429,
    502, 503, 504) to its last try; empty otherwise.

    Why: a maintenance window longer than the retries turned a night's run into a list of
    dozens of failures, which read at 3 a.m. as damaged images or a broken study."""
    from harvester.errors import SERVER_BUSY

    failures = summary.failures
    if not failures or len(failures) != summary.failed:
        return ""
    statuses = {f.status for f in failures}
    busy = {status for status in statuses if status is not None and status in SERVER_BUSY}
    if busy != statuses:
        return ""
    return " or ".join(f"HTTP {status}" for status in sorted(busy))


# --------------------------------------------------------------------------- status / verify
def _as_jsonable(report: Any) -> Any:
    for name in ("to_json", "as_dict", "to_dict"):
        method = getattr(report, name, None)
        if callable(method):
            return method()
    import dataclasses

    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return report


def _failed_ids_listing(summary: RunSummary) -> str:
    """``: harvester status DIR --failed-ids``, or each server's with its ``--base-url``
    where DIR's failed images are of two or more (:func:`harvester.config.failed_ids_listing`).
    The journals are read again only in a folder whose target sets are of two servers.

    A shard's run (a job-array task: ``index_deferred``) names the plain command without
    looking: telling the servers apart reads every run's saved settings (1.5-2.5 s in a
    folder of 10,000 runs), at the end of every task with over 20 failures; in a folder of
    two servers that command's refusal gives each server's."""
    from harvester.config import failed_ids_listing, recorded_target_sets, servers_of
    from harvester.errors import HarvesterError
    from harvester.status import collect_status

    out = summary.out_dir
    if summary.index_deferred:
        return failed_ids_listing(out)
    sets = recorded_target_sets(out)
    if len(servers_of(sets)) < 2:
        return failed_ids_listing(out)
    try:
        report = collect_status(out, scrub=False, by_files=False)
    except HarvesterError:  # (status names what is wrong with DIR)
        return failed_ids_listing(out)
    return failed_ids_listing(out, report.failed_servers)


def _server_of_mixed_folder(out: Path, base_url: str) -> str:
    """`` --base-url URL`` (``base_url`` as saved: no credentials) where DIR's target sets
    were harvested from two or more servers, for its ``status --failed-ids``; else ""."""
    from harvester.config import recorded_target_sets, saved_base_url, servers_of

    if not base_url or len(servers_of(recorded_target_sets(out))) < 2:
        return ""
    return f" --base-url {shell_quote(saved_base_url(base_url))}"


def _as_text(report: Any) -> str:
    for name in ("format", "to_text", "render"):
        method = getattr(report, name, None)
        if callable(method):
            return str(method())
    return json.dumps(_as_jsonable(report), indent=2, default=str)


def run_status_command(args: argparse.Namespace) -> int:
    """``harvester status DIR [--json | --failed-ids | --gone-ids]``."""
    from harvester.models import Artifact
    from harvester.status import collect_status

    if args.base_url is not None and not (args.failed_ids or args.gone_ids):
        from harvester.errors import UsageError

        raise UsageError(
            "--base-url goes with --failed-ids or --gone-ids (the images of that server)",
            hint=f"harvester status {shell_quote(str(args.out))} --failed-ids --base-url URL",
        )
    # (a wrong DIR: see harvester.store.check_existing_out_dir)
    report = collect_status(args.out, ask_queue=True)
    if args.gone_ids:
        gone = report.gone_ids
        if args.base_url is not None:  # (that server's records: its undo's pipe)
            from harvester.gone import gone_ids

            gone = sorted(gone_ids(args.out, args.base_url))
        print("\n".join(map(str, gone)), end="\n" if gone else "")
        if not gone:  # (typed by hand, an empty answer read as a hang or a fault)
            from harvester.errors import redact_base_url

            of = "" if args.base_url is None else f" from {redact_base_url(args.base_url)}"
            from harvester.cli import say

            say(f"note: no image of {args.out} is recorded as gone{of}")
        return 0
    if args.failed_ids:
        # stdout holds the ids and nothing else (`> retry.txt`); failed study files have no
        # image id: they are said on stderr, as the plain resume retries them.
        ids = _failed_ids_to_list(args.out, report, args.base_url)
        print("\n".join(map(str, ids)), end="\n" if ids else "")
        kinds = {a.value for a in Artifact}
        study = sum(1 for f in report.failures if f["kind"] not in kinds)
        if study:
            retry = f"to retry them: {report.resume}" if report.resume else "a harvest retries them"
            say_note(
                f"note: {plural(study, 'study file')} failed too (no image id); {retry}",
            )
        from harvester.journal import walk_lost_images

        # (a failed study file lost no image: its images have their ids)
        lost = [walk for walk in report.walks if walk_lost_images(walk)]
        if lost:
            # The ids of the images under a failed or unfinished listing are unknown: an
            # empty list with nothing said read as "nothing failed" (`> retry.txt`).
            q = shell_quote(str(args.out))
            again = (
                f"to walk them again: {report.resume}"
                if report.resume
                else "a harvest walks them again"
            )
            say_note(
                f"note: {plural(len(lost), 'walk')} did not list everything (harvester "
                f"status {q} names them): the images under them have no id here; {again}",
            )
        if not ids and not study and not lost:
            # stdout stays empty (`> retry.txt`); typed by hand, nothing at all read as a fault.
            from harvester.errors import redact_url

            of = f" from {redact_url(args.base_url)}" if args.base_url else ""
            from harvester.cli import say

            say(f"note: no image of {args.out}{of} has a failed artifact")
        return 0
    if args.json:
        print(json.dumps(_as_jsonable(report), indent=2, default=str))
    else:
        print(_as_text(report))
    return 0


def _failed_ids_to_list(out: Path, report: StatusReport, given_url: str | None) -> list[int]:
    """What ``status DIR --failed-ids [--base-url URL]`` prints: DIR's failed image ids,
    or, given ``--base-url``, those of that server's (the failures its runs recorded).

    Image ids are one server's: in a folder whose failures are of two or more servers, one
    list piped into ``harvest --ids-from`` (one server) fetched the other's ids from it
    (other images, or failures). So that is refused (exit 2) with the pipe of one server's,
    and a ``--base-url`` of none of DIR's servers is refused as a resume refuses it. Where
    DIR (its target sets and failures) knows one server, ``--base-url`` takes them all, as
    a resume given it replays every set (a server moved). Each list has the failures the
    journals' fold hides (another server's image of an id, failed too:
    :func:`harvester.status.with_hidden_failures`), as ``status`` counts them."""
    from harvester.config import normal_base_url, recorded_target_sets, server_failed_ids_recipe
    from harvester.journal import SavedConfigs
    from harvester.status import failed_by_server, with_hidden_failures

    if not report.failed_runs and not report.other_servers_failed and given_url is None:
        return report.failed_ids
    # Each config read once: status read them (its kinds, sets, failures' servers).
    saved = report.saved_configs or SavedConfigs()
    sets = recorded_target_sets(out, saved=saved)
    failing, known = failed_by_server(out, report, sets, saved)
    # The fold's hidden failures too, as status counts them: the plain list of a folder
    # whose two servers' images failed was one server's list (or empty: the fold's
    # failure of an image gone from its server, or of a forgotten server's set).
    every_failing = with_hidden_failures(failing, known, report)
    listed = sorted({*report.failed_ids, *(i for ids in every_failing.values() for i in ids)})
    # (in a folder of one server, every failed image is its: none is of no known server)
    unknown = _of_no_known_server(out, report, failing) if len(known) > 1 else ""
    if given_url is not None:
        if len(known) < 2:
            return listed
        if normal_base_url(given_url) not in known:
            example = server_failed_ids_recipe(out, sets, next(iter(known.values())))
            raise no_set_of_server(out, given_url, known, f"give one of theirs: {example}")
        if unknown:
            say_note(f"note: not in this list: {unknown}")
        # (an id whose kept failures are of two servers is under each: failed_by_server)
        mine = failing.get(normal_base_url(given_url), [])
        hidden = _failed_before_by(out, report, given_url, set(mine), saved)
        if hidden:
            _say_failed_before(given_url, hidden)
        return sorted({*mine, *hidden})
    urls = [url for key, url in known.items() if key in every_failing]
    if len(urls) > 1:
        raise _failed_of_servers_error(
            out, sets, {url: every_failing[normal_base_url(url)] for url in urls}, unknown
        )
    if urls and len(known) > 1:
        # One server's ids: a harvest of DIR given no --base-url asks DIR's newest set's
        # server, maybe the other one; said on stderr (stdout holds the ids alone).
        these = "these are" if not unknown else "the others are"
        also = f"; in this list, {unknown}" if unknown else ""
        say_note(
            f"note: {these} failed images of {urls[0]} ({shell_quote(str(out))} holds "
            f"target sets of {len(known)} servers): {server_failed_ids_recipe(out, sets, urls[0])}"
            f"{also}",
        )
    elif unknown:
        say_note(f"note: in this list, {unknown}")
    return listed


def _failed_before_by(
    out: Path, report: StatusReport, server: str, listed: set[int], saved: SavedConfigs
) -> dict[int, str]:
    """DIR's failed images (not ``listed``: those whose latest failure is ``server``'s) of
    which a run of ``server`` recorded a failure too, before another server's run failed
    the same kind of that id (``report.other_servers_failed``, as status counts them);
    each with that other server (as saved). Those recorded as gone from ``server`` are
    left out, as the listing leaves them out.

    Why: the journal keeps one failure per kind and id, whichever server made it, so
    ``--failed-ids --base-url`` of the older server left out its own image of that id,
    still failed, which no other command listed for it (also where the other server's
    image of that id was recorded gone)."""
    from harvester.config import normal_base_url, read_run_server

    wanted = normal_base_url(server)
    hidden: dict[int, str] = {}
    servers: dict[str, str] = {}  # (each run's read once: one run failed thousands of ids)
    for (_kind, image_id), (run, failed_by) in report.other_servers_failed.items():
        if image_id in listed or image_id in hidden or wanted not in failed_by:
            continue
        if run not in servers:
            servers[run] = read_run_server(out, run, saved) or "another server"
        hidden[image_id] = servers[run]
    return hidden


def _say_failed_before(server: str, hidden: dict[int, str]) -> None:
    """The ``note:`` of :func:`_failed_before_by`'s ids, listed for ``server`` too."""
    from harvester.errors import redact_url

    others = sorted(set(hidden.values()))
    named = ", ".join(map(str, sorted(hidden)[:UNKNOWN_IDS_NAMED]))
    if len(hidden) > UNKNOWN_IDS_NAMED:
        named += f" and {len(hidden) - UNKNOWN_IDS_NAMED} more"
    say_note(
        f"note: listed for {redact_url(server)} too: {plural(len(hidden), 'failed image')} "
        f"({named}) whose latest failure is {' and '.join(others)}'s: a run of "
        f"{redact_url(server)} failed its own image of each id first (image ids are one "
        "server's: each server's list has them)",
    )


#: How many ids of no known server :func:`_of_no_known_server` names (the rest counted).
UNKNOWN_IDS_NAMED = 10


def _of_no_known_server(
    out: Path, report: StatusReport, failing: Mapping[str, Sequence[int]]
) -> str:
    """What to say of DIR's failed images whose server is unknown (every run that recorded
    their failures has saved settings that cannot be read), with what to do: they are in
    no ``--base-url`` list, and a plain list piped into one server's harvest may ask it
    for another's ids. "" when there are none. Why: said as nothing, or as "these are
    failed images of A", such ids were lost from every server's list, or sent to A."""
    from harvester.layout import RUNS_DIR

    placed = {image_id for ids in failing.values() for image_id in ids}
    ids = [image_id for image_id in report.failed_ids if image_id not in placed]
    if not ids:
        return ""
    runs = sorted({run for image_id in ids for run in report.failed_runs.get(image_id, ())})
    files = ", ".join(str(out / RUNS_DIR / run / "config.json") for run in runs[:3])
    more = f" and {len(runs) - 3} more" if len(runs) > 3 else ""
    named = ", ".join(map(str, ids[:UNKNOWN_IDS_NAMED]))
    if len(ids) > UNKNOWN_IDS_NAMED:
        named += f" and {len(ids) - UNKNOWN_IDS_NAMED} more"
    q = shell_quote(str(out))
    return (
        f"{plural(len(ids), 'failed image')} of no known server ({named}): the saved settings "
        f"of the runs that recorded their failures cannot be read ({files}{more}), so they "
        f"are in no server's --base-url list; the URL of each failure in harvester status {q} "
        '--json ("failures") names its server: harvest them from it by id, harvester '
        f"harvest --out {q} --base-url ITS-URL --ids-from FILE (FILE: their ids, one a line), "
        "or put those files back (from a copy or a backup)"
    )


def _failed_of_servers_error(
    out: Path, sets: list[RecordedRun], failing: dict[str, list[int]], unknown: str = ""
) -> UsageError:
    """The refusal of ``status --failed-ids`` whose failed images (``failing``: by server
    as saved, the folder's newest first) are of two or more servers, with the pipe of the
    first one's alone; ``unknown``: what :func:`_of_no_known_server` says, added to it."""
    from harvester.config import server_failed_ids_recipe
    from harvester.errors import UsageError

    urls = list(failing)
    named = ", ".join(f"{url} ({plural(len(ids), 'image')})" for url, ids in failing.items())
    return UsageError(
        f"the failed images of {shell_quote(str(out))} are of {len(urls)} servers, {named}: one "
        "list of their ids, piped into harvest --ids-from, would ask one server for the "
        "other's ids",
        hint=(
            f"list one server's at a time, each with its --base-url ({urls[0]}, then "
            f"{' and '.join(urls[1:])}): {server_failed_ids_recipe(out, sets, urls[0])}"
            + (f"; not in those lists: {unknown}" if unknown else "")
        ),
    )


def run_verify_command(args: argparse.Namespace) -> int:
    """``harvester verify DIR``: exit 1 when damaged or missing files were found."""
    from harvester.store import refuse_unstarted_array
    from harvester.verify import verify

    refuse_unstarted_array(args.out, "verify")  # (a folder harvester slurm prepared)
    report = verify(args.out)  # a wrong DIR: see harvester.store.check_existing_out_dir
    if args.json:
        print(json.dumps(_as_jsonable(report), indent=2, default=str))
    else:
        print(_as_text(report))
    awaiting = len(report.awaiting)
    if report.problems or awaiting:
        from harvester.config import recorded_target_sets, resume_command
        from harvester.models import Artifact
        from harvester.shard import WorkLeft
        from harvester.status import dropped_kinds_refetch, forgotten_images, split_images

        bad = len(report.problems) + awaiting
        found = [*report.problems, *report.awaiting]
        # A split's command names the shards of its bad images (a study file's: every shard),
        # from the images verify loaded and DIR's saved configs read once for both.
        sets = recorded_target_sets(args.out, saved=report.saved_configs)
        kinds = {a.value for a in Artifact}
        work = (
            WorkLeft(
                ids=split_images(
                    args.out,
                    frozenset(p.id for p in found),
                    recorded_sets=sets,
                    images=report.images,
                ),
                covers_plan=True,
            )
            if all(p.kind in kinds for p in found)
            else None
        )
        resume = resume_command(args.out, work, sets=sets)
        gone = forgotten_images(args.out, frozenset(p.id for p in found), report.images)
        live = [(p.kind, p.id) for p in found if p.id not in gone]
        dropped, commands = dropped_kinds_refetch(args.out, live, report.images, sets)
        if dropped:
            resume = _dropped_refetch(resume, commands, dropped, len(live))
        if gone:
            resume = _forgotten_refetch(args.out, found, gone, resume)
        if report.unmarked is not None:  # a read-only DIR: nothing told the harvest yet
            print(
                f"{bad} damaged or missing files, not marked ({report.unmarked}): run verify "
                f"again where {args.out} can be written, then: {resume}"
            )
        else:
            print(f"{bad} damaged or missing files: to refetch exactly those: {resume}")
        return 1
    if report.unjournaled_files:  # nothing could be checked: "0 damaged" proves nothing
        return 1
    return 0


def _dropped_refetch(resume: str, commands: list[str], files: int, live: int) -> str:
    """``verify``'s command for bad files (``files`` of the ``live`` sets' bad files) of
    kinds their target set's newest run asks for no more (``render`` dropped after a hint):
    ``commands``, each set's kinds with the dropped ones (:func:`harvester.status.
    dropped_kinds_refetch`), after the resume when other bad files are of kinds still asked
    for; one command a line. Why: the resume alone was said "to refetch exactly those", and
    refetched none of them, run after run."""
    from harvester.config import ALSO, commented

    note = (
        f"{plural(files, 'file')} of kinds their targets' newest run asks for no more, "
        "which a resume leaves out"
    )
    lines = [commented(commands[0], note), *commands[1:]]
    if files != live:
        lines.insert(0, resume)
    return ALSO.join(lines)


def _forgotten_refetch(out: Path, found: list[Any], gone: dict[int, str], resume: str) -> str:
    """``verify``'s command for bad files of forgotten target sets (``gone``: image id ->
    the set's targets), which a resume leaves out: each set's targets given again (which
    takes the set back), after the resume when other bad files are a live set's; one
    command a line (``  also: CMD``), pasted as is."""
    targets = list(dict.fromkeys(gone[p.id] for p in found if p.id in gone))
    again = [f"harvester harvest --out {shell_quote(str(out))} {flags}" for flags in targets]
    files = sum(p.id in gone for p in found)
    which = "a forgotten target set" if len(targets) == 1 else "forgotten target sets"
    # (URL: a set's --base-url held credentials, never saved; said once, after them all)
    said = " ".join(targets)
    url = "; URL: with its user or session again" if "--base-url URL" in said else ""
    if "SECRETS.toml" in said:  # (headers and cookies a config file gave, never saved)
        url += "; SECRETS.toml: the headers and cookies its runs sent"
    from harvester.config import ALSO, commented

    note = (
        f"{plural(files, 'file')} of {which}, which a resume leaves out: its targets given "
        f"again take it back{url}"
    )
    # Each command on a line of its own and the note a shell comment, as the resume
    # lines of status: a command pasted with "(...)" after it was a shell syntax error.
    commands = [commented(again[0], note), *again[1:]]
    if files != len(found):
        commands.insert(0, resume)
    return ALSO.join(commands)


# --------------------------------------------------------------------------- demo
def run_demo_command(args: argparse.Namespace) -> int:
    """``harvester demo``: emulator in-process + a harvest of its demo screen."""
    import anyio

    from harvester.cli import _outcome_decided
    from harvester.demo import DEMO_SCREEN_ID, run_demo
    from harvester.errors import UsageError
    from harvester.layout import MARKER_NAME
    from harvester.progress import Progress
    from harvester.store import harvest_folder_above

    if not (args.out / MARKER_NAME).exists() and (outer := harvest_folder_above(args.out)):
        # Said before the emulator starts, and without the harvest's "--out DIR to go on
        # with that harvest": the demo's images in a harvest of a real server's.
        raise UsageError(
            f"output folder {args.out} is inside the harvest folder {outer}",
            hint=f"give the demo a folder outside {outer}: harvester demo --out PATH",
        )
    progress = Progress(enabled=not args.quiet)
    print(f"starting the IDR emulator and harvesting its demo screen {DEMO_SCREEN_ID} ...")
    with progress.shown():
        summary, base_url = anyio.run(lambda: run_demo(args.out, progress=progress))
    print(f"emulator was serving {base_url}")
    _outcome_decided()
    finished = summary.exit_code == 0
    if not finished and summary.store_opened:
        _print_demo_files(args.out)
    report_summary(summary, resume=f"harvester demo --out {shell_quote(str(args.out))}")
    if finished:
        _print_demo_files(args.out)
        print(f"next: harvester status {shell_quote(str(args.out))}")
    return int(summary.exit_code)


def _print_demo_files(out: Path) -> None:
    """Where the demo's files are. Before the summary of a demo that did not finish
    (interrupted, failures), whose closing line (resume, rerun) is then the last said: after
    it, these lines and ``next: harvester status DIR`` read as a demo that had finished."""
    print(f"files: {out / 'images'} (thumbnails, renders, imgData, metadata)")
    print(f"study metadata: {out / 'study'}")  # the summary gives index.csv

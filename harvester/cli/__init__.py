"""The ``harvester`` command: argument parsing, dispatch, and errors -> exit codes.

Exit codes (one place): 0 everything done; 1 finished with failures (listed), or standard
output could not be written (a full disk: one ``error:`` line, see :class:`_CheckedStdout`);
2 usage, configuration or remote/storage error; 75 try later: the server is busy or breaking
off its answers (:class:`~harvester.errors.ServerUnavailableError`), or another run holds the
folder (:class:`~harvester.errors.FolderBusyError`); 130 interrupted;
141 (no message) when the reader of our output went away (``| head``). Every
:class:`~harvester.errors.HarvesterError` becomes one ``error: ...`` line (plus
``hint: ...``) on stderr; a traceback only with ``--debug``.

Subcommands live in modules that expose ``register(subparsers)``; each is
imported guarded, so one broken or missing module does not take the others down; its
commands, asked for, say that they are unavailable and why (exit 2).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import errno
import functools
import gc
import importlib
import logging
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import Any, NoReturn, TextIO, cast

from harvester import __version__
from harvester.shell_words import shell_join, shell_quote

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
#: The server is busy or breaking off its answers (sysexits.h ``EX_TEMPFAIL``): retry later.
EXIT_TRY_LATER = 75
#: The ``--max-bytes`` budget was reached (rclone's code for ``--max-transfer``): the rest
#: is pending, and the same command continues it. Not 75: loops retry that at once.
EXIT_BUDGET = 8
EXIT_INTERRUPTED = 130
#: Our output was closed by its reader (``harvester status DIR --json | head -1``): the
#: status a shell shows for a command that SIGPIPE ended (128 + 13), with no message.
EXIT_OUTPUT_CLOSED = 141
#: Set by :func:`discard_stdout`: the command went on after its stdout's reader went away.
_stdout_discarded = False
#: Set by :class:`_CheckedStdout`: a write to stdout met a closed pipe, or failed otherwise.
_stdout_closed = False
_stdout_failed = False
#: Set by :class:`_CheckedStdout`: stdout was a terminal, and it has closed (EIO).
_stdout_hung_up = False

SUBCOMMAND_MODULES = (
    "harvester.cli.harvest",
    "harvester.cli.emulate",
    "harvester.cli.hpc",
    "harvester.cli.forget",
)

#: The commands each of :data:`SUBCOMMAND_MODULES` registers, for a module that fails to
#: import (:func:`_register_unavailable`): the README documents them all, so asking for one
#: must say why it is missing, not argparse's "invalid choice".
SUBCOMMANDS_OF: dict[str, tuple[str, ...]] = {
    "harvester.cli.harvest": ("harvest", "status", "verify", "demo"),
    "harvester.cli.emulate": ("emulate",),
    "harvester.cli.hpc": ("plan", "slurm", "index"),
    "harvester.cli.forget": ("forget",),
}

#: True while :func:`main` runs as the process's own command (``argv`` from
#: ``sys.argv``), False when called in-process (tests): only then may start-up
#: freeze the garbage collector's view of the objects it created.
_process_entry = False


@contextlib.contextmanager
def start_up() -> Iterator[None]:
    """No cyclic garbage collection, and no Ctrl-C or SIGTERM, while a command loads its modules.

    Start-up creates some 45,000 objects that live as long as the process
    (modules, classes, functions, the parser), and the collector runs over
    them again and again while they are created (about 15 ms of each
    harvest's ~0.1 s start-up), freeing nothing. So collection is paused for
    the block and restored after it; as the process's command, the objects made
    so far are also frozen (``gc.freeze``) so that later collections during the
    run skip them. In-process callers (tests) are never frozen, so nothing of
    theirs is kept from the collector.

    SIGINT and SIGTERM are held (:func:`signals_held`) for the block and delivered as it ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        with signals_held():
            yield
    finally:
        if _process_entry:
            gc.freeze()
            collect_young_objects_less_often()
        if enabled:
            gc.enable()


#: How many net allocations start a collection of the youngest generation during the
#: process's command (CPython's default is 700).
YOUNG_GENERATION_THRESHOLD = 5_000


def collect_young_objects_less_often() -> None:
    """Raise the collector's first threshold for the rest of the process's command.

    A harvest keeps what it learns of every image (its journal state) for the whole run,
    at a steady rate, and makes almost no cyclic garbage (a few dozen objects per 10,000
    thumbnails). At CPython's default each 700 net allocations start a collection of
    the young objects, which are nearly all survivors: some 110 collections and about
    50 ms per 10,000 thumbnails, each a pause of the event loop that answers the
    sockets. At 5,000, some 10 collections take about 12 ms in all, and what cyclic
    garbage waits longer is a few kilobytes. The older generations keep their ratios.
    Only the process's own command: in-process callers keep their settings.
    """
    young, older, oldest = gc.get_threshold()
    if _process_entry and young:  # (0: collection turned off by someone else; left off)
        gc.set_threshold(max(YOUNG_GENERATION_THRESHOLD, young), older, oldest)


#: (By name: Windows has no SIGHUP, and ``import harvester.cli`` must still get as far as
#: :func:`main`'s refusal, :func:`unsupported_platform`.)
_HELD_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while modules load; they are delivered when the block ends.

    A KeyboardInterrupt raised inside an ``import`` leaves half-made modules behind that
    Python does not undo: asyncio's package re-imported without its submodules' names
    (``NameError: name 'coroutines' is not defined`` from the next import: a traceback and
    exit 1 instead of 130), or a class whose ``__set_name__`` turned the interrupt into a
    RuntimeError ("internal error"). Blocked in the kernel, a signal waits until the block
    ends (a tenth of a second at most) and then interrupts at a safe point. Only as the
    process's own command, in the main thread; blocks may nest. Keep the blocks to imports
    and parsing: nothing that may wait (a file that is a FIFO, a slow mount) and nothing that
    starts a process (a child keeps the blocked mask across exec) belongs inside.
    """
    before = hold_signals()
    try:
        yield
    finally:
        restore_signals(before)  # a held signal is delivered here


def hold_signals() -> set[int | signal.Signals] | None:
    """Block SIGINT and SIGTERM (see :func:`signals_held`); returns the mask to restore, or
    None where nothing was held (an in-process caller, another thread)."""
    if not _process_entry or threading.current_thread() is not threading.main_thread():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)


def restore_signals(before: set[int | signal.Signals] | None) -> None:
    """Undo :func:`hold_signals`: a signal that came meanwhile is delivered now."""
    if before is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def drop_late_signals(before: set[int | signal.Signals] | None) -> None:
    """After a run that ended by itself has printed its summary: Ctrl-C works as usual again.

    From the end of the run's work to here, the run's watcher left a handler that drops
    SIGINT and SIGTERM (``pipeline._too_late``): such a signal came too late to stop
    anything. Delivered to asyncio's own handler as anyio closed the event loop, a
    KeyboardInterrupt raised between two of the loop's callbacks could skip the ones that
    stop anyio's worker threads, and the process waited for them forever at exit (found by
    a hunt of interrupted runs). SIGTERM stays ignored (:func:`_outcome_decided`).
    """
    if before is None:
        return
    restore_signals(before)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: ...`` + ``hint: ...``), exit code 2.

    A subcommand may also *defer* adding its arguments until it is the command
    being parsed (:meth:`defer_arguments`): ``harvester emulate`` needs the
    emulator package for its options, and importing that on every ``harvester
    harvest`` would add tens of milliseconds to each run's start-up. The
    top-level help lists subcommands by their ``help`` text only, so it does
    not need them either.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[argparse.ArgumentParser], None]] = []
        #: The words this parser was given (a missing ``--out`` next to ``-o`` is explained).
        self._given: list[str] = []
        #: Every subcommand's parser by name (set on each by :func:`build_parser`): an option
        #: of another command is named as that command's, not answered "did you mean".
        self.commands: Mapping[str, argparse.ArgumentParser] = {}

    def defer_arguments(self, add: Callable[[argparse.ArgumentParser], None]) -> None:
        """Call ``add(self)`` just before this parser first parses (or prints help)."""
        self._deferred.append(add)

    def _add_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._add_deferred()
        self._given = list(args) if args is not None else []
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_deferred()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_deferred()
        return super().format_help()

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but arguments no parser knows are the subcommand's error.

        argparse leaves them to the top-level parser, whose error would point at
        ``harvester --help`` for ``harvester verify --jsn``; the subcommand's parser
        knows the options the user can have meant (``--json``) and has the right help.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        command = self._command_parser(parsed)
        if isinstance(command, _Parser) and not any(word.startswith("-") for word in extras):
            # (an option left over is said as such: `forget screen --out x` is told where
            # --out belongs, which names the folder meant)
            command.refuse_target_as_folder(getattr(parsed, "out", None))
        if extras:
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command_parser(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand in ``parsed`` (this parser when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, argparse.ArgumentParser):
                    return chosen
        return self

    def refuse_target_as_folder(self, folder: object) -> None:
        """Refuse a DIR that is a target typed before it (``forget screen 3``, ``status
        Plate:7``): the line :meth:`_folder_first_line` says, exit 2.

        Why: argparse took the target's kind for DIR, and the user was told "screen does
        not exist", or "unrecognized arguments: 3" (which a command that takes targets
        answered "targets are flags: --screen 3": given so, DIR was missing still). Only a
        word that names a target kind, and no file or folder here: a folder named
        ``screen`` is a DIR like any other (looked for only when the word names a kind: a
        parse that is not refused stats nothing).
        """
        if folder is None or not self._takes_folder_first():
            return
        word = str(folder)
        if TARGET_AS_WORD.fullmatch(word) is not None and not os.path.lexists(word):
            self._say_folder_first()

    def _takes_folder_first(self) -> bool:
        """Whether this command's first argument is the harvest folder (status, verify,
        index, forget: their positional ``out``, DIR)."""
        return "out" in self._positional_dests()

    def _say_folder_first(self) -> NoReturn:
        say(f"error: {self._folder_first_line()}")
        raise SystemExit(EXIT_USAGE)

    def _folder_first_line(self) -> str:
        """``forget needs the output folder first: harvester forget DIR --screen 3``: the
        words given, after DIR; a target typed as a word (``screen 3``, ``Screen:3``) as
        its flag where the command takes targets, else left out, and said so (``status``
        takes none: ``status takes the output folder, not a target: harvester status DIR``)."""
        takes_targets = "--screen" in self._option_string_actions
        given, at, dropped = self._given, 0, False
        rest: list[str] = []
        while at < len(given):
            word = given[at]
            is_value = at > 0 and self._takes_value(given[at - 1])
            target = None if is_value else TARGET_AS_WORD.fullmatch(word)
            at += 1
            if target is None:
                rest.append(word)
                continue
            value = target["id"]
            if value is None and at < len(given) and not given[at].startswith("-"):
                value, at = given[at], at + 1
            while value is not None and at < len(given) and _bare_id(given[at]):
                # (`forget image 1 2`: one comma list, as the flag takes several ids; the
                # words as typed, `--image 1 2`, were refused for the `2`)
                value, at = f"{value},{given[at]}", at + 1
            if takes_targets:
                rest += [f"--{target['kind'].casefold()}", value or "ID"]
            dropped = not takes_targets
        # The words are echoed, a --base-url's password not: each redacted as typed, before
        # it is quoted (quoted, a password's `!` is written `'\!'`, where a redaction of the
        # line found the URL cut short at the quote and printed the password whole).
        shown = [_redacted(word, given) for word in rest]
        shape = f"{self.prog} DIR {shell_join(shown)}".rstrip()
        command = self.prog.split()[-1]
        if dropped:
            return f"{command} takes the output folder, not a target: {shape}"
        return f"{command} needs the output folder{' first' if rest else ''}: {shape}"

    def _takes_value(self, word: str) -> bool:
        """Whether ``word`` is an option of this parser whose value is the next word."""
        action = self._option_string_actions.get(word)
        return action is not None and action.nargs != 0

    def error(self, message: str) -> NoReturn:
        from harvester.errors import redact_text  # (only on this error path)

        missing = message.removeprefix("the following arguments are required: ")
        if missing != message and "DIR" in missing.split(", ") and self._takes_folder_first():
            self._say_folder_first()  # (`forget --screen 3`: the folder forgotten)
        # (argparse names an unknown option with its value: `--bse-url=https://u:pw@host`
        # showed the password beside the "did you mean --base-url?" its name earned)
        say(f"error: {redact_text(message)}")
        misplaced = self._misplaced(message)
        if misplaced is not None:
            # `harvester --debug status DIR`: the option is right, its place is not (a
            # "did you mean --debug?" would name what was typed).
            print(f"hint: {misplaced} goes after the command: {self.prog} {misplaced} ...",
                  file=sys.stderr)  # fmt: skip
            raise SystemExit(EXIT_USAGE)
        advice = self._advice(message)
        near = None if advice else self._near_miss(message)
        did_you_mean = advice or (f"did you mean {near}? " if near else "")
        say(f"hint: {did_you_mean}see '{self.prog} --help'")
        raise SystemExit(EXIT_USAGE)

    def _unknown_flags(self, message: str) -> list[str]:
        """The options an ``unrecognized arguments`` error names, without ``=value``.

        For a missing required option (``plan -o D``: ``--out`` is required), the given words
        that are another tool's name for it.
        """
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown != message:
            return [w.split("=", 1)[0] for w in unknown.split() if w.startswith("-")]
        required = message.removeprefix("the following arguments are required: ")
        if required == message:
            return []
        missing = set(required.split(", "))
        return [w for w in self._given if FLAG_SYNONYMS.get(w.split("=", 1)[0]) in missing]

    def _advice(self, message: str) -> str | None:
        """A sentence for a flag of another tool that needs none here (``--resume``), or for
        a target given as words (``harvest plate 7361``)."""
        bare = self._bare_target(message)
        if bare is not None:
            return f"targets are flags: {bare}; "
        for typed in self._unknown_flags(message):
            if typed in FLAG_ADVICE and (
                typed != "--config" or "config" in self._positional_dests()
            ):
                return FLAG_ADVICE[typed].format(prog=self.prog) + "; "
            if FLAG_SYNONYMS.get(typed) in self._option_string_actions:
                continue  # (`harvest --jobs 8`: --concurrency, not verify's --jobs)
            elsewhere = self._commands_taking(typed)
            if elsewhere:
                return self._elsewhere_advice(typed, elsewhere)
        return None

    def _commands_taking(self, flag: str) -> list[str]:
        """The other subcommands whose parser takes ``flag`` (``--split``: harvest, index...).

        Why: ``harvester plan --split ...`` was answered "did you mean --plate?", a look-alike
        by letters, when the flag is right and the command is not the one that takes it.
        """
        named: list[str] = []
        seen: set[int] = {id(self)}
        for name, parser in self.commands.items():
            if id(parser) in seen:  # (an alias, or this command)
                continue
            seen.add(id(parser))
            if flag.startswith("--") and flag in parser._option_string_actions:
                named.append(name)
        return named

    def _elsewhere_advice(self, flag: str, commands: list[str]) -> str:
        """``--split belongs to harvester harvest, index and slurm, not to harvester plan: ...``."""
        tool = self.prog.split()[0]
        from harvester.text import and_list

        which = and_list(commands)
        instead = ELSEWHERE_ADVICE.get(flag, "")
        return (
            f"{flag} belongs to {tool} {which}, not to {self.prog}"
            + (f": {instead.format(flag=flag, tool=tool)}" if instead else "")
            + "; "
        )

    def _bare_target(self, message: str) -> str | None:
        """``--plate 7361`` for ``plate 7361`` typed without the dashes, where ``7361`` is
        an argument argparse could not place (``plate`` was taken for the config file).

        An option is never the value: ``forget screen --out x`` said "targets are flags:
        --screen --out"."""
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown == message:
            return None
        left = set(unknown.split())
        for word, value in zip(self._given, self._given[1:], strict=False):
            flag = f"--{word.casefold().removesuffix('s')}"
            placed = value in left and not value.startswith("-")
            if placed and flag in TARGET_WORDS and flag in self._option_string_actions:
                return f"{flag} {value}"
        return None

    def _positional_dests(self) -> set[str]:
        return {a.dest for a in self._actions if not a.option_strings}

    def _misplaced(self, message: str) -> str | None:
        """An unrecognized option that is this (sub)command's own, given before the command."""
        unknown = message.removeprefix("unrecognized arguments: ")
        if unknown == message:
            return None
        for word in unknown.split():
            flag = word.split("=", 1)[0]
            if flag.startswith("-") and flag in self._option_string_actions:
                return flag
        return None

    def _near_miss(self, message: str) -> str | None:
        """What a mistyped option, command or choice in argparse's ``message`` probably meant.

        ``--concurency`` -> ``--concurrency`` (this parser's long options), ``harvset`` ->
        ``harvest`` and ``--window renderin`` -> ``rendering`` (the choices argparse lists
        in an ``invalid choice`` error); None when nothing is close enough.
        """
        import ast  # here, not at start-up: only a usage error needs them
        import difflib

        flags = self._unknown_flags(message)
        if flags or message.startswith("unrecognized arguments: "):
            options = [o for o in self._option_string_actions if o.startswith("--")]
            for word in flags:
                typed = word.split("=", 1)[0]
                if FLAG_SYNONYMS.get(typed) in options:  # another tool's word for it
                    return FLAG_SYNONYMS[typed]
                # A part of one option's name (--url: --base-url) before a look-alike
                # (--url: --burst, by letters): the part is what the user remembered.
                bare = typed.lstrip("-")
                within = [o for o in options if len(bare) >= 3 and bare in o[2:].split("-")]
                near = within[:1] if len(within) == 1 else []
                near = near or difflib.get_close_matches(typed, options, n=1)
                if near:
                    return near[0]
            return None
        choice = re.search(r"invalid choice: (.+?) \(choose from (.+)\)$", message)
        if choice is None:
            return None
        try:
            typed = str(ast.literal_eval(choice[1]))
            choices = [str(c) for c in ast.literal_eval(f"[{choice[2]}]")]
        except (ValueError, SyntaxError):  # a newer argparse that does not quote them
            typed = choice[1].strip("'\"")
            choices = [c.strip("'\"") for c in choice[2].split(", ")]
        near = difflib.get_close_matches(typed, choices, n=1)
        return near[0] if near else None


#: A target typed as a word where a command's DIR goes (``forget screen 3``, ``status
#: Plate:7``): its kind, and its id where it has one (see ``_Parser.refuse_target_as_folder``).
TARGET_AS_WORD = re.compile(
    r"(?P<kind>screen|project|plate|dataset|image)s?(?::(?P<id>\S+))?", re.IGNORECASE
)


def _bare_id(word: str) -> bool:
    """Whether ``word`` is an id typed alone (``2`` of ``forget image 1 2``)."""
    return word.isascii() and word.isdigit()


#: Target flags a new user types as words (``harvest plate 7361``): see ``_bare_target``.
TARGET_WORDS = frozenset({"--screen", "--project", "--plate", "--dataset", "--image"})

#: Other tools' words for our options (curl, wget, aria2c, rclone, GNU habits), offered as
#: "did you mean" before any look-alike by letters: ``-j 8`` means ``--concurrency``, not the
#: nearest spelling. Used only where the parser has the option.
FLAG_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ("-j", "--jobs", "--workers", "--threads", "--parallel", "--parallel-max",
         "--connections", "--max-concurrent-downloads", "--transfers", "-x"),
        "--concurrency",
    ),
    **dict.fromkeys(("-v", "--verbose", "-vv", "--log-level"), "--debug"),
    **dict.fromkeys(("-s", "--silent", "--no-progress"), "--quiet"),
    **dict.fromkeys(
        ("-o", "-O", "-d", "-P", "--output", "--output-dir", "--dir", "--dest",
         "--directory", "--target"),
        "--out",
    ),
    **dict.fromkeys(("--server", "--host", "--endpoint", "--base", "--url"), "--base-url"),
    **dict.fromkeys(("-n", "--dry", "--simulate", "--dryrun"), "--dry-run"),
    **dict.fromkeys(("--tries", "--max-tries", "--retry", "--retries", "-t"), "--max-retries"),
    **dict.fromkeys(("--tpslimit", "--limit-rate", "--rate-limit", "--max-rate"), "--rate"),
    **dict.fromkeys(("-i", "--input-file", "--ids", "--id-file", "--ids-file"), "--ids-from"),
    **dict.fromkeys(("--filter", "--select", "--query", "--include"), "--where"),
    **dict.fromkeys(("--label", "--labels"), "--label-key"),
    **dict.fromkeys(("--limit", "--max-images", "--count"), "--sample"),
    **dict.fromkeys(("--max-transfer", "--quota", "--budget"), "--max-bytes"),
}  # fmt: skip

#: Other tools' flags that need no counterpart here, with what to do instead.
FLAG_ADVICE: dict[str, str] = {
    **dict.fromkeys(
        ("--resume", "--continue", "-c"),
        "no flag is needed: the same command run again resumes, and so does "
        "`harvester harvest --out DIR` (the targets of DIR's runs, with their settings)",
    ),
    "--config": "the config file is the first argument ({prog} FILE.toml ...)",
    # rclone's --max-size skips each file over SIZE: "did you mean --max-bytes?" offered a
    # total for a per-file limit, which stops the whole run at its first SIZE.
    "--max-size": "harvester has no per-file size filter (rclone's --max-size); --max-bytes "
    "SIZE is a total budget, not a per-file limit: a harvest stops once the files it stored "
    "total SIZE",
}

#: What to run instead when a flag is given to a command that does not take it (see
#: ``_Parser._elsewhere_advice``). The split is drawn as index.csv is written: a plan, a
#: status or a verify has none to draw.
ELSEWHERE_ADVICE: dict[str, str] = dict.fromkeys(
    ("--split", "--split-by", "--split-seed", "--no-split"),
    "to split the images of a folder, run {tool} index DIR {flag} ... (or give {flag} to the "
    "run that harvests it: {tool} harvest or {tool} slurm, with --from-plan DIR for a plan)",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered.

    Given ``command``, the word a command line starts with (see :func:`command_word`), only
    the module of that command is imported and registered. Why: a harvest's start-up
    imported and built every command's parser (``plan``, ``slurm``, ``index``, ``forget``:
    two more modules and over a hundred options) before its first request, for nothing. The
    top-level parser then parses as it does with all of them: the command's own words go to
    its parser whichever others exist, and ``--help``, a command missing or unknown (which
    list every command) take the full build. A usage error of the command that looks for the
    command taking a flag (``_Parser._commands_taking``) builds the others then.
    """
    parser = _Parser(
        prog="harvester",
        description="Mirror image data out of IDR and any OMERO.web server: "
        "fast, polite, resumable.",
    )
    parser.add_argument("--version", action="version", version=f"harvester {__version__}")
    subparsers = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", parser_class=_Parser
    )
    modules = [name for name, names in SUBCOMMANDS_OF.items() if command in names]
    for name in modules or SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        # A module missing or broken must not stop the rest: not only an ImportError, also
        # a truncated file's SyntaxError or a dependency's own error as it is imported.
        except Exception as exc:
            logging.getLogger(__name__).debug("subcommands of %s unavailable: %r", name, exc)
            why = _import_failure(exc)
            _register_unavailable(subparsers, name, SUBCOMMANDS_OF.get(name, ()), why)
            continue
        module.register(subparsers)
    commands: Mapping[str, argparse.ArgumentParser] = (
        _AllCommands(subparsers.choices) if modules else subparsers.choices
    )
    for chosen in subparsers.choices.values():
        if isinstance(chosen, _Parser):
            chosen.commands = commands
    return parser


def command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs when its first word names one (``harvest``), else None.

    Only the first word: before the command, argparse reads options of the top-level parser
    (``--help`` and ``--version``, which act before any command) and takes an unknown one's
    value for the command, so anything else there is left to the full parser.
    """
    if argv and any(argv[0] in names for names in SUBCOMMANDS_OF.values()):
        return argv[0]
    return None


class _AllCommands(Mapping[str, argparse.ArgumentParser]):
    """Every command's parser, for a parser built for its own command only (see
    :func:`build_parser`): the others are built the first time they are looked at (a usage
    error naming the command that takes a flag), and the parsers already built stand for
    their own names."""

    def __init__(self, built: Mapping[str, argparse.ArgumentParser]) -> None:
        self._built = built
        self._all: dict[str, argparse.ArgumentParser] | None = None

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        if self._all is None:
            full = build_parser()
            every: Mapping[str, argparse.ArgumentParser] = {}
            for action in full._actions:
                if isinstance(action, argparse._SubParsersAction):
                    every = action.choices
            self._all = {name: self._built.get(name, other) for name, other in every.items()}
        return self._all

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        return self._commands()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands())

    def __len__(self) -> int:
        return len(self._commands())


def _import_failure(exc: Exception) -> str:
    """Why a module failed to import, in one line: an ImportError's message, another
    error's type and message (``SyntaxError: '(' was never closed (hpc.py, line 4)``),
    each cut to its first line. Why: some messages run to many lines (numpy's), and
    the error is one line; the hint's check command shows the whole of it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if isinstance(exc, ImportError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unavailable_hint(module: str) -> str:
    """What to do about a command whose ``module`` failed to import (a broken or partial
    install): install again, then check that the module itself imports. Why the module:
    ``import harvester.cli`` succeeds whichever subcommand module is broken (each is
    imported guarded), so a check naming it said all was well."""
    return (
        "the install is broken or incomplete: install harvester again (`pip install -e .` or "
        "`pip install .` in its source folder; see the README's Install), and check that "
        f"`python -c 'import {module}'` runs"
    )


def _register_unavailable(
    subparsers: argparse._SubParsersAction[_Parser],
    module: str,
    commands: Sequence[str],
    why: str,
) -> None:
    """Register each of ``commands`` (whose ``module`` failed to import: ``why``) as a command
    that, asked for (``--help`` too), says it is unavailable and why: ``error: harvester
    plan is unavailable: <the ImportError>``, a hint, exit 2. The top-level help lists it
    as unavailable. Why: dropped, it met argparse's "invalid choice" for a command the
    README documents, with no word of the import that failed (a debug log line only)."""
    for command in commands:
        lost = subparsers.add_parser(command, help=f"(unavailable: {why})", add_help=False)
        lost.defer_arguments(
            functools.partial(_unavailable, command=command, module=module, why=why)
        )


def _unavailable(
    _parser: argparse.ArgumentParser, *, command: str, module: str, why: str
) -> NoReturn:
    """Refuse ``command``, whose ``module`` could not be imported (``why``), as a usage error
    (called by its parser's deferred arguments: as it parses, or prints its help)."""
    print(f"error: harvester {command} is unavailable: {why}", file=sys.stderr)
    print(f"hint: {unavailable_hint(module)}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def say(line: str) -> None:
    """Print one message line (``error: ...``, ``hint: ...``) on stderr, every unprintable
    character in it escaped (:func:`harvester.text.terminal_text`): the words it quotes
    came from the user or the server, and an ESC or CR among them drove the terminal."""
    from harvester.text import terminal_text

    print(terminal_text(line), file=sys.stderr)


class _TerminalFormatter(logging.Formatter):
    """Warnings and errors logged during a run, unprintable characters escaped as
    :func:`say` escapes them: a server's name or a path in a warning is as raw."""

    def format(self, record: logging.LogRecord) -> str:
        from harvester.text import terminal_text

        return terminal_text(super().format(record))


def _wants_debug(argv: Sequence[str]) -> bool:
    return "--debug" in argv


def _setup_logging(debug: bool, quiet: bool) -> None:
    from harvester.errors import PROBLEMS_LOGGER

    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler()  # (stderr; unused where the root logger has one)
    handler.setFormatter(_TerminalFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if quiet and not debug:  # "problems only": a run that cannot give what was asked is one
        logging.getLogger(PROBLEMS_LOGGER).setLevel(logging.WARNING)


def _first_meaningful(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first HarvesterError (else KeyboardInterrupt, else the first error) in a group."""
    from harvester.errors import HarvesterError

    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            stack[:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    for kind in (HarvesterError, KeyboardInterrupt):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0] if leaves else group


def _interrupted_line(args: argparse.Namespace, argv: list[str]) -> str:
    """``interrupted`` plus, for a harvest, the (redacted) command that resumes it; for a
    plan or an index, what was kept or not written and the command to run again (see
    :func:`_plan_interrupted_line`, :func:`_index_interrupted_line`)."""
    command = getattr(args, "command", None)
    if command == "demo":
        # Stopped outside its harvest's own handler (which says what it kept), as while its
        # emulator starts: a bare "interrupted" left a first-time user guessing.
        out = shell_quote(str(getattr(args, "out", "harvester-demo")))
        return f"interrupted; run again (it skips what is done): harvester demo --out {out}"
    if command not in ("harvest", "plan", "index"):
        return "interrupted"
    from harvester.cli.harvest import _resume_command
    from harvester.end_lines import INTERRUPTED  # (the words status reads a task's end by)

    resume = _resume_command(argv, getattr(args, "out", None))
    if command == "plan":
        return _plan_interrupted_line(args, resume)
    if command == "index":
        return _index_interrupted_line(args, resume)
    if getattr(args, "harvest_dry_run", False):  # set by _harvest: a second Ctrl-C's
        from harvester.cli.harvest import dry_run_interrupted_line

        return dry_run_interrupted_line(resume)
    if not getattr(args, "harvest_begun", True):  # set by run_harvest_command
        return f"{INTERRUPTED} before any file was harvested; run: {resume}"
    kept = "every finished file is kept and journaled"
    if _index_not_rewritten(args):
        kept += ", index.csv not rewritten (the resume brings it up to date)"
    return f"{INTERRUPTED}: {kept}; resume with: {resume}"


def _index_not_rewritten(args: argparse.Namespace) -> bool:
    """Was a harvest stopped (a second Ctrl-C, cutting its first one's finish short) before
    it rewrote ``index.csv``? Told by the file's identity against the one ``_harvest`` saw
    before the run (``harvest_index``; None: a run that writes no index). Why: such a run
    said only that its files were kept, and its ``index.csv`` lacked them, or was none."""
    seen = getattr(args, "harvest_index", None)
    if seen is None:
        return False
    from harvester.cli.harvest import index_identity

    index, before = seen
    return bool(index_identity(index) == before)


def _index_interrupted_line(args: argparse.Namespace, again: str) -> str:
    """What an interrupted ``harvester index`` kept, and the command to run again.

    ``index.csv`` is written whole (a temporary file renamed), before the other tables and
    the records: told replaced or not by its identity now against ``index_before`` (set by
    ``run_index``; a list of the tables written misses an interrupt between the rename
    and the append). Why: it said ``interrupted`` alone, which left the user to guess
    whether the index was damaged, and what to type (a harvest and a plan say both)."""
    from pathlib import Path

    from harvester.index import file_identity

    unread = not hasattr(args, "index_before")  # (stopped before run_index looked)
    if unread or file_identity(Path(args.out) / "index.csv") == args.index_before:
        return (
            "interrupted: index.csv not rewritten (it is as it was; no harvested file or "
            f"journal was changed); run again: {again}"
        )
    return (
        "interrupted after index.csv was written: what follows (the other tables, the label "
        f"keys' record, a plan's note) may be undone; run again: {again}"
    )


def _plan_interrupted_line(args: argparse.Namespace, again: str) -> str:
    """A plan interrupted writes no plan (it is published whole, at the end): the command to
    run again, and, when it was waiting for a server that is down (``server_down_since``,
    set by ``run_plan``), for how long and what the server answered, as a harvest says it."""
    down = getattr(args, "server_down_since", None)
    if down is None:
        return f"interrupted: no plan written; run again: {again}"
    from harvester.text import duration_text

    reason, since = down
    return (
        f"interrupted while waiting for the server, down for "
        f"{duration_text(time.monotonic() - since)} ({reason}); no plan written: run again "
        f"later: {again}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ``harvester`` command; returns the process exit code.

    Only to an in-process caller (``argv`` given: a script, a test). Given none, this is
    the process's own command (``sys.argv``), and it ends the process with that code
    (:func:`_end_process`) instead of returning: a script calling ``main()`` bare to get the
    code back would end with it.
    """
    global _process_entry
    _process_entry = argv is None
    refusal = unsupported_platform()
    if refusal is not None:
        print(refusal, file=sys.stderr)
        if _process_entry:
            _end_process(EXIT_USAGE)
        return EXIT_USAGE
    if _process_entry and sys.stdout is not None:
        _names_as_given(sys.stdout)
        sys.stdout = cast(TextIO, _CheckedStdout(sys.stdout))
    if _process_entry and sys.stderr is not None:
        sys.stderr = cast(TextIO, _CheckedStderr(sys.stderr))
    result = _main_outcome(argv)
    if _process_entry:
        _leave_no_thread_waiting(result)
        _end_process(result)
    return result


def _names_as_given(stream: TextIO) -> None:
    """Write the undecodable bytes of a name back out as they came (``surrogateescape``).

    Why: a folder or file name that is not valid in the locale's encoding (``caf\\xe9``
    made on a Latin-1 system) is read from the command line with each stray byte kept as a
    lone surrogate. Under a strict UTF-8 locale (``en_US.UTF-8``) printing it ended
    ``harvester status`` with ``internal error: UnicodeEncodeError``; ``ls`` and ``find``
    print such names as their bytes, and so does harvester now."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None and getattr(stream, "errors", None) == "strict":
        with contextlib.suppress(Exception):
            reconfigure(errors="surrogateescape")


def unsupported_platform() -> str | None:
    """The ``error:`` + ``hint:`` lines refusing this system, or None where harvester runs
    (Linux, tested; macOS and the other Unix systems: POSIX file locks and signals).

    Why: on Windows (no ``fcntl``, no SIGHUP) ``harvester`` ended with a traceback from
    its own import, and a command that got further said "internal error: No module named
    'fcntl'" and to re-run with ``--debug``, as if harvester had a bug to report."""
    if not sys.platform.startswith("win"):
        return None
    return (
        f"error: harvester runs on Linux and macOS, not on this system ({sys.platform})\n"
        "hint: on Windows, install and run it inside WSL (Windows Subsystem for Linux)"
    )


def _end_process(code: int) -> NoReturn:
    """End the process with ``code`` now, skipping the interpreter's teardown.

    By the time ``main`` has an outcome, every file and journal line is committed and
    closed, and :func:`_leave_no_thread_waiting` has seen every worker thread end. What
    Python would still do is tear down every module and collect every object of the
    run (tens of milliseconds after a large harvest, for nothing the user keeps). So the
    exit handlers are run (``logging`` flushes its handlers there), the standard streams
    are flushed, and the process ends with ``os._exit``. A stream that cannot be flushed
    (a closed pipe: ``harvester status DIR | head``) does not change the exit code.
    """
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


#: How long the process waits at its end for worker threads that are still finishing.
THREAD_GRACE = 2.0


def _leave_no_thread_waiting(code: int) -> None:
    """End the process with ``code`` rather than wait forever for a stuck worker thread.

    Every file and journal line is committed before the outcome is reported, so nothing is
    left to do once ``main`` returns. Python still joins every non-daemon thread at exit,
    and in about one run in 500 interrupted at the very moment their work ended, an
    idle anyio worker thread was never told to stop (its stop callback lost with the event
    loop): the process then hung after printing its summary. Threads get THREAD_GRACE
    seconds to finish; any still there (or a Ctrl-C while waiting for them), the streams
    are flushed and the process ends with ``code``.
    """
    deadline = time.monotonic() + THREAD_GRACE
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    try:
        for thread in others:
            if not thread.daemon:
                thread.join(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:  # a Ctrl-C now asks not to wait any longer: the outcome stands
        pass
    else:
        if not any(t.is_alive() and not t.daemon for t in others):
            return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class _CheckedStdout:
    """The process's ``sys.stdout``: a write that fails is said, not lost or a traceback.

    ``harvester --help > /dev/full`` exited 0: argparse drops a failed write of its help
    (and of a closed pipe's, when unbuffered). Other commands' failed writes (``status
    --json`` to a full disk) said a bare ``error: No space left on device``. A write or
    flush that fails here is said once, on stderr, in one line naming standard output;
    later output goes nowhere and the command ends with exit 1 (:func:`_main_outcome`).
    On a terminal, control characters are written escaped (a folder's ESC in a summary).
    A closed pipe (``| head -1``) still raises BrokenPipeError, as every caller expects,
    and is noted so that a write argparse swallowed still ends as SIGPIPE would (141).
    Everything else is the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        #: A terminal at the start: a write failing with EIO later is that terminal closed.
        self.terminal = _is_terminal(stream)

    def write(self, text: str) -> int:
        shown = text
        if self.terminal and not text.isprintable():
            # (a name's ESC or CR quoted in a summary line would drive the terminal)
            from harvester.text import terminal_controls_escaped

            shown = terminal_controls_escaped(text)
        try:
            self._stream.write(shown)
            return len(text)
        except BrokenPipeError:
            _note_stdout_closed()
            raise
        except OSError as exc:
            _stdout_write_failed(exc, hung_up=self.terminal and exc.errno == errno.EIO)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            _note_stdout_closed()
            raise
        except OSError as exc:
            _stdout_write_failed(exc, hung_up=self.terminal and exc.errno == errno.EIO)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _CheckedStderr:
    """The process's ``sys.stderr``: a write that fails is dropped, never raised.

    When the terminal closes under a run (SIGHUP, then EIO on every write to it), the
    summary's lines on stderr raised OSError, and so did the ``error:`` line saying so: a
    harvest stopped cleanly by the SIGHUP ended with a traceback nobody saw and exit 1
    instead of 130. Nothing can be said where stderr is gone, so a failed write is
    dropped, later output goes to /dev/null, and the exit code stays the command's own.
    A closed pipe (``2>&1 | head``) still raises BrokenPipeError, as for stdout.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except (OSError, ValueError):
            _silence(self._stream)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError):
            _silence(self._stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _is_terminal(stream: TextIO) -> bool:
    """Is ``stream`` a terminal now? (Once it has closed, ``isatty`` no longer says so.)"""
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def _silence(stream: TextIO) -> None:
    """Point the file descriptor under ``stream`` at /dev/null: what it still buffers and
    every later write go nowhere instead of failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.dup2(devnull, stream.fileno())
    os.close(devnull)


def _note_stdout_closed() -> None:
    global _stdout_closed
    _stdout_closed = True


def _stdout_write_failed(exc: OSError, *, hung_up: bool = False) -> None:
    """Say once that stdout cannot be written (a full disk), and send later output nowhere.

    ``hung_up``: stdout is a terminal that has closed (EIO after SIGHUP). Nobody reads it
    any more, so that is no failure of the command: a note, not an ``error:`` line, and
    the exit code stays the command's own (130 for the harvest the SIGHUP stopped)."""
    global _stdout_failed, _stdout_hung_up
    if _stdout_failed or _stdout_hung_up:
        return
    if hung_up:
        _stdout_hung_up = True
    else:
        _stdout_failed = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    os.close(devnull)
    said = (
        "note: the terminal of standard output has closed: the rest of its output is lost"
        if hung_up
        else f"error: cannot write to standard output ({exc.strerror or exc}): "
        "the output is incomplete"
    )
    with contextlib.suppress(OSError, ValueError):  # stderr to the same full disk: exit 1 says it
        print(said, file=sys.stderr)


def _main_outcome(argv: list[str] | None) -> int:
    code = EXIT_OK
    try:
        code = _main(argv)
        if _process_entry:  # a closed pipe shows here, not in the interpreter's exit
            sys.stdout.flush()
        if _stdout_failed:
            return code if code != EXIT_OK else EXIT_FAILURES
        if _stdout_closed and code == EXIT_OK:
            return _output_closed()  # a closed pipe's write that argparse swallowed
        if _stdout_discarded and code == EXIT_OK:
            return EXIT_OUTPUT_CLOSED  # as if the flush above had met the closed pipe
        return code
    except BrokenPipeError:
        closed = _output_closed()
        # A command that failed says so (a harvest with failures: 1, interrupted: 130)
        # whether or not its reader is still there: a script retrying on 1 must see 1.
        return code if code != EXIT_OK else closed


def discard_stdout() -> None:
    """Point standard output at /dev/null after its reader went away (BrokenPipeError).

    For a command that still has something to say on stderr (a harvest's failures and
    rerun hint): what stdout's buffer still holds and every later line go nowhere instead
    of raising again. Only for the process's own command (``main()`` with ``sys.argv``).
    """
    global _stdout_discarded
    if not _process_entry:
        return
    _stdout_discarded = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(AttributeError, OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _output_closed() -> int:
    """The reader of our output went away (``| head -1``): end quietly, exit 141.

    A closed pipe is not an error of the command: as for any Unix tool ended by
    SIGPIPE there is no message, and the exit status is the one a shell shows for
    that. Python ignores SIGPIPE (the harvester's sockets need that), so the closed
    pipe arrives as BrokenPipeError from a write or a flush, in any command; no
    other BrokenPipeError reaches here (the client turns a server's closed
    connection into a TransportError). As the Python documentation recommends, the
    process's stdout and stderr are pointed at /dev/null, so that the interpreter's
    own flush at exit does not fail again ("Exception ignored ... BrokenPipeError").
    """
    if _process_entry:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def _glued_shard_values(words: list[str]) -> list[str]:
    """``words`` with a ``--shard`` value that starts with ``-`` joined to its flag
    (``--shard=-1/4``). Why: argparse takes ``-1/4`` for an option, and said ``--shard:
    expected one argument``, where every other bad shard is named with the valid form."""
    out: list[str] = []
    for word in words:
        if out and out[-1] == "--shard" and word.startswith("-") and word[1:2].isdigit():
            out[-1] = f"--shard={word}"
        else:
            out.append(word)
    return out


def _main(argv: list[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = _wants_debug(args_list)
    if _process_entry:  # before the first held block, so a held SIGTERM ends it as Ctrl-C
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
        _take_hangup()
    try:
        with start_up():
            parser = build_parser(command_word(args_list))
            args = parser.parse_args(_glued_shard_values(args_list))
            # The words as given, for the run's record and its resume line: main(argv) called
            # in-process has them here, while sys.argv holds the caller's own command.
            args.command_argv = args_list
            run: Any = getattr(args, "run", None)
            if run is not None:
                # In the held block: a SIGTERM while the handlers are set up (a few ms) is
                # "interrupted before the command started", not a KeyboardInterrupt traceback
                # from between this block and _run_command's (an interrupt hunt, seed 5).
                _setup_logging(debug, bool(getattr(args, "quiet", False)))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except KeyboardInterrupt:
        _outcome_decided()
        print("interrupted before the command started: nothing was done", file=sys.stderr)
        return EXIT_INTERRUPTED
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _run_command(run, args, args_list, debug)
    finally:
        if _process_entry:
            _outcome_decided()
            # The process ends next: the interpreter's last collection need not walk
            # every object the run kept (a resumed 100,000-image journal state: ~0.6 s).
            gc.freeze()


def _outcome_decided() -> None:
    """From here on a SIGTERM is ignored: the command's outcome is decided and reported.

    Its summary or its ``interrupted ... resume with`` line is printed and its exit code is
    known; all that is left is returning it. A SIGTERM arriving now (a second ``kill``;
    ``scancel`` and ``srun`` both signalling the step) would otherwise raise
    KeyboardInterrupt out of that reporting: a traceback, and a killed-by-SIGINT status
    instead of the code. Only as the process's own command (``main()`` with ``sys.argv``):
    in-process callers keep their handlers. SIGINT stays as it is (a second Ctrl-C still
    stops whatever might hang on the way out).
    """
    if _process_entry:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if _hangup_taken:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _outcome_open_again() -> None:
    """Undo :func:`_outcome_decided` before another harvest of the same command starts (a
    resume that replays several target sets, ``harvester.cli.harvest``): a SIGTERM ends it
    as Ctrl-C does again, instead of being ignored."""
    if _process_entry:
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
        if _hangup_taken:
            signal.signal(signal.SIGHUP, _terminate_like_ctrl_c)


#: Did this process make SIGHUP stop its command (:func:`_take_hangup`)?
_hangup_taken = False


def _take_hangup() -> None:
    """SIGHUP (the terminal of a run started without ``nohup`` closed) ends a command as
    SIGTERM does: summary, index.csv, the resume line, exit 130.

    Python's default ends the process on the spot, as SIGKILL would: a week-long harvest
    left no summary and no index.csv behind, and exit status 129. A SIGHUP ignored from the
    start (``nohup``, a daemon's launcher) stays ignored: that is the user asking the run to
    outlive the terminal.
    """
    global _hangup_taken
    if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _terminate_like_ctrl_c)
        _hangup_taken = True


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, SLURM's ``scancel``) ends a command as Ctrl-C does.

    Python's default for SIGTERM ends the process on the spot: no ``finally`` runs, so a
    harvest stopped during its server probe left its temporary copy of ``--ids-from -``
    behind and printed nothing. A running harvest watches SIGTERM itself (and drains);
    before and after that, this handler passes the signal on to SIGINT's handler (asyncio's,
    which cancels the run, or Python's, which raises KeyboardInterrupt). With SIGINT
    ignored (a background job of a script) inside a running event loop, KeyboardInterrupt
    is raised from a loop callback, between two steps: raised here, at any bytecode, it can
    land inside anyio's own bookkeeping ("exit a cancel scope that isn't the current ...").
    """
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
        return
    loop = _running_loop()
    if loop is None:
        raise KeyboardInterrupt
    loop.call_soon_threadsafe(_raise_keyboard_interrupt)


def _running_loop() -> Any:
    """The asyncio loop running in this thread, if any (asyncio not even loaded: none)."""
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio.events._get_running_loop()


def _raise_keyboard_interrupt() -> NoReturn:
    raise KeyboardInterrupt


def report_error(
    exc: Exception, args: argparse.Namespace, debug: bool = False, args_list: Sequence[str] = ()
) -> int:
    """A command's error as its one line (``error: ...``, ``hint: ...``); its exit code.

    A HarvesterError: 1 for a storage failure once files were being written (what is
    journaled is kept) and for a full disk whenever it happens (the command is not at
    fault: the same one works once there is space), 75 for a server that stayed busy or a
    folder another run holds, else 2; an OSError (not a closed output pipe: see
    :func:`main`): 2, but 1 for a full disk, a quota or a file-size limit, as for a
    StorageError (a write no StorageError wraps, as a plan's lines, exited 2: bad input).
    Also for each replay of a resume that replays several target sets
    (``harvester.cli.harvest``), which goes on with the next.
    """
    from harvester.errors import (
        OUT_OF_SPACE_ERRNOS,
        FolderBusyError,
        HarvesterError,
        ServerUnavailableError,
        StorageError,
    )

    if debug or getattr(args, "debug", False):
        _print_traceback(args_list)
    if not isinstance(exc, HarvesterError):
        filename = getattr(exc, "filename", None)
        where = f" ({filename})" if filename else ""
        say(f"error: {getattr(exc, 'strerror', None) or exc}{where}")
        if getattr(exc, "errno", None) in OUT_OF_SPACE_ERRNOS:
            return EXIT_FAILURES
        return EXIT_USAGE
    say(f"error: {exc}")
    if exc.hint:
        say(f"hint: {exc.hint}")
    if isinstance(exc, StorageError) and (getattr(exc, "mid_run", False) or exc.out_of_space):
        return EXIT_FAILURES
    if isinstance(exc, ServerUnavailableError | FolderBusyError):
        return EXIT_TRY_LATER
    return EXIT_USAGE


def _run_command(run: Any, args: argparse.Namespace, args_list: list[str], debug: bool) -> int:
    """Run a parsed command; errors become one line and an exit code (see :func:`main`)."""
    from harvester.errors import HarvesterError

    try:
        try:
            code = run(args)
        except BaseExceptionGroup as group:
            # A task group failed: report the error that matters, not the group.
            raise _first_meaningful(group) from group
        return int(code) if code is not None else EXIT_OK
    except KeyboardInterrupt:
        # Interrupted before the harvest's own handler took over (probe, early
        # walk): nothing is lost either, so say how to resume all the same.
        _outcome_decided()
        from harvester.cli.harvest import say_note  # (its command quotes DIR: escaped)

        say_note(_interrupted_line(args, args_list))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        raise  # our output was closed: main() ends quietly
    except (HarvesterError, OSError) as exc:
        return report_error(exc, args, debug, args_list)
    except Exception as exc:  # a bug: one line unless debugging
        if debug or getattr(args, "debug", False):
            _print_traceback(args_list)
        else:
            say(f"error: internal error: {_bug_text(exc, args_list)}")
            print("hint: re-run with --debug for the traceback", file=sys.stderr)
        return EXIT_FAILURES


def _print_traceback(args_list: Sequence[str] = ()) -> None:
    """The exception being handled as Python's traceback (``--debug``), credentials redacted
    as in :func:`_bug_text`: asking for the traceback is no reason for a token to reach a log
    (its frames quote messages, and those may hold the base URL whole)."""
    print(_redacted(traceback.format_exc(), args_list), end="", file=sys.stderr)


def _redacted(text: str, args_list: Sequence[str]) -> str:
    """``text`` with every URL redacted and every credential value this run was given (those
    of the command line's URLs too, for a bug before the configuration was read) replaced."""
    from harvester.errors import redact_text, url_secret_values

    given = [value for word in args_list if "://" in word for value in url_secret_values(word)]
    return redact_text(text, given)


def _bug_text(exc: Exception, args_list: list[str]) -> str:
    """An unexpected exception as its line says it, credentials redacted: its text was built
    by no one for the user, and may hold the base URL whole, a header's value or a token
    (see :func:`_redacted`)."""
    return _redacted(f"{type(exc).__name__}: {exc}", args_list)

"""The README and the command line agree: every flag a command takes is documented beside
that command, every flag a README command line gives exists for that command, the exit
codes the README's table lists are the ones the CLI returns, and the defaults it states are
the code's.

Why: the README is the user's manual. A flag added to a subcommand without a word in it, or
one renamed in the code and left under its old name in an example, is found by a user's
failed command, not by the suite (a check by hand of 0.1.19 found `harvester demo --quiet`
and `harvester slurm -q` named nowhere beside their command).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import harvester.cli as cli
from harvester.cli import build_parser
from harvester.client import (
    DEFAULT_BURST,
    DEFAULT_CONCURRENCY,
    DEFAULT_MIN_SPEED,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT,
)
from harvester.outage import DEFAULT_OUTAGE_WAIT
from harvester.retry import DEFAULT_MAX_RETRIES
from harvester.urls import DEFAULT_THUMBNAIL_SIZE

README = Path(__file__).resolve().parents[2] / "README.md"

Parsers = dict[str, argparse.ArgumentParser]

#: README command lines that show a flag on the wrong command on purpose: the example of
#: the hint that names the commands taking it (`harvester plan --split ...`).
SHOWN_AS_MISTAKES = {("plan", "--split")}


def manual() -> str:
    """The README's user-facing part: everything before its "Changes" (the history names
    flags as they were)."""
    text = README.read_text(encoding="utf-8")
    return text[: text.index("\n## Changes")]


def commands() -> Parsers:
    """Every subcommand's parser by name, its deferred options added (``emulate``'s)."""
    parser = build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                command.format_help()  # adds the options a command defers until asked
                found[name] = command
    assert {"harvest", "status", "verify", "plan", "slurm", "index", "forget"} <= set(found)
    return found


def options(command: argparse.ArgumentParser) -> set[str]:
    """The option strings of ``command`` but ``-h``/``--help``."""
    return {o for o in command._option_string_actions if o not in ("-h", "--help")}


def blocks(text: str) -> list[str]:
    """Paragraphs and list items: where a flag is documented beside its command."""
    return re.split(r"\n\s*\n|\n(?=\s*- )|\n(?=#)", text)


def token(flag: str) -> re.Pattern[str]:
    """``flag`` as a whole word (``-q`` is not found in ``--quiet``)."""
    return re.compile(rf"(?<![\w-]){re.escape(flag)}(?![\w-])")


def code_lines(text: str) -> Iterator[str]:
    """The README's code, one command line each: fenced and indented blocks line by line
    (continuation lines joined), inline code spans whole (their line breaks as spaces)."""
    fenced: list[str] = []

    def keep(match: re.Match[str]) -> str:
        fenced.append(match.group(1))
        return "\n"

    prose = re.sub(r"^ *```[^\n]*\n(.*?)^ *```", keep, text, flags=re.S | re.M)
    indented: list[str] = []
    previous = ""
    for line in prose.split("\n"):
        inside = line.startswith("    ") and not line.lstrip().startswith("- ")
        if inside and (not previous.strip() or indented and previous is indented[-1]):
            indented.append(line)
        previous = line
    for block in [*fenced, "\n".join(indented)]:
        # A line ending in a backslash, or a synopsis's next line of [options], continues.
        yield from re.sub(r"\\\n|\n\s+(?=[\[-])", " ", block).split("\n")
    for span in re.finditer(r"(`+)(.+?)\1", prose, re.S):
        yield " ".join(span.group(2).split())


def flags_given(line: str, parsers: Parsers) -> Iterator[tuple[str, str]]:
    """``(command, flag)`` for each flag a ``harvester COMMAND ...`` in ``line`` gives.

    A command line ends at a comment, or at a word that is not a flag, a flag's value or one
    of the command's positional arguments (prose after it, or the next command of a pipe);
    ``[``, ``]``, ``|`` and ``...`` of a synopsis are skipped.
    """
    names = "|".join(map(re.escape, parsers))
    starts = rf"\bharvester\s+(?:{names})\b"
    for match in re.finditer(rf"\bharvester\s+({names})\b(.*?)(?=#|{starts}|$)", line):
        command = parsers[match.group(1)]
        positionals = sum(1 for a in command._actions if not a.option_strings)
        words = re.sub(r"[\[\]]", " ", match.group(2)).split()
        seen = 0
        while words:
            word = words.pop(0)
            if word in ("|", "..."):
                continue
            spelt = re.match(r"--?[A-Za-z][\w-]*", word)
            if spelt is not None:
                flag = spelt.group(0)
                yield match.group(1), flag
                action = command._option_string_actions.get(flag)
                if action is not None and action.nargs != 0 and "=" not in word and words:
                    words.pop(0)  # its value
                continue
            seen += 1
            if seen > positionals:
                break


def test_every_flag_is_documented_beside_its_command() -> None:
    """Each option of each subcommand is named in a README paragraph naming that command."""
    parts = blocks(manual())
    missing = []
    for name, command in commands().items():
        named = re.compile(rf"\bharvester\s+{re.escape(name)}\b|`{re.escape(name)}\b")
        for flag in sorted(options(command)):
            if not any(token(flag).search(p) and named.search(p) for p in parts):
                missing.append(f"harvester {name} {flag}")
    assert missing == [], "flags the README does not document beside their command"


def test_every_flag_of_a_readme_command_line_exists() -> None:
    """Every flag a `harvester CMD ...` command line of the README gives is one CMD takes."""
    parsers = commands()
    given = [pair for line in code_lines(manual()) for pair in flags_given(line, parsers)]
    assert len(given) > 100, "the README's command lines were not found"
    unknown = sorted(
        {
            f"harvester {name} {flag}"
            for name, flag in given
            if flag not in parsers[name]._option_string_actions  # (--help too)
            and (name, flag) not in SHOWN_AS_MISTAKES
        }
    )
    assert unknown == []
    assert set(given) >= SHOWN_AS_MISTAKES, "an allowed mistake is no longer shown: drop it"


def test_a_misnamed_flag_in_a_command_line_is_found() -> None:
    """The check finds a flag its command lacks, and stops at prose and at a pipe's command."""
    parsers = commands()
    line = (
        "harvester status DIR --failed-ids | harvester forget DIR --gone-ids-from - --undo; "
        "harvester index DIR again if it ran with --shard; harvester verify DIR --jsn"
    )
    pairs = list(flags_given(line, parsers))
    assert ("status", "--failed-ids") in pairs and ("forget", "--undo") in pairs
    assert ("index", "--shard") not in pairs
    assert [p for p in pairs if p[1] not in options(parsers[p[0]])] == [("verify", "--jsn")]


def test_the_exit_code_table_lists_the_codes_the_cli_returns() -> None:
    """The README's exit-code table has a row for each EXIT_* code of harvester.cli, no other."""
    rows = re.findall(r"^\| (\d+)(?: \([^)]*\))? \|", manual(), re.M)
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    assert set(map(int, rows)) == codes


def test_the_defaults_the_readme_states_are_the_codes() -> None:
    """The request defaults and the thumbnail size the README states are the code's."""
    text = " ".join(manual().split())
    stated = {
        r"`--concurrency (\d+)`, `--rate (\d+)` requests/s, `--burst (\d+)`": (
            DEFAULT_CONCURRENCY,
            DEFAULT_RATE,
            DEFAULT_BURST,
        ),
        r"`--timeout S` \(default (\d+)\)": (DEFAULT_TIMEOUT,),
        r"`--min-speed B` \(default (\d+) bytes/s": (DEFAULT_MIN_SPEED,),
        r"\(`--max-retries`, default (\d+)\)": (DEFAULT_MAX_RETRIES,),
        r"`--outage-wait TIME`, config `outage_wait`; default `(\d+)h`": (
            DEFAULT_OUTAGE_WAIT / 3600,
        ),
        r"`--thumbnail-size` pixels \(default (\d+)\)": (DEFAULT_THUMBNAIL_SIZE,),
    }
    for pattern, values in stated.items():
        found = re.search(pattern, text)
        assert found is not None, f"the README no longer says {pattern}"
        assert tuple(float(v) for v in found.groups()) == values, pattern


def test_the_defaults_each_help_states_are_the_codes() -> None:
    """Every command's --help states each request flag's default, and it is the code's."""
    defaults = {
        "concurrency": DEFAULT_CONCURRENCY,
        "rate": DEFAULT_RATE,
        "burst": DEFAULT_BURST,
        "max_retries": DEFAULT_MAX_RETRIES,
        "timeout": DEFAULT_TIMEOUT,
        "min_speed": DEFAULT_MIN_SPEED,
        "thumbnail_size": DEFAULT_THUMBNAIL_SIZE,
    }
    said = []
    for name, command in commands().items():
        for action in command._actions:
            if action.dest in defaults and action.option_strings:
                found = re.search(r"\bdefault (\d+)\b", action.help or "")
                said.append((name, action.dest, float(found[1]) if found else None))
    assert {(n, d) for n, d, _ in said} >= {("plan", "rate"), ("slurm", "concurrency")}
    assert [s for s in said if s[2] != defaults[s[1]]] == []

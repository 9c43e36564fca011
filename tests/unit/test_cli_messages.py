"""What a new user reads: usage errors, hints, help texts and summaries of the real CLI.

Each test runs the command as a user would (``main(argv)`` in-process, or ``python -m
harvester`` in a subprocess where the process's own streams matter) and asserts the
exit code and the exact words printed: a hint must point at the help of the command
that was typed, name the flag that was probably meant, and never print a path or a
count that is wrong.
"""

from __future__ import annotations

import importlib.abc
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from demo_helpers import DemoRun

import harvester
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.retry import zero_waits

EXISTING_IMAGE = 1884801  # an image of the emulator's demo screen
UNKNOWN_ID = 999_999_999
#: The closing line's start after failures that were all refused (an unknown id: HTTP 404).
ASK_AGAIN = "to ask for them again anyway (an id made public since): "


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``harvester ARGV`` in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def flat(text: str) -> str:
    """Help text with argparse's line wrapping undone (one space between words)."""
    return " ".join(text.split())


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("COLUMNS", None)
    return env


# --------------------------------------------------------------------------- 1. usage errors
@pytest.mark.parametrize(
    ("argv", "error", "hint"),
    [
        (
            ["verify", "--jsn", "mine"],
            "error: unrecognized arguments: --jsn",
            "hint: did you mean --json? see 'harvester verify --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--concurency", "4"],
            "error: unrecognized arguments: --concurency",
            "hint: did you mean --concurrency? see 'harvester harvest --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--concurency=4"],
            "error: unrecognized arguments: --concurency=4",
            "hint: did you mean --concurrency? see 'harvester harvest --help'",
        ),
        (  # a part of the option's name, not the look-alike --burst (found by a walkthrough)
            ["harvest", "--screen", "1", "--out", "D", "--url=http://x"],
            "error: unrecognized arguments: --url=http://x",
            "hint: did you mean --base-url? see 'harvester harvest --help'",
        ),
        (  # the mistyped flag's value shown without its credentials (user:password, query)
            ["harvest", "--screen", "1", "--out", "D", "--bse-url=https://al:s3cret@h/?key=k3y9"],
            "error: unrecognized arguments: --bse-url=https://al:REDACTED@h/?key=REDACTED",
            "hint: did you mean --base-url? see 'harvester harvest --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--retries=3"],
            "error: unrecognized arguments: --retries=3",
            "hint: did you mean --max-retries? see 'harvester harvest --help'",
        ),
        (  # other tools' words: their meaning, not the nearest spelling (-j: --rate?)
            ["harvest", "--screen", "1", "--out", "D", "-j", "8"],
            "error: unrecognized arguments: -j",
            "hint: did you mean --concurrency? see 'harvester harvest --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--verbose"],
            "error: unrecognized arguments: --verbose",
            "hint: did you mean --debug? see 'harvester harvest --help'",
        ),
        (  # plan requires --out: argparse reports that, not the unknown -o
            ["plan", "--screen", "1", "-o", "D"],
            "error: the following arguments are required: --out",
            "hint: did you mean --out? see 'harvester plan --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--resume"],
            "error: unrecognized arguments: --resume",
            "hint: no flag is needed: the same command run again resumes, and so does "
            "`harvester harvest --out DIR` (the targets of DIR's runs, with their settings); "
            "see 'harvester harvest --help'",
        ),
        (  # rclone's per-file filter: not offered as --max-bytes, a total
            ["harvest", "--screen", "1", "--out", "D", "--max-size=10G"],
            "error: unrecognized arguments: --max-size=10G",
            "hint: harvester has no per-file size filter (rclone's --max-size); --max-bytes "
            "SIZE is a total budget, not a per-file limit: a harvest stops once the files it "
            "stored total SIZE; see 'harvester harvest --help'",
        ),
        (
            ["harvest", "--screen", "1", "--out", "D", "--max-transfer", "10G"],
            "error: unrecognized arguments: --max-transfer",
            "hint: did you mean --max-bytes? see 'harvester harvest --help'",
        ),
        (
            ["plan", "--screen", "1", "--out", "D", "--config=my.toml"],
            "error: unrecognized arguments: --config=my.toml",
            "hint: the config file is the first argument (harvester plan FILE.toml ...); "
            "see 'harvester plan --help'",
        ),
        (  # another command's flag: that command named, not "did you mean --plate?"
            ["plan", "--screen", "1", "--out", "D", "--split=train=0.8,val=0.2"],
            "error: unrecognized arguments: --split=train=0.8,val=0.2",
            "hint: --split belongs to harvester harvest, slurm and index, not to harvester "
            "plan: to split the images of a folder, run harvester index DIR --split ... (or "
            "give --split to the run that harvests it: harvester harvest or harvester slurm, "
            "with --from-plan DIR for a plan); see 'harvester plan --help'",
        ),
        (
            ["verify", "D", "--sample", "3"],
            "error: unrecognized arguments: --sample 3",
            "hint: --sample belongs to harvester harvest, plan and slurm, not to harvester "
            "verify; see 'harvester verify --help'",
        ),
        (  # another tool's word here (-j), though verify takes --jobs: the meaning here wins
            ["harvest", "--screen", "1", "--out", "D", "--jobs", "8"],
            "error: unrecognized arguments: --jobs",
            "hint: did you mean --concurrency? see 'harvester harvest --help'",
        ),
        (  # status has no config file: no such advice there
            ["status", "D", "--config"],
            "error: unrecognized arguments: --config",
            "hint: see 'harvester status --help'",
        ),
        (
            ["status", "D", "--zzz"],
            "error: unrecognized arguments: --zzz",
            "hint: see 'harvester status --help'",
        ),
        (
            ["--jsn"],
            "error: unrecognized arguments: --jsn",
            "hint: see 'harvester --help'",
        ),
        (  # a target kind as a bare word: 'plate' read as the config file, 7361 left over
            ["harvest", "plate", "7361", "--out", "D"],
            "error: unrecognized arguments: 7361",
            "hint: targets are flags: --plate 7361; see 'harvester harvest --help'",
        ),
        (
            ["plan", "Screens", "2302,2303", "--out", "D"],
            "error: unrecognized arguments: 2302,2303",
            "hint: targets are flags: --screen 2302,2303; see 'harvester plan --help'",
        ),
    ],
)
def test_unknown_flag_hint_names_the_subcommand_and_the_near_flag(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str, hint: str
) -> None:
    """A mistyped flag: one error line, one hint line with the subcommand's help."""
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert err.splitlines() == [error, hint]


def test_mistyped_command_suggests_the_near_command(capsys: pytest.CaptureFixture[str]) -> None:
    """`harvester harvset`: the hint says `harvest` (the error line lists every command)."""
    code, _out, err = run(capsys, "harvset", "--screen", "1")
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: argument COMMAND: invalid choice")
    assert lines[1] == "hint: did you mean harvest? see 'harvester --help'"


def test_mistyped_choice_suggests_the_near_choice(capsys: pytest.CaptureFixture[str]) -> None:
    """`--window renderin`: the hint names `rendering` and the harvest help."""
    code, _out, err = run(capsys, "harvest", "--screen", "1", "--out", "D", "--window", "renderin")
    assert code == 2
    assert err.splitlines()[1:] == ["hint: did you mean rendering? see 'harvester harvest --help'"]


# --------------------------------------------------------------------------- 2. unknown ids
@pytest.mark.parametrize("kind", ["plate", "dataset", "image"])
def test_unknown_id_hint_fits_the_kind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, kind: str
) -> None:
    """An unknown plate/dataset/image id is not explained by screens and projects."""
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, f"--{kind}", str(UNKNOWN_ID),
        "--out", str(tmp_path / "d"), "--quiet",
    )  # fmt: skip
    assert code == 2
    assert err.splitlines()[0] == f"error: {kind} {UNKNOWN_ID} not found on the server"
    assert "screens and projects" not in err
    assert emulator.base_url in err.splitlines()[1]


@pytest.mark.parametrize(
    ("flag", "given", "meant"),
    [
        ("--screen", "7375", "plate"),
        ("--plate", "2302", "screen"),
        ("--project", "52", "dataset"),
        ("--image", "7375", "plate"),
        ("--image", "52", "dataset"),
        ("--plate", "9762957", "image"),
        ("--dataset", "1884801", "image"),
    ],
)
def test_an_id_of_another_kind_names_the_flag_it_fits(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    flag: str,
    given: str,
    meant: str,
) -> None:
    """A plate's id given as a screen (and the like): exit 2, no folder, and the hint names
    the object of that id the server has, with the flag that asks for it."""
    kind = flag.removeprefix("--")
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, flag, given,
        "--out", str(tmp_path / "d"), "--quiet",
    )  # fmt: skip
    assert code == 2
    error, hint = err.splitlines()
    assert error == f"error: {kind} {given} not found on the server"
    assert hint.startswith(f"hint: check the {kind} id on {emulator.base_url}/ (")
    article = "an" if meant == "image" else "a"
    assert hint.endswith(
        f"; {emulator.base_url}/ has {article} {meant} {given}: --{meant} {given} "
        "if that is the one meant"
    )
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("kind", ["plate", "dataset"])
def test_an_unknown_plate_or_dataset_says_they_are_given_by_id_and_where_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread, kind: str
) -> None:
    """A plate (dataset) not found, no other kind of that id either: the hint says they are
    given by id, not name, and where the id is (index.csv's column, the webclient's link)."""
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, f"--{kind}", "1977",
        "--out", str(tmp_path / "d"), "--quiet",
    )  # fmt: skip
    assert code == 2
    error, hint = err.splitlines()
    assert error == f"error: {kind} 1977 not found on the server"
    assert hint.endswith(
        f"; {kind}s are given by id, not by name: a {kind}'s id is in index.csv's {kind}_id "
        f"column (beside {kind}_name), and in the webclient's link to it (?show={kind}-ID)"
    )


def test_a_plate_name_from_dirs_index_is_answered_with_its_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--plate 1977`` into a DIR whose index.csv shows plate 7361 named '1977': the hint
    names that plate and ``--plate 7361``; exit 2, and DIR's files are as they were."""
    out = tmp_path / "d"
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--plate", "7361", "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, _out, err = run(
        capsys, "plan", "--base-url", emulator.base_url, "--plate", "1977", "--out",
        str(out), "--quiet",
    )  # fmt: skip
    assert code == 2
    error, hint = err.splitlines()
    assert error == "error: plate 1977 not found on the server"
    assert hint.endswith(
        f"; {out / 'index.csv'} names plate 7361 '1977' (plates are given by id, not by "
        "name): --plate 7361 if that is the one meant"
    )
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_a_plate_name_from_another_servers_index_is_no_answer(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    emulator: EmulatorThread,
    make_emulator: Any,
) -> None:
    """DIR's index.csv names plate 7361 '1977', but DIR was harvested from server A: asked
    on server B, ``--plate 1977`` is not answered with A's plate id (B's 7361 is another
    plate), nor on A once DIR holds a set of B too (index.csv has no server column); the
    hint ends with where a plate's id is, exit 2, DIR as it was."""
    other = make_emulator()
    out = tmp_path / "d"
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--plate", "7361", "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    by_id = (
        "; plates are given by id, not by name: a plate's id is in index.csv's plate_id "
        "column (beside plate_name), and in the webclient's link to it (?show=plate-ID)"
    )
    for server in (other.base_url, emulator.base_url):
        if server == emulator.base_url:  # DIR now holds a set of each server
            code, _out, err = run(
                capsys, "harvest", "--base-url", other.base_url, "--plate", "7375", "--out",
                str(out), "--artifacts", "thumbnail", "--rate", "none", "--quiet",
            )  # fmt: skip
            assert code == 0, err
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        code, _out, err = run(
            capsys, "plan", "--base-url", server, "--plate", "1977", "--out", str(out), "--quiet"
        )
        assert code == 2
        error, hint = err.splitlines()
        assert error == "error: plate 1977 not found on the server"
        assert hint.endswith(by_id), hint
        assert "index.csv names" not in hint
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


# --------------------------------------------------------------------------- 3. --out under a file
def test_out_under_a_regular_file_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--out afile/sub`: the cause is that afile is a file, not the permissions."""
    (tmp_path / "afile").write_text("x")
    code, _out, err = run(
        capsys, "harvest", "--screen", "1", "--out", str(tmp_path / "afile" / "sub")
    )
    assert code == 2
    assert "is a file" in err.splitlines()[0] and "afile" in err.splitlines()[0]
    assert "permissions" not in err


# --------------------------------------------------------------------------- 4. closed stdout
def _harvest_folder(tmp_path: Path, base_url: str) -> Path:
    out = tmp_path / "h"
    code = main(
        ["harvest", "--base-url", base_url, "--image", str(EXISTING_IMAGE), "--out", str(out),
         "--rate", "none", "--artifacts", "thumbnail", "--quiet"]
    )  # fmt: skip
    assert code == 0
    return out


@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize("command", [["status", "--json"], ["verify"], ["harvest", "--help"]])
def test_closed_stdout_ends_quietly(
    tmp_path: Path, emulator: EmulatorThread, command: list[str], unbuffered: bool
) -> None:
    """`harvester status DIR --json | head -1`: no message, the SIGPIPE exit status (141).

    The reading end is closed before the command starts, so its first write (or the
    flush at exit, when stdout is block-buffered) meets a closed pipe every time.
    """
    argv = [command[0], str(_harvest_folder(tmp_path, emulator.base_url)), *command[1:]]
    if command[0] == "harvest":
        argv = command
    env = cli_env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    else:
        env.pop("PYTHONUNBUFFERED", None)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    # argparse's help swallows its failed write (unbuffered stdout): 141 all the same
    assert proc.returncode == 141


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("unbuffered", [False, True])
@pytest.mark.parametrize(
    "command",
    [["--help"], ["--version"], ["harvest", "--help"], ["status", "--json"], ["status"]],
)
def test_a_full_stdout_is_one_error_line_and_exit_1(
    tmp_path: Path, emulator: EmulatorThread, command: list[str], unbuffered: bool
) -> None:
    """`harvester --help > /dev/full` exited 0 (argparse drops the failed write), `status
    --json` said a bare `No space left on device`: now exit 1 and one line naming stdout."""
    argv = command
    if command[0] == "status":
        argv = [command[0], str(_harvest_folder(tmp_path, emulator.base_url)), *command[1:]]
    env = cli_env()
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    else:
        env.pop("PYTHONUNBUFFERED", None)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.stderr == (
        "error: cannot write to standard output (No space left on device): the output is "
        "incomplete\n"
    )
    assert proc.returncode == 1


# --------------------------------------------------------------------------- 5. --rate none
def test_slowdown_warning_without_rate_limit(caplog: pytest.LogCaptureFixture) -> None:
    """`--rate none` and an overload: the warning says 'no rate limit', not 'rate None'."""
    from harvester.ratelimit import AdaptiveLimiter

    limiter = AdaptiveLimiter(4, None)
    with caplog.at_level("WARNING", logger="harvester.ratelimit"):
        assert limiter.on_overload()
    assert caplog.messages == ["server overloaded: slowing down to concurrency 2, no rate limit"]


def test_slowdown_warning_with_rate_limit(caplog: pytest.LogCaptureFixture) -> None:
    """With a rate limit the warning gives the new rate in requests per second."""
    from harvester.ratelimit import AdaptiveLimiter

    limiter = AdaptiveLimiter(4, 10.0)
    with caplog.at_level("WARNING", logger="harvester.ratelimit"):
        assert limiter.on_overload()
    assert caplog.messages == ["server overloaded: slowing down to concurrency 2, 5 requests/s"]


# --------------------------------------------------------------------------- 6. help texts
def test_help_texts_give_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """--window, emulate's --seed and --mode show their defaults; demo says how long it takes."""
    code, out, _err = run(capsys, "harvest", "--help")
    assert code == 0
    assert "stack intensity window (default rendering, or that of DIR's stacks)" in flat(out)
    assert "thumbnail size in px (default 96, or that of DIR's thumbnails)" in flat(out)
    code, out, _err = run(capsys, "emulate", "--help")
    assert code == 0
    assert "seed of the synthetic data (default 0)" in flat(out)
    assert "(IDR's image-region; default omeroweb)" in flat(out)
    code, out, _err = run(capsys, "--help")
    assert code == 0
    assert "harvest its demo screen (a few seconds)" in flat(out)
    assert "under a minute" not in out


def test_help_names_what_the_readme_promises(capsys: pytest.CaptureFixture[str]) -> None:
    """harvest's and plan's --ids-from name the CSV form and `-` for standard input (slurm's:
    a regular file, which its tasks read later), and emulate's --port its default (a
    first-time user's walkthrough found neither in the help)."""
    code, out, _err = run(capsys, "harvest", "--help")
    assert code == 0
    assert (
        "image ids, one a line ('#' comments; also Image:ID, a range FIRST-LAST or an image "
        "link of the run's server), or a CSV/TSV with an image_id column (an index.csv); - reads "
        "standard input"
    ) in flat(out)
    code, out, _err = run(capsys, "emulate", "--help")
    assert code == 0
    assert "port to bind (default 0: any free port)" in flat(out)
    forms = (
        "one a line ('#' comments; also Image:ID, a range FIRST-LAST or an image link of the "
        "run's server), or a CSV/TSV with an image_id column (an index.csv); "
    )
    code, out, _err = run(capsys, "plan", "--help")
    assert code == 0 and forms + "- reads standard input" in flat(out)
    code, out, _err = run(capsys, "slurm", "--help")
    assert code == 0 and forms + "a regular file the nodes can read" in flat(out)


@pytest.mark.parametrize("command", ["harvest", "plan", "slurm"])
def test_artifacts_help_names_all(capsys: pytest.CaptureFixture[str], command: str) -> None:
    """`--artifacts` says it takes `all` in every command that has it (plan and slurm did not)."""
    code, out, _err = run(capsys, command, "--help")
    assert code == 0
    assert "stack,rois,paths (or all; repeatable;" in flat(out)


def test_index_help_names_the_newest_run_that_set_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """index --help says the default label keys are those of the newest run that set any."""
    code, out, _err = run(capsys, "index", "--help")
    assert code == 0
    assert "(default: those of the newest run that set any)" in flat(out)


def _subcommands() -> list[str]:
    """Every subcommand of the real parser (a new one is checked without editing this test)."""
    from harvester.cli import build_parser

    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    return sorted(name for action in actions for name in action.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_help_has_a_description(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`harvester index --help` and `status --help` went from usage straight to the options."""
    code, out, _err = run(capsys, command, "--help")
    assert code == 0
    paragraphs = out.split("\n\n")
    assert paragraphs[0].startswith(f"usage: harvester {command} ")
    description = flat(paragraphs[1])
    assert not description.startswith(("positional arguments:", "options:"))
    assert len(description.split()) >= 15, description


def test_every_argument_of_every_subcommand_says_what_it_is() -> None:
    """`status --help` and `verify --help` listed DIR bare, with no word of which folder:
    every argument, positional ones too, has a help text."""
    from harvester.cli import build_parser

    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    bare = [
        f"{name} {act.option_strings or act.metavar or act.dest}"
        for action in actions
        for name, sub in action.choices.items()
        for act in sub._actions
        if act.help is None
    ]
    assert bare == []


@pytest.mark.parametrize("command", _subcommands())
def test_no_address_in_a_help_text_is_broken_across_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """At 80 columns every https:// address of a help text shows whole: `index --help`
    wrapped `...drop...=https://ftp.ebi.ac.uk/...` as `=h` and `ttps://` on two lines."""
    import re

    from harvester.cli import build_parser

    monkeypatch.setenv("COLUMNS", "80")
    actions = build_parser()._subparsers._group_actions  # type: ignore[union-attr]
    sub = next(action.choices[command] for action in actions if command in action.choices)
    addresses = [
        address.rstrip(").,;")
        for act in sub._actions
        for address in re.findall(r"https?://\S+", act.help or "")
    ]
    code, out, _err = run(capsys, command, "--help")
    assert code == 0
    words = out.split()
    for address in addresses:
        assert any(address in word for word in words), (address, out)


def test_plan_help_speaks_of_the_walk_and_slurm_help_of_the_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`plan --help` said --rate was "for slurm the total" in a command that runs no task:
    plan's says the walk (and the commands it prints) asks so, slurm's how tasks share it."""
    code, out, _err = run(capsys, "plan", "--help")
    assert code == 0
    text = flat(out)
    assert "slurm" not in text.split("--concurrency N", 1)[1].split("--max-retries N", 1)[0]
    assert "(default 10; of the walk, and of the commands printed after it)" in text
    code, out, _err = run(capsys, "slurm", "--help")
    assert code == 0
    assert "(default 10; the total of all tasks, split across running tasks)" in flat(out)


# --------------------------------------------------------------------------- 7. counts and paths
def test_one_row_is_one_row(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A one-image harvest says `(1 row)`."""
    out = tmp_path / "one"
    code, printed, _err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--image", str(EXISTING_IMAGE),
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail",
    )  # fmt: skip
    assert code == 0
    assert f"index: {out / 'index.csv'} (1 row)\n" in printed


def test_one_image_is_one_image(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """One image is counted in the singular everywhere a walk of one image reports it (the
    README walk read "1 images found", "planned 1 images", "checked 1 files")."""
    image = ["--base-url", emulator.base_url, "--image", str(EXISTING_IMAGE), "--rate", "none",
             "--artifacts", "thumbnail"]  # fmt: skip
    code, printed, _err = run(capsys, "harvest", *image, "--out", str(tmp_path / "d"), "--dry-run")
    assert code == 0
    assert printed.startswith("dry run: 1 image found, 1 artifact to fetch (")
    code, printed, _err = run(capsys, "plan", *image, "--out", str(tmp_path / "p"))
    assert code == 0
    assert f"planned 1 image (1 thumbnail) in {tmp_path / 'p' / 'plan'}\n" in printed
    out = tmp_path / "one"
    assert run(capsys, "harvest", *image, "--out", str(out))[0] == 0
    code, printed, _err = run(capsys, "status", str(out))
    assert code == 0 and printed.startswith(f"{out}: 1 image journaled, artifacts thumbnail\n")
    code, printed, _err = run(capsys, "verify", str(out))
    assert code == 0 and "checked 1 file (" in printed


def test_index_line_names_labels_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """With label keys the summary's index line names labels.csv too, also on a resume."""
    out = tmp_path / "labelled"
    line = f"index: {out / 'index.csv'} (8 rows) and {out / 'labels.csv'} (8 labels)\n"
    code, printed, _err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--plate", "7375",
        "--out", str(out), "--rate", "none", "--artifacts", "thumbnail",
        "--label-key", "Gene Symbol",
    )  # fmt: skip
    assert code == 0 and line in printed, printed
    assert (out / "labels.csv").read_text().count("\n") == 1 + 8  # header, one gene a well
    # The resume given no key keeps the run's keys, and labels.csv with them.
    code, printed, _err = run(capsys, "harvest", "--out", str(out), "--rate", "none")
    assert code == 0 and line in printed, printed


def test_demo_prints_the_index_path_once(demo_run: DemoRun) -> None:
    """`harvester demo`: the index line of the summary, not a second one with the study."""
    out, printed = demo_run.out, demo_run.stdout
    assert demo_run.code == 0, demo_run.stderr
    assert "Traceback" not in demo_run.stderr
    assert printed.count(str(out / "index.csv")) == 1
    assert f"index: {out / 'index.csv'} (80 rows)" in printed
    assert f"study metadata: {out / 'study'}\n" in printed


# --------------------------------------------------------------------------- 8. read-once ids
def _harvest_with_failure(
    tmp_path: Path, base_url: str, source: str, **popen: object
) -> subprocess.CompletedProcess[str]:
    """A harvest of one good and one missing image (exit 1) with ids from ``source``."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", base_url,
         "--ids-from", source, "--out", str(tmp_path / "o"), "--rate", "none",
         "--artifacts", "thumbnail", "--quiet"],
        capture_output=True, text=True, env=cli_env(), timeout=60, check=False,
        **popen,  # type: ignore[arg-type]
    )  # fmt: skip


def test_resume_hint_after_ids_from_a_pipe(tmp_path: Path, emulator: EmulatorThread) -> None:
    """`--ids-from <(cmd)`: the rerun hint does not name the dead /dev/fd path."""
    read_end, write_end = os.pipe()
    os.write(write_end, f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n".encode())
    os.close(write_end)
    try:
        proc = _harvest_with_failure(
            tmp_path, emulator.base_url, f"/dev/fd/{read_end}", pass_fds=(read_end,)
        )
    finally:
        os.close(read_end)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.splitlines()[-1]
    out = tmp_path / "o"
    assert last.startswith(
        f"{ASK_AGAIN}harvester status {out} --failed-ids | harvester harvest --base-url "
    )
    assert last.endswith(f"--ids-from - --out {out} --rate none --artifacts thumbnail --quiet")
    assert f"/dev/fd/{read_end}" not in last


def test_read_once_rerun_hint_runs_as_printed(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The failures of a run whose ids came once (standard input) are retried by the
    printed pipe, run as a shell runs it: the failed id asked again, the done one not."""
    proc = _harvest_with_failure(
        tmp_path, emulator.base_url, "-", input=f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n"
    )
    assert proc.returncode == 1, proc.stderr
    hint = proc.stderr.splitlines()[-1].removeprefix(ASK_AGAIN)
    command = hint.replace("harvester ", f"{sys.executable} -m harvester ")
    emulator.reset_stats()
    again = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True, text=True, env=cli_env(), timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 1, again.stderr
    assert f"failed: thumbnail of image {UNKNOWN_ID}" in again.stderr
    assert f"image {EXISTING_IMAGE}" not in again.stderr
    assert emulator.stats()["image_requests"] == 1


def test_resume_hint_after_ids_from_stdin(tmp_path: Path, emulator: EmulatorThread) -> None:
    """`--ids-from -`: the rerun hint says the ids go on standard input again."""
    proc = _harvest_with_failure(
        tmp_path,
        emulator.base_url,
        "-",
        input=f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n",
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.splitlines()[-1]
    out = tmp_path / "o"
    assert last == (
        f"{ASK_AGAIN}harvester status {out} --failed-ids | harvester harvest "
        f"--base-url {emulator.base_url} --ids-from - --out {out} --rate none "
        "--artifacts thumbnail --quiet"
    )


def test_resume_hint_after_ids_from_a_file_is_unchanged(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A regular ids file can be read again: the hint is the command as typed."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n")
    proc = _harvest_with_failure(tmp_path, emulator.base_url, str(ids))
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.endswith(f"--ids-from {ids} --out {tmp_path / 'o'} --rate none "
                         "--artifacts thumbnail --quiet")  # fmt: skip


def test_ids_the_server_refuses_are_named_once_and_not_promised_to_a_rerun(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An --ids-from id the server does not have: each failure says its HTTP status once
    ("HTTP 404 Not Found: ...", not "HTTP 404: HTTP 404 Not Found"), and a note says that a
    rerun gets the same answer (found by a new-user walkthrough); the closing command is
    offered to ask again anyway, not promised to retry them."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{UNKNOWN_ID}\n")
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(tmp_path / "d"), "--artifacts", "thumbnail,metadata", "--rate", "none",
    )  # fmt: skip
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2
    assert all(": HTTP 404 Not Found" in line and "HTTP 404: HTTP" not in line for line in failed)
    note, rerun = err.strip().splitlines()[-2:]
    assert note == (
        "note: the server refused every one of these (HTTP 4xx): an id that does not exist"
        " or is not public gets the same answer again"
    )
    # Not "rerun to retry the failures" right below "gets the same answer again".
    assert rerun.startswith(f"{ASK_AGAIN}harvester ")
    assert "rerun to retry" not in err


def test_a_dry_run_of_an_ids_file_says_its_ids_are_not_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A dry run given --ids-from counts every id read as found, an id the server does not
    have too: a note says so (the count read as the server's), and nothing is written."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n")
    code, out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none", "--dry-run",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[0].startswith("dry run: 2 images found, 2 artifacts to fetch")
    assert err.splitlines()[-1] == (
        "note: a dry run does not ask the server about the 2 ids it took from --ids-from: ids "
        "it does not know count as found here (a real run reports them not found, HTTP 404)"
    )
    assert not (tmp_path / "d").exists()


def test_a_dry_run_says_its_image_ids_were_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """--image ids are asked of the server one by one: with an ids file too, the note counts
    the file's ids alone and says the --image ids were checked; with an empty ids file (or
    one whose only id is an --image id) no note cast doubt on the checked count."""
    ids = tmp_path / "ids.txt"
    argv = ["harvest", "--base-url", emulator.base_url, "--image", str(EXISTING_IMAGE),
            "--ids-from", str(ids), "--out", str(tmp_path / "d"), "--artifacts", "thumbnail",
            "--rate", "none", "--dry-run"]  # fmt: skip
    ids.write_text(f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n")
    code, out, err = run(capsys, *argv)
    assert code == 0
    assert out.splitlines()[0].startswith("dry run: 2 images found, 2 artifacts to fetch")
    assert err.splitlines()[-1] == (
        "note: a dry run does not ask the server about the 1 id it took from --ids-from: ids "
        "it does not know count as found here (a real run reports them not found, HTTP 404); "
        "the --image ids were checked"
    )
    for held in ("", f"{EXISTING_IMAGE}\n"):
        ids.write_text(held)
        code, out, err = run(capsys, *argv)
        assert code == 0
        assert out.splitlines()[0].startswith("dry run: 1 image found, 1 artifact to fetch")
        assert "note: a dry run" not in err
    assert not (tmp_path / "d").exists()


def test_status_repeats_that_refused_ids_get_the_same_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`status` of a folder whose only failures are 404s says what the harvest's summary
    said (a rerun gets the same answer) before its "to resume" line."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{EXISTING_IMAGE}\n{UNKNOWN_ID}\n")
    out = tmp_path / "d"
    code, _out, err = run(
        capsys, "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--out", str(out), "--artifacts", "thumbnail,metadata", "--rate", "none",
    )  # fmt: skip
    assert code == 1
    note = (
        "note: the server refused every one of these (HTTP 4xx): an id that does not exist"
        " or is not public gets the same answer again"
    )
    assert note in err.splitlines()
    code, text, _err = run(capsys, "status", str(out))
    assert code == 0
    assert text.splitlines()[-2:] == [note, f"to resume: harvester harvest --out {out}"]


def test_failures_that_were_all_the_server_busy_say_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Any
) -> None:
    """Every thumbnail answered 503 to its only try (--max-retries 0, as through a maintenance
    window longer than the retries): after the failures a note says the server was busy or
    down, not the images, without "through all retries" (there were none), and the rerun line
    follows; with a retry, the note also says the second try at the end failed; a 500 (a
    server error, not busy) gets no such note."""
    emu = make_emulator(preset="demo", faults="503:100%,only:image:thumbnail")
    code, _out, err = run(
        capsys, "harvest", "--base-url", emu.base_url, "--plate", "7375", "--out",
        str(tmp_path / "d"), "--artifacts", "thumbnail,metadata", "--rate", "none",
        "--max-retries", "0",
    )  # fmt: skip
    assert code == 1
    note, rerun = err.strip().splitlines()[-2:]
    assert note == (
        "note: every failure was an HTTP 503 answer to its only try (--max-retries 0): the "
        "server was busy or down for maintenance, the images are not at fault; the command "
        "below fetches them once it is back"
    )
    assert rerun.startswith("rerun to retry the failures: ")
    code, text, _err = run(capsys, "status", str(tmp_path / "d"))
    assert code == 0 and "refused" not in text  # (a 503 is not a refusal: a rerun may pass)
    # With a retry, the files failed again when asked at the end (the second chance): said.
    with zero_waits():
        code, out, err = run(
            capsys, "harvest", "--base-url", emu.base_url, "--image", "9762964", "--out",
            str(tmp_path / "r"), "--artifacts", "thumbnail", "--rate", "none",
            "--max-retries", "1", "--outage-wait", "0",
        )  # fmt: skip
    assert code == 1 and "asked again at the end: 1 file " in out
    assert (
        "note: every failure was an HTTP 503 answer, through all retries and a second try "
        "at the end: the server was busy"
    ) in err
    mixed = make_emulator(preset="demo", faults="500:100%,only:image:thumbnail")
    code, _out, err = run(
        capsys, "harvest", "--base-url", mixed.base_url, "--plate", "7375", "--out",
        str(tmp_path / "e"), "--artifacts", "thumbnail", "--rate", "none",
        "--max-retries", "0",
    )  # fmt: skip
    assert code == 1 and "the server was busy" not in err


def test_a_missing_example_config_says_where_it_was_looked_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester harvest configs/demo.toml` outside the source checkout: the hint names the
    folder the relative path was read from and the folder of the example configs (here the
    checkout's, which harvester runs from; an installed wheel's: test_packaging.py)."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "harvest", "configs/demo.toml", "--out", "x")
    assert code == 2
    examples = Path(harvester.__file__).resolve().parents[1] / "configs"
    assert (examples / "demo.toml").is_file()
    assert err.splitlines() == [
        "error: config file 'configs/demo.toml' not found",
        f"hint: a relative path is read from the current folder, {tmp_path}; this harvester's"
        f" example configs are in {examples}/: copy one from there",
    ]
    assert not (tmp_path / "x").exists()


def test_an_unknown_key_with_no_near_one_names_the_example_listing_every_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key like no other: the hint names the full path of the default.toml this harvester
    has (a relative configs/default.toml means nothing outside the source folder); exit 2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text("zzzz = 1\n")
    code, _out, err = run(capsys, "harvest", "c.toml", "--out", "x")
    assert code == 2
    every_key = Path(harvester.__file__).resolve().parents[1] / "configs" / "default.toml"
    assert every_key.is_file()
    assert err.splitlines() == [
        "error: c.toml: unknown key 'zzzz'",
        f"hint: see {every_key} for every key",
    ]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("configs/demo.tml", "configs/demo.toml"),  # a letter left out
        ("configs/dmeo.toml", "configs/demo.toml"),  # two swapped
        ("demo.toml", "configs/demo.toml"),  # in a checkout: the example of that name
        ("my.tml", "my.toml"),
    ],
)
def test_a_config_file_typed_one_slip_wrong_is_told_the_file_meant(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: str,
    meant: str,
) -> None:
    """A config path one slip from a file there was told where relative paths are read and
    where the examples are: the hint names the file meant; exit 2, no folder made."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo.toml").write_text("screens = [2302]\n")
    (tmp_path / "my.toml").write_text("screens = [2302]\n")
    code, _out, err = run(capsys, "harvest", given, "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        f"error: config file {given!r} not found",
        f"hint: did you mean {meant}?",
    ]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("text", "error", "fix"),
    [
        (
            "base_url = https://alice:s3cret@omero.example.org/\n",
            "Invalid value (at line 1, column 12)",
            'a text value goes in double quotes (base_url = "https://host/", rate = "none", '
            'label_keys = ["Gene Symbol"]); numbers, true and false do not; ',
        ),
        (  # `none` typed bare: the same slip, the same hint, which names it
            "rate = none\n",
            "Invalid value (at line 1, column 8)",
            'a text value goes in double quotes (base_url = "https://host/", rate = "none", '
            'label_keys = ["Gene Symbol"]); numbers, true and false do not; ',
        ),
        (
            "rate = 5\nrate = 6\n",
            "Cannot overwrite a value (at line 2, column 9)",
            "a key is given twice, or a table twice: keep one of them; ",
        ),
        (
            "concurrency 8\n",
            "Expected '=' after a key in a key/value pair (at line 1, column 13)",
            "each setting is KEY = VALUE on a line of its own; ",
        ),
        (  # a size without its quotes: TOML reads 20, then stops at the G
            "max_bytes = 20G\n",
            "Expected newline or end of document after a statement (at line 1, column 15)",
            'text values go in double quotes (max_bytes = "20G", rate = "none"), and each '
            "setting on a line of its own; ",
        ),
        (
            "screens = [2302\n",
            "Unclosed array (at end of document)",
            "a list's [ has no closing ]: screens = [2302, 2303]; ",
        ),
        (
            'base_url = "https://omero.example.org/?bsession=s3cret\n',
            "Illegal character '\\n' (at line 1, column 55)",
            "a text value's opening quote has no closing one on its line; ",
        ),
        (
            "base_url = 'https://omero.example.org/\n",
            'Expected "\'" (at end of document)',
            "a text value's opening quote has no closing one on its line; ",
        ),
        ("[headers\n", "Expected ']' at the end of a table declaration (at line 1, column 9)", ""),
    ],
)
def test_a_config_file_that_is_not_toml_gets_a_hint_for_its_slip(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    error: str,
    fix: str,
) -> None:
    """A TOML syntax error is one line naming where tomllib stopped, and a hint saying the
    likely slip (a text value without quotes...) and where every key is shown, never the line
    itself (it may hold a password); exit 2, no folder made."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(text)
    code, _out, err = run(capsys, "harvest", "c.toml", "--out", "x")
    assert code == 2
    every_key = Path(harvester.__file__).resolve().parents[1] / "configs" / "default.toml"
    assert err.splitlines() == [
        f"error: c.toml: not valid TOML: {error}",
        f"hint: {fix}see {every_key} for every key",
    ]
    assert "s3cret" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            b'base_url = "https://u:s3cret@h/"\n# caf\xe9\n',
            "not UTF-8 text (byte 0xe9 on line 2; Latin-1 or another encoding?)",
        ),
        (
            'base_url = "https://u:s3cret@h/"\n'.encode("utf-16"),
            'it is UTF-16 text (Windows\' "Unicode"), not UTF-8',
        ),
    ],
)
def test_a_config_file_in_another_encoding_than_utf8_is_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    error: str,
) -> None:
    """A config file saved as Latin-1 or UTF-16 (Notepad's "Unicode"): one error naming the
    encoding and the hint to save it as UTF-8, exit 2, no folder made (it was "internal
    error: UnicodeDecodeError", exit 1); no byte of the file is shown."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_bytes(data)
    code, _out, err = run(capsys, "harvest", "c.toml", "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        f"error: c.toml: not valid TOML: {error}",
        "hint: save it as UTF-8 (the encoding in the editor's Save As), which TOML files are",
    ]
    assert "s3cret" not in err
    assert not (tmp_path / "x").exists()


def test_a_config_file_with_a_utf8_byte_order_mark_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A UTF-8 config file that starts with a byte order mark (as Notepad saves "UTF-8 with
    BOM") is read as without it (it was "Invalid statement (at line 1, column 1)")."""
    config = tmp_path / "c.toml"
    config.write_bytes(f'\ufeffbase_url = "{emulator.base_url}"\nscreens = [2302]\n'.encode())
    argv = ["harvest", str(config), "--out", str(tmp_path / "x"), "--dry-run", "--rate", "none"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert out.startswith("dry run: 80 images found, 320 artifacts to fetch")


@pytest.mark.parametrize(
    ("config", "flags", "lines"),
    [
        (
            'concurrency = "4"\n',
            (),
            [
                "error: FILE: concurrency: expected an integer, got the text '4'",
                "hint: write concurrency = 4 without quotes",
            ],
        ),
        # Training-set keys as a user writes them (an ML-engineer walkthrough): `sample =
        # "3"` was told "'3' must be an integer of at least 1", and a split written as the
        # TOML table of its pairs got no hint.
        (
            'sample = "3"\n',
            (),
            [
                "error: FILE: sample: expected an integer, got the text '3'",
                "hint: write sample = 3 without quotes",
            ],
        ),
        (
            'sample = "0"\n',  # (not "write sample = 0 without quotes": 0 is refused too)
            (),
            [
                "error: FILE: sample: '0' must be an integer of at least 1",
                "hint: sample = N keeps N images; a share of them: sample_fraction = 0.1",
            ],
        ),
        (  # a digit int() refuses: the one-line refusal, not an internal error
            'sample = "²"\n',
            (),
            [
                "error: FILE: sample: '²' must be an integer of at least 1",
                "hint: sample = N keeps N images; a share of them: sample_fraction = 0.1",
            ],
        ),
        (
            'seed = "²"\n',  # (no "write seed = ² without quotes": it is no integer)
            (),
            ["error: FILE: seed: expected an integer, got '²'"],
        ),
        (
            "split = {train = 0.8, test = 0.2}\n",
            (),
            [
                "error: FILE: split: expected a string, got a table",
                'hint: write split = "train=0.8,test=0.2"',
            ],
        ),
        (
            "",
            ("--rate", "-1"),
            [
                "error: --rate: -1 must be a positive number of requests per second",
                "hint: use --rate none to lift the limit",
            ],
        ),
        # A value of another TOML type is shown as the file wrote it, not in Python's
        # spelling (`got True`, `got datetime.date(2026, 1, 1)`, `got {'n': 8}`: a first
        # day's walkthrough), and a number in a list of one or a whole float gets the line
        # to write.
        ("concurrency = true\n", (), ["error: FILE: concurrency: expected an integer, got true"]),
        ("timeout = false\n", (), ["error: FILE: timeout: expected a number, got false"]),
        ("window = true\n", (), ["error: FILE: window: expected a string, got true"]),
        (
            "concurrency = 2026-01-01\n",
            (),
            ["error: FILE: concurrency: expected an integer, got a date or time"],
        ),
        (
            "concurrency = {n = 8}\n",
            (),
            ["error: FILE: concurrency: expected an integer, got a table"],
        ),
        (
            "concurrency = 8.0\n",
            (),
            [
                "error: FILE: concurrency: expected an integer, got 8.0",
                "hint: write concurrency = 8, a whole number",
            ],
        ),
        ("concurrency = 8.5\n", (), ["error: FILE: concurrency: expected an integer, got 8.5"]),
        ("out = true\n", (), ["error: FILE: out: expected a path, got true"]),
        (
            'labels = "no"\n',
            (),
            [
                "error: FILE: labels: expected true or false, got 'no'",
                "hint: write labels = false, without quotes",
            ],
        ),
        (
            "thumbnail_size = [96]\n",
            (),
            [
                "error: FILE: thumbnail_size: expected an integer, got an array",
                "hint: write thumbnail_size = 96, a number, not a list",
            ],
        ),
        # A value the file set is said with the file's name, as an unknown key is; the same
        # value given by a flag is the flag's (the file's own value is then not in play).
        ("concurrency = 0\n", (), ["error: FILE: concurrency: 0 must be an integer of at least 1"]),
        (
            "concurrency = 4\n",
            ("--concurrency", "0"),
            ["error: --concurrency: 0 must be an integer of at least 1"],
        ),
        (
            'window = "odd"\n',
            (),
            ["error: FILE: window: 'odd' is not one of full, rendering, minmax"],
        ),
        (  # a choice but for its case: the file's spelling of it is the hint
            'window = "Full"\n',
            (),
            [
                "error: FILE: window: 'Full' is not one of full, rendering, minmax",
                'hint: did you mean window = "full"?',
            ],
        ),
        (
            'render_format = "jpg"\n',
            (),
            [
                "error: FILE: render_format: 'jpg' is not one of jpeg, png",
                'hint: did you mean render_format = "jpeg"?',
            ],
        ),
        (
            'shard = "2/2"\n',
            (),
            [
                "error: FILE: shard: '2/2' is not a shard: the shard index K must be below N"
                " (use K/N with 0 <= K < N: the shards of 2 are 0/2 and 1/2)"
            ],
        ),
        # A hint for a value the file set says the file's key, not a flag never typed.
        (
            "rate = 0\n",
            (),
            [
                "error: FILE: rate: 0 must be a positive number of requests per second",
                'hint: write rate = "none" to lift the limit',
            ],
        ),
        (
            "sample = 0\n",
            (),
            [
                "error: FILE: sample: 0 must be an integer of at least 1",
                "hint: sample = N keeps N images; a share of them: sample_fraction = 0.1",
            ],
        ),
        (
            "sample_fraction = 10\n",
            (),
            [
                "error: FILE: sample_fraction: 10 is not a share of the images: a fraction must"
                " be more than 0 and at most 1",
                "hint: a share of the images: sample_fraction = 0.1 keeps about 10%; a number"
                " of them: sample = N",
            ],
        ),
        (  # as --sample-fraction 150% says it (it was "must be a number in (0, 1]")
            'sample_fraction = "150%"\n',
            (),
            [
                "error: FILE: sample_fraction: '150%' is not a share of the images: a percentage"
                " must be more than 0% and at most 100%, given as a fraction",
                "hint: a share of the images: sample_fraction = 0.1 keeps about 10%; a number"
                " of them: sample = N",
            ],
        ),
        (
            'sample_fraction = "0.1"\n',
            (),
            [
                "error: FILE: sample_fraction: expected a number, got the text '0.1'",
                "hint: write sample_fraction = 0.1 without quotes",
            ],
        ),
        # A well typed as the omero CLI writes it, told as the flags tell it (it was "not a
        # numeric id"); in a screen's list too, where it was looked up as a name.
        *(
            (
                f'{key} = ["Well:1474512"]\n',
                (),
                [
                    f"error: FILE: {key}: 'Well:1474512' is a well, not a target harvester "
                    "takes: a well's images are its plate's, selected by where",
                    'hint: plates = [PLATE] and where = ["well_id=1474512"]',
                ],
            )
            for key in ("plates", "screens")
        ),
        (
            'where = ["Gene Symbol"]\n',
            (),
            [
                "error: FILE: where: 'Gene Symbol' is not KEY=VALUE, KEY!=VALUE or KEY~TEXT",
                "hint: e.g. where = ['Gene Symbol=CDK1']",
            ],
        ),
        (
            "labels = false\n",
            ("--where", "Gene Symbol=CDK1"),
            [
                "error: FILE: where: selecting by annotation needs labels",
                "hint: remove labels = false",
            ],
        ),
        (
            'where = ["Gene Symbol=CDK1"]\n',
            ("--no-labels",),
            ["error: where: selecting by annotation needs labels", "hint: remove --no-labels"],
        ),
    ],
)
def test_values_are_quoted_back_as_written(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    config: str,
    flags: tuple[str, ...],
    lines: list[str],
) -> None:
    """A refused value is shown as the user typed it (`-1`, not `-1.0`), a number in quotes
    in a config file gets a hint to drop them, and a value from the file names the file."""
    toml = tmp_path / "c.toml"
    toml.write_text(config)
    code, _out, err = run(capsys, "harvest", str(toml), "--out", str(tmp_path / "d"), *flags)
    assert code == 2
    assert err.splitlines() == [line.replace("FILE", str(toml)) for line in lines]
    assert not (tmp_path / "d").exists()


def test_a_flag_value_read_as_the_config_file_is_said_to_be_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--artifacts thumbnail stack` and an unquoted `--label-key Gene Symbol`: the hint
    says how to give the value, not only that no config file 'stack' is there; exit 2."""
    monkeypatch.chdir(tmp_path)
    base = ("harvest", "--screen", "2302", "--out", "x")
    code, _out, err = run(capsys, *base, "--artifacts", "thumbnail", "stack")
    assert code == 2
    assert err.splitlines() == [
        "error: config file 'stack' not found",
        "hint: 'stack' was read as the config file: --artifacts takes one comma list, e.g."
        " --artifacts thumbnail,stack",
    ]
    code, _out, err = run(capsys, *base, "--label-key", "Gene", "Symbol")
    assert code == 2
    assert err.splitlines() == [
        "error: config file 'Symbol' not found",
        "hint: 'Symbol' was read as the config file: quote a value with spaces (--label-key"
        " 'Gene Symbol'), and give several artifacts as one comma list (--artifacts"
        " thumbnail,stack)",
    ]
    assert not (tmp_path / "x").exists()


def test_a_folder_given_without_out_is_said_to_go_after_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester harvest --screen 2302 mydata` (no --out): the word is the folder meant,
    and the hint says to give it with --out (it said to quote values and comma-list
    artifacts); exit 2, no folder made. Beside --out, the word keeps its old hint."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "harvest", "--screen", "2302", "mydata")
    assert code == 2
    assert err.splitlines() == [
        "error: config file 'mydata' not found",
        "hint: 'mydata' was read as the config file: the output folder is given with --out"
        " (--out mydata), and a value with spaces in quotes (--label-key 'Gene Symbol')",
    ]
    code, _out, err = run(capsys, "harvest", "--screen", "2302", "--out", "x", "mydata")
    assert code == 2
    assert "quote a value with spaces" in err.splitlines()[1]
    assert not (tmp_path / "mydata").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("argv", "word", "flag"),
    [
        (["--image", "9762957", "9762958"], "9762958", "--plate"),  # spaced, not comma-listed
        (["--image", "9762957,", "9762958"], "9762958", "--plate"),
        (["--plate", "7361", "Plate:7363"], "Plate:7363", "--plate"),
        (["--image", "Image:1", "Image:2"], "Image:2", "--image"),  # a typed id: its own flag
        (["2302"], "2302", "--plate"),  # an id without its flag
    ],
)
def test_an_id_read_as_the_config_file_is_said_to_go_after_its_flag(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    word: str,
    flag: str,
) -> None:
    """An id left without its flag, or a second id after a space: the hint says ids go after
    their flag (a typed id's own: ``Image:2`` after --image, not --plate) and in one comma
    list (it said to quote a label key); exit 2, no folder."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "harvest", *argv, "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        f"error: config file {word!r} not found",
        f"hint: {word!r} was read as the config file: an id goes after its flag ({flag} "
        f"{word}), and several ids of one flag in one comma list (--image 1,2,3)",
    ]
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("command", "word", "flag"),
    [
        (["harvest"], "screen", "--screen"),
        (["plan"], "plates", "--plate"),
        (["slurm", "--tasks", "2"], "Image", "--image"),
    ],
)
def test_a_target_kind_read_as_the_config_file_is_said_to_be_a_flag(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    word: str,
    flag: str,
) -> None:
    """`harvester harvest screen --out x` (no id), and plan's and slurm's: the hint says
    targets are flags (the kind's own, singular), not how to quote a value; exit 2, no
    folder."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, *command, word, "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        f"error: config file {word!r} not found",
        f"hint: {word!r} was read as the config file: targets are flags, e.g. {flag} ID",
    ]
    assert not (tmp_path / "x").exists()


def test_a_target_kind_before_an_option_is_not_said_to_take_the_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester forget screen --out x` (forget takes DIR, no config file): the hint named
    the option as the target's id ("targets are flags: --screen --out"); it says where
    --out belongs instead, and nothing is written."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "forget", "screen", "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        "error: unrecognized arguments: --out x",
        "hint: --out belongs to harvester harvest, demo, plan and slurm, not to harvester"
        " forget; see 'harvester forget --help'",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (  # the folder forgotten, the target typed where it goes
            ["forget", "screen", "3"],
            "forget needs the output folder first: harvester forget DIR --screen 3",
        ),
        (
            ["forget", "Screen:3", "--force"],
            "forget needs the output folder first: harvester forget DIR --screen 3 --force",
        ),
        (
            ["forget", "plates"],
            "forget needs the output folder first: harvester forget DIR --plate ID",
        ),
        (  # ids typed one a word: one comma list, as the flag takes them
            ["forget", "image", "1", "2", "3", "--force"],
            "forget needs the output folder first: harvester forget DIR --image 1,2,3 --force",
        ),
        (
            ["status", "plate", "7361", "7366"],
            "status takes the output folder, not a target: harvester status DIR",
        ),
        (  # typed as a flag, the folder still forgotten
            ["forget", "--screen", "3"],
            "forget needs the output folder first: harvester forget DIR --screen 3",
        ),
        (  # the words are echoed, a password not
            ["forget", "--base-url", "https://u:hunter2@h/", "project", "idr0021"],
            "forget needs the output folder first: harvester forget DIR --base-url "
            "https://u:REDACTED@h/ --project idr0021",
        ),
        (  # a password's `!` (quoted outside the quotes for tcsh) does not bare it
            ["forget", "screen", "3", "--base-url", "https://u:pa!ss@h/", "--force"],
            "forget needs the output folder first: harvester forget DIR --screen 3 --base-url "
            "https://u:REDACTED@h/ --force",
        ),
        (
            ["forget", "--base-url=https://h/?bsession=ab!cd", "plate", "7"],
            "forget needs the output folder first: harvester forget DIR "
            "'--base-url=https://h/?bsession=REDACTED' --plate 7",
        ),
        (  # commands that take no targets say so
            ["status", "screen", "3"],
            "status takes the output folder, not a target: harvester status DIR",
        ),
        (
            ["verify", "plate", "7361", "--json"],
            "verify takes the output folder, not a target: harvester verify DIR --json",
        ),
        (
            ["index", "dataset", "5", "--split", "train=0.8,test=0.2"],
            "index takes the output folder, not a target: harvester index DIR --split "
            "train=0.8,test=0.2",
        ),
        (["status"], "status needs the output folder: harvester status DIR"),
    ],
)
def test_a_target_typed_before_the_folder_is_told_the_commands_shape(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    said: str,
) -> None:
    """`harvester forget screen 3` (DIR forgotten: "screen" was taken for it): one line that
    says the folder goes first, and the command's shape with the target as its flag; exit
    2, nothing written. It said "screen does not exist", or "unrecognized arguments: 3"."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {said}"]
    assert list(tmp_path.iterdir()) == []


def test_a_folder_named_as_a_target_kind_is_still_the_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that is there is DIR whatever its name: `status screen` reads ./screen."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "screen").mkdir()
    code, _out, err = run(capsys, "status", "screen")
    assert code == 2
    assert err.splitlines()[0] == "error: screen is not a harvester folder (no harvest.json)"


def test_a_folder_read_as_the_config_file_is_said_to_go_with_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harvester harvest idr0056` (a harvested folder, named as `status` takes it): exit 2
    with a hint to give the folder as `--out`, and the folder left as it was."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my folder").mkdir()
    (tmp_path / "my folder" / "kept.txt").write_text("mine")
    code, _out, err = run(capsys, "harvest", "my folder")
    assert code == 2
    assert err.splitlines() == [
        "error: config file 'my folder' is a directory",
        "hint: 'my folder' was read as the config file, a TOML file: a folder is given with"
        " --out, e.g. --out 'my folder'",
    ]
    assert [p.name for p in (tmp_path / "my folder").iterdir()] == ["kept.txt"]


def test_a_folder_name_with_a_line_break_is_printed_as_sh_reads_it_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose name holds a line break is printed in a hint's command with the break
    inside its single quotes (the hint spans two lines): sh reads the word back whole, the
    folder's own name (see test_shell_words for bash, zsh and tcsh's refusal)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my\nrun").mkdir()
    code, _out, err = run(capsys, "harvest", "my\nrun")
    assert code == 2
    assert err.splitlines()[1:] == [
        "hint: 'my\\nrun' was read as the config file, a TOML file: a folder is given with"
        " --out, e.g. --out 'my",
        "run'",
    ]
    word = err.partition("e.g. --out ")[2].removesuffix("\n")
    proc = subprocess.run(
        ["sh", "-c", f"printf '[%s]' {word}"], capture_output=True, text=True, timeout=30
    )
    assert proc.stdout == "[my\nrun]"


@pytest.mark.parametrize(
    ("command", "address", "error", "hint"),
    [
        (
            "harvest",
            "http://127.0.0.1:8080",
            "'http://127.0.0.1:8080'",
            "give a server's address after --base-url: --base-url http://127.0.0.1:8080",
        ),
        (
            "plan",
            "https://idr.openmicroscopy.org/",
            "'https://idr.openmicroscopy.org'",
            "give a server's address after --base-url: --base-url https://idr.openmicroscopy.org",
        ),
        (  # a pasted link: the flag of what it shows; its password REDACTED, said so
            # (the login was left out without a word), its session key unsaid
            "harvest",
            "https://alice:s3cretpw@idr.example/webclient/?show=screen-2302&bsession=KEY99",
            "'https://alice:REDACTED@idr.example/webclient/'",
            "give a link after the flag of what it shows: --screen 2302 --base-url "
            "https://alice:REDACTED@idr.example, with the link's login for REDACTED",
        ),
        (
            "harvest",
            "https://idr.openmicroscopy.org/study/idr0056/",
            "'https://idr.openmicroscopy.org/study/idr0056'",
            "give the study by its name: --screen idr0056 or --project idr0056",
        ),
        (  # a server under a path a shell reads ('~', a blank): quoted, to paste as is
            "harvest",
            "http://127.0.0.1:8080/~lab",
            "'http://127.0.0.1:8080/~lab'",
            "give a server's address after --base-url: --base-url 'http://127.0.0.1:8080/~lab'",
        ),
        (
            "harvest",
            "https://alice:s3cretpw@idr.example/my lab/webclient/?show=screen-2302",
            "'https://alice:REDACTED@idr.example/my lab/webclient/'",
            "give a link after the flag of what it shows: --screen 2302 --base-url "
            "'https://alice:REDACTED@idr.example/my lab', with the link's login for REDACTED",
        ),
        (  # a server's address holding a token: not printed back in a command
            "harvest",
            "https://s3cretpw@omero.example/omero/",
            "'https://REDACTED@omero.example/omero'",
            "give a server's address after --base-url: --base-url URL",
        ),
        *(  # a password (or a token) a '/' or '?' cut short: not printed in the hint either
            (
                "harvest",
                f"https://{login}{cut}s3cretpw@omero.example/",
                f"'https://{shown}@omero.example'",
                "give a server's address after --base-url: --base-url URL",
            )
            for login, shown in (("alice:pa", "alice:REDACTED"), ("TOK", "REDACTED"))
            for cut in "/?"
        ),
    ],
)
def test_a_web_address_read_as_the_config_file_names_the_flag_it_goes_after(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    address: str,
    error: str,
    hint: str,
) -> None:
    """`harvester harvest http://127.0.0.1:8080 --screen 2302` (the README's --base-url
    typed without its flag) said "config file 'http:/127.0.0.1:8080' not found", a path
    with one slash and a hint about the current folder: now one error line naming the
    address as typed (password, token and query hidden), the flag it goes after, exit 2."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, command, address, "--screen", "2302", "--out", "x")
    assert code == 2
    assert err.splitlines() == [
        f"error: {error} is a web address, not a config file (the one argument harvester "
        "reads without a flag)",
        f"hint: {hint}",
    ]
    assert "s3cretpw" not in err and "KEY99" not in err and "TOK" not in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("command", ["status", "verify", "index"])
def test_an_empty_folder_name_is_refused_not_read_as_the_current_folder(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """`harvester status "$OUT"` with OUT unset: one line saying the folder name is empty
    (it was "error: . is not a harvester folder", a folder the user never named), exit 2,
    as harvest's `--out ""` is refused."""
    code, _out, err = run(capsys, command, "")
    assert code == 2
    assert err.splitlines() == [
        "error: argument DIR: an empty folder name (an unset variable?)",
        f"hint: see 'harvester {command} --help'",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["harvest", "--from-plan", "", "--out", "x"],
        ["slurm", "--from-plan", "", "--out", "x", "--tasks", "2"],
        ["forget", "x", "--from-plan", ""],
    ],
    ids=["harvest", "slurm", "forget"],
)
def test_an_empty_plan_folder_is_refused_not_read_as_the_current_folder(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    """`--from-plan "$PLAN"` with PLAN unset: one line saying the folder name is empty (it
    was "no harvest plan in . (plan/plan.json not found)", a folder never named), exit 2,
    nothing written."""
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, *argv)
    assert code == 2
    assert err.splitlines() == [
        "error: argument --from-plan: an empty folder name (an unset variable?)",
        f"hint: see 'harvester {argv[0]} --help'",
    ]
    assert list(tmp_path.iterdir()) == []


def test_help_says_what_max_retries_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """--max-retries said only "default 5", not what is retried; --base-url's value is
    named URL and --artifacts' LIST, as in slurm's and plan's usage (harvest's were BASE_URL
    and ARTIFACTS); --image names the image addresses it takes."""
    for command in ("harvest", "plan", "slurm"):
        code, out, _err = run(capsys, command, "--help")
        assert code == 0
        assert (
            "times a failed request is asked again (a busy server, a timeout, an answer cut "
            "short) before its file or listing fails (default 5); one that failed so is asked "
            "once more, with as many retries, at the end of the run (a listing: of the walk), "
            "and counts as failed only then"
        ) in flat(out), command
        assert "--base-url URL" in out and "BASE_URL" not in out, command
        assert "--artifacts LIST" in out and "ARTIFACTS" not in out, command
    code, out, _err = run(capsys, "harvest", "--help")
    assert "img_detail/ID/, iviewer/?images=... or an image's render or thumbnail address" in (
        flat(out)
    )


def test_a_missing_ids_file_of_a_config_file_names_the_file_and_its_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ids_from = "ids.txt"` in cfgs/c.toml, run from another folder: the error names the
    config file and its key, and the hint says where a relative path is read from (not the
    `--ids-from` flag); the flag's own missing file keeps the flag's words."""
    (tmp_path / "cfgs").mkdir()
    toml = tmp_path / "cfgs" / "c.toml"
    toml.write_text('ids_from = "ids.txt"\n')
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "harvest", "cfgs/c.toml", "--out", "d")
    assert code == 2
    assert err.splitlines() == [
        "error: cfgs/c.toml: ids_from: 'cfgs/ids.txt' not found",
        "hint: ids_from names a text file with one image id a line; a relative path there is"
        f" read from the config file's folder, {tmp_path / 'cfgs'}",
    ]
    code, _out, err = run(capsys, "harvest", "cfgs/c.toml", "--ids-from", "x.txt", "--out", "d")
    assert code == 2 and "hint: --ids-from takes a text file" in err
    assert not (tmp_path / "d").exists()


def test_a_failure_with_status_200_does_not_lead_with_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Any
) -> None:
    """imgData answering 200 with an ``Exception`` (IDR after its Zarr migration) is a failure
    whose line says why, not "HTTP 200: ..." (the server said yes; the body was wrong)."""
    emu = make_emulator(preset="demo", imgdata_exception=True)
    code, _out, err = run(
        capsys, "harvest", "--base-url", emu.base_url, "--image", str(EXISTING_IMAGE),
        "--out", str(tmp_path / "d"), "--artifacts", "imgdata,stack", "--rate", "none",
        "--max-retries", "0",
    )  # fmt: skip
    assert code == 1
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2
    assert all("imgData Exception" in line for line in failed)
    assert not any("HTTP 200" in line for line in failed)


class _InterruptedImport(importlib.abc.MetaPathFinder):
    """Raises KeyboardInterrupt when ``harvester.cli`` is imported: a Ctrl-C while it loads."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "harvester.cli":
            raise KeyboardInterrupt
        return None


def test_a_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's entry (the console script's and ``python -m harvester``'s) stopped by
    Ctrl-C while the CLI's modules load: exit 130 and one line, not a traceback."""
    from harvester.__main__ import entry

    monkeypatch.delitem(sys.modules, "harvester.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport(), *sys.meta_path])
    assert entry() == 130
    assert capsys.readouterr().err.splitlines() == [
        "interrupted before the command started: nothing was done"
    ]


def test_control_characters_and_undecodable_bytes_of_given_words_are_printed_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ESC, CR or undecodable byte in a flag, a config file's name or a folder's is
    printed escaped (``\\x1b``, ``\\r``, ``\\xe9``) in the error line, never raw (an escape
    sequence rewrites the terminal), and the refused command writes nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c\x1b.toml").write_text('images = ["1-2"]\nout = "o"\nrate = "x"\n')
    latin1 = os.fsdecode(b"caf\xe9")
    cases = [
        (["harvest", "--ima\x1b[2Jge", "1"], "error: unrecognized arguments: --ima\\x1b[2Jge"),
        (["harvest", "c\x1b.toml"], "error: c\\x1b.toml: rate: 'x' is not a number"),
        (["status", "gone\x1b\r"], "error: gone\\x1b\\r does not exist"),
        (["status", latin1], "error: caf\\xe9 does not exist"),
    ]
    for argv, error in cases:
        code, out, err = run(capsys, *argv)
        assert (code, out, err.splitlines()[0]) == (2, "", error), argv
        assert "\x1b" not in err and "\r" not in err and "\\udc" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c\x1b.toml"]


class _Terminal(io.StringIO):
    """Standard error as a terminal (what a pty answers ``isatty``)."""

    def isatty(self) -> bool:
        return True


def test_notes_naming_a_folder_with_esc_show_it_escaped_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
) -> None:
    """A folder named with ESC[2J, quoted by a command's own stderr lines (a resume's
    "nothing to resume: DIR ...", index's note of a damaged harvest.json naming DIR), is
    shown escaped on a terminal, as error lines and the summary show it: it cleared the
    screen. Through a pipe the line keeps the name as it is (a log, a script)."""
    out = tmp_path / "a\x1b[2Jb"
    # (a shard's set, done: DIR alone has nothing to resume)
    assert main(["harvest", "--base-url", emulator.base_url, "--image", str(EXISTING_IMAGE),
                 "--out", str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
                 "--shard", "0/1"]) == 0  # fmt: skip
    shown = f"{tmp_path}/a\\x1b[2Jb"
    for terminal in (True, False):
        err = _Terminal() if terminal else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        name = shown if terminal else str(out)
        assert main(["harvest", "--out", str(out)]) == 0
        assert err.getvalue() == f"nothing to resume: {name} has nothing failed or pending\n"
    (out / "harvest.json").write_text("{oops", encoding="utf-8")
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["index", str(out)]) == 0
    assert err.getvalue().startswith(f"note: {shown}/harvest.json is damaged"), err.getvalue()
    assert "\x1b" not in err.getvalue()

"""Printed commands' words read back as they were in bash, zsh, tcsh and sh."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import harvester
from harvester.shell_words import shell_join, shell_quote

#: Words at the edges of the quoting: a `!` alone, first, last, doubled, beside a `'`;
#: a backslash before one (tcsh took `'a\!'` as an escaped `!`: `a!`); `!` before a quote,
#: `=`, `(` or a blank; one starting with `=` (zsh read `=ls` as ls's path, tcsh `=1` as
#: its directory stack's); `$`, backquotes and spaces; an empty word.
WORDS = ["!", "a!b", "!x", "x!", "!!", "'a!", "a!'", "it's $HOME !! x", "é!$x`ls`", "a\\!b",
         "a\\!", "a\\!=b", "a!'b", 'a!"b', "x!=y", "x!(y", "x! y", "=ls", "=1", "=a!b",
         "plain", "", "sp ace"]  # fmt: skip

#: Each shell reading a typed line, history expansion on where it has one.
SHELLS = {
    "bash": ["bash", "--norc", "-H", "-o", "history", "-s"],
    "zsh": ["zsh", "-f", "-i", "-s"],
    "tcsh": ["tcsh", "-f", "-c"],
    "sh": ["sh", "-s"],
}


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_every_word_reads_back_whole_in_each_shell(shell: str) -> None:
    """`printf` given the joined words, pasted into the shell, prints each word as it was."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    line = "printf '[%s]\\n' " + shell_join(WORDS)
    argv = SHELLS[shell]
    typed = argv[-1] == "-s"
    proc = subprocess.run(
        argv if typed else [*argv, line], input=f"{line}\n" if typed else None,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(f"[{word}]\n" for word in WORDS), proc.stderr


def test_words_without_a_bang_are_quoted_as_shlex_quotes_them() -> None:
    """Only a `!` or a leading `=` changes the quoting: every other word is shlex's (scripts
    and tests that read them back with shlex see what they saw)."""
    assert shell_quote("a b'$c") == "'a b'\"'\"'$c'"
    assert shell_quote("plain/path") == "plain/path"
    assert shell_quote("run!2") == "'run'\\!'2'"
    assert (shell_quote("a=b"), shell_quote("=ls")) == ("a=b", "'=ls'")


def test_no_module_quotes_a_command_with_shlex_itself() -> None:
    """Every command line the harvester prints quotes its words with shell_words (the
    emulator, which never imports the harvester's core, aside): a new shlex.quote of a DIR
    with a `!` pasted into tcsh said "Event not found" and ran nothing."""
    package = Path(harvester.__file__).parent
    quoting = re.compile(r"\bshlex\.(quote|join)\b")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if "emulator" not in path.parts and path.name != "shell_words.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if quoting.search(line)
    ]
    assert offenders == [], "use harvester.shell_words.shell_quote/shell_join instead"


#: Words holding a line break: alone, first, last, beside a `!`, a quote or a `$`.
BROKEN = ["a\nb", "\n", "end\n", "\nstart", "it's\n$HOME", "a!\nb", "x\n\ny"]


@pytest.mark.parametrize("shell", ["bash", "sh", "zsh"])
def test_a_word_with_a_line_break_reads_back_whole_in_sh_bash_and_zsh(shell: str) -> None:
    """A line break stays inside the word's single quotes, where sh, bash and zsh keep it
    (the printed command spans two lines, pasted whole): the one form all three read back
    (bash's and zsh's ``$'\\n'`` is read by sh, dash, as a ``$`` and a backslash)."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    line = "printf '[%s]\\n' " + shell_join(BROKEN)
    proc = subprocess.run(
        SHELLS[shell], input=f"{line}\n", capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(f"[{word}]\n" for word in BROKEN), proc.stderr


@pytest.mark.parametrize("word", BROKEN[:3])
def test_tcsh_refuses_a_word_with_a_line_break_and_runs_nothing(word: str) -> None:
    """tcsh reads no line break inside quotes (no form of one is read by it and by sh
    alike): pasted, the command is refused (``Unmatched '``), exit 1, nothing run; never
    another word, as a folder of another name would be."""
    if shutil.which("tcsh") is None:
        pytest.skip("tcsh is not installed")
    line = "printf '[%s]\\n' " + shell_join(["before", word, "after"])
    proc = subprocess.run([*SHELLS["tcsh"], line], capture_output=True, text=True, timeout=30)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert "Unmatched '" in proc.stderr

"""Commands printed for a folder whose path holds a space work when pasted.

Cluster scratch paths are often under a project or user name with a space in it
("/scratch/Lab Group/study"). A shard's summary, the index job's note, the plan hint and
the empty `--label-key` hint printed `harvester index /scratch/Lab Group/study`: pasted,
the shell hands `harvester index` two folders and the command fails. Each command is
split here as a shell would split it, and must name the folder as one argument.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread

#: Project 51 of the demo preset: 8 images, so shard 0 of 2 holds some but not all.
PROJECT_IMAGES = 8


def _after(line: str, start: str, end: str = "") -> list[str]:
    """The shell words of the command between ``start`` and ``end`` in ``line``."""
    assert start in line, line
    tail = line.split(start, 1)[1]
    if end:
        assert end in tail, line
        tail = tail.split(end, 1)[0]
    return shlex.split(tail)


def test_shard_and_index_commands_quote_a_folder_with_a_space(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shard, index and hint commands quote a folder with a space so they run as printed."""
    out = tmp_path / "Lab Group" / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    capsys.readouterr()

    # A shard's summary names the index command to run once every shard has ended.
    assert main(["harvest", "--from-plan", str(out), "--out", str(out), "--shard", "0/2",
                 "--rate", "none"]) == 0  # fmt: skip
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("index:"))
    match = re.search(r"`([^`]*)`", line)
    assert match, line
    assert shlex.split(match.group(1)) == ["harvester", "index", str(out)]

    # The index, short of the plan, names the status command and the index to run after.
    assert main(["index", str(out)]) == 0
    note = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("note:"))
    assert _after(note, "failed); ", " gives") == ["harvester", "status", str(out)]
    assert _after(note, "after it, run ", " again") == ["harvester", "index", str(out)]
    mine = len(list((out / "images").rglob("*.thumbnail.jpg")))
    assert 0 < mine < PROJECT_IMAGES

    # An empty --label-key is refused with the command that drops the labels for good.
    assert main(["index", str(out), "--label-key", ""]) == 2
    hint = capsys.readouterr().err.splitlines()[-1]
    assert _after(hint, "to drop the label columns: ") == [
        "harvester", "index", str(out), "--no-label-key"
    ]  # fmt: skip


def test_missing_plan_hint_quotes_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The missing-plan hint quotes the folder, and no output folder is made."""
    where = tmp_path / "no plan"
    where.mkdir()
    assert main(["harvest", "--from-plan", str(where), "--out", str(tmp_path / "o")]) == 2
    hint = capsys.readouterr().err.splitlines()[-1]
    assert _after(hint, "[targets] ") == ["--out", str(where)]
    assert not (tmp_path / "o").exists()


#: Shells a printed command is pasted into, each as it reads a typed line: bash and zsh
#: with history expansion on (as at their prompts), tcsh (whose history expands a `!` even
#: inside single quotes), sh. Each prints the words it was given, one a line.
PASTED_INTO = {
    "bash": ["bash", "--norc", "-H", "-o", "history", "-s"],
    "zsh": ["zsh", "-f", "-i", "-s"],
    "tcsh": ["tcsh", "-f", "-c"],
    "sh": ["sh", "-s"],
}


def _words_in(shell: list[str], line: str) -> list[str]:
    """The words a shell reads in ``line`` (its ``harvester`` replaced by printf)."""
    command = "printf '[%s]\\n' " + line.removeprefix("harvester ")
    typed = shell[-1] == "-s"
    proc = subprocess.run(
        shell if typed else [*shell, command], input=f"{command}\n" if typed else None,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, (shell, proc.stderr)
    return re.findall(r"^\[(.*)\]$", proc.stdout, re.M)


def _bang_in_quotes(line: str) -> bool:
    """Whether a `!` of ``line`` that tcsh expands stands inside single or double quotes
    (one followed by a blank, `=`, `(` or a quote is no history event there)."""
    quote = ""
    for n, char in enumerate(line):
        if quote and char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif quote and char == "!" and line[n + 1 : n + 2] not in (" ", "\t", "=", "(", "'"):
            return True
    return False


def test_a_printed_command_pastes_into_bash_zsh_tcsh_and_sh(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status's next command for a folder with a space, a `'`, a `$` and a `!`: each shell
    (history on) reads back the folder as it is; no `!` stands in quotes, which tcsh would
    expand ("Event not found") whatever the quotes."""
    out = tmp_path / "it's $HOME! run"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("no harvest"))
    line = said.split("next: ", 1)[1].split(", or ", 1)[0]
    words = ["harvest", "--from-plan", str(out), "--out", str(out), "--rate", "none"]
    assert shlex.split(line) == ["harvester", *words], line
    assert not _bang_in_quotes(line), line
    shells = [name for name in PASTED_INTO if shutil.which(name)]
    assert "bash" in shells and "sh" in shells
    for name in shells:
        assert _words_in(PASTED_INTO[name], line) == words, (name, line)

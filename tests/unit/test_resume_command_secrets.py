"""The printed resume command of a run whose --base-url held credentials works pasted back.

A redacted URL (``?bsession=REDACTED``) pasted back asks the server with the word REDACTED
as the session: so ``URL`` stands in the command, and a note says what it must hold, as
``status`` and ``verify`` print such a resume.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli.harvest import _resume_command


@pytest.mark.parametrize(
    ("given", "printed"),
    [
        (["--base-url", "http://h:8/?bsession=K3Y"], "--base-url URL"),
        (["--base-url=http://h:8/?bsession=K3Y"], "--base-url=URL"),
    ],
)
def test_a_url_with_a_session_is_printed_as_url_with_a_note(
    tmp_path: Path, given: list[str], printed: str
) -> None:
    argv = ["harvest", *given, "--image", "5", "--out", str(tmp_path)]
    line = _resume_command(argv, tmp_path)
    assert line.startswith(f"harvester harvest {printed} --image 5 --out ")
    assert line.endswith("  # URL: http://h:8/?bsession=REDACTED with its user or session again")
    assert "K3Y" not in line


def test_a_url_without_credentials_is_printed_as_given(tmp_path: Path) -> None:
    argv = ["harvest", "--base-url", "http://h:8/omero", "--image", "5", "--out", str(tmp_path)]
    assert _resume_command(argv, tmp_path) == (
        f"harvester harvest --base-url http://h:8/omero --image 5 --out {tmp_path}"
    )


def test_a_finished_read_once_run_with_a_session_says_what_url_is(tmp_path: Path) -> None:
    """The failed-ids recipe of a run whose ids came on standard input carries the note
    too: ``URL`` alone, pasted back, names no server."""
    out = tmp_path / "a | b"  # a folder name holding the recipe's own separator
    argv = ["harvest", "--base-url", "http://h:8/?bsession=K3Y", "--ids-from", "-",
            "--out", str(out)]  # fmt: skip
    line = _resume_command(argv, out, finished=True)
    assert line == (
        f"harvester status '{out}' --failed-ids | harvester harvest --base-url URL "
        f"--ids-from - --out '{out}'  # URL: http://h:8/?bsession=REDACTED with its user or "
        "session again"
    )

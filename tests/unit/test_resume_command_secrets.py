"""The printed resume command of a run whose --base-url held credentials works pasted back.

A redacted URL (``?bsession=REDACTED``) pasted back asks the server with the word REDACTED
as the session: so ``URL`` stands in the command, and a note says what it must hold, as
``status`` and ``verify`` print such a resume.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli.harvest import _resume_command
from harvester.pipeline import public_argv


@pytest.mark.parametrize(
    ("given", "printed", "shown"),
    [
        (["--base-url", "http://h:8/?bsession=K3Y"], "--base-url URL", "bsession=REDACTED"),
        (["--base-url=http://h:8/?bsession=K3Y"], "--base-url=URL", "bsession=REDACTED"),
        # Any query of the base URL is withheld as a credential, whatever its name: it was
        # printed here and saved in the run's argv while status said it was never saved.
        (["--base-url", "http://h:8/?sid=K3Y"], "--base-url URL", "sid=REDACTED"),
        (["--base=http://h:8/?ticket=K3Y"], "--base=URL", "ticket=REDACTED"),
    ],
)
def test_a_url_with_a_session_is_printed_as_url_with_a_note(
    tmp_path: Path, given: list[str], printed: str, shown: str
) -> None:
    """The command names the URL as URL and the note names the server as saved, without
    its query (as status names it); the run's saved argv (public_argv) holds it redacted."""
    argv = ["harvest", *given, "--image", "5", "--out", str(tmp_path)]
    line = _resume_command(argv, tmp_path)
    assert line.startswith(f"harvester harvest {printed} --image 5 --out ")
    assert line.endswith("  # URL: http://h:8/ with its user or session again")
    assert "K3Y" not in line and shown not in line
    assert "K3Y" not in " ".join(public_argv(argv))


def test_public_argv_keeps_what_is_no_credential() -> None:
    """Only the base URL's query values and secret-looking parameters of other words go."""
    argv = ["harvest", "--base-url", "http://h/omero/", "--where", "Gene Symbol=K3Y",
            "--ids-from", "ids?token=K3Y", "--out", "d"]  # fmt: skip
    assert public_argv(argv) == [
        "harvest", "--base-url", "http://h/omero/", "--where", "Gene Symbol=K3Y",
        "--ids-from", "ids?token=REDACTED", "--out", "d",
    ]  # fmt: skip


def test_a_url_without_credentials_is_printed_as_given(tmp_path: Path) -> None:
    """A base URL without credentials is printed in the resume command as given."""
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
        f"--ids-from - --out '{out}'  # URL: http://h:8/ with its user or session again"
    )


@pytest.mark.parametrize("base_url", ["http://h:8/", "http://h:8/?bsession=K3Y"])
def test_only_the_base_url_becomes_url(tmp_path: Path, base_url: str) -> None:
    """An --ids-from path holding ``?token=`` is printed as given (it is a file, no
    credential sent), whether or not the base URL held one: only that URL becomes URL."""
    argv = ["harvest", "--base-url", base_url, "--ids-from", "ids?token=K3Y",
            "--out", str(tmp_path)]  # fmt: skip
    line = _resume_command(argv, tmp_path)
    url = "URL" if "?" in base_url else base_url
    assert line.startswith(f"harvester harvest --base-url {url} --ids-from 'ids?token=K3Y' ")
    if url == "URL":
        assert line.endswith("  # URL: http://h:8/ with its user or session again")
    else:
        assert "#" not in line

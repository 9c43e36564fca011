"""The summary's index line after a Ctrl-C: what the index holds beside what was found."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from harvester.cli.harvest import print_summary
from harvester.fetch import Failure
from harvester.layout import STAGING_DIR
from harvester.pipeline import RunSummary
from harvester.shell_words import shell_quote
from harvester.status import staged_text


def test_an_interrupted_run_says_what_its_index_holds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An interrupted run's summary says what its counts count: the images its walk found, and
    the index rows as the images with a file done before the stop."""
    summary = RunSummary(out_dir=tmp_path, images=32, done=16, index_rows=16, interrupted=True)
    print_summary(summary)
    printed = capsys.readouterr().out
    assert "; 32 images found\n" in printed
    assert (
        f"index: {tmp_path / 'index.csv'} (16 rows: the images with a file done before "
        "the interruption, of 32 found)\n"
    ) in printed


def test_a_finished_run_keeps_its_short_index_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A finished run's summary keeps the short index line."""
    print_summary(RunSummary(out_dir=tmp_path, images=32, done=32, index_rows=32))
    assert f"index: {tmp_path / 'index.csv'} (32 rows)\n" in capsys.readouterr().out


def test_the_index_line_names_labels_csv_when_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A run whose index write made labels.csv names it on the index line, after the rows,
    with how many labels it lists (the classes)."""
    labels = tmp_path / "labels.csv"
    summary = RunSummary(out_dir=tmp_path, images=32, done=32, index_rows=32, labels_file=labels)
    summary.labels_listed = 5
    print_summary(summary)
    printed = capsys.readouterr().out
    assert f"index: {tmp_path / 'index.csv'} (32 rows) and {labels} (5 labels)\n" in printed


def test_the_rate_leaves_out_the_time_paused_for_a_server_down(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """3,600 requests in a two-hour run that waited an hour for the server: 1.0 requests/s
    while it was up (it said 0.5, the outage's hour counted as work); without a pause the
    plain mean."""
    paused = RunSummary(out_dir=tmp_path, requests=3600, elapsed=7200.0, outage_waited=3600.0)
    print_summary(paused)
    assert (
        "1.0 requests/s while the server was up, waited 1h00m for the server\n"
        in capsys.readouterr().out
    )
    print_summary(RunSummary(out_dir=tmp_path, requests=3600, elapsed=7200.0))
    assert ", 7200.0 s, 0.5 requests/s\n" in capsys.readouterr().out


def test_a_run_stopped_by_an_outage_says_so_on_its_index_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A run the server's outage stopped (exit 75) was not interrupted: its index line says
    the images had a file done before it stopped (it said "before the interruption")."""
    summary = RunSummary(
        out_dir=tmp_path,
        images=32,
        done=14,
        index_rows=14,
        interrupted=True,
        server_down="the server stayed down for 6.0s (HTTP 503 Service Unavailable)",
    )
    print_summary(summary)
    assert (
        f"index: {tmp_path / 'index.csv'} (14 rows: the images with a file done before "
        "the run stopped, of 32 found)\n"
    ) in capsys.readouterr().out


def test_the_staged_planes_and_originals_lines_are_read_from_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The fields the summary once read by name, with a default (``getattr``), reach its lines:
    staged planes of a stack another run may be assembling, the originals line. A field
    renamed read its default, and the line vanished without a word; now mypy names it."""
    summary = RunSummary(
        out_dir=tmp_path, images=4, done=2, index_rows=2, interrupted=True,
        staged=(1, 12, 3_000_000, 0), staged_others_running=True,
        originals_line="originals: 2 files listed in originals.tsv",
    )  # fmt: skip
    print_summary(summary)
    printed = capsys.readouterr().out.splitlines()
    staged = staged_text(1, 12, 3_000_000, 0, staging=tmp_path / STAGING_DIR, running=True)
    assert staged in printed and "in progress or kept for the rerun" in staged
    assert "originals: 2 files listed in originals.tsv" in printed


class _Terminal(io.StringIO):
    """Standard error as a terminal (what a pty answers ``isatty``)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_the_closing_command_of_a_folder_named_with_esc_is_escaped_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool
) -> None:
    """A folder named with ESC and a tab, quoted by the summary's lines on standard error
    (``rerun to retry the failures: ... --out '...'``), is shown escaped on a terminal, as
    standard output shows it there; a no-break space and an é stay as they are. Through a
    pipe the command keeps the name's characters (a log, a script reading it)."""
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    out = tmp_path / "a\x1b[31m\tb\xa0caf\xe9"
    failure = Failure("thumbnail", 7, "http://h/webgateway/render_thumbnail/7/", 500, "HTTP 500")
    summary = RunSummary(out_dir=out, images=1, failed=1, failures=[failure])
    print_summary(summary, resume=f"harvester harvest --out {shell_quote(str(out))}")
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("failed: thumbnail of image 7: HTTP 500")
    name = "a\\x1b[31m\\tb\xa0caf\xe9" if terminal else "a\x1b[31m\tb\xa0caf\xe9"
    assert lines[-1] == (
        f"rerun to retry the failures: harvester harvest --out '{tmp_path}/{name}'"
    )

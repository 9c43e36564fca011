"""Progress bars: drawn on a terminal only, logging printed above them, quiet draws nothing."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester import progress as progress_module
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_and_logging_share_the_terminal() -> None:
    """Counts reach the bars; a warning logged meanwhile appears whole on its own line."""
    term = FakeTerminal()
    console = logging.StreamHandler(term)  # what the CLI's logging setup installs on stderr
    root = logging.getLogger()
    root.addHandler(console)
    progress = Progress(file=term)
    try:
        with progress.shown():
            progress.discovered(3)
            progress.done("thumbnail", 2048)
            logging.getLogger("tests.progress").warning("server overloaded: slowing down")
            progress.failed("render")
            progress.skipped(2)
        assert console in root.handlers
    finally:
        root.removeHandler(console)
    text = term.getvalue()
    assert "images found" in text and "artifacts" in text and "stored" in text
    assert "server overloaded: slowing down\n" in text
    assert (progress.images, progress.artifacts, progress.failures, progress.skips) == (3, 1, 1, 2)


def test_quiet_and_pipes_draw_nothing() -> None:
    """--quiet, or output that is not a terminal, draws no bar at all."""
    for progress, out in (
        (Progress(enabled=False, file=(term := FakeTerminal())), term),
        (Progress(file=(pipe := io.StringIO())), pipe),
    ):
        with progress.shown():
            progress.discovered(1)
            progress.done("metadata", 10)
        assert out.getvalue() == ""


def test_a_log_gets_a_progress_line_per_interval_instead_of_bars() -> None:
    """Where stderr is not a terminal (a SLURM log), a run of days still shows it is alive:
    a ``progress:`` line at the first event after each interval, no bar characters."""
    log = io.StringIO()
    progress = Progress(file=log, line_interval=0.0)
    with progress.shown():
        progress.discovered(3)
        progress.done("thumbnail", 3 * 1024)
        progress.failed("render")
        progress.skipped(2)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4
    assert all(line.startswith("progress (0s): ") for line in lines)
    assert lines[0].endswith(": 3 images found")
    assert lines[-1].endswith(": 3 images found, 1 file done, 1 failed, 2 skipped, 3.0 KiB stored")
    slow = Progress(file=(quiet_log := io.StringIO()))  # the default: one a minute
    slow.discovered(5)
    slow.done("thumbnail", 10)
    assert quiet_log.getvalue() == ""


def test_plan_shows_its_walk_in_a_log(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`harvester plan` walked for hours at the polite rate with no output at all in a batch
    log (found by an HPC walkthrough); it now shows how far its walk is (datasets listed,
    images found) as a harvest's walk does, then the images found, and --quiet nothing."""
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    args = ["plan", "--base-url", emulator.base_url, "--project", "51", "--rate", "none"]
    assert main([*args, "--out", str(tmp_path / "p1")]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line.split(": ", 1)[1] for line in err if line.startswith("progress (")]
    walking = re.compile(r"walking --project 51: ([0-2]) of 2 datasets listed, (\d) images? found")
    shown = [walking.fullmatch(line) for line in said[:-1]]
    assert all(shown) and said[-1] == "8 images found", said
    assert {m[1] for m in shown if m} >= {"1", "2"} and shown[-1] and shown[-1][2] == "8", said
    assert "progress" not in capsys.readouterr().err


def test_harvest_shows_its_files_in_a_log(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A harvest without a terminal logs progress lines ending with the final counts."""
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    out = str(tmp_path / "d")
    assert main(["harvest", "--base-url", emulator.base_url, "--project", "51", "--rate",
                 "none", "--artifacts", "thumbnail", "--out", out]) == 0  # fmt: skip
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress")]
    assert (
        lines[-1]
        .split(": ", 1)[1]
        .startswith("8 images found, 8 finished (100%), 8 files done, 0 failed, 0 skipped")
    )


def test_a_stack_shows_its_renders_staged_before_its_file(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stack's planes are counted as they are staged: a log shows a big stack's run
    alive before its one file is done (it said nothing until then)."""
    monkeypatch.setattr(progress_module, "LINE_INTERVAL", 0.0)
    emu = make_emulator(preset="zstack", mode="microservice")
    out = str(tmp_path / "d")
    assert main(["harvest", "--base-url", emu.base_url, "--image", "1300001", "--rate",
                 "none", "--artifacts", "stack", "--out", out]) == 0  # fmt: skip
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress")]
    before = [line for line in lines if "stack render" in line and "done" not in line]
    assert before[0].endswith(": 1 image found, 1 stack render staged"), lines
    assert before[-1].endswith(": 1 image found, 24 stack renders staged"), lines
    assert re.fullmatch(
        r"progress \(\d+s\): 1 image found, 1 finished \(100%\), 1 file done, 0 failed, "
        r"0 skipped, [0-9.]+ [KM]iB stored, 24 stack renders staged",
        lines[-1],
    ), lines[-1]


def test_no_progress_lines_on_stdout_when_stderr_was_closed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started with stderr closed (``2>&-``), Python's sys.stderr is None, and print() to
    None writes to stdout: the progress lines went into the summary on stdout (or the pipe
    reading it). With nowhere to say it, progress says nothing."""
    import sys

    monkeypatch.setattr(sys, "stderr", None)
    progress = Progress(line_interval=0.0)
    with progress.shown():
        progress.discovered(2)
        progress.done("thumbnail", 10)
    assert capsys.readouterr().out == ""
    assert (progress.images, progress.artifacts) == (2, 1)


def test_images_done_and_time_left_once_the_walk_is_over() -> None:
    """A log line says how many images are done and, once every image is found, the share
    and the time left; before that, with no total to guess from, the pace (images an hour)."""
    log = io.StringIO()
    progress = Progress(file=log, line_interval=0.0)
    progress._started -= 100.0  # 100 s ago: 1 image done so far, 4 left at that rate
    with progress.shown():
        progress.discovered(5)
        progress.image_finished()
        progress.walk_finished()
        progress.image_finished()
    lines = log.getvalue().splitlines()
    assert lines[1].endswith(": 5 images found, 1 finished (36/h)")  # 1 in 100 s
    assert lines[2].startswith("progress (1m40s): 5 images found, 2 finished (40%, about 2m")
    assert lines[2].endswith(" left)")
    assert progress.time_left(progress._started + 100.0) == pytest.approx(150.0)


def test_the_images_done_bar_counts_to_the_walked_total() -> None:
    """The images-done bar counts up to the total found by the walk once it ends."""
    term = FakeTerminal()
    progress = Progress(file=term)
    with progress.shown():
        progress.discovered(4)
        for _ in range(2):
            progress.image_finished()
        progress.walk_finished()
        for _ in range(2):
            progress.image_finished()
    text = term.getvalue()
    assert "images done" in text and "4/4" in text and "100%" in text


def test_time_left_is_paced_by_images_that_needed_requests() -> None:
    """A resume skips its done images at once: counted in the pace, 900 done of 1,000 in
    the first seconds made the time left of the 100 still to fetch look like seconds."""
    progress = Progress(file=io.StringIO(), line_interval=3600.0)
    progress.discovered(1000)
    progress.walk_finished()
    for _ in range(900):
        progress.image_finished(worked=False)
    for _ in range(10):
        progress.image_finished()
    # 10 images fetched in 100 s: the 90 left take 900 s (it said 9.9 s: 910 images / 100 s)
    assert progress.time_left(progress._started + 100.0) == pytest.approx(900.0)
    assert progress.finished == 910


def test_a_total_known_up_front_gives_the_time_left_before_the_walk_ends() -> None:
    """A plan knows its images before they are handed on: the walk (the plan read into a
    queue of 1000) ends only when 1000 are left, too late for a week-long run's estimate."""
    log = io.StringIO()
    progress = Progress(file=log, line_interval=0.0)
    progress._started -= 100.0
    with progress.shown():
        progress.expect(50)
        progress.discovered(20)
        progress.image_finished()
    last = log.getvalue().splitlines()[-1]
    assert last.startswith("progress (1m40s): 20 images found, 1 finished (2%, about 1h21m")
    assert progress.time_left(progress._started + 100.0) == pytest.approx(4900.0)
    progress.walk_finished()  # the walk's own count wins once it is over
    assert progress.total == 20


def test_a_resume_counts_each_image_skips_once(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Adding metadata to 80 done thumbnails: 80 skipped, 80 images that worked (before: the
    skip count was read around each await and took other workers' images too, 599)."""
    import anyio

    from harvester.config import HarvestConfig
    from harvester.pipeline import run_harvest

    def run(artifacts: tuple[str, ...], progress: Progress) -> None:
        cfg = HarvestConfig(
            base_url=emulator.base_url, out=tmp_path / "d", screens=(2302,),
            artifacts=artifacts, rate=None, quiet=True, labels=False,
        )  # fmt: skip
        assert anyio.run(lambda: run_harvest(cfg, progress=progress)).exit_code == 0

    run(("thumbnail",), Progress(enabled=False))
    again = Progress(enabled=False)
    run(("thumbnail", "metadata"), again)
    assert (again.skips, again.artifacts, again.finished) == (80, 80, 80)


def test_the_bytes_bar_says_sizes_as_the_summary_does(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real run with its bars drawn on a terminal: the bytes bar ends on the size the
    summary states, in the same units (it said ``354kB`` beside the summary's ``353.6 KiB``)."""
    import re
    import sys

    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)  # a terminal: the bars are drawn
    out = str(tmp_path / "d")
    assert main(["harvest", "--base-url", emulator.base_url, "--project", "51", "--rate",
                 "none", "--artifacts", "thumbnail,metadata", "--out", out]) == 0  # fmt: skip
    summary = re.search(r"^(\d+\.\d (KiB|MiB)) stored, ", capsys.readouterr().out, re.M)
    assert summary is not None
    drawn = [part for part in re.split(r"[\r\n]", term.getvalue()) if part.startswith("stored")]
    assert drawn, term.getvalue()
    # The summary's size and a rate in the same units (the elapsed time in tqdm's form).
    speed = r"[\d.]+ (B|KiB|MiB|GiB|TiB)/s"
    assert re.fullmatch(rf"stored      : {summary[1]} \[[\d:]+, {speed}\]", drawn[-1]), drawn
    assert not re.search(r"\d(kB|MB|GB)\b", term.getvalue())  # no SI spelling anywhere


def _drawn(text: str, bar: str) -> list[int]:
    """The counts ``bar`` showed on the terminal, in the order they were drawn."""
    import re

    return [int(n) for n in re.findall(rf"{bar} *: *(?:\d+%\|[^|]*\| *)?(\d+)", text)]


def test_images_found_is_drawn_once_the_walk_is_over() -> None:
    """A walk that finds its 18 images within tqdm's redraw interval (one page of a dataset)
    left ``images found`` drawn at 0 for the rest of the run; the walk's end draws 18."""
    term = FakeTerminal()
    progress = Progress(file=term)
    with progress.shown():
        for _ in range(18):
            progress.discovered(1)
        progress.walk_finished()
        assert _drawn(term.getvalue(), "images found")[-1] == 18


def test_images_found_never_shows_fewer_than_images_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README walk saw ``images found`` at 0 beside ``images done`` at 18: each drawing
    of ``images done`` now finds ``images found`` drawn with at least as many images."""
    term = FakeTerminal()
    progress = Progress(file=term)
    with progress.shown():
        # The found bar redraws on its own only after an hour; the done bar at each image.
        monkeypatch.setattr(progress_module, "MIN_INTERVAL", 3600.0)
        for _ in range(18):
            progress.discovered(1)
        monkeypatch.setattr(progress_module, "MIN_INTERVAL", 0.0)
        for done in range(1, 19):
            progress.image_finished()
            text = term.getvalue()
            assert _drawn(text, "images done")[-1] == done
            assert _drawn(text, "images found")[-1] >= done


def test_time_paused_for_a_server_down_is_not_in_the_pace() -> None:
    """A run that waited out an outage: its time left is paced by the time it could work, not
    by the minutes it waited (60 s paused of 160 made 4 images left take 640 s, not 400)."""
    log = io.StringIO()
    progress = Progress(file=log, line_interval=0.0)
    progress._started -= 160.0
    progress.discovered(5)
    progress.walk_finished()
    progress.image_finished()  # 1 image in the 100 s the server answered
    progress.waiting("HTTP 503 Service Unavailable", 60.0, next_check=5.0)  # began 60 s ago
    assert progress.time_left(time.monotonic()) == pytest.approx(400.0, abs=1.0)
    progress.waiting(None, 0.0)  # the server is back
    assert progress.time_left(time.monotonic()) == pytest.approx(400.0, abs=1.0)
    assert log.getvalue().splitlines()[-1].endswith("1 finished (20%, about 6m40s left)")


def test_the_published_line_is_kept_on_a_terminal_too(tmp_path: Path) -> None:
    """The line `harvester status` shows is written whole under bars as in a log (saying
    the run is starting until the first is due), at once when a pause begins and after each
    of its checks; a folder that cannot take it leaves no torn copy."""
    live = tmp_path / "all.progress"
    progress = Progress(file=FakeTerminal(), line_interval=3600.0)
    with progress.shown():
        progress.publish(live)
        assert live.read_text() == "starting (the first progress line comes 1h00m in)\n"
        progress.discovered(2)
        progress.waiting("HTTP 503 Service Unavailable", 0.0)
        assert live.read_text().startswith("progress (0s): 2 images found, waiting for the ")
        progress.waiting("HTTP 503 Service Unavailable", 65.0, next_check=1.0)
        progress.waiting("HTTP 503 Service Unavailable", 66.0, next_check=40.0)  # a check
        assert live.read_text().endswith("(HTTP 503 Service Unavailable), next check in 40s\n")
        progress.waiting("HTTP 503 Service Unavailable", 67.0, next_check=39.0)  # a tick
        assert live.read_text().endswith("next check in 40s\n")
        progress.publish(tmp_path / "gone" / "all.progress")  # no such folder
        progress.waiting(None, 0.0)
    assert [p.name for p in tmp_path.iterdir()] == ["all.progress"]


def test_a_selection_run_names_its_count_selected() -> None:
    """In a run with a selection the first bar counts the images selected, and is named so
    even when a pause at the start opened it first (as ``images found``); the line says
    ``N images selected``."""
    term = FakeTerminal()
    progress = Progress(file=term)
    log = io.StringIO()
    lines = Progress(file=log, line_interval=0.0)
    with progress.shown():
        progress.waiting("HTTP 503 Service Unavailable", 0.0)  # opens the bars
        progress.waiting(None, 1.0)
        for sink in (progress, lines):
            sink.selecting()
            sink.discovered(3)
    assert _drawn(term.getvalue(), "selected    ")[-1] == 3
    assert log.getvalue().splitlines()[-1].endswith(": 3 images selected")

"""Progress bars: drawn on a terminal only, logging printed above them, quiet draws nothing."""

from __future__ import annotations

import io
import logging

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

"""tqdm progress bars that logging does not break.

Three bars on stderr: images discovered by the walk, artifacts done (with
failures and skips in the postfix) and bytes stored (with the rate). Log
records emitted while the bars are shown go through ``tqdm.write`` (the
root logger's console handlers writing to the bars' stream are swapped for a
:class:`TqdmHandler` meanwhile), so a warning prints above the bars instead
of tearing them. ``Progress(enabled=False)`` (``--quiet``)
draws nothing and costs nothing; bars are only drawn on a terminal, and only
from the first image on, so an early error is printed alone.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

#: Redraw at most this often: the bars must not cost the pipeline throughput.
MIN_INTERVAL = 0.2


class Progress:
    """Implements ``pipeline.ProgressSink`` with tqdm bars."""

    def __init__(self, *, enabled: bool = True, file: TextIO | None = None) -> None:
        self.file = file or sys.stderr
        # Bars only on a terminal: in logs and pipes they are noise (tqdm's disable=None rule).
        isatty = getattr(self.file, "isatty", None)
        self.enabled = enabled and bool(isatty and isatty())
        self.images = 0
        self.artifacts = 0
        self.failures = 0
        self.skips = 0
        self.bytes = 0
        self._bars: list[Any] = []
        self._images_bar: Any = None
        self._done_bar: Any = None
        self._bytes_bar: Any = None
        self._last_postfix = 0.0

    def open(self) -> None:
        """Create the bars (on the first event of the run)."""
        if not self.enabled or self._bars:
            return
        # Imported here: a run without a terminal (logs, pipes, the benchmark) never needs it.
        from tqdm import tqdm  # type: ignore[import-untyped]

        common: dict[str, Any] = {
            "file": self.file,
            "mininterval": MIN_INTERVAL,
            "dynamic_ncols": True,
            "leave": True,
        }
        self._images_bar = tqdm(desc="images found", unit=" img", position=0, **common)
        self._done_bar = tqdm(desc="artifacts   ", unit=" file", position=1, **common)
        self._bytes_bar = tqdm(
            desc="stored      ",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            position=2,
            **common,
        )
        self._bars = [self._images_bar, self._done_bar, self._bytes_bar]

    def close(self) -> None:
        """Finish the bars (final counts stay on screen)."""
        self._postfix(force=True)
        for bar in self._bars:
            bar.close()
        self._bars = []

    @contextlib.contextmanager
    def shown(self) -> Iterator[Progress]:
        """Bars open for the block, logging to the same stream redirected through ``tqdm.write``."""
        if not self.enabled:
            yield self
            return
        root = logging.getLogger()
        swapped: list[tuple[logging.Handler, TqdmHandler]] = []
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler) and handler.stream is self.file:
                replacement = TqdmHandler(self.file)
                replacement.setLevel(handler.level)
                replacement.setFormatter(handler.formatter)
                root.removeHandler(handler)
                root.addHandler(replacement)
                swapped.append((handler, replacement))
        try:
            yield self
        finally:
            self.close()
            for original, replacement in swapped:
                root.removeHandler(replacement)
                root.addHandler(original)

    # ---------------------------------------------------------------- ProgressSink
    def discovered(self, count: int = 1) -> None:
        self.images += count
        if self.enabled and not self._bars:
            self.open()  # lazily: nothing is drawn before the first image (errors stay clean)
        if self._images_bar is not None:
            self._images_bar.update(count)

    def done(self, kind: str, nbytes: int) -> None:
        if self.enabled and not self._bars:
            self.open()
        self.artifacts += 1
        self.bytes += nbytes
        if self._done_bar is not None:
            self._done_bar.update(1)
        if self._bytes_bar is not None and nbytes:
            self._bytes_bar.update(nbytes)
        self._postfix()

    def failed(self, kind: str) -> None:
        self.failures += 1
        self._postfix(force=True)

    def skipped(self, count: int) -> None:
        self.skips += count
        self._postfix()

    def _postfix(self, *, force: bool = False) -> None:
        if self._done_bar is None:
            return
        now = time.monotonic()
        if not force and now - self._last_postfix < MIN_INTERVAL:
            return
        self._last_postfix = now
        self._done_bar.set_postfix(failed=self.failures, skipped=self.skips, refresh=False)


class TqdmHandler(logging.Handler):
    """Writes log records with ``tqdm.write`` so that they print above the bars."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never break the run
            self.handleError(record)

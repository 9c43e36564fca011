"""Progress: tqdm bars on a terminal, a line a minute in a log; logging breaks neither.

Three bars on stderr: images discovered by the walk, artifacts done (with
failures and skips in the postfix) and bytes stored (with the rate); a fourth,
``images done``, from the first image whose work is over, which shows the share
done and the time left once the walk has found every image (before that the
total is unknown, and a time left would be a guess). Log
records emitted while the bars are shown go through ``tqdm.write`` (the
root logger's console handlers writing to the bars' stream are swapped for a
:class:`TqdmHandler` meanwhile), so a warning prints above the bars instead
of tearing them. ``Progress(enabled=False)`` (``--quiet``)
draws nothing and costs nothing; bars are only drawn on a terminal, and only
from the first image on, so an early error is printed alone.

Where stderr is not a terminal (a SLURM task's log, ``2> run.log``, a pipe) bars
would be noise, but a run of hours or days must still show it is alive: one
``progress:`` line is printed every :data:`LINE_INTERVAL` seconds instead, at the
first event after the interval (a run with nothing happening prints nothing new).

The same line goes to a file of the output folder (:meth:`Progress.publish`), bars or not,
and at once when a pause for a server down begins, ends or checks: ``harvester status`` shows it
from another shell, with its age.

While the walk lists its targets (:meth:`Progress.walking`), the line and the ``images found``
bar say how far it is (``walking --screen 1601: 188 of 1,200 plates listed, ...``): a sampled
harvest lists a whole screen before it fetches an image, minutes or hours in which nothing
else moves. In a run with a selection (``--where``, ``--sample``) the first bar counts the
images selected, and is named so (:meth:`Progress.selecting`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from harvester.text import duration_text, plural

logger = logging.getLogger(__name__)

#: Redraw at most this often: the bars must not cost the pipeline throughput.
MIN_INTERVAL = 0.2
#: The bars' width and screen height on a terminal that reports a size of 0 (:func:`bar_width`).
FALLBACK_COLUMNS = 80
FALLBACK_LINES = 24
#: Seconds between two ``progress:`` lines where stderr is not a terminal.
LINE_INTERVAL = 60.0
#: The first bar's name (padded as the others are): the images the walk found ...
FOUND_DESC = "images found"
#: ... or, in a run with a selection, the images it selected (:meth:`Progress.selecting`).
SELECTED_DESC = "selected    "
#: Seconds before the progress line is written again for ``harvester status`` after a write
#: of it failed (a full disk, an NFS server gone for a moment): see :meth:`Progress._write_live`.
PUBLISH_RETRY = 60.0


class Progress:
    """Implements ``pipeline.ProgressSink`` with tqdm bars."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        file: TextIO | None = None,
        line_interval: float | None = None,
        publish_retry: float = PUBLISH_RETRY,
    ) -> None:
        stream = file if file is not None else sys.stderr
        # Python sets sys.stderr to None when fd 2 was closed at start (``2>&-``); print()
        # to None writes to stdout, so the lines would land in the run's summary or a pipe.
        has_stream = stream is not None
        self.file: TextIO = stream if stream is not None else io.StringIO()  # never drawn on
        # Bars only on a terminal: in logs and pipes they are noise (tqdm's disable=None rule).
        isatty = getattr(stream, "isatty", None)
        on_terminal = bool(isatty and isatty())
        self.enabled = enabled and on_terminal
        #: Elsewhere, a line every ``line_interval`` seconds (see the module's docstring).
        self.lines = enabled and has_stream and not on_terminal
        self._line_interval = LINE_INTERVAL if line_interval is None else line_interval
        self._started = time.monotonic()
        self._next_line = self._started + self._line_interval
        self.images = 0
        #: The images counted are those a selection kept, not all found (:meth:`selecting`).
        self.selected = False
        self.artifacts = 0
        self.failures = 0
        self.skips = 0
        #: Renders of stack planes (or of regions of big planes) staged: a stack of many
        #: planes takes minutes before its one file is done, in which nothing else moved.
        self.stack_renders = 0
        self.bytes = 0
        #: Study bytes stored before the bars were drawn (they wait for the first image).
        self._unshown_bytes = 0
        #: Images whose every artifact is done, skipped or failed; the walk is over.
        self.finished = 0
        #: Of those, the images that needed a request: the time left is paced by these alone.
        self.worked = 0
        self.walk_complete = False
        #: The run's image total when known before its walk ends (a plan's, :meth:`expect`).
        self.expected: int | None = None
        #: While the run pauses for a server that is down: what it answers, and since when.
        self._waiting: tuple[str, float] | None = None
        self._next_check: float | None = None  # seconds to the pause's next check, when told
        #: Seconds of the pauses that have ended: no work was possible then (:meth:`time_left`).
        self._paused = 0.0
        #: While the walk lists targets: what it has listed, as text (:meth:`walking`).
        self._walk: Callable[[], str] | None = None
        self._last_walk_shown = 0.0
        #: Where the latest progress line is kept for ``harvester status`` (:meth:`publish`),
        #: and the line under it there (``run ID``: status tells that run's walk running).
        self._live: Path | None = None
        self._live_tail = ""
        self._live_text = ""  # (the line written last: a refresh that finds no file rewrites it)
        #: Held for each write, removal and refresh of that file: the refreshing thread
        #: (:meth:`_keep_fresh`) and the run's own writes never interleave.
        self._live_lock = threading.Lock()
        self._fresh_stop: threading.Event | None = None
        #: After a failed write of it, no other is tried before this time (monotonic).
        self._live_retry_at = 0.0
        self._publish_retry = publish_retry
        self._live_warned = False  # (a warning for the first failed write only)
        self._bars: list[Any] = []
        self._finished_bar: Any = None
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
            "leave": True,
            **bar_width(self.file),
        }
        desc = SELECTED_DESC if self.selected else FOUND_DESC
        self._images_bar = tqdm(desc=desc, unit=" img", position=0, **common)
        self._done_bar = tqdm(desc="artifacts   ", unit=" file", position=1, **common)
        self._bytes_bar = _bytes_bar(tqdm)(
            desc="stored      ",
            bar_format=BYTES_BAR_FORMAT,
            position=2,
            **common,
        )
        self._bars = [self._images_bar, self._done_bar, self._bytes_bar]
        if self._unshown_bytes:
            self._bytes_bar.update(self._unshown_bytes)
            self._unshown_bytes = 0

    def _open_finished_bar(self) -> None:
        """The ``images done`` bar, on the first finished image (a plan never shows it)."""
        from tqdm import tqdm

        self._finished_bar = tqdm(
            desc="images done ",
            unit=" img",
            position=3,
            total=self.total,
            file=self.file,
            mininterval=MIN_INTERVAL,
            leave=True,
            **bar_width(self.file),
        )
        self._bars.append(self._finished_bar)

    def close(self) -> None:
        """Finish the bars (final counts stay on screen; cleared if they never counted
        anything: see :meth:`_counted`)."""
        self._postfix(force=True)
        counted = self._counted()
        for bar in self._bars:
            if not counted:
                bar.leave = False
            bar.close()
        self._bars = []
        self._finished_bar = None

    def _counted(self) -> bool:
        """Did the bars count anything? Not when they were opened only to show a pause at the
        start (:meth:`waiting`) and the run ended in it (past ``--outage-wait``, Ctrl-C):
        left on screen, three empty bars, one still saying ``next check in 1s``, stood above
        the stop line."""
        return bool(self.images or self.artifacts or self.failures or self.skips)

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
    def selecting(self) -> None:
        """The images counted from now on (:meth:`discovered`) are those a selection kept.

        Why: under ``--where`` or ``--sample`` the pipeline counts the images selected, not
        those found, and a sample walk's bar read ``images found: 0 img`` beside its own
        ``... 188 images found``. The bar is named ``selected`` and the line says ``N images
        selected``, for what they count (the walk's state says the images it found).
        """
        self.selected = True
        if self._images_bar is not None:  # (opened already for a pause at the start)
            self._images_bar.set_description_str(SELECTED_DESC, refresh=True)

    def discovered(self, count: int = 1) -> None:
        self.images += count
        if self.enabled and not self._bars:
            self.open()  # lazily: nothing is drawn before the first image (errors stay clean)
        if self._images_bar is not None:
            self._images_bar.update(count)
        if self.lines or self._live is not None:
            self._line()

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
        if self.lines or self._live is not None:
            self._line()

    def stored(self, nbytes: int) -> None:
        """Bytes written that are no artifact of an image (a study's plate layout or
        annotations): the stored total counts them, as the summary does; no file is done.
        Nothing is drawn for them before the first image (a study saved first waits)."""
        self.bytes += nbytes
        if self._bytes_bar is not None and nbytes:
            self._bytes_bar.update(nbytes)
        else:
            self._unshown_bytes += nbytes

    def stack_render_staged(self) -> None:
        """One plane (or region) of a stack fetched and staged: the line and the postfix
        count them, so that a run fetching a big stack shows it is alive."""
        self.stack_renders += 1
        self._postfix()
        if self.lines or self._live is not None:
            self._line()

    def failed(self, kind: str) -> None:
        self.failures += 1
        self._postfix(force=True)
        if self.lines or self._live is not None:
            self._line()

    def skipped(self, count: int) -> None:
        self.skips += count
        self._postfix()
        if self.lines or self._live is not None:
            self._line()

    def image_finished(self, worked: bool = True) -> None:
        """One image's work is over (each artifact done, skipped or failed).

        ``worked=False``: every artifact was done already (a resume skips it at once). Such
        images count as finished but not in the pace: a resume whose first 9,000 of 10,000
        images are done finishes those in a second, and the time left said "1s" for hours.
        """
        self.finished += 1
        if worked:
            self.worked += 1
        if self.enabled:
            if not self._bars:
                self.open()
            if self._finished_bar is None:
                self._open_finished_bar()
            self._finished_bar.update(1)
            self._catch_up_found()
        if self.lines or self._live is not None:
            self._line()

    def _catch_up_found(self) -> None:
        """Redraw ``images found`` where it shows fewer images than are done.

        tqdm redraws a bar on an update only :data:`MIN_INTERVAL` after its last drawing:
        a walk that finds its images within that (a plate, ``--image``, ``--ids-from``,
        a plan) left ``images found`` at 0 for the whole run while ``images done`` counted
        up to 18.
        """
        bar = self._images_bar
        if bar is not None and bar.last_print_n < min(bar.n, self.finished):
            _redraw(bar)

    def expect(self, total: int) -> None:
        """The run's image total, known before its walk ends (a plan-driven run's).

        Why: the walk hands images to a queue of ``queue_size`` (1000) and waits while it is
        full, so it ends only when that many images are left: a total known from the walk
        alone gave the share and the time left of the last 1000 images of a week-long run.
        """
        self.expected = total
        if self._finished_bar is not None:
            self._finished_bar.total = total
            self._finished_bar.refresh()

    def waiting(self, reason: str | None, seconds: float, next_check: float | None = None) -> None:
        """The run pauses (``reason``: what the server answers; ``seconds`` so far;
        ``next_check``: seconds until the next check, if one is due) or, with None, goes on.

        Nothing else happens meanwhile, so the pause is what the progress shows: the
        ``progress:`` line adds it, and on a terminal the ``images found`` bar says ``paused:
        server down since 10:31, next check in 40s (HTTP 503 ...)`` (opened for it if no
        image came yet). :mod:`harvester.outage` calls this every second while paused.
        """
        now = time.monotonic()
        # A pause that begins or ends, or a check in it (the wait to the next one starts
        # over: it counts down between checks): written for status at once.
        changed = (reason is None) != (self._waiting is None)
        if next_check is not None:
            changed |= self._next_check is None or next_check > self._next_check + 0.5
        if reason is None and self._waiting is not None:
            self._paused += now - self._waiting[1]
        if reason is None:
            self._waiting = None
        elif self._waiting is None:
            self._waiting = (reason, now - seconds)
        else:  # the same pause, its answer perhaps another: it began when it began
            self._waiting = (reason, self._waiting[1])
        self._next_check = next_check
        if self.enabled:
            self._show_pause(seconds)
        if changed and self._live is not None:
            self._write_live(self._line_text(now), now)
        if self.lines or self._live is not None:
            self._line()

    def _show_pause(self, seconds: float) -> None:
        """The pause's state as the ``images found`` bar's postfix (cleared once it ends)."""
        if self._waiting is None:
            if self._images_bar is not None and (self._images_bar.postfix or self._walk):
                self._images_bar.set_postfix_str(self._walk() if self._walk else "", refresh=True)
            return
        if not self._bars:
            self.open()
        self._images_bar.set_postfix_str(self._pause_text(seconds), refresh=True)

    def walking(self, describe: Callable[[], str] | None) -> None:
        """The walk listed more (``describe()``: ``walking --screen 1601: 188 of 1,200 plates
        listed, ...``) or, with None, ended. Called once a listing (never once an image), and
        ``describe`` is asked only when the text is shown: a line due, a bar redrawn.

        Why: a sampled harvest finds its images only once the whole walk is over, and on a
        busy server that walk takes many minutes, in which its progress said "0 images found"
        and ``status`` showed a line as old as the run. The walk's state now leads the
        ``progress:`` line (and the line kept for ``status``, at the usual interval) and is
        the ``images found`` bar's postfix on a terminal (a pause's takes its place meanwhile).
        """
        self._walk = describe
        if self.enabled:
            self._show_walk()
        if self.lines or self._live is not None:
            self._line()

    def _show_walk(self) -> None:
        """The walk's state as the ``images found`` bar's postfix, at most every
        :data:`MIN_INTERVAL` (cleared once it ends; never over a pause's)."""
        if self._waiting is not None:
            return
        if self._walk is None:
            if self._images_bar is not None and self._images_bar.postfix:
                self._images_bar.set_postfix_str("", refresh=True)
            return
        now = time.monotonic()
        if self._bars and now - self._last_walk_shown < MIN_INTERVAL:
            return
        self._last_walk_shown = now
        if not self._bars:
            self.open()  # the walk answered: no early error can come alone any more
        self._images_bar.set_postfix_str(self._walk(), refresh=True)

    def _pause_text(self, seconds: float) -> str:
        """``paused: server down since 10:31, next check in 40s (HTTP 503 ...)``."""
        assert self._waiting is not None
        reason = self._waiting[0]
        since = time.strftime("%H:%M", time.localtime(time.time() - seconds))
        text = f"paused: server down since {since}"
        if self._next_check is not None:
            text += f", next check in {math.ceil(self._next_check)}s"
        return f"{text} ({reason})"

    @property
    def total(self) -> int | None:
        """How many images the run has: the walk's once it is over, else :meth:`expect`'s."""
        return self.images if self.walk_complete else self.expected

    def walk_finished(self) -> None:
        """Every image is found: from now on the share done and the time left are known."""
        self.walk_complete = True
        if self._images_bar is not None:
            _redraw(self._images_bar)  # its last images may have come too soon to be drawn
        if self._finished_bar is not None:
            self._finished_bar.total = self.images
            self._finished_bar.refresh()

    def time_left(self, now: float) -> float | None:
        """Seconds until the last image is done at the rate so far; None before it is known.

        The rate is that of the images that needed requests (see :meth:`image_finished`),
        and every image left is taken to need them: an estimate on the long side. Time paused
        for a server that was down (:meth:`waiting`) is not in the rate: a week-long run that
        waited out a 10-hour outage on its first day went on saying twice its time left for
        the rest of the week, and while paused the estimate grew by the minute.
        """
        total = self.total
        if total is None or not self.worked or self.finished >= total:
            return None
        rate = self.worked / max(self._working_seconds(now), 1e-9)
        return (total - self.finished) / rate

    def _hourly(self, now: float) -> float:
        """Images an hour at the pace of :meth:`time_left`: what a log says of the pace while
        the total is not known (a week-long walk without a plan ends near the run's end)."""
        return 3600.0 * self.worked / max(self._working_seconds(now), 1e-9)

    def _working_seconds(self, now: float) -> float:
        """Seconds since the start, less the pauses for a server down (the current one too)."""
        paused = self._paused + (now - self._waiting[1] if self._waiting is not None else 0.0)
        return now - self._started - paused

    def publish(self, path: Path, run: str = "", *, keep_fresh: float | None = None) -> None:
        """Keep the latest progress line in ``path`` too, from now on (see the module's
        docstring); written whole (a temporary file renamed), never read back. ``run``: the
        run's id, kept on a line of its own under it (``run ID``), so that ``status`` can
        tell the walk of the run holding the lock from a walk that stopped. Nothing more
        under it: an older version's ``status`` reads all that follows the line as the
        run id (a folder shared by two versions on a cluster).

        Until the first line is due (:data:`LINE_INTERVAL` in) it says the run is starting.
        It said ``progress (0s): 0 images found``, which ``status`` showed for that whole
        first minute with its age ("40s ago"): a run that had found nothing.

        ``keep_fresh``: seconds between two refreshes of the file's time while the run
        lives, whatever happens (:meth:`_keep_fresh`), for a run that holds no lock (no
        ``flock``): nothing else tells ``status`` and the next run that it still lives, and
        a line is written only at an event (a run whose workers all fetch one big stack
        writes none for an hour)."""
        self._live = path
        self._live_tail = f"run {run}\n" if run else ""
        self._write_live(self._starting_text(), time.monotonic())
        if keep_fresh is not None:
            stop = self._fresh_stop = threading.Event()
            threading.Thread(
                target=self._keep_fresh, args=(stop, keep_fresh), name="progress-fresh",
                daemon=True,
            ).start()  # fmt: skip

    def _keep_fresh(self, stop: threading.Event, every: float) -> None:
        """Set the published file's time to now every ``every`` seconds until ``stop``.

        A thread of its own, not a task: the run's tasks may all wait long (a stack's
        planes, a retry) and its event loop must not carry this. A file found gone (taken
        for a stopped run's by another run, this one stalled for that long) is written
        again with the line written last."""
        while not stop.wait(every):
            with self._live_lock:
                live = self._live
                if live is None:
                    return
                try:
                    os.utime(live)
                except FileNotFoundError:
                    with contextlib.suppress(OSError):
                        self._replace_live(live, self._live_text)
                except OSError as exc:  # (the next write, or the next refresh, may do)
                    logger.debug("cannot refresh the progress line in %s: %s", live, exc)

    def unpublish(self) -> None:
        """Stop keeping the line, and remove its file: the run is ending (its lock still
        held, so the file removed is this run's). The line outlived every run that ended
        by itself: a refused run (an unknown ``--image``) left its ``starting:`` line in
        DIR, which it had otherwise not changed."""
        if self._fresh_stop is not None:
            self._fresh_stop.set()
        with self._live_lock:
            live, self._live = self._live, None
            if live is not None:
                with contextlib.suppress(OSError):  # (a file we cannot remove is only stale)
                    live.unlink()

    def _starting_text(self) -> str:
        """What the published line says before the first ``progress:`` line is due: that the
        run is in its first minute, not what it does. It said ``finding the images to
        harvest``, shown by ``status`` beside a --from-plan task's hundreds of files done
        (the plan is read, not walked; and a walk's images are fetched as they are found)."""
        due = duration_text(self._line_interval, tenths=False)
        return f"starting (the first progress line comes {due} in)"

    def _write_live(self, text: str, now: float) -> None:
        """Replace the published line with ``text``, the line of ``now`` (monotonic).

        A write that fails (a full disk, EIO from an NFS server) never fails the run: the
        next write is tried at the first line :data:`PUBLISH_RETRY` later (timed from the
        line's own ``now``: the line due then is not missed by a hair), so that a
        week-long run whose disk filled for an hour goes on showing ``status`` its
        progress (one failure used to stop publishing for the rest of the run). The
        first failure is said in one warning; the others in debug logs only.
        """
        if self._live is None or now < self._live_retry_at:
            return
        try:
            with self._live_lock:
                self._replace_live(self._live, text)
        except OSError as exc:
            self._live_retry_at = now + self._publish_retry
            retry = duration_text(self._publish_retry, tenths=False)
            if self._live_warned:
                logger.debug("cannot keep the progress line in %s: %s", self._live, exc)
            else:
                self._live_warned = True
                logger.warning(
                    "cannot keep the progress line for harvester status in %s (%s): the "
                    "harvest goes on; trying again every %s",
                    self._live,
                    exc.strerror or exc,
                    retry,
                )

    def _replace_live(self, live: Path, text: str) -> None:
        """Write ``text`` (and the run's line) to ``live`` whole: a temporary file renamed
        (removed when that fails: a full disk leaves no torn copy in DIR). Raises OSError."""
        temporary = live.with_name(live.name + ".tmp")
        try:
            temporary.write_text(f"{text}\n{self._live_tail}", encoding="utf-8")
            os.replace(temporary, live)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        self._live_text = text

    def _line(self) -> None:
        """One ``progress:`` line if the interval has passed: on stderr where it is not a
        terminal, and in the :meth:`publish` file."""
        now = time.monotonic()
        if now < self._next_line:
            return
        self._next_line = now + self._line_interval
        text = self._line_text(now)
        self._write_live(text, now)
        if not self.lines:
            return
        try:
            print(text, file=self.file, flush=True)
        except (OSError, ValueError):  # a closed or broken log must not end the run
            self.lines = False

    def _line_text(self, now: float) -> str:
        """``progress (3h07m): 91,204 images found, ...``: the counts and the pause now; while
        the walk lists, its state instead of the images found (:meth:`walking`); in a run
        with a selection, ``... images selected`` (:meth:`selecting`)."""
        walk = self._walk
        counted = (
            f"{plural(self.images, 'image', spec=',')} {'selected' if self.selected else 'found'}"
        )
        parts = [walk() if walk is not None else counted]
        if self.finished:
            done = f"{self.finished:,} finished"
            total = self.total
            if total:
                done += f" ({100 * min(self.finished, total) // total}%"
                left = self.time_left(now)
                if left is not None:
                    done += f", about {duration_text(left, tenths=False)} left"
                done += ")"
            elif self.worked:
                done += f" ({self._hourly(now):,.0f}/h)"
            parts.append(done)
        if self.artifacts or self.failures or self.skips:
            parts.append(
                f"{plural(self.artifacts, 'file', spec=',')} done, {self.failures:,} failed, "
                f"{self.skips:,} skipped, {human_bytes(self.bytes)} stored"
            )
        if self.stack_renders:
            parts.append(f"{plural(self.stack_renders, 'stack render', spec=',')} staged")
        if self._waiting is not None:
            reason, since = self._waiting
            waited = duration_text(now - since, tenths=False)
            waiting = f"waiting for the server for {waited} ({reason})"
            if self._next_check is not None:
                waiting += f", next check in {math.ceil(self._next_check)}s"
            parts.append(waiting)
        elapsed = duration_text(now - self._started, tenths=False)
        return f"progress ({elapsed}): " + ", ".join(parts)

    def _postfix(self, *, force: bool = False) -> None:
        if self._done_bar is None:
            return
        now = time.monotonic()
        if not force and now - self._last_postfix < MIN_INTERVAL:
            return
        self._last_postfix = now
        counts = {"failed": self.failures, "skipped": self.skips}
        if self.stack_renders:  # (only once a stack staged one: other runs show the two)
            counts["stack_renders"] = self.stack_renders
        self._done_bar.set_postfix(refresh=False, **counts)


def request_time_line(artifacts: int, rate: float | None, *, kinds: Iterable[str]) -> str | None:
    """How long ``artifacts`` requests take at ``rate`` (a dry run's or a plan's last line).

    A week-long harvest is planned from this (a SLURM ``--time``, an allocation). One request
    an artifact, the listings not counted; a stack asks one a plane (and pieces of big
    planes) and rois one a page, known only as each image is fetched, so with those kinds it
    is a lower bound. None without a limit.
    """
    if rate is None or artifacts <= 0:
        return None
    several = [why for kind, why in _SEVERAL_REQUESTS.items() if kind in set(kinds)]
    low = "at least " if several else ""
    more = f" ({'; '.join(several)})" if several else ""
    seconds = artifacts / rate
    # (under a second, "0s of requests" read as no time, or as nothing to fetch; a lower
    # bound to its first digit, never rounded to "0.0s": 1 stack at --rate 100 is 0.01s)
    if seconds >= 1:
        took = duration_text(seconds, tenths=False)
    elif several:
        took = f"{seconds:.{max(1, -math.floor(math.log10(seconds)))}f}s"
    else:
        took = "under 1s"
    return f"at --rate {rate:g}/s: {low}{took} of requests{more}"


#: Kinds that may take more than one request an image, and what for.
_SEVERAL_REQUESTS = {"stack": "a stack asks one request a plane", "rois": "rois one a page"}


def human_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB`` ... ``2.0 TiB``: sizes as the summary and progress lines say them."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


#: The bytes bar: its count and rate as :func:`human_bytes` says sizes (``353.6 KiB [00:02,
#: 1.2 MiB/s]``). tqdm's own scaling said ``354kB`` of the same bytes the summary calls
#: ``353.6 KiB`` (and scaled the rate by 1000 whatever its ``unit_divisor``).
BYTES_BAR_FORMAT = "{desc}: {stored} [{elapsed}, {speed}]"


def bar_width(file: TextIO) -> dict[str, Any]:
    """tqdm's size settings for bars on ``file``: the terminal's, followed as it is resized;
    :data:`FALLBACK_COLUMNS` by :data:`FALLBACK_LINES` where the terminal reports a size of
    0 (``script`` with no size set, a serial console). tqdm took 0 lines as too few to show
    any bar, and drew each as a blank line."""
    try:
        size = os.get_terminal_size(file.fileno())
    except (AttributeError, OSError, ValueError):  # not a terminal: tqdm finds its own way
        return {"dynamic_ncols": True}
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": size.columns or FALLBACK_COLUMNS, "nrows": size.lines or FALLBACK_LINES}


def _bytes_bar(tqdm: Any) -> Any:
    """tqdm's class with ``stored`` and ``speed`` for :data:`BYTES_BAR_FORMAT`.

    Made when the bars open, as tqdm is imported only then (see :meth:`Progress.open`).
    """

    class BytesBar(tqdm):  # type: ignore[misc]  # (tqdm has no type hints)
        @property
        def format_dict(self) -> dict[str, Any]:
            values: dict[str, Any] = dict(super().format_dict)
            n, rate, elapsed = values.get("n") or 0, values.get("rate"), values.get("elapsed")
            if rate is None and elapsed:  # no smoothed rate yet: the average, as tqdm says it
                rate = (n - (values.get("initial") or 0)) / elapsed
            values["stored"] = human_bytes(n)
            values["speed"] = f"{human_bytes(rate)}/s" if rate else "?/s"
            return values

    return BytesBar


def _redraw(bar: Any) -> None:
    """Draw ``bar`` now, and note it drawn as tqdm's own update does (the next is paced)."""
    bar.refresh()
    bar.last_print_n = bar.n
    bar.last_print_t = time.time()  # tqdm paces its bars on the wall clock


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

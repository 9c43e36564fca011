"""A run-wide pause while the server is down as a whole, instead of failing image after image.

One request's retries (:mod:`harvester.retry`) last seconds; a maintenance window lasts
minutes to hours. Without this, every worker burned through image after image during it,
each failing after its retries, and the run kept asking the whole time.

The rule (:meth:`Outage.held`): a request whose retries are used up on a *down sign* (429,
502, 503, 504, an answer broken off, a refused connection, silence; see
:func:`is_down_sign`), while no request sent after its last try was answered (a
success, or any whole answer but a down sign: a 404 too; see :func:`shows_server_up`;
"sent": past the run's limits), asks the server's API root (``api/``) once, ahead of the
requests queued at the limits (a check answered less than :data:`FIRST_CHECK` seconds
before is waited out first: a kind the server refuses on its own costs a check every few
seconds, not one a failure). If that answer is a down sign too, two different URLs in a row
say the server is down and the run pauses: no request goes out but one check of ``api/`` at
growing intervals (:data:`FIRST_CHECK` doubling to :data:`CHECK_CAP`; a Retry-After honoured
up to the cap), each through the run's rate limiter. The first check answered by anything
but a down sign ends the pause: every request that hit the outage is asked again with a
fresh retry budget (never counted as failed), and every request held at the gate goes on,
at the limits the run had when a request last succeeded (``on_resume``: the checks' busy
answers, and those that led to the pause, say the server was down, not how much load it
takes). A request failing alone among successes (one image's 503) fails as before.
A request that was already queued at the limits when the pause began (for a slot or a rate
token) gives its slot back once its turn comes and waits too (the client's
``_held_at_limits``): only the checks reach a server the run has found down.

The server check at start (``pipeline.probe_server``) joins the same pause when the API
root stays busy or keeps breaking off its answers through its retry budget
(:meth:`Outage.wait_at_start`): a run, or each task of a SLURM array, started inside a
maintenance window waits it out instead of ending with exit 75. A refused connection or
silence there still fails at once: at the start that is more often a wrong URL or port.

A pause longer than the run's limit (``outage_wait``) gives up, once one last check at the
limit is not answered either. Pauses less than :data:`REJOIN` apart are one outage, whose
paused time the limit counts together (the time up between them not counted); a pause that
joins an outage which used the whole limit still checks once, :data:`FIRST_CHECK` in. Giving up
calls ``on_give_up`` (the pipeline stops the run as an interruption that exits 75, the
images not done still pending); without it, the held requests raise
:class:`ServerUnavailableError`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from harvester.end_lines import server_stayed_down
from harvester.errors import (
    SERVER_BUSY,
    FetchError,
    InvalidBodyError,
    ServerUnavailableError,
    TransportError,
    server_is_there,
    with_status,
)
from harvester.text import duration_text

__all__ = [
    "CHECK_CAP",
    "DEFAULT_OUTAGE_WAIT",
    "FIRST_CHECK",
    "Outage",
    "OutageStats",
    "is_down_sign",
    "shows_server_up",
]

log = logging.getLogger(__name__)

#: How long a run waits for a server that is down before it stops (exit 75): one hour,
#: longer than most maintenance windows, about 60 checks of ``api/`` (63 at most).
DEFAULT_OUTAGE_WAIT = 3600.0
#: Seconds before the first check once the run pauses; doubled after each check.
FIRST_CHECK = 5.0
#: The longest wait between two checks (a Retry-After is honoured up to this).
CHECK_CAP = 60.0
#: Each wait between checks is this much longer at most, at random (1.2: a fifth).
JITTER = 1.2
#: A pause that begins less than this (seconds) after the last one ended continues its
#: outage: the limit counts their paused time together. A server up for a minute between
#: long pauses (restarted again and again in a maintenance window, or flapping) restarted the
#: limit each time and held a run far past it; a server up for longer is back for real (a
#: week-long run meets a maintenance window each night and never stopped for them).
REJOIN = 600.0
#: While paused, ``on_wait`` hears of the pause at least this often (seconds), checks or
#: not: a terminal's bar counts down to the next check, a log gets its line a minute.
TICK = 1.0

#: Asks the server once (no retries, through the rate limiter): None when it answered
#: (anything but a down sign), else the error it answered with.
Check = Callable[[], Awaitable[FetchError | None]]


def is_down_sign(error: FetchError) -> bool:
    """Does ``error`` say the server as a whole may be down, not that this URL is wrong?

    Busy answers (429, 502, 503, 504), answers broken off, and no answer at all (a refused
    connection, silence): not a 404, a 500 or a bad body, which a down server does not give.
    """
    return server_is_there(error) or (isinstance(error, TransportError) and error.status is None)


def shows_server_up(error: FetchError) -> bool:
    """Did a request that failed with ``error`` still get a whole answer from the server, so
    that the server was up when it was sent (:meth:`Outage.succeeded`, as a success is)?

    Any status but a down sign: a 404 or 403 (a stale or private id), a 500 or 501, a
    refused redirect, a 2xx refused for what it holds (a JPEG for a PNG, imgData's
    pixel-buffer Exception). Not a busy answer (429, 502, 503, 504), an answer cut short, no
    answer, a 407 (the proxy's, not the server's), nor a 2xx whose body failed a check that
    something in between may fail it (an HTML page, JSON that does not parse: a maintenance
    or login page served with 200 may stand in for a server that is down).
    """
    status = error.status
    if status is None or status in SERVER_BUSY or status == 407:
        return False
    return not isinstance(error, TransportError | InvalidBodyError)


def _said(error: FetchError) -> str:
    """The answer, without the URL: ``HTTP 503 Service Unavailable``, ``cannot connect (...)``."""
    return with_status(error.status, error.reason)


@dataclass(slots=True)
class OutageStats:
    """What the run's pauses cost, for the summary."""

    pauses: int = 0
    waited: float = 0.0  # seconds paused, every pause
    checks: int = 0


class Outage:
    """The run-wide outage state: shared by every request of one :class:`~harvester.client.Client`.

    ``limit``: the longest pause in seconds, pauses less than :data:`REJOIN` apart counted
    together (0: never pause, the behaviour before this existed). ``on_give_up(reason)`` is
    called once when a pause outlasts it; the callback must stop the requests held (cancel
    their scope). ``on_wait(reason, seconds, next_check)`` is called when a pause begins or
    ends (``reason`` None), after every check, and every :data:`TICK` seconds between checks
    (the progress says the run is waiting, for how long, and how long until the next check),
    with no request of its own.
    """

    def __init__(
        self,
        limit: float,
        *,
        on_give_up: Callable[[str], None] | None = None,
        on_wait: Callable[[str | None, float, float | None], None] | None = None,
    ) -> None:
        self.limit = limit
        self.on_give_up = on_give_up
        self.on_wait = on_wait
        self.stats = OutageStats()
        self.check: Check | None = None  # set by the client that owns this state
        #: Set by that client too: called when a pause ends, it puts the run's limits back as
        #: they were before the outage and says them (None: unchanged).
        self.on_resume: Callable[[], str | None] | None = None
        #: Why the run is paused ("HTTP 503 Service Unavailable"), or None while it is not.
        self.reason: str | None = None
        self._since = 0.0  # monotonic start of the current pause
        # The outage the current pause belongs to (see REJOIN): its pauses that have ended,
        # their seconds, and when the last of them ended.
        self._outage_pauses = 0
        self._outage_paused = 0.0
        self._resumed_at = float("-inf")
        self._next_check: float | None = None  # monotonic time of the next check, if set
        self._last_success = float("-inf")
        self._checking = False  # a task is running the checks (the others wait)
        self._confirming: anyio.Event | None = None  # the check that decides a pause
        self._decided: anyio.Event | None = None  # the last of them answered (not cancelled)
        self._changed = anyio.Event()
        self._gave_up: str | None = None
        self._answered_check = float("-inf")  # when a check deciding a pause was answered
        #: Set (and dropped) by the next success or pause, while a failed request waits in
        #: :meth:`held` for the next check: what it waits to hear may come before that.
        self._news: anyio.Event | None = None
        self._hearing = 0  # the requests waiting for it

    @property
    def enabled(self) -> bool:
        return self.limit > 0 and self.check is not None

    @property
    def paused(self) -> bool:
        """For readers outside; this class tests :attr:`reason`, the one state of a pause."""
        return self.reason is not None

    def paused_for(self) -> float:
        """Seconds the current pause has lasted (0 when not paused)."""
        return time.monotonic() - self._since if self.reason is not None else 0.0

    def waited(self) -> float:
        """Seconds paused in all, the pause under way included (a run stopped while paused:
        its summary says how long it waited)."""
        ongoing = self.paused_for() if self._gave_up is None else 0.0  # (given up: counted)
        return self.stats.waited + ongoing

    def next_check_in(self) -> float | None:
        """Seconds until the next check while paused; None when not paused or when no
        check is scheduled (one is under way, or the pause has only just begun)."""
        if self.reason is None or self._next_check is None:
            return None
        return max(0.0, self._next_check - time.monotonic())

    def succeeded(self, sent: float | None = None) -> None:
        """A request sent at ``sent`` (monotonic; default now) got its answer: the server
        was up then (see :meth:`held`)."""
        self._last_success = max(self._last_success, time.monotonic() if sent is None else sent)
        if self._news is not None:
            self._tell_held()

    async def gate(self) -> None:
        """Return at once unless the run is paused; else once the server is back."""
        if self.reason is not None:
            await self._wait_out()

    async def held(self, error: FetchError, last_try: float) -> bool:
        """A request failed for good with ``error``, its last try sent at ``last_try``
        (monotonic; when it left, past the run's limits, as :meth:`succeeded` is told): True
        once an outage it belongs to is over (ask again), False when it fails on its own
        (raise, as before)."""
        if not self.enabled or not is_down_sign(error):
            return False
        while self.reason is None:
            if self._last_success >= last_try:
                # A request sent after this one's last try was answered (a check's too):
                # the server is up. (Answers to requests sent before it do not count: they
                # may have been served just before the server went down.)
                return False
            early = self._answered_check + FIRST_CHECK - time.monotonic()
            if early <= 0:
                if not await self._confirm(error):
                    return False
                break
            # The API root answered a moment ago, before this try: the failures of a kind
            # the server refuses on its own (every render 503) cost a check every few
            # seconds at most, not one each. They wait for the next one rather than fail
            # at once: a server going down just after a check failed every image meanwhile.
            # Woken early by a success or a pause, which decide it as the next check would.
            await self._hear_news(early)
        await self._wait_out()
        return True

    async def _hear_news(self, within: float) -> None:
        """Wait ``within`` seconds at most for the next success or pause (:meth:`held`).

        Why: a failed request waiting for the next check (up to :data:`FIRST_CHECK`
        seconds) slept it out even when a request sent after its last try was answered a
        moment later, which says the server is up: with renders refused (503) now and then
        beside thumbnails that were answered, each refused render held its worker for
        seconds, idle (200 images, 40% of renders refused: 15.3 s, now 9.7 s, median of 7).
        """
        news = self._news
        if news is None:
            news = self._news = anyio.Event()
        self._hearing += 1
        try:
            with anyio.move_on_after(within):
                await news.wait()
        finally:
            self._hearing -= 1
            if not self._hearing:
                self._news = None  # (none left to tell: none made in this loop outlives it)

    def _tell_held(self) -> None:
        """Wake the requests waiting in :meth:`held` (a success came, or a pause began)."""
        news, self._news = self._news, None
        if news is not None:
            news.set()

    async def wait_at_start(self, error: FetchError) -> None:
        """The server check at start got ``error`` (a busy or broken-off answer of ``api/``)
        through its whole retry budget: pause as a run does mid-way (the same checks, the
        same limit), and return once a check is answered; the caller asks again.

        No confirming check: the failure is the API root's own, so the server is down as a
        whole already. Past the limit, as mid-run: ``on_give_up``, else
        :class:`ServerUnavailableError`. Call it only when :attr:`enabled`.
        """
        if self.reason is None:  # (a head-start request may have paused the run already)
            said = _said(error)
            self._begin(said, f"{said} at the check at start")
        await self._wait_out()

    async def _confirm(self, error: FetchError) -> bool:
        """One check of ``api/`` decides (shared by the requests failing meanwhile):
        True when the server is down (the run is paused then), False when it answered.

        A check cancelled before its answer (its task's scope cancelled: the start-of-run
        requests dropped when the first server check fails) decided nothing: the requests
        waiting on it ask again (another check) rather than fail for good.
        """
        while (pending := self._confirming) is not None:
            await pending.wait()
            if self._decided is pending or self.reason is not None:
                return self.reason is not None
        self._confirming = decided = anyio.Event()
        try:
            assert self.check is not None
            answer = await self.check()
            self.stats.checks += 1
            if answer is None or not is_down_sign(answer):
                self._answered_check = time.monotonic()
            elif self.reason is None:
                self._pause(error, answer)
            self._decided = decided
        finally:
            self._confirming = None
            decided.set()
        return self.reason is not None

    def _pause(self, error: FetchError, check: FetchError) -> None:
        reason, seen = _said(check), _said(error)
        seen += ", its API root too" if seen == reason else f"; its API root: {reason}"
        self._begin(reason, seen)

    def _begin(self, reason: str, seen: str) -> None:
        """Pause the run: ``reason`` is the API root's answer, ``seen`` what the log says."""
        self.reason = reason
        self._since = time.monotonic()
        self.stats.pauses += 1
        self._tell_held()  # (a pause: those waiting for the next check join it now)
        if self._since - self._resumed_at >= REJOIN:  # a new outage, not the last one again
            self._outage_pauses, self._outage_paused = 0, 0.0
        before = ""
        if self._outage_pauses:
            before = (
                f" ({duration_text(self._outage_paused)} of the {duration_text(self.limit)} "
                f"limit went to pauses less than {duration_text(REJOIN)} before)"
            )
        left = self.limit - self._outage_paused
        asking = (
            f"from time to time, for {duration_text(left)} at most"
            if left > 0
            else f"once more, in {duration_text(FIRST_CHECK)}"
        )
        log.warning(
            "the server looks down (%s): pausing every request and asking its API root %s%s",
            seen,
            asking,
            before,
        )
        self._tell()

    async def _wait_out(self) -> None:
        """Wait until the pause ends, running the checks if no other task does."""
        while self.reason is not None:
            if self._gave_up is not None:
                await self._stopped()
            if self._checking:
                await self._changed.wait()
                continue
            self._checking = True
            try:
                await self._check_until_up()
            finally:
                self._checking = False
                self._notify()

    async def _check_until_up(self) -> None:
        """Check at growing intervals until the server answers or the limit is reached."""
        assert self.check is not None
        interval = FIRST_CHECK
        wait = interval
        first = True
        while self.reason is not None:
            left = self._since + self.limit - self._outage_paused - time.monotonic()
            if first and left <= 0:
                # A pause joining an outage that used its limit already (a blip minutes after
                # a long window) checks once, after the usual first interval: it stopped the
                # run at once (exit 75) on a server that answered again seconds later.
                left = wait
            first = False
            if left <= 0:
                self._give_up()
                return
            # Up to a fifth longer, at random: the tasks of a job array that paused together
            # do not all check, and all go on, in the same instant when the server is back.
            # A wait past the limit is cut short there, where one last check decides:
            # without it, a run gave up (exit 75) on a server back since its last check.
            import random  # (not at the top: only a paused run needs it, not every start)

            pause = wait * random.uniform(1.0, JITTER)
            await self._sleep_telling(min(pause, left))
            answer = await self.check()
            self.stats.checks += 1
            if answer is None or not is_down_sign(answer):
                self._resume()
                return
            self.reason = _said(answer)
            if pause >= left:
                self._give_up()
                return
            retry_after = getattr(answer, "retry_after", None)
            interval = min(CHECK_CAP, interval * 2)
            wait = min(CHECK_CAP, retry_after) if retry_after is not None else interval

    async def _sleep_telling(self, seconds: float) -> None:
        """Sleep ``seconds`` until the next check, telling ``on_wait`` every :data:`TICK`:
        checks come up to 72 s apart, and a terminal showed nothing meanwhile."""
        self._next_check = time.monotonic() + seconds
        try:
            left = seconds
            while left > 0:
                self._tell()
                step = min(TICK, left)
                await anyio.sleep(step)
                left -= step
        finally:
            self._next_check = None

    def _tell(self) -> None:
        """Tell ``on_wait`` (the progress line) that the pause began, went on or ended."""
        if self.on_wait is not None:
            self.on_wait(self.reason, self.paused_for(), self.next_check_in())

    def _resume(self) -> None:
        self._resumed_at = time.monotonic()
        waited = self._resumed_at - self._since
        self.stats.waited += waited
        self._outage_pauses += 1
        self._outage_paused += waited
        self.reason = None
        limits = self.on_resume() if self.on_resume is not None else None
        at = f" at {limits}, as before it went down" if limits else ""
        log.warning("the server answers again after %s: going on%s", duration_text(waited), at)
        self.succeeded()
        self._tell()

    def _give_up(self) -> None:
        waited = time.monotonic() - self._since
        self.stats.waited += waited
        down = duration_text(self._outage_paused + waited)
        if self._outage_pauses:
            pauses = self._outage_pauses + 1
            down += f" in {pauses} pauses less than {duration_text(REJOIN)} apart"
        self._gave_up = server_stayed_down(down, str(self.reason))
        log.warning("%s: stopping", self._gave_up)
        if self.on_give_up is not None:
            self.on_give_up(self._gave_up)

    async def _stopped(self) -> None:
        """After giving up: wait to be cancelled (``on_give_up``), or raise without it."""
        assert self._gave_up is not None
        if self.on_give_up is not None:
            await anyio.sleep_forever()
        raise ServerUnavailableError(
            self._gave_up, hint="the server is down: run the same command again later"
        )

    def _notify(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()


#: Seconds per unit of a duration (``90s``, ``30m``, ``2h``, ``1d``).
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
#: A duration of several units, as harvester's own messages say one (``1h00m``, ``4m10s``,
#: ``2d04h``: :func:`harvester.text.duration_text`), spaces allowed between them.
_COMPOUND_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*[smhd]\s*){2,}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_duration(value: object) -> float:
    """``--outage-wait``'s value in seconds: a number of seconds, or ``90s``, ``30m``, ``2h``,
    or several units together, ``1h30m``.

    Why several: "stopped: the server stayed down for 1h00m" said a length that, given back
    to ``--outage-wait``, was refused as "not a duration".
    Raises ValueError with a message for anything else (negative, not finite, unknown unit).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        scale = _DURATION_UNITS.get(text[-1:])
        number = text[:-1] if scale is not None else text
        try:
            seconds = float(number) * (scale or 1.0)
        except ValueError:
            if not _COMPOUND_DURATION.fullmatch(text):
                raise ValueError(
                    f"{value!r} is not a duration (seconds, or a number with s, m, h or d)"
                ) from None
            seconds = sum(
                float(number) * _DURATION_UNITS[unit]
                for number, unit in _DURATION_PART.findall(text)
            )
    else:
        raise ValueError(f"{value!r} is not a duration")
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{value!r} must be 0 (do not wait) or a positive duration")
    return seconds

"""Politeness: a request-rate limit, a concurrency cap, and an overload slowdown.

:class:`TokenBucket` spaces request *starts*: a steady ``rate`` per second
with up to ``burst`` back to back (GCRA, the arithmetic form of a token
bucket), plus a hard guarantee that no window of one second ever holds more
than ``max(floor(rate), burst)`` starts. A plain token bucket does not give
that guarantee (a full bucket plus one second of refill is ``burst + rate``),
and the guarantee is what servers and our emulator measure. The window is
padded by :data:`WINDOW_MARGIN` so that network jitter between our start and
the server's arrival time cannot push one request too many into a window.
Waiters are served first come, first served.

:class:`AdaptiveLimiter` combines a resizable concurrency cap with the bucket
and adapts both (AIMD, like TCP and scrapy's AutoThrottle): an overload signal
(429, 503, 504, timeout) halves concurrency and rate, at most once per
cool-down period, down to floors of 1 request in flight and
:data:`MIN_RATE` per second; a streak of successes adds one slot and a tenth
of the user's rate back, never above the user's settings. Every *attempt*
(retries included) takes a slot and a token, and keeps the slot until its
body is read, so the user's limits hold whatever the retry policy does.

Clocks are monotonic (``time.monotonic``) and injectable for tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable

import anyio

from harvester.text import duration_text

__all__ = [
    "MIN_RATE",
    "WINDOW_MARGIN",
    "AdaptiveLimiter",
    "Slots",
    "Stamp",
    "TokenBucket",
]

log = logging.getLogger(__name__)

#: Seconds added to the one-second window: starts are kept so that any
#: 1.05-second window holds at most the allowed count, leaving 50 ms for
#: jitter between our clock and the server's.
WINDOW_MARGIN = 0.05
#: The adaptive slowdown never goes below this many requests per second.
MIN_RATE = 0.5
#: At most one slowdown per this many seconds: one overload burst (many
#: in-flight requests answered 503 together) must count as one signal.
DEFAULT_COOLDOWN = 2.0
#: Quiet seconds (no overload signal) after which a slowed run recovers one
#: step even without a long success streak: under sporadic overload (a 503
#: now and then) streaks keep breaking, and a run would otherwise sit at the
#: floor long after the server has recovered.
DEFAULT_RECOVER_INTERVAL = 5.0
#: Seconds between two slowdown warnings: the slowdowns between are logged at debug level
#: and counted in the next warning. A server that answers 503 to 2% of requests slowed a
#: run down some 12 times a minute, each a warning: 17,000 lines a day in a week-long run's
#: log, burying its progress lines and any real error.
SLOWDOWN_WARNING_INTERVAL = 600.0


class Stamp:
    """The time of one granted start, refined once the request is really sent.

    A grant is not an arrival: a new connection's handshake, or a busy event
    loop, can delay the request after its grant. The client reports the moment
    the request headers were written (:meth:`TokenBucket.sent`); until then a
    *pending* stamp counts as "inside every current window", so a late send can
    never squeeze into a window that is already full.
    """

    __slots__ = ("pending", "time")

    def __init__(self, time: float, pending: bool) -> None:
        self.time = time
        self.pending = pending


#: Poll interval while the window is full only because of pending stamps.
_PENDING_POLL = 0.005


class TokenBucket:
    """Space request starts to ``rate`` per second with ``burst`` back to back.

    ``await acquire()`` returns when the caller may start one request. The
    number of starts in any window of ``1 + WINDOW_MARGIN`` seconds is at most
    :attr:`window_limit` ``= max(floor(rate), burst, 1)``. Callers that can
    tell when the request actually left (``acquire(track=True)``, then
    :meth:`sent` and :meth:`done`) make the guarantee hold for send times, not
    just grant times.
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_interval",
        "_lock",
        "_rate",
        "_recent",
        "_tat",
        "_window",
    )

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        window: float = 1.0 + WINDOW_MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive number, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._clock = clock
        self._window = window
        self._tat = -math.inf  # GCRA "theoretical arrival time" of the next start
        self._lock = anyio.Lock()
        self._rate = rate
        self._burst = burst
        self._interval = 1.0 / rate
        self._recent: deque[Stamp] = deque()

    @property
    def rate(self) -> float:
        """Current requests per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """Current number of starts allowed back to back."""
        return self._burst

    @property
    def window_limit(self) -> int:
        """Most starts any one-second window may hold."""
        return max(int(self._rate), self._burst, 1)

    def set_rate(self, rate: float, burst: int | None = None) -> None:
        """Change the rate (and burst) for starts not yet granted."""
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive number, got {rate}")
        self._rate = rate
        self._interval = 1.0 / rate
        if burst is not None:
            self._burst = max(1, burst)

    def sent(self, stamp: Stamp) -> None:
        """The request of ``stamp`` has just been written to the socket."""
        stamp.time = max(stamp.time, self._clock())
        stamp.pending = False

    @staticmethod
    def done(stamp: Stamp) -> None:
        """The request of ``stamp`` is over (if never sent, its grant time stands)."""
        stamp.pending = False

    def _ready_at(self, now: float) -> float:
        """Earliest clock time at which the next start conforms (``now`` if it does)."""
        ready = self._tat - (self._burst - 1) * self._interval
        recent = self._recent
        horizon = now - self._window
        # Stamps are in grant order and a send is never before its grant, so a
        # settled stamp at the left that is outside the window stays outside.
        while recent and not recent[0].pending and recent[0].time <= horizon:
            recent.popleft()
        limit = self.window_limit
        if len(recent) < limit:
            return ready
        # Times inside the window; a pending stamp may still arrive now.
        inside = sorted(
            now if s.pending else s.time for s in recent if s.pending or s.time > horizon
        )
        if len(inside) < limit:
            return ready
        kth = inside[-limit]  # the limit-th most recent start
        if kth >= now:  # only pending stamps fill the window: wait for them to be sent
            return max(ready, now + _PENDING_POLL)
        return max(ready, kth + self._window)

    def _grant(self, now: float, track: bool) -> Stamp:
        self._tat = max(self._tat, now) + self._interval
        stamp = Stamp(now, track)
        self._recent.append(stamp)
        return stamp

    def try_acquire(self, *, track: bool = False) -> Stamp | None:
        """Take a start without waiting if one is free and nobody is queued."""
        if self._lock.locked():
            return None
        now = self._clock()
        if now >= self._ready_at(now):
            return self._grant(now, track)
        return None

    async def acquire(self, *, track: bool = False) -> Stamp:
        """Wait for the next start (first come, first served).

        With ``track=True`` the caller must later call :meth:`sent` (when the
        request leaves) and/or :meth:`done` (always, when it is over).
        """
        stamp = self.try_acquire(track=track)
        if stamp is not None:
            return stamp
        # One waiter at a time sleeps; the others queue on the (FIFO) lock. The
        # start is recorded at the *actual* wake-up time, so a late wake-up can
        # never squeeze two starts closer than allowed.
        async with self._lock:
            while True:
                now = self._clock()
                ready = self._ready_at(now)
                if now >= ready:
                    return self._grant(now, track)
                await anyio.sleep(ready - now)


class Slots:
    """A resizable, first-come-first-served counting semaphore with a standby line.

    Unlike ``anyio.CapacityLimiter`` it is not tied to the borrowing task and
    costs no event-loop round trip when a slot is free. Shrinking the limit
    never interrupts holders: new acquirers wait until enough have released.

    Tasks with work in hand queue in :meth:`acquire` and get a released slot at
    once, in order. Tasks without work yet (spare pipeline workers) wait in
    :meth:`standby` instead, which returns when a slot has stayed free for one
    turn of the event loop: so a worker that releases its slot and asks again
    straight away (the next thumbnail) keeps it without handing it over, which
    would delay its next request by a turn of a busy loop; the spares take over
    only when a worker really steps away (a retry's back-off, a stack being
    assembled) and hold no queued work while they wait.
    """

    __slots__ = ("_in_use", "_limit", "_offer_loop", "_standby", "_waiters")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._limit = limit
        self._in_use = 0
        self._waiters: deque[anyio.Event] = deque()
        self._standby: deque[anyio.Event] = deque()
        # The loop an offer is scheduled on (None: none pending). A loop that closed before
        # running it dropped the callback: a later loop schedules its own.
        self._offer_loop: asyncio.AbstractEventLoop | None = None

    @property
    def limit(self) -> int:
        """Slots that may be held at once."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"limit must be >= 1, got {value}")
        self._limit = value
        self._wake()
        self._schedule_offer()

    @property
    def in_use(self) -> int:
        """Slots currently held."""
        return self._in_use

    @property
    def waiting(self) -> int:
        """Tasks queued for a slot."""
        return len(self._waiters)

    @property
    def on_standby(self) -> int:
        """Tasks waiting in :meth:`standby`."""
        return len(self._standby)

    def _free_for_newcomer(self) -> bool:
        """A slot is free and nobody queues for one (so no one is passed over)."""
        return self._in_use < self._limit and not self._waiters

    async def acquire(self, *, first: bool = False) -> None:
        """Take a slot, waiting in line if none is free (at its head with ``first``)."""
        if self._free_for_newcomer():
            self._in_use += 1
            return
        event = anyio.Event()
        if first:
            self._waiters.appendleft(event)
        else:
            self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():  # the slot was handed to us as we were cancelled
                self.release()
            else:
                self._waiters.remove(event)
            raise

    def release(self) -> None:
        """Give a slot back (hands it to the longest waiter, if any)."""
        self._in_use -= 1
        if self._waiters:
            self._wake()
        else:
            self._schedule_offer()

    async def standby(self) -> None:
        """Wait, without taking one, until a slot is free and nobody queues for it.

        Returns at once when that is already so; the caller then takes its work
        and calls :meth:`acquire` (which may still wait: the slot is not reserved).
        """
        if self._free_for_newcomer():
            return
        event = anyio.Event()
        self._standby.append(event)
        try:
            await event.wait()
        except BaseException:
            if not event.is_set():
                self._standby.remove(event)
            raise

    def end_standby(self) -> None:
        """Release every task in :meth:`standby` (the work has run out: let them see it)."""
        while self._standby:
            self._standby.popleft().set()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._limit:
            self._in_use += 1
            self._waiters.popleft().set()

    def _schedule_offer(self) -> None:
        """Offer free slots to standby tasks after this turn of the event loop."""
        if not self._standby:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on asyncio (trio): offer now
            self._offer()
            return
        if self._offer_loop is loop:
            return
        self._offer_loop = loop
        loop.call_soon(self._offer)

    def _offer(self) -> None:
        self._offer_loop = None
        free = self._limit - self._in_use
        while self._standby and free > 0 and not self._waiters:
            self._standby.popleft().set()
            free -= 1


class AdaptiveLimiter:
    """Concurrency cap + rate limit that slow down on overload and recover.

    ``concurrency`` and ``rate`` are the user's ceilings (``rate=None`` means
    no rate limit; then only concurrency adapts). Use
    ``await acquire()`` / ``release()`` around each attempt, and report the
    outcome with :meth:`on_overload` or :meth:`on_success`.
    """

    __slots__ = (
        "_clock",
        "_cooldown",
        "_last_change",
        "_last_decrease",
        "_last_overload",
        "_last_warning",
        "_unsaid",
        "_recover_interval",
        "_settled",
        "_streak",
        "_bucket",
        "_slots",
        "burst",
        "max_concurrency",
        "max_rate",
        "min_rate",
        "overload_events",
        "recover_after",
        "slowdowns",
    )

    def __init__(
        self,
        concurrency: int,
        rate: float | None = None,
        burst: int = 1,
        *,
        min_rate: float = MIN_RATE,
        cooldown: float = DEFAULT_COOLDOWN,
        recover_after: int | None = None,
        recover_interval: float = DEFAULT_RECOVER_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if rate is not None and (not rate > 0 or math.isinf(rate)):
            raise ValueError(f"rate must be a positive number or None, got {rate}")
        self.max_concurrency = concurrency
        self.max_rate = rate
        self.burst = burst
        self.min_rate = min(min_rate, rate) if rate is not None else min_rate
        self._cooldown = cooldown
        # A streak long enough that every in-flight request of the current
        # concurrency has had a chance to see the overload, and then some.
        self.recover_after = recover_after if recover_after is not None else 2 * concurrency + 8
        self._clock = clock
        self._slots = Slots(concurrency)
        self._bucket = TokenBucket(rate, burst, clock=clock) if rate is not None else None
        self._recover_interval = recover_interval
        self._last_decrease = -math.inf
        self._last_overload = -math.inf
        self._last_change = -math.inf
        self._streak = 0
        #: The limits in force when a request last succeeded (see :meth:`forget_outage`).
        self._settled: tuple[int, float | None] = (concurrency, rate)
        self.overload_events = 0
        self.slowdowns = 0
        self._last_warning = -math.inf  # when a slowdown was last said (a warning)
        self._unsaid = 0  # slowdowns since, logged at debug level only

    @property
    def concurrency(self) -> int:
        """Requests currently allowed in flight."""
        return self._slots.limit

    @property
    def rate(self) -> float | None:
        """Requests per second currently allowed (``None``: unlimited)."""
        return self._bucket.rate if self._bucket is not None else None

    @property
    def rate_text(self) -> str:
        """The current rate as the slow-down and recovery messages say it.

        ``5 requests/s``, or ``no rate limit`` for ``--rate none`` (not "rate None").
        """
        rate = self.rate
        return "no rate limit" if rate is None else f"{round(rate, 2):g} requests/s"

    @property
    def in_flight(self) -> int:
        """Requests holding a slot right now."""
        return self._slots.in_use

    @property
    def degraded(self) -> bool:
        """Whether an overload slowdown is in effect."""
        return self._slots.limit < self.max_concurrency or (
            self._bucket is not None
            and self.max_rate is not None
            and self._bucket.rate < self.max_rate
        )

    async def acquire(self, *, first: bool = False) -> Stamp | None:
        """Wait for a concurrency slot, then for a rate token.

        Slot first: a token taken while waiting for a slot would be spent late,
        and several late starts could bunch together inside one window. Returns
        the token's :class:`Stamp` (``None`` without a rate limit): report
        :meth:`sent` when the request leaves, and pass it to :meth:`release`.
        ``first``: the next slot freed is this one's, before the requests
        queued for one (then the tokens of those holding a slot are waited for).
        """
        await self._slots.acquire(first=first)
        bucket = self._bucket
        if bucket is None:
            return None
        stamp = bucket.try_acquire(track=True)
        if stamp is None:
            try:
                stamp = await bucket.acquire(track=True)
            except BaseException:
                self._slots.release()
                raise
        return stamp

    async def acquire_token(self) -> Stamp | None:
        """Take a rate token only (extra requests inside one attempt, e.g. redirects)."""
        if self._bucket is None:
            return None
        return await self._bucket.acquire(track=True)

    def sent(self, stamp: Stamp | None) -> None:
        """The request holding ``stamp`` has been written to the socket."""
        if stamp is not None and self._bucket is not None:
            self._bucket.sent(stamp)

    def release(self, stamp: Stamp | None = None) -> None:
        """Give back the slot taken by :meth:`acquire` (and settle its stamp)."""
        if stamp is not None:
            stamp.pending = False
        self._slots.release()

    async def standby(self) -> None:
        """Wait until a concurrency slot has stayed free (see :meth:`Slots.standby`)."""
        await self._slots.standby()

    def end_standby(self) -> None:
        """Let every task in :meth:`standby` go (see :meth:`Slots.end_standby`)."""
        self._slots.end_standby()

    def on_success(self) -> None:
        """One request succeeded: recover a step towards the user's limits.

        A step is taken after a streak of ``recover_after`` successes, or once
        ``recover_interval`` seconds have passed with no overload signal and no
        other step (whichever comes first), so that sporadic overload does not
        pin the run at its floor.
        """
        if not self.degraded:
            return
        self._settled = (self._slots.limit, self.rate)
        self._streak += 1
        if self._streak < self.recover_after:
            now = self._clock()
            quiet_since = max(self._last_overload, self._last_change)
            if now - quiet_since < self._recover_interval:
                return
        self._streak = 0
        self._last_change = self._clock()
        if self._slots.limit < self.max_concurrency:
            self._slots.limit = self._slots.limit + 1
        bucket = self._bucket
        if bucket is not None and self.max_rate is not None and bucket.rate < self.max_rate:
            new_rate = min(self.max_rate, bucket.rate + max(self.max_rate / 10.0, self.min_rate))
            bucket.set_rate(new_rate, self._burst_for(new_rate))
        self._settled = (self._slots.limit, self.rate)
        log.info("server recovered: concurrency %d, %s", self.concurrency, self.rate_text)

    def forget_outage(self) -> bool:
        """The server is back after a pause for an outage (:mod:`harvester.outage`): go on at
        the limits in force when a request last succeeded. True if they changed.

        The slowdowns since then came from a server that was down, not from the run's load:
        its busy answers (the requests that led to the pause) are no measure of how much it
        takes once it is back. Without this, a run resumed after a maintenance window went on
        at concurrency 1 and half a request a second, and took minutes to recover.
        """
        concurrency, rate = self._settled
        bucket = self._bucket
        changed = concurrency != self._slots.limit or (
            bucket is not None and rate is not None and rate != bucket.rate
        )
        self._streak = 0
        self._last_decrease = self._last_overload = -math.inf
        self._last_change = self._clock()
        if not changed:
            return False
        self._slots.limit = concurrency
        if bucket is not None and rate is not None:
            bucket.set_rate(rate, self._burst_for(rate))
        return True

    def on_overload(self) -> bool:
        """The server signalled overload; halve limits unless recently done. True if slowed."""
        self.overload_events += 1
        self._streak = 0
        now = self._clock()
        self._last_overload = now
        if now - self._last_decrease < self._cooldown:
            return False
        self._last_decrease = now
        self._last_change = now
        changed = False
        if self._slots.limit > 1:
            self._slots.limit = max(1, self._slots.limit // 2)
            changed = True
        bucket = self._bucket
        if bucket is not None and bucket.rate > self.min_rate:
            new_rate = max(self.min_rate, bucket.rate / 2.0)
            bucket.set_rate(new_rate, self._burst_for(new_rate))
            changed = True
        if changed:
            self.slowdowns += 1
            self._say_slowdown(now)
        return changed

    def _say_slowdown(self, now: float) -> None:
        """A warning for the first slowdown and then at most one each
        :data:`SLOWDOWN_WARNING_INTERVAL`, naming the slowdowns not said since; the others
        at debug level (the summary counts them all: ``slowed down 16x``)."""
        said = f"server overloaded: slowing down to concurrency {self.concurrency}, "
        said += self.rate_text
        if now - self._last_warning < SLOWDOWN_WARNING_INTERVAL:
            self._unsaid += 1
            log.debug("%s", said)
            return
        if self._unsaid:
            ago = duration_text(now - self._last_warning, tenths=False)
            times = "once" if self._unsaid == 1 else f"{self._unsaid} times"
            said += f" (slowed down {times} more since this was said {ago} ago)"
        self._last_warning, self._unsaid = now, 0
        log.warning("%s", said)

    def _burst_for(self, rate: float) -> int:
        """Burst scaled with the rate, so a slowed run does not burst at full size."""
        if self.max_rate is None:
            return self.burst
        return max(1, int(self.burst * rate / self.max_rate))

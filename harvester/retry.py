"""The one retry policy of the harvester (the only module that imports tenacity).

What is retried is decided by class, not by message: :class:`TransientError`
and its subclasses (connect/read errors, timeouts, truncated bodies, 408, 429,
500, 502, 503, 504, HTML-instead-of-image) are retried up to ``max_retries``
times; everything else propagates at once.

How long to wait: a server's ``Retry-After`` (already parsed into
``TransientError.retry_after``) takes precedence, capped at
:func:`retry_after_cap`; otherwise capped exponential backoff with *full
jitter* (``uniform(0, min(cap, base * 2**n))``), which spreads retries of many
workers apart instead of synchronising them into waves.

Like stamina, a module-level switch (:func:`zero_waits` / :func:`set_testing`)
makes every wait zero so that tests do not sleep through backoff.

The first attempt runs without tenacity at all (the common case costs one
``try``); tenacity takes over only once an attempt has failed, and replays
that failure as its first attempt so the accounting is exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import anyio

from harvester.errors import TransientError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "DEFAULT_BACKOFF_BASE",
    "DEFAULT_BACKOFF_CAP",
    "DEFAULT_MAX_RETRIES",
    "MAX_RETRY_AFTER",
    "RetryEvent",
    "RetryPolicy",
    "is_testing",
    "parse_retry_after",
    "retry_after_cap",
    "set_testing",
    "zero_waits",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 30.0
#: A Retry-After longer than this is not honoured literally (a misconfigured
#: server must not park a harvest for a day); see :func:`retry_after_cap`.
MAX_RETRY_AFTER = 120.0

_testing = False


def set_testing(testing: bool) -> None:
    """Turn every retry wait into zero (tests) or back to normal."""
    global _testing
    _testing = testing


def is_testing() -> bool:
    """Whether :func:`set_testing` currently zeroes waits."""
    return _testing


@contextmanager
def zero_waits() -> Iterator[None]:
    """Context manager: retries do not wait inside the block (for tests)."""
    previous = _testing
    set_testing(True)
    try:
        yield
    finally:
        set_testing(previous)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None``.

    Accepts delta-seconds (``"120"``, tolerating a fraction) and HTTP-dates
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``); a date in the past means 0. Anything
    unparsable is ignored (``None``) so that the normal backoff applies.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(0.0, seconds)
    import email.utils  # only an HTTP-date Retry-After needs it

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; tolerate a missing zone
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def retry_after_cap(backoff_cap: float) -> float:
    """Longest Retry-After honoured: twice the backoff cap, at most 120 s."""
    return min(MAX_RETRY_AFTER, 2.0 * backoff_cap)


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """Sent to the ``on_retry`` hook before each retry sleep.

    ``attempt`` is the number of the attempt that just failed (1 = first try),
    ``wait`` the seconds about to be slept, ``error`` what failed (its ``url``
    is redacted).
    """

    attempt: int
    wait: float
    error: TransientError

    @property
    def url(self) -> str:
        """The redacted URL of the failed request."""
        return self.error.url


class RetryPolicy:
    """Retry a coroutine function on :class:`TransientError`.

    ``max_retries`` counts retries, not attempts (0 = try once). The policy is
    stateless across calls and safe to share between concurrent tasks.
    """

    __slots__ = (
        "backoff_base",
        "backoff_cap",
        "max_retries",
        "on_retry",
        "longest_retry_after",
        "_max_retry_after",
    )

    def __init__(
        self,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if backoff_base < 0 or backoff_cap < 0:
            raise ValueError("backoff_base and backoff_cap must be >= 0")
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.on_retry = on_retry
        #: A Retry-After longer than this is not waited for here: the failure is raised at
        #: once, for a caller that waits for a server down in its own way (the server check
        #: at start: a maintenance page asking for 15 minutes is an outage, not a blip the
        #: retry budget should sit through, 60 s a retry). None: every retry is waited for.
        self.longest_retry_after: float | None = None
        self._max_retry_after = retry_after_cap(backoff_cap)

    @property
    def max_retry_after(self) -> float:
        """The longest Retry-After a retry waits (:func:`retry_after_cap`; a longer one is
        waited for that long only)."""
        return self._max_retry_after

    def asks_too_long(self, error: BaseException, *, hasty: bool = False) -> bool:
        """Does ``error`` carry a Retry-After longer than :attr:`longest_retry_after`? With
        ``hasty``, longer than a retry waits (:attr:`max_retry_after`) will do too."""
        retry_after = getattr(error, "retry_after", None)
        limit = self.longest_retry_after
        if hasty:
            cap = self._max_retry_after
            limit = cap if limit is None else min(limit, cap)
        return limit is not None and retry_after is not None and retry_after > limit

    def wait_for(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if _testing:
            return 0.0
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(min(max(0.0, retry_after), self._max_retry_after))
        import random  # (not at the top: only a failed request needs it, not every start)

        return random.uniform(0.0, self.ceiling(attempt))

    def ceiling(self, attempt: int) -> float:
        """The longest backoff after failed attempt number ``attempt`` (no Retry-After): what
        a message may promise as "up to" (the jitter waits less)."""
        return min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))

    async def call(
        self, fn: Callable[[], Awaitable[T]], *, hasty: bool = False, tried: int = 0
    ) -> T:
        """``await fn()``, retrying transient failures; re-raises the last error.

        ``hasty``: a failure whose Retry-After is longer than a retry waits is raised at
        once, for a caller that can tell a server down as a whole (a maintenance page
        asking for an hour) from one request's bad luck (the client's outage): sat
        through here, each request spent its whole budget, 60 s a retry, before the run
        could pause for the outage, and a run whose ``--outage-wait`` was minutes went on
        for more than that. ``tried``: tries of the same request already made (a hasty
        call's), which its budget counts: ``fn`` is then a retry, and is tried at most
        ``max_retries + 1 - tried`` times."""
        attempts = self.max_retries + 1 - tried
        try:
            return await fn()
        except TransientError as error:
            if attempts <= 1 or self.asks_too_long(error, hasty=hasty):
                raise
            first: TransientError | None = error
        # Slow path: hand over to tenacity, replaying the first failure. tenacity is imported
        # here, on the first failure, not at start-up (~4 ms of every run's start).
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        async def attempt() -> T:
            nonlocal first
            if first is not None:
                failed, first = first, None
                raise failed
            return await fn()

        retrying = AsyncRetrying(
            sleep=anyio.sleep,
            stop=stop_after_attempt(attempts),
            wait=self._tenacity_wait,
            retry=retry_if_exception(
                lambda exc: (
                    isinstance(exc, TransientError) and not self.asks_too_long(exc, hasty=hasty)
                )
            ),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return await retrying(attempt)

    def _tenacity_wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return self.wait_for(state.attempt_number, error)

    def _before_sleep(self, state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if not isinstance(error, TransientError):  # pragma: no cover - retry predicate
            return
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "retry %d/%d in %.2fs after %s", state.attempt_number, self.max_retries, wait, error
            )
        if self.on_retry is not None:
            self.on_retry(RetryEvent(attempt=state.attempt_number, wait=wait, error=error))

"""Retry policy: what is retried, how often, how long it waits, and what it reports."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import anyio
import pytest

from harvester import retry
from harvester.errors import (
    InvalidBodyError,
    OverloadError,
    PermanentError,
    ServerStatusError,
    TransientError,
    TransportError,
)
from harvester.retry import RetryEvent, RetryPolicy, parse_retry_after


@pytest.fixture
def real_waits() -> Iterator[None]:
    """Turn the unit-test zero-wait switch off for one test."""
    retry.set_testing(False)
    try:
        yield
    finally:
        retry.set_testing(True)


class Flaky:
    """Fails with the given errors in order, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        TransportError("reset"),
        OverloadError("HTTP 503", status=503),
        ServerStatusError("HTTP 500", status=500),
        InvalidBodyError("HTML page"),
    ],
)
async def test_transient_errors_are_retried_until_success(error: TransientError) -> None:
    """Every TransientError subclass is retried and the eventual success returned."""
    fn = Flaky(error, error)
    with anyio.fail_after(5):
        assert await RetryPolicy(max_retries=3).call(fn) == "ok"
    assert fn.calls == 3


async def test_permanent_errors_are_not_retried() -> None:
    """A PermanentError propagates after one attempt."""
    fn = Flaky(PermanentError("HTTP 404", status=404))
    with pytest.raises(PermanentError):
        await RetryPolicy(max_retries=5).call(fn)
    assert fn.calls == 1


async def test_foreign_errors_are_not_retried() -> None:
    """An exception outside the hierarchy (a bug) is not retried."""
    fn = Flaky(KeyError("bug"))
    with pytest.raises(KeyError):
        await RetryPolicy(max_retries=5).call(fn)
    assert fn.calls == 1


async def test_gives_up_after_max_retries_with_last_error() -> None:
    """After max_retries retries the last TransientError itself is raised."""
    errors = [TransportError(f"reset {i}") for i in range(10)]
    fn = Flaky(*errors)
    with pytest.raises(TransportError) as info:
        await RetryPolicy(max_retries=3).call(fn)
    assert fn.calls == 4
    assert info.value is errors[3]


async def test_zero_retries_means_one_attempt() -> None:
    """max_retries=0 tries once."""
    fn = Flaky(TransportError("reset"))
    with pytest.raises(TransportError):
        await RetryPolicy(max_retries=0).call(fn)
    assert fn.calls == 1


async def test_a_retry_after_longer_than_the_limit_is_raised_at_once() -> None:
    """With ``longest_retry_after`` (the server check at start's), a busy answer asking for
    more is raised at its first try and at a later one; a shorter Retry-After is retried."""
    policy = RetryPolicy(max_retries=5)
    policy.longest_retry_after = 30.0
    long_wait = OverloadError("HTTP 503", status=503, retry_after=899.0)
    fn = Flaky(long_wait)
    with pytest.raises(OverloadError):
        await policy.call(fn)
    assert fn.calls == 1
    fn = Flaky(OverloadError("HTTP 429", status=429, retry_after=2.0), long_wait)
    with pytest.raises(OverloadError) as info:
        await policy.call(fn)
    assert (fn.calls, info.value) == (2, long_wait)
    fn = Flaky(*[OverloadError("HTTP 429", status=429, retry_after=30.0)] * 2)
    assert await policy.call(fn) == "ok" and fn.calls == 3


async def test_hook_receives_one_event_per_retry() -> None:
    """The on_retry hook gets a frozen RetryEvent per retry, numbered by failed attempt."""
    events: list[RetryEvent] = []
    first = OverloadError("HTTP 429", status=429, url="http://h/x?bsession=abc")
    second = TransportError("reset")
    fn = Flaky(first, second)
    assert await RetryPolicy(max_retries=5, on_retry=events.append).call(fn) == "ok"
    assert [(e.attempt, e.error) for e in events] == [(1, first), (2, second)]
    assert events[0].url == "http://h/x?bsession=REDACTED"
    assert all(e.wait == 0.0 for e in events)
    with pytest.raises(AttributeError):
        events[0].attempt = 3  # type: ignore[misc]


def test_retry_after_takes_precedence_and_is_capped(real_waits: None) -> None:
    """A server's Retry-After replaces the backoff, capped at twice the backoff cap."""
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=30.0)
    assert policy.wait_for(1, OverloadError("x", retry_after=7.0)) == 7.0
    assert policy.wait_for(1, OverloadError("x", retry_after=0.0)) == 0.0
    assert policy.wait_for(1, OverloadError("x", retry_after=10_000.0)) == 60.0
    assert RetryPolicy(backoff_cap=300.0).wait_for(1, OverloadError("x", retry_after=1e6)) == 120.0


def test_backoff_is_full_jitter_exponential_and_capped(real_waits: None) -> None:
    """Without Retry-After, waits are uniform in [0, min(cap, base * 2**(n-1))]."""
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        waits = [policy.wait_for(attempt, TransportError("x")) for _ in range(300)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # spread over the whole range, not fixed
        assert min(waits) < ceiling * 0.2


def test_zero_waits_switch_zeroes_and_restores() -> None:
    """zero_waits() makes every wait 0 and restores the previous setting."""
    retry.set_testing(False)
    try:
        policy = RetryPolicy(backoff_base=10.0, backoff_cap=10.0)
        with retry.zero_waits():
            assert retry.is_testing()
            assert policy.wait_for(3, OverloadError("x", retry_after=50.0)) == 0.0
        assert not retry.is_testing()
    finally:
        retry.set_testing(True)


async def test_retry_really_sleeps_the_retry_after(real_waits: None) -> None:
    """With waits on, a Retry-After of 0.3 s delays the retry by at least that long."""
    fn = Flaky(OverloadError("HTTP 503", retry_after=0.3))
    start = time.monotonic()
    with anyio.fail_after(5):
        assert await RetryPolicy(max_retries=1).call(fn) == "ok"
    assert time.monotonic() - start >= 0.29


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After parses seconds and HTTP-dates; past dates mean 0; junk means None."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_future_http_date() -> None:
    """An HTTP-date 30 s ahead means a 30 s wait."""
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0)

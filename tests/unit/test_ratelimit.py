"""Rate limit, concurrency slots and the adaptive overload slowdown."""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.ratelimit import WINDOW_MARGIN, AdaptiveLimiter, Slots, TokenBucket


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def max_in_window(times: list[float], window: float) -> int:
    """Most of ``times`` inside any closed interval of length ``window``."""
    times = sorted(times)
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def drive(bucket: TokenBucket, clock: FakeClock, count: int, rng: random.Random) -> list[float]:
    """Grant ``count`` starts, moving the clock in small random steps (jittery callers)."""
    granted: list[float] = []
    while len(granted) < count:
        if bucket.try_acquire():
            granted.append(clock.now)
        else:
            clock.now += rng.choice([0.0005, 0.003, 0.02, 0.07])
    return granted


@settings(max_examples=60, deadline=None, database=None)
@given(
    rate=st.floats(min_value=0.3, max_value=60.0),
    burst=st.integers(min_value=1, max_value=12),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_no_one_second_window_exceeds_max_of_rate_and_burst(
    rate: float, burst: int, seed: int
) -> None:
    """However callers arrive, no 1 s window (+ margin) holds more than max(rate, burst) starts."""
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock=clock)
    granted = drive(bucket, clock, 80, random.Random(seed))
    limit = max(int(rate), burst, 1)
    assert bucket.window_limit == limit
    assert max_in_window(granted, 1.0 + WINDOW_MARGIN - 1e-9) <= limit


def test_burst_then_steady_rate() -> None:
    """A full bucket grants `burst` starts at once, then one per 1/rate seconds."""
    clock = FakeClock()
    bucket = TokenBucket(4.0, 3, clock=clock)
    assert [bucket.try_acquire() is not None for _ in range(4)] == [True, True, True, False]
    clock.now += 0.25
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_long_run_rate_is_close_to_configured() -> None:
    """Over a long run the granted rate is the configured rate, less the jitter margin."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, 1, clock=clock)
    rng = random.Random(1)
    granted: list[float] = []
    while len(granted) < 200:  # callers that sleep until the bucket is ready, waking ~1 ms late
        clock.now = max(clock.now, bucket._ready_at(clock.now)) + rng.uniform(0.0, 0.002)
        if bucket.try_acquire():
            granted.append(clock.now)
    observed = (len(granted) - 1) / (granted[-1] - granted[0])
    assert 9.0 <= observed <= 10.0


def test_pending_start_fills_the_window_until_sent() -> None:
    """A granted but not yet sent request counts as arriving now; its send time then counts."""
    clock = FakeClock()
    bucket = TokenBucket(2.0, 2, clock=clock)
    first = bucket.try_acquire(track=True)
    assert first is not None
    assert bucket.try_acquire(track=True) is not None
    clock.now += 1.2  # the first request was slow to connect: sent only now
    bucket.sent(first)
    clock.now += 0.1
    assert bucket.try_acquire() is None  # first's send is 0.1 s ago: the window is full
    clock.now += 1.0
    assert bucket.try_acquire() is not None


def test_set_rate_changes_spacing() -> None:
    """set_rate() applies to the next starts."""
    clock = FakeClock()
    bucket = TokenBucket(10.0, 1, clock=clock)
    assert bucket.try_acquire()
    bucket.set_rate(1.0)
    clock.now += 0.5
    assert not bucket.try_acquire()
    clock.now += 1.0
    assert bucket.try_acquire()


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_rate_is_refused(rate: float) -> None:
    """A rate that is not a positive finite number is a ValueError."""
    with pytest.raises(ValueError):
        TokenBucket(rate)


async def test_acquire_waits_and_serves_in_arrival_order() -> None:
    """Waiters on the bucket are served first come, first served."""
    bucket = TokenBucket(100.0, 1)
    order: list[int] = []

    async def worker(index: int) -> None:
        await bucket.acquire()
        order.append(index)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for index in range(10):
                tg.start_soon(worker, index)
                await anyio.lowlevel.checkpoint()
    assert order == list(range(10))


async def test_slots_cap_and_fifo_handover() -> None:
    """Slots never lets more than `limit` holders in, and hands over in arrival order."""
    slots = Slots(2)
    order: list[int] = []
    peak = 0

    async def worker(index: int) -> None:
        nonlocal peak
        await slots.acquire()
        try:
            order.append(index)
            peak = max(peak, slots.in_use)
            await anyio.sleep(0.01)
        finally:
            slots.release()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for index in range(8):
                tg.start_soon(worker, index)
                await anyio.lowlevel.checkpoint()
    assert peak == 2
    assert order == list(range(8))
    assert slots.in_use == 0


async def test_slots_shrink_and_grow() -> None:
    """Shrinking the limit holds new acquirers back; growing it lets waiters in."""
    slots = Slots(3)
    for _ in range(3):
        await slots.acquire()
    slots.limit = 1
    slots.release()
    slots.release()
    assert slots.in_use == 1
    entered = anyio.Event()

    async def waiter() -> None:
        await slots.acquire()
        entered.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await anyio.sleep(0.01)
            assert not entered.is_set()
            slots.limit = 2
            await entered.wait()
    assert slots.in_use == 2


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    """A waiter cancelled while queued leaves the count untouched."""
    slots = Slots(1)
    await slots.acquire()
    with anyio.move_on_after(0.05):
        await slots.acquire()
    assert slots.waiting == 0
    slots.release()
    assert slots.in_use == 0


async def test_slots_first_goes_ahead_of_the_queue_and_its_cancel_passes_the_slot_on() -> None:
    """``acquire(first=True)`` (the outage's check) gets the next slot freed before those
    queued, never past the limit; cancelled while waiting, it leaks no slot and the queue's
    head gets it instead."""
    slots = Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def take(name: str, *, first: bool = False) -> None:
        await slots.acquire(first=first)
        order.append(name)
        assert slots.in_use <= slots.limit
        slots.release()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for name in ("a", "b"):
                tg.start_soon(take, name)
                await anyio.lowlevel.checkpoint()
            with anyio.move_on_after(0.02):  # a check cancelled while it waits first
                await slots.acquire(first=True)
            tg.start_soon(lambda: take("check", first=True))
            await anyio.lowlevel.checkpoint()
            assert slots.waiting == 3 and slots.in_use == 1
            slots.release()
    assert order == ["check", "a", "b"]
    assert slots.in_use == 0 and slots.waiting == 0


def test_overload_halves_concurrency_and_rate_once_per_cooldown() -> None:
    """An overload halves both limits; a second signal inside the cool-down does nothing."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, 10.0, clock=clock, cooldown=2.0)
    assert limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    assert not limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    clock.now += 2.5
    assert limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (2, 2.5)
    assert limiter.overload_events == 3
    assert limiter.slowdowns == 2


def test_overload_floors_are_one_request_and_half_a_request_per_second() -> None:
    """Repeated overload never goes below 1 concurrent request and 0.5 r/s."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(32, 20.0, clock=clock)
    for _ in range(20):
        limiter.on_overload()
        clock.now += 10
    assert (limiter.concurrency, limiter.rate) == (1, 0.5)
    assert not limiter.on_overload()


def test_recovery_is_additive_and_never_above_user_settings() -> None:
    """Successes recover one step per streak, up to (never above) the user's limits."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, 10.0, clock=clock, recover_after=5)
    limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    for _ in range(4):
        limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (5, 6.0)
    for _ in range(200):
        limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (8, 10.0)
    assert not limiter.degraded


def test_overload_resets_the_success_streak() -> None:
    """An overload in the middle of a streak restarts it."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, None, clock=clock, recover_after=3, cooldown=0.0)
    limiter.on_overload()
    limiter.on_success()
    limiter.on_success()
    clock.now += 1
    limiter.on_overload()
    assert limiter.concurrency == 2
    limiter.on_success()
    limiter.on_success()
    assert limiter.concurrency == 2
    limiter.on_success()
    assert limiter.concurrency == 3


def test_an_outage_is_forgotten_back_to_the_limits_of_the_last_success() -> None:
    """After an outage the limits are those in force at the last success, not the ones its
    busy answers halved them to (a real slowdown from before the outage stays)."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, 10.0, clock=clock, recover_after=100)
    assert not limiter.forget_outage()  # nothing to forget
    for _ in range(3):  # the server goes down: its 503s halve the limits, 2 s apart
        limiter.on_overload()
        clock.now += 2.5
    assert (limiter.concurrency, limiter.rate) == (1, 1.25)
    assert limiter.forget_outage()
    assert (limiter.concurrency, limiter.rate) == (8, 10.0) and not limiter.degraded
    limiter.on_overload()  # real overload, then a success at (4, 5.0)
    limiter.on_success()
    clock.now += 2.5
    limiter.on_overload()  # the server goes down
    assert (limiter.concurrency, limiter.rate) == (2, 2.5)
    assert limiter.forget_outage()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    assert limiter.on_overload()  # an overload after the outage slows down at once


def test_unlimited_rate_adapts_concurrency_only() -> None:
    """With rate=None only concurrency slows down; the rate stays unlimited."""
    limiter = AdaptiveLimiter(6, None, clock=FakeClock())
    assert limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (3, None)


async def test_acquire_takes_slot_and_token() -> None:
    """acquire() holds a concurrency slot until release()."""
    limiter = AdaptiveLimiter(2, None)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.in_flight == 2
    with anyio.move_on_after(0.05) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    limiter.release()
    limiter.release()
    assert limiter.in_flight == 0


def test_quiet_time_recovers_without_a_long_streak() -> None:
    """After recover_interval seconds with no overload a step is taken, even mid-streak."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, 10.0, clock=clock, recover_after=100, recover_interval=5.0)
    limiter.on_overload()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    clock.now += 4.9
    limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (4, 5.0)
    clock.now += 0.2
    limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (5, 6.0)
    clock.now += 1.0  # the step itself restarts the quiet period
    limiter.on_success()
    assert (limiter.concurrency, limiter.rate) == (5, 6.0)


def test_sporadic_overload_does_not_pin_the_run_at_its_floor() -> None:
    """A 503 every 20 s with successes in between keeps the rate well above the floor."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, 10.0, clock=clock)
    for second in range(600):
        clock.now += 1.0
        if second % 20 == 0:
            limiter.on_overload()
        else:
            limiter.on_success()
    assert limiter.rate is not None and limiter.rate >= 4.0
    assert limiter.concurrency >= 3


async def _spare_on_standby(slots: Slots, tg: TaskGroup) -> anyio.Event:
    """Start a spare worker waiting in ``standby``; the event is set once it is let go."""
    woken = anyio.Event()

    async def spare() -> None:
        await slots.standby()
        woken.set()

    tg.start_soon(spare)
    await anyio.sleep(0.01)
    return woken


async def test_a_worker_that_asks_again_at_once_keeps_its_slot() -> None:
    """Release then acquire in the same turn: no hand-over to a task on standby."""
    slots = Slots(1)
    await slots.acquire()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            woken = await _spare_on_standby(slots, tg)
            assert slots.on_standby == 1
            for _ in range(20):  # one image after another, no await in between
                slots.release()
                await slots.acquire()
            await anyio.sleep(0.01)
            assert not woken.is_set()  # the slot never stayed free
            slots.release()  # the worker steps away (a back-off, a stack being built)
            await woken.wait()
    assert slots.in_use == 0


async def test_a_released_slot_goes_to_a_waiting_acquirer_before_standby() -> None:
    """Work in hand (a retry after its back-off) comes before spares without work."""
    slots = Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def retry() -> None:
        await slots.acquire()
        order.append("retry")
        await anyio.sleep(0.01)
        slots.release()

    async def spare() -> None:
        await slots.standby()
        order.append("spare")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(spare)
            await anyio.sleep(0.01)
            tg.start_soon(retry)
            await anyio.sleep(0.01)
            slots.release()
    assert order == ["retry", "spare"]
    assert slots.in_use == 0


async def test_standby_returns_at_once_when_a_slot_is_free_and_end_standby_frees_all() -> None:
    """standby returns at once with a slot free; end_standby frees every task waiting."""
    slots = Slots(2)
    with anyio.fail_after(1):
        await slots.standby()  # nothing held: no wait
    await slots.acquire()
    await slots.acquire()
    released = 0

    async def spare() -> None:
        nonlocal released
        await slots.standby()
        released += 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(spare)
            await anyio.sleep(0.01)
            assert released == 0 and slots.on_standby == 3
            slots.end_standby()  # the queue has ended: let them all see it
    assert released == 3
    assert slots.in_use == 2


async def test_growing_the_limit_wakes_a_task_on_standby() -> None:
    """Growing the slot limit wakes a task on standby."""
    slots = Slots(1)
    await slots.acquire()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            woken = await _spare_on_standby(slots, tg)
            assert not woken.is_set()
            slots.limit = 2  # recovery after an overload slowdown
            await woken.wait()


def test_slowdowns_are_said_at_most_once_in_ten_minutes(caplog: pytest.LogCaptureFixture) -> None:
    """A server busy now and then slows a run down again and again: the log of a week-long
    run got a warning each time (12 a minute at 2% of 503s); now the first, then one each
    10 minutes at most, counting those not said between."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(64, 100.0, clock=clock)
    with caplog.at_level("WARNING", logger="harvester.ratelimit"):
        for _ in range(5):
            assert limiter.on_overload()
            clock.now += 3.0
        clock.now += 600.0
        assert limiter.on_overload()
    assert caplog.messages == [
        "server overloaded: slowing down to concurrency 32, 50 requests/s",
        "server overloaded: slowing down to concurrency 1, 1.56 requests/s "
        "(slowed down 4 times more since this was said 10m15s ago)",
    ]
    assert limiter.slowdowns == 6

"""Client: retries over real sockets, overload slowdown, and politeness limits."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from harvester import retry
from harvester.client import Client, ClientSettings, Expect
from harvester.errors import OverloadError, PermanentError, TransportError
from harvester.retry import RetryEvent

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 64
HTML = b"<!DOCTYPE html><html><body>Maintenance</body></html>"


def make(server: Any, **kw: Any) -> Client:
    kw.setdefault("rate", None)
    return Client(ClientSettings(base_url=server.base_url, **kw))


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "body": HTML, "content_type": "text/html"},
        {"status": 429, "headers": [("Retry-After", "0")]},
        {"status": 500},
        {"status": 502},
        {"status": 504},
        {"status": 408},
        {"reset": True},
        {"body": JPEG, "content_type": "image/jpeg", "truncate": 20},
        {"body": HTML, "content_type": "text/html"},  # HTML with 200
        {"body": JPEG, "content_type": "image/jpeg", "content_length": len(JPEG) + 5},
    ],
)
async def test_transient_fault_then_success_returns_the_body(
    server: Any, fault: dict[str, Any]
) -> None:
    """Each retryable fault is retried and the eventual good body returned intact."""
    good = server.Reply(body=JPEG, content_type="image/jpeg")
    server.script(server.Reply(**fault), server.Reply(**fault), good)
    with anyio.fail_after(10):
        async with make(server, max_retries=3) as client:
            got = await client.get("t/", Expect.JPEG)
            assert client.stats.retries == 2
            assert client.stats.requests == 3
    assert got.body == JPEG
    assert len(server.requests) == 3


async def test_permanent_status_is_sent_once(server: Any) -> None:
    """A 404 is not retried: one request, PermanentError."""
    server.script(server.Reply(status=404, body=b"nope"))
    with anyio.fail_after(10):
        async with make(server, max_retries=5) as client:
            with pytest.raises(PermanentError):
                await client.get("t/", Expect.JPEG)
    assert len(server.requests) == 1


async def test_exhausted_retries_raise_the_last_error(server: Any) -> None:
    """After max_retries the last TransientError is raised; max_retries+1 requests were sent."""
    server.script(server.Reply(reset=True))
    with anyio.fail_after(10):
        async with make(server, max_retries=2) as client:
            with pytest.raises(TransportError):
                await client.get("t/", Expect.JPEG)
    assert len(server.requests) == 3


async def test_retry_hook_and_retry_after_wait(server: Any) -> None:
    """The on_retry hook sees the server's Retry-After as the wait (seconds form)."""
    events: list[RetryEvent] = []
    server.script(
        server.Reply(status=429, headers=[("Retry-After", "1")]),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    retry.set_testing(False)
    try:
        with anyio.fail_after(10):
            async with Client(
                ClientSettings(server.base_url, rate=None, max_retries=2),
                on_retry=events.append,
            ) as client:
                await client.get("t/", Expect.JPEG)
    finally:
        retry.set_testing(True)
    assert [(e.attempt, e.wait, e.error.status) for e in events] == [(1, 1.0, 429)]
    assert server.requests[1].arrived - server.requests[0].arrived >= 0.95


async def test_retry_after_http_date_in_the_past_means_no_wait(server: Any) -> None:
    """A Retry-After HTTP-date in the past is a zero wait."""
    events: list[RetryEvent] = []
    server.script(
        server.Reply(status=503, headers=[("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")]),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    retry.set_testing(False)
    try:
        with anyio.fail_after(10):
            async with Client(
                ClientSettings(server.base_url, rate=None), on_retry=events.append
            ) as client:
                await client.get("t/", Expect.JPEG)
    finally:
        retry.set_testing(True)
    assert [e.wait for e in events] == [0.0]


async def test_overload_answers_slow_the_client_down(server: Any) -> None:
    """503/429 answers halve the effective concurrency and rate and count as overload events."""
    server.script(
        server.Reply(status=503),
        server.Reply(status=429),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    with anyio.fail_after(10):
        async with make(server, concurrency=8, rate=100.0) as client:
            await client.get("t/", Expect.JPEG)
            assert client.stats.overload_events == 2
            assert client.stats.slowdowns == 1  # second signal fell in the cool-down
            assert client.stats.current_concurrency == 4
            assert client.stats.current_rate == 50.0


async def test_timeouts_count_as_overload(server: Any) -> None:
    """A timed-out attempt of a server that has answered is retried and counted as an
    overload signal."""
    server.script(
        server.Reply(body=JPEG, content_type="image/jpeg"),
        server.Reply(body=JPEG, content_type="image/jpeg", delay=1.0),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    with anyio.fail_after(10):
        async with make(server, timeout=0.2, concurrency=4) as client:
            await client.get("t/", Expect.JPEG)
            got = await client.get("t/", Expect.JPEG)
            assert client.stats.overload_events == 1
            assert client.stats.current_concurrency == 2
    assert got.body == JPEG


async def test_timeouts_before_any_answer_are_not_overload(server: Any) -> None:
    """A timeout before the server has answered anything is retried, not counted as
    overload: nothing says the server is there, let alone busy."""
    server.script(
        server.Reply(body=JPEG, content_type="image/jpeg", delay=1.0),
        server.Reply(body=JPEG, content_type="image/jpeg"),
    )
    with anyio.fail_after(10):
        async with make(server, timeout=0.2, concurrency=4) as client:
            got = await client.get("t/", Expect.JPEG)
            assert client.stats.overload_events == 0
            assert client.stats.current_concurrency == 4
            assert (client.stats.requests, client.stats.retries) == (2, 1)
    assert got.body == JPEG


async def test_concurrency_and_rate_hold_under_faults_and_retries(server: Any) -> None:
    """With faults and retries, the server never sees more than `concurrency` in flight or
    more than `rate` arrivals in any 1-second window."""
    rng = random.Random(3)

    def handler(req: Any) -> Any:
        roll = rng.random()
        if roll < 0.1:
            return server.Reply(status=429, headers=[("Retry-After", "0")], delay=0.03)
        if roll < 0.15:
            return server.Reply(status=503, delay=0.03)
        return server.Reply(body=JPEG, content_type="image/jpeg", delay=0.05)

    server.handler = handler
    with anyio.fail_after(30):
        async with make(server, concurrency=4, rate=20.0, max_retries=10) as client:
            async with anyio.create_task_group() as tg:
                for index in range(20):
                    tg.start_soon(client.get, f"t/{index}/", Expect.JPEG)
            assert client.stats.retries >= 1
    assert server.peak_in_flight <= 4
    assert server.peak_rate(1.0) <= 20


async def test_burst_is_allowed_but_window_is_not_exceeded(server: Any) -> None:
    """With rate 10 and burst 10, at most 10 requests arrive in any 1-second window."""
    server.script(server.Reply(body=JPEG, content_type="image/jpeg"))
    with anyio.fail_after(30):
        async with (
            make(server, concurrency=16, rate=10.0, burst=10) as client,
            anyio.create_task_group() as tg,
        ):
            for index in range(15):
                tg.start_soon(client.get, f"t/{index}/", Expect.JPEG)
    assert server.peak_rate(1.0) <= 10
    assert len(server.requests) == 15


async def test_the_slot_is_held_while_the_body_is_read(server: Any) -> None:
    """Slow answers with concurrency 2 never have three requests in flight."""
    server.script(server.Reply(body=JPEG, content_type="image/jpeg", delay=0.05))
    with anyio.fail_after(10):
        async with make(server, concurrency=2) as client:
            async with anyio.create_task_group() as tg:
                for index in range(8):
                    tg.start_soon(client.get, f"t/{index}/", Expect.JPEG)
            assert client.stats.in_flight == 0
    assert server.peak_in_flight == 2


async def test_overload_error_after_retries_is_overload(server: Any) -> None:
    """When every attempt is 503, the final error is the OverloadError with its status."""
    server.script(server.Reply(status=503, body=HTML, content_type="text/html"))
    with anyio.fail_after(10):
        async with make(server, max_retries=1) as client:
            with pytest.raises(OverloadError) as info:
                await client.get("t/", Expect.JPEG)
    assert info.value.status == 503


async def test_two_clients_sharing_a_limiter_share_the_concurrency_cap(server: Any) -> None:
    """Clients built with the same limiter never exceed its concurrency together."""
    server.script(server.Reply(body=JPEG, content_type="image/jpeg", delay=0.05))
    first = make(server, concurrency=2)
    second = Client(
        ClientSettings(server.base_url, rate=None, concurrency=2), limiter=first.limiter
    )
    with anyio.fail_after(10):
        async with first, second, anyio.create_task_group() as tg:
            for index in range(6):
                tg.start_soon((first if index % 2 else second).get, f"t/{index}/", Expect.JPEG)
    assert server.peak_in_flight == 2


async def test_verify_failures_share_the_retry_budget(server: Any) -> None:
    """A ``verify`` that refuses a body is retried within the same max_retries as the
    network's faults (each retry counted); it never gets a budget of its own."""
    from harvester.client import Fetched
    from harvester.errors import InvalidBodyError

    good = server.Reply(body=JPEG, content_type="image/jpeg")
    server.script(server.Reply(status=503), good, good, good, good)
    verified: list[int] = []

    async def refuse(fetched: Fetched) -> None:
        verified.append(len(fetched.body))
        raise InvalidBodyError("does not decode", url=fetched.url, status=fetched.status)

    with anyio.fail_after(10):
        async with make(server, max_retries=2) as client:
            with pytest.raises(InvalidBodyError, match="does not decode"):
                await client.get("t/", Expect.JPEG, verify=refuse)
            assert client.stats.requests == 3 and client.stats.retries == 2
    assert len(verified) == 2  # the 503 never reached it
    assert len(server.requests) == 3

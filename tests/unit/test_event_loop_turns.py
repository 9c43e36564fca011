"""A request must not wait for more turns of the event loop than its answer needs.

With 32 requests in flight the event loop is busy, and every extra turn a
worker waits between an answer and its next request (a lock's fairness yield,
a queue's checkpoint, a slot handed to another task) adds to every request's
latency: a measurable share of a large harvest's wall time. These tests count
how often the requesting task is scheduled, which is deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_PROJECT_IMAGE_IDS
from harvester.store import Store


@contextmanager
def turns_of_this_task() -> Iterator[list[int]]:
    """Count the times the current task is put back on the event loop's ready queue."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    count = [0]
    call_soon = loop.call_soon

    def counting(callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
        if getattr(callback, "__self__", None) is me:
            count[0] += 1
        return call_soon(callback, *args, context=context)

    loop.call_soon = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        del loop.call_soon


async def _repeat(times: int, action: Callable[[int], Awaitable[object]]) -> int:
    with turns_of_this_task() as count:
        for n in range(times):
            await action(n)
    return count[0]


async def test_a_request_on_a_warm_connection_waits_only_for_its_answer(
    emulator: EmulatorThread,
) -> None:
    """A request on a warm connection takes about one event-loop turn: its answer's arrival."""
    settings = ClientSettings(base_url=emulator.base_url, concurrency=1, rate=None)
    image_ids = DEMO_PROJECT_IMAGE_IDS
    async with Client(settings) as client:
        await client.get(f"webgateway/render_thumbnail/{image_ids[0]}/", Expect.JPEG)

        async def fetch(n: int) -> object:
            image_id = image_ids[n % len(image_ids)]
            return await client.get(f"webgateway/render_thumbnail/{image_id}/", Expect.JPEG)

        turns = await _repeat(40, fetch)
    # One wake-up when the answer arrives (measured: exactly 40), with room for an answer now
    # and then arriving in two reads; one more yield per request (80) fails, as did httpcore's
    # lock acquisitions (160).
    assert turns <= 60


async def test_queueing_a_file_in_the_store_does_not_yield(tmp_path: Path) -> None:
    """Queueing fewer files than a batch in the store never yields to the event loop."""
    async with Store.open(tmp_path / "out", run_id="r1", writer="w1", sync="none") as store:

        async def put(n: int) -> None:
            await store.put_bytes("thumbnail", n, f"images/{n}/thumbnail.jpg", b"\xff\xd8\xff")

        turns = await _repeat(50, put)  # fewer than the batch size: no wait for room
        await store.flush()
    assert turns == 0
    assert len(list((tmp_path / "out" / "images").glob("*/thumbnail.jpg"))) == 50

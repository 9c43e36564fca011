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

import anyio
import anyio.lowlevel

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_PROJECT_IMAGE_IDS
from harvester.models import ImageRef
from harvester.store import Store
from harvester.walk import QueueRoom, Walker


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


async def _walk_into_a_queue_of(
    emulator: EmulatorThread, size: int, *, room: QueueRoom | None, take: int
) -> tuple[int, list[int], BaseException | None]:
    """Walk 200 ids into a queue of ``size`` that one worker empties (it yields after each
    image, as a worker's request does), stopping after ``take`` images. Returns how often
    the walk's task was scheduled, the ids taken, and what the walk ended with."""
    settings = ClientSettings(base_url=emulator.base_url, concurrency=1, rate=None)
    send, receive = anyio.create_memory_object_stream[ImageRef](size)
    taken: list[int] = []
    ended: list[BaseException | None] = [None]
    turns = [0]

    async def walk(walker: Walker) -> None:
        with turns_of_this_task() as count:
            try:
                async with send:
                    await walker.walk(images=list(range(1000, 1200)))
            except anyio.BrokenResourceError as exc:  # (the worker ended: the queue closed)
                ended[0] = exc
        turns[0] = count[0]

    async def work(worker_room: QueueRoom) -> None:
        async with receive, worker_room:
            async for ref in receive:
                worker_room.took()
                taken.append(ref.image_id)
                if len(taken) == take:
                    return
                await anyio.lowlevel.checkpoint()

    async with Client(settings) as client:
        walker = Walker(client, send, labels=False)
        walker.room = room
        async with anyio.create_task_group() as tg:
            tg.start_soon(work, room if room is not None else QueueRoom(size))
            tg.start_soon(walk, walker)
    return turns[0], taken, ended[0]


async def test_a_walk_waiting_on_a_full_queue_is_woken_once_per_half_of_it(
    emulator: EmulatorThread,
) -> None:
    """A walk that lists faster than the workers take (an ids file) waits on the full
    queue: told by the workers (QueueRoom), it is woken once they took half of it, not for
    each image (it was scheduled twice an image: 360 times for these 200)."""
    turns, taken, ended = await _walk_into_a_queue_of(emulator, 20, room=QueueRoom(20), take=200)
    assert taken == list(range(1000, 1200)) and ended is None
    assert turns <= 60  # (38 here: about one wake per 10 images taken)
    without, taken, _ = await _walk_into_a_queue_of(emulator, 20, room=None, take=200)
    assert taken == list(range(1000, 1200))
    assert without >= 200  # (what the walk cost without it)


async def test_a_walk_waiting_for_room_is_woken_when_the_workers_end(
    emulator: EmulatorThread,
) -> None:
    """Workers that end before the walk (the run stops) wake it: it then meets the closed
    queue, as it did before it waited for half the queue; it is not left waiting."""
    with anyio.fail_after(30):  # (a hang guard, not a timing: the walk ends at once)
        _, taken, ended = await _walk_into_a_queue_of(emulator, 20, room=QueueRoom(20), take=25)
    assert taken == list(range(1000, 1025))
    assert isinstance(ended, anyio.BrokenResourceError)


async def test_a_walk_meeting_the_queue_a_stopping_run_closed_ends_by_the_stop(
    emulator: EmulatorThread,
) -> None:
    """A run's stop (its --max-bytes budget, a signal) cancels the workers and a selection's
    stage, which close the queue. A walk that comes back from an answer received as the stop
    began queues the page's images with no checkpoint between them (send_nowait): it met
    the closed queue first and the run ended with an internal error (BrokenResourceError,
    seen on a --where --max-bytes rerun with a queue of 1). It ends by the stop instead."""
    settings = ClientSettings(base_url=emulator.base_url, concurrency=1, rate=None)
    send, receive = anyio.create_memory_object_stream[ImageRef](4)
    async with Client(settings) as client, send:
        walker = Walker(client, send, labels=False)
        receive.close()  # (the workers ended: the stop cancelled them)
        with anyio.CancelScope() as stopping:
            stopping.cancel()
            await walker._emit(ImageRef(image_id=1000))
    assert stopping.cancelled_caught
    assert walker.stats.images == 0  # (not counted as queued)

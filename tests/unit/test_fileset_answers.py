"""FilesetAnswers: the ``paths`` answers held for the other images of a fileset stay
within their memory bound, whatever the size of each answer."""

from __future__ import annotations

import contextlib
import tracemalloc

import anyio

from harvester.fileset_answers import FilesetAnswers

LIMIT = 1024 * 1024


def _answer(fileset: int) -> bytes:
    """A one-file fileset's answer, as IDR gives for a single-image fileset (~100 bytes)."""
    return (
        b'{"repo": ["demo_2/Fileset_%d/x/y.tif"], "client": ["a/y.tif"], "fileset": {"id": %d}}'
        % (fileset, fileset)
    )


def test_many_small_answers_hold_no_more_memory_than_the_bound() -> None:
    """A walk of 100,000 single-image filesets: the memory held (entries included, as
    tracemalloc counts it) stays within the bound; the latest answers are the ones held."""
    tracemalloc.start()
    try:
        held = FilesetAnswers(held_bytes=LIMIT)
        before = tracemalloc.get_traced_memory()[0]
        for fileset in range(900_000_000, 900_100_000):
            held.keep(fileset, _answer(fileset))  # each answer as it arrives
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown <= LIMIT * 1.1, grown
    last = 900_099_999
    assert held._held.get(last) == _answer(last)
    assert 900_000_000 not in held._held


async def _asks_after_waiting(
    answers: FilesetAnswers, fileset: int, inside: list[int], gate: anyio.Event
) -> None:
    """An image of ``fileset`` as the fetcher runs one: waits for an answer held, else asks
    (held inside its block until ``gate``), its turn recorded in ``inside``."""
    if await answers.known(fileset) is None:
        with answers.asking(fileset):
            inside.append(fileset)
            await gate.wait()


async def test_an_answer_held_for_no_other_image_lets_every_waiter_ask_at_once() -> None:
    """An asker whose answer is not held (it named another fileset than the listing's):
    the images that waited all ask at once rather than in turns (each turn would only ask
    the same again, one image at a time behind the others)."""
    answers = FilesetAnswers(held_bytes=LIMIT)
    inside: list[int] = []
    gate = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            with answers.asking(7):
                for _ in range(3):
                    tg.start_soon(_asks_after_waiting, answers, 7, inside, gate)
                await anyio.wait_all_tasks_blocked()
                answers.keep(8, _answer(8))  # (the answer named fileset 8)
            await anyio.wait_all_tasks_blocked()
            assert inside == [7, 7, 7]
            gate.set()


async def test_a_failed_asker_hands_the_question_to_one_waiter() -> None:
    """An asker that fails: one waiter asks next, the others keep waiting for its answer."""
    answers = FilesetAnswers(held_bytes=LIMIT)
    inside: list[int] = []
    gate = anyio.Event()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            with contextlib.suppress(OSError), answers.asking(7):
                for _ in range(3):
                    tg.start_soon(_asks_after_waiting, answers, 7, inside, gate)
                await anyio.wait_all_tasks_blocked()
                raise OSError("the request failed through its retries")
            await anyio.wait_all_tasks_blocked()
            assert inside == [7]
            answers.keep(7, _answer(7))
            gate.set()
    assert inside == [7]

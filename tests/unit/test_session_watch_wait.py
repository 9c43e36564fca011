"""The session watch: refusals told while its check is asked wait for the check's verdict
(so that a run whose session ended sends no request more meanwhile), and the check gets
a concurrency slot although they wait (no deadlock at ``--concurrency 1``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import anyio
import pytest

from harvester import urls
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.app import App, build_site
from harvester.emulator.http import Request, Response
from harvester.errors import FetchError
from harvester.session import CHECK_AFTER, SessionWatch

IMAGE = 1  # (any id: a request without the site's session is refused before any lookup)


class _HeldCheck(App):
    """The demo OMERO.web behind a session this client does not send (every login-required
    view refused), whose answer to the watch's check waits until the test says."""

    def __init__(self) -> None:
        super().__init__(build_site("demo", session_key="key-of-another-login"))
        self.asked = threading.Event()
        self.answer = threading.Event()

    def _handle(self, req: Request) -> Response:
        if req.path == "/" + urls.image_metadata(IMAGE).lstrip("/"):
            self.asked.set()
            self.answer.wait(10)  # (bounded: the test's own bound fails it before)
        return super()._handle(req)


def _client(emu: EmulatorThread, concurrency: int) -> Client:
    return Client(ClientSettings(base_url=emu.base_url, rate=None, concurrency=concurrency))


async def test_refusals_during_the_check_wait_for_its_verdict(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A 403 and a 401 told while the check is on its way do not return before it has
    said; it says the session ended (once), and only then do they return."""
    app = _HeldCheck()
    emu = make_emulator(app=app)
    said: list[str] = []

    async def refused(name: str, status: int, times: int) -> None:
        for _ in range(times):
            await watch.failed(status, urls.image_metadata(IMAGE))
        said.append(name)

    with anyio.fail_after(20):
        async with _client(emu, concurrency=2) as client:
            watch = SessionWatch(client, lambda status, _reason: said.append(f"ended {status}"))
            async with anyio.create_task_group() as tg:
                tg.start_soon(refused, "checker", 403, CHECK_AFTER)
                assert await anyio.to_thread.run_sync(app.asked.wait, 10)  # the check is asked
                tg.start_soon(refused, "403", 403, 1)
                tg.start_soon(refused, "401", 401, 1)
                await anyio.wait_all_tasks_blocked()
                assert said == []  # both told, neither back before the verdict
                app.answer.set()
    assert said[0] == "ended 403" and sorted(said[1:]) == ["401", "403", "checker"], said
    assert "Not logged in" in watch.ended
    assert emu.stats()["by_route"] == {"not_logged_in": {"403": 1}}  # the check, once


async def test_a_check_whose_slot_the_waiters_do_not_hold_answers_at_concurrency_one(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Concurrency 1 and four workers refused, each telling the watch after its request
    (as the fetcher and the walk do): the check needs the one slot while the others wait
    for it, gets it, and its verdict stops every worker; none waits out the bound."""
    emu = make_emulator(app=App(build_site("demo", session_key="key-of-another-login")))
    stopped = anyio.Event()
    refused: list[int] = []

    async def worker(client: Client, watch: SessionWatch) -> None:
        while not watch.ended:
            try:
                await client.get(urls.image_metadata(IMAGE), Expect.JSON)
            except FetchError as exc:
                refused.append(1)
                await watch.failed(exc.status, urls.image_metadata(IMAGE))

    with anyio.fail_after(20):
        async with _client(emu, concurrency=1) as client:
            # A bound far past the test's: only the verdict can let the waiters go.
            watch = SessionWatch(client, lambda _s, _r: stopped.set(), wait_at_most=3600)
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(worker, client, watch)
                await stopped.wait()
    assert "Not logged in" in watch.ended
    # The 3 that start the check, at most one more for each other worker, which waits.
    assert CHECK_AFTER <= len(refused) <= CHECK_AFTER + 3, refused


@pytest.mark.parametrize("verdict", ["alive", "slow"])
async def test_refusals_during_the_check_go_on_after_it_or_after_the_bound(
    make_emulator: Callable[..., EmulatorThread], verdict: str
) -> None:
    """A refusal told during the check goes on once the check found the session alive
    (the refusals were their own); one whose check takes longer than ``wait_at_most``
    goes on after that bound, and the check still says the session ended."""
    app = _HeldCheck()
    emu = make_emulator(app=app)
    said: list[str] = []
    if verdict == "alive":  # the client sends the site's session: the check gets an answer
        app.site.session_key = None

    back = anyio.Event()  # the waiter went on

    async def refused(name: str, times: int) -> None:
        for _ in range(times):
            await watch.failed(403, urls.image_metadata(IMAGE))
        said.append(name)
        if name == "waiter":
            back.set()

    with anyio.fail_after(20):
        async with _client(emu, concurrency=2) as client:
            watch = SessionWatch(
                client,
                lambda status, _reason: said.append(f"ended {status}"),
                wait_at_most=0.2 if verdict == "slow" else 3600,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(refused, "checker", CHECK_AFTER)
                assert await anyio.to_thread.run_sync(app.asked.wait, 10)
                tg.start_soon(refused, "waiter", 1)
                await anyio.wait_all_tasks_blocked()
                assert said == []
                if verdict == "slow":  # it goes on while the check is held
                    with anyio.fail_after(10):
                        await back.wait()
                app.answer.set()
    if verdict == "alive":
        assert sorted(said) == ["checker", "waiter"] and not watch.ended, said
    else:
        assert said == ["waiter", "ended 403", "checker"], said

"""No request goes to a server the run has decided is down, bar the pause's own checks.

The gate before the run's limits keeps every new request out of a pause, but a request
already queued at them (for a concurrency slot or a rate token) when the pause began was
sent once its turn came: a request to a server just found down (IDR's maintenance window),
answered busy and held afterwards. It now gives its slot back and waits for the pause's end
(bounded by ``--outage-wait``, as the others) before it is sent. The same holds for the
stack's ``OPTIONS`` probe of the render limits, which also waits out an outage that used up
its retries instead of giving the defaults to the whole run, and for a redirect's hop
(redirects followed) whose rate token comes due in a pause. An answered probe shows the
server up as a GET's answer does: it spares a check of the API root.

Each test counts, with the emulator's own count of arrivals, the requests that reached the
server between the pause's start and its end, as the run's outage state tells them (in the
run's event loop, as they happen): the pause's checks of the API root and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import pytest

import harvester.outage
from harvester import urls
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.errors import OverloadError, ServerUnavailableError
from harvester.outage import Outage
from harvester.ratelimit import AdaptiveLimiter
from harvester.stack import discover_limits

IMAGES = (9762885, 9762886, 9762887, 9762888)  # four of the demo preset's images
OPTIONS_PATH = f"webgateway/render_image/{IMAGES[0]}/0/0/"


@pytest.fixture(autouse=True)
def short_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first check of a pause 0.2 s in (instead of 5 s)."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", 0.2)


class _PauseWatch:
    """The emulator's arrivals and the outage's checks when its one pause began and ended,
    taken as the outage tells its ``on_wait`` (synchronously, in the run's event loop)."""

    def __init__(self, emu: EmulatorThread, limit: float = 60.0) -> None:
        self.emu = emu
        self.outage = Outage(limit, on_wait=self._on_wait)
        self.began: tuple[int, int] | None = None
        self.ended: tuple[int, int] | None = None

    def _on_wait(self, reason: str | None, _seconds: float, _next: float | None) -> None:
        counts = (self.emu.stats()["requests"], self.outage.stats.checks)
        if reason is None:
            self.ended = counts
        elif self.began is None:
            self.began = counts

    def during(self) -> tuple[int, int]:
        """Requests that reached the server during the pause, and the pause's checks."""
        assert self.began is not None and self.ended is not None, (self.began, self.ended)
        return self.ended[0] - self.began[0], self.ended[1] - self.began[1]


async def test_requests_queued_for_the_slot_wait_out_the_pause(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Four thumbnails at once through one slot, no retries: the first two and the check of
    the API root answered 503 pause the run with the last two queued for the slot. They
    leave once the server is back: only the pause's one check reaches it meanwhile (the
    two queued were sent in the pause), and the four are JPEGs."""
    faults = "first:503*3,only:/webgateway/render_thumbnail/|api_versions"
    emu = make_emulator(preset="demo", faults=faults)
    watch = _PauseWatch(emu)
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    got: dict[int, bytes] = {}
    with anyio.fail_after(20):
        async with Client(settings, outage=watch.outage) as client:

            async def thumbnail(image: int) -> None:
                got[image] = (await client.get(urls.thumbnail(image), Expect.JPEG)).body

            async with anyio.create_task_group() as tg:
                for image in IMAGES:
                    tg.start_soon(thumbnail, image)
    assert watch.during() == (1, 1)
    assert sorted(got) == sorted(IMAGES) and all(b[:2] == b"\xff\xd8" for b in got.values())
    assert watch.outage.stats.pauses == 1 and not watch.outage.paused
    by_route = emu.stats()["by_route"]
    assert by_route["image:thumbnail"] == {"503": 2, "200": 4}
    assert by_route["api_versions"] == {"503": 1, "200": 1}


class _StoppedClock:
    """The limiter's clock, stopped (no rate token comes due) until :meth:`go`, then a
    minute ahead of ``time.monotonic``: a request waiting for its token gets it only then."""

    def __init__(self) -> None:
        self.stopped: float | None = time.monotonic()

    def __call__(self) -> float:
        return self.stopped if self.stopped is not None else time.monotonic() + 60.0

    def go(self) -> None:
        self.stopped = None


async def test_a_request_waiting_for_its_rate_token_waits_out_the_pause(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """--rate 5 --concurrency 2: a thumbnail holding its slot and waiting for its rate token
    when the run pauses (the server check at start, its API root 503) gets the token in the
    pause and still waits for the pause's end: only the pause's two checks reach the server
    meanwhile (the thumbnail was sent between them), and the thumbnail is a JPEG after it."""
    emu = make_emulator(preset="demo", faults="first:503,only:api_versions")
    watch = _PauseWatch(emu)
    outage = watch.outage
    clock = _StoppedClock()
    limiter = AdaptiveLimiter(2, 5.0, 1, clock=clock)
    settings = ClientSettings(emu.base_url, concurrency=2, rate=5.0, max_retries=0)
    busy = OverloadError("HTTP 503 Service Unavailable", url=emu.base_url, status=503)
    got: list[bytes] = []
    with anyio.fail_after(20):
        async with Client(settings, limiter=limiter, outage=outage) as client:
            # The first takes the only token the stopped clock has.
            await client.get(urls.thumbnail(IMAGES[0]), Expect.JPEG)

            async def queued() -> None:
                got.append((await client.get(urls.thumbnail(IMAGES[1]), Expect.JPEG)).body)

            async with anyio.create_task_group() as tg:
                tg.start_soon(queued)
                await anyio.wait_all_tasks_blocked()
                assert limiter.in_flight == 1  # its slot held, its token not due
                tg.start_soon(outage.wait_at_start, busy)  # (pauses before it first waits)
                await anyio.wait_all_tasks_blocked()
                assert outage.paused and emu.stats()["requests"] == 1
                clock.go()  # its token comes due in the pause
    assert watch.during() == (2, 2)
    assert got and got[0][:2] == b"\xff\xd8"
    by_route = emu.stats()["by_route"]
    assert by_route["image:thumbnail"] == {"200": 2}
    assert by_route["api_versions"] == {"503": 1, "200": 1}


async def test_the_options_probe_queued_for_the_slot_waits_out_the_pause(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """One slot, no retries: two thumbnails and the API root answered 503 pause the run with
    a stack's OPTIONS probe of the render limits queued for the slot: the probe is sent
    once the server is back (only the pause's check reaches it meanwhile) and gives the
    server's limits."""
    faults = "first:503*3,only:/webgateway/render_thumbnail/|api_versions"
    emu = make_emulator(preset="demo", mode="microservice", faults=faults)
    watch = _PauseWatch(emu)
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    limits = []
    with anyio.fail_after(20):
        async with Client(settings, outage=watch.outage) as client:

            async def thumbnail(image: int) -> None:
                await client.get(urls.thumbnail(image), Expect.JPEG)

            async def probe() -> None:
                limits.append(await discover_limits(client, IMAGES[0]))

            async with anyio.create_task_group() as tg:
                tg.start_soon(thumbnail, IMAGES[0])
                tg.start_soon(thumbnail, IMAGES[1])
                tg.start_soon(probe)
    assert watch.during() == (1, 1)
    assert [limit.source for limit in limits] == ["options"]
    assert emu.stats()["by_route"]["options"] == {"200": 1}


async def test_an_options_probe_answered_by_a_server_down_waits_for_it(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The OPTIONS probe of the render limits, no retries, answered 503 while the API root
    is 503 too: the run pauses, the probe is asked again once the server is back and gives
    its limits (source "options"), not the defaults for the whole run."""
    emu = make_emulator(
        preset="demo", mode="microservice", faults="first:503*2,only:options|api_versions"
    )
    watch = _PauseWatch(emu)
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    with anyio.fail_after(20):
        async with Client(settings, outage=watch.outage) as client:
            limits = await discover_limits(client, IMAGES[0])
    assert limits.source == "options"
    assert watch.outage.stats.pauses == 1 and watch.during() == (1, 1)
    by_route = emu.stats()["by_route"]
    assert by_route["options"] == {"503": 1, "200": 1}
    assert by_route["api_versions"] == {"503": 1, "200": 1}


REDIRECTED = urls.thumbnail(IMAGES[0]).rstrip("/")  # (the emulator's 301 appends the slash)
BUSY = "HTTP 503 Service Unavailable"


async def _hop_in_the_pause(
    emu: EmulatorThread, watch: _PauseWatch, limit: float = 60.0
) -> tuple[list[bytes], list[Exception], AdaptiveLimiter]:
    """Redirects followed, --rate 5 --concurrency 1, no retries: a thumbnail asked without
    its trailing slash is answered 301, and its hop waits for its rate token (the limiter's
    clock stopped) when the run pauses (the server check at start, its API root 503); the
    token then comes due in the pause. The thumbnail's body (or its error), and the limiter.
    """
    outage = watch.outage
    clock = _StoppedClock()
    limiter = AdaptiveLimiter(1, 5.0, 1, clock=clock)
    settings = ClientSettings(
        emu.base_url, concurrency=1, rate=5.0, max_retries=0, follow_redirects=True
    )
    busy = OverloadError(BUSY, url=emu.base_url, status=503)
    got: list[bytes] = []
    errors: list[Exception] = []

    async def failing(call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except ServerUnavailableError as error:  # (past the limit: the outage's error)
            errors.append(error)

    with anyio.fail_after(20):
        async with Client(settings, limiter=limiter, outage=outage) as client:

            async def redirected() -> None:
                got.append((await client.get(REDIRECTED, Expect.JPEG)).body)

            async with anyio.create_task_group() as tg:
                tg.start_soon(failing, redirected)  # takes the stopped clock's only token
                for _ in range(1000):  # until its 301 is read: its hop then asks for a token
                    if client.answered:
                        break
                    await anyio.sleep(0.01)
                await anyio.wait_all_tasks_blocked()
                assert limiter.in_flight == 1 and emu.stats()["requests"] == 1
                tg.start_soon(failing, lambda: outage.wait_at_start(busy))
                await anyio.wait_all_tasks_blocked()  # (paused before it first waits)
                assert outage.paused and emu.stats()["requests"] == 1
                clock.go()  # the hop's token comes due in the pause
    return got, errors, limiter


async def test_a_redirect_hop_waiting_for_its_rate_token_waits_out_the_pause(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A redirect's hop whose rate token comes due in a pause (see :func:`_hop_in_the_pause`)
    waits for the pause's end, its one slot lent to the checks: only the pause's two checks
    reach the server meanwhile, and the thumbnail is a JPEG after it."""
    emu = make_emulator(preset="demo", faults="first:503,only:api_versions")
    watch = _PauseWatch(emu)
    got, errors, limiter = await _hop_in_the_pause(emu, watch)
    assert watch.during() == (2, 2)
    assert not errors and got and got[0][:2] == b"\xff\xd8"
    by_route = emu.stats()["by_route"]
    assert by_route["slash"] == {"301": 1}
    assert by_route["image:thumbnail"] == {"200": 1}
    assert by_route["api_versions"] == {"503": 1, "200": 1}
    assert limiter.in_flight == 0


async def test_a_redirect_hop_held_past_the_limit_is_never_sent(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A redirect's hop held in a pause that outlasts the run's limit (0.5 s, the API root
    503 throughout) fails with the outage's error, never sent, and its slot is counted back
    once: none left held, none given back twice (a slot too many for the rest of the run)."""
    emu = make_emulator(preset="demo", faults="503:100%,only:api_versions")
    watch = _PauseWatch(emu, limit=0.5)
    got, errors, limiter = await _hop_in_the_pause(emu, watch)
    assert not got and len(errors) == 2  # the thumbnail's and the check at start's
    assert all(str(error).startswith("the server stayed down for") for error in errors)
    by_route = emu.stats()["by_route"]
    assert by_route["slash"] == {"301": 1} and "image:thumbnail" not in by_route
    assert limiter.in_flight == 0


@pytest.mark.parametrize(
    ("mode", "image", "answer"),
    [("microservice", IMAGES[0], "200"), ("omeroweb", 1, "404")],
    ids=["limits", "unknown-image-404"],
)
async def test_an_answered_options_probe_shows_the_server_up(
    make_emulator: Callable[..., EmulatorThread], mode: str, image: int, answer: str
) -> None:
    """A stack's OPTIONS probe answered (its limits, or a 404 as a GET's stale id is) shows
    the server up as a GET's answer does: a request whose last try left before the probe
    and used its retries on a 503 then fails on its own, with no check of the API root."""
    emu = make_emulator(preset="demo", mode=mode)
    outage = Outage(60.0)
    settings = ClientSettings(emu.base_url, concurrency=1, rate=None, max_retries=0)
    busy = OverloadError(BUSY, url=emu.base_url, status=503)
    with anyio.fail_after(20):
        async with Client(settings, outage=outage) as client:
            last_try = time.monotonic()  # (the busy request's last try left before the probe)
            await discover_limits(client, image)
            held = await outage.held(busy, last_try)
    assert not held and outage.stats.checks == 0 and not outage.paused
    assert emu.stats()["by_route"] == {"options": {answer: 1}}


@pytest.mark.parametrize(("concurrency", "rate"), [(1, None), (4, None), (1, 5.0)])
async def test_a_run_cancelled_in_a_pause_holds_no_slot(
    make_emulator: Callable[..., EmulatorThread], concurrency: int, rate: float | None
) -> None:
    """Twelve thumbnails, the server 503 throughout: the run pauses with requests at the
    gate and queued at the limits, and is cancelled there (Ctrl-C, the run's end): every
    slot is given back once, none held and none twice (the limiter counts 0 in flight)."""
    emu = make_emulator(preset="demo", faults="503:100%")
    paused = anyio.Event()
    outage = Outage(60.0, on_wait=lambda reason, _s, _n: None if reason is None else paused.set())
    limiter = AdaptiveLimiter(concurrency, rate, 1)
    settings = ClientSettings(emu.base_url, concurrency=concurrency, rate=rate, max_retries=0)
    with anyio.fail_after(20):
        async with Client(settings, limiter=limiter, outage=outage) as client:

            async def thumbnail(n: int) -> None:
                await client.get(f"{urls.thumbnail(IMAGES[n % 4])}?n={n}", Expect.JPEG)

            async with anyio.create_task_group() as tg:
                for n in range(12):
                    tg.start_soon(thumbnail, n)
                await paused.wait()
                await anyio.sleep(0.3)  # (the queued requests meet the pause meanwhile)
                tg.cancel_scope.cancel()
    assert outage.stats.pauses == 1 and outage.stats.checks >= 1
    assert limiter.in_flight == 0

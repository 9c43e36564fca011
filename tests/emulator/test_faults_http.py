"""Every fault kind, observed the way a client sees it over a real socket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx
import pytest

from harvester.emulator import EmulatorThread
from harvester.emulator.gates import GateTimeout

Factory = Callable[..., EmulatorThread]


def _emu(make_emulator: Factory, fake_app: Any, faults: str) -> EmulatorThread:
    return make_emulator(app=fake_app, faults=faults)


def test_reset_mid_body(make_emulator: Factory, fake_app: Any) -> None:
    """reset: the client gets headers and part of the body, then a broken connection."""
    emu = _emu(make_emulator, fake_app, "reset:100%")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(f"{emu.base_url}/thumb/200000/", timeout=5)
    assert emu.stats()["faults"] == {"reset": 1}


def test_drop_closes_before_any_byte(make_emulator: Factory, fake_app: Any) -> None:
    """drop: the connection closes with no byte of an answer (no status line at all)."""
    emu = _emu(make_emulator, fake_app, "drop:100%")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        httpx.get(f"{emu.base_url}/thumb/10/", timeout=5)
    assert emu.stats()["faults"] == {"drop": 1}


def test_truncate_short_body(make_emulator: Factory, fake_app: Any) -> None:
    """truncate: fewer bytes than Content-Length announce, then the connection closes."""
    emu = _emu(make_emulator, fake_app, "truncate:100%")
    with (
        httpx.Client(base_url=emu.base_url, timeout=5) as client,
        client.stream("GET", "/thumb/10000/") as r,
    ):
        assert r.headers["content-length"] == "10000"
        received = bytearray()
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message"):
            for chunk in r.iter_raw():
                received += chunk
    assert len(received) == 5000


def test_trickle_delivers_whole_body_in_pieces(make_emulator: Factory, fake_app: Any) -> None:
    """trickle: the body is complete and correct but arrives in several slow pieces."""
    emu = _emu(make_emulator, fake_app, "trickle:100%,trickle-delay:20ms")
    expected = httpx.get(f"{emu.base_url}/__emulator__/health").status_code
    assert expected == 200
    with (
        httpx.Client(base_url=emu.base_url, timeout=5) as client,
        client.stream("GET", "/thumb/8000/") as r,
    ):
        chunks = list(r.iter_raw())
    assert b"".join(chunks) == bytes((i * 7) % 251 for i in range(8000))
    assert len(chunks) >= 2
    assert emu.stats()["faults"] == {"trickle": 1}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_status_faults_are_html_pages(make_emulator: Factory, fake_app: Any, status: int) -> None:
    """5xx faults answer that status with an HTML error page, counted under the route."""
    emu = _emu(make_emulator, fake_app, f"{status}:100%")
    r = httpx.get(f"{emu.base_url}/json/", timeout=5)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert str(status).encode() in r.content
    assert emu.stats()["by_route"] == {"json": {str(status): 1}}
    assert fake_app.calls == 0


def test_429_retry_after_seconds_and_date(make_emulator: Factory, fake_app: Any) -> None:
    """429 carries Retry-After as delta seconds or as an HTTP-date in the future."""
    emu = _emu(make_emulator, fake_app, "429:100%,retry-after:2s")
    r = httpx.get(f"{emu.base_url}/json/", timeout=5)
    assert (r.status_code, r.headers["retry-after"]) == (429, "2")
    emu = _emu(make_emulator, fake_app, "429:100%,retry-after:3s|date,seed:5")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        values = {client.get("/json/").headers["retry-after"] for _ in range(30)}
    assert "3" in values
    dates = [v for v in values if v != "3"]
    assert dates
    assert parsedate_to_datetime(dates[0]).timestamp() >= time.time()


def test_html200_replaces_the_answer(make_emulator: Factory, fake_app: Any) -> None:
    """html200: status 200 but an HTML page where a thumbnail was expected."""
    emu = _emu(make_emulator, fake_app, "html200:100%")
    r = httpx.get(f"{emu.base_url}/thumb/100/", timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.content.lstrip().startswith(b"<!DOCTYPE html>")


def test_corrupt_keeps_length_head_and_tail(make_emulator: Factory, fake_app: Any) -> None:
    """corrupt: the real answer, same length and ends, its middle third's bytes inverted."""
    emu = _emu(make_emulator, fake_app, "first:corrupt")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        damaged, real = client.get("/thumb/3000/").content, client.get("/thumb/3000/").content
    assert len(damaged) == len(real) == 3000
    assert damaged[:1000] == real[:1000] and damaged[2000:] == real[2000:]
    assert damaged[1000:2000] == bytes(255 - b for b in real[1000:2000])
    assert emu.stats()["faults"] == {"corrupt": 1}


def test_trailer_appends_crlf_counted_in_content_length(
    make_emulator: Factory, fake_app: Any
) -> None:
    """trailer: the real answer with CRLF after it, its Content-Length counting it."""
    emu = _emu(make_emulator, fake_app, "first:trailer")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        trailed, real = client.get("/thumb/3000/"), client.get("/thumb/3000/")
    assert trailed.content == real.content + b"\r\n"
    assert trailed.headers["content-length"] == "3002"
    assert emu.stats()["faults"] == {"trailer": 1}


def test_first_answers_are_scripted(make_emulator: Factory, fake_app: Any) -> None:
    """first:html200|ok: the first answer is an HTML page with 200, the next ones are real."""
    emu = _emu(make_emulator, fake_app, "first:html200|ok")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        answers = [client.get("/json/") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert answers[0].headers["content-type"].startswith("text/html")
    assert [r.json()["path"] for r in answers[1:]] == ["/json/", "/json/"]
    assert emu.stats()["faults"] == {"html200": 1}


def test_exception_injection_reaches_imgdata_only(make_emulator: Factory, fake_app: Any) -> None:
    """exception: imgData answers 200 + "Exception"; other routes are untouched."""
    emu = _emu(make_emulator, fake_app, "exception:100%")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        r = client.get("/webgateway/imgData/5/")
        assert r.status_code == 200
        assert "Exception" in r.json()
        assert client.get("/json/").json()["inject"] == []


def test_maintenance_window_answers_503_html(make_emulator: Factory, fake_app: Any) -> None:
    """Inside the maintenance window every request gets a 503 HTML page; before it, none."""
    emu = _emu(make_emulator, fake_app, "maintenance:1h@0s")
    r = httpx.get(f"{emu.base_url}/json/", timeout=5)
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")
    assert b"maintenance" in r.content
    assert int(r.headers["retry-after"]) > 3000
    later = _emu(make_emulator, fake_app, "maintenance:1h@1h")
    assert httpx.get(f"{later.base_url}/json/", timeout=5).status_code == 200


def test_ratelimit_answers_429_past_n_per_second(make_emulator: Factory, fake_app: Any) -> None:
    """ratelimit:N/s lets N requests through per second per client, then answers 429."""
    emu = _emu(make_emulator, fake_app, "ratelimit:3/s")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        statuses = [client.get("/json/").status_code for _ in range(8)]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses
    assert emu.stats()["faults"]["ratelimit"] == statuses.count(429)


def test_only_restricts_faults_to_prefixes(make_emulator: Factory, fake_app: Any) -> None:
    """only:/thumb/ faults thumbnails and leaves other paths alone; control paths never fault."""
    emu = _emu(make_emulator, fake_app, "503:100%,only:/thumb/")
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        assert client.get("/json/").status_code == 200
        assert client.get("/thumb/10/").status_code == 503
        assert client.get("/__emulator__/stats").status_code == 200
    by_route = _emu(make_emulator, fake_app, "503:100%,only:image:*")
    with httpx.Client(base_url=by_route.base_url, timeout=5) as client:
        assert client.get("/json/").status_code == 200
        assert client.get("/thumb/10/").status_code == 503


async def test_peak_concurrency_counts_slow_parallel_requests(
    make_emulator: Factory, fake_app: Any
) -> None:
    """N parallel requests held by latency give peak_concurrency N and peak_rate_1s N."""
    emu = _emu(make_emulator, fake_app, "latency:600ms")
    n = 8
    async with httpx.AsyncClient(
        base_url=emu.base_url, limits=httpx.Limits(max_connections=n), timeout=10
    ) as client:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(client.get, f"/thumb/{i + 1}/")
    stats = emu.stats()
    assert stats["peak_concurrency"] == n
    assert stats["peak_rate_1s"] == n
    assert stats["peak_rate_1s_by_client"] == {"127.0.0.1": n}
    assert stats["in_flight"] == 0
    assert stats["by_route"] == {"image:thumb": {"200": n}}


def test_same_seed_same_faults_over_http(make_emulator: Factory, fake_app: Any) -> None:
    """Two emulators with the same spec and seed fault the same requests of a sequence."""
    spec = "500:20%,503:20%,429:10%,seed:11"

    def statuses() -> list[int]:
        emu = _emu(make_emulator, fake_app, spec)
        with httpx.Client(base_url=emu.base_url, timeout=5) as client:
            return [client.get(f"/json/{i}/").status_code for i in range(40)]

    first = statuses()
    assert first == statuses()
    assert {200, 500, 503, 429} <= set(first)


def test_repeated_image_requests_are_counted(make_emulator: Factory, fake_app: Any) -> None:
    """A second 200 for the same image URL counts as repeated; retries after faults do not."""
    emu = make_emulator(app=fake_app)
    with httpx.Client(base_url=emu.base_url, timeout=5) as client:
        for path in ("/thumb/10/", "/thumb/11/", "/thumb/10/", "/json/", "/json/"):
            client.get(path)
    stats = emu.stats()
    assert (stats["image_requests"], stats["image_requests_repeated"]) == (3, 1)
    assert stats["requests_by_client"] == {"127.0.0.1": 5}
    faulty = _emu(make_emulator, fake_app, "truncate:100%")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{faulty.base_url}/thumb/10/", timeout=5)
    assert faulty.stats()["image_requests_repeated"] == 0


def test_client_leaving_early_is_recorded(make_emulator: Factory, fake_app: Any) -> None:
    """A client that times out during latency shows up as a client_closed fault."""
    emu = _emu(make_emulator, fake_app, "latency:2s")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{emu.base_url}/thumb/10/", timeout=0.2)
    for _ in range(200):
        if emu.stats()["in_flight"] == 0:
            break
        time.sleep(0.01)
    stats = emu.stats()
    assert stats["faults"] == {"client_closed": 1}
    assert stats["image_requests_repeated"] == 0


def _get_in_thread(url: str, answers: list[httpx.Response | BaseException]) -> threading.Thread:
    """GET ``url`` on a thread of its own (the answer, or what it raised, into ``answers``)."""

    def get() -> None:
        try:
            answers.append(httpx.get(url, timeout=30))
        except BaseException as exc:  # handed to the test's thread
            answers.append(exc)

    thread = threading.Thread(target=get)
    thread.start()
    return thread


def test_hold_keeps_answers_until_released(make_emulator: Factory, fake_app: Any) -> None:
    """first:ok|hold,hold:NAME: the second answer waits until ``release(NAME)``; other paths
    and the first answer are not held; once released, the held answer is the real one and
    later ones pass."""
    emu = _emu(make_emulator, fake_app, "first:ok|hold,hold:listing,only:/json/")
    assert httpx.get(f"{emu.base_url}/json/", timeout=5).json()["path"] == "/json/"
    answers: list[httpx.Response | BaseException] = []
    thread = _get_in_thread(f"{emu.base_url}/json/?n=2", answers)
    emu.wait_held("listing", 1, timeout_s=30)
    assert httpx.get(f"{emu.base_url}/thumb/10/", timeout=5).status_code == 200
    assert answers == []  # (still held: a path only: leaves alone was answered meanwhile)
    emu.release("listing")
    thread.join(30)
    assert [r.status_code for r in answers if isinstance(r, httpx.Response)] == [200]
    assert httpx.get(f"{emu.base_url}/json/", timeout=5).status_code == 200  # open now


def test_hold_then_a_fault_answers_it_once_released(make_emulator: Factory, fake_app: Any) -> None:
    """first:ok|hold+503,hold:NAME: the second answer waits at the gate, and once released it
    is the fault (a 503 page), not the real answer; the answers after it are real."""
    emu = _emu(make_emulator, fake_app, "first:ok|hold+503,hold:listing,only:/json/")
    assert httpx.get(f"{emu.base_url}/json/", timeout=5).status_code == 200
    answers: list[httpx.Response | BaseException] = []
    thread = _get_in_thread(f"{emu.base_url}/json/?n=2", answers)
    emu.wait_held("listing", 1, timeout_s=30)
    assert answers == []
    emu.release("listing")
    thread.join(30)
    assert [r.status_code for r in answers if isinstance(r, httpx.Response)] == [503]
    assert httpx.get(f"{emu.base_url}/json/", timeout=5).status_code == 200


def test_a_gate_never_released_fails_loudly(make_emulator: Factory, fake_app: Any) -> None:
    """hold-timeout: a held answer not released in time gets a 503 page naming the gate,
    and the late release raises GateTimeout instead of letting the test pass."""
    emu = _emu(make_emulator, fake_app, "hold:forgotten,hold-timeout:200ms")
    answer = httpx.get(f"{emu.base_url}/json/", timeout=30)
    assert answer.status_code == 503
    assert "hold:forgotten" in answer.text
    with pytest.raises(GateTimeout, match="'forgotten' held an answer for 0.2s"):
        emu.release("forgotten")


def test_a_reset_closes_the_gate_again(make_emulator: Factory, fake_app: Any) -> None:
    """A gate released before any request holds none; ``reset_stats()`` closes it again and
    zeroes its count, and POST /__emulator__/release/NAME opens it over HTTP."""
    emu = _emu(make_emulator, fake_app, "hold:g")
    emu.release("g")
    assert httpx.get(f"{emu.base_url}/json/", timeout=5).status_code == 200
    emu.reset_stats()
    answers: list[httpx.Response | BaseException] = []
    thread = _get_in_thread(f"{emu.base_url}/json/", answers)
    emu.wait_held("g", 1, timeout_s=30)
    released = httpx.post(f"{emu.base_url}/__emulator__/release/g", timeout=5)
    assert released.json() == {"released": "g", "held": 1}
    thread.join(30)
    assert [r.status_code for r in answers if isinstance(r, httpx.Response)] == [200]
    with pytest.raises(TimeoutError, match="gate 'other': 0 of 1 answers held"):
        emu.wait_held("other", 1, timeout_s=0.1)

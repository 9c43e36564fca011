"""A run started while the server is in maintenance: waited for, or one honest error line.

The server probe fails fast on a host that does not answer (one retry), but a server that
answers 503 is there and asks to come back later: the probe gives it the run's whole retry
budget (found by the soak script: a SLURM task started inside a maintenance window ended at
once with "cannot reach ... 503" and a hint to check --base-url).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.retry import zero_waits

PROJECT = "51"  # the demo preset's project: 8 images


def harvest(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str
) -> tuple[int, str]:
    code = main(
        ["harvest", "--base-url", base_url, "--project", PROJECT, "--out", str(out),
         "--artifacts", "thumbnail", "--rate", "none", "--quiet", *extra]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("status", ["503", "500"])
def test_a_busy_server_at_start_is_waited_for(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    status: str,
) -> None:
    """The server's API root answers 503 (or 500: OMERO.web's Django erring under load)
    three times, then 200 (seeded): more than the probe's quick retry covers, within the
    run's retry budget: everything is harvested (a 500 ended the run after two tries)."""
    emu = make_emulator(preset="demo", faults=f"{status}:60%,only:api_versions,seed:64")
    code, err = harvest(capsys, emu.base_url, tmp_path / "d")
    assert code == 0, err
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == 8
    assert emu.stats()["by_route"]["api_versions"] == {status: 3, "200": 1}


def test_a_server_still_busy_is_one_line_that_says_so(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Still 503 after the retries, with --outage-wait 0 (no pause, as before the run waited
    for a server down at start): exit 75 (EX_TEMPFAIL, "try again later", which a wrapper
    can tell from a mistake's 2), the server's answer named as such, a hint to come back (not
    to check --base-url), and no output folder left behind."""
    emu = make_emulator(preset="demo", faults="503:100%,only:api_versions")
    out = tmp_path / "d"
    code, err = harvest(capsys, emu.base_url, out, "--max-retries", "2", "--outage-wait", "0")
    assert code == 75
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: {emu.base_url}/ is unavailable: "), lines
    assert "503" in lines[0] and "(maintenance or overload)" in lines[0]
    hint = "hint: the server asks to come back later: run the same command again then"
    assert lines[1:] == [hint]
    assert emu.stats()["by_route"]["api_versions"] == {"503": 2 + 3}  # quick try, then budget
    assert not out.exists()


def test_a_server_error_at_start_is_not_called_unreachable(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root answers 500 (a server that is there, failing) through the whole retry
    budget: the error said "cannot reach" it and the hint "nothing answers on this machine's
    port P: start the server", both untrue. One line that says what it answered, a hint to
    try later, exit 75 (try again later: it was 2, a mistake to fix, which a cron job or a
    shell loop retrying on 75 took as the end), no output folder."""
    emu = make_emulator(preset="demo", faults="500:100%,only:api_versions")
    out = tmp_path / "d"
    code, err = harvest(capsys, emu.base_url, out, "--max-retries", "1")
    assert code == 75
    assert emu.stats()["by_route"]["api_versions"] == {"500": 2 + 2}  # quick try, then budget
    lines = err.strip().splitlines()
    assert lines == [
        f"error: {emu.base_url}/ answered its API root (api/) with HTTP 500 Internal Server Error",
        "hint: the server is there but failing: try again later; if it keeps failing, tell "
        "its administrators, or check --base-url",
    ]
    assert not out.exists()


def test_answers_that_break_off_at_start_are_retried_with_the_budget(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root's answer is reset three times, then whole (seeded): a server that is
    there, so the probe retries past its quick try and the run harvests everything (found
    by the soak: one reset too many at the probe ended a run with 'cannot reach')."""
    emu = make_emulator(preset="demo", faults="reset:60%,only:api_versions,seed:64")
    code, err = harvest(capsys, emu.base_url, tmp_path / "d")
    assert code == 0, err
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == 8
    assert emu.stats()["faults"] == {"reset": 3}


def test_answers_that_keep_breaking_off_are_one_line_that_says_so(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Every answer of the API root reset, --outage-wait 0: exit 75, one line naming what
    happens (not 'cannot reach' with a hint to check --base-url), no output folder."""
    emu = make_emulator(preset="demo", faults="reset:100%,only:api_versions")
    out = tmp_path / "d"
    code, err = harvest(capsys, emu.base_url, out, "--max-retries", "2", "--outage-wait", "0")
    assert code == 75
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: {emu.base_url}/ keeps breaking off its answers: "), lines
    hint = "hint: the server (or a proxy before it) is struggling: try again later"
    assert lines[1:] == [hint]
    assert emu.stats()["faults"] == {"reset": 2 + 3}  # quick try, then the budget
    assert not out.exists()


def test_a_target_looked_up_while_the_server_is_busy_is_try_again_later(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The check at start passed, then the project itself answers 503 through the retries (a
    maintenance window that began just then): exit 75 with the same words as at start and
    the object asked for, not exit 2 with a bare HTTP line (found by review)."""
    emu = make_emulator(preset="demo", faults="503:100%,only:api_project")
    out = tmp_path / "d"
    code, err = harvest(capsys, emu.base_url, out, "--max-retries", "1")
    assert code == 75
    lines = err.strip().splitlines()
    assert lines[0].startswith(
        f"error: {emu.base_url}/ is unavailable (asked for project {PROJECT}): "
    ), lines
    assert lines[1] == "hint: the server asks to come back later: run the same command again then"
    assert not out.exists()


@pytest.mark.parametrize(
    ("retry_after", "when"),
    [("1s", "later"), ("900s", "in 15m00s (its Retry-After)")],
)
def test_a_busy_target_check_names_a_retry_after_only_longer_than_a_retry_waits(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    retry_after: str,
    when: str,
) -> None:
    """The project answers 429 through the whole retry budget: a Retry-After of 1 s, which
    every retry waited out already, says "come back later" (it said "in 1s"); one of 15
    minutes, longer than a retry waits (60 s), is the server down for a while: its hint
    says when to come back."""
    emu = make_emulator(
        preset="demo", faults=f"429:100%,retry-after:{retry_after},only:api_project"
    )
    out = tmp_path / "d"
    with zero_waits():
        code, err = harvest(capsys, emu.base_url, out, "--max-retries", "2")
    assert code == 75, err
    lines = err.strip().splitlines()
    assert lines[0].startswith(
        f"error: {emu.base_url}/ is unavailable (asked for project {PROJECT}): HTTP 429"
    ), lines
    assert lines[1] == f"hint: the server asks to come back {when}: run the same command again then"
    assert emu.stats()["by_route"]["api_project"] == {"429": 3}  # the whole budget: 1 + 2
    assert not out.exists()


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_a_plan_whose_listings_are_all_busy_is_try_again_later(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    fault: str,
) -> None:
    """`harvester plan` of a project whose dataset listing stays busy (503) or keeps breaking
    off (resets): no plan, exit 75, as `harvest` says of the same server."""
    emu = make_emulator(preset="demo", faults=f"{fault}:100%,only:webclient_api_datasets")
    out = tmp_path / "p"
    code = main(
        ["plan", "--base-url", emu.base_url, "--project", PROJECT, "--out", str(out),
         "--rate", "none", "--max-retries", "1", "--quiet"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 75, err
    assert "no plan was written" in err and "Traceback" not in err
    assert not (out / "plan" / "plan.json").exists()


def test_the_summary_counts_the_requests_of_the_check_at_start(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root answers 500 three times, then 200 (seeded): the summary's 'N requests,
    M retries' is every request the server saw, the check at start's four included (it
    left them out: a user comparing with the server's log found them missing), and 'M
    retries' its three asked again (it said 2: the retry budget's first went uncounted). Before the
    retry budget's waits, one line says how long the API root may be asked (the default
    budget's longest waits: 1 + 0.5 + 1 + 2 + 4 + 8 s, rounded up)."""
    emu = make_emulator(preset="demo", faults="500:60%,only:api_versions,seed:64")
    code = main(
        ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out",
         str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stats = emu.stats()
    assert stats["by_route"]["api_versions"] == {"500": 3, "200": 1}
    counts = re.search(r" stored, (\d+) requests, (\d+) retries, ", captured.out)
    assert counts is not None, captured.out
    assert int(counts[1]) == stats["requests"]
    # Every request of the check but its first is a retry: the quick client's second, and
    # the budget client's two (its first follows the quick client's tries: it said 2).
    assert int(counts[2]) == 3
    early = [m for m in caplog.messages if "asking again" in m]
    assert early == [
        f"{emu.base_url}/ answered its API root (api/) with HTTP 500 Internal Server Error: "
        "asking again for up to 17s (--max-retries 5) before giving up"
    ]


@pytest.mark.parametrize("status", ["500", "503"])
def test_max_retries_0_asks_a_failing_api_root_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    status: str,
) -> None:
    """--max-retries 0 and an API root failing (500) or busy (503, --outage-wait 0): one
    request, the error at once, exit 75 (it asked twice, after a line saying "asking again
    ... (--max-retries 0)"), no output folder."""
    emu = make_emulator(preset="demo", faults=f"{status}:100%,only:api_versions")
    out = tmp_path / "d"
    code = main(
        ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out", str(out),
         "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0",
         "--outage-wait", "0"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 75, err
    assert emu.stats()["by_route"]["api_versions"] == {status: 1}
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {emu.base_url}/ "), lines
    assert lines[1].startswith("hint: "), lines
    assert not out.exists()


class _FailingAfter:
    """A server whose API root answers 500 with ``Retry-After: 30`` (a front end asking to
    come back in 30 s), everything else as the demo site."""

    def __init__(self) -> None:
        self.site = build_application("demo")

    def handle(self, req: Request) -> Response:
        if req.path.rstrip("/").endswith("/api"):
            return Response(500, b"<html>500</html>", headers=[("Retry-After", "30")])
        return self.site.handle(req)

    def route_name(self, req: Request) -> str:
        return "api_versions" if req.path.rstrip("/").endswith("/api") else "other"


def test_a_failing_api_root_asking_to_wait_says_when_the_run_gives_up(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root answers 500 with Retry-After: 30 each time: the line before the budget's
    waits says how long they take (the 3 retries' waits and the one before them, 30 s each:
    about 2m00s; it said "as its Retry-After asks" alone), then the error names the URL and
    its status, exit 75."""
    emu = make_emulator(app=_FailingAfter())
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out",
             str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none",
             "--max-retries", "3"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 75, err
    early = [m for m in caplog.messages if "asking again" in m]
    assert early == [
        f"{emu.base_url}/ answered its API root (api/) with HTTP 500 Internal Server Error: "
        "asking again for about 2m00s as its Retry-After asks (--max-retries 3) before giving up"
    ]
    assert err.strip().splitlines()[-2] == (
        f"error: {emu.base_url}/ answered its API root (api/) with HTTP 500 Internal Server Error"
    )


def test_a_bad_gateway_at_start_says_it_is_waited_for_not_given_up(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root answers 502 three times, then 200: the line before the budget says that
    past it the server is waited for as a server down (a 502 straight from the server is
    busy: it said "before giving up", then paused for up to an hour), and the run goes on."""
    emu = make_emulator(preset="demo", faults="first:502*3|ok,only:api_versions")
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out",
             str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == 8
    early = [m for m in caplog.messages if "asking again" in m]
    assert early == [
        f"{emu.base_url}/ answered its API root (api/) with HTTP 502 Bad Gateway: asking again "
        "for up to 17s (--max-retries 5) before waiting for it as for a server down "
        "(--outage-wait)"
    ]


def test_a_maintenance_page_at_start_says_it_is_waited_for(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root answers 503 three times (a maintenance window as the run, or a SLURM
    task, starts), then 200: the line before the budget says the API root is asked again and
    that past the budget the server is waited for (it was said for a 500 or 502 alone: a task
    log held nothing but the limiter's "server overloaded" line while it waited), and the run
    goes on, everything harvested."""
    emu = make_emulator(preset="demo", faults="first:503*3|ok,only:api_versions")
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out",
             str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == 8
    early = [m for m in caplog.messages if "asking again" in m]
    assert early == [
        f"{emu.base_url}/ answered its API root (api/) with HTTP 503 Service Unavailable: "
        "asking again for up to 17s (--max-retries 5) before waiting for it as for a server "
        "down (--outage-wait)"
    ]


class _InMaintenance:
    """A server whose API root answers its first request with a maintenance page, 503 and
    ``Retry-After: 2`` (a window ending in 2 s), then as the demo site."""

    def __init__(self) -> None:
        self.site = build_application("demo")
        self.paged = False

    def handle(self, req: Request) -> Response:
        if req.path.rstrip("/").endswith("/api") and not self.paged:
            self.paged = True
            page = b"<html><h1>undergoing maintenance</h1></html>"
            return Response(503, page, headers=[("Retry-After", "2")])
        return self.site.handle(req)

    def route_name(self, req: Request) -> str:
        return "api_versions" if req.path.rstrip("/").endswith("/api") else "other"


def test_a_maintenance_pages_retry_after_at_start_is_said_before_its_wait(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root's first answer is a maintenance page asking to come back in 2 s: one
    line says so before the wait (a SLURM task started in a window waited its Retry-After, up
    to a minute, within its first tries, its log silent but for "server overloaded"), and the
    run goes on. (Real waits: the line says the wait the retry sleeps.)"""
    emu = make_emulator(app=_InMaintenance())
    code = main(
        ["harvest", "--base-url", emu.base_url, "--project", PROJECT, "--out",
         str(tmp_path / "d"), "--artifacts", "thumbnail", "--rate", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == 8
    assert [m for m in caplog.messages if "asking again" in m] == [
        f"{emu.base_url}/ answered its API root (api/) with HTTP 503 Service Unavailable: "
        "asking again in 2s, as its Retry-After asks"
    ]


def test_a_busy_wait_is_said_for_a_retry_after_once_and_not_after_the_budgets_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The check's retry hook says a busy answer's wait as it begins where the answer asked
    for it (Retry-After: a maintenance page) and no line said the check's waits yet. A
    backoff of 6 s between the budget's tries (503s without Retry-After: the waits' ceiling
    doubles) was said as `asking again in 6s`, a second line after the one that gave the
    whole budget (found by review, with real waits: too slow to test through the server)."""
    from harvester.client import Client
    from harvester.config import HarvestConfig
    from harvester.errors import OverloadError
    from harvester.pipeline import _Looks, client_settings
    from harvester.retry import RetryEvent

    cfg = HarvestConfig(base_url="https://idr.example.org")
    busy = OverloadError("HTTP 503 Service Unavailable", status=503)
    asked = OverloadError("HTTP 503 Service Unavailable", status=503, retry_after=30)

    def said() -> list[str]:
        lines = [m for m in caplog.messages if "asking again" in m]
        caplog.clear()
        return lines

    looks = _Looks(cfg, None, quick=False, shown="https://idr.example.org/")
    looks.seen(RetryEvent(attempt=3, wait=6.0, error=busy))  # (a backoff's: not said)
    assert said() == []
    looks.seen(RetryEvent(attempt=1, wait=30.0, error=asked))
    looks.seen(RetryEvent(attempt=2, wait=30.0, error=asked))  # (once a check)
    assert said() == [
        "https://idr.example.org/ answered its API root (api/) with HTTP 503 Service "
        "Unavailable: asking again in 30s, as its Retry-After asks"
    ]

    looks = _Looks(cfg, None, quick=False, shown="https://idr.example.org/")
    looks._say_retrying(Client(client_settings(cfg)), asked)  # the budget's line
    assert len(said()) == 1
    looks.seen(RetryEvent(attempt=1, wait=30.0, error=asked))  # (said by that line)
    assert said() == []

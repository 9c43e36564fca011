"""A server down as a whole (a maintenance window) pauses the run instead of failing it.

With ``--max-retries 1`` a 4-minute maintenance window used to fail 79 images (exit 1) while
the run kept asking the server the whole time. Now the run pauses on the second down answer
in a row (a request's, then the API root's), asks only the API root until it answers, and
then asks every held request again; a pause longer than ``--outage-wait`` ends the run with
exit 75 and the images not done still pending. The check intervals are shortened here
(``FIRST_CHECK``, ``CHECK_CAP``); retry waits are zeroed as in every harvest test.
"""

from __future__ import annotations

import io
import json
import math
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import StderrLines, content, reaped, start_cli

import harvester.outage
from harvester.cli import main
from harvester.config import DEFAULT_WALK_CONCURRENCY, HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.emulator.app import App, build_site
from harvester.emulator.faults import FaultInjector, FaultSpec, parse_faults
from harvester.emulator.http import Request, Response
from harvester.pipeline import RunSummary, run_harvest
from harvester.progress import Progress
from harvester.retry import zero_waits

SCREEN = "2302"  # the demo preset's screen: 10 plates, 80 images
IMAGES = 80
PLATE = "7361"  # one of its plates
PLATE_IMAGES = 8
CONCURRENCY = 4
WALKS = DEFAULT_WALK_CONCURRENCY  # plates walked at once
FIRST_CHECK = 0.5
CHECK_CAP = 1.0


@pytest.fixture(autouse=True)
def short_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks of the API root every 0.5 s to 1 s (instead of 5 s to 60 s)."""
    monkeypatch.setattr(harvester.outage, "FIRST_CHECK", FIRST_CHECK)
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", CHECK_CAP)


def harvest(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str
) -> tuple[int, str, str]:
    """One CLI harvest of the demo screen's thumbnails and imgData (retries without waits)."""
    with zero_waits():
        code = main(
            ["harvest", "--base-url", base_url, "--screen", SCREEN, "--out", str(out),
             "--artifacts", "thumbnail,imgdata", "--rate", "none",
             "--concurrency", str(CONCURRENCY), "--max-retries", "1", *extra]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def status(capsys: pytest.CaptureFixture[str], out: Path) -> dict[str, dict[str, int]]:
    """``harvester status DIR --json``'s counts per kind."""
    assert main(["status", str(out), "--json"]) == 0
    kinds: dict[str, dict[str, int]] = json.loads(capsys.readouterr().out)["kinds"]
    return kinds


def test_a_maintenance_window_is_waited_out(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A 2 s maintenance window mid-run (every answer 503) with --max-retries 1: exit 0, every
    file byte-identical to a clean run's, during the window only the requests in flight
    and the API root checks reached the server (not an image after image), and the run went
    on at its full concurrency (the busy answers had halved it, each check again)."""
    clean = make_emulator(preset="demo", latency_ms=30)
    code, _out, err = harvest(capsys, clean.base_url, tmp_path / "clean")
    assert code == 0, err
    window = 2.0
    # From the 16th file asked (mid-run whatever the machine's load), not 0.7 s after the
    # emulator's start: a run slow to start found the server down at its first request.
    app = _DownAfterFiles(files=16, window=f"maintenance:{window}s@0s")
    emu = app.emu = make_emulator(app=app, latency_ms=30)
    code, out, err = harvest(capsys, emu.base_url, tmp_path / "d")
    assert code == 0, err
    assert "failed 0" in out and "waited " in out and " for the server" in out
    assert "the server looks down (HTTP 503 Service Unavailable" in caplog.text
    assert "the server answers again after" in caplog.text
    # The checks of the pause did not slow the run down, and it went on at the limits it had.
    pause = caplog.text.split("the server looks down", 1)[1].split("answers again", 1)[0]
    assert "slowing down" not in pause, caplog.text
    assert f"going on at concurrency {CONCURRENCY}, no rate limit" in caplog.text, caplog.text
    assert content(tmp_path / "d", "images", base_url=emu.base_url) == content(
        tmp_path / "clean", "images", base_url=clean.base_url
    )
    stats = emu.stats()
    in_window = stats["faults"]["maintenance"]
    checks = stats["by_route"]["api_versions"].get("503", 0)
    assert checks >= 2  # the check that paused the run, and at least one while paused
    # Counted per task, not per second: each task that sends requests (the 2 * CONCURRENCY
    # image workers, the WALKS plate walks) gets one request into the window (two tries)
    # and then waits, held until the check that pauses the run has answered or at the gate
    # of the pause; a loaded machine only lets more of them get there before that check
    # answers. Then the check itself, and one check each FIRST_CHECK at most (a slower
    # machine checks less often, never more). Without the pause, one request after another
    # fails through the window: over 90 here, loaded or not.
    tasks = 2 * CONCURRENCY + WALKS
    most = 2 * tasks + 1 + math.ceil(window / FIRST_CHECK)
    assert in_window <= most, stats


def test_a_server_stopped_and_started_again_mid_run_is_waited_for(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """The server process stops mid-run (connections broken off, then refused) and starts
    again on the same port 1.5 s later: the run pauses on the refused connections and ends
    with exit 0, every file there and none failed."""
    # Stopped as the 16th file is asked (mid-run whatever the machine's load), not 0.7 s
    # after the emulator's start: a loaded machine could reach that moment before the
    # run's first request, or a quick one after its last.
    app = _TellsAtFile(files=16)
    first = EmulatorThread(app=app, latency_ms=30).start()
    port = int(first.base_url.rsplit(":", 1)[1])
    again: list[EmulatorThread] = []

    def restart() -> None:
        if not app.reached.wait(30):
            return  # the run never got that far: the assertions below say so
        first.stop()
        time.sleep(1.5)  # the outage itself: how long the server stays away
        again.append(EmulatorThread(preset="demo", latency_ms=30, port=port).start())

    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    try:
        code, summary, err = harvest(capsys, first.base_url, tmp_path / "d")
    finally:
        app.reached.set()  # a run that ended first lets the restarter go
        restarter.join(10)
        first.stop()
        for emu in again:
            emu.stop()
    assert again, "the emulator did not start again"
    assert code == 0, err
    assert "failed 0" in summary and "waited " in summary, summary
    assert "the server looks down (cannot connect" in caplog.text
    assert len(list((tmp_path / "d" / "images").rglob("*.thumbnail.jpg"))) == IMAGES
    assert len(list((tmp_path / "d" / "images").rglob("*.imgdata.json"))) == IMAGES


class _TellsAtFile(App):
    """The demo OMERO.web that sets ``reached`` as the ``files``-th file is asked (its
    handler cannot stop its own server: a thread waiting for ``reached`` does)."""

    def __init__(self, files: int) -> None:
        super().__init__(build_site("demo"))
        self.files = files
        self.asked = 0
        self.reached = threading.Event()

    def _handle(self, req: Request) -> Response:
        if "/imgData/" in req.path or "/render_thumbnail/" in req.path:
            self.asked += 1
            if self.asked == self.files:
                self.reached.set()
        return super()._handle(req)


class _DownAfterFiles(App):
    """The demo OMERO.web whose server goes down (``window``, a maintenance fault spec from
    0 s) as the ``files``-th file is asked: a window 0.7 s after the emulator's start came
    before the run had listed any image when it was slow to start (a loaded machine), and
    no file was left pending."""

    def __init__(self, files: int, window: str) -> None:
        super().__init__(build_site("demo"))
        self.files, self.window = files, window
        self.asked = 0
        self.emu: EmulatorThread | None = None

    def _handle(self, req: Request) -> Response:
        if "/imgData/" in req.path or "/render_thumbnail/" in req.path:
            self.asked += 1
            if self.asked == self.files and self.emu is not None:  # (its own answer comes)
                self.emu.server.faults = FaultInjector(parse_faults(f"latency:30ms,{self.window}"))
        return super()._handle(req)


def test_a_longer_outage_stops_the_run_with_the_images_pending(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--outage-wait 1s during a 4 s window: exit 75 (try again later), no image failed, the
    last check at the limit, not past it; the rest pending in status, the resume line
    printed; the same command once the window is over completes the harvest."""
    app = _DownAfterFiles(files=16, window="maintenance:4s@0s")
    emu = app.emu = make_emulator(app=app, latency_ms=30)
    out = tmp_path / "d"
    waits: list[float] = []  # the waits before each check of the pause, as the run set them
    sleep = harvester.outage.Outage._sleep_telling

    async def told(outage: harvester.outage.Outage, seconds: float) -> None:
        waits.append(seconds)
        await sleep(outage, seconds)

    monkeypatch.setattr(harvester.outage.Outage, "_sleep_telling", told)
    code, summary, err = harvest(capsys, emu.base_url, out, "--outage-wait", "1s")
    assert code == 75, err
    assert "failed 0" in summary
    last = err.strip().splitlines()[-1]
    # The line says how long the pause lasted: to the answer of the last check, sent at the
    # 1 s limit, never sooner (a loaded machine answers it later: 1.1s or more).
    down = re.match(r"stopped: the server stayed down for (\d+\.\d)s \(HTTP 503", last)
    assert down is not None, err
    assert float(down[1]) >= 1.0, err
    # ... and not past it: the waits add up to the limit at most (the last one cut short
    # there), whatever the load (a wait is set from the time left). A check past the limit
    # would come an interval after the one at FIRST_CHECK: waits of 1.5 s or more in all.
    assert waits and sum(waits) <= 1.0 + 1e-9, waits
    assert "the rest is pending: run again later: harvester " in last
    kinds = status(capsys, out)
    assert kinds["thumbnail"]["failed"] == 0 and kinds["imgdata"]["failed"] == 0, kinds
    # (Which kinds are left depends on the order the workers asked for the 16 files.)
    assert kinds["thumbnail"]["pending"] + kinds["imgdata"]["pending"] > 0, kinds
    # status says why the walk did not finish, as the run did (it said "stopped", as of a
    # run killed, which a nightly job's morning reader could not tell from a crash)
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out
    assert re.search(
        r"has not finished: stopped, as the server stayed down for \d+\.\ds \(HTTP 503 "
        r"Service Unavailable\), the rest pending: resume once it answers again;",
        said,
    ), said
    # The window is over (ended now rather than waited out: the same server, well again).
    emu.server.faults = FaultInjector(FaultSpec().with_latency(30, None))
    code, summary, err = harvest(capsys, emu.base_url, out, "--outage-wait", "1s")
    assert code == 0, err
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == IMAGES
    assert len(list((out / "images").rglob("*.imgdata.json"))) == IMAGES


def test_a_maintenance_page_asking_for_an_hour_pauses_without_retrying(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A maintenance page whose Retry-After asks for an hour (longer than a retry waits,
    60 s) mid-run, with --max-retries 5: each request it answers goes to the outage's check
    at once, and the run stops at its --outage-wait, exit 75, nothing failed. It sat
    through its 5 retries first, 60 s each (retry waits are zeroed here: 6 tries a task),
    so a nightly run with --outage-wait 1s went on for over 5 minutes."""
    app = _DownAfterFiles(files=16, window="maintenance:1h@0s")
    emu = app.emu = make_emulator(app=app, latency_ms=30)
    code, summary, err = harvest(
        capsys, emu.base_url, tmp_path / "d", "--outage-wait", "1s", "--max-retries", "5"
    )
    assert code == 75, err
    assert "failed 0" in summary
    assert "the server looks down (HTTP 503 Service Unavailable" in caplog.text
    # One try a task (each image worker, each plate walk), the check that paused the run,
    # and the pause's checks: not six tries a task.
    tasks = 2 * CONCURRENCY + WALKS
    most = tasks + 1 + math.ceil(1.0 / FIRST_CHECK) + 1
    assert emu.stats()["faults"]["maintenance"] <= most, (most, emu.stats())


def test_one_long_retry_after_among_successes_is_retried(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """One thumbnail answered 429 asking for 90 s while the server serves the rest: no
    pause, and it is retried in its turn as any busy answer is (its retry answered: nothing
    failed), not failed for its long wait."""
    faults = "first:ok*3|429,retry-after:90s,only:/webgateway/render_thumbnail/"
    emu = make_emulator(preset="demo", faults=faults)
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(tmp_path),
             "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "1"]
        )  # fmt: skip
    summary = capsys.readouterr().out
    assert code == 0, summary
    assert "failed 0;" in summary and "looks down" not in caplog.text
    # Retried in its turn, not failed and left to the end's second chance.
    assert "1 retry," in summary and "asked again at the end" not in summary
    assert emu.stats()["faults"] == {"429": 1}


def test_outage_wait_0_fails_each_request_as_before(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """--outage-wait 0: no pause; the images asked while the server answers 503 fail after
    their retries (exit 1) and the note says every failure was a busy answer."""
    # The outage by request count, not by the clock: a window 0.7 s after the start also
    # caught the walk's listings on a loaded machine ("walk failed", no note). The probe
    # and 8 images answered, then every answer 503, the API root's too, so that a check
    # would be answered 503 and pause the run, as without --outage-wait 0 (this test then
    # fails on "looks down"); to the end, past the second chance of the files that failed
    # (40 answers 503, then none: they were fetched then, exit 0).
    faults = "first:ok*17,503:100%,only:image*|api_versions"
    emu = make_emulator(preset="demo", latency_ms=30, faults=faults)
    code, summary, err = harvest(capsys, emu.base_url, tmp_path / "d", "--outage-wait", "0")
    assert code == 1, err
    assert "looks down" not in caplog.text and "waited" not in summary
    assert "note: every failure was an HTTP 503 answer, through all retries" in err
    assert emu.stats()["by_route"]["api_versions"] == {"200": 1}  # the probe alone


def test_one_busy_answer_among_successes_does_not_pause(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """One thumbnail answered 503 (no retries left) while the server serves the rest: that
    image fails as before, the run never pauses (the API root, asked once to be sure, answers)."""
    emu = make_emulator(preset="demo", faults="first:ok*5|503,only:/webgateway/render_thumbnail/")
    code, summary, err = harvest(capsys, emu.base_url, tmp_path / "d", "--max-retries", "0")
    assert code == 1, err
    assert "looks down" not in caplog.text and "waited" not in summary
    assert "failed 1;" in summary
    assert emu.stats()["by_route"]["api_versions"].get("503") is None
    assert emu.stats()["by_route"]["api_versions"]["200"] <= 2  # the probe, one check at most


def test_a_server_going_down_just_after_a_check_fails_no_image(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """One thumbnail 503 (the API root, asked, answers), then the server down for the next 4
    requests: that one image fails, the next ones wait for the check due FIRST_CHECK after
    the first, which pauses the run, instead of each failing at once meanwhile (4 more)."""
    faults = "first:ok*4|503|ok|503*4,only:api_versions|/webgateway/render_thumbnail/"
    emu = make_emulator(preset="demo", faults=faults)
    out = tmp_path / "d"
    with zero_waits():  # one request at a time: the answers come in the order above
        code = main(
            ["harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "1",
             "--max-retries", "0"]
        )  # fmt: skip
    summary = capsys.readouterr().out
    assert code == 1
    assert "failed 1;" in summary and "waited " in summary, summary
    assert "the server looks down (HTTP 503 Service Unavailable" in caplog.text
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == IMAGES - 1


def test_a_listing_hit_by_an_outage_waits_too(tmp_path: Path) -> None:
    """The screen's plate listing and the API root answer 503 (a scripted outage): the walk
    waits like the images (no "walk failed"), the progress line says the run is waiting, and
    the listing is asked again only once a check has answered."""
    faults = "first:ok|503*4,only:api_versions|webclient_api_plates"
    with EmulatorThread(preset="demo", faults=faults) as emu:
        cfg = HarvestConfig(
            base_url=emu.base_url, out=tmp_path / "d", screens=(int(SCREEN),),
            artifacts=("thumbnail",), rate=None, max_retries=1, quiet=True,
        )  # fmt: skip
        lines = io.StringIO()
        progress = Progress(file=lines, line_interval=0.0)

        async def bounded() -> RunSummary:
            with anyio.fail_after(20):
                return await run_harvest(cfg, progress=progress)

        with zero_waits():
            summary = anyio.run(bounded)
        routes = emu.stats()["by_route"]
    assert summary.exit_code == 0 and not summary.walk_failures and summary.failed == 0
    assert summary.done == IMAGES and summary.outage_waited > 0
    # probe ok; listing 503 twice; the check that paused 503, the next 503, then 200
    assert routes["api_versions"] == {"200": 2, "503": 2}
    assert routes["webclient_api_plates"] == {"503": 2, "200": 1}
    assert "waiting for the server for " in lines.getvalue()
    assert "(HTTP 503 Service Unavailable)" in lines.getvalue()


def test_sigterm_while_paused_stops_at_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGTERM while the run waits for the server (between two checks, 5 s apart in a real
    run): exit 130 before the next check, and a last line that says the run was waiting for the
    server, with the command to run later."""
    emu = make_emulator(preset="demo", faults="first:ok*30|503*1000")
    out = tmp_path / "d"
    args = ["harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        err_lines = StderrLines(proc)
        # The signal goes once the run says it paused (0.3 s after the check's 503 was not
        # always enough on a loaded machine).
        err_lines.wait_for("the server looks down")
        proc.send_signal(signal.SIGTERM)
        _stdout, stderr = err_lines.ended()
    # Stopped at once, not at the next check (5 s or more later): the API root was asked
    # once only. (A bound on the wall-clock time to exit said less, and load could break it.)
    assert emu.stats()["by_route"]["api_versions"].get("503") == 1, emu.stats()["by_route"]
    assert proc.returncode == 130, stderr
    assert "the server looks down (HTTP 503 Service Unavailable" in stderr
    assert re.fullmatch(
        r"interrupted while waiting for the server, down for \d+\.\ds \(HTTP 503 Service "
        r"Unavailable\); every finished file is kept and journaled, the rest is pending: run "
        r"again later: harvester harvest .*",
        stderr.strip().splitlines()[-1],
    ), stderr


@pytest.mark.parametrize("joined", [True, False])
def test_a_flapping_server_is_one_outage_for_the_limit(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    joined: bool,
) -> None:
    """A server down twice for about 1.1 s, up between for four requests, --outage-wait 1.6s:
    the limit counts both pauses together and the second one stops the run (exit 75, none
    failed, the rest pending). Pauses counted apart (REJOIN 0, as before) each stay within
    the limit: the run goes on through both, however often the server flaps."""
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", FIRST_CHECK)  # checks 0.5 s apart
    if not joined:
        monkeypatch.setattr(harvester.outage, "REJOIN", 0.0)
    # The check at start and 3 thumbnails; one 503, the check that pauses and 1 more; the
    # API root back, the held thumbnail and 2 more; then the same outage again, counted
    # apart. Counted together it outlasts what is left of the limit whenever its checks
    # fall (2 more 503s: a second pause of 1.1 s may also end with a check at the limit).
    again = "503*5" if joined else "503*3"
    faults = f"first:ok*4|503*3|ok*4|{again},only:api_versions|/webgateway/render_thumbnail/"
    out = tmp_path / "d"
    with EmulatorThread(preset="demo", faults=faults) as emu, zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "1",
             "--max-retries", "0", "--outage-wait", "1.6s"]
        )  # fmt: skip
    summary, err = capsys.readouterr()
    assert "failed 0" in summary, summary
    if not joined:
        assert code == 0, err
        assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == PLATE_IMAGES
        return
    assert code == 75, err
    assert re.match(
        r"stopped: the server stayed down for \d\.\ds in 2 pauses less than 10m00s apart "
        r"\(HTTP 503 Service Unavailable\); every finished file is kept and journaled",
        err.strip().splitlines()[-1],
    ), err
    assert re.search(r"for 0\.\ds at most \(1\.\ds of the 1\.6s limit went to pauses", caplog.text)
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 6


@pytest.mark.parametrize("back", [True, False])
def test_a_blip_after_an_outage_that_used_the_limit_checks_once(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    back: bool,
) -> None:
    """--outage-wait 0.5s: a pause whose last check, at the limit, is answered; then a blip
    moments later joins that outage, its limit used up: it checks once more (after the
    first interval) and goes on when answered (exit 0, every image; before, exit 75 at
    once, with no check), or stops with exit 75 when that check is not answered either."""
    # The check at start and 3 thumbnails; one 503 and the check that pauses; the check at the
    # limit answered, the held thumbnail and 2 more; one 503 and the check that pauses; then
    # the one check of the joined pause (answered, or not).
    last = "ok" if back else "503*3"
    faults = f"first:ok*4|503*2|ok*4|503*2|{last},only:api_versions|/webgateway/render_thumbnail/"
    out = tmp_path / "d"
    with EmulatorThread(preset="demo", faults=faults) as emu, zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "1",
             "--max-retries", "0", "--outage-wait", "0.5s"]
        )  # fmt: skip
        checks = emu.stats()["by_route"]["api_versions"]
    summary, err = capsys.readouterr()
    assert "failed 0" in summary, summary
    assert re.search(r"asking its API root once more, in 0\.5s \(0\.\ds of the 0\.5s", caplog.text)
    if back:
        assert code == 0, err
        assert checks == {"200": 3, "503": 2}, checks
        assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == PLATE_IMAGES
        return
    assert code == 75, err
    assert checks == {"200": 2, "503": 3}, checks  # one check in the joined pause
    assert re.search(r"stopped: the server stayed down for 1\.\ds in 2 pauses", err), err
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 6


def test_a_run_goes_on_after_a_pause_at_the_limits_it_had_before(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The server down for its first 5 answers (the check at start and its retries, then the
    pause's first check), --concurrency 4 --rate 20: the busy answers do not leave the run
    slowed down; once the server is back it has 4 requests in flight again and says it goes
    on at 20 a second (it went on at 2 and 10/s, and each check of a longer pause halved
    them again, 2 s apart)."""
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", FIRST_CHECK)  # checks 0.5 s apart
    # Down for a count of answers, not a window from the emulator's start, which the run
    # missed in part (or whole) when it was slow to start. Answers take 0.4 s: at 20 starts
    # a second 4 are in flight 0.15 s after the first (8 would be, uncapped), so the run
    # reaches its cap of 4 on a slow machine too; left slowed (2 and 10/s, regaining a step
    # after a streak of answers) it had 3 at most in the plate's requests.
    emu = make_emulator(preset="demo", latency_ms=400, faults="first:503*5")
    out = tmp_path / "d"
    with zero_waits():
        code = main(
            ["harvest", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(out),
             "--artifacts", "thumbnail,imgdata", "--rate", "20", "--concurrency", "4",
             "--max-retries", "1"]
        )  # fmt: skip
    _summary, err = capsys.readouterr()
    assert code == 0, err
    assert len(list((out / "images").rglob("*.imgdata.json"))) == PLATE_IMAGES
    stats = emu.stats()  # the check at start and the pause's checks: one request at a time
    assert stats["by_route"]["api_versions"]["503"] == 5, stats  # all 5 down answers asked
    assert stats["peak_concurrency"] == CONCURRENCY, stats  # the cap again (never more)
    paused_at = caplog.text.index("the server looks down")
    assert "slowing down" not in caplog.text[paused_at:], caplog.text
    assert re.search(
        r"the server answers again after \d+\.\ds: going on at concurrency 4, 20 requests/s, "
        r"as before it went down",
        caplog.text,
    ), caplog.text

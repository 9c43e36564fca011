"""A run or a plan started inside a maintenance window waits it out, as one hit mid-run does.

The server check at start gives a busy API root its retry budget; past it, the run used to
end with exit 75 at once, so every task of a SLURM array queued into a maintenance window
failed. Now the check joins the run-wide pause (:mod:`harvester.outage`): one check of
``api/`` at growing intervals, then the run goes on; past ``--outage-wait`` exit 75 with the
mid-run stop line; ``--outage-wait 0`` ends at the check as before
(``test_probe_busy.py``). The check intervals are shortened here as in
``test_outage_wait.py``; retry waits are zeroed.
"""

from __future__ import annotations

import json
import math
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import StderrLines, reaped, said_seconds, start_cli
from test_outage_wait import CHECK_CAP, FIRST_CHECK, short_checks  # noqa: F401 (an autouse fixture)

import harvester.outage
from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.retry import zero_waits

SCREEN = "2302"  # the demo preset's screen: 10 plates, 80 images
IMAGES = 80
#: The check at start with --max-retries 1: its quick try (two tries), then the budget (two).
PROBE_TRIES = 4
#: What the run's log says when it pauses for a server that is down.
PAUSED = "the server looks down"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """One CLI command (retries without waits, --max-retries 1): exit code, stdout, stderr."""
    with zero_waits():
        code = main([*args, "--rate", "none", "--max-retries", "1"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def harvest(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str
) -> tuple[int, str, str]:
    """A harvest of the demo screen's thumbnails and imgData."""
    return run(
        capsys, "harvest", "--base-url", base_url, "--screen", SCREEN, "--out", str(out),
        "--artifacts", "thumbnail,imgdata", *extra,
    )  # fmt: skip


def test_a_harvest_started_inside_a_window_waits_it_out(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Every answer 503 for the check at start's tries and 2 checks: exit 0 with every file,
    the pause logged as at mid-run and summed up in the summary, and while down only the
    check's tries and the checks of the API root, FIRST_CHECK apart at least, were asked."""
    # Down for a count of requests of any route, not a window from the emulator's start
    # that a loaded machine's start could eat into (and then prove nothing).
    checks = 2
    in_window = PROBE_TRIES + checks
    emu = make_emulator(preset="demo", faults=f"first:503*{in_window}")
    out = tmp_path / "d"
    code, summary, err = harvest(capsys, emu.base_url, out)
    assert code == 0, err
    assert "failed 0" in summary and " for the server" in summary
    # The checks 0.5 s, then 1 s apart (never sooner); the third answered.
    waited = re.search(r"waited (\d+\.\d)s for the server", summary)
    assert waited is not None and float(waited[1]) >= FIRST_CHECK + CHECK_CAP, summary
    assert (
        "the server looks down (HTTP 503 Service Unavailable at the check at start): pausing "
        "every request" in caplog.text
    )
    assert "the server answers again after" in caplog.text
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == IMAGES
    assert len(list((out / "images").rglob("*.imgdata.json"))) == IMAGES
    # Nothing but the API root was asked while down: the check at start's tries, the
    # checks; then the check that answered, and the check at start asked again.
    stats = emu.stats()
    assert stats["by_route"]["api_versions"] == {"503": in_window, "200": 2}, stats
    assert not [r for r, by in stats["by_route"].items() if "503" in by and r != "api_versions"]


def test_a_window_longer_than_outage_wait_stops_at_start_with_exit_75(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """--outage-wait 1s inside a 20 s window: exit 75 before the window ends, the mid-run stop line
    (nothing harvested yet, the command to run later) as the last line, and no folder."""
    emu = make_emulator(preset="demo", faults="maintenance:20s@0s")
    out = tmp_path / "d"
    code, _summary, err = harvest(capsys, emu.base_url, out, "--outage-wait", "1s")
    assert code == 75, err
    last = err.strip().splitlines()[-1]
    # (the time is measured: at least the 1 s limit, later on a loaded machine)
    assert re.match(
        r"stopped: the server stayed down for \S+ \(HTTP 503 Service Unavailable\); nothing "
        r"harvested yet: run again later: harvester ",
        last,
    ), err
    # (exit 75 within the window: its 20 s were not waited out; a bound on the whole run's
    # wall-clock time said no more, and a loaded machine could break it)
    assert 1.0 <= said_seconds(last, "stayed down for ", " (") < 20.0, last
    assert "error:" not in err
    assert not out.exists()


def test_a_server_back_before_the_limit_is_checked_once_more(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The API root asks to come back in 10 s (429, Retry-After) but answers from the next
    request on: with --outage-wait 2s, one last check at the limit finds it back and the
    run completes (exit 0), instead of stopping with exit 75 on a server that is up."""
    monkeypatch.setattr(harvester.outage, "CHECK_CAP", 10.0)
    busy = PROBE_TRIES + 1  # the check at start, then the first check of the pause
    faults = f"first:429*{busy},only:api_versions,retry-after:10s"
    emu = make_emulator(preset="demo", faults=faults)
    out = tmp_path / "d"
    code, summary, err = harvest(capsys, emu.base_url, out, "--outage-wait", "2s")
    assert code == 0, err
    # The pause is measured: at least the 2 s limit, where the last check went; not the 10 s
    # the Retry-After asked (the limit came first). The whole run's time, harvest included,
    # is no measure of that on a loaded machine.
    waited = said_seconds(summary, ", waited ", " for the server")
    assert 2.0 <= waited < 10.0, summary
    assert "failed 0" in summary, summary
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == IMAGES
    # The last check at the limit answered, then the check at start asked again.
    assert emu.stats()["by_route"]["api_versions"] == {"429": busy, "200": 2}


def test_a_dry_run_stopped_by_an_outage_counts_what_it_asked(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A dry run whose server goes down for good after a few listings (--outage-wait 1s):
    exit 75, its counts line gives the requests it sent (it said "0 listing requests") and
    the images found until then, and the stop line says the counts are short."""
    emu = make_emulator(preset="demo", faults="first:ok*4|503*1000")
    code, summary, err = harvest(
        capsys, emu.base_url, tmp_path / "d", "--dry-run", "--outage-wait", "1s"
    )
    assert code == 75, err
    line = summary.strip().splitlines()[0]
    found = re.fullmatch(
        r"dry run: (\d+) images? found, \d+ artifacts? to fetch \((\d+) listing requests?"
        r"(?:, \d+ retr(?:y|ies))?\), "
        r"waited 1\.\ds for the server",
        line,
    )
    assert found is not None, summary
    # Every request counted, the check at start's one too.
    assert int(found[2]) == emu.stats()["requests"] > 1, (summary, emu.stats())
    assert re.search(
        r"stopped: the server stayed down for 1\.\ds \(HTTP 503 Service Unavailable\): the "
        r"counts are short",
        err,
    ), err


@pytest.mark.parametrize(
    "faults",
    [
        # down at the check at start: its tries and 2 checks (a count, not a window from the
        # emulator's start that a loaded machine's start could eat into)
        f"first:503*{PROBE_TRIES + 2},only:api_versions",
        "first:ok|503*4,only:api_versions|webclient_api_plates",  # down at the plate listing
    ],
)
def test_a_plan_inside_a_window_completes(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    faults: str,
) -> None:
    """`harvester plan` waits for a server down at its start or during its walk as a harvest
    does: exit 0 and a plan of every image, not exit 75 and no plan; its "planned" line says
    how long it waited, as a harvest's summary does."""
    emu = make_emulator(preset="demo", faults=faults)
    out = tmp_path / "p"
    code, said, err = run(
        capsys, "plan", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out)
    )
    assert code == 0, err
    assert re.search(
        rf"^planned {IMAGES} images \(.*\) in .*, waited \d+\.\ds for the server$", said, re.M
    ), said
    plan = json.loads((out / "plan" / "plan.json").read_text())
    assert plan["images"] == IMAGES and "outage_waited" not in plan
    assert "the server looks down (HTTP 503 Service Unavailable" in caplog.text
    assert "the server answers again after" in caplog.text


def test_a_plan_inside_a_longer_window_is_try_again_later(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """`harvester plan --outage-wait 1s` inside a 20 s window: exit 75, one error line that
    says how long the server stayed down, a hint to run it again later, and no plan."""
    emu = make_emulator(preset="demo", faults="maintenance:20s@0s")
    out = tmp_path / "p"
    code, _said, err = run(
        capsys, "plan", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
        "--outage-wait", "1s", "--quiet",
    )  # fmt: skip
    assert code == 75, err
    error, hint = err.strip().splitlines()[-2:]
    assert re.fullmatch(
        r"error: the server stayed down for 1\.\ds \(HTTP 503 Service Unavailable\)", error
    ), err
    assert hint == "hint: the server is down: run the same command again later"
    assert not (out / "plan" / "plan.json").exists()


def test_ctrl_c_while_waiting_at_start_says_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C while a run waits for a server down from its start: exit 130, the summary
    says how long it waited, and the last line that it was waiting for the server (how long,
    what it answered), nothing harvested, and the command to run later; no folder."""
    emu = make_emulator(preset="demo", faults="first:503*1000,only:api_versions")
    out = tmp_path / "d"
    args = ["harvest", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
            "--rate", "none", "--max-retries", "0"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        err_lines = StderrLines(proc)
        # The check at start's two tries, then the pause (its first check is 5 s later): the
        # signal goes once the run says it paused (a sleep after the second 503 was not
        # always enough on a loaded machine).
        err_lines.wait_for(PAUSED)
        proc.send_signal(signal.SIGINT)
        summary, err = err_lines.ended()
    assert proc.returncode == 130, err
    assert re.search(r", waited \d+\.\ds for the server$", summary, re.M), summary
    assert re.fullmatch(
        r"interrupted while waiting for the server, down for \d+\.\ds \(HTTP 503 Service "
        r"Unavailable\); nothing harvested yet: run again later: harvester harvest .*",
        err.strip().splitlines()[-1],
    ), err
    assert not out.exists()


def test_ctrl_c_while_a_plan_waits_says_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C while `harvester plan` waits for a server that went down during its walk:
    exit 130, and the last line says it was waiting for the server (how long, what it
    answered), that no plan was written, and the command to run later (it said only
    `interrupted`)."""
    faults = "first:ok|503*1000,only:api_versions|webclient_api_plates"
    emu = make_emulator(preset="demo", faults=faults)
    out = tmp_path / "p"
    args = ["plan", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
            "--rate", "none", "--max-retries", "0"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        err_lines = StderrLines(proc)
        # The plate listing's try, then the check of the API root that pauses the walk.
        err_lines.wait_for(PAUSED)
        proc.send_signal(signal.SIGINT)
        _said, err = err_lines.ended()
    assert proc.returncode == 130, err
    assert re.fullmatch(
        r"interrupted while waiting for the server, down for \d+\.\ds \(HTTP 503 Service "
        r"Unavailable\); no plan written: run again later: harvester plan --base-url .*",
        err.strip().splitlines()[-1],
    ), err
    assert not (out / "plan" / "plan.json").exists()


def test_ctrl_c_during_a_plan_says_to_run_it_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C during `harvester plan`'s walk (slow answers, the server up): exit 130 and
    a last line that says no plan was written and the command to run again."""
    emu = make_emulator(preset="demo", latency_ms=800)
    out = tmp_path / "p"
    args = ["plan", "--base-url", emu.base_url, "--screen", SCREEN, "--out", str(out),
            "--rate", "none"]  # fmt: skip
    with reaped(start_cli(*args)) as proc:
        deadline = time.monotonic() + 30
        while emu.stats()["requests"] < 2:  # the check at start answered, the walk begun
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _said, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"interrupted: no plan written; run again: harvester plan .*", last), err
    assert not (out / "plan" / "plan.json").exists()


@pytest.mark.parametrize("outage_wait", ["0", "1s"])
def test_a_window_whose_retry_after_is_long_is_an_outage_at_once(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    outage_wait: str,
) -> None:
    """A maintenance page asking to come back in 15 minutes (Retry-After: 899) at the check at
    start is an outage at its first answer: with --outage-wait 0, exit 75 at once, its hint
    saying when to come back; with a limit, the pause. The retry budget used to sit through
    it first, up to a minute a retry (6 minutes by default, outage-wait 0 or not): the
    server got the budget's every try, here 4 of them (--max-retries 1), not 1."""
    emu = make_emulator(preset="demo", faults="maintenance:900s@0s")
    out = tmp_path / "d"
    code, _summary, err = harvest(capsys, emu.base_url, out, "--outage-wait", outage_wait)
    assert code == 75, err
    if outage_wait == "0":
        error, hint = err.splitlines()[-2:]
        assert error == (
            f"error: {emu.base_url}/ is unavailable: HTTP 503 Service Unavailable "
            "(maintenance or overload)"
        )
        assert re.fullmatch(
            r"hint: the server asks to come back in 1[45]m\d\ds \(its Retry-After\): run the "
            r"same command again then",
            hint,
        ), hint
        assert emu.stats()["by_route"]["api_versions"]["503"] == 1
    else:
        assert err.strip().splitlines()[-1].startswith("stopped: the server stayed down for 1.")
        # The check's one try, then the pause's checks (each FIRST_CHECK, the last at the
        # limit); the budget's would come before them.
        asked = emu.stats()["by_route"]["api_versions"]["503"]
        assert 1 < asked <= 1 + math.ceil(1.0 / FIRST_CHECK), asked
    assert not out.exists()

"""What status, slurm, plan and a refused harvest say of whoever holds DIR's run lock, what
status shows of journaled failure reasons, and how an https URL aimed at a plain port fails.

Each case was found saying something untrue: a harvest "running now" while harvester forget
held DIR; a killed run named as the one going (its progress line left behind); a journal's
raw ESC bytes printed to the terminal; an https probe of the emulator waiting 31 s.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from gate_helpers import holding
from harvest_helpers import SMALL_PLATE, reaped, run_cli, run_lock_held, start_cli

from harvester.emulator import EmulatorThread

#: The hint for a plain-HTTP answer to a TLS handshake, by the reason OpenSSL words it in:
#: 1.1 to 3.1 say WRONG_VERSION_NUMBER (PACKET_LENGTH_TOO_LONG, rarely); 3.2+ may say
#: RECORD_LAYER_FAILURE, which also covers a damaged TLS record, so its hint says "may".
PLAIN_HTTP_HINTS = {
    reason: "the server answered in plain HTTP, not HTTPS: give its address with http:// "
    "instead of https://"
    for reason in ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG")
} | {
    "RECORD_LAYER_FAILURE": "the server may have answered in plain HTTP, not HTTPS: if so, "
    "give its address with http:// instead of https://; if it does speak HTTPS, its TLS "
    "answer was damaged (check the server, or a proxy or firewall between)"
}

#: The emulator's gate a running harvest's imgData answers wait at: it cannot end meanwhile.
GATE = "imgdata"
IMGDATA_HELD = f"hold:{GATE},only:image:imgdata"


def held_by_forget(out: Path) -> AbstractContextManager[subprocess.Popen[str]]:
    """Another process holding DIR's run lock as ``harvester forget`` holds it (its lock file
    naming the command), until the block ends."""
    return run_lock_held(out, None, doing="harvester forget")


def test_status_slurm_and_plan_name_forget_holding_the_folder_as_forget(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """While harvester forget holds DIR, status says "running now: harvester forget (pid N
    on HOST)", and slurm (exit 75) and plan --force (exit 2) name it too: none says "a
    harvest of the whole set", which no run was."""
    out = tmp_path / "d"
    done = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = ["plan", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out"]
    assert run_cli(*plan, str(out), "--artifacts", "thumbnail", "-q").returncode == 0
    with held_by_forget(out) as holder:
        status = run_cli("status", str(out))
        as_json = run_cli("status", str(out), "--json")
        slurm = run_cli("slurm", "--out", str(out), "--plate", str(SMALL_PLATE), "--tasks", "2")
        force = run_cli(*plan, str(out), "--artifacts", "thumbnail", "-q", "--force")
    forget = f"harvester forget (pid {holder.pid} on {socket.gethostname()})"
    assert status.returncode == 0, status.stderr
    assert f"running now: {forget}" in status.stdout.splitlines(), status.stdout
    assert json.loads(as_json.stdout)["running"] == [forget]
    assert slurm.returncode == 75, slurm.stderr
    assert slurm.stderr.splitlines() == [
        f"error: {out} is in use by another process: {forget}, which holds it while it "
        "records its change",
        "hint: it harvests nothing: write the script again once it has ended",
    ], slurm.stderr
    assert force.returncode == 2, force.stderr
    assert force.stderr.splitlines()[0] == (
        f"error: {out / 'plan'} is in use: {out} is held by {forget}, which records its "
        "change and harvests nothing"
    ), force.stderr
    for run in (status, slurm, force):
        assert "whole set" not in run.stdout + run.stderr


def test_a_refusal_does_not_name_a_killed_run_whose_progress_line_was_left(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest killed mid-run leaves its progress line (its run id) in locks/all.progress;
    a harvest of other artifacts refused by the next holder of the lock, before that holder
    writes its own line, is not told the killed run "harvests other targets" (it names the
    holder, by its pid, with the usual hint)."""
    emu = make_emulator(preset="demo", faults=IMGDATA_HELD)
    out = tmp_path / "d"
    common = ["harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out"]
    progress = out / "locks" / "all.progress"
    killed = start_cli(*common, str(out), "--artifacts", "imgdata", "-q")
    with reaped(killed), holding(emu, GATE):  # (killed while its imgData answers are held)
        deadline = time.monotonic() + 60
        # Its progress line and its saved settings, which the refusal compares with its own.
        while not (progress.is_file() and "\nrun " in progress.read_text()) or not any(
            (out / "runs").glob("*/config.json")
        ):
            assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
            time.sleep(0.02)
        killed.kill()
        killed.communicate(timeout=30)
    dead_run = progress.read_text().split("\nrun ", 1)[1].split()[0]
    with run_lock_held(out, None) as holder:
        other = run_cli(*common, str(out), "--artifacts", "thumbnail", "--rate", "none", "-q")
    running = f"pid {holder.pid} on {socket.gethostname()}"
    assert other.returncode == 75, other.stderr
    assert dead_run not in other.stderr, other.stderr
    assert other.stderr.splitlines()[1].startswith(
        f"hint: the run already going ({running}) is doing this work"
    ), other.stderr


def test_status_escapes_control_bytes_in_journaled_failure_reasons(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Failure reasons (an image's, a listing's) journaled with ESC bytes, as older versions
    wrote the server's text, are shown escaped by status (\\x1b), never as raw ESC."""
    out = tmp_path / "d"
    # Plate 7361's listing fails, and the thumbnails of SMALL_PLATE's images.
    faults = "503:100%,only:/webgateway/render_thumbnail|/api/v0/m/plates/7361/wells"
    broken = make_emulator(preset="demo", faults=faults)
    failed = run_cli(
        "harvest", "--base-url", broken.base_url, "--plate", str(SMALL_PLATE), "--plate",
        "7361", "--out", str(out), "--artifacts", "thumbnail", "--rate", "none",
        "--max-retries", "0", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr  # finished with failures
    red = "\x1b[31mred\x1b[0m"
    for journal in (out / "journals").glob("*.jsonl"):
        records = [json.loads(line) for line in journal.read_text().splitlines()]
        for rec in records:
            if rec["rec"] == "failed":
                rec["reason"] = red
            for walk_failure in rec.get("failures") or []:
                walk_failure["reason"] = red
        journal.write_text("".join(json.dumps(rec) + "\n" for rec in records))
    status = run_cli("status", str(out))
    assert "\x1b" not in status.stdout + status.stderr, status.stdout
    shown = [line for line in status.stdout.splitlines() if "\\x1b[31mred\\x1b[0m" in line]
    assert len(shown) >= 2, status.stdout  # an image's failure and a listing's


def test_an_https_url_aimed_at_the_plain_port_fails_as_tls_at_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--base-url https://127.0.0.1:PORT`` at the emulator's plain-HTTP port: the emulator
    answers the ClientHello 400 at once, as nginx does, and the harvest says the TLS failure
    (exit 2) within seconds, not after the client's 31 s timeout, with a hint to give the
    address with http:// (it said to check the scheme and the certificate): firmly for the
    reason OpenSSL up to 3.1 gives, as "may" for 3.2+'s RECORD_LAYER_FAILURE."""
    url = emulator.base_url.replace("http://", "https://", 1)
    run = run_cli("harvest", "--base-url", url, "--plate", str(SMALL_PLATE), "--out",
                  str(tmp_path / "d"), "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert run.returncode == 2, run.stderr
    error, hint = run.stderr.splitlines()[:2]
    reason = error.removeprefix(f"error: cannot reach {url}/: TLS failure: ")
    assert reason in PLAIN_HTTP_HINTS, run.stderr  # (the line as it was, but the reason)
    assert hint == f"hint: {PLAIN_HTTP_HINTS[reason]}", run.stderr  # (the scheme, no certificate)
    # At once: the server's answer failed the handshake, the client's timeout never came
    # (its error says "timed out"; a wall-clock bound said less, and load could break it).
    assert "timed out" not in run.stderr, run.stderr


def test_a_running_harvests_progress_file_reads_as_older_versions_read_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """locks/all.progress of a running harvest is its line and one ``run ID`` line, the
    whole rest of the file being the run id to an older harvester's status on a shared
    folder (a ``pid N on HOST`` line under it made that run id "ID\\npid ...", and that
    status said the running run's walk was "still running, or stopped")."""
    emu = make_emulator(preset="demo", faults=IMGDATA_HELD)
    out = tmp_path / "d"
    progress = out / "locks" / "all.progress"
    harvest = start_cli("harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE),
                        "--out", str(out), "--artifacts", "imgdata", "-q")  # fmt: skip
    with reaped(harvest), holding(emu, GATE):  # (read while its imgData answers are held)
        deadline = time.monotonic() + 60
        # (runs/ holds the run's folder a moment after its progress line is published)
        while not (
            progress.is_file()
            and "\nrun " in progress.read_text()
            and (out / "runs").is_dir()
            and any((out / "runs").iterdir())
        ):
            assert harvest.poll() is None and time.monotonic() < deadline, harvest.communicate()
            time.sleep(0.02)
        text = progress.read_text()
        runs = [p.name for p in (out / "runs").iterdir()]
    # How status before this version read the run id (harvester/status.py, _running_progress).
    tail = text.strip().partition("\n")[2]
    assert tail.strip().startswith("run "), text
    assert [tail.strip().removeprefix("run ")] == runs, text

"""Crashes: one harvest SIGKILLed ten times at random moments, resumed after each kill."""

from __future__ import annotations

import json
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from reliability_helpers import (
    ARTIFACTS,
    DEMO_IMAGES,
    DEMO_PROJECT,
    DEMO_SCREEN,
    Harvested,
    assert_artifacts_recorded_once,
    assert_verify_clean,
    cli,
    content,
    harvest_args,
    journal_records,
    start_cli,
    temp_files,
)

from harvester.emulator import EmulatorThread

KILLS = 10
SEED = 20261126


def journaled_done(out: Path) -> int:
    """Done records so far (tolerating the torn line a kill may leave)."""
    if not (out / "journals").is_dir():
        return 0
    return sum(1 for rec in journal_records(out) if rec.get("rec") == "done")


def wait_for_done(out: Path, target: int, proc: subprocess.Popen[str]) -> None:
    """Until the journals hold ``target`` done records or the process ended (bounded)."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if journaled_done(out) >= target or proc.poll() is not None:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {target} done records after 30 s")


def test_ten_sigkills_then_resume_equal_uninterrupted(
    reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ten seeded SIGKILLs (during the walk, between and inside batches), each followed by a
    resume from the same command: after every kill all complete journal lines parse and
    their files match; the final output is byte-identical to an uninterrupted run, every
    artifact journaled once, no temporary file left, verify clean."""
    emu = make_emulator(preset="demo", latency_ms=10, jitter_ms=10)
    out = tmp_path / "killed"
    argv = harvest_args(
        emu.base_url,
        out,
        "--screen", str(DEMO_SCREEN),
        "--project", str(DEMO_PROJECT),
        rate="none",
        concurrency="8",
    )  # fmt: skip
    rng = random.Random(SEED)
    total = DEMO_IMAGES * 4
    # Each kill waits until the journal has grown by a seeded step (so every life makes
    # progress and the kills spread over the whole run), then a seeded extra moment.
    # Steps stop at 80% of the artifacts so that no life can finish before its kill.
    # The first kill lands during start-up or the walk (a seeded moment, no artifact yet).
    steps = [0, *sorted(rng.sample(range(1, int(total * 0.8)), KILLS - 1))]
    lives = 0
    for step in steps:
        before = journaled_done(out)
        target = max(step, before)  # kill 0 may land in the walk: no artifact yet
        proc = start_cli(*argv)
        lives += 1
        try:
            if step > 5:
                wait_for_done(out, target, proc)
                time.sleep(rng.random() * 0.03)
            else:  # during start-up or the walk, before any artifact is journaled
                time.sleep(0.3 + rng.random() * 0.4)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode != 0  # really killed mid-run, not finished
        journaled_done(out)  # every complete line parses
    # The resume: the same command, run to completion.
    final = cli(*argv)
    assert final.returncode == 0, final.stderr[-3000:]
    assert lives == KILLS
    assert content(out, emu.base_url) == content(reference.out, reference.base_url)
    assert_artifacts_recorded_once(out, DEMO_IMAGES)
    assert temp_files(out) == []
    assert not (out / "staging").exists() or not any((out / "staging").iterdir())
    assert_verify_clean(out)


def test_torn_last_journal_line_is_ignored(
    reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A journal ending in half a record (power cut mid-append) is read without error: the
    torn record counts for nothing, its artifact is fetched again, status and verify work."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "torn"
    argv = harvest_args(emu.base_url, out, "--project", str(DEMO_PROJECT), rate="none")
    assert cli(*argv).returncode == 0
    journal = next((out / "journals").glob("*.jsonl"))
    lines = journal.read_bytes().split(b"\n")
    records = [json.loads(line) for line in lines[:-1]]
    last_done = max(
        i for i, rec in enumerate(records) if rec["rec"] == "done" and rec["kind"] in ARTIFACTS
    )
    victim = records[last_done]
    # Remove the record and everything after it, then end the journal with half of it.
    journal.write_bytes(b"\n".join(lines[:last_done]) + b"\n" + lines[last_done][:40])
    (out / victim["path"]).unlink()
    emu.reset_stats()
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert emu.stats()["image_requests"] >= 1  # the torn record's artifact was fetched again
    assert (out / victim["path"]).is_file()
    status = cli("status", str(out), "--json")
    assert status.returncode == 0, status.stderr
    assert_verify_clean(out)

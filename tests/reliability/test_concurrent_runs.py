"""Two harvests of the same config started at once on the same folder: a clear refusal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reliability_helpers import (
    DEMO_IMAGES,
    DEMO_PROJECT,
    DEMO_SCREEN,
    Harvested,
    assert_artifacts_recorded_once,
    assert_one_line_error,
    assert_verify_clean,
    cli,
    content,
    done_counts,
    harvest_args,
    start_cli,
    temp_files,
)

from harvester.emulator import EmulatorThread


def test_second_harvest_of_same_folder_is_refused(
    reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Same command, same DIR, started together: one run harvests (exit 0), the other is
    refused with one error line naming the holder (exit 2) before writing anything (no
    journal of its own). The folder is byte-identical to a clean harvest, every artifact
    journaled once (no double work), no temp file; a later run reuses the freed lock."""
    emu = make_emulator(preset="demo", latency_ms=10)
    out = tmp_path / "shared"
    argv = harvest_args(
        emu.base_url,
        out,
        "--screen", str(DEMO_SCREEN),
        "--project", str(DEMO_PROJECT),
        rate="none",
    )  # fmt: skip
    procs = [start_cli(*argv), start_cli(*argv)]
    results = [proc.communicate(timeout=120) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 75], results  # 75: try again later (EX_TEMPFAIL)
    refused = next(err for proc, (_o, err) in zip(procs, results, strict=True) if proc.returncode)
    assert_one_line_error(refused, "already being harvested", "by another process", "pid ")
    assert len(list((out / "journals").glob("*.jsonl"))) == 1
    assert content(out, emu.base_url) == content(reference.out, reference.base_url)
    assert_artifacts_recorded_once(out, DEMO_IMAGES)
    assert temp_files(out) == []
    emu.reset_stats()
    assert cli(*argv).returncode == 0  # the lock was released with its holder
    assert emu.stats()["image_requests"] == 0
    assert_verify_clean(out)


def test_different_shards_share_a_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Shards 0/2 and 1/2 started at once on one DIR both run (HPC job arrays): exit 0 each,
    and together they journal every artifact exactly once."""
    emu = make_emulator(preset="demo", latency_ms=10)
    out = tmp_path / "sharded"
    procs = [
        start_cli(
            *harvest_args(emu.base_url, out, "--screen", str(DEMO_SCREEN), rate="none", shard=shard)
        )
        for shard in ("0/2", "1/2")
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    assert_artifacts_recorded_once(out, 80)
    assert temp_files(out) == []


def test_a_run_of_another_split_is_refused_while_a_shard_runs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Shard 0/2 running, then a run without --shard (its images include shard 0/2's): the
    second is refused in one line naming the holder, exit 2, and records nothing; the shard
    finishes its half, each artifact journaled once (an HPC walkthrough found two arrays of
    different --tasks on one folder fetching the same images twice)."""
    import time

    emu = make_emulator(preset="demo", latency_ms=100)  # the shard runs for seconds
    out = tmp_path / "split"
    shard = start_cli(
        *harvest_args(emu.base_url, out, "--screen", str(DEMO_SCREEN), rate="none", shard="0/2")
    )
    lock = out / "locks" / "shard-0-of-2.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text().startswith("pid ")):
        assert shard.poll() is None and time.monotonic() < deadline, shard.communicate()
        time.sleep(0.02)
    whole = cli(*harvest_args(emu.base_url, out, "--screen", str(DEMO_SCREEN), rate="none"))
    _out, err = shard.communicate(timeout=120)
    assert shard.returncode == 0, err
    assert whole.returncode == 2, whole.stderr
    assert_one_line_error(
        whole.stderr, "being harvested by another process as shard 0/2 (pid ", "different counts"
    )
    # Refused as its store opened: no journal of its own, nothing fetched or recorded by it.
    assert len(list((out / "journals").glob("*.jsonl"))) == 1
    counts = done_counts(out)  # the shard's half, each artifact journaled once
    assert counts and set(counts.values()) == {1}
    assert temp_files(out) == []

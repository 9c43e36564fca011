"""Two harvests of the same config started at once on the same folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reliability_helpers import (
    DEMO_IMAGES,
    DEMO_PROJECT,
    DEMO_SCREEN,
    Harvested,
    assert_verify_clean,
    cli,
    content,
    done_counts,
    harvest_args,
    journal_records,
    start_cli,
    temp_files,
)

from harvester.emulator import EmulatorThread


def test_two_harvests_at_once_cooperate(
    reference: Harvested, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Same command, same DIR, started together: both finish with exit 0 (cooperation, each
    process writes its own journal and temp names), the folder is byte-identical to a clean
    harvest, no temp file, every journaled file matches its record, verify is clean."""
    emu = make_emulator(preset="demo", latency_ms=5)
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
    for proc, (_stdout, stderr) in zip(procs, results, strict=True):
        assert "Traceback" not in stderr
        assert proc.returncode == 0, stderr
    assert len(list((out / "journals").glob("*.jsonl"))) == 2
    assert content(out, emu.base_url) == content(reference.out, reference.base_url)
    counts = done_counts(out)  # every record's file has the recorded size and sha256
    kinds = ("thumbnail", "imgdata", "render", "metadata")
    assert len([key for key in counts if key[0] in kinds]) == DEMO_IMAGES * 4
    # Both processes may fetch the same artifact (no work sharing): then both records
    # name the same path, size and sha256 — one file, never two versions of it.
    versions: dict[tuple[str, int], set[tuple[str, int, str]]] = {}
    for rec in journal_records(out):
        if rec["rec"] == "done":
            key = (rec["kind"], rec["id"])
            versions.setdefault(key, set()).add((rec["path"], rec["size"], rec["sha256"]))
    assert all(len(v) == 1 for v in versions.values())
    assert temp_files(out) == []
    # A third run sees everything done and fetches nothing.
    emu.reset_stats()
    assert cli(*argv).returncode == 0
    assert emu.stats()["image_requests"] == 0
    assert_verify_clean(out)

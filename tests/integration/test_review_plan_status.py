"""``harvester status`` of a harvest whose plan cannot be read: the journals' counts still,
and one line saying what is wrong with the plan (status read no plan before 0.1.5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE

from harvester.cli import main
from harvester.emulator import EmulatorThread


def planned_and_harvested(emulator: EmulatorThread, out: Path) -> None:
    assert main(["plan", "--base-url", emulator.base_url, "--out", str(out),
                 "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail"]) == 0  # fmt: skip
    assert main(["harvest", "--out", str(out), "--from-plan", str(out), "--quiet",
                 "--rate", "none", "--shard", "0/2"]) == 0  # fmt: skip


@pytest.mark.parametrize("damage", ["truncated", "newer"])
def test_status_reports_the_journals_when_the_plan_is_damaged(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """A truncated ``images.jsonl`` or a plan of a newer format: exit 0, the harvest's done
    counts as before, and the plan's problem on one line (text and ``--json``)."""
    out = tmp_path / "study"
    planned_and_harvested(emulator, out)
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    if damage == "truncated":
        images = out / "plan" / "images.jsonl"
        images.write_bytes(images.read_bytes().splitlines(keepends=True)[0])
    else:
        meta = out / "plan" / "plan.json"
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": 99}))

    assert main(["status", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "plan" not in report
    assert report["kinds"] == {
        kind: {**counts, "pending": report["kinds"][kind]["pending"]}
        for kind, counts in whole["kinds"].items()
    }
    assert report["kinds"]["thumbnail"]["done"] == whole["kinds"]["thumbnail"]["done"] > 0
    assert "plan" in report["plan_error"]

    assert main(["status", str(out)]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.out.splitlines() if line.startswith("plan:")]
    assert len(lines) == 1 and "cannot be read" in lines[0], captured.out
    assert "Traceback" not in captured.err

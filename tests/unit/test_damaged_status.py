"""status on a folder damaged the ways real life damages one (found by a damage walk-through).

status is the first command a user runs on a folder that looks wrong: it must describe the
damage rather than refuse the folder or count work that was never asked for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from harvester.cli import main
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.status import collect_status


def harvest(out: Path, artifacts: list[str], ids: tuple[int, ...] = (1, 2, 3)) -> None:
    """A finished run that asked for ``artifacts`` and saved its config, as a harvest does."""
    from harvester.store import Store

    async def run() -> None:
        run_id = new_run_id()
        async with Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store:
            await store.save_run_config({"run": run_id, "config": {"artifacts": artifacts}})
            for i in ids:
                await store.record_image(ImageRef(i))
                for kind in artifacts:
                    await store.put_bytes(kind, i, image_path(i, kind), b"{}")

    anyio.run(run)


def test_runs_folder_deleted_keeps_the_kinds_the_journals_hold(tmp_path: Path) -> None:
    """With runs/ gone, status fell back to the default kinds and reported render (never
    asked for) as pending for every image of a complete harvest."""
    harvest(tmp_path, ["thumbnail", "imgdata"])
    shutil.rmtree(tmp_path / "runs")
    report = collect_status(tmp_path)
    assert report.selected == ["thumbnail", "imgdata"]
    assert report.pending == 0 and report.done == 6
    assert "render" not in report.kinds
    assert "(as journaled: no run's saved config can be read)" in report.format_text()
    assert report.to_dict()["selected_from"] == "journals"


def test_saved_config_still_wins_over_the_journals(tmp_path: Path) -> None:
    """A run that asked for more than is done yet: its pending work is still counted."""
    harvest(tmp_path, ["thumbnail"])

    async def ask_more() -> None:
        from harvester.store import Store

        run_id = new_run_id()
        async with Store.open(tmp_path, run_id=run_id, writer=make_writer(run_id)) as store:
            await store.save_run_config(
                {"run": run_id, "config": {"artifacts": ["thumbnail", "metadata"]}}
            )

    anyio.run(ask_more)
    report = collect_status(tmp_path)
    assert report.selected == ["thumbnail", "metadata"] and report.pending == 3
    assert report.selected_from is None and "selected_from" not in report.to_dict()


@pytest.mark.parametrize("marker", [b"", b'{"tool": "harv', b"\x00" * 90])
def test_damaged_marker_is_a_note_not_a_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], marker: bytes
) -> None:
    """A cut-short harvest.json was refused with "not written by harvester; choose another
    --out folder" (exit 2): the counts are what the user needs to decide what to do."""
    harvest(tmp_path, ["thumbnail"])
    (tmp_path / "harvest.json").write_bytes(marker)
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    damage = f"{tmp_path / 'harvest.json'} is damaged (not a JSON object, {len(marker)} bytes)"
    assert f"note: {damage}; the journals were read anyway" in out
    assert "thumbnail" in out and "3 images journaled" in out
    assert main(["status", "--json", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["done"] == 3
    assert any(n.startswith(damage) for n in data["notes"])


def test_deleted_journals_with_files_on_disk_are_named(tmp_path: Path) -> None:
    """'no harvest run is journaled in this folder' alone hid that images/ still holds the
    files and that a rerun would fetch them all again."""
    harvest(tmp_path, ["thumbnail"])
    shutil.rmtree(tmp_path / "journals")
    (tmp_path / "journals").mkdir()
    text = collect_status(tmp_path).format_text()
    assert "note: no journal records any file, yet images/ holds files" in text
    assert "fetch everything again" in text


def test_missing_index_is_noted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """index.csv gone: status says so and how to rebuild it; intact, no note."""
    harvest(tmp_path, ["thumbnail"])
    report = collect_status(tmp_path)
    assert report.notes == [f"index.csv is missing: rebuild it with harvester index {tmp_path}"]
    assert main(["index", str(tmp_path)]) == 0
    capsys.readouterr()
    report = collect_status(tmp_path)
    assert report.notes == [] and "notes" not in report.to_dict()

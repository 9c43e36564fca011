"""status and index take their defaults from the same "newest run": the last one started.

Run ids (``harvester.layout.new_run_id``) are a UTC second plus a random suffix, so runs
started within one second (a job array's shards, a quick rerun) sort by chance by id; both
commands order runs by the start time their journals recorded
(``harvester.journal.runs_newest_last``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import anyio
import pytest

from harvester.cli import main
from harvester.layout import image_path, make_writer
from harvester.models import ImageRef
from harvester.store import Store

# One second, suffixes in the reverse of the order the runs start in below.
FIRST = "20261126T090000Z-ffffff"
SECOND = "20261126T090000Z-000000"


async def run(out: Path, run_id: str, artifacts: list[str], label_keys: list[str]) -> None:
    """One run of DIR that saved its config and fetched the thumbnail of image 1."""
    async with Store.open(out, run_id=run_id, writer=make_writer(run_id)) as store:
        await store.save_run_config(
            {"run": run_id, "config": {"artifacts": artifacts, "label_keys": label_keys}}
        )
        labels = (("Gene Symbol", "CDK1"), ("Phenotype", "mitotic"))
        await store.record_image(ImageRef(1, labels=labels))
        await store.put_bytes("thumbnail", 1, image_path(1, "thumbnail"), b"jpeg")


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    """FIRST started before SECOND, but sorts after it by name."""
    anyio.run(run, tmp_path, FIRST, ["thumbnail", "imgdata"], ["Gene Symbol"])
    anyio.run(run, tmp_path, SECOND, ["thumbnail", "render"], ["Phenotype"])
    assert sorted([FIRST, SECOND])[-1] == FIRST
    return tmp_path


def test_status_pending_follows_the_run_started_last(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status counts as pending the kinds of the last run started, not of the last name."""
    assert main(["status", "--json", str(two_runs)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["selected"] == ["thumbnail", "render"]
    assert report["kinds"]["render"]["pending"] == 1
    assert "imgdata" not in report["kinds"]


def test_index_labels_follow_the_run_started_last(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """index labels the rows with the label keys of the last run started."""
    assert main(["index", str(two_runs)]) == 0
    with (two_runs / "index.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(row["image_id"], row["label"], row["label_id"]) for row in rows] == [
        ("1", "mitotic", "0")
    ]
    labels = (two_runs / "labels.csv").read_text(encoding="utf-8")
    assert labels == "label,label_id,images\nmitotic,0,1\n"

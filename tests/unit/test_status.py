"""status: done/failed/pending per kind, bytes, and which writers, shards and runs wrote them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.errors import UsageError
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.status import _file_ids, collect_status
from harvester.store import Store


async def shard_run(out: Path, k: int, ids: list[int], artifacts: list[str]) -> str:
    run = new_run_id()
    writer = make_writer(run, shard=(k, 2))
    async with Store.open(out, run_id=run, writer=writer, shard=f"{k}/2") as store:
        await store.save_run_config({"run": run, "config": {"artifacts": artifacts}})
        for i in ids:
            await store.record_image(ImageRef(i))
            await store.put_bytes("thumbnail", i, image_path(i, "thumbnail"), b"12345")
        await store.record_failure("render", ids[0], "http://h/render?bsession=S", 403, "Forbidden")
    return writer


async def test_status_aggregates_every_shard(tmp_path: Path) -> None:
    """Counts per kind over two shards, pending from the last run's artifacts, per-writer lines."""
    w0 = await shard_run(tmp_path, 0, [1, 2, 3], ["thumbnail", "render"])
    w1 = await shard_run(tmp_path, 1, [4, 5], ["thumbnail", "render"])
    report = collect_status(tmp_path)
    data = report.to_dict()
    assert data["kinds"]["thumbnail"] == {"done": 5, "failed": 0, "pending": 0, "bytes": 25}
    assert data["kinds"]["render"] == {"done": 0, "failed": 2, "pending": 3, "bytes": 0}
    assert data["totals"] == {"done": 5, "failed": 2, "pending": 3, "bytes": 25, "invalid": 0}
    assert data["images"] == 5 and data["selected"] == ["thumbnail", "render"]
    writers = {w["writer"]: w for w in data["writers"]}
    assert writers[w0]["shard"] == "0/2" and writers[w0]["done"] == 3
    assert writers[w1]["done"] == 2 and writers[w1]["bytes"] == 10
    assert sum(r["done"] for r in data["runs"].values()) == 5
    assert (
        data["failures"][0]["status"] == 403
        and "S" not in data["failures"][0]["url"].split("=")[-1]
    )
    json.dumps(data)
    text = report.format_text()
    assert "thumbnail" in text and w0 in text and "failures" in text


async def test_status_without_saved_config_uses_default_artifacts(tmp_path: Path) -> None:
    """Pending counts the default artifacts when no run config was saved."""
    run = new_run_id()
    async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
        await store.record_image(ImageRef(1))
    report = collect_status(tmp_path)
    assert report.selected == ["thumbnail", "imgdata", "render", "metadata"]
    assert report.pending == 4 and report.done == 0


def test_status_of_a_folder_that_is_not_a_harvest_is_refused(tmp_path: Path) -> None:
    """status on a random folder is a clear usage error."""
    with pytest.raises(UsageError, match="not a harvester folder \\(no harvest.json\\)"):
        collect_status(tmp_path)
    with pytest.raises(UsageError):
        collect_status(tmp_path / "missing")


def test_file_ids_come_from_a_folders_listing_and_name_hard_links_as_one(tmp_path: Path) -> None:
    """What status tells names of one file by: the (device, inode) of the names asked for
    that are regular files, hard links across folders alike; a symlink, a folder, a name
    not there, or a folder path that would leave DIR, give none."""
    a, b = tmp_path / "images" / "000" / "000", tmp_path / "images" / "000" / "001"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    (a / "1.paths.json").write_bytes(b"x")
    (a / "2.paths.json").hardlink_to(a / "1.paths.json")
    (b / "1001.paths.json").hardlink_to(a / "1.paths.json")
    (a / "3.paths.json").write_bytes(b"x")
    (a / "4.paths.json").symlink_to(a / "3.paths.json")
    (a / "5.paths.json").mkdir()
    asked = {f"{i}.paths.json" for i in range(1, 7)}
    first = _file_ids(tmp_path, "images/000/000", asked)
    other = _file_ids(tmp_path, "images/000/001", {"1001.paths.json"})
    st1, st3 = (a / "1.paths.json").stat(), (a / "3.paths.json").stat()
    assert first == {
        "1.paths.json": (st1.st_dev, st1.st_ino),
        "2.paths.json": (st1.st_dev, st1.st_ino),
        "3.paths.json": (st3.st_dev, st3.st_ino),
    }
    assert other == {"1001.paths.json": (st1.st_dev, st1.st_ino)}
    assert _file_ids(tmp_path, "images/000/000", {"2.paths.json"}) == {
        "2.paths.json": (st1.st_dev, st1.st_ino)
    }
    assert _file_ids(tmp_path, "images/../..", asked) == {}
    assert _file_ids(tmp_path, "images/000/002", asked) == {}

"""``status`` counts, set by set, what ``harvester harvest --out DIR`` would fetch, and that
resume replays what it can: review findings on folders holding a plan beside other target
sets. Every run is the CLI against the emulator over real sockets."""

from __future__ import annotations

import json
from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli, status_json

from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen (8 images)


def plan_and_harvest(emulator: EmulatorThread, out: Path) -> None:
    """DIR's plan of SMALL_PLATE's thumbnails, harvested: every thumbnail done."""
    planned = run_cli("plan", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                      str(SMALL_PLATE), "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    ran = run_cli("harvest", "--out", str(out), "--from-plan", str(out), "--rate", "none", "-q")
    assert ran.returncode == 0, ran.stderr


def test_a_harvested_plans_images_are_counted_by_its_kinds_not_the_newest_runs(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """After the plan's thumbnails and a newer ``--plate P --artifacts thumbnail,metadata``,
    the plan's images wanted metadata in status (8 pending, 'to resume') that the resume,
    replaying the plan with thumbnails, never fetched."""
    out = tmp_path / "p"
    plan_and_harvest(emulator, out)
    other = run_cli("harvest", "--out", str(out), "--plate", str(OTHER_PLATE), "--artifacts",
                    "thumbnail,metadata", "--rate", "none", "-q")  # fmt: skip
    assert other.returncode == 0, other.stderr

    data = status_json(out)
    assert data["totals"]["pending"] == 0 and "resume" not in data
    assert data["kinds"]["metadata"]["done"] == 8
    emulator.reset_stats()
    resumed = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stats()["image_requests"] == 0  # as status said: nothing is left


def test_a_plan_harvested_by_its_plan_folders_path_counts_as_harvested(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--from-plan DIR/plan`` (the plan folder itself, which a harvest takes as ``DIR``)
    harvests DIR's plan too: status counted that plan as harvested by nobody (its metadata
    pending, 'also: harvester harvest --out DIR --from-plan DIR (its plan, not harvested
    yet)'), which fetched what the run had been told not to."""
    out = tmp_path / "p"
    planned = run_cli("plan", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                      str(SMALL_PLATE), "--artifacts", "thumbnail,metadata", "-q")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    ran = run_cli("harvest", "--out", str(out), "--from-plan", str(out / "plan"),
                  "--artifacts", "thumbnail", "--rate", "none", "-q")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    data = status_json(out)
    assert data["plan"]["artifacts"] == ["thumbnail"] and data["plan"]["pending"] == 0
    assert data["totals"]["pending"] == 0 and "resume" not in data


def test_a_damaged_plan_leaves_the_journals_pending_counts_as_they_are(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A plan whose ``images.jsonl`` turns out damaged (its line count, found at its end)
    is not counted: the images read before that must still be counted by the journals, a
    thumbnail ``verify`` marked bad pending (the resume fetches it again)."""
    out = tmp_path / "p"
    plan_and_harvest(emulator, out)
    images = out / "plan" / "images.jsonl"
    first = json.loads(images.read_text().splitlines()[0])["image_id"]
    (victim,) = (out / "images").rglob(f"{first}.thumbnail.jpg")
    victim.write_bytes(b"not a jpeg")
    assert run_cli("verify", str(out)).returncode == 1
    assert status_json(out)["kinds"]["thumbnail"]["pending"] == 1

    images.write_text(images.read_text().splitlines(keepends=True)[0])  # 1 line of 8
    data = status_json(out)
    assert "plan" in data["plan_error"] and "plan" not in data
    assert data["kinds"]["thumbnail"]["pending"] == 1


def test_a_resume_goes_on_when_a_shards_plan_elsewhere_is_gone(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A shard harvested from a plan in another folder (a job array's, on scratch space
    purged since) is not replayed by ``harvest --out DIR`` (a shard never is: its line
    says so); the other sets are. Working out the flags given now over that shard's saved
    ones asked for its plan, and the whole resume ended in 'write a plan first', exit 2."""
    plans, out = tmp_path / "scratch", tmp_path / "d"
    planned = run_cli("plan", "--base-url", emulator.base_url, "--out", str(plans), "--plate",
                      str(SMALL_PLATE), "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    shard = run_cli("harvest", "--out", str(out), "--from-plan", str(plans), "--shard", "0/2",
                    "--rate", "none", "-q")  # fmt: skip
    assert shard.returncode == 0, shard.stderr
    other = run_cli("harvest", "--out", str(out), "--plate", str(OTHER_PLATE), "--artifacts",
                    "thumbnail", "--rate", "none", "-q")  # fmt: skip
    assert other.returncode == 0, other.stderr
    for path in sorted((plans / "plan").iterdir()):
        path.unlink()

    resumed = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert "write a plan first" not in resumed.stderr, resumed.stderr
    assert "not resumed:" in resumed.stderr and "shard 0/2" in resumed.stderr, resumed.stderr
    assert "Traceback" not in resumed.stderr

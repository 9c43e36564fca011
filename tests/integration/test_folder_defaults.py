"""A run into a folder, given no ``--artifacts``, fetches the kinds of the folder's newest run;
``status`` counts what the command it suggests would fetch.

Found by a walkthrough: after ``--plate 7375 --artifacts thumbnail``, new targets (``--image``,
the ``status --failed-ids`` > retry.txt recipe, ``harvester plan --out DIR``) took the default
kinds; ``status`` then counted 21 pending and said "to resume: harvester harvest --out DIR",
which made no request. After following the migration-2026 hint (``--artifacts
thumbnail,metadata``), status still said "follow the hint above". Every test talks to the
emulator over real sockets.
"""

from __future__ import annotations

import json
import shlex
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, harvest, kind_files, run_cli, status_json

from harvester.cli.harvest import artifacts_given
from harvester.config import HarvestConfig, folder_artifacts
from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen (8 images)
IMAGE = 9762957  # the first image of SMALL_PLATE
ROUTES = {"thumbnail": "image:thumbnail", "imgdata": "image:imgdata", "render": "image:render"}


def image_routes(emulator: EmulatorThread) -> dict[str, int]:
    """Image requests by route, answered 200 (``api_image`` too: metadata, or a check)."""
    by_route = emulator.stats()["by_route"]
    return {
        route: counts.get("200", 0)
        for route, counts in by_route.items()
        if route.startswith("image:") or route == "api_image"
    }


def test_new_targets_take_the_folders_artifacts_and_status_agrees_with_the_resume(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """New targets in a folder take its artifacts; status agrees with the resume: none pending."""
    out = tmp_path / "d1"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    emulator.reset_stats()

    added = run_cli("harvest", "--out", str(out), "--image", str(IMAGE))
    assert added.returncode == 0, added.stderr
    assert (
        f"fetching --artifacts thumbnail, the kinds {out} was harvested with (its newest run, "
        in added.stderr
    )
    assert [kind_files(out, k) for k in ("imgdata", "render", "metadata")] == [[], [], []]
    assert emulator.stats()["image_requests"] == 0  # its thumbnail was there already

    # The status --failed-ids recipe, with an image not in DIR yet: its thumbnail only.
    retry = tmp_path / "retry.txt"
    retry.write_text("1884801\n")  # an image of the demo project
    emulator.reset_stats()
    topped = run_cli("harvest", "--ids-from", str(retry), "--out", str(out), "-q")
    assert (topped.returncode, topped.stderr) == (0, "")
    routes = image_routes(emulator)
    assert routes.get("image:thumbnail") == 1
    assert not routes.get("image:imgdata") and not routes.get("image:render")
    assert len(kind_files(out, "thumbnail")) == 9 and kind_files(out, "metadata") == []

    data = status_json(out)
    assert data["selected"] == ["thumbnail"]
    assert data["totals"]["pending"] == 0 and "resume" not in data
    text = run_cli("status", str(out)).stdout
    assert "to resume" not in text

    emulator.reset_stats()
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stats()["image_requests"] == 0


def test_explicit_artifacts_win_and_status_counts_each_target_set_by_its_own(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Artifacts given win over the folder's; status counts each target set by its own kinds."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    emulator.reset_stats()
    given = run_cli("harvest", "--out", str(out), "--plate", str(OTHER_PLATE), "--artifacts",
                    "imgdata")  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "fetching --artifacts" not in given.stderr
    assert len(kind_files(out, "imgdata")) == 8 and len(kind_files(out, "thumbnail")) == 8
    routes = image_routes(emulator)
    assert routes.get("image:imgdata") == 8 and not routes.get("image:thumbnail")

    # The newest run asked for imgdata: the first plate's images are not pending for it
    # (its resume asks for thumbnails), nor the second's for thumbnails.
    data = status_json(out)
    assert data["selected"] == ["thumbnail", "imgdata"]
    assert data["totals"]["pending"] == 0 and "resume" not in data
    emulator.reset_stats()
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stats()["image_requests"] == 0

    # A folder where new targets took the defaults (before this change): no false pending.
    old = tmp_path / "old"
    harvest(emulator.base_url, old, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    harvest(emulator.base_url, old, images=(IMAGE,))
    data = status_json(old)
    assert data["totals"]["pending"] == 0 and "resume" not in data


def test_a_config_file_naming_the_artifacts_counts_as_given(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A config file naming the artifacts counts as given, so the folder's kinds are not taken."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    cfg = HarvestConfig(out=out, plates=(OTHER_PLATE,), base_url=emulator.base_url)
    conf = tmp_path / "c.toml"
    conf.write_text('artifacts = ["thumbnail", "imgdata", "render", "metadata"]\n')
    assert artifacts_given(Namespace(config=conf, artifacts=None), cfg)
    conf.write_text("concurrency = 4\n")
    assert not artifacts_given(Namespace(config=conf, artifacts=None), cfg)
    assert folder_artifacts(cfg, given=True) == (cfg, None)
    taken, line = folder_artifacts(cfg, given=False)
    assert [a.value for a in taken.artifacts] == ["thumbnail"] and line is not None


def test_after_following_the_migration_hint_status_no_longer_asks_to_follow_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Once the migration hint is followed, status names the kinds not asked and stops asking."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "mg"
    first = harvest(emu.base_url, out, plates=(SMALL_PLATE,))
    assert first.exit_code == 1
    before = run_cli("status", str(out)).stdout
    assert "follow the hint above" in before

    emu.reset_stats()
    followed = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata", "-q")
    assert followed.returncode == 0, followed.stderr
    assert emu.stats()["image_requests"] == 0  # thumbnails and metadata were all there

    proc = run_cli("status", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "follow the hint" not in proc.stdout and "to resume" not in proc.stdout
    assert (
        "failed before, not asked for any more: imgdata 8, render 8 (the newest run of their "
        f"targets asks for other kinds); to try them again: harvester harvest --out {out} "
        "--artifacts thumbnail,imgdata,render,metadata"
    ) in proc.stdout
    data = status_json(out)
    assert data["totals"]["failed"] == 0 and data["failures"] == [] and "resume" not in data
    assert data["not_asked"] == {"imgdata": 8, "render": 8}
    ids = run_cli("status", str(out), "--failed-ids")
    assert (ids.returncode, ids.stdout) == (0, "")


def test_a_plan_in_a_harvested_folder_takes_its_artifacts_and_status_names_its_command(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A plan in a harvested folder takes its artifacts; status names the --from-plan command."""
    out = tmp_path / "k1"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    planned = run_cli("plan", "--out", str(out), "--plate", str(SMALL_PLATE))
    assert planned.returncode == 0, planned.stderr
    assert f"fetching --artifacts thumbnail, the kinds {out} was harvested with" in planned.stdout
    assert json.loads((out / "plan" / "plan.json").read_text())["artifacts"] == {"thumbnail": 8}
    text = run_cli("status", str(out)).stdout
    assert "artifacts 8 done, 0 failed, 0 pending" in text and "to resume" not in text

    # A plan given other kinds: the table counts them, and says the command that fetches
    # them (`harvester harvest --out DIR` replays the runs, not the plan).
    again = run_cli("plan", "--out", str(out), "--plate", str(SMALL_PLATE), "--force",
                    "--artifacts", "thumbnail,imgdata", "-q")  # fmt: skip
    assert again.returncode == 0, again.stderr
    data = status_json(out)
    assert data["plan"]["pending"] == 8
    assert data["kinds"]["imgdata"]["pending"] == 8 and data["totals"]["pending"] == 8
    q = shlex.quote(str(out))
    assert data["resume"] == f"harvester harvest --out {q} --from-plan {q}"
    emulator.reset_stats()
    ran = run_cli(*shlex.split(data["resume"])[1:], "-q")
    assert ran.returncode == 0, ran.stderr
    assert image_routes(emulator).get("image:imgdata") == 8
    assert emulator.stats()["image_requests"] == 8
    data = status_json(out)
    assert data["totals"]["pending"] == 0 and "resume" not in data


def test_harvester_slurm_writes_the_folders_artifacts_into_its_script(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """slurm in a harvested folder writes the folder's artifacts into its script unless given."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    wrote = run_cli("slurm", "--out", str(out), "--plate", str(OTHER_PLATE), "--tasks", "2")
    assert wrote.returncode == 0, wrote.stderr
    assert f"fetching --artifacts thumbnail, the kinds {out} was harvested with" in wrote.stdout
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec "))
    assert words[words.index("--artifacts") + 1] == "thumbnail"

    given = run_cli("slurm", "--out", str(out), "--plate", str(OTHER_PLATE), "--tasks", "2",
                    "--artifacts", "metadata")  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "fetching --artifacts" not in given.stdout
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec "))
    assert words[words.index("--artifacts") + 1] == "metadata"


def test_a_plan_harvested_with_other_kinds_is_counted_by_those(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``harvest --from-plan --artifacts thumbnail`` fetches thumbnails only, and so does its
    resume: the plan's metadata is not pending (the plan line counted it, with no command)."""
    out = tmp_path / "p"
    planned = run_cli("plan", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                      str(SMALL_PLATE), "--artifacts", "thumbnail,metadata", "-q")  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    ran = run_cli("harvest", "--out", str(out), "--from-plan", str(out), "--artifacts",
                  "thumbnail", "-q")  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert len(kind_files(out, "thumbnail")) == 8 and kind_files(out, "metadata") == []
    data = status_json(out)
    assert data["plan"]["artifacts"] == ["thumbnail"] and data["plan"]["pending"] == 0
    assert data["totals"]["pending"] == 0 and "resume" not in data
    emulator.reset_stats()
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert emulator.stats()["image_requests"] == 0


def test_all_given_again_says_first_which_kinds_it_now_includes(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A folder harvested with ``all`` before it took ``paths`` (its run's saved settings
    as 0.1.19 saved them; stopped by a budget and resumed), given ``all`` again: a note
    says, before the summary, that ``all`` now includes paths and which flag keeps the old
    kinds, and the paths files are fetched; the next ``all`` run, and the old kinds given
    by name, say nothing."""
    out = tmp_path / "d1"
    old = "thumbnail,imgdata,render,metadata,stack,rois"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", old, "--rate", "none", "--max-bytes", "1K", "--out", str(out),
    )  # fmt: skip
    assert first.returncode == 8 and "--max-bytes budget" in first.stderr, first.stderr
    (saved,) = (out / "runs").glob("*/config.json")
    record = json.loads(saved.read_text())
    record["argv"][record["argv"].index(old)] = "all"  # as 0.1.19's `--artifacts all` saved
    record["version"] = "0.1.19"
    saved.write_text(json.dumps(record))
    resumed = run_cli("harvest", "--out", str(out), "--max-bytes", "1G")  # (its kinds: all's)
    assert resumed.returncode == 0, resumed.stderr
    (replay,) = {p.parent.name for p in (out / "runs").glob("*/config.json")} - {saved.parent.name}
    again = ["harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE)]
    rerun = run_cli(*again, "--artifacts", "all", "--rate", "none", "--out", str(out))
    assert rerun.returncode == 0, rerun.stderr
    note = (
        f"note: --artifacts all now includes paths, which it did not when {out} was harvested "
        f"with all (its newest run, {replay}): it is fetched for every image, those already "
        f"harvested too; --artifacts {old} keeps the kinds of that run"
    )
    lines = rerun.stderr.splitlines()
    assert lines.count(note) == 1 and lines.index(note) == 0, rerun.stderr
    assert rerun.stdout.startswith("done 8 (paths 8), skipped 48"), rerun.stdout
    for kinds in ("all", old):
        quiet = run_cli(*again, "--artifacts", kinds, "--rate", "none", "--out", str(out))
        assert quiet.returncode == 0, quiet.stderr
        assert "note:" not in quiet.stderr and "now includes" not in quiet.stderr

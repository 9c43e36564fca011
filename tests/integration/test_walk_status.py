"""`status` knows when a walk did not list everything (its images are in no journal).

A listing that failed for good, or a run stopped while it was still walking, leaves images
that no journal names: ``pending`` cannot count them. The "walk" records say so, ``status``
shows it with the command that resumes, and a later walk of the same targets that lists
everything clears it.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import held_after, holding
from harvest_helpers import (
    DEMO_PROJECT,
    DEMO_SCREEN,
    SMALL_PLATE,
    StderrLines,
    harvest,
    reaped,
    run_cli,
    start_cli,
    wait_for_files,
)

from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue_presets import (
    LINKS_DATASET_IDS,
    LINKS_PROJECT_ID,
    LINKS_SECOND_PROJECT_ID,
    LINKS_SHARED_IMAGE_ID,
)
from harvester.emulator.http import Request, Response
from harvester.shard import in_shard
from harvester.status import StatusReport, collect_status

#: The demo project's 8 images (1884801 to 1884808).
PROJECT_IMAGES = [1884801 + n for n in range(8)]
#: One at a time: a run stopped while its 4th thumbnail is held has 5 to go.
SLOW = ("--concurrency", "1")
#: The emulator's gate the answer in flight at a run's kill waits at.
GATE = "in-flight"
#: Three thumbnails answered, the fourth held until the run is killed.
FOURTH_HELD = held_after(3, GATE, "image:thumbnail")


def walk_records(out: Path) -> list[dict[str, object]]:
    """Every "walk" record of DIR's journals, oldest first (by the time each was written:
    a journal's name starts with its writer's pid, which wraps, so the files' order is not
    the runs' order; a resume's record sorted before the killed run's it follows)."""
    records = []
    for journal in sorted((out / "journals").glob("*.jsonl")):
        for line in journal.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("rec") == "walk":
                records.append(rec)
    return sorted(records, key=lambda rec: float(rec.get("t", 0.0)))


def test_a_failed_listing_shows_in_status_until_a_later_walk_lists_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A failed listing shows in status with a resume until a later walk lists it."""
    out = tmp_path / "d"
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    first = harvest(
        broken.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",), max_retries=1
    )
    assert first.exit_code == 1
    assert [line.split(" <http")[0] for line in first.walk_failures] == [
        f"plate {SMALL_PLATE}: HTTP 503 Service Unavailable"  # (the status once)
    ]
    assert first.done == 0  # no image was listed: none is journaled, none "pending"

    report = collect_status(out)
    assert report.pending == 0 and report.failed == 0
    assert [w["targets"] for w in report.walks] == [f"--plate {SMALL_PLATE}"]
    assert report.walks[0]["finished"] is True
    assert report.walks[0]["failures"][0]["what"] == f"plate {SMALL_PLATE}"
    assert report.resume == f"harvester harvest --out {out}"
    text = report.format_text()
    assert f"walk of --plate {SMALL_PLATE} (run {first.run_id}): 1 listing failed" in text
    assert f"plate {SMALL_PLATE}: HTTP 503" in text
    assert f"to resume: harvester harvest --out {out}" in text

    shown = run_cli("status", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["walks"][0]["failures"][0]["status"] == 503
    assert data["resume"] == f"harvester harvest --out {out}"

    healthy = make_emulator(preset="demo")
    second = harvest(healthy.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert (second.exit_code, second.done) == (0, 8)
    report = collect_status(out)
    assert report.walks == [] and report.resume is None
    assert "walk of" not in report.format_text()
    assert "walks" not in json.loads(run_cli("status", str(out), "--json").stdout)


def test_a_plate_whose_grid_failed_after_its_images_were_listed_lost_no_image(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plate's grid (a study file, asked once its wells listed every image) that fails for
    good lost no image: status said "the images under them are not counted above" of it,
    while all 8 were counted and done. It says which files are missing instead; the resume
    fetches them and clears the walk."""
    out = tmp_path / "d"
    broken = make_emulator(preset="demo", faults="500:100%,only:/webgateway/plate/")
    first = harvest(
        broken.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",), max_retries=0
    )
    assert (first.exit_code, first.done) == (1, 8)  # every thumbnail; no study file
    assert [line.split(" <http")[0] for line in first.walk_failures] == [
        f"plate {SMALL_PLATE} (study files only): HTTP 500 Internal Server Error"
    ]
    report = collect_status(out)
    assert (report.pending, report.failed) == (0, 0)
    assert report.walks[0]["failures"][0]["study_only"] is True
    text = report.format_text()
    assert "not counted above" not in text
    assert "1 listing failed; every image under them was listed (counted above)" in text
    assert f"  plate {SMALL_PLATE} (study files only): HTTP 500" in text
    assert f"to resume: harvester harvest --out {out}" in text

    healthy = make_emulator(preset="demo")
    second = harvest(healthy.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert second.exit_code == 0
    assert (out / "study" / f"plate-{SMALL_PLATE}" / "grid-0.json").is_file()
    assert collect_status(out).walks == []


def test_failed_ids_says_that_a_failed_walk_has_no_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``status --failed-ids > retry.txt`` after a failed listing: no id (the walk never found
    its images), and it said nothing, as if nothing had failed. A note on stderr says so and
    names the command that walks them again; stdout keeps only ids."""
    out = tmp_path / "d"
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    harvest(broken.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",), max_retries=0)
    shown = run_cli("status", str(out), "--failed-ids")
    assert (shown.returncode, shown.stdout) == (0, "")
    assert shown.stderr == (
        f"note: 1 walk did not list everything (harvester status {out} names them): the "
        f"images under them have no id here; to walk them again: harvester harvest --out {out}\n"
    )


def test_a_plan_whose_grid_failed_says_it_would_miss_study_files_not_images(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """No plan when a plate's grid failed (a harvest from a plan does not walk: the study
    file would stay missing), but it said "it would miss their images" of a walk that had
    listed every one."""
    broken = make_emulator(preset="demo", faults="500:100%,only:/webgateway/plate/")
    out = tmp_path / "p"
    shown = run_cli(
        "plan", "--base-url", broken.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--rate", "none", "--max-retries", "0", "--quiet",
    )  # fmt: skip
    assert shown.returncode == 2, shown.stderr
    assert "no plan was written (it would miss their study files" in shown.stderr
    assert "their images" not in shown.stderr
    assert not (out / "plan" / "plan.json").exists()


class _NoScreenAnnotations:
    """The demo emulator, but the screen's own map annotations answer 500 (its plates and
    their wells' annotations are served)."""

    def __init__(self) -> None:
        from harvester.emulator.app import build_app

        self.app = build_app("demo")

    def handle(self, req: Request) -> Response:
        if req.path == "/webclient/api/annotations/" and req.param("screen") is not None:
            return Response(500, b"<h1>Server Error (500)</h1>", route="annotations")
        return self.app.handle(req)

    def route_name(self, req: Request) -> str:
        return self.app.route_name(req)


def test_a_screen_whose_annotations_failed_still_walks_its_plates(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The screen's map annotations (a study file, asked once its plates are listed) failing
    for good ended the walk of the whole screen: none of its 80 images was listed. Its
    plates are walked all the same; only the screen's study files are missing, and said."""
    out = tmp_path / "d"
    broken = make_emulator(app=_NoScreenAnnotations())
    first = harvest(
        broken.base_url, out, screens=(DEMO_SCREEN,), artifacts=("thumbnail",), max_retries=0
    )
    assert (first.exit_code, first.images) == (1, 80)
    assert [line.split(" <http")[0] for line in first.walk_failures] == [
        f"screen {DEMO_SCREEN} (study files only): HTTP 500 Internal Server Error"
    ]
    report = collect_status(out)
    assert report.kinds["thumbnail"].done == 80
    assert not (out / "study" / f"screen-{DEMO_SCREEN}").exists()
    assert "every image under them was listed" in report.format_text()

    healthy = make_emulator(preset="demo")
    second = harvest(healthy.base_url, out, screens=(DEMO_SCREEN,), artifacts=("thumbnail",))
    assert second.exit_code == 0
    assert (out / "study" / f"screen-{DEMO_SCREEN}" / "annotations.json").is_file()
    assert collect_status(out).walks == []


def test_a_run_killed_before_its_end_shows_an_unfinished_walk_and_the_resume_clears_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk counts as finished only once every image it sent is journaled, at the end
    of the run: a kill -9 at any earlier moment leaves it "not finished"."""
    slow = make_emulator(preset="demo", faults=FOURTH_HELD)
    out = tmp_path / "d"
    args = ["--project", str(DEMO_PROJECT), "--artifacts", "thumbnail", "--no-labels", "-q"]
    killed_early(
        start_cli("harvest", "--base-url", slow.base_url, "--out", str(out), *args, *SLOW),
        out,
        slow,
    )

    report = collect_status(out)
    assert [(w["targets"], w["finished"]) for w in report.walks] == [
        (f"--project {DEMO_PROJECT}", False)
    ]
    assert report.resume == f"harvester harvest --out {out}"
    run = report.walks[0]["run"]
    assert f"(run {run}) has not finished: stopped;" in report.format_text()
    with monkeypatch.context() as patched:  # a filesystem without flock: no lock shows
        patched.setattr(fcntl, "flock", no_flock)
        text = collect_status(out).format_text()
    assert f"(run {run}) has not finished: still running, or stopped;" in text

    fast = make_emulator(preset="demo")
    resumed = run_cli("harvest", "--out", str(out), "--base-url", fast.base_url, "-q")
    assert resumed.returncode == 0, resumed.stderr
    report = collect_status(out)
    assert report.walks == [] and report.pending == 0 and report.resume is None
    assert report.kinds["thumbnail"].done == len(PROJECT_IMAGES)
    # The resume's walk counts as finished after its last image was journaled.
    last = walk_records(out)[-1]
    assert last["finished"] is True and last["failures"] == []


def test_a_rerun_of_a_complete_folder_still_leaves_no_files_behind(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The walk records of a rerun that changed nothing go with its journal."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    journals = sorted(p.name for p in (out / "journals").iterdir())
    again = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert (again.exit_code, again.done) == (0, 0)
    assert sorted(p.name for p in (out / "journals").iterdir()) == journals
    assert collect_status(out).walks == []


def test_a_rerun_that_only_mends_a_failed_walk_keeps_its_journal(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Every image done, then a rerun whose listing failed, then one that lists it again and
    has nothing else to do: its journal stays, for its record says the walk is mended."""
    out = tmp_path / "d"
    healthy = make_emulator(preset="demo")
    plate = {"plates": (SMALL_PLATE,), "artifacts": ("thumbnail",)}
    harvest(healthy.base_url, out, **plate)
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    assert harvest(broken.base_url, out, max_retries=1, **plate).walk_failures
    assert collect_status(out).walks != []
    journals = set((out / "journals").iterdir())
    mended = harvest(healthy.base_url, out, **plate)
    assert (mended.exit_code, mended.done) == (0, 0)
    assert len(set((out / "journals").iterdir()) - journals) == 1  # kept
    assert collect_status(out).walks == []


def test_unfinished_walks_of_a_job_array_are_one_line() -> None:
    """100 tasks still walking one screen: one line naming the shards, not 100 lines."""
    walks: list[dict[str, Any]] = [
        {"targets": "--screen 3", "shard": f"{k}/100", "run": f"r{k}", "finished": False}
        for k in range(100)
    ]
    walks.append(
        {
            "targets": "--screen 3",
            "shard": "100/101",
            "run": "r100",
            "finished": True,
            "failures": [{"what": "plate 9", "status": 503, "reason": "busy", "url": "u"}],
        }
    )
    text = StatusReport(
        out_dir="d", selected=["thumbnail"], started=True, walks=walks
    ).format_text()
    lines = [line for line in text.splitlines() if line.startswith("walk of")]
    assert lines == [
        "walk of --screen 3 in 100 shards (0/100, 1/100, 2/100, 3/100, 4/100, 5/100, 6/100, "
        "7/100, 8/100, 9/100, ...) has not finished: still running, or stopped; the images it "
        "had not journaled yet are not counted above",
        "walk of --screen 3 (run r100, shard 100/101): 1 listing failed; the images under "
        "them are not counted above:",
    ]
    assert "  plate 9: HTTP 503: busy u" in text.splitlines()


def no_flock(fd: int, operation: int) -> None:
    """``fcntl.flock`` on a filesystem without it (some NFS mounts)."""
    raise OSError(errno.ENOLCK, "no locks available")


def killed_early(proc: subprocess.Popen[str], out: Path, emulator: EmulatorThread) -> None:
    """SIGKILL a CLI harvest once its first 3 files are on disk, while ``emulator`` holds
    its 4th thumbnail (:data:`FOURTH_HELD`): its walk cannot have finished."""
    with reaped(proc), holding(emulator, GATE):
        wait_for_files(out, 3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def test_a_relative_ids_file_is_one_walk_with_its_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--ids-from ids.txt` typed relative, killed, then resumed from elsewhere by `--out
    DIR` (which replays the absolute path): one walk, which the resume finishes."""
    slow = make_emulator(preset="demo", faults=FOURTH_HELD)
    work = tmp_path / "work"
    work.mkdir()
    (work / "ids.txt").write_text("".join(f"{i}\n" for i in PROJECT_IMAGES))
    args = ["--ids-from", "ids.txt", "--out", "d", "--artifacts", "thumbnail", "-q", *SLOW]
    killed_early(
        start_cli("harvest", "--base-url", slow.base_url, *args, cwd=work), work / "d", slow
    )
    report = collect_status(work / "d")
    assert [w["targets"] for w in report.walks] == [f"--ids-from {work / 'ids.txt'}"]

    fast = make_emulator(preset="demo")
    resumed = run_cli("harvest", "--out", str(work / "d"), "--base-url", fast.base_url, "-q")
    assert resumed.returncode == 0, resumed.stderr
    report = collect_status(work / "d")
    assert report.walks == [] and report.resume is None
    assert report.kinds["thumbnail"].done == 8


def test_two_runs_reading_standard_input_are_two_walks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ids on standard input, killed; then other ids on standard input, finished: the first
    run's ids are not taken as done (they were other ids under the same name), and the
    resume, which cannot read them again, refuses with the command instead of "nothing to
    resume"; status names the unfinished walk by its run once."""
    slow = make_emulator(preset="demo", faults=FOURTH_HELD)
    out = tmp_path / "d"
    args = ["--ids-from", "-", "--out", str(out), "--artifacts", "thumbnail", "-q", *SLOW]
    first = start_cli("harvest", "--base-url", slow.base_url, *args, stdin=True)
    assert first.stdin is not None
    first.stdin.write("".join(f"{i}\n" for i in PROJECT_IMAGES))
    first.stdin.close()
    killed_early(first, out, slow)  # (the gate is open for the second run)
    second = run_cli("harvest", "--base-url", slow.base_url, *args, stdin="9762957\n")
    assert second.returncode == 0, second.stderr

    report = collect_status(out)
    assert len(report.walks) == 1 and not report.walks[0]["finished"]
    assert report.walks[0]["targets"].startswith("--ids-from - '(run ")
    # The run keys the walk of ids read once; the line names it once, not twice.
    run = report.walks[0]["run"]
    line = f"walk of --ids-from - (run {run}) has not finished: stopped;"
    assert line in report.format_text()
    resumed = run_cli("harvest", "--out", str(out))
    assert resumed.returncode == 2
    assert "nothing to resume" not in resumed.stderr
    assert "read its image ids from standard input" in resumed.stderr


def test_a_later_unsharded_walk_covers_a_shards_failed_walk(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A later unsharded walk covers a shard's failed walk and its unrun sibling shard."""
    out = tmp_path / "d"
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    shard = harvest(
        broken.base_url,
        out,
        plates=(SMALL_PLATE,),
        artifacts=("thumbnail",),
        max_retries=1,
        shard="0/2",
    )
    assert shard.walk_failures
    walks = collect_status(out).walks
    assert [w["shard"] for w in walks] == ["0/2", "1/2"]
    assert walks[1]["started"] is False  # shard 1/2 never ran: its images are unknown too
    healthy = make_emulator(preset="demo")
    whole = harvest(healthy.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert whole.exit_code == 0
    assert collect_status(out).walks == []


def test_refused_note_is_not_said_beside_a_failed_listing() -> None:
    """An image refused with a 404 and a listing that failed busy: `status` does not say
    "the server refused every one of these (HTTP 4xx)" (the harvest's summary does not
    either: a rerun lists what the busy listing did not); a 404 alone still gets it."""
    failure = {"kind": "thumbnail", "id": 9, "status": 404, "reason": "Not Found", "url": "u"}
    walk = {
        "targets": "--screen 3",
        "run": "r1",
        "finished": True,
        "failures": [{"what": "plate 9", "status": 503, "reason": "busy", "url": "u"}],
    }
    common: dict[str, Any] = {
        "out_dir": "d", "selected": ["thumbnail"], "failures": [failure],
        "resume": "harvester harvest --out d",
    }  # fmt: skip
    with_walk = StatusReport(walks=[walk], **common).format_text()
    assert "to resume: harvester harvest --out d" in with_walk
    assert "refused every one" not in with_walk
    alone = StatusReport(**common).format_text()
    assert "note: the server refused every one of these (HTTP 4xx)" in alone


def test_a_sample_run_interrupted_while_fetching_has_its_whole_sample_counted(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C once a --sample was chosen: status counted only the images workers had taken
    and blamed images "not listed yet"; now the whole sample is known, pending, no walk line."""
    slow = make_emulator(preset="demo", faults=held_after(1, GATE, "image:thumbnail"))
    out = tmp_path / "d"
    args = ["--project", str(DEMO_PROJECT), "--sample", "5", "--artifacts", "thumbnail", "-q"]
    proc = start_cli("harvest", "--base-url", slow.base_url, "--out", str(out), *args, *SLOW)
    with reaped(proc), holding(slow, GATE):  # (its second thumbnail held)
        wait_for_files(out, 1)  # files come only once the sample is chosen
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr

    report = collect_status(out)
    assert report.images == 5
    assert report.pending == 5 - report.kinds["thumbnail"].done > 0  # stopped mid-sample
    assert report.walks == []
    text = report.format_text()
    assert "not listed yet" not in text and "has not finished" not in text
    assert f"to resume: harvester harvest --out {out}" in text


@pytest.mark.parametrize(
    ("concurrency", "every_image_journaled"),
    [("8", True), ("1", False)],
)
def test_a_run_interrupted_after_its_walk_ended_says_so_when_every_image_is_journaled(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    concurrency: str,
    every_image_journaled: bool,
) -> None:
    """Ctrl-C while fetching, the walk of the project's 8 images over: with 8 workers each
    image was taken, so journaled, before the stop, and the walk is journaled as finished
    (status said "has not finished" and warned of images not counted, when there were
    none); one at a time, 6 images still queued are in no journal, so the walk stays
    "has not finished: stopped" (status cannot count them). Either way the resume ends it."""
    slow = make_emulator(preset="demo", faults=held_after(1, GATE, "image:thumbnail"))
    out = tmp_path / "d"
    args = ["--project", str(DEMO_PROJECT), "--artifacts", "thumbnail", "--no-labels", "-q",
            "--concurrency", concurrency]  # fmt: skip
    proc = start_cli("harvest", "--base-url", slow.base_url, "--out", str(out), *args)
    with reaped(proc), holding(slow, GATE):  # (its second thumbnail held)
        # (with 8 at once, every other thumbnail comes: the walk has long ended)
        wait_for_files(out, len(PROJECT_IMAGES) - 1 if every_image_journaled else 1)
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr

    report = collect_status(out)
    text = report.format_text()
    done = report.kinds["thumbnail"].done
    assert f"to resume: harvester harvest --out {out}" in text
    if every_image_journaled:
        assert report.walks == [], text
        assert "has not finished" not in text
        assert (report.images, report.pending) == (8, 8 - done) and done == 7
        assert walk_records(out)[-1]["finished"] is True
    else:
        assert [(w["targets"], w["finished"]) for w in report.walks] == [
            (f"--project {DEMO_PROJECT}", False)
        ]
        assert "has not finished: stopped;" in text
        assert report.images < 8
    fast = make_emulator(preset="demo")
    resumed = run_cli("harvest", "--out", str(out), "--base-url", fast.base_url, "-q")
    assert resumed.returncode == 0, resumed.stderr
    report = collect_status(out)
    assert report.walks == [] and report.pending == 0
    assert report.kinds["thumbnail"].done == len(PROJECT_IMAGES)


#: The links preset's images: 3 in each of its two datasets, one of them in both.
LINKS_IMAGES = 6
#: The --debug line a run says once its walk has listed all it could (a sure sign).
WALK_OVER = "the walk listed all it could"


def test_a_shard_interrupted_after_its_walk_ended_has_its_walk_journaled_finished(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--shard 0/2``, Ctrl-C once its walk is over and each of its own images was taken:
    its walk is journaled as finished, as an unsharded one's is (it stayed "not finished":
    the walker's ids held the other shard's images too, met and left out, which the
    shard's journals never hold), and status counts every image of the shard; the walk of
    shard 1/2 is the only one status says is left."""
    mine = [i for i in PROJECT_IMAGES if in_shard(i, 0, 2)]
    assert 2 <= len(mine) < len(PROJECT_IMAGES)
    slow = make_emulator(preset="demo", faults=held_after(1, GATE, "image:thumbnail"))
    out = tmp_path / "d"
    proc = start_cli("harvest", "--base-url", slow.base_url, "--out", str(out), "--project",
                     str(DEMO_PROJECT), "--artifacts", "thumbnail", "--no-labels", "--debug",
                     "--concurrency", "8", "--shard", "0/2")  # fmt: skip
    with reaped(proc), holding(slow, GATE):  # (its second thumbnail held)
        err_lines = StderrLines(proc)
        err_lines.wait_for(WALK_OVER)
        wait_for_files(out, len(mine) - 1)
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = err_lines.ended()
    assert proc.returncode == 130, stderr[-3000:]

    assert [(w["shard"], w["finished"]) for w in walk_records(out)][-1] == ("0/2", True)
    report = collect_status(out)
    assert (report.images, report.kinds["thumbnail"].done) == (len(mine), len(mine) - 1)
    assert [(w["shard"], w.get("started")) for w in report.walks] == [("1/2", False)]


def test_an_image_met_under_two_datasets_keeps_its_place_when_stopped_after_the_walk(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The links preset walked one dataset at a time, project 2002 first: the shared image
    is first met (and taken by its worker) under dataset 62002, then again under 62001,
    which ranks first. Ctrl-C once the walk is over and each image was taken: the walk is
    journaled as finished, and index.csv has the image under 62001, as an uninterrupted
    run has it (the place held for it was left unjournaled: under 62002, in a folder whose
    walk said it was over)."""
    # (the thumbnail held: another image of 62001's, so the shared one has its row)
    held = held_after(0, GATE, f"/webgateway/render_thumbnail/{LINKS_SHARED_IMAGE_ID + 1}/")
    slow = make_emulator(preset="links", faults=held)
    out = tmp_path / "d"
    config = tmp_path / "one-at-a-time.toml"
    config.write_text(
        f'base_url = "{slow.base_url}"\nwalk_concurrency = 1\n'
        f"projects = [{LINKS_SECOND_PROJECT_ID}, {LINKS_PROJECT_ID}]\n",
        encoding="utf-8",
    )
    proc = start_cli("harvest", str(config), "--out", str(out), "--artifacts", "thumbnail",
                     "--no-labels", "--debug", "--concurrency", "8")  # fmt: skip
    with reaped(proc), holding(slow, GATE):
        err_lines = StderrLines(proc)
        err_lines.wait_for(WALK_OVER)
        wait_for_files(out, LINKS_IMAGES - 1)
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = err_lines.ended()
    assert proc.returncode == 130, stderr[-3000:]

    assert walk_records(out)[-1]["finished"] is True
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        rows = {int(row["image_id"]): row for row in csv.DictReader(f)}
    assert len(rows) == LINKS_IMAGES - 1  # (the held one has no file)
    assert rows[LINKS_SHARED_IMAGE_ID]["dataset_id"] == str(LINKS_DATASET_IDS[0])
    assert rows[LINKS_SHARED_IMAGE_ID]["project_id"] == str(LINKS_PROJECT_ID)

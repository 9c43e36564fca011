"""After a job array, `status` shows each task's progress and, with `verify`, resubmits
only the tasks with work left.

An array where some tasks were cancelled, killed (`kill -9`, out of memory) or met failures
used to get the whole array back from `harvester status`: every finished task queued and
started again to find nothing to do, and nothing said which tasks had ended short. The resume
line now names them (`sbatch --array=1,3 ...`), with the script's `%M` when it names more
than M tasks: a command-line `--array` replaces the script's line, throttle included, and
each task's share of the rate assumes at most M at once (found by an HPC walkthrough).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import EmulatorProcess, image_request_counts, run_array_task, write_tools
from test_slurm import _logs, _wait_gone, require_slurm_cluster
from test_slurm_resume_index import _sbatch

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.shard import shard_of
from harvester.slurm import array_spec, queued_jobs

#: Project 51 of the demo preset; of 4 shards, shard 1 holds 1884803 alone.
PROJECT_IMAGES = range(1884801, 1884809)
JOB_NAME = "hv-tasks-left"


def _held_line(job: str) -> str:
    """status's line of a job array held in the queue (``sbatch --hold``): held, it waits
    for a user (``scontrol release``), so SLURM's reason is said."""
    return (
        f"in the queue now: job {job} (squeue -j {job}), pending: JobHeldUser (SLURM's "
        f"reason: it will not start until that is fixed; scontrol show job {job} says more)"
    )


def _resume(out: Path, array: str) -> str:
    return (
        f"jid=$(sbatch --parsable --array={array} {out}/harvest.sbatch) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch"
    )


def _status_resume(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    return _status(out, capsys)[-1]


def _status(out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """status's job-array lines (none when it has none) and its resume line, last."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    start = next((n for n, x in enumerate(said) if x.startswith("job array: ")), len(said))
    end = next((n for n, x in enumerate(said) if x.startswith("kind ")), len(said))
    resume = [x for x in said if x.startswith("to resume")]
    assert len(resume) == 1, said
    return [*said[start:end], resume[0]]


def _queue_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SLURM controller that answers, with none of this user's jobs queued (`scontrol`,
    `squeue` on PATH): status's resume line is then the plain one, wherever the test runs
    (where none answers, it says to check the queue first)."""
    bin_dir = tmp_path / "fake-slurm"
    bin_dir.mkdir()
    write_tools(bin_dir, (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", "")))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _prepare(base_url: str, out: Path, *more: str) -> None:
    assert main(["plan", "--base-url", base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "4",
                 "--rate", "none", *more]) == 0  # fmt: skip


def test_array_spec_names_ranges_and_keeps_the_throttle() -> None:
    """Runs of tasks become ranges; the script's %M comes along when more than M are named."""
    assert array_spec([3, 0, 1, 2, 7, 9, 10], 4) == "0-3,7,9-10%4"
    assert array_spec([5, 1], 2) == "1,5"
    assert array_spec([5], None) == "5"


def test_status_resubmits_only_the_tasks_that_never_ran(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tasks 1 and 3 of 4 never ran (cancelled, killed before their first image): the
    resume line of status resubmits those two, one at a time as the script's %1 says."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out, "--max-parallel", "1")
    for task in (0, 2):
        assert run_array_task(out / "harvest.sbatch", task, 4).returncode == 0
    _queue_empty(tmp_path, monkeypatch)
    *tasks, line = _status(out, capsys)
    assert tasks == [
        "job array: 2 of 4 tasks complete, work left in:",
        "  task 1: 0 of 1 image complete, 1 not reached",
        "  task 3: 0 of 2 images complete, 2 not reached",
    ]
    # (no "# the newest run (...) was shard 1/4 of a split": the resubmission says it all)
    assert line == f"to resume: {_resume(out, '1,3%1')}", line

    for task in (1, 3):  # the line's tasks were the ones left: now the plan is complete
        assert run_array_task(out / "harvest.sbatch", task, 4).returncode == 0
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    report = capsys.readouterr().out
    assert "to resume" not in report
    assert "\njob array: 4 of 4 tasks complete\n" in report
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == len(PROJECT_IMAGES)


def test_one_resubmission_is_said_once_for_two_target_sets_of_one_folder(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two arrays of different targets, each of 2 tasks, into one folder: a plan's array ran
    whole, then a script was written for a plate (harvest-2.sbatch: the plan's is kept) and
    its task 1 never ran. The resume line resubmits the plate's task 1 once: it said it a
    second time, as an `also:` line, for the plan's set (split alike), and a user pasting
    both ran shard 1 twice at once; the plan's set, complete, is not resubmitted."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "none"]) == 0  # fmt: skip
    for task in (0, 1):
        assert run_array_task(out / "harvest.sbatch", task, 2).returncode == 0
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url, "--plate", "7361",
                 "--tasks", "2", "--rate", "none", "--artifacts", "thumbnail"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest-2.sbatch", 0, 2, job_id="4243").returncode == 0
    _queue_empty(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    plate = _resume(out, "1").replace("/harvest.sbatch", "/harvest-2.sbatch")
    assert said[-1] == f"to resume: {plate}", said
    assert not any(line.startswith("  also: ") for line in said), said


def test_a_resubmitted_task_running_before_its_harvest_is_said_to_run(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tasks 1 and 3 resubmitted: squeue lists task 1 RUNNING, its run lock not taken yet
    (its server check waits out a maintenance window), task 3 PENDING. Task 1's line says it
    runs, its harvest not begun (it said "in the queue", as of task 3)."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    for task in (0, 2):
        assert run_array_task(out / "harvest.sbatch", task, 4).returncode == 0
    script = out.resolve() / "harvest.sbatch"
    log = out / "logs" / "harvest-4300_1.log"
    log.write_text("harvester shard 1/4: job 4300_1 on n1 at Sun Nov 29 02:38:51 UTC 2026\n")
    queue = f"4300|1|RUNNING|{script}|{out}|0\n4300|3|PENDING|{script}|{out}|0\n"
    bin_dir = write_tools(
        tmp_path / "fake-slurm",
        (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", f"printf '{queue}'")),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    tasks = _status(out, capsys)[:-1]
    assert tasks[1] == (
        "  task 1: 0 of 1 image complete, 1 not reached, running (squeue), its harvest not "
        f"begun yet: checking the server (log: {log})"
    ), tasks
    assert tasks[2].startswith("  task 3: 0 of 2 images complete, 2 not reached, in the queue")


_touched: list[tuple[str, str]] | None = None


def _note_access(event: str, args: tuple[Any, ...]) -> None:
    """Note each file opened and folder listed while a test counts (idle else)."""
    watched = event in ("open", "os.scandir", "os.listdir")
    if _touched is not None and watched and isinstance(args[0], str | bytes | os.PathLike):
        _touched.append((event, os.fsdecode(args[0])))


sys.addaudithook(_note_access)  # (audit hooks cannot be removed)


def _accesses(argv: list[str]) -> tuple[int, Counter[tuple[str, str]]]:
    """``main(argv)``'s exit code, and how often it opened each file and listed each folder."""
    global _touched
    _touched = seen = []
    try:
        code = main(argv)
    finally:
        _touched = None
    return code, Counter(seen)


def test_status_and_a_split_resume_read_the_script_and_list_the_logs_once(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status of an array with tasks left opens harvest.sbatch once and lists DIR/logs once
    (for the log count and each task's log), and still names the tasks left with the
    script's %1; a resume of the split (`harvest --out DIR`) opens the script once too."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out, "--max-parallel", "1")
    for task in (0, 2):
        assert run_array_task(out / "harvest.sbatch", task, 4).returncode == 0
    (out / "logs" / "harvest-4242_1.log").write_text("killed\n")  # a task that ended short
    script, logs = str(out / "harvest.sbatch"), str(out / "logs")
    capsys.readouterr()
    code, seen = _accesses(["status", str(out)])
    said = capsys.readouterr().out
    assert code == 0
    assert f"log: {logs}/harvest-4242_1.log" in said and _resume(out, "1,3%1") in said, said
    assert seen[("open", script)] == 1
    assert seen[("os.scandir", logs)] + seen[("os.listdir", logs)] == 1

    code, seen = _accesses(["harvest", "--out", str(out), "--quiet"])
    said = capsys.readouterr()
    assert _resume(out, "1,3%1") in said.out + said.err, said
    assert seen[("open", script)] == 1


def test_without_a_plan_the_tasks_that_never_walked_are_resubmitted(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tasks that walk for themselves: the two that never ran are the ones resubmitted."""
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--tasks", "4", "--rate", "none"]) == 0  # fmt: skip
    for task in (0, 2):
        assert run_array_task(out / "harvest.sbatch", task, 4).returncode == 0
    _queue_empty(tmp_path, monkeypatch)
    line = _status_resume(out, capsys)
    assert line == f"to resume: {_resume(out, '1,3')}", line


def test_status_and_verify_resubmit_only_the_task_of_a_failed_or_damaged_image(
    make_emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every task ran; the server failed one image (shard 1's): status resubmits task 1
    alone. A thumbnail of shard 3 damaged afterwards: verify resubmits task 3 alone."""
    emu = make_emulator(preset="demo", faults="500:100%,only:/webgateway/render_thumbnail/1884803/")
    out = tmp_path / "study"
    _prepare(emu.base_url, out, "--max-retries", "0")
    codes = [run_array_task(out / "harvest.sbatch", task, 4).returncode for task in range(4)]
    _queue_empty(tmp_path, monkeypatch)
    assert codes == [0, 1, 0, 0]  # task 1 ended with its failure
    assert shard_of(1884803, 4) == 1
    *tasks, line = _status(out, capsys)
    assert tasks == [
        "job array: 3 of 4 tasks complete, work left in:",
        f"  task 1: 0 of 1 image complete, 1 with failures (log: {out}/logs/harvest-4242_1.log)",
    ]
    assert line == f"to resume: {_resume(out, '1')}", line
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    progress = json.loads(capsys.readouterr().out)["array_tasks"]
    assert [(t["task"], t["images"], t["complete"], t["failed"]) for t in progress] == [
        (0, 2, 2, 0), (1, 1, 0, 1), (2, 3, 3, 0), (3, 2, 2, 0)
    ]  # fmt: skip
    assert [t["log"] for t in progress] == [None, f"{out}/logs/harvest-4242_1.log", None, None]

    (damaged,) = (out / "images").rglob("1884801.thumbnail.jpg")
    assert shard_of(1884801, 4) == 3
    damaged.write_bytes(b"not a jpeg")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    said = capsys.readouterr().out.splitlines()
    assert said[-1] == (
        f"1 damaged or missing files: to refetch exactly those: {_resume(out, '3')}"
    ), said


@pytest.mark.slurm
def test_on_a_cluster_the_status_line_resubmits_the_tasks_left_and_refetches_nothing(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real array whose tasks 1 and 3 never ran: the status line, run as printed, queues
    those two and the index job; index.csv is complete and no image was fetched twice."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--max-parallel", "2", "--job-name", JOB_NAME)
    first = _sbatch("--array=0,2", str(out / "harvest.sbatch"), cwd=out)
    _wait_gone([first])
    line = _status_resume(out, capsys)
    assert line == f"to resume: {_resume(out, '1,3')}", _logs(out)

    proc = subprocess.run(
        ["bash", "-c", line.removeprefix("to resume: ")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=out,
    )
    index_job = proc.stdout.split()[-1]
    _wait_gone([index_job])
    second = sorted(
        p.name
        for p in (out / "logs").glob("harvest-*.log")
        if not p.name.startswith(f"harvest-{first}_")
    )
    assert [name.rpartition("_")[2] for name in second] == ["1.log", "3.log"], _logs(out)
    assert len((out / "index.csv").read_text().splitlines()) == 1 + len(PROJECT_IMAGES)
    counts = image_request_counts(emulator_process.stats())
    assert counts == {"image:thumbnail": len(PROJECT_IMAGES)}, counts


def test_slurm_says_when_a_plan_has_fewer_images_than_tasks(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """16 tasks for a plan of 8 images: at least 8 tasks would start for nothing; said."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)  # (4 tasks: no note)
    assert "note: the plan holds" not in capsys.readouterr().out
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "16",
                 "--max-parallel", "4", "--rate", "none"]) == 0  # fmt: skip
    assert (
        "note: the plan holds 8 images: at least 8 of the 16 tasks get none (each still "
        "takes a job slot); --tasks 8 is enough"
    ) in capsys.readouterr().out.splitlines()
    assert "#SBATCH --array=0-15%4" in (out / "harvest.sbatch").read_text()


def test_a_running_task_of_another_count_is_refused_naming_its_job_array(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1 of DIR's array of 4 running, the array in the queue (squeue faked): a script
    of 3 tasks is refused, exit 2, and the hint names the job to cancel (it said "or
    scancel it", which job unsaid); with no job of the script in the queue (a run by hand)
    it says to stop that run."""
    from harvester.runlock import acquire_run_lock, release_run_lock

    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    queue = tmp_path / "queue"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tools(
        bin_dir,
        (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", f'cat "{queue}"')),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    again = ["slurm", "--out", str(out), "--from-plan", str(out), "--rate", "none", "--tasks", "3"]
    fd = acquire_run_lock(out, "1/4")  # (as task 1 of the array holds it, running)
    try:
        script = (out / "harvest.sbatch").read_bytes()
        hints = []
        row = f"|PENDING|{out}/harvest.sbatch\n"
        for listed in (f"4242|1{row}4242|2{row}", ""):
            queue.write_text(listed)
            capsys.readouterr()
            assert main(again) == 2
            err = capsys.readouterr().err.splitlines()
            assert err[0].startswith(f"error: {out} is being harvested by another process as "
                                     "shard 1/4 (pid "), err  # fmt: skip
            hints.append(err[1])
    finally:
        release_run_lock(fd)
    assert hints == [
        "hint: wait for that run to end (or cancel its job array: scancel 4242), then write "
        "the script again; a resubmitted array of the same --tasks resumes its work",
        "hint: wait for that run to end (or stop it), then write the script again; a "
        "resubmitted array of the same --tasks resumes its work",
    ]
    assert (out / "harvest.sbatch").read_bytes() == script


@pytest.mark.slurm
def test_a_script_of_another_task_count_is_refused_while_the_array_is_queued(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queued array holds no run lock: a script of another --tasks was written and both
    arrays ran, their tasks refusing each other. Now refused until the queue is clear."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", JOB_NAME)
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    try:
        script = (out / "harvest.sbatch").read_bytes()
        capsys.readouterr()
        again = ["slurm", "--out", str(out), "--from-plan", str(out), "--rate", "none"]
        assert main([*again, "--tasks", "3"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [
            f"error: {out}/harvest.sbatch of 4 tasks is queued or running as job {held}: its "
            "tasks and those of a script of 3 tasks would hold the same images, and each "
            "would be refused where they meet",
            f"hint: wait for it to end (squeue -j {held}) or cancel it (scancel {held}), then "
            "write the script again; or keep --tasks 4",
        ]
        assert (out / "harvest.sbatch").read_bytes() == script
        assert main([*again, "--tasks", "4"]) == 0  # the same split: a rewrite is harmless
    finally:
        subprocess.run(["scancel", held], timeout=30, check=False)
    _wait_gone([held])
    assert main([*again, "--tasks", "3"]) == 0
    assert "#SBATCH --array=0-2%3" in (out / "harvest.sbatch").read_text()


@pytest.mark.slurm
def test_status_names_the_queued_array_and_says_to_resume_once_it_has_ended(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """An array waiting in the queue holds no run lock: status said "to resume: ..." as if
    nothing would run, inviting a second submission. It names the queued job instead."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", JOB_NAME)
    assert run_array_task(out / "harvest.sbatch", 0, 4).returncode == 0
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    try:
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        said = capsys.readouterr().out.splitlines()
        assert said[-2] == _held_line(held)
        assert said[-1] == (
            f"to resume, once the queued job array has ended: {_resume(out, '1-3')}"
        )
        assert main(["status", str(out), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["queued"] == [held] and data["queued_reasons"] == {held: "JobHeldUser"}
    finally:
        subprocess.run(["scancel", held], timeout=30, check=False)
    _wait_gone([held])
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"to resume: {_resume(out, '1-3')}")


@pytest.mark.slurm
def test_status_leaves_a_missing_index_to_the_queued_index_job(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """The array and its index job held in the real queue, task 0 done (no index.csv):
    status says the queued index job writes it, naming the job (squeue lists a job that
    is no array with %K N/A), not to rebuild it by hand."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", JOB_NAME)
    assert run_array_task(out / "harvest.sbatch", 0, 4).returncode == 0
    assert not (out / "index.csv").exists()
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    index = _sbatch(f"--dependency=afterany:{held}", str(out / "index.sbatch"), cwd=out)
    try:
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        said = capsys.readouterr().out.splitlines()
        assert [x for x in said if x.startswith("note: index.csv")] == [
            f"note: index.csv is missing: the index job in the queue (job {index}, squeue -j "
            f"{index}) writes it once the job array has ended: nothing to do"
        ], said
    finally:
        subprocess.run(["scancel", held, index], timeout=30, check=False)
    _wait_gone([held, index])


@pytest.mark.slurm
def test_status_with_a_task_of_the_queued_array_running_says_to_resume_once_the_array_ends(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """One task running, the others still queued: status said "to resume, once the running
    harvests have ended", a go while the array's next tasks waited in the queue (found by
    an HPC walkthrough). The queued array is what to wait for."""
    from harvester.runlock import acquire_run_lock, release_run_lock

    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", JOB_NAME)
    assert run_array_task(out / "harvest.sbatch", 0, 4).returncode == 0
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    fd = acquire_run_lock(out, "1/4")  # (as task 1 of the array holds it, running)
    try:
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        said = capsys.readouterr().out.splitlines()
        assert any(line.startswith("running now: shard 1/4 (pid ") for line in said), said
        assert _held_line(held) in said
        assert said[-1] == (
            f"to resume, once the queued job array has ended: {_resume(out, '1-3')}"
        )
    finally:
        release_run_lock(fd)
        subprocess.run(["scancel", held], timeout=30, check=False)
    _wait_gone([held])


@pytest.mark.slurm
def test_status_right_after_submit_does_not_say_not_submitted_yet(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before any task starts, status said "not submitted yet: sbatch DIR/harvest.sbatch"
    with the array already queued, inviting a second submission (found by an HPC
    walkthrough). It names the queued job instead."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", JOB_NAME)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    # (nothing queued yet)
    assert "  not submitted yet: jid=$(sbatch --parsable " in capsys.readouterr().out
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    try:
        assert main(["status", str(out)]) == 0
        said = capsys.readouterr().out
    finally:
        subprocess.run(["scancel", held], timeout=30, check=False)
    _wait_gone([held])
    assert "no task has started yet" in said
    assert "not submitted yet" not in said, said
    assert _held_line(held) in said.splitlines()


def test_no_controller_answering_costs_status_no_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """squeue retries for ~9 s when the controller is down: status of a folder with a script
    would wait that long on a machine with the SLURM client and no cluster. A failed
    `scontrol ping` (at once) skips it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "squeue-asked"
    write_tools(
        bin_dir,
        (
            ("scontrol", "echo 'Slurmctld(primary) at h is DOWN'; exit 1"),
            ("squeue", f"echo asked > {asked}; sleep 30"),
        ),
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    assert queued_jobs(tmp_path / "harvest.sbatch") == []
    # squeue never run, so never waited for (a wall-clock bound said less, and load could
    # break it).
    assert not asked.exists()


def test_queued_jobs_need_no_passwd_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """squeue is asked for every user's jobs with their numeric owner (``%U``), this user's
    told by id: no name lookup, which needs a passwd entry (a container's user on a cluster
    node has none: the lookup raised there). It was asked for this user's alone (``-u``),
    and missed a colleague's array of a shared folder's script."""
    script = tmp_path / "harvest.sbatch"
    script.write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "asked"
    write_tools(
        bin_dir,
        (
            ("scontrol", "echo 'Slurmctld(primary) at h is UP'"),
            ("squeue", f'echo "$@" > {asked}; echo "41|0|PENDING|{script}|/|{os.getuid()}"'),
        ),
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    for name in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert queued_jobs(script) == ["41"]
    assert asked.read_text().split() == ["-h", "-r", "-o", "%F|%K|%T|%o|%Z|%U|%r"]


def test_a_task_whose_failures_a_rerun_cannot_fix_sends_the_hints_flags_to_slurm(
    make_emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server that renders nothing: the task's log and status say the hint's --artifacts
    go to harvester slurm --out DIR (the script written anew), not only "follow the hint",
    whose resume line resubmits the script that asks for renders again."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail,render", "--tasks", "2",
                 "--rate", "none"]) == 0  # fmt: skip
    for task in (0, 1):
        assert run_array_task(out / "harvest.sbatch", task, 2).returncode == 1
    said = f"(for the job array: a flag it names goes to harvester slurm --out {out} ..., "
    closing = (out / "logs" / "harvest-4242_0.log").read_text().splitlines()[-1]
    assert closing.startswith(
        f"a rerun would get the same answers for these failures: follow the hint above {said}"
        "which writes the script anew; resubmitted as it is, the script asks the same); "
        f"this folder resumes with: jid=$(sbatch --parsable --array=0 {out}/harvest.sbatch)"
    ), closing
    _queue_empty(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(
        f"a rerun would get the same answers for these failures: follow the hint above {said}"
    ), lines[-1]


def test_a_planned_arrays_hint_flags_go_to_slurm_with_its_plan_and_task_count(
    make_emulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An array written from a plan, on a server that renders nothing: the task's log and
    status name the command that writes the script anew in full, `harvester slurm --out DIR
    --from-plan DIR --tasks 2 ...` (it said `--out DIR ...`, the plan and count unsaid)."""
    emu: EmulatorThread = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail,render", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "none"]) == 0  # fmt: skip
    for task in (0, 1):
        assert run_array_task(out / "harvest.sbatch", task, 2).returncode == 1
    said = (
        "(for the job array: a flag it names goes to harvester slurm --out "
        f"{out} --from-plan {out} --tasks 2 ..., which writes the script anew; resubmitted as "
        "it is, the script asks the same); this folder resumes with: "
    )
    closing = (out / "logs" / "harvest-4242_0.log").read_text().splitlines()[-1]
    assert closing.startswith(
        f"a rerun would get the same answers for these failures: follow the hint above {said}"
    ), closing
    _queue_empty(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(
        f"a rerun would get the same answers for these failures: follow the hint above {said}"
    ), last


def test_each_queued_jobs_script_is_resolved_once_not_once_a_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """squeue lists every user's jobs, each array task a line (-r): another user's array
    of 3,000 tasks of another script, beside this folder's 2. Its script's path (and
    working directory) is resolved once, not 3,000 times (a few stats a line, on a shared
    filesystem: seconds of status); this folder's tasks are still found."""
    script = tmp_path / "harvest.sbatch"
    script.write_text("#!/bin/sh\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    theirs = tmp_path / "theirs" / "run.sbatch"
    lines = [f"7|{k}|PENDING|{theirs}|{theirs.parent}|4000000" for k in range(3000)]
    lines += [f"41|{k}|PENDING|{script}|{tmp_path}|{os.getuid()}" for k in range(2)]
    listing = tmp_path / "listing"
    listing.write_text("\n".join(lines) + "\n")
    write_tools(
        bin_dir,
        (
            ("scontrol", "echo 'Slurmctld(primary) at h is UP'"),
            ("squeue", f"{shutil.which('cat')} {listing}"),
        ),
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    resolved: list[str] = []
    realpath = os.path.realpath

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append(str(path))
        return realpath(path, *args, **kwargs)

    monkeypatch.setattr(os.path, "realpath", counted)
    assert queued_jobs(script) == ["41"]
    assert 0 < len(resolved) < 20, len(resolved)

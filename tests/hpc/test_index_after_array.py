"""What an HPC user meets around the index job and a resumed array.

- The index job queued after an array whose every task failed early runs `harvester index`
  on a folder `harvester slurm` prepared but no task wrote `harvest.json` into: it says that
  no task has started a harvest (and where the logs are), exit 2, instead of calling the
  right folder "not a harvester folder".
- An index written while shards are short of the plan (a task running, failed or scancel-ed)
  says how many planned images it lacks; once every shard has run, it says nothing more.
- The resume line `harvester slurm --submit` prints, and the script's header, queue the index
  job again: a resubmitted array alone leaves index.csv as the first array's index job wrote it.
- Without --max-parallel, `harvester slurm` says the rate is split as if every task ran at
  once (16 shards on a 2-core cluster otherwise harvest at 1/8 of the chosen rate, unexplained).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import run_array_task

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.index import written_partial
from harvester.slurm import SlurmJob, Submitted, follow_text, render_script

#: Project 51 of the demo preset: 8 images.
PROJECT_IMAGES = 8


def test_index_of_a_prepared_folder_no_task_started_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refused_url: str
) -> None:
    """Indexing a prepared folder where no task has started says so, naming the tasks' logs."""
    out = tmp_path / "study"
    assert main(["slurm", "--out", str(out), "--base-url", refused_url,
                 "--screen", "1", "--tasks", "2"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["index", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"error: nothing to index in {out}: no task of its job array has started a harvest "
        "yet (no harvest.json)"
    )
    assert err[1].startswith(f"hint: harvester status {out} says what the tasks did")
    assert not (out / "index.csv").exists() and not (out / "harvest.json").exists()
    # Tasks that ran and failed before their harvest began leave their logs: named.
    (out / "logs" / "harvest-5_0.log").write_text("error: unrecognized arguments: --rte\n")
    assert main(["index", str(out)]) == 2
    assert f"; their logs: {out / 'logs'}" in capsys.readouterr().err.splitlines()[0]
    # A folder nothing of harvester's prepared keeps the usual words.
    (tmp_path / "empty").mkdir()
    assert main(["index", str(tmp_path / "empty")]) == 2
    assert "is not a harvester folder (no harvest.json)" in capsys.readouterr().err


def test_verify_and_forget_of_a_prepared_folder_say_what_index_says(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify and forget of a folder prepared by `harvester slurm`, no task started, say
    that no task has harvested yet, exit 2 (they said "not a harvester folder" of the folder
    status names); once one task has run, verify, index and forget read what is there."""
    out = _planned_array(emulator, tmp_path, "--project", "51")
    capsys.readouterr()
    for command in ("verify", "index", "forget"):
        assert main([command, str(out)]) == 2, command
        err = capsys.readouterr().err.splitlines()
        assert err[0] == (
            f"error: nothing to {command} in {out}: no task of its job array has started a"
            " harvest yet (no harvest.json)"
        )
        assert err[1] == (
            f"hint: harvester status {out} says what the tasks did (or how to submit them);"
            f" run harvester {command} again once a task has harvested"
        )
    assert not (out / "harvest.json").exists() and not (out / "forgotten.json").exists()
    assert run_array_task(out / "harvest.sbatch", 0, 2, "78").returncode == 0
    mine = len(list((out / "images").rglob("*.thumbnail.jpg")))
    assert 0 < mine < PROJECT_IMAGES
    assert main(["verify", str(out)]) == 0
    assert capsys.readouterr().out.startswith("checked ")
    assert main(["index", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"wrote {out / 'index.csv'} ({mine} images)"
    assert main(["forget", str(out), "--from-plan", str(tmp_path / "plan")]) == 0
    assert capsys.readouterr().out.startswith(f"{out}: forgot the target set ")


def test_index_says_how_far_short_of_the_plan_it_is(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index of a short array is written, says how short and where the resubmission is."""
    out = _planned_array(emulator, tmp_path, "--project", "51")
    assert run_array_task(out / "harvest.sbatch", 0, 2, "77").returncode == 0
    mine = len(list((out / "images").rglob("*.thumbnail.jpg")))
    assert 0 < mine < PROJECT_IMAGES
    capsys.readouterr()
    assert main(["index", str(out)]) == 0  # short, yet written: safe at any time
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out / 'index.csv'} ({mine} images)"
    # (It ended "run harvester index again after the resubmitted array", how to resubmit
    # unsaid; status's resume line queues this index job again: found by an HPC walkthrough.)
    assert lines[1] == (
        f"note: index.csv lists {mine} of the plan's {PROJECT_IMAGES} images; "
        f"{PROJECT_IMAGES - mine} are not in it (a task still running, failed or cancelled, "
        f"or images whose every file failed); harvester status {out} gives the line that "
        "resubmits the tasks with work left and queues this index job again after them"
    )
    assert len((out / "index.csv").read_text().splitlines()) == 1 + mine

    assert run_array_task(out / "harvest.sbatch", 1, 2, "77").returncode == 0
    assert main(["index", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {out / 'index.csv'} ({PROJECT_IMAGES} images)"]


def test_index_short_of_a_plan_harvested_by_hand_names_no_array(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan harvested by hand (`harvest --from-plan --shard 0/2`, no SLURM script): the
    short index's note says status gives the resume line and when to index again, not "run
    harvester index again after the resubmitted array" (there is no array)."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    assert main(["harvest", "--from-plan", str(out), "--out", str(out), "--shard", "0/2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    assert not (out / "harvest.sbatch").exists()
    mine = len(list((out / "images").rglob("*.thumbnail.jpg")))
    assert 0 < mine < PROJECT_IMAGES
    capsys.readouterr()
    assert main(["index", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"note: index.csv lists {mine} of the plan's {PROJECT_IMAGES} images; "
        f"{PROJECT_IMAGES - mine} are not in it (a harvest still running, failed or stopped, "
        f"or images whose every file failed); harvester status {out} gives the line that "
        f"resumes the work left; after it, run harvester index {out} again if it ran with "
        "--shard (a run without --shard rewrites index.csv at its end)"
    ), lines
    assert "array" not in lines[1]
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[-1].startswith("to resume: harvester harvest "), said


def test_resume_lines_queue_the_index_job_again(tmp_path: Path) -> None:
    """The resume lines of --submit and of the script's header queue the index job too, and
    --submit's says when to run it (found by an HPC walkthrough: it did not)."""
    job = SlurmJob(out_dir=tmp_path, tasks=4, harvest_args=["--out", str(tmp_path)])
    requeue = (
        f"jid=$(sbatch --parsable {tmp_path}/harvest.sbatch) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {tmp_path}/index.sbatch"
    )
    text = follow_text(job, Submitted("12", "13"))
    lines = text.splitlines()
    assert lines[lines.index(f"  resume:   {requeue}") + 1] == (
        "            (once job 12 has ended: finished work is skipped and the index job "
        f"rebuilds index.csv after it; harvester status {tmp_path} gives the line for the "
        "tasks with work left only)"
    )
    assert f"#          {requeue}" in render_script(job).splitlines()


def test_slurm_says_how_the_rate_is_split_without_max_parallel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refused_url: str
) -> None:
    """slurm without --max-parallel says how the total --rate is split among the tasks;
    with --rate none, how the total --concurrency is (16 tasks each asked one request at a
    time, unsaid, where the cluster ran 4 of them at once)."""
    args = ["slurm", "--out", str(tmp_path / "a"), "--base-url", refused_url,
            "--screen", "1", "--tasks", "16", "--rate", "10"]  # fmt: skip
    assert main(args) == 0
    assert (
        "note: without --max-parallel the total --rate 10 is split as if all 16 tasks ran "
        "at once (0.625/s each); if the cluster runs fewer at a time, give --max-parallel "
        "with that number"
    ) in capsys.readouterr().out.splitlines()
    assert main([*args, "--max-parallel", "2"]) == 0
    assert "without --max-parallel" not in capsys.readouterr().out
    assert main([*args, "--rate", "none"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert (
        "note: without --max-parallel the total --concurrency 8 is split as if all 16 tasks "
        "ran at once (1 request at a time each); if the cluster runs fewer at a time, give "
        "--max-parallel with that number"
    ) in said, said
    assert "--concurrency 1 --shard" in (tmp_path / "a" / "harvest.sbatch").read_text()
    assert main([*args, "--rate", "none", "--max-parallel", "4"]) == 0
    assert "without --max-parallel" not in capsys.readouterr().out
    assert "--concurrency 2 --shard" in (tmp_path / "a" / "harvest.sbatch").read_text()


def test_slurm_refuses_another_split_while_a_run_holds_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refused_url: str
) -> None:
    """A running shard 0/2 (its lock held, as a task holds it) and a script of 4 shards:
    refused, nothing written; the same 2 shards (a resubmission) are written."""
    from harvester.runlock import acquire_run_lock, release_run_lock

    out = tmp_path / "study"
    out.mkdir()
    args = ["slurm", "--out", str(out), "--base-url", refused_url, "--screen", "1"]
    fd = acquire_run_lock(out, "0/2")
    try:
        capsys.readouterr()
        assert main([*args, "--tasks", "4"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith(
            f"error: {out} is being harvested by another process as shard 0/2 (pid {os.getpid()}"
        )
        assert err[0].endswith("which would fetch them a second time")
        assert not (out / "harvest.sbatch").exists()
        assert main([*args, "--tasks", "2"]) == 0
        assert (out / "harvest.sbatch").is_file()
    finally:
        release_run_lock(fd)
    assert main([*args, "--tasks", "4"]) == 0  # once that run has ended


def test_slurm_says_a_selection_with_a_plan_selects_again_within_it(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slurm says when a selection given with a plan selects again within the plan's images."""
    plan = tmp_path / "plan"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(plan),
                 "--artifacts", "thumbnail", "--sample", "6", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    capsys.readouterr()
    base = ["slurm", "--from-plan", str(plan), "--out", str(tmp_path / "run"), "--tasks", "2"]
    assert main([*base, "--sample", "3"]) == 0
    assert (
        "note: the plan holds 6 images selected by sample 6, seed 0; the selection given here "
        "selects again among them, and harvester status and index will count the plan's other "
        "images as not harvested (to change the selection, make a new plan with it: "
        "harvester plan ... --force)"
    ) in capsys.readouterr().out.splitlines()
    assert main(base) == 0
    assert "selects again" not in capsys.readouterr().out
    # The plan's own selection given again: the tasks harvest the plan whole (nothing to say);
    # another one from a config file selects again as a flag's does (and is said).
    assert main([*base, "--sample", "6"]) == 0
    assert "selects again" not in capsys.readouterr().out
    config = tmp_path / "sample.toml"
    config.write_text("sample = 3\n", encoding="utf-8")
    assert main([base[0], str(config), *base[1:]]) == 0
    assert "selects again" in capsys.readouterr().out


def test_a_task_with_failures_says_to_resubmit_itself_not_to_run_its_command(
    make_emulator: Any, tmp_path: Path
) -> None:
    """A task's log said ``rerun to retry the failures: harvester harvest ... --shard 1/2``,
    which run as written harvests on the login node. It names the task's resubmission and
    the index job after it instead (found by an HPC walkthrough), and that status gives the
    other tasks left: after `scancel JOB` each log named its own task alone."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/webgateway/render_thumbnail")
    out = tmp_path / "run"
    assert main(["slurm", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                 "--tasks", "2", "--rate", "none", "--artifacts", "thumbnail",
                 "--max-retries", "0", "--outage-wait", "0"]) == 0  # fmt: skip
    # (--outage-wait 0: the failures come at once, not a check of the server later.)
    assert run_array_task(out / "harvest.sbatch", 1, 2, "77").returncode == 1
    log = (out / "logs" / "harvest-77_1.log").read_text()
    rerun = [line for line in log.splitlines() if line.startswith("rerun to retry")]
    assert rerun == [
        f"rerun to retry the failures: jid=$(sbatch --parsable --array=1 {out}/harvest.sbatch)"
        f" && sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch  # this task only; "
        f"every task with work left: harvester status {out}"
    ], log
    # A second selection's script (harvest-2.sbatch): its task names its own script.
    assert main(["slurm", "--base-url", emu.base_url, "--plate", "7361", "--out", str(out),
                 "--tasks", "2", "--rate", "none", "--artifacts", "thumbnail",
                 "--max-retries", "0", "--outage-wait", "0"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest-2.sbatch", 1, 2, "78").returncode == 1
    log = (out / "logs" / "harvest-78_1.log").read_text()
    rerun = [line for line in log.splitlines() if line.startswith("rerun to retry")]
    assert rerun == [
        f"rerun to retry the failures: jid=$(sbatch --parsable --array=1 {out}/harvest-2.sbatch)"
        f" && sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch  # this task only; "
        f"every task with work left: harvester status {out}"
    ], log


def test_slurm_refuses_a_line_break_in_what_the_script_would_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refused_url: str
) -> None:
    """The script names DIR in `#` comments and command lines: a folder name with a line
    break would end a comment and run the rest as a shell command (found by a review)."""
    out = tmp_path / "study\ntouch pwned"
    args = ["slurm", "--out", str(out), "--base-url", refused_url, "--screen", "1",
            "--tasks", "2"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: ") and "holds a line break" in err[0]
    assert not (out / "harvest.sbatch").exists()
    assert main([*args[:2], str(tmp_path / "ok"), *args[3:], "--where", "Gene=a\nb"]) == 2
    assert "holds a line break" in capsys.readouterr().err
    assert not (tmp_path / "ok" / "harvest.sbatch").exists()


def test_a_short_index_does_not_make_the_complete_one_warn_of_changed_label_ids(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A labelled index written while half the array has run (the index job after a
    short array, or a user looking early) is provisional: the index written once every
    task has run compares its label ids with no such table. It used to warn that most
    label ids changed and keep a labels.before-*.csv copy of a table nobody trained on."""
    out = _planned_array(emulator, tmp_path, "--screen", "2302")
    assert run_array_task(out / "harvest.sbatch", 0, 2, "78").returncode == 0
    capsys.readouterr()
    assert main(["index", str(out), "--label-key", "Phenotype"]) == 0
    assert "note: index.csv lists" in capsys.readouterr().out  # short of the plan
    before = _label_ids(out / "labels.csv")

    assert run_array_task(out / "harvest.sbatch", 1, 2, "78").returncode == 0
    assert main(["index", str(out)]) == 0
    captured = capsys.readouterr()
    after = _label_ids(out / "labels.csv")
    # The second half brought labels that sort before some of the first half's: the
    # ranks moved (else this test would prove nothing).
    assert any(after[label] != n for label, n in before.items())
    assert "label_ids changed" not in captured.out + captured.err
    assert not list(out.glob("labels.before-*.csv"))


def test_an_index_short_only_of_refused_images_does_not_say_to_resubmit(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every task ran; the one image missing from index.csv was refused (HTTP 404: no such
    id): the note said to run the index again after the resubmitted array, which gets the
    same 404. It says a resubmission will not add it and where its id is; labels.csv is
    final, not provisional."""
    ids = tmp_path / "ids.txt"
    ids.write_text("9762885\n9762886\n9762887\n9762888\n99999999\n")
    out = _planned_array(emulator, tmp_path, "--ids-from", str(ids))
    codes = [run_array_task(out / "harvest.sbatch", k, 2, "81").returncode for k in range(2)]
    assert sorted(codes) == [0, 1]  # the task of 99999999 ended with its failure
    capsys.readouterr()
    assert main(["index", str(out), "--label-key", "Phenotype"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"wrote {out / 'index.csv'} (4 images) and {out / 'labels.csv'} (2 labels)"
    [note] = [x for x in lines if x.startswith("note: index.csv lists")]
    assert note == (
        "note: index.csv lists 4 of the plan's 5 images; 1 is not in it: the server refused "
        "its files (HTTP 4xx), as it will again for an id that does not exist or is not "
        "public, so a resubmitted array would not add it; its id: harvester status "
        f"{out} --failed-ids"
    ), lines
    assert not written_partial(out, out / "labels.csv")
    capsys.readouterr()
    assert main(["status", str(out), "--failed-ids"]) == 0
    assert capsys.readouterr().out.split() == ["99999999"]


def _label_ids(labels: Path) -> dict[str, int]:
    """labels.csv as label -> label_id."""
    import csv

    with labels.open(newline="", encoding="utf-8") as handle:
        return {row["label"]: int(row["label_id"]) for row in csv.DictReader(handle)}


def test_a_resubmitted_task_says_which_shard_it_is(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """`sbatch --array=1 harvest.sbatch` (one task of two, resubmitted): SLURM counts an
    array of 1, and the task says it is still shard 1/2, as the script was written (it
    said "keeping the written shard count 2", which read like a warning), then harvests."""
    out = _planned_array(emulator, tmp_path, "--project", "51")
    assert run_array_task(out / "harvest.sbatch", 1, 1, "79").returncode == 0
    log = (out / "logs" / "harvest-79_1.log").read_text()
    assert "a resubmission of 1 task of the array: task 1 is shard 1/2, as written" in log
    assert 0 < len(list((out / "images").rglob("*.thumbnail.jpg"))) < PROJECT_IMAGES


def test_a_resubmission_of_two_tasks_says_tasks(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`sbatch --array=0,2` of a 3-task script: the log says "2 tasks" (it said "task(s)"
    for any count), and the task still harvests its written shard."""
    out = _planned_array(emulator, tmp_path, "--project", "51", tasks=3)
    assert run_array_task(out / "harvest.sbatch", 2, 2, "81").returncode == 0
    log = (out / "logs" / "harvest-81_2.log").read_text()
    assert "a resubmission of 2 tasks of the array: task 2 is shard 2/3, as written" in log
    assert 0 < len(list((out / "images").rglob("*.thumbnail.jpg"))) < PROJECT_IMAGES


def test_a_task_outside_the_shards_says_only_that(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`sbatch --array=0-7` on a 2-task script: task 5 is refused as outside the shards
    (exit 2), without first calling itself "shard 5/2"."""
    out = _planned_array(emulator, tmp_path, "--project", "51")
    assert run_array_task(out / "harvest.sbatch", 5, 8, "80").returncode == 2
    log = (out / "logs" / "harvest-80_5.log").read_text()
    assert log.splitlines() == ["task 5 is outside shards 0..1"]


def _planned_array(emulator: EmulatorThread, tmp_path: Path, *target: str, tasks: int = 2) -> Path:
    """A plan of ``target`` (thumbnails) in tmp_path/plan and a ``tasks``-task array script for it
    in tmp_path/run (the plan elsewhere: the script's --from-plan names it); returns run."""
    plan, out = tmp_path / "plan", tmp_path / "run"
    assert main(["plan", "--base-url", emulator.base_url, *target, "--out", str(plan),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--from-plan", str(plan), "--out", str(out), "--tasks", str(tasks),
                 "--rate", "none"]) == 0  # fmt: skip
    return out

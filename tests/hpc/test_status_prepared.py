"""`harvester status` on a folder that `harvester slurm` or `harvester plan` prepared.

`harvester slurm` writes DIR/harvest.sbatch, DIR/index.sbatch and DIR/logs/ but no
harvest.json until a task starts, while the script tells the user to follow the array with
`harvester status DIR`. Status says no task has started yet and what it knows (the script,
its task count, the plan it names with its image count), exit 0, and `--json` says the same
with added keys (`started`, `slurm`, `plan_path`), the existing ones unchanged. A folder
that nothing of harvester's prepared is still refused. The plan line's numbers add up:
reached + not reached = the plan's images, complete being a part of reached.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hpc_helpers import run_array_task, write_tools

from harvester.cli import main
from harvester.emulator import EmulatorThread

#: Project 51 of the demo preset: 8 images.
PROJECT_IMAGES = 8
#: The keys `status --json` had before it knew prepared folders: a script may rely on them.
EXISTING_KEYS = {"out_dir", "selected", "images", "totals", "kinds", "writers", "runs", "failures"}


def status(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, object]]:
    """The text and the --json of `harvester status DIR`, each asserted to exit 0."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert main(["status", str(out), "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return text, data


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ping: str) -> None:
    """``scontrol ping`` answering ``ping`` and an empty ``squeue``, first on PATH."""
    tools = (("scontrol", f"echo '{ping}'"), ("squeue", "exit 0"))
    bin_dir = write_tools(tmp_path / "bin", tools)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_status_of_a_folder_slurm_prepared_says_no_task_has_started(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """slurm without --submit, no SLURM controller answering: status exits 0, names the
    script and its 2 tasks, says the queue could not be asked and what to do either way
    (it said "not submitted yet" as a fact), prints no table of zeros, writes nothing into
    DIR; --json keeps every existing key."""
    fake_slurm(tmp_path, monkeypatch, "Slurmctld(primary) at h is DOWN")
    out = tmp_path / "sl4"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2", "--job-name", "sl4_screen"]) == 0  # fmt: skip
    before = listing(out)
    assert "harvest.json" not in before and "harvest.sbatch" in before
    # (every user's tasks of the script: a colleague's array of a shared folder too)
    # (-o: each job's owner, state and script, told from other folders' arrays of that name)
    follow = "# Follow:  squeue -n sl4_screen -o '%i %u %T %o';  tail -F "
    assert follow in (out / "harvest.sbatch").read_text()
    text, data = status(out, capsys)
    script = out.resolve() / "harvest.sbatch"
    lines = text.splitlines()
    assert lines[0] == f"{out}: 0 images journaled, artifacts thumbnail,imgdata,render,metadata"
    assert lines[1] == "no task has started yet (a task writes harvest.json as it starts)"
    assert lines[2] == f"job array: {script} (2 tasks), written by harvester slurm"
    assert lines[3:6] == [
        "  not seen in the SLURM queue: it cannot be asked here (scontrol ping finds no SLURM "
        "controller)",
        f"  if not submitted yet: jid=$(sbatch --parsable {script}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {script.parent / 'index.sbatch'}",
        "  if submitted: squeue -n sl4_screen -o '%i %u %T %o' shows its queued tasks (every "
        "user's), where SLURM answers",
    ]
    assert lines[6:] == ["counts appear once a task has journaled the images it walked"]
    assert not any(line.startswith("kind") for line in lines)
    assert "plan" not in text
    assert set(data) >= EXISTING_KEYS
    assert data["started"] is False
    assert data["totals"] == {"done": 0, "failed": 0, "pending": 0, "bytes": 0, "invalid": 0}
    assert data["writers"] == [] and "plan" not in data
    slurm = data["slurm"]
    assert isinstance(slurm, dict)
    assert slurm["script"] == str(script) and slurm["tasks"] == 2
    assert slurm["index_script"] == str(out.resolve() / "index.sbatch")
    assert slurm["from_plan"] is None and slurm["task_logs"] == 0
    assert listing(out) == before  # status only reads


def test_status_of_a_prepared_folder_the_queue_does_not_hold_says_not_submitted(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the SLURM queue answers and holds none of its jobs, the script is said not
    submitted yet, with the command that submits it and its index job after it (the array
    alone left index.csv unwritten), on a line of its own."""
    fake_slurm(tmp_path, monkeypatch, "Slurmctld(primary) at h is UP")
    out = tmp_path / "sl4"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2"]) == 0  # fmt: skip
    text, data = status(out, capsys)
    lines = text.splitlines()
    assert lines[3:] == [
        f"  not submitted yet: jid=$(sbatch --parsable {out.resolve() / 'harvest.sbatch'}) "
        f"&& sbatch --dependency=afterany:${{jid%%;*}} {out.resolve() / 'index.sbatch'}",
        "counts appear once a task has journaled the images it walked",
    ]
    assert "queue_unknown" not in data


def test_status_of_a_prepared_folder_names_its_queued_array_and_its_owner(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No task started, no plan, a colleague's array of the script held in the queue: the
    text names the job and its owner, as --json does (it returned before that line: the
    text said only "no task has started yet", with no word of the queued array)."""
    out = tmp_path / "sl4"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2"]) == 0  # fmt: skip
    script = out.resolve() / "harvest.sbatch"
    queue = "".join(f"4300|{k}|PENDING|{script}|{out}|4000000\\n" for k in range(2))
    tools = (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", f"printf '{queue}'"))
    bin_dir = write_tools(tmp_path / "bin", tools)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    text, data = status(out, capsys)
    assert text.splitlines()[1:] == [
        "no task has started yet (a task writes harvest.json as it starts)",
        f"job array: {script} (2 tasks), written by harvester slurm",
        "in the queue now: job 4300 of user uid 4000000 (squeue -j 4300)",
        "counts appear once a task has journaled the images it walked",
    ]
    assert (data["queued"], data["queued_owners"]) == (["4300"], {"4300": "uid 4000000"})


def test_status_names_the_owner_of_a_colleagues_two_queued_arrays_once(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two arrays of the script in the queue, both one colleague's: the line names the
    owner once (it said ``4301,4300 (4301 of user X, 4300 of user X)``)."""
    out = tmp_path / "sl4"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2"]) == 0  # fmt: skip
    script = out.resolve() / "harvest.sbatch"
    queue = "".join(f"{job}|0|PENDING|{script}|{out}|4000000\\n" for job in (4301, 4300))
    tools = (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", f"printf '{queue}'"))
    bin_dir = write_tools(tmp_path / "bin", tools)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    text, data = status(out, capsys)
    (line,) = [x for x in text.splitlines() if x.startswith("in the queue now:")]
    assert line.startswith("in the queue now: job "), line
    assert line.count("of user") == 1, line
    assert " of user uid 4000000 (squeue -j " in line, line
    assert sorted(data["queued"]) == ["4300", "4301"]


def test_status_takes_the_artifacts_of_the_config_file_the_tasks_read(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The script passes the config file by name: its artifacts are what the tasks ask for;
    while tasks wait in the queue, status says they read it as they start (an edit made for
    the next array reached them, unsaid)."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        'artifacts = ["metadata", "thumbnail"]\nscreens = [2302]\n'
        f'base_url = "{emulator.base_url}"\n'  # the tasks' server: checked by slurm
    )
    out = tmp_path / "sl"
    assert main(["slurm", str(toml), "--out", str(out), "--tasks", "3"]) == 0
    text, data = status(out, capsys)
    assert text.splitlines()[0] == f"{out}: 0 images journaled, artifacts thumbnail,metadata"
    assert data["selected"] == ["thumbnail", "metadata"]
    assert data["slurm"]["config"] == str(toml.resolve())  # type: ignore[index]
    assert data["slurm"]["tasks"] == 3  # type: ignore[index]
    assert "its tasks read" not in text  # (nothing queued)

    # Queued, task 0 running: the two waiting read the file as they start, edits and all.
    from test_status_killed_task import _fake_slurm

    script = out.resolve() / "harvest.sbatch"
    rows = [f"4300|{k}|{state}|{script}|{out}" for k, state in enumerate(["RUNNING", "PENDING"])]
    queue = "".join(f"{row}\\n" for row in [*rows, f"4300|2|PENDING|{script}|{out}"])
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, _data = status(out, capsys)
    lines = text.splitlines()
    at = lines.index("in the queue now: job 4300 (squeue -j 4300)")
    assert lines[at + 1] == (
        f"  its tasks read {toml.resolve()} as they start: an edit there reaches the 2 tasks "
        "not started yet"
    ), lines


def test_status_counts_the_plan_the_job_array_names_before_and_after_a_task(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """slurm --from-plan PLAN --out DIR: before any task, status counts PLAN's 8 images as
    not reached; after task 0 of 2 ran (the real script), the task's images are reached and
    complete, harvest.json exists, and reached + not reached is still 8. The first line
    counts the plan's images journaled ("N images known" read as contradicting the plan's 8)."""
    plan = tmp_path / "plan"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(plan), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    out = tmp_path / "run"
    assert main(["slurm", "--from-plan", str(plan), "--out", str(out), "--tasks", "2",
                 "--rate", "none"]) == 0  # fmt: skip
    text, data = status(out, capsys)
    assert text.splitlines()[0] == f"{out}: 0 of the plan's 8 images journaled, artifacts thumbnail"
    assert "no task has started yet" in text
    assert (
        f"plan {plan.resolve()}: 8 images (thumbnail): 0 reached (0 of them complete), "
        "8 not reached yet; artifacts 0 done, 0 failed, 8 pending"
    ) in text
    assert data["started"] is False and data["plan_path"] == str(plan.resolve())
    assert data["plan"] == {
        "images": 8, "artifacts": ["thumbnail"], "reached": 0, "complete": 0,
        "done": 0, "failed": 0, "pending": 8,
    }  # fmt: skip
    assert data["kinds"] == {"thumbnail": {"done": 0, "failed": 0, "pending": 8, "bytes": 0}}

    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert (out / "harvest.json").is_file()
    mine = len(list((out / "images").rglob("*.thumbnail.jpg")))
    assert 0 < mine < PROJECT_IMAGES
    text, data = status(out, capsys)
    assert text.splitlines()[0] == (
        f"{out}: {mine} of the plan's 8 images journaled, artifacts thumbnail"
    )
    assert data["started"] is True and "has started yet" not in text
    assert (
        f"plan {plan.resolve()}: 8 images (thumbnail): {mine} reached ({mine} of them "
        f"complete), {8 - mine} not reached yet"
    ) in text
    assert data["plan"]["reached"] == mine  # type: ignore[index]
    assert data["kinds"]["thumbnail"] == {  # type: ignore[index]
        "done": mine, "failed": 0, "pending": 8 - mine, "bytes": data["totals"]["bytes"],  # type: ignore[index]
    }  # fmt: skip


def test_status_points_at_the_log_of_a_task_that_ended_before_its_harvest(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The ids file went away after slurm checked it: task 0 fails before harvest.json;
    status still says no task has started, and names the task's log. Where the queue
    answers holding none of the script's tasks, they ended: status says so and how to
    submit again, not "not submitted yet" (found by an HPC walkthrough: a config file
    moved after the submission)."""
    from test_status_killed_task import _fake_slurm

    ids = tmp_path / "ids.txt"
    ids.write_text("1884801\n1884802\n")
    out = tmp_path / "sl"
    assert main(["slurm", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out",
                 str(out), "--tasks", "2"]) == 0  # fmt: skip
    ids.unlink()
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 2
    assert not (out / "harvest.json").exists()
    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")  # (a task may still be starting)
    text, data = status(out, capsys)
    log = out / "logs" / "harvest-4242_0.log"
    assert "cannot read ids file" in log.read_text()
    assert "no task has started yet" in text
    assert (
        f"1 task log in {out / 'logs'} but no harvest journal yet: a task is starting, "
        f"or ended before its harvest began; read {log}"
    ) in text
    assert data["slurm"]["task_logs"] == 1  # type: ignore[index]
    assert data["slurm"]["newest_log"] == str(log)  # type: ignore[index]

    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    text, _data = status(out, capsys)
    lines = text.splitlines()
    at = lines.index(f"job array: {out}/harvest.sbatch (2 tasks), written by harvester slurm")
    assert lines[at - 1 : at + 3] == [
        "no task has begun its harvest (a task writes harvest.json as it starts)",
        f"job array: {out}/harvest.sbatch (2 tasks), written by harvester slurm",
        f"1 task log in {out / 'logs'} but no harvest journal: its tasks ended before "
        f"their harvest began; read {log}",
        f"  once what it says is fixed, submit it again: jid=$(sbatch --parsable "
        f"{out}/harvest.sbatch) && sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch",
    ], lines
    assert "not submitted yet" not in text

    # Without DIR's index script, the array alone (the line's second sbatch failed).
    (out / "index.sbatch").unlink()
    text, _data = status(out, capsys)
    assert f"  once what it says is fixed, submit it again: sbatch {out}/harvest.sbatch" in (
        text.splitlines()
    ), text

    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|PENDING|{out}/harvest.sbatch\\n")
    text, _data = status(out, capsys)
    assert "a task is starting, or ended before its harvest began" in text
    assert "submit it again" not in text


def test_status_of_tasks_running_before_their_harvest_says_they_run(
    emulator: EmulatorThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 0 runs (squeue: RUNNING) but has journaled nothing yet (its server check waits
    out a maintenance window), task 1 waits its turn: status says a task runs, what it does
    before its harvest and which log says why it waits (it said "no task has started yet",
    the log named as that of a task that may have ended); --json lists it."""
    from test_status_killed_task import _fake_slurm

    out = tmp_path / "sl"
    assert main(["slurm", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--tasks", "2"]) == 0  # fmt: skip
    (out / "logs").mkdir(exist_ok=True)
    log = out / "logs" / "harvest-4300_0.log"
    log.write_text("harvester shard 0/2: job 4300_0 on n1 at Sun Nov 29 02:38:51 UTC 2026\n")
    # An earlier array's log, written last: the newest, but not the running task's.
    (out / "logs" / "harvest-4200_1.log").write_text("harvester shard 1/2: job 4200_1 ...\n")
    script = out.resolve() / "harvest.sbatch"
    queue = f"4300|0|RUNNING|{script}|{out}\\n4300|1|PENDING|{script}|{out}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, data = status(out, capsys)
    assert text.splitlines()[1:4] == [
        "no task has begun its harvest yet: task 0 is running (squeue), checking the server "
        "and reading DIR first (a server down or in maintenance is waited for there, as its "
        f"log {log} says)",
        f"job array: {script} (2 tasks), written by harvester slurm",
        "in the queue now: job 4300 (squeue -j 4300)",
    ], text
    assert "no task has started yet" not in text and "not submitted yet" not in text
    assert data["started"] is False and data["running_tasks"] == [0]

    # Task 0 queued again as job 4301 (sbatch by hand), listed after the job that runs it:
    # the log named is the running job's (it was 4301's, a log not written yet).
    queue = (
        f"4300|0|RUNNING|{script}|{out}\\n4301|0|PENDING|{script}|{out}\\n"
        f"4300|1|PENDING|{script}|{out}\\n"
    )
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, data = status(out, capsys)
    assert f"as its log {log} says)" in text.splitlines()[1], text

    # Both running: their logs' folder.
    queue = f"4300|0|RUNNING|{script}|{out}\\n4300|1|RUNNING|{script}|{out}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, data = status(out, capsys)
    assert text.splitlines()[1] == (
        "no task has begun its harvest yet: 2 tasks are running (squeue), each checking the "
        "server and reading DIR first (a server down or in maintenance is waited for there, "
        f"as their logs in {out / 'logs'} say)"
    ), text
    assert data["running_tasks"] == [0, 1]

    # Once no task runs (both pending again): as before.
    queue = f"4300|0|PENDING|{script}|{out}\\n4300|1|PENDING|{script}|{out}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=queue)
    text, data = status(out, capsys)
    assert "no task has started yet" in text and "running_tasks" not in data


def test_status_of_a_plan_only_folder_says_what_comes_next(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`harvester plan` alone: the plan is counted (as before) and status says no harvest
    has started, with the two commands that start one, at the plan's --rate and the other
    run settings given to it (a user copying the line ran at the default rate), shortened
    as argparse takes them too (`--bur 2`, `--conc=3`: they were left out), and with the
    config file given to it, by its absolute path (status runs from any folder; the file's
    settings were left out, as `plan`'s own next: line names it)."""
    out = tmp_path / "p"
    (tmp_path / "my conf.toml").write_text("timeout = 40\n")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "my conf.toml", "--base-url", emulator.base_url, "--project", "51",
                 "--out", str(out), "--artifacts", "thumbnail", "--quiet", "--bur", "2",
                 "--rate=none", "--conc=3"]) == 0  # fmt: skip
    monkeypatch.chdir(out)
    text, data = status(out, capsys)
    conf = f"'{tmp_path / 'my conf.toml'}'"
    flags = "--concurrency 3 --rate none --burst 2"
    assert (
        f"no harvest has started yet; next: harvester harvest {conf} --from-plan {out} --out "
        f"{out} {flags}, or harvester slurm {conf} --from-plan {out} --out {out} {flags} "
        "--tasks N"
    ) in text
    assert "plan: 8 images (thumbnail): 0 reached (0 of them complete), 8 not reached" in text
    assert data["started"] is False and "slurm" not in data and "plan_path" not in data


def test_every_plan_flag_a_run_flag_starts_with_is_read_whole() -> None:
    """A `plan` flag that is a run flag's first letters (`--out`, of `--outage-wait`) is
    read by argparse as itself: status's "next:" line must not take it for that run flag
    shortened (`--out DIR` as `--outage-wait DIR`), so harvester.plan lists each one."""
    import argparse

    from harvester.cli import build_parser
    from harvester.plan import RUN_FLAGS, WHOLE_FLAGS

    (plan,) = (
        action.choices["plan"]
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    plan.format_help()  # (adds the options a command defers until asked)
    shadowing = {
        option
        for option in plan._option_string_actions
        if option not in RUN_FLAGS and any(flag.startswith(option) for flag in RUN_FLAGS)
    }
    assert shadowing == set(WHOLE_FLAGS)


@pytest.mark.parametrize(
    "script",
    [None, "#!/bin/sh\nexec make all\n", "#!/bin/bash\n# harvester job array? no\n"],
    ids=["empty-folder", "someone-elses-script", "not-ours"],
)
def test_a_folder_harvester_did_not_prepare_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], script: str | None
) -> None:
    """No harvest.json, no journals, no script of harvester slurm: exit 2, the usual line."""
    out = tmp_path / "foreign"
    out.mkdir()
    if script is not None:
        (out / "harvest.sbatch").write_text(script)
        (out / "logs").mkdir()
    capsys.readouterr()
    assert main(["status", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {out} is not a harvester folder (no harvest.json)" in err
    assert main(["status", str(out), "--json"]) == 2


def test_the_parent_of_a_prepared_folder_names_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``status data`` beside ``harvester slurm --out data/study`` (no harvest.json until a
    task starts) names data/study as prepared, and a folder of journals alone as a harvest;
    ``status data/study/logs`` says it is inside it; a resume ``harvest --out data`` does not
    send the user to a folder with nothing to resume; someone else's script is no harvest.
    Each exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    assert main(["slurm", "--out", "data/study", "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2"]) == 0  # fmt: skip
    (tmp_path / "data" / "foreign").mkdir()
    (tmp_path / "data" / "foreign" / "harvest.sbatch").write_text("#!/bin/sh\nexec make all\n")
    before = listing(tmp_path)
    prepared = "data/study (prepared by harvester slurm, no task has started)"
    for given, says in (
        ("data", f"data holds 1 harvest, {prepared}"),
        ("data/study/logs", f"data/study/logs is inside the harvest {prepared}"),
    ):
        capsys.readouterr()
        assert main(["status", given]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: {given} is not a harvester folder (no harvest.json)",
            f"hint: give the --out folder of a harvest: {says}",
        ]
    assert main(["harvest", "--out", "data"]) == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[1]
        .startswith("hint: data holds no harvest to resume: check the folder's name")
    )
    assert listing(tmp_path) == before
    (tmp_path / "data" / "begun" / "journals").mkdir(parents=True)  # (a task's first write)
    assert main(["status", "data"]) == 2
    assert capsys.readouterr().err.splitlines()[1] == (
        "hint: give the --out folder of a harvest: data holds 2 harvests, data/begun and "
        + prepared
    )


def test_a_script_naming_a_fifo_as_its_config_does_not_hang_status(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A harvest.sbatch edited to name a FIFO (or /dev/zero) as the config: status reads
    only a small regular file there, so it answers instead of waiting forever (review)."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'artifacts = ["metadata"]\nscreens = [2302]\nbase_url = "{emulator.base_url}"\n'
    )
    out = tmp_path / "sl"
    assert main(["slurm", str(toml), "--out", str(out), "--tasks", "2"]) == 0
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    script = out / "harvest.sbatch"
    script.write_text(script.read_text().replace(str(toml.resolve()), str(fifo)))
    # In a child with a time limit: a regression would block on the FIFO, not the suite.
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "harvester", "status", str(out), "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["started"] is False
    assert data["slurm"]["config"] == str(fifo)
    assert data["selected"] == ["thumbnail", "imgdata", "render", "metadata"]  # the defaults


def test_a_marker_without_runs_or_plan_does_not_suggest_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """harvest.json and an empty journals/ (journals deleted by hand): status says no run is
    journaled, not "next: harvester harvest --from-plan DIR" for a plan that is not there."""
    out = tmp_path / "d"
    assert main(["harvest", "--base-url", emulator.base_url, "--project", "51",
                 "--out", str(out), "--artifacts", "thumbnail", "--quiet"]) == 0  # fmt: skip
    for journal in (out / "journals").iterdir():
        journal.unlink()
    text, data = status(out, capsys)
    assert "no harvest run is journaled in this folder" in text
    assert "--from-plan" not in text
    assert data["started"] is False


def test_only_status_asks_slurm_for_queued_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: EmulatorThread
) -> None:
    """`harvester status` asks squeue whether DIR's script has jobs queued; the same report
    built for a resume's count of the work left does not (scontrol ping and squeue on a login
    node, each up to 10 s, for an answer nobody reads)."""
    out = tmp_path / "sl"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--project", "51", "--tasks", "2"]) == 0  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "asked"
    write_tools(
        bin_dir,
        (
            ("scontrol", "echo 'Slurmctld(primary) at h is UP'"),
            ("squeue", f"echo squeue >> {asked}"),
        ),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    from harvester.status import collect_status

    collect_status(out)
    assert not asked.exists()
    assert main(["status", str(out)]) == 0
    assert asked.read_text().split() == ["squeue"]


def test_a_missing_index_is_left_to_the_queued_index_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
) -> None:  # fmt: skip
    """Task 0 of 2 done (a shard writes no index.csv), task 1 and the index job queued:
    status says the queued index job writes index.csv, naming it, not to rebuild it by hand;
    with no index job in the queue it still names the rebuild."""
    out = tmp_path / "sl"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--project", "51", "--tasks", "2", "--rate", "none"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert not (out / "index.csv").exists()
    queue = tmp_path / "queue"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_tools(
        bin_dir,
        (("scontrol", "echo 'Slurmctld(primary) at h is UP'"), ("squeue", f'cat "{queue}"')),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    # (squeue -r -o '%F|%K|%T|%o|%Z': the index job is no array, its %K is N/A)
    queue.write_text(f"4242|1|PENDING|{out}/harvest.sbatch\n4243|N/A|PENDING|{out}/index.sbatch\n")
    text, _ = status(out, capsys)
    notes = [line for line in text.splitlines() if line.startswith("note: index.csv")]
    assert notes == [
        "note: index.csv is missing: the index job in the queue (job 4243, squeue -j 4243) "
        "writes it once the job array has ended: nothing to do"
    ], text
    assert "in the queue now: job 4242 (squeue -j 4242)" in text.splitlines()

    queue.write_text(f"4242|1|PENDING|{out}/harvest.sbatch\n")  # queued without its index job
    text, _ = status(out, capsys)
    notes = [line for line in text.splitlines() if line.startswith("note: index.csv")]
    assert notes == [f"note: index.csv is missing: rebuild it with harvester index {out}"], text

    # squeue's full line (-o '%F|%K|%T|%o|%Z|%U|%r'): a reason no wait resolves is said, on
    # the same line; one that only waits its turn (Resources) is not. A drained node's, as
    # SLURM 22.05 words it for an array's tasks after their first seconds, is said too.
    me, script = os.getuid(), f"{out}/harvest.sbatch|{out}"
    drained = (
        "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority "
        "partitions"
    )
    for reason, said in (
        ("Resources", ""),
        (
            "ReqNodeNotAvail, UnavailableNodes:n[01-02]",
            ", pending: ReqNodeNotAvail, UnavailableNodes:n[01-02] (SLURM's reason: it will "
            "not start until that is fixed; scontrol show job 4242 says more)",
        ),
        (
            drained,
            f", pending: {drained} (SLURM's reason: it will not start until that is fixed; "
            "scontrol show job 4242 says more)",
        ),
    ):
        queue.write_text(f"4242|1|PENDING|{script}|{me}|{reason}\n")
        text, data = status(out, capsys)
        assert f"in the queue now: job 4242 (squeue -j 4242){said}" in text.splitlines(), text
        assert data.get("queued_reasons", {}) == ({"4242": reason} if said else {})


def test_first_line_with_a_plan_and_other_targets_counts_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emulator: EmulatorThread
) -> None:
    """A plan's images and another target's in one folder: the first line counts every
    image journaled and, apart, those of the plan, so neither reads as the plan's share."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--artifacts", "thumbnail", "--quiet",
                 "--rate", "none"]) == 0  # fmt: skip
    assert main(["harvest", "--from-plan", str(out), "--out", str(out), "--shard", "0/2",
                 "--rate", "none", "--quiet"]) == 0  # fmt: skip
    planned = len(list((out / "images").rglob("*.thumbnail.jpg")))
    # (plate 7375 of screen 2302: 8 images outside project 51)
    other = ["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
             "--artifacts", "thumbnail", "--rate", "none", "--quiet"]  # fmt: skip
    assert main(other) == 0
    text, data = status(out, capsys)
    total = data["images"]
    assert isinstance(total, int) and total > planned, text
    assert text.splitlines()[0] == (
        f"{out}: {total} images journaled, {planned} of the plan's {PROJECT_IMAGES} images, "
        "artifacts thumbnail"
    ), text


def test_verify_leaves_a_missing_index_to_the_queued_index_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: EmulatorThread
) -> None:
    """Task 0 of 2 done, the index job queued: `harvester verify` (a subprocess) says the
    queued index job writes index.csv, as status does, not to rebuild it now; without the
    index job in the queue, or where the queue cannot be asked, it names the rebuild; with
    index.csv there it never asks the queue."""
    import harvester

    out = tmp_path / "sl"
    assert main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--project", "51", "--tasks", "2", "--rate", "none"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    assert not (out / "index.csv").exists()
    queue, asked, up = tmp_path / "queue", tmp_path / "asked", tmp_path / "up"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ping = f"if [ -e {up} ]; then echo 'Slurmctld(primary) at h is UP'; else exit 1; fi"
    write_tools(
        bin_dir, (("scontrol", ping), ("squeue", f'echo squeue >> "{asked}"; cat "{queue}"'))
    )
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}  # fmt: skip

    def index_notes() -> list[str]:
        said = subprocess.run([sys.executable, "-m", "harvester", "verify", str(out)],
                              capture_output=True, text=True, env=env, timeout=120,
                              check=False)  # fmt: skip
        assert said.returncode == 0, said.stdout + said.stderr
        return [line for line in said.stdout.splitlines() if line.startswith("note: index.csv")]

    up.touch()
    # (the index job is no array, its %K is N/A)
    queue.write_text(f"4242|1|PENDING|{out}/harvest.sbatch\n4243|N/A|PENDING|{out}/index.sbatch\n")
    assert index_notes() == [
        "note: index.csv is missing: the index job in the queue (job 4243, squeue -j 4243) "
        "writes it once the job array has ended: nothing to do"
    ]
    rebuild = [f"note: index.csv is missing: rebuild it with harvester index {out}"]
    queue.write_text(f"4242|1|PENDING|{out}/harvest.sbatch\n")  # queued without its index job
    assert index_notes() == rebuild
    queue.write_text(f"4243|N/A|PENDING|{out}/index.sbatch\n")
    up.unlink()  # no controller answers: the queue cannot be asked
    assert index_notes() == rebuild

    up.touch()
    assert main(["index", str(out)]) == 0
    asked.unlink()
    assert index_notes() == []
    assert not asked.exists()  # nothing missing: the queue is not asked


def test_a_plan_stopped_before_writing_its_plan_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A `harvester plan` that stopped before writing its plan (a listing refused, Ctrl-C)
    leaves harvest.json and its journal: status said "no harvest run is journaled" and
    "counts appear once a task has journaled ...", no word of the plan begun."""
    emu = make_emulator(preset="demo", faults="503:100%,only:/webclient/api/plates/")
    out = tmp_path / "d"
    refused = ["--rate", "none", "--max-retries", "0", "--outage-wait", "0", "-q"]
    planned = main(["plan", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
                    *refused])  # fmt: skip
    assert planned == 75
    assert (out / "harvest.json").is_file() and not (out / "plan").exists()
    text, data = status(out, capsys)
    assert text.splitlines()[1:] == [
        "no harvest run is journaled in this folder: a harvester plan began here and stopped "
        "before it wrote its plan (interrupted, or it failed); run that harvester plan again, "
        "or harvest its targets",
        "counts appear once a harvest has journaled the images it walked",
    ]
    assert data["started"] is False
    # A plan being made now (its temporary folder, of a live process here): not "stopped".
    making = out / f"plan.tmp-{socket.gethostname()}-{os.getpid()}-0123abcd"
    making.mkdir()
    text, _data = status(out, capsys)
    assert text.splitlines()[1] == (
        "no harvest run is journaled in this folder: a harvester plan is being made here and "
        "has not written its plan yet; once it has, status names the next step"
    )
    making.rename(out / "plan.tmp-node-b07-12-0123abcd")  # another host's: it may be running
    text, _data = status(out, capsys)
    assert text.splitlines()[1].startswith(
        "no harvest run is journaled in this folder: a harvester plan is being made here (on "
        "host node-b07, as its plan.tmp-* folder says; if it stopped there, "
    ), text

"""`harvester slurm --submit` refuses a second array of DIR's script while one is queued.

Found by an HPC walkthrough: the same `harvester slurm ... --submit` run twice (a shell's
history, a second try after a slow answer) queued two arrays of the same shards. Both ran:
each shard's second task was refused by the first's run lock (FAILED in SLURM's words), and
the tasks running at once, twice the M of the script's `%M`, asked the server at twice the
total `--rate` its share per task was cut for. A queued task holds no run lock, so nothing
stopped it. Written without `--submit`, the script is rewritten as before (SLURM keeps its
copy of the queued one), with a note to submit it once the queued array has ended.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hpc_helpers import EmulatorProcess, write_tools
from test_resubmit_tasks_left import _prepare
from test_slurm import _wait_gone, require_slurm_cluster
from test_slurm_resume_index import _sbatch
from test_status_killed_task import _fake_slurm

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.slurm import queued_jobs


def _refused(out: Path, job: str) -> list[str]:
    return [
        f"error: {out}/harvest.sbatch is queued or running as job {job}: a second array of it "
        "would run each shard twice at once (one of the two refused where they meet), its "
        "tasks together asking the server at up to twice the --rate",
        f"hint: wait for it to end (squeue -j {job}): harvester status {out} then gives the "
        f"line that resubmits the tasks with work left; or cancel it (scancel {job}) and "
        "submit again",
    ]


def _again(out: Path) -> list[str]:
    return ["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "4", "--rate", "none"]


def test_a_second_submission_is_refused_while_the_array_is_queued(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """squeue lists a task of DIR's script: --submit is refused (exit 2, the script as it
    was, sbatch never run), in other words for a script of other work; without --submit
    the script is written, with the note; with the queue empty, --submit goes on to
    sbatch."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    script = (out / "harvest.sbatch").read_bytes()
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|PENDING|{out}/harvest.sbatch\\n")
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    assert main([*_again(out), "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert (out / "harvest.sbatch").read_bytes() == script
    assert not sbatched.exists()
    # Of other work (other artifacts; a selection alike): refused, not as "a second array of
    # it" (it read as if the new array repeated the queued one); another rate is the same work.
    assert main([*_again(out), "--artifacts", "thumbnail,metadata", "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {out}/harvest.sbatch is queued or running as job 4300, whose tasks harvest"
        " something else (other targets, artifacts or selection): an array of this script"
        " beside it would have each shard's task refused while that array's runs (DIR takes"
        " one run of a shard at a time), the two asking the server at up to twice the --rate",
        "hint: wait for it to end (squeue -j 4300), then run this command again; or cancel it"
        f" (scancel 4300) and run it again (harvester status {out} says what that array left"
        " undone)",
    ]
    assert main([*_again(out)[:-1], "2", "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert (out / "harvest.sbatch").read_bytes() == script
    assert not sbatched.exists()

    assert main(_again(out)) == 0
    said = capsys.readouterr().out.splitlines()
    assert (
        f"note: {out}/harvest.sbatch is queued or running as job 4300: submit it once that has "
        "ended (squeue -j 4300), not before: each shard would run twice at once"
    ) in said, said
    assert not sbatched.exists()

    # Written over with another rate: the same work, the same note. With other artifacts:
    # the queued array's work left is resumed by no line of status's from now on, as the
    # note says.
    note = (
        f"note: {out}/harvest.sbatch is queued or running as job 4300: submit it once that has "
        "ended (squeue -j 4300), not before: each shard would run twice at once"
    )
    assert main([*_again(out)[:-1], "2"]) == 0
    assert note in capsys.readouterr().out.splitlines()
    # (nor with other run settings, nor --quiet, which only hushes the tasks' logs: it said
    # their array harvests something else)
    assert main([*_again(out), "--concurrency", "2", "--max-retries", "2", "--quiet"]) == 0
    assert note in capsys.readouterr().out.splitlines()
    # Nor with flags that change nothing the tasks do: a seed without a sample, the size of
    # DIR's thumbnails (it said "harvest something else" of the words alone).
    assert main([*_again(out), "--seed", "0", "--thumbnail-size", "96"]) == 0
    assert note in capsys.readouterr().out.splitlines()
    assert main([*_again(out), "--seed", "3", "--thumbnail-size=96"]) == 0
    assert note in capsys.readouterr().out.splitlines()
    assert main([*_again(out), "--artifacts", "thumbnail,metadata"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert (
        f"{note}; that array runs the script this one replaced, whose tasks harvest something "
        "else (other targets, artifacts or selection): status's resume lines now resubmit this "
        "one, which may not do what that array leaves undone: for that, write its script "
        "again (the harvester slurm command that wrote it) before this one is submitted"
    ) in said, said
    assert main(_again(out)) == 0  # (the first script again, for what follows)
    capsys.readouterr()

    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    assert main([*_again(out), "--submit"]) == 0
    assert "submitted job array 4301" in capsys.readouterr().out
    assert sbatched.read_text().count(str(out / "harvest.sbatch")) == 1


def test_a_second_submission_of_the_same_targets_is_refused_before_the_server(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A script of targets (no plan) queued: --submit of the same command is refused without
    a request to the server (it checked the targets there first: a server down gave its
    error, not the refusal); of other targets, checked there, it is told so."""
    out = tmp_path / "ids"
    flags = ["slurm", "--base-url", emulator.base_url, "--image", "9762957", "--out", str(out),
             "--tasks", "2", "--artifacts", "thumbnail", "--rate", "none"]  # fmt: skip
    assert main(flags) == 0, capsys.readouterr().err
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|PENDING|{out}/harvest.sbatch\\n")
    sbatched = _fake_sbatch(tmp_path)
    emulator.reset_stats()
    capsys.readouterr()
    assert main([*flags, "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert emulator.stats()["requests"] == 0
    # A --window of stacks these tasks do not make, an explicit --seed without a sample:
    # the same command still, refused as such (not "whose tasks harvest something else").
    assert main([*flags, "--window", "minmax", "--seed", "0", "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert emulator.stats()["requests"] == 0
    assert main([*flags, "--image", "9762958", "--submit"]) == 2
    assert "whose tasks harvest something else" in capsys.readouterr().err
    assert emulator.stats()["requests"] > 0
    assert not sbatched.exists()


def test_an_array_squeue_lists_only_as_ending_does_not_refuse_a_submission(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Just after an array ends squeue still lists its tasks for a moment (COMPLETING): a
    --submit then goes through to sbatch; a task of it still RUNNING (or one SUSPENDED)
    refuses it as before."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    script = out / "harvest.sbatch"
    for states in (("COMPLETING", "COMPLETING"), ("COMPLETING", "RUNNING"), ("SUSPENDED",)):
        rows = "".join(f"4300|{k}|{state}|{script}\\n" for k, state in enumerate(states))
        _fake_slurm(tmp_path, monkeypatch, up=True, queue=rows)
        sbatched = _fake_sbatch(tmp_path)
        capsys.readouterr()
        if states == ("COMPLETING", "COMPLETING"):
            assert main([*_again(out), "--submit"]) == 0
            assert "submitted job array 4301" in capsys.readouterr().out
            assert sbatched.read_text().count(str(script)) == 1
        else:
            assert main([*_again(out), "--submit"]) == 2, states
            assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
            assert sbatched.read_text().count(str(script)) == 1  # (not run again)


def test_a_task_completing_as_slurm_requeues_it_still_refuses_a_submission(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """squeue lists task 1 COMPLETING, and SLURM's line after its last start in its log
    says it cancelled it to queue it again (a requeue, a preemption, a node failure): it
    will run again, so --submit is refused as while it runs; an older run's requeue line,
    before the start of the run that then ended, lets it through."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    script = out / "harvest.sbatch"
    log = out / "logs" / "harvest-4300_1.log"
    start = "harvester shard 1/4: job 4300_1 on node01 at Sat Nov 28 12:00:00 UTC 2026"
    cancelled = "slurmstepd-node01: error: *** JOB 4301 ON node01 CANCELLED AT 2026-11-28T12:00:00"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|COMPLETING|{script}\n")
    # (a node failure as older and newer SLURM word it, the node named in capitals or not)
    node = ("NODE CN01 FAILURE", "NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS")
    for reason in ("JOB REQUEUE", "PREEMPTION", *node):
        log.write_text(f"{start}\n{cancelled} DUE TO {reason} ***\ninterrupted\n")
        sbatched = _fake_sbatch(tmp_path)
        capsys.readouterr()
        assert main([*_again(out), "--submit"]) == 2, reason
        assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
        assert not sbatched.exists()

    log.write_text(f"{start}\n{cancelled} DUE TO JOB REQUEUE ***\n{start}\n")
    capsys.readouterr()
    assert main([*_again(out), "--submit"]) == 0
    assert "submitted job array 4301" in capsys.readouterr().out
    assert sbatched.read_text().count(str(script)) == 1


@pytest.mark.parametrize(
    ("state", "refused"),
    [
        ("EXPEDITING", True),  # (newer SLURM: a task requeued to run again at once)
        ("POWER_UP_NODE", True),  # (a state no version here prints: counts as running)
        ("STAGE_OUT", False),
        ("COMPLETED", False),  # (listed as with SQUEUE_STATES=all in the environment)
        ("CANCELLED", False),
        ("TIMEOUT", False),
    ],
)
def test_a_state_not_known_to_have_ended_still_refuses_a_submission(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: str,
    refused: bool,
) -> None:
    """Only the states SLURM says a job has ended in let a --submit through: a state of a
    newer SLURM (EXPEDITING) or one not known here counts as still running, or a second
    array would run each shard twice at once."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    script = out / "harvest.sbatch"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|{state}|{script}\\n")
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    if refused:
        assert main([*_again(out), "--submit"]) == 2
        assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
        assert not sbatched.exists()
    else:
        assert main([*_again(out), "--submit"]) == 0
        assert "submitted job array 4301" in capsys.readouterr().out
        assert sbatched.read_text().count(str(script)) == 1


@pytest.mark.slurm
def test_on_a_cluster_a_second_submission_is_refused_while_the_array_is_held(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real array held in the queue: `harvester slurm --submit` again is refused and the
    queue still holds that one array alone; once it is gone, the submission goes through."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", "hv-submit-twice")
    held = _sbatch("--hold", str(out / "harvest.sbatch"), cwd=out)
    try:
        capsys.readouterr()
        assert main([*_again(out), "--submit"]) == 2
        assert capsys.readouterr().err.splitlines() == _refused(out, held)
        # (by its script: other tests' arrays may share the job name, on the same cluster)
        assert queued_jobs(out / "harvest.sbatch") == [held]
    finally:  # (and a second array, had it been queued)
        jobs = [held, *queued_jobs(out / "harvest.sbatch")]
        subprocess.run(["scancel", *jobs], timeout=30, check=False)
    _wait_gone(jobs)
    assert main([*_again(out), "--submit"]) == 0
    out_text = capsys.readouterr().out
    array = out_text.split("submitted job array ")[1].split(":")[0]
    index = out_text.split("index:    job ")[1].split()[0]
    subprocess.run(["scancel", array, index], timeout=30, check=False)
    _wait_gone([array, index])


def test_an_array_submitted_by_a_relative_path_is_found_by_its_working_directory(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cd DIR && sbatch ./harvest.sbatch`: squeue lists the script as `./harvest.sbatch`
    (sbatch keeps a `./` or `../` path as given), in the job's working directory DIR. It
    was resolved against this process's directory, the array not seen, and a second
    --submit went through; a relative path in another directory is another script."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|PENDING|./harvest.sbatch|{out}\\n")
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    assert main([*_again(out), "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert not sbatched.exists()

    other = tmp_path / "other"
    other.mkdir()
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=f"4300|1|PENDING|./harvest.sbatch|{other}\\n")
    assert main([*_again(out), "--submit"]) == 0
    assert "submitted job array 4301" in capsys.readouterr().out


def test_an_array_submitted_from_elsewhere_with_chdir_is_found_by_its_output(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`sbatch --chdir=/ study/harvest.sbatch` from DIR's parent: squeue lists the script
    as `study/harvest.sbatch` in `/`, relative to a directory SLURM does not keep; it was
    not seen (status had no word of it, a second --submit went through). The job's output
    path (`squeue -O STDOUT`), DIR's own `#SBATCH --output`, tells it; another folder's
    output does not, and a second look at the queue is made only for such a line."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    bin_dir = tmp_path / "bin"
    asked = tmp_path / "squeue-args"

    def fake_queue(output: Path, listing: str = "4300|1|PENDING|study/harvest.sbatch|/|0") -> None:
        outputs = f"4300|{output}/logs/harvest-%A_%a.log|"
        squeue = (
            f'echo "$@" >> {asked}; case "$*" in *-O*) printf "%s\\n" "{outputs}" ;; '
            f'*) printf "%s\\n" "{listing}" ;; esac'
        )
        ping = "echo 'Slurmctld(primary) at h is UP'"
        write_tools(bin_dir, (("scontrol", ping), ("squeue", squeue)))
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    fake_queue(out.resolve())
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    assert main([*_again(out), "--submit"]) == 2
    assert capsys.readouterr().err.splitlines() == _refused(out, "4300")
    assert not sbatched.exists()
    assert main(["status", str(out)]) == 0
    assert "in the queue now: job 4300 (squeue -j 4300)" in capsys.readouterr().out
    assert "-j 4300 -O ArrayJobID:|,STDOUT:|" in asked.read_text()

    other = tmp_path / "other"
    fake_queue(other)
    assert main([*_again(out), "--submit"]) == 0
    assert "submitted job array 4301" in capsys.readouterr().out

    # Other jobs submitted by a relative path (found where they ran, or of another name)
    # cost no second look at the queue.
    asked.unlink()
    fake_queue(
        out.resolve(), f"4302|0|RUNNING|job.sh|{tmp_path}|0\n4303|0|RUNNING|study/job.sh|/|0"
    )
    assert main(["status", str(out)]) == 0
    assert "in the queue now" not in capsys.readouterr().out
    assert "-O" not in asked.read_text()


@pytest.mark.slurm
def test_on_a_cluster_an_array_submitted_from_its_folder_is_refused_a_second_time(
    tmp_path: Path, emulator_process: EmulatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real array held in the queue, submitted as `sbatch ./harvest.sbatch` from DIR:
    the queue's listing (status's too) finds it, and `harvester slurm --submit` again is
    refused. So is one submitted from DIR's parent as `sbatch --chdir=/ study/harvest.sbatch`,
    told by its output path (`squeue -O STDOUT`, as this SLURM prints it)."""
    require_slurm_cluster()
    out = tmp_path / "study"
    _prepare(emulator_process.base_url, out, "--job-name", "hv-submit-relative")
    held = _sbatch("--hold", "./harvest.sbatch", cwd=out)
    jobs = [held]
    try:
        assert queued_jobs(out / "harvest.sbatch") == [held]
        capsys.readouterr()
        assert main([*_again(out), "--submit"]) == 2
        assert capsys.readouterr().err.splitlines() == _refused(out, held)
        subprocess.run(["scancel", held], timeout=30, check=False)
        _wait_gone([held])
        elsewhere = _sbatch("--hold", "--chdir=/", "study/harvest.sbatch", cwd=tmp_path)
        jobs.append(elsewhere)
        assert queued_jobs(out / "harvest.sbatch") == [elsewhere]
        assert main([*_again(out), "--submit"]) == 2
        assert capsys.readouterr().err.splitlines() == _refused(out, elsewhere)
    finally:
        jobs += queued_jobs(out / "harvest.sbatch")
        subprocess.run(["scancel", *jobs], timeout=30, check=False)
    _wait_gone(jobs)


def _fake_sbatch(tmp_path: Path) -> Path:
    """A fake ``sbatch`` on the PATH the fake SLURM set up: it answers job 4301 and appends
    its arguments to the file returned (absent: never run)."""
    sbatched = tmp_path / "sbatch-args"
    (tmp_path / "bin" / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {sbatched}\necho 4301\n')
    (tmp_path / "bin" / "sbatch").chmod(0o755)
    return sbatched


#: A user id with no passwd entry (named ``uid N``): another user's, on any test machine.
OTHER_UID = 4_000_000


def test_another_users_array_of_the_script_counts_and_is_named_with_its_owner(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A shared project folder: a colleague's array of DIR/harvest.sbatch is queued. squeue
    was asked for this user's jobs alone (-u), so --submit queued a second array of the
    same shards beside it and status said nothing of it (found by an HPC walkthrough, the
    held array of a second user on the test cluster). Now every user's jobs count, and
    another's is named with its owner, whose scancel it is (this user's is refused)."""
    out = tmp_path / "study"
    _prepare(emulator.base_url, out)
    script = out / "harvest.sbatch"
    theirs = "".join(f"4300|{k}|PENDING|{script}|{out}|{OTHER_UID}\\n" for k in range(4))
    asked = _fake_slurm(tmp_path, monkeypatch, up=True, queue=theirs)
    sbatched = _fake_sbatch(tmp_path)
    capsys.readouterr()
    assert main([*_again(out), "--submit"]) == 2
    owner = f"user uid {OTHER_UID}"
    assert capsys.readouterr().err.splitlines() == [
        f"error: {script} is queued or running as job 4300 of {owner}: a second array of it "
        "would run each shard twice at once (one of the two refused where they meet), its "
        "tasks together asking the server at up to twice the --rate",
        f"hint: wait for it to end (squeue -j 4300): harvester status {out} then gives the "
        f"line that resubmits the tasks with work left; or cancel it ({owner}: scancel "
        "4300) and submit again",
    ]
    assert not sbatched.exists()
    assert "-u" not in asked.read_text().split()

    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert f"in the queue now: job 4300 of {owner} (squeue -j 4300)" in text, text
    assert not [x for x in text if x.startswith("to resume: ")], text
    assert main(["status", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["queued"], data["queued_owners"]) == (["4300"], {"4300": f"uid {OTHER_UID}"})

    # This user's job beside it (squeue ending the line with this user's id): named plain,
    # cancelled by this user; another task count is refused naming both.
    mine = f"4302|0|RUNNING|{script}|{out}|{os.getuid()}\\n"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue=mine + theirs)
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {script} of 4 tasks is queued or running as job 4302,4300 (4300 of "
        f"{owner}): its tasks and those of a script of 2 tasks would hold the same images, "
        "and each would be refused where they meet",
        f"hint: wait for it to end (squeue -j 4302,4300) or cancel it (scancel 4302; {owner}: "
        "scancel 4300), then write the script again; or keep --tasks 4",
    ]
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out.splitlines()
    assert f"in the queue now: job 4302,4300 (4300 of {owner}) (squeue -j 4302,4300)" in text

"""`harvester status` and the index job say how a job-array task with work left ended.

Found by an HPC walkthrough of the README's SLURM steps on the test cluster: an array given
`--max-bytes` ended with every task FAILED in SLURM's words (exit code 8), status listed each
task with work left and nothing more, and the index job's note blamed "a task still running,
failed or cancelled": the budget, the one reason, went unsaid everywhere but the task logs. A
task a plain `scancel` interrupted read the same as one that never ran. Each task's line now
ends with what its log says (`stopped by its --max-bytes budget (1K)`, `interrupted`), with one
line on what exit 8 means, and the index job's note names the budget.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from hpc_helpers import EmulatorProcess, harvester_cmd, run, run_array_task, write_tools
from test_resubmit_tasks_left import _queue_empty
from test_slurm import _logs, _squeue, _wait_gone, require_slurm_cluster
from test_status_killed_task import JOB, TIME_LIMIT, _fake_slurm, _kill_task_mid_run, _prepare
from test_status_killed_task import killed as killed  # noqa: F401 (a fixture, used by name)

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.end_lines import AFTER_BUDGET
from harvester.session import again_hint, stopped_text

#: What status says under the task lines when a budget stopped one of them.
BUDGET_LINE = (
    "  a task its --max-bytes budget stopped exits 8, which SLURM calls FAILED: nothing "
    "failed; the resume line below continues it with a new budget of that size"
)


def _budget_array(base_url: str, out: Path, *more: str) -> None:
    """A plan of project 51 (8 images) and an array of 2 tasks of one request at a time,
    each with a 1K budget: a thumbnail is larger, so each task stops after its first."""
    assert main(["plan", "--base-url", base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2", "--rate",
                 "none", "--concurrency", "2", "--max-bytes", "1K", *more]) == 0  # fmt: skip


def _budget_stopped_task_log(base_url: str, out: Path) -> Path:
    """``_budget_array``'s task 0 run until its budget stops it (exit 8): its log, for a
    test to write as a task's end could have left it."""
    _budget_array(base_url, out)
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 8
    return out / "logs" / "harvest-4242_0.log"


def _task_lines(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    """status's job-array lines and its last line."""
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    start = next(n for n, x in enumerate(said) if x.startswith("job array: "))
    end = next(n for n, x in enumerate(said) if x.startswith("kind "))
    return said[start:end], said[-1]


def _index_note(out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["index", str(out)]) == 0
    said = capsys.readouterr()
    (note,) = [x for x in (said.out + said.err).splitlines() if x.startswith("note: ")]
    return note


def test_tasks_their_budget_stopped_say_so_in_status_and_the_index_note(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both tasks exit 8 with work left: each line says the budget stopped it, one line says
    exit 8 is no failure, the index note names the budget; run again, each task continues
    where it stopped (more images complete) with a budget of its own."""
    out = tmp_path / "study"
    _budget_array(emulator.base_url, out)
    assert [run_array_task(out / "harvest.sbatch", k, 2).returncode for k in (0, 1)] == [8, 8]
    # (the index job is queued by harvester slurm --submit: it said "the SLURM script")
    assert (
        f"index: not rebuilt by a shard; once every shard has ended run `harvester index {out}` "
        "(`harvester slurm --submit` queues it after the array)"
    ) in (out / "logs" / "harvest-4242_0.log").read_text().splitlines()
    _queue_empty(tmp_path, monkeypatch)
    lines, last = _task_lines(out, capsys)
    assert lines[0] == "job array: 0 of 2 tasks complete, work left in:", lines
    for k in (0, 1):
        assert lines[1 + k].startswith(f"  task {k}: 1 of "), lines
        assert lines[1 + k].endswith(
            f" not reached, stopped by its --max-bytes budget (1K) "
            f"(log: {out}/logs/harvest-4242_{k}.log)"
        ), lines
    assert lines[3:] == [BUDGET_LINE], lines
    assert last == (  # every task has work left: the script as it is, its %M kept
        f"to resume: jid=$(sbatch --parsable {out}/harvest.sbatch) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {out}/index.sbatch"
    ), last

    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["array_tasks"]
    assert [(t["ended"], t["max_bytes"], t["complete"]) for t in tasks] == [
        ("max_bytes", "1K", 1), ("max_bytes", "1K", 1)
    ]  # fmt: skip

    note = _index_note(out, capsys)
    assert note.startswith("note: index.csv lists 2 of the plan's 8 images; 6 are not in it (a "
                           "task still running, failed, cancelled or stopped by its --max-bytes "
                           "budget (1K each), or images"), note  # fmt: skip

    # The same script again: each task continues with a new 1K, one more image each.
    assert [run_array_task(out / "harvest.sbatch", k, 2).returncode for k in (0, 1)] == [8, 8]
    lines, _last = _task_lines(out, capsys)
    assert [x.split(" of ")[0] for x in lines[1:3]] == ["  task 0: 2", "  task 1: 2"], lines


def test_a_budget_line_cut_short_is_still_the_budget_not_the_server(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The task's last line cut short as it was written (its disk full: what a budget is
    for): its line still says the budget stopped it, naming no size it cannot read, not
    that the server was down (any `stopped: ` line was taken for that)."""
    out = tmp_path / "study"
    log = _budget_stopped_task_log(emulator.base_url, out)
    text = log.read_text()
    at = text.index("stopped: the --max-bytes budget of 1K was reached")
    log.write_text(text[: at + len("stopped: the --max-bytes budget of 1")])
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(f" not reached, stopped by its --max-bytes budget (log: {log})"), lines
    assert BUDGET_LINE in lines
    assert "server" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("note", "then", "said"),
    [
        (
            "the server went down (HTTP 503 Service Unavailable)",
            "server_down",
            ", then the server went down as it looked for work left",
        ),
        (
            f"{stopped_text(403, 'HTTP 403 Forbidden: Not logged in')}: {again_hint(403)} first",
            "session_ended",
            ", then its session ended as it looked for work left: log in again before the resume",
        ),
    ],
    ids=["server-down", "session-ended"],
)
def test_a_budget_stop_then_the_server_or_session_says_both(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    note: str,
    then: str,
    said: str,
) -> None:
    """A task its budget stopped whose walk then met the server down or the session's end
    (the harvest's note before its budget line, as it prints it): its line says both, and
    where the session ended, that the resume needs a new login first (``--json``:
    ``after_budget``). It read as a plain budget stop, resubmitted as it was."""
    out = tmp_path / "study"
    log = _budget_stopped_task_log(emulator.base_url, out)
    text = log.read_text()
    at = text.index("stopped: the --max-bytes budget of 1K was reached")
    log.write_text(f"{text[:at]}{AFTER_BUDGET}{note}\n{text[at:]}")
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(
        f" not reached, stopped by its --max-bytes budget (1K){said} (log: {log})"
    ), lines
    login = " (where its line says so, after a new login or new credentials)"
    login = login if then == "session_ended" else ""
    assert lines[-1] == BUDGET_LINE + login, lines
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    task = json.loads(capsys.readouterr().out)["array_tasks"][0]
    assert (task["ended"], task["max_bytes"], task["after_budget"]) == ("max_bytes", "1K", then)


def test_a_budget_line_after_more_than_the_logs_tail_of_words_is_still_read(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A task that wrote 200 KB of lines (thousands of warnings) between its start line and
    its last: its line still says its budget stopped it (the start line out of the log's
    last 64 KB, how it ended went unsaid); as do both tasks' lines in --json."""
    out = tmp_path / "study"
    log = _budget_stopped_task_log(emulator.base_url, out)
    start, rest = log.read_text().split("\n", 1)
    assert start.startswith("harvester shard 0/2: "), start
    noise = "".join(f"warning: image {n} of this run said something long\n" for n in range(4000))
    assert len(noise) > 200_000
    log.write_text(f"{start}\n{noise}{rest}")
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(
        f" not reached, stopped by its --max-bytes budget (1K) (log: {log})"
    ), lines
    assert BUDGET_LINE in lines


def test_a_start_line_across_the_first_reads_edge_is_still_found(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A task log (of two starts: the task ran before) whose last start line is cut by the
    first read of its end (64 KiB), with warnings after it, not ticks: that read finds no
    start, the next one holds it whole, and the line says the budget that stopped it."""
    out = tmp_path / "study"
    log = _budget_stopped_task_log(emulator.base_url, out)
    start, rest = log.read_bytes().split(b"\n", 1)
    older = start + b"\ninterrupted: every finished file is kept and journaled; resume\n"
    # (bytes after the start line's middle: 64 KiB, so the first read begins inside it)
    noise_size = 64 * 1024 - len(rest) - 1 - len(start) // 2
    line = b"warning: image of this run said something long\n"
    noise = line * (noise_size // len(line)) + b"x" * (noise_size % len(line) - 1) + b"\n"
    log.write_bytes(older + start + b"\n" + noise + rest)
    end = log.stat().st_size - 64 * 1024
    cut = log.read_bytes()[end:].split(b"\n", 1)[0]
    assert start.endswith(cut) and cut != start, (cut, start)  # (the first read's edge)
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(
        f" not reached, stopped by its --max-bytes budget (1K) (log: {log})"
    ), lines
    assert not [x for x in lines if "interrupted" in x], lines


def test_a_start_line_further_back_than_status_reads_is_said_not_found(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A task whose log holds more than 1 MiB of lines between its start line and its
    budget's: status reads no further back than that, and its line says how it ended is
    not read (it said nothing, after reading up to 21 MB of the log), in --json too."""
    out = tmp_path / "study"
    log = _budget_stopped_task_log(emulator.base_url, out)
    start, rest = log.read_text().split("\n", 1)
    noise = "warning: image of this run said something long\n" * 23_000
    assert len(noise) > 1 << 20
    log.write_text(f"{start}\n{noise}{rest}")
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(
        " not reached, how it ended is not read: its log's last 1 MiB holds no start line "
        f"(log: {log})"
    ), lines
    assert BUDGET_LINE not in lines
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)["array_tasks"]
    assert [(t["task"], t["ended"], t["start_unread"]) for t in tasks] == [
        (0, None, True), (1, None, False)
    ]  # fmt: skip


def test_a_task_queued_again_after_its_budget_is_said_queued_not_stopped(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Resubmitted and waiting in the queue, a task's line says so, and no line says a
    budget stopped it: its next run may finish. The log it shows is the earlier job's (a
    resubmitted array reuses task numbers; the queued task has none yet), and its line
    says so: it showed that log as the queued task's own. In --json, the job it is queued
    as, and no end read from the earlier job's log."""
    out = tmp_path / "study"
    _budget_array(emulator.base_url, out)
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 8
    bin_dir = write_tools(tmp_path / "bin", (
        ("scontrol", "echo 'Slurmctld(primary) at h is UP'"),
        ("squeue", f"printf '4300|0|PENDING|{out}/harvest.sbatch\\n'"),
    ))  # fmt: skip
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(
        " not reached, in the queue as job 4300_0 (log of the earlier job 4242_0: "
        f"{out}/logs/harvest-4242_0.log)"
    ), lines
    assert BUDGET_LINE not in lines
    assert "--max-bytes" not in "\n".join(lines)
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    task = json.loads(capsys.readouterr().out)["array_tasks"][0]
    assert (task["queued_as"], task["log"]) == ("4300_0", f"{out}/logs/harvest-4242_0.log")
    assert (task["ended"], task["max_bytes"]) == (None, None), task

    # Its own job's log once it starts (SLURM makes it at the start): named as any task's.
    (out / "logs" / "harvest-4300_0.log").write_text("harvester shard 0/2: job 4300_0 ...\n")
    lines, _last = _task_lines(out, capsys)
    assert lines[1].endswith(f", in the queue (log: {out}/logs/harvest-4300_0.log)"), lines


def test_an_array_without_a_budget_keeps_the_index_note_as_it_was(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --max-bytes: the note names no budget (a task of it cannot have stopped so)."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
                 "--rate", "none"]) == 0  # fmt: skip
    assert run_array_task(out / "harvest.sbatch", 0, 2).returncode == 0
    note = _index_note(out, capsys)
    assert "(a task still running, failed or cancelled, or images whose every file" in note, note
    assert "--max-bytes" not in note


def test_slurm_says_the_budget_is_each_tasks_and_what_the_array_may_store(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rate given to slurm is a total, split; --max-bytes is each task's own: slurm and
    the script's header say what the array may store in all (as a flag or in the config
    file), and the per-task size for about the budget in all; one task: nothing to say."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    said = (
        "--max-bytes 20G is each task's own, not split like --rate: 16 tasks may store about "
        "320G in all per submission (for about 20G in all: --max-bytes 1280M)"
    )
    flags = ["--out", str(out), "--from-plan", str(out), "--max-parallel", "4"]
    capsys.readouterr()
    assert main(["slurm", *flags, "--tasks", "16", "--max-bytes", "20G"]) == 0
    assert f"note: {said}" in capsys.readouterr().out.splitlines()
    assert f"# Budget:  {said}." in (out / "harvest.sbatch").read_text().splitlines()

    config = tmp_path / "study.toml"
    config.write_text('max_bytes = "20G"\n')
    assert main(["slurm", str(config), *flags, "--tasks", "16"]) == 0
    assert f"note: {said}" in capsys.readouterr().out.splitlines()

    # a budget in bytes says its unit in the sentence (it said "about 40 in all")
    assert main(["slurm", *flags, "--tasks", "2", "--max-bytes", "20", "-q"]) == 0
    assert (
        "note: --max-bytes 20 is each task's own, not split like --rate: 2 tasks may store "
        "about 40 bytes in all per submission (for about 20 bytes in all: --max-bytes 10)"
    ) in capsys.readouterr().out.splitlines()

    assert main(["slurm", *flags, "--tasks", "1", "--max-bytes", "20G"]) == 0
    assert "--max-bytes" not in capsys.readouterr().out
    assert "# Budget:" not in (out / "harvest.sbatch").read_text()


@pytest.mark.parametrize(
    ("notice", "said"),
    [("", "interrupted"), (TIME_LIMIT, "interrupted by its time limit: see below")],
    ids=["scancel", "time-limit"],
)
def test_a_task_sigterm_interrupted_says_interrupted(
    notice: str, said: str, make_emulator: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """SIGTERM mid-run (a plain scancel; or after SLURM's time-limit line): the harvest said
    `interrupted` in its log, and its line says so (it read as a task that never ran), or
    points to the time limit's line below; tasks that never ran say nothing of an end."""
    emu: EmulatorThread = make_emulator(preset="demo", latency_ms=100)
    out = tmp_path / "study"
    _prepare(emu.base_url, out)
    _kill_task_mid_run(out / "harvest.sbatch", 1, signal.SIGTERM, notice)
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    tasks = {x.split(":")[0].strip(): x for x in lines if x.startswith("  task ")}
    assert tasks["task 1"].endswith(
        f" not reached, {said} (log: {out}/logs/harvest-{JOB}_1.log)"
    ), tasks
    assert tasks["task 2"].endswith(" not reached"), tasks
    assert BUDGET_LINE not in lines


def test_a_killed_tasks_line_points_to_its_line_below_where_the_queue_says_it_ended(
    killed: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Task 1 SIGKILLed, the queue holding none of DIR's tasks: its line says it ended
    without its summary, see below (where status names it and what tells why); where the
    queue cannot be asked it may still run elsewhere, and its line says nothing of an end."""
    log = f"(log: {killed}/logs/harvest-{JOB}_1.log)"
    _fake_slurm(tmp_path, monkeypatch, up=True, queue="")
    lines, _last = _task_lines(killed, capsys)
    (line,) = [x for x in lines if x.startswith("  task 1: ")]
    assert line.endswith(f" not reached, ended without its summary: see below {log}"), line

    _fake_slurm(tmp_path, monkeypatch, up=False, queue="")
    lines, _last = _task_lines(killed, capsys)
    (line,) = [x for x in lines if x.startswith("  task 1: ")]
    assert line.endswith(f" not reached {log}"), line


@pytest.mark.slurm
def test_on_a_cluster_a_budgeted_array_says_its_tasks_stopped_by_the_budget(
    tmp_path: Path, emulator_process: EmulatorProcess
) -> None:
    """A real array of 2 with --max-bytes 1K, submitted with --submit: both tasks end
    FAILED in SLURM's words (exit 8); status says the budget stopped them, not a failure,
    and the index job's log names the budget."""
    require_slurm_cluster()
    out = tmp_path / "study"
    run(harvester_cmd("plan", "--base-url", emulator_process.base_url, "--project", "51",
                      "--out", str(out), "--artifacts", "thumbnail", "--quiet",
                      "--rate", "none"))  # fmt: skip
    submitted = run(harvester_cmd(
        "slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2", "--rate", "none",
        "--concurrency", "2", "--max-bytes", "1K", "--job-name", "hv-budget", "--submit",
    )).stdout  # fmt: skip
    array = re.search(r"submitted job array (\d+)", submitted)
    index = re.search(r"index:\s+job (\d+)", submitted)
    assert array and index, submitted
    _wait_gone([array.group(1), index.group(1)])
    states = _squeue("-t", "all", "-j", array.group(1), "-o", "%K %T").stdout.split()
    assert states == ["1", "FAILED", "0", "FAILED"] or states == ["0", "FAILED", "1", "FAILED"], (
        f"{states}\n{_logs(out)}"
    )
    said = run(harvester_cmd("status", str(out))).stdout.splitlines()
    assert sum("stopped by its --max-bytes budget (1K)" in x for x in said) == 2, said
    assert BUDGET_LINE in said
    (index_log,) = (out / "logs").glob(f"index-{index.group(1)}.log")
    assert "stopped by its --max-bytes budget (1K each)" in index_log.read_text(), _logs(out)


def test_status_lists_the_newest_writers_of_a_large_array(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of each of 24 shards of screen 2302 (80 images): the text lists the newest 20
    writers, saying how many there are and where all are (--json keeps every one)."""
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emulator.base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    for k in range(24):
        assert main(["harvest", "--out", str(out), "--from-plan", str(out), "--shard",
                     f"{k}/24", "--rate", "none", "--quiet"]) in (0, 1)  # fmt: skip
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    writers = [w["writer"] for w in json.loads(capsys.readouterr().out)["writers"]]
    assert len(writers) > 20, writers
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()
    at = said.index(
        f"writers (the newest 20 of {len(writers)}; all: harvester status {out} --json):"
    )
    listed = [x.split()[0] for x in said[at + 1 :] if x.startswith("  ")]
    assert listed[:20] == writers[-20:] and set(listed[20:]).isdisjoint(writers), said[at:]


def test_a_task_the_server_outage_stopped_says_so(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The server goes down once the plan was made (a second emulator on its port answers
    503 after its first 4 answers): the task, some images done, waits out its --outage-wait
    and stops (exit 75, `stopped: the server stayed down ...` in its log); its line says the
    server was down."""
    emu: EmulatorThread = make_emulator(preset="demo")
    out = tmp_path / "study"
    assert main(["plan", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--quiet", "--rate", "none"]) == 0  # fmt: skip
    assert main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2", "--rate",
                 "none", "--max-retries", "1", "--outage-wait", "1s"]) == 0  # fmt: skip
    port = int(emu.base_url.rsplit(":", 1)[1])
    emu.stop()
    make_emulator(preset="demo", port=port, faults="first:ok*4|503*9000")
    done = run_array_task(out / "harvest.sbatch", 0, 2)
    log = out / "logs" / "harvest-4242_0.log"
    assert done.returncode == 75, log.read_text()
    assert "stopped: the server stayed down" in log.read_text()
    _queue_empty(tmp_path, monkeypatch)
    lines, _last = _task_lines(out, capsys)
    assert lines[1].startswith("  task 0: "), lines
    assert lines[1].endswith(f", stopped: the server was down, as its log says (log: {log})"), lines
    capsys.readouterr()
    assert main(["status", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["array_tasks"][0]["ended"] == "server_down"

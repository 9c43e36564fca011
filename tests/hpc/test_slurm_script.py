"""The sbatch array script: readable, correct shard/rate arithmetic, honest submission."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hpc_helpers import write_tools

from harvester.errors import HarvesterError, UsageError
from harvester.slurm import (
    SlurmJob,
    follow_text,
    format_rate,
    render_index_script,
    render_script,
    submit,
    task_command,
    write_scripts,
)


def job(tmp_path: Path, **kw: object) -> SlurmJob:
    base: dict[str, object] = {
        "out_dir": tmp_path / "out dir",
        "tasks": 8,
        "harvest_args": ["/cfg/a b.toml", "--out", str(tmp_path / "out dir"), "--screen", "2302"],
        "rate": 10.0,
        "python": "/venv/bin/python",
    }
    base.update(kw)
    return SlurmJob(**base)  # type: ignore[arg-type]


def sbatch_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def test_array_directive_limits_parallel_tasks(tmp_path: Path) -> None:
    """--tasks 8 --max-parallel 3 gives --array=0-7%3 and per-task logs in DIR/logs."""
    script = render_script(job(tmp_path, max_parallel=3))
    lines = sbatch_lines(script)
    assert "#SBATCH --array=0-7%3" in lines
    assert f'#SBATCH --output="{tmp_path / "out dir" / "logs"}/harvest-%A_%a.log"' in lines
    assert script.startswith("#!/bin/bash\n")


def test_rate_is_split_across_tasks_running_at_once(tmp_path: Path) -> None:
    """A total rate of 10/s over at most 4 running tasks gives each task --rate 2.5."""
    j = job(tmp_path, max_parallel=4, concurrency=8)
    assert j.task_rate == 2.5
    cmd = task_command(j)
    assert cmd[cmd.index("--rate") + 1] == "2.5"
    assert cmd[cmd.index("--concurrency") + 1] == "2"
    assert "--rate 2.5" in render_script(j)


def test_parallel_defaults_to_all_tasks(tmp_path: Path) -> None:
    """Without --max-parallel every task may run at once, and the rate splits N ways."""
    j = job(tmp_path, tasks=3, rate=1.0)
    assert j.parallel == 3
    assert "#SBATCH --array=0-2%3" in sbatch_lines(render_script(j))
    assert format_rate(j.task_rate) == "0.333333"


def test_unlimited_rate_stays_unlimited(tmp_path: Path) -> None:
    """--rate none is passed to every task as --rate none."""
    cmd = task_command(job(tmp_path, rate=None))
    assert cmd[cmd.index("--rate") + 1] == "none"


def test_command_uses_this_interpreter_and_shard_from_slurm(tmp_path: Path) -> None:
    """The task runs `<python> -m harvester harvest ... --shard $K/$N` with quoted paths."""
    script = render_script(job(tmp_path))
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    assert exec_line.startswith("exec /venv/bin/python -m harvester harvest ")
    assert exec_line.endswith('--shard "$K/$N"')
    assert "'/cfg/a b.toml'" in exec_line
    assert 'K="${SLURM_ARRAY_TASK_ID:?' in script
    assert 'N="${SLURM_ARRAY_TASK_COUNT:-8}"' in script
    words = shlex.split(exec_line.replace('"$K/$N"', "K/N"))
    assert words[words.index("--screen") + 1] == "2302"


def test_optional_resources_appear_only_when_given(tmp_path: Path) -> None:
    """--partition/--time/--cpus/--mem become #SBATCH lines only when set."""
    bare = sbatch_lines(render_script(job(tmp_path)))
    assert not any(x in " ".join(bare) for x in ("--partition", "--time", "--cpus", "--mem"))
    full = sbatch_lines(
        render_script(job(tmp_path, partition="short", time_limit="1-02:00:00", cpus=2, mem="4G"))
    )
    for expected in ("--partition=short", "--time=1-02:00:00", "--cpus-per-task=2", "--mem=4G"):
        assert f"#SBATCH {expected}" in full


def test_index_job_gets_its_own_memory(tmp_path: Path) -> None:
    """The index job reads every shard's records, the tasks their own: --index-mem sizes it
    apart (and only it); without it the index job asks for nothing (the cluster's default)."""
    assert not any("--mem" in line for line in sbatch_lines(render_index_script(job(tmp_path))))
    sized = job(tmp_path, mem="1G", index_mem="6G")
    assert "#SBATCH --mem=6G" in sbatch_lines(render_index_script(sized))
    assert "#SBATCH --mem=1G" in sbatch_lines(render_script(sized))
    assert "#SBATCH --mem=6G" not in sbatch_lines(render_script(sized))


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"tasks": 0}, "--tasks"),
        ({"max_parallel": 0}, "--max-parallel"),
        ({"time_limit": "forever"}, "--time"),
        ({"mem": "lots"}, "--mem"),
        ({"index_mem": "6 GB"}, "--index-mem"),
        ({"partition": "a;rm -rf /"}, "--partition"),
        ({"rate": -1.0}, "rate"),
        ({"cpus": 0}, "--cpus"),
        ({"burst": 0}, "--burst"),
    ],
)
def test_bad_values_are_usage_errors(tmp_path: Path, kw: dict[str, object], needle: str) -> None:
    """Impossible or unsafe values are refused before any script is written."""
    with pytest.raises(UsageError, match=needle):
        job(tmp_path, **kw)


def test_script_is_valid_bash_and_refuses_to_run_outside_slurm(tmp_path: Path) -> None:
    """The written script parses with bash -n and, run by hand, says to use sbatch."""
    j = job(tmp_path)
    script, index = write_scripts(j)
    assert (tmp_path / "out dir" / "logs").is_dir()
    assert script.stat().st_mode & stat.S_IXUSR
    for path in (script, index):
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=30, env=env, check=False
    )
    assert proc.returncode != 0
    assert "submit this script with sbatch" in proc.stderr


def _fake_sbatch(bindir: Path, log: Path, answer: str = "4242", rc: int = 0) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    fake = bindir / "sbatch"
    fake.write_text(
        f'#!/bin/sh\necho "$@" >> {shlex.quote(str(log))}\n'
        f"[ {rc} = 0 ] || {{ echo 'sbatch: error: invalid partition' >&2; exit {rc}; }}\n"
        f"echo '{answer};cluster'\n"
    )
    fake.chmod(0o755)


def test_submit_runs_sbatch_parsable_then_the_index_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submit() calls sbatch --parsable on the array, then the index job afterany:<id>."""
    calls = tmp_path / "calls.txt"
    _fake_sbatch(tmp_path / "bin", calls)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    j = job(tmp_path)
    write_scripts(j)
    sub = submit(j)
    assert (sub.array_id, sub.index_id) == ("4242", "4242")
    lines = calls.read_text().splitlines()
    assert lines[0] == f"--parsable {j.script_path}"
    assert lines[1].startswith("--parsable --dependency=afterany:4242 ")
    text = follow_text(j, sub)
    assert "squeue -j 4242" in text and "harvester status" in text and "tail -F" in text


#: What the reader of :func:`_lines_of` puts once ``proc``'s output has ended.
_EOF = "\0 end of output"


def _printed_logs_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, j: SlurmJob) -> str:
    """The command of the ``logs:`` line ``--submit`` prints for ``j`` (its scripts written,
    a fake sbatch on PATH): what a user pastes into a shell."""
    _fake_sbatch(tmp_path / "bin", tmp_path / "calls.txt")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    write_scripts(j)
    said = follow_text(j, submit(j)).splitlines()
    return next(line for line in said if line.startswith("  logs:")).split(":", 1)[1]


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The lines ``proc`` prints, as a thread reads them (each wait on them bounded), then
    :data:`_EOF`."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(_EOF)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for(lines: queue.Queue[str], wanted: str) -> list[str]:
    """The lines read until ``wanted`` (failing after 30 s without it)."""
    seen: list[str] = []
    while wanted not in seen:
        try:
            seen.append(lines.get(timeout=30))
        except queue.Empty:
            pytest.fail(f"{wanted!r} never followed; read: {seen}")
    return seen


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_the_printed_logs_line_follows_a_task_that_starts_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: str
) -> None:
    """--submit's `logs:` line, pasted as printed into bash or sh (dash, where braces are
    not expanded, like tcsh), follows the log of a task that had not started when it was
    run (its file created later), in a folder with a space, a quote, a `$` and a
    non-ASCII letter: a glob (`harvest-ID_*.log`) named only the logs already there, and
    `{0..N-1}` left to sh named one file that never appears. tail's `cannot open` for a
    log not there yet is dropped, a log's own line like it is not; a line written in two
    pieces shows, whole, once its newline is written."""
    j = job(tmp_path, tasks=3, out_dir=tmp_path / "out dir 'é$HOME")
    command = _printed_logs_command(tmp_path, monkeypatch, j)
    own = "tail: cannot open 'x' for reading: No such file or directory"  # (a task's line)
    (j.log_dir / "harvest-4242_0.log").write_text(f"{own}\ntask 0 started\n")
    proc = subprocess.Popen(
        [shell, "-c", command.strip()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        encoding="utf-8", errors="replace", start_new_session=True,
    )  # fmt: skip
    lines = _lines_of(proc)
    try:
        seen = _wait_for(lines, "task 0 started")
        # A task's line written in two pieces (its newline last): grep, which must see a
        # line whole to filter it, passes it on whole as soon as its newline is written,
        # with nothing after it to push it through (--line-buffered).
        with (j.log_dir / "harvest-4242_0.log").open("a") as log:
            log.write("progress (1m00s): 10 images")
            log.flush()
            log.write(" found\n")
        seen += _wait_for(lines, "progress (1m00s): 10 images found")
        with (j.log_dir / "harvest-4242_2.log").open("a") as late:
            late.write("task 2 started late\n")
        seen += _wait_for(lines, "task 2 started late")
        # Named before its line: by tail's header, or by its own "has appeared" line where
        # it prints no header (GNU tail, by the order it noticed the file and wrote).
        # (the header names the path as it is; "has appeared" quotes it, $'\303\251' for é)
        named = [line for line in seen[:-1] if "/harvest-4242_2.log" in line]
        assert named, seen  # (tail's other lines stay, in their place)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    # Every line it printed, to its end: no "cannot open" of tail's (task 1's log never
    # came, task 2's came late; tail said one for each before), task 0's own line kept.
    seen += _wait_for(lines, _EOF)
    assert [line for line in seen if "cannot open" in line] == [own], seen
    assert f"==> {j.log_dir}/harvest-4242_0.log <==" in seen, seen
    assert proc.stdout is not None
    proc.stdout.close()


def test_the_logs_line_of_an_array_filters_only_tails_missing_file_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logs line of an array of several tasks, as printed: bash expands the braces;
    tail's lines, in the C locale, pass through a grep that drops its `cannot open ... No
    such file or directory` line and nothing else; the folder is bash's $0."""
    j = job(tmp_path, tasks=3)
    command = _printed_logs_command(tmp_path, monkeypatch, j)
    assert shlex.split(command) == [
        "bash",
        "-c",
        'export LC_ALL=C; tail -F "$0"/harvest-4242_{0..2}.log 2>&1 | grep -av --line-buffered '
        '"^tail: cannot open .*/harvest-4242_[0-9]*\\.log. for reading: No such file or '
        'directory$"',
        str(j.log_dir),
    ], command


def test_the_logs_line_of_one_task_names_its_one_log_in_any_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An array of one task: its logs line is a plain `tail -F` of that task's log (its
    folder quoted), no braces and no bash for any shell to expand."""
    j = job(tmp_path, tasks=1)
    command = _printed_logs_command(tmp_path, monkeypatch, j)
    assert shlex.split(command) == ["tail", "-F", f"{j.log_dir}/harvest-4242_0.log"], command


def test_missing_sbatch_is_a_clear_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without sbatch on PATH, --submit fails with a hint to submit the script later."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    j = job(tmp_path)
    write_scripts(j)
    with pytest.raises(UsageError, match="sbatch not found") as err:
        submit(j)
    assert err.value.hint is not None and str(j.script_path) in err.value.hint


def test_sbatch_failure_reports_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing sbatch surfaces its own error line, not a traceback."""
    _fake_sbatch(tmp_path / "bin", tmp_path / "calls.txt", rc=1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    j = job(tmp_path)
    write_scripts(j)
    with pytest.raises(HarvesterError, match="invalid partition") as err:
        submit(j)
    # the scripts stay, and the hint is the command that submits both jobs once fixed
    submit_line = (
        f"submit with: jid=$(sbatch --parsable {shlex.quote(str(j.script_path))}) && sbatch "
        f"--dependency=afterany:${{jid%%;*}} {shlex.quote(str(j.out_dir / 'index.sbatch'))}"
    )
    assert err.value.hint == (
        "the scripts are written; fix the cause (edit the #SBATCH lines if need be), then "
        + submit_line
    )
    assert j.script_path.is_file()

    # Given a --partition SLURM does not know (renamed or retired since the last array,
    # refused in SLURM 22.05's words), the hint names it, where to find the cluster's, and
    # the two lines that hold it.
    write_tools(
        tmp_path / "bin",
        (
            (
                "sbatch",
                "echo 'sbatch: error: invalid partition specified: gone' >&2\n"
                "echo 'sbatch: error: Batch job submission failed: Invalid partition name "
                "specified' >&2; exit 1",
            ),
        ),
    )
    j = job(tmp_path, partition="gone")
    write_scripts(j)
    with pytest.raises(HarvesterError, match="Invalid partition name specified") as err:
        submit(j)
    scripts = [shlex.quote(str(j.out_dir / name)) for name in ("harvest.sbatch", "index.sbatch")]
    assert err.value.hint == (
        "the scripts are written; SLURM knows no partition gone (sinfo -s lists this "
        f"cluster's): edit #SBATCH --partition in {scripts[0]} and {scripts[1]}, then "
        f"{submit_line}; or run harvester slurm again with the right --partition"
    )


def test_an_index_job_refused_after_the_array_names_the_queued_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The array is queued; only the index job was refused: the hint submits that alone (the
    array again would harvest twice at once)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "sbatch"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--dependency*) echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2;'
        " exit 1;; esac\necho '5151;cluster'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    j = job(tmp_path)
    write_scripts(j)
    with pytest.raises(HarvesterError, match="QOSMaxSubmitJobPerUserLimit") as err:
        submit(j)
    assert err.value.hint == (
        "the array is queued as job 5151; index.csv is rebuilt by the index job: "
        f"sbatch --dependency=afterany:5151 {shlex.quote(str(j.out_dir / 'index.sbatch'))}"
    )


def test_default_python_is_the_running_interpreter(tmp_path: Path) -> None:
    """Without an explicit python the script uses sys.executable (works inside a venv)."""
    j = SlurmJob(out_dir=tmp_path, tasks=2, harvest_args=[])
    assert task_command(j)[0] == sys.executable


@pytest.mark.parametrize(
    ("task", "count", "shard"),
    [("2", "8", "2/8"), ("0", "8", "0/8"), ("5", "2", "5/8")],
)
def test_task_runs_its_shard_even_in_a_partial_resubmission(
    tmp_path: Path, task: str, count: str, shard: str
) -> None:
    """Task K runs --shard K/N; resubmitting only some tasks keeps the written N."""
    record = tmp_path / "argv.txt"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$@" > {shlex.quote(str(record))}\n')
    fake.chmod(0o755)
    j = job(tmp_path, python=str(fake))
    script, _ = write_scripts(j)
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_COUNT": count}
    subprocess.run(["bash", str(script)], env=env, check=True, timeout=30, capture_output=True)
    argv = record.read_text().split()
    assert argv[:3] == ["-m", "harvester", "harvest"]
    assert argv[argv.index("--shard") + 1] == shard
    assert argv[argv.index("--rate") + 1] == "1.25"


def test_task_outside_the_split_refuses_to_run(tmp_path: Path) -> None:
    """An array index past the written shard count exits 2 instead of harvesting nothing."""
    script, _ = write_scripts(job(tmp_path, python="/bin/false"))
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "9"}
    proc = subprocess.run(
        ["bash", str(script)], env=env, timeout=30, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "outside shards 0..7" in proc.stderr


def _slurm_output_path(value: str, job_id: str, task: str) -> str:
    """An ``#SBATCH --output`` value as SLURM opens it: quotes dropped, its filename
    pattern expanded as slurmd's ``expand_stdio_fields`` does (``%%`` a literal ``%``;
    ``%A``/``%j`` the job id, ``%a`` the task, ``%n``/``%t`` 0, ``%x`` the job name; a
    ``%`` before any other character is kept)."""
    text = value[1:-1] if value.startswith('"') and value.endswith('"') else value
    table = {"%": "%", "A": job_id, "j": job_id, "a": task, "n": "0", "t": "0", "x": "harvester"}
    out, i = [], 0
    while i < len(text):
        if text[i] == "%" and i + 1 < len(text) and text[i + 1] in table:
            out.append(table[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_log_paths_keep_a_percent_sign_of_the_folder(tmp_path: Path) -> None:
    """A folder named for what it holds (``top 10%nuclei``): SLURM reads ``%n`` in --output
    as the node id, so the folder's own ``%`` is written ``%%``; the logs land in DIR/logs."""
    out = tmp_path / "top 10%nuclei"
    j = job(tmp_path, out_dir=out, harvest_args=["--out", str(out), "--screen", "2302"])
    (array,) = [x for x in sbatch_lines(render_script(j)) if x.startswith("#SBATCH --output=")]
    (index,) = [
        x for x in sbatch_lines(render_index_script(j)) if x.startswith("#SBATCH --output=")
    ]
    value = array.removeprefix("#SBATCH --output=")
    assert _slurm_output_path(value, "77", "3") == str(out / "logs" / "harvest-77_3.log")
    value = index.removeprefix("#SBATCH --output=")
    assert _slurm_output_path(value, "78", "") == str(out / "logs" / "index-78.log")

"""`harvester slurm` passes the per-task harvest flags on to every task of the array.

A user on a cluster sets --timeout, --min-speed, --max-retries, --burst, --no-labels ...
on `harvester slurm` as on `harvester harvest`: each task's command line in
DIR/harvest.sbatch carries them, `harvester harvest` accepts that command line, a bad
value is refused now (one line, exit 2, no script) rather than N times in the queue, and
a flag wins over the config file in the task exactly as in a harvest.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from harvester.cli import build_parser, main
from harvester.cli.harvest import overrides_from_args
from harvester.config import HarvestConfig, resolve
from harvester.emulator import EmulatorThread
from harvester.errors import PROBLEMS_LOGGER
from harvester.journal import run_config_of
from harvester.shard import in_shard
from harvester.slurm import SlurmJob
from harvester.store import foreign_entries

FLAGS = [
    "--timeout", "12", "--min-speed", "0", "--max-retries", "9", "--burst", "3",
    "--thumbnail-size", "128", "--window", "full", "--outage-wait", "2h", "--max-bytes", "20G",
    "--no-labels", "--quiet",
]  # fmt: skip

#: Config keys the flags above set, and the values a task must end up with.
EXPECTED = {
    "timeout": 12.0,
    "min_speed": 0.0,
    "max_retries": 9,
    "burst": 3,
    "thumbnail_size": 128,
    "window": "full",
    "outage_wait": 7200.0,
    "max_bytes": 20 << 30,
    "labels": False,
    "quiet": True,
}


def slurm(server: EmulatorThread, out: Path, *extra: str) -> int:
    """``harvester slurm`` of the demo screen on ``server``, which checks the screen there."""
    return main(["slurm", "--out", str(out), "--base-url", server.base_url, "--screen", "2302",
                 "--tasks", "4", *extra])  # fmt: skip


def task_words(out: Path, shard: str = "0/4") -> list[str]:
    """The harvest arguments of one task, as bash would pass them (after `-m harvester`)."""
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec ").replace('"$K/$N"', shard))
    assert words[1:4] == ["-m", "harvester", "harvest"]
    return words[3:]


def task_config(out: Path) -> HarvestConfig:
    """What `harvester harvest` makes of a task's command line: its parser, then its config."""
    args = build_parser().parse_args(task_words(out))
    return resolve(args.config, overrides_from_args(args))


def harvest_config(*argv: str) -> HarvestConfig:
    """What `harvester harvest` makes of the same flags given to it directly."""
    args = build_parser().parse_args(["harvest", *argv])
    return resolve(args.config, overrides_from_args(args))


def test_task_command_line_carries_the_flags(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Each flag appears on the task's command line as harvest spells it, with its value."""
    out = tmp_path / "out"
    assert slurm(emulator, out, *FLAGS) == 0
    words = task_words(out)
    for flag, value in zip(FLAGS[0:14:2], FLAGS[1:14:2], strict=True):
        assert words[words.index(flag) + 1] == value, flag
    assert "--no-labels" in words and "--quiet" in words
    assert words[-2:] == ["--shard", "0/4"]


def test_task_command_line_is_accepted_by_harvest(emulator: EmulatorThread, tmp_path: Path) -> None:
    """harvest's own parser and validation accept the task line and get every value back."""
    out = tmp_path / "out"
    assert slurm(emulator, out, "--rate", "8", "--concurrency", "8", *FLAGS) == 0
    cfg = task_config(out)
    for key, value in EXPECTED.items():
        assert getattr(cfg, key) == value, key
    assert (cfg.shard, cfg.rate, cfg.concurrency) == ("0/4", 2.0, 2)  # totals still split
    assert cfg.screens == (2302,)


def test_a_task_runs_with_the_flags_against_the_emulator(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Running the written script as array task 0 of 2 harvests shard 0 with those settings."""
    out = tmp_path / "out dir"
    code = main(
        ["slurm", "--out", str(out), "--base-url", emulator.base_url, "--project", "51",
         "--artifacts", "thumbnail", "--rate", "none", "--tasks", "2", *FLAGS]
    )  # fmt: skip
    assert code == 0
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}
    proc = subprocess.run(
        ["bash", str(out / "harvest.sbatch")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    thumbs = sorted(int(p.name.split(".")[0]) for p in out.glob("images/*/*/*.thumbnail.jpg"))
    assert thumbs == [i for i in range(1884801, 1884809) if in_shard(i, 0, 2)]
    assert thumbs, "shard 0 of the 8 demo project images is empty: pick another shard"
    (saved,) = out.glob("runs/*/config.json")
    run_cfg = run_config_of(json.loads(saved.read_text()))
    for key, value in EXPECTED.items():
        assert run_cfg[key] == value, key
    assert run_cfg["shard"] == "0/2"


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        # harvest's own messages (its parsers, then HarvestConfig), not "unrecognized arguments"
        (["--timeout", "-1"], "error: --timeout: -1.0 must be a positive number"),
        (["--timeout", "nan"], "error: --timeout: nan must be a positive number"),
        (["--min-speed", "x"], "error: argument --min-speed: 'x' is not a number of bytes"),
        (["--min-speed", "inf"], "error: --min-speed: inf must be 0"),
        (["--window", "bogus"], "error: argument --window: invalid choice: 'bogus'"),
        (["--max-retries", "-1"], "error: --max-retries: -1 must be an integer >= 0"),
        (["--max-retries", "two"], "error: argument --max-retries: 'two' is not an integer"),
        (["--burst", "0"], "error: --burst: 0 must be an integer of at least 1"),
        (["--outage-wait", "5x"], "error: --outage-wait: '5x' is not a duration"),
        (["--max-bytes", "20X"], "error: --max-bytes: '20X' is not a size"),
        (["--thumbnail-size", "0"], "error: --thumbnail-size: 0 must be an integer of at least 1"),
        (["--no-labels", "--where", "Gene=PLK1"], "error: --where: selecting by annotation needs"),
    ],
)
def test_a_bad_value_is_one_line_and_no_script(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    refused_url: str,
    bad: list[str],
    needle: str,
) -> None:
    """Refused as harvest refuses it: exit 2, one `error:` line (and a hint), nothing written,
    before the server is asked anything (nothing answers at ``refused_url``: no note)."""
    out = tmp_path / "out"
    assert main(["slurm", "--out", str(out), "--base-url", refused_url, "--screen", "2302",
                 "--tasks", "4", *bad]) == 2  # fmt: skip
    said = capsys.readouterr()
    assert "not checked here" not in said.out
    err = said.err.splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(needle), err
    assert all(line.startswith(("error:", "hint:")) for line in err), err
    assert not (out / "harvest.sbatch").exists()


def test_flags_and_config_file_combine_as_for_harvest(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """The task reads the config file too: a flag wins, the file fills in the rest,
    exactly the configuration `harvester harvest CONFIG <same flags>` resolves to."""
    config = tmp_path / "study.toml"
    config.write_text(
        'screens = [2302]\ntimeout = 5.0\nmax_retries = 2\nwindow = "minmax"\n'
        "labels = false\nburst = 2\nthumbnail_size = 64\n"
    )
    out = tmp_path / "out"
    flags = ["--timeout", "12", "--burst", "4", "--base-url", emulator.base_url]
    assert main(["slurm", str(config), "--out", str(out), "--tasks", "4", *flags]) == 0
    words = task_words(out)
    assert words[1] == str(config.resolve())
    assert "--max-retries" not in words and "--window" not in words  # from the file, in the task
    task = task_config(out)
    direct = harvest_config(str(config), "--out", str(out), *flags)
    for key in (*EXPECTED, "screens"):
        assert getattr(task, key) == getattr(direct, key), key
    assert (task.timeout, task.burst, task.max_retries, task.window) == (12.0, 4, 2, "minmax")
    assert task.labels is False and task.thumbnail_size == 64


def test_a_bad_value_in_the_config_file_writes_no_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's values are checked now as well, not by each task in the queue."""
    config = tmp_path / "study.toml"
    config.write_text("screens = [2302]\nmin_speed = -5\n")
    out = tmp_path / "out"
    assert main(["slurm", str(config), "--out", str(out), "--tasks", "4"]) == 2
    assert "min_speed" in capsys.readouterr().err
    assert not (out / "harvest.sbatch").exists()


def test_without_the_flags_the_task_line_is_unchanged(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """No flag given, none added: the task takes harvest's defaults (or the file's)."""
    out = tmp_path / "out"
    assert slurm(emulator, out) == 0
    words = task_words(out)
    for flag, _value in zip(FLAGS[0:12:2], FLAGS[1:12:2], strict=True):
        assert flag not in words
    assert "--no-labels" not in words and "--quiet" not in words


def test_a_small_budget_without_a_unit_is_warned_of_for_each_task(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--max-bytes 20`` is each task's 20 bytes: one warning says so (most likely 20G
    meant), the script is written as given; ``20G`` says nothing."""
    out = tmp_path / "out"
    assert slurm(emulator, out, "--max-bytes", "20") == 0
    said = [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]
    assert said == [
        "--max-bytes 20 is 20 bytes (a size without a unit is bytes), less than a thumbnail: "
        "each task stops after its first files; for 20 GiB, give --max-bytes 20G"
    ]
    assert task_words(out)[task_words(out).index("--max-bytes") + 1] == "20"
    caplog.clear()
    assert slurm(emulator, tmp_path / "other", "--max-bytes", "20G") == 0
    assert [r for r in caplog.records if r.name == PROBLEMS_LOGGER] == []


def test_an_array_into_a_folder_of_other_files_says_so_and_its_tasks_do_not(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``harvester slurm --out DIR`` into a folder holding the user's files warns once, as
    a harvest does; the folder it prepared (its script, no harvest.json yet) counts as the
    array's harvest, so no task warns again as it starts there."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert slurm(emulator, out) == 0
    said = [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]
    assert said == [
        f"--out {out} is no harvest folder (no harvest.json) but holds 1 entry: harvester's "
        "files and folders (harvest.json, journals/, images/, study/, index.csv, ...) go in "
        f"among them; for a folder of its own, give --out {out / 'harvest'}"
    ]
    assert foreign_entries(out) == 0


def test_harvest_of_a_prepared_folder_names_the_array_and_its_submit_line(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``harvest --out DIR`` of a folder ``harvester slurm`` prepared (no task started) says
    it holds that array and the line that submits it, as status says them (it said "holds
    no harvest to resume"); exit 2, the folder as it was."""
    out = tmp_path / "out"
    assert slurm(emulator, out) == 0
    capsys.readouterr()
    before = sorted(p.name for p in out.iterdir())
    assert main(["harvest", "--out", str(out)]) == 2
    script, index = out / "harvest.sbatch", out / "index.sbatch"
    assert capsys.readouterr().err.splitlines() == [
        "error: nothing to harvest",
        f"hint: {out} holds the job array {script} (4 tasks), written by harvester slurm, and "
        f"no task has started yet: if it is not submitted yet, submit it: jid=$(sbatch "
        f"--parsable {script}) && sbatch --dependency=afterany:${{jid%%;*}} {index} "
        f"(harvester status {out} says whether it is queued)",
    ]
    assert sorted(p.name for p in out.iterdir()) == before
    # an array of a plan in another folder: that plan's harvest here is named too
    plan_dir, other = tmp_path / "p", tmp_path / "o"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--rate", "none",
                 "--out", str(plan_dir), "-q"]) == 0  # fmt: skip
    assert main(["slurm", "--from-plan", str(plan_dir), "--out", str(other), "--tasks", "2"]) == 0
    capsys.readouterr()
    assert main(["harvest", "--out", str(other)]) == 2
    hint = capsys.readouterr().err.splitlines()[1]
    assert hint.endswith(
        f"is queued); or harvest its plan here: harvester harvest --from-plan {plan_dir} "
        f"--out {other}"
    )


def test_a_refused_array_into_a_folder_of_other_files_says_no_warning(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``harvester slurm`` refused for an unknown screen gives no "files go in among them"
    warning and leaves the user's folder as it was."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = main(["slurm", "--out", str(out), "--base-url", emulator.base_url,
                 "--screen", "999999", "--tasks", "4"])  # fmt: skip
    assert code == 2
    assert [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER] == []
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_ids_file_the_tasks_cannot_read_later_is_named_as_a_shell_reads_it(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pipe given as ``--ids-from`` (the tasks read it later) is refused naming it as a
    shell reads it back: Python's repr put a name with a quote in double quotes, where a
    shell expands its ``$HOME``."""
    fifo = tmp_path / "it's $HOME"
    os.mkfifo(fifo)
    code = main(["slurm", "--out", str(tmp_path / "out"), "--base-url", emulator.base_url,
                 "--ids-from", str(fifo), "--tasks", "2"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: --ids-from '{tmp_path}/it'\"'\"'s $HOME': the tasks read it later, so it "
        "must be a regular file"
    )
    assert not (tmp_path / "out" / "harvest.sbatch").exists()


def test_burst_is_per_task_and_the_script_says_what_that_allows(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A burst above a task's share of the rate lets the array exceed the total in a
    second: the command and the script say by how much; within the share, nothing is said."""
    out = tmp_path / "out"
    assert slurm(emulator, out, "--rate", "10", "--burst", "3") == 0  # 2.5/s per task, burst 3 each
    note = "4 tasks at once may start up to 12 requests in one second"
    assert note in capsys.readouterr().out
    assert note in (out / "harvest.sbatch").read_text()
    assert slurm(emulator, out, "--rate", "10", "--burst", "2") == 0
    assert "may start up to" not in capsys.readouterr().out
    assert "may start up to" not in (out / "harvest.sbatch").read_text()
    assert SlurmJob(out_dir=out, tasks=4, harvest_args=[], rate=None, burst=9).burst_note is None


def test_plan_takes_the_request_flags_and_checks_them(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester plan` walks the server: it takes --timeout/--max-retries/--burst/--min-speed
    (refusing a bad one before any request, no plan written) like harvest."""
    out = tmp_path / "out"
    base = ["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out)]
    assert main([*base, "--timeout", "-1"]) == 2
    assert "timeout" in capsys.readouterr().err
    assert not (out / "plan").exists()
    good = ["--timeout", "12", "--max-retries", "9", "--burst", "3", "--min-speed", "0"]
    assert main([*base, *good, "--quiet"]) == 0
    assert len((out / "plan" / "images.jsonl").read_text().splitlines()) == 8


@pytest.mark.parametrize(
    "url",
    [
        "http://bob:PASSW0RD@127.0.0.1:9/",
        "http://SECRET@127.0.0.1:9/",  # a user alone: a token, sent as Basic auth
        "http://127.0.0.1:9/?bsession=SECRET",
        "http://127.0.0.1:9/?sid=SECRET",  # any query: withheld as a credential
    ],
)
def test_credentials_in_base_url_never_reach_the_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """harvest.sbatch is a plain file (and sbatch keeps a copy): a password, a user alone (a
    token) or a session key in --base-url is refused with a hint to use the config file, and
    nothing is written."""
    out = tmp_path / "out"
    assert main(["slurm", "--out", str(out), "--base-url", url, "--screen", "2302",
                 "--tasks", "4"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "PASSW0RD" not in err and "SECRET" not in err
    assert err.splitlines()[0].startswith("error: --base-url holds a user or password, or a query")
    assert "config file" in err.splitlines()[1]
    assert not (out / "harvest.sbatch").exists()


def test_credentials_in_the_config_file_stay_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refused_url: str
) -> None:
    """base_url with a session key in the config file: the script names the file, and the
    key is nowhere in it, nor in the note saying the server could not be reached."""
    config = tmp_path / "private.toml"
    config.write_text(f'base_url = "{refused_url}/?bsession=SECRET"\n')
    out = tmp_path / "out"
    assert main(["slurm", str(config), "--out", str(out), "--screen", "2302", "--tasks", "2"]) == 0
    said = capsys.readouterr()
    assert f"note: targets not checked here (cannot reach {refused_url}/" in said.out
    assert "SECRET" not in said.out + said.err
    script = (out / "harvest.sbatch").read_text()
    assert "SECRET" not in script
    assert str(config.resolve()) in script


@pytest.mark.parametrize(
    ("folder", "bad", "said"),
    [
        ('q "x"', [], [
            "error: output folder '{out}' contains a double quote, which the script's "
            "#SBATCH --output line cannot hold",
            "hint: choose another --out",
        ]),
        ("back\\slash", [], [
            "error: output folder {out} contains a backslash, which turns off SLURM's "
            "filename patterns (%A_%a) in the script's #SBATCH --output line: every task "
            "would log into one file",
            "hint: use a folder whose path holds no backslash (rename or move it)",
        ]),
        ("out", ["--job-name", "my job"], [
            "error: invalid --job-name 'my job'",
            "hint: letters, digits and _ . + - only, e.g. --job-name my_study",
        ]),
        ("out", ["--partition", "a;b"], [
            "error: invalid --partition 'a;b'",
            "hint: a partition name as sinfo lists it: letters, digits and _ . + - only",
        ]),
    ],
)  # fmt: skip
def test_script_values_refused_with_what_to_give(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    refused_url: str,
    folder: str,
    bad: list[str],
    said: list[str],
) -> None:
    """Values an #SBATCH line cannot hold get a hint, and no folder is left behind: a
    double quote in --out was refused only after DIR/logs was made, naming the log file
    as "output folder"; a job name with a space said "invalid job name" and no more."""
    out = tmp_path / folder
    assert main(["slurm", "--out", str(out), "--base-url", refused_url, "--screen", "2302",
                 "--tasks", "2", "--no-check", *bad]) == 2  # fmt: skip
    said = [line.format(out=shlex.quote(str(out)) if "\\" in folder else out) for line in said]
    assert capsys.readouterr().err.splitlines() == said
    assert not out.exists()


def test_no_targets_is_refused_first_with_what_to_give(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester slurm --out DIR --tasks N` on a harvested folder printed the folder's
    server and kinds as if a script would follow, then an error with no hint; now the hint
    names the targets (and selection) of the folder's newest run as a command, a folder
    holding a plan gets the command that harvests it, and a new folder what to give."""
    fresh = tmp_path / "new"
    assert main(["slurm", "--out", str(fresh), "--tasks", "2"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: nothing to harvest: harvester slurm needs the targets its tasks harvest",
        "hint: give --screen, --project, --plate, --dataset, --image or --ids-from, a config "
        "file that lists them, or --from-plan DIR (a plan made by harvester plan)",
    ]
    assert not fresh.exists()

    out = tmp_path / "study"
    assert main(["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
                 "--where", "Gene Symbol~a", "--seed", "3"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--tasks", "2"]) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.splitlines() == [
        "error: nothing to harvest: harvester slurm needs the targets its tasks harvest",
        "hint: give the targets again, e.g. those of the folder's newest run: harvester slurm "
        f"--out {out} --plate 7375 --where 'Gene Symbol~a' --seed 3 --tasks N",
    ]
    assert not (out / "harvest.sbatch").exists()

    assert main(["plan", "--out", str(out), "--plate", "7375", "-q"]) == 0
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--tasks", "2"]) == 2
    hint = capsys.readouterr().err.splitlines()[1]
    q = shlex.quote(str(out))
    assert hint == f"hint: harvest its plan: harvester slurm --out {q} --from-plan {q} --tasks N"


def test_no_targets_on_a_folder_with_an_array_says_how_to_submit_it_again(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder holding harvest.sbatch (an array that failed or ran out of time): the hint
    resubmits that script with its index job, and names the command for a new one; the
    script is left as it was."""
    out = tmp_path / "study"
    assert main(["slurm", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
                 "--tasks", "2", "--no-check", "-q"]) == 0  # fmt: skip
    script = (out / "harvest.sbatch").read_bytes()
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--tasks", "4"]) == 2
    error, hint = capsys.readouterr().err.splitlines()
    assert error == "error: nothing to harvest: harvester slurm needs the targets its tasks harvest"
    assert hint.startswith(
        f"hint: to run {out / 'harvest.sbatch'} again (finished work is skipped): "
        f"jid=$(sbatch --parsable {out / 'harvest.sbatch'}) && "
        f"sbatch --dependency=afterany:${{jid%%;*}} {out / 'index.sbatch'}"
    )
    assert (out / "harvest.sbatch").read_bytes() == script

    assert main(["plan", "--base-url", emulator.base_url, "--out", str(out), "--plate", "7375",
                 "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["slurm", "--out", str(out), "--tasks", "4"]) == 2
    hint = capsys.readouterr().err.splitlines()[1]
    assert hint.endswith(
        f"; for a new script, harvest its plan: harvester slurm --out {out} --from-plan {out} "
        "--tasks N"
    )

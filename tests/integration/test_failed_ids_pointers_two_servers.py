"""Where a message points at DIR's failed image ids in a folder of two servers.

`harvester status DIR --failed-ids` refuses a folder whose failed images are of two
servers (one list would ask one server for the other's ids). The places that pointed at it
(status's failures list, the harvest summary's "... and N more failures", the index's note
on a plan's refused images) said that plain command, which, pasted, met that refusal. They
now name each server's `--failed-ids --base-url URL`; a folder of one server keeps the plain
command. Each command runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py;
the job array's task: its script run by bash) against emulators over real sockets (demo:
plate 7375, 8 images; fields: plate 3001, 36 images).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

THUMBNAILS_FAIL = "500:100%,only:/webgateway/render_thumbnail/"


def failing_harvest(emu: EmulatorThread, out: Path, *target: str) -> str:
    """A thumbnail harvest of ``target`` into DIR whose every thumbnail fails; its stderr."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *target, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    return proc.stderr


def pointed(text: str, marker: str) -> str:
    """The one line of ``text`` holding ``marker``."""
    (line,) = [x for x in text.splitlines() if marker in x]
    return line


def each_servers(out: Path, *urls: str) -> str:
    """The words for the failed ids of ``urls``' servers, one server's at a time."""
    return ", one server's at a time: " + " and ".join(
        f"harvester status {out} --failed-ids --base-url {url}" for url in urls
    )


def test_status_and_the_harvest_summary_name_each_servers_failed_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """36 failures of fields alone: the summary and status say the plain `--failed-ids`;
    then a demo screen's: both say each server's `--failed-ids --base-url`, and each, pasted,
    lists that server's ids (exit 0), together every failed id."""
    demo = make_emulator(preset="demo", faults=THUMBNAILS_FAIL)
    fields = make_emulator(preset="fields", faults=THUMBNAILS_FAIL, seed=7)
    out = tmp_path / "d"
    plain = f": harvester status {out} --failed-ids)"
    first = failing_harvest(fields, out, "--plate", "3001")
    assert pointed(first, "more failures (all:").endswith(plain), first
    assert pointed(cli("status", str(out)).stdout, "failures (first").endswith(plain + ":")

    second = failing_harvest(demo, out, "--screen", "2302")
    each = each_servers(out, demo.base_url, fields.base_url)
    assert pointed(second, "more failures (all:").endswith(each + ")"), second
    status = cli("status", str(out))
    assert pointed(status.stdout, "failures (first").endswith(each + "):"), status.stdout
    listed = []
    for command in each.split(": ", 1)[1].split(" and "):
        ids = cli(*shlex.split(command)[1:])
        assert ids.returncode == 0 and ids.stdout.split(), ids.stderr
        listed += ids.stdout.split()
    every = json.loads(cli("status", str(out), "--json").stdout)["failed_ids"]
    assert sorted(map(int, listed)) == every and len(every) > 36, listed


def test_a_shard_runs_summary_names_the_plain_failed_ids_whose_refusal_names_each(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """In a folder of two servers' failures, a shard's run (a job-array task) with over 20
    failures names the plain `--failed-ids` (it reads no run's settings at its end); that
    command, pasted, is refused with each server's pipe in its hint."""
    demo = make_emulator(preset="demo", faults=THUMBNAILS_FAIL)
    fields = make_emulator(preset="fields", faults=THUMBNAILS_FAIL, seed=7)
    out = tmp_path / "d"
    failing_harvest(fields, out, "--plate", "3001")
    shard = failing_harvest(demo, out, "--screen", "2302", "--shard", "1/2")
    plain = f": harvester status {out} --failed-ids)"
    assert pointed(shard, "more failures (all:").endswith(plain), shard
    pasted = cli("status", str(out), "--failed-ids")
    assert pasted.returncode == 2 and not pasted.stdout, pasted.stdout
    assert f"--failed-ids --base-url {demo.base_url}" in pasted.stderr, pasted.stderr


def test_the_index_note_on_refused_images_names_each_servers_failed_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plan's id the demo server refuses (404), run as a job array, then an id the fields
    server refuses into the same folder: `harvester index`'s note on the plan's missing
    image names each server's `--failed-ids --base-url`, each pasted lists its id."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    plan, out = tmp_path / "plan", tmp_path / "run"
    ids = tmp_path / "ids.txt"
    ids.write_text("9762885\n9762886\n99999999\n")
    assert cli("plan", "--base-url", demo.base_url, "--ids-from", str(ids), "--out",
               str(plan), "--artifacts", "thumbnail", "--quiet").returncode == 0  # fmt: skip
    made = cli("slurm", "--from-plan", str(plan), "--out", str(out), "--tasks", "1",
               "--rate", "none")  # fmt: skip
    assert made.returncode == 0, made.stderr
    task = subprocess.run(
        ["bash", str(out / "harvest.sbatch")],
        env={**cli_env(), "SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1",
             "SLURM_ARRAY_JOB_ID": "81"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert task.returncode == 1, task.stdout + task.stderr
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("99999998\n")
    failing_harvest(fields, out, "--ids-from", str(wrong))
    index = cli("index", str(out))
    assert index.returncode == 0, index.stderr
    note = pointed(index.stdout, "note: index.csv lists")
    assert "a resubmitted array would not add it; its id, one server's" in note, note
    each = each_servers(out, fields.base_url, demo.base_url)
    assert note.endswith(each), note
    listed = [
        cli(*shlex.split(command)[1:]).stdout.split()
        for command in each.split(": ", 1)[1].split(" and ")
    ]
    assert listed == [["99999998"], ["99999999"]], listed

"""``--ids-from DIR/index.csv`` of a folder harvested from two servers.

index.csv names no server, so every id of it was asked of the one ``--base-url`` server:
the other server's images answered 404, twenty in a row stopped the run, nothing was
fetched, and no line said why. Ids DIR has from another server only are now left out,
with one warning saying how many and the command for them. Each command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py; one reading ``/dev/fd/N``
as a process, given that descriptor) against two emulators over real sockets (demo: screen
2302, 80 images; fields: plate 3001, 36 images).
"""

from __future__ import annotations

import csv
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli

from harvester.cli import main
from harvester.emulator import EmulatorThread


def harvest(emu: EmulatorThread, out: Path, *args: str) -> tuple[int, str]:
    """A harvest of ``emu`` into ``out`` given ``args``: its exit code and stderr."""
    proc = cli("harvest", "--base-url", emu.base_url, "--out", str(out), "--rate", "none", *args)
    return proc.returncode, proc.stderr


def index_ids(out: Path) -> list[int]:
    """The image ids of DIR's index.csv, in its order."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return [int(row["image_id"]) for row in csv.DictReader(handle)]


def files_of(out: Path, suffix: str) -> set[int]:
    """The image ids of DIR with a file ending ``suffix`` (``.metadata.json``...)."""
    return {int(p.name.split(".")[0]) for p in (out / "images").rglob(f"*{suffix}")}


def two_servers_folder(
    make_emulator: Callable[..., EmulatorThread], out: Path
) -> tuple[EmulatorThread, EmulatorThread]:
    """DIR with demo's screen and fields' plate, thumbnails alone; (demo, fields)."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    for emu, target in ((fields, ("--plate", "3001")), (demo, ("--screen", "2302"))):
        code, err = harvest(emu, out, *target, "--artifacts", "thumbnail", "--no-labels", "-q")
        assert code == 0, err
    return demo, fields


def test_a_two_server_index_takes_the_asked_servers_rows_and_names_the_others(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Each server's run with --ids-from DIR/index.csv fetches its own images' metadata
    (exit 0), leaves the other's out with one warning naming their count and server, and
    the command it names fetches the rest: every row of index.csv ends with metadata (it
    names no id of demo's, whose metadata is done). Run again then, nothing is left for
    the other server: no warning."""
    out = tmp_path / "d"
    demo, fields = two_servers_folder(make_emulator, out)
    every = index_ids(out)
    assert len(every) == 80 + 36
    index = out / "index.csv"
    before = index.read_text(encoding="utf-8")

    code, err = harvest(demo, out, "--ids-from", str(index), "--artifacts", "metadata")
    assert code == 0, err
    (line,) = [x for x in err.splitlines() if "left out" in x]
    assert f"--ids-from {index}: left out 36 ids of {fields.base_url} (for them: " in line, err
    assert line.endswith(f"(asked of {demo.base_url} they are other images, or none)"), err
    assert len(files_of(out, ".metadata.json")) == 80
    assert "404" not in err, err

    command = line.split("(for them: ", 1)[1].split(")", 1)[0]
    assert command == (
        f"harvester harvest --out {out} --base-url {fields.base_url} --ids-from {index} "
        "--artifacts metadata"
    )
    pasted = cli(*shlex.split(command)[1:])
    # (demo's 80 ids are left out too, in silence: their metadata is done already)
    assert pasted.returncode == 0 and "left out" not in pasted.stderr, pasted.stderr
    assert "404" not in pasted.stderr, pasted.stderr
    assert files_of(out, ".metadata.json") == set(every)
    assert len(index_ids(out)) == len(every) and index.read_text(encoding="utf-8") != before

    # Both servers' runs done: the same command again (an hourly sync, say) leaves fields'
    # ids out in silence (it named them, with a command that had nothing left to do).
    code, err = harvest(demo, out, "--ids-from", str(index), "--artifacts", "metadata")
    assert code == 0 and "left out" not in err and "404" not in err, err


def plate_ids(out: Path, plate: str) -> list[int]:
    """The image ids of DIR's index.csv rows of ``plate``."""
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return [int(r["image_id"]) for r in csv.DictReader(handle) if r["plate_id"] == plate]


def test_a_piped_plain_list_of_both_servers_ids_is_trimmed_alike(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Plain ids piped in (--ids-from -), 3 of fields' and 3 of demo's, asked of demo:
    demo's 3 get metadata (exit 0), fields' 3 are named as left out, under -q too."""
    out = tmp_path / "d"
    demo, fields = two_servers_folder(make_emulator, out)
    theirs, mine = plate_ids(out, "3001")[:3], index_ids(out)[-3:]
    assert not set(mine) & set(plate_ids(out, "3001"))
    proc = cli(
        "harvest", "--base-url", demo.base_url, "--out", str(out), "--rate", "none",
        "--ids-from", "-", "--artifacts", "metadata", "-q",
        stdin="".join(f"{i}\n" for i in theirs + mine),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "left out" in x]
    assert f"--ids-from -: left out 3 ids of {fields.base_url}" in line, proc.stderr
    assert files_of(out, ".metadata.json") == set(mine)


def test_a_folder_of_one_server_asks_every_id_of_another(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of fields' plate alone, its ids asked of demo (a moved server, say): every
    id is asked as before (404s, exit 1), no id left out."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out = tmp_path / "one"
    code, err = harvest(fields, out, "--plate", "3001", "--artifacts", "thumbnail", "-q")
    assert code == 0, err
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in index_ids(out)[:3]), encoding="utf-8")
    code, err = harvest(demo, out, "--ids-from", str(listed), "--artifacts", "metadata")
    assert code == 1 and "left out" not in err, err
    assert err.count("HTTP 404") >= 3 and not files_of(out, ".metadata.json"), err


def test_a_plan_of_a_two_server_index_holds_the_asked_servers_images(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`harvester plan --ids-from DIR/index.csv` for demo plans demo's 80 images alone,
    saying the 36 of fields it left out (exit 0); harvested from the plan, all 80 get
    their metadata (exit 0), no 404."""
    out = tmp_path / "d"
    demo, fields = two_servers_folder(make_emulator, out)
    index = out / "index.csv"
    planned = cli(
        "plan", "--base-url", demo.base_url, "--out", str(out), "--rate", "none",
        "--ids-from", str(index), "--artifacts", "metadata",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    (line,) = [x for x in planned.stderr.splitlines() if "left out" in x]
    assert f"left out 36 ids of {fields.base_url}" in line, planned.stderr
    lines = (out / "plan" / "images.jsonl").read_text(encoding="utf-8").splitlines()
    assert len([x for x in lines if x.startswith('{"image_id":')]) == 80
    code, err = harvest(demo, out, "--from-plan", str(out))
    assert code == 0 and "404" not in err, err
    assert len(files_of(out, ".metadata.json")) == 80

    # That index.csv given to a plan (or harvest) of another folder: its journals do not
    # know the images, so every id is asked, and one line says whose ids they may be.
    fresh = tmp_path / "fresh"
    assert main(["plan", "--base-url", demo.base_url, "--out", str(fresh), "--rate", "none",
                 "--ids-from", str(index), "--artifacts", "metadata", "-q"]) == 0  # fmt: skip
    (note,) = [r.getMessage() for r in caplog.records if r.name == "harvester.problems"]
    assert note == (
        f"--ids-from {index}: {out} was harvested from 2 servers"
        f" ({demo.base_url}, {fields.base_url}) and its rows do not say whose each image is:"
        f" the ids of another server's images are asked of {demo.base_url} as its own (404s,"
        " or other images of those ids); keep the rows of that server's targets first (by"
        " their screen_id, plate_id, project_id or dataset_id)"
    )


def test_ids_through_a_pipe_name_file_in_the_command(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ids given as a pipe's descriptor (``--ids-from <(cmd)``: /dev/fd/N), 3 of fields'
    and 3 of demo's, asked of demo: demo's 3 get metadata (exit 0), and the command for
    fields' names ``--ids-from FILE`` with the note "FILE: the same ids again" (it named
    /dev/fd/N, gone once the run ended)."""
    out = tmp_path / "d"
    demo, fields = two_servers_folder(make_emulator, out)
    theirs, mine = plate_ids(out, "3001")[:3], index_ids(out)[-3:]
    read, write = os.pipe()
    with os.fdopen(write, "w") as sink:
        sink.write("".join(f"{i}\n" for i in theirs + mine))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", "harvest", "--base-url", demo.base_url,
             "--out", str(out), "--rate", "none", "--ids-from", f"/dev/fd/{read}",
             "--artifacts", "metadata", "-q"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=cli_env(),
            pass_fds=(read,), timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(read)
    assert proc.returncode == 0, proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if "left out" in x]
    assert f"left out 3 ids of {fields.base_url} (for them: harvester harvest " in line, line
    assert "--ids-from FILE --artifacts metadata  # FILE: the same ids again)" in line, line
    assert "--ids-from /dev/fd/" not in line.split("(for them: ", 1)[1], line
    assert files_of(out, ".metadata.json") == set(mine)


def test_status_names_the_other_servers_command_beside_the_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After demo's run of --ids-from DIR/index.csv (fields' 36 ids left out), status
    counts their metadata pending and its resume line, whose replay leaves them out again,
    names on an ``also:`` line the command that asks fields for them; pasted, it fetches
    them, and status then has nothing left to resume."""
    out = tmp_path / "d"
    demo, fields = two_servers_folder(make_emulator, out)
    index = out / "index.csv"
    code, err = harvest(demo, out, "--ids-from", str(index), "--artifacts", "metadata", "-q")
    assert code == 0, err
    status = cli("status", str(out))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    (pending,) = [line for line in lines if line.startswith("metadata ")]
    assert pending.split()[1:4] == ["80", "0", "36"], status.stdout
    start = lines.index(f"to resume: harvester harvest --out {out}")
    command = (
        f"harvester harvest --out {out} --base-url {fields.base_url} --ids-from {index} "
        "--artifacts metadata"
    )
    assert lines[start + 1] == (
        f"  also: {command}  # the 36 ids of {fields.base_url} that the resume leaves out of "
        f"--ids-from {index}"
    ), status.stdout
    pasted = cli(*shlex.split(command)[1:])
    assert pasted.returncode == 0, pasted.stderr
    assert files_of(out, ".metadata.json") == set(index_ids(out))
    after = cli("status", str(out))
    assert "to resume" not in after.stdout and "also:" not in after.stdout, after.stdout

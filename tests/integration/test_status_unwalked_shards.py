"""`harvester status` of a split folder whose shards did not all walk.

Without a plan, a shard's images are known only once its own walk journals them. After
shards 0, 1 and 2 of 4 ran side by side by hand (or a job array whose last task never
started), status counted 0 pending and printed no resume line: the folder read as
complete while a quarter of the study was missing. It now names the shards no walk
covers, and the command that resumes them, and `harvester index` says its index.csv
lacks them; once they ran, neither says more.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from harvest_helpers import run_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.runlock import acquire_run_lock, release_run_lock
from harvester.status import unfinished_walks


def _shard(base_url: str, out: Path, shard: str) -> None:
    args = ["--project", "51", "--artifacts", "thumbnail", "--rate", "none", "-q"]
    assert (
        main(["harvest", "--base-url", base_url, "--out", str(out), *args, "--shard", shard]) == 0
    )


def test_status_names_a_shard_that_never_walked(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """status, index and a resume name the shard of a split that never walked, until it has run."""
    out = tmp_path / "my split"
    q = shlex.quote(str(out))
    for k in range(3):
        _shard(emulator.base_url, out, f"{k}/4")
    capsys.readouterr()

    assert main(["status", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "walk of --project 51: 1 shard of its split never walked (3/4): not run yet, or "
        "stopped before walking; their images are not counted above"
    ) in lines
    # The shard with work left, not "--shard K/4, for each K from 0 to 3": shards 0 to 2
    # are finished.
    resume = next(x for x in lines if x.startswith("to resume: "))
    # The line pastes into a shell as is: the reason after the command is a comment.
    command = resume.removeprefix("to resume: ")
    assert shlex.split(command, comments=True) == [
        "harvester", "harvest", "--out", str(out), "--shard", "3/4"
    ]  # fmt: skip

    assert main(["status", str(out), "--json"]) == 0
    walks = json.loads(capsys.readouterr().out)["walks"]
    assert walks == [
        {"targets": "--project 51", "shard": "3/4", "run": None, "finished": False,
         "started": False, "failures": []}
    ]  # fmt: skip

    # The index (the SLURM index job) is short of shard 3/4, and says so.
    assert main(["index", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "note: index.csv lacks the images of 1 walk that did not list everything (one still "
        "running or stopped, a shard not run yet, or a listing that failed: harvester status "
        f"{q} names them)"
    )

    # `harvest --out DIR` cannot replay a split: it names the shards' command.
    assert main(["harvest", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "was shard 2/4 of a split" in err
    assert err.splitlines()[-1] == f"hint: run: harvester harvest --out {q} --shard 3/4"

    # The resume the hint names, for the missing shard: the folder is complete.
    assert main(["harvest", "--out", str(out), "--shard", "3/4", "-q"]) == 0
    assert main(["index", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out / 'index.csv'} (8 images)\n"
    assert len((out / "index.csv").read_text().splitlines()) == 1 + 8
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "never walked" not in text and "to resume" not in text
    # ... and a resume of the finished split says so, exit 0, as for any finished folder
    # (it was refused, exit 2, however complete the folder).
    assert main(["harvest", "--out", str(out)]) == 0
    assert capsys.readouterr().err == f"nothing to resume: {out} has nothing failed or pending\n"


def test_a_finished_split_of_a_plan_has_nothing_to_resume(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A finished split of a plan in DIR has nothing to resume, and a note names the index
    its shards did not write (it said only "nothing to resume"); with the plan elsewhere,
    refused."""
    plan, out = tmp_path / "plan", tmp_path / "out"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(plan),
                 "--artifacts", "thumbnail", "-q"]) == 0  # fmt: skip
    for where in (plan, out):  # the plan in DIR; a plan elsewhere
        for k in range(2):
            assert main(["harvest", "--from-plan", str(plan), "--out", str(where), "--shard",
                         f"{k}/2", "--rate", "none", "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["harvest", "--out", str(plan)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"nothing to resume: {plan} has nothing failed or pending",
        "note: index.csv is missing (a shard does not write it): write it with "
        f"harvester index {plan}",
    ]
    # The command it names writes it; then the resume says nothing more.
    assert main(["index", str(plan)]) == 0
    assert len((plan / "index.csv").read_text().splitlines()) == 1 + 8
    capsys.readouterr()
    assert main(["harvest", "--out", str(plan)]) == 0
    assert capsys.readouterr().err == f"nothing to resume: {plan} has nothing failed or pending\n"
    # Nothing in DIR names the plan elsewhere: status cannot count its images, so the
    # split is not taken as done.
    assert main(["harvest", "--out", str(out)]) == 2
    assert "was shard 1/2 of a split" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("walked", "missing"),
    [
        (["0/4", "1/4", "2/4", "3/4"], []),
        (["0/4", "2/4"], ["1/4", "3/4"]),
        # 0/2 holds 0/4 and 2/4 (the split is hash % N); 1/4 and 3/4 make up 1/2.
        (["0/2", "1/4", "3/4"], []),
        (["0/2", "1/4"], ["3/4"]),
        (["0/2"], ["1/2"]),
        (["0/2", "0/3"], ["1/2", "1/3", "2/3"]),
        ([None], []),  # an unsharded walk lists every shard's images
        (["1/3", None], []),
    ],
)
def test_which_shards_count_as_walked(walked: list[str | None], missing: list[str]) -> None:
    """A split's shards missing from the walks are found, beside other splits and whole walks."""
    walks = {
        ("--screen 1", shard): {"finished": True, "failures": [], "t": i, "run": f"r{i}"}
        for i, shard in enumerate(walked)
    }
    state = cast(JournalState, SimpleNamespace(walks=walks))
    found = [w["shard"] for w in unfinished_walks(state) if w.get("started") is False]
    assert found == missing


def test_status_names_the_runs_holding_the_folder_and_waits_its_resume_for_them(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While shards run, "to resume: sbatch ..." read as if they had stopped: resubmitted
    then, the running shards' tasks are refused by their locks. Status names the runs
    holding DIR's run locks, and says the resume is for once they have ended."""
    out = tmp_path / "split"
    _shard(emulator.base_url, out, "0/2")
    held = acquire_run_lock(out, "1/2")  # shard 1/2 running, as far as DIR can tell
    try:
        capsys.readouterr()
        assert main(["status", str(out)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert f"running now: shard 1/2 (pid {os.getpid()} on {socket.gethostname()})" in lines
        assert lines[-1].startswith("to resume, once the running harvests have ended: ")
        assert main(["status", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["running"] == [
            f"shard 1/2 (pid {os.getpid()} on {socket.gethostname()})"
        ]
    finally:
        release_run_lock(held)
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "running now" not in text
    assert text.splitlines()[-1].startswith("to resume: ")


def test_a_finished_split_with_a_damaged_file_names_that_shard_alone(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every shard walked; `verify` finds one file missing: the resume names the shard that
    holds its image, and that command alone finishes the folder."""
    from harvester.shard import shard_of

    out = tmp_path / "done split"
    for k in range(4):
        _shard(emulator.base_url, out, f"{k}/4")
    lost = sorted(out.rglob("*.thumbnail.jpg"))[0]
    lost.unlink()
    shard = f"{shard_of(int(lost.name.split('.')[0]), 4)}/4"
    q = shlex.quote(str(out))
    assert main(["verify", str(out)]) == 1
    said = capsys.readouterr().out.splitlines()[-1]
    assert said.startswith(
        f"1 damaged or missing files: to refetch exactly those: harvester harvest --out {q} "
        f"--shard {shard}  # the newest run ("
    )
    assert main(["harvest", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"hint: run: harvester harvest --out {q} --shard {shard}"
    )
    assert main(["harvest", "--out", str(out), "--shard", shard, "-q"]) == 0
    assert lost.is_file()
    assert main(["status", str(out)]) == 0
    assert "to resume" not in capsys.readouterr().out


def test_two_shards_left_get_a_command_each(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two shards of a split left unwalked get one resume command each, on one line."""
    out = tmp_path / "half"
    for k in (0, 2):
        _shard(emulator.base_url, out, f"{k}/4")
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    resume = capsys.readouterr().out.splitlines()[-1]
    q = shlex.quote(str(out))
    assert resume.startswith(
        f"to resume: harvester harvest --out {q} --shard 1/4; harvester harvest --out {q} "
        "--shard 3/4  # the newest run ("
    )


def test_the_shards_a_resume_names() -> None:
    """The shards with work left: a walk's own, then each image's shard of the split,
    unless a coarser walk's shard named already holds it."""
    from harvester.shard import WorkLeft, shard_of

    ids = frozenset(range(1, 40))
    by_4 = sorted({shard_of(i, 4) for i in ids})
    assert WorkLeft((), ids).shards(4) == [f"{k}/4" for k in by_4]
    assert WorkLeft(("3/4",), frozenset()).shards(4) == ["3/4"]
    # 1/2 holds 1/4 and 3/4: an image there is not named again.
    odd = frozenset(i for i in ids if shard_of(i, 4) in (1, 3))
    assert WorkLeft(("1/2",), odd).shards(4) == ["1/2"]
    assert WorkLeft(("bad",), frozenset()).shards(4) == []


def test_another_sets_work_names_no_shard_of_a_finished_split(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """The shards "with work left" were those holding any image with work, another set's
    too: a plate split in two, finished, then another plate whose renders fail on a
    migrated server named both shards, to be run again for nothing."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "two sets"
    base = ["--base-url", emu.base_url, "--out", str(out), "--rate", "none", "-q"]
    for shard in ("0/2", "1/2"):
        assert main(["harvest", *base, "--plate", "7375", "--shard", shard, "--artifacts",
                     "thumbnail"]) == 0  # fmt: skip
    assert main(["harvest", *base, "--plate", "7372", "--artifacts", "thumbnail,render"]) == 1
    resume = json.loads(run_cli("status", str(out), "--json").stdout)["resume"]
    q = shlex.quote(str(out))
    assert "--shard 0/2;" not in resume, resume
    assert f"harvester harvest --out {q} --shard K/2, for each K from 0 to 1  # " in resume, resume


def test_verify_names_no_shard_of_a_split_for_another_sets_bad_file(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify's refetch command named the shard of a finished split holding the bad file's
    image id, though the file is another set's (plate 7372's image 9762950)."""
    out = tmp_path / "bad file"
    base = ["--base-url", emulator.base_url, "--out", str(out), "--rate", "none", "-q"]
    for shard in ("0/2", "1/2"):
        assert main(["harvest", *base, "--plate", "7375", "--shard", shard, "--artifacts",
                     "thumbnail"]) == 0  # fmt: skip
    assert main(["harvest", *base, "--plate", "7372", "--artifacts", "thumbnail"]) == 0
    (out / "images" / "009" / "762" / "9762950.thumbnail.jpg").write_bytes(b"not a jpeg")
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    line = "\n".join(capsys.readouterr().out.splitlines()[-2:])  # (its "  also:" line)
    q = shlex.quote(str(out))
    assert line.startswith("1 damaged or missing files: to refetch exactly those: "), line
    assert f"--out {q} --shard K/2, for each K from 0 to 1  # " in line, line

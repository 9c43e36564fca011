"""A harvest refused for its targets before any work is no target set that resumes replay.

``--image 1`` (a typo) into a folder that is a harvest already was refused (exit 2), but its
saved settings and journal stayed: ``harvester harvest --out DIR`` replayed that set on every
resume and was refused again, for ever, until the user deleted ``runs/`` by hand. Each
command runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py) against
the emulator over real sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import run_cli as cli

from harvester import config
from harvester.config import RecordedRun, target_set
from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec, parse_faults

PLATE = "7375"  # 8 images of screen 2302
PROJECT_IMAGE = 1884801  # an image of project 51's first dataset


def runs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "runs").iterdir())


def journals(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "journals").iterdir())


def thumbnails(out: Path) -> list[int]:
    return sorted(int(p.name.split(".")[0]) for p in (out / "images").rglob("*.thumbnail.jpg"))


def harvest(emu: EmulatorThread, out: Path, *targets: str) -> tuple[int, str]:
    """``harvester harvest --base-url URL TARGETS --out DIR --artifacts thumbnail -q``: its
    exit code and what it said."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *targets, "--out", str(out),
        "--artifacts", "thumbnail", "-q",
    )  # fmt: skip
    return proc.returncode, proc.stderr


def refused_run_of_old(out: Path, run: str, *, replay_of: str | None = None) -> list[str]:
    """The files 0.1.11 left for a run refused for ``--image 1`` (as the plate run's, with
    the image as its target): its saved settings and a journal of its "run" record alone.
    ``replay_of``: a resume's replay of it, refused too. Its command line, as saved."""
    (plate_run,) = [r for r in runs(out) if not r.startswith("2030")]
    saved = json.loads((out / "runs" / plate_run / "config.json").read_text())
    argv = ["harvest", "--base-url", saved["config"]["base_url"], "--image", "1"]
    argv += ["--out", str(out), "--artifacts", "thumbnail", "-q"]
    if replay_of is not None:
        argv = ["harvest", "--out", str(out), "-q"]
        saved["replay_of"] = replay_of
    saved.update(run=run, writer=f"host-1-{run}", argv=argv)
    saved["config"].update(plates=[], images=[1])
    (out / "runs" / run).mkdir()
    (out / "runs" / run / "config.json").write_text(json.dumps(saved))
    record = {"rec": "run", "run": run, "writer": f"host-1-{run}", "shard": None}
    record.update(started=1_900_000_000.0, argv=argv)
    (out / "journals" / f"host-1-{run}.jsonl").write_text(json.dumps(record) + "\n")
    return argv


def test_a_typo_refused_leaves_no_set_and_the_resume_goes_on(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The lead's three commands: the plate (0), --image 1 refused (2, one error line, no
    run or journal left), then `harvest --out DIR -q` resumes the plate alone: exit 0."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    before_runs, before_journals = runs(out), journals(out)

    code, err = harvest(emu, out, "--image", "1")
    assert code == 2
    assert err.splitlines()[0] == "error: image 1 not found on the server"
    assert runs(out) == before_runs and journals(out) == before_journals

    proc = cli("harvest", "--out", str(out), "-q")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert len(thumbnails(out)) == 8
    status = cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("(run ") == 1  # the plate's writer alone


def test_a_folder_an_older_version_left_a_refused_set_in_is_mended(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder holding a refused --image 1 run and a refused replay of it (0.1.11's files):
    the resume drops that set with one note naming the refused command, resumes the plate,
    exits 0; its files are gone, and the next resume says nothing of it."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    (plate_run,) = runs(out)
    typo = "20300101T000000Z-aaaaaa"
    refused_run_of_old(out, typo)
    refused_run_of_old(out, "20300101T000001Z-bbbbbb", replay_of=typo)
    broken = cli("harvest", "--out", str(out), "-q")
    assert broken.returncode == 0, broken.stderr  # (2 for ever, before)

    notes = broken.stderr.splitlines()
    assert len(notes) == 1, broken.stderr
    assert notes[0].startswith("dropped a target set refused before it did any work (image 1 ")
    assert f"harvester harvest --base-url {emu.base_url} --image 1 --out {out}" in notes[0]
    assert "error:" not in broken.stderr
    assert runs(out) == [plate_run] and len(journals(out)) == 1
    assert len(thumbnails(out)) == 8

    again = cli("harvest", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "dropped" not in again.stderr and "image 1" not in again.stderr


def test_a_refused_set_that_once_did_work_is_kept(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A set refused for "not found" whose run journaled a walk (it did work: its target was
    there once) is not dropped: the refusal is said (exit 2) and its files stay."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    typo = "20300101T000000Z-aaaaaa"
    refused_run_of_old(out, typo)
    journal = out / "journals" / f"host-1-{typo}.jsonl"
    walk = {"rec": "walk", "targets": "--image 1", "shard": None, "finished": False}
    journal.write_text(journal.read_text() + json.dumps(walk | {"failures": []}) + "\n")
    kept = sorted(runs(out))

    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 2
    assert "error: image 1 not found on the server" in proc.stderr
    assert "dropped" not in proc.stderr
    assert runs(out) == kept and journal.is_file()


def test_a_set_refused_for_another_reason_is_still_replayed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An image whose check fails with HTTP 500 (not "not found") is refused, but its set is
    kept: resumes replay it while the server fails (exit 2), and harvest it once it is well."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    emu.server.faults = FaultInjector(
        parse_faults(f"500:100%,only:/api/v0/m/images/{PROJECT_IMAGE}/")
    )
    code, err = harvest(emu, out, "--image", str(PROJECT_IMAGE), "--max-retries", "0")
    assert code == 2 and err.startswith("error: "), err
    assert "not found" not in err
    assert len(runs(out)) == 2  # the plate's and the image's

    still = cli("harvest", "--out", str(out), "-q")
    assert still.returncode == 2
    assert "dropped" not in still.stderr and still.stderr.count("error: ") == 1

    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again
    well = cli("harvest", "--out", str(out), "-q")
    assert (well.returncode, well.stderr) == (0, "")
    assert PROJECT_IMAGE in thumbnails(out) and len(thumbnails(out)) == 9


def test_a_lone_refused_set_left_by_an_older_version_is_dropped_too(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The refused set alone resumable (the plate's saved settings removed): the resume that
    replays it alone drops it with its note and exits 0, nothing lost on disk."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    (plate_run,) = runs(out)
    refused_run_of_old(out, "20300101T000000Z-aaaaaa")
    shutil.rmtree(out / "runs" / plate_run)

    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("dropped a target set refused before it did any work")
    assert proc.stderr.count("\n") == 1
    assert len(thumbnails(out)) == 8 and runs(out) == []


def test_the_dropped_set_note_withholds_a_query_value_an_older_version_saved(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An old refused run's saved command line spells out a base-URL query value (0.1.11
    withheld only secret-looking names, ``?sid=`` not): the note naming it shows no value."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    typo = "20300101T000000Z-aaaaaa"
    refused_run_of_old(out, typo)
    saved_at = out / "runs" / typo / "config.json"
    saved = json.loads(saved_at.read_text())
    saved["argv"][2] = f"{emu.base_url}?sid=s3cr3tvalue"
    saved_at.write_text(json.dumps(saved))

    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("dropped a target set refused before it did any work")
    assert "s3cr3tvalue" not in proc.stderr
    assert "?sid=" in proc.stderr  # (the command is still named, its value withheld)


def test_a_harvest_refused_while_a_resume_drops_a_set_is_told_what_holds_the_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a resume drops a refused set (holding DIR's run lock), another harvest started
    then is refused naming that, exit 75, not "already being harvested ... in a harvest of
    the whole set ... nothing needs doing" (no harvest ran)."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(emu, out, "--plate", PLATE) == (0, "")
    typo = "20300101T000000Z-aaaaaa"
    refused_run_of_old(out, typo)
    saved = json.loads((out / "runs" / typo / "config.json").read_text())
    meanwhile: list[tuple[int, str]] = []
    journals_of = config._journals_of

    def refused_while_held(out_dir: Path, of: set[str]) -> list[Path]:
        meanwhile.append(harvest(emu, out, "--plate", PLATE))
        return journals_of(out_dir, of)

    monkeypatch.setattr(config, "_journals_of", refused_while_held)
    dropped = config.drop_refused_set(out, target_set(RecordedRun(typo, saved["config"])))
    assert [run.run for run in dropped] == [typo]
    ((code, err),) = meanwhile
    running = f"pid {os.getpid()} on {socket.gethostname()}"
    assert code == 75, err
    assert err.splitlines() == [
        f"error: {out} is in use by another process: harvester harvest, dropping a target set"
        f" refused before it did any work ({running}), which holds it while it records its"
        " change",
        "hint: it resumes DIR's other target sets next: run this command again once that"
        f" resume has ended (harvester status {out} shows how it goes)",
    ], err

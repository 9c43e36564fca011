"""A harvest folder moved or copied (``mv``, ``cp -a``, ``rsync -a`` to a cluster) resumes
where it is now.

Runs save their paths absolute, so a folder whose ``--ids-from`` file or ``--from-plan``
plan lay inside it was resumed from the old place: after ``mv``, ``harvest --out NEW`` was
refused (exit 2, "no harvest plan in OLD" with a hint to plan there again; the ids file
"gone"), and ``status`` called the moved plan "not harvested yet". The SLURM script names
the folder by its absolute path too: submitted from the new place, its tasks harvested
into the old one (a new folder there, or the original of a copy). And a folder moved while
a run wrote to it made the run fail with "No such file or directory" and the hint to re-run
the same command, which began the old path afresh. The runs whose folder is moved under
them are processes of their own; every other command runs as ``harvester ARGS`` (in the test
process, tests/cli_in_process.py). All against an emulator over real sockets.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from gate_helpers import held_after, holding
from harvest_helpers import kind_files, reaped, start_cli, status_json, wait_for_files
from harvest_helpers import run_cli as cli
from test_interrupted_run_files import wait_for_done

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec

#: Plate 7375 of the demo preset: 8 images, ids 9762957-9762964.
PLATE = "7375"
IDS = ["9762957", "9762958", "9762959"]
#: Every thumbnail fails (500), nothing else: a first run that leaves work to resume.
BROKEN_THUMBNAILS = "500:100%,only:image:thumbnail"
#: The emulator's gate a run's answer waits at while the test moves its folder.
GATE = "in-flight"
#: Three thumbnails answered, the fourth held until the folder has moved.
FOURTH_HELD = held_after(3, GATE, "image:thumbnail")


def thumbnail_ids(out: Path) -> list[str]:
    return sorted(p.name.split(".")[0] for p in kind_files(out, "thumbnail"))


def resume_line(out: Path) -> str:
    """The ``to resume:`` line of ``harvester status DIR`` (exit 0)."""
    proc = cli("status", str(out))
    assert proc.returncode == 0, proc.stderr
    return next(line for line in proc.stdout.splitlines() if line.startswith("to resume"))


def test_ids_file_inside_a_moved_folder_is_read_where_the_folder_is_now(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--ids-from DIR/retry.txt`, then `mv DIR NEW`: status says `harvest --out NEW` and that
    resume reads NEW/retry.txt and fetches its images (exit 0), nothing at the old path."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS)
    old = tmp_path / "old"
    old.mkdir()
    (old / "retry.txt").write_text("\n".join(IDS) + "\n")
    first = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(old / "retry.txt"),
        "--out", str(old), "--artifacts", "thumbnail", "--max-retries", "0", "--rate", "none",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    new = tmp_path / "elsewhere" / "new"
    new.parent.mkdir()
    shutil.move(old, new)
    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again

    assert resume_line(new) == f"to resume: harvester harvest --out {new}"
    proc = cli("harvest", "--out", str(new))
    assert proc.returncode == 0, proc.stderr
    assert f"--ids-from {new / 'retry.txt'} " in proc.stderr.splitlines()[0]
    assert thumbnail_ids(new) == IDS
    assert not old.exists()


def test_plan_inside_a_moved_folder_is_harvested_where_the_folder_is_now(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvest --from-plan DIR` with failures, then `mv DIR NEW`: status resumes with
    `harvest --out NEW` alone (no "not harvested yet" second command), and that resume
    finishes the plan from NEW's own plan (exit 0, all 8 thumbnails)."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS)
    old = tmp_path / "old"
    planned = cli(
        "plan", "--base-url", emu.base_url, "--plate", PLATE, "--out", str(old),
        "--artifacts", "thumbnail,metadata", "-q",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    first = cli(
        "harvest", "--out", str(old), "--from-plan", str(old), "--max-retries", "0", "-q",
        "--rate", "none",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    new = tmp_path / "new"
    shutil.move(old, new)
    emu.server.faults = FaultInjector(FaultSpec())

    assert resume_line(new) == f"to resume: harvester harvest --out {new}"
    proc = cli("harvest", "--out", str(new))
    assert proc.returncode == 0, proc.stderr
    assert f"--from-plan {new} " in proc.stderr.splitlines()[0]
    assert len(thumbnail_ids(new)) == 8
    assert status_json(new)["totals"]["pending"] == 0
    assert not old.exists()


def test_a_copied_folder_resumes_from_its_own_ids_file_not_the_originals(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`cp -a DIR COPY` and the copy's retry.txt edited: a resume of COPY reads COPY's file
    (its ids fetched, not the original's), and the original folder gets nothing new."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS)
    original = tmp_path / "original"
    original.mkdir()
    (original / "retry.txt").write_text(IDS[0] + "\n")
    first = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(original / "retry.txt"),
        "--out", str(original), "--artifacts", "thumbnail", "--max-retries", "0",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    copy = tmp_path / "copy"
    shutil.copytree(original, copy, symlinks=True)
    (copy / "retry.txt").write_text(IDS[1] + "\n")
    journals = sorted(p.name for p in (original / "journals").iterdir())
    emu.server.faults = FaultInjector(FaultSpec())

    proc = cli("harvest", "--out", str(copy))
    # The copy's own first id is still failed (its set now reads another file): exit 0 is
    # not asked; what matters is which file was read.
    assert f"--ids-from {copy / 'retry.txt'} " in proc.stderr.splitlines()[0], proc.stderr
    assert thumbnail_ids(copy) == [IDS[1]]
    assert thumbnail_ids(original) == []
    assert sorted(p.name for p in (original / "journals").iterdir()) == journals


def test_status_says_not_to_submit_the_slurm_script_of_a_moved_folder(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvester slurm`, then `mv DIR NEW`: status notes that NEW/harvest.sbatch harvests into
    the old path and says to write it again (no `sbatch` suggestion; `slurm.elsewhere` in
    --json), and `harvester slurm` given no targets does not offer to resubmit it; the folder
    where it was written gets no such note."""
    old = tmp_path / "old"
    made = cli(
        "slurm", "--out", str(old), "--base-url", emulator.base_url, "--plate", PLATE,
        "--tasks", "2", "--artifacts", "thumbnail",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    in_place = cli("status", str(old))
    assert "note:" not in in_place.stdout and "not submitted yet: jid=$(sbatch" in in_place.stdout
    assert status_json(old)["slurm"]["elsewhere"] is None
    new = tmp_path / "new"
    shutil.move(old, new)

    proc = cli("status", str(new))
    assert proc.returncode == 0, proc.stderr
    assert (
        f"note: {new / 'harvest.sbatch'} harvests into {old.resolve()}, not {new} (the folder "
        "was moved or copied since harvester slurm wrote it): do not submit it; write it "
        f"again with harvester slurm --out {new} and the options it was written with"
    ) in proc.stdout.splitlines()
    assert "sbatch" not in proc.stdout.replace("harvest.sbatch", "")
    data = status_json(new)
    assert data["slurm"]["elsewhere"] == str(old.resolve())
    assert any("harvests into" in note for note in data["notes"])
    no_targets = cli("slurm", "--out", str(new), "--tasks", "2")
    assert no_targets.returncode == 2
    assert "sbatch" not in no_targets.stderr.replace("harvest.sbatch", "")
    assert (
        f"hint: {new / 'harvest.sbatch'} harvests into {old.resolve()} (the folder was moved "
        "or copied since): do not submit it; for a new script, give --screen"
    ) in no_targets.stderr
    rewritten = cli(
        "slurm", "--out", str(new), "--base-url", emulator.base_url, "--plate", PLATE,
        "--tasks", "2", "--artifacts", "thumbnail",
    )  # fmt: skip
    assert rewritten.returncode == 0, rewritten.stderr
    assert "harvests into" not in json.dumps(status_json(new).get("notes", []))


def test_a_folder_moved_during_a_run_names_where_it_went_and_resumes_there(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`mv DIR NEW` while a harvest writes: it stops (exit 1) saying DIR was moved to NEW,
    with the command that resumes NEW; nothing is made at the old path; that command
    finishes the harvest (exit 0, every thumbnail in NEW)."""
    emu = make_emulator(preset="demo", faults=FOURTH_HELD)
    old, new = tmp_path / "old", tmp_path / "new"
    args = ["--base-url", emu.base_url, "--screen", "2302", "--artifacts", "thumbnail"]
    with reaped(start_cli("harvest", *args, "--out", str(old), "--rate", "none")) as proc:
        with holding(emu, GATE):  # (the run writes its 4th thumbnail once it is released)
            wait_for_files(old, 3)
            shutil.move(old, new)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    lines = stderr.splitlines()
    # (cannot write images/...: a file; or "a batch of files" when the move came between
    # the batch's renames and its folder fsyncs: 1 run in ~25 under load)
    assert lines[-2].startswith(f"error: {old} was moved to {new} while this run wrote to it "
                                "(cannot write "), stderr  # fmt: skip
    assert lines[-1] == (
        f"hint: its finished files went with it; resume it there: harvester harvest --out {new} "
        f"(harvester verify {new} checks every file)"
    )
    assert not old.exists()
    proc2 = cli("harvest", "--out", str(new), "-q", "--concurrency", "32")
    assert proc2.returncode == 0, proc2.stderr
    assert len(thumbnail_ids(new)) == 80


def test_a_folder_moved_to_another_filesystem_during_a_run_is_not_said_to_be_lost(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`mv DIR /other-filesystem/NEW` while a harvest writes (a copy, then DIR removed): the
    run stops (exit 1) saying DIR was removed or moved to another filesystem, and the hint
    says to resume it where it is now if moved (and names verify); that resume finishes it
    (exit 0) and the folder verifies whole. It said "nothing of it is left to resume: run
    the same command", which began DIR afresh."""
    emu = make_emulator(preset="demo", faults=FOURTH_HELD)
    old, new = tmp_path / "old", tmp_path / "new"
    args = ["--base-url", emu.base_url, "--screen", "2302", "--artifacts", "thumbnail"]
    with reaped(start_cli("harvest", *args, "--out", str(old), "--rate", "none")) as proc:
        with holding(emu, GATE):  # (the run writes its 4th thumbnail once it is released)
            wait_for_files(old, 3)
            # What mv does across filesystems: copy everything, then remove the original (a
            # file the run adds meanwhile makes one removal fail: tried again, bounded). A
            # file's temp name listed and renamed before its copy is not copied (mv would say
            # it cannot stat it): the resume fetches that file again.
            shutil.copytree(old, new, symlinks=True, ignore=shutil.ignore_patterns("*.tmp-*"))
            for _ in range(50):
                shutil.rmtree(old, ignore_errors=True)
                if not old.exists():
                    break
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    lines = stderr.splitlines()
    assert lines[-2].startswith(
        f"error: {old} was removed, or moved to another filesystem (which copies it and "
        "removes it), while this run wrote to it (cannot write "
    ), stderr
    assert lines[-1] == (
        "hint: if it was moved, resume it where it is now: harvester harvest --out <its new "
        "path> (it fetches again what the copy missed; harvester verify <its new path> checks "
        "every file); if it was removed, run the same command to start again"
    )
    assert not old.exists()
    proc2 = cli("harvest", "--out", str(new), "-q", "--concurrency", "32")
    assert proc2.returncode == 0, proc2.stderr
    # The copy can hold a journal line of a file finished after its folder was copied (seen
    # once, in a full-suite run): the run did not end cleanly (its pending file went along),
    # so the resume checks the files it recorded and fetches such a one again. The first
    # resume makes the folder whole: verify finds nothing missing.
    assert len(thumbnail_ids(new)) == 80
    checked = cli("verify", str(new))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ", 0 damaged, 0 missing" in checked.stdout, checked.stdout


def test_a_folder_moved_during_its_walk_is_not_made_again_at_the_old_path(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`mv DIR NEW` while the harvest still walks plates: the study files of plates walked
    after it went into a new folder made at the old path, while their done records went to
    NEW's journal (a resume of NEW skipped them). Now the run stops naming NEW (exit 1),
    nothing is at the old path, and verify finds in NEW every file its journals record."""
    # Three of its 1200 plates listed (one image each), the listings of the others held
    # until the folder has moved: the walk goes on after the move.
    walk_held = f"first:ok*3|hold*1200,hold:{GATE},only:api_plate_wells"
    emu = make_emulator(preset="bigscreen", faults=walk_held)
    old, new = tmp_path / "old", tmp_path / "new"
    args = ["--base-url", emu.base_url, "--screen", "1601", "--artifacts", "thumbnail"]
    with reaped(start_cli("harvest", *args, "--out", str(old), "--rate", "none")) as proc:
        with holding(emu, GATE):
            # Journaled, not only on disk: a move between a batch's renames and its journal
            # lines leaves files no journal records, which verify rightly reports (exit 1).
            wait_for_done(old, 3)
            shutil.move(old, new)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert f"error: {old} was moved to {new} while this run wrote to it" in stderr, stderr
    assert not old.exists(), sorted(str(p.relative_to(old)) for p in old.rglob("*"))[:5]
    verify = cli("verify", str(new))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert ", 0 damaged, 0 missing" in verify.stdout, verify.stdout

"""An ``--ids-from`` source that holds no id is said, and makes no folder for nothing.

The README's search-engine pipe (``curl ... | jq ... | harvester harvest --ids-from - --out
DIR``) gives no id when curl fails: the run used to exit 0 after making a new DIR with an
empty index, saying nothing; then a warning and a summary of zeros, exit 0. Given as the only
target, it is now one ``error:`` line naming the source and a ``hint:``, exit 2 (nothing to
harvest, as with no target at all). Beside other targets, or replayed by a resume (an
emptied ``retry.txt``), it is one problem line (``--quiet`` too) and the run goes on.
``harvester plan`` (which wrote an empty plan, exit 0) and ``harvester slurm`` (which wrote
a script whose every task would be refused) answer as harvest does.
"""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli

from harvester.emulator import EmulatorThread

WARNING = "WARNING harvester.problems: --ids-from"


def tree(out: Path) -> dict[str, bytes]:
    """Every file of DIR with its bytes (the run lock's file too)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_empty_standard_input_is_refused_and_makes_no_folder(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Nothing on standard input: one error line naming it, a hint asking whether the
    command writing the ids failed, exit 2, no summary of zeros, no folder made."""
    out = tmp_path / "e1"
    run = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", "-", "--out", str(out),
        stdin="",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        "error: --ids-from standard input held no image id (it was empty, or only blank "
        "lines, comments or a CSV header): nothing to harvest",
        "hint: did the command writing the ids fail? It must write one image id a line "
        "('#' starts a comment), or a CSV/TSV with an image_id column",
    ]
    assert run.stdout == ""  # (it printed "done 0, skipped 0 ...; images 0")
    assert not out.exists()


def test_comments_only_file_is_refused_and_leaves_the_folder_as_it_is(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A file of comments and blank lines, and a CSV of a header alone, given as the only
    target of a run into an existing folder: refused naming the file, exit 2 (also with
    --quiet), the folder untouched."""
    out = tmp_path / "d"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = tree(out)
    for name, text in (("retry.txt", "# failed ids\n\n"), ("rows.csv", "image_id,name\n")):
        ids = tmp_path / name
        ids.write_text(text)
        run = run_cli(
            "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out",
            str(out), "-q",
        )  # fmt: skip
        assert run.returncode == 2, run.stderr
        lines = run.stderr.splitlines()
        assert lines[0] == (
            f"error: --ids-from {ids} held no image id (it was empty, or only blank lines, "
            "comments or a CSV header): nothing to harvest"
        ), run.stderr
        assert lines[1:] == [
            "hint: give a file of one image id a line ('#' starts a comment), or a CSV/TSV "
            "with an image_id column"
        ], run.stderr
        assert run.stdout == ""
        assert tree(out) == before


def test_emptied_ids_file_replayed_by_a_resume_is_no_failure(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A resume replaying an --ids-from set whose file is empty now (its retry done): one
    warning for that set and no summary of zeros; the other set is resumed, exit 0."""
    out = tmp_path / "d"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    retry = tmp_path / "retry.txt"
    retry.write_text("9762957\n")
    again = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(retry), "--out",
        str(out), "--artifacts", "metadata", "--rate", "none", "-q",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    retry.write_text("")
    run = run_cli("harvest", "--out", str(out))
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith(WARNING)]
    assert warnings == [
        f"{WARNING} {retry} held no image id (it was empty, or only blank lines, comments "
        f"or a CSV header): nothing to harvest; {out} is left as it is"
    ], run.stderr
    assert "0 images found" not in run.stdout  # the other set's summary alone
    assert run.stdout.count("done 0, skipped 8 (already done), failed 0; 8 images found") == 1


def test_empty_ids_beside_other_targets_harvests_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An empty --ids-from file beside other targets is said, and the other targets harvested."""
    out = tmp_path / "d"
    ids = tmp_path / "none.txt"
    ids.write_text("")
    run = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids),
        "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail", "--out", str(out),
        "--rate", "none",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{ids} held no image id" in run.stderr
    assert "harvesting the other targets" in run.stderr
    assert "index: " in run.stdout and "(8 rows)" in run.stdout, run.stdout


EMPTY_FILE = [
    "held no image id (it was empty, or only blank lines, comments or a CSV header): "
    "nothing to harvest",
    "hint: give a file of one image id a line ('#' starts a comment), or a CSV/TSV with an "
    "image_id column",
]


def test_plan_of_an_empty_ids_file_is_refused_as_harvest_refuses_it(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """harvester plan --ids-from a file of comments: harvest's error line and hint, exit 2,
    no folder made (it wrote an empty plan, exit 0)."""
    ids = tmp_path / "retry.txt"
    ids.write_text("# failed ids\n\n")
    out = tmp_path / "p"
    run = run_cli(
        "plan", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out)
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [f"error: --ids-from {ids} {EMPTY_FILE[0]}", EMPTY_FILE[1]]
    assert run.stdout == ""
    assert not out.exists()


def test_plan_forced_from_empty_standard_input_keeps_the_plan_there(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """harvester plan --force --ids-from - with nothing piped in: refused, exit 2, the plan
    already in DIR (and everything else there) left as it was."""
    out = tmp_path / "p"
    first = run_cli(
        "plan", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = tree(out)
    run = run_cli(
        "plan", "--base-url", emulator.base_url, "--ids-from", "-", "--out", str(out), "--force",
        stdin="",
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [
        "error: --ids-from standard input held no image id (it was empty, or only blank "
        "lines, comments or a CSV header): nothing to harvest",
        "hint: did the command writing the ids fail? It must write one image id a line "
        "('#' starts a comment), or a CSV/TSV with an image_id column",
    ]
    assert tree(out) == before


def test_plan_reads_piped_ids_once_checked(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Ids piped into harvester plan are all planned: looking for a first id does not eat
    the pipe the walk reads."""
    out = tmp_path / "p"
    run = run_cli(
        "plan", "--base-url", emulator.base_url, "--ids-from", "-", "--out", str(out),
        stdin="# ids\n9762957\n9762958\n",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("planned 2 images "), run.stdout
    assert len((out / "plan" / "images.jsonl").read_text().splitlines()) == 2


def test_plan_of_empty_ids_beside_a_plate_plans_the_plate(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An empty --ids-from beside --plate: one warning, as harvest gives, and the plate is
    planned."""
    ids = tmp_path / "none.txt"
    ids.write_text("")
    out = tmp_path / "p"
    run = run_cli(
        "plan", "--base-url", emulator.base_url, "--ids-from", str(ids), "--plate",
        str(SMALL_PLATE), "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith(WARNING)]
    assert warnings == [
        f"{WARNING} {ids} held no image id (it was empty, or only blank lines, comments or a "
        "CSV header): planning the other targets"
    ], run.stderr
    assert run.stdout.startswith("planned 8 images "), run.stdout


def test_slurm_of_an_empty_ids_file_is_refused_before_the_script(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """harvester slurm --ids-from a CSV of a header alone: harvest's error line, exit 2, no
    script written and the folder untouched (each task would have been refused in the
    queue); beside --plate, one warning and the script is written."""
    out = tmp_path / "d"
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
        "--artifacts", "thumbnail", "--out", str(out), "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    before = tree(out)
    ids = tmp_path / "rows.csv"
    ids.write_text("image_id,name\n")
    run = run_cli("slurm", "--ids-from", str(ids), "--out", str(out), "--tasks", "2")
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines() == [f"error: --ids-from {ids} {EMPTY_FILE[0]}", EMPTY_FILE[1]]
    assert run.stdout == ""
    assert tree(out) == before

    beside = run_cli(
        "slurm", "--ids-from", str(ids), "--plate", str(SMALL_PLATE), "--out", str(out),
        "--tasks", "2",
    )  # fmt: skip
    assert beside.returncode == 0, beside.stderr
    warnings = [line for line in beside.stderr.splitlines() if line.startswith(WARNING)]
    assert warnings == [
        f"{WARNING} {ids} held no image id (it was empty, or only blank lines, comments or a "
        "CSV header): the tasks harvest the other targets"
    ], beside.stderr
    assert (out / "harvest.sbatch").is_file()

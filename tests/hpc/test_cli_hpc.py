"""`harvester plan`, `harvester slurm` and `harvester index` from the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.errors import PROBLEMS_LOGGER


def plan(emulator: EmulatorThread, out: Path, *extra: str) -> int:
    return main(
        ["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out), *extra]
    )


def test_plan_writes_work_list_and_study_metadata(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester plan` lists every image once and saves the study files, then says what next."""
    out = tmp_path / "out"
    assert plan(emulator, out, "--artifacts", "thumbnail") == 0
    said = capsys.readouterr().out
    assert "planned 8 images (8 thumbnail)" in said
    assert "--from-plan" in said
    lines = (out / "plan" / "images.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["image_id"] for line in lines) == list(range(1884801, 1884809))
    meta = json.loads((out / "plan" / "plan.json").read_text())
    assert meta["images"] == 8 and meta["targets"] == {"projects": [51]}
    assert meta["base_url"] == emulator.base_url
    assert (out / "study" / "project-51" / "project.json").is_file()
    assert (out / "study" / "dataset-52" / "images.json").is_file()


def test_a_plan_into_a_folder_of_other_files_says_so_once(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plan starts a harvest in DIR: into a folder holding the user's files it warns once,
    as a harvest does (its ``--quiet`` too), and the plan is written; a plan again says
    nothing (DIR is a harvest then)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert plan(emulator, out, "--artifacts", "thumbnail", "--rate", "none", "-q") == 0
    said = [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]
    assert said == [
        f"--out {out} is no harvest folder (no harvest.json) but holds 1 entry: harvester's "
        "files and folders (harvest.json, journals/, images/, study/, index.csv, ...) go in "
        f"among them; for a folder of its own, give --out {out / 'harvest'}"
    ]
    assert (out / "plan" / "images.jsonl").is_file() and (out / "notes.txt").is_file()
    caplog.clear()
    assert plan(emulator, out, "--artifacts", "thumbnail", "--rate", "none", "-q", "--force") == 0
    assert [r for r in caplog.records if r.name == PROBLEMS_LOGGER] == []


def test_a_refused_plan_into_a_folder_of_other_files_says_no_warning(
    emulator: EmulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plan refused before it writes (an unknown project) gives no "files go in among
    them" warning and leaves the user's folder as it was; a new folder is not made."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code = main(["plan", "--base-url", emulator.base_url, "--project", "999999", "--out", str(out)])
    assert code == 2
    assert [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER] == []
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main(["plan", "--base-url", emulator.base_url, "--project", "999999",
                 "--out", str(tmp_path / "new")]) == 2  # fmt: skip
    assert not (tmp_path / "new").exists()


def test_second_plan_needs_force(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan is not silently replaced: exit 2 with a --force hint, said first (the line
    naming the folder's server came before it, as if the plan were under way); --force
    replaces it."""
    out = tmp_path / "out"
    assert main(["harvest", "--base-url", emulator.base_url, "--project", "51", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q"]) == 0  # fmt: skip
    assert plan(emulator, out, "--quiet") == 0
    capsys.readouterr()
    assert main(["plan", "--project", "51", "--out", str(out)]) == 2  # (the folder's server)
    said = capsys.readouterr()
    assert said.out == "", said.out
    assert "already holds a plan" in said.err and "--force" in said.err
    assert plan(emulator, out, "--force", "--quiet") == 0


def test_plan_of_unknown_project_writes_nothing(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown target is a one-line error (exit 2) and no plan appears."""
    out = tmp_path / "out"
    code = main(["plan", "--base-url", emulator.base_url, "--project", "999999", "--out", str(out)])
    assert code == 2
    assert "not found" in capsys.readouterr().err
    assert not (out / "plan").exists()


def test_plan_without_targets_is_a_usage_error(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing to plan: exit 2 naming the target flags."""
    code = main(["plan", "--base-url", emulator.base_url, "--out", str(tmp_path)])
    assert code == 2
    assert "nothing to plan" in capsys.readouterr().err


def test_plan_without_targets_in_a_harvested_folder_says_only_the_refusal(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`plan --out DIR` of a harvested DIR, no targets: the one refusal, exit 2, without the
    "asking URL" and "fetching --artifacts" lines that read as if planning had begun."""
    out = tmp_path / "out"
    assert main(["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none", "-q"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["plan", "--out", str(out)]) == 2
    said = capsys.readouterr()
    assert said.out == "", said.out
    assert said.err.startswith("error: nothing to plan: give targets"), said.err
    assert not (out / "plan").exists()


def test_slurm_writes_script_from_plan_without_submitting(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --submit the script is written (URL and artifacts taken from the plan)."""
    out = tmp_path / "out"
    assert plan(emulator, out, "--artifacts", "thumbnail,imgdata", "--quiet") == 0
    code = main(
        ["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "6",
         "--max-parallel", "2", "--rate", "4", "--time", "2:00:00", "--mem", "2G"]
    )  # fmt: skip
    assert code == 0
    said = capsys.readouterr().out
    assert f"wrote {out.resolve() / 'harvest.sbatch'}" in said and "sbatch " in said
    script = (out / "harvest.sbatch").read_text()
    assert "#SBATCH --array=0-5%2" in script
    assert "#SBATCH --time=2:00:00" in script and "#SBATCH --mem=2G" in script
    assert f"--base-url {emulator.base_url}" in script
    assert "--artifacts thumbnail,imgdata" in script
    assert "--rate 2 " in script
    assert f"--from-plan {out.resolve()}" in script


def test_slurm_refuses_a_memory_no_task_can_run_in(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--mem 1` (1G meant) is 1 MB to SLURM, which would kill every task: refused, exit 2,
    no script written, the unit suggested; `--mem 0` (the node's whole memory) is taken."""
    out = tmp_path / "out"
    assert plan(emulator, out, "--artifacts", "thumbnail", "--rate", "none", "-q") == 0
    capsys.readouterr()
    slurm = ["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2", "-q"]
    for flag, value, meant in (
        ("--mem", "1", "did you mean --mem 1G?"),
        ("--index-mem", "50M", "e.g. --index-mem 1G"),
    ):
        assert main([*slurm, flag, value]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag} {value} is "), err
        assert "too little for a harvester task" in err and f"hint: {meant}" in err, err
        assert not (out / "harvest.sbatch").exists() and not (out / "index.sbatch").exists()
    # The least taken and its reason, the README's numbers (it said 40 MB, the README 30).
    assert main([*slurm, "--mem", "99M"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: --mem 99M is under 100 MB: too little for a harvester task, which needs at "
        "least 100 MB (its Python and modules alone take about 30 MB)"
    )
    # A fraction or a spelling SLURM does not take: told the whole number it means.
    for value, meant in (("1.5G", "1536M"), ("4GB", "4G")):
        assert main([*slurm, "--mem", value]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"error: invalid --mem '{value}'",
            f"hint: did you mean --mem {meant}? (SLURM's form: a whole number, K, M, G or T)",
        ]
        assert not (out / "harvest.sbatch").exists()
    assert main([*slurm, "--mem", "0", "--index-mem", "4G"]) == 0
    assert "#SBATCH --mem=0" in (out / "harvest.sbatch").read_text()
    assert "#SBATCH --mem=4G" in (out / "index.sbatch").read_text()
    assert main([*slurm, "--mem", "100M"]) == 0
    assert "#SBATCH --mem=100M" in (out / "harvest.sbatch").read_text()


def test_slurm_refuses_a_plan_of_another_server(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plan ids belong to one server: a different --base-url is refused (exit 2)."""
    out = tmp_path / "out"
    assert plan(emulator, out, "--quiet") == 0
    code = main(
        ["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2",
         "--base-url", "http://127.0.0.1:9"]
    )  # fmt: skip
    assert code == 2
    assert "was made for" in capsys.readouterr().err


def test_slurm_without_plan_or_targets_fails_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing plan is reported now, not by N tasks in the queue."""
    code = main(["slurm", "--out", str(tmp_path), "--from-plan", str(tmp_path), "--tasks", "2"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no harvest plan" in err and "harvester plan" in err
    assert main(["slurm", "--out", str(tmp_path), "--tasks", "2"]) == 2
    assert "nothing to harvest" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (["--tasks", "0"], "--tasks: 0 must be an integer of at least 1"),
        (["--tasks", "-3"], "--tasks: -3 must be an integer of at least 1"),
        (["--tasks", "2", "--max-parallel", "0"],
         "--max-parallel: 0 must be an integer of at least 1"),
        (["--tasks", "2", "--cpus", "0"], "--cpus: 0 must be an integer of at least 1"),
    ],
)  # fmt: skip
def test_slurm_refuses_a_count_below_one_in_one_line(
    given: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    refused_url: str,
) -> None:  # fmt: skip
    """`--tasks 0` (and the other counts) is one `error: --FLAG: N must be ...` line, worded
    as a harvest words `--burst 0`, exit 2, nothing written (it said `--tasks must be at
    least 1, got 0`, unlike every other refusal)."""
    out = tmp_path / "study"
    code = main(["slurm", "--out", str(out), "--base-url", refused_url, "--plate", "1", *given])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {said}"]
    assert not out.exists()


def test_slurm_submit_without_sbatch_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorThread,
) -> None:
    """--submit on a machine without sbatch: exit 2, script kept, hint to submit it later."""
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    code = main(["slurm", "--out", str(tmp_path), "--base-url", emulator.base_url,
                 "--screen", "2302", "--tasks", "2", "--submit"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "sbatch not found" in err and "harvest.sbatch" in err
    assert (tmp_path / "harvest.sbatch").is_file()


def test_index_rebuilds_from_journals(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester index DIR` rewrites index.csv from the journals alone."""
    out = tmp_path / "out"
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
         "--artifacts", "thumbnail", "--rate", "none", "--quiet"]
    )  # fmt: skip
    assert code == 0
    before = (out / "index.csv").read_bytes()
    os.remove(out / "index.csv")
    capsys.readouterr()
    assert main(["index", str(out)]) == 0
    assert "(8 images)" in capsys.readouterr().out
    assert (out / "index.csv").read_bytes() == before


def test_index_of_missing_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester index` on a folder that does not exist: exit 2, one line."""
    assert main(["index", str(tmp_path / "nope")]) == 2
    assert f"error: {tmp_path / 'nope'} does not exist" in capsys.readouterr().err

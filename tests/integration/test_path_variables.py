"""Environment variables in paths: a config file's ``$SCRATCH/mirror`` is expanded where the
file is read, and a folder typed with a variable the shell left literal is refused.

Why: ``out = "$SCRATCH/mirror"``, the way a cluster's paths are written, made a folder
literally named ``$SCRATCH`` in the current one, and so did ``--out '$SCRATCH/mirror'``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread

IMAGE = 9762957  # (the demo preset's screen 2302)


def config(tmp_path: Path, emulator: EmulatorThread, *lines: str) -> Path:
    path = tmp_path / "c.toml"
    head = [f'base_url = "{emulator.base_url}"', 'artifacts = ["thumbnail"]']
    path.write_text("\n".join([*head, *lines, ""]), encoding="utf-8")
    return path


def test_a_config_files_paths_expand_variables(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """out = "$SCR/mirror" and ids_from = "${SCR}/ids.txt" harvest into SCR's folder, and the
    run's config.json records the paths expanded; no folder named '$SCR' is made."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "ids.txt").write_text(f"{IMAGE}\n", encoding="utf-8")
    monkeypatch.setenv("SCR", str(scratch))
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, emulator, 'out = "$SCR/mirror"', 'ids_from = "${SCR}/ids.txt"')
    assert main(["harvest", str(cfg), "-q"]) == 0, capsys.readouterr().err
    assert (scratch / "mirror" / "index.csv").read_text().splitlines()[1].startswith(f"{IMAGE},")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "scratch"]
    (record,) = (scratch / "mirror" / "runs").glob("*/config.json")
    saved = json.loads(record.read_text())["config"]
    assert (saved["out"], saved["ids_from"]) == (
        str(scratch / "mirror"), str(scratch / "ids.txt")
    )  # fmt: skip


def test_an_unset_variable_in_a_config_path_is_refused(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """out = "$SCR/mirror" with SCR unset (or empty) is one line naming the key and the
    variable, exit 2, nothing written; ${SCR:-x} is refused, not kept as a name."""
    monkeypatch.delenv("SCR", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, emulator, f"images = [{IMAGE}]", 'out = "$SCR/mirror"')
    assert main(["harvest", str(cfg)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {cfg}: out: the environment variable SCR in '$SCR/mirror' is not set",
        "hint: set SCR before running harvester (export SCR=...), or write the path itself in out"
        " ($$SCR for a name that holds $SCR)",
    ]
    monkeypatch.setenv("SCR", "")
    assert main(["harvest", str(cfg)]) == 2
    assert "SCR in '$SCR/mirror' is empty" in capsys.readouterr().err
    cfg = config(tmp_path, emulator, f"images = [{IMAGE}]", 'out = "${SCR:-/tmp}/mirror"')
    assert main(["harvest", str(cfg)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: {cfg}: out: '${{SCR:-/tmp}}' in '${{SCR:-/tmp}}/mirror' is not a variable"
        " harvester expands: only $NAME and ${NAME} are"
    )
    cfg = config(tmp_path, emulator, f"images = [{IMAGE}]", 'out = "${SCR/mirror"')
    assert main(["harvest", str(cfg)]) == 2  # (a brace left open: it made a folder '${SCR')
    assert capsys.readouterr().err.startswith(
        f"error: {cfg}: out: '${{SCR/mirror' in '${{SCR/mirror' is not a variable harvester expands"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


def test_a_doubled_dollar_is_a_dollar_of_the_name(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """out = "$$SCR/m" names the folder literally called '$SCR' beside the file (one an
    earlier version made of "$SCR/m"), SCR set or not: it was refused as SCR not set, or
    was '$' followed by SCR's value. The run records the name as it is, and the resume by
    --out replays it as it is, not expanded again."""
    monkeypatch.setenv("SCR", str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path)
    cfg = config(tmp_path, emulator, f"images = [{IMAGE}]", 'out = "$$SCR/m"')
    assert main(["harvest", str(cfg), "-q"]) == 0, capsys.readouterr().err
    folder = tmp_path / "$SCR" / "m"
    assert (folder / "index.csv").read_text().splitlines()[1].startswith(f"{IMAGE},")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["$SCR", "c.toml"]
    (record,) = (folder / "runs").glob("*/config.json")
    assert json.loads(record.read_text())["config"]["out"] == str(folder)
    monkeypatch.delenv("SCR")  # (expanded again, the recorded '.../$SCR/m' is refused)
    assert main(["harvest", "--out", str(folder), "-q"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["$SCR", "c.toml"]


def test_a_folder_flag_beginning_with_a_set_variable_literally_is_refused(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--out '$SCR/m' (single-quoted: the shell left it) with SCR set is refused, exit 2,
    nothing made, the message saying how to make that folder on purpose ('./$SCR/m'), which
    works; a folder that already has that literal name is then found."""
    monkeypatch.setenv("SCR", str(tmp_path / "scratch"))
    monkeypatch.chdir(tmp_path)
    flags = ["--base-url", emulator.base_url, "--image", str(IMAGE), "--artifacts", "thumbnail"]
    assert main(["harvest", *flags, "--out", "$SCR/m"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: argument --out: '$SCR/m' begins with $SCR, which the shell did not expand"
        " (single quotes?), and no folder has that name yet: write it in double quotes"
        " (\"$SCR/m\") or as the path itself; for a folder of that very name, './$SCR/m'"
    )
    assert list(tmp_path.iterdir()) == []
    long_name = "$" + "a" * 300  # (was a traceback: File name too long)
    assert main(["status", long_name]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: argument DIR: {long_name[:37] + '...'!r} is a name of 301 bytes: a filesystem"
        " takes at most 255 a name (folder or file)"
    )
    # As the message says, './$SCR/m' makes that folder on purpose; then '$SCR/m' finds it.
    assert main(["harvest", *flags, "--out", "./$SCR/m", "-q"]) == 0
    assert (tmp_path / "$SCR" / "m" / "index.csv").is_file()
    assert main(["harvest", *flags, "--out", "$SCR/m", "-q"]) == 0


def test_slurm_and_plan_pass_on_a_config_files_paths_expanded(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file's ids_from = "$SCR/ids.txt" (and label_ids_from) goes on every task's command
    line expanded (a task must not read it in its node's environment), and a plan records
    it expanded; the file's out = "$GONE/x", which --out replaces, is not refused for GONE
    being unset."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "ids.txt").write_text(f"{IMAGE}\n", encoding="utf-8")
    (scratch / "labels.csv").write_text("label,label_id\nECT2,0\n", encoding="utf-8")
    monkeypatch.setenv("SCR", str(scratch))
    monkeypatch.delenv("GONE", raising=False)
    cfg = config(
        tmp_path,
        emulator,
        'ids_from = "$SCR/ids.txt"',
        'out = "$GONE/x"',
        'label_keys = ["Gene Symbol"]',
        'label_ids_from = "${SCR}/labels.csv"',
    )
    out = tmp_path / "out"
    assert main(["slurm", str(cfg), "--out", str(out), "--tasks", "2"]) == 0, (
        capsys.readouterr().err
    )
    script = (out / "harvest.sbatch").read_text()
    assert f"--ids-from {scratch / 'ids.txt'}" in script
    assert f"--label-ids-from {scratch / 'labels.csv'}" in script
    assert "$SCR" not in script and "$GONE" not in script
    planned = tmp_path / "planned"
    assert main(["plan", str(cfg), "--out", str(planned), "-q"]) == 0, capsys.readouterr().err
    info = json.loads((planned / "plan" / "plan.json").read_text())
    assert info["ids_from"] == str(scratch / "ids.txt")


def test_slurm_passes_on_the_expanded_path_of_a_file_saved_with_a_byte_order_mark(
    emulator: EmulatorThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file Notepad saved (a UTF-8 byte order mark, which the file's reading drops): its
    ids_from = "$SCR/ids.txt" goes on the tasks' command line expanded as any file's does
    (the look at the file as written did not read it: the tasks read the path on their
    nodes, in their own environment)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "ids.txt").write_text(f"{IMAGE}\n", encoding="utf-8")
    monkeypatch.setenv("SCR", str(scratch))
    cfg = config(tmp_path, emulator, 'ids_from = "$SCR/ids.txt"')
    cfg.write_bytes(b"\xef\xbb\xbf" + cfg.read_bytes())
    out = tmp_path / "out"
    assert main(["slurm", str(cfg), "--out", str(out), "--tasks", "2"]) == 0, (
        capsys.readouterr().err
    )
    assert f"--ids-from {scratch / 'ids.txt'}" in (out / "harvest.sbatch").read_text()

"""Review of the folder-settings guard: refused runs change nothing, reruns given differently
run, and a refusal says what the folder holds.

Each test is a user's sequence of commands on one folder, checked by exit codes, messages and
the bytes of every file in DIR.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, run_lock_held

from harvester.cli import main
from harvester.emulator import EmulatorThread


def harvest(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str
) -> tuple[int, str]:
    """``harvester harvest`` (quiet, unthrottled); its exit code and standard error."""
    code = main(["harvest", "--base-url", base_url, "--out", str(out), "--rate", "none",
                 "--quiet", *extra])  # fmt: skip
    return code, capsys.readouterr().err


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def kept(out: Path) -> dict[str, object]:
    return json.loads((out / "harvest.json").read_bytes())["settings"]  # type: ignore[no-any-return]


def test_same_settings_from_a_config_file_a_flag_or_the_default_resume(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """128 from a config file, then the same as a flag; a default window, then explicit."""
    out = tmp_path / "d"
    conf = tmp_path / "c.toml"
    conf.write_text('artifacts = "thumbnail,stack"\nthumbnail_size = 128\n')
    code, err = harvest(capsys, emulator.base_url, out, str(conf), "--plate", str(SMALL_PLATE))
    assert code == 0, err
    assert kept(out) == {"thumbnail_size": 128, "window": "rendering"}
    before = files(out)["harvest.json"]
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "thumbnail,stack", "--thumbnail-size", "128",
                        "--window", "rendering")  # fmt: skip
    assert code == 0, err
    assert files(out)["harvest.json"] == before


def test_from_plan_shards_with_the_size_in_the_file_or_as_a_flag(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan harvested by two shards: one takes the size from the file (from_plan there
    too), the other as a flag; both run; a third given none takes the folder's, and one given
    96 is refused, changing nothing."""
    out = tmp_path / "p"
    assert main(["plan", "--base-url", emulator.base_url, "--out", str(out),
                 "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail"]) == 0  # fmt: skip
    capsys.readouterr()
    conf = tmp_path / "c.toml"
    conf.write_text(f"from_plan = {json.dumps(str(out))}\nthumbnail_size = 128\n")
    code, err = harvest(capsys, emulator.base_url, out, str(conf), "--shard", "0/2")
    assert code == 0, err
    code, err = harvest(capsys, emulator.base_url, out, "--from-plan", str(out),
                        "--shard", "1/2", "--thumbnail-size", "128")  # fmt: skip
    assert code == 0, err
    assert kept(out) == {"thumbnail_size": 128}
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8
    code, err = harvest(capsys, emulator.base_url, out, "--from-plan", str(out), "--shard", "1/2")
    assert code == 0, err
    before = files(out)
    code, err = harvest(capsys, emulator.base_url, out, "--from-plan", str(out), "--shard", "1/2",
                        "--thumbnail-size", "96")  # fmt: skip
    assert code == 2, err
    assert "this run asks for --thumbnail-size 96" in err
    assert files(out) == before


def test_a_run_refused_by_the_run_lock_leaves_harvest_json_as_it_was(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second run of a folder being harvested is refused (exit 75) and must not record its
    --window: it fetched no stack, so a later run with another window is not refused."""
    out = tmp_path / "busy"
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "thumbnail")  # fmt: skip
    assert code == 0, err
    with run_lock_held(out, None) as holder:
        before = files(out)
        code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                            "--artifacts", "stack", "--window", "minmax")  # fmt: skip
        assert code == 75 and "already being harvested" in err, err
        assert files(out) == before  # harvest.json included: no "window" recorded
        holder.kill()
        holder.communicate(timeout=30)  # waited for, its pipe closed
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "stack", "--window", "full")  # fmt: skip
    assert code == 0, err
    assert kept(out) == {"thumbnail_size": 96, "window": "full"}


def test_a_kind_with_no_file_is_set_again_not_refused(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run asking 256-px thumbnails that ended before any (here: an unknown --image, exit
    2) leaves the folder keeping 256; with no thumbnail made, the next run is not refused
    (the refusal's "has no thumbnails yet" words, while another run holds the folder, are
    in test_folder_repin.py): given 96, it sets 96 and fetches the thumbnails at 96."""
    out = tmp_path / "typo"
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "metadata")  # fmt: skip
    assert code == 0, err
    code, err = harvest(capsys, emulator.base_url, out, "--image", "99999999",
                        "--artifacts", "thumbnail", "--thumbnail-size", "256")  # fmt: skip
    assert code == 2 and "99999999" in err, err
    assert list(out.rglob("*.thumbnail.jpg")) == []
    assert kept(out) == {"thumbnail_size": 256}
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "thumbnail", "--thumbnail-size", "96")  # fmt: skip
    assert code == 0, err
    assert "holds thumbnails made with" not in err
    assert kept(out) == {"thumbnail_size": 96}
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8


def test_slurm_with_the_plan_in_the_config_file_checks_the_plans_artifacts(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``from_plan`` in the config file, as ``--from-plan``: a renders-only plan in a folder
    whose thumbnails are 128 px is not refused over the default thumbnail size (its tasks
    fetch no thumbnail); ``harvester slurm --from-plan`` already says so."""
    out = tmp_path / "p"
    code, err = harvest(capsys, emulator.base_url, out, "--plate", str(SMALL_PLATE),
                        "--artifacts", "thumbnail", "--thumbnail-size", "128")  # fmt: skip
    assert code == 0, err
    assert main(["plan", "--base-url", emulator.base_url, "--out", str(out),
                 "--plate", str(SMALL_PLATE), "--artifacts", "render"]) == 0  # fmt: skip
    capsys.readouterr()
    with_flag = main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2"])
    assert with_flag == 0, capsys.readouterr().err
    conf = tmp_path / "c.toml"
    conf.write_text(f"from_plan = {json.dumps(str(out))}\n")
    code = main(["slurm", str(conf), "--out", str(out), "--tasks", "2"])
    err = capsys.readouterr().err
    assert code == 0, err

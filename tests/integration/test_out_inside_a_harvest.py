"""Small refusals and notes a new user meets by mistake, over the emulator.

- ``--out DIR/study/x`` (a harvest folder inside another harvest's folder) mixed a second
  harvest's files into the first's: refused in one line, the outer harvest untouched.
- ``--out .`` in a folder of the user's own files spread the harvest's among them without a
  word: one warning says how many entries it holds and a subfolder to give instead.
- ``harvester harvest "$CONFIG"`` with CONFIG unset read ``.`` as the config file.
- ``status DIR --failed-ids`` (and ``--gone-ids``) with nothing to list printed nothing at
  all: typed by hand, that read as a fault; a note on stderr says so, stdout stays empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.errors import PROBLEMS_LOGGER

IMAGE = 1884801  # an image of the emulator's demo screen


def _harvest(base_url: str, out: Path, *extra: str) -> int:
    return main(
        ["harvest", "--base-url", base_url, "--image", str(IMAGE), "--out", str(out),
         "--rate", "none", "--artifacts", "thumbnail", "--quiet", *extra]
    )  # fmt: skip


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "locks" not in path.parts
    }


@pytest.mark.parametrize("inner", ["study/x", "images/more", "fresh"])
def test_a_harvest_inside_another_harvests_folder_is_refused(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str], inner: str
) -> None:
    """A second harvest whose --out lies inside a first's folder exits 2 with one line
    naming the outer folder; nothing is created there and the outer harvest is unchanged."""
    outer = tmp_path / "outer"
    assert _harvest(emulator.base_url, outer) == 0
    before = _tree(outer)
    capsys.readouterr()

    code = _harvest(emulator.base_url, outer / inner)

    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == (
        f"error: output folder {outer / inner} is inside the harvest folder {outer}"
    )
    assert f"--out {outer} to go on with that harvest" in err
    # beside the harvest's own folders: how to undo a harvest made there by mistake
    assert ("became a harvest folder by mistake" in err) == (inner == "fresh"), err
    assert "Traceback" not in err
    assert not (outer / inner).exists()
    assert _tree(outer) == before


def test_a_folder_under_a_foreign_harvest_json_is_no_harvest_inside_a_harvest(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Only harvester's own harvest.json makes a harvest folder: a file of that name that
    another tool wrote (or a user's ``journals`` folder) does not refuse a harvest below."""
    parent = tmp_path / "project"
    parent.mkdir()
    (parent / "harvest.json").write_text(json.dumps({"tool": "another"}))
    (parent / "journals").mkdir()

    assert _harvest(emulator.base_url, parent / "data") == 0
    assert list((parent / "data" / "images").rglob("*.jpg"))


def test_the_folder_itself_resumes_and_a_sibling_starts(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The refusal is of folders inside a harvest only: the harvest's own folder resumes
    (given as DIR or as DIR/../DIR) and a folder beside it starts a harvest of its own."""
    outer = tmp_path / "outer"
    assert _harvest(emulator.base_url, outer) == 0
    assert _harvest(emulator.base_url, outer / ".." / "outer") == 0
    assert _harvest(emulator.base_url, tmp_path / "beside") == 0
    assert list((tmp_path / "beside" / "images").rglob("*.jpg"))


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The problem lines logged (what ``-q`` still prints), and forget them."""
    said = [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]
    caplog.clear()
    return said


def test_a_harvest_into_a_folder_of_other_files_says_so_once(
    tmp_path: Path,
    emulator: EmulatorThread,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--out .`` in a folder holding the user's files (hidden ones, and the command's own
    config and ids files, not counted) is one warning (``-q`` too) naming the folder, how
    many entries and a subfolder not there yet; the harvest goes on, the user's files
    untouched; a dry run before it, a run refused before it writes (an unknown id), its
    resume, and a harvest into an empty folder say nothing."""
    mine = tmp_path / "mine"
    (mine / "harvest").mkdir(parents=True)  # (taken: the subfolder named is another)
    (mine / "notes.txt").write_text("mine")
    (mine / "index.csv").write_text("my,own\n")
    (mine / ".DS_Store").write_bytes(b"\0")
    (mine / "ids.txt").write_text(f"{IMAGE}\n")
    (mine / "my.toml").write_text(f'base_url = "{emulator.base_url}"\n')
    monkeypatch.chdir(mine)
    command = ["harvest", "my.toml", "--ids-from", "ids.txt", "--out", ".", "--rate", "none",
               "--artifacts", "thumbnail", "-q"]  # fmt: skip
    assert main([*command, "--dry-run"]) == 0  # (it writes nothing there: nothing to say)
    assert _problems(caplog) == []
    before = sorted(p.name for p in mine.iterdir())
    unknown = ["harvest", "my.toml", "--image", "999999999", "--out", ".", "-q"]
    assert main(unknown) == 2  # (refused before any write: its files "go in" nowhere)
    assert _problems(caplog) == [] and sorted(p.name for p in mine.iterdir()) == before
    assert main(command) == 0
    said = _problems(caplog)
    assert said[0] == (
        "--out . is no harvest folder (no harvest.json) but holds 3 entries: harvester's "
        "files and folders (harvest.json, journals/, images/, study/, index.csv, ...) go in "
        "among them; for a folder of its own, give --out harvest-2"
    )
    assert len(said) == 2 and said[1].startswith("index.csv was not written by harvester: ")
    assert list((mine / "images").rglob(f"{IMAGE}.thumbnail.jpg"))
    assert (mine / "notes.txt").read_text() == "mine"
    assert [p.read_text() for p in mine.glob("index.edited-*.csv")] == ["my,own\n"]
    assert main(command) == 0  # (a resume of that harvest: nothing to say)
    assert _problems(caplog) == []
    # a folder of its own given next, inside that harvest: refused, saying how to undo it
    capsys.readouterr()
    own_folder = [*command[:4], "--out", "new", *command[6:]]
    assert main(own_folder) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"error: output folder new is inside the harvest folder {mine}"
    assert "became a harvest folder by mistake (an --out given a folder of your own files), " \
        "its harvest.json makes it one: remove it" in err, err  # fmt: skip
    (mine / "harvest.json").unlink()  # the hint followed
    assert main(own_folder) == 0 and list((mine / "new" / "images").rglob("*.jpg"))
    (tmp_path / "empty").mkdir()
    assert _harvest(emulator.base_url, tmp_path / "empty") == 0
    assert _problems(caplog) == []


@pytest.mark.parametrize("command", ["harvest", "plan", "slurm"])
def test_an_empty_config_argument_is_said_to_be_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """`harvester COMMAND ""` (an unset $CONFIG) is an empty name, not the folder '.'."""
    code = main([command, "", "--out", str(tmp_path / "h")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == (
        "error: argument config: an empty config file name (an unset variable?)"
    )
    assert "directory" not in err
    assert not (tmp_path / "h").exists()


def test_no_failed_or_gone_ids_is_said_on_stderr_only(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing to list, stdout stays empty (``> retry.txt`` makes an empty file) and
    stderr says there is nothing, so a hand-typed command does not look like a hang."""
    out = tmp_path / "h"
    assert _harvest(emulator.base_url, out) == 0
    capsys.readouterr()

    assert main(["status", str(out), "--failed-ids"]) == 0
    failed = capsys.readouterr()
    assert main(["status", str(out), "--gone-ids"]) == 0
    gone = capsys.readouterr()

    assert failed.out == "" and gone.out == ""
    assert failed.err == f"note: no image of {out} has a failed artifact\n"
    assert gone.err == f"note: no image of {out} is recorded as gone\n"


def test_failed_ids_of_a_failing_image_print_no_nothing_note(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a failure recorded (an id the server does not know, from an ids file), stdout
    lists its id and the nothing-to-list note is not said."""
    out = tmp_path / "h"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGE}\n999999999\n")
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
         "--rate", "none", "--artifacts", "thumbnail", "--quiet"]
    )  # fmt: skip
    assert code == 1
    capsys.readouterr()

    assert main(["status", str(out), "--failed-ids"]) == 0
    listed = capsys.readouterr()
    assert listed.out == "999999999\n"
    assert "no image of" not in listed.err


def test_where_the_folder_really_is_decides_through_symlinks(
    tmp_path: Path, emulator: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path through a symlink into a harvest (``link/x``, or ``link/../x`` whose ``..``
    the system takes in the harvest) is refused: it was made there, inside the harvest,
    as the path was judged by its words only. A harvest's symlink to a folder elsewhere
    leads outside it: a harvest there starts."""
    outer = tmp_path / "outer"
    assert _harvest(emulator.base_url, outer) == 0
    real_outer = outer.resolve()
    (tmp_path / "into").symlink_to(outer / "study", target_is_directory=True)
    (tmp_path / "images-link").symlink_to(outer / "images", target_is_directory=True)
    before = _tree(outer)
    capsys.readouterr()

    for given in (tmp_path / "into" / "x", tmp_path / "images-link" / ".." / "new"):
        assert _harvest(emulator.base_url, given) == 2
        err = capsys.readouterr().err
        assert err.splitlines()[0] == (
            f"error: output folder {given} is inside the harvest folder {real_outer}"
        )
    assert not (outer / "study" / "x").exists() and not (outer / "new").exists()
    assert _tree(outer) == before

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (outer / "away").symlink_to(elsewhere, target_is_directory=True)
    assert _harvest(emulator.base_url, outer / "away" / "h") == 0
    assert list((elsewhere / "h" / "images").rglob("*.jpg"))


def test_the_demo_inside_a_harvest_folder_is_refused_without_go_on_hint(
    tmp_path: Path,
    emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``harvester demo`` run in a harvest's folder (its default ./harvester-demo inside it)
    is refused before the emulator starts, the folder named by its path, not ``.``; the hint
    no longer says ``--out .`` to go on: that put the demo's images into the user's harvest.
    A harvest's relative --out there names the folder by its path too."""
    outer = tmp_path / "outer"
    assert _harvest(emulator.base_url, outer) == 0
    before = _tree(outer)
    monkeypatch.chdir(outer)
    capsys.readouterr()

    assert main(["demo", "-q"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: output folder harvester-demo is inside the harvest folder {outer.resolve()}",
        f"hint: give the demo a folder outside {outer.resolve()}: harvester demo --out PATH",
    ]
    assert not (outer / "harvester-demo").exists()

    assert _harvest(emulator.base_url, Path("sub")) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        f"error: output folder sub is inside the harvest folder {outer.resolve()}"
    )
    assert _tree(outer) == before

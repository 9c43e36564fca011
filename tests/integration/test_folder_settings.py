"""A folder keeps the settings its files were made with (``harvest.json``, "settings").

The new-user walkthrough's bug: a 96-px folder rerun with ``--thumbnail-size 128`` said
"skipped (already done)" for the old thumbnails and wrote the new images at 128, so one
folder held two sizes under names that do not say the size. Such a run is now refused
before any request or write, with one error line naming the setting and both values.
"""

from __future__ import annotations

import io
import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, reaped, run_cli, start_cli, temp_files
from PIL import Image

from harvester.cli import main
from harvester.emulator import EmulatorThread


def run(
    capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str, quiet: bool = True
) -> str:
    """``harvester harvest`` of the small plate (``--quiet`` unless ``quiet`` is false, for
    its info lines); asserts exit 0, returns standard error."""
    code = main(["harvest", "--base-url", base_url, "--out", str(out), "--rate", "none",
                 *(["--quiet"] if quiet else []), "--plate", str(SMALL_PLATE),
                 *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def refused(capsys: pytest.CaptureFixture[str], base_url: str, out: Path, *extra: str) -> str:
    """The same, refused: exit 2, one ``error:`` line (and a ``hint:``); returns both lines."""
    code = main(["harvest", "--base-url", base_url, "--out", str(out), "--rate", "none",
                 "--quiet", "--plate", str(SMALL_PLATE), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], err
    return err


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def thumbnail_sizes(out: Path) -> set[tuple[int, int]]:
    found = set()
    for path in out.rglob("*.thumbnail.jpg"):
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            found.add(image.size)
    return found


def settings(out: Path) -> dict[str, object]:
    return json.loads((out / "harvest.json").read_bytes())["settings"]  # type: ignore[no-any-return]


def one_thumbnail_at_256(capsys: pytest.CaptureFixture[str], base_url: str, out: Path) -> None:
    """A folder of one 256 px thumbnail: an image of the demo screen, not on the small plate
    (whose thumbnails a test's next run fetches)."""
    code = main(["harvest", "--base-url", base_url, "--out", str(out), "--rate", "none",
                 "--quiet", "--image", "9762885", "--artifacts", "thumbnail",
                 "--thumbnail-size", "256"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def test_another_thumbnail_size_is_refused_before_anything(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """96 then 128: exit 2, one error line with both values, no request, no byte changed."""
    out = tmp_path / "thumbs"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail")
    assert settings(out) == {"thumbnail_size": 96}
    assert len(thumbnail_sizes(out)) == 1 and max(thumbnail_sizes(out))[0] == 96
    before = files(out)
    emulator.reset_stats()

    err = refused(capsys, emulator.base_url, out, "--artifacts", "thumbnail",
                  "--thumbnail-size", "128")  # fmt: skip
    assert f"error: {out} holds thumbnails made with --thumbnail-size 96; this run asks for " \
        "--thumbnail-size 128" in err  # fmt: skip
    assert "hint: use another --out, or --thumbnail-size 96" in err
    assert emulator.stats()["requests"] == 0  # not even the server probe
    assert files(out) == before  # every file, byte for byte; nothing added
    # A dry run is refused alike (it would count the old thumbnails as done) and writes nothing.
    refused(capsys, emulator.base_url, out, "--thumbnail-size", "128", "--dry-run")
    assert files(out) == before

    # The same size again runs (nothing to do) and the folder keeps one size.
    err = run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", "--thumbnail-size", "96")
    assert emulator.stats()["image_requests"] == 0
    assert len(thumbnail_sizes(out)) == 1


def test_a_run_given_no_size_takes_the_folders(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of 256 px thumbnails given a new target and no --thumbnail-size fetches its
    thumbnails at 256 (one line says so) instead of being refused for the default, 96."""
    out = tmp_path / "big"
    one_thumbnail_at_256(capsys, emulator.base_url, out)
    err = run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", quiet=False)
    assert (
        f"fetching thumbnails with --thumbnail-size 256, the value {out} keeps for them "
        "(a folder keeps one: another --out for another)"
    ) in err.splitlines()
    assert settings(out) == {"thumbnail_size": 256}
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 9
    assert max(max(size) for size in thumbnail_sizes(out)) == 256
    assert all(max(size) > 96 for size in thumbnail_sizes(out))  # none at the default
    # Given as a flag, another size is refused as before.
    err = refused(capsys, emulator.base_url, out, "--artifacts", "thumbnail",
                  "--thumbnail-size", "96")  # fmt: skip
    assert "holds thumbnails made with --thumbnail-size 256; this run asks for " \
        "--thumbnail-size 96" in err  # fmt: skip
    # `harvester slurm` given none names the folder's on its tasks' command line.
    code = main(["slurm", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                 str(SMALL_PLATE), "--artifacts", "thumbnail", "--tasks", "2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert " --thumbnail-size 256 " in (out / "harvest.sbatch").read_text()


def test_a_size_from_a_piped_config_file_is_not_replaced_by_the_folders(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config file read from a pipe (``/dev/stdin``, not read twice) saying
    ``thumbnail_size = 128`` into a folder of 256 px thumbnails is refused for 128, the value
    given, and nothing changes: it was taken as no value given and fetched at 256. A regular
    file saying the default, 96, is refused for 96 too."""
    out = tmp_path / "big"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", "--thumbnail-size", "256")
    before = files(out)
    piped = run_cli("harvest", "/dev/stdin", "--base-url", emulator.base_url, "--out", str(out),
                    "--rate", "none", "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
                    stdin="thumbnail_size = 128\n")  # fmt: skip
    assert piped.returncode == 2, piped.stderr
    assert "holds thumbnails made with --thumbnail-size 256; this run asks for " \
        "--thumbnail-size 128" in piped.stderr  # fmt: skip
    assert "fetching thumbnails" not in piped.stderr
    assert files(out) == before
    # A regular file's key counts even when it says the default: refused for 96.
    conf = tmp_path / "c.toml"
    conf.write_text("thumbnail_size = 96\n")
    err = refused(capsys, emulator.base_url, out, str(conf), "--artifacts", "thumbnail")
    assert "holds thumbnails made with --thumbnail-size 256; this run asks for " \
        "--thumbnail-size 96" in err  # fmt: skip
    assert files(out) == before


def test_slurm_from_a_plan_given_no_size_names_the_folders(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester slurm --from-plan` given no --thumbnail-size, into a folder of 256 px
    thumbnails, writes --thumbnail-size 256 on its tasks' command line (one line says so), as
    `harvester harvest --from-plan` takes 256; it was refused for the default, 96."""
    out = tmp_path / "planned"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", "--thumbnail-size", "256",
        "--shard", "0/2")  # fmt: skip
    assert main(["plan", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                 str(SMALL_PLATE), "--artifacts", "thumbnail"]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["slurm", "--out", str(out), "--from-plan", str(out), "--tasks", "2"])
    said = capsys.readouterr()
    assert code == 0, said.err
    assert (
        f"fetching thumbnails with --thumbnail-size 256, the value {out} keeps for them "
        "(a folder keeps one: another --out for another)"
    ) in said.out.splitlines()
    assert " --thumbnail-size 256 " in (out / "harvest.sbatch").read_text()
    assert settings(out) == {"thumbnail_size": 256}


def test_a_size_given_to_a_run_without_thumbnails_is_not_replayed(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of renders alone given --thumbnail-size 256 in a folder of 96 px thumbnails
    (accepted: it fetches none): its resume with thumbnails added, and the command verify
    prints for a thumbnail of its set gone missing, take the folder's 96 and run (both
    named 256 and were refused); the folder keeps one size."""
    out = tmp_path / "thumbs"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail,render")
    run(capsys, emulator.base_url, out, "--artifacts", "render", "--thumbnail-size", "256")
    assert settings(out)["thumbnail_size"] == 96
    code = main(["harvest", "--out", str(out), "--artifacts", "thumbnail,render", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    next(out.rglob("*.thumbnail.jpg")).unlink()
    assert main(["verify", str(out)]) == 1
    said = capsys.readouterr().out.splitlines()[-1]
    command = said.partition("to refetch exactly those: ")[2].partition("  #")[0]
    assert command.startswith("harvester harvest --out ") and "--thumbnail-size" not in command
    code = main([*shlex.split(command)[1:], "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8
    assert thumbnail_sizes(out) and all(max(size) <= 96 for size in thumbnail_sizes(out))


def test_a_size_given_to_a_run_without_thumbnails_is_replayed_where_dir_keeps_none(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder's first run, of renders alone, given --thumbnail-size 256 (DIR keeps no
    size): its resume with thumbnails added fetches them at 256, the size the user gave,
    and DIR keeps 256 (the value was left out: 96 px thumbnails, and DIR kept 96)."""
    out = tmp_path / "renders"
    run(capsys, emulator.base_url, out, "--artifacts", "render", "--thumbnail-size", "256")
    assert "thumbnail_size" not in settings(out)
    code = main(["harvest", "--out", str(out), "--artifacts", "thumbnail,render", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert settings(out)["thumbnail_size"] == 256
    assert thumbnail_sizes(out) and all(max(size) > 96 for size in thumbnail_sizes(out))


def test_window_matters_once_a_stack_is_fetched(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A thumbnails-only folder does not care about --window; its first stack run decides."""
    out = tmp_path / "mixed"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail")
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", "--window", "minmax")
    assert settings(out) == {"thumbnail_size": 96}
    marker = (out / "harvest.json").read_bytes()
    run(capsys, emulator.base_url, out, "--artifacts", "stack", "--window", "full", "--dry-run")
    assert (out / "harvest.json").read_bytes() == marker  # a dry run writes no settings
    run(capsys, emulator.base_url, out, "--artifacts", "stack", "--window", "full")
    assert settings(out) == {"thumbnail_size": 96, "window": "full"}
    assert len(list(out.rglob("*.stack.ome.tif"))) == 8
    before = files(out)
    err = refused(capsys, emulator.base_url, out, "--artifacts", "all", "--window", "minmax")
    assert "stacks made with --window full; this run asks for --window minmax" in err
    assert "hint: use another --out, or --window full" in err
    assert files(out) == before
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail,stack", "--window", "full")


def test_folder_of_an_older_harvester_adopts(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A marker without settings (0.1.4 and before): the sizes its thumbnails were made with
    (journals + saved run configs) are the folder's; stacks, never fetched, take this run's."""
    out = tmp_path / "old"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail")
    (out / "harvest.json").write_text('{"tool": "harvester", "layout": 1, "version": "0.1.4"}')
    before = files(out)
    err = refused(capsys, emulator.base_url, out, "--artifacts", "thumbnail",
                  "--thumbnail-size", "128")  # fmt: skip
    assert "--thumbnail-size 96; this run asks for --thumbnail-size 128" in err
    assert files(out) == before
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail,stack", "--window", "minmax")
    assert settings(out) == {"thumbnail_size": 96, "window": "minmax"}


def test_shards_starting_together_on_a_new_folder(emulator: EmulatorThread, tmp_path: Path) -> None:
    """Two shards with the same settings, started at once on a new folder, both run; the
    marker keeps their settings once, and no temp file is left."""
    out = tmp_path / "sharded"
    common = ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
              "--quiet", "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail,stack",
              "--thumbnail-size", "128"]  # fmt: skip
    procs = [start_cli(*common, "--shard", f"{k}/2") for k in range(2)]
    for proc in procs:
        with reaped(proc):
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    assert settings(out) == {"thumbnail_size": 128, "window": "rendering"}
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8
    assert len(thumbnail_sizes(out)) == 1 and max(thumbnail_sizes(out))[0] == 128
    assert temp_files(out) == []


def test_racing_runs_with_different_sizes_never_mix(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Shards asking 96 and 128, started at once on a new folder: one runs, the other is
    refused (exit 2), and the folder holds one thumbnail size."""
    out = tmp_path / "race"
    procs = [
        start_cli("harvest", "--base-url", emulator.base_url, "--out", str(out),
                  "--rate", "none", "--quiet", "--plate", str(SMALL_PLATE),
                  "--artifacts", "thumbnail", "--thumbnail-size", size, "--shard", f"{k}/2")
        for k, size in enumerate(("96", "128"))
    ]  # fmt: skip
    results = []
    for proc in procs:
        with reaped(proc):
            results.append((proc.communicate(timeout=120)[1], proc))
    assert sorted(proc.returncode for _err, proc in results) == [0, 2], results
    err = next(err for err, proc in results if proc.returncode == 2)
    assert "thumbnails made with --thumbnail-size" in err
    assert len(thumbnail_sizes(out)) == 1


def test_slurm_refuses_before_writing_the_script(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester slurm` with another size is refused once, not in each of N tasks."""
    out = tmp_path / "array"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail")
    before = files(out)
    code = main(["slurm", "--base-url", emulator.base_url, "--out", str(out),
                 "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
                 "--thumbnail-size", "128", "--tasks", "2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "thumbnails made with --thumbnail-size 96; this run asks for --thumbnail-size 128" in err
    assert files(out) == before  # no harvest.sbatch


def _make_old(out: Path, settings: str | None = None) -> None:
    """DIR's marker as 0.1.4 and before wrote it: no "settings" (the runs' saved
    configurations and the journals' done records are as they were); or, ``settings``
    given, as a later version wrote it into such a folder on a run of another kind."""
    kept = "" if settings is None else f', "settings": {settings}'
    (out / "harvest.json").write_text(
        f'{{"tool": "harvester", "layout": 1, "version": "0.1.4"{kept}}}'
    )


# (upgraded: a render run of 0.1.5 or later recorded its render_quality, not the thumbnails'
# size; the thumbnails' runs are 0.1.4's still, and the run was refused for the default, 96)
@pytest.mark.parametrize("marker", [None, '{"render_quality": 0.9}'], ids=["old", "upgraded"])
def test_a_run_given_no_size_takes_an_older_folders(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], marker: str | None
) -> None:
    """A folder of 256 px thumbnails made by 0.1.4 (its marker keeps no settings, or none
    for thumbnails) given a new target and no --thumbnail-size fetches at 256, read from the
    runs that made its files, and says so in one line; it was refused for the default, 96,
    which nobody typed."""
    out = tmp_path / "old"
    one_thumbnail_at_256(capsys, emulator.base_url, out)
    _make_old(out, marker)
    err = run(capsys, emulator.base_url, out, "--artifacts", "thumbnail", quiet=False)
    assert (
        f"fetching thumbnails with --thumbnail-size 256, the value {out}'s thumbnails were "
        "made with (read from the runs that made them: a folder of harvester 0.1.4 or older "
        "records none; a folder keeps one: another --out for another)"
    ) in err.splitlines()
    assert settings(out) == {
        "thumbnail_size": 256,
        **({} if marker is None else {"render_quality": 0.9}),
    }
    assert all(max(size) == 256 for size in thumbnail_sizes(out))
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 9


def _damage(config: Path) -> None:
    """A run's saved configuration with its thumbnail_size edited by hand into a list."""
    data = json.loads(config.read_bytes())
    data.get("config", data)["thumbnail_size"] = [256]
    config.write_text(json.dumps(data))


# (damaged: such a value was counted by the Counter, a TypeError: "internal error";
# upgraded: a later render run recorded its render_quality only, and the run said nothing)
@pytest.mark.parametrize("lose", [Path.unlink, _damage], ids=["removed", "damaged"])
@pytest.mark.parametrize("marker", [None, '{"render_quality": 0.9}'], ids=["old", "upgraded"])
def test_an_older_folder_that_cannot_tell_its_size_says_what_the_run_used(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lose: Callable[[Path], None],
    marker: str | None,
) -> None:
    """An old folder whose thumbnails' runs left no saved configuration (or one whose size
    is no value) cannot tell their size: a run given none says so and names the size it
    used (the default), once; so does such a folder a later render-only run upgraded."""
    out = tmp_path / "old"
    run(capsys, emulator.base_url, out, "--artifacts", "thumbnail")
    _make_old(out, marker)
    for config in out.glob("runs/*/config.json"):
        lose(config)
    code = main(["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate",
                 "none", "--image", "9762885", "--artifacts", "thumbnail"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert (
        f"note: {out} was made by harvester 0.1.4 or older, which recorded no --thumbnail-size, "
        "and the runs that made its thumbnails saved no configuration: it cannot tell their "
        "size; this run fetches with --thumbnail-size 96 (the default) and the folder keeps it"
    ) in err.splitlines()
    assert settings(out) == {
        "thumbnail_size": 96,
        **({} if marker is None else {"render_quality": 0.9}),
    }
    # Recorded now: the next run says nothing of it.
    code = main(["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate",
                 "none", "--image", "9762885", "--artifacts", "thumbnail"])  # fmt: skip
    assert code == 0
    assert "0.1.4" not in capsys.readouterr().err

"""A folder set for a thumbnail size that made no thumbnail takes the next run's size.

A run stopped before its first thumbnail (an unknown ``--image``, a server serving none at
that size) left DIR set for its size, and every later run asking another size was refused:
the README told users to delete DIR, renders and metadata with it. Now the next run sets
the folder to its own size, says so in one line, and goes on, unless a thumbnail was made
with the old size or another run holds DIR: then the refusal is as before.

Each test is a user's sequence of commands on one folder, checked by exit codes, messages,
``harvest.json`` and the pixel size of every thumbnail on disk.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, interrupt, reaped, run_cli, run_lock_held, start_cli
from PIL import Image

from harvester.emulator import EmulatorThread


def harvest(base_url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``harvester harvest`` (in the test process, kept to itself as a child would be:
    cli_in_process.py; its stderr is what a user sees)."""
    return run_cli("harvest", "--base-url", base_url, "--out", str(out), "--rate", "none",
                   "--quiet", *extra)  # fmt: skip


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def thumbnail_sizes(out: Path) -> list[int]:
    """The longer side, in pixels, of every thumbnail in DIR."""
    sizes = []
    for path in sorted(out.rglob("*.thumbnail.jpg")):
        with Image.open(io.BytesIO(path.read_bytes())) as image:
            sizes.append(max(image.size))
    return sizes


def kept(out: Path) -> dict[str, object]:
    return json.loads((out / "harvest.json").read_bytes())["settings"]  # type: ignore[no-any-return]


def repinned_line(out: Path, old: int, new: int) -> str:
    return (
        f"{out}: the folder's setting changed from --thumbnail-size {old} to --thumbnail-size "
        f"{new}, because no file was made with --thumbnail-size {old} (it holds no thumbnails yet)"
    )


def pinned_by_unknown_image(emulator: EmulatorThread, out: Path) -> None:
    """Metadata harvested, then a 256-px thumbnail run stopped by an unknown --image."""
    done = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts", "metadata")
    assert done.returncode == 0, done.stderr
    typo = harvest(emulator.base_url, out, "--image", "99999999", "--artifacts", "thumbnail",
                   "--thumbnail-size", "256")  # fmt: skip
    assert typo.returncode == 2 and "99999999" in typo.stderr, typo.stderr


def pinned_by_a_server_serving_none(
    emulator: EmulatorThread, out: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Metadata harvested, then a 256-px thumbnail run whose every thumbnail failed."""
    done = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts", "metadata")
    assert done.returncode == 0, done.stderr
    broken = make_emulator(preset="demo", faults="500:100%,only:/webgateway/render_thumbnail/")
    failed = harvest(broken.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                     "thumbnail", "--thumbnail-size", "256", "--max-retries", "0")  # fmt: skip
    assert failed.returncode == 1, failed.stderr


def pinned_by_ctrl_c(
    emulator: EmulatorThread, out: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Metadata harvested, then a 256-px thumbnail run interrupted (SIGINT) once it has set
    the folder's size, while its thumbnails are held by the emulator (none can arrive first)."""
    done = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts", "metadata")
    assert done.returncode == 0, done.stderr
    slow = make_emulator(preset="demo", faults="hold:thumbnails,only:/webgateway/render_thumbnail/")
    proc = start_cli("harvest", "--base-url", slow.base_url, "--out", str(out), "--rate", "none",
                     "--quiet", "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
                     "--thumbnail-size", "256")  # fmt: skip
    with reaped(proc):
        deadline = time.monotonic() + 60
        while "thumbnail_size" not in kept(out) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert kept(out) == {"thumbnail_size": 256}
        slow.wait_held("thumbnails", 1, timeout_s=60)
        err = interrupt(proc, signal.SIGINT)
        assert proc.returncode == 130, err
    slow.release("thumbnails")  # (the run is gone: nothing is left held for the timeout)


@pytest.mark.parametrize("how", ["unknown-image", "server-serves-none", "ctrl-c"])
def test_a_folder_whose_size_made_nothing_takes_the_next_runs_size(
    emulator: EmulatorThread,
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    how: str,
) -> None:
    """The next run given --thumbnail-size 96 re-pins the folder (one line), fetches every
    thumbnail at 96 px and keeps the metadata; the size it set is then kept as any other."""
    out = tmp_path / "d"
    if how == "unknown-image":
        pinned_by_unknown_image(emulator, out)
    elif how == "server-serves-none":
        pinned_by_a_server_serving_none(emulator, out, make_emulator)
    else:
        pinned_by_ctrl_c(emulator, out, make_emulator)
    assert kept(out) == {"thumbnail_size": 256}
    assert thumbnail_sizes(out) == []
    metadata = {k: v for k, v in files(out).items() if k.endswith(".metadata.json")}
    assert len(metadata) == 8

    # A dry run says it would change the setting, and changes nothing.
    before = files(out)
    dry = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                  "thumbnail", "--thumbnail-size", "96", "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "the folder's setting would change from --thumbnail-size 256 to --thumbnail-size " \
        "96" in dry.stderr  # fmt: skip
    assert files(out) == before

    done = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                   "thumbnail,metadata", "--thumbnail-size", "96")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "setting" in line] == [
        f"WARNING harvester.problems: {repinned_line(out, 256, 96)}"
    ]
    assert kept(out) == {"thumbnail_size": 96}
    assert thumbnail_sizes(out) == [96] * 8
    assert {k: v for k, v in files(out).items() if k.endswith(".metadata.json")} == metadata

    # From now on 96 is the folder's: another size is refused, as for any folder.
    again = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                    "thumbnail", "--thumbnail-size", "128")  # fmt: skip
    assert again.returncode == 2
    assert "holds thumbnails made with --thumbnail-size 96; this run asks for " \
        "--thumbnail-size 128" in again.stderr  # fmt: skip


def test_one_thumbnail_made_keeps_the_refusal(emulator: EmulatorThread, tmp_path: Path) -> None:
    """One 256-px thumbnail stored (an --image run), even deleted and marked by `verify`:
    a 96-px run is refused, exit 2, as before, and nothing changes."""
    out = tmp_path / "one"
    pinned_by_unknown_image(emulator, out)
    image_id = next(out.rglob("*.metadata.json")).name.split(".")[0]
    one = harvest(emulator.base_url, out, "--image", image_id, "--artifacts", "thumbnail",
                  "--thumbnail-size", "256")  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert thumbnail_sizes(out) == [256]
    before = files(out)
    refused = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                      "thumbnail", "--thumbnail-size", "96")  # fmt: skip
    assert refused.returncode == 2
    assert f"error: {out} holds thumbnails made with --thumbnail-size 256; this run asks for " \
        "--thumbnail-size 96" in refused.stderr  # fmt: skip
    assert "Traceback" not in refused.stderr
    assert files(out) == before

    next(out.rglob("*.thumbnail.jpg")).unlink()
    checked = run_cli("verify", str(out))
    assert checked.returncode == 1, checked.stderr
    before = files(out)
    refused = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                      "thumbnail", "--thumbnail-size", "96")  # fmt: skip
    assert refused.returncode == 2
    assert "holds thumbnails made with --thumbnail-size 256" in refused.stderr
    assert files(out) == before


def test_another_run_holding_the_folder_keeps_the_refusal(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """While a process holds shard 1/2's run lock (which lets shard 0/2 run beside it),
    shard 0/2 asking another size is refused as before, and so is `harvester slurm`;
    once it is gone, the shard re-pins the folder."""
    out = tmp_path / "held"
    pinned_by_unknown_image(emulator, out)
    with run_lock_held(out, "1/2") as holder:
        before = files(out)
        refused = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                          "thumbnail", "--thumbnail-size", "96", "--shard", "0/2")  # fmt: skip
        assert refused.returncode == 2
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert [line.split(":")[0] for line in lines] == ["error", "hint"], refused.stderr
        assert f"error: {out} has no thumbnails yet but is set for thumbnails made with " \
            "--thumbnail-size 256; this run asks for --thumbnail-size 96" in lines[0]  # fmt: skip
        slurm = run_cli("slurm", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                        str(SMALL_PLATE), "--artifacts", "thumbnail", "--thumbnail-size", "96",
                        "--tasks", "2")  # fmt: skip
        assert slurm.returncode == 2
        assert "has no thumbnails yet but is set for" in slurm.stderr
        assert files(out) == before
        holder.kill()
        holder.communicate(timeout=30)
    done = harvest(emulator.base_url, out, "--plate", str(SMALL_PLATE), "--artifacts",
                   "thumbnail", "--thumbnail-size", "96", "--shard", "0/2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert repinned_line(out, 256, 96) in done.stderr
    assert kept(out) == {"thumbnail_size": 96}
    assert thumbnail_sizes(out) == [96] * 4


def test_tasks_given_no_size_agree_before_and_after_the_first_thumbnail(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """Shards given no --thumbnail-size on a folder set for 256 px that holds none yet: one
    started beside a sibling's run lock (before any thumbnail) and one started after the
    first thumbnails both fetch at 256, the size the folder is set for; `harvester slurm`
    given none names 256 on its tasks' command line. (Deciding by the files on disk, the
    first was refused for the default, 96, and the second took 256.)"""
    out = tmp_path / "shards"
    pinned_by_unknown_image(emulator, out)
    argv = ["harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate", "none",
            "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail"]  # fmt: skip
    with run_lock_held(out, "1/2") as holder:
        slurm = run_cli("slurm", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                        str(SMALL_PLATE), "--artifacts", "thumbnail", "--tasks", "2")  # fmt: skip
        assert slurm.returncode == 0, slurm.stderr
        assert " --thumbnail-size 256 " in (out / "harvest.sbatch").read_text()
        before = run_cli(*argv, "--shard", "0/2")
        assert before.returncode == 0, before.stderr
        assert (
            f"fetching thumbnails with --thumbnail-size 256, the value {out} is set for (it "
            "holds no thumbnails yet: --thumbnail-size N sets another)"
        ) in before.stderr.splitlines()
        holder.kill()
        holder.communicate(timeout=30)
    assert thumbnail_sizes(out) == [256] * 4
    after = run_cli(*argv, "--shard", "1/2")
    assert after.returncode == 0, after.stderr
    assert (
        f"fetching thumbnails with --thumbnail-size 256, the value {out} keeps for them (a "
        "folder keeps one: another --out for another)"
    ) in after.stderr.splitlines()
    assert "setting changed" not in before.stderr + after.stderr
    assert kept(out) == {"thumbnail_size": 256}
    assert thumbnail_sizes(out) == [256] * 8


def test_slurm_repins_once_for_its_tasks(emulator: EmulatorThread, tmp_path: Path) -> None:
    """`harvester slurm --thumbnail-size 96` on a folder whose size made nothing, with
    nothing running: it sets the folder's size as it writes the script, so its tasks all
    find their size kept."""
    out = tmp_path / "array"
    pinned_by_unknown_image(emulator, out)
    slurm = run_cli("slurm", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                    str(SMALL_PLATE), "--artifacts", "thumbnail", "--thumbnail-size", "96",
                    "--tasks", "2")  # fmt: skip
    assert slurm.returncode == 0, slurm.stderr
    assert repinned_line(out, 256, 96) in slurm.stderr
    assert " --thumbnail-size 96 " in (out / "harvest.sbatch").read_text()
    assert kept(out) == {"thumbnail_size": 96}
    procs = [
        start_cli("harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate",
                  "none", "--quiet", "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
                  "--thumbnail-size", "96", "--shard", f"{k}/2")
        for k in range(2)
    ]  # fmt: skip
    for proc in procs:
        with reaped(proc):
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "setting changed" not in err
    assert thumbnail_sizes(out) == [96] * 8


@pytest.mark.parametrize("pinned", [False, True], ids=["new-folder", "pinned-to-nothing"])
def test_racing_first_runs_with_different_sizes_never_mix(
    emulator: EmulatorThread, tmp_path: Path, pinned: bool
) -> None:
    """Shards 0/2 at 96 px and 1/2 at 128 px started at once, on a new folder or on one set
    for 256 px that holds none: at most one runs (on a new folder exactly one), every other
    is refused (exit 2), and every thumbnail on disk has the size the folder keeps."""
    out = tmp_path / "race"
    if pinned:
        pinned_by_unknown_image(emulator, out)
    procs = [
        start_cli("harvest", "--base-url", emulator.base_url, "--out", str(out), "--rate",
                  "none", "--quiet", "--plate", str(SMALL_PLATE), "--artifacts", "thumbnail",
                  "--thumbnail-size", size, "--shard", f"{k}/2")
        for k, size in enumerate(("96", "128"))
    ]  # fmt: skip
    codes: dict[int, int] = {}
    for size, proc in zip((96, 128), procs, strict=True):
        with reaped(proc):
            _out, err = proc.communicate(timeout=120)
            codes[size] = proc.returncode
            assert proc.returncode in (0, 2), err
            if proc.returncode == 2:
                assert "thumbnails made with --thumbnail-size" in err, err
    winners = [size for size, code in codes.items() if code == 0]
    assert len(winners) == 1 if not pinned else len(winners) <= 1, codes
    size = kept(out)["thumbnail_size"]
    assert size == (winners[0] if winners else 256)
    assert thumbnail_sizes(out) == [size] * (4 if winners else 0)

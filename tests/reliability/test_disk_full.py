"""Disk full through the CLI: a small tmpfs mounted by the test fills up mid-harvest."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_helpers import (
    DEMO_IMAGES,
    DEMO_PROJECT,
    DEMO_SCREEN,
    Harvested,
    assert_artifacts_recorded_once,
    assert_one_line_error,
    assert_verify_clean,
    cli,
    cli_env,
    content,
    done_counts,
    error_lines,
    every_file,
    harvest_args,
    temp_files,
)

from harvester.emulator import EmulatorThread

SMALL = "3m"  # the demo screen + project need about 10 MB
#: For a child under a file-size limit: a module compiled then would be cut short in
#: ``__pycache__`` (a short write under the limit is no error), and every later run of the
#: package failed to import it (``EOFError: EOF read where object expected``).
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}
#: The demo project's images, each a line of its plan.
DEMO_PROJECT_IMAGES = 8
#: A file-size limit the demo project's plan and study files go over (its journal fits).
PLAN_LIMIT = 3000
LARGE = "64m"


def run_under_file_size_limit(argv: list[str], limit: int) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGV`` in a child whose files may not grow past ``limit`` bytes
    (RLIMIT_FSIZE), writing no bytecode (:data:`NO_BYTECODE`)."""

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "harvester", *argv],
        capture_output=True,
        text=True,
        env=cli_env() | NO_BYTECODE,
        preexec_fn=set_limit,
        timeout=120,
        check=False,
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs mounted for this test (needs root; skipped with the reason otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL}", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_clear_error_nothing_lost_rerun_completes(
    reference: Harvested,
    small_disk: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """ENOSPC mid-run: one 'error:' line, non-zero exit, no traceback; every file journaled
    before stays intact (verify clean), no temp file left; after the disk grows, the same
    command completes and equals a clean harvest, each artifact journaled once."""
    emu = make_emulator(preset="demo")
    out = small_disk / "harvest"
    argv = harvest_args(
        emu.base_url,
        out,
        "--screen", str(DEMO_SCREEN),
        "--project", str(DEMO_PROJECT),
        rate="none",
    )  # fmt: skip
    full = cli(*argv)
    assert full.returncode == 1, full.stderr  # the README's "stopped mid-run by a full disk"
    error = assert_one_line_error(full.stderr, "disk full")
    assert error.split("while writing ")[1].startswith(("images/", "study/", "journals/")), error
    kept = done_counts(out)  # every recorded file still has its size and sha256
    assert sum(kept.values()) > 0, "the disk filled before anything was recorded"
    assert temp_files(out) == []
    assert_verify_clean(out)
    grown = subprocess.run(["mount", "-o", f"remount,size={LARGE}", str(small_disk)], check=False)
    assert grown.returncode == 0
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert content(out, emu.base_url) == content(reference.out, reference.base_url)
    assert_artifacts_recorded_once(out, DEMO_IMAGES)
    assert temp_files(out) == []


def test_file_size_limit_clear_error_then_rerun(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """RLIMIT_FSIZE (no root needed): the first file over the limit stops the run with one
    'error:' line naming it and a hint naming the limit, exit 1, no traceback; what was
    recorded verifies clean, no temp file is left, and the same command without the limit
    completes."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "harvest"
    argv = harvest_args(emu.base_url, out, "--project", str(DEMO_PROJECT), rate="none")
    first = cli(*argv, "--artifacts", "thumbnail,metadata")  # recorded before the limit
    assert first.returncode == 0, first.stderr
    recorded = every_file(out / "images")
    # The four default kinds, named: a run given none takes the folder's (thumbnail,metadata).
    argv += ["--artifacts", "thumbnail,imgdata,render,metadata"]
    limited = run_under_file_size_limit(argv, 8000)  # renders ~20 KB; thumbnails, JSON < 8 KB
    assert limited.returncode == 1, limited.stderr
    assert_one_line_error(limited.stderr, "file too large", "images/")
    assert "hint: raise the file-size limit (ulimit -f, or the batch system's)" in limited.stderr
    assert sum(done_counts(out).values()) >= 16
    changed = [k for k, v in recorded.items() if every_file(out / "images").get(k) != v]
    assert changed == []
    assert temp_files(out) == []
    assert_verify_clean(out)
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert_artifacts_recorded_once(out, 8)
    assert temp_files(out) == []


def test_a_stack_over_the_file_size_limit_says_what_to_do_and_the_rerun_asks_no_plane(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A stack over RLIMIT_FSIZE (its planes, each smaller, staged): the limit is named with
    what to do, as for every other file, where it said "cannot write stack of image N:
    [Errno 27] File too large" with no hint; the same command without the limit writes the
    stack from the staged planes, asking for none again."""
    out = tmp_path / "harvest"
    argv = harvest_args(emulator.base_url, out, "--image", "9762885", rate="none")
    argv += ["--artifacts", "stack"]
    limited = run_under_file_size_limit(argv, 500_000)  # 4 planes ~230 KB; the stack ~960 KB
    assert limited.returncode == 1, limited.stderr
    assert assert_one_line_error(limited.stderr) == (
        "error: file too large for this filesystem or process limit while writing the stack "
        "of image 9762885"
    )
    assert "hint: raise the file-size limit (ulimit -f, or the batch system's)" in limited.stderr
    assert len(list((out / "staging" / "9762885").glob("*.jpg"))) == 4
    emulator.reset_stats()
    rerun = cli(*argv)
    assert rerun.returncode == 0, rerun.stderr
    assert emulator.stats()["by_route"].get("image:render") is None  # no plane asked again
    assert len(list((out / "images").rglob("9762885.stack.ome.tif"))) == 1
    assert temp_files(out) == []


def _fill(disk: Path) -> Path:
    """Fill ``disk`` to its last byte with one file (unbuffered writes until ENOSPC)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


def test_a_first_run_on_a_full_disk_leaves_nothing_new_behind(
    small_disk: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A first run into a new folder on a full disk: one 'error:' line, exit 1 (a full disk's
    code, as mid-run; it was 2, bad input), its hint to run the same command (it said "to
    resume", a run that never started), and no folder left
    behind (it left DIR/ with journals/ and locks/: a harvester folder with nothing in
    it), nor the folders of a path through ``..``; given a folder that existed, that
    folder and all it held stay, with nothing added. With space again, the same command
    harvests."""
    emu = make_emulator(preset="demo")
    existing = small_disk / "existing"
    (existing / "locks").mkdir(parents=True)  # (what a folder held is not the run's)
    (existing / "notes.txt").write_text("mine\n")
    filler = _fill(small_disk)
    new = small_disk / "new" / "demo"
    through = small_disk / "made" / ".." / "other" / "demo"  # ("made" too: left behind)

    def command(out: Path) -> list[str]:
        return harvest_args(
            emu.base_url, out, "--project", str(DEMO_PROJECT), rate="none", artifacts="thumbnail"
        )

    for out in (new, through, existing):
        full = cli(*command(out))
        assert full.returncode == 1, full.stderr  # a full disk, as mid-run: not bad input
        assert_one_line_error(full.stderr, "disk full", str(out))
        # (a run that never started has nothing to resume)
        assert error_lines(full.stderr)[1:] == [
            "hint: free some space (or choose another --out) and run the same command"
        ], full.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == ["existing", "filler"]
    assert sorted(p.name for p in existing.iterdir()) == ["locks", "notes.txt"]
    assert list((existing / "locks").iterdir()) == []
    filler.unlink()
    again = cli(*command(new))
    assert again.returncode == 0, again.stderr
    assert sum(done_counts(new).values()) > 0


def test_a_plan_over_the_file_size_limit_exits_1_and_the_same_command_then_plans(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``harvester plan`` whose files go over a file-size limit (EFBIG, as a full disk):
    one 'error:' line naming the file, exit 1 as the exit table says of a full disk or
    file-size limit for any command (it was 2, bad input: the store's error raised again
    lost that it was one, and the plan's own lines said only ``error: File too large``),
    no plan published; without the limit the same command writes the plan whole."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "planned"
    argv = ["plan", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT), "--out", str(out)]
    limited = run_under_file_size_limit(argv, PLAN_LIMIT)
    assert limited.returncode == 1, limited.stderr
    assert_one_line_error(limited.stderr, "too large")
    assert not (out / "plan").exists()
    planned = cli(*argv)
    assert planned.returncode == 0, planned.stderr
    assert len((out / "plan" / "images.jsonl").read_text().splitlines()) == DEMO_PROJECT_IMAGES


#: A file-size limit ``forgotten.json`` (a target set's entry) and index.csv go over.
TINY_LIMIT = 100
#: What ``forget`` and ``index`` say to do once there is space: neither resumes anything,
#: nor keeps "finished files" (a harvest's words, which they said).
RUN_AGAIN = "run the same command again"


def _small_plate_folder(emu: EmulatorThread, out: Path) -> list[str]:
    """DIR with SMALL_PLATE's thumbnails; the harvest's argv."""
    argv = harvest_args(emu.base_url, out, "--plate", "7375", rate="none", artifacts="thumbnail")
    done = cli(*argv)
    assert done.returncode == 0, done.stderr
    return argv


def test_forget_and_index_over_the_file_size_limit_say_to_run_them_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``forget`` and ``index`` stopped by a file-size limit: exit 1, one 'error:' line, and
    a hint to raise the limit, then run the same command again (they said "re-run the same
    command to resume; finished files are kept": a harvest's words); without the limit the
    same commands do their work."""
    out = tmp_path / "d"
    _small_plate_folder(make_emulator(preset="demo"), out)
    for argv, needle in (
        (["forget", str(out), "--plate", "7375"], "forgotten.json"),
        (["index", str(out)], "index.csv"),
    ):
        limited = run_under_file_size_limit(argv, TINY_LIMIT)
        assert limited.returncode == 1, limited.stderr
        assert_one_line_error(limited.stderr, "file too large", needle)
        assert error_lines(limited.stderr)[1:] == [
            f"hint: raise the file-size limit (ulimit -f, or the batch system's), then {RUN_AGAIN}"
        ], limited.stderr
        assert "resume" not in limited.stderr, limited.stderr
        again = cli(*argv)
        assert again.returncode == 0, again.stderr
    assert (out / "forgotten.json").is_file()


def test_forget_and_index_on_a_full_disk_say_to_free_space_and_run_them_again(
    small_disk: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``forget`` (a target set, and gone images) and ``index`` on a full disk: exit 1, one
    'error:' line, the hint to free some space and run the same command again (not "to
    resume"); nothing recorded; with space again the same commands work."""
    emu = make_emulator(preset="demo")
    out = small_disk / "d"
    gone = small_disk / "gone.txt"
    gone.write_text("99999991\n")  # (an id the server lacks: 404, a gone image)
    argv = harvest_args(emu.base_url, out, "--ids-from", str(gone), rate="none")
    assert cli(*argv, "--artifacts", "thumbnail").returncode == 1
    (out / "index.csv").unlink()
    filler = _fill(small_disk)
    commands = (  # (the set forgotten last: its failed image is then no failure of DIR)
        (["forget", str(out), "--gone-ids-from", str(gone)], "gone_images.json"),
        (["index", str(out)], "index.csv"),
        (["forget", str(out), "--ids-from", str(gone)], "forgotten.json"),
    )
    for command, needle in commands:
        full = cli(*command)
        assert full.returncode == 1, full.stderr
        assert_one_line_error(full.stderr, "disk full", needle)
        assert error_lines(full.stderr)[1:] == [f"hint: free some space and {RUN_AGAIN}"], (
            full.stderr
        )
        assert not (out / needle).exists()
    filler.unlink()
    for command, needle in commands:
        again = cli(*command)
        assert again.returncode == 0, again.stderr
        assert (out / needle).is_file()


def test_forget_and_index_in_a_read_only_folder_say_what_to_do_with_dir(
    small_disk: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``forget`` and ``index`` in a DIR remounted read-only: exit 2, one 'error:' line, and
    a hint about DIR, the argument they were given (they said "choose a writable --out
    folder": neither has --out); remounted writable, the same commands work."""
    emu = make_emulator(preset="demo")
    out = small_disk / "d"
    _small_plate_folder(emu, out)
    (out / "index.csv").unlink()
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    subprocess.run(remount, check=True, capture_output=True)
    commands = (
        (["forget", str(out), "--plate", "7375"], "forgotten.json"),
        (["index", str(out)], "index.csv"),
    )
    try:
        for command, needle in commands:
            refused = cli(*command)
            assert refused.returncode == 2, refused.stderr
            assert_one_line_error(refused.stderr, "read-only")
            assert "--out" not in refused.stderr, refused.stderr
            hint = f"remount DIR writable, or give a writable copy of it as DIR, then {RUN_AGAIN}"
            assert error_lines(refused.stderr)[1:] == [f"hint: {hint}"], refused.stderr
            assert not (out / needle).exists()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    for command, needle in commands:
        again = cli(*command)
        assert again.returncode == 0, again.stderr
        assert (out / needle).is_file()

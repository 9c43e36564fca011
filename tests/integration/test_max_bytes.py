"""``--max-bytes SIZE``: a run stops asking for images once the files it stored total SIZE.

HPC quotas and small disks: rclone's ``--max-transfer``. The run stops as an interruption
does (every finished file journaled, the rest pending), says so on its last line and exits
8; the same command continues with a budget of its own. Each harvest talks to the emulator
over loopback sockets; the bytes checked are those on disk.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_helpers import released_when
from harvest_helpers import Reference

from harvester.cli import EXIT_BUDGET, main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.errors import PROBLEMS_LOGGER, ConfigError

CONCURRENCY = 4
BUDGET = "200K"
BUDGET_BYTES = 200 * 1024
ARTIFACTS = "thumbnail,imgdata"
#: Runs of the same command at most before the whole set must be done (the demo's 88
#: images' thumbnails and imgData are about 590 KiB: three budgets of 200 KiB).
MOST_RUNS = 8


def _ids_file(reference: Reference, folder: Path) -> Path:
    """Every image id of the reference harvest, one a line (given by id: no study files,
    so the bytes on disk are the images' alone)."""
    with (reference.out / "index.csv").open(newline="", encoding="utf-8") as f:
        ids = sorted({row["image_id"] for row in csv.DictReader(f)})
    path = folder / "ids.txt"
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def _files(out: Path) -> dict[Path, os.stat_result]:
    """DIR's image files and their stat (size, inode, mtime)."""
    images = out / "images"
    return {p: p.stat() for p in images.rglob("*") if p.is_file()} if images.is_dir() else {}


def _harvest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """One in-process ``harvester harvest ARGS``: exit code, stdout, stderr."""
    code = main(["harvest", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_budget_stops_near_it_and_the_same_command_finishes_the_rest(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """Each run of the same command stores at least the budget and less than the budget plus
    one file per request in flight, exits 8 with a last line saying the budget was reached
    and how to continue; the runs together store every file once (none fetched twice, the
    earlier runs' files untouched) and the last one exits 0."""
    out = tmp_path / "out"
    command = [
        "--base-url", emulator.base_url, "--ids-from", str(_ids_file(reference, tmp_path)),
        "--out", str(out), "--artifacts", ARTIFACTS, "--rate", "none",
        "--concurrency", str(CONCURRENCY), "--max-bytes", BUDGET, "-q",
    ]  # fmt: skip
    runs: list[tuple[dict[Path, os.stat_result], dict[Path, os.stat_result]]] = []
    code = EXIT_BUDGET
    while code == EXIT_BUDGET:
        assert len(runs) < MOST_RUNS, "the budget's runs never finished the set"
        before = _files(out)
        code, _stdout, err = _harvest(capsys, *command)
        after = _files(out)
        runs.append((before, after))
        if code == EXIT_BUDGET:
            last = err.strip().splitlines()[-1]
            assert last.startswith(f"stopped: the --max-bytes budget of {BUDGET} was reached;")
            assert "the rest is pending: continue (with a new budget) with: harvester " in last
            assert f"--max-bytes {BUDGET}" in last
    assert code == 0, err
    assert len(runs) >= 3  # the budget stopped the first runs, not the set's end
    everything = runs[-1][1]
    largest = max(stat.st_size for stat in everything.values())
    # Each image's thumbnail and imgData, once: the runs' new files add up to them.
    assert len(everything) == 2 * len(_ids_file(reference, tmp_path).read_text().split())
    for before, after in runs[:-1]:
        new = set(after) - set(before)
        stored = sum(after[p].st_size for p in new)
        assert BUDGET_BYTES <= stored < BUDGET_BYTES + CONCURRENCY * largest
        for path, stat in before.items():  # nothing fetched again, nothing rewritten
            assert (after[path].st_ino, after[path].st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert sum(len(set(after) - set(before)) for before, after in runs) == len(everything)
    for path, stat in runs[0][1].items():
        assert (everything[path].st_ino, everything[path].st_mtime_ns) == (
            stat.st_ino,
            stat.st_mtime_ns,
        )


def test_a_resume_replays_the_saved_budget_and_none_lifts_it(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """``harvester harvest --out DIR`` replays a run's ``--max-bytes`` as it replays
    ``--rate`` (said on its resuming line, exit 8 again), and ``--max-bytes none`` given to
    the resume lifts it: every file done, exit 0."""
    out = tmp_path / "out"
    code, _out, err = _harvest(
        capsys,
        "--base-url", emulator.base_url, "--ids-from", str(_ids_file(reference, tmp_path)),
        "--out", str(out), "--artifacts", ARTIFACTS, "--rate", "none",
        "--concurrency", str(CONCURRENCY), "--max-bytes", BUDGET, "-q",
    )  # fmt: skip
    assert code == EXIT_BUDGET, err
    code, _out, err = _harvest(capsys, "--out", str(out), "--rate", "none")
    assert code == EXIT_BUDGET, err
    assert f"--max-bytes {BUDGET}" in err.splitlines()[0]  # the resuming line says it
    assert f"stopped: the --max-bytes budget of {BUDGET} was reached" in err
    code, _out, err = _harvest(capsys, "--out", str(out), "--rate", "none", "--max-bytes", "none")
    assert code == 0, err
    assert err.splitlines()[0].endswith("; given now: --rate none --max-bytes none")
    assert len(_files(out)) == 2 * len(_ids_file(reference, tmp_path).read_text().split())


def test_each_shard_has_its_own_budget(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """Two shards of one folder given the same ``--max-bytes`` (as a job array's tasks are)
    each store about the budget: one shard's bytes take nothing from the other's."""
    out = tmp_path / "out"
    ids = str(_ids_file(reference, tmp_path))
    stored = []
    for shard in ("0/2", "1/2"):
        before = _files(out)
        code, _out, err = _harvest(
            capsys,
            "--base-url", emulator.base_url, "--ids-from", ids, "--out", str(out),
            "--artifacts", ARTIFACTS, "--rate", "none", "--concurrency", str(CONCURRENCY),
            "--max-bytes", BUDGET, "--shard", shard, "-q",
        )  # fmt: skip
        assert code == EXIT_BUDGET, err
        after = _files(out)
        stored.append(sum(after[p].st_size for p in set(after) - set(before)))
    largest = max(stat.st_size for stat in _files(out).values())
    for nbytes in stored:
        assert BUDGET_BYTES <= nbytes < BUDGET_BYTES + CONCURRENCY * largest


@pytest.mark.parametrize("junk", ["lots", "0", "-1", "1.5.5", "10X", "1e9", ""])
def test_junk_sizes_are_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, junk: str
) -> None:
    """A ``--max-bytes`` that is no size of at least one byte is one ``error:`` line naming
    the flag and a ``hint:`` with examples, exit 2, before any request: no folder made."""
    out = tmp_path / "out"
    code, stdout, err = _harvest(
        capsys, "--base-url", "http://127.0.0.1:9", "--image", "1", "--out", str(out),
        "--max-bytes", junk,
    )  # fmt: skip
    assert code == 2
    assert stdout == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"error: --max-bytes: {junk!r} ")
    assert lines[1].startswith("hint: e.g. 500M, 20G, 1.5T")
    assert len(lines) == 2
    assert not out.exists()


def test_a_config_files_junk_size_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``max_bytes`` in a config file that is no size is said with the file and its key."""
    config = tmp_path / "c.toml"
    config.write_text('max_bytes = "plenty"\n', encoding="utf-8")
    code, _out, err = _harvest(capsys, str(config), "--image", "1", "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith(f"error: {config}: max_bytes: 'plenty' is not a size\n")


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The problem lines logged (what ``-q`` still prints)."""
    return [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]


def test_a_small_budget_without_a_unit_is_said_in_bytes(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    emulator: EmulatorThread,
) -> None:
    """``--max-bytes 20`` is 20 bytes, as documented, but most likely 20G meant: one
    warning says so with the flag to give (``-q`` too), the run stops after its first file
    (exit 8), and its closing line names the unit: "of 20 bytes" (it said "of 20")."""
    out = tmp_path / "out"
    code, _out, err = _harvest(
        capsys,
        "--base-url", emulator.base_url, "--image", "1884801,1884805", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--concurrency", "1",
        "--max-bytes", "20", "-q",
    )  # fmt: skip
    assert code == EXIT_BUDGET, err
    assert _problems(caplog) == [
        "--max-bytes 20 is 20 bytes (a size without a unit is bytes), less than a thumbnail: "
        "the run stops after its first files; for 20 GiB, give --max-bytes 20G"
    ]
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped: the --max-bytes budget of 20 bytes was reached; every ")
    assert len(_files(out)) == 1


#: The warning's words after the budget as given and its size in bytes.
_UNITLESS = " (a size without a unit is bytes), less than a thumbnail: the run stops after its "


@pytest.mark.parametrize(
    ("flag", "in_file", "warning"),
    [
        (None, "max_bytes = 1", "max_bytes = 1 in {config} is 1 byte" + _UNITLESS
         + 'first files; for 1 GiB, write max_bytes = "1G"'),
        (None, 'max_bytes = "500"', 'max_bytes = "500" in {config} is 500 bytes' + _UNITLESS
         + 'first files; for 500 GiB, write max_bytes = "500G"'),
        ("1.5", 'max_bytes = "2"', "--max-bytes 1.5 is 1 byte" + _UNITLESS  # (the flag wins)
         + "first files; for 1.5 GiB, give --max-bytes 1.5G"),
        ("1023", None, "--max-bytes 1023 is 1023 bytes" + _UNITLESS
         + "first files; for 1023 GiB, give --max-bytes 1023G"),
        ("1024", None, None),  # (bytes meant: 1 KiB, no run's stop at its first file)
        ("20B", None, None),  # (a unit: bytes said on purpose)
        (None, 'max_bytes = "20B"', None),
        ("20G", "max_bytes = 20", None),
        ("2k", None, None),
        ("none", "max_bytes = 20", None),
    ],
)  # fmt: skip
def test_only_a_small_budget_without_a_unit_is_warned_of(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    flag: str | None,
    in_file: str | None,
    warning: str | None,
) -> None:
    """A flag's or a config file's number under 1 KiB without a unit is warned of once,
    named as given (the file's with its path, and the quoted form to write there), before
    any request; a unit (``20B`` too), 1 KiB or more, or ``none`` is not, nor a dry run's
    budget (it ignores it)."""
    config = tmp_path / "c.toml"
    config.write_text(f"{in_file or ''}\n", encoding="utf-8")
    flags = ["--max-bytes", flag] if flag is not None else []
    code, _out, _err = _harvest(
        capsys, str(config), "--base-url", "http://127.0.0.1:9", "--image", "1",
        "--out", str(tmp_path / "o"), "--max-retries", "0", *flags,
    )  # fmt: skip
    assert code == 2  # (nothing answers there)
    assert _problems(caplog) == ([] if warning is None else [warning.format(config=config)])
    caplog.clear()
    _harvest(capsys, str(config), "--image", "1", "--out", str(tmp_path / "o"), "--dry-run",
             "--base-url", "http://127.0.0.1:9", "--max-retries", "0", *flags)  # fmt: skip
    assert _problems(caplog) == []  # (a dry run ignores the budget)


@pytest.mark.parametrize(
    ("given", "nbytes"),
    [("500M", 500 << 20), ("20G", 20 << 30), ("1.5T", 3 << 39), ("1048576", 1 << 20),
     ("64 KiB", 64 << 10), ("2kb", 2048), (4096, 4096), ("none", None)],
)  # fmt: skip
def test_sizes_are_read_in_binary_units(given: object, nbytes: int | None) -> None:
    """Sizes read as ``du -h`` and the summary count them: ``500M`` is 500 MiB."""
    assert HarvestConfig(max_bytes=given).max_bytes == nbytes  # type: ignore[arg-type]


def test_a_python_callers_bad_size_is_a_config_error() -> None:
    """A bad ``max_bytes`` given to HarvestConfig directly is refused there too."""
    with pytest.raises(ConfigError, match="max_bytes: 'much' is not a size"):
        HarvestConfig(max_bytes="much")  # type: ignore[arg-type]


def _two_sets(reference: Reference, folder: Path, big_first: bool) -> tuple[Path, Path]:
    """Two ``--ids-from`` files of the reference's images: 10 of them, and the rest
    (``big_first``: the rest is returned first)."""
    ids = _ids_file(reference, folder).read_text(encoding="utf-8").split()
    small, big = folder / "small.txt", folder / "big.txt"
    small.write_text("\n".join(ids[:10]) + "\n", encoding="utf-8")
    big.write_text("\n".join(ids[10:]) + "\n", encoding="utf-8")
    return (big, small) if big_first else (small, big)


def _start_sets(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorThread, out: Path, *files: Path
) -> None:
    """One run of each ``--ids-from`` file into ``out``, in order, each stopped by a budget of
    one byte (a set of DIR with its first file done)."""
    for ids in files:
        code, _out, err = _harvest(
            capsys,
            "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
            "--artifacts", ARTIFACTS, "--rate", "none", "--concurrency", "1",
            "--max-bytes", "1", "-q",
        )  # fmt: skip
        assert code == EXIT_BUDGET, err


def test_a_resume_of_several_sets_shares_one_budget(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """``harvester harvest --out DIR --max-bytes SIZE`` replaying two sets spends one budget:
    the newest set (10 images) finishes, the next stops once both together stored SIZE, not
    SIZE of its own; exit 8."""
    out = tmp_path / "out"
    _start_sets(capsys, emulator, out, *_two_sets(reference, tmp_path, big_first=True))
    before = _files(out)
    code, _out, err = _harvest(
        capsys, "--out", str(out), "--rate", "none", "--concurrency", str(CONCURRENCY),
        "--max-bytes", BUDGET, "-q",
    )  # fmt: skip
    assert code == EXIT_BUDGET, err
    after = _files(out)
    stored = sum(after[p].st_size for p in set(after) - set(before))
    largest = max(stat.st_size for stat in after.values())
    assert BUDGET_BYTES <= stored < BUDGET_BYTES + CONCURRENCY * largest
    assert err.strip().splitlines()[-1].startswith(f"stopped: the --max-bytes budget of {BUDGET}")


def test_a_resume_stops_replaying_once_the_budget_is_spent(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """A resume whose first replay (the newest set) reached the budget replays no other set:
    one line says so and that the same command continues them; the other set's files are
    as they were; exit 8."""
    out = tmp_path / "out"
    small, big = _two_sets(reference, tmp_path, big_first=False)
    _start_sets(capsys, emulator, out, small, big)
    small_ids = small.read_text(encoding="utf-8").split()
    small_files = {p for p in _files(out) if p.name.split(".")[0] in small_ids}
    code, _out, err = _harvest(
        capsys, "--out", str(out), "--rate", "none", "--max-bytes", BUDGET, "-q"
    )
    assert code == EXIT_BUDGET, err
    assert {p for p in _files(out) if p.name.split(".")[0] in small_ids} == small_files
    assert err.strip().splitlines()[-1] == (
        "not replayed: 1 other target set of this resume (the --max-bytes budget is spent); "
        "the same command continues it"
    )


def _measured(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorThread, ids: Path, folder: Path
) -> int:
    """Bytes the images of ``ids`` take on disk: harvested once, with no budget, into
    ``folder`` (the same emulator serves the same bytes to every run)."""
    _harvest_whole(capsys, emulator, ids, folder)
    return sum(stat.st_size for stat in _files(folder).values())


def _harvest_whole(
    capsys: pytest.CaptureFixture[str], emulator: EmulatorThread, ids: Path, out: Path
) -> None:
    """One run of the ``--ids-from`` file ``ids`` into ``out``, with no budget: exit 0."""
    code, _out, err = _harvest(
        capsys,
        "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", ARTIFACTS, "--rate", "none", "-q",
    )  # fmt: skip
    assert code == 0, err


def test_a_run_whose_last_file_reaches_the_budget_ends_complete(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """A budget of exactly what the images take is reached by the run's last file, which
    stops nothing: exit 0, the usual summary and no ``stopped:`` line, every file on disk;
    the same command then fetches nothing (exit 0), as a finished run's does."""
    small, _big = _two_sets(reference, tmp_path, big_first=False)
    total = _measured(capsys, emulator, small, tmp_path / "measured")
    out = tmp_path / "out"
    command = [
        "--base-url", emulator.base_url, "--ids-from", str(small), "--out", str(out),
        "--artifacts", ARTIFACTS, "--rate", "none", "--concurrency", str(CONCURRENCY),
        "--max-bytes", str(total),
    ]  # fmt: skip
    code, stdout, err = _harvest(capsys, *command)
    assert code == 0, err
    assert "stopped" not in err
    assert "stopping" not in err
    assert "budget" not in stdout + err
    files = _files(out)
    assert sum(stat.st_size for stat in files.values()) == total
    assert {p.name for p in files} == {p.name for p in _files(tmp_path / "measured")}
    assert stdout.startswith("done 20 (imgdata 10, thumbnail 10), skipped 0")
    code, stdout, err = _harvest(capsys, *command)
    assert code == 0, err
    assert stdout.startswith("done 0, skipped 20 (already done)")
    assert _files(out) == files


def test_one_image_whose_only_file_spends_the_budget_is_done(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """``--image X --max-bytes 1`` with one artifact: its one file spends the budget and
    the image is done, so the run exits 0 saying nothing of a budget (it exited 8 and said
    the rest was pending, and the rerun then did nothing)."""
    out = tmp_path / "out"
    code, stdout, err = _harvest(
        capsys,
        "--base-url", emulator.base_url, "--image", "1884801", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--max-bytes", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "budget" not in stdout + err
    assert stdout.startswith("done 1 (thumbnail 1), skipped 0")
    assert [p.name for p in _files(out)] == ["1884801.thumbnail.jpg"]


def test_a_set_whose_last_file_spends_the_commands_budget_ends_the_resume(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """A resume's ``--max-bytes`` spent exactly by its first set's last file: that set's
    summary is a complete one (no ``stopped:`` line), the other set is not replayed (one
    line says so) and the resume exits 8, for the same command to continue it."""
    out = tmp_path / "out"
    small, big = _two_sets(reference, tmp_path, big_first=False)
    _start_sets(capsys, emulator, out, big, small)  # (small is the newest: replayed first)
    small_ids = small.read_text(encoding="utf-8").split()
    stored = sum(s.st_size for p, s in _files(out).items() if p.name.split(".")[0] in small_ids)
    left = _measured(capsys, emulator, small, tmp_path / "measured") - stored
    big_ids = big.read_text(encoding="utf-8").split()
    big_files = {p for p in _files(out) if p.name.split(".")[0] in big_ids}
    code, _out, err = _harvest(
        capsys, "--out", str(out), "--rate", "none", "--max-bytes", str(left), "-q"
    )
    assert code == EXIT_BUDGET, err
    assert "stopped:" not in err
    assert err.strip().splitlines()[-1] == (
        "not replayed: 1 other target set of this resume (the --max-bytes budget is spent); "
        "the same command continues it"
    )
    assert len([p for p in _files(out) if p.name.split(".")[0] in small_ids]) == 20
    assert {p for p in _files(out) if p.name.split(".")[0] in big_ids} == big_files


def test_a_budget_spent_with_the_other_sets_complete_ends_the_resume_complete(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    emulator: EmulatorThread,
) -> None:
    """As above, but the other set is complete: nothing is left in DIR once the first set's
    last file spends the budget, so the resume ends 0 with no ``not replayed`` line, as the
    same command then does. It exited 8 saying the same command continued the other set,
    which its rerun found complete."""
    out = tmp_path / "out"
    small, big = _two_sets(reference, tmp_path, big_first=False)
    _harvest_whole(capsys, emulator, big, out)
    _start_sets(capsys, emulator, out, small)  # (the newest: replayed first)
    small_ids = small.read_text(encoding="utf-8").split()
    stored = sum(s.st_size for p, s in _files(out).items() if p.name.split(".")[0] in small_ids)
    left = _measured(capsys, emulator, small, tmp_path / "measured") - stored
    resume = ["--out", str(out), "--rate", "none", "--max-bytes", str(left), "-q"]
    code, _out, err = _harvest(capsys, *resume)
    assert code == 0, err
    assert "not replayed" not in err and "stopped:" not in err
    assert len([p for p in _files(out) if p.name.split(".")[0] in small_ids]) == 20
    files = _files(out)
    code, _out, err = _harvest(capsys, *resume)
    assert code == 0, err
    assert _files(out) == files


def test_a_sets_saved_budget_is_its_own_in_a_resume(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    reference: Reference,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A resume given no ``--max-bytes`` replays each set's saved budget for that set
    alone: the bytes of a set saved with none (replayed first) take nothing from the next
    set's budget, which stores its whole SIZE and stops there (exit 8)."""
    small, big = _two_sets(reference, tmp_path, big_first=False)
    small_ids = small.read_text(encoding="utf-8").split()
    # The small set's thumbnails fail on their first asking (no retry): its run saves no
    # budget and leaves them all failed, for the resume to fetch.
    only = "|".join(f"/webgateway/render_thumbnail/{i}/" for i in small_ids)
    emulator = make_emulator(preset="demo", faults=f"first:500*{len(small_ids)},only:{only}")
    out = tmp_path / "out"
    common = ["--base-url", emulator.base_url, "--out", str(out), "--artifacts", "thumbnail"]
    common += ["--rate", "none", "--concurrency", "1", "-q"]
    code, _out, err = _harvest(capsys, *common, "--ids-from", str(big), "--max-bytes", "20K")
    assert code == EXIT_BUDGET, err
    code, _out, err = _harvest(capsys, *common, "--ids-from", str(small), "--max-retries", "0")
    assert code == 1, err
    before = _files(out)
    assert not any(p.name.split(".")[0] in small_ids for p in before)
    code, _out, err = _harvest(capsys, "--out", str(out), "--rate", "none", "-q")
    assert code == EXIT_BUDGET, err
    after = _files(out)
    new = set(after) - set(before)
    small_bytes = sum(after[p].st_size for p in new if p.name.split(".")[0] in small_ids)
    big_bytes = sum(after[p].st_size for p in new if p.name.split(".")[0] not in small_ids)
    assert len([p for p in new if p.name.split(".")[0] in small_ids]) == len(small_ids)
    assert small_bytes > 20 * 1024  # (more than the big set's budget: it took nothing of it)
    largest = max(stat.st_size for stat in after.values())
    assert 20 * 1024 <= big_bytes < 20 * 1024 + largest
    assert err.strip().splitlines()[-1].startswith("stopped: the --max-bytes budget of 20K")
    assert "not replayed" not in err


#: The emulator's gate a listing's answer is held at until the test releases it, once the
#: workers stored every file queued before it (``released_when``): whatever the machine's load.
GATE = "listing"


def _stored(out: Path) -> int:
    """Bytes of DIR's image and study files: what a run's budget counts."""
    return sum(
        p.stat().st_size
        for folder in (out / "images", out / "study")
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file()
    )


def _study_files(out: Path) -> set[str]:
    """The names of DIR's study files (``plate-7375/wells.json``...)."""
    study = out / "study"
    if not study.is_dir():
        return set()
    return {str(p.relative_to(study)) for p in study.rglob("*") if p.is_file()}


def _budgeted_after_measuring(
    capsys: pytest.CaptureFixture[str],
    emulator: EmulatorThread,
    tmp_path: Path,
    measured_command: list[str],
    measure: Callable[[Path], int],
) -> int:
    """``measure`` of what ``measured_command`` stores, harvested with no budget into a folder
    of its own; the emulator's faults are then started again, for the run under test to meet
    them as this one did (its study files name the emulator's URL: only it serves the bytes).
    The gate is open for this run (nothing to wait for) and closed again by the reset."""
    folder = tmp_path / "measured"
    emulator.release(GATE)
    code, _out, err = _harvest(capsys, *measured_command, "--out", str(folder))
    assert code == 0, err
    emulator.reset_stats()
    return measure(folder)


def test_a_walk_still_listing_after_its_last_image_ends_complete(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The budget reached by the last file while the walk still waits on a listing that finds
    no new image stopped nothing: exit 0, no word of a budget, every file stored; the same
    command then stores nothing (exit 0). Image 1884804, given again after its dataset, has
    its labels asked once more: that answer is held at the emulator's gate until every file
    is stored (the budget reached). Such a run exited 8 saying the rest was pending (in 1 run
    of 6 to 30 where the budget was the bytes left), and a ``case $? in 8) resubmit`` script
    resubmitted a complete study."""
    # The second annotations request is the repeated image's (the first, the dataset's page,
    # is answered before any image of it is queued).
    emulator = make_emulator(
        preset="demo", faults=f"first:ok|hold,hold:{GATE},only:/webclient/api/annotations/"
    )
    command = [
        "--base-url", emulator.base_url, "--dataset", "51", "--image", "1884804",
        "--artifacts", ARTIFACTS, "--rate", "none", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    total = _budgeted_after_measuring(capsys, emulator, tmp_path, command, _stored)
    out = tmp_path / "out"
    budgeted = [*command, "--out", str(out), "--max-bytes", str(total)]
    with released_when(emulator, GATE, lambda: _stored(out) == total, "stored the budget"):
        code, stdout, err = _harvest(capsys, *budgeted)
    assert code == 0, err
    assert "stopped" not in err
    assert "budget" not in stdout + err
    assert stdout.startswith("done 8 (imgdata 4, thumbnail 4), skipped 0")
    assert _stored(out) == total
    files = _files(out)
    code, stdout, err = _harvest(capsys, *budgeted)
    assert code == 0, err
    assert stdout.startswith("done 0, skipped 8 (already done)")
    assert _files(out) == files


def test_a_walk_that_finds_an_image_to_fetch_after_the_budget_stops_there(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The budget reached while the walk waits on a listing that then finds an image not
    fetched yet (1884805, of the other dataset, given as ``--image``): the walk was cut
    short, so the run stops there (exit 8, the ``stopped:`` line) storing nothing of that
    image, and the same command fetches it and ends complete."""
    emulator = make_emulator(
        preset="demo", faults=f"first:ok|hold,hold:{GATE},only:/webclient/api/annotations/"
    )
    common = [
        "--base-url", emulator.base_url, "--artifacts", ARTIFACTS, "--rate", "none",
        "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    budget = _budgeted_after_measuring(
        capsys, emulator, tmp_path, [*common, "--dataset", "51"], _stored
    )
    out = tmp_path / "out"
    command = [*common, "--dataset", "51", "--image", "1884805", "--out", str(out)]
    command += ["--max-bytes", str(budget)]
    with released_when(emulator, GATE, lambda: _stored(out) == budget, "stored the budget"):
        code, _out, err = _harvest(capsys, *command)
    assert code == EXIT_BUDGET, err
    assert err.strip().splitlines()[-1].startswith("stopped: the --max-bytes budget of ")
    assert _stored(out) == budget
    assert not any(p.name.startswith("1884805.") for p in _files(out))
    code, _out, err = _harvest(capsys, *command)
    assert code == 0, err
    assert {p.name for p in _files(out) if p.name.startswith("1884805.")} == {
        "1884805.imgdata.json",
        "1884805.thumbnail.jpg",
    }


def test_study_files_left_when_the_budget_is_reached_are_work_left(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """A plate's last image reaches the budget while its walk still asks the plate's runs
    (held) and grids for its study files: those are work left, not stored past the budget
    (exit 8, no study file on disk), and the same command stores them, fetching no image
    again, and ends complete."""
    emulator = make_emulator(
        preset="demo", faults=f"first:hold,hold:{GATE},only:/webclient/api/plate_acquisitions/"
    )
    command = [
        "--base-url", emulator.base_url, "--plate", "7375", "--artifacts", ARTIFACTS,
        "--rate", "none", "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    images_bytes = _budgeted_after_measuring(
        capsys,
        emulator,
        tmp_path,
        command,
        lambda folder: sum(stat.st_size for stat in _files(folder).values()),
    )
    out = tmp_path / "out"
    budgeted = [*command, "--out", str(out), "--max-bytes", str(images_bytes)]

    def images_stored() -> bool:
        return sum(stat.st_size for stat in _files(out).values()) == images_bytes

    with released_when(emulator, GATE, images_stored, "stored the plate's images"):
        code, _out, err = _harvest(capsys, *budgeted)
    assert code == EXIT_BUDGET, err
    assert err.strip().splitlines()[-1].startswith("stopped: the --max-bytes budget of ")
    assert _study_files(out) == set()
    images = _files(out)
    assert len(images) == 16
    code, stdout, err = _harvest(capsys, *budgeted)
    assert code == 0, err
    assert stdout.startswith("done 0, skipped 16 (already done)")
    assert _study_files(out) == _study_files(tmp_path / "measured")
    assert _files(out) == images

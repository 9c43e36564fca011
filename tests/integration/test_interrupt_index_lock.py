"""Ctrl-C or SIGTERM while another process holds ``DIR/locks/index.lock``.

``harvester index`` labelling a big folder holds the index lock for long; a harvest ending
meanwhile waits for it (up to 2 minutes) in a worker thread that no cancellation reached, so
a stop took that long. Now the wait gives up on the run's stop: the run exits 130 within
seconds, every finished file journaled, and its summary says that ``index.csv`` is left to
the next write, which the resume makes.

The same holds for the other waits for that lock: a harvest recording ``--split`` or
``--label-ids-from`` as it opens DIR, or its label keys after its index (a typo left out, a
rerun's keys carried over a record of others), gives the record up on a stop, which the same
command run again writes; ``harvester index`` waiting for it ends on Ctrl-C or SIGTERM too.

The stopped command runs in a subprocess (the real command line; the harvests before it and
the runs again after it as ``harvester ARGS`` in the test process, tests/cli_in_process.py),
against the emulator over loopback sockets; another process holds the lock as ``harvester
index`` would, until the test ends; every wait bounded.
Nothing is timed: the signal goes once the command has found the lock held (a file it
touches then), and "within seconds" is an outcome: the command ended, exit 130, while the
lock was still held, well before its own wait for it (``INDEX_LOCK_WAIT``) could have ended.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from child_scripts import checked
from gate_helpers import held_after, holding
from harvest_helpers import (
    SMALL_PLATE,
    cli_env,
    reaped,
    run_cli,
    start_cli,
    temp_files,
    wait_for_files,
)
from label_keys_helpers import GENE, labels

from harvester.emulator import EmulatorThread
from harvester.folder_settings import read_label_keys_record
from harvester.index import INDEX_LOCK_WAIT

OTHER_PLATE = 7361  # 8 images
#: Bounds every wait, the stopped command's end too: less than its own wait for the lock
#: (INDEX_LOCK_WAIT), so that a command which waited the lock out cannot pass.
WAIT = 60.0
assert WAIT < INDEX_LOCK_WAIT

#: Run first by the child scripts below: takes its argv[1] (removed from argv), a file it
#: touches once an attempt to take DIR's index lock found it held by another process: the
#: command is in its wait for the lock from then on (a signal now must cut that wait short).
WAITING_SIGN = checked("""
import fcntl, sys
from pathlib import Path
import harvester.runlock as runlock
waiting = Path(sys.argv.pop(1))
watched = set()
real_within, real_flock = runlock._flock_within, fcntl.flock
def within(fd, path, *args, **kwargs):
    if path.name == "index.lock":
        watched.add(fd)
    try:
        return real_within(fd, path, *args, **kwargs)
    finally:
        watched.discard(fd)
def flock(fd, operation):
    try:
        return real_flock(fd, operation)
    except OSError as exc:
        if fd in watched and exc.errno in runlock.FLOCK_HELD:
            waiting.touch()
        raise
runlock._flock_within, fcntl.flock = within, flock
""")

#: ``harvester ARGV[2:]`` that touches argv[1] once it waits for DIR's index lock.
AT_INDEX_LOCK = (
    WAITING_SIGN
    + """
from harvester.cli import main
sys.exit(main(sys.argv[1:]))
"""
)

#: ``harvester ARGV[5:]`` (as the process's own command) whose Nth wait for DIR's index lock
#: (N = argv[4]) first touches argv[2], then waits (at most a minute) until argv[3] exists:
#: the test has another process take the lock meanwhile; argv[1] is touched once it waits.
AT_NTH_INDEX_LOCK = checked(
    WAITING_SIGN
    + """
import time
from harvester.cli import main
reached, go, nth = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
real = runlock._flock_within
seen = []
def at_lock(fd, path, *args, **kwargs):
    if path.name == "index.lock":
        seen.append(path)
        if len(seen) == nth:
            reached.touch()
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
    return real(fd, path, *args, **kwargs)
runlock._flock_within = at_lock
sys.argv = ["harvester", *sys.argv[4:]]
main()
"""
)


@contextmanager
def index_lock_held(out: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``out``'s index lock (as ``harvester index`` does while it
    labels a big folder) until the block ends (it holds it until its stdin closes, or it is
    killed: never for a time that a slow command could outlast)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from harvester.index import index_lock\n"
         "with index_lock(Path(sys.argv[1])):\n"
         "    print('held', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(holder):
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder


def harvest_args(base_url: str, out: Path, plate: int, *, labels: bool = False) -> list[str]:
    """A quiet thumbnails harvest of ``plate`` (``labels``: asking for the labels)."""
    return [
        "harvest", "--base-url", base_url, "--plate", str(plate), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
        *(() if labels else ("--no-labels",)),
    ]  # fmt: skip


def index_ids(out: Path) -> list[int]:
    with (out / "index.csv").open(newline="") as f:
        return sorted(int(row["image_id"]) for row in csv.DictReader(f))


def journaled_thumbnails(out: Path) -> set[int]:
    """The images whose thumbnail a journal records done, each file on disk at its size."""
    done: set[int] = set()
    for journal in (out / "journals").glob("*.jsonl"):
        for line in journal.read_text().splitlines():
            rec = json.loads(line)
            if rec["rec"] == "done" and rec["kind"] == "thumbnail":
                assert (out / rec["path"]).stat().st_size == rec["size"]
                done.add(rec["id"])
    return done


def wait_for_file(path: Path, proc: subprocess.Popen[str]) -> None:
    """Return once ``path`` exists (touched by ``proc``); fail if ``proc`` ends first."""
    deadline = time.monotonic() + WAIT
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), proc.communicate(timeout=WAIT)


def stopped(
    proc: subprocess.Popen[str], signum: int, holder: subprocess.Popen[str]
) -> tuple[str, str]:
    """Send ``signum``; once the command ended, its stdout and stderr. It must end while
    ``holder`` still holds the index lock, and before its own wait for the lock could have
    (:data:`WAIT`): a stop that waited for the lock to be free, or waited it out, fails."""
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=WAIT)
    assert holder.poll() is None, "the holder of the index lock ended before the command"
    return stdout, stderr


def assert_index_left(out: Path, stdout: str, stderr: str) -> None:
    """The summary says index.csv was not rewritten and what will; the resume line stands."""
    assert (
        f"index: {out / 'index.csv'} not rewritten: stopped while another index write held "
        f"{out / 'locks' / 'index.lock'}; the next one (the resume below, or `harvester "
        f"index {out}`) brings it up to date"
    ) in stdout.splitlines(), stdout
    assert "resume with: harvester harvest" in stderr, stderr
    assert "Traceback" not in stderr


def test_sigterm_while_waiting_for_the_index_lock_stops_within_seconds(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A harvest whose end waits for an index lock held elsewhere: SIGTERM stops it within
    seconds (it waited up to 2 minutes), exit 130, its files journaled, index.csv left as it
    was; the resume, once the lock is free, indexes both plates."""
    out = tmp_path / "d"
    assert run_cli(*harvest_args(emulator.base_url, out, OTHER_PLATE)).returncode == 0
    before = (out / "index.csv").read_bytes()
    waiting = tmp_path / "waiting"
    with index_lock_held(out) as holder:
        proc = subprocess.Popen(
            [sys.executable, "-c", AT_INDEX_LOCK, str(waiting),
             *harvest_args(emulator.base_url, out, SMALL_PLATE)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
        )  # fmt: skip
        with reaped(proc):
            wait_for_file(waiting, proc)  # (in the wait for the lock)
            stdout, stderr = stopped(proc, signal.SIGTERM, holder)
        assert proc.returncode == 130, stderr
        assert_index_left(out, stdout, stderr)
        assert (out / "index.csv").read_bytes() == before
        assert len(journaled_thumbnails(out)) == 16  # both plates: nothing lost
        assert temp_files(out) == []
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert len(index_ids(out)) == 16


def test_ctrl_c_mid_run_does_not_wait_for_an_index_lock_held_elsewhere(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C mid-fetch while another process holds the index lock: the run does not wait
    for it at its end (it did, up to 2 minutes): exit 130 within seconds, index.csv left."""
    # The first plate's 8 thumbnails, then 12 of this run; its 13th held until the Ctrl-C.
    emu = make_emulator(preset="demo", faults=held_after(8 + 12, "in-flight", "image:thumbnail"))
    out = tmp_path / "d"
    assert run_cli(*harvest_args(emu.base_url, out, OTHER_PLATE)).returncode == 0
    before = (out / "index.csv").read_bytes()
    with index_lock_held(out) as holder:
        proc = start_cli(
            "harvest", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        )  # fmt: skip
        with reaped(proc), holding(emu, "in-flight"):
            wait_for_files(out, 8 + 12)
            stdout, stderr = stopped(proc, signal.SIGINT, holder)
        assert proc.returncode == 130, stderr
        assert_index_left(out, stdout, stderr)
        assert (out / "index.csv").read_bytes() == before
        assert len(journaled_thumbnails(out)) >= 8 + 12
        assert temp_files(out) == []


def run_to_its_nth_index_lock(
    tmp_path: Path, out: Path, nth: int, args: list[str], signum: int
) -> tuple[int | None, str, str]:
    """Run ``harvester ARGS`` until its ``nth`` wait for ``out``'s index lock, held by
    another process from then on; send ``signum`` once it waits for it (:func:`stopped`).
    The exit code, its stdout and stderr."""
    waiting, reached, go = tmp_path / "waiting", tmp_path / "reached", tmp_path / "go"
    for path in (waiting, reached, go):
        path.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_NTH_INDEX_LOCK, str(waiting), str(reached), str(go),
         str(nth), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(),
    )  # fmt: skip
    with reaped(proc):
        wait_for_file(reached, proc)
        with index_lock_held(out) as holder:
            go.touch()
            wait_for_file(waiting, proc)  # (in the wait for the lock)
            stdout, stderr = stopped(proc, signum, holder)
    return proc.returncode, stdout, stderr


def assert_stopped_soon(code: int | None, stderr: str) -> None:
    """Exit 130 while the lock was held (the wait it cut short was 2 minutes), the resume
    line said, no traceback."""
    assert code == 130, stderr
    assert "resume with: harvester harvest" in stderr, stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("record", "flags", "signum"),
    [
        ("split.json", ["--split", "a=1"], signal.SIGTERM),
        ("label_ids.json", ["--label-key", GENE, "--label-ids-from", "PIN"], signal.SIGINT),
    ],
)
def test_a_stop_while_a_harvest_waits_to_record_its_flag_ends_it_within_seconds(
    tmp_path: Path, emulator: EmulatorThread, record: str, flags: list[str], signum: int
) -> None:
    """A harvest opening DIR waits for the index lock to record ``--split`` or
    ``--label-ids-from`` (it waited up to 2 minutes): a stop ends it within seconds, exit
    130, the record not written, index.csv as it was; the same command run again writes it."""
    out = tmp_path / "d"
    first = run_cli(
        *harvest_args(emulator.base_url, out, OTHER_PLATE, labels=True), "--label-key", GENE
    )
    assert first.returncode == 0, first.stderr
    pin = shutil.copy(out / "labels.csv", tmp_path / "pin.csv")
    flags = [str(pin) if flag == "PIN" else flag for flag in flags]
    before = (out / "index.csv").read_bytes()
    args = [*harvest_args(emulator.base_url, out, SMALL_PLATE, labels=True), *flags]
    code, _stdout, stderr = run_to_its_nth_index_lock(tmp_path, out, 1, args, signum)
    assert_stopped_soon(code, stderr)
    assert not (out / record).exists()
    assert (out / "index.csv").read_bytes() == before
    assert temp_files(out) == []
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert isinstance(json.loads((out / record).read_bytes()), dict)
    assert len(index_ids(out)) == 16


def test_a_stop_while_a_harvest_waits_to_record_label_keys_after_its_index(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A harvest given a label key no image has records the keys later index writes keep
    once its index is written, under the index lock: SIGTERM in that wait ends it within
    seconds, exit 130, nothing recorded; the same command run again records the keys."""
    out = tmp_path / "d"
    args = harvest_args(emulator.base_url, out, SMALL_PLATE, labels=True)
    assert run_cli(*args, "--label-key", GENE).returncode == 0
    typo = [*args, "--label-key", "Gene Symbl"]
    code, _stdout, stderr = run_to_its_nth_index_lock(
        tmp_path, out, 2, typo, signal.SIGTERM
    )  # (the first: its index write)
    assert_stopped_soon(code, stderr)
    assert not (out / "label_keys.json").exists()
    again = run_cli(*typo)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "label_keys.json").read_bytes())["label_keys"] == [GENE]


def test_a_stop_while_a_rerun_carries_its_label_keys_over_a_record(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A rerun given ``--label-key`` that fetched nothing records its keys over a record of
    others before its config goes, under the index lock: Ctrl-C in that wait ends it within
    seconds, exit 130, the record as it was and the run's config kept (an index given no
    keys takes the rerun's); the same command run again records them."""
    out = tmp_path / "d"
    args = [*harvest_args(emulator.base_url, out, SMALL_PLATE, labels=True), "--label-key", GENE]
    assert run_cli(*args).returncode == 0
    assert run_cli("index", str(out), "--label-key", "Phenotype").returncode == 0
    record = (out / "label_keys.json").read_bytes()
    runs = sorted((out / "runs").iterdir())
    code, _stdout, stderr = run_to_its_nth_index_lock(
        tmp_path, out, 2, args, signal.SIGINT
    )  # (the first: its index write)
    assert_stopped_soon(code, stderr)
    assert (out / "label_keys.json").read_bytes() == record
    assert len(sorted((out / "runs").iterdir())) == len(runs) + 1
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "label_keys.json").read_bytes())["label_keys"] == [GENE]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_harvester_index_waiting_for_the_index_lock_ends_on_a_stop(
    tmp_path: Path, emulator: EmulatorThread, signum: int
) -> None:
    """``harvester index --split`` waiting for an index lock held elsewhere (it waits in
    its main thread): Ctrl-C or SIGTERM ends it at once, exit 130, one line (the command to
    run again), no traceback,
    nothing recorded or rewritten; run again, it writes both."""
    out = tmp_path / "d"
    assert run_cli(*harvest_args(emulator.base_url, out, SMALL_PLATE)).returncode == 0
    before = (out / "index.csv").read_bytes()
    args = ["index", str(out), "--split", "a=1"]
    code, stdout, stderr = run_to_its_nth_index_lock(tmp_path, out, 1, args, signum)
    assert code == 130, stderr
    assert stderr.splitlines() == [
        "interrupted: index.csv not rewritten (it is as it was; no harvested file or journal "
        f"was changed); run again: harvester index {out} --split a=1"
    ]
    assert stdout == ""
    assert not (out / "split.json").exists()
    assert (out / "index.csv").read_bytes() == before
    assert temp_files(out) == []
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert "split" in (out / "index.csv").read_text().splitlines()[0].split(",")


def test_harvester_index_given_a_stopped_harvests_typo_keeps_the_keys_before_it(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A harvest given a key no image has, stopped before it recorded the keys kept, then
    ``harvester index --label-key`` with the same typo: refused, yet the keys kept before
    (the first run's), not the typo, are what a later index given no keys has."""
    out = tmp_path / "d"
    record = out / "label_keys.json"
    args = harvest_args(emulator.base_url, out, SMALL_PLATE, labels=True)
    assert run_cli(*args, "--label-key", GENE).returncode == 0
    genes = labels(out)
    assert any(genes.values())
    typo = [*args, "--label-key", "Gene Symbl"]
    code, _stdout, stderr = run_to_its_nth_index_lock(
        tmp_path, out, 2, typo, signal.SIGTERM
    )  # (the first: its index write)
    assert code == 130, stderr
    done = run_cli("index", str(out), "--label-key", "Gene Symbl")
    assert done.returncode == 2, done.stderr  # refused: no image has the key
    assert "did you mean 'Gene Symbol'?" in done.stderr
    kept = read_label_keys_record(out)  # the keys kept recorded, not the typo
    assert kept is not None and kept.keys == (GENE,)
    assert run_cli("index", str(out)).returncode == 0
    assert labels(out) == genes and record.exists()

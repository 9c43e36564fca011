"""One copy of a shared file per folder (harvester.onecopy): the register and its rules,
on real files (the store's own use is tested with shards in test_paths_shared.py)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from child_scripts import checked

from harvester import onecopy
from harvester.layout import image_path
from harvester.samefiles import link_same

BODY = b'{"repo": ["a/b.tif"], "client": ["b.tif"], "fileset": {"id": 7}}'
SHA = hashlib.sha256(BODY).digest()


def _relink(source: Path, target: Path, data: bytes) -> bool:
    """What the store does: a temp link, checked, renamed over the name."""
    tmp = target.with_name(target.name + ".tmp-test")
    if not link_same(source, tmp, target, data, check=True):
        return False
    os.replace(tmp, target)
    return True


def _write(out: Path, image_id: int, data: bytes = BODY) -> str:
    rel = image_path(image_id, "paths")
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    (out / rel).write_bytes(data)
    return rel


def test_the_register_keeps_the_last_line_of_each_file_and_skips_the_rest(tmp_path: Path) -> None:
    """Junk, a path outside images/ (or DIR) and files not asked for are skipped; a later
    line of a SHA-256 replaces an earlier one."""
    (tmp_path / "locks").mkdir()
    other = hashlib.sha256(b"other").hexdigest()
    (tmp_path / "locks" / onecopy.REGISTER).write_text(
        "junk\n"
        f"{SHA.hex()}\timages/001/000/1000001.paths.json\n"
        f"{SHA.hex()}\timages/001/000/1000002.paths.json\n"
        f"{other}\timages/001/000/1000003.paths.json\n"
        f"{SHA.hex()}\tharvest.json\n"
        f"{SHA.hex()}\timages/../../etc/passwd\n"
        f"{SHA.hex()[:-2]}\timages/001/000/1000004.paths.json\n"
    )
    assert onecopy.read_register(tmp_path, {SHA}) == {SHA: "images/001/000/1000002.paths.json"}


def test_copies_become_one_registered_file_and_a_hand_edit_is_kept(tmp_path: Path) -> None:
    """Three copies of the same bytes (two names on one of them) end as one file, the one
    with the most names, registered; a name whose file was edited by hand is kept as it
    is; a later run's copy is linked to the registered file."""
    a, b = _write(tmp_path, 1000001), _write(tmp_path, 1000002)
    os.link(tmp_path / a, tmp_path / "x")
    os.replace(tmp_path / "x", tmp_path / b)  # (a and b: one file, two names)
    c = _write(tmp_path, 1000003)
    edited = _write(tmp_path, 1000004, BODY.replace(b"a/b", b"a/c"))
    gone, gone_bytes = onecopy.one_copy(tmp_path, {SHA: [a, b, c, edited]}, _relink)
    assert (gone, gone_bytes) == (1, len(BODY))  # c's copy
    assert len({(tmp_path / r).stat().st_ino for r in (a, b, c)}) == 1
    assert (tmp_path / a).stat().st_nlink == 3
    assert (tmp_path / edited).read_bytes() != BODY
    assert onecopy.read_register(tmp_path, {SHA}) == {SHA: a}

    later = _write(tmp_path, 1000005)  # another task's copy, ending after
    assert onecopy.one_copy(tmp_path, {SHA: [later]}, _relink) == (1, len(BODY))
    assert (tmp_path / later).stat().st_ino == (tmp_path / a).stat().st_ino

    # The registered file changed by hand: never linked to; the next copy is registered.
    (tmp_path / a).unlink()
    (tmp_path / a).write_bytes(b"edited")
    last = _write(tmp_path, 1000006)
    assert onecopy.one_copy(tmp_path, {SHA: [last]}, _relink) == (0, 0)
    assert (tmp_path / last).read_bytes() == BODY
    assert onecopy.read_register(tmp_path, {SHA}) == {SHA: last}


def test_a_line_cut_short_is_skipped_and_the_next_run_s_line_is_read(tmp_path: Path) -> None:
    """A register line a full disk cut short (no newline) names nothing, and the next
    run's line, appended after it, is read as its own line (it was glued to the cut one:
    the next run's file was never found, and every run after registered its own)."""
    (tmp_path / "locks").mkdir()
    register = tmp_path / "locks" / onecopy.REGISTER
    register.write_text(f"{SHA.hex()}\timages/001/000/10000")  # (cut short)
    assert onecopy.read_register(tmp_path, {SHA}) == {}
    a = _write(tmp_path, 1000001)
    assert onecopy.one_copy(tmp_path, {SHA: [a]}, _relink) == (0, 0)
    assert onecopy.read_register(tmp_path, {SHA}) == {SHA: a}
    later = _write(tmp_path, 1000002)
    assert onecopy.one_copy(tmp_path, {SHA: [later]}, _relink) == (1, len(BODY))
    assert (tmp_path / later).stat().st_ino == (tmp_path / a).stat().st_ino


def test_the_lines_appended_since_a_first_read_are_read_from_where_it_ended(
    tmp_path: Path,
) -> None:
    """The register is read before the lock, then from where that read ended under it:
    a line another run appended in between is found, and a line still being written at
    the first read (no newline yet) is read whole the second time."""
    (tmp_path / "locks").mkdir()
    register = tmp_path / "locks" / onecopy.REGISTER
    other = hashlib.sha256(b"other").hexdigest()
    first = f"{other}\timages/001/000/1000009.paths.json\n"
    register.write_text(first + f"{SHA.hex()}\timages/001/0")
    found, read_to, _file = onecopy._read_register(tmp_path, {SHA}, 0)
    assert (found, read_to) == ({}, len(first))
    with register.open("a") as f:
        f.write("00/1000001.paths.json\n")
    assert onecopy._read_register(tmp_path, {SHA}, read_to)[:2] == (
        {SHA: "images/001/000/1000001.paths.json"},
        register.stat().st_size,
    )


def test_a_stopping_run_does_not_wait_for_another_runs_hold_of_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run holds the lock (another task ending): a run that is stopping (SIGTERM:
    SLURM kills it KillWait seconds later) leaves its copy and returns while the lock is
    still held, where it waited up to LOCK_WAIT (60 s); with the lock free it still makes
    its copy one."""
    monkeypatch.setattr(onecopy, "LOCK_WAIT", 3600.0)  # (a wait that would outlast the join)
    a, b = _write(tmp_path, 1000001), _write(tmp_path, 1000002)
    assert onecopy.one_copy(tmp_path, {SHA: [a]}, _relink) == (0, 0)  # (a registered)
    stop = threading.Event()
    stop.set()
    got: list[tuple[int, int]] = []
    fd = os.open(tmp_path / "locks" / onecopy.LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # (an open file of its own: as another process)
        ending = threading.Thread(
            target=lambda: got.append(onecopy.one_copy(tmp_path, {SHA: [b]}, _relink, stop=stop))
        )
        ending.start()
        ending.join(60)  # (a bound, not a measure: it returns at once, or waits the hour)
        assert got == [(0, 0)]  # (returned, the lock still held)
        assert (tmp_path / b).stat().st_ino != (tmp_path / a).stat().st_ino
    finally:
        os.close(fd)
    assert onecopy.one_copy(tmp_path, {SHA: [b]}, _relink, stop=stop) == (1, len(BODY))
    assert (tmp_path / b).stat().st_ino == (tmp_path / a).stat().st_ino


def _another_name(out: Path, image_id: int, of: str) -> str:
    """Image ``image_id``'s name for the file at ``of`` (a hard link, as a run makes)."""
    rel = image_path(image_id, "paths")
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    os.link(out / of, out / rel)
    return rel


def _line(data: bytes, rel: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}\t{rel}\n"


def test_a_run_ending_alone_compacts_the_register_to_the_files_of_several_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The register of an array's runs: a line per distinct file each stored. A run that
    ends with no other run in DIR keeps the last line of each file of more than one name
    (later runs link their copies to it), and drops the files of one name (single-image
    filesets: most lines of a dataset's folder), gone files, symlinks, junk and a cut
    line; not while another run may be ending with a copy; again only once it doubled."""
    monkeypatch.setattr(onecopy, "COMPACT_FROM", 1)
    shared = _write(tmp_path, 1000001)
    _another_name(tmp_path, 1000002, shared)
    singles = [_write(tmp_path, 1000100 + n, b"single %d" % n) for n in range(50)]
    gone = _write(tmp_path, 1000003, b"gone")
    (tmp_path / gone).unlink()
    link = image_path(1000004, "paths")
    os.symlink(tmp_path / shared, tmp_path / link)
    lines = (
        ["junk\n", _line(BODY, gone), _line(BODY, shared), _line(b"gone", gone)]
        + [_line(b"single %d" % n, rel) for n, rel in enumerate(singles)]
        + [_line(BODY, link), f"{SHA.hex()}\t{shared}"]  # (a symlink, a cut line)
    )
    register = tmp_path / "locks" / onecopy.REGISTER
    register.parent.mkdir()
    register.write_text("".join(lines))
    before = register.read_bytes()
    copy = _write(tmp_path, 1000005)  # (a copy this run stored: made one as ever)

    assert onecopy.one_copy(tmp_path, {SHA: [copy]}, _relink, alone=lambda: False) == (
        0,
        0,
    )  # (its line is the symlink's: no file to link to; its own registered in its place)
    assert register.read_bytes().startswith(before)  # (not compacted: another run may end)
    stopping = threading.Event()
    stopping.set()  # (SIGTERM: killed KillWait seconds later, no time for it)
    assert onecopy.one_copy(
        tmp_path, {SHA: [copy]}, _relink, stop=stopping, alone=lambda: True
    ) == (0, 0)
    assert register.read_bytes().startswith(before)

    copy2 = _write(tmp_path, 1000006)
    assert onecopy.one_copy(tmp_path, {SHA: [copy2]}, _relink, alone=lambda: True) == (
        1,
        len(BODY),
    )
    kept = register.read_text().splitlines()
    assert kept[0] == f"#kept\t{len(_line(BODY, copy))}"
    assert kept[1:] == [_line(BODY, copy).rstrip("\n")]  # (the last line of its SHA-256)
    assert (tmp_path / copy2).stat().st_ino == (tmp_path / copy).stat().st_ino
    assert onecopy.read_register(tmp_path, {SHA}) == {SHA: copy}

    # Not compacted again until it doubled (a compaction stats every line): a run whose
    # copies are one already leaves it; one that adds a line (a file of one name: its
    # bytes of no other image) doubles it, and the line goes.
    inode = register.stat().st_ino
    assert onecopy.one_copy(tmp_path, {SHA: [copy2]}, _relink, alone=lambda: True) == (0, 0)
    assert register.stat().st_ino == inode
    other = _write(tmp_path, 1000007, b"other")
    assert onecopy.one_copy(
        tmp_path, {hashlib.sha256(b"other").digest(): [other]}, _relink, alone=lambda: True
    ) == (0, 0)
    assert register.stat().st_ino != inode
    assert register.read_text().splitlines() == kept


def test_a_run_that_read_the_register_before_a_compaction_reads_it_again_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run reads the register before the lock, then under it from where it stopped: when
    another run compacted it in between (a file renamed over it, its lines at other
    offsets), it reads the new one from its start and finds the file registered there."""
    monkeypatch.setattr(onecopy, "COMPACT_FROM", 1)
    (tmp_path / "locks").mkdir()
    register = tmp_path / "locks" / onecopy.REGISTER
    singles = [_write(tmp_path, 1000100 + n, b"single %d" % n) for n in range(100)]
    register.write_text("".join(_line(b"single %d" % n, r) for n, r in enumerate(singles)))
    a = _write(tmp_path, 1000001)
    _another_name(tmp_path, 1000002, a)
    b = _write(tmp_path, 1000003)
    first_read = threading.Event()
    read = onecopy._read_register

    def reading(
        out: Path, wanted: set[bytes], start: int
    ) -> tuple[dict[bytes, str], int, onecopy.FileId]:
        got = read(out, wanted, start)
        first_read.set()
        return got

    monkeypatch.setattr(onecopy, "_read_register", reading)
    got: list[tuple[int, int]] = []
    fd = os.open(tmp_path / "locks" / onecopy.LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # (another run, ending: it compacts, then registers)
        ending = threading.Thread(
            target=lambda: got.append(onecopy.one_copy(tmp_path, {SHA: [b]}, _relink))
        )
        ending.start()
        assert first_read.wait(60)
        assert onecopy.compact(tmp_path) is not None
        with register.open("a") as f:
            f.write(_line(BODY, a))
    finally:
        os.close(fd)
    ending.join(60)
    assert got == [(1, len(BODY))]
    assert (tmp_path / b).stat().st_ino == (tmp_path / a).stat().st_ino


#: Compacts DIR's register (argv[1]) over and over, a line of a gone file added each time,
#: under the lock as a run ending alone does; says "compacting" after its third.
_COMPACTING = checked("""
import sys
from pathlib import Path
from harvester import onecopy
from harvester.runlock import folder_lock

out, n = Path(sys.argv[1]), 0
while True:
    with folder_lock(out, onecopy.LOCK) as held:
        assert held
        with (out / "locks" / onecopy.REGISTER).open("a") as f:
            f.write(f"{n:064x}\\timages/001/000/{n}.paths.json\\n")
        onecopy.compact(out)
    n += 1
    if n == 3:
        print("compacting", flush=True)
""")


def test_a_compaction_killed_at_any_moment_leaves_every_needed_line(tmp_path: Path) -> None:
    """kill -9 while a run compacts the register (over and over, so that the kill lands
    anywhere in it): the register still names every file of several names, each read
    whole, and a later run links its copy to one as before."""
    wanted: dict[bytes, str] = {}
    for n in range(300):
        data = b"shared %d" % n
        rel = _write(tmp_path, 1000000 + n, data)
        _another_name(tmp_path, 2000000 + n, rel)
        wanted[hashlib.sha256(data).digest()] = rel
    (tmp_path / "locks").mkdir()
    register = tmp_path / "locks" / onecopy.REGISTER
    register.write_text("".join(_line(b"shared %d" % n, r) for n, r in enumerate(wanted.values())))
    child = subprocess.Popen(
        [sys.executable, "-c", _COMPACTING, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "compacting"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert onecopy.read_register(tmp_path, set(wanted)) == wanted
    assert register.read_bytes().startswith(onecopy.KEPT_MARK)
    data = b"shared 7"
    copy = _write(tmp_path, 3000007, data)
    assert onecopy.one_copy(tmp_path, {hashlib.sha256(data).digest(): [copy]}, _relink) == (
        1,
        len(data),
    )
    assert (tmp_path / copy).stat().st_nlink == 3


def test_no_compaction_while_a_killed_runs_copies_wait_for_its_resubmission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fileset of two images, one in each shard: task 0 registered its file (one name);
    task 1 was killed with its copy stored (its pending file left, no run opened since).
    Task 0 ends alone: the register is not compacted, so the resubmission of task 1 links
    its copy to task 0's file. (Compacted, the one-name file's line went, and the
    resubmission registered its copy in its place: two copies for good.) Once its pending
    file is gone (a run opened), the next run ending alone compacts."""
    from harvester.processes import HOST

    monkeypatch.setattr(onecopy, "COMPACT_FROM", 1)
    mine = _write(tmp_path, 1000001)
    assert onecopy.one_copy(tmp_path, {SHA: [mine]}, _relink) == (0, 0)  # (registered)
    killed = _write(tmp_path, 1000002)  # (task 1's copy, its end never run)
    journals = tmp_path / "journals"
    journals.mkdir()
    pending = journals / "killed-task.pending"
    pending.write_text(json.dumps({"writer": "killed-task", "host": HOST, "pid": 0}) + "\n")
    register = tmp_path / "locks" / onecopy.REGISTER
    before = register.read_bytes()

    assert onecopy.one_copy(tmp_path, {SHA: [mine]}, _relink, alone=lambda: True) == (0, 0)
    assert register.read_bytes() == before  # (not compacted: the killed run's line kept)
    assert onecopy.one_copy(tmp_path, {SHA: [killed]}, _relink) == (1, len(BODY))
    assert (tmp_path / killed).stat().st_ino == (tmp_path / mine).stat().st_ino

    pending.unlink()  # (its resubmission opened: the pending file removed)
    other = _write(tmp_path, 1000003, b"other")
    assert onecopy.one_copy(
        tmp_path, {hashlib.sha256(b"other").digest(): [other]}, _relink, alone=lambda: True
    ) == (0, 0)
    assert register.read_text().splitlines() == [
        f"#kept\t{len(_line(BODY, mine))}",
        _line(BODY, mine).rstrip("\n"),
    ]

"""The test run's temporary folders in RAM (``/dev/shm``) where the machine has room there.

Every harvest a test makes writes its files and journals durably (syncfs or fsync per
batch: harvester/store.py), and thousands of tests harvest. On a disk those flushes wait
for the device, and syncfs also waits for every other process's dirty pages on that disk
(measured here on /tmp's virtio disk: ~0.9 ms per 4 KB fsync, against ~0.01 ms on the
tmpfs). On a tmpfs the same calls are made and succeed at once, so the tests still go
through every durability step; only the waiting goes.

The run gets a folder of its own, ``/dev/shm/harvester-tests-<pid>-<random>``, given to
pytest as ``--basetemp`` (xdist's workers get their ``popen-gwN`` folders inside it, as
under the default). It is removed when the run ends, failed or not: RAM is not left
holding a run's ~1 GB. Folders of runs that were killed before they could remove theirs
(their pid is gone) are removed by the next run. Without a usable tmpfs (another OS, a
read-only or small /dev/shm, little free memory) pytest's default folder is used; a
``--basetemp`` given on the command line is always used as given (and kept, to look at).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: Where Linux mounts its shared-memory tmpfs.
RAM_ROOT = Path("/dev/shm")

#: Room the run wants there, and memory free beside it (a whole run writes about 1 GB).
NEEDED_BYTES = 4 * 1024**3

PREFIX = "harvester-tests-"


def ram_basetemp() -> Path | None:
    """A new, empty folder for this run's ``--basetemp`` in RAM; None when there is no
    usable tmpfs with room (the run then keeps pytest's default, on disk)."""
    if not _usable(RAM_ROOT):
        return None
    _remove_folders_of_ended_runs(RAM_ROOT)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=RAM_ROOT))
    except OSError:
        return None


def _usable(root: Path) -> bool:
    """Whether ``root`` is a writable tmpfs with room for the run, and memory to back it."""
    try:
        if not (root.is_dir() and os.access(root, os.W_OK | os.X_OK)):
            return False
        if _filesystem_type(root) != "tmpfs":
            return False
        return shutil.disk_usage(root).free >= NEEDED_BYTES and _available_memory() >= NEEDED_BYTES
    except OSError:
        return False


def _filesystem_type(mount_point: Path) -> str | None:
    """The type /proc/self/mounts gives ``mount_point`` (the last mount there wins)."""
    found = None
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 3 and fields[1] == str(mount_point):
                found = fields[2]
    return found


def _available_memory() -> int:
    """Bytes of memory available (a tmpfs's files live in it; its nominal size does not)."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _remove_folders_of_ended_runs(root: Path) -> None:
    """Remove the folders of this user's runs whose process is gone (killed runs)."""
    uid = os.getuid()
    for folder in root.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX) :].split("-", 1)[0]
        try:
            if not pid.isdigit() or folder.lstat().st_uid != uid or _alive(int(pid)):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""``status``, ``verify`` and a start into a harvested folder read each file once.

A folder resumed weekly holds a saved config per set and resume, and its journals: status
read every config three times (the label keys, the target sets' kinds, the resume line),
``harvester slurm`` (as ``harvest`` and ``plan``) looked the folder's newest run up twice
(its server, then its kinds), and ``verify`` of a split loaded every journal a second time
for the shards of its bad files. The folders here are made by real harvests of the
emulator; the files a command opens are counted with an audit hook (every ``open``).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState
from harvester.retry import zero_waits

PLATE = "7375"  # 8 images
OTHER_PLATE = "7361"  # 8 images
IMAGE = "1884801"  # in neither plate

_opened: list[str] | None = None


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    """Note each file opened while a test counts (audit hooks cannot be removed: idle else)."""
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_record_open)


@contextlib.contextmanager
def opens() -> Iterator[list[str]]:
    """The paths of the files opened inside the block, one entry per open."""
    global _opened
    _opened = seen = []
    try:
        yield seen
    finally:
        _opened = None


def configs(paths: list[str], out: Path) -> Counter[str]:
    """How often each saved run config of DIR was opened."""
    runs = str(out / "runs")
    return Counter(p for p in paths if p.startswith(runs) and p.endswith("config.json"))


def cli(*argv: str) -> tuple[int, str]:
    """One in-process command: its exit code and what it printed (stdout and stderr)."""
    said = io.StringIO()
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said), zero_waits():
        code = main(list(argv))
    return code, said.getvalue()


def mark_one_bad(out: Path) -> None:
    """Damage one thumbnail and let verify mark it: DIR then has work left."""
    next((out / "images").rglob("*.thumbnail.jpg")).write_bytes(b"not a jpeg")
    assert cli("verify", str(out))[0] == 1


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorThread]:
    with EmulatorThread(preset="demo") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def sets(emu: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three target sets, then a resume that replayed each (6 runs), one thumbnail marked."""
    out = tmp_path_factory.mktemp("reads") / "sets"
    flags = ["--base-url", emu.base_url, "--out", str(out), "--rate", "none", "--no-labels"]
    for targets in (["--plate", PLATE], ["--plate", OTHER_PLATE], ["--image", IMAGE]):
        assert cli("harvest", *targets, *flags, "--artifacts", "thumbnail", "-q")[0] == 0
    for bad in (out / "images").rglob("*.thumbnail.jpg"):  # every set has work to resume
        bad.write_bytes(b"not a jpeg")
    assert cli("verify", str(out))[0] == 1
    assert cli("harvest", "--out", str(out), "-q")[0] == 0
    assert len(list((out / "runs").iterdir())) == 6
    mark_one_bad(out)
    return out


@pytest.fixture(scope="module")
def split(emu: EmulatorThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plate harvested as two shards, each resumed once (one had a file to refetch)."""
    out = tmp_path_factory.mktemp("reads") / "split"
    flags = ["--base-url", emu.base_url, "--out", str(out), "--rate", "none", "--no-labels"]
    for k in range(2):
        code, _ = cli("harvest", "--plate", PLATE, "--shard", f"{k}/2", *flags, "-q")
        assert code == 0
    mark_one_bad(out)
    for k in range(2):
        assert cli("harvest", "--out", str(out), "--shard", f"{k}/2", "-q")[0] == 0
    assert len(list((out / "runs").iterdir())) == 3  # (a shard with nothing to do left none)
    return out


def test_status_reads_each_saved_config_once(sets: Path) -> None:
    """status opens every saved config of a resumed folder once, and still says the resume."""
    with opens() as seen:
        code, said = cli("status", str(sets))
    assert code == 0
    assert f"to resume: harvester harvest --out {sets}\n" in said
    read = configs(seen, sets)
    assert len(read) == 6
    assert set(read.values()) == {1}


def test_slurm_into_a_folder_looks_its_newest_run_up_once(
    sets: Path, emu: EmulatorThread, tmp_path: Path
) -> None:
    """A split of new targets into DIR takes DIR's server and kinds, reading no config twice."""
    sets = Path(shutil.copytree(sets, tmp_path / "sets"))  # (its scripts would change status)
    with opens() as seen:
        code, said = cli("slurm", "--out", str(sets), "--image", "1884802", "--tasks", "2")
    assert code == 0, said
    assert f"asking {emu.base_url}, the server {sets} was harvested from" in said
    assert f"fetching --artifacts thumbnail, the kinds {sets} was harvested with" in said
    script = (sets / "harvest.sbatch").read_text()
    assert f"--base-url {emu.base_url} --artifacts thumbnail" in script
    read = configs(seen, sets)
    assert read  # the newest run and the replays since the newest set's own run
    assert set(read.values()) == {1}


def test_verify_of_a_split_loads_the_journals_once(
    split: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify names the shard of a split's bad file from the journals it loaded to check."""
    loads: list[Path] = []
    load = JournalState.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[JournalState], out_dir: Path, **kwargs: Any) -> JournalState:
        loads.append(out_dir)
        state: JournalState = load(cls, out_dir, **kwargs)
        return state

    monkeypatch.setattr(JournalState, "load", classmethod(counted))
    bad = next((split / "images").rglob("*.thumbnail.jpg"))
    bad.write_bytes(b"not a jpeg")
    with opens() as seen:
        code, said = cli("verify", str(split))
    assert code == 1
    assert "1 damaged or missing files: to refetch exactly those: harvester harvest --out" in said
    assert "--shard" in said.splitlines()[-1]
    assert len(loads) == 1
    assert set(configs(seen, split).values()) == {1}

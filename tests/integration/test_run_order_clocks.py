"""The newest run of a folder shared by hosts whose clocks disagree.

A run's id holds its start second and its journal its start time, both as its own host's
clock said them. A run started on a host whose clock runs ten minutes ahead was taken for
the newest by every run started after it, elsewhere, within those ten minutes: a new target
then fetched the older run's artifact kinds and a resume replayed its settings. A run id's
second is never below the newest run id DIR holds, and the run record's ``order`` never
below the newest run's (a hybrid logical clock), so the run started last is the newest.

The skewed host is this machine with ``time.time`` and ``time.gmtime`` moved ahead in the
harvest's own process; the harvests run the real command line against the emulator over
loopback sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.layout import new_run_id, run_order_time

#: Two plates of the demo screen (8 images each) and one image of its project.
PLATE_A, PLATE_B, IMAGE_C = "7375", "7372", "1884801"
#: How far the skewed host's clock runs ahead, in seconds.
AHEAD = 600

_SKEWED = f"""
import sys, time
_time, _gmtime = time.time, time.gmtime
time.time = lambda: _time() + {AHEAD}
time.gmtime = lambda secs=None: _gmtime(time.time() if secs is None else secs)
from harvester.cli import main
sys.exit(main(sys.argv[1:]))
"""


def skewed_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` on a "host" whose clock runs :data:`AHEAD` seconds ahead."""
    return subprocess.run(
        [sys.executable, "-c", _SKEWED, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )


def run_ids(out: Path) -> list[str]:
    """The run ids of DIR (``runs/``), sorted."""
    return sorted(path.name for path in (out / "runs").iterdir())


def test_the_run_started_last_is_the_newest_whatever_its_hosts_clock(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """After a run on a host ten minutes ahead, a run started here (its clock behind) is the
    newest: a new target fetches its kinds and names it; its id holds the other's second."""
    out = tmp_path / "shared"
    common = ("--base-url", emulator.base_url, "--rate", "none", "--out", str(out), "-q")
    ahead = skewed_cli("harvest", *common, "--plate", PLATE_A, "--artifacts", "thumbnail")
    assert ahead.returncode == 0, ahead.stderr
    (run_a,) = run_ids(out)

    here = cli("harvest", *common, "--plate", PLATE_B, "--artifacts", "thumbnail,imgdata")
    assert here.returncode == 0, here.stderr
    (run_b,) = set(run_ids(out)) - {run_a}
    second = len("20261126T090000Z")
    assert run_b[:second] == run_a[:second]  # the newest run's second, not this clock's

    new = cli("harvest", "--out", str(out), "--rate", "none", "--image", IMAGE_C)
    assert new.returncode == 0, new.stderr
    said = new.stdout + new.stderr
    assert "fetching --artifacts thumbnail,imgdata," in said
    assert f"the kinds {out} was harvested with (its newest run, {run_b})" in said
    index = (out / "index.csv").read_text(encoding="utf-8").splitlines()
    header = index[0].split(",")
    (row_c,) = [line.split(",") for line in index[1:] if line.startswith(f"{IMAGE_C},")]
    assert row_c[header.index("imgdata_path")]  # B's kinds, not A's thumbnail alone
    assert (out / row_c[header.index("imgdata_path")]).is_file()

    orders = {}
    for journal in (out / "journals").glob("*.jsonl"):
        first = json.loads(journal.read_text(encoding="utf-8").splitlines()[0])
        orders[first["run"]] = (first["order"], first["started"])
    assert orders[run_b][0] > orders[run_a][0]  # ordered after A ...
    assert orders[run_b][1] < orders[run_a][1]  # ... though its clock said earlier


def test_a_wrong_date_in_the_folder_is_not_followed(tmp_path: Path) -> None:
    """A run id or order more than a day ahead (a node booted without its clock set) or no
    date at all is not followed: later runs keep their own time, and nothing breaks; a
    clock five minutes ahead is followed."""
    now = time.time()
    ahead = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + 300))
    (tmp_path / "runs" / "20991231T000000Z-aaaaaa").mkdir(parents=True)
    (tmp_path / "runs" / "99999999T999999Z-bbbbbb").mkdir()
    (tmp_path / "journals").mkdir()
    (tmp_path / "journals" / f"node1-7-{ahead}-cccccc-shard-0-of-2.jsonl").write_text("")
    assert new_run_id(tmp_path).startswith(f"{ahead}-")
    (tmp_path / "journals" / f"node1-7-{ahead}-cccccc-shard-0-of-2.jsonl").unlink()
    # (a minute's margin: this host's clock may be stepped back a second under load)
    assert new_run_id(tmp_path)[:16] <= time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now + 60))

    assert run_order_time("r1", now, [now + 300.0]) == (now + 300.0) + 0.001
    assert run_order_time("r1", now, [now + 10 * 86_400.0]) == now
    assert run_order_time("r1", now, []) == now


def test_a_walk_here_after_a_failed_walk_on_a_host_ahead_clears_it(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path
) -> None:
    """A plate whose listing failed on a host ten minutes ahead, then listed in full here
    (its clock behind), is no failed walk for status: the later walk's record wins."""
    out = tmp_path / "shared"
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    common = ("--rate", "none", "--out", str(out), "--plate", PLATE_A, "--artifacts", "thumbnail")
    ahead = skewed_cli("harvest", "--base-url", broken.base_url, *common, "--max-retries", "1")
    assert ahead.returncode == 1, ahead.stderr
    assert "walk of --plate" in cli("status", str(out)).stdout

    healthy = make_emulator(preset="demo")
    here = cli("harvest", "--base-url", healthy.base_url, *common, "-q")
    assert here.returncode == 0, here.stderr
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 8

    shown = cli("status", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert "walks" not in data and data.get("resume") is None
    assert "walk of" not in cli("status", str(out)).stdout

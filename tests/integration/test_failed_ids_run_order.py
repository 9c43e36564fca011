"""Failed ids of a folder of two servers whose run ids sort opposite to the runs' order.

A run id holds its start second, then a random suffix: two runs of one second sort by
chance. Which server's run failed an image last was taken from the run ids, so ``status
--failed-ids`` (its refusal of a two servers' list, its note of one server's) and the
images recorded gone from one server depended on that chance. The runs here are made so
that the older run's id sorts last, every time: its harvest runs on a "host" whose clock
is ten minutes ahead (the later run's id then takes its second, as a run id never goes
below DIR's newest second) with the suffix ``ffffff``, the later one with ``000000``.
``forget`` given one server's link took that server's newest run by id too.
The harvests run as ``python -m harvester`` processes of those clocks, every other command
as ``harvester ARGS`` (in the test process, tests/cli_in_process.py), against two emulators
over real sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from child_scripts import checked
from harvest_helpers import cli_env
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

GONE = 99999991  # an id neither demo server has: each answers 404

#: ``harvester ARGV[3:]`` with the clock ARGV[1] seconds ahead and run ids ending ARGV[2].
_ORDERED = checked(
    """
import sys, time
import harvester.layout as layout
ahead, suffix = float(sys.argv[1]), sys.argv[2]
_time, _gmtime = time.time, time.gmtime
time.time = lambda: _time() + ahead
time.gmtime = lambda secs=None: _gmtime(time.time() if secs is None else secs)
_new = layout.new_run_id
layout.new_run_id = lambda out_dir=None: _new(out_dir)[:-6] + suffix
from harvester.cli import main
sys.exit(main(sys.argv[3:]))
"""
)


def ordered_cli(ahead: float, suffix: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` on a clock ``ahead`` seconds ahead, its run id ending ``suffix``."""
    return subprocess.run(
        [sys.executable, "-c", _ORDERED, str(ahead), suffix, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )


def fail_one(out: Path, emu: EmulatorThread, image_id: int, kind: str, older: bool) -> None:
    """``emu`` fails ``kind`` of ``image_id`` into DIR (exit 1); ``older``: the run is the
    first (its id sorts after the later run's), else the later one."""
    ids = out.parent / f"{kind}-{image_id}.txt"
    ids.write_text(f"{image_id}\n")
    proc = ordered_cli(
        600 if older else 0, "ffffff" if older else "000000",
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", kind, "--rate", "none", "--no-labels", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr


def runs_by_order(out: Path) -> list[str]:
    """DIR's run ids by their journals' ``order``, oldest first."""
    orders = {}
    for journal in (out / "journals").glob("*.jsonl"):
        first = json.loads(journal.read_text(encoding="utf-8").splitlines()[0])
        orders[first["run"]] = first["order"]
    return sorted(orders, key=orders.__getitem__)


def two_servers_failed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], newer_status: int
) -> tuple[EmulatorThread, EmulatorThread, Path]:
    """Demo servers A and B, and DIR where A failed GONE's thumbnail (404), then B its
    metadata (``newer_status``: 404, or 503, B's fault) in a run whose id sorts first."""
    a = make_emulator(preset="demo")
    faults = f"503:100%,only:/api/v0/m/images/{GONE}" if newer_status == 503 else None
    b = make_emulator(preset="demo", seed=7, faults=faults)
    out = tmp_path / "d"
    fail_one(out, a, GONE, "thumbnail", older=True)
    fail_one(out, b, GONE, "metadata", older=False)
    runs = runs_by_order(out)
    assert len(runs) == 2 and runs == sorted(runs, reverse=True), runs  # (ids: newest first)
    return a, b, out


def test_the_plain_list_of_an_id_both_servers_failed_is_refused_whatever_the_run_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """GONE failed by A (thumbnail, 404), then by B (metadata, 503): the plain
    `--failed-ids` is refused, exit 2, naming both servers (it printed GONE as A's, the
    run whose id sorts last, or B's by chance), and each server's `--base-url` list has
    it. Recorded gone from A alone, `status --gone-ids` lists it and status says it, for
    the undo pipe (ordered by time, B's failure the latest, they left it out), not as an
    image gone here (B's is still asked for: it was counted so), and the plain list is
    B's, noted so."""
    a, b, out = two_servers_failed(tmp_path, make_emulator, 503)
    plain = cli("status", str(out), "--failed-ids")
    assert (plain.returncode, plain.stdout) == (2, ""), plain.stderr
    assert plain.stderr.startswith(f"error: the failed images of {out} are of 2 servers, ")
    assert a.base_url in plain.stderr and b.base_url in plain.stderr, plain.stderr
    for emu in (a, b):
        mine = cli("status", str(out), "--failed-ids", "--base-url", emu.base_url)
        assert (mine.returncode, mine.stdout, mine.stderr) == (0, f"{GONE}\n", "")

    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{GONE}\n")
    assert forgot.returncode == 0, forgot.stderr
    assert cli("status", str(out), "--gone-ids").stdout == f"{GONE}\n"
    said = cli("status", str(out))
    # (B's image of that id is still asked for: not counted as gone here, said apart)
    assert "gone from the server, forgotten" not in said.stdout, said.stdout
    assert (
        "1 id recorded gone from one server by harvester forget names another server's image "
        "here too, still asked for (its failures counted; to take the records back: "
        f"harvester status {out} --gone-ids | harvester forget {out} --gone-ids-from - --undo)"
    ) in said.stdout.splitlines()
    report = json.loads(cli("status", str(out), "--json").stdout)
    assert (report["gone_ids"], report["gone_here"]) == ([GONE], [])
    plain = cli("status", str(out), "--failed-ids")
    assert plain.returncode == 0 and plain.stdout == f"{GONE}\n", plain.stderr
    assert plain.stderr.startswith(f"note: these are failed images of {b.base_url} ("), plain.stderr


def test_the_gone_hint_names_the_newest_runs_server_and_its_pipe_records_both(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """GONE 404 from A, then from B: status's hint names the pipe of B, the server of the
    run made last (it named A's, whose run id sorts last); that pipe, pasted, records GONE
    gone from each server, and `status --gone-ids` lists it."""
    a, b, out = two_servers_failed(tmp_path, make_emulator, 404)
    said = cli("status", str(out))
    assert said.returncode == 0, said.stderr
    (hint,) = [line for line in said.stdout.splitlines() if "--gone-ids-from" in line]
    pipe = f"harvester status {out} --failed-ids --base-url {b.base_url} | harvester forget"
    assert pipe in hint and a.base_url not in hint, hint
    listed = cli("status", str(out), "--failed-ids", "--base-url", b.base_url)
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert (forgot.returncode, forgot.stderr) == (0, ""), forgot.stderr
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert sorted((e["id"], e["server"]) for e in saved) == sorted(
        [(GONE, a.base_url), (GONE, b.base_url)]
    )
    assert cli("status", str(out), "--gone-ids").stdout == f"{GONE}\n"


def test_forget_by_a_link_takes_its_servers_newest_run_not_the_one_whose_id_sorts_last(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--project 51`` of A (thumbnails, its id sorting last), of A again (metadata),
    then of B: forget given A's link forgets A's set with the take-back command of A's
    newest run, ``--artifacts metadata`` (it took A's older run, whose id sorts last by
    chance, and printed ``--artifacts thumbnail``)."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="idclash")
    out = tmp_path / "d"
    for emu, kind, ahead, suffix in (
        (a, "thumbnail", 600, "ffffff"),
        (a, "metadata", 0, "000000"),
        (b, "thumbnail", 0, "000001"),
    ):
        proc = ordered_cli(
            ahead, suffix,
            "harvest", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
            "--artifacts", kind, "--rate", "none", "--no-labels", "-q",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    runs = runs_by_order(out)
    assert [run[-6:] for run in runs] == ["ffffff", "000000", "000001"], runs

    forgot = cli("forget", str(out), "--project", f"{a.base_url}/webclient/?show=project-51")
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --project 51 of {a.base_url}:")
    again = forgot.stdout.partition("to undo, run its targets again: ")[2]
    assert "--artifacts metadata" in again and "thumbnail" not in again, forgot.stdout

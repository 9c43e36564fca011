"""Failures and gone images of one id failed by both servers of a folder.

The journals' fold keeps one failure per kind and id, whichever server made it. So where
two servers of one folder each failed their own image of an id, ``status --failed-ids
--base-url`` of the older server left it out, ``forget --gone-ids-from`` recorded it gone
from the newer server alone, and ``--undo`` took it back for every server. Each server's
failures are now found in the journals, and ``--base-url`` picks one server's gone
records (``status --gone-ids``, ``forget --gone-ids-from ... --undo``). Each command runs
as ``harvester ARGS`` (in the test process, tests/cli_in_process.py) against two emulators
over real sockets (demo preset, the same ids).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

THUMBNAILS_FAIL = "500:100%,only:/webgateway/render_thumbnail/"
MISSING = "99999991"  # (no such image on either server: each answers 404)


def harvest(emu: EmulatorThread, out: Path, *targets: str) -> None:
    """Thumbnails of ``targets`` from ``emu`` into DIR, no retry: every one fails (exit 1)."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *targets, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q", "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr


def failed_404_by_both(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[EmulatorThread, EmulatorThread, Path, Path]:
    """Two demo servers A and B (different ids), DIR, and an ids file of MISSING, which each
    server's harvest into DIR failed with 404: (A, B, DIR, the ids file)."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="demo", seed=7)
    out = tmp_path / "d"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{MISSING}\n")
    harvest(a, out, "--ids-from", str(ids))
    harvest(b, out, "--ids-from", str(ids))
    return a, b, out, ids


def listed(out: Path, emu: EmulatorThread, what: str = "--failed-ids") -> list[str]:
    proc = cli("status", str(out), what, "--base-url", emu.base_url)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def failed_total(out: Path) -> int:
    """``status --json``'s failed files, checked against its thumbnail row and its runs."""
    report = json.loads(cli("status", str(out), "--json").stdout)
    failed = report["totals"]["failed"]
    assert report["kinds"]["thumbnail"]["failed"] == failed, report
    assert sum(run["failed"] for run in report["runs"].values()) == failed, report
    return int(failed)


def failed_by_both(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[EmulatorThread, EmulatorThread, Path]:
    """Demo servers A and B, and DIR where project 51's thumbnails failed from A, then
    from B (the same 8 ids): (A, B, DIR)."""
    a = make_emulator(preset="demo", faults=THUMBNAILS_FAIL)
    b = make_emulator(preset="demo", faults=THUMBNAILS_FAIL, seed=7)
    out = tmp_path / "d"
    harvest(a, out, "--project", "51")
    harvest(b, out, "--project", "51")
    return a, b, out


def test_each_servers_failed_ids_list_has_the_ids_both_servers_failed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Project 51's thumbnails failed by A, then by B: A's list has the 8 ids (it had none:
    B's failures hid A's), with a note saying B failed them last; B's has them too; the
    plain list is refused, naming both (it printed them as B's alone, while status counted
    16 failed files). With A's set forgotten, status counts B's 8 failed files alone (it
    counted A's too, which no resume asks for again)."""
    a, b, out = failed_by_both(tmp_path, make_emulator)
    assert failed_total(out) == 16
    plain = cli("status", str(out), "--failed-ids")
    assert (plain.returncode, plain.stdout) == (2, ""), plain.stderr
    assert plain.stderr.startswith(f"error: the failed images of {out} are of 2 servers, ")
    assert all(f"{e.base_url} (8 images)" in plain.stderr for e in (a, b)), plain.stderr
    ids = listed(out, b)
    assert len(ids) == 8, ids
    proc = cli("status", str(out), "--failed-ids", "--base-url", a.base_url)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ids
    assert proc.stderr.startswith(
        f"note: listed for {a.base_url} too: 8 failed images ({', '.join(ids[:5])}"
    ), proc.stderr
    assert f"whose latest failure is {b.base_url}'s: a run of {a.base_url} failed" in proc.stderr
    forgot = cli("forget", str(out), "--project", "51", "--base-url", a.base_url)
    assert forgot.returncode == 0, forgot.stderr
    assert failed_total(out) == 8


def test_forgetting_the_newest_servers_set_leaves_the_others_failures_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Project 51's thumbnails failed by A, then by B, and B's set forgotten: status counts
    A's 8 failed files (it counted 16: B's failures, the journals' latest, were matched by
    image id to A's set, still resumed), B's run counts its 8 as forgotten, and the plain
    and A's `--failed-ids` list the 8 ids (A's list was empty)."""
    a, b, out = failed_by_both(tmp_path, make_emulator)
    ids = listed(out, a)
    forgot = cli("forget", str(out), "--project", "51", "--base-url", b.base_url)
    assert forgot.returncode == 0, forgot.stderr
    assert failed_total(out) == 8
    runs = json.loads(cli("status", str(out), "--json").stdout)["runs"]
    assert sorted((run["failed"], run["forgotten"]) for run in runs.values()) == [(0, 8), (8, 0)]
    assert listed(out, a) == ids
    plain = cli("status", str(out), "--failed-ids")
    assert (plain.returncode, plain.stdout.split()) == (0, ids), plain.stderr


def test_an_id_both_servers_failed_404_is_gone_from_each_and_taken_back_per_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id neither server has (404 from each): status counts 2 failed files, one per
    server's image (it counted 1); the pipe records it gone from both (it was from the
    newer alone), 0 failed; `--gone-ids --base-url` lists each server's record, and
    `--undo --base-url A` takes back A's alone, so B's record stays (it took back both):
    A's image is failed again, counted (1) and in A's `--failed-ids` (it was in neither,
    B's failure, the journals' latest, being of an image gone from B)."""
    a, b, out, ids = failed_404_by_both(tmp_path, make_emulator)
    assert failed_total(out) == 2
    forgot = cli("forget", str(out), "--gone-ids-from", str(ids))
    assert forgot.returncode == 0, forgot.stderr
    assert failed_total(out) == 0
    assert listed(out, a, "--gone-ids") == [MISSING]
    assert listed(out, b, "--gone-ids") == [MISSING]
    both = cli("status", str(out), "--gone-ids")
    assert both.stdout.split() == [MISSING], both.stderr
    undo = cli("forget", str(out), "--gone-ids-from", str(ids), "--undo", "--base-url", a.base_url)
    assert undo.returncode == 0, undo.stderr
    assert undo.stdout.startswith(f"{out}: 1 image no longer taken as gone from {a.base_url}:")
    assert listed(out, a, "--gone-ids") == []
    assert listed(out, b, "--gone-ids") == [MISSING]
    assert failed_total(out) == 1
    assert (listed(out, a), listed(out, b)) == ([MISSING], [])
    plain = cli("status", str(out), "--failed-ids")  # (it listed nothing: B's is gone)
    assert (plain.returncode, plain.stdout) == (0, f"{MISSING}\n"), plain.stderr
    assert plain.stderr.startswith(f"note: these are failed images of {a.base_url} (")
    none = cli("status", str(out), "--gone-ids", "--base-url", a.base_url)
    assert none.stderr == f"note: no image of {out} is recorded as gone from {a.base_url}\n"
    again = cli("forget", str(out), "--gone-ids-from", str(ids), "--undo", "--base-url", a.base_url)
    assert again.returncode == 2, again.stderr
    assert f"not recorded as gone from {a.base_url} in {out}" in again.stderr
    secret = a.base_url.replace("://", "://user:pw-SECRET-3@")  # (its hint named it)
    told = cli("forget", str(out), "--gone-ids-from", str(ids), "--undo", "--base-url", secret)
    assert told.returncode == 2 and "not recorded as gone from" in told.stderr, told.stderr
    assert "pw-SECRET-3" not in told.stdout + told.stderr, told.stderr


def test_a_plain_undo_of_an_id_of_two_servers_says_both_and_how_to_take_back_one(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--undo` without `--base-url` of an id recorded for both servers takes back both,
    and its line names both servers and `--base-url URL` for one server's alone."""
    a, b, out, ids = failed_404_by_both(tmp_path, make_emulator)
    assert cli("forget", str(out), "--gone-ids-from", str(ids)).returncode == 0
    undo = cli("forget", str(out), "--gone-ids-from", str(ids), "--undo")
    assert undo.returncode == 0, undo.stderr
    servers = " and ".join(sorted((a.base_url, b.base_url)))
    assert undo.stdout.rstrip().endswith(
        f"; taken back for each server they were recorded for, {servers} (to take back one "
        "server's alone, add --base-url URL)"
    ), undo.stdout
    assert listed(out, a, "--gone-ids") == [] and listed(out, b, "--gone-ids") == []
    refused = cli("forget", str(out), "--gone-ids-from", str(ids), "--base-url", a.base_url)
    assert refused.returncode == 2 and "beside --undo" in refused.stderr, refused.stderr


def test_an_undo_given_a_link_and_a_base_url_takes_back_what_both_name_or_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id recorded gone from A and from B. `--undo --base-url B` given A's image link
    names no record (A's link, B's server): refused, exit 2, nothing changed, naming both
    servers (it said `0 images no longer taken as gone`, exit 0, then that the id, gone from
    B, was not recorded as gone from B). A's link alone takes back A's record
    alone, its line naming no second server (it named both)."""
    a, b, out, ids = failed_404_by_both(tmp_path, make_emulator)
    assert cli("forget", str(out), "--gone-ids-from", str(ids)).returncode == 0
    a_link = f"{a.base_url}/webclient/?show=image-{MISSING}\n"
    crossed = cli(
        "forget", str(out), "--gone-ids-from", "-", "--undo", "--base-url", b.base_url,
        stdin=a_link,
    )  # fmt: skip
    assert crossed.returncode == 2, crossed.stdout + crossed.stderr
    # (the id is recorded as gone from B: the refusal names the two servers given, not a
    # record it says is missing)
    assert crossed.stderr.startswith(
        f"error: the image link of {MISSING} is of {a.base_url}, not of --base-url "
        f"{b.base_url} (nothing changed)\n"
    ), crossed.stderr
    assert "not recorded as gone" not in crossed.stderr, crossed.stderr
    assert listed(out, a, "--gone-ids") == [MISSING] and listed(out, b, "--gone-ids") == [MISSING]
    mine = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=a_link)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.startswith(f"{out}: 1 image no longer taken as gone:"), mine.stdout
    assert "taken back for each server" not in mine.stdout, mine.stdout  # (A's alone)
    assert listed(out, a, "--gone-ids") == [] and listed(out, b, "--gone-ids") == [MISSING]
    again = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=a_link)
    assert again.returncode == 2, again.stdout + again.stderr
    assert f"the link is of {a.base_url}, but image {MISSING} came from" in again.stderr
    assert listed(out, b, "--gone-ids") == [MISSING]


def test_one_server_saved_in_two_spellings_is_one_server_to_forget_and_status(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A (saved as `http://h:p`) failed an id with 404, then A (restarted, answering 500,
    saved as `http://h:p/`), then B with 404, last. A's latest failure is the 500: the
    pipe records the id gone from B alone and notes A (two spellings were two servers:
    the 404 recorded it gone from A too), and status counts 2 failed files, one per
    server (it counted 1; per spelling it would be 3), then A's alone."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="demo", seed=7)
    out = tmp_path / "d"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{MISSING}\n")
    harvest(a, out, "--ids-from", str(ids))
    port = int(a.base_url.rsplit(":", 1)[1])
    a.stop()
    failing = make_emulator(preset="demo", port=port, faults=THUMBNAILS_FAIL)
    proc = cli(
        "harvest", "--base-url", f"{failing.base_url}/", "--ids-from", str(ids), "--out",
        str(out), "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    harvest(b, out, "--ids-from", str(ids))
    spellings = {json.loads(p.read_text())["config"]["base_url"] for p in out.glob("runs/*/*.json")}
    assert {a.base_url, f"{a.base_url}/"} <= spellings, spellings  # (two spellings saved)
    assert failed_total(out) == 2
    forgot = cli("forget", str(out), "--gone-ids-from", str(ids))
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stderr.startswith(f"note: 1 id not recorded as gone from {a.base_url}"), (
        forgot.stderr
    )
    assert listed(out, a, "--gone-ids") == [] and listed(out, b, "--gone-ids") == [MISSING]
    assert failed_total(out) == 1
    assert (listed(out, a), listed(out, b)) == ([MISSING], [])

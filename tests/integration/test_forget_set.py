"""``harvester forget DIR TARGETS``: a way out of a target set whose target is gone.

A set whose runs did work (its plate was there once) and whose plate is then gone from the
server was kept, and every ``harvester harvest --out DIR`` was refused for it (exit 2) for
ever, while ``status`` kept promising that resume. Here the folder's server is first the
``fields`` preset (plates 3001, 3002), then, on the same port, the ``demo`` preset (plate
7375; plates 3001 and 3002 are gone), then ``fields`` again. Each command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py) against the emulator over
real sockets.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.runlock import acquire_run_lock, release_run_lock

GONE = "3001"  # a plate of the fields preset (36 images), not on the demo server
KEPT = "7375"  # a plate of the demo preset (8 images)


def harvest(base_url: str, out: Path, plate: str, *more: str) -> tuple[int, str]:
    """``harvester harvest --base-url URL --plate P --out DIR --artifacts thumbnail``."""
    proc = cli(
        "harvest", "--base-url", base_url, "--plate", plate, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q", *more,
    )  # fmt: skip
    return proc.returncode, proc.stderr


def index_rows(out: Path) -> list[dict[str, str]]:
    """The rows of DIR's index.csv."""
    with open(out / "index.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def index_plates(out: Path) -> dict[str, int]:
    """plate id -> rows of index.csv."""
    found: dict[str, int] = {}
    for row in index_rows(out):
        found[row["plate_id"]] = found.get(row["plate_id"], 0) + 1
    return found


def thumbnails(out: Path) -> int:
    """How many thumbnails DIR holds."""
    return len(list((out / "images").rglob("*.thumbnail.jpg")))


def same_port(
    emu: EmulatorThread, preset: str, make_emulator: Callable[..., EmulatorThread]
) -> EmulatorThread:
    """Stop ``emu`` and serve ``preset`` on its port instead: the same base URL, another
    server's plates (DIR's server as its plates come and go)."""
    port = emu.server.port
    emu.stop()
    return make_emulator(preset=preset, port=port)


def planned_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[Path, EmulatorThread]:
    """DIR holding a plan of the fields server's plate 3001 (thumbnails); DIR and that server."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields")
    planned = cli(
        "plan", "--base-url", fields.base_url, "--plate", GONE, "--out", str(out),
        "--artifacts", "thumbnail",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    return out, fields


def gone_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], *fields_flags: str
) -> tuple[Path, EmulatorThread]:
    """DIR harvested from the fields server (plate 3001, with ``fields_flags``), then from
    the demo server on the same port (plate 7375): plate 3001 is gone from DIR's server."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields", **({"faults": fields_flags[0]} if fields_flags else {}))
    code, err = harvest(fields.base_url, out, GONE, *fields_flags[1:])
    assert code in (0, 1), err
    demo = same_port(fields, "demo", make_emulator)
    assert demo.base_url == fields.base_url
    assert harvest(demo.base_url, out, KEPT) == (0, "")
    return out, demo


@pytest.fixture(scope="module")
def gone_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, EmulatorThread]]:
    """``gone_folder`` made once for this module's tests (in each xdist worker), its demo
    server kept up for them: two CLI harvests and two servers less per test. Tests copy DIR
    and only ask that server, never change it (those that do make their own)."""
    started: list[EmulatorThread] = []

    def start(**kwargs: Any) -> EmulatorThread:
        emu = EmulatorThread(**kwargs).start()
        started.append(emu)
        return emu

    try:
        yield gone_folder(tmp_path_factory.mktemp("gone"), start)
    finally:
        for emu in reversed(started):
            emu.stop()


def gone_copy(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> tuple[Path, EmulatorThread]:
    """This test's own copy of the ``gone_template`` DIR (as ``cp -a`` copies it: the
    harvester takes a copied folder for the folder), and its demo server."""
    template, demo = gone_template
    return Path(shutil.copytree(template, tmp_path / "d", symlinks=True)), demo


def test_resume_refused_for_a_gone_plate_hints_forget_which_ends_it(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """Resume exits 2 with a hint holding the exact forget command; that command forgets the
    set (exit 0, one line), the next resume exits 0 with the other set done, status lists
    no resume for it, and index.csv keeps the gone plate's images."""
    out, _demo = gone_copy(tmp_path, gone_template)
    before = index_plates(out)
    assert before == {GONE: 36, KEPT: 8}

    refused = cli("harvest", "--out", str(out), "-q")
    assert refused.returncode == 2
    lines = refused.stderr.splitlines()
    assert f"error: plate {GONE} not found on the server" in lines
    (hint,) = [line for line in lines if line.startswith("hint: ")]
    command = hint.rsplit(": ", 1)[1]
    assert command == f"harvester forget {out} --plate {GONE}"

    forgot = cli(*shlex.split(command)[1:])
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.count("\n") == 1 and forgot.stderr == ""
    assert forgot.stdout.startswith(f"{out}: forgot the target set --plate {GONE}: ")
    assert "to undo, run its targets again: harvester harvest --out" in forgot.stdout
    assert f"--plate {GONE}" in forgot.stdout.rsplit(": ", 1)[1]

    resumed = cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "error:" not in resumed.stderr and f"plate {GONE}" not in resumed.stderr
    assert f"--plate {KEPT}" in resumed.stderr  # (the one set it replayed)
    assert index_plates(out) == before  # rewritten by the resume: nothing lost
    assert thumbnails(out) == 44

    status = cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert "to resume:" not in status.stdout
    said = "forgotten (`harvester forget`: not resumed, failed and pending not counted): "
    assert f"{said}--plate {GONE}; to take one back" in status.stdout


def test_forgotten_set_failures_are_not_counted_by_status(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The gone plate's thumbnails had failed: status counted them and offered the resume
    that is refused; once the set is forgotten it counts none and offers nothing, its
    writer's and run's lines counting them as forgotten, not failed."""
    fault = "500:100%,only:/webgateway/render_thumbnail/"
    out, _demo = gone_folder(tmp_path, make_emulator, fault, "--max-retries", "0")

    status = cli("status", str(out), "--json")
    report = json.loads(status.stdout)
    totals = report["totals"]
    # (the run stops asking for a kind that keeps failing: the rest are pending)
    assert totals["failed"] > 0 and totals["failed"] + totals["pending"] == 36
    assert "resume" in report
    failed = totals["failed"]
    assert sum(w["failed"] for w in report["writers"]) == failed

    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    status = cli("status", str(out), "--json")
    report = json.loads(status.stdout)
    assert report["totals"]["failed"] == 0 and report["totals"]["pending"] == 0
    writers, runs = report["writers"], report["runs"].values()
    assert sum(w["failed"] for w in writers) == sum(r["failed"] for r in runs) == 0
    assert sum(w["forgotten"] for w in writers) == sum(r["forgotten"] for r in runs) == failed
    shown = cli("status", str(out)).stdout.splitlines()
    said = [line for line in shown[shown.index("writers:") :] if " forgotten, " in line]
    assert len(said) == 1 and f": 0 done, 0 failed, {failed} forgotten, " in said[0], shown
    assert "resume" not in report and "not_asked" not in report
    assert report["forgotten"] == [f"--plate {GONE}"]
    failed_ids = cli("status", str(out), "--failed-ids")
    assert (failed_ids.returncode, failed_ids.stdout) == (0, "")
    assert cli("harvest", "--out", str(out), "-q").returncode == 0


def test_running_the_targets_again_revives_the_set(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With the plate back on the server, a harvest given its targets says the set is
    resumed again; status no longer says it is forgotten and resumes replay it again."""
    out, demo = gone_folder(tmp_path, make_emulator)
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    back = same_port(demo, "fields", make_emulator)

    again = cli("harvest", "--out", str(out), "--plate", GONE)
    assert again.returncode == 0, again.stderr
    assert f"{out}: the target set --plate {GONE} is resumed again" in again.stderr
    assert not (out / "forgotten.json").exists()
    assert "forgotten" not in cli("status", str(out)).stdout

    # Now the demo plate is the gone one: the resume replays plate 3001 again and is
    # refused for plate 7375 alone, naming the command that forgets that set.
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 2
    assert f"error: plate {KEPT} not found on the server" in resumed.stderr
    assert f"harvester forget {out} --plate {KEPT}" in resumed.stderr
    assert f"plate {GONE}" not in resumed.stderr
    assert back.base_url == demo.base_url


def test_a_run_refused_for_the_same_gone_target_keeps_it_forgotten(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """Giving the gone plate again while it is still gone is refused (exit 2), and the set
    stays forgotten: the next resume still exits 0."""
    out, demo = gone_copy(tmp_path, gone_template)
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    assert harvest(demo.base_url, out, GONE)[0] == 2
    assert (out / "forgotten.json").is_file()
    resumed = cli("harvest", "--out", str(out), "-q")
    assert (resumed.returncode, resumed.stderr) == (0, "")


def test_forget_refuses_an_unknown_set_and_a_folder_that_is_no_harvest(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """No set with these targets, no targets, a folder that does not exist or is not a
    harvest: one error line and one hint, exit 2, nothing written."""
    out, _demo = gone_copy(tmp_path, gone_template)

    unknown = cli("forget", str(out), "--plate", "3002")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines() == [
        f"error: {out} has no target set --plate 3002",
        f"hint: name one of its target sets instead: harvester forget {out} --plate {KEPT}; "
        f"harvester forget {out} --plate {GONE}",
    ]
    none = cli("forget", str(out))
    assert none.returncode == 2
    assert none.stderr.splitlines()[0] == "error: name the target set to forget by its targets"
    assert none.stderr.count("\n") == 2

    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "missing", empty):
        proc = cli("forget", str(folder), "--plate", GONE)
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 2
        assert "Traceback" not in proc.stderr
    assert not (out / "forgotten.json").exists() and list(empty.iterdir()) == []


def test_forget_waits_for_a_harvest_holding_the_folder(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """While the test holds DIR's run lock (as a running harvest holds it), forget is
    refused with exit 75 and writes nothing; once the lock is free it forgets."""
    out, _demo = gone_copy(tmp_path, gone_template)
    lock = acquire_run_lock(out, None)
    try:
        busy = cli("forget", str(out), "--plate", GONE)
    finally:
        release_run_lock(lock)
    assert busy.returncode == 75
    assert busy.stderr.startswith(f"error: {out} is already being harvested")
    assert not (out / "forgotten.json").exists()
    assert cli("forget", str(out), "--plate", GONE).returncode == 0


def test_a_damaged_forgotten_list_forgets_nothing(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """forgotten.json edited into something that is not JSON: no set is forgotten (the
    resume is refused again, with the hint, and says why under -q too), and forgetting again
    writes a good list."""
    out, _demo = gone_copy(tmp_path, gone_template)
    (out / "forgotten.json").write_text("{not json")
    quiet = cli("harvest", "--out", str(out), "-q")
    assert quiet.returncode == 2
    # Said under -q too: why the forgotten set is replayed (and refused) again.
    assert f"{out / 'forgotten.json'} is damaged (not JSON)" in quiet.stderr, quiet.stderr
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    saved = json.loads((out / "forgotten.json").read_text())
    assert [entry["targets"] for entry in saved["sets"]] == [f"--plate {GONE}"]
    assert cli("harvest", "--out", str(out), "-q").returncode == 0


def test_a_folder_whose_every_set_is_forgotten_has_nothing_to_resume(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """Both sets forgotten: the resume says so in one line, with a command that takes one
    back, and exits 0 (not "nothing to harvest", exit 2)."""
    out, _demo = gone_copy(tmp_path, gone_template)
    for plate in (GONE, KEPT):
        assert cli("forget", str(out), "--plate", plate).returncode == 0
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0
    (line,) = resumed.stderr.splitlines()
    assert line.startswith(f"nothing to resume: every target set of {out} is forgotten")
    again = shlex.split(line.split("e.g. ", 1)[1])
    # The set as its resumes replayed it: its kinds too, not the folder's defaults.
    assert again[:4] == ["harvester", "harvest", "--out", str(out)], again
    assert "--plate" in again and again[again.index("--artifacts") + 1] == "thumbnail", again
    assert cli(*again[1:], "-q").returncode == 0  # run as printed: the set is back
    assert not cli("harvest", "--out", str(out), "-q").stderr.startswith("nothing to resume")


def test_forget_waits_for_a_shard_of_a_split_holding_the_folder(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """While a shard of a SLURM array holds DIR (its own lock, not all.lock), forget is
    refused as for any harvest, exit 75 with the hint to wait; not the other-split
    refusal, whose hint says to use the shard count."""
    out, _demo = gone_copy(tmp_path, gone_template)
    lock = acquire_run_lock(out, "1/2")
    try:
        busy = cli("forget", str(out), "--plate", GONE)
    finally:
        release_run_lock(lock)
    assert busy.returncode == 75, busy.stderr
    lines = busy.stderr.splitlines()
    assert lines[0].startswith(f"error: {out} is being harvested by another process"), lines
    assert lines[1] == "hint: wait for it to end, then forget the set (it may be harvesting it now)"
    assert not (out / "forgotten.json").exists()


def test_verify_names_the_targets_of_a_forgotten_sets_damaged_file(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """A damaged file of a forgotten set's image: verify's command is the set's targets
    again (which take it back), not ``harvest --out DIR``, which leaves the set out and
    refetched nothing; a live set's damaged file beside it keeps the resume."""
    out, _demo = gone_copy(tmp_path, gone_template)
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    rows = index_rows(out)
    gone_thumb = next(r for r in rows if r["plate_id"] == GONE)["thumbnail_path"]
    (out / gone_thumb).write_bytes(b"junk")
    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stderr
    said = "1 damaged or missing files: to refetch exactly those: "
    last = verified.stdout.splitlines()[-1]
    assert last.startswith(said) and last.endswith(
        "  # 1 file of a forgotten target set, which a resume leaves out: its targets given "
        "again take it back"
    ), last
    again = last[len(said) :].split("  # ", 1)[0]  # the set's targets and its own settings
    assert again.startswith(f"harvester harvest --out {out} ") and f"--plate {GONE}" in again
    kept_thumb = next(r for r in rows if r["plate_id"] == KEPT)["thumbnail_path"]
    (out / kept_thumb).write_bytes(b"junk")
    verified = cli("verify", str(out))
    last_two = verified.stdout.splitlines()[-2:]
    assert last_two[0] == (
        f"2 damaged or missing files: to refetch exactly those: harvester harvest --out {out}"
    ), last_two
    assert last_two[1].startswith(f"  also: {again}  # 1 file of a forgotten"), last_two


def test_a_sample_per_set_is_forgotten_by_the_command_its_refusal_names(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A balanced sample (--sample-per) of a plate now gone: the refusal's forget command
    (which names the key) forgets it, exit 0; once every set is forgotten, the commands
    the resume and verify (a damaged file) offer to take it back are ones a harvest
    accepts (--sample with --sample-per)."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields")
    per = ("--sample", "1", "--sample-per", "Gene Symbol")
    assert harvest(fields.base_url, out, GONE, *per) == (0, "")
    demo = same_port(fields, "demo", make_emulator)

    refused = cli("harvest", "--out", str(out), "-q")
    assert refused.returncode == 2
    (hint,) = [line for line in refused.stderr.splitlines() if line.startswith("hint: ")]
    command = hint.rsplit(": ", 1)[1]
    assert command == f"harvester forget {out} --plate {GONE} --sample-per 'Gene Symbol'"
    forgot = cli(*shlex.split(command)[1:])
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --plate {GONE} --sample-per")

    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    again = resumed.stderr.rsplit("e.g. ", 1)[1].strip()
    assert "--sample-per 'Gene Symbol'" in again and "--sample 1" in again, again
    # Accepted as a harvest (not refused for its flags): it reaches the server's check.
    taken = cli(*shlex.split(again)[1:], "-q")
    assert taken.returncode == 2
    assert taken.stderr.startswith(f"error: plate {GONE} not found on the server"), taken.stderr
    assert demo.base_url in taken.stderr

    thumb = next((out / "images").rglob("*.thumbnail.jpg"))
    thumb.write_bytes(b"junk")
    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stderr
    # verify names the very command the resume did (one helper builds both)
    assert f"{again}  # 1 file of a forgotten target set" in verified.stdout, verified.stdout


def test_a_forgotten_plan_set_leaves_status_without_its_failures_and_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plan of a plate now gone, harvested with --from-plan (every thumbnail 404): the
    harvest's closing line and status name the forget command; once its set is forgotten by it,
    status counts no failed or pending artifact of the plan, lists no failure, offers no
    resume, and names the set as forgotten; index no longer notes the plan's images
    missing from index.csv."""
    out, fields = planned_folder(tmp_path, make_emulator)
    same_port(fields, "demo", make_emulator)
    failed = cli("harvest", "--out", str(out), "--from-plan", str(out), "--rate", "none", "-q")
    assert failed.returncode == 1, failed.stderr
    gone = (
        "if the images are gone from the server for good, stop resuming this target set "
        f"(its files stay): harvester forget {out} --from-plan {out}"
    )
    assert failed.stderr.splitlines()[-1] == gone, failed.stderr
    replayed = cli("harvest", "--out", str(out), "--rate", "none", "-q")  # (a resume: the same)
    assert (replayed.returncode, replayed.stderr.splitlines()[-1]) == (1, gone), replayed.stderr
    before = json.loads(cli("status", str(out), "--json").stdout)
    assert before["totals"]["failed"] + before["totals"]["pending"] == 36
    assert "resume" in before and "plan" in before
    forget = gone.rsplit(": ", 1)[1]
    assert before["forget_gone"] == forget, before
    said = "if the plan's images are gone from the server for good, stop resuming its target set"
    assert f"{said} (its files stay): {forget}" in cli("status", str(out)).stdout.splitlines()
    assert "note: index.csv lists 0 of the plan's 36 images" in cli("index", str(out)).stdout

    forgot = cli(*shlex.split(gone.rsplit(": ", 1)[1])[1:])
    assert forgot.returncode == 0, forgot.stderr
    report = json.loads(cli("status", str(out), "--json").stdout)
    assert report["totals"]["failed"] == 0 and report["totals"]["pending"] == 0
    assert report["failures"] == [] and "resume" not in report and "plan" not in report
    assert "forget_gone" not in report
    assert report["forgotten"] == [f"--from-plan {out}"]
    text = cli("status", str(out)).stdout
    assert "to resume" not in text and "failures" not in text
    assert "forgotten (`harvester forget`: not resumed, failed and pending not counted): " in text
    indexed = cli("index", str(out))  # (no resubmission would add the plan's images)
    assert indexed.returncode == 0 and "note: " not in indexed.stdout, indexed.stdout
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.startswith(f"nothing to resume: every target set of {out} is forgotten")


def test_status_names_no_forget_for_a_plan_some_of_whose_images_are_there(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Half of a plan harvested (shard 0/2), then its other half failing with 404s: some
    of its images were there, so status offers the resume, not forgetting the set (only
    the failed images, gone from the server, by `forget --gone-ids-from`)."""
    out, fields = planned_folder(tmp_path, make_emulator)
    plan = ("--from-plan", str(out), "--rate", "none", "-q")
    half = cli("harvest", "--out", str(out), *plan, "--shard", "0/2")
    assert half.returncode == 0, half.stderr
    same_port(fields, "demo", make_emulator)
    other = cli("harvest", "--out", str(out), *plan, "--shard", "1/2")
    assert other.returncode == 1 and "harvester forget" not in other.stderr, other.stderr

    report = json.loads(cli("status", str(out), "--json").stdout)
    assert report["totals"]["failed"] > 0 and report["plan"]["done"] > 0, report
    assert "resume" in report and "forget_gone" not in report, report
    shown = cli("status", str(out)).stdout
    assert "stop resuming" not in shown and "--from-plan" not in shown.split("harvester forget")[1]
    assert [x for x in shown.splitlines() if x.endswith(f"forget {out} --gone-ids-from -")]


def _pasted(command: str, url: str) -> list[str]:
    """A printed ``harvester harvest ...`` command as the user pastes it back: ``URL`` (what
    the note says it stands for) given as ``url``, the note left out."""
    words = shlex.split(command.partition("  #")[0])
    assert words[:2] == ["harvester", "harvest"], command
    return [url if word == "URL" else word for word in words[1:]]


def test_a_forgotten_sets_take_back_commands_carry_its_credentialed_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A forgotten set harvested through a --base-url with a user and password (never
    saved): the resume's and verify's take-back commands name --base-url URL, so that,
    pasted with the URL, they run (exit 0) and refetch; without it both were refused
    ('the server needs credentials that are not saved', exit 2)."""
    emu = make_emulator(preset="demo", basic_auth="alice:s3cret-pw")
    url = emu.base_url.replace("://", "://alice:s3cret-pw@")
    out = tmp_path / "d"
    assert harvest(url, out, KEPT) == (0, "")
    assert cli("forget", str(out), "--plate", KEPT).returncode == 0
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    line = resumed.stderr.strip()
    assert "s3cret" not in line and "URL: " in line, line
    taken = cli(*_pasted(line.partition("e.g. ")[2], url), "-q")
    assert taken.returncode == 0, taken.stderr
    assert cli("forget", str(out), "--plate", KEPT).returncode == 0
    thumb = index_rows(out)[0]["thumbnail_path"]
    (out / thumb).write_bytes(b"junk")
    verified = cli("verify", str(out))
    last = verified.stdout.splitlines()[-1]
    assert verified.returncode == 1 and "s3cret" not in last and "URL: " in last, last
    command = last.partition("to refetch exactly those: ")[2].partition("  # 1 file")[0]
    refetched = cli(*_pasted(command, url), "-q")
    assert refetched.returncode == 0, refetched.stderr
    assert cli("verify", str(out)).returncode == 0


def test_a_forgotten_entry_with_a_damaged_time_forgets_nothing_and_says_so(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """forget writes when as an ISO 8601 time; an entry whose time was edited into a word,
    or a number too large for a date: the resume is refused for the gone plate (nothing is
    forgotten) with one warning line naming the file, never a traceback."""
    out, _demo = gone_copy(tmp_path, gone_template)
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    saved = json.loads((out / "forgotten.json").read_text())
    assert datetime.fromisoformat(saved["sets"][0]["at"]).tzinfo is not None
    for at in ("yesterday", 10**400):
        saved["sets"][0]["at"] = at
        (out / "forgotten.json").write_text(json.dumps(saved))
        resumed = cli("harvest", "--out", str(out))
        assert resumed.returncode == 2, resumed.stderr
        assert "Traceback" not in resumed.stderr
        said = [line for line in resumed.stderr.splitlines() if "forgotten.json" in line]
        assert len(said) == 1 and f"{out / 'forgotten.json'} is damaged (" in said[0], said
        assert f"error: plate {GONE} not found on the server" in resumed.stderr


def test_undo_beside_a_sets_targets_names_the_harvest_that_takes_it_back(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """``forget DIR --plate P --undo`` (a set forgotten, then "undone" as images are): one
    error saying --undo is for --gone-ids-from's images, and a hint with the harvest that
    takes the set back, as forget printed it (it hinted --gone-ids-from FILE); exit 2,
    the set still forgotten."""
    out, _demo = gone_copy(tmp_path, gone_template)
    forgot = cli("forget", str(out), "--plate", GONE)
    assert forgot.returncode == 0, forgot.stderr
    printed = forgot.stdout.strip().rsplit("run its targets again: ", 1)[1]
    undo = cli("forget", str(out), "--plate", GONE, "--undo")
    assert undo.returncode == 2
    assert undo.stderr.splitlines() == [
        "error: --undo takes back images recorded by --gone-ids-from, not a target set",
        "hint: a forgotten target set comes back when a harvest is given its targets: " + printed,
    ]
    assert (out / "forgotten.json").is_file()
    unknown = cli("forget", str(out), "--plate", "9", "--undo")
    assert unknown.returncode == 2
    assert f"(harvester status {out} names the forgotten ones)" in unknown.stderr


def test_undo_beside_a_live_sets_targets_says_it_is_not_forgotten(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """``forget DIR --plate P --undo`` for a set DIR has and never forgot: the hint says it
    is not forgotten (it offered the harvest that "takes it back"); exit 2, nothing written."""
    out, _demo = gone_copy(tmp_path, gone_template)
    undo = cli("forget", str(out), "--plate", KEPT, "--undo")
    assert undo.returncode == 2
    assert undo.stderr.splitlines() == [
        "error: --undo takes back images recorded by --gone-ids-from, not a target set",
        f"hint: --plate {KEPT} is not forgotten in {out}: nothing to take back",
    ]
    assert not (out / "forgotten.json").exists()


def test_the_undo_command_of_a_split_set_takes_back_the_whole_set(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A set whose newest run was shard 1/2 of a split: forget's undo command names no
    --shard, and run as printed it takes the set back and harvests all of its images."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields")
    assert harvest(fields.base_url, out, GONE, "--shard", "1/2") == (0, "")
    assert thumbnails(out) < 36
    forgot = cli("forget", str(out), "--plate", GONE)
    assert forgot.returncode == 0, forgot.stderr
    undo = forgot.stdout.strip().rsplit("run its targets again: ", 1)[1]
    assert "--shard" not in undo and f"--plate {GONE}" in undo, undo
    again = cli(*shlex.split(undo)[1:], "-q")
    assert again.returncode == 0, again.stderr
    assert not (out / "forgotten.json").exists()
    assert thumbnails(out) == 36


def test_status_says_no_unwalked_shards_of_a_forgotten_split_set(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A forgotten set of which only shard 2/3 ran: status names no shard "never walked"
    and offers no resume (a resume replays nothing), only the forgotten line."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields")
    assert harvest(fields.base_url, out, GONE, "--shard", "2/3") == (0, "")
    before = cli("status", str(out)).stdout
    assert "never walked" in before and "to resume:" in before, before
    assert cli("forget", str(out), "--plate", GONE).returncode == 0

    status = cli("status", str(out))
    assert status.returncode == 0, status.stderr
    assert "never walked" not in status.stdout and "to resume" not in status.stdout, status.stdout
    assert f"not resumed, failed and pending not counted): --plate {GONE};" in status.stdout
    report = json.loads(cli("status", str(out), "--json").stdout)
    assert "resume" not in report and report["forgotten"] == [f"--plate {GONE}"], report


def test_status_counts_a_forgotten_sets_invalid_files_apart(
    tmp_path: Path, gone_template: tuple[Path, EmulatorThread]
) -> None:
    """verify marks a forgotten set's damaged file invalid: status does not say a harvest
    refetches it (a resume leaves its set out) but counts it apart, with how to take the set
    back; a live set's invalid file is still said to be refetched."""
    out, _demo = gone_copy(tmp_path, gone_template)
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    rows = index_rows(out)
    (out / next(r for r in rows if r["plate_id"] == GONE)["thumbnail_path"]).write_bytes(b"x")
    assert cli("verify", str(out)).returncode == 1

    text = cli("status", str(out)).stdout
    assert "awaiting refetch by harvest" not in text, text
    assert (
        "1 file of forgotten target sets marked invalid (by verify or the next run's check "
        "of an interrupted run; not refetched: a resume leaves their sets out; their targets "
        "given again take them back)"
    ) in text.splitlines(), text
    totals = json.loads(cli("status", str(out), "--json").stdout)["totals"]
    assert (totals["invalid"], totals["invalid_forgotten"]) == (0, 1)

    (out / next(r for r in rows if r["plate_id"] == KEPT)["thumbnail_path"]).write_bytes(b"x")
    assert cli("verify", str(out)).returncode == 1
    text = cli("status", str(out)).stdout
    assert (
        "1 file marked invalid (by verify or the next run's check of an interrupted run), "
        "awaiting refetch by harvest"
    ) in text.splitlines()
    totals = json.loads(cli("status", str(out), "--json").stdout)["totals"]
    assert (totals["invalid"], totals["invalid_forgotten"]) == (1, 1)


def test_verify_names_the_plan_of_a_forgotten_plan_sets_damaged_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A damaged file of a forgotten --from-plan set: verify's command is that plan again
    (which takes the set back and refetches it), not ``harvest --out DIR``, which leaves
    the set out ("nothing to resume") and refetched nothing."""
    out, _fields = planned_folder(tmp_path, make_emulator)
    done = cli("harvest", "--out", str(out), "--from-plan", str(out), "--rate", "none", "-q")
    assert done.returncode == 0, done.stderr
    assert cli("forget", str(out), "--from-plan", str(out)).returncode == 0
    thumb = next((out / "images").rglob("*.thumbnail.jpg"))
    thumb.write_bytes(b"junk")

    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stderr
    last = verified.stdout.splitlines()[-1]
    said = "1 damaged or missing files: to refetch exactly those: "
    assert last.startswith(said) and "  # 1 file of a forgotten target set" in last, last
    again = last[len(said) :].split("  # ", 1)[0]
    assert again.startswith(f"harvester harvest --out {out} ") and f"--from-plan {out}" in again
    refetched = cli(*shlex.split(again)[1:], "-q")
    assert refetched.returncode == 0, refetched.stderr
    assert cli("verify", str(out)).returncode == 0


def test_a_forgotten_sets_run_does_not_choose_the_folders_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The newest run was a set since forgotten, from another server: a run given new
    targets and no --base-url asks the server of the newest live set (exit 0), not the
    forgotten set's, which does not have that image (exit 2)."""
    out = tmp_path / "d"
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    assert harvest(demo.base_url, out, KEPT) == (0, "")
    assert harvest(fields.base_url, out, GONE)[0] == 0
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    image = next(r for r in index_rows(out) if r["plate_id"] == KEPT)["image_id"]

    more = cli("harvest", "--out", str(out), "--image", image, "--rate", "none")
    assert more.returncode == 0, more.stderr
    assert fields.base_url not in more.stderr, more.stderr
    assert f"asking {demo.base_url}, the server {out} was harvested from" in more.stderr


def test_forget_takes_a_screen_name_the_sets_run_was_given(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A set harvested as --screen idr9001 (saved as its id, 1101) is forgotten by that
    name with no server up; a name no run of DIR was given is refused in one error line
    saying names are not looked up, the hint listing DIR's sets by id."""
    out = tmp_path / "d"
    fields = make_emulator(preset="fields")
    named = cli(
        "harvest", "--base-url", fields.base_url, "--screen", "idr9001", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert named.returncode == 0, named.stderr
    fields.stop()

    forgot = cli("forget", str(out), "--screen", "IDR9001/")  # (as names compare)
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --screen 1101: "), forgot.stdout
    assert "--screen 1101" in forgot.stdout.rsplit(": ", 1)[1]

    other = cli("forget", str(out), "--screen", "idr0056")
    assert other.returncode == 2
    assert other.stderr.splitlines() == [
        f"error: {out} has no target set --screen idr0056 (a name is not looked up on the "
        "server: forget knows only those its runs were given and its study records hold; "
        "give the set's ids)",
        f"hint: name one of its target sets instead: harvester forget {out} --screen 1101 "
        "(forgotten)",
    ]


def test_forget_takes_a_screen_name_a_config_file_gave_from_the_study_records(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A set harvested from a config file naming screen idr9001 (no name on the command
    line, saved as id 1101) is forgotten by that name with no server up, matched against
    the screen names DIR's study records hold; a name they do not hold is refused, exit 2."""
    out, config = tmp_path / "d", tmp_path / "c.toml"
    fields = make_emulator(preset="fields")
    config.write_text(
        f'base_url = "{fields.base_url}"\nscreens = ["idr9001"]\nartifacts = ["thumbnail"]\n'
    )
    named = cli("harvest", str(config), "--out", str(out), "--rate", "none", "-q")
    assert named.returncode == 0, named.stderr
    fields.stop()

    other = cli("forget", str(out), "--screen", "idr9001-emulated-fields/screenB")
    assert other.returncode == 2 and "give the set's ids" in other.stderr, other.stderr
    assert not (out / "forgotten.json").exists()
    forgot = cli("forget", str(out), "--screen", "idr9001")
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --screen 1101: "), forgot.stdout
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.startswith(f"nothing to resume: every target set of {out} is forgotten")


def test_a_forgotten_set_of_another_server_is_taken_back_from_that_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of two servers, the newest set's forgotten: forget's undo and verify's
    command for its damaged file name its server (DIR's is now the other one), so that,
    pasted, they take the set back and refetch the file (exit 0); without --base-url
    verify's asked DIR's server, which has no such plate (exit 2)."""
    out = tmp_path / "d"
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    assert harvest(demo.base_url, out, KEPT) == (0, "")
    assert harvest(fields.base_url, out, GONE)[0] == 0
    forgot = cli("forget", str(out), "--plate", GONE)
    assert forgot.returncode == 0, forgot.stderr
    undo = forgot.stdout.strip().rpartition("to undo, run its targets again: ")[2]
    assert f"--base-url {fields.base_url}" in undo, undo
    with open(out / "index.csv", newline="") as handle:
        thumb = next(r for r in csv.DictReader(handle) if r["plate_id"] == GONE)["thumbnail_path"]
    (out / thumb).write_bytes(b"junk")
    verified = cli("verify", str(out))
    assert verified.returncode == 1, verified.stderr
    last = verified.stdout.splitlines()[-1]
    command = last.partition("to refetch exactly those: ")[2].partition("  # 1 file")[0]
    assert f"--base-url {fields.base_url}" in command, last
    refetched = cli(*_pasted(command, ""), "-q")
    assert refetched.returncode == 0, refetched.stderr
    assert cli("verify", str(out)).returncode == 0


def test_status_names_the_server_of_a_forgotten_set_of_another_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of two servers, the older server's set forgotten: status's forgotten line
    names that set's server, and its targets given with that --base-url take it back (exit
    0); given alone, as the line said before, they asked DIR's server, which has no such
    plate (exit 2)."""
    out = tmp_path / "d"
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    assert harvest(fields.base_url, out, GONE) == (0, "")
    assert harvest(demo.base_url, out, KEPT)[0] == 0
    assert cli("forget", str(out), "--plate", GONE).returncode == 0
    said = [line for line in cli("status", str(out)).stdout.splitlines() if "forgotten (" in line]
    assert said == [
        "forgotten (`harvester forget`: not resumed, failed and pending not counted): "
        f"--plate {GONE} (of {fields.base_url}); to take one back, give its targets to "
        f"harvester harvest --out {out}, with --base-url and the server named for one of "
        "another server"
    ]
    assert cli("harvest", "--out", str(out), "--plate", GONE, "-q").returncode == 2
    taken = cli("harvest", "--out", str(out), "--base-url", fields.base_url, "--plate", GONE, "-q")
    assert taken.returncode == 0, taken.stderr
    assert "forgotten (" not in cli("status", str(out)).stdout


def test_a_run_taking_the_folders_kinds_names_the_run_it_took_them_from(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """After --plate (thumbnail) and a newer --image set (metadata) that is then forgotten,
    a run of new targets given no --base-url or --artifacts takes the plate's server and
    kinds, naming the plate's run as the newest not of a forgotten set (it said "its newest
    run", with a newer run there)."""
    out = tmp_path / "d"
    assert harvest(emulator.base_url, out, KEPT) == (0, "")
    (plate_run,) = [path.name for path in (out / "runs").iterdir()]
    newer = cli(
        "harvest", "--base-url", emulator.base_url, "--image", "1884804", "--out", str(out),
        "--artifacts", "metadata", "--rate", "none", "-q",
    )  # fmt: skip
    assert newer.returncode == 0, newer.stderr
    assert len(list((out / "runs").iterdir())) == 2
    assert cli("forget", str(out), "--image", "1884804").returncode == 0

    new = cli("harvest", "--out", str(out), "--image", "1884805", "--rate", "none")
    assert new.returncode == 0, new.stderr
    took = f"(its newest run not of a forgotten target set, {plate_run})"
    said = [line for line in new.stderr.splitlines() if f"{out} was harvested" in line]
    assert said == [
        f"asking {emulator.base_url}, the server {out} was harvested from {took}: give "
        "--base-url to ask another",
        f"fetching --artifacts thumbnail, the kinds {out} was harvested with {took}: give "
        "--artifacts to fetch others",
    ], new.stderr


@pytest.mark.parametrize(
    "draw",
    [
        ("--sample-per", "well_id", "--sample", "1", "--seed", "3"),
        ("--sample", "5", "--seed", "2"),
        ("--sample-fraction", "0.25", "--seed", "4"),
    ],
)
def test_the_take_back_command_draws_the_forgotten_sample_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], draw: tuple[str, ...]
) -> None:
    """Every set forgotten, the resume's "give its targets, e.g. ..." command carries the
    set's sample and seed: run, it fetches nothing new and index.csv keeps the sample (it
    named --sample-per well_id --sample 1 alone, which drew seed 0's wells, or --plate alone,
    which harvested the whole plate)."""
    emu = make_emulator(preset="fields")
    out = tmp_path / "d"
    assert harvest(emu.base_url, out, GONE, *draw) == (0, "")
    kept = {row["image_id"] for row in index_rows(out)}
    assert 0 < len(kept) < 36
    forgot = cli("forget", str(out), "--plate", GONE, *draw[: 2 if "--sample-per" in draw else 0])
    assert forgot.returncode == 0, forgot.stderr
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    again = resumed.stderr.rsplit("e.g. ", 1)[1].strip()
    for flag, value in zip(draw[::2], draw[1::2], strict=True):
        assert f"{flag} {value}" in again, again
    emu.reset_stats()
    taken = cli(*shlex.split(again)[1:], "--rate", "none", "-q")
    assert taken.returncode == 0, taken.stderr
    assert sum(emu.stats()["by_route"].get("image:thumbnail", {}).values()) == 0
    assert {row["image_id"] for row in index_rows(out)} == kept
    assert thumbnails(out) == len(kept)


def test_a_link_names_the_set_of_its_own_server_only(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """In a folder of plate 3001 of server A and plate 7375 of server B, `forget --plate`
    given a link of B (or of a server DIR never asked) to plate 3001 is refused on one
    line naming DIR's servers, exit 2, nothing forgotten (it forgot A's set); A's link
    forgets it."""
    fields = make_emulator(preset="fields")
    demo = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert harvest(fields.base_url, out, GONE)[0] == 0
    assert harvest(demo.base_url, out, KEPT, "--no-labels")[0] == 0

    def link(base_url: str) -> str:
        return f"{base_url}/webclient/?show=plate-{GONE}"

    for other in (demo.base_url, "https://idr.example.org"):
        refused = cli("forget", str(out), "--plate", link(other))
        assert refused.returncode == 2
        error, hint = refused.stderr.splitlines()
        assert error.startswith(
            f"error: the link given to --plate is of {other}, but the target set --plate"
            f" {GONE} is of {fields.base_url} (of {out}'s servers, "
        ), error
        servers = error.partition(f"{out}'s servers, ")[2].removesuffix(")")
        assert set(servers.split(" or ")) == {fields.base_url, demo.base_url}, error
        assert hint.startswith("hint: image ids are one server's")
        assert not (out / "forgotten.json").exists()
    # A's link spelt otherwise (scheme in capitals, a trailing slash) is still A's.
    spelt = fields.base_url.replace("http://", "HTTP://", 1) + "/"
    forgot = cli("forget", str(out), "--plate", link(spelt))
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --plate {GONE}: ")


def forgotten_servers(out: Path) -> dict[str, list[str]]:
    """server -> runs of each entry of DIR's forgotten.json (all of one target set here)."""
    entries = json.loads((out / "forgotten.json").read_text())["sets"]
    return {entry["server"]: entry["runs"] for entry in entries}


def test_one_target_set_of_two_servers_is_forgotten_and_taken_back_per_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--project 51`` of server A (demo: 8 images) and of server B (idclash: 4 others)
    harvested into one folder are two sets of images: forget forgets the one resumes see
    (B's, the newest) naming its server, a link of A forgets A's alone (it was refused,
    and the set's one entry held both servers' runs), `status --json` names each forgotten
    set's server (two `--project 51` it could not tell apart), and a run of A's targets
    takes back A's alone: B's stays forgotten (it took back both)."""
    a, b = make_emulator(preset="demo"), make_emulator(preset="idclash")
    out = tmp_path / "d"
    runs: dict[str, str] = {}
    for emu in (a, b):
        before = {p.name for p in (out / "runs").glob("*")} if out.exists() else set()
        proc = cli("harvest", "--base-url", emu.base_url, "--project", "51", "--out", str(out),
                   "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        (runs[emu.base_url],) = {p.name for p in (out / "runs").glob("*")} - before

    forgot = cli("forget", str(out), "--project", "51")
    assert forgot.returncode == 0, forgot.stderr
    assert forgot.stdout.startswith(f"{out}: forgot the target set --project 51 of {b.base_url}:")
    assert forgotten_servers(out) == {b.base_url: [runs[b.base_url]]}
    by_link = cli("forget", str(out), "--project", f"{a.base_url}/webclient/?show=project-51")
    assert by_link.returncode == 0, by_link.stderr
    assert by_link.stdout.startswith(f"{out}: forgot the target set --project 51 of {a.base_url}:")
    assert forgotten_servers(out) == {
        b.base_url: [runs[b.base_url]],
        a.base_url: [runs[a.base_url]],
    }
    report = json.loads(cli("status", str(out), "--json").stdout)
    assert sorted(zip(report["forgotten"], report["forgotten_servers"], strict=True)) == [
        ("--project 51", url) for url in sorted((a.base_url, b.base_url))
    ], report

    again = cli("harvest", "--base-url", a.base_url, "--project", "51", "--out", str(out),
                "--artifacts", "metadata", "--rate", "none", "--no-labels")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"{out}: the target set --project 51 is resumed again" in again.stderr
    assert forgotten_servers(out) == {b.base_url: [runs[b.base_url]]}
    # (A's set live, resumed; B's, of the same targets, still forgotten, and said so: each
    # server's set is its own, not hidden behind the newest run's)
    (line,) = [x for x in cli("status", str(out)).stdout.splitlines() if "forgotten" in x]
    assert f"): --project 51 (of {b.base_url}); to take one back" in line, line

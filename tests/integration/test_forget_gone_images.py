"""``harvester forget DIR --gone-ids-from FILE``: a few images gone from the server for good.

A set some of whose images answer 404 for ever (deleted) failed every resume, exit 1 for
ever, and ``status --failed-ids`` never emptied; forgetting the whole set was no answer
for 2 gone images of many. Here DIR holds the demo server's plate 7375 (8 images, done)
and an ``--ids-from`` set of one of its images and two ids the server lacks (each asked
answers 404). Each command runs as ``harvester ARGS`` (in the test process,
tests/cli_in_process.py) against the emulator over real sockets; the undo commands forget
prints run as printed, by a shell, and one forget runs as a process in a folder of its own.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response

GONE = [99999991, 99999992]  # ids the demo preset lacks: 404
THERE = 9762957  # an image of plate 7375


def thumbnails_asked(emu: EmulatorThread) -> int:
    """How many thumbnails the emulator was asked for since its last reset."""
    by_status = emu.stats()["by_route"].get("image:thumbnail", {})
    return sum(int(n) for n in by_status.values())


def gone_folder(tmp_path: Path, emu: EmulatorThread) -> Path:
    """DIR with plate 7375 done and an --ids-from set whose two ids the server lacks."""
    out = tmp_path / "d"
    plate = cli(
        "harvest", "--base-url", emu.base_url, "--plate", "7375", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert plate.returncode == 0, plate.stderr
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, [THERE, *GONE])) + "\n")
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    return out


def forget_failed(out: Path, *more: str) -> tuple[int, str, str]:
    """``harvester status DIR --failed-ids | harvester forget DIR --gone-ids-from -``."""
    listed = cli("status", str(out), "--failed-ids")
    assert listed.returncode == 0, listed.stderr
    forgot = cli("forget", str(out), "--gone-ids-from", "-", *more, stdin=listed.stdout)
    return forgot.returncode, forgot.stdout, forgot.stderr


def recorded(out: Path) -> list[int]:
    """The ids DIR/gone_images.json holds ([] without one)."""
    path = out / "gone_images.json"
    if not path.exists():
        return []
    return [entry["id"] for entry in json.loads(path.read_text())["images"]]


def test_the_failed_ids_pipe_records_them_and_resumes_exit_0_asking_nothing(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The pipe records the 404 images; every set's resume then asks none of them, counts
    them as gone, and exits 0 (it exited 1 at every resume)."""
    out = gone_folder(tmp_path, emulator)
    before = cli("harvest", "--out", str(out), "-q")
    assert before.returncode == 1, before.stderr

    code, said, err = forget_failed(out)
    assert (code, err) == (0, "")
    assert said.startswith(f"{out}: recorded 2 images as gone from the server in ")
    assert ": no harvest asks for them, status counts them apart; to ask for them again: " in said
    assert said.count("\n") == 1
    assert recorded(out) == GONE

    emulator.reset_stats()
    resumed = cli("harvest", "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert thumbnails_asked(emulator) == 0
    assert "failed 0, gone (forgotten) 2; 3 images found" in resumed.stdout
    assert "failed 0; 8 images found" in resumed.stdout  # (the plate's set: none of them)


def test_status_counts_them_apart_and_failed_ids_no_longer_lists_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """status says how many are gone and how to ask again, counts no failure, offers no
    resume; --failed-ids is empty; --json and --gone-ids list them."""
    out = gone_folder(tmp_path, emulator)
    assert forget_failed(out)[0] == 0

    text = cli("status", str(out))
    assert text.returncode == 0, text.stderr
    q = str(out)
    assert (
        "2 images gone from the server, forgotten by harvester forget (not asked for, failures "
        f"not counted; to ask for them again: harvester status {q} --gone-ids | harvester "
        f"forget {q} --gone-ids-from - --undo)"
    ) in text.stdout.splitlines()
    assert "to resume" not in text.stdout
    assert "failures:" not in text.stdout

    assert cli("status", str(out), "--failed-ids").stdout == ""
    assert cli("status", str(out), "--gone-ids").stdout == "".join(f"{i}\n" for i in GONE)
    data = json.loads(cli("status", str(out), "--json").stdout)
    assert data["gone_ids"] == GONE
    assert data["failed_ids"] == [] and data["totals"]["failed"] == 0
    assert "resume" not in data
    rows = (out / "index.csv").read_text().splitlines()[1:]
    assert not [row for row in rows if row.split(",")[0] in map(str, GONE)]


def test_ids_that_are_not_failed_images_are_refused_recording_nothing(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An id that is done, or not of DIR, is refused on one line (exit 2), the other ids
    given with it not recorded either."""
    out = gone_folder(tmp_path, emulator)
    for stray in (THERE, 5):
        refused = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{GONE[0]}\n{stray}\n")
        assert refused.returncode == 2
        lines = refused.stderr.splitlines()
        assert lines[0] == (
            f"error: 1 id of 2 given is no failed image of {out}: {stray} (nothing recorded)"
        )
        assert lines[1] == f"hint: give the ids harvester status {out} --failed-ids lists"
        assert len(lines) == 2 and refused.stdout == ""
        assert recorded(out) == []


def test_an_image_that_failed_with_503_is_refused_unless_forced(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An image whose latest failure is a 503 (a server down, not an image gone) is
    refused, nothing recorded; --force records it and the resume then exits 0."""
    emu = make_emulator(preset="demo", faults="503:100%,only:image:thumbnail")
    out = tmp_path / "d"
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--image", str(THERE), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "stop asking for" not in failed.stderr  # (a 503 is no image gone)
    assert "stop asking for" not in cli("status", str(out)).stdout

    code, said, err = forget_failed(out)
    assert code == 2 and said == ""
    first, hint = err.splitlines()
    assert first == (
        f"error: 1 id of 1 given did not answer 404 or 410 at their latest try, so may not "
        f"be gone: {THERE} (HTTP 503) (nothing recorded)"
    )
    assert hint.startswith(f"hint: resume (harvester harvest --out {out}) and record ")
    assert "--force" in hint
    assert recorded(out) == []

    code, said, err = forget_failed(out, "--force")
    assert (code, err) == (0, "")
    assert said.startswith(f"{out}: recorded 1 image as gone from the server in ")
    assert ": no harvest asks for it, status counts it apart; to ask for it again: " in said
    assert "them" not in said  # (it said "1 image ... no harvest asks for them")
    assert recorded(out) == [THERE]
    gone = json.loads((out / "gone_images.json").read_text())["images"][0]
    assert gone["status"] == 503
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr


def test_undo_asks_for_them_again(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The undo status names takes every gone image back: the list is removed, the next
    resume asks for them again and fails as before (exit 1)."""
    out = gone_folder(tmp_path, emulator)
    ids = tmp_path / "gone.txt"
    ids.write_text(f"{GONE[0]}\n{GONE[1]}\n")
    code, said, _err = forget_failed(out)
    assert code == 0

    wrong = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=f"{THERE}\n")
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines()[0] == (
        f"error: 1 id of 1 given is not recorded as gone in {out}: {THERE} (nothing changed)"
    )
    assert recorded(out) == GONE

    listed = cli("status", str(out), "--gone-ids")
    undone = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=listed.stdout)
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.startswith(f"{out}: 2 images no longer taken as gone: ")
    assert not (out / "gone_images.json").exists()
    assert cli("status", str(out), "--failed-ids").stdout == "".join(f"{i}\n" for i in GONE)

    emulator.reset_stats()
    again = cli("harvest", "--out", str(out), "-q")
    assert again.returncode == 1
    assert thumbnails_asked(emulator) == 2


def planned_folder(tmp_path: Path, emu: EmulatorThread) -> Path:
    """DIR (``tmp_path/d``): a thumbnail plan of one image the server has and the ones it
    lacks (GONE), not harvested yet."""
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, [THERE, *GONE])) + "\n")
    planned = cli(
        "plan", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    return out


def test_each_task_of_a_planned_array_skips_them(tmp_path: Path, emulator: EmulatorThread) -> None:
    """The shards of a plan (a job array's tasks: --from-plan --shard K/N) read the same
    record: each exits 0 asking none of the gone images, and the index job's note says
    the index lacks them for good, not that a resubmission would add them."""
    out = planned_folder(tmp_path, emulator)

    def tasks() -> list[subprocess.CompletedProcess[str]]:
        return [
            cli(
                "harvest",
                "--from-plan",
                str(out),
                "--out",
                str(out),
                "--shard",
                f"{k}/2",
                "--rate",
                "none",
            )  # fmt: skip
            for k in (0, 1)
        ]

    first = tasks()
    assert sorted(task.returncode for task in first) == [0, 1]
    assert not [t.stderr for t in first if "stop asking for" in t.stderr]  # (a shard's share)
    assert forget_failed(out)[0] == 0
    emulator.reset_stats()
    again = tasks()
    assert [task.returncode for task in again] == [0, 0], [t.stderr for t in again]
    assert thumbnails_asked(emulator) == 0
    assert sum("gone (forgotten) 2;" in task.stdout for task in again) == 1
    indexed = cli("index", str(out))
    assert indexed.returncode == 0, indexed.stderr
    assert (
        "note: index.csv lists 1 of the plan's 3 images; 2 are not in it: 2 images are gone "
        "from the server, recorded by harvester forget --gone-ids-from"
    ) in indexed.stdout + indexed.stderr


def test_gone_ids_from_goes_with_no_target_and_force_needs_it(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """--gone-ids-from with a set's targets, and --force, --check-server or --undo
    without it, are refused on one line (exit 2), nothing recorded."""
    out = gone_folder(tmp_path, emulator)
    both = cli("forget", str(out), "--gone-ids-from", "-", "--plate", "7375", stdin="1\n")
    assert both.returncode == 2
    assert both.stderr.startswith(
        "error: --gone-ids-from names images, not a target set: give one or the other\n"
    )
    alone = cli("forget", str(out), "--force")
    assert alone.returncode == 2
    assert alone.stderr.startswith("error: --force goes with --gone-ids-from FILE")
    check = cli("forget", str(out), "--check-server")
    assert check.returncode == 2
    assert check.stderr.startswith("error: --check-server goes with --gone-ids-from FILE")
    assert recorded(out) == [] and not (out / "forgotten.json").exists()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--force", "--undo"], "--force and --undo"),
        (["--check-server", "--undo"], "--check-server and --undo"),
        (["--force", "--check-server"], "--force and --check-server"),
    ],
)
def test_gone_ids_from_takes_one_of_force_check_server_undo(
    tmp_path: Path, emulator: EmulatorThread, flags: list[str], named: str
) -> None:
    """Two of --force, --check-server and --undo are refused on one line (exit 2):
    each answers "which are gone?" its own way; nothing is recorded or taken back."""
    out = gone_folder(tmp_path, emulator)
    assert forget_failed(out)[0] == 0
    before = (out / "gone_images.json").read_bytes()
    ids = "".join(f"{i}\n" for i in GONE)
    both = cli("forget", str(out), "--gone-ids-from", "-", *flags, stdin=ids)
    assert both.returncode == 2
    assert both.stderr.splitlines()[0] == f"error: {named} do not go together: give one"
    assert "Traceback" not in both.stderr
    assert (out / "gone_images.json").read_bytes() == before


def test_a_damaged_list_takes_no_image_as_gone_and_says_so(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A gone_images.json edited into something else takes no image as gone: status
    counts the failures again and says once which file is damaged; forget writes it anew."""
    out = gone_folder(tmp_path, emulator)
    (out / "gone_images.json").write_text('{"images": [{"id": "x"}]}\n')
    shown = cli("status", str(out))
    assert shown.returncode == 0
    assert shown.stderr.count("gone_images.json is damaged (an entry has no image id)") == 1
    assert cli("status", str(out), "--failed-ids").stdout == "".join(f"{i}\n" for i in GONE)
    assert forget_failed(out)[0] == 0
    assert recorded(out) == GONE


def gone_hint(out: Path, count: int, listing: str = "") -> str:
    """The hint a summary and status give for ``count`` failed images not found."""
    return (
        f"hint: if the {count} images not found (HTTP 404 or 410) are gone from the server "
        f"for good, stop asking for them: harvester status {out} --failed-ids{listing} | "
        f"harvester forget {out} --gone-ids-from -"
    )


def run_undo(command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """An undo command as printed, run by a shell (``harvester`` as this very package),
    in ``cwd`` (None: this process's folder)."""
    import shlex
    import sys

    from harvest_helpers import cli_env

    here = f"{shlex.quote(sys.executable)} -m harvester"
    return subprocess.run(
        ["bash", "-c", command.replace("harvester forget", f"{here} forget")],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
        cwd=cwd,
    )


def undo_said(said: str) -> str:
    """The undo command at the end of forget's line."""
    return re.split(r"; to ask for (?:it|them) again: ", said.rstrip("\n"))[-1]


def test_the_pipe_with_a_503_among_them_records_the_404s_and_notes_the_rest(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Failures of 404s and a 503: the summary and status name the pipe; the pipe records
    the 404 images, says of the 503 one on one note line, exits 0; its undo takes back
    exactly those it recorded."""
    emu = make_emulator(preset="demo", faults=f"503:100%,only:/webgateway/render_thumbnail/{THERE}")
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, [THERE, *GONE])) + "\n")
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.splitlines().count(gone_hint(out, 2)) == 1, failed.stderr
    status = cli("status", str(out))
    assert status.stdout.splitlines().count(gone_hint(out, 2)) == 1, status.stdout
    assert json.loads(cli("status", str(out), "--json").stdout)["forget_gone_ids"] == (
        gone_hint(out, 2).removeprefix("hint: ")
    )

    code, said, err = forget_failed(out)
    assert code == 0, err
    assert recorded(out) == GONE
    assert err.splitlines() == [
        f"note: 1 id of 3 given not recorded: their latest failure was no 404 or 410, so "
        f"they may not be gone: {THERE} (HTTP 503); resume (harvester harvest --out {out}) "
        "and give those that answer 404 then, or add --force to record them anyway"
    ]
    undo = undo_said(said)
    assert undo == (
        f"printf '%s\\n' {GONE[0]} {GONE[1]} | harvester forget {out} --gone-ids-from - --undo"
    )
    assert cli("status", str(out), "--failed-ids").stdout == f"{THERE}\n"
    assert "stop asking for" not in cli("status", str(out)).stdout  # (a 503 is left)

    forced = cli("forget", str(out), "--gone-ids-from", "-", "--force", stdin=f"{THERE}\n")
    assert forced.returncode == 0 and forced.stderr == "", forced.stderr
    undone = run_undo(undo)
    assert undone.returncode == 0, undone.stderr
    assert recorded(out) == [THERE]  # (the forced one, not this undo's to take back)


def test_each_pipes_undo_takes_back_only_the_ids_it_recorded(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pipes, one id then 11: each undo names its own ids (11: in a file it wrote,
    removed once its undo has run), and run, takes back those alone; the other pipe's stay
    recorded. A user's own file of ids is kept; an empty undo says nothing changed. DIR
    given as a relative path (the 11's pipe) writes that file too (it recorded the ids,
    then failed with an internal error naming a relative and an absolute path)."""
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    missing = list(range(99999901, 99999913))
    ids.write_text("\n".join(map(str, missing)) + "\n")
    failed = cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    first = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{missing[0]}\n")
    assert first.returncode == 0, first.stderr
    monkeypatch.chdir(tmp_path)
    code, said, err = forget_failed(Path(out.name))
    monkeypatch.undo()
    assert (code, err) == (0, "")
    assert said.startswith(f"{out.name}: recorded 11 images as gone from the server in ")
    undo = undo_said(said)
    assert undo.startswith(f"harvester forget {out} --gone-ids-from {out}/gone_images.")
    assert undo.endswith(".txt --undo")
    (written,) = out.glob("gone_images.*.txt")
    assert run_undo(undo).returncode == 0
    assert recorded(out) == missing[:1]
    assert not written.exists()  # spent: it was written for this undo alone
    assert run_undo(undo_said(first.stdout)).returncode == 0
    assert not (out / "gone_images.json").exists()
    # A user's own file of ids in DIR, recorded then taken back with it, is kept.
    mine = out / "mine.txt"
    mine.write_text(f"{missing[0]}\n")
    assert cli("forget", str(out), "--gone-ids-from", str(mine)).returncode == 0
    taken = cli("forget", str(out), "--gone-ids-from", str(mine), "--undo")
    assert taken.returncode == 0, taken.stderr
    assert mine.read_text() == f"{missing[0]}\n"
    empty = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin="")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout == f"{out}: standard input holds no image id: nothing changed\n"


def test_a_set_whose_every_image_is_gone_names_forgetting_the_set_not_the_pipe(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A plan whose every image answered 404: the summary names forgetting its set alone;
    a run whose failures are all 503s names neither (see the 503 test)."""
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, GONE)) + "\n")
    planned = cli(
        "plan", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail",
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    run = cli("harvest", "--from-plan", str(out), "--out", str(out), "--rate", "none")
    assert run.returncode == 1, run.stderr
    assert "stop resuming this target set" in run.stderr
    assert "--gone-ids-from" not in run.stderr
    status = cli("status", str(out))
    assert "stop resuming its target set" in status.stdout
    assert "--gone-ids-from" not in status.stdout


def test_an_id_gone_from_one_server_is_still_asked_of_the_other(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id recorded gone from server A (with A's URL) is skipped by A's runs only: a set
    of server B, whose image has that id, fetches it."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, ids, there_on_b = tmp_path / "d", tmp_path / "ids.txt", 2100001
    ids.write_text(f"{there_on_b}\n")
    failed = cli(
        "harvest", "--base-url", demo.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert forget_failed(out)[0] == 0

    other = cli(
        "harvest", "--base-url", fields.base_url, "--image", str(there_on_b), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels",
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert "gone (forgotten)" not in other.stdout
    assert thumbnails_asked(fields) == 1
    assert (out / "images/002/100/2100001.thumbnail.jpg").exists()
    demo.reset_stats()
    again = cli("harvest", "--out", str(out), "--base-url", demo.base_url, "-q")
    assert thumbnails_asked(demo) == 0, again.stderr
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert [(e["id"], e["server"]) for e in saved] == [(there_on_b, demo.base_url)]


def test_an_id_gone_from_both_servers_is_recorded_for_the_second_too(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id recorded gone from server A that server B's set also fails with 404 is
    recorded for B by B's pipe (it was "recorded already"), and B's resume exits 0."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, ids, gone = tmp_path / "d", tmp_path / "ids.txt", GONE[0]
    ids.write_text(f"{gone}\n")
    for emu in (demo, fields):
        failed = cli(
            "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        )  # fmt: skip
        assert failed.returncode == 1, failed.stderr
        listed = cli("status", str(out), "--failed-ids", "--base-url", emu.base_url)
        assert listed.stdout == f"{gone}\n", listed.stderr
        forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
        assert forgot.returncode == 0, forgot.stderr
        assert "recorded 1 image as gone" in forgot.stdout

    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert sorted((e["id"], e["server"]) for e in saved) == sorted(
        [(gone, demo.base_url), (gone, fields.base_url)]
    )
    fields.reset_stats()
    again = cli("harvest", "--out", str(out), "--base-url", fields.base_url, "-q")
    assert again.returncode == 0, again.stderr
    assert thumbnails_asked(fields) == 0
    assert cli("status", str(out), "--failed-ids").stdout == ""


def test_a_resume_of_two_sets_names_the_pipe_once(tmp_path: Path, emulator: EmulatorThread) -> None:
    """A resume replaying two sets, each with an image not found, names the pipe (which
    records both) once, not in each set's summary; exit 1 as before."""
    out = tmp_path / "d"
    for gone in GONE:
        ids = tmp_path / f"{gone}.txt"
        ids.write_text(f"{THERE}\n{gone}\n")
        first = cli(
            "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out",
            str(out), "--artifacts", "thumbnail", "--rate", "none", "-q",
        )  # fmt: skip
        assert first.returncode == 1, first.stderr
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 1, resumed.stderr
    pipe = f"harvester status {out} --failed-ids | harvester forget {out} --gone-ids-from -"
    assert resumed.stderr.count(pipe) == 1, resumed.stderr
    assert resumed.stderr.count("failed: thumbnail of image") == 2


def test_a_quiet_resume_over_a_damaged_list_says_why_it_asks_again(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A -q resume (a cron mirror's) over a damaged gone_images.json asks for the images
    again and says on one warning line which file is damaged (it said nothing under -q)."""
    out = gone_folder(tmp_path, emulator)
    assert forget_failed(out)[0] == 0
    (out / "gone_images.json").write_text('{"images": 5}\n')
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 1, resumed.stderr
    warned = [line for line in resumed.stderr.splitlines() if "gone_images.json" in line]
    assert len(warned) == 1 and 'is damaged (no "images" list)' in warned[0], resumed.stderr


def test_status_names_the_pipe_of_the_server_whose_images_are_not_found_only(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """In a folder of two servers, one failing an image with 404 and the other with 503s,
    status names the first's pipe alone (the other's was refused, exit 2), and it works."""
    demo = make_emulator(preset="demo")
    down = make_emulator(preset="fields", seed=7, faults="503:100%,only:image:thumbnail")
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text(f"{GONE[0]}\n")
    gone = cli(
        "harvest", "--base-url", demo.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert gone.returncode == 1, gone.stderr
    busy = cli(
        "harvest", "--base-url", down.base_url, "--image", "2100001", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert busy.returncode == 1, busy.stderr

    hints = [
        line for line in cli("status", str(out)).stdout.splitlines() if "stop asking for" in line
    ]
    assert hints == [
        gone_hint(out, 1, f" --base-url {demo.base_url}")
        .replace(
            "the 1 images not found (HTTP 404 or 410) are",
            "the image not found (HTTP 404 or 410) is",
        )
        .replace("stop asking for them", "stop asking for it")
    ]
    listed = cli("status", str(out), "--failed-ids", "--base-url", demo.base_url)
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert forgot.returncode == 0, forgot.stderr
    assert recorded(out) == [GONE[0]]


def test_an_unreadable_or_junk_ids_source_is_named_as_given(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A missing FILE's hint names --gone-ids-from (not --ids-from), and a junk line on
    standard input is said to be standard input's (not /dev/stdin's); exit 2, nothing
    recorded."""
    out = gone_folder(tmp_path, emulator)
    missing = cli("forget", str(out), "--gone-ids-from", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[1] == (
        "hint: --gone-ids-from takes a text file with one image id a line"
    )
    junk = cli("forget", str(out), "--gone-ids-from", "-", stdin="abc\n")
    assert junk.returncode == 2
    assert junk.stderr.startswith("error: standard input: line 1: 'abc' is not an image id\n")
    assert recorded(out) == []


def test_a_job_array_task_whose_images_left_are_gone_has_no_work_left(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """status of a job array whose task failed only images since recorded as gone counts
    every task complete, naming no task with work left (it said "work left in: task 0"),
    and its plan line counts them complete too, as gone."""
    out = planned_folder(tmp_path, emulator)
    script = cli("slurm", "--from-plan", str(out), "--out", str(out), "--tasks", "2")
    assert script.returncode == 0, script.stderr
    codes = [
        cli(
            "harvest", "--from-plan", str(out), "--out", str(out), "--shard", f"{k}/2",
            "--rate", "none", "-q",
        ).returncode
        for k in (0, 1)
    ]  # fmt: skip
    assert sorted(codes) == [0, 1]
    assert "work left in:" in cli("status", str(out)).stdout
    assert forget_failed(out)[0] == 0

    shown = cli("status", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "job array: 2 of 2 tasks complete" in shown.stdout.splitlines()
    assert "work left" not in shown.stdout
    # The plan line agrees: a gone image is settled, not missing (it said "1 of them").
    assert (
        "plan: 3 images (thumbnail): 3 reached (3 of them complete, 2 of those gone from the "
        "server), 0 not reached yet; artifacts 1 done, 0 failed, 0 pending"
    ) in shown.stdout.splitlines()
    plan = json.loads(cli("status", str(out), "--json").stdout)["plan"]
    assert (plan["complete"], plan["gone"]) == (3, 2)


def test_status_writer_and_run_lines_count_gone_images_apart_from_failures(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Once recorded, the failed files of gone images are no writer's or run's "failed"
    (the totals count none): each line says them as gone (forgotten), as --json does."""
    out = gone_folder(tmp_path, emulator)
    assert forget_failed(out)[0] == 0

    shown = cli("status", str(out))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    writers = lines[lines.index("writers:") + 1 :][:2]
    assert ": 8 done, 0 failed, " in writers[0] and "gone" not in writers[0], writers
    assert writers[1].endswith(": 0 done, 0 failed, 2 gone (forgotten), 0 bytes"), writers
    data = json.loads(cli("status", str(out), "--json").stdout)
    assert sum(w["failed"] for w in data["writers"]) == data["totals"]["failed"] == 0
    assert sum(w["gone"] for w in data["writers"]) == 2
    assert sum(r["failed"] for r in data["runs"].values()) == 0
    assert sum(r["gone"] for r in data["runs"].values()) == 2


def test_a_file_given_again_after_a_partial_record_says_nothing_new_exit_0(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A file of two 404 ids and a 503 one records the 404s; given again, it says nothing
    new to record (2 already recorded) with the same note, exit 0 (it was refused, exit
    2); an id that fails otherwise, given alone, is still refused, saying which and why."""
    emu = make_emulator(preset="demo", faults=f"503:100%,only:/webgateway/render_thumbnail/{THERE}")
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, [THERE, *GONE])) + "\n")
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    first = cli("forget", str(out), "--gone-ids-from", str(ids))
    assert first.returncode == 0, first.stderr
    assert recorded(out) == GONE

    again = cli("forget", str(out), "--gone-ids-from", str(ids))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"{out}: nothing new to record: 2 already recorded as gone from the server in "
        f"{out / 'gone_images.json'}\n"
    )
    assert again.stderr == first.stderr and again.stderr.startswith(
        f"note: 1 id of 3 given not recorded: their latest failure was no 404 or 410, so they "
        f"may not be gone: {THERE} (HTTP 503); "
    )
    assert recorded(out) == GONE

    alone = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{THERE}\n")
    assert alone.returncode == 2
    assert alone.stderr.splitlines()[0] == (
        f"error: 1 id of 1 given did not answer 404 or 410 at their latest try, so may not "
        f"be gone: {THERE} (HTTP 503) (nothing recorded)"
    )


def test_a_404_another_hint_explains_is_not_recorded_without_force(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A sized thumbnail this server does not serve answers 404 while the image answers
    its metadata: the pipe records nothing (exit 2), naming that cause; --force does."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "d"
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--image", str(THERE), "--out", str(out),
        "--artifacts", "thumbnail,metadata", "--thumbnail-size", "64", "--rate", "none", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert "stop asking for" not in failed.stderr  # (the summary's hint names the size)

    code, said, err = forget_failed(out)
    assert (code, said) == (2, "")
    first, hint = err.splitlines()
    assert first == (
        "error: 1 id of 1 given answered 404 for a cause another hint names (this server "
        f"serves 96 px thumbnails only), not as images gone: {THERE} (HTTP 404) (nothing "
        "recorded)"
    )
    assert hint.endswith("; or add --force to record them anyway")
    assert recorded(out) == []
    assert forget_failed(out, "--force")[0] == 0
    assert recorded(out) == [THERE]


def imgdata_only_folder(tmp_path: Path, emu: EmulatorThread) -> Path:
    """DIR (``tmp_path/d``) of an imgdata-only harvest of one image the server has and one it
    lacks (exit 1: that one's imgData refused, 403)."""
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text(f"{THERE}\n{GONE[0]}\n")
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "imgdata", "--rate", "none", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    return out


def test_an_imgdata_only_folder_says_why_a_403_is_not_taken_as_gone(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An image the server lacks answers imgData 403 (as a private one does), never 404:
    the pipe of an imgdata-only folder records nothing and says so, naming --check-server
    and --force; --force records it."""
    out = imgdata_only_folder(tmp_path, emulator)

    code, said, err = forget_failed(out)
    assert (code, said) == (2, "")
    first, hint = err.splitlines()
    assert first == (
        "error: 1 id of 1 given answered imgData 403 alone, as a deleted image does and a "
        "private one too (imgdata, render and stack get no 404; a thumbnail or metadata "
        f"does): {GONE[0]} (HTTP 403) (nothing recorded)"
    )
    assert hint == (
        "hint: add --check-server to ask the server's JSON API, which answers a deleted image "
        "404 (a thumbnail or metadata of it does too); or add --force to record them anyway"
    )
    assert forget_failed(out, "--force")[0] == 0
    assert recorded(out) == [GONE[0]]


def test_an_imgdata_only_run_and_status_name_the_pipe_with_check_server(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """An imgdata-only run whose failed image answered imgData 403 alone (as a deleted one
    does) names the pipe with --check-server in its summary and in status (it was named by
    forget's refusal alone); that pipe, pasted, records it, and the resume exits 0."""
    out, ids = tmp_path / "d", tmp_path / "ids.txt"
    ids.write_text(f"{THERE}\n{GONE[0]}\n")
    failed = cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "imgdata", "--rate", "none",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    hint = (
        "hint: if the image refused by imgData (HTTP 403: a deleted image answers so, and a "
        "private one) is gone from the server for good, have its JSON API asked and stop "
        f"asking for any it lacks: harvester status {out} --failed-ids | harvester forget "
        f"{out} --gone-ids-from - --check-server"
    )
    assert failed.stderr.splitlines().count(hint) == 1, failed.stderr
    shown = cli("status", str(out))
    assert shown.stdout.splitlines().count(hint) == 1, shown.stdout
    data = json.loads(cli("status", str(out), "--json").stdout)
    assert data["forget_gone_ids"] == hint.removeprefix("hint: ")

    code, said, err = forget_failed(out, "--check-server")
    assert (code, err) == (0, ""), err
    assert recorded(out) == [GONE[0]]
    resumed = cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert "--check-server" not in cli("status", str(out)).stdout


def test_a_thumbnail_folder_of_404s_names_the_pipe_without_check_server(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Where the failed images answered 404 (no imgData 403 among them), the hint names the
    pipe alone: --check-server is for imgData's 403."""
    out = gone_folder(tmp_path, emulator)
    shown = cli("status", str(out)).stdout.splitlines()
    (hint,) = [line for line in shown if "--gone-ids-from" in line]
    assert hint.startswith("hint: if the 2 images not found (HTTP 404 or 410) are gone"), hint
    assert hint.endswith(" --gone-ids-from -"), hint


def test_check_server_records_the_403s_the_server_lacks_and_leaves_the_others(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With --check-server, of two images failing imgData with 403 (one the server lacks,
    one it has), the JSON API's 404 records the first; the second, answered 200, is left
    on the note line; exit 0, and the resume then asks imgData of the second alone."""
    demo = build_application("demo")

    class ImgDataRefused:
        """The demo server, but imgData answers 403 empty for every image (as IDR's does
        to the public user for an image it lacks, or one not public)."""

        def handle(self, req: Request) -> Response:
            if "/imgData/" in req.path:
                return Response(403, b"", "text/html; charset=utf-8", route="image:imgdata")
            return demo.handle(req)

    emu = make_emulator(app=ImgDataRefused())
    out = imgdata_only_folder(tmp_path, emu)
    assert forget_failed(out)[0] == 2  # (without it: neither 403 tells)

    code, said, err = forget_failed(out, "--check-server")
    assert code == 0, err
    assert said.startswith(
        f"{out}: recorded 1 image as gone from the server (1 answering 404 at the server's "
        "JSON API now) in "
    )
    assert err.splitlines() == [
        "note: 1 id of 2 given not recorded: they answered imgData 403, and no 404 when asked "
        f"now at the server's JSON API, so they may not be gone: {THERE} (HTTP 200 now); the "
        "server still has them, or refuses the public user, or add --force to record them "
        "anyway"
    ]
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert [(e["id"], e["status"]) for e in saved] == [(GONE[0], 404)]
    assert cli("status", str(out), "--failed-ids").stdout == f"{THERE}\n"


def test_the_undo_printed_runs_from_any_folder(tmp_path: Path, emulator: EmulatorThread) -> None:
    """forget given DIR and the ids file as relative paths prints an undo naming both as
    absolute paths, which, run from another folder, takes the ids back."""
    import sys

    from harvest_helpers import cli_env

    out = gone_folder(tmp_path, emulator)
    (tmp_path / "gone.txt").write_text(f"{GONE[0]}\n{GONE[1]}\n")
    forgot = subprocess.run(
        [sys.executable, "-m", "harvester", "forget", out.name, "--gone-ids-from", "gone.txt"],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert forgot.returncode == 0, forgot.stderr
    assert undo_said(forgot.stdout) == (
        f"harvester forget {out} --gone-ids-from {tmp_path / 'gone.txt'} --undo"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    undone = run_undo(undo_said(forgot.stdout), cwd=elsewhere)
    assert undone.returncode == 0, undone.stderr
    assert recorded(out) == []


def test_check_server_with_the_server_down_says_so_not_that_it_has_them(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--check-server while the server answers nothing records nothing (exit 2) and says
    to run it again once the server answers: not "the server still has them", which it
    never said; the pipe run again once it answers records the image."""
    emu = make_emulator(preset="demo")
    out = imgdata_only_folder(tmp_path, emu)
    port = emu.base_url.rstrip("/").rsplit(":", 1)[1]
    emu.stop()

    code, said, err = forget_failed(out, "--check-server")
    assert (code, said) == (2, "")
    first, hint = err.splitlines()
    assert first.endswith(f": {GONE[0]} (no answer now) (nothing recorded)"), first
    assert "still has them" not in hint
    assert hint == (
        "hint: the server gave no answer now (down or busy?): run this again once it answers; "
        "or add --force to record them anyway"
    )
    assert recorded(out) == []

    again = make_emulator(preset="demo", port=int(port))
    assert again.base_url == emu.base_url
    assert forget_failed(out, "--check-server")[0] == 0
    assert recorded(out) == [GONE[0]]


def test_image_links_of_the_folders_server_are_recorded_and_another_servers_refused(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """--gone-ids-from takes image links of DIR's server as their ids; a link of another
    server (whose image of that id is another image) is refused on one line naming it,
    exit 2, nothing recorded, with no --base-url (forget has none) in the hint."""
    out = gone_folder(tmp_path, emulator)
    other = cli(
        "forget", str(out), "--gone-ids-from", "-",
        stdin=f"{GONE[0]}\nhttps://idr.example.org/webclient/?show=image-{GONE[1]}\n",
    )  # fmt: skip
    assert other.returncode == 2
    assert other.stderr.splitlines() == [
        "error: standard input: line 2: the link is of https://idr.example.org, not of "
        f"{out}'s server, {emulator.base_url}",
        "hint: image ids are one server's: the link's image is another server's, not one of "
        f"{out}'s; give the ids harvester status {out} --failed-ids lists",
    ]
    assert other.stdout == "" and recorded(out) == []

    links = tmp_path / "links.txt"
    links.write_text(
        f"{emulator.base_url}/webclient/?show=image-{GONE[0]}\n"
        f"{emulator.base_url}/iviewer/?images={GONE[1]}\n"
    )
    mine = cli("forget", str(out), "--gone-ids-from", str(links))
    assert (mine.returncode, mine.stderr) == (0, "")
    assert mine.stdout.startswith(f"{out}: recorded 2 images as gone from the server in ")
    assert recorded(out) == GONE


def test_in_a_folder_of_two_servers_a_link_must_be_of_its_images_server(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """DIR holds a failed image of each of two servers: a link of server B to A's image is
    refused on one line naming DIR's servers, exit 2, nothing recorded (either server's
    link was taken); links each of its image's server are recorded for that server, and
    --undo asks the same of its links."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    for emu, gone in ((demo, GONE[0]), (fields, GONE[1])):
        ids = tmp_path / f"{gone}.txt"
        ids.write_text(f"{gone}\n")
        failed = cli(
            "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        )  # fmt: skip
        assert failed.returncode == 1, failed.stderr

    def link(emu: EmulatorThread, image_id: int) -> str:
        return f"{emu.base_url}/webclient/?show=image-{image_id}\n"

    crossed = cli("forget", str(out), "--gone-ids-from", "-", stdin=link(fields, GONE[0]))
    assert crossed.returncode == 2
    error, hint = crossed.stderr.splitlines()
    assert error.startswith(
        f"error: standard input: line 1: the link is of {fields.base_url}, but image"
        f" {GONE[0]} came from {demo.base_url} (of {out}'s servers, "
    ), error
    servers = error.partition(f"{out}'s servers, ")[2].removesuffix(")")
    assert set(servers.split(" or ")) == {demo.base_url, fields.base_url}, error
    assert hint.startswith("hint: image ids are one server's")
    assert crossed.stdout == "" and recorded(out) == []

    both = link(demo, GONE[0]) + link(fields, GONE[1])
    mine = cli("forget", str(out), "--gone-ids-from", "-", stdin=both)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.startswith(f"{out}: recorded 2 images as gone from the server in ")
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert sorted((e["id"], e["server"]) for e in saved) == [
        (GONE[0], demo.base_url),
        (GONE[1], fields.base_url),
    ]

    undo = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=link(demo, GONE[1]))
    assert undo.returncode == 2
    assert undo.stderr.startswith(
        f"error: standard input: line 1: the link is of {demo.base_url}, but image {GONE[1]}"
        f" came from {fields.base_url} (of {out}'s servers, "
    ), undo.stderr
    assert len(undo.stderr.splitlines()) == 2 and recorded(out) == GONE
    undo = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=link(fields, GONE[1]))
    assert undo.returncode == 0, undo.stderr
    assert recorded(out) == [GONE[0]]


def test_an_id_two_servers_failed_is_recorded_gone_from_each_in_one_pipe(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id that server A failed (its thumbnail, 404) and server B failed too (its
    metadata, 404) is recorded gone from each by one pipe of B's failed ids (it was
    recorded for B alone, the newest, and A's every resume asked for its image again,
    exit 1); A's resume then asks nothing and exits 0."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, gone = tmp_path / "d", GONE[0]
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    _failed_on(tmp_path, out, gone, fields, "metadata")
    listed = cli("status", str(out), "--failed-ids", "--base-url", fields.base_url)
    assert listed.stdout == f"{gone}\n", listed.stderr
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert forgot.returncode == 0, forgot.stderr
    assert "recorded 1 image as gone" in forgot.stdout and forgot.stderr == ""
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert sorted((e["id"], e["server"], e["status"]) for e in saved) == sorted(
        [(gone, demo.base_url, 404), (gone, fields.base_url, 404)]
    )
    demo.reset_stats()
    again = cli("harvest", "--out", str(out), "--base-url", demo.base_url, "-q")
    assert again.returncode == 0, again.stderr
    assert thumbnails_asked(demo) == 0


def test_an_id_one_server_failed_with_a_503_is_recorded_gone_from_the_other_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id server A failed with 404 and server B with 503 (down for a moment) is
    recorded gone from A alone, and a note line names B's as not recorded (B's image of
    that id is another image, still asked for); before, the two servers' failures were
    weighed as one image's, and the pipe was refused (exit 2, nothing recorded)."""
    demo = make_emulator(preset="demo")
    gone = GONE[0]
    fields = make_emulator(preset="fields", seed=7, faults=f"503:100%,only:/api/v0/m/images/{gone}")
    out = tmp_path / "d"
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    _failed_on(tmp_path, out, gone, fields, "metadata", "--max-retries", "0")
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{gone}\n")
    assert forgot.returncode == 0, forgot.stderr
    assert "recorded 1 image as gone" in forgot.stdout
    assert forgot.stderr == (
        f"note: 1 id not recorded as gone from {fields.base_url}, whose failures of it do not "
        f"say so (its image of that id is another image, still asked for): {gone}\n"
    )
    saved = json.loads((out / "gone_images.json").read_text())["images"]
    assert [(e["id"], e["server"]) for e in saved] == [(gone, demo.base_url)]


def _failed_on(
    tmp_path: Path, out: Path, gone: int, emu: EmulatorThread, kind: str, *more: str
) -> None:
    """``emu`` fails to harvest ``gone`` (an image it lacks, 404, or one its faults refuse)
    into ``out``, its ``kind`` only, ``more`` options added (two servers failing one kind of
    one id: DIR's journals keep the later), exit 1."""
    ids = tmp_path / f"{kind}.txt"
    ids.write_text(f"{gone}\n")
    failed = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", kind, "--rate", "none", "--no-labels", *more, "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr


def gone_servers(out: Path) -> list[tuple[int, str]]:
    """(id, server) of each entry of DIR/gone_images.json ([] without one)."""
    path = out / "gone_images.json"
    if not path.exists():
        return []
    return sorted((e["id"], e["server"]) for e in json.loads(path.read_text())["images"])


def test_a_link_records_and_takes_back_its_servers_image_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id both servers of DIR failed with 404, given as server B's image link, is
    recorded gone from B alone (it was recorded for both: A's image of that id too), and
    an undo given A's link takes back A's record alone (it took back B's too)."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, gone = tmp_path / "d", GONE[0]
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    _failed_on(tmp_path, out, gone, fields, "metadata")

    def link(emu: EmulatorThread) -> str:
        return f"{emu.base_url}/webclient/?show=image-{gone}\n"

    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=link(fields))
    assert forgot.returncode == 0, forgot.stderr
    assert gone_servers(out) == [(gone, fields.base_url)]
    undo = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=link(fields))
    assert undo.returncode == 0, undo.stderr
    assert gone_servers(out) == []
    both = cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{gone}\n")
    assert both.returncode == 0, both.stderr
    assert gone_servers(out) == sorted([(gone, demo.base_url), (gone, fields.base_url)])
    undo = cli("forget", str(out), "--gone-ids-from", "-", "--undo", stdin=link(demo))
    assert undo.returncode == 0, undo.stderr
    assert gone_servers(out) == [(gone, fields.base_url)]


def test_the_undo_printed_leaves_another_servers_earlier_record(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id recorded gone from server A, then from server B by B's pipe: the undo B's
    pipe prints (B's image link) takes back B's record alone, A's stays (the undo of plain
    ids took back both, though it was said to take back exactly what the pipe recorded)."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, gone = tmp_path / "d", GONE[0]
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    assert cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{gone}\n").returncode == 0
    _failed_on(tmp_path, out, gone, fields, "metadata")
    listed = cli("status", str(out), "--failed-ids", "--base-url", fields.base_url)
    assert listed.stdout == f"{gone}\n", listed.stderr
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert forgot.returncode == 0, forgot.stderr
    assert gone_servers(out) == sorted([(gone, demo.base_url), (gone, fields.base_url)])
    command = undo_said(forgot.stdout)
    assert f"{fields.base_url}/webclient/?show=image-{gone}" in command, command
    undone = run_undo(command)
    assert undone.returncode == 0, undone.stderr
    assert gone_servers(out) == [(gone, demo.base_url)]


def test_one_servers_record_leaves_the_other_servers_failure_a_failure(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id both servers failed with 404, recorded gone from server B alone (B's link):
    status still counts A's failure of it, and ``--failed-ids`` lists it, so the plain
    pipe then records it for A too (judged by id, B's record hid A's failure: "nothing
    new to record", A's every resume failing it again)."""
    demo = make_emulator(preset="demo")
    fields = make_emulator(preset="fields", seed=7)
    out, gone = tmp_path / "d", GONE[0]
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    _failed_on(tmp_path, out, gone, fields, "metadata")
    link = f"{fields.base_url}/webclient/?show=image-{gone}\n"
    assert cli("forget", str(out), "--gone-ids-from", "-", stdin=link).returncode == 0
    listed = cli("status", str(out), "--failed-ids")
    assert listed.stdout == f"{gone}\n", listed.stderr
    forgot = cli("forget", str(out), "--gone-ids-from", "-", stdin=listed.stdout)
    assert forgot.returncode == 0, forgot.stderr
    assert "recorded 1 image as gone" in forgot.stdout, forgot.stdout
    assert gone_servers(out) == sorted([(gone, demo.base_url), (gone, fields.base_url)])
    assert cli("status", str(out), "--failed-ids").stdout == ""


def test_a_record_from_the_server_that_failed_first_hides_its_failure_alone(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id server A failed with 404 (recorded gone from A), then server B with 503:
    status counts B's failure alone (A's is gone: its runs no longer ask), and
    ``--failed-ids --base-url A`` lists nothing (it listed the id, B's failing last)."""
    demo = make_emulator(preset="demo")
    gone = GONE[0]
    fields = make_emulator(preset="fields", seed=7, faults=f"503:100%,only:/api/v0/m/images/{gone}")
    out = tmp_path / "d"
    _failed_on(tmp_path, out, gone, demo, "thumbnail")
    assert cli("forget", str(out), "--gone-ids-from", "-", stdin=f"{gone}\n").returncode == 0
    ids = tmp_path / "b.txt"
    ids.write_text(f"{gone}\n")
    failed = cli(
        "harvest", "--base-url", fields.base_url, "--ids-from", str(ids), "--out", str(out),
        "--artifacts", "metadata", "--rate", "none", "--no-labels", "--max-retries", "0", "-q",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    failures = json.loads(cli("status", str(out), "--json").stdout)["failures"]
    assert [(f["kind"], f["status"]) for f in failures] == [("metadata", 503)], failures
    mine = cli("status", str(out), "--failed-ids", "--base-url", demo.base_url)
    assert mine.stdout == "", mine.stderr
    assert cli("status", str(out), "--failed-ids", "--base-url", fields.base_url).stdout == (
        f"{gone}\n"
    )

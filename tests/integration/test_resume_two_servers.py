"""``harvester harvest --out DIR --base-url URL`` in a folder of two servers' target sets.

Image ids are one server's. A bare resume given ``--base-url`` replayed every set of DIR on
that server: the other server's sets asked it for their ids (failures, or its images
written as theirs). It now replays the sets of that server alone and says, for each set of
the other, the command that resumes it; a stop for an ended session says those lines too.
`status --failed-ids` parts the failed images by server, and `harvester slurm --out DIR
--base-url URL` names that server's set. Each command runs as ``harvester ARGS`` (in the test
process, tests/cli_in_process.py) against emulators over real sockets (demo: plate 7375;
fields: plate 3001, which demo lacks).
"""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.emulator.app import App
from harvester.emulator.faults import FaultInjector, FaultSpec

DEMO_PLATE = "7375"  # 8 images, demo preset only
FIELDS_PLATE = "3001"  # 36 images, fields preset only


def harvest(base_url: str, out: Path, plate: str) -> None:
    """A thumbnail harvest of one plate into DIR."""
    proc = cli(
        "harvest", "--base-url", base_url, "--plate", plate, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def damage_one_of_each(out: Path, plates: tuple[str, ...]) -> None:
    """One thumbnail of each plate's images damaged and marked by verify: work left."""
    with open(out / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for plate in plates:
        row = next(r for r in rows if r["plate_id"] == plate and r["thumbnail_path"])
        (out / row["thumbnail_path"]).write_bytes(b"not a jpeg")
    assert cli("verify", str(out)).returncode == 1


def two_server_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], demo_url: str = ""
) -> tuple[Path, EmulatorThread, EmulatorThread]:
    """DIR holding plate 7375 of a demo server and then plate 3001 of a fields server,
    one thumbnail of each left to refetch."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    out = tmp_path / "d"
    harvest(demo_url or demo.base_url, out, DEMO_PLATE)
    harvest(fields.base_url, out, FIELDS_PLATE)
    damage_one_of_each(out, (DEMO_PLATE, FIELDS_PLATE))
    demo.reset_stats()
    fields.reset_stats()
    return out, demo, fields


def not_resumed(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("not resumed:")]


def test_a_base_url_resumes_only_that_servers_sets(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--out DIR --base-url DEMO` refetches the demo set's file from demo alone, asks it
    nothing of the fields set (it asked demo for plate 3001: exit 2), and says the fields
    set's command, which, pasted, refetches its file from fields (exit 0, verify clean)."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    proc = cli("harvest", "--out", str(out), "--base-url", demo.base_url, "-q")
    assert proc.returncode == 1, proc.stderr  # (a set not resumed, as for every such note)
    assert "error" not in proc.stderr, proc.stderr
    assert demo.stats()["image_requests"] == 1
    assert fields.stats()["image_requests"] == 0
    (line,) = not_resumed(proc.stderr)
    command = f"harvester harvest --out {out} --base-url {fields.base_url}"
    assert line.endswith(f"; run: {command}"), line
    assert f"--plate {FIELDS_PLATE}" in line and fields.base_url in line, line
    assert cli("verify", str(out)).returncode == 1  # the fields set's file is still bad
    again = cli(*shlex.split(command)[1:])
    # (the demo set, of the other server now, has nothing left: no note, exit 0; and the
    # fields set, replayed from its own server, is not warned about as mixed in)
    assert again.returncode == 0, again.stderr
    assert "WARNING" not in again.stderr and not not_resumed(again.stderr), again.stderr
    assert fields.stats()["image_requests"] == 1
    assert demo.stats()["image_requests"] == 1  # (as before: nothing asked of demo again)
    assert cli("verify", str(out)).returncode == 0


def test_a_base_url_of_no_set_is_refused_naming_the_folders_servers(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A third server's `--base-url` on a folder of two: exit 2, one error naming both
    servers and a hint; no server asked anything, nothing on disk changed."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    third = make_emulator(preset="demo")
    proc = cli("harvest", "--out", str(out), "--base-url", third.base_url, "-q")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        f"error: {out} holds no target set harvested from {third.base_url}: its sets were "
        f"harvested from {fields.base_url} and {demo.base_url}"
    ), proc.stderr
    assert lines[1].startswith("hint: "), proc.stderr
    assert len(lines) == 2, proc.stderr
    assert [e.stats()["image_requests"] for e in (demo, fields, third)] == [0, 0, 0]


def test_the_refusal_never_spells_a_token_an_old_run_saved_in_its_base_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run saved before 0.1.13 kept a token as its URL's user (its config and its
    journaled command line): a third server's `--base-url` is refused naming that server
    redacted, as every other line names it."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    tokened = demo.base_url.replace("://", "://tok3n5ecret@")
    (saved,) = [
        p
        for p in (out / "runs").glob("*/config.json")
        if json.loads(p.read_text())["config"]["base_url"] == demo.base_url
    ]
    data = json.loads(saved.read_text())
    data["config"]["base_url"] = tokened
    saved.write_text(json.dumps(data))
    journals = list((out / "journals").glob(f"*{saved.parent.name}*.jsonl"))
    assert journals, "the saved run has no journal to put the token in"
    for journal in journals:
        first, rest = journal.read_text().split("\n", 1)
        first = first.replace(f'"{demo.base_url}"', f'"{tokened}"')
        journal.write_text(f"{first}\n{rest}")
        assert tokened in first
    third = make_emulator(preset="demo")
    proc = cli("harvest", "--out", str(out), "--base-url", third.base_url, "-q")
    assert proc.returncode == 2, proc.stderr
    assert "tok3n5ecret" not in proc.stderr + proc.stdout
    redacted = demo.base_url.replace("://", "://REDACTED@")
    assert proc.stderr.splitlines()[0].endswith(
        f"its sets were harvested from {fields.base_url} and {redacted}"
    ), proc.stderr


def test_the_not_resumed_line_never_spells_a_token_an_old_run_saved_in_its_base_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run saved before 0.1.13 kept a token as its URL's user (in its config alone, so
    no scrub rewrote it): a resume of the other server names that set's server redacted in
    its `not resumed:` line."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    (saved,) = [
        p
        for p in (out / "runs").glob("*/config.json")
        if json.loads(p.read_text())["config"]["base_url"] == demo.base_url
    ]
    data = json.loads(saved.read_text())
    data["config"]["base_url"] = demo.base_url.replace("://", "://tok3n5ecret@")
    saved.write_text(json.dumps(data))
    proc = cli("harvest", "--out", str(out), "--base-url", fields.base_url, "-q")
    assert "tok3n5ecret" not in proc.stderr + proc.stdout
    redacted = demo.base_url.replace("://", "://REDACTED@")
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("not resumed:")]
    assert f"from another server, {redacted}/; run: " in line or (
        f"from another server, {redacted}; run: " in line
    ), line


def test_a_folder_of_one_server_resumes_every_set_as_before(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """One server's two plates: `--base-url` spelt otherwise resumes both (no note, exit
    0), and another server's `--base-url` still asks that one for every set (a moved
    server), under the usual warning."""
    demo = make_emulator(preset="demo")
    out = tmp_path / "d"
    harvest(demo.base_url, out, DEMO_PLATE)
    harvest(demo.base_url, out, "7361")
    damage_one_of_each(out, (DEMO_PLATE, "7361"))
    demo.reset_stats()
    same = demo.base_url.replace("http://", "HTTP://") + "/"
    proc = cli("harvest", "--out", str(out), "--base-url", same, "-q")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert demo.stats()["image_requests"] == 2
    damage_one_of_each(out, (DEMO_PLATE, "7361"))
    moved = make_emulator(preset="demo")
    proc = cli("harvest", "--out", str(out), "--base-url", moved.base_url, "-q")
    assert proc.returncode == 0, proc.stderr
    assert "was harvested from" in proc.stderr and not not_resumed(proc.stderr), proc.stderr
    assert moved.stats()["image_requests"] == 2
    assert cli("verify", str(out)).returncode == 0


def test_a_base_url_with_credentials_matches_the_set_that_withheld_them(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The demo set was harvested through a URL with a user and session (never saved):
    `--base-url` with them resumes it (not refused as needing credentials) and not the
    fields set; `--base-url FIELDS` names the demo set's command with `--base-url URL`."""
    port = "{port}"
    demo_tmpl = f"http://bob:PASSW0RD@127.0.0.1:{port}/?bsession=SECRET"
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    secret = demo_tmpl.format(port=demo.base_url.rsplit(":", 1)[1].rstrip("/"))
    out = tmp_path / "d"
    harvest(secret, out, DEMO_PLATE)
    harvest(fields.base_url, out, FIELDS_PLATE)
    damage_one_of_each(out, (DEMO_PLATE, FIELDS_PLATE))
    demo.reset_stats()
    fields.reset_stats()
    proc = cli("harvest", "--out", str(out), "--base-url", fields.base_url, "-q")
    assert proc.returncode == 1, proc.stderr
    assert (demo.stats()["image_requests"], fields.stats()["image_requests"]) == (0, 1)
    (line,) = not_resumed(proc.stderr)
    saved = demo.base_url.rstrip("/") + "/"  # (as the URL with credentials was given)
    assert line.endswith(
        f"; run: harvester harvest --out {out} --base-url URL  # URL: {saved} with its "
        "user or session again"
    ), line
    proc = cli("harvest", "--out", str(out), "--base-url", secret, "-q")
    assert (proc.returncode, proc.stderr) == (0, "")  # (the fields set: nothing left)
    assert (demo.stats()["image_requests"], fields.stats()["image_requests"]) == (1, 1)
    assert cli("verify", str(out)).returncode == 0


def _private(emu: EmulatorThread, key: str, expires_after: int | None = None) -> str:
    """The emulator's one session logged in as ``key`` (ending after ``expires_after``
    answers; None: never): its URL with that key."""
    app = emu.app
    assert isinstance(app, App)
    app.site.session_key, app.site.session_expires_after = key, expires_after
    app.site.session_uses = 0
    return f"{emu.base_url}/?bsession={key}"


def test_a_resume_stopped_by_an_ended_session_still_names_the_other_servers_sets(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--out DIR --base-url PRIVATE?bsession=KEY` whose session ends mid-replay: exit 2,
    and the fields set's `not resumed:` line (its own command) is said once, before the
    stop's error and hint (the stop ended the resume before that line was said)."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields")
    out = tmp_path / "d"
    harvest(_private(demo, "key-0"), out, DEMO_PLATE)
    harvest(fields.base_url, out, FIELDS_PLATE)
    for path in (out / "images").rglob("*.jpg"):  # every thumbnail to refetch
        path.write_bytes(b"not a jpeg")
    assert cli("verify", str(out)).returncode == 1
    fields.reset_stats()
    proc = cli(
        "harvest", "--out", str(out), "--base-url", _private(demo, "key-1", expires_after=3),
        "--rate", "none", "--concurrency", "1",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "key-1" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-2].startswith("error: the session this run sent has ended"), proc.stderr
    assert lines[-1].startswith("hint: ") and "--base-url URL" in lines[-1], proc.stderr
    (line,) = not_resumed(proc.stderr)
    assert lines.index(line) < len(lines) - 2, proc.stderr
    command = f"harvester harvest --out {out} --base-url {fields.base_url}"
    assert line.endswith(f"; run: {command}") and f"--plate {FIELDS_PLATE}" in line, line
    assert fields.stats()["image_requests"] == 0


THUMBNAILS_FAIL = "500:100%,only:/webgateway/render_thumbnail/"


def failing_two_server_folder(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> tuple[Path, EmulatorThread, EmulatorThread]:
    """DIR holding plate 7375 of a demo server and then plate 3001 of a fields server,
    every thumbnail of both failed (HTTP 500, no retry)."""
    demo = make_emulator(preset="demo", faults=THUMBNAILS_FAIL)
    fields = make_emulator(preset="fields", faults=THUMBNAILS_FAIL, seed=7)
    out = tmp_path / "d"
    for emu, plate in ((demo, DEMO_PLATE), (fields, FIELDS_PLATE)):
        proc = cli(
            "harvest", "--base-url", emu.base_url, "--plate", plate, "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
            "--max-retries", "0",
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr
    return out, demo, fields


def test_failed_ids_of_two_servers_are_one_servers_at_a_time(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`status DIR --failed-ids` of a folder whose failures are of two servers: exit 2, no
    id on stdout, one error naming both (with their counts) and a hint with one server's
    pipe; `--base-url` lists each server's ids apart, and the hint's pipe, pasted once the
    servers are well, fetches that server's from it alone; then the list is one server's."""
    out, demo, fields = failing_two_server_folder(tmp_path, make_emulator)
    listed = {}
    for emu in (demo, fields):
        ids = cli("status", str(out), "--failed-ids", "--base-url", emu.base_url + "/")
        assert ids.returncode == 0, ids.stderr
        listed[emu.base_url] = ids.stdout.split()
    every = cli("status", str(out), "--json")
    failed = json.loads(every.stdout)["failed_ids"]
    assert sorted(map(int, [*listed[demo.base_url], *listed[fields.base_url]])) == failed
    assert len(listed[demo.base_url]) == 8 and listed[fields.base_url], listed
    proc = cli("status", str(out), "--failed-ids")
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    error, hint = proc.stderr.splitlines()
    assert error == (
        f"error: the failed images of {out} are of 2 servers, {fields.base_url} "
        f"({len(listed[fields.base_url])} images), {demo.base_url} (8 images): one list of "
        "their ids, piped into harvest --ids-from, would ask one server for the other's ids"
    ), proc.stderr
    pipe = (
        f"harvester status {out} --failed-ids --base-url {fields.base_url} | harvester "
        f"harvest --out {out} --base-url {fields.base_url} --ids-from -"
    )
    assert hint.startswith("hint: list one server's at a time") and hint.endswith(pipe), hint
    status, harvest_cmd = pipe.split(" | ")
    for emu in (demo, fields):
        emu.server.faults = FaultInjector(FaultSpec())  # the servers are well again
        emu.reset_stats()
    ids = cli(*shlex.split(status)[1:])
    assert ids.stdout.split() == listed[fields.base_url], ids.stderr
    again = cli(*shlex.split(harvest_cmd)[1:], stdin=ids.stdout)
    assert again.returncode == 0, again.stderr
    assert demo.stats()["image_requests"] == 0
    assert fields.stats()["image_requests"] == len(listed[fields.base_url])
    left = cli("status", str(out), "--failed-ids")  # (one server's now: no refusal)
    assert (left.returncode, left.stdout.split()) == (0, listed[demo.base_url]), left.stderr
    assert left.stderr == (  # (DIR's newest set is fields': the pipe must name demo)
        f"note: these are failed images of {demo.base_url} ({out} holds target sets of 2 "
        f"servers): harvester status {out} --failed-ids --base-url {demo.base_url} | "
        f"harvester harvest --out {out} --base-url {demo.base_url} --ids-from -\n"
    )


def test_failed_ids_of_a_server_of_no_set_is_refused_naming_the_folders(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`status DIR --failed-ids --base-url OTHER` (with a session key) in a folder of two
    servers: exit 2, no id, the error naming DIR's servers and not the key."""
    out, demo, fields = failing_two_server_folder(tmp_path, make_emulator)
    third = make_emulator(preset="demo")
    proc = cli("status", str(out), "--failed-ids", "--base-url", f"{third.base_url}/?bsession=K3Y")
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    error, hint = proc.stderr.splitlines()
    assert error.startswith(f"error: {out} holds no target set harvested from"), error
    assert error.endswith(f"its sets were harvested from {fields.base_url} and {demo.base_url}")
    assert "K3Y" not in proc.stderr and hint.startswith("hint: "), proc.stderr


def test_a_piped_sets_failed_images_pipe_names_its_server_in_a_folder_of_two(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Demo ids piped in (their thumbnails failing), then a fields plate: the bare resume's
    `not resumed:` line for the piped set gives the pipe of its failed images with demo's
    `--base-url` on both sides; pasted (the server well again), it fetches them from demo
    alone and `status --failed-ids` is then empty."""
    demo = make_emulator(preset="demo", faults=THUMBNAILS_FAIL)
    fields = make_emulator(preset="fields", seed=7)
    out, scratch = tmp_path / "d", tmp_path / "scratch"
    ids = ""
    for where in (scratch, out):  # (the ids of the demo plate, listed in a scratch folder)
        failing = cli(
            "harvest", "--base-url", demo.base_url, "--out", str(where),
            *(["--ids-from", "-"] if ids else ["--plate", DEMO_PLATE]),
            "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
            "--max-retries", "0", stdin=ids,
        )  # fmt: skip
        assert failing.returncode == 1, failing.stderr
        ids = ids or cli("status", str(scratch), "--failed-ids").stdout
    harvest(fields.base_url, out, FIELDS_PLATE)
    proc = cli("harvest", "--out", str(out), "-q")
    (line,) = not_resumed(proc.stderr)
    pipe = (
        f"harvester status {out} --failed-ids --base-url {demo.base_url} | harvester harvest "
        f"--out {out} --base-url {demo.base_url} --ids-from -"
    )
    assert line.endswith(f"or for the failed images alone: {pipe}"), line
    demo.server.faults = FaultInjector(FaultSpec())  # the server is well again
    demo.reset_stats()
    fields.reset_stats()
    status, harvest_cmd = pipe.split(" | ")
    listed = cli(*shlex.split(status)[1:])
    assert listed.returncode == 0 and listed.stdout.split(), listed.stderr
    again = cli(*shlex.split(harvest_cmd)[1:], stdin=listed.stdout)
    assert again.returncode == 0, again.stderr
    assert demo.stats()["image_requests"] == len(listed.stdout.split())
    assert fields.stats()["image_requests"] == 0
    assert cli("status", str(out), "--failed-ids").stdout == ""


def test_slurm_given_a_servers_url_names_that_servers_set_and_the_others_commands(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm --out DIR --base-url DEMO` (no targets) in a folder of two: exit 2,
    no script; the fields set's `not resumed:` line with its own slurm command, and a hint
    with the demo set's targets and URL (it named the newest set, fields', whatever the
    URL); a fields script already there is not offered for resubmission for demo."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    proc = cli("slurm", "--out", str(out), "--base-url", demo.base_url, "--tasks", "2")
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    line, error, hint = proc.stderr.splitlines()
    assert line.startswith("not resumed: the newest run ("), line
    assert line.endswith(
        f"harvested --plate {FIELDS_PLATE} from another server, {fields.base_url}; run: "
        f"harvester slurm --out {out} --base-url {fields.base_url} --plate {FIELDS_PLATE} "
        "--tasks N"
    ), line
    assert error == "error: nothing to harvest: harvester slurm needs the targets its tasks harvest"
    demo_command = (
        f"harvester slurm --out {out} --base-url {demo.base_url} --plate {DEMO_PLATE} --tasks N"
    )
    assert hint == (
        f"hint: give the targets again, e.g. those of its newest set of that server: {demo_command}"
    ), hint
    assert not (out / "harvest.sbatch").exists()
    command = line.partition("; run: ")[2].removesuffix(" --tasks N")
    written = cli(*shlex.split(command)[1:], "--tasks", "2", "-q")
    assert written.returncode == 0, written.stderr
    script = (out / "harvest.sbatch").read_text()
    assert f"--base-url {fields.base_url}" in script and f"--plate {FIELDS_PLATE}" in script
    proc = cli("slurm", "--out", str(out), "--base-url", demo.base_url, "--tasks", "2")
    hint = proc.stderr.splitlines()[-1]
    assert hint == (
        f"hint: {out / 'harvest.sbatch'} harvests from {fields.base_url}: not it; for a new "
        f"script, give the targets again, e.g. those of its newest set of that server: "
        f"{demo_command}"
    ), hint
    proc = cli("slurm", "--out", str(out), "--base-url", fields.base_url, "--tasks", "2")
    (line,) = not_resumed(proc.stderr)
    assert f"--base-url {demo.base_url} --plate {DEMO_PLATE} --tasks N" in line, line
    assert f"hint: to run {out / 'harvest.sbatch'} again" in proc.stderr, proc.stderr


def test_slurm_given_a_url_of_no_set_is_refused_and_one_server_folders_are_unchanged(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm --out DIR --base-url OTHER` in a folder of two: exit 2, the error
    naming DIR's servers (the URL's key never said); in a folder of one server, the hint
    names its newest set as before, without a `not resumed:` line."""
    out, demo, fields = two_server_folder(tmp_path, make_emulator)
    third = make_emulator(preset="demo")
    other = f"{third.base_url}/?bsession=K3Y"
    proc = cli("slurm", "--out", str(out), "--base-url", other, "--tasks", "2")
    assert proc.returncode == 2, proc.stderr
    error, hint = proc.stderr.splitlines()
    assert error.startswith(f"error: {out} holds no target set harvested from "), error
    assert error.endswith(f"its sets were harvested from {fields.base_url} and {demo.base_url}")
    assert "K3Y" not in proc.stderr and hint.startswith("hint: "), proc.stderr
    one = tmp_path / "one"
    harvest(demo.base_url, one, DEMO_PLATE)
    proc = cli("slurm", "--out", str(one), "--base-url", third.base_url, "--tasks", "2")
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest: harvester slurm needs the targets its tasks harvest",
        f"hint: give the targets again, e.g. those of the folder's newest run: harvester slurm "
        f"--out {one} --plate {DEMO_PLATE} --tasks N",
    ], proc.stderr


def test_a_piped_runs_closing_pipe_names_its_server_in_a_folder_of_two(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Demo's failed ids piped into a harvest of a folder of two (still failing): its
    closing rerun pipe lists demo's failed ids alone (`status --failed-ids --base-url
    DEMO`), which status answers (not refused as a list of two servers)."""
    out, demo, _fields = failing_two_server_folder(tmp_path, make_emulator)
    ids = cli("status", str(out), "--failed-ids", "--base-url", demo.base_url).stdout
    proc = cli(
        "harvest", "--out", str(out), "--base-url", demo.base_url, "--ids-from", "-",
        "--max-retries", "0", stdin=ids,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    listing = f"harvester status {out} --failed-ids --base-url {demo.base_url} | harvester "
    (closing,) = [line for line in proc.stderr.splitlines() if listing in line]
    status = closing[closing.index(listing) :].partition(" | ")[0]
    again = cli(*shlex.split(status)[1:])
    assert (again.returncode, again.stdout) == (0, ids), again.stderr


def test_slurm_given_a_servers_url_names_the_others_piped_set(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Demo ids piped in, then a fields plate: `harvester slurm --out DIR --base-url FIELDS`
    gives the piped demo set a `not resumed:` line (it had none: dropped without a word)
    whose command, its FILE holding the ids, writes a script of demo's ids from demo."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    piped = cli(
        "harvest", "--base-url", demo.base_url, "--out", str(out), "--ids-from", "-",
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q", stdin="9762885\n",
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    harvest(fields.base_url, out, FIELDS_PLATE)
    proc = cli("slurm", "--out", str(out), "--base-url", fields.base_url, "--tasks", "2")
    assert proc.returncode == 2, proc.stderr
    (line,) = not_resumed(proc.stderr)
    listing = f"harvester status {out} --failed-ids --base-url {demo.base_url} > FILE"
    command = f"harvester slurm --out {out} --base-url {demo.base_url} --ids-from FILE --tasks N"
    assert line.endswith(
        f"read its image ids from standard input, which cannot be read again, from another "
        f"server, {demo.base_url}; run, with the same ids in FILE (or the failed images of that "
        f"server's sets: {listing}): {command}"
    ), line
    listed = cli(*shlex.split(listing.removesuffix(" > FILE"))[1:])
    assert (listed.returncode, listed.stdout) == (0, ""), listed.stderr
    ids = tmp_path / "ids.txt"
    ids.write_text("9762885\n")
    words = shlex.split(command.replace("FILE", str(ids)).replace(" N", " 2"))
    written = cli(*words[1:], "-q")
    assert written.returncode == 0, written.stderr
    script = (out / "harvest.sbatch").read_text()
    assert f"--base-url {demo.base_url}" in script and "--ids-from" in script, script


def test_failed_images_of_no_known_server_are_said_with_what_to_do(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A demo project's failures recorded by a run whose saved settings are damaged, in a
    folder of two failing servers: each server's list leaves them out and says so on
    stderr, with their ids and what to do; the refusal of the plain list says so too;
    done as said (the URL in status --json, a harvest by id from it), they are fetched."""
    out, demo, fields = failing_two_server_folder(tmp_path, make_emulator)
    runs = {p.name for p in (out / "runs").iterdir()}
    proc = cli(
        "harvest", "--base-url", demo.base_url, "--project", "51", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q", "--max-retries", "0",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (run,) = {p.name for p in (out / "runs").iterdir()} - runs
    (out / "runs" / run / "config.json").write_text('{"config": ')
    listed = cli("status", str(out), "--failed-ids", "--base-url", demo.base_url)
    assert listed.returncode == 0 and len(listed.stdout.split()) == 8, listed.stderr
    every = json.loads(cli("status", str(out), "--json").stdout)
    unknown = sorted(set(every["failed_ids"]) - set(map(int, listed.stdout.split())))
    fields_ids = cli("status", str(out), "--failed-ids", "--base-url", fields.base_url)
    unknown = [i for i in unknown if str(i) not in fields_ids.stdout.split()]
    assert len(unknown) == 8, unknown
    said = (
        f"8 failed images of no known server ({', '.join(map(str, unknown))}): the saved "
        f"settings of the runs that recorded their failures cannot be read "
        f"({out / 'runs' / run / 'config.json'}), so they are in no server's --base-url list; "
        f'the URL of each failure in harvester status {out} --json ("failures") names its '
        f"server: harvest them from it by id, harvester harvest --out {out} --base-url ITS-URL "
        "--ids-from FILE (FILE: their ids, one a line), or put those files back (from a copy "
        "or a backup)"
    )
    assert listed.stderr == f"note: not in this list: {said}\n", listed.stderr
    plain = cli("status", str(out), "--failed-ids")
    assert plain.returncode == 2 and plain.stderr.rstrip().endswith(
        f"; not in those lists: {said}"
    ), plain.stderr
    urls = {f["url"].split("/webgateway/")[0] for f in every["failures"] if f["id"] in unknown}
    assert urls == {demo.base_url}, urls
    demo.server.faults = FaultInjector(FaultSpec())  # the server is well again
    demo.reset_stats()
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{i}\n" for i in unknown))
    again = cli("harvest", "--out", str(out), "--base-url", demo.base_url, "--ids-from", str(ids))
    assert again.returncode == 0, again.stderr
    assert demo.stats()["image_requests"] == 8

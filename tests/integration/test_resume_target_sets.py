"""``harvester harvest --out DIR`` resumes every target set of DIR's runs, not the newest only.

The README's own recipe led into the trap: ``--screen 2302`` with failures, then
``harvester status DIR --failed-ids > retry.txt`` and ``--ids-from retry.txt`` to retry them.
``--out DIR`` then replayed the retry alone, exited 0, and what the screen left undone stayed
undone while ``status`` kept printing the same resume command. Each harvest runs as
``harvester ARGS`` (in the test process, kept to itself as a process of its own:
tests/cli_in_process.py; one stopped mid-run: a process) against an emulator over real
sockets: the lines checked are what a user sees.
"""

from __future__ import annotations

import json
import shlex
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import interrupt, reaped, run_lock_held, start_cli
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec, parse_faults

PLATE = "7375"  # 8 images, the last plate of screen 2302
OTHER_PLATE = "7361"  # 8 images, 9762885-9762892


def pasted_commands(line: str) -> list[list[str]]:
    """The commands bash runs when what follows a printed line's label (``to resume: ``,
    ``also: ``) is pasted: split at ``;`` and ``&&``, a ``#`` comment dropped."""
    text = line.split(": ", 1)[1] if not line.startswith("harvester ") else line
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in (";", "&&"):
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def runs(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "runs").iterdir())


def thumbnails(out: Path) -> list[int]:
    return sorted(int(p.name.split(".")[0]) for p in (out / "images").rglob("*.thumbnail.jpg"))


def new_run(out: Path, before: list[str]) -> str:
    """The run a command added (ids of one second do not sort by time)."""
    (added,) = set(runs(out)) - set(before)
    return added


def harvest_plate(emu: EmulatorThread, out: Path, plate: str, *extra: str) -> str:
    """A thumbnail harvest of one plate; the run id it saved."""
    before = runs(out) if (out / "runs").is_dir() else []
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--plate", plate, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q", *extra,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return new_run(out, before)


#: An image id the emulator does not have: its thumbnail fails (404), for good.
MISSING_IMAGE = 999_999_999


def harvest_stdin(emu: EmulatorThread, out: Path, *, missing: bool = True) -> str:
    """Two images whose ids came on standard input (read once: cannot be replayed), and with
    ``missing`` a third that fails: something is left in DIR that no other set can redo, so
    its "not resumed" line is no false alarm (see test_a_set_not_replayed_is_moot...)."""
    before = runs(out) if (out / "runs").is_dir() else []
    ids = "1884801\n1884802\n" + (f"{MISSING_IMAGE}\n" if missing else "")
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--ids-from", "-", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        stdin=ids,
    )  # fmt: skip
    assert proc.returncode == (1 if missing else 0), proc.stderr
    return new_run(out, before)


def again_on_stdin(out: Path, credentials: str = "") -> str:
    """What a command said for ids read from standard input needs, in its comment;
    ``credentials``: what the piped harvest is given before ``--ids-from -``
    (``SECRETS.toml``, ``--base-url URL``)."""
    harvest = f"harvester harvest --out {out}"
    if credentials.startswith("SECRETS.toml"):
        harvest = f"harvester harvest SECRETS.toml --out {out}"
        credentials = credentials.removeprefix("SECRETS.toml").strip()
    harvest += f" {credentials}" if credentials else ""
    return (
        "the same ids on standard input again, or for the failed images alone: harvester "
        f"status {out} --failed-ids | {harvest} --ids-from -"
    )


def refetch_one(out: Path) -> None:
    """Damage one thumbnail and let verify mark it: the next resume has one to fetch."""
    victim = sorted((out / "images").rglob("*.thumbnail.jpg"))[-1]  # plate 7375's last
    victim.write_bytes(b"not a jpeg")
    assert cli("verify", str(out)).returncode == 1


def test_the_readme_trap_a_screen_then_its_failures_by_id(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Screen 2302 with one plate's wells failing (a walk failure: 8 images never found)
    and 5 thumbnails failing; then its failed ids retried from a file. `--out DIR` now
    replays the retry and the screen: every thumbnail on disk, nothing pending, exit 0."""
    faults = "500:100%,only:/api/v0/m/plates/7375/wells/|/webgateway/render_thumbnail/976288"
    emu = make_emulator(preset="demo", faults=faults)
    out = tmp_path / "d"
    first = cli(
        "harvest", "--base-url", emu.base_url, "--screen", "2302", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "--max-retries", "0",
        "-q",
    )  # fmt: skip
    assert first.returncode == 1
    assert "walk failed" in first.stderr
    screen_run = runs(out)[0]
    failed = cli("status", str(out), "--failed-ids").stdout.split()
    assert len(failed) == 5 and len(thumbnails(out)) == 80 - 8 - 5

    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again
    retry = tmp_path / "retry.txt"
    retry.write_text("\n".join(failed) + "\n")
    second = cli(
        "harvest", "--out", str(out), "--ids-from", str(retry), "--base-url", emu.base_url,
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    retry_run = new_run(out, [screen_run])
    assert len(thumbnails(out)) == 72  # the plate the walk missed is still missing

    emu.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("resuming")]
    assert lines == [
        f"resuming {out} (target set 1 of 2) with the settings of its newest run, "
        f"{retry_run}: --base-url {emu.base_url} --ids-from {retry} --artifacts thumbnail "
        "--rate none --no-labels",
        f"resuming {out} (target set 2 of 2) with the settings of its newest run of these "
        f"targets, {screen_run}: --base-url {emu.base_url} --screen 2302 --artifacts "
        "thumbnail --rate none --max-retries 0 --no-labels",
    ]
    assert emu.stats()["by_route"]["image:thumbnail"] == {"200": 8}  # the missed plate's
    assert len(thumbnails(out)) == 80
    status = json.loads(cli("status", str(out), "--json").stdout)
    assert status["kinds"]["thumbnail"]["pending"] == 0
    assert status["kinds"]["thumbnail"]["done"] == 80
    assert "resume" not in status
    # Finished: a resume now asks for no image and says the same two lines.
    emu.reset_stats()
    again = cli("harvest", "--out", str(out), "-q")
    assert (again.returncode, again.stderr) == (0, "")
    assert emu.stats()["image_requests"] == 0


def test_runs_of_the_same_targets_are_replayed_once_with_the_newest_settings(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Three runs of plate 7375 (the first, a resume of it, then the same plate with
    narrower artifacts): one replay, with the third run's artifacts, one walk."""
    out = tmp_path / "d"
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", PLATE, "--out", str(out),
        "--artifacts", "thumbnail,metadata", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    refetch_one(out)
    assert cli("harvest", "--out", str(out), "-q").returncode == 0  # a second run recorded
    refetch_one(out)
    newest = harvest_plate(emulator, out, PLATE)  # thumbnails only now
    assert len(runs(out)) == 3
    metadata = sorted((out / "images").rglob("*.metadata.json"))
    metadata[0].write_bytes(b"{")
    refetch_one(out)  # verify marks the metadata file too
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("resuming")] == [
        f"resuming {out} with the settings of its newest run, {newest}: --base-url "
        f"{emulator.base_url} --plate {PLATE} --artifacts thumbnail --rate none --no-labels"
    ]
    by_route = emulator.stats()["by_route"]
    assert by_route["api_plate_wells"] == {"200": 1}  # walked once, not three times
    assert by_route["image:thumbnail"] == {"200": 1}
    assert "image:metadata" not in by_route  # the later choice: no metadata


def test_a_set_that_cannot_be_replayed_beside_one_that_can(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Plate 7375, then ids on standard input (newest): the plate is resumed, the ids are
    one `not resumed:` line with the command, exit 1; status says both."""
    out = tmp_path / "d"
    plate_run = harvest_plate(emulator, out, PLATE)
    stdin_run = harvest_stdin(emulator, out)
    refetch_one(out)
    from harvester.config import resume_command

    ids_command = (
        f"harvester harvest --out {out} --base-url {emulator.base_url} --ids-from - "
        "--artifacts thumbnail --rate none --no-labels"
    )
    note_reason = (
        f"the newest run ({stdin_run}) read its image ids from standard input, which cannot "
        "be read again"
    )
    assert resume_command(out) == (  # one comment: why, then what to give again
        f"harvester harvest --out {out}\n  also: {ids_command}  # {note_reason}; "
        f"{again_on_stdin(out)}"
    )
    status = cli("status", str(out)).stdout.splitlines()
    assert status[-2:] == f"to resume: {resume_command(out)}".splitlines()
    assert [pasted_commands(line) for line in status[-2:]] == [
        [["harvester", "harvest", "--out", str(out)]],
        [ids_command.split()],
    ]
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        f"resuming {out} with the settings of its newest run of these targets, {plate_run}: "
        f"--base-url {emulator.base_url} --plate {PLATE} --artifacts thumbnail --rate none "
        "--no-labels"
    )
    assert lines[-1] == (f"not resumed: {note_reason}; run: {ids_command}  # {again_on_stdin(out)}")
    assert emulator.stats()["image_requests"] == 1  # the damaged thumbnail, refetched
    assert len(thumbnails(out)) == 10
    assert cli("verify", str(out)).returncode == 0


def test_the_command_said_instead_carries_the_flags_given_now(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvest --out DIR --max-retries 2 --rate 3`: the `not resumed:` line (and a lone
    set's refusal) suggests those flags over the saved ones (`--rate none`), as a replay
    would run with them; a config file given now is named, its keys not said twice."""
    out = tmp_path / "d"
    stdin_run = harvest_stdin(emulator, out)
    reason = (
        f"read its image ids from standard input, which cannot be read again; run: harvester "
        f"harvest --out {out} --base-url {emulator.base_url} --ids-from - --artifacts thumbnail"
    )
    again = f" # {again_on_stdin(out)}"
    alone = cli("harvest", "--out", str(out), "--max-retries", "2", "--rate", "3")
    assert alone.returncode == 2
    assert f"hint: run: harvester harvest --out {out} --base-url" in alone.stderr
    assert f"--artifacts thumbnail --rate 3 --max-retries 2 --no-labels {again}" in alone.stderr
    assert "--rate none" not in alone.stderr
    harvest_plate(emulator, out, PLATE)
    proc = cli("harvest", "--out", str(out), "--max-retries", "2", "--rate", "3")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"not resumed: an earlier run ({stdin_run}) {reason} --rate 3 --max-retries 2 "
        f"--no-labels {again}"
    )
    settings = tmp_path / "polite.toml"
    settings.write_text("rate = 4\n")
    proc = cli("harvest", str(settings), "--out", str(out), "-q")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"not resumed: an earlier run ({stdin_run}) {reason} --no-labels {again}".replace(
            "run: harvester harvest --out", f"run: harvester harvest {settings} --out"
        )
    )


def test_no_set_can_be_replayed_is_refused_as_before(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Ids on standard input, then shard 0/2 of a plate: nothing is replayed; the newest
    set's refusal as before (exit 2), the other set's line before it."""
    out = tmp_path / "d"
    stdin_run = harvest_stdin(emulator, out)
    shard_run = harvest_plate(emulator, out, PLATE, "--shard", "0/2")
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"not resumed: an earlier run ({stdin_run}) read its image ids from standard input, "
        f"which cannot be read again; run: harvester harvest --out {out} --base-url "
        f"{emulator.base_url} --ids-from - --artifacts thumbnail --rate none --no-labels "
        f" # {again_on_stdin(out)}",
        f"error: cannot resume {out} as its newest run did: the newest run ({shard_run}) "
        "was shard 0/2 of a split",
        f"hint: run: harvester harvest --out {out} --shard 1/2",  # (0/2 is finished)
    ]
    assert emulator.stats()["requests"] == 0


def test_one_replay_failing_does_not_stop_the_next_and_the_worst_code_wins(
    tmp_path: Path,
    emulator: EmulatorThread,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Three sets: plate 7361 on a second server (newest), now busy (503 to everything:
    exit 75 for its replay); plate 7375 on the first server, one file to refetch; ids on
    standard input (not resumed: 1). The plate is still resumed; the exit code is 75."""
    out = tmp_path / "d"
    harvest_stdin(emulator, out)
    harvest_plate(emulator, out, PLATE)
    refetch_one(out)
    other = make_emulator(preset="demo")
    # --outage-wait 0 (kept by the replay): its busy check at start ends it, not a pause.
    busy_run = harvest_plate(other, out, OTHER_PLATE, "--max-retries", "0", "--outage-wait", "0")
    other.server.faults = FaultInjector(parse_faults("503:100%"))
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 75, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(
        f"resuming {out} (target set 1 of 2) with the settings of its newest run, {busy_run}:"
    )
    assert any(line.startswith("error: ") for line in lines)
    assert any(
        line.startswith(f"resuming {out} (target set 2 of 2) with the settings of its newest "
                        "run of these targets")
        for line in lines
    )  # fmt: skip
    assert lines[-1].startswith("not resumed: an earlier run")
    assert emulator.stats()["image_requests"] == 1  # the damaged thumbnail, refetched
    assert cli("verify", str(out)).returncode == 0


def test_a_folder_held_by_another_process_is_said_once_and_stops_the_resume(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """While another process holds DIR's own lock, a resume of three sets (two plates, ids
    on standard input) says the refusal once (exit 75): one error and hint, its `not
    resumed:` line first, the plate it did not try named in the hint; nothing fetched."""
    out = tmp_path / "d"
    harvest_stdin(emulator, out)
    harvest_plate(emulator, out, PLATE)
    newest = harvest_plate(emulator, out, OTHER_PLATE)
    refetch_one(out)  # (work left for each plate's replay, were it to run)
    before = runs(out)
    emulator.reset_stats()
    with run_lock_held(out, None) as holder:
        proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 75, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 4, proc.stderr
    assert lines[0].startswith(
        f"resuming {out} (target set 1 of 2) with the settings of its newest run, {newest}:"
    ), proc.stderr
    assert lines[1].startswith("not resumed: an earlier run"), proc.stderr
    assert lines[2] == (
        f"error: {out} is already being harvested by another process in a harvest of the "
        f"whole set (pid {holder.pid} on {socket.gethostname()})"
    ), proc.stderr
    assert lines[3].startswith("hint: "), proc.stderr
    assert lines[3].endswith(
        "; this resume's 1 other target set was not tried: the lock is the whole folder's;"
        " run this command again for it once the run going has ended"
    ), proc.stderr
    # (true of the set refused alone: the other one still needs this command)
    assert "nothing needs doing for this target set if it finishes; " in lines[3], proc.stderr
    assert "nothing needs doing if it finishes" not in lines[3], proc.stderr
    assert emulator.stats()["image_requests"] == 0
    assert runs(out) == before
    resumed = cli("harvest", "--out", str(out), "-q")  # the holder gone: the same command
    assert resumed.returncode == 1, resumed.stderr  # (the stdin set is still not resumed)
    assert emulator.stats()["image_requests"] == 1  # the damaged thumbnail, refetched


def test_a_sharded_resume_beside_a_harvest_of_the_whole_set_is_said_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """While a harvest of the whole set holds DIR, a `--shard 0/2` resume of two plates says
    the refusal once (exit 2, as the shard's run): one error and hint, the plate it did not
    try named in the hint; nothing fetched."""
    out = tmp_path / "d"
    harvest_plate(emulator, out, PLATE, "--shard", "0/2")
    newest = harvest_plate(emulator, out, OTHER_PLATE, "--shard", "0/2")
    emulator.reset_stats()
    with run_lock_held(out, None) as holder:
        proc = cli("harvest", "--out", str(out), "--shard", "0/2")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    assert lines[0].startswith(
        f"resuming {out} (target set 1 of 2) with the settings of its newest run, {newest}:"
    ), proc.stderr
    assert lines[1] == (
        f"error: {out} is being harvested by another process in a harvest of the whole set"
        f" (pid {holder.pid} on {socket.gethostname()}): shards of different counts (or a"
        " harvest of the whole set) hold the same images"
    ), proc.stderr
    assert lines[2] == (
        "hint: wait for it to finish; this resume's 1 other target set was not tried: the"
        " lock is the whole folder's"
    ), proc.stderr
    assert emulator.stats()["image_requests"] == 0


def test_a_sharded_resume_refused_by_its_shards_lock_is_said_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """While another process runs shard 0/2, a `--shard 0/2` resume of two plates says the
    refusal once (exit 75): each set would take that shard's lock, so the second is not
    tried, and the hint says why and to run the command again for it, not that nothing
    needs doing once the holder finishes; nothing fetched."""
    out = tmp_path / "d"
    harvest_plate(emulator, out, PLATE, "--shard", "0/2")
    harvest_plate(emulator, out, OTHER_PLATE, "--shard", "0/2")
    emulator.reset_stats()
    with run_lock_held(out, "0/2") as holder:
        proc = cli("harvest", "--out", str(out), "--shard", "0/2")
    assert proc.returncode == 75, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    assert lines[1] == (
        f"error: {out} is already being harvested by another process as shard 0/2"
        f" (pid {holder.pid} on {socket.gethostname()})"
    ), proc.stderr
    assert lines[2].endswith(
        "; this resume's 1 other target set was not tried: each takes shard 0/2's lock;"
        " run this command again for it once the run going has ended"
    ), proc.stderr
    assert "nothing needs doing if it finishes" not in lines[2], proc.stderr
    assert emulator.stats()["image_requests"] == 0


def test_ctrl_c_stops_every_replay(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Ctrl-C during the first of two replays: 130, and the second is not started."""
    out = tmp_path / "d"
    harvest_plate(emulator, out, PLATE)
    harvest_plate(emulator, out, OTHER_PLATE)
    for victim in (out / "images").rglob("*.thumbnail.jpg"):
        victim.write_bytes(b"not a jpeg")
    assert cli("verify", str(out)).returncode == 1
    emulator.server.faults = FaultInjector(parse_faults("latency:300ms"))  # 16 refetches, slow
    proc = start_cli("harvest", "--out", str(out), "--concurrency", "1")
    with reaped(proc):
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith(f"resuming {out} (target set 1 of 2)"), first
        stderr = first + interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "target set 2 of 2" not in stderr
    assert f": harvester harvest --out {out} --concurrency 1" in stderr  # resume with / run
    assert "Traceback" not in stderr


def test_worst_exit_rule() -> None:
    """2 (a person must look) before 75 (later) before 1 (failures) before 0."""
    from harvester.cli.harvest import worst_exit

    assert worst_exit([0, 1, 75, 2]) == 2
    assert worst_exit([1, 75, 0]) == 75
    assert worst_exit([0, 1, 0]) == 1
    assert worst_exit([0, 0]) == 0


def test_a_set_not_replayed_is_moot_once_nothing_is_left(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Ids on standard input, all done: once the plate's replay has left nothing failed or
    pending, the ids' set has nothing left either, so no "not resumed" line and exit 0; with
    only that set, "nothing to resume" and exit 0 (not a refusal on every resume for good)."""
    out = tmp_path / "d"
    harvest_stdin(emulator, out, missing=False)
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"nothing to resume: {out} has nothing failed or pending"]
    harvest_plate(emulator, out, PLATE)
    refetch_one(out)
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "not resumed" not in proc.stderr
    assert len(thumbnails(out)) == 10
    assert cli("verify", str(out)).returncode == 0


def test_status_names_at_most_three_sets_it_cannot_replay(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Ids read once are a set per run: five such runs and a plate; the resume line names
    the plate's command, three of the others, and how many more."""
    out = tmp_path / "d"
    for _ in range(5):
        harvest_stdin(emulator, out)
    harvest_plate(emulator, out, PLATE)
    from harvester.config import resume_command

    line = resume_command(out)
    assert line.startswith(f"harvester harvest --out {out}\n  also: ")
    assert line.count(f"; {again_on_stdin(out)}\n  also: ") == 3
    assert line.endswith(
        f"\n  also: 2 more target sets that cannot be replayed (harvester harvest --out {out} "
        "names each)"
    )
    for each in line.splitlines()[:4]:  # (each command its own line: pasted, it runs alone)
        assert [words[:2] for words in pasted_commands(each)] == [["harvester", "harvest"]]


def test_one_command_resuming_two_cookie_sent_sets_is_said_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Two plates harvested by config files that sent cookies (never saved), one thumbnail
    left to refetch: status says `harvester harvest SECRETS.toml --out DIR` once (it said it
    twice, the second on an `also:` line), naming both runs; that one command, given the
    cookies, resumes both sets."""
    out = tmp_path / "d"
    made = []
    for plate in (OTHER_PLATE, PLATE):
        config = tmp_path / f"plate-{plate}.toml"
        config.write_text(
            f'base_url = "{emulator.base_url}"\nplates = [{plate}]\nartifacts = ["thumbnail"]\n'
            'cookies = {sessionid = "S"}\n'
        )
        config.chmod(0o600)
        before = runs(out) if (out / "runs").is_dir() else []
        proc = cli("harvest", str(config), "--out", str(out), "--no-labels", "-q")
        assert proc.returncode == 0, proc.stderr
        made.append(new_run(out, before))
    refetch_one(out)
    proc = cli("status", str(out))
    resume = proc.stdout.split("to resume: ", 1)[1].splitlines()
    command = f"harvester harvest SECRETS.toml --out {out}"
    assert resume == [
        f"{command}  # the newest run ({made[1]}) sent cookies (sessionid), which are never "
        f"saved; an earlier run ({made[0]}) sent cookies (sessionid), which are never saved; "
        "SECRETS.toml: cookies = {...} again"
    ], proc.stdout
    assert pasted_commands(resume[0]) == [shlex.split(command)]
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('cookies = {sessionid = "S"}\n')
    secrets.chmod(0o600)
    emulator.reset_stats()
    proc = cli("harvest", str(secrets), "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert emulator.stats()["image_requests"] == 1  # the one to refetch, of either set
    assert len(thumbnails(out)) == 16
    assert "resume" not in json.loads(cli("status", str(out), "--json").stdout)


def test_a_piped_set_that_sent_cookies_is_said_with_its_secrets_file(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A plate and ids on standard input, both by a config file that sent cookies: status
    (text and JSON) says the plate's `SECRETS.toml` command once and the piped set's with
    SECRETS.toml too (it said the piped set's without: pasted, it asked as nobody)."""
    out = tmp_path / "d"
    config = tmp_path / "c.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\ncookies = {{sessionid = "S"}}\n')
    config.chmod(0o600)
    common = ["--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q"]
    assert cli("harvest", str(config), "--plate", PLATE, "--out", str(out), *common).returncode == 0
    before = runs(out)
    ids = f"1884801\n{MISSING_IMAGE}\n"
    proc = cli("harvest", str(config), "--ids-from", "-", "--out", str(out), *common, stdin=ids)
    assert proc.returncode == 1, proc.stderr
    stdin_run = new_run(out, before)
    refetch_one(out)
    status = cli("status", str(out)).stdout
    resume = status.split("to resume: ", 1)[1].splitlines()
    assert len(resume) == 2, status
    piped = (
        f"harvester harvest SECRETS.toml --out {out} --base-url {emulator.base_url} "
        "--ids-from - --artifacts thumbnail --rate none --no-labels"
    )
    assert resume[0] == (
        f"{piped}  # the newest run ({stdin_run}) read its image ids from standard input, "
        "which cannot be read again; SECRETS.toml: cookies = {...} again; "
        f"{again_on_stdin(out, 'SECRETS.toml')}"
    ), status
    assert resume[1].startswith(f"  also: harvester harvest SECRETS.toml --out {out}  # "), status
    assert pasted_commands(resume[0]) == [shlex.split(piped)]
    report = json.loads(cli("status", str(out), "--json").stdout)
    assert report["resume"].splitlines() == resume, report["resume"]


def test_harvest_refusing_two_cookie_sent_sets_says_the_command_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Two plates harvested by config files that sent cookies: `harvest --out DIR` refuses
    with one error naming both runs and `harvester harvest SECRETS.toml --out DIR` once (it
    said it twice, on a `not resumed:` line and the hint); beside a set it can replay, one
    `not resumed:` line for both."""
    out = tmp_path / "d"
    made = []
    for plate in (OTHER_PLATE, PLATE):
        config = tmp_path / f"plate-{plate}.toml"
        config.write_text(
            f'base_url = "{emulator.base_url}"\nplates = [{plate}]\nartifacts = ["thumbnail"]\n'
            'cookies = {sessionid = "S"}\n'
        )
        config.chmod(0o600)
        before = runs(out) if (out / "runs").is_dir() else []
        proc = cli("harvest", str(config), "--out", str(out), "--no-labels", "-q")
        assert proc.returncode == 0, proc.stderr
        made.append(new_run(out, before))
    refetch_one(out)
    command = f"harvester harvest SECRETS.toml --out {out}  # SECRETS.toml: cookies = {{...}} again"
    reasons = (
        f"the newest run ({made[1]}) sent cookies (sessionid), which are never saved; an "
        f"earlier run ({made[0]}) sent cookies (sessionid), which are never saved"
    )
    emulator.reset_stats()
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: cannot resume {out} as its newest run did: {reasons}",
        f"hint: run: {command}",
    ]
    assert emulator.stats()["requests"] == 0
    proc = cli(
        "harvest", "--base-url", emulator.base_url, "--image", "1884801", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = cli("harvest", "--out", str(out), "-q")
    assert proc.returncode == 1, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("not resumed:")]
    assert notes == [
        f"not resumed: {reasons.replace('the newest run', 'an earlier run')}; run: {command}"
    ], proc.stderr


def test_the_failed_ids_pipe_of_a_set_that_sent_credentials_names_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Ids piped in by a run that sent cookies (a config file) through a URL with a user
    and session: the "failed images alone" pipe names SECRETS.toml and --base-url URL (it
    named neither: pasted alone, it was refused as needing credentials, exit 2); given
    them, it asks the server for the failed id again."""
    out = tmp_path / "d"
    port = emulator.base_url.rstrip("/").rsplit(":", 1)[1]
    secret_url = f"http://bob:PASSW0RD@127.0.0.1:{port}/?bsession=SECRET"
    config = tmp_path / "c.toml"
    config.write_text('cookies = {sessionid = "S"}\n')
    config.chmod(0o600)
    proc = cli(
        "harvest", str(config), "--base-url", secret_url, "--ids-from", "-", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
        stdin=f"1884801\n{MISSING_IMAGE}\n",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    status = cli("status", str(out)).stdout
    resume = status.split("to resume: ", 1)[1].splitlines()
    assert len(resume) == 1, status
    pipe = again_on_stdin(out, "SECRETS.toml --base-url URL")
    assert f"; {pipe}" in resume[0], status
    recipe = pipe.rpartition("the failed images alone: ")[2]
    listing, harvest = (shlex.split(part) for part in recipe.split(" | "))
    failed = cli(*listing[1:])
    assert failed.stdout.split() == [str(MISSING_IMAGE)], failed.stderr
    words = [str(config) if w == "SECRETS.toml" else secret_url if w == "URL" else w
             for w in harvest[1:]]  # fmt: skip
    emulator.reset_stats()
    again = cli(*words, "--rate", "none", "-q", stdin=failed.stdout)
    assert again.returncode == 1, again.stderr  # (the id is still not on the server)
    assert "credentials" not in again.stderr, again.stderr
    assert emulator.stats()["image_requests"] == 1

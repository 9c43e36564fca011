"""New targets run into a folder of two servers: the "mixed in" warning.

A run of new targets warned that its images were "mixed in" whenever its server was not
that of DIR's newest run, even when DIR already held target sets of the server it asked
(a folder of two servers, a new plate of the older one). It now warns only when its
server is none of those DIR's runs asked. Each command runs as ``harvester ARGS`` (in the
test process, tests/cli_in_process.py) against emulators over real sockets (demo: plate 7375
and project 51; fields: plate 3001).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread


def harvest(emu: EmulatorThread, out: Path, *target: str) -> str:
    """A thumbnail harvest of ``target`` from ``emu`` into DIR (exit 0); its stderr."""
    proc = cli(
        "harvest", "--base-url", emu.base_url, *target, "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "--no-labels", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def next_second() -> None:
    """Wait for the next second: runs of one second rank by their ids' random ends, and
    which run is DIR's newest is what the warning was about."""
    time.sleep(1.05)


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "mixed in" in line]


def test_new_targets_of_a_server_the_folder_holds_are_not_warned_about(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Demo, then fields (warned: a second server), then a new demo project: no warning,
    its images written; then a third server: warned, naming both of DIR's servers."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    assert warnings(harvest(demo, out, "--plate", "7375")) == []
    next_second()
    (warned,) = warnings(harvest(fields, out, "--plate", "3001"))
    assert f"was harvested from {demo.base_url} (its newest run," in warned, warned
    demo.reset_stats()
    next_second()  # (fields' run stays the newest: the warning was about it)
    assert warnings(harvest(demo, out, "--project", "51")) == []
    assert demo.stats()["image_requests"] == 8  # (the project's images, fetched)
    third = make_emulator(preset="demo")
    (warned,) = warnings(harvest(third, out, "--image", "9762885"))
    assert warned.startswith(
        f"WARNING harvester.problems: {out} was harvested from {demo.base_url} (its newest run, "
    ), warned
    assert warned.endswith(
        f") and {fields.base_url}; this run asks {third.base_url}: image ids are one server's, "
        "so ids done from those servers are skipped as done and the rest mixed in"
    ), warned


def only_run(out: Path, before: set[str]) -> str:
    """The run DIR gained since ``before`` (its run ids then)."""
    (run,) = {p.name for p in (out / "runs").iterdir()} - before
    return run


def copy_run(out: Path, run: str, new: str) -> None:
    """``runs/<new>/config.json``: ``run``'s saved settings, as the task of a job array
    saves its own (its run id in it)."""
    data = json.loads((out / "runs" / run / "config.json").read_text())
    data["run"] = new
    (out / "runs" / new).mkdir()
    (out / "runs" / new / "config.json").write_text(json.dumps(data))


def test_a_server_the_folder_holds_is_not_warned_about_after_a_long_array(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Fields, then demo (warned), then 120 more runs of demo (an array's tasks): a run of
    fields is not warned about (only the 100 newest runs were read: it was); a run of a
    third server is warned about naming both, and DIR records the server of each run read."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    assert warnings(harvest(fields, out, "--plate", "3001")) == []
    next_second()
    runs = {p.name for p in (out / "runs").iterdir()}
    assert len(warnings(harvest(demo, out, "--plate", "7375"))) == 1
    demo_run = only_run(out, runs)
    for n in range(120):  # (ids of a later day: newer than every run made here)
        copy_run(out, demo_run, f"29991231T{n // 60:02d}{n % 60:02d}00Z-{n:06x}")
    assert warnings(harvest(fields, out, "--plate", "3001")) == []
    third = make_emulator(preset="demo")
    (warned,) = warnings(harvest(third, out, "--image", "9762885"))
    assert f") and {fields.base_url}; this run asks {third.base_url}:" in warned, warned
    record = json.loads((out / "servers.json").read_text())["servers"]
    assert {url: len(runs) for url, runs in record.items()} == {
        demo.base_url: 121,
        fields.base_url: 1,
    }, record


def test_the_servers_record_is_checked_against_the_runs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A record naming a run that is gone does not count its server (a run of it is
    warned about), and a damaged one costs reads only: a run of a server DIR holds is
    not warned about, and the record is written again, whole."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    third = make_emulator(preset="demo")
    out = tmp_path / "d"
    assert warnings(harvest(fields, out, "--plate", "3001")) == []
    next_second()
    assert len(warnings(harvest(demo, out, "--plate", "7375"))) == 1
    gone = {"servers": {third.base_url: ["20000101T000000Z-abcdef"]}}
    (out / "servers.json").write_text(json.dumps(gone))
    (warned,) = warnings(harvest(third, out, "--image", "9762885"))
    assert f"this run asks {third.base_url}:" in warned, warned
    (out / "servers.json").write_text('{"servers": {')
    assert warnings(harvest(fields, out, "--plate", "3001")) == []
    record = json.loads((out / "servers.json").read_text())["servers"]
    assert fields.base_url in record and "20000101T000000Z-abcdef" not in str(record), record


def test_the_newest_run_named_is_said_to_be_the_newest_readable(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """DIR's newest run's settings damaged: the warning names the newest run whose
    settings can be read as that, not as DIR's newest run."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    runs: set[str] = set()
    harvest(demo, out, "--plate", "7375")
    demo_run = only_run(out, runs)
    damaged = out / "runs" / "29991231T000000Z-abcdef"
    damaged.mkdir()
    (damaged / "config.json").write_text('{"config": {"base_url": ')
    (warned,) = warnings(harvest(fields, out, "--plate", "3001"))
    assert (
        f"was harvested from {demo.base_url} (its newest run whose settings can be read, "
        f"{demo_run}); this run asks {fields.base_url}:"
    ) in warned, warned


def test_a_newer_unreadable_run_than_a_replays_place_is_said(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The newest readable run is a resume's replay, which takes its origin's place; a run
    whose settings are damaged started after that origin (before the replay): the warning
    says the replay is the newest run whose settings can be read (run ids compared as the
    runs are ordered, not the damaged id with the replay's own)."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    harvest(demo, out, "--plate", "7375")
    origin = only_run(out, set())
    damaged = out / "runs" / "29991231T000000Z-abcdef"
    damaged.mkdir()
    (damaged / "config.json").write_text('{"config": {"base_url": ')
    replay = "29991231T000001Z-abcdef"  # a resume's replay of the origin, started after
    copy_run(out, origin, replay)
    saved = out / "runs" / replay / "config.json"
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "replay_of": origin}))
    (warned,) = warnings(harvest(fields, out, "--plate", "3001"))
    assert (
        f"was harvested from {demo.base_url} (its newest run whose settings can be read, "
        f"{replay}); this run asks {fields.base_url}:"
    ) in warned, warned


def test_a_dry_run_is_warned_and_writes_no_servers_record(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A dry run of a third server into a folder of two is warned about, naming both, and
    leaves DIR without a servers.json (a dry run writes nothing)."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    harvest(fields, out, "--plate", "3001")
    next_second()
    harvest(demo, out, "--plate", "7375")
    (out / "servers.json").unlink()
    third = make_emulator(preset="demo")
    (warned,) = warnings(harvest(third, out, "--image", "9762885", "--dry-run"))
    assert f") and {fields.base_url}; this run asks {third.base_url}:" in warned, warned
    assert not (out / "servers.json").exists()


def save_a_token_in_the_only_runs_url(out: Path) -> None:
    """Make DIR's only run one saved before 0.1.13 that kept a token (``tok3n5ecret``) as
    its base URL's user, in its config alone (so no scrub rewrites it)."""
    (saved,) = (out / "runs").glob("*/config.json")
    data = json.loads(saved.read_text())
    data["config"]["base_url"] = data["config"]["base_url"].replace("://", "://tok3n5ecret@")
    saved.write_text(json.dumps(data))


def test_the_warning_never_spells_a_token_saved_in_an_old_runs_base_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run saved before 0.1.13 may keep a token as its base URL's user: the warning
    naming that run's server redacts it."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    harvest(demo, out, "--plate", "7375")
    save_a_token_in_the_only_runs_url(out)
    stderr = harvest(fields, out, "--plate", "3001")
    (warned,) = warnings(stderr)
    assert "tok3n5ecret" not in stderr
    assert "was harvested from http://REDACTED@127.0.0.1:" in warned, warned


def test_the_warning_never_spells_a_token_of_an_older_server_it_names(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The warning's list of DIR's other servers (read from runs' configs, before
    servers.json records them) never spells a token an old run saved as its URL's user."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    harvest(demo, out, "--plate", "7375")
    save_a_token_in_the_only_runs_url(out)
    next_second()
    harvest(fields, out, "--plate", "3001")
    (out / "servers.json").unlink(missing_ok=True)  # (the old run's config read again)
    third = make_emulator(preset="demo")
    stderr = harvest(third, out, "--image", "9762885")
    (warned,) = warnings(stderr)
    assert "tok3n5ecret" not in stderr
    redacted = demo.base_url.replace("://", "://REDACTED@")
    assert f") and {redacted}; this run asks {third.base_url}:" in warned, warned
    assert "tok3n5ecret" not in (out / "servers.json").read_text()


def test_a_record_nested_too_deep_to_read_is_read_as_none(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A servers.json damaged into arrays nested past Python's recursion limit was an
    "internal error" that stopped every harvest of a server DIR did not hold: it now
    costs reads alone (the warning as without it, the record written again)."""
    demo, fields = make_emulator(preset="demo"), make_emulator(preset="fields", seed=7)
    out = tmp_path / "d"
    harvest(demo, out, "--plate", "7375")
    (out / "servers.json").write_text("[" * 100_000)
    (warned,) = warnings(harvest(fields, out, "--plate", "3001"))
    assert f"was harvested from {demo.base_url} (its newest run," in warned, warned
    assert json.loads((out / "servers.json").read_text())["servers"]

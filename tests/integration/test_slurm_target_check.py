"""``harvester slurm`` checks the numeric target ids on the server before it writes the script.

A typo in ``--screen 99999 --tasks 50`` used to queue 50 tasks that each failed hours later
with "screen 99999 not found". The ids (flags and config file alike) are now checked once,
at submit time, with the harvest's own check: an unknown one is exit 2, one ``error:`` line
and a hint, no script and nothing in DIR changed. A login node that cannot reach the
server gets a note, and the script is written as before (each task checks for itself); a
server that answers but is not OMERO.web is refused. ``--ids-from`` and ``--from-plan``
targets are not asked for. Every test talks to the emulator over real sockets.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import SMALL_PLATE, refused_port, run_cli

from harvester.cli import main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.errors import NotOmeroError
from harvester.pipeline import probe_server

DEMO_SCREEN = 2302
DEMO_PROJECT = 51
DEMO_DATASET = 52
DEMO_IMAGE = 1884801  # the first image of project 51


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def task_targets(out: Path) -> list[str]:
    """The target flags and values of a task's command line in DIR/harvest.sbatch."""
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec "))
    flags = ("--screen", "--project", "--plate", "--dataset", "--image")
    return [f"{w} {words[n + 1]}" for n, w in enumerate(words) if w in flags]


@pytest.mark.parametrize(
    ("flag", "kind", "separate"),
    [
        ("--screen", "screen", " (screens and projects have separate ids)"),
        ("--project", "project", " (screens and projects have separate ids)"),
        (
            "--plate",
            "plate",
            " (plates and screens have separate ids); plates are given by "
            "id, not by name: a plate's id is in index.csv's plate_id column (beside plate_name), "
            "and in the webclient's link to it (?show=plate-ID)",
        ),
        (
            "--dataset",
            "dataset",
            " (datasets and projects have separate ids); datasets are "
            "given by id, not by name: a dataset's id is in index.csv's dataset_id column (beside "
            "dataset_name), and in the webclient's link to it (?show=dataset-ID)",
        ),
        ("--image", "image", " (images, plates and datasets have separate ids)"),
    ],
)
def test_an_unknown_id_is_refused_before_the_script_is_written(
    emulator: EmulatorThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    kind: str,
    separate: str,
) -> None:
    """Beside a known target, an unknown id: exit 2, the harvest's own words for it and a
    hint, no script, and a DIR that held a previous harvest's file is left as it was."""
    out = tmp_path / "study"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code = main(["slurm", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
                 flag, "99999", "--out", str(out), "--tasks", "50", "--submit"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 2
    assert said.err.splitlines() == [
        f"error: {kind} 99999 not found on the server",
        f"hint: check the {kind} id on {emulator.base_url}/{separate}",
    ]
    assert "wrote" not in said.out
    assert listing(out) == ["notes.txt"]


def test_known_ids_are_written_into_the_script_in_a_handful_of_requests(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every kind known: the script is written with the targets as given, and the check
    cost the server check plus one request per id (no walk, no listing)."""
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emulator.base_url, "--screen", str(DEMO_SCREEN),
                 "--project", str(DEMO_PROJECT), "--plate", str(SMALL_PLATE),
                 "--dataset", str(DEMO_DATASET), "--image", str(DEMO_IMAGE),
                 "--out", str(out), "--tasks", "4"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert "not checked here" not in said.out
    assert task_targets(out) == [
        f"--screen {DEMO_SCREEN}",
        f"--project {DEMO_PROJECT}",
        f"--plate {SMALL_PLATE}",
        f"--dataset {DEMO_DATASET}",
        f"--image {DEMO_IMAGE}",
    ]
    by_route = emulator.stats()["by_route"]
    assert len(by_route) == 1 + 5  # the API root, then each object's own JSON, once
    assert all(counts == {"200": 1} for counts in by_route.values()), by_route


def test_ids_in_the_config_file_are_checked_too(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tasks read the config file: its ids (and names) are checked as the flags' are."""
    conf = tmp_path / "study.toml"
    conf.write_text(
        f'base_url = "{emulator.base_url}"\nscreens = [{DEMO_SCREEN}]\nplates = [424242]\n'
    )
    out = tmp_path / "study"
    assert main(["slurm", str(conf), "--out", str(out), "--tasks", "2"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "error: plate 424242 not found on the server"
    assert not out.exists()
    conf.write_text(f'base_url = "{emulator.base_url}"\nscreens = ["idr0065"]\n')
    assert main(["slurm", str(conf), "--out", str(out), "--tasks", "2"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {conf}: screens 'idr0065': no screen of that name on the server"
    )
    assert not out.exists()
    conf.write_text(f'base_url = "{emulator.base_url}"\nplates = [{SMALL_PLATE}]\n')
    assert main(["slurm", str(conf), "--out", str(out), "--tasks", "2"]) == 0
    assert (out / "harvest.sbatch").is_file()
    assert emulator.stats()["by_route"]["api_plate"] == {"404": 1, "200": 1}


def test_ids_from_a_file_and_a_plan_are_not_asked_for(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ids-from`` (a file may hold millions of ids) and ``--from-plan`` (checked when it
    was made): no request at submit time, an id the server lacks included."""
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{DEMO_IMAGE}\n99999\n")
    out = tmp_path / "a"
    assert main(["slurm", "--base-url", emulator.base_url, "--ids-from", str(ids),
                 "--out", str(out), "--tasks", "2"]) == 0  # fmt: skip
    assert (out / "harvest.sbatch").is_file()
    assert emulator.stats()["requests"] == 0
    plan = tmp_path / "p"
    assert main(["plan", "--base-url", emulator.base_url, "--plate", str(SMALL_PLATE),
                 "--out", str(plan), "--quiet"]) == 0  # fmt: skip
    before = emulator.stats()["requests"]
    assert main(["slurm", "--from-plan", str(plan), "--out", str(plan), "--tasks", "2"]) == 0
    assert emulator.stats()["requests"] == before
    assert "not checked here" not in capsys.readouterr().out


def test_an_unreachable_server_is_a_note_and_the_script_is_written(tmp_path: Path) -> None:
    """A login node without the server's network (a refused connection here): one note
    saying the tasks check the targets, and the script as without the check."""
    out = tmp_path / "study"
    with refused_port() as dead:
        base_url = f"http://127.0.0.1:{dead}"
        proc = run_cli("slurm", "--base-url", base_url, "--screen", "99999",
                       "--image", str(DEMO_IMAGE), "--out", str(out), "--tasks", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stdout.splitlines() if "not checked here" in line]
    assert len(notes) == 1
    assert notes[0].startswith(f"note: targets not checked here (cannot reach {base_url}/")
    assert notes[0].endswith("); each task checks them")
    assert proc.stderr == ""
    assert task_targets(out) == ["--screen 99999", f"--image {DEMO_IMAGE}"]


def test_a_busy_server_is_not_waited_for(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server in maintenance (503): a harvest waits through its retry budget for it, the
    check at submit time asks once and leaves the targets to the tasks (which wait)."""
    emu = make_emulator(preset="demo", faults="503:100%,only:api_versions")
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN),
                 "--out", str(out), "--tasks", "2"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert f"note: targets not checked here ({emu.base_url}/ is unavailable: " in said.out
    assert emu.stats()["by_route"] == {"api_versions": {"503": 1}}
    assert (out / "harvest.sbatch").is_file()


def test_a_failing_target_check_is_asked_once(
    make_emulator: Callable[..., EmulatorThread], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server answers, but the screen's listing fails (500): one try, as the server
    check's (a harvest's retry budget held the submit 11 s), a note, the script written."""
    emu = make_emulator(preset="demo", faults="500:100%,only:/api/v0/m/screens/")
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN),
                 "--out", str(out), "--tasks", "2"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert (
        f"note: targets not checked here (HTTP 500 Internal Server Error: {emu.base_url}/api/v0"
        f"/m/screens/{DEMO_SCREEN}/); each task checks them"
    ) in said.out.splitlines()
    routes = emu.stats()["by_route"]
    assert routes.pop("api_versions") == {"200": 1}
    assert list(routes.values()) == [{"500": 1}], routes
    assert task_targets(out) == [f"--screen {DEMO_SCREEN}"]


def test_a_server_that_is_not_omero_is_refused(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A wrong path in --base-url: the server answers, but not as OMERO.web does, from every
    machine alike: refused now (exit 2), not left to the tasks; no script."""
    out = tmp_path / "study"
    proc = run_cli("slurm", "--base-url", f"{emulator.base_url}/nothere", "--screen",
                   str(DEMO_SCREEN), "--out", str(out), "--tasks", "2")  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(
        f"error: {emulator.base_url}/nothere/ does not look like an OMERO.web server"
    )
    assert lines[1].startswith("hint: check --base-url")
    assert lines[1].endswith("if only this machine gets that answer, add --no-check (each task "
                             "checks the targets)")  # fmt: skip
    assert "not checked here" not in proc.stdout
    assert not out.exists()


@pytest.mark.parametrize(
    ("userinfo", "said", "hint"),
    [
        ("", "asks for credentials", "hint: missing credentials"),
        ("ann:wrong@", "refused the credentials sent", "hint: check the user and password"),
    ],
)
def test_a_server_that_wants_other_credentials_is_refused(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    userinfo: str,
    said: str,
    hint: str,
) -> None:
    """A server behind HTTP Basic auth answering 401 (none sent, or the wrong ones) would
    refuse every task the same: refused now (exit 2, the case named, its hint), not a
    "targets not checked here" note and a script of tasks bound to fail; no script."""
    emu = make_emulator(preset="demo", basic_auth="ann:right")
    out = tmp_path / "study"
    # A password goes in a config file (harvester slurm refuses it in --base-url).
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'base_url = "{emu.base_url.replace("://", f"://{userinfo}")}"\n')
    secrets.chmod(0o600)  # its owner's alone, as the README says (else one warning line)
    proc = run_cli("slurm", str(secrets), "--screen", str(DEMO_SCREEN), "--out", str(out),
                   "--tasks", "2")  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ") and said in lines[0], lines
    assert "HTTP 401" in lines[0]
    assert lines[1].startswith(hint), lines
    assert "wrong" not in lines[0]  # the password is never shown
    assert "not checked here" not in proc.stdout
    assert not out.exists()


def test_no_check_writes_the_script_without_asking(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """A login node whose answer comes from something in between (an intercepting proxy):
    --no-check asks nothing now; the tasks check the targets, names go to them as given."""
    out = tmp_path / "study"
    emulator.reset_stats()
    proc = run_cli("slurm", "--base-url", f"{emulator.base_url}/nothere", "--screen",
                   str(DEMO_SCREEN), "--screen", "idr0056", "--out", str(out), "--tasks", "2",
                   "--no-check")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert emulator.stats()["requests"] == 0
    assert task_targets(out) == [f"--screen {DEMO_SCREEN}", "--screen idr0056"]


def test_not_omero_is_its_own_error_class(emulator: EmulatorThread) -> None:
    """Callers tell "not OMERO.web" from "cannot reach" by class, not by the message."""
    cfg = HarvestConfig(base_url=f"{emulator.base_url}/nothere")
    with pytest.raises(NotOmeroError, match="does not look like an OMERO.web server"):
        anyio.run(lambda: probe_server(cfg, quick=True))


def test_the_whole_check_from_the_command_line(emulator: EmulatorThread, tmp_path: Path) -> None:
    """``harvester slurm`` (the command line, run in the test process by cli_in_process.py)
    against the emulator: a typo refused, then the fixed command writes the script (the name
    looked up and written as its id)."""
    out = tmp_path / "study"
    common = ["--base-url", emulator.base_url, "--out", str(out), "--tasks", "50"]
    typo = run_cli("slurm", *common, "--screen", "2303")
    assert typo.returncode == 2
    assert typo.stderr.splitlines()[0] == "error: screen 2303 not found on the server"
    assert typo.stderr.splitlines()[1].startswith("hint: ")
    assert not out.exists()
    fixed = run_cli("slurm", *common, "--screen", "idr0056", "--plate", str(SMALL_PLATE))
    assert fixed.returncode == 0, fixed.stderr
    assert task_targets(out) == [f"--screen {DEMO_SCREEN}", f"--plate {SMALL_PLATE}"]

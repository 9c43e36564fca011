"""`harvester emulate` / `python -m harvester.emulator`: the serving line, clean stops, errors."""

from __future__ import annotations

import argparse
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harvester.cli.emulate import register
from harvester.emulator import spawn_emulator
from harvester.emulator.cli import SHOWN_NAME, main, targets_line


def _stop(proc: subprocess.Popen[str], signum: int) -> int:
    proc.send_signal(signum)
    return proc.wait(15)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serving_line_then_clean_stop(signum: int) -> None:
    """The process prints exactly one `serving URL` line, answers there, exits 0 on a signal."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harvester.emulator", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:")
        base_url = line.split()[1]
        assert httpx.get(f"{base_url}/__emulator__/stats", timeout=5).json()["requests"] == 0
        assert httpx.get(f"{base_url}/webclient/", timeout=5).status_code == 200
    finally:
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert rest == ""
    # stderr: what the preset serves and a command to harvest it (stdout keeps its one line)
    assert err.splitlines() == [
        "preset demo: screen 2302 'idr0056-stojic-lncrnas/screenB' (10 plates), project 51"
        " 'idr0021-lawo-pericentriolarmaterial/experimentA' (2 datasets); try: harvester"
        f" harvest --base-url {base_url} --screen 2302 --rate none --artifacts thumbnail"
        " --out demo-mirror"
    ]


@pytest.mark.parametrize(
    ("preset", "artifacts"),
    [("zstack", "stack"), ("timeseries", "stack"), ("tiled", "stack"), ("demo", "thumbnail")],
)
def test_start_line_suggests_what_the_preset_is_for(preset: str, artifacts: str) -> None:
    """The presets made for stacks suggest a stack harvest, the others thumbnails."""
    line = targets_line("http://127.0.0.1:1", preset)
    assert f" --artifacts {artifacts} --out {preset}-mirror" in line, line


def test_zstack_suggested_command_harvests_stacks(tmp_path: Path) -> None:
    """The command `harvester emulate --preset zstack` suggests, run as printed, stores the
    project's three z-stacks as OME-TIFFs (it stored thumbnails, which show no z)."""
    argv = [sys.executable, "-m", "harvester", "emulate", "--port", "0", "--preset", "zstack"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as emu:
        try:
            assert emu.stdout is not None and emu.stderr is not None
            emu.stdout.readline()
            command = emu.stderr.readline().partition("; try: ")[2]
            assert command.startswith("harvester harvest "), command
            harvest = subprocess.run(
                [sys.executable, "-m", *shlex.split(command), "-q"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            assert _stop(emu, signal.SIGTERM) == 0
    assert harvest.returncode == 0, harvest.stderr
    stacks = sorted(p.name for p in (tmp_path / "zstack-mirror").rglob("*.ome.tif"))
    assert stacks == [f"{image_id}.stack.ome.tif" for image_id in (1300001, 1300002, 1300003)]


def test_start_line_counts_one_plate_and_cuts_a_long_name() -> None:
    """A one-plate screen is "(1 plate)", not "(1 plates)"; the ``names`` preset's
    1,011-character project name is cut to its start and its length, not printed whole."""
    assert targets_line("http://127.0.0.1:1", "plate384").startswith(
        "preset plate384: screen 1201 'idr9002-emulated-384/screenA' (1 plate); try:"
    )
    line = targets_line("http://127.0.0.1:1", "names")
    cut = "project/../" + "L" * (SHOWN_NAME - len("project/../"))
    assert f"project 1951 {cut!r}... (1,011-character name, 8 datasets); try:" in line
    assert len(line) < 400


def test_spawn_reports_startup_failure() -> None:
    """spawn_emulator raises with the child's error line when the emulator cannot start."""
    with pytest.raises(RuntimeError, match="unknown preset"):
        spawn_emulator(["--preset", "nope"])


def test_faults_and_latency_flags_apply() -> None:
    """--faults and --latency-ms reach the running server."""
    proc, base_url = spawn_emulator(["--faults", "503:100%,seed:2", "--latency-ms", "5"])
    try:
        r = httpx.get(f"{base_url}/webclient/", timeout=5)
        assert r.status_code == 503
    finally:
        assert _stop(proc, signal.SIGTERM) == 0


def test_basic_auth_flag_answers_401_without_the_credentials() -> None:
    """--basic-auth USER:PASS: 401 with WWW-Authenticate: Basic without them or with wrong
    ones, the real answer with them; the control plane stays open."""
    proc, base_url = spawn_emulator(["--basic-auth", "al ice:p@ss:w"])
    try:
        bare = httpx.get(f"{base_url}/api/", timeout=5)
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"].startswith("Basic ")
        wrong = httpx.get(f"{base_url}/api/", auth=("al ice", "p@ss"), timeout=5)
        assert wrong.status_code == 401
        right = httpx.get(f"{base_url}/api/", auth=("al ice", "p@ss:w"), timeout=5)
        assert right.status_code == 200
        assert right.json()["data"][0]["version"] == "0"
        assert httpx.get(f"{base_url}/__emulator__/stats", timeout=5).status_code == 200
    finally:
        assert _stop(proc, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("auth", "userinfo"),
    [("al ice:p@ss:w", "al%20ice:p%40ss%3Aw@"), ("TOKEN:", "TOKEN@")],
    ids=["user-password", "token-as-user"],
)
def test_basic_auth_try_command_carries_the_credentials(auth: str, userinfo: str) -> None:
    """With --basic-auth, the "try:" command printed at start names the credentials
    (percent-encoded) in its --base-url: pasted as is, it gets no 401. An empty password
    (a token given as the user) is spelled TOKEN@host."""
    argv = [sys.executable, "-m", "harvester", "emulate", "--port", "0"]
    with subprocess.Popen(
        [*argv, "--basic-auth", auth],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            served = proc.stdout.readline().split()[-1]
            line = proc.stderr.readline()
        finally:
            assert _stop(proc, signal.SIGTERM) == 0
    url = served.replace("://", f"://{userinfo}")
    assert f"try: harvester harvest --base-url {url} --screen " in line, line


def _one_error_line(capsys: pytest.CaptureFixture[str], code: int, needle: str) -> None:
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--preset", "nope"], "nope"),
        (["--faults", "503:5%,bogus:1"], "bogus:1"),
        (  # a bare rate is a fraction: the 5% meant is said both ways
            ["--faults", "503:5"],
            "bad fault item '503:5': rate above 100% (a bare rate is a fraction: for 5%, "
            "write 5% or 0.05)",
        ),
        (["--faults", "first:html200*10000000000000000000000"], "more than 10000 answers"),
        (["--mode", "fast"], "fast"),
        (["--port", "70000"], "70000"),
        (["--latency-ms", "-3"], "latency"),
        (["--basic-auth", "alice"], "USER:PASS"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """Unknown preset, bad fault spec, bad mode or port: one `error:` line, exit 2."""
    _one_error_line(capsys, main(argv), needle)


def test_a_bare_rate_over_100_names_no_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    """``503:150`` is refused without the "write 150% or 1.5" a bare 5 gets: both are above
    100% too, so the line stops at what is wrong."""
    code = main(["--faults", "503:150"])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: bad fault item '503:150': rate above 100%"
    ]


def test_port_in_use_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A port already taken gives `error: cannot listen ...: address already in use`, exit 2."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        _one_error_line(capsys, main(["--port", str(port)]), "address already in use")


def test_register_adds_emulate_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """cli/emulate.register wires `emulate` with the same options and runner."""
    parser = argparse.ArgumentParser(prog="harvester")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["emulate", "--preset", "nope", "--port", "0"])
    _one_error_line(capsys, args.run(args), "nope")


def test_subprocess_error_has_no_traceback() -> None:
    """From a real process, a bad fault spec prints exactly one stderr line and exits 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "harvester.emulator", "--faults", "reset:200%"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ")


def test_harvester_emulate_subcommand_serves() -> None:
    """`python -m harvester emulate` prints the serving line and stops on SIGTERM with 0."""
    command = [sys.executable, "-m", "harvester", "emulate"]
    proc, base_url = spawn_emulator(["--port", "0"], command=command)
    try:
        assert httpx.get(f"{base_url}/webclient/", timeout=5).status_code == 200
    finally:
        assert _stop(proc, signal.SIGTERM) == 0


def test_argparse_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m harvester.emulator --port abc` gives one error line and exit 2."""
    with pytest.raises(SystemExit) as info:
        main(["--port", "abc"])
    assert info.value.code == 2
    _one_error_line(capsys, 2, "--port")


def test_a_mistyped_preset_and_a_taken_port_say_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One error line each, naming the near preset, or another --port / --port 0."""
    _one_error_line(capsys, main(["--preset", "zstak"]), "did you mean 'zstack'?")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--port", str(port)])
    _one_error_line(capsys, code, "another --port, or --port 0 for any free one")

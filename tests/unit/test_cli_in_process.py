"""The suite's in-process ``harvester`` runner (tests/cli_in_process.py) gives what a child
process gives, and leaves the test process as it found it."""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from cli_in_process import CapturedStreams, run_cli_in_process, run_cli_process

import harvester.errors
import harvester.retry
from harvester.emulator import EmulatorThread
from harvester.forgotten import FORGOTTEN_LOCK
from harvester.runlock import folder_lock

#: A command's words: ``--debug`` sets the root logger to DEBUG and prints a traceback.
_COMMANDS = (("--version",), ("status", "{empty}", "--debug"), ("status", "{empty}/missing"))


def _process_state() -> tuple[object, ...]:
    """What a child process would own and an in-process run must leave as it found it."""
    root = logging.getLogger()
    return (
        dict(os.environ),
        os.getcwd(),
        (sys.stdin, sys.stdout, sys.stderr, sys.argv),
        (root.level, list(root.handlers)),
        {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)},
        list(warnings.filters),
        (set(harvester.errors._remembered), harvester.retry.is_testing()),
        resource.getrlimit(resource.RLIMIT_NOFILE),
    )


@pytest.mark.parametrize("words", _COMMANDS, ids=lambda words: " ".join(words))
def test_in_process_gives_the_child_process_result(tmp_path: Path, words: tuple[str, ...]) -> None:
    """Exit code, standard output and standard error are those of ``python -m harvester``."""
    args = [word.format(empty=tmp_path) for word in words]
    child = run_cli_process(*args)
    inside = run_cli_in_process(*args)
    assert (inside.returncode, inside.stdout, inside.stderr) == (
        child.returncode,
        child.stdout,
        child.stderr,
    )
    assert inside.args == child.args


def test_in_process_leaves_the_test_process_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Environment, working folder, streams, logging, signals, warnings filters, the open-files
    limit and the state a run keeps for its process are the test's again after a run
    (``--debug``, another environment and folder, a secret in the URL, text on stdin)."""
    monkeypatch.setenv("HARVESTER_IN_PROCESS_PROBE", "kept")
    monkeypatch.setattr(harvester.errors, "_remembered", {"the-tests-own-secret"})
    monkeypatch.setattr(harvester.retry, "_testing", True)
    before = _process_state()
    done = run_cli_in_process(
        "harvest", "--ids-from", "-", "--base-url", "http://user:s3cret-word@127.0.0.1:9/",
        "--out", str(tmp_path / "out"), "--debug",
        stdin="1\n", env={"PATH": os.environ.get("PATH", "")}, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    assert _process_state() == before


def test_a_command_still_running_at_its_timeout_is_stopped_and_its_test_fails(
    tmp_path: Path,
) -> None:
    """A command that would wait for ever (its config file a FIFO no one writes) gets a
    Ctrl-C at its timeout, as a child is killed at its own: TimeoutExpired with what it
    said (``interrupted ...``), and the test process's Ctrl-C handler is its own again."""
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    # (should the Ctrl-C never come, a writer that closes at once ends the wait: the test
    # then fails on the words, rather than hanging the suite)
    opener = threading.Timer(60.0, lambda: os.close(os.open(fifo, os.O_WRONLY)))
    opener.daemon = True
    opener.start()
    try:
        with pytest.raises(subprocess.TimeoutExpired) as stopped:
            run_cli_in_process("harvest", str(fifo), "--out", str(tmp_path / "D"), timeout=0.5)
    finally:
        opener.cancel()
    assert str(stopped.value.stderr).startswith("interrupted"), stopped.value.stderr
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not (tmp_path / "D").exists()


def test_a_folder_lock_the_test_holds_is_another_holders_to_the_command(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Inside the test's own ``with folder_lock(DIR, forgotten.lock)``, ``forget`` waits
    for it, as a process does (stopped at its timeout here), and forgets nothing; it took
    the lock for its own (the lock is reentrant in a thread) and forgot the set. Once the
    test lets the lock go, the same command forgets it."""
    out = tmp_path / "D"
    words = ("--base-url", emulator.base_url, "--plate", "7375", "--artifacts", "thumbnail")
    assert run_cli_in_process("harvest", "--out", str(out), *words, "-q").returncode == 0
    with folder_lock(out, FORGOTTEN_LOCK), pytest.raises(subprocess.TimeoutExpired):
        run_cli_in_process("forget", str(out), "--plate", "7375", timeout=0.5)
    assert not (out / "forgotten.json").exists()
    assert run_cli_in_process("forget", str(out), "--plate", "7375").returncode == 0
    assert (out / "forgotten.json").is_file()


@pytest.mark.parametrize(
    "change",
    [{}, {"LC_ALL": "C"}, {"PYTHONIOENCODING": "utf-8:backslashreplace"}, {"PYTHONUTF8": "1"}],
    ids=["as-is", "C", "PYTHONIOENCODING", "PYTHONUTF8"],
)
def test_standard_output_takes_what_a_childs_takes(change: dict[str, str]) -> None:
    """A name of bytes that are no UTF-8 is written to standard output as a child of the
    same environment writes it (its error handler: as is, in the C.UTF-8 locale; refused,
    in a strict one), not always refused."""
    env = {**os.environ, **change}
    child = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; print(sys.stdout.errors)"],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    if change and "PYTHONIOENCODING" not in change and "PYTHONUTF8" not in change:
        assert child.stdout.strip() == "surrogateescape"  # (the C locale's, everywhere)
    assert CapturedStreams(env).stdout.errors == child.stdout.strip()

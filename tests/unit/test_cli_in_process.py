"""The suite's in-process ``harvester`` runner (tests/cli_in_process.py) gives what a child
process gives, and leaves the test process as it found it."""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import warnings
from pathlib import Path

import pytest
from cli_in_process import run_cli_in_process, run_cli_process

import harvester.errors
import harvester.retry

#: A command's words: ``--debug`` sets the root logger to DEBUG and prints a traceback.
_COMMANDS = (("--version",), ("status", "{empty}", "--debug"), ("status", "{empty}/missing"))


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
    root = logging.getLogger()
    before = (
        dict(os.environ),
        os.getcwd(),
        (sys.stdin, sys.stdout, sys.stderr, sys.argv),
        (root.level, list(root.handlers)),
        {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)},
        list(warnings.filters),
        (set(harvester.errors._remembered), harvester.retry.is_testing()),
        resource.getrlimit(resource.RLIMIT_NOFILE),
    )
    done = run_cli_in_process(
        "harvest", "--ids-from", "-", "--base-url", "http://user:s3cret-word@127.0.0.1:9/",
        "--out", str(tmp_path / "out"), "--debug",
        stdin="1\n", env={"PATH": os.environ.get("PATH", "")}, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0, done.stderr
    after = (
        dict(os.environ),
        os.getcwd(),
        (sys.stdin, sys.stdout, sys.stderr, sys.argv),
        (root.level, list(root.handlers)),
        {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)},
        list(warnings.filters),
        (set(harvester.errors._remembered), harvester.retry.is_testing()),
        resource.getrlimit(resource.RLIMIT_NOFILE),
    )
    assert after == before

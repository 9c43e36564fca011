"""A subcommand whose module fails to import (a broken or partial install).

Its commands were dropped silently (a debug log line): asking for `harvester plan`, which
the README documents, met argparse's "invalid choice". Now they say that they are
unavailable, with the import error and a hint, exit 2; the other commands work. Each
command runs as its own process, whose `sitecustomize` makes one module's import fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harvest_helpers import cli_env

from harvester.cli import SUBCOMMANDS_OF, build_parser

BROKEN = "cannot import name 'plan_targets' from 'harvester.plan' (a test's shim)"

SHIM = f'''
import sys


class _Broken:
    """Fail the import of harvester.cli.hpc, as a partial install would."""

    def find_spec(self, name, path=None, target=None):
        if name == "harvester.cli.hpc":
            raise ImportError({BROKEN!r})
        return None


sys.meta_path.insert(0, _Broken())
'''


def broken_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` with harvester.cli.hpc failing to import."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(SHIM)
    env = cli_env()
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{env['PYTHONPATH']}"
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_a_command_whose_module_fails_to_import_says_why(tmp_path: Path) -> None:
    """`plan`, `slurm --help` and `index`: exit 2, one error naming the command and the
    import error, one hint to install again; no traceback, no "invalid choice"."""
    for args in (
        ("plan", "--out", str(tmp_path / "d"), "--plate", "1"),
        ("slurm", "--help"),
        ("index", str(tmp_path)),
    ):
        proc = broken_cli(tmp_path, *args)
        assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
        error, hint = proc.stderr.splitlines()
        assert error == f"error: harvester {args[0]} is unavailable: {BROKEN}", proc.stderr
        assert hint.startswith("hint: the install is broken or incomplete: install harvester "), (
            hint
        )
        assert "pip install" in hint, hint
    assert not (tmp_path / "d").exists()


def test_the_hints_check_command_fails_as_the_command_does(tmp_path: Path) -> None:
    """The hint's `python -c 'import ...'` check, run with the same shim, fails (exit 1,
    the import error on stderr): it showed `import harvester.cli`, which succeeds whatever
    subcommand module is broken (each is imported guarded), so the check said all is well."""
    proc = broken_cli(tmp_path, "plan", "--help")
    check = re.search(r"`python -c '(import [\w.]+)'`", proc.stderr)
    assert check is not None, proc.stderr
    assert check.group(1) == "import harvester.cli.hpc", proc.stderr
    env = cli_env()
    env["PYTHONPATH"] = f"{tmp_path / 'shim'}{os.pathsep}{env['PYTHONPATH']}"
    ran = subprocess.run(
        [sys.executable, "-c", check.group(1)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 1 and BROKEN in ran.stderr, ran.stderr


def test_the_other_commands_still_work_and_help_lists_the_lost_ones(tmp_path: Path) -> None:
    """With hpc's module broken, `status` of a missing folder gives its own error and
    `harvester --help` lists `plan` as unavailable (exit 0)."""
    proc = broken_cli(tmp_path, "status", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "unavailable" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    helped = broken_cli(tmp_path, "--help")
    assert helped.returncode == 0, helped.stderr
    (plan,) = [line for line in helped.stdout.splitlines() if line.split()[:1] == ["plan"]]
    assert "(unavailable: cannot import name 'plan_targets'" in plan, helped.stdout


def test_the_commands_said_unavailable_are_those_each_module_registers() -> None:
    """SUBCOMMANDS_OF names exactly the commands the modules register (else a lost one
    would still meet "invalid choice")."""
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    registered = set(getattr(action, "choices", {}))
    assert registered == {c for commands in SUBCOMMANDS_OF.values() for c in commands}


TRUNCATED_SHIM = '''
import importlib.util
import sys


class _Damaged:
    """Load harvester.cli.hpc from a truncated copy (a disk that filled as pip wrote it),
    and fail harvester.cli.forget's import with a message of several lines, as numpy's."""

    def find_spec(self, name, path=None, target=None):
        if name == "harvester.cli.hpc":
            return importlib.util.spec_from_file_location(name, {truncated!r})
        if name == "harvester.cli.forget":
            raise ImportError("\\n\\nIMPORTANT: the import failed\\n\\nmany more lines")
        return None


sys.meta_path.insert(0, _Damaged())
'''


def test_a_module_that_is_no_python_leaves_the_other_commands_working(tmp_path: Path) -> None:
    """A truncated hpc.py (a SyntaxError, no ImportError) and a multi-line import error:
    `status` still works, `plan` and `forget` say in one line each why they are
    unavailable (exit 2), and `--help` lists them; no traceback."""
    truncated = tmp_path / "hpc.py"
    truncated.write_text('"""Cut short."""\n\ndef register(subparsers):\n    if (\n')
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(TRUNCATED_SHIM.format(truncated=str(truncated)))
    env = cli_env()
    env["PYTHONPATH"] = f"{shim}{os.pathsep}{env['PYTHONPATH']}"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harvester", *args],
            capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60,
            check=False,
        )  # fmt: skip

    status = run("status", str(tmp_path / "nowhere"))
    assert status.returncode == 2 and status.stderr.startswith("error: "), status.stderr
    assert "Traceback" not in status.stderr and "unavailable" not in status.stderr
    plan = run("plan", "--out", str(tmp_path / "d"), "--plate", "1")
    assert plan.returncode == 2 and "Traceback" not in plan.stderr, plan.stderr
    error, _hint = plan.stderr.splitlines()
    assert error.startswith("error: harvester plan is unavailable: SyntaxError: "), error
    forget = run("forget", str(tmp_path))
    error, _hint = forget.stderr.splitlines()
    assert error == "error: harvester forget is unavailable: IMPORTANT: the import failed"
    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    assert "(unavailable: SyntaxError: " in " ".join(helped.stdout.split()), helped.stdout

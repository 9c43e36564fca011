"""The ``harvester`` process ends without the interpreter's teardown, losing nothing.

``main`` ends a command run from a shell with ``os._exit`` once the outcome is known (the
teardown of every module and object costs tens of milliseconds after a large harvest). What
the teardown would have done for the user must still happen: buffered output reaches its
reader in full, exit handlers run (``logging`` flushes there; ``weakref.finalize`` removes
temporary folders there), and the exit code is the command's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from harvester.cli import main

CHILD = textwrap.dedent(
    """
    import atexit, sys, tempfile
    from harvester.cli import main

    marker, missing = sys.argv[1], sys.argv[2]
    atexit.register(lambda: open(marker, "w").write("exit handlers ran"))
    left_over = tempfile.TemporaryDirectory()  # removed by a weakref.finalize at exit
    print(left_over.name)
    sys.stdout.write("x" * 1_000_000)  # buffered, not flushed: more than any pipe holds
    sys.argv = ["harvester", "status", missing]
    sys.exit(main())
    """
)


def test_a_command_ends_with_its_code_its_output_whole_and_its_exit_handlers_run(
    tmp_path: Path,
) -> None:
    """A command ends with its exit code, its output whole and its exit handlers run."""
    marker = tmp_path / "marker.txt"
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(marker), str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    first, rest = result.stdout.split("\n", 1)
    assert rest == "x" * 1_000_000
    assert marker.read_text() == "exit handlers ran"
    assert not Path(first).exists()


def test_an_in_process_caller_gets_the_code_back(tmp_path: Path) -> None:
    """Only a process started as ``harvester`` ends itself: a caller of ``main(argv)``
    (a script, a notebook, this test run) gets the exit code and goes on."""
    assert main(["status", str(tmp_path / "missing")]) == 2

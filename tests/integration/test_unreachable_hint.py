"""Nothing answers: the hint says what to check for this URL, not always "check --base-url"."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_a_local_port_nobody_listens_on_names_the_emulator(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "harvester", "harvest", "--base-url", f"http://127.0.0.1:{port}",
         "--screen", "2302", "--out", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"error: cannot reach http://127.0.0.1:{port}/: cannot connect")
    assert lines[1] == (
        f"hint: nothing answers on this machine's port {port}: start the server there (the "
        f"emulator: harvester emulate --port {port}), or check --base-url"
    )
    assert not (tmp_path / "d").exists()

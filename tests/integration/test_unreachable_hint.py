"""Nothing answers: the hint says what to check for this URL, not always "check --base-url"."""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import refused_port, run_cli


def test_a_local_port_nobody_listens_on_names_the_emulator(tmp_path: Path) -> None:
    """A local port nobody listens on is exit 2 with a hint to start the emulator there."""
    with refused_port() as port:
        proc = run_cli("harvest", "--base-url", f"http://127.0.0.1:{port}", "--screen", "2302",
                       "--out", str(tmp_path / "d"))  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"error: cannot reach http://127.0.0.1:{port}/: cannot connect")
    assert lines[1] == (
        f"hint: nothing answers on this machine's port {port}: start the server there (the "
        f"emulator: harvester emulate --port {port}), or check --base-url"
    )
    assert not (tmp_path / "d").exists()

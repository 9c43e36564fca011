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


def test_a_local_port_under_a_path_names_the_emulator_with_that_prefix(tmp_path: Path) -> None:
    """OMERO.web under a path on a local port nobody listens on: the emulator's command
    given serves that path (``--prefix /omero``), which the bare one answered with 404s."""
    with refused_port() as port:
        proc = run_cli("harvest", "--base-url", f"http://127.0.0.1:{port}/omero/", "--screen",
                       "2302", "--out", str(tmp_path / "d"))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1] == (
        f"hint: nothing answers on this machine's port {port}: start the server there (the "
        f"emulator: harvester emulate --port {port} --prefix /omero), or check --base-url"
    )
    assert not (tmp_path / "d").exists()

"""The rerun command a harvest prints names only its base URL as ``URL``: another word that
looks like it holds a credential (an ``--ids-from`` file named ``ids?token=...``) is a path,
printed as given, so that the command pasted back reads the same file."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.app import App


def test_an_ids_file_named_with_a_token_is_kept_in_the_rerun_command(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run of a private server (?bsession=) reading ids from ``ids?token=K3Y`` fails an
    unknown id (exit 1): its rerun command says ``--base-url URL`` with the server in its
    note and the ids file by its name; pasted back with the key, it reads that file again."""
    emu = make_emulator(preset="demo")
    app = emu.app
    assert isinstance(app, App)
    app.site.session_key = "key-0"
    ids = tmp_path / "ids?token=K3Y"
    ids.write_text("1884807\n1884808\n999999999\n", encoding="utf-8")
    out = tmp_path / "out"
    url = f"{emu.base_url}/?bsession=key-0"
    proc = run_cli(
        "harvest", "--base-url", url, "--ids-from", str(ids), "--artifacts", "metadata",
        "--out", str(out), "--rate", "none", "--no-labels",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.splitlines()[-1]
    command, _, note = last.partition(": harvester ")[2].partition("  # ")
    assert command.startswith(f"harvest --base-url URL --ids-from {shlex.quote(str(ids))} "), last
    assert note == f"URL: {emu.base_url}/ with its user or session again", last
    assert "key-0" not in proc.stderr
    assert len(list((out / "images").rglob("*.json"))) == 2

    again = run_cli(*shlex.split(command.replace("URL", url)))
    assert again.returncode == 1, again.stderr  # the unknown id, asked again
    assert "error:" not in again.stderr, again.stderr  # (a file named URL: not found, exit 2)
    assert "failed: metadata of image 999999999: HTTP 404" in again.stderr, again.stderr

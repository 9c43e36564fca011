"""status's "not asked for any more" hint, one command per target set: a set whose run
sent credentials in its ``--base-url`` (never saved) was printed with the redacted URL,
which fails pasted back (the server is asked with ``REDACTED`` as its session). It now
says ``--base-url URL`` and what URL must hold, as every other printed resume command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen
IMAGE = 9762957  # the first image of SMALL_PLATE


def test_a_credentialed_sets_command_says_url_not_the_redacted_one(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "two"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGE}\n")
    url = f"{emu.base_url}/?bsession=SECRET7"
    base = ("--base-url", url, "--out", str(out), "--rate", "none", "-q")
    assert run_cli("harvest", *base, "--ids-from", str(ids)).returncode == 1
    kept = run_cli("harvest", *base, "--ids-from", str(ids), "--artifacts", "thumbnail,metadata")
    assert kept.returncode == 0, kept.stderr
    other = run_cli("harvest", *base, "--plate", str(OTHER_PLATE), "--artifacts", "thumbnail")
    assert other.returncode == 0, other.stderr

    data = json.loads(run_cli("status", str(out), "--json").stdout)
    (command,) = data["not_asked_commands"]
    assert "REDACTED" not in command.partition(" (URL: ")[0], command
    assert f"--base-url URL --ids-from {ids}" in command, command
    assert command.endswith(
        "--artifacts thumbnail,imgdata,render,metadata (URL: "
        f"{emu.base_url}/ with its user or session again)"
    ), command
    assert "SECRET7" not in command
    text = run_cli("status", str(out)).stdout
    assert command in text, text

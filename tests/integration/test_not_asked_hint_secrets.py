"""status's "not asked for any more" hint, one command per target set: a set whose run
sent credentials in its ``--base-url`` (never saved) was printed with the saved URL, which
pasted back asks the server without them. It now says ``--base-url URL`` and what URL must
hold, as every other printed resume command. A split's set was its newest run's one shard
(or, alone, a resume, which does not replay a split): it now names every shard.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, cli_env, run_cli

from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen
IMAGE = 9762957  # the first image of SMALL_PLATE


def in_bash(command: str) -> subprocess.CompletedProcess[str]:
    """Run a printed command literally, ``harvester`` being this very package."""
    script = f'harvester() {{ "{sys.executable}" -m harvester "$@"; }}\n{command} -q\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env=cli_env(), timeout=120, check=False)  # fmt: skip


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


def test_a_split_sets_command_runs_every_shard(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A split set's command was its newest run's flags, ``--shard 1/2`` included: it tried
    again the dropped kinds of that shard's images alone. It now names every shard."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "split"
    base = ("--base-url", emu.base_url, "--out", str(out), "--rate", "none", "-q")
    for kinds in ("thumbnail,imgdata,render,metadata", "thumbnail,metadata"):
        for shard in ("0/2", "1/2"):
            ran = run_cli("harvest", *base, "--plate", str(SMALL_PLATE), "--shard", shard,
                          "--artifacts", kinds)  # fmt: skip
            assert ran.returncode in (0, 1), ran.stderr
    other = run_cli("harvest", *base, "--plate", str(OTHER_PLATE), "--artifacts", "thumbnail")
    assert other.returncode == 0, other.stderr

    before = json.loads(run_cli("status", str(out), "--json").stdout)
    assert before["not_asked"] == {"imgdata": 8, "render": 8}
    (command,) = before["not_asked_commands"]
    head = f"harvester harvest --out {out} --base-url {emu.base_url} --plate {SMALL_PLATE}"
    widened = "--rate none --artifacts thumbnail,imgdata,render,metadata"
    assert command == f"{head} --shard 0/2 {widened}; {head} --shard 1/2 {widened}", command
    followed = in_bash(command)
    assert followed.returncode == 1, followed.stderr  # (still migrated: they fail again)
    after = json.loads(run_cli("status", str(out), "--json").stdout)
    assert "not_asked" not in after
    assert after["kinds"]["render"]["failed"] == 8, after["kinds"]


def test_a_lone_split_set_gets_its_shards_commands_not_a_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With one set, the hint was ``--out DIR --artifacts ...``: a resume, which does not
    replay a split's set (it said ``nothing to resume``). It is the shards' commands, the
    kinds widened."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "lone"
    base = ("--base-url", emu.base_url, "--out", str(out), "--rate", "none", "-q")
    for kinds in ("thumbnail,imgdata,render,metadata", "thumbnail,metadata"):
        for shard in ("0/2", "1/2"):
            ran = run_cli("harvest", *base, "--plate", str(SMALL_PLATE), "--shard", shard,
                          "--artifacts", kinds)  # fmt: skip
            assert ran.returncode in (0, 1), ran.stderr

    (command,) = json.loads(run_cli("status", str(out), "--json").stdout)["not_asked_commands"]
    assert "--shard 0/2" in command and "--shard 1/2" in command, command
    followed = in_bash(command)
    assert followed.returncode == 1, followed.stderr  # (tried: still migrated, they fail)
    after = json.loads(run_cli("status", str(out), "--json").stdout)
    assert "not_asked" not in after
    assert after["kinds"]["render"]["failed"] == 8, after["kinds"]

"""Two traps in how a folder's "newest run" and its kinds evolve (found by a review).

1. ``harvest --out DIR`` replays DIR's target sets newest first, so the oldest set's replay
   started last: after a resume that did work, it was DIR's newest run, and a new target
   took that old set's kinds (and server), status's fallback too, and the next resume
   replayed the sets in the other order. A replay now takes the place of the run it replays.
2. ``status``'s "not asked for any more" hint was ``harvest --out DIR --artifacts <the
   dropped kinds>``: a resume replays every set with the kinds given, and they stay the
   sets' kinds, so following it stopped thumbnails and metadata for new images for good.
   The hint now names each set's kinds and the dropped ones (one command per set when the
   sets differ). Every test talks to the emulator over real sockets.
3. That per-set command was the set's newest run's flags: a run whose ``--base-url`` held
   credentials (never saved) got the saved URL, which asks the server without them, and a
   split's set the newest run's one shard (alone: a resume, which does not replay a split).
   It says ``--base-url URL`` with what URL must hold, and names every shard.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, cli_env, kind_files, run_cli, status_json

from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen (8 images)
IMAGE = 9762957  # the first image of SMALL_PLATE
NEW_IMAGE = 1884801  # an image of the demo project, in no plate above


def hint_commands(out: Path) -> list[str]:
    """The commands of status's "not asked for any more" line, as printed."""
    lines = run_cli("status", str(out)).stdout.splitlines()
    at = next(n for n, x in enumerate(lines) if x.startswith("failed before, not asked"))
    line = lines[at]
    if line.endswith(", one command per target set holding them:"):  # (then a line each)
        return [x[2:] for x in lines[at + 1 :] if x.startswith("  harvester ")]
    found = re.search(r"to try them again: (.*)$", line)
    assert found is not None, line
    return found.group(1).split("; ")


def in_bash(command: str) -> subprocess.CompletedProcess[str]:
    """Run a printed command literally (a note after it is a shell comment), ``harvester``
    being this very package, quiet."""
    script = f'harvester() {{ "{sys.executable}" -m harvester "$@" -q; }}\n{command}\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env=cli_env(), timeout=120, check=False)  # fmt: skip


def test_a_resume_that_did_work_leaves_the_newest_set_newest(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A resume that did work keeps the newest target set newest, for new targets and replays."""
    out = tmp_path / "d"
    for plate, kinds in ((SMALL_PLATE, "thumbnail"), (OTHER_PLATE, "metadata")):
        ran = run_cli("harvest", "--base-url", emulator.base_url, "--out", str(out), "--plate",
                      str(plate), "--artifacts", kinds, "--rate", "none", "-q")  # fmt: skip
        assert ran.returncode == 0, ran.stderr
    # The older set has work left: a damaged thumbnail that verify marks bad.
    thumb = kind_files(out, "thumbnail")[0]
    thumb.write_bytes(b"not a jpeg")
    assert run_cli("verify", str(out)).returncode == 1  # the damaged thumbnail
    resumed = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert "target set 1 of 2" in resumed.stderr and thumb.read_bytes() != b"not a jpeg"

    # A new target takes the newest set's kinds (metadata), not the older set's, replayed
    # last.
    dry = run_cli("harvest", "--out", str(out), "--image", str(NEW_IMAGE), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "fetching --artifacts metadata, the kinds" in dry.stderr, dry.stderr

    # The next resume replays the sets in the same order: the newest set first.
    again = run_cli("harvest", "--out", str(out), "--rate", "none", "--dry-run")
    assert again.returncode == 0, again.stderr
    first = next(x for x in again.stderr.splitlines() if "(target set 1 of 2)" in x)
    assert f"--plate {OTHER_PLATE}" in first and "--artifacts metadata" in first, first

    added = run_cli("harvest", "--out", str(out), "--image", str(NEW_IMAGE), "-q")
    assert added.returncode == 0, added.stderr
    assert len(kind_files(out, "metadata")) == 9 and len(kind_files(out, "thumbnail")) == 8


def test_following_the_not_asked_hint_keeps_the_sets_kinds(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Following the not-asked hint keeps the set's kinds: later resumes still fetch them."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "mg"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGE}\n")
    first = run_cli("harvest", "--base-url", emu.base_url, "--out", str(out), "--ids-from",
                    str(ids), "--rate", "none", "-q")  # fmt: skip
    assert first.returncode == 1  # imgdata and render fail on a migrated server
    dropped = run_cli("harvest", "--out", str(out), "--artifacts", "thumbnail,metadata", "-q")
    assert dropped.returncode == 0, dropped.stderr

    (command,) = hint_commands(out)
    assert command == f"harvester harvest --out {out} --artifacts thumbnail,imgdata,render,metadata"
    followed = in_bash(command)
    assert followed.returncode == 1, followed.stderr  # (they fail again: still migrated)

    # A new image of the set gets its thumbnail and metadata on the next resume.
    ids.write_text(f"{IMAGE}\n{NEW_IMAGE}\n")
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 1, resumed.stderr
    assert len(kind_files(out, "thumbnail")) == 2 and len(kind_files(out, "metadata")) == 2


def two_sets(out: Path, ids: Path, base_url: str) -> None:
    """An ids file's set whose render and imgdata failed, then dropped, and a plate's set
    of thumbnails: sets of other kinds, the first holding failures no run asks for."""
    ids.write_text(f"{IMAGE}\n")
    base = ("--base-url", base_url, "--out", str(out), "--rate", "none", "-q")
    assert run_cli("harvest", *base, "--ids-from", str(ids)).returncode == 1
    kept = run_cli("harvest", *base, "--ids-from", str(ids), "--artifacts", "thumbnail,metadata")
    assert kept.returncode == 0, kept.stderr
    other = run_cli("harvest", *base, "--plate", str(OTHER_PLATE), "--artifacts", "thumbnail")
    assert other.returncode == 0, other.stderr


def test_sets_of_other_kinds_get_one_command_each_and_keep_theirs(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Of two target sets, only the one with kinds not asked gets a command; each keeps its own."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "two"
    ids = tmp_path / "ids.txt"
    two_sets(out, ids, emu.base_url)

    (command,) = hint_commands(out)  # the ids' set alone holds them
    assert f"--ids-from {ids}" in command and "--plate" not in command, command
    assert command.endswith("--artifacts thumbnail,imgdata,render,metadata"), command
    assert json.loads(run_cli("status", str(out), "--json").stdout)["not_asked_commands"] == [
        command
    ]
    followed = in_bash(command)
    assert followed.returncode == 1, followed.stderr

    # The plate's set still fetches thumbnails only (no metadata for its 8 images); the
    # ids' set its thumbnails and metadata, for a new image too.
    ids.write_text(f"{IMAGE}\n{NEW_IMAGE}\n")
    resumed = run_cli("harvest", "--out", str(out), "-q")
    assert resumed.returncode == 1, resumed.stderr
    assert len(kind_files(out, "thumbnail")) == 10
    assert [p.name for p in kind_files(out, "metadata")] == [
        f"{NEW_IMAGE}.metadata.json",
        f"{IMAGE}.metadata.json",
    ]


def test_a_credentialed_sets_command_says_url_not_the_saved_one(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A set harvested with credentials gets a command saying URL, never the saved secret."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "two"
    ids = tmp_path / "ids.txt"
    two_sets(out, ids, f"{emu.base_url}/?bsession=SECRET7")

    (command,) = status_json(out)["not_asked_commands"]
    assert f"--base-url URL --ids-from {ids}" in command, command
    assert command.endswith(
        "--artifacts thumbnail,imgdata,render,metadata  # URL: "
        f"{emu.base_url}/ with its user or session again"
    ), command
    assert "SECRET7" not in command and command in run_cli("status", str(out)).stdout


def split_set(out: Path, base_url: str) -> None:
    """SMALL_PLATE split in two, all kinds (render and imgdata fail), then without those."""
    base = ("--base-url", base_url, "--out", str(out), "--rate", "none", "-q")
    for kinds in ("thumbnail,imgdata,render,metadata", "thumbnail,metadata"):
        for shard in ("0/2", "1/2"):
            ran = run_cli("harvest", *base, "--plate", str(SMALL_PLATE), "--shard", shard,
                          "--artifacts", kinds)  # fmt: skip
            # 1: render and imgdata fail on the migrated server; 0: the others all come.
            assert ran.returncode == (1 if "render" in kinds else 0), ran.stderr


def follow_split_hint(out: Path) -> None:
    """The one command of the hint, run: every shard's dropped kinds are tried (and fail
    again, the server still migrated), counted as failed, none left not asked."""
    (command,) = status_json(out)["not_asked_commands"]
    assert "--shard 0/2" in command and "--shard 1/2" in command, command
    assert in_bash(command).returncode == 1
    after = status_json(out)
    assert "not_asked" not in after
    assert after["kinds"]["render"]["failed"] == 8, after["kinds"]


def test_a_split_sets_command_runs_every_shard(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A split set's not-asked command runs every shard, beside another target set."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "split"
    split_set(out, emu.base_url)
    other = run_cli("harvest", "--base-url", emu.base_url, "--out", str(out), "--plate",
                    str(OTHER_PLATE), "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert status_json(out)["not_asked"] == {"imgdata": 8, "render": 8}
    (command,) = status_json(out)["not_asked_commands"]
    head = f"harvester harvest --out {out} --base-url {emu.base_url} --plate {SMALL_PLATE}"
    widened = "--rate none --artifacts thumbnail,imgdata,render,metadata"
    assert command == f"{head} --shard 0/2 {widened}; {head} --shard 1/2 {widened}", command
    follow_split_hint(out)


def test_a_lone_split_set_gets_its_shards_commands_not_a_resume(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A lone split set gets its shards' commands to try the kinds not asked, not a resume."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "lone"
    split_set(out, emu.base_url)
    follow_split_hint(out)


def test_a_lone_credentialed_set_gets_its_command_with_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """With one set, the hint was a resume given ``--artifacts``, which does not replay a
    set whose URL's credentials it is not given (it said ``nothing to resume``)."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "one"
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{IMAGE}\n")
    url = f"{emu.base_url}/?bsession=SECRET7"
    base = ("--base-url", url, "--out", str(out), "--ids-from", str(ids), "--rate", "none", "-q")
    assert run_cli("harvest", *base).returncode == 1
    assert run_cli("harvest", *base, "--artifacts", "thumbnail,metadata").returncode == 0

    (command,) = status_json(out)["not_asked_commands"]
    assert command == (
        f"harvester harvest --out {out} --base-url URL --ids-from {ids} --rate none "
        f"--artifacts thumbnail,imgdata,render,metadata  # URL: {emu.base_url}/ with its user "
        "or session again"
    )
    filled = command.replace(" URL ", f" {shlex.quote(url)} ", 1)  # (the note: a comment)
    assert in_bash(filled).returncode == 1  # (tried again: still migrated, they fail)
    assert "not_asked" not in status_json(out)

"""A folder whose ``runs/`` was removed (taken for logs, left out of a copy) still says how
to resume it.

``harvester harvest --out DIR`` replays the settings runs saved in ``runs/``; with none
left it said only "nothing to harvest" and to name a target, and a run then given the
targets but no ``--base-url`` asked IDR and fetched the default kinds. The journals keep
each walk's targets and each run's command line: the hint now gives the command with the
targets, the kinds the journals hold and the server the run named. Every command runs as
``harvester ARGS`` (in the test process, tests/cli_in_process.py; those run from a working
folder of their own: ``python -m harvester`` processes there) against the emulator over
real sockets.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from harvest_helpers import cli_env, kind_files
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread


def _harvested_without_runs(tmp_path: Path, emulator: EmulatorThread) -> Path:
    """DIR after a harvest of plate 7375's thumbnails, its runs/ removed by hand."""
    out = tmp_path / "d"
    first = cli(
        "harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
        "--artifacts", "thumbnail", "--rate", "none", "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    shutil.rmtree(out / "runs")
    return out


def test_a_folder_without_runs_hints_the_command_its_journals_name(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`rm -r DIR/runs`, then `harvest --out DIR`: exit 2 with a hint naming `--plate 7375
    --artifacts thumbnail --base-url URL`; that command, run as printed, asks for no image
    (everything is done) and fetches no other kind."""
    out = _harvested_without_runs(tmp_path, emulator)

    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    command = (
        f"harvester harvest --out {out} --plate 7375 --artifacts thumbnail --base-url "
        f"{emulator.base_url}"
    )
    assert proc.stderr.splitlines() == [
        "error: nothing to harvest",
        f"hint: no run of {out} saved readable settings in {out / 'runs'} (removed or "
        f"damaged?), but its journals name what its newest walk harvested: {command}",
    ]
    emulator.reset_stats()
    again = cli(*shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["image_requests"] == 0
    assert len(kind_files(out, "thumbnail")) == 8
    assert kind_files(out, "render") == [] and kind_files(out, "imgdata") == []


def _cli_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` run from the folder ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args], cwd=cwd, capture_output=True, text=True,
        env=cli_env(), stdin=subprocess.DEVNULL, timeout=120, check=False,
    )  # fmt: skip


def test_the_hint_names_a_relative_config_file_by_its_absolute_path(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run given `cfgs/e.toml` from one folder, then `rm -r DIR/runs` and `harvest --out
    DIR` from another: the hint names the config by its absolute path, and that command run
    from the other folder resumes (exit 0, no image asked again). A journal from before,
    holding the path as typed, gets the command with a word on where it is relative to."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    (home / "cfgs").mkdir(parents=True)
    elsewhere.mkdir()
    config = home / "cfgs" / "e.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\nrate = 1000.0\n')
    out = tmp_path / "d"
    first = _cli_in(home, "harvest", "cfgs/e.toml", "--plate", "7375", "--out", str(out),
                    "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert first.returncode == 0, first.stderr
    shutil.rmtree(out / "runs")

    proc = _cli_in(elsewhere, "harvest", "--out", str(out))
    assert proc.returncode == 2
    command = f"harvester harvest {config} --out {out} --plate 7375 --artifacts thumbnail"
    assert proc.stderr.splitlines()[-1].endswith(f"newest walk harvested: {command}")
    emulator.reset_stats()
    again = _cli_in(elsewhere, *shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["image_requests"] == 0

    shutil.rmtree(out / "runs")  # (the resume saved its own)
    for journal in (out / "journals").glob("*.jsonl"):  # (as a run before this recorded it)
        journal.write_text(journal.read_text().replace(f'"{config}"', '"cfgs/e.toml"'))
    old = _cli_in(elsewhere, "harvest", "--out", str(out))
    assert old.stderr.splitlines()[-1].endswith(
        f"harvester harvest cfgs/e.toml --out {out} --plate 7375 --artifacts thumbnail"
        "  # cfgs/e.toml: from the folder that run was started in"
    )


def test_the_hint_names_a_config_file_typed_after_flags(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvest --plate 7375 --out DIR e.toml` (the config file after the flags, as argparse
    takes it), then `rm -r DIR/runs`: the hint names the config file too (it gave the server),
    and that command resumes."""
    config = tmp_path / "e.toml"
    config.write_text(f'base_url = "{emulator.base_url}"\nrate = 1000.0\n')
    out = tmp_path / "d"
    first = cli("harvest", "--plate", "7375", "--out", str(out), str(config),
                "--artifacts", "thumbnail", "-q")  # fmt: skip
    assert first.returncode == 0, first.stderr
    shutil.rmtree(out / "runs")
    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    command = f"harvester harvest {config} --out {out} --plate 7375 --artifacts thumbnail"
    assert proc.stderr.splitlines()[-1].endswith(f"newest walk harvested: {command}"), proc.stderr
    emulator.reset_stats()
    again = cli(*shlex.split(command)[1:])
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["image_requests"] == 0


def test_the_hint_withholds_a_query_value_an_older_version_journaled(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run record of a version before 0.1.12 spells out a base-URL query value whose name
    did not look secret (``?sid=``): with runs/ removed, the hint says URL in its place."""
    import json

    out = _harvested_without_runs(tmp_path, emulator)
    (journal,) = (out / "journals").glob("*.jsonl")
    lines = journal.read_text().splitlines()
    record = json.loads(lines[0])
    assert record["rec"] == "run"
    record["argv"][2] = f"{emulator.base_url}?sid=s3cr3tvalue"
    journal.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")

    proc = cli("harvest", "--out", str(out))
    assert proc.returncode == 2
    assert "s3cr3tvalue" not in proc.stderr
    assert proc.stderr.splitlines()[-1].endswith("--artifacts thumbnail --base-url URL")

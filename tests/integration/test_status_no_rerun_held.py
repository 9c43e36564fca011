"""``harvester status``'s closing "a rerun would get the same answers" line while DIR is held.

In a plain folder (no ``harvester slurm`` script) whose failures no rerun fixes, status
closes with ``...; this folder resumes with: harvester harvest --out DIR``. While a harvest
holds DIR's run lock, that command is refused (exit 75), yet the line offered it as if DIR
were free. Each command runs as ``harvester ARGS`` (in the test process,
tests/cli_in_process.py) against the emulator over real sockets; the lock is held by another
process as a running harvest (or ``harvester forget``) holds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import SMALL_PLATE, run_cli, run_lock_held

from harvester.emulator import EmulatorThread

HINT = (
    "hint: this server serves 96 px thumbnails only: use --thumbnail-size 96 "
    "(the same --out takes it while it holds no thumbnail of another size)"
)
SAME = "a rerun would get the same answers for these failures: follow the hint above; "


def _refused_thumbnails(base_url: str, out: Path) -> None:
    """Harvest 400 px thumbnails from IDR as of 2026 (96 px only): every failure is one a
    rerun gets again, nothing pending."""
    proc = run_cli(
        "harvest", "--base-url", base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--artifacts", "thumbnail", "--thumbnail-size", "400", "--rate", "none", "--no-labels",
        "-q",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr


def test_a_running_harvest_holds_back_the_no_rerun_lines_resume_command(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While a harvest holds a plain folder, the no-rerun line gives its resume command for
    once the running harvests have ended (the lock refuses it now, exit 75); freed, the
    line is as before, and --json's resume is the same command both times."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "t"
    _refused_thumbnails(emu.base_url, out)
    resume = f"harvester harvest --out {out}"
    with run_lock_held(out, None):
        shown = run_cli("status", str(out))
        as_json = run_cli("status", str(out), "--json")
        refused = run_cli("harvest", "--out", str(out), "--rate", "none", "-q")
    assert refused.returncode == 75, refused.stderr
    assert shown.returncode == 0 and as_json.returncode == 0, shown.stderr + as_json.stderr
    lines = shown.stdout.splitlines()
    assert lines[-2:] == [
        HINT,
        f"{SAME}this folder resumes, once the running harvests have ended, with: {resume}",
    ], lines
    assert any(x.startswith("running now: ") for x in lines), lines
    assert not any(x.endswith(f"resumes with: {resume}") for x in lines), lines
    data = json.loads(as_json.stdout)
    assert (data["resume"], len(data["running"])) == (resume, 1), data

    freed = run_cli("status", str(out))
    assert freed.returncode == 0, freed.stderr
    assert freed.stdout.splitlines()[-2:] == [HINT, f"{SAME}this folder resumes with: {resume}"]
    data = json.loads(run_cli("status", str(out), "--json").stdout)
    assert (data["resume"], "running" in data) == (resume, False), data


def test_forget_holding_the_folder_is_named_on_the_no_rerun_line(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """While harvester forget holds a plain folder, the no-rerun line waits for that
    command's end, named as no harvest (as the plain resume line does)."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "t"
    _refused_thumbnails(emu.base_url, out)
    with run_lock_held(out, None, doing="harvester forget"):
        shown = run_cli("status", str(out))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[-1] == (
        f"{SAME}this folder resumes, once the command holding the folder now (named above: it "
        f"harvests nothing) has ended, with: harvester harvest --out {out}"
    ), lines
    assert any(x.startswith("running now: harvester forget (pid ") for x in lines), lines

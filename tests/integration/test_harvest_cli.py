"""The CLI end to end: harvest, status, verify, demo, ``python -m harvester``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from demo_helpers import DemoRun
from harvest_helpers import DEMO_IMAGES, Reference, start_cli

from harvester.cli import main
from harvester.emulator import EmulatorThread


def test_harvest_command_exit_0_and_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvester harvest` prints the summary and where the index is; exit 0."""
    out = tmp_path / "h"
    code = main(
        ["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
         "--rate", "none", "--artifacts", "thumbnail,metadata", "--no-labels"]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "done 16 (metadata 8, thumbnail 8)" in captured.out
    assert "requests" in captured.out and "retries" in captured.out
    assert f"index: {out / 'index.csv'} (8 rows)" in captured.out


def test_in_process_main_records_its_own_words(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    emulator: EmulatorThread,
) -> None:
    """main(argv) called from Python records and prints argv, not the calling program's
    sys.argv (a notebook's or a test runner's own flags in the run's record)."""
    monkeypatch.setattr("sys.argv", ["jupyter-kernel", "--ip", "127.0.0.1"])
    out = tmp_path / "h"
    words = ["harvest", "--base-url", emulator.base_url, "--plate", "7375", "--out", str(out),
             "--rate", "none", "--artifacts", "thumbnail", "--no-labels", "--quiet"]  # fmt: skip
    assert main(words) == 0, capsys.readouterr().err
    (saved,) = (out / "runs").glob("*/config.json")
    assert json.loads(saved.read_text())["argv"] == words
    assert main(["plan", "--base-url", emulator.base_url, "--plate", "7375", "--out",
                 str(tmp_path / "p"), "--rate", "none", "--quiet"]) == 0  # fmt: skip
    (journal,) = (tmp_path / "p" / "journals").glob("*.jsonl")
    (run,) = [r for r in map(json.loads, journal.read_text().splitlines()) if r["rec"] == "run"]
    assert run["argv"][:3] == ["plan", "--base-url", emulator.base_url]


def test_status_and_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, reference: Reference
) -> None:
    """status reports done per kind; verify finds a damaged file; a rerun refetches exactly it."""
    out = tmp_path / "copy"
    shutil.copytree(reference.out, out)
    assert main(["status", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["done"] >= DEMO_IMAGES * 4
    assert report["totals"]["failed"] == 0
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    victim = next((out / "images").rglob("*.render.jpg"))
    victim.write_bytes(victim.read_bytes()[:100])
    assert main(["verify", str(out)]) == 1
    assert victim.name in capsys.readouterr().out
    with EmulatorThread(preset="demo") as emu:
        code = main(
            ["harvest", "--base-url", emu.base_url, "--screen", "2302", "--project", "51",
             "--out", str(out), "--rate", "none", "--quiet"]
        )  # fmt: skip
        assert emu.stats()["image_requests"] == 1
    assert code == 0
    assert victim.read_bytes() == (reference.out / victim.relative_to(out)).read_bytes()


def test_demo_command(demo_run: DemoRun) -> None:
    """`harvester demo` starts the emulator, harvests the demo screen, says where the files are."""
    assert demo_run.code == 0, demo_run.stderr
    assert "done 320" in demo_run.stdout
    assert str(demo_run.out / "index.csv") in demo_run.stdout
    assert len(list((demo_run.out / "images").rglob("*.jpg"))) == 160


def test_python_dash_m_harvester(tmp_path: Path) -> None:
    """`python -m harvester` is the same command (usage error: exit 2, one line)."""
    proc = start_cli("harvest", "--screen", "x1", "--out", str(tmp_path / "d"))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err

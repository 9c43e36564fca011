"""Interrupted harvests (SIGKILL at random moments, Ctrl-C) resume to the same result."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

from gate_helpers import held_after, holding
from harvest_helpers import (
    DEMO_PROJECT,
    DEMO_SCREEN,
    Reference,
    content,
    harvest,
    interrupt,
    reaped,
    run_cli,
    start_cli,
    temp_files,
    wait_for_files,
)

from harvester.emulator import EmulatorThread

#: The emulator's gate the answer in flight at an interruption waits at.
GATE = "in-flight"


def cli_args(base_url: str, out: Path) -> list[str]:
    return [
        "harvest",
        "--base-url", base_url,
        "--screen", str(DEMO_SCREEN),
        "--project", str(DEMO_PROJECT),
        "--out", str(out),
        "--rate", "none",
        "--quiet",
    ]  # fmt: skip


def check_journals(out: Path) -> int:
    """Every complete journal line parses; every done file has its recorded size and sha256."""
    done = 0
    for journal in (out / "journals").glob("*.jsonl"):
        lines = journal.read_bytes().split(b"\n")
        for line in lines[:-1]:  # a torn last line (no newline) is tolerated
            rec = json.loads(line)
            if rec["rec"] == "done":
                done += 1
                files = [rec] + list(rec.get("files", []))
                for item in files:
                    data = (out / item["path"]).read_bytes()
                    assert len(data) == item["size"]
                    assert hashlib.sha256(data).hexdigest() == item["sha256"]
    return done


def assert_same_as_reference(out: Path, base_url: str, reference: Reference) -> None:
    assert content(out, "images", base_url=base_url) == content(
        reference.out, "images", base_url=reference.base_url
    )
    assert (out / "index.csv").read_bytes() == (reference.out / "index.csv").read_bytes()
    assert temp_files(out) == []


def test_sigkill_then_resume(
    reference: Reference, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGKILLs at random moments, then a resume: same files, bytes and index, no partial file."""
    emu = make_emulator(preset="demo", latency_ms=5)
    out = tmp_path / "killed"
    rng = random.Random(1234)
    for target in sorted(rng.sample(range(10, 300), 3)):
        proc = start_cli(*cli_args(emu.base_url, out))
        try:
            wait_for_files(out, target)
            time.sleep(rng.random() * 0.05)
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        check_journals(out)
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), projects=(DEMO_PROJECT,))
    assert summary.exit_code == 0
    assert summary.skipped > 0
    assert_same_as_reference(out, emu.base_url, reference)
    assert check_journals(out) >= len(content(out, "images"))


def test_ctrl_c_exits_130_and_resumes(
    reference: Reference, tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """SIGINT: exit 130 with a resume hint, journal intact; the resume completes."""
    emu = make_emulator(preset="demo", faults=held_after(20, GATE, "image:thumbnail"))
    out = tmp_path / "interrupted"
    proc = start_cli(*cli_args(emu.base_url, out))
    with reaped(proc), holding(emu, GATE):  # (its 21st thumbnail held: it cannot end first)
        wait_for_files(out, 20)
        stderr = interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "resume with: harvester harvest" in stderr
    assert "Traceback" not in stderr
    kept = check_journals(out)
    assert kept >= 20
    assert temp_files(out) == []
    summary = harvest(emu.base_url, out, screens=(DEMO_SCREEN,), projects=(DEMO_PROJECT,))
    assert summary.exit_code == 0
    assert summary.skipped >= kept - 20  # study records are not per-image artifacts
    assert_same_as_reference(out, emu.base_url, reference)


def test_ctrl_c_during_probe_prints_redacted_resume_line(tmp_path: Path) -> None:
    """SIGINT while the server probe is still waiting: exit 130 and the resume line, no secret."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        base = f"http://bob:PASSW0RD@127.0.0.1:{port}/?bsession=SECRET"
        proc = start_cli(*cli_args(base, tmp_path / "early"))
        with reaped(proc):
            conn, _addr = listener.accept()  # the probe is connected and waits for an answer
            with conn:
                time.sleep(0.2)
                stderr = interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert "interrupted before any file was harvested; run: harvester harvest" in stderr
    assert "run: harvester harvest --base-url URL " in stderr
    said = f"  # URL: http://127.0.0.1:{port}/ with its user or session again"
    assert said in stderr
    assert "PASSW0RD" not in stderr and "SECRET" not in stderr
    assert "Traceback" not in stderr


def test_sigterm_during_probe_exits_130_and_removes_the_ids_copy(tmp_path: Path) -> None:
    """SIGTERM (scancel, kill) before the run's own signal watcher starts: the same clean
    interruption as Ctrl-C, and the temporary copy of ``--ids-from -`` is removed."""
    import socket
    import subprocess
    import sys

    from harvest_helpers import cli_env

    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{n}\n" for n in range(1, 101)))
    with socket.socket() as listener, ids.open() as stdin:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(30)
        port = listener.getsockname()[1]
        args = ["harvest", "--base-url", f"http://127.0.0.1:{port}", "--ids-from", "-"]
        args += ["--out", str(tmp_path / "early"), "--quiet"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester", *args],
            stdin=stdin,  # `-` is copied even when it is a file redirected in
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**cli_env(), "TMPDIR": str(spool_dir)},
        )
        with reaped(proc):
            conn, _addr = listener.accept()  # the probe is connected and waits for an answer
            with conn:
                assert [p.name for p in spool_dir.iterdir()][0].startswith("harvester-ids-")
                time.sleep(0.2)
                stderr = interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 130, stderr
    assert "interrupted before any file was harvested; run: harvester harvest" in stderr
    assert "Traceback" not in stderr
    assert list(spool_dir.iterdir()) == []
    assert not (tmp_path / "early").exists()


def _label_ids(out: Path) -> dict[str, str]:
    """label -> label_id of DIR/labels.csv."""
    import csv

    with (out / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return {row["label"]: row["label_id"] for row in csv.DictReader(handle)}


def test_the_resume_of_an_interrupted_labelled_run_does_not_warn_of_changed_label_ids(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Ctrl-C wrote a labels.csv of the images recorded so far; its resume, finishing the
    same work, warned `label_ids changed` and kept a labels.before copy: now neither."""
    slow = make_emulator(preset="demo", faults=held_after(6, GATE, "image:thumbnail"))
    out = tmp_path / "labelled"
    args = ["--screen", str(DEMO_SCREEN), "--label-key", "Gene Symbol", "--artifacts",
            "thumbnail", "--concurrency", "1", "--rate", "none",
            "--out", str(out), "-q"]  # fmt: skip
    proc = start_cli("harvest", "--base-url", slow.base_url, *args)
    with reaped(proc), holding(slow, GATE):  # (its 7th thumbnail held)
        wait_for_files(out, 6)
        stderr = interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    partial = _label_ids(out)
    assert 0 < len(partial) < 24  # the demo screen's 80 images have 24 gene symbols

    resumed = run_cli("harvest", "--out", str(out), "--concurrency", "4")
    assert resumed.returncode == 0, resumed.stderr
    final = _label_ids(out)
    assert len(final) == 24
    assert any(final[label] != n for label, n in partial.items())  # the ids did move
    assert "label_ids changed" not in resumed.stderr
    assert list(out.glob("labels.*-*.csv")) == []


def test_a_complete_labels_csv_replaced_by_an_interrupted_run_is_said_once_and_kept(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A complete labels.csv that a grown run's Ctrl-C replaced keeps its ids in a copy;
    the resume warns of neither changed ids nor an edit (no labels.edited copy)."""
    # The sample's 8 thumbnails, then 6 of the grown run's; its 7th held.
    slow = make_emulator(preset="demo", faults=held_after(14, GATE, "image:thumbnail"))
    out = tmp_path / "grown"
    args = ["--base-url", slow.base_url, "--screen", str(DEMO_SCREEN), "--label-key",
            "Gene Symbol", "--artifacts", "thumbnail", "--rate", "none", "--out", str(out),
            "-q"]  # fmt: skip
    first = run_cli("harvest", *args, "--sample", "8")
    assert first.returncode == 0, first.stderr
    complete = (out / "labels.csv").read_bytes()

    proc = start_cli("harvest", *args, "--concurrency", "1")
    with reaped(proc), holding(slow, GATE):
        wait_for_files(out, 14)  # the sample's 8 thumbnails, then new ones
        stderr = interrupt(proc, signal.SIGINT)
    assert proc.returncode == 130, stderr
    assert stderr.count("label_ids changed") <= 1

    resumed = run_cli("harvest", "--out", str(out), "--concurrency", "4")
    assert resumed.returncode == 0, resumed.stderr
    assert len(_label_ids(out)) == 24
    assert "label_ids changed" not in resumed.stderr
    assert "changed since harvester wrote it" not in resumed.stderr
    assert list(out.glob("labels.edited-*.csv")) == []
    kept = [p.read_bytes() for p in out.glob("labels.before-*.csv")]
    assert kept == [complete] if "label_ids changed" in stderr else kept == []

"""A damaged journal line is said once per command, in that command's terms.

A garbled line in the middle of a journal (what a crash can leave) was a ``WARNING`` with the
line's raw bytes on every later command, and ``status``/``verify`` said it a second time in
their note, which still said "a harvest does again what it recorded" after a harvest had.
Each command now says it in one line: ``status``/``verify`` with the command that does the
records again, ``harvest`` that it does so, ``index`` what index.csv lacks meanwhile. Every
command runs as ``harvester ARGS`` (in the test process, tests/cli_in_process.py) against
the emulator.
"""

from __future__ import annotations

from pathlib import Path

from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread


def test_each_command_says_a_damaged_line_once(tmp_path: Path, emulator: EmulatorThread) -> None:
    """status, verify, index and harvest: exit 0, one line naming the journal, no raw bytes;
    the harvest fetches again what the line recorded."""
    out = tmp_path / "d"
    common = ("--base-url", emulator.base_url, "--plate", "7375", "--artifacts", "thumbnail")
    first = cli("harvest", *common, "--rate", "none", "--out", str(out), "-q")
    assert first.returncode == 0, first.stderr
    (journal,) = (out / "journals").glob("*.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if b'"kind":"thumbnail"' in line)
    lines[at] = b'{"rec":"done","kind":"TORN-RECORD\n'  # torn, good lines after it
    journal.write_bytes(b"".join(lines))
    said = f"journals/{journal.name}: 1 damaged line skipped (NUL bytes or not JSON, as a crash"

    for command in ("status", "verify", "index"):
        proc = cli(command, str(out))
        assert proc.returncode == 0, proc.stderr
        both = proc.stdout + proc.stderr
        assert both.count(said) == 1, both
        assert "TORN-RECORD" not in both and "WARNING" not in both
    status = cli("status", str(out)).stdout
    assert f"harvester harvest --out {out} does again what it recorded" in status

    emulator.reset_stats()
    again = cli("harvest", *common, "--rate", "none", "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == [
        f"WARNING harvester.problems: {said} can leave); this harvest does again what it recorded"
    ]
    assert emulator.stats()["image_requests"] == 1


def test_a_resume_of_two_target_sets_says_a_damaged_line_once(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`harvest --out DIR` replaying two target sets in one process says the damaged line
    once, not once per replay."""
    out = tmp_path / "d"
    common = ("--base-url", emulator.base_url, "--artifacts", "thumbnail", "--rate", "none")
    for target in (("--plate", "7375"), ("--project", "51")):
        proc = cli("harvest", *common, *target, "--out", str(out), "-q")
        assert proc.returncode == 0, proc.stderr
    journal = next(p for p in (out / "journals").glob("*.jsonl") if b"7375" in p.read_bytes())
    lines = journal.read_bytes().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if b'"kind":"thumbnail"' in line)
    lines[at] = b'{"rec":"done","kind":"TORN-RECORD\n'
    journal.write_bytes(b"".join(lines))

    again = cli("harvest", "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    said = f"journals/{journal.name}: 1 damaged line skipped"
    assert again.stderr.count(said) == 1, again.stderr


def test_a_harvest_of_other_targets_does_not_claim_to_redo_a_damaged_line(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A damaged line of plate 7375's journal, then a harvest of plate 7361 into DIR: its
    warning says it redoes the record only if it is among its targets and kinds, else the
    resume does (it said "this harvest does again what it recorded", and fetched only its
    own plate); the resume then fetches the lost image."""
    out = tmp_path / "d"
    common = ("--base-url", emulator.base_url, "--artifacts", "thumbnail", "--rate", "none")
    first = cli("harvest", *common, "--plate", "7375", "--out", str(out), "-q")
    assert first.returncode == 0, first.stderr
    (journal,) = (out / "journals").glob("*.jsonl")
    lines = journal.read_bytes().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if b'"kind":"thumbnail"' in line)
    lines[at] = b'{"rec":"done","kind":"TORN-RECORD\n'
    journal.write_bytes(b"".join(lines))

    emulator.reset_stats()
    other = cli("harvest", *common, "--plate", "7361", "--out", str(out), "-q")
    assert other.returncode == 0, other.stderr
    assert other.stderr.rstrip().endswith(
        "can leave); this harvest does again what it recorded if that is of its targets and "
        f"kinds; else the command harvester status {out} gives to resume does"
    ), other.stderr
    assert emulator.stats()["image_requests"] == 8  # plate 7361's, not the lost one
    emulator.reset_stats()
    resume = cli("harvest", "--out", str(out), "-q")
    assert resume.returncode == 0, resume.stderr
    assert emulator.stats()["image_requests"] == 1

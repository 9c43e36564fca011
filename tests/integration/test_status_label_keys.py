"""``status`` says which label keys index.csv's label column is made of, and notes a
damaged ``label_keys.json`` (once, as a note, not also as a warning)."""

from __future__ import annotations

import json
from pathlib import Path

from label_keys_helpers import GENE, cli, damage_record, harvest, index

from harvester.emulator import EmulatorThread


def test_status_names_the_label_keys_given_last(emulator: EmulatorThread, tmp_path: Path) -> None:
    """status names the label keys given last to index (none when dropped), in text and JSON."""
    out = tmp_path / "d"
    harvest(emulator, out)
    plain = cli("status", str(out))
    assert plain.returncode == 0, plain.stderr
    assert "label keys" not in plain.stdout
    assert json.loads(cli("status", str(out), "--json").stdout)["label_keys"] == []

    index(out, "--label-key", GENE)
    status = cli("status", str(out))
    assert f"label keys (index.csv's label column): {GENE!r}" in status.stdout.splitlines()
    assert json.loads(cli("status", str(out), "--json").stdout)["label_keys"] == [GENE]

    index(out, "--no-label-key")
    assert "label keys" not in cli("status", str(out)).stdout


def test_status_notes_a_damaged_record_once(emulator: EmulatorThread, tmp_path: Path) -> None:
    """A damaged label_keys.json is one note in status with the command to record the keys again."""
    out = tmp_path / "d"
    harvest(emulator, out, "--label-key", GENE)
    index(out, "--label-key", GENE)
    damage_record(out / "label_keys.json", b'{"label_keys": ["Gene')
    status = cli("status", str(out))
    assert status.returncode == 0, status.stderr
    notes = [line for line in status.stdout.splitlines() if "label_keys.json" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ")
    assert "to record them again: harvester index" in notes[0]
    assert "WARNING" not in status.stderr
    # the keys of the newest run that set any stand meanwhile
    assert f"label keys (index.csv's label column): {GENE!r}" in status.stdout.splitlines()

"""A shard typed with spaces or leading zeros is recorded as ``K/N``.

``--shard " 0 / 2"`` is shard 0/2: the saved run, its journal and status all say ``0/2``, and a
later run of ``--shard 0/2`` is the same shard (it finds its work done), not a stranger.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread


def _without_argv(path: Path) -> bytes:
    """The file's bytes, but a JSON record's ``argv`` (the command exactly as typed) left out."""
    data = path.read_bytes()
    if path.suffix not in (".json", ".jsonl"):
        return data
    if path.suffix == ".json":
        records = [json.loads(data)]
    else:
        records = [json.loads(line) for line in data.splitlines() if line.strip()]
    kept = [
        {k: v for k, v in r.items() if k != "argv"} if isinstance(r, dict) else r for r in records
    ]
    return json.dumps(kept).encode()


def test_a_shard_typed_with_spaces_is_recorded_as_k_of_n(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing under DIR keeps the typed spelling but the record of the command as typed;
    status says 0/2; rerunning 0/2 asks no image."""
    out = tmp_path / "s"
    args = ["harvest", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--quiet"]  # fmt: skip
    assert main([*args, "--shard", " 00 / 2"]) == 0
    typed = [p for p in out.rglob("*") if p.is_file() and b"00 / 2" in _without_argv(p)]
    assert typed == []
    assert any(b"00 / 2" in p.read_bytes() for p in out.rglob("*.jsonl"))  # (the argv record)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shard 0/2)" in said and "--shard 1/2" in said
    emulator.reset_stats()
    assert main([*args, "--shard", "0/2"]) == 0
    assert emulator.stats()["image_requests"] == 0

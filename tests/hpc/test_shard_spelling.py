"""A shard typed with spaces or leading zeros is recorded as ``K/N``.

``--shard " 0 / 2"`` is shard 0/2: the saved run, its journal and status all say ``0/2``, and a
later run of ``--shard 0/2`` is the same shard (it finds its work done), not a stranger.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread


def test_a_shard_typed_with_spaces_is_recorded_as_k_of_n(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing under DIR keeps the typed spelling; status says 0/2; rerunning 0/2 asks no image."""
    out = tmp_path / "s"
    args = ["harvest", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
            "--artifacts", "thumbnail", "--rate", "none", "--quiet"]  # fmt: skip
    assert main([*args, "--shard", " 00 / 2"]) == 0
    typed = [p for p in out.rglob("*") if p.is_file() and b"00 / 2" in p.read_bytes()]
    assert typed == []
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    said = capsys.readouterr().out
    assert "shard 0/2)" in said and "--shard 1/2" in said
    emulator.reset_stats()
    assert main([*args, "--shard", "0/2"]) == 0
    assert emulator.stats()["image_requests"] == 0

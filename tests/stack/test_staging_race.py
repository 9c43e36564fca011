"""Two processes (shards of one array) share ``DIR/staging``: one removes it once empty
(:func:`harvester.stack.remove_staging`) while the other is creating its image's folder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harvester.stack import STAGING_RECORD, prepare_staging, remove_staging


def test_staging_removed_by_another_shard_meanwhile_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other shard's ``rmdir`` lands between our making ``DIR/staging`` and our folder in
    it: the image's staging is made again instead of failing the stack as disk trouble."""
    parent = tmp_path / "staging"
    staging = parent / "1300001"
    real_mkdir = os.mkdir
    raced: list[str] = []

    def mkdir(path: Any, mode: int = 0o777) -> None:
        if Path(path) == staging and parent.is_dir() and not raced:
            remove_staging(parent / "900")  # the other shard's last stack is stored
            raced.append(str(path))
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", mkdir)
    record = {"version": 1, "image_id": 1300001}
    assert prepare_staging(staging, record) == {}
    assert raced and not (parent / "900").exists()
    assert json.loads((staging / STAGING_RECORD).read_text()) == record

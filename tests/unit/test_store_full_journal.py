"""A full disk met while appending to the journal names the journal file, as other writes do."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import StorageError
from harvester.journal import Journal
from harvester.layout import make_writer, new_run_id
from harvester.store import Store


async def test_disk_full_on_the_journal_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message reads "disk full while writing journals/<writer>.jsonl" (it said "the
    journal", which left a user to guess which of many writers' files; a CI run met it)."""
    run = new_run_id()
    writer = make_writer(run)
    real_append = Journal.append
    opened = False

    def append(self: Journal, records: Any) -> None:
        if opened:  # the run record at opening goes through; the first batch does not
            raise OSError(errno.ENOSPC, "No space left on device")
        real_append(self, records)

    monkeypatch.setattr(Journal, "append", append)
    with pytest.raises(StorageError) as caught:
        async with Store.open(tmp_path, run_id=run, writer=writer) as store:
            opened = True
            await store.put_bytes("thumbnail", 1, "images/000/000/1.thumbnail.jpg", b"x")
            await store.flush()
    assert str(caught.value).startswith(f"disk full while writing journals/{writer}.jsonl")

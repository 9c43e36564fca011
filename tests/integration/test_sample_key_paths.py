"""A sample's record (``DIR/samples/<key>.json``) is found again whatever the ids file is
called: ``--ids-from ids.txt`` and the absolute path a resume from DIR replays are one
file, so one key (a relative path made another key: the resume asked every annotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread

#: Images of the demo screen (plate 7361's 9762885..9762892, and four more).
IDS = [9762885 + i for i in range(8)] + [9762889 + 25 * i for i in range(1, 5)]


def _annotations(emu: EmulatorThread) -> int:
    stats: dict[str, Any] = emu.stats()
    return sum((stats["by_route"].get("webclient_api_annotations") or {}).values())


def test_a_resume_from_dir_reuses_the_sample_of_a_relative_ids_file(
    tmp_path: Path, emulator: EmulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume of a --sample of a relative --ids-from file reuses its sample, refetching none."""
    monkeypatch.chdir(tmp_path)
    Path("ids.txt").write_text("".join(f"{i}\n" for i in IDS), encoding="utf-8")
    first = ["harvest", "--base-url", emulator.base_url, "--ids-from", "ids.txt", "--sample",
             "3", "--artifacts", "thumbnail", "--rate", "none", "--out", "d", "-q"]  # fmt: skip
    assert main(first) == 0
    assert len(list(Path("d/samples").iterdir())) == 1
    emulator.reset_stats()
    assert main(["harvest", "--out", "d", "-q"]) == 0  # replays --ids-from as /abs/ids.txt
    assert len(list(Path("d/samples").iterdir())) == 1  # the same record, not a second
    assert _annotations(emulator) == 0
    assert emulator.stats()["image_requests"] == 0

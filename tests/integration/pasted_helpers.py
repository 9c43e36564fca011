"""What the pasted-target tests share: the demo preset's images they paste, a secret that
must never be recorded, an in-process CLI run, and the thumbnails a folder holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.cli import main

#: Consecutive images of the demo preset (screen 2302), and its plate of 8 images.
IMAGES = (9762957, 9762958, 9762959)
PLATE = 7375
#: A session key pasted inside links: never in a folder's files or a message.
SECRET = "SESSIONKEY123456"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """``harvester ARGV`` in-process: its exit code and standard error (no traceback)."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def thumbnails(out: Path) -> set[int]:
    """The image ids whose thumbnail DIR holds."""
    return {int(path.name.split(".")[0]) for path in out.rglob("*.thumbnail.jpg")}

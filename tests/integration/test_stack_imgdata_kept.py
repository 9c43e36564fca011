"""A stack's imgData is kept as it comes, so a run stopped before the stack began does not
ask it again.

Found by an HPC walkthrough: an array harvesting thumbnails, metadata and stacks, one task
cancelled, one cut short by its time limit, one killed; their resubmission finished the
folder, and the emulator had answered 88 imgData requests for 80 images (a single process
with the same faults: 81). imgData is asked first; the stack staged it only when its turn
came, after the image's thumbnail and metadata, so a task stopped in between lost it. IDR's
proxy does not cache imgData: each one reaches OMERO.web. The run here is stopped (Ctrl-C)
while the image's thumbnail is held at an emulator gate, after its imgData was answered.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_helpers import DEADLINE_S

from harvester.cli import main
from harvester.emulator import EmulatorThread

IMAGE = 1_300_001  # zstack: 12 z x 2 channels
GATE = "thumb"


def _harvest(capsys: pytest.CaptureFixture[str], base_url: str, out: Path) -> tuple[int, str]:
    code = main(["harvest", "--base-url", base_url, "--image", str(IMAGE), "--out", str(out),
                 "--artifacts", "thumbnail,stack", "--rate", "none"])  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_run_stopped_before_the_stack_began_does_not_ask_its_imgdata_again(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Ctrl-C while the thumbnail is held (imgData answered, no plane staged): the staging
    folder holds the imgData alone, not counted as an unfinished stack; the rerun stores the
    thumbnail and the stack with no second imgData request, and leaves no staging. Status,
    verify and a run without stacks say nothing of the imgData kept, and leave it there."""
    emulator = make_emulator(preset="zstack", faults=f"only:image:thumbnail,first:hold,hold:{GATE}")
    out = tmp_path / "out"
    failure: list[str] = []

    def ctrl_c_once_held() -> None:
        try:
            emulator.wait_held(GATE, 1, DEADLINE_S)
            os.kill(os.getpid(), signal.SIGINT)
        except Exception as exc:  # handed to the test's thread
            failure.append(repr(exc))

    thread = threading.Thread(target=ctrl_c_once_held, name="ctrl-c", daemon=True)
    thread.start()
    try:
        code, err = _harvest(capsys, emulator.base_url, out)
    finally:
        thread.join(DEADLINE_S)
        emulator.release(GATE)
    assert not failure, failure[0]
    assert code == 130, err
    staging = out / "staging" / str(IMAGE)
    assert sorted(p.name for p in staging.iterdir()) == ["imgdata.json"]
    assert "staged" not in err  # (no plane: no unfinished stack to tell of)
    assert emulator.stats()["by_route"]["image:imgdata"] == {"200": 1}

    # status and verify tell of no unfinished stack or stray file for the imgData kept.
    for command in ("status", "verify"):
        main([command, str(out)])
        said = capsys.readouterr()
        assert "Traceback" not in said.err
        assert "staged" not in said.out + said.err and "staging" not in said.out + said.err

    # A run without stacks leaves the kept imgData alone, without a word, for the next run
    # that asks for the stack (which then asks no imgData: below).
    code = main(["harvest", "--base-url", emulator.base_url, "--image", str(IMAGE), "--out",
                 str(out), "--artifacts", "thumbnail", "--rate", "none"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert "staged" not in said.out + said.err and "staging" not in said.out + said.err
    assert sorted(p.name for p in staging.iterdir()) == ["imgdata.json"]

    code, err = _harvest(capsys, emulator.base_url, out)
    assert code == 0, err
    by_route = emulator.stats()["by_route"]
    assert by_route["image:imgdata"] == {"200": 1}, by_route
    assert by_route["image:render"] == {"200": 24}, by_route
    assert (out / "images" / "001" / "300" / f"{IMAGE}.stack.ome.tif").stat().st_size > 0
    assert (out / "images" / "001" / "300" / f"{IMAGE}.thumbnail.jpg").stat().st_size > 0
    assert not (out / "staging").exists()
    assert main(["verify", str(out)]) == 0

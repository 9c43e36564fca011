"""Review of labels across runs: a --no-labels resume keeps the labels already journaled.

--no-labels skips the annotation requests; it does not mean "these images have none". A
resume with --no-labels of a folder harvested with labels used to journal every image again
without its labels, so index.csv lost its annotation columns until a labelled run asked for
them all again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harvest_helpers import harvest

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import DEMO_SCREEN_ID


def _annotation_requests(emu: EmulatorThread) -> int:
    by_status = emu.stats()["by_route"].get("webclient_api_annotations", {})
    return sum(int(n) for n in by_status.values())


def test_a_no_labels_resume_keeps_the_journaled_labels(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A resume without labels keeps the labels journaled before, in index.csv and a new index."""
    out = tmp_path / "out"
    emu = make_emulator(preset="demo")
    first = harvest(emu.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",))
    assert first.exit_code == 0
    labelled = (out / "index.csv").read_bytes()
    assert b"Gene Symbol" in labelled.splitlines()[0]
    plain = make_emulator(preset="demo")
    rerun = harvest(plain.base_url, out, screens=(DEMO_SCREEN_ID,), artifacts=("metadata",),
                    labels=False)  # fmt: skip
    assert rerun.exit_code == 0 and rerun.done == 0
    assert _annotation_requests(plain) == 0
    assert (out / "index.csv").read_bytes() == labelled
    assert main(["index", str(out)]) == 0
    assert (out / "index.csv").read_bytes() == labelled

"""Review of the "labels_asked": false mark (commit d86e16c): cases its own tests leave out.

Images a labelled run found to have no labels ("asked, none") must stay asked after a
``--no-labels`` run: that run took their (empty) labels from the journal, it did not skip
asking for them. Shard runs, dry runs and index.csv see the mark the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import harvest
from test_labels_not_asked import (
    TARGETS,
    Unlabelled,
    _annotation_requests,
    _run,
    journal_unasked_images,
)

from harvester.cli import main
from harvester.emulator import EmulatorThread
from harvester.journal import JournalState


def _image_records(out: Path) -> list[dict[str, Any]]:
    return [
        rec
        for journal in sorted(out.glob("journals/*.jsonl"))
        for line in journal.read_text().splitlines()
        if (rec := json.loads(line)).get("rec") == "image"
    ]


def _rename_journaled_images(out: Path) -> None:
    """As if the server renamed every image since: the next walk journals each one again."""
    for journal in out.glob("journals/*.jsonl"):
        lines = []
        for line in journal.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("rec") == "image":
                rec["ref"]["image_name"] = f"old-{rec['ref']['image_name']}"
            lines.append(json.dumps(rec, separators=(",", ":")))
        journal.write_text("".join(f"{line}\n" for line in lines))


def test_asked_none_images_stay_asked_through_a_no_labels_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Images whose labels were asked (none found) stay asked through a run without labels."""
    out = tmp_path / "out"
    assert _run(make_emulator(app=Unlabelled()), out) > 0  # asked: none
    assert _run(make_emulator(app=Unlabelled()), out, labels=False) == 0
    assert not any(rec.get("labels_asked") is False for rec in _image_records(out))
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_asked_none_images_journaled_again_by_a_no_labels_run_stay_asked(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A --no-labels run journals an image again when its ref changed (a renamed image):
    the labels it journals are those the labelled run asked for, so no mark."""
    out = tmp_path / "out"
    assert _run(make_emulator(app=Unlabelled()), out) > 0
    _rename_journaled_images(out)
    count = len(_image_records(out))
    assert _run(make_emulator(app=Unlabelled()), out, labels=False) == 0
    records = _image_records(out)
    assert len(records) > count  # journaled again (the new names)
    assert [rec for rec in records if rec.get("labels_asked") is False] == []
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_shard_runs_ask_each_unasked_image_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A whole --no-labels run, then two shard runs with labels: each shard asks for its own
    unasked images and marks them asked; a later whole run asks nothing."""
    out = tmp_path / "out"
    journal_unasked_images(out, make_emulator)
    marked = {r["ref"]["image_id"] for r in _image_records(out) if r.get("labels_asked") is False}
    assert marked
    asked = [_run(make_emulator(app=Unlabelled()), out, shard=shard) for shard in ("0/2", "1/2")]
    assert all(n > 0 for n in asked)
    assert JournalState.load(out, remember=False).labels_unasked == set()
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_a_dry_run_asks_for_unasked_labels_and_marks_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A dry run asks unasked labels as a real run would, but changes no journal or index."""
    out = tmp_path / "out"
    journal_unasked_images(out, make_emulator)
    before = {p.name: p.read_bytes() for p in out.glob("journals/*.jsonl")}
    index = (out / "index.csv").read_bytes()
    emu = make_emulator(app=Unlabelled())
    summary = harvest(emu.base_url, out, artifacts=("metadata",), dry_run=True, **TARGETS)
    assert summary.exit_code == 0
    assert _annotation_requests(emu) > 0  # a dry run walks as the real run would
    assert {p.name: p.read_bytes() for p in out.glob("journals/*.jsonl")} == before
    # The labelled run journals the images again, unmarked: index.csv keeps its bytes.
    assert _run(make_emulator(app=Unlabelled()), out) > 0
    assert (out / "index.csv").read_bytes() == index


def test_a_run_from_a_plan_journals_the_plans_labels_as_asked(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A plan's labels were asked when it was made: a run from it (even with --no-labels)
    journals the images a --no-labels run marked again, unmarked; a walk then asks nothing."""
    out = tmp_path / "out"
    journal_unasked_images(out, make_emulator)
    emu = make_emulator(app=Unlabelled())
    targets = ["--screen", str(TARGETS["screens"][0]), "--project", str(TARGETS["projects"][0])]
    plan = ["plan", "--base-url", emu.base_url, *targets, "--out", str(out)]
    assert main([*plan, "--rate", "none"]) == 0  # (its walk took 2.8 s at the default 10/s)
    summary = harvest(emu.base_url, out, from_plan=out, labels=False, artifacts=("metadata",))
    assert summary.exit_code == 0
    assert JournalState.load(out, remember=False).labels_unasked == set()
    assert _run(make_emulator(app=Unlabelled()), out) == 0

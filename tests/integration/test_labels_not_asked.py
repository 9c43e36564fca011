"""Images a --no-labels run journaled are asked for their labels once, not on every run.

A ``--no-labels`` run journals images without asking their labels; the journal marks them
(``"labels_asked": false``). The next run with labels asks for them and journals them again;
the run after that asks nothing, even for images that truly have no labels. Before 0.1.4 an
empty label list could not be told from "never asked", so after any ``--no-labels`` run
every label-less image was asked again on every run (and still is in folders where a run of
0.1.3 or before skipped labels: nothing marks its images).

A --no-labels run asks for no annotation where the study files are saved already: a first
run into a new folder saves them, asks every annotation for them, and journals its images as
asked (see test_labels_first_run.py). :func:`journal_unasked_images` makes a folder whose
images were truly journaled without asking.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import DEMO_IMAGES, harvest

from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_PROJECT_ID, DEMO_SCREEN_ID
from harvester.journal import JournalState

TARGETS: dict[str, Any] = {"screens": (DEMO_SCREEN_ID,), "projects": (DEMO_PROJECT_ID,)}
NO_LABELS = json.dumps({"annotations": [], "experimenters": []}).encode()


class Unlabelled:
    """The demo application, but no image or well has a map annotation."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")

    def handle(self, req: Any) -> Any:
        resp = self.inner.handle(req)
        if req.path.startswith("/webclient/api/annotations/") and resp.status == 200:
            return dataclasses.replace(resp, body=NO_LABELS)
        return resp

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _annotation_requests(emu: EmulatorThread) -> int:
    by_status = emu.stats()["by_route"].get("webclient_api_annotations", {})
    return sum(int(n) for n in by_status.values())


def _run(emu: EmulatorThread, out: Path, **values: Any) -> int:
    summary = harvest(emu.base_url, out, artifacts=("metadata",), **TARGETS, **values)
    assert summary.exit_code == 0
    return _annotation_requests(emu)


def journal_unasked_images(out: Path, make_emulator: Callable[..., EmulatorThread]) -> None:
    """A folder where a --no-labels run journaled every image but one without asking.

    A --no-labels sample of one image saves the study files (their annotations asked, that
    image journaled as asked); the --no-labels run of everything then finds the study files
    saved, sends no annotation request and marks each image it journals.
    """
    _run(make_emulator(app=Unlabelled()), out, labels=False, sample=1)
    assert _run(make_emulator(app=Unlabelled()), out, labels=False) == 0
    assert len(JournalState.load(out, remember=False).labels_unasked) == DEMO_IMAGES - 1


def test_label_less_images_are_asked_once_after_a_no_labels_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """After a run without labels, label-less images are asked for labels once, not every run."""
    out = tmp_path / "out"
    journal_unasked_images(out, make_emulator)
    assert _run(make_emulator(app=Unlabelled()), out) > 0  # the images' labels, asked once
    assert _run(make_emulator(app=Unlabelled()), out) == 0
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_images_a_no_labels_run_labelled_from_study_files_are_not_asked_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The study files' annotations (saved by a --no-labels run too) label the images: they
    are journaled with their labels, unmarked, and never asked again."""
    out = tmp_path / "out"
    _run(make_emulator(preset="demo"), out, labels=False)
    assert b"Gene Symbol" in (out / "index.csv").read_bytes().splitlines()[0]
    assert _run(make_emulator(preset="demo"), out) == 0
    assert _run(make_emulator(preset="demo"), out) == 0


def test_a_folder_where_an_old_harvester_skipped_labels_is_still_asked(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A --no-labels run of 0.1.3 marked nothing: its images' empty labels stay untrusted."""
    out = tmp_path / "out"
    journal_unasked_images(out, make_emulator)
    for config in out.glob("runs/*/config.json"):
        saved = json.loads(config.read_text())
        config.write_text(json.dumps({**saved, "version": "0.1.3"}))
    for journal in out.glob("journals/*.jsonl"):
        lines = journal.read_text().splitlines()
        plain = [json.dumps({k: v for k, v in json.loads(line).items() if k != "labels_asked"})
                 for line in lines]  # fmt: skip
        journal.write_text("".join(f"{line}\n" for line in plain))
    assert _run(make_emulator(app=Unlabelled()), out) > 0
    assert _run(make_emulator(app=Unlabelled()), out) > 0  # as in 0.1.3: asked every time

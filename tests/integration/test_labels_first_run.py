"""A first --no-labels run into a new folder journals the labels it fetched as asked.

A ``--no-labels`` run still asks every map annotation of the plates and datasets whose study
files it saves (a first run into a new folder saves them all): the images found there carry
the labels the server gave, "none" included, and are journaled as asked. A later run with
labels then sends no annotation request for them. Before, every label-less image was marked
``"labels_asked": false`` anyway, and the next labelled run walked the labels once more (on
the demo screen and project without annotations: 12 requests).

Where a --no-labels run truly asks nothing (the study files saved already, ``--ids-from``
targets, a shard other than 0, which saves no study files), its images are still marked and
the next labelled run asks for them once.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import DEMO_IMAGES, harvest
from test_labels_not_asked import TARGETS, Unlabelled, _annotation_requests, _run

from harvester import pipeline
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_PROJECT_IMAGE_IDS
from harvester.journal import JournalState, saved_run_configs
from harvester.models import ImageRef
from harvester.walk import AskedRef


class PartlyLabelled:
    """The demo application, but only the wells and images with an odd id are annotated."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")

    def handle(self, req: Any) -> Any:
        resp = self.inner.handle(req)
        if req.path.startswith("/webclient/api/annotations/") and resp.status == 200:
            body = json.loads(resp.body)
            body["annotations"] = [
                ann
                for ann in body.get("annotations", [])
                if ((ann.get("link") or {}).get("parent") or {}).get("id", 0) % 2 == 1
            ]
            return dataclasses.replace(resp, body=json.dumps(body).encode())
        return resp

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _unasked(out: Path) -> set[int]:
    return JournalState.load(out, remember=False).labels_unasked


def test_a_labelled_run_after_a_first_no_labels_run_asks_no_annotation(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """No image has labels: the first --no-labels run asked them all (for the study files),
    so none is marked and the labelled runs after it ask nothing."""
    out = tmp_path / "out"
    assert _run(make_emulator(app=Unlabelled()), out, labels=False) > 0  # the study files
    assert _unasked(out) == set()
    assert _run(make_emulator(app=Unlabelled()), out) == 0
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_the_labels_a_first_no_labels_run_fetched_are_in_index_csv(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Some wells and images have labels, some none: after the first --no-labels run the
    labelled run asks nothing, and index.csv is byte for byte that of a labelled harvest."""
    out, reference = tmp_path / "out", tmp_path / "reference"
    _run(make_emulator(app=PartlyLabelled()), reference)
    index = (reference / "index.csv").read_bytes()
    assert b"Gene Symbol" in index.splitlines()[0]
    # Some rows have labels, some none: every label column empty ends the row with commas.
    rows = index.splitlines()[1:]
    assert len(rows) == DEMO_IMAGES
    assert 0 < sum(row.endswith(b",,,,,,,") for row in rows) < DEMO_IMAGES

    _run(make_emulator(app=PartlyLabelled()), out, labels=False)
    assert _unasked(out) == set()
    assert (out / "index.csv").read_bytes() == index
    assert _run(make_emulator(app=PartlyLabelled()), out) == 0
    assert (out / "index.csv").read_bytes() == index


def test_a_no_labels_run_after_the_study_files_marks_and_the_labelled_run_asks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The study files saved by a first (sampled) run, the --no-labels run of everything asks
    no annotation: its images are marked, asked once by the labelled run, then never."""
    out = tmp_path / "out"
    _run(make_emulator(app=PartlyLabelled()), out, labels=False, sample=1)
    assert _unasked(out) == set()  # the sampled image: from the study files' annotations
    assert _run(make_emulator(app=PartlyLabelled()), out, labels=False) == 0
    assert len(_unasked(out)) == DEMO_IMAGES - 1
    assert _run(make_emulator(app=PartlyLabelled()), out) > 0
    assert _unasked(out) == set()
    assert _run(make_emulator(app=PartlyLabelled()), out) == 0
    reference = tmp_path / "reference"
    _run(make_emulator(app=PartlyLabelled()), reference)
    assert (out / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()


def test_ids_from_a_no_labels_run_are_marked_and_asked_by_the_labelled_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--ids-from`` saves no study files: a --no-labels run asks nothing and marks every
    image; the labelled run asks their labels once and index.csv gets them."""
    out = tmp_path / "out"
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{image_id}\n" for image_id in DEMO_PROJECT_IMAGE_IDS))

    def run(**values: Any) -> int:
        emu = make_emulator(preset="demo")
        summary = harvest(emu.base_url, out, artifacts=("metadata",), ids_from=ids, **values)
        assert summary.exit_code == 0
        return _annotation_requests(emu)

    assert run(labels=False) == 0
    assert _unasked(out) == set(DEMO_PROJECT_IMAGE_IDS)
    assert b"Gene Symbol" not in (out / "index.csv").read_bytes()
    assert run() > 0
    assert _unasked(out) == set()
    assert b"Gene Symbol" in (out / "index.csv").read_bytes().splitlines()[0]
    assert run() == 0


def test_shards_of_a_first_no_labels_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Shard 0 saves the study files: its images' labels were asked, not marked. Shard 1
    saves none and asks nothing: its images are marked and asked by its labelled run."""
    out = tmp_path / "out"
    assert _run(make_emulator(app=Unlabelled()), out, labels=False, shard="1/2") == 0
    marked = _unasked(out)
    assert marked  # shard 1's images, every one of them
    assert len(JournalState.load(out, remember=False).images) == len(marked)
    assert _run(make_emulator(app=Unlabelled()), out, labels=False, shard="0/2") > 0
    assert _unasked(out) == marked  # shard 0's were asked for the study files
    assert _run(make_emulator(app=Unlabelled()), out, shard="0/2") == 0
    assert _run(make_emulator(app=Unlabelled()), out, shard="1/2") > 0
    assert _unasked(out) == set()
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_a_no_labels_run_that_fetches_the_annotations_clears_the_marks(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Images marked by shard 1 (unchanged since: nothing else would journal them again) are
    journaled as asked by a whole --no-labels run that saves the study files."""
    out = tmp_path / "out"
    assert _run(make_emulator(app=Unlabelled()), out, labels=False, shard="1/2") == 0
    assert _unasked(out)
    assert _run(make_emulator(app=Unlabelled()), out, labels=False) > 0
    assert _unasked(out) == set()
    assert _run(make_emulator(app=Unlabelled()), out) == 0


def test_a_dry_run_after_a_first_no_labels_run_asks_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A dry run after a first run without labels asks the server for no annotations."""
    out = tmp_path / "out"
    _run(make_emulator(app=Unlabelled()), out, labels=False)
    emu = make_emulator(app=Unlabelled())
    summary = harvest(emu.base_url, out, artifacts=("metadata",), dry_run=True, **TARGETS)
    assert summary.exit_code == 0
    assert _annotation_requests(emu) == 0


def test_an_asked_ref_is_the_same_image_as_the_plain_ref() -> None:
    """The walker's AskedRef compares and hashes as the journal's ImageRef of equal values
    (the pipeline journals an image again only when its ref changed)."""
    values: dict[str, Any] = {"image_id": 7, "image_name": "a", "plate_id": 3, "labels": ()}
    plain, asked = ImageRef(**values), AskedRef(**values)
    assert plain == asked and asked == plain
    assert operator.ne(plain, asked) is False and operator.ne(asked, plain) is False  # as used
    assert hash(plain) == hash(asked)
    assert asked != ImageRef(**{**values, "image_name": "b"})
    assert ImageRef(**{**values, "labels": (("k", "v"),)}) != asked
    assert asked.to_json() == plain.to_json()


def test_saved_configs_are_read_once_and_only_for_an_unlabelled_journaled_image(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: Any
) -> None:
    """Whether a harvester of 0.1.3 skipped labels here is read from every run's config.json:
    a labelled resume whose images all have labels never needs to know (reads none); one
    with label-less images reads them once, not once per image."""
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return saved_run_configs(*args, **kwargs)

    monkeypatch.setattr(pipeline, "saved_run_configs", counting)
    labelled, unlabelled = tmp_path / "labelled", tmp_path / "unlabelled"
    _run(make_emulator(preset="demo"), labelled)
    assert _run(make_emulator(preset="demo"), labelled) == 0
    assert calls == []
    _run(make_emulator(app=Unlabelled()), unlabelled)
    calls.clear()
    assert _run(make_emulator(app=Unlabelled()), unlabelled) == 0
    assert calls == [1]

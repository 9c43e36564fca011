"""Review of "a shard asks the labels of its own images only": ``--image`` ids too.

A shard checks only the ``--image`` ids it owns (the others are other shards' to check),
and keeps only its own; it must not ask the annotation endpoint (one of IDR's slowest)
for the others' labels either. With a selection (``--where``, ``--sample``) every shard
computes the same global selection, so it needs every image's labels: there it still
asks for all of them, and the shards' union is the single run's selection.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import harvest

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue import DEMO_PROJECT_ID
from harvester.index import COLUMNS
from harvester.shard import in_shard

_ASKED = re.compile(r"/webclient/api/annotations/\?type=map&image=")


class RecordingApp:
    """The demo application, noting the image ids named in annotation requests."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")
        self.asked: set[int] = set()

    def handle(self, req: Any) -> Any:
        target = str(req.raw_path)
        if _ASKED.match(target):
            self.asked.update(int(v) for v in re.findall(r"image=(\d+)", target))
        return self.inner.handle(req)

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))


def _rows(out: Path) -> list[dict[str, str]]:
    assert main(["index", str(out)]) == 0
    with (out / "index.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _labels(row: dict[str, str]) -> dict[str, str]:
    """The row's map-annotation columns that have a value (the name too)."""
    return {k: v for k, v in row.items() if (k not in COLUMNS and v) or k == "image_name"}


def _project_ids(tmp_path: Path, make_emulator: Callable[..., EmulatorThread]) -> list[int]:
    listing = make_emulator(preset="demo")
    found = tmp_path / "found"
    assert harvest(listing.base_url, found, projects=(DEMO_PROJECT_ID,),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    return sorted(int(row["image_id"]) for row in _rows(found))


def test_a_shard_asks_the_labels_of_its_own_image_ids_only(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A shard asks the labels of its own images only, and they match a single run's."""
    ids = _project_ids(tmp_path, make_emulator)
    labelled: dict[str, dict[str, str]] = {}
    for k in range(2):
        own = {i for i in ids if in_shard(i, k, 2)}
        assert 0 < len(own) < len(ids)
        app = RecordingApp()
        emu = make_emulator(app=app)
        out = tmp_path / f"shard-{k}"
        summary = harvest(emu.base_url, out, images=tuple(ids), artifacts=("metadata",),
                          shard=f"{k}/2")  # fmt: skip
        assert summary.exit_code == 0
        assert app.asked == own
        rows = _rows(out)
        assert {int(r["image_id"]) for r in rows} == own
        labelled.update({r["image_id"]: _labels(r) for r in rows})
    # Each image still has its labels (the same as a single run's).
    whole = tmp_path / "whole"
    plain = make_emulator(preset="demo")
    assert harvest(plain.base_url, whole, images=tuple(ids),
                   artifacts=("metadata",)).exit_code == 0  # fmt: skip
    assert labelled == {r["image_id"]: _labels(r) for r in _rows(whole)}
    assert all(len(found) > 1 for found in labelled.values())  # a name and labels each


def test_with_a_selection_every_shard_asks_every_label_and_the_union_is_the_selection(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--sample`` over ``--image`` ids with ``--shard``: each shard needs every image (the
    global selection), and the shards together select exactly what a single run selects."""
    ids = _project_ids(tmp_path, make_emulator)
    picked = max(2, len(ids) // 2)
    single = tmp_path / "single"
    plain = make_emulator(preset="demo")
    assert harvest(plain.base_url, single, images=tuple(ids), artifacts=("metadata",),
                   sample=picked).exit_code == 0  # fmt: skip
    expected = {int(r["image_id"]) for r in _rows(single)}
    assert len(expected) == picked
    union: set[int] = set()
    for k in range(2):
        app = RecordingApp()
        emu = make_emulator(app=app)
        out = tmp_path / f"sampled-{k}"
        summary = harvest(emu.base_url, out, images=tuple(ids), artifacts=("metadata",),
                          sample=picked, shard=f"{k}/2")  # fmt: skip
        assert summary.exit_code == 0
        assert app.asked == set(ids)
        union |= {int(r["image_id"]) for r in _rows(out)}
    assert union == expected


def test_with_where_and_sample_every_shard_selects_by_every_label_of_plates_and_datasets(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``--where`` and ``--sample`` over plates and datasets with ``--shard``: the shard
    that saves no study files (it would ask only its own wells' and images' labels without
    a selection) still gets every label, and the shards together select what a single run
    selects."""
    from harvester.emulator.catalogue import DEMO_SCREEN_ID

    values: dict[str, Any] = {
        "screens": (DEMO_SCREEN_ID,),
        "projects": (DEMO_PROJECT_ID,),
        "artifacts": ("metadata",),
        "where": ["Phenotype~e"],
        "sample": 10,  # of the images the labels let through: every shard needs them all
    }
    single = tmp_path / "single"
    assert harvest(make_emulator(preset="demo").base_url, single, **values).exit_code == 0
    rows = _rows(single)
    expected = {r["image_id"]: _labels(r) for r in rows}
    assert len(rows) == 10
    found: dict[str, dict[str, str]] = {}
    for k in range(2):
        out = tmp_path / f"where-{k}"
        emu = make_emulator(preset="demo")
        assert harvest(emu.base_url, out, shard=f"{k}/2", **values).exit_code == 0
        found.update({r["image_id"]: _labels(r) for r in _rows(out)})
    assert found == expected

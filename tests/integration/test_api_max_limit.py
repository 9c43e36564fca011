"""A JSON API whose ``omero.web.api.max_limit`` is below the harvester's ``limit=1000``.

IDR raises the clamp to 1000; a stock OMERO.web keeps 500, and any server may set less.
The answer to ``limit=1000`` is then a shorter page with nothing saying so but
``meta.limit``: a client that took a short page for the last one would lose wells (so
images) and ROIs without an error. Here the emulator clamps to 5, below both a demo
plate's 8 imaged wells and the 1,203 ROIs of one image of dataset 51, over real sockets.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator import catalogue as c
from harvester.layout import image_path

MAX_LIMIT = 5
DATASET = 51
DATASET_IMAGES = 4


def test_wells_and_rois_are_paged_past_a_low_max_limit(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """api_max_limit=5: every well of every plate is walked (the screen's 80 images and the
    dataset's 4 indexed) and the 1,203-ROI image's file holds every ROI in the server's
    order; exit 0."""
    emu = make_emulator(preset="demo", api_max_limit=MAX_LIMIT)
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--dataset",
        str(DATASET), "--artifacts", "rois", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        indexed = {int(row["image_id"]) for row in csv.DictReader(f)}
    catalogue = c.Catalogue("demo")
    screen_images = [i for i in catalogue.iter_image_ids() if i not in c.DEMO_PROJECT_IMAGE_IDS]
    assert indexed == {*screen_images, *catalogue.dataset_image_ids(DATASET)}
    assert len(indexed) == len(c.DEMO_PLATE_IDS) * 8 + DATASET_IMAGES
    many = c.DEMO_MANY_ROIS_IMAGE_ID
    stored = json.loads((out / image_path(many, "rois")).read_bytes())
    want = [roi.id for roi in catalogue.image_rois(many)]
    assert len(want) == 1203 and [roi["@id"] for roi in stored["data"]] == want
    assert stored["meta"]["maxLimit"] == MAX_LIMIT and stored["meta"]["totalCount"] == 1203
    by_route = emu.stats()["by_route"]
    # 10 plates of 8 wells: two pages each; a short page is not taken for the last one.
    assert by_route["api_plate_wells"] == {"200": 2 * len(c.DEMO_PLATE_IDS)}
    assert sum(by_route["api_image_rois"].values()) >= 1203 // MAX_LIMIT

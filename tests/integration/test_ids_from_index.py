"""A harvest's own index.csv (or a table filtered from it) feeds ``--ids-from`` as is."""

from __future__ import annotations

import csv
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread

DEMO_SCREEN = "2302"


def test_an_index_filtered_by_label_is_harvested_again_with_other_artifacts(
    emulator: EmulatorThread, tmp_path: Path
) -> None:
    """An index.csv filtered by the user is harvested again by --ids-from with other artifacts."""
    first = run_cli(
        "harvest", "--base-url", emulator.base_url, "--screen", DEMO_SCREEN,
        "--artifacts", "thumbnail", "--rate", "none", "--out", str(tmp_path / "all"), "-q",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    with (tmp_path / "all" / "index.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 80
    chosen = rows[::7]  # what a user keeps after filtering the table in pandas
    picked = tmp_path / "picked.csv"
    with picked.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)

    again = run_cli(
        "harvest", "--base-url", emulator.base_url, "--ids-from", str(picked),
        "--artifacts", "metadata", "--rate", "none", "--out", str(tmp_path / "picked"), "-q",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    wanted = sorted(int(row["image_id"]) for row in chosen)
    got = sorted(
        int(p.name.split(".")[0]) for p in (tmp_path / "picked" / "images").rglob("*.json")
    )
    assert got == wanted

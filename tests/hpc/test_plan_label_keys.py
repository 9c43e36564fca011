"""`harvester plan --label-key KEY`: the commands it prints next keep the key.

The plan holds its images, server and artifacts, not label keys; its `next:` lines named
neither, so the harvest they start and the index job after it wrote an index.csv with no
label column and no labels.csv, silently, though `plan --help` says the flag adds them.
"""

from __future__ import annotations

import csv
import json
import shlex
from pathlib import Path

import pytest

from harvester.cli import main
from harvester.emulator import EmulatorThread


def test_plan_next_commands_carry_the_label_keys(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan's next commands carry --label-key; its harvest command, run as printed, labels rows."""
    out = tmp_path / "my plan"
    assert main(["plan", "--base-url", emulator.base_url, "--project", "51", "--out", str(out),
                 "--artifacts", "thumbnail", "--label-key", "Gene Symbol",
                 "--rate", "none"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    slurm = shlex.split(next(x for x in lines if x.startswith("next: ")))
    assert slurm[slurm.index("--label-key") + 1] == "Gene Symbol"
    harvest = next(x for x in lines if x.startswith("  or: ")).removeprefix("  or: ")
    words = shlex.split(harvest, comments=True)  # (what follows "#" says when to use it)
    assert words[:2] == ["harvester", "harvest"]

    assert main([*words[1:], "--rate", "none", "-q"]) == 0  # the command as printed
    with (out / "index.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    assert all(row["label"] == row["Gene Symbol"] and row["label"] for row in rows)
    assert (out / "labels.csv").read_text().startswith("label,label_id,images\n")


def test_plan_of_a_per_class_sample_counts_its_classes(
    emulator: EmulatorThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """plan --sample 5 --sample-per Phenotype says the classes and the images without the key,
    as the harvest's summary does, and plan.json keeps them."""
    out = tmp_path / "pheno"
    assert main(["plan", "--base-url", emulator.base_url, "--screen", "2302", "--out", str(out),
                 "--artifacts", "thumbnail", "--sample", "5", "--sample-per", "Phenotype",
                 "--rate", "none"]) == 0  # fmt: skip
    assert (
        "selected 46 of 80 walked images (sample 5 per Phenotype, seed 0); 11 classes of"
        " 'Phenotype', 21 images without it not sampled"
    ) in capsys.readouterr().out.splitlines()
    meta = json.loads((out / "plan" / "plan.json").read_text(encoding="utf-8"))
    assert (meta["sample_per"], meta["classes"], meta["unclassed"]) == ("Phenotype", 11, 21)

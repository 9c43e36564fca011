"""A rerun that records nothing leaves no journal or config behind, unless something reads it.

An hourly sync of a finished folder would otherwise add a one-line journal and a saved
config every hour. The config of a run is read later, though: ``harvester index`` takes the
label keys of the newest run that set any, ``harvester status`` the artifact kinds of the
newest run. Such a run keeps its files, as does one that stopped short.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, harvest

from harvester.emulator import EmulatorThread
from harvester.select import write_labelled_index
from harvester.status import collect_status


def run_files(out: Path) -> list[str]:
    return sorted(
        str(p.relative_to(out))
        for folder in ("journals", "runs")
        for p in (out / folder).rglob("*")
        if p.is_file()
    )


def header(out: Path) -> list[str]:
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def test_a_noop_rerun_removes_its_files_without_reading_the_journals_again(
    tmp_path: Path, emulator: EmulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    """The rerun's journal goes after index.csv is written: the index is made from the state
    the run holds (removing the journal first made it read every journal again)."""
    out = tmp_path / "d"
    first = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert first.done == 8
    before = run_files(out)
    index_before = (out / "index.csv").read_bytes()
    with caplog.at_level(logging.DEBUG, logger="harvester"):
        again = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert (again.exit_code, again.done, again.skipped) == (0, 0, 8)
    assert run_files(out) == before
    assert (out / "index.csv").read_bytes() == index_before
    assert "reading them all again" not in caplog.text
    assert "removed this run's journal and saved config" in caplog.text


def test_a_rerun_with_other_label_keys_keeps_its_config_for_harvester_index(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A rerun that only asks for other label keys fetches nothing, but its keys are what
    `harvester index` must rebuild with (a SLURM array's index job names no keys)."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    plain = run_files(out)
    keyed = harvest(
        emulator.base_url,
        out,
        plates=(SMALL_PLATE,),
        artifacts=("thumbnail",),
        label_keys=("Gene Symbol",),
    )
    assert keyed.done == 0
    assert len(run_files(out)) == len(plain) + 2  # its journal and runs/<id>/config.json
    (out / "index.csv").unlink()
    assert write_labelled_index(out) == 8
    assert "label" in header(out) and (out / "labels.csv").is_file()
    # The same keys again: nothing new to read, so that rerun leaves nothing.
    kept = run_files(out)
    harvest(
        emulator.base_url,
        out,
        plates=(SMALL_PLATE,),
        artifacts=("thumbnail",),
        label_keys=("Gene Symbol",),
    )
    assert run_files(out) == kept


def test_a_rerun_with_fewer_artifact_kinds_keeps_its_config_for_status(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """`status` reports the kinds of the newest run: a narrower rerun that fetched nothing
    still changes that, so its config stays."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail", "metadata"))
    narrower = harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert narrower.done == 0
    assert collect_status(out).selected == ["thumbnail"]


def test_a_rerun_whose_walk_failed_keeps_its_files(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A rerun that could not list what it was asked for (exit 1) did not find the folder
    complete: its run record and config stay as a trace of that run."""
    out = tmp_path / "d"
    healthy = make_emulator(preset="demo")
    harvest(healthy.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    before = run_files(out)
    broken = make_emulator(preset="demo", faults="503:100%,only:api_plate_wells")
    summary = harvest(
        broken.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",), max_retries=1
    )
    assert summary.exit_code == 1 and summary.walk_failures
    assert len(run_files(out)) == len(before) + 2

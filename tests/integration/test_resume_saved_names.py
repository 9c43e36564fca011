"""A resume's refusal names each setting as the user gave it: a flag typed now as typed
(``--sample-per``), a value the set's saved settings replay as saved (``--sample-fraction
0.5 (saved in the folder)``), with a hint that does not ask to drop a saved flag.

It named the saved values as flags the user had typed, and hinted to drop them, which a
resume cannot. Everything runs the real command line against the emulator over sockets.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread

PLATE = 7361  # the demo's first plate: 8 images with Phenotype annotations


def first_run(emulator: EmulatorThread, out: Path, *flags: str) -> None:
    """The folder's first (and only) set: the plate's thumbnails, with ``flags``."""
    result = run_cli(
        "harvest", "--base-url", emulator.base_url, "--rate", "none", "--plate", str(PLATE),
        "--artifacts", "thumbnail", "--out", str(out), "-q", *flags,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def resume(out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``harvester harvest --out DIR FLAGS`` (a resume with flags given now)."""
    return run_cli("harvest", "--out", str(out), "-q", *flags)


def said(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The refusal's ``error:`` and ``hint:`` lines (exit 2, no traceback asserted)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    hints = [line for line in lines if line.startswith("hint: ")]
    assert len(errors) == len(hints) == 1, result.stderr
    return errors[0], hints[0]


def test_a_saved_fraction_is_named_as_saved(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Saved --sample-fraction, --sample-per typed now: the fraction is named as saved."""
    out = tmp_path / "d"
    first_run(emulator, out, "--sample-fraction", "0.5")
    before = sorted(p.name for p in (out / "thumbnail").rglob("*"))
    error, hint = said(resume(out, "--sample", "2", "--sample-per", "Phenotype"))
    assert error == (
        "error: --sample-per: sampling per class cannot be combined with --sample-fraction 0.5 "
        "(saved in the folder)"
    )
    assert hint.startswith(
        "hint: a resume replays --sample-fraction 0.5 (saved in the folder): leave out "
        "--sample-per, or give the set's targets again"
    )
    assert "drop --sample-fraction" not in hint
    assert sorted(p.name for p in (out / "thumbnail").rglob("*")) == before  # nothing lost


def test_a_saved_sample_per_is_named_as_saved(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Saved --sample-per, --sample-fraction or --no-labels typed now: each named as given."""
    out = tmp_path / "d"
    first_run(emulator, out, "--sample", "2", "--sample-per", "Phenotype")
    error, hint = said(resume(out, "--sample-fraction", "0.5"))
    assert error == (
        "error: --sample-per Phenotype (saved in the folder): sampling per class cannot be "
        "combined with --sample-fraction"
    )
    assert hint.startswith("hint: drop --sample-fraction: ")  # typed now: it can be dropped
    error, hint = said(resume(out, "--no-labels"))
    assert error == (
        "error: --sample-per Phenotype (saved in the folder): sampling per class needs labels"
    )
    assert hint == "hint: remove --no-labels"


def test_a_saved_no_labels_is_named_as_saved(tmp_path: Path, emulator: EmulatorThread) -> None:
    """Saved --no-labels, --where typed now: the typed flag leads, the hint names the saved."""
    out = tmp_path / "d"
    first_run(emulator, out, "--no-labels")
    error, hint = said(resume(out, "--where", "Phenotype~mito"))
    assert error == "error: --where: selecting by annotation needs labels"
    assert hint.startswith(
        "hint: a resume replays --no-labels (saved in the folder): leave out --where, "
    )
    other = tmp_path / "e"
    first_run(emulator, other, "--where", "Phenotype~mito")
    error, hint = said(resume(other, "--no-labels"))
    assert error == (
        "error: --where 'Phenotype~mito' (saved in the folder): selecting by annotation needs "
        "labels"
    )
    assert hint == "hint: remove --no-labels"

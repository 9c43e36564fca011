"""Which server text a spreadsheet runs as a formula, and where the index warning finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.formula_cells import formula_cells, formula_line, runs_as_formula
from harvester.models import ImageRef


@pytest.mark.parametrize(
    "text", ["=1+1", '=HYPERLINK("x")', "+spindle", "-cmd|' /C calc'!A0", "@SUM(A1)", "\t=1"]
)
def test_a_formula_start_runs(text: str) -> None:
    """Text beginning with = + - @ (or a tab) is one a spreadsheet may run."""
    assert runs_as_formula(text)


@pytest.mark.parametrize("text", ["", "mitotic arrest", "-2.5", "+1", "-", "+", "a=b", " =x"])
def test_numbers_and_plain_text_do_not(text: str) -> None:
    """Numbers, a lone sign and text not beginning so are no formula: no warning for them."""
    assert not runs_as_formula(text)


def test_names_and_annotation_values_are_counted_per_column() -> None:
    """Each column's first such value and its images; the line names them and the file."""
    shared = (("Gene Symbol", "ECT2"), ("Phenotype", "=bad"))
    refs = [
        ImageRef(1, image_name="@one", labels=shared),
        ImageRef(2, image_name="two", labels=shared),
        ImageRef(3, image_name="three", plate_name="-2"),
    ]
    found = formula_cells(refs)
    assert found == {"image_name": ("@one", 1), "Phenotype": ("=bad", 2)}
    line = formula_line(found, Path("DIR/index.csv"))
    assert line is not None
    assert "'image_name' on 1 image (e.g. '@one'); 'Phenotype' on 2 images (e.g. '=bad')" in line
    assert formula_line({}, Path("DIR/index.csv")) is None

"""Label values a server may hold (a comma, quotes, a line break, non-ASCII text, a leading
``=``) through a training set's whole life: index.csv and labels.csv keep them exactly for a
loader reading them with ``csv``; ``--where`` and ``--label-ids-from`` take them; and a cell
a spreadsheet would run as a formula is named in one warning, said once, not altered."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, run_cli

from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response

#: The demo's phenotypes, each replaced by text a hand-typed sheet or a hostile server holds.
HOSTILE = {
    "mitotic arrest": 'arrest, "mitotic"',
    "mitotic delay": "delay\nsecond line",
    "increased cell size": '=HYPERLINK("http://evil.example","size")',
    "monopolar spindle": "spindle caf\u00e9 \u00b5m \u2603",
}
FORMULA = HOSTILE["increased cell size"]


class _HostilePhenotypes:
    """The demo emulator, its JSON answers' phenotypes replaced by :data:`HOSTILE`'s."""

    def __init__(self) -> None:
        self.inner = build_application("demo", 0, "omeroweb")

    def handle(self, req: Request) -> Response:
        resp = self.inner.handle(req)
        if "json" in resp.content_type:
            for old, new in HOSTILE.items():
                resp.body = resp.body.replace(json.dumps(old).encode(), json.dumps(new).encode())
        return resp

    def route_name(self, req: Request) -> str:
        return self.inner.route_name(req)


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV's rows as a loader written from the README reads them."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def formula_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "may run as a formula" in line]


def test_hostile_label_values_round_trip_and_a_formula_is_named_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A balanced, split set of hostile phenotypes: every value comes back exactly from
    index.csv and labels.csv, ids agree, the formula cell is named once (not altered), and
    a --where on a value with a comma and quotes and a pin of that labels.csv take them."""
    emu = make_emulator(app=_HostilePhenotypes())
    out = tmp_path / "set"
    base = ["--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--rate", "none"]
    first = run_cli(
        "harvest", *base, "--out", str(out), "--artifacts", "thumbnail", "--sample", "2",
        "--sample-per", "Phenotype", "--split", "train=0.8,test=0.2",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    (line,) = formula_lines(first.stderr)
    assert f"{out / 'index.csv'} holds server text" in line
    assert "'Phenotype' on 2 images (e.g. '=HYPERLINK(\"http://evil.example\",\"size\")')" in line
    assert "by importing it with every column as text" in line

    rows = read_rows(out / "index.csv")
    labels = {row["label"]: row for row in read_rows(out / "labels.csv")}
    for value in HOSTILE.values():  # each a class of 2 images, kept exactly
        assert labels[value]["images"] == "2"
        assert sum(row["Phenotype"] == value for row in rows) == 2
    assert {row["label"] for row in rows if row["label"]} == set(labels)
    assert all(labels[row["label"]]["label_id"] == row["label_id"] for row in rows if row["label"])
    assert all((out / row["thumbnail_path"]).is_file() for row in rows)
    assert {row["split"] for row in rows} <= {"train", "test"}

    again = run_cli("index", str(out))  # the same state: said once, not by every write
    assert again.returncode == 0, again.stderr[-2000:]
    assert formula_lines(again.stderr) == []

    pin = tmp_path / "v1-labels.csv"
    pin.write_bytes((out / "labels.csv").read_bytes())
    picked = tmp_path / "picked"
    chosen = run_cli(
        "harvest", *base, "--out", str(picked), "--artifacts", "thumbnail",
        "--where", f"Phenotype={HOSTILE['mitotic arrest']}",
        "--where", f"Phenotype={HOSTILE['mitotic delay']}",
        "--label-key", "Phenotype", "--label-ids-from", str(pin),
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert formula_lines(chosen.stderr) == []  # none of its rows holds the formula
    pinned = read_rows(picked / "index.csv")
    assert pinned
    for row in pinned:
        assert HOSTILE["mitotic arrest"] in row["label"] or HOSTILE["mitotic delay"] in row["label"]
        if row["label"] in labels:  # a label of the pin keeps its id there
            assert row["label_id"] == labels[row["label"]]["label_id"]


def test_an_unlabelled_index_names_a_formula_cell_too(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder without label keys or a split (its own index writer) names the cell too."""
    emu = make_emulator(app=_HostilePhenotypes())
    out = tmp_path / "plain"
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--rate", "none",
        "--out", str(out), "--artifacts", "thumbnail", "--where", f"Phenotype={FORMULA}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (out / "labels.csv").exists()
    (line,) = formula_lines(result.stderr)
    rows = read_rows(out / "index.csv")
    assert rows and {row["Phenotype"] for row in rows} == {FORMULA}  # kept, not altered
    assert f"'Phenotype' on {len(rows)} images" in line


class _SpacedFormula(_HostilePhenotypes):
    """The demo emulator, one phenotype a formula behind a space (a cell that is text as the
    server holds it, a formula once the label trims it) and one annotation key a formula."""

    def handle(self, req: Request) -> Response:
        resp = self.inner.handle(req)
        if "json" in resp.content_type:
            for old, new in ((SPACED_OLD, " " + FORMULA), ("Gene Symbol", FORMULA_KEY)):
                resp.body = resp.body.replace(json.dumps(old).encode(), json.dumps(new).encode())
        return resp


SPACED_OLD = "increased cell size"
FORMULA_KEY = "=cmd|' /C calc'!A0"


def test_a_label_trimmed_into_a_formula_and_a_formula_key_are_named(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The ``label`` column (index.csv, labels.csv) holds the value trimmed, a formula where
    the annotation cell (led by a space) is none, and a key is a column's name in the
    header: the warning names both, and the files keep them as the server has them."""
    emu = make_emulator(app=_SpacedFormula())
    out = tmp_path / "set"
    result = run_cli(
        "harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN), "--rate", "none",
        "--out", str(out), "--artifacts", "thumbnail", "--where", f"Phenotype={FORMULA}",
        "--label-key", "Phenotype",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    rows = read_rows(out / "index.csv")
    assert rows and {row["Phenotype"] for row in rows} == {" " + FORMULA}
    assert {row["label"] for row in rows} == {FORMULA}
    assert FORMULA_KEY in rows[0]
    assert [row["label"] for row in read_rows(out / "labels.csv")] == [FORMULA]
    (line,) = formula_lines(result.stderr)
    assert f"'label' on {len(rows)} images (e.g. '{FORMULA}')" in line
    assert f"the column named {FORMULA_KEY!r}" in line

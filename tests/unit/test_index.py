"""index.csv: one row per harvested image from the journals, labels as columns, atomic."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
from demo_helpers import DemoRun

from harvester.index import COLUMNS, PATH_KINDS, write_index
from harvester.journal import Journal
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.store import Store


def read_index(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "index.csv").read_text(encoding="utf-8"))))


async def harvest(out: Path) -> None:
    run = new_run_id()
    refs = [
        ImageRef(
            1001,
            image_name="A1, field 0",
            screen_id=2302,
            plate_id=4101,
            plate_name="P\u00e9 1",
            well_id=7,
            well_row=0,
            well_column=0,
            field=0,
            labels=(("Gene Symbol", "TP53"), ("Phenotype", "round"), ("Phenotype", "big")),
        ),
        ImageRef(
            1002,
            image_name="img",
            project_id=5,
            dataset_id=6,
            dataset_name="ds",
            labels=(("Gene Symbol", "BRCA1"), ("image_id", "clash")),
        ),
        ImageRef(1003, image_name="walked but nothing fetched"),
    ]
    async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
        for ref in refs:
            await store.record_image(ref)
        await store.put_bytes("thumbnail", 1001, image_path(1001, "thumbnail"), b"j")
        await store.put_bytes("render", 1001, image_path(1001, "render"), b"j")
        await store.put_bytes("imgdata", 1002, image_path(1002, "imgdata"), b"{}")
        await store.put_bytes("metadata", 1004, image_path(1004, "metadata"), b"{}")
        await store.put_study("plate", 4101, {"plate.json": b"{}"})


def test_index_rows_columns_and_labels(tmp_path: Path) -> None:
    """Rows for every image with a done artifact, ids, names, paths and label columns."""
    anyio.run(harvest, tmp_path)
    assert write_index(tmp_path) == 3
    rows = read_index(tmp_path)
    header = list(rows[0].keys())
    assert header[: len(COLUMNS)] == list(COLUMNS)
    assert header[len(COLUMNS) :] == ["Gene Symbol", "Phenotype", "label:image_id"]
    by_id = {r["image_id"]: r for r in rows}
    assert list(by_id) == ["1001", "1002", "1004"]
    a = by_id["1001"]
    assert (a["screen_id"], a["plate_id"], a["plate_name"], a["well_row"], a["field"]) == (
        "2302",
        "4101",
        "P\u00e9 1",
        "0",
        "0",
    )
    assert a["thumbnail_path"] == "images/000/001/1001.thumbnail.jpg"
    assert a["render_path"] == "images/000/001/1001.render.jpg"
    assert a["imgdata_path"] == "" and a["metadata_path"] == ""
    assert a["Gene Symbol"] == "TP53" and a["Phenotype"] == "round | big"
    assert a["image_name"] == "A1, field 0"
    b = by_id["1002"]
    assert (b["project_id"], b["dataset_id"], b["dataset_name"]) == ("5", "6", "ds")
    assert b["label:image_id"] == "clash" and b["image_id"] == "1002" and b["Phenotype"] == ""
    assert by_id["1004"]["metadata_path"] and by_id["1004"]["screen_id"] == ""


def test_index_is_replaced_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    """A rebuild replaces the old index in one rename; no temp or pending file remains."""
    (tmp_path / "index.csv").write_text("old\n")
    anyio.run(harvest, tmp_path)
    inode_before = (tmp_path / "index.csv").stat().st_ino
    write_index(tmp_path)
    assert (tmp_path / "index.csv").stat().st_ino != inode_before
    assert read_index(tmp_path)[0]["image_id"] == "1001"
    assert [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or p.suffix == ".pending"] == []


def test_index_ignores_a_journal_still_being_written(tmp_path: Path) -> None:
    """A half-written last line of another writer's journal is skipped (safe while shards run)."""
    anyio.run(harvest, tmp_path)
    with Journal(tmp_path, "other-shard") as j:
        j.append([])
    with open(tmp_path / "journals" / "other-shard.jsonl", "ab") as fh:
        fh.write(b'{"rec":"done","kind":"thumbnail","id":5,"pa')
    assert write_index(tmp_path) == 3


async def open_and_close(out: Path) -> None:
    run = new_run_id()
    async with Store.open(out, run_id=run, writer=make_writer(run)):
        pass


def test_index_of_empty_dir_has_header_only(tmp_path: Path) -> None:
    """Without any done artifact the index is just the header."""
    anyio.run(open_and_close, tmp_path)
    assert write_index(tmp_path) == 0
    assert (tmp_path / "index.csv").read_text().splitlines() == [",".join(COLUMNS)]


def test_index_written_in_pieces_is_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big index is rendered a slice of rows at a time (never whole in memory); with one row
    per piece the file is the same bytes as in one piece, quoted rows ("A1, field 0") and
    plain rows mixed, labels.csv too."""
    from harvester import index
    from harvester.select import write_labelled_index

    anyio.run(harvest, tmp_path)
    for keys in (None, ["Gene Symbol"]):
        write_labelled_index(tmp_path, keys)
        whole = (tmp_path / "index.csv").read_bytes()
        monkeypatch.setattr(index, "CSV_PIECE_ROWS", 1)
        write_labelled_index(tmp_path, keys)
        assert (tmp_path / "index.csv").read_bytes() == whole
        monkeypatch.undo()
        header, rows = index.build_rows(index.current_state(tmp_path))
        pieces = list(index.csv_pieces(header, rows, 1))
        assert len(pieces) == len(rows) == 3
        assert b"".join(pieces) == index.render_csv(header, rows)
        assert b'"A1, field 0"' in pieces[0] and b'"' not in pieces[1]


def test_a_lone_surrogate_from_the_server_does_not_fail_the_index(tmp_path: Path) -> None:
    """JSON can carry a lone surrogate ("\\ud800") in a name or label; UTF-8 cannot. The index
    is still written, with U+FFFD in its place (it used to fail with UnicodeEncodeError at the
    end of the harvest)."""
    from harvester.select import write_labelled_index

    async def journal() -> None:
        run = new_run_id()
        async with Store.open(tmp_path, run_id=run, writer=make_writer(run)) as store:
            await store.record_image(
                ImageRef(7, image_name="a\ud800b", labels=(("Gene", "x\udfffy"),))
            )
            await store.put_bytes("thumbnail", 7, image_path(7, "thumbnail"), b"j")

    anyio.run(journal)
    assert write_index(tmp_path) == 1
    rows = read_index(tmp_path)
    assert rows[0]["image_name"] == "a\ufffdb" and rows[0]["Gene"] == "x\ufffdy"
    assert write_labelled_index(tmp_path, ["Gene"]) == 1
    assert "x\ufffdy" in (tmp_path / "labels.csv").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- demo preset
@pytest.fixture(scope="module")
def demo_harvest(demo_run: DemoRun) -> tuple[Path, bytes]:
    """A labelled harvest of the emulator's demo screen and the index.csv it ended with:
    ``harvester demo``'s, which the tests of the demo make anyway (read, never written)."""
    assert demo_run.code == 0, demo_run.stderr
    return demo_run.out, (demo_run.out / "index.csv").read_bytes()


def _journaled(out: Path) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, str]]]:
    """The image records and the done paths per image, read from the journal lines with the
    json module alone (a clean harvest: no failure or invalid record to fold)."""
    images: dict[int, dict[str, Any]] = {}
    paths: dict[int, dict[str, str]] = {}
    for journal in sorted((out / "journals").glob("*.jsonl")):
        for line in journal.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["rec"] == "image":
                images[rec["ref"]["image_id"]] = rec["ref"]
            elif rec["rec"] == "done" and rec["kind"] in PATH_KINDS:
                paths.setdefault(rec["id"], {})[rec["kind"]] = rec["path"]
    return images, paths


def _oracle(out: Path, label_keys: tuple[str, ...] = ()) -> bytes:
    """index.csv as the format says, written by the csv module (no code of harvester.index)."""
    from harvester.select import label_of

    images, paths = _journaled(out)
    keys = sorted({key for image_id in paths for key, _ in images[image_id]["labels"]})
    header = list(COLUMNS) + [f"label:{k}" if k in COLUMNS else k for k in keys]
    rows = []
    for image_id in sorted(paths):
        ref = images[image_id]
        values: dict[str, list[str]] = {}
        for key, value in ref["labels"]:
            values.setdefault(key, []).append(value)
        rows.append(
            ["" if ref[c] is None else str(ref[c]) for c in COLUMNS[:13]]
            + [paths[image_id].get(kind, "") for kind in PATH_KINDS]
            + [" | ".join(values.get(key, ())) for key in keys]
        )
    if label_keys:
        at = len(COLUMNS)
        labels = [
            label_of(tuple(map(tuple, images[int(row[0])]["labels"])), label_keys) for row in rows
        ]
        ids = {label: str(n) for n, label in enumerate(sorted(set(labels) - {""}))}
        header[at:at] = ["label", "label_id"]
        for row, label in zip(rows, labels, strict=True):
            row[at:at] = [label, ids.get(label, "")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_demo_index_bytes_are_the_formats_however_they_are_written(
    demo_harvest: tuple[Path, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index.csv of a labelled demo harvest (rows built while the file is written) is the
    csv module's rendering of the journals: at the end of the harvest, rebuilt with
    ``harvester index``, and in pieces of one row; with ``--label-key`` too."""
    from harvester import index
    from harvester.cli import main

    harvested, at_end = demo_harvest
    out = tmp_path / "out"
    shutil.copytree(harvested, out)
    expected = _oracle(out)
    assert at_end == expected
    assert expected.count(b"\n") == 81 and b",ECT2," in expected  # 80 labelled images
    assert main(["index", str(out)]) == 0
    assert (out / "index.csv").read_bytes() == expected
    monkeypatch.setattr(index, "CSV_PIECE_ROWS", 1)
    assert write_index(out) == 80
    assert (out / "index.csv").read_bytes() == expected
    monkeypatch.undo()
    keys = ("Gene Symbol", "Phenotype")
    assert main(["index", str(out), "--label-key", keys[0], "--label-key", keys[1]]) == 0
    assert (out / "index.csv").read_bytes() == _oracle(out, keys)


async def _record(out: Path, labels: tuple[tuple[str, str], ...]) -> None:
    run = new_run_id()
    async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
        await store.record_image(ImageRef(1001, image_name="one", labels=labels))
        await store.put_bytes("thumbnail", 1001, image_path(1001, "thumbnail"), b"j")


def test_label_columns_never_share_a_name(tmp_path: Path) -> None:
    """Server-supplied keys that equal a fixed column *and* its prefixed name keep one column
    each, every value under its own (a CSV reader keeps one of two same-named columns)."""
    labels = (("image_id", "a"), ("label:image_id", "b"), ("label:label:image_id", "c"))
    anyio.run(_record, tmp_path, labels)
    write_index(tmp_path)
    header = next(csv.reader(io.StringIO((tmp_path / "index.csv").read_text(encoding="utf-8"))))
    assert len(header) == len(set(header)) == len(COLUMNS) + 3
    (row,) = read_index(tmp_path)
    assert row["image_id"] == "1001"
    # A key keeps its own name where that is free; the clashing one moves on to a free name.
    assert row["label:image_id"] == "b" and row["label:label:image_id"] == "c"
    assert row["label:label:label:image_id"] == "a"


def test_labelled_index_columns_never_share_a_name(tmp_path: Path) -> None:
    """The labelled index adds "label" and "label_id": keys named so (or named as their
    prefixed form) still get a column each."""
    from harvester.select import write_labelled_index

    labels = (("label", "x"), ("label:label", "y"), ("label_id", "z"), ("Gene", "TP53"))
    anyio.run(_record, tmp_path, labels)
    write_labelled_index(tmp_path, ["Gene"])
    header = next(csv.reader(io.StringIO((tmp_path / "index.csv").read_text(encoding="utf-8"))))
    assert len(header) == len(set(header))
    (row,) = read_index(tmp_path)
    assert row["label"] == "TP53" and row["label_id"] == "0"
    assert row["label:label"] == "y" and row["label:label:label"] == "x"
    assert row["label:label_id"] == "z" and row["Gene"] == "TP53"


@pytest.mark.parametrize("kinds", [("thumbnail",), ("thumbnail", "render")])
def test_path_cells_are_the_layouts_across_image_folders(kinds: tuple[str, ...]) -> None:
    """Each file cell is its done record's path, a layout's path across 1,000-id folders as
    one written elsewhere (a folder of one file kind and of several alike)."""
    from harvester.index import build_rows
    from harvester.journal import JournalState

    ids = [5, 999, 1000, 1999, 2000, 999_999, 1_000_000, 12_345_678]
    moved = 1999  # its thumbnail written where the layout does not put it
    written = {
        (kind, image_id): (
            "images/elsewhere/1999.jpg"
            if (kind, image_id) == ("thumbnail", moved)
            else image_path(image_id, kind)
        )
        for image_id in ids
        for kind in kinds
    }
    records = [
        {"rec": "done", "kind": kind, "id": image_id, "path": path, "size": 1, "sha256": "0" * 64}
        | {"t": 1.0, "run": "r1"}
        for (kind, image_id), path in written.items()
    ]
    header, rows = build_rows(JournalState.from_records(records))
    assert [row[0] for row in rows] == [str(image_id) for image_id in ids]
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        for kind in PATH_KINDS:
            expected = written.get((kind, int(row[0])), "")
            assert cells[f"{kind}_path"] == expected
    assert rows[ids.index(1_000_000)][header.index("thumbnail_path")] == (
        "images/001/000/1000000.thumbnail.jpg"
    )

"""index.csv from a running harvest's own state, caught up with what other shards journaled.

A harvest ends by writing index.csv. Rather than re-reading every journal, it hands over the
state its store kept current; only other writers' new lines are read. The index must come out
byte-identical to one rebuilt from every journal, and include the other shards' images.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from harvester.index import build_rows, render_csv, write_index
from harvester.journal import Journal, JournalState, read_all
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.store import Store

Rec = dict[str, Any]


def done(object_id: int, t: float, kind: str = "thumbnail", path: str | None = None) -> Rec:
    return {
        "rec": "done",
        "kind": kind,
        "id": object_id,
        "path": path or image_path(object_id, kind),
        "size": 1,
        "sha256": "0" * 64,
        "t": t,
        "run": "r",
    }


def image(object_id: int, t: float, name: str = "") -> Rec:
    return {"rec": "image", "ref": ImageRef(object_id, image_name=name).to_json(), "t": t}


def failed(object_id: int, t: float, kind: str = "thumbnail") -> Rec:
    return {
        "rec": "failed",
        "kind": kind,
        "id": object_id,
        "url": "u",
        "status": 500,
        "reason": "x",
        "t": t,
        "run": "r",
    }


def invalid(object_id: int, t: float, kind: str = "thumbnail") -> Rec:
    return {
        "rec": "invalid",
        "kind": kind,
        "id": object_id,
        "path": image_path(object_id, kind),
        "reason": "bad",
        "t": t,
    }


def run_rec(writer: str) -> Rec:
    return {"rec": "run", "run": writer, "writer": writer, "shard": None, "started": 0.0}


def expected_index(out: Path) -> bytes:
    """index.csv as a fold of every record of every journal, read afresh, would give."""
    return render_csv(*build_rows(JournalState.from_records(read_all(out))))


async def test_index_from_store_state_includes_other_shards_and_matches_a_full_rebuild(
    tmp_path: Path,
) -> None:
    """Shards journal while this run goes on: its index has their images too, byte for byte."""
    out = tmp_path
    (out / "journals").mkdir()
    with Journal(out, "shard-a") as early:
        early.append([run_rec("shard-a"), image(1, 1.0, "one"), done(1, 1.0)])
    run = new_run_id()
    with anyio.fail_after(20):
        async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
            await store.record_image(ImageRef(2, image_name="two, mine", labels=(("Gene", "X"),)))
            await store.put_bytes("thumbnail", 2, image_path(2, "thumbnail"), b"j")
            await store.put_bytes("metadata", 2, image_path(2, "metadata"), b"{}")
            await store.flush()
            with Journal(out, "shard-a") as same, Journal(out, "shard-b") as late:
                same.append([image(3, 2.0, "three"), done(3, 2.0), done(1, 2.5, "render")])
                late.append([run_rec("shard-b"), image(4, 3.0, "four"), done(4, 3.0)])
                late.append([failed(5, 3.0)])
            await store.put_bytes("thumbnail", 6, image_path(6, "thumbnail"), b"j")
    assert write_index(out, store.state) == 5
    data = (out / "index.csv").read_bytes()
    assert data == expected_index(out)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [row["image_id"] for row in rows] == ["1", "2", "3", "4", "6"]
    assert rows[0]["render_path"] == image_path(1, "render")
    assert rows[1]["image_name"] == "two, mine" and rows[1]["Gene"] == "X"
    # The old call, which reads every journal, writes the same bytes.
    write_index(out)
    assert (out / "index.csv").read_bytes() == data


def walk(t: float, run: str, draw: str = "", said: list[str] | None = None) -> Rec:
    """A finished "walk" record of the same targets; with ``draw``, its sample's words."""
    rec: Rec = {"rec": "walk", "targets": "--screen 1", "shard": None, "finished": True}
    rec |= {"failures": [], "run": run, "t": t}
    return rec | ({"sample_draw": draw, "sample_said": said or []} if draw else {})


# Each case: records of the other journal before the load, this writer's records (applied
# live), then what other journals append afterwards ({journal name: records}).
Case = tuple[list[Rec], list[Rec], dict[str, list[Rec]]]

CASES: dict[str, Case] = {
    "nothing appended": ([image(1, 1.0), done(1, 1.0)], [done(2, 5.0)], {}),
    "new lines and a new journal": (
        [image(1, 1.0), done(1, 1.0), failed(9, 1.0)],
        [image(2, 5.0), done(2, 5.0), failed(3, 5.0)],
        {"a": [done(9, 6.0), image(9, 6.0)], "b": [run_rec("b"), done(3, 7.0), failed(4, 7.0)]},
    ),
    "older foreign done loses": (
        [],
        [done(1, 5.0, path="mine.jpg")],
        {"a": [done(1, 4.0, path="theirs.jpg")]},
    ),
    "newer foreign done wins": (
        [],
        [done(1, 5.0, path="mine.jpg")],
        {"a": [done(1, 6.0, path="theirs.jpg")]},
    ),
    "foreign failure of something done here": ([], [done(1, 5.0)], {"a": [failed(1, 6.0)]}),
    "foreign verify voids a file done here": (
        [failed(1, 1.0)],
        [done(1, 5.0)],
        {"v": [invalid(1, 6.0)]},
    ),
    "foreign done after an invalid read at load": (
        [done(1, 1.0), invalid(1, 2.0)],
        [],
        {"a": [done(1, 3.0)]},
    ),
    "foreign done older than an invalid read at load": (
        [done(1, 1.0), invalid(1, 3.0)],
        [],
        {"a": [done(1, 2.0)]},
    ),
    "tie in t": ([], [done(1, 5.0, path="mine.jpg")], {"a": [done(1, 5.0, path="theirs.jpg")]}),
    # A tie goes to the later journal name: here the other writer's ("zz" after "me").
    "tie in t, theirs sorts later": (
        [],
        [done(1, 5.0, path="mine.jpg")],
        {"zz": [done(1, 5.0, path="theirs.jpg")]},
    ),
    "tie in t of failures, theirs sorts later": (
        [],
        [failed(1, 5.0)],
        {"zz": [{**failed(1, 5.0), "reason": "theirs"}]},
    ),
    "same image described differently": (
        [],
        [image(1, 5.0, "mine")],
        {"a": [image(1, 4.0, "theirs")]},
    ),
    "same image described alike": ([], [image(1, 5.0, "same")], {"a": [image(1, 4.0, "same")]}),
    "sample warnings of two draws, and a walk that said none": (
        [walk(1.0, "a", "draw1", ["x"])],
        [walk(5.0, "me", "draw2", [])],
        {"b": [walk(6.0, "b", "draw1", ["y"]), walk(7.0, "b")]},
    ),
}


def _scenario(out: Path, case: Case) -> JournalState:
    before, mine, after = case
    with Journal(out, "a") as other:
        other.append([run_rec("a"), *before])
    state = JournalState.load(out)
    with Journal(out, "me") as own:
        for rec in [run_rec("me"), *mine]:
            own.append([rec])
            state.apply(rec)
    for name, records in after.items():
        with Journal(out, name) as journal:
            journal.append(records)
    return state


def _same(a: JournalState, b: JournalState) -> None:
    assert a.done == b.done
    assert a.failed == b.failed
    assert a.images == b.images
    assert a.invalid == b.invalid
    assert a.runs == b.runs
    assert a.walks == b.walks
    assert a.sample_walks == b.sample_walks


@pytest.mark.parametrize("name", list(CASES))
def test_catch_up_equals_a_fold_of_every_journal(tmp_path: Path, name: str) -> None:
    """Whatever other journals appended, the caught-up state is what a fresh load folds."""
    state = _scenario(tmp_path, CASES[name])
    _same(state.catch_up(), JournalState.from_records(read_all(tmp_path)))
    _same(state.catch_up(), JournalState.load(tmp_path))


def test_catch_up_with_nothing_appended_lists_runs_as_a_load_does(tmp_path: Path) -> None:
    """This writer's journal sorts before the others': its run is not simply last."""
    with Journal(tmp_path, "zz") as other:
        other.append([run_rec("zz"), image(1, 1.0), done(1, 1.0)])
    state = JournalState.load(tmp_path)
    with Journal(tmp_path, "aa") as own:
        for rec in [run_rec("aa"), image(2, 2.0), done(2, 2.0)]:
            own.append([rec])
            state.apply(rec)
    caught_up = state.catch_up()
    _same(caught_up, JournalState.from_records(read_all(tmp_path)))
    assert [run["writer"] for run in caught_up.runs] == ["aa", "zz"]


def _truncate_other(out: Path) -> None:
    path = out / "journals" / "a.jsonl"
    path.write_bytes(path.read_bytes().split(b"\n", 1)[0] + b"\n")


def _replace_other(out: Path) -> None:
    path = out / "journals" / "a.jsonl"
    path.unlink()
    with Journal(out, "a") as journal:
        journal.append([run_rec("a"), image(7, 9.0), done(7, 9.0)])


def _remove_other(out: Path) -> None:
    (out / "journals" / "a.jsonl").unlink()


def _remove_own(out: Path) -> None:
    (out / "journals" / "me.jsonl").unlink()


def _unapplied_own(out: Path) -> None:
    # A commit whose journal write went through but whose records never reached the state.
    with Journal(out, "me") as own:
        own.append([image(8, 8.0), done(8, 8.0)])


@pytest.mark.parametrize(
    "change", [_truncate_other, _replace_other, _remove_other, _remove_own, _unapplied_own]
)
def test_catch_up_after_journals_changed_behind_its_back(
    tmp_path: Path, change: Callable[[Path], None]
) -> None:
    """A journal rewritten, removed, or holding records this process never applied: still exact."""
    state = _scenario(
        tmp_path, ([image(1, 1.0), done(1, 1.0)] * 3, [image(2, 5.0), done(2, 5.0)], {})
    )
    change(tmp_path)
    _same(state.catch_up(), JournalState.from_records(read_all(tmp_path)))
    assert write_index(tmp_path, state) == len(JournalState.from_records(read_all(tmp_path)).done)
    assert (tmp_path / "index.csv").read_bytes() == expected_index(tmp_path)


def test_a_state_not_loaded_from_a_folder_is_indexed_as_given(tmp_path: Path) -> None:
    """``write_index(out, state)`` with a folded-by-hand state writes exactly that state."""
    state = JournalState.from_records([image(1, 1.0, "x"), done(1, 1.0)])
    with Journal(tmp_path, "other") as other:
        other.append([image(2, 1.0), done(2, 1.0)])
    assert write_index(tmp_path, state) == 1
    with (tmp_path / "index.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # The given state's one image (named by hand), not the folder's journal (image 2).
    assert [(row["image_id"], row["image_name"], row["thumbnail_path"]) for row in rows] == [
        ("1", "x", done(1, 1.0)["path"])
    ]


def _reference_rows(state: JournalState) -> tuple[list[str], list[list[str]]]:
    """The index rows as the first, plain implementation built them (the format's oracle)."""
    from harvester.index import COLUMNS, LABEL_JOIN
    from harvester.layout import ARTIFACT_FILES

    paths: dict[int, dict[str, str]] = {}
    for (kind, object_id), rec in state.done.items():
        if kind in ARTIFACT_FILES:
            paths.setdefault(object_id, {})[kind] = rec["path"]
    refs = [state.images.get(image_id) or ImageRef(image_id) for image_id in sorted(paths)]
    keys = sorted({key for ref in refs for key, _ in ref.labels})
    labels = {key: (f"label:{key}" if key in COLUMNS else key) for key in keys}
    rows = []
    for ref in refs:
        done_paths = paths[ref.image_id]
        values: dict[str, list[str]] = {}
        for key, value in ref.labels:
            values.setdefault(key, []).append(value)
        cells = [getattr(ref, column) for column in COLUMNS[:13]]
        rows.append(
            ["" if cell is None else str(cell) for cell in cells]
            + [
                done_paths.get(kind, "")
                for kind in ("thumbnail", "imgdata", "metadata", "render", "stack")
            ]
            + [LABEL_JOIN.join(values.get(key, ())) for key in labels]
        )
    return list(COLUMNS) + list(labels.values()), rows


@pytest.mark.parametrize(
    "label_sets",
    [
        [()],
        [(("Gene Symbol", "ECT2"),), ()],
        [(("b", "1"), ("a", "2")), (("a", "3"), ("b", "4")), (("c", 'x, "quoted"\n'),)],
        [(("Phenotype", "round"), ("Phenotype", "big"), ("image_id", "clash")), (("x", ""),)],
    ],
    ids=["no labels", "one key", "keys in different orders", "repeated and clashing keys"],
)
def test_rows_are_those_of_the_plain_implementation(label_sets: list[Any]) -> None:
    """Label columns, joined repeats, quoting and empty cells: the index format is unchanged."""
    records: list[Rec] = []
    for n in range(12):
        ref = ImageRef(
            100 + n,
            image_name=f"img {n}",
            screen_id=2302 if n % 2 else None,
            plate_id=n or None,
            well_row=n % 3,
            well_column=0,
            field=0 if n % 4 else None,
            dataset_name="ds" if n % 3 else "",
            labels=label_sets[n % len(label_sets)],
        )
        records.append({"rec": "image", "ref": ref.to_json(), "t": 1.0})
        records.append(done(100 + n, 1.0, kind="thumbnail" if n % 5 else "render"))
        if n % 3 == 0:
            records.append(done(100 + n, 1.0, kind="stack"))
    records.append(done(999, 1.0))  # an artifact whose image record is missing
    state = JournalState.from_records(records)
    assert render_csv(*build_rows(state)) == render_csv(*_reference_rows(state))


@pytest.mark.parametrize(
    "cells",
    [
        ["plain", "", " spaced ", "caf\u00e9 \u4e2d", "tab\there", "nul\x00", "back\\slash"],
        ["comma, inside", "x"],
        ['a "quote"', "x"],
        ["line\nbreak", "x"],
        ["carriage\rreturn", "x"],
        ["only one cell"],
        [""],
    ],
    ids=["no quoting", "comma", "quote", "newline", "carriage return", "one cell", "one empty"],
)
def test_csv_bytes_are_the_csv_modules(cells: list[str]) -> None:
    """Whatever the cells hold, index.csv bytes are what the csv module writes (with "\n"
    row ends: its "\r\n" cut, as with "\n" Python 3.11 leaves a lone "\r" unquoted), and
    csv.reader reads the cells back."""
    header = [f"h{n}" for n in range(len(cells))]
    rows = [cells, [f"r{n}" for n in range(len(cells))], cells]
    texts = []
    for row in [header, *rows]:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(row)
        texts.append(buffer.getvalue()[:-2] + "\n")
    data = render_csv(header, rows)
    assert data == "".join(texts).encode("utf-8")
    assert list(csv.reader(io.StringIO(data.decode(), newline=""))) == [header, *rows]
    assert render_csv(header, []) == (",".join(header) + "\n").encode("utf-8")


def test_each_draw_keeps_its_latest_sample_words(tmp_path: Path) -> None:
    """The latest walk record of each draw that kept its sample's words is kept per draw
    (a later walk of another draw, or of none, replaces it in ``walks`` only)."""
    state = _scenario(tmp_path, CASES["sample warnings of two draws, and a walk that said none"])
    for folded in (state.catch_up(), JournalState.load(tmp_path)):
        said = {key: rec["sample_said"] for key, rec in folded.sample_walks.items()}
        assert said == {("--screen 1", None, "draw1"): ["y"], ("--screen 1", None, "draw2"): []}
        assert "sample_said" not in folded.walks[("--screen 1", None)]

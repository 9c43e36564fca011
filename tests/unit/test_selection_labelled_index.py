"""index.csv and labels.csv as a training script reads them (csv module, no pandas).

Found by an ML-engineer walkthrough of "Collecting training data": a labels.csv left beside a
plain index.csv, label values holding the label column's separators merging two classes
without a word, a selection summary that said "and" for terms that are OR-ed, ``!~`` read as
a key ``KEY!``, and index.csv listing more images than the run selected with no word.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from harvester.errors import PROBLEMS_LOGGER, ConfigError
from harvester.index import INDEX_LOCK, _record_written
from harvester.layout import image_path, make_writer, new_run_id
from harvester.models import ImageRef
from harvester.runlock import folder_lock
from harvester.select import LABELS_FILE, write_labelled_index
from harvester.selection import Selection, SelectStats, parse_condition, parse_where
from harvester.store import Store, atomic_write_bytes

Labels = tuple[tuple[str, str], ...]


def make_dir(out: Path, images: dict[int, Labels]) -> None:
    """A harvest folder whose images each have a thumbnail and the given labels."""

    async def fill() -> None:
        run = new_run_id()
        async with Store.open(out, run_id=run, writer=make_writer(run)) as store:
            for image_id, labels in images.items():
                await store.record_image(ImageRef(image_id, labels=labels))
                path = image_path(image_id, "thumbnail")
                await store.put_bytes("thumbnail", image_id, path, b"jpeg")

    anyio.run(fill)


def written_by_harvester(out: Path, text: str) -> None:
    """A labels.csv as an earlier index write left it (recorded in written.json), not the
    user's own file."""
    (out / LABELS_FILE).write_text(text)
    labels = out / LABELS_FILE
    _record_written(out, labels, labels.stat(), hashlib.sha256(text.encode()).hexdigest())


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def problem_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == PROBLEMS_LOGGER]


HOSTILE = [
    "a, b",
    'say "hi"',
    "line\nbreak",
    "\u00fcmlaut \u2713",
    "cr\r\nlf",
    "lone\rcr",
    "tab\tx",
]


def test_hostile_values_round_trip_and_labels_agree(tmp_path: Path) -> None:
    """Commas, quotes, line breaks and non-ASCII survive csv.reader; label_id and the class
    counts of labels.csv agree with index.csv row by row; every path exists."""
    images: dict[int, Labels] = {100 + n: (("Kind", v),) for n, v in enumerate(HOSTILE)}
    images[200] = (("Other", "no kind"),)
    make_dir(tmp_path, images)
    assert write_labelled_index(tmp_path, ["kind"]) == len(images)
    rows = read(tmp_path / "index.csv")
    assert [r["image_id"] for r in rows] == [str(i) for i in sorted(images)]
    by_id = {int(r["image_id"]): r for r in rows}
    for n, value in enumerate(HOSTILE):
        assert by_id[100 + n]["label"] == value
        assert by_id[100 + n]["Kind"] == value
    assert (by_id[200]["label"], by_id[200]["label_id"]) == ("", "")
    table = read(tmp_path / LABELS_FILE)
    ids = {t["label"]: t["label_id"] for t in table}
    assert sorted(ids) == sorted(HOSTILE)
    assert [t["label_id"] for t in table] == [str(n) for n in range(len(HOSTILE))]
    assert all(ids[r["label"]] == r["label_id"] for r in rows if r["label"])
    assert {t["label"]: int(t["images"]) for t in table} == Counter(
        r["label"] for r in rows if r["label"]
    )
    assert all((tmp_path / r["thumbnail_path"]).is_file() for r in rows)


def test_a_label_with_a_lone_surrogate_keeps_its_id_without_a_word(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A label with a lone surrogate (a server's broken JSON escape), written as U+FFFD, is
    the same label at the next write: no 'label_ids changed' line, no labels.before copy."""
    make_dir(tmp_path, {1: (("Kind", "a\ud800"),), 2: (("Kind", "b"),), 3: (("Kind", "a\ue000"),)})
    write_labelled_index(tmp_path, ["Kind"])
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind"])
    assert problem_lines(caplog) == []
    assert list(tmp_path.glob("labels.before-*")) == []
    assert read(tmp_path / LABELS_FILE) == [
        {"label": "a\ue000", "label_id": "0", "images": "1"},
        {"label": "a\ufffd", "label_id": "1", "images": "1"},
        {"label": "b", "label_id": "2", "images": "1"},
    ]
    rows = read(tmp_path / "index.csv")
    assert [(r["label"], r["label_id"]) for r in rows] == [
        ("a\ufffd", "1"),
        ("b", "2"),
        ("a\ue000", "0"),
    ]


def test_plain_index_removes_a_stale_labels_csv(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`harvester index --label-key` is not recorded: a later plain index must not leave
    labels.csv describing label ids index.csv no longer has."""
    make_dir(tmp_path, {1: (("Kind", "a"),), 2: (("Kind", "b"),)})
    write_labelled_index(tmp_path, ["Kind"])
    assert (tmp_path / LABELS_FILE).exists()
    with caplog.at_level(logging.WARNING):
        assert write_labelled_index(tmp_path) == 2  # no keys given, none recorded
    assert "label" not in read(tmp_path / "index.csv")[0]
    assert not (tmp_path / LABELS_FILE).exists()
    (line,) = problem_lines(caplog)
    assert line.startswith(f"removed {tmp_path / LABELS_FILE}: index.csv has no label columns")
    caplog.clear()
    write_labelled_index(tmp_path)  # nothing to remove: no word
    assert problem_lines(caplog) == []


def test_value_holding_a_separator_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One value 'x;y' and two values 'x', 'y' share a label_id: the user is told which."""
    make_dir(
        tmp_path, {1: (("Kind", "x;y"),), 2: (("Kind", "x"), ("Kind", "y")), 3: (("Kind", "z"),)}
    )
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind"])
    rows = {r["image_id"]: r for r in read(tmp_path / "index.csv")}
    assert rows["1"]["label_id"] == rows["2"]["label_id"]  # the merge the warning is about
    (line,) = problem_lines(caplog)
    assert line.startswith("1 label value holds ';' or '|'")
    assert "Kind='x;y'" in line


def test_no_separator_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Several values and several keys joined by the label format itself are not a clash."""
    make_dir(tmp_path, {1: (("Kind", "x"), ("Kind", "y"), ("Gene", "G"))})
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind", "Gene"])
    assert read(tmp_path / "index.csv")[0]["label"] == "x;y|G"
    assert problem_lines(caplog) == []


@pytest.mark.parametrize(
    ("terms", "text"),
    [
        (
            ["Phenotype=a", "phenotype=b", "Gene!=P"],
            "where (Phenotype=a or phenotype=b) and Gene!=P",
        ),
        (["A~x", "B=y"], "where A~x and B=y"),
        (["A!=x", "A!=y"], "where A!=x and A!=y"),
        (["A=x", "B=y", "A~z"], "where (A=x or A~z) and B=y"),
    ],
)
def test_summary_says_or_for_terms_on_one_key(terms: Sequence[str], text: str) -> None:
    """The run summary describes the selection as it is applied: same key = any of."""
    assert Selection(where=parse_where(list(terms))).describe() == text


def test_not_contains_is_refused() -> None:
    """'Phenotype!~x' was read as key 'Phenotype!' contains 'x': it selected nothing."""
    with pytest.raises(ConfigError, match="'!~' .does not contain. is not supported"):
        parse_condition("Phenotype!~mitotic")


def test_index_note_when_index_lists_more_than_the_selection() -> None:
    """A smaller --sample than last time leaves rows in index.csv: the run says how many."""
    stats = SelectStats(walked=72, matched=30, selected=5)
    note = stats.index_note(10)
    assert note.startswith("index.csv lists 10 images, 5 more than this run selected")
    assert "a folder of its own" in note
    assert stats.index_note(5) == ""
    assert stats.index_note(4) == ""  # some selected images failed: nothing extra
    assert stats.index_note(None) == ""  # a shard: no index written
    assert SelectStats(selected=0, withheld=5).index_note(10) == ""


@pytest.mark.parametrize(
    ("others", "said"),
    [
        (1, "; 1 selected image belongs to another shard"),
        (3, "; 3 selected images belong to other shards"),
    ],
)
def test_images_of_other_shards_agree_with_their_count(others: int, said: str) -> None:
    """A shard's summary says "1 selected image belongs to another shard" of one, and
    "N selected images belong to other shards" of more (it said "to other shards" of one)."""
    stats = SelectStats(walked=8, matched=8, selected=4, out_of_shard=others)
    assert stats.summary().endswith(said), stats.summary()


def test_one_set_of_values_is_one_label_whatever_the_order(tmp_path: Path) -> None:
    """Values linked in another order (a, b / b, a) are one class: one label, one label_id."""
    make_dir(
        tmp_path,
        {
            1: (("Phenotype", "mitotic delay"), ("Phenotype", "increased DNA area")),
            2: (("Phenotype", "increased DNA area"), ("Phenotype", "mitotic delay")),
        },
    )
    write_labelled_index(tmp_path, ["Phenotype"])
    rows = read(tmp_path / "index.csv")
    assert {(r["label"], r["label_id"]) for r in rows} == {
        ("increased DNA area;mitotic delay", "0")
    }
    assert read(tmp_path / LABELS_FILE) == [
        {"label": "increased DNA area;mitotic delay", "label_id": "0", "images": "2"}
    ]


def test_renumbered_labels_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A folder indexed before values were sorted (labels.csv says 'b;a' is 1): the next
    index renumbers it ('a;b' is 0, 'c' moves from 0 to 1) and says so, since a model trained
    on the old label_ids would read the new ones wrong, keeping the old file beside it; an
    unchanged rewrite says nothing."""
    make_dir(tmp_path, {1: (("Kind", "b"), ("Kind", "a")), 2: (("Kind", "c"),)})
    written_by_harvester(tmp_path, "label,label_id,images\nb;a,1,1\nc,0,1\n")
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind"])
    assert read(tmp_path / LABELS_FILE) == [
        {"label": "a;b", "label_id": "0", "images": "1"},
        {"label": "c", "label_id": "1", "images": "1"},
    ]
    (line,) = problem_lines(caplog)
    (kept,) = tmp_path.glob("labels.before-*.csv")
    assert kept.read_text() == "label,label_id,images\nb;a,1,1\nc,0,1\n"
    assert line == (
        f"label_ids changed in {tmp_path / LABELS_FILE}: 1 of its 2 labels is still there with"
        " another label_id (e.g. 'c': was 0, now 1); 1 label is new; 1 of its 2 labels is on"
        " no image any more (e.g. 'b;a', was 1); a model trained on the old label_ids must map"
        " them to the new ones by label (the label column of index.csv and labels.csv), not by"
        f" label_id; the replaced labels.csv is kept as {kept}"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind"])
    assert problem_lines(caplog) == []


def test_a_new_label_that_shifts_ids_is_no_label_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A new label sorting first moves the others' ids: the warning says they are the same
    labels with other ids, and names none as gone."""
    make_dir(tmp_path, {1: (("Kind", "b"),), 2: (("Kind", "c"),), 3: (("Kind", "a"),)})
    written_by_harvester(tmp_path, "label,label_id,images\nb,0,1\nc,1,1\n")
    with caplog.at_level(logging.WARNING):
        write_labelled_index(tmp_path, ["Kind"])
    (line,) = problem_lines(caplog)
    assert (
        "2 of its 2 labels are still there with another label_id (e.g. 'b': was 0, now 1)" in line
    )
    assert "; 1 label is new;" in line
    assert "no image" not in line and "gone" not in line
    assert "\n" not in line


def test_labels_csv_is_read_once_a_concurrent_index_write_is_done(tmp_path: Path) -> None:
    """Another index write holding the index lock, its labels.csv in place but not yet
    recorded in written.json: the rebuild reads labels.csv only once that write is done, so
    the ids it replaces are kept as labels.before-*.csv (read mid-write, the new file passed
    for a hand edit and was kept by no one, nor by the next write)."""
    make_dir(tmp_path, {1: (("Kind", "a"),), 2: (("Kind", "b"),)})
    write_labelled_index(tmp_path, ["Kind"])  # a is 0, b is 1
    theirs = b"label,label_id,images\nb,0,1\na,1,1\n"  # the other writer's: ids swapped
    failed: list[BaseException] = []

    def rebuild() -> None:
        try:
            write_labelled_index(tmp_path, ["Kind"])
        except BaseException as exc:  # handed to the test thread
            failed.append(exc)

    rebuilding = threading.Thread(target=rebuild)
    with folder_lock(tmp_path, INDEX_LOCK) as held:
        assert held
        atomic_write_bytes(tmp_path, tmp_path / LABELS_FILE, theirs)
        rebuilding.start()
        time.sleep(1.0)  # unlocked, the rebuild had read labels.csv long before this
        labels = tmp_path / LABELS_FILE
        _record_written(tmp_path, labels, labels.stat(), hashlib.sha256(theirs).hexdigest())
    rebuilding.join(30)
    assert not rebuilding.is_alive() and not failed, failed
    (kept,) = tmp_path.glob("labels.before-*.csv")
    assert kept.read_bytes() == theirs
    assert list(tmp_path.glob("labels.edited-*")) == []
    assert read(tmp_path / LABELS_FILE) == [
        {"label": "a", "label_id": "0", "images": "1"},
        {"label": "b", "label_id": "1", "images": "1"},
    ]


def test_an_index_write_reads_written_json_once_and_saves_it_once_per_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A labelled index write (index.csv and labels.csv) reads written.json once and saves
    it at most once per table and once at the end (it read it a dozen times and more, and
    saved it twice per table and per warning), and the record it leaves tells both tables
    as harvester's own."""
    from harvester import index

    make_dir(tmp_path, {1: (("Kind", "a"),), 2: (("Kind", "b"),)})
    write_labelled_index(tmp_path, ["Kind"])
    calls: Counter[str] = Counter()
    read, store = index._read_written, index._store_written

    def counted_read(out_dir: Path) -> dict[str, object]:
        calls["read"] += 1
        return read(out_dir)

    def counted_store(out_dir: Path, record: dict[str, object]) -> None:
        calls["save"] += 1
        store(out_dir, record)

    monkeypatch.setattr(index, "_read_written", counted_read)
    monkeypatch.setattr(index, "_store_written", counted_store)
    make_dir(tmp_path, {3: (("Kind", "c"),)})
    write_labelled_index(tmp_path, ["Kind"])
    assert calls["read"] == 1 and 2 <= calls["save"] <= 3, calls
    monkeypatch.undo()
    for name in ("index.csv", LABELS_FILE):
        assert not index.changed_by_hand(tmp_path, tmp_path / name)
    # Each table's replaced fingerprints, kept until its rename, went with the next save
    # (labels.csv's, and the last one's with the index write's end).
    record = index._read_written(tmp_path)
    assert [name for name in ("index.csv", LABELS_FILE) if index.PREVIOUS_KEY in record[name]] == []

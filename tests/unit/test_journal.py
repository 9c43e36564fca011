"""Journals: append/read, torn and garbled lines, and the folded JournalState."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from harvester.journal import (
    Journal,
    JournalState,
    encode_records,
    read_all,
    read_journal,
    walk_lost_images,
)
from harvester.models import ImageRef


def done(kind: str, i: int, t: float, path: str = "p", run: str = "r1") -> dict[str, Any]:
    return {
        "rec": "done",
        "kind": kind,
        "id": i,
        "path": path,
        "size": 1,
        "sha256": "x",
        "t": t,
        "run": run,
    }


def test_append_writes_compact_lines_and_read_all_returns_them(tmp_path: Path) -> None:
    """Records appended by two writers are all read back, in write order per journal."""
    with Journal(tmp_path, "w1") as j1, Journal(tmp_path, "w2") as j2:
        j1.append([done("thumbnail", 1, 1.0), done("thumbnail", 2, 2.0)])
        j2.append([done("render", 1, 3.0)])
        j1.append([])
    lines = (tmp_path / "journals" / "w1.jsonl").read_text().splitlines()
    assert lines[0].startswith('{"rec":"done","kind":"thumbnail","id":1,')
    assert [(r["kind"], r["id"]) for r in read_all(tmp_path)] == [
        ("thumbnail", 1),
        ("thumbnail", 2),
        ("render", 1),
    ]


def test_torn_last_line_is_skipped_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A last line cut mid-record (killed writer) is ignored without a warning."""
    path = tmp_path / "journals" / "w.jsonl"
    path.parent.mkdir()
    data = encode_records([done("thumbnail", 1, 1.0), done("thumbnail", 2, 2.0)])
    path.write_bytes(data[:-17])
    with caplog.at_level(logging.WARNING):
        recs = list(read_journal(path))
    assert [r["id"] for r in recs] == [1]
    assert not caplog.records


def test_garbled_middle_line_is_skipped_and_logged_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A garbled line between good ones is skipped, logged at debug level (the commands say
    the count once per journal), and the rest is kept."""
    path = tmp_path / "journals" / "w.jsonl"
    path.parent.mkdir()
    good = encode_records([done("thumbnail", 1, 1.0)])
    path.write_bytes(
        good
        + b'{"rec":"done","ki\x00\x00garbage\n'
        + b"[1,2]\n"
        + encode_records([done("thumbnail", 3, 3.0)])
    )
    with caplog.at_level(logging.DEBUG, logger="harvester.journal"):
        recs = list(read_journal(path))
    assert [r["id"] for r in recs] == [1, 3]
    garbled = [r for r in caplog.records if "garbled" in r.getMessage()]
    assert [r.levelno for r in garbled] == [logging.DEBUG] * 2


def test_garbled_last_line_and_nul_tail_tolerated(tmp_path: Path) -> None:
    """A NUL-filled or garbled tail (power loss) is ignored."""
    path = tmp_path / "journals" / "w.jsonl"
    path.parent.mkdir()
    path.write_bytes(encode_records([done("thumbnail", 1, 1.0)]) + b"\x00" * 100 + b"\n{bad\n")
    assert [r["id"] for r in read_journal(path)] == [1]


def test_reopened_journal_with_torn_tail_starts_on_a_new_line(tmp_path: Path) -> None:
    """Appending after a torn tail never glues a good record onto the broken one."""
    with Journal(tmp_path, "w") as j:
        j.append([done("thumbnail", 1, 1.0)])
    path = tmp_path / "journals" / "w.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'{"rec":"done","kind":"thu')
    with Journal(tmp_path, "w") as j:
        j.append([done("thumbnail", 2, 2.0)])
    assert [r["id"] for r in read_journal(path)] == [1, 2]


def test_large_records_span_read_chunks(tmp_path: Path) -> None:
    """Lines that cross the reader's chunk boundary are parsed whole."""
    big = [dict(done("metadata", i, float(i)), pad="z" * 300_000) for i in range(30)]
    with Journal(tmp_path, "w") as j:
        j.append(big)
    assert [r["id"] for r in read_all(tmp_path)] == list(range(30))


def test_state_done_failed_invalid_semantics() -> None:
    """done wins over earlier failures; invalid removes earlier done; a later done wins again."""
    recs: list[dict[str, Any]] = [
        {
            "rec": "failed",
            "kind": "render",
            "id": 1,
            "url": "u",
            "status": 503,
            "reason": "x",
            "t": 1.0,
            "run": "r",
        },
        done("render", 1, 2.0),
        {
            "rec": "failed",
            "kind": "render",
            "id": 2,
            "url": "u",
            "status": 403,
            "reason": "no",
            "t": 1.0,
            "run": "r",
        },
        done("thumbnail", 5, 1.0),
        {"rec": "invalid", "kind": "thumbnail", "id": 5, "path": "p", "reason": "sha", "t": 2.0},
        done("imgdata", 7, 1.0),
        {"rec": "invalid", "kind": "imgdata", "id": 7, "path": "p", "reason": "sha", "t": 2.0},
        done("imgdata", 7, 3.0, path="new"),
    ]
    for order in (recs, list(reversed(recs))):
        state = JournalState.from_records([dict(r) for r in order])
        assert set(state.done) == {("render", 1), ("imgdata", 7)}
        assert state.done[("imgdata", 7)]["path"] == "new"
        assert set(state.failed) == {("render", 2)}
        assert state.is_done("render", 1) and not state.is_done("thumbnail", 5)


def test_duplicate_done_records_are_harmless(tmp_path: Path) -> None:
    """Two writers journaling the same artifact yield one done entry (the latest)."""
    with Journal(tmp_path, "a") as a, Journal(tmp_path, "b") as b:
        a.append([done("thumbnail", 1, 1.0, run="ra")])
        b.append([done("thumbnail", 1, 2.0, run="rb")])
    state = JournalState.load(tmp_path)
    assert len(state.done) == 1 and state.done[("thumbnail", 1)]["run"] == "rb"


def test_images_and_runs_are_loaded(tmp_path: Path) -> None:
    """Image records become ImageRefs (labels kept), run records are listed."""
    ref = ImageRef(9, image_name="n", plate_id=3, labels=(("Gene", "A"), ("Gene", "B")))
    with Journal(tmp_path, "w") as j:
        j.append(
            [
                {
                    "rec": "run",
                    "run": "r1",
                    "writer": "w",
                    "shard": None,
                    "started": 1.0,
                    "argv": [],
                },
                {"rec": "image", "ref": ref.to_json(), "t": 1.0},
            ]
        )
    state = JournalState.load(tmp_path)
    assert state.images[9] == ref
    assert state.runs[0]["run"] == "r1"


def test_load_of_missing_dir_is_empty(tmp_path: Path) -> None:
    """A DIR without journals has nothing done."""
    state = JournalState.load(tmp_path / "nothing")
    assert not state.done and not state.failed and not state.images


def test_apply_tracks_live_commits() -> None:
    """apply() updates done/failed/images the way a fresh load would."""
    state = JournalState()
    state.apply(
        {
            "rec": "failed",
            "kind": "render",
            "id": 1,
            "url": "u",
            "status": None,
            "reason": "r",
            "t": 1.0,
            "run": "r",
        }
    )
    assert ("render", 1) in state.failed
    state.apply(done("render", 1, 2.0))
    assert ("render", 1) in state.done and ("render", 1) not in state.failed
    state.apply({"rec": "image", "ref": ImageRef(4).to_json(), "t": 2.0})
    assert 4 in state.images
    state.apply({"rec": "invalid", "kind": "render", "id": 1, "path": "p", "reason": "x", "t": 3.0})
    assert not state.is_done("render", 1)


def test_journal_lines_are_plain_json(tmp_path: Path) -> None:
    """Each journal line is one JSON object ending with a newline (greppable, jq-able)."""
    with Journal(tmp_path, "w") as j:
        j.append([done("thumbnail", 1, 1.0)])
    raw = (tmp_path / "journals" / "w.jsonl").read_bytes()
    assert raw.endswith(b"\n") and json.loads(raw)["sha256"] == "x"


def test_failed_append_leaves_torn_line_and_refuses_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half-way (disk full) is torn at most once; later appends are refused."""
    import errno
    import os

    real_write = os.write
    calls = {"n": 0}

    def half_then_enospc(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    with Journal(tmp_path, "w") as j:
        j.append([done("thumbnail", 1, 1.0)])
        # harvester.journal writes with os.write: patch the os module it holds (this one).
        monkeypatch.setattr(os, "write", half_then_enospc)
        with pytest.raises(OSError):
            j.append([done("thumbnail", 2, 2.0)])
        monkeypatch.setattr(os, "write", real_write)
        with pytest.raises(OSError, match="journal unusable"):
            j.append([done("thumbnail", 3, 3.0)])
    assert [r["id"] for r in read_all(tmp_path)] == [1]


def test_image_records_round_trip_and_older_records_load(tmp_path: Path) -> None:
    """Image refs come back equal from the journal, also without some keys or with new ones."""
    full = ImageRef(
        7,
        image_name="a",
        screen_id=1,
        plate_id=2,
        plate_name="p",
        well_id=3,
        well_row=0,
        well_column=4,
        field=1,
        run_id=9,
        labels=(("Gene", "X"), ("Gene", "Y")),
    )
    twin = ImageRef(8, image_name="b", labels=(("Gene", "X"), ("Gene", "Y")))
    old_style = {"image_id": 9, "image_name": "old", "labels": [["k", "v"]]}
    newer = dict(ImageRef(10).to_json(), future_key=[1, 2])
    with Journal(tmp_path, "w") as journal:
        journal.append(
            [{"rec": "image", "ref": ref, "t": 1.0} for ref in (full.to_json(), twin.to_json())]
            + [
                {"rec": "image", "ref": old_style, "t": 1.0},
                {"rec": "image", "ref": newer, "t": 1.0},
            ]
        )
    images = JournalState.load(tmp_path).images
    assert images[7] == full and images[8] == twin
    assert images[9] == ImageRef(9, image_name="old", labels=(("k", "v"),))
    assert images[10] == ImageRef(10)


def test_second_load_sees_appends_and_a_rewritten_journal(tmp_path: Path) -> None:
    """Loading DIR again reads what was appended, and all of a journal that was rewritten."""
    with Journal(tmp_path, "w") as journal:
        journal.append([done("thumbnail", i, 1.0) for i in range(3)])
    assert len(JournalState.load(tmp_path).done) == 3
    with Journal(tmp_path, "w") as journal:
        journal.append([done("thumbnail", 3, 2.0)])
    assert sorted(i for _, i in JournalState.load(tmp_path).done) == [0, 1, 2, 3]
    # Same length, other records: a rewrite (not an append) must not be folded onto the old.
    path = tmp_path / "journals" / "w.jsonl"
    old = path.read_bytes()
    path.write_bytes(encode_records([done("thumbnail", i, 1.0, path="q") for i in range(4)]))
    assert len(path.read_bytes()) == len(old)
    assert {rec["path"] for rec in JournalState.load(tmp_path).done.values()} == {"q"}


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_was(tmp_path: Path, enabled: bool) -> None:
    """Loads pause the cyclic collector while folding, and give it back as they found it."""
    import gc

    with Journal(tmp_path, "w") as journal:
        journal.append([done("thumbnail", 1, 1.0), {"rec": "image", "ref": ImageRef(1).to_json()}])
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        JournalState.load(tmp_path)
        JournalState.from_records(read_all(tmp_path))
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()


def test_runs_newest_last_orders_by_start_time_not_by_run_id() -> None:
    """Run ids hold their start to the second, then a random suffix: two runs of one second
    sort by chance by id, so the newest run is the one whose store opened last."""
    from harvester.journal import runs_newest_last

    def run(run_id: str, started: float | None) -> dict[str, Any]:
        return {"rec": "run", "run": run_id, "writer": f"h-1-{run_id}", "started": started}

    state = JournalState.from_records(
        [
            run("20261126T090000Z-000000", 1000.7),  # last by name order, newest by time
            run("20261126T090000Z-ffffff", 1000.2),
            run("20261126T085959Z-aaaaaa", 999.5),
            run("20261126T085959Z-bbbbbb", None),  # no start time: oldest
            run("20261126T085959Z-aaaaaa", 998.0),  # a second record: its latest start counts
        ]
    )
    assert runs_newest_last(state) == [
        "20261126T085959Z-bbbbbb",
        "20261126T085959Z-aaaaaa",
        "20261126T090000Z-ffffff",
        "20261126T090000Z-000000",
    ]
    assert runs_newest_last(JournalState()) == []


def test_a_load_that_does_not_remember_keeps_only_the_state(tmp_path: Path) -> None:
    """A harvest's store loads once: the fold kept for later loads would be memory for nothing."""
    import gc
    import tracemalloc

    with Journal(tmp_path, "w1") as journal:
        journal.append(
            [
                record
                for n in range(5_000)
                for record in (
                    {"rec": "image", "t": 1.0, "ref": {"image_id": n + 1, "labels": [["k", "v"]]}},
                    {"rec": "done", "kind": "thumbnail", "id": n + 1, "path": f"i/{n}", "t": 1.0},
                )
            ]
        )

    def retained(remember: bool) -> tuple[int, JournalState]:
        gc.collect()
        tracemalloc.start()
        try:
            state = JournalState.load(tmp_path, remember=remember)
            gc.collect()
            return tracemalloc.get_traced_memory()[0], state
        finally:
            tracemalloc.stop()

    lean, lean_state = retained(False)
    full, full_state = retained(True)
    assert lean_state.done == full_state.done and lean_state.images == full_state.images
    assert lean < full * 0.9


def _image(image_id: int, t: float, *, asked: bool = True) -> dict[str, Any]:
    rec: dict[str, Any] = {"rec": "image", "ref": ImageRef(image_id).to_json(), "t": t}
    if not asked:
        rec["labels_asked"] = False
    return rec


def test_images_journaled_without_asking_labels_are_told_apart(tmp_path: Path) -> None:
    """``"labels_asked": false`` on an image's latest record puts it in ``labels_unasked``,
    however the state is built (load, apply, catch-up of another writer's lines); a later
    record without the mark takes it out, an older one does not."""
    with Journal(tmp_path, "a") as a, Journal(tmp_path, "b") as b:
        a.append([_image(1, 1.0, asked=False), _image(2, 1.0, asked=False), _image(3, 1.0)])
        b.append([_image(2, 2.0), _image(1, 0.5)])  # 2 asked later; 1's record is older
    state = JournalState.load(tmp_path, remember=False)
    assert state.labels_unasked == {1}
    assert JournalState.from_records([*read_all(tmp_path)]).labels_unasked == {1}
    state.apply(_image(1, 3.0))
    state.apply(_image(4, 3.0, asked=False))
    assert state.labels_unasked == {4}
    with Journal(tmp_path, "c") as c:  # another writer, meanwhile
        c.append([_image(5, 4.0, asked=False), _image(3, 4.0, asked=False)])
    live = JournalState.load(tmp_path)
    assert live.labels_unasked == {1, 3, 5}
    with Journal(tmp_path, "d") as d:
        d.append([_image(6, 5.0, asked=False)])
    assert live.catch_up().labels_unasked == {1, 3, 5, 6}
    with Journal(tmp_path, "e") as e:  # the same ref, now asked: the merge cannot tell which
        e.append([_image(3, 6.0)])  # is newer from the state alone, so it reads all again
    assert live.catch_up().labels_unasked == {1, 5, 6}


def test_newest_saved_config_reads_a_bounded_number_of_configs(tmp_path: Path) -> None:
    """The config of the newest run besides this one, passing over runs without a config
    (a plan, a killed run), but never reading more than ``tries`` files: a no-op rerun of a
    1,000-task array must not read every task's config."""
    from harvester.journal import newest_saved_config
    from harvester.layout import run_config_path

    state = JournalState()
    for n in range(6):
        state.apply({"rec": "run", "run": f"r{n}", "writer": f"w{n}", "started": float(n)})
    for n in (0, 1, 2):
        path = run_config_path(tmp_path, f"r{n}")
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"run": f"r{n}", "config": {"artifacts": [f"k{n}"]}}))
    # r5 is this run; r4 and r3 saved nothing; r2 is the newest with a config.
    assert newest_saved_config(tmp_path, state, besides="r5") == {"artifacts": ["k2"]}
    assert newest_saved_config(tmp_path, state, besides="r5", tries=2) is None
    assert newest_saved_config(tmp_path, state, besides="r2", tries=1) is None
    assert newest_saved_config(tmp_path, state, besides="r4", tries=2) is None  # r5, r3
    assert newest_saved_config(tmp_path, state, besides="r4", tries=3) == {"artifacts": ["k2"]}


STUDY = {"what": "plate 5", "study_only": True}
LISTING = {"what": "plate 6"}


@pytest.mark.parametrize(
    ("walk", "lost"),
    [
        ({"finished": True, "failures": []}, False),
        ({"finished": True, "failures": [STUDY]}, False),  # its images were all listed
        ({"finished": True, "failures": [STUDY, LISTING]}, True),
        ({"finished": False, "failures": []}, True),  # stopped, or never started
        ({"finished": True}, False),
    ],
)
def test_walk_lost_images(walk: dict[str, Any], lost: bool) -> None:
    """A walk lost images when it did not finish or a listing other than study files failed."""
    assert walk_lost_images(walk) is lost


@pytest.mark.parametrize(
    ("name", "before", "quoted"),
    [
        ("idr!0001", "'idr!0001'", "'idr'\\!'0001'"),
        # (review lastreadI: a word starting with `=` is quoted since 0.1.24 too)
        ("=0001", "=0001", "'=0001'"),
    ],
    ids=["bang", "equals"],
)
def test_a_walk_journaled_before_bang_quoting_is_the_same_walk(
    tmp_path: Path, name: str, before: str, quoted: str
) -> None:
    """A walk of a screen named with a `!` journaled unfinished by 0.1.23 (`--screen 'a!b'`)
    is cleared by the finished walk of its resume, which quotes the `!` outside the quotes
    (`--screen 'a'\\!'b'`): it was another walk, said unfinished by status ever after. So
    is one of a name starting with `=` (`--screen =a`, now `--screen '=a'`)."""
    from harvester.config import HarvestConfig
    from harvester.status import unfinished_walks

    walk = {"rec": "walk", "shard": None, "failures": []}
    now = HarvestConfig(screen_names=[name], plates=[3]).walk_targets("r2")
    assert now == f"--plate 3 --screen {quoted}"  # (as this version journals it)
    with Journal(tmp_path, "old") as old:
        old.append([walk | {"targets": f"--plate 3 --screen {before}", "run": "r1", "t": 1.0}])
    assert [w["run"] for w in unfinished_walks(JournalState.load(tmp_path))] == ["r1"]
    with Journal(tmp_path, "new") as new:
        new.append([walk | {"targets": now, "finished": True, "run": "r2", "t": 2.0}])
    state = JournalState.load(tmp_path)
    assert unfinished_walks(state) == []
    assert list(state.walks) == [(now, None)]

"""Layout: path functions, name sanitising and the per-folder bounds."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.layout import (
    ARTIFACT_FILES,
    MAX_COMPONENT_BYTES,
    check_writer,
    image_dir,
    image_path,
    journal_path,
    make_writer,
    new_run_id,
    resolve,
    sanitize_component,
    study_path,
    temp_path,
)

HOSTILE = [
    "../../etc/passwd",
    "..",
    ".",
    "",
    "a/b\\c",
    "nul\x00byte",
    "ctl\x01\x1f\x7f\x85chars",
    "x" * 1000,
    "é" * 1000,
    "/absolute",
    " ../ ",
]


def test_image_path_buckets_by_million_and_thousand() -> None:
    """Image files live in images/AAA/BBB/ with AAA=id//1e6 and BBB=id//1000%1000."""
    assert image_path(2345, "thumbnail") == "images/000/002/2345.thumbnail.jpg"
    assert image_path(14_123_456, "stack") == "images/014/123/14123456.stack.ome.tif"
    assert image_path(7, "render", ext="png") == "images/000/000/7.render.png"
    assert image_dir(999_999) == "images/000/999"


def test_image_path_rejects_unknown_kind_and_negative_id() -> None:
    """Unknown kinds and negative ids are programming errors."""
    with pytest.raises(ValueError):
        image_path(1, "movie")
    with pytest.raises(ValueError):
        image_path(-1, "thumbnail")


def test_study_path_sanitises_file_name() -> None:
    """Study files are placed by id; a hostile file name stays one component."""
    assert study_path("plate", 4101, "grid-0.json") == "study/plate-4101/grid-0.json"
    assert study_path("screen", 3, "../x") == "study/screen-3/.._x"
    with pytest.raises(ValueError):
        study_path("well", 1, "x.json")


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=20_000_000))
def test_leaf_folder_holds_at_most_1000_ids(image_id: int) -> None:
    """Every id of a leaf folder lies in one aligned block of 1,000 ids."""
    leaf = image_dir(image_id)
    block = image_id // 1000 * 1000
    assert image_dir(block) == leaf and image_dir(block + 999) == leaf
    if block >= 1000:
        assert image_dir(block - 1) != leaf
    assert image_dir(block + 1000) != leaf


def test_entries_per_folder_bounded_for_a_dense_range() -> None:
    """A dense range of 20,000 ids never puts more than 1,000 ids x kinds in one folder."""
    counts = Counter(image_dir(i) for i in range(990_000, 1_010_000))
    assert max(counts.values()) == 1000
    assert max(counts.values()) * len(ARTIFACT_FILES) <= 10_000


@pytest.mark.parametrize("name", HOSTILE)
def test_sanitize_hostile_names(name: str, tmp_path: Path) -> None:
    """Server names with ../, /, NUL, control chars or 1,000 chars become one safe component."""
    out = sanitize_component(name)
    assert out not in ("", ".", "..")
    assert "/" not in out and "\\" not in out and "\x00" not in out
    assert len(out.encode()) <= MAX_COMPONENT_BYTES
    (tmp_path / out).write_text("ok")
    assert [p.name for p in tmp_path.iterdir()] == [out]


def test_sanitize_keeps_ordinary_names_and_distinguishes_long_ones() -> None:
    """Ordinary names are unchanged; long names sharing a prefix stay distinct."""
    assert sanitize_component("plate 1 (A).json") == "plate 1 (A).json"
    assert sanitize_component("a" * 500 + "1") != sanitize_component("a" * 500 + "2")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1200))
def test_sanitized_component_never_escapes_dir(name: str) -> None:
    """For any string, DIR/sanitized is a direct child of DIR."""
    out = sanitize_component(name)
    base = "/srv/out"
    joined = os.path.normpath(os.path.join(base, out))
    assert os.path.dirname(joined) == base
    assert os.path.basename(joined) == out
    assert len(out.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert not any(ord(c) < 32 for c in out)
    assert sanitize_component(out) == out


@settings(deadline=None)
@given(st.text(max_size=200))
def test_resolve_accepts_only_paths_inside_dir(rel: str) -> None:
    """resolve() either returns a path strictly inside DIR or raises ValueError."""
    base = Path("/srv/out")
    try:
        path = resolve(base, rel)
    except ValueError:
        return
    normalized = Path(os.path.normpath(path))
    assert normalized != base and base in normalized.parents


@pytest.mark.parametrize(
    "rel", ["../x", "/etc/x", "a/../../x", "a//b", "a/./b", "a\\b", "", "a\x00"]
)
def test_resolve_rejects_escapes(rel: str) -> None:
    """Relative paths that could leave DIR are refused."""
    with pytest.raises(ValueError):
        resolve(Path("/srv/out"), rel)


def test_writer_names_are_unique_safe_components(tmp_path: Path) -> None:
    """Writer names embed pid, run id and shard and are usable in file names."""
    run = new_run_id()
    writer = make_writer(run, shard=(2, 8))
    assert writer.endswith(f"-{os.getpid()}-{run}-shard-2-of-8")
    assert check_writer(writer) == writer
    assert journal_path(tmp_path, writer) == tmp_path / "journals" / f"{writer}.jsonl"
    tmp = temp_path(tmp_path / "a.jpg", writer)
    assert tmp.parent == tmp_path and tmp.name == f"a.jpg.tmp-{writer}"
    assert new_run_id() != run
    with pytest.raises(ValueError):
        check_writer("../evil")

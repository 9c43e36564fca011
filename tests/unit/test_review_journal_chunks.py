"""Journals read a chunk at a time: lines longer than a chunk, torn tails, a writer still appending.

The reader splits what it read on newlines and keeps the part after the last one for the next
chunk (journal._read_batches, 256 KB chunks). These tests make the chunk tiny so that every
edge is crossed many times: a record is read whole however many chunks it spans, a UTF-8
character cut between chunks is read right, a torn last line is left for a later read (never
half-taken), and a load while another writer is mid-record sees that record once, when it is
complete.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from harvester import journal
from harvester.journal import JournalState, encode_records, read_journal


def image(i: int, name: str) -> dict[str, Any]:
    ref = {"image_id": i, "image_name": name, "labels": [["gene", name[:5]]]}
    return {"rec": "image", "ref": ref, "t": float(i)}


RECORDS = [
    image(1, "a"),
    image(2, "é" * 5_000),  # two bytes a character: some chunk edges fall inside one
    image(3, "b" * 70_000),  # far longer than the chunk
    image(4, "c"),
    image(5, "ünïcödé-" * 900),
]


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096, 256 << 10])
def test_every_record_is_read_whole_whatever_the_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, chunk: int
) -> None:
    """Records of every length, and a torn tail that spans chunks too: exactly the whole
    records, equal to what was written, and no warning."""
    monkeypatch.setattr(journal, "_CHUNK", chunk)
    path = tmp_path / "w.jsonl"
    torn = encode_records([image(6, "d" * 9_000)])[:-50]
    path.write_bytes(encode_records(RECORDS) + torn)
    with caplog.at_level(logging.WARNING):
        assert list(read_journal(path)) == RECORDS
    assert not caplog.records


@pytest.mark.parametrize("chunk", [5, 4096])
def test_a_garbled_long_middle_line_is_skipped_with_one_debug_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, chunk: int
) -> None:
    """A broken line longer than many chunks, between good ones: the good ones all read, one
    debug line naming its line number (the commands say the count, once per journal)."""
    monkeypatch.setattr(journal, "_CHUNK", chunk)
    path = tmp_path / "w.jsonl"
    garbled = b'{"rec":"image","ref":' + b"x" * 20_000 + b"\n"
    path.write_bytes(encode_records(RECORDS[:2]) + garbled + encode_records(RECORDS[2:]))
    with caplog.at_level(logging.DEBUG, logger="harvester.journal"):
        assert list(read_journal(path)) == RECORDS
    said = [(r.levelno, r.getMessage()) for r in caplog.records if "garbled" in r.getMessage()]
    assert len(said) == 1 and said[0][0] == logging.DEBUG and "garbled line 3" in said[0][1]


@pytest.mark.parametrize("chunk", [3, 4096, 256 << 10])
def test_a_load_while_another_writer_is_mid_record_sees_it_once_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Another writer (a shard) has written half of a long record when DIR is loaded: the
    load leaves it out; once the line is complete, a load and a catch-up both have it, once,
    with the same values as written."""
    monkeypatch.setattr(journal, "_CHUNK", chunk)
    folder = tmp_path / "journals"
    folder.mkdir()
    other = folder / "shard-1.jsonl"
    line = encode_records([image(7, "long" * 10_000)])
    other.write_bytes(encode_records(RECORDS) + line[: len(line) // 2])
    first = JournalState.load(tmp_path)
    assert sorted(first.images) == [1, 2, 3, 4, 5]
    with open(other, "ab") as fh:
        fh.write(line[len(line) // 2 :])
        fh.write(encode_records([image(8, "e")]))
    caught_up = first.catch_up()
    again = JournalState.load(tmp_path)
    for state in (caught_up, again):
        assert sorted(state.images) == [1, 2, 3, 4, 5, 7, 8]
        assert state.images[7].image_name == "long" * 10_000
        assert state.images[2].image_name == "é" * 5_000


def test_records_are_what_json_reads_line_by_line(tmp_path: Path) -> None:
    """The chunked fast path agrees with the plain reading of the file, line by line."""
    path = tmp_path / "w.jsonl"
    path.write_bytes(encode_records(RECORDS * 40))
    expected = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert list(read_journal(path)) == expected


def test_a_line_of_many_chunks_is_split_once_not_once_per_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The part of a line read so far is not joined and split again with every chunk: a line
    k chunks long cost k times its length (a 64 MB record: 8 s with 256 KB chunks, 0.8 s with
    the 4 MB chunks before 404abea). Counted as the batches of lines the reader parses: one
    for the long line, not one per chunk."""
    monkeypatch.setattr(journal, "_CHUNK", 64)
    parsed: list[int] = []
    real = journal._parse_lines

    def counting(lines: list[bytes]) -> list[Any] | None:
        parsed.append(len(lines))
        return real(lines)

    monkeypatch.setattr(journal, "_parse_lines", counting)
    path = tmp_path / "w.jsonl"
    long = image(9, "z" * 64 * 200)  # some 200 chunks
    path.write_bytes(encode_records([long, RECORDS[0]]))
    assert list(read_journal(path)) == [long, RECORDS[0]]
    assert len(parsed) <= 3, parsed

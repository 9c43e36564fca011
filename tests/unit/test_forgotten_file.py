"""``DIR/forgotten.json`` as :mod:`harvester.forgotten` reads and writes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harvester.forgotten import ForgottenSet, add_forgotten, read_forgotten, revive_set


def test_an_older_versions_unix_time_is_read_as_that_time(tmp_path: Path) -> None:
    """An entry written with a Unix time (before ISO 8601 times) reads as that instant."""
    entry = {"key": "k", "targets": "--plate 1", "runs": ["r1"], "at": 1_700_000_000}
    (tmp_path / "forgotten.json").write_text(json.dumps({"sets": [entry]}))
    (found,) = read_forgotten(tmp_path).values()
    assert found.at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert (found.key, found.targets, found.runs) == ("k", "--plate 1", ("r1",))


def test_a_written_entry_reads_back_the_same(tmp_path: Path) -> None:
    """add_forgotten then read_forgotten gives the entry as it was, its time to the second."""
    at = datetime(2026, 11, 27, 15, 4, 3, tzinfo=UTC)
    entry = ForgottenSet("k", "--plate 1", ("r1", "r2"), at)
    assert add_forgotten(tmp_path, entry)
    assert read_forgotten(tmp_path) == {("k", ""): entry}
    assert json.loads((tmp_path / "forgotten.json").read_text())["sets"][0]["at"] == (
        "2026-11-27T15:04:03+00:00"
    )


def test_one_sets_entries_of_two_servers_are_kept_and_taken_back_apart(tmp_path: Path) -> None:
    """The same target set forgotten for two servers is two entries (ids are one server's):
    each is added, the second not "forgotten already"; a run of one server's takes back
    that server's alone (spelt otherwise: the same server), and an entry written before
    entries named their server is taken back by a run of any."""
    at = datetime(2026, 11, 27, 15, 4, 3, tzinfo=UTC)
    mine = ForgottenSet("k", "--project 51", ("r1",), at, "http://a.example:8080")
    theirs = ForgottenSet("k", "--project 51", ("r2",), at, "http://b.example")
    assert add_forgotten(tmp_path, mine) and add_forgotten(tmp_path, theirs)
    assert not add_forgotten(tmp_path, mine)
    assert set(read_forgotten(tmp_path)) == {
        ("k", "http://a.example:8080"),
        ("k", "http://b.example:80"),
    }
    assert revive_set(tmp_path, "k", "HTTP://A.example:8080/") == mine
    assert list(read_forgotten(tmp_path).values()) == [theirs]
    older = {"key": "k", "targets": "--project 51", "runs": ["r1", "r2"], "at": 1_700_000_000}
    (tmp_path / "forgotten.json").write_text(json.dumps({"sets": [older]}))
    assert revive_set(tmp_path, "k", "http://b.example") is not None
    assert read_forgotten(tmp_path) == {}

"""FilesetAnswers: the ``paths`` answers held for the other images of a fileset stay
within their memory bound, whatever the size of each answer."""

from __future__ import annotations

import tracemalloc

from harvester.fileset_answers import FilesetAnswers

LIMIT = 1024 * 1024


def _answer(fileset: int) -> bytes:
    """A one-file fileset's answer, as IDR gives for a single-image fileset (~100 bytes)."""
    return (
        b'{"repo": ["demo_2/Fileset_%d/x/y.tif"], "client": ["a/y.tif"], "fileset": {"id": %d}}'
        % (fileset, fileset)
    )


def test_many_small_answers_hold_no_more_memory_than_the_bound() -> None:
    """A walk of 100,000 single-image filesets: the memory held (entries included, as
    tracemalloc counts it) stays within the bound; the latest answers are the ones held."""
    tracemalloc.start()
    try:
        held = FilesetAnswers(held_bytes=LIMIT)
        before = tracemalloc.get_traced_memory()[0]
        for fileset in range(900_000_000, 900_100_000):
            held.keep(fileset, _answer(fileset))  # each answer as it arrives
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown <= LIMIT * 1.1, grown
    last = 900_099_999
    assert held._held.get(last) == _answer(last)
    assert 900_000_000 not in held._held

"""The grouping of labels spelt several ways runs on every labelled index write, over every
distinct label: an index of a million images can have a million labels (one per well or
per image), nearly all of one spelling. A list and a tuple were made for each of them
(~240 bytes a label, and seconds of the write); now only labels met in a second spelling
get one. Measured with tracemalloc (no timing), as tests/unit/test_index_memory.py does.
"""

from __future__ import annotations

import tracemalloc

from harvester.label_spellings import spelling_groups

LABELS = 100_000


def test_labels_of_one_spelling_each_cost_no_list_of_their_own() -> None:
    """100,000 labels of one spelling and 10 of two: the 10 groups, and the grouping's peak
    stays under 160 bytes a label (its folded key and a dict slot; it was ~240)."""
    counts = {f"Gene{n:07d}": 1 for n in range(LABELS)}
    counts.update({f"gene{n:07d}": 2 for n in range(0, LABELS, LABELS // 10)})
    tracemalloc.start()
    try:
        groups = spelling_groups(counts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(groups) == 10
    assert groups[0] == [("gene0000000", 2), ("Gene0000000", 1)]
    assert peak < 160 * LABELS, peak

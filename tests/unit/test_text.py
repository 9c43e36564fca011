"""The counted words of messages read right for one and for many (harvester.text)."""

from __future__ import annotations

from harvester.text import agree, on_none_of, plural, the_counted


def test_on_none_of_reads_for_one_and_for_many() -> None:
    """One image: 'is not on the only image'; several: 'is on none of the 8 images'."""
    assert on_none_of(1, "image") == "is not on the only image"
    assert on_none_of(8, "image") == "is on none of the 8 images"
    assert on_none_of(2, "image found", "images found") == "is on none of the 2 images found"
    assert the_counted(1, "walked image") == "the only walked image"


def test_agree_picks_the_word_for_the_count() -> None:
    """'1 label is new', '2 labels are new', and other pairs given (it/they)."""
    assert [f"{plural(n, 'label')} {agree(n)} new" for n in (1, 2)] == [
        "1 label is new",
        "2 labels are new",
    ]
    assert agree(0) == "are"
    assert (agree(1, "it", "they"), agree(3, "it", "they")) == ("it", "they")

"""The counted words of messages read right for one and for many (harvester.text)."""

from __future__ import annotations

import os

from harvester.errors import redact_url
from harvester.text import agree, and_list, on_none_of, plural, shown_url, the_counted


def test_on_none_of_reads_for_one_and_for_many() -> None:
    """One image: 'is not on the only image'; several: 'is on none of the 8 images'."""
    assert on_none_of(1, "image") == "is not on the only image"
    assert on_none_of(8, "image") == "is on none of the 8 images"
    assert on_none_of(2, "image found", "images found") == "is on none of the 2 images found"
    assert the_counted(1, "walked image") == "the only walked image"


def test_and_list_joins_words_as_a_sentence_does() -> None:
    """One word alone, two with 'and', more with commas before the last 'and'."""
    assert [and_list(words) for words in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]


def test_agree_picks_the_word_for_the_count() -> None:
    """'1 label is new', '2 labels are new', and other pairs given (it/they)."""
    assert [f"{plural(n, 'label')} {agree(n)} new" for n in (1, 2)] == [
        "1 label is new",
        "2 labels are new",
    ]
    assert agree(0) == "are"
    assert (agree(1, "it", "they"), agree(3, "it", "they")) == ("it", "they")


def test_a_long_url_keeps_its_path_and_the_ends_of_its_query() -> None:
    """A URL of a few hundred characters is shown whole; a longer one keeps its path and
    the ends of its query around the count cut; one redacted first shows no secret."""
    short = "https://idr.example/webgateway/render_image/5/0/0/?c=1%7C0:255$FF0000&m=c"
    assert shown_url(short) == short
    channels = ",".join(f"{c}%7C0:200$FF0000" for c in range(1, 300))
    url = redact_url(f"https://idr.example/webgateway/render_image/5/0/0/?c={channels}&bsession=s3")
    line = shown_url(url)
    assert line.startswith("https://idr.example/webgateway/render_image/5/0/0/?c=1%7C0:200$")
    cut = len(url.partition("?")[2]) - 220
    assert f"…({cut:,} characters cut)…" in line and line.endswith("&bsession=REDACTED")
    assert len(line) < 300 and "=s3" not in line
    flat = "https://idr.example/" + "a/" * 400
    assert shown_url(flat) == f"{flat[:160]}…({len(flat) - 220:,} characters cut)…{flat[-60:]}"


def test_a_message_escapes_control_characters_and_shows_an_undecodable_byte_as_itself() -> None:
    """ESC, CR and tab are escaped as repr escapes them, line breaks kept, and a byte the
    locale could not decode (a lone surrogate, bare or in a repr) is shown as ``\\xe9``."""
    from harvester.text import quoted, shown, terminal_text

    latin1 = os.fsdecode(b"caf\xe9")
    assert terminal_text("a\x1b[2J\tb\rc\nd") == "a\\x1b[2J\\tb\\rc\nd"
    assert terminal_text(f"error: {latin1!r} and {latin1}") == "error: 'caf\\xe9' and caf\\xe9"
    assert shown(latin1) == "caf\\xe9" and quoted(latin1) == "'caf\\xe9'"
    assert quoted("a\\udce9") == "'a\\\\udce9'"  # (a backslash typed: its repr, unchanged)
    assert terminal_text(terminal_text("x\x07\x9b")) == "x\\x07\\x9b"  # (escaped once)

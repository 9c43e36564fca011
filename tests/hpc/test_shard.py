"""Shard assignment: complete, disjoint, balanced, stable across machines."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import UsageError
from harvester.runlock import lock_name
from harvester.shard import (
    MAX_SHARDS_NAMED,
    Shard,
    finer_parts,
    holders,
    in_shard,
    parse_shard,
    shard_commands,
    shard_of,
    shard_pair,
    split_count,
)

# Pinned values: any change of hash, encoding or reduction breaks these, which
# would silently reshuffle every running multi-shard harvest.
GOLDEN = {
    0: (1, 2, 789),
    1: (2, 2, 910),
    2: (0, 1, 100),
    3: (1, 4, 561),
    42: (2, 1, 738),
    1000: (2, 5, 474),
    2302: (0, 4, 544),
    1884807: (2, 5, 598),
    3414013: (0, 3, 512),
    9999999: (0, 0, 240),
    15000000: (1, 4, 129),
    123456789: (1, 1, 737),
}

# No example database: a .hypothesis folder in the repository root makes the
# next pytest run fail under filterwarnings=error (norecursedirs replaces ".*").
NODB = settings(database=None)

ids = st.integers(min_value=0, max_value=2**53)
counts = st.integers(min_value=1, max_value=64)


def test_golden_values_are_stable() -> None:
    """shard_of gives the pinned shards for 4, 7 and 1000 shards on every machine."""
    for image_id, (s4, s7, s1000) in GOLDEN.items():
        assert (shard_of(image_id, 4), shard_of(image_id, 7), shard_of(image_id, 1000)) == (
            s4,
            s7,
            s1000,
        ), image_id


def test_hash_is_blake2b_of_decimal_id() -> None:
    """The documented definition: BLAKE2b-64 of the decimal id, big-endian, modulo N."""
    digest = hashlib.blake2b(b"1884807", digest_size=8).digest()
    assert shard_of(1884807, 97) == int.from_bytes(digest, "big") % 97


@NODB
@given(ids, counts)
def test_exactly_one_shard_owns_each_image(image_id: int, n: int) -> None:
    """Complete and disjoint: exactly one k in 0..N-1 owns any image id."""
    owners = [k for k in range(n) if in_shard(image_id, k, n)]
    assert owners == [shard_of(image_id, n)]
    assert 0 <= owners[0] < n


@NODB
@given(ids, counts)
def test_shard_is_a_pure_function(image_id: int, n: int) -> None:
    """The same id and N give the same shard, whatever else was computed before."""
    first = shard_of(image_id, n)
    shard_of(image_id + 1, n + 1)
    assert shard_of(image_id, n) == first
    assert Shard(first, n).owns(image_id)


@settings(max_examples=8, deadline=None, database=None)
@given(
    start=st.integers(min_value=0, max_value=15_000_000),
    n=st.sampled_from([2, 3, 4, 7, 8, 16]),
)
def test_split_is_balanced_on_realistic_ranges(start: int, n: int) -> None:
    """Consecutive IDR-like ids (20,000 per shard) split within 5 % of the even share."""
    even = 20_000
    counter = Counter(shard_of(i, n) for i in range(start, start + even * n))
    assert set(counter) == set(range(n))
    # 5 % is 7 standard deviations of a fair split: a failure means a biased hash.
    assert max(abs(c - even) for c in counter.values()) <= 0.05 * even, counter


def test_balance_over_a_large_range_is_within_two_percent() -> None:
    """200,000 ids over 4 shards land within 2 % of 50,000 each."""
    counter = Counter(shard_of(i, 4) for i in range(1_000_000, 1_200_000))
    assert all(abs(c - 50_000) <= 1_000 for c in counter.values()), counter


@pytest.mark.parametrize(
    ("text", "k", "n"), [("0/4", 0, 4), ("3/4", 3, 4), (" 1 / 2 ", 1, 2), ("0/1", 0, 1)]
)
def test_parse_shard_accepts_k_of_n(text: str, k: int, n: int) -> None:
    """K/N with 0 <= K < N parses; str() gives the canonical form back."""
    shard = parse_shard(text)
    assert (shard.k, shard.n) == (k, n)
    assert str(shard) == f"{k}/{n}"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("4/4", "shard '4/4' is not a shard: the shard index K must be below N"
                " (use K/N with 0 <= K < N: the shards of 4 are 0/4 to 3/4)"),
        ("5/2", "shard '5/2' is not a shard: the shard index K must be below N"
                " (use K/N with 0 <= K < N: the shards of 2 are 0/2 and 1/2)"),
        ("1/1", "shard '1/1' is not a shard: the shard index K must be below N"
                " (use K/N with 0 <= K < N: the one shard of 1 is 0/1)"),
        ("0/0", "shard '0/0' is not a shard: the number of shards N must be at least 1"
                " (use K/N with 0 <= K < N: a 4-way split is 0/4, 1/4, 2/4 and 3/4)"),
        ("-1/4", "shard '-1/4' is not a shard: expected K/N, two whole numbers"
                 " (use K/N with 0 <= K < N: a 4-way split is 0/4, 1/4, 2/4 and 3/4)"),
        ("1", "shard '1' is not a shard: expected K/N"),
        ("a/b", "shard 'a/b' is not a shard: expected K/N"),
        ("1/2/3", "shard '1/2/3' is not a shard: expected K/N"),
        ("", "shard '' is not a shard: expected K/N"),
    ],
)  # fmt: skip
def test_parse_shard_rejects_bad_input_clearly(text: str, line: str) -> None:
    """Malformed or out-of-range shards raise one line naming the shard as given, what is
    wrong and the valid form (no hint line: the form is in the message)."""
    with pytest.raises(UsageError) as caught:
        parse_shard(text)
    assert str(caught.value).startswith(line)
    assert "(use K/N with 0 <= K < N" in str(caught.value)
    assert "\n" not in str(caught.value) and caught.value.hint is None


def test_lock_name_refuses_a_bad_shard_as_the_cli_words_it() -> None:
    """The run lock's own parse of a shard (no setting to name) says the CLI's words, not
    ``invalid shard``."""
    with pytest.raises(UsageError, match=r"^shard '3/2' is not a shard: the shard index K must"):
        lock_name("3/2")


def test_in_shard_rejects_out_of_range_k() -> None:
    """in_shard refuses k outside 0..N-1 and N below 1 instead of answering False, in the
    words of every shard refusal."""
    with pytest.raises(UsageError, match=r"^shard 4/4: the shard index K must be below N \(use"):
        in_shard(1, 4, 4)
    with pytest.raises(UsageError, match=r"^shard count 0: the number of shards N must be"):
        in_shard(1, 0, 0)


@pytest.mark.parametrize(
    ("text", "pair"),
    [("0/4", (0, 4)), (" 3 / 8 ", (3, 8)), ("4/4", None), ("1/0", None), ("bad", None),
     ("-1/4", None), ("", None)],
)  # fmt: skip
def test_shard_pair_reads_a_shard_back_or_none(text: str, pair: tuple[int, int] | None) -> None:
    """A journal's shard text is a (K, N) pair when parse_shard would take it, else None."""
    assert shard_pair(text) == pair


def test_holders_and_finer_parts_follow_the_hash() -> None:
    """The shard named as holding K/N holds each of its images, and the finer parts named
    hold exactly its images (0/2 holds 0/4 and 2/4; 1/2 is 1/4 and 3/4)."""
    ids = range(1, 3001)
    images = {(k, n): {i for i in ids if shard_of(i, n) == k} for n in (2, 4, 8) for k in range(n)}
    assert holders(2, 4, [2, 4, 8, 3]) == [(0, 2), (2, 4)]
    assert finer_parts(1, 2, [2, 4, 8, 3]) == [[(1, 4), (3, 4)], [(1, 8), (3, 8), (5, 8), (7, 8)]]
    for (k, n), own in images.items():
        for holder in holders(k, n, [2, 4, 8]):
            assert own <= images[holder]
        for parts in finer_parts(k, n, [2, 4, 8]):
            assert set().union(*(images[part] for part in parts)) == own


def test_split_count() -> None:
    """N of a saved K/N, None when it is no number."""
    assert split_count("3/16") == 16
    assert split_count("K/N") is None
    assert split_count("3") is None


def test_shard_commands_name_a_few_shards_else_k_of_n() -> None:
    """Up to MAX_SHARDS_NAMED shards: one command each; more (or none given): one command
    for K/N with the range of K; None: every shard of a small split."""

    def command(s: str) -> str:
        return f"harvester harvest --shard {s}"

    assert MAX_SHARDS_NAMED == 4
    assert shard_commands(command, "0/8", ["1/8", "5/8"], "  # note") == (
        "harvester harvest --shard 1/8; harvester harvest --shard 5/8  # note"
    )
    many = [f"{k}/8" for k in range(5)]
    assert shard_commands(command, "0/8", many) == (
        "harvester harvest --shard K/8, for each K from 0 to 7"
    )
    assert shard_commands(command, "0/8", [], "  # note") == (
        "harvester harvest --shard K/8, for each K from 0 to 7  # note"
    )
    assert shard_commands(command, "1/2", None) == (
        "harvester harvest --shard 0/2; harvester harvest --shard 1/2"
    )
    assert shard_commands(command, "1/8", None) == (
        "harvester harvest --shard K/8, for each K from 0 to 7"
    )
    assert shard_commands(command, "1/x", None) == (
        "harvester harvest --shard K/x, for each K from 0 to N-1"
    )

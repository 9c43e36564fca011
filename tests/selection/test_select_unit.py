"""Pure selection logic: condition grammar, matching, stable hash sampling, label cells."""

from __future__ import annotations

import random

import pytest

from harvester.errors import ConfigError
from harvester.models import ImageRef
from harvester.select import label_of, select_refs
from harvester.selection import Condition, Selection, image_hash, matches, parse_condition

LABELS = (("Gene Symbol", "CDK1"), ("Phenotype", "Mitotic arrest"), ("Phenotype", "misshapen DNA"))


def refs(n: int) -> list[ImageRef]:
    return [ImageRef(image_id=1000 + i) for i in range(n)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gene Symbol=CDK1", Condition("Gene Symbol", "=", "CDK1")),
        (" Phenotype ~ mitotic ", Condition("Phenotype", "~", "mitotic")),
        ("Gene Symbol!=CDK1", Condition("Gene Symbol", "!=", "CDK1")),
        ("URL=http://x/?a=b", Condition("URL", "=", "http://x/?a=b")),
    ],
)
def test_parse_condition(text: str, expected: Condition) -> None:
    """KEY=VALUE, KEY~TEXT and KEY!=VALUE parse; the first operator splits, values keep '='."""
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CDK1", "is not KEY=VALUE"),
        ("=CDK1", "has no key"),
        ("Gene Symbol=", "has no value"),
        ("Gene Symbol!= ", "has no value"),
    ],
)
def test_parse_condition_errors(text: str, message: str) -> None:
    """Bad terms are one-line ConfigErrors naming the term."""
    with pytest.raises(ConfigError, match=message) as info:
        parse_condition(text)
    assert "\n" not in str(info.value)


def test_same_key_is_or_different_keys_is_and() -> None:
    """Positive terms on one key are OR-ed; terms on different keys are AND-ed."""
    either = [parse_condition("Gene Symbol=PLK1"), parse_condition("Gene Symbol=CDK1")]
    assert matches(LABELS, either)
    both = [*either, parse_condition("Phenotype=centrosome defect")]
    assert not matches(LABELS, both)
    assert matches(LABELS, [*either, parse_condition("Phenotype=misshapen DNA")])


def test_contains_and_not_equal() -> None:
    """``~`` is a case-insensitive substring; ``!=`` excludes a value; keys ignore case."""
    assert matches(LABELS, [parse_condition("phenotype~MITOTIC")])
    assert not matches(LABELS, [parse_condition("Phenotype~spindle")])
    assert not matches(LABELS, [parse_condition("Gene Symbol!=CDK1")])
    assert matches(LABELS, [parse_condition("Gene Symbol!=PLK1")])
    assert matches((), [parse_condition("Gene Symbol!=CDK1")])  # no key: nothing to exclude
    assert not matches((), [parse_condition("Gene Symbol=CDK1")])
    assert not matches(LABELS, [parse_condition("Gene Symbol=cdk1")])  # values are exact


def test_sample_ignores_order_and_is_bottom_n_by_hash() -> None:
    """The sample is the N smallest hash(seed, id), whatever the order images arrive in."""
    pool = refs(500)
    selection = Selection(sample=20, seed=7)
    first = select_refs(pool, selection)
    shuffled = pool[:]
    random.Random(1).shuffle(shuffled)
    assert select_refs(shuffled, selection) == first
    expected = sorted(pool, key=lambda r: image_hash(7, r.image_id))[:20]
    assert {r.image_id for r in first} == {r.image_id for r in expected}
    assert [r.image_id for r in first] == sorted(r.image_id for r in first)
    assert select_refs(pool, Selection(sample=20, seed=8)) != first


def test_shards_partition_the_sample() -> None:
    """Sampling before sharding: the shards' selections are disjoint and add up to the sample."""
    pool = refs(300)
    whole = {r.image_id for r in select_refs(pool, Selection(sample=25, seed=3))}
    parts = [
        {r.image_id for r in select_refs(pool, Selection(sample=25, seed=3, shard=(k, 3)))}
        for k in range(3)
    ]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == 25


def test_fraction_is_streaming_and_nested() -> None:
    """A fraction keeps about F of the images, and a smaller F keeps a subset of a larger one."""
    pool = refs(4000)
    tenth = {r.image_id for r in select_refs(pool, Selection(fraction=0.1))}
    half = {r.image_id for r in select_refs(pool, Selection(fraction=0.5))}
    assert 300 < len(tenth) < 500
    assert tenth <= half
    assert len(select_refs(pool, Selection(fraction=1.0))) == 4000


def test_label_cell() -> None:
    """One key's distinct values join with ';', keys with '|'; no value at all -> empty."""
    assert label_of(LABELS, ["Phenotype"]) == "Mitotic arrest;misshapen DNA"
    assert label_of(LABELS, ["gene symbol", "Phenotype"]) == "CDK1|Mitotic arrest;misshapen DNA"
    assert label_of(LABELS, ["Missing", "Gene Symbol"]) == "|CDK1"
    assert label_of(LABELS, ["Missing"]) == ""

"""Labels spelt several ways: ``CDK5RAP2`` and ``cdk5rap2``, ``mitotic arrest`` and
``Mitotic  Arrest``, each a class of its own in ``labels.csv``.

A label is the annotation values as the server holds them, trimmed
(:func:`harvester.select.label_of`): case and inner spaces are kept. IDR's annotations
come from study sheets typed by hand, and one gene or phenotype is spelt differently across
wells or plates: each spelling then gets a ``label_id`` of its own, and a classifier learns
two classes for one thing. That was silent. Every index write with label keys now groups
the labels that are equal but for case and spacing (:func:`spelling_groups`) and warns once
per state of the folder (:func:`warn_spellings`, the ``said`` record of ``written.json``).

They are not merged: case can be meaning (a human gene ``CDK5RAP2``, the mouse one
``Cdk5rap2``), which spelling names a merged class would be a guess that changes when a new
spelling comes first, and ``labels.csv`` and pinned ids (:mod:`harvester.label_ids`) hold
exact labels. The warning says how to merge them where they are one class.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from harvester.errors import PROBLEMS_LOGGER
from harvester.select import KEY_SEPARATOR, VALUE_SEPARATOR, fold_spaces
from harvester.text import agree, plural, quoted

__all__ = ["GROUPS_SHOWN", "spelling_groups", "spellings_line", "warn_spellings"]

#: Groups named in the warning (the others counted); labels.csv lists them all.
GROUPS_SHOWN = 3
#: Spellings named in one group (the others counted).
SPELLINGS_SHOWN = 4
#: The name the warning is recorded by in ``written.json`` (once per state of the folder).
SAID_NAME = "label_spellings"

logger = logging.getLogger(__name__)
problems = logging.getLogger(PROBLEMS_LOGGER)


def _spelling_key(label: str) -> str:
    """What two spellings of one label share: each value case folded, runs of whitespace
    one space (as the ``--where`` ``did you mean`` compares values, :func:`fold_spaces`),
    and a key's values sorted again once folded.

    Why sorted again: :func:`harvester.select.label_of` sorts a key's values by code point,
    where capitals come first, so ``Big;alpha`` and ``Alpha;big`` (one image's two values
    spelt two ways) folded to ``big;alpha`` and ``alpha;big`` and were never said."""
    if VALUE_SEPARATOR not in label:
        return fold_spaces(label)
    return KEY_SEPARATOR.join(
        VALUE_SEPARATOR.join(sorted(fold_spaces(value) for value in part.split(VALUE_SEPARATOR)))
        for part in label.split(KEY_SEPARATOR)
    )


def spelling_groups(counts: Mapping[str, int]) -> list[list[tuple[str, int]]]:
    """The labels of ``counts`` (label -> images) equal to another but for case or spacing,
    in groups of two or more: the groups with the most images first, each spelling in a
    group by its images (most first), then by the label, so the order is the same each time.
    """
    # A list is made only for a key met twice: a list and a tuple for each of a million
    # labels (mostly one spelling each) took seconds of an index write (gc included).
    first: dict[str, str] = {}
    by_key: dict[str, list[tuple[str, int]]] = {}
    for label, images in counts.items():
        if not label or not images:
            continue
        key = _spelling_key(label)
        seen = first.setdefault(key, label)
        if seen is not label:
            by_key.setdefault(key, [(seen, counts[seen])]).append((label, images))
    groups = [
        sorted(spellings, key=lambda item: (-item[1], item[0])) for spellings in by_key.values()
    ]
    groups.sort(key=lambda group: (-sum(n for _, n in group), group[0][0]))
    return groups


def spellings_line(groups: list[list[tuple[str, int]]], labels_file: Path) -> str | None:
    """The warning for ``groups`` (:func:`spelling_groups`); None when there are none."""
    if not groups:
        return None
    shown = "; ".join(_group_text(group) for group in groups[:GROUPS_SHOWN])
    more = len(groups) - GROUPS_SHOWN
    if more > 0:
        shown += f"; and {plural(more, 'more label')} spelt so"
    spellings = sum(len(group) for group in groups)
    return (
        f"{plural(len(groups), 'label')} of {labels_file} {agree(len(groups))} spelt several "
        f"ways ({spellings} spellings that differ only in case or spacing), each spelling a "
        f"class of its own with its own label_id: {shown}; harvester does not merge them "
        "(case can be meaning: human CDK5RAP2, mouse Cdk5rap2): to train one as a single "
        "class, map its spellings' label_ids to one in the training code (README: Collecting "
        "training data)"
    )


def _group_text(group: list[tuple[str, int]]) -> str:
    """``'ECT2' 2 images, 'ect2' 1``: a group's spellings with their images."""
    parts = [
        f"{quoted(label)} {plural(images, 'image') if n == 0 else images}"
        for n, (label, images) in enumerate(group[:SPELLINGS_SHOWN])
    ]
    more = len(group) - SPELLINGS_SHOWN
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def warn_spellings(out_dir: Path, counts: Mapping[str, int] | None, labels_file: Path) -> None:
    """Warn about labels spelt several ways in the index just written, once per state of
    DIR: not again while the same groups and counts are there
    (:func:`harvester.index.said_before`; the caller holds DIR's index lock), again when
    they change. ``counts`` None (no label keys now): the record is dropped, so that the
    warning is said again when labels come back."""
    from harvester.index import said_before

    text = spellings_line(spelling_groups(counts), labels_file) if counts else None
    if said_before(out_dir, SAID_NAME, text):
        logger.info("%s (said by an earlier index write)", text)
    elif text is not None:
        problems.warning("%s", text)

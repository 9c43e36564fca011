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
exact labels. The warning says how to merge them where they are one class. A
``--sample N --sample-per KEY`` samples each spelling of KEY as a class of its own: the
run that draws it says so once (:func:`sample_spellings_line`), in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harvester.select import KEY_SEPARATOR, VALUE_SEPARATOR
from harvester.selection import fold_spaces
from harvester.text import agree, plural, quoted

__all__ = [
    "GROUPS_SHOWN",
    "sample_spellings_line",
    "spelling_groups",
    "spellings_line",
    "warn_spellings",
]

#: Groups named in the warning (the others counted); labels.csv lists them all.
GROUPS_SHOWN = 3
#: Spellings named in one group (the others counted).
SPELLINGS_SHOWN = 4
#: The name the warning is recorded by in ``written.json`` (once per state of the folder).
SAID_NAME = "label_spellings"


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


#: Why harvester does not merge them, as both warnings say it.
NOT_MERGED = "harvester does not merge them (case can be meaning: human CDK5RAP2, mouse Cdk5rap2)"


def spellings_line(groups: list[list[tuple[str, int]]], labels_file: Path) -> str | None:
    """The warning for ``groups`` (:func:`spelling_groups`); None when there are none."""
    if not groups:
        return None
    return (
        f"{plural(len(groups), 'label')} of {labels_file} {agree(len(groups))} "
        f"{_spelt_text(groups)}, each spelling a class of its own with its own "
        f"label_id: {_groups_text(groups, 'label')}; {NOT_MERGED}: to train one as a single "
        "class, map its spellings' label_ids to one in the training code (README: Collecting "
        "training data)"
    )


def sample_spellings_line(n: int, key: str, counts: Mapping[str, int]) -> str | None:
    """The warning when classes of ``--sample N --sample-per KEY`` (``counts``: each class's
    matching images) differ only in case or spacing; None when none do.

    Why: each spelling is sampled as a class of its own, so one gene typed three ways gets
    up to 3N images of a set meant to be balanced, and nothing said so until the index
    write warned of its labels (and not at all where the index is labelled by other keys).
    Said once per run, where the sample is (:func:`harvester.select.run_stage`), in the
    index warning's words."""
    groups = spelling_groups(counts)
    if not groups:
        return None
    return (
        f"--sample {n} --sample-per {quoted(key)}: {plural(len(groups), 'class', 'classes')} "
        f"{agree(len(groups))} {_spelt_text(groups)}, each spelling sampled as a "
        f"class of its own: {_groups_text(groups, 'class')}; {NOT_MERGED}: one that is a "
        f"single class gets up to {n} images per spelling (README: Collecting training data)"
    )


def _spelt_text(groups: list[list[tuple[str, int]]]) -> str:
    """``spelt several ways (12 spellings that differ only in case or spacing)``."""
    spellings = sum(len(group) for group in groups)
    return f"spelt several ways ({spellings} spellings that differ only in case or spacing)"


def _groups_text(groups: list[list[tuple[str, int]]], noun: str) -> str:
    """The first :data:`GROUPS_SHOWN` groups, then how many more of ``noun`` are spelt so."""
    shown = "; ".join(_group_text(group) for group in groups[:GROUPS_SHOWN])
    more = len(groups) - GROUPS_SHOWN
    if more > 0:
        many = "more classes" if noun == "class" else f"more {noun}s"
        shown += f"; and {plural(more, f'more {noun}', many)} spelt so"
    return shown


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
    (:func:`harvester.index.say_once`; the caller holds DIR's index lock), again when
    any of them changes, those past the ones named too. ``counts`` None (no label keys
    now): the record is dropped, so that the warning is said again when labels come back.

    Why every group's counts in the record, not the line's words alone: the line names the
    first :data:`GROUPS_SHOWN` groups and :data:`SPELLINGS_SHOWN` spellings of each, so a
    fourth group's new spelling or images changed nothing it said, and the warning, which
    README says comes back when they change, did not."""
    from harvester.index import say_once

    groups = spelling_groups(counts) if counts else []
    text = spellings_line(groups, labels_file)
    say_once(out_dir, SAID_NAME, text, recorded=None if text is None else f"{text}\n{groups!r}")

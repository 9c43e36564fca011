"""Training-data selection: which walked images a run fetches, and the labelled index.

Three filters sit between the walker's stream and the workers, in this order:

1. ``where`` -- conditions on the image's labels (map annotations of its well or
   image, :attr:`ImageRef.labels`). ``KEY=VALUE`` (exact), ``KEY~TEXT``
   (case-insensitive contains) and ``KEY!=VALUE`` (the image has no such
   value; an image without the key passes). Keys compare case-insensitively.
   Positive conditions on one key are OR-ed, every ``!=`` must hold, and
   different keys are AND-ed.
2. ``sample_fraction`` F -- keep an image iff ``hash(seed, id) / 2**64 < F``:
   streaming, decided per image.
3. ``sample`` N -- keep the N images with the smallest ``hash(seed, id)``: a
   bounded heap (memory O(N)), so the whole walk must finish before the first
   selected image goes to the workers. With ``sample_per`` KEY, the N smallest of
   each class: each distinct label of KEY alone (:func:`label_of`, as the ``label``
   column shows it: several values of the key are one class, ``a;b``). Images
   without KEY belong to no class and are not sampled (counted in the summary);
   a class with fewer than N images gives all of them (one warning counts such
   classes). Memory O(N x classes). KEY may name a context column of index.csv
   (``well_id``: one field per well), whose value is the class (:func:`class_of`).

``hash`` is blake2b of ``"<seed>:<image id>"`` (8 bytes, big-endian), so the
selection depends only on the set of walked images, never on walk order,
concurrency or timing, and a rerun selects the same images (which are then
skipped as done: no image request). Shard filtering (``--shard K/N``) comes
*after* these filters when any of them is active: every shard walks
everything, computes the same global selection and keeps its own part, so the
union over shards is exactly the single-process selection.

Labels on a resumed walk: without ``where`` or ``sample_per``, labels do not decide a
sample; they are needed only for the images this run may fetch (in its shard, in the
fraction, and for ``sample``, at or below the sample's edge: the largest ``(hash, id)`` it
kept). :class:`SampleReuse` gives the walker that test, so that a page whose
images are journaled or cannot be fetched by this run sends no annotation request.
The edge of a complete sample is kept in ``DIR/samples/<key>.json`` (the key: seed,
sample, fraction, ``sample_per`` when set, and targets), so a resumed shard, which holds
only its own images' records, knows which other images cannot be in the sample without
asking their labels again. The sample itself is computed from the walk as before: if the
catalogue changed, images kept beyond the recorded edge (images of the sample were
removed) get their labels asked after the walk, before they are fetched. With
``sample_per`` the labels decide, as with ``where``: an image's class is its labels, and
one whose labels were not asked may be of a short class (all of whose images are taken)
or of a new one, so no edge can rule it out and every walked image's labels are asked on
every run (as for ``where``, a page whose images are all journaled takes them from there).

The labelled index: with ``label_keys`` the index gains a ``label`` column (the
values of those keys, one key's values joined with ``;``, keys joined with
``|``) and a ``label_id`` column (0-based rank of the label among the distinct
non-empty labels, sorted, unless ``DIR/label_ids.json`` pins them: see
:mod:`harvester.label_ids`), and ``DIR/labels.csv`` lists every label with its
id and image count (the class balance). With a split recorded in ``DIR/split.json``
(:mod:`harvester.splits`) the index gains a ``split`` column after them (after the file
columns without label keys) and ``DIR/splits.csv`` counts images per split (and label).

A key of ``where`` or ``label_keys`` that no image has is almost always a typo
(``Phenotyp``): it would select nothing (or, with ``!=``, everything) or give
empty labels, and the run would still end with exit 0. :class:`KeyCensus`
notes the keys of the images seen (the walked images for ``where``, the
index's images for ``label_keys``) and a warning names each key found on
none of them, with the nearest known keys. Warnings, not errors: a key may
be on images of a later walk, and the exit code says whether the data was
fetched, not whether it was the data meant.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import os
import re
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Container,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from harvester.column_words import per_word_hint, where_word_hint
from harvester.errors import PROBLEMS_LOGGER, ConfigError
from harvester.layout import LABELS_NAME
from harvester.models import ImageRef, has_context
from harvester.plurals import number_forms, number_matched, same_but_number
from harvester.selection import (
    CONTEXT_KEYS,
    Condition,
    Labels,
    Selection,
    SelectStats,
    describe_where,
    distinct_keys,
    fold_key,
    fold_spaces,
    holds,
    image_hash,
    matches,
    names_context,
    no_longer_match_line,
    parse_condition,
    per_annotation,
    per_by_id_column,
    per_column,
    sample_per_token,
    term_can_name,
    unknown_by_id,
)
from harvester.splits import (
    SPLITS_FILE,
    SplitSpec,
    SplitTally,
    read_split_record,
    regrouped,
    say_damaged,
    split_gaps_line,
    splits_table,
)
from harvester.text import agree, on_none_of, plural, quoted, shown, the_counted

if TYPE_CHECKING:
    import threading

    from harvester.index import IndexRows
    from harvester.journal import JournalState
    from harvester.originals import OriginalsSummary

logger = logging.getLogger(__name__)
#: Misspelt keys: shown under --quiet too (errors.PROBLEMS_LOGGER).
problems = logging.getLogger(PROBLEMS_LOGGER)


#: Separators of the ``label`` column: between keys, and between one key's values.
KEY_SEPARATOR = "|"
VALUE_SEPARATOR = ";"
LABELS_FILE = LABELS_NAME
#: The values of a context column a warning lists, at most.
CONTEXT_VALUES_SHOWN = 10
#: The values of a context column kept for that warning while its ``=`` term matched none,
#: at most: ``image_id`` and ``image_name`` have one per image, and a walk of 1,000,000
#: images kept them all (some 150 MB) for a line that names 10.
CONTEXT_VALUES_KEPT = 1000
#: The distinct values of an annotation key kept for a term's "did you mean", at most: a
#: ``!=`` term whose value a study lacks (an exclusion list run over several) stays open
#: for the whole walk, and a key of one value per image held a million of them.
ANNOTATION_VALUES_KEPT = 100_000


# --------------------------------------------------------------------------- unknown keys
#: Known keys listed in a warning when none is close to the unknown one.
KNOWN_KEYS_SHOWN = 5
#: index.csv's columns that harvester writes after the selection (what each holds, what to
#: give instead): a ``--where`` or ``--sample-per`` key naming one was told only "known
#: keys: ...", as for a typo, and a user who read ``label`` in index.csv did not learn why.
WRITTEN_COLUMNS = {
    "label": ("the values of the --label-key keys", "give the annotation key it is made of"),
    "label_id": ("the rank of its label", "give the annotation key the label is made of"),
    "split": ("the --split drawn", "keep a split by its rows of index.csv when loading"),
}

#: The images a warning counts, as one and as many: ``("walked image", "walked images")``
#: (a count of 1 read "the 1 walked images").
Seen = tuple[str, str]


class KeyCensus:
    """Which of the ``wanted`` keys the images seen have, and which keys they have at all.

    Keys are compared as the selection compares them
    (:func:`~harvester.selection.fold_key`: stripped, case-insensitive). Cheap on the hot
    path: an image sharing the previous image's labels tuple (the fields of a well do) is
    only counted, and once every wanted key was seen no key is looked at any more (the key
    list is needed only for the suggestions of a warning).

    ``unasked``: ids of images whose labels were never fetched (``--no-labels``,
    :attr:`JournalState.labels_unasked`); such an image without labels says
    nothing about a key, so it is counted apart (:attr:`unasked`), not as seen.

    A key is seen only with a value that is not blank: a blank value is no label
    (:func:`label_of`), no class and matches no ``where`` term (an empty one is refused), so
    a key whose every value is blank is as missing as a misspelt one; it was counted as
    there, and ``--label-key`` or ``--sample-per`` on it gave empty labels or no sample
    without a word. Such keys are kept apart (:meth:`absent`) so the warning says why.
    """

    def __init__(self, wanted: Iterable[str], unasked: Container[int] = ()) -> None:
        self.wanted: dict[str, str] = {}  # folded -> the spelling asked for (first one)
        for key in wanted:
            self.wanted.setdefault(fold_key(key), key.strip())
        self._missing = set(self.wanted)
        self._unasked = unasked
        self.keys: dict[str, str] = {}  # folded -> first spelling seen (with a value)
        self._blank: dict[str, str] = {}  # folded -> first spelling seen, with blank values
        self.images = 0  # images whose labels are known
        self.unasked = 0  # images without labels because they were never asked
        self._last: object = None

    def see(self, ref: ImageRef, labels: Labels | None = None) -> None:
        """Count one image and note its keys (``labels``: what is compared, if not its own)."""
        labels = ref.labels if labels is None else labels
        if not labels and ref.image_id in self._unasked:
            self.unasked += 1
            return
        self.images += 1
        if labels is self._last or not self._missing:
            return
        self._last = labels
        keys = self.keys
        for key, value in labels:
            folded = fold_key(key)
            if folded in keys:
                continue
            if not value.strip():  # (no label: see the class docstring)
                self._blank.setdefault(folded, key.strip())
                continue
            keys[folded] = key.strip()
            self._missing.discard(folded)

    def watch(self, refs: Iterable[ImageRef]) -> Iterator[ImageRef]:
        """``refs`` unchanged, each one seen on its way through."""
        for ref in refs:
            self.see(ref)
            yield ref

    def missing(self) -> list[str]:
        """The wanted keys (as asked for) that no image seen has; none if no image was seen."""
        if not self.images:
            return []
        return [spelling for folded, spelling in self.wanted.items() if folded in self._missing]

    def absent(self, key: str, n: int, noun: str, many: str | None = None) -> str:
        """How a missing ``key`` is absent from the ``n`` images seen, as a warning says it:
        ``is on none of the 8 images``, or ``has only blank values on the 8 images``."""
        if fold_key(key) in self._blank:
            return f"has only blank values on {the_counted(n, noun, many)}"
        return on_none_of(n, noun, many)

    def hint(self, key: str) -> str:
        """``did you mean 'Phenotype'?``, or a few known keys when none is close."""
        if not self.keys:
            if self._blank:
                return "these images have no annotation with a value"
            return "these images have no annotations at all"
        import difflib  # only when a key is missing: not on every run's start-up

        written = WRITTEN_COLUMNS.get(fold_key(key))
        close = difflib.get_close_matches(fold_key(key), list(self.keys), n=3)
        if close and written is None:
            return "did you mean " + " or ".join(quoted(self.keys[k]) for k in close) + "?"
        which = "keys with values" if fold_key(key) in self._blank else "known keys"
        keys = f"{which}: {self.some_keys()}"
        if written is not None:
            holds, instead = written
            return (
                f"{quoted(key)} is a column harvester writes into index.csv ({holds}) after"
                f" the selection, no annotation of the images: {instead} ({keys})"
            )
        return keys

    def some_keys(self) -> str:
        """The keys seen, as a hint names them: the first :data:`KNOWN_KEYS_SHOWN` in
        alphabetical order (``'Gene Symbol', 'Phenotype' and 3 more``)."""
        known = sorted(self.keys.values(), key=str.casefold)
        some = ", ".join(quoted(k) for k in known[:KNOWN_KEYS_SHOWN])
        more = len(known) - KNOWN_KEYS_SHOWN
        return some + (f" and {more} more" if more > 0 else "")


def unknown_where_keys(
    where: Sequence[Condition], census: KeyCensus, seen: Seen, said: Sequence[str] = ()
) -> list[str]:
    """One warning line per ``where`` key on none of the images seen (``seen``: which ones).

    Says what the typo does: a ``=``/``~`` term on an absent key matches no image,
    a ``!=`` term excludes none. ``said``: keys whose absence another line tells (context
    columns of images given by id alone: no typo, and their annotation keys no help).
    """
    lines = []
    told = {fold_key(key) for key in said}
    for key in census.missing():
        if fold_key(key) in told:
            continue
        conds = [c for c in where if fold_key(c.key) == fold_key(key)]
        effect = (
            "no image matches it" if any(c.op != "!=" for c in conds) else "it excludes no image"
        )
        terms = ", ".join(shown(c) for c in conds)
        column = _near_column(key, census)
        hint = where_word_hint(key, conds) or (
            f"did you mean {quoted(column)}, a column of index.csv's context?"
            if column is not None
            else census.hint(key)
        )
        lines.append(
            f"--where key {quoted(key)} ({terms}) {census.absent(key, census.images, *seen)}, "
            f"so {effect}; {hint}"
        )
    return lines


def _near_column(key: str, census: KeyCensus) -> str | None:
    """The context column (:data:`CONTEXT_KEYS`) a missing ``where`` key is a slip of
    (``well_colum``, ``plateid``), where no annotation key of the images is near it too;
    else None. Why: such a key was answered with a list of annotation keys, none of them
    the column meant."""
    import difflib  # only when a key is missing: not on every run's start-up

    close = difflib.get_close_matches(fold_key(key), CONTEXT_KEYS, n=1, cutoff=0.8)
    if not close or difflib.get_close_matches(fold_key(key), list(census.keys), n=1):
        return None
    return close[0]


def unplaced_line(keys: Sequence[str], left_out: int, kept: int) -> str:
    """The warning for the images given by id that ``where`` judged without the context
    columns ``keys``, which no walk gave them (:data:`KNOWN_BY_ID`): ``left_out`` by an
    ``=`` or ``~`` term, ``kept`` through ``!=`` ones, as images without the column."""
    columns = " or ".join(quoted(key) for key in keys)
    judged = " and ".join(
        f"{count:,} {what}" for count, what in ((left_out, "left out"), (kept, "kept")) if count
    )
    return (
        f"--where: {plural(left_out + kept, 'image')} given by id (--image, --ids-from) had no "
        f"{columns} when selected (no walk placed them), judged as without it: {judged}; "
        "give their plate, screen or dataset instead"
    )


def unknown_per_key(census: KeyCensus, seen: Seen) -> list[str]:
    """The warning when the ``sample_per`` key is on none of the images seen (a typo): every
    image is then without a class, and the sample is empty."""
    return [
        f"--sample-per key {quoted(key)} {census.absent(key, census.images, *seen)}, so no image"
        f" has a class and none is sampled; {_per_hint(key, census)}"
        for key in census.missing()
    ]


def _per_hint(key: str, census: KeyCensus) -> str:
    """The hint of :func:`unknown_per_key` for ``key``: the context column it names in a
    plain word (``well``: ``well_id``) or is a slip of, the term it is written as, or the
    keys there. Why: ``--sample-per well`` (one image per well) listed annotation keys."""
    column = _near_column(key, census)
    near = f"did you mean {quoted(column)}, a column of index.csv's context?" if column else None
    return per_word_hint(key) or near or _term_per_hint(key, census) or census.hint(key)


def _term_per_hint(key: str, census: KeyCensus) -> str | None:
    """For a ``--sample-per`` KEY written as a ``--where`` term of a key there
    (``Phenotype=mitotic arrest``), the flags that say what it reads as; else None.

    Why: its warning listed the known keys, ``Phenotype`` among them, and left the user
    to see that a class is chosen by ``--where`` and balanced by ``--sample-per``."""
    try:
        cond = parse_condition(key)
    except ConfigError:
        return None
    known = census.keys.get(fold_key(cond.key))
    if known is None:
        return None
    return (
        f"--sample-per takes a key alone, whose values are the classes: --where"
        f" {quoted(str(cond))} keeps the images of that term, and --sample-per {quoted(known)}"
        " samples each class of the key"
    )


def unknown_label_keys(census: KeyCensus, seen: Seen) -> list[str]:
    """One warning line per label key on none of the images seen; none if no labels are known.

    Images whose labels were never fetched do not count: with only those, every
    key would look unknown, so one line says that instead.
    """
    if not census.images:
        if census.unasked:
            keys = ", ".join(quoted(k) for k in census.wanted.values())
            named = agree(len(census.wanted), "label key", "label keys")
            return [
                f"{named} {keys}: the labels of {the_counted(census.unasked, *seen)} were"
                " never fetched (--no-labels), so the label column is empty until a run with"
                " labels fetches them"
            ]
        return []
    missing = census.missing()
    every = len(missing) == len(census.wanted)
    lines = []
    for key in missing:
        effect = "every label is empty" if every else "its part of every label is empty"
        others = (
            f" (the labels of {census.unasked} more were never fetched)" if census.unasked else ""
        )
        lines.append(
            f"label key {quoted(key)} {census.absent(key, census.images, *seen)}{others}, "
            f"so {effect}; {census.hint(key)}"
        )
    return lines


class ValueCensus:
    """Whether each ``KEY=VALUE`` term of ``where`` matched a value of any image seen.

    Why: ``=`` is exact and case-sensitive, so ``--where 'Phenotype=Mitotic arrest'`` on a
    study whose value is ``mitotic arrest`` selected nothing, with exit 0 and no word (the
    key is right, so the misspelt-key warning says nothing). For each ``=`` term on no
    value, the census keeps a value of the same key equal to it but for case or spaces,
    for the warning (:meth:`lines`). Like :class:`KeyCensus`, a labels tuple shared with
    the previous image (the fields of a well) is not looked at again.

    ``!=`` terms are watched too: one whose value no image has excludes nothing, so a typo
    (``Phenotype!=mitotic arest``) or a label copied from ``labels.csv``
    (``Phenotype!=increased DNA area;mitotic delay``: an image's values joined with ``;``)
    left every image it was meant to remove in the training set, without a word.
    """

    def __init__(self, where: Sequence[Condition]) -> None:
        self._terms = [c for c in where if c.op in ("=", "!=")]
        self._hit: set[Condition] = set()
        self._near: dict[Condition, str] = {}
        self._last: object = None
        # folded key -> folded value -> the terms not matched yet (a long gene list stays
        # one dict lookup per label)
        self._open: dict[str, dict[str, list[Condition]]] = {}
        for cond in self._terms:
            by_value = self._open.setdefault(fold_key(cond.key), {})
            by_value.setdefault(fold_spaces(cond.value), []).append(cond)
        # folded key -> folded value -> a spelling seen: the values of the keys of open terms,
        # for a "did you mean" when a term matched nothing (``ECT3`` -> ``ECT2``).
        self._values: dict[str, dict[str, str]] = {}
        # folded key -> the values its '=' and '!=' terms give: never suggested for another
        # term of that key (``=ECT3`` beside ``=ECT2`` or ``!=ECT2`` was told "did you mean
        # ECT2?", a value the user had already given, or excluded).
        self._given: dict[str, set[str]] = {}
        for cond in where:
            if cond.op != "~":
                self._given.setdefault(fold_key(cond.key), set()).add(cond.value)
        # folded key -> bigram -> the kept values holding it (:meth:`_sharing`, at the end)
        self._bigram_index: dict[str, dict[str, list[str]]] = {}
        # The terms whose value reads as a label of several keys (``mitotic arrest|ECT2``,
        # copied from labels.csv of an index labelled by two keys), until an image holds
        # each part as a value of a key of its own; then their (key, value) pairs.
        self._label_terms = [
            c for c in self._terms if KEY_SEPARATOR in c.value and not names_context(c.key)
        ]
        self._keyed: dict[Condition, list[tuple[str, str]]] = {}

    def see(self, labels: Labels) -> None:
        """Note the values of one image."""
        if labels is self._last or not self._open:
            return
        self._last = labels
        if self._label_terms:
            self._see_label_terms(labels)
        for key, value in labels:
            by_value = self._open.get(fold_key(key))
            if by_value is None:
                continue
            kept = self._values.setdefault(fold_key(key), {})
            cap = CONTEXT_VALUES_KEPT if names_context(key) else ANNOTATION_VALUES_KEPT
            if len(kept) < cap:
                kept.setdefault(fold_spaces(value), value.strip())
            conds = by_value.get(fold_spaces(value))
            if conds is None:
                continue
            value = value.strip()
            for cond in conds:
                if value == cond.value:
                    self._hit.add(cond)
                else:
                    self._near.setdefault(cond, value)
            conds[:] = [c for c in conds if c not in self._hit]
            if not conds:
                del by_value[fold_spaces(value)]
                if not by_value:
                    del self._open[fold_key(key)]

    def _see_label_terms(self, labels: Labels) -> None:
        """Note which key of this image holds each part of the terms of
        :attr:`_label_terms`, where every part is a value of a key of its own (the term's
        key first where it holds one): the terms spelt as that image's label would be."""
        keys_of: dict[str, list[str]] = {}
        for key, value in labels:
            if term_can_name(key):  # (a key no term can name is no key to suggest)
                keys_of.setdefault(value.strip(), []).append(key.strip())
        for cond in list(self._label_terms):
            if cond in self._hit:
                continue
            pairs = self._label_pairs(cond, keys_of)
            if pairs:
                self._keyed[cond] = pairs
                self._label_terms.remove(cond)

    @staticmethod
    def _label_pairs(
        cond: Condition, keys_of: Mapping[str, Sequence[str]]
    ) -> list[tuple[str, str]]:
        """The (key, value) pairs of a term's value read as one image's label of several
        keys (``keys_of``: its keys by value): a part per key (``|``), of one or more values
        of that key (``;``, as the label column joins them: ``increased DNA area;mitotic
        delay|KIF18A``); each part's values on one key, each part on another; else none.
        An empty part (an image without that key) is no term: none either."""
        pairs: list[tuple[str, str]] = []
        for part in cond.value.split(KEY_SEPARATOR):
            values = [v.strip() for v in part.split(VALUE_SEPARATOR)]
            if not all(values):
                return []
            used = {fold_key(k) for k, _ in pairs}
            keys = [
                k
                for k in dict.fromkeys(keys_of.get(values[0], ()))
                if fold_key(k) not in used
                and all(fold_key(k) in map(fold_key, keys_of.get(v, ())) for v in values)
            ]
            if not keys:
                return []
            mine = [k for k in keys if fold_key(k) == fold_key(cond.key)]
            pairs += [((mine or keys)[0], value) for value in values]
        return pairs

    def matched(self, cond: Condition) -> bool:
        """Whether the ``=`` term ``cond`` matched a value of an image seen."""
        return cond in self._hit

    def _close(self, cond: Condition, cutoff: float = 0.6) -> list[str]:
        """Up to 3 values of the term's key spelt nearly like its value (a typo's suggestions).

        Above a cutoff of 0.8 (``!=``: only very close spellings) only the values sharing
        half the bigrams of the term's value are compared: a list of 200 absent exclusions
        on a study of 20,000 genes took 17 s of difflib at the end of the walk."""
        import difflib  # only when a term matched nothing: not on every run's start-up

        given = self._given.get(fold_key(cond.key), set())
        kept = self._values.get(fold_key(cond.key), {})
        if cutoff > 0.8:
            kept = {folded: kept[folded] for folded in self._sharing(cond)}
        values = {folded: value for folded, value in kept.items() if value not in given}
        close = difflib.get_close_matches(fold_spaces(cond.value), list(values), n=3, cutoff=cutoff)
        return [values[v] for v in close]

    def _slips(self, cond: Condition) -> list[str]:
        """The values of the term's key its value reads as a slip of: very near spellings
        (a 0.85 cutoff), not another name of a series (:func:`_sibling_names`: ``PLK4``
        beside ``PLK1`` is as likely another gene), and none for a context column (a field
        out of range is no typo). For a term whose absent value is news only if a slip: a
        list of genes or exclusions run over several studies names genes one lacks."""
        if names_context(cond.key):
            return []
        close = [v for v in self._close(cond, cutoff=0.85) if not _sibling_names(cond.value, v)]
        return list(dict.fromkeys([*self._other_number(cond), *close]))[:3]

    def _other_number(self, cond: Condition) -> list[str]:
        """The values of the term's key that are its value with one word in the other
        number (``nucleus`` for ``nuclei``: :mod:`harvester.plurals`), not given in another
        term. Why: they are a slip, not another class, but only 0.77 alike, below the
        cutoff of :meth:`_slips`, and ``large nuclei``, 0.88 alike, had its ``did you mean
        'large nucleus'`` taken away by the check for other words (:func:`_other_word`)."""
        given = self._given.get(fold_key(cond.key), set())
        kept = self._values.get(fold_key(cond.key), {})
        found = (kept.get(form) for form in sorted(number_forms(cond.value)))
        return [value for value in found if value is not None and value not in given]

    def _sharing(self, cond: Condition) -> set[str]:
        """The kept (folded) values of the term's key that share at least half the bigrams
        of its value: a spelling ``difflib`` rates 0.85 alike shares more (each slip breaks
        two at most). The key's bigram index is built once, when first asked."""
        key = fold_key(cond.key)
        index = self._bigram_index.get(key)
        if index is None:
            index = self._bigram_index[key] = {}
            for folded in self._values.get(key, {}):
                for gram in _bigrams(folded):
                    index.setdefault(gram, []).append(folded)
        grams = _bigrams(fold_spaces(cond.value))
        shared = Counter(folded for gram in grams for folded in index.get(gram, ()))
        need = max(1, len(grams) // 2)
        return {folded for folded, count in shared.items() if count >= need}

    def _seen(self, cond: Condition) -> str:
        """A context column's values seen (``0, 1, 2``: a field or well row out of range is
        no typo that a near spelling would name), numbers in order, at most 10."""
        values = sorted(
            self._values.get(fold_key(cond.key), {}).values(),
            # (ASCII digits alone: a name such as "²" is a digit to isdigit, not to int)
            key=lambda v: (0, int(v), v) if v.isascii() and v.isdigit() else (1, 0, v),
        )
        more = len(values) - CONTEXT_VALUES_SHOWN
        if len(values) >= CONTEXT_VALUES_KEPT:  # (not all were kept: their count is unknown)
            return ", ".join(values[:CONTEXT_VALUES_SHOWN]) + " and more"
        return ", ".join(values[:CONTEXT_VALUES_SHOWN]) + (f" and {more} more" if more > 0 else "")

    def lines(self, census: KeyCensus, seen: Seen, matched: int) -> list[str]:
        """One warning per ``=`` term whose key is known but whose value no image has.

        A value that is there but for case or spaces is named whatever else matched; a value
        simply absent is reported only when no image matched at all (``matched`` 0), or
        where it reads as a slip of a value there (:meth:`_slips`): a list of genes run over
        several studies would otherwise warn for each gene a study lacks.
        """
        if not census.images:
            return []
        missing = {fold_key(k) for k in census.missing()}  # those have their own warning
        lines = []
        for cond in self._terms:
            if cond in self._hit or fold_key(cond.key) in missing:
                continue
            near = self._near.get(cond)
            if near in self._given.get(fold_key(cond.key), ()):
                near = None  # given in another term already: no news, as an absent value
            # (a value there but for case is that value misspelt, not values joined)
            joined = self._joined(cond) if near is None else []
            if cond.op == "!=":
                if near is None and (line := self._excludes_none(cond, census, seen, joined)):
                    lines.append(line)  # (a spelling but for case: OtherSpellings says it)
                continue
            parts = [v.strip() for v in cond.value.split(",")]
            if near is None and matched and not joined:
                # Absent beside terms that matched: a gene a study lacks is no news, but a
                # value spelt nearly like one there is a slip that left its class out of the
                # set without a word (`Phenotype=mitotic dleay` beside `=mitotic arrest`),
                # told as a '!=' slip is.
                close = self._slips(cond) if len(parts) == 1 else []
                if not close:
                    continue
            else:
                # (its other number alone where there: `Mitotic Arrests` was told
                # "'mitotic arrest' or 'mitotic delay'", another class beside the slip)
                # (and never the opposite class: `decreased cell sizes`, matching nothing
                # on a study of `increased cell size`, was told that class, a set of the
                # other phenotype one paste away: _another_word)
                one = near is None and len(parts) == 1
                nearest = [v for v in self._close(cond) if not _another_word(cond.value, v)]
                close = (self._other_number(cond) or nearest) if one else []
            if joined:
                hint = self._joined_hint(cond, joined)
            elif near is not None:
                hint = f"did you mean {quoted(f'{cond.key}={near}')}?"
            elif names_context(cond.key) and (seen_values := self._seen(cond)):
                hint = f"the values of {quoted(cond.key)} there: {seen_values}"
            elif close:
                hint = "did you mean " + " or ".join(quoted(f"{cond.key}={v}") for v in close) + "?"
            elif len(parts) > 1 and all(parts):
                # `Gene Symbol=ECT2,PLK1`: a list, as other tools write one; ours is the term
                # repeated (terms on one key mean "any of").
                hint = "for any of several values repeat the term: " + " ".join(
                    f"--where {quoted(f'{cond.key}={v}')}" for v in parts
                )
            else:
                hint = (
                    f"'=' is exact and case-sensitive; {quoted(cond.key + '~TEXT')} matches a"
                    " part of a value in any case"
                )
            lines.append(
                f"--where {quoted(cond)}: no value of key {quoted(cond.key)} on"
                f" {the_counted(census.images, *seen)} is {quoted(cond.value)}, so this term"
                f" matches no image; {hint}"
            )
        return lines

    def _joined(self, cond: Condition) -> list[tuple[str, str]]:
        """The (key, value) pairs of a term's value that reads as several values joined as
        index.csv writes them: of its key (``increased DNA area;mitotic delay`` in the
        ``label`` column, ``mitotic delay | increased DNA area`` in an annotation column),
        each a value of the key on some image seen; or of several keys, as the ``label``
        column joins them (``mitotic arrest|ECT2``), held so by some image seen; else none."""
        separator = next((c for c in (VALUE_SEPARATOR, KEY_SEPARATOR) if c in cond.value), None)
        if separator is None or names_context(cond.key):  # (a context cell is one value)
            return []
        parts = [v.strip() for v in cond.value.split(separator)]
        known = set(self._values.get(fold_key(cond.key), {}).values())
        # (all, and not blank: a blank value seen made `a;` two values, and its terms held
        # `--where 'Phenotype!='`, which the command line refuses)
        if all(parts) and all(p in known for p in parts):
            return [(cond.key, part) for part in parts]
        return self._keyed.get(cond, [])

    def _joined_hint(self, cond: Condition, pairs: Sequence[tuple[str, str]]) -> str:
        """Why several values joined match nothing, and the terms there are."""
        if _several_keys(cond, pairs):
            return self._keys_joined_hint(cond, pairs, mixes=self._labels_of_keys() > 1)
        parts = [value for _, value in pairs]
        if cond.op == "=":
            does = (
                f"--where {quoted(f'{cond.key}={parts[0]}')} takes every image with that value,"
                " whatever others it has; to keep only images with all of them, filter"
                " index.csv's label column when loading"
            )
        else:
            terms = " ".join(f"--where {quoted(f'{cond.key}!={v}')}" for v in parts)
            does = f"{terms} excludes every image with any of them"
        # "reads as", not "is": the value may be one value of a study this run did not walk
        # (a list of terms run over several studies), which no image walked here holds.
        return (
            f"it reads as {len(parts)} values of the key joined, each a value on some of these"
            f" images, as index.csv writes an image's values ({VALUE_SEPARATOR!r} in its label"
            f" column, ' {KEY_SEPARATOR} ' in annotation columns); --where compares one value"
            f" at a time, so if it was copied from there, {does}"
        )

    def _labels_of_keys(self) -> int:
        """How many ``=`` terms matched nothing and read as a label of several keys."""
        return sum(
            1
            for cond, pairs in self._keyed.items()
            if cond.op == "=" and cond not in self._hit and _several_keys(cond, pairs)
        )

    @staticmethod
    def _keys_joined_hint(
        cond: Condition, pairs: Sequence[tuple[str, str]], *, mixes: bool = False
    ) -> str:
        """Why a label of several keys (``mitotic arrest|ECT2``: the ``label`` column of an
        index labelled by ``Phenotype`` and ``Gene Symbol``) matches nothing, and the terms
        that take or leave out its images. Why: its "did you mean 'Phenotype=mitotic
        arrest'" named a term that takes every gene's images of that phenotype.

        A key of several values in the label (``increased DNA area;mitotic delay|KIF18A``)
        has its first one's term for ``=``: terms on one key take any of their values, so
        its other values' terms would take images with only one of them. ``mixes``: another
        ``=`` term reads so too (several classes copied from labels.csv): their terms
        together, ``--where`` ORing each key's, would take the classes' mixes as well
        (``mitotic arrest`` with the other class's gene), said so."""
        of = ", ".join(f"{quoted(value)} of {quoted(key)}" for key, value in pairs)
        first: dict[str, tuple[str, str]] = {}
        for key, value in pairs:
            first.setdefault(fold_key(key), (key, value))
        if cond.op == "=":
            terms = " ".join(f"--where {quoted(f'{key}={value}')}" for key, value in first.values())
            if len(first) == len(pairs):
                does = (
                    f"{terms} takes the images with all of them (terms on different keys must"
                    " all hold)"
                )
            else:
                does = (
                    f"{terms} takes every image with those values, whatever others it has; to"
                    " keep only images with all of them, filter index.csv's label column when"
                    " loading"
                )
            if mixes:
                does += (
                    "; beside another such label's terms they would also take images mixing"
                    " the labels (terms on one key take any of its values): a run per class"
                    " into DIR keeps the classes apart"
                )
        else:
            terms = " ".join(f"--where {quoted(f'{key}!={value}')}" for key, value in pairs)
            does = (
                f"{terms} excludes every image with any of them; to leave out only the images"
                " with all of them, filter index.csv's label column when loading"
            )
        return (
            f"it reads as a label of {len(first)} keys joined by {KEY_SEPARATOR!r}, as"
            f" index.csv's label column writes one of several --label-key keys ({of} on an"
            f" image walked), and a term compares the values of its own key: {does}"
        )

    def _excludes_none(
        self, cond: Condition, census: KeyCensus, seen: Seen, joined: Sequence[tuple[str, str]]
    ) -> str | None:
        """The warning of a ``!=`` term whose value no image has, where it looks like a
        slip (a label of several values, a value spelt nearly like one there); a value
        merely absent from this study (an exclusion list run over several) is no news."""
        # (a close cutoff: an exclusion list run over several studies names absent genes,
        # and `PLK1` is as near `PLK4`, another gene, as a typo: no line for those)
        close = [] if joined else self._slips(cond)
        known = set(self._values.get(fold_key(cond.key), {}).values())
        listed = [v.strip() for v in cond.value.split(",")]
        if joined:
            hint = self._joined_hint(cond, joined)
        elif len(listed) > 1 and all(listed) and any(v in known for v in listed):
            # `Gene Symbol!=ECT2,PLK1`: a list, as for '=' (its "did you mean" named one);
            # one of its values there is enough (a plate with ECT2 and no PLK1 kept its
            # ECT2 images without a word, the list read as one value no image has)
            hint = "to exclude several values repeat the term: " + " ".join(
                f"--where {quoted(f'{cond.key}!={v}')}" for v in listed
            )
        elif close:
            hint = "did you mean " + " or ".join(quoted(f"{cond.key}!={v}") for v in close) + "?"
        else:
            return None
        return (
            f"--where {quoted(cond)}: no value of key {quoted(cond.key)} on"
            f" {the_counted(census.images, *seen)} is {quoted(cond.value)}, so this term"
            f" excludes no image; {hint}"
        )


def _several_keys(cond: Condition, pairs: Sequence[tuple[str, str]]) -> bool:
    """Do the (key, value) pairs a term's value reads as hold a key other than its own?"""
    return any(fold_key(key) != fold_key(cond.key) for key, _ in pairs)


def _bigrams(text: str) -> set[str]:
    """The pairs of adjacent characters of ``text`` (the text itself when shorter)."""
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def _sibling_names(given: str, seen: str) -> bool:
    """Whether two near values read as two names of one series, not a typo of one: they
    differ in digits alone (``ANAPC10``/``ANAPC11``, ``s123456``/``s123457``) or, in a
    name of no spaces, in its last character (``KIF18A``/``KIF18B``, ``SMARCA4``); or as
    other words, not a slip of one (:func:`_other_word`: ``decreased``).

    Why: a ``!=`` list run over several studies names genes one study lacks, and at the
    0.85 cutoff ``Gene Symbol!=ANAPC10`` on a study of ``ANAPC11`` was told "did you mean
    'Gene Symbol!=ANAPC11'?", another gene (a typo there cannot be told from it).

    A word in the other number is no other name (``nuclei``/``nucleus``, whose endings
    differ as ``in``/``d`` do: :mod:`harvester.plurals`), and is set aside before the
    rest is judged: ``decreased cell sizes`` beside ``increased cell size`` differed in two
    words, so in no one word, and was told the opposite class as its slip.
    """
    return _number_set_aside(_series_or_other_word, given, seen)


def _another_word(given: str, seen: str) -> bool:
    """Do two values differ in a word that is another word, not a slip (:func:`_other_word`:
    ``decreased``/``increased``), a word's number set aside as :func:`_sibling_names` sets
    it aside? Why apart from it: where nothing matched, the nearest values of the key are
    named (another gene of a series too: a user looking for the name), but never the
    opposite class."""
    return _number_set_aside(_differs_in_another_word, given, seen)


def _number_set_aside(judge: Callable[[str, str], bool], given: str, seen: str) -> bool:
    """``judge`` of two values with a word's number set aside (:mod:`harvester.plurals`):
    False where that is all they differ in; else ``judge`` of them as spelt, or of
    ``given`` with a word put in the number of ``seen``'s."""
    if same_but_number(given, seen):
        return False
    return judge(given, seen) or any(judge(form, seen) for form in number_matched(given, seen))


def _series_or_other_word(given: str, seen: str) -> bool:
    """:func:`_sibling_names` of two values as they are spelt (no word's number set aside)."""
    a, b = given.casefold().strip(), seen.casefold().strip()
    head = len(os.path.commonprefix([a, b]))
    tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
    rest_a, rest_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if all(c.isdigit() for c in rest_a + rest_b):
        return True
    if not tail and " " not in a and len(rest_a) <= 1 and len(rest_b) <= 1:
        return True
    return _differs_in_another_word(given, seen)


def _differs_in_another_word(given: str, seen: str) -> bool:
    """:func:`_another_word` of two values as they are spelt."""
    a, b = given.casefold().strip(), seen.casefold().strip()
    head = len(os.path.commonprefix([a, b]))
    tail = len(os.path.commonprefix([a[head:][::-1], b[head:][::-1]]))
    rest_a, rest_b = a[head : len(a) - tail], b[head : len(b) - tail]
    return _other_word(rest_a, rest_b, word_start=not head or not a[head - 1].isalnum())


def _other_word(rest_a: str, rest_b: str, *, word_start: bool) -> bool:
    """Whether the letters two near values differ in (``rest_a``, ``rest_b``: what is left
    of each once their common start and end are taken off) make another word of one, not
    a slip: they lie in one word and are more than a slip apart, as ``in``/``d`` of
    ``increased``/``decreased``, ``er``/``o`` of ``hyperactive``/``hypoactive``, or one
    starts a word with two letters or more where the other has none (``pro`` of
    ``prometaphase``; ``word_start``: they begin a word).

    Why: a phenotype list run over several studies names classes a study lacks, and at
    the 0.85 cutoff ``Phenotype=decreased cell size`` on a study of ``increased cell size``
    was told "did you mean 'Phenotype=increased cell size'?": the opposite class. A slip
    is one letter left out, doubled, changed or two swapped (``dleay``, ``centrosme``,
    ``arest``), two changes sharing letters (``centrsme``) or an ending (``ok``/``okay``):
    still named."""
    if " " in rest_a + rest_b or (not rest_a and not rest_b):
        return False
    if not rest_a or not rest_b:
        return word_start and len(rest_a + rest_b) >= 2
    slips = _slips_apart(rest_a, rest_b)
    return slips >= 3 or (slips == 2 and not set(rest_a) & set(rest_b))


def _slips_apart(a: str, b: str) -> int:
    """The fewest letters left out, added, changed or swapped with the next that make
    ``a`` into ``b`` (restricted Damerau-Levenshtein; both short: what two near values
    differ in)."""
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        now = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            now[j] = min(row[j] + 1, now[j - 1] + 1, row[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                now[j] = min(now[j], before[j - 2] + 1)
        before, row = row, now
    return row[-1]


#: Other spellings of a term's value whose images are counted apart (the rest together).
_HELD_KEPT = 64

#: Other spellings of a term's value named in its line (the first ones seen; one more is
#: looked for, to say that the terms suggested are not all it takes).
SPELLINGS_SHOWN = 3


class OtherSpellings:
    """The values of images seen that equal an ``=`` or ``!=`` term's value but for case or
    spacing (``ect2``, ``Ect2`` beside ``Gene Symbol=ECT2``).

    Why: ``=`` and ``!=`` are exact, and IDR's annotations spell one gene or phenotype
    differently across wells and plates. :class:`ValueCensus` names a near spelling only of
    a term that matched no image; one that matched some left the other spellings' images
    out (``!=``: kept) with no word, and a training set of one gene held a third of its
    wells. Terms on context columns (numbers, names of the walk) are not looked at.
    Like :class:`KeyCensus`, a labels tuple shared with the previous image is seen once.
    """

    def __init__(self, where: Sequence[Condition]) -> None:
        # folded key -> spelling key of the value -> its terms
        self._watch: dict[str, dict[str, list[Condition]]] = {}
        self._given: set[tuple[str, str]] = set()
        for cond in where:
            if cond.op == "~" or names_context(cond.key):
                continue
            by_value = self._watch.setdefault(fold_key(cond.key), {})
            by_value.setdefault(fold_spaces(cond.value), []).append(cond)
            self._given.add((fold_key(cond.key), cond.value))
        self._where = tuple(where)
        self._others: dict[Condition, dict[str, None]] = {}
        # term -> other spelling -> the images holding it (past _HELD_KEPT spellings, under
        # ""): the count in the line, so that more images spelt so say it again (its words
        # were the same for 1 image as for 300, and a run that said it once stayed silent)
        self._held: dict[Condition, Counter[str]] = {}
        self._last: object = None
        self._last_held: list[tuple[Condition, str]] = []

    def see(self, labels: Labels) -> None:
        """Note the values of one image."""
        if not self._watch:
            return
        if labels is self._last:  # (another field of the well: held as the last one)
            for cond, value in self._last_held:
                self._held[cond][value] += 1
            return
        self._last = labels
        self._last_held = []
        for key, value in labels:
            by_value = self._watch.get(fold_key(key))
            conds = by_value.get(fold_spaces(value)) if by_value is not None else None
            if not conds:
                continue
            value = value.strip()
            if (fold_key(key), value) in self._given:  # (a spelling a term gives: no news)
                continue
            for cond in conds:
                self._hold(cond, value)
                # (a spelling already named, or enough named: not asked again, as for every
                # one of a million images spelt ``ect2`` two whole matches were run)
                others = self._others.get(cond, {})
                if value in others or len(others) > SPELLINGS_SHOWN:  # (one more: "others")
                    continue
                if self._decides(labels, key, value, cond):
                    self._others.setdefault(cond, others).setdefault(value, None)

    def _hold(self, cond: Condition, value: str) -> None:
        """Count this image as holding ``value``, a spelling of ``cond``'s value otherwise."""
        held = self._held.setdefault(cond, Counter())
        if value not in held and len(held) >= _HELD_KEPT:
            value = ""  # (memory bound: spellings past those kept are counted together)
        held[value] += 1
        self._last_held.append((cond, value))

    def _holding(self, cond: Condition, named: Iterable[str], more: bool) -> int:
        """The images seen holding the spellings ``named`` (``more``: any other spelling)."""
        held = self._held.get(cond, Counter())
        return held.total() if more else sum(held[v] for v in named)

    def _decides(self, labels: Labels, key: str, value: str, cond: Condition) -> bool:
        """Whether the image with ``labels`` is selected otherwise than if its ``value`` of
        ``key`` were spelt as ``cond`` spells it: the spelling alone left it out (``=``) or
        kept it (``!=``), not another term. (Asked of other spellings only: rare.)"""
        spelt = tuple(
            (k, cond.value) if fold_key(k) == fold_key(key) and v.strip() == value else (k, v)
            for k, v in labels
        )
        return matches(labels, self._where) != matches(spelt, self._where)

    def lines(self, hit: Callable[[Condition], bool]) -> list[str]:
        """One warning per ``=`` term that matched (``hit``) and per ``!=`` term, whose value
        other images spell otherwise: what those images got, and the terms that take them
        too. (An ``=`` term that matched nothing has its ``did you mean``: ValueCensus.)"""
        lines = []
        for cond, others in self._others.items():
            if cond.op == "=" and not hit(cond):
                continue
            named = list(others)[:SPELLINGS_SHOWN]
            # (more spellings than named: the terms suggested are not all it takes, said so)
            more = len(others) > SPELLINGS_SHOWN
            spelt = (", " if more else " or ").join(quoted(v) for v in named)
            fate = "left out" if cond.op == "=" else "kept"
            verb = "select" if cond.op == "=" else "exclude"
            terms = " ".join(f"--where {quoted(f'{cond.key}{cond.op}{v}')}" for v in named)
            count = self._holding(cond, named, more)
            them = agree(len(named) + more, "it", "them")
            hold = (
                f"{plural(count, 'walked image', spec=',')} {agree(count, 'holds', 'hold')} {them}"
            )
            lines.append(
                f"--where {quoted(cond)}: {quoted(cond.op)} is exact and case-sensitive, so "
                f"images whose {quoted(cond.key)} is {spelt}{' or another spelling' * more} "
                f"(the same but for case or spacing; {hold})"
                f" are {fate}; to {verb} them too, add "
                f"{terms}{' and one such term for each other spelling' * more}"
            )
        return lines


class WhereParts:
    """How many walked images the terms of each key of ``where`` match on their own.

    Why: a selection that matched no image while every key and every ``=`` value of it is
    on some image (a ``~`` text misspelt, ``Phenotype~mitotik``; two terms no image holds
    together) selected nothing with exit 0 and, under ``--quiet``, not a word: the other
    warnings see only keys and ``=`` values that no image has. The counts say which term
    to fix. Like :class:`KeyCensus`, a labels tuple shared with the previous image (the
    fields of a well) is matched once.
    """

    #: Distinct values kept per key of a ``~`` term, for a "did you mean" (memory bound).
    VALUES_KEPT = 10_000

    def __init__(self, where: Sequence[Condition]) -> None:
        self._groups: dict[str, list[Condition]] = {}
        for cond in where:
            self._groups.setdefault(fold_key(cond.key), []).append(cond)
        self._counts = dict.fromkeys(self._groups, 0)
        # folded key of a '~' term -> folded value -> a spelling seen
        self._values: dict[str, dict[str, str]] = {
            key: {} for key, conds in self._groups.items() if any(c.op == "~" for c in conds)
        }
        self._last: object = None
        self._hits: tuple[str, ...] = ()

    def see(self, labels: Labels) -> None:
        """Count one walked image for each key whose terms it satisfies."""
        if labels is not self._last:
            self._last = labels
            if len(self._groups) > 1:  # (one key's count is the selection's: 0 when asked)
                self._hits = tuple(k for k, conds in self._groups.items() if matches(labels, conds))
            for key, value in labels:
                known = self._values.get(fold_key(key))
                if known is not None and len(known) < self.VALUES_KEPT and value.strip():
                    known.setdefault(fold_spaces(value), value.strip())
        for key in self._hits:
            self._counts[key] += 1

    def line(self, walked: int) -> str:
        """The warning when none of ``walked`` images matched every term ("" without terms)."""
        if not self._groups or not walked:
            return ""
        none = [key for key, count in self._counts.items() if not count]
        if none:
            terms = " and ".join(quoted(describe_where(self._groups[key])) for key in none)
            return (
                f"--where {terms} {_match_none(len(none), walked)}, so"
                f" no image is selected; {self._hint(none)}"
            )
        where = [c for conds in self._groups.values() for c in conds]
        counts = ", ".join(
            f"{quoted(describe_where(conds))} {plural(self._counts[key], 'image')}"
            for key, conds in self._groups.items()
        )
        return (
            f"--where {quoted(describe_where(where))} {_match_none(1, walked)}, so no image is"
            f" selected: the terms of each key match some on their own ({counts}), but no"
            " image matches them all (terms on different keys must all hold)"
        )

    def _hint(self, keys: Sequence[str]) -> str:
        """Values near the text of the first ``~`` term on no image, else how terms match."""
        for key in keys:
            values = self._values.get(key, {})
            for cond in self._groups[key]:
                if cond.op != "~":
                    continue
                if listed := _listed_texts(cond.value, values.values()):
                    # `Phenotype~mitotic,DNA`: a list, as other tools write one ("did you
                    # mean 'Phenotype~mitotic dela'", a cut value, was its hint)
                    return "for any of several texts repeat the term: " + " ".join(
                        f"--where {quoted(f'{cond.key}~{text}')}" for text in listed
                    )
                # (a plural whole, not `nucleu` cut from `nucleus` for `~nuclei`; never the
                # opposite class, `~increased cell` for `~decreased cell`: _another_word)
                close = _number_parts(cond.value, values.values()) or [
                    part
                    for part in _near_parts(fold_spaces(cond.value), values.values())
                    if not _another_word(cond.value, part)
                ]
                if close:
                    named = " or ".join(quoted(f"{cond.key}~{part}") for part in close)
                    return f"did you mean {named}?"
        return "'~' matches a part of a value in any case, '=' a whole value exactly"


class ContainsSlips:
    """The ``~`` terms on annotation keys that matched no walked image, in a selection that
    matched some, whose text reads as a slip of a part of a value there.

    Why: ``--where 'Phenotype~mitotic' --where 'Phenotype~centrosme'`` selected the mitotic
    images and left out every centrosome one without a word: :class:`WhereParts` speaks
    only where nothing matched, and terms on one key mean "any of". A text merely absent
    stays unsaid (a list of texts run over several studies names some a study lacks), as
    an absent ``=`` value does (:meth:`ValueCensus._slips`). Like :class:`KeyCensus`, a
    labels tuple shared with the previous image (the fields of a well) is looked at once.
    """

    #: How alike a part of a value must be to the text (difflib's ratio) to be named.
    CUTOFF = 0.85

    def __init__(self, where: Sequence[Condition]) -> None:
        self._open = [c for c in where if c.op == "~" and not names_context(c.key)]
        # folded key -> folded value -> a spelling seen (bounded as WhereParts keeps them)
        self._values: dict[str, dict[str, str]] = {fold_key(c.key): {} for c in self._open}
        self._last: object = None

    def see(self, labels: Labels) -> None:
        """Note the values of one image, and the terms they match."""
        if labels is self._last or not self._open:
            return
        self._last = labels
        for key, value in labels:
            kept = self._values.get(fold_key(key))
            if kept is None or not value.strip():
                continue
            if len(kept) < WhereParts.VALUES_KEPT:
                kept.setdefault(fold_spaces(value), value.strip())
            self._open = [
                c for c in self._open if not (fold_key(c.key) == fold_key(key) and holds(c, value))
            ]

    def lines(self, walked: int) -> list[str]:
        """One warning per ``~`` term on no image whose text is spelt nearly like a part of
        a value of its key; none for a key no image has (its own warning names it)."""
        import difflib  # only for a term that matched nothing

        lines = []
        for cond in self._open:
            values = self._values.get(fold_key(cond.key), {})
            text = fold_spaces(cond.value)
            close = _number_parts(cond.value, values.values()) or [
                part
                for part in (_near_parts(text, values.values()) if values else [])
                if difflib.SequenceMatcher(None, text, part.casefold()).ratio() >= self.CUTOFF
                and not _sibling_names(cond.value, part)
            ]
            if close:
                named = " or ".join(quoted(f"{cond.key}~{part}") for part in close)
                lines.append(
                    f"--where {quoted(cond)}: no value of key {quoted(cond.key)} on"
                    f" {the_counted(walked, 'walked image')} holds {quoted(cond.value)}, so"
                    f" this term matches no image; did you mean {named}?"
                )
        return lines


def _number_parts(text: str, values: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` parts of ``values`` that are ``text`` with one word in the other number
    (``large nucleus`` for ``~large nuclei``: :mod:`harvester.plurals`), as the values
    spell them. Why: a difflib part cut a word (``did you mean 'Phenotype~large nucleu'``),
    and a one-word text (``~nuclei``) was too short to be named at all."""
    forms = sorted(number_forms(text))
    found: dict[str, str] = {}
    for value in values:
        spaced = " ".join(value.split())
        folded = spaced.casefold()
        for form in forms:
            at = folded.find(form)
            if at < 0 or len(folded) != len(spaced):  # (casefold may change a length: ß)
                continue
            if not _cuts_words(spaced, at, at + len(form)):
                found.setdefault(form, spaced[at : at + len(form)])
        if len(found) >= n:
            break
    return list(found.values())[:n]


def _listed_texts(text: str, values: Iterable[str]) -> list[str]:
    """The texts of a ``~`` term's text that lists several (joined by ``,``, ``;`` or
    ``|``), one of them at least found in some value (case-blind, as ``~`` compares); else
    none. One is enough: ``Phenotype~mitotic,DNA`` on a plate with no DNA phenotype was
    told "did you mean 'Phenotype~mitotic dela'", a value cut short."""
    parts = [p.strip() for p in re.split(r"[,;|]", text)]
    if len(parts) < 2 or not all(parts):
        return []
    folded = [v.casefold() for v in values]
    found = any(any(p.casefold() in v for v in folded) for p in parts)
    return parts if found else []


#: Parts of values :func:`_near_parts` compares at most (about a second's work).
_NEAR_PARTS_BUDGET = 200_000


def _near_parts(text: str, values: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` parts of ``values`` spelt nearly like ``text``, best first, one per value.

    A ``~`` term matches a part of a value, so its typo is compared with the parts of each
    value about as long as it (``mitotik`` with the ``mitotic`` of ``mitotic arrest``; one
    letter more or less for a letter left out or doubled), not with whole values.
    """
    import difflib

    matcher = difflib.SequenceMatcher(b=text)
    near: dict[str, tuple[float, int, int, str]] = {}  # folded part -> its rank: one per value
    budget = _NEAR_PARTS_BUDGET
    for value in values:
        if budget <= 0:
            break  # (a hint, not a search: long values by the thousand would take seconds)
        best: tuple[float, int, int, str] | None = None
        for size in {len(text) - 1, len(text), len(text) + 1} - {0}:
            budget -= max(1, len(value) - size + 1)
            for start in range(max(1, len(value) - size + 1)):
                part = value[start : start + size]
                if part != part.strip():
                    continue
                matcher.set_seq1(part.casefold())
                if matcher.real_quick_ratio() < 0.75 or matcher.quick_ratio() < 0.75:
                    continue
                # letters in common over the longer of the two, then the length of the typo:
                # a shorter part of it (`mitoti` of `mitotik`) does not beat `mitotic`;
                # then a part of whole words (`decreased cell` was told `creased cell s`
                # of `increased cell size`, not `increased cell`: a word cut in two)
                same = sum(block.size for block in matcher.get_matching_blocks())
                cut = _cuts_words(value, start, start + size)
                rank = (-same / max(size, len(text)), abs(size - len(text)), cut, part)
                if rank[0] <= -0.75 and (best is None or rank < best):
                    best = rank
        if best is not None and best[3].casefold() not in near:
            near[best[3].casefold()] = best
    return [rank[3] for rank in sorted(near.values())[:n]]


def _cuts_words(value: str, start: int, end: int) -> int:
    """How many words of ``value`` its part ``value[start:end]`` cuts in two (0 to 2)."""
    cut_start = 0 < start < len(value) and value[start - 1].isalnum() and value[start].isalnum()
    cut_end = 0 < end < len(value) and value[end - 1].isalnum() and value[end].isalnum()
    return int(cut_start) + int(cut_end)


class BottomN:
    """The ``n`` images with the smallest ``(hash, id)``, kept in a bounded max-heap."""

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self._heap: list[tuple[int, int, ImageRef]] = []  # (-hash, -id, ref)
        #: The images offered (a per-class sample's class sizes, for its spellings line).
        self.offered = 0

    def offer(self, ref: ImageRef) -> None:
        self.offered += 1
        item = (-image_hash(self.seed, ref.image_id), -ref.image_id, ref)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, item)
        elif item[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, item)

    def __len__(self) -> int:
        return len(self._heap)

    def result(self) -> list[ImageRef]:
        """The kept images in image-id order (deterministic, good disk locality)."""
        return sorted((ref for _h, _i, ref in self._heap), key=lambda r: r.image_id)


class BottomNPerClass:
    """The ``n`` images with the smallest ``(hash, id)`` of each class of ``key``: an
    annotation key, or a context column of index.csv (:func:`class_of`).

    An image's class is its label for ``key`` alone (:func:`label_of`): what the ``label``
    column of index.csv shows with ``--label-key KEY``, so that labels.csv counts exactly
    the classes sampled (several values of the key are one class, ``a;b``, as there).
    Images without the key are in no class: counted (:attr:`unclassed`), not sampled.
    The same hash as :class:`BottomN`, so each class's pick depends only on which images
    of it the walk found.
    """

    def __init__(self, n: int, seed: int, key: str) -> None:
        self.n = n
        self.seed = seed
        self.key = key
        self.classes: dict[str, BottomN] = {}
        self.unclassed = 0
        self._column = per_column(key) is not None
        # The fields of a well share one labels tuple: its label is made once.
        self._last: object = None
        self._label = ""

    def offer(self, ref: ImageRef) -> None:
        if self._column:
            self._label = class_of(ref, self.key)
        elif ref.labels is not self._last:
            self._last = ref.labels
            self._label = class_of(ref, self.key)
        if not self._label:
            self.unclassed += 1
            return
        bottom = self.classes.get(self._label)
        if bottom is None:
            bottom = self.classes[self._label] = BottomN(self.n, self.seed)
        bottom.offer(ref)

    def result(self) -> list[ImageRef]:
        """Every class's kept images, in image-id order."""
        kept = (ref for bottom in self.classes.values() for ref in bottom.result())
        return sorted(kept, key=lambda r: r.image_id)

    def short(self) -> dict[str, int]:
        """The classes with fewer than ``n`` images (all of them kept): label -> images."""
        return {label: len(b) for label, b in self.classes.items() if len(b) < self.n}

    def spellings_line(self) -> str | None:
        """The warning when classes differ only in case or spacing (each spelling sampled
        as a class of its own: :func:`harvester.label_spellings.sample_spellings_line`);
        None for none, and for a context column's classes (two plates named ``P1`` and
        ``p1`` are two plates, not one spelt two ways)."""
        if self._column or len(self.classes) < 2:
            return None
        from harvester.label_spellings import sample_spellings_line  # (it imports this module)

        sizes = {label: bottom.offered for label, bottom in self.classes.items()}
        return sample_spellings_line(self.n, self.key, sizes)


#: Short classes named in the warning about them.
SHORT_CLASSES_SHOWN = 3


def short_classes_line(n: int, key: str, short: Mapping[str, int], classes: int) -> str:
    """The one warning when classes of ``--sample N --sample-per KEY`` have fewer than N images.

    Why one line, and under ``--quiet``: a balanced training set that is not balanced is
    what the user must know before training, and one run per class said it once per short
    class; the count and the smallest classes are enough to decide (labels.csv has all).
    """
    ranked = sorted(short.items(), key=lambda item: (item[1], item[0]))
    named = ", ".join(f"{quoted(label)}: {count}" for label, count in ranked[:SHORT_CLASSES_SHOWN])
    more = len(ranked) - SHORT_CLASSES_SHOWN
    if more > 0:
        named += f" and {more} more"
    if classes == 1:
        which = "the only class"
    elif len(short) == classes:
        which = f"all {classes} classes"
    else:
        which = f"{len(short)} of the {classes} classes"
    # Every class short by as much is balanced still, with fewer images than asked: "not
    # balanced" there (--where field=0 --sample-per gene, one field a gene) was untrue.
    # One class is no imbalance either: the sample is smaller than asked, no more.
    sizes = set(short.values())
    if classes == 1:
        end = ""
    elif len(short) == classes and len(sizes) == 1:
        end = f"; every class has {plural(sizes.pop(), 'image')}, fewer than asked"
    else:
        end = "; the classes are not balanced"
    return (
        f"--sample {n} --sample-per {quoted(key)}: {which} {agree(len(short), 'has', 'have')} fewer"
        f" than {n} images, so all of {agree(len(short), 'its', 'their')} images are taken"
        f" ({named}){end}"
    )


@dataclass(frozen=True, slots=True)
class SampleEdge:
    """The last image of a complete sample: the largest ``(hash, id)`` :class:`BottomN` kept.

    Every image of the same walk at or below it is in the sample, none above it.
    """

    hash: int
    image_id: int

    @classmethod
    def of(cls, seed: int, refs: Iterable[ImageRef]) -> SampleEdge | None:
        """The edge of a sample (None when it is empty)."""
        top = max(((image_hash(seed, r.image_id), r.image_id) for r in refs), default=None)
        return None if top is None else cls(*top)

    def covers(self, seed: int, image_id: int) -> bool:
        """Is ``image_id`` at or below the edge (in the sample, if it was walked)?"""
        return (image_hash(seed, image_id), image_id) <= (self.hash, self.image_id)


#: Where the edges of complete samples are kept: ``DIR/samples/<key>.json``.
SAMPLES_DIR = "samples"
_SAMPLE_RECORD_VERSION = 1


def sample_key(selection: Selection, targets: Mapping[str, Any]) -> dict[str, Any]:
    """What decides a sample besides the catalogue: seed, size, fraction, targets, and the
    class key of a per-class sample (only when set: the records of plain samples keep their
    names), so that no edge of one kind of sample is ever read for the other."""
    key: dict[str, Any] = {
        "seed": selection.seed,
        "sample": selection.sample,
        "fraction": selection.fraction,
        "targets": {k: v for k, v in sorted(targets.items()) if v},
    }
    if selection.sample_per:
        key["sample_per"] = sample_per_token(selection.sample_per)
    return key


def sample_record_path(out_dir: Path, key: Mapping[str, Any]) -> Path:
    """``DIR/samples/<16 hex digits of the key's sha256>.json``."""
    canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    name = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Path(out_dir) / SAMPLES_DIR / f"{name}.json"


def read_sample_edge(out_dir: Path, key: Mapping[str, Any]) -> SampleEdge | None:
    """The edge recorded for ``key`` (None: none, unreadable, or made for another key)."""
    path = sample_record_path(out_dir, key)
    try:
        data = json.loads(path.read_bytes())
        if data.get("version") != _SAMPLE_RECORD_VERSION:
            return None
        # The key is stored in full: a digest clash or a hand-edited file is not trusted.
        same = json.dumps(data.get("key"), sort_keys=True, default=str) == json.dumps(
            dict(key), sort_keys=True, default=str
        )
        edge = data.get("edge")
        if not same or not isinstance(edge, dict):
            return None
        hash_value, image_id = int(str(edge["hash"]), 16), edge["image_id"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.debug("sample record %s not used: %s", path, exc)
        return None
    if isinstance(image_id, bool) or not isinstance(image_id, int):
        return None
    return SampleEdge(hash_value, image_id)


def write_sample_edge(
    out_dir: Path, key: Mapping[str, Any], edge: SampleEdge, walked: int, run_id: str
) -> Path:
    """Record the edge of a complete sample for ``key`` (atomically; OSError on failure)."""
    from harvester.store import atomic_write_bytes

    path = sample_record_path(out_dir, key)
    record = {
        "version": _SAMPLE_RECORD_VERSION,
        "key": dict(key),
        "edge": {"hash": f"{edge.hash:016x}", "image_id": edge.image_id},
        "walked": walked,
        "run": run_id,
    }
    data = (json.dumps(record, indent=1, sort_keys=True, default=str) + "\n").encode()
    atomic_write_bytes(Path(out_dir), path, data)
    return path


class SampleReuse:
    """Labels asked only for images this run may fetch, and an earlier sample's edge reused.

    Made by the pipeline for a walking run with labels and a ``sample`` or
    ``sample_fraction`` but no ``where`` (:meth:`for_run`). The walker takes
    :attr:`needed` (which images need labels); the selection stage calls
    :meth:`complete` once the sample is known: images kept beyond the recorded edge
    whose labels the walk did not ask (the catalogue lost images of the earlier sample)
    get them asked through :attr:`ask` (the walker's ``labels_of``), and the edge is
    recorded when it is new.
    """

    def __init__(
        self, selection: Selection, out_dir: Path, run_id: str, key: Mapping[str, Any]
    ) -> None:
        self.selection = selection
        self.out_dir = Path(out_dir)
        self.run_id = run_id
        self.key = dict(key)
        self.edge: SampleEdge | None = None
        #: Write the edge when it is new (not in a dry run, which writes nothing).
        self.record = True
        self.needed: Callable[[int], bool] | None = selection.labels_needed()
        #: Asks the labels of refs; None when that failed (the walker recorded the failure).
        self.ask: Callable[[list[ImageRef]], Awaitable[list[ImageRef] | None]] | None = None

    @classmethod
    async def for_run(
        cls, cfg: Any, selection: Selection, out_dir: Path, run_id: str
    ) -> SampleReuse | None:
        """The reuse of a run of ``cfg`` (a HarvestConfig), None where it does not apply: where
        labels decide the selection (``where``, ``sample_per``), every image's are needed."""
        if not cfg.labels or cfg.from_plan is not None or selection.where:
            return None
        if selection.sample_per:
            return None
        if selection.sample is None and selection.fraction is None:
            return None
        targets: dict[str, Any] = {
            "screens": sorted(cfg.screens),
            "projects": sorted(cfg.projects),
            "plates": sorted(cfg.plates),
            "datasets": sorted(cfg.datasets),
            "images": sorted(cfg.images),
            # As the saved config has it (HarvestConfig.to_public): a relative path and the
            # absolute one a resume from DIR replays are one file, so one key.
            "ids_from": _ids_source(cfg.ids_from),
        }
        reuse = cls(selection, out_dir, run_id, sample_key(selection, targets))
        reuse.record = not cfg.dry_run
        if selection.sample is not None:
            reuse.edge = await anyio.to_thread.run_sync(read_sample_edge, reuse.out_dir, reuse.key)
            if reuse.edge is not None:
                logger.info(
                    "reusing the edge of an earlier complete sample: labels are asked only "
                    "for images at or below it"
                )
            reuse.needed = selection.labels_needed(reuse.edge)
        return reuse

    async def complete(self, kept: list[ImageRef], walked: int) -> list[ImageRef] | None:
        """``kept`` (the global sample) with labels for every image of this shard.

        None when asking the labels failed: the sample is then withheld, as for a failed
        listing. Records the sample's edge when it differs from the one read.
        """
        needed, selection = self.needed, self.selection
        if needed is not None:
            from harvester.walk import AskedRef

            missing = [
                r
                for r in kept
                if selection.in_shard(r.image_id)
                and not needed(r.image_id)
                and not r.labels
                and not isinstance(r, AskedRef)
            ]
            if missing:
                if self.ask is None:
                    return None
                logger.info(
                    "%d sampled images lie beyond the recorded sample edge (the catalogue "
                    "changed): asking their labels",
                    len(missing),
                )
                filled = await self.ask(missing)
                if filled is None:
                    return None
                by_id = {r.image_id: r for r in filled}
                kept = [by_id.get(r.image_id, r) for r in kept]
        if selection.sample is not None:
            edge = SampleEdge.of(selection.seed, kept)
            if self.record and edge is not None and edge != self.edge:
                try:
                    await anyio.to_thread.run_sync(
                        write_sample_edge, self.out_dir, self.key, edge, walked, self.run_id
                    )
                except OSError as exc:  # only a resume's saving is lost: warn, go on
                    logger.warning("could not record the sample's edge: %s", exc)
        return kept


def _ids_source(path: Path | None) -> str | None:
    """``--ids-from`` in a sample key: absolute (``-``, standard input, as it is)."""
    if path is None:
        return None
    return str(path if str(path) == "-" else Path(path).absolute())


def sampler(selection: Selection) -> BottomN | BottomNPerClass | None:
    """The sample of ``selection``: N in all, N per class, or None (no ``sample``)."""
    if selection.sample is None:
        return None
    if selection.sample_per:
        return BottomNPerClass(selection.sample, selection.seed, selection.sample_per)
    return BottomN(selection.sample, selection.seed)


def select_refs(refs: Iterable[ImageRef], selection: Selection) -> list[ImageRef]:
    """The synchronous form of :func:`run_stage` (tests, planning from lists)."""
    kept = [ref for ref in refs if selection.admits(ref)]
    bottom = sampler(selection)
    if bottom is not None:
        for ref in kept:
            bottom.offer(ref)
        kept = bottom.result()
    return [ref for ref in kept if selection.in_shard(ref.image_id)]


@dataclass(frozen=True)
class GoneInSample:
    """DIR's images recorded as gone from this run's server (``forget --gone-ids-from``),
    split by when they were recorded against when this run's sample was first drawn.

    Why the split: a sample's draw is by per-image keys (``hash(seed, id)``), so leaving
    the ``left_out`` images out of the candidates gives their places to the next-ranked
    images and keeps every other image drawn. But a sample drawn (and journaled) before
    an image was recorded as gone keeps it (``kept``): its resume fetches the sample it
    journaled, not a changed one, as its shards' earlier tasks did.
    """

    left_out: frozenset[int] = frozenset()
    kept: frozenset[int] = frozenset()


@dataclass
class LeftIndex:
    """The images each replay of a resume of several target sets took out of index.csv
    (:attr:`SelectStats.unlisted_ids`), said once every replay has run (:meth:`lines`).

    Why: a set replayed first unlists an image whose labels no longer match its terms, and
    a set replayed after it, whose terms the new labels match (a folder of one run per
    class), selects it and lists it again: the first set's line said "their rows left
    index.csv" of a row that had not left. Each replay tells what its journal state holds
    when it ends (:meth:`relisted`): an image of an earlier replay's line recorded as
    listed again is no longer counted."""

    #: Per replay that unlisted images: its terms, whether its index write was deferred
    #: (a shard's), and the ids not listed again since.
    pending: list[tuple[tuple[Condition, ...], bool, set[int]]] = field(default_factory=list)

    def relisted(self, state: JournalState) -> None:
        """Drop the ids ``state`` (a later replay's, at its end) holds as listed again: a
        record of it, not unlisted (a shard's state holds its own images alone: others stay)."""
        for _where, _deferred, ids in self.pending:
            ids -= {i for i in ids if i in state.images and i not in state.unlisted}

    def add(self, where: Sequence[Condition], ids: Iterable[int], *, deferred: bool) -> None:
        """Note a replay's images taken out (none: nothing to say)."""
        ids = set(ids)
        if ids:
            self.pending.append((tuple(where), deferred, ids))

    def lines(self) -> list[str]:
        """Each replay's line, of the images still out; and forget them (said once)."""
        said = [no_longer_match_line(len(ids), where, deferred=d) for where, d, ids in self.pending]
        self.pending.clear()
        return [line for line in said if line]


async def run_stage(
    selection: Selection,
    receive: ObjectReceiveStream[ImageRef],
    send: ObjectSendStream[ImageRef],
    stats: SelectStats,
    on_selected: Callable[[ImageRef], None] | None = None,
    walk_complete: Callable[[], bool] | None = None,
    reuse: SampleReuse | None = None,
    said_before: Collection[str] = (),
    on_sampled: Callable[[list[ImageRef]], Awaitable[None]] | None = None,
    gone: GoneInSample | None = None,
    in_index: Callable[[int], bool] | None = None,
    relabel: Callable[[ImageRef], Awaitable[bool]] | None = None,
) -> None:
    """Forward the selected images of ``receive`` to ``send``, then close both.

    Without ``sample`` every image is decided as it arrives; with ``sample``
    nothing is forwarded until ``receive`` ends (the walk finished). If
    ``walk_complete()`` then says some listing failed, the sample is withheld:
    the bottom N of part of the walk differ from the bottom N of all of it, so
    fetching them would put images into DIR that a complete rerun would not
    select. ``reuse``: labels for sampled images the walk did not ask (see
    :class:`SampleReuse`); the edge of the complete sample is recorded. ``said_before``:
    the digests (:func:`warning_digest`) of the selection's warnings (a ``--where`` term
    that matches nothing, ``--sample`` more than there is) that the last run of this
    selection said already: a line whose digest is among them is not said again (a balanced
    set's small classes said it on every resume, a misspelt term on every rerun; the caller
    tells which run's record counts). The lines, said or not, are left in
    ``stats.warning_lines`` (a sample's before ``on_sampled`` is called), for the walk's
    record.
    ``on_sampled``: given the sample's images of this shard, whole, before the first is
    forwarded (the pipeline journals them at once: see ``Harvest._journal_sample``).
    ``gone``: the images recorded as gone from the server (:class:`GoneInSample`): those
    recorded before the sample was first drawn are no candidates of the sample.
    ``in_index``: whether an image has a row in index.csv already; the walked ones that do
    and are not selected are counted in :attr:`SelectStats.passed_over` (for its note):
    counted, not kept (a set of the ids of a rerun of a million-image folder given a
    narrow ``--where`` held each of them, about 60 MB, for one number).
    ``relabel``: given each walked image of this shard that ``where`` (or the fraction)
    leaves out and that has a row (every one, where ``in_index`` is not given): journals
    the labels walked where the journal holds others, and says whether it left index.csv
    (its journaled labels matched: counted in :attr:`SelectStats.no_longer_match`). Why: no
    worker journals an image not selected, so its row kept labels the server no longer
    gives, listed as one of the selection.
    """
    stats.description = selection.describe()
    stats.passed_over = 0 if in_index is not None else None
    # (only a sample of N has places to give: where and a fraction decide image by image)
    left_out = gone.left_out if gone is not None else frozenset()
    bottom = sampler(selection)
    census = KeyCensus(c.key for c in selection.where)
    per_key = per_annotation(selection.sample_per) if selection.sample_per else None
    per_census = KeyCensus([per_key]) if per_key else None
    # A column of the walk's context an image given by id lacks: no class (counted, said).
    per_by_id = per_by_id_column(selection.sample_per)
    unplaced_per = 0
    values = ValueCensus(selection.where)
    spellings = OtherSpellings(selection.where)
    parts = WhereParts(selection.where)
    slips = ContainsSlips(selection.where)
    # Images given by id beside a walk (a run of ids alone is refused: HarvestConfig) have
    # none of these columns when selected: counted, for a warning (else left out unsaid).
    by_id_keys = unknown_by_id(selection.where)
    unplaced = [0, 0]  # (left out, kept: a '!=' term holds where a column has no value)

    async def forward(ref: ImageRef, had_row: bool | None = None) -> None:
        """Send ``ref`` on; ``had_row``: whether it had a row when walked (None: ask)."""
        if not selection.in_shard(ref.image_id):
            stats.out_of_shard += 1
            return
        await send.send(ref)
        stats.selected += 1
        if had_row is None and in_index is not None:
            # (a sampled image is asked now: nothing of it has been fetched since its walk)
            had_row = in_index(ref.image_id)
        if had_row and stats.passed_over is not None:
            stats.passed_over -= 1  # (counted when walked: selected after all)
        if on_selected is not None:
            on_selected(ref)

    stats.sampling = bottom is not None
    async with receive, send:
        async for ref in receive:
            stats.walked += 1
            had_row = in_index is not None and in_index(ref.image_id)
            if had_row and stats.passed_over is not None:
                stats.passed_over += 1  # (until it is selected)
            labels = selection.where_labels(ref)
            census.see(ref, labels)
            values.see(labels)
            spellings.see(labels)
            slips.see(labels)
            if not stats.matched:  # (its line is said only where no image matched: once one
                parts.see(labels)  # has, each image's terms matched for nothing)
            if per_census is not None:
                per_census.see(ref)
            admitted = selection.admits(ref)
            if by_id_keys and not has_context(ref):
                unplaced[admitted] += 1
            if not admitted:
                if (
                    relabel is not None
                    and (had_row or in_index is None)
                    and selection.in_shard(ref.image_id)
                    and await relabel(ref)
                ):
                    stats.no_longer_match += 1
                    if stats.unlisted_ids is not None:
                        stats.unlisted_ids.add(ref.image_id)
                continue
            stats.matched += 1
            if per_by_id and not has_context(ref):
                unplaced_per += 1
            if bottom is None:
                await forward(ref, had_row)
            elif ref.image_id in left_out and has_place(bottom, ref):
                stats.gone_left_out += 1  # (its place goes to the next-ranked image)
            else:
                bottom.offer(ref)
        stats.sampling = False  # (the walk ended: the sample is decided below)
        said = by_id_keys if sum(unplaced) == stats.walked else ()  # (every image by id)
        told = unknown_where_keys(selection.where, census, ("walked image", "walked images"), said)
        told += values.lines(census, ("walked image", "walked images"), stats.matched)
        told += spellings.lines(values.matched)
        if stats.matched:  # (where none matched, WhereParts names the term, below)
            told += slips.lines(stats.walked)
        if any(unplaced):
            told.append(unplaced_line(by_id_keys, *unplaced))
        if unplaced_per:
            told.append(unplaced_per_line(per_by_id, unplaced_per))
        if not told and not stats.matched and (line := parts.line(stats.walked)):
            told.append(line)  # (no key nor value is missing: the terms themselves match none)
        if per_census is not None:
            told += unknown_per_key(per_census, ("walked image", "walked images"))
        # Said unless the last run of this selection said these very words (said_before);
        # kept, said or not, for the walk's record, as the sample's lines below are. Once
        # each: a term given twice (`--where A=x --where A=x`) had its line said twice.
        told = list(dict.fromkeys(told))
        recorded = list(told)
        stats.warning_lines = tuple(recorded)
        say_new(told, said_before)
        if bottom is not None and walk_complete is not None and not walk_complete():
            kept = bottom.result()
            stats.withheld = len(kept)
            if kept:
                logger.warning(
                    "the walk was incomplete: the sample of %s is not fetched",
                    plural(len(kept), "image"),
                )
            else:  # ("the sample of 0 images is not fetched")
                logger.warning(
                    "the walk was incomplete, and none of the images it listed matched: "
                    "no sample is fetched"
                )
            bottom = None
        if bottom is not None:
            short = say_sample(bottom, stats, selection)
            # (a --sample-per key on no walked image at all was said above)
            key_seen = per_census is not None and not per_census.missing()
            empty = [
                unclassed_line(bottom, stats, selection) if key_seen else "",
                empty_column_line(bottom, stats, unplaced_per) if per_census is None else "",
            ]
            empty = [line for line in empty if line]
            recorded += empty
            stats.warning_lines = tuple(recorded)
            say_new(empty, said_before)
            sampled: list[ImageRef] | None = bottom.result()
            if reuse is not None and sampled:
                count = len(sampled)
                sampled = await reuse.complete(sampled, stats.walked)
                if sampled is None:
                    stats.withheld = count
                    logger.warning(
                        "the labels of sampled images could not be asked: the sample of %d "
                        "images is not fetched",
                        count,
                    )
            if gone is not None and sampled is not None:
                stats.gone_kept = sum(
                    1 for r in sampled if r.image_id in gone.kept and selection.in_shard(r.image_id)
                )
            spelt = bottom.spellings_line() if isinstance(bottom, BottomNPerClass) else ""
            lines = tuple(line for line in (short, spelt) if line)
            if sampled is not None:
                # (before on_sampled: its walk record keeps them)
                stats.warning_lines = (*recorded, *lines)
            if on_sampled is not None and sampled is not None:
                await on_sampled([r for r in sampled if selection.in_shard(r.image_id)])
            # Said once the sample is journaled (on_sampled: the walk recorded as ended), not
            # before: a run stopped in between had said it, and its resume, the first to
            # find the walk listed whole, said it again (see Harvest._sample_said_before).
            say_new(lines if sampled is not None else (), said_before)
            for ref in sampled or ():
                await forward(ref)


def has_place(bottom: BottomN | BottomNPerClass, ref: ImageRef) -> bool:
    """Could ``ref`` take a place in ``bottom``? Not an image without the class key of a
    per-class sample: counted as without it, not as a gone image left out."""
    return not isinstance(bottom, BottomNPerClass) or bool(class_of(ref, bottom.key))


def say_sample(bottom: BottomN | BottomNPerClass, stats: SelectStats, selection: Selection) -> str:
    """Log what the complete walk's sample takes and note a per-class sample's classes in
    ``stats``; the warning when the sample is short ("" when it is not), for the caller
    to say (not where the last run of the same draw said it: ``said_before``)."""
    if isinstance(bottom, BottomNPerClass):
        stats.per_key, stats.classes = bottom.key, len(bottom.classes)
        stats.unclassed = bottom.unclassed
        classes = plural(len(bottom.classes), "class", "classes")
        logger.info(
            "walk finished: sampling %d images of each of %s of %s (%d matching images)",
            bottom.n,
            classes,
            quoted(bottom.key),
            stats.matched,
        )
        short = bottom.short()
        if not short:
            return ""
        return short_classes_line(bottom.n, bottom.key, short, len(bottom.classes))
    logger.info("walk finished: sampling %d of %d matching images", bottom.n, stats.matched)
    # (every match recorded as gone: none sampled, said too, not silently with exit 0)
    if stats.matched and stats.matched - stats.gone_left_out < bottom.n:
        return short_sample_line(bottom.n, stats, bool(selection.where))
    return ""


def unclassed_line(
    bottom: BottomN | BottomNPerClass, stats: SelectStats, selection: Selection
) -> str:
    """The warning when images matched ``--where`` but none has the ``--sample-per`` key.

    Why: ``--where 'Gene Symbol=NEAT1' --sample 5 --sample-per Phenotype`` (no NEAT1 well
    has a phenotype) selected nothing with exit 0 and, under ``--quiet``, not a word: the key
    is on other walked images, so the misspelt-key warning says nothing.
    """
    if not isinstance(bottom, BottomNPerClass) or bottom.classes or not stats.matched:
        return ""
    if not selection.where:
        return ""  # (every walked image matched: the key is on none, said by unknown_per_key)
    match = agree(stats.matched, "matches", "match")
    return (
        f"--sample-per key {quoted(bottom.key)} {on_none_of(stats.matched, 'image')} that"
        f" {match} --where {quoted(describe_where(selection.where))}, so no image has a class"
        " and none is sampled"
    )


def unplaced_per_line(key: str, count: int) -> str:
    """The warning for the matching images given by id that ``--sample-per`` on the column
    ``key`` finds without it (no walk placed them): in no class, so none is sampled (as
    :func:`unplaced_line` says of ``where``)."""
    return (
        f"--sample-per: {plural(count, 'image')} given by id (--image, --ids-from) had no "
        f"{quoted(key)} when selected (no walk placed them), so {agree(count, 'it is', 'they are')}"
        " in no class and not sampled; give their plate, screen or dataset instead"
    )


def empty_column_line(bottom: BottomN | BottomNPerClass, stats: SelectStats, by_id: int) -> str:
    """The warning when ``--sample-per`` names a context column that no matching image has a
    value in (a project's images have no well or field): no class, nothing sampled, and
    exit 0 unsaid otherwise (the column is no annotation key, so no typo is said)."""
    if not isinstance(bottom, BottomNPerClass) or bottom.classes or not stats.matched:
        return ""
    if by_id == stats.matched:
        return ""  # (every match was given by id: unplaced_per_line said why)
    images = "matching image" if stats.matched < stats.walked else "walked image"
    return (
        f"--sample-per {quoted(bottom.key)}: the column is empty on"
        f" {the_counted(stats.matched, images, images + 's')} (a project's images have no"
        " plate, well or field), so no image has a class and none is sampled"
    )


def short_sample_line(n: int, stats: SelectStats, filtered: bool) -> str:
    """The warning when ``--sample N`` is more than the images there are to sample from.

    Why: ``--sample 500 --where 'Gene Symbol=ECT2'`` on a study with 4 such images took
    those 4 with exit 0, and said so only in the summary (not printed with ``--quiet``), so
    a training script could go on believing it had 500 images per class. (No image at all
    has the empty-selection warnings instead.)
    """
    if filtered or stats.matched < stats.walked:
        there = f"the {stats.matched} of the {plural(stats.walked, 'walked image')} that match"
    else:
        there = f"the {plural(stats.walked, 'walked image')}"
    if stats.gone_left_out:  # (no candidates: "all 4 of them" would count them in)
        there += f" but the {plural(stats.gone_left_out, 'image')} recorded as gone from the server"
    taken = stats.matched - stats.gone_left_out
    so = f"so the sample is all {taken} of them" if taken else "so no image is sampled"
    return f"--sample {n} is more than {there}, {so}"


def warning_digest(line: str) -> str:
    """A short digest of one of the selection's warnings, as a walk's record keeps it
    (``sample_said``): the next run of the same selection says the line again only where
    its text changed (another count of images, another server's), and the journal holds no
    server-given class names twice."""
    return hashlib.blake2b(line.encode("utf-8"), digest_size=8).hexdigest()


def say_new(lines: Iterable[str], said_before: Collection[str]) -> None:
    """Warn each of ``lines`` whose digest (:func:`warning_digest`) is not among
    ``said_before``: the warnings the last run of this selection, targets and shard said."""
    for line in lines:
        if warning_digest(line) not in said_before:
            problems.warning("%s", line)


@asynccontextmanager
async def selecting(
    selection: Selection,
    send: ObjectSendStream[ImageRef],
    stats: SelectStats,
    *,
    buffer: int = 1000,
    on_selected: Callable[[ImageRef], None] | None = None,
    walk_complete: Callable[[], bool] | None = None,
    reuse: SampleReuse | None = None,
    said_before: Collection[str] = (),
    on_sampled: Callable[[list[ImageRef]], Awaitable[None]] | None = None,
    gone: GoneInSample | None = None,
    in_index: Callable[[int], bool] | None = None,
    relabel: Callable[[ImageRef], Awaitable[bool]] | None = None,
) -> AsyncIterator[ObjectSendStream[ImageRef]]:
    """A send stream for the walker whose images reach ``send`` only if selected.

    The stage runs in a task of its own for the duration of the block; leaving
    the block closes the walker's end, the stage drains, flushes the sample
    and closes ``send``.
    """
    inner_send, inner_receive = anyio.create_memory_object_stream[ImageRef](buffer)
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            run_stage,
            selection,
            inner_receive,
            send,
            stats,
            on_selected,
            walk_complete,
            reuse,
            said_before,
            on_sampled,
            gone,
            in_index,
            relabel,
        )
        async with inner_send:
            yield inner_send


# --------------------------------------------------------------------------- labelled index
def class_of(ref: ImageRef, key: str) -> str:
    """``ref``'s class in a sample per ``key``: its column's value as index.csv shows it, or
    its label for the annotation key (:func:`label_of`); empty where it has none."""
    column = per_column(key)
    if column is None:
        return label_of(ref.labels, (per_annotation(key) or key,))
    value = getattr(ref, column)
    return "" if value is None or value == "" else str(value)


def label_of(labels: Labels, keys: Sequence[str]) -> str:
    """The ``label`` cell: per key its distinct values, sorted (``;``), keys joined by ``|``.

    Empty when the image has none of the keys (or only empty values of them); a missing
    key among several leaves an empty part so that positions stay meaningful. One key's values are
    sorted (by code point) because the server's order is not part of the label: two
    wells annotated ``a``, ``b`` and ``b``, ``a`` (annotations linked in another
    order) are one class, and gave two labels and two label ids when kept in order.
    """
    if not keys:
        return ""
    values: dict[str, list[str]] = {}
    for key, value in labels:
        bucket = values.setdefault(fold_key(key), [])
        value = value.strip()
        # An empty value (a blank cell of the study's sheet) is no value: beside a real one
        # it made a class of its own (`;mitotic arrest`), alone it already made no label.
        if value and value not in bucket:
            bucket.append(value)
    parts = [VALUE_SEPARATOR.join(sorted(values.get(fold_key(k), ()))) for k in keys]
    if not any(parts):
        return ""
    label = KEY_SEPARATOR.join(parts)
    if label.isascii():
        return label
    from harvester.index import as_written  # (a lone surrogate: the label as labels.csv has it)

    return as_written(label)


def recorded_label_keys(out_dir: Path, state: JournalState) -> tuple[str, ...]:
    """The label keys given last to DIR (so every index write given none keeps them).

    Those recorded by ``harvester index --label-key`` (``DIR/label_keys.json``; none after
    ``--no-label-key``) unless a run started later was given keys, else those of the newest
    run that set any: :func:`harvester.folder_settings.remembered_label_keys`.
    """
    from harvester.folder_settings import remembered_label_keys

    return remembered_label_keys(out_dir, state)


def absent_label_keys_refusal(
    out_dir: Path,
    keys: Sequence[str],
    state: JournalState,
    effect: str = "nothing was rewritten",
) -> tuple[str, list[str]] | None:
    """Why ``harvester index DIR --label-key KEY`` is refused, in one line: a given key that
    no image of DIR has (``Phenotyp``), with the keys they do have and the nearest; and
    those keys (as given). None when every key is on some image, or it cannot be told (no
    image, or labels never fetched). ``effect``: what the refusal spared, ending the line.

    Why: the index was rewritten with an empty ``label`` column and a ``labels.csv`` of no
    label (the good one kept only as ``labels.before-*``), for a typo, and exit 0.
    """
    from harvester import index
    from harvester.layout import index_path

    census = KeyCensus(keys, state.labels_unasked)
    for ref in index.IndexRows(state).refs():
        census.see(ref)
    missing = census.missing()
    if not missing or census.unasked:  # (unfetched labels may hold the key)
        return None
    seen = ("image in", "images in")
    where = index_path(out_dir)
    said = [f"{quoted(key)} {census.absent(key, census.images, *seen)} {where}" for key in missing]
    line = f"--label-key {'; '.join(said)}, so {effect}"
    near = [_nearest_key(key, census) for key in missing]
    if not census.keys or any(fold_key(key) in WRITTEN_COLUMNS for key in missing):
        line += f"; {census.hint(missing[0])}"
    else:
        line += f"; their keys: {census.some_keys()}"
        if any(near):
            named = [
                quoted(n) + ("" if len(missing) == 1 else f" for {quoted(key)}")
                for key, n in zip(missing, near, strict=True)
                if n is not None
            ]
            line += f"; did you mean {', '.join(named)}?"
    return line, missing


def _nearest_key(key: str, census: KeyCensus) -> str | None:
    """The key of the images seen closest to ``key`` (as they spell it), None if none is close."""
    import difflib  # only for a refusal: not on every index write's start-up

    close = difflib.get_close_matches(fold_key(key), list(census.keys), n=1)
    return census.keys[close[0]] if close else None


def write_labelled_index(
    out_dir: Path,
    label_keys: Sequence[str] | None = None,
    state: JournalState | None = None,
    *,
    absent: list[str] | None = None,
    written: list[Path] | None = None,
    pin_note: list[str] | None = None,
    pin_in_force: list[str] | None = None,
    partial: bool = False,
    splits: SplitTally | None = None,
    stop: threading.Event | None = None,
    originals: list[OriginalsSummary] | None = None,
    label_rows: list[int] | None = None,
) -> int:
    """Rebuild ``index.csv`` (plus ``label``/``label_id`` and ``labels.csv`` with label keys).

    ``label_keys=None``: the keys given last, by ``harvester index --label-key`` or a run
    (see :func:`recorded_label_keys`); none -> the plain index.
    ``state``: the journal state this process already holds (a harvest's ``Store.state``);
    only what other writers appended since it was loaded is read
    (:func:`harvester.index.current_state`). Returns the number of rows.
    ``absent``: gets the keys (as given) that no image has, where that can be told (every
    image's labels were fetched), for ``harvester index`` not to record a typo.
    ``written``: gets the tables written, ``index.csv`` and, with label keys, ``labels.csv``
    (a ``labels.csv`` left from an earlier write is removed without them), for the caller
    to name them.
    ``pin_note``: gets, when DIR's label ids are pinned (``DIR/label_ids.json``, see
    :mod:`harvester.label_ids`), the line saying what the pin did, for a caller that gave
    the pin now (and then no line about labels new since the previous labels.csv).
    ``pin_in_force``: gets that line too when DIR's ids are pinned but no pin was given now
    (``harvester index``, the SLURM index job, whose tasks recorded the pin silently); the
    line about labels new since the previous labels.csv is still warned.
    ``partial``: written by an interrupted run (recorded in ``written.json``): the next
    write compares its label ids with no such file (:func:`_renumbering`).
    ``splits``: gets the split and the images per split when DIR records a split
    (``DIR/split.json``, :mod:`harvester.splits`, read once here): the index then has a
    ``split`` column after the label columns, and ``splits.csv`` counts images per split
    (and label).
    ``stop``: set when the caller is stopping (a harvest's Ctrl-C): the wait for another
    writer's index lock is then given up, nothing written
    (:class:`~harvester.runlock.LockWaitStopped`).
    ``originals``: gets what :func:`harvester.originals.write_originals` wrote, in a folder
    with ``paths`` files (``originals.tsv`` and ``raw-urls.txt``, rewritten with the index).
    ``label_rows``: gets the number of labels ``labels.csv`` lists (the classes a model
    reads, pinned ids reserved included), for the caller's line, where one is written.

    Two passes over the state, no list of rows: the labels first (a ``label_id`` is the rank
    of its label among all of them, or the pinned id: :func:`harvester.label_ids.assign_ids`),
    then the rows, made while index.csv is written.

    All of it under DIR's index lock (:func:`harvester.index.index_lock`), from the reads of
    the journals, ``split.json``, ``label_ids.json`` and ``label_keys.json`` to the last
    table: those records are written under it too, so a write reads the records of one
    moment and its tables are not replaced by those of records read earlier. Why: a
    write that read ``split.json`` before ``harvester index --split B`` recorded B, and
    wrote its tables after that command's, left ``index.csv`` on the old split until the
    next write, ``split.json`` saying B.
    """
    from harvester.index import index_lock

    out_dir = Path(out_dir)
    with index_lock(out_dir, stop=stop):
        return _write_labelled_index(
            out_dir,
            label_keys,
            state,
            absent=absent,
            written=written,
            pin_note=pin_note,
            pin_in_force=pin_in_force,
            partial=partial,
            splits=splits,
            originals=originals,
            label_rows=label_rows,
        )


def _write_labelled_index(
    out_dir: Path,
    label_keys: Sequence[str] | None,
    state: JournalState | None,
    *,
    absent: list[str] | None,
    written: list[Path] | None,
    pin_note: list[str] | None,
    pin_in_force: list[str] | None,
    partial: bool,
    splits: SplitTally | None,
    originals: list[OriginalsSummary] | None = None,
    label_rows: list[int] | None = None,
) -> int:
    """:func:`write_labelled_index`'s work (the caller holds DIR's index lock)."""
    from harvester import index
    from harvester.formula_cells import warn_formula_cells
    from harvester.journal import paused_gc
    from harvester.label_ids import LABEL_IDS_FILE, assign_ids, folder_pin, pin_line
    from harvester.label_spellings import warn_spellings
    from harvester.layout import index_path
    from harvester.store import storage_error

    state = index.current_state(out_dir, state)
    # The first pass over the state, once for every table below: which kinds are done (the
    # lists of originals are made only where paths are, without a scan of their own).
    rows = index.IndexRows(state)
    if rows.paths:
        from harvester.plain_index import write_originals_of

        write_originals_of(out_dir, state, originals)
    keys = distinct_keys(
        label_keys if label_keys is not None else recorded_label_keys(out_dir, state)
    )
    record = read_split_record(out_dir)
    say_damaged(record, out_dir)
    split = record.spec
    if split is None:  # (a split given again later says its warnings again)
        _forget_ungrouped(out_dir)
        _forget_gaps(out_dir)
        _record_unplaced(out_dir, None, None)
    if split is None and _remove_stale_file(out_dir / SPLITS_FILE):
        logger.info("removed %s: no split recorded now", out_dir / SPLITS_FILE)
    moves = _SplitMoves.of(out_dir, record.replaced, split)
    if not keys:
        warn_formula_cells(out_dir, rows, state.images.values(), index_path(out_dir))
        if split is not None:
            rows_written = _write_split_only(out_dir, state, rows, split, moves, written, splits)
        else:
            rows_written = index.write_index_of(out_dir, state, rows)
            if written is not None:
                written.append(index_path(out_dir))
        _remove_stale_labels(out_dir)
        warn_spellings(out_dir, None, out_dir / LABELS_FILE)  # (said again once labelled)
        return rows_written
    census = KeyCensus(keys, state.labels_unasked)
    clashes: dict[tuple[str, str], None] = {}
    with paused_gc():
        labels = _labels_of(census.watch(rows.refs()), keys, clashes)
        counts = Counter(label for label in labels if label)
    warn_formula_cells(out_dir, rows, state.images.values(), index_path(out_dir), counts)
    for line in unknown_label_keys(
        census, (f"image in {index_path(out_dir)}", f"images in {index_path(out_dir)}")
    ):
        problems.warning("%s", line)
    if absent is not None and not census.unasked:  # (unfetched labels may hold the key)
        absent += census.missing()
    if clashes:
        problems.warning("%s", separator_clash_line(list(clashes)))
    pin = folder_pin(out_dir)
    pinned = pin.ids if pin is not None else {}
    ids = assign_ids(counts, pinned)
    changes = _renumbering(out_dir, ids, pinned)
    id_cells = {label: str(n) for label, n in ids.items()}
    id_cells[""] = ""
    at = rows.fixed  # the core columns and those of kinds such as rois: labels come after
    ours = rows.header[:at] + ["label", "label_id"] + (["split"] if split else [])
    header = ours + list(index.unique_columns(rows.header[at:], ours).values())
    drawn = _SplitDrawn()
    cells = ((label, id_cells[label]) for label in _labels_of(rows.refs(), keys))
    labelled = _rows_with(rows, at, cells, split, moves, drawn)
    table = [[label, str(n), str(counts[label])] for label, n in ids.items()]
    if label_rows is not None:
        label_rows.append(len(table))
    files: dict[Path, bytes | Iterable[bytes]] = {
        index_path(out_dir): index.csv_pieces(header, labelled),
        out_dir / LABELS_FILE: index.render_csv(["label", "label_id", "images"], table),
    }
    for target, data in files.items():
        column = (len(ours) - 1 if split else None) if target == index_path(out_dir) else False
        try:
            with paused_gc():  # see harvester.index.write_index_of
                index.write_table(
                    out_dir,
                    target,
                    data,
                    partial=partial,
                    split_column=column,
                    images=len(rows) if target == index_path(out_dir) else None,
                )
        except OSError as exc:
            raise storage_error(exc, str(target)) from exc
        if written is not None:
            written.append(target)
    warn_spellings(out_dir, counts, out_dir / LABELS_FILE)
    if split is not None:
        _split_written(out_dir, split, moves, drawn, rows, state, True, written, splits)
    # Where no warning names the copy of the replaced labels.csv, the pinned ids replaced
    # other ones (a pin given now): the pin's line names it.
    kept = "" if changes.warning else changes.kept
    if changes.warning:
        problems.warning("%s", changes.warning + changes.kept)
    if pin is not None and pin_note is not None:  # a pin given now: what it did, in one line
        pin_note.append(pin_line(pin, out_dir, ids, counts) + kept)
    else:
        if pin is not None and pin_in_force is not None:
            pin_in_force.append(pin_line(pin, out_dir, ids, counts))
        if changes.new:
            problems.warning("%s", changes.new)
        if kept:
            logger.info("label_ids follow %s%s", LABEL_IDS_FILE, kept)
    logger.info("wrote %s (%d images, %d labels)", index_path(out_dir), len(rows), len(ids))
    return len(rows)


def _write_split_only(
    out_dir: Path,
    state: JournalState,
    rows: IndexRows,
    split: SplitSpec,
    moves: _SplitMoves,
    written: list[Path] | None,
    splits: SplitTally | None,
) -> int:
    """``index.csv`` (``rows``: of ``state``) with a ``split`` column and no label columns,
    then ``splits.csv``."""
    from harvester import index
    from harvester.journal import paused_gc
    from harvester.layout import index_path
    from harvester.store import storage_error

    at = rows.fixed
    ours = [*rows.header[:at], "split"]
    header = ours + list(index.unique_columns(rows.header[at:], ours).values())
    drawn = _SplitDrawn()
    with_split = _rows_with(rows, at, itertools.repeat((), len(rows)), split, moves, drawn)
    target = index_path(out_dir)
    try:
        with paused_gc():
            index.write_table(
                out_dir, target, index.csv_pieces(header, with_split), split_column=len(ours) - 1
            )
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    if written is not None:
        written.append(target)
    _split_written(out_dir, split, moves, drawn, rows, state, False, written, splits)
    grouped = split.describe_grouped(len(rows), drawn.alone)
    logger.info("wrote %s (%d images, %s)", target, len(rows), grouped)
    return len(rows)


@dataclass
class _SplitDrawn:
    """The splits an index write drew (:func:`_rows_with`), counted as its rows are written:
    images per (split, label), how many of them had no grouping id (each split on its
    own: one total, all that the split lines and warnings say), and those of them that may
    join their group later (:func:`_may_join_group`), found in the same pass."""

    per_split: Counter[tuple[str, str]] = field(default_factory=Counter)
    alone: int = 0
    unplaced: list[ImageRef] = field(default_factory=list)


def _split_written(
    out_dir: Path,
    split: SplitSpec,
    moves: _SplitMoves,
    drawn: _SplitDrawn,
    rows: IndexRows,
    state: JournalState,
    labelled: bool,
    written: list[Path] | None,
    splits: SplitTally | None,
) -> None:
    """What an index write with ``split`` does once its rows (``rows``, of ``state``) are
    written and ``drawn`` counted: the moves said (the replaced ``splits.csv`` kept first),
    the images split on their own said and recorded, ``splits.csv`` written (per label when
    ``labelled``), its gaps said. One order for the labelled index and the split-only one."""
    moves.report(out_dir, split, drawn.per_split.total(), drawn.alone)
    # (no image drawn alone: none to look for in a second pass over every row)
    alone = rows.refs() if drawn.alone else ()
    _warn_ungrouped(out_dir, split, alone, state.done, drawn.unplaced)
    _record_unplaced(out_dir, split, drawn.unplaced)
    _write_splits_file(out_dir, split, drawn.per_split, labelled, written, splits, drawn.alone)
    _warn_gaps(out_dir, split, drawn.per_split, drawn.alone)


def _rows_with(
    rows: IndexRows,
    at: int,
    cells: Iterable[tuple[str, ...]],
    split: SplitSpec | None,
    moves: _SplitMoves,
    drawn: _SplitDrawn,
) -> Iterator[list[str]]:
    """The index rows with each row's ``cells`` (``label``, ``label_id``, or none) and, with
    a split, the image's split inserted at column ``at``, made as they are written.

    One loop for the labelled index and the split-only one: the split cell is drawn, counted
    (per split and label, the first cell; ``""`` without labels) and checked for a move the
    same way in both. Consumed once, after which ``drawn`` holds the counts.
    """
    for extra, row, ref in zip(cells, rows, rows.refs(), strict=True):
        if split is None:
            row[at:at] = extra
        else:
            group = split.group_of(ref)
            name = split.split_of_group(group)
            drawn.per_split[(name, extra[0] if extra else "")] += 1
            if group.startswith("image:"):
                drawn.alone += 1
                if _may_join_group(ref, split):
                    drawn.unplaced.append(ref)
            moves.see(ref.image_id, name)
            row[at:at] = (*extra, name)
        yield row


#: Per ``--split-by`` that says so: why an image lacks its grouping id, and what gives it one.
_UNGROUPED_WHY = {
    "dataset": (
        "a screen's images have none; images given by id, --image or --ids-from, get theirs "
        "from their imgData"
    ),
    "plate": "a project's images have none, nor have images given by id, --image or --ids-from",
}


def _warn_ungrouped(
    out_dir: Path,
    split: SplitSpec,
    refs: Iterable[ImageRef],
    done: Container[Any],
    unplaced: Sequence[ImageRef],
) -> None:
    """One warning naming how many images a ``--split-by dataset`` or ``plate`` split put
    each in a group of its own (no such id journaled), why, and what gives them one; said
    once per state of DIR (:func:`harvester.index.say_once`), not by every index write.

    Why: documented, but silent: a split by dataset of ``--ids-from`` images harvested
    with thumbnails alone was a split image by image, and near-duplicates of one dataset
    landed in train and test alike. ``well``, the default, falls back so for every
    project image by design (not said), and for images given by id whose imgData was
    never harvested (:func:`_wells_unknown`), which may be a screen's: said, as the same
    leak (``--ids-from DIR/index.csv`` with thumbnails alone put the fields of one well in
    train and test, the summary's ``by image, as no image has a well`` the only sign)."""
    from harvester.index import say_once

    if split.by == "well":  # (``unplaced``: found by the rows' pass, none here)
        _warn_wells_unknown(out_dir, unplaced, done)
        return
    if split.by not in _UNGROUPED_WHY:
        _forget_ungrouped(out_dir)
        return
    ungrouped = [ref for ref in refs if split.group_of(ref).startswith("image:")]
    if not ungrouped:
        _forget_ungrouped(out_dir)
        return
    if split.by == "dataset":
        what = _no_dataset_advice(ungrouped, done)
    else:
        what = (
            "a screen's image given by id is split by plate once its screen or plate is "
            "harvested (--screen, --plate)"
        )
    text = (
        f"--split-by {split.by}: {plural(len(ungrouped), 'image')} without a {split.by} id "
        f"{agree(len(ungrouped), 'was', 'were')} split image by image, each a group of its "
        f"own ({_UNGROUPED_WHY[split.by]}); {what}"
    )
    say_once(out_dir, _UNGROUPED_SAID, text)


def _warn_gaps(
    out_dir: Path, split: SplitSpec, per_split: Mapping[tuple[str, str], int], alone: int
) -> None:
    """One warning when the split written leaves a split with no image or a label missing
    from a split that has images (:func:`harvester.splits.split_gaps_line`), said once per
    state of DIR as :func:`_warn_ungrouped` is: a gap is the folder's, not the write's."""
    from harvester.index import say_once

    images = sum(per_split.values())
    described = split.describe_grouped(images, alone)
    unit = "image" if alone >= images else split.by  # (a project's folder split "by well")
    text = split_gaps_line(split, per_split, described, str(out_dir / SPLITS_FILE), unit)
    say_once(out_dir, _GAPS_SAID, text)


#: The name :func:`_warn_gaps` records its warning by (``written.json``).
_GAPS_SAID = "split_gaps"


def _forget_gaps(out_dir: Path) -> None:
    """Drop the record of :func:`_warn_gaps`'s warning: no split now."""
    from harvester.index import say_once

    say_once(out_dir, _GAPS_SAID, None)


#: The name :func:`_warn_ungrouped` records its warning by (``written.json``).
_UNGROUPED_SAID = "split_ungrouped"


def _record_unplaced(
    out_dir: Path, split: SplitSpec | None, unplaced: Sequence[ImageRef] | None
) -> None:
    """Record the images this write's ``split`` drew on their own that may join their
    group later (:attr:`_SplitDrawn.unplaced`, in row order: by id), for the next write to
    count those that did (:class:`_SplitMoves`); None: no split written."""
    from harvester.index import record_unplaced_split

    ids = None if unplaced is None else [ref.image_id for ref in unplaced]
    record_unplaced_split(out_dir, split.describe() if split is not None else "", ids)


def _may_join_group(ref: ImageRef, split: SplitSpec) -> bool:
    """Is ``ref``, drawn on its own now (no grouping id), one that may get its grouping id
    later? An image given by id and not yet placed (no context: its imgData or a walk of its
    container places it), or, split by plate, one a project does not hold (a screen's image
    given by id has its well from imgData, its plate only from a walk of its screen or
    plate). A walked project image never gets a well or plate: not counted (nor recorded).
    None for a split by image, whose groups are images."""
    if split.by == "image":
        return False
    if split.by == "plate":
        return ref.project_id is None and ref.dataset_id is None
    return not has_context(ref)


def _wells_unknown(unplaced: Iterable[ImageRef], done: Container[Any]) -> int:
    """How many of the ``unplaced`` images (given by id, placed in nothing yet: for a split
    by well, :attr:`_SplitDrawn.unplaced`) have no imgData harvested: a screen's among them has its
    well unknown, and only imgData tells it (a walked project image has its dataset, an
    imgData-told one is known to be in no well)."""
    return sum(("imgdata", ref.image_id) not in done for ref in unplaced)


def _warn_wells_unknown(out_dir: Path, unplaced: Iterable[ImageRef], done: Container[Any]) -> None:
    """:func:`_warn_ungrouped` for a split by well: the images given by id whose well is
    unknown (:func:`_wells_unknown`), split image by image, and what tells their well."""
    from harvester.index import say_once

    unknown = _wells_unknown(unplaced, done)
    if not unknown:
        _forget_ungrouped(out_dir)
        return
    images = plural(unknown, "image")
    has = agree(unknown, "has", "have")
    text = (
        f"--split-by well: {images} given by id (--image, --ids-from) {has} no well id,"
        f" as no imgdata of {agree(unknown, 'it', 'theirs')} was harvested:"
        f" {agree(unknown, 'it was', 'each was')} split image by image, so the fields of one"
        " well of a screen can be in several splits (a leak); add imgdata to the --artifacts"
        f" of the harvest of the {images} (a screen image's imgData names its well)"
    )
    say_once(out_dir, _UNGROUPED_SAID, text)


def _forget_ungrouped(out_dir: Path) -> None:
    """Drop the record of :func:`_warn_ungrouped`'s warning: nothing to say now."""
    from harvester.index import say_once

    say_once(out_dir, _UNGROUPED_SAID, None)


def _no_dataset_advice(ungrouped: Sequence[ImageRef], done: Container[Any]) -> str:
    """What gives the images a ``--split-by dataset`` split one by one their dataset id.

    imgData names an image's dataset, so it helps an image given by id harvested without
    it; a screen's image (a plate or screen id known) is in no dataset, and imgData gives it
    none: it was told to add imgdata all the same, which changed nothing.
    """
    screens = sum(ref.plate_id is not None or ref.screen_id is not None for ref in ungrouped)
    unfetched = sum(
        ref.plate_id is None and ref.screen_id is None and ("imgdata", ref.image_id) not in done
        for ref in ungrouped
    )
    advice = []
    if unfetched:
        advice.append(
            f"add imgdata to the --artifacts of the harvest of the {plural(unfetched, 'image')}"
            " without it (an image in several datasets gets none)"
        )
    if screens:
        which = (
            agree(screens, "it is", "they are")
            if screens == len(ungrouped)
            else f"{screens} of them {agree(screens, 'is', 'are')}"
        )
        advice.append(
            f"{which} a screen's, in no dataset: split a folder of screens by well (the"
            " default) or plate"
        )
    if not advice:
        return (
            "each has its imgData, which names no single dataset (the image is in several, or"
            " in none: a screen's)"
        )
    return "; ".join(advice)


@dataclass
class _SplitMoves:
    """Images that an index write puts in another split than the ``index.csv`` it replaces.

    Why: ``--split`` given again with other fractions, names, ``--split-by`` or
    ``--split-seed`` reassigns images, and a model trained and evaluated on the old split
    column then has test images in its training set: said in one warning naming how many
    moved and the split replaced, the replaced ``splits.csv`` kept beside (as a renumbered
    ``labels.csv`` is). Looked for in the old ``index.csv`` when ``split.json`` says its
    split replaced another (:func:`harvester.splits.replaced_split`) and no index of this
    split was written since. An unchanged split moves only images drawn on their own before
    that have their group now (given by id, placed later): those the previous write of this
    split listed (``alone_before``) are checked against their old draw, ``image:<id>``, and
    the old ``index.csv`` is not read (~1 M rows); it is read where the list is not known
    (:func:`harvester.index.unplaced_split_before`: an older folder, a damaged record).
    """

    before: dict[str, str]
    replaced: str = ""
    moved: int = 0
    common: int = 0
    example: str = ""
    #: The images drawn on their own by the previous write under this same split.
    alone_before: frozenset[int] = frozenset()
    split: SplitSpec | None = None

    @classmethod
    def of(cls, out_dir: Path, replaced: str | None, split: SplitSpec | None) -> _SplitMoves:
        """The old index's split of each image, when the recorded split replaced another
        (``replaced``: the record's, None without one), or when the old index drew images
        given by id on their own, which may be in their group now
        (:func:`harvester.index.unplaced_split_before`; ``replaced`` then ``""``)."""
        from harvester.index import unplaced_split_before

        if split is None:
            return cls({})
        # An index.csv this very split wrote (recorded): only images drawn on their own
        # then can move, even where split.json still says the split replaced another.
        listed = unplaced_split_before(out_dir, split.describe())
        if listed is not None:
            return cls({}, alone_before=listed, split=split)
        if replaced is not None:
            return cls(_indexed_splits(out_dir), replaced)
        if split.by == "image":  # (every group an image: none joins another)
            return cls({})
        return cls(_indexed_splits(out_dir))

    def see(self, image_id: int, name: str) -> None:
        """Count the image (written with split ``name``) if the old index held it."""
        if self.alone_before:
            if image_id not in self.alone_before or self.split is None:
                return
            old = self.split.split_of_group(f"image:{image_id}")
        elif not self.before:
            return
        else:
            old = self.before.get(str(image_id), "")
        if not old:
            return
        self.common += 1
        if old != name:
            self.moved += 1
            if not self.example:
                self.example = f"image {image_id}: {old} -> {name}"

    def report(self, out_dir: Path, split: SplitSpec, images: int, alone: int) -> None:
        """The warning, with the replaced ``splits.csv`` kept first (before it is rewritten);
        ``images`` written, ``alone`` of them without a grouping id (as the summary says)."""
        if not self.moved:
            return
        from harvester import index
        from harvester.layout import index_path
        from harvester.store import storage_error

        target = out_dir / SPLITS_FILE
        try:
            kept = index.keep_beside(target, "before")
        except OSError as exc:
            raise storage_error(exc, str(target)) from exc
        also = f"; the replaced {SPLITS_FILE} is kept as {kept}" if kept else ""
        if self.replaced:
            why = (
                f"{split.describe_grouped(images, alone)} replaces"
                f" {regrouped(self.replaced, split.by, images, alone)}"
            )
        else:  # the same split; images drawn on their own before have their group now
            why = (
                f"images given by id (--image, --ids-from), split each on its own before, have"
                f" their {split.by} id now (from their imgdata, or a walk of their"
                f" {_PLACED_BY[split.by]}) and go with their {split.by}:"
                f" {split.describe_grouped(images, alone)}"
            )
        problems.warning(
            "%s",
            f"the split changed: {self.moved} of the {plural(self.common, 'image')} already "
            f"in {index_path(out_dir)} {agree(self.moved)} in another split now (e.g. "
            f"{self.example}): {why}{also}",
        )


#: What walk gives an image given by id its grouping id, per ``--split-by``.
_PLACED_BY = {
    "well": "screen or plate",
    "plate": "screen or plate",
    "dataset": "project or dataset",
}


def _indexed_splits(out_dir: Path) -> dict[str, str]:
    """image_id -> split cell of the ``index.csv`` about to be replaced; empty when there is
    none, it has no ``split`` column of harvester's own (a map annotation keyed ``split``
    is none: :func:`harvester.index.own_split_column`), or it cannot be read (nothing to
    compare with)."""
    import csv

    from harvester import index
    from harvester.layout import index_path

    found: dict[str, str] = {}
    try:
        with index_path(out_dir).open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            at = index.own_split_column(out_dir, header)
            if at is None or "image_id" not in header:
                return {}
            image = header.index("image_id")
            for row in reader:
                if len(row) > max(at, image):
                    found[row[image]] = row[at]
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return found


def _write_splits_file(
    out_dir: Path,
    split: SplitSpec,
    per_split: Mapping[tuple[str, str], int],
    labelled: bool,
    written: list[Path] | None,
    splits: SplitTally | None,
    alone: int = 0,
) -> None:
    """Write ``DIR/splits.csv`` (images per split, and per label when labelled); ``alone``:
    how many images had no grouping id, for the caller's split line."""
    from harvester import index
    from harvester.store import storage_error

    header, table, totals = splits_table(split, per_split, labelled)
    target = out_dir / SPLITS_FILE
    try:
        index.write_table(out_dir, target, index.render_csv(header, table))
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    if written is not None:
        written.append(target)
    if splits is not None:
        splits.spec = split
        splits.counts.update(totals)
        splits.alone = alone


def _remove_stale_file(target: Path) -> bool:
    """Remove a table left from settings since dropped (``splits.csv`` after ``--no-split``,
    ``labels.csv`` without label keys); False when there was none, or when it was not as
    harvester wrote it: then it is kept beside as ``<name>.edited-<time>.csv`` first, with
    its own warning (:func:`harvester.index.keep_before_removal`). One line on failure."""
    from harvester import index
    from harvester.store import storage_error

    try:
        kept = index.keep_before_removal(target)
        target.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise storage_error(exc, str(target)) from exc
    return kept is None


@dataclass(frozen=True)
class _Renumbering:
    """What a rewrite of ``labels.csv`` changes, told by :func:`_renumbering`.

    ``warning``: :func:`renumbered_line`; ``kept``: the end of a line naming the copy of
    the replaced file (``labels.before-...``), kept whenever a label's id changes, pinned
    or not; ``new``: with pinned ids, :func:`new_labels_line`.
    """

    warning: str = ""
    kept: str = ""
    new: str = ""


def _renumbering(out_dir: Path, ids: Mapping[str, int], pinned: Mapping[str, int]) -> _Renumbering:
    """What replacing the ``labels.csv`` of DIR with ``ids`` changes, the replaced file kept
    (:func:`_keep_renumbered`) when a label's id changes.

    Under DIR's index lock, as :func:`harvester.index.write_table` writes: another writer
    (``harvester index`` while a harvest ends) replaces ``labels.csv`` and then records it in
    ``written.json``; read between the two, the new file passed for a hand edit, so the ids
    it held were kept by neither this copy nor the next write's, nor were the ids said
    those of one file. (:func:`write_labelled_index` holds it already; the lock is
    reentrant within a thread.)
    """
    from harvester import index
    from harvester.layout import index_path
    from harvester.runlock import folder_lock
    from harvester.store import storage_error

    previous = out_dir / LABELS_FILE
    try:
        with folder_lock(out_dir, index.INDEX_LOCK, wait=index.INDEX_LOCK_WAIT, denied_ok=True):
            # One an interrupted run wrote holds the labels of the images recorded before it
            # stopped, ranked among themselves: its resume, finishing the same work, warned
            # that label_ids changed and kept a copy. Nothing to map a model from: none.
            if index.written_partial(out_dir, previous):
                return _Renumbering()
            before = _previous_ids(previous)
            if before is None:
                return _Renumbering()
            warning = renumbered_line(previous, ids, pinned, before)
            # A pinned label's id changes only when the pin is given (the file replaced had
            # other ids): no warning, it was asked for, but the old mapping is kept all the same.
            moved = any(label in before and before[label] != str(n) for label, n in ids.items())
            kept = _keep_renumbered(out_dir) if warning or moved else ""
            new = new_labels_line(previous, ids, pinned, before) if pinned else ""
            return _Renumbering(warning, kept, new)
    except OSError as exc:
        # The lock file cannot be made: named as the index write, which takes it next, was.
        raise storage_error(exc, str(index_path(out_dir))) from exc


def _previous_ids(previous: Path) -> dict[str, str] | None:
    """label -> label_id (as written) of the ``labels.csv`` being replaced; None: none
    readable (no earlier file, or not one harvester could read)."""
    import csv

    try:
        with previous.open(encoding="utf-8", newline="") as handle:
            return {row["label"]: row["label_id"] for row in csv.DictReader(handle)}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError):
        return None


def _keep_renumbered(out_dir: Path) -> str:
    """Keep the ``labels.csv`` about to be renumbered as ``labels.before-<UTC time>.csv``;
    the end of the warning that names it ("" when nothing was kept).

    Why: the warning named one label's old and new id; the old file, the only full mapping
    from a trained model's label_ids to labels, was then overwritten. A copy changed by hand
    is kept by :func:`harvester.index.write_table` instead (``labels.edited-...``), once.
    """
    from harvester import index
    from harvester.store import storage_error

    target = out_dir / LABELS_FILE
    if index.changed_by_hand(out_dir, target):
        return ""
    try:
        kept = index.keep_beside(target, "before")
    except OSError as exc:  # nothing written yet: the old ids are not lost without a word
        raise storage_error(exc, str(target)) from exc
    return "" if kept is None else f"; the replaced {LABELS_FILE} is kept as {kept}"


def renumbered_line(
    previous: Path,
    ids: Mapping[str, int],
    pinned: Collection[str] = (),
    before: Mapping[str, str] | None = None,
) -> str:
    """A warning when labels of the ``labels.csv`` being replaced lose their label_id.

    Why: a model trained on an index.csv learns its ``label_id`` numbers. Rewriting the
    index renumbers them with no word when a new label sorts before old ones, when a label's
    images are gone, or once after upgrading to 0.1.7, which sorts one key's values in the
    label (``b;a`` became ``a;b``). Empty when every earlier label keeps its id (or there
    was no readable labels.csv). The line tells labels that kept their name and got
    another id from those no image has any more: the first, the usual case, read as
    labels gone when both were said together. ``pinned`` labels (``--label-ids-from``) are
    left out: their ids are the pin's, as asked. ``before``: the replaced file's ids, when
    read already (else read from ``previous``).
    """
    if before is None:
        before = _previous_ids(previous)
        if before is None:
            return ""
    before = {label: n for label, n in before.items() if label not in pinned}
    # With a pin, the labels counted are those it leaves to ranks, and new labels are
    # named by new_labels_line.
    noun = "unpinned label" if pinned else "label"
    moved = [label for label, n in before.items() if label in ids and str(ids[label]) != n]
    gone = [label for label in before if label not in ids]
    if not (moved or gone):
        return ""
    parts = []
    if moved:
        first = moved[0]
        new = 0 if pinned else sum(label not in before for label in ids)
        parts.append(
            f"{len(moved)} of its {plural(len(before), noun)}"
            f" {agree(len(moved))} still there with another label_id"
            f" (e.g. {quoted(first)}: was {before[first]}, now"
            f" {ids[first]})" + (f"; {plural(new, 'label')} {agree(new)} new" if new else "")
        )
    if gone and not moved and len(gone) == len(before) and ids:
        # Every label differs: most often other label keys (a key added or dropped), which
        # "on no image any more" misdescribed.
        parts.append(
            f"none of its {plural(len(before), 'label')} is a label now (e.g. {quoted(gone[0])},"
            f" was {before[gone[0]]}; other label keys than when it was written?)"
        )
    elif gone:
        parts.append(
            f"{len(gone)} of its {plural(len(before), noun)} {agree(len(gone))}"
            f" on no image any more (e.g. {quoted(gone[0])}, was {before[gone[0]]})"
        )
    return (
        f"label_ids changed in {previous}: {'; '.join(parts)}; a model trained on the old"
        " label_ids must map them to the new ones by label (the label column of index.csv"
        f" and {LABELS_FILE}), not by label_id"
    )


def new_labels_line(
    previous: Path, ids: Mapping[str, int], pinned: Mapping[str, int], before: Mapping[str, str]
) -> str:
    """With pinned label ids: the labels that are neither pinned nor in the ``labels.csv``
    being replaced, and the ids they get; "" when there are none.

    Why: a model trained with the pinned ids knows no such class. The pinned labels keep
    their ids, so no "label_ids changed" warning comes; without this line a class new to
    the folder would go unsaid.
    """
    new = [label for label in ids if label not in pinned and label not in before]
    if not new:
        return ""
    from harvester.label_ids import labels_with_ids

    return (
        f"{plural(len(new), 'new label')} in {previous}, not among the pinned label_ids of "
        f"{previous.with_name('label_ids.json')}, {'gets' if len(new) == 1 else 'get'} the "
        f"next free {'id' if len(new) == 1 else 'ids'} ({labels_with_ids(new, ids)})"
    )


def _remove_stale_labels(out_dir: Path) -> None:
    """Remove a ``labels.csv`` left beside an index.csv that has no label columns now.

    Why: an index written without label keys (none ever given, or dropped with
    ``harvester index --no-label-key``) would leave the old labels.csv describing label ids
    that index.csv no longer has, and a training script reading both would fail on the
    missing ``label`` column (or trust a stale class balance).
    """
    target = out_dir / LABELS_FILE
    if not _remove_stale_file(target):
        return
    problems.warning(
        "removed %s: index.csv has no label columns now (no --label-key given, and no run of "
        "this folder recorded any); add --label-key KEY to get them back",
        target,
    )


def _labels_of(
    refs: Iterable[ImageRef],
    keys: Sequence[str],
    clashes: dict[tuple[str, str], None] | None = None,
) -> Iterator[str]:
    """:func:`label_of` of each ref, computed once for a run of refs sharing one labels tuple
    (the fields of a well, loaded from journals, share theirs).

    ``clashes``: filled with the (key, value) pairs of label keys whose value holds a
    separator of the label column (see :func:`separator_clash_line`).
    """
    last: object = None
    label = ""
    wanted = {fold_key(k) for k in keys}
    for ref in refs:
        if ref.labels is not last:
            last = ref.labels
            label = label_of(ref.labels, keys)
            if clashes is not None and (VALUE_SEPARATOR in label or KEY_SEPARATOR in label):
                for key, value in ref.labels:
                    if fold_key(key) in wanted and (
                        VALUE_SEPARATOR in value or KEY_SEPARATOR in value
                    ):
                        clashes.setdefault((key.strip(), value.strip()), None)
        yield label


#: Values named in the warning about values holding a separator.
CLASHES_SHOWN = 3


def separator_clash_line(clashes: Sequence[tuple[str, str]]) -> str:
    """The warning for label values that hold ``;`` or ``|``.

    Why: the label column joins one key's values with ``;`` and keys with ``|``, so the one
    value ``'x;y'`` and the two values ``'x'`` and ``'y'`` give the same label and the same
    ``label_id``: two classes become one with no word. The label is kept as it is (the
    annotation columns of index.csv still hold each value apart); the user is told.
    """
    named = ", ".join(f"{shown(k)}={quoted(v)}" for k, v in clashes[:CLASHES_SHOWN])
    more = len(clashes) - CLASHES_SHOWN
    if more > 0:
        named += f" and {more} more"
    return (
        f"{plural(len(clashes), 'label value')} {agree(len(clashes), 'holds', 'hold')} "
        f"{VALUE_SEPARATOR!r} or {KEY_SEPARATOR!r}, which"
        f" the label column puts between values and keys ({named}): such a value reads as"
        " several, and its images may share a label_id with images that have each part as a"
        " value of its own; the annotation columns of index.csv keep the values apart"
    )


def _match_none(terms: int, walked: int) -> str:
    """``matches none of the 80 walked images``; ``does not match the only walked image``
    for one (it said "matches none of the only walked image"); ``terms``: how many terms
    the verb agrees with."""
    if walked == 1:
        return f"{agree(terms, 'does', 'do')} not match {the_counted(1, 'walked image')}"
    return f"{agree(terms, 'matches', 'match')} none of {the_counted(walked, 'walked image')}"

"""The plain words a user writes for index.csv's context columns, and the terms they mean.

``--where well=B3``, ``row=1``, ``plate=7361`` or ``column=3`` name no column (index.csv has
``well_row``, ``well_column``, ``plate_id``, ``well_id`` ...), and no image has such an
annotation, so each was warned "is on none of the walked images" with the study's annotation
keys listed: none of them what was meant, and a well named as a plate reader writes it
(``B3``) is two columns, each counted from 0. This module turns such a term into the terms
that say it (:func:`where_word_hint`) and such a ``--sample-per`` key into the column
(:func:`per_word_hint`), for :mod:`harvester.select`'s warnings.

Why hints, not a ``well`` key: ``--where`` filters on index.csv's columns, as the README
promises, and a hint that spells ``well_row=1 and well_column=2`` teaches the column that
the index, its grids and a loader all use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harvester.selection import Condition, fold_key
from harvester.text import quoted

#: A word for a container (folded) -> its id column, and its name column where it has one.
_CONTAINERS: dict[str, tuple[str, str | None]] = {
    "plate": ("plate_id", "plate_name"),
    "dataset": ("dataset_id", "dataset_name"),
    "image": ("image_id", "image_name"),
    "screen": ("screen_id", None),
    "project": ("project_id", None),
    "run": ("run_id", None),
}
#: Words for a well's row or column (folded) -> the column.
_ROW_WORDS = frozenset({"row", "rows"})
_COLUMN_WORDS = frozenset({"column", "columns", "col", "cols"})
_WELL_WORDS = frozenset({"well", "wells", "well name", "wellname", "well_name"})
#: A well's name as plate readers and OMERO write it: ``B3``, ``b03``, ``A-2``, ``AF48``.
_WELL_NAME = re.compile(r"([A-Za-z]{1,2})\s*[-_]?\s*0*(\d{1,3})")
_NUMBER = re.compile(r"\d+")
#: Terms of one key spelt out in a hint, at most.
_TERMS_SHOWN = 3


def row_index(letters: str) -> int:
    """A plate row's letters -> its 0-based index: ``A`` 0, ``Z`` 25, ``AA`` 26 (OMERO's
    naming, the inverse of the emulator's ``row_letter``)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - ord("A") + 1
    return n - 1


def row_name(index: int) -> str:
    """A 0-based row index -> its letters (``1`` -> ``B``)."""
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def where_word_hint(key: str, terms: Sequence[Condition]) -> str | None:
    """The hint for a ``where`` key that is a plain word for a context column (``well``,
    ``row``, ``column``, ``plate``...), spelling each of its ``terms`` as the terms meant:
    ``did you mean 'well_row=1' and 'well_column=2' (well B3; index.csv's well_row and
    well_column count from 0)?``; None for any other key."""
    word = fold_key(key)
    if word not in _WELL_WORDS | _ROW_WORDS | _COLUMN_WORDS and word not in _CONTAINERS:
        return None
    meant = [_term_meant(word, c) for c in terms[:_TERMS_SHOWN]]
    more = f" (and {len(terms) - _TERMS_SHOWN} more terms)" if len(terms) > _TERMS_SHOWN else ""
    return f"did you mean {'; or '.join(meant)}{more}?"


def per_word_hint(key: str) -> str | None:
    """The hint for a ``sample_per`` key that is a plain word for a context column
    (``--sample-per well``: one class per well is ``well_id``); None for any other key."""
    word = fold_key(key)
    if word in _WELL_WORDS:
        column = "well_id"
    elif word in _ROW_WORDS:
        column = "well_row"
    elif word in _COLUMN_WORDS:
        column = "well_column"
    elif word in _CONTAINERS:
        column = _CONTAINERS[word][0]
    else:
        return None
    return f"did you mean {quoted(column)}, a column of index.csv's context?"


def _term_meant(word: str, cond: Condition) -> str:
    """What one term on a plain word means, as the hint spells it."""
    op, value = cond.op, cond.value.strip()
    if word in _CONTAINERS:
        id_column, name_column = _CONTAINERS[word]
        if _NUMBER.fullmatch(value):
            return f"{_term(id_column, op, value)}, a column of index.csv's context"
        if name_column is None:  # (``screen=idr0056``: no column holds a screen's name)
            return f"{quoted(id_column)}, the {word}'s id, a column of index.csv's context"
        return f"{_term(name_column, op, value)}, a column of index.csv's context"
    if word in _COLUMN_WORDS:
        return _column_meant(op, value)
    if word in _ROW_WORDS:
        return _row_meant(op, value)
    return _well_meant(op, value)


def _term(column: str, op: str, value: object) -> str:
    """One term as a hint shows it: ``'well_row=1'``."""
    return quoted(f"{column}{op}{value}")


def _column_meant(op: str, value: str) -> str:
    """``column=3`` -> ``'well_column=2' (a plate's column 3 ...)``: plates number columns
    from 1, index.csv from 0."""
    counted = "index.csv's well_column counts from 0"
    if not _NUMBER.fullmatch(value):
        return f"{_term('well_column', op, value)} ({counted})"
    n = max(int(value), 1)
    return f"{_term('well_column', op, n - 1)} (a plate's column {n}; {counted})"


def _row_meant(op: str, value: str) -> str:
    """``row=B`` -> ``'well_row=1' (row B ...)``; ``row=1``, which may count from 1 or from
    0, -> both readings."""
    counted = "index.csv's well_row counts from 0"
    if re.fullmatch(r"[A-Za-z]{1,2}", value):
        return f"{_term('well_row', op, row_index(value))} (row {value.upper()}; {counted})"
    if not _NUMBER.fullmatch(value):
        return f"{_term('well_row', op, value)} ({counted})"
    n = int(value)
    if n == 0:
        return f"{_term('well_row', op, 0)} (row A; {counted})"
    return (
        f"{_term('well_row', op, n - 1)} (row {row_name(n - 1)}) or"
        f" {_term('well_row', op, n)} (row {row_name(n)}; {counted})"
    )


def _well_meant(op: str, value: str) -> str:
    """``well=B3`` -> ``'well_row=1' and 'well_column=2' (well B3 ...)``; ``well=1474512`` ->
    ``'well_id=1474512'``. A ``!=`` term on a well's name is no pair of ``!=`` terms (those
    leave out its whole row and its whole column): its well_id is named instead."""
    counted = "index.csv's well_row and well_column count from 0"
    if _NUMBER.fullmatch(value):
        return f"{_term('well_id', op, value)}, a column of index.csv's context"
    name = _WELL_NAME.fullmatch(value)
    if name is None or int(name[2]) == 0:
        return f"'well_row' and 'well_column' ({counted}), or 'well_id'"
    row, column = row_index(name[1]), int(name[2]) - 1
    well = f"{name[1].upper()}{column + 1}"
    if op == "!=":
        return (
            f"{_term('well_id', op, 'ID')} with well {well}'s id in index.csv ('well_row={row}'"
            f" and 'well_column={column}' there: two '!=' terms on those would leave out its"
            " whole row and its whole column)"
        )
    terms = f"{_term('well_row', op, row)} and {_term('well_column', op, column)}"
    return f"{terms} (well {well}; {counted})"

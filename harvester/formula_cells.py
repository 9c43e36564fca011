"""Server text that a spreadsheet runs as a formula: a name, an annotation value or key (a
column's name), or a label made of values, beginning with ``=``, ``+``, ``-`` or ``@`` (CSV
or formula injection).

``index.csv`` and ``labels.csv`` hold image, plate and dataset names and annotation values
exactly as the server holds them, and a server may hold ``=HYPERLINK("http://...")``: a
spreadsheet that opens the file (a double-click) may run it. harvester does not alter such
a cell (the usual defence, a ``'`` put before it, is for files made for spreadsheets): the
label would then differ from the annotation it is made of, from the ``--where`` value that
selects it and from the labels a ``--label-ids-from`` pin holds, and a loader reading the
file with ``csv`` or pandas would read another value than the server's. So each index
write that holds such a cell says so, once per state of the folder
(:func:`harvester.index.say_once`), with how to open the file safely.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from harvester.models import ImageRef
from harvester.text import plural, quoted

if TYPE_CHECKING:
    from harvester.index import IndexRows

__all__ = [
    "FORMULA_STARTS",
    "SAID_NAME",
    "formula_cells",
    "formula_headers",
    "formula_line",
    "label_formulas",
    "maybe_formula_cells",
    "runs_as_formula",
    "warn_formula_cells",
]

#: The name the warning is recorded by in ``written.json`` (once per state of the folder).
SAID_NAME = "formula_cells"
#: The first characters a spreadsheet reads as the start of a formula (a tab or a carriage
#: return first: OWASP's list, as some spreadsheets drop them and read what follows).
FORMULA_STARTS = frozenset("=+-@\t\r")
#: Columns named in the warning (the others counted).
COLUMNS_SHOWN = 3


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet may run the cell ``text`` as a formula: it begins with one of
    ``= + - @`` (or a tab or carriage return) and is not a plain number (``-2.5`` and ``+1``
    are numbers to a spreadsheet, harmless) nor a ``+`` or ``-`` alone."""
    if text[:1] not in FORMULA_STARTS:
        return False
    if text[0] in "+-":
        if len(text) == 1:
            return False
        try:
            float(text)
        except ValueError:
            return True
        return False
    return True


#: The name columns of index.csv, by the :class:`ImageRef` field each is made of.
_NAME_COLUMNS = ("image_name", "plate_name", "dataset_name")


def maybe_formula_cells(rows: IndexRows, images: Collection[ImageRef]) -> bool:
    """Whether any of ``images`` (every image of DIR's journals) has a name beginning
    with a character of :data:`FORMULA_STARTS` (a number among them too), or an annotation
    value of ``rows`` (noted as they were made, once per distinct labels) is one
    :func:`runs_as_formula`: False rules :func:`formula_cells` out without its pass over
    the rows (annotations of negative numbers, ``-2.5``, do not ask for it).

    Why: it runs at every index write, over every image of DIR, and nearly always finds
    nothing. Each name's first character is taken by C-level ``map``/``filter`` calls,
    with no Python call per image (a loop over a million images took a second)."""
    if rows.formula_values:
        return True
    for name in _NAME_COLUMNS:
        firsts = set(map(itemgetter(0), filter(None, map(attrgetter(name), images))))
        if not firsts.isdisjoint(FORMULA_STARTS):
            return True
    return False


def formula_cells(refs: Iterable[ImageRef]) -> dict[str, tuple[str, int]]:
    """For each column of names or annotation values (by its name, an annotation's by its
    key) that holds a cell :func:`runs_as_formula`: its first such value and how many of
    ``refs``' images have one there, in the order first met.

    An image whose labels hold none and whose names begin with no character of
    :data:`FORMULA_STARTS` (nearly all) is passed over with one C-level call for its three
    names, no call per column: a folder holding one such cell asks this pass at every index
    write (a million images: 1.9 s, now 0.43 s; median of 5, load 7)."""
    found: dict[str, tuple[str, int]] = {}
    last: object = None
    last_hits: list[tuple[str, str]] = []
    names_of = attrgetter(*_NAME_COLUMNS)
    starts = FORMULA_STARTS
    for ref in refs:
        pairs = ref.labels
        if pairs is not last:
            last = pairs
            last_hits = [(k, v) for k, v in pairs if runs_as_formula(v)]
        if not last_hits:
            image_name, plate_name, dataset_name = names_of(ref)
            if (
                image_name[:1] not in starts
                and plate_name[:1] not in starts
                and dataset_name[:1] not in starts
            ):
                continue
        hits = [
            (column, getattr(ref, column))
            for column in _NAME_COLUMNS
            if runs_as_formula(getattr(ref, column))
        ]
        hits += last_hits
        for column in dict.fromkeys(column for column, _ in hits):
            value = next(value for name, value in hits if name == column)
            first, images = found.get(column, (value, 0))
            found[column] = (first, images + 1)
    return found


def label_formulas(counts: Mapping[str, int]) -> dict[str, tuple[str, int]]:
    """:func:`formula_cells`' entry for the ``label`` column of a labelled index, from
    ``counts`` (each label and its images, as labels.csv counts them): its first label that
    :func:`runs_as_formula` and the images of all such labels; empty where none is.

    Why apart from the annotation values: a label is made of them trimmed
    (:func:`harvester.select.label_of`), so ``" =HYPERLINK(...)"``, text in its own cell,
    is a formula in the ``label`` cells of index.csv and labels.csv."""
    hits = [(label, images) for label, images in counts.items() if runs_as_formula(label)]
    if not hits:
        return {}
    return {"label": (hits[0][0], sum(images for _, images in hits))}


def formula_headers(rows: IndexRows) -> list[str]:
    """The annotation keys of ``rows``' header that :func:`runs_as_formula`: each is a
    column's name, a header cell a spreadsheet runs as any other."""
    return [column for column in rows.header[rows.fixed :] if runs_as_formula(column)]


def formula_line(
    found: dict[str, tuple[str, int]], index_file: Path, headers: Sequence[str] = ()
) -> str | None:
    """The warning for what :func:`formula_cells` found, and ``headers``
    (:func:`formula_headers`); None where both are empty."""
    if not found and not headers:
        return None
    named = [
        f"{quoted(column)} on {plural(images, 'image')} (e.g. {quoted(value)})"
        for column, (value, images) in found.items()
    ] + [f"the column named {quoted(column)}" for column in headers]
    more = len(named) - COLUMNS_SHOWN
    named = named[:COLUMNS_SHOWN]
    columns = "; ".join(named) + (f"; and {plural(more, 'more column')}" if more > 0 else "")
    return (
        f"{index_file} holds server text that a spreadsheet may run as a formula (a cell "
        f"beginning with =, +, - or @): {columns}; harvester writes names and annotation "
        "values exactly as the server holds them (labels and labels.csv too), so open the "
        "file in a spreadsheet by importing it with every column as text, not by "
        "double-clicking it (csv and pandas read it safely)"
    )


def warn_formula_cells(
    out_dir: Path,
    rows: IndexRows,
    images: Collection[ImageRef],
    index_file: Path,
    labels: Mapping[str, int] | None = None,
) -> None:
    """Warn of :func:`formula_cells` in the index of ``rows`` being written (``images``:
    every image of DIR's journals, for :func:`maybe_formula_cells`), of its ``labels``
    (a labelled index's, with their images: :func:`label_formulas`) and of its header
    (:func:`formula_headers`), once per state of DIR: not again while the same columns
    hold the same first values on as many images (:func:`harvester.index.say_once`; the
    caller holds DIR's index lock)."""
    from harvester.index import say_once

    found = formula_cells(rows.refs()) if maybe_formula_cells(rows, images) else {}
    if labels:
        found.update(label_formulas(labels))
    say_once(out_dir, SAID_NAME, formula_line(found, index_file, formula_headers(rows)))

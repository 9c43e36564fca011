"""Which plates (datasets) DIR's ``index.csv`` gives a name: for the hint of a target not
found.

``index.csv`` shows each image's ``plate_id`` beside its ``plate_name``, and on IDR many
plates are named by a number (plate 7361 is named ``1977``): ``--plate 1977``, copied from
the name column, was "not found" and nothing more. Read only on that error's path, from
the folder on disk (no request), and at most :data:`MAX_ROWS_READ` rows of it, so a
folder of millions of images does not hold the error up.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

__all__ = ["MAX_ROWS_READ", "ids_named"]

#: The most rows of ``index.csv`` read for a name (its first ones): a hint, not a search.
MAX_ROWS_READ = 1_000_000
#: The most ids a name is given as (the first found): two plates of one name happen.
MAX_IDS = 3


def ids_named(index: Path, kind: str, name: str) -> list[int]:
    """The ids of the ``kind`` (``plate`` or ``dataset``) objects ``index`` names ``name``,
    in the order found, at most :data:`MAX_IDS`; [] for none, for an index that cannot
    be read (a missing or damaged file says nothing here: the error it adds to is the
    point; those found before a damaged row are kept), or for a kind without a name
    column."""
    id_key, name_key = f"{kind}_id", f"{kind}_name"
    found: dict[int, None] = {}
    try:
        with index.open(newline="", encoding="utf-8", errors="replace") as handle:
            # (csv.reader and two column numbers, not a DictReader: a dict per row read
            # made a million rows take seconds more of the error's time)
            rows = csv.reader(handle)
            header = next(rows, [])
            if id_key not in header or name_key not in header:
                return []
            id_at, name_at = header.index(id_key), header.index(name_key)
            last = max(id_at, name_at)
            for row in itertools.islice(rows, MAX_ROWS_READ):
                if len(row) > last and row[name_at] == name and _is_id(row[id_at]):
                    found[int(row[id_at])] = None
                    if len(found) >= MAX_IDS:
                        break
    except (OSError, csv.Error):
        pass  # (the ids found before a damaged row are still the index's own)
    return list(found)


def _is_id(text: str) -> bool:
    """Whether a cell is an id: ASCII digits (``str.isdigit`` takes ``²``, which ``int``
    refuses: a damaged cell raised ValueError out of the not-found error)."""
    return text.isascii() and text.isdigit()

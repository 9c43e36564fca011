"""Which plates (datasets) DIR's ``index.csv`` gives a name: for the hint of a target not
found.

``index.csv`` shows each image's ``plate_id`` beside its ``plate_name``, and on IDR many
plates are named by a number (plate 7361 is named ``1977``): ``--plate 1977``, copied from
the name column, was "not found" and nothing more. Read only on that error's path, from
the folder on disk (no request), and at most :data:`MAX_ROWS_READ` rows of it, so a
folder of millions of images does not hold the error up.

Only where every target set of DIR was harvested from the server asked now
(:func:`index_of_server`): ``index.csv`` has no server column, and image, plate and dataset
ids are one server's, so a folder harvested from another server (or from two) could answer
``--plate 7361`` with a plate id of that other server.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

__all__ = ["MAX_ROWS_READ", "ids_named", "ids_named_on", "index_of_server"]

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


def index_of_server(out_dir: Path, base_url: str) -> bool:
    """Whether every target set of DIR (forgotten ones too: their rows may stay until the
    next index write) was harvested from ``base_url`` (compared as the "mixed in" check
    compares servers: scheme, host, port and path). False where DIR's runs saved no
    readable settings: then nothing tells whose ids its ``index.csv`` holds."""
    from harvester.config import normal_base_url, recorded_target_sets, servers_of

    servers = servers_of(recorded_target_sets(out_dir, forgotten=True))
    return set(servers) == {normal_base_url(base_url)}


def ids_named_on(index: Path, kind: str, name: str, base_url: str) -> list[int]:
    """:func:`ids_named`, where ``index``'s folder is of ``base_url`` alone
    (:func:`index_of_server`); [] otherwise (another server's ids are no answer here)."""
    if not index.is_file() or not index_of_server(index.parent, base_url):
        return []
    return ids_named(index, kind, name)


def _is_id(text: str) -> bool:
    """Whether a cell is an id: ASCII digits (``str.isdigit`` takes ``²``, which ``int``
    refuses: a damaged cell raised ValueError out of the not-found error)."""
    return text.isascii() and text.isdigit()

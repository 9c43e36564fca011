"""A file of the user's own named as one of harvester's records is kept, not overwritten.

``split.json``, ``label_keys.json`` and ``label_ids.json`` in DIR are harvester's records of
the split, the label keys and the pinned label ids given last. A file by one of those names
that is no such record (the user's own split, by image; a list of their classes; or a record
damaged by hand) was warned of as damaged and then replaced by the next ``--split``,
``--label-key`` or ``--label-ids-from``. It is kept beside as ``<name>.edited-<time>.json``
with one warning, as an ``index.csv`` of the user's is.

The real command line against a folder harvested from the emulator over loopback sockets.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from label_keys_helpers import GENE, harvest, index, labels

from harvester.emulator import EmulatorThread

#: (record, the user's own bytes under its name, the flags that write the record)
OWN_FILES = [
    ("split.json", b'{"train": [9762957, 9762958], "test": [9762959]}\n', ["--split", "a=1"]),
    ("label_keys.json", b'["Gene Symbol", "Phenotype"]\n', ["--label-key", GENE]),
    ("label_ids.json", b"my ids: see notebook\n", ["--label-key", GENE, "--label-ids-from"]),
]


@pytest.mark.parametrize(("name", "own", "flags"), OWN_FILES)
def test_a_file_of_ones_own_by_a_record_name_is_kept(
    emulator: EmulatorThread, tmp_path: Path, name: str, own: bytes, flags: list[str]
) -> None:
    """The index write given the flag that records it keeps the user's file, byte for byte,
    as ``<name>.edited-<time>.json`` with one warning naming the copy, and writes its record."""
    out = tmp_path / "own"
    harvest(emulator, out, "--quiet")
    if flags[-1] == "--label-ids-from":  # a labels.csv to pin from, outside DIR
        index(out, "--label-key", GENE)
        assert any(labels(out).values())
        flags = [*flags, str(shutil.copy(out / "labels.csv", tmp_path / "v1.csv"))]
    (out / name).write_bytes(own)
    result = index(out, *flags)
    stem = name.removesuffix(".json")
    kept = sorted(out.glob(f"{stem}.edited-*.json"))
    assert len(kept) == 1, sorted(p.name for p in out.iterdir())
    assert kept[0].read_bytes() == own
    warning = (
        f"{out / name} is not a record harvester can read (damaged, or a file of your own): "
        f"kept it as {kept[0]}"
    )
    if name == "split.json":  # named in the line saying the split replaced is unknown
        warning = (
            "may be in another split now that split a=1.0 by well (images without a well "
            "alone), seed 0 replaces it; "
            f"the file is kept as {kept[0]}"
        )
    assert sum(warning in line for line in result.stderr.splitlines()) == 1, result.stderr
    assert isinstance(json.loads((out / name).read_bytes()), dict)  # harvester's record now
    index(out, *flags)  # its own record is not kept again
    assert len(list(out.glob(f"{stem}.edited-*.json"))) == 1

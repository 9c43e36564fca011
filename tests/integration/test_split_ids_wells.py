"""Images given by id and split by well: the unknown well is said, and the move it makes.

``--ids-from DIR/index.csv`` with thumbnails alone gives a screen's images no well id (only
imgData tells it), so the default split by well drew each field on its own and put the
fields of one well in train and test, the summary's ``by image, as no image has a well``
the only sign. The index write now warns, once, naming imgdata; and the harvest that adds
imgdata, which moves those images to their well's split, says how many moved (an image's
split changed without a word). Each command runs as ``harvester ARGS`` (in the test
process, tests/cli_in_process.py) against the emulator over real sockets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli
from label_keys_helpers import index, rows

from harvester.emulator import EmulatorThread

FIELDS_PLATE = 3001  # 12 wells x 3 fields: 36 images
SPLIT = ("--split", "train=0.5,test=0.5")
SPLIT_TEXT = "split train=0.5,test=0.5 by well, seed 0"  # (as split.json records it)
UNKNOWN = "--split-by well: 36 images given by id (--image, --ids-from) have no well id"


def _harvest(*args: str) -> str:
    """``harvester harvest ARGS -q`` (exit 0 asserted); its stderr."""
    result = run_cli("harvest", "--rate", "none", "-q", *args)
    assert result.returncode == 0, result.stderr
    return result.stderr


def _ids_of_plate(emu: EmulatorThread, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The index.csv of the plate harvested by a walk (for --ids-from), and image -> well."""
    walked = tmp_path / "walked"
    _harvest("--base-url", emu.base_url, "--plate", str(FIELDS_PLATE), "--out", str(walked),
             "--artifacts", "thumbnail")  # fmt: skip
    wells = {row["image_id"]: row["well_id"] for row in rows(walked)}
    assert len(wells) == 36 and len(set(wells.values())) == 12
    return walked / "index.csv", wells


def _wells_in_several_splits(out: Path, wells: dict[str, str]) -> int:
    seen: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows(out):
        seen[wells[row["image_id"]]].add(row["split"])
    return sum(len(names) > 1 for names in seen.values())


def test_ids_without_imgdata_are_named_then_imgdata_moves_them_and_says_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Thumbnails alone: one warning counts the 36 images with no well id and names
    imgdata, said once; the harvest adding imgdata splits them by well (no well in two
    splits) and counts the images that moved, keeping the replaced splits.csv."""
    emu = make_emulator(preset="fields")
    ids, wells = _ids_of_plate(emu, tmp_path)
    out = tmp_path / "byid"
    stderr = _harvest("--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
                      "--artifacts", "thumbnail", *SPLIT)  # fmt: skip
    (line,) = [x for x in stderr.splitlines() if "--split-by well:" in x]
    assert UNKNOWN in line and "add imgdata to the --artifacts" in line, line
    assert all(not row["well_id"] for row in rows(out))
    assert _wells_in_several_splits(out, wells) > 0  # the leak the warning names
    before = {row["image_id"]: row["split"] for row in rows(out)}
    assert "--split-by well:" not in index(out).stderr  # said once per state of the folder

    stderr = _harvest("--out", str(out), "--artifacts", "thumbnail,imgdata")
    after = {row["image_id"]: row["split"] for row in rows(out)}
    moved = sum(before[image] != after[image] for image in before)
    assert moved > 0 and _wells_in_several_splits(out, wells) == 0
    assert "--split-by well:" not in stderr, stderr
    (line,) = [x for x in stderr.splitlines() if "the split changed:" in x]
    assert f"the split changed: {moved} of the 36 images already in {out / 'index.csv'}" in line
    assert (
        "have their well id now (from their imgdata, or a walk of their screen or plate) and go"
        " with their well: split train=0.5,test=0.5 by well, seed 0;" in line
    ), line
    assert len(list(out.glob("splits.before-*.csv"))) == 1
    # The next write moves nothing and says nothing.
    again = index(out)
    assert "the split changed" not in again.stderr, again.stderr


def test_walked_images_and_ids_with_imgdata_say_nothing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A walked plate, and ids harvested with imgdata, have their wells: no warning, and an
    index write after a harvest moves no image."""
    emu = make_emulator(preset="fields")
    ids, wells = _ids_of_plate(emu, tmp_path)
    out = tmp_path / "withimgdata"
    stderr = _harvest("--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
                      "--artifacts", "thumbnail,imgdata", *SPLIT)  # fmt: skip
    assert "--split-by well:" not in stderr and "the split changed" not in stderr, stderr
    assert _wells_in_several_splits(out, wells) == 0
    assert "the split changed" not in index(out).stderr


def _moved_after_imgdata(out: Path, before: dict[str, str]) -> tuple[int, str]:
    """Harvest imgdata into ``out``: how many images changed split, and the warning's line."""
    stderr = _harvest("--out", str(out), "--artifacts", "thumbnail,imgdata")
    after = {row["image_id"]: row["split"] for row in rows(out)}
    moved = sum(before[image] != after[image] for image in before)
    lines = [x for x in stderr.splitlines() if "the split changed:" in x]
    return moved, lines[0] if lines else ""


def test_the_images_drawn_alone_are_recorded_and_placed_ones_dropped(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """``written.json`` lists the 36 images drawn on their own (what the next write checks
    instead of reading the old index.csv), and none once imgdata placed them."""
    from harvester.index import unplaced_split_before

    emu = make_emulator(preset="fields")
    ids, wells = _ids_of_plate(emu, tmp_path)
    out = tmp_path / "byid"
    _harvest("--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
             "--artifacts", "thumbnail", *SPLIT)  # fmt: skip
    assert unplaced_split_before(out, SPLIT_TEXT) == {int(image) for image in wells}
    before = {row["image_id"]: row["split"] for row in rows(out)}
    moved, line = _moved_after_imgdata(out, before)
    assert moved > 0 and f"the split changed: {moved} of the 36 images" in line, line
    assert unplaced_split_before(out, SPLIT_TEXT) == frozenset()


def test_moves_are_counted_in_a_folder_without_the_record(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder written before the record existed (no ``split_unplaced`` in written.json),
    or whose written.json is damaged, still has its moved images counted: the old index.csv
    is read once for their splits (they moved without a word)."""
    emu = make_emulator(preset="fields")
    ids, _ = _ids_of_plate(emu, tmp_path)
    for damage in ("older", "damaged"):
        out = tmp_path / damage
        _harvest("--base-url", emu.base_url, "--ids-from", str(ids), "--out", str(out),
                 "--artifacts", "thumbnail", *SPLIT)  # fmt: skip
        written = out / "written.json"
        if damage == "older":
            record = json.loads(written.read_text())
            del record["split_unplaced"]
            written.write_text(json.dumps(record))
        else:
            written.write_text('{"index.csv": ')
        before = {row["image_id"]: row["split"] for row in rows(out)}
        moved, line = _moved_after_imgdata(out, before)
        assert moved > 0, damage
        assert f"the split changed: {moved} of the 36 images" in line, (damage, line)

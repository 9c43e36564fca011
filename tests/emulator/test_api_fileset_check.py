"""webclient/fileset_check/: the delete and move dialogs' check of split filesets (omero-web's
``views.fileset_check``, template ``fileset_check_dialog_content.html``)."""

from __future__ import annotations

import json

import pytest
from api_helpers import call

from harvester.emulator import catalogue as c
from harvester.emulator import catalogue_presets as presets
from harvester.emulator.app import App, build_app
from harvester.plate_filesets import SplitFileset, parse_split_filesets


@pytest.fixture(scope="module")
def app() -> App:
    return build_app("demo")


def plate_images() -> list[int]:
    cat = c.Catalogue("demo")
    return [i for well in cat.wells(c.DEMO_PLATE_ID) for i in cat.well_image_ids(well)]


def split(app: App, url: str) -> list[SplitFileset] | None:
    answer = call(app, url)
    assert answer.status == 200 and answer.content_type.startswith("text/html")
    return parse_split_filesets(answer.body)


def test_some_images_of_a_plate_split_its_fileset(app: App) -> None:
    """Three of the plate's 8 images (one fileset): that fileset, 3 given, 5 left, as the
    template writes it (its counts in <strong>, the id in the chgrp form's hidden input)."""
    images = plate_images()
    fileset = c.Catalogue("demo").locate(images[0]).image.fileset_id  # type: ignore[union-attr]
    ids = ",".join(map(str, images[:3]))
    answer = call(app, f"/webclient/fileset_check/delete/?Image={ids}")
    text = answer.body.decode()
    assert "Multi-image filesets cannot be" in text and "partially deleted." in text
    assert (
        "You tried to delete <strong>3</strong>" in text and "leaving <strong>5</strong>." in text
    )
    assert f'<input name="fileset" value="{fileset}" style="display:none"/>' in text
    assert text.count('class="fileset_image"') == 3 + 4  # (the first 4 of the others)
    assert parse_split_filesets(answer.body) == [SplitFileset(fileset, 3, 5)]


def test_a_whole_fileset_or_single_image_filesets_split_nothing(app: App) -> None:
    """All the plate's images, a dataset's single-image filesets, an image without a
    fileset and an unknown id: no split fileset (the dialog's page, empty)."""
    whole = ",".join(map(str, plate_images()))
    assert split(app, f"/webclient/fileset_check/delete/?Image={whole}") == []
    others = f"{c.DEMO_PROJECT_IMAGE_IDS[0]},{presets.DEMO_NO_FILESET_IMAGE_ID},999999999"
    assert split(app, f"/webclient/fileset_check/delete/?Image={others}") == []
    assert split(app, "/webclient/fileset_check/delete/") == []


def test_two_filesets_split_are_each_listed_and_chgrp_says_move() -> None:
    """Images of two multi-series files (the series preset: 3 images a fileset), one of each:
    two split filesets; the move dialog's wording for chgrp."""
    app = build_app("series")
    first = presets.SERIES_FIRST_IMAGE_ID
    ids = f"{first},{first + presets.SERIES_PER_FILE}"
    answer = call(app, f"/webclient/fileset_check/chgrp/?Image={ids}")
    assert "split into 2 groups." in answer.body.decode()
    assert "You tried to move <strong>1</strong>" in answer.body.decode()
    assert [(s.given, s.others) for s in parse_split_filesets(answer.body) or []] == [
        (1, 2),
        (1, 2),
    ]


def test_an_id_that_is_not_a_number_is_djangos_500(app: App) -> None:
    """``int()`` of each id, unguarded: Django's 500 page."""
    answer = call(app, "/webclient/fileset_check/delete/?Image=1,x")
    assert answer.status == 500
    assert parse_split_filesets(answer.body) is None


def test_a_plate_imported_in_parts_splits_each_part_on_its_own() -> None:
    """The ``filesets`` preset's plate, 3 filesets of 4 columns (8 wells x 2 fields): images
    of two parts list both, each with its own counts; a whole part given splits nothing;
    each image's original_file_paths names its part's fileset and lists its 16 files."""
    app = build_app("filesets")
    cat = c.Catalogue("filesets")
    wells = cat.wells(presets.FILESETS_PLATE_ID)
    parts: dict[int, list[int]] = {}
    for image_id in (i for well in wells for i in cat.well_image_ids(well)):
        fileset = cat.locate(image_id).image.fileset_id  # type: ignore[union-attr]
        assert fileset is not None
        parts.setdefault(fileset, []).append(image_id)
    per = 2 * presets.FILESETS_COLS_PER_FILESET * presets.FILESETS_FIELDS
    assert len(parts) == 3 and all(len(ids) == per for ids in parts.values())
    (f0, first), (f1, second), (_, third) = sorted(parts.items())
    ids = ",".join(map(str, [*first[:2], second[0]]))
    assert split(app, f"/webclient/fileset_check/delete/?Image={ids}") == [
        SplitFileset(f0, 2, per - 2),
        SplitFileset(f1, 1, per - 1),
    ]
    whole = ",".join(map(str, second))
    assert split(app, f"/webclient/fileset_check/delete/?Image={whole}") == []
    for fileset, members in parts.items():
        answer = call(app, f"/webgateway/original_file_paths/{members[5]}/")
        listed = json.loads(answer.body)
        assert listed["fileset"] == {"id": fileset} and len(set(listed["client"])) == per
    labels = {cat.locate(i).well.label for i in third}  # type: ignore[union-attr]
    assert labels == {f"{row}{col}" for row in "AB" for col in range(9, 13)}

"""The emulator's catalogue: presets, id arithmetic, determinism, search counting."""

from __future__ import annotations

import pytest

from harvester.emulator import catalogue as c
from harvester.emulator import catalogue_presets as presets
from harvester.emulator.catalogue import GENES, PRESETS, Catalogue


def test_demo_screen_matches_idr0056() -> None:
    """Demo = screen 2302 with IDR's plate ids/names in name order, 7379 without runs."""
    cat = Catalogue("demo")
    screen = cat.screen(c.DEMO_SCREEN_ID)
    assert screen is not None and screen.name == c.DEMO_SCREEN_NAME
    plates = cat.plates(c.DEMO_SCREEN_ID)
    assert [(p.id, p.name) for p in plates] == list(c.DEMO_PLATES)
    assert [p.id for p in plates if not p.run_ids] == [7379]
    assert all(p.rows == 8 and p.cols == 12 for p in plates)


def test_demo_reference_image_is_exact() -> None:
    """Image 9762957 carries the captured IDR facts (name, well, size, channels, pixel size)."""
    info = Catalogue("demo").image(c.DEMO_IMAGE_ID)
    assert info is not None
    assert info.name == "1988 [Well A-1; Field #1]"
    assert info.well_id == c.DEMO_WELL_ID == 1475376
    assert (info.size_x, info.size_y, info.size_z, info.size_c, info.size_t) == (659, 493, 1, 4, 1)
    assert info.pixel_type == "uint16"
    assert info.physical_size_x == info.physical_size_y == 0.6459
    assert [ch.label for ch in info.channels] == list(c.DEMO_CHANNEL_LABELS)
    assert [ch.active for ch in info.channels] == [True, True, True, False]
    assert info.acquisition_ts == 1404512029.0
    assert info.field == 0 and info.run_id is not None


def test_demo_study_annotation_values() -> None:
    """The screen's study map annotation lists the issue's key/value pairs in order."""
    ann = Catalogue("demo").study_annotation("screen", c.DEMO_SCREEN_ID)
    assert ann is not None and ann.ns == c.NS_STUDY
    values = dict(ann.values)
    assert values["Study Title"] == (
        "Identification of long noncoding RNAs in regulation of cell division"
    )
    assert values["PubMed ID"] == "32296040"
    assert values["Data DOI"] == "10.17867/10000133b"
    assert len(ann.values) == 13


def test_demo_is_small_and_has_a_project() -> None:
    """Demo keeps a harvest short: 80 screen images + a project with two datasets of 4."""
    cat = Catalogue("demo")
    assert cat.image_count() == c.DEMO_IMAGE_COUNT == 88
    assert [d.id for d in cat.datasets(c.DEMO_PROJECT_ID)] == list(c.DEMO_DATASET_IDS)
    ids = [i for d in c.DEMO_DATASET_IDS for i in cat.dataset_image_ids(d)]
    assert ids == list(c.DEMO_PROJECT_IMAGE_IDS)


def test_every_image_locates_back_to_its_well() -> None:
    """Each listed well's images say they sit in that well, at their field index."""
    cat = Catalogue("fields")
    for plate_id in c.FIELDS_PLATE_IDS:
        for well in cat.wells(plate_id):
            for fld, image_id in enumerate(cat.well_image_ids(well)):
                info = cat.image(image_id)
                assert info is not None
                assert (info.well_id, info.field) == (well.id, fld)


def test_fields_preset_has_empty_wells_and_several_fields() -> None:
    """``fields``: 3 fields per imaged well and wells without any image."""
    cat = Catalogue("fields")
    wells = cat.wells(c.FIELDS_PLATE_IDS[0])
    empty = [w for w in wells if not cat.well_image_ids(w)]
    assert len(empty) == c.FIELDS_EMPTY_WELLS
    assert {len(cat.well_image_ids(w)) for w in wells} == {0, c.FIELDS_PER_WELL}


@pytest.mark.parametrize(
    ("preset", "check"),
    [
        ("plate384", lambda cat: len(cat.wells(c.PLATE384_PLATE_ID)) == 384),
        ("zstack", lambda cat: cat.image(1_300_001).size_z == c.ZSTACK_SIZE_Z),
        ("timeseries", lambda cat: cat.image(1_400_001).size_t == c.TIMESERIES_SIZE_T),
        (
            "tiled",
            lambda cat: (
                cat.image(c.TILED_IMAGE_ID).size_x > 3192
                and cat.image(c.TILED_IMAGE_ID).levels == c.TILED_LEVELS
                and c.TILED_OVER_SIZE[0] > 3192
                and c.TILED_OVER_SIZE[0] * c.TILED_OVER_SIZE[1] > 3192 * 3192
                and (
                    cat.image(c.TILED_OVER_IMAGE_ID).size_x,
                    cat.image(c.TILED_OVER_IMAGE_ID).size_y,
                )
                == c.TILED_OVER_SIZE
                and cat.image(c.TILED_OVER_IMAGE_ID).levels == c.TILED_OVER_LEVELS
            ),
        ),
        ("bigscreen", lambda cat: len(cat.plates(c.BIGSCREEN_SCREEN_ID)) > 1000),
        ("bigproject", lambda cat: len(cat.datasets(c.BIGPROJECT_PROJECT_ID)) > 500),
        ("huge", lambda cat: cat.image_count() >= 1_000_000),
        (
            "channels",
            lambda cat: (
                [ch.active for ch in cat.image(presets.CHANNELS_IMAGE_ID).channels]
                == [True] * presets.CHANNELS_SIZE_C
                and presets.CHANNELS_SIZE_C > 10  # the image-region service's limit
                and sum(
                    ch.active for ch in cat.image(presets.CHANNELS_FEW_ACTIVE_IMAGE_ID).channels
                )
                == presets.CHANNELS_FEW_ACTIVE
            ),
        ),
    ],
)
def test_preset_shapes(preset: str, check: object) -> None:
    """Each preset provides the structure the issue asks for."""
    assert callable(check) and check(Catalogue(preset))


def test_names_preset_is_hostile() -> None:
    """``names`` serves '../', '/', NUL, control characters and 1,000-character names."""
    cat = Catalogue("names")
    plate_names = [p.name for p in cat.plates(c.NAMES_SCREEN_ID)]
    joined = "".join(plate_names)
    assert "../" in joined and "/" in joined and "\x00" in joined and "\x1b" in joined
    assert max(len(n) for n in plate_names) >= 1000
    image_names = [cat.image(i).name for i in cat.iter_image_ids()]  # type: ignore[union-attr]
    assert any("\x00" in n for n in image_names)


def test_unknown_preset_is_a_one_line_value_error() -> None:
    """A bad preset name fails with the list of valid ones."""
    with pytest.raises(ValueError, match="unknown preset 'nope'") as info:
        Catalogue("nope")
    assert "\n" not in str(info.value) and "demo" in str(info.value)


def test_seed_changes_genes_not_ids() -> None:
    """Ids and names are seed-independent; the per-well gene assignment depends on the seed."""
    a, b = Catalogue("demo", 0), Catalogue("demo", 5)
    assert list(a.iter_image_ids()) == list(b.iter_image_ids())
    genes_a = [a.well_annotations(w.id)[0].values for w in a.wells(c.DEMO_PLATE_ID)]
    genes_b = [b.well_annotations(w.id)[0].values for w in b.wells(c.DEMO_PLATE_ID)]
    assert genes_a != genes_b
    assert genes_a == [
        Catalogue("demo", 0).well_annotations(w.id)[0].values for w in a.wells(c.DEMO_PLATE_ID)
    ]


def test_unknown_ids_are_none() -> None:
    """Ids between or beyond the arithmetic ranges resolve to nothing."""
    cat = Catalogue("demo")
    for image_id in (0, 1, c.DEMO_IMAGE_ID + 10_000, 1884800, 1884809):
        assert cat.image(image_id) is None
    assert cat.plate(1) is None and cat.well(1) is None and cat.dataset(53) is None


def test_search_counts_match_a_brute_force_scan() -> None:
    """Arithmetic search totals and pages equal a scan over every image's annotations."""
    cat = Catalogue("fields", 3)
    for gene in GENES[:6]:
        genes = cat.matching_genes("Gene Symbol", gene.symbol.lower())
        expected = [
            i
            for i in cat.iter_image_ids()
            if ("Gene Symbol", gene.symbol) in cat.sample_values(cat.locate(i))  # type: ignore[arg-type]
        ]
        ids, total = cat.search_images(genes, 0, 10_000)
        assert ids == expected and total == len(expected)
        if len(expected) > 2:
            page, _ = cat.search_images(genes, expected[1], 1)
            assert page == [expected[2]]


def test_huge_lookup_is_arithmetic() -> None:
    """The millionth image of ``huge`` resolves instantly to its dataset."""
    cat = Catalogue("huge")
    last = c.HUGE_FIRST_IMAGE_ID + c.HUGE_IMAGE_COUNT - 1
    loc = cat.locate(last)
    assert loc is not None and loc.dataset is not None
    assert loc.dataset.id == c.HUGE_FIRST_DATASET_ID + c.HUGE_DATASETS - 1
    assert cat.image(last + 1) is None


def test_every_preset_builds() -> None:
    """All advertised presets construct and report images."""
    for name in PRESETS:
        assert Catalogue(name).image_count() > 0


def test_spellings_preset_spells_each_gene_three_ways() -> None:
    """Each gene of ``spellings`` is on 3 wells in a row, spelt as is, lower case with
    doubled spaces, title case, each spelling its own annotation (its own id); its image
    carries its well's spelling. The other presets spell every value one way."""
    cat = Catalogue("spellings")
    wells = cat.wells(c.SPELLINGS_PLATE_ID)
    assert len(wells) == c.SPELLINGS_IMAGE_COUNT
    first = [cat.well_annotations(w.id) for w in wells[:3]]
    assert [dict(anns[0].values)["Gene Symbol"] for anns in first] == ["ECT2", "ect2 ", "Ect2"]
    assert [dict(anns[2].values)["Phenotype"] for anns in first] == [
        "increased cell size",
        "increased  cell  size ",
        "Increased Cell Size",
    ]
    assert len({anns[0].id for anns in first}) == 3
    image = cat.image_annotations(c.SPELLINGS_FIRST_IMAGE_ID + 1)
    assert dict(image[0].values)["Gene Symbol"] == "ect2 "
    demo = Catalogue("demo")
    symbols = {
        dict(demo.well_annotations(w.id)[0].values)["Gene Symbol"]
        for p in c.DEMO_PLATE_IDS
        for w in demo.wells(p)
    }
    assert all(s == s.upper() and s == s.strip() for s in symbols)

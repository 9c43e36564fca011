"""The emulator's presets: what each catalogue contains, with every id.

A preset is a handful of container specs (:class:`ScreenSpec`,
:class:`ProjectSpec`) from which :mod:`harvester.emulator.catalogue` derives
every plate, well, sample and image arithmetically. Constants name the ids
tests and users need; the seed only changes derived values.

Presets and their ids
---------------------
========== ===================================================================
preset     content (constants below)
========== ===================================================================
demo       screen 2302 "idr0056-stojic-lncrnas/screenB": 10 plates of 96 wells
           (8x12), ids/names DEMO_PLATES (7379 '1983' has 0 runs), 8 imaged
           wells per plate (A1-A4, B1-B4) x 1 field = 80 images, 4-channel
           uint16 659x493, 0.6459 um; image 9762957 = '1988 [Well A-1;
           Field #1]' in well 1475376 of plate 7375. Project 51
           "idr0021-lawo-pericentriolarmaterial/experimentA" with datasets 51
           and 52 of 4 images each (ids 1884801-1884808). 88 images in all.
           ROIs: image 1884801 has none, 1884802 has 1203 (two pages of the
           JSON API's 1000), 1884806 has 2001 (three pages): ROI_COUNTS; every
           other image of every preset has 0-4, seeded (emulator/rois.py).
fields     screen 1101: plates 3001-3002 (8x12), 12 imaged wells (A1-C4) x 3
           fields = 72 images (ids 2100001-2100072), 4 empty wells (D1-D4, no
           WellSamples), one run each.
runs       screen 1151: plates 3101-3102 (8x12), 4 imaged wells (A1-A4), each
           with 2 runs (PlateAcquisitions) x 3 fields = 6 WellSamples: indices
           0-2 in the plate's first run, 3-5 in its second (field within the
           run = index - 3 * run number); runs 103101-103102 (plate 3101) and
           103103-103104 (plate 3102); 48 images (ids 2150001-2150048).
plate384   screen 1201: plate 4001 of 16x24 wells, all 384 imaged, 1 field
           (images 2300001-2300384).
zstack     project 1301, dataset 5301: images 1300001-1300003, 256x256,
           sizeZ 12, 2 channels.
timeseries project 1401, dataset 5401: images 1400001-1400003, 128x128,
           sizeZ 3, sizeT 20.
tiled      project 1501, dataset 5501: image 1500001 8000x6000 (5 levels,
           tiles 256) and image 1500002 512x512 (not tiled); project 1502,
           dataset 5502: image 1500101 3400x3100 (4 levels), just over the
           microservice's 3192 px plane limit (side and area) at a fifth of
           the pixels, for tests of what any plane over it takes; project
           1503, dataset 5503: image 1500201 70000x40000 (9 levels), a whole
           slide too big to render or stack whole (over 2 GiB a plane), and
           1500202 66000x16000, wider than a JPEG holds (65,500 px), for tests
           that refuse them before any region.
bigscreen  screen 1601: 1200 plates (ids 20001-21200), 1 well x 1 field each
           (images 3100001-3101200).
bigproject project 1701: 600 datasets (ids 30001-30600), 1 image each
           (images 3200001-3200600).
huge       project 1801: 1000 datasets (ids 40001-41000) x 1000 images
           (ids 10000001-11000000) = 1,000,000 images.
names      screen 1901 (plates 60001-60008, images from 4100001) + project
           1951 (datasets 61001-61008, images from 4200001) with hostile names
           ('../', '/', '\\', NUL, control characters, '..', 1,000-character
           names, a comma and quotes) on screen, project, plates, datasets and
           images.
idclash    IDR's independent id spaces colliding, as on the real server
           (screen 51 is idr0003, project 51 is idr0021): screen 51 with plate
           51 (4 imaged wells A1-A4, well ids 2400001-2400004, images
           2450001-2450004) and project 51 with dataset 51 whose 4 images have
           the well ids: 2400001-2400004. ``annotations/?screen=51`` and
           ``?project=51``, ``?well=2400001`` and ``?image=2400001`` name
           different objects (check ``link.parent``).
links      OMERO's many-to-many links: project 2001 with datasets 62001
           'linked-A' and 62002 'linked-B' of 3 images each (ids
           4300001-4300006), image 4300001 also linked into 62002 (which so
           lists 4 images: childCount 4); its imgData says "Multiple" for
           dataset and project, as for any image in more than one dataset.
           Project 2002 holds no dataset of its own but links 62002 too, so
           62002 has two projects (its images' imgData: project "Multiple").
channels   project 2101, dataset 6101: images 4400001-4400002, 96x64 uint8
           with 12 channels (multiplexed imaging has dozens): 4400001 saved
           with all 12 active, over the microservice's 10 active channels a
           render may ask for; 4400002 with the first 3 active.
units      project 2201, dataset 6201: images 4500001-4500003, 64x48 uint8,
           one channel, physical sizes stored in another unit than um (the
           JSON API states the stored value and unit; imgData converts to um
           as OMERO.web does, null where it cannot): 4500001 65 nm (z 200 nm,
           sizeZ 2), 4500002 6459 Angstrom, 4500003 1 pixel (imgData null).
series     project 2301, dataset 6301: images 4600001-4600006, 64x48 uint8,
           from two multi-series files (a .lif of 3 series each, as one import
           of a confocal's file makes): one fileset per file, 3 images each
           (filesets 900000000 + the first image id), each image's
           ``original_file_paths`` listing its file's one path.
spellings  screen 2401: plate 5001 (8x12), 12 imaged wells (A1-C4) x 1 field
           (images 4700001-4700012); each gene is on 3 wells in a row, its
           mapr values spelled as typed by hand: as is, lower case with doubled
           inner spaces and a trailing one, title case (``ECT2``, ``ect2``,
           ``Ect2``; ``increased cell size``, ``increased  cell size ``,
           ``Increased Cell Size``), each spelling its own annotation
           (:func:`respelled`); search and bulk tables keep the gene's own.
filesets   screen 2501: plate 5101 (8x12), 24 imaged wells (A1-B12) x 2
           fields (images 4800001-4800048), imported as 3 filesets of 4
           columns each (A1-B4, A5-B8, A9-B12; ``cols_per_fileset``): each
           image's ``original_file_paths`` lists its fileset's 16 files, and
           ``fileset_check`` splits each fileset on its own.
========== ===================================================================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from harvester.emulator.model import ChannelInfo

PRESETS: tuple[str, ...] = (
    "demo",
    "fields",
    "runs",
    "plate384",
    "zstack",
    "timeseries",
    "tiled",
    "bigscreen",
    "bigproject",
    "huge",
    "names",
    "idclash",
    "links",
    "channels",
    "units",
    "series",
    "spellings",
    "filesets",
)
DEFAULT_PRESET = "demo"

# --- demo -------------------------------------------------------------------
DEMO_SCREEN_ID = 2302
DEMO_SCREEN_NAME = "idr0056-stojic-lncrnas/screenB"
#: (plate id, plate name) in name order, as IDR lists them.
DEMO_PLATES: tuple[tuple[int, str], ...] = (
    (7361, "1977"),
    (7368, "1978"),
    (7366, "1981"),
    (7367, "1982"),
    (7379, "1983"),
    (7369, "1984"),
    (7371, "1985"),
    (7370, "1986"),
    (7372, "1987"),
    (7375, "1988"),
)
DEMO_PLATE_IDS: tuple[int, ...] = tuple(pid for pid, _ in DEMO_PLATES)
DEMO_ZERO_RUN_PLATE_ID = 7379
DEMO_PLATE_ID = 7375  # plate '1988'
DEMO_WELL_ID = 1475376  # well A1 of plate 7375
DEMO_IMAGE_ID = 9762957  # '1988 [Well A-1; Field #1]'
DEMO_WELLS_PER_PLATE = 8
DEMO_FIELDS = 1
DEMO_SCREEN_IMAGE_COUNT = len(DEMO_PLATES) * DEMO_WELLS_PER_PLATE * DEMO_FIELDS
DEMO_PROJECT_ID = 51
DEMO_PROJECT_NAME = "idr0021-lawo-pericentriolarmaterial/experimentA"
DEMO_DATASET_IDS: tuple[int, ...] = (51, 52)
DEMO_IMAGES_PER_DATASET = 4
DEMO_PROJECT_IMAGE_IDS: tuple[int, ...] = tuple(range(1884801, 1884809))
DEMO_IMAGE_COUNT = DEMO_SCREEN_IMAGE_COUNT + len(DEMO_PROJECT_IMAGE_IDS)
DEMO_NO_ROIS_IMAGE_ID = 1884801  # dataset 51: no ROIs (an empty list)
DEMO_MANY_ROIS_IMAGE_ID = 1884802  # dataset 51: two pages of ROIs
DEMO_MOST_ROIS_IMAGE_ID = 1884806  # dataset 52: three pages of ROIs
DEMO_NO_FILESET_IMAGE_ID = 1884808  # dataset 52: no fileset (original_file_paths: {})
#: Images whose ROI count is fixed (the others have 0-4, seeded: emulator/rois.py).
ROI_COUNTS: dict[int, int] = {
    DEMO_NO_ROIS_IMAGE_ID: 0,
    DEMO_MANY_ROIS_IMAGE_ID: 1203,
    DEMO_MOST_ROIS_IMAGE_ID: 2001,
}
DEMO_SIZE_X = 659
DEMO_SIZE_Y = 493
DEMO_PIXEL_SIZE = 0.6459
DEMO_CHANNEL_LABELS: tuple[str, ...] = (
    "alpha-tubulin (microtubule cytoskeleton)",
    "gamma-tubulin (centrosomes)",
    "phospho-histone H3 serine 10 (mitotic cells)",
    "Hoechst (DNA)",
)
DEMO_STUDY: tuple[tuple[str, str], ...] = (
    ("Sample Type", "cell"),
    ("Organism", "Homo sapiens"),
    ("Study Title", "Identification of long noncoding RNAs in regulation of cell division"),
    ("Study Type", "high content screen"),
    ("Screen Type", "primary screen"),
    ("Screen Technology Type", "RNAi screen"),
    ("Imaging Method", "spinning disk confocal microscopy"),
    (
        "Publication Title",
        "A long noncoding RNA regulates microtubule behaviour during mitosis",
    ),
    ("PubMed ID", "32296040"),
    ("Publication DOI", "10.1038/s41467-020-14978-7"),
    ("Release Date", "2020-03-03"),
    ("License", "CC BY 4.0"),
    ("Data DOI", "10.17867/10000133b"),
)

# --- other presets ----------------------------------------------------------
FIELDS_SCREEN_ID = 1101
FIELDS_PLATE_IDS: tuple[int, ...] = (3001, 3002)
FIELDS_PER_WELL = 3
FIELDS_IMAGED_WELLS = 12
FIELDS_EMPTY_WELLS = 4
RUNS_SCREEN_ID = 1151
RUNS_PLATE_IDS: tuple[int, ...] = (3101, 3102)
RUNS_PER_PLATE = 2
RUNS_FIELDS_PER_RUN = 3
RUNS_IMAGED_WELLS = 4
RUNS_FIRST_IMAGE_ID = 2_150_001
RUNS_FIRST_RUN_ID = 103_101  # runs of plate p (0-based): 103101 + 2p, 103102 + 2p
RUNS_IMAGE_COUNT = len(RUNS_PLATE_IDS) * RUNS_IMAGED_WELLS * RUNS_PER_PLATE * RUNS_FIELDS_PER_RUN
SPELLINGS_SCREEN_ID = 2401
SPELLINGS_PLATE_ID = 5001
SPELLINGS_FIRST_IMAGE_ID = 4_700_001
SPELLINGS_IMAGE_COUNT = 12
FILESETS_SCREEN_ID = 2501
FILESETS_PLATE_ID = 5101
FILESETS_FIRST_IMAGE_ID = 4_800_001
FILESETS_WELLS = 24
FILESETS_FIELDS = 2
FILESETS_COLS_PER_FILESET = 4
PLATE384_SCREEN_ID = 1201
PLATE384_PLATE_ID = 4001
ZSTACK_PROJECT_ID = 1301
ZSTACK_DATASET_ID = 5301
ZSTACK_SIZE_Z = 12
TIMESERIES_PROJECT_ID = 1401
TIMESERIES_DATASET_ID = 5401
TIMESERIES_SIZE_T = 20
TILED_PROJECT_ID = 1501
TILED_DATASET_ID = 5501
TILED_IMAGE_ID = 1500001
TILED_SMALL_IMAGE_ID = 1500002
TILED_SIZE = (8000, 6000)
TILED_LEVELS = 5
TILED_OVER_PROJECT_ID = 1502
TILED_OVER_DATASET_ID = 5502
TILED_OVER_IMAGE_ID = 1_500_101
TILED_OVER_SIZE = (3400, 3100)
TILED_OVER_LEVELS = 4
#: A whole slide: wider than a JPEG holds (65,500 px) and over 2 GiB a plane at 8 bits.
TILED_SLIDE_PROJECT_ID = 1503
TILED_SLIDE_DATASET_ID = 5503
TILED_SLIDE_IMAGE_ID = 1_500_201
TILED_SLIDE_SIZE = (70000, 40000)
TILED_SLIDE_LEVELS = 9
#: Beside it, 1500202: wider than a JPEG holds, under 2 GiB a plane.
TILED_WIDE_IMAGE_ID = 1_500_202
TILED_WIDE_SIZE = (66000, 16000)
BIGSCREEN_SCREEN_ID = 1601
BIGSCREEN_PLATES = 1200
BIGSCREEN_FIRST_PLATE_ID = 20001
BIGPROJECT_PROJECT_ID = 1701
BIGPROJECT_DATASETS = 600
BIGPROJECT_FIRST_DATASET_ID = 30001
HUGE_PROJECT_ID = 1801
HUGE_DATASETS = 1000
HUGE_IMAGES_PER_DATASET = 1000
HUGE_FIRST_DATASET_ID = 40001
HUGE_FIRST_IMAGE_ID = 10_000_001
HUGE_IMAGE_COUNT = HUGE_DATASETS * HUGE_IMAGES_PER_DATASET
#: ``idclash``: screen, plate, project and dataset all have id 51; the screen's
#: wells and the project's images share ids 2400001-2400004.
IDCLASH_ID = 51
IDCLASH_IMAGES = 4
IDCLASH_FIRST_WELL_ID = 2_400_001
IDCLASH_FIRST_SCREEN_IMAGE_ID = 2_450_001
#: ``links``: image LINKS_SHARED_IMAGE_ID of dataset 62001 is also in 62002.
LINKS_PROJECT_ID = 2001
LINKS_DATASET_IDS = (62001, 62002)
LINKS_IMAGES_PER_DATASET = 3
LINKS_FIRST_IMAGE_ID = 4_300_001
LINKS_SHARED_IMAGE_ID = LINKS_FIRST_IMAGE_ID
#: ``links``: a project whose only dataset is LINKS_DATASET_IDS[1], linked from project 2001.
LINKS_SECOND_PROJECT_ID = 2002
#: ``channels``: CHANNELS_IMAGE_ID has CHANNELS_SIZE_C channels, all active;
#: CHANNELS_FEW_ACTIVE_IMAGE_ID the same channels with the first CHANNELS_FEW_ACTIVE active.
CHANNELS_PROJECT_ID = 2101
CHANNELS_DATASET_ID = 6101
CHANNELS_IMAGE_ID = 4_400_001
CHANNELS_FEW_ACTIVE_IMAGE_ID = 4_400_002
CHANNELS_SIZE_C = 12
CHANNELS_FEW_ACTIVE = 3
#: ``units``: images whose physical sizes OMERO stores in another unit than micrometres
#: (UNITS_STORED: image id -> (x = y, z, ``UnitsLength``), as the JSON API states them).
UNITS_PROJECT_ID = 2201
UNITS_DATASET_ID = 6201
UNITS_NM_IMAGE_ID = 4_500_001
UNITS_ANGSTROM_IMAGE_ID = 4_500_002
UNITS_PIXEL_IMAGE_ID = 4_500_003
#: ``series``: SERIES_FILES files of SERIES_PER_FILE images each (one fileset per file).
SERIES_PROJECT_ID = 2301
SERIES_DATASET_ID = 6301
SERIES_FIRST_IMAGE_ID = 4_600_001
SERIES_PER_FILE = 3
SERIES_FILES = 2
UNITS_STORED: dict[int, tuple[float, float | None, str]] = {
    UNITS_NM_IMAGE_ID: (65.0, 200.0, "NANOMETER"),
    UNITS_ANGSTROM_IMAGE_ID: (6459.0, None, "ANGSTROM"),
    UNITS_PIXEL_IMAGE_ID: (1.0, None, "PIXEL"),
}
NAMES_SCREEN_ID = 1901
NAMES_PROJECT_ID = 1951
LONG_NAME = "L" * 1000
#: hostile names used for plates, datasets and (embedded) images in ``names``.
HOSTILE_NAMES: tuple[str, ...] = (
    "../../etc/passwd",
    "a/b\\c",
    "nul\x00byte",
    "ctrl\x07\x1b[31m\n\ttab",
    LONG_NAME,
    "..",
    "caf\u00e9 \u00b5m \u2603",
    'comma, "quoted" name',  # CSV's delimiter and quote (index.csv must quote it)
)

# --- the public user and namespaces -----------------------------------------
OWNER_ID = 2
OWNER_FIRST = "Public"
OWNER_LAST = "data"
OWNER_OMENAME = "public"
GROUP_ID = 3
GROUP_NAME = "public"
NS_STUDY = "idr.openmicroscopy.org/study/info"
NS_GENE = "openmicroscopy.org/mapr/gene"
NS_SIRNA = "openmicroscopy.org/mapr/sirna"
NS_PHENOTYPE = "openmicroscopy.org/mapr/phenotype"


@dataclass(frozen=True, slots=True)
class Gene:
    """One gene with the mapr values IDR attaches to the wells that carry it."""

    symbol: str
    ensembl: str
    sirna: str
    phenotypes: tuple[tuple[str, str], ...]  # (phenotype name, CMPO accession)


GENES: tuple[Gene, ...] = (
    Gene("ECT2", "ENSG00000114346", "s26523", (("increased cell size", "CMPO_0000128"),)),
    Gene("CDC20", "ENSG00000117399", "s2748", (("mitotic arrest", "CMPO_0000219"),)),
    Gene("PLK1", "ENSG00000166851", "s449", (("mitotic arrest", "CMPO_0000219"),)),
    Gene("KIF11", "ENSG00000138160", "s7902", (("monopolar spindle", "CMPO_0000225"),)),
    Gene("AURKA", "ENSG00000087586", "s197", ()),
    Gene("TPX2", "ENSG00000088325", "s22784", (("monopolar spindle", "CMPO_0000225"),)),
    Gene("LINC00899", "ENSG00000231711", "n272365", (("mitotic delay", "CMPO_0000306"),)),
    Gene("NEAT1", "ENSG00000245532", "n272456", ()),
    Gene("MALAT1", "ENSG00000251562", "n272231", ()),
    Gene("GAPDH", "ENSG00000111640", "s5573", ()),
    Gene("TUBB", "ENSG00000196230", "s14474", (("microtubules disorganised", "CMPO_0000147"),)),
    Gene("TUBG1", "ENSG00000131462", "s14488", (("centrosome defect", "CMPO_0000377"),)),
    Gene("CEP192", "ENSG00000101639", "s35208", (("centrosome defect", "CMPO_0000377"),)),
    Gene("NUF2", "ENSG00000143228", "s41001", (("mitotic arrest", "CMPO_0000219"),)),
    Gene("BUB1B", "ENSG00000156970", "s2248", (("mitotic delay", "CMPO_0000306"),)),
    Gene("INCENP", "ENSG00000149503", "s7424", (("increased DNA area", "CMPO_0000140"),)),
    Gene("KIF2C", "ENSG00000142945", "s7911", ()),
    Gene("CKAP5", "ENSG00000175216", "s18831", (("microtubules disorganised", "CMPO_0000147"),)),
    Gene(
        "PRC1",
        "ENSG00000198901",
        "s17262",
        (("increased number of multinucleate cells", "CMPO_0000300"),),
    ),
    Gene(
        "RACGAP1",
        "ENSG00000161800",
        "s22388",
        (("increased number of multinucleate cells", "CMPO_0000300"),),
    ),
    Gene(
        "CENPE",
        "ENSG00000138778",
        "s2913",
        (("mitotic arrest", "CMPO_0000219"), ("misshapen DNA", "CMPO_0000177")),
    ),
    Gene("SCRAMBLED", "none", "neg9", ()),
    Gene(
        "KIF18A",
        "ENSG00000121621",
        "s37883",
        (("mitotic delay", "CMPO_0000306"), ("increased DNA area", "CMPO_0000140")),
    ),
    Gene(
        "HAUS6",
        "ENSG00000147874",
        "s33117",
        (("microtubules disorganised", "CMPO_0000147"), ("centrosome defect", "CMPO_0000377")),
    ),
)
_GENE_STEP = 7  # coprime with len(GENES): the gene pattern walks every gene
assert math.gcd(_GENE_STEP, len(GENES)) == 1


@dataclass(frozen=True, slots=True)
class PixelsSpec:
    """Geometry and channels shared by every image of a container spec."""

    size_x: int
    size_y: int
    size_z: int
    size_c: int
    size_t: int
    pixel_type: str
    channels: tuple[ChannelInfo, ...]
    physical_size_x: float | None = None
    physical_size_y: float | None = None
    physical_size_z: float | None = None
    time_increment: float | None = None
    levels: int = 1
    tile: int = 256
    #: The OMERO ``UnitsLength`` the physical sizes are stored in (see model.LENGTH_UNITS).
    length_unit: str = "MICROMETER"


@dataclass(frozen=True, eq=False)
class ScreenSpec:
    """A screen whose plates, wells, samples and images are all arithmetic."""

    id: int
    name: str
    description: str
    study: tuple[tuple[str, str], ...]
    plate_ids: tuple[int, ...]
    plate_names: tuple[str, ...]
    rows: int
    cols: int
    positions: tuple[tuple[int, int], ...]
    empty_positions: tuple[tuple[int, int], ...]
    fields: int  # WellSamples per imaged well, over all of its runs
    zero_run_plates: frozenset[int]
    well_base: int
    image_base: int
    wellsample_base: int
    run_base: int
    pixels: PixelsSpec
    acquisition_ts: float
    salt: int = 0
    ts_ref_plate: int = 0  # the plate whose first image is taken at exactly acquisition_ts
    #: Runs per plate; WellSample index k belongs to run k // fields_per_run.
    runs_per_plate: int = 1
    #: Each gene on :data:`SPELLINGS` samples in a row, spelled each way (:func:`respelled`).
    spellings: bool = False
    #: Columns of wells a fileset of a plate holds: 0, the whole plate is one fileset (one
    #: import); over 0, a plate imported in parts (scanned a few columns at a time), each
    #: part the images of that many columns' wells, a fileset id of its own.
    cols_per_fileset: int = 0

    @property
    def fields_per_run(self) -> int:
        """WellSamples of one well in one run (``MaximumFieldCount``)."""
        return max(1, self.fields // self.runs_per_plate)

    @property
    def n_plates(self) -> int:
        """How many plates the screen holds."""
        return len(self.plate_ids)

    @property
    def n_samples(self) -> int:
        """Imaged wells over all plates (the dense sample index range)."""
        return self.n_plates * len(self.positions)

    @property
    def n_images(self) -> int:
        """Images over all plates."""
        return self.n_samples * self.fields

    @functools.cached_property
    def plate_index(self) -> dict[int, int]:
        """Plate id -> index (small: one entry per plate, not per image)."""
        return {pid: i for i, pid in enumerate(self.plate_ids)}

    @functools.cached_property
    def position_index(self) -> dict[tuple[int, int], int]:
        """(row, col) -> index in ``positions``."""
        return {pos: i for i, pos in enumerate(self.positions)}


@dataclass(frozen=True, eq=False)
class ProjectSpec:
    """A project whose datasets and images are arithmetic."""

    id: int
    name: str
    description: str
    study: tuple[tuple[str, str], ...]
    dataset_base: int
    n_datasets: int
    images_per_dataset: int
    image_base: int
    pixels: PixelsSpec
    acquisition_ts: float
    dataset_names: tuple[str, ...] = ()  # explicit names, else f"{dataset_prefix}{d+1:04d}"
    dataset_prefix: str = "dataset-"
    image_prefix: str = "image"
    per_image_pixels: Callable[[int], PixelsSpec] | None = None
    salt: int = 0
    #: Further Dataset-Image links (OMERO's are many-to-many): (image offset in this
    #: spec, dataset index) puts that image in that dataset as well as in its own.
    also_in: tuple[tuple[int, int], ...] = ()
    #: Datasets of other projects this project holds too (Project-Dataset links are
    #: many-to-many as well): listed and counted with its own.
    linked_datasets: tuple[int, ...] = ()
    #: Images (ids) without a fileset, as imported before OMERO 5 (no ``filesetId``; their
    #: ``original_file_paths`` is ``{}``).
    no_fileset: frozenset[int] = frozenset()
    #: Images a file (and so a fileset) holds, in id order: over 1, a multi-series file
    #: (``name.lif [Series k]``) whose images share one fileset listing the one file.
    images_per_fileset: int = 1

    @property
    def n_images(self) -> int:
        """Images over all datasets."""
        return self.n_datasets * self.images_per_dataset


def _channels(
    labels: Sequence[str],
    colors: Sequence[str],
    ends: Sequence[float],
    pixel_max: float = 65535.0,
    starts: Sequence[float] | None = None,
    active: Sequence[bool] | None = None,
) -> tuple[ChannelInfo, ...]:
    return tuple(
        ChannelInfo(
            label=label,
            color=color,
            window_min=0.0,
            window_max=pixel_max,
            start=(starts[i] if starts else 0.0),
            end=ends[i],
            active=(active[i] if active else True),
        )
        for i, (label, color) in enumerate(zip(labels, colors, strict=True))
    )


def _grey(n: int, end: float = 4000.0, pixel_max: float = 65535.0) -> tuple[ChannelInfo, ...]:
    colors = ("00FF00", "FF0000", "0000FF", "FF00FF", "FFFF00", "00FFFF")
    return _channels(
        [f"Ch{i}" for i in range(n)],
        [colors[i % len(colors)] for i in range(n)],
        [end] * n,
        pixel_max,
    )


# ---------------------------------------------------------------------------
# Preset definitions.


def _demo(seed: int) -> tuple[list[ScreenSpec], list[ProjectSpec]]:
    demo_pixels = PixelsSpec(
        DEMO_SIZE_X,
        DEMO_SIZE_Y,
        1,
        4,
        1,
        "uint16",
        _channels(
            DEMO_CHANNEL_LABELS,
            ("FF0000", "00FF00", "0000FF", "FF0000"),
            (187.0, 342.0, 117.0, 381.0),
            starts=(0.0, 0.0, 1.0, 0.0),
            active=(True, True, True, False),
        ),
        physical_size_x=DEMO_PIXEL_SIZE,
        physical_size_y=DEMO_PIXEL_SIZE,
    )
    positions = tuple((r, c) for r in range(2) for c in range(4))
    per_plate = len(positions) * DEMO_FIELDS
    target_plate = DEMO_PLATE_IDS.index(DEMO_PLATE_ID)
    screen = ScreenSpec(
        id=DEMO_SCREEN_ID,
        name=DEMO_SCREEN_NAME,
        description=(
            "Publication Title\nA long noncoding RNA regulates microtubule behaviour during "
            "mitosis\n\nScreen Description\nPrimary screen of lncRNA knockdowns in HeLa cells."
        ),
        study=DEMO_STUDY,
        plate_ids=DEMO_PLATE_IDS,
        plate_names=tuple(name for _, name in DEMO_PLATES),
        rows=8,
        cols=12,
        positions=positions,
        empty_positions=(),
        fields=DEMO_FIELDS,
        zero_run_plates=frozenset({DEMO_ZERO_RUN_PLATE_ID}),
        well_base=DEMO_WELL_ID - target_plate * 96,
        image_base=DEMO_IMAGE_ID - target_plate * per_plate,
        wellsample_base=5_100_000,
        run_base=8_101,
        pixels=demo_pixels,
        acquisition_ts=1404512029.0,
        salt=seed,
        ts_ref_plate=target_plate,
    )
    project = ProjectSpec(
        id=DEMO_PROJECT_ID,
        name=DEMO_PROJECT_NAME,
        description="Experiment A: pericentriolar material imaged by 3D-SIM.",
        study=(
            ("Sample Type", "cell"),
            ("Organism", "Homo sapiens"),
            ("Study Title", "Pericentriolar material organisation (emulated)"),
            ("Study Type", "3D-SIM imaging"),
            ("Imaging Method", "structured illumination microscopy (SIM)"),
            ("License", "CC BY 4.0"),
        ),
        dataset_base=DEMO_DATASET_IDS[0],
        n_datasets=len(DEMO_DATASET_IDS),
        images_per_dataset=DEMO_IMAGES_PER_DATASET,
        image_base=DEMO_PROJECT_IMAGE_IDS[0],
        pixels=PixelsSpec(
            256,
            256,
            1,
            3,
            1,
            "uint16",
            _channels(
                ("Centrin", "PCNT", "DAPI"), ("00FF00", "FF0000", "0000FF"), (1200.0, 1500.0, 900.0)
            ),
            physical_size_x=0.04,
            physical_size_y=0.04,
            physical_size_z=0.125,
        ),
        acquisition_ts=1304697600.0,
        dataset_names=("CDK5RAP2-C", "CEP120"),
        image_prefix="Centrin_PCNT_Cep215_20110506_SIR_PRJ_",
        salt=seed,
        no_fileset=frozenset({DEMO_NO_FILESET_IMAGE_ID}),
    )
    return [screen], [project]


def _hcs(
    sid: int,
    name: str,
    plate_ids: tuple[int, ...],
    rows: int,
    cols: int,
    positions: tuple[tuple[int, int], ...],
    fields: int,
    pixels: PixelsSpec,
    seed: int,
    *,
    empty: tuple[tuple[int, int], ...] = (),
    plate_names: tuple[str, ...] | None = None,
    zero_run: frozenset[int] = frozenset(),
    well_base: int,
    image_base: int,
    runs_per_plate: int = 1,
) -> ScreenSpec:
    names = plate_names or tuple(f"plate-{i + 1:04d}" for i in range(len(plate_ids)))
    return ScreenSpec(
        id=sid,
        name=name,
        description=f"Emulated screen {sid}.",
        study=(
            ("Sample Type", "cell"),
            ("Organism", "Homo sapiens"),
            ("Study Title", f"Emulated study {name}"),
            ("Study Type", "high content screen"),
            ("License", "CC BY 4.0"),
        ),
        plate_ids=plate_ids,
        plate_names=names,
        rows=rows,
        cols=cols,
        positions=positions,
        empty_positions=empty,
        fields=fields,
        zero_run_plates=zero_run,
        well_base=well_base,
        image_base=image_base,
        wellsample_base=image_base + 50_000_000,
        run_base=plate_ids[0] + 100_000,
        pixels=pixels,
        acquisition_ts=1463841504.0,
        salt=seed,
        runs_per_plate=runs_per_plate,
    )


def _slide(size: tuple[int, int], levels: int = TILED_SLIDE_LEVELS) -> PixelsSpec:
    """A tiled image of the ``tiled`` preset: 3 channels, uint8, 0.25 µm, ``levels`` levels
    (a whole slide's 9 by default)."""
    return PixelsSpec(
        size[0],
        size[1],
        1,
        3,
        1,
        "uint8",
        _grey(3, end=255.0, pixel_max=255.0),
        0.25,
        0.25,
        levels=levels,
    )


def _proj(
    pid: int,
    name: str,
    dataset_base: int,
    n_datasets: int,
    per_dataset: int,
    image_base: int,
    pixels: PixelsSpec,
    seed: int,
    **kw: object,
) -> ProjectSpec:
    return ProjectSpec(
        id=pid,
        name=name,
        description=f"Emulated project {pid}.",
        study=(
            ("Sample Type", "cell"),
            ("Organism", "Homo sapiens"),
            ("Study Title", f"Emulated study {name}"),
            ("License", "CC BY 4.0"),
        ),
        dataset_base=dataset_base,
        n_datasets=n_datasets,
        images_per_dataset=per_dataset,
        image_base=image_base,
        pixels=pixels,
        acquisition_ts=1500000000.0,
        salt=seed,
        **kw,  # type: ignore[arg-type]
    )


def build_specs(name: str, seed: int) -> tuple[list[ScreenSpec], list[ProjectSpec]]:
    """The screen and project specs of preset ``name``; ValueError if unknown."""
    small = PixelsSpec(348, 260, 1, 2, 1, "uint16", _grey(2), 0.3, 0.3)
    if name == "demo":
        return _demo(seed)
    if name == "fields":
        positions = tuple((r, c) for r in range(3) for c in range(4))
        empty = tuple((3, c) for c in range(4))
        return [
            _hcs(
                FIELDS_SCREEN_ID,
                "idr9001-emulated-fields/screenA",
                FIELDS_PLATE_IDS,
                8,
                12,
                positions,
                FIELDS_PER_WELL,
                small,
                seed,
                empty=empty,
                well_base=2_000_001,
                image_base=2_100_001,
            )
        ], []
    if name == "runs":
        return [
            _hcs(
                RUNS_SCREEN_ID,
                "idr9011-emulated-runs/screenA",
                RUNS_PLATE_IDS,
                8,
                12,
                tuple((0, c) for c in range(RUNS_IMAGED_WELLS)),
                RUNS_PER_PLATE * RUNS_FIELDS_PER_RUN,
                small,
                seed,
                well_base=2_050_001,
                image_base=RUNS_FIRST_IMAGE_ID,
                runs_per_plate=RUNS_PER_PLATE,
            )
        ], []
    if name == "plate384":
        positions = tuple((r, c) for r in range(16) for c in range(24))
        px = PixelsSpec(160, 120, 1, 2, 1, "uint16", _grey(2), 0.65, 0.65)
        return [
            _hcs(
                PLATE384_SCREEN_ID,
                "idr9002-emulated-384/screenA",
                (PLATE384_PLATE_ID,),
                16,
                24,
                positions,
                1,
                px,
                seed,
                well_base=2_200_001,
                image_base=2_300_001,
            )
        ], []
    if name == "zstack":
        px = PixelsSpec(256, 256, ZSTACK_SIZE_Z, 2, 1, "uint16", _grey(2), 0.1, 0.1, 0.3)
        return [], [
            _proj(
                ZSTACK_PROJECT_ID,
                "idr9003-emulated-zstack/experimentA",
                ZSTACK_DATASET_ID,
                1,
                3,
                1_300_001,
                px,
                seed,
            )
        ]
    if name == "timeseries":
        px = PixelsSpec(
            128,
            128,
            3,
            1,
            TIMESERIES_SIZE_T,
            "uint16",
            _grey(1),
            0.2,
            0.2,
            0.5,
            time_increment=30.0,
        )
        return [], [
            _proj(
                TIMESERIES_PROJECT_ID,
                "idr9004-emulated-timeseries/experimentA",
                TIMESERIES_DATASET_ID,
                1,
                3,
                1_400_001,
                px,
                seed,
            )
        ]
    if name == "tiled":
        big = _slide(TILED_SIZE, TILED_LEVELS)
        little = PixelsSpec(
            512, 512, 1, 3, 1, "uint8", _grey(3, end=255.0, pixel_max=255.0), 0.25, 0.25
        )
        over = PixelsSpec(
            TILED_OVER_SIZE[0],
            TILED_OVER_SIZE[1],
            1,
            3,
            1,
            "uint8",
            _grey(3, end=255.0, pixel_max=255.0),
            0.25,
            0.25,
            levels=TILED_OVER_LEVELS,
        )
        return [], [
            _proj(
                TILED_PROJECT_ID,
                "idr9005-emulated-tiled/experimentA",
                TILED_DATASET_ID,
                1,
                2,
                TILED_IMAGE_ID,
                big,
                seed,
                per_image_pixels=lambda j: big if j == 0 else little,
            ),
            _proj(
                TILED_OVER_PROJECT_ID,
                "idr9005-emulated-tiled/experimentB",
                TILED_OVER_DATASET_ID,
                1,
                1,
                TILED_OVER_IMAGE_ID,
                over,
                seed,
            ),
            _proj(
                TILED_SLIDE_PROJECT_ID,
                "idr9005-emulated-tiled/experimentC",
                TILED_SLIDE_DATASET_ID,
                1,
                2,
                TILED_SLIDE_IMAGE_ID,
                _slide(TILED_SLIDE_SIZE),
                seed,
                per_image_pixels=lambda j: _slide(TILED_SLIDE_SIZE if j == 0 else TILED_WIDE_SIZE),
            ),
        ]
    if name == "bigscreen":
        ids = tuple(range(BIGSCREEN_FIRST_PLATE_ID, BIGSCREEN_FIRST_PLATE_ID + BIGSCREEN_PLATES))
        px = PixelsSpec(64, 48, 1, 1, 1, "uint8", _grey(1, 200.0, 255.0))
        return [
            _hcs(
                BIGSCREEN_SCREEN_ID,
                "idr9006-emulated-bigscreen/screenA",
                ids,
                8,
                12,
                ((0, 0),),
                1,
                px,
                seed,
                well_base=3_000_001,
                image_base=3_100_001,
            )
        ], []
    if name == "bigproject":
        px = PixelsSpec(64, 48, 1, 1, 1, "uint8", _grey(1, 200.0, 255.0))
        return [], [
            _proj(
                BIGPROJECT_PROJECT_ID,
                "idr9007-emulated-bigproject/experimentA",
                BIGPROJECT_FIRST_DATASET_ID,
                BIGPROJECT_DATASETS,
                1,
                3_200_001,
                px,
                seed,
            )
        ]
    if name == "huge":
        px = PixelsSpec(64, 48, 1, 1, 1, "uint8", _grey(1, 200.0, 255.0))
        return [], [
            _proj(
                HUGE_PROJECT_ID,
                "idr9008-emulated-huge/experimentA",
                HUGE_FIRST_DATASET_ID,
                HUGE_DATASETS,
                HUGE_IMAGES_PER_DATASET,
                HUGE_FIRST_IMAGE_ID,
                px,
                seed,
            )
        ]
    if name == "names":
        n = len(HOSTILE_NAMES)
        screen = _hcs(
            NAMES_SCREEN_ID,
            "../screen/with\x00hostile\nname",
            tuple(range(60001, 60001 + n)),
            8,
            12,
            ((0, 0), (0, 1)),
            1,
            small,
            seed,
            plate_names=HOSTILE_NAMES,
            well_base=4_000_001,
            image_base=4_100_001,
        )
        project = _proj(
            NAMES_PROJECT_ID,
            "project/../" + LONG_NAME,
            61001,
            n,
            2,
            4_200_001,
            small,
            seed,
            dataset_names=HOSTILE_NAMES,
            image_prefix="../img/\x01",
        )
        return [screen], [project]
    if name == "idclash":
        screen = _hcs(
            IDCLASH_ID,
            "idr0003-emulated-idclash/screenA",
            (IDCLASH_ID,),
            8,
            12,
            tuple((0, c) for c in range(IDCLASH_IMAGES)),
            1,
            small,
            seed,
            well_base=IDCLASH_FIRST_WELL_ID,
            image_base=IDCLASH_FIRST_SCREEN_IMAGE_ID,
        )
        project = _proj(
            IDCLASH_ID,
            "idr0021-emulated-idclash/experimentA",
            IDCLASH_ID,
            1,
            IDCLASH_IMAGES,
            IDCLASH_FIRST_WELL_ID,  # project image ids = the screen's well ids
            small,
            seed + 1,  # other genes than the wells with the same ids: a mix-up shows
        )
        return [screen], [project]
    if name == "links":
        project = _proj(
            LINKS_PROJECT_ID,
            "idr9012-emulated-links/experimentA",
            LINKS_DATASET_IDS[0],
            len(LINKS_DATASET_IDS),
            LINKS_IMAGES_PER_DATASET,
            LINKS_FIRST_IMAGE_ID,
            small,
            seed,
            dataset_names=("linked-A", "linked-B"),
            also_in=((LINKS_SHARED_IMAGE_ID - LINKS_FIRST_IMAGE_ID, 1),),
        )
        second = _proj(
            LINKS_SECOND_PROJECT_ID,
            "idr9012-emulated-links/experimentB",
            LINKS_DATASET_IDS[0] + 1000,  # no dataset of its own
            0,
            0,
            LINKS_FIRST_IMAGE_ID + 1000,
            small,
            seed,
            linked_datasets=(LINKS_DATASET_IDS[1],),
        )
        return [], [project, second]
    if name == "channels":
        return [], [_channels_project(seed)]
    if name == "units":
        return [], [_units_project(seed)]
    if name == "series":
        tiny = PixelsSpec(64, 48, 1, 1, 1, "uint8", _grey(1), 0.5, 0.5)
        return [], [
            _proj(
                SERIES_PROJECT_ID,
                "idr9016-emulated-series/experimentA",
                SERIES_DATASET_ID,
                1,
                SERIES_PER_FILE * SERIES_FILES,
                SERIES_FIRST_IMAGE_ID,
                tiny,
                seed,
                images_per_fileset=SERIES_PER_FILE,
            )
        ]
    if name == "spellings":
        return [
            replace(
                _hcs(
                    SPELLINGS_SCREEN_ID,
                    "idr9017-emulated-spellings/screenA",
                    (SPELLINGS_PLATE_ID,),
                    8,
                    12,
                    tuple((r, c) for r in range(3) for c in range(4)),
                    1,
                    small,
                    seed,
                    well_base=4_690_001,
                    image_base=SPELLINGS_FIRST_IMAGE_ID,
                ),
                spellings=True,
            )
        ], []
    if name == "filesets":
        return [
            replace(
                _hcs(
                    FILESETS_SCREEN_ID,
                    "idr9018-emulated-filesets/screenA",
                    (FILESETS_PLATE_ID,),
                    8,
                    12,
                    tuple((r, c) for r in range(2) for c in range(12)),
                    FILESETS_FIELDS,
                    small,
                    seed,
                    well_base=4_790_001,
                    image_base=FILESETS_FIRST_IMAGE_ID,
                ),
                cols_per_fileset=FILESETS_COLS_PER_FILESET,
            )
        ], []
    raise ValueError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")


#: The spellings of the ``spellings`` preset: a gene's samples take them in turn.
SPELLINGS = 3


def respelled(text: str, spelling: int) -> str:
    """``text`` spelled the ``spelling``-th way (0: as is; 1: lower case, inner spaces
    doubled, a trailing space; 2: title case), as a study's sheets typed by hand spell one
    gene or phenotype in different wells: the case and spacing variants of real IDR."""
    if spelling == 1:
        return text.lower().replace(" ", "  ") + " "
    if spelling == 2:
        return text.title()
    return text


def _channels_project(seed: int) -> ProjectSpec:
    """``channels``: one image with more active channels than IDR's image-region service
    renders at once (10), one with the same channels, few of them active."""
    colors = ("FF0000", "00FF00", "0000FF", "FF00FF", "FFFF00", "00FFFF")
    labels = [f"Marker{i + 1}" for i in range(CHANNELS_SIZE_C)]
    hues = [colors[i % len(colors)] for i in range(CHANNELS_SIZE_C)]
    ends = [200.0] * CHANNELS_SIZE_C

    def pixels(active: int) -> PixelsSpec:
        flags = [i < active for i in range(CHANNELS_SIZE_C)]
        channels = _channels(labels, hues, ends, 255.0, active=flags)
        return PixelsSpec(96, 64, 1, CHANNELS_SIZE_C, 1, "uint8", channels, 0.5, 0.5)

    every, few = pixels(CHANNELS_SIZE_C), pixels(CHANNELS_FEW_ACTIVE)
    return _proj(
        CHANNELS_PROJECT_ID,
        "idr9014-emulated-channels/experimentA",
        CHANNELS_DATASET_ID,
        1,
        2,
        CHANNELS_IMAGE_ID,
        every,
        seed,
        per_image_pixels=lambda j: every if j == 0 else few,
    )


def _units_project(seed: int) -> ProjectSpec:
    """``units``: one image per stored length unit of :data:`UNITS_STORED`, in id order."""
    specs = []
    for xy, z, unit in UNITS_STORED.values():
        size_z = 1 if z is None else 2
        channels = _grey(1, 200.0, 255.0)
        specs.append(
            PixelsSpec(64, 48, size_z, 1, 1, "uint8", channels, xy, xy, z, length_unit=unit)
        )
    return _proj(
        UNITS_PROJECT_ID,
        "idr9015-emulated-units/experimentA",
        UNITS_DATASET_ID,
        1,
        len(specs),
        UNITS_NM_IMAGE_ID,
        specs[0],
        seed,
        per_image_pixels=lambda j: specs[j],
    )

"""Lazy, deterministic catalogue of the emulated IDR, one preset at a time.

Nothing per image, per well or per well sample is stored: every id is computed
arithmetically from an index inside its container, and every object is built
on demand from a small container spec. That keeps memory O(1) in the size of
the catalogue, so ``huge`` (one million images) costs no more than ``demo``.
The seed changes only derived values (which gene a well carries, acquisition
times); ids and names are the same for every seed so tests can name them.

Id arithmetic (per container spec)
----------------------------------
Screen spec: plate ``p`` (0-based, in name order) holds ``rows x cols`` well
positions; ``positions`` are the imaged ones (same in every plate) and
``empty_positions`` wells that exist without images. With ``P = len(positions)``
and ``F`` fields per well::

    well id        = well_base + p * rows * cols + row * cols + col
    sample index s = p * P + position index        (dense over imaged wells)
    image id       = image_base + s * F + field
    well sample id = wellsample_base + s * F + field
    run id         = run_base + p                  (one run per plate, except
                                                    the zero-run plates)

Project spec: dataset ``d`` holds ``n`` images; ``dataset id = dataset_base + d``
and ``image id = image_base + d * n + j`` (sample index ``s = d * n + j``).

Per-sample map annotations (mapr gene / siRNA / phenotype; linked to the
well and to each of its images, or to the project image) depend only on the
gene of the sample, ``g(s) = (s * 7 + salt) % len(GENES)``, so searches can be
counted and paged arithmetically. Screens and projects carry one study
annotation (``idr.openmicroscopy.org/study/info``).

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
fields     screen 1101: plates 3001-3002 (8x12), 12 imaged wells (A1-C4) x 3
           fields = 72 images (ids 2100001-2100072), 4 empty wells (D1-D4, no
           WellSamples), one run each.
plate384   screen 1201: plate 4001 of 16x24 wells, all 384 imaged, 1 field
           (images 2300001-2300384).
zstack     project 1301, dataset 5301: images 1300001-1300003, 256x256,
           sizeZ 12, 2 channels.
timeseries project 1401, dataset 5401: images 1400001-1400003, 128x128,
           sizeZ 3, sizeT 20.
tiled      project 1501, dataset 5501: image 1500001 8000x6000 (5 levels,
           tiles 256) and image 1500002 512x512 (not tiled).
bigscreen  screen 1601: 1200 plates (ids 20001-21200), 1 well x 1 field each
           (images 3100001-3101200).
bigproject project 1701: 600 datasets (ids 30001-30600), 1 image each
           (images 3200001-3200600).
huge       project 1801: 1000 datasets (ids 40001-41000) x 1000 images
           (ids 10000001-11000000) = 1,000,000 images.
names      screen 1901 (plates 60001-60007, images from 4100001) + project
           1951 (datasets 61001-61007, images from 4200001) with hostile names
           ('../', '/', '\\', NUL, control characters, '..', 1,000-character
           names) on screen, project, plates, datasets and images.
========== ===================================================================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harvester.emulator.model import ChannelInfo, ImageInfo

PRESETS: tuple[str, ...] = (
    "demo",
    "fields",
    "plate384",
    "zstack",
    "timeseries",
    "tiled",
    "bigscreen",
    "bigproject",
    "huge",
    "names",
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

# Annotation and link id spaces (independent of every other id space).
_STUDY_ANN_BASE = 1_000_000
_GENE_ANN_BASE = 2_000_000
_SIRNA_ANN_BASE = 3_000_000
_PHENO_ANN_BASE = 4_000_000
_STUDY_LINK_BASE = 1_500_000
_WELL_LINK_BASE = 10_000_000
_IMAGE_LINK_BASE = 100_000_000


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
    fields: int
    zero_run_plates: frozenset[int]
    well_base: int
    image_base: int
    wellsample_base: int
    run_base: int
    pixels: PixelsSpec
    acquisition_ts: float
    salt: int = 0
    ts_ref_plate: int = 0  # the plate whose first image is taken at exactly acquisition_ts

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

    @property
    def n_images(self) -> int:
        """Images over all datasets."""
        return self.n_datasets * self.images_per_dataset


# ---------------------------------------------------------------------------
# Values handed to the route modules.


@dataclass(frozen=True, slots=True)
class Screen:
    id: int
    name: str
    description: str
    n_plates: int
    spec: ScreenSpec = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Plate:
    id: int
    name: str
    index: int
    screen_id: int
    rows: int
    cols: int
    run_ids: tuple[int, ...]
    spec: ScreenSpec = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Run:
    """A PlateAcquisition. IDR's runs are unnamed: their name is ``Run <id>``."""

    id: int
    plate_id: int
    name: str
    max_field_count: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Well:
    id: int
    plate_id: int
    row: int
    col: int
    sample: int | None  # dense sample index; None for an empty well
    spec: ScreenSpec = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        """``A1``-style name, as webclient annotations show wells."""
        return f"{row_letter(self.row)}{self.col + 1}"


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    description: str
    n_datasets: int
    spec: ProjectSpec = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Dataset:
    id: int
    name: str
    index: int
    project_id: int
    n_images: int
    spec: ProjectSpec = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MapAnn:
    """One map annotation *link*: IDR shares annotations, so ``id`` repeats."""

    id: int
    ns: str
    values: tuple[tuple[str, str], ...]
    link_id: int
    parent_class: str  # "ScreenI", "WellI", ...
    parent_id: int
    parent_name: str
    ts: float


@dataclass(frozen=True, slots=True)
class ImageLocation:
    """Where an image sits: the parents that routes need for marshalling."""

    image: ImageInfo
    screen: Screen | None = None
    plate: Plate | None = None
    well: Well | None = None
    project: Project | None = None
    dataset: Dataset | None = None
    sample: int = 0


ContainerKind = Literal["screen", "project"]


def row_letter(row: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' (OMERO's letter naming)."""
    out = ""
    n = row + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


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


def _preset(name: str, seed: int) -> tuple[list[ScreenSpec], list[ProjectSpec]]:
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
        big = PixelsSpec(
            TILED_SIZE[0],
            TILED_SIZE[1],
            1,
            3,
            1,
            "uint8",
            _grey(3, end=255.0, pixel_max=255.0),
            0.25,
            0.25,
            levels=TILED_LEVELS,
        )
        little = PixelsSpec(
            512, 512, 1, 3, 1, "uint8", _grey(3, end=255.0, pixel_max=255.0), 0.25, 0.25
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
            )
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
    raise ValueError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")


# ---------------------------------------------------------------------------


def _sorted_by_name(items: list[tuple[str, int]]) -> list[int]:
    """Indices in OMERO's ``lower(name), id`` order."""
    return [i for i, _ in sorted(enumerate(items), key=lambda e: (e[1][0].lower(), e[1][1]))]


class Catalogue:
    """The emulated server's objects for one ``(preset, seed)``.

    Every lookup is O(number of container specs) (a handful) plus O(1)
    arithmetic; the only caches hold per-plate / per-dataset name orders.
    """

    def __init__(self, preset: str = DEFAULT_PRESET, seed: int = 0) -> None:
        self.preset = preset
        self.seed = seed
        screens, projects = _preset(preset, seed)
        self._screens = sorted(screens, key=lambda s: (s.name.lower(), s.id))
        self._projects = sorted(projects, key=lambda p: (p.name.lower(), p.id))
        self._screen_by_id = {s.id: s for s in screens}
        self._project_by_id = {p.id: p for p in projects}
        self._image_specs: list[ScreenSpec | ProjectSpec] = sorted(
            [*screens, *projects], key=lambda s: s.image_base
        )
        self._plate_owner: dict[int, ScreenSpec] = {pid: s for s in screens for pid in s.plate_ids}
        self._study_index = {("screen", s.id): i for i, s in enumerate(screens)}
        self._study_index.update(
            {("project", p.id): len(screens) + i for i, p in enumerate(projects)}
        )

    # -- screens / plates / runs / wells -------------------------------------
    def screens(self) -> list[Screen]:
        """All screens, in ``lower(name), id`` order."""
        return [self._screen(s) for s in self._screens]

    def screen(self, screen_id: int) -> Screen | None:
        spec = self._screen_by_id.get(screen_id)
        return None if spec is None else self._screen(spec)

    @staticmethod
    def _screen(spec: ScreenSpec) -> Screen:
        return Screen(spec.id, spec.name, spec.description, spec.n_plates, spec)

    def plates(self, screen_id: int) -> list[Plate]:
        """Plates of a screen in name order (empty for an unknown screen)."""
        spec = self._screen_by_id.get(screen_id)
        if spec is None:
            return []
        return [self._plate(spec, i) for i in self._plate_order(spec)]

    def all_plates(self) -> list[Plate]:
        """Every plate on the server, in ``lower(name), id`` order."""
        plates = [p for s in self._screens for p in self.plates(s.id)]
        return sorted(plates, key=lambda p: (p.name.lower(), p.id))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one entry per screen spec, bounded
    def _plate_order(self, spec: ScreenSpec) -> list[int]:
        return _sorted_by_name(list(zip(spec.plate_names, spec.plate_ids, strict=True)))

    def plate(self, plate_id: int) -> Plate | None:
        spec = self._plate_owner.get(plate_id)
        return None if spec is None else self._plate(spec, spec.plate_index[plate_id])

    @staticmethod
    def _plate(spec: ScreenSpec, index: int) -> Plate:
        pid = spec.plate_ids[index]
        runs = () if pid in spec.zero_run_plates else (spec.run_base + index,)
        return Plate(pid, spec.plate_names[index], index, spec.id, spec.rows, spec.cols, runs, spec)

    def runs(self, plate_id: int) -> list[Run]:
        """Plate acquisitions of a plate, by id."""
        plate = self.plate(plate_id)
        if plate is None:
            return []
        start = int(plate.spec.acquisition_ts * 1000) + plate.index * 3_600_000
        return [
            Run(rid, plate_id, f"Run {rid}", plate.spec.fields, start, start + 1_800_000)
            for rid in plate.run_ids
        ]

    def run(self, run_id: int) -> Run | None:
        for spec in self._screens:
            index = run_id - spec.run_base
            if 0 <= index < spec.n_plates:
                pid = spec.plate_ids[index]
                if pid not in spec.zero_run_plates:
                    return self.runs(pid)[0]
        return None

    def wells(self, plate_id: int) -> list[Well]:
        """Existing wells of a plate in row-major order (imaged and empty)."""
        plate = self.plate(plate_id)
        if plate is None:
            return []
        spec = plate.spec
        cells = sorted({*spec.positions, *spec.empty_positions})
        return [self._well(spec, plate.index, r, c) for r, c in cells]

    @staticmethod
    def _well(spec: ScreenSpec, plate_index: int, row: int, col: int) -> Well:
        wid = spec.well_base + plate_index * spec.rows * spec.cols + row * spec.cols + col
        pos = spec.position_index.get((row, col))
        sample = None if pos is None else plate_index * len(spec.positions) + pos
        return Well(wid, spec.plate_ids[plate_index], row, col, sample, spec)

    def well(self, well_id: int) -> Well | None:
        for spec in self._screens:
            per_plate = spec.rows * spec.cols
            offset = well_id - spec.well_base
            if 0 <= offset < spec.n_plates * per_plate:
                plate_index, cell = divmod(offset, per_plate)
                row, col = divmod(cell, spec.cols)
                if (row, col) in spec.position_index or (row, col) in spec.empty_positions:
                    return self._well(spec, plate_index, row, col)
                return None
        return None

    def well_image_ids(self, well: Well) -> list[int]:
        """Image ids of a well, by field (empty list for an empty well)."""
        if well.sample is None:
            return []
        base = well.spec.image_base + well.sample * well.spec.fields
        return list(range(base, base + well.spec.fields))

    def well_sample_id(self, image_id: int) -> int | None:
        loc = self.locate(image_id)
        return None if loc is None else loc.image.well_sample_id

    # -- projects / datasets -----------------------------------------------
    def projects(self) -> list[Project]:
        return [self._project(p) for p in self._projects]

    def project(self, project_id: int) -> Project | None:
        spec = self._project_by_id.get(project_id)
        return None if spec is None else self._project(spec)

    @staticmethod
    def _project(spec: ProjectSpec) -> Project:
        return Project(spec.id, spec.name, spec.description, spec.n_datasets, spec)

    @staticmethod
    def _dataset_name(spec: ProjectSpec, index: int) -> str:
        if spec.dataset_names:
            return spec.dataset_names[index]
        return f"{spec.dataset_prefix}{index + 1:04d}"

    def _dataset(self, spec: ProjectSpec, index: int) -> Dataset:
        return Dataset(
            spec.dataset_base + index,
            self._dataset_name(spec, index),
            index,
            spec.id,
            spec.images_per_dataset,
            spec,
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one entry per project spec, bounded
    def _dataset_order(self, spec: ProjectSpec) -> list[int]:
        if not spec.dataset_names:
            return list(range(spec.n_datasets))  # zero-padded names: index order is name order
        names = [
            (self._dataset_name(spec, i), spec.dataset_base + i) for i in range(spec.n_datasets)
        ]
        return _sorted_by_name(names)

    def datasets(self, project_id: int) -> list[Dataset]:
        spec = self._project_by_id.get(project_id)
        if spec is None:
            return []
        return [self._dataset(spec, i) for i in self._dataset_order(spec)]

    def all_datasets(self) -> list[Dataset]:
        items = [d for p in self._projects for d in self.datasets(p.id)]
        return sorted(items, key=lambda d: (d.name.lower(), d.id))

    def dataset(self, dataset_id: int) -> Dataset | None:
        for spec in self._projects:
            index = dataset_id - spec.dataset_base
            if 0 <= index < spec.n_datasets:
                return self._dataset(spec, index)
        return None

    def dataset_image_ids(
        self, dataset_id: int, offset: int = 0, limit: int | None = None
    ) -> list[int]:
        """Image ids of a dataset in name order, sliced without building the rest."""
        ds = self.dataset(dataset_id)
        if ds is None:
            return []
        n = ds.spec.images_per_dataset
        stop = n if limit is None else min(n, offset + limit)
        base = ds.spec.image_base + ds.index * n
        return list(range(base + max(0, offset), base + stop))

    def image_datasets(self, image_id: int) -> list[Dataset]:
        loc = self.locate(image_id)
        return [] if loc is None or loc.dataset is None else [loc.dataset]

    # -- images -------------------------------------------------------------
    def image(self, image_id: int) -> ImageInfo | None:
        """The image with this id, or None (the minimum API the image routes use)."""
        loc = self.locate(image_id)
        return None if loc is None else loc.image

    def locate(self, image_id: int) -> ImageLocation | None:
        """The image and its parents, or None for an unknown id."""
        for spec in self._image_specs:
            offset = image_id - spec.image_base
            if offset < 0 or offset >= spec.n_images:
                continue
            if isinstance(spec, ScreenSpec):
                return self._locate_hcs(spec, image_id, offset)
            return self._locate_project(spec, image_id, offset)
        return None

    def _locate_hcs(self, spec: ScreenSpec, image_id: int, offset: int) -> ImageLocation:
        sample, fld = divmod(offset, spec.fields)
        plate_index, pos = divmod(sample, len(spec.positions))
        row, col = spec.positions[pos]
        plate = self._plate(spec, plate_index)
        well = self._well(spec, plate_index, row, col)
        name = f"{plate.name} [Well {row_letter(row)}-{col + 1}; Field #{fld + 1}]"
        info = _image_info(
            image_id,
            name,
            spec.pixels,
            spec.acquisition_ts + (plate_index - spec.ts_ref_plate) * 3600 + pos * 10 + fld,
            well_id=well.id,
            well_sample_id=spec.wellsample_base + offset,
            field=fld,
            run_id=plate.run_ids[0] if plate.run_ids else None,
            fileset_id=700_000 + spec.id * 10_000 + plate_index,
        )
        return ImageLocation(info, self._screen(spec), plate, well, sample=sample)

    def _locate_project(self, spec: ProjectSpec, image_id: int, offset: int) -> ImageLocation:
        index, j = divmod(offset, spec.images_per_dataset)
        ds = self._dataset(spec, index)
        pixels = spec.per_image_pixels(j) if spec.per_image_pixels else spec.pixels
        name = f"{spec.image_prefix}{j + 1:04d}.tif"
        if spec.dataset_names:
            name = f"{ds.name}_{j + 1:04d}.tif"
        info = _image_info(
            image_id,
            name,
            pixels,
            spec.acquisition_ts + offset,
            dataset_ids=(ds.id,),
            fileset_id=900_000_000 + image_id,
        )
        return ImageLocation(info, project=self._project(spec), dataset=ds, sample=offset)

    def image_count(self) -> int:
        return sum(s.n_images for s in self._image_specs)

    def iter_image_ids(self) -> Iterator[int]:
        """Every image id on the server, ascending (lazy)."""
        for spec in self._image_specs:
            yield from range(spec.image_base, spec.image_base + spec.n_images)

    # -- annotations ----------------------------------------------------------
    def study_annotation(self, kind: ContainerKind, obj_id: int) -> MapAnn | None:
        """The study map annotation of a screen or project."""
        spec: ScreenSpec | ProjectSpec | None = (
            self._screen_by_id.get(obj_id) if kind == "screen" else self._project_by_id.get(obj_id)
        )
        if spec is None:
            return None
        idx = self._study_index[(kind, obj_id)]
        return MapAnn(
            _STUDY_ANN_BASE + idx,
            NS_STUDY,
            spec.study,
            _STUDY_LINK_BASE + idx,
            "ScreenI" if kind == "screen" else "ProjectI",
            obj_id,
            spec.name,
            spec.acquisition_ts + 86_400 * 30,
        )

    def gene_of(self, spec: ScreenSpec | ProjectSpec, sample: int) -> Gene:
        """The gene a sample (imaged well / project image) carries."""
        return GENES[(sample * _GENE_STEP + spec.salt) % len(GENES)]

    def _sample_anns(
        self,
        gene: Gene,
        link_base: int,
        parent_class: str,
        parent_id: int,
        parent_name: str,
        ts: float,
    ) -> list[MapAnn]:
        g = GENES.index(gene)
        out = [
            MapAnn(
                _GENE_ANN_BASE + g,
                NS_GENE,
                (
                    ("Gene Identifier", gene.ensembl),
                    ("Gene Identifier URL", f"http://www.ensembl.org/id/{gene.ensembl}"),
                    ("Gene Symbol", gene.symbol),
                ),
                link_base,
                parent_class,
                parent_id,
                parent_name,
                ts,
            ),
            MapAnn(
                _SIRNA_ANN_BASE + g,
                NS_SIRNA,
                (("siRNA Identifier", gene.sirna), ("siRNA Pool Identifier", gene.symbol)),
                link_base + 1,
                parent_class,
                parent_id,
                parent_name,
                ts,
            ),
        ]
        if gene.phenotypes:
            values: list[tuple[str, str]] = []
            for pheno, acc in gene.phenotypes:
                values += [("Phenotype", pheno), ("Phenotype Term Accession", acc)]
            out.append(
                MapAnn(
                    _PHENO_ANN_BASE + g,
                    NS_PHENOTYPE,
                    tuple(values),
                    link_base + 2,
                    parent_class,
                    parent_id,
                    parent_name,
                    ts,
                )
            )
        return out

    def well_annotations(self, well_id: int) -> list[MapAnn]:
        """mapr gene / siRNA / phenotype annotations linked to a well."""
        well = self.well(well_id)
        if well is None or well.sample is None:
            return []
        return self._sample_anns(
            self.gene_of(well.spec, well.sample),
            _WELL_LINK_BASE + well_id * 4,
            "WellI",
            well_id,
            well.label,
            well.spec.acquisition_ts + 86_400 * 31,
        )

    def image_annotations(self, image_id: int) -> list[MapAnn]:
        """Per-image mapr annotations.

        Project images carry their own; HCS images carry the same shared
        annotations as their well (IDR links mapr annotations to wells *and*
        images), through their own links.
        """
        loc = self.locate(image_id)
        if loc is None:
            return []
        spec: ScreenSpec | ProjectSpec
        if loc.project is not None:
            spec = loc.project.spec
        elif loc.screen is not None:
            spec = loc.screen.spec
        else:  # pragma: no cover - every image has one parent kind
            return []
        return self._sample_anns(
            self.gene_of(spec, loc.sample),
            _IMAGE_LINK_BASE + image_id * 4,
            "ImageI",
            image_id,
            loc.image.name,
            spec.acquisition_ts + 86_400 * 31,
        )

    def sample_values(self, loc: ImageLocation) -> list[tuple[str, str]]:
        """Key/value pairs that apply to an image (its well's or its own)."""
        anns = (
            self.well_annotations(loc.well.id)
            if loc.well is not None
            else self.image_annotations(loc.image.id)
        )
        return [kv for ann in anns for kv in ann.values]

    # -- search -----------------------------------------------------------------
    def matching_genes(
        self, key: str, value: str, operator: str = "equals", case_sensitive: bool = False
    ) -> frozenset[int]:
        """Indices of the genes whose sample annotations satisfy ``key op value``."""
        norm: Callable[[str], str] = (lambda s: s) if case_sensitive else str.lower
        want = norm(value)
        hits: set[int] = set()
        for g, gene in enumerate(GENES):
            vals = [v for k, v in self._gene_pairs(gene) if k == key]
            if operator == "equals":
                ok = any(norm(v) == want for v in vals)
            elif operator == "contains":
                ok = any(want in norm(v) for v in vals)
            elif operator == "not_equals":
                ok = bool(vals) and all(norm(v) != want for v in vals)
            elif operator == "not_contains":
                ok = bool(vals) and all(want not in norm(v) for v in vals)
            else:
                raise ValueError(f"unsupported operator {operator!r}")
            if ok:
                hits.add(g)
        return frozenset(hits)

    @staticmethod
    def _gene_pairs(gene: Gene) -> list[tuple[str, str]]:
        pairs = [
            ("Gene Identifier", gene.ensembl),
            ("Gene Symbol", gene.symbol),
            ("siRNA Identifier", gene.sirna),
            ("siRNA Pool Identifier", gene.symbol),
        ]
        for pheno, acc in gene.phenotypes:
            pairs += [("Phenotype", pheno), ("Phenotype Term Accession", acc)]
        return pairs

    def _residues(self, spec: ScreenSpec | ProjectSpec, genes: frozenset[int]) -> list[int]:
        """Sample residues mod len(GENES) whose gene is in ``genes``."""
        n = len(GENES)
        inv = pow(_GENE_STEP, -1, n)
        return sorted(((g - spec.salt) * inv) % n for g in genes)

    @staticmethod
    def _count_residue(total: int, residue: int, modulus: int) -> int:
        return 0 if residue >= total else (total - 1 - residue) // modulus + 1

    def count_samples(self, spec: ScreenSpec | ProjectSpec, genes: frozenset[int]) -> int:
        """How many samples of a spec carry one of ``genes`` (arithmetic, no scan)."""
        total = spec.n_samples if isinstance(spec, ScreenSpec) else spec.n_images
        return sum(self._count_residue(total, r, len(GENES)) for r in self._residues(spec, genes))

    def search_images(
        self, genes: frozenset[int], after_id: int, limit: int
    ) -> tuple[list[int], int]:
        """Ids (> ``after_id``, ascending, at most ``limit``) of images matching, and the total."""
        total = 0
        out: list[int] = []
        n = len(GENES)
        for spec in self._image_specs:
            fields = spec.fields if isinstance(spec, ScreenSpec) else 1
            total += self.count_samples(spec, genes) * fields
            if len(out) >= limit or not genes:
                continue
            n_samples = spec.n_samples if isinstance(spec, ScreenSpec) else spec.n_images
            start = max(0, (after_id - spec.image_base + 1) // fields) if after_id else 0
            residues = self._residues(spec, genes)
            s = start - start % n
            while s < n_samples and len(out) < limit:
                for r in residues:
                    sample = s + r
                    if sample >= n_samples or len(out) >= limit:
                        break
                    for fld in range(fields):
                        iid = spec.image_base + sample * fields + fld
                        if iid > after_id and len(out) < limit:
                            out.append(iid)
                s += n
        return out, total

    def search_wells(
        self, genes: frozenset[int], after_id: int, limit: int
    ) -> tuple[list[Well], int]:
        """Wells (ascending id > ``after_id``) whose gene matches, and the total."""
        total = 0
        out: list[Well] = []
        for spec in sorted(self._screens, key=lambda s: s.well_base):
            total += self.count_samples(spec, genes)
            if len(out) >= limit or not genes:
                continue
            residues = set(self._residues(spec, genes))
            # Wells are few compared with images; walk plate by plate.
            for plate_index in range(spec.n_plates):
                for row, col in sorted(spec.positions):
                    well = self._well(spec, plate_index, row, col)
                    if well.id <= after_id or well.sample is None:
                        continue
                    if well.sample % len(GENES) in residues and len(out) < limit:
                        out.append(well)
                if len(out) >= limit:
                    break
        return out, total

    def containers_with(
        self,
        kind: Literal["screen", "project", "plate"],
        key: str,
        value: str,
        operator: str,
        case_sensitive: bool,
    ) -> list[tuple[str, int, str]]:
        """(kind, id, name) of containers matching on study values or containing a match."""
        genes = self.matching_genes(key, value, operator, case_sensitive)
        norm: Callable[[str], str] = (lambda s: s) if case_sensitive else str.lower
        out: list[tuple[str, int, str]] = []

        def study_match(spec: ScreenSpec | ProjectSpec) -> bool:
            vals = [norm(v) for k, v in spec.study if k == key]
            if operator == "contains":
                return any(norm(value) in v for v in vals)
            return norm(value) in vals

        if kind == "plate":
            for s in self._screens:
                per_plate = len(s.positions)
                res = set(self._residues(s, genes))
                for plate in self.plates(s.id):
                    first = plate.index * per_plate
                    if any((first + k) % len(GENES) in res for k in range(per_plate)):
                        out.append(("plate", plate.id, plate.name))
            return out
        specs: list[ScreenSpec | ProjectSpec] = list(
            self._screens if kind == "screen" else self._projects
        )
        for spec in specs:
            if study_match(spec) or self.count_samples(spec, genes) > 0:
                out.append((kind, spec.id, spec.name))
        return out


@functools.lru_cache(maxsize=16)
def get_catalogue(preset: str = DEFAULT_PRESET, seed: int = 0) -> Catalogue:
    """A shared catalogue per ``(preset, seed)`` (catalogues are immutable)."""
    return Catalogue(preset, seed)


def _image_info(
    image_id: int,
    name: str,
    px: PixelsSpec,
    ts: float,
    **kw: object,
) -> ImageInfo:
    return ImageInfo(
        id=image_id,
        name=name,
        size_x=px.size_x,
        size_y=px.size_y,
        size_z=px.size_z,
        size_c=px.size_c,
        size_t=px.size_t,
        pixel_type=px.pixel_type,
        channels=px.channels,
        physical_size_x=px.physical_size_x,
        physical_size_y=px.physical_size_y,
        physical_size_z=px.physical_size_z,
        time_increment=px.time_increment,
        levels=px.levels,
        tile_width=px.tile,
        tile_height=px.tile,
        acquisition_ts=float(ts),
        **kw,  # type: ignore[arg-type]
    )

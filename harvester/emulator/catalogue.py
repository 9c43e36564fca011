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
    run id         = run_base + p * R + k // (F / R) (R runs per plate, usually
                                                    one; none for zero-run plates)

``F`` counts a well's WellSamples over all its runs; WellSample index ``k``
(0-based) belongs to run ``k // (F / R)`` and is field ``k % (F / R)`` of it.

Project spec: dataset ``d`` holds ``n`` images; ``dataset id = dataset_base + d``
and ``image id = image_base + d * n + j`` (sample index ``s = d * n + j``).
A spec's ``also_in`` links a few of its images into a further dataset too
(OMERO's Dataset-Image links are many-to-many): that dataset lists them among
its own, in name order, and counts them. Likewise ``linked_datasets`` puts
datasets of another project in this one as well (Project-Dataset links).

Per-sample map annotations (mapr gene / siRNA / phenotype; linked to the
well and to each of its images, or to the project image) depend only on the
gene of the sample, ``g(s) = (s * 7 + salt) % len(GENES)``, so searches can be
counted and paged arithmetically. Screens and projects carry one study
annotation (``idr.openmicroscopy.org/study/info``).

The presets (what exists, with every id) are defined and documented in
:mod:`harvester.emulator.catalogue_presets`; their constants are re-exported
here so callers can write ``catalogue.DEMO_IMAGE_ID``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from harvester.emulator import rois
from harvester.emulator.catalogue_presets import (
    _GENE_STEP as _GENE_STEP,
)
from harvester.emulator.catalogue_presets import (
    BIGPROJECT_DATASETS as BIGPROJECT_DATASETS,
)
from harvester.emulator.catalogue_presets import (
    BIGPROJECT_FIRST_DATASET_ID as BIGPROJECT_FIRST_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    BIGPROJECT_PROJECT_ID as BIGPROJECT_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    BIGSCREEN_FIRST_PLATE_ID as BIGSCREEN_FIRST_PLATE_ID,
)
from harvester.emulator.catalogue_presets import (
    BIGSCREEN_PLATES as BIGSCREEN_PLATES,
)
from harvester.emulator.catalogue_presets import (
    BIGSCREEN_SCREEN_ID as BIGSCREEN_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    DEFAULT_PRESET as DEFAULT_PRESET,
)
from harvester.emulator.catalogue_presets import (
    DEMO_CHANNEL_LABELS as DEMO_CHANNEL_LABELS,
)
from harvester.emulator.catalogue_presets import (
    DEMO_DATASET_IDS as DEMO_DATASET_IDS,
)
from harvester.emulator.catalogue_presets import (
    DEMO_FIELDS as DEMO_FIELDS,
)
from harvester.emulator.catalogue_presets import (
    DEMO_IMAGE_COUNT as DEMO_IMAGE_COUNT,
)
from harvester.emulator.catalogue_presets import (
    DEMO_IMAGE_ID as DEMO_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_IMAGES_PER_DATASET as DEMO_IMAGES_PER_DATASET,
)
from harvester.emulator.catalogue_presets import (
    DEMO_MANY_ROIS_IMAGE_ID as DEMO_MANY_ROIS_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_MOST_ROIS_IMAGE_ID as DEMO_MOST_ROIS_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_NO_FILESET_IMAGE_ID as DEMO_NO_FILESET_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_NO_ROIS_IMAGE_ID as DEMO_NO_ROIS_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PIXEL_SIZE as DEMO_PIXEL_SIZE,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PLATE_ID as DEMO_PLATE_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PLATE_IDS as DEMO_PLATE_IDS,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PLATES as DEMO_PLATES,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PROJECT_ID as DEMO_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PROJECT_IMAGE_IDS as DEMO_PROJECT_IMAGE_IDS,
)
from harvester.emulator.catalogue_presets import (
    DEMO_PROJECT_NAME as DEMO_PROJECT_NAME,
)
from harvester.emulator.catalogue_presets import (
    DEMO_SCREEN_ID as DEMO_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_SCREEN_IMAGE_COUNT as DEMO_SCREEN_IMAGE_COUNT,
)
from harvester.emulator.catalogue_presets import (
    DEMO_SCREEN_NAME as DEMO_SCREEN_NAME,
)
from harvester.emulator.catalogue_presets import (
    DEMO_SIZE_X as DEMO_SIZE_X,
)
from harvester.emulator.catalogue_presets import (
    DEMO_SIZE_Y as DEMO_SIZE_Y,
)
from harvester.emulator.catalogue_presets import (
    DEMO_STUDY as DEMO_STUDY,
)
from harvester.emulator.catalogue_presets import (
    DEMO_WELL_ID as DEMO_WELL_ID,
)
from harvester.emulator.catalogue_presets import (
    DEMO_WELLS_PER_PLATE as DEMO_WELLS_PER_PLATE,
)
from harvester.emulator.catalogue_presets import (
    DEMO_ZERO_RUN_PLATE_ID as DEMO_ZERO_RUN_PLATE_ID,
)
from harvester.emulator.catalogue_presets import (
    FIELDS_EMPTY_WELLS as FIELDS_EMPTY_WELLS,
)
from harvester.emulator.catalogue_presets import (
    FIELDS_IMAGED_WELLS as FIELDS_IMAGED_WELLS,
)
from harvester.emulator.catalogue_presets import (
    FIELDS_PER_WELL as FIELDS_PER_WELL,
)
from harvester.emulator.catalogue_presets import (
    FIELDS_PLATE_IDS as FIELDS_PLATE_IDS,
)
from harvester.emulator.catalogue_presets import (
    FIELDS_SCREEN_ID as FIELDS_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    GENES as GENES,
)
from harvester.emulator.catalogue_presets import (
    GROUP_ID as GROUP_ID,
)
from harvester.emulator.catalogue_presets import (
    GROUP_NAME as GROUP_NAME,
)
from harvester.emulator.catalogue_presets import (
    HOSTILE_NAMES as HOSTILE_NAMES,
)
from harvester.emulator.catalogue_presets import (
    HUGE_DATASETS as HUGE_DATASETS,
)
from harvester.emulator.catalogue_presets import (
    HUGE_FIRST_DATASET_ID as HUGE_FIRST_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    HUGE_FIRST_IMAGE_ID as HUGE_FIRST_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    HUGE_IMAGE_COUNT as HUGE_IMAGE_COUNT,
)
from harvester.emulator.catalogue_presets import (
    HUGE_IMAGES_PER_DATASET as HUGE_IMAGES_PER_DATASET,
)
from harvester.emulator.catalogue_presets import (
    HUGE_PROJECT_ID as HUGE_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    LONG_NAME as LONG_NAME,
)
from harvester.emulator.catalogue_presets import (
    NAMES_PROJECT_ID as NAMES_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    NAMES_SCREEN_ID as NAMES_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    NS_GENE as NS_GENE,
)
from harvester.emulator.catalogue_presets import (
    NS_PHENOTYPE as NS_PHENOTYPE,
)
from harvester.emulator.catalogue_presets import (
    NS_SIRNA as NS_SIRNA,
)
from harvester.emulator.catalogue_presets import (
    NS_STUDY as NS_STUDY,
)
from harvester.emulator.catalogue_presets import (
    OWNER_FIRST as OWNER_FIRST,
)
from harvester.emulator.catalogue_presets import (
    OWNER_ID as OWNER_ID,
)
from harvester.emulator.catalogue_presets import (
    OWNER_LAST as OWNER_LAST,
)
from harvester.emulator.catalogue_presets import (
    OWNER_OMENAME as OWNER_OMENAME,
)
from harvester.emulator.catalogue_presets import (
    PLATE384_PLATE_ID as PLATE384_PLATE_ID,
)
from harvester.emulator.catalogue_presets import (
    PLATE384_SCREEN_ID as PLATE384_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    PRESETS as PRESETS,
)
from harvester.emulator.catalogue_presets import (
    ROI_COUNTS as ROI_COUNTS,
)
from harvester.emulator.catalogue_presets import (
    RUNS_FIELDS_PER_RUN as RUNS_FIELDS_PER_RUN,
)
from harvester.emulator.catalogue_presets import (
    RUNS_FIRST_IMAGE_ID as RUNS_FIRST_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    RUNS_FIRST_RUN_ID as RUNS_FIRST_RUN_ID,
)
from harvester.emulator.catalogue_presets import (
    RUNS_IMAGE_COUNT as RUNS_IMAGE_COUNT,
)
from harvester.emulator.catalogue_presets import (
    RUNS_IMAGED_WELLS as RUNS_IMAGED_WELLS,
)
from harvester.emulator.catalogue_presets import (
    RUNS_PER_PLATE as RUNS_PER_PLATE,
)
from harvester.emulator.catalogue_presets import (
    RUNS_PLATE_IDS as RUNS_PLATE_IDS,
)
from harvester.emulator.catalogue_presets import (
    RUNS_SCREEN_ID as RUNS_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    SPELLINGS as SPELLINGS,
)
from harvester.emulator.catalogue_presets import (
    SPELLINGS_FIRST_IMAGE_ID as SPELLINGS_FIRST_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    SPELLINGS_IMAGE_COUNT as SPELLINGS_IMAGE_COUNT,
)
from harvester.emulator.catalogue_presets import (
    SPELLINGS_PLATE_ID as SPELLINGS_PLATE_ID,
)
from harvester.emulator.catalogue_presets import (
    SPELLINGS_SCREEN_ID as SPELLINGS_SCREEN_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_DATASET_ID as TILED_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_IMAGE_ID as TILED_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_LEVELS as TILED_LEVELS,
)
from harvester.emulator.catalogue_presets import (
    TILED_OVER_DATASET_ID as TILED_OVER_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_OVER_IMAGE_ID as TILED_OVER_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_OVER_LEVELS as TILED_OVER_LEVELS,
)
from harvester.emulator.catalogue_presets import (
    TILED_OVER_PROJECT_ID as TILED_OVER_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_OVER_SIZE as TILED_OVER_SIZE,
)
from harvester.emulator.catalogue_presets import (
    TILED_PROJECT_ID as TILED_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_SIZE as TILED_SIZE,
)
from harvester.emulator.catalogue_presets import (
    TILED_SLIDE_DATASET_ID as TILED_SLIDE_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_SLIDE_IMAGE_ID as TILED_SLIDE_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_SLIDE_LEVELS as TILED_SLIDE_LEVELS,
)
from harvester.emulator.catalogue_presets import (
    TILED_SLIDE_PROJECT_ID as TILED_SLIDE_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_SLIDE_SIZE as TILED_SLIDE_SIZE,
)
from harvester.emulator.catalogue_presets import (
    TILED_SMALL_IMAGE_ID as TILED_SMALL_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_WIDE_IMAGE_ID as TILED_WIDE_IMAGE_ID,
)
from harvester.emulator.catalogue_presets import (
    TILED_WIDE_SIZE as TILED_WIDE_SIZE,
)
from harvester.emulator.catalogue_presets import (
    TIMESERIES_DATASET_ID as TIMESERIES_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    TIMESERIES_PROJECT_ID as TIMESERIES_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    TIMESERIES_SIZE_T as TIMESERIES_SIZE_T,
)
from harvester.emulator.catalogue_presets import (
    ZSTACK_DATASET_ID as ZSTACK_DATASET_ID,
)
from harvester.emulator.catalogue_presets import (
    ZSTACK_PROJECT_ID as ZSTACK_PROJECT_ID,
)
from harvester.emulator.catalogue_presets import (
    ZSTACK_SIZE_Z as ZSTACK_SIZE_Z,
)
from harvester.emulator.catalogue_presets import (
    Gene as Gene,
)
from harvester.emulator.catalogue_presets import (
    PixelsSpec as PixelsSpec,
)
from harvester.emulator.catalogue_presets import (
    ProjectSpec as ProjectSpec,
)
from harvester.emulator.catalogue_presets import (
    ScreenSpec as ScreenSpec,
)
from harvester.emulator.catalogue_presets import (
    build_specs as build_specs,
)
from harvester.emulator.catalogue_presets import (
    respelled as respelled,
)
from harvester.emulator.model import ImageInfo
from harvester.emulator.rois import Roi


def _spelled(spec: ScreenSpec | ProjectSpec) -> bool:
    """Whether ``spec`` spells its samples' mapr values variously (preset ``spellings``)."""
    return isinstance(spec, ScreenSpec) and spec.spellings


def _spelling(spec: ScreenSpec | ProjectSpec, sample: int) -> int:
    """The way (:func:`respelled`) ``sample`` of ``spec`` spells its mapr values: 0 (as
    is) but in preset ``spellings``, where a gene's samples take them in turn."""
    return sample % SPELLINGS if _spelled(spec) else 0


# Annotation and link id spaces (independent of every other id space).
_STUDY_ANN_BASE = 1_000_000
_GENE_ANN_BASE = 2_000_000
_SIRNA_ANN_BASE = 3_000_000
_PHENO_ANN_BASE = 4_000_000
_STUDY_LINK_BASE = 1_500_000
_WELL_LINK_BASE = 10_000_000
_IMAGE_LINK_BASE = 100_000_000


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


def _plate_fileset(spec: ScreenSpec, plate_index: int, col: int) -> int:
    """The fileset id of the images of a plate's wells in column ``col``: one per plate,
    or, where the screen was imported in parts, one per ``cols_per_fileset`` columns."""
    if spec.cols_per_fileset <= 0:
        return 700_000 + spec.id * 10_000 + plate_index
    part = col // spec.cols_per_fileset
    return 800_000_000 + spec.id * 10_000 + plate_index * 100 + part


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
        screens, projects = build_specs(preset, seed)
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
        first = spec.run_base + index * spec.runs_per_plate
        runs = (
            () if pid in spec.zero_run_plates else tuple(range(first, first + spec.runs_per_plate))
        )
        return Plate(pid, spec.plate_names[index], index, spec.id, spec.rows, spec.cols, runs, spec)

    def runs(self, plate_id: int) -> list[Run]:
        """Plate acquisitions of a plate, by id."""
        plate = self.plate(plate_id)
        if plate is None:
            return []
        spec = plate.spec
        start = int(spec.acquisition_ts * 1000) + plate.index * 3_600_000
        length = 1_800_000 // spec.runs_per_plate
        return [
            Run(
                rid,
                plate_id,
                f"Run {rid}",
                spec.fields_per_run,
                start + r * length,
                start + (r + 1) * length,
            )
            for r, rid in enumerate(plate.run_ids)
        ]

    def run(self, run_id: int) -> Run | None:
        for spec in self._screens:
            index, r = divmod(run_id - spec.run_base, spec.runs_per_plate)
            if 0 <= index < spec.n_plates:
                pid = spec.plate_ids[index]
                if pid not in spec.zero_run_plates:
                    return self.runs(pid)[r]
        return None

    def run_samples(self, run_id: int) -> range:
        """The WellSample indices (in every imaged well) that belong to a run."""
        run = self.run(run_id)
        if run is None:
            return range(0)
        plate = self.plate(run.plate_id)
        assert plate is not None
        per_run = plate.spec.fields_per_run
        first = plate.run_ids.index(run_id) * per_run
        return range(first, first + per_run)

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

    def fileset_wells(self, plate: Plate, sample: int) -> list[Well]:
        """The imaged wells of ``plate`` whose images are in the fileset of sample
        ``sample``'s (every imaged well, but in a screen imported in parts:
        ``cols_per_fileset``)."""
        spec = plate.spec
        _, col = spec.positions[sample % len(spec.positions)]
        fileset = _plate_fileset(spec, plate.index, col)
        return [
            well
            for well in self.wells(plate.id)
            if well.sample is not None and _plate_fileset(spec, plate.index, well.col) == fileset
        ]

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
        n_datasets = spec.n_datasets + len(spec.linked_datasets)
        return Project(spec.id, spec.name, spec.description, n_datasets, spec)

    @staticmethod
    def _dataset_name(spec: ProjectSpec, index: int) -> str:
        if spec.dataset_names:
            return spec.dataset_names[index]
        return f"{spec.dataset_prefix}{index + 1:04d}"

    def _dataset(self, spec: ProjectSpec, index: int) -> Dataset:
        linked = sum(1 for _, d in spec.also_in if d == index)
        return Dataset(
            spec.dataset_base + index,
            self._dataset_name(spec, index),
            index,
            spec.id,
            spec.images_per_dataset + linked,
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
        """A project's datasets in name order: its own and those linked into it."""
        spec = self._project_by_id.get(project_id)
        if spec is None:
            return []
        own = [self._dataset(spec, i) for i in self._dataset_order(spec)]
        if not spec.linked_datasets:
            return own
        linked = [ds for i in spec.linked_datasets if (ds := self.dataset(i)) is not None]
        return sorted([*own, *linked], key=lambda d: (d.name.lower(), d.id))

    def all_datasets(self) -> list[Dataset]:
        """Every dataset once (under the project that owns it), in name order."""
        items = [self._dataset(p, i) for p in self._projects for i in self._dataset_order(p)]
        return sorted(items, key=lambda d: (d.name.lower(), d.id))

    def dataset_project_ids(self, dataset_id: int) -> list[int]:
        """Every project holding the dataset: its owner first, then those linking it."""
        ds = self.dataset(dataset_id)
        if ds is None:
            return []
        return [ds.project_id] + [
            p.id
            for p in self._projects
            if p.id != ds.project_id and dataset_id in p.linked_datasets
        ]

    def dataset(self, dataset_id: int) -> Dataset | None:
        for spec in self._projects:
            index = dataset_id - spec.dataset_base
            if 0 <= index < spec.n_datasets:
                return self._dataset(spec, index)
        return None

    def dataset_image_ids(
        self, dataset_id: int, offset: int = 0, limit: int | None = None, *, linked: bool = True
    ) -> list[int]:
        """Image ids of a dataset in name order, sliced without building the rest.

        ``linked=False`` leaves out the images linked in from another dataset (``also_in``):
        a listing of every image names each once, under its own dataset.
        """
        ds = self.dataset(dataset_id)
        if ds is None:
            return []
        spec = ds.spec
        n = spec.images_per_dataset
        base = spec.image_base + ds.index * n
        extra = [spec.image_base + off for off, d in spec.also_in if d == ds.index]
        if linked and extra:  # a few small presets: sort the whole dataset by name
            every = sorted([*range(base, base + n), *extra], key=self._name_order)
            return every[max(0, offset) : None if limit is None else max(0, offset) + limit]
        stop = n if limit is None else min(n, offset + limit)
        return list(range(base + max(0, offset), base + stop))

    def _name_order(self, image_id: int) -> tuple[str, int]:
        """OMERO's ``lower(name), id`` order key of an image."""
        info = self.image(image_id)
        return ("" if info is None else info.name.lower(), image_id)

    # -- regions of interest ---------------------------------------------------
    def roi_count(self, image_id: int) -> int:
        """How many ROIs an image has (0 for an unknown id: the listing is then empty)."""
        return 0 if self.image(image_id) is None else rois.roi_count(image_id, self.seed)

    def image_rois(self, image_id: int, offset: int = 0, limit: int | None = None) -> list[Roi]:
        """The image's ROIs in id order (the server's), from ``offset``, at most ``limit``."""
        info = self.image(image_id)
        if info is None:
            return []
        count = rois.roi_count(image_id, self.seed)
        return rois.image_rois(info, offset, count if limit is None else limit, self.seed)

    def image_datasets(self, image_id: int) -> list[Dataset]:
        """Every dataset holding the image: its own first, then those it is linked into."""
        loc = self.locate(image_id)
        if loc is None or loc.dataset is None:
            return []
        found = (self.dataset(i) for i in loc.image.dataset_ids)
        return [ds for ds in found if ds is not None]

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
            run_id=plate.run_ids[fld // spec.fields_per_run] if plate.run_ids else None,
            fileset_id=_plate_fileset(spec, plate_index, col),
        )
        return ImageLocation(info, self._screen(spec), plate, well, sample=sample)

    def _locate_project(self, spec: ProjectSpec, image_id: int, offset: int) -> ImageLocation:
        index, j = divmod(offset, spec.images_per_dataset)
        ds = self._dataset(spec, index)
        pixels = spec.per_image_pixels(j) if spec.per_image_pixels else spec.pixels
        name = f"{spec.image_prefix}{j + 1:04d}.tif"
        if spec.dataset_names:
            name = f"{ds.name}_{j + 1:04d}.tif"
        first = image_id  # the first image of its fileset, which names the fileset
        if spec.images_per_fileset > 1:
            file_index, series = divmod(offset, spec.images_per_fileset)
            name = f"{series_file(spec, file_index)} [Series {series + 1}]"
            first = image_id - series
        info = _image_info(
            image_id,
            name,
            pixels,
            spec.acquisition_ts + offset,
            dataset_ids=(ds.id, *(spec.dataset_base + d for o, d in spec.also_in if o == offset)),
            fileset_id=None if image_id in spec.no_fileset else 900_000_000 + first,
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
        if _spelled(spec):  # (each gene on SPELLINGS samples in a row, spelled each way)
            sample //= SPELLINGS
        return GENES[(sample * _GENE_STEP + spec.salt) % len(GENES)]

    def _sample_anns(
        self,
        gene: Gene,
        link_base: int,
        parent_class: str,
        parent_id: int,
        parent_name: str,
        ts: float,
        spelling: int = 0,
    ) -> list[MapAnn]:
        # A spelling of its own is an annotation of its own (as two sheets' rows are).
        g = GENES.index(gene) + spelling * len(GENES)
        symbol = respelled(gene.symbol, spelling)
        out = [
            MapAnn(
                _GENE_ANN_BASE + g,
                NS_GENE,
                (
                    ("Gene Identifier", gene.ensembl),
                    ("Gene Identifier URL", f"http://www.ensembl.org/id/{gene.ensembl}"),
                    ("Gene Symbol", symbol),
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
                (("siRNA Identifier", gene.sirna), ("siRNA Pool Identifier", symbol)),
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
                values += [
                    ("Phenotype", respelled(pheno, spelling)),
                    ("Phenotype Term Accession", acc),
                ]
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
            _spelling(well.spec, well.sample),
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
            _spelling(spec, loc.sample),
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


def series_file(spec: ProjectSpec, file_index: int) -> str:
    """The name of a multi-series file of ``spec`` (``images_per_fileset`` over 1)."""
    return f"{spec.image_prefix}{file_index + 1:04d}.lif"


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
        length_unit=px.length_unit,
        time_increment=px.time_increment,
        levels=px.levels,
        tile_width=px.tile,
        tile_height=px.tile,
        acquisition_ts=float(ts),
        **kw,  # type: ignore[arg-type]
    )

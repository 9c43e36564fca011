"""Emulators whose catalogue a test has changed, for the tests of every folder (a module
beside the top ``conftest.py``, with a unique name: importable under both ``pytest`` and
``python -m pytest``, whichever test folders a run collects)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

from harvester.emulator import EmulatorThread
from harvester.emulator.app import build_app
from harvester.emulator.catalogue import MapAnn


@contextlib.contextmanager
def wells_annotated(preset: str, key: str, value: str) -> Iterator[EmulatorThread]:
    """An emulator of ``preset`` whose every annotated well also carries ``key = value``, in a
    map annotation of its own after the well's others (a study's own column, as submitters
    annotate): for the tests of annotations that harvester's own words or labels must not
    be taken for. Wells without annotations stay without."""
    app = build_app(preset)
    catalogue = app.site.catalogue
    wells = catalogue.well_annotations

    def with_extra(well_id: int) -> list[MapAnn]:
        found = wells(well_id)
        if not found:
            return found
        extra = replace(found[0], id=found[0].id + 900_000, values=((key, value),))
        return [*found, replace(extra, link_id=found[-1].link_id + 3)]

    catalogue.well_annotations = with_extra  # type: ignore[method-assign]
    with EmulatorThread(app=app) as emu:
        yield emu

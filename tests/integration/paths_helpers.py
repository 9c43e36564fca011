"""What the tests of the ``paths`` artifact share: an emulator app that counts (and may
answer otherwise) the ``original_file_paths`` requests, and the files they compare."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

from harvester.emulator.app import App, build_app
from harvester.emulator.http import Request, Response
from harvester.layout import image_path

PATHS = "/webgateway/original_file_paths/"
CHECK = "/webclient/fileset_check/"


class CountingApp:
    """A preset's app; records every original_file_paths request, answers ``answer`` first;
    records the image ids of every fileset_check, answers ``check`` first."""

    def __init__(self, preset: str = "demo") -> None:
        self.app: App = build_app(preset)
        self.asked: list[int] = []
        self.answer: Callable[[int], Response | None] = lambda image_id: None
        self.checked: list[list[int]] = []
        self.check: Callable[[list[int]], Response | None] = lambda image_ids: None

    def handle(self, req: Request) -> Response:
        if req.path.startswith(CHECK):
            ids = [int(i) for i in (req.param("Image") or "").split(",") if i]
            self.checked.append(ids)
            own = self.check(ids)
            if own is not None:
                return own
        if req.path.startswith(PATHS):
            image_id = int(req.path[len(PATHS) :].strip("/"))
            self.asked.append(image_id)
            own = self.answer(image_id)
            if own is not None:
                return own
        return self.app.handle(req)


def paths_file(out: Path, image_id: int) -> Path:
    return out / image_path(image_id, "paths")


def served(base_url: str, image_id: int) -> bytes:
    """What the emulator answers to the harvester's request, read directly."""
    with urllib.request.urlopen(f"{base_url}{PATHS}{image_id}/") as answer:  # noqa: S310
        body: bytes = answer.read()
    return body

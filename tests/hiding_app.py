"""The demo emulator with images deleted from the server: ``HidingApp`` leaves the ids in its
``hidden`` set out of dataset and well listings (the images stay answerable by id), as a study
whose images were removed after an earlier harvest looks to the walk."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from harvester.emulator import build_application


class HidingApp:
    """The demo application, with ``hidden`` image ids left out of dataset and well listings."""

    def __init__(self) -> None:
        self.inner: Any = build_application("demo")
        self.hidden: set[int] = set()

    def handle(self, req: Any) -> Any:
        answer = self.inner.handle(req)
        if self.hidden and req.path.startswith("/webclient/api/images/"):
            body = json.loads(answer.body)
            body["images"] = [i for i in body["images"] if i.get("id") not in self.hidden]
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        elif self.hidden and re.fullmatch(r"/api/v0/m/plates/\d+/wells/", req.path):
            body = json.loads(answer.body)
            for well in body["data"]:
                well["WellSamples"] = [
                    ws
                    for ws in well.get("WellSamples") or []
                    if ws["Image"]["@id"] not in self.hidden
                ]
            answer = dataclasses.replace(answer, body=json.dumps(body).encode())
        return answer

    def route_name(self, req: Any) -> str:
        return str(self.inner.route_name(req))

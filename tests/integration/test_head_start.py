"""The head start: an ``--ids-from`` run into a new folder sends its first image requests
while the server probe is still out (harvester.early), and nothing else changes.

The emulator answers every request after a fixed latency; a wrapper around its
application notes when each request arrived. A request that arrived less than one
latency after the probe's arrival was sent before the probe's answer could have
come back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harvest_helpers import content, harvest, temp_files

from harvester.cli import main
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.catalogue_presets import HUGE_FIRST_IMAGE_ID
from harvester.emulator.http import Request, Response
from harvester.pipeline import RunSummary
from harvester.shard import in_shard

LATENCY_MS = 400
#: Arrivals within this many seconds of the probe's were sent before its answer was back:
#: the emulator notes each request as it arrives and answers it one latency later, so a
#: request arriving earlier than that cannot have been sent after the probe's answer. (Half
#: a latency was too short under load: a busy machine took more than 200 ms to open the
#: early requests' 7 connections, and the test failed though they all left before the answer.)
BEFORE_ANSWER_S = LATENCY_MS / 1000 * 0.9
IDS = [HUGE_FIRST_IMAGE_ID + n for n in range(40)]


class ArrivalLog:
    """The emulator's application, noting the arrival time of each request path."""

    def __init__(self, app: object, *, api_html: bool = False) -> None:
        self.app = app
        self.api_html = api_html
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def handle(self, req: Request) -> Response:
        with self._lock:
            self.arrivals.append((time.monotonic(), req.path))
        if self.api_html and req.path == "/api/":
            return Response(200, b"<html><body>Welcome</body></html>", "text/html")
        return self.app.handle(req)  # type: ignore[attr-defined,no-any-return]

    def route_name(self, req: Request) -> str:
        return self.app.route_name(req)  # type: ignore[attr-defined,no-any-return]

    def probe_time(self) -> float:
        return next(t for t, path in self.arrivals if path == "/api/")

    def early_thumbnails(self) -> list[int]:
        """Ids of the thumbnails asked for before the probe's answer was back."""
        probe = self.probe_time()
        return [
            int(path.split("/")[3])
            for t, path in self.arrivals
            if "render_thumbnail" in path and t - probe < BEFORE_ANSWER_S
        ]

    def thumbnail_requests(self) -> list[int]:
        return [int(p.split("/")[3]) for _, p in self.arrivals if "render_thumbnail" in p]


def _emulator(
    make_emulator: Callable[..., EmulatorThread], **options: bool
) -> tuple[EmulatorThread, ArrivalLog]:
    log = ArrivalLog(build_application("huge"), **options)
    return make_emulator(app=log, latency_ms=LATENCY_MS), log


def _ids_file(folder: Path, ids: list[int]) -> Path:
    path = folder / "ids.txt"
    path.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def harvest_thumbnails(emu: EmulatorThread, out: Path, ids: list[int], **values: Any) -> RunSummary:
    """Thumbnails of ``ids`` (an ids file beside ``out``), no labels, concurrency 8 unless told."""
    settings: dict[str, Any] = {"artifacts": ("thumbnail",), "concurrency": 8, "labels": False}
    settings.update(values)
    ids_file = _ids_file(out.parent, ids)
    return harvest(emu.base_url, out, ids_from=ids_file, **settings)


def test_first_requests_leave_during_the_probe(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Concurrency 8: the first 7 thumbnails (the probe holds the 8th slot) are asked for
    before the probe's answer is back; every thumbnail is asked for once and stored."""
    emu, log = _emulator(make_emulator)
    out = tmp_path / "new"
    summary = harvest_thumbnails(emu, out, IDS)
    assert summary.exit_code == 0 and summary.done == len(IDS)
    assert sorted(log.early_thumbnails()) == IDS[:7]
    assert sorted(log.thumbnail_requests()) == IDS
    assert emu.stats()["peak_concurrency"] <= 8
    stored = content(out, "images")
    assert len(stored) == len(IDS) and temp_files(out) == []


def test_no_head_start_into_an_existing_harvest(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder that already holds a harvest (a resume, more ids) gets no early request:
    what is done there is only known once its journals are read, after the probe."""
    emu, log = _emulator(make_emulator)
    out = tmp_path / "grow"
    assert harvest_thumbnails(emu, out, IDS[:5]).exit_code == 0
    log.arrivals.clear()
    summary = harvest_thumbnails(emu, out, IDS[:12])
    assert summary.exit_code == 0 and summary.done == 7 and summary.skipped == 5
    assert log.early_thumbnails() == []
    assert sorted(log.thumbnail_requests()) == IDS[5:12]


def test_head_start_keeps_to_the_shard(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--shard 1/3: only ids of the shard are asked for early (and at all)."""
    emu, log = _emulator(make_emulator)
    mine = [i for i in IDS if in_shard(i, 1, 3)]
    summary = harvest_thumbnails(emu, tmp_path / "sharded", IDS, concurrency=4, shard="1/3")
    assert summary.exit_code == 0 and summary.done == len(mine)
    assert sorted(log.early_thumbnails()) == mine[:3]
    assert sorted(log.thumbnail_requests()) == mine


def test_head_start_to_a_server_that_is_not_omero_writes_nothing(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: object,
) -> None:
    """The probe fails (api/ is an HTML page): the early answers are dropped, the folder
    is not created, and the error is the usual one line."""
    emu, log = _emulator(make_emulator, api_html=True)
    out = tmp_path / "never"
    ids = _ids_file(tmp_path, IDS)
    code = main(
        ["harvest", "--base-url", emu.base_url, "--out", str(out), "--ids-from", str(ids)]
        + ["--artifacts", "thumbnail", "--concurrency", "4", "--rate", "none", "--quiet"]
    )
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert code == 2
    assert "does not look like an OMERO.web server" in err and "Traceback" not in err
    assert sorted(log.early_thumbnails()) == IDS[:3]  # they were sent, and then dropped
    assert not out.exists()


def test_early_failures_are_recorded_once(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An image unknown to the server among the first ids: its early thumbnail request ends
    in a 404, which is the image's failure (recorded once, not asked for again); the rest of
    the run is as without the head start."""
    emu, log = _emulator(make_emulator)
    unknown = 99_999_999_999
    ids = [IDS[0], unknown, *IDS[1:10]]
    summary = harvest_thumbnails(
        emu, tmp_path / "mixed", ids, artifacts=("thumbnail", "metadata"), concurrency=6
    )
    assert summary.exit_code == 1
    assert summary.failed == 2 and summary.done == 2 * 10
    assert {(f.image_id, f.kind, f.status) for f in summary.failures} == {
        (unknown, "metadata", 404),
        (unknown, "thumbnail", 404),
    }
    assert log.thumbnail_requests().count(unknown) == 1
    assert [p for _, p in log.arrivals].count(f"/api/v0/m/images/{unknown}/") == 1
    # Early: 5 requests (the probe holds the 6th slot), in the fetcher's order per image.
    probe = log.probe_time()
    early = [p for t, p in log.arrivals if t - probe < BEFORE_ANSWER_S and p != "/api/"]
    assert sorted(early) == sorted(
        [f"/api/v0/m/images/{i}/" for i in (IDS[0], unknown, IDS[1])]
        + [f"/webgateway/render_thumbnail/{i}/" for i in (IDS[0], unknown)]
    )
    assert emu.stats()["image_requests_repeated"] == 0

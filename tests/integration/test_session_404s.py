"""A session that ends while every image also has a file the server never serves (404):
the 404s say nothing of the session (a path a front end or OMERO.web does not resolve
answers 404 before any session check), so they must not end the count of the 403s that
show the session ended, and the run stops with the session error, not with each kind
given up and every image left counted failed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.app import App, build_site
from harvester.emulator.http import Request, Response
from harvester.emulator.routes_common import django_404


class _NoSizedThumbnails(App):
    """The demo OMERO.web behind one session (``key-1``), ending after ``expires_after``
    answers given with it, whose front end serves no sized thumbnail: every
    ``render_thumbnail/ID/SIZE/`` is a 404, before any session check, as for a path it does
    not resolve (IDR serves 96 px ones only)."""

    def __init__(self, expires_after: int) -> None:
        super().__init__(build_site("demo", session_key="key-1"))
        self.site.session_expires_after = expires_after

    def _handle(self, req: Request) -> Response:
        parts = req.path.strip("/").split("/")
        if parts[:2] == ["webgateway", "render_thumbnail"] and len(parts) == 4:
            resp = django_404(req)
            resp.route = "404"
            return resp
        return super()._handle(req)


def test_404s_between_the_refusals_do_not_hide_an_ended_session(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """80 images, each a metadata and a 256 px thumbnail the server never serves (404);
    the session ends after 5 answers: the run stops with the session error (exit 2) after a
    few refusals, the images it did not ask left to the resume; not after 20 (a 404 between each two
    refusals ended their count, and the check waited for the give-up rule to stop the
    thumbnails), the images refused meanwhile counted failed."""
    ids = sorted(build_site("demo").catalogue.iter_image_ids())[:80]
    emu = make_emulator(app=_NoSizedThumbnails(expires_after=5))
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-1", "--ids-from", str(listed),
        "--artifacts", "metadata,thumbnail", "--thumbnail-size", "256", "--no-labels",
        "--out", str(out), "--rate", "none", "--concurrency", "1",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr[-3000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    assert "key-1" not in proc.stderr
    refused = emu.stats()["by_status"].get("403", 0)
    assert 3 <= refused <= 10, refused
    report = json.loads(run_cli("status", str(out), "--json").stdout)
    metadata = report["kinds"]["metadata"]
    # Only the images refused before the check are failed (15 were), the rest left to the
    # resume (those not reached are not listed yet, as without the 404s).
    assert metadata["done"] == 5 and metadata["failed"] <= 6, metadata


def test_answerless_failures_between_the_refusals_do_not_hide_an_ended_session(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """80 images, each a metadata and a thumbnail whose every request the emulator drops
    before any byte (no answer, status None); the session ends after 5 answers: the run
    stops with the session error (exit 2) after a few refusals, not once the give-up rule
    had stopped the thumbnails (each failure with no answer ended the refusals' count)."""
    ids = sorted(build_site("demo").catalogue.iter_image_ids())[:80]
    app = App(build_site("demo", session_key="key-1"))
    app.site.session_expires_after = 5
    emu = make_emulator(app=app, faults="drop:100%,only:/webgateway/render_thumbnail/")
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-1", "--ids-from", str(listed),
        "--artifacts", "metadata,thumbnail", "--no-labels", "--out", str(out), "--rate", "none",
        "--concurrency", "1", "--max-retries", "0",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr[-3000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    assert "key-1" not in proc.stderr
    assert emu.stats()["faults"].get("drop", 0) > 0
    refused = emu.stats()["by_status"].get("403", 0)
    assert 3 <= refused <= 10, refused
    # (the dropped requests were answered unseen, the session's answers counted: fewer
    # than 5 metadata came before it ended)
    metadata = json.loads(run_cli("status", str(out), "--json").stdout)["kinds"]["metadata"]
    assert metadata["done"] >= 2 and metadata["failed"] <= 6, metadata

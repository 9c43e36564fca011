"""The server check looks again before calling a flaky server "not OMERO.web".

Found by the soak run: under the chaos fault mix (1% HTML pages with status 200, 2% answers
cut short) one run of 25 ended exit 2 "does not look like an OMERO.web server" after one
answer cut short and then one HTML page at ``api/``: the check believed a wrong answer after
two tries. A wrong answer now gets a few more looks (``MORE_LOOKS``; the quick check of
``harvester slurm`` ``QUICK_MORE_LOOKS``) and any API root among them is believed, while a
server that answers something else every time (a wrong --base-url) is still refused within
seconds. The emulator's ``first:`` fault scripts the first answers at ``api/``; the counts
are the emulator's own. Retry waits are real (the backoff is short).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from test_probe_busy import PROJECT, harvest

from harvester.cli import main
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.errors import NotOmeroError
from harvester.pipeline import MORE_LOOKS, QUICK_MORE_LOOKS, probe_server

HTML_REASON = "HTML page with status 200 where JSON was expected"
#: Requests a harvest's server check sends to a server that is never right: its first
#: try and one retry, then the more looks.
REFUSED_AFTER = 2 + MORE_LOOKS
#: A wrong --base-url is still refused within seconds: the waits are at most 0.5 + 1 s
#: (the tries), 1 s, then 0.5 + 1 s (the looks); the rest is slack for a loaded machine.
SECONDS = 20.0

Factory = Callable[..., EmulatorThread]


def thumbnails(out: Path) -> int:
    return len(list((out / "images").rglob("*.thumbnail.jpg")))


def api_root_requests(emu: EmulatorThread) -> int:
    return sum(emu.stats()["by_route"].get("api_versions", {}).values())


@pytest.mark.parametrize(
    ("first", "faults"),
    [
        ("html200*3", {"html200": 3}),
        # The soak run's failure: cut short, then an HTML page (and once more).
        ("truncate|html200|truncate|html200", {"html200": 2, "truncate": 2}),
    ],
)
def test_wrong_answers_at_the_first_looks_do_not_stop_the_run(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_emulator: Factory,
    first: str,
    faults: dict[str, int],
) -> None:
    """HTML pages (and answers cut short) at api/ before its real answer: the run goes on,
    exit 0 and every thumbnail on disk; api/ was asked once more than it was wrong."""
    emu = make_emulator(preset="demo", faults=f"first:{first},only:api_versions")
    out = tmp_path / "d"
    code, err = harvest(capsys, emu.base_url, out)
    assert code == 0, err
    assert thumbnails(out) == 8
    assert emu.stats()["faults"] == faults
    assert api_root_requests(emu) == sum(faults.values()) + 1


def test_a_server_answering_html_every_time_is_refused_within_seconds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """api/ is an HTML page at every look (a wrong --base-url): exit 2, one error line that
    says how many times, the hint, no folder, and only a few requests in a few seconds."""
    emu = make_emulator(preset="demo", faults="html200:100%,only:api_versions")
    out = tmp_path / "d"
    started = time.monotonic()
    code, err = harvest(capsys, emu.base_url, out)
    elapsed = time.monotonic() - started
    assert code == 2
    assert err.splitlines() == [
        f"error: {emu.base_url}/ does not look like an OMERO.web server "
        f"({HTML_REASON}, {REFUSED_AFTER} times)",
        "hint: check --base-url: where OMERO.web is served under a path, give it too "
        f"(--base-url {emu.base_url}/omero, as the browser shows it before /webclient/)",
    ]
    assert not out.exists()
    assert emu.stats()["requests"] == api_root_requests(emu) == REFUSED_AFTER
    assert elapsed < SECONDS


def test_max_retries_0_looks_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """--max-retries 0 means one try: one request to api/, and the message without a count."""
    emu = make_emulator(preset="demo", faults="html200:100%,only:api_versions")
    code, err = harvest(capsys, emu.base_url, tmp_path / "d", "--max-retries", "0")
    assert code == 2
    assert err.splitlines()[0] == (
        f"error: {emu.base_url}/ does not look like an OMERO.web server ({HTML_REASON})"
    )
    assert api_root_requests(emu) == 1


class MixedRoot:
    """An api/ that answers an HTML page and a JSON error by turns, never the API root."""

    def __init__(self) -> None:
        self.asked = 0

    def handle(self, req: Request) -> Response:
        self.asked += 1
        if self.asked % 2:
            return Response(200, b"<html>proxy error</html>", "text/html", route="api_versions")
        body = json.dumps({"error": "upstream timed out"}).encode()
        return Response(200, body, "application/json", route="api_versions")

    def route_name(self, req: Request) -> str:
        return "api_versions"


def test_answers_that_differ_each_time_are_named_as_such(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """Wrong answers that differ from one look to the next are more likely something in
    between failing than a wrong --base-url: exit 2, and the line and hint say so."""
    app = MixedRoot()
    emu = make_emulator(app=app)
    code, err = harvest(capsys, emu.base_url, tmp_path / "d")
    assert code == 2
    error, hint = err.splitlines()
    assert error == (
        f"error: {emu.base_url}/ does not look like an OMERO.web server ({HTML_REASON}; "
        f"{REFUSED_AFTER} answers, none the JSON API root)"
    )
    assert hint.startswith(
        "hint: its answers differ from one try to the next (something in between may be "
        "failing): try again later; if it keeps failing, check --base-url"
    )
    assert app.asked == REFUSED_AFTER


@pytest.mark.parametrize(
    ("faults", "refused"), [("first:html200*2", False), ("html200:100%", True)]
)
def test_the_quick_check_looks_twice_more(
    make_emulator: Factory, faults: str, refused: bool
) -> None:
    """``harvester slurm``'s quick check: one try, then QUICK_MORE_LOOKS more at a wrong
    answer; two HTML pages are looked past, three are "not OMERO.web"."""
    emu = make_emulator(preset="demo", faults=f"{faults},only:api_versions")
    cfg = HarvestConfig(base_url=emu.base_url)
    if refused:
        with pytest.raises(NotOmeroError, match=f"{HTML_REASON}, 3 times"):
            anyio.run(lambda: probe_server(cfg, quick=True))
    else:
        anyio.run(lambda: probe_server(cfg, quick=True))
    assert api_root_requests(emu) == 1 + QUICK_MORE_LOOKS


def test_slurm_writes_the_script_past_an_html_page(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_emulator: Factory
) -> None:
    """``harvester slurm`` behind a flaky proxy: an HTML page at api/ once does not refuse
    the submission, and the targets are checked (no "not checked here" note)."""
    emu = make_emulator(preset="demo", faults="first:html200,only:api_versions")
    out = tmp_path / "study"
    code = main(["slurm", "--base-url", emu.base_url, "--project", PROJECT, "--out", str(out),
                 "--tasks", "2"])  # fmt: skip
    said = capsys.readouterr()
    assert code == 0, said.err
    assert (out / "harvest.sbatch").is_file()
    assert "not checked here" not in said.out
    assert api_root_requests(emu) == 2


class NoJsonApi:
    """The demo emulator without the JSON API's root (api/ 404): an older OMERO.web."""

    def __init__(self) -> None:
        self.app = build_application("demo")

    def handle(self, req: Request) -> Response:
        if req.path == "/api/":
            return Response(404, b"<h1>Not Found</h1>", "text/html", route="api_versions")
        return self.app.handle(req)

    def route_name(self, req: Request) -> str:
        return "api_versions" if req.path == "/api/" else "other"


def test_the_webclient_check_looks_again_too(
    make_emulator: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the JSON API the check asks the webclient tree instead: two HTML pages there
    are looked past as at api/ (two tries used to make it "not OMERO.web")."""
    emu = make_emulator(app=NoJsonApi(), faults="first:html200*2,only:/webclient/api/containers/")
    cfg = HarvestConfig(base_url=emu.base_url)
    with caplog.at_level(logging.WARNING, logger="harvester.pipeline"):
        anyio.run(lambda: probe_server(cfg))
    assert "has no JSON API (api/ 404)" in caplog.text
    stats = emu.stats()
    assert stats["faults"] == {"html200": 2}
    assert stats["requests"] == 1 + 3  # api/ once (404: not retried), the tree three times

"""Harvesting a private OMERO.web, as the emulator serves one: deployed under a path
prefix (``https://host/omero/``), wanting an OMERO session (``?bsession=KEY`` or a
``sessionid`` cookie), and a session that ends mid-run."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_PROJECT, run_cli

from harvester.emulator import EmulatorThread
from harvester.emulator.app import App

PROJECT_IMAGES = 8
KEY = "s3cr3t-session-KEY"


def _thumbnails(out: Path) -> dict[str, bytes]:
    """Each thumbnail file under ``out`` by name, with its bytes."""
    return {p.name: p.read_bytes() for p in (out / "images").rglob("*.thumbnail.jpg")}


def _index_rows(out: Path) -> int:
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))


def _files_holding(out: Path, secret: str) -> list[Path]:
    """Files of ``out`` (configs, journals, index.csv, artifacts) whose bytes hold ``secret``."""
    return [p for p in out.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_harvest_under_a_path_prefix(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """OMERO.web at /omero/: given that URL, a harvest of a project gets every thumbnail
    and exits 0."""
    emu = make_emulator(preset="demo", prefix="/omero")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/omero/", "--project", str(DEMO_PROJECT),
        "--artifacts", "thumbnail", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(_thumbnails(out)) == PROJECT_IMAGES
    assert _index_rows(out) == PROJECT_IMAGES


def test_harvest_with_the_session_in_a_cookie_or_bsession(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A server wanting an OMERO session: the key as a config file's sessionid cookie, and
    as ?bsession= in --base-url, each gets every thumbnail, and the key reaches no output
    and no file of DIR."""
    emu = make_emulator(preset="demo", prefix="/omero", session_key=KEY)
    config = tmp_path / "private.toml"
    config.write_text(
        f'base_url = "{emu.base_url}/omero/"\n\n[cookies]\nsessionid = "{KEY}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)  # a file holding a secret, kept private as the README says
    runs = {
        "cookie": [str(config)],
        "bsession": ["--base-url", f"{emu.base_url}/omero/?bsession={KEY}"],
    }
    for name, given in runs.items():
        out = tmp_path / name
        proc = run_cli(
            "harvest", *given, "--project", str(DEMO_PROJECT), "--artifacts", "thumbnail",
            "--out", str(out),
        )  # fmt: skip
        assert proc.returncode == 0, (name, proc.stderr)
        assert len(_thumbnails(out)) == PROJECT_IMAGES, name
        assert KEY not in proc.stdout + proc.stderr, name
        assert _files_holding(out, KEY) == [], name


def test_a_session_ending_mid_run_keeps_the_files_and_resumes_with_a_new_key(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The session ends after 10 answers: the run keeps what came, stops, exits 2 and says
    the session ended (log in again, then resume), as status does after it; the same
    command with a new key fetches the rest, the files kept unchanged."""
    emu = make_emulator(preset="demo", session_key=KEY, session_expires_after=10)
    out = tmp_path / "out"
    first = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession={KEY}", "--project",
        str(DEMO_PROJECT), "--artifacts", "thumbnail", "--out", str(out), "--concurrency", "1",
    )  # fmt: skip
    assert first.returncode == 2, first.stderr
    assert "Traceback" not in first.stderr
    assert "error: the session this run sent has ended (HTTP 403" in first.stderr
    assert "hint: log in to OMERO.web again and give the new session key" in first.stderr
    assert "is not public" not in first.stderr  # not the images' fault
    kept = _thumbnails(out)
    assert 1 <= len(kept) < PROJECT_IMAGES
    # status says it as the run did (it said "an id ... not public" alone).
    status = run_cli("status", str(out))
    said = (
        "the session its run sent had ended (HTTP 403 Forbidden: Not logged in): "
        "log in to OMERO.web again"
    )
    assert said in status.stdout, status.stdout + status.stderr
    assert KEY not in status.stdout + status.stderr

    app = emu.app
    assert isinstance(app, App)
    app.site.session_key, app.site.session_expires_after = "a-new-session", None  # log in again
    again = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=a-new-session", "--project",
        str(DEMO_PROJECT), "--artifacts", "thumbnail", "--out", str(out),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    now = _thumbnails(out)
    assert len(now) == PROJECT_IMAGES
    assert {name: now[name] for name in kept} == kept
    assert _index_rows(out) == PROJECT_IMAGES


def test_no_session_given_to_a_server_wanting_one_says_how_to_give_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """No key for a server answering "Not logged in": one error line, a hint naming
    ?bsession= and the sessionid cookie (not "check that it is public"), exit 2, no folder."""
    emu = make_emulator(preset="demo", prefix="/omero", session_key=KEY)
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/omero/", "--project", str(DEMO_PROJECT),
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: HTTP 403 Forbidden: Not logged in: ")
    assert lines[1].startswith(f"hint: {emu.base_url}/omero/ wants a login")
    assert "?bsession=KEY" in lines[1] and '[cookies] sessionid = "KEY"' in lines[1]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_a_missing_image_on_a_private_server_is_not_taken_for_an_ended_session(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """An id the server does not have, asked with a live session: OMERO.web answers a
    logged-in user's imgData 404 (not the public user's 403), so the run says "not found"
    and points at forget --gone-ids-from, with no "session has ended" note; exit 1."""
    emu = make_emulator(preset="demo", session_key=KEY)
    listed = tmp_path / "ids.txt"
    listed.write_text("1884801\n999999999\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession={KEY}", "--ids-from", str(listed),
        "--artifacts", "thumbnail,imgdata", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "failed: imgdata of image 999999999: HTTP 404 Not Found" in proc.stderr
    assert "--gone-ids-from" in proc.stderr
    assert "session this run sent has ended" not in proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    assert _index_rows(out) == 1 and len(_thumbnails(out)) == 1

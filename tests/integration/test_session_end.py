"""A private OMERO.web session that ends mid-run: the harvest notices it after a few
refusals (confirmed by the JSON API's "Not logged in"), stops asking, keeps what it did,
says how to log in again and resume (exit 2), and a resume with a new key completes the
folder as an uninterrupted harvest would have. Runs that sent no session (public, or a
user:password URL) keep their 403s as failures, as before."""

from __future__ import annotations

import csv
import json
import shlex
from collections.abc import Callable
from pathlib import Path

from harvest_helpers import DEMO_SCREEN, run_cli

from harvester.config import DEFAULT_WALK_CONCURRENCY
from harvester.emulator import EmulatorThread
from harvester.emulator.app import App, build_site
from harvester.emulator.http import Request, Response
from harvester.emulator.routes_common import text_response
from harvester.session import CHECK_AFTER

KINDS = "thumbnail,metadata"

#: The most refusals a walk alone is answered once its session ended (not one per listing
#: left: 570 in the bigproject's project): the 3 that start the check (CHECK_AFTER), one
#: more for each other listing in flight (they wait for its verdict: DEFAULT_WALK_CONCURRENCY
#: at once, 4), and the check itself (a 403 "Not logged in", a 401 of api/). It depended on
#: how long the check took before the listings refused meanwhile waited (13 was seen).
MOST_REFUSED_IN_A_WALK = CHECK_AFTER + (DEFAULT_WALK_CONCURRENCY - 1) + 1

#: The image workers of a run at ``--concurrency 2`` (the pipeline runs twice as many
#: workers as requests at once, at least 2): each is one task that sends requests.
WORKERS = 2 * 2


def most_refused(tasks: int) -> int:
    """The most refusals a run of ``tasks`` tasks that send requests is answered once what
    it sent stopped working: the CHECK_AFTER that start the check, one more for each other
    task (refused while the check is asked, it waits for the verdict, which stops the run
    before it sends another: harvester.session), and the check itself. Counted by the run's
    tasks, not seen counts: how many of them get a refusal in depends on the scheduling,
    never more than one each."""
    return CHECK_AFTER + (tasks - 1) + 1


def _site(emu: EmulatorThread, key: str | None, expires_after: int | None = None) -> None:
    """Log the emulator's one session in as ``key`` (None: a public server), ending it
    after ``expires_after`` answers (None: never)."""
    app = emu.app
    assert isinstance(app, App)
    app.site.session_key, app.site.session_expires_after = key, expires_after
    app.site.session_uses = 0


def _files(out: Path) -> dict[str, bytes]:
    """Every artifact and study file of ``out`` by relative path, with its bytes, and
    index.csv's rows (sorted: rows come in the order images were recorded)."""
    found = {
        str(p.relative_to(out)): p.read_bytes()
        for top in ("images", "study")
        for p in (out / top).rglob("*")
        if p.is_file()
    }
    with (out / "index.csv").open(newline="", encoding="utf-8") as f:
        rows = sorted(json.dumps(row, sort_keys=True) for row in csv.DictReader(f))
    found["index.csv rows"] = "\n".join(rows).encode()
    return found


def _harvest(url: str, out: Path, *targets: str) -> tuple[int, str]:
    proc = run_cli(
        "harvest", "--base-url", url, *targets, "--artifacts", KINDS, "--out", str(out),
        "--rate", "none", "--concurrency", "2",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr


def _status(out: Path) -> dict[str, int]:
    report = json.loads(run_cli("status", str(out), "--json").stdout)
    return {key: int(report["totals"][key]) for key in ("done", "failed", "pending")}


def test_a_session_ending_mid_walk_stops_the_run_and_a_new_key_completes_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """The session ends midway through a screen: exit 2, one error line and a hint with the
    resume command (URL as its placeholder, no key); the files done stay, the rest is not
    done; that command with a new key gives the folder an uninterrupted harvest gives."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-0")
    reference = tmp_path / "reference"
    assert (
        _harvest(f"{emu.base_url}/?bsession=key-0", reference, "--screen", str(DEMO_SCREEN))[0] == 0
    )

    _site(emu, "key-1", expires_after=60)
    out = tmp_path / "out"
    code, err = _harvest(f"{emu.base_url}/?bsession=key-1", out, "--screen", str(DEMO_SCREEN))
    assert code == 2, err
    lines = err.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    assert "Not logged in" in error and "the rest is pending" in error
    assert lines[-1].startswith("hint: log in to OMERO.web again") and lines[-2] == error
    resume = lines[-1].partition("then resume: ")[2]
    command, _, note = resume.partition("  # ")
    assert "--base-url URL " in command and "key-1" not in err
    assert note == f"URL: {emu.base_url}/ with its user or session again"  # (as status says)
    kept = _files(out)
    assert 0 < len(kept) - 1 < len(_files(reference)) - 1
    assert _status(out)["done"] < _status(reference)["done"]
    status = run_cli("status", str(out)).stdout
    assert "the session its run sent had ended (HTTP 403 Forbidden: Not logged in)" in status
    assert "key-1" not in status

    _site(emu, "key-2")  # logged in again
    again = run_cli(*shlex.split(command.replace("URL", f"{emu.base_url}/?bsession=key-2"))[1:])
    assert again.returncode == 0, again.stderr
    assert _files(out) == _files(reference)
    assert _status(out) == _status(reference)


def test_a_sample_whose_walk_the_session_end_stopped_says_the_walk_failed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--sample 5, the session ending while the screen's plates are listed: the selection
    line says the walk failed and why (the session ended), not that it was interrupted."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-1", expires_after=20)  # (the walk of 10 plates asks more than that)
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-1", "--screen", str(DEMO_SCREEN),
        "--artifacts", "thumbnail", "--out", str(tmp_path / "out"), "--rate", "none",
        "--sample", "5",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "interrupted" not in proc.stdout, proc.stdout
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("nothing selected")]
    walked, _, why = line.removeprefix("nothing selected yet: the walk failed after ").partition(
        " walked images (sample 5, seed 0): "
    )
    assert walked.isdigit() and int(walked) < 80, line
    assert why == (
        "the session this run sent has ended (HTTP 403 Forbidden: Not logged in); a sample is"
        " drawn only when the walk has ended"
    ), line
    assert emu.stats()["by_route"].get("image:thumbnail") is None  # (no sample drawn)


def test_a_session_ending_stops_asking_within_a_few_refusals(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Images given by id (no walk to fail first): once the session has ended the run is
    refused a handful of times, not once per image and kind until the give-up rule (20
    in a row each), and every image it did not fetch is left to the resume."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-0")
    reference = tmp_path / "reference"
    assert (
        _harvest(f"{emu.base_url}/?bsession=key-0", reference, "--screen", str(DEMO_SCREEN))[0] == 0
    )

    _site(emu, "key-1", expires_after=20)
    emu.reset_stats()
    out = tmp_path / "out"
    ids = ["--ids-from", str(reference / "index.csv")]
    code, err = _harvest(f"{emu.base_url}/?bsession=key-1", out, *ids)
    assert code == 2, err
    refused = emu.stats()["by_status"].get("403", 0)
    # The workers, and the walk's one request of the ids' labels (answered before the
    # session ends, after 20 answers: the images wait for it). Not one per image and kind
    # left (2 * 80 at most), nor 20 in a row of each kind (the give-up rule).
    assert CHECK_AFTER < refused <= most_refused(WORKERS + 1), refused
    assert "stopped requesting" not in err
    report = json.loads(run_cli("status", str(out), "--json").stdout)
    assert report["totals"]["done"] < 2 * 80 // 4, report["totals"]
    assert [walk["finished"] for walk in report["walks"]] == [False]  # the resume reads on


def test_403s_of_a_public_run_stay_failures_and_it_goes_on(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run that sent no session, refused renders (403) by a server that blocks them:
    no session check is sent, every thumbnail comes, the renders fail as before, exit 1."""
    _refused_renders_go_on(tmp_path, make_emulator(preset="demo"), "", checks=0)


def test_403s_of_a_live_session_are_the_images_own(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run with a live session refused renders (403): the check finds the session
    alive, the run goes on as a public one does (exit 1, every thumbnail)."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-0")
    _refused_renders_go_on(tmp_path, emu, "?bsession=key-0", checks=None)


def _refused_renders_go_on(
    tmp_path: Path, emu: EmulatorThread, query: str, *, checks: int | None
) -> None:
    """imgData first (stored), then renders refused by a server blocking them (IDR in
    2026): the run goes on through its 403s, exit 1, no session error; ``checks``: JSON
    API image requests it may send (None: a few)."""
    out = tmp_path / "out"
    url = f"{emu.base_url}/{query}"
    assert _harvest(url, out, "--screen", str(DEMO_SCREEN))[0] == 0  # (thumbnails, metadata)
    imgdata = run_cli(
        "harvest", "--base-url", url, "--out", str(out), "--artifacts", "imgdata", "--rate", "none",
    )  # fmt: skip
    assert imgdata.returncode == 0, imgdata.stderr
    app = emu.app
    assert isinstance(app, App)
    app.site.migration_2026 = True  # renders: 403, empty
    emu.reset_stats()
    proc = run_cli(
        "harvest", "--base-url", url, "--out", str(out), "--artifacts", "imgdata,render",
        "--rate", "none", "--concurrency", "2",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "error:" not in proc.stderr and "Traceback" not in proc.stderr
    assert "stopped requesting render: 20 images in a row failed" in proc.stderr
    by_route = emu.stats()["by_route"]
    asked = sum(by_route.get("api_image", {}).values())
    assert asked == checks if checks is not None else 1 <= asked <= 5, by_route


def test_a_password_url_is_no_session_its_403s_are_the_images_own(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Through a user:password URL (a proxy's Basic auth, no session), every image refused
    (403): the run goes on through them all (exit 1) and neither it nor status says a
    session may have ended; they say the refusals come again (a password does not end).
    Their commands name the server alike, without the user."""
    emu = make_emulator(preset="demo", basic_auth="alice:pw")
    url = emu.base_url.replace("://", "://alice:pw@") + "/"
    listed = tmp_path / "listed"
    assert _harvest(url, listed, "--plate", "7375")[0] == 0
    _site(emu, "a-session-this-run-never-had")  # every image view now wants a session
    out = tmp_path / "out"
    code, err = _harvest(url, out, "--ids-from", str(listed / "index.csv"), "--no-labels")
    assert code == 1, err
    assert "error:" not in err and "has ended" not in err, err
    assert "note: the server refused every one of these (HTTP 4xx): an id" in err
    status = run_cli("status", str(out))
    assert "has ended" not in status.stdout, status.stdout
    assert "note: the server refused every one of these (HTTP 4xx): an id" in status.stdout
    # The run's command and status's name the server alike, with no part of the login.
    said = f"URL: {emu.base_url}/ with its user or session again"
    assert err.splitlines()[-1].endswith(f"  # {said}"), err
    assert status.stdout.splitlines()[-1].endswith(f"; {said}"), status.stdout
    assert "alice" not in err.splitlines()[-1] + status.stdout.splitlines()[-1]


def _token(emu: EmulatorThread, token: str, expires_after: int | None = None) -> str:
    """Make the emulator's proxy take ``token`` (as the user, Basic ``TOKEN:``), refusing
    it after ``expires_after`` answers (None: never); the base URL that sends it."""
    app = emu.app
    assert isinstance(app, App)
    app.site.basic_auth, app.site.basic_auth_expires_after = f"{token}:", expires_after
    return emu.base_url.replace("://", f"://{token}@") + "/"


def test_a_token_expiring_mid_run_stops_it_and_a_new_token_completes_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A proxy's token that expires mid-run (401 to everything): the run stops after a few
    refusals and one check of api/, exit 2, an error naming the credentials and a hint to
    renew the token (no login, no session key) with the resume command; the files done
    stay, status says why; the command with a new token completes the folder."""
    emu = make_emulator(preset="demo", basic_auth="tok-0:")
    reference = tmp_path / "reference"
    assert _harvest(_token(emu, "tok-0"), reference, "--screen", str(DEMO_SCREEN))[0] == 0

    url = _token(emu, "tok-1", expires_after=60)
    emu.reset_stats()
    out = tmp_path / "out"
    code, err = _harvest(url, out, "--screen", str(DEMO_SCREEN))
    assert code == 2, err
    refused = emu.stats()["by_status"].get("401", 0)
    # The plates walked at once and the workers (the token may expire during the walk):
    # not one per listing, image and kind left.
    tasks = DEFAULT_WALK_CONCURRENCY + WORKERS
    assert CHECK_AFTER < refused <= most_refused(tasks), refused
    lines = err.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith(
        "error: the server no longer takes the credentials this run sent (api/ answered HTTP 401"
    ), error
    assert "the rest is pending" in error and lines[-2] == error
    assert lines[-1].startswith("hint: renew the token or password this run sent"), lines[-1]
    advice = lines[-1].partition("then resume: ")[0]
    assert "session" not in advice and "log in" not in advice, advice
    command, _, note = lines[-1].partition("then resume: ")[2].partition("  # ")
    assert "--base-url URL " in command and "tok-1" not in err
    assert note == f"URL: {emu.base_url}/ with its user or session again"
    assert 0 < len(_files(out)) - 1 < len(_files(reference)) - 1
    status = run_cli("status", str(out)).stdout
    said = "stopped, the server no longer took the credentials its run sent (api/ answered HTTP 401"
    assert said in status and "renew the token or password" in status, status
    assert "tok-1" not in status and "session its run sent" not in status

    again = run_cli(*shlex.split(command.replace("URL", _token(emu, "tok-2")))[1:])
    assert again.returncode == 0, again.stderr
    assert _files(out) == _files(reference)
    assert _status(out) == _status(reference)


def test_a_session_ending_while_the_run_only_walks_stops_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder whose files are all done: the run only walks a project of 600 datasets
    again (listings, no file), and its session ends: it stops after a few refused listings
    (exit 2, the session error), not one failed listing per dataset left; status says the
    walk stopped for it, and a new key finishes the walk (exit 0, no file fetched again)."""
    emu = make_emulator(preset="bigproject")
    _site(emu, "key-0")
    out = tmp_path / "out"

    def walk(key: str) -> tuple[int, str]:
        proc = run_cli(
            "harvest", "--base-url", f"{emu.base_url}/?bsession={key}", "--project", "1701",
            "--artifacts", "metadata", "--out", str(out), "--rate", "none",
        )  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, proc.stderr

    assert walk("key-0")[0] == 0
    done = _files(out)

    _site(emu, "key-1", expires_after=30)  # ends after the project's list, among datasets
    emu.reset_stats()
    code, err = walk("key-1")
    assert code == 2, err[-2000:]
    stats = emu.stats()
    assert stats["by_route"].get("api_image") is None, stats  # no file asked: a walk alone
    refused = stats["by_status"].get("403", 0)
    assert CHECK_AFTER < refused <= MOST_REFUSED_IN_A_WALK, refused  # not one per dataset left
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    status = run_cli("status", str(out)).stdout
    said = "stopped, the session its run sent had ended (HTTP 403 Forbidden: Not logged in)"
    assert said in status, status

    _site(emu, "key-2")
    emu.reset_stats()
    code, err = walk("key-2")
    assert code == 0, err
    assert emu.stats()["by_route"].get("api_image") is None
    assert _files(out) == done
    assert "has not finished" not in run_cli("status", str(out)).stdout


def test_a_session_ending_at_concurrency_one_is_judged_without_waiting_out_the_bound(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--concurrency 1, the session ending while the screen's plates are walked and its
    first images fetched: the workers refused while the check is asked wait for it without
    holding the one request slot it needs, so it is answered (no worker goes on without
    its verdict), and the run stops (exit 2) after one refusal per other task at most."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-1", expires_after=20)
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-1", "--screen", str(DEMO_SCREEN),
        "--artifacts", KINDS, "--out", str(tmp_path / "out"), "--rate", "none",
        "--concurrency", "1", "--debug",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "without its verdict" not in proc.stderr, proc.stderr[-3000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    # The 3 that start the check, one more for each other task that asks (the plates
    # walked at once and the run's 2 workers at --concurrency 1), and the check.
    tasks = DEFAULT_WALK_CONCURRENCY + 2
    refused = emu.stats()["by_status"].get("403", 0)
    assert CHECK_AFTER < refused <= CHECK_AFTER + (tasks - 1) + 1, refused


class _WebgatewayAsksAuth(App):
    """A front end asking for HTTP auth of its own under ``/webgateway/`` only (401, whatever
    was sent), in front of the demo OMERO.web: the rest answers as usual."""

    def _handle(self, req: Request) -> Response:
        if req.path.startswith("/webgateway/"):
            resp = text_response(401, "401 Authorization Required")
            resp.headers.append(("WWW-Authenticate", 'Basic realm="webgateway"'))
            resp.route = "unauthorized"
            return resp
        return super()._handle(req)


def _webgateway_401s(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], token: str | None
) -> tuple[str, int]:
    """A screen's thumbnails and metadata where every thumbnail is answered 401: the run
    goes on (exit 1), every metadata file comes, the thumbnails fail with the credentials
    hint until the give-up rule, and no error says the credentials stopped working. Its
    stderr, and how many times it asked the API root (the server check, and any checks)."""
    emu = make_emulator(
        app=_WebgatewayAsksAuth(build_site("demo", basic_auth=token and f"{token}:"))
    )
    url = emu.base_url + "/" if token is None else _token(emu, token)
    code, err = _harvest(url, tmp_path / "out", "--screen", str(DEMO_SCREEN))
    assert code == 1, err
    assert "error:" not in err and "no longer takes" not in err, err
    assert "hint: the server asked for credentials (HTTP 401)" in err, err
    assert "stopped requesting thumbnail: 20 images in a row failed" in err, err
    assert _status(tmp_path / "out")["done"] == 80, err  # every metadata file
    return err, sum(emu.stats()["by_route"].get("api_versions", {}).values())


def test_401s_of_a_public_run_stay_failures_and_no_check_is_sent(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A public run (no credentials) answered 401 under /webgateway/ only: failures as
    before (exit 1), and the API root is asked once, by the server check, never again."""
    _, asked = _webgateway_401s(tmp_path, make_emulator, None)
    assert asked == 1


def test_401s_of_one_path_are_not_taken_for_expired_credentials(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run with a token, answered 401 under /webgateway/ only (a front end wanting other
    credentials there): the check finds api/ still open with the token, so the run goes
    on through its thumbnails' 401s (exit 1) with a few checks, not stopped."""
    _, asked = _webgateway_401s(tmp_path, make_emulator, "tok-0")
    assert 2 <= asked <= 6, asked


class _PrivateFolders(App):
    """The demo OMERO.web behind one session, whose user may not see the thumbnails of
    ``private`` images (403, as webgateway answers them; the JSON API still shows them),
    and whose session ends as the thumbnail of ``end_at`` is asked for."""

    def __init__(self, private: set[int], end_at: int) -> None:
        super().__init__(build_site("demo", session_key="key-1"))
        self.private, self.end_at = private, end_at

    def _handle(self, req: Request) -> Response:
        if req.path.startswith("/webgateway/render_thumbnail/"):
            image_id = int(req.path.split("/")[3])
            if image_id == self.end_at:
                self.site.session_key = "key-of-another-login"  # this run's session ended
            elif image_id in self.private and self.site.session_key == "key-1":
                resp = text_response(403, "")
                resp.route = "private"
                return resp
        return super()._handle(req)


def test_a_session_ending_late_in_a_long_run_with_private_folders_is_noticed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Two folders of 19 private images each, then the session ends: the checks that found
    the session alive (four, each doubling the wait) do not push the next one past the
    give-up rule's 20 in a row: the run stops with the session error (exit 2), not with
    thumbnails given up (exit 1) and the images left counted failed."""
    ids = sorted(build_site("demo").catalogue.iter_image_ids())[:80]
    private = {*ids[0:19], *ids[20:39]}  # ids[19] and ids[39] public: each ends a folder
    emu = make_emulator(app=_PrivateFolders(private, end_at=ids[40]))
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-1", "--ids-from", str(listed),
        "--artifacts", "thumbnail", "--no-labels", "--out", str(out), "--rate", "none",
        "--concurrency", "1",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "stopped requesting" not in proc.stderr, proc.stderr[-3000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    totals = _status(out)  # (the images after those refused: not listed yet, left to the resume)
    assert totals["done"] == 2 and 38 < totals["failed"] <= 38 + 10, totals


def test_a_resume_of_several_target_sets_stops_at_the_first_session_end(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder of two target sets, both stopped by an ended session; its resume, whose
    new session ends too during the first set replayed: it stops there (exit 2), with one
    error, one hint and one resume command, and replays no other set (each refused in turn
    before); that command with a live session completes both sets."""
    emu = make_emulator(preset="demo")
    _site(emu, "key-0")
    reference = tmp_path / "reference"
    url = f"{emu.base_url}/?bsession="
    for target in (["--screen", str(DEMO_SCREEN)], ["--project", "51"]):
        assert _harvest(url + "key-0", reference, *target)[0] == 0
    out = tmp_path / "out"
    for key, target in (("key-1", ["--screen", str(DEMO_SCREEN)]), ("key-2", ["--project", "51"])):
        _site(emu, key, expires_after=12)
        code, err = _harvest(url + key, out, *target)
        assert code == 2, err

    _site(emu, "key-3", expires_after=12)
    emu.reset_stats()
    proc = run_cli(
        "harvest", "--out", str(out), "--base-url", url + "key-3", "--rate", "none",
        "--concurrency", "2",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    (hint,) = [line for line in lines if line.startswith("hint: ")]
    assert hint == lines[-1] and lines[-2] == error, proc.stderr
    command, _, note = hint.partition("then resume: ")[2].partition("  # ")
    assert "key-3" not in proc.stderr and "--base-url URL" in command, proc.stderr
    stats = emu.stats()
    refused = stats["by_status"].get("403", 0)
    assert CHECK_AFTER < refused <= most_refused(DEFAULT_WALK_CONCURRENCY + WORKERS), refused
    # One set replayed, not the next one too: each replay checks the server first (its API
    # root, which answers whatever the session), the second one then refused its target.
    assert stats["by_route"]["api_versions"] == {"200": 1}, stats["by_route"]

    _site(emu, "key-4")
    again = run_cli(*shlex.split(command.replace("URL", f"{url}key-4"))[1:])
    assert again.returncode == 0, again.stderr
    assert _files(out) == _files(reference)


def _walk_only(emu: EmulatorThread, url: str, out: Path, *command: str) -> tuple[int, str]:
    """``command`` (``plan``, or ``harvest --dry-run``) of the bigproject's project of 600
    datasets through ``url``, into ``out``: its exit code and stderr."""
    proc = run_cli(
        *command, "--base-url", url, "--project", "1701", "--artifacts", "metadata",
        "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr


def test_a_plan_whose_session_ends_stops_and_writes_no_plan(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester plan` of a project of 600 datasets whose session ends midway: it stops
    after a few refused listings (exit 2) with the harvest's error and hint (plan again),
    not one failed listing per dataset left, and writes no plan."""
    emu = make_emulator(preset="bigproject")
    _site(emu, "key-1", expires_after=30)
    out = tmp_path / "out"
    code, err = _walk_only(emu, f"{emu.base_url}/?bsession=key-1", out, "plan")
    assert code == 2, err[-2000:]
    refused = emu.stats()["by_status"].get("403", 0)
    assert CHECK_AFTER < refused <= MOST_REFUSED_IN_A_WALK, refused  # not one per dataset left
    lines = err.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    assert error.endswith("no plan was written") and lines[-2] == error, err[-2000:]
    assert lines[-1].startswith("hint: log in to OMERO.web again"), lines[-1]
    assert lines[-1].endswith("then run `harvester plan` again (with --force if a plan exists)")
    assert "key-1" not in err
    assert not (out / "plan").exists()


def test_a_dry_run_whose_token_expires_stops_with_the_credentials_error(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A dry run of a project of 600 datasets whose proxy token expires midway: it stops
    after a few refused listings (exit 2) with the credentials error, its counts said short,
    and a hint to renew the token and run it again (the command, without the token)."""
    emu = make_emulator(preset="bigproject", basic_auth="tok-0:")
    url = _token(emu, "tok-1", expires_after=30)
    emu.reset_stats()
    code, err = _walk_only(emu, url, tmp_path / "out", "harvest", "--dry-run")
    assert code == 2, err[-2000:]
    refused = emu.stats()["by_status"].get("401", 0)
    assert CHECK_AFTER < refused <= MOST_REFUSED_IN_A_WALK, refused  # not one per dataset left
    lines = err.splitlines()
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith(
        "error: the server no longer takes the credentials this run sent (api/ answered HTTP 401"
    ), error
    assert error.endswith("the counts are short") and lines[-2] == error, err[-2000:]
    hint, _, command = lines[-1].partition(", then run it again: ")
    assert hint.startswith("hint: renew the token or password this run sent"), lines[-1]
    assert command.startswith("harvester harvest --dry-run --base-url URL --project 1701 ")
    assert "tok-1" not in err

"""A session (or a proxy's token) that had ended before the run began: the lookups made
before the walk and the fetch (the targets' check, `--image` ids, screen names) say so
with the same error and hint as a session ending mid-run (exit 2), not "the server
refused screen N"; a public run asks nothing more than before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from harvest_helpers import DEMO_SCREEN, run_cli

from harvester import urls
from harvester.client import Client, ClientSettings
from harvester.emulator import EmulatorThread
from harvester.emulator.app import App, build_site
from harvester.emulator.http import Request, Response
from harvester.emulator.routes_common import text_response
from harvester.session import CHECK_AFTER, SESSION_ENDED, SessionWatch

SESSION_ERROR = (
    "error: the session this run sent has ended (HTTP 403 Forbidden: Not logged in): "
    "stopped asking for more; "
)
SESSION_HINT = "hint: log in to OMERO.web again and give the new session key"


def _login(emu: EmulatorThread, key: str | None) -> None:
    """The emulator's one session is ``key`` now (None: a public server)."""
    app = emu.app
    assert isinstance(app, App)
    app.site.session_key, app.site.session_expires_after = key, None


def _run(*argv: str) -> tuple[int, list[str]]:
    """The command's exit code and stderr lines (never a traceback)."""
    proc = run_cli(*argv)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr.splitlines()


def _ended_lines(lines: list[str]) -> tuple[str, str]:
    """The one error line and the hint after it, last in the output."""
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert lines[-2] == error, lines
    return error, lines[-1]


@pytest.mark.parametrize(
    ("targets", "lookups"),
    [
        (["--screen", str(DEMO_SCREEN)], 1),
        (["--plate", "7375", "--project", "51"], 2),
        (["--screen", "idr0056"], 1),  # a name: the screens' listing is the first lookup
    ],
    ids=["screen", "plate-and-project", "screen-name"],
)
def test_a_session_ended_before_the_run_is_said_by_its_first_lookup(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], targets: list[str], lookups: int
) -> None:
    """The targets' check (or the names' listing) refused "Not logged in": the session
    error and its hint with the command to run again (no key in it), exit 2, no folder
    made, and no request more than the server check and the refused lookups (their
    answer is the check's)."""
    emu = make_emulator(preset="demo")
    _login(emu, "key-new")
    out = tmp_path / "out"
    emu.reset_stats()
    code, lines = _run(
        "harvest", "--base-url", f"{emu.base_url}/?bsession=key-old", *targets,
        "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2, lines
    error, hint = _ended_lines(lines)
    assert error == SESSION_ERROR + "nothing harvested yet", error
    assert hint.startswith(SESSION_HINT), hint
    command = hint.partition(", then run it again: ")[2]
    assert command.startswith("harvester harvest --base-url URL "), hint
    assert "key-old" not in "\n".join(lines)
    assert not out.exists()
    stats = emu.stats()
    assert stats["by_status"].get("403", 0) == lookups and stats["requests"] == 1 + lookups, stats


def test_an_image_of_a_folder_checked_with_an_ended_session_stops_the_run(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`--image` ids not done yet in an existing folder are checked once the folder is
    open: an ended session there stops the run with the session error and the resume
    command, exit 2, and the folder's files stay done."""
    emu = make_emulator(preset="demo")
    _login(emu, "key-1")
    first, second = sorted(build_site("demo").catalogue.iter_image_ids())[:2]
    out = tmp_path / "out"
    url = f"{emu.base_url}/?bsession="
    assert _run("harvest", "--base-url", url + "key-1", "--image", str(first),
                "--artifacts", "metadata", "--out", str(out), "--rate", "none")[0] == 0  # fmt: skip
    _login(emu, "key-2")
    code, lines = _run(
        "harvest", "--base-url", url + "key-1", "--image", str(first), "--image", str(second),
        "--artifacts", "metadata", "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2, lines
    error, hint = _ended_lines(lines)
    assert error.startswith(SESSION_ERROR + "every finished file is kept"), error
    assert hint.startswith(SESSION_HINT) and ", then resume: harvester harvest" in hint, hint
    assert len(list((out / "images").rglob("*.json"))) == 1


@pytest.mark.parametrize("command", [["plan"], ["harvest", "--dry-run"]], ids=["plan", "dry-run"])
def test_a_walk_only_command_whose_session_ended_before_says_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], command: list[str]
) -> None:
    """`harvester plan` and a dry run, refused at the targets' check: the session error
    each says mid-walk (no plan written; the counts are short), exit 2."""
    emu = make_emulator(preset="demo")
    _login(emu, "key-new")
    out = tmp_path / "out"
    code, lines = _run(
        *command, "--base-url", f"{emu.base_url}/?bsession=key-old",
        "--screen", str(DEMO_SCREEN), "--out", str(out), "--rate", "none",
    )  # fmt: skip
    assert code == 2, lines
    error, hint = _ended_lines(lines)
    end = "no plan was written" if command == ["plan"] else "the counts are short"
    assert error == SESSION_ERROR + end, error
    assert hint.startswith(SESSION_HINT), hint
    assert not (out / "plan").exists()


def test_a_token_expired_before_the_targets_check_is_said_so(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A proxy's token that answered the server check and expired right after: the
    targets' check (401) and one ask of api/ (401 too) give the credentials error and
    its hint (renew the token), exit 2, no folder made."""
    emu = make_emulator(preset="demo", basic_auth="tok-1:", basic_auth_expires_after=1)
    url = emu.base_url.replace("://", "://tok-1@") + "/"
    out = tmp_path / "out"
    code, lines = _run("harvest", "--base-url", url, "--screen", str(DEMO_SCREEN),
                       "--out", str(out), "--rate", "none")  # fmt: skip
    assert code == 2, lines
    error, hint = _ended_lines(lines)
    assert error == (
        "error: the server no longer takes the credentials this run sent (api/ answered "
        "HTTP 401 Unauthorized): stopped asking for more; nothing harvested yet"
    ), error
    assert hint.startswith("hint: renew the token or password this run sent"), hint
    assert "tok-1" not in "\n".join(lines) and not out.exists()
    assert emu.stats()["by_status"].get("401", 0) == 2  # the check, and api/ asked once


def test_a_public_run_refused_at_its_check_asks_nothing_more(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A run that sent no session, to a server wanting one: the server check and the
    refused target's check, no request more, and the hint to give a session key."""
    emu = make_emulator(preset="demo")
    _login(emu, "key-1")
    emu.reset_stats()
    code, lines = _run("harvest", "--base-url", emu.base_url, "--screen", str(DEMO_SCREEN),
                       "--out", str(tmp_path / "out"), "--rate", "none")  # fmt: skip
    assert code == 2, lines
    assert "has ended" not in "\n".join(lines), lines
    assert lines[-1].startswith("hint: ") and "wants a login" in lines[-1], lines
    stats = emu.stats()
    assert stats["requests"] == 2 and stats["by_status"].get("403", 0) == 1, stats


class _PrivateThenExpired(App):
    """The demo OMERO.web behind a proxy's token and one session: the session's user may
    not see the thumbnails of ``private`` images (403; the JSON API still shows them), and
    the token expires as the thumbnail of ``expire_at`` is asked for (401 from then on)."""

    def __init__(self, private: set[int], expire_at: int) -> None:
        super().__init__(build_site("demo", session_key="key-1", basic_auth="tok-1:"))
        self.private, self.expire_at = private, expire_at

    def _handle(self, req: Request) -> Response:
        if req.path.startswith("/webgateway/render_thumbnail/"):
            image_id = int(req.path.split("/")[3])
            if image_id == self.expire_at:
                self.site.basic_auth = "tok-of-another-login:"  # this run's token expired
            elif image_id in self.private and self.site.basic_auth == "tok-1:":
                resp = text_response(403, "")
                resp.route = "private"
                return resp
        return super()._handle(req)


def test_403s_of_private_images_do_not_delay_the_check_of_an_expired_token(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """19 private images (403) whose checks found the session alive, each doubling the
    wait of the 403s; then the token expires: the 401s are checked after 3 in a row, as
    any run's first, not after the 10 the 403s came to wait for (exit 2, credentials)."""
    ids = sorted(build_site("demo").catalogue.iter_image_ids())[:40]
    emu = make_emulator(app=_PrivateThenExpired(set(ids[:19]), expire_at=ids[19]))
    listed = tmp_path / "ids.txt"
    listed.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    url = emu.base_url.replace("://", "://tok-1@") + "/?bsession=key-1"
    code, lines = _run(
        "harvest", "--base-url", url, "--ids-from", str(listed), "--artifacts", "thumbnail",
        "--no-labels", "--out", str(tmp_path / "out"), "--rate", "none", "--concurrency", "1",
    )  # fmt: skip
    assert code == 2, lines[-20:]
    error, _ = _ended_lines(lines)
    assert error.startswith("error: the server no longer takes the credentials"), error
    stats = emu.stats()
    assert stats["by_route"]["private"] == {"403": 19}, stats
    refused = stats["by_status"].get("401", 0)  # the run's refusals, then api/ asked once
    assert 3 + 1 <= refused <= 3 + 1 + 2, stats


@pytest.mark.parametrize("kind", ["session", "token"])
def test_status_says_what_to_do_in_the_words_of_the_runs_hint(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], kind: str
) -> None:
    """A walk stopped because the session ended (or the token expired): `status` says
    what to do in the very words of the run's hint (where to give the new key or token),
    then "resume", not a shorter wording of its own."""
    if kind == "session":
        emu = make_emulator(preset="demo", session_key="key-1", session_expires_after=40)
        url = f"{emu.base_url}/?bsession=key-1"
    else:
        emu = make_emulator(preset="demo", basic_auth="tok-1:", basic_auth_expires_after=40)
        url = emu.base_url.replace("://", "://tok-1@") + "/"
    out = tmp_path / "out"
    code, lines = _run("harvest", "--base-url", url, "--screen", str(DEMO_SCREEN),
                       "--artifacts", "metadata", "--out", str(out), "--rate", "none")  # fmt: skip
    assert code == 2, lines
    _, hint = _ended_lines(lines)
    todo = hint.removeprefix("hint: ").partition(", then resume: ")[0]
    assert todo.startswith(("log in to OMERO.web again", "renew the token")), hint
    status = run_cli("status", str(out)).stdout
    (walk,) = [line for line in status.splitlines() if "has not finished: stopped, " in line]
    assert f"): {todo}, then resume; the images it had not journaled" in walk, walk


def _walk_only(emu: EmulatorThread, url: str, out: Path, *command: str) -> tuple[int, list[str]]:
    """``command`` (``plan``, or ``harvest --dry-run``) of the bigproject's project of 600
    datasets through ``url``, into ``out``."""
    return _run(
        *command, "--base-url", url, "--project", "1701", "--artifacts", "metadata",
        "--out", str(out), "--rate", "none",
    )  # fmt: skip


@pytest.mark.parametrize("command", [["plan"], ["harvest", "--dry-run"]], ids=["plan", "dry-run"])
def test_a_walk_stopped_by_an_ended_session_lists_no_refused_listing(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], command: list[str]
) -> None:
    """The session ends among 600 datasets: the run's one error says so, without a line
    for each listing refused meanwhile (about six, each `walk of dataset N failed` or
    `walk failed: dataset N`, before the check answered)."""
    emu = make_emulator(preset="bigproject", session_key="key-1", session_expires_after=30)
    code, lines = _walk_only(emu, f"{emu.base_url}/?bsession=key-1", tmp_path / "out", *command)
    assert code == 2, lines[-20:]
    error, _ = _ended_lines(lines)
    assert error.startswith("error: the session this run sent has ended (HTTP 403"), error
    assert emu.stats()["by_status"].get("403", 0) >= 3  # refused listings there were
    assert not [line for line in lines if "dataset" in line and "failed" in line], lines


class _PrivatePlates(App):
    """The demo OMERO.web behind one live session, whose front end refuses (403) the
    wells of every plate to its user."""

    def __init__(self) -> None:
        super().__init__(build_site("demo", session_key="key-1"))

    def _handle(self, req: Request) -> Response:
        if req.path.startswith("/api/v0/m/plates/") and "/wells/" in req.path:
            resp = text_response(403, "")
            resp.route = "private"
            return resp
        return super()._handle(req)


@pytest.mark.parametrize("command", [["plan"], ["harvest", "--dry-run"]], ids=["plan", "dry-run"])
def test_listings_refused_under_a_live_session_are_still_each_said(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], command: list[str]
) -> None:
    """Every plate of a screen refused (403) while the session lives: the checks find it
    alive, and each refused listing is said (a warning, or the dry run's `walk failed:`
    line), none taken for an ended session."""
    emu = make_emulator(app=_PrivatePlates())
    code, lines = _run(
        *command, "--base-url", f"{emu.base_url}/?bsession=key-1", "--screen", str(DEMO_SCREEN),
        "--artifacts", "metadata", "--out", str(tmp_path / "out"), "--rate", "none",
    )  # fmt: skip
    refused = emu.stats()["by_route"]["private"]["403"]
    assert refused >= 3, emu.stats()  # enough for a check of the session
    assert "has ended" not in "\n".join(lines), lines
    said = [line for line in lines if line.startswith(("WARNING", "walk failed: plate"))]
    assert len(said) == refused and all("403" in line for line in said), lines
    # The walk failed: a plan writes none (2); a dry run counts the failed listings (1).
    assert code == (2 if command == ["plan"] else 1), (code, lines)


def test_slurm_refuses_a_config_whose_session_has_ended(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm` checking the targets with a config file's session that has
    ended: refused (exit 2) with the session error and hint, not "the server refused
    screen N", and no script written."""
    emu = make_emulator(preset="demo")
    _login(emu, "key-new")
    config = tmp_path / "private.toml"
    config.write_text(f'base_url = "{emu.base_url}/?bsession=key-old"\n', encoding="utf-8")
    config.chmod(0o600)
    out = tmp_path / "out"
    code, lines = _run("slurm", str(config), "--out", str(out), "--screen", str(DEMO_SCREEN),
                       "--tasks", "2")  # fmt: skip
    assert code == 2, lines
    error, hint = _ended_lines(lines)
    assert error.startswith(SESSION_ERROR.rstrip("; ")), error
    assert hint.startswith(SESSION_HINT), hint
    assert "key-old" not in "\n".join(lines)
    assert not (out / "harvest.sbatch").exists()


class _PrivateDatasetsThenEnded(App):
    """600 datasets behind session ``key-1``, whose front end refuses (403) their images
    to its user until the watch's first check is answered (the session alive): the
    session ends then, and every request after is "Not logged in"."""

    def __init__(self) -> None:
        super().__init__(build_site("bigproject", session_key="key-1"))

    def _handle(self, req: Request) -> Response:
        if self.site.session_key != "key-1":
            return super()._handle(req)
        if req.path == "/webclient/api/images/":
            resp = text_response(403, "")
            resp.route = "private"
            return resp
        resp = super()._handle(req)
        if req.path == "/api/v0/m/screens/":  # the watch's check (the walk lists no screens)
            self.site.session_key = "key-2"
        return resp


@pytest.mark.parametrize("command", [["plan"], ["harvest", "--dry-run"]], ids=["plan", "dry-run"])
def test_the_refusal_whose_check_found_the_session_alive_is_said(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], command: list[str]
) -> None:
    """Private listings refused (403) until a check finds the session alive, then the
    session ends and stops the run: each private refusal is said, the one whose check
    found the session alive too (it was held with the refusals that ended the run)."""
    emu = make_emulator(app=_PrivateDatasetsThenEnded())
    code, lines = _walk_only(emu, f"{emu.base_url}/?bsession=key-1", tmp_path / "out", *command)
    assert code == 2, lines[-20:]
    error, _ = _ended_lines(lines)
    assert error.startswith(SESSION_ERROR.rstrip("; ")), error
    refused = emu.stats()["by_route"]["private"]["403"]
    assert refused >= 3, emu.stats()  # enough for the check that found the session alive
    said = [line for line in lines if "dataset" in line and "failed" in line]
    assert len(said) == refused and all("403" in line for line in said), lines


async def test_an_answer_during_the_check_that_ends_the_run_leaves_its_refusals_the_end(
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Refusals start a check that finds the session ended while another worker's answer
    comes in: the run stops, and those refusals are the session's end (their held
    listings not said as failures of their own), not taken for private folders."""
    # The check is the one request here: answered late, it is in flight for a while.
    emu = make_emulator(preset="demo", session_key="key-1", faults="latency:400ms")
    _login(emu, "key-2")  # the session this client sends has ended
    settings = ClientSettings(f"{emu.base_url}/?bsession=key-1", rate=None, max_retries=0)
    stopped: list[int] = []
    async with Client(settings) as client:
        watch = SessionWatch(client, lambda status, _reason: stopped.append(status))
        streak = watch.streak(SESSION_ENDED)
        for _ in range(CHECK_AFTER - 1):
            await watch.failed(SESSION_ENDED, urls.screens(0, 1))
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch.failed, SESSION_ENDED, urls.screens(0, 1))
                await anyio.sleep(0.1)  # (the check is on the wire)
                watch.answered()  # a listing sent before the end, answered now
    assert emu.stats()["requests"] == 1  # that check, answered after the answer
    assert stopped == [SESSION_ENDED]
    assert watch.verdict(SESSION_ENDED, streak) is True

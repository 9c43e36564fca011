"""HTTP Basic auth from ``--base-url USER:PASSWORD@HOST``: sent, to that server only, never
written; a 401 is one clear error line."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from reliability_helpers import (
    DEMO_PROJECT,
    assert_no_file_holds,
    cli,
    harvest_with_debug_and_faults,
)

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread, build_application
from harvester.emulator.http import Request, Response
from harvester.errors import PermanentError, RedirectRefused
from harvester.fetch import HINT_CREDENTIALS

USER = "al ice"
PASSWORD = "BASIC@SECRET/6:x"  # '@', '/' and ':' must be percent-encoded in the URL
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
#: Every spelling of the password a leak could take: typed, percent-encoded, as the token.
LEAKS = ("SECRET", quote(PASSWORD, safe=""), TOKEN)


def _with_credentials(base_url: str, user: str = USER, password: str = PASSWORD) -> str:
    """``base_url`` with ``user:password@`` in it, each percent-encoded."""
    scheme, _, host = base_url.partition("://")
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}"


def test_basic_auth_sent_and_never_written(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest of a server behind Basic auth, given user:password@ in --base-url, with
    retried faults, permanent 404s and --debug: every image comes (the credentials were
    sent) and neither the password, in any spelling, nor the Basic token appears in
    stdout/stderr or any file of DIR (saved config, journals, index.csv, artifacts)."""
    emu = make_emulator(
        preset="demo",
        faults="503:8%,reset:4%,seed:3",
        migration_2026=True,
        basic_auth=f"{USER}:{PASSWORD}",
    )
    out = tmp_path / "out"
    proc = harvest_with_debug_and_faults(_with_credentials(emu.base_url), out)
    text = proc.stdout + proc.stderr
    for leak in LEAKS:
        assert leak not in text, (leak, [ln for ln in text.splitlines() if leak in ln][:3])
    assert_no_file_holds(out, LEAKS)


@pytest.mark.parametrize(
    ("password", "said", "hint"),
    [
        (None, "asks for credentials", "hint: missing credentials: give them in --base-url"),
        (
            "WRONGSECRET",
            "refused the credentials sent",
            "hint: check the user and password (or token) in the base URL for a typo",
        ),
    ],
)
def test_401_is_one_error_line_and_exit_2(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    password: str | None,
    said: str,
    hint: str,
) -> None:
    """Without credentials, or with a wrong password: `error: URL <said> (api/ answered
    HTTP 401 ...)` and a hint saying which, exit 2, no traceback, the password not shown;
    a refused one is said mistyped or expired (the 401 cannot tell), the hint says both."""
    emu = make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}")
    url = emu.base_url if password is None else _with_credentials(emu.base_url, password=password)
    proc = cli(
        "harvest", "--base-url", url, "--project", str(DEMO_PROJECT), "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2, proc.stderr
    shown = emu.base_url.replace("://", "://al%20ice:REDACTED@") if password else emu.base_url
    lines = proc.stderr.splitlines()
    causes = ": mistyped, or expired or changed since they were given" if password else ""
    assert [line for line in lines if line.startswith("error: ")] == [
        f"error: {shown}/ {said} (api/ answered HTTP 401 Unauthorized){causes}"
    ], proc.stderr
    assert any(line.startswith(hint) for line in lines), proc.stderr
    if password:
        (said_hint,) = [line for line in lines if line.startswith("hint: ")]
        assert said_hint.endswith(
            "if they are right as typed, they have expired or been changed: renew them and "
            "give the new ones there"
        ), said_hint
    assert "Traceback" not in proc.stderr
    assert "SECRET" not in proc.stdout + proc.stderr


class _RedirectElsewhere:
    """An application behind Basic auth that redirects every request to ``target``."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.authorizations: list[str | None] = []

    def handle(self, req: Request) -> Response:
        self.authorizations.append(req.headers.get("authorization"))
        return Response(302, b"", headers=[("Location", self.target + req.raw_path)])


async def test_credentials_never_follow_a_redirect_to_another_host(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any
) -> None:
    """A server redirecting to another host (redirects followed): the Basic token went to
    the server named in the URL, and the other host got no request at all."""
    elsewhere = make_emulator(app=fake_app)
    redirecting = _RedirectElsewhere(elsewhere.base_url)
    emu = make_emulator(app=redirecting)
    settings = ClientSettings(
        base_url=_with_credentials(emu.base_url), rate=None, follow_redirects=True
    )
    with anyio.fail_after(10):
        async with Client(settings) as client:
            with pytest.raises(RedirectRefused) as refused:
                await client.get("json/a/", Expect.JSON)
    assert isinstance(refused.value, PermanentError)
    assert redirecting.authorizations == [f"Basic {TOKEN}"]
    assert fake_app.calls == 0
    assert all(leak not in str(refused.value) for leak in LEAKS)


class _AuthUnder:
    """The demo site behind a proxy that asks for Basic auth under one path only (``api/``,
    the server check's, stays open): a 401 in the middle of a run, not at its start."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.site = build_application("demo")

    def handle(self, req: Request) -> Response:
        if (
            req.path.startswith(self.prefix)
            and req.headers.get("authorization") != f"Basic {TOKEN}"
        ):
            return Response(401, b"401 Authorization Required", headers=[
                ("WWW-Authenticate", 'Basic realm="OMERO.web"'), ("Content-Type", "text/plain"),
            ])  # fmt: skip
        return self.site.handle(req)


@pytest.mark.parametrize(
    ("prefix", "failed"),
    [
        ("/webgateway/", "failed: thumbnail of image"),  # every file refused
        ("/webclient/", "walk failed: project 51:"),  # a listing refused
    ],
)
def test_a_401_after_the_server_check_says_credentials_are_wanted(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], prefix: str, failed: str
) -> None:
    """A server asking for Basic auth under one path only, harvested without credentials:
    exit 1, the 401 failures listed, and the credentials hint, where nothing said why (the
    files' note blamed ids that do not exist or are not public)."""
    emu = make_emulator(app=_AuthUnder(prefix))
    proc = cli(
        "harvest", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT),
        "--artifacts", "thumbnail", "--out", str(tmp_path / "o"), "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(line.startswith(failed) and "HTTP 401" in line for line in lines), proc.stderr
    assert f"hint: {HINT_CREDENTIALS}" in lines, proc.stderr
    assert "does not exist or is not public" not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("in_url", [False, True])
def test_a_refused_authorization_header_is_named_in_the_hint(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], in_url: bool
) -> None:
    """An Authorization header of the config file refused (401), with or without a user and
    password in the URL (the header replaced them): the hint names the header, not the
    password of --base-url, and the header's token is not shown."""
    emu = make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}")
    url = _with_credentials(emu.base_url) if in_url else emu.base_url
    config = tmp_path / "private.toml"
    config.write_text(
        f'base_url = "{url}"\nprojects = [{DEMO_PROJECT}]\n'
        '[headers]\nAuthorization = "Bearer WRONG-TOKEN-SECRET"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)  # its owner's alone, as the README says (else one warning line)
    proc = cli("harvest", str(config), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].endswith(
        "refused the credentials sent (api/ answered HTTP 401 Unauthorized): mistyped, or "
        "expired or changed since they were given"
    )
    hint = "hint: check the Authorization header in the config file's [headers] for a typo"
    assert any(line.startswith(hint) for line in lines), proc.stderr
    assert "its token has expired or been revoked: renew it" in proc.stderr
    assert "SECRET" not in proc.stdout + proc.stderr


def test_a_plan_whose_listing_is_refused_401_says_credentials_are_wanted(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester plan` of a server asking for Basic auth under /webclient/ only (a listing
    answered 401): exit 2, no plan, and the credentials hint, not "again later"."""
    emu = make_emulator(app=_AuthUnder("/webclient/"))
    out = tmp_path / "planned"
    proc = cli(
        "plan", "--base-url", emu.base_url, "--project", str(DEMO_PROJECT), "--out", str(out)
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert lines[0].startswith("error: the walk failed for 1 listing") and "401" in lines[0]
    assert lines[1:] == [f"hint: {HINT_CREDENTIALS}"], proc.stderr
    assert not (out / "plan" / "plan.json").exists()


def test_a_browser_url_with_credentials_gets_a_base_url_hint_keeping_them(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A webclient page's URL copied from the browser, with user:password@ in it: the hint
    names the server's root and says to give the credentials with it (the root alone,
    pasted, was refused as asking for credentials), and the flag of what the link shows;
    given so, the harvest works."""
    emu = make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}")
    page = _with_credentials(emu.base_url) + "/webclient/?show=project-51"
    out = tmp_path / "o"
    proc = cli("harvest", "--base-url", page, "--project", str(DEMO_PROJECT), "--out", str(out),
               "--artifacts", "thumbnail", "--rate", "none")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    hint = proc.stderr.splitlines()[-1]
    assert hint.endswith(
        f"--base-url {emu.base_url} (with its credentials); what the link shows: --project 51"
    ), proc.stderr
    for leak in LEAKS:
        assert leak not in proc.stderr
    again = cli("harvest", "--base-url", _with_credentials(emu.base_url), "--project",
                str(DEMO_PROJECT), "--out", str(out), "--artifacts", "thumbnail",
                "--rate", "none")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(list(out.glob("images/**/*.thumbnail.jpg"))) == 8

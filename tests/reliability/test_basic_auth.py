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
from reliability_helpers import DEMO_PROJECT, cli

from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.http import Request, Response
from harvester.errors import PermanentError, RedirectRefused

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
    proc = cli(
        "harvest",
        "--base-url", _with_credentials(emu.base_url),
        "--project", str(DEMO_PROJECT),
        "--artifacts", "thumbnail,metadata",
        "--thumbnail-size", "64",
        "--out", str(out),
        "--rate", "none",
        "--max-retries", "6",
        "--debug",
    )  # fmt: skip
    # Sized thumbnails answer 404 (IDR in 2026): permanent failures, listed with their URL.
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "failed: thumbnail of image" in proc.stderr
    assert "401" not in proc.stderr
    assert len(list((out / "images").rglob("*.json"))) == 8  # metadata of the 8 images
    text = proc.stdout + proc.stderr
    for leak in LEAKS:
        assert leak not in text, (leak, [ln for ln in text.splitlines() if leak in ln][:3])
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "config.json" and p.parent.parent.name == "runs" for p in files)
    assert (out / "index.csv") in files
    for path in files:
        data = path.read_bytes()
        for leak in LEAKS:
            assert leak.encode() not in data, (leak, str(path.relative_to(out)))


@pytest.mark.parametrize(
    ("password", "said", "hint"),
    [
        (None, "asks for credentials", "hint: missing credentials: give them in --base-url"),
        ("WRONGSECRET", "refused the credentials sent", "hint: wrong credentials: check"),
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
    HTTP 401 ...)` and a hint saying which, exit 2, no traceback, the password not shown."""
    emu = make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}")
    url = emu.base_url if password is None else _with_credentials(emu.base_url, password=password)
    proc = cli(
        "harvest", "--base-url", url, "--project", str(DEMO_PROJECT), "--out", str(tmp_path / "o")
    )
    assert proc.returncode == 2, proc.stderr
    shown = emu.base_url.replace("://", "://al%20ice:REDACTED@") if password else emu.base_url
    lines = proc.stderr.splitlines()
    assert [line for line in lines if line.startswith("error: ")] == [
        f"error: {shown}/ {said} (api/ answered HTTP 401 Unauthorized)"
    ], proc.stderr
    assert any(line.startswith(hint) for line in lines), proc.stderr
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

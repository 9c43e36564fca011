"""Harvesting through an HTTP proxy named by the standard environment variables.

On an HPC node or an institutional network the internet is often reachable
only through a proxy named in ``http_proxy``/``https_proxy`` (curl, wget, pip
and every Python HTTP library honour them), so the harvester does too. Every
test runs a real forwarding proxy on loopback (``proxy_helpers``) between the
client and the emulator, and sets the variables with ``monkeypatch`` only.
"""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from demo_helpers import DemoRun
from harvest_helpers import DEMO_PROJECT, SMALL_PLATE, cli_env, content, refused_port
from proxy_helpers import ForwardingProxy

from harvester.cli import main
from harvester.client import Client, ClientSettings, Expect, proxy_from_environment
from harvester.emulator import EmulatorThread
from harvester.errors import ConfigError

IMAGES = 16  # plate 7375 (8 fields) + project 51 (8 images)
PROXY_USER = "harvuser"
PROXY_PASSWORD = "pr0xy-SECRET-9"  # noqa: S105 (a test credential)
PROXY_VARIABLES = (
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without proxy variables (CI machines may have some)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _harvest(base_url: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        ["harvest", "--base-url", base_url, "--plate", str(SMALL_PLATE),
         "--project", str(DEMO_PROJECT), "--out", str(out), "--rate", "none",
         "--concurrency", "4"]
    )  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_harvest_through_http_proxy_stores_the_same_files(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With http_proxy set, every request goes through the proxy, in absolute form, on
    kept-alive connections, and the files are byte for byte those of a direct harvest."""
    direct = make_emulator(preset="demo")
    code, output = _harvest(direct.base_url, tmp_path / "direct", capsys)
    assert code == 0, output
    proxied = make_emulator(preset="demo")
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        code, output = _harvest(proxied.base_url, tmp_path / "proxied", capsys)
    assert code == 0, output
    assert "failed 0" in output
    files = content(tmp_path / "proxied", "images", "study", base_url=proxied.base_url)
    assert len(files) >= IMAGES * 4
    assert files == content(tmp_path / "direct", "images", "study", base_url=direct.base_url)
    index = (tmp_path / "proxied" / "index.csv").read_bytes()
    assert index == (tmp_path / "direct" / "index.csv").read_bytes()
    seen = proxy.log.requests
    served = proxied.stats()["requests"]
    assert len(seen) == served > IMAGES * 4  # each request the server answered came this way
    assert all(s.target.startswith(proxied.base_url + "/") for s in seen), seen[0]
    assert all(s.header("Proxy-Authorization") is None for s in seen)
    assert proxy.log.connections <= 4 + 1  # one per slot (+ the probe's): kept alive


def test_no_proxy_bypasses_the_proxy(
    tmp_path: Path,
    emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server named in no_proxy is reached directly: the proxy sees nothing of that run,
    while a run with no_proxy naming other hosts only went through it."""
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", "example.org,localhost")
        code, output = _harvest(emulator.base_url, tmp_path / "proxied", capsys)
        assert code == 0, output
        through = len(proxy.log.requests)
        assert through == emulator.stats()["requests"] > IMAGES * 4
        monkeypatch.setenv("no_proxy", "example.org,127.0.0.1")
        code, output = _harvest(emulator.base_url, tmp_path / "direct", capsys)
    assert code == 0, output
    assert len(proxy.log.requests) == through  # not one more
    assert emulator.stats()["requests"] > 2 * IMAGES * 4


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [
        ("*", False),
        ("example.org", False),  # the domain and its subdomains
        (".example.org", False),
        ("idr.example.org:8080", False),
        ("localhost,other.org", True),
        ("ample.org", True),  # a suffix of the name, not a domain of it
        ("", True),
    ],
)
def test_no_proxy_follows_urllib(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str, proxied: bool
) -> None:
    """no_proxy means what it means to urllib (and curl): '*', domains with their subdomains,
    host:port."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.net:3128")
    monkeypatch.setenv("no_proxy", no_proxy)
    proxy = proxy_from_environment("https://idr.example.org:8080/")
    assert (proxy is not None) == proxied
    if proxy is not None:
        assert (proxy.shown, proxy.variable) == ("proxy.example.net:3128", "HTTPS_PROXY")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("socks5://127.0.0.1:1080", "only http://"),
        ("https://proxy.example.net:3128", "only http://"),
        ("http://[::1", "cannot be read"),  # was an internal error (exit 1)
        ("http://127.0.0.1:notaport", "invalid port"),
    ],
)
def test_unsupported_proxy_scheme_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    said: str,
) -> None:
    """A socks5:// or https:// proxy, or a proxy URL that cannot be read, is one error
    line naming the variable, exit 2, never showing the proxy's password."""
    monkeypatch.setenv("all_proxy", value.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@"))
    with pytest.raises(ConfigError, match="all_proxy"):
        proxy_from_environment("http://127.0.0.1:9/")
    code, output = _harvest("http://127.0.0.1:9", tmp_path / "out", capsys)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "all_proxy" in errors[0], output
    assert said in errors[0]
    assert PROXY_PASSWORD not in output


@pytest.mark.parametrize(
    "userinfo",
    [f"tok/{PROXY_PASSWORD}", f"{PROXY_USER}:pw/{PROXY_PASSWORD}", f"tok?{PROXY_PASSWORD}"],
)
def test_a_proxy_user_cut_short_is_refused_showing_none_of_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    userinfo: str,
) -> None:
    """A '/' or '?' typed in the proxy URL's user or password cuts the URL short there: its
    first part became the proxy's host, named in every error ('proxy tok:80'). Refused,
    exit 2, naming the variable, no part of the credentials, with the percent-encode hint."""
    monkeypatch.setenv("all_proxy", f"http://{userinfo}@127.0.0.1:9")
    code, output = _harvest("http://127.0.0.1:9", tmp_path / "out", capsys)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: all_proxy: a '/', '?' or '#' in the proxy URL's user or password cuts it short"
    ], output
    assert "%2F" in output
    assert PROXY_PASSWORD not in output and "tok" not in output and "pw" not in output


def test_proxy_credentials_go_to_the_proxy_only_and_are_never_written(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in the proxy URL reach the proxy as Proxy-Authorization on every request,
    and appear in no output line (--debug) and no file of DIR."""
    emu = make_emulator(preset="demo", faults="503:5%,reset:3%,seed:3")
    out = tmp_path / "out"
    with ForwardingProxy() as proxy:
        proxy_url = proxy.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@")
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", "harvest", "--base-url", emu.base_url,
             "--project", str(DEMO_PROJECT), "--out", str(out), "--rate", "none",
             "--max-retries", "8", "--debug"],
            capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = proxy.log.requests
    assert seen and len(seen) == emu.stats()["requests"]
    assert {s.header("Proxy-Authorization") for s in seen} == {_basic(PROXY_USER, PROXY_PASSWORD)}
    text = proc.stdout + proc.stderr
    assert f"proxy 127.0.0.1:{proxy.port}" in text  # said once, host:port only
    token = _basic(PROXY_USER, PROXY_PASSWORD).split()[1]
    for secret in (PROXY_PASSWORD, token):
        assert secret not in text, [line for line in text.splitlines() if secret in line][:3]
        for path in out.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path.relative_to(out)


# ---------------------------------------------------------------- https, CONNECT


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    """A test CA and its PEM file."""
    authority = trustme.CA()
    ca_file = tmp_path_factory.mktemp("pki") / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return authority, ca_file


@pytest.fixture
def tls_emulator(
    ca: tuple[trustme.CA, Path],
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> EmulatorThread:
    """The emulator over TLS, its certificate (for 127.0.0.1) trusted via SSL_CERT_FILE."""
    authority, ca_file = ca
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return make_emulator(preset="demo", ssl_context=context)


def test_https_harvest_through_connect_tunnels(
    tmp_path: Path,
    tls_emulator: EmulatorThread,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With https_proxy set, each connection is a CONNECT tunnel with TLS to the origin inside
    (certificate checked for the origin's name): same files as a direct plain-HTTP harvest;
    the credentials go in the CONNECT request only."""
    direct = make_emulator(preset="demo")
    code, output = _harvest(direct.base_url, tmp_path / "direct", capsys)
    assert code == 0, output
    with ForwardingProxy() as proxy:
        proxy_url = proxy.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@")
        monkeypatch.setenv("https_proxy", proxy_url)
        code, output = _harvest(tls_emulator.base_url, tmp_path / "tls", capsys)
    assert code == 0, output
    files = content(tmp_path / "tls", "images", "study", base_url=tls_emulator.base_url)
    assert len(files) >= IMAGES * 4
    assert files == content(tmp_path / "direct", "images", "study", base_url=direct.base_url)
    seen = proxy.log.requests
    authority = tls_emulator.base_url.removeprefix("https://")
    assert seen and {(s.method, s.target) for s in seen} == {("CONNECT", authority)}
    assert {s.header("Proxy-Authorization") for s in seen} == {_basic(PROXY_USER, PROXY_PASSWORD)}
    stats = tls_emulator.stats()
    assert stats["connections"] == proxy.log.tunnels == len(seen)  # every connection tunnelled
    assert stats["requests"] >= 10 * stats["connections"]  # kept alive inside the tunnels
    assert PROXY_PASSWORD not in output


async def test_tunnelled_requests_carry_no_proxy_credentials(
    ca: tuple[trustme.CA, Path],
    make_emulator: Callable[..., EmulatorThread],
    fake_app: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside a CONNECT tunnel the origin gets the usual request: no Proxy-Authorization."""
    authority, ca_file = ca
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    emu = make_emulator(app=fake_app, ssl_context=context)
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url.replace("://", "://u:PW-SECRET-7@"))
        async with Client(ClientSettings(emu.base_url, rate=None)) as client:
            echoed = (await client.get("json/x/", Expect.JSON)).json()
    headers = {name.lower() for name in echoed["headers"]}
    assert "x-requested-with" in headers
    assert not {"proxy-authorization", "proxy-connection"} & headers
    assert [s.method for s in proxy.log.requests] == ["CONNECT"]


def test_refused_connect_is_one_error_line_exit_2(
    tmp_path: Path,
    tls_emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy answering CONNECT with 403: one error line naming the proxy (host:port, no
    credentials) and the status, exit 2 as for an unreachable server; nothing is written."""
    out = tmp_path / "out"
    with ForwardingProxy(refuse_connect=403) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url.replace("://", "://u:PW-SECRET-7@"))
        code, output = _harvest(tls_emulator.base_url, out, capsys)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "cannot reach" in errors[0]
    assert f"proxy 127.0.0.1:{proxy.port}" in errors[0]
    assert "403" in errors[0]
    assert "PW-SECRET-7" not in output and "u:" not in errors[0]
    assert "Traceback" not in output
    assert not out.exists()
    assert tls_emulator.stats()["requests"] == 0


def test_unreachable_proxy_is_named_in_the_error(
    tmp_path: Path,
    emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy nobody listens on: 'cannot reach' naming the proxy (not its password), exit 2."""
    monkeypatch.setenv("http_proxy", "http://u:PW-SECRET-7@127.0.0.1:9")
    code, output = _harvest(emulator.base_url, tmp_path / "out", capsys)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "cannot reach" in errors[0] and "proxy 127.0.0.1:9" in errors[0]
    assert (
        "hint: requests go through the proxy 127.0.0.1:9 (from http_proxy): check it, or name"
        " the server in no_proxy"
    ) in output.splitlines()
    assert "PW-SECRET-7" not in output
    assert emulator.stats()["requests"] == 0


def test_proxy_asking_for_credentials_is_one_error(
    tmp_path: Path,
    emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 407 from the proxy is said to come from the proxy: without credentials, where they
    go; with wrong ones, that they were refused (not "give them", which they were); wrong
    credentials are never shown; with the right ones the harvest works."""
    wanted = _basic(PROXY_USER, PROXY_PASSWORD)
    with ForwardingProxy(require_auth=wanted) as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        code, output = _harvest(emulator.base_url, tmp_path / "missing", capsys)
        assert code == 2
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output
        assert f"proxy 127.0.0.1:{proxy.port} asks for credentials (HTTP 407)" in errors[0]
        assert "hint: give them in http_proxy: http://USER:PASSWORD@HOST:PORT" in output
        monkeypatch.setenv("http_proxy", proxy.url.replace("://", "://harvuser:WRONG-pw-1@"))
        code, output = _harvest(emulator.base_url, tmp_path / "refused", capsys)
        assert code == 2
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output
        refused = f"proxy 127.0.0.1:{proxy.port} refused the credentials sent (HTTP 407)"
        assert refused in errors[0], output
        assert "hint: wrong credentials: check the user and password in http_proxy" in output
        assert "WRONG-pw-1" not in output
        assert emulator.stats()["requests"] == 0
        proxy_url = proxy.url.replace("://", f"://{PROXY_USER}:{PROXY_PASSWORD}@")
        monkeypatch.setenv("http_proxy", proxy_url)
        code, output = _harvest(emulator.base_url, tmp_path / "out", capsys)
    assert code == 0, output
    assert emulator.stats()["requests"] > IMAGES * 4


def test_the_demo_bypasses_a_proxy_it_cannot_use(demo_run: DemoRun) -> None:
    """`harvester demo` on a node with http_proxy set (``demo_run`` runs it so, once for
    every test of the demo): its emulator is its own, on loopback, where no proxy could
    reach it; the demo harvests it directly."""
    assert demo_run.code == 0, demo_run.stderr
    assert (demo_run.out / "index.csv").is_file()


def test_connect_asked_for_credentials_is_one_error_not_retried(
    tmp_path: Path,
    tls_emulator: EmulatorThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 407 answering CONNECT (an https server behind a proxy wanting other credentials)
    says they were refused and where they are, as for http, and is not retried: the same
    credentials get the same answer (it was a retried 'cannot connect', its hint saying
    only to check the proxy)."""
    out = tmp_path / "out"
    with ForwardingProxy(require_auth=_basic(PROXY_USER, PROXY_PASSWORD)) as proxy:
        monkeypatch.setenv("https_proxy", proxy.url.replace("://", "://harvuser:WRONG-pw-2@"))
        code, output = _harvest(tls_emulator.base_url, out, capsys)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert f"proxy 127.0.0.1:{proxy.port} refused the credentials sent (HTTP 407)" in errors[0]
    assert "hint: wrong credentials: check the user and password in https_proxy" in output
    assert "WRONG-pw-2" not in output
    # The probe's tunnel and at most one per connection slot opened meanwhile
    # (--concurrency 4); the probe's was asked again before (6)
    assert {s.method for s in proxy.log.requests} == {"CONNECT"}
    assert len(proxy.log.requests) <= 4 + 1
    assert not out.exists()
    assert tls_emulator.stats()["requests"] == 0


def test_an_origin_the_proxy_cannot_reach_says_the_proxy_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a proxy, a server that 'keeps breaking off its answers' (the proxy drops the
    connection it cannot relay) is said with the proxy: its failure reads as the server's.
    It is not waited for at start (the default --outage-wait): through a proxy that is as
    often a wrong host as a server down."""
    with refused_port() as dead, ForwardingProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        code = main(
            ["harvest", "--base-url", f"http://127.0.0.1:{dead}", "--plate", str(SMALL_PLATE),
             "--out", str(tmp_path / "d"), "--rate", "none", "--max-retries", "1"]
        )  # fmt: skip
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 75, err
    assert "looks down" not in err  # no pause
    assert len(errors) == 1 and f"(through the proxy {proxy.url.split('://')[1]})" in errors[0]


def test_a_server_error_through_a_proxy_at_start_is_try_again_later(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a proxy, the API root answers 500 through the whole retry budget: server (or
    proxy) trouble, so exit 75 (try again later) with one line naming the proxy that gave the
    answer; it was exit 2 'cannot reach', as for a wrong command. Before the budget's waits a
    line says the API root is asked again and for how long. No folder is made."""
    emu = make_emulator(preset="demo", faults="500:100%,only:api_versions")
    out = tmp_path / "d"
    with ForwardingProxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        code = main(
            ["harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE),
             "--out", str(out), "--rate", "none", "--max-retries", "1"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 75, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    shown = proxy.url.split("://")[1]
    assert errors == [
        f"error: the proxy {shown} answered HTTP 500 Internal Server Error for the API root "
        f"(api/) of {emu.base_url}/"
    ], err
    assert caplog.messages == [
        f"the proxy {shown} answered HTTP 500 Internal Server Error for the API root (api/) "
        f"of {emu.base_url}/: asking again for up to 2s (--max-retries 1) before giving up"
    ]
    assert "cannot reach" not in err and "Traceback" not in err
    assert emu.stats()["by_route"]["api_versions"] == {"500": 2 + 2}  # quick try, then budget
    assert not out.exists()


def test_a_proxy_token_as_user_is_sent_and_never_written(
    tmp_path: Path,
    ca: tuple[trustme.CA, Path],
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPS_PROXY=http://TOKEN@proxy:port (a user alone: an access token) through a proxy
    that demands it: every CONNECT carries it, and with --debug, retried faults and failed
    files (error paths ran), it is in no output line and no file of DIR, as TOKEN nor as
    the Basic value it is sent as."""
    authority, ca_file = ca
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    emu = make_emulator(
        preset="demo", ssl_context=context, faults="503:5%,reset:3%,seed:3", migration_2026=True
    )
    token = "PRXTOKEN-5150"  # noqa: S105 (a test credential)
    basic = _basic(token, "")
    out = tmp_path / "out"
    with ForwardingProxy(require_auth=basic) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("://", f"://{token}@"))
        proc = subprocess.run(
            [sys.executable, "-m", "harvester", "harvest", "--base-url", emu.base_url,
             "--project", str(DEMO_PROJECT), "--artifacts", "thumbnail,metadata",
             "--thumbnail-size", "64", "--out", str(out), "--rate", "none",
             "--max-retries", "8", "--debug"],
            capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
        )  # fmt: skip
    # Sized thumbnails answer 404 (IDR in 2026): failures listed, so their messages ran.
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "failed: thumbnail of image" in proc.stderr
    seen = proxy.log.requests
    assert seen and {s.header("Proxy-Authorization") for s in seen} == {basic}
    assert emu.stats()["requests"] > 10  # through the tunnels the token opened
    text = proc.stdout + proc.stderr
    assert f"proxy 127.0.0.1:{proxy.port}" in text  # named, host:port only
    files = [path for path in out.rglob("*") if path.is_file()]
    assert any(path.parent.parent.name == "runs" for path in files)  # the saved record
    for secret in (token, basic.split()[1]):
        assert secret not in text, [line for line in text.splitlines() if secret in line][:3]
        for path in files:
            assert secret.encode() not in path.read_bytes(), path.relative_to(out)

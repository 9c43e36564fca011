"""Harvesting over HTTPS, end to end, against the emulator serving TLS on loopback.

IDR is reached over HTTPS, and the client opens its TLS connections itself
(asyncio's TLS transport under harvester.http1, with httpx's verifying
context), so the HTTPS path gets its own proof: the same files as over plain
HTTP, kept-alive connections, a keep-alive connection closed by the server
replaced without a failed request, and certificates that must be refused (an
unknown CA, another host name).

Certificates come from ``trustme`` (a test CA made in memory). The client
trusts that CA the way a user would point it at a private CA: through
``SSL_CERT_FILE``, which ``httpx.create_ssl_context`` honours.
"""

from __future__ import annotations

import csv
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import psutil
import pytest
import trustme
from harvest_helpers import DEMO_PROJECT, SMALL_PLATE, Reference, content, harvest, temp_files

from harvester import urls
from harvester.cli import main
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread, serve

CONCURRENCY = 4
IMAGES = 16  # plate 7375 (8 fields) + project 51 (8 images)
PROJECT_IMAGES = range(1884801, 1884809)


@dataclass
class Pki:
    """A test CA, its PEM file, and server contexts with certificates it issued."""

    ca: Any
    ca_file: Path

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server TLS context with a certificate for ``names``, issued by this CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names).configure_cert(context)
        return context


def _pki(folder: Path) -> Pki:
    ca = trustme.CA()
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The CA the client is told to trust (see ``trusting``)."""
    return _pki(tmp_path_factory.mktemp("pki"))


def _trust_only(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the client trust ``pki``'s CA, and only it: SSL_CERT_FILE names its file."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _https_emulator(
    make_emulator: Callable[..., EmulatorThread], pki: Pki, name: str = "127.0.0.1", **more: Any
) -> EmulatorThread:
    """The demo emulator over HTTPS, with a certificate ``pki`` issued for ``name``."""
    return make_emulator(preset="demo", ssl_context=pki.server_context(name), **more)


@pytest.fixture
def trusting(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Pki:
    """The client trusts ``pki``'s CA, and only it, via SSL_CERT_FILE."""
    _trust_only(pki, monkeypatch)
    return pki


@dataclass
class Run:
    """One ``harvester harvest`` of plate 7375 and project 51 and what the server saw."""

    out: Path
    code: int
    stdout: str
    stderr: str
    base_url: str
    stats: dict[str, Any]


def _harvest(emu: EmulatorThread, out: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    code = main(
        ["harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE),
         "--project", str(DEMO_PROJECT), "--out", str(out), "--rate", "none",
         "--concurrency", str(CONCURRENCY)]
    )  # fmt: skip
    captured = capsys.readouterr()
    return Run(out, code, captured.out, captured.err, emu.base_url, emu.stats())


@pytest.fixture
def runs(
    tmp_path: Path,
    trusting: Pki,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
) -> tuple[Run, Run]:
    """The same harvest over plain HTTP and over HTTPS (the CLI in-process)."""
    plain = make_emulator(preset="demo")
    tls = _https_emulator(make_emulator, trusting)
    assert plain.base_url.startswith("http://")
    assert tls.base_url.startswith("https://")
    return _harvest(plain, tmp_path / "http", capsys), _harvest(tls, tmp_path / "https", capsys)


def _index_rows(out: Path) -> list[dict[str, str]]:
    with (out / "index.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_https_harvest_stores_the_same_files_as_http(runs: tuple[Run, Run]) -> None:
    """Over HTTPS the CLI exits 0 and stores byte for byte what it stores over HTTP."""
    plain, tls = runs
    assert plain.code == 0, plain.stderr
    assert tls.code == 0, tls.stderr
    assert "failed 0" in tls.stdout
    assert f"index: {tls.out / 'index.csv'} ({IMAGES} rows)" in tls.stdout
    # The JSON API embeds the server's own base URL in url:* links: compared without it.
    files = content(tls.out, "images", "study", base_url=tls.base_url)
    assert len(files) >= IMAGES * 4
    assert files == content(plain.out, "images", "study", base_url=plain.base_url)
    assert len(_index_rows(tls.out)) == IMAGES
    assert (tls.out / "index.csv").read_bytes() == (plain.out / "index.csv").read_bytes()


def test_https_harvest_keeps_connections_alive(runs: tuple[Run, Run]) -> None:
    """Over TLS each concurrency slot keeps one connection: a handshake per slot, not per request.

    The server counts connections once their TLS handshake is done; the run's
    client has ``CONCURRENCY`` slots and the server probe one more.
    """
    _plain, tls = runs
    stats = tls.stats
    assert stats["by_status"] == {"200": stats["requests"]}
    assert 1 <= stats["connections"] <= CONCURRENCY + 1
    assert stats["requests"] >= 10 * stats["connections"]


def test_tls_connections_broken_mid_answer_are_retried(
    reference: Reference,
    tmp_path: Path,
    trusting: Pki,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """Resets and truncated bodies inside TLS are retried on new connections: same bytes.

    A reset drops the TCP connection under the TLS session; a truncation
    closes the session cleanly (close_notify) before the announced length.
    """
    emu = _https_emulator(
        make_emulator,
        trusting,
        # Not on the server probe (api/), which retries once only.
        faults="reset:10%,truncate:10%,503:5%,seed:11,only:/webgateway/|/webclient/|/api/v0/m/",
    )
    out = tmp_path / "faults"
    summary = harvest(
        emu.base_url, out, plates=(SMALL_PLATE,), projects=(DEMO_PROJECT,), max_retries=8,
        concurrency=CONCURRENCY,
    )  # fmt: skip
    stats = emu.stats()
    assert summary.exit_code == 0, summary.failures[:3]
    assert stats["faults"].get("reset", 0) > 0 and stats["faults"].get("truncate", 0) > 0
    assert summary.retries > 0
    got = content(out, "images", base_url=emu.base_url)
    expected = content(reference.out, "images", base_url=reference.base_url)
    assert len(got) == IMAGES * 4
    assert got.items() <= expected.items()
    assert temp_files(out) == []


async def test_keep_alive_connections_closed_by_the_server_are_replaced(trusting: Pki) -> None:
    """A server that closes idle keep-alive connections costs a new handshake, not a request.

    After every connection went idle and the server closed it, the next
    requests go out on new TLS connections and all succeed at the first try.
    """
    context = trusting.server_context("127.0.0.1")
    targets = [urls.image_metadata(image_id) for image_id in PROJECT_IMAGES]
    async with (
        serve(preset="demo", ssl_context=context, idle_timeout_s=0.5) as emu,
        Client(ClientSettings(emu.base_url, concurrency=2, rate=None, max_retries=2)) as client,
    ):
        with anyio.fail_after(30):
            first = [await client.get(target, Expect.JSON) for target in targets[:4]]
            before = emu.stats()["connections"]
            for _ in range(500):  # the server closes idle connections after 0.5 s
                if not emu.stats()["open_connections"]:
                    break
                await anyio.sleep(0.05)
            assert emu.stats()["open_connections"] == 0
            again = [await client.get(target, Expect.JSON) for target in targets]
        retries = client.stats.retries
    stats = emu.stats()
    assert [f.body for f in again[:4]] == [f.body for f in first]
    assert [f.json()["data"]["@id"] for f in again] == list(PROJECT_IMAGES)
    assert stats["by_status"] == {"200": 12}
    assert stats["connections"] > before
    assert retries == 0


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), err
    assert any(line.startswith("hint: ") for line in lines), err
    assert "Traceback" not in err
    return errors[0]


@pytest.fixture
def untrusted(
    tmp_path: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., EmulatorThread],
) -> EmulatorThread:
    """An HTTPS emulator whose certificate comes from a CA the client does not trust."""
    stranger = _pki(tmp_path)
    _trust_only(pki, monkeypatch)
    return _https_emulator(make_emulator, stranger)


def _harvest_refused(
    emu: EmulatorThread, out: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """A harvest of ``emu`` into ``out`` that must exit 2 with one error line: that line
    and the whole stderr."""
    code = main(
        ["harvest", "--base-url", emu.base_url, "--plate", str(SMALL_PLATE), "--out", str(out),
         "--rate", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    return _one_error(err), err


def _refused_at_the_handshake(
    emu: EmulatorThread, out: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """:func:`_harvest_refused` by a TLS failure (certificate verify failed): no request
    reached ``emu`` and no output folder was made (a failed probe writes nothing)."""
    error, err = _harvest_refused(emu, out, capsys)
    assert "TLS failure" in error
    assert "certificate verify failed" in error
    assert not out.exists()
    assert emu.stats()["requests"] == 0
    return error, err


def test_untrusted_certificate_is_one_error_exit_2(
    tmp_path: Path, untrusted: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """A certificate from an unknown CA: one `error:` line naming the TLS failure, exit 2.

    The handshake fails, so no HTTP request reaches the server and the output
    folder is never created (a failed probe writes nothing).
    """
    error, _err = _refused_at_the_handshake(untrusted, tmp_path / "out", capsys)
    assert untrusted.base_url.removeprefix("https://") in error
    assert untrusted.stats()["connections"] == 0


def test_untrusted_certificate_error_says_tls_and_hints_at_the_certificate(
    tmp_path: Path, untrusted: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """The message does not call a TLS server 'not OMERO'; the hint names the certificate."""
    error, err = _harvest_refused(untrusted, tmp_path / "out", capsys)
    hints = [line for line in err.splitlines() if line.startswith("hint: ")]
    assert "does not look like an OMERO" not in error
    assert any("certificate" in hint for hint in hints), err
    # A private server's own CA (or a self-signed certificate) is the usual cause: the hint
    # says how to trust it, which the README said only in the emulator's section.
    assert any("SSL_CERT_FILE=" in hint for hint in hints), err


def test_a_ca_file_given_that_lacks_the_servers_ca_is_named_in_the_hint(
    tmp_path: Path, untrusted: EmulatorThread, pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """With SSL_CERT_FILE set to another CA than the server's, the hint names that file as
    not holding it, rather than telling to set SSL_CERT_FILE, which is set."""
    _error, err = _harvest_refused(untrusted, tmp_path / "out", capsys)
    hint = err.splitlines()[-1]
    assert f"SSL_CERT_FILE={pki.ca_file} does not hold" in hint, err


def test_a_ca_folder_not_rehashed_gets_the_rehash_command(
    tmp_path: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SSL_CERT_DIR holding the right CA as a plain PEM file, which OpenSSL does not find
    (it looks up hash-named links): the hint gives `openssl rehash DIR`."""
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(pki.ca_file.read_bytes())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    emu = _https_emulator(make_emulator, pki)
    error, err = _harvest_refused(emu, tmp_path / "out", capsys)
    assert "certificate verify failed" in error
    assert err.splitlines()[-1].endswith(f"then run: openssl rehash {folder}"), err


@pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "not-pem"])
def test_a_ca_file_that_cannot_be_loaded_is_one_error_naming_it(
    tmp_path: Path,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
) -> None:
    """SSL_CERT_FILE naming no file, or one without a certificate: one `error:` line
    naming the variable and the path (it said `error: No such file or directory`), a
    hint, exit 2, nothing sent and no folder made."""
    ca_file = tmp_path / "our-ca.pem"
    if content is not None:
        ca_file.write_bytes(content)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    emu = _https_emulator(make_emulator, pki)
    out = tmp_path / "out"
    error, err = _harvest_refused(emu, out, capsys)
    assert error.startswith(f"error: SSL_CERT_FILE={ca_file}: cannot load it"), err
    assert "PEM" in err.splitlines()[-1]
    assert not out.exists()
    assert emu.stats()["connections"] == 0


def test_slurm_refuses_a_server_whose_certificate_is_not_trusted(
    tmp_path: Path, untrusted: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    """`harvester slurm` whose check meets an untrusted certificate refuses, exit 2, with
    the certificate hint and --no-check (it wrote and would submit a script whose every task
    failed alike, under a note calling the server unreachable from here); with --no-check
    the script is written."""
    out = tmp_path / "out"
    argv = ["slurm", "--base-url", untrusted.base_url, "--plate", str(SMALL_PLATE),
            "--out", str(out), "--tasks", "2"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "TLS failure: certificate verify failed" in _one_error(err)
    hint = err.splitlines()[-1]
    assert "SSL_CERT_FILE" in hint and "--no-check" in hint, err
    assert not (out / "harvest.sbatch").exists()
    assert main([*argv, "--no-check"]) == 0
    assert (out / "harvest.sbatch").is_file()


def test_certificate_for_another_host_name_is_refused(
    tmp_path: Path,
    trusting: Pki,
    make_emulator: Callable[..., EmulatorThread],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A trusted CA's certificate for another name is refused: the host name is checked."""
    emu = _https_emulator(make_emulator, trusting, "harvester.invalid")
    error, err = _refused_at_the_handshake(emu, tmp_path / "out", capsys)
    assert "127.0.0.1" in error
    # Trusting another CA would not help: the hint says the name is the problem.
    hint = err.splitlines()[-1]
    assert hint.startswith("hint: ") and "SSL_CERT_FILE" not in hint
    assert "host name" in hint


def _sockets_to(port: int) -> int:
    """This process's open TCP sockets to ``port`` on loopback."""
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port
    )


async def test_a_closed_client_has_closed_its_tls_sockets(
    trusting: Pki, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """When the client is closed, its TLS connections' sockets are closed too, not left to a
    closure alert still under way: a caller whose event loop ends next (a notebook, a test) got
    ResourceWarnings for sockets left open."""
    emu = _https_emulator(make_emulator, trusting)
    port = urlsplit(emu.base_url).port
    assert port is not None
    settings = ClientSettings(emu.base_url, concurrency=4, rate=None, max_retries=0)
    with anyio.fail_after(30):
        async with Client(settings) as client:
            async with anyio.create_task_group() as tg:
                for image_id in PROJECT_IMAGES:
                    tg.start_soon(client.get, urls.image_metadata(image_id), Expect.JSON)
            assert _sockets_to(port) == 4
        assert _sockets_to(port) == 0

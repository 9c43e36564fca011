"""The emulator over TLS (``ssl_context=``, ``--tls-cert``/``--tls-key``), its idle
timeout and its connection counts."""

from __future__ import annotations

import datetime
import ipaddress
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from harvester.emulator import EmulatorThread, spawn_emulator
from harvester.emulator.cli import main
from harvester.emulator.server import KEEPALIVE_TIMEOUT_S, EmulatorServer


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
def pem(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    """PEM files: the CA, a 127.0.0.1 certificate and its key, both in one file, junk."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {
        "ca": tmp_path / "ca.pem",
        "cert": tmp_path / "cert.pem",
        "key": tmp_path / "key.pem",
        "both": tmp_path / "both.pem",
        "other_key": tmp_path / "other-key.pem",
        "junk": tmp_path / "junk.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    cert.private_key_and_cert_chain_pem.write_to_path(str(files["both"]))
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(files["other_key"]))
    files["junk"].write_text("not a certificate\n")
    return files


def _client_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.mark.parametrize(
    ("command", "files"),
    [
        ([sys.executable, "-m", "harvester", "emulate"], ("cert", "key")),
        ([sys.executable, "-m", "harvester.emulator"], ("both",)),
    ],
)
def test_tls_flags_serve_https(
    pem: dict[str, Path], command: list[str], files: tuple[str, ...]
) -> None:
    """--tls-cert [--tls-key]: the serving line says https://, and links use that base."""
    args = ["--port", "0", "--tls-cert", str(pem[files[0]])]
    if len(files) > 1:
        args += ["--tls-key", str(pem[files[1]])]
    proc, base_url = spawn_emulator(args, command=command)
    try:
        assert base_url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=_client_context(pem["ca"]), timeout=10) as client:
            root = client.get(f"{base_url}/api/")
            assert root.status_code == 200
            assert root.json()["data"][0]["url:base"].startswith(f"{base_url}/api/v0/")
            assert client.get(f"{base_url}/__emulator__/stats").json()["connections"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--tls-cert", "{missing}"], "missing.pem"),
        (["--tls-cert", "{junk}"], "no PEM certificate"),
        (["--tls-cert", "{cert}", "--tls-key", "{other_key}"], "cannot load TLS certificate"),
        (["--tls-cert", "{cert}"], "private key"),  # no key in the file
        (["--tls-key", "{key}"], "--tls-key needs --tls-cert"),
        (["--idle-timeout", "0"], "--idle-timeout"),
    ],
)
def test_bad_tls_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    pem: dict[str, Path],
    args: list[str],
    needle: str,
) -> None:
    """Unreadable, non-PEM or mismatched certificate/key, or a bad timeout: one line, exit 2."""
    names = {name: str(path) for name, path in pem.items()}
    argv = ["--port", "0", *(a.format(missing=tmp_path / "missing.pem", **names) for a in args)]
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]


def test_plain_http_stays_the_default(fake_app: Any) -> None:
    """Without a context the server speaks plain HTTP with the 75 s keep-alive of before."""
    with EmulatorThread(app=fake_app) as emu:
        assert emu.base_url.startswith("http://")
        assert emu.server.idle_timeout_s == KEEPALIVE_TIMEOUT_S == 75.0
        assert httpx.get(f"{emu.base_url}/json/", timeout=10).status_code == 200


def test_in_process_tls_with_ssl_context(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any, ca: trustme.CA
) -> None:
    """EmulatorThread(ssl_context=...) serves HTTPS; keep-alive gives one connection."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    emu = make_emulator(app=fake_app, ssl_context=context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with httpx.Client(base_url=emu.base_url, verify=client_context, timeout=10) as client:
        bodies = [client.get("/json/").json() for _ in range(10)]
    assert emu.base_url.startswith("https://127.0.0.1:")
    assert {body["base_url"] for body in bodies} == {emu.base_url}
    stats = emu.stats()
    assert (stats["requests"], stats["connections"]) == (10, 1)


def test_connections_are_counted_and_reset(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any
) -> None:
    """`connections` counts accepted connections since the last reset, not requests."""
    emu = make_emulator(app=fake_app)
    with httpx.Client(base_url=emu.base_url, timeout=10) as client:
        for _ in range(20):
            assert client.get("/json/").status_code == 200
        assert emu.stats()["connections"] == 1
        assert emu.stats()["open_connections"] == 1
        assert client.post("/__emulator__/reset").json() == {"reset": True}
        assert emu.stats()["connections"] == 0
    for _ in range(3):
        assert httpx.get(f"{emu.base_url}/json/", timeout=10).status_code == 200
    assert emu.stats()["connections"] == 3


def test_idle_keep_alive_connection_is_closed_after_the_idle_timeout(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any
) -> None:
    """With idle_timeout_s the server closes a kept-alive connection that stays idle."""
    emu = make_emulator(app=fake_app, idle_timeout_s=0.3)
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /thumb/10/ HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while not received.endswith(b"\r\n\r\n" + bytes((i * 7) % 251 for i in range(10))):
            data = sock.recv(65536)
            assert data, received
            received += data
        assert b"Connection: close" not in received
        assert sock.recv(65536) == b""  # the server closed it, idle (within the 10 s timeout)
    deadline = time.monotonic() + 10
    while emu.stats()["open_connections"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.stats()["open_connections"] == 0
    assert emu.stats()["connections"] == 1


def test_idle_timeout_must_be_positive(fake_app: Any) -> None:
    """A zero or negative idle timeout is refused when the server is built."""
    with pytest.raises(ValueError, match="idle timeout"):
        EmulatorServer(fake_app, idle_timeout_s=0)


def test_subprocess_bad_certificate_has_no_traceback(tmp_path: Path) -> None:
    """From a real process, a missing certificate is one stderr line and exit 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "harvester.emulator", "--tls-cert", str(tmp_path / "none.pem")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: ")


def _self_signed(path: Path, *, expired: bool = False) -> None:
    """Write a self-signed certificate for 127.0.0.1 (its own CA) and its key, in one file;
    ``expired``: one whose validity ended yesterday."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=3 if expired else 0, minutes=5))
        .not_valid_after(now + datetime.timedelta(days=-1 if expired else 1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(pem)
    )


def _start_with_try_line(cert: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``python -m harvester.emulator --tls-cert CERT``: the process, its base URL and the
    start line it writes on stderr (the caller stops the process)."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harvester.emulator", "--port", "0", "--tls-cert", str(cert)],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    deadline = time.monotonic() + 30
    while "try:" not in err.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, err.read_text()
        time.sleep(0.02)
    served = out.read_text().split()
    assert served[:1] == ["serving"], (out.read_text(), err.read_text())
    return proc, served[1], err.read_text()


def _answers(base_url: str, trusting: Path) -> bool:
    """Does a client trusting the file ``trusting`` alone get the API root over TLS?"""
    context = ssl.create_default_context(cafile=str(trusting))
    try:
        with httpx.Client(verify=context, timeout=10) as client:
            return client.get(f"{base_url}/api/").status_code == 200
    except httpx.ConnectError as exc:
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc), exc
        return False


@pytest.mark.parametrize("signed_by", ["itself", "a CA"])
def test_try_line_names_the_file_to_trust(
    tmp_path: Path, pem: dict[str, Path], signed_by: str
) -> None:
    """The start line's SSL_CERT_FILE is the file that makes a client trust the server: a
    self-signed certificate's own file; for one a CA signed, that CA's file (CA.pem, which
    the note says to replace: the emulator is not given it), where the certificate's own file
    is refused (certificate verify failed; Python 3.13+ takes it, and so does the line)."""
    if signed_by == "itself":
        cert = tmp_path / "self-signed.pem"
        _self_signed(cert)
    else:
        cert = pem["both"]
    proc, base_url, err = _start_with_try_line(cert, tmp_path)
    try:
        (line,) = [line for line in err.splitlines() if "try:" in line]
        if signed_by == "itself":
            assert f"; try: SSL_CERT_FILE={cert} harvester harvest --base-url" in line, line
            assert "CA.pem" not in line, line
            assert _answers(base_url, cert)
        elif _answers(base_url, cert):
            # Python 3.13+ trusts a certificate of its CA file even with no CA of it there
            # (VERIFY_X509_PARTIAL_CHAIN by default): the certificate's own file works.
            assert f"; try: SSL_CERT_FILE={cert} harvester harvest --base-url" in line, line
            assert "CA.pem" not in line, line
        else:
            assert "; try: SSL_CERT_FILE=CA.pem harvester harvest --base-url" in line, line
            assert line.endswith(
                f"--out demo-mirror (CA.pem: the PEM file of the CA that signed {cert}, "
                "which is not self-signed)"
            ), line
            assert _answers(base_url, pem["ca"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_try_line_says_an_expired_self_signed_certificate_is_refused_for_itself(
    tmp_path: Path,
) -> None:
    """An expired self-signed certificate: the start line names its own file to trust and
    says that a client trusting it alone refuses it (certificate has expired), where it said
    the certificate was not self-signed and sent the user to look for its CA."""
    cert = tmp_path / "expired.pem"
    _self_signed(cert, expired=True)
    proc, base_url, err = _start_with_try_line(cert, tmp_path)
    try:
        (line,) = [line for line in err.splitlines() if "try:" in line]
        assert f"; try: SSL_CERT_FILE={cert} harvester harvest --base-url" in line, line
        assert line.endswith(
            f"--out demo-mirror ({cert} is refused even by a client that trusts it alone: "
            "certificate has expired; give --tls-cert a valid certificate)"
        ), line
        assert "CA.pem" not in line and "self-signed" not in line, line
        assert not _answers(base_url, cert)  # (what the line says: refused, trusted or not)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0

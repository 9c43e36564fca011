"""The hint of a TLS failure says plain HTTP only where that is what the failure shows:
firmly for the reasons only a plain-HTTP answer gives, as "may" for OpenSSL 3.2+'s
RECORD_LAYER_FAILURE (a TLS record it could not read, whatever sent it), never for a
real TLS server's refusal."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from harvester.cli import main
from harvester.client import _tls_hint
from harvester.emulator import EmulatorThread

PLATE = "7361"  # a plate of the demo preset


def _harvest(capsys: pytest.CaptureFixture[str], url: str, out: Path) -> tuple[int, list[str]]:
    code = main(["harvest", "--base-url", url, "--plate", PLATE, "--artifacts", "thumbnail",
                 "--max-retries", "0", "-q", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


def test_https_at_a_plain_http_port_is_told_to_use_http(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The emulator's plain-HTTP port asked with https://: exit 2, a TLS failure whose hint
    says to give http:// (firmly on OpenSSL up to 3.1, as "may" after), nothing harvested."""
    url = emulator.base_url.replace("http://", "https://", 1)
    code, lines = _harvest(capsys, url, tmp_path / "d")
    assert code == 2
    assert lines[0].startswith(f"error: cannot reach {url}/: TLS failure: "), lines
    assert lines[1].startswith("hint: the server "), lines
    assert "plain HTTP, not HTTPS" in lines[1] and "http:// instead of https://" in lines[1]
    assert not list((tmp_path / "d").rglob("*.jpg"))


def test_a_real_tls_servers_refusal_is_not_said_to_be_plain_http(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_emulator: Callable[..., EmulatorThread],
) -> None:
    """The emulator in TLS mode with a certificate of a CA this machine does not trust: a
    real TLS failure, exit 2, its hint about the certificate, not sending the user to
    http://."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    emu = make_emulator(preset="demo", ssl_context=context)
    assert emu.base_url.startswith("https://")
    code, lines = _harvest(capsys, emu.base_url, tmp_path / "d")
    assert code == 2
    assert lines[0].startswith(f"error: cannot reach {emu.base_url}/: TLS failure: "), lines
    assert len(lines) == 2 and "certificate" in lines[1], lines
    assert "plain HTTP" not in lines[1] and "http://" not in lines[1], lines


@pytest.mark.parametrize(
    ("reason", "firm"),
    [
        ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", True),
        ("[SSL: PACKET_LENGTH_TOO_LONG] packet length too long (_ssl.c:1000)", True),
        ("[SSL: RECORD_LAYER_FAILURE] record layer failure (_ssl.c:1000)", False),
    ],
)
def test_only_openssl_32s_record_layer_failure_hints_may(reason: str, firm: bool) -> None:
    """OpenSSL 3.2+'s RECORD_LAYER_FAILURE (which this machine's OpenSSL may not give, so
    its reason as OpenSSL words it) also covers a damaged TLS record: its hint says the
    plain HTTP "may" be the cause and what else to check; the others say it is."""
    hint = _tls_hint(reason)
    assert "http:// instead of https://" in hint
    assert hint.startswith("the server answered in plain HTTP") is firm
    assert ("may have answered in plain HTTP" in hint) is not firm
    assert ("a proxy or firewall between" in hint) is not firm

"""A header or cookie refused from a secrets file names that file, never the secret.

With one secrets file per server (``harvester harvest idr-secrets.toml ...``), the refusal
``headers: the value of 'Authorization' holds a line break ...`` did not say which file held
it: the check ran when the client was built, after the file's name was gone. The config
now checks headers and cookies itself, so the error is said with the file's name, like
every other bad value read from a file. Each command runs as ``harvester ARGS`` (in the test
process, tests/cli_in_process.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harvest_helpers import run_cli as cli

from harvester.emulator import EmulatorThread

SECRET = "TOKEN-8c1f-SECRET"


@pytest.mark.parametrize(
    ("table", "error"),
    [
        (
            f'[headers]\nAuthorization = "Bearer {SECRET}\\nX-Evil: 1"\n',
            "headers: the value of 'Authorization' holds a line break, a control character"
            " or non-Latin-1 text",
        ),
        (
            f'[cookies]\nsessionid = "{SECRET}; admin=1"\n',
            "cookies: the value of 'sessionid' holds a space, ';', ',', a quote, a control"
            " character or non-Latin-1 text",
        ),
        (f'[headers]\n"X Key" = "{SECRET}"\n', "headers: 'X…' is not a valid header name"),
    ],
    ids=["header-line-break", "cookie-semicolon", "header-name"],
)
def test_a_refused_secret_names_its_file_and_never_its_value(
    tmp_path: Path, emulator: EmulatorThread, table: str, error: str
) -> None:
    """Of two secrets files, the bad one is named with its key; exit 2, no request sent,
    nothing written, and the secret is in no output (not with --debug either)."""
    good = tmp_path / "good-secrets.toml"
    good.write_text(f'base_url = "{emulator.base_url}"\n[headers]\nX-Key = "{SECRET}"\n')
    bad = tmp_path / "bad-secrets.toml"
    bad.write_text(f'base_url = "{emulator.base_url}"\n{table}')
    out = tmp_path / "out"
    emulator.reset_stats()
    for debug in ((), ("--debug",)):
        proc = cli("harvest", str(bad), "--plate", "7375", "--out", str(out), "-q", *debug)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[-1] == f"error: {bad}: {error}"
        assert SECRET not in proc.stderr + proc.stdout
        assert str(good) not in proc.stderr
    assert emulator.stats()["requests"] == 0
    assert not out.exists()


def test_a_secrets_file_others_can_read_is_said_once_with_its_chmod(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A config file holding [headers] that its group or others can read gets one warning
    line naming the tables (never a value) and the chmod; mode 600, or a file without
    credentials, none. The run goes on either way (a file may be shared on purpose)."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[headers]\nX-Api-Key = "KEY-s3cr3t-77"\n', encoding="utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text("concurrency = 2\n", encoding="utf-8")
    plain.chmod(0o644)
    said = f"holds credentials (headers) and other users can read it: chmod 600 {secrets}"
    for config, mode, expected in (
        (secrets, 0o644, 1),
        (secrets, 0o640, 0),
        (secrets, 0o600, 0),
        (plain, 0o644, 0),
    ):
        config.chmod(mode)
        out = tmp_path / f"d{mode:o}{config.stem}"
        proc = cli(
            "harvest", str(config), "--base-url", emulator.base_url, "--image", "9762957",
            "--artifacts", "thumbnail", "--out", str(out), "--rate", "none",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.count(said) == expected, (mode, proc.stderr)
        assert "KEY-s3cr3t-77" not in proc.stdout + proc.stderr
        if mode == 0o640:
            assert "holds credentials (headers) and its group can read it" in proc.stderr
    session = tmp_path / "session.toml"
    session.write_text(f'base_url = "{emulator.base_url}/?bsession=SK-s3cr3t-78"\n')
    session.chmod(0o604)
    proc = cli("harvest", str(session), "--image", "9762957", "--artifacts", "thumbnail",
               "--out", str(tmp_path / "s"), "--rate", "none", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # Said under --quiet too (problems only: this is one).
    assert f"{session} holds credentials (base_url) and other users can read it" in proc.stderr
    assert "SK-s3cr3t-78" not in proc.stdout + proc.stderr

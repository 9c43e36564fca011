"""Credentials (header, cookie, URL query secret) never reach output, logs or files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import DEMO_PROJECT, cli

from harvester.cli import main
from harvester.client import Client, ClientSettings, Expect
from harvester.config import HarvestConfig
from harvester.emulator import EmulatorThread
from harvester.pipeline import client_settings

SECRETS = ("AUTHSECRET1", "APIKEYSECRET2", "CUSTOMSECRET3", "COOKIESECRET4", "URLSECRET5")


def test_secrets_never_written(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest with secret headers, a cookie and ?bsession= in the base URL, under retried
    faults and permanent 404s, with --debug: the secrets appear in no stdout/stderr line and
    in no file of DIR (saved config, journals, index.csv, artifacts), and the run reports its
    failures (so error paths ran)."""
    emu = make_emulator(
        preset="demo", faults="503:8%,reset:4%,html200:3%,seed:3", migration_2026=True
    )
    out = tmp_path / "out"
    config = tmp_path / "private.toml"
    config.write_text(
        f'base_url = "{emu.base_url}/?bsession=URLSECRET5"\n'
        f"projects = [{DEMO_PROJECT}]\n"
        'rate = "none"\nmax_retries = 6\n'
        'artifacts = ["thumbnail", "metadata"]\nthumbnail_size = 64\n'
        "[headers]\n"
        'Authorization = "Bearer AUTHSECRET1"\n'
        '"X-Api-Key" = "APIKEYSECRET2"\n'
        '"X-Custom" = "CUSTOMSECRET3"\n'
        "[cookies]\n"
        'sessionid = "COOKIESECRET4"\n',
        encoding="utf-8",
    )
    proc = cli("harvest", str(config), "--out", str(out), "--debug")
    # Sized thumbnails answer 404 (IDR in 2026): permanent failures, listed with their URL.
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "failed: thumbnail of image" in proc.stderr
    assert "retry" in proc.stderr  # debug lines of the retried faults were written
    text = proc.stdout + proc.stderr
    for secret in SECRETS:
        assert secret not in text, (secret, [ln for ln in text.splitlines() if secret in ln][:3])
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.parent.parent.name == "runs" for p in files)  # the saved config exists
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (secret, str(path.relative_to(out)))
    # The same secrets were really sent (the emulator did not ignore the whole config).
    assert emu.stats()["requests"] > 20


@pytest.mark.parametrize("made_by", ["client", "run"])
async def test_base_url_query_sent_with_every_request(
    make_emulator: Callable[..., EmulatorThread], fake_app: Any, made_by: str
) -> None:
    """Regression: a base URL with ``?bsession=KEY`` keeps working (the key follows each
    request's own query instead of swallowing the path) and never shows in Fetched.url;
    also as a run builds its client from its configuration, which sent ``KEY/`` (the
    base URL's trailing slash was added after the query)."""
    emu = make_emulator(app=fake_app)
    url = f"{emu.base_url}/?bsession=URLSECRET5"
    settings = (
        ClientSettings(base_url=url, rate=None)
        if made_by == "client"
        else client_settings(HarvestConfig(base_url=url, rate=None))
    )
    async with Client(settings) as client:
        plain = (await client.get("json/a/", Expect.JSON)).json()
        queried = await client.get("json/b/?limit=2", Expect.JSON)
    assert plain["path"] == "/json/a/"
    assert plain["query"] == [["bsession", "URLSECRET5"]]
    assert queried.json()["query"] == [["limit", "2"], ["bsession", "URLSECRET5"]]
    assert "URLSECRET5" not in queried.url


def test_url_secret_on_the_command_line_not_echoed(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Regression: ``--base-url URL?bsession=KEY`` with failures: the printed 'rerun' command,
    the journals and the saved config show the URL without the key."""
    emu = make_emulator(preset="demo", migration_2026=True)
    out = tmp_path / "out"
    proc = cli(
        "harvest",
        "--base-url", f"{emu.base_url}/?bsession=URLSECRET5",
        "--project", str(DEMO_PROJECT),
        "--artifacts", "thumbnail",
        "--thumbnail-size", "64",
        "--out", str(out),
        "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    # 64 px thumbnails 404 for good on IDR 2026: the command comes with the 96 px hint.
    assert "; this folder resumes with: harvester harvest --base-url" in proc.stderr
    # What is printed works pasted back once URL is filled in: no REDACTED in the command.
    assert "harvester harvest --base-url URL --project" in proc.stderr
    assert f"  # URL: {emu.base_url}/ with its user or session again" in proc.stderr
    assert "URLSECRET5" not in proc.stdout + proc.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert b"URLSECRET5" not in path.read_bytes(), path


@pytest.mark.parametrize("when", ["before the configuration", "after the client"])
def test_an_internal_error_shows_no_credential(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    when: str,
) -> None:
    """A bug whose message quotes the base URL whole (a user-alone token, a query value), the
    token alone and, once the configuration is read, a header's value: the 'internal error'
    line shows none of them (it printed the exception's text as it was), and still names
    the bug; exit 1."""
    emu = make_emulator(preset="demo")
    tag = when.split()[0]  # values of this case alone: noted by nothing but what is tested
    token, query, header = f"TOKEN{tag}71", f"QUERY{tag}72", f"HEADER{tag}73"
    base_url = emu.base_url.replace("://", f"://{token}@") + f"/?sid={query}"
    config = tmp_path / "private.toml"
    config.write_text(f'[headers]\n"X-Api-Key" = "{header}"\n', encoding="utf-8")
    after = when == "after the client"
    said = f" with X-Api-Key: {header}" if after else ""

    def bug(*_args: object) -> None:
        raise RuntimeError(f"bug near {base_url}, {token}{said}")

    async def async_bug(*args: object) -> None:
        bug(*args)

    if after:
        monkeypatch.setattr("harvester.pipeline.probe_and_preconnect", async_bug)
    else:
        # (imported where it is called: harvester.cli.hpc binds refuse_targets_with_plan at
        # its import, which a patch of that one would outlive)
        monkeypatch.setattr("harvester.pipeline.resolve_config", bug)
    code = main(
        ["harvest", str(config), "--base-url", base_url, "--project", str(DEMO_PROJECT),
         "--out", str(tmp_path / "d"), "--rate", "none"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    shown = emu.base_url.replace("://", "://REDACTED@") + "/?sid=REDACTED"
    assert err.splitlines() == [
        f"error: internal error: RuntimeError: bug near {shown}, REDACTED"
        + (" with X-Api-Key: REDACTED" if after else ""),
        "hint: re-run with --debug for the traceback",
    ]


def test_a_debug_traceback_shows_no_credential(
    tmp_path: Path,
    make_emulator: Callable[..., EmulatorThread],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--debug`` asks for the traceback, not for the token: a bug's message quoting the
    base URL whole and a header's value is shown redacted in the traceback's last line too
    (it printed the exception as it was), and the traceback is still there."""
    emu = make_emulator(preset="demo")
    token, query, header = "TOKENdebug81", "QUERYdebug82", "HEADERdebug83"
    base_url = emu.base_url.replace("://", f"://{token}@") + f"/?sid={query}"
    config = tmp_path / "private.toml"
    config.write_text(f'[headers]\n"X-Api-Key" = "{header}"\n', encoding="utf-8")

    async def bug(*_args: object) -> None:
        raise RuntimeError(f"bug near {base_url}, {token} with X-Api-Key: {header}")

    monkeypatch.setattr("harvester.pipeline.probe_and_preconnect", bug)
    code = main(
        ["harvest", str(config), "--base-url", base_url, "--project", str(DEMO_PROJECT),
         "--out", str(tmp_path / "d"), "--rate", "none", "--debug"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback (most recent call last):" in err
    shown = emu.base_url.replace("://", "://REDACTED@") + "/?sid=REDACTED"
    assert f"RuntimeError: bug near {shown}, REDACTED with X-Api-Key: REDACTED" in err
    for secret in (token, query, header):
        assert secret not in err


def test_secrets_in_pasted_image_links_are_never_kept(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Image viewer links pasted with credentials (an iviewer link's ``bsession=`` and
    ``token=`` given to --image, ids file lines of a webgateway link with ``password=`` and
    a user's password, an iviewer link with a session key), harvested with --debug: no
    secret in any output line nor in any file of DIR, the harvest done; its resume, from
    DIR's record alone, asks nothing again."""
    emu = make_emulator(preset="demo")
    secrets = ("LINKSESSION6", "LINKTOKEN7", "LINKPASSWORD8", "USERPASSWORD9", "LINKSESSION10")
    ids = tmp_path / "ids.txt"
    ids.write_text(
        f"{emu.base_url}/webgateway/img_detail/9762958/?password={secrets[2]}\n"
        + emu.base_url.replace("://", f"://alice:{secrets[3]}@")
        + f"/iviewer/?images=9762959&bsession={secrets[4]}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    link = f"{emu.base_url}/iviewer/?images=9762957&bsession={secrets[0]}&token={secrets[1]}"
    proc = cli(
        "harvest", "--image", link, "--ids-from", str(ids), "--artifacts", "thumbnail,metadata",
        "--rate", "none", "--out", str(out), "--debug",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = cli("harvest", "--out", str(out), "--debug")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    text = proc.stdout + proc.stderr + resumed.stdout + resumed.stderr
    files = [path for path in out.rglob("*") if path.is_file()]
    assert len([p for p in files if p.name.endswith(".thumbnail.jpg")]) == 3
    for secret in secrets:
        assert secret not in text, [line for line in text.splitlines() if secret in line][:3]
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, str(path.relative_to(out)))

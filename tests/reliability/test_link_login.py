"""A pasted link's login (``https://alice:PW@host/webclient/?show=image-1``, or a token as
its user) is used as the same login given in ``--base-url`` is: sent to the link's server,
never shown, logged or saved. It was dropped without a word: the run asked the server
without it, and the hints naming the link's server left it out. Every command runs through
the real command line against the emulator (``--basic-auth``) over sockets."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import assert_no_file_holds, cli

from harvester.emulator import EmulatorThread

IMAGE = 9762957  # (an image of the demo screen)
PASSWORD = "LINKLOGIN-SECRET-4"
TOKEN = "linkt0ken-SECRET-5"


def _login_link(base_url: str, login: str, image: int = IMAGE) -> str:
    """A webclient link to ``image`` of ``base_url``, with ``login@`` before its host."""
    scheme, _, host = base_url.partition("://")
    return f"{scheme}://{login}@{host}/webclient/?show=image-{image}"


def _leaks(login: str) -> tuple[str, ...]:
    """Every spelling of the login's secret a leak could take: as typed, in Basic auth."""
    user, _, password = login.partition(":")
    secret = password or user
    return secret, base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("login", [f"alice:{PASSWORD}", TOKEN], ids=["password", "token"])
def test_a_links_login_is_used_and_never_written(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], login: str
) -> None:
    """A link holding a login given to --image with no --base-url, on a server behind
    Basic auth, with a permanent 404 (64 px thumbnails on a 2026 IDR) and --debug: the
    metadata comes (the login was sent), and the secret, in any spelling, is in no output
    line nor in any file of DIR (config.json, journals, index.csv); the printed command to
    run again names the server as URL, to be given with its login, as for --base-url's."""
    basic_auth = login if ":" in login else f"{login}:"  # (a token: user TOKEN, no password)
    emu = make_emulator(preset="demo", migration_2026=True, basic_auth=basic_auth)
    out = tmp_path / "out"
    proc = cli(
        "harvest", "--image", _login_link(emu.base_url, login), "--out", str(out),
        "--artifacts", "thumbnail,metadata", "--thumbnail-size", "64", "--rate", "none",
        "--debug",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "failed: thumbnail of image" in proc.stderr
    assert "HTTP 401" not in proc.stderr
    assert len(list((out / "images").rglob(f"{IMAGE}.metadata.json"))) == 1
    assert "--base-url URL" in proc.stderr, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    for leak in _leaks(login):
        assert leak not in text, [line for line in text.splitlines() if leak in line][:3]
    assert_no_file_holds(out, _leaks(login))


def test_a_link_of_another_server_names_its_login_redacted(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A link holding a login, of another server than --base-url's: exit 2, and the hint
    to ask the link's server keeps the login's place (its password REDACTED, said to be put
    back; it left the login out without a word), the password in no line; nothing written."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    link = _login_link(emu.base_url, f"alice:{PASSWORD}")
    proc = cli("harvest", "--image", link, "--base-url", "https://other.example", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "hint: give a link of the server asked, or ask the link's: --base-url "
        + emu.base_url.replace("://", "://alice:REDACTED@")
        + ", with the link's login for REDACTED"
    )
    assert PASSWORD not in proc.stdout + proc.stderr
    assert not out.exists()


def test_a_links_login_beside_another_base_url_login_is_said_unused(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--base-url with its own login and a link of that server holding another: the run
    asks with --base-url's (the server takes only that one) and one note says the link's is
    not used; neither secret shows."""
    emu = make_emulator(preset="demo", basic_auth=f"bob:{PASSWORD}")
    out = tmp_path / "out"
    scheme, _, host = emu.base_url.partition("://")
    proc = cli(
        "harvest", "--image", _login_link(emu.base_url, "alice:WRONG-SECRET-6"),
        "--base-url", f"{scheme}://bob:{PASSWORD}@{host}", "--out", str(out),
        "--artifacts", "metadata", "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "note: the login in the link given to --image is not used: the run asks with "
        f"--base-url {scheme}://bob:REDACTED@{host}'s (a run asks with one login)"
    ) in proc.stderr.splitlines()
    assert len(list((out / "images").rglob(f"{IMAGE}.metadata.json"))) == 1
    text = proc.stdout + proc.stderr
    assert PASSWORD not in text and "WRONG-SECRET-6" not in text


def test_a_links_login_beside_a_base_url_without_one_is_said_unused(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """--base-url with no login and a link of that server holding one: the run asks
    without it (as --base-url says) and one note says the link's login is not used and
    where to give it; the password in no line."""
    emu = make_emulator(preset="demo")
    out = tmp_path / "out"
    proc = cli(
        "harvest", "--image", _login_link(emu.base_url, f"alice:{PASSWORD}"),
        "--base-url", emu.base_url, "--out", str(out), "--artifacts", "metadata",
        "--rate", "none",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "note: the login in the link given to --image is not used: --base-url "
        f"{emu.base_url} holds none, and the run asks without one (give it there to use it)"
    ) in proc.stderr.splitlines()
    assert PASSWORD not in proc.stdout + proc.stderr


def test_an_ids_file_link_of_another_server_names_its_login_redacted(tmp_path: Path) -> None:
    """An ids file's link holding a login, of another server than the run's: the hint to
    ask the link's server keeps the login's place, its password REDACTED; exit 2."""
    ids = tmp_path / "ids.txt"
    ids.write_text(_login_link("https://idr.example", f"alice:{PASSWORD}") + "\n")
    out = tmp_path / "out"
    proc = cli(
        "harvest", "--ids-from", str(ids), "--base-url", "https://other.example",
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        "give --base-url https://alice:REDACTED@idr.example, with the link's login for REDACTED"
    ) in proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr


def test_slurm_refuses_a_links_login_naming_the_link(tmp_path: Path) -> None:
    """`harvester slurm --image LINK` whose link holds a login: refused as a --base-url
    holding one is (its script would spell it out), naming the link, not a --base-url the
    user never gave; exit 2, no script, the password in no line."""
    out = tmp_path / "out"
    proc = cli(
        "slurm", "--image", _login_link("https://idr.example", f"alice:{PASSWORD}"),
        "--out", str(out), "--tasks", "2",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "error: the link given to --image holds a login, which harvest.sbatch would spell out"
        " on every task's command line",
        "hint: give the link without its login, and base_url with it in the config file (the"
        " script passes the file by name); keep that file private",
    ]
    assert PASSWORD not in proc.stdout + proc.stderr
    assert not (out / "harvest.sbatch").exists()


def test_a_link_given_as_the_base_url_keeps_its_login_redacted_in_the_hint(
    tmp_path: Path,
) -> None:
    """``--base-url LINK`` (a login in it) and no target: the hint's --base-url keeps the
    login's place, its password REDACTED and said to be put back (it was left out without
    a word); exit 2, the password in no line."""
    link = _login_link("https://idr.example", f"alice:{PASSWORD}")
    proc = cli("harvest", "--base-url", link, "--out", str(tmp_path / "D"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "hint: --base-url is a link to an image, not the server's address: give what it shows"
        f" to the target flags: --image {IMAGE} --base-url https://alice:REDACTED@idr.example,"
        " with the link's login for REDACTED"
    )
    assert PASSWORD not in proc.stdout + proc.stderr


def test_a_link_in_a_config_file_keeps_its_login_redacted_in_the_hint(tmp_path: Path) -> None:
    """``images = [LINK]`` in a config file (a login in the link): the hint's base_url keeps
    the login's place, its password REDACTED and said to be put back; exit 2."""
    config = tmp_path / "c.toml"
    link = _login_link("https://idr.example", f"alice:{PASSWORD}")
    config.write_text(f'images = ["{link}"]\n', encoding="utf-8")
    proc = cli("harvest", str(config), "--out", str(tmp_path / "D"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"hint: give the ids it shows: images = [{IMAGE}], base_url = "
        "'https://alice:REDACTED@idr.example', with the link's login for REDACTED (a link is"
        " taken by --image LINK)"
    )
    assert PASSWORD not in proc.stdout + proc.stderr


@pytest.mark.parametrize("given", ["flag", "ids file", "config file", "as the config file"])
def test_a_link_whose_login_holds_a_bracket_is_refused_redacted(tmp_path: Path, given: str) -> None:
    """A link whose password holds an unmatched '[' (urllib's "Invalid IPv6 URL"): one
    error naming the link with its password REDACTED, exit 2, wherever it is given. It was
    ``invalid image target value: 'https://alice:p[...'`` (the password spelt out) after
    --image, and an internal error in an ids file, a config file, or as the config file."""
    link = _login_link("https://idr.example", f"alice:p[{PASSWORD}")
    out = str(tmp_path / "D")
    if given == "flag":
        proc = cli("harvest", "--image", link, "--out", out)
    elif given == "ids file":
        (tmp_path / "ids.txt").write_text(link + "\n", encoding="utf-8")
        proc = cli(
            "harvest", "--ids-from", str(tmp_path / "ids.txt"),
            "--base-url", "https://idr.example", "--out", out,
        )  # fmt: skip
    elif given == "config file":
        (tmp_path / "c.toml").write_text(f'images = ["{link}"]\n', encoding="utf-8")
        proc = cli("harvest", str(tmp_path / "c.toml"), "--out", out)
    else:
        proc = cli("harvest", link, "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], lines
    assert "'https://alice:REDACTED@idr.example/webclient/'" in lines[0], lines
    assert PASSWORD not in proc.stdout + proc.stderr
    assert not (tmp_path / "D").exists()

"""A run into a folder, given no ``--base-url``, asks the server the folder was harvested from.

Image ids are one server's: topping up a private server's folder with ``--ids-from
retry.txt --out DIR`` (the ``status --failed-ids`` recipe) and no ``--base-url`` asked IDR,
the default, and mixed another server's images in. Every test talks to the emulator over
real sockets; IDR itself is never asked (it is out of reach here: a run that asked it would
fail with "cannot reach").
"""

from __future__ import annotations

import json
import shlex
import socket
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

import pytest
from harvest_helpers import SMALL_PLATE, harvest, run_cli

from harvester.cli.harvest import base_url_given
from harvester.config import DEFAULT_BASE_URL, HarvestConfig, folder_server
from harvester.emulator import EmulatorThread

OTHER_PLATE = 7372  # another plate of the demo screen (8 images)


def test_a_run_without_base_url_asks_the_folders_server(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run without --base-url asks the server the folder was harvested from (said unless -q)."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    ids = tmp_path / "retry.txt"
    ids.write_text("1884801\n")  # an image of the demo project, not yet in DIR

    # --rate none on every run: at the default 10/s they waited 4 s, here for nothing.
    done = run_cli("harvest", "--out", str(out), "--ids-from", str(ids), "--artifacts", "thumbnail",
                   "--rate", "none")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"asking {emulator.base_url}, the server {out} was harvested from" in done.stderr
    assert "cannot reach" not in done.stderr and "mixed in" not in done.stderr
    assert list((out / "images").rglob("1884801.thumbnail.jpg"))

    quiet = run_cli(
        "harvest", "--out", str(out), "--plate", str(OTHER_PLATE), "-q", "--rate", "none"
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""  # --quiet: the line is not said, the server still the folder's
    assert len(list((out / "images").rglob("*.thumbnail.jpg"))) == 1 + 8 + 8


def test_a_base_url_given_is_asked_with_the_other_server_warning(
    tmp_path: Path, emulator: EmulatorThread, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A --base-url other than the folder's is obeyed, with a warning naming the folder's server."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    other = make_emulator(preset="demo")
    given = run_cli(
        "harvest", "--out", str(out), "--plate", str(SMALL_PLATE), "--base-url", other.base_url,
        "--rate", "none",  # (3 s at the default 10/s)
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert "the server" not in given.stderr  # the flag is obeyed...
    assert f"{out} was harvested from {emulator.base_url}" in given.stderr  # ...and warned of


def test_a_config_file_naming_the_server_counts_as_given(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Even naming the default (IDR) itself: the file said which server, it is obeyed."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    cfg = HarvestConfig(out=out, plates=(SMALL_PLATE,))
    conf = tmp_path / "c.toml"
    conf.write_text(f'base_url = "{DEFAULT_BASE_URL}"\n')
    assert base_url_given(Namespace(config=conf, base_url=None), cfg)
    conf.write_text("concurrency = 4\n")
    assert not base_url_given(Namespace(config=conf, base_url=None), cfg)
    assert folder_server(cfg, given=True) == (cfg, None)
    moved, line = folder_server(cfg, given=False)
    assert moved.base_url == emulator.base_url and line is not None


def test_a_folder_whose_server_url_held_credentials_refuses_a_run_without_base_url(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """The URL of a run with a session key is never saved: a run given new targets and no
    ``--base-url`` asked IDR ("cannot reach", nothing saying why; or IDR's images mixed into
    the private folder). It is refused, exit 2, naming the server without the credentials."""
    out = tmp_path / "c1"
    secret = f"{emulator.base_url}/?bsession=s3cr3t"
    summary = harvest(secret, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    assert summary.exit_code == 0
    before = sorted(p.name for p in (out / "runs").iterdir())
    emulator.reset_stats()

    refused = run_cli("harvest", "--out", str(out), "--image", "9762957")
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "needs credentials that are not saved" in lines[0]
    assert f"{emulator.base_url}/" in lines[0]  # the server, named without its key
    assert "--base-url" in lines[1]
    assert "s3cr3t" not in refused.stderr + refused.stdout
    assert "cannot reach" not in refused.stderr and "Traceback" not in refused.stderr
    assert emulator.stats()["requests"] == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == before  # no run recorded

    for command in (
        ["plan", "--out", str(out), "--image", "9762957"],
        ["slurm", "--out", str(out), "--image", "9762957", "--tasks", "2"],
    ):
        other = run_cli(*command)
        assert other.returncode == 2, other.stderr
        assert "needs credentials that are not saved" in other.stderr
        assert "s3cr3t" not in other.stderr + other.stdout

    # Given again, the run goes on, and still saves no credential.
    again = run_cli("harvest", "--out", str(out), "--image", "9762957", "--base-url", secret)
    assert again.returncode == 0, again.stderr
    assert "s3cr3t" not in again.stderr + again.stdout
    assert not any("s3cr3t" in p.read_text() for p in (out / "runs").rglob("*.json"))
    cfg = HarvestConfig(out=out, plates=(SMALL_PLATE,))
    assert folder_server(cfg, given=True) == (cfg, None)


def test_a_token_saved_in_an_old_runs_base_url_is_asked_for_again_never_spelt(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """A run saved before 0.1.13 may keep a token as its base URL's user (in its config
    alone, so no scrub rewrote it): it is read as a record saved now, the URL withheld, so
    a run given no ``--base-url`` is refused asking for it again (as after the scrub),
    naming the server redacted; given the URL again, the run goes on."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    (saved,) = (out / "runs").glob("*/config.json")
    data = json.loads(saved.read_text())
    tokened = emulator.base_url.replace("://", "://tok3n5ecret@")
    data["config"]["base_url"] = tokened
    saved.write_text(json.dumps(data))

    refused = run_cli("harvest", "--out", str(out), "--image", "1884801", "--artifacts",
                      "thumbnail", "--rate", "none")  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "tok3n5ecret" not in refused.stderr + refused.stdout
    redacted = emulator.base_url.replace("://", "://REDACTED@")
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert "needs credentials that are not saved" in error and redacted in error, error
    done = run_cli("harvest", "--out", str(out), "--base-url", tokened, "--image", "1884801",
                   "--artifacts", "thumbnail", "--rate", "none")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "images").is_dir()


def test_harvester_slurm_names_the_folders_server_in_its_script(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """slurm in a harvested folder writes the folder's server into its script."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    wrote = run_cli("slurm", "--out", str(out), "--plate", str(OTHER_PLATE), "--tasks", "2")
    assert wrote.returncode == 0, wrote.stderr
    assert f"asking {emulator.base_url}, the server {out} was harvested from" in wrote.stdout
    assert "not checked here" not in wrote.stdout  # the check asked the folder's server
    script = (out / "harvest.sbatch").read_text()
    exec_line = next(line for line in script.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line.removeprefix("exec "))
    assert words[words.index("--base-url") + 1] == emulator.base_url


def test_harvester_plan_in_a_harvested_folder_plans_on_its_server(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """plan in a harvested folder plans on the server the folder was harvested from."""
    out = tmp_path / "d"
    harvest(emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    planned = run_cli("plan", "--out", str(out), "--plate", str(OTHER_PLATE))
    assert planned.returncode == 0, planned.stderr
    assert f"asking {emulator.base_url}, the server {out} was harvested from" in planned.stdout
    assert json.loads((out / "plan" / "plan.json").read_text())["base_url"] == emulator.base_url


def test_a_folder_harvested_with_headers_or_cookies_refuses_a_run_without_them(
    tmp_path: Path, emulator: EmulatorThread
) -> None:
    """Headers and cookies are never saved, the URL is: a run given new targets and none of
    them asked the folder's server without its credentials (an OMERO.web with a public user
    answers with the public images only, so a private folder's ids came back "not found").
    As for credentials in the URL, it is refused, exit 2, before any request, naming what to
    give again and never its value; given again in a config file, the run goes on."""
    out = tmp_path / "h1"
    summary = harvest(
        emulator.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",),
        headers={"Authorization": "Bearer HDR-s3cr3t"}, cookies={"sessionid": "CK-s3cr3t"},
    )  # fmt: skip
    assert summary.exit_code == 0
    before = sorted(p.name for p in (out / "runs").iterdir())
    emulator.reset_stats()

    for command in (
        ["harvest", "--out", str(out), "--image", "9762957"],
        ["plan", "--out", str(out), "--image", "9762957"],
        ["slurm", "--out", str(out), "--image", "9762957", "--tasks", "2"],
    ):
        refused = run_cli(*command)
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.splitlines()
        assert len(lines) == 2, refused.stderr
        assert lines[0] == (
            f"error: {out}'s server needs credentials that are not saved: its newest run "
            f"({before[-1]}) asked {emulator.base_url} with headers (Authorization) and "
            "cookies (sessionid)"
        )
        assert lines[1].startswith("hint: give headers = {...} and cookies = {...} again")
        assert "s3cr3t" not in refused.stderr + refused.stdout
    assert emulator.stats()["requests"] == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == before  # no run recorded

    half = tmp_path / "half.toml"
    half.write_text('[headers]\nAuthorization = "Bearer HDR-s3cr3t"\n')
    half.chmod(0o600)  # its owner's alone, as the README says (else one warning line)
    refused = run_cli("harvest", str(half), "--out", str(out), "--image", "9762957")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines()[0].endswith(f"{emulator.base_url} with cookies (sessionid)")

    secrets = tmp_path / "secrets.toml"
    secrets.write_text(half.read_text() + '[cookies]\nsessionid = "CK-s3cr3t"\n')
    again = run_cli("harvest", str(secrets), "--out", str(out), "--image", "9762957",
                    "--rate", "none")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"asking {emulator.base_url}, the server {out} was harvested from" in again.stderr
    assert "s3cr3t" not in again.stderr + again.stdout
    assert not any("s3cr3t" in p.read_text() for p in (out / "runs").rglob("*.json"))


def _ipv6_loopback() -> bool:
    """Whether this machine can listen on ``::1`` (some containers have no IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_folder_of_an_ipv6_server_resumes_on_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder harvested from http://[::1]:PORT/ saves that URL with its brackets, so
    `harvest --out DIR` resumes on it (it saved http://::1:PORT/ and refused the resume as
    damaged settings, exit 2)."""
    if not _ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    emu = make_emulator(preset="demo", host="::1")
    assert emu.base_url.startswith("http://[::1]:"), emu.base_url
    out = tmp_path / "v6"
    harvest(emu.base_url, out, plates=(SMALL_PLATE,), artifacts=("thumbnail",))
    (saved,) = (out / "runs").glob("*/config.json")
    assert json.loads(saved.read_text())["config"]["base_url"].startswith("http://[::1]:")
    next(out.rglob("*.thumbnail.jpg")).unlink()
    assert run_cli("verify", str(out)).returncode == 1
    resumed = run_cli("harvest", "--out", str(out), "--rate", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert len(list(out.rglob("*.thumbnail.jpg"))) == 8

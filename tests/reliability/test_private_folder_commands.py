"""Commands printed for a folder of a private server behind Basic auth (``user:password@``
in ``--base-url``, never saved) work as their notes say: a split's resume carries both the
shard and ``--base-url URL`` and names the server; ``harvester slurm`` is told to put the
URL in a config file, which it takes."""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from reliability_helpers import SMALL_PLATE, cli

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec

USER = "alice"
PASSWORD = "s3cr@tPW"


def _with_credentials(base_url: str) -> str:
    """``base_url`` with ``alice:s3cr%40tPW@`` in it."""
    scheme, _, host = base_url.partition("://")
    return f"{scheme}://{USER}:{quote(PASSWORD, safe='')}@{host}"


def _command(line: str, url: str) -> list[str]:
    """The command of a printed line (after ``run:`` or ``to resume:``, before its ``#``
    note), with ``URL`` replaced by ``url`` as the note asks, as words."""
    command = line.split(": ", 1)[1].split("  # ", 1)[0]
    words = shlex.split(command)
    assert words[:2] == ["harvester", "harvest"], line
    return [url if word == "URL" else word for word in words[1:]]


def _private_emulator(make_emulator: Callable[..., EmulatorThread], **more: str) -> EmulatorThread:
    """The demo emulator behind HTTP Basic auth (alice's), with ``more`` options."""
    return make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}", **more)


def _harvested_with_credentials(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, str]:
    """DIR holding a harvest of a plate's thumbnails through ``--base-url`` with alice's
    ``user:password@``; DIR and that URL."""
    out = tmp_path / "private"
    url = _with_credentials(emu.base_url)
    first = cli("harvest", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(out),
                "--artifacts", "thumbnail", "--rate", "none")  # fmt: skip
    assert first.returncode == 0, first.stderr
    return out, url


def _secrets_with_header(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, str]:
    """A config file naming ``emu`` and sending alice's credentials as an Authorization
    header (``rate = "none"``); the file and the header's Basic value."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'base_url = "{emu.base_url}"\nrate = "none"\n[headers]\nAuthorization = "Basic {token}"\n',
        encoding="utf-8",
    )
    return secrets, token


def _pasted_with(command: str, secrets: Path) -> list[str]:
    """A printed ``harvester ...`` command as pasted back, ``SECRETS.toml`` given as
    ``secrets``: its words after ``harvester``."""
    return [str(secrets) if word == "SECRETS.toml" else word for word in shlex.split(command)[1:]]


def _pending(out: Path) -> int:
    """The artifacts `status DIR --json` counts as pending (the plan's not reached too)."""
    status = cli("status", str(out), "--json")
    assert status.returncode == 0, status.stderr
    return int(json.loads(status.stdout)["totals"]["pending"])


def _half_harvested_split(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, str]:
    """DIR holding a plan of a plate, made with credentials, and its shard 0/2 harvested."""
    out = tmp_path / "private"
    url = _with_credentials(emu.base_url)
    planned = cli("plan", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(out))
    assert planned.returncode == 0, planned.stderr
    first = cli(
        "harvest", "--out", str(out), "--from-plan", str(out), "--base-url", url,
        "--shard", "0/2", "--artifacts", "thumbnail",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    return out, url


def test_status_resume_of_a_private_split_names_the_url_and_works(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`status`'s resume line for a split whose runs sent credentials in --base-url says
    `--base-url URL --shard 1/2`, names the server in its note, and pasted with URL
    filled in it harvests the rest: status then has nothing pending."""
    emu = _private_emulator(make_emulator)
    out, url = _half_harvested_split(tmp_path, emu)
    status = cli("status", str(out))
    line = next(ln for ln in status.stdout.splitlines() if ln.startswith("to resume:"))
    assert "--shard 1/2" in line and "--base-url URL" in line, line
    assert emu.base_url.split("://")[1] in line.split("  # ", 1)[1], line
    resumed = cli(*_command(line, url))
    assert resumed.returncode == 0, resumed.stderr
    assert _pending(out) == 0


def test_a_shard_resumed_without_its_url_is_told_the_command_with_both(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvest --out DIR --shard 1/2` given no credentials is refused, exit 2, with a
    command that keeps `--shard 1/2` and adds `--base-url URL`; that command, URL filled
    in, harvests the shard (before, the hint dropped the shard, and its own hint then
    dropped the URL)."""
    emu = _private_emulator(make_emulator)
    out, url = _half_harvested_split(tmp_path, emu)
    refused = cli("harvest", "--out", str(out), "--shard", "1/2")
    assert refused.returncode == 2, refused.stderr
    hint = next(ln for ln in refused.stderr.splitlines() if ln.startswith("hint: run:"))
    assert "--shard 1/2" in hint and "--base-url URL" in hint, hint
    resumed = cli(*_command(hint.removeprefix("hint: "), url))
    assert resumed.returncode == 0, resumed.stderr
    assert _pending(out) == 0


def test_slurm_into_a_private_folder_is_told_the_config_file_and_takes_it(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm --out DIR` into a folder harvested with credentials in --base-url is
    refused, exit 2, with a hint to give base_url in a config file (it said to give
    --base-url again, which slurm refuses); so given, the script is written without the
    password in it."""
    emu = _private_emulator(make_emulator)
    out, url = _harvested_with_credentials(tmp_path, emu)
    flags = ("--out", str(out), "--plate", str(SMALL_PLATE), "--tasks", "2")
    refused = cli("slurm", *flags)
    assert refused.returncode == 2, refused.stderr
    assert "hint: give base_url with them again in a config file" in refused.stderr
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'base_url = "{url}"\n', encoding="utf-8")
    written = cli("slurm", str(secrets), *flags)
    assert written.returncode == 0, written.stderr
    script = (out / "harvest.sbatch").read_text(encoding="utf-8")
    assert str(secrets) in script
    assert PASSWORD not in script and quote(PASSWORD, safe="") not in script


def test_forget_undo_of_a_set_sent_with_headers_names_the_config_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester forget` of a set harvested with an Authorization header from a config
    file prints an undo command with SECRETS.toml and a note saying what goes there (it
    named neither, and pasted as printed it was refused 401); with the file in its place
    the set is taken back, exit 0, and the header's value is in no output."""
    emu = _private_emulator(make_emulator)
    secrets, token = _secrets_with_header(tmp_path, emu)
    out = tmp_path / "private"
    first = cli("harvest", str(secrets), "--plate", str(SMALL_PLATE), "--out", str(out),
                "--artifacts", "thumbnail")  # fmt: skip
    assert first.returncode == 0, first.stderr
    forgot = cli("forget", str(out), "--plate", str(SMALL_PLATE))
    assert forgot.returncode == 0, forgot.stderr
    line = forgot.stdout.strip()
    assert "SECRETS.toml" in line.split("  # ", 1)[0], line
    assert "SECRETS.toml: headers = {...} again" in line.split("  # ", 1)[1], line
    undo = line.split("run its targets again: ", 1)[1].split("  # ", 1)[0]
    again = cli(*_pasted_with(undo, secrets))
    assert again.returncode == 0, again.stderr
    assert "is resumed again" in again.stderr + again.stdout
    for text in (first, forgot, again):
        assert token not in text.stdout + text.stderr


def test_status_retry_of_dropped_kinds_sent_with_headers_names_the_config_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """Renders failed, then dropped (`--artifacts thumbnail`), in a folder harvested with an
    Authorization header from a config file: status's command to try them again names
    SECRETS.toml (it named none, and asked as nobody: 401); pasted with the file, the
    renders come."""
    emu = _private_emulator(make_emulator, faults="500:100%,only:image:render")
    secrets, token = _secrets_with_header(tmp_path, emu)
    out = tmp_path / "private"
    flags = ("--plate", str(SMALL_PLATE), "--out", str(out), "--max-retries", "0")
    first = cli("harvest", str(secrets), *flags, "--artifacts", "thumbnail,render")
    assert first.returncode == 1, first.stderr
    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again
    dropped = cli("harvest", str(secrets), *flags, "--artifacts", "thumbnail")
    assert dropped.returncode == 0, dropped.stderr
    status = cli("status", str(out))
    line = next(ln for ln in status.stdout.splitlines() if "not asked for any more" in ln)
    command, note = line.split("to try them again: ", 1)[1].split("  # ", 1)
    assert "SECRETS.toml" in command and "SECRETS.toml: headers = {...} again" in note, line
    again = cli(*_pasted_with(command, secrets))
    assert again.returncode == 0, again.stderr
    assert len(list(out.rglob("*.render.jpg"))) == 8


def test_slurm_given_no_targets_in_a_private_folder_names_the_config_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm --out DIR --tasks N` (no targets) in a folder harvested with
    credentials in --base-url: the hint's command names SECRETS.toml and what goes in it
    (as printed before, it was refused as needing them); with the file, it writes the
    script."""
    emu = _private_emulator(make_emulator)
    out, url = _harvested_with_credentials(tmp_path, emu)
    refused = cli("slurm", "--out", str(out), "--tasks", "2")
    assert refused.returncode == 2, refused.stderr
    hint = refused.stderr.splitlines()[-1]
    command, note = hint.split("newest run: ", 1)[1].split("  # ", 1)
    assert note == "SECRETS.toml: base_url with its user or session again", hint
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'base_url = "{url}"\n', encoding="utf-8")
    written = cli(*[("2" if w == "N" else w) for w in _pasted_with(command, secrets)])
    assert written.returncode == 0, written.stderr
    assert (out / "harvest.sbatch").is_file()


def test_slurm_given_no_targets_by_a_private_plan_names_the_config_file(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`harvester slurm --out DIR --tasks N` (no targets) where DIR holds a plan made with
    credentials in --base-url: the hint's command for the plan names SECRETS.toml and what
    goes in it (without it, that command was refused as needing them); pasted with the
    file, it writes the script, without the password in it."""
    emu = make_emulator(preset="demo", basic_auth=f"{USER}:{PASSWORD}")
    out = tmp_path / "private"
    url = _with_credentials(emu.base_url)
    planned = cli("plan", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(out))
    assert planned.returncode == 0, planned.stderr
    refused = cli("slurm", "--out", str(out), "--tasks", "2")
    assert refused.returncode == 2, refused.stderr
    hint = refused.stderr.splitlines()[-1]
    command, note = hint.split("harvest its plan: ", 1)[1].split("  # ", 1)
    assert note == "SECRETS.toml: base_url with its user or session again", hint
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'base_url = "{url}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    words = [str(secrets) if w == "SECRETS.toml" else w for w in shlex.split(command)]
    written = cli(*[("2" if w == "N" else w) for w in words[1:]])
    assert written.returncode == 0, written.stderr
    script = (out / "harvest.sbatch").read_text(encoding="utf-8")
    assert PASSWORD not in script and quote(PASSWORD, safe="") not in script

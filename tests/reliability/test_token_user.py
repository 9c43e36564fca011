"""A ``--base-url`` user without a password (``https://TOKEN@host``, how many services take an
access token) is a credential, like a password: sent as HTTP Basic ``TOKEN:``, never saved,
printed or logged, asked for again by a resume, refused by ``slurm``. Every command runs
through the real command line against the emulator (``--basic-auth TOKEN:``) over sockets."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_helpers import (
    DEMO_PROJECT,
    SMALL_PLATE,
    assert_no_file_holds,
    cli,
    harvest_with_debug_and_faults,
)

from harvester.emulator import EmulatorThread
from harvester.emulator.faults import FaultInjector, FaultSpec
from harvester.errors import REDACTED

TOKEN = "tok3n-S3CRET-9f2a"
#: Every spelling of the token a leak could take: as typed, and inside the Basic value.
LEAKS = (TOKEN, base64.b64encode(f"{TOKEN}:".encode()).decode())
#: Every thumbnail fails (500), nothing else: a first run that leaves work to resume.
BROKEN_THUMBNAILS = "500:100%,only:image:thumbnail"


def _with_token(base_url: str, token: str = TOKEN) -> str:
    """``base_url`` with ``token@`` as its user, and no password."""
    scheme, _, host = base_url.partition("://")
    return f"{scheme}://{token}@{host}"


def _leaked(text: str) -> list[str]:
    """The lines of ``text`` that hold the token in any spelling."""
    return [line for line in text.splitlines() if any(leak in line for leak in LEAKS)]


def _thumbnails(out: Path) -> int:
    return len(list((out / "images").rglob("*.jpg")))


def test_a_token_as_user_is_sent_and_never_written_or_shown(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A harvest of a server taking a token as the Basic-auth user, with retried faults,
    permanent 404s and --debug, then status and verify of DIR: every image comes (the token
    was sent), and the token, typed or as the Basic value, is in no output and no file of
    DIR (saved config, journals, index.csv); the saved command line shows REDACTED@host."""
    emu = make_emulator(
        preset="demo",
        faults="503:8%,reset:4%,seed:3",
        migration_2026=True,
        basic_auth=f"{TOKEN}:",
    )
    out = tmp_path / "out"
    proc = harvest_with_debug_and_faults(_with_token(emu.base_url), out)
    assert "retry" in proc.stderr  # debug lines of the retried faults were written
    outputs = {"harvest": proc.stdout + proc.stderr}
    for argv in (["status", str(out)], ["status", str(out), "--json"], ["verify", str(out)]):
        later = cli(*argv)
        assert "Traceback" not in later.stderr, later.stderr
        outputs[" ".join(argv[:1] + argv[2:])] = later.stdout + later.stderr
    for name, text in outputs.items():
        assert not _leaked(text), (name, _leaked(text)[:3])
    files = assert_no_file_holds(out, LEAKS)
    configs = [p for p in files if p.name == "config.json" and p.parent.parent.name == "runs"]
    assert f"http://REDACTED@{emu.base_url.partition('://')[2]}" in configs[0].read_text()


def test_a_resume_asks_for_the_token_again(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """A folder harvested with TOKEN@host and left with failures: `harvest --out DIR` and
    `slurm --out DIR` are refused (exit 2, "credentials that are not saved"), a wrong token
    is refused naming the URL as REDACTED@host, and the resume given the token fetches the
    rest (exit 0); the token shows in no output."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS, basic_auth=f"{TOKEN}:")
    out = tmp_path / "out"
    url = _with_token(emu.base_url)
    first = cli(
        "harvest", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--artifacts", "thumbnail", "--max-retries", "0", "--rate", "none",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert _thumbnails(out) == 0
    # The printed command to run again names the URL as URL, to be given with its user.
    assert "--base-url URL" in first.stderr, first.stderr
    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again

    refused = cli("harvest", "--out", str(out))
    assert refused.returncode == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, refused.stderr
    assert "sent credentials in its --base-url, which are never saved" in errors[0]
    # (the note names the server URL stands for, saved without its token)
    said = f"--out {out} --base-url URL  # URL: {emu.base_url.rstrip('/')} with its user"
    assert said in refused.stderr, refused.stderr
    slurm = cli("slurm", "--out", str(out), "--plate", str(SMALL_PLATE), "--tasks", "2")
    assert slurm.returncode == 2, slurm.stderr
    assert "server needs credentials that are not saved" in slurm.stderr
    assert "hint: give base_url with them again in a config file" in slurm.stderr
    assert not (out / "harvest.sbatch").exists()
    wrong = cli("harvest", "--out", str(out), "--base-url", _with_token(emu.base_url, "nope"))
    assert wrong.returncode == 2, wrong.stderr
    shown = emu.base_url.replace("://", "://REDACTED@")
    assert f"error: {shown}/ refused the credentials sent" in wrong.stderr, wrong.stderr
    assert _thumbnails(out) == 0

    resumed = cli("harvest", "--out", str(out), "--base-url", url)
    assert resumed.returncode == 0, resumed.stderr
    assert _thumbnails(out) == 8
    for proc in (first, refused, slurm, wrong, resumed):
        text = proc.stdout + proc.stderr
        assert not _leaked(text), _leaked(text)[:3]
        assert "Traceback" not in text


def test_slurm_refuses_a_token_in_base_url(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """`slurm --base-url TOKEN@host`: refused before any script is written (it would spell
    the token out on every task's command line), the hint naming the config file."""
    emu = make_emulator(preset="demo", basic_auth=f"{TOKEN}:")
    out = tmp_path / "out"
    proc = cli(
        "slurm", "--out", str(out), "--base-url", _with_token(emu.base_url),
        "--project", str(DEMO_PROJECT), "--tasks", "2",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: --base-url holds a user or password, or a query"), lines
    assert lines[1].startswith("hint: put base_url in the config file"), lines
    assert not (out / "harvest.sbatch").exists()
    assert not _leaked(proc.stdout + proc.stderr)


@pytest.mark.parametrize("host", ["omero_web:4080", "bücher.invalid", "Omero-Web_1.lab:8080"])
def test_a_token_cut_short_before_any_host_name_is_refused_unshown(
    tmp_path: Path, host: str
) -> None:
    """`http://TOK/EN@HOST` before a host with a '_' (a docker-compose service) or a
    non-ASCII name is refused, exit 2, without the token; it was taken as the host TOK and
    the unreachable host's error showed the token."""
    out = tmp_path / "out"
    proc = cli(
        "harvest", "--base-url", f"http://{TOKEN}/tail@{host}/", "--plate", str(SMALL_PLATE),
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"error: --base-url: 'http://REDACTED@{host}/': a '/'"), first
    assert not _leaked(proc.stdout + proc.stderr) and "tail" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "typed",
    [
        f"http//{TOKEN}@h.invalid/",  # the scheme's ':' left out
        f"https:/{TOKEN}@h.invalid/",  # one '/' of two
        f"https:/{TOKEN}@h.invalid/?bsession=k3y-S3CRET",
        f"ftp://tok/{TOKEN}@h.invalid/",  # another scheme, and a token's '/' cut it short
        f"tok/{TOKEN}@omero_web:4080",  # no scheme, the same cut
    ],
)
def test_a_mistyped_url_refused_as_no_url_shows_no_token(typed: str) -> None:
    """A --base-url with a token as its user, refused as no http(s) URL (a scheme mistyped
    or left out, or a token's '/' before the '@'): exit 2, and the refusal names it without
    the token; it was shown whole."""
    proc = cli("harvest", "--base-url", typed, "--plate", str(SMALL_PLATE), "--out", "unused")
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: --base-url: '") and "is not an http(s) URL" in first, first
    assert f"{REDACTED}@" in first and not _leaked(proc.stderr), first
    assert "tok/" not in first and "k3y" not in first, first


def _folder_from_before_0_1_13(out: Path, url: str, base_url: str) -> tuple[Path, Path]:
    """DIR harvested with ``url`` (TOKEN@host), then given the records a run before 0.1.13
    wrote, by hand: the saved command line's --base-url word in the clear, in the run's
    saved record and in its journal's run record. Returns (that record, that journal)."""
    first = cli(
        "harvest", "--base-url", url, "--plate", str(SMALL_PLATE), "--out", str(out),
        "--artifacts", "thumbnail", "--max-retries", "0", "--rate", "none",
    )  # fmt: skip
    assert first.returncode == 1, first.stderr  # thumbnails broken: work left to resume
    (record,) = (out / "runs").glob("*/config.json")
    shown = base_url.replace("://", f"://{REDACTED}@")
    saved = json.loads(record.read_text())
    assert shown in saved["argv"]
    saved["argv"] = [url if word == shown else word for word in saved["argv"]]
    saved["version"] = "0.1.12"
    record.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    (journal,) = (out / "journals").glob("*.jsonl")
    old_journal = journal.read_text().replace(f'"{shown}"', f'"{url}"', 1)
    assert url in old_journal
    journal.write_text(old_journal)
    return record, journal


@pytest.mark.parametrize(
    "opened_by", ["status", "verify", "harvest", "plan", "index", "slurm", "forget"]
)
def test_a_token_saved_before_0_1_13_is_redacted_when_the_folder_is_opened(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], opened_by: str
) -> None:
    """A folder whose saved run record holds the token in its command line (as runs before
    0.1.13 saved it): the first command that reads its runs (status, verify, harvest, plan,
    index, slurm, forget) rewrites that record with the token REDACTED (a resume then asks
    for it again, as for a record saved now) and says so in one line, once; the journal
    keeps its history (append-only, as the line says); the token shows in no output."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS, basic_auth=f"{TOKEN}:")
    out = tmp_path / "out"
    url = _with_token(emu.base_url)
    record, journal = _folder_from_before_0_1_13(out, url, emu.base_url)
    journal_before = journal.read_bytes()
    emu.server.faults = FaultInjector(FaultSpec())  # the server is well again
    if opened_by == "harvest":
        first = cli("harvest", "--out", str(out), "--base-url", url)
        assert first.returncode == 0, first.stderr
    elif opened_by == "plan":  # a plan of the folder, for the shards that resume it
        first = cli("plan", "--out", str(out), "--base-url", url, "--plate", str(SMALL_PLATE))
        assert first.returncode == 0, first.stderr
        assert (out / "plan" / "plan.json").is_file()
    elif opened_by == "slurm":  # a job array for the folder: its server read from its runs
        first = cli("slurm", "--out", str(out), "--plate", str(SMALL_PLATE), "--tasks", "2")
        assert first.returncode == 2, first.stderr  # (the token is wanted, as for a resume)
        assert "server needs credentials that are not saved" in first.stderr, first.stderr
    elif opened_by == "forget":  # its runs' target sets read to find the one named
        first = cli("forget", str(out), "--plate", str(SMALL_PLATE))
        assert first.returncode == 0, first.stderr
        assert "forgot the target set --plate" in first.stdout, first.stdout
    else:
        first = cli(opened_by, str(out))
    said = [line for line in first.stderr.splitlines() if "before harvester 0.1.13" in line]
    assert said == [
        f"WARNING harvester.problems: 1 saved run record (runs/) of {out} (written before "
        "harvester 0.1.13) held a --base-url user or token in the clear: rewritten with it "
        "REDACTED; the journals of those runs may still hold it (append-only history, never "
        "rewritten): renew the token if others can read the folder"
    ], first.stderr
    assert TOKEN not in record.read_text()
    saved = json.loads(record.read_text())
    assert emu.base_url.replace("://", "://REDACTED@") in saved["argv"]
    assert saved["version"] == "0.1.12"  # the rest as it was
    assert journal.read_bytes()[: len(journal_before)] == journal_before  # history kept
    again = cli("status", str(out))
    assert "0.1.13" not in again.stderr, again.stderr  # once
    refused = cli("harvest", "--out", str(out))  # the record asks for the token again
    # (after a harvest, nothing is left to resume; after forget, no set is left to replay)
    assert refused.returncode == (0 if opened_by in ("harvest", "forget") else 2), refused.stderr
    for proc in (first, again, refused):
        text = proc.stdout + proc.stderr
        assert not _leaked(text), _leaked(text)[:3]
        assert "Traceback" not in text


def test_a_rewritten_record_keeps_its_mode_and_group(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread]
) -> None:
    """In a group-writable shared folder, the record rewritten without the token keeps its
    mode (0664, not this process's 0644) and its group (where this process may set it: root
    or a member), so the project's other members can still rewrite it."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS, basic_auth=f"{TOKEN}:")
    out = tmp_path / "out"
    record, _journal = _folder_from_before_0_1_13(out, _with_token(emu.base_url), emu.base_url)
    others = [gid for gid in os.getgroups() if gid != os.getegid()]
    group = 4321 if os.geteuid() == 0 else (others[0] if others else os.getegid())
    os.chown(record, -1, group)
    record.chmod(0o664)
    before = record.stat()
    proc = cli("status", str(out))
    assert "held a --base-url user or token in the clear" in proc.stderr, proc.stderr
    after = record.stat()
    assert TOKEN not in record.read_text()
    assert after.st_ino != before.st_ino  # replaced whole (atomically), not edited in place
    assert stat.S_IMODE(after.st_mode) == 0o664
    assert after.st_gid == group


def _folder_bytes(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``out``, relative path -> (its bytes, its inode): a file rewritten
    whole (a new inode) counts as written even with the same bytes."""
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_ino)
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    "resume", ["refused", "beside a set replayed", "given the token", "targets given"]
)
def test_a_dry_run_resume_writes_nothing_refused_or_not(
    tmp_path: Path, make_emulator: Callable[..., EmulatorThread], resume: str
) -> None:
    """A dry run writes nothing: a folder whose record was saved before 0.1.13 keeps every
    byte, whether the resume is refused for want of the token (exit 2: it rewrote that
    record with the token REDACTED, as a real resume does), not resumed beside another set
    the dry run replays (exit 1), or run given it (its targets typed again too)."""
    emu = make_emulator(preset="demo", faults=BROKEN_THUMBNAILS, basic_auth=f"{TOKEN}:")
    out = tmp_path / "out"
    url = _with_token(emu.base_url)
    record, _journal = _folder_from_before_0_1_13(out, url, emu.base_url)
    emu.server.faults = FaultInjector(FaultSpec())
    if resume == "beside a set replayed":  # (a server of no credentials: a set replayed)
        old = record.read_bytes()
        public = make_emulator(preset="demo").base_url
        proc = cli(
            "harvest", "--base-url", public, "--project", str(DEMO_PROJECT), "--out", str(out),
            "--artifacts", "thumbnail",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        record.write_bytes(old)  # (that harvest rewrote it, REDACTED: as before 0.1.13 again)
    assert TOKEN in record.read_text()
    before = _folder_bytes(out)
    given = ["--base-url", url] if resume in ("given the token", "targets given") else []
    if resume == "targets given":
        given += ["--plate", str(SMALL_PLATE)]
    proc = cli("harvest", "--out", str(out), "--dry-run", *given)
    code = {"refused": 2, "beside a set replayed": 1}.get(resume, 0)
    assert proc.returncode == code, proc.stderr
    if code:
        assert "sent credentials in its --base-url, which are never saved" in proc.stderr
    assert "0.1.13" not in proc.stderr, proc.stderr  # (nothing rewritten: nothing said)
    assert _folder_bytes(out) == before
    assert not _leaked(proc.stdout + proc.stderr)

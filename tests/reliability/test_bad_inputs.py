"""A catalogue of bad inputs through the real CLI, each against an existing harvest folder.

Every case asserts: exactly one ``error:`` line on stderr (``hint:`` lines allowed, never a
traceback), the exit code (2 for usage, configuration, remote and storage errors), and that
nothing already in the output folder was lost or changed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from reliability_helpers import (
    DEMO_PROJECT,
    assert_one_line_error,
    cli,
    every_file,
    harvest_args,
    temp_files,
)

from harvester.emulator import EmulatorThread

#: Bodies served by the not-OMERO server, by the first path segment of the base URL.
NOT_OMERO: dict[str, tuple[int, bytes, str]] = {
    "html": (
        200,
        b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>",
        "text/html",
    ),
    "garbage": (200, bytes(range(256)) * 8, "application/octet-stream"),
    "garbagejson": (200, b"\x00\xff{not json", "application/json"),
    "huge": (200, b'{"data": "' + b"x" * 30_000_000 + b'"}', "application/json"),
}


@dataclass
class Servers:
    """The test's servers: the IDR emulator, a not-OMERO server and a redirect target."""

    emulator: str
    other: str  # base URL of the tiny http.server
    target: str  # base URL of the redirect target on another host (127.0.0.2)
    target_requests: list[tuple[str, str]] = field(default_factory=list)  # (path, cookie)
    closed_port: int = 0


class _NotOmero(BaseHTTPRequestHandler):
    """Answers by the first path segment: NOT_OMERO bodies, or a redirect to another host."""

    target = ""

    def do_GET(self) -> None:
        first = self.path.strip("/").split("/", 1)[0]
        if first == "redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.target}/api/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if first == "echo":  # a front end refusing the request, quoting all it was sent
            quoted = (self.path, self.headers.get("Authorization"), self.headers.get("Cookie"))
            status, body, ctype = (401, " ".join(map(str, quoted)).encode(), "text/plain")
        else:
            status, body, ctype = NOT_OMERO.get(first, (404, b"not found", "text/plain"))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may stop reading a huge body
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silent."""


def _recording_handler(log: list[tuple[str, str]]) -> type[BaseHTTPRequestHandler]:
    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            log.append((self.path, self.headers.get("Cookie", "")))
            body = b'{"data": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Silent."""

    return Recorder


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    """The emulator, a not-OMERO http.server, a redirect target on 127.0.0.2, a closed port."""
    log: list[tuple[str, str]] = []
    target = ThreadingHTTPServer(("127.0.0.2", 0), _recording_handler(log))
    _NotOmero.target = f"http://127.0.0.2:{target.server_address[1]}"
    other = ThreadingHTTPServer(("127.0.0.1", 0), _NotOmero)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (target, other)]
    for thread in threads:
        thread.start()
    # A port nobody listens on: bound and held, never listening, for the module's tests. A
    # port closed at once could be taken meanwhile by an emulator of another test (a CI run
    # found the harvest reaching one there: exit 0), connecting to a bound socket that does
    # not listen is refused, and no other socket can bind it while it is held.
    with socket.socket() as held, EmulatorThread(preset="demo") as emu:
        held.bind(("127.0.0.1", 0))
        yield Servers(
            emulator=emu.base_url,
            other=f"http://127.0.0.1:{other.server_address[1]}",
            target=_NotOmero.target,
            target_requests=log,
            closed_port=held.getsockname()[1],
        )
    for server in (target, other):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def existing(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete harvest of the demo project (copied into each case's DIR)."""
    out = tmp_path_factory.mktemp("existing") / "harvest"
    proc = cli(*harvest_args(servers.emulator, out, "--project", str(DEMO_PROJECT), rate="none"))
    assert proc.returncode == 0, proc.stderr
    return out


@dataclass
class Case:
    """One bad input: argv (built from the servers and the case folder), expected words."""

    argv: Callable[[Servers, Path], list[str]]
    needles: tuple[str, ...]
    code: int = 2
    files: dict[str, str] = field(default_factory=dict)  # extra files written in the case dir


def _h(*extra: str, base: str = "emulator") -> Callable[[Servers, Path], list[str]]:
    """``harvest --base-url <server> EXTRA --out DIR --quiet`` (``{dir}`` in EXTRA expanded)."""

    def build(s: Servers, d: Path) -> list[str]:
        url = {
            "emulator": s.emulator,
            "other": s.other,
            "closed": f"http://127.0.0.1:{s.closed_port}",
        }
        url_text = url.get(base, base)
        for name, value in (("{other}", s.other), ("{emulator}", s.emulator)):
            url_text = url_text.replace(name, value)
        args = [a.replace("{dir}", str(d)) for a in extra]
        return ["harvest", "--base-url", url_text, "--max-retries", "1", "--timeout", "5",
                *args, "--out", str(d / "out"), "--quiet"]  # fmt: skip

    return build


def _config(text: str, *extra: str) -> Callable[[Servers, Path], list[str]]:
    """``harvest DIR/c.toml EXTRA --out DIR/out`` with the config text (``{emulator}`` expanded)."""

    def build(s: Servers, d: Path) -> list[str]:
        toml = text.replace("{emulator}", s.emulator).replace("{other}", s.other)
        (d / "c.toml").write_text(toml, encoding="utf-8")
        (d / "c.toml").chmod(0o600)  # its owner's alone, as the README asks of secrets
        return ["harvest", str(d / "c.toml"), *extra, "--out", str(d / "out"), "--quiet"]

    return build


CASES: dict[str, Case] = {
    # --- ids the server does not know, ids that are not ids ----------------------------
    "unknown-screen": Case(_h("--screen", "999999"), ("999999", "not found")),
    "unknown-plate": Case(_h("--plate", "999999"), ("999999", "not found")),
    "unknown-project": Case(_h("--project", "999999"), ("999999", "not found")),
    "unknown-dataset": Case(_h("--dataset", "999999"), ("999999", "not found")),
    "unknown-image": Case(_h("--image", "999999"), ("999999", "not found")),
    "non-numeric-screen": Case(_h("--screen", "abc"), ("'abc'", "no screen")),
    "non-numeric-image": Case(_h("--image", "12x"), ("'12x'", "numeric")),
    "negative-id": Case(_h("--plate", "-5"), ("--plate",)),
    "zero-id": Case(_h("--dataset", "0"), ("'0'", "not a valid id (ids are positive)")),
    # --- servers that cannot be used ------------------------------------------------------
    "unreachable-host": Case(_h("--project", "51", base="closed"), ("cannot reach",)),
    "not-omero-html": Case(_h("--project", "51", base="{other}/html"), ("omero",)),
    "not-omero-garbage": Case(_h("--project", "51", base="{other}/garbage"), ("omero",)),
    "not-omero-garbage-json": Case(_h("--project", "51", base="{other}/garbagejson"), ("omero",)),
    "not-omero-huge-json": Case(_h("--project", "51", base="{other}/huge"), ("json",)),
    "redirect-other-host": Case(
        _config(
            'base_url = "{other}/redirect"\nprojects = [51]\nmax_retries = 0\n'
            '[cookies]\nsessionid = "COOKIE-SECRET-1"\n'
        ),  # fmt: skip
        ("redirect",),
    ),
    "redirect-other-host-follow-on": Case(
        _config(
            'base_url = "{other}/redirect"\nprojects = [51]\nmax_retries = 0\n'
            'follow_redirects = true\n[cookies]\nsessionid = "COOKIE-SECRET-1"\n'
        ),  # fmt: skip
        ("redirect",),
    ),
    # A 401 quoting the request line (the session key percent-encoded as sent), the
    # Authorization header and the cookie: said without any of them.
    "server-echoes-credentials": Case(
        _config(
            'base_url = "{other}/echo/?bsession=SECRET%2DVALUE%2D9"\nprojects = [51]\n'
            '[headers]\nAuthorization = "Bearer SECRET-VALUE-9"\n'
            '[cookies]\nsessionid = "SECRET-VALUE-9"\n'
        ),
        ("HTTP 401", "bsession=REDACTED"),
    ),
    "tls-to-plain-http": Case(_h("--project", "51", base="https-other"), ("tls",)),
    "base-url-not-http": Case(_h("--project", "51", base="ftp://127.0.0.1/"), ("http(s)",)),
    # A refused URL is named without its password, whatever made it no http(s) URL: a
    # scheme forgotten or wrong, a password's "/" ending the host early (it showed as a
    # port). URLs that urlsplit cannot read are refused the same way (was: internal error).
    "base-url-password-no-scheme": Case(
        _h("--project", "51", base="alice:SECRET-VALUE-9@127.0.0.1/"),
        ("'alice:REDACTED@127.0.0.1/' is not an http(s) URL",),
    ),
    "base-url-password-not-http": Case(
        _h("--project", "51", base="ftp://alice:SECRET-VALUE-9@127.0.0.1/"),
        ("'ftp://alice:REDACTED@127.0.0.1/' is not an http(s) URL",),
    ),
    "base-url-password-slash": Case(
        _h("--project", "51", base="http://alice:SECRET-VALUE-9/x@127.0.0.1/"),
        ("'http://alice:REDACTED@127.0.0.1/' is not an http(s) URL",),
    ),
    # A '#' in the password (not percent-encoded) ends the URL's authority: its rest was
    # shown, as a fragment.
    "base-url-password-hash": Case(
        _h("--project", "51", base="http://alice:x#SECRET-VALUE-9@127.0.0.1/"),
        ("'http://alice:REDACTED@127.0.0.1/' is not an http(s) URL",),
    ),
    # A user holding a ':' (percent-encoded): Basic auth cannot send it (the server reads
    # the user up to it), so every request got 401, with a hint to encode it as %3A.
    "base-url-user-colon": Case(
        _h("--project", "51", base="http://al%3Aice:SECRET-VALUE-9@127.0.0.1/"),
        ("the user of 'http://al%3Aice:REDACTED@127.0.0.1/' holds a ':'",),
    ),
    "base-url-bad-ipv6": Case(
        _h("--project", "51", base="http://[::1/?bsession=SECRET-VALUE-9"),
        ("'http://[::1/' is not an http(s) URL",),
    ),
    "base-url-port-out-of-range": Case(
        _h("--project", "51", base="http://127.0.0.1:99999/"), ("http(s)",)
    ),
    "config-base-url-not-a-string": Case(
        _config('base_url = ["http://alice:SECRET-VALUE-9@127.0.0.1/"]\nprojects = [51]\n'),
        ("c.toml: base_url: expected a string, got an array",),
    ),
    "config-base-url-password-no-scheme": Case(
        _config('base_url = "alice:SECRET-VALUE-9@127.0.0.1"\nprojects = [51]\n'),
        ("c.toml: base_url: 'alice:REDACTED@127.0.0.1' is not an http(s) URL",),
    ),
    # --- configuration ---------------------------------------------------------------------
    "config-unknown-key": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nconcurency = 4\n'),
        ("concurency",),
    ),
    "config-wrong-type": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nconcurrency = "eight"\n'),
        ("concurrency",),
    ),
    "config-wrong-list-type": Case(
        # (projects = [51, "x"] is a name now: plates take ids only)
        _config('base_url = "{emulator}"\nplates = [7361, "x"]\n'),
        ("plates",),
    ),
    "config-negative-rate": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nrate = -1\n'), ("c.toml: rate: -1",)
    ),
    "config-zero-concurrency": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nconcurrency = 0\n'),
        ("c.toml: concurrency: 0 must be an integer of at least 1",),
    ),
    "config-zero-timeout": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\ntimeout = 0\n'),
        ("c.toml: timeout: 0.0 must be a positive number of seconds",),
    ),
    "config-bad-toml": Case(_config("projects = [51\n"), ("c.toml",)),
    "config-bad-shard": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nshard = "3/2"\n'), ("shard",)
    ),
    "config-headers-not-table": Case(
        _config('base_url = "{emulator}"\nprojects = [51]\nheaders = "X-Key: 1"\n'),
        ("headers",),
    ),
    # A line break would end the header and start another (header injection): refused before
    # anything is sent, naming the header, never showing its value.
    "config-header-line-break": Case(
        _config(
            'base_url = "{emulator}"\nprojects = [51]\n'
            'headers = { "X-Key" = "SECRET-VALUE-9\\r\\nX-Evil: 1" }\n'
        ),
        ("c.toml: headers", "X-Key", "line break"),
    ),
    "config-cookie-semicolon": Case(
        _config(
            'base_url = "{emulator}"\nprojects = [51]\n'
            'cookies = { "sessionid" = "SECRET-VALUE-9; admin=1" }\n'
        ),
        ("c.toml: cookies", "sessionid"),
    ),
    "flag-bad-artifact": Case(_h("--project", "51", "--artifacts", "thumb,render"), ("thumb",)),
    # A flag's value is named by the flag typed, as a config file's is by the file and key.
    "flag-zero-timeout": Case(
        _h("--project", "51", "--timeout", "0"),
        ("--timeout: 0.0 must be a positive number of seconds",),
    ),
    "flag-zero-burst": Case(
        _h("--project", "51", "--burst", "0"), ("--burst: 0 must be an integer of at least 1",)
    ),
    "flag-rate-word": Case(_h("--project", "51", "--rate", "fast"), ("--rate: 'fast'",)),
    "flag-shard-past-n": Case(
        _h("--project", "51", "--shard", "2/2"),
        (
            "--shard: '2/2' is not a shard: the shard index K must be below N"
            " (use K/N with 0 <= K < N: the shards of 2 are 0/2 and 1/2)",
        ),
    ),
    # argparse took "-1/4" for an option ("expected one argument"): named as every bad shard.
    "flag-shard-negative": Case(
        _h("--project", "51", "--shard", "-1/4"),
        ("--shard: '-1/4' is not a shard: expected K/N, two whole numbers (use K/N with",),
    ),
    # --- ids files ----------------------------------------------------------------------------
    "ids-file-junk-line": Case(
        _h("--ids-from", "{dir}/ids.txt"),
        ("line 4", "banana"),
        files={"ids.txt": "# ids\n1884801\n\nbanana\n1884802\n"},
    ),
    "ids-file-negative": Case(
        _h("--ids-from", "{dir}/ids.txt"), ("line 2",), files={"ids.txt": "1884801\n-7\n"}
    ),
    "ids-file-missing": Case(_h("--ids-from", "{dir}/nope.txt"), ("nope.txt",)),
    "ids-file-comments-only": Case(
        _h("--ids-from", "{dir}/ids.txt"),
        ("ids.txt held no image id", "nothing to harvest"),
        files={"ids.txt": "# none failed\n\n"},
    ),
}


@pytest.fixture
def case_dir(tmp_path: Path, existing: Path) -> Path:
    """A folder holding a copy of the existing harvest as ``out``."""
    shutil.copytree(existing, tmp_path / "out", symlinks=True)
    return tmp_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, servers: Servers, case_dir: Path) -> None:
    """Each bad input: one ``error:`` line naming the problem, exit 2, no traceback, and the
    existing harvest folder keeps every file byte for byte (no temp file left)."""
    case = CASES[name]
    for rel, text in case.files.items():
        (case_dir / rel).write_text(text, encoding="utf-8")
    argv = case.argv(servers, case_dir)
    if "https-other" in argv:  # https:// to a plain-HTTP server (it answers 400 to the hello)
        argv[argv.index("https-other")] = servers.other.replace("http://", "https://")
    out = case_dir / "out"
    before = every_file(out)
    proc = cli(*argv, timeout=60)
    assert proc.returncode == case.code, (proc.returncode, proc.stderr)
    assert_one_line_error(proc.stderr, *case.needles)
    after = every_file(out)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    assert changed == [], changed
    assert temp_files(out) == []
    assert "SECRET-VALUE-9" not in proc.stderr + proc.stdout
    assert "SECRET%2DVALUE%2D9" not in proc.stderr + proc.stdout
    if name.startswith("redirect-other-host"):
        assert servers.target_requests == []  # not followed: no request, so no cookie either
        assert "COOKIE-SECRET-1" not in proc.stderr + proc.stdout


def test_output_folder_is_a_file(servers: Servers, tmp_path: Path) -> None:
    """--out naming a file (or a path below one): one error line, exit 2, the file untouched."""
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n", encoding="utf-8")
    for out in (target, target / "sub"):
        proc = cli(*harvest_args(servers.emulator, out, "--project", "51"))
        assert proc.returncode == 2, proc.stderr
        assert_one_line_error(proc.stderr, "output folder")
    assert target.read_text(encoding="utf-8") == "keep me\n"


def test_foreign_folder_refused(servers: Servers, tmp_path: Path) -> None:
    """A DIR whose harvest.json belongs to another tool is refused, its files untouched."""
    out = tmp_path / "foreign"
    out.mkdir()
    (out / "harvest.json").write_text('{"tool": "something-else"}', encoding="utf-8")
    (out / "data.bin").write_bytes(b"\x00precious")
    before = every_file(out)
    proc = cli(*harvest_args(servers.emulator, out, "--project", "51"))
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr)
    assert every_file(out) == before


@pytest.fixture
def read_only_copy(tmp_path: Path, existing: Path) -> Iterator[Path]:
    """The existing harvest on a tmpfs remounted read-only (chmod does not stop root)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {made.stderr.strip()}")
    try:
        shutil.copytree(existing, mnt / "out", symlinks=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield mnt / "out"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_read_only_output_folder(servers: Servers, read_only_copy: Path) -> None:
    """A read-only DIR: one error line (exit 2) before any request; every file still there."""
    before = every_file(read_only_copy)
    proc = cli(
        *harvest_args(servers.emulator, read_only_copy, "--project", "51", "--image", "9762957")
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_line_error(proc.stderr, "cannot be written")
    assert every_file(read_only_copy) == before

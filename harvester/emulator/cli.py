"""``harvester emulate``: run the IDR emulator as a process until SIGINT/SIGTERM.

Prints exactly one line, ``serving http://HOST:PORT`` (``https://`` with
``--tls-cert``), once the socket accepts connections (scripts and
``spawn_emulator`` wait for it); then, on stderr, the preset's screens and projects with
a command that harvests one (:func:`targets_line`). Bad input (unknown preset or mode, bad fault
spec, address in use, an unreadable certificate or key) prints one
``error: ...`` line on stderr and exits 2, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import shlex
import signal
import ssl
import sys
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import quote

from harvester.emulator import MODES, build_application
from harvester.emulator.faults import parse_faults
from harvester.emulator.server import KEEPALIVE_TIMEOUT_S, EmulatorServer
from harvester.emulator.site import normalized_prefix

__all__ = ["add_arguments", "build_parser", "main", "run"]

EXIT_USAGE = 2
#: Longest name the start line shows whole; a longer one is cut (see :func:`_entry`).
SHOWN_NAME = 60
#: Stands, in the ``try:`` command, for the file of the CA that signed ``--tls-cert`` (the
#: emulator is given the certificate and its key, not that CA).
CA_PLACEHOLDER = "CA.pem"
#: OpenSSL's verify codes for a chain whose CA is not in the trusted file
#: (``X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT``, ``..._LOCALLY``): that CA's file is wanted.
ISSUER_NOT_TRUSTED = frozenset({2, 20})


def _presets() -> str:
    try:
        from harvester.emulator.catalogue import PRESETS
    except ImportError:  # pragma: no cover - catalogue missing during development
        return "see the README"
    return ", ".join(PRESETS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser`` (shared by both entry points)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind (default 0: any free port)"
    )
    parser.add_argument(
        "--preset", default="demo", help=f"catalogue preset: {_presets()} (default demo)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic data (default 0)"
    )
    parser.add_argument(
        "--mode",
        default="omeroweb",
        help="rendering endpoints: omeroweb (classic) or microservice "
        "(IDR's image-region; default omeroweb)",
    )
    parser.add_argument("--latency-ms", type=float, default=None, help="fixed delay per answer")
    parser.add_argument("--jitter-ms", type=float, default=None, help="extra random delay, 0..J ms")
    parser.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="fault spec, e.g. '503:5%%,429:2%%,retry-after:2s|date,reset:1%%,seed:7'",
    )
    parser.add_argument(
        "--imgdata-exception",
        action="store_true",
        help="answer every imgData with 200 + an 'Exception' body (IDR after its Zarr migration)",
    )
    parser.add_argument(
        "--migration-2026",
        action="store_true",
        help="answer as IDR since its 2026 move to OME-Zarr: 403 renders, 404 sized "
        "thumbnails, and imgData's 'Exception' body (as --imgdata-exception)",
    )
    parser.add_argument(
        "--basic-auth",
        default=None,
        metavar="USER:PASS",
        help="answer 401 (WWW-Authenticate: Basic) to every request without these "
        "HTTP Basic credentials, as a proxy in front of a private OMERO.web does "
        "(TOKEN: with an empty PASS: a token given as the user, TOKEN@host)",
    )
    parser.add_argument(
        "--basic-auth-expires-after",
        type=int,
        default=None,
        metavar="N",
        help="the --basic-auth credentials stop working after N answers given with them "
        "(an expired token: every later request gets the 401)",
    )
    parser.add_argument(
        "--prefix",
        default="",
        metavar="PATH",
        help="serve every route under PATH (e.g. /omero: OMERO.web deployed at "
        "https://host/omero/); other paths answer Django's 404",
    )
    parser.add_argument(
        "--session-key",
        default=None,
        metavar="KEY",
        help="want this OMERO session on every login-required view (?bsession=KEY or a "
        "sessionid=KEY cookie), as a private OMERO.web without a public user does",
    )
    parser.add_argument(
        "--session-expires-after",
        type=int,
        default=None,
        metavar="N",
        help="the --session-key stops working after N answers given with it (an expired session)",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        metavar="FILE",
        help="serve HTTPS with this PEM certificate chain (leaf first)",
    )
    parser.add_argument(
        "--tls-key",
        default=None,
        metavar="FILE",
        help="PEM private key of --tls-cert (default: read from the --tls-cert file)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=KEEPALIVE_TIMEOUT_S,
        metavar="S",
        help=f"close keep-alive connections idle for S seconds (default {KEEPALIVE_TIMEOUT_S:g})",
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``error: ...`` line and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m harvester.emulator``."""
    parser = _Parser(
        prog="python -m harvester.emulator",
        description="Serve the IDR / OMERO.web API emulator on loopback.",
    )
    add_arguments(parser)
    return parser


#: The presets made for the stack artifact (z-stacks, time series, planes over the render
#: limit): their ``try:`` command harvests stacks, which a thumbnail of each would not show.
STACK_PRESETS = frozenset({"zstack", "timeseries", "tiled", "units"})


def targets_line(base_url: str, preset: str, seed: int = 0, access: Access | None = None) -> str:
    """What the preset serves and a command to harvest it (stderr: stdout's one line stays).

    A preset's ids are otherwise found only in ``catalogue_presets.py`` or by listing the
    API; a first harvest of the emulator needs one. ``--rate none``: the default rate is
    IDR's etiquette, which held the 384 thumbnails of ``plate384``'s command to 40 s.
    ``access`` puts what the options want in the command (credentials, prefix, session
    key, the certificate to trust).
    """
    access = access or Access()
    url = access.base_url(base_url)
    from harvester.emulator.catalogue import Catalogue

    catalogue = Catalogue(preset, seed)
    parts = [
        _entry("screen", s.id, s.name, _count(s.n_plates, "plate")) for s in catalogue.screens()
    ]
    parts += [
        _entry("project", p.id, p.name, _count(p.n_datasets, "dataset"))
        for p in catalogue.projects()
    ]
    first = catalogue.screens()[:1] or catalogue.projects()[:1]
    example = ""
    if first:
        flag = "--screen" if catalogue.screens() else "--project"
        shown = shlex.quote(url)
        artifacts = "stack" if preset in STACK_PRESETS else "thumbnail"
        example = (
            f"; try: {access.command_prefix()}harvester harvest --base-url {shown} {flag} "
            f"{first[0].id} --rate none --artifacts {artifacts} --out {preset}-mirror"
            f"{access.note()}"
        )
    return f"preset {preset}: {', '.join(parts)}{example}"


def _count(n: int, noun: str) -> str:
    """``1 plate``, ``2 plates`` (``harvester.text.plural``'s twin: no core import here)."""
    return f"{n} {noun if n == 1 else noun + 's'}"


def _entry(kind: str, id_: int, name: str, count: str) -> str:
    """``screen 3 'name' (2 plates)``; a long name cut to its start, with its length.

    The ``names`` preset serves a 1,000-character name, which filled a terminal at start.
    """
    if len(name) <= SHOWN_NAME:
        return f"{kind} {id_} {name!r} ({count})"
    return f"{kind} {id_} {name[:SHOWN_NAME]!r}... ({len(name):,}-character name, {count})"


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def server_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server TLS context for ``--tls-cert``/``--tls-key``; ``None`` for plain HTTP.

    ``ValueError`` with a one-line reason when the files are missing, not PEM,
    or the key does not match the certificate.
    """
    if cert is None:
        if key is not None:
            raise ValueError("--tls-key needs --tls-cert")
        return None
    for what, path in (("certificate", cert), ("key", key)):
        if path is None:
            continue
        try:  # load_cert_chain's own errors do not say which file is missing
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot read TLS {what} {path}: {exc.strerror or exc}") from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        detail = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
        if "PEM lib" in str(detail):  # OpenSSL's words for "no certificate or key found"
            detail = "no PEM certificate and private key found (a key file: --tls-key)"
        shown = f"{cert} (key {key})" if key else cert
        raise ValueError(f"cannot load TLS certificate {shown}: {detail}") from None
    return context


def rejected_alone(server: ssl.SSLContext, cert: str) -> tuple[int, str] | None:
    """Why a client that trusts the ``cert`` file alone (``SSL_CERT_FILE=CERT``, read as the
    harvester's httpx context reads it) refuses ``server``'s certificate chain: OpenSSL's
    verify code and message (code 0: a handshake error of another kind); None: accepted.

    Accepted: a self-signed certificate (its own CA) or a chain file that holds its root.
    Refused for its CA (a code in :data:`ISSUER_NOT_TRUSTED`): one signed by a CA that is not
    in the file (the user's own CA: its file, which the emulator is not given, is the one to
    trust). Refused for itself, whichever file is trusted: one expired or not yet valid
    (``certificate has expired``). Asked of OpenSSL itself, by one handshake in memory,
    rather than guessed from the names in the certificate. The host name is not checked:
    only which file to trust is asked.
    """
    client = ssl.create_default_context(cafile=cert)
    client.check_hostname = False
    bios = [ssl.MemoryBIO() for _ in range(4)]
    ours = client.wrap_bio(bios[0], bios[1])
    theirs = server.wrap_bio(bios[2], bios[3], server_side=True)
    for _ in range(8):  # TLS 1.2 needs two round trips, 1.3 one: never more than a few
        try:
            ours.do_handshake()
            return None
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLCertVerificationError as exc:
            return exc.verify_code, exc.verify_message or str(exc)
        except ssl.SSLError as exc:  # no common ground (a cipher, a protocol version)
            return 0, exc.reason or str(exc)
        bios[2].write(bios[1].read())
        with contextlib.suppress(ssl.SSLWantReadError):
            theirs.do_handshake()
        bios[0].write(bios[3].read())
    return 0, "the handshake did not finish"


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code (0, or 2 on bad input)."""
    try:
        if args.mode not in MODES:
            raise ValueError(f"unknown mode {args.mode!r} (choose from {', '.join(MODES)})")
        if not 0 <= args.port <= 65535:
            raise ValueError(f"port {args.port} out of range 0-65535")
        spec = parse_faults(args.faults).with_latency(args.latency_ms, args.jitter_ms)
        options: dict[str, object] = {
            name: True
            for name in ("imgdata_exception", "migration_2026")
            if getattr(args, name, False)
        }
        if getattr(args, "basic_auth", None) is not None:
            if ":" not in args.basic_auth:
                raise ValueError("--basic-auth must be USER:PASS (a ':' between them)")
            options["basic_auth"] = args.basic_auth
        expires = getattr(args, "basic_auth_expires_after", None)
        if expires is not None:
            if "basic_auth" not in options:
                raise ValueError("--basic-auth-expires-after needs --basic-auth")
            options["basic_auth_expires_after"] = expires
        if getattr(args, "prefix", ""):
            options["prefix"] = args.prefix
        for name in ("session_key", "session_expires_after"):
            if getattr(args, name, None) is not None:
                options[name] = getattr(args, name)
        if "session_expires_after" in options and "session_key" not in options:
            raise ValueError("--session-expires-after needs --session-key")
        if not args.idle_timeout > 0:
            raise ValueError(f"--idle-timeout must be > 0 seconds, not {args.idle_timeout:g}")
        context = server_ssl_context(args.tls_cert, args.tls_key)
        app = build_application(args.preset, args.seed, args.mode, **options)
    except ValueError as exc:
        return _error(str(exc))
    server = EmulatorServer(
        app,
        host=args.host,
        port=args.port,
        faults=spec,
        ssl_context=context,
        idle_timeout_s=args.idle_timeout,
    )
    access = Access(
        basic_auth=getattr(args, "basic_auth", None),
        prefix=normalized_prefix(getattr(args, "prefix", "") or ""),
        session_key=getattr(args, "session_key", None),
        tls_cert=args.tls_cert,
        tls_rejected=None if context is None else rejected_alone(context, args.tls_cert),
    )
    return asyncio.run(_serve(server, args.host, args.port, args.preset, args.seed, access))


@dataclass(frozen=True)
class Access:
    """What a client of this emulator needs beyond its address: the ``try:`` command's."""

    basic_auth: str | None = None
    prefix: str = ""
    session_key: str | None = None
    tls_cert: str | None = None
    #: Why a client trusting the ``tls_cert`` file alone refuses it (:func:`rejected_alone`;
    #: None: it accepts it).
    tls_rejected: tuple[int, str] | None = None

    @property
    def tls_ca_needed(self) -> bool:
        """``tls_cert`` is signed by a CA it does not hold: the harvester must trust that CA's
        file, not the certificate's."""
        return self.tls_rejected is not None and self.tls_rejected[0] in ISSUER_NOT_TRUSTED

    def base_url(self, served: str) -> str:
        """``served`` with the credentials, the prefix and ``?bsession=KEY`` in it."""
        url = with_userinfo(served, self.basic_auth) + self.prefix
        if self.prefix or self.session_key is not None:
            url += "/"  # OMERO.web's root: https://host/omero/
        if self.session_key is not None:
            url += "?bsession=" + quote(self.session_key, safe="")
        return url

    def command_prefix(self) -> str:
        """``SSL_CERT_FILE=... `` before the command: the harvester must trust the
        certificate. A self-signed one is its own CA: its file. One signed by the user's CA
        wants that CA's file, which the emulator is not told: ``CA.pem``, which the note says
        to replace (the certificate's own file would fail: certificate verify failed)."""
        if self.tls_cert is None:
            return ""
        if self.tls_ca_needed:
            return f"SSL_CERT_FILE={CA_PLACEHOLDER} "
        return f"SSL_CERT_FILE={shlex.quote(os.path.abspath(self.tls_cert))} "

    def note(self) -> str:
        """What the ``try:`` command needs filled in, or could use instead, or ``""``."""
        notes = []
        if self.tls_cert is not None and self.tls_rejected is not None:
            cert = shlex.quote(os.path.abspath(self.tls_cert))
            if self.tls_ca_needed:
                notes.append(
                    f"{CA_PLACEHOLDER}: the PEM file of the CA that signed {cert}, which is "
                    "not self-signed"
                )
            else:  # (trusting another file would not help: the certificate itself is refused)
                notes.append(
                    f"{cert} is refused even by a client that trusts it alone: "
                    f"{self.tls_rejected[1]}; give --tls-cert a valid certificate"
                )
        if self.session_key is not None:
            # JSON's string escapes are TOML's: a '"' or a backslash in the key stays valid.
            notes.append(
                "or, instead of ?bsession=, a config file's [cookies] sessionid = "
                f"{json.dumps(self.session_key)}"
            )
        return f" ({'; '.join(notes)})" if notes else ""


def with_userinfo(base_url: str, basic_auth: str | None) -> str:
    """``base_url`` with ``--basic-auth``'s ``USER:PASS@`` in it, each percent-encoded: the
    "try:" command must carry them, or pasting it gets a 401 (they are the user's own, given
    on the command line, for a local test server)."""
    if basic_auth is None:
        return base_url
    user, _, password = basic_auth.partition(":")
    scheme, _, rest = base_url.partition("://")
    # An empty password (a token given as the user): TOKEN@host, as such services spell it.
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    return f"{scheme}://{userinfo}@{rest}"


async def _serve(
    server: EmulatorServer, host: str, port: int, preset: str, seed: int, access: Access
) -> int:
    try:
        await server.start()
    except OSError as exc:
        reason = exc.strerror
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use (another --port, or --port 0 for any free one)"
        return _error(f"cannot listen on {host}:{port}: {reason or exc}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    print(f"serving {server.base_url}", flush=True)
    print(targets_line(server.base_url, preset, seed, access), file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        # Handlers kept while the server closes (a second SIGTERM meanwhile is one more
        # stop.set, not a kill), then the ones from before put back (asyncio would leave
        # SIGTERM at its default).
        try:
            await server.close()
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
                handler = before[signum]
                if handler is not None:
                    signal.signal(signum, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m harvester.emulator``."""
    return run(build_parser().parse_args(argv))

"""Every error the harvester raises on purpose, as one small hierarchy.

Retryability is a *class*, never string matching: the retry policy
(``retry.py``) retries :class:`TransientError` and nothing else, and the CLI
maps the top-level classes to exit codes in one place::

    HarvesterError                 .hint: printed by the CLI as "hint: ..."
    ├── UsageError                 bad arguments or configuration -> exit 2
    │   ├── ConfigError
    │   ├── TargetNotFoundError    an id the server does not have: the run leaves no target set
    │   ├── FolderBusyError        another run of the folder (or shard) holds it: try later -> 75
    │   │   └── FolderInUseError   a command that is no harvest holds it (harvester forget)
    │   └── SplitHeldError         a run of another split (or of the whole set) holds its images
    ├── RemoteError                the server cannot be used at all -> exit 2
    │   ├── NotOmeroError          it answers, but not as OMERO.web does (not unreachable)
    │   ├── CredentialsError       it answers 401: credentials missing or refused
    │   │   └── SessionEndedError  refused before the walk: the session or token sent has ended
    │   ├── UntrustedServerError   the TLS handshake fails (its certificate not trusted here)
    │   └── ServerUnavailableError busy, breaking off its answers or failing (500): try later -> 75
    ├── FetchError                 one request failed for good (.url redacted, .status, .reason)
    │   ├── TransientError         retryable (.retry_after, .overload)
    │   │   ├── TransportError     connect/read errors, resets, timeouts, truncated bodies
    │   │   │   └── BrokenAnswerError  the server began answering, then broke off (reset, cut short)
    │   │   ├── OverloadError      429, 503, 504: the server asks us to slow down
    │   │   ├── ServerStatusError  408, 500, 502
    │   │   └── InvalidBodyError   HTML with 200, wrong magic bytes, bad JSON, imgData "Exception"
    │   │                          (not the pixel-buffer one: UnrenderableError)
    │   └── PermanentError         never retried: any other 4xx, refused redirects, JPEG for PNG
    │       └── UnrenderableError  the server cannot open the image's pixels (imgData Exception)
    └── StorageError               disk full (exit 1), read-only, not writable -> exit 2 (1 mid-run)

Credentials must never leak through an error message. :func:`redact_url`
lives here (the lowest layer) so that :class:`FetchError` can redact every
URL it is given, whoever builds it; ``client.py`` re-exports it.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

__all__ = [
    "BrokenAnswerError",
    "ConfigError",
    "CredentialsError",
    "FetchError",
    "FolderBusyError",
    "FolderInUseError",
    "SplitHeldError",
    "HarvesterError",
    "InvalidBodyError",
    "NotOmeroError",
    "OverloadError",
    "PermanentError",
    "RemoteError",
    "ServerStatusError",
    "SessionEndedError",
    "StorageError",
    "TLSError",
    "TargetNotFoundError",
    "TransientError",
    "TransportError",
    "UntrustedServerError",
    "UnrenderableError",
    "UsageError",
    "base_url_holds_secret",
    "cut_user_shown",
    "ends_user",
    "is_secret_name",
    "redact_base_url",
    "redact_loose_url",
    "redact_text",
    "redact_url",
    "remember_secrets",
    "url_secret_values",
    "url_holds_secret",
]

REDACTED = "REDACTED"

# Query parameter / header / cookie names whose values are secrets. Matching is
# deliberately broad (substring, case-insensitive): redacting a harmless value
# costs nothing, leaking a session key (OMERO's ``bsession=``) costs a lot.
_SECRET_NAME = re.compile(
    r"key|token|session|passw|pwd|secret|auth|sig|csrf|cred|cookie|jwt|bearer",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a query parameter, header or cookie called ``name`` holds a secret."""
    return _SECRET_NAME.search(name) is not None


def redact_url(url: str) -> str:
    """``url`` with every credential replaced by ``REDACTED``.

    Redacts the password of ``user:password@host`` (a user without a password,
    ``TOKEN@host``, is the credential itself: :func:`_redact_userinfo`) and the value of
    any query parameter whose (percent-decoded) name looks secret (``bsession``,
    ``api_key``, ``token``, ``password``...). Everything else is kept byte for
    byte, so a redacted URL still identifies the request; the function is
    idempotent. Fast path: URLs without ``?`` or ``@`` are returned as is.
    """
    if "?" not in url and "@" not in url:
        return url
    head, sep_frag, fragment = url.partition("#")
    base, sep_q, query = head.partition("?")
    scheme_end = base.find("://")
    if scheme_end >= 0:
        authority_start = scheme_end + 3
        slash = base.find("/", authority_start)
        authority_end = len(base) if slash < 0 else slash
        authority = base[authority_start:authority_end]
        at = authority.rfind("@")
        if at >= 0:
            authority = _redact_userinfo(authority[:at]) + authority[at:]
            base = base[:authority_start] + authority + base[authority_end:]
    if sep_q:
        parts = query.split("&")
        for index, part in enumerate(parts):
            name, eq, _value = part.partition("=")
            if eq and is_secret_name(unquote(name)):
                parts[index] = f"{name}={REDACTED}"
        query = "&".join(parts)
    return base + sep_q + query + sep_frag + fragment


def _redact_userinfo(userinfo: str) -> str:
    """A URL's ``userinfo`` (before its ``@``) with its credential replaced by ``REDACTED``:
    the password of ``user:password``, or else the user, whole.

    Why the user: sent as HTTP Basic with an empty password, ``TOKEN@host`` (or ``TOKEN:@``)
    is how many services take an access token, so a user without a password is no name
    to show but the secret. With a password the user stays, naming whose it was."""
    user, colon, password = userinfo.partition(":")
    if password:
        return f"{user}:{REDACTED}"
    return f"{REDACTED}{colon}" if user else userinfo


def redact_base_url(url: str) -> str:
    """:func:`redact_url`, and every query value too: a base URL's query goes with every
    request, and whatever it holds (``?sid=``, ``?ticket=``, names :func:`is_secret_name`
    does not know) is withheld like a session key (the saved configuration keeps no query:
    ``HarvestConfig.withheld``), so no saved command line or printed command spells it out.
    """
    url = redact_url(url)
    head, sep_frag, fragment = url.partition("#")
    base, sep_q, query = head.partition("?")
    if not sep_q:
        return url
    parts = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        parts.append(f"{name}={REDACTED}" if eq else part)
    return f"{base}?{'&'.join(parts)}{sep_frag}{fragment}"


def base_url_holds_secret(url: str) -> bool:
    """Whether a base URL holds what :func:`redact_base_url` hides (a user or password, a
    query value): what no printed command, script or file may spell out."""
    return redact_base_url(url) != url


def redact_loose_url(text: str) -> str:
    """:func:`redact_url` for text given as a URL that may not be one: a base URL refused
    because its scheme is missing or wrong (``alice:pw@omero.example.org``,
    ``//alice:pw@host``, ``ftp://...``). Such text is named in the error that refuses it,
    and :func:`redact_url` finds ``user:password@`` only after a ``://``; here the
    authority starts there, after a leading ``//``, or at the start. An authority without
    ``@`` whose "port" is not a number (``http://alice:pa/ss@host``: the password's ``/``
    ended the authority; a ``?`` or ``#`` does too) shows no port either: it may be a
    password's first part, and what follows up to the text's last ``@`` its rest
    (``http://alice:REDACTED@host``; ``ss@host`` was shown, half the password). A user
    without a password (``TOKEN@host``) is hidden whole, as :func:`redact_url` hides it.
    """
    head, sep, rest = text.partition("?")
    head, hash_sep, fragment = head.partition("#")
    start = head.find("://") + 3 if "://" in head else (2 if head.startswith("//") else 0)
    slash = head.find("/", start)
    end = len(head) if slash < 0 else slash
    at = head.rfind("@", start, end)
    colon = head.rfind(":", start if at < 0 else at, end)
    port = head[colon + 1 : end] if colon >= 0 else ""
    alone = at >= 0 and ":" not in head[start:at]  # a user without a password: a token
    if at >= 0 and not alone:
        head = f"{head[:start]}{_redact_userinfo(head[start:at])}{head[at:]}"
    elif port and not port.isdigit() and "]" not in port:
        whole = head + hash_sep + fragment + sep + rest
        last_at = whole.rfind("@", colon)
        if last_at >= 0:  # the password ran on past a '/', '?' or '#' to the host's '@'
            lead = (
                f"{head[:start]}{REDACTED}{head[at : colon + 1]}" if alone else whole[: colon + 1]
            )
            return redact_url(f"{lead}{REDACTED}{whole[last_at:]}")
        head = f"{head[: colon + 1]}{REDACTED}{head[end:]}"
    if alone:  # (what the "port" hid was after it: its place is as it was)
        head = f"{head[:start]}{REDACTED}{head[at:]}"
    return _hide_cut_user(text, redact_url(head + hash_sep + fragment + sep + rest))


#: A scheme as typed, mistyped too (``http//``, ``https:/``), or a leading ``//``.
_LOOSE_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*|https?/+|/+", re.IGNORECASE)
_HTTP_SCHEME = re.compile(r"https?://", re.IGNORECASE)
#: What follows a URL's last ``@`` when it ends a user: a host (and port), then the rest.
#: A host name may hold a '_' (a docker-compose service, omero_web) or non-ASCII letters
#: (an IDN): \w takes both.
_LOOSE_HOST = re.compile(r"(?:[\w.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?(?:[/?#]|$)")


def ends_user(text: str, at: int) -> bool:
    """Whether the ``@`` at ``at`` in ``text`` ends a user (or password) cut off from its
    authority: a host (and port) follows it, and it is not in a query value (``?email=a@b.org``;
    an ``=`` between the ``?`` and the ``@``, base64 padding aside). Shared by the refusal
    of such a base URL (:mod:`harvester.config`) and the redaction of its text."""
    if not _LOOSE_HOST.match(text, at + 1):
        return False
    query = text.find("?")
    return not (0 <= query < at and "=" in text[query + 1 : at].rstrip("="))


def cut_user_shown(url: str) -> str | None:
    """``scheme://REDACTED@host...`` (no query) for an ``http(s)://`` URL whose user (or
    password) a ``/``, ``?`` or ``#`` cut short, else None.

    Why: ``https://TOK/EN@host`` (a token given as the user, base64 holds '/') parses as the
    host ``TOK`` with ``/EN@host`` its path, a valid URL, so nothing hid the token: a base
    URL so typed printed it in the error of a host that does not resolve, and a pasted
    link's message named ``https://TOK`` (its first part) when a '?' or '#' cut it. A ':'
    before the cut (a password) is a port that is no number, refused by that. An '@' after
    a '/' or '#' and before a host is no OMERO.web path; after a '?' it is taken for a cut
    only where no '=' comes between them (base64 padding aside): ``?email=a@b.org`` stays.
    Shared by the refusal of such a base URL (:mod:`harvester.config`) and of such a link
    (:mod:`harvester.target_text`).
    """
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=-1)
    if not sep or at < 0 or cut < 0 or cut > at:
        return None  # (an '@' in the authority: the userinfo is whole, redact_url hides it)
    if not ends_user(rest, at):
        return None  # no host after the '@', or a query value holding one: not a token
    return f"{scheme}://{REDACTED}@{rest[at + 1 :].partition('?')[0].partition('#')[0]}"


def _hide_cut_user(text: str, shown: str) -> str:
    """``shown`` (:func:`redact_loose_url`'s), or, when it still holds the user (or password)
    before ``text``'s last ``@`` and a host, ``text`` with all of it hidden.

    Why: the authority is found after a ``://``; a scheme mistyped (``http//TOKEN@host``,
    ``https:/TOKEN@host``) or a token's ``/`` before the ``@`` (``ftp://TOK/EN@host``) put
    the user outside it, and the refusal showed the token whole. An ``http(s)://`` URL's
    own authority is the one :func:`redact_url` finds (``http://h/p:q@r``: no user; the
    configuration refuses such a cut by itself, as ``REDACTED@r``).
    """
    at = text.rfind("@")
    if at < 0 or _HTTP_SCHEME.match(text) or not ends_user(text, at):
        return shown
    scheme = _LOOSE_SCHEME.match(text)
    start = scheme.end() if scheme is not None and scheme.end() <= at else 0
    user, colon, password = text[start:at].partition(":")
    if not text[start:at] or (colon and "/" not in user and password not in shown):
        return shown  # (a password hidden already: its user stays, naming whose it was)
    return redact_url(f"{text[:start]}{REDACTED}{text[at:]}")


#: Credential values this process was given (a run's headers, cookies, the base URL's user or
#: password and query values), noted as its configuration and clients are made, for
#: :func:`redact_text`. Process-wide: one command runs per process.
_remembered: set[str] = set()
#: A URL in free text: a scheme, then anything up to a space, quote or bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")


def url_secret_values(url: str) -> list[str]:
    """The credential values ``url`` holds, as typed and percent-decoded: the password of
    ``user:password@``, else the user of ``TOKEN@``; every query value (as
    :func:`redact_base_url` hides them all). Read as text: no URL is refused here."""
    base, _, query = url.partition("#")[0].partition("?")
    authority = base.partition("://")[2].partition("/")[0]
    values = [part.partition("=")[2] for part in query.split("&")]
    if "@" in authority:
        user, _, password = authority.rpartition("@")[0].partition(":")
        values.append(password or user)
    return [each for value in values if value for each in dict.fromkeys((value, unquote(value)))]


def remember_secrets(values: Iterable[str]) -> None:
    """Note credential values for :func:`redact_text` (shorter than 4 characters: too common
    to replace in text, as the client's echo scrubbing decides)."""
    _remembered.update(value for value in values if len(value) >= 4)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text nobody built to be shown (an internal error's message, ``str()`` of any
    exception), made fit to print: every URL in it as :func:`redact_base_url` shows it, then
    every credential value noted by :func:`remember_secrets` (and ``secrets``), longest
    first, replaced by ``REDACTED``. Why both: a bug's message may hold the base URL whole,
    or a header's value or a token alone."""
    text = _URL_IN_TEXT.sub(_redact_found_url, text)
    values = _remembered.union(value for value in secrets if len(value) >= 4)
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def _redact_found_url(found: re.Match[str]) -> str:
    """A URL found in text, redacted; the punctuation that ends a sentence after it stays."""
    url = found.group(0)
    core = url.rstrip(",.;:!?")
    return redact_base_url(core) + url[len(core) :]


def url_holds_secret(url: str) -> bool:
    """Whether ``url`` holds a credential :func:`redact_url` hides (the password of
    ``user:password@``, the user of ``TOKEN@``, a secret query parameter such as
    ``bsession=``): a URL the server answers as someone, and one no printed command, script
    or file may spell out."""
    return redact_url(url) != url


class HarvesterError(Exception):
    """Base of every error the harvester raises on purpose.

    ``hint`` is a short next step for the user ("re-run the same command to
    resume"); the CLI prints it on its own line.
    """

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class UsageError(HarvesterError):
    """Bad command-line arguments or settings (exit code 2)."""


class TargetNotFoundError(UsageError):
    """A target named by id (screen, project, plate, dataset, image) that the server does
    not have: the run is refused before it does any work (exit 2), and leaves no target
    set for ``harvester harvest --out DIR`` to replay (a typo would fail every resume)."""


class FolderBusyError(UsageError):
    """Another live run holds the folder's (or the shard's) run lock. Exit code 75
    (``EX_TEMPFAIL``), not 2: nothing is wrong with the command, and the same command resumes
    once that run has ended, so a cron job or a shell loop retrying on 75 waits it out rather
    than calling a person. (Shards of different counts over one folder stay a plain
    :class:`UsageError`: that is a mistake to fix, not a wait.)"""


class FolderInUseError(FolderBusyError):
    """The folder's run lock is held by a command that is no harvest (``harvester forget``,
    while it records its change): exit 75 as for a run. A class of its own so that a refused
    harvest's hint is not replaced by one about the holder's targets, which it has none of."""


class SplitHeldError(UsageError):
    """A ``--shard`` run refused because a run of another shard count, or of the whole set,
    holds DIR (exit 2, as any :class:`UsageError`). ``whole_set``: the holder is a harvest
    of the whole set, which every shard of every count is refused beside: a resume of
    several target sets stops at it rather than say it once per set."""

    def __init__(self, message: str, *, hint: str | None = None, whole_set: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.whole_set = whole_set


class ConfigError(UsageError):
    """A configuration file or value is invalid (exit code 2).

    ``key``: the setting at fault where there is one, so that a value read from a config
    file is said with the file's name (:func:`harvester.config.resolve`), as an unknown key is.
    ``file_hint``: the hint for a value read from a config file, where ``hint`` names a flag
    (``rate = "none"``, not ``--rate none``): a user who never typed the flag is told where
    the value came from and how to write it there.
    """

    key: str | None = None
    file_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        key: str | None = None,
        file_hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        if key is not None:
            self.key = key
        if file_hint is not None:
            self.file_hint = file_hint


class RemoteError(HarvesterError):
    """The server cannot be used at all: unreachable, or not an OMERO.web server."""


class NotOmeroError(RemoteError):
    """The server answered, but its ``api/`` is not OMERO.web's JSON API root (an HTML page,
    another service, a wrong path in ``--base-url``). Unlike an unreachable server, this is
    the same from every machine: ``harvester slurm`` refuses it at once rather than leaving
    it to each task (a class, so that no caller matches the message's words)."""


class UnreachableServerError(RemoteError):
    """The server check got no answer at all (nothing listening, no route, no such host):
    a resume of a folder holding the same targets from another server tells it apart from
    the other failures, as a server that may have moved there (a class, so that no caller
    matches the message's words). Not through a proxy: a proxy that does not answer says
    nothing of the server, and each server's set was offered to be forgotten."""


class UntrustedServerError(RemoteError):
    """The server check's TLS handshake failed (a certificate of a CA not trusted, for
    another name, or no TLS): the server was never heard, yet unlike a host not reached it
    fails the same from every machine trusting the same CAs, so ``harvester slurm`` refuses
    it rather than leaving it to each task (a class, so that no caller matches words)."""


class CredentialsError(RemoteError):
    """The server answered 401: it wants HTTP auth that was not sent, or refused what was.
    Every request, from every machine, would get the same answer: ``harvester slurm``
    refuses it at once, as it does a server that is not OMERO.web, rather than submitting
    tasks that would each fail the same way."""


class SessionEndedError(CredentialsError):
    """A lookup made before the walk and the fetch (a target's check, a name's listing) was
    refused because the session the run sent has ended (``status`` 403, OMERO.web's "Not
    logged in") or the credentials it sent are refused everywhere (401): see
    :meth:`harvester.session.SessionWatch.refused_at_start`. ``reason``: the answer that
    showed it. A harvest and a plan turn it into the stop the watch makes mid-run (the
    same ``error:`` and ``hint:``); its own message and hint say it for any other caller."""

    def __init__(self, message: str, *, status: int, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


class ServerUnavailableError(RemoteError):
    """The server is there but not serving: busy (429/502/503/504), breaking off its answers or
    failing with an error of its own (an API root answering 500), through the run's whole retry
    budget. Exit code 75 (``EX_TEMPFAIL``): a wrapper (cron, a SLURM epilog, a shell loop) can
    tell "try again later" from a mistake to fix."""


class StorageError(HarvesterError):
    """The output folder cannot take our files: full, read-only, not writable."""

    #: A full disk, a quota or a file-size limit: exit 1 whenever it happens (as mid-run),
    #: not 2, which says the command itself is wrong: the same command works once there is
    #: space (README's exit table).
    out_of_space: bool = False

    def __init__(
        self, message: str, *, hint: str | None = None, cause: OSError | None = None
    ) -> None:
        """``cause``: the OSError it reports, whose errno tells :attr:`out_of_space`.

        Why here: each writer that wraps an OSError (the store, a plan, SLURM scripts)
        must tell a full disk apart, and one wrapped by hand said exit 2 for it."""
        super().__init__(message, hint=hint)
        #: The errno of ``cause`` (None: none): a command that harvests nothing words the
        #: hint again by it (``store.retold_storage_error``).
        self.cause_errno = None if cause is None else cause.errno
        if cause is not None and cause.errno in OUT_OF_SPACE_ERRNOS:
            self.out_of_space = True


#: The errnos of a full disk, a disk quota and a file-size limit (StorageError.out_of_space).
OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class FetchError(HarvesterError):
    """One request failed for good (after any retries).

    ``url`` is always redacted (the constructor redacts whatever it gets);
    ``status`` is the HTTP status or ``None`` when no answer arrived;
    ``reason`` is a short human explanation without the URL.
    """

    retryable: bool = False

    def __init__(
        self,
        reason: str,
        *,
        url: str = "",
        status: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.url = redact_url(url)
        self.status = status
        self.reason = reason
        message = reason
        if status is not None and str(status) not in reason:
            message = f"{reason} (HTTP {status})"
        if self.url:
            message = f"{message}: {self.url}"
        super().__init__(message, hint=hint)


class TransientError(FetchError):
    """A failure that may go away: the retry policy retries these.

    ``retry_after`` is the server's Retry-After in seconds (already parsed),
    which overrides the backoff. ``overload`` marks answers that mean "you are
    too fast" (429, 503, 504, timeouts): the adaptive limiter slows the whole
    run down when it sees one.
    """

    retryable = True
    overload: bool = False

    def __init__(
        self,
        reason: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        overload: bool | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(reason, url=url, status=status, hint=hint)
        self.retry_after = retry_after
        if overload is not None:
            self.overload = overload


class TransportError(TransientError):
    """No complete answer: connect/read errors, resets, timeouts, truncated bodies."""


class BrokenAnswerError(TransportError):
    """The server took the request and began to answer, then the answer broke off.

    Unlike a refused connection or silence, this is a server that is there (its proxy
    resetting or cutting answers short under load), so the server probe gives it the
    run's whole retry budget rather than failing fast.
    """


class OverloadError(TransientError):
    """429, 503 or 504: the server is overloaded or in maintenance."""

    overload = True


class ServerStatusError(TransientError):
    """408, 500 or 502: a server-side failure worth another try."""


class InvalidBodyError(TransientError):
    """Status 200 but the body is not what was asked for (HTML page, bad magic, bad JSON)."""


class PermanentError(FetchError):
    """A failure that retrying cannot fix: other 4xx answers, refused redirects."""


class RedirectRefused(PermanentError):
    """A redirect not followed (off the base URL's origin, or ``follow_redirects`` off).

    ``target`` is where it pointed, redacted: the server check names it as the base URL
    to give (a front end sending http:// to https://, or / to /omero/).
    """

    def __init__(
        self, reason: str, *, target: str, url: str = "", status: int | None = None, hint: str
    ) -> None:
        super().__init__(reason, url=url, status=status, hint=hint)
        self.target = redact_url(target)


class UnrenderableError(PermanentError):
    """The server cannot open this image's pixels, so it renders nothing of it.

    imgData says so in a 200 answer (``"Exception": "Error instantiating pixel buffer:
    /OMERO/ManagedRepo/..."``): IDR answers it, every time, for each image it has not
    converted to OME-Zarr. Asking again cannot help and costs the request IDR's proxy does
    not cache, so it is not retried; render and stack, built from imgData, fail with it.
    """

    #: The ``meta`` of that imgData answer, which still names the image, its well and its
    #: dataset: the context index.csv shows of an image given by id (None: it had none).
    meta: dict[str, Any] | None = None


class TLSError(PermanentError):
    """The TLS handshake failed (untrusted certificate, wrong host name, not TLS at all).

    The server was never heard, so callers must not call it "not OMERO".
    """


#: Statuses of a server that is there but not serving now (maintenance, overload).
SERVER_BUSY = frozenset({429, 502, 503, 504})


def server_is_there(exc: FetchError) -> bool:
    """Did ``exc`` come from a server that is up but not serving: busy, or breaking off its
    answers? (Silence, a refused connection or a TLS failure say nothing of the kind.)"""
    return exc.status in SERVER_BUSY or isinstance(exc, BrokenAnswerError)


def unavailable(
    server: str, exc: FetchError, asked: str = "", *, honoured: float
) -> ServerUnavailableError | None:
    """The "try again later" error for ``exc``, if it says the server is busy or keeps breaking
    off its answers (after the retries); None for any other failure. ``asked``: what the
    failed request was for (" (asked for screen 3)"), when it was not the API root.

    ``honoured``: the longest Retry-After a retry waits (the client's
    ``retry.max_retry_after``). Only a longer one says when to come back: the server is down
    for a while (a maintenance page's 900 s). A shorter one was waited out by the retries
    already, and "come back in 1s" after a whole budget of them read as a joke: "later".
    """
    if not server_is_there(exc):
        return None
    if exc.status in SERVER_BUSY:
        retry_after = getattr(exc, "retry_after", None)
        when = "later"
        if retry_after is not None and retry_after > honoured and retry_after >= 1:
            from harvester.text import duration_text

            when = f"in {duration_text(retry_after, tenths=False)} (its Retry-After)"
        return ServerUnavailableError(
            f"{server} is unavailable{asked}: {exc.reason} (maintenance or overload)",
            hint=f"the server asks to come back {when}: run the same command again then",
        )
    return ServerUnavailableError(
        f"{server} keeps breaking off its answers{asked}: {exc.reason}",
        hint="the server (or a proxy before it) is struggling: try again later",
    )


def with_status(status: int | None, reason: str) -> str:
    """``reason`` led by its HTTP status once: ``HTTP 404 Not Found: ...`` as the client words
    it, ``HTTP 403: needs imgData ...`` where the reason does not say it (never twice).

    A 2xx status is left out: the server said yes and the body was wrong (an imgData
    ``Exception``, an HTML page), which the reason says; "HTTP 200: ... failed" read as a
    contradiction.
    """
    if status is None or 200 <= status < 300 or reason.startswith(f"HTTP {status}"):
        return reason
    return f"HTTP {status}: {reason}"


#: The logger of warnings that ``--quiet`` still prints: the run goes on, but will not give
#: what was asked (a misspelt ``--where`` or ``--label-key`` key: an empty selection, empty
#: labels). ``--quiet`` means "problems only"; these are the user's problem to fix.
PROBLEMS_LOGGER = "harvester.problems"

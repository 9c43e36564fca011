"""Where the raw data is: the ``paths`` artifact and the list of original files to download.

The HTTP API serves rendered pixels only; the files a study was imported from are elsewhere.
OMERO.web names them per image: ``webgateway/original_file_paths/{id}/`` answers
``{"repo": [...], "client": [...], "fileset": {"id": N}}``, every file of the image's fileset
in the managed repository (``repo``) and as imported (``client``), or ``{}`` for an image
imported before OMERO 5 (no fileset). The ``paths`` artifact is that answer verbatim,
``images/AAA/BBB/<id>.paths.json``; its done record carries the fileset id, so that the
index has a ``fileset_id`` column without reading the files.

A plate is often one fileset whose every image lists every file of the plate, so the list of
originals (:func:`write_originals`) reads one ``paths`` file per fileset, not one per image,
and lists each file once per fileset:

* ``DIR/originals.tsv``: ``url``, ``path`` (the client path), ``fileset_id``; the images a
  file serves are the index rows with its ``fileset_id`` (OMERO does not say which file of a
  fileset holds which image), so a file two filesets list (imported twice) has a row under
  each, and the rows of a file are the distinct (path, fileset) pairs;
* ``DIR/raw-urls.txt``: the distinct public URLs, one a line, for ``wget -i``/``aria2c -i``.

Both are tables harvester writes like ``index.csv`` (:func:`harvester.index.write_table`):
recorded in ``DIR/written.json``, and a copy changed by hand is kept beside the new one.

Every index write lists them, at the end of every run: a study of a million single-image
filesets is a million ``paths`` files. ``DIR/originals-read.jsonl`` (:data:`CACHE_NAME`)
keeps what each file read said, checked against the size and SHA-256 of its done record and
sealed by a digest of its own, so a write reads only the files that are new or fetched again.
A file taken from it is stat'ed first: one deleted (or cut) since is read as a write from
scratch would read it, and counted missing (or unreadable) rather than listed from memory.

A client path becomes a public URL only by a prefix mapping (:class:`UrlMap`): IDR's
(:data:`IDR_URL_MAPS`: ``uod/idr/filesets``, ``idr/filesets``... -> its EBI FTP/HTTPS
mirror) for a folder harvested from IDR, or the
one ``harvester index --raw-url-map FROM=TO`` recorded in ``DIR/raw_url_map.json``. A
private server has no public mirror: its files are listed with their paths only.

Server-supplied paths never name a local file: the ``paths`` files are named by image id,
and a path that could climb out of the mirror (``..``, an absolute path, control
characters) gets no URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from harvester import layout
from harvester.errors import ConfigError, redact_loose_url, redact_url
from harvester.shell_words import shell_quote

logger = logging.getLogger(__name__)

#: The artifact kind (``--artifacts paths``).
PATHS_KIND = "paths"
#: ``DIR/originals.tsv``: one row per distinct original file.
ORIGINALS_NAME = layout.ORIGINALS_NAME
#: ``DIR/raw-urls.txt``: the distinct public URLs, one a line.
RAW_URLS_NAME = layout.RAW_URLS_NAME
#: ``DIR/raw_url_map.json``: the mappings ``harvester index --raw-url-map`` recorded.
URL_MAP_NAME = "raw_url_map.json"
#: ``DIR/originals-read.jsonl``: what each ``paths`` file read for the list said, by image id
#: with the size and SHA-256 of its done record, so that the next write reads only new or
#: changed files (:func:`_collect`).
CACHE_NAME = "originals-read.jsonl"
#: The columns of ``originals.tsv``.
ORIGINALS_COLUMNS = ("url", "path", "fileset_id")
#: IDR's servers: a folder harvested from one of these gets IDR's mapping by default.
IDR_HOSTS = frozenset({"idr.openmicroscopy.org"})


@dataclass(frozen=True, slots=True)
class UrlMap:
    """Client paths starting with ``prefix`` (a whole path component) map to ``base`` + rest."""

    prefix: str
    base: str

    def __post_init__(self) -> None:
        # Errors are labelled with the flag: a user's mapping comes from --raw-url-map
        # alone (a recorded one that fails is warned of as a damaged raw_url_map.json).
        if not self.prefix.strip("/"):
            raise ConfigError("--raw-url-map: the path prefix (before '=') is empty")
        try:
            parts = urlsplit(self.base)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            parts = None
        if parts is not None and (
            parts.username is not None or parts.password is not None or parts.query
        ):
            # It is written into raw-urls.txt and raw_url_map.json: no secrets there.
            raise ConfigError(
                "--raw-url-map: the URL must not hold credentials or a query",
                hint="give a public base URL; pass credentials to your download tool instead",
            )
        if (
            parts is None
            or parts.scheme.lower() not in ("http", "https", "ftp")
            or not parts.netloc
            or "#" in self.base
            or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in self.base)
        ):
            # A '#' or a space would end each URL written after it (wget -i reads a line's
            # first word); a malformed host or port is no URL to fetch from.
            raise ConfigError(
                f"--raw-url-map: {redact_loose_url(self.base)!r} is not an http(s) or ftp URL "
                "(without spaces or '#')",
                hint="e.g. --raw-url-map uod/idr/filesets=https://ftp.ebi.ac.uk/pub/databases/IDR",
            )

    def spelled(self) -> str:
        """As given on the command line (``FROM=TO``)."""
        return f"{self.prefix}={self.base}"


#: IDR's public mirror of its original files.
IDR_MIRROR = "https://ftp.ebi.ac.uk/pub/databases/IDR"
#: EBI's public S3 bucket of OME-Zarr filesets (IDR's ``Embassy_S3`` studies).
BIA_S3 = "https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data"
#: IDR's import folders and where the mirror serves them, as IDR's own table lists them
#: (``_data/download_urls.tsv`` of IDR/idr.openmicroscopy.org: ``replace_this`` ->
#: ``with_this``): a study's client paths start with one of these, by when it was imported
#: (``idr/filesets`` for idr0001-idr0009, ``uod/idr/incoming`` for idr0018/idr0021/idr0023,
#: ``nfs/bioimage/drop`` for idr0056/idr0063, ``uod/idr/filesets`` for most). The studies
#: whose mirror folder has another name than their import folder come first (the first that
#: fits wins). Files IDR keeps in GitHub (``uod/idr/metadata``, companion files) or whose
#: study is not mirrored get no URL.
IDR_URL_MAPS: tuple[UrlMap, ...] = (
    UrlMap("uod/idr/filesets/idr0045-reichmann", f"{IDR_MIRROR}/idr0045-reichmann-zygotespindle"),
    UrlMap(
        "idr/tmp/idr_datasets/201301120-breker-proteome-plasticity",
        f"{IDR_MIRROR}/idr0003-breker-plasticity",
    ),
    UrlMap("uod/idr/filesets", IDR_MIRROR),
    UrlMap("idr/filesets", IDR_MIRROR),
    UrlMap("uod/idr/incoming", IDR_MIRROR),
    UrlMap("nfs/bioimage/drop", IDR_MIRROR),
    UrlMap("bia-idr/S-BIAD582", "https://ftp.ebi.ac.uk/biostudies/fire/S-BIAD/582/S-BIAD582/Files"),
    # The OME-Zarr studies IDR imported in place from EBI's S3: the client path is the URL.
    UrlMap(BIA_S3, BIA_S3),
)


def parse_url_map(text: str) -> UrlMap:
    """``FROM=TO`` -> a :class:`UrlMap` (ConfigError with a hint otherwise)."""
    prefix, sep, base = text.partition("=")
    if not sep:
        raise ConfigError(  # (a URL pasted alone may hold a password: not shown)
            f"--raw-url-map: {redact_loose_url(text)!r} is not FROM=TO",
            hint="e.g. --raw-url-map uod/idr/filesets=https://ftp.ebi.ac.uk/pub/databases/IDR",
        )
    return UrlMap(prefix.strip(), base.strip())


@dataclass(frozen=True, slots=True)
class FilesetPaths:
    """One ``original_file_paths`` answer: the fileset id (None: none) and its client paths."""

    fileset_id: int | None
    client: tuple[str, ...]


def parse_paths(body: Any) -> FilesetPaths:
    """The answer's fileset and client paths; ValueError when it has another shape.

    ``{}`` (no fileset) is a valid answer with no files. Older OMERO.web (its webgateway before
    the answer named the fileset) gives the path lists alone: valid, the fileset unnamed.
    """
    if not isinstance(body, dict):
        raise ValueError("original_file_paths is not a JSON object")
    if not body:
        return FilesetPaths(None, ())
    fid: Any = None
    if "fileset" in body:
        fileset = body["fileset"]
        fid = fileset.get("id") if isinstance(fileset, dict) else None
        if isinstance(fid, bool) or not isinstance(fid, int):
            raise ValueError("original_file_paths without a fileset id")
    client = body.get("client")
    repo = body.get("repo")
    for name, paths in (("client", client), ("repo", repo)):
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise ValueError(f"original_file_paths without a list of {name} paths")
    assert isinstance(client, list)  # (checked above; for mypy)
    return FilesetPaths(fid, tuple(client))


#: A control character (C0 or DEL): a path with one gets no URL, a cell has it encoded.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _safe_rest(path: str, prefix: str) -> str | None:
    """The part of ``path`` after ``prefix`` when it is a plain relative path, else None
    (``path`` is free of control characters and valid UTF-8: :func:`public_url` checks)."""
    head = prefix.strip("/")
    if not path.startswith(head + "/"):
        return None
    rest = path[len(head) + 1 :]
    parts = rest.split("/")
    if not rest or any(part in ("", ".", "..") for part in parts) or "\\" in rest:
        return None
    return rest


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 once encoded (JSON can carry a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def public_url(path: str, maps: Sequence[UrlMap]) -> str:
    """The public URL of a client path under the first mapping that covers it ("" if none).

    The rest of the path is percent-encoded (a space, ``#`` or ``?`` in a file name must
    not end the URL's path); a path with ``..``, an empty component or a control character
    gets no URL, nor does one that is a URL holding a credential (a token in its query):
    encoded into the URL, it reached raw-urls.txt beside a path cell listed redacted.
    """
    if not maps or _CONTROL.search(path) or not _utf8(path) or _holds_credential(path):
        return ""
    for url_map in maps:
        rest = _safe_rest(path, url_map.prefix)
        if rest is not None:
            return f"{url_map.base.rstrip('/')}/{quote(rest, safe='/')}"
    return ""


def _holds_credential(path: str) -> bool:
    """Whether a client path is a URL with a password or token in it (listed redacted)."""
    return "://" in path and redact_url(path) != path


def _tsv_cell(text: str) -> str:
    """A server-supplied text as one TSV cell: tabs, line ends and control characters
    percent-encoded, so that a path cannot add a column or a row. (A client path that is a
    URL, as an import in place from S3 has, comes with any password in it redacted.)"""
    return _CONTROL.sub(lambda found: quote(found.group()), text)


def default_maps(server_url: str | None) -> tuple[UrlMap, ...]:
    """IDR's mappings for a folder harvested from IDR; none otherwise (no public mirror)."""
    host = (urlsplit(server_url).hostname or "") if server_url else ""
    return IDR_URL_MAPS if host.lower() in IDR_HOSTS else ()


def read_recorded_maps(out_dir: Path) -> tuple[UrlMap, ...] | None:
    """The mappings ``harvester index --raw-url-map`` recorded (None: none recorded).

    A damaged record is said once and read as none recorded (the default applies).
    """
    try:
        raw = (out_dir / URL_MAP_NAME).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read %s (%s): raw URLs use the default mapping", URL_MAP_NAME, exc)
        return None
    try:
        record = json.loads(raw)
        return tuple(parse_url_map(str(item)) for item in record["maps"])
    except (ValueError, KeyError, TypeError, ConfigError):
        logger.warning("%s is damaged: raw URLs use the default mapping", out_dir / URL_MAP_NAME)
        return None


def record_maps(out_dir: Path, maps: Sequence[UrlMap]) -> None:
    """Record the mappings for later writes of the list (``harvester index``, a harvest)."""
    from harvester.store import atomic_write_bytes

    body = json.dumps({"maps": [m.spelled() for m in maps]}, indent=1) + "\n"
    atomic_write_bytes(out_dir, out_dir / URL_MAP_NAME, body.encode("utf-8"))


def folder_maps(out_dir: Path) -> tuple[UrlMap, ...]:
    """The mappings in force for DIR: those recorded, then the default for its server.

    The default stays behind the recorded ones: a mapping added for the files IDR's leaves
    out (its GitHub-kept companion files, say) must not take every other URL away.
    """
    from harvester.config import folder_server_url

    return (*(read_recorded_maps(out_dir) or ()), *default_maps(folder_server_url(out_dir)))


@dataclass(frozen=True, slots=True)
class OriginalsSummary:
    """What :func:`write_originals` wrote."""

    files: int
    urls: int
    filesets: int
    unreadable: int
    #: Whether a mapping was in force (none fitting the paths is not "no mirror known").
    mapped: bool = False
    #: ``paths`` files that a done record names and that are not on disk.
    missing: int = 0


#: One done ``paths`` artifact: image id, fileset id from its record (None: none), record.
_PathsRecord = tuple[int, int | None, Mapping[str, Any]]
#: The fileset(s) listing one client path: one id, several (a file imported twice), or
#: None (only answers that named no fileset list it).
_Filesets = int | tuple[int, ...] | None


def _paths_records(done: Mapping[tuple[str, int], Mapping[str, Any]]) -> list[_PathsRecord]:
    """Every done ``paths`` artifact of ``done``, by image id (as the cache is written):
    the one pass over the done records a write of the lists makes."""
    found: list[_PathsRecord] = []
    for (kind, image_id), rec in done.items():
        if kind == PATHS_KIND:
            fid = rec.get("fileset_id")
            found.append((image_id, fid if isinstance(fid, int) else None, rec))
    found.sort(key=itemgetter(0))
    return found


#: The first line of ``DIR/originals-read.jsonl`` (its format's version).
CACHE_HEADER = b'{"harvester originals read": 1}\n'


#: One entry of the cache: image id, size, SHA-256, what the file said, the line as written.
_Entry = tuple[int, int, str, FilesetPaths, bytes]


def _cache_entry(line: bytes) -> _Entry | None:
    """The entry of one cache line; None if malformed (the trailer is)."""
    try:
        image_id, size, sha256, fid, client = json.loads(line)
    except (ValueError, TypeError):
        return None
    if (
        not isinstance(image_id, int)
        or not isinstance(size, int)
        or not isinstance(sha256, str)
        or not (fid is None or (isinstance(fid, int) and not isinstance(fid, bool)))
        or not isinstance(client, list)
        or not all(isinstance(path, str) for path in client)
    ):
        return None
    return image_id, size, sha256, FilesetPaths(fid, tuple(client)), line


def _cache_intact(cache: Path) -> bool:
    """Whether ``cache`` is whole as written: its last line holds the SHA-256 of the lines
    before it. One sequential read; a cache edited by hand, cut short by a crash (it is
    written without fsync) or from another version fails it and is not used."""
    digest = hashlib.sha256()
    try:
        with cache.open("rb") as lines:
            first = lines.readline()
            if first != CACHE_HEADER:
                return False
            previous = first
            for line in lines:
                digest.update(previous)
                previous = line
    except OSError:
        return False
    return previous == b'{"sha256": "%s"}\n' % digest.hexdigest().encode()


def _cached(cache: Path | None) -> Generator[_Entry, None, None]:
    """The entries of an intact cache, in the order written (by image id); none otherwise
    (None: no cache to read)."""
    if cache is None:
        return
    if not _cache_intact(cache):
        if cache.exists():
            logger.info("%s is not as harvester wrote it: paths files read again", cache)
        return
    with cache.open("rb") as lines:
        lines.readline()  # (the header)
        for line in lines:
            entry = _cache_entry(line)
            if entry is None:  # the trailer
                return
            yield entry


def _cacheable(got: FilesetPaths) -> bool:
    """Whether the file's paths may be kept in the cache: not one holding a credential (a
    client path that is a URL with a password or token, which originals.tsv lists redacted);
    such a file is read at every write instead, as is one whose done record has no size or
    SHA-256 to check it by."""
    return not any(_holds_credential(path) for path in got.client)


def _entry_line(image_id: int, size: int, sha256: str, got: FilesetPaths) -> bytes:
    """One cache line (ASCII: a lone surrogate in a path comes back as it was)."""
    body = json.dumps([image_id, size, sha256, got.fileset_id, got.client], ensure_ascii=True)
    return body.encode() + b"\n"


def read_paths_file(path: Path) -> FilesetPaths:
    """One ``paths`` file, parsed (OSError, ValueError: unreadable)."""
    return parse_paths(json.loads(path.read_bytes()))


class _Collector:
    """The files of every fileset, gathered while the cache of what was read is written.

    The records are taken by image id, as the cache was written, so the cache is read
    alongside them, one line at a time (a merge, not a table of a million entries): a file
    whose done record has the size and SHA-256 the cache has for it, and which is still
    there with that size (one stat), is not opened.
    """

    def __init__(self) -> None:
        self.files: dict[str, _Filesets] = {}
        self.seen: set[int] = set()
        self.unreadable = 0
        self.missing = 0
        self.opened = 0
        #: Whether every record was gathered (the cache's lines all made).
        self.complete = False

    def lines(
        self, out_dir: Path, records: Sequence[_PathsRecord], cache: Path | None
    ) -> Iterator[bytes]:
        """The new cache's lines, gathering ``files`` as they are made (``cache``: the old
        one to take unchanged files from; None: every file is read)."""
        digest = hashlib.sha256(CACHE_HEADER)
        yield CACHE_HEADER
        cached = _cached(cache)
        try:
            yield from self._gather(out_dir, records, cached, digest)
        finally:
            cached.close()  # (the old cache is replaced by the new one next)
        self.complete = True
        yield b'{"sha256": "%s"}\n' % digest.hexdigest().encode()

    def _gather(
        self,
        out_dir: Path,
        records: Sequence[_PathsRecord],
        cached: Iterator[_Entry],
        digest: Any,
    ) -> Iterator[bytes]:
        """The cache lines of the files listed, taken by image id beside the old cache's."""
        entry = next(cached, None)
        # DIR with its separator: a file's path is one concatenation, not a Path made (this
        # runs once per image of DIR at every index write, most files taken from the cache).
        base = os.path.join(out_dir, "")
        for image_id, fid, rec in records:
            if fid is not None and fid in self.seen:
                continue
            while entry is not None and entry[0] < image_id:
                entry = next(cached, None)
            got = self._read(base, image_id, rec, entry)
            if got is None:
                continue
            if isinstance(got, tuple):  # unchanged: its line again, as it was written
                digest.update(got[4])
                yield got[4]
                self._add(got[3])
                continue
            size, sha256 = rec.get("size"), rec.get("sha256")
            if isinstance(size, int) and isinstance(sha256, str) and _cacheable(got):
                line = _entry_line(image_id, size, sha256, got)
                digest.update(line)
                yield line
            self._add(got)

    def _read(
        self,
        base: str,
        image_id: int,
        rec: Mapping[str, Any],
        entry: _Entry | None,
    ) -> FilesetPaths | _Entry | None:
        """The file's content: the cache's entry when its record is unchanged and the file
        is still there as recorded, else read (what a write from scratch lists). ``base``:
        DIR ending in its separator."""
        path = base + str(rec["path"])
        if (
            entry is not None
            and entry[:3] == (image_id, rec.get("size"), rec.get("sha256"))
            and _there_with_size(path, entry[1])
        ):
            return entry
        self.opened += 1
        try:
            return read_paths_file(Path(path))
        except FileNotFoundError:
            logger.debug("paths file of image %s missing: not listed", image_id)
            self.missing += 1
        except (OSError, ValueError):
            logger.debug("paths file of image %s unreadable: not listed", image_id)
            self.unreadable += 1
        return None

    def _add(self, got: FilesetPaths) -> None:
        """One file's paths into ``files``: each path under every fileset that lists it (a
        fileset named wins over none)."""
        files = self.files
        fid = got.fileset_id
        if fid is None:  # ``{}``, or an older OMERO.web's lists without an id
            for path in got.client:
                files.setdefault(path, None)
            return
        if fid in self.seen:
            return
        self.seen.add(fid)
        for path in got.client:
            had = files.get(path)
            if had is None:
                files[path] = fid
            elif isinstance(had, int):
                if had != fid:  # (a path twice in one answer is one row)
                    files[path] = (had, fid)
            elif fid not in had:
                files[path] = (*had, fid)


def _there_with_size(path: str, size: int) -> bool:
    """Whether ``path`` is a regular file of ``size`` bytes (one stat): a ``paths`` file the
    cache holds is taken from it only then, so that one deleted or cut since it was read is
    told as a write from scratch tells it (missing, unreadable), not listed from memory."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size


def _collect(out_dir: Path, records: Sequence[_PathsRecord]) -> _Collector:
    """Every distinct client path with the fileset(s) listing it (None: the server named
    none), gathered from the ``paths`` files of ``records`` (:func:`_paths_records`).

    One file per fileset (records name the fileset); a record without one (an older
    record, ``{}``, or an older OMERO.web's answer without a fileset) is read to find out.
    Files are read only when ``DIR/originals-read.jsonl`` (:data:`CACHE_NAME`, rewritten
    here) does not hold them as their done records say they are.
    """
    from harvester.store import atomic_write_bytes

    collector = _Collector()
    cache = out_dir / CACHE_NAME
    lines = collector.lines(out_dir, records, cache)
    try:
        # Not fsynced: it is only a shortcut, and one cut short by a crash fails its digest.
        atomic_write_bytes(out_dir, cache, lines, durable=False)
    except OSError as exc:
        collector = _without_cache(out_dir, records, cache, collector, lines, exc)
    logger.debug("%d paths files read for %s", collector.opened, ORIGINALS_NAME)
    return collector


def _without_cache(
    out_dir: Path,
    records: Sequence[_PathsRecord],
    cache: Path,
    collector: _Collector,
    lines: Iterator[bytes],
    exc: OSError,
) -> _Collector:
    """The collection finished after the cache could not be written (disk full, a folder
    in its place): the cache is only a shortcut, so the lists are still written whole.

    The files the write did not get to are gathered from where it stopped; the old cache
    is removed (the next write reads every file rather than trust a cache that missed a
    write). Should the gathering itself have failed, every file is read again.
    """
    for _line in lines:  # (the generator is suspended where the write stopped)
        pass
    with suppress(OSError):  # (a folder in its place is never trusted: _cache_intact)
        cache.unlink(missing_ok=True)
    logger.warning(
        "cannot write %s (%s): the lists are written without it; the next index write "
        "reads every paths file",
        cache,
        exc.strerror or exc,
    )
    if collector.complete:
        return collector
    again = _Collector()
    for _line in again.lines(out_dir, records, None):
        pass
    return again


def write_originals(
    out_dir: Path,
    done: Mapping[tuple[str, int], Mapping[str, Any]],
    maps: Sequence[UrlMap],
) -> OriginalsSummary | None:
    """Write ``originals.tsv`` and ``raw-urls.txt`` from DIR's ``paths`` files (None: DIR has
    none, nothing written). Both are replaced atomically, sorted by path, and recorded in
    ``DIR/written.json`` as ``index.csv`` is (:func:`harvester.index.write_table`: a copy
    changed by hand is kept beside, with one warning). Raises OSError."""
    from harvester.index import write_table

    records = _paths_records(done)
    if not records:
        return None
    collected = _collect(out_dir, records)
    files = collected.files
    filesets, unreadable, missing = len(collected.seen), collected.unreadable, collected.missing
    # Held no longer while the tables are written: a tuple per image, an id per fileset.
    del records, collected
    urls: dict[str, None] = {}
    write_table(out_dir, out_dir / ORIGINALS_NAME, _table_pieces(files, maps, urls))
    listed = (piece.encode() for piece in _pieces(f"{url}\n" for url in urls))
    write_table(out_dir, out_dir / RAW_URLS_NAME, listed)
    return OriginalsSummary(
        len(files), len(urls), filesets, unreadable, mapped=bool(maps), missing=missing
    )


#: Rows rendered and written at a time (the table is never held whole: a million rows
#: would be ~100 MB twice over, as a list and as its text).
ROWS_PER_PIECE = 10_000


def _table_pieces(
    files: Mapping[str, _Filesets], maps: Sequence[UrlMap], urls: dict[str, None]
) -> Iterator[bytes]:
    """``originals.tsv``, a slice of rows at a time, sorted by path (then fileset); ``urls``
    gets the distinct URLs in that order (for ``raw-urls.txt``) as the rows are made."""

    def rows() -> Iterator[str]:
        yield "\t".join(ORIGINALS_COLUMNS) + "\n"
        for path in sorted(files):
            url = public_url(path, maps)
            if url:
                urls[url] = None
            cell = _tsv_cell(redact_url(path) if "://" in path else path)
            for fileset in _fileset_cells(files[path]):
                yield f"{url}\t{cell}\t{fileset}\n"

    for piece in _pieces(rows()):
        yield piece.encode("utf-8", "backslashreplace")


def _fileset_cells(filesets: _Filesets) -> tuple[str, ...]:
    """The ``fileset_id`` cell of each row of one path (empty: no fileset named)."""
    if filesets is None:
        return ("",)
    if isinstance(filesets, int):
        return (str(filesets),)
    return tuple(map(str, sorted(filesets)))


def _pieces(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` joined :data:`ROWS_PER_PIECE` at a time."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == ROWS_PER_PIECE:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


def originals_line(out_dir: Path, summary: OriginalsSummary) -> str:
    """What the list of originals holds, in one line for the end of a run or an index."""
    from harvester.text import agree, plural

    tsv = out_dir / ORIGINALS_NAME
    files = f"{plural(summary.files, 'original file')} of {plural(summary.filesets, 'fileset')}"
    if summary.urls:
        where = f"{plural(summary.urls, 'public URL')} in {out_dir / RAW_URLS_NAME}"
    elif summary.files and summary.mapped:
        where = (
            "paths only: no URL mapping in force fits these paths "
            "(harvester index DIR --raw-url-map FROM=TO maps them to URLs)"
        )
    elif summary.files:
        where = (
            "paths only: no public mirror known for this server "
            "(harvester index DIR --raw-url-map FROM=TO maps them to URLs)"
        )
    else:
        where = "none listed"
    bad = summary.unreadable
    unread = f"; {plural(bad, 'paths file')} unreadable" if bad else ""
    if summary.missing:  # (deleted since done: verify voids them, a harvest fetches them)
        unread += (
            f"; {plural(summary.missing, 'paths file')} missing "
            f"(harvester verify {shell_quote(str(out_dir))} has the next harvest fetch "
            f"{agree(summary.missing, 'it', 'them')} again)"
        )
    return f"wrote {tsv} ({files}; {where}{unread})"

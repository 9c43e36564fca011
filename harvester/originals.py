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
and lists each file once:

* ``DIR/originals.tsv``: ``url``, ``path`` (the client path), ``fileset_id``; the images a
  file serves are the index rows with its ``fileset_id`` (OMERO does not say which file of a
  fileset holds which image);
* ``DIR/raw-urls.txt``: the distinct public URLs, one a line, for ``wget -i``/``aria2c -i``.

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

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from harvester.errors import ConfigError, redact_loose_url, redact_url

logger = logging.getLogger(__name__)

#: The artifact kind (``--artifacts paths``).
PATHS_KIND = "paths"
#: ``DIR/originals.tsv``: one row per distinct original file.
ORIGINALS_NAME = "originals.tsv"
#: ``DIR/raw-urls.txt``: the distinct public URLs, one a line.
RAW_URLS_NAME = "raw-urls.txt"
#: ``DIR/raw_url_map.json``: the mappings ``harvester index --raw-url-map`` recorded.
URL_MAP_NAME = "raw_url_map.json"
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
        if not self.prefix.strip("/"):
            raise ConfigError("raw_url_map: the path prefix (before '=') is empty")
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
                "raw_url_map: the URL must not hold credentials or a query",
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
                f"raw_url_map: {redact_loose_url(self.base)!r} is not an http(s) or ftp URL "
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
            f"raw_url_map: {redact_loose_url(text)!r} is not FROM=TO",
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


def _safe_rest(path: str, prefix: str) -> str | None:
    """The part of ``path`` after ``prefix`` when it is a plain relative path, else None."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path) or not _utf8(path):
        return None
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
    gets no URL.
    """
    for url_map in maps:
        rest = _safe_rest(path, url_map.prefix)
        if rest is not None:
            return f"{url_map.base.rstrip('/')}/{quote(rest, safe='/')}"
    return ""


def _tsv_cell(text: str) -> str:
    """A server-supplied text as one TSV cell: tabs, line ends and control characters
    percent-encoded, so that a path cannot add a column or a row. (A client path that is a
    URL, as an import in place from S3 has, comes with any password in it redacted.)"""
    return "".join(quote(ch) if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)


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


def _fileset_records(
    done: Mapping[tuple[str, int], Mapping[str, Any]],
) -> Iterable[tuple[int | None, int, str]]:
    """(fileset id from the record, image id, path) of every done ``paths`` artifact."""
    for (kind, image_id), rec in done.items():
        if kind == PATHS_KIND:
            fid = rec.get("fileset_id")
            yield (fid if isinstance(fid, int) else None), image_id, str(rec["path"])


def collect_originals(
    out_dir: Path, done: Mapping[tuple[str, int], Mapping[str, Any]]
) -> tuple[dict[str, int | None], int, int]:
    """Every distinct client path with its fileset id (None: the server did not name it),
    the filesets read, the files unreadable.

    One file read per fileset (records name the fileset); a record without one (an older
    record, ``{}``, or an older OMERO.web's answer without a fileset) is read to find out.
    """
    files: dict[str, int | None] = {}
    seen: set[int] = set()
    unreadable = 0
    for fid, image_id, rel in sorted(_fileset_records(done), key=lambda r: r[1]):
        if fid is not None and fid in seen:
            continue
        try:
            got = parse_paths(json.loads((out_dir / rel).read_bytes()))
        except (OSError, ValueError):
            logger.debug("paths file of image %s unreadable: not listed", image_id)
            unreadable += 1
            continue
        if got.fileset_id is None:  # ``{}``, or an older OMERO.web's lists without an id
            for path in got.client:
                files.setdefault(path, None)
            continue
        if got.fileset_id in seen:
            continue
        seen.add(got.fileset_id)
        for path in got.client:
            if files.get(path) is None:  # (a fileset named wins over none)
                files[path] = got.fileset_id
    return files, len(seen), unreadable


def write_originals(
    out_dir: Path,
    done: Mapping[tuple[str, int], Mapping[str, Any]],
    maps: Sequence[UrlMap],
) -> OriginalsSummary | None:
    """Write ``originals.tsv`` and ``raw-urls.txt`` from DIR's ``paths`` files (None: DIR has
    none, nothing written). Both are replaced atomically, sorted by path."""
    from harvester.store import atomic_write_bytes

    if not any(kind == PATHS_KIND for kind, _ in done):
        return None
    files, filesets, unreadable = collect_originals(out_dir, done)
    rows = ["\t".join(ORIGINALS_COLUMNS)]
    urls: dict[str, None] = {}
    for path in sorted(files):
        url = public_url(path, maps)
        if url:
            urls[url] = None
        fileset = files[path]
        cell = _tsv_cell(redact_url(path) if "://" in path else path)
        rows.append(f"{url}\t{cell}\t{'' if fileset is None else fileset}")
    text = "\n".join(rows) + "\n"
    atomic_write_bytes(out_dir, out_dir / ORIGINALS_NAME, text.encode("utf-8", "backslashreplace"))
    listed = "".join(f"{url}\n" for url in urls)
    atomic_write_bytes(out_dir, out_dir / RAW_URLS_NAME, listed.encode())
    return OriginalsSummary(len(files), len(urls), filesets, unreadable, mapped=bool(maps))


def originals_line(out_dir: Path, summary: OriginalsSummary) -> str:
    """What the list of originals holds, in one line for the end of a run or an index."""
    from harvester.text import plural

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
    return f"wrote {tsv} ({files}; {where}{unread})"

"""Targets as users paste them: typed ids, ranges and links, read as ids (and back).

Users come from other tools: OMERO.downloader and the omero CLI write ``Image:123``;
the webclient and IDR's pages give links (``https://host/webclient/?show=image-1|image-2``,
the image viewers' ``.../webclient/img_detail/1/``, ``.../webgateway/img_detail/1/``,
``.../iviewer/?images=1,2``; an image's render or thumbnail address, copied from a page
that shows it); a run of ids is typed as ``100-120``. The CLI's target flags,
the ids file reader (:mod:`harvester.walk`) and the config file's target lists
(:mod:`harvester.config`) share this module, so each form means one thing everywhere, and
the commands harvester prints name a run of ids as the range the flags read back
(:func:`compact_ids`). Pure text to ids: nothing here asks a server or prints, and a link's
query is read for ``show=`` or ``images=`` alone (a pasted link may carry a session key: no
other part of it is kept, and no error message quotes a query).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from harvester.errors import cut_user_shown, redact_base_url, redact_loose_url

__all__ = [
    "KINDS",
    "MAX_RANGE",
    "Link",
    "ItemRefusal",
    "TargetTextError",
    "RANGE_MARKS",
    "a_kind",
    "bracketed_ids",
    "comma_ids",
    "comma_item_refusal",
    "comma_list",
    "compact_ids",
    "id_range",
    "is_link",
    "link_shown",
    "marked_ends",
    "marked_range_refusal",
    "parse_link",
    "positive_id",
    "range_respelt",
    "several_ids",
    "study_page",
    "typed_id",
    "typed_like",
]

#: The kinds of target, by the word OMERO names them with: (configuration key, flag).
KINDS: dict[str, tuple[str, str]] = {
    "screen": ("screens", "--screen"),
    "project": ("projects", "--project"),
    "plate": ("plates", "--plate"),
    "dataset": ("datasets", "--dataset"),
    "image": ("images", "--image"),
}

#: The most ids one range may name. Each target id is checked on the server when a run
#: starts (one request each) and kept in the run's saved configuration: ``1-99999999`` is
#: a slip, and a long run of images belongs in an ids file (streamed, never held).
MAX_RANGE = 1000


class TargetTextError(ValueError):
    """Text that looks like one of this module's forms but is not a valid one (a range
    backwards or too long, a link without a target): its message is one line for the user."""


def a_kind(kind: str) -> str:
    """``a plate``, ``an image``: the kind with its article, for messages."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


#: More digits than any id has (OMERO's are 64-bit: 19 digits). Why a bound: ``int()``
#: refuses over 4,300 digits with a ValueError, which an ids file's line reported as an
#: internal error, and a flag's as argparse's "invalid value" with the text whole.
MAX_ID_DIGITS = 30

#: OMERO's largest id: its ids are Java longs (64-bit, signed), so a larger number names no
#: object on any OMERO server. Why refused: such a target was asked of the server (through
#: its retries where the server failed on the number) and told "not found" at best.
MAX_ID = 2**63 - 1


def _link_id(text: str, kind: str = "image") -> int | None:
    """:func:`positive_id` of an id read from a link's path or query; TargetTextError for
    one over :data:`MAX_ID`. Why: such an image link was refused as "not a link harvester
    reads", "shows no target" or "not an image id", whereas ``?show=image-ID`` said why."""
    value = positive_id(text)
    if value is None and _over_max_id(text):
        raise TargetTextError(f"the link shows {kind} {text[:40]}, whose id is {OVER_MAX_ID}")
    return value


def _over_max_id(text: str) -> bool:
    """Whether ``text`` is ASCII digits naming a number over :data:`MAX_ID` (and of at
    most :data:`MAX_ID_DIGITS` digits, which are said otherwise)."""
    text = text.strip()
    return text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS and int(text) > MAX_ID


def positive_id(text: str) -> int | None:
    """A positive id written in ASCII digits, else None (``str.isdigit`` takes ``²``; a
    run of more than :data:`MAX_ID_DIGITS` digits, or a number over :data:`MAX_ID`, is no
    id either)."""
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_ID_DIGITS:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


#: Why a number over :data:`MAX_ID` is no id, as the refusals of one say it.
OVER_MAX_ID = f"over {MAX_ID}, the largest id OMERO has"


#: The most characters of a bad id a message shows (a longer one is cut, ``...`` after).
ID_SHOWN = 40


def not_an_id(item: object, what: str = "a numeric id") -> str:
    """``'7x' is not a numeric id``: the one wording of a target that is no id, for a flag's
    item and a config file's alike, cut to :data:`ID_SHOWN` characters (``'Image:12...'``);
    ``what``: the id it is not, where the place says which (``an image id``, an ids file's).

    Why one: the flags and the config file each worded and cut it their own way (42
    characters of the ``repr`` there, 40 of the text here; ``1.5`` was "not a numeric id"
    in one, ``true`` "not an id" in the other)."""
    cut = _cut(item if isinstance(item, str) else repr(item))
    shown = repr(cut) if isinstance(item, str) else cut
    if what == "a numeric id" and isinstance(item, str) and _signed_digits(item):
        # ``--image 0``, ``--image -5``: numeric, so "not a numeric id" puzzled; worded as
        # a config file's ``images = [0]`` is (:func:`harvester.config._as_int_list`).
        digits = item.lstrip("-")
        why = "ids are positive"
        if len(digits) > MAX_ID_DIGITS:
            why = f"more than {MAX_ID_DIGITS} digits"
        elif item[:1] != "-" and int(digits) > MAX_ID:
            why = OVER_MAX_ID
        return f"{shown} is not a valid id ({why})"
    if isinstance(item, str) and typed_like(item) and _over_max_id(item.partition(":")[2]):
        return f"{shown} is not a valid id ({OVER_MAX_ID})"  # (`Image:9223372036854775808`)
    return f"{shown} is not {what}"


#: What a range is written with elsewhere, between two ids: ``..`` (Rust, bash's {a..b}),
#: ``...``, ``:`` (a slice), an en or em dash (a document or a spreadsheet pasted).
RANGE_MARKS = ("...", "..", ":", "\u2013", "\u2014")


def range_respelt(item: str) -> str | None:
    """``item`` as ``FIRST-LAST`` where it is a range written otherwise
    (:data:`RANGE_MARKS`, between two positive ids: ``1..5``, ``1:5``), else None.

    Why here: the flags (:func:`harvester.cli.harvest._range_or_list_misspelt`) and a
    config file's target lists (:func:`harvester.config._as_int_list`) refuse it with the
    spelling to give; ``images = ["1..5"]`` was still "not a numeric id"."""
    ends = marked_ends(item)
    if ends is not None and positive_id(ends[0]) and positive_id(ends[1]):
        return "-".join(ends)
    return None


def marked_ends(item: str) -> tuple[str, str] | None:
    """The two ends of a range written with one of :data:`RANGE_MARKS` between two runs of
    ASCII digits (``1..5``, ``5..3``, ``1..0``: a backwards or empty one too), else None.
    Why: :func:`range_respelt` takes positive ids only, so ``--image 1..0`` was "not a
    numeric id" where it is a range that names no id (:func:`id_range` says which)."""
    for mark in RANGE_MARKS:
        first, found, last = (part.strip() for part in item.partition(mark))
        if found and all(p.isascii() and p.isdigit() for p in (first, last)):
            return first, last
    return None


def marked_range_refusal(item: str, kind: str | None, *, most: int = MAX_RANGE) -> str | None:
    """The refusal of ``item`` written as a range with one of :data:`RANGE_MARKS` that names
    no ids to take (backwards, from 0, too long: ``5..3``, ``1..0``), worded as its
    ``FIRST-LAST`` is refused (:func:`id_range`) and quoting the text given; None for any
    other item (a good one the caller respells, no range at all).

    Why one: the flags said ``--image 1..0`` "names no id", while ``images = ["1..0"]``
    and an ids file's line ``1..0`` were "not a numeric id" and "not an image id"."""
    ends = marked_ends(item)
    if ends is None:
        return None
    try:
        id_range("-".join(ends), kind, most=most, shown=item)
    except TargetTextError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class ItemRefusal:
    """Why an item of a comma list is no id (:func:`comma_item_refusal`): the sentence, and
    whether the item is a range (its hint is a range's, not an id's)."""

    said: str
    a_range: bool


def comma_item_refusal(
    text: str, kind: str | None, *, most: int = MAX_RANGE, what: str = "a numeric id"
) -> ItemRefusal | None:
    """The refusal of the first item of a comma list (one config string, one ids file
    line: ``"1,5..3"``) that is no id: a range refused (:func:`id_range`,
    :func:`marked_range_refusal`), or any other item (:func:`not_an_id`, ``what`` as there),
    naming that item alone as the flags do (``--image 1,5..3``: ``'5..3' is not a range of
    ids ...``); None when every item is an id or a range, or ``text`` holds no comma."""
    if "," not in text or bracketed_ids(text) is not None:  # (`[1,2]`: the caller's own words)
        return None
    for item in (part.strip() for part in text.split(",")):
        try:
            if not item or id_range(item, kind, most=most) is not None:
                continue
        except TargetTextError as exc:
            return ItemRefusal(str(exc), a_range=True)
        refusal = marked_range_refusal(item, kind, most=most)
        if refusal is not None:
            return ItemRefusal(refusal, a_range=True)
        if positive_id(item) is None and range_respelt(item) is None and typed_id(item) is None:
            return ItemRefusal(not_an_id(item, what), a_range=False)
    return None


def comma_ids(text: str) -> list[str] | None:
    """The items of a comma list of ids and ranges (``1,5-7``, ``1,5..7``: each range as
    ``FIRST-LAST``) given as one config string or one ids file line, else None: what the
    refusal of such a value gives as the list to write instead."""
    if "," not in text:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    out: list[str] = []
    for item in items:
        item = range_respelt(item) or item
        first, dash, last = item.partition("-")
        if positive_id(item) is None and not (dash and positive_id(first) and positive_id(last)):
            return None
        out.append(item)
    return out if len(out) > 1 else None


def bracketed_ids(text: str) -> list[str] | None:
    """The ids of ``[1,2]`` or ``(1,2)`` (a Python list pasted as one value), else None."""
    # (each item's brackets too: `--image 1,[2]` is the comma list 1,2 with a bracket in it)
    parts = (part.strip().strip("[]()").strip() for part in text.split(","))
    inner = [part for part in parts if part]
    return inner if inner and all(positive_id(part) for part in inner) else None


def _signed_digits(text: str) -> bool:
    """Whether ``text`` is an integer in ASCII digits, a minus allowed (``0``, ``-5``)."""
    digits = text[1:] if text[:1] == "-" else text
    return digits.isascii() and digits.isdigit()


def several_ids(text: str) -> str | None:
    """``text``'s ids as one comma list when it is two or more ids separated by spaces,
    tabs, ``;`` or ``,`` (``9762957 9762958``: a column pasted as a row, a list typed in
    quotes), its first three and ``...`` past :data:`ID_SHOWN` characters; else None.
    Why: such a value was "not a numeric id", as if a flag took one id only."""
    parts = text.replace(",", " ").replace(";", " ").split()
    if len(parts) < 2 or any(positive_id(part) is None for part in parts):
        return None
    return comma_list(parts)


def comma_list(items: list[str]) -> str:
    """``items`` as one comma list, its first three and ``...`` past :data:`ID_SHOWN`
    characters: the list a refusal of ids typed otherwise says to give."""
    listed = ",".join(items)
    return listed if len(listed) <= ID_SHOWN else ",".join(items[:3]) + ",..."


def _cut(text: str) -> str:
    """``text`` cut to :data:`ID_SHOWN` characters, ``...`` ending a cut one: a bad id or
    range as its refusal shows it."""
    return text if len(text) <= ID_SHOWN else text[: ID_SHOWN - 3] + "..."


def typed_id(text: str) -> tuple[str, int] | None:
    """``Image:123`` (any case, as OMERO.downloader and the omero CLI write it) as
    ``("image", 123)``; None for any other text (a kind harvester does not know, no id)."""
    kind, colon, number = text.partition(":")
    kind = kind.strip().lower()
    if not colon or kind not in KINDS:
        return None
    value = positive_id(number.strip())
    return None if value is None else (kind, value)


def well_refusal(well_id: int, plate: int | str = "PLATE") -> str:
    """``not a target harvester takes: ...``: why a well (its link, ``Well:ID``, its id
    given as a plate's) is refused, and the flags that take its fields instead."""
    return (
        "not a target harvester takes: a well's images are its plate's, selected by "
        f"--where: --plate {plate} --where well_id={well_id}"
    )


def run_refusal(run_id: int) -> str:
    """Why a plate's run (a PlateAcquisition: the webclient's ``?show=run-ID`` link) is
    refused, and the flags that take its images instead: index.csv's ``run_id`` column."""
    return (
        "not a target harvester takes: a run's images are its plate's, selected by "
        f"--where: --plate PLATE --where run_id={run_id}"
    )


def typed_well(text: str) -> int | None:
    """``Well:1474512`` (any case, as the omero CLI writes a well) as its id; None for
    any other text; TargetTextError for a well's id over :data:`MAX_ID`. Why: it was "not
    a numeric id (names are taken by --screen and --project only)", which the well's link
    was told better."""
    kind, colon, number = text.partition(":")
    if not colon or kind.strip().lower() != "well":
        return None
    if _over_max_id(number):  # (it was "not a numeric id (names are taken by ...)")
        raise TargetTextError(f"{_cut(text)!r} is not a valid id ({OVER_MAX_ID})")
    return positive_id(number.strip())


def typed_like(text: str) -> bool:
    """Whether ``text`` is written as a typed id (``Image:``, ``Screen:`` and anything): a
    name never is, so ``Screen:0`` is a bad id, not a name to look up."""
    kind, colon, _rest = text.partition(":")
    return bool(colon) and kind.strip().lower() in KINDS


def id_range(
    text: str, kind: str | None = "image", *, most: int = MAX_RANGE, shown: str | None = None
) -> range | None:
    """``100-120`` as the ids 100 to 120, both included; None for text that is no range.

    Unambiguous because an id never holds a ``-``. A range written backwards, starting at
    0, or naming more than ``most`` ids is a :class:`TargetTextError`. ``kind``: that of the
    flag given the range (more images than a range takes go in an ids file, which an
    image flag's error says); None where the caller says what to do instead (a config
    file, an ids file's line, whose bound ``most`` is its own). ``shown``: the text as the
    user wrote it, for the message (``5..3``, read here as ``5-3``).
    """
    first, dash, last = text.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not all(p.isascii() and p.isdigit() for p in (first, last)):
        return None
    low, high = positive_id(first) or 0, positive_id(last) or 0
    said = text if shown is None else shown
    over = [end for end in (first, last) if len(end) <= MAX_ID_DIGITS and int(end) > MAX_ID]
    if over:
        raise TargetTextError(f"{_cut(said)!r} is not a range of ids: {over[-1]} is {OVER_MAX_ID}")
    if low <= 0 or high < low:
        raise TargetTextError(
            f"{_cut(said)!r} is not a range of ids (FIRST-LAST, from 1, FIRST not above LAST)"
            # (an end of more digits than an id has: the rule alone, no range to give)
            + ("" if max(len(first), len(last)) > MAX_ID_DIGITS else _range_fix(low, high, kind))
        )
    count = high - low + 1
    if count > most:
        more = f" (more images: seq {low} {high} > ids.txt, then --ids-from ids.txt)"
        raise TargetTextError(
            f"{_cut(said)!r} names {count:,} ids; a range takes {most:,} at most"
            + (more if kind == "image" else "")
        )
    return range(low, high + 1)


def _range_fix(low: int, high: int, kind: str | None) -> str:
    """What a refused range is (backwards, empty) and, where one is plain, the range to
    give: ``: it runs backwards: give it as --image 10-20``. Why: ``20-10`` and ``1..0``
    named the rule alone, and ``1..0`` not even that ("not a numeric id")."""
    flag = f"{KINDS[kind][1]} " if kind in KINDS else ""
    if high <= 0:
        return ": it names no id (ids start at 1)"
    if low <= 0:
        return f": ids start at 1: give it as {flag}1-{high}"
    return f": it runs backwards: give it as {flag}{high}-{low}"


def compact_ids(ids: Iterable[int]) -> list[str]:
    """Ids as the items of a flag that takes ranges, in their order: each run of three or
    more consecutive ids (ascending) as ``FIRST-LAST``, of at most :data:`MAX_RANGE` ids, the
    rest one by one. Why: a printed command (a resume, a take-back, a SLURM task's) said
    ``--image 1-500`` as 500 flags; read back by :func:`id_range`, these are the same ids."""
    items: list[str] = []
    run: list[int] = []

    def close() -> None:
        if len(run) >= 3:
            items.append(f"{run[0]}-{run[-1]}")
        else:
            items.extend(map(str, run))
        run.clear()

    for each in ids:
        if run and (each != run[-1] + 1 or len(run) >= MAX_RANGE):
            close()
        run.append(each)
    close()
    return items


@dataclass(frozen=True)
class Link:
    """What a link to OMERO.web's pages shows (the webclient's tree, an image viewer), and
    the server it is of.

    ``server``: the address OMERO.web is served under (the part before ``/webclient/``),
    without a user, password or query: what ``--base-url`` takes. ``shown``: (kind, id) in
    the link's order, each once.
    """

    server: str
    shown: tuple[tuple[str, int], ...]

    def ids_of(self, kind: str) -> list[int]:
        """The ids of ``kind`` the link shows, in its order."""
        return [object_id for each, object_id in self.shown if each == kind]

    def described(self) -> str:
        """``a link to an image``, ``a link to 2 images``, ``a link to a plate and an
        image``: what the link shows, for a message about the link itself. Why: every
        link was called "a webclient link", an iviewer or img_detail link too."""
        counts = {kind: len(self.ids_of(kind)) for kind in dict.fromkeys(k for k, _i in self.shown)}
        said = [a_kind(kind) if n == 1 else f"{n} {kind}s" for kind, n in counts.items()]
        return "a link to " + " and ".join(said)

    def other_kinds(self, kind: str) -> str | None:
        """Why a link given to ``kind``'s flag is refused, with the flags to give (``the link
        shows plate 7361, not an image: give it as --plate 7361``); None when it shows
        ``kind`` alone. Why every kind shown is named: a link of two kinds (the webclient's
        ``?show=project-51|dataset-51``, two objects selected) was told one of them, so
        ``--dataset`` was told to give ``--project 51``, and ``--project`` ``--dataset 51``."""
        kinds = list(dict.fromkeys(each for each, _id in self.shown))
        if kinds == [kind]:
            return None
        shown = " and ".join(f"{each} {','.join(map(str, self.ids_of(each)))}" for each in kinds)
        wanted = f"{KINDS[kind][0]} alone" if kind in kinds else a_kind(kind)
        return f"the link shows {shown}, not {wanted}: give it as {self.as_flags()}"

    def as_flags(self) -> str:
        """The target flags that name what the link shows (``--plate 7361 --image 1,2``)."""
        kinds = dict.fromkeys(kind for kind, _id in self.shown)
        return " ".join(
            f"{KINDS[kind][1]} {','.join(map(str, self.ids_of(kind)))}" for kind in kinds
        )


#: The pages of OMERO.web a link may be of (the first path segment that is one of these
#: ends the server's address): the webclient's tree, the image viewers.
LINK_PAGES = ("webclient", "webgateway", "iviewer")

#: What a link of no page harvester reads is told it may be, in one line (to an image
#: flag, or an ids file's line; other flags: :func:`links_taken`). The image addresses of
#: :data:`IMAGE_ADDRESSES` are named too: a thumbnail's address with a piece missing was told
#: only the page links, as if no such address were taken.
LINKS_TAKEN = (
    ".../webclient/?show=image-ID, .../webclient/img_detail/ID/, "
    ".../webgateway/img_detail/ID/ or .../iviewer/?images=ID links, an image's "
    "render or thumbnail address (.../webgateway/render_thumbnail/ID/), and ids"
)

#: The addresses of one image's data under ``webgateway/`` or ``webclient/`` (what "Copy
#: image address" gives on a page showing it), by their path segment (lower case), each
#: followed by the image's id: read as a link to that image. The ``_rdef`` renders and the
#: ``_ngff`` thumbnails are the routes OMERO's image-region microservice serves (IDR's
#: viewers ask them since 2024), their ids where the others have theirs.
IMAGE_ADDRESSES = frozenset(
    {
        "render_image",
        "render_image_rdef",
        "render_image_region",
        "render_image_region_rdef",
        "render_thumbnail",
        "render_thumbnail_ngff",
        "render_birds_eye_view",
        "render_split_channel",
        "get_thumbnail",
        "imgdata",
    }
)

#: The webclient's sized thumbnails, ``.../render_thumbnail/size/W/ID/`` (and the
#: microservice's ``render_thumbnail_ngff/size/W/ID/``): the id after the size.
SIZED_THUMBNAILS = frozenset({"render_thumbnail", "render_thumbnail_ngff"})

#: The host whose study pages (IDR's gallery, ``/study/idr0056/``) need no ``--base-url``.
IDR_HOST = "idr.openmicroscopy.org"


def links_taken(kind: str) -> str:
    """The links (and other forms) the ``kind`` target flag takes, for a refused link. Why
    per kind: ``--screen`` given a page of no kind was told the image viewers' links,
    which it refuses."""
    if kind == "image":
        return LINKS_TAKEN
    others = "ids and names" if kind in ("screen", "project") else "ids"
    return f".../webclient/?show={kind}-ID links, and {others}"


def is_link(text: str) -> bool:
    """Whether ``text`` is given as a web address (to be read by :func:`parse_link`): with
    its scheme, or an OMERO.web page's without it (refused there, its query unquoted)."""
    lowered = text.strip().lower()
    return lowered.startswith(("http://", "https://")) or any(
        f"/{page}" in lowered for page in LINK_PAGES
    )


def link_shown(text: str) -> str:
    """``text``, a link, as a message may quote it: its password (or a user alone, a token)
    as ``REDACTED`` (``https://alice:REDACTED@host/webclient/``), without its query or
    fragment (each may hold a credential: ``?bsession=KEY``), at most 80 characters.

    Why the user and the place of the password stay: a link was named without them
    (``https://host/webclient/``), so the link a user pasted with a login in it was not
    the one the message named. The whole text is redacted before the query is cut off,
    so a password holding a ``/``, ``?`` or ``#`` (``alice:pa/ss@host``, which ended the
    authority early: ``ss@host`` was shown) is hidden whole, as a base URL's is
    (:func:`~harvester.errors.redact_loose_url`); and one given as the user alone (a token)
    holding one (``https://TOK?EN@host/``, read as the host ``TOK``) as ``REDACTED@host``:
    ``https://TOK`` was shown (:func:`~harvester.errors.cut_user_shown`)."""
    stripped = text.strip()
    shown = _cut_token_shown(stripped) or redact_loose_url(stripped)
    shown = shown.partition("?")[0].partition("#")[0]
    return shown if len(shown) <= 80 else shown[:77] + "..."


def with_login(text: str, server: str) -> str:
    """``server`` (a :class:`Link`'s, of the link ``text``) with the link's login, as
    ``--base-url`` takes one (``https://alice:pw@host``); ``server`` itself when the link
    holds none. Why: a pasted link's login was dropped, the run and the hints that name its
    server asking without it, while the same login given in ``--base-url`` is used."""
    login = login_of(text)
    scheme, sep, rest = server.partition("://")
    return f"{scheme}{sep}{login}@{rest}" if login and sep else server


def login_of(url: str) -> str:
    """The ``user:password`` (or token) of a URL or link, as written ('': none)."""
    login, at, _host = urlsplit(url.strip()).netloc.rpartition("@")
    return login if at else ""


def ask_hint(base_url: str) -> str:
    """``--base-url URL`` for a hint that says to ask a link's server, its login's secret
    ``REDACTED`` and said to be put back (the link's login was dropped without a word)."""
    from harvester.shell_words import shell_quote

    shown = redact_base_url(base_url)
    if shown == base_url:
        return f"--base-url {shell_quote(base_url)}"
    return f"--base-url {shell_quote(shown)}, with the link's login for REDACTED"


def _cut_token_shown(text: str) -> str | None:
    """``https://REDACTED@host/...`` for a link whose user alone (a token) a ``/``, ``?``
    or ``#`` cut short (:func:`~harvester.errors.cut_user_shown`), or a password holding an
    ``@`` too (``alice:p@ss/word@host``: read as the host ``ss``), else None. A ``:`` alone
    before the cut is a password's (``alice:pa/ss@host``): the "port" :func:`parse_link`
    refuses, and :func:`~harvester.errors.redact_loose_url` hides whole, keeping the user."""
    rest = text.partition("://")[2]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    before = rest[:cut]
    return None if ":" in before and "@" not in before else cut_user_shown(text)


def parse_link(text: str, kind: str = "image") -> Link:
    """A link to what OMERO.web shows as a :class:`Link`: the webclient's tree
    (``.../webclient/?show=image-1|plate-5``), an image viewer's page
    (``.../webclient/img_detail/1/``, ``.../webgateway/img_detail/1/``) or OMERO.iviewer's
    (``.../iviewer/?images=1,2&dataset=3``, ``.../iviewer/1/``: its images, the dataset
    being where the viewer browses from), or the address of one image's data
    (``.../webgateway/render_image/1/0/0/``, ``.../api/v0/m/images/1/``: that image).
    Anything else is a :class:`TargetTextError` that names the link without its query, and
    the links the ``kind`` flag takes (an IDR study page's, the study's name to give
    instead)."""
    if not text.strip().lower().startswith(("http://", "https://")):
        raise TargetTextError(
            f"{link_shown(text)!r} is a link without its https:// (or "
            "http://): give the link whole, as the browser shows it"
        )
    if _cut_token_shown(text.strip()) is not None:  # (its host: the token's first part)
        raise TargetTextError(
            f"{link_shown(text)!r}: a '/', '?' or '#' in its user or password cuts the link "
            "short there (percent-encode it as %2F, %3F, %23; or give the login with "
            "--base-url)"
        )
    try:
        parts = urlsplit(text.strip())
    except ValueError:  # (an unmatched '[' or ']': urllib's "Invalid IPv6 URL")
        # argparse said it as "invalid image target value: 'LINK'", the password spelt out
        raise TargetTextError(
            f"{link_shown(text)!r}: a '[' or ']' in its user, password or host is not a "
            "web address (percent-encode one in a login as %5B, %5D; or give the login with "
            "--base-url)"
        ) from None
    try:
        port = parts.port
    except ValueError:  # (not a number, or above 65535)
        port = 0
    if port == 0:  # the link's server is not https://host: not one to ask in its stead
        raise TargetTextError(f"{link_shown(text)!r} names no valid port (1 to 65535)")
    host = parts.hostname or ""
    origin = f"{parts.scheme.lower()}://{f'[{host}]' if ':' in host else host}" + (
        f":{port}" if port else ""
    )
    segments = [segment for segment in parts.path.split("/") if segment]
    shown_as = link_shown(text)  # (no password, no query: they may hold credentials)
    pages = [segment.lower() for segment in segments]
    at = next((n for n, page in enumerate(pages) if page in LINK_PAGES), None)
    if host and (address := _image_address(segments, pages, at)):
        root, shown = address  # (its server: the address before webgateway/, api/...)
        return Link(origin + "".join(f"/{segment}" for segment in segments[:root]), (shown,))
    if host and at is None and (study := _study_page(segments)):
        server = origin + "".join(f"/{segment}" for segment in segments[:-2])
        raise _study_link(shown_as, study, server, kind)
    if host and at is None and (mapr := _mapr_page(pages)) is not None:
        server = origin + "".join(f"/{segment}" for segment in segments[:mapr])
        raise _mapr_link(shown_as, pages[mapr + 1], parts.query, server, kind)
    if not host or at is None:
        raise _not_read(shown_as, kind)
    server = origin + "".join(f"/{segment}" for segment in segments[:at])
    page, after = pages[at], segments[at + 1 :]
    if page == "iviewer":
        return Link(server, _iviewer_images(after, parts.query, shown_as))
    if len(after) == 2 and after[0].lower() == "img_detail" and (image := _link_id(after[1])):
        return Link(server, (("image", image),))
    if page != "webclient":  # (the webclient's pages all take ?show=: userdata/ too)
        raise _not_read(shown_as, kind)
    items = [
        item.strip()
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name == "show"
        for item in value.split("|")
        if item.strip()
    ]
    if not items:
        raise TargetTextError(
            f"the link {shown_as!r} shows no target: give one with ?show=image-ID "
            "(or screen-, project-, plate-, dataset-)"
        )
    return Link(server, tuple(dict.fromkeys(_shown_item(item) for item in items)))


def _not_read(shown_as: str, kind: str = "image") -> TargetTextError:
    """The refusal of a link of no page harvester reads, naming those the flag takes."""
    return TargetTextError(
        f"{shown_as!r} is not a link harvester reads (it takes {links_taken(kind)})"
    )


def _image_address(
    segments: list[str], pages: list[str], at: int | None
) -> tuple[int, tuple[str, int]] | None:
    """(where the server's address ends among ``segments``, the image) of an address of
    one image's data: ``webgateway/`` or ``webclient/`` then a name of
    :data:`IMAGE_ADDRESSES` and the id, or the JSON API's ``api/v0/m/images/ID/``; None for
    any other path. Why: a render's or a thumbnail's address copied from a page ("Copy image
    address") was refused as "not a link harvester reads", though it names one image."""
    if at is not None and pages[at] in ("webgateway", "webclient") and len(segments) > at + 2:
        # (the webclient's own thumbnails are ``render_thumbnail/size/W/ID/``: the id last)
        sized = (
            pages[at + 1] in SIZED_THUMBNAILS and pages[at + 2] == "size" and len(segments) > at + 4
        )
        if pages[at + 1] in IMAGE_ADDRESSES and (
            image := _link_id(segments[at + 4 if sized else at + 2])
        ):
            return at, ("image", image)
    for n in range(len(pages) - 4):
        if pages[n : n + 4] == ["api", "v0", "m", "images"]:
            image = _link_id(segments[n + 4])
            return (n, ("image", image)) if image else None
    return None


def study_page(link: str) -> str | None:
    """The study a link to IDR's study page names (``.../study/idr0056/``), else None
    (so for text that is no web address: an unmatched '[' in its login)."""
    try:
        path = urlsplit(link).path
    except ValueError:
        return None
    return _study_page([segment for segment in path.split("/") if segment])


def _study_page(segments: list[str]) -> str | None:
    """The study a link to IDR's study page names (``.../study/idr0056/``, what IDR's
    gallery links a study card to), lower-cased; None for any other path."""
    if len(segments) < 2 or segments[-2].lower() != "study":
        return None
    name = segments[-1].lower()
    return name if len(name) == 7 and name.startswith("idr") and name[3:].isdigit() else None


class KeyedLinkError(TargetTextError):
    """A link refused with what to give instead (a study page's, a mapr page's): its
    message says the flags; ``in_config`` says the same in a config file's keys
    (``screens = ["idr0056"]``, ``where = [...]``), where flags are not what the user
    writes and :func:`harvester.config._refuse_link` gives that wording."""

    def __init__(self, said: str, in_config: str) -> None:
        super().__init__(said)
        self.in_config = in_config


def _study_link(shown_as: str, study: str, server: str, kind: str) -> KeyedLinkError:
    """The refusal of a study page's link, saying to give the study by its name, which the
    screen and project flags take (a study is a screen's or a project's, and the page does
    not say which: the flag given says it, else both are named); in a config file, its
    ``screens``/``projects`` key (it was told the flags there too)."""
    import json

    from harvester.shell_words import shell_quote

    idr = urlsplit(server).hostname == IDR_HOST
    base = "" if idr else f" --base-url {shell_quote(server)}"
    base_key = "" if idr else f", base_url = {json.dumps(server, ensure_ascii=False)}"
    name = json.dumps(study)
    if kind in ("screen", "project"):
        instead = f"--{kind} {study}{base}"
        keyed = f"{kind}s = [{name}]{base_key}"
    else:
        instead = f"--screen {study}{base} (its screens) or --project {study}{base} (its projects)"
        keyed = (
            f"screens = [{name}]{base_key} (its screens) or projects = [{name}]{base_key} "
            "(its projects)"
        )
    said = (
        f"{shown_as!r} is the page of study {study}, not of {a_kind(kind)}: give the study "
        "by its name, "
    )
    return KeyedLinkError(said + instead, said + keyed)


#: The annotation key a mapr page's menu (``.../mapr/gene/?value=ECT2``) matches its value
#: on, as IDR's images carry it (index.csv's column, ``--where``'s key). Why these alone:
#: the menus a biologist browses IDR by; another menu's link is told ``--where KEY=VALUE``.
MAPR_KEYS = {
    "gene": "Gene Symbol",
    "phenotype": "Phenotype",
    "sirna": "siRNA Identifier",
    "compound": "Compound Name",
    "organism": "Organism",
    "cellline": "Cell Line",
    "antibody": "Antibody Identifier",
}


def _mapr_term(menu: str, value: str) -> tuple[str, str]:
    """The annotation key a mapr page's ``value`` is matched on (:data:`MAPR_KEYS`; ``KEY``
    for a menu without one) and the value as images hold it under that key: the menu's
    identifier key where the value is such an id, a CMPO accession on a phenotype page
    (``CMPO_0000077``: ``Phenotype Term Accession``), an Ensembl gene id on a gene page
    (``ENSG00000114346``: ``Gene Identifier``), the id upper-cased and an Ensembl id's
    version (``.5``) dropped.

    Why: omero-mapr matches a menu's value on each key its menu lists, and IDR's pages are
    linked by those ids too; no image holds them under ``Phenotype`` or ``Gene Symbol``, so
    the ``--where`` term named for such a link selected nothing; ``cmpo_0000128`` and
    ``ENSG00000114346.5`` (as Ensembl's pages write an id) got those keys still, and ``=``
    matches the value exactly."""
    upper = value.upper()
    if menu == "phenotype" and upper.startswith("CMPO_") and upper[5:].isdigit():
        return "Phenotype Term Accession", upper
    stable, dot, version = upper.partition(".")
    stable = stable if not dot or (version.isascii() and version.isdigit()) else upper
    head = stable.rstrip("0123456789")  # (ENSG, ENSMUSG, ENSDARG...: letters, then digits)
    ensembl = head.startswith("ENS") and head.endswith("G") and head.isalpha() and head.isascii()
    if menu == "gene" and ensembl and head != stable:
        return "Gene Identifier", stable
    return MAPR_KEYS.get(menu, "KEY"), value


def _mapr_page(pages: list[str]) -> int | None:
    """Where ``mapr`` is among a link's (lower-cased) path segments when the link is one of
    omero-mapr's pages (``.../mapr/gene/?value=ECT2``: IDR's "search by gene" results),
    else None."""
    at = next((n for n, page in enumerate(pages) if page == "mapr"), None)
    return at if at is not None and len(pages) > at + 1 else None


def _mapr_link(shown_as: str, menu: str, query: str, server: str, kind: str) -> KeyedLinkError:
    """The refusal of a mapr page's link (the images of one gene, phenotype... across
    studies), saying how to take those images: a ``--where`` term beside the study's
    target (and, of another server than IDR, its ``--base-url``: given none, a run asks
    IDR) and, on IDR, their ids from its search engine. Why: it was "not a link harvester
    reads", naming webclient links, though the page is where IDR's gene search leads. The
    query's ``value`` alone is read (what the page shows; the rest may hold a session)."""
    import json

    from harvester.shell_words import shell_quote

    value = next((v for name, v in parse_qsl(query) if name == "value"), "")
    value = " ".join("".join(c if c.isprintable() else " " for c in value).split())[:60]
    key, held = _mapr_term(menu, value)
    term = f"{key}={held or 'VALUE'}"
    what = f"{menu} {value!r}" if value else f"one {menu}"
    idr = urlsplit(server).hostname == IDR_HOST
    said = (
        f"{shown_as!r} is a mapr page (the images with {what}, across studies), not {a_kind(kind)}"
    )
    flags = (
        f"{said}: take them with --where {shell_quote(term)} beside the study's --screen or "
        f"--project{'' if idr else f' and --base-url {shell_quote(server)}'}"
    )
    # (a TOML basic string: JSON's quoting, its escapes TOML's too)
    keys = (
        f"{said}: take them with where = [{json.dumps(term, ensure_ascii=False)}] beside the "
        "study's screens = [...] or projects = [...]"
        f"{'' if idr else f' and base_url = {json.dumps(server, ensure_ascii=False)}'}"
    )
    if idr:
        # (the search engine's URL is not spelt here: messages redact a URL's query)
        search = (
            ", or every study's by id from IDR's search engine (README, Harvesting: "
            "curl ... | jq ... | harvester harvest --ids-from - --out DIR)"
        )
        flags, keys = flags + search, keys + search
    return KeyedLinkError(flags, keys)


def _iviewer_images(after: list[str], query: str, shown_as: str) -> tuple[tuple[str, int], ...]:
    """The images an OMERO.iviewer link opens: ``iviewer/ID/`` or ``?images=ID,ID`` (the
    viewer's own link, what "Open with" gives). Its ``dataset=``/``well=`` say where the
    viewer browses from, not what it shows: a link of them alone names no image (is the
    dataset meant, or the image the viewer opens first?), and is refused."""
    given = [
        item.strip()
        for name, value in parse_qsl(query, keep_blank_values=True)
        if name == "images"
        for item in value.split(",")
        if item.strip()
    ]
    if len(after) == 1:
        given.insert(0, after[0])
    elif after:
        raise _not_read(shown_as)
    if not given:
        raise TargetTextError(
            f"the link {shown_as!r} shows no image: give one with ?images=ID (a dataset's "
            "images: .../webclient/?show=dataset-ID)"
        )
    shown: list[tuple[str, int]] = []
    for item in given:
        image = _link_id(item)
        if image is None:
            raise TargetTextError(f"the link shows image {item[:40]!r}, not an image id")
        shown.append(("image", image))
    return tuple(dict.fromkeys(shown))


def _shown_item(item: str) -> tuple[str, int]:
    """One ``kind-id`` of a link's ``show=`` as (kind, id)."""
    kind, _dash, number = item.partition("-")
    value = positive_id(number)
    if value is None and _over_max_id(number):
        raise TargetTextError(f"the link shows {item[:60]!r}, whose id is {OVER_MAX_ID}")
    if kind.lower() == "well" and value is not None:
        # (what the webclient's link says once a well of a plate is clicked: its fields
        # are the plate's images, selected by index.csv's well_id column)
        raise TargetTextError(f"the link shows well {value}, {well_refusal(value)}")
    if kind.lower() in ("run", "acquisition") and value is not None:
        # (a plate of several acquisitions shows them in the tree: the link of one is
        # ?show=run-ID, as IDR's webclient/?show=run-5403; "not a target" named no way)
        raise TargetTextError(
            f"the link shows run {value} (a plate's acquisition), {run_refusal(value)}"
        )
    if kind.lower() not in KINDS or value is None:
        raise TargetTextError(
            f"the link shows {item[:40]!r}, not a target harvester takes "
            "(screen-, project-, plate-, dataset- or image- and an id)"
        )
    return kind.lower(), value

"""Counted nouns and lengths of time in messages: ``1 image``, ``2 images``, ``4m10s``.

One helper for every line that prints a count before its noun: a count written as
``f"{n} images"`` read "1 images" whenever one was found (a dry run, a plan, a selection).
One for every list of words a sentence joins with "and" (:func:`and_list`). One for every
length of time a message says (:func:`duration_text`). One for every piece of text a
message shows that the server (or a user's flag) supplied: :func:`shown`, :func:`quoted`.
The emulator keeps its own one-liner (it never imports the harvester's core).
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def plural(n: int, noun: str, many: str | None = None, *, spec: str = "") -> str:
    """``plural(1, "image")`` is ``1 image``; ``plural(2, "image")`` is ``2 images``.

    ``many``: the plural where an ``s`` is wrong (``plural(n, "retry", "retries")``);
    ``spec``: the count's format spec (``","`` for ``2,048 images``).
    """
    return f"{n:{spec}} {noun if n == 1 else many or noun + 's'}"


def agree(n: int, one: str = "is", many: str = "are") -> str:
    """The word that agrees with a count: ``agree(1)`` is ``is``, ``agree(3)`` ``are``;
    ``agree(n, "belongs", "belong")``, ``agree(n, "it", "they")`` for other pairs.

    Why: the ``{'is' if n == 1 else 'are'}`` written inline in each message was easy to
    get backwards and hard to read inside an f-string."""
    return one if n == 1 else many


def the_counted(n: int, noun: str, many: str | None = None) -> str:
    """``the only image`` for one, ``the 8 images`` for more (``many`` as in :func:`plural`).

    Why: "key 'X' is on none of the 1 walked image" read as a template, not a sentence.
    """
    return f"the only {noun}" if n == 1 else f"the {plural(n, noun, many)}"


def on_none_of(n: int, noun: str, many: str | None = None) -> str:
    """``is not on the only image`` for one, ``is on none of the 8 images`` for more."""
    return f"is {'not on' if n == 1 else 'on none of'} {the_counted(n, noun, many)}"


def and_list(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: words as a sentence lists them ("" for none).

    Why one: five messages each joined their list by hand (``", ".join(xs[:-1]) + " and "
    + xs[-1]``), one with a guard for a single word that the others wrote another way."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def duration_text(seconds: float, *, tenths: bool = True) -> str:
    """``2.0s``, ``45s``, ``4m10s``, ``2h05m``, ``2d04h``: a length of time as messages say it.

    To the second, and to a tenth of one below 10 s (a short pause's length, where a second
    is much); ``tenths=False`` for a clock or an estimate (``progress (0s)``, ``8s of
    requests``). Why one: the outage's pauses and the progress lines each had a formatter,
    which differed below 10 s and beyond a day.
    """
    if tenths and seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


#: The most characters of a server's text (a name, an annotation value) a message shows.
SHOWN_CHARACTERS = 80


def shown(text: object, limit: int | None = SHOWN_CHARACTERS) -> str:
    """``text`` as a message shows it: control and other unprintable characters escaped as
    ``repr`` escapes them (``\\x1b``, ``\\n``), and cut to ``limit`` characters followed by
    ``…(5,000 characters)`` (``limit=None``: never cut, for a line of the user's own
    making, such as a selection's description, that may be long and whole).

    Why: names and annotation values come from the server, which may hold any bytes: a
    5,000-character value made a 15,000-character warning line, a line break split a message
    in two, and ESC or BEL bytes drove the user's terminal. Files on disk (index.csv, JSON)
    keep the exact values; only messages go through here.
    """
    text = str(text)
    cut = limit is not None and len(text) > limit
    head = text[:limit] if cut else text
    clean = "".join(ch if ch.isprintable() else _escaped(ch) for ch in head)
    return clean + (f"…({len(text):,} characters)" if cut else "")


def _escaped(ch: str) -> str:
    """One unprintable character as a message shows it: as ``repr`` escapes it (``\\t``,
    ``\\x1b``), but a byte the locale could not decode (kept as a lone surrogate, Python's
    ``surrogateescape``) as that byte, ``\\xe9``: the user's ``café`` named in Latin-1 read
    ``caf\\udce9``, a character no tool of theirs shows."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return repr(ch)[1:-1]


#: A byte kept as a lone surrogate, as ``repr`` writes it (``\\udce9``, not after an
#: escaped backslash): :func:`quoted` and :func:`terminal_text` write the byte instead.
_SURROGATE_REPR = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


def terminal_text(text: str) -> str:
    """A whole message (its ``error:``, ``hint:`` or warning line) as it may reach the
    terminal: every unprintable character but a line break escaped (:func:`_escaped`), and a
    ``repr`` already made of an undecodable byte (``'caf\\udce9'``) shown as that byte.

    Why a last pass where lines are printed: each message quotes the words it was given
    through :func:`shown` or :func:`quoted`, but many took a path, a URL or argparse's own
    words as they came: ``unrecognized arguments: --ima<ESC>ge``, a config file's name, a
    folder's ending in CR, printed raw, and an escape sequence can rewrite the screen.
    Escaping is idempotent here (what it writes is printable), so text that went through
    :func:`shown` first is unchanged. Line breaks stay: a traceback (``--debug``) has them.
    """
    if text.isprintable() and "\\udc" not in text:  # (most lines: nothing to escape)
        return text
    clean = "".join(ch if ch.isprintable() or ch == "\n" else _escaped(ch) for ch in text)
    return _SURROGATE_REPR.sub(r"\1\\x\2", clean) if "\\udc" in clean else clean


#: The control characters a terminal acts on (C0 but the line break, DEL, C1), each as
#: ``repr`` escapes it, and the undecodable bytes of a name (lone surrogates) as
#: :func:`_escaped` shows them: what :func:`terminal_controls_escaped` replaces.
_CONTROLS = {
    code: _escaped(chr(code))
    for code in (*range(0x20), *range(0x7F, 0xA0), *range(0xDC80, 0xDD00))
    if code != 0x0A
}


def terminal_controls_escaped(text: str) -> str:
    """``text`` with its control characters escaped (``\\x1b``, ``\\r``, ``\\t``) and a
    name's undecodable bytes shown as ``\\xe9``, every other character as it is: what a
    command writes on standard output when that is a terminal (``harvester.cli``'s
    stdout), as ``ls`` escapes a name there, and as the ``error:`` lines show it.

    Why not :func:`terminal_text`: other unprintable characters (a no-break space) are
    text a terminal shows; the summary's ``index: DIR/index.csv`` named a folder whose ESC
    recoloured the screen. Through a pipe, standard output keeps the bytes as they are."""
    return text.translate(_CONTROLS)


#: The longest URL a message shows whole; a longer one has the middle of its query cut.
SHOWN_URL_CHARACTERS = 300
#: Of a cut query, the characters kept before and after the cut.
_URL_HEAD, _URL_TAIL = 160, 60


def shown_url(url: str, limit: int = SHOWN_URL_CHARACTERS) -> str:
    """A (redacted) URL as a message line shows it: :func:`shown`, and when longer than
    ``limit``, the path kept and the middle of the query cut, ``…(3,912 characters cut)…``
    in its place (a URL without a query has its own middle cut).

    Why: the render or stack plane URL of an image of many channels lists each channel, and
    its failure made a ``failed:`` line of several KB. Messages only: the journal, ``status
    --json`` and the records a rerun or ``verify`` reads keep the URL whole. Redact first
    (the cut could split a credential's name from its value), then shorten here.
    """
    if len(url) <= limit:
        return shown(url, None)
    path, sep, query = url.partition("?")
    lead, rest = (path + sep, query) if sep and len(path) < limit else ("", url)
    head, tail = rest[:_URL_HEAD], rest[-_URL_TAIL:]
    cut = len(rest) - len(head) - len(tail)
    return shown(f"{lead}{head}", None) + f"…({cut:,} characters cut)…" + shown(tail, None)


def quoted(text: object, limit: int = SHOWN_CHARACTERS) -> str:
    """:func:`shown`, in quotes as ``repr`` quotes it: ``'mitotic arrest'``, ``'a\\x1b[31m'``,
    ``'LLLL…'…(1,000 characters)``."""
    text = str(text)
    head = _SURROGATE_REPR.sub(r"\1\\x\2", repr(text[:limit]))
    return head + (f"…({len(text):,} characters)" if len(text) > limit else "")


#: Units typed after a number (lower case): seconds, pixels, a rate. Not multipliers (``k``,
#: ``M``): ``1k`` without its unit is 1, not the 1000 meant.
TYPED_UNITS = ("seconds", "second", "secs", "sec", "s", "px", "/s", "/sec", "req/s", "rps")


def without_unit(text: str, *, whole: bool = False, positive: bool = False) -> str | None:
    """The number of ``text`` typed with a unit (``30s``, ``96px``, ``10/s``), else None;
    ``whole``: only a whole number (an integer flag or key: ``8.5s`` gets no number).

    Why: ``--timeout 30s`` was refused as "'30s' is not a number", which read as if 30 were
    not one either; the refusal now gives the number to type (the flags take plain numbers
    in their own unit, as their help says). Only one the flag then takes: ``--concurrency
    8.5s`` was told to give ``8.5``, refused in turn as no integer, ``--timeout infs``
    ``inf``, no timeout at all, and ``--timeout=-5s`` ``-5``, refused in turn as no
    positive number (no flag typed with a unit takes a negative one). ``positive``: for a
    flag or key that refuses 0 as well (``--timeout 0s`` was told ``0``, refused in turn)."""
    import math

    lowered = text.strip().lower()
    for unit in TYPED_UNITS:
        if lowered.endswith(unit):
            number = lowered[: -len(unit)].strip()
            try:
                value = int(number) if whole else float(number)
            except ValueError:
                continue
            taken = value > 0 if positive else value >= 0
            return number if math.isfinite(value) and taken else None
    return None

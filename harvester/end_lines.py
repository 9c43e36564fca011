"""How a harvest says it stopped: the words its closing line starts with.

The harvest prints them (:mod:`harvester.cli.harvest`; the budget's and the outage's
reasons are made in :mod:`harvester.pipeline` and :mod:`harvester.outage`), and ``harvester
status`` reads them back from a job-array task's log to say how the task ended
(:func:`how_it_ended`). Why one module: the two spelled the same sentences apart, and a
wording changed on one side only left status saying nothing of how the tasks ended.

A log keeps the words of the version that wrote it. Reworded here, the old words must stay
readable: keep them in :func:`how_it_ended` beside the new, or status says nothing of how the
tasks of an array run before the change ended.
"""

from __future__ import annotations

import functools
import re

#: What a closing line starts with when the run stopped before its end for a reason of its
#: own (the budget, the server down), followed by that reason.
STOPPED = "stopped: "
#: The reason a ``--max-bytes`` budget gives (exit 8); ``{size}`` is the budget as the user
#: gives it (``20G``), and in bytes said so (``20 bytes``: :func:`size_said`).
BUDGET_REACHED = "the --max-bytes budget of {size} was reached"
#: What follows a size without a unit in a sentence (``of 20 bytes``); a log before 0.1.25
#: said ``of 20``.
_BYTES = r" bytes?"
#: The reason a server down longer than ``--outage-wait`` gives (exit 75): for how long,
#: and what it answered.
SERVER_STAYED_DOWN = "the server stayed down for {down} ({reason})"
#: What the line before a budget's closing line starts with where the server went down or
#: the session ended as the walk looked for work left after the budget (still exit 8),
#: followed by what did (:data:`AFTER_BUDGET_SERVER_DOWN`, else the session's words).
AFTER_BUDGET = "note: as the walk looked for work left, "
#: How that note names the server going down (``the server went down (HTTP 503 ...)``).
AFTER_BUDGET_SERVER_DOWN = "the server went down"
#: How that note names credentials refused (:func:`harvester.session.stopped_text`'s words;
#: anything else it names is the session's end).
AFTER_BUDGET_CREDENTIALS = "the server no longer takes the credentials"
#: What a closing line starts with after a signal (SIGTERM from ``scancel`` or a time
#: limit, Ctrl-C): exit 130.
INTERRUPTED = "interrupted"


def size_said(size: str) -> str:
    """A size as ``--max-bytes`` takes it (``20G``, ``1048577``), as a sentence says it:
    one without a unit is bytes, said so (``20 bytes``, ``1 byte``). Why: the closing line
    said "the --max-bytes budget of 20 was reached", of 20 what left unsaid, to a user who
    meant 20G and had stored one file."""
    if not size.isdigit():
        return size
    return f"{size} byte" if size == "1" else f"{size} bytes"


def budget_reached(size: str) -> str:
    """:data:`BUDGET_REACHED` for a budget of ``size`` (as ``--max-bytes`` takes it)."""
    return BUDGET_REACHED.format(size=size_said(size))


def server_stayed_down(down: str, reason: str) -> str:
    """:data:`SERVER_STAYED_DOWN` for an outage of ``down`` with answers ``reason``."""
    return SERVER_STAYED_DOWN.format(down=down, reason=reason)


def _head(template: str) -> str:
    """A closing line's fixed start by ``template``: its words before the first field but
    the last (``stopped: the server stayed down``, not ``... down for ``). Why not the
    last: a line cut short there (its disk full) still says which stop it was, as status
    read it before the words were kept here."""
    return STOPPED + template.partition("{")[0].rstrip().rpartition(" ")[0]


@functools.cache
def _budget_pattern() -> re.Pattern[str]:
    """:data:`BUDGET_REACHED` as a closing line: group 1 is the size, read only from the
    whole line (a line cut short, its disk full, names no size, or a wrong one); its words
    up to the one before the size are enough (``stopped: the --max-bytes budget``); a size
    in bytes is read without its word (``20``: as ``--max-bytes`` takes it)."""
    before, _, after = BUDGET_REACHED.partition("{size}")
    head, _, last = before.rstrip().rpartition(" ")
    size = re.escape(f" {last} ") + rf"(\S+)(?:{_BYTES})?" + re.escape(after)
    return re.compile(re.escape(STOPPED + head) + rf"(?:{size}\b)?")


def how_it_ended(line: str) -> tuple[str, str | None] | None:
    """How a harvest's line (stripped) says the run ended: ``("max_bytes", "30K")`` for its
    budget spent (the size None where the line was cut short before it), ``("server_down",
    None)`` for a server down past its ``--outage-wait``, ``("interrupted", None)`` for a
    signal; None for any other line. Each stop by its own words: any ``stopped: `` line was
    once called a budget line cut short (its disk full, or "the server was down")."""
    if m := _budget_pattern().match(line):
        return "max_bytes", m.group(1)
    if line.startswith(_head(SERVER_STAYED_DOWN)):
        return "server_down", None
    if line.startswith(INTERRUPTED):
        return "interrupted", None
    return None


def after_budget(line: str) -> str | None:
    """What a harvest's line (stripped) says ended the walk after its budget, as a walk
    record names it: ``"server_down"``, ``"session_ended"`` (a new login first) or
    ``"credentials_refused"`` (new credentials first); None for any other line. Why:
    status called such a task a plain budget stop, and gave the line that resubmits it,
    which refuses to start before a new login."""
    if not line.startswith(AFTER_BUDGET):
        return None
    what = line[len(AFTER_BUDGET) :]
    stayed = _head(SERVER_STAYED_DOWN).removeprefix(STOPPED)  # (a give-up's words, at the limit)
    if what.startswith((AFTER_BUDGET_SERVER_DOWN, stayed)):
        return "server_down"
    return "credentials_refused" if what.startswith(AFTER_BUDGET_CREDENTIALS) else "session_ended"

"""Deterministic sharding of images across independent processes.

Several harvester processes (SLURM array tasks, or plain background jobs)
share one output folder without talking to each other. Each one needs to
know, from the image id alone, whether an image is its own: the split must
be complete (every image belongs to some shard), disjoint (to exactly one),
balanced, and identical on every machine and Python version. Python's
``hash()`` is salted per process, so the shard is taken from a fixed
cryptographic hash (BLAKE2b, 8-byte digest) of the decimal id instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from harvester.errors import UsageError

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


#: The valid form of a shard, said at the end of every refusal of one.
SHARD_FORM = "use K/N with 0 <= K < N"


def valid_shards(n: int | None = None) -> str:
    """The valid form of a shard, with the shards of ``n`` when it is known (and at least
    1): ``use K/N with 0 <= K < N: the shards of 2 are 0/2 and 1/2``."""
    if n is None or n < 1:
        return f"{SHARD_FORM}: a 4-way split is 0/4, 1/4, 2/4 and 3/4"
    if n == 1:
        return f"{SHARD_FORM}: the one shard of 1 is 0/1"
    if n == 2:
        return f"{SHARD_FORM}: the shards of 2 are 0/2 and 1/2"
    return f"{SHARD_FORM}: the shards of {n} are 0/{n} to {n - 1}/{n}"


def shard_refusal(shown: str, problem: str, n: int | None = None) -> UsageError:
    """The one-line refusal of a shard: ``shown`` (the shard as given, with the setting that
    gave it), what is wrong, and the valid form (:func:`valid_shards`).

    Why one wording: the CLI, a config file, the run lock and the shard arithmetic each
    said a bad shard their own way (``invalid shard '3/2'``, ``shard index must satisfy
    ...``), some on two lines; every one now names the shard as given and what is valid.
    """
    return UsageError(f"{shown}: {problem} ({valid_shards(n)})")


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise shard_refusal(
            f"shard count {n!r}", "the number of shards N must be a whole number of at least 1"
        )


def shard_hash(image_id: int) -> int:
    """The number :func:`shard_of` takes modulo N: one hash of ``image_id`` for every N.

    Why apart: ``status`` places each of a plan's images in the job array's shards and in
    every other split's; hashing once per image, not once per image and N, halves its cost.
    """
    digest = hashlib.blake2b(str(int(image_id)).encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(image_id: int, n: int) -> int:
    """The shard (0 <= shard < n) that owns ``image_id``; stable across machines."""
    _check_n(n)
    return shard_hash(image_id) % n


def in_shard(image_id: int, k: int, n: int) -> bool:
    """Whether shard ``k`` of ``n`` owns ``image_id``."""
    _check_n(n)
    if not 0 <= k < n:
        raise shard_refusal(f"shard {k}/{n}", "the shard index K must be below N", n)
    return shard_of(image_id, n) == k


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``k`` of ``n`` (``str()`` gives the ``K/N`` form used on the command line)."""

    k: int
    n: int

    def owns(self, image_id: int) -> bool:
        """Whether this shard owns ``image_id``."""
        return shard_of(image_id, self.n) == self.k

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def parse_shard(text: str, *, setting: str | None = None) -> Shard:
    """Parse ``K/N`` (0 <= K < N); raise :class:`UsageError`, one line naming ``text`` as
    given and the valid form (:func:`shard_refusal`).

    ``setting``: the name of the setting that gave ``text`` (``shard``), which then starts
    the message (``shard: '2/2' is not a shard: ...``), so that the config layer names it as
    the user gave it: ``--shard`` when typed, ``FILE: shard`` from a config file. Without
    it the message starts ``shard '2/2' is not a shard``.
    """
    shown = f"{setting}: {text!r}" if setting else f"shard {text!r}"
    head = f"{shown} is not a shard"
    match = _SHARD_RE.fullmatch(text)
    if match is None:
        raise shard_refusal(head, "expected K/N, two whole numbers")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1:
        raise shard_refusal(head, "the number of shards N must be at least 1")
    if k >= n:
        raise shard_refusal(head, "the shard index K must be below N", n)
    return Shard(k, n)


def shard_pair(text: str) -> tuple[int, int] | None:
    """``K/N`` as ``(K, N)`` when it is a shard (0 <= K < N, spaces allowed as
    :func:`parse_shard` allows them); None for any other text. For shards read back from
    journals and saved runs, where a bad one is passed over rather than an error."""
    try:
        shard = parse_shard(text)
    except UsageError:
        return None
    return shard.k, shard.n


def holders(k: int, n: int, counts: Iterable[int]) -> list[tuple[int, int]]:
    """The shard of each split in ``counts`` that holds every image of shard ``k`` of ``n``:
    ``k % m`` of ``m``, for each ``m`` dividing ``n`` (``k/n`` itself when ``n`` is among
    them). Why: the split is ``hash % N``, so ``hash % 4 == 2`` gives ``hash % 2 == 0``:
    shard 0/2 holds 2/4 (and 0/4)."""
    return [(k % m, m) for m in counts if n % m == 0]


def finer_parts(k: int, n: int, counts: Iterable[int]) -> list[list[tuple[int, int]]]:
    """For each split in ``counts`` finer than ``n`` and made of it (a multiple of ``n``),
    the shards of that split that shard ``k`` of ``n`` is made of: ``k + n * j`` of ``m``
    for each ``j`` below ``m / n`` (1/2 is 1/4 and 3/4); the other side of :func:`holders`."""
    return [[(k + n * j, m) for j in range(m // n)] for m in counts if m > n and m % n == 0]


def split_count(split: str) -> int | None:
    """The N of shard text ``K/N`` (a saved run's, as it was given), None when it is no
    number."""
    n = split.partition("/")[2]
    return int(n) if n.isdecimal() else None


#: The shards of a split a resume names one command each; more: one command for shard K/N.
MAX_SHARDS_NAMED = 4


def shard_commands(
    command: Callable[[str], str], split: str, shards: Sequence[str] | None, note: str = ""
) -> str:
    """The commands of ``shards`` (``K/N`` each; None: every shard of the split; ``command``
    makes one from its shard), joined by "; " and ``note`` after them, when there are 1 to
    :data:`MAX_SHARDS_NAMED`; else the command of shard ``K/N``, ``, for each K from 0 to
    N-1``, then ``note`` (a shell comment, ``  # ...``, ends the line). ``split``: a shard
    of the split as saved (``"0/8"``), its N said as it is (and ``N-1`` for the last shard
    when it is no number)."""
    n = split.partition("/")[2]
    count = split_count(split)
    if shards is None and count is not None and count <= MAX_SHARDS_NAMED:
        shards = [f"{k}/{n}" for k in range(count)]
    if shards and len(shards) <= MAX_SHARDS_NAMED:
        return "; ".join(command(s) for s in shards) + note
    last = "N-1" if count is None else count - 1
    return f"{command('K/' + n)}, for each K from 0 to {last}{note}"


@dataclass(frozen=True)
class WorkLeft:
    """Where a split folder still has work, as ``harvester status`` found it: the shards
    (``K/N``) whose walk did not list everything (never walked, stopped, listings failed)
    and the images with a failed or pending artifact.

    It lets a resume name the shards to run again (:meth:`shards`) rather than every
    shard of the split: after shards 0, 1 and 2 of 4 finished, "``--shard K/4``, for
    each K from 0 to 3" sent the user to rerun three finished shards to get the fourth.
    """

    walks: tuple[str, ...] = ()
    #: (not copied: status's set of a big folder's pending images can hold millions)
    ids: AbstractSet[int] = frozenset()
    #: The shards ``(K, N)`` holding a plan's image that no run has journaled yet, or has
    #: journaled with some of the plan's kinds still to fetch, for each N of DIR's splits and
    #: job array (the journals' pass behind ``ids`` does not count a plan's kinds).
    unreached: AbstractSet[tuple[int, int]] = frozenset()
    #: Whether ``ids`` and ``unreached`` hold all the work of a plan's split (status counted
    #: the plan; verify's ids are the bad files it names alone); else its resume names every
    #: shard.
    covers_plan: bool = False

    def shards(self, n: int) -> list[str]:
        """The shards to run for an ``n``-way split: the walks' own (a coarser or finer
        split's shard is named as it is), then the shards ``K/n`` holding an image with
        work (a plan's unreached ones included), unless a walk's shard named already holds
        it; in ``K/N`` order."""
        named = {pair for pair in map(shard_pair, self.walks) if pair is not None}
        named |= {(k, m) for k, m in self.unreached if m == n}
        of_n = {k for k, m in named if m == n}
        counts = {m for _, m in named} | {n}  # (what the loop adds is of n)
        for image_id in self.ids:
            if len(of_n) == n:
                break  # every shard named: the other images cannot add one
            k = shard_of(image_id, n)
            if k not in of_n and not any(s in named for s in holders(k, n, counts)):
                named.add((k, n))
                of_n.add(k)
        return [f"{k}/{m}" for k, m in sorted(named, key=lambda s: (s[1], s[0]))]

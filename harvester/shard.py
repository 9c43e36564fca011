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
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from harvester.errors import UsageError

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"number of shards must be an integer >= 1, got {n!r}")


def shard_of(image_id: int, n: int) -> int:
    """The shard (0 <= shard < n) that owns ``image_id``; stable across machines."""
    _check_n(n)
    digest = hashlib.blake2b(str(int(image_id)).encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def in_shard(image_id: int, k: int, n: int) -> bool:
    """Whether shard ``k`` of ``n`` owns ``image_id``."""
    _check_n(n)
    if not 0 <= k < n:
        raise UsageError(f"shard index must satisfy 0 <= K < N, got {k}/{n}")
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


def parse_shard(text: str) -> Shard:
    """Parse ``K/N`` (0 <= K < N); raise :class:`UsageError` with the expected form."""
    match = _SHARD_RE.fullmatch(text)
    if match is None:
        raise UsageError(
            f"invalid shard {text!r}: expected K/N with integers 0 <= K < N, e.g. 0/4",
            hint="shards are numbered from 0: a 4-way split is 0/4, 1/4, 2/4 and 3/4",
        )
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1:
        raise UsageError(f"invalid shard {text!r}: the number of shards N must be at least 1")
    if k >= n:
        raise UsageError(
            f"invalid shard {text!r}: K must be below N (shards are numbered 0 to {n - 1})"
        )
    return Shard(k, n)


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

    def shards(self, n: int) -> list[str]:
        """The shards to run for an ``n``-way split: the walks' own (a coarser or finer
        split's shard is named as it is), then the shards ``K/n`` holding an image with
        work, unless a walk's shard named already holds it; in ``K/N`` order."""
        named: set[tuple[int, int]] = set()
        for text in self.walks:
            match = _SHARD_RE.fullmatch(text)
            if match is not None and int(match.group(1)) < int(match.group(2)):
                named.add((int(match.group(1)), int(match.group(2))))
        of_n = {k for k, m in named if m == n}
        for image_id in self.ids:
            if len(of_n) == n:
                break  # every shard named: the other images cannot add one
            k = shard_of(image_id, n)
            if k not in of_n and not any(n % m == 0 and k % m == j for j, m in named):
                named.add((k, n))
                of_n.add(k)
        return [f"{k}/{m}" for k, m in sorted(named, key=lambda s: (s[1], s[0]))]

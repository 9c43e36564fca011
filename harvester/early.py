"""Answers a run holds before its fetcher asks for them.

Two sources, one rule (each answer is used once, by the fetcher, instead of a request):

* the existence check of an ``--image`` target is that image's metadata
  (:func:`harvester.walk.preflight` fills :meth:`EarlyAnswers.hold`);
* the **head start**: a run that knows its first images before walking (an
  ``--ids-from`` list going into a new folder) sends their id-only requests
  (imgData, metadata, thumbnail) in every slot but the probe's while the server
  probe's round trip is still out, and a second round as soon as the probe has
  passed, which keeps the connections busy while the store opens and the
  workers start (:meth:`EarlyAnswers.send`; the plan is
  ``pipeline.Harvest._head_start_plan``).

A request sent before the probe has passed is dropped (its taker sends its own)
if it is not answered within the time the probe itself is given
(``send(..., within=...)``) until :meth:`EarlyAnswers.lift_time_limits` says the
server answered: otherwise, on a server that accepts connections and never
answers, the early requests would hold their concurrency slots for the run's
whole timeout, and the probe's retry, which shares those slots, would wait for
them (the probe's failure took 75 s instead of 30 s at the default timeout).

Nothing is written by this module: an answer waits in memory until the
fetcher takes it, after the probe has passed and the store is open. If the
probe fails, the run ends and its early answers are dropped with it. A head
start request is an ordinary :meth:`harvester.client.Client.get` (the run's
concurrency and rate limits, retries, validation): its outcome, answer or
final error, is exactly what the fetcher's own request would have ended with,
so a failure is recorded once, not asked for twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import anyio
import anyio.abc

from harvester.client import Client, Expect, Fetched
from harvester.errors import FetchError, TransientError

__all__ = ["EarlyAnswers", "EarlyRequest"]

#: One request of the head start: path, what the answer must be, extra validation.
EarlyRequest = tuple[str, Expect, Callable[[Fetched], None] | None]


class EarlyAnswers:
    """Answers by request path, held (or still in flight) until taken once."""

    def __init__(self) -> None:
        self._held: dict[str, Fetched | FetchError] = {}
        self._in_flight: dict[str, anyio.Event] = {}
        #: Scopes of requests sent with a time limit not lifted yet (see :meth:`send`).
        self._limited: set[anyio.CancelScope] = set()
        #: Set by :meth:`drop_transient_failures`: the probe has passed.
        self._probe_passed = False

    def __len__(self) -> int:
        """Answers held or in flight, not yet taken."""
        return len(self._held) + len(self._in_flight)

    def hold(self, path: str, fetched: Fetched) -> None:
        """Keep an answer the run already has (checked again by the taker, see :meth:`take`)."""
        self._held[path] = fetched

    def send(
        self,
        tg: anyio.abc.TaskGroup,
        client: Client,
        requests: Iterable[EarlyRequest],
        *,
        within: float | None = None,
    ) -> int:
        """Start each request in ``tg`` now; returns how many were started.

        Cancelling ``tg`` drops what has not been answered (a taker waiting for
        it then sends its own request). ``within``: seconds after which a request
        still unanswered, retries included, is dropped the same way, unless
        :meth:`lift_time_limits` is called first.
        """
        deadline = math.inf if within is None else anyio.current_time() + within
        started = 0
        for path, expect, check in requests:
            if path in self._held or path in self._in_flight:
                continue
            self._in_flight[path] = anyio.Event()
            scope = anyio.CancelScope(deadline=deadline)
            if within is not None:
                self._limited.add(scope)
            before_probe = not self._probe_passed
            tg.start_soon(self._fetch, client, path, expect, check, scope, before_probe)
            started += 1
        return started

    def drop_transient_failures(self) -> int:
        """Forget the held final errors that were transient (busy, timed out); returns how many.

        Called once the probe has passed: a head-start request that used up its retries while
        the server was still refusing (a maintenance window the probe waited out with its
        longer budget) tells nothing about the run; its taker asks again. Permanent errors
        (404) and answers stay held. A request sent before this call and still out ends the
        same way: its last try may have left before the probe passed and been answered "busy"
        after (a loaded machine under pytest-xdist showed it).
        """
        self._probe_passed = True
        dropped = [path for path, held in self._held.items() if isinstance(held, TransientError)]
        for path in dropped:
            del self._held[path]
        return len(dropped)

    def lift_time_limits(self) -> None:
        """The requests sent with ``within`` run to their end (the server answered the probe)."""
        for scope in self._limited:
            scope.deadline = math.inf
        self._limited.clear()

    async def _fetch(
        self,
        client: Client,
        path: str,
        expect: Expect,
        check: Callable[[Fetched], None] | None,
        scope: anyio.CancelScope,
        before_probe: bool,
    ) -> None:
        try:
            with scope:  # past its deadline: nothing held, the taker asks itself
                try:
                    self._held[path] = await client.get(path, expect, check)
                except TransientError as exc:
                    if not (before_probe and self._probe_passed):
                        self._held[path] = exc  # (else: see drop_transient_failures)
                except FetchError as exc:
                    self._held[path] = exc
        finally:
            self._limited.discard(scope)
            self._in_flight.pop(path).set()

    async def take(self, path: str) -> Fetched | None:
        """The answer for ``path`` (waiting while it is in flight), or None if there is none.

        Raises the :class:`FetchError` an early request ended with: the taker
        records that failure as if its own request had ended so. A held
        answer is handed over as it came; one held by :meth:`hold` was not
        checked for the taker's purpose, which checks it itself.
        """
        event = self._in_flight.get(path)
        if event is not None:
            await event.wait()
        outcome = self._held.pop(path, None)
        if isinstance(outcome, FetchError):
            raise outcome
        return outcome

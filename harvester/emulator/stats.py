"""Politeness statistics of the emulator, served at ``GET /__emulator__/stats``.

They let a test prove that a client was polite: how many requests it made per
route and status, how many were in flight at once at worst, and how many
arrived in the busiest 1-second window (overall and per client IP).

A request is *in flight* from the moment it is parsed until its last byte is
handed to the socket (latency and trickling included). Its *arrival* is the
moment it is parsed. ``image_requests_repeated`` counts image requests answered
200 without a fault whose exact path and query had already been answered so
since the last reset: a harvester that never refetches what it already has
keeps it at 0 (retries after faults do not count). ``first_arrival`` and
``last_answer`` are the ``time.monotonic()`` readings of the first arrival and of
the last answer's end since the last reset (None before): on Linux that clock is
the machine's, so a benchmark can split a client process's wall time into
start-up, transfer and wind-down with no help from the client.

The server's event loop records; other threads may read a snapshot at any
time, so every method takes one short lock.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from typing import Any

__all__ = ["IMAGE_PATH", "Stats", "is_image_request"]

#: Paths that name an image id: thumbnails, renders, imgData and the JSON API image.
IMAGE_PATH = re.compile(
    r"/(?:render_thumbnail|render_image_region|render_image|render_birds_eye_view"
    r"|imgData|get_thumbnails|api/v0/m/images/\d)"
)

WINDOW_S = 1.0
#: Distinct image URLs remembered for ``image_requests_repeated`` (bounds memory).
MAX_TRACKED_URLS = 2_000_000


def is_image_request(path: str, route: str = "") -> bool:
    """True for requests that name an image id (by route name or by path)."""
    return route.startswith("image:") or IMAGE_PATH.search(path) is not None


class _Window:
    """Arrival times within the last second and the largest count ever seen."""

    __slots__ = ("times", "peak")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.peak = 0

    def add(self, now: float) -> None:
        times = self.times
        times.append(now)
        edge = now - WINDOW_S
        while times[0] <= edge:
            times.popleft()
        if len(times) > self.peak:
            self.peak = len(times)


class Stats:
    """Counters of one emulator; see the module docstring for the definitions."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._reset_locked()

    def _reset_locked(self) -> None:
        self.requests = 0
        self.image_requests = 0
        self.image_requests_repeated = 0
        self._seen_images: set[int] = set()
        self.by_client: dict[str, int] = {}
        self.by_route: dict[str, dict[int, int]] = {}
        self.by_status: dict[int, int] = {}
        self.faults: dict[str, int] = {}
        self.in_flight = 0
        self.peak_concurrency = 0
        self._rate = _Window()
        self._rate_by_client: dict[str, _Window] = {}
        self.first_arrival: float | None = None
        self.last_answer: float | None = None

    def reset(self) -> None:
        """Zero every counter. Requests in flight stay in flight."""
        with self._lock:
            in_flight = self.in_flight
            self._reset_locked()
            self.in_flight = in_flight

    def begin(self, client: str, now: float | None = None) -> None:
        """A request was parsed: count its arrival and raise the in-flight count."""
        now = self._clock() if now is None else now
        with self._lock:
            if self.first_arrival is None:
                self.first_arrival = now
            self.requests += 1
            self.by_client[client] = self.by_client.get(client, 0) + 1
            self.in_flight += 1
            if self.in_flight > self.peak_concurrency:
                self.peak_concurrency = self.in_flight
            self._rate.add(now)
            window = self._rate_by_client.get(client)
            if window is None:
                window = self._rate_by_client[client] = _Window()
            window.add(now)

    def end(
        self,
        route: str,
        status: int,
        path: str,
        fault: str | None = None,
        target: str | None = None,
    ) -> None:
        """The request's last byte was written (or its connection died).

        ``target`` is the raw request target (path and query) used to spot
        repeated image requests; it defaults to ``path``.
        """
        now = self._clock()
        with self._lock:
            self.last_answer = now
            self.in_flight = max(0, self.in_flight - 1)
            per_route = self.by_route.get(route)
            if per_route is None:
                per_route = self.by_route[route] = {}
            per_route[status] = per_route.get(status, 0) + 1
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if fault is not None:
                self.faults[fault] = self.faults.get(fault, 0) + 1
            if is_image_request(path, route):
                self.image_requests += 1
                if status == 200 and fault in (None, "trickle"):
                    key = hash(target or path)
                    if key in self._seen_images:
                        self.image_requests_repeated += 1
                    elif len(self._seen_images) < MAX_TRACKED_URLS:
                        self._seen_images.add(key)

    def snapshot(self) -> dict[str, Any]:
        """The JSON-ready view served at ``/__emulator__/stats`` (status codes as strings)."""
        with self._lock:
            return {
                "requests": self.requests,
                "by_route": {
                    route: {str(status): n for status, n in sorted(counts.items())}
                    for route, counts in sorted(self.by_route.items())
                },
                "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
                "in_flight": self.in_flight,
                "peak_concurrency": self.peak_concurrency,
                "peak_rate_1s": self._rate.peak,
                "peak_rate_1s_by_client": {
                    client: window.peak for client, window in sorted(self._rate_by_client.items())
                },
                "image_requests": self.image_requests,
                "image_requests_repeated": self.image_requests_repeated,
                "requests_by_client": dict(sorted(self.by_client.items())),
                "faults": dict(sorted(self.faults.items())),
                "first_arrival": self.first_arrival,
                "last_answer": self.last_answer,
            }

"""Fault specs for the emulator: parsing, and seeded per-request decisions.

A fault spec is a comma-separated list of ``name:value`` items, for example::

    503:5%,429:3%,retry-after:2s|date,reset:2%,truncate:2%,trickle:1%,html200:1%,
    exception:1%,latency:20ms,jitter:10ms,maintenance:10s@5s,ratelimit:5/s,seed:7,
    only:/webgateway/

=====================  ==============================================================
item                   meaning
=====================  ==============================================================
``500|502|503|504:R``  answer that status (an nginx-style HTML page) at rate R
``429:R``              answer 429 with ``Retry-After`` at rate R
``retry-after:F``      Retry-After form(s) for 429 answers: ``Ns`` (delta seconds),
                       ``date`` (HTTP-date N seconds ahead), or ``Ns|date`` to mix
                       both (seeded choice per answer). Default ``1s``.
``reset:R``            send the headers and half the body, then reset the connection
``truncate:R``         announce the full Content-Length, send half the body, close
``drop:R``             close the connection before any byte of the answer (no status
                       at all: what a client sees of a front end dropping it, or of
                       a timeout, whatever the answer would have been)
``trickle:R``          send the real answer in 8 small pieces, ``trickle-delay`` apart
``trickle-delay:D``    pause between trickled pieces (default ``50ms``)
``html200:R``          answer 200 text/html (an error page) instead of the real body
``corrupt:R``          the real answer with the middle third of its body's bytes
                       inverted: same length, first and last bytes (a PNG's header
                       and trailer), as a faulty proxy, cache or memory would send it
``trailer:R``          the real answer with CRLF appended to its body (counted in its
                       Content-Length), as some servers and proxies send it: a JPEG's
                       decoders stop at its EOI marker and never read it
``exception:R``        imgData routes only: ask the app for its 200 + "Exception" body
``concurrency:R``      imgData routes only: 200 ``{"ConcurrencyException": {"backOff":
                       ms}}`` (the server busy: a client retries after backOff)
``latency:D``          fixed delay before every answer
``jitter:D``           extra seeded delay, uniform in [0, D]
``maintenance:D@S``    503 HTML maintenance page for D, starting S after start
``ratelimit:N/s``      per client IP: 429 once N requests were served in the last 1 s
``first:K[*N]|...``    the first faultable answers, in order, before any random draw:
                       a fault kind above (``truncate``, ``html200``...), ``ok`` (the
                       real answer), ``hold`` or ``hold+KIND`` (held, then given that
                       fault once released: ``hold+503``), ``*N`` repeating it
                       (``first:truncate|html200*2``)
``hold:NAME``          hold answers until the test releases gate NAME (see
                       :mod:`harvester.emulator.gates`): those ``first:`` says ``hold``,
                       or, when it says none, every answer ``only:`` lets through
``hold-timeout:D``     give up on an unreleased gate after D (default ``60s``): its held
                       answers get a 503 page and its release raises
``seed:N``             seed of the decisions (default 0)
``only:P[|P...]``      restrict the faults (not latency) to paths starting with P
                       (P starts with ``/``) or to route names matching the glob P
                       (``only:image*|imgData``)
=====================  ==============================================================

Rates are ``5%`` or a fraction (``0.05``); durations are ``20ms``, ``1.5s``, ``2m``, ``1h`` or a
bare number of milliseconds. The random rates are exclusive bands of one draw per
request, so their sum may not exceed 100%. ``first:`` is not random: the first requests
``only:`` lets through (all of them without it) get its kinds in order, and only then do the
random rates apply (``maintenance`` and ``ratelimit`` still come first). Decisions come from
one ``random.Random(seed)`` consumed in request order: the same seed and the same sequence
of requests give the same faults. Malformed specs raise ``ValueError``
with a one-line message naming the bad item.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from fnmatch import fnmatchcase

from harvester.emulator.gates import DEFAULT_HOLD_TIMEOUT_S

__all__ = [
    "Decision",
    "FaultInjector",
    "FaultSpec",
    "parse_faults",
]

#: Faults chosen by the per-request random draw, in band order.
RANDOM_KINDS = (
    "500",
    "502",
    "503",
    "504",
    "429",
    "reset",
    "truncate",
    "trickle",
    "html200",
    "corrupt",
    "exception",
    "concurrency",
    "drop",
    "trailer",
)
#: Kinds whose answer does not come from the application.
REPLACING_KINDS = frozenset(
    {"500", "502", "503", "504", "429", "html200", "maintenance", "ratelimit"}
)

#: Kinds that only imgData answers (its marshal's two 200 + error bodies).
_IMGDATA_KINDS = frozenset({"exception", "concurrency"})

DEFAULT_RETRY_AFTER_S = 1
DEFAULT_TRICKLE_DELAY_S = 0.05
TRICKLE_PIECES = 8

_DURATION = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)?")
_RATE = re.compile(r"(?P<num>\d+(?:\.\d+)?)(?P<pct>%)?")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A parsed fault spec: every rate is a fraction in [0, 1], every duration in seconds."""

    rates: tuple[tuple[str, float], ...] = ()
    latency_s: float = 0.0
    jitter_s: float = 0.0
    seed: int = 0
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    retry_after_forms: tuple[str, ...] = ("seconds",)
    trickle_delay_s: float = DEFAULT_TRICKLE_DELAY_S
    maintenance: tuple[float, float] | None = None  # (start offset, duration)
    ratelimit: int | None = None
    only: tuple[str, ...] = ()
    only_routes: tuple[str, ...] = ()
    #: ``first:``: the kinds of the first faultable answers, in order (None: the real answer).
    first: tuple[str | None, ...] = ()
    #: ``hold:``: the gate held answers wait at (None: no answer is held).
    hold: str | None = None
    hold_timeout_s: float = DEFAULT_HOLD_TIMEOUT_S

    def rate(self, kind: str) -> float:
        """The configured rate of ``kind`` (0.0 when absent)."""
        for name, value in self.rates:
            if name == kind:
                return value
        return 0.0

    @property
    def active(self) -> bool:
        """True when the spec can change any answer (latency included)."""
        return bool(
            self.rates
            or self.first
            or self.hold is not None
            or self.latency_s
            or self.jitter_s
            or self.maintenance is not None
            or self.ratelimit is not None
        )

    def with_latency(self, latency_ms: float | None, jitter_ms: float | None) -> FaultSpec:
        """A copy whose latency/jitter are overridden when given (CLI flags win)."""
        spec = self
        if latency_ms is not None:
            if latency_ms < 0:
                raise ValueError(f"latency must be >= 0 ms, got {latency_ms:g}")
            spec = replace(spec, latency_s=latency_ms / 1000.0)
        if jitter_ms is not None:
            if jitter_ms < 0:
                raise ValueError(f"jitter must be >= 0 ms, got {jitter_ms:g}")
            spec = replace(spec, jitter_s=jitter_ms / 1000.0)
        return spec


def _duration(item: str, text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad fault item {item!r}: {text!r} is not a duration like 20ms or 2s")
    num = float(match["num"])
    unit = match["unit"] or "ms"
    return num * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def _rate(item: str, text: str) -> float:
    match = _RATE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"bad fault item {item!r}: {text!r} is not a rate like 5% or 0.05")
    value = float(match["num"]) / (100.0 if match["pct"] else 1.0)
    if value > 1.0:
        # (a bare number is a fraction: "503:5" meant 5%, said with the two ways to write it;
        # not for one over 100, "503:150", whose percentage is above 100% too)
        meant = (
            ""
            if match["pct"] or value > 100
            else f" (a bare rate is a fraction: for {text.strip()}%, write "
            f"{text.strip()}% or {value / 100:g})"
        )
        raise ValueError(f"bad fault item {item!r}: rate above 100%{meant}")
    return value


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a fault spec string (see the module docstring); ``None``/"" means no faults."""
    if spec is None or not spec.strip() or spec.strip().lower() == "none":
        return FaultSpec()
    rates: dict[str, float] = {}
    durations: dict[str, float] = {}
    seed = 0
    retry_after: tuple[int, tuple[str, ...]] = (DEFAULT_RETRY_AFTER_S, ("seconds",))
    maintenance: tuple[float, float] | None = None
    ratelimit: int | None = None
    only: list[str] = []
    only_routes: list[str] = []
    first: list[str | None] = []
    hold: str | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if not sep or not value:
            # (the known names too: "nonsense" alone said only "expected name:value")
            raise ValueError(
                f"bad fault item {item!r}: expected name:value, e.g. 503:5% "
                f"(known names: {', '.join(_KNOWN)})"
            )
        if name in RANDOM_KINDS:
            rates[name] = _rate(item, value)
        elif name in ("latency", "jitter", "trickle-delay", "hold-timeout"):
            durations[name] = _duration(item, value)
        elif name == "seed":
            try:
                seed = int(value)
            except ValueError:
                raise ValueError(f"bad fault item {item!r}: seed must be an integer") from None
        elif name == "retry-after":
            retry_after = _retry_after(item, value)
        elif name == "maintenance":
            length, at, start = value.partition("@")
            maintenance = (_duration(item, start) if at else 0.0, _duration(item, length))
        elif name == "ratelimit":
            match = re.fullmatch(r"(\d+)\s*/\s*s", value)
            if match is None or int(match[1]) < 1:
                raise ValueError(f"bad fault item {item!r}: expected ratelimit:N/s with N >= 1")
            ratelimit = int(match[1])
        elif name == "only":
            targets = [p.strip() for p in value.split("|") if p.strip()]
            if not targets:
                raise ValueError(f"bad fault item {item!r}: only: takes path prefixes or routes")
            only.extend(p for p in targets if p.startswith("/"))
            only_routes.extend(p for p in targets if not p.startswith("/"))
        elif name == "first":
            first.extend(_first(item, value))
        elif name == "hold":
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
                raise ValueError(f"bad fault item {item!r}: a gate name is letters, digits, _ . -")
            hold = value
        else:
            raise ValueError(f"unknown fault item {item!r} (known: {', '.join(_KNOWN)})")
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault rates add up to {total:.0%}, more than 100%")
    if any(_is_held(kind) for kind in first) and hold is None:
        raise ValueError("first: says hold but no hold:NAME names the gate")
    if durations.get("hold-timeout", 1.0) <= 0:
        raise ValueError("hold-timeout must be more than 0")
    return FaultSpec(
        rates=tuple((kind, rates[kind]) for kind in RANDOM_KINDS if rates.get(kind)),
        latency_s=durations.get("latency", 0.0),
        jitter_s=durations.get("jitter", 0.0),
        seed=seed,
        retry_after_s=retry_after[0],
        retry_after_forms=retry_after[1],
        trickle_delay_s=durations.get("trickle-delay", DEFAULT_TRICKLE_DELAY_S),
        maintenance=maintenance,
        ratelimit=ratelimit,
        only=tuple(only),
        only_routes=tuple(only_routes),
        first=tuple(first),
        hold=hold,
        hold_timeout_s=durations.get("hold-timeout", DEFAULT_HOLD_TIMEOUT_S),
    )


_KNOWN = (
    *RANDOM_KINDS,
    "retry-after",
    "trickle-delay",
    "latency",
    "jitter",
    "maintenance",
    "ratelimit",
    "seed",
    "only",
    "first",
    "hold",
    "hold-timeout",
)

#: Most answers ``first:`` may script (a typo such as ``html200*10000000`` must not eat memory).
MAX_FIRST = 10_000


def _first(item: str, value: str) -> list[str | None]:
    """The kinds of ``first:K[*N]|...`` in order, ``ok`` as None (the real answer)."""
    kinds: list[str | None] = []
    for part in value.split("|"):
        kind, star, count = part.strip().lower().partition("*")
        held, plus, fault = kind.partition("+")
        if held == "hold" and plus and fault in RANDOM_KINDS:
            pass  # (held, then answered with that fault)
        elif kind not in ("ok", "hold") and kind not in RANDOM_KINDS:
            raise ValueError(
                f"bad fault item {item!r}: {kind!r} is not ok, hold or a fault kind "
                f"({', '.join(RANDOM_KINDS)})"
            )
        # ASCII digits only: int() refuses "²", which str.isdigit() lets through.
        if star and not (count.isascii() and count.isdigit() and int(count) >= 1):
            raise ValueError(f"bad fault item {item!r}: expected KIND*N with N >= 1")
        repeat = int(count) if star else 1
        # Counted before the list is made: html200*1000000000 asked for 8 GB first.
        if len(kinds) + repeat > MAX_FIRST:
            raise ValueError(f"bad fault item {item!r}: more than {MAX_FIRST} answers")
        kinds.extend([None if kind == "ok" else kind] * repeat)
    return kinds


def _is_held(kind: str | None) -> bool:
    """Does a ``first:`` kind hold its answer at the gate (``hold``, ``hold+503``)?"""
    return kind is not None and (kind == "hold" or kind.startswith("hold+"))


def _retry_after(item: str, value: str) -> tuple[int, tuple[str, ...]]:
    seconds = DEFAULT_RETRY_AFTER_S
    forms: list[str] = []
    for part in value.split("|"):
        part = part.strip().lower()
        if part == "date":
            forms.append("date")
        elif (match := re.fullmatch(r"(\d+)s?", part)) is not None:
            seconds = int(match[1])
            forms.append("seconds")
        else:
            raise ValueError(f"bad fault item {item!r}: retry-after takes Ns, date or Ns|date")
    return seconds, tuple(dict.fromkeys(forms))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the server does to one request.

    ``kind`` is None (answer normally), a random kind (``"503"``, ``"reset"``...),
    ``"maintenance"`` or ``"ratelimit"``. ``delay_s`` is the latency to apply before
    answering. ``retry_after`` is the header value for 429/503 answers, if any. ``hold``
    names the gate the answer waits at before anything else (None: it does not wait).
    """

    kind: str | None = None
    delay_s: float = 0.0
    retry_after: str | None = None
    trickle_delay_s: float = DEFAULT_TRICKLE_DELAY_S
    hold: str | None = None

    @property
    def replaces(self) -> bool:
        """True when the answer is generated by the server, not the application."""
        return self.kind in REPLACING_KINDS


NO_FAULT = Decision()


@dataclass(slots=True)
class FaultInjector:
    """Seeded decisions for a :class:`FaultSpec`; one instance per running server.

    ``decide`` is called once per counted request, in arrival order, from the
    server's event loop; a lock keeps it safe if several loops ever share it.
    """

    spec: FaultSpec
    started: float = field(default_factory=time.monotonic)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    _served: defaultdict[str, deque[float]] = field(
        init=False, default_factory=lambda: defaultdict(deque)
    )
    _bands: tuple[tuple[float, str], ...] = field(init=False)
    _scripted: int = field(init=False, default=0)  # faultable answers ``first:`` has decided

    def __post_init__(self) -> None:
        self._rng = random.Random(self.spec.seed)
        edge = 0.0
        bands = []
        for kind, rate in self.spec.rates:
            edge += rate
            bands.append((edge, kind))
        self._bands = tuple(bands)

    def reset(self) -> None:
        """Restart the random sequence, ``first:`` and the rate-limit windows (not the
        maintenance clock)."""
        with self._lock:
            self._rng = random.Random(self.spec.seed)
            self._served.clear()
            self._scripted = 0

    def decide(self, path: str, client: str, now: float | None = None, route: str = "") -> Decision:
        """The decision for one request to ``path`` from ``client`` at monotonic ``now``.

        ``route`` (the route name) only matters when the spec restricts faults
        to route names with ``only:``.
        """
        spec = self.spec
        if not spec.active:
            return NO_FAULT
        now = time.monotonic() if now is None else now
        with self._lock:
            # Always draw the same number of values per request, so that the
            # sequence of decisions depends only on the seed and request order.
            draw = self._rng.random()
            jitter = self._rng.random() * spec.jitter_s if spec.jitter_s else 0.0
            form_pick = self._rng.random()
            delay = spec.latency_s + jitter
            eligible = self._eligible(path, route)
            if not eligible:
                return Decision(delay_s=delay) if delay else NO_FAULT
            if spec.maintenance is not None:
                start, length = spec.maintenance
                elapsed = now - self.started
                if start <= elapsed < start + length:
                    remaining = max(1, math.ceil(start + length - elapsed))
                    return Decision("maintenance", delay, str(remaining))
            if spec.ratelimit is not None:
                window = self._served[client]
                while window and window[0] <= now - 1.0:
                    window.popleft()
                if len(window) >= spec.ratelimit:
                    retry = max(1, math.ceil(window[0] + 1.0 - now))
                    return Decision("ratelimit", delay, str(retry))
                window.append(now)
            kind: str | None = None
            if self._scripted < len(spec.first):
                kind = spec.first[self._scripted]
                self._scripted += 1
            else:
                for edge, name in self._bands:
                    if draw < edge:
                        kind = name
                        break
            hold = self._hold(kind)
            if kind is not None and _is_held(kind):
                kind = None if kind == "hold" else kind.partition("+")[2]
            if kind in _IMGDATA_KINDS and "imgData" not in path:
                kind = None
            if kind is None and hold is None:
                return Decision(delay_s=delay) if delay else NO_FAULT
            retry_after = self._retry_after(form_pick) if kind == "429" else None
            return Decision(kind, delay, retry_after, spec.trickle_delay_s, hold)

    def _hold(self, kind: str | None) -> str | None:
        """The gate an eligible answer of scripted or drawn ``kind`` waits at: those
        ``first:`` says ``hold`` when it says any, else every one."""
        spec = self.spec
        if spec.hold is None:
            return None
        if any(_is_held(k) for k in spec.first):
            return spec.hold if _is_held(kind) else None
        return spec.hold

    def _eligible(self, path: str, route: str) -> bool:
        spec = self.spec
        if not spec.only and not spec.only_routes:
            return True
        if spec.only and path.startswith(spec.only):
            return True
        return any(fnmatchcase(route, pattern) for pattern in spec.only_routes)

    def _retry_after(self, pick: float) -> str:
        forms = self.spec.retry_after_forms
        form = forms[int(pick * len(forms)) % len(forms)]
        seconds = self.spec.retry_after_s
        if form == "date":
            return formatdate(math.ceil(time.time()) + seconds, usegmt=True)
        return str(seconds)

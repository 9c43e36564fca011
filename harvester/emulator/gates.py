"""Named gates of the ``hold:NAME`` fault: answers held until a test releases them.

A test that must order events (a listing answered only once the workers stored every file
queued before it) cannot do it with a delay: on a loaded machine a 5 s trickle may end before
the workers are done, and the test silently stops testing what it targets. A gate makes the
order certain: the server holds each matching answer on its event loop, the test waits with
:meth:`Gate.wait_held` until the request came, does what it must, and :meth:`Gate.release` sends
every held answer (and lets later ones through: a released gate stays open until a reset).

A gate never released within its timeout (a test that forgot, or one that failed before
releasing) answers its held requests with a 503 page naming the gate, instead of hanging the
test forever, and remembers it: :meth:`Gate.release` and :meth:`Gate.wait_held` then raise
:class:`GateTimeout`, so the test fails loudly rather than passing on a retry.

Thread-safety: requests are held and timed out on the server's loop; ``release`` and
``wait_held`` are called from the test's thread. One lock guards the state; callbacks are
handed to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_HOLD_TIMEOUT_S", "Gate", "GateTimeout", "Gates"]

logger = logging.getLogger(__name__)

#: How long a gate holds an answer before giving up on the test releasing it.
DEFAULT_HOLD_TIMEOUT_S = 60.0


class GateTimeout(RuntimeError):
    """A gate held an answer past its timeout: the test never released it in time."""


@dataclass(slots=True)
class _Held:
    """One held answer: how to send it, and the timer that gives up on it."""

    proceed: Callable[[], None]
    give_up: Callable[[], None]
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class Gate:
    """One named gate: closed until released, then open until :meth:`rearm`."""

    name: str
    timeout_s: float = DEFAULT_HOLD_TIMEOUT_S
    loop: asyncio.AbstractEventLoop | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _open: bool = False
    _arrived: int = 0  # answers that reached the closed gate since the last rearm
    _timed_out: bool = False
    _held: list[_Held] = field(default_factory=list)

    # -- the server's loop ------------------------------------------------------------
    def hold(self, proceed: Callable[[], None], give_up: Callable[[], None]) -> bool:
        """Hold an answer (called on the loop): True when held, False when the gate is open
        (the caller answers at once). ``proceed`` sends it once released; ``give_up`` answers
        it when the timeout passes first."""
        with self._cond:
            if self._open:
                return False
            held = _Held(proceed, give_up)
            self._held.append(held)
            self._arrived += 1
            self._cond.notify_all()
        assert self.loop is not None, "gate not bound to the server's loop"
        held.timer = self.loop.call_later(self.timeout_s, self._expire, held)
        return True

    def _expire(self, held: _Held) -> None:
        with self._cond:
            if held not in self._held:
                return
            self._held.remove(held)
            self._timed_out = True
            self._cond.notify_all()
        logger.error(
            "emulator: gate %r held an answer %gs and was never released", self.name, self.timeout_s
        )
        held.give_up()

    def _send_held(self) -> None:
        with self._cond:
            held, self._held = self._held, []
        for one in held:
            if one.timer is not None:
                one.timer.cancel()
            one.proceed()

    def _send_held_soon(self) -> None:
        """Have the server's loop send the held answers (called from the test's thread)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # (the loop closed meanwhile)
                loop.call_soon_threadsafe(self._send_held)

    # -- the test's thread ------------------------------------------------------------
    def release(self) -> None:
        """Open the gate: every held answer is sent, later ones pass. Raises
        :class:`GateTimeout` if an answer was already given up on."""
        with self._cond:
            self._open = True
            self._raise_if_timed_out()
        self._send_held_soon()

    def wait_held(self, count: int = 1, timeout_s: float = 60.0) -> None:
        """Return once ``count`` answers reached the closed gate (since the last rearm);
        :class:`TimeoutError` naming the gate after ``timeout_s`` without them."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._arrived < count:
                self._raise_if_timed_out()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"gate {self.name!r}: {self._arrived} of {count} answers held "
                        f"after {timeout_s:g}s"
                    )
                self._cond.wait(left)
            self._raise_if_timed_out()

    def held(self) -> int:
        """Answers reached the closed gate since the last rearm (sent or still held)."""
        with self._cond:
            return self._arrived

    def rearm(self) -> None:
        """Close the gate again and forget its count and timeout (a stats reset): answers
        still held are sent first, as a reset must not strand them."""
        with self._cond:
            self._open = False
            self._arrived = 0
            self._timed_out = False
        self._send_held_soon()

    def _raise_if_timed_out(self) -> None:
        if self._timed_out:
            raise GateTimeout(
                f"gate {self.name!r} held an answer for {self.timeout_s:g}s and was never "
                "released: the test did not release it in time"
            )


class Gates:
    """The gates of one server, by name (made on first use)."""

    def __init__(self, timeout_s: float = DEFAULT_HOLD_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._gates: dict[str, Gate] = {}

    def get(self, name: str) -> Gate:
        """The gate ``name`` (made closed on first use)."""
        with self._lock:
            gate = self._gates.get(name)
            if gate is None:
                gate = self._gates[name] = Gate(name, self.timeout_s, self.loop)
            return gate

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hold answers on ``loop`` (the server's, once started)."""
        with self._lock:
            self.loop = loop
            for gate in self._gates.values():
                gate.loop = loop

    def rearm(self) -> None:
        """Close every gate again (a stats reset)."""
        with self._lock:
            gates = list(self._gates.values())
        for gate in gates:
            gate.rearm()

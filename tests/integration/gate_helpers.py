"""Ordering a harvest's events with the emulator's ``hold:`` gates, not with delays.

The harvest runs in the test's thread (the CLI's signal handlers need the main thread); a
thread of :func:`released_when` waits for the gate to hold its answer, then for the harvest to
reach the state the test needs (files on disk), then releases the gate. Nothing is timed: a
loaded machine only makes the waits longer, never changes what is tested. A wait that never
ends fails the test with what it waited for (and releases the gate, so the harvest ends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from harvester.emulator import EmulatorThread

#: Generous: the waits end as soon as their condition holds; this only bounds a broken run.
DEADLINE_S = 120.0
POLL_S = 0.02


@contextmanager
def released_when(
    emulator: EmulatorThread, gate: str, ready: Callable[[], bool], what: str
) -> Iterator[None]:
    """Within the block, release ``gate`` once it holds an answer and ``ready()`` is true;
    on leaving, fail with ``what`` (the state waited for) if that never happened."""
    failure: list[str] = []

    def settled() -> bool:
        try:
            return ready()
        except OSError:  # (a temp file renamed away while the folder was read)
            return False

    ended = threading.Event()  # the block ended (the harvest returned)

    def wait_then_release() -> None:
        try:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                try:
                    emulator.wait_held(gate, 1, POLL_S)
                    break
                except TimeoutError:
                    if ended.is_set() or time.monotonic() > deadline:
                        failure.append(f"gate {gate!r} never held an answer")
                        return
            while not settled():
                if (ended.is_set() or time.monotonic() > deadline) and not settled():
                    failure.append(f"gate {gate!r} held an answer, but never {what}")
                    return
                time.sleep(POLL_S)
        except Exception as exc:  # handed to the test's thread
            failure.append(f"gate {gate!r}: {exc!r}")
        finally:
            try:
                emulator.release(gate)
            except RuntimeError as exc:  # (GateTimeout: it gave up on the answer)
                failure.append(str(exc))

    thread = threading.Thread(target=wait_then_release, name=f"release-{gate}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        ended.set()
        thread.join(DEADLINE_S)
    assert not thread.is_alive(), f"gate {gate!r}: the releasing thread never ended"
    assert not failure, failure[0]


def held_after(count: int, gate: str, only: str) -> str:
    """Faults that let the first ``count`` answers of ``only`` (a path prefix or route-name
    glob) through and hold the next one at ``gate`` (later ones pass): a run stopped while
    it is held is stopped partway, however fast or slow the machine."""
    first = f"ok*{count}|hold" if count else "hold"
    return f"first:{first},hold:{gate},only:{only}"


@contextmanager
def holding(emulator: EmulatorThread, gate: str) -> Iterator[None]:
    """The block runs once ``gate`` holds an answer (so the run cannot have ended); the gate
    is released on leaving (the run, if still going, then goes on; if stopped, nothing is
    left held for ``hold-timeout``)."""
    emulator.wait_held(gate, 1, DEADLINE_S)
    try:
        yield
    finally:
        emulator.release(gate)

"""spawn_emulator reads the child's serving line without disturbing what the child writes."""

from __future__ import annotations

import sys

from harvester.emulator import spawn_emulator

#: A stand-in for the emulator: prints its serving line in two writes (text, then the
#: newline, as print() does unbuffered), a moment apart, then waits to be stopped.
TWO_WRITES = (
    "import sys, time; sys.stdout.write('serving http://127.0.0.1:9'); sys.stdout.flush(); "
    "time.sleep(0.3); sys.stdout.write('\\n'); sys.stdout.flush(); time.sleep(30)"
)


def test_a_serving_line_written_in_two_pieces_is_read_whole() -> None:
    """The newline written after the parent has looked once still ends the same line (the
    parent used to seek the shared file back to 0, so the newline overwrote the 's' of
    'serving' and the start was reported as failed; seen once in CI)."""
    proc, url = spawn_emulator([], command=[sys.executable, "-c", TWO_WRITES], timeout=10)
    try:
        assert url == "http://127.0.0.1:9"
    finally:
        proc.kill()
        proc.wait()

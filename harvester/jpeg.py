"""A cheap check that a JPEG answer is whole and undamaged in its structure, without decoding.

Thumbnails (and JPEG renders) are stored as the server sent them: nothing decodes them, so a
body damaged on the way (a faulty proxy, cache or memory) with its length, first and last bytes
intact was stored silently. Their start (SOI) and end (EOI) markers alone do not show such
damage, which keeps both; the markers between them do, for the cost of one pass over the bytes:

* every segment between the markers is ``FF xx`` with a length that fits in the body;
* inside the entropy-coded data after each SOS, an ``FF`` is followed only by ``00`` (a stuffed
  byte) or a restart marker ``D0``..``D7``; any other ``FF xx`` ends the scan, and must then be
  a marker allowed between scans (DHT, DQT, DRI, SOS of the next scan, APPn, COM, EOI...);
* any marker may be preceded by ``FF`` fill bytes (ITU T.81 B.1.1.2), a restart marker inside
  the scan too: the scan's data goes on after it;
* after EOI, bytes that end with another EOI are damage (the body's own EOI is its last two
  bytes, so one met before is ``FF D9`` made inside the scan data), unless they start a JPEG
  of their own (a Multi-Picture Format file's further images). Other bytes after EOI (zero
  padding, a newline or a trailer some servers and cameras append) are tolerated: libjpeg and
  Pillow stop reading at EOI, and a false "damaged" fails a good thumbnail on every run.

Damage that inverts or replaces bytes of the data makes ``FF xx`` pairs that are none of these,
or segment lengths that lead nowhere: the emulator's ``corrupt`` fault, a third of the body
inverted, is caught this way. A flipped bit that keeps the structure is not (a JPEG has no
checksum): decoding would not show it either, as a JPEG decodes to other pixels.

Why not Pillow: a thumbnails-only run does not load it (tests/unit/test_startup_imports.py), and
it decodes many damaged JPEGs without a word (it fills what it cannot read).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from harvester.errors import InvalidBodyError

if TYPE_CHECKING:  # only a type: the client imports nothing from here
    from harvester.client import Fetched

__all__ = ["check_jpeg", "jpeg_damage"]

_SOI: Final = b"\xff\xd8"
_EOI: Final = 0xD9
_SOS: Final = 0xDA
#: Markers without a length: TEM and the restart markers.
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
#: Markers that may follow a scan's entropy-coded data: tables, restart interval, the next
#: scan, application and comment segments, DNL, the hierarchical DHP/EXP, and EOI.
_AFTER_SCAN: Final = frozenset({0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xFE, _EOI}) | set(
    range(0xE0, 0xF0)
)
#: An ``FF`` in entropy-coded data that is neither a stuffed byte nor a restart marker.
_SCAN_END: Final = re.compile(rb"\xff(?![\x00\xd0-\xd7])")


def check_jpeg(fetched: Fetched) -> None:
    """A client ``check`` of a JPEG answer: :class:`InvalidBodyError` (retried as any bad
    body) where :func:`jpeg_damage` finds it damaged. Thumbnails and whole JPEG renders are
    stored as they come, and a stack's JPEG planes and a render's JPEG regions are decoded
    later or at once, but Pillow decodes many damaged JPEGs without a word, to wrong pixels."""
    damage = jpeg_damage(fetched.body)
    if damage is not None:
        raise InvalidBodyError(f"JPEG is damaged: {damage}", url=fetched.url, status=fetched.status)


def jpeg_damage(body: bytes) -> str | None:
    """Why ``body`` is not a structurally whole JPEG, or None when it is (see the module)."""
    if not body.startswith(_SOI):
        return "it does not start with a JPEG's SOI marker"
    size = len(body)
    pos = 2
    after_scan = False
    while True:
        if pos + 1 >= size:
            return f"it ends at byte {size} without its EOI marker"
        if body[pos] != 0xFF:
            return f"byte {pos} is 0x{body[pos]:02x} where a marker should be"
        marker = body[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        if after_scan and marker not in _AFTER_SCAN and marker not in _STANDALONE:
            return f"marker 0x{marker:02x} at byte {pos} cannot follow a scan's data"
        if marker == _EOI:
            return _after_eoi(body, pos)
        if marker in _STANDALONE:
            pos += 2
            if after_scan:  # a restart marker after fill bytes (FF FF D0): the data goes on
                end = _scan_end(body, pos)
                if end is None:
                    return f"its scan data from byte {pos} runs to the end without an EOI marker"
                pos = end
            continue
        if marker in (0x00, 0xD8) or pos + 4 > size:
            return f"marker 0x{marker:02x} at byte {pos} is not a segment"
        length = int.from_bytes(body[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            return f"segment 0x{marker:02x} at byte {pos} runs past the end ({length} bytes)"
        pos = end
        after_scan = marker == _SOS
        if after_scan:
            found = _scan_end(body, pos)
            if found is None:
                return f"its scan data from byte {pos} runs to the end without an EOI marker"
            pos = found


def _scan_end(body: bytes, pos: int) -> int | None:
    """Where the entropy-coded data from ``pos`` ends: its first ``FF`` that is neither a
    stuffed byte nor a restart marker (None: it runs to the end)."""
    found = _SCAN_END.search(body, pos)
    return None if found is None else found.start()


def _after_eoi(body: bytes, pos: int) -> str | None:
    """Why the bytes after the EOI marker at ``pos`` show damage, or None (see the module)."""
    rest = body[pos + 2 :]
    if rest.rstrip(b"\x00").endswith(b"\xff\xd9") and not rest.startswith(_SOI):
        return f"an EOI marker at byte {pos} comes {len(rest)} bytes before the one that ends it"
    return None

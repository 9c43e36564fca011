"""Test support for stack tests: a minimal directory store standing in for harvester.store."""

from __future__ import annotations

import os
from pathlib import Path


class DirStore:
    """Adopts finished files under ``out_dir`` like Store.put_file, and remembers them."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.done: list[tuple[str, int, str]] = []

    async def put_file(
        self,
        kind: str,
        object_id: int,
        rel_path: str,
        tmp_path: Path,
        sha256: str | None = None,
    ) -> None:
        """Move ``tmp_path`` to ``out_dir/rel_path`` and record it."""
        target = self.out_dir / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, target)
        self.done.append((kind, object_id, rel_path))

    async def flush(self) -> None:
        """Nothing is queued: put_file is synchronous here."""


def silent_flip(body: bytes) -> bytes:
    """``body`` (a PNG) with one byte of its pixel data changed that Pillow still decodes,
    to other pixels: damage only the chunks' CRCs show (magic and trailer intact).

    Built, not searched for: the image data is inflated, one pixel byte (never a row's
    filter byte) changed, deflated again and put back under the first IDAT chunk's old CRC,
    which no longer matches. (Searching bit flips of the compressed stream for one that
    still decodes took 70,000 decodes, 80 s, on a staged 16-bit plane.)"""
    import struct
    import zlib

    chunks: list[tuple[bytes, bytes, bytes]] = []  # (type, data, crc)
    pos = 8
    while pos < len(body):
        (length,) = struct.unpack(">I", body[pos : pos + 4])
        kind = body[pos + 4 : pos + 8]
        end = pos + 8 + length
        chunks.append((kind, body[pos + 8 : end], body[end : end + 4]))
        pos = end + 4
    header = next(data for kind, data, _ in chunks if kind == b"IHDR")
    width, _height, depth, colour = struct.unpack(">IIBB", header[:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    stride = 1 + (width * channels * depth + 7) // 8  # the filter byte, then the row
    raw = bytearray(zlib.decompress(b"".join(data for kind, data, _ in chunks if kind == b"IDAT")))
    row = len(raw) // stride // 2
    raw[row * stride + 1 + (stride - 1) // 2] ^= 0x04  # a pixel byte mid-row, mid-image
    old_crc = next(crc for kind, _, crc in chunks if kind == b"IDAT")
    packed = zlib.compress(bytes(raw))
    out = [body[:8]]
    idat_written = False
    for kind, data, crc in chunks:
        if kind == b"IDAT":
            if not idat_written:
                out.append(struct.pack(">I", len(packed)) + kind + packed + old_crc)
                idat_written = True
            continue
        out.append(struct.pack(">I", len(data)) + kind + data + crc)
    return b"".join(out)

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
    """``body`` (a PNG) with one bit of its pixel data flipped that Pillow still decodes,
    to other pixels: damage only the chunks' CRCs show (magic and trailer intact)."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(body)) as img:
        real = np.asarray(img)
    start = body.index(b"IDAT") + 4
    for pos in range(start + 16, body.rindex(b"IEND") - 8):
        flipped = body[:pos] + bytes([body[pos] ^ 0x04]) + body[pos + 1 :]
        try:
            with Image.open(io.BytesIO(flipped)) as img:
                pixels = np.asarray(img)
        except (OSError, SyntaxError, ValueError):
            continue
        if pixels.shape == real.shape and (pixels != real).any():
            return flipped
    raise AssertionError("no bit of this PNG flips silently")

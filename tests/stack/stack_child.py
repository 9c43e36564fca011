"""Run one stack harvest in its own process (killed with SIGKILL by test_resume).

Usage: python stack_child.py BASE_URL IMAGE_ID OUT_DIR WINDOW
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from harvester.client import Client, ClientSettings, Expect
from harvester.models import ImageRef
from harvester.stack import harvest_stack

sys.path.insert(0, str(Path(__file__).parent))
from stack_support import DirStore  # noqa: E402


async def main(base_url: str, image_id: int, out_dir: Path, window: str) -> None:
    """Fetch imgData, then the stack, one plane request at a time."""
    settings = ClientSettings(base_url=base_url, concurrency=1, rate=None)
    async with Client(settings) as client:
        imgdata = (await client.get(f"webgateway/imgData/{image_id}/", Expect.JSON)).json()
        await harvest_stack(
            client,
            DirStore(out_dir),
            ImageRef(image_id),
            imgdata,
            window=window,
            out_dir=out_dir,
            plane_concurrency=1,
        )


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])

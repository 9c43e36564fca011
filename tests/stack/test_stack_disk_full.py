"""A disk that fills up while a stack's OME-TIFF is written (ENOSPC mid-assembly).

The CLI-level disk-full test (tests/reliability/test_disk_full.py) needs root
for its tmpfs; this one fails the assembly's write in-process instead.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from stack_support import DirStore

import harvester.stack as stack_module
from harvester.client import Client, ClientSettings, Expect
from harvester.emulator import EmulatorThread
from harvester.emulator.catalogue import ZSTACK_SIZE_Z
from harvester.errors import StorageError
from harvester.models import ImageRef
from harvester.planes import read_plane as real_read_plane
from harvester.stack import ASSEMBLY_NAME, harvest_stack

ZSTACK_IMAGE_ID = 1_300_001


async def test_disk_full_while_assembling_keeps_planes_and_leaves_no_temp(
    make_emulator: Callable[..., EmulatorThread],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ENOSPC during assembly: a StorageError naming the image and the cause, no
    half-written assembly, every staged plane kept (the rerun needs no request)."""
    emu = make_emulator(preset="zstack", mode="microservice")
    out = tmp_path / "out"
    staging = out / "staging" / str(ZSTACK_IMAGE_ID)
    calls: list[int] = []

    def read_plane(*args: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_read_plane(*args)

    monkeypatch.setattr(stack_module, "read_plane", read_plane)
    settings = ClientSettings(base_url=emu.base_url, concurrency=4, rate=None)
    store = DirStore(out)
    with anyio.fail_after(60):
        async with Client(settings) as client:
            imgdata = (
                await client.get(f"webgateway/imgData/{ZSTACK_IMAGE_ID}/", Expect.JSON)
            ).json()
            full = f"^disk full while writing the stack of image {ZSTACK_IMAGE_ID}$"
            with pytest.raises(StorageError, match=full) as raised:
                await harvest_stack(
                    client,
                    store,
                    ImageRef(ZSTACK_IMAGE_ID),
                    imgdata,
                    window="rendering",
                    out_dir=out,
                )
    assert raised.value.hint is not None and raised.value.hint.startswith("free some space")
    assert store.done == []
    assert not (staging / ASSEMBLY_NAME).exists()
    assert len(list(staging.glob("*.png"))) == ZSTACK_SIZE_Z * 2
